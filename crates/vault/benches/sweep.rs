//! `bench/sweep`: the dry-run due list over 1,000,000 datasets and 10,000 contracts, and
//! the destruction of 10,000 small datasets with their certificates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use vault::{DatasetClass, IngestRequest, InitOptions, Source, Vault};

fn main() {
    let datasets: usize = std::env::var("SWEEP_DATASETS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let small: usize = std::env::var("SWEEP_DESTROY").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into());
    let now = chrono::Utc::now();

    // 1. The due list over a large catalog.
    let dir = tempfile::tempdir_in(&base).unwrap();
    let data = dir.path().join("data");
    Vault::init(&data, &InitOptions { operator: "bench.example".into(), master_key: None, catalog: None }, now)
        .unwrap();
    let v = Vault::open(&data, None).unwrap();
    v.add_client("bench", "Bench", now).unwrap();
    let t = Instant::now();
    vault::bench::fill(&v, "bench", 10_000, datasets).unwrap();
    println!("catalog of {datasets} datasets over 10000 contracts built in {:.1} s", t.elapsed().as_secs_f64());
    // Dates start on 2027-01-01: a daily sweep sees the first days' due; a sweep left
    // undone for months sees far more.
    for at in ["2027-01-08T00:00:00Z", "2027-04-01T00:00:00Z", "2028-01-01T00:00:00Z"] {
        let at = lifecycle::parse_instant(at).unwrap();
        let t = Instant::now();
        let r = v.sweep_dry_run(at, now).unwrap();
        println!("dry run at {}: {} due, {:.2} s", at.format("%Y-%m-%d"), r.due.len(), t.elapsed().as_secs_f64());
    }
    drop(v);
    drop(dir);

    // 2. Destroying small datasets, with their certificates.
    let dir = tempfile::tempdir_in(&base).unwrap();
    let data = dir.path().join("data");
    Vault::init(&data, &InitOptions { operator: "bench.example".into(), master_key: None, catalog: None }, now)
        .unwrap();
    let v = Vault::open(&data, None).unwrap();
    v.add_client("bench", "Bench", now).unwrap();
    v.add_contract("lost", "bench", Some("2099-01-01"), now).unwrap();
    v.add_person("tech", "technical-operator", None, None, now).unwrap();
    let t = Instant::now();
    for i in 0..small {
        let req = IngestRequest {
            client: "bench",
            class: DatasetClass::PresalesSample,
            label: None,
            stores: &[],
            contract: Some("lost"),
            to: Some("tech"),
            provider: None,
        };
        let mut input = format!("sample {i}").into_bytes();
        let mut r: &[u8] = &input;
        v.ingest(Source::Reader(&mut r), &req, &|_| {}, now).unwrap();
        input.clear();
    }
    println!("{small} small datasets ingested in {:.1} s", t.elapsed().as_secs_f64());
    v.decide("lost", false, None, now).unwrap();
    let t = Instant::now();
    let r = v.sweep(now).unwrap();
    let e = t.elapsed().as_secs_f64();
    assert_eq!(r.destroyed.len(), small);
    assert_eq!(r.certificates.len(), small);
    println!("destroyed {small} datasets with their certificates in {e:.1} s: {:.0} datasets/s", small as f64 / e);
}
