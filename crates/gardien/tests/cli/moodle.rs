//! Moodle restitution (issue 12) against real databases: Debian's PostgreSQL 15 and
//! MariaDB, started once per run by `scripts/test` (`tests/moodle/services`), on unix
//! sockets. A fixture builds a Moodle-shaped site (a realistic subset of Moodle's tables,
//! a few thousand rows, French text and emoji, a binary column, `mdl_files` with real
//! SHA-1 content hashes, and a moodledata with junk in every directory Moodle regenerates);
//! the client opens what gardien hands back with `age`, `tar`, `sha256sum`, `ssh-keygen`
//! and the database's own client, as the restore guide says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::*;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Pg,
    My,
}

fn pg_dir() -> String {
    std::env::var("GARDIEN_TEST_PG")
        .expect("GARDIEN_TEST_PG: run scripts/test, or eval \"$(tests/moodle/services start DIR)\" first")
}

fn my_sock() -> String {
    std::env::var("GARDIEN_TEST_MARIADB")
        .expect("GARDIEN_TEST_MARIADB: run scripts/test, or eval \"$(tests/moodle/services start DIR)\" first")
}

static DB_SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh database's name, unique in the run.
fn new_db(e: Engine) -> String {
    let name = format!("m{}_{}", std::process::id(), DB_SEQ.fetch_add(1, Ordering::SeqCst));
    match e {
        Engine::Pg => sql(e, "postgres", &format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'")),
        Engine::My => sql(e, "", &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")),
    };
    name
}

fn url(e: Engine, db: &str) -> String {
    match e {
        Engine::Pg => format!("postgres://postgres@/{db}?host={}", pg_dir()),
        Engine::My => format!("mysql://root@/{db}?socket={}", my_sock()),
    }
}

/// The engine's client on `db`, reading `input` on stdin.
fn client(e: Engine, db: &str) -> Command {
    match e {
        Engine::Pg => {
            let mut c = Command::new("psql");
            c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &pg_dir(), "-U", "postgres", "-d", db]);
            c
        }
        Engine::My => {
            let mut c = Command::new("mariadb");
            c.args(["--no-defaults", "--socket", &my_sock(), "-u", "root", "--batch", "--skip-column-names"]);
            c.arg("--default-character-set=utf8mb4");
            if !db.is_empty() {
                c.arg(db);
            }
            c
        }
    }
}

fn feed(mut c: Command, input: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn sql(e: Engine, db: &str, q: &str) -> String {
    feed(client(e, db), format!("{q};\n").as_bytes())
}

const TABLES: [&str; 6] = ["mdl_config", "mdl_user", "mdl_course", "mdl_context", "mdl_files", "mdl_forum_posts"];

/// A Moodle-shaped schema and rows: `users` users, their forum posts, and `files`.
fn fixture_sql(e: Engine, users: usize, files: &[(String, u64, String)]) -> String {
    let (serial, blob, text) = match e {
        Engine::Pg => ("BIGSERIAL PRIMARY KEY", "BYTEA", "TEXT"),
        Engine::My => ("BIGINT AUTO_INCREMENT PRIMARY KEY", "LONGBLOB", "LONGTEXT"),
    };
    let mut s = String::new();
    s.push_str(&format!(
        "CREATE TABLE mdl_config (id {serial}, name VARCHAR(255) NOT NULL, value {text} NOT NULL);\n\
         CREATE TABLE mdl_user (id {serial}, username VARCHAR(100) NOT NULL, firstname VARCHAR(100), lastname VARCHAR(100), email VARCHAR(100), password VARCHAR(255), timecreated BIGINT);\n\
         CREATE TABLE mdl_course (id {serial}, fullname VARCHAR(254), shortname VARCHAR(255), summary {text});\n\
         CREATE TABLE mdl_context (id {serial}, contextlevel BIGINT, instanceid BIGINT, path VARCHAR(255));\n\
         CREATE TABLE mdl_files (id {serial}, contenthash VARCHAR(40) NOT NULL, pathnamehash VARCHAR(40) NOT NULL, contextid BIGINT, component VARCHAR(100), filearea VARCHAR(50), itemid BIGINT, filepath VARCHAR(255), filename VARCHAR(255), userid BIGINT, filesize BIGINT NOT NULL, mimetype VARCHAR(100), status BIGINT, timecreated BIGINT, timemodified BIGINT, referencefileid BIGINT);\n\
         CREATE TABLE mdl_forum_posts (id {serial}, discussion BIGINT, userid BIGINT, subject VARCHAR(255), message {text}, attachment {blob});\n"
    ));
    let q = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let hexlit = |b: &[u8]| match e {
        Engine::Pg => format!("'\\x{}'::bytea", hex(b)),
        Engine::My => format!("X'{}'", hex(b)),
    };
    s.push_str("INSERT INTO mdl_config (name, value) VALUES ('version', '2024100700'), ('release', '4.5 (Build: 20241007)'), ('siteidentifier', 'abc123'), ('lang', 'fr');\n");
    for c in 1..=20 {
        s.push_str(&format!(
            "INSERT INTO mdl_course (fullname, shortname, summary) VALUES ({}, 'C{c}', {});\n",
            q(&format!("Cours n°{c} : éducation à l'écologie 🌱")),
            q("Résumé « avec guillemets » et\nretours à la ligne")
        ));
        s.push_str(&format!("INSERT INTO mdl_context (contextlevel, instanceid, path) VALUES (50, {c}, '/1/{c}');\n"));
    }
    for u in 1..=users {
        s.push_str(&format!(
            "INSERT INTO mdl_user (username, firstname, lastname, email, password, timecreated) VALUES ('eleve{u}', {}, 'Dupont-{u}', 'eleve{u}@lycee.example', '$2y$10$abcdefghijklmnopqrstuv', {});\n",
            q(if u % 3 == 0 { "Zoé" } else { "Jean-François" }),
            1_700_000_000 + u
        ));
        let attachment = pseudo_random(u % 97, u as u64);
        s.push_str(&format!(
            "INSERT INTO mdl_forum_posts (discussion, userid, subject, message, attachment) VALUES ({}, {u}, {}, {}, {});\n",
            u % 50,
            q(&format!("Re: devoir {u} — question")),
            q(&format!("Bonjour, voici ma réponse n°{u} 😀 avec des \"guillemets\", un \\ antislash et l'apostrophe.\nLigne 2\ttabulée.")),
            if u % 5 == 0 { "NULL".to_owned() } else { hexlit(&attachment) }
        ));
    }
    for (i, (hash, size, name)) in files.iter().enumerate() {
        s.push_str(&format!(
            "INSERT INTO mdl_files (contenthash, pathnamehash, contextid, component, filearea, itemid, filepath, filename, userid, filesize, mimetype, status, timecreated, timemodified) VALUES ('{hash}', '{:040x}', {}, 'mod_resource', 'content', 0, '/', {}, 2, {size}, 'application/octet-stream', 0, 1700000000, 1700000000);\n",
            i + 1,
            i % 20 + 1,
            q(name)
        ));
    }
    // A directory entry and an empty file: the empty content, never in filedir.
    s.push_str("INSERT INTO mdl_files (contenthash, pathnamehash, contextid, component, filearea, itemid, filepath, filename, userid, filesize, mimetype, status, timecreated, timemodified) VALUES ('da39a3ee5e6b4b0d3255bfef95601890afd80709', 'ffffffffffffffffffffffffffffffffffffffff', 1, 'user', 'draft', 1, '/', '.', 2, 0, NULL, 0, 1, 1);\n");
    s
}

/// A Moodle site: a database loaded with the fixture, a moodledata, a config.php.
struct Site {
    db: String,
    root: PathBuf,
    /// filedir contents: hash -> bytes.
    contents: BTreeMap<String, Vec<u8>>,
}

impl Site {
    fn moodledata(&self) -> PathBuf {
        self.root.join("moodledata")
    }
    fn config(&self) -> PathBuf {
        self.root.join("config.php")
    }
    fn content_path(&self, hash: &str) -> PathBuf {
        self.moodledata().join("filedir").join(&hash[0..2]).join(&hash[2..4]).join(hash)
    }
}

fn sha1_hex(b: &[u8]) -> String {
    let out = feed(
        {
            let mut c = Command::new("sha1sum");
            c.arg("-");
            c
        },
        b,
    );
    out.split_whitespace().next().unwrap().to_owned()
}

fn make_site(env: &Env, e: Engine, users: usize, nfiles: usize) -> Site {
    let db = new_db(e);
    let root = env.path(&format!("site-{db}"));
    let md = root.join("moodledata");
    std::fs::create_dir_all(md.join("filedir")).unwrap();
    let mut contents = BTreeMap::new();
    let mut rows = Vec::new();
    for i in 0..nfiles {
        let data = pseudo_random(1 + (i * 7919) % 70_000, 1000 + i as u64);
        let h = sha1_hex(&data);
        let p = md.join("filedir").join(&h[0..2]).join(&h[2..4]);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(&h), &data).unwrap();
        rows.push((h.clone(), data.len() as u64, format!("devoir-{i}-élève.pdf")));
        contents.insert(h, data);
    }
    // Moodle's own files and what it regenerates (left out of the archive).
    std::fs::write(md.join("filedir/warning.txt"), "This directory contains the content of uploaded files").unwrap();
    std::fs::create_dir_all(md.join("lang/fr")).unwrap();
    std::fs::write(md.join("lang/fr/langconfig.php"), "<?php $string['thislanguage'] = 'Français';").unwrap();
    std::fs::create_dir_all(md.join("repository/empty-dir")).unwrap();
    for junk in [
        "cache/cachestore_file/x",
        "localcache/theme/1/x.css",
        "sessions/sess_abc",
        "temp/backup/x",
        "trashdir/aa/bb/junk",
        "lock/x.lock",
    ] {
        let p = md.join(junk);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"regenerated").unwrap();
    }
    std::fs::write(md.join("climaintenance.html"), "maintenance").unwrap();
    let (dbtype, dbhost) = match e {
        Engine::Pg => ("pgsql", pg_dir()),
        Engine::My => ("mariadb", "localhost".to_owned()),
    };
    std::fs::write(
        root.join("config.php"),
        format!(
            "<?php  // Moodle configuration file\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n$CFG->dbtype    = '{dbtype}';\n$CFG->dblibrary = 'native';\n$CFG->dbhost    = '{dbhost}';\n$CFG->dbname    = '{db}';\n$CFG->dbuser    = 'moodle';\n$CFG->dbpass    = 'S3cret;Pa$$';\n$CFG->prefix    = 'mdl_';\n$CFG->wwwroot   = 'https://moodle.lycee.example';\n$CFG->dataroot  = '{}';\nrequire_once(__DIR__ . '/lib/setup.php');\n",
            md.display()
        ),
    )
    .unwrap();
    feed(client(e, &db), fixture_sql(e, users, &rows).as_bytes());
    Site { db, root, contents }
}

/// Every table's row count and content checksum.
fn fingerprint(e: Engine, db: &str) -> Vec<String> {
    TABLES
        .iter()
        .map(|t| match e {
            Engine::Pg => sql(
                e,
                db,
                &format!(
                    "SELECT count(*) || ' ' || md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM {t} x"
                ),
            ),
            Engine::My => {
                let n = sql(e, db, &format!("SELECT count(*) FROM {t}"));
                let c = sql(e, db, &format!("CHECKSUM TABLE {t} EXTENDED"));
                format!("{n} {}", c.split_whitespace().last().unwrap())
            }
        })
        .collect()
}

/// Every file under `dir`, relative, with its bytes' SHA-256.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    walk(dir).into_iter().map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), sha256_file(&p))).collect()
}

/// moodledata's files but what Moodle regenerates (what a restitution holds).
fn kept(site: &Site) -> BTreeMap<String, String> {
    let mut t = tree(&site.moodledata());
    t.retain(|k, _| {
        !["cache/", "localcache/", "sessions/", "temp/", "trashdir/", "lock/"].iter().any(|x| k.starts_with(x))
            && k != "climaintenance.html"
    });
    t
}

/// `sha256sum --strict -c SHA256SUMS` in an opened archive.
fn sums_check(top: &Path) -> std::process::Output {
    Command::new("sha256sum").args(["--strict", "-c", "SHA256SUMS"]).current_dir(top).output().unwrap()
}

/// `ssh-keygen -Y verify` of `sums` against the archive's SHA256SUMS.sig, with the ledger's
/// key as `gardien ledger key --ssh` gives it (the restore guide's command).
fn ssh_verify(env: &Env, top: &Path, sums: &Path) -> std::process::Output {
    let signers = env.path("allowed_signers");
    std::fs::write(&signers, env.ok(&["ledger", "key", "--ssh"])).unwrap();
    Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f", signers.to_str().unwrap(), "-I", "hebergeur.example/gardien"])
        .args(["-n", "gardien-restitution", "-s", "SHA256SUMS.sig"])
        .stdin(std::fs::File::open(sums).unwrap())
        .current_dir(top)
        .output()
        .unwrap()
}

fn setup(e: Engine, users: usize, files: usize) -> (Env, Site, String) {
    let env = Env::new();
    env.ok(&["contract", "add", "acme-2026", "--client", "acme", "--presales-until", "2099-01-01"]);
    let site = make_site(&env, e, users, files);
    let key = env.client_key(&env.path("client.key"));
    env.ok(&[
        "site",
        "add",
        "acme-moodle",
        "--client",
        "acme",
        "--contract",
        "acme-2026",
        "--db",
        &url(e, &site.db),
        "--moodledata",
        site.moodledata().to_str().unwrap(),
        "--config",
        site.config().to_str().unwrap(),
    ]);
    (env, site, key)
}

/// Opens a restitution as the client does; the extracted top directory.
fn open_as_client(env: &Env, file: &Path, into: &str) -> PathBuf {
    let out = env.path(into);
    std::fs::create_dir_all(&out).unwrap();
    let sh = format!(
        "age -d -i {} {} | tar --zstd -xf - -C {}",
        env.path("client.key").display(),
        file.display(),
        out.display()
    );
    let o = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tops: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(tops.len(), 1, "{tops:?}");
    tops[0].clone()
}

/// A restitution made with --allow-missing to `file`, opened as the client does.
fn allowed_missing(env: &Env, key: &str, file: &Path) -> PathBuf {
    let f = file.to_str().unwrap();
    env.ok(&["restitution", "create", "acme-moodle", "--recipient", key, "--allow-missing", "-o", f]);
    open_as_client(env, file, "opened")
}

fn round_trip(e: Engine) {
    let (env, site, key) = setup(e, 3000, 300);
    let before = fingerprint(e, &site.db);
    let check = env.ok(&["site", "check", "acme-moodle"]);
    assert!(check.contains("300 of the 300") && check.contains("consistent"), "{check}");
    let file = env.path("acme-moodle.age");
    let id = env.ok(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()]);
    let id = id.trim();
    // Recorded as an export dataset of the client (OPS-2), listed, and shown with the site.
    let ds = env.show(id);
    assert_eq!((ds["class"].as_str(), ds["client"].as_str()), (Some("export"), Some("acme")), "{ds}");
    assert!(env.ok(&["site", "show", "acme-moodle"]).contains(id));
    let top = open_as_client(&env, &file, "opened");
    // sha256sum accepts SHA256SUMS, and it covers every file but itself and its signatures.
    let o = sums_check(&top);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let listed =
        std::fs::read_to_string(top.join("SHA256SUMS")).unwrap().lines().filter(|l| !l.starts_with('#')).count();
    let all = walk(&top).len();
    assert_eq!(listed + 3, all, "every file is listed but SHA256SUMS and its two signatures");
    // Signed by the ledger's key: OpenSSH checks it.
    let o = ssh_verify(&env, &top, &top.join("SHA256SUMS"));
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // A SHA256SUMS changed by one byte no longer verifies.
    let mut sums = std::fs::read(top.join("SHA256SUMS")).unwrap();
    let last = sums.len() - 2;
    sums[last] ^= 1;
    std::fs::write(env.path("sums.bad"), &sums).unwrap();
    let o = ssh_verify(&env, &top, &env.path("sums.bad"));
    assert!(!o.status.success());
    // The guides, the config without its password.
    for g in ["RESTORE.fr.md", "RESTORE.en.md"] {
        let guide = std::fs::read_to_string(top.join(g)).unwrap();
        assert!(
            guide.contains("sha256sum --strict -c SHA256SUMS") && guide.contains("-I hebergeur.example/gardien"),
            "{guide}"
        );
    }
    let config = std::fs::read_to_string(top.join("config.php")).unwrap();
    assert!(!config.contains("S3cret"), "{config}");
    assert!(config.contains("$CFG->dbname    = '") && config.contains("$CFG->dbpass    = '**redacted"), "{config}");
    // Restored into a fresh database with the database's own client, as the guide says.
    let fresh = new_db(e);
    let o = Command::new("sh").args(["-c", "cat db/*.sql"]).current_dir(&top).output().unwrap();
    feed(client(e, &fresh), &o.stdout);
    assert_eq!(fingerprint(e, &fresh), before, "every table's rows and content");
    // Every file byte-equal, the regenerated directories absent.
    let original = kept(&site);
    assert_eq!(tree(&top.join("moodledata")), original);
    assert!(top.join("moodledata/repository/empty-dir").is_dir(), "empty directories kept");
    for gone in ["cache", "localcache", "sessions", "temp", "trashdir", "lock", "climaintenance.html"] {
        assert!(!top.join("moodledata").join(gone).exists(), "{gone}");
    }
    assert!(!top.join("INCONSISTENCIES.txt").exists());
    assert_eq!(site.contents.len(), 300);
    // The ledger names the site's archive; the whole log verifies.
    env.ok(&["ledger", "verify"]);
}

#[test]
fn postgres_site_handed_back_whole_and_restored_with_standard_tools() {
    round_trip(Engine::Pg);
}

#[test]
fn mariadb_site_handed_back_whole_and_restored_with_standard_tools() {
    round_trip(Engine::My);
}

fn datasets(env: &Env) -> String {
    env.sql("SELECT count(*) FROM datasets")
}

#[test]
fn missing_or_corrupt_files_refuse_unless_allowed_and_are_listed() {
    for e in [Engine::Pg, Engine::My] {
        let (env, site, key) = setup(e, 50, 20);
        let mut hashes = site.contents.keys();
        let (gone, bad) = (hashes.next().unwrap().clone(), hashes.next().unwrap().clone());
        std::fs::remove_file(site.content_path(&gone)).unwrap();
        let check = env.fails(&["site", "check", "acme-moodle"], 3);
        assert!(check.contains("inconsistencies"), "{check}");
        let out = env.run(&["site", "check", "acme-moodle"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
            "missing filedir/{}/{}/{gone}",
            &gone[0..2],
            &gone[2..4]
        )));
        let n = datasets(&env);
        let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key], 3);
        assert!(err.contains(&gone) && err.contains("inconsistencies"), "{err}");
        assert_eq!(datasets(&env), n, "nothing made");
        // Corrupt: its content no longer has its name's SHA-1.
        std::fs::write(site.content_path(&bad), b"not what it was").unwrap();
        let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key], 3);
        assert!(err.contains("inconsistencies"), "{err}");
        assert_eq!(datasets(&env), n, "nothing made");
        assert_eq!(env.sql("SELECT count(*) FROM datasets WHERE state != 'active'"), "0", "nothing half-made");
        // With --allow-missing: made, and the archive lists both.
        let file = env.path("x.age");
        let top = allowed_missing(&env, &key, &file);
        let inc = std::fs::read_to_string(top.join("INCONSISTENCIES.txt")).unwrap();
        assert!(inc.contains(&format!("missing filedir/{}/{}/{gone}", &gone[0..2], &gone[2..4])), "{inc}");
        assert!(inc.contains(&format!("corrupt filedir/{}/{}/{bad}", &bad[0..2], &bad[2..4])), "{inc}");
        let o = sums_check(&top);
        assert!(o.status.success());
    }
}

#[test]
fn a_file_deleted_after_the_snapshot_comes_from_the_trash() {
    let (env, site, key) = setup(Engine::Pg, 10, 5);
    // Moodle deletes the row, then moves the content to the trash: a content the database
    // still references but found only in the trash is taken from there.
    let h = site.contents.keys().next().unwrap().clone();
    let trash = site.moodledata().join("trashdir").join(&h[0..2]).join(&h[2..4]);
    std::fs::create_dir_all(&trash).unwrap();
    std::fs::rename(site.content_path(&h), trash.join(&h)).unwrap();
    let file = env.path("x.age");
    let out = env.run(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let top = open_as_client(&env, &file, "opened");
    let restored = top.join("moodledata/filedir").join(&h[0..2]).join(&h[2..4]).join(&h);
    assert_eq!(std::fs::read(restored).unwrap(), site.contents[&h]);
}

#[test]
fn refusals_and_failures_are_clear_and_change_nothing() {
    let (env, _site, key) = setup(Engine::Pg, 10, 5);
    // A key the client did not register (OPS-2): refused, recorded, nothing made.
    let other = age_keygen(&env.path("other.key"));
    let n = datasets(&env);
    let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &other], 4);
    assert!(err.contains("OPS-2"), "{err}");
    // Another client's key.
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&["person", "add", "admin-beta", "--role", "client-admin", "--client", "beta"]);
    let beta_key = env.registered_key("admin-beta", "beta", &env.path("beta.key"));
    let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &beta_key], 4);
    assert!(err.contains("OPS-2"), "{err}");
    // Another client's admin asking for acme's site: the answer of an unknown site.
    let unknown = env.fails(&["--as", "admin-beta", "site", "show", "no-such-site"], 1);
    let theirs = env.fails(&["--as", "admin-beta", "site", "show", "acme-moodle"], 1);
    assert_eq!(unknown.replace("no-such-site", "X"), theirs.replace("acme-moodle", "X"));
    let theirs =
        env.fails(&["--as", "admin-beta", "restitution", "create", "acme-moodle", "--recipient", &beta_key], 1);
    assert!(theirs.contains("unknown site"), "{theirs}");
    // acme's own admin may hand it back to its own key.
    env.ok(&["--as", "admin-acme", "restitution", "create", "acme-moodle", "--recipient", &key]);
    let n2 = datasets(&env);
    assert_eq!(n2, (n.parse::<u32>().unwrap() + 1).to_string());
    // A database that refuses the connection (no such database): a clear error, nothing made.
    let broken_md = env.path("md-broken");
    std::fs::create_dir_all(broken_md.join("filedir")).unwrap();
    let broken_md = broken_md.to_str().unwrap().to_owned();
    env.ok(&[
        "site",
        "add",
        "broken",
        "--client",
        "acme",
        "--contract",
        "acme-2026",
        "--db",
        &url(Engine::Pg, "no_such_db"),
        "--moodledata",
        &broken_md,
    ]);
    let err = env.fails(&["site", "check", "broken"], 1);
    assert!(err.contains("no_such_db") && err.contains("psql"), "{err}");
    let err = env.fails(&["restitution", "create", "broken", "--recipient", &key], 1);
    assert!(err.contains("no_such_db"), "{err}");
    assert_eq!(datasets(&env), n2, "nothing made");
    assert!(last_event(&env).contains("site:restitution"));
}

#[test]
fn urls_with_passwords_and_bad_paths_are_refused_at_add() {
    let (env, _site, key) = setup(Engine::Pg, 1, 1);
    // Another site's own moodledata (one moodledata is one site's).
    let md = env.path("md-other");
    std::fs::create_dir_all(md.join("filedir")).unwrap();
    let add = |db: &str, md: &str| {
        env.run(&[
            "site",
            "add",
            "other",
            "--client",
            "acme",
            "--contract",
            "acme-2026",
            "--db",
            db,
            "--moodledata",
            md,
        ])
    };
    let o = add("postgres://moodle:hunter2@db.example/moodle", md.to_str().unwrap());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("never carries a password") && !err.contains("hunter2"), "{err}");
    for (db, m) in [
        ("postgres://moodle@db.example/moodle", "relative/moodledata"),
        ("postgres://moodle@db.example/moodle", "/nonexistent/moodledata"),
        ("postgres://moodle@db.example/mo\u{1b}[2Jodle", md.to_str().unwrap()),
        ("postgres://moodle@db.example/-moodle", md.to_str().unwrap()),
        ("mysql://root@/db?socket=/a/../b", md.to_str().unwrap()),
    ] {
        let o = add(db, m);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && !err.contains('\u{1b}'), "{db} {m}: {err}");
    }
    // A config.php that is not one (a path given by mistake) would reach the client: refused.
    let o = env.run(&[
        "site",
        "add",
        "other",
        "--client",
        "acme",
        "--contract",
        "acme-2026",
        "--db",
        "postgres://moodle@db.example/moodle",
        "--moodledata",
        md.to_str().unwrap(),
        "--config",
        "/etc/passwd",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not a Moodle config.php") && !err.contains("root:"), "{err}");
    // Only ops registers sites; a client's technical contact sees them, never hands one back.
    env.ok(&["person", "add", "tech-acme", "--role", "client-tech", "--client", "acme"]);
    assert!(env.ok(&["--as", "tech-acme", "site", "list", "--client", "acme"]).contains("acme-moodle"));
    // Where the operator keeps the site is the operator's: not shown to the client's people.
    let shown = env.ok(&["--as", "tech-acme", "site", "show", "acme-moodle"]);
    assert!(
        !shown.contains("postgres://") && !shown.contains("moodledata/") && !shown.contains("/config.php"),
        "{shown}"
    );
    let err = env.fails(&["--as", "tech-acme", "restitution", "create", "acme-moodle", "--recipient", &key], 4);
    assert!(err.contains("refused"), "{err}");
    let err = env.fails(&["--as", "tech-acme", "site", "backup", "acme-moodle"], 4);
    assert!(err.contains("refused"), "{err}");
    let err = env.fails(&["--as", "tech-acme", "site", "list"], 4);
    assert!(err.contains("OPS-1"), "{err}");
    assert_eq!(env.sql("SELECT count(*) FROM sites"), "1");
}

fn backup_restore(e: Engine) {
    let (env, site, key) = setup(e, 500, 60);
    let before = fingerprint(e, &site.db);
    let id = env.ok(&["site", "backup", "acme-moodle"]).trim().to_owned();
    // A backup dataset of the site's contract (ARC-1), like every dataset.
    let ds = env.show(&id);
    assert_eq!((ds["class"].as_str(), ds["contract"].as_str()), (Some("backup"), Some("acme-2026")), "{ds}");
    let fresh = new_db(e);
    let md = env.path("restored/moodledata");
    let out = env.run(&["site", "restore", &id, "--db", &url(e, &fresh), "--moodledata", md.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fingerprint(e, &fresh), before);
    let original = kept(&site);
    assert_eq!(tree(&md), original);
    // Never into what is not empty: refused, nothing changed.
    let again = new_db(e);
    let err = env.fails(&["site", "restore", &id, "--db", &url(e, &again), "--moodledata", md.to_str().unwrap()], 1);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(tree(&md), original);
    let err = env.fails(
        &["site", "restore", &id, "--db", &url(e, &fresh), "--moodledata", env.path("elsewhere").to_str().unwrap()],
        1,
    );
    assert!(err.contains("tables") && !env.path("elsewhere").exists(), "{err}");
    // A restitution is the client's, not a backup to restore here.
    let r = env.ok(&["restitution", "create", "acme-moodle", "--recipient", &key]).trim().to_owned();
    let err = env.fails(
        &["site", "restore", &r, "--db", &url(e, &again), "--moodledata", env.path("elsewhere").to_str().unwrap()],
        1,
    );
    assert!(err.contains("not a site's backup"), "{err}");
    env.ok(&["ledger", "verify"]);
}

#[test]
fn postgres_backup_restores_into_an_empty_database() {
    backup_restore(Engine::Pg);
}

#[test]
fn mariadb_backup_restores_into_an_empty_database() {
    backup_restore(Engine::My);
}

/// The vault's store fills up mid-way (an 8 MiB tmpfs): a clear error naming the store,
/// no dataset, no object left behind, the ledger whole.
#[test]
fn a_store_filling_up_mid_way_leaves_nothing_half_made() {
    let (env, site, key) = setup(Engine::Pg, 50, 0);
    // 24 MiB of content zstd cannot shrink.
    for i in 0..6 {
        let data = pseudo_random(4 << 20, 77 + i);
        let h = sha1_hex(&data);
        let p = site.moodledata().join("filedir").join(&h[0..2]).join(&h[2..4]);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join(&h), &data).unwrap();
    }
    let small = env.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs", small.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success(), "this test mounts a tmpfs: it runs as root (scripts/test in CI)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    env.ok(&["store", "add", "small", "--site", "fr-roubaix", "--path", small.join("store").to_str().unwrap()]);
    let n = datasets(&env);
    let err = env.fails(&["site", "backup", "acme-moodle", "--store", "small"], 1);
    assert!(err.contains("small") || err.contains("No space"), "{err}");
    assert_eq!(datasets(&env), n, "no dataset");
    let left: Vec<_> = walk(&small).into_iter().filter(|p| p.is_file()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The restitution, to the default store, still works: nothing was held.
    env.ok(&["restitution", "create", "acme-moodle", "--recipient", &key]);
    env.ok(&["ledger", "verify"]);
    env.ok(&["fsck"]);
}

/// Moodle keeps writing during a restitution: new files (content first, then the row, as
/// Moodle does) and deletions (the row first, then the content to the trash). Every
/// content the handed-back database references is in the handed-back moodledata.
fn consistent_under_writes(e: Engine) {
    let (env, site, key) = setup(e, 2000, 400);
    let file = env.path("x.age");
    let mut child = env
        .cmd(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let md = site.moodledata();
    let mut victims = site.contents.keys().cloned().collect::<Vec<_>>().into_iter();
    let mut i = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        i += 1;
        // A new file: content, then row.
        let data = pseudo_random(20_000, 5_000_000 + i);
        let h = sha1_hex(&data);
        let dir = md.join("filedir").join(&h[0..2]).join(&h[2..4]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&h), &data).unwrap();
        sql(
            e,
            &site.db,
            &format!(
                "INSERT INTO mdl_files (contenthash, pathnamehash, contextid, component, filearea, itemid, filepath, filename, userid, filesize, status, timecreated, timemodified) VALUES ('{h}', '{:040x}', 1, 'user', 'draft', {i}, '/', 'new-{i}.txt', 2, 20000, 0, 1, 1)",
                1_000_000 + i
            ),
        );
        // A deletion: row, then content to the trash.
        if let Some(v) = victims.next() {
            sql(e, &site.db, &format!("DELETE FROM mdl_files WHERE contenthash = '{v}'"));
            let t = md.join("trashdir").join(&v[0..2]).join(&v[2..4]);
            std::fs::create_dir_all(&t).unwrap();
            std::fs::rename(site.content_path(&v), t.join(&v)).unwrap();
        }
    };
    let err = child.stderr.take().map(|mut s| {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut s, &mut t).unwrap();
        t
    });
    assert!(status.success(), "{err:?}");
    assert!(i > 1, "the writer ran alongside ({i} rounds)");
    let top = open_as_client(&env, &file, "opened");
    let fresh = new_db(e);
    let dump = Command::new("sh").args(["-c", "cat db/*.sql"]).current_dir(&top).output().unwrap();
    feed(client(e, &fresh), &dump.stdout);
    let referenced = sql(e, &fresh, "SELECT DISTINCT contenthash FROM mdl_files WHERE filesize > 0");
    let mut n = 0;
    for h in referenced.lines() {
        let p = top.join("moodledata/filedir").join(&h[0..2]).join(&h[2..4]).join(h);
        assert_eq!(sha1_hex(&std::fs::read(&p).unwrap_or_else(|_| panic!("{h} referenced, not archived"))), h);
        n += 1;
    }
    assert!(n >= 400, "{n}");
}

#[test]
fn postgres_restitution_is_consistent_while_moodle_writes() {
    consistent_under_writes(Engine::Pg);
}

#[test]
fn mariadb_restitution_is_consistent_while_moodle_writes() {
    consistent_under_writes(Engine::My);
}

/// curl with the test CA and `admin`'s token; (status, headers, body).
fn curl(s: &crate::serve::Server, token: &str, path: &str, extra: &[&str], out: &Path) -> (u16, String) {
    let (ca, _, _) = crate::serve::test_cert();
    let o = Command::new("curl")
        .args(["-sS", "--cacert", ca.to_str().unwrap(), "-D", "-", "-o", out.to_str().unwrap()])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(extra)
        .arg(format!("{}{path}", s.base))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&o.stdout).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head)
}

/// A client's admin asks for a restitution through the API (the portal's form does the
/// same), follows it, and downloads it; a cut download resumes with `curl -C -`.
#[test]
fn a_client_admin_asks_for_a_restitution_and_downloads_it_resuming() {
    use crate::serve::{Auth, PASSWORD, Server, person, set_password, token};
    let (env, _site, key) = setup(Engine::Pg, 300, 60);
    set_password(&env, "admin-acme", PASSWORD);
    let acme = token(&env, "admin-acme");
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    person(&env, "admin-beta", "client-admin", Some("beta"));
    let beta = token(&env, "admin-beta");
    let s = Server::start(&env);
    let ask = |who: &str, site: &str, recipient: &str| {
        s.post_json(
            &format!("/api/v1/sites/{site}/restitutions"),
            Auth::Bearer(who),
            &serde_json::json!({"recipient": recipient}),
        )
    };
    // Another client's admin: the answer an unknown site gets.
    let (theirs, unknown) = (ask(&beta, "acme-moodle", &key), ask(&beta, "no-such-site", &key));
    assert_eq!((theirs.status, unknown.status), (404, 404), "{theirs:?}");
    assert_eq!(theirs.body.replace("acme-moodle", "X"), unknown.body.replace("no-such-site", "X"));
    // Beta's attempt is beta's alone: acme's people never see it among the site's jobs.
    let jobs = s.get("/api/v1/sites/acme-moodle", Auth::Bearer(&acme)).json()["jobs"].to_string();
    assert!(!jobs.contains("admin-beta"), "{jobs}");
    // A key the client did not register: refused (OPS-2), nothing started.
    let other = age_keygen(&env.path("other.key"));
    let r = ask(&acme, "acme-moodle", &other);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("OPS-2"), "{r:?}");
    // To its own key: 202, then followed on the site's page until done.
    let r = ask(&acme, "acme-moodle", &key);
    assert_eq!(r.status, 202, "{r:?}");
    let job = r.json()["id"].as_str().unwrap().to_owned();
    let mut dataset = None;
    for _ in 0..600 {
        let site = s.get("/api/v1/sites/acme-moodle", Auth::Bearer(&acme)).json();
        let j = site["jobs"].as_array().unwrap().iter().find(|j| j["id"] == job.as_str()).unwrap().clone();
        match j["state"].as_str().unwrap() {
            "running" => std::thread::sleep(std::time::Duration::from_millis(100)),
            "done" => {
                dataset = Some(j["dataset"].as_str().unwrap().to_owned());
                assert!(site["archives"].as_array().unwrap().iter().any(|a| a["dataset"] == j["dataset"]), "{site}");
                break;
            }
            other => panic!("{other}: {j}"),
        }
    }
    let id = dataset.expect("the restitution ended");
    let file = format!("/api/v1/restitutions/{id}/file");
    // Whole, then cut after 100,000 bytes and resumed with -C -: the same bytes, the
    // client opens them.
    let whole = env.path("whole.age");
    let (st, head) = curl(&s, &acme, &file, &[], &whole);
    assert_eq!(st, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("accept-ranges: bytes"), "{head}");
    let part = env.path("part.age");
    let (st, _) = curl(&s, &acme, &file, &["-r", "0-99999"], &part);
    assert_eq!(st, 206);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 100_000);
    let (ca, _, _) = crate::serve::test_cert();
    let o = Command::new("curl")
        .args([
            "-sS",
            "-C",
            "-",
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            &format!("Authorization: Bearer {acme}"),
            "-o",
        ])
        .arg(&part)
        .arg(format!("{}{file}", s.base))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&part).unwrap(), std::fs::read(&whole).unwrap(), "resumed = whole");
    let top = open_as_client(&env, &part, "opened");
    let c = sums_check(&top);
    assert!(c.status.success());
    // Ranges: a middle, a suffix, one past the end (416, the length told), an If-Range
    // that no longer matches (the whole file).
    let bytes = std::fs::read(&whole).unwrap();
    let total = bytes.len();
    let piece = env.path("piece");
    let (st, head) = curl(&s, &acme, &file, &["-H", "Range: bytes=10-19"], &piece);
    assert_eq!(st, 206);
    assert!(head.contains(&format!("bytes 10-19/{total}")), "{head}");
    assert_eq!(std::fs::read(&piece).unwrap(), &bytes[10..20]);
    let (st, _) = curl(&s, &acme, &file, &["-H", "Range: bytes=-16"], &piece);
    assert_eq!(st, 206);
    assert_eq!(std::fs::read(&piece).unwrap(), &bytes[total - 16..]);
    let (st, head) = curl(&s, &acme, &file, &["-H", &format!("Range: bytes={total}-")], &piece);
    assert_eq!(st, 416, "{head}");
    assert!(head.contains(&format!("bytes */{total}")), "{head}");
    let (st, _) = curl(&s, &acme, &file, &["-H", "Range: bytes=10-19", "-H", "If-Range: \"stale\""], &piece);
    assert_eq!(st, 200);
    assert_eq!(std::fs::read(&piece).unwrap().len(), total);
    // Another client's admin, an unknown id: the same 404.
    let (a, _) = curl(&s, &beta, &file, &[], &piece);
    let (b, _) = curl(&s, &beta, "/api/v1/restitutions/ds-00000000000000ff/file", &[], &piece);
    assert_eq!((a, b), (404, 404));
    // The portal: the site's page lists it with its download link, and its form starts
    // another restitution to a registered key, followed on the page.
    let (cookie, _) = crate::serve::enrolled(&s, "admin-acme");
    let page = s.get("/sites/acme-moodle", Auth::Cookie(&cookie));
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains(&format!("/restitutions/{id}/file")), "{}", page.body);
    let form = crate::serve::csrf_of(&page.body);
    let r =
        s.post_form("/sites/acme-moodle/restitution", Auth::Cookie(&cookie), &[("csrf", &form), ("recipient", &key)]);
    assert_eq!(r.header("location"), Some("/sites/acme-moodle"), "{r:?}");
    let r = s.post_form(
        "/sites/acme-moodle/restitution",
        Auth::Cookie(&cookie),
        &[("csrf", "forged"), ("recipient", &key)],
    );
    assert_ne!(r.status, 303, "a forged form starts nothing");
    let beta_cookie = crate::serve::enrolled(&s, "admin-beta").0;
    let theirs = s.get("/sites/acme-moodle", Auth::Cookie(&beta_cookie));
    let unknown = s.get("/sites/no-such-site", Auth::Cookie(&beta_cookie));
    assert_eq!((theirs.status, unknown.status), (404, 404));
    let page = s.get(&format!("/restitutions/{id}/file"), Auth::Cookie(&beta_cookie));
    assert_eq!(page.status, 404);
}

/// A file of the site that is a symbolic link is never read, wherever it points (the
/// review smuggled the vault's master key and /etc/shadow into an archive that way).
#[test]
fn attack_links_in_moodledata_are_never_followed() {
    let (env, site, key) = setup(Engine::Pg, 5, 3);
    // A content the database references, whose place is a link to the master key.
    let secret = std::fs::read(env.path("data/keys/master.key")).unwrap();
    let h = sha1_hex(&secret);
    let dir = site.moodledata().join("filedir").join(&h[0..2]).join(&h[2..4]);
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env.path("data/keys/master.key"), dir.join(&h)).unwrap();
    sql(
        Engine::Pg,
        &site.db,
        &format!(
            "INSERT INTO mdl_files (contenthash, pathnamehash, contextid, component, filearea, itemid, filepath, filename, userid, filesize, status, timecreated, timemodified) VALUES ('{h}', 'eeee', 1, 'user', 'draft', 1, '/', 'k', 2, {}, 0, 1, 1)",
            secret.len()
        ),
    );
    let check = env.run(&["site", "check", "acme-moodle"]);
    assert_eq!(check.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&check.stdout).contains(&format!("link filedir/{}/{}/{h}", &h[0..2], &h[2..4])));
    let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key], 3);
    assert!(err.contains("link filedir"), "{err}");
    // With --allow-missing: made, listed, and the key is not in it.
    let file = env.path("x.age");
    let top = allowed_missing(&env, &key, &file);
    assert!(!top.join("moodledata/filedir").join(&h[0..2]).join(&h[2..4]).join(&h).exists());
    for f in walk(&top) {
        assert!(!contains(&std::fs::read(&f).unwrap(), &secret[20..60]), "{} holds the master key", f.display());
    }
    assert!(std::fs::read_to_string(top.join("INCONSISTENCIES.txt")).unwrap().contains("link filedir"));
    // A filedir that is itself a link: refused, said.
    let real = env.path("elsewhere");
    std::fs::rename(site.moodledata().join("filedir"), &real).unwrap();
    std::os::unix::fs::symlink(&real, site.moodledata().join("filedir")).unwrap();
    let err = env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key], 1);
    assert!(err.contains("filedir is a symbolic link"), "{err}");
}

/// A backup damaged in the vault: restore fails as an integrity error (3), commits nothing
/// to the database, and leaves the target as it was.
#[test]
fn attack_a_damaged_backup_restores_nothing() {
    let (env, _site, _key) = setup(Engine::Pg, 200, 30);
    let id = env.ok(&["site", "backup", "acme-moodle"]).trim().to_owned();
    let blob = env.blob(&id);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&blob, &bytes).unwrap();
    env.write_blob(&id, &blob);
    let fresh = new_db(Engine::Pg);
    let md = env.path("restored/moodledata");
    let err =
        env.fails(&["site", "restore", &id, "--db", &url(Engine::Pg, &fresh), "--moodledata", md.to_str().unwrap()], 3);
    assert!(err.contains(&id), "{err}");
    assert_eq!(
        sql(Engine::Pg, &fresh, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"),
        "0"
    );
    assert!(!md.exists(), "nothing written");
    let left: Vec<_> = std::fs::read_dir(env.path("restored")).unwrap().collect();
    assert!(left.is_empty(), "no staging left: {left:?}");
    // Into another engine: refused before anything is read.
    let err = env.fails(
        &["site", "restore", &id, "--db", &url(Engine::My, "whatever"), "--moodledata", md.to_str().unwrap()],
        1,
    );
    assert!(err.contains("backup of a postgres site"), "{err}");
    // One database, one site: the same database under another client is refused.
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&["contract", "add", "beta-2026", "--client", "beta", "--presales-until", "2099-01-01"]);
    let err = env.fails(
        &[
            "site",
            "add",
            "beta-moodle",
            "--client",
            "beta",
            "--contract",
            "beta-2026",
            "--db",
            &url(Engine::Pg, &_site.db),
            "--moodledata",
            env.path("md-beta").to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("already has this database") || err.contains("filedir"), "{err}");
}

/// Runs gardien with `args`, and kills it (SIGKILL) after `ms` milliseconds if it still runs.
fn killed_after(env: &Env, args: &[&str], ms: u64) -> std::process::ExitStatus {
    let mut child = env.cmd(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let _ = child.kill();
    child.wait().unwrap()
}

/// Killed while writing the client's file: no cut file under its name.
#[test]
fn attack_a_kill_mid_way_leaves_no_cut_file() {
    let (env, _site, key) = setup(Engine::Pg, 500, 200);
    let file = env.path("out.age");
    for delay in [150u64, 400, 800] {
        let _ = std::fs::remove_file(&file);
        killed_after(
            &env,
            &["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()],
            delay,
        );
        if file.exists() {
            // Whole, or not there at all.
            let o = Command::new("age").arg("-d").arg("-i").arg(env.path("client.key")).arg(&file).output().unwrap();
            assert!(o.status.success(), "a cut file under its name after a kill at {delay} ms");
        }
    }
    env.ok(&["fsck"]);
    env.ok(&["ledger", "verify"]);
}

/// A restore killed at any moment commits nothing (PostgreSQL), leaves the target as it
/// was, and the next one succeeds (what the killed one left beside the target goes).
#[test]
fn attack_a_restore_killed_mid_way_commits_nothing() {
    let (env, site, _key) = setup(Engine::Pg, 3000, 200);
    let before = fingerprint(Engine::Pg, &site.db);
    let id = env.ok(&["site", "backup", "acme-moodle"]).trim().to_owned();
    // How long a whole restore takes here, so that the kills land mid-way on any machine
    // (the last instants, between the COMMIT and the files' rename, are not this test's:
    // see ARCHITECTURE.md). The kills stay in the first half: on a loaded machine the timed
    // run can be twice as slow as a killed one, and a kill in the second half then landed after the
    // COMMIT (CI at 05dfe6f: "killed at 208 ms: tables committed").
    let timed = new_db(Engine::Pg);
    let t = std::time::Instant::now();
    let md_timed = env.path("timed/moodledata");
    env.ok(&["site", "restore", &id, "--db", &url(Engine::Pg, &timed), "--moodledata", md_timed.to_str().unwrap()]);
    let whole = u64::try_from(t.elapsed().as_millis()).unwrap();
    let fresh = new_db(Engine::Pg);
    let md = env.path("restored/moodledata");
    for delay in [whole / 10, whole / 6, whole / 4, whole / 3] {
        let status = killed_after(
            &env,
            &["site", "restore", &id, "--db", &url(Engine::Pg, &fresh), "--moodledata", md.to_str().unwrap()],
            delay,
        );
        if status.success() {
            break;
        }
        // psql outlives it, reaches the end of its input without a COMMIT: rolled back.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let tables =
            sql(Engine::Pg, &fresh, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
        assert_eq!(tables, "0", "killed at {delay} ms: tables committed");
        assert!(!md.exists(), "killed at {delay} ms: a half-restored moodledata");
    }
    if sql(Engine::Pg, &fresh, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == "0" {
        env.ok(&["site", "restore", &id, "--db", &url(Engine::Pg, &fresh), "--moodledata", md.to_str().unwrap()]);
    }
    assert_eq!(fingerprint(Engine::Pg, &fresh), before);
    let left: Vec<_> = std::fs::read_dir(env.path("restored")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("moodledata")], "nothing left beside it");
}

/// `-o` through a link with --force writes the file it names and leaves the link (as `cp`
/// does; `-o /dev/stdout` once replaced the machine's /dev/stdout).
#[test]
fn attack_force_through_a_link_keeps_the_link() {
    let (env, _site, key) = setup(Engine::Pg, 5, 3);
    let target = env.path("target.age");
    std::fs::write(&target, b"old").unwrap();
    let link = env.path("link.age");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    env.ok(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", link.to_str().unwrap(), "--force"]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    let top = open_as_client(&env, &target, "opened");
    assert!(top.join("SHA256SUMS").exists());
    // Without --force: refused, nothing changed.
    let err =
        env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", link.to_str().unwrap()], 1);
    assert!(err.contains("exists"), "{err}");
}

/// Names from outside moodledata never reach the archive: MariaDB's trash walk does not
/// enter a `trashdir` that is a link (a directory of another site's contents), and a
/// directory whose name is not UTF-8 is reported, not entered (its files once came out
/// under one lossy name, failing `sha256sum -c` and the restore).
#[test]
fn attack_no_name_from_outside_and_no_lossy_name() {
    let (env, site, key) = setup(Engine::My, 5, 3);
    let other = env.path("other-site-filedir");
    std::fs::create_dir_all(&other).unwrap();
    let foreign = sha1_hex(b"another client's content");
    std::fs::write(other.join(&foreign), b"another client's content").unwrap();
    std::fs::remove_dir_all(site.moodledata().join("trashdir")).unwrap();
    std::os::unix::fs::symlink(&other, site.moodledata().join("trashdir")).unwrap();
    use std::os::unix::ffi::OsStrExt;
    for (dir, text) in [(b"\xff".as_slice(), "one"), (b"\xfe".as_slice(), "two")] {
        let d = site.moodledata().join("repository").join(std::ffi::OsStr::from_bytes(dir));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), text).unwrap();
    }
    let file = env.path("x.age");
    let out = env.run(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(&foreign), "{err}");
    let top = open_as_client(&env, &file, "opened");
    let sums = sums_check(&top);
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    let listed = std::fs::read_to_string(top.join("INCONSISTENCIES.txt")).unwrap();
    assert!(!listed.contains(&foreign), "{listed}");
    assert_eq!(listed.matches("not entered").count(), 2, "{listed}");
    for f in walk(&top) {
        assert!(!f.to_string_lossy().contains(&foreign), "{}", f.display());
        assert!(!contains(&std::fs::read(&f).unwrap(), b"another client's"), "{}", f.display());
    }
    assert!(!top.join("moodledata/repository").read_dir().unwrap().any(|e| e.unwrap().path().join("f").exists()));
}

/// A tree deeper than a path can be (4,096 bytes) is walked one directory at a time: the
/// restitution is made and its deepest file is in it; `-o` into a directory that is not
/// there is refused before anything is made; a file that cannot be written after the
/// restitution was made says so, and how to write it again.
#[test]
fn a_deep_tree_is_archived_and_output_errors_are_clear() {
    let (env, site, key) = setup(Engine::Pg, 5, 3);
    // Made one level at a time from the previous one (the whole path is too long for mkdir).
    let name = "d".repeat(200);
    let script = "import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfor _ in range(25):\n    os.mkdir(sys.argv[2], dir_fd=fd)\n    fd = os.open(sys.argv[2], os.O_RDONLY, dir_fd=fd)\nf = os.open('bottom.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)\nos.write(f, b'at the bottom')\n";
    let made = Command::new("python3")
        .args(["-c", script, site.moodledata().join("repository").to_str().unwrap(), &name])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut rel = std::path::PathBuf::from("moodledata/repository");
    for _ in 0..25 {
        rel = rel.join(&name);
    }
    assert!(rel.as_os_str().len() > 4096);
    let before = datasets(&env);
    let err =
        env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", "/nonexistent-dir/x.age"], 1);
    assert!(err.contains("is not a directory; nothing was changed"), "{err}");
    assert_eq!(datasets(&env), before, "nothing made");
    let file = env.path("deep.age");
    env.ok(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()]);
    let sh = format!("age -d -i {} {} | zstd -dc | tar -tf -", env.path("client.key").display(), file.display());
    let o = Command::new("sh").args(["-c", &sh]).output().unwrap();
    let names = String::from_utf8_lossy(&o.stdout);
    assert!(names.lines().any(|l| l.ends_with(&format!("{}/bottom.txt", rel.display()))), "the deepest file is in it");
    // The same -o again (no --force): the name is taken when the run starts; taken
    // meanwhile, it is said that the restitution was made, and how to write its file.
    let err =
        env.fails(&["restitution", "create", "acme-moodle", "--recipient", &key, "-o", file.to_str().unwrap()], 1);
    assert!(err.contains("exists"), "{err}");
}

/// The snapshot's transaction ends with the dump, not with the files: a schema change on
/// the live site (a plugin installed during a long restitution) goes through once the
/// dump is done, while the files are still being read.
#[test]
fn a_schema_change_waits_for_the_dump_only() {
    let (env, site, key) = setup(Engine::Pg, 5, 3);
    // Files that take a while to read, hash and seal: 16 of 64 MiB each.
    let big = site.moodledata().join("repository/big");
    std::fs::create_dir_all(&big).unwrap();
    let chunk = pseudo_random(64 << 20, 99);
    for i in 0..16 {
        std::fs::write(big.join(format!("f{i}")), &chunk).unwrap();
    }
    let mut child = env
        .cmd(&["restitution", "create", "acme-moodle", "--recipient", &key])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The dump is small: wait until its session is gone from the database.
    let dumps =
        format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'pg_dump'", site.db);
    let started = std::time::Instant::now();
    let mut seen = false;
    loop {
        let n: u32 = sql(Engine::Pg, &site.db, &dumps).trim().parse().unwrap_or(0);
        seen |= n > 0;
        // Seen and gone; or never seen (too quick to catch) and not there after a while.
        if n == 0 && (seen || started.elapsed().as_millis() > 1500) {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the dump never ended");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A lock held by the restitution would make this fail after 300 ms.
    sql(Engine::Pg, &site.db, "SET lock_timeout = '300ms'; ALTER TABLE mdl_files ADD COLUMN zz INT");
    assert!(child.try_wait().unwrap().is_none(), "the files were still being read: otherwise this proves nothing");
    assert!(child.wait().unwrap().success());
}
