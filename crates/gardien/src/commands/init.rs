//! `gardien init`.

use std::path::PathBuf;

use crate::Cli;

/// Create a data dir (running it again changes nothing).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  gardien --data-dir /srv/gardien init --operator hebergeur.example\n  gardien init --master-key /media/token/gardien-master.key\n  PGPASSWORD=... gardien init --catalog postgres://gardien@db.rbx.example/gardien\n\nWith --catalog, the catalog and the ledger live in that PostgreSQL database (one per data dir),\nso that several `gardien serve` on several machines can share them: give each machine a copy of\nthis data dir (its keys and gardien.toml). The URL holds no password: gardien reads PGPASSWORD,\nthen ~/.pgpass (mode 0600), as psql does. An existing data dir's catalog moves there with\n`gardien catalog migrate --to URL`."
)]
pub struct Args {
    /// The operator's name, a domain is best; it names the ledger's signing key.
    /// Default: this machine's host name.
    #[arg(long)]
    operator: Option<String>,
    /// Keep the catalog and the ledger in PostgreSQL at this URL (postgres://USER@HOST/DB,
    /// or postgres://USER@/DB?host=/run/postgresql) instead of SQLite in the data dir.
    #[arg(long, value_name = "URL")]
    catalog: Option<String>,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let operator = match &args.operator {
        Some(o) => o.clone(),
        None => std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default(),
    };
    let operator = if operator.is_empty() { "gardien.local".to_owned() } else { operator };
    let opts = vault::InitOptions {
        operator,
        master_key: cli.master_key.clone().map(absolute),
        catalog: args.catalog.clone(),
    };
    let r = vault::Vault::init(&cli.data_dir, &opts, super::now())?;
    if r.created {
        eprintln!("initialised {}", r.dir.display());
    } else {
        eprintln!("{} is already initialised; nothing was changed", r.dir.display());
    }
    eprintln!("  master key:   {} (public key {})", r.master_key.display(), r.master_recipient);
    eprintln!("  verifier key: {}", r.verifier_key);
    eprintln!("  keep the master key safe: without it no dataset can be read");
    Ok(())
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}
