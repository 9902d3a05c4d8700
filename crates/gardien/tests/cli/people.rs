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
