//! OpenSSH user certificates (ACC-3, ACC-4): a client's user CA (Ed25519), and the two
//! certificates of a grant. The bastion's lets its key forward one connection and nothing
//! else (the target is pinned by the bastion's principals answer); the target's runs
//! gardien's runner whatever is asked, only from the bastion's address, without a terminal
//! or any forwarding. Both last the grant's window, not a second more.

use rand::RngCore as _;
use ssh_key::certificate::{Builder, CertType};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::Error;

/// A client's user CA: the key that signs its people's access certificates.
pub struct Ca {
    key: PrivateKey,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").field("public", &self.public_line()).finish()
    }
}

impl Ca {
    /// A new Ed25519 CA, named by `comment` (`gardien user CA for CLIENT`).
    pub fn generate(comment: &str) -> Ca {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&seed);
        let mut key = PrivateKey::from(pair);
        key.set_comment(comment);
        Ca { key }
    }

    /// The private key in OpenSSH's format (to be wrapped before it is stored).
    pub fn to_openssh(&self) -> Result<Zeroizing<String>, Error> {
        self.key.to_openssh(LineEnding::LF).map_err(|e| Error::Key(e.to_string()))
    }

    /// Reads one back.
    pub fn from_openssh(text: &str) -> Result<Ca, Error> {
        let key = PrivateKey::from_openssh(text).map_err(|e| Error::Key(e.to_string()))?;
        if key.algorithm() != ssh_key::Algorithm::Ed25519 || key.is_encrypted() {
            return Err(Error::Key("a user CA is an unencrypted Ed25519 key".into()));
        }
        Ok(Ca { key })
    }

    /// `ssh-ed25519 AAAA... comment`: the line sshd's `TrustedUserCAKeys` holds.
    pub fn public_line(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }

    /// `SHA256:...`, as sshd's `%F` gives it.
    pub fn fingerprint(&self) -> String {
        self.key.public_key().fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A person's public key, as `ssh-keygen` writes it (`id_ed25519.pub`): Ed25519, ECDSA or
/// RSA (3072 bits at least), with or without a security key; not a certificate, not DSA.
pub fn read_public_key(text: &str) -> Result<PublicKey, Error> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default();
    if line.contains("-cert-v01@openssh.com") {
        return Err(Error::Bad("this is a certificate; give the public key itself (id_ed25519.pub)".into()));
    }
    let key = PublicKey::from_openssh(line).map_err(|e| {
        Error::Bad(format!("not an OpenSSH public key ({e}); give the .pub file `ssh-keygen -t ed25519` wrote"))
    })?;
    use ssh_key::Algorithm as A;
    match key.algorithm() {
        A::Ed25519 | A::SkEd25519 | A::Ecdsa { .. } | A::SkEcdsaSha2NistP256 => {}
        A::Rsa { .. } => {
            let bits = key.key_data().rsa().map(|k| k.n.as_positive_bytes().map_or(0, |b| b.len() * 8)).unwrap_or(0);
            if bits < 3072 {
                return Err(Error::Bad(format!(
                    "an RSA key of {bits} bits is too weak; use Ed25519 (ssh-keygen -t ed25519)"
                )));
            }
        }
        other => return Err(Error::Bad(format!("a {other} key is not accepted; use Ed25519 (ssh-keygen -t ed25519)"))),
    }
    Ok(key)
}

/// `SHA256:...` of a public key.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// What a certificate says.
#[derive(Debug)]
pub struct Spec<'a> {
    /// The key certified.
    pub key: &'a PublicKey,
    /// The key id sshd logs (and gives `AuthorizedPrincipalsCommand` as `%i`): the grant's id.
    pub key_id: &'a str,
    /// Its serial (`%s`).
    pub serial: u64,
    /// The principals it may log in as.
    pub principal: &'a str,
    /// Unix seconds.
    pub valid_after: u64,
    /// Unix seconds.
    pub valid_before: u64,
    /// `force-command`, run whatever the client asks.
    pub force_command: Option<&'a str>,
    /// `source-address`: where the connection must come from.
    pub source_address: Option<&'a str>,
    /// `permit-port-forwarding`, and nothing else permitted (no pty, no agent, no X11, no rc).
    pub port_forwarding: bool,
    /// A comment, for the person's files.
    pub comment: &'a str,
}

/// Signs a user certificate; returns its OpenSSH line (`...-cert-v01@openssh.com AAAA...`).
pub fn sign(ca: &Ca, s: &Spec<'_>) -> Result<String, Error> {
    let key_err = |e: ssh_key::Error| Error::Key(e.to_string());
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut b =
        Builder::new(nonce.to_vec(), s.key.key_data().clone(), s.valid_after, s.valid_before).map_err(key_err)?;
    b.serial(s.serial).map_err(key_err)?;
    b.cert_type(CertType::User).map_err(key_err)?;
    b.key_id(s.key_id).map_err(key_err)?;
    b.valid_principal(s.principal).map_err(key_err)?;
    if let Some(c) = s.force_command {
        b.critical_option("force-command", c).map_err(key_err)?;
    }
    if let Some(a) = s.source_address {
        b.critical_option("source-address", a).map_err(key_err)?;
    }
    if s.port_forwarding {
        b.extension("permit-port-forwarding", "").map_err(key_err)?;
    }
    b.comment(s.comment).map_err(key_err)?;
    let cert = b.sign(&ca.key).map_err(key_err)?;
    cert.to_openssh().map_err(key_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_survives_its_storage_and_signs_what_it_is_told() {
        let ca = Ca::generate("gardien user CA for acme");
        let back = Ca::from_openssh(&ca.to_openssh().unwrap()).unwrap();
        assert_eq!(back.public_line(), ca.public_line());
        let person = Ca::generate("tech");
        let key = read_public_key(&person.public_line()).unwrap();
        let line = sign(
            &ca,
            &Spec {
                key: &key,
                key_id: "gr-0011",
                serial: 7,
                principal: "gr-0011",
                valid_after: 1_800_000_000,
                valid_before: 1_800_003_600,
                force_command: Some("/usr/bin/gardien access run gr-0011"),
                source_address: Some("192.0.2.1/32"),
                port_forwarding: false,
                comment: "tech@acme",
            },
        )
        .unwrap();
        let cert = ssh_key::Certificate::from_openssh(&line).unwrap();
        assert_eq!(cert.key_id(), "gr-0011");
        assert_eq!(cert.serial(), 7);
        assert_eq!(cert.valid_principals(), ["gr-0011"]);
        assert!(cert.extensions().is_empty(), "nothing permitted: no pty, no forwarding");
        assert_eq!(cert.critical_options().get("source-address").map(String::as_str), Some("192.0.2.1/32"));
        assert!(read_public_key(&line).is_err(), "a certificate is not a key");
        assert!(read_public_key("ssh-ed25519 notbase64").is_err());
    }
}
