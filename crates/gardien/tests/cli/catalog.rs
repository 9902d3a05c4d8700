//! The catalog on PostgreSQL: `init --catalog` and `catalog migrate --to` (issue 14). The
//! rest of the suite runs on PostgreSQL in scripts/test's second pass
//! (`GARDIEN_TEST_CATALOG=postgres`); these tests need the test PostgreSQL in either pass.

use crate::common::*;

/// A SQLite data dir whatever the pass, with acme.
fn sqlite_env() -> Env {
    let env = Env::bare();
    env.ok(&["init", "--operator", "hebergeur.example"]);
    env.ok(&["client", "add", "acme", "--name", "ACME Formation"]);
    env
}

#[test]
fn a_populated_data_dir_moves_to_postgresql_with_the_same_ledger() {
    let pg = PgTest::server();
    let env = sqlite_env();
    let id = env.ingest(b"a backup kept in custody", &[]);
    let exp = env.ingest(b"an export, destroyed 30 days on", &["--class", "export"]);
    let cp1 = env.path("cp1");
    std::fs::write(&cp1, env.ok(&["ledger", "checkpoint"])).unwrap();
    // A destruction (with its certificate), an approval, a person: rows of every kind.
    env.ok_at("2099-01-01", &["sweep"]);
    assert!(env.ok(&["certificate", "list"]).contains(&exp));
    env.ok(&["person", "add", "auditor", "--role", "third-party", "--client", "acme"]);
    env.ok(&[
        "approval",
        "request",
        "disclosure",
        "--client",
        "acme",
        "--for",
        "auditor",
        "--dataset",
        &id,
        "--scope",
        "the backup, for the audit",
    ]);
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    let cp2 = env.path("cp2");
    std::fs::write(&cp2, env.ok(&["ledger", "checkpoint"])).unwrap();
    let config_before = std::fs::read_to_string(env.data.join("gardien.toml")).unwrap();

    // Abuse first: a client's admin, a password in the URL, a catalog already in use.
    let (_, url) = pg.new_schema();
    env.fails(&["--as", "admin-acme", "catalog", "migrate", "--to", &url], 4);
    let with_password = url.replacen("postgres@", "postgres:hunter2@", 1);
    let err = env.fails(&["catalog", "migrate", "--to", &with_password], 1);
    assert!(err.contains("PGPASSWORD") && !err.contains("hunter2"), "{err}");
    let other = Env::bare();
    let (_, used) = pg.new_schema();
    other.ok(&["init", "--operator", "other.example", "--catalog", &used]);
    let err = env.fails(&["catalog", "migrate", "--to", &used], 1);
    assert!(err.contains("not empty"), "{err}");
    // An ingest under way in another process: refused, nothing switched; once it is done,
    // the move goes ahead with its dataset.
    let mut live = held_ingest(&env, &env.data);
    wait_pending(|| env.sql("SELECT count(*) FROM datasets WHERE state = 'pending'"), "1");
    let err = env.fails(&["catalog", "migrate", "--to", &url], 1);
    assert!(err.contains("under way"), "{err}");
    drop(live.stdin.take());
    assert!(live.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(env.data.join("gardien.toml")).unwrap(), config_before);
    assert!(env.data.join("catalog.db").exists());

    let out = env.ok(&["catalog", "migrate", "--to", &url]);
    assert!(out.contains("the same on both sides"), "{out}");
    assert!(out.contains("ledger verify on PostgreSQL: ok"), "{out}");
    assert!(out.contains("copied datasets: 3 rows"), "{out}");
    assert!(!env.data.join("catalog.db").exists(), "the SQLite catalog is removed");
    assert!(std::fs::read_to_string(env.data.join("gardien.toml")).unwrap().contains("catalog = "));

    // Everything reads back from PostgreSQL: the data, the destruction, the approval, and
    // both checkpoints signed on SQLite are consistent with the log as it goes on.
    assert_eq!(env.ok(&["dataset", "get", &id]).as_bytes(), b"a backup kept in custody");
    assert!(env.ok(&["certificate", "list"]).contains(&exp));
    assert!(env.ok(&["approval", "list"]).contains("disclosure"));
    env.ingest(b"written after the move", &[]);
    env.ok(&["ledger", "consistency", "--from", cp1.to_str().unwrap()]);
    env.ok(&["ledger", "consistency", "--from", cp2.to_str().unwrap()]);
    let verify = env.ok(&["ledger", "verify"]);
    assert!(verify.starts_with("ok:"), "{verify}");
    let err = env.fails(&["catalog", "migrate", "--to", &url], 1);
    assert!(err.contains("on PostgreSQL already"), "{err}");
}

#[test]
fn init_on_postgresql_refuses_what_it_cannot_use() {
    let pg = PgTest::server();
    let env = Env::bare();
    // No server there: a clear error, and no data dir left behind that looks complete.
    let err = env.fails(&["init", "--catalog", "postgres://gardien@/none?host=/nonexistent"], 1);
    assert!(err.contains("cannot reach the catalog"), "{err}");
    assert!(!env.data.join("gardien.toml").exists());
    let err = env.fails(&["init", "--catalog", "mysql://x@y/z"], 1);
    assert!(err.contains("not a PostgreSQL URL"), "{err}");
    // A connection string of the key=value form is refused without being repeated.
    let err = env.fails(&["init", "--catalog", "host=/tmp user=gardien password=Sekr1tPW dbname=x"], 1);
    assert!(err.contains("not a PostgreSQL URL") && !err.contains("Sekr1tPW"), "{err}");
    // A second data dir on a catalog in use, even with the same master key: a node is a
    // copy of the data dir, never a second init (its signing key would not be the log's).
    let (_, url) = pg.new_schema();
    env.ok(&["init", "--operator", "a.example", "--catalog", &url]);
    let other = Env::bare();
    let err = other.fails(&["init", "--operator", "b.example", "--catalog", &url], 1);
    assert!(err.contains("already belongs to a data dir"), "{err}");
    let err = other.fails(
        &[
            "--master-key",
            env.data.join("keys/master.key").to_str().unwrap(),
            "init",
            "--operator",
            "evil.example",
            "--catalog",
            &url,
        ],
        1,
    );
    assert!(err.contains("already belongs to a data dir"), "{err}");
}

/// An ingest reading from a pipe the test holds open: pending until the pipe closes.
fn held_ingest(env: &Env, data_dir: &std::path::Path) -> std::process::Child {
    use std::io::Write as _;
    let mut child = env
        .cmd(&["dataset", "ingest", "-", "--client", "acme", "--class", "other"])
        .env("GARDIEN_DATA_DIR", data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.as_mut().unwrap().write_all(&[7u8; 100_000]).unwrap();
    child
}

fn wait_pending(count: impl Fn() -> String, want: &str) {
    let start = std::time::Instant::now();
    while count() != want {
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "no pending ingest appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_live_ingest_on_one_node_is_left_alone_by_the_other_and_a_dead_one_is_cleaned() {
    let pg = PgTest::server();
    let (schema, url) = pg.new_schema();
    let env = Env::bare();
    env.ok(&["init", "--operator", "hebergeur.example", "--catalog", &url]);
    env.ok(&["client", "add", "acme", "--name", "ACME Formation"]);
    let node_b = env.path("node-b");
    assert!(std::process::Command::new("cp").arg("-a").arg(&env.data).arg(&node_b).status().unwrap().success());
    let on_b = |args: &[&str]| {
        let out = env.cmd(args).env("GARDIEN_DATA_DIR", &node_b).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let pending = || pg.sql(&schema, "SELECT count(*) FROM datasets WHERE state = 'pending'");

    // Alive on node A: node B's commands (each opens the catalog and recovers) and its
    // fsck leave it alone, and it lands.
    let mut live = held_ingest(&env, &env.data);
    wait_pending(pending, "1");
    assert_eq!(on_b(&["dataset", "list"]).0, Some(0));
    let (code, out) = on_b(&["fsck"]);
    assert!(out.contains("in progress: ingest"), "{code:?} {out}");
    drop(live.stdin.take());
    let done = live.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let id = String::from_utf8(done.stdout).unwrap().trim().to_owned();
    assert_eq!(on_b(&["dataset", "get", &id]).0, Some(0));

    // Dead on node A (SIGKILL): node B cleans it, and nothing of it is visible.
    let mut dead = held_ingest(&env, &env.data);
    wait_pending(pending, "1");
    dead.kill().unwrap();
    dead.wait().unwrap();
    let (code, out) = on_b(&["fsck"]);
    assert_eq!(pending(), "0", "{code:?} {out}");
    assert_eq!(pg.sql(&schema, "SELECT count(*) FROM datasets"), "1");
    let verify = env.ok(&["ledger", "verify"]);
    assert!(verify.starts_with("ok:"), "{verify}");
}
