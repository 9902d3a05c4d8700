//! Every error a user can cause: a clear message, the right exit code, nothing changed.

use crate::common::*;

/// Runs `args`, expects `code` and a message containing `needle`, and that the data dir
/// is exactly as before.
fn refused(env: &Env, args: &[&str], code: i32, needle: &str) {
    let before = env.snapshot();
    let err = env.fails(args, code);
    assert!(err.contains(needle), "gardien {args:?}: expected {needle:?} in:\n{err}");
    assert!(err.starts_with("gardien: ") || code == 2, "one clear line: {err}");
    assert_eq!(env.snapshot(), before, "gardien {args:?} changed the data dir");
}

#[test]
fn bad_ingests_change_nothing() {
    let env = Env::new();
    let file = env.path("in.bin");
    std::fs::write(&file, b"some data").unwrap();
    let f = file.to_str().unwrap();
    let sbg = env.path("sbg");
    env.ok(&["store", "add", "sbg-1", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()]);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["dataset", "ingest", f, "--client", "nobody", "--class", "other"], 1, "unknown client 'nobody'"),
        (&["dataset", "ingest", f, "--client", "acme", "--class", "secret"], 2, "unknown class 'secret'"),
        (
            &["dataset", "ingest", f, "--client", "acme", "--class", "other", "--store", "nowhere"],
            1,
            "unknown store 'nowhere'",
        ),
        (
            &["dataset", "ingest", "/does/not/exist", "--client", "acme", "--class", "other"],
            1,
            "/does/not/exist: No such file",
        ),
    ];
    for (args, code, needle) in cases {
        refused(&env, args, *code, needle);
    }
    // LOC-1 holds at every write: a store whose site left the allowed list takes nothing.
    let cfg = env.data.join("gardien.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(r#", "fr-strasbourg""#, "");
    std::fs::write(&cfg, text).unwrap();
    refused(
        &env,
        &["dataset", "ingest", f, "--client", "acme", "--class", "other", "--store", "sbg-1"],
        4,
        "refused (LOC-1): site 'fr-strasbourg'",
    );
    assert_eq!(env.ok(&["dataset", "list", "--json"]).trim(), "[]");
}

#[test]
fn unknown_dataset() {
    let env = Env::new();
    for verb in ["show", "get", "verify"] {
        refused(&env, &["dataset", verb, "ds-0000000000000000"], 1, "unknown dataset 'ds-0000000000000000'");
    }
}

#[test]
fn wrong_or_unreadable_master_key() {
    let env = Env::new();
    let id = env.ingest(b"secret", &[]);
    let other = env.path("other.key");
    age_keygen(&other);
    let o = other.to_str().unwrap();
    refused(&env, &["--master-key", o, "dataset", "get", &id], 1, "wrong master key");
    refused(&env, &["--master-key", o, "dataset", "verify", &id], 1, "nothing can be decrypted with it");
    let export = env.path("x.age");
    let recipient = env.client_key(&env.path("client.key"));
    refused(
        &env,
        &["--master-key", o, "dataset", "export", &id, "--recipient", &recipient, "-o", export.to_str().unwrap()],
        1,
        "wrong master key",
    );
    assert!(!export.exists());
    // And the real age agrees: the other key opens no wrapped dataset key.
    let wrapped = env.path("wrapped");
    std::fs::write(&wrapped, env.sql(&format!("SELECT wrapped_key FROM datasets WHERE id = '{id}'"))).unwrap();
    assert!(!tool("age").args(["-d", "-i", o]).arg(&wrapped).output().unwrap().status.success());

    let garbage = env.path("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    refused(&env, &["--master-key", garbage.to_str().unwrap(), "dataset", "get", &id], 1, "cannot read the master key");
    refused(
        &env,
        &["--master-key", "/no/such/key", "dataset", "get", &id],
        1,
        "cannot read the master key /no/such/key",
    );
    assert_eq!(env.get(&id), b"secret");
}

#[test]
fn a_flipped_byte_fails_get_and_verify_naming_dataset_and_copy() {
    let env = Env::new();
    let data = pseudo_random(300_000, 3);
    let id = env.ingest(&data, &[]);
    let blob = env.blob(&id);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    env.write_blob(&id, &blob);
    let expect = format!("dataset {id}, copy on store 'local'");
    refused(&env, &["dataset", "verify", &id], 3, &expect);
    let out = env.path("out.bin");
    refused(&env, &["dataset", "get", &id, "-o", out.to_str().unwrap()], 3, &expect);
    assert!(!out.exists(), "partial output removed");
    let err = env.fails(&["dataset", "get", &id], 3);
    assert!(err.contains("failed authentication"), "{err}");
    // A flipped byte in the header is caught too.
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[n / 2] ^= 0x01;
    bytes[30] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    env.write_blob(&id, &blob);
    refused(&env, &["dataset", "verify", &id], 3, &expect);
}

#[test]
fn a_bad_copy_is_skipped_when_another_is_good() {
    let env = Env::new();
    let sbg = env.path("sbg");
    env.ok(&["store", "add", "sbg-1", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()]);
    let data = pseudo_random(500_000, 4);
    let id = env.ingest(&data, &["--store", "local", "--store", "sbg-1"]);
    let blob = env.blob(&id);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x80;
    std::fs::write(&blob, &bytes).unwrap();
    env.write_blob(&id, &blob);
    let out = env.run(&["dataset", "verify", &id]);
    assert_eq!(out.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAILED  dataset") && stdout.contains("ok      ") && stdout.contains("sbg-1"), "{stdout}");
    let file = env.path("out.bin");
    env.ok(&["dataset", "get", &id, "-o", file.to_str().unwrap()]);
    assert!(std::fs::read(&file).unwrap() == data);
    // A missing copy is named as missing.
    std::fs::remove_file(sbg.join(format!("datasets/{id}.age"))).unwrap();
    let out = env.run(&["dataset", "verify", &id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("the object is missing"));
    let fsck = env.run(&["fsck"]);
    assert_eq!(fsck.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&fsck.stdout).contains(&format!("missing: datasets/{id}.age on store sbg-1")));
}

#[test]
fn a_data_dir_from_a_newer_gardien_is_refused() {
    let env = Env::new();
    let cfg = env.data.join("gardien.toml");
    let orig = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, orig.replace("format = 1", "format = 2\nnew_thing = true")).unwrap();
    refused(&env, &["dataset", "list"], 1, "has format 2, newer than this gardien understands (1)");
    std::fs::write(&cfg, &orig).unwrap();
    env.sql("PRAGMA user_version = 99");
    refused(&env, &["client", "list"], 1, "has format 99, newer than this gardien understands");
    refused(&env, &["init"], 1, "newer than this gardien");
}

#[test]
fn not_a_data_dir_and_bad_recipients() {
    let env = Env::bare();
    let err = env.fails(&["dataset", "list"], 1);
    assert!(err.contains("is not a gardien data dir") && err.contains("gardien init"), "{err}");
    assert!(!env.data.exists(), "reading commands create nothing");
    let env = Env::new();
    let id = env.ingest(b"x", &[]);
    let out = env.path("x.age");
    refused(
        &env,
        &["dataset", "export", &id, "--recipient", "ssh-ed25519 AAAA", "-o", out.to_str().unwrap()],
        1,
        "is not an age recipient",
    );
    assert!(!out.exists());
    // A secret key given where a public one is expected is never repeated: not in the
    // error, not in the ledger or its details.
    let secret = age_keygen_secret(&env.path("k"));
    for args in [
        vec!["dataset", "export", &id, "--recipient", &secret, "-o", out.to_str().unwrap()],
        vec!["client", "key", "add", "acme", &secret],
    ] {
        let err = env.fails(&args, 1);
        assert!(err.contains("a secret key") && !err.contains(&secret[15..]), "{err}");
    }
    let logged = env.sql("SELECT group_concat(details, ' ') FROM event_details");
    assert!(!logged.contains("AGE-SECRET-KEY"), "{logged}");
    assert!(!out.exists());
}
