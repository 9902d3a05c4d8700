//! `gardien token create|list|revoke`: API tokens for `gardien serve` (bearer tokens under
//! `/api/v1/`). A token acts as the person who made it; it is shown once and kept hashed.

use std::io::Write as _;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Make a token acting as the person given by --as; prints it once, on stdout.
    #[command(after_help = "Examples:\n  gardien --as proviseur token create --label \"ENT sync\" --expires 90d\n  \
        curl -H \"Authorization: Bearer $(cat token)\" https://gardien.example/api/v1/me")]
    Create {
        /// What it is for (shown by `token list`).
        #[arg(long)]
        label: Option<String>,
        /// When it stops working: a duration (`90d`, `12h`) or a date (`2027-06-30`, through
        /// that day). Default: 90 days; `never` for none.
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Print JSON: {"id", "token", "person", "expires"}.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secret): the acting person's, or --person's (ops).
    List {
        /// Whose tokens.
        #[arg(long)]
        person: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's id (tk-...), from `token list`.
        id: String,
    },
}

/// `90d`, `12h`, `30m`, a date, or `never`.
fn parse_expires(s: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    if s == "never" {
        return Ok(None);
    }
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    if let Ok(n) = n.parse::<i64>()
        && (1..=3650 * 24).contains(&n)
    {
        let d = match unit {
            "d" => chrono::Duration::days(n),
            "h" => chrono::Duration::hours(n),
            "m" => chrono::Duration::minutes(n),
            _ => anyhow::bail!("unknown unit in '{s}': use d, h or m (90d, 12h, 30m), a date, or never"),
        };
        return Ok(Some(now + d));
    }
    Ok(Some(
        lifecycle::parse_until(s)
            .map_err(|e| anyhow::anyhow!("--expires: {e} (or a duration such as 90d, or never)"))?,
    ))
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Create { label, expires, json } => {
            let expires = parse_expires(expires, now)?;
            let t = v.create_token(label.as_deref(), expires, now)?;
            if *json {
                return output::json(&serde_json::json!({
                    "id": t.info.id, "token": t.secret.expose_secret(), "person": t.info.handle, "expires": t.info.expires,
                }));
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", t.secret.expose_secret())?;
            eprintln!(
                "token {} acts as {} until {}; it is shown only now: keep it like a password",
                t.info.id,
                t.info.handle,
                t.info.expires.as_deref().map_or_else(|| "revoked".to_owned(), output::until)
            );
        }
        Cmd::List { person, json } => {
            let tokens = v.tokens(person.as_deref(), now)?;
            if *json {
                return output::json(
                    &tokens
                        .iter()
                        .map(|t| serde_json::json!({"id": t.id, "person": t.handle, "label": t.label, "created": t.created, "expires": t.expires, "revoked": t.revoked}))
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["ID", "PERSON", "LABEL", "CREATED", "EXPIRES", "REVOKED"],
                tokens.iter().map(|t| {
                    vec![
                        t.id.clone(),
                        t.handle.clone(),
                        t.label.clone().unwrap_or_default(),
                        t.created.clone(),
                        t.expires.clone().unwrap_or_else(|| "never".into()),
                        t.revoked.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Revoke { id } => {
            let t = v.revoke_token(id, now)?;
            eprintln!("revoked token {} of {}", t.id, t.handle);
        }
    }
    Ok(())
}
