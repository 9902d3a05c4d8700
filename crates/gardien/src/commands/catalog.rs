//! `gardien catalog`: where the catalog and the ledger live.

use crate::Cli;

/// Where the catalog and the ledger live (SQLite in the data dir, or PostgreSQL).
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Move this data dir's catalog and ledger from SQLite to an empty PostgreSQL database.
    #[command(after_help = "Example:\n  systemctl stop gardien-serve gardien-sweep.timer\n  \
PGPASSWORD=... gardien catalog migrate --to postgres://gardien@db.rbx.example/gardien\n\n\
Stop every gardien process of this data dir first (servers, timers): one still running would\n\
keep writing to the SQLite file it opened. The copy holds the SQLite catalog's write lock and\n\
goes into one PostgreSQL transaction; then the ledger is compared on both sides (size, root,\n\
every signed checkpoint) and only if it is the same does gardien.toml name the new catalog.\n\
The SQLite files are then removed: a stale copy would keep wrapped keys that a later\n\
destruction shreds only on PostgreSQL. `gardien ledger verify` runs on the new catalog last.\n\
The URL holds no password: PGPASSWORD, then ~/.pgpass (mode 0600), as psql.")]
    Migrate {
        /// The PostgreSQL catalog: postgres://USER@HOST[:PORT]/DB (an empty database, or
        /// schema through ?options=-csearch_path%3DNAME).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Migrate { to } => {
            let r = {
                let v = super::open(cli)?;
                v.migrate_catalog(to, super::now())?
            };
            for (table, rows) in &r.tables {
                println!("copied {table}: {rows} rows");
            }
            println!(
                "ledger: {} entries, root {}, {} signed checkpoints: the same on both sides",
                r.size, r.root, r.checkpoints
            );
            println!("gardien.toml now names {}; the SQLite catalog was removed", r.url);
            let v = super::open(cli)?;
            let report = v.verify_ledger(super::now())?;
            if report.problems.is_empty() {
                println!(
                    "ledger verify on PostgreSQL: ok: {} entries, {} signed checkpoints verified",
                    report.size, report.checkpoints
                );
                Ok(())
            } else {
                for p in &report.problems {
                    println!("FAILED  {p}");
                }
                Err(super::Exit(
                    crate::exit::INTEGRITY,
                    format!("the ledger does not verify on PostgreSQL: {} problems", report.problems.len()),
                )
                .into())
            }
        }
    }
}
