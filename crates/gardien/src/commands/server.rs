//! `gardien server add|list|show` and `gardien server app add`: the inventory the server
//! clauses are decided on (issue 13): where each server is (LOC-1), whose it is (ACC-1:
//! a shared server is no client's; ACC-2: a dedicated one is one client's; ACC-4: a
//! managed one is the client's own infrastructure), and the web applications it hosts
//! (WEB-2: only Moodle on a shared server).

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a server to the inventory.
    #[command(
        after_help = "Examples:\n  gardien server add mut-rbx-1 --site fr-roubaix --kind shared --address mut-rbx-1.hebergeur.example\n  \
        gardien server add hugo-1 --site fr-strasbourg --kind dedicated --client lycee-hugo --address 192.0.2.10:2222\n\n\
        A shared server hosts many clients' Moodle sites and gives none of them access (ACC-1); a dedicated\n\
        server is one client's, where its technical staff may be let in for an agreed catalog of maneuvers\n\
        (ACC-2); a managed server is the client's own infrastructure the operator runs (ACC-4)."
    )]
    Add {
        /// Its name (lowercase letters, digits, inner dashes).
        name: String,
        /// Where it is: one of the sites the configuration allows (LOC-1: fr-roubaix, fr-strasbourg).
        #[arg(long)]
        site: String,
        /// shared, dedicated or managed.
        #[arg(long)]
        kind: String,
        /// The client a dedicated or managed server belongs to (never for a shared one).
        #[arg(long)]
        client: Option<String>,
        /// Its SSH service: HOST[:PORT] (a domain name, an IPv4 address or [IPv6]; port 22 when none).
        #[arg(long)]
        address: String,
    },
    /// The servers, or a client's (its dedicated and managed servers).
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A server and the web applications it hosts.
    Show {
        /// The server's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The web applications a server hosts.
    #[command(subcommand)]
    App(AppCmd),
    /// Declare the TCP ports a server needs open to the internet (NET-1: as few as
    /// possible); `server check` reports any other that answers.
    #[command(after_help = "Example:\n  gardien server ports hugo-1 --allow 22,80,443")]
    Ports {
        /// The server's name.
        name: String,
        /// The ports: 22,80,443 (ranges as 8000-8010).
        #[arg(long)]
        allow: String,
    },
    /// Check servers from the outside: each web application's HTTPS certificate (WEB-1:
    /// trusted chain, valid for its domain, days left), other applications than Moodle on a
    /// shared server (WEB-2), TCP ports answering beyond the declared ones (NET-1).
    #[command(after_help = "Examples:\n  gardien server check\n  gardien server check hugo-1 --json\n\n\
        Exits 3 when it finds anything, 0 when all is well. Each finding names its clause. The ports\n\
        scanned are 1-1024, services often left open (databases, caches, consoles) and the declared ones;\n\
        a filtered port costs --timeout-ms. fail2ban (NET-2) is judged on the server's last report\n\
        (`gardien server fail2ban`): running, at most 7 days old, a jail banning on each port that answers.")]
    Check {
        /// Only this server (default: every server).
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A PEM file of roots to trust beside the system's (a private CA); repeatable.
        #[arg(long)]
        ca: Vec<std::path::PathBuf>,
        /// The ports to scan instead (22,80,443 or 1-65535).
        #[arg(long)]
        ports: Option<String>,
        /// Connections at once.
        #[arg(long, default_value_t = 64)]
        workers: usize,
        /// Each connection's limit, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Keep what fail2ban watches on a server, as the server reports it (NET-2): `server
    /// check` then finds each port that answers without a jail banning on it.
    #[command(after_help = "Example (from the operator's machine):\n  \
        ssh root@hugo-1 sh -s < contrib/fail2ban/gardien-fail2ban-report | gardien server fail2ban hugo-1 --report -\n\n\
        gardien checks servers from the outside and cannot see fail2ban: the report script runs on the\n\
        server (fail2ban-client and getent, nothing changed) and prints `running yes|no` and one\n\
        `jail NAME PORTS` line per jail. A report older than 7 days is a finding of its own: send one\n\
        at least weekly (a timer on the server, or the operator's configuration management).")]
    Fail2ban {
        /// The server's name.
        name: String,
        /// The report file, or - for stdin.
        #[arg(long)]
        report: std::path::PathBuf,
    },
    /// Write a dedicated or managed server's sshd configuration for the maneuvers' account
    /// (certificates of its client's CA only, from the bastion only) and the CA it trusts.
    #[command(
        after_help = "Example:\n  gardien server sshd-config hugo-1 --dir ./hugo-1-ssh --at /etc/ssh/gardien --listen 0.0.0.0:22\n\n\
        Copy the three files (sshd_config, user-cas.pub, principals) to /etc/ssh/gardien on the server, then\n\
        `sshd -t -f /etc/ssh/gardien/sshd_config`. The server accepts certificates of its client's CA naming\n\
        this server, from the bastion's address only. A shared server is refused: nobody of a client's is let\n\
        in there, ever (ACC-1)."
    )]
    SshdConfig {
        /// The server's name.
        name: String,
        /// The directory to write sshd_config and user-cas.pub into.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// ADDRESS:PORT sshd listens on.
        #[arg(long, default_value = "0.0.0.0:22")]
        listen: String,
        /// The server's host key.
        #[arg(long, default_value = "/etc/ssh/ssh_host_ed25519_key")]
        host_key: String,
        /// The directory the files will be in on the server (default: --dir).
        #[arg(long)]
        at: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AppCmd {
    /// Record a web application a server hosts, by its domain. Another application than
    /// Moodle is refused on a shared server (WEB-2).
    #[command(after_help = "Example:\n  gardien server app add mut-rbx-1 --kind moodle --domain moodle.lycee-hugo.fr")]
    Add {
        /// The server's name.
        server: String,
        /// moodle or other.
        #[arg(long)]
        kind: String,
        /// Its domain name (the one its HTTPS certificate is for).
        #[arg(long)]
        domain: String,
        /// HOST:PORT where its HTTPS answers, when not at its domain's port 443.
        #[arg(long)]
        https: Option<String>,
    },
    /// Obtain a certificate for an application from Let's Encrypt (WEB-1), over ACME
    /// HTTP-01, keep it (its key wrapped to the master key) and write it for the web server.
    #[command(after_help = "Examples:\n  \
        gardien server app cert moodle.lycee-hugo.fr --webroot /var/www/moodle --out /etc/gardien/certs\n  \
        gardien server app cert moodle.lycee-hugo.fr --http-listen 0.0.0.0:80 --out /etc/gardien/certs\n\n\
        The CA asks for http://DOMAIN/.well-known/acme-challenge/TOKEN. With --webroot, gardien writes the\n\
        answer in the document root the domain's web server serves, and removes it after; with --http-listen,\n\
        gardien answers itself, on an address the domain's port 80 reaches (for the time of the order only).\n\
        --out DIR writes DIR/DOMAIN/fullchain.pem (0644) and DIR/DOMAIN/privkey.pem (0600); point the web\n\
        server at them and reload it. `gardien server app renew` renews every certificate due (30 days before\n\
        its end): run it daily from a timer.")]
    Cert {
        /// The application's domain (`server app add` recorded it).
        domain: String,
        #[command(flatten)]
        acme: AcmeArgs,
    },
    /// Renew every kept certificate that ends within 30 days (WEB-1); the others are left.
    #[command(after_help = "Example (daily, from a systemd timer or cron):\n  \
        gardien server app renew --webroot /var/www/moodle --out /etc/gardien/certs\n\n\
        Exits 1 when a renewal failed (the others are still done), 0 otherwise; prints when the next one is due.")]
    Renew {
        #[command(flatten)]
        acme: AcmeArgs,
    },
    /// Write an application's kept certificate and key again (a new web server, a lost file).
    #[command(after_help = "Example:\n  gardien server app export moodle.lycee-hugo.fr --out /etc/gardien/certs")]
    Export {
        /// The application's domain.
        domain: String,
        /// Writes OUT/DOMAIN/fullchain.pem and OUT/DOMAIN/privkey.pem.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

/// How to reach the CA and answer its HTTP-01 challenge. Each certificate keeps what its
/// last order used (directory, --webroot or --http-listen, --out): a renewal does the same
/// unless told otherwise.
#[derive(Debug, clap::Args)]
pub struct AcmeArgs {
    /// The document root the domain's web server serves over HTTP: the answer is written
    /// under DIR/.well-known/acme-challenge/ and removed after.
    #[arg(long, value_name = "DIR", conflicts_with = "http_listen")]
    webroot: Option<std::path::PathBuf>,
    /// Answer the challenge here (an address the domain's port 80 reaches).
    #[arg(long, value_name = "ADDR:PORT")]
    http_listen: Option<std::net::SocketAddr>,
    /// Writes OUT/DOMAIN/fullchain.pem and OUT/DOMAIN/privkey.pem (0600).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// The ACME directory [default: the certificate's own, else Let's Encrypt's,
    /// https://acme-v02.api.letsencrypt.org/directory].
    #[arg(long, env = "GARDIEN_ACME_DIRECTORY")]
    acme_directory: Option<String>,
    /// A PEM root to trust for the ACME directory's own HTTPS (a test or private CA).
    #[arg(long, value_name = "PEM")]
    acme_root: Option<std::path::PathBuf>,
    /// A contact address for a new ACME account (the CA's expiry notices).
    #[arg(long)]
    email: Option<String>,
    /// The order's limit, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

fn server_json(s: &vault::ServerRow) -> serde_json::Value {
    serde_json::json!({
        "name": s.name, "site": s.site, "kind": s.kind, "client": s.client,
        "address": s.address, "created": s.created,
    })
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { name, site, kind, client, address } => {
            let s = v.server_add(&vault::NewServer { name, site, kind, client: client.as_deref(), address }, now)?;
            eprintln!(
                "server {} added: {} on {}{}, SSH at {}",
                s.name,
                s.kind,
                s.site,
                s.client.as_deref().map(|c| format!(" for {c}")).unwrap_or_default(),
                s.address
            );
            Ok(())
        }
        Cmd::List { client, json } => {
            let servers = v.servers(client.as_deref(), now)?;
            if *json {
                return output::json(&servers.iter().map(server_json).collect::<Vec<_>>());
            }
            output::table(
                &["SERVER", "SITE", "KIND", "CLIENT", "ADDRESS"],
                servers.iter().map(|s| {
                    vec![
                        s.name.clone(),
                        s.site.clone(),
                        s.kind.clone(),
                        s.client.clone().unwrap_or_else(|| "-".into()),
                        s.address.clone(),
                    ]
                }),
            )
        }
        Cmd::Show { name, json } => {
            let view = v.server(name, now)?;
            let s = &view.server;
            if *json {
                let mut j = server_json(s);
                j["apps"] = view
                    .apps
                    .iter()
                    .map(|a| serde_json::json!({"domain": a.domain, "kind": a.kind, "created": a.created}))
                    .collect::<Vec<_>>()
                    .into();
                j["certificates"] = view
                    .certs
                    .iter()
                    .map(|c| {
                        serde_json::json!({"domain": c.domain, "serial": c.serial, "not_after": c.not_after,
                            "issued": c.issued, "directory": c.directory})
                    })
                    .collect::<Vec<_>>()
                    .into();
                j["last_check"] = view
                    .last_check
                    .as_ref()
                    .map_or(serde_json::Value::Null, |(at, r)| serde_json::json!({"at": at, "report": r}));
                return output::json(&j);
            }
            println!("server   {}", s.name);
            println!("site     {}", s.site);
            println!("kind     {}", s.kind);
            println!("client   {}", s.client.as_deref().unwrap_or("- (shared: no client's, ACC-1)"));
            println!("address  {}", s.address);
            println!("added    {}", output::day(&s.created));
            if view.apps.is_empty() {
                println!("apps     none recorded");
            }
            for a in &view.apps {
                println!("app      {} ({})", a.domain, a.kind);
                match view.certs.iter().find(|c| c.domain == a.domain) {
                    Some(c) => println!(
                        "  cert   serial {}, until {} (renewal from {}), obtained {}",
                        c.serial,
                        output::day(&c.not_after),
                        renewal_day(&c.chain),
                        output::day(&c.issued)
                    ),
                    None => println!("  cert   none obtained by gardien (`gardien server app cert {}`)", a.domain),
                }
            }
            match &view.last_check {
                Some((at, report)) => {
                    let findings = report["findings"].as_array().map_or(0, Vec::len);
                    println!("checked  {}: {findings} findings", output::day(at));
                    for f in report["findings"].as_array().into_iter().flatten() {
                        println!(
                            "  ! {}  {}",
                            f["clause"].as_str().unwrap_or("?"),
                            vault::text::escape(f["text"].as_str().unwrap_or(""))
                        );
                    }
                }
                None => println!("checked  never (`gardien server check {}`)", s.name),
            }
            Ok(())
        }
        Cmd::SshdConfig { name, dir, listen, host_key, at } => {
            let at = std::path::absolute(at.as_deref().unwrap_or(dir))?;
            let cas = at.join("user-cas.pub").to_string_lossy().into_owned();
            let principals = at.join("principals").to_string_lossy().into_owned();
            let files = v.server_sshd_config(name, listen, host_key, &cas, &principals, now)?;
            super::access::write_files(dir, &files)
        }
        Cmd::Fail2ban { name, report } => {
            let text = if report.as_os_str() == "-" {
                use std::io::Read as _;
                let mut buf = String::new();
                let limit = access::fail2ban::MAX_BYTES as u64 + 1;
                std::io::stdin()
                    .take(limit)
                    .read_to_string(&mut buf)
                    .map_err(|e| anyhow::anyhow!("reading the report from stdin: {e}"))?;
                buf
            } else {
                output::read_small_text(report)?
            };
            let r = v.server_fail2ban(name, &text, now)?;
            if r.running {
                let jails: Vec<String> = r.jails.iter().map(|j| format!("{} ({})", j.name, j.ports_text())).collect();
                eprintln!(
                    "{name}: fail2ban running, {} jails: {}",
                    r.jails.len(),
                    if jails.is_empty() { "none".into() } else { jails.join(", ") }
                );
            } else {
                eprintln!("{name}: fail2ban NOT running (kept; `gardien server check {name}` reports it)");
            }
            Ok(())
        }
        Cmd::Ports { name, allow } => {
            let ports = access_ports(allow)?;
            let set = v.server_ports_set(name, &ports, now)?;
            let list: Vec<String> = set.iter().map(u16::to_string).collect();
            eprintln!("{name}: ports declared necessary: {}", list.join(", "));
            Ok(())
        }
        Cmd::Check { name, json, ca, ports, workers, timeout_ms } => {
            let mut pems = Vec::new();
            for p in ca {
                pems.push(output::read_small(p)?);
            }
            let opts = vault::CheckOptions {
                ca: pems,
                ports: ports.as_deref().map(access_ports).transpose()?,
                workers: *workers,
                timeout: std::time::Duration::from_millis((*timeout_ms).clamp(10, 60_000)),
            };
            let all = v.server_check(name.as_deref(), &opts, now)?;
            let findings: usize = all.iter().map(|h| h.findings.len()).sum();
            if *json {
                output::json(&all.iter().map(vault::health_json).collect::<Vec<_>>())?;
            } else {
                for h in &all {
                    print_health(h);
                }
            }
            if findings > 0 {
                return Err(super::Exit(
                    crate::exit::INTEGRITY,
                    format!("{findings} findings on {} servers", all.len()),
                )
                .into());
            }
            Ok(())
        }
        Cmd::App(AppCmd::Add { server, kind, domain, https }) => {
            let a = v.server_app_add(server, kind, domain, https.as_deref(), now)?;
            eprintln!("{} ({}) recorded on {}", a.domain, a.kind, a.server);
            Ok(())
        }
        Cmd::App(AppCmd::Cert { domain, acme }) => {
            let (mut order, out) = cert_order(acme)?;
            order.out = out.as_deref();
            let issued = v.app_cert(domain, &order, &|m| eprintln!("{m}"), now)?;
            eprintln!(
                "certificate for {domain}: serial {}, valid until {} (renewal from {})",
                issued.row.serial,
                output::day(&issued.row.not_after),
                renewal_day(&issued.row.chain)
            );
            write_issued(&issued)
        }
        Cmd::App(AppCmd::Renew { acme }) => {
            let (mut order, out) = cert_order(acme)?;
            order.out = out.as_deref();
            let r = v.app_certs_renew(&order, &|m| eprintln!("{m}"), now)?;
            let (mut renewed, mut failed) = (0, 0);
            for (domain, result) in &r.done {
                match result {
                    Ok(issued) => {
                        renewed += 1;
                        eprintln!(
                            "{domain}: renewed, serial {}, valid until {}",
                            issued.row.serial,
                            output::day(&issued.row.not_after)
                        );
                        // A file not written is a failure of this renewal, not of the others;
                        // the next run writes it again (below).
                        if let Err(e) = write_issued(issued) {
                            failed += 1;
                            eprintln!("{domain}: renewed and kept, but its files were NOT written: {e:#}");
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("{domain}: NOT renewed: {e}");
                    }
                }
            }
            // The files of the others are the catalog's certificate, or written again: a
            // renewal whose files failed before is finished here, at the next run.
            for (domain, out, chain) in &r.files {
                let path = std::path::Path::new(out).join(domain).join("fullchain.pem");
                if std::fs::read_to_string(&path).is_ok_and(|on_disk| on_disk == *chain) {
                    continue;
                }
                eprintln!("{domain}: {} is not the kept certificate: written again", output::shown(&path));
                if let Err(e) =
                    v.app_cert_export(domain, now).map_err(anyhow::Error::from).and_then(|i| write_issued(&i))
                {
                    failed += 1;
                    eprintln!("{domain}: its files were NOT written: {e:#}");
                }
            }
            let next = r.next_due.map(|d| format!("; the next is due on {}", d.format("%Y-%m-%d"))).unwrap_or_default();
            eprintln!("{} certificates kept, {} due, {renewed} renewed{next}", r.kept, r.done.len());
            if failed > 0 {
                return Err(super::Exit(crate::exit::FAILED, format!("{failed} renewals or their files failed")).into());
            }
            Ok(())
        }
        Cmd::App(AppCmd::Export { domain, out }) => {
            let issued = v.app_cert_export(domain, now)?;
            write_cert(out, &issued)
        }
    }
}

fn cert_order(a: &AcmeArgs) -> anyhow::Result<(vault::CertOrder<'_>, Option<std::path::PathBuf>)> {
    let responder = match (&a.webroot, a.http_listen) {
        (Some(dir), _) => Some(access::acme::Responder::Webroot(std::path::absolute(dir)?)),
        (None, Some(addr)) => Some(access::acme::Responder::Listen(addr)),
        (None, None) => None,
    };
    // Whether it is a directory is the vault's to check, through the door, before ordering.
    let out = a.out.as_deref().map(std::path::absolute).transpose()?;
    let order = vault::CertOrder {
        directory: a.acme_directory.as_deref(),
        root: a.acme_root.as_deref(),
        email: a.email.as_deref(),
        responder,
        out: None,
        timeout: std::time::Duration::from_secs(a.timeout.clamp(10, 3600)),
    };
    Ok((order, out))
}

/// Writes a certificate obtained where it says its files go.
fn write_issued(issued: &vault::IssuedCert) -> anyhow::Result<()> {
    match &issued.row.out {
        Some(out) => write_cert(std::path::Path::new(out), issued),
        None => {
            eprintln!("no files written (--out DIR writes them; `gardien server app export` does later)");
            Ok(())
        }
    }
}

/// When a kept certificate is due for renewal, by the rule `server app renew` follows.
fn renewal_day(chain: &str) -> String {
    access::acme::renew_from(chain)
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "?".into())
}

/// Writes OUT/DOMAIN/fullchain.pem (0644) and privkey.pem (0600), each whole or not at all.
fn write_cert(out: &std::path::Path, issued: &vault::IssuedCert) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::DirBuilderExt as _;
    if !out.is_dir() {
        anyhow::bail!("--out {}: not a directory", output::shown(out));
    }
    let dir = out.join(&issued.row.domain);
    // The key goes where the operator said, never where a link there points.
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!("{} is a link: the certificate's files are written in --out itself", output::shown(&dir));
    }
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .with_context(|| format!("cannot create {}", output::shown(&dir)))?;
    }
    // The key is its owner's alone, whatever the umask; both replaced together or neither.
    output::replace_files(&dir, &[("privkey.pem", &issued.key_pem, 0o600), ("fullchain.pem", &issued.row.chain, 0o644)])
}

fn access_ports(s: &str) -> anyhow::Result<Vec<u16>> {
    vault::parse_ports(s).map_err(|e| anyhow::anyhow!("--ports/--allow {e}"))
}

fn print_health(h: &vault::Health) {
    let s = &h.server;
    println!(
        "{} ({}{}, {}) {}",
        s.name,
        s.kind,
        s.client.as_deref().map(|c| format!(" for {c}")).unwrap_or_default(),
        s.site,
        s.address
    );
    for (a, t) in &h.apps {
        let state = if t.valid { "valid".to_owned() } else { "NOT VALID".to_owned() };
        let days = t.days_left.map(|d| format!(", {d} days left")).unwrap_or_default();
        let issuer = t.issuer.as_deref().map(|i| format!(", issued by {}", vault::text::escape(i))).unwrap_or_default();
        println!("  WEB-1  {} at {}: {state}{days}{issuer}", a.domain, t.reached);
    }
    if h.apps.is_empty() {
        println!("  WEB-1  no web application recorded");
    }
    let list = |p: &[u16]| {
        if p.is_empty() { "none".to_owned() } else { p.iter().map(u16::to_string).collect::<Vec<_>>().join(", ") }
    };
    println!("  NET-1  answering: {} (declared necessary: {})", list(&h.open), list(&h.declared));
    match &h.fail2ban {
        None => println!("  NET-2  fail2ban: never reported"),
        Some((at, r)) if r.running => {
            let jails: Vec<String> = r.jails.iter().map(|j| format!("{} ({})", j.name, j.ports_text())).collect();
            println!(
                "  NET-2  fail2ban: running, jails {} (reported {})",
                if jails.is_empty() { "none".into() } else { jails.join(", ") },
                output::day(at)
            );
        }
        Some((at, _)) => println!("  NET-2  fail2ban: NOT running (reported {})", output::day(at)),
    }
    if h.findings.is_empty() {
        println!("  no findings");
    }
    for f in &h.findings {
        println!("  ! {}  {}", f.clause, vault::text::escape(&f.text));
    }
}
