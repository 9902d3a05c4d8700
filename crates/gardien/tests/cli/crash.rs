//! Crashes: an ingest killed half-way leaves nothing visible, the next command cleans it,
//! and no other dataset is lost. A live ingest in another process is left alone.

use std::io::Write as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Starts an ingest from a pipe and feeds it `mib` MiB; returns the child, stdin open.
fn start_ingest(env: &Env, mib: usize) -> (Child, std::process::ChildStdin) {
    let mut child = env
        .cmd(&["dataset", "ingest", "-", "--client", "acme", "--class", "other"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let block = pseudo_random(1 << 20, 5);
    for _ in 0..mib {
        stdin.write_all(&block).unwrap();
    }
    (child, stdin)
}

/// Waits until the store holds a staging file (the upload has begun writing).
fn wait_for_staging(env: &Env) {
    let dir = env.data.join("stores/local/datasets");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let staged = std::fs::read_dir(&dir)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains('#')))
            .unwrap_or(false);
        if staged {
            return;
        }
        assert!(Instant::now() < deadline, "the ingest never started writing");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_mid_ingest_leaves_no_visible_dataset_and_loses_nothing_else() {
    let env = Env::new();
    let kept = pseudo_random(100_000, 1);
    let kept_id = env.ingest(&kept, &[]);

    let (mut child, stdin) = start_ingest(&env, 16);
    wait_for_staging(&env);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(
        env.sql("SELECT count(*) FROM datasets WHERE state = 'pending'"),
        "1",
        "the killed ingest left its pending row"
    );

    let out = env.run(&["dataset", "list", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "only the kept dataset is visible");
    assert_eq!(list[0]["id"], kept_id.as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cleaned up interrupted ingest ds-"));

    assert_eq!(env.sql("SELECT count(*) FROM datasets"), "1");
    let leftovers: Vec<_> =
        walk(&env.data.join("stores")).into_iter().filter(|p| !p.ends_with(format!("{kept_id}.age"))).collect();
    assert!(leftovers.is_empty(), "leftovers: {leftovers:?}");
    assert!(walk(&env.data.join("run")).is_empty(), "lock files left");
    assert_eq!(env.get(&kept_id), kept);
    env.ok(&["fsck"]);
}

#[test]
fn a_live_ingest_in_another_process_is_not_cleaned() {
    let env = Env::new();
    let (child, mut stdin) = start_ingest(&env, 4);
    wait_for_staging(&env);
    // Another command runs while the ingest waits for more input.
    let out = env.run(&["dataset", "list", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cleaned"), "a live ingest was cleaned");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]", "not visible before it is complete");
    let fsck = env.ok(&["fsck"]);
    assert!(fsck.contains("in progress: ingest ds-"), "{fsck}");
    stdin.write_all(b"the end").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(env.show(&id)["size"], (4 << 20) + 7);
    env.ok(&["dataset", "verify", &id]);
}
