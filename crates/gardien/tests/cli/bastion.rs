//! Server access through a stock OpenSSH bastion (issue 13): two real `sshd` on loopback,
//! each with the configuration gardien writes, and the real `ssh` client with ProxyJump.
//! An approved maneuver runs and is recorded (ACC-2, PROOF-1); a shell, another program,
//! a maneuver outside the grant, bad arguments, a revoked or expired grant, an approval
//! withdrawn, a disabled person and a connection that skips the bastion are refused (ACC-3,
//! ACC-4), and recorded where they reach gardien. Runs as root (sshd's privilege
//! separation; AuthorizedPrincipalsCommand must sit on a root-owned path).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{Env, bin};

/// A free loopback port (bound then released: loopback only, and sshd binds it at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// gardien copied where sshd accepts to run it: every directory up to / root's and not
/// writable by others (sshd_config(5), AuthorizedPrincipalsCommand).
struct Installed {
    dir: PathBuf,
    gardien: String,
}

impl Installed {
    fn new() -> Installed {
        assert_eq!(
            uid(),
            0,
            "the bastion tests run as root: sshd's privilege separation, and a root-owned path for AuthorizedPrincipalsCommand"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let base = Path::new("/var/lib/gardien-tests");
        std::fs::create_dir_all(base).expect("mkdir");
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let dir = tempfile::Builder::new().prefix("bin.").tempdir_in(base).expect("tempdir").keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let gardien = dir.join("gardien");
        std::fs::copy(bin(), &gardien).expect("copy gardien");
        std::fs::set_permissions(&gardien, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // The small binary sshd runs with the daemon, beside it as installed.
        let small = dir.join("gardien-principals");
        std::fs::copy(env!("CARGO_BIN_EXE_gardien-principals"), &small).expect("copy gardien-principals");
        std::fs::set_permissions(&small, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Installed { gardien: gardien.to_string_lossy().into_owned(), dir }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    // The owner of a file this process just made is its uid.
    let f = tempfile::NamedTempFile::new().expect("temp file");
    f.as_file().metadata().expect("metadata").uid()
}

/// A real sshd, stopped when dropped.
struct Sshd {
    pid_file: PathBuf,
    log: PathBuf,
}

impl Sshd {
    fn start(config: &Path, dir: &Path, name: &str, port: u16) -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let pid_file = dir.join(format!("{name}.pid"));
        let log = dir.join(format!("{name}.log"));
        let out = Command::new("/usr/sbin/sshd")
            .arg("-f")
            .arg(config)
            .arg("-E")
            .arg(&log)
            .arg("-o")
            .arg(format!("PidFile={}", pid_file.display()))
            .args(["-o", "UsePAM=no"])
            // The test's files sit under /tmp (world-writable): sshd's check of the principals
            // file's directories would refuse them, where /etc/ssh/gardien passes.
            .args(["-o", "StrictModes=no"])
            .output()
            .expect("run sshd (Debian's openssh-server)");
        assert!(out.status.success(), "sshd {name}: {}", String::from_utf8_lossy(&out.stderr));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "sshd {name} did not listen: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Sshd { pid_file, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// `bastion serve`, killed when dropped.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A client with a dedicated server, a shared one, a catalog, a bastion, a signer and a
/// technical contact; another client with its own technical contact.
struct World {
    env: Env,
    installed: Installed,
    bastion_port: u16,
    target_port: u16,
    /// acme-2's: another dedicated server of the same client.
    target2_port: u16,
}

impl World {
    fn new() -> World {
        let env = Env::new();
        let installed = Installed::new();
        let (bastion_port, target_port, target2_port) = (free_port(), free_port(), free_port());
        env.ok(&["client", "add", "beta", "--name", "Beta"]);
        for (h, role, c) in [
            ("tech-acme", "client-tech", "acme"),
            ("tech2-acme", "client-tech", "acme"),
            ("signer-acme", "client-signer", "acme"),
            ("admin-acme", "client-admin", "acme"),
            ("tech-beta", "client-tech", "beta"),
        ] {
            env.ok(&["person", "add", h, "--role", role, "--client", c]);
        }
        let target = format!("127.0.0.1:{target_port}");
        env.ok(&[
            "server",
            "add",
            "acme-1",
            "--site",
            "fr-roubaix",
            "--kind",
            "dedicated",
            "--client",
            "acme",
            "--address",
            &target,
        ]);
        env.ok(&["server", "add", "mut-1", "--site", "fr-roubaix", "--kind", "shared", "--address", "192.0.2.20"]);
        env.ok(&[
            "maneuver",
            "add",
            "hello",
            "--program",
            "/bin/echo",
            "--fixed",
            "hello",
            "--arg",
            "NAME=[a-z]+",
            "--max-ttl",
            "1h",
            "--description",
            "Say hello, to check the way in",
        ]);
        env.ok(&[
            "maneuver",
            "add",
            "fail",
            "--program",
            "/bin/false",
            "--max-ttl",
            "2h",
            "--description",
            "Fail, to check the exit status is kept",
        ]);
        env.ok(&[
            "maneuver",
            "add",
            "other",
            "--program",
            "/usr/bin/id",
            "--max-ttl",
            "2h",
            "--description",
            "Not approved: must never run",
        ]);
        let bastion = format!("127.0.0.1:{bastion_port}");
        // Tests run as root: both accounts are root's (sshd's PermitRootLogin prohibit-password).
        env.ok(&[
            "bastion",
            "set",
            "--site",
            "fr-strasbourg",
            "--address",
            &bastion,
            "--egress",
            "127.0.0.1",
            "--login",
            "root",
            "--target-login",
            "root",
            "--runner",
            &installed.gardien,
        ]);
        let target2 = format!("127.0.0.1:{target2_port}");
        env.ok(&[
            "server",
            "add",
            "acme-2",
            "--site",
            "fr-roubaix",
            "--kind",
            "dedicated",
            "--client",
            "acme",
            "--address",
            &target2,
        ]);
        World { env, installed, bastion_port, target_port, target2_port }
    }

    fn gardien(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.installed.gardien);
        c.args(args).env("GARDIEN_DATA_DIR", &self.env.data).env_remove("GARDIEN_AS").stdin(Stdio::null());
        c
    }

    /// An approved server-access request of tech-acme for acme-1 and `maneuvers`.
    fn approved(&self, maneuvers: &[&str]) -> String {
        let args = request(&format!("acme-1 {}", maneuvers.join(",")));
        let out = self.env.ok(&strs(&args));
        let ap = out.lines().next().expect("approval id").trim().to_owned();
        self.env.ok(&["--as", "signer-acme", "approval", "decide", &ap, "--approve"]);
        ap
    }

    /// Starts both sshd with gardien's configuration.
    /// With `daemon`, sshd's command asks `bastion serve` over a socket (killed with the
    /// returned guard); without, it decides in its own process.
    fn sshd(&self, daemon: bool) -> (Sshd, Sshd, Option<Daemon>) {
        let dir = self.env.path("ssh");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for name in ["bastion", "target"] {
            let k = dir.join(format!("{name}_host_key"));
            if !k.exists() {
                keygen(&k);
            }
        }
        let bdir = dir.join("bastion");
        let socket = dir.join("bastion.sock").to_string_lossy().into_owned();
        let mut args = vec![
            "bastion".to_owned(),
            "sshd-config".into(),
            "--dir".into(),
            bdir.to_string_lossy().into_owned(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.bastion_port),
            "--host-key".into(),
            dir.join("bastion_host_key").to_string_lossy().into_owned(),
            "--command-user".into(),
            "root".into(),
            "--gardien".into(),
            self.installed.gardien.clone(),
        ];
        let daemon = daemon.then(|| {
            args.extend(["--socket".to_owned(), socket.clone()]);
            let child = self
                .gardien(&["bastion", "serve", "--socket", &socket])
                .stderr(Stdio::null())
                .spawn()
                .expect("bastion serve");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::os::unix::net::UnixStream::connect(&socket).is_err() {
                assert!(std::time::Instant::now() < deadline, "bastion serve did not answer");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Daemon(child)
        });
        self.env.ok(&strs(&args));
        let written = std::fs::read_to_string(bdir.join("sshd_config")).expect("sshd_config");
        assert_eq!(
            written.contains(&format!(
                "AuthorizedPrincipalsCommand {}-principals {socket} %u %i %s %F",
                self.installed.gardien
            )),
            daemon.is_some(),
            "with the daemon, sshd runs the small binary: {written}"
        );
        let target_key = std::fs::read_to_string(dir.join("target_host_key.pub")).expect("pub");
        let known = format!(
            "[127.0.0.1]:{} {}[127.0.0.1]:{} {target_key}[127.0.0.1]:{} {target_key}",
            self.bastion_port,
            std::fs::read_to_string(dir.join("bastion_host_key.pub")).expect("pub"),
            self.target_port,
            self.target2_port,
        );
        std::fs::write(dir.join("known_hosts"), known).expect("known_hosts");
        let b = Sshd::start(&bdir.join("sshd_config"), &dir, "bastion", self.bastion_port);
        let t = self.target_sshd("acme-1", self.target_port, "target");
        (b, t, daemon)
    }

    /// A server's sshd (`name`), with the configuration gardien writes for it (every
    /// server here has the same host key).
    fn target_sshd(&self, server: &str, port: u16, name: &str) -> Sshd {
        let dir = self.env.path("ssh");
        let conf = dir.join(name);
        self.env.ok(&[
            "server",
            "sshd-config",
            server,
            "--dir",
            &conf.to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--host-key",
            &dir.join("target_host_key").to_string_lossy(),
        ]);
        Sshd::start(&conf.join("sshd_config"), &dir, name, port)
    }

    /// `access grant` for a fresh key of `who`'s; the ssh_config it prints, completed with
    /// the test's known hosts, written to a file; returns (grant id, ssh_config path).
    fn grant(&self, who: &str, ap: &str) -> (String, PathBuf) {
        let mut n = 0;
        let keys = loop {
            let k = self.env.path(&format!("keys-{who}-{ap}-{n}"));
            if !k.exists() {
                break k;
            }
            n += 1;
        };
        std::fs::create_dir_all(&keys).expect("mkdir");
        let key = keys.join("id_ed25519");
        keygen(&key);
        let out = self.env.ok(&["--as", who, "access", "grant", ap, "--key", &format!("{}.pub", key.display())]);
        let grant = out.split_whitespace().nth(3).expect("grant id").to_owned();
        assert!(grant.starts_with("gr-"), "{out}");
        let cfg = keys.join("ssh_config");
        let known = self.env.path("ssh/known_hosts");
        std::fs::write(
            &cfg,
            format!(
                "{out}Host *\n    UserKnownHostsFile {}\n    StrictHostKeyChecking yes\n    BatchMode yes\n    ConnectTimeout 10\n    LogLevel ERROR\n",
                known.display()
            ),
        )
        .expect("ssh_config");
        (grant, cfg)
    }

    /// The events about `grant`: "OUTCOME DETAILS" lines, oldest first.
    fn events(&self, grant: &str) -> Vec<String> {
        let rows = self.env.sql(&format!(
            "SELECT CAST(e.entry AS TEXT) || '|' || d.details FROM ledger_entries e JOIN event_details d ON d.idx = e.idx
              WHERE CAST(e.entry AS TEXT) LIKE '%grant:{grant}%' ORDER BY e.idx"
        ));
        rows.split("gardien-event/v1")
            .filter(|r| !r.trim().is_empty())
            .map(|r| {
                let outcome = r.lines().find_map(|l| l.strip_prefix("outcome ")).unwrap_or("?").to_owned();
                let details = r.rsplit('|').next().unwrap_or("").trim().to_owned();
                format!("{outcome} {details}")
            })
            .collect()
    }
}

/// `approval request server-access` by tech-acme for `server` and `maneuvers`, as "SERVER M1,M2".
fn request(spec: &str) -> Vec<String> {
    let (server, maneuvers) = spec.split_once(' ').unwrap_or((spec, ""));
    let mut args: Vec<String> =
        "--as tech-acme approval request server-access --client acme --server".split(' ').map(str::to_owned).collect();
    args.push(server.to_owned());
    for m in maneuvers.split(',').filter(|m| !m.is_empty()) {
        args.extend(["--maneuver".to_owned(), m.to_owned()]);
    }
    args.extend(["--scope".to_owned(), "maintenance of the exam week, as agreed by phone".to_owned()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
}

fn ssh(cfg: &Path, args: &[&str]) -> Output {
    Command::new("ssh").arg("-F").arg(cfg).args(args).stdin(Stdio::null()).output().expect("ssh")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `ssh-keygen -L` of a certificate.
fn cert_says(path: &Path) -> String {
    let o = Command::new("ssh-keygen").arg("-L").arg("-f").arg(path).output().expect("ssh-keygen -L");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_approved_maneuver_runs_through_the_bastion_and_nothing_else_does() {
    let w = World::new();
    let ap = w.approved(&["hello", "fail"]);
    // What the signer decided on: programs, arguments and patterns, not only ids.
    let shown = w.env.ok(&["--as", "signer-acme", "approval", "show", &ap]);
    assert!(shown.contains("hello: /bin/echo hello NAME (NAME: [a-z]+), at most 1h"), "{shown}");
    let (grant, cfg) = w.grant("tech-acme", &ap);
    // sshd asks the daemon (`bastion serve`); the other tests let it decide in its own process.
    let (bastion, target, _daemon) = w.sshd(true);

    // The certificates say exactly what is intended (ssh-keygen -L).
    let keys = cfg.parent().expect("dir");
    let b = cert_says(&keys.join(format!("id_ed25519-{grant}-bastion-cert.pub")));
    let t = cert_says(&keys.join(format!("id_ed25519-{grant}-cert.pub")));
    assert!(
        b.contains(&format!("Key ID: \"{grant}\"")) && b.contains(&format!("Principals: \n                {grant}\n")),
        "{b}"
    );
    assert!(
        b.contains("Critical Options: (none)") && b.contains("Extensions: \n                permit-port-forwarding\n"),
        "{b}"
    );
    assert!(
        !b.contains("permit-pty")
            && !b.contains("permit-agent")
            && !b.contains("permit-X11")
            && !b.contains("permit-user-rc"),
        "{b}"
    );
    assert!(t.contains(&format!("force-command '{}' --data-dir '", w.installed.gardien)), "{t}");
    assert!(t.contains(&format!("--as tech-acme access run {grant}")), "{t}");
    assert!(t.contains("source-address 127.0.0.1/32") && t.contains("Extensions: (none)"), "{t}");
    // The principal is this server's own: the same client's other servers refuse it.
    assert!(t.contains("Principals: \n                gardien-server-acme-1\n"), "{t}");
    // Valid for the shortest max-ttl of the approved maneuvers: 1h (hello), a minute's grace before.
    let valid = t.lines().find(|l| l.trim_start().starts_with("Valid: from")).expect("validity").to_owned();
    let times: Vec<chrono::NaiveDateTime> = valid
        .split_whitespace()
        .filter_map(|w| chrono::NaiveDateTime::parse_from_str(w, "%Y-%m-%dT%H:%M:%S").ok())
        .collect();
    assert_eq!((times[1] - times[0]).num_seconds(), 3600 + 60, "{valid}");

    // The approved maneuver runs, through the bastion, with its output and status.
    let o = ssh(&cfg, &["acme-1", "hello", "NAME=world"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbastion log:\n{}\ntarget log:\n{}",
        text(&o),
        bastion.log(),
        target.log()
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello world\n");
    let o = ssh(&cfg, &["acme-1", "fail"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let ev = w.events(&grant);
    assert!(
        ev.iter().any(|e| e.starts_with("allowed step=run") && e.contains("maneuver=hello argv=/bin/echo hello world")),
        "{ev:#?}"
    );
    assert!(ev.iter().any(|e| e.starts_with("allowed step=end") && e.contains("status=exit status: 0")), "{ev:#?}");
    assert!(ev.iter().any(|e| e.starts_with("allowed step=end") && e.contains("status=exit status: 1")), "{ev:#?}");
    assert!(ev.iter().any(|e| e.starts_with("allowed step=login user=root")), "{ev:#?}");
    let runs = w.env.sql(
        "SELECT group_concat(maneuver || ':' || status, ',') FROM (SELECT * FROM maneuver_runs ORDER BY started, id)",
    );
    assert!(runs == "hello:0,fail:1" || runs == "fail:1,hello:0", "{runs}");

    // A certificate for acme-1 does not open acme-2, though the same CA signed both and a
    // grant for acme-2 opens the way there (the review's first finding).
    let _t2 = w.target_sshd("acme-2", w.target2_port, "target2");
    let out = w.env.ok(&strs(&request("acme-2 fail")));
    let ap2 = out.lines().next().expect("id").trim().to_owned();
    w.env.ok(&["--as", "signer-acme", "approval", "decide", &ap2, "--approve"]);
    let (grant2, cfg2) = w.grant("tech-acme", &ap2);
    let o = ssh(&cfg2, &["acme-2", "fail"]);
    assert_eq!(o.status.code(), Some(1), "acme-2's own grant runs there: {}", text(&o));
    let keys2 = cfg2.parent().expect("dir");
    let cross = keys2.join("cross_config");
    std::fs::write(
        &cross,
        format!(
            "Host jump2\n    HostName 127.0.0.1\n    Port {}\n    User root\n    IdentityFile {}\n    CertificateFile {}\n    IdentitiesOnly yes\n\
             Host crossed\n    HostName 127.0.0.1\n    Port {}\n    User root\n    ProxyJump jump2\n    IdentityFile {}\n    CertificateFile {}\n    IdentitiesOnly yes\n\
             Host *\n    UserKnownHostsFile {}\n    BatchMode yes\n    LogLevel ERROR\n",
            w.bastion_port,
            keys2.join("id_ed25519").display(),
            keys2.join(format!("id_ed25519-{grant2}-bastion-cert.pub")).display(),
            w.target2_port,
            keys.join("id_ed25519").display(),
            keys.join(format!("id_ed25519-{grant}-cert.pub")).display(),
            w.env.path("ssh/known_hosts").display(),
        ),
    )
    .expect("cross config");
    let runs_before = w.env.sql("SELECT count(*) FROM maneuver_runs");
    let o = ssh(&cross, &["crossed", "hello", "NAME=crossed"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("crossed"), "{}", text(&o));
    assert_eq!(w.env.sql("SELECT count(*) FROM maneuver_runs"), runs_before, "nothing ran");

    // The daemon answers what is not sshd's question with an error, and goes on answering.
    for junk in [b"not json\n".to_vec(), vec![b'['; 1 << 20], b"[\"root\",\"gr-0\",\"1\"]\n".to_vec()] {
        use std::io::{Read as _, Write as _};
        let mut s = std::os::unix::net::UnixStream::connect(w.env.path("ssh/bastion.sock")).expect("socket");
        let _ = s.write_all(&junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut a = String::new();
        s.read_to_string(&mut a).expect("answer");
        assert!(a.contains("not a question of sshd's") && !a.contains("\"line\""), "{a}");
    }
    assert_eq!(ssh(&cfg, &["acme-1", "hello", "NAME=still"]).status.code(), Some(0));

    // A shell, another program, a maneuver outside the grant, bad arguments: refused by the
    // runner (exit 4, the clause said), recorded, nothing run.
    for (args, said) in [
        (&["acme-1"][..], "no maneuver asked"),
        (&["acme-1", "/bin/sh"], "is not a maneuver of this grant"),
        (&["acme-1", "other"], "is not a maneuver of this grant"),
        (&["acme-1", "hello", "NAME=World"], "does not match"),
        (&["acme-1", "hello", "NAME=a;id"], "never a shell line"),
        (&["acme-1", "hello", "NAME=a", "NAME=b"], "given twice"),
        (&["acme-1", "hello", "NAME=-n"], "never starts with '-'"),
        (&["acme-1", "hello $(id)"], "never a shell line"),
    ] {
        let o = ssh(&cfg, args);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("refused (ACC-2)") && err.contains(said), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
    }
    let denied = w.events(&grant).iter().filter(|e| e.starts_with("denied step=run")).count();
    assert_eq!(denied, 8, "{:#?}", w.events(&grant));
    let runs = w.env.sql("SELECT count(*) FROM maneuver_runs");
    assert_eq!(runs, "4", "nothing else ran");

    // The bastion gives no shell and forwards only to the grant's server.
    let jump = format!("gardien-bastion-{grant}");
    let o = ssh(&cfg, &[&jump, "id"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("uid="), "{}", text(&o));
    let o = ssh(&cfg, &["-W", &format!("127.0.0.1:{}", w.bastion_port), &jump]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdio forwarding failed"), "{}", text(&o));
    assert!(bastion.log().contains("but the request was denied"), "{}", bastion.log());

    // Skipping the bastion: the server's certificate is good only from the bastion's address.
    let key = keys.join("id_ed25519");
    let o = Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BindAddress=127.0.0.2",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", w.env.path("ssh/known_hosts").display()))
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(format!("CertificateFile={}", keys.join(format!("id_ed25519-{grant}-cert.pub")).display()))
        .args(["-p", &w.target_port.to_string(), "root@127.0.0.1", "hello", "NAME=direct"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("hello"), "{}", text(&o));
    assert!(target.log().contains("source address"), "{}", target.log());

    // A connection to the bastion kept open (a multiplexing master) before the revocation.
    let ctl = w.env.path("ssh/master.sock");
    let o = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-M", "-S"])
        .arg(&ctl)
        .args(["-f", "-N", &jump])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ssh -M");
    assert!(o.success(), "the master connection");
    let master_up = || {
        Command::new("ssh")
            .arg("-F")
            .arg(&cfg)
            .arg("-S")
            .arg(&ctl)
            .args(["-O", "check", &jump])
            .stdin(Stdio::null())
            .output()
            .expect("ssh -O check")
            .status
            .success()
    };
    assert!(master_up(), "the master runs");

    // Revoked: the bastion refuses the next login at once, and says why in the ledger.
    w.env.ok(&["--as", "tech-acme", "access", "revoke", &grant]);
    // ...and the daemon cuts the connection already open, within seconds, recorded.
    // (Down means `ssh -O check` failed twice in a row, the cut recorded: a check that fails
    // once on a loaded machine is not a cut.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let cut = |w: &World| w.events(&grant).iter().any(|e| e.starts_with("denied step=cut"));
    while master_up() || master_up() || !cut(&w) {
        assert!(
            std::time::Instant::now() < deadline,
            "the open connection was not cut: {}\n{:#?}",
            bastion.log(),
            w.events(&grant)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let o = ssh(&cfg, &["acme-1", "hello", "NAME=again"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Permission denied"), "{}", text(&o));
    let ev = w.events(&grant);
    assert!(ev.iter().any(|e| e.starts_with("denied step=login")), "{ev:#?}");
    assert_eq!(w.env.sql("SELECT count(*) FROM maneuver_runs"), "4");
    // The runner refuses it too (a session opened before the revocation asks again).
    let o = w
        .gardien(&["--as", "tech-acme", "access", "run", &grant])
        .env("SSH_ORIGINAL_COMMAND", "hello NAME=x")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("revoked"), "{}", text(&o));

    w.env.ok(&["ledger", "verify"]);
}

#[test]
fn a_grant_ends_with_its_window_its_approval_and_its_person() {
    let w = World::new();
    let ap = w.approved(&["hello"]);
    let (grant, cfg) = w.grant("tech-acme", &ap);
    let (_b, _t, _) = w.sshd(false);
    assert_eq!(ssh(&cfg, &["acme-1", "hello", "NAME=first"]).status.code(), Some(0));
    let serial = w.env.sql(&format!("SELECT serial FROM grants WHERE id = '{grant}'"));
    let ca = {
        let line = w.env.sql("SELECT public FROM client_cas WHERE client = 'acme'");
        let o = Command::new("ssh-keygen")
            .args(["-l", "-f", "/dev/stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().expect("stdin").write_all(line.as_bytes())?;
                c.wait_with_output()
            })
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&o.stdout).split_whitespace().nth(1).expect("fingerprint").to_owned()
    };
    let principals = |when: Option<&str>, serial: &str, ca: &str| -> Output {
        let args = ["bastion", "principals", "root", grant.as_str(), serial, ca];
        match when {
            Some(w2) => w.env.cmd_at(w2, &args).output().expect("faketime"),
            None => w.gardien(&args).output().expect("principals"),
        }
    };
    // In force: the one line, for this grant's target only.
    let o = principals(None, &serial, &ca);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{}\" {grant}\n", w.target_port)
    );
    // Another serial, another CA, another account: nothing.
    for (s, c) in [("999", ca.as_str()), (serial.as_str(), "SHA256:AAAA"), ("x", ca.as_str())] {
        let o = principals(None, s, c);
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        assert!(o.stdout.is_empty());
    }
    let o = w.gardien(&["bastion", "principals", "jump", &grant, &serial, &ca]).output().expect("principals");
    assert!(o.stdout.is_empty() && o.status.code() == Some(4), "{}", text(&o));
    // An unknown certificate id: nothing, recorded.
    let o =
        w.gardien(&["bastion", "principals", "root", "gr-0000000000000000", "2", &ca]).output().expect("principals");
    assert!(o.stdout.is_empty() && o.status.code() == Some(4), "{}", text(&o));
    // Past its window (1h): nothing, from the bastion and from the runner.
    let later = (chrono::Local::now() + chrono::Duration::hours(2)).format("%Y-%m-%d %H:%M:%S").to_string();
    let later = later.as_str();
    let o = principals(Some(later), &serial, &ca);
    assert!(o.stdout.is_empty() && o.status.code() == Some(4), "{}", text(&o));
    let mut run = w.env.cmd_at(later, &["--as", "tech-acme", "access", "run", &grant]);
    let o = run.env("SSH_ORIGINAL_COMMAND", "hello NAME=late").output().expect("run");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is valid from"), "{}", text(&o));
    // The approval withdrawn: the grant stands on nothing (ACC-3), through real ssh.
    w.env.ok(&["--as", "signer-acme", "approval", "revoke", &ap]);
    let o = ssh(&cfg, &["acme-1", "hello", "NAME=after"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    let o = principals(None, &serial, &ca);
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused (ACC-3)"), "{}", text(&o));
    // A disabled person: nothing either, on a fresh approval and grant.
    let ap2 = w.approved(&["hello"]);
    let (grant2, cfg2) = w.grant("tech-acme", &ap2);
    assert_eq!(ssh(&cfg2, &["acme-1", "hello", "NAME=second"]).status.code(), Some(0));
    w.env.ok(&["person", "disable", "tech-acme"]);
    let o = ssh(&cfg2, &["acme-1", "hello", "NAME=disabled"]);
    assert_eq!(o.status.code(), Some(255), "{}", text(&o));
    assert!(w.events(&grant2).iter().any(|e| e.starts_with("denied step=login")), "{:#?}", w.events(&grant2));
    w.env.ok(&["ledger", "verify"]);
}

#[test]
fn grants_are_the_approved_persons_only_and_bad_input_changes_nothing() {
    let w = World::new();
    let env = &w.env;
    let key = env.path("k/id_ed25519");
    std::fs::create_dir_all(key.parent().expect("dir")).expect("mkdir");
    keygen(&key);
    let pubkey = format!("{}.pub", key.display());
    // Requested, not yet approved: refused, ACC-3.
    let out = env.ok(&strs(&request("acme-1 hello")));
    let pending = out.lines().next().expect("id").trim().to_owned();
    let err = env.fails(&["--as", "tech-acme", "access", "grant", &pending, "--key", &pubkey], 4);
    assert!(err.contains("refused (ACC-3)"), "{err}");
    let ap = w.approved(&["hello"]);
    // Another person of the client: ACC-3 (the approval lets in tech-acme).
    let err = env.fails(&["--as", "tech2-acme", "access", "grant", &ap, "--key", &pubkey], 4);
    assert!(err.contains("refused (ACC-3)"), "{err}");
    // Another client's person: the answer an unknown approval gets.
    let theirs = env.fails(&["--as", "tech-beta", "access", "grant", &ap, "--key", &pubkey], 1);
    let unknown = env.fails(&["--as", "tech-beta", "access", "grant", "ap-000000000000", "--key", &pubkey], 1);
    assert_eq!(theirs.replace(&ap, "ID"), unknown.replace("ap-000000000000", "ID"));
    // A bad key: a certificate, garbage, a short RSA key.
    let bad = env.path("k/bad.pub");
    for content in ["ssh-ed25519 AAAAnotbase64", "", "ssh-ed25519-cert-v01@openssh.com AAAA"] {
        std::fs::write(&bad, content).expect("write");
        let err = env.fails(&["--as", "tech-acme", "access", "grant", &ap, "--key", &bad.to_string_lossy()], 1);
        assert!(err.contains("key") || err.contains("certificate"), "{content}: {err}");
    }
    let rsa = env.path("k/rsa");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(&rsa)
        .status()
        .expect("keygen");
    assert!(st.success());
    let err = env.fails(&["--as", "tech-acme", "access", "grant", &ap, "--key", &format!("{}.pub", rsa.display())], 1);
    assert!(err.contains("2048 bits is too weak"), "{err}");
    // Server access on a shared server is no one's to ask (ACC-1: no server of theirs).
    let err = env.fails(&strs(&request("mut-1 hello")), 1);
    assert!(err.contains("unknown server 'mut-1'"), "{err}");
    // A maneuver the catalog does not have.
    let err = env.fails(&strs(&request("acme-1 rm-rf")), 1);
    assert!(err.contains("unknown maneuver 'rm-rf'"), "{err}");
    let grants = env.sql("SELECT count(*) FROM grants");
    assert_eq!(grants, "0");

    // The catalog: a program, never a shell line; typed arguments; a sane TTL; never changed.
    for (args, said) in [
        (
            &["maneuver", "add", "x", "--program", "echo", "--max-ttl", "1h", "--description", "a relative path"][..],
            "absolute path",
        ),
        (
            &[
                "maneuver",
                "add",
                "x",
                "--program",
                "/bin/sh -c id",
                "--max-ttl",
                "1h",
                "--description",
                "a shell line here",
            ],
            "absolute path",
        ),
        (
            &[
                "maneuver",
                "add",
                "x",
                "--program",
                "/bin/../bin/sh",
                "--max-ttl",
                "1h",
                "--description",
                "a path with dots",
            ],
            "absolute path",
        ),
        (
            &[
                "maneuver",
                "add",
                "x",
                "--program",
                "/bin/echo",
                "--arg",
                "name=x",
                "--max-ttl",
                "1h",
                "--description",
                "a lowercase name",
            ],
            "capital letters",
        ),
        (
            &[
                "maneuver",
                "add",
                "x",
                "--program",
                "/bin/echo",
                "--arg",
                "N=(",
                "--max-ttl",
                "1h",
                "--description",
                "a broken pattern",
            ],
            "does not compile",
        ),
        (
            &["maneuver", "add", "x", "--program", "/bin/echo", "--max-ttl", "3d", "--description", "too long a ttl"],
            "--max-ttl",
        ),
        (
            &["maneuver", "add", "x", "--program", "/bin/echo", "--max-ttl", "1h", "--description", "short"],
            "--description",
        ),
        (
            &[
                "maneuver",
                "add",
                "hello",
                "--program",
                "/bin/echo",
                "--max-ttl",
                "1h",
                "--description",
                "the same id again",
            ],
            "never changes",
        ),
        (
            &[
                "maneuver",
                "add",
                "X/../y",
                "--program",
                "/bin/echo",
                "--max-ttl",
                "1h",
                "--description",
                "a bad id here",
            ],
            "maneuver",
        ),
        // A pattern that compiles only inside the anchors would escape them (the review's).
        (
            &[
                "maneuver",
                "add",
                "cat-file",
                "--program",
                "/bin/cat",
                "--arg",
                "FILE=/var/log/app/[a-z]+\\.log)|(.+",
                "--max-ttl",
                "1h",
                "--description",
                "show an application log",
            ],
            "does not compile",
        ),
        // What hides or reorders the signer's reading, or makes the argv ambiguous.
        (
            &[
                "maneuver",
                "add",
                "rst",
                "--program",
                "/bin/echo",
                "--fixed",
                "restart\u{202e}",
                "--max-ttl",
                "1h",
                "--description",
                "a hidden override",
            ],
            "--fixed",
        ),
        (
            &[
                "maneuver",
                "add",
                "rst",
                "--program",
                "/bin/echo",
                "--fixed",
                "two words",
                "--max-ttl",
                "1h",
                "--description",
                "an ambiguous argv",
            ],
            "one word",
        ),
        (
            &[
                "maneuver",
                "add",
                "rst",
                "--program",
                "/bin/echo",
                "--arg",
                "U=php\u{200b}[0-9]",
                "--max-ttl",
                "1h",
                "--description",
                "an invisible pattern",
            ],
            "invisible",
        ),
    ] {
        let before = env.snapshot();
        let err = env.fails(args, 1);
        assert!(err.contains(said), "{args:?}: {err}");
        assert_eq!(env.snapshot().1, before.1, "{args:?}: no file changed");
    }
    // Only ops adds maneuvers; a client's people read the catalog.
    let err = env.fails(
        &[
            "--as",
            "tech-acme",
            "maneuver",
            "add",
            "y",
            "--program",
            "/bin/echo",
            "--max-ttl",
            "1h",
            "--description",
            "a client adds one",
        ],
        4,
    );
    assert!(err.contains("refused"), "{err}");
    let list = env.ok(&["--as", "tech-acme", "maneuver", "list"]);
    assert!(list.contains("hello: /bin/echo hello NAME (NAME: [a-z]+), at most 1h — Say hello"), "{list}");
    // The bastion: an allowed site (LOC-1), a narrow egress.
    let err = env.fails(&["bastion", "set", "--site", "us-east", "--address", "192.0.2.1", "--egress", "192.0.2.1"], 4);
    assert!(err.contains("LOC-1"), "{err}");
    for egress in
        ["0.0.0.0/0", "192.0.2.1/8", "nowhere", "192.0.2.1/33", "192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.5"]
    {
        let err =
            env.fails(&["bastion", "set", "--site", "fr-roubaix", "--address", "192.0.2.1", "--egress", egress], 1);
        assert!(err.contains("--egress"), "{egress}: {err}");
    }
    // Grants: a client's people list their client's only; unknown and not yours alike.
    let (grant, _) = w.grant("tech-acme", &ap);
    let theirs = env.ok(&["--as", "tech-beta", "access", "list", "--client", "beta"]);
    assert!(!theirs.contains(&grant), "{theirs}");
    let mine = env.ok(&["--as", "admin-acme", "access", "list", "--client", "acme"]);
    assert!(mine.contains(&grant), "{mine}");
    let a = env.fails(&["--as", "tech-beta", "access", "revoke", &grant], 1);
    let b = env.fails(&["--as", "tech-beta", "access", "revoke", "gr-0000000000000000"], 1);
    assert_eq!(a.replace(&grant, "ID"), b.replace("gr-0000000000000000", "ID"));
    let err = env.fails(&["--as", "tech2-acme", "access", "revoke", &grant], 4);
    assert!(err.contains("their own grants"), "{err}");
    env.ok(&["--as", "signer-acme", "access", "revoke", &grant]);
    let err = env.fails(&["--as", "admin-acme", "access", "revoke", &grant], 1);
    assert!(err.contains("revoked already"), "{err}");

    // A grant whose approval was withdrawn is listed as such.
    let (grant2, _) = w.grant("tech-acme", &ap);
    env.ok(&["--as", "signer-acme", "approval", "revoke", &ap]);
    let list = env.ok(&["access", "list", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&list).unwrap();
    let row = j.as_array().unwrap().iter().find(|g| g["id"] == grant2.as_str()).unwrap().clone();
    assert_eq!(row["state"], "approval withdrawn", "{row}");
    // Certificates that could not be written: no grant is made.
    let ap3 = w.approved(&["hello"]);
    let n = env.sql("SELECT count(*) FROM grants");
    let err = env.fails(&["--as", "tech-acme", "access", "grant", &ap3, "--key", &pubkey, "-o", "/nonexistent/dir"], 1);
    assert!(err.contains("cannot write the certificates"), "{err}");
    assert_eq!(env.sql("SELECT count(*) FROM grants"), n);
    // The runner, run as another person than the grant's: answered as an unknown grant.
    let g = env.sql("SELECT id FROM grants ORDER BY created LIMIT 1");
    let run = |who: &str, grant: &str| {
        let o = w
            .gardien(&["--as", who, "access", "run", grant])
            .env("SSH_ORIGINAL_COMMAND", "hello NAME=x")
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).replace(grant, "ID"), o.stdout)
    };
    let theirs = run("tech-beta", &g);
    assert_eq!(theirs, run("tech-beta", "gr-0000000000000000"));
    assert_eq!(theirs.0, Some(4));
    // sshd's configuration takes no line from its options.
    for listen in ["127.0.0.1\nPermitTTY yes:22", "1.2.3.4:notaport", "host.example:22"] {
        let err = env.fails(
            &[
                "bastion",
                "sshd-config",
                "--dir",
                &env.path("x").to_string_lossy(),
                "--listen",
                listen,
                "--command-user",
                "root",
            ],
            1,
        );
        assert!(err.contains("--listen"), "{listen:?}: {err}");
        let err = env.fails(
            &["server", "sshd-config", "acme-1", "--dir", &env.path("x").to_string_lossy(), "--listen", listen],
            1,
        );
        assert!(err.contains("--listen"), "{listen:?}: {err}");
    }
    // The daemon replaces a stale socket, nothing else (the review's second finding).
    let catalog = env.data.join("catalog.db");
    let before = std::fs::read(&catalog).unwrap().len();
    let o = w.gardien(&["bastion", "serve", "--socket", &catalog.to_string_lossy()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a socket"), "{}", text(&o));
    assert!(std::fs::metadata(&catalog).unwrap().is_file() && std::fs::read(&catalog).unwrap().len() >= before);
    let o = w
        .gardien(&["--as", "tech-acme", "bastion", "serve", "--socket", &env.path("s.sock").to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "a client's person runs no daemon: {}", text(&o));
    env.ok(&["client", "list"]);
    env.ok(&["ledger", "verify"]);
}
