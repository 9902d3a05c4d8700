//! The tus headers a drop's client sends: any bytes as header values must parse or be
//! refused with a status, never panic; an upload's state never goes past its length.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = [
    "tus-resumable",
    "upload-length",
    "upload-defer-length",
    "upload-metadata",
    "upload-concat",
    "content-type",
    "upload-offset",
    "upload-checksum",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let values: Vec<&str> = text.split('\n').collect();
    let header = |name: &str| NAMES.iter().position(|n| *n == name).and_then(|i| values.get(i)).copied().filter(|v| !v.is_empty());
    for e in [tus::parse_creation(header, 1 << 40).err(), tus::parse_patch(header).err()].into_iter().flatten() {
        assert!((400..=460).contains(&e.status()));
    }
    if let Ok(c) = tus::parse_creation(header, 1 << 40) {
        let mut u = tus::Upload::new(&c, 1 << 40);
        if let Ok(p) = tus::parse_patch(header)
            && let Ok(room) = u.check_patch(&p)
        {
            let _ = u.advance(room);
            assert!(u.length.is_none_or(|l| u.offset <= l));
        }
    }
});
