//! `bench/ledger`: durable appends per second (group commit, one process and 8 writers),
//! the full verification of 1,000,000 entries, and proof latency at that size.
//! Run through `bench/ledger`, which builds it in release mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vault::{InitOptions, Vault};

fn main() {
    let size: u64 = std::env::var("LEDGER_ENTRIES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let data = dir.path().join("data");
    let now = chrono::Utc::now();
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

    // fsync latency: one event per transaction, as the CLI's door does.
    let t = Instant::now();
    let singles = 200;
    vault::bench::append(&v, singles, 1, now).unwrap();
    let single = t.elapsed() / singles as u32;
    println!(
        "one event per transaction: {:>9.0} appends/s ({:.2} ms per durable commit)",
        1.0 / single.as_secs_f64(),
        ms(single)
    );

    // The measured batches scale down with a small LEDGER_ENTRIES (the test suite's smoke
    // run); at the default size they are 100,000 appends each and 8 x 25,000.
    let n = (size / 10).clamp(1_000, 100_000);
    for batch in [100, 1000] {
        let t = Instant::now();
        vault::bench::append(&v, n, batch, now).unwrap();
        let e = t.elapsed();
        println!("group commit, {batch:>4} per fsync: {:>9.0} appends/s", n as f64 / e.as_secs_f64());
    }

    let writers = 8;
    let per = (size / 40).clamp(500, 25_000);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let data = &data;
            s.spawn(move || {
                let w = Vault::open(data, None).unwrap();
                vault::bench::append(&w, per, 500, now).unwrap();
            });
        }
    });
    let e = t.elapsed();
    println!(
        "{writers} concurrent writers, 500 per fsync: {:>9.0} appends/s",
        (writers * per) as f64 / e.as_secs_f64()
    );

    // Fill up to `size` entries, then verify and prove at that size.
    let have = singles + 2 * n + writers * per;
    if size > have {
        vault::bench::append(&v, size - have, 5000, now).unwrap();
    }
    let t = Instant::now();
    let report = vault::bench::verify(&v).unwrap();
    let e = t.elapsed();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    println!("verify {} entries: {:.2} s", report.size, e.as_secs_f64());

    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let probes = 1000u64;
    for i in 0..probes {
        let idx = (i * 7919 * 131) % report.size;
        let t = Instant::now();
        let p = vault::bench::proof(&v, idx).unwrap();
        let e = t.elapsed();
        assert!(!p.is_empty());
        worst = worst.max(e);
        total += e;
    }
    println!(
        "inclusion proof at {} entries: {:.3} ms mean, {:.3} ms worst ({probes} proofs)",
        report.size,
        ms(total / probes as u32),
        ms(worst)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
