//! The servers' inventory (issue 13): LOC-1 (where), ACC-1/ACC-2 (whose), WEB-2 (what a
//! shared server hosts); who sees what; bad input refused with a clear error, changing
//! nothing.

use crate::common::Env;

fn people(env: &Env) {
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    for (h, role, c) in [
        ("admin-acme", "client-admin", "acme"),
        ("tech-acme", "client-tech", "acme"),
        ("signer-acme", "client-signer", "acme"),
        ("admin-beta", "client-admin", "beta"),
    ] {
        env.ok(&["person", "add", h, "--role", role, "--client", c]);
    }
    env.ok(&["person", "add", "sally", "--role", "sales"]);
}

/// `server add` from "NAME SITE KIND CLIENT|- ADDRESS".
fn add(env: &Env, spec: &str) {
    let f: Vec<&str> = spec.split_whitespace().collect();
    let mut args = vec!["server", "add", f[0], "--site", f[1], "--kind", f[2], "--address", f[4]];
    if f[3] != "-" {
        args.extend(["--client", f[3]]);
    }
    env.ok(&args);
}

fn servers(env: &Env) -> String {
    env.sql("SELECT group_concat(name, ',') FROM (SELECT name FROM servers ORDER BY name)")
}

#[test]
fn the_inventory_keeps_each_server_where_and_whose_it_may_be() {
    let env = Env::new();
    people(&env);
    add(&env, "mut-rbx-1 fr-roubaix shared - mut-rbx-1.hebergeur.example");
    add(&env, "acme-1 fr-strasbourg dedicated acme 192.0.2.10:2222");
    add(&env, "beta-1 fr-roubaix managed beta [2001:db8::1]");
    let shown = env.ok(&["server", "show", "acme-1", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(j["address"], "192.0.2.10:2222");
    assert_eq!(j["client"], "acme");
    let j: serde_json::Value = serde_json::from_str(&env.ok(&["server", "show", "beta-1", "--json"])).unwrap();
    assert_eq!(j["address"], "[2001:db8::1]:22");

    // Bad input with a bad site too: said as bad input (exit 1), not refused (LOC-1 last).
    let err =
        env.fails(&["server", "add", "k-1", "--site", "fr-paris", "--kind", "bogus", "--address", "k.example"], 1);
    assert!(err.contains("--kind"), "{err}");
    // LOC-1: no other site, whatever the name looks like.
    for site in ["de-frankfurt", "fr-paris", "FR-ROUBAIX", "fr-roubaix\n"] {
        let err = env.fails(&["server", "add", "x-1", "--site", site, "--kind", "shared", "--address", "x.example"], 4);
        assert!(err.contains("LOC-1"), "{site}: {err}");
    }
    // ACC-1 / ACC-2: a shared server is no client's; a dedicated or managed one is one client's.
    let err = env.fails(
        &[
            "server",
            "add",
            "x-1",
            "--site",
            "fr-roubaix",
            "--kind",
            "shared",
            "--client",
            "acme",
            "--address",
            "x.example",
        ],
        1,
    );
    assert!(err.contains("ACC-1"), "{err}");
    for kind in ["dedicated", "managed"] {
        let err =
            env.fails(&["server", "add", "x-1", "--site", "fr-roubaix", "--kind", kind, "--address", "x.example"], 1);
        assert!(err.contains("--client"), "{err}");
    }
    env.fails(
        &[
            "server",
            "add",
            "x-1",
            "--site",
            "fr-roubaix",
            "--kind",
            "dedicated",
            "--client",
            "nobody",
            "--address",
            "x.example",
        ],
        1,
    );
    env.fails(&["server", "add", "x-1", "--site", "fr-roubaix", "--kind", "virtual", "--address", "x.example"], 1);
    // Bad addresses and names: refused, said, nothing added.
    for address in [
        "",
        "x",
        "x.example:0",
        "x.example:70000",
        "-oProxyCommand=sh",
        "a b.example",
        "x.example:22:22",
        "ex\u{1b}[2J.example",
        "../etc",
        "[::1",
        "x.example:+22",
        "x.example:022",
        "x.example:",
        "0.0.0.0",
        "[::]",
        "255.255.255.255",
        "224.0.0.1:22",
        "[::ffff:1.2.3.4]",
        "2001:db8::1",
    ] {
        // `--address=VALUE`: a value starting with a dash reaches gardien, not clap.
        let arg = format!("--address={address}");
        let err = env.fails(&["server", "add", "x-1", "--site", "fr-roubaix", "--kind", "shared", &arg], 1);
        assert!(err.contains("--address"), "{address:?}: {err}");
        assert!(!err.contains('\u{1b}'), "no control character reaches the terminal");
    }
    for name in ["X-1", "x/1", "../x", "x\u{7}", ""] {
        env.fails(&["server", "add", name, "--site", "fr-roubaix", "--kind", "shared", "--address", "x.example"], 1);
    }
    let err = env
        .fails(&["server", "add", "acme-1", "--site", "fr-roubaix", "--kind", "shared", "--address", "y.example"], 1);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(servers(&env), "acme-1,beta-1,mut-rbx-1", "nothing else was added");
}

#[test]
fn another_application_than_moodle_is_refused_on_a_shared_server() {
    let env = Env::new();
    add(&env, "mut-rbx-1 fr-roubaix shared - mut-rbx-1.hebergeur.example");
    add(&env, "acme-1 fr-roubaix dedicated acme acme-1.hebergeur.example");
    env.ok(&["server", "app", "add", "mut-rbx-1", "--kind", "moodle", "--domain", "moodle.acme.example"]);
    let err = env.fails(&["server", "app", "add", "mut-rbx-1", "--kind", "other", "--domain", "wiki.acme.example"], 4);
    assert!(err.contains("WEB-2"), "{err}");
    env.ok(&["server", "app", "add", "acme-1", "--kind", "other", "--domain", "wiki.acme.example"]);
    // One domain, one application; bad domains refused.
    let err = env.fails(&["server", "app", "add", "acme-1", "--kind", "moodle", "--domain", "moodle.acme.example"], 1);
    assert!(err.contains("already"), "{err}");
    for d in
        ["localhost", "Moodle.acme.example", "moodle..example", "-x.example", "x.example.", "a_b.example", "1.2.3.4"]
    {
        env.fails(&["server", "app", "add", "acme-1", "--kind", "moodle", &format!("--domain={d}")], 1);
    }
    env.fails(&["server", "app", "add", "acme-1", "--kind", "php", "--domain", "x.acme.example"], 1);
    env.fails(&["server", "app", "add", "nowhere", "--kind", "moodle", "--domain", "y.acme.example"], 1);
    let shown = env.ok(&["server", "show", "mut-rbx-1"]);
    assert!(shown.contains("moodle.acme.example (moodle)") && !shown.contains("wiki"), "{shown}");
    // The refusal is in the ledger, with its clause.
    let log = env.ok(&["ledger", "list"]);
    assert!(log.lines().any(|l| l.contains("server:app-add") && l.contains("denied") && l.contains("WEB-2")), "{log}");
}

#[test]
fn a_clients_people_see_its_own_servers_only_and_unknown_and_not_yours_answer_alike() {
    let env = Env::new();
    people(&env);
    env.ok(&["server", "add", "mut-rbx-1", "--site", "fr-roubaix", "--kind", "shared", "--address", "mut.example"]);
    add(&env, "acme-1 fr-roubaix dedicated acme acme-1.example");
    add(&env, "beta-1 fr-roubaix dedicated beta beta-1.example");
    for who in ["admin-acme", "tech-acme"] {
        let list = env.ok(&["--as", who, "server", "list", "--client", "acme"]);
        assert!(list.contains("acme-1") && !list.contains("beta-1") && !list.contains("mut-rbx-1"), "{who}: {list}");
        env.ok(&["--as", who, "server", "show", "acme-1"]);
        // Vault-wide: refused, they name their client.
        env.fails(&["--as", who, "server", "list"], 4);
        // Another client's, a shared one, and one that does not exist: the same answer.
        let other = env.run(&["--as", who, "server", "show", "beta-1"]);
        let shared = env.run(&["--as", who, "server", "show", "mut-rbx-1"]);
        let unknown = env.run(&["--as", who, "server", "show", "nowhere"]);
        assert_eq!(other.status.code(), unknown.status.code(), "{who}");
        assert_eq!(
            String::from_utf8_lossy(&other.stderr).replace("beta-1", "X"),
            String::from_utf8_lossy(&unknown.stderr).replace("nowhere", "X"),
            "{who}: not yours answers as unknown"
        );
        assert_eq!(shared.status.code(), unknown.status.code(), "{who}");
        // Another client named: as an unknown one.
        let beta = env.run(&["--as", who, "server", "list", "--client", "beta"]);
        let nobody = env.run(&["--as", who, "server", "list", "--client", "nobody"]);
        assert_eq!(beta.status.code(), nobody.status.code(), "{who}");
        assert_eq!(
            String::from_utf8_lossy(&beta.stderr).replace("beta", "X"),
            String::from_utf8_lossy(&nobody.stderr).replace("nobody", "X")
        );
        env.fails(
            &[
                "--as",
                who,
                "server",
                "add",
                "z-1",
                "--site",
                "fr-roubaix",
                "--kind",
                "dedicated",
                "--client",
                "acme",
                "--address",
                "z.example",
            ],
            4,
        );
        env.fails(
            &["--as", who, "server", "app", "add", "acme-1", "--kind", "moodle", "--domain", "m.acme.example"],
            4,
        );
    }
    for who in ["signer-acme", "sally"] {
        env.fails(&["--as", who, "server", "show", "acme-1"], 4);
    }
    env.ok(&["person", "disable", "admin-acme"]);
    env.fails(&["--as", "admin-acme", "server", "show", "acme-1"], 4);
}
