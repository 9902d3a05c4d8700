//! What outside tools can check without gardien: Debian's `age` opens stored blobs with
//! the dataset key (itself opened with the master key), and exports with the client's key.

use std::process::Command;

use crate::common::*;

/// Extracts a dataset's wrapped key with sqlite3 and opens it with `age` and the master key.
fn dataset_identity(env: &Env, id: &str) -> std::path::PathBuf {
    let wrapped = env.path(&format!("{id}.wrapped"));
    std::fs::write(&wrapped, env.sql(&format!("SELECT wrapped_key FROM datasets WHERE id = '{id}'"))).unwrap();
    let key = env.path(&format!("{id}.key"));
    let st = tool("age")
        .args(["-d", "-i"])
        .arg(env.data.join("keys/master.key"))
        .arg("-o")
        .arg(&key)
        .arg(&wrapped)
        .status()
        .unwrap();
    assert!(st.success(), "age could not open the wrapped dataset key with the master key");
    key
}

#[test]
fn stored_blobs_open_with_the_age_cli_and_the_dataset_key() {
    let env = Env::new();
    for (i, len) in [0usize, 1, 65536, 65537, 1 << 20].into_iter().enumerate() {
        let data = pseudo_random(len, 100 + i as u64);
        let id = env.ingest(&data, &[]);
        let key = dataset_identity(&env, &id);
        let out = tool("age").args(["-d", "-i"]).arg(&key).arg(env.blob(&id)).output().unwrap();
        assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, data, "len {len}");
    }
}

#[test]
fn an_export_opens_with_the_clients_key_and_nothing_else() {
    let env = Env::new();
    let data = pseudo_random(200_000, 7);
    let id = env.ingest(&data, &[]);
    let client_key = env.path("client.key");
    let recipient = env.client_key(&client_key);
    let export = env.path("export.age");
    env.ok(&["dataset", "export", &id, "--recipient", &recipient, "-o", export.to_str().unwrap()]);
    let out = tool("age").args(["-d", "-i"]).arg(&client_key).arg(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, data);
    // The header was re-wrapped; the payload is the stored one, byte for byte.
    let stored = std::fs::read(env.blob(&id)).unwrap();
    let exported = std::fs::read(&export).unwrap();
    let payload = |f: &[u8]| f[f.windows(4).position(|w| w == b"\n---").unwrap() + "\n--- ".len() + 43 + 1..].to_vec();
    assert_eq!(payload(&stored), payload(&exported));
    assert_ne!(stored[..100], exported[..100], "a new header");
    // Neither the master key nor the dataset key's holder is needed, nor enough.
    let st = tool("age").args(["-d", "-i"]).arg(env.data.join("keys/master.key")).arg(&export).output().unwrap();
    assert!(!st.status.success());
}

#[test]
fn files_written_by_the_age_cli_are_the_same_format() {
    // The converse: a blob the Go age wrote to a dataset's key opens through our reader.
    let env = Env::new();
    let id = env.ingest(b"placeholder", &[]);
    let key = dataset_identity(&env, &id);
    let recipient = Command::new("age-keygen").arg("-y").arg(&key).output().unwrap();
    let recipient = String::from_utf8(recipient.stdout).unwrap();
    let data = pseudo_random(3 * 65536 + 5, 9);
    let plain = env.path("plain.bin");
    std::fs::write(&plain, &data).unwrap();
    let written = env.path("written.age");
    let st = tool("age").args(["-r", recipient.trim(), "-o"]).arg(&written).arg(&plain).status().unwrap();
    assert!(st.success());
    env.write_blob(&id, &written);
    // Our reader opens it; the record then says the content changed, and says which copy.
    let err = env.fails(&["dataset", "verify", &id], 3);
    assert!(err.contains("1 of 1 copies failed verification: dataset"), "{err}");
    let out = env.run(&["dataset", "verify", &id]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} bytes, sha256 {}", data.len(), sha256_hex(&data))), "{stdout}");
}
