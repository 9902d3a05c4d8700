//! `gardien person add|list|disable`: who acts, with which role.

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register a person. Staff roles: ops, technical-operator, sales. Client roles (with
    /// --client): client-admin, client-signer, client-tech, third-party.
    #[command(
        after_help = "Examples:\n  gardien person add jdupont --role technical-operator --name \"Jeanne Dupont\"\n  \
        gardien person add proviseur --role client-signer --client lycee-hugo"
    )]
    Add {
        /// A short handle (lowercase letters, digits, dashes).
        handle: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The client, for client roles.
        #[arg(long)]
        client: Option<String>,
        /// The person's name (kept in the catalog, never in the ledger).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the people.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a person: the door refuses them from now on; they stay on record.
    Disable {
        /// The handle.
        handle: String,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { handle, role, client, name } => {
            v.add_person(handle, role, client.as_deref(), name.as_deref(), now)?;
            eprintln!("added {handle} ({role}{})", client.as_ref().map(|c| format!(" of {c}")).unwrap_or_default());
        }
        Cmd::List { json } => {
            let people = v.persons(now)?;
            if *json {
                return output::json(
                    &people
                        .iter()
                        .map(|p| {
                            serde_json::json!({"handle": p.handle, "role": p.role, "client": p.client, "name": p.name, "disabled": p.disabled, "created": p.created})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["HANDLE", "ROLE", "CLIENT", "NAME", "DISABLED"],
                people.iter().map(|p| {
                    vec![
                        p.handle.clone(),
                        p.role.clone(),
                        p.client.clone().unwrap_or_else(|| "-".into()),
                        p.name.clone().unwrap_or_default(),
                        p.disabled.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Disable { handle } => {
            v.disable_person(handle, now)?;
            eprintln!("disabled {handle}");
        }
    }
    Ok(())
}
