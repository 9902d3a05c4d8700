//! Notifications (issue 15, first part): the outbox's rows (written with the events that
//! cause them, see `catalog/outbox.rs`) delivered by e-mail through the operator's SMTP
//! relay (`lettre`), in each person's language, with ids, kinds, dates, sizes and a link to
//! the portal, never client data. A relay that is down delays mail, never the operation:
//! a failed attempt is tried again later (1, 2, 4... minutes, at most 6 hours apart; given
//! up after `MAX_ATTEMPTS`).

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

fn is_loopback(host: &str) -> bool {
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
            if !(cfg.portal.starts_with("https://") || cfg.portal.starts_with("http://127.0.0.1") || cfg.portal.starts_with("http://localhost"))
                || cfg.portal.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(Error::BadInput(format!(
                    "--portal {}: the portal's https:// address (http:// only on this machine)",
                    crate::quote_input(&cfg.portal)
                )));
            }
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

    /// Whether a relay is set and a notification is due: the server's timer asks this
    /// before flushing, so that an idle server writes no event every 30 seconds. Not an
    /// operation of its own (it reads a count, nobody's data); the flush is.
    pub fn notify_due(&self, now: DateTime<Utc>) -> Result<bool, Error> {
        if self.notify_settings()?.is_none() {
            return Ok(false);
        }
        Ok(!self.catalog.outbox_due(&rfc3339(now), 1)?.is_empty() || self.reminders(now, true)? > 0)
    }

    /// The reminders time made due (`dry`: counted, not written).
    fn reminders(&self, now: DateTime<Utc>, dry: bool) -> Result<usize, Error> {
        let (at, ago, soon) = (rfc3339(now), rfc3339(now - Duration::days(3)), rfc3339(now + Duration::hours(24)));
        if dry {
            self.catalog.schedule_reminders(&at, &ago, &soon, true)
        } else {
            self.catalog.write(|c| c.schedule_reminders(&at, &ago, &soon, false))
        }
    }

    /// `notify list`: the outbox, newest first (`failed`: those given up).
    pub fn notify_list(&self, failed: bool, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, Error> {
        self.door(Action::NotifyList, vec![], String::new(), now, |_| self.catalog.outbox(failed, 1000))
    }

    /// `notify flush`: sends what is due. Each row's attempt is recorded in the outbox (its
    /// state, attempts, error, `Message-ID`); the flush is one event.
    pub fn notify_flush(&self, now: DateTime<Utc>) -> Result<FlushReport, Error> {
        self.door(Action::NotifyFlush, vec![], String::new(), now, |rec| {
            let cfg = self.notify_settings()?.ok_or_else(|| {
                Error::BadInput(
                    "no relay configured: `gardien notify config --smtp HOST:PORT --from ADDR --portal URL`".into(),
                )
            })?;
            // Reminders are caused by time: this flush writes them (once each), and its
            // event counts them.
            let reminders = self.reminders(now, false)?;
            let due = self.catalog.outbox_due(&rfc3339(now), 500)?;
            let mut report = FlushReport { reminders, ..FlushReport::default() };
            if due.is_empty() {
                return Ok(report);
            }
            let mailer = transport(&cfg)?;
            let from: Mailbox = cfg.from.parse().map_err(|e| Error::BadInput(format!("--from: {e}")))?;
            let domain = cfg.from.rsplit_once('@').map_or("gardien.invalid", |x| x.1).to_owned();
            let lease = rfc3339(now + Duration::minutes(5));
            for n in due {
                // Two flushes at once send each message once: a row is taken before it is sent.
                if !self.catalog.write(|c| c.outbox_claim(n.id, &rfc3339(now), &lease))? {
                    continue;
                }
                let person = self.catalog.person(&n.person)?;
                let Some(p) = person.filter(|p| p.disabled.is_none() && p.email.is_some()) else {
                    self.catalog
                        .write(|c| c.outbox_done(n.id, "skipped", &n.next_attempt, Some("no address"), None, None))?;
                    report.skipped += 1;
                    continue;
                };
                let to = p.email.clone().unwrap_or_default();
                let message_id =
                    format!("<{}.{}@{domain}>", n.id, crate::auth::random_secret().get(..16).unwrap_or("x"));
                let (subject, body) = render(&n, &p.lang, &cfg.portal);
                let sent = build(&from, &to, &subject, &body, &message_id)
                    .and_then(|m| mailer.send(&m).map(|_| ()).map_err(|e| e.to_string()));
                let at = rfc3339(now);
                match sent {
                    Ok(()) => {
                        self.catalog.write(|c| c.outbox_done(n.id, "sent", &at, None, Some(&at), Some(&message_id)))?;
                        report.sent += 1;
                    }
                    Err(e) => {
                        let attempts = n.attempts + 1;
                        let state = if attempts >= MAX_ATTEMPTS { "failed" } else { "pending" };
                        let wait = Duration::minutes((1i64 << attempts.min(9)).min(360));
                        let next = rfc3339(now + wait);
                        let e = crate::text::redact_secrets(&e);
                        self.catalog.write(|c| c.outbox_done(n.id, state, &next, Some(&e), None, None))?;
                        if state == "failed" {
                            report.failed += 1;
                        } else {
                            report.retried += 1;
                        }
                        tracing::warn!(notification = n.id, "could not send: {e}");
                        // The relay is down: the others wait for the next flush, in order.
                        if attempts < MAX_ATTEMPTS {
                            break;
                        }
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
}

fn transport(cfg: &NotifyConfig) -> Result<SmtpTransport, Error> {
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
    if let Some((user, password)) = credentials()? {
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

/// The relay's credentials, from the environment or a file; never from the catalog.
fn credentials() -> Result<Option<(String, String)>, Error> {
    if let Ok(path) = std::env::var("GARDIEN_SMTP_CREDENTIALS") {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone().into(), source })?;
        let mut lines = text.lines();
        return match (lines.next(), lines.next()) {
            (Some(u), Some(p)) => Ok(Some((u.to_owned(), p.to_owned()))),
            _ => Err(Error::BadInput(format!("{path}: the user on its first line, the password on its second"))),
        };
    }
    match (std::env::var("GARDIEN_SMTP_USER"), std::env::var("GARDIEN_SMTP_PASSWORD")) {
        (Ok(u), Ok(p)) => Ok(Some((u, p))),
        _ => Ok(None),
    }
}

fn build(from: &Mailbox, to: &str, subject: &str, body: &str, message_id: &str) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|e| format!("address: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.to_owned()))
        .date_now()
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()))
        .body(body.to_owned())
        .map_err(|e| e.to_string())
}

fn fact<'a>(n: &'a OutboxRow, key: &str) -> &'a str {
    n.facts.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('='))).unwrap_or("-")
}

/// The message for `n`, in `lang`: ids, kinds, dates, sizes and a link, never client data.
pub fn render(n: &OutboxRow, lang: &str, portal: &str) -> (String, String) {
    let fr = lang != "en";
    let client = n.client.as_deref().unwrap_or("-");
    let (subject, text, path) = match n.kind.as_str() {
        "approval-waiting" => (
            if fr {
                format!("Une autorisation attend votre décision ({})", n.subject)
            } else {
                format!("An approval awaits your decision ({})", n.subject)
            },
            if fr {
                format!(
                    "Une demande d'autorisation ({}) pour le client {client} attend la décision d'un signataire.\nValable jusqu'au : {}.",
                    fact(n, "kind"),
                    fact(n, "until")
                )
            } else {
                format!(
                    "A request for approval ({}) for client {client} awaits a signer's decision.\nValid until: {}.",
                    fact(n, "kind"),
                    fact(n, "until")
                )
            },
            format!("/approvals/{}", n.subject),
        ),
        "approval-decided" => (
            if fr {
                format!("Décision sur l'autorisation {}", n.subject)
            } else {
                format!("Decision on approval {}", n.subject)
            },
            if fr {
                format!(
                    "Le signataire du client {client} a rendu sa décision sur l'autorisation {} ({}) : {}.",
                    n.subject,
                    fact(n, "kind"),
                    fact(n, "decision")
                )
            } else {
                format!(
                    "The signer of client {client} decided on approval {} ({}): {}.",
                    n.subject,
                    fact(n, "kind"),
                    fact(n, "decision")
                )
            },
            format!("/approvals/{}", n.subject),
        ),
        "drop-received" => (
            if fr {
                format!("Le dépôt {} a reçu son fichier", n.subject)
            } else {
                format!("Drop {} received its file", n.subject)
            },
            if fr {
                format!(
                    "Le dépôt {} du client {client} a reçu son fichier, vérifié : jeu de données {}, {} octets, SHA-256 {}.",
                    n.subject,
                    fact(n, "dataset"),
                    fact(n, "size"),
                    fact(n, "sha256")
                )
            } else {
                format!(
                    "Drop {} of client {client} received its file, checked: dataset {}, {} bytes, SHA-256 {}.",
                    n.subject,
                    fact(n, "dataset"),
                    fact(n, "size"),
                    fact(n, "sha256")
                )
            },
            format!("/drops/{}", n.subject),
        ),
        "drop-revoked" => (
            if fr {
                format!("Le dépôt {} est révoqué", n.subject)
            } else {
                format!("Drop {} is revoked", n.subject)
            },
            if fr {
                format!(
                    "Le dépôt {} du client {client} est révoqué : {}.",
                    n.subject,
                    fact(n, "reason").replace("wrong passwords", "mots de passe faux")
                )
            } else {
                format!("Drop {} of client {client} is revoked: {}.", n.subject, fact(n, "reason"))
            },
            format!("/drops/{}", n.subject),
        ),
        "approval-reminder" => (
            if fr {
                format!("Rappel : l'autorisation {} attend votre décision", n.subject)
            } else {
                format!("Reminder: approval {} awaits your decision", n.subject)
            },
            if fr {
                format!(
                    "La demande d'autorisation {} ({}) pour le client {client} attend depuis trois jours la décision d'un signataire.",
                    n.subject,
                    fact(n, "kind")
                )
            } else {
                format!(
                    "Request for approval {} ({}) for client {client} has awaited a signer's decision for three days.",
                    n.subject,
                    fact(n, "kind")
                )
            },
            format!("/approvals/{}", n.subject),
        ),
        "drop-expiring" => (
            if fr {
                format!("Le dépôt {} expire bientôt sans avoir rien reçu", n.subject)
            } else {
                format!("Drop {} expires soon, having received nothing", n.subject)
            },
            if fr {
                format!(
                    "Le dépôt {} du client {client} n'a rien reçu et se ferme le {} (UTC). Relancez l'expéditeur, ou ouvrez-en un autre.",
                    n.subject,
                    fact(n, "expires")
                )
            } else {
                format!(
                    "Drop {} of client {client} has received nothing and closes on {} (UTC). Remind the sender, or open another one.",
                    n.subject,
                    fact(n, "expires")
                )
            },
            format!("/drops/{}", n.subject),
        ),
        "certificate-issued" => (
            if fr {
                format!("Certificat de destruction {}", n.subject)
            } else {
                format!("Destruction certificate {}", n.subject)
            },
            if fr {
                format!(
                    "Le jeu de données {} du client {client} est détruit ; son certificat {} est émis, vérifiable hors ligne.",
                    fact(n, "dataset"),
                    n.subject
                )
            } else {
                format!(
                    "Dataset {} of client {client} is destroyed; its certificate {} is issued, verifiable offline.",
                    fact(n, "dataset"),
                    n.subject
                )
            },
            format!("/certificates/{}", n.subject),
        ),
        other => (format!("gardien: {other} {}", n.subject), format!("{other} {}", n.subject), "/".to_owned()),
    };
    let footer = if fr {
        "Ce message ne contient aucune donnée du client : seulement des identifiants, des dates et un lien. Message automatique de gardien."
    } else {
        "This message holds no client data: ids, dates and a link only. An automatic message from gardien."
    };
    (format!("[gardien] {subject}"), format!("{text}\n\n{portal}{path}\n\n-- \n{footer}\n"))
}
