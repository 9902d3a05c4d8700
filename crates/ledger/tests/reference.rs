//! Our tree, proofs and verifiers against an independent RFC 6962 implementation in
//! Python (`rfc6962_reference.py`), written from the RFC's definitions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use ledger::merkle::{self, Hash, Hashes};

struct Mem(HashMap<(u32, u64), Hash>);

impl Hashes for Mem {
    type Error = ();
    fn subtree(&self, level: u32, index: u64) -> Result<Hash, ()> {
        self.0.get(&(level, index)).copied().ok_or(())
    }
}

fn b64(h: &Hash) -> String {
    BASE64_STANDARD.encode(h)
}

#[test]
fn roots_and_proofs_match_the_python_reference() {
    const N: u64 = 33;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rfc6962_reference.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(N.to_string())
        .output()
        .expect("python3 (scripts/test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let mut nodes = HashMap::new();
    let mut edge = Vec::new();
    for i in 0..N {
        for (l, j, h) in merkle::append(&mut edge, i, merkle::leaf_hash(format!("leaf-{i}").as_bytes())) {
            nodes.insert((l, j), h);
        }
    }
    let mem = Mem(nodes);
    let roots: Vec<Hash> = (0..=N).map(|n| merkle::root(&mem, n).unwrap()).collect();
    for n in 0..=N {
        assert_eq!(want["roots"][n as usize], b64(&roots[n as usize]), "root of size {n}");
    }
    for n in 1..=N {
        for m in 0..n {
            let p = merkle::inclusion_proof(&mem, m, n).unwrap();
            let ours: Vec<String> = p.iter().map(b64).collect();
            assert_eq!(want["inclusion"][format!("{m}/{n}")], serde_json::json!(ours), "inclusion {m}/{n}");
            let leaf = merkle::leaf_hash(format!("leaf-{m}").as_bytes());
            assert!(merkle::verify_inclusion(m, n, &leaf, &p, &roots[n as usize]));
        }
        for m in 0..=n {
            let p = merkle::consistency_proof(&mem, m, n).unwrap();
            let ours: Vec<String> = p.iter().map(b64).collect();
            assert_eq!(want["consistency"][format!("{m}/{n}")], serde_json::json!(ours), "consistency {m}/{n}");
            assert!(merkle::verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &p));
        }
    }
}
