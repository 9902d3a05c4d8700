//! `gardien site add|list|show|check|backup` and `gardien restitution create`: a client's
//! Moodle site handed back whole at any time (OPS-2), and backed up into the vault (ARC-1).

use std::io::IsTerminal as _;
use std::path::PathBuf;

use indicatif::ProgressBar;

use crate::{Cli, output};

const DB_HELP: &str = "The database: postgres://USER@HOST[:PORT]/DB, postgres://USER@/DB?host=/run/postgresql (a socket's directory), \
mysql://USER@HOST[:PORT]/DB or mysql://USER@/DB?socket=/run/mysqld/mysqld.sock. Never a password: \
PostgreSQL's tools read ~/.pgpass, PGPASSFILE or PGPASSWORD; MariaDB's read ~/.my.cnf or MYSQL_PWD.";

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register a client's Moodle site: its database, its moodledata, its config.php.
    #[command(
        after_help = "Example:\n  gardien site add lycee-hugo-moodle --client lycee-hugo --contract lycee-hugo-2026 \\\n    \
        --db 'postgres://moodle@/moodle?host=/run/postgresql' --moodledata /srv/moodledata --config /var/www/moodle/config.php\n\n\
        Then `gardien site check SLUG` tells whether it can be handed back whole."
    )]
    Add {
        /// A short name for the site (lowercase letters, digits, inner dashes).
        slug: String,
        /// The client it belongs to.
        #[arg(long)]
        client: String,
        /// The contract it is hosted under (its backups are kept by that contract's rules).
        #[arg(long)]
        contract: String,
        #[arg(long, help = DB_HELP)]
        db: String,
        /// Moodle's data directory ($CFG->dataroot), absolute.
        #[arg(long)]
        moodledata: PathBuf,
        /// Moodle's config.php, absolute (handed back with its database password removed).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The sites, or a client's.
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A site, and its restitutions and backups still in the vault.
    Show {
        /// The site's slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a site: its database answers, and every file it references is in
    /// moodledata/filedir, named by its SHA-1. Exits 3 when something is inconsistent.
    Check {
        /// The site's slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Back the site up into the vault: a backup dataset of its contract (ARC-1), sealed,
    /// on the stores named (default: the config's), made as a restitution is.
    Backup {
        /// The site's slug.
        slug: String,
        /// Stores to write to (repeat); default: the config's default stores.
        #[arg(long = "store")]
        stores: Vec<String>,
        /// Go on when files the database references are missing or corrupt (they are listed
        /// in the archive's INCONSISTENCIES.txt).
        #[arg(long)]
        allow_missing: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a site's backup back into an empty database and an empty (or new) directory,
    /// every file checked against the archive's SHA256SUMS on the way.
    #[command(
        after_help = "The database must exist and hold no table (create it first: `createdb NAME`, or         `CREATE DATABASE NAME CHARACTER SET utf8mb4` on MariaDB); the dump is loaded by the engine's own client         (psql in one transaction, or mariadb). Then point Moodle's config.php at them and run `php admin/cli/purge_caches.php`.

        Example:
  gardien site restore ds-0123456789abcdef --db 'postgres://moodle@/moodle_restored?host=/run/postgresql' --moodledata /srv/moodledata-restored"
    )]
    Restore {
        /// The backup (a dataset id `gardien site show SITE` lists).
        backup: String,
        #[arg(long, help = DB_HELP)]
        db: String,
        /// Where moodledata goes: an empty or new directory, absolute.
        #[arg(long)]
        moodledata: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum RestitutionCmd {
    /// Hand a site back whole to its client: one age file for one of the client's keys,
    /// holding the database as SQL, moodledata, config.php (password removed), SHA256SUMS
    /// signed by the ledger's key, and a restore guide in French and English.
    #[command(after_help = "The restitution is kept in the vault as an export dataset of the client (listed, \
        downloadable again with `gardien dataset export`, destroyed by the export rule, OPS-2).\n\
        A file the database references that is missing or corrupt refuses the restitution (exit 3) unless --allow-missing.\n\n\
        The client opens it with standard tools:\n  age -d -i client.key SITE.age | tar --zstd -xf -\n  cd SITE-YYYYMMDD && sha256sum --strict -c SHA256SUMS\n\n\
        Example:\n  gardien restitution create lycee-hugo-moodle --recipient age1... -o lycee-hugo-moodle.age")]
    Create {
        /// The site's slug.
        site: String,
        /// The client's age recipient (a key its admin registered: `gardien client key list`).
        #[arg(long)]
        recipient: String,
        /// Also write the file for the client here (an export of the new dataset).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Go on when files the database references are missing or corrupt (they are listed
        /// in the archive's INCONSISTENCIES.txt).
        #[arg(long)]
        allow_missing: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A progress bar counting bytes and files.
struct SiteBar {
    pb: ProgressBar,
    what: &'static str,
}

impl vault::Progress for SiteBar {
    fn set_total(&self, total: u64) {
        self.pb.set_length(total);
    }
    fn set_done(&self, done: u64) {
        self.pb.set_position(done);
    }
    fn set_files(&self, files: u64) {
        self.pb.set_message(format!("{} ({files} files)", self.what));
    }
}

fn bar(what: &'static str) -> SiteBar {
    SiteBar { pb: output::progress(Some(0), what), what }
}

fn site_json(s: &vault::SiteRow) -> serde_json::Value {
    serde_json::json!({
        "slug": s.slug, "client": s.client, "contract": s.contract, "db": s.db_url,
        "moodledata": s.moodledata, "config": s.config_path, "created": s.created,
    })
}

fn report_json(d: &vault::Dataset, r: &moodle::Report) -> serde_json::Value {
    serde_json::json!({
        "dataset": output::dataset_json(d),
        "top": r.top, "files": r.files, "file_bytes": r.file_bytes, "db_bytes": r.db_bytes,
        "db_pieces": r.db_pieces, "referenced": r.referenced, "sums_sha256": r.sums_sha256,
        "inconsistencies": r.inconsistencies.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn print_report(what: &str, d: &vault::Dataset, r: &moodle::Report) {
    eprintln!(
        "{what} {}: {} ({} files, {}; database {} in {} piece{}), SHA256SUMS {}",
        d.id,
        r.top,
        r.files,
        output::size(r.file_bytes),
        output::size(r.db_bytes),
        r.db_pieces,
        if r.db_pieces == 1 { "" } else { "s" },
        &r.sums_sha256[..16]
    );
    if !r.inconsistencies.is_empty() {
        eprintln!("{} inconsistencies (listed in the archive's INCONSISTENCIES.txt):", r.inconsistencies.len());
        for i in r.inconsistencies.iter().take(20) {
            eprintln!("  {}", vault::text::escape(&i.to_string()));
        }
        if r.inconsistencies.len() > 20 {
            eprintln!("  ...");
        }
    }
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { slug, client, contract, db, moodledata, config } => {
            let s = v.site_add(
                &vault::NewSite { slug, client, contract, db_url: db, moodledata, config: config.as_deref() },
                now,
            )?;
            eprintln!(
                "site {} added for {} (contract {}); `gardien site check {}` tells whether it can be handed back whole",
                s.slug, s.client, s.contract, s.slug
            );
            Ok(())
        }
        Cmd::List { client, json } => {
            let sites = v.sites(client.as_deref(), now)?;
            if *json {
                return output::json(&sites.iter().map(site_json).collect::<Vec<_>>());
            }
            output::table(
                &["SITE", "CLIENT", "CONTRACT", "DATABASE", "MOODLEDATA"],
                sites.iter().map(|s| {
                    vec![
                        s.slug.clone(),
                        s.client.clone(),
                        s.contract.clone(),
                        vault::text::escape(&s.db_url),
                        vault::text::escape(&s.moodledata),
                    ]
                }),
            )
        }
        Cmd::Show { slug, json } => {
            let s = v.site(slug, now)?;
            let archives: Vec<serde_json::Value> = s
                .archives
                .iter()
                .map(|a| {
                    serde_json::json!({"dataset": a.dataset, "kind": a.kind, "recipient": a.recipient, "top": a.top,
                        "files": a.files, "file_bytes": a.file_bytes, "db_bytes": a.db_bytes,
                        "sums_sha256": a.sums_sha256,
                        "inconsistencies": a.inconsistencies.lines().collect::<Vec<_>>()})
                })
                .collect();
            if *json {
                let mut j = site_json(&s.site);
                j["archives"] = archives.into();
                return output::json(&j);
            }
            let site = &s.site;
            println!("site        {}", site.slug);
            println!("client      {}", site.client);
            println!("contract    {}", site.contract);
            // The operator's side of the site (a client's people are not shown it).
            if !site.db_url.is_empty() {
                println!("database    {}", vault::text::escape(&site.db_url));
                println!("moodledata  {}", vault::text::escape(&site.moodledata));
                println!("config.php  {}", vault::text::escape(site.config_path.as_deref().unwrap_or("(not named)")));
            }
            println!("added       {}", output::day(&site.created));
            if s.archives.is_empty() {
                println!("archives    none in the vault");
            }
            for a in &s.archives {
                println!(
                    "{:<11} {} {} ({} files, {} + database {}){}",
                    a.kind,
                    a.dataset,
                    a.top,
                    a.files,
                    output::size(a.file_bytes),
                    output::size(a.db_bytes),
                    match a.inconsistencies.lines().count() {
                        0 => String::new(),
                        n => format!(", {n} inconsistencies"),
                    }
                );
            }
            Ok(())
        }
        Cmd::Check { slug, json } => {
            let b = bar("checking");
            let r = v.site_check(slug, &b, now);
            b.pb.finish_and_clear();
            let r = r?;
            if *json {
                output::json(&serde_json::json!({
                    "site": slug, "server": r.server, "referenced": r.referenced, "checked": r.checked, "bytes": r.bytes,
                    "inconsistencies": r.inconsistencies.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))?;
            } else {
                println!("database    answers ({})", vault::text::escape(&r.server));
                println!(
                    "files       {} of the {} contents the database references checked ({})",
                    r.checked,
                    r.referenced,
                    output::size(r.bytes)
                );
                for i in &r.inconsistencies {
                    println!("  {}", vault::text::escape(&i.to_string()));
                }
            }
            if r.inconsistencies.is_empty() {
                if !*json {
                    println!("consistent: the site can be handed back whole");
                }
                Ok(())
            } else {
                Err(super::Exit(
                    crate::exit::INTEGRITY,
                    format!(
                        "site {slug}: {} inconsistencies between the database and moodledata",
                        r.inconsistencies.len()
                    ),
                )
                .into())
            }
        }
        Cmd::Backup { slug, stores, allow_missing, json } => {
            let b = bar("backing up");
            let r = v.site_backup(slug, stores, *allow_missing, &b, now);
            b.pb.finish_and_clear();
            let made = r?;
            if *json {
                return output::json(&report_json(&made.dataset, &made.report));
            }
            print_report("backup", &made.dataset, &made.report);
            println!("{}", made.dataset.id);
            Ok(())
        }
        Cmd::Restore { backup, db, moodledata } => {
            let b = bar("restoring");
            let r = v.site_restore(backup, db, moodledata, &b, now);
            b.pb.finish_and_clear();
            let r = r?;
            eprintln!(
                "restored {} from {backup}: {} files ({}) into {}, {} of SQL into {}",
                r.top,
                r.files,
                output::size(r.file_bytes),
                vault::text::escape(&moodledata.display().to_string()),
                output::size(r.db_bytes),
                vault::text::escape(&moodle::redact_url(db))
            );
            Ok(())
        }
    }
}

pub fn run_restitution(cli: &Cli, cmd: &RestitutionCmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let RestitutionCmd::Create { site, recipient, output: path, force, allow_missing, json } = cmd;
    if let Some(p) = path
        && p.exists()
        && !*force
    {
        // Checked first: an hour of packing is not lost to a name already taken.
        return Err(vault::Error::OutputExists(p.clone()).into());
    }
    // Nor to a directory that is not there.
    if let Some(p) = path {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            anyhow::bail!(
                "-o {}: {} is not a directory; nothing was changed",
                vault::text::escape(&p.display().to_string()),
                vault::text::escape(&dir.display().to_string())
            );
        }
    }
    let b = bar("packing");
    let r = v.restitution_create(site, recipient, *allow_missing, &b, super::now());
    b.pb.finish_and_clear();
    let made = r?;
    if let Some(p) = path {
        let pb = output::progress(Some(0), "writing the client's file");
        let r = v.export(&made.dataset.id, recipient, p, *force, &output::Bar(&pb), super::now());
        pb.finish_and_clear();
        if let Err(e) = r {
            // The restitution is made and kept: say so, and how to write its file again.
            print_report("restitution", &made.dataset, &made.report);
            println!("{}", made.dataset.id);
            return Err(anyhow::Error::new(e).context(format!(
                "restitution {} is made and kept in the vault, but its file was not written; write it with: gardien dataset export {} --recipient {} -o FILE",
                made.dataset.id,
                made.dataset.id,
                recipient.trim()
            )));
        }
    }
    if *json {
        return output::json(&report_json(&made.dataset, &made.report));
    }
    print_report("restitution", &made.dataset, &made.report);
    match path {
        Some(p) => {
            let shown = vault::text::escape(&p.display().to_string());
            eprintln!(
                "wrote {shown} for {}; the client opens it with: age -d -i client.key {shown} | tar --zstd -xf -",
                recipient.trim()
            );
        }
        None if std::io::stderr().is_terminal() => eprintln!(
            "the client's file: gardien dataset export {} --recipient {} -o {site}.age",
            made.dataset.id,
            recipient.trim()
        ),
        None => {}
    }
    println!("{}", made.dataset.id);
    Ok(())
}
