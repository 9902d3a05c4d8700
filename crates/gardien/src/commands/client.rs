//! `gardien client add|list|key`.

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register a client (the owner of the data it entrusts, OPS-1).
    #[command(after_help = "Example:\n  gardien client add lycee-hugo --name \"Lycée Victor Hugo\"")]
    Add {
        /// A short stable name: lowercase letters, digits, dashes.
        slug: String,
        /// The client's full name.
        #[arg(long)]
        name: String,
    },
    /// List the clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The client's own age keys: its exports go only there (OPS-2).
    #[command(subcommand)]
    Key(KeyCmd),
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCmd {
    /// Register one of the client's age keys (by the client's admin): `dataset export` may
    /// then hand the client's data back to it. Anything else leaves the vault as a copy
    /// (`copy out`), to an environment, attested destroyed with the dataset.
    #[command(after_help = "Example (the client's admin, with the public key of its own age identity):\n  \
        age-keygen -o hugo.key; age-keygen -y hugo.key\n  \
        gardien --as admin-hugo client key add lycee-hugo age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p --label \"DSI\"")]
    Add {
        /// The client's slug.
        client: String,
        /// The age recipient (age1...), the public half only.
        recipient: String,
        /// What the client calls this key.
        #[arg(long)]
        label: Option<String>,
    },
    /// Remove a key: no new export goes to it (those made stay recorded).
    Remove {
        /// The client's slug.
        client: String,
        /// The age recipient (age1...).
        recipient: String,
    },
    /// List the client's keys, in force and removed.
    List {
        /// The client's slug.
        client: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    match cmd {
        Cmd::Add { slug, name } => {
            let c = v.add_client(slug, name, super::now())?;
            eprintln!("added client {} ({})", c.slug, c.name);
            Ok(())
        }
        Cmd::Key(KeyCmd::Add { client, recipient, label }) => {
            let k = v.add_client_key(client, recipient, label.as_deref(), super::now())?;
            eprintln!("registered key {} for client {}: its exports may go there", k.recipient, k.client);
            Ok(())
        }
        Cmd::Key(KeyCmd::Remove { client, recipient }) => {
            v.remove_client_key(client, recipient, super::now())?;
            eprintln!("removed key {} of client {client}: no new export goes there", recipient.trim());
            Ok(())
        }
        Cmd::Key(KeyCmd::List { client, json }) => {
            let keys = v.client_keys(client, super::now())?;
            if *json {
                output::json(
                    &keys
                        .iter()
                        .map(|k| {
                            serde_json::json!({"client": k.client, "recipient": k.recipient, "label": k.label,
                                "added": k.added, "added_by": k.added_by, "removed": k.removed, "removed_by": k.removed_by})
                        })
                        .collect::<Vec<_>>(),
                )
            } else {
                output::table(
                    &["RECIPIENT", "LABEL", "ADDED", "BY", "STATE"],
                    keys.iter().map(|k| {
                        vec![
                            k.recipient.clone(),
                            k.label.clone().unwrap_or_default(),
                            output::day(&k.added),
                            k.added_by.clone(),
                            k.removed
                                .as_ref()
                                .map_or_else(|| "in force".to_owned(), |r| format!("removed {}", output::day(r))),
                        ]
                    }),
                )
            }
        }
        Cmd::List { json } => {
            let clients = v.clients(super::now())?;
            if *json {
                output::json(
                    &clients
                        .iter()
                        .map(|c| serde_json::json!({"slug": c.slug, "name": c.name, "created": c.created}))
                        .collect::<Vec<_>>(),
                )
            } else {
                output::table(
                    &["SLUG", "NAME", "CREATED"],
                    clients.iter().map(|c| vec![c.slug.clone(), c.name.clone(), c.created.clone()]),
                )
            }
        }
    }
}
