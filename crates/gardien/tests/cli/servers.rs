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
pub fn add(env: &Env, spec: &str) {
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

/// `openssl` in `dir`: a CA, and certificates it signs or that sign themselves.
fn openssl(dir: &std::path::Path, faketime: Option<&str>, args: &[&str]) {
    let mut c = match faketime {
        Some(t) => {
            let mut c = std::process::Command::new("faketime");
            c.args([t, "openssl"]);
            c
        }
        None => std::process::Command::new("openssl"),
    };
    let out = c.args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A leaf for `cn` in `dir/NAME.{crt,key}`: signed by `dir/ca` unless `self_signed`.
fn leaf(dir: &std::path::Path, name: &str, cn: &str, self_signed: bool, faketime: Option<&str>) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    let subj = format!("/CN={cn}");
    let san = format!("subjectAltName=DNS:{cn}");
    if self_signed {
        openssl(
            dir,
            faketime,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &crt,
                "-days",
                "365",
                "-subj",
                &subj,
                "-addext",
                &san,
            ],
        );
        return;
    }
    let csr = format!("{name}.csr");
    openssl(
        dir,
        None,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), format!("{san}\n")).unwrap();
    openssl(
        dir,
        faketime,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "90",
            "-extfile",
            &ext,
        ],
    );
}

/// `openssl s_server` serving `name`'s certificate on a free loopback port; killed when dropped.
struct TlsListener(std::process::Child, u16);

impl TlsListener {
    fn start(dir: &std::path::Path, name: &str) -> TlsListener {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", &format!("{name}.crt"), "-key", &format!("{name}.key")])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "s_server did not listen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TlsListener(child, port)
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_hygiene_check_reports_certificates_and_ports_by_clause() {
    let env = Env::new();
    people(&env);
    let dir = env.path("pki");
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        None,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "365",
            "-subj",
            "/CN=gardien test CA",
        ],
    );
    leaf(&dir, "good", "moodle.acme.test", false, None);
    leaf(&dir, "self", "self.acme.test", true, None);
    leaf(&dir, "old", "old.acme.test", false, Some("2020-01-01 00:00:00"));
    leaf(&dir, "wrong", "other.acme.test", false, None);
    let good = TlsListener::start(&dir, "good");
    let selfs = TlsListener::start(&dir, "self");
    let old = TlsListener::start(&dir, "old");
    let wrong = TlsListener::start(&dir, "wrong");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    add(&env, &format!("acme-1 fr-roubaix dedicated acme 127.0.0.1:{}", good.1));
    for (domain, l) in
        [("moodle.acme.test", &good), ("self.acme.test", &selfs), ("old.acme.test", &old), ("wrong.acme.test", &wrong)]
    {
        env.ok(&[
            "server",
            "app",
            "add",
            "acme-1",
            "--kind",
            "moodle",
            "--domain",
            domain,
            "--https",
            &format!("127.0.0.1:{}", l.1),
        ]);
    }
    env.ok(&["server", "ports", "acme-1", "--allow", &good.1.to_string()]);
    let ports = format!("{},{},{},{},{closed}", good.1, selfs.1, old.1, wrong.1);
    let ca = dir.join("ca.crt").to_string_lossy().into_owned();
    let check = |who: &str, extra: &[&str]| {
        let mut args = vec!["--as", who, "server", "check", "acme-1", "--json", "--ports", &ports];
        args.extend(extra);
        let out = env.run(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = check("operator", &["--ca", &ca]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(err.contains("findings on 1 servers"), "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let app = |d: &str| j[0]["apps"].as_array().unwrap().iter().find(|a| a["domain"] == d).unwrap().clone();
    let g = app("moodle.acme.test");
    assert_eq!(g["valid"], true, "{g}");
    let days = g["days_left"].as_i64().unwrap();
    assert!((88..=90).contains(&days), "{g}");
    assert!(g["issuer"].as_str().unwrap().contains("gardien test CA"), "{g}");
    for (d, said) in [
        ("self.acme.test", "not from a trusted authority"),
        ("old.acme.test", "has expired"),
        ("wrong.acme.test", "not for wrong.acme.test"),
    ] {
        let a = app(d);
        assert_eq!(a["valid"], false, "{a}");
        assert!(a["problems"].to_string().contains(said), "{d}: {a}");
    }
    assert!(app("old.acme.test")["days_left"].as_i64().unwrap() < -365, "expired in 2020");
    let findings = j[0]["findings"].as_array().unwrap();
    let net1: Vec<String> = findings.iter().filter(|f| f["clause"] == "NET-1").map(|f| f["text"].to_string()).collect();
    assert_eq!(net1.len(), 3, "{net1:?}");
    for p in [selfs.1, old.1, wrong.1] {
        assert!(net1.iter().any(|f| f.contains(&format!("port {p} answers"))), "{p}: {net1:?}");
    }
    assert!(!net1.iter().any(|f| f.contains(&format!("port {} ", good.1))), "the declared port: {net1:?}");
    assert_eq!(j[0]["open_ports"].as_array().unwrap().len(), 4, "the closed port is not open: {}", j[0]);
    let web1 = findings.iter().filter(|f| f["clause"] == "WEB-1").count();
    assert_eq!(web1, 3, "{findings:?}");
    // Without the test CA, the good one is not trusted either.
    let (_, out, _) = check("operator", &[]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        j[0]["findings"].to_string().contains("moodle.acme.test: the certificate is not from a trusted authority"),
        "{j}"
    );
    // The client's technical contact checks its own server; another client's answers as unknown.
    let (code, _, err) = check("tech-acme", &["--ca", &ca]);
    assert_eq!(code, Some(3), "{err}");
    let theirs = env.fails(&["--as", "admin-beta", "server", "check", "acme-1"], 1);
    let unknown = env.fails(&["--as", "admin-beta", "server", "check", "nope-1"], 1);
    assert_eq!(theirs.replace("acme-1", "X"), unknown.replace("nope-1", "X"));
    let err = env.fails(&["--as", "tech-acme", "server", "check"], 4);
    assert!(err.contains("OPS-1"), "{err}");
    // Declaring ports: ops only; bad lists change nothing.
    let err = env.fails(&["--as", "tech-acme", "server", "ports", "acme-1", "--allow", "22"], 4);
    assert!(err.contains("refused"), "{err}");
    let before = env.snapshot();
    for bad in ["", "0", "22,", "70000", "9-1", "22;rm"] {
        let err = env.fails(&["server", "ports", "acme-1", &format!("--allow={bad}")], 1);
        assert!(err.contains("--allow"), "{bad}: {err}");
    }
    assert_eq!(env.snapshot().1, before.1);
    // A server with nothing wrong exits 0.
    env.ok(&["server", "ports", "acme-1", "--allow", &ports]);
    add(&env, &format!("quiet-1 fr-roubaix dedicated acme 127.0.0.1:{closed}"));
    crate::fail2ban::report(&env, "quiet-1", "gardien-fail2ban-report/v1\nrunning yes\njail sshd 22\n");
    let out = env.ok(&["server", "check", "quiet-1", "--ports", &closed.to_string()]);
    assert!(out.contains("no findings") && out.contains("NET-2  fail2ban: running, jails sshd (22)"), "{out}");

    // The kept report is the operator's: a client's contact checking with its own options
    // gets its answer, and the record stays (the second review's first finding).
    let kept = |env: &Env| -> serde_json::Value {
        let j: serde_json::Value = serde_json::from_str(&env.ok(&["server", "show", "acme-1", "--json"])).unwrap();
        j["last_check"].clone()
    };
    env.ok(&["server", "ports", "acme-1", "--allow", &good.1.to_string()]);
    let _ = check("operator", &["--ca", &ca]);
    let before = kept(&env);
    assert_eq!(before["report"]["by"], "operator", "{before}");
    let n = before["report"]["findings"].as_array().unwrap().len();
    assert_eq!(n, 7, "3 WEB-1, 3 NET-1, NET-2 (never reported): {before}");
    let out = env.run(&["--as", "tech-acme", "server", "check", "acme-1", "--ca", &ca, "--ports", &closed.to_string()]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(kept(&env), before, "a client's check leaves the record as it was");
    // A list of ports is at most 64 items.
    let many = vec!["1-65535"; 65].join(",");
    let err = env.fails(&["server", "ports", "acme-1", "--allow", &many], 1);
    assert!(err.contains("at most 64"), "{err}");
    // A server whose address does not resolve is a finding; the others are checked all the same.
    add(&env, "lost-1 fr-roubaix shared - nowhere.invalid");
    let out = env.run(&["server", "check", "--ports", &closed.to_string(), "--timeout-ms", "200"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("lost-1") && text.contains("its ports could not be checked"), "{text}");
    assert!(text.contains("quiet-1 (dedicated"), "{text}");
    // A server that trickles its handshake is given ten times the limit, not for ever.
    let slow = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        if let Ok((mut c, _)) = slow.accept() {
            let mut hello = [0u8; 512];
            let _ = c.read(&mut hello);
            let _ = c.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
            for _ in 0..200 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if c.write_all(&[0]).is_err() {
                    return;
                }
            }
        }
    });
    add(&env, &format!("slow-1 fr-roubaix dedicated acme 127.0.0.1:{closed}"));
    env.ok(&[
        "server",
        "app",
        "add",
        "slow-1",
        "--kind",
        "moodle",
        "--domain",
        "slow.acme.test",
        "--https",
        &format!("127.0.0.1:{slow_port}"),
    ]);
    let t = std::time::Instant::now();
    let out = env.run(&["server", "check", "slow-1", "--ports", &closed.to_string(), "--timeout-ms", "200"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no TLS handshake"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
