//! `gardien store add|list`.

use std::path::PathBuf;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a local store on a site; sites outside the allowed list are refused (LOC-1).
    #[command(after_help = "Example:\n  gardien store add strasbourg-1 --site fr-strasbourg --path /mnt/sbg/gardien")]
    Add {
        /// The store's name (lowercase letters, digits, dashes).
        name: String,
        /// The site it is on; must be one of the config's allowed_sites.
        #[arg(long)]
        site: String,
        /// The directory the blobs go to (created if missing).
        #[arg(long)]
        path: PathBuf,
    },
    /// List the stores.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    match cmd {
        Cmd::Add { name, site, path } => {
            let s = v.add_store(name, site, path, super::now())?;
            eprintln!("added store {} on {} at {}", s.name, s.site, s.location());
            Ok(())
        }
        Cmd::List { json } => {
            let stores = v.stores(super::now())?;
            if *json {
                output::json(&stores.iter().map(output::store_json).collect::<Vec<_>>())
            } else {
                output::table(
                    &["NAME", "SITE", "KIND", "LOCATION"],
                    stores.iter().map(|s| vec![s.name.clone(), s.site.clone(), s.kind_name().to_owned(), s.location()]),
                )
            }
        }
    }
}
