//! `gardien drop create|list|show|revoke`: the secure drop (issue 11). A drop receives one
//! file of a client's, encrypted by the sender to the drop's key before it leaves them, and
//! addressed to one technical operator (PRE-1, PRE-2, PRE-3).

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Open a drop for a client's file; prints its link and a password, once.
    #[command(after_help = "The link and the password go to the client's contact by two different channels \
        (PRE-2): the link by e-mail, the password by phone or SMS. The contact opens the link in a browser, \
        gives the password, and picks the file: it is encrypted in the browser before it leaves, and the upload \
        resumes after a cut. Without a browser, the page shows the commands (age and any tus client).\n\n\
        One drop receives one file, which becomes one dataset with its own key; several files are an archive \
        or several drops.\n\n\
        Examples:\n  gardien drop create --client lycee-hugo --to tom --contract hugo-2026 --expires 7d\n  \
        gardien drop create --client lycee-hugo --to tom --contract hugo-2026 --class loading-data --max-size 200GiB --json")]
    Create {
        /// The client whose data it receives.
        #[arg(long)]
        client: String,
        /// The technical operator it is addressed to (PRE-3): the one person who receives it.
        #[arg(long)]
        to: String,
        /// The case the data belongs to (`gardien contract add`).
        #[arg(long)]
        contract: String,
        /// presales-sample (a pre-sales trial's sample) or loading-data (once the contract
        /// is concluded, OPS-3).
        #[arg(long, default_value = "presales-sample")]
        class: String,
        /// How long it stays open: a duration (7d, 48h) or a date (through that day); at most 90 days.
        #[arg(long, default_value = "7d")]
        expires: String,
        /// The largest file it takes, as sent (50GiB, 500MiB, 2TB...).
        #[arg(long, default_value = "50GiB")]
        max_size: String,
        /// A label for the operator (never shown to the sender; it stays in the catalog).
        #[arg(long)]
        label: Option<String>,
        /// Where `gardien serve` is reached, to print the whole link [env: GARDIEN_URL].
        #[arg(long, env = "GARDIEN_URL")]
        base_url: Option<String>,
        /// Print JSON: {"id", "url", "password", "recipient", "expires"}.
        #[arg(long)]
        json: bool,
    },
    /// List the drops you may see (a client's with --client).
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a drop and its uploads.
    Show {
        /// The drop's id (dr-...).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an open drop: its link stops working and its partial uploads are deleted.
    Revoke {
        /// The drop's id (dr-...).
        id: String,
    },
}

fn link(base: Option<&str>, token: &str) -> String {
    match base {
        Some(b) => format!("{}/d/{token}", b.trim_end_matches('/')),
        None => format!("/d/{token}"),
    }
}

fn drop_json(d: &vault::DropRow) -> serde_json::Value {
    serde_json::json!({
        "id": d.id, "client": d.client, "contract": d.contract, "class": d.class, "to": d.addressed_to,
        "created_by": d.created_by, "label": d.label, "max_size": d.max_size, "recipient": d.recipient,
        "created": d.created, "expires": d.expires, "state": d.state, "failures": d.failures,
        "ended": d.ended, "end_reason": d.end_reason, "dataset": d.dataset,
    })
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Create { client, to, contract, class, expires, max_size, label, base_url, json } => {
            let class: vault::DatasetClass = class
                .parse()
                .map_err(|_| anyhow::anyhow!("--class {class}: a drop receives presales-sample or loading-data"))?;
            let req = vault::DropRequest {
                client,
                to,
                contract,
                class,
                expires: vault::parse_expires(expires, now).map_err(|e| anyhow::anyhow!("--expires: {e}"))?,
                max_size: vault::parse_size(max_size).map_err(|e| anyhow::anyhow!("--max-size: {e}"))?,
                label: label.as_deref(),
            };
            let d = v.drop_create(&req, now)?;
            let url = link(base_url.as_deref(), d.token.expose_secret());
            if *json {
                return output::json(&serde_json::json!({
                    "id": d.drop.id, "url": url, "password": d.password.expose_secret(),
                    "recipient": d.drop.recipient, "expires": d.drop.expires,
                }));
            }
            println!("link:      {url}");
            println!("password:  {}", d.password.expose_secret());
            eprintln!(
                "drop {} for {} ({}), addressed to {}, open until {}, up to {}.\n\
                 Send the link and the password by two different channels (PRE-2); both are shown only now.{}",
                d.drop.id,
                vault::text::escape(&d.drop.client),
                d.drop.class,
                d.drop.addressed_to,
                output::until(&d.drop.expires),
                output::size(d.drop.max_size),
                if base_url.is_none() {
                    "\nThe link is relative: prefix it with the server's address (--base-url or GARDIEN_URL)."
                } else {
                    ""
                }
            );
        }
        Cmd::List { client, json } => {
            let drops = v.drops(client.as_deref(), now)?;
            if *json {
                return output::json(&drops.iter().map(drop_json).collect::<Vec<_>>());
            }
            output::table(
                &["ID", "CLIENT", "CLASS", "TO", "STATE", "EXPIRES", "MAX", "DATASET"],
                drops.iter().map(|d| {
                    vec![
                        d.id.clone(),
                        d.client.clone(),
                        d.class.clone(),
                        d.addressed_to.clone(),
                        d.state.clone(),
                        d.expires.clone(),
                        output::size(d.max_size),
                        d.dataset.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Show { id, json } => {
            let (d, ups) = v.drop_show(id, now)?;
            if *json {
                let mut j = drop_json(&d);
                j["uploads"] = ups
                    .iter()
                    .map(|u| serde_json::json!({"id": u.id, "length": u.length, "concat": u.concat, "created": u.created, "expires": u.expires, "state": u.state}))
                    .collect();
                return output::json(&j);
            }
            println!("drop        {}", d.id);
            println!("client      {}", vault::text::escape(&d.client));
            println!("contract    {}", vault::text::escape(&d.contract));
            println!("class       {}", d.class);
            println!("to          {}", d.addressed_to);
            println!("opened by   {}", d.created_by);
            if let Some(l) = &d.label {
                println!("label       {}", vault::text::escape(l));
            }
            println!("recipient   {}", d.recipient);
            println!("max size    {}", output::size(d.max_size));
            println!("created     {}", d.created);
            println!("expires     {}", d.expires);
            println!(
                "state       {}{}",
                d.state,
                d.end_reason.as_deref().map(|r| format!(" ({})", vault::text::escape(r))).unwrap_or_default()
            );
            if d.failures > 0 {
                println!("failures    {} wrong passwords in a row", d.failures);
            }
            if let Some(ds) = &d.dataset {
                println!("dataset     {ds}");
            }
            for u in &ups {
                println!(
                    "upload      {} {} {}{}",
                    u.id,
                    u.state,
                    u.length.map_or_else(|| "length deferred".to_owned(), output::size),
                    if u.concat == "none" { String::new() } else { format!(" ({})", u.concat) }
                );
            }
        }
        Cmd::Revoke { id } => {
            let d = v.drop_revoke(id, now)?;
            eprintln!("revoked drop {} of {}: its link no longer opens", d.id, vault::text::escape(&d.client));
        }
    }
    Ok(())
}
