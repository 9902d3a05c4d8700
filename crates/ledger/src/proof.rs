//! Checkpoints (<https://c2sp.org/tlog-checkpoint>), inclusion proofs
//! (<https://c2sp.org/tlog-proof>, `c2sp.org/tlog-proof@v1`) and consistency proofs as
//! the body of a `tlog-witness` add-checkpoint request (`old N`, hashes, a blank line,
//! the checkpoint), so a witness can consume them as they are.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;

use crate::Error;
use crate::merkle::{self, Hash};
use crate::note::{Signer, Verifier};

/// A tree head: the log's origin, its size and its root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `hebergeur.example/gardien`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash.
    pub root: Hash,
}

fn decimal(s: &str, what: &str) -> Result<u64, String> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} '{s}' is not a decimal without leading zeroes"));
    }
    s.parse().map_err(|_| format!("{what} '{s}' is out of range"))
}

fn hash_b64(s: &str) -> Option<Hash> {
    BASE64_STANDARD.decode(s).ok()?.try_into().ok()
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each on its line.
    pub fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, BASE64_STANDARD.encode(self.root))
    }

    /// Signs the checkpoint into a signed note.
    pub fn sign(&self, signer: &Signer) -> Result<String, Error> {
        signer.sign(&self.text())
    }

    /// Parses a checkpoint's note text (extension lines are refused: we write none).
    pub fn parse_text(text: &str) -> Result<Checkpoint, Error> {
        let bad = |m: String| Error::BadCheckpoint(m);
        let lines: Vec<&str> =
            text.strip_suffix('\n').ok_or_else(|| bad("no final newline".into()))?.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(bad(format!("{} lines where 3 are expected (origin, size, root)", lines.len())));
        };
        if origin.is_empty() {
            return Err(bad("empty origin".into()));
        }
        let size = decimal(size, "tree size").map_err(bad)?;
        let root = hash_b64(root).ok_or_else(|| bad("the root is not a base64 SHA-256 hash".into()))?;
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }

    /// Verifies a signed checkpoint with `verifier` and parses it.
    pub fn open(note: &str, verifier: &Verifier) -> Result<Checkpoint, Error> {
        let cp = Checkpoint::parse_text(verifier.open(note)?)?;
        if cp.origin != verifier.name() {
            return Err(Error::BadCheckpoint(format!(
                "origin '{}' is not the key's name '{}'",
                cp.origin,
                verifier.name()
            )));
        }
        Ok(cp)
    }
}

fn hash_lines(hashes: &[Hash]) -> String {
    hashes.iter().map(|h| format!("{}\n", BASE64_STANDARD.encode(h))).collect()
}

/// Splits `text` at its first blank line: the lines before, and the rest (a checkpoint).
fn split_at_blank(text: &str) -> Result<(Vec<&str>, &str), Error> {
    let at = text.find("\n\n").ok_or_else(|| Error::BadProof("no blank line before the checkpoint".into()))?;
    Ok((text[..at].split('\n').collect(), &text[at + 2..]))
}

fn parse_hashes(lines: &[&str]) -> Result<Vec<Hash>, Error> {
    lines
        .iter()
        .map(|l| hash_b64(l).ok_or_else(|| Error::BadProof(format!("'{l}' is not a base64 SHA-256 hash"))))
        .collect()
}

/// An inclusion proof in `c2sp.org/tlog-proof@v1` form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The entry's index.
    pub index: u64,
    /// RFC 6962 audit path, from the leaf's sibling up.
    pub path: Vec<Hash>,
    /// The signed checkpoint the path leads to, verbatim.
    pub checkpoint: String,
}

const TLOG_PROOF: &str = "c2sp.org/tlog-proof@v1";

impl InclusionProof {
    /// The text of the proof file.
    pub fn to_text(&self) -> String {
        format!("{TLOG_PROOF}\nindex {}\n{}\n{}", self.index, hash_lines(&self.path), self.checkpoint)
    }

    /// Parses a proof file (an `extra` line is accepted and ignored, as it is unauthenticated).
    pub fn parse(text: &str) -> Result<InclusionProof, Error> {
        let (lines, checkpoint) = split_at_blank(text)?;
        let mut it = lines.into_iter();
        if it.next() != Some(TLOG_PROOF) {
            return Err(Error::BadProof(format!("the first line is not {TLOG_PROOF}")));
        }
        let mut line = it.next().unwrap_or_default();
        if line.starts_with("extra ") {
            line = it.next().unwrap_or_default();
        }
        let index = line.strip_prefix("index ").ok_or_else(|| Error::BadProof("no 'index N' line".into()))?;
        let index = decimal(index, "index").map_err(Error::BadProof)?;
        let path = parse_hashes(&it.collect::<Vec<_>>())?;
        Ok(InclusionProof { index, path, checkpoint: checkpoint.to_owned() })
    }

    /// Checks that `entry` is at `index` in the log the checkpoint (signed by `verifier`)
    /// describes; returns that checkpoint.
    pub fn verify(&self, entry: &[u8], verifier: &Verifier) -> Result<Checkpoint, Error> {
        let cp = Checkpoint::open(&self.checkpoint, verifier)?;
        if self.index >= cp.size {
            return Err(Error::ProofFailed(format!("index {} is beyond the tree size {}", self.index, cp.size)));
        }
        if !merkle::verify_inclusion(self.index, cp.size, &merkle::leaf_hash(entry), &self.path, &cp.root) {
            return Err(Error::ProofFailed(format!(
                "this entry is not at index {} of the tree of size {}",
                self.index, cp.size
            )));
        }
        Ok(cp)
    }
}

/// A consistency proof as a `tlog-witness` add-checkpoint request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub old: u64,
    /// RFC 6962 consistency proof from `old` to the checkpoint's size.
    pub path: Vec<Hash>,
    /// The newer signed checkpoint, verbatim.
    pub checkpoint: String,
}

impl ConsistencyProof {
    /// The request body.
    pub fn to_text(&self) -> String {
        format!("old {}\n{}\n{}", self.old, hash_lines(&self.path), self.checkpoint)
    }

    /// Parses a request body.
    pub fn parse(text: &str) -> Result<ConsistencyProof, Error> {
        let (lines, checkpoint) = split_at_blank(text)?;
        let (first, rest) = lines.split_first().ok_or_else(|| Error::BadProof("empty".into()))?;
        let old = first.strip_prefix("old ").ok_or_else(|| Error::BadProof("no 'old N' line".into()))?;
        let old = decimal(old, "old size").map_err(Error::BadProof)?;
        let path = parse_hashes(rest)?;
        if path.len() > 63 {
            return Err(Error::BadProof("more than 63 proof lines".into()));
        }
        Ok(ConsistencyProof { old, path, checkpoint: checkpoint.to_owned() })
    }

    /// Checks that the log described by `old` (a checkpoint the client kept) is a prefix
    /// of the one this proof's checkpoint describes, both signed by `verifier`.
    pub fn verify(&self, old: &Checkpoint, verifier: &Verifier) -> Result<Checkpoint, Error> {
        let new = Checkpoint::open(&self.checkpoint, verifier)?;
        if old.size != self.old {
            return Err(Error::ProofFailed(format!(
                "the proof starts at size {}, the kept checkpoint is of size {}",
                self.old, old.size
            )));
        }
        if old.origin != new.origin {
            return Err(Error::ProofFailed(format!("origins differ: '{}' and '{}'", old.origin, new.origin)));
        }
        if old.size > new.size {
            return Err(Error::ProofFailed(format!("the log shrank from {} to {} entries", old.size, new.size)));
        }
        if !merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &self.path) {
            return Err(Error::ProofFailed(format!(
                "the tree of size {} is not a prefix of the tree of size {}: the log was rewritten",
                old.size, new.size
            )));
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip_and_bad_inputs_are_named() {
        let s = Signer::generate("op.example/gardien").unwrap();
        let cp = Checkpoint {
            origin: "op.example/gardien".into(),
            size: 2,
            root: merkle::node_hash(&merkle::leaf_hash(b"a"), &merkle::leaf_hash(b"b")),
        };
        let note = cp.sign(&s).unwrap();
        assert_eq!(Checkpoint::open(&note, &s.verifier()).unwrap(), cp);
        let p = InclusionProof { index: 1, path: vec![merkle::leaf_hash(b"a")], checkpoint: note.clone() };
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 1\n"));
        let back = InclusionProof::parse(&text).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.verify(b"b", &s.verifier()).unwrap(), cp);
        assert!(matches!(back.verify(b"a", &s.verifier()), Err(Error::ProofFailed(_))));
        assert!(matches!(InclusionProof::parse("garbage"), Err(Error::BadProof(_))));
        assert!(matches!(InclusionProof::parse("c2sp.org/tlog-proof@v1\nindex 01\n\nx"), Err(Error::BadProof(_))));
        let c = ConsistencyProof { old: 1, path: vec![merkle::leaf_hash(b"b")], checkpoint: note };
        let back = ConsistencyProof::parse(&c.to_text()).unwrap();
        let old = Checkpoint { origin: cp.origin.clone(), size: 1, root: merkle::leaf_hash(b"a") };
        assert_eq!(back.verify(&old, &s.verifier()).unwrap(), cp);
        let forged = Checkpoint { root: merkle::leaf_hash(b"z"), ..old };
        assert!(matches!(back.verify(&forged, &s.verifier()), Err(Error::ProofFailed(_))));
    }
}

#[cfg(test)]
mod mutation {
    use super::*;

    /// A deterministic stand-in for fuzzing the parsers of outside input: every single-byte
    /// change and every truncation of a valid proof file is refused, and nothing panics.
    #[test]
    fn every_edit_of_a_proof_file_is_refused() {
        let s = Signer::generate("op.example/gardien").unwrap();
        let leaves: Vec<Hash> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let mut nodes = std::collections::HashMap::new();
        let mut edge = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            for (lv, j, h) in merkle::append(&mut edge, i as u64, *l) {
                nodes.insert((lv, j), h);
            }
        }
        struct M(std::collections::HashMap<(u32, u64), Hash>);
        impl merkle::Hashes for M {
            type Error = ();
            fn subtree(&self, level: u32, index: u64) -> Result<Hash, ()> {
                self.0.get(&(level, index)).copied().ok_or(())
            }
        }
        let m = M(nodes);
        let cp = Checkpoint { origin: "op.example/gardien".into(), size: 5, root: merkle::root(&m, 5).unwrap() };
        let proof = InclusionProof {
            index: 2,
            path: merkle::inclusion_proof(&m, 2, 5).unwrap(),
            checkpoint: cp.sign(&s).unwrap(),
        };
        let text = proof.to_text();
        let v = s.verifier();
        let ok = |t: &str| InclusionProof::parse(t).and_then(|p| p.verify(&[2u8], &v)).is_ok();
        assert!(ok(&text));
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x20, 0x80] {
                let mut b = bytes.to_vec();
                b[i] ^= bit;
                if let Ok(t) = std::str::from_utf8(&b) {
                    assert!(!ok(t), "flipping {bit:#x} at byte {i} went unnoticed");
                }
            }
            if let Some(t) = text.get(..i) {
                assert!(!ok(t), "truncation at {i} went unnoticed");
            }
        }
    }
}
