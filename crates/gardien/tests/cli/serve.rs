//! `gardien serve`, the real binary on 127.0.0.1 with a test TLS certificate, driven by a
//! real HTTP client (ureq over rustls): authentication, tokens, sessions, lockout, every
//! refusal's status and body, client isolation through every route, no id oracle, the
//! route ⇄ door table, concurrent CLI and server writes.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::common::*;

/// A test CA and a certificate it signed for 127.0.0.1 (CA, cert, key), made once per test
/// run with `openssl`.
pub fn test_cert() -> &'static (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATHS: OnceLock<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap()).path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-days", "2", "-subj", "/CN=gardien test CA", "-keyout", "ca.key", "-out", "ca.pem"],
            ]
            .concat(),
        );
        openssl(&[&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "req.pem"]].concat());
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "req.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "cert.pem",
        ]);
        (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
    })
}

/// A running `gardien serve` on a data dir; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// Everything it wrote on stderr so far.
    pub log: Arc<Mutex<String>>,
    pub agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The whole process group: under `faketime`, gardien is faketime's child.
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.child.id())).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGKILL to the whole process group, now (a crash, not a shutdown).
    pub fn kill9(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--"]).arg(format!("-{}", self.child.id())).status();
        let _ = self.child.wait();
    }
}

/// One answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str),
}

impl Server {
    /// The arguments serving over HTTPS on a free loopback port.
    fn https_args() -> Vec<String> {
        let (_, cert, key) = test_cert();
        ["serve", "--listen", "127.0.0.1:0", "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]
            .map(str::to_owned)
            .to_vec()
    }

    /// Starts `gardien serve` on `env`'s data dir over HTTPS on a free loopback port.
    pub fn start(env: &Env) -> Server {
        let args = Server::https_args();
        Server::spawn(env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>()), "https")
    }

    /// Starts it with `cmd`, and waits for its "listening on" line.
    pub fn spawn(mut cmd: Command, scheme: &str) -> Server {
        use std::os::unix::process::CommandExt as _;
        let mut child =
            cmd.process_group(0).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("gardien serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        let marker = format!("listening on {scheme}://");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, addr)) = line.split_once(&marker) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!("the server did not start: {}", log.lock().unwrap());
        });
        Server { child, base: format!("{scheme}://{addr}"), log, agent: Server::new_agent() }
    }

    /// An agent trusting the test CA, with its own pool of connections.
    pub fn new_agent() -> ureq::Agent {
        let (ca, _, _) = test_cert();
        let pem = std::fs::read(ca).unwrap();
        let root = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[root])).build();
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .new_agent()
    }

    pub fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
        let headers =
            r.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        Answer { status: r.status().as_u16(), headers, body: r.body_mut().read_to_string().unwrap_or_default() }
    }

    pub fn with<B>(req: ureq::RequestBuilder<B>, auth: Auth<'_>) -> ureq::RequestBuilder<B> {
        match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.header("Authorization", &format!("Bearer {t}")),
            Auth::Cookie(c) => req.header("Cookie", c),
        }
    }

    pub fn get(&self, path: &str, auth: Auth<'_>) -> Answer {
        Server::answer(Server::with(self.agent.get(format!("{}{path}", self.base)), auth).call())
    }

    pub fn delete(&self, path: &str, auth: Auth<'_>) -> Answer {
        Server::answer(Server::with(self.agent.delete(format!("{}{path}", self.base)), auth).call())
    }

    pub fn post_json(&self, path: &str, auth: Auth<'_>, body: &Value) -> Answer {
        Server::answer(Server::with(self.agent.post(format!("{}{path}", self.base)), auth).send_json(body))
    }

    /// A form post as a browser on our own page sends it (same origin).
    pub fn post_form(&self, path: &str, auth: Auth<'_>, fields: &[(&str, &str)]) -> Answer {
        self.post_form_from(path, auth, fields, &self.base)
    }

    /// A form post from a page of `origin`.
    pub fn post_form_from(&self, path: &str, auth: Auth<'_>, fields: &[(&str, &str)], origin: &str) -> Answer {
        let req = Server::with(self.agent.post(format!("{}{path}", self.base)), auth).header("Origin", origin);
        Server::answer(req.send_form(fields.iter().copied()))
    }

    /// Signs in through the form; the session cookie ("name=value").
    pub fn login(&self, handle: &str, password: &str) -> String {
        let a = self.post_form("/login", Auth::None, &[("handle", handle), ("password", password)]);
        assert_eq!(a.status, 303, "sign-in of {handle}: {a:?}");
        a.headers_named("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("__Host-gardien="))
            .and_then(|c| c.split(';').next())
            .unwrap_or_else(|| panic!("no session cookie: {a:?}"))
            .to_owned()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once `done` holds of it (or after 10 s: the caller's assertion says what
    /// was missing).
    pub fn wait_log(&self, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let log = self.log_text();
            if done(&log) {
                return log;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.log_text()
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A person with a password.
pub fn person(env: &Env, handle: &str, role: &str, client: Option<&str>) {
    let mut args = vec!["person", "add", handle, "--role", role];
    if let Some(c) = client {
        args.extend(["--client", c]);
    }
    env.ok(&args);
    set_password(env, handle, PASSWORD);
}

pub fn set_password(env: &Env, handle: &str, password: &str) {
    use std::io::Write as _;
    let mut child = env
        .cmd(&["person", "password", handle])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A token of `handle`'s.
pub fn token(env: &Env, handle: &str) -> String {
    env.ok(&["--as", handle, "token", "create"]).trim().to_owned()
}

/// Two clients, acme and beta, each with an admin, a dataset and a token.
pub struct Two {
    pub env: Env,
    pub acme_ds: String,
    pub beta_ds: String,
    pub acme: String,
    pub beta: String,
}

pub fn two_clients() -> Two {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta Université"]);
    person(&env, "admin-acme", "client-admin", Some("acme"));
    person(&env, "admin-beta", "client-admin", Some("beta"));
    let acme_ds = env.ingest(b"acme's data", &[]);
    let beta_ds = env.ingest(b"beta's data", &["--client", "beta"]);
    let acme = token(&env, "admin-acme");
    let beta = token(&env, "admin-beta");
    Two { env, acme_ds, beta_ds, acme, beta }
}

/// An observation of acme's dataset requested for `researcher` (a third party of acme,
/// registered here); its id.
fn observation_for_researcher(t: &Two, scope: &str) -> String {
    person(&t.env, "researcher", "third-party", Some("acme"));
    request_approval(&t.env, "observation", "researcher", &t.acme_ds, scope)
}

fn events(env: &Env) -> usize {
    env.sql("SELECT count(*) FROM ledger_entries").parse().unwrap()
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let env = Env::new();
    let out = env.run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve plain HTTP on 0.0.0.0:0") && err.contains("NET-1"), "{err}");
}

#[test]
fn the_api_needs_a_token_in_force() {
    let t = two_clients();
    let s = Server::start(&t.env);
    let me = s.get("/api/v1/me", Auth::Bearer(&t.acme));
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json()["handle"], "admin-acme");
    // None, garbage, a cookie instead, a revoked one, an expired one, a disabled person's.
    let none = s.get("/api/v1/me", Auth::None);
    assert_eq!((none.status, none.json()["error"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let forged = format!("gardien_{}", "A".repeat(43));
    assert_eq!(s.get("/api/v1/me", Auth::Bearer(&forged)).status, 401);
    assert_eq!(s.get("/api/v1/me", Auth::Cookie(&format!("__Host-gardien={}", t.acme))).status, 401);
    let id = t.env.sql("SELECT id FROM tokens WHERE handle = 'admin-acme'");
    let second = token(&t.env, "admin-acme");
    t.env.ok(&["--as", "admin-acme", "token", "revoke", &id]);
    assert_eq!(s.get("/api/v1/me", Auth::Bearer(&t.acme)).status, 401, "a revoked token");
    assert_eq!(s.get("/api/v1/me", Auth::Bearer(&second)).status, 200);
    let expired = t.env.ok_at("2026-01-01", &["--as", "admin-acme", "token", "create", "--expires", "1d"]);
    assert_eq!(s.get("/api/v1/me", Auth::Bearer(expired.trim())).status, 401, "an expired token");
    t.env.ok(&["person", "disable", "admin-beta"]);
    assert_eq!(s.get("/api/v1/me", Auth::Bearer(&t.beta)).status, 401, "a disabled person's token");
    // One log line per failure, naming the address, in the format fail2ban reads.
    // (The cookie is no credential here: not a failure.)
    let log = s.wait_log(|l| l.matches("gardien auth-failure address=127.0.0.1 kind=token handle=\"\"").count() >= 4);
    let failures = log.lines().filter(|l| l.contains("gardien auth-failure address=127.0.0.1 kind=token")).count();
    assert_eq!(failures, 4, "{log}");
    // Secrets never reach the log.
    assert!(!log.contains(&t.acme) && !log.contains(&second) && !log.contains("gardien_A"), "{log}");
}

#[test]
fn another_clients_ids_answer_as_unknown_ones() {
    let t = two_clients();
    let s = Server::start(&t.env);
    let acme = Auth::Bearer(&t.acme);
    let ok = s.get(&format!("/api/v1/datasets/{}", t.acme_ds), acme);
    assert_eq!(ok.status, 200, "{ok:?}");
    let v = ok.json();
    assert_eq!((v["client"].as_str(), v["sites"][0].as_str()), (Some("acme"), Some("fr-roubaix")));
    // Beta's dataset and a dataset that does not exist: the same status and body but the id.
    let theirs = s.get(&format!("/api/v1/datasets/{}", t.beta_ds), acme);
    let unknown_id = format!("ds-{}", "0".repeat(t.beta_ds.len() - 3));
    let unknown = s.get(&format!("/api/v1/datasets/{unknown_id}"), acme);
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.body.replace(&t.beta_ds, "ID"), unknown.body.replace(&unknown_id, "ID"));
    // Their client, named: as an unknown client.
    let theirs = s.get("/api/v1/datasets?client=beta", acme);
    let unknown = s.get("/api/v1/datasets?client=gamma", acme);
    assert_eq!(theirs.status, 404);
    assert_eq!(theirs.body.replace("beta", "X"), unknown.body.replace("gamma", "X"));
    // A listing shows only their own rows.
    let list = s.get("/api/v1/datasets", acme).json();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [t.acme_ds.as_str()]);
    let log = s.get("/api/v1/ledger", acme).json();
    assert!(!log.as_array().unwrap().is_empty());
    for e in log.as_array().unwrap() {
        assert!(e["resources"].as_array().unwrap().contains(&"client:acme".into()), "{e}");
    }
    // Their keys.
    let theirs = s.get("/api/v1/clients/beta/keys", acme);
    let unknown = s.get("/api/v1/clients/gamma/keys", acme);
    assert_eq!((theirs.status, unknown.status), (404, 404));
    assert_eq!(theirs.body.replace("beta", "X"), unknown.body.replace("gamma", "X"));
    // The attempt is in beta's log, refused.
    let beta_log = s.get("/api/v1/ledger", Auth::Bearer(&t.beta)).json();
    assert!(
        beta_log.as_array().unwrap().iter().any(|e| e["actor"] == "person:admin-acme" && e["outcome"] == "denied"),
        "{beta_log}"
    );
}

#[test]
fn a_refusal_names_its_clauses() {
    let t = two_clients();
    person(&t.env, "auditor", "third-party", Some("acme"));
    let tp = token(&t.env, "auditor");
    let s = Server::start(&t.env);
    let a = s.get(&format!("/api/v1/datasets/{}", t.acme_ds), Auth::Bearer(&tp));
    assert_eq!(a.status, 403, "{a:?}");
    let v = a.json();
    assert_eq!(v["error"], "refused");
    assert_eq!(v["clauses"], serde_json::json!(["CONF-2"]));
    assert_eq!(v["reason"], "third parties have no access to client data");
    // The admin cannot decide an approval (CONF-1): 403 with the clause.
    let ap = request_approval(&t.env, "disclosure", "auditor", &t.acme_ds, "the 2025 grades, for the audit");
    let d = s.post_json(
        &format!("/api/v1/approvals/{ap}/decision"),
        Auth::Bearer(&t.acme),
        &serde_json::json!({"approve": true}),
    );
    assert_eq!(d.status, 403, "{d:?}");
    assert!(d.json()["clauses"].as_array().unwrap().contains(&"CONF-1".into()), "{d:?}");
}

#[test]
fn every_route_is_a_door_action_or_public_and_records_its_event() {
    const PUBLIC: [&str; 10] = [
        "/healthz",
        "/api/openapi.json",
        "/static/gardien.css",
        "/static/verify.js",
        "/static/drop.js",
        "/static/drop-vendor.js",
        "/login",
        "/login/totp",
        // The drop's page: the same for every link, known or not (PRE-1).
        "/d/{token}",
        // tus's OPTIONS: what the server speaks.
        "/tus/",
    ];
    let known: Vec<&str> = vault::Action::ALL.iter().map(|a| a.as_str()).collect();
    for r in server::routes::ROUTES {
        match r.action {
            Some(a) => assert!(known.contains(&a), "{} {} names {a}, which is no door action", r.method, r.path),
            None => assert!(
                PUBLIC.contains(&r.path) && (r.method == "GET" || (r.method == "OPTIONS" && r.path == "/tus/")),
                "{} {} is neither a door action nor public",
                r.method,
                r.path
            ),
        }
    }
    // Each API route, called, appends one event naming its action (or none, if public).
    let t = two_clients();
    person(&t.env, "signer-acme", "client-signer", Some("acme"));
    let signer = token(&t.env, "signer-acme");
    let ap = observation_for_researcher(&t, "watch the forums");
    let key = age_keygen(&t.env.path("client.key"));
    let s = Server::start(&t.env);
    for r in server::routes::ROUTES.iter().filter(|r| r.path.starts_with("/api/") || r.path == "/healthz") {
        let path = r
            .path
            .replace(
                "{id}",
                if r.path.contains("approvals") {
                    &ap
                } else if r.path.contains("certificates") {
                    "cert-000000000000"
                } else {
                    &t.acme_ds
                },
            )
            .replace("{case}", "acme-case")
            .replace("{n}", "1")
            .replace("{client}", "acme")
            .replace("{slug}", "no-such-site")
            .replace("{recipient}", &key);
        let who = if r.path.contains("decision") { Auth::Bearer(&signer) } else { Auth::Bearer(&t.acme) };
        let before = events(&t.env);
        let a = match r.method {
            "GET" => s.get(&path, who),
            "DELETE" => s.delete(&path, who),
            _ => {
                let body = if r.path.ends_with("/keys") || r.path.ends_with("/restitutions") {
                    serde_json::json!({"recipient": key})
                } else if r.path.ends_with("/decision") {
                    serde_json::json!({"approve": false, "comment": "no"})
                } else if r.path == "/api/v1/approvals" {
                    serde_json::json!({"kind": "disclosure", "client": "acme", "scope": "x", "for": "admin-acme"})
                } else {
                    serde_json::json!({})
                };
                s.post_json(&path, who, &body)
            }
        };
        let after = events(&t.env);
        match r.action {
            None => assert_eq!(after, before, "{} {} recorded something", r.method, path),
            Some(action) => {
                assert_eq!(after, before + 1, "{} {} ({a:?}) must append exactly one event", r.method, path);
                let last = last_event(&t.env);
                assert!(last.contains(&format!("\naction {action}\n")), "{} {path}: {last}", r.method);
            }
        }
    }
}

/// The value of a form's hidden `csrf` field in a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no csrf field: {html}"));
    let rest = &html[at + 19..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A TOTP code of `seed` (base32) for `at` seconds from now.
fn totp_code(seed: &str, ahead: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(seed).unwrap();
    let t = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    t.generate(now + ahead).to_string()
}

#[test]
fn sessions_are_host_cookies_with_csrf_protected_forms_and_strict_headers() {
    let t = two_clients();
    let s = Server::start(&t.env);
    // The sign-in page is public; every other page sends to it.
    let login = s.get("/login", Auth::None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"handle\"") && login.body.contains("name=\"password\""));
    assert!(login.body.contains("lang=\"fr\""), "French by default");
    assert_eq!(s.get("/datasets", Auth::None).header("location"), Some("/login"));
    let a = s.post_form("/login", Auth::None, &[("handle", "admin-acme"), ("password", PASSWORD)]);
    assert_eq!((a.status, a.header("location")), (303, Some("/")), "{a:?}");
    let set = a.headers_named("set-cookie").into_iter().find(|c| c.starts_with("__Host-gardien=")).unwrap().to_owned();
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    assert!(!set.contains("Domain="), "a __Host- cookie has no Domain");
    let cookie = set.split(';').next().unwrap().to_owned();
    // The session is stored hashed: the cookie's secret is nowhere in the catalog.
    let secret = cookie.split_once('=').unwrap().1;
    assert_eq!(t.env.sql(&format!("SELECT count(*) FROM sessions WHERE hash = '{secret}'")), "0");
    let page = s.get("/datasets", Auth::Cookie(&cookie));
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains(&t.acme_ds) && !page.body.contains(&t.beta_ds), "only acme's data");
    assert!(page.body.contains("Roubaix"), "the site is shown");
    // Headers a reviewer expects.
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.header("strict-transport-security").unwrap().starts_with("max-age="));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    // English on a switch, kept by a cookie.
    let en = s.get("/datasets?lang=en", Auth::Cookie(&cookie));
    assert!(en.body.contains("lang=\"en\"") && en.body.contains("Your data"), "{}", en.body);
    // A form from another site is refused, and so is one without the session's token.
    let home = s.get("/keys", Auth::Cookie(&cookie));
    let csrf = csrf_of(&home.body);
    let key = age_keygen(&t.env.path("k"));
    let before = t.env.snapshot();
    let cross = s.post_form_from(
        "/keys",
        Auth::Cookie(&cookie),
        &[("csrf", &csrf), ("recipient", &key)],
        "https://evil.example",
    );
    assert_eq!(cross.status, 403, "{cross:?}");
    let forged = s.post_form("/keys", Auth::Cookie(&cookie), &[("csrf", "forged"), ("recipient", &key)]);
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(t.env.sql("SELECT count(*) FROM client_keys"), "0", "nothing was added");
    let _ = before;
    let added = s.post_form("/keys", Auth::Cookie(&cookie), &[("csrf", &csrf), ("recipient", &key)]);
    assert_eq!(added.status, 303, "{added:?}");
    assert_eq!(t.env.sql("SELECT count(*) FROM client_keys"), "1");
    // Sign-out ends the session for good.
    let out = s.post_form("/logout", Auth::Cookie(&cookie), &[("csrf", &csrf)]);
    assert_eq!(out.status, 303);
    assert_eq!(s.get("/datasets", Auth::Cookie(&cookie)).header("location"), Some("/login"));
}

#[test]
fn repeated_failures_lock_the_account_and_are_recorded_and_logged_for_fail2ban() {
    let t = two_clients();
    let s = Server::start(&t.env);
    for _ in 0..vault::LOCK_AFTER {
        let a = s.post_form("/login", Auth::None, &[("handle", "admin-acme"), ("password", "wrong password 123")]);
        assert_eq!(a.status, 401);
        assert!(a.body.contains("Connexion refusée"), "{}", a.body);
    }
    // Locked: the right password is refused too, with the same answer.
    let a = s.post_form("/login", Auth::None, &[("handle", "admin-acme"), ("password", PASSWORD)]);
    assert_eq!(a.status, 401);
    let unknown = s.post_form("/login", Auth::None, &[("handle", "nobody"), ("password", PASSWORD)]);
    assert_eq!((unknown.status, unknown.body.replace("nobody", "X")), (a.status, a.body.replace("admin-acme", "X")));
    // In the ledger, in acme's log: the lock under NET-2.
    let locked =
        t.env.sql("SELECT count(*) FROM ledger_entries WHERE CAST(entry AS TEXT) LIKE '%action session:login%NET-2%'");
    assert_eq!(locked, "2", "the failure that locked, and the attempt while locked");
    // A new password (ops) lifts the lock.
    set_password(&t.env, "admin-acme", "another long passphrase");
    s.login("admin-acme", "another long passphrase");
    // One line per failure, which the shipped fail2ban filter matches, naming the address.
    let log = s.wait_log(|l| l.matches("auth-failure").count() >= 7);
    let file = t.env.path("serve.log");
    std::fs::write(&file, &log).unwrap();
    let filter = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/fail2ban/filter.d/gardien.conf");
    let out = Command::new("fail2ban-regex")
        .arg(&file)
        .arg(&filter)
        .output()
        .expect("fail2ban-regex (apt-get install fail2ban)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    let lines = log.lines().count();
    assert!(report.contains(&format!("Lines: {lines} lines, 0 ignored, 7 matched")), "{report}\n{log}");
    assert!(log.contains("auth-failure address=127.0.0.1 kind=locked handle=\"admin-acme\""), "{log}");
    assert!(!log.contains(PASSWORD) && !log.contains("wrong password"), "passwords never reach the log");
}

#[test]
fn a_signer_enrols_a_second_factor_before_anything_and_codes_are_used_once() {
    let t = two_clients();
    person(&t.env, "signer-acme", "client-signer", Some("acme"));
    let s = Server::start(&t.env);
    let a = s.post_form("/login", Auth::None, &[("handle", "signer-acme"), ("password", PASSWORD)]);
    assert_eq!(a.header("location"), Some("/totp"), "a signer must enrol: {a:?}");
    let cookie = a.headers_named("set-cookie")[0].split(';').next().unwrap().to_owned();
    // Until then, nothing else.
    assert_eq!(s.get("/approvals", Auth::Cookie(&cookie)).header("location"), Some("/totp"));
    let enrol = s.get("/totp", Auth::Cookie(&cookie));
    assert_eq!(enrol.status, 200);
    assert!(enrol.body.contains("<svg"), "a QR code");
    let at = enrol.body.find("class=\"secret\">").unwrap() + 15;
    let seed = enrol.body[at..at + enrol.body[at..].find('<').unwrap()].to_owned();
    let csrf = csrf_of(&enrol.body);
    let wrong = s.post_form("/totp", Auth::Cookie(&cookie), &[("csrf", &csrf), ("code", "000000")]);
    assert_ne!(wrong.status, 303);
    let code = totp_code(&seed, 0);
    let ok = s.post_form("/totp", Auth::Cookie(&cookie), &[("csrf", &csrf), ("code", &code)]);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")), "{ok:?}");
    assert_eq!(s.get("/approvals", Auth::Cookie(&cookie)).status, 200);
    // Next sign-in: the password, then a code; the code just used is refused (replay).
    let again = s.post_form("/login", Auth::None, &[("handle", "signer-acme"), ("password", PASSWORD)]);
    assert_eq!(again.header("location"), Some("/login/totp"));
    let cookie = again.headers_named("set-cookie")[0].split(';').next().unwrap().to_owned();
    assert_eq!(s.get("/approvals", Auth::Cookie(&cookie)).header("location"), Some("/login/totp"));
    let form = s.get("/login/totp", Auth::Cookie(&cookie));
    let csrf = csrf_of(&form.body);
    let replay = s.post_form("/login/totp", Auth::Cookie(&cookie), &[("csrf", &csrf), ("code", &code)]);
    assert_eq!(replay.status, 401, "a code is accepted once");
    let next = totp_code(&seed, 30);
    let ok = s.post_form("/login/totp", Auth::Cookie(&cookie), &[("csrf", &csrf), ("code", &next)]);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")), "{ok:?}");
    assert_eq!(s.get("/approvals", Auth::Cookie(&cookie)).status, 200);
    // The seed is not in the log, nor in any event's details.
    assert!(!s.log_text().contains(&seed));
    assert_eq!(t.env.sql(&format!("SELECT count(*) FROM event_details WHERE details LIKE '%{seed}%'")), "0");
}

#[test]
fn cli_and_server_write_the_ledger_at_once_and_it_stays_one_log() {
    let t = two_clients();
    let s = Arc::new(Server::start(&t.env));
    let before = events(&t.env);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            let (tok, id) = (t.acme.clone(), t.acme_ds.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(s.get(&format!("/api/v1/datasets/{id}"), Auth::Bearer(&tok)).status, 200);
                }
            })
        })
        .collect();
    for i in 0..5 {
        t.env.ingest(format!("written by the CLI meanwhile {i}").as_bytes(), &[]);
        t.env.ok(&["dataset", "show", &t.acme_ds]);
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(events(&t.env), before + 200 + 10);
    t.env.ok(&["ledger", "verify"]);
}

/// Two servers on one catalog (issue 14). On PostgreSQL each node has its own copy of the
/// data dir (its keys and gardien.toml) and shares the catalog and the stores; on SQLite
/// both serve the one data dir. Readers go through both while the CLI ingests; one node is
/// killed with SIGKILL mid-way and the other goes on. Every answered request's event is in
/// the log, the log is one contiguous sequence, and it verifies.
#[test]
fn two_servers_on_one_catalog_keep_one_log_when_one_is_killed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = two_clients();
    let node_b = if PgTest::selected().is_some() {
        let dir = t.env.path("node-b");
        assert!(Command::new("cp").arg("-a").arg(&t.env.data).arg(&dir).status().unwrap().success());
        dir
    } else {
        t.env.data.clone()
    };
    let a = Arc::new(Server::start(&t.env));
    let b = {
        let args = Server::https_args();
        let mut cmd = t.env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
        cmd.env("GARDIEN_DATA_DIR", &node_b);
        Arc::new(Server::spawn(cmd, "https"))
    };
    let a_pid = a.child.id();
    let before = events(&t.env);
    let answered = Arc::new(AtomicUsize::new(0));
    let through_a = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = [&a, &a, &b, &b]
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let (s, answered, through_a) = (s.clone(), answered.clone(), through_a.clone());
            let (tok, id) = (t.acme.clone(), t.acme_ds.clone());
            std::thread::spawn(move || {
                for _ in 0..40 {
                    // A request to the killed node fails at the connection: status 0.
                    let url = format!("{}/api/v1/datasets/{id}", s.base);
                    let status = Server::with(s.agent.get(&url), Auth::Bearer(&tok)).call().map_or(0, |mut r| {
                        let _ = r.body_mut().read_to_string();
                        r.status().as_u16()
                    });
                    if status == 200 {
                        answered.fetch_add(1, Ordering::SeqCst);
                        if i < 2 {
                            through_a.fetch_add(1, Ordering::SeqCst);
                        }
                    } else {
                        // Only node A dies: node B answers every request.
                        assert!(i < 2, "node B answered {status}");
                    }
                }
            })
        })
        .collect();
    // Node A dies with requests in flight, after it answered some.
    while through_a.load(Ordering::SeqCst) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = Command::new("kill").args(["-KILL", "--"]).arg(format!("-{a_pid}")).status();
    for i in 0..3 {
        t.env.ingest(format!("written by the CLI meanwhile {i}").as_bytes(), &[]);
    }
    for r in readers {
        r.join().unwrap();
    }
    // Node B still answers, and the CLI still writes.
    assert_eq!(b.get(&format!("/api/v1/datasets/{}", t.acme_ds), Auth::Bearer(&t.acme)).status, 200);
    let answered = answered.load(Ordering::SeqCst) + 1;
    assert!(answered >= 80 + 20, "node B's 80 and node A's first 20 at least: {answered}");
    // Every answered request was durable before its answer left; a request node A took
    // but never answered may be in the log too, never the other way round.
    let after = events(&t.env);
    assert!(after >= before + answered + 3, "{after} events, {before} + {answered} answered + 3 ingests");
    let (count, next) =
        (t.env.sql("SELECT count(*) FROM ledger_entries"), t.env.sql("SELECT max(idx) + 1 FROM ledger_entries"));
    assert_eq!(count, next, "the log is one contiguous sequence");
    let verify = t.env.ok(&["ledger", "verify"]);
    assert!(verify.starts_with("ok:"), "{verify}");
}

#[test]
fn the_openapi_document_describes_every_api_route() {
    let t = two_clients();
    let s = Server::start(&t.env);
    let before = events(&t.env);
    let doc = s.get("/api/openapi.json", Auth::None);
    assert_eq!(doc.status, 200);
    let v = doc.json();
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"), "{}", v["openapi"]);
    for r in server::routes::ROUTES.iter().filter(|r| r.path.starts_with("/api/v1/")) {
        let op = &v["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not in the OpenAPI document", r.method, r.path);
        assert!(op["security"].is_array(), "{} {} does not say it needs a bearer token", r.method, r.path);
    }
    assert!(v["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    assert_eq!(events(&t.env), before, "the public document records nothing");
}

#[test]
fn bad_bodies_get_a_clear_json_error_and_change_nothing() {
    let t = two_clients();
    let s = Server::start(&t.env);
    let before = t.env.snapshot();
    let ap = "ap-000000000000";
    let url = format!("{}/api/v1/approvals/{ap}/decision", s.base);
    // Not JSON, a missing field, a huge body.
    for body in [
        "not json".to_owned(),
        "{}".to_owned(),
        format!("{{\"approve\": true, \"comment\": \"{}\"}}", "x".repeat(200_000)),
    ] {
        // The huge body goes on a connection of its own: the server answers 413 and closes it
        // before reading it all, and that must not touch the connections of the requests after.
        let agent = if body.len() > 65_536 { Server::new_agent() } else { s.agent.clone() };
        let sent = Server::with(agent.post(&url), Auth::Bearer(&t.acme))
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        // Past the 64 KiB limit the server may answer 413 and close before reading it all.
        if body.len() > 65_536
            && let Err(e) = &sent
        {
            let e = e.to_string();
            assert!(["Broken pipe", "reset", "Peer disconnected"].iter().any(|m| e.contains(m)), "{e}");
            continue;
        }
        let a = Server::answer(sent);
        assert!(matches!(a.status, 400 | 413), "{a:?}");
        if a.status == 400 {
            assert_eq!(a.json()["error"], "bad-request", "{a:?}");
        } else {
            // Its body unread, the connection is not offered for another request.
            assert_eq!(a.header("connection"), Some("close"), "{a:?}");
        }
    }
    // Control characters and ../ in ids: refused by shape, nothing read.
    for id in ["..%2F..%2Fetc%2Fpasswd", "ds-%1b%5b31m", "%00"] {
        let a = s.get(&format!("/api/v1/datasets/{id}"), Auth::Bearer(&t.acme));
        assert!(matches!(a.status, 400 | 404), "{id}: {a:?}");
        assert!(!a.body.contains('\u{1b}'), "{a:?}");
    }
    let after = t.env.snapshot();
    assert_eq!(before.1, after.1, "no file changed");
}

#[test]
fn the_staff_pages_show_what_each_role_needs() {
    let t = two_clients();
    person(&t.env, "sal", "sales", None);
    person(&t.env, "ops2", "ops", None);
    t.env.ok(&["contract", "add", "hugo-case", "--client", "acme", "--presales-until", "2099-01-01"]);
    let s = Server::start(&t.env);
    // Sales: cases (no second factor needed for sales).
    let sal = s.login("sal", PASSWORD);
    let cases = s.get("/contracts", Auth::Cookie(&sal));
    assert_eq!(cases.status, 200, "{cases:?}");
    assert!(cases.body.contains("hugo-case"));
    // Sales may not see the sweep's list: a refusal page with its clause.
    let sweep = s.get("/sweep", Auth::Cookie(&sal));
    assert_eq!(sweep.status, 403, "{sweep:?}");
    // A client admin reaches none of the staff pages.
    let adm = s.login("admin-acme", PASSWORD);
    for page in ["/clients", "/sweep"] {
        assert_eq!(s.get(page, Auth::Cookie(&adm)).status, 403, "{page}");
    }
    let cases = s.get("/contracts", Auth::Cookie(&adm));
    assert!(cases.status == 200 && cases.body.contains("hugo-case"), "its own client's cases: {cases:?}");
}

/// A session unused for 30 minutes is over: the server runs under `faketime` with its
/// wall clock 240 times faster (monotonic timers left alone), so 30 minutes pass in 7.5 s.
#[test]
fn an_idle_session_ends() {
    let t = two_clients();
    let mut cmd = Command::new("faketime");
    cmd.args(["-f", "+0 x240"]).arg(bin());
    cmd.env("DONT_FAKE_MONOTONIC", "1").env("GARDIEN_DATA_DIR", &t.env.data);
    cmd.args(Server::https_args());
    let s = Server::spawn(cmd, "https");
    let cookie = s.login("admin-acme", PASSWORD);
    assert_eq!(s.get("/datasets", Auth::Cookie(&cookie)).status, 200);
    // 6 real seconds: 24 minutes, still in force (and noted as used).
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(s.get("/datasets", Auth::Cookie(&cookie)).status, 200, "used within 30 minutes");
    // 9 more: 36 minutes unused.
    std::thread::sleep(std::time::Duration::from_secs(9));
    assert_eq!(s.get("/datasets", Auth::Cookie(&cookie)).header("location"), Some("/login"), "idle for 36 minutes");
}

// What an attack on the server's first version found (each test fails on that binary).

/// Signs `handle` in and enrols a second factor; the full session's cookie and the seed.
pub fn enrolled(s: &Server, handle: &str) -> (String, String) {
    let a = s.post_form("/login", Auth::None, &[("handle", handle), ("password", PASSWORD)]);
    let cookie = a.headers_named("set-cookie")[0].split(';').next().unwrap().to_owned();
    let page = s.get("/totp", Auth::Cookie(&cookie));
    let at = page.body.find("class=\"secret\">").unwrap_or_else(|| panic!("{page:?}")) + 15;
    let seed = page.body[at..at + page.body[at..].find('<').unwrap()].to_owned();
    let ok =
        s.post_form("/totp", Auth::Cookie(&cookie), &[("csrf", &csrf_of(&page.body)), ("code", &totp_code(&seed, 0))]);
    assert_eq!(ok.header("location"), Some("/"), "{ok:?}");
    (cookie, seed)
}

/// A password-only session of `handle` (second factor enrolled, not given).
fn half_signed(s: &Server, handle: &str) -> String {
    let a = s.post_form("/login", Auth::None, &[("handle", handle), ("password", PASSWORD)]);
    assert_eq!(a.header("location"), Some("/login/totp"), "{a:?}");
    a.headers_named("set-cookie")[0].split(';').next().unwrap().to_owned()
}

#[test]
fn attack_a_password_alone_never_replaces_an_enrolled_second_factor() {
    let t = two_clients();
    person(&t.env, "signer-acme", "client-signer", Some("acme"));
    let s = Server::start(&t.env);
    let (_, seed) = enrolled(&s, "signer-acme");
    let stored = t.env.sql("SELECT totp_secret FROM credentials WHERE handle = 'signer-acme'");
    let half = half_signed(&s, "signer-acme");
    // The enrolment page sends to the code; its form, posted anyway, is refused.
    assert_eq!(s.get("/totp", Auth::Cookie(&half)).header("location"), Some("/login/totp"));
    let form = s.get("/login/totp", Auth::Cookie(&half));
    let forced = s.post_form("/totp", Auth::Cookie(&half), &[("csrf", &csrf_of(&form.body)), ("code", "123456")]);
    assert_ne!(forced.status, 303, "{forced:?}");
    assert_eq!(t.env.sql("SELECT totp_secret FROM credentials WHERE handle = 'signer-acme'"), stored);
    assert_eq!(s.get("/approvals", Auth::Cookie(&half)).header("location"), Some("/login/totp"));
    assert!(!seed.is_empty());
}

#[test]
fn attack_requests_dropped_midway_lose_no_worker() {
    use std::io::Write as _;
    let t = two_clients();
    let s = Server::spawn(t.env.cmd(&["serve", "--listen", "127.0.0.1:0", "--workers", "2"]), "http");
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Fewer than the throttle's 20 failures per address: each of these whole requests is a
    // sign-in failure once the server reads it, and 20 would (rightly) pause the address.
    for _ in 0..15 {
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        let body = "handle=nobody&password=whatever-it-is";
        write!(c, "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        drop(c);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    for _ in 0..5 {
        assert_eq!(s.get("/api/v1/me", Auth::Bearer(&t.acme)).status, 200);
    }
}

#[test]
fn attack_one_code_is_accepted_once_even_sent_at_once() {
    let t = two_clients();
    person(&t.env, "signer-acme", "client-signer", Some("acme"));
    let s = Arc::new(Server::start(&t.env));
    let (_, seed) = enrolled(&s, "signer-acme");
    let code = totp_code(&seed, 30);
    let halves: Vec<(String, String)> = (0..6)
        .map(|_| {
            let c = half_signed(&s, "signer-acme");
            let csrf = csrf_of(&s.get("/login/totp", Auth::Cookie(&c)).body);
            (c, csrf)
        })
        .collect();
    let barrier = Arc::new(std::sync::Barrier::new(halves.len()));
    let accepted: usize = halves
        .into_iter()
        .map(|(c, csrf)| {
            let (s, code, barrier) = (s.clone(), code.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.post_form("/login/totp", Auth::Cookie(&c), &[("csrf", &csrf), ("code", &code)]).status == 303
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(accepted, 1, "one code, one sign-in");
}

#[test]
fn attack_the_lock_stops_second_factor_guessing_and_does_not_rearm_for_ever() {
    let t = two_clients();
    person(&t.env, "signer-acme", "client-signer", Some("acme"));
    let (_, cert, key) = test_cert();
    let _ = (cert, key);
    // Enrolled on the real clock first: on the fast one, a code is good for 0.125 s of real
    // time, less than a server on PostgreSQL takes to start and sign in.
    let seed = {
        let real = Server::start(&t.env);
        enrolled(&real, "signer-acme").1
    };
    let mut cmd = Command::new("faketime");
    cmd.args(["-f", "+0 x240"]).arg(bin());
    cmd.env("DONT_FAKE_MONOTONIC", "1").env("GARDIEN_DATA_DIR", &t.env.data);
    cmd.args(Server::https_args());
    let s = Server::spawn(cmd, "https");
    // A right password then wrong codes, twice: the password does not reset the count.
    for _ in 0..3 {
        let half = half_signed(&s, "signer-acme");
        let csrf = csrf_of(&s.get("/login/totp", Auth::Cookie(&half)).body);
        for _ in 0..2 {
            s.post_form("/login/totp", Auth::Cookie(&half), &[("csrf", &csrf), ("code", "000000")]);
        }
    }
    assert_ne!(t.env.sql("SELECT locked_until FROM credentials WHERE handle = 'signer-acme'"), "", "locked after 5");
    let locked = s.post_form("/login", Auth::None, &[("handle", "signer-acme"), ("password", PASSWORD)]);
    assert_eq!(locked.status, 401, "the right password while locked");
    // 15 minutes later (4 s at 240 times): one wrong password does not lock again.
    std::thread::sleep(std::time::Duration::from_secs(5));
    s.post_form("/login", Auth::None, &[("handle", "signer-acme"), ("password", "a wrong one, once")]);
    let half = half_signed(&s, "signer-acme");
    let csrf = csrf_of(&s.get("/login/totp", Auth::Cookie(&half)).body);
    // (The fake clock runs fast: the code of the fake now.)
    let now = chrono::DateTime::parse_from_rfc3339(&t.env.sql("SELECT max(last_seen) FROM sessions")).unwrap();
    let secret = totp_rs::Secret::try_from_base32(&seed).unwrap();
    let code =
        totp_rs::Builder::new().with_secret(secret).build().unwrap().generate(now.timestamp() as u64 + 30).to_string();
    let ok = s.post_form("/login/totp", Auth::Cookie(&half), &[("csrf", &csrf), ("code", &code)]);
    assert_eq!(ok.header("location"), Some("/"), "{ok:?}");
}

#[test]
fn attack_the_signer_who_decides_an_observation_is_one_who_read_it() {
    let t = two_clients();
    person(&t.env, "signer-1", "client-signer", Some("acme"));
    person(&t.env, "signer-2", "client-signer", Some("acme"));
    let (one, two) = (token(&t.env, "signer-1"), token(&t.env, "signer-2"));
    let ap = observation_for_researcher(&t, "the forums");
    let s = Server::start(&t.env);
    assert_eq!(s.get(&format!("/api/v1/approvals/{ap}"), Auth::Bearer(&one)).status, 200);
    let d = s.post_json(
        &format!("/api/v1/approvals/{ap}/decision"),
        Auth::Bearer(&two),
        &serde_json::json!({"approve": true}),
    );
    assert_eq!((d.status, d.json()["clauses"].clone()), (403, serde_json::json!(["CONF-4"])), "{d:?}");
    let d = s.post_json(
        &format!("/api/v1/approvals/{ap}/decision"),
        Auth::Bearer(&one),
        &serde_json::json!({"approve": true}),
    );
    assert_eq!(d.status, 200, "{d:?}");
}

#[test]
fn attack_sessions_and_sign_ins_resist_cookie_planting_bursts_and_ledger_writing() {
    let t = two_clients();
    let s = Arc::new(Server::start(&t.env));
    // Over HTTPS only the __Host- cookie counts: one a sibling site planted is ignored.
    let cookie = s.login("admin-acme", PASSWORD);
    let secret = cookie.split_once('=').unwrap().1;
    assert_eq!(
        s.get("/datasets", Auth::Cookie(&format!("gardien-session={secret}"))).header("location"),
        Some("/login")
    );
    let both = format!("gardien-session=planted; {cookie}");
    assert_eq!(s.get("/datasets", Auth::Cookie(&both)).status, 200);
    // A handle naming no one is recorded without it (a password typed in the wrong field
    // never reaches the permanent ledger).
    s.post_form("/login", Auth::None, &[("handle", "my-secret-passphrase-42"), ("password", "x")]);
    let all = t.env.sql("SELECT group_concat(CAST(entry AS TEXT), '') FROM ledger_entries");
    assert!(!all.contains("my-secret-passphrase-42"), "the handle reached the ledger");
    assert!(last_event(&t.env).contains("actor person:(unknown)"), "{}", last_event(&t.env));
    // 40 wrong passwords at once from one address: at most 20 are tried.
    let tried: usize = (0..40)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.post_form("/login", Auth::None, &[("handle", "admin-beta"), ("password", "not the password")]).status
                    == 401
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert!(tried <= 20, "{tried} attempts were tried");
}

#[test]
fn the_access_log_comes_a_page_at_a_time() {
    let t = two_clients();
    let s = Server::start(&t.env);
    for _ in 0..5 {
        s.get(&format!("/api/v1/datasets/{}", t.acme_ds), Auth::Bearer(&t.acme));
    }
    let all = s.get("/api/v1/ledger", Auth::Bearer(&t.acme)).json();
    let all: Vec<u64> = all.as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
    assert!(all.len() >= 6, "{all:?}");
    // Pages of 2, each starting after the last index of the one before, give the same list.
    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let page = s.get(&format!("/api/v1/ledger?from={from}&limit=2"), Auth::Bearer(&t.acme)).json();
        let page: Vec<u64> = page.as_array().unwrap().iter().map(|e| e["index"].as_u64().unwrap()).collect();
        assert!(page.len() <= 2);
        let Some(last) = page.last().copied() else { break };
        paged.extend(page);
        from = last + 1;
        // Each page's own event names acme too: stop at the first listing's end.
        if last >= *all.last().unwrap() {
            break;
        }
    }
    // (The listing's own events come after: compare what both saw.)
    assert_eq!(paged[..all.len()], all[..]);
}
