//! The operator's ledger key as an SSH key: SSHSIG signatures (`ssh-keygen -Y sign`'s
//! format, through the `ssh-key` crate) that a client checks with OpenSSH alone.

use ssh_key::{HashAlg, LineEnding, PrivateKey, SshSig, private::Ed25519Keypair};

use crate::Error;

/// The namespace of a restitution's signature (`ssh-keygen -Y verify -n ...`).
pub const NAMESPACE: &str = "gardien-restitution";

fn private(signer: &ledger::note::Signer) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from(signer.ed25519()))
}

/// The line of an OpenSSH `allowed_signers` file for the ledger's key, limited to
/// restitutions: `NAME namespaces="gardien-restitution" ssh-ed25519 AAAA...`.
pub fn allowed_signers_line(signer: &ledger::note::Signer) -> Result<String, Error> {
    let public = private(signer)
        .public_key()
        .to_openssh()
        .map_err(|e| Error::Corrupt(format!("the ledger key as an SSH key: {e}")))?;
    Ok(format!("{} namespaces=\"{NAMESPACE}\" {public}", signer.name()))
}

/// `msg` signed as `ssh-keygen -Y sign -n gardien-restitution` does, PEM-armoured.
pub fn sign(signer: &ledger::note::Signer, msg: &[u8]) -> Result<String, Error> {
    let sig = SshSig::sign(&private(signer), NAMESPACE, HashAlg::Sha512, msg)
        .map_err(|e| Error::Corrupt(format!("signing with the ledger key: {e}")))?;
    sig.to_pem(LineEnding::LF).map_err(|e| Error::Corrupt(format!("encoding an SSH signature: {e}")))
}
