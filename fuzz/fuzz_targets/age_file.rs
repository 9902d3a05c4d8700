//! The age reader (header, HMAC, stanzas, STREAM payload): arbitrary bytes never panic,
//! and never yield an unauthenticated block. Seeded with a real age file for `IDENTITY`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vault::agefile::{Header, Opened, Out, open};

/// A fixture key, public: the corpus seed (`corpus/age_file/seed.age`) is encrypted to it.
const IDENTITY: &str = "AGE-SECRET-KEY-1L3RSH5L9PLYGEM25RMV289P3CK7CLDMNMQD9LMZWP4P6QV6L5Y0QYE6C90";
static ID: LazyLock<age::x25519::Identity> = LazyLock::new(|| IDENTITY.parse().expect("fixture identity"));

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let Ok(header) = Header::read(&mut input) else { return };
    let Ok(file_key) = header.open(&ID) else { return };
    let mut sink = |_: Opened<'_>| Ok(());
    let _ = open(&mut input, &file_key, Out::Ordered(&mut sink), &|_| {});
});
