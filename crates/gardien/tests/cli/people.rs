//! People: who acts is checked by the door and named in every event.

use crate::common::*;

#[test]
fn the_actor_is_checked_and_named_in_every_event() {
    let env = Env::new();
    env.ok(&["person", "add", "jdupont", "--role", "ops", "--name", "Jeanne Dupont"]);
    env.ok(&["--as", "jdupont", "client", "list"]);
    assert!(last_event(&env).contains("actor person:jdupont\naction client:list"), "{}", last_event(&env));
    let out = env.cmd(&["client", "list"]).env("GARDIEN_AS", "jdupont").output().unwrap();
    assert!(out.status.success());
    assert!(last_event(&env).contains("actor person:jdupont"));
    assert!(
        !env.sql("SELECT group_concat(CAST(entry AS TEXT)) FROM ledger_entries").contains("Jeanne"),
        "names stay out of the log"
    );

    // Unknown or disabled: refused (OPS-1), recorded as denied, nothing done.
    let before = env.snapshot();
    let err = env.fails(&["--as", "mallory", "client", "add", "x", "--name", "X"], 4);
    assert!(err.contains("refused (OPS-1): 'mallory' is not a registered person"), "{err}");
    let e = last_event(&env);
    assert!(
        e.contains("actor person:mallory") && e.contains("decision deny OPS-1") && e.contains("outcome denied"),
        "{e}"
    );
    assert_eq!(env.snapshot(), before);
    env.ok(&["person", "disable", "jdupont"]);
    let err = env.fails(&["--as", "jdupont", "dataset", "list"], 4);
    assert!(err.contains("refused (OPS-1): person 'jdupont' was disabled on"), "{err}");
    // Known and enabled, but the policy gives a third party nothing of the client's.
    env.ok(&["person", "add", "tiers", "--role", "third-party", "--client", "acme"]);
    let err = env.fails(&["--as", "tiers", "dataset", "list", "--client", "acme"], 4);
    assert!(err.contains("refused (CONF-2): third parties have no access to client data"), "{err}");
    let e = last_event(&env);
    assert!(e.contains("actor person:tiers") && e.contains("outcome denied"), "{e}");
    let err = env.fails(&["person", "disable", "operator"], 1);
    assert!(err.contains("cannot be disabled"), "{err}");
}

#[test]
fn roles_and_clients_go_together() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (&["person", "add", "p1", "--role", "client-admin"], "belongs to one client: give --client SLUG"),
        (&["person", "add", "p2", "--role", "ops", "--client", "acme"], "has no --client"),
        (&["person", "add", "p3", "--role", "boss"], "unknown role 'boss'"),
        (&["person", "add", "p4", "--role", "client-signer", "--client", "nobody"], "unknown client 'nobody'"),
        (&["person", "add", "operator", "--role", "ops"], "person 'operator' already exists"),
        (&["person", "add", "Bad Handle", "--role", "ops"], "invalid handle"),
    ];
    let before = env.snapshot();
    for (args, needle) in cases {
        let err = env.fails(args, 1);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(env.snapshot(), before);
    env.ok(&["person", "add", "proviseur", "--role", "client-signer", "--client", "acme"]);
    let people: serde_json::Value = serde_json::from_str(&env.ok(&["person", "list", "--json"])).unwrap();
    assert_eq!(people.as_array().unwrap().len(), 2, "the operator from init, and the signer");
    assert_eq!(people[0]["handle"], "operator");
    assert_eq!(people[1]["client"], "acme");
}

/// Issue 15, first part: a person's address and language, set by ops for anyone or by the
/// person for themself; a bad address changes nothing; the ledger never holds the address.
#[test]
fn a_persons_address_and_language_are_ops_or_their_own() {
    let env = Env::new();
    env.ok(&[
        "person",
        "add",
        "proviseur",
        "--role",
        "client-signer",
        "--client",
        "acme",
        "--email",
        "proviseur@acme.example",
        "--lang",
        "en",
    ]);
    env.ok(&["person", "add", "cpe", "--role", "client-admin", "--client", "acme"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["person", "list", "--json"])).unwrap();
    let p = list.as_array().unwrap().iter().find(|p| p["handle"] == "proviseur").unwrap();
    assert_eq!((p["email"].as_str(), p["lang"].as_str()), (Some("proviseur@acme.example"), Some("en")));
    let c = list.as_array().unwrap().iter().find(|p| p["handle"] == "cpe").unwrap();
    assert_eq!((c["email"].as_str(), c["lang"].as_str()), (None, Some("fr")));
    // Their own, or ops'; not another person's (as an unknown person, across clients too).
    env.ok(&["--as", "cpe", "person", "contact", "cpe", "--email", "cpe@acme.example"]);
    let e = env.fails(&["--as", "cpe", "person", "contact", "proviseur", "--no-email"], 4);
    assert!(e.contains("refused"), "{e}");
    env.ok(&["person", "contact", "proviseur", "--no-email", "--lang", "fr"]);
    // Bad input changes nothing.
    let before = env.snapshot();
    for bad in
        ["not-an-address", "a b@acme.example", "x@localhost", "x@acme.example\\n", "é@acme.example", "@acme.example"]
    {
        env.fails(&["person", "contact", "cpe", "--email", bad], 1);
    }
    env.fails(&["person", "contact", "cpe", "--lang", "de"], 1);
    env.fails(&["person", "add", "x", "--role", "client-tech", "--client", "acme", "--email", "nope"], 1);
    assert_eq!(env.sql("SELECT count(*) FROM persons WHERE handle = 'x'"), "0");
    let after = env.snapshot();
    assert_eq!(before.1, after.1);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["person", "list", "--json"])).unwrap();
    let p = list.as_array().unwrap().iter().find(|p| p["handle"] == "proviseur").unwrap();
    assert_eq!((p["email"].as_str(), p["lang"].as_str()), (None, Some("fr")));
    // The ledger holds no address.
    let ledger = env.sql("SELECT group_concat(CAST(entry AS TEXT), '') FROM ledger_entries");
    assert!(!ledger.contains("@acme.example"));
    assert!(ledger.contains("action person:contact"));
}
