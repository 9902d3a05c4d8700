//! The operator's policy files: arbitrary text added to the shipped set never panics;
//! an error always names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = policy::Source { name: "fuzz.cedar".into(), text: text.to_owned() };
    if let Err(e) = policy::Engine::new(vec![source]) {
        let msg = e.to_string();
        assert!(msg.contains("fuzz.cedar"), "{msg}");
    }
});
