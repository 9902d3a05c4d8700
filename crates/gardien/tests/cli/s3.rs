//! S3 stores (issue 14, LOC-1): a bucket of SeaweedFS's S3 gateway (`tests/s3/seaweed`,
//! started once per run by scripts/test) holds copies with the guarantees of a local
//! store: visible only when complete, checked on read, found by fsck and verify when
//! changed or gone behind gardien's back, nothing left when an ingest fails or is killed.
//! Each test works under a prefix of its own in the one bucket.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// The object names under `prefix`.
fn objects(s: &S3Test, prefix: &str) -> Vec<String> {
    let out = s.aws(&["s3api", "list-objects-v2", "--bucket", &s.bucket, "--prefix", prefix, "--output", "json"]);
    assert!(out.status.success(), "aws list: {}", String::from_utf8_lossy(&out.stderr));
    if out.stdout.is_empty() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Contents"].as_array().map_or(Vec::new(), |a| a.iter().map(|o| o["Key"].as_str().unwrap().to_owned()).collect())
}

/// Multipart uploads under `prefix` that were neither completed nor aborted.
fn open_uploads(s: &S3Test, prefix: &str) -> usize {
    let out =
        s.aws(&["s3api", "list-multipart-uploads", "--bucket", &s.bucket, "--prefix", prefix, "--output", "json"]);
    assert!(out.status.success(), "aws list-multipart-uploads: {}", String::from_utf8_lossy(&out.stderr));
    if out.stdout.is_empty() {
        return 0;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Uploads"].as_array().map_or(0, Vec::len)
}

fn add_store(env: &Env, s: &S3Test, name: &str, endpoint: &str, prefix: &str, creds: &Path) {
    let out = try_add(env, name, "fr-roubaix", &format!("s3://{}/{prefix}", s.bucket), endpoint, creds, &[]);
    assert!(out.status.success(), "store add {name}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `store add NAME --site SITE --s3 URL --endpoint ENDPOINT --credentials CREDS EXTRA...`.
fn try_add(env: &Env, name: &str, site: &str, url: &str, endpoint: &str, creds: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["store", "add", name, "--site", site, "--s3", url, "--endpoint", endpoint, "--credentials"];
    args.push(creds.to_str().unwrap());
    args.extend_from_slice(extra);
    env.run(&args)
}

fn journals(env: &Env) -> usize {
    std::fs::read_dir(env.data.join("run/uploads")).map_or(0, |d| d.count())
}

#[test]
fn an_s3_store_holds_checked_copies_and_refuses_what_it_cannot_keep() {
    let s = S3Test::from_env();
    let env = Env::new();
    let creds = s.credentials(&env);
    let prefix = S3Test::fresh_prefix("vault");
    let url = format!("s3://{}/{prefix}", s.bucket);
    let add = |creds: &Path| try_add(&env, "rbx-s3", "fr-roubaix", &url, &s.endpoint, creds, &[]);

    // Abuse first: each refused, with a clear message, nothing recorded.
    let before = env.sql("SELECT count(*) FROM stores");
    let loose = env.path("loose.toml");
    std::fs::copy(&creds, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = add(&loose);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("readable by others") && err.contains("chmod 600"), "{err}");
    assert!(!err.contains(&s.secret), "the secret was printed: {err}");

    let wrong = env.path("wrong.toml");
    std::fs::write(&wrong, format!("access_key_id = \"{}\"\nsecret_access_key = \"not-the-secret\"\n", s.key)).unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = add(&wrong);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a key the bucket refuses is refused when the store is added: {err}");
    assert!(!err.contains("not-the-secret"), "{err}");

    let garbled = env.path("garbled.toml");
    std::fs::write(&garbled, format!("secret_access_key = {}\n", s.secret)).unwrap();
    std::fs::set_permissions(&garbled, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = add(&garbled);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("access_key_id") && !err.contains(&s.secret),
        "a parse error must not quote the secret: {err}"
    );

    // No credentials at all (the harness's environment has none).
    let out = env
        .cmd(&["store", "add", "rbx-s3", "--site", "fr-roubaix", "--s3", &url, "--endpoint", &s.endpoint])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID") && err.contains("--credentials"), "{err}");

    // A password in the endpoint is refused and never echoed, nor recorded.
    let with_user = s.endpoint.replacen("http://", "http://admin:hunter2@", 1);
    let out = try_add(&env, "rbx-s3", "fr-roubaix", &url, &with_user, &creds, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!env.sql("SELECT group_concat(CAST(entry AS TEXT)) FROM ledger_entries").contains("hunter2"));

    for bad in
        ["s3://Bad_Bucket/x", "s3://ok-bucket/../x", "s3://ok-bucket/a//b", "s3://ok-bucket/a\u{1b}[2J", "http://x/y"]
    {
        let out = try_add(&env, "rbx-s3", "fr-roubaix", bad, &s.endpoint, &creds, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(!err.contains('\u{1b}'), "a control character reached the terminal: {err:?}");
    }
    // LOC-1: a site outside the allowed list, as for a local store.
    let out = try_add(&env, "us-s3", "us-east", &url, &s.endpoint, &creds, &[]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOC-1"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.sql("SELECT count(*) FROM stores"), before, "a refused store was recorded");

    // The store, then a second one on the same place is refused (one copy counted twice).
    add_store(&env, &s, "rbx-s3", &s.endpoint, &prefix, &creds);
    let out = try_add(&env, "rbx-s3-bis", "fr-roubaix", &format!("{url}/inner"), &s.endpoint, &creds, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // The same service under another name: the same bucket and prefix, refused all the same.
    let port = s.endpoint.rsplit(':').next().unwrap();
    for alias in [format!("http://LOCALHOST:{port}/"), format!("http://localhost.:0{port}")] {
        let out = try_add(&env, "alias", "fr-roubaix", &url, &alias, &creds, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{alias}: {err}");
        assert!(err.contains("already store 'rbx-s3'"), "{err}");
    }
    // What the HTTP client would panic on is refused first: a port out of range, a key
    // that cannot be a header.
    let out = try_add(&env, "bad", "fr-roubaix", "s3://gardien/other", "http://127.0.0.1:99999", &creds, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let newline = env.path("newline.toml");
    std::fs::write(&newline, format!("access_key_id = \"{}\\n\"\nsecret_access_key = \"{}\"\n", s.key, s.secret))
        .unwrap();
    std::fs::set_permissions(&newline, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = try_add(&env, "bad", "fr-roubaix", "s3://gardien/other", &s.endpoint, &newline, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("access key id must be printable") && !err.contains(&s.key), "{err}");
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["store", "list", "--json"])).unwrap();
    let store = list.as_array().unwrap().iter().find(|s| s["name"] == "rbx-s3").unwrap();
    assert_eq!(store["kind"], "s3");
    assert_eq!(store["location"], url.as_str());
    assert_eq!(store["site"], "fr-roubaix");
    // The catalog knows where the keys are, never what they are.
    let dump = env.snapshot().0;
    assert!(!dump.contains(&s.secret) && !dump.contains(&s.key), "a key reached the catalog");

    // A small copy (one PUT) and a large one (multipart: 3 parts of 8 MiB and a tail).
    let small = pseudo_random(100_000, 3);
    let large = pseudo_random(26 << 20, 4);
    let small_id = env.ingest(&small, &["--store", "rbx-s3"]);
    let large_id = env.ingest(&large, &["--store", "rbx-s3", "--store", "local"]);
    assert_eq!(env.get(&small_id), small);
    assert_eq!(env.get(&large_id), large);
    // A copy of a whole number of parts (ciphertext of exactly 2 or 3 x 8 MiB): its last
    // part is full, sent as it filled, and nothing is left for `finish`. The header's length
    // is fixed for one recipient: what the local copy of `large` has beyond its payload.
    let payload = |n: u64| n + 16 * n.div_ceil(65536).max(1);
    let header = std::fs::metadata(env.blob(&large_id)).unwrap().len() - 16 - payload(large.len() as u64);
    let (exact_len, n) = [2u64, 3]
        .iter()
        .find_map(|parts| {
            let target = (parts << 23) - header - 16;
            (target - 16 * (target / 65536) - 16..=target).find(|&n| payload(n) == target).map(|n| (parts << 23, n))
        })
        .expect("a plaintext size whose copy is a whole number of parts");
    let exact = pseudo_random(n as usize, 5);
    let exact_id = env.ingest(&exact, &["--store", "rbx-s3"]);
    assert_eq!(env.get(&exact_id), exact);
    let head =
        s.aws(&["s3api", "head-object", "--bucket", &s.bucket, "--key", &format!("{prefix}/datasets/{exact_id}.age")]);
    let head = String::from_utf8_lossy(&head.stdout);
    assert!(head.contains(&format!("\"ContentLength\": {exact_len}")), "{head}");
    // Ingests to one store at once (as `serve` runs them): each its own upload and journal.
    let many: Vec<(Vec<u8>, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let env = &env;
                scope.spawn(move || {
                    let data = pseudo_random(9 << 20, 40 + i);
                    let id = env.ingest(&data, &["--store", "rbx-s3"]);
                    (data, id)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (data, id) in &many {
        assert_eq!(&env.get(id), data);
    }
    let mut names = objects(&s, &prefix);
    names.sort();
    let mut expected = vec![format!("{prefix}/datasets/{large_id}.age"), format!("{prefix}/datasets/{small_id}.age")];
    expected.extend(many.iter().map(|(_, id)| format!("{prefix}/datasets/{id}.age")));
    expected.push(format!("{prefix}/datasets/{exact_id}.age"));
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(open_uploads(&s, &prefix), 0);
    assert_eq!(journals(&env), 0, "a finished upload's journal stays");
    for id in [&small_id, &large_id] {
        let out = env.ok(&["dataset", "verify", id]);
        assert!(out.contains("copy on store rbx-s3 (fr-roubaix)"), "{out}");
    }
    // The same bytes as the local copy, and a standard age file for the client.
    let fetched = env.path("fetched.age");
    let got =
        s.aws(&["s3", "cp", &format!("s3://{}/{prefix}/datasets/{large_id}.age", s.bucket), fetched.to_str().unwrap()]);
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(sha256_file(&fetched), sha256_file(&env.blob(&large_id)));
    let key = env.path("client.key");
    let recipient = env.client_key(&key);
    let export = env.path("export.age");
    env.ok(&["dataset", "export", &small_id, "--recipient", &recipient, "-o", export.to_str().unwrap()]);
    let opened = tool("age").args(["-d", "-i", key.to_str().unwrap(), export.to_str().unwrap()]).output().unwrap();
    assert_eq!(opened.stdout, small);
    env.ok(&["fsck"]);

    // Behind gardien's back: one object replaced (same size), one deleted.
    let mut other = std::fs::read(&fetched).unwrap();
    let n = other.len();
    other[n / 2] ^= 1;
    let tampered = env.path("tampered.age");
    std::fs::write(&tampered, &other).unwrap();
    let put = s.aws(&[
        "s3",
        "cp",
        tampered.to_str().unwrap(),
        &format!("s3://{}/{prefix}/datasets/{large_id}.age", s.bucket),
    ]);
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    let del = s.aws(&["s3", "rm", &format!("s3://{}/{prefix}/datasets/{small_id}.age", s.bucket)]);
    assert!(del.status.success(), "{}", String::from_utf8_lossy(&del.stderr));
    let out = env.run(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("changed: datasets/{large_id}.age on store rbx-s3")), "{text}");
    assert!(text.contains(&format!("missing: datasets/{small_id}.age on store rbx-s3")), "{text}");
    let out = env.run(&["dataset", "verify", &large_id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("FAILED") && text.contains("rbx-s3") && text.contains("ok      "), "{text}");
    assert!(env.fails(&["dataset", "verify", &small_id], 3).contains("rbx-s3"));
    // The local copy still serves the changed one; nothing is served from a bad copy.
    assert_eq!(env.get(&large_id), large);
    assert!(!env.run(&["dataset", "get", &small_id]).status.success());
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `tests/s3/proxy.py` on `port` in front of the test store's port `target` (in TLS
/// with `tls`'s certificate and key); returns once it listens.
fn relay(port: u16, target: &str, tls: Option<(&Path, &Path)>) -> Child {
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/s3/proxy.py"))
        .args([port.to_string(), target.to_owned()]);
    if let Some((cert, key)) = tls {
        cmd.arg(cert).arg(key);
    }
    let mut c = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(c.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    c
}

/// Feeds `mib` MiB of pseudo-random data to an ingest through a pipe, returning the child.
fn ingest_child(env: &Env, stores: &[&str]) -> (Child, std::process::ChildStdin) {
    let mut args = vec!["dataset", "ingest", "-", "--client", "acme", "--class", "other"];
    for s in stores {
        args.extend(["--store", s]);
    }
    let mut child = env.cmd(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Writes 400 MiB into an ingest's stdin on a thread, stopping when the ingest is gone.
fn feed(mut stdin: std::process::ChildStdin, seed: u64) -> std::thread::JoinHandle<()> {
    let block = pseudo_random(1 << 20, seed);
    std::thread::spawn(move || {
        for _ in 0..400 {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
    })
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn no_dataset_visible(env: &Env) {
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["dataset", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
}

#[test]
fn an_s3_store_out_of_reach_or_a_killed_ingest_leaves_nothing() {
    let s = S3Test::from_env();
    let env = Env::new();
    let creds = s.credentials(&env);
    let prefix = S3Test::fresh_prefix("flaky");
    // The store is reached through a relay the test kills mid-ingest.
    let port = free_port();
    let target = s.endpoint.rsplit(':').next().unwrap().to_owned();
    let relay = |port: u16| relay(port, &target, None);
    let mut proxy = relay(port);
    add_store(&env, &s, "flaky", &format!("http://127.0.0.1:{port}"), &prefix, &creds);

    // 1. Out of reach mid-ingest: the ingest fails, nothing is visible, the local copy's
    //    staging is gone, and once the store answers again fsck aborts the upload.
    let (child, stdin) = ingest_child(&env, &["local", "flaky"]);
    let feeder = feed(stdin, 9);
    wait_until("a journaled upload", 60, || journals(&env) == 1);
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store 'flaky'"), "the error names the store: {err}");
    assert!(started.elapsed() < Duration::from_secs(120), "the failure took {:?}", started.elapsed());
    no_dataset_visible(&env);
    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "0", "the failed ingest's row stays");
    let local: Vec<_> = walk(&env.data.join("stores/local"));
    assert!(local.is_empty(), "the local copy's leftovers: {local:?}");
    let mut proxy = relay(port);
    assert_eq!(journals(&env), 1, "the abort could not reach the store: its journal waits");
    assert_eq!(open_uploads(&s, &prefix), 1);
    env.ok(&["fsck"]);
    assert_eq!(journals(&env), 0);
    assert_eq!(open_uploads(&s, &prefix), 0, "fsck aborted the upload");

    // 2. kill -9 mid-ingest: the next command cleans the row, the upload and its journal.
    let (mut child, stdin) = ingest_child(&env, &["flaky"]);
    let feeder = feed(stdin, 10);
    wait_until("a journaled upload", 60, || journals(&env) == 1);
    wait_until("a part on the wire", 60, || open_uploads(&s, &prefix) == 1);
    child.kill().unwrap();
    child.wait().unwrap();
    feeder.join().unwrap();
    assert_eq!(env.sql("SELECT count(*) FROM datasets WHERE state = 'pending'"), "1");
    no_dataset_visible(&env);
    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "0", "opening the data dir cleans the dead ingest");
    assert_eq!(journals(&env), 0);
    assert_eq!(open_uploads(&s, &prefix), 0);
    assert!(objects(&s, &prefix).is_empty(), "{:?}", objects(&s, &prefix));
    env.ok(&["fsck"]);

    // And the store still works.
    let data = pseudo_random(9 << 20, 11);
    let id = env.ingest(&data, &["--store", "flaky"]);
    assert_eq!(env.get(&id), data);

    // 3. Out of reach for good: verify says it could not read (exit 1, not an integrity
    //    failure); fsck checks the other stores all the same and says which it could not.
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    let out = env.run(&["dataset", "verify", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("UNREAD  store 'flaky'"), "{text}");
    let err = env.fails(&["dataset", "get", &id, "-o", env.path("unread.bin").to_str().unwrap()], 1);
    assert!(err.contains("store 'flaky'") && !err.contains('\n'.to_string().repeat(2).as_str()), "{err}");
    assert!(!env.path("unread.bin").exists());
    let local_id = env.ingest(b"on the local store", &["--store", "local"]);
    std::fs::remove_file(env.data.join(format!("stores/local/datasets/{local_id}.age"))).unwrap();
    let out = env.run(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains(&format!("missing: datasets/{local_id}.age on store local")), "{text}");
    assert!(text.contains("unchecked: store flaky: store 'flaky'"), "{text}");
    // A command that has nothing to do with the store does not wait for it.
    let started = Instant::now();
    env.ok(&["dataset", "list"]);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

/// An https endpoint is checked against the system's authorities, or the store's own
/// (`--ca`, a private service); the test store sits behind a TLS relay with a test CA.
#[test]
fn an_https_endpoint_is_checked_against_the_authorities_the_store_names() {
    let s = S3Test::from_env();
    let env = Env::new();
    let creds = s.credentials(&env);
    // The server tests' CA and its certificate for 127.0.0.1.
    let (ca, cert, key) = crate::serve::test_cert();
    let port = free_port();
    let target = s.endpoint.rsplit(':').next().unwrap().to_owned();
    let mut proxy = relay(port, &target, Some((cert, key)));
    let endpoint = format!("https://127.0.0.1:{port}");
    let url = format!("s3://{}/{}", s.bucket, S3Test::fresh_prefix("tls"));
    let add = |extra: &[&str]| try_add(&env, "private", "fr-roubaix", &url, &endpoint, &creds, extra);
    // Not a certificate the system trusts: refused when the store is added.
    let out = add(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store 'private'"), "{err}");
    // A CA file that is no CA file, and a CA for a plain-HTTP endpoint.
    let out = add(&["--ca", creds.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("holds no PEM certificate") && !err.contains(&s.secret), "{err}");
    // A CA file others could write: whoever can add an authority can read the traffic.
    let loose = env.path("loose-ca.pem");
    std::fs::copy(ca, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = add(&["--ca", loose.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writable by its owner alone"), "{err}");
    let ca = ca.to_str().unwrap();
    let out = try_add(&env, "private", "fr-roubaix", &url, &s.endpoint, &creds, &["--ca", ca]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.sql("SELECT count(*) FROM stores WHERE name = 'private'"), "0");
    // With its CA: a copy goes there and back in TLS.
    let out = add(&["--ca", ca]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = pseudo_random(9 << 20, 12);
    let id = env.ingest(&data, &["--store", "private"]);
    assert_eq!(env.get(&id), data);
    env.ok(&["dataset", "verify", &id]);
    env.ok(&["fsck"]);
    proxy.kill().unwrap();
    proxy.wait().unwrap();
}
