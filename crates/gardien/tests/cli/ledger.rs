//! The ledger and the one door: one event per operation, proofs outside tools check,
//! tampering detected, fail closed, concurrent writers.

use vault::Action;

use crate::common::*;

fn events(env: &Env) -> Vec<serde_json::Value> {
    // Listing is an operation too: read the catalog with its own client instead, so that
    // counting events does not add any; one query for all of them, in hex (entries hold
    // newlines).
    let all = env.sql("SELECT hex(entry) FROM ledger_entries ORDER BY idx");
    all.lines()
        .map(|line| {
            let bytes: Vec<u8> =
                (0..line.len()).step_by(2).map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap()).collect();
            let text = String::from_utf8(bytes).unwrap();
            let mut v = serde_json::Map::new();
            let mut resources = Vec::new();
            for line in text.lines().skip(1) {
                let (k, val) = line.split_once(' ').unwrap();
                if k == "resource" {
                    resources.push(serde_json::Value::from(val));
                } else {
                    v.insert(k.to_owned(), val.into());
                }
            }
            v.insert("resources".into(), resources.into());
            serde_json::Value::Object(v)
        })
        .collect()
}

/// The command that performs `action` in `env`, and the outcome its event must carry.
fn command(env: &Env, action: Action, id: &str, exp: &str, cp: &str) -> (Vec<String>, &'static str) {
    let p = |s: &str| env.path(s).to_str().unwrap().to_owned();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match action {
        Action::Init => (v(&["init"]), "allowed"),
        Action::StoreAdd => (v(&["store", "add", "nyc", "--site", "us-east-1", "--path", &p("nyc")]), "denied"),
        Action::StoreList => (v(&["store", "list"]), "allowed"),
        Action::ClientAdd => (v(&["client", "add", "lycee-hugo", "--name", "Lycée Hugo"]), "allowed"),
        Action::ClientList => (v(&["client", "list"]), "allowed"),
        Action::DatasetIngest => {
            (v(&["dataset", "ingest", "/no/such/file", "--client", "acme", "--class", "other"]), "failed")
        }
        Action::DatasetList => (v(&["dataset", "list"]), "allowed"),
        Action::DatasetShow => (v(&["dataset", "show", id]), "allowed"),
        Action::DatasetGet => (v(&["dataset", "get", id, "-o", &p("got")]), "allowed"),
        Action::DatasetVerify => (v(&["dataset", "verify", id]), "allowed"),
        Action::DatasetExport => {
            (v(&["dataset", "export", id, "--recipient", CLIENT_KEY, "-o", &p("x.age")]), "allowed")
        }
        Action::Fsck => (v(&["fsck"]), "allowed"),
        // No PostgreSQL there: decided, then failed (tests/cli/catalog.rs migrates).
        Action::CatalogMigrate => {
            (v(&["catalog", "migrate", "--to", "postgres://gardien@/none?host=/nonexistent"]), "failed")
        }
        Action::ContractAdd => {
            (v(&["contract", "add", "acme-2", "--client", "acme", "--presales-until", "2099-01-01"]), "allowed")
        }
        Action::ContractDeal => (v(&["contract", "deal", "acme-2", "--lost"]), "allowed"),
        Action::ContractSet => (v(&["contract", "set", "acme-2", "--custody-months", "13"]), "failed"),
        Action::ContractShow => (v(&["contract", "show", "acme-2"]), "allowed"),
        Action::ContractList => (v(&["contract", "list"]), "allowed"),
        Action::Sweep => (v(&["sweep", "--dry-run"]), "allowed"),
        // Performed by the sweeper: a sweep far enough ahead destroys the export (OPS-2),
        // and records the destruction, then the sweep itself.
        // (A real sweep runs on the real clock: the test moves it with faketime.)
        Action::DatasetDestroy => (v(&["@2099-01-01", "sweep"]), "allowed"),
        Action::DatasetHold => (v(&["dataset", "hold", id, "--reason", "litigation"]), "allowed"),
        Action::DatasetRelease => (v(&["dataset", "release", id]), "allowed"),
        Action::CopyOut => (v(&["copy", "out", id, "--env", "laptop-qa", "-o", &p("copy")]), "allowed"),
        Action::CopyList => (v(&["copy", "list"]), "allowed"),
        Action::CopyAttest => (v(&["copy", "attest", id, "cp-000000000000", "--by", "jdupont"]), "failed"),
        Action::CertificateList => (v(&["certificate", "list"]), "allowed"),
        Action::CertificateShow => (v(&["certificate", "export", exp, "-o", &p("cert")]), "allowed"),
        Action::CertificateVerify => (v(&["certificate", "verify", &p("cert")]), "allowed"),
        Action::PersonAdd => (v(&["person", "add", "jdupont", "--role", "technical-operator"]), "allowed"),
        Action::PersonList => (v(&["person", "list"]), "allowed"),
        Action::PersonDisable => (v(&["person", "disable", "jdupont"]), "allowed"),
        Action::LedgerKey => (v(&["ledger", "key"]), "allowed"),
        Action::LedgerCheckpoint => (v(&["ledger", "checkpoint"]), "allowed"),
        Action::LedgerEntry => (v(&["ledger", "entry", "0"]), "allowed"),
        Action::LedgerList => (v(&["ledger", "list"]), "allowed"),
        Action::LedgerProof => (v(&["ledger", "proof", "1"]), "allowed"),
        Action::LedgerConsistency => (v(&["ledger", "consistency", "--from", cp]), "allowed"),
        Action::LedgerVerify => (v(&["ledger", "verify"]), "allowed"),
        Action::EnvironmentAdd => (v(&["environment", "add", "lab-2", "--kind", "online"]), "allowed"),
        Action::EnvironmentList => (v(&["environment", "list"]), "allowed"),
        Action::ApprovalRequest => (
            v(&[
                "approval",
                "request",
                "disclosure",
                "--client",
                "acme",
                "--for",
                "auditor",
                "--dataset",
                id,
                "--scope",
                "the 2025 backup, for the auditor",
            ]),
            "allowed",
        ),
        Action::ApprovalList => (v(&["approval", "list"]), "allowed"),
        Action::ApprovalShow => (v(&["approval", "show", &approval(env)]), "allowed"),
        // Only a signer of the client decides (CONF-1): the operator is refused.
        Action::ApprovalDecide => (v(&["approval", "decide", &approval(env), "--approve"]), "denied"),
        Action::ApprovalRevoke => (v(&["approval", "revoke", &approval(env)]), "allowed"),
        Action::PolicyValidate => (v(&["policy", "validate"]), "allowed"),
        Action::PolicyShow => (v(&["policy", "show"]), "allowed"),
        Action::PolicyExplain => {
            (v(&["policy", "explain", "--action", "dataset:get", "--resource", &format!("dataset:{id}")]), "allowed")
        }
        Action::PublicMentions => (v(&["public-mentions"]), "allowed"),
        // A client's keys are its admin's to register (OPS-2): the operator is refused.
        Action::ClientKeyAdd => (v(&["client", "key", "add", "acme", OTHER_KEY]), "denied"),
        Action::ClientKeyRemove => (v(&["client", "key", "remove", "acme", CLIENT_KEY]), "denied"),
        Action::ClientKeyList => (v(&["client", "key", "list", "acme"]), "allowed"),
        // "<TEXT" feeds TEXT on stdin.
        Action::PersonPassword => (v(&["<a long enough passphrase", "person", "password", "admin-acme"]), "allowed"),
        Action::PersonTotp => (v(&["person", "reset-totp", "admin-acme"]), "allowed"),
        Action::TokenCreate => (v(&["token", "create", "--label", "ci"]), "allowed"),
        Action::TokenList => (v(&["token", "list", "--person", "admin-acme"]), "allowed"),
        Action::TokenRevoke => (v(&["token", "revoke", "tk-000000000000"]), "failed"),
        Action::NotifyConfig => (
            v(&[
                "notify",
                "config",
                "--smtp",
                "127.0.0.1:2525",
                "--from",
                "gardien@hebergeur.example",
                "--portal",
                "https://gardien.example",
            ]),
            "allowed",
        ),
        Action::NotifyList => (v(&["notify", "list"]), "allowed"),
        // The relay on 127.0.0.1:2525 does not answer: the flush records its attempts.
        Action::NotifyFlush => (v(&["notify", "flush"]), "allowed"),
        Action::WebhookAdd => (v(&["webhook", "add", "http://127.0.0.1:9/hook", "--events", "all"]), "allowed"),
        Action::WebhookList => (v(&["webhook", "list"]), "allowed"),
        Action::WebhookRemove => (v(&["webhook", "remove", "wh-000000000000"]), "failed"),
        Action::PersonContact => {
            (v(&["person", "contact", "admin-acme", "--email", "admin@acme.example", "--lang", "en"]), "allowed")
        }
        // Sign-in and who-am-I are the server's (`serve` tests run them through its routes).
        Action::SessionLogin | Action::SessionLogout | Action::SessionShow => (vec![], "server"),
        // No database answers at that socket: what needs one fails, recorded.
        Action::SiteAdd => {
            std::fs::create_dir_all(env.path("md/filedir")).unwrap();
            let db = "postgres://moodle@/moodle?host=/nonexistent";
            (
                v(&[
                    "site",
                    "add",
                    "www",
                    "--client",
                    "acme",
                    "--contract",
                    "acme-2",
                    "--db",
                    db,
                    "--moodledata",
                    &p("md"),
                ]),
                "allowed",
            )
        }
        Action::SiteList => (v(&["site", "list"]), "allowed"),
        Action::ServerAdd => (
            v(&[
                "server",
                "add",
                "web1",
                "--site",
                "fr-roubaix",
                "--kind",
                "dedicated",
                "--client",
                "acme",
                "--address",
                "192.0.2.10",
            ]),
            "allowed",
        ),
        Action::ServerList => (v(&["server", "list"]), "allowed"),
        Action::ServerShow => (v(&["server", "show", "web1"]), "allowed"),
        Action::ServerAppAdd => {
            (v(&["server", "app", "add", "web1", "--kind", "other", "--domain", "wiki.acme.example"]), "allowed")
        }
        Action::ServerPorts => (v(&["server", "ports", "web1", "--allow", "22,443"]), "allowed"),
        Action::ServerCheck => (v(&["server", "check", "nope"]), "failed"),
        // Nothing kept, nothing due: the renewal asks no CA.
        Action::ServerFail2ban => (
            v(&[
                "<gardien-fail2ban-report/v1\nrunning yes\njail sshd 22\n",
                "server",
                "fail2ban",
                "web1",
                "--report",
                "-",
            ]),
            "allowed",
        ),
        Action::ServerAppCert => (v(&["server", "app", "renew", "--http-listen", "127.0.0.1:1"]), "allowed"),
        // No such approval, no such grant (the key file is any file: the approval is unknown).
        Action::ServerAccess => (v(&["access", "grant", "ap-000000000000", "--key", cp]), "failed"),
        Action::AccessRevoke => (v(&["access", "revoke", "gr-0000000000000000"]), "failed"),
        Action::AccessList => (v(&["access", "list"]), "allowed"),
        Action::ManeuverAdd => (
            v(&[
                "maneuver",
                "add",
                "noop",
                "--program",
                "/bin/true",
                "--max-ttl",
                "1h",
                "--description",
                "does nothing at all",
            ]),
            "allowed",
        ),
        Action::ManeuverList => (v(&["maneuver", "list"]), "allowed"),
        Action::BastionSet => (
            v(&["bastion", "set", "--site", "fr-roubaix", "--address", "192.0.2.1", "--egress", "192.0.2.1"]),
            "allowed",
        ),
        Action::SshdConfig => {
            (v(&["bastion", "sshd-config", "--dir", &p("sshd"), "--command-user", "root"]), "allowed")
        }
        Action::SiteShow => (v(&["site", "show", "www"]), "allowed"),
        Action::SiteCheck => (v(&["site", "check", "www"]), "failed"),
        Action::SiteRestitution => (v(&["restitution", "create", "www", "--recipient", CLIENT_KEY]), "failed"),
        Action::SiteBackup => (v(&["site", "backup", "www"]), "failed"),
        // Not a backup: refused before anything is read.
        Action::SiteRestore => {
            let db = "postgres://moodle@/restored?host=/nonexistent";
            (v(&["site", "restore", id, "--db", db, "--moodledata", &p("md2")]), "failed")
        }
        // A drop is addressed to a technical operator (PRE-3): to ops, it fails.
        Action::DropCreate => {
            (v(&["drop", "create", "--client", "acme", "--to", "operator", "--contract", "acme-2"]), "failed")
        }
        Action::DropList => (v(&["drop", "list"]), "allowed"),
        Action::DropShow => (v(&["drop", "show", "dr-0000000000000000"]), "failed"),
        Action::DropRevoke => (v(&["drop", "revoke", "dr-0000000000000000"]), "failed"),
        // The sender's steps and expiry are the server's (`drop` tests run them).
        Action::DropOpen | Action::DropUpload | Action::DropReceive | Action::DropTerminate | Action::DropExpire => {
            (vec![], "server")
        }
    }
}

/// The client's key, registered by its admin before the loop; another one.
const CLIENT_KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const OTHER_KEY: &str = "age1yt4n6dleuctk4nrudk0ml3tka6hrta8tkc9h3tu3p4shtweydcns8s8t87";

fn approval(env: &Env) -> String {
    env.sql("SELECT id FROM approvals ORDER BY created LIMIT 1")
}

#[test]
fn every_operation_kind_appends_exactly_one_event() {
    let env = Env::new();
    let id = env.ingest(b"some data", &[]);
    let exp = env.ingest(b"an export, due 30 days after creation", &["--class", "export"]);
    let cp = env.path("old.checkpoint");
    std::fs::write(&cp, env.ok(&["ledger", "checkpoint"])).unwrap();
    env.ok(&["environment", "add", "laptop-qa", "--kind", "local-test"]);
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    env.ok(&["person", "add", "auditor", "--role", "third-party", "--client", "acme"]);
    env.ok(&["--as", "admin-acme", "client", "key", "add", "acme", CLIENT_KEY]);
    for action in Action::ALL {
        let (args, outcome) = command(&env, action, &id, &exp, cp.to_str().unwrap());
        let before = events(&env);
        if outcome == "server" {
            continue;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = match args.split_first() {
            Some((at, rest)) if at.starts_with('@') => env.cmd_at(&at[1..], rest).output().unwrap(),
            Some((input, rest)) if input.starts_with('<') => {
                use std::io::Write as _;
                let mut child = env
                    .cmd(rest)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(&input.as_bytes()[1..]).unwrap();
                child.wait_with_output().unwrap()
            }
            _ => env.run(&args),
        };
        assert_eq!(out.status.success(), outcome == "allowed", "{action}: {}", String::from_utf8_lossy(&out.stderr));
        let after = events(&env);
        if action == Action::DatasetDestroy {
            assert_eq!(after.len(), before.len() + 2, "one destruction, then the sweep");
            let e = &after[before.len()];
            assert_eq!(
                (e["action"].as_str(), e["decision"].as_str()),
                (Some("dataset:destroy"), Some("allow OPS-2")),
                "{e}"
            );
            assert_eq!(after[before.len() + 1]["action"], "vault:sweep");
            continue;
        }
        assert_eq!(after.len(), before.len() + 1, "{action} must append exactly one event");
        let e = &after[before.len()];
        assert_eq!(e["action"], action.as_str(), "{e}");
        assert_eq!(e["actor"], vault::OPERATOR);
        assert_eq!(e["outcome"], outcome, "{action}: {e}");
        // The deciding policies' clauses: the ops team's (OPS-1), and for what anyone may
        // do, PROOF-1 as well; refusals name their clause.
        let decision = e["decision"].as_str().unwrap();
        match (outcome, action) {
            ("denied", Action::StoreAdd) => assert_eq!(decision, "deny LOC-1"),
            ("denied", Action::ApprovalDecide) => {
                assert!(decision.starts_with("deny ") && decision.contains("CONF-1"), "{e}")
            }
            ("denied", Action::ClientKeyAdd | Action::ClientKeyRemove) => {
                assert!(decision.starts_with("deny ") && decision.contains("OPS-2"), "{e}")
            }
            _ => assert!(decision.starts_with("allow ") && decision.contains("OPS-1"), "{action}: {e}"),
        }
        if action.as_str().starts_with("dataset:") && outcome == "allowed" && action != Action::DatasetList {
            let r = e["resources"].as_array().unwrap();
            assert!(r.contains(&format!("dataset:{id}").into()) && r.contains(&"client:acme".into()), "{action}: {e}");
        }
    }
    // Nothing personal in the log: labels and names stay in the catalog.
    let all = env.sql("SELECT group_concat(CAST(entry AS TEXT), '') FROM ledger_entries");
    assert!(!all.contains("ACME Formation") && !all.contains("Lycée"), "client names leaked into the log");
    env.ok(&["ledger", "verify"]);
}

#[test]
fn proofs_verify_offline_and_bad_ones_are_refused_clearly() {
    let env = Env::new();
    let id = env.ingest(b"x", &[]);
    env.ok(&["dataset", "verify", &id]);
    let key = env.ok(&["ledger", "key"]).trim().to_owned();
    assert!(key.starts_with("hebergeur.example/gardien+"), "{key}");
    let entry = env.path("e2");
    env.ok(&["ledger", "entry", "2", "-o", entry.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&entry).unwrap().contains("action dataset:ingest"));
    let proof = env.path("p2");
    std::fs::write(&proof, env.ok(&["ledger", "proof", "2"])).unwrap();
    let text = std::fs::read_to_string(&proof).unwrap();
    assert!(
        text.starts_with("c2sp.org/tlog-proof@v1\nindex 2\n") && text.contains("\n\nhebergeur.example/gardien\n"),
        "{text}"
    );
    let verify = |key: &str, proof: &std::path::Path, entry: &std::path::Path| {
        // Offline: no data dir at all.
        std::process::Command::new(BIN)
            .args(["--data-dir", "/nonexistent", "ledger", "verify-proof", "--key", key, "--proof"])
            .arg(proof)
            .arg("--entry")
            .arg(entry)
            .output()
            .unwrap()
    };
    let ok = verify(&key, &proof, &entry);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: entry 2 is in the log hebergeur.example/gardien"));

    let other_entry = env.path("e1");
    env.ok(&["ledger", "entry", "1", "-o", other_entry.to_str().unwrap()]);
    let bad = verify(&key, &proof, &other_entry);
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("this entry is not at index 2"));

    let other = Env::new();
    let wrong_key = other.ok(&["ledger", "key"]).trim().to_owned();
    let bad = verify(&wrong_key, &proof, &entry);
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("carries no signature by hebergeur.example/gardien"));

    let garbage = env.path("garbage");
    std::fs::write(&garbage, "not a proof").unwrap();
    let bad = verify(&key, &garbage, &entry);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad proof"), "{}", String::from_utf8_lossy(&bad.stderr));
    let bad = verify("not-a-key", &proof, &entry);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a verifier key"));

    let err = env.fails(&["ledger", "proof", "999"], 1);
    assert!(err.contains("no ledger entry 999"), "{err}");
    let err = env.fails(&["ledger", "entry", "999"], 1);
    assert!(err.contains("no ledger entry 999"), "{err}");
    let err = env.fails(&["ledger", "consistency", "--from", garbage.to_str().unwrap()], 1);
    assert!(err.contains("bad signed note"), "{err}");
}

#[test]
fn consistency_proofs_serve_a_client_that_kept_a_checkpoint() {
    let env = Env::new();
    let old = env.path("old");
    std::fs::write(&old, env.ok(&["ledger", "checkpoint"])).unwrap();
    env.ingest(b"more", &[]);
    env.ok(&["client", "list"]);
    let body = env.ok(&["ledger", "consistency", "--from", old.to_str().unwrap()]);
    let old_size = std::fs::read_to_string(&old).unwrap().lines().nth(1).unwrap().to_owned();
    assert!(body.starts_with(&format!("old {old_size}\n")), "{body}");
    // The proof is checked by our library as a witness would, against the kept checkpoint.
    let key = ledger::note::Verifier::parse(env.ok(&["ledger", "key"]).trim()).unwrap();
    let kept = ledger::proof::Checkpoint::open(&std::fs::read_to_string(&old).unwrap(), &key).unwrap();
    let proof = ledger::proof::ConsistencyProof::parse(&body).unwrap();
    let new = proof.verify(&kept, &key).unwrap();
    assert!(new.size > kept.size);
}

#[test]
fn edits_deletions_and_truncations_are_detected() {
    if PgTest::selected().is_some() {
        // The forgery below is written with Python's sqlite3, on the SQLite file.
        return;
    }
    let env = Env::new();
    for i in 0..5 {
        env.ingest(format!("data {i}").as_bytes(), &[]);
    }
    let old = env.path("old");
    std::fs::write(&old, env.ok(&["ledger", "checkpoint"])).unwrap();
    env.ok(&["ledger", "verify"]);

    // One byte of entry 3.
    env.sql("UPDATE ledger_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'allowed', 'allowee') AS BLOB) WHERE idx = 3");
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("entry 3 does not match its leaf hash"), "{report}");
    assert!(report.contains("do not hash to the root of the checkpoint"), "{report}");

    // A forger with the whole database: edit entry 3 and rebuild every stored hash so the
    // tree is self-consistent again. Only the signed checkpoints still tell.
    let forge = r#"
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE ledger_entries SET entry = CAST(replace(CAST(entry AS TEXT), 'allowed', 'allowee') AS BLOB) WHERE idx = 3")
db.execute("DELETE FROM ledger_nodes")
level = [hashlib.sha256(b"\x00" + e).digest() for (e,) in db.execute("SELECT entry FROM ledger_entries ORDER BY idx")]
l = 0
while level:
    for i, h in enumerate(level):
        db.execute("INSERT INTO ledger_nodes VALUES (?, ?, ?)", (l, i, h))
    level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    l += 1
db.commit()
"#;
    let st =
        std::process::Command::new("python3").arg("-c").arg(forge).arg(env.data.join("catalog.db")).status().unwrap();
    assert!(st.success());
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("do not hash to the root of the checkpoint"));
    let err = env.fails(&["ledger", "consistency", "--from", old.to_str().unwrap()], 3);
    assert!(err.contains("was rewritten"), "{err}");
    let err = env.fails(&["ledger", "checkpoint"], 3);
    assert!(err.contains("refusing to sign"), "{err}");

    let env2 = Env::new();
    for i in 0..3 {
        env2.ingest(format!("d{i}").as_bytes(), &[]);
    }
    let old2 = env2.path("old");
    std::fs::write(&old2, env2.ok(&["ledger", "checkpoint"])).unwrap();

    // Two entries swapped.
    env2.sql("UPDATE ledger_entries SET idx = -1 WHERE idx = 1; UPDATE ledger_entries SET idx = 1 WHERE idx = 2; UPDATE ledger_entries SET idx = 2 WHERE idx = -1;");
    let out = env2.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("entry 1 does not match") && report.contains("entry 2 does not match"), "{report}");
    env2.sql("UPDATE ledger_entries SET idx = -1 WHERE idx = 1; UPDATE ledger_entries SET idx = 1 WHERE idx = 2; UPDATE ledger_entries SET idx = 2 WHERE idx = -1;");

    // A deleted entry.
    env2.sql("DELETE FROM ledger_entries WHERE idx = 2");
    let out = env2.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("entry 2 is missing"));

    // A truncated log.
    env2.sql("DELETE FROM ledger_entries WHERE idx >= 2");
    let out = env2.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("a checkpoint was signed for 5 entries but the log holds 2: it was truncated"), "{report}");
    // And nothing more is appended to a truncated log: every operation stops (fail closed).
    let err = env2.fails(&["client", "list"], 1);
    assert!(err.contains("the log was truncated"), "{err}");
}

#[test]
fn an_unwritable_ledger_stops_every_operation_and_leaves_no_effect() {
    let env = Env::new();
    let id = env.ingest(b"secret", &[]);
    env.sql("CREATE TRIGGER full BEFORE INSERT ON ledger_entries BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    let before = env.snapshot();
    let err = env.fails(&["client", "add", "other", "--name", "Other"], 1);
    assert!(err.contains("fail closed") && err.contains("disk full"), "{err}");
    let out = env.path("out");
    env.fails(&["dataset", "get", &id, "-o", out.to_str().unwrap()], 1);
    assert!(!out.exists(), "no plaintext without its event");
    let got = env.run(&["dataset", "get", &id]);
    assert!(!got.status.success() && got.stdout.is_empty(), "no byte out without its event");
    env.fails(&["dataset", "ingest", "/etc/hostname", "--client", "acme", "--class", "other"], 1);
    assert_eq!(env.snapshot(), before);
    assert_eq!(walk(&env.data.join("stores")).len(), 1, "the failed ingest's blob was removed");
}

#[test]
fn concurrent_writers_never_fork_or_leave_a_gap() {
    let env = Env::new();
    let children: Vec<_> = (0..4)
        .map(|w| {
            let script = format!(
                "for i in $(seq 15); do {BIN} client add w{w}-$i --name W >/dev/null 2>&1 || exit 1; {BIN} dataset list >/dev/null || exit 1; done"
            );
            let mut c = std::process::Command::new("sh");
            c.arg("-c").arg(script).env("GARDIEN_DATA_DIR", &env.data);
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let n: u64 = env.sql("SELECT count(*) FROM ledger_entries").parse().unwrap();
    assert_eq!(n, 2 + 4 * 15 * 2, "init, client add, then 120 operations");
    assert_eq!(env.sql("SELECT max(idx) + 1 FROM ledger_entries"), n.to_string());
    let verify = env.ok(&["ledger", "verify"]);
    assert!(verify.contains(&format!("ok: {n} entries")), "{verify}");
}
