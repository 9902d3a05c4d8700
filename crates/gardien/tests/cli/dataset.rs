//! Ingest, list, show, get, verify, export: the round trips and what the catalog says.

use crate::common::*;

const CHUNK: usize = 64 * 1024;

#[test]
fn sizes_at_the_age_chunk_boundaries_round_trip() {
    let env = Env::new();
    for (i, len) in [0, 1, CHUNK, CHUNK + 1, 3 * CHUNK - 1, 16 * CHUNK, 16 * CHUNK + 1].into_iter().enumerate() {
        let data = pseudo_random(len, i as u64);
        let id = env.ingest(&data, &[]);
        assert_eq!(env.get(&id), data, "len {len}");
        let show = env.show(&id);
        assert_eq!(show["size"], len as u64);
        assert_eq!(show["sha256"], sha256_hex(&data));
        env.ok(&["dataset", "verify", &id]);
    }
}

#[test]
fn a_few_hundred_mib_round_trip_through_files() {
    if std::env::var("GARDIEN_SLOW_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set GARDIEN_SLOW_TESTS=1 (scripts/test does) to stream 300 MiB");
        return;
    }
    let env = Env::new();
    let src = env.path("big.bin");
    let data = pseudo_random(300 << 20, 42);
    std::fs::write(&src, &data).unwrap();
    let id =
        env.ok(&["dataset", "ingest", src.to_str().unwrap(), "--client", "acme", "--class", "other"]).trim().to_owned();
    let out = env.path("big.out");
    env.ok(&["dataset", "get", &id, "-o", out.to_str().unwrap()]);
    assert!(std::fs::read(&out).unwrap() == data, "300 MiB read back differ");
    assert_eq!(env.show(&id)["sha256"], sha256_hex(&data));
}

#[test]
fn dataset_json_has_the_published_fields() {
    let env = Env::new();
    let sbg = env.path("sbg");
    env.ok(&["store", "add", "sbg-1", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()]);
    let id = env.ingest(b"hello", &["--label", "trial export", "--store", "local", "--store", "sbg-1"]);
    let d = env.show(&id);
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["client"], "acme");
    assert_eq!(d["class"], "other");
    assert_eq!(d["label"], "trial export");
    assert_eq!(d["size"], 5);
    assert_eq!(d["sha256"], sha256_hex(b"hello"));
    assert_eq!(d["state"], "active");
    assert!(d["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        d["copies"],
        serde_json::json!([{"store": "local", "site": "fr-roubaix"}, {"store": "sbg-1", "site": "fr-strasbourg"}])
    );
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["dataset", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0], d);
    // Both copies are the same standard age file, and both verify.
    assert_eq!(std::fs::read(env.blob(&id)).unwrap(), std::fs::read(sbg.join(format!("datasets/{id}.age"))).unwrap());
    let verify = env.ok(&["dataset", "verify", &id]);
    assert_eq!(verify.lines().filter(|l| l.starts_with("ok")).count(), 2, "{verify}");
}

#[test]
fn list_filters_by_client() {
    let env = Env::new();
    env.ok(&["client", "add", "lycee-hugo", "--name", "Lycée Victor Hugo"]);
    let a = env.ingest(b"a", &[]);
    let h = env.ok(&["dataset", "ingest", "-", "--client", "lycee-hugo", "--class", "other"]);
    let _ = h;
    let only: serde_json::Value =
        serde_json::from_str(&env.ok(&["dataset", "list", "--client", "acme", "--json"])).unwrap();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["id"], a.as_str());
    let text = env.ok(&["dataset", "list"]);
    assert!(text.starts_with("ID") && text.lines().count() == 3, "{text}");
}

#[test]
fn get_to_a_file_refuses_to_overwrite_without_force() {
    let env = Env::new();
    let id = env.ingest(b"data", &[]);
    let out = env.path("out.bin");
    std::fs::write(&out, b"precious").unwrap();
    let err = env.fails(&["dataset", "get", &id, "-o", out.to_str().unwrap()], 1);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    env.ok(&["dataset", "get", &id, "-o", out.to_str().unwrap(), "--force"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"data");
}

#[test]
fn no_plaintext_reaches_the_data_dir_a_temp_file_or_a_log() {
    let env = Env::new();
    let marker = b"MARKER-7f3c9a1e-unique-plaintext-";
    let mut data = Vec::new();
    while data.len() < 3 * CHUNK {
        data.extend_from_slice(marker);
        data.extend_from_slice(&pseudo_random(1000, data.len() as u64));
    }
    let out = env
        .cmd(&["-vv", "dataset", "ingest", "-", "--client", "acme", "--class", "other"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!contains(&out.stderr, marker), "the log holds plaintext");
    let v = env.run(&["-vv", "dataset", "verify", &id]);
    assert!(v.status.success() && !contains(&v.stderr, marker) && !contains(&v.stdout, marker));
    // The blob itself too, wherever the default store is (the S3 pass fetches it), and the
    // catalog wherever it is (the PostgreSQL pass dumps its schema).
    let dump = env.root.path().join("catalog.dump");
    std::fs::write(&dump, env.catalog_bytes()).unwrap();
    let files = [walk(&env.data), walk(&env.tmp), vec![env.blob(&id), dump]].concat();
    assert!(files.len() > 4);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, &marker[..16]), "plaintext found in {}", f.display());
    }
    assert_eq!(env.get(&id), data);
}
