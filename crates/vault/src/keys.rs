//! Key material: the master key (an age X25519 identity in a file of its own, so it can
//! live on another medium), per-dataset keys (age X25519 identities, stored only
//! wrapped to the master key, as armored age files anyone can open with `age -d -i`),
//! and the Ed25519 signing key (in the Go `note` private-key form, for the ledger).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use age::secrecy::ExposeSecret as _;
use zeroize::Zeroizing;

use crate::Error;

/// The master key, loaded from its file; its secret half never leaves this type.
pub struct MasterKey {
    identity: age::x25519::Identity,
    path: PathBuf,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("path", &self.path).field("recipient", &self.recipient()).finish()
    }
}

impl MasterKey {
    /// Reads an age identity file (comments and blank lines allowed, one X25519 key).
    pub fn load(path: &Path) -> Result<MasterKey, Error> {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|source| Error::MasterKeyUnreadable { path: path.to_owned(), reason: source.to_string() })?,
        );
        let mut keys = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
        let identity = keys.next().and_then(|l| age::x25519::Identity::from_str(l).ok()).ok_or_else(|| {
            Error::MasterKeyUnreadable {
                path: path.to_owned(),
                reason: "it holds no age X25519 identity (AGE-SECRET-KEY-1...)".into(),
            }
        })?;
        Ok(MasterKey { identity, path: path.to_owned() })
    }

    /// The public half, which wraps dataset keys without the secret being present.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    /// Where the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `contents` to a new file with mode 0600; never replaces an existing file.
pub(crate) fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let io = |source: std::io::Error| Error::Io { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(contents).map_err(io)?;
    f.sync_all().map_err(io)?;
    // The umask may have been stricter, never looser; make it exactly 0600.
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(())
}

/// Generates a master key file at `path` (0600), unless one is already there.
/// Returns its recipient, and whether it was created.
pub fn ensure_master_key(path: &Path, now: &str) -> Result<(String, bool), Error> {
    if path.exists() {
        return Ok((MasterKey::load(path)?.recipient(), false));
    }
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# gardien master key, created {now}\n# public key: {recipient}\n# Keep it safe: without it no dataset in this vault can be read.\n{}\n",
        id.to_string().expose_secret()
    ));
    write_secret_file(path, text.as_bytes())?;
    Ok((recipient, true))
}

/// A fresh dataset key: the identity itself (to seal blobs), its recipient, and the
/// identity wrapped to the master recipient as an armored age file.
pub struct NewDatasetKey {
    /// The recipient blobs are sealed to.
    pub recipient: age::x25519::Recipient,
    /// The identity, encrypted to the master key (ASCII armor).
    pub wrapped: String,
}

/// Generates a dataset key and wraps it to `master_recipient`.
pub fn new_dataset_key(master_recipient: &str) -> Result<NewDatasetKey, Error> {
    let master = age::x25519::Recipient::from_str(master_recipient)
        .map_err(|e| Error::Corrupt(format!("the catalog's master recipient is not an age recipient: {e}")))?;
    let id = age::x25519::Identity::generate();
    let secret = id.to_string();
    let wrapped = age::encrypt_and_armor(&master, secret.expose_secret().as_bytes())
        .map_err(|e| Error::Corrupt(format!("could not wrap a dataset key: {e}")))?;
    Ok(NewDatasetKey { recipient: id.to_public(), wrapped })
}

/// Wraps a secret (a webhook's) to the master recipient, as an armored age file.
pub(crate) fn wrap_secret(master_recipient: &str, secret: &[u8]) -> Result<String, Error> {
    let master = age::x25519::Recipient::from_str(master_recipient)
        .map_err(|e| Error::Corrupt(format!("the catalog's master recipient is not an age recipient: {e}")))?;
    age::encrypt_and_armor(&master, secret).map_err(|e| Error::Corrupt(format!("could not wrap a secret: {e}")))
}

/// Unwraps a secret wrapped by `wrap_secret`.
pub(crate) fn unwrap_secret(master: &MasterKey, what: &str, wrapped: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    age::decrypt(&master.identity, wrapped.as_bytes()).map(Zeroizing::new).map_err(|_| Error::WrongMasterKey {
        path: master.path.clone(),
        detail: format!("it does not open the secret of {what}"),
    })
}

/// Unwraps a dataset key with the master key.
pub fn unwrap_dataset_key(master: &MasterKey, dataset: &str, wrapped: &str) -> Result<age::x25519::Identity, Error> {
    let plain =
        Zeroizing::new(age::decrypt(&master.identity, wrapped.as_bytes()).map_err(|_| Error::WrongMasterKey {
            path: master.path.clone(),
            detail: format!("it does not open the key of dataset {dataset}"),
        })?);
    let text =
        std::str::from_utf8(&plain).map_err(|_| Error::Corrupt(format!("the key of dataset {dataset} is not text")))?;
    age::x25519::Identity::from_str(text.trim())
        .map_err(|_| Error::Corrupt(format!("the key of dataset {dataset} is not an age identity")))
}

/// The signing key's name, which is also the ledger's origin: `<operator>/gardien`.
pub fn log_origin(operator: &str) -> String {
    format!("{operator}/gardien")
}

/// Generates the Ed25519 signing key at `path` (0600) in the Go `note` form
/// `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`, unless one is there.
/// Returns the verifier key `<name>+<key id>+<base64(0x01 || public key)>`.
pub fn ensure_signing_key(path: &Path, name: &str) -> Result<(String, bool), Error> {
    if path.exists() {
        return Ok((load_signer(path)?.verifier_key(), false));
    }
    let signer = ledger::note::Signer::generate(name).map_err(|e| Error::Corrupt(e.to_string()))?;
    let text = signer.to_private_text();
    write_secret_file(path, format!("{}\n", text.as_str()).as_bytes())?;
    Ok((signer.verifier_key(), true))
}

/// Reads the signing key.
pub fn load_signer(path: &Path) -> Result<ledger::note::Signer, Error> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?);
    ledger::note::Signer::parse(&text).map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))
}
