//! Let's Encrypt by default (WEB-1, issue 13): `server app cert` against Let's Encrypt's
//! test CA, Debian's pebble, which validates HTTP-01 for real (its DNS answers every name
//! with 127.0.0.1; `tests/acme/pebble`, started once per run by scripts/test). One test:
//! the CA checks every order at one port, so the orders here follow one another.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::common::Env;

const DOMAIN: &str = "moodle.lycee-hugo.fr";

struct Acme {
    directory: String,
    ca: String,
    roots: String,
    http: String,
}

fn acme() -> Acme {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k}: run scripts/test, or eval \"$(tests/acme/pebble start DIR)\" first"))
    };
    Acme {
        directory: var("GARDIEN_TEST_ACME"),
        ca: var("GARDIEN_TEST_ACME_CA"),
        roots: var("GARDIEN_TEST_ACME_ROOTS"),
        http: var("GARDIEN_TEST_ACME_HTTP"),
    }
}

fn both(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs gardien (at `when` under faketime if given) and asserts its exit code; its output.
fn expect(env: &Env, when: Option<&str>, args: &[&str], code: i32) -> String {
    let out = match when {
        Some(w) => env.cmd_at(w, args).output().unwrap(),
        None => env.run(args),
    };
    let text = both(&out);
    assert_eq!(out.status.code(), Some(code), "gardien {args:?}:\n{text}");
    text
}

fn serial(env: &Env) -> String {
    env.sql(&format!("SELECT serial FROM app_certificates WHERE domain = '{DOMAIN}'"))
}

/// A child process killed when dropped (a failing test leaves no server on the CA's port).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP server (Python's) serving `root` where the CA asks: the web server of a
/// `--webroot` order.
fn web_server(root: &Path, at: &str) -> Killed {
    let (host, port) = at.rsplit_once(':').unwrap();
    let child = Killed(
        Command::new("python3")
            .args(["-m", "http.server", port, "--bind", host, "--directory"])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(at).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the web server did not start at {at}");
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", both(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_certificate_from_the_test_ca_is_validated_kept_renewed_and_the_operators_alone() {
    let a = acme();
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
    env.ok(&["person", "add", "admin-beta", "--role", "client-admin", "--client", "beta"]);
    crate::servers::add(&env, "hugo-1 fr-roubaix dedicated acme 192.0.2.10");
    env.ok(&["server", "app", "add", "hugo-1", "--kind", "moodle", "--domain", DOMAIN]);
    let out = env.path("certs");
    std::fs::create_dir(&out).unwrap();
    let out_s = out.to_str().unwrap();
    let ca_args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["--acme-directory", &a.directory, "--acme-root", &a.ca].iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |when: Option<&str>, head: &[&str], extra: &[&str], code: i32| {
        let mut args: Vec<String> = head.iter().map(|s| s.to_string()).collect();
        args.extend(ca_args(extra));
        expect(&env, when, &args.iter().map(String::as_str).collect::<Vec<_>>(), code)
    };

    // Nobody but the operator orders or reads certificates, and a domain unknown answers as
    // one of another's server (OPS-1): the same refusal, word for word.
    let before = env.snapshot();
    let mut refusals = Vec::new();
    for who in ["admin-acme", "admin-beta"] {
        for d in [DOMAIN, "nope.example.fr"] {
            let r = run(None, &["--as", who, "server", "app", "cert", d], &["--http-listen", &a.http], 4);
            refusals.push(r.replace(d, "D"));
            let r = expect(&env, None, &["--as", who, "server", "app", "export", d, "--out", out_s], 4);
            refusals.push(r.replace(d, "D"));
        }
        expect(&env, None, &["--as", who, "server", "app", "renew", "--webroot", out_s], 4);
    }
    assert!(refusals[0].contains("refused (OPS-1)"), "{refusals:?}");
    assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{refusals:?}");
    assert_eq!(env.snapshot(), before, "a refusal changes nothing but the ledger");
    assert_eq!(env.sql("SELECT count(*) FROM acme_accounts"), "0");

    // Bad input: said, nothing asked of the CA, nothing kept.
    for (args, says) in [
        (vec!["server", "app", "cert", "x\u{1b}[31m.fr", "--http-listen", a.http.as_str()], "not a domain name"),
        (vec!["server", "app", "cert", "nope.example.fr", "--http-listen", a.http.as_str()], "unknown application"),
        (vec!["server", "app", "cert", DOMAIN, "--webroot", "/nonexistent"], "not a directory"),
        (vec!["server", "app", "cert", DOMAIN], "--webroot DIR or --http-listen"),
        (
            vec!["server", "app", "cert", DOMAIN, "--http-listen", a.http.as_str(), "--out", "/nonexistent"],
            "not a directory",
        ),
    ] {
        let text = run(None, &args, &[], 1);
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }
    let text = expect(&env, None, &["server", "app", "export", DOMAIN, "--out", out_s], 1);
    assert!(text.contains("no certificate is kept"), "{text}");
    let plain = expect(
        &env,
        None,
        &["server", "app", "cert", DOMAIN, "--http-listen", &a.http, "--acme-directory", "http://localhost/dir"],
        1,
    );
    assert!(plain.contains("https://"), "{plain}");
    // The responder's port taken: said before any order.
    let taken = std::net::TcpListener::bind(&a.http).unwrap();
    let text = run(None, &["server", "app", "cert", DOMAIN], &["--http-listen", &a.http], 1);
    assert!(text.contains(&a.http) && text.contains("in use"), "{text}");
    drop(taken);
    assert_eq!(serial(&env), "");

    // gardien answers the CA itself; the CA checks the answer at DOMAIN (127.0.0.1 for it).
    let text = run(
        None,
        &["server", "app", "cert", DOMAIN],
        &["--http-listen", &a.http, "--email", "ops@hebergeur.example", "--out", out_s],
        0,
    );
    assert!(text.contains("registering an ACME account") && text.contains("valid until"), "{text}");
    let first = serial(&env);
    assert!(first.len() >= 8 && first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    let dir = out.join(DOMAIN);
    let chain = dir.join("fullchain.pem");
    let key = dir.join("privkey.pem");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&chain).unwrap().permissions().mode() & 0o777, 0o644);
    // The certificate: for the domain, chained to the CA's root, for the key written beside.
    let root = env.path("root.pem");
    let got = Command::new("curl").args(["-sf", "--cacert", &a.ca, &a.roots, "-o"]).arg(&root).status().unwrap();
    assert!(got.success());
    let c = chain.to_str().unwrap();
    let text = openssl(&["x509", "-in", c, "-noout", "-ext", "subjectAltName"]);
    assert!(text.contains(&format!("DNS:{DOMAIN}")), "{text}");
    let text = openssl(&["verify", "-CAfile", root.to_str().unwrap(), "-untrusted", c, c]);
    assert!(text.contains(": OK"), "{text}");
    assert_eq!(
        openssl(&["x509", "-in", c, "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"])
    );
    // The key and the account's are kept wrapped to the master key, never in clear.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let body: String = key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for f in walk(&env.data) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&body[..40]) && !text.contains("PRIVATE KEY"), "{}", f.display());
        assert!(!text.contains("key_pkcs8"), "the ACME account's key in clear in {}", f.display());
    }
    // Recorded in the client's log: the server's event names its client (PROOF-1).
    assert_eq!(events(&env, "allowed", "resource client:acme"), 1);
    let shown = env.ok(&["server", "show", "hugo-1", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(j["certificates"][0]["serial"], first.as_str());
    assert!(!shown.contains("PRIVATE"), "{shown}");

    // Not due today: renew does nothing and says when it will.
    let text = run(None, &["server", "app", "renew"], &["--webroot", out_s], 0);
    assert!(text.contains("0 due") && text.contains("the next is due on"), "{text}");
    assert_eq!(serial(&env), first);

    // 70 days on, 20 are left: renewed through the web server's document root this time, the
    // answer removed after, the files replaced where the first order wrote them.
    let webroot = env.path("www");
    std::fs::create_dir(&webroot).unwrap();
    let web = web_server(&webroot, &a.http);
    let text = run(Some("70 days"), &["server", "app", "renew"], &["--webroot", webroot.to_str().unwrap()], 0);
    assert!(text.contains(&format!("{DOMAIN}: renewed")) && text.contains("1 renewed"), "{text}");
    let second = serial(&env);
    assert_ne!(second, first);
    let challenges = webroot.join(".well-known/acme-challenge");
    assert_eq!(std::fs::read_dir(&challenges).map_or(0, |d| d.count()), 0, "the answer is removed after the order");
    let text = openssl(&["x509", "-in", c, "-noout", "-serial"]);
    assert!(text.to_lowercase().contains(&second.trim_start_matches('0').to_lowercase()), "{text} vs {second}");
    // Written again from the catalog: the same files.
    let again = env.path("again");
    std::fs::create_dir(&again).unwrap();
    expect(&env, None, &["server", "app", "export", DOMAIN, "--out", again.to_str().unwrap()], 0);
    assert_eq!(std::fs::read(again.join(DOMAIN).join("privkey.pem")).unwrap(), std::fs::read(&key).unwrap());
    assert_eq!(std::fs::read(again.join(DOMAIN).join("fullchain.pem")).unwrap(), std::fs::read(&chain).unwrap());

    // Files that are not the kept certificate (a renewal whose files could not be written, a
    // hand edit) are written again by the next renewal run, nothing being due.
    std::fs::write(&chain, "not the certificate").unwrap();
    let text = expect(&env, None, &["server", "app", "renew"], 0);
    assert!(text.contains("is not the kept certificate: written again") && text.contains("0 due"), "{text}");
    assert_eq!(std::fs::read(again.join(DOMAIN).join("fullchain.pem")).unwrap(), std::fs::read(&chain).unwrap());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temporary file or copy left beside them");

    // Nobody serves the webroot: the CA's refusal is said, the certificate kept is the one
    // before, no answer is left behind. The renewal trusts the certificate's own root and
    // answers through its own webroot (the last order's). Its directory is pebble's by
    // another name: a new account, with no valid authorization pebble could reuse (it does
    // 1% of the time even with PEBBLE_AUTHZREUSE=0: `rand.Intn(100) > percent`).
    drop(web);
    let fresh = a.directory.replace("localhost", "127.0.0.1");
    let text = expect(&env, Some("70 days"), &["server", "app", "renew", "--acme-directory", &fresh], 1);
    assert!(text.contains("NOT renewed") && text.contains("1 renewals or their files failed"), "{text}");
    assert!(text.contains("/.well-known/acme-challenge/") && text.contains("connection refused"), "{text}");
    assert_eq!(serial(&env), second);
    assert_eq!(std::fs::read_dir(&challenges).map_or(0, |d| d.count()), 0);
    assert!(events(&env, "failed", "resource client:acme") >= 1);
}

/// The ledger's `server:app-cert` events with this outcome that say `line`.
fn events(env: &Env, outcome: &str, line: &str) -> u32 {
    env.sql(&format!(
        "SELECT count(*) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%action server:app-cert%'
         AND CAST(entry AS TEXT) LIKE '%outcome {outcome}%' AND CAST(entry AS TEXT) LIKE '%{line}%'"
    ))
    .parse()
    .unwrap()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// What a broken or malicious CA answers (tests/acme/hostile_ca.py, signing with the test
/// CA's key) is checked before anything is kept or written: the leaf for the key generated
/// for it and the name ordered, in force for at most 398 days, only the name ordered proven,
/// a token that is a word; and of what it returns, only certificates are kept.
#[test]
fn what_a_hostile_ca_returns_is_checked_before_anything_is_kept() {
    let a = acme();
    let pki = Path::new(&a.ca).parent().unwrap();
    let port = free_addr().rsplit_once(':').unwrap().1.to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/acme/hostile_ca.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(&port)
        .args(["cert.pem", "key.pem", "ca.pem", "ca.key"].map(|f| pki.join(f)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut ready).unwrap();
    let _ca = Killed(child);
    assert_eq!(ready.trim(), "ready");

    let env = Env::new();
    crate::servers::add(&env, "hugo-1 fr-roubaix dedicated acme 192.0.2.10");
    env.ok(&["server", "app", "add", "hugo-1", "--kind", "moodle", "--domain", DOMAIN]);
    let out = env.path("certs");
    std::fs::create_dir(&out).unwrap();
    let webroot = env.path("www/site");
    std::fs::create_dir_all(&webroot).unwrap();
    let listen = free_addr();
    let cert = |mode: &str, responder: [&str; 2], code: i32| {
        let directory = format!("https://localhost:{port}/{mode}/dir");
        let args = ["server", "app", "cert", DOMAIN, responder[0], responder[1], "--acme-directory", &directory];
        let mut args = args.to_vec();
        args.extend(["--acme-root", &a.ca, "--out", out.to_str().unwrap(), "--timeout", "20"]);
        expect(&env, None, &args, code)
    };
    for (mode, says) in [
        ("other-key", "is for another key than the one generated for it"),
        ("other-name", "evil.example.com"),
        ("long", "lasts more than 398 days"),
        ("short", "lasts less than 3 days"),
        ("ca-leaf", "is an authority's certificate"),
        ("not-x509", "holds a certificate that does not parse"),
    ] {
        let text = cert(mode, ["--http-listen", &listen], 1);
        assert!(text.contains(says), "{mode}: {text}");
        assert_eq!(serial(&env), "", "{mode}: nothing kept");
        assert!(!out.join(DOMAIN).exists(), "{mode}: nothing written");
    }
    // A token naming a path: refused before any file is named.
    let text = cert("bad-token", ["--webroot", webroot.to_str().unwrap()], 1);
    assert!(text.contains("not base64url"), "{text}");
    assert!(!env.path("www/x").exists() && !env.path("x").exists());
    assert_eq!(std::fs::read_dir(webroot.join(".well-known/acme-challenge")).map_or(0, |d| d.count()), 0);

    // Links in the document root or the output directory are not followed (gardien runs as
    // root; the site's own content could point them anywhere).
    let linked = env.path("www/linked");
    std::fs::create_dir_all(&linked).unwrap();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, linked.join(".well-known")).unwrap();
    let text = cert("good", ["--webroot", linked.to_str().unwrap()], 1);
    assert!(text.contains("is a link"), "{text}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(serial(&env), "");

    // A good certificate with junk around it: only the certificates are kept and written.
    let text = cert("good", ["--http-listen", &listen], 0);
    assert!(text.contains("valid until"), "{text}");
    let chain = std::fs::read_to_string(out.join(DOMAIN).join("fullchain.pem")).unwrap();
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2, "{chain}");
    assert!(!chain.contains("PRIVATE") && !chain.contains('\u{1b}') && !chain.contains("junk"), "{chain}");
    assert_eq!(env.sql(&format!("SELECT chain FROM app_certificates WHERE domain = '{DOMAIN}'")), chain.trim_end());
}
