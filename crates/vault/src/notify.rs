//! Notifications (issue 15, first part): the outbox's rows (written with the events that
//! cause them, see `catalog/outbox.rs`) delivered by e-mail through the operator's SMTP
//! relay (`lettre`), in each person's language, with ids, kinds, dates, sizes and a link to
//! the portal, never client data. A relay that is down delays mail, never the operation:
//! a failed attempt is tried again later (after 2, 4, 8... minutes, at most 6 hours apart;
//! given up after `MAX_ATTEMPTS`).

use chrono::{DateTime, Duration, Utc};
use lettre::Transport as _;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};

use crate::catalog::OutboxRow;
use crate::event::{Action, Outcome};
use crate::{Error, Vault, rfc3339};

/// Delivery attempts before a notification is given up (`failed`).
pub const MAX_ATTEMPTS: i64 = 10;

/// How the relay is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `host:port`.
    pub smtp: String,
    /// `none` (loopback only), `tls` (implicit TLS) or `starttls`.
    pub tls: String,
    /// The sender's address.
    pub from: String,
    /// The portal's address, for the links (`https://gardien.example`).
    pub portal: String,
}

/// What a flush did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// Sent now.
    pub sent: usize,
    /// Tried, to be tried again.
    pub retried: usize,
    /// Given up now.
    pub failed: usize,
    /// Not sent: the person has no address.
    pub skipped: usize,
    /// Reminders written now (time made them due).
    pub reminders: usize,
}

const KEYS: [&str; 4] = ["notify.smtp", "notify.tls", "notify.from", "notify.portal"];

fn host_port(smtp: &str) -> Result<(String, u16), Error> {
    let bad = || Error::BadInput(format!("--smtp {}: write HOST:PORT (relay.example:587)", crate::quote_input(smtp)));
    let (host, port) = smtp.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)) {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Vault {
    /// `notify config`: the relay, its TLS, the sender, the portal's address. Plain SMTP
    /// only to a loopback relay (NET-1: nothing in clear on the network). Credentials are
    /// never stored: `GARDIEN_SMTP_USER` and `GARDIEN_SMTP_PASSWORD` (or a file named by
    /// `GARDIEN_SMTP_CREDENTIALS`, user then password on two lines) when sending.
    pub fn notify_config(&self, cfg: &NotifyConfig, now: DateTime<Utc>) -> Result<(), Error> {
        let details = format!("smtp={} tls={} from={} portal={}", cfg.smtp, cfg.tls, cfg.from, cfg.portal);
        self.door(Action::NotifyConfig, vec![], details, now, |rec| {
            let (host, _) = host_port(&cfg.smtp)?;
            match cfg.tls.as_str() {
                "tls" | "starttls" => {}
                "none" if is_loopback(&host) => {}
                "none" => {
                    return Err(Error::BadInput(format!(
                        "plain SMTP goes only to a relay on this machine (127.0.0.1, ::1, localhost), not {host} (NET-1): give --tls or --starttls"
                    )));
                }
                other => return Err(Error::BadInput(format!("--tls {other}: none, tls or starttls"))),
            }
            crate::check_email(&cfg.from)?;
            crate::webhooks::check_url(&cfg.portal)
                .map_err(|e| Error::BadInput(format!("--portal: {e} (the portal's https:// address)")))?;
            let values = [cfg.smtp.as_str(), cfg.tls.as_str(), cfg.from.as_str(), cfg.portal.trim_end_matches('/')];
            self.record(rec, Outcome::Allowed, |c| {
                for (k, v) in KEYS.iter().zip(values) {
                    c.meta_set(k, v)?;
                }
                Ok(())
            })
        })
    }

    fn notify_settings(&self) -> Result<Option<NotifyConfig>, Error> {
        let mut v = Vec::new();
        for k in KEYS {
            match self.catalog.meta(k)? {
                Some(x) => v.push(x),
                None => return Ok(None),
            }
        }
        Ok(Some(NotifyConfig { smtp: v[0].clone(), tls: v[1].clone(), from: v[2].clone(), portal: v[3].clone() }))
    }

    /// Whether something can be delivered (a relay or a webhook is set) and is due: the
    /// server's timer asks this before flushing, so that an idle server writes no event
    /// every 30 seconds. Not an operation of its own (it reads counts, nobody's data); the
    /// flush is.
    pub fn notify_due(&self, now: DateTime<Utc>) -> Result<bool, Error> {
        let mail = self.notify_settings()?.is_some();
        if !mail && !self.catalog.has_webhooks()? {
            return Ok(false);
        }
        Ok(!self.catalog.outbox_due(&rfc3339(now), 1, mail)?.is_empty() || self.reminders(now, true)? > 0)
    }

    /// The notifications time made due (`dry`: counted, not written): the catalog's
    /// reminders, destruction notices, copies awaiting their attestation past their date.
    fn reminders(&self, now: DateTime<Utc>, dry: bool) -> Result<usize, Error> {
        let (at, ago, soon) = (rfc3339(now), rfc3339(now - Duration::days(3)), rfc3339(now + Duration::hours(24)));
        let n = if dry {
            self.catalog.schedule_reminders(&at, &ago, &soon, true)?
        } else {
            self.catalog.write(|c| c.schedule_reminders(&at, &ago, &soon, false))?
        };
        Ok(n + self.destruction_notices(now, dry)? + self.attestations_overdue(now, dry)?)
    }

    /// Notices before a destruction (SecNumCloud 19.4.a: 21 days, so the client can take
    /// its data back; then 7 days and the day before; PRE-6, OPS-3, ARC-1), to the client's
    /// admins and ops. Each threshold once per dataset; a date nearer than a threshold
    /// when first seen gets the nearest one only. A hold stops the clock, and the notice.
    fn destruction_notices(&self, now: DateTime<Utc>, dry: bool) -> Result<usize, Error> {
        let (items, _) = self.due(now + Duration::days(21))?;
        let mut todo = Vec::new();
        for item in items {
            let left = item.due.at - now;
            if item.dataset.destruction.is_some() || left <= Duration::zero() {
                continue;
            }
            let days = if left <= Duration::days(1) {
                1
            } else if left <= Duration::days(7) {
                7
            } else {
                21
            };
            if !self.catalog.notice_written(&item.dataset.id, days)? {
                // Whole days left, rounded up.
                let left = (left.num_seconds() + 86_399) / 86_400;
                todo.push((item, days, left));
            }
        }
        if dry || todo.is_empty() {
            return Ok(todo.len());
        }
        let at = rfc3339(now);
        self.catalog.write(|c| {
            for (item, days, left) in &todo {
                let ds = &item.dataset;
                let due = rfc3339(item.due.at);
                c.add_notice(&ds.id, *days, &due, &at)?;
                let facts = format!(
                    "notice={days}\ndays={left}\ndataset={}\nclass={}\ndue={due}\nclause={}",
                    ds.id,
                    ds.class.as_str(),
                    item.due.clause
                );
                let to = c.admins_and_ops(&ds.client)?;
                c.notify("destruction-notice", &to, Some(&ds.client), &ds.id, &facts, &at)?;
            }
            Ok(())
        })?;
        Ok(todo.len())
    }

    /// A copy out of the vault whose dataset is due, still not attested destroyed by its
    /// holder: no certificate until it is (PRE-6). Ops and the holder are told, once per copy.
    fn attestations_overdue(&self, now: DateTime<Utc>, dry: bool) -> Result<usize, Error> {
        let (items, _) = self.due(now)?;
        let mut todo = Vec::new();
        for item in items {
            for copy in self.catalog.out_copies(Some(&item.dataset.id))? {
                if copy.kind == "environment"
                    && copy.attested.is_none()
                    && !self.catalog.notified("attestation-overdue", &copy.id)?
                {
                    todo.push((item.clone(), copy));
                }
            }
        }
        if dry || todo.is_empty() {
            return Ok(todo.len());
        }
        let at = rfc3339(now);
        self.catalog.write(|c| {
            for (item, copy) in &todo {
                let ds = &item.dataset;
                let facts = format!(
                    "dataset={}\ncopy={}\nenvironment={}\nholder={}\ndue={}\nclause={}",
                    ds.id,
                    copy.id,
                    copy.environment,
                    copy.holder,
                    rfc3339(item.due.at),
                    item.due.clause
                );
                let mut to = c.people_in("ops", None)?;
                if c.person(&copy.holder)?.is_some_and(|p| p.disabled.is_none()) && !to.contains(&copy.holder) {
                    to.push(copy.holder.clone());
                }
                c.notify("attestation-overdue", &to, Some(&ds.client), &copy.id, &facts, &at)?;
            }
            Ok(())
        })?;
        Ok(todo.len())
    }

    /// `notify list`: the outbox, newest first (`failed`: those given up).
    pub fn notify_list(&self, failed: bool, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, Error> {
        self.door(Action::NotifyList, vec![], String::new(), now, |_| self.catalog.outbox(failed, 1000))
    }

    /// `notify flush`: sends what is due, by mail (with a relay) and to webhooks. Each
    /// row's attempt is recorded in the outbox (its state, attempts, error, `Message-ID`);
    /// the flush is one event. A target that fails (the relay, one webhook) waits for the
    /// next flush with everything after it, so each target gets its messages in order.
    pub fn notify_flush(&self, now: DateTime<Utc>) -> Result<FlushReport, Error> {
        self.door(Action::NotifyFlush, vec![], String::new(), now, |rec| {
            let cfg = self.notify_settings()?;
            if cfg.is_none() && !self.catalog.has_webhooks()? {
                return Err(Error::BadInput(
                    "nothing to deliver to: `gardien notify config --smtp HOST:PORT --from ADDR --portal URL`, or `gardien webhook add URL --events ...`".into(),
                ));
            }
            // Reminders are caused by time: this flush writes them (once each), and its
            // event counts them.
            let reminders = self.reminders(now, false)?;
            let due = self.catalog.outbox_due(&rfc3339(now), 500, cfg.is_some())?;
            let mut report = FlushReport { reminders, ..FlushReport::default() };
            if due.is_empty() {
                rec.details = format!("reminders={reminders}");
                return Ok(report);
            }
            let agent = crate::webhooks::agent();
            let portal = cfg.as_ref().map(|c| c.portal.as_str());
            // The relay's connection, made at the first mail; if it cannot be made (a bad
            // credentials file...), mail waits and webhooks go on.
            let mut mail: Option<Result<Relay, String>> = None;
            let started = std::time::Instant::now();
            let mut down: Vec<String> = Vec::new();
            'rows: for n in due {
                // Order is kept per target: one webhook, or one person's (or sender's) mail.
                // The relay itself down holds up all mail for this flush.
                let target = match (&n.webhook, &n.person, &n.address) {
                    (Some(w), _, _) => format!("webhook:{w}"),
                    (None, Some(p), _) => format!("mail:{p}"),
                    (None, None, a) => format!("mail-address:{}", a.as_deref().unwrap_or("")),
                };
                if down.contains(&target) || (n.webhook.is_none() && down.iter().any(|d| d == "relay")) {
                    continue;
                }
                // The instant of this row: a long flush leases and signs each row at its own time.
                let at_dt = now + Duration::from_std(started.elapsed()).unwrap_or_else(|_| Duration::zero());
                let at = rfc3339(at_dt);
                // Two flushes at once send each message once: a row is taken before it is
                // sent, for 5 minutes from now.
                let lease = rfc3339(at_dt + Duration::minutes(5));
                if !self.catalog.write(|c| c.outbox_claim(n.id, &at, &lease))? {
                    // Another flush has it: what follows for its target waits for it.
                    down.push(target);
                    continue;
                }
                let sent = match &n.webhook {
                    Some(w) => self.post(&agent, w, &n, portal, at_dt).map(|()| None).map_err(Failure::Retry),
                    None => 'mail: {
                        let Some(cfg) = &cfg else {
                            break 'mail Err(Failure::Relay("no relay configured".into()));
                        };
                        let Some((to, lang)) = self.address_of(&n)? else {
                            self.catalog
                                .write(|c| c.outbox_done(n.id, "skipped", &n.next_attempt, Some("no address"), None, None))?;
                            report.skipped += 1;
                            continue 'rows;
                        };
                        let relay = mail.get_or_insert_with(|| {
                            let from: Mailbox = cfg.from.parse().map_err(|e| format!("--from {}: {e}", cfg.from))?;
                            let creds = credentials().map_err(|e| e.to_string())?;
                            let password = creds.as_ref().map(|c| c.1.clone());
                            Ok((transport(cfg, creds).map_err(|e| e.to_string())?, from, password))
                        });
                        let (mailer, from, password) = match relay {
                            Ok(r) => (&r.0, &r.1, &r.2),
                            Err(e) => break 'mail Err(Failure::Relay(e.clone())),
                        };
                        let domain = cfg.from.rsplit_once('@').map_or("gardien.invalid", |x| x.1);
                        let message_id =
                            format!("<{}.{}@{domain}>", n.id, crate::auth::random_secret().get(..16).unwrap_or("x"));
                        let (subject, body) = render(&n, &lang, &cfg.portal);
                        // A message that cannot be made (an address the mailer refuses) will
                        // never be: it fails now, and holds nothing up.
                        match build(from, &to, &subject, &body, &message_id) {
                            Err(e) => Err(Failure::Never(e)),
                            Ok(m) => mailer.send(&m).map(|_| Some(message_id)).map_err(|e| {
                                let code = e.status().map(|c| c.to_string());
                                let auth = code.as_deref().is_some_and(|c| matches!(c, "530" | "534" | "535" | "538"));
                                let text = if auth {
                                    // A refused sign-in: the reply may echo the credentials
                                    // (plain, or base64 as AUTH sent them); it is not kept.
                                    format!(
                                        "the relay refused the sign-in ({}); its reply is not kept",
                                        code.as_deref().unwrap_or("-")
                                    )
                                } else {
                                    match password {
                                        Some(p) if !p.is_empty() => e.to_string().replace(p.as_str(), "***"),
                                        _ => e.to_string(),
                                    }
                                };
                                match code.as_deref().and_then(|c| c.chars().next()) {
                                    // The relay refused this message for good (an unknown
                                    // mailbox, a domain it does not relay to): no retry
                                    // changes that, and the others go on.
                                    Some('5') if !auth => Failure::Never(text),
                                    // A temporary refusal of this message: it is tried
                                    // again, this person's later mail behind it.
                                    Some('4') => Failure::Retry(text),
                                    // No answer, or the sign-in refused: the relay is down.
                                    _ => Failure::Relay(text),
                                }
                            }),
                        }
                    }
                };
                match sent {
                    Ok(message_id) => {
                        self.catalog
                            .write(|c| c.outbox_done(n.id, "sent", &at, None, Some(&at), message_id.as_deref()))?;
                        report.sent += 1;
                    }
                    Err(Failure::Never(e)) => {
                        let e = crate::text::redact_secrets(&e);
                        self.catalog.write(|c| c.outbox_done(n.id, "failed", &at, Some(&e), None, None))?;
                        report.failed += 1;
                        tracing::warn!(notification = n.id, "cannot be delivered: {e}");
                    }
                    Err(failure @ (Failure::Retry(_) | Failure::Relay(_))) => {
                        let (e, relay) = match failure {
                            Failure::Relay(e) => (e, true),
                            Failure::Retry(e) | Failure::Never(e) => (e, false),
                        };
                        let attempts = n.attempts + 1;
                        let state = if attempts >= MAX_ATTEMPTS { "failed" } else { "pending" };
                        let wait = Duration::minutes((1i64 << attempts.min(9)).min(360));
                        let next = rfc3339(at_dt + wait);
                        let e = crate::text::redact_secrets(&e);
                        self.catalog.write(|c| c.outbox_done(n.id, state, &next, Some(&e), None, None))?;
                        if state == "failed" {
                            report.failed += 1;
                        } else {
                            report.retried += 1;
                            // The target is down: what follows for it waits, in order (this
                            // flush skips it; the next ones see this row pending before them).
                            down.push(if relay { "relay".to_owned() } else { target });
                        }
                        tracing::warn!(notification = n.id, "could not deliver: {e}");
                    }
                }
            }
            rec.details = format!(
                "reminders={} sent={} retried={} failed={} skipped={}",
                report.reminders, report.sent, report.retried, report.failed, report.skipped
            );
            Ok(report)
        })
    }

    /// Where a mail row goes, and in which language: a person's address (none if they have
    /// none or are disabled), or the address a drop's sender gave.
    fn address_of(&self, n: &OutboxRow) -> Result<Option<(String, String)>, Error> {
        if let Some(a) = &n.address {
            return Ok(Some((a.clone(), n.lang.clone().unwrap_or_else(|| "fr".into()))));
        }
        let Some(h) = &n.person else { return Ok(None) };
        Ok(self
            .catalog
            .person(h)?
            .filter(|p| p.disabled.is_none())
            .and_then(|p| p.email.clone().map(|e| (e, p.lang.clone()))))
    }

    /// Posts a row to its webhook.
    fn post(
        &self,
        agent: &ureq::Agent,
        id: &str,
        n: &OutboxRow,
        portal: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let hook = self.catalog.webhook(id).map_err(|e| e.to_string())?.ok_or("no such webhook")?;
        if hook.removed.is_some() {
            return Err("the webhook was removed".into());
        }
        let secret = self.webhook_secret(id).map_err(|e| e.to_string())?;
        crate::webhooks::deliver(agent, &hook.url, &secret, n, portal, now)
    }
}

/// The relay's connection, the sender, and the password to keep out of errors.
type Relay = (SmtpTransport, Mailbox, Option<String>);

/// Why a delivery did not happen: for now (tried again later), or for good.
enum Failure {
    /// This message, later.
    Retry(String),
    /// This message, never.
    Never(String),
    /// The relay cannot be reached or set up: all mail, later.
    Relay(String),
}

fn transport(cfg: &NotifyConfig, credentials: Option<(String, String)>) -> Result<SmtpTransport, Error> {
    let (host, port) = host_port(&cfg.smtp)?;
    let tls_err = |e: lettre::transport::smtp::Error| Error::BadInput(format!("SMTP TLS for {host}: {e}"));
    let builder = match cfg.tls.as_str() {
        "tls" => SmtpTransport::builder_dangerous(&host)
            .tls(Tls::Wrapper(TlsParameters::new(host.clone()).map_err(tls_err)?)),
        "starttls" => SmtpTransport::builder_dangerous(&host)
            .tls(Tls::Required(TlsParameters::new(host.clone()).map_err(tls_err)?)),
        _ => SmtpTransport::builder_dangerous(&host),
    };
    let mut builder = builder.port(port).timeout(Some(std::time::Duration::from_secs(20)));
    if let Some((user, password)) = credentials {
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

/// The relay's credentials, from the environment or a file; never from the catalog.
fn credentials() -> Result<Option<(String, String)>, Error> {
    if let Ok(path) = std::env::var("GARDIEN_SMTP_CREDENTIALS") {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::BadInput(format!("GARDIEN_SMTP_CREDENTIALS={path}: {e}")))?;
        let mut lines = text.lines();
        return match (lines.next(), lines.next()) {
            (Some(u), Some(p)) => Ok(Some((u.to_owned(), p.to_owned()))),
            _ => Err(Error::BadInput(format!(
                "GARDIEN_SMTP_CREDENTIALS={path}: the user on its first line, the password on its second"
            ))),
        };
    }
    match (std::env::var("GARDIEN_SMTP_USER"), std::env::var("GARDIEN_SMTP_PASSWORD")) {
        (Ok(u), Ok(p)) => Ok(Some((u, p))),
        _ => Ok(None),
    }
}

fn build(from: &Mailbox, to: &str, subject: &str, body: &str, message_id: &str) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|e| format!("{to} is not an address mail can go to ({e})"))?;
    Message::builder()
        .header(lettre::message::header::MIME_VERSION_1_0)
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.to_owned()))
        .date_now()
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()))
        .body(body.to_owned())
        .map_err(|e| e.to_string())
}

/// Each kind's subject and text, in French then English. `{subject}` is what the row is
/// about (an id), `{client}` its client, `{KEY}` one of its facts; all are ids, kinds,
/// dates and sizes, never client data.
const TEXTS: [(&str, [&str; 4]); 13] = [
    (
        "approval-waiting",
        [
            "Une autorisation attend votre décision ({subject})",
            "Une demande d'autorisation ({kind}) pour le client {client} attend la décision d'un signataire.\nValable jusqu'au : {until}.",
            "An approval awaits your decision ({subject})",
            "A request for approval ({kind}) for client {client} awaits a signer's decision.\nValid until: {until}.",
        ],
    ),
    (
        "approval-reminder",
        [
            "Rappel : l'autorisation {subject} attend votre décision",
            "La demande d'autorisation {subject} ({kind}) pour le client {client} attend depuis trois jours la décision d'un signataire.",
            "Reminder: approval {subject} awaits your decision",
            "Request for approval {subject} ({kind}) for client {client} has awaited a signer's decision for three days.",
        ],
    ),
    (
        "approval-decided",
        [
            "Décision sur l'autorisation {subject}",
            "Le signataire du client {client} a rendu sa décision sur l'autorisation {subject} ({kind}) : {decision}.",
            "Decision on approval {subject}",
            "The signer of client {client} decided on approval {subject} ({kind}): {decision}.",
        ],
    ),
    (
        "approval-opened",
        [
            "Une autorisation vous est ouverte ({subject})",
            "L'autorisation {subject} ({kind}) du client {client} est accordée et vous concerne, jusqu'au {until}. Sa portée exacte est sur le portail.",
            "An approval opens for you ({subject})",
            "Approval {subject} ({kind}) of client {client} is granted and concerns you, until {until}. Its exact scope is on the portal.",
        ],
    ),
    (
        "approval-ended",
        [
            "L'autorisation {subject} a pris fin",
            "L'autorisation {subject} ({kind}) du client {client} a pris fin ({reason}) : ce qu'elle vous ouvrait est fermé.",
            "Approval {subject} has ended",
            "Approval {subject} ({kind}) of client {client} has ended ({reason}): what it opened to you is closed.",
        ],
    ),
    (
        "drop-received",
        [
            "Le dépôt {subject} a reçu son fichier",
            "Le dépôt {subject} du client {client} a reçu son fichier, vérifié : jeu de données {dataset}, {size} octets, SHA-256 {sha256}.",
            "Drop {subject} received its file",
            "Drop {subject} of client {client} received its file, checked: dataset {dataset}, {size} bytes, SHA-256 {sha256}.",
        ],
    ),
    (
        "drop-receipt",
        [
            "Accusé de réception : dépôt {subject}",
            "Votre fichier est arrivé dans le dépôt {subject}, complet et vérifié : {size} octets, SHA-256 {sha256} (celui de votre fichier avant chiffrement : `sha256sum FICHIER` le redonne).\nIl est conservé chiffré ; seule la personne nommée chez l'hébergeur peut l'ouvrir.",
            "Receipt: drop {subject}",
            "Your file reached drop {subject}, whole and checked: {size} bytes, SHA-256 {sha256} (that of your file before encryption: `sha256sum FILE` gives it again).\nIt is kept encrypted; only the named person at the operator can open it.",
        ],
    ),
    (
        "drop-revoked",
        [
            "Le dépôt {subject} est révoqué",
            "Le dépôt {subject} du client {client} est révoqué : {reason}.",
            "Drop {subject} is revoked",
            "Drop {subject} of client {client} is revoked: {reason}.",
        ],
    ),
    (
        "drop-expiring",
        [
            "Le dépôt {subject} expire bientôt sans avoir rien reçu",
            "Le dépôt {subject} du client {client} n'a rien reçu et se ferme le {expires} (UTC). Relancez l'expéditeur, ou ouvrez-en un autre.",
            "Drop {subject} expires soon, having received nothing",
            "Drop {subject} of client {client} has received nothing and closes on {expires} (UTC). Remind the sender, or open another one.",
        ],
    ),
    (
        "destruction-notice",
        [
            "Préavis de destruction : {dataset}, dans {days} jour(s)",
            "Le jeu de données {dataset} ({class}) du client {client} sera détruit le {due} (UTC), dans {days} jour(s), selon la clause {clause}.\nPour en garder une copie, demandez sa restitution avant cette date.",
            "Destruction notice: {dataset}, in {days} day(s)",
            "Dataset {dataset} ({class}) of client {client} will be destroyed on {due} (UTC), in {days} day(s), under clause {clause}.\nTo keep a copy, ask for it back before that date.",
        ],
    ),
    (
        "certificate-issued",
        [
            "Certificat de destruction {subject}",
            "Le jeu de données {dataset} du client {client} est détruit ; son certificat {subject} est émis, vérifiable hors ligne.",
            "Destruction certificate {subject}",
            "Dataset {dataset} of client {client} is destroyed; its certificate {subject} is issued, verifiable offline.",
        ],
    ),
    (
        "sweep-blocked",
        [
            "La destruction de {subject} n'a pas pu se faire",
            "Le balayage du {at} n'a pas pu détruire le jeu de données {subject} du client {client}, dû selon la clause {clause} : {why}.\nVoir `gardien sweep --dry-run` et le journal.",
            "The destruction of {subject} could not happen",
            "The sweep of {at} could not destroy dataset {subject} of client {client}, due under clause {clause}: {why}.\nSee `gardien sweep --dry-run` and the log.",
        ],
    ),
    (
        "attestation-overdue",
        [
            "Copie {subject} : attestation de destruction en retard",
            "Le jeu de données {dataset} du client {client} est dû à la destruction depuis le {due} ({clause}) ; sa copie {subject} sur l'environnement {environment} attend l'attestation de destruction de {holder}. Pas de certificat sans elle (PRE-6) : `gardien copy attest {dataset} {subject}`.",
            "Copy {subject}: destruction attestation overdue",
            "Dataset {dataset} of client {client} has been due for destruction since {due} ({clause}); its copy {subject} on environment {environment} awaits {holder}'s attestation of destruction. No certificate without it (PRE-6): `gardien copy attest {dataset} {subject}`.",
        ],
    ),
];

/// The portal page a notification links to (none for a drop sender's receipt).
pub(crate) fn path_of(n: &OutboxRow) -> String {
    match n.kind.as_str() {
        "approval-waiting" | "approval-reminder" | "approval-decided" | "approval-opened" | "approval-ended" => {
            format!("/approvals/{}", n.subject)
        }
        "drop-received" | "drop-revoked" | "drop-expiring" => format!("/drops/{}", n.subject),
        "certificate-issued" => format!("/certificates/{}", n.subject),
        "destruction-notice" | "sweep-blocked" | "attestation-overdue" => "/datasets".to_owned(),
        _ => String::new(),
    }
}

/// The message for `n`, in `lang`: ids, kinds, dates, sizes and a link, never client data.
pub fn render(n: &OutboxRow, lang: &str, portal: &str) -> (String, String) {
    let fr = lang != "en";
    let texts = TEXTS.iter().find(|(k, _)| *k == n.kind).map(|(_, t)| t);
    let (subject, text) = match texts {
        Some(t) if fr => (t[0], t[1]),
        Some(t) => (t[2], t[3]),
        None => ("gardien: {subject}", "{subject}"),
    };
    let fill = |template: &str| {
        let mut out = template.replace("{subject}", &n.subject).replace("{client}", n.client.as_deref().unwrap_or("-"));
        for (k, v) in n.facts.lines().filter_map(|l| l.split_once('=')) {
            // Words gardien wrote itself (a reason, a decision) are translated; ids never.
            let v = if !matches!(k, "reason" | "decision" | "why") {
                v.to_owned()
            } else if fr {
                v.replace("wrong passwords", "mots de passe faux")
                    .replace("revoked", "révoquée")
                    .replace("expired", "expirée")
                    .replace("copy-unattested", "une copie attend son attestation de destruction")
                    .replace("approved", "accordée")
                    .replace("refused", "refusée")
            } else {
                v.replace("copy-unattested", "a copy awaits its attestation of destruction")
            };
            out = out.replace(&format!("{{{k}}}"), &v);
        }
        out
    };
    let footer = if fr {
        "Ce message ne contient aucune donnée du client : seulement des identifiants, des dates et un lien. Message automatique de gardien."
    } else {
        "This message holds no client data: ids, dates and a link only. An automatic message from gardien."
    };
    let path = path_of(n);
    let link = if path.is_empty() { String::new() } else { format!("{portal}{path}\n\n") };
    (format!("[gardien] {}", fill(subject)), format!("{}\n\n{link}-- \n{footer}\n", fill(text)))
}
