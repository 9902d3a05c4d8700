//! Servers (issue 13): the inventory the server clauses are decided on. A server is on an
//! allowed site (LOC-1), shared or one client's (ACC-1, ACC-2; managed: the client's own
//! infrastructure, ACC-4), and hosts web applications by domain, never another application
//! than Moodle on a shared one (WEB-2). Access itself (the catalog of maneuvers, the
//! bastion's certificates) is built on this.

use chrono::{DateTime, Utc};

use crate::catalog::{AppRow, ServerRow};
use crate::event::Action;
use crate::{Error, Vault, check_name, rfc3339};

/// The kinds of server.
pub const SERVER_KINDS: [&str; 3] = ["shared", "dedicated", "managed"];

/// The kinds of web application.
pub const APP_KINDS: [&str; 2] = ["moodle", "other"];

/// What `server add` is given.
#[derive(Debug)]
pub struct NewServer<'a> {
    /// Its name.
    pub name: &'a str,
    /// Where it is (LOC-1).
    pub site: &'a str,
    /// One of `SERVER_KINDS`.
    pub kind: &'a str,
    /// The client a dedicated or managed server belongs to.
    pub client: Option<&'a str>,
    /// `HOST[:PORT]` of its SSH service (port 22 when none).
    pub address: &'a str,
}

/// A server and the web applications it hosts.
#[derive(Debug, Clone)]
pub struct ServerView {
    /// The server.
    pub server: ServerRow,
    /// Its web applications, by domain.
    pub apps: Vec<AppRow>,
    /// Its last hygiene check: when, and the report `health_json` makes.
    pub last_check: Option<(String, serde_json::Value)>,
    /// The certificates kept for its applications (WEB-1), without their keys.
    pub certs: Vec<crate::catalog::AppCertRow>,
}

/// A DNS name as a certificate and a browser take it: labels of lowercase letters, digits
/// and inner dashes, two at least, 253 bytes at most, a letter in the last.
pub fn check_domain(what: &str, d: &str) -> Result<(), Error> {
    if is_domain(d) {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "{what} {}: not a domain name (lowercase letters, digits and inner dashes, in two labels at least: moodle.lycee-hugo.fr)",
            crate::quote_input(d)
        )))
    }
}

fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels.last().is_some_and(|t| t.bytes().any(|b| b.is_ascii_lowercase()))
}

/// `HOST[:PORT]`: a domain name, an IPv4 address or a bracketed IPv6 one (not unspecified,
/// broadcast, multicast or IPv4-mapped: no server answers there), and a port of plain
/// digits from 1 to 65535 (22 when none). Returned normalised, with the port.
pub fn check_address(a: &str) -> Result<String, Error> {
    let bad = || {
        Error::BadInput(format!(
            "--address {}: give HOST[:PORT], a domain name or an IP address (IPv6 in brackets), and the SSH port (1-65535, digits only) if not 22",
            crate::quote_input(a)
        ))
    };
    let (host, port) = match a.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']').ok_or_else(bad)?;
            (format!("[{inner}]"), after)
        }
        None => match a.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), &a[h.len()..][..p.len() + 1]),
            None => (a.to_owned(), ""),
        },
    };
    let port: u16 = match port.strip_prefix(':') {
        None if port.is_empty() => 22,
        Some(p) if !p.is_empty() && !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    let host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr = inner.parse().map_err(|_| bad())?;
        if ip.is_unspecified() || ip.is_multicast() || ip.to_ipv4_mapped().is_some() {
            return Err(bad());
        }
        format!("[{ip}]")
    } else if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Err(bad());
        }
        ip.to_string()
    } else if is_domain(&host) {
        host
    } else {
        return Err(bad());
    };
    Ok(format!("{host}:{port}"))
}

impl Vault {
    /// `server add`: a server of the inventory.
    pub fn server_add(&self, s: &NewServer<'_>, now: DateTime<Utc>) -> Result<ServerRow, Error> {
        let mut resources = vec![format!("server:{}", s.name)];
        resources.extend(s.client.map(|c| format!("client:{c}")));
        let details = format!("site={} kind={}", crate::text::escape(s.site), crate::text::escape(s.kind));
        self.door(Action::ServerAdd, resources, details, now, |rec| {
            check_name("server", s.name)?;
            if !SERVER_KINDS.contains(&s.kind) {
                return Err(Error::BadInput(format!(
                    "--kind {}: a server is shared, dedicated (to one client, ACC-2) or managed (the client's own infrastructure, ACC-4)",
                    crate::quote_input(s.kind)
                )));
            }
            match (s.kind, s.client) {
                ("shared", Some(c)) => {
                    return Err(Error::BadInput(format!(
                        "--client {c}: a shared server is no one client's (ACC-1); a server for {c} alone is dedicated or managed"
                    )));
                }
                ("dedicated" | "managed", None) => {
                    return Err(Error::BadInput(format!(
                        "a {} server belongs to one client: give --client SLUG (ACC-2)",
                        s.kind
                    )));
                }
                (_, Some(c)) if !self.catalog.has_client(c)? => return Err(Error::UnknownClient(c.to_owned())),
                _ => {}
            }
            let address = check_address(s.address)?;
            // LOC-1: only the sites the operator's configuration allows (Roubaix, Strasbourg);
            // checked last, so that bad input is said as such (exit 1) and a refusal is one.
            self.config.check_site(s.site)?;
            let row = ServerRow {
                name: s.name.to_owned(),
                site: s.site.to_owned(),
                kind: s.kind.to_owned(),
                client: s.client.map(str::to_owned),
                address,
                created: rfc3339(now),
            };
            rec.details = format!("site={} kind={} address={}", row.site, row.kind, row.address);
            self.record(rec, crate::Outcome::Allowed, |c| {
                if c.add_server(&row)? {
                    Ok(())
                } else {
                    Err(Error::BadInput(format!("server {} exists already (`gardien server show {}`)", s.name, s.name)))
                }
            })?;
            Ok(row)
        })
    }

    /// `server list`: every server, or a client's (its dedicated and managed servers).
    pub fn servers(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<ServerRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::ServerList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let rows = self.catalog.servers(client)?;
            // Only what `server show` would show this person.
            self.visible(rows, Action::ServerShow, |s| format!("server:{}", s.name), now)
        })
    }

    /// `server show`: a server and its web applications.
    pub fn server(&self, name: &str, now: DateTime<Utc>) -> Result<ServerView, Error> {
        self.door(Action::ServerShow, vec![format!("server:{name}")], String::new(), now, |rec| {
            let server = self.server_row(name)?;
            // In its client's log too (`ledger list --client`).
            if let Some(c) = &server.client {
                rec.resources.push(format!("client:{c}"));
            }
            let apps = self.catalog.apps(name)?;
            let last_check = self
                .catalog
                .last_check(name)?
                .map(|(at, report)| (at, serde_json::from_str(&report).unwrap_or(serde_json::Value::Null)));
            let certs = self.app_certs(name)?;
            Ok(ServerView { server, apps, last_check, certs })
        })
    }

    /// `server app add`: a web application a server hosts, by domain; another application
    /// than Moodle is refused on a shared server (WEB-2).
    pub fn server_app_add(
        &self,
        server: &str,
        kind: &str,
        domain: &str,
        https: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AppRow, Error> {
        let details = format!("kind={kind} domain={}", crate::text::escape(domain));
        self.door(Action::ServerAppAdd, vec![format!("server:{server}")], details, now, |rec| {
            let s = self.server_row(server)?;
            if !APP_KINDS.contains(&kind) {
                return Err(Error::BadInput(format!(
                    "--kind {}: an application is moodle or other",
                    crate::quote_input(kind)
                )));
            }
            check_domain("--domain", domain)?;
            let https = https
                .map(|a| {
                    check_address(a).map_err(|_| {
                        Error::BadInput(format!(
                            "--https {}: HOST:PORT where its HTTPS answers (its domain's port 443 when not given)",
                            crate::quote_input(a)
                        ))
                    })
                })
                .transpose()?;
            if kind != "moodle" && s.kind == "shared" {
                return Err(Error::Refused {
                    clauses: vec!["WEB-2".into()],
                    reason: format!(
                        "{server} is a shared server: web applications other than Moodle are hosted on dedicated servers only (WEB-2)"
                    ),
                });
            }
            if let Some(c) = &s.client {
                rec.resources.push(format!("client:{c}"));
            }
            let row = AppRow {
                domain: domain.to_owned(),
                server: server.to_owned(),
                kind: kind.to_owned(),
                created: rfc3339(now),
                https,
            };
            self.record(rec, crate::Outcome::Allowed, |c| {
                if c.add_app(&row)? {
                    Ok(())
                } else {
                    Err(Error::BadInput(format!("{domain} is already an application of a server (`gardien server show`)")))
                }
            })?;
            Ok(row)
        })
    }

    /// `server fail2ban`: what fail2ban watches on a server, as the server reports it
    /// (`contrib/fail2ban/gardien-fail2ban-report`), kept for `server check` (NET-2).
    pub fn server_fail2ban(
        &self,
        server: &str,
        report: &str,
        now: DateTime<Utc>,
    ) -> Result<access::fail2ban::Report, Error> {
        self.door(Action::ServerFail2ban, vec![format!("server:{server}")], String::new(), now, |rec| {
            let s = self.server_row(server)?;
            if let Some(c) = &s.client {
                rec.resources.push(format!("client:{c}"));
            }
            let r =
                access::fail2ban::parse(report).map_err(|e| Error::BadInput(crate::text::escape(&e.to_string())))?;
            rec.details = format!("running={} jails={}", r.running, r.jails.len());
            let at = rfc3339(now);
            self.record(rec, crate::Outcome::Allowed, |c| c.save_fail2ban(server, &at, &self.actor, &r.to_text()))?;
            Ok(r)
        })
    }

    /// `server ports`: the TCP ports a server needs open to the internet (NET-1); what else
    /// answers, `server check` reports.
    pub fn server_ports_set(&self, server: &str, ports: &[u16], now: DateTime<Utc>) -> Result<Vec<u16>, Error> {
        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
        let details = format!("ports={}", list.join(","));
        self.door(Action::ServerPorts, vec![format!("server:{server}")], details, now, |rec| {
            let s = self.server_row(server)?;
            if let Some(c) = &s.client {
                rec.resources.push(format!("client:{c}"));
            }
            if ports.len() > 64 {
                return Err(Error::BadInput(
                    "more than 64 ports declared necessary: NET-1 asks for as few as possible".into(),
                ));
            }
            self.record(rec, crate::Outcome::Allowed, |c| c.set_server_ports(server, ports))?;
            Ok(ports.to_vec())
        })
    }

    /// `server check`: each server's hygiene from the outside (WEB-1 certificates, WEB-2
    /// applications, NET-1 ports), the named one or every one the actor may see.
    pub fn server_check(
        &self,
        name: Option<&str>,
        opts: &CheckOptions,
        now: DateTime<Utc>,
    ) -> Result<Vec<Health>, Error> {
        let resources = name.map(|n| vec![format!("server:{n}")]).unwrap_or_default();
        self.door(Action::ServerCheck, resources, String::new(), now, |rec| {
            let servers = match name {
                Some(n) => {
                    let s = self.server_row(n)?;
                    if let Some(c) = &s.client {
                        rec.resources.push(format!("client:{c}"));
                    }
                    vec![s]
                }
                None => self.catalog.servers(None)?,
            };
            let roots =
                std::sync::Arc::new(access::hygiene::roots(&opts.ca).map_err(|e| Error::BadInput(e.to_string()))?);
            let mut out = Vec::new();
            for s in servers {
                let apps = self.catalog.apps(&s.name)?;
                let declared = self.catalog.server_ports(&s.name)?;
                // What was kept was read when it came: a report that no longer reads is the
                // catalog's inconsistency, not the server's finding.
                let fail2ban = match self.catalog.fail2ban(&s.name)? {
                    Some((at, text)) => Some((
                        at,
                        access::fail2ban::parse(&text)
                            .map_err(|e| Error::Corrupt(format!("the fail2ban report of {}: {e}", s.name)))?,
                    )),
                    None => None,
                };
                out.push(health(s, apps, declared, fail2ban, &roots, opts, now)?);
            }
            let findings: usize = out.iter().map(|h| h.findings.len()).sum();
            rec.details = format!("servers={} findings={findings}", out.len());
            // Each server's report is kept with the event, for `server show` and the portal:
            // the operator's checks only (a client's contact checks its own server with the
            // options it likes; what it finds is its answer, not the server's record).
            let ops = self.catalog.person(&self.actor)?.is_some_and(|p| p.role == "ops");
            if ops {
                let at = rfc3339(now);
                self.record(rec, crate::Outcome::Allowed, |c| {
                    for h in &out {
                        let mut report = health_json(h);
                        report["by"] = self.actor.clone().into();
                        c.save_check(&h.server.name, &at, &report.to_string())?;
                    }
                    Ok(())
                })?;
            }
            Ok(out)
        })
    }

    fn server_row(&self, name: &str) -> Result<ServerRow, Error> {
        self.catalog.server(name)?.ok_or_else(|| Error::Unknown { what: "server", name: name.to_owned() })
    }
}

/// How `server check` looks.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// PEM files of roots trusted beside the system's (a private CA, a test one).
    pub ca: Vec<Vec<u8>>,
    /// The ports scanned (default: 1-1024 and services often left open, and the declared ones).
    pub ports: Option<Vec<u16>>,
    /// Connections at once.
    pub workers: usize,
    /// Each attempt's limit.
    pub timeout: std::time::Duration,
}

/// One finding, with the clause it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `WEB-1`, `WEB-2`, `NET-1`, `NET-2`.
    pub clause: &'static str,
    /// What kind of finding (one of `FINDING_CODES`): what a portal in another language says.
    pub code: String,
    /// What it is about: a domain, `port N`, or nothing (the server).
    pub subject: String,
    /// A number the finding's words hold (days), or nothing.
    pub arg: String,
    /// What was found, for a person (English, with the operator's next command).
    pub text: String,
}

impl Finding {
    fn new(clause: &'static str, code: &str, subject: String, arg: String, text: String) -> Finding {
        Finding { clause, code: code.to_owned(), subject, arg, text }
    }
}

/// Every code a finding may have: `web1-` and a certificate problem's code
/// (`access::hygiene::PROBLEM_CODES`), or one of these.
pub const FINDING_CODES: [&str; 7] =
    ["web2-app", "net1-unchecked", "net1-port", "net2-none", "net2-old", "net2-stopped", "net2-port"];

/// A server's hygiene.
#[derive(Debug, Clone)]
pub struct Health {
    /// The server.
    pub server: ServerRow,
    /// Each application and its certificate.
    pub apps: Vec<(AppRow, access::hygiene::Tls)>,
    /// The ports declared necessary.
    pub declared: Vec<u16>,
    /// The ports that answered.
    pub open: Vec<u16>,
    /// What is wrong.
    pub findings: Vec<Finding>,
    /// The ports looked at, said.
    pub scope: String,
    /// fail2ban as the server last reported it (NET-2): when, and the report.
    pub fail2ban: Option<(String, access::fail2ban::Report)>,
    /// Roots trusted beside the system's (`--ca`).
    pub extra_roots: usize,
}

fn health(
    s: ServerRow,
    apps: Vec<AppRow>,
    declared: Vec<u16>,
    fail2ban: Option<(String, access::fail2ban::Report)>,
    roots: &std::sync::Arc<access::hygiene::RootStore>,
    opts: &CheckOptions,
    now: DateTime<Utc>,
) -> Result<Health, Error> {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for a in apps {
        if a.kind != "moodle" && s.kind == "shared" {
            findings.push(Finding::new(
                "WEB-2",
                "web2-app",
                a.domain.clone(),
                String::new(),
                format!("{} is another application than Moodle on a shared server", a.domain),
            ));
        }
        let at = a.https.clone().unwrap_or_else(|| format!("{}:443", a.domain));
        // The domain's own address is its owner's DNS to decide: only a public one is
        // connected to (an address the operator gave, `--https`, is taken as is).
        let mut tls = access::hygiene::check_tls(&a.domain, &at, roots.clone(), opts.timeout, a.https.is_none());
        // What a remote certificate says is the remote's: escaped before anyone reads it.
        tls.issuer = tls.issuer.as_deref().map(crate::text::escape);
        tls.problems = tls.problems.iter().map(|p| crate::text::escape(p)).collect();
        for (p, code) in tls.problems.iter().zip(&tls.codes) {
            let arg = if *code == "expires-soon" {
                tls.days_left.map(|d| d.to_string()).unwrap_or_default()
            } else {
                String::new()
            };
            findings.push(Finding::new(
                "WEB-1",
                &format!("web1-{code}"),
                a.domain.clone(),
                arg,
                format!("{}: {p}", a.domain),
            ));
        }
        checked.push((a, tls));
    }
    let host = s.address.rsplit_once(':').map_or(s.address.as_str(), |(h, _)| h);
    let mut ports = opts.ports.clone().unwrap_or_else(access::hygiene::default_ports);
    ports.extend(&declared);
    ports.sort_unstable();
    ports.dedup();
    // A server whose address does not resolve is a finding, not the end of every check.
    let open = match access::hygiene::open_ports(host, &ports, opts.workers, opts.timeout) {
        Ok(open) => open,
        Err(e) => {
            findings.push(Finding::new(
                "NET-1",
                "net1-unchecked",
                String::new(),
                String::new(),
                format!("its ports could not be checked: {e}"),
            ));
            Vec::new()
        }
    };
    for p in &open {
        if !declared.contains(p) {
            findings.push(Finding::new(
                "NET-1",
                "net1-port",
                format!("port {p}"),
                String::new(),
                format!(
                    "port {p} answers and is not declared necessary (`gardien server ports {} --allow ...`)",
                    s.name
                ),
            ));
        }
    }
    findings.extend(fail2ban_findings(&s.name, fail2ban.as_ref(), &open, now));
    let scope = match &opts.ports {
        None => "1-1024, services often left open, the declared ports".to_owned(),
        Some(p) => format!("{} ports given", p.len()),
    };
    Ok(Health { server: s, apps: checked, declared, open, findings, scope, extra_roots: opts.ca.len(), fail2ban })
}

/// A fail2ban report older than this is a finding: the server's word must be recent.
pub const FAIL2BAN_REPORT_DAYS: i64 = 7;

/// NET-2: fail2ban running on the server, a jail for each port that answers, as its last
/// report (at most `FAIL2BAN_REPORT_DAYS` old) says.
fn fail2ban_findings(
    server: &str,
    report: Option<&(String, access::fail2ban::Report)>,
    open: &[u16],
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let finding =
        |code: &str, subject: String, arg: String, text: String| Finding::new("NET-2", code, subject, arg, text);
    let Some((at, r)) = report else {
        return vec![finding(
            "net2-none",
            String::new(),
            String::new(),
            format!(
                "no fail2ban report: run contrib/fail2ban/gardien-fail2ban-report on the server and give its output to `gardien server fail2ban {server} --report -`"
            ),
        )];
    };
    let mut out = Vec::new();
    let age = DateTime::parse_from_rfc3339(at).map(|t| now - t.with_timezone(&Utc)).unwrap_or(chrono::TimeDelta::MAX);
    if age > chrono::Duration::days(FAIL2BAN_REPORT_DAYS) {
        let age = age.num_days();
        out.push(finding("net2-old", String::new(), age.to_string(), format!(
            "the last fail2ban report is {age} days old (one a week at least: `gardien server fail2ban {server} --report -`)"
        )));
    }
    if !r.running {
        out.push(finding("net2-stopped", String::new(), String::new(), "fail2ban is not running".into()));
        return out;
    }
    for p in open {
        if r.watching(*p).is_empty() {
            out.push(finding(
                "net2-port",
                format!("port {p}"),
                String::new(),
                format!("port {p} answers and no fail2ban jail bans on it"),
            ));
        }
    }
    out
}

/// A check's report, as `server check --json` prints it and the portal reads it.
pub fn health_json(h: &Health) -> serde_json::Value {
    serde_json::json!({
        "server": h.server.name, "site": h.server.site, "kind": h.server.kind, "client": h.server.client,
        "address": h.server.address,
        "apps": h.apps.iter().map(|(a, t)| serde_json::json!({
            "domain": a.domain, "kind": a.kind, "reached": t.reached, "valid": t.valid, "days_left": t.days_left,
            "issuer": t.issuer, "problems": t.problems,
        })).collect::<Vec<_>>(),
        "declared_ports": h.declared, "open_ports": h.open,
        "findings": h.findings.iter().map(|f| serde_json::json!({
            "clause": f.clause, "code": f.code, "subject": f.subject, "arg": f.arg, "text": f.text,
        })).collect::<Vec<_>>(),
        "ports_scanned": h.scope, "extra_roots": h.extra_roots,
        "fail2ban": h.fail2ban.as_ref().map(|(at, r)| serde_json::json!({
            "reported": at, "running": r.running,
            "jails": r.jails.iter().map(|j| serde_json::json!({"name": j.name, "ports": j.ports_text()})).collect::<Vec<_>>(),
        })),
    })
}

/// What `server app cert` and `server app renew` ask of a CA (WEB-1).
///
/// What is not given is the certificate's own, as it was last obtained (a renewal does what
/// the first order did), or else the default: Let's Encrypt, no files written.
pub struct CertOrder<'a> {
    /// The ACME directory.
    pub directory: Option<&'a str>,
    /// A PEM root to trust for the directory's own HTTPS (a test or private CA).
    pub root: Option<&'a std::path::Path>,
    /// A contact for a new account.
    pub email: Option<&'a str>,
    /// Where the CA's HTTP-01 request is answered.
    pub responder: Option<access::acme::Responder>,
    /// The directory the files are written into (absolute), by the command.
    pub out: Option<&'a std::path::Path>,
    /// The whole order's limit.
    pub timeout: std::time::Duration,
}

/// A certificate obtained: what the catalog keeps, and its key for the web server.
pub struct IssuedCert {
    /// The kept row (its key wrapped).
    pub row: crate::catalog::AppCertRow,
    /// The private key, PEM, to install beside the chain.
    pub key_pem: zeroize::Zeroizing<String>,
}

/// What `server app renew` did.
pub struct Renewals {
    /// The certificates kept.
    pub kept: usize,
    /// Each one due, and what its renewal gave.
    pub done: Vec<(String, Result<IssuedCert, Error>)>,
    /// When the next one not yet due will be.
    pub next_due: Option<DateTime<Utc>>,
    /// The others whose files are written somewhere: domain, directory, the chain kept (for
    /// the command to write them again when they are not what the catalog keeps).
    pub files: Vec<(String, String, String)>,
}

impl Vault {
    /// `server app cert DOMAIN`: a certificate for one application over ACME HTTP-01, kept in
    /// the catalog (its key wrapped to the master key), in place of the one before.
    pub fn app_cert(
        &self,
        domain: &str,
        order: &CertOrder<'_>,
        progress: &(dyn Fn(&str) + Sync),
        now: DateTime<Utc>,
    ) -> Result<IssuedCert, Error> {
        // The operator's alone: asked of the vault, so that a domain unknown and one of
        // another's server answer alike; the server and its client join the event after.
        let details = format!("domain={}", crate::text::escape(domain));
        self.door(Action::ServerAppCert, vec![], details, now, |rec| {
            let app = self.app_of(domain, rec)?;
            let before = self.catalog.app_certs(Some(&app.domain))?.into_iter().next();
            let directory = order
                .directory
                .or(before.as_ref().map(|b| b.directory.as_str()))
                .unwrap_or(access::acme::LETS_ENCRYPT)
                .to_owned();
            let directory = directory.as_str();
            let responder = match (&order.responder, &before) {
                (Some(r), _) => r.clone(),
                (None, Some(b)) => access::acme::Responder::from_text(&b.responder).ok_or_else(|| {
                    Error::Corrupt(format!("the certificate of {domain}: its responder does not read"))
                })?,
                (None, None) => {
                    return Err(Error::BadInput(
                        "--webroot DIR or --http-listen ADDR:PORT: where the CA's HTTP-01 request is answered".into(),
                    ));
                }
            };
            if let access::acme::Responder::Webroot(d) = &responder
                && d.to_str().is_none()
            {
                return Err(Error::BadInput(format!(
                    "--webroot {}: a path in UTF-8",
                    crate::quote_input(&d.to_string_lossy())
                )));
            }
            let responder_text = responder.to_text();
            crate::text::check("the webroot", &responder_text, false)?;
            let path_text = |what: &'static str, p: &std::path::Path| -> Result<String, Error> {
                let t = p.to_str().filter(|t| t.starts_with('/')).ok_or_else(|| {
                    Error::BadInput(format!(
                        "{what} {}: an absolute path in UTF-8",
                        crate::quote_input(&p.to_string_lossy())
                    ))
                })?;
                crate::text::check(what, t, false)?;
                Ok(t.to_owned())
            };
            let out = match order.out {
                Some(o) => Some(path_text("--out", o)?),
                None => before.as_ref().and_then(|b| b.out.clone()),
            };
            // Where the files go must be there before anything is asked of the CA.
            if let Some(o) = &out
                && !std::path::Path::new(o).is_dir()
            {
                return Err(Error::BadInput(format!(
                    "--out {}: not a directory (the certificate's files go there)",
                    crate::quote_input(o)
                )));
            }
            let root = match order.root {
                Some(r) => Some(path_text(
                    "--acme-root",
                    &std::path::absolute(r).map_err(|e| Error::BadInput(format!("--acme-root: {e}")))?,
                )?),
                None => before.as_ref().and_then(|b| b.root.clone()),
            };
            let ca =
                access::acme::Ca { directory, root: root.as_deref().map(std::path::Path::new), email: order.email };
            let master = self.master_key()?;
            let acme = |e: access::acme::AcmeError| match e {
                access::acme::AcmeError::Bad(m) => Error::BadInput(m),
                other => Error::Acme(crate::text::escape(&other.to_string())),
            };
            let recipient = master.recipient();
            // A new account is kept as soon as it is made, before its first order: one that
            // fails after does not leave an account at the CA that gardien forgot.
            let kept = match self.catalog.acme_account(directory)? {
                Some(w) => Some(crate::keys::unwrap_secret(&master, "the ACME account", &w)?),
                None => None,
            };
            let mut keep = |json: &str| -> Result<(), String> {
                let wrapped = crate::keys::wrap_secret(&recipient, json.as_bytes()).map_err(|e| e.to_string())?;
                self.catalog
                    .write(|c| {
                        c.add_acme_account(directory, &wrapped, &rfc3339(now))?;
                        Ok(())
                    })
                    .map_err(|e| e.to_string())
            };
            let account = match &kept {
                Some(k) => access::acme::AccountSource::Kept(
                    std::str::from_utf8(k).map_err(|_| Error::Corrupt("the ACME account is not text".into()))?,
                ),
                None => access::acme::AccountSource::New(&mut keep),
            };
            let issued =
                access::acme::obtain(&ca, account, &app.domain, &responder, order.timeout, progress).map_err(acme)?;
            let not_after = DateTime::<Utc>::from_timestamp(issued.not_after, 0)
                .ok_or_else(|| Error::Acme("the certificate's end is out of range".into()))?;
            let row = crate::catalog::AppCertRow {
                domain: domain.to_owned(),
                directory: directory.to_owned(),
                chain: issued.chain_pem,
                key: crate::keys::wrap_secret(&recipient, issued.key_pem.as_bytes())?,
                serial: issued.serial,
                not_after: rfc3339(not_after),
                issued: rfc3339(now),
                responder: responder_text,
                out,
                root,
            };
            rec.details = format!("{} serial={} not_after={}", rec.details, row.serial, row.not_after);
            self.record(rec, crate::Outcome::Allowed, |c| c.save_app_cert(&row))?;
            Ok(IssuedCert { row, key_pem: issued.key_pem })
        })
    }

    /// `server app renew`: every kept certificate that ends within `RENEW_DAYS` obtained
    /// anew, each through the door on its own; one failing does not stop the others.
    pub fn app_certs_renew(
        &self,
        order: &CertOrder<'_>,
        progress: &(dyn Fn(&str) + Sync),
        now: DateTime<Utc>,
    ) -> Result<Renewals, Error> {
        let (kept, due, next_due, files) = self.door(Action::ServerAppCert, vec![], "renew".into(), now, |rec| {
            let all = self.catalog.app_certs(None)?;
            let mut due = Vec::new();
            let mut files = Vec::new();
            let mut next: Option<DateTime<Utc>> = None;
            for c in &all {
                let from = access::acme::renew_from(&c.chain)
                    .map(DateTime::<Utc>::from)
                    .ok_or_else(|| Error::Corrupt(format!("the certificate of {} does not read", c.domain)))?;
                if from <= now {
                    due.push(c.domain.clone());
                } else {
                    next = Some(next.map_or(from, |n| n.min(from)));
                    if let Some(out) = &c.out {
                        files.push((c.domain.clone(), out.clone(), c.chain.clone()));
                    }
                }
            }
            rec.details = format!("renew kept={} due={}", all.len(), due.len());
            self.record(rec, crate::Outcome::Allowed, |_| Ok(()))?;
            Ok((all.len(), due, next, files))
        })?;
        let done = due.into_iter().map(|d| (d.clone(), self.app_cert(&d, order, progress, now))).collect();
        Ok(Renewals { kept, done, next_due, files })
    }

    /// The kept certificate of an application, with its key (for `server app cert --export`).
    pub fn app_cert_export(&self, domain: &str, now: DateTime<Utc>) -> Result<IssuedCert, Error> {
        let details = format!("export domain={}", crate::text::escape(domain));
        self.door(Action::ServerAppCert, vec![], details, now, |rec| {
            let app = self.app_of(domain, rec)?;
            let row = self.catalog.app_certs(Some(&app.domain))?.into_iter().next().ok_or_else(|| {
                Error::BadInput(format!(
                    "no certificate is kept for {domain}: `gardien server app cert {domain}` obtains one"
                ))
            })?;
            let master = self.master_key()?;
            let plain = crate::keys::unwrap_secret(&master, "the certificate key", &row.key)?;
            let key_pem = zeroize::Zeroizing::new(
                String::from_utf8(plain.to_vec())
                    .map_err(|_| Error::Corrupt("a certificate key is not text".into()))?,
            );
            self.record(rec, crate::Outcome::Allowed, |_| Ok(()))?;
            Ok(IssuedCert { row, key_pem })
        })
    }

    /// An application by its domain, its server and client joined to the event.
    fn app_of(&self, domain: &str, rec: &mut crate::door::Record) -> Result<AppRow, Error> {
        check_domain("the domain", domain)?;
        let app =
            self.catalog.app(domain)?.ok_or_else(|| Error::Unknown { what: "application", name: domain.to_owned() })?;
        rec.resources.push(format!("server:{}", app.server));
        if let Some(c) = self.server_row(&app.server)?.client {
            rec.resources.push(format!("client:{c}"));
        }
        Ok(app)
    }

    /// The kept certificates of a server's applications, without their keys (`server show`).
    fn app_certs(&self, server: &str) -> Result<Vec<crate::catalog::AppCertRow>, Error> {
        let mut out = Vec::new();
        for a in self.catalog.apps(server)? {
            out.extend(self.catalog.app_certs(Some(&a.domain))?.into_iter().map(|mut c| {
                c.key = String::new();
                c
            }));
        }
        Ok(out)
    }
}
