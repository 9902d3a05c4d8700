//! `gardien client add|list`.

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
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    match cmd {
        Cmd::Add { slug, name } => {
            let c = v.add_client(slug, name, super::now())?;
            eprintln!("added client {} ({})", c.slug, c.name);
            Ok(())
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
