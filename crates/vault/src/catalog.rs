//! The catalog: SQLite in the data dir (`catalog.db`, WAL mode). Numbered migrations in
//! `migrations/`, never edited once shipped; `PRAGMA user_version` is how many have run,
//! and a catalog from a newer gardien is refused rather than misread.

use std::path::{Path, PathBuf};
use std::time::Duration;

use db::{Db, DbError, Optional as _, params};

use crate::Error;
use crate::model::{Client, Copy, Dataset, DatasetClass};
use crate::store::{StoreInfo, StoreKind};

mod access;
mod auth;
pub mod db;
mod drops;
mod grants;
mod outbox;
pub mod pg;
mod servers;
mod sites;

pub use access::{ApprovalRow, ClientKey, EnvironmentRow};
pub use auth::{CredentialRow, SessionRow, TokenRow};
pub use drops::{DropRow, UploadRow};
pub use grants::{BastionRow, GrantRow, ManeuverRow, RunRow};
pub use outbox::OutboxRow;
pub use servers::{AppCertRow, AppRow, ServerRow};
pub use sites::{ArchiveRow, SiteRow};

/// PostgreSQL's migrations: its first is SQLite's twenty as they leave the catalog; from
/// then on each change is one file per dialect, the same number in both lists' order.
const PG_MIGRATIONS: [&str; 1] = [include_str!("migrations/pg/0001_catalog.sql")];

const MIGRATIONS: [&str; 20] = [
    include_str!("migrations/0001_vault.sql"),
    include_str!("migrations/0002_ledger.sql"),
    include_str!("migrations/0003_lifecycle.sql"),
    include_str!("migrations/0004_people.sql"),
    include_str!("migrations/0005_access.sql"),
    include_str!("migrations/0006_client_keys.sql"),
    include_str!("migrations/0007_credentials.sql"),
    include_str!("migrations/0008_approval_views.sql"),
    include_str!("migrations/0009_drops.sql"),
    include_str!("migrations/0010_contacts.sql"),
    include_str!("migrations/0011_outbox.sql"),
    include_str!("migrations/0012_webhooks.sql"),
    include_str!("migrations/0013_sites.sql"),
    include_str!("migrations/0014_servers.sql"),
    include_str!("migrations/0015_access.sql"),
    include_str!("migrations/0016_hygiene.sql"),
    include_str!("migrations/0017_server_checks.sql"),
    include_str!("migrations/0018_app_certificates.sql"),
    include_str!("migrations/0019_fail2ban.sql"),
    include_str!("migrations/0020_s3_stores.sql"),
];

/// An open catalog.
pub struct Catalog {
    db: Db,
}

/// A dataset about to be written.
pub struct NewDataset<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its client.
    pub client: &'a str,
    /// Its class.
    pub class: DatasetClass,
    /// Its label.
    pub label: Option<&'a str>,
    /// Its contract.
    pub contract: Option<&'a str>,
    /// The public half of its key.
    pub recipient: &'a str,
    /// Its key, wrapped to the master key.
    pub wrapped_key: &'a str,
    /// When.
    pub created: &'a str,
    /// The technical operator a sample is addressed to (PRE-3).
    pub addressed_to: Option<&'a str>,
    /// Who supplied a sample (PRE-4).
    pub provider: Option<&'a str>,
}

/// A copy as fsck sees it: (store, object, its dataset's state, the tag its store gave it).
pub type ObjectRow = (String, String, String, Option<String>);

/// A copy just written, as `activate` records it.
pub struct Written {
    /// Its store.
    pub store: String,
    /// Its object's name.
    pub object: String,
    /// The tag a remote store gave it (fsck compares it later).
    pub etag: Option<String>,
}

/// A dataset row not yet active: an ingest under way, or one that died.
pub struct PendingDataset {
    /// Its id.
    pub id: String,
}

/// The catalog holds client metadata: it and its WAL files are the owner's alone (0600),
/// whatever the umask. SQLite gives its `-wal` and `-shm` files the database file's mode,
/// so the database is created 0600 before SQLite opens it; files left looser by an older
/// gardien are tightened.
fn private_files(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Io { path: p, source }
    };
    if !path.exists() {
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(io(&p))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where a data dir's catalog lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite, in the data dir (the default).
    File(PathBuf),
    /// PostgreSQL, at this URL (no password in it: PGPASSWORD or ~/.pgpass).
    Postgres(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(url),
        }
    }
}

impl Catalog {
    /// Opens (creating if asked) the catalog at `location` and brings it to the current
    /// schema.
    pub fn open(location: &Location, dir: &Path, create: bool) -> Result<Catalog, Error> {
        match location {
            Location::File(path) => Catalog::open_file(path, dir, create),
            Location::Postgres(url) => Catalog::open_pg(url, dir, create),
        }
    }

    fn open_file(path: &Path, dir: &Path, create: bool) -> Result<Catalog, Error> {
        if !create && !path.exists() {
            return Err(Error::Corrupt(format!("{} is missing", path.display())));
        }
        private_files(path)?;
        let db = rusqlite::Connection::open(path).map_err(DbError::from)?;
        db.busy_timeout(Duration::from_secs(30)).map_err(DbError::from)?;
        db.set_prepared_statement_cache_capacity(256);
        // secure_delete: freed pages are zeroed, so a deleted wrapped key does not linger
        // in the file (crypto-shredding, used by the lifecycle).
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;")
            .map_err(DbError::from)?;
        // Reads map the file instead of copying each page through a read() call: a server
        // whose connections see the WAL move at every group commit rereads pages often.
        db.execute_batch("PRAGMA mmap_size = 268435456;").map_err(DbError::from)?;
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(DbError::from)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::TooNew { dir: dir.to_owned(), found: version, supported: known });
        }
        // Migrations run with foreign keys off (the only way SQLite lets a table be
        // rebuilt), then the whole catalog is checked before they are turned on.
        let mut db = db;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = db.transaction().map_err(DbError::from)?;
            tx.execute_batch(sql).map_err(DbError::from)?;
            tx.pragma_update(None, "user_version", i as i64 + 1).map_err(DbError::from)?;
            let broken: Option<String> =
                tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).map_err(DbError::from).optional()?;
            if let Some(table) = broken {
                return Err(Error::Corrupt(format!("migration {} left a broken reference in {table}", i + 1)));
            }
            tx.commit().map_err(DbError::from)?;
        }
        db.execute_batch("PRAGMA foreign_keys = ON;").map_err(DbError::from)?;
        Ok(Catalog { db: Db::Lite(db) })
    }

    /// A PostgreSQL catalog: one database (or one schema, through the URL's `options`) per
    /// data dir. Its migrations are PostgreSQL's own (`PG_MIGRATIONS`), run under the
    /// write lock so that two nodes starting at once do not both run them.
    fn open_pg(url: &str, dir: &Path, create: bool) -> Result<Catalog, Error> {
        let config = pg::config(url)?;
        let db = Db::connect_pg(&config)
            .map_err(|e| Error::CatalogUnreachable { url: pg::shown(url), reason: e.to_string() })?;
        // Up to date (every open but the first after an upgrade): no lock is taken, so a
        // reader does not wait for writers.
        let version = |db: &Db| -> Result<Option<i64>, Error> {
            let exists: bool = db.query_row(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                   WHERE table_schema = current_schema() AND table_name = 'gardien_schema')",
                [],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(None);
            }
            Ok(Some(db.query_row("SELECT version FROM gardien_schema", [], |r| r.get(0))?))
        };
        if version(&db)? == Some(PG_MIGRATIONS.len() as i64) {
            return Ok(Catalog { db });
        }
        db.begin_write()?;
        let run = || -> Result<(), Error> {
            // Read again under the lock: another node may have migrated meanwhile.
            let version = match version(&db)? {
                Some(v) => v,
                None if create => {
                    db.execute_batch(
                        "CREATE TABLE gardien_schema (version BIGINT NOT NULL); INSERT INTO gardien_schema VALUES (0);",
                    )?;
                    0
                }
                None => {
                    return Err(Error::Corrupt(format!(
                        "the PostgreSQL catalog {} holds no gardien catalog",
                        pg::shown(url)
                    )));
                }
            };
            let known = PG_MIGRATIONS.len() as i64;
            if version > known {
                return Err(Error::TooNew { dir: dir.to_owned(), found: version, supported: known });
            }
            for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(version as usize) {
                db.execute_batch(sql)?;
                db.execute("UPDATE gardien_schema SET version = ?1", [i as i64 + 1])?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => db.commit()?,
            Err(e) => {
                let _ = db.rollback();
                return Err(e);
            }
        }
        Ok(Catalog { db })
    }

    /// Copies this SQLite catalog, every table and row, into `target`, an empty PostgreSQL
    /// catalog. This catalog's write lock is held throughout, so nothing is written here
    /// that the copy would miss, and an ingest under way (a pending dataset) refuses the
    /// move. The target is written in one transaction: `check` runs inside it (it sees the
    /// copy, uncommitted) and a failure leaves the target empty. Once it is committed,
    /// `switch` points the data dir at it; if that fails, the copy is deleted again. Last,
    /// still under the lock, this catalog is closed to writes for good (a trigger refuses
    /// every ledger append: a process that still has the file open fails closed instead of
    /// writing where nobody reads). Tables go in the order their references need; holds in
    /// their rowid order (PostgreSQL numbers them again, in that order). Returns each table
    /// with its rows.
    pub fn copy_to(
        &self,
        target: &Catalog,
        check: impl FnOnce() -> Result<(), Error>,
        switch: impl FnOnce() -> Result<(), Error>,
    ) -> Result<Vec<(String, u64)>, Error> {
        let Some(lite) = self.db.lite() else {
            return Err(Error::CatalogUrl { reason: "this data dir's catalog is on PostgreSQL already".into() });
        };
        self.db.begin_write()?;
        let copied = (|| -> Result<Vec<(String, u64)>, Error> {
            let tables: Vec<String> = lite
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            // Referenced tables first.
            let mut order: Vec<String> = Vec::new();
            let mut left = tables.clone();
            while !left.is_empty() {
                let before = left.len();
                let mut i = 0;
                while i < left.len() {
                    let deps: Vec<String> = lite
                        .prepare(&format!("SELECT \"table\" FROM pragma_foreign_key_list('{}')", left[i]))?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    if deps.iter().all(|d| d == &left[i] || order.contains(d) || !tables.contains(d)) {
                        order.push(left.remove(i));
                    } else {
                        i += 1;
                    }
                }
                if left.len() == before {
                    return Err(Error::Corrupt(format!("the catalog's references go round in a circle: {left:?}")));
                }
            }
            let pending: i64 =
                self.db.query_row("SELECT count(*) FROM datasets WHERE state = 'pending'", [], |r| r.get(0))?;
            if pending != 0 {
                return Err(Error::CatalogUrl {
                    reason: format!(
                        "{pending} ingests are under way in another gardien process: stop every gardien process of this data dir (servers, timers, ingests), then migrate"
                    ),
                });
            }
            target.db.begin_write()?;
            let mut rows_there = 0i64;
            for table in &order {
                rows_there +=
                    target.db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))?;
            }
            if rows_there != 0 {
                let _ = target.db.rollback();
                return Err(Error::CatalogUrl {
                    reason: "the PostgreSQL catalog is not empty: migrate to a new database or schema (a migration \
                             of this data dir that did not finish may have left its copy there: drop that schema)"
                        .into(),
                });
            }
            let mut counts = Vec::new();
            let result = (|| -> Result<(), Error> {
                for table in &order {
                    let columns: Vec<String> = lite
                        .prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))?
                        .query_map([], |r| r.get(0))?
                        .collect::<Result<_, _>>()?;
                    let list = columns.join(", ");
                    let marks = (1..=columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                    let insert = format!("INSERT INTO {table} ({list}) VALUES ({marks})");
                    let order_by = if table == "holds" { " ORDER BY rowid" } else { "" };
                    let mut st = lite.prepare(&format!("SELECT {list} FROM {table}{order_by}"))?;
                    let mut rows = st.query([])?;
                    let mut n = 0u64;
                    while let Some(r) = rows.next()? {
                        let values = (0..columns.len())
                            .map(|i| r.get::<_, rusqlite::types::Value>(i))
                            .collect::<Result<Vec<_>, _>>()?;
                        let args: Vec<&dyn rusqlite::ToSql> =
                            values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
                        target.db.execute(&insert, args.as_slice())?;
                        n += 1;
                    }
                    let there: i64 = target.db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                    if there as u64 != n {
                        return Err(Error::Corrupt(format!("{table}: {n} rows read, {there} in PostgreSQL")));
                    }
                    counts.push((table.clone(), n));
                }
                // outbox.id is an identity: the next one follows the copied ones.
                target.db.execute_batch(
                    "SELECT setval(pg_get_serial_sequence('outbox', 'id'), COALESCE((SELECT MAX(id) FROM outbox), 0) + 1, false)",
                )?;
                check()
            })();
            match result {
                Ok(()) => target.db.commit()?,
                Err(e) => {
                    let _ = target.db.rollback();
                    return Err(e);
                }
            }
            if let Err(e) = switch() {
                let wiped = target.db.begin_write().map_err(Error::from).and_then(|()| {
                    for table in order.iter().rev() {
                        target.db.execute(&format!("DELETE FROM {table}"), [])?;
                    }
                    Ok(target.db.commit()?)
                });
                if let Err(w) = wiped {
                    let _ = target.db.rollback();
                    tracing::error!("the copy in PostgreSQL could not be deleted after a failed switch: {w}");
                }
                return Err(e);
            }
            self.db.execute_batch(
                "CREATE TRIGGER gardien_moved BEFORE INSERT ON ledger_entries BEGIN
                     SELECT RAISE(ABORT, 'this catalog moved to PostgreSQL (gardien.toml names it): nothing was done');
                 END;",
            )?;
            Ok(counts)
        })();
        match copied {
            // Closed for writes, committed: a process with the file still open fails closed.
            Ok(counts) => {
                self.db.commit()?;
                Ok(counts)
            }
            Err(e) => {
                let _ = self.db.rollback();
                Err(e)
            }
        }
    }

    /// Whether a copy of a dataset not destroyed (live, or being destroyed) is `object` on
    /// `store`: a destroyed dataset's object found again is an orphan.
    pub fn copy_recorded(&self, store: &str, object: &str) -> Result<bool, Error> {
        Ok(self
            .db
            .prepare_cached(
                "SELECT 1 FROM copies c JOIN datasets d ON d.id = c.dataset
                 WHERE c.store = ?1 AND c.object = ?2 AND d.state IN ('active', 'destroying')",
            )?
            .exists([store, object])?)
    }

    /// Holds the cross-node lock `name` on this connection (see `Db::hold`).
    pub fn hold_lock(&self, name: &str) -> Result<(), Error> {
        Ok(self.db.hold(name)?)
    }

    /// Lets go of `hold_lock(name)`.
    pub fn let_go(&self, name: &str) -> Result<(), Error> {
        Ok(self.db.let_go(name)?)
    }

    /// Whether another connection holds `name` (`None`: SQLite, ask the lock file).
    pub fn held_elsewhere(&self, name: &str) -> Result<Option<bool>, Error> {
        Ok(self.db.held_elsewhere(name)?)
    }

    /// A value from the meta table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(self.db.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    /// Sets a meta value (a setting the operator changes).
    pub fn meta_set(&self, key: &str, value: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Sets a meta value unless one is there; returns the value in force.
    pub fn meta_init(&self, key: &str, value: &str) -> Result<String, Error> {
        self.db.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING", [key, value])?;
        self.meta(key)?.ok_or_else(|| Error::Corrupt(format!("meta key {key} vanished")))
    }

    /// Records a store; an existing name is an error.
    pub fn add_store(&self, s: &StoreInfo) -> Result<(), Error> {
        let (endpoint, region, credentials, ca) = match &s.kind {
            StoreKind::Local { .. } => (None, None, None, None),
            StoreKind::S3(b) => (
                Some(b.endpoint.as_str()),
                Some(b.region.as_str()),
                b.credentials.as_ref().map(|p| p.to_string_lossy()),
                b.ca.as_ref().map(|p| p.to_string_lossy()),
            ),
        };
        let n = self.db.execute(
            "INSERT INTO stores (name, kind, site, location, endpoint, region, credentials, ca, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            params![s.name, s.kind_name(), s.site, s.location(), endpoint, region, credentials, ca, s.created],
        )?;
        if n == 0 {
            return Err(Error::StoreExists(s.name.clone()));
        }
        Ok(())
    }

    /// All stores, by name.
    pub fn stores(&self) -> Result<Vec<StoreInfo>, Error> {
        let mut st = self.db.prepare(
            "SELECT name, kind, site, location, created, endpoint, region, credentials, ca FROM stores ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?),
                (
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let ((name, kind, site, location, created), (endpoint, region, credentials, ca)) = row?;
            let kind = match (kind.as_str(), endpoint, region) {
                ("local", ..) => StoreKind::Local { root: PathBuf::from(location) },
                ("s3", Some(endpoint), Some(region)) => {
                    let (bucket, prefix) = crate::store::parse_s3_url(&location)
                        .map_err(|e| Error::Corrupt(format!("store {name}: {e}")))?;
                    StoreKind::S3(crate::store::S3Bucket {
                        endpoint,
                        region,
                        bucket,
                        prefix,
                        credentials: credentials.map(PathBuf::from),
                        ca: ca.map(PathBuf::from),
                    })
                }
                (other, ..) => return Err(Error::Corrupt(format!("store {name} has unknown kind {other}"))),
            };
            out.push(StoreInfo { name, site, kind, created });
        }
        Ok(out)
    }

    /// One store.
    pub fn store(&self, name: &str) -> Result<StoreInfo, Error> {
        self.stores()?.into_iter().find(|s| s.name == name).ok_or_else(|| Error::UnknownStore(name.to_owned()))
    }

    /// Records a client; an existing slug is an error.
    pub fn add_client(&self, c: &Client) -> Result<(), Error> {
        let n = self.db.execute(
            "INSERT INTO clients (slug, name, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![c.slug, c.name, c.created],
        )?;
        if n == 0 {
            return Err(Error::ClientExists(c.slug.clone()));
        }
        Ok(())
    }

    /// All clients, by slug.
    pub fn clients(&self) -> Result<Vec<Client>, Error> {
        let mut st = self.db.prepare("SELECT slug, name, created FROM clients ORDER BY slug")?;
        let rows = st.query_map([], |r| Ok(Client { slug: r.get(0)?, name: r.get(1)?, created: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a client exists.
    pub fn has_client(&self, slug: &str) -> Result<bool, Error> {
        Ok(self.db.query_row("SELECT 1 FROM clients WHERE slug = ?1", [slug], |_| Ok(())).optional()?.is_some())
    }

    /// Inserts a dataset in the pending state, with its wrapped key.
    pub fn insert_pending(&self, d: &NewDataset<'_>) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO datasets (id, client, class, label, state, recipient, wrapped_key, created, contract, addressed_to, provider)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, ?10)",
            params![d.id, d.client, d.class.as_str(), d.label, d.recipient, d.wrapped_key, d.created, d.contract, d.addressed_to, d.provider],
        )?;
        Ok(())
    }

    /// Makes a pending dataset active with its digest and copies. Call it inside `write`,
    /// so that it is atomic (and recorded with its event).
    pub fn activate(&self, id: &str, size: u64, sha256: &str, copies: &[Written]) -> Result<(), Error> {
        for w in copies {
            self.db.execute(
                "INSERT INTO copies (dataset, store, object, etag) VALUES (?1, ?2, ?3, ?4)",
                params![id, w.store, w.object, w.etag],
            )?;
        }
        let n = self.db.execute(
            "UPDATE datasets SET state = 'active', size = ?2, sha256 = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, size as i64, sha256],
        )?;
        if n != 1 {
            return Err(Error::Corrupt(format!("dataset {id} was no longer pending when its copies were complete")));
        }
        Ok(())
    }

    /// Runs `f` in one write transaction (BEGIN IMMEDIATE: writers queue here, so two
    /// processes never append at the same index). Committed if `f` succeeds, rolled back
    /// otherwise. Not re-entrant.
    pub fn write<T>(&self, f: impl FnOnce(&Catalog) -> Result<T, Error>) -> Result<T, Error> {
        self.db.begin_write()?;
        match f(self) {
            Ok(v) => match self.db.commit() {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.db.rollback();
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.db.rollback();
                Err(e)
            }
        }
    }

    /// Runs `f` in one read transaction: one consistent snapshot, and one file lock
    /// instead of one per statement. Inside a transaction already, runs `f` in it.
    pub fn read<T>(&self, f: impl FnOnce(&Catalog) -> Result<T, Error>) -> Result<T, Error> {
        if self.db.in_transaction() {
            return f(self);
        }
        self.db.begin_read()?;
        let r = f(self);
        // A read transaction has nothing to undo: ending it is all COMMIT does here.
        self.db.commit()?;
        r
    }

    /// Number of ledger entries.
    pub fn ledger_size(&self) -> Result<u64, Error> {
        Ok(self.db.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_entries", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Appends an entry and the subtree hashes it completes; returns its index. Call it
    /// inside `write`.
    pub fn ledger_append(&self, entry: &[u8], salt: &[u8], details: &str) -> Result<u64, Error> {
        self.ledger_append_all(&[(entry, salt, details)])
    }

    /// Appends entries in order (one group of the group commit); returns the first's
    /// index. The tree's right edge is read once for the group, then kept in memory. Call
    /// it inside `write`.
    pub fn ledger_append_all(&self, entries: &[(&[u8], &[u8], &str)]) -> Result<u64, Error> {
        let size = self.ledger_size()?;
        if self.ledger_node(0, size)?.is_some() {
            return Err(Error::LedgerInconsistent(format!(
                "entries from {size} on were removed but their hashes remain: the log was truncated; see `gardien ledger verify`"
            )));
        }
        // The right edge of the tree: the complete subtrees of the binary decomposition of
        // `size`, largest first, so the smallest is on top.
        let mut edge = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) != 0 {
                edge.push(ledger::merkle::Hashes::subtree(self, level, start >> level)?);
                start += 1 << level;
            }
        }
        use rusqlite::types::Value;
        let mut entry_rows = Vec::with_capacity(entries.len());
        let mut detail_rows = Vec::with_capacity(entries.len());
        let mut node_rows = Vec::with_capacity(2 * entries.len());
        for (i, (entry, salt, details)) in entries.iter().enumerate() {
            let idx = size + i as u64;
            entry_rows.push(vec![Value::Integer(idx as i64), Value::Blob(entry.to_vec())]);
            detail_rows.push(vec![
                Value::Integer(idx as i64),
                Value::Blob(salt.to_vec()),
                Value::Text((*details).to_owned()),
            ]);
            for (level, n, hash) in ledger::merkle::append(&mut edge, idx, ledger::merkle::leaf_hash(entry)) {
                node_rows.push(vec![
                    Value::Integer(level.into()),
                    Value::Integer(n as i64),
                    Value::Blob(hash.to_vec()),
                ]);
            }
        }
        // Sent as one pipeline per statement on PostgreSQL (one round trip for the group).
        self.db.execute_rows("INSERT INTO ledger_entries (idx, entry) VALUES (?1, ?2)", &entry_rows)?;
        self.db.execute_rows("INSERT INTO event_details (idx, salt, details) VALUES (?1, ?2, ?3)", &detail_rows)?;
        self.db.execute_rows("INSERT INTO ledger_nodes (level, idx, hash) VALUES (?1, ?2, ?3)", &node_rows)?;
        Ok(size)
    }

    /// The entry at `idx`.
    pub fn ledger_entry(&self, idx: u64) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .db
            .query_row("SELECT entry FROM ledger_entries WHERE idx = ?1", [idx as i64], |r| r.get(0))
            .optional()?)
    }

    /// Entries `[from, to)` in order, for a full verification.
    pub fn ledger_entries(
        &self,
        from: u64,
        to: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.db.each(
            "SELECT idx, entry FROM ledger_entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx",
            params![from as i64, to as i64],
            |row| {
                let (idx, entry) = entry_of(row)?;
                each(idx, entry)
            },
        )
    }

    /// The entries whose bytes contain `needle` (an event's `resource client:SLUG` line),
    /// in order: SQLite scans the bytes, only the matches are decoded.
    pub fn ledger_entries_containing(
        &self,
        needle: &[u8],
        from: u64,
        limit: usize,
        mut each: impl FnMut(u64, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.db.each(
            "SELECT idx, entry FROM ledger_entries WHERE idx >= ?2 AND instr(entry, ?1) > 0 ORDER BY idx LIMIT ?3",
            params![needle, from as i64, limit.min(i64::MAX as usize) as i64],
            |row| {
                let (idx, entry) = entry_of(row)?;
                each(idx, entry)
            },
        )
    }

    /// Every entry in order, with the leaf hash stored for it (if any).
    pub fn ledger_entries_with_leaves(
        &self,
        mut each: impl FnMut(u64, &[u8], Option<ledger::Hash>, Option<(&[u8], &str)>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.db.each(
            "SELECT e.idx, e.entry, n.hash, d.salt, d.details FROM ledger_entries e
             LEFT JOIN ledger_nodes n ON n.level = 0 AND n.idx = e.idx
             LEFT JOIN event_details d ON d.idx = e.idx ORDER BY e.idx",
            [],
            |row| {
                let corrupt = |idx: i64| move |e| Error::Corrupt(format!("ledger entry {idx}: {e}"));
                let idx: i64 = row.get(0).map_err(DbError::from)?;
                let entry = row.get_ref(1).map_err(DbError::from)?.as_blob().map_err(corrupt(idx))?;
                let leaf: Option<Vec<u8>> = row.get(2).map_err(DbError::from)?;
                let salt = row.get_ref(3).map_err(DbError::from)?.as_blob_or_null().map_err(corrupt(idx))?;
                let details = row.get_ref(4).map_err(DbError::from)?.as_str_or_null().map_err(corrupt(idx))?;
                each(idx as u64, entry, leaf.and_then(|l| l.try_into().ok()), salt.zip(details))
            },
        )
    }

    /// The stored subtree hash at (level, idx), if any.
    pub fn ledger_node(&self, level: u32, idx: u64) -> Result<Option<ledger::Hash>, Error> {
        let h: Option<Vec<u8>> = self
            .db
            .prepare_cached("SELECT hash FROM ledger_nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, idx as i64], |r| r.get(0))
            .optional()?;
        h.map(|h| h.try_into().map_err(|_| Error::Corrupt(format!("ledger node ({level}, {idx}) is not 32 bytes"))))
            .transpose()
    }

    /// Records a signed checkpoint.
    pub fn add_checkpoint(&self, size: u64, note: &str, created: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO ledger_checkpoints (size, note, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![size as i64, note, created],
        )?;
        Ok(())
    }

    /// The largest signed checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, Error> {
        Ok(self
            .db
            .query_row("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .optional()?)
    }

    /// Every signed checkpoint, by size.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>, Error> {
        let mut st = self.db.prepare("SELECT size, note FROM ledger_checkpoints ORDER BY size")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a dataset row if it is still pending; returns whether it was.
    pub fn delete_pending(&self, id: &str) -> Result<bool, Error> {
        Ok(self.db.execute("DELETE FROM datasets WHERE id = ?1 AND state = 'pending'", [id])? == 1)
    }

    /// Every pending dataset.
    pub fn pending(&self) -> Result<Vec<PendingDataset>, Error> {
        let mut st = self.db.prepare("SELECT id FROM datasets WHERE state = 'pending' ORDER BY id")?;
        let rows = st.query_map([], |r| Ok(PendingDataset { id: r.get(0)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Active datasets (and, if asked, destroyed ones), oldest first, optionally of one client.
    pub fn datasets(&self, client: Option<&str>, with_destroyed: bool) -> Result<Vec<Dataset>, Error> {
        let ids: Vec<String> = {
            // No `?1 IS NULL OR ...`: SQLite cannot use an index through it.
            let mut st = self.db.prepare_cached(match (client, with_destroyed) {
                (Some(_), false) => {
                    "SELECT id FROM datasets WHERE state = 'active' AND client = ?1 ORDER BY created, id"
                }
                (None, false) => "SELECT id FROM datasets WHERE state = 'active' AND ?1 IS NULL ORDER BY created, id",
                (Some(_), true) => {
                    "SELECT id FROM datasets WHERE state != 'pending' AND client = ?1 ORDER BY created, id"
                }
                (None, true) => "SELECT id FROM datasets WHERE state != 'pending' AND ?1 IS NULL ORDER BY created, id",
            })?;
            st.query_map([client], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        ids.iter().map(|id| self.dataset(id)).collect()
    }

    /// One dataset with its copies; a pending one is reported as such.
    pub fn dataset(&self, id: &str) -> Result<Dataset, Error> {
        let row = self
            .db
            .query_row(
                "SELECT client, class, label, state, size, sha256, created, contract, destroyed, rule, clause, event, addressed_to, provider
                 FROM datasets WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        (
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<i64>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                            r.get::<_, String>(6)?,
                        ),
                        (
                            r.get::<_, Option<String>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, Option<String>>(9)?,
                            r.get::<_, Option<String>>(10)?,
                            r.get::<_, Option<i64>>(11)?,
                        ),
                        (r.get::<_, Option<String>>(12)?, r.get::<_, Option<String>>(13)?),
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| Error::UnknownDataset(id.to_owned()))?;
        let (
            (client, class, label, state, size, sha256, created),
            (contract, destroyed, rule, clause, event),
            (addressed_to, provider),
        ) = row;
        let destruction = match (destroyed, rule, clause) {
            (Some(at), Some(rule), Some(clause)) => {
                Some(crate::model::Destruction { at, rule, clause, event: event.map(|e| e as u64) })
            }
            _ => None,
        };
        if state == "pending" {
            return Err(Error::Pending(id.to_owned()));
        }
        let mut st = self.db.prepare_cached(
            "SELECT c.store, s.site, c.object FROM copies c JOIN stores s ON s.name = c.store WHERE c.dataset = ?1 ORDER BY c.store",
        )?;
        let copies = st
            .query_map([id], |r| Ok(Copy { store: r.get(0)?, site: r.get(1)?, object: r.get(2)? }))?
            .collect::<Result<_, _>>()?;
        let holds = self
            .db
            .prepare_cached("SELECT held, released, reason FROM holds WHERE dataset = ?1 ORDER BY held, rowid")?
            .query_map([id], |r| Ok(crate::model::Hold { held: r.get(0)?, released: r.get(1)?, reason: r.get(2)? }))?
            .collect::<Result<_, _>>()?;
        Ok(Dataset {
            holds,
            id: id.to_owned(),
            client,
            class: class.parse()?,
            label,
            contract,
            destruction,
            size: size.unwrap_or(0) as u64,
            sha256: sha256.unwrap_or_default(),
            created,
            state,
            copies,
            addressed_to,
            provider,
            fate: None,
        })
    }

    /// Fails unless the dataset is still `active`: checked in the write transaction that
    /// records a read (`get`, `copy out`, `export`), so that a read racing a sweep is
    /// either recorded before the key is shredded (and its copy blocks the destruction)
    /// or refused (PRE-6: nothing read after destruction).
    pub fn ensure_active(&self, id: &str) -> Result<(), Error> {
        let row: Option<(String, Option<String>)> = self
            .db
            .prepare_cached("SELECT state, destroyed FROM datasets WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((state, _)) if state == "active" => Ok(()),
            Some((_, at)) => Err(Error::Destroyed { id: id.to_owned(), at: at.unwrap_or_default(), certificate: None }),
            None => Err(Error::UnknownDataset(id.to_owned())),
        }
    }

    /// The wrapped key of a dataset.
    pub fn wrapped_key(&self, id: &str) -> Result<String, Error> {
        let (key, destroyed): (Option<String>, Option<String>) = self
            .db
            .query_row("SELECT wrapped_key, destroyed FROM datasets WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or_else(|| Error::UnknownDataset(id.to_owned()))?;
        key.ok_or_else(|| Error::Destroyed { id: id.to_owned(), at: destroyed.unwrap_or_default(), certificate: None })
    }

    /// Every copy the catalog knows: (store, object, its dataset's state, the tag its store
    /// gave it), for fsck.
    pub fn objects(&self) -> Result<Vec<ObjectRow>, Error> {
        let mut st = self
            .db
            .prepare("SELECT c.store, c.object, d.state, c.etag FROM copies c JOIN datasets d ON d.id = c.dataset")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl ledger::merkle::Hashes for Catalog {
    type Error = Error;
    fn subtree(&self, level: u32, index: u64) -> Result<ledger::Hash, Error> {
        self.ledger_node(level, index)?
            .ok_or_else(|| Error::Corrupt(format!("the ledger has no hash for subtree ({level}, {index})")))
    }
}

/// A `SELECT idx, entry` row of the ledger.
fn entry_of<'r>(row: &'r db::Row<'_>) -> Result<(u64, &'r [u8]), Error> {
    let idx: i64 = row.get(0).map_err(DbError::from)?;
    let entry = row
        .get_ref(1)
        .map_err(DbError::from)?
        .as_blob()
        .map_err(|e| Error::Corrupt(format!("ledger entry {idx}: {e}")))?;
    Ok((idx as u64, entry))
}

fn when(s: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    s.map(|s| lifecycle::parse_instant(&s).map_err(|e| Error::Corrupt(format!("catalog date: {e}")))).transpose()
}

fn text(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(crate::rfc3339)
}

const CONTRACT_COLUMNS: &str =
    "name, client, presales_until, deal, deal_on, vsr_until, ends, custody_months, admin_window_until, created";

/// A contract as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractRow {
    /// The dates the rules read.
    pub contract: lifecycle::Contract,
    /// The client.
    pub client: String,
    /// When it was recorded.
    pub created: String,
}

impl Catalog {
    /// Records a new contract; an existing name is an error.
    pub fn add_contract(&self, row: &ContractRow) -> Result<(), Error> {
        let c = &row.contract;
        let n = self.db.execute(
            "INSERT INTO contracts (name, client, presales_until, deal, deal_on, vsr_until, ends, custody_months, admin_window_until, created)
             VALUES (?1, ?2, ?3, 'undecided', NULL, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            params![c.case, row.client, text(c.presales_until), text(c.vsr_until), text(c.ends), c.custody_months, text(c.admin_window_until), row.created],
        )?;
        if n == 0 {
            return Err(Error::ContractExists(c.case.clone()));
        }
        Ok(())
    }

    /// Rewrites a contract's dates and deal.
    pub fn update_contract(&self, c: &lifecycle::Contract) -> Result<(), Error> {
        let (deal, on) = match c.deal {
            lifecycle::Deal::Undecided => ("undecided", None),
            lifecycle::Deal::Concluded { on } => ("concluded", Some(on)),
            lifecycle::Deal::Lost { on } => ("lost", Some(on)),
        };
        self.db.execute(
            "UPDATE contracts SET presales_until = ?2, deal = ?3, deal_on = ?4, vsr_until = ?5, ends = ?6, custody_months = ?7, admin_window_until = ?8 WHERE name = ?1",
            params![c.case, text(c.presales_until), deal, text(on), text(c.vsr_until), text(c.ends), c.custody_months, text(c.admin_window_until)],
        )?;
        Ok(())
    }

    /// One contract.
    pub fn contract(&self, name: &str) -> Result<ContractRow, Error> {
        self.contract_rows(&format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE name = ?1"), Some(name))?
            .pop()
            .ok_or_else(|| Error::UnknownContract(name.to_owned()))
    }

    /// A client's contracts, by name.
    pub fn client_contracts(&self, client: &str) -> Result<Vec<ContractRow>, Error> {
        self.contract_rows(
            &format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE client = ?1 ORDER BY name"),
            Some(client),
        )
    }

    /// Every contract, or the one named.
    pub fn contracts(&self, only: Option<&str>) -> Result<Vec<ContractRow>, Error> {
        match only {
            Some(name) => Ok(vec![self.contract(name)?]),
            None => self.contract_rows(&format!("SELECT {CONTRACT_COLUMNS} FROM contracts ORDER BY name"), None),
        }
    }

    /// A contract of the client that may be in operation at `now` (a superset filter on
    /// indexed columns: not ended, and a concluded deal dated by then or no pre-sales
    /// period and no deal); the phase itself is `lifecycle`'s.
    pub fn operating_contract(&self, client: &str, now: &str) -> Result<Option<lifecycle::Contract>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE client = ?1 AND (ends IS NULL OR ends > ?2)
               AND ((deal = 'concluded' AND deal_on <= ?2) OR (deal = 'undecided' AND presales_until IS NULL))
             LIMIT 1"
        ))?;
        let row = st.query_row(params![client, now], contract_fields).optional()?;
        Ok(row.map(contract_of).transpose()?.map(|r| r.contract))
    }

    /// The contracts of a client that may still be open at `now` (not ended, or in their
    /// admin window), lazily, until `each` says stop: a superset filter on indexed dates,
    /// the phase itself is `lifecycle`'s. Returns whether the client has any contract.
    pub fn open_contracts(
        &self,
        client: &str,
        now: &str,
        mut each: impl FnMut(lifecycle::Contract) -> bool,
    ) -> Result<bool, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {CONTRACT_COLUMNS} FROM contracts WHERE client = ?1 AND (ends IS NULL OR ends > ?2 OR admin_window_until > ?2)"
        ))?;
        let rows = st.query_map(params![client, now], contract_fields)?;
        let mut any = false;
        for r in rows {
            any = true;
            if !each(contract_of(r?)?.contract) {
                break;
            }
        }
        if any {
            return Ok(true);
        }
        Ok(self.db.prepare_cached("SELECT 1 FROM contracts WHERE client = ?1 LIMIT 1")?.exists([client])?)
    }

    fn contract_rows(&self, sql: &str, param: Option<&str>) -> Result<Vec<ContractRow>, Error> {
        let mut st = self.db.prepare_cached(sql)?;
        let rows: Vec<ContractFields> = match param {
            Some(p) => st.query_map([p], contract_fields)?.collect::<Result<_, _>>()?,
            None => st.query_map([], contract_fields)?.collect::<Result<_, _>>()?,
        };
        rows.into_iter().map(contract_of).collect()
    }
}

/// A contract row's columns (`CONTRACT_COLUMNS`), as stored.
type ContractFields = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    u32,
    Option<String>,
    String,
);

fn contract_fields(r: &db::Row<'_>) -> rusqlite::Result<ContractFields> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

fn contract_of(row: ContractFields) -> Result<ContractRow, Error> {
    let (name, client, presales, deal, deal_on, vsr, ends, custody, window, created) = row;
    let on = when(deal_on)?;
    let deal = match (deal.as_str(), on) {
        ("concluded", Some(on)) => lifecycle::Deal::Concluded { on },
        ("lost", Some(on)) => lifecycle::Deal::Lost { on },
        ("undecided", None) => lifecycle::Deal::Undecided,
        _ => return Err(Error::Corrupt(format!("contract {name} has deal {deal} without a date"))),
    };
    let contract = lifecycle::Contract {
        case: name,
        presales_until: when(presales)?,
        deal,
        vsr_until: when(vsr)?,
        ends: when(ends)?,
        custody_months: custody,
        admin_window_until: when(window)?,
    };
    Ok(ContractRow { contract, client, created })
}

/// A dataset the sweeper looks at.
#[derive(Debug, Clone)]
pub struct SweepCandidate {
    /// Its id.
    pub id: String,
    /// Its class.
    pub class: DatasetClass,
    /// When it was taken in.
    pub created: chrono::DateTime<chrono::Utc>,
    /// Its contract, if any.
    pub contract: Option<String>,
    /// True when a crashed sweep already shredded its key.
    pub destroying: bool,
    /// Its legal holds.
    pub holds: Vec<lifecycle::Hold>,
}

impl Catalog {
    /// The datasets some rule may make due at `at`, with their holds: a superset found
    /// through indexes (contracts whose dates have passed, exports by age, datasets a
    /// crashed sweep left half-destroyed), which the exact rules in `lifecycle` then decide.
    /// Never a subset: holds only delay, and month arithmetic gets 4 days of margin.
    pub fn sweep_candidates(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        export_days: u32,
    ) -> Result<Vec<SweepCandidate>, Error> {
        let at_s = crate::rfc3339(at);
        let export_before = crate::rfc3339(at - chrono::Duration::days(i64::from(export_days)));
        let mut st = self.db.prepare_cached(
            "SELECT d.id, d.class, d.created, d.contract, d.state FROM contracts c
                 JOIN datasets d ON d.contract = c.name AND d.state = 'active' AND d.class = 'presales-sample'
                 WHERE c.deal != 'concluded' AND c.presales_until <= ?1
             UNION
             SELECT d.id, d.class, d.created, d.contract, d.state FROM contracts c
                 JOIN datasets d ON d.contract = c.name AND d.state = 'active' AND d.class = 'presales-sample'
                 WHERE c.deal = 'lost' AND c.deal_on <= ?1
             UNION
             SELECT d.id, d.class, d.created, d.contract, d.state FROM contracts c
                 JOIN datasets d ON d.contract = c.name AND d.state = 'active' AND d.class = 'presales-sample'
                 WHERE c.deal != 'concluded' AND c.ends <= ?1
             UNION
             SELECT d.id, d.class, d.created, d.contract, d.state FROM contracts c
                 JOIN datasets d ON d.contract = c.name AND d.state = 'active'
                     AND (d.class = 'loading-data' OR (d.class = 'presales-sample' AND c.deal = 'concluded'))
                 WHERE c.vsr_until <= ?1
             UNION
             SELECT d.id, d.class, d.created, d.contract, d.state FROM contracts c
                 JOIN datasets d ON d.contract = c.name AND d.state = 'active' AND d.class IN ('backup', 'archive')
                 WHERE c.ends <= ?1
                   AND datetime(c.ends, '+' || c.custody_months || ' months', '-4 days') <= datetime(?1)
             UNION
             SELECT id, class, created, contract, state FROM datasets
                 WHERE state = 'active' AND class = 'export' AND created <= ?2
             UNION
             SELECT id, class, created, contract, state FROM datasets WHERE state = 'destroying'
             ORDER BY 3, 1",
        )?;
        let rows = st.query_map(params![at_s, export_before], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        let mut holds_st = self.db.prepare_cached("SELECT held, released FROM holds WHERE dataset = ?1")?;
        for row in rows {
            let (id, class, created, contract, state) = row?;
            let mut holds = Vec::new();
            for h in holds_st.query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))? {
                let (held, released) = h?;
                holds.push((
                    when(Some(held))?.ok_or_else(|| Error::Corrupt("hold without a date".into()))?,
                    when(released)?,
                ));
            }
            out.push(SweepCandidate {
                holds,
                id,
                class: class.parse()?,
                created: when(Some(created))?.ok_or_else(|| Error::Corrupt("dataset without a date".into()))?,
                contract,
                destroying: state == "destroying",
            });
        }
        Ok(out)
    }

    /// Shreds a dataset's key and marks it being destroyed (idempotent: a second call
    /// keeps the first date and rule).
    pub fn shred(&self, id: &str, at: &str, rule: &str, clause: &str) -> Result<(), Error> {
        self.db.execute(
            "UPDATE datasets SET wrapped_key = NULL, state = 'destroying', destroyed = COALESCE(destroyed, ?2),
                 rule = COALESCE(rule, ?3), clause = COALESCE(clause, ?4)
             WHERE id = ?1 AND state IN ('active', 'destroying')",
            params![id, at, rule, clause],
        )?;
        Ok(())
    }

    /// Marks a shredded dataset destroyed, naming the ledger entry about to record it.
    /// Call it inside `write`, just before that entry is appended.
    pub fn mark_destroyed(&self, id: &str) -> Result<(), Error> {
        let next = self.ledger_size()? as i64;
        let n = self.db.execute(
            "UPDATE datasets SET state = 'destroyed', event = ?2 WHERE id = ?1 AND state = 'destroying'",
            params![id, next],
        )?;
        if n != 1 {
            return Err(Error::Corrupt(format!("dataset {id} was not being destroyed")));
        }
        Ok(())
    }

    /// Writes the WAL back and truncates it, so shredded keys do not linger there.
    pub fn checkpoint_wal(&self) -> Result<(), Error> {
        // PostgreSQL has no such file of ours to truncate: see ARCHITECTURE.md on shredding there.
        if let Some(lite) = self.db.lite() {
            lite.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(DbError::from)?;
        }
        Ok(())
    }

    /// Places a legal hold.
    pub fn hold(&self, id: &str, at: &str, reason: &str) -> Result<(), Error> {
        self.db.execute("INSERT INTO holds (dataset, held, reason) VALUES (?1, ?2, ?3)", params![id, at, reason])?;
        Ok(())
    }

    /// Releases the open holds of a dataset; returns how many.
    pub fn release(&self, id: &str, at: &str) -> Result<usize, Error> {
        Ok(self
            .db
            .execute("UPDATE holds SET released = ?2 WHERE dataset = ?1 AND released IS NULL", params![id, at])?)
    }

    /// Whether a dataset has an open hold.
    pub fn held(&self, id: &str) -> Result<bool, Error> {
        Ok(self
            .db
            .query_row("SELECT 1 FROM holds WHERE dataset = ?1 AND released IS NULL", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// A copy that left the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutCopy {
    /// `cp-` and 12 hex digits.
    pub id: String,
    /// The dataset it is a copy of.
    pub dataset: String,
    /// `environment` (a test machine, a person) or `client` (handed back: the client's own).
    pub kind: String,
    /// Where it went.
    pub environment: String,
    /// Who holds it.
    pub holder: String,
    /// When it left.
    pub created: String,
    /// When its destruction was attested, by whom, how.
    pub attested: Option<(String, String, Option<String>)>,
}

impl Catalog {
    /// Records a copy leaving the vault.
    pub fn add_out_copy(&self, c: &OutCopy) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO out_copies (id, dataset, kind, environment, holder, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![c.id, c.dataset, c.kind, c.environment, c.holder, c.created],
        )?;
        Ok(())
    }

    /// The copies that left, of one dataset or all.
    pub fn out_copies(&self, dataset: Option<&str>) -> Result<Vec<OutCopy>, Error> {
        let mut st = self.db.prepare(
            "SELECT id, dataset, kind, environment, holder, created, attested, attested_by, method FROM out_copies
             WHERE dataset = ?1
             UNION ALL
             SELECT id, dataset, kind, environment, holder, created, attested, attested_by, method FROM out_copies
             WHERE ?1 IS NULL ORDER BY 6, 1",
        )?;
        let rows = st.query_map([dataset], |r| {
            let attested: Option<String> = r.get(6)?;
            let by: Option<String> = r.get(7)?;
            Ok(OutCopy {
                id: r.get(0)?,
                dataset: r.get(1)?,
                kind: r.get(2)?,
                environment: r.get(3)?,
                holder: r.get(4)?,
                created: r.get(5)?,
                attested: attested.zip(by).map(|(a, b)| (a, b, r.get(8).ok().flatten())),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that a copy's holder destroyed it.
    pub fn attest(&self, id: &str, at: &str, by: &str, method: Option<&str>) -> Result<(), Error> {
        self.db.execute(
            "UPDATE out_copies SET attested = ?2, attested_by = ?3, method = ?4 WHERE id = ?1 AND attested IS NULL",
            params![id, at, by, method],
        )?;
        Ok(())
    }
}

impl Catalog {
    /// Keeps an issued certificate.
    pub fn add_certificate(&self, id: &str, dataset: &str, issued: &str, note: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO certificates (id, dataset, issued, note) VALUES (?1, ?2, ?3, ?4)",
            params![id, dataset, issued, note],
        )?;
        Ok(())
    }

    /// Certificates: (id, dataset, issued, note), all or one by id or dataset.
    pub fn certificates(&self, id_or_dataset: Option<&str>) -> Result<Vec<(String, String, String, String)>, Error> {
        let mut st = self.db.prepare(
            "SELECT id, dataset, issued, note FROM certificates WHERE id = ?1 OR dataset = ?1
             UNION ALL
             SELECT id, dataset, issued, note FROM certificates WHERE ?1 IS NULL ORDER BY 3, 1",
        )?;
        let rows = st.query_map([id_or_dataset], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The certificates of one client's datasets, oldest first.
    pub fn certificates_of_client(&self, client: &str) -> Result<Vec<(String, String, String, String)>, Error> {
        let mut st = self.db.prepare(
            "SELECT c.id, c.dataset, c.issued, c.note FROM certificates c JOIN datasets d ON d.id = c.dataset
             WHERE d.client = ?1 ORDER BY 3, 1",
        )?;
        let rows = st.query_map([client], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Destroyed datasets that have no certificate yet (a sweep stopped in between).
    pub fn uncertified(&self) -> Result<Vec<String>, Error> {
        let mut st = self.db.prepare(
            "SELECT d.id FROM datasets d LEFT JOIN certificates c ON c.dataset = d.id
             WHERE d.state = 'destroyed' AND c.id IS NULL ORDER BY d.destroyed, d.id",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Catalog {
    /// For `benches/sweep.rs`: `contracts` contracts of client `client` and `datasets`
    /// datasets spread over them (no blobs, dummy keys), dates spread over 2026-2030.
    #[doc(hidden)]
    pub fn bench_fill(&self, client: &str, contracts: usize, datasets: usize) -> Result<(), Error> {
        self.write(|c| {
            let day = |n: usize| crate::rfc3339(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::Duration::days(20_819 + (n % 1_500) as i64));
            {
                let mut st = c.db.prepare(
                    "INSERT INTO contracts (name, client, presales_until, deal, deal_on, vsr_until, ends, custody_months, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for i in 0..contracts {
                    let deal = ["undecided", "lost", "concluded"][i % 3];
                    let deal_on = (deal != "undecided").then(|| day(i * 7 + 10));
                    st.execute(params![
                        format!("case-{i}"),
                        client,
                        day(i * 7),
                        deal,
                        deal_on,
                        day(i * 7 + 90),
                        day(i * 7 + 500),
                        (i % 13) as i64,
                        day(0)
                    ])?;
                }
            }
            let mut st = c.db.prepare(
                "INSERT INTO datasets (id, client, class, state, size, sha256, recipient, wrapped_key, created, contract)
                 VALUES (?1, ?2, ?3, 'active', 1, '00', 'age1', 'key', ?4, ?5)",
            )?;
            for i in 0..datasets {
                let class = ["presales-sample", "loading-data", "backup", "archive", "export", "other"][i % 6];
                let contract = (class != "export" && class != "other").then(|| format!("case-{}", i % contracts));
                st.execute(params![format!("ds-b{i:015}"), client, class, day(i % 997), contract])?;
            }
            Ok(())
        })
    }
}

/// A person who acts through the one door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their handle (`jdupont`).
    pub handle: String,
    /// Their role.
    pub role: String,
    /// The client they belong to (client roles only).
    pub client: Option<String>,
    /// Their name.
    pub name: Option<String>,
    /// When they were disabled, if they were.
    pub disabled: Option<String>,
    /// When they were registered.
    pub created: String,
    /// Where they are told of what awaits them (issue 15), if they gave an address.
    pub email: Option<String>,
    /// The language they are told in (`fr`, `en`).
    pub lang: String,
}

/// A person as the policy sees them.
impl From<Person> for policy::Actor {
    fn from(p: Person) -> policy::Actor {
        policy::Actor { handle: p.handle, role: p.role, client: p.client }
    }
}

impl Catalog {
    /// Registers a person; an existing handle is an error.
    pub fn add_person(&self, p: &Person) -> Result<(), Error> {
        let n = self.db.execute(
            "INSERT INTO persons (handle, role, client, name, created) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![p.handle, p.role, p.client, p.name, p.created],
        )?;
        if n == 0 {
            return Err(Error::PersonExists(p.handle.clone()));
        }
        if p.email.is_some() || p.lang != "fr" {
            self.set_contact(&p.handle, p.email.as_deref(), &p.lang)?;
        }
        Ok(())
    }

    /// One person, if registered.
    pub fn person(&self, handle: &str) -> Result<Option<Person>, Error> {
        Ok(self.persons(Some(handle))?.pop())
    }

    /// Every person (or the one named), by handle.
    pub fn persons(&self, only: Option<&str>) -> Result<Vec<Person>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT p.handle, role, client, name, disabled, created, c.email, coalesce(c.lang, 'fr')
             FROM persons p LEFT JOIN person_contacts c ON c.handle = p.handle WHERE p.handle = ?1
             UNION ALL
             SELECT p.handle, role, client, name, disabled, created, c.email, coalesce(c.lang, 'fr')
             FROM persons p LEFT JOIN person_contacts c ON c.handle = p.handle WHERE ?1 IS NULL ORDER BY 1",
        )?;
        let rows = st.query_map([only], |r| {
            Ok(Person {
                handle: r.get(0)?,
                role: r.get(1)?,
                client: r.get(2)?,
                name: r.get(3)?,
                disabled: r.get(4)?,
                created: r.get(5)?,
                email: r.get(6)?,
                lang: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Sets a person's address (None: none) and language.
    pub fn set_contact(&self, handle: &str, email: Option<&str>, lang: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO person_contacts (handle, email, lang) VALUES (?1, ?2, ?3)
             ON CONFLICT (handle) DO UPDATE SET email = excluded.email, lang = excluded.lang",
            params![handle, email, lang],
        )?;
        Ok(())
    }

    /// Disables a person (kept, for the record).
    pub fn disable_person(&self, handle: &str, at: &str) -> Result<(), Error> {
        self.db
            .execute("UPDATE persons SET disabled = ?2 WHERE handle = ?1 AND disabled IS NULL", params![handle, at])?;
        Ok(())
    }
}
