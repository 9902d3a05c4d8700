//! Notifications and webhooks (issue 15), with a real SMTP server on loopback (aiosmtpd from
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

pub(crate) struct Sink {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Sink {
    pub fn start(dir: &Path, port: u16) -> Sink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/notify/smtp_sink.py");
        let mut child =
            Command::new(python()).arg(script).arg(dir).arg(port.to_string()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("sink: {line}")).parse().unwrap();
        Sink { child, port, dir: dir.to_owned() }
    }

    pub fn messages(&self) -> Vec<String> {
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

/// `notify config` with `sink` as the relay, linking to https://gardien.example.
pub(crate) fn relay(env: &Env, sink: &Sink) {
    let smtp = format!("127.0.0.1:{}", sink.port);
    let args = [
        "notify",
        "config",
        "--smtp",
        &smtp,
        "--from",
        "gardien@hebergeur.example",
        "--portal",
        "https://gardien.example",
    ];
    env.ok(&args);
}

/// acme's signer, told at signer@acme.example.
fn signer_acme(env: &Env) {
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
}

pub(crate) fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

#[test]
fn the_right_people_are_told_in_their_language_with_no_client_data_and_once() {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    signer_acme(&env);
    env.ok(&["person", "contact", "signer-acme", "--lang", "en"]);
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
    let port = sink.port;
    relay(&env, &sink);
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
    assert!(header(m, "Content-Type").is_some_and(|c| c.starts_with("text/plain") && c.contains("utf-8")), "{m}");
    assert_eq!(header(m, "MIME-Version"), Some("1.0"), "{m}");
    // An address the mailer would refuse is refused when given, not found at the send.
    let e = env.fails(&["person", "contact", "signer-acme", "--email", "a<b@acme.example"], 1);
    assert!(e.contains("not an e-mail address"), "{e}");
    for secret in ["Jeanne", "MARQUEUR", "eleves", "Dossier"] {
        assert!(!m.contains(secret), "client data in the message: {secret}\n{m}");
    }
    // The relay down: the operation goes on, the mail waits; back up, it arrives once.
    drop(sink);
    let ap2 = request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 2");
    let ap3 = request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 3");
    env.ok(&["notify", "flush"]);
    let list: serde_json::Value = serde_json::from_str(&env.ok(&["notify", "list", "--json"])).unwrap();
    let row = list.as_array().unwrap().iter().find(|n| n["subject"] == ap2.as_str()).unwrap().clone();
    assert_eq!((row["state"].as_str(), row["attempts"].as_i64()), (Some("pending"), Some(1)), "{row}");
    assert!(row["last_error"].as_str().is_some());
    let sink = Sink::start(&env.path("mail"), port);
    env.ok(&["notify", "flush"]);
    assert_eq!(sink.messages().len(), 1, "not before its next attempt");
    for later in ["+10m", "+20m"] {
        flush_at(&env, later);
    }
    let msgs = sink.messages();
    assert_eq!(msgs.len(), 3, "once each: {msgs:?}");
    assert!(header(&msgs[1], "Subject").is_some_and(|s| s.contains(&ap2)), "in order");
    assert!(header(&msgs[2], "Subject").is_some_and(|s| s.contains(&ap3)), "in order");
    // Nothing ever reached beta's signer.
    assert!(msgs.iter().all(|m| !m.contains("beta.example")));
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

pub(crate) fn flush_at(env: &Env, later: &str) -> String {
    run_at(env, later, &["notify", "flush"])
}

/// `gardien ARGS` with the clock moved by `later` (`+10m`, `+3d`) under faketime.
fn run_at(env: &Env, later: &str, args: &[&str]) -> String {
    let out = Command::new("faketime")
        .args(["-f", later])
        .arg(bin())
        .args(args)
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
    signer_acme(&env);
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
    relay(&env, &sink);
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
    relay(&env, &sink);
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

/// A webhook receiver on loopback (`tests/notify/webhook_sink.py`, Python's standard
/// library) that checks each delivery as docs/webhooks.md says; `clock`: run it under
/// faketime (`+20m`), its clock that far ahead.
struct Hook {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Hook {
    fn start(dir: &Path, secret: &Path, port: u16, clock: Option<&str>) -> Hook {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/notify/webhook_sink.py");
        // libfaketime preloaded into the receiver itself (not the `faketime` wrapper, whose
        // child would outlive a kill).
        let mut cmd = Command::new(python());
        if let Some(c) = clock {
            cmd.env("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").env("FAKETIME", c);
        }
        let mut child =
            cmd.arg(script).arg(dir).arg(secret).arg(port.to_string()).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("hook: {line}")).parse().unwrap();
        Hook { child, port, dir: dir.to_owned() }
    }

    /// Every request it took, in order.
    fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Sends a captured request again: its status and the receiver's verdict.
    fn replay(&self, signature: &str, delivery: &str, body: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let r = agent
            .post(&format!("http://127.0.0.1:{}/gardien", self.port))
            .header("Content-Type", "application/json")
            .header("Gardien-Signature", signature)
            .header("Gardien-Delivery", delivery)
            .send(body)
            .unwrap();
        let verdict = self.log().last().unwrap()["verdict"].as_str().unwrap().to_owned();
        (r.status().as_u16(), verdict)
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Webhooks: https (or loopback), known events, a secret printed once and kept wrapped;
/// each delivery signed, with no client data; the endpoint down then back: each delivery
/// once, in order; a captured delivery replayed after 5 minutes, or altered, is refused by
/// the documented verification; a webhook for client B hears nothing of client A.
#[test]
fn webhooks_are_signed_delivered_once_in_order_and_a_replay_is_refused() {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&["person", "add", "signer-acme", "--role", "client-signer", "--client", "acme"]);
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    let id = env.ingest(b"CONTENU-MARQUEUR eleves 2nde A", &["--label", "Dossier Jeanne Dupont"]);
    // Abuse first: plain http elsewhere (NET-1), an unknown event, a password in the URL,
    // an unknown client; none is added.
    for (args, says) in [
        (vec!["webhook", "add", "http://tickets.example/h", "--events", "all"], "NET-1"),
        (vec!["webhook", "add", "https://tickets.example/h", "--events", "approval-waiting,nope"], "unknown event"),
        (vec!["webhook", "add", "https://u:p@tickets.example/h", "--events", "all"], "no user or password"),
        (vec!["webhook", "add", "https://tickets.example/h\u{1b}[8m", "--events", "all"], "printable"),
        (vec!["webhook", "add", "https://tickets.example/h", "--events", "all", "--client", "nobody"], "nobody"),
    ] {
        let e = env.fails(&args, 1);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(env.sql("SELECT count(*) FROM webhooks"), "0");
    let secret_file = env.path("hook-secret");
    std::fs::write(&secret_file, "").unwrap();
    let hook = Hook::start(&env.path("hook"), &secret_file, 0, None);
    let url = format!("http://127.0.0.1:{}/gardien", hook.port);
    let secret = env.ok(&["webhook", "add", &url, "--events", "all"]).trim().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    std::fs::write(&secret_file, &secret).unwrap();
    // Client beta's webhook (on the same receiver, another path) never hears of acme.
    let beta = format!("http://127.0.0.1:{}/beta", hook.port);
    env.ok(&["webhook", "add", &beta, "--events", "approval-waiting", "--client", "beta"]);
    // The secret is shown once: not in the listing, not in the catalog in clear.
    assert!(!env.ok(&["webhook", "list", "--json"]).contains(&secret));
    assert_eq!(env.sql(&format!("SELECT count(*) FROM webhooks WHERE wrapped_secret LIKE '%{secret}%'")), "0");

    let ap = request_approval(&env, "disclosure", "chercheur", &id, "PORTEE-MARQUEUR: la liste des eleves");
    // No relay: the webhooks are delivered, the mail waits for one.
    env.ok(&["notify", "flush"]);
    let log = hook.log();
    assert_eq!(log.len(), 1, "{log:?}");
    let first = log[0].clone();
    assert_eq!(first["verdict"], "accepted", "{first}");
    assert_eq!(first["event"], "approval-waiting");
    assert_eq!(first["content_type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(first["body"].as_str().unwrap()).unwrap();
    assert_eq!((body["subject"].as_str(), body["client"].as_str()), (Some(ap.as_str()), Some("acme")), "{body}");
    assert_eq!(body["facts"]["kind"], "disclosure");
    for marker in ["Jeanne", "MARQUEUR", "eleves", "Dossier"] {
        assert!(!first["body"].as_str().unwrap().contains(marker), "client data in the webhook: {marker}\n{body}");
    }

    // The endpoint down: the operations go on, the deliveries wait, in order.
    drop(hook);
    let ap2 = request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 2");
    let ap3 = request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 3");
    env.ok(&["notify", "flush"]);
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["notify", "list", "--json"])).unwrap();
    let attempts = |ap: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|n| n["subject"] == ap && n["webhook"].is_string())
            .map(|n| (n["state"].as_str().unwrap().to_owned(), n["attempts"].as_i64().unwrap()))
            .unwrap()
    };
    assert_eq!(attempts(&ap2), ("pending".to_owned(), 1), "tried, to try again");
    assert_eq!(attempts(&ap3), ("pending".to_owned(), 0), "waits behind the one before it");
    // Back at once: the next flush still keeps the order (ap2 is not due again yet, so
    // ap3 waits too).
    let hook = Hook::start(&env.path("hook"), &secret_file, hook_port(&url), None);
    env.ok(&["notify", "flush"]);
    assert_eq!(hook.log().len(), 1, "nothing overtakes the delivery waiting for its retry");
    drop(hook);
    // Back 20 minutes later (its clock and gardien's moved together): each once, in order.
    let hook = Hook::start(&env.path("hook"), &secret_file, hook_port(&url), Some("+20m"));
    flush_at(&env, "+20m");
    flush_at(&env, "+21m");
    let accepted: Vec<serde_json::Value> = hook.log().into_iter().filter(|l| l["verdict"] == "accepted").collect();
    let subjects: Vec<String> = accepted
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l["body"].as_str().unwrap()).unwrap()["subject"].to_string())
        .collect();
    assert_eq!(subjects, [&ap, &ap2, &ap3].map(|a| format!("\"{a}\"")), "once each, in order");
    assert!(hook.log().iter().all(|l| l["verdict"] == "accepted"), "{:?}", hook.log());

    // Replays: the first delivery, captured, sent again 20 minutes later: refused (stale).
    let (sig, delivery, raw) =
        (first["signature"].as_str().unwrap(), first["delivery"].as_str().unwrap(), first["body"].as_str().unwrap());
    assert_eq!(hook.replay(sig, delivery, raw), (401, "refused: stale".to_owned()));
    // The last one, sent again within the window: acknowledged, not acted on twice.
    let last = accepted.last().unwrap();
    let (sig, delivery, raw) =
        (last["signature"].as_str().unwrap(), last["delivery"].as_str().unwrap(), last["body"].as_str().unwrap());
    assert_eq!(hook.replay(sig, delivery, raw), (200, "duplicate".to_owned()));
    // Altered: refused.
    let forged = raw.replace("observation", "disclosure");
    assert_eq!(hook.replay(sig, "999", &forged), (401, "refused: bad signature".to_owned()));
    let beta_rows = "SELECT count(*) FROM outbox o JOIN webhooks w ON o.webhook = w.id WHERE w.client = 'beta'";
    assert_eq!(env.sql(beta_rows), "0", "client beta's webhook hears nothing of acme");

    // Removed: it takes nothing more, and what waited for it is dropped.
    let wh = env.sql("SELECT id FROM webhooks WHERE client IS NULL");
    drop(hook);
    request_approval(&env, "observation", "chercheur", &id, "PORTEE-MARQUEUR 4");
    env.ok(&["webhook", "remove", &wh]);
    assert_eq!(env.sql(&format!("SELECT count(*) FROM outbox WHERE webhook = '{wh}' AND state = 'pending'")), "0");
    let e = env.fails(&["webhook", "remove", &wh], 1);
    assert!(e.contains("unknown webhook"), "{e}");
}

fn hook_port(url: &str) -> u16 {
    url.trim_start_matches("http://127.0.0.1:").split('/').next().unwrap().parse().unwrap()
}

fn in_days(n: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(n)).format("%Y-%m-%d").to_string()
}

/// A destruction is announced 21 days before (SecNumCloud 19.4.a), 7 days and the day
/// before, to the client's admins and ops, each once; its certificate cites the notice.
#[test]
fn a_destruction_is_announced_21_7_and_1_days_before_and_its_certificate_cites_the_notice() {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&[
        "person",
        "add",
        "admin-acme",
        "--role",
        "client-admin",
        "--client",
        "acme",
        "--email",
        "admin@acme.example",
    ]);
    env.ok(&[
        "person",
        "add",
        "admin-beta",
        "--role",
        "client-admin",
        "--client",
        "beta",
        "--email",
        "admin@beta.example",
    ]);
    env.ok(&["person", "contact", "operator", "--email", "ops@hebergeur.example", "--lang", "en"]);
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", &in_days(30)]);
    let id = env.ingest(
        b"CONTENU-MARQUEUR",
        &["--class", "presales-sample", "--contract", "trial", "--label", "Echantillon Jeanne Dupont"],
    );
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    env.ok(&["notify", "flush"]);
    assert_eq!(sink.messages().len(), 0, "30 days away: nothing yet");
    let told = |n: usize, days: &str| {
        let m = sink.messages();
        assert_eq!(m.len(), n, "{m:?}");
        let last_two = &m[n - 2..];
        let mut to: Vec<&str> = last_two.iter().filter_map(|x| header(x, "X-Envelope-To")).collect();
        to.sort_unstable();
        assert_eq!(to, ["admin@acme.example", "ops@hebergeur.example"]);
        for x in last_two {
            assert!(x.contains(&id) && x.contains(days), "{days}: {x}");
            for marker in ["Jeanne", "MARQUEUR", "Echantillon"] {
                assert!(!x.contains(marker), "client data: {marker}\n{x}");
            }
        }
    };
    flush_at(&env, "+10d");
    told(2, "21 ");
    flush_at(&env, "+11d");
    assert_eq!(sink.messages().len(), 2, "once");
    flush_at(&env, "+24d");
    told(4, "7 ");
    flush_at(&env, "+30d");
    told(6, "1 ");
    let fr = sink.messages().into_iter().find(|m| header(m, "X-Envelope-To") == Some("admin@acme.example")).unwrap();
    assert!(header(&fr, "Subject").is_some_and(|s| s.contains("Préavis de destruction")), "{fr}");
    // The sweep destroys it at its date; the certificate cites the 21-day notice.
    run_at(&env, "+31d", &["sweep"]);
    let cert = env.sql(&format!("SELECT note FROM certificates WHERE dataset = '{id}'"));
    let notice = cert.lines().find_map(|l| l.strip_prefix("notice ")).unwrap_or_else(|| panic!("{cert}"));
    assert!(notice.ends_with("(21 days before the destruction, to the client)"), "{notice}");
    // Nothing ever reached beta's admin.
    flush_at(&env, "+31d");
    assert!(sink.messages().iter().all(|m| !m.contains("beta.example")));
}

/// A third party hears that an approval for them opens, and that it ends (revoked, or at
/// its date), each once.
#[test]
fn a_third_party_hears_an_approval_open_and_end() {
    let env = Env::new();
    env.ok(&["person", "add", "signer-acme", "--role", "client-signer", "--client", "acme"]);
    env.ok(&[
        "person",
        "add",
        "chercheur",
        "--role",
        "third-party",
        "--client",
        "acme",
        "--email",
        "chercheur@univ.example",
        "--lang",
        "en",
    ]);
    let id = env.ingest(b"x", &[]);
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    let scope = "the list of second-year pupils, for the ENT accounts";
    let until = in_days(2);
    let a = env
        .ok(&[
            "approval",
            "request",
            "disclosure",
            "--client",
            "acme",
            "--for",
            "chercheur",
            "--dataset",
            &id,
            "--scope",
            scope,
            "--until",
            &until,
        ])
        .trim()
        .to_owned();
    let b = request_approval(&env, "disclosure", "chercheur", &id, scope);
    for ap in [&a, &b] {
        env.ok(&["--as", "signer-acme", "approval", "show", ap]);
        env.ok(&["--as", "signer-acme", "approval", "decide", ap, "--approve"]);
    }
    env.ok(&["approval", "revoke", &b]);
    env.ok(&["notify", "flush"]);
    let subjects = |m: &[String]| m.iter().filter_map(|x| header(x, "Subject").map(str::to_owned)).collect::<Vec<_>>();
    let m = sink.messages();
    assert_eq!(
        subjects(&m),
        [
            format!("[gardien] An approval opens for you ({a})"),
            format!("[gardien] An approval opens for you ({b})"),
            format!("[gardien] Approval {b} has ended"),
        ]
    );
    assert!(m[2].contains("(revoked)"), "{}", m[2]);
    assert!(m.iter().all(|x| header(x, "X-Envelope-To") == Some("chercheur@univ.example") && !x.contains("pupils")));
    // Its date passes: it ends, once.
    flush_at(&env, "+3d");
    flush_at(&env, "+4d");
    let m = sink.messages();
    assert_eq!(subjects(&m).len(), 4, "{:?}", subjects(&m));
    assert!(m[3].contains(&a) && m[3].contains("(expired)"), "{}", m[3]);
}

/// Ops hear of a sweep that could not destroy a due dataset (once a day at most), and ops
/// and the holder of a copy still not attested destroyed past its date (once).
#[test]
fn ops_hear_of_a_blocked_sweep_and_of_a_copy_awaiting_its_attestation() {
    let env = Env::new();
    env.with_tech();
    env.ok(&["person", "contact", TECH, "--email", "tech@hebergeur.example", "--lang", "en"]);
    env.ok(&["person", "contact", "operator", "--email", "ops@hebergeur.example", "--lang", "en"]);
    env.ok(&["contract", "add", "trial", "--client", "acme", "--presales-until", "2099-06-30"]);
    let id = env.ingest(b"CONTENU-MARQUEUR", &["--class", "presales-sample", "--contract", "trial"]);
    let installed = env.path("installed.sql");
    env.ok(&["--as", TECH, "copy", "out", &id, "--env", "laptop-qa-3", "-o", installed.to_str().unwrap()]);
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    env.ok(&["contract", "deal", "trial", "--lost"]);
    for _ in 0..2 {
        assert_eq!(env.run(&["sweep"]).status.code(), Some(3), "blocked by the copy");
    }
    env.ok(&["notify", "flush"]);
    env.ok(&["notify", "flush"]);
    let m = sink.messages();
    let got: Vec<(String, String)> = m
        .iter()
        .map(|x| {
            let to = header(x, "X-Envelope-To").unwrap().to_owned();
            let subject = header(x, "Subject").unwrap().to_owned();
            (to, subject.split(':').next().unwrap().to_owned())
        })
        .collect();
    assert_eq!(got.len(), 3, "{m:?}");
    for (to, starts) in [
        ("ops@hebergeur.example", "[gardien] Copy cp-"),
        ("ops@hebergeur.example", "[gardien] The destruction of ds-"),
        ("tech@hebergeur.example", "[gardien] Copy cp-"),
    ] {
        assert!(got.iter().any(|(t, s)| t == to && s.starts_with(starts)), "{to} {starts}: {got:?}");
    }
    let overdue = m.iter().find(|x| header(x, "X-Envelope-To") == Some("tech@hebergeur.example")).unwrap();
    assert!(overdue.contains(&format!("gardien copy attest {id} cp-")), "{overdue}");
    assert!(m.iter().all(|x| !x.contains("MARQUEUR")));
}

/// Mail that cannot go (the relay's credentials file is missing) waits, with an error that
/// names the setting, and does not hold up the webhooks.
#[test]
fn a_relay_that_cannot_be_reached_holds_up_mail_only() {
    let env = Env::new();
    signer_acme(&env);
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    let id = env.ingest(b"x", &[]);
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    let secret_file = env.path("hook-secret");
    std::fs::write(&secret_file, "").unwrap();
    let hook = Hook::start(&env.path("hook"), &secret_file, 0, None);
    let url = format!("http://127.0.0.1:{}/gardien", hook.port);
    std::fs::write(&secret_file, env.ok(&["webhook", "add", &url, "--events", "approval-waiting"]).trim()).unwrap();
    let ap = request_approval(&env, "disclosure", "chercheur", &id, "the list of second-year pupils");
    let out = env.cmd(&["notify", "flush"]).env("GARDIEN_SMTP_CREDENTIALS", env.path("missing")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(hook.log().len(), 1, "the webhook went");
    assert!(sink.messages().is_empty());
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["notify", "list", "--json"])).unwrap();
    let row = rows.as_array().unwrap().iter().find(|n| n["subject"] == ap.as_str() && n["person"].is_string()).unwrap();
    assert_eq!(row["state"], "pending");
    assert!(row["last_error"].as_str().is_some_and(|e| e.contains("GARDIEN_SMTP_CREDENTIALS=")), "{row}");
    flush_at(&env, "+3m");
    assert_eq!(sink.messages().len(), 1, "then it goes");
}

/// A relay that refuses one recipient for good (554) fails that message alone; one that
/// refuses for now (450) retries it, that person's later mail behind it; nobody else waits.
#[test]
fn a_recipient_the_relay_refuses_holds_up_nobody_else() {
    let env = Env::new();
    env.ok(&["person", "add", "chercheur", "--role", "third-party", "--client", "acme"]);
    for (h, mail) in
        [("s-ok", "ok@acme.example"), ("s-refused", "refused@acme.example"), ("s-busy", "busy@acme.example")]
    {
        env.ok(&["person", "add", h, "--role", "client-signer", "--client", "acme", "--email", mail]);
    }
    let id = env.ingest(b"x", &[]);
    let sink = Sink::start(&env.path("mail"), 0);
    relay(&env, &sink);
    let ap = request_approval(&env, "disclosure", "chercheur", &id, "the list of second-year pupils");
    env.ok(&["notify", "flush"]);
    let ap2 = request_approval(&env, "observation", "chercheur", &id, "the list of second-year pupils");
    env.ok(&["notify", "flush"]);
    let to_ok: Vec<String> = sink
        .messages()
        .iter()
        .filter(|m| header(m, "X-Envelope-To") == Some("ok@acme.example"))
        .filter_map(|m| header(m, "Subject").map(str::to_owned))
        .collect();
    assert_eq!(to_ok.len(), 2, "{to_ok:?}");
    assert!(to_ok[0].contains(&ap) && to_ok[1].contains(&ap2), "in order: {to_ok:?}");
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["notify", "list", "--json"])).unwrap();
    let row = |who: &str, ap: &str| {
        let r = rows.as_array().unwrap().iter().find(|n| n["person"] == who && n["subject"] == ap).unwrap();
        (r["state"].as_str().unwrap().to_owned(), r["attempts"].as_i64().unwrap())
    };
    assert_eq!(row("s-refused", &ap), ("failed".to_owned(), 1), "for good, at once");
    assert_eq!(row("s-refused", &ap2), ("failed".to_owned(), 1));
    assert_eq!(row("s-busy", &ap), ("pending".to_owned(), 1), "for now: tried again later");
    assert_eq!(row("s-busy", &ap2), ("pending".to_owned(), 0), "behind that person's earlier mail");
}
