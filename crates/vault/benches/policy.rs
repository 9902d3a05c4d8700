//! `bench/policy`: access decisions per second on one core, end to end as the door makes
//! them (the actor's row, the resource's facts and contract phase, the approvals in force,
//! the environment of a copy, all from the catalog; then Cedar), with 10,000 datasets,
//! 1,000 people and 500 approvals in the catalog. Recording the decision in the ledger is
//! not counted here (`bench/ledger` measures appends).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use vault::{Action, InitOptions, Vault};

fn main() {
    let n: usize = std::env::var("POLICY_DECISIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into());
    let now = chrono::Utc::now();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let data = dir.path().join("data");
    Vault::init(
        &data,
        &InitOptions {
            operator: "bench.example".into(),
            master_key: None,
            // A PostgreSQL catalog's URL (bench/scale's PostgreSQL part); SQLite otherwise.
            catalog: std::env::var("BENCH_CATALOG").ok().filter(|u| !u.is_empty()),
        },
        now,
    )
    .unwrap();
    let v = Vault::open(&data, None).unwrap();
    v.add_client("bench", "Bench", now).unwrap();
    let (datasets, people, approvals) = (10_000, 1_000, 500);
    vault::bench::fill(&v, "bench", 1_000, datasets).unwrap();
    let handles = vault::bench::fill_access(&v, "bench", 10, people, approvals, datasets, now).unwrap();
    println!("catalog: {datasets} datasets, {people} people over 10 clients, {approvals} approvals");

    // A mix of requests: reads, metadata, copies to the actor's own environment, listings.
    let requests: Vec<(String, Action, Vec<String>)> = (0..4096)
        .map(|i| {
            let who = handles[(i * 7919) % handles.len()].clone();
            let ds = format!("dataset:ds-b{:015}", (i * 104_729) % datasets);
            match i % 4 {
                0 => (who, Action::DatasetGet, vec![ds]),
                1 => (who, Action::DatasetShow, vec![ds]),
                2 => {
                    let env = format!("environment:env-{}", handles[1 + 7 * ((i / 4) % (people / 7))]);
                    (who, Action::CopyOut, vec![ds, env])
                }
                _ => (who, Action::DatasetList, vec!["client:bench".to_owned()]),
            }
        })
        .collect();
    // Warm up: the policy is loaded and the statements are cached, as in a server.
    for (who, action, res) in &requests {
        vault::bench::decide(&v, who, *action, res, now).unwrap();
    }
    // Where the time goes: loading from the catalog alone, then Cedar alone.
    let t = Instant::now();
    // (A client's person naming an environment of the operator's staff is answered as an
    // unknown one at loading: no decision to time for those.)
    let loaded: Vec<_> = (0..n)
        .filter_map(|i| {
            let (who, action, res) = &requests[i % requests.len()];
            vault::bench::load(&v, who, *action, res, now).ok().map(|l| (l, action.as_str()))
        })
        .collect();
    let s = t.elapsed().as_secs_f64();
    println!("loading alone (actor, resource, phase, approvals, environment): {:.1} us each", s * 1e6 / n as f64);
    let engine = vault::bench::engine(&v).unwrap();
    let t = Instant::now();
    for ((actor, resource, ctx), action) in &loaded {
        engine.decide(actor, action, resource, ctx).unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "Cedar alone (entities built, request, authorizer): {:.1} us each, over {} decisions",
        s * 1e6 / loaded.len().max(1) as f64,
        loaded.len()
    );
    drop(loaded);
    for round in 0..3 {
        let t = Instant::now();
        let mut allowed = 0usize;
        for i in 0..n {
            let (who, action, res) = &requests[i % requests.len()];
            allowed += usize::from(vault::bench::decide(&v, who, *action, res, now).unwrap());
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {n} decisions in {s:.2} s: {:.0} decisions/s, {:.1} us each ({allowed} allowed, {} refused)",
            n as f64 / s,
            s * 1e6 / n as f64,
            n - allowed
        );
    }
}
