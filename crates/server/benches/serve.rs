//! `bench/serve`: the server under load. `wrk` (Debian) with 32 connections for
//! SERVE_SECONDS (default 20) against `GET /api/v1/datasets/{id}` with a client admin's
//! token, on a catalog of 10,000 datasets: every request authenticated, decided by Cedar
//! and durably recorded (group commit) before it is answered. In the same run, the rate of
//! `GET /healthz` (no authentication, no decision, no record: the HTTP ceiling here) and
//! the ratio; the server's peak RSS; then `ledger verify` over everything recorded.
//! The real `gardien serve` (target/release/gardien) on 127.0.0.1, plain HTTP (as behind
//! a proxy on the same host).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use vault::{InitOptions, Vault};

fn wrk(url: &str, token: Option<&str>, seconds: u64) -> (f64, String) {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "2", "-c", "32", "-d", &format!("{seconds}s"), "--latency"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("Non-2xx"), "some requests failed: {text}");
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a rate in wrk's output");
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%")).map(|v| v.trim().to_owned()).unwrap_or_default();
    (rate, p99)
}

fn vm_hwm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).map(|l| l["VmHWM:".len()..].trim().to_owned()))
        .unwrap_or_default()
}

fn main() {
    let seconds: u64 = std::env::var("SERVE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let datasets: usize = std::env::var("SERVE_DATASETS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let bin = std::env::var("GARDIEN_BIN").unwrap_or_else(|_| "target/release/gardien".into());
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into());
    let now = chrono::Utc::now();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let data = dir.path().join("data");
    Vault::init(&data, &InitOptions { operator: "bench.example".into(), master_key: None, catalog: None }, now)
        .unwrap();
    let mut v = Vault::open(&data, None).unwrap();
    v.add_client("bench", "Bench", now).unwrap();
    vault::bench::fill(&v, "bench", 100, datasets).unwrap();
    v.add_person("admin-bench", "client-admin", Some("bench"), None, now).unwrap();
    v.act_as("admin-bench");
    let token = v.create_token(Some("bench"), None, now).unwrap();
    let token = secrecy::ExposeSecret::expose_secret(&token.secret).to_owned();
    let id = v.datasets(Some("bench"), false, now).unwrap()[datasets / 2].id.clone();
    drop(v);
    println!("catalog: {datasets} datasets of one client; wrk -c 32 -d {seconds}s; plain HTTP on 127.0.0.1");

    let workers = std::env::var("SERVE_WORKERS").unwrap_or_else(|_| "8".into());
    let mut child = Command::new(&bin)
        .args(["--data-dir", data.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0", "--workers", &workers])
        .stderr(Stdio::piped())
        .spawn()
        .expect("gardien serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server stopped").unwrap();
        if let Some((_, a)) = line.split_once("listening on http://") {
            break a.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let before: u64 = ledger_size(&data);
    let (health, health_p99) = wrk(&format!("http://{addr}/healthz"), None, seconds);
    let (rate, p99) = wrk(&format!("http://{addr}/api/v1/datasets/{id}"), Some(&token), seconds);
    let rss = vm_hwm(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let recorded = ledger_size(&data) - before;
    println!("GET /healthz:                 {health:>9.0} requests/s  p99 {health_p99}");
    println!("GET /api/v1/datasets/{{id}}:    {rate:>9.0} requests/s  p99 {p99}  (decided and recorded)");
    println!("ratio:                        {:>9.1} %", 100.0 * rate / health);
    println!("server peak RSS:              {rss}");
    let v = Vault::open(&data, None).unwrap();
    let report = vault::bench::verify(&v).unwrap();
    assert!(report.problems.is_empty(), "the ledger does not verify: {:?}", report.problems);
    println!("ledger: {recorded} events recorded under load; verify: {} entries, no problem", report.size);
}

fn ledger_size(data: &std::path::Path) -> u64 {
    let out = Command::new("sqlite3")
        .arg(data.join("catalog.db"))
        .arg("SELECT count(*) FROM ledger_entries")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
