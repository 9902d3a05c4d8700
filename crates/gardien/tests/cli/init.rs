//! `init`, stores and clients.

use std::os::unix::fs::PermissionsExt as _;

use crate::common::*;

#[test]
fn init_creates_keys_catalog_config_and_the_default_store() {
    let env = Env::bare();
    env.ok(&["init", "--operator", "hebergeur.example"]);
    for f in ["gardien.toml", "catalog.db", "keys/master.key", "keys/signing.key"] {
        assert!(env.data.join(f).exists(), "{f} missing");
    }
    for key in ["keys/master.key", "keys/signing.key"] {
        let mode = std::fs::metadata(env.data.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let master = std::fs::read_to_string(env.data.join("keys/master.key")).unwrap();
    assert!(master.contains("AGE-SECRET-KEY-1"), "the master key is an age identity");
    let signing = std::fs::read_to_string(env.data.join("keys/signing.key")).unwrap();
    assert!(signing.starts_with("PRIVATE+KEY+hebergeur.example/gardien+"), "{signing}");
    let config = std::fs::read_to_string(env.data.join("gardien.toml")).unwrap();
    assert!(config.contains(r#"allowed_sites = ["fr-roubaix", "fr-strasbourg"]"#), "{config}");
    let stores: serde_json::Value = serde_json::from_str(&env.ok(&["store", "list", "--json"])).unwrap();
    assert_eq!(stores[0]["name"], "local");
    assert_eq!(stores[0]["site"], "fr-roubaix");
}

#[test]
fn init_twice_destroys_nothing() {
    let env = Env::new();
    let id = env.ingest(b"kept", &[]);
    let before = env.snapshot();
    let stderr = env.run(&["init", "--operator", "other.example"]);
    assert!(stderr.status.success());
    assert!(String::from_utf8_lossy(&stderr.stderr).contains("already initialised; nothing was changed"));
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.get(&id), b"kept");
}

#[test]
fn master_key_can_live_elsewhere() {
    let env = Env::bare();
    let medium = env.path("token/master.key");
    env.ok(&["init", "--master-key", medium.to_str().unwrap()]);
    assert!(medium.exists() && !env.data.join("keys/master.key").exists());
    env.ok(&["client", "add", "acme", "--name", "ACME"]);
    let id = env.ingest(b"on another medium", &[]);
    assert_eq!(env.get(&id), b"on another medium");
}

#[test]
fn a_store_outside_the_allowed_sites_is_refused_with_the_clause() {
    let env = Env::new();
    let before = env.snapshot();
    let path = env.path("virginia");
    let err = env.fails(&["store", "add", "virginia", "--site", "us-east-1", "--path", path.to_str().unwrap()], 4);
    assert!(err.contains("refused (LOC-1)") && err.contains("fr-roubaix, fr-strasbourg"), "{err}");
    assert_eq!(env.snapshot(), before);
    assert!(!path.exists(), "nothing created for a refused store");
}

#[test]
fn stores_and_clients_are_listed() {
    let env = Env::new();
    let sbg = env.path("sbg");
    env.ok(&["store", "add", "sbg-1", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()]);
    let list = env.ok(&["store", "list"]);
    assert!(list.contains("sbg-1") && list.contains("fr-strasbourg") && list.contains("local"), "{list}");
    let err = env.fails(&["store", "add", "sbg-1", "--site", "fr-strasbourg", "--path", sbg.to_str().unwrap()], 1);
    assert!(err.contains("store 'sbg-1' already exists"), "{err}");
    let clients: serde_json::Value = serde_json::from_str(&env.ok(&["client", "list", "--json"])).unwrap();
    assert_eq!(clients[0]["slug"], "acme");
    assert_eq!(clients[0]["name"], "ACME Formation");
    let err = env.fails(&["client", "add", "Bad Slug", "--name", "x"], 1);
    assert!(err.contains("invalid client 'Bad Slug'"), "{err}");
}

#[test]
fn init_refuses_a_directory_that_holds_other_things() {
    let env = Env::bare();
    std::fs::create_dir_all(&env.data).unwrap();
    std::fs::write(env.data.join("notes.txt"), "mine").unwrap();
    let err = env.fails(&["init"], 1);
    assert!(err.contains("is not empty and is not a gardien data dir (it holds 'notes.txt')"), "{err}");
    assert_eq!(walk(&env.data), [env.data.join("notes.txt")], "nothing added");
}

#[test]
fn two_stores_cannot_share_a_directory() {
    let env = Env::new();
    let local = env.data.join("stores/local");
    let before = env.snapshot();
    let err = env.fails(&["store", "add", "again", "--site", "fr-strasbourg", "--path", local.to_str().unwrap()], 1);
    assert!(err.contains("is already the directory of store 'local'"), "{err}");
    assert_eq!(env.snapshot(), before);
}
