//! fail2ban on a server (NET-2, issue 13): a real fail2ban (Debian's), on a socket of its
//! own, reports through `contrib/fail2ban/gardien-fail2ban-report`; `server fail2ban` keeps
//! the report; `server check` finds each answering port no jail bans on, fail2ban stopped,
//! a report too old. Bad reports change nothing; only the operator sends them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::Env;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `server fail2ban SERVER --report -` with `text` on stdin, as the operator; asserts success.
pub fn report(env: &Env, server: &str, text: &str) -> String {
    let out = send(env, "operator", server, text.as_bytes());
    assert!(out.status.success(), "server fail2ban: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn send(env: &Env, who: &str, server: &str, bytes: &[u8]) -> Output {
    let mut child = env
        .cmd(&["--as", who, "server", "fail2ban", server, "--report", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// Debian's fail2ban with jails of our choosing, on its own socket and log files (backend
/// polling, the dummy ban action: no firewall touched). Stopped when dropped.
struct Fail2ban {
    dir: PathBuf,
}

impl Fail2ban {
    fn start(dir: &Path, jails: &[(&str, &str)]) -> Fail2ban {
        let conf = dir.join("conf");
        let status = Command::new("cp").arg("-r").arg("/etc/fail2ban").arg(&conf).status().unwrap();
        assert!(status.success(), "fail2ban's configuration (scripts/test installs fail2ban)");
        for d in ["jail.d", "fail2ban.d"] {
            let _ = std::fs::remove_dir_all(conf.join(d));
            std::fs::create_dir(conf.join(d)).unwrap();
        }
        let f = Fail2ban { dir: dir.to_owned() };
        std::fs::write(
            conf.join("fail2ban.local"),
            format!(
                "[Definition]\nlogtarget = {0}/fail2ban.log\nsocket = {0}/fail2ban.sock\npidfile = {0}/fail2ban.pid\ndbfile = :memory:\n",
                dir.display()
            ),
        )
        .unwrap();
        f.jails(jails);
        let out = f.client(&["-c", conf.to_str().unwrap(), "-x", "start"]);
        assert!(out.status.success(), "fail2ban start: {}", String::from_utf8_lossy(&out.stderr));
        f
    }

    /// Writes jail.local: each jail watches its own log file and bans on its ports.
    fn jails(&self, jails: &[(&str, &str)]) {
        let mut text = "[DEFAULT]\nbackend = polling\nbanaction = dummy\nbanaction_allports = dummy\n".to_owned();
        for (name, port) in jails {
            let log = self.dir.join(format!("{name}.log"));
            std::fs::write(&log, "").unwrap();
            let filter = if name.starts_with("sshd") { "sshd" } else { "nginx-http-auth" };
            text.push_str(&format!(
                "[{name}]\nenabled = true\nfilter = {filter}\nport = {port}\nlogpath = {}\n",
                log.display()
            ));
            // A jail named udp-* bans UDP only: it closes no TCP port.
            if name.starts_with("udp-") {
                text.push_str("protocol = udp\n");
            }
        }
        std::fs::write(self.dir.join("conf/jail.local"), text).unwrap();
    }

    fn client(&self, args: &[&str]) -> Output {
        Command::new("fail2ban-client")
            .arg("-s")
            .arg(self.dir.join("fail2ban.sock"))
            .args(args)
            .output()
            .expect("fail2ban-client (scripts/test installs fail2ban)")
    }

    fn reload(&self, jails: &[(&str, &str)]) {
        self.jails(jails);
        let conf = self.dir.join("conf");
        let out = self.client(&["-c", conf.to_str().unwrap(), "reload"]);
        assert!(out.status.success(), "fail2ban reload: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// What the shipped script prints on this server.
    fn report(&self) -> String {
        let out = Command::new(repo().join("contrib/fail2ban/gardien-fail2ban-report"))
            .env("FAIL2BAN_SOCKET", self.dir.join("fail2ban.sock"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Fail2ban {
    fn drop(&mut self) {
        let _ = self.client(&["stop"]);
    }
}

/// `server check NAME --json --ports P` as the operator: its exit code and its one server.
fn check(env: &Env, when: Option<&str>, name: &str, ports: &str) -> (Option<i32>, serde_json::Value) {
    let args = ["server", "check", name, "--json", "--ports", ports, "--timeout-ms", "300"];
    let out = match when {
        Some(w) => env.cmd_at(w, &args).output().unwrap(),
        None => env.run(&args),
    };
    let j: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), j[0].clone())
}

fn net2(server: &serde_json::Value) -> Vec<String> {
    server["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["clause"] == "NET-2")
        .map(|f| f["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_fail2ban_check_wants_a_jail_on_each_answering_port_from_a_recent_report() {
    let env = Env::new();
    env.ok(&["client", "add", "beta", "--name", "Beta"]);
    env.ok(&["person", "add", "tech-acme", "--role", "client-tech", "--client", "acme"]);
    env.ok(&["person", "add", "tech-beta", "--role", "client-tech", "--client", "beta"]);
    // The server's services: an "ssh" and a "web" port that answer.
    let ssh = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (p_ssh, p_web) = (ssh.local_addr().unwrap().port(), web.local_addr().unwrap().port());
    let ports = format!("{p_ssh},{p_web}");
    crate::servers::add(&env, "acme-1 fr-roubaix dedicated acme 127.0.0.1");
    env.ok(&["server", "ports", "acme-1", "--allow", &ports]);

    // Never reported: a finding that says what to run.
    let (code, j) = check(&env, None, "acme-1", &ports);
    assert_eq!(code, Some(3));
    let f = net2(&j);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("gardien-fail2ban-report") && f[0].contains("server fail2ban acme-1"), "{f:?}");
    assert!(j["fail2ban"].is_null(), "{j}");

    // A real fail2ban with a jail on the ssh port only: the web port is the finding.
    let dir = env.path("f2b");
    std::fs::create_dir(&dir).unwrap();
    let ssh_port = p_ssh.to_string();
    let web_port = p_web.to_string();
    let f2b = Fail2ban::start(&dir, &[("sshd", &ssh_port), ("udp-web", &web_port)]);
    let text = f2b.report();
    assert_eq!(text, format!("gardien-fail2ban-report/v1\nrunning yes\njail sshd {p_ssh}\njail udp-web -\n"));
    let said = report(&env, "acme-1", &text);
    assert!(said.contains("fail2ban running, 2 jails: sshd"), "{said}");
    let (code, j) = check(&env, None, "acme-1", &ports);
    assert_eq!(code, Some(3));
    assert_eq!(net2(&j), [format!("port {p_web} answers and no fail2ban jail bans on it")]);
    // Each finding has its code and subject, for the portal to say it in French.
    let f = j["findings"].as_array().unwrap().iter().find(|f| f["clause"] == "NET-2").unwrap().clone();
    assert_eq!(
        (f["code"].as_str(), f["subject"].as_str()),
        (Some("net2-port"), Some(&*format!("port {p_web}"))),
        "{f}"
    );
    assert_eq!(j["fail2ban"]["running"], true, "{j}");
    assert_eq!(j["fail2ban"]["jails"][0]["name"], "sshd");

    // A jail for the web port too (a range, as fail2ban takes it): nothing to find.
    let range = format!("{}:{}", p_web - 1, p_web + 1);
    f2b.reload(&[("sshd", &ssh_port), ("web-auth", &range)]);
    let text = f2b.report();
    assert!(text.contains(&format!("jail web-auth {range}")), "{text}");
    report(&env, "acme-1", &text);
    let (code, j) = check(&env, None, "acme-1", &ports);
    assert_eq!((code, net2(&j)), (Some(0), Vec::<String>::new()), "{j}");
    // Eight days on, the same report is too old to say anything of today.
    let (code, j) = check(&env, Some("8 days"), "acme-1", &ports);
    assert_eq!(code, Some(3));
    let f = net2(&j);
    assert!(f.len() == 1 && f[0].contains("is 8 days old"), "{f:?}");

    // Bad reports are refused whole and change nothing; only the operator sends one.
    let before = env.sql("SELECT report FROM server_fail2ban");
    for bad in [
        "not a report\n".to_owned(),
        "gardien-fail2ban-report/v1\nrunning yes\njail ../../etc 22\n".to_owned(),
        "gardien-fail2ban-report/v1\nrunning yes\njail ssh\u{1b}[31m 22\n".to_owned(),
        "gardien-fail2ban-report/v1\nrunning yes\njail sshd 99999\n".to_owned(),
        format!("gardien-fail2ban-report/v1\nrunning yes\n{}", "jail x 22\n".repeat(10_000)),
    ] {
        let out = send(&env, "operator", "acme-1", bad.as_bytes());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("fail2ban report"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    let theirs = send(&env, "tech-beta", "acme-1", text.as_bytes());
    let unknown = send(&env, "tech-beta", "nope-1", text.as_bytes());
    let own = send(&env, "tech-acme", "acme-1", text.as_bytes());
    assert_eq!(own.status.code(), Some(4), "{}", String::from_utf8_lossy(&own.stderr));
    assert_eq!(theirs.status.code(), unknown.status.code());
    assert_eq!(
        String::from_utf8_lossy(&theirs.stderr).replace("acme-1", "X"),
        String::from_utf8_lossy(&unknown.stderr).replace("nope-1", "X")
    );
    assert_eq!(env.sql("SELECT report FROM server_fail2ban"), before);

    // fail2ban stopped: the script says so, and so does the check.
    drop(f2b);
    let stopped = Fail2ban { dir: dir.clone() }.report();
    assert_eq!(stopped, "gardien-fail2ban-report/v1\nrunning no\n");
    let said = report(&env, "acme-1", &stopped);
    assert!(said.contains("NOT running"), "{said}");
    let (code, j) = check(&env, None, "acme-1", &ports);
    assert_eq!(code, Some(3));
    assert_eq!(net2(&j), ["fail2ban is not running"]);
    let out = env.run(&["server", "check", "acme-1", "--ports", &ports]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("NET-2  fail2ban: NOT running") && shown.contains("! NET-2  fail2ban is not running"),
        "{shown}"
    );
    drop((ssh, web));
}
