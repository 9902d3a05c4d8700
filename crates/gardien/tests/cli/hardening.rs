//! Regression tests for what an outside review of the release binary found (issue 9), one
//! test per finding, named after it. They run, like every CLI test, against the release
//! build (`scripts/test` passes `--release`), and move the clock with `faketime` only.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use crate::common::*;

/// People of two clients: admins, a signer, a third party of acme.
fn people(env: &Env) {
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    for (h, role, c) in [
        ("admin-acme", "client-admin", "acme"),
        ("signer-acme", "client-signer", "acme"),
        ("tiers", "third-party", "acme"),
        ("admin-beta", "client-admin", "beta"),
    ] {
        env.ok(&["person", "add", h, "--role", role, "--client", c]);
    }
}

/// The operator's permit-all file: `permit (principal, action, resource)`. Whatever it
/// opens, the shipped forbids hold.
fn open_bar(env: &Env) {
    std::fs::create_dir_all(env.data.join("policies")).unwrap();
    std::fs::write(
        env.data.join("policies/open-bar.cedar"),
        "@id(\"x\") @clause(\"OPS-1\") @reason(\"x\") permit (principal, action, resource);\n",
    )
    .unwrap();
}

/// "Not yours" (`theirs`, naming `real`) answers exactly as "unknown" (`none`, naming
/// `fake`): the same exit code, the same message but for the name.
fn same_answer(theirs: &std::process::Output, none: &std::process::Output, real: &str, fake: &str) {
    assert_eq!(theirs.status.code(), none.status.code(), "{real}");
    assert_eq!(String::from_utf8_lossy(&theirs.stderr).replace(real, fake), String::from_utf8_lossy(&none.stderr));
}

/// A disclosure of `dataset` to `tiers`, requested by ops and approved by acme's signer.
fn approved_disclosure(env: &Env, dataset: &str, scope: &str) -> String {
    let ap = request_approval(env, "disclosure", "tiers", dataset, scope);
    env.ok(&["--as", "signer-acme", "approval", "decide", &ap, "--approve"]);
    ap
}

fn events_with(env: &Env, needle: &str) -> usize {
    env.sql(&format!("SELECT count(*) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%{needle}%'"))
        .parse()
        .unwrap()
}

/// Review 2: a real sweep at a future `--at` destroyed what was due only then.
#[test]
fn review_2_a_real_sweep_runs_on_the_real_clock_only() {
    let env = Env::new();
    let id = env.ingest(b"an export", &["--class", "export"]);
    let before = env.snapshot();
    let err = env.fails(&["sweep", "--at", "2030-01-01"], 2);
    assert!(err.contains("--dry-run"), "{err}");
    assert_eq!(env.snapshot(), before, "nothing destroyed, nothing recorded");
    // The dry run may look ahead; the real sweep only at the date itself (faketime).
    assert!(env.ok(&["sweep", "--dry-run", "--at", "2030-01-01"]).contains(&id));
    env.ok(&["sweep"]);
    assert_eq!(env.show(&id)["state"], "active");
    env.ok_at("2030-01-01 12:00:00", &["sweep"]);
    assert_eq!(env.sql(&format!("SELECT state FROM datasets WHERE id = '{id}'")), "destroyed");
}

/// Review 3: a contract added without a deal (the README's hosting contract for backups)
/// stayed "pre-sales" for the policy after its end, while the sweeper treated it as ended:
/// ops read the data inside the client's admin window (OPS-4), and after it (ARC-1).
#[test]
fn review_3_a_contract_without_a_deal_ends_for_the_policy_as_for_the_sweeper() {
    let env = Env::new();
    people(&env);
    env.with_tech();
    env.ok(&["environment", "add", "ops-box", "--kind", "online"]);
    env.ok(&["contract", "add", "hugo", "--client", "acme"]);
    let id = env.ingest(b"moodle backup", &["--class", "backup", "--contract", "hugo"]);
    env.ok(&["contract", "set", "hugo", "--ends", "2098-06-30", "--admin-window-until", "2098-07-31"]);
    env.ok(&["dataset", "get", &id]);
    let window = "2098-07-15 12:00:00";
    for args in
        [vec!["dataset", "get", id.as_str()], vec!["copy", "out", id.as_str(), "--env", "ops-box", "-o", "/dev/null"]]
    {
        let err = env.fails_at(window, &args, 4);
        assert!(err.contains("refused (OPS-4)"), "{args:?}: {err}");
    }
    assert_eq!(env.ok_at(window, &["--as", "admin-acme", "dataset", "get", &id]), "moodle backup");
    let after = "2098-08-01 00:00:01";
    for who in ["operator", "admin-acme"] {
        let err = env.fails_at(after, &["--as", who, "dataset", "get", &id], 4);
        assert!(err.contains("refused (ARC-1)"), "{who}: {err}");
    }
    // The same reading of the contract for the sweeper: due at its end plus 6 months.
    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["sweep", "--dry-run", "--json", "--at", "2098-12-31T23:59:59Z"])).unwrap();
    assert_eq!(dry["due"], serde_json::json!([]));
    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["sweep", "--dry-run", "--json", "--at", "2099-01-01"])).unwrap();
    assert_eq!(dry["due"][0]["dataset"], id.as_str());
    assert_eq!(dry["due"][0]["clause"], "ARC-1");
}

/// Review 3: deals are dated within their case: not before it was opened, not in the
/// future, not after the pre-sales period ended (a late "concluded" would have suspended
/// PRE-6 for the gap); dates stay within 2000-2999.
#[test]
fn review_3_deals_and_dates_are_checked() {
    let env = Env::new();
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2098-06-30"]);
    let before = env.snapshot();
    for (args, needle) in [
        (vec!["contract", "deal", "trial", "--concluded", "--on", "2020-01-01"], "before case trial was opened"),
        (vec!["contract", "deal", "trial", "--concluded", "--on", "2097-01-01"], "in the future"),
        (vec!["contract", "add", "far", "--client", "acme", "--presales-until", "3000-01-01"], "out of range"),
        (vec!["contract", "set", "trial", "--ends", "1999-12-31"], "out of range"),
    ] {
        let err = env.fails(&args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let err = env.fails_at("2098-07-02 00:00:00", &["contract", "deal", "trial", "--concluded"], 1);
    assert!(err.contains("ended on 2098-06-30 without a deal") && err.contains("PRE-6"), "{err}");
    assert_eq!(env.snapshot().1, before.1, "nothing changed in the data dir's files");
    assert_eq!(env.sql("SELECT deal FROM contracts WHERE name = 'trial'"), "undecided");
}

/// Review 4: `dataset export` took any key: ops exported a backup to its own key inside the
/// admin window and read it, and the certificate called that file "the client's own".
#[test]
fn review_4_exports_go_only_to_keys_the_clients_admin_registered() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"backup", &[]);
    let key = env.path("client.key");
    let out = env.path("x.age");
    let o = out.to_str().unwrap();
    let mine = age_keygen(&env.path("ops.key"));
    // Only the client's admin registers the client's keys (not ops, not another client).
    for who in ["operator", "signer-acme", "admin-beta"] {
        env.fails(&["--as", who, "client", "key", "add", "acme", &mine], if who == "admin-beta" { 1 } else { 4 });
    }
    let err = env.fails(&["dataset", "export", &id, "--recipient", &mine, "-o", o], 4);
    assert!(err.contains("refused (OPS-2)") && err.contains("registered"), "{err}");
    assert!(!out.exists());
    let theirs = env.registered_key("admin-acme", "acme", &key);
    env.ok(&["dataset", "export", &id, "--recipient", &theirs, "-o", o]);
    assert_eq!(tool("age").args(["-d", "-i"]).arg(&key).arg(&out).output().unwrap().stdout, b"backup");
    // A key the client removed takes no new export.
    env.ok(&["--as", "admin-acme", "client", "key", "remove", "acme", &theirs]);
    let err =
        env.fails(&["dataset", "export", &id, "--recipient", &theirs, "-o", env.path("y.age").to_str().unwrap()], 4);
    assert!(err.contains("refused (OPS-2)"), "{err}");
    let keys: serde_json::Value =
        serde_json::from_str(&env.ok(&["--as", "admin-acme", "client", "key", "list", "acme", "--json"])).unwrap();
    assert_eq!(keys[0]["removed_by"], "admin-acme", "{keys}");
    // Another client's key is not this client's.
    let beta = env.registered_key("admin-beta", "beta", &env.path("beta.key"));
    let err =
        env.fails(&["dataset", "export", &id, "--recipient", &beta, "-o", env.path("z.age").to_str().unwrap()], 4);
    assert!(err.contains("refused (OPS-2)"), "{err}");
}

/// Review 5: copies reached environments held by another client's person, or by a third
/// party without an approval; approvals without `--for` or `--dataset` let in anyone and
/// everything; `approval list` showed rows `approval show` refused.
#[test]
fn review_5_copies_and_approvals_reach_only_whom_and_what_they_name() {
    let env = Env::new();
    people(&env);
    let a = env.ingest(b"dataset a", &[]);
    let b = env.ingest(b"dataset b, with names", &[]);
    env.ok(&["environment", "add", "beta-box", "--kind", "online", "--holder", "admin-beta"]);
    env.ok(&["environment", "add", "lab", "--kind", "online", "--holder", "tiers"]);
    env.ok(&["environment", "add", "acme-box", "--kind", "online", "--holder", "admin-acme"]);
    let copy = |id: &str, to: &str| env.run(&["copy", "out", id, "--env", to, "-o", env.path("c").to_str().unwrap()]);
    let refused = |id: &str, to: &str, clause: &str| {
        let out = copy(id, to);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{id} to {to}: {err}");
        assert!(err.contains(&format!("({clause}")) || err.contains(&format!(", {clause}")), "{id} to {to}: {err}");
        assert!(!env.path("c").exists());
    };
    refused(&a, "beta-box", "OPS-1");
    refused(&a, "lab", "CONF-1");
    assert!(copy(&a, "acme-box").status.success(), "the client's own admin may hold a copy");
    std::fs::remove_file(env.path("c")).unwrap();
    // An observation names its third party and its datasets, and opens nothing else.
    let ap = env
        .ok(&[
            "approval",
            "request",
            "observation",
            "--client",
            "acme",
            "--for",
            "tiers",
            "--dataset",
            &a,
            "--scope",
            "metadata only, no names",
        ])
        .trim()
        .to_owned();
    env.ok(&["--as", "signer-acme", "approval", "show", &ap]);
    env.ok(&["--as", "signer-acme", "approval", "decide", &ap, "--approve"]);
    assert_eq!(env.ok(&["--as", "tiers", "dataset", "get", &a]), "dataset a");
    let err = env.fails(&["--as", "tiers", "dataset", "get", &b], 4);
    assert!(err.contains("refused (CONF-2)"), "{err}");
    refused(&b, "lab", "CONF-1");
    assert!(copy(&a, "lab").status.success(), "the approval names tiers and dataset a");
    // A third party added after the decision is not let in.
    env.ok(&["person", "add", "tiers-2", "--role", "third-party", "--client", "acme"]);
    env.fails(&["--as", "tiers-2", "dataset", "get", &a], 4);
    // The signer sees exactly whom and what.
    let shown = env.ok(&["--as", "signer-acme", "approval", "show", &ap]);
    assert!(shown.contains("for:       tiers") && shown.contains(&format!("datasets:  {a}")), "{shown}");
    // Every listing shows only what `show` would show, row by row.
    env.with_tech();
    for who in [TECH, "admin-beta", "tiers", "signer-acme", "operator"] {
        let mut args = vec!["--as", who, "approval", "list", "--json"];
        if who.contains("acme") || who == "tiers" {
            args.extend(["--client", "acme"]);
        }
        if who == "admin-beta" {
            args.extend(["--client", "beta"]);
        }
        let out = env.run(&args);
        if !out.status.success() {
            continue;
        }
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for r in rows.as_array().unwrap() {
            let id = r["id"].as_str().unwrap();
            env.ok(&["--as", who, "approval", "show", id]);
        }
        if who == TECH {
            assert_eq!(rows, serde_json::json!([]), "a technical operator reads no client's approvals");
        }
    }
}

/// Review 5: `copy attest --by` accepted someone who never held the copy.
#[test]
fn review_5_only_the_holder_attests_a_copys_destruction() {
    let env = Env::new();
    env.with_tech();
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2098-06-30"]);
    let id = env.ingest(b"sample", &["--class", "presales-sample", "--contract", "trial"]);
    env.ok(&["--as", TECH, "copy", "out", &id, "--env", "laptop-qa-3", "-o", env.path("s").to_str().unwrap()]);
    let cp = env.sql(&format!("SELECT id FROM out_copies WHERE dataset = '{id}'"));
    env.ok(&["person", "add", "someone", "--role", "technical-operator"]);
    let err = env.fails(&["copy", "attest", &id, &cp, "--by", "someone"], 4);
    assert!(err.contains("held by jdupont"), "{err}");
    let err = env.fails(&["--as", "someone", "copy", "attest", &id, &cp], 4);
    assert!(err.contains("refused ("), "{err}");
    // Ops may record it on the holder's word, and it says so.
    env.ok(&["copy", "attest", &id, &cp, "--method", "rm"]);
    assert_eq!(env.sql(&format!("SELECT attested_by FROM out_copies WHERE id = '{cp}'")), "operator");
}

/// Review 6: control characters hid part of a scope from the signer (`\e[8m`) and forged
/// listing rows (`\r`); they are refused at input and escaped at output anyway.
#[test]
fn review_6_control_characters_are_refused_and_never_printed_raw() {
    let env = Env::new();
    let before = env.snapshot();
    for label in ["trial\rds-forged  acme  backup", "x\u{1b}[8mhidden", "a\u{202e}b", "two\nlines"] {
        let mut c = env.cmd(&["dataset", "ingest", "-", "--client", "acme", "--class", "other", "--label", label]);
        let out = c.stdin(std::process::Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{label:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("control character"), "{label:?}");
    }
    assert_eq!(env.snapshot(), before);
    // Texts that got in some other way are shown escaped.
    let id = env.ingest(b"x", &["--label", "plain"]);
    env.sql(&format!(
        "UPDATE datasets SET label = 'ok' || char(13) || 'FORGED' || char(27) || '[8m' WHERE id = '{id}'"
    ));
    for args in [vec!["dataset", "list"], vec!["dataset", "show", id.as_str()]] {
        let out = env.run(&args);
        assert!(out.status.success());
        assert!(!out.stdout.contains(&b'\r') && !out.stdout.contains(&0x1b), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok\\rFORGED\\e[8m"), "{args:?}");
    }
}

/// Review 6: `fsck` reported every destroyed dataset as missing, and exited 3 after every
/// normal sweep.
#[test]
fn review_6_fsck_is_clean_after_a_sweep() {
    let env = Env::new();
    let id = env.ingest(b"an export", &["--class", "export"]);
    env.ok_at("2099-01-01 00:00:00", &["sweep"]);
    assert_eq!(env.sql(&format!("SELECT state FROM datasets WHERE id = '{id}'")), "destroyed");
    env.ok(&["fsck"]);
    // A destroyed dataset's blob found again is a problem fsck names.
    let blob = env.data.join(format!("stores/local/datasets/{id}.age"));
    std::fs::write(&blob, b"leftover").unwrap();
    let out = env.run(&["fsck"]);
    assert_eq!(out.status.code(), Some(3));
}

/// Review 6: three concurrent sweeps ended right but recorded false "failed" destructions
/// and exited 3.
#[test]
fn review_6_concurrent_sweeps_record_each_destruction_once() {
    let env = Env::new();
    let ids: Vec<String> =
        (0..12).map(|i| env.ingest(format!("export {i}").as_bytes(), &["--class", "export"])).collect();
    let kids: Vec<_> = (0..3)
        .map(|_| {
            env.cmd_at("2099-01-01 00:00:00", &["sweep"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(events_with(&env, "outcome failed"), 0);
    assert_eq!(events_with(&env, "action dataset:destroy"), ids.len());
    env.ok(&["ledger", "verify"]);
}

/// Review 6: `ledger verify` did not recompute commitments, and a proof against a
/// checkpoint of another tree printed, exit 0.
#[test]
fn review_6_the_ledger_checks_details_and_refuses_a_forked_checkpoint() {
    if PgTest::selected().is_some() {
        // A copy of a data dir on PostgreSQL shares its catalog: this fork needs SQLite.
        return;
    }
    let env = Env::new();
    env.ingest(b"x", &["--label", "the label"]);
    env.ok(&["ledger", "verify"]);
    // A fork: a copy of the data dir goes on, and signs its own checkpoint with the key.
    let fork = env.path("fork");
    assert!(std::process::Command::new("cp").arg("-a").arg(&env.data).arg(&fork).status().unwrap().success());
    let mut c = env.cmd(&["client", "add", "other", "--name", "Other"]);
    c.env("GARDIEN_DATA_DIR", &fork);
    assert!(c.output().unwrap().status.success());
    let mut c = env.cmd(&["ledger", "checkpoint"]);
    c.env("GARDIEN_DATA_DIR", &fork);
    let forked = env.path("forked.checkpoint");
    std::fs::write(&forked, c.output().unwrap().stdout).unwrap();
    env.ok(&["client", "add", "mine", "--name", "Mine"]);
    let err = env.fails(&["ledger", "proof", "1", "--checkpoint", forked.to_str().unwrap()], 3);
    assert!(err.contains("forked") || err.contains("rewritten"), "{err}");
    // An edited detail behind an entry's commitment is found.
    env.sql("UPDATE event_details SET details = 'label=someone else' WHERE idx = 1");
    let out = env.run(&["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(3));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("entry 1: its details in the catalog do not match its commitment"), "{all}");
}

/// Review 6: holds were invisible (show, JSON, list, the dry run).
#[test]
fn review_6_holds_are_shown_and_listed() {
    let env = Env::new();
    let id = env.ingest(b"an export", &["--class", "export"]);
    let other = env.ingest(b"another", &["--class", "export"]);
    env.ok(&["dataset", "hold", &id, "--reason", "litigation 2026-17"]);
    assert!(env.ok(&["dataset", "show", &id]).contains("held:    since"), "text");
    assert_eq!(env.show(&id)["holds"][0]["reason"], "litigation 2026-17");
    let held = env.ok(&["dataset", "list", "--held"]);
    assert!(held.contains(&id) && !held.contains(&other) && held.contains("active (held)"), "{held}");
    let dry: serde_json::Value =
        serde_json::from_str(&env.ok(&["sweep", "--dry-run", "--json", "--at", "2099-01-01"])).unwrap();
    assert_eq!(dry["held"][0]["dataset"], id.as_str(), "{dry}");
    assert_eq!(dry["due"].as_array().unwrap().len(), 1);
    assert!(env.ok(&["sweep", "--dry-run", "--at", "2099-01-01"]).contains(&format!("held      {id}")));
}

/// Review 6: dates came back as the next midnight (`--until 2027-06-30` shown
/// `2027-07-01T00:00:00Z`), in several formats; errors printed their cause twice.
#[test]
fn review_6_dates_as_given_and_each_cause_once() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"x", &[]);
    let ap = env
        .ok(&[
            "approval",
            "request",
            "disclosure",
            "--client",
            "acme",
            "--for",
            "tiers",
            "--dataset",
            &id,
            "--until",
            "2098-06-30",
            "--scope",
            "for the external audit",
        ])
        .trim()
        .to_owned();
    let shown = env.ok(&["approval", "show", &ap]);
    assert!(shown.contains("until:     2098-06-30 (included)"), "{shown}");
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2098-06-30"]);
    let c = env.ok(&["contract", "show", "trial"]);
    assert!(c.contains("presales_until       2098-06-30") && c.contains("phase                pre-sales"), "{c}");
    let err = env.fails(&["dataset", "ingest", "/no/such/file", "--client", "acme", "--class", "other"], 1);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let err = env.fails(&["contract", "set", "trial", "--custody-months", "13"], 1);
    assert_eq!(err.matches("custody of 13 months refused").count(), 1, "{err}");
}

/// Review 6: a policy file citing a clause the policy does not have was accepted.
#[test]
fn review_6_a_policy_cites_only_clauses_of_the_policy() {
    let env = Env::new();
    let f = env.path("site.cedar");
    std::fs::write(&f, "@id(\"x\")\n@clause(\"X\")\n@reason(\"x\")\npermit (principal, action == Action::\"dataset:list\", resource);\n")
        .unwrap();
    let err = env.fails(&["policy", "validate", f.to_str().unwrap()], 1);
    assert!(err.contains("cites clause 'X'"), "{err}");
}

/// Review 6: free text given where an id is expected went verbatim into the permanent
/// ledger, which promises no names.
#[test]
fn review_6_names_never_reach_the_ledger() {
    let env = Env::new();
    env.fails(&["dataset", "show", "Dossier de Jeanne Dupont"], 1);
    env.fails(&["--as", "Jeanne Dupont", "client", "list"], 4);
    env.fails(&["approval", "show", "ap-jeanne dupont"], 1);
    let all = env.sql("SELECT group_concat(CAST(entry AS TEXT), '') FROM ledger_entries");
    assert!(!all.contains("Jeanne") && !all.contains("Dossier"), "{all}");
    assert!(all.contains("resource dataset:(invalid)") && all.contains("actor person:(invalid)"), "{all}");
}

/// Review 7: files holding client data or metadata were created world-readable under the
/// default umask.
#[test]
fn review_7_files_with_client_data_are_the_owners_alone() {
    let env = Env::new();
    let id = env.ingest(b"plaintext", &[]);
    env.ok(&["environment", "add", "box", "--kind", "online"]);
    let outputs = ["got", "copied", "exported.age"].map(|n| env.path(n));
    env.ok(&["dataset", "get", &id, "-o", outputs[0].to_str().unwrap()]);
    env.ok(&["copy", "out", &id, "--env", "box", "-o", outputs[1].to_str().unwrap()]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let private = |p: &std::path::Path| assert_eq!(mode(p) & 0o077, 0, "{} is {:o}", p.display(), mode(p));
    assert_eq!(mode(&env.data), 0o700);
    // (The WAL exists while a process has the catalog open.)
    for p in [env.data.join("catalog.db"), env.data.join("catalog.db-wal")].iter().chain(&outputs[..2]) {
        if p.exists() {
            private(p);
        }
    }
    let key = env.client_key(&env.path("client.key"));
    env.ok(&["dataset", "export", &id, "--recipient", &key, "-o", outputs[2].to_str().unwrap()]);
    private(&outputs[2]);
}

/// Review 7: a policy file that is a symlink to a device (or a FIFO) hung every command.
#[test]
fn review_7_a_policy_file_that_is_no_file_fails_at_once() {
    let env = Env::new();
    let dir = env.data.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.cedar")).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let mut child = env.cmd(&["client", "list"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if t.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("a policy file that is a device hangs the command");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
        std::fs::remove_file(dir.join("zero.cedar")).unwrap();
        assert!(tool("mkfifo").arg(dir.join("zero.cedar")).status().unwrap().success());
    }
}

/// Review 7: a secret key passed where a path was expected was echoed in the error.
#[test]
fn review_7_a_secret_key_given_as_a_path_is_not_repeated() {
    let env = Env::new();
    let id = env.ingest(b"x", &[]);
    let secret = age_keygen_secret(&env.path("k"));
    for args in [
        vec!["--master-key", secret.as_str(), "dataset", "get", id.as_str()],
        vec!["dataset", "ingest", secret.as_str(), "--client", "acme", "--class", "other"],
        vec!["certificate", "verify", secret.as_str(), "--key", "x"],
    ] {
        let out = env.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(!err.contains(&secret[15..]), "{args:?}: {err}");
    }
    let logged = env.sql("SELECT group_concat(details, ' ') FROM event_details");
    assert!(!logged.contains(&secret[15..]), "{logged}");
}

// What an independent attack on the release binary found after the first fixes.

/// A period "through 2999-12-31" ends in 3000: it was stored, then every sweep failed.
#[test]
fn attack_a_date_past_2999_never_enters_the_catalog() {
    let env = Env::new();
    env.ok(&["contract", "add", "c", "--client", "acme"]);
    for args in [
        vec!["contract", "set", "c", "--ends", "2999-12-31"],
        vec!["contract", "set", "c", "--ends", "2026-01-01", "--admin-window-until", "2999-12-31"],
        vec!["contract", "add", "d", "--client", "acme", "--presales-until", "2999-12-31"],
    ] {
        let err = env.fails(&args, 1);
        assert!(err.contains("out of range"), "{args:?}: {err}");
    }
    env.ok(&["sweep", "--dry-run"]);
    env.ok(&["contract", "list"]);
}

/// Moving a passed end or a closed admin window reopened reads after ARC-1 closed them.
#[test]
fn attack_a_closed_contract_cannot_be_reopened() {
    let env = Env::new();
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    env.ok(&["contract", "add", "c", "--client", "acme"]);
    let id = env.ingest(b"backup", &["--class", "backup", "--contract", "c"]);
    env.ok(&["contract", "set", "c", "--ends", "2098-01-31", "--admin-window-until", "2098-03-31"]);
    let later = "2098-06-01 00:00:00";
    env.fails_at(later, &["--as", "admin-acme", "dataset", "get", &id], 4);
    for args in [
        vec!["contract", "set", "c", "--admin-window-until", "2098-12-31"],
        vec!["contract", "set", "c", "--ends", "2099-12-31"],
    ] {
        let err = env.fails_at(later, &args, 1);
        assert!(err.contains("cannot be moved"), "{args:?}: {err}");
    }
    // No window of its own: it closed with the contract, and none is added afterwards.
    env.ok(&["contract", "add", "e", "--client", "acme"]);
    env.ok(&["contract", "set", "e", "--ends", "2098-01-31"]);
    let err = env.fails_at(later, &["contract", "set", "e", "--admin-window-until", "2098-12-31"], 1);
    assert!(err.contains("admin window passed on 2098-01-31"), "{err}");
    env.fails_at(later, &["--as", "admin-acme", "dataset", "get", &id], 4);
}

/// The vault's master key was accepted as a client's key: ops then read custody data
/// through an export to it.
#[test]
fn attack_the_master_key_is_no_clients_key() {
    let env = Env::new();
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    let out = tool("age-keygen").arg("-y").arg(env.data.join("keys/master.key")).output().unwrap();
    let master = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let err = env.fails(&["--as", "admin-acme", "client", "key", "add", "acme", &master], 4);
    assert!(err.contains("refused (OPS-2)") && err.contains("master key"), "{err}");
}

/// With an operator's permit-all file, a third party added an ops person and moved a
/// contract's dates.
#[test]
fn attack_nobody_grants_themselves_a_role_whatever_the_operators_files() {
    let env = Env::new();
    people(&env);
    open_bar(&env);
    env.ok(&["contract", "add", "c", "--client", "acme"]);
    for args in [
        vec!["--as", "tiers", "person", "add", "evil", "--role", "ops"],
        vec!["--as", "tiers", "contract", "set", "c", "--ends", "2026-01-01"],
        vec!["--as", "admin-acme", "person", "disable", "signer-acme"],
    ] {
        let err = env.fails(&args, 4);
        assert!(err.contains("refused (") && err.contains("OPS-1"), "{args:?}: {err}");
    }
}

/// A copy's holder (a client's admin, a third party under an approval) could not attest
/// its destruction.
#[test]
fn attack_every_holder_attests_their_copy() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"backup", &[]);
    env.ok(&["environment", "add", "adm-box", "--kind", "online", "--holder", "admin-acme"]);
    let c = env.ok(&["copy", "out", &id, "--env", "adm-box", "-o", env.path("c").to_str().unwrap()]).trim().to_owned();
    assert!(c.starts_with("cp-"), "{c}");
    env.fails(&["--as", "signer-acme", "copy", "attest", &id, &c], 4);
    env.ok(&["--as", "admin-acme", "copy", "attest", &id, &c, "--method", "rm"]);
    assert_eq!(env.sql(&format!("SELECT attested_by FROM out_copies WHERE id = '{c}'")), "admin-acme");
}

/// Two deals (or two decisions) recorded at once both succeeded, contradicting each other.
#[test]
fn attack_two_decisions_at_once_one_wins() {
    let env = Env::new();
    for i in 0..4 {
        let case = format!("r{i}");
        env.ok(&["contract", "add", &case, "--client", "acme", "--presales-until", "2098-06-30"]);
        let kids: Vec<_> = ["--lost", "--concluded"]
            .iter()
            .map(|d| {
                env.cmd(&["contract", "deal", &case, d])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let ok = kids.into_iter().map(|k| k.wait_with_output().unwrap().status.success()).filter(|s| *s).count();
        assert_eq!(ok, 1, "case {case}: exactly one deal is recorded");
        let recorded = env.sql(&format!(
            "SELECT count(*) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%action contract:deal%'
               AND CAST(entry AS TEXT) LIKE '%resource contract:{case}%' AND CAST(entry AS TEXT) LIKE '%outcome allowed%'"
        ));
        assert_eq!(recorded, "1", "case {case}: one deal in the ledger");
    }
}

/// The argument parser's errors printed control characters and secrets raw; a reason in
/// an operator's policy file reached the terminal raw.
#[test]
fn attack_no_raw_control_character_or_secret_in_any_message() {
    let env = Env::new();
    let secret = age_keygen_secret(&env.path("k"));
    for args in [
        vec!["dataset", "ingest", "-", "--client", "acme", "--class", "\u{1b}[31mRED\r\u{202e}"],
        vec!["dataset", "ingest", "-", "--client", "acme", "--class", secret.as_str()],
        vec![secret.as_str()],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.contains(&0x1b) && !out.stderr.contains(&b'\r'), "{args:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret[15..]), "{args:?}");
    }
    let f = env.path("evil.cedar");
    std::fs::write(
        &f,
        "@id(\"esc\") @clause(\"OPS-1\") @reason(\"evil\u{1b}[31mRED\") forbid (principal in Role::\"sales\", action == Action::\"policy:show\", resource);\n",
    )
    .unwrap();
    let err = env.fails(&["policy", "validate", f.to_str().unwrap()], 1);
    assert!(err.contains("control or invisible character") && !err.contains('\u{1b}'), "{err}");
    for name in ["LS\u{2028}forged", "a\u{200b}b", "a\u{61c}b", "a\u{feff}"] {
        let err = env.fails(&["client", "add", "x", "--name", name], 1);
        assert!(err.contains("control character"), "{name:?}: {err}");
    }
    // A policy file that is no file is reported once, not twice.
    std::fs::create_dir_all(env.data.join("policies")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", env.data.join("policies/z.cedar")).unwrap();
    let err = env.fails(&["client", "list"], 1);
    assert_eq!(err.matches("the policy does not validate").count(), 1, "{err}");
}

/// Two more answers that told another client's person whether a handle or an
/// environment existed.
#[test]
fn attack_other_clients_people_and_environments_answer_as_unknown() {
    let env = Env::new();
    people(&env);
    env.ok(&["person", "add", "signer-beta", "--role", "client-signer", "--client", "beta"]);
    env.ok(&["person", "add", "tiers-beta", "--role", "third-party", "--client", "beta"]);
    std::fs::write(env.path("b.txt"), "beta's").unwrap();
    let b = env.ok(&["dataset", "ingest", env.path("b.txt").to_str().unwrap(), "--client", "beta", "--class", "other"]);
    let b = b.trim();
    let ask = |who: &str| {
        env.run(&[
            "--as",
            "signer-beta",
            "approval",
            "request",
            "observation",
            "--client",
            "beta",
            "--for",
            who,
            "--dataset",
            b,
            "--scope",
            "metadata only, no names",
        ])
    };
    let (theirs, none) = (ask("tiers"), ask("nobody"));
    same_answer(&theirs, &none, "'tiers'", "'nobody'");
    env.ok(&["environment", "add", "acme-box", "--kind", "online", "--holder", "admin-acme"]);
    let copy = |to: &str| env.run(&["--as", "admin-beta", "copy", "out", b, "--env", to, "-o", "/dev/null"]);
    let (theirs, none) = (copy("acme-box"), copy("nowhere"));
    same_answer(&theirs, &none, "'acme-box'", "'nowhere'");
}

/// A store added by the operator was world-readable and writable under a loose umask.
#[test]
fn attack_stores_are_gardiens_alone() {
    let env = Env::new();
    let sbg = env.path("sbg");
    let mut c = env.cmd(&["store", "add", "sbg", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()]);
    let sh = "umask 000; exec \"$@\"";
    let mut umask0 = std::process::Command::new("sh");
    umask0.arg("-c").arg(sh).arg("sh").arg(c.get_program());
    umask0.args(c.get_args()).envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    assert!(umask0.status().unwrap().success());
    let id = env.ingest(b"x", &["--store", "sbg"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sbg) & 0o077, 0, "{:o}", mode(&sbg));
    let blob = sbg.join(format!("datasets/{id}.age"));
    assert_eq!(mode(&blob) & 0o077, 0, "{:o}", mode(&blob));
    let _ = c.output();
}

/// A copy out that began before a sweep and ended after it escaped the certificate: its
/// plaintext was written and recorded after the dataset's destruction. Whatever the
/// interleaving, a copy is now either recorded before the key is shredded (and blocks the
/// destruction until attested) or refused with its output removed.
#[test]
fn attack_a_copy_racing_a_sweep_never_escapes_the_certificate() {
    let env = Env::new();
    env.with_tech();
    env.ok(&["contract", "add", "t", "--client", "acme", "--presales-until", "2098-06-30"]);
    let big = pseudo_random(48 << 20, 5);
    let id = env.ingest(&big, &["--class", "presales-sample", "--contract", "t"]);
    let out = env.path("installed.bin");
    let copy = env
        .cmd(&["--as", TECH, "copy", "out", &id, "--env", "laptop-qa-3", "-o", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // As soon as the copy is being written, the case is lost and the sweep runs.
    let t = Instant::now();
    while !out.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(2));
    }
    env.ok(&["contract", "deal", "t", "--lost"]);
    let sweep = env.run(&["sweep"]);
    let copied = copy.wait_with_output().unwrap();
    let recorded = env.sql(&format!("SELECT count(*) FROM out_copies WHERE dataset = '{id}' AND kind = 'environment'"));
    let certified = env.sql(&format!("SELECT count(*) FROM certificates WHERE dataset = '{id}'"));
    if copied.status.success() {
        // Recorded before the shred: the destruction waits for its attestation.
        assert_eq!(recorded, "1");
        assert_eq!(sweep.status.code(), Some(3), "{}", String::from_utf8_lossy(&sweep.stdout));
        assert_eq!(certified, "0");
    } else {
        // Refused: no plaintext left, nothing recorded, the destruction complete.
        let err = String::from_utf8_lossy(&copied.stderr);
        assert!(err.contains("destroyed") || err.contains("refused ("), "{err}");
        assert!(!out.exists(), "the refused copy's output is removed");
        assert_eq!(recorded, "0");
    }
    env.ok(&["ledger", "verify"]);
}

// A second independent attack, on the binary with the fixes above.

/// Lengthening custody once it ran out, or recording a deal (backdated) after the pre-sales
/// period ended, un-did a destruction already due.
#[test]
fn attack2_what_is_due_stays_due() {
    let env = Env::new();
    env.with_tech();
    env.ok(&["contract", "add", "k", "--client", "acme"]);
    env.ok(&["contract", "set", "k", "--ends", "2098-06-30", "--custody-months", "0"]);
    let err = env.fails_at("2098-09-01 00:00:00", &["contract", "set", "k", "--custody-months", "12"], 1);
    assert!(err.contains("custody period passed"), "{err}");
    env.ok(&["contract", "add", "tr", "--client", "acme", "--presales-until", "2098-01-31"]);
    let err = env.fails_at("2098-03-01 00:00:00", &["contract", "deal", "tr", "--concluded", "--on", "2098-01-15"], 1);
    assert!(err.contains("PRE-6"), "{err}");
}

/// Plaintext left without being tracked: a technical operator downloaded a sample
/// anywhere (around PRE-4/PRE-5), a third party's download under an approval was in no
/// certificate.
#[test]
fn attack2_every_plaintext_copy_is_tracked() {
    let env = Env::new();
    people(&env);
    env.with_tech();
    env.ok(&["contract", "add", "tr", "--client", "acme", "--presales-until", "2098-01-31"]);
    let s = env.ingest(b"sample", &["--class", "presales-sample", "--contract", "tr"]);
    let err = env.fails(&["--as", TECH, "dataset", "get", &s, "-o", env.path("s").to_str().unwrap()], 4);
    assert!(err.contains("PRE-5"), "{err}");
    assert!(!env.path("s").exists());
    let d = env.ingest(b"an export for the auditor", &["--class", "export"]);
    approved_disclosure(&env, &d, "the export, for the audit");
    let out = env.run(&["--as", "tiers", "dataset", "get", &d, "-o", env.path("t").to_str().unwrap()]);
    assert!(out.status.success());
    let cp = env.sql(&format!("SELECT id FROM out_copies WHERE dataset = '{d}' AND holder = 'tiers'"));
    assert!(cp.starts_with("cp-") && String::from_utf8_lossy(&out.stderr).contains(&cp), "{cp}");
    // The export's destruction waits for the third party's attestation.
    let swept = env.cmd_at("2099-01-01 00:00:00", &["sweep"]).output().unwrap();
    assert_eq!(swept.status.code(), Some(3));
    env.ok(&["--as", "tiers", "copy", "attest", &d, &cp, "--method", "rm"]);
    env.ok_at("2099-01-01 00:00:00", &["sweep"]);
    let cert = env.ok(&["certificate", "show", &d]);
    assert!(cert.contains("tiers"), "the certificate names the third party's copy: {cert}");
}

/// Another client's person and the operator's staff answered differently from an unknown
/// handle (`person disable`, `policy explain`); the operator's lists were shown to client
/// people under a permit-all file; a note signing key was half redacted.
#[test]
fn attack2_people_lists_and_keys() {
    let env = Env::new();
    people(&env);
    for target in ["admin-beta", "operator"] {
        let theirs = env.run(&["--as", "admin-acme", "person", "disable", target]);
        let none = env.run(&["--as", "admin-acme", "person", "disable", "nobody"]);
        same_answer(&theirs, &none, target, "nobody");
    }
    open_bar(&env);
    for list in ["person", "client", "store", "environment"] {
        let err = env.fails(&["--as", "tiers", list, "list"], 4);
        assert!(err.contains("OPS-1"), "{list}: {err}");
    }
    let signing = std::fs::read_to_string(env.data.join("keys/signing.key")).unwrap();
    // PRIVATE+KEY+<name>+<id>+<key>: the key's base64 may itself hold a `+`, so the fifth
    // field whole, never what follows the last `+` (a few letters that any message holds).
    let secret = signing.trim().splitn(5, '+').nth(4).unwrap().to_owned();
    assert!(secret.len() > 40, "{secret}");
    let out = env.run(&["ledger", "verify-proof", "--key", signing.trim(), "--proof", "x", "--entry", "x"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&secret), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Invisible format characters, an operator name or a store path with ESC, and the
/// operator's policy files printed raw by `policy show`.
#[test]
fn attack2_no_invisible_or_raw_text() {
    let env = Env::new();
    let err = env.fails(&["client", "add", "x", "--name", "A\u{1bca0}B"], 1);
    assert!(err.contains("control character"), "{err}");
    let bare = Env::bare();
    bare.fails(&["init", "--operator", "o\u{1b}[31mRED"], 1);
    assert!(!bare.data.join("gardien.toml").exists());
    let err = env.fails(&["store", "add", "s1", "--site", "fr-strasbourg", "--path", "/tmp/x\u{1b}[31m"], 1);
    assert!(err.contains("control character"), "{err}");
    std::fs::create_dir_all(env.data.join("policies")).unwrap();
    std::fs::write(
        env.data.join("policies/site.cedar"),
        "// note \u{1b}[8m hidden\n@id(\"y\") @clause(\"OPS-1\") @reason(\"y\")\npermit (principal in Role::\"sales\", action == Action::\"dataset:list\", resource);\n",
    )
    .unwrap();
    let out = env.run(&["policy", "show"]);
    assert!(out.status.success() && !out.stdout.contains(&0x1b), "{}", String::from_utf8_lossy(&out.stderr));
}

// A third attack, on the binary with the fixes above.

/// With a permit-all operator file: non-holders attested a third party's copy; sales, a
/// technical operator, a signer read plaintext untracked and held a sample's clock; a third
/// party read a client's metadata and approvals.
#[test]
fn attack3_an_operator_file_opens_no_clause() {
    let env = Env::new();
    people(&env);
    env.with_tech();
    env.ok(&["person", "add", "sal", "--role", "sales"]);
    let d = env.ingest(b"backup", &[]);
    let ap = approved_disclosure(&env, &d, "for the audit");
    env.ok(&["--as", "tiers", "dataset", "get", &d, "-o", env.path("t").to_str().unwrap()]);
    let cp = env.sql(&format!("SELECT id FROM out_copies WHERE dataset = '{d}'"));
    open_bar(&env);
    for (who, args) in [
        (TECH, vec!["copy", "attest", d.as_str(), cp.as_str()]),
        ("admin-acme", vec!["copy", "attest", d.as_str(), cp.as_str()]),
        ("sal", vec!["dataset", "get", d.as_str()]),
        (TECH, vec!["dataset", "get", d.as_str()]),
        ("signer-acme", vec!["dataset", "get", d.as_str()]),
        (TECH, vec!["dataset", "hold", d.as_str(), "--reason", "mine"]),
        ("tiers", vec!["ledger", "list", "--client", "acme"]),
        ("tiers", vec!["approval", "revoke", ap.as_str()]),
    ] {
        let mut a = vec!["--as", who];
        a.extend(args.iter().copied());
        let err = env.fails(&a, 4);
        assert!(err.contains("refused ("), "{a:?}: {err}");
    }
    // Since issue 10, a third party sees the approvals naming it (what each lets it see),
    // and no other approval of the client.
    assert!(env.ok(&["--as", "tiers", "approval", "show", &ap]).contains("for the audit"));
    env.ok(&["person", "add", "other-tp", "--role", "third-party", "--client", "acme"]);
    env.ok(&[
        "approval",
        "request",
        "observation",
        "--client",
        "acme",
        "--for",
        "other-tp",
        "--scope",
        "not theirs",
        "--dataset",
        &d,
    ]);
    let list = env.ok(&["--as", "tiers", "approval", "list", "--client", "acme"]);
    assert!(list.contains(&ap) && !list.contains("observation"), "{list}");
}

/// Staff handles and staff-held environments answered a client's person differently from
/// unknown ones; naming a client explicitly answered as the dataset's; an approval counted
/// before its decision.
#[test]
fn attack3_staff_are_unknown_to_clients_and_approvals_start_when_decided() {
    let env = Env::new();
    people(&env);
    env.with_tech();
    let d = env.ingest(b"x", &[]);
    let ask = |who: &str| {
        env.run(&[
            "--as",
            "admin-acme",
            "approval",
            "request",
            "disclosure",
            "--client",
            "acme",
            "--for",
            who,
            "--dataset",
            &d,
            "--scope",
            "some long scope text here",
        ])
    };
    let (staff, none) = (ask(TECH), ask("nobody"));
    same_answer(&staff, &none, TECH, "nobody");
    let copy = |to: &str| env.run(&["--as", "admin-acme", "copy", "out", &d, "--env", to, "-o", "/dev/null"]);
    let (staff, none) = (copy("laptop-qa-3"), copy("nowhere"));
    same_answer(&staff, &none, "laptop-qa-3", "nowhere");
    let other = |client: &str| {
        env.run(&[
            "--as",
            "admin-acme",
            "approval",
            "request",
            "disclosure",
            "--client",
            client,
            "--for",
            "tiers",
            "--dataset",
            &d,
            "--scope",
            "some long scope text here",
        ])
    };
    let (theirs, none) = (other("beta"), other("zz"));
    assert_eq!(
        String::from_utf8_lossy(&theirs.stderr).replace("'beta'", "'zz'"),
        String::from_utf8_lossy(&none.stderr)
    );
    approved_disclosure(&env, &d, "for the audit");
    let err = env.fails_at("2026-01-01 00:00:00", &["--as", "tiers", "dataset", "get", &d], 4);
    assert!(err.contains("CONF-2"), "{err}");
}

/// Output to a closed pipe or a full disk panicked (exit 101).
#[test]
fn attack3_unwritable_output_is_no_crash() {
    let env = Env::new();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = env.cmd(&["ledger", "key"]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the output"));
    let mut child = env.cmd(&["fsck"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    assert_ne!(child.wait().unwrap().code(), Some(101));
}
