//! `gardien catalog migrate --to URL`: a data dir's SQLite catalog, with the ledger in it,
//! moved to PostgreSQL so that several nodes can share it.

use std::fs;

use chrono::{DateTime, Utc};

use crate::catalog::{Catalog, Location, pg};
use crate::event::{Action, Outcome};
use crate::{Error, Vault};

/// What a migration moved.
#[derive(Debug)]
pub struct MigrateReport {
    /// Where the catalog is now (as shown).
    pub url: String,
    /// Each table, with its rows.
    pub tables: Vec<(String, u64)>,
    /// Ledger entries, the same on both sides.
    pub size: u64,
    /// The ledger's root at that size, the same on both sides (hex).
    pub root: String,
    /// Signed checkpoints, the same on both sides.
    pub checkpoints: usize,
}

impl Vault {
    /// Moves this data dir's catalog to the empty PostgreSQL catalog at `url`.
    ///
    /// The move is decided by the door (`vault:migrate`, ops only) and, once the target
    /// answers, recorded before the copy, so that its event is in the log on both sides. Every row is copied under the SQLite catalog's write lock, into
    /// one PostgreSQL transaction; the ledger is then compared (same size, same root, same
    /// signed checkpoints) and, only if it is the same, `gardien.toml` names the new
    /// catalog (written aside, synced, renamed). The SQLite files are removed last: a stale
    /// copy must not be read by a process started later, nor keep wrapped keys that a
    /// destruction on PostgreSQL shreds. Every other gardien process of this data dir must
    /// be stopped first: one still running keeps writing to the file it opened.
    pub fn migrate_catalog(&self, url: &str, now: DateTime<Utc>) -> Result<MigrateReport, Error> {
        // The URL is recorded only once it is known to hold no password.
        let details = match pg::config(url) {
            Ok(_) => format!("to={}", pg::shown(url)),
            Err(_) => String::new(),
        };
        self.door(Action::CatalogMigrate, vec![], details, now, |rec| {
            if self.config.catalog.is_some() {
                return Err(Error::CatalogUrl { reason: "this data dir's catalog is on PostgreSQL already".into() });
            }
            pg::config(url)?;
            let target = Catalog::open(&Location::Postgres(url.to_owned()), &self.dir, true)?;
            let clause = rec.clause.clone();
            self.append_event(rec, Outcome::Allowed, &clause)?;
            self.copy_catalog(&target, url)
        })
    }

    fn copy_catalog(&self, target: &Catalog, url: &str) -> Result<MigrateReport, Error> {
        let mut ledger = None;
        let check = || {
            let size = self.catalog.ledger_size()?;
            let there = target.ledger_size()?;
            if size != there {
                return Err(Error::LedgerInconsistent(format!(
                    "the copy holds {there} ledger entries, the catalog {size}: nothing was switched"
                )));
            }
            let root = ledger::merkle::root(&self.catalog, size)?;
            if ledger::merkle::root(target, size)? != root {
                return Err(Error::LedgerInconsistent(
                    "the copy's ledger root differs from the catalog's: nothing was switched".into(),
                ));
            }
            let checkpoints = self.catalog.checkpoints()?;
            if target.checkpoints()? != checkpoints {
                return Err(Error::LedgerInconsistent(
                    "the copy's signed checkpoints differ from the catalog's: nothing was switched".into(),
                ));
            }
            ledger = Some((size, hex::encode(root), checkpoints.len()));
            Ok(())
        };
        let tables = self.catalog.copy_to(target, check, || self.point_config_at(url))?;
        let (size, root, checkpoints) = ledger.ok_or_else(|| Error::Corrupt("the migration did not finish".into()))?;
        for suffix in ["", "-wal", "-shm"] {
            let path = self.dir.join(format!("catalog.db{suffix}"));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(MigrateReport { url: pg::shown(url), tables, size, root, checkpoints })
    }

    /// `gardien.toml` with the `catalog` line added: written aside, synced, renamed.
    fn point_config_at(&self, url: &str) -> Result<(), Error> {
        let io = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let path = self.dir.join("gardien.toml");
        let tmp = self.dir.join("gardien.toml.new");
        let mut text = fs::read_to_string(&path).map_err(io(&path))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n# The catalog and the ledger, on PostgreSQL since `gardien catalog migrate` (the password is\n\
             # not here: PGPASSWORD or ~/.pgpass).\ncatalog = {}\n",
            toml::Value::String(url.to_owned())
        ));
        fs::write(&tmp, text).map_err(io(&tmp))?;
        fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir))?;
        Ok(())
    }
}
