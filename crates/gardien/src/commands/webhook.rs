//! `gardien webhook add|list|remove`: endpoints of the operator's (a ticketing system)
//! that receive the notifications' facts as JSON signed with HMAC-SHA-256 (issue 15).
//! docs/webhooks.md says how a receiver checks a delivery.

use std::io::Write as _;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add an endpoint; its signing secret is printed once (stdout), kept wrapped to the
    /// master key.
    #[command(after_help = "Each delivery is a POST of JSON (ids, kinds, dates, sizes and a link; never client data) \
        with the headers Gardien-Event, Gardien-Delivery (an id, the same on every retry) and \
        Gardien-Signature: t=<unix seconds>,hmac-sha256=<hex of HMAC-SHA-256(secret, \"<t>.<body>\")>.\n\
        A receiver refuses a t more than 5 minutes from its clock, and acts once per \"id\" of the signed body: see docs/webhooks.md.\n\
        A 2xx answer is a delivery; anything else is tried again (after 2, 4, 8... minutes, at most 6 hours apart; 10 attempts).\n\n\
        Events: all, or some of approval-waiting, approval-reminder, approval-decided, approval-opened, approval-ended, \
        drop-received, drop-revoked, drop-expiring, destruction-notice, certificate-issued, sweep-blocked, attestation-overdue.\n\n\
        Examples:\n  gardien webhook add https://tickets.hebergeur.example/hooks/gardien --events all\n  \
        gardien webhook add https://tickets.hebergeur.example/hooks/lycee --client lycee-hugo --events destruction-notice,certificate-issued")]
    Add {
        /// The endpoint: https://, or http:// to this machine only.
        url: String,
        /// The kinds it takes, comma-separated or repeated, or `all`.
        #[arg(long, required = true, value_delimiter = ',')]
        events: Vec<String>,
        /// Only this client's notifications (otherwise every client's).
        #[arg(long)]
        client: Option<String>,
        /// Print JSON (with the secret).
        #[arg(long)]
        json: bool,
    },
    /// The webhooks, removed ones too (never a secret).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a webhook: it takes nothing more, and what waited for it is dropped.
    Remove {
        /// Its id (wh-...).
        id: String,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { url, events, client, json } => {
            let w = v.webhook_add(url, events, client.as_deref(), now)?;
            if *json {
                return output::json(&serde_json::json!({
                    "id": w.info.id, "url": w.info.url, "events": w.info.events, "client": w.info.client,
                    "secret": w.secret.expose_secret(),
                }));
            }
            writeln!(std::io::stdout().lock(), "{}", w.secret.expose_secret())?;
            eprintln!(
                "webhook {} posts {} of {} to {}; its signing secret is shown only now: give it to the receiver",
                w.info.id,
                if w.info.events == "*" { "every notification".to_owned() } else { w.info.events.clone() },
                w.info.client.as_deref().unwrap_or("every client"),
                w.info.url
            );
        }
        Cmd::List { json } => {
            let hooks = v.webhooks(now)?;
            if *json {
                return output::json(
                    &hooks
                        .iter()
                        .map(|w| {
                            serde_json::json!({"id": w.id, "url": w.url, "events": w.events, "client": w.client,
                            "created": w.created, "created_by": w.created_by, "removed": w.removed})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["ID", "URL", "EVENTS", "CLIENT", "CREATED", "REMOVED"],
                hooks.iter().map(|w| {
                    vec![
                        w.id.clone(),
                        w.url.clone(),
                        w.events.clone(),
                        w.client.clone().unwrap_or_else(|| "-".into()),
                        w.created.clone(),
                        w.removed.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Remove { id } => {
            let w = v.webhook_remove(id, now)?;
            eprintln!("webhook {} removed: {} takes nothing more", w.id, w.url);
        }
    }
    Ok(())
}
