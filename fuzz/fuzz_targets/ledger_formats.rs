//! The ledger's outside formats: checkpoints, signed notes, tlog-proof@v1, tlog-witness
//! bodies, verifier and signer keys. Arbitrary text never panics; a parsed proof is
//! verified against a fixed key.
#![no_main]

use ledger::note::{Signer, Verifier};
use ledger::proof::{Checkpoint, ConsistencyProof, InclusionProof};
use libfuzzer_sys::fuzz_target;

/// Go's published example key (sumdb/note), public.
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let verifier = Verifier::parse(VKEY).expect("fixture key");
    let _ = Checkpoint::parse_text(text);
    let _ = Verifier::parse(text);
    let _ = Signer::parse(text);
    if let Ok(p) = InclusionProof::parse(text) {
        let _ = p.verify(b"entry", &verifier);
    }
    if let Ok(p) = ConsistencyProof::parse(text)
        && let Ok(old) = Checkpoint::parse_text("PeterNeumann\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    {
        let _ = p.verify(&old, &verifier);
    }
});
