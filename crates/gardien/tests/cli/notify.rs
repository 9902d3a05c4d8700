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
        let st = Command::new("faketime")
            .args(["-f", later])
            .arg(bin())
            .args(["notify", "flush"])
            .env("GARDIEN_DATA_DIR", &env.data)
            .status()
            .unwrap();
        assert!(st.success());
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
