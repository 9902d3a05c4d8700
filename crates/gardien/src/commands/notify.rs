//! `gardien notify config|list|flush`: notifications by e-mail (issue 15, first part). Each
//! is written in the transaction of the event that causes it (an approval requested or
//! decided, a drop received or revoked, a certificate issued) and delivered by the server
//! every 30 seconds, or by `notify flush` on a host without the server.

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Set the SMTP relay, the sender and the portal's address for the links.
    #[command(after_help = "Credentials are never stored: GARDIEN_SMTP_USER and GARDIEN_SMTP_PASSWORD, or \
        GARDIEN_SMTP_CREDENTIALS naming a file (user, then password, on two lines), when sending.\n\n\
        Examples:\n  gardien notify config --smtp relay.hebergeur.example:587 --starttls --from gardien@hebergeur.example \\\n    \
        --portal https://gardien.hebergeur.example\n  gardien notify config --smtp 127.0.0.1:25 --from gardien@hebergeur.example --portal https://gardien.hebergeur.example")]
    Config {
        /// The relay, HOST:PORT. Without --tls or --starttls, only a relay on this machine.
        #[arg(long)]
        smtp: String,
        /// Implicit TLS (port 465).
        #[arg(long, conflicts_with = "starttls")]
        tls: bool,
        /// STARTTLS, required (port 587).
        #[arg(long)]
        starttls: bool,
        /// The sender's address.
        #[arg(long)]
        from: String,
        /// The portal's address, for the links in each message.
        #[arg(long)]
        portal: String,
    },
    /// The outbox, newest first.
    List {
        /// Only the notifications given up.
        #[arg(long)]
        failed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send what is due now (the server does it every 30 seconds).
    Flush,
}

/// Whom a row goes to: a person, a webhook, or a drop's sender (whose address is theirs
/// and not shown).
fn to(n: &vault::OutboxRow) -> String {
    match (&n.person, &n.webhook) {
        (Some(p), _) => p.clone(),
        (None, Some(w)) => w.clone(),
        (None, None) => "(drop sender)".into(),
    }
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Config { smtp, tls, starttls, from, portal } => {
            let tls = if *tls {
                "tls"
            } else if *starttls {
                "starttls"
            } else {
                "none"
            };
            let cfg =
                vault::NotifyConfig { smtp: smtp.clone(), tls: tls.into(), from: from.clone(), portal: portal.clone() };
            v.notify_config(&cfg, now)?;
            eprintln!("notifications go through {smtp} ({tls}) from {from}, linking to {portal}");
        }
        Cmd::List { failed, json } => {
            let rows = v.notify_list(*failed, now)?;
            if *json {
                return output::json(
                    &rows
                        .iter()
                        .map(|n| serde_json::json!({
                            "id": n.id, "kind": n.kind, "person": n.person, "address": n.address.is_some(), "webhook": n.webhook,
                            "client": n.client, "subject": n.subject,
                            "created": n.created, "state": n.state, "attempts": n.attempts, "next_attempt": n.next_attempt,
                            "last_error": n.last_error, "sent": n.sent, "message_id": n.message_id,
                        }))
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["ID", "KIND", "TO", "ABOUT", "STATE", "ATTEMPTS", "CREATED", "LAST ERROR"],
                rows.iter().map(|n| {
                    vec![
                        n.id.to_string(),
                        n.kind.clone(),
                        to(n),
                        n.subject.clone(),
                        n.state.clone(),
                        n.attempts.to_string(),
                        n.created.clone(),
                        n.last_error.clone().unwrap_or_default(),
                    ]
                }),
            )?;
        }
        Cmd::Flush => {
            let r = v.notify_flush(now)?;
            eprintln!(
                "{} reminders due; {} sent, {} to try again, {} given up, {} without an address",
                r.reminders, r.sent, r.retried, r.failed, r.skipped
            );
        }
    }
    Ok(())
}
