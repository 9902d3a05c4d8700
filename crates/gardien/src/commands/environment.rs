//! `gardien environment add|list`: where copies may go (PRE-5: a pre-sales sample only to a
//! local test environment).

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register an environment copies may go to, and who holds it.
    #[command(
        after_help = "Kinds:\n  local-test  a local development or test machine: the only kind a pre-sales sample may go to (PRE-5)\n  online      anything reachable online (a staging or production platform)\n\n\
        Example:\n  gardien environment add laptop-jdupont --kind local-test --holder jdupont"
    )]
    Add {
        /// A short name (lowercase letters, digits, dashes).
        name: String,
        /// local-test or online.
        #[arg(long)]
        kind: String,
        /// The person who holds it (a copy on it is theirs to destroy and attest).
        #[arg(long)]
        holder: Option<String>,
    },
    /// List the environments.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { name, kind, holder } => {
            let e = v.add_environment(name, kind, holder.as_deref(), now)?;
            eprintln!(
                "added environment {} ({}{})",
                e.name,
                e.kind,
                e.holder.map(|h| format!(", held by {h}")).unwrap_or_default()
            );
        }
        Cmd::List { json } => {
            let envs = v.environments(now)?;
            if *json {
                return output::json(
                    &envs
                        .iter()
                        .map(|e| serde_json::json!({"name": e.name, "kind": e.kind, "holder": e.holder, "created": e.created}))
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["NAME", "KIND", "HOLDER", "CREATED"],
                envs.iter().map(|e| {
                    vec![
                        e.name.clone(),
                        e.kind.clone(),
                        e.holder.clone().unwrap_or_else(|| "-".into()),
                        e.created.clone(),
                    ]
                }),
            )?;
        }
    }
    Ok(())
}
