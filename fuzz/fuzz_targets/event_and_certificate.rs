//! Ledger events (`gardien-event/v1`) and destruction certificates
//! (`gardien-certificate/v1`): arbitrary bytes never panic. The input is also signed with a
//! fixture key before the certificate check, so that the fuzzer reaches the certificate's
//! fields and its embedded tlog-proof, not only the signature check.
#![no_main]

use std::sync::LazyLock;

use ledger::note::{Signer, Verifier};
use libfuzzer_sys::fuzz_target;

/// Go's published example keys (sumdb/note), public.
const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static KEYS: LazyLock<(Signer, Verifier)> =
    LazyLock::new(|| (Signer::parse(SKEY).expect("fixture key"), Verifier::parse(VKEY).expect("fixture key")));

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = vault::Event::decode(data) {
        // What decodes re-encodes to the same bytes (the canonical form).
        assert_eq!(e.encode().expect("a decoded event encodes"), data);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (signer, verifier) = &*KEYS;
    let _ = vault::verify_certificate(text, verifier);
    if let Ok(note) = signer.sign(text) {
        let _ = vault::verify_certificate(&note, verifier);
    }
});
