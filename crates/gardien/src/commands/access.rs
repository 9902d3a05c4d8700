//! `gardien access grant|revoke|list|run`, `gardien maneuver add|list` and `gardien bastion
//! set|sshd-config|principals` (issue 13): access to a dedicated server, only through the
//! bastion (ACC-4), only on the client's approval in force (ACC-3), only for the catalog of
//! maneuvers it names (ACC-2), never on a shared server (ACC-1).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Issue the two SSH certificates of an approved server access (ACC-3) for your key:
    /// one for the bastion, one for the server; print the ssh_config lines that use them.
    #[command(
        after_help = "Example:\n  gardien --as tech-hugo access grant ap-0123456789ab --key ~/.ssh/id_ed25519.pub >> ~/.ssh/config\n  \
        ssh hugo-1 restart-php UNIT=php8.2-fpm\n\n\
        The certificates last the approval's window, and at most the shortest --max-ttl of its maneuvers.\n\
        On the server, the certificate runs only gardien's runner: the maneuvers the approval names, with\n\
        arguments matching their patterns, each recorded in the client's log. No shell, no terminal."
    )]
    Grant {
        /// The server-access approval (`gardien approval list`).
        approval: String,
        /// Your OpenSSH public key (id_ed25519.pub).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the certificates (default: beside the key).
        #[arg(short = 'o', long)]
        out_dir: Option<PathBuf>,
    },
    /// End a grant now: the bastion refuses its next login, the server its next maneuver.
    Revoke {
        /// The grant (`gardien access list`).
        grant: String,
    },
    /// The grants: whose, on which server, until when, revoked or not.
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The runner on a dedicated server: what a grant's certificate forces. It reads the
    /// maneuver asked for in SSH_ORIGINAL_COMMAND; you never type this.
    #[command(hide = true)]
    Run {
        /// The grant whose certificate was used.
        grant: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ManeuverCmd {
    /// Add a maneuver to the catalog (ACC-2): one program, fixed arguments, typed arguments.
    /// It never changes once added (approvals name it): add another id for another version.
    #[command(
        after_help = "Examples:\n  gardien maneuver add restart-php --program /usr/bin/systemctl --fixed restart \\\n    \
        --arg 'UNIT=php8\\.[1-4]-fpm' --max-ttl 1h --description \"Restart PHP-FPM after a configuration change\"\n  \
        gardien maneuver add purge-caches --program /usr/bin/php --fixed /var/www/moodle/admin/cli/purge_caches.php \\\n    \
        --max-ttl 30m --description \"Purge Moodle's caches\"\n\n\
        On the server the person runs `ssh SERVER restart-php UNIT=php8.2-fpm`; the runner runs\n\
        /usr/bin/systemctl restart php8.2-fpm, without a shell. A value matches its pattern whole and never\n\
        starts with '-'."
    )]
    Add {
        /// Its id (lowercase letters, digits, inner dashes).
        id: String,
        /// The program's absolute path.
        #[arg(long)]
        program: String,
        /// An argument always given, before the typed ones (repeat it, in order).
        #[arg(long = "fixed", allow_hyphen_values = true)]
        fixed: Vec<String>,
        /// A typed argument, NAME=REGEX (repeat it, in the program's order).
        #[arg(long = "arg")]
        args: Vec<String>,
        /// The longest a grant including it lasts: 30m, 1h, 1h30m (at most 24h).
        #[arg(long)]
        max_ttl: String,
        /// What it does, for the client's signer.
        #[arg(long)]
        description: String,
    },
    /// The catalog.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum BastionCmd {
    /// Set the one bastion (ACC-4): where people connect, where it connects to servers from,
    /// its account, and the maneuvers' account and gardien's path on dedicated servers.
    #[command(
        after_help = "Example:\n  gardien bastion set --site fr-roubaix --address bastion.hebergeur.example:22 --egress 192.0.2.1\n"
    )]
    Set {
        /// Where it is (LOC-1).
        #[arg(long)]
        site: String,
        /// HOST[:PORT] people connect to.
        #[arg(long)]
        address: String,
        /// The address (or CIDR, at most 256 addresses) it connects to servers from: the only
        /// source a server's certificate accepts.
        #[arg(long)]
        egress: String,
        /// Its Unix account people log in as.
        #[arg(long, default_value = "gardien-jump")]
        login: String,
        /// The maneuvers' Unix account on dedicated servers.
        #[arg(long, default_value = "gardien-maneuvers")]
        target_login: String,
        /// gardien's absolute path on dedicated servers.
        #[arg(long, default_value = "/usr/local/bin/gardien")]
        runner: String,
    },
    /// Write the bastion's sshd configuration and the clients' user CAs it trusts.
    #[command(after_help = "Example:\n  gardien bastion sshd-config --dir /etc/ssh/gardien --listen 0.0.0.0:22\n  \
        sshd -t -f /etc/ssh/gardien/sshd_config && systemctl restart ssh\n\n\
        sshd asks gardien (AuthorizedPrincipalsCommand) at every login which grant a certificate stands\n\
        for; gardien, its directories and the data dir must be root's and not writable by others.\n\
        Write it again after adding a client's first dedicated server (its CA joins the list).")]
    SshdConfig {
        /// The directory to write sshd_config and user-cas.pub into.
        #[arg(long)]
        dir: PathBuf,
        /// ADDRESS:PORT sshd listens on.
        #[arg(long, default_value = "0.0.0.0:22")]
        listen: String,
        /// The bastion's host key.
        #[arg(long, default_value = "/etc/ssh/ssh_host_ed25519_key")]
        host_key: String,
        /// The account sshd runs gardien as (default: the data dir's owner).
        #[arg(long)]
        command_user: Option<String>,
        /// gardien's absolute path on the bastion (default: this one).
        #[arg(long)]
        gardien: Option<PathBuf>,
        /// Have sshd's command ask the daemon at this socket (`bastion serve`).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Answer sshd's AuthorizedPrincipalsCommand from a daemon on a Unix socket: the data
    /// dir and the policy stay loaded, so a login waits about a millisecond for gardien
    /// rather than the tens a fresh process needs. Run it as the command user; write the
    /// configuration with `bastion sshd-config --socket` to use it.
    #[command(after_help = "Example (a systemd service, as the data dir's owner):\n  \
        gardien --data-dir /var/lib/gardien bastion serve --socket /run/gardien/bastion.sock\n\n\
        The socket is the daemon's user's alone (0600). If the daemon is down, logins through the bastion\n\
        are refused (sshd gets no answer): nothing is let in without a decision. Grants, approvals and\n\
        people are read at each login; the policy files when it starts: restart it after changing them.")]
    Serve {
        /// The Unix socket to answer on.
        #[arg(long)]
        socket: PathBuf,
        /// How many logins are decided at once.
        #[arg(long, default_value_t = 8)]
        workers: usize,
    },
    /// sshd's AuthorizedPrincipalsCommand: the line for a grant in force, nothing otherwise.
    #[command(hide = true)]
    Principals {
        /// Ask the daemon at this socket (`bastion serve`) instead of deciding here.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// %u: the account asked for.
        user: String,
        /// %i: the certificate's key id (the grant).
        key_id: String,
        /// %s: its serial.
        serial: String,
        /// %F: the fingerprint of the CA that signed it.
        ca: String,
    },
}

/// `--dir`'s `sshd_config` and `user-cas.pub`, each written whole then renamed.
pub fn write_files(dir: &Path, files: &vault::SshdFiles) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", output::shown(dir)))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    // sshd trusts what these files say: nobody but their owner may change them, whatever
    // the umask (a writable CA list lets anyone add a CA).
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o022 != 0 {
        anyhow::bail!(
            "{} is writable by others than its owner (mode {:o}): sshd would trust what anyone puts there; chmod go-w it",
            output::shown(dir),
            mode & 0o777
        );
    }
    let mut all = vec![("user-cas.pub", files.user_cas.as_str(), 0o644)];
    if let Some(p) = &files.principals {
        all.push(("principals", p.as_str(), 0o644));
    }
    all.push(("sshd_config", files.config.as_str(), 0o644));
    output::replace_files(dir, &all)
}

/// An absolute path as an ssh_config line takes it: quoted when it has spaces; a control
/// character or a double quote refused (a newline would add lines to the person's config).
fn ssh_path(p: &Path) -> anyhow::Result<String> {
    let a = absolute(p)?;
    if a.chars().any(|c| vault::text::is_hiding(c) || c == '"') {
        anyhow::bail!("{}: a path with a control character or a quote cannot go into ssh_config", output::shown(p));
    }
    Ok(if a.chars().any(char::is_whitespace) { format!("\"{a}\"") } else { a })
}

fn absolute(p: &Path) -> anyhow::Result<String> {
    let p = std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display()))?;
    Ok(p.to_string_lossy().into_owned())
}

/// The name of `dir`'s owner, from /etc/passwd.
fn owner_name(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata(dir).ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
    })
}

fn grant_json(g: &vault::GrantRow) -> serde_json::Value {
    serde_json::json!({
        "id": g.id, "approval": g.approval, "client": g.client, "server": g.server, "person": g.person,
        "key": g.key, "valid_after": g.valid_after, "valid_before": g.valid_before,
        "revoked_at": g.revoked_at, "revoked_by": g.revoked_by, "created": g.created,
    })
}

/// `HOST` and `PORT` of `HOST:PORT` (brackets off an IPv6 address).
fn host_port(address: &str) -> (String, String) {
    let (h, p) = address.rsplit_once(':').unwrap_or((address, "22"));
    (h.trim_start_matches('[').trim_end_matches(']').to_owned(), p.to_owned())
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let now = super::now();
    match cmd {
        Cmd::Grant { approval, key, out_dir } => {
            let v = super::open(cli)?;
            let text = output::read_small_text(key)?;
            let dir = match out_dir {
                Some(d) => d.clone(),
                None => key
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_owned),
            };
            // Where the certificates go, checked before the grant is made: a grant whose
            // certificates could not be written would stand for nothing.
            let identity = ssh_path(&key.with_extension(""))?;
            ssh_path(&dir)?;
            let probe = dir.join(format!(".gardien-probe-{}", std::process::id()));
            std::fs::write(&probe, b"")
                .with_context(|| format!("cannot write the certificates into {}", output::shown(&dir)))?;
            let _ = std::fs::remove_file(&probe);
            let issued = v.access_grant(approval, &text, now)?;
            let g = &issued.grant;
            let stem =
                key.file_name().map(|n| n.to_string_lossy().trim_end_matches(".pub").to_owned()).unwrap_or_default();
            let bastion_cert = dir.join(format!("{stem}-{}-bastion-cert.pub", g.id));
            let target_cert = dir.join(format!("{stem}-{}-cert.pub", g.id));
            for (path, line) in [(&bastion_cert, &issued.bastion_cert), (&target_cert, &issued.target_cert)] {
                std::fs::write(path, format!("{line}\n")).with_context(|| {
                    format!(
                        "cannot write {} (grant {} is made: `gardien access revoke {}`, then grant again)",
                        output::shown(path),
                        g.id,
                        g.id
                    )
                })?;
            }
            let jump = format!("gardien-bastion-{}", g.id);
            let (bh, bp) = host_port(&issued.bastion.address);
            let (th, tp) = host_port(&issued.server.address);
            println!(
                "# gardien grant {} for {} on {}, until {} (ACC-2, ACC-3, ACC-4)",
                g.id, g.person, g.server, g.valid_before
            );
            println!("Host {jump}");
            println!("    HostName {bh}\n    Port {bp}\n    User {}", issued.bastion.login);
            println!(
                "    IdentityFile {identity}\n    CertificateFile {}\n    IdentitiesOnly yes",
                ssh_path(&bastion_cert)?
            );
            println!("Host {}", g.server);
            println!(
                "    HostName {th}\n    Port {tp}\n    User {}\n    ProxyJump {jump}",
                issued.bastion.target_login
            );
            println!(
                "    IdentityFile {identity}\n    CertificateFile {}\n    IdentitiesOnly yes\n    RequestTTY no",
                ssh_path(&target_cert)?
            );
            eprintln!(
                "grant {} on {} until {}: certificates in {}; add the lines above to ~/.ssh/config, then `ssh {} MANEUVER NAME=VALUE...`",
                g.id,
                g.server,
                output::until(&g.valid_before),
                output::shown(&dir),
                g.server
            );
            Ok(())
        }
        Cmd::Revoke { grant } => {
            let v = super::open(cli)?;
            let g = v.access_revoke(grant, now)?;
            eprintln!(
                "grant {} on {} revoked: the bastion refuses its next login, the server its next maneuver",
                g.id, g.server
            );
            Ok(())
        }
        Cmd::List { client, json } => {
            let v = super::open(cli)?;
            let grants = v.access_list(client.as_deref(), now)?;
            if *json {
                return output::json(
                    &grants
                        .iter()
                        .map(|(g, st)| {
                            let mut j = grant_json(g);
                            j["state"] = (*st).into();
                            j
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["GRANT", "CLIENT", "SERVER", "PERSON", "UNTIL", "STATE"],
                grants.iter().map(|(g, st)| {
                    let state = match &g.revoked_at {
                        Some(at) => format!("revoked {}", output::day(at)),
                        None => (*st).to_owned(),
                    };
                    vec![
                        g.id.clone(),
                        g.client.clone(),
                        g.server.clone(),
                        g.person.clone(),
                        g.valid_before.clone(),
                        state,
                    ]
                }),
            )
        }
        Cmd::Run { grant } => {
            let mut v = super::open(cli)?;
            let requested = std::env::var("SSH_ORIGINAL_COMMAND").ok();
            let code = v.access_run(grant, requested.as_deref(), now)?;
            std::process::exit(code);
        }
    }
}

pub fn run_maneuver(cli: &Cli, cmd: &ManeuverCmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        ManeuverCmd::Add { id, program, fixed, args, max_ttl, description } => {
            let m = v.maneuver_add(&vault::NewManeuver { id, program, fixed, args, max_ttl, description }, now)?;
            eprintln!("maneuver added: {}", vault::maneuver_line(&m));
            Ok(())
        }
        ManeuverCmd::List { json } => {
            let all = v.maneuvers(now)?;
            if *json {
                return output::json(
                    &all.iter()
                        .map(|m| {
                            serde_json::json!({
                                "id": m.id, "program": m.program, "fixed": m.fixed,
                                "args": m.args.iter().map(|(n, p)| serde_json::json!({"name": n, "pattern": p})).collect::<Vec<_>>(),
                                "max_ttl_seconds": m.max_ttl, "description": m.description, "created": m.created,
                            })
                        })
                        .collect::<Vec<_>>(),
                );
            }
            if all.is_empty() {
                eprintln!("the catalog is empty: `gardien maneuver add --help`");
            }
            for m in &all {
                println!("{}", vault::maneuver_line(m));
            }
            Ok(())
        }
    }
}

pub fn run_bastion(cli: &Cli, cmd: &BastionCmd) -> anyhow::Result<()> {
    let now = super::now();
    match cmd {
        BastionCmd::Set { site, address, egress, login, target_login, runner } => {
            let v = super::open(cli)?;
            let b = v.bastion_set(&vault::NewBastion { site, address, egress, login, target_login, runner }, now)?;
            eprintln!(
                "bastion set: {} on {}, connecting to servers from {}; accounts {} (bastion) and {} (servers)",
                b.address, b.site, b.egress, b.login, b.target_login
            );
            Ok(())
        }
        BastionCmd::SshdConfig { dir, listen, host_key, command_user, gardien, socket } => {
            let v = super::open(cli)?;
            let exe = match gardien {
                Some(p) => absolute(p)?,
                None => std::env::current_exe()?.to_string_lossy().into_owned(),
            };
            let user = match command_user {
                Some(u) => u.clone(),
                None => owner_name(v.dir())
                    .context("the data dir's owner has no name in /etc/passwd: give --command-user")?,
            };
            let cas = absolute(&dir.join("user-cas.pub"))?;
            let socket = socket.as_deref().map(absolute).transpose()?;
            let files = v.bastion_sshd_config(listen, host_key, &cas, &exe, socket.as_deref(), &user, now)?;
            write_files(dir, &files)
        }
        BastionCmd::Serve { socket, workers } => bastiond::serve(cli, socket, *workers),
        BastionCmd::Principals { socket: Some(socket), user, key_id, serial, ca } => {
            // The daemon decides; this process only carries the question and the answer.
            let line = bastiond::ask(socket, [user, key_id, serial, ca])?;
            println!("{line}");
            Ok(())
        }
        BastionCmd::Principals { socket: None, user, key_id, serial, ca } => {
            let mut v = super::open(cli)?;
            let line = v.bastion_principals(user, key_id, serial, ca, now)?;
            println!("{line}");
            Ok(())
        }
    }
}

/// The bastion's daemon: sshd's questions over a Unix socket, one JSON line each way.
mod bastiond {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::Path;
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::Duration;

    use anyhow::Context as _;

    use crate::Cli;
    use crate::commands::Exit;

    const LIMIT: u64 = 4096;
    const WAIT: Duration = Duration::from_secs(5);
    /// How long the daemon waits for sshd's question: a caller that says nothing frees its
    /// worker after this.
    const QUESTION: Duration = Duration::from_secs(1);

    /// Asks the daemon; the principals line, or the refusal as the in-process command says it.
    pub fn ask(socket: &Path, args: [&String; 4]) -> anyhow::Result<String> {
        match crate::ask::ask(socket, [args[0], args[1], args[2], args[3]]).map_err(|e| Exit(crate::exit::FAILED, e))? {
            crate::ask::Answer::Line(line) => Ok(line),
            crate::ask::Answer::Refused(code, why) => Err(Exit(code, why).into()),
        }
    }

    /// A connection the bastion let in: sshd's process holding it, and when it started
    /// (a pid is reused; its start time with it is not).
    struct Conn {
        grant: String,
        pid: u32,
        start: u64,
    }

    /// A process's start time (clock ticks since boot), from /proc.
    fn started(pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
    }

    /// Every few seconds, each connection let in is asked again whether it may go on; one
    /// whose grant was revoked or expired, whose approval was withdrawn or whose person was
    /// disabled is cut (sshd's process for it ends), and the cut recorded.
    fn watch(v: &vault::Vault, conns: &Mutex<Vec<Conn>>) {
        loop {
            std::thread::sleep(Duration::from_secs(2));
            let now = chrono::Utc::now();
            let mut list = conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            list.retain(|c| started(c.pid) == Some(c.start));
            let mut keep = Vec::new();
            for c in list.drain(..) {
                match v.bastion_connection_live(&c.grant, now) {
                    Ok(false) => {
                        let killed = std::process::Command::new("kill").args(["-TERM", &c.pid.to_string()]).status();
                        if killed.is_ok_and(|s| s.success()) {
                            if let Err(e) = v.bastion_connection_cut(&c.grant, c.pid, now) {
                                tracing::error!("a connection of {} was cut, but not recorded: {e}", c.grant);
                            }
                        } else {
                            tracing::error!("cannot end sshd's process {} for {}", c.pid, c.grant);
                            keep.push(c);
                        }
                    }
                    Ok(true) => keep.push(c),
                    Err(e) => {
                        tracing::warn!("cannot check {}: {e}", c.grant);
                        keep.push(c);
                    }
                }
            }
            *list = keep;
        }
    }

    /// One question: `[user, key id, serial, CA fingerprint, sshd's process]` (the last
    /// may be missing).
    fn answer(v: &mut vault::Vault, s: &mut UnixStream, conns: &Mutex<Vec<Conn>>) -> anyhow::Result<()> {
        s.set_read_timeout(Some(QUESTION))?;
        s.set_write_timeout(Some(WAIT))?;
        let mut line = String::new();
        BufReader::new(&mut *s).take(LIMIT).read_line(&mut line)?;
        let q = serde_json::from_str::<Vec<String>>(&line).ok().filter(|q| (4..=5).contains(&q.len()));
        let reply = match q.as_deref() {
            Some([user, key_id, serial, ca, rest @ ..]) => {
                match v.bastion_principals(user, key_id, serial, ca, chrono::Utc::now()) {
                    Ok(l) => {
                        let pid = rest.first().and_then(|p| p.parse::<u32>().ok()).filter(|p| *p > 1);
                        if let Some((pid, start)) = pid.and_then(|p| started(p).map(|st| (p, st))) {
                            let mut list = conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            if !list.iter().any(|c| c.pid == pid && c.start == start) {
                                list.push(Conn { grant: key_id.clone(), pid, start });
                            }
                        }
                        serde_json::json!({ "line": l })
                    }
                    Err(e) => serde_json::json!({
                        "error": vault::text::escape_lines(&e.to_string()),
                        "code": crate::vault_exit_code(&e),
                    }),
                }
            }
            _ => serde_json::json!({ "error": "not a question of sshd's", "code": crate::exit::USAGE }),
        };
        s.write_all(reply.to_string().as_bytes())?;
        Ok(())
    }

    pub fn serve(cli: &Cli, socket: &Path, workers: usize) -> anyhow::Result<()> {
        let workers = workers.clamp(1, 64);
        let mut first = vault::Vault::open(&cli.data_dir, cli.master_key.as_deref())?;
        first.act_as(&cli.act_as);
        first.bastion_serve_start(&socket.to_string_lossy(), chrono::Utc::now())?;
        let group = first.start_group_commit()?;
        let mut vaults = vec![first];
        while vaults.len() < workers {
            vaults.push(vault::Vault::open(&cli.data_dir, cli.master_key.as_deref())?);
        }
        // Only a stale socket is replaced: anything else at the path (a file, the catalog
        // given by mistake, a link) is refused, and left as it is.
        if let Ok(meta) = std::fs::symlink_metadata(socket) {
            use std::os::unix::fs::FileTypeExt as _;
            if !meta.file_type().is_socket() {
                anyhow::bail!("{} exists and is not a socket: give the path of a new socket", socket.display());
            }
            if UnixStream::connect(socket).is_ok() {
                anyhow::bail!("another daemon answers at {}", socket.display());
            }
            std::fs::remove_file(socket).with_context(|| format!("cannot remove the stale {}", socket.display()))?;
        }
        // The socket is its owner's alone from the moment it exists (no window in which
        // another local user could connect before a chmod).
        let before = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
        let bound = UnixListener::bind(socket);
        rustix::process::umask(before);
        let listener = bound.with_context(|| format!("cannot listen at {}", socket.display()))?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
        }
        let (tx, rx) = mpsc::channel::<UnixStream>();
        let rx = Arc::new(Mutex::new(rx));
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
        {
            let mut watcher = vault::Vault::open(&cli.data_dir, cli.master_key.as_deref())?;
            watcher.use_group_commit(group.clone());
            watcher.load_policy()?;
            let conns = conns.clone();
            std::thread::spawn(move || watch(&watcher, &conns));
        }
        for mut v in vaults {
            v.use_group_commit(group.clone());
            v.load_policy()?;
            let rx = rx.clone();
            let (dir, key, group, conns) = (cli.data_dir.clone(), cli.master_key.clone(), group.clone(), conns.clone());
            std::thread::spawn(move || {
                loop {
                    let next = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    let Ok(mut s) = next else { return };
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(&mut v, &mut s, &conns)));
                    match ran {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!("a question of sshd's went unanswered: {e}"),
                        Err(_) => {
                            tracing::error!("a decision panicked; its vault is replaced");
                            match vault::Vault::open(&dir, key.as_deref()) {
                                Ok(mut fresh) => {
                                    fresh.use_group_commit(group.clone());
                                    v = fresh;
                                }
                                Err(e) => {
                                    tracing::error!("cannot reopen the data dir: {e}");
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
        eprintln!("answering sshd's AuthorizedPrincipalsCommand at {} ({workers} workers)", socket.display());
        for conn in listener.incoming() {
            match conn {
                Ok(s) => {
                    if tx.send(s).is_err() {
                        anyhow::bail!("every worker stopped");
                    }
                }
                Err(e) => tracing::warn!("accept: {e}"),
            }
        }
        Ok(())
    }
}
