//! gardien's ledger: a tamper-evident, append-only log in the formats outside tools
//! check. RFC 6962 Merkle tree over SHA-256 (`merkle`), C2SP signed notes with Ed25519
//! (`note`), C2SP checkpoints, `tlog-proof@v1` inclusion proofs and `tlog-witness`
//! consistency bodies (`proof`).
//!
//! Architecture invariant: the ledger is pure logic over values and a small storage trait
//! (`merkle::Hashes`); it knows nothing of datasets, SQL, files or the terminal.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod merkle;
pub mod note;
pub mod proof;

pub use merkle::Hash;

/// What the ledger's parsers and verifiers refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A signer or verifier key string is malformed.
    #[error("bad key: {0}")]
    BadKey(String),
    /// A signed note is malformed.
    #[error("bad signed note: {0}")]
    BadNote(String),
    /// A signature by the trusted key failed to verify.
    #[error("the signature by {0} does not verify (the note was altered or signed by another key)")]
    BadSignature(String),
    /// No signature by the trusted key.
    #[error("the note carries no signature by {0}")]
    NoSignature(String),
    /// A checkpoint's text is malformed.
    #[error("bad checkpoint: {0}")]
    BadCheckpoint(String),
    /// A proof file is malformed.
    #[error("bad proof: {0}")]
    BadProof(String),
    /// A proof is well formed but does not prove what it claims.
    #[error("the proof does not verify: {0}")]
    ProofFailed(String),
}
