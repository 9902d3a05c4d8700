//! Contracts, retention on the date, holds and destruction, through the CLI.

use crate::common::*;

/// A case for acme with pre-sales through 2099-06-30 (so nothing is due by accident).
fn with_case(env: &Env) {
    env.with_tech();
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2099-06-30"]);
}

fn sweep_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["sweep", "--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&env.ok(&a)).unwrap()
}

#[test]
fn contract_input_errors_are_clear_and_change_nothing() {
    let env = Env::new();
    with_case(&env);
    let refused = |args: &[&str], needle: &str| {
        let before = env.snapshot();
        let contracts =
            env.sql("SELECT group_concat(name || deal || coalesce(vsr_until, '') || custody_months) FROM contracts");
        let err = env.fails(args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(env.snapshot(), before);
        assert_eq!(
            env.sql("SELECT group_concat(name || deal || coalesce(vsr_until, '') || custody_months) FROM contracts"),
            contracts
        );
    };
    refused(&["contract", "deal", "nope", "--lost"], "unknown contract 'nope'");
    refused(&["contract", "add", "old", "--client", "acme", "--presales-until", "2020-01-01"], "cannot end");
    refused(&["contract", "add", "x", "--client", "nobody"], "unknown client 'nobody'");
    refused(&["contract", "add", "trial", "--client", "acme"], "contract 'trial' already exists");
    refused(&["contract", "add", "y", "--client", "acme", "--presales-until", "31/12/2099"], "is not a date");
    refused(&["contract", "set", "trial", "--custody-months", "13"], "ARC-1 and ARC-2 allow 0 to 12 months");
    env.ok(&["contract", "set", "trial", "--vsr-until", "2100-01-31"]);
    refused(&["contract", "set", "trial", "--ends", "2100-01-01"], "cannot end");
    refused(&["contract", "set", "trial", "--vsr-until", "2099-01-01"], "before the pre-sales period");
    env.ok(&["contract", "deal", "trial", "--concluded"]);
    refused(&["contract", "deal", "trial", "--lost"], "already decided (concluded)");
    let show: serde_json::Value = serde_json::from_str(&env.ok(&["contract", "show", "trial", "--json"])).unwrap();
    assert_eq!(show["deal"], "concluded");
    assert_eq!(show["custody_months"], 6, "the default custody (ARC-1)");
    assert_eq!(show["vsr_until"], "2100-02-01T00:00:00Z", "a day lasts through its end");
}

#[test]
fn classes_that_belong_to_a_contract_need_one_of_their_client() {
    let env = Env::new();
    with_case(&env);
    env.ok(&["client", "add", "other-co", "--name", "Other"]);
    env.ok(&["contract", "add", "other-case", "--client", "other-co"]);
    let before = env.snapshot();
    for class in ["presales-sample", "loading-data", "backup", "archive"] {
        let err =
            env.fails(&["dataset", "ingest", "/etc/hostname", "--client", "acme", "--class", class, "--to", TECH], 1);
        assert!(err.contains("belongs to a contract: give --contract CASE"), "{err}");
    }
    let err = env.fails(
        &["dataset", "ingest", "/etc/hostname", "--client", "acme", "--class", "backup", "--contract", "other-case"],
        1,
    );
    assert!(err.contains("contract other-case is client other-co's, not acme's"), "{err}");
    assert_eq!(env.snapshot(), before);
    let id = env.ingest(b"s", &["--class", "presales-sample", "--contract", "trial"]);
    assert_eq!(env.show(&id)["contract"], "trial");
}

#[test]
fn a_lost_case_is_swept_on_the_date_and_nothing_of_the_sample_remains() {
    let env = Env::new();
    with_case(&env);
    let sample = b"MARKER-sample-3f1e5c payload of the pre-sales sample";
    let id = env.ingest(sample, &["--class", "presales-sample", "--contract", "trial"]);
    let kept = env.ingest(b"unrelated", &[]);
    let wrapped = env.sql(&format!("SELECT wrapped_key FROM datasets WHERE id = '{id}'"));
    assert!(env.blob_exists(&id));

    // Before the end of pre-sales, and with the deal undecided: nothing due.
    assert_eq!(sweep_json(&env, &["--at", "2099-06-30T23:59:59Z", "--dry-run"])["due"], serde_json::json!([]));
    // The day after: due under PRE-6, and a dry run changes nothing.
    let before = env.snapshot();
    let dry = sweep_json(&env, &["--at", "2099-07-01", "--dry-run"]);
    assert_eq!(dry["due"][0]["dataset"], id.as_str());
    assert_eq!(dry["due"][0]["clause"], "PRE-6");
    assert_eq!(dry["due"][0]["due_since"], "2099-07-01T00:00:00Z");
    assert_eq!(env.snapshot(), before);

    // The case is lost today: due at once.
    env.ok(&["contract", "deal", "trial", "--lost"]);
    let done = sweep_json(&env, &[]);
    assert_eq!(done["destroyed"][0]["dataset"], id.as_str());
    let event = done["destroyed"][0]["event"].as_u64().unwrap();

    assert!(!env.blob_exists(&id), "the blob is gone");
    let leftovers: Vec<_> =
        walk(&env.data.join("stores")).into_iter().filter(|p| p.to_string_lossy().contains(&id)).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The wrapped key is in no file of the data dir: not the catalog, not its WAL.
    let needle = &wrapped.as_bytes()[40..120];
    for f in walk(&env.data) {
        assert!(!contains(&std::fs::read(&f).unwrap(), needle), "the destroyed key survives in {}", f.display());
    }
    let err = env.fails(&["--as", TECH, "dataset", "get", &id], 4);
    assert!(
        err.contains("refused (PRE-6")
            && err.contains(&format!("dataset {id} was destroyed on"))
            && err.contains("its destruction certificate: `gardien certificate show cert-"),
        "{err}"
    );
    let show = env.show(&id);
    assert_eq!(show["state"], "destroyed");
    assert_eq!(show["destroyed"]["clause"], "PRE-6");
    assert_eq!(show["destroyed"]["event"], event);
    let entry = env.ok(&["ledger", "entry", &event.to_string()]);
    assert!(entry.contains("action dataset:destroy") && entry.contains("decision allow PRE-6"), "{entry}");
    assert_eq!(env.get(&kept), b"unrelated", "other datasets untouched");
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["dataset", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "a destroyed dataset is not in custody");
    let all: serde_json::Value = serde_json::from_str(&env.ok(&["dataset", "list", "--all", "--json"])).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2, "but its record is listed with --all");
    // Idempotent: nothing left to do.
    assert_eq!(sweep_json(&env, &[])["due"], serde_json::json!([]));
    env.ok(&["ledger", "verify"]);
}

#[test]
fn a_hold_pauses_the_clock_and_a_release_restarts_it() {
    let env = Env::new();
    with_case(&env);
    let id = env.ingest(b"held", &["--class", "presales-sample", "--contract", "trial"]);
    env.ok(&["dataset", "hold", &id, "--reason", "court order 2026-114"]);
    assert!(
        !env.sql("SELECT group_concat(CAST(entry AS TEXT)) FROM ledger_entries").contains("court order"),
        "reasons stay out of the log"
    );
    assert_eq!(sweep_json(&env, &["--at", "2100-01-01", "--dry-run"])["due"], serde_json::json!([]));
    let err = env.fails(&["dataset", "release", "ds-0000000000000000"], 1);
    assert!(err.contains("unknown dataset"), "{err}");
    env.ok(&["dataset", "release", &id]);
    let err = env.fails(&["dataset", "release", &id], 1);
    assert!(err.contains("is not held"), "{err}");
    // Held for a moment, released: due again after the pre-sales end (plus that moment).
    assert_eq!(sweep_json(&env, &["--at", "2100-01-01", "--dry-run"])["due"][0]["dataset"], id.as_str());
}

#[test]
fn a_sweep_interrupted_after_the_shred_is_finished_by_the_next() {
    let env = Env::new();
    let id = env.ingest(b"export for the client", &["--class", "export"]);
    // What a sweep killed right after shredding leaves: no key, state destroying, blob still there.
    env.sql(&format!(
        "UPDATE datasets SET wrapped_key = NULL, state = 'destroying', destroyed = '2026-01-01T00:00:00Z', rule = 'export kept N days after creation', clause = 'OPS-2' WHERE id = '{id}'"
    ));
    assert!(env.blob_exists(&id));
    let done = sweep_json(&env, &[]);
    assert_eq!(done["destroyed"][0]["dataset"], id.as_str());
    assert!(!env.blob_exists(&id));
    assert_eq!(env.show(&id)["destroyed"]["clause"], "OPS-2");
    env.ok(&["ledger", "verify"]);
}

#[test]
fn a_copy_on_a_test_machine_blocks_the_destruction_until_attested() {
    let env = Env::new();
    with_case(&env);
    let data = pseudo_random(70_000, 11);
    let id = env.ingest(&data, &["--class", "presales-sample", "--contract", "trial"]);
    let installed = env.path("installed.sql");
    env.ok(&["--as", TECH, "copy", "out", &id, "--env", "laptop-qa-3", "-o", installed.to_str().unwrap()]);
    assert!(std::fs::read(&installed).unwrap() == data);
    // An export to the client is the client's: listed, never blocking.
    let key = env.path("client.key");
    let recipient = env.client_key(&key);
    let x = env.path("x.age");
    // Only the client's admin takes a sample back (PRE-3): the operator may not export it.
    env.fails(&["dataset", "export", &id, "--recipient", &recipient, "-o", x.to_str().unwrap()], 4);
    env.ok(&["--as", "admin-acme", "dataset", "export", &id, "--recipient", &recipient, "-o", x.to_str().unwrap()]);
    let copies: serde_json::Value = serde_json::from_str(&env.ok(&["copy", "list", &id, "--json"])).unwrap();
    assert_eq!(copies.as_array().unwrap().len(), 2);
    let copy = copies.as_array().unwrap().iter().find(|c| c["kind"] == "environment").unwrap()["copy"]
        .as_str()
        .unwrap()
        .to_owned();

    env.ok(&["contract", "deal", "trial", "--lost"]);
    let out = env.run(&["sweep"]);
    assert_eq!(out.status.code(), Some(3), "blocked: exit 3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("BLOCKED  {id}"))
            && stdout.contains(&format!("copy {copy} on laptop-qa-3 held by jdupont")),
        "{stdout}"
    );
    // In the vault it is gone already: on the date, whatever happens outside.
    assert!(!env.blob_exists(&id));
    let err = env.fails(&["dataset", "get", &id], 4);
    assert!(err.contains("refused (PRE-6") && err.contains("was destroyed"), "{err}");
    assert_eq!(env.show(&id)["state"], "destroying");

    let err = env.fails(&["copy", "attest", &id, "cp-ffffffffffff", "--by", "jdupont"], 1);
    assert!(err.contains("has no copy cp-ffffffffffff"), "{err}");
    // The holder attests (PRE-6), never someone who did not hold the copy.
    let err = env.fails(&["copy", "attest", &id, &copy, "--by", "admin-acme"], 4);
    assert!(err.contains("refused (PRE-6)") && err.contains("held by jdupont"), "{err}");
    let err = env.fails(&["--as", "admin-acme", "copy", "attest", &id, &copy], 4);
    assert!(err.contains("refused ("), "{err}");
    env.ok(&["--as", TECH, "copy", "attest", &id, &copy, "--method", "shred -u; DROP DATABASE"]);
    let err = env.fails(&["copy", "attest", &id, &copy, "--by", "jdupont"], 1);
    assert!(err.contains("already attested destroyed"), "{err}");
    let done = sweep_json(&env, &[]);
    assert_eq!(done["destroyed"][0]["dataset"], id.as_str());
    assert_eq!(env.show(&id)["state"], "destroyed");

    // The certificate lists every copy, and the client checks it offline with the key alone.
    let cert = env.path("cert.txt");
    env.ok(&["certificate", "export", &id, "-o", cert.to_str().unwrap()]);
    let text = std::fs::read_to_string(&cert).unwrap();
    assert!(text.starts_with("gardien-certificate/v1\n"), "{text}");
    for needle in [
        format!("dataset {id}"),
        "clause PRE-6".to_owned(),
        "copy store local site fr-roubaix deleted".to_owned(),
        "copy environment laptop-qa-3 holder jdupont attested".to_owned(),
        "by jdupont method shred -u; DROP DATABASE".to_owned(),
        "copy client holder age1".to_owned(),
        "key-survival-bound ".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} missing from\n{text}");
    }
    let key = env.ok(&["ledger", "key"]).trim().to_owned();
    let offline = |path: &std::path::Path| {
        std::process::Command::new(BIN)
            .args(["--data-dir", "/nonexistent", "certificate", "verify"])
            .arg(path)
            .args(["--key", &key])
            .output()
            .unwrap()
    };
    let ok = offline(&cert);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: certificate cert-"));
    // Any edited byte fails it.
    let bytes = text.as_bytes().to_vec();
    for pos in [30, text.find("clause PRE-6").unwrap() + 9, bytes.len() - 20] {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        let edited = env.path("edited.txt");
        std::fs::write(&edited, &b).unwrap();
        let out = offline(&edited);
        assert_eq!(out.status.code(), Some(3), "edit at {pos} went unnoticed");
    }
    // Its proof is a plain C2SP tlog-proof: `ledger verify-proof` checks it with the entry.
    let field = |k: &str| -> Vec<u8> {
        let b64 = text.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
        let mut child = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b64.as_bytes()).unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let (entry_f, proof_f) = (env.path("cert-entry"), env.path("cert.tlog-proof"));
    std::fs::write(&entry_f, field("ledger-entry ")).unwrap();
    std::fs::write(&proof_f, field("ledger-tlog-proof ")).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--data-dir", "/nonexistent", "ledger", "verify-proof", "--key", &key, "--proof"])
        .arg(&proof_f)
        .arg("--entry")
        .arg(&entry_f)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let show = env.ok(&["certificate", "show", &id]);
    assert!(show.contains("# Certificat de destruction") && show.contains("# Destruction certificate"), "{show}");
}

#[test]
fn a_sweep_killed_at_any_point_is_finished_by_the_next() {
    for (round, delay_ms) in [5u64, 30, 80, 200].into_iter().enumerate() {
        let env = Env::new();
        with_case(&env);
        let ids: Vec<String> = (0..30)
            .map(|i| {
                env.ingest(
                    format!("sample {round}/{i}").as_bytes(),
                    &["--class", "presales-sample", "--contract", "trial"],
                )
            })
            .collect();
        env.ok(&["contract", "deal", "trial", "--lost"]);
        let mut child = env
            .cmd(&["sweep"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL, wherever it is (it may have finished)
        child.wait().unwrap();
        let done = sweep_json(&env, &[]);
        assert!(done["blocked"].as_array().unwrap().is_empty(), "{done}");
        for id in &ids {
            assert_eq!(env.show(id)["state"], "destroyed", "round {round}: {id}");
            assert!(!env.blob_exists(id));
        }
        let certs: serde_json::Value = serde_json::from_str(&env.ok(&["certificate", "list", "--json"])).unwrap();
        assert_eq!(certs.as_array().unwrap().len(), ids.len(), "round {round}: one certificate each");
        assert!(walk(&env.data.join("stores")).is_empty(), "round {round}: no blob, no staging file");
        env.ok(&["ledger", "verify"]);
    }
}
