//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and the key
//! strings of Go's `golang.org/x/mod/sumdb/note`: the signer key
//! `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>` and the verifier key
//! `<name>+<id>+<base64(0x01 || public key)>`, where the id is the first four bytes of
//! `SHA-256(name || 0x0A || 0x01 || public key)`, in hex.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::Error;

const ED25519: u8 = 0x01;

fn check_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('+') {
        return Err(Error::BadKey(format!("key name '{name}' must be non-empty, without spaces or '+'")));
    }
    Ok(())
}

fn key_id(name: &str, vk: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(vk.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A note signer: an Ed25519 key with its name.
pub struct Signer {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.verifier_key())
    }
}

impl Signer {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<Signer, Error> {
        check_key_name(name)?;
        Ok(Signer { name: name.to_owned(), key: SigningKey::generate(&mut rand::rngs::OsRng) })
    }

    /// Parses a `PRIVATE+KEY+...` signer key.
    pub fn parse(text: &str) -> Result<Signer, Error> {
        let bad = || Error::BadKey("not a signer key (PRIVATE+KEY+<name>+<id>+<key>)".into());
        let rest = text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(bad)?;
        let mut parts = rest.splitn(3, '+');
        let (name, id, key) =
            (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        check_key_name(name)?;
        let raw = Zeroizing::new(BASE64_STANDARD.decode(key).map_err(|_| bad())?);
        let seed: [u8; 32] = raw.get(1..).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
        if raw.first() != Some(&ED25519) {
            return Err(Error::BadKey("only Ed25519 signer keys (type 0x01) are supported".into()));
        }
        let signer = Signer { name: name.to_owned(), key: SigningKey::from_bytes(&seed) };
        if hex::encode(key_id(name, &signer.key.verifying_key())) != id {
            return Err(Error::BadKey("the signer key's id does not match its key".into()));
        }
        Ok(signer)
    }

    /// The `PRIVATE+KEY+...` text (a secret: write it to a 0600 file only).
    pub fn to_private_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(vec![ED25519]);
        raw.extend_from_slice(self.key.as_bytes());
        let vk = self.key.verifying_key();
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &vk)),
            BASE64_STANDARD.encode(&raw[..])
        ))
    }

    /// The key's name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 key itself: the same key signs a restitution's SHA256SUMS as an SSH
    /// signature, so that `ssh-keygen -Y verify` checks it.
    pub fn ed25519(&self) -> &SigningKey {
        &self.key
    }

    /// The verifier key string others use to check this signer's notes.
    pub fn verifier_key(&self) -> String {
        Verifier { name: self.name.clone(), key: self.key.verifying_key() }.to_string()
    }

    /// The verifier of this signer.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), key: self.key.verifying_key() }
    }

    /// Signs `text` (which must end in a newline) into a signed note.
    pub fn sign(&self, text: &str) -> Result<String, Error> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = key_id(&self.name, &self.key.verifying_key()).to_vec();
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!("{text}\n\u{2014} {} {}\n", self.name, BASE64_STANDARD.encode(raw)))
    }
}

fn check_text(text: &str) -> Result<(), Error> {
    if !text.ends_with('\n') || text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(Error::BadNote("the text must end in a newline and hold no control characters".into()));
    }
    Ok(())
}

/// A note verifier: a name and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key: VerifyingKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({self})")
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex::encode(key_id(&self.name, &self.key)), BASE64_STANDARD.encode(raw))
    }
}

impl Verifier {
    /// Parses `<name>+<id>+<base64(0x01 || key)>`.
    pub fn parse(text: &str) -> Result<Verifier, Error> {
        let bad = || Error::BadKey(format!("'{}' is not a verifier key (<name>+<id>+<key>)", text.trim()));
        let mut parts = text.trim().splitn(3, '+');
        let (name, id, key) =
            (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        check_key_name(name)?;
        let raw = BASE64_STANDARD.decode(key).map_err(|_| bad())?;
        if raw.first() != Some(&ED25519) {
            return Err(Error::BadKey("only Ed25519 verifier keys (type 0x01) are supported".into()));
        }
        let bytes: [u8; 32] = raw.get(1..).and_then(|s| s.try_into().ok()).ok_or_else(bad)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
        if hex::encode(key_id(name, &key)) != id {
            return Err(Error::BadKey("the verifier key's id does not match its key".into()));
        }
        Ok(Verifier { name: name.to_owned(), key })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks `note` and returns its text. Signatures by other keys are ignored; at least
    /// one by this key must verify, and none by this key may fail.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, Error> {
        let split = note.rfind("\n\n").ok_or_else(|| Error::BadNote("no blank line before the signatures".into()))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(Error::BadNote("the signature lines must end in a newline".into()));
        }
        let id = key_id(&self.name, &self.key);
        let mut verified = false;
        for line in sigs.lines() {
            let rest =
                line.strip_prefix("\u{2014} ").ok_or_else(|| Error::BadNote(format!("bad signature line '{line}'")))?;
            let (name, b64) =
                rest.split_once(' ').ok_or_else(|| Error::BadNote(format!("bad signature line '{line}'")))?;
            let raw =
                BASE64_STANDARD.decode(b64).map_err(|_| Error::BadNote(format!("bad signature line '{line}'")))?;
            if name != self.name || raw.len() < 4 || raw[..4] != id {
                continue;
            }
            let sig =
                ed25519_dalek::Signature::from_slice(&raw[4..]).map_err(|_| Error::BadSignature(self.name.clone()))?;
            self.key.verify(text.as_bytes(), &sig).map_err(|_| Error::BadSignature(self.name.clone()))?;
            verified = true;
        }
        if !verified {
            return Err(Error::NoSignature(self.name.clone()));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_open_and_the_key_strings_round_trip() {
        let s = Signer::generate("hebergeur.example/gardien").unwrap();
        let again = Signer::parse(&s.to_private_text()).unwrap();
        assert_eq!(again.verifier_key(), s.verifier_key());
        let v = Verifier::parse(&s.verifier_key()).unwrap();
        let note = s.sign("hebergeur.example/gardien\n3\nAAAA\n").unwrap();
        assert_eq!(v.open(&note).unwrap(), "hebergeur.example/gardien\n3\nAAAA\n");
        // An edited text, a foreign key, a missing signature.
        assert!(matches!(v.open(&note.replace("\n3\n", "\n4\n")), Err(Error::BadSignature(_))));
        let other = Signer::generate("hebergeur.example/gardien").unwrap().verifier();
        assert!(matches!(other.open(&note), Err(Error::NoSignature(_))));
        assert!(v.open("text\n").is_err());
        assert!(Verifier::parse("garbage").is_err());
        assert!(Signer::generate("has space").is_err());
    }

    #[test]
    fn go_sumdb_note_known_answer() {
        // The example key pair and note from golang.org/x/mod/sumdb/note's documentation.
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let v = Verifier::parse(vkey).unwrap();
        let note = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        assert!(v.open(note).unwrap().starts_with("If you think"));
        let skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let s = Signer::parse(skey).unwrap();
        assert_eq!(s.verifier_key(), vkey);
        assert_eq!(
            s.sign(
                "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
            )
            .unwrap(),
            note
        );
    }
}
