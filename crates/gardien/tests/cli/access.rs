//! Who may do what, through the CLI: the Cedar policy in the door, environments,
//! approvals, the operator's own policy files, and `policy explain`.

use crate::common::*;

/// A second client, `beta`, and people of both.
fn people(env: &Env) {
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    for (h, role, c) in [
        ("admin-a", "client-admin", "acme"),
        ("signer-a", "client-signer", "acme"),
        ("signer-b", "client-signer", "beta"),
        ("admin-b", "client-admin", "beta"),
        ("tiers", "third-party", "acme"),
    ] {
        env.ok(&["person", "add", h, "--role", role, "--client", c]);
    }
}

#[test]
fn a_client_admin_never_reaches_another_clients_data() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"acme data", &[]);
    assert_eq!(env.ok(&["--as", "admin-a", "dataset", "get", &id]), "acme data");
    let before = env.snapshot();
    // Another client's dataset or client answers exactly as an unknown one does (same
    // message, same exit code): "not yours" tells nothing "unknown" does not. The attempt
    // is recorded, refused under OPS-1, in the owner's access log.
    let ghost = "ds-00000000000000aa";
    for (args, unknown) in [
        (vec!["dataset", "get", id.as_str()], vec!["dataset", "get", ghost]),
        (vec!["dataset", "show", id.as_str()], vec!["dataset", "show", ghost]),
        (vec!["copy", "list", id.as_str()], vec!["copy", "list", ghost]),
        (vec!["dataset", "list", "--client", "acme"], vec!["dataset", "list", "--client", "nobody"]),
        (vec!["ledger", "list", "--client", "acme"], vec!["ledger", "list", "--client", "nobody"]),
        (vec!["certificate", "list", "--client", "acme"], vec!["certificate", "list", "--client", "nobody"]),
        (
            vec!["policy", "explain", "--action", "dataset:get", "--resource", &format!("dataset:{id}")],
            vec!["policy", "explain", "--action", "dataset:get", "--resource", &format!("dataset:{ghost}")],
        ),
    ] {
        let (mut a, mut u) = (vec!["--as", "admin-b"], vec!["--as", "admin-b"]);
        a.extend(args.iter().copied());
        u.extend(unknown.iter().copied());
        let theirs = env.run(&a);
        let none = env.run(&u);
        let (t, n) = (String::from_utf8_lossy(&theirs.stderr), String::from_utf8_lossy(&none.stderr));
        assert_eq!(theirs.status.code(), none.status.code(), "{args:?}: {t} / {n}");
        assert_eq!(t.replace(&id, ghost).replace("'acme'", "'nobody'"), n, "{args:?}");
        assert!(!t.contains("refused"), "{t}");
        let e = last_event(&env);
        let owner = env.sql(
            "SELECT CAST(entry AS TEXT) FROM ledger_entries WHERE idx = (SELECT max(idx) - 1 FROM ledger_entries)",
        );
        assert!(
            owner.contains("actor person:admin-b")
                && owner.contains("decision deny OPS-1")
                && owner.contains("client:acme"),
            "{args:?}: {owner}"
        );
        assert!(!e.contains("client:acme"), "{e}");
    }
    // Listing the whole vault is for the operator: client people name their client.
    let err = env.fails(&["--as", "admin-a", "dataset", "list"], 4);
    assert!(
        err.contains("refused (OPS-1): the client's people see their own client only: name it (--client)"),
        "{err}"
    );
    assert!(env.ok(&["--as", "admin-a", "dataset", "list", "--client", "acme"]).contains(&id));
    env.ok(&["--as", "admin-a", "certificate", "list", "--client", "acme"]);
    assert_eq!(env.snapshot(), before, "refusals change nothing");
}

#[test]
fn after_the_contracts_end_only_the_client_admins_read_until_the_window_closes() {
    let env = Env::new();
    people(&env);
    env.ok(&["contract", "add", "run", "--client", "acme"]);
    env.ok(&["contract", "deal", "run", "--concluded"]);
    let id = env.ingest(b"loading data", &["--class", "loading-data", "--contract", "run"]);
    // In operation: the operator reads it.
    env.ok(&["dataset", "get", &id]);
    // Ended, admin window open (OPS-4).
    env.ok(&["contract", "set", "run", "--ends", "2026-01-31", "--admin-window-until", "2099-12-31"]);
    let err = env.fails(&["dataset", "get", &id], 4);
    assert!(
        err.contains("refused (OPS-4): after the contract's end only the client's admin accounts read its data"),
        "{err}"
    );
    assert_eq!(env.ok(&["--as", "admin-a", "dataset", "get", &id]), "loading data");
    let err = env.fails(&["--as", "admin-b", "dataset", "get", &id], 1);
    assert!(err.contains("unknown dataset"), "{err}");
    // Handing data back stays possible (OPS-2).
    let key = env.path("client.key");
    let recipient = env.registered_key("admin-a", "acme", &key);
    env.ok(&["dataset", "export", &id, "--recipient", &recipient, "-o", env.path("x.age").to_str().unwrap()]);
    // ...to the client's own key only: the operator's key is refused (OPS-2), so ops
    // cannot read the data through an export inside the window (OPS-4).
    let own = age_keygen(&env.path("ops.key"));
    let err = env.fails(&["dataset", "export", &id, "--recipient", &own, "-o", env.path("z.age").to_str().unwrap()], 4);
    assert!(err.contains("refused (OPS-2)"), "{err}");
    assert!(!env.path("z.age").exists());
    // Window closed: custody only (ARC-1), nobody reads, the operator can still hand back.
    env.ok(&["contract", "set", "run", "--admin-window-until", "2026-02-28"]);
    let err = env.fails(&["--as", "admin-a", "dataset", "get", &id], 4);
    assert!(err.contains("refused (ARC-1): the admin window has closed"), "{err}");
    env.ok(&["dataset", "export", &id, "--recipient", &recipient, "-o", env.path("y.age").to_str().unwrap()]);
    let explain = env.run(&[
        "--as",
        "admin-a",
        "policy",
        "explain",
        "--action",
        "dataset:get",
        "--resource",
        &format!("dataset:{id}"),
    ]);
    assert_eq!(explain.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&explain.stdout).starts_with("DENY (ARC-1)"));
}

#[test]
fn approvals_are_decided_by_the_clients_signer_expire_and_can_be_revoked() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"gradebook export", &[]);
    let err = env.fails(&["--as", "tiers", "dataset", "get", &id], 4);
    assert!(err.contains("refused (CONF-2): third parties have no access to client data"), "{err}");
    let ask = |extra: &[&str]| {
        let mut a = vec!["approval", "request", "disclosure", "--client", "acme", "--for", "tiers", "--dataset", &id];
        a.extend_from_slice(extra);
        a.extend(["--scope", "the gradebook export, for the external audit"]);
        env.ok(&a).trim().to_owned()
    };
    let ap = ask(&[]);
    // Nobody else decides: not the operator, not another client's signer, not an admin.
    // (Another client's signer is told the approval does not exist, as for any unknown id.)
    let err = env.fails(&["--as", "signer-b", "approval", "decide", &ap, "--approve"], 1);
    assert!(err.contains(&format!("unknown approval '{ap}'")), "{err}");
    for (who, clause) in [("operator", "CONF-1"), ("admin-a", "CONF-1")] {
        let err = env.fails(&["--as", who, "approval", "decide", &ap, "--approve"], 4);
        let cited = err.split_once("refused (").and_then(|(_, r)| r.split_once(')')).map(|(c, _)| c);
        assert!(cited.is_some_and(|c| c.split(", ").any(|x| x == clause)), "{who}: {err}");
    }
    // A signer's own request is not theirs to approve.
    let own = env
        .ok(&[
            "--as",
            "signer-a",
            "approval",
            "request",
            "disclosure",
            "--client",
            "acme",
            "--for",
            "tiers",
            "--dataset",
            &id,
            "--scope",
            "my own request, to myself",
        ])
        .trim()
        .to_owned();
    let err = env.fails(&["--as", "signer-a", "approval", "decide", &own, "--approve"], 4);
    assert!(err.contains("nobody approves their own request"), "{err}");

    env.ok(&["--as", "signer-a", "approval", "decide", &ap, "--approve", "--comment", "audit only"]);
    assert_eq!(env.ok(&["--as", "tiers", "dataset", "get", &id]), "gradebook export");
    let e = last_event(&env);
    assert!(e.contains("actor person:tiers") && e.contains("decision allow CONF-1"), "{e}");
    let err = env.fails(&["--as", "signer-a", "approval", "decide", &ap, "--refuse"], 1);
    assert!(err.contains("was already approved"), "{err}");
    // The scope cannot change after the request, not even behind gardien's back.
    let err = env.sql_fails(&format!("UPDATE approvals SET scope = 'everything' WHERE id = '{ap}'"));
    assert!(err.contains("cannot change after the request"), "{err}");
    // Revoked: the access stops at once.
    env.ok(&["approval", "revoke", &ap]);
    let err = env.fails(&["--as", "tiers", "dataset", "get", &id], 4);
    assert!(err.contains("refused (CONF-2)"), "{err}");
    // An approval whose --until has passed gives nothing.
    // (No date here depends on today's: the approval runs through 2098, and the third
    // party tries the day after under faketime.)
    let soon = ask(&["--until", "2098-12-31"]);
    env.ok(&["--as", "signer-a", "approval", "decide", &soon, "--approve"]);
    env.ok(&["--as", "tiers", "dataset", "get", &id]);
    env.ok_at("2098-12-31 23:59:00", &["--as", "tiers", "dataset", "get", &id]);
    let err = env.fails_at("2099-01-01 00:00:01", &["--as", "tiers", "dataset", "get", &id], 4);
    assert!(err.contains("refused (CONF-2)"), "{err}");
    let events = env.sql("SELECT count(*) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%action approval:%'");
    assert!(events.parse::<u32>().unwrap() >= 9, "every transition is an event: {events}");
}

#[test]
fn bad_approval_requests_are_refused_and_change_nothing() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"x", &[]);
    env.ok(&["person", "add", "tiers-b", "--role", "third-party", "--client", "beta"]);
    env.ok(&["person", "add", "gone", "--role", "third-party", "--client", "acme"]);
    env.ok(&["person", "disable", "gone"]);
    let req = |kind: &'static str, extra: &[&'static str]| -> Vec<String> {
        let mut a = vec!["approval", "request", kind, "--client", "acme"];
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect()
    };
    let with = |mut a: Vec<String>, more: &[&str]| {
        a.extend(more.iter().map(|s| s.to_string()));
        a
    };
    let scope = ["--scope", "a long enough scope"];
    let unknown = format!("unknown dataset '{id}'");
    env.with_tech();
    let before = env.snapshot();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (req("gossip", &scope), "unknown approval kind 'gossip'"),
        (with(req("observation", &["--for", "tiers", "--scope", "short"]), &["--dataset", &id]), "CONF-4"),
        (
            vec![
                "approval",
                "request",
                "disclosure",
                "--client",
                "nobody",
                "--for",
                "tiers",
                "--scope",
                "a long enough scope",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "unknown client 'nobody'",
        ),
        // Another client's dataset answers as an unknown one.
        (
            with(
                vec![
                    "approval",
                    "request",
                    "disclosure",
                    "--client",
                    "beta",
                    "--for",
                    "tiers-b",
                    "--scope",
                    "a long enough scope",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
                &["--dataset", &id],
            ),
            &unknown,
        ),
        (
            with(req("disclosure", &["--for", "ghost", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "unknown person 'ghost'",
        ),
        // An approval names whom it lets in (a third party of this client, active)...
        (with(req("disclosure", &scope), &["--dataset", &id]), "names the person it lets in: --for HANDLE"),
        (with(req("observation", &scope), &["--dataset", &id]), "names the person it lets in: --for HANDLE"),
        (
            with(req("disclosure", &["--for", "tiers-b", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "unknown person 'tiers-b'",
        ),
        (
            with(req("disclosure", &["--for", "admin-a", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "'admin-a' is not one",
        ),
        (
            with(req("disclosure", &["--for", "gone", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "unknown person 'gone'",
        ),
        // ...and what it opens: never "everything of the client's".
        (req("observation", &["--for", "tiers", "--scope", "metadata only, no names"]), "names the datasets it opens"),
        (req("disclosure", &["--for", "tiers", "--scope", "a long enough scope"]), "names the datasets it opens"),
        (req("server-access", &scope), "catalog of maneuvers"),
        (
            with(req("sample-reuse", &["--for", "jdupont", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "not a pre-sales sample",
        ),
        (
            with(
                req("disclosure", &["--for", "tiers", "--until", "2020-01-01", "--scope", "a long enough scope"]),
                &["--dataset", &id],
            ),
            "already past",
        ),
        (
            with(
                req("disclosure", &["--for", "tiers", "--until", "1999-01-01", "--scope", "a long enough scope"]),
                &["--dataset", &id],
            ),
            "out of range",
        ),
        // Control characters could hide part of the scope from the signer (CONF-4).
        (
            with(
                req(
                    "observation",
                    &["--for", "tiers", "--scope", "metadata only\u{1b}[8m, and every gradebook with names"],
                ),
                &["--dataset", &id],
            ),
            "control character U+001B",
        ),
        (
            with(req("observation", &["--for", "tiers", "--scope", "metadata only\rnames too"]), &["--dataset", &id]),
            "control character U+000D",
        ),
        // A name where an id is expected never reaches the ledger.
        (
            with(req("disclosure", &["--for", "Jeanne Dupont", "--scope", "a long enough scope"]), &["--dataset", &id]),
            "invalid handle 'Jeanne Dupont'",
        ),
    ];
    for (args, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = env.fails(&args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let cases: &[(&[&str], &str)] = &[(&["approval", "show", "ap-000000000000"], "unknown approval 'ap-000000000000'")];
    for (args, needle) in cases {
        let err = env.fails(args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(env.snapshot(), before);
    // A client's technical staff may ask for server access, with its catalog, and nothing else.
    env.ok(&["person", "add", "tech-a", "--role", "client-tech", "--client", "acme"]);
    env.ok(&[
        "server",
        "add",
        "moodle-acme-1",
        "--site",
        "fr-roubaix",
        "--kind",
        "dedicated",
        "--client",
        "acme",
        "--address",
        "192.0.2.10",
    ]);
    for (id, program) in [("restart-php", "/usr/bin/systemctl"), ("read-logs", "/usr/bin/journalctl")] {
        env.ok(&[
            "maneuver",
            "add",
            id,
            "--program",
            program,
            "--max-ttl",
            "1h",
            "--description",
            "a maneuver of the catalog",
        ]);
    }
    env.ok(&[
        "--as",
        "tech-a",
        "approval",
        "request",
        "server-access",
        "--client",
        "acme",
        "--server",
        "moodle-acme-1",
        "--maneuver",
        "restart-php",
        "--maneuver",
        "read-logs",
        "--scope",
        "on-call for the exam week",
    ]);
    let err = env.fails(
        &["--as", "tech-a", "approval", "request", "disclosure", "--client", "acme", "--scope", "a long enough scope"],
        4,
    );
    assert!(err.contains("refused (OPS-1)"), "{err}");
}

#[test]
fn where_a_sample_may_go() {
    let env = Env::new();
    people(&env);
    env.with_tech();
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2099-06-30"]);
    let id = env.ingest(b"sample rows", &["--class", "presales-sample", "--contract", "trial"]);
    env.ok(&["environment", "add", "preprod", "--kind", "online", "--holder", TECH]);
    env.ok(&["environment", "add", "laptop-other", "--kind", "local-test", "--holder", "operator"]);
    env.ok(&["environment", "add", "laptop-2", "--kind", "local-test", "--holder", TECH]);
    let out = |who: &str, envname: &str| {
        vec![
            "--as".to_owned(),
            who.to_owned(),
            "copy".into(),
            "out".into(),
            id.clone(),
            "--env".into(),
            envname.into(),
            "-o".into(),
            env.path(&format!("{who}-{envname}")).to_string_lossy().into_owned(),
            "--force".into(),
        ]
    };
    let fails = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = env.fails(&a, 4);
        assert!(err.contains(needle), "{a:?}: {err}");
    };
    fails(
        out("operator", "laptop-other"),
        "refused (PRE-3): a pre-sales sample is read only by the technical operator it is addressed to",
    );
    fails(
        out(TECH, "preprod"),
        "refused (PRE-5): a pre-sales sample is installed only on a local test environment, never online",
    );
    fails(
        out(TECH, "laptop-other"),
        "refused (PRE-3): a pre-sales sample goes only to an environment its technical operator holds",
    );
    let ok = |args: Vec<String>| env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    ok(out(TECH, "laptop-qa-3"));
    ok(out(TECH, "laptop-qa-3")); // the same machine again: not another environment
    fails(
        out(TECH, "laptop-2"),
        "refused (PRE-4): re-using a sample in another environment needs its original provider's approval",
    );
    let ap = env
        .ok(&[
            "--as",
            TECH,
            "approval",
            "request",
            "sample-reuse",
            "--client",
            "acme",
            "--dataset",
            &id,
            "--for",
            TECH,
            "--scope",
            "a second laptop for the load test",
        ])
        .trim()
        .to_owned();
    env.ok(&["--as", "signer-a", "approval", "decide", &ap, "--approve"]);
    ok(out(TECH, "laptop-2"));
    // Listings show a technical operator the samples addressed to them, nothing else.
    let other = env.ingest(b"another client's backup", &[]);
    let listed = env.ok(&["--as", TECH, "dataset", "list"]);
    assert!(listed.contains(&id) && !listed.contains(&other), "{listed}");
    let all = env.ok(&["dataset", "list"]);
    assert!(all.contains(&id) && all.contains(&other), "{all}");
    assert!(env.ok(&["--as", TECH, "copy", "list"]).contains("laptop-2"));
    let err = env.fails(&["environment", "add", "cloud", "--kind", "somewhere"], 1);
    assert!(err.contains("unknown environment kind 'somewhere'"), "{err}");
    let sample =
        ["dataset", "ingest", "/etc/hostname", "--client", "acme", "--class", "presales-sample", "--contract", "trial"];
    for (to, needle) in
        [(&[][..], "give --to HANDLE"), (&["--to", "admin-a"][..], "addressed to an active technical operator")]
    {
        let err = env.fails(&[&sample[..], to].concat(), 1);
        assert!(err.contains(needle), "{to:?}: {err}");
    }
}

#[test]
fn the_operators_policy_files_are_checked_with_file_and_line_and_cannot_open_a_forbid() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"x", &[]);
    let cand = env.path("site.cedar");
    std::fs::write(
        &cand,
        "@clause(\"OPS-1\")\npermit (principal, action, resource)\nwhen { principal.rol == \"x\" };\n",
    )
    .unwrap();
    let err = env.fails(&["policy", "validate", cand.to_str().unwrap()], 1);
    assert!(err.contains("site.cedar:3:") && err.contains("rol"), "{err}");
    std::fs::write(&cand, "@clause(\"OPS-1\")\n\npermit (principal action, resource);\n").unwrap();
    let err = env.fails(&["policy", "validate", cand.to_str().unwrap()], 1);
    assert!(err.contains("site.cedar:3:"), "{err}");
    // Installed broken, it stops everything (fail closed) but validate names the problem.
    let dir = env.data.join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&cand, dir.join("site.cedar")).unwrap();
    let err = env.fails(&["dataset", "list"], 1);
    assert!(err.contains("site.cedar:3:") && err.contains("policy does not validate"), "{err}");
    env.fails(&["policy", "validate"], 1);
    // A permissive addition cannot open what a clause forbids.
    std::fs::write(
        dir.join("site.cedar"),
        "@id(\"open-bar\")\n@clause(\"OPS-1\")\npermit (principal, action, resource);\n",
    )
    .unwrap();
    env.ok(&["policy", "validate"]);
    assert!(env.ok(&["policy", "show"]).contains("open-bar"));
    let err = env.fails(&["--as", "tiers", "dataset", "get", &id], 4);
    assert!(err.contains("refused (CONF-2)"), "{err}");
    // (Another client's person is answered as for an unknown id: refused under OPS-1.)
    let err = env.fails(&["--as", "admin-b", "dataset", "get", &id], 1);
    assert!(err.contains("unknown dataset"), "{err}");
    assert!(last_event(&env).contains("decision deny OPS-1"));
}

#[test]
fn explain_says_allow_or_deny_with_clauses_and_rejects_bad_questions() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"x", &[]);
    let r = format!("dataset:{id}");
    let out = env.ok(&["--as", "admin-a", "policy", "explain", "--action", "dataset:get", "--resource", &r]);
    assert!(out.starts_with("ALLOW (OPS-2)"), "{out}");
    let json = env.ok(&[
        "--as",
        "tiers",
        "policy",
        "explain",
        "--action",
        "dataset:get",
        "--resource",
        &r,
        "--context",
        r#"{"approvals": ["observation"]}"#,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((v["decision"].as_str(), v["clauses"][0].as_str()), (Some("ALLOW"), Some("CONF-4")), "{v}");
    let e = last_event(&env);
    assert!(e.contains("action policy:explain") && e.contains("actor person:tiers"), "{e}");
    for (args, needle) in [
        (vec!["--action", "dataset:eat", "--resource", r.as_str()], "unknown action 'dataset:eat'"),
        (vec!["--action", "dataset:get", "--resource", "ds-1"], "is not a resource: write KIND:ID"),
        (vec!["--action", "dataset:get", "--resource", "planet:mars"], "unknown resource kind 'planet'"),
        (vec!["--action", "dataset:get", "--resource", "dataset:ds-0000000000000000"], "unknown dataset"),
        (vec!["--action", "dataset:get", "--resource", "client:acme"], "dataset:get acts on a dataset"),
        (
            vec!["--action", "dataset:get", "--resource", r.as_str(), "--context", "{\"colour\": 1}"],
            "unknown key 'colour'",
        ),
        (
            vec!["--action", "dataset:get", "--resource", r.as_str(), "--context", "{\"approvals\": [\"bribe\"]}"],
            "unknown approval kind 'bribe'",
        ),
    ] {
        let mut a = vec!["policy", "explain"];
        a.extend(args);
        let err = env.fails(&a, 1);
        assert!(err.contains(needle), "{a:?}: {err}");
    }
    let err = env.fails(&["--as", "ghost", "policy", "explain", "--action", "dataset:get", "--resource", &r], 4);
    assert!(err.contains("'ghost' is not a registered person"), "{err}");
}

#[test]
fn public_mentions_list_every_approved_material_reuse_in_french_and_english() {
    let env = Env::new();
    people(&env);
    let course = env.ingest(b"algebra course", &[]);
    let ap = env
        .ok(&[
            "approval",
            "request",
            "material-reuse",
            "--client",
            "acme",
            "--for",
            "operator",
            "--dataset",
            &course,
            "--scope",
            "the algebra course, shown on the demonstrator",
        ])
        .trim()
        .to_owned();
    let page = env.ok(&["public-mentions"]);
    assert!(page.contains("Aucun accord en vigueur"), "not before the signer's decision: {page}");
    env.ok(&["--as", "signer-a", "approval", "decide", &ap, "--approve"]);
    let out = env.path("mentions.md");
    env.ok(&["public-mentions", "-o", out.to_str().unwrap()]);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(
        page.contains("## ACME Formation")
            && page.contains("the algebra course")
            && page.contains("Accord du / Agreed on"),
        "{page}"
    );
    env.ok(&["approval", "revoke", &ap]);
    assert!(!env.ok(&["public-mentions"]).contains("ACME"));
}

/// A client's admin checks its own access log with proofs anyone can verify (PROOF-1), and
/// reads no entry about another client or about the operator alone.
#[test]
fn a_client_admin_proves_entries_of_its_own_access_log_only() {
    let env = Env::new();
    people(&env);
    let id = env.ingest(b"acme data", &[]);
    let list = env.ok(&["--as", "admin-a", "ledger", "list", "--client", "acme", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&list).unwrap();
    let ingest = events.as_array().unwrap().iter().find(|e| e["action"] == "dataset:ingest").unwrap()["index"]
        .as_u64()
        .unwrap()
        .to_string();
    let entry = env.path("entry");
    env.ok(&["--as", "admin-a", "ledger", "entry", &ingest, "-o", entry.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&entry).unwrap().contains(&format!("resource dataset:{id}")));
    let proof = env.path("proof");
    std::fs::write(&proof, env.ok(&["--as", "admin-a", "ledger", "proof", &ingest])).unwrap();
    let key = env.ok(&["--as", "admin-a", "ledger", "key"]);
    env.ok(&[
        "--data-dir",
        "/nonexistent",
        "ledger",
        "verify-proof",
        "--key",
        key.trim(),
        "--proof",
        proof.to_str().unwrap(),
        "--entry",
        entry.to_str().unwrap(),
    ]);
    // Entry 0 is the vault's creation (no client); another client's entries are theirs.
    env.fails(&["--as", "admin-a", "ledger", "entry", "0"], 4);
    let err = env.fails(&["--as", "admin-b", "ledger", "proof", &ingest], 4);
    assert!(err.contains("refused (OPS-1)"), "{err}");
}
