//! Notifications (issue 15, first part), with a real SMTP server on loopback (aiosmtpd from
//! PyPI, `tests/notify/smtp_sink.py`): who receives what, in which language, with which
//! headers, with no client data; a relay down then back: each message once, in order.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// The Python with aiosmtpd that scripts/test prepares (`GARDIEN_TEST_PYTHON`, default the
/// workspace's `target/tus-venv`).
fn python() -> PathBuf {
    let p = std::env::var_os("GARDIEN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tus-venv/bin/python"));
    let ok = Command::new(&p).args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    assert!(ok, "{} has no aiosmtpd: run scripts/test, which installs tests/notify/requirements.txt", p.display());
    p
}

struct Sink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sink {
    fn start(dir: &Path, port: u16) -> Sink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/notify/smtp_sink.py");
        let mut child =
            Command::new(python()).arg(script).arg(dir).arg(port.to_string()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("sink: {line}")).parse().unwrap();
        Sink { child, port, dir: dir.to_owned() }
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> =
            walk(&self.dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

#[test]
fn the_right_people_are_told_in_their_language_with_no_client_data_and_once() {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&[
        "person",
        "add",
        "signer-acme",
        "--role",
        "client-signer",
        "--client",
        "acme",
        "--email",
        "signer@acme.example",
        "--lang",
        "en",
    ]);
    env.ok(&[
        "person",
        "add",
        "signer-beta",
        "--role",
        "client-signer",
        "--client",
        "beta",
        "--email",
        "signer@beta.example",
    ]);
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    env.ok(&["person", "contact", "operator", "--email", "ops@hebergeur.example"]);
    let id = env.ingest(b"CONTENU-MARQUEUR eleves 2nde A", &["--label", "Dossier Jeanne Dupont"]);
    let sink = Sink::start(&env.path("mail"), 0);
    // Plain SMTP only to a relay on this machine.
    let e = env.fails(
        &[
            "notify",
            "config",
            "--smtp",
            "relay.example:25",
            "--from",
            "gardien@hebergeur.example",
            "--portal",
            "https://gardien.example",
        ],
        1,
    );
    assert!(e.contains("NET-1"), "{e}");
    let port = sink.port.to_string();
    let smtp = format!("127.0.0.1:{port}");
    env.ok(&[
        "notify",
        "config",
        "--smtp",
        &smtp,
        "--from",
        "gardien@hebergeur.example",
        "--portal",
        "https://gardien.example",
    ]);
    let ap = request_approval(&env, "disclosure", "chercheur", &id, "PORTEE-MARQUEUR: la liste des eleves");
    env.ok(&["notify", "flush"]);
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(header(m, "X-Envelope-To"), Some("signer@acme.example"));
    assert!(
        header(m, "Subject").is_some_and(|s| s.contains("An approval awaits your decision") && s.contains(&ap)),
        "{m}"
    );
    assert!(m.contains(&format!("https://gardien.example/approvals/{ap}")), "{m}");
    assert!(header(m, "Message-ID").is_some_and(|v| v.starts_with('<') && v.ends_with("@hebergeur.example>")), "{m}");
    assert!(header(m, "Date").is_some());
    assert_eq!(header(m, "Auto-Submitted"), Some("auto-generated"));
    for secret in ["Jeanne", "MARQUEUR", "eleves", "Dossier"] {
        assert!(!m.contains(secret), "client data in the message: {secret}\n{m}");
    }
    // The relay down: the operation goes on, the mail waits; back up, it arrives once.
    drop(sink);
    let ap2 = request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 2");
    env.ok(&["notify", "flush"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["notify", "list", "--json"])).unwrap();
    let row = list.as_array().unwrap().iter().find(|n| n["subject"] == ap2.as_str()).unwrap().clone();
    assert_eq!((row["state"].as_str(), row["attempts"].as_i64()), (Some("pending"), Some(1)), "{row}");
    assert!(row["last_error"].as_str().is_some());
    let sink = Sink::start(&env.path("mail"), sink_port(&port));
    env.ok(&["notify", "flush"]);
    assert_eq!(sink.messages().len(), 1, "not before its next attempt");
    for later in ["+10m", "+20m"] {
        flush_at(&env, later);
    }
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 2, "once: {msgs:?}");
    assert!(header(&msgs[1], "Subject").is_some_and(|s| s.contains(&ap2)));
    // Nothing ever reached beta's signer.
    assert!(msgs.iter().all(|m| !m.contains("beta.example")));
}

fn sink_port(p: &str) -> u16 {
    p.parse().unwrap()
}

/// A person sets their own address and language from the portal's home page; a bad
/// address changes nothing.
#[test]
fn one_sets_ones_own_address_from_the_portal() {
    use crate::serve::{Auth, PASSWORD, Server, person};
    let env = Env::new();
    person(&env, "admin-acme", "client-admin", Some("acme"));
    let s = Server::start(&env);
    let cookie = s.login("admin-acme", PASSWORD);
    let home = s.get("/", Auth::Cookie(&cookie));
    assert!(home.body.contains("action=\"/contact\""), "{}", home.body);
    let csrf = home.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r = s.post_form(
        "/contact",
        Auth::Cookie(&cookie),
        &[("csrf", &csrf), ("email", "cpe@acme.example"), ("lang", "en")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let bad =
        s.post_form("/contact", Auth::Cookie(&cookie), &[("csrf", &csrf), ("email", "not an address"), ("lang", "fr")]);
    assert_ne!(bad.status, 303, "{bad:?}");
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["person", "list", "--json"])).unwrap();
    let p = list.as_array().unwrap().iter().find(|p| p["handle"] == "admin-acme").unwrap();
    assert_eq!((p["email"].as_str(), p["lang"].as_str()), (Some("cpe@acme.example"), Some("en")));
}

fn flush_at(env: &Env, later: &str) -> String {
    let out = Command::new("faketime")
        .args(["-f", later])
        .arg(bin())
        .args(["notify", "flush"])
        .env("GARDIEN_DATA_DIR", &env.data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Time makes reminders due, each once: an approval waiting 3 days (to the signers), a
/// drop closing within 24 hours that received nothing (to its addressee).
#[test]
fn an_approval_waiting_three_days_and_a_drop_closing_unused_are_reminded_once() {
    let env = Env::new();
    env.ok(&[
        "person",
        "add",
        "signer-acme",
        "--role",
        "client-signer",
        "--client",
        "acme",
        "--email",
        "signer@acme.example",
    ]);
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    env.ok(&[
        "person",
        "add",
        "tom",
        "--role",
        "technical-operator",
        "--email",
        "tom@hebergeur.example",
        "--lang",
        "en",
    ]);
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2099-06-30"]);
    let id = env.ingest(b"x", &[]);
    let sink = Sink::start(&env.path("mail"), 0);
    let smtp = format!("127.0.0.1:{}", sink.port);
    env.ok(&[
        "notify",
        "config",
        "--smtp",
        &smtp,
        "--from",
        "gardien@hebergeur.example",
        "--portal",
        "https://gardien.example",
    ]);
    let ap =
        request_approval(&env, "disclosure", "chercheur", &id, "the list of second-year pupils, for the ENT accounts");
    let j: serde_json::Value = serde_json::from_str(&env.ok(&[
        "drop",
        "create",
        "--client",
        "acme",
        "--to",
        "tom",
        "--contract",
        "trial",
        "--expires",
        "30h",
        "--json",
    ]))
    .unwrap();
    let drop_id = j["id"].as_str().unwrap().to_owned();
    env.ok(&["notify", "flush"]);
    assert_eq!(sink.messages().len(), 1, "the approval waiting, nothing else yet");
    // 7 hours later: the drop closes within 24 hours, unused.
    assert!(flush_at(&env, "+7h").starts_with("1 reminders due"));
    let m = sink.messages();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(header(&m[1], "X-Envelope-To"), Some("tom@hebergeur.example"));
    assert!(header(&m[1], "Subject").is_some_and(|s| s.contains(&drop_id) && s.contains("expires soon")), "{}", m[1]);
    // 3 days and an hour: the approval still waits.
    flush_at(&env, "+73h");
    let m = sink.messages();
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(header(&m[2], "Subject").is_some_and(|s| s.contains("Rappel") && s.contains(&ap)), "{}", m[2]);
    // Once each.
    assert!(flush_at(&env, "+74h").starts_with("0 reminders due"));
    assert_eq!(sink.messages().len(), 3);
}

/// Two flushes at once (the server's and an operator's `notify flush`) send each message
/// once.
#[test]
fn two_flushes_at_once_send_each_message_once() {
    let env = Env::new();
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    for i in 0..6 {
        let h = format!("signer-{i}");
        let mail = format!("{h}@acme.example");
        env.ok(&["person", "add", &h, "--role", "client-signer", "--client", "acme", "--email", &mail]);
    }
    let id = env.ingest(b"x", &[]);
    let sink = Sink::start(&env.path("mail"), 0);
    let smtp = format!("127.0.0.1:{}", sink.port);
    env.ok(&[
        "notify",
        "config",
        "--smtp",
        &smtp,
        "--from",
        "gardien@hebergeur.example",
        "--portal",
        "https://gardien.example",
    ]);
    for _ in 0..3 {
        request_approval(&env, "disclosure", "chercheur", &id, "the list of second-year pupils, for the ENT accounts");
    }
    let flushes: Vec<_> = (0..3).map(|_| env.cmd(&["notify", "flush"]).spawn().unwrap()).collect();
    for mut f in flushes {
        assert!(f.wait().unwrap().success());
    }
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 18, "3 approvals x 6 signers, each once");
    let mut ids: Vec<&str> = msgs.iter().filter_map(|m| header(m, "Message-ID")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 18);
}
