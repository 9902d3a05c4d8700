//! gardien's vault: client datasets in custody.
//!
//! Each dataset is sealed the moment it enters with a key of its own (an age X25519
//! identity, stored only wrapped to the master key), written as a standard age file to
//! one or more stores on allowed sites (LOC-1), and made visible only once every copy is
//! durable. It can be read back, verified, and handed to its client as an age file
//! addressed to the client's own key (OPS-2), which the client opens with `age` alone.
//!
//! Architecture invariant: the vault knows nothing of the terminal, HTTP or JSON; time
//! comes in as a value (`now`), never read here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod access;
pub mod agefile;
mod approvals;
mod auth;
mod catalog;
mod migrate;
pub use crate::migrate::MigrateReport;
mod certificate;
mod chanpipe;
mod client_keys;
mod config;
mod contracts;
mod copies;
mod door;
mod drops;
mod error;
mod event;
mod grants;
mod group;
mod journal;
mod keys;
mod model;
mod notify;
mod people;
mod servers;
mod sites;
mod sshsig;
mod store;
mod sweep;
pub mod text;
pub mod webhooks;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore as _;

pub use crate::access::{ENVIRONMENT_KINDS, Explained};
pub use crate::approvals::{KINDS as APPROVAL_KINDS, NewApproval, in_force, kind_clause};
pub use crate::auth::{
    Issued, LOCK_AFTER, LOCK_MINUTES, MIN_PASSWORD_CHARS, SECOND_FACTOR_ROLES, SESSION_HOURS, SESSION_IDLE_MINUTES,
    Session, SignInFailure, TOKEN_PREFIX, TotpEnrolment, check_password,
};
pub use crate::catalog::{
    AppCertRow, AppRow, ArchiveRow, BastionRow, GrantRow, ManeuverRow, RunRow, ServerRow, SiteRow,
};
pub use crate::catalog::{
    ApprovalRow, ClientKey, ContractRow, DropRow, EnvironmentRow, OutCopy, OutboxRow, Person, SessionRow, TokenRow,
    UploadRow,
};
pub use crate::certificate::{CertificateInfo, CertificateRecord, verify_certificate};
pub use crate::config::{Config, DEFAULT_SITES, DEFAULT_STORE, FORMAT, check_name};
pub use crate::contracts::ContractDates;
pub use crate::copies::CopyTarget;
pub use crate::door::{OPERATOR, OPERATOR_HANDLE, Record};
pub use crate::drops::{
    DEFAULT_MAX_SIZE, DropRequest, ExpiryReport, MAX_DAYS, MAX_MAX_SIZE, NewDrop, REVOKE_AFTER, Receiving, UploadState,
    Uploads, concatenate, free_space, parse_expires, parse_size, part_path,
};
pub use crate::error::{Error, quote_input};
pub use crate::event::{Action, Event, Outcome};
pub use crate::grants::{Granted, NewBastion, NewManeuver, SshdFiles, maneuver_line};
pub use crate::group::{GroupCommit, Pending};
pub use crate::journal::{LedgerReport, bench};
pub use crate::keys::MasterKey;
pub use crate::model::{Client, Copy, Dataset, DatasetClass, Destruction, Fate, Hold};
pub use crate::notify::{FlushReport, MAX_ATTEMPTS, NotifyConfig};
pub use crate::people::{Contact, LANGS, check_email};
pub use crate::servers::{
    APP_KINDS, CertOrder, CheckOptions, FINDING_CODES, Finding, Health, IssuedCert, NewServer, Renewals, SERVER_KINDS,
    ServerView, check_address, check_domain, health_json,
};
pub use crate::sites::{ByteRange, Download, Made, NewSite, SiteView};
pub use crate::store::{S3Bucket, StoreInfo, StoreKind};
pub use crate::sweep::{DueItem, SweepReport};
pub use crate::webhooks::WebhookRow;
pub use ::access::hygiene::PROBLEM_CODES as CERT_PROBLEM_CODES;
pub use ::access::hygiene::parse_ports;

use crate::catalog::{Catalog, Location};
use crate::store::Store;

/// The prefix under which a store keeps dataset blobs.
const DATASETS_PREFIX: &str = "datasets";

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Progress of a long operation, in plaintext bytes.
pub trait Progress: Sync {
    /// The total, once the operation knows it.
    fn set_total(&self, _total: u64) {}
    /// Bytes done so far.
    fn set_done(&self, done: u64);
    /// Files done so far, for work counted in files too.
    fn set_files(&self, _files: u64) {}
}

impl<F: Fn(u64) + Sync> Progress for F {
    fn set_done(&self, done: u64) {
        self(done)
    }
}

/// What `init` did.
#[derive(Debug)]
pub struct InitReport {
    /// False when the data dir was already initialised (then nothing was changed).
    pub created: bool,
    /// The data dir.
    pub dir: PathBuf,
    /// Where the master key is.
    pub master_key: PathBuf,
    /// The master key's public half.
    pub master_recipient: String,
    /// The signing key's verifier key (signed-note form).
    pub verifier_key: String,
}

/// Options of `init`.
#[derive(Debug, Default)]
pub struct InitOptions {
    /// The operator's name; a domain is best.
    pub operator: String,
    /// Where to put the master key (default `keys/master.key` in the data dir).
    pub master_key: Option<PathBuf>,
    /// A PostgreSQL catalog's URL (default: SQLite, `catalog.db` in the data dir).
    pub catalog: Option<String>,
}

/// A dataset to take in.
#[derive(Debug)]
pub struct IngestRequest<'a> {
    /// The owning client.
    pub client: &'a str,
    /// Its class.
    pub class: DatasetClass,
    /// A free label.
    pub label: Option<&'a str>,
    /// The stores to write to; empty means the config's default stores.
    pub stores: &'a [String],
    /// The contract it belongs to (required for presales-sample, loading-data, backup, archive).
    pub contract: Option<&'a str>,
    /// A sample's technical operator, the one person it is addressed to (PRE-3).
    pub to: Option<&'a str>,
    /// A sample's original provider, who decides its re-use elsewhere (PRE-4); the client
    /// itself when not given.
    pub provider: Option<&'a str>,
}

/// What `ingest` reads.
pub enum Source<'a> {
    /// A file, opened inside the operation (so a missing file is a recorded failure).
    Path(&'a Path),
    /// A stream, such as stdin.
    Reader(&'a mut (dyn Read + Send)),
}

/// What one copy's check found.
#[derive(Debug)]
pub struct CopyCheck {
    /// The copy checked.
    pub copy: Copy,
    /// `Ok` or what failed (an `Error::CopyCorrupt`).
    pub result: Result<(), Error>,
}

/// Refuses an S3 store on the bucket of another with an overlapping prefix.
fn s3_overlap(name: &str, stores: &[StoreInfo], b: &store::S3Bucket) -> Result<(), Error> {
    let nested = |a: &str, b: &str| {
        a.is_empty() || b.is_empty() || a == b || b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"))
    };
    if let Some(other) = stores.iter().find(|s| match &s.kind {
        StoreKind::S3(o) => o.bucket == b.bucket && nested(&o.prefix, &b.prefix),
        StoreKind::Local { .. } => false,
    }) {
        return Err(Error::StoreSetup {
            store: name.to_owned(),
            reason: format!(
                "{} is already store '{}' (or overlaps it, on whatever endpoint); a second copy must be in \
                 another bucket or under another prefix",
                b.url(),
                other.name
            ),
        });
    }
    Ok(())
}

/// Where a new store is.
pub enum NewStore<'a> {
    /// A directory on this machine.
    Dir(&'a Path),
    /// A bucket of an S3-compatible service.
    S3 {
        /// `s3://BUCKET/PREFIX`.
        url: &'a str,
        /// `http(s)://HOST[:PORT]`.
        endpoint: &'a str,
        /// The provider's region name.
        region: &'a str,
        /// A file with the keys; `None`: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
        credentials: Option<&'a Path>,
        /// A PEM file of certificate authorities for an https endpoint, besides the system's.
        ca: Option<&'a Path>,
    },
}

/// What `fsck` found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Interrupted ingests cleaned up (dataset ids).
    pub cleaned: Vec<String>,
    /// Ingests under way in another process.
    pub in_progress: Vec<String>,
    /// Copies the catalog lists whose object is missing: (dataset object, store).
    pub missing: Vec<(String, String)>,
    /// Objects in a store that no dataset lists: (object, store).
    pub orphans: Vec<(String, String)>,
    /// Copies whose object is not the one written (a remote store's entity tag differs
    /// from the one recorded): replaced behind gardien's back. (object, store).
    pub changed: Vec<(String, String)>,
    /// Stores that could not be checked (out of reach, no credentials): (store, why).
    pub unchecked: Vec<(String, String)>,
}

/// What `recover` did.
#[derive(Default)]
struct Recovery {
    /// Interrupted ingests cleaned up (dataset ids).
    cleaned: Vec<String>,
    /// Ingests under way in another process.
    alive: Vec<String>,
    /// Stores that could not be cleaned now: (store, why).
    unreachable: Vec<(String, String)>,
}

impl FsckReport {
    /// Whether anything needs a person's attention.
    pub fn has_problems(&self) -> bool {
        !self.missing.is_empty() || !self.orphans.is_empty() || !self.changed.is_empty()
    }
}

/// An open data dir.
pub struct Vault {
    dir: PathBuf,
    config: Config,
    catalog: Catalog,
    master_key_path: PathBuf,
    recovered: Vec<String>,
    /// The handle of the person acting.
    actor: String,
    /// The policy (shipped files and the operator's), loaded on first use.
    policy: std::sync::OnceLock<Result<policy::Engine, Vec<String>>>,
    /// Where events that change nothing else are committed, when shared (a server).
    group: Option<GroupCommit>,
    /// When set, those events are not waited for inside the operation: they collect here
    /// for the caller to wait on (`take_pending`), once it has given the vault back.
    deferred: Mutex<Option<Vec<Pending>>>,
}

/// The process's one Tokio runtime for network clients (the S3 stores, the PostgreSQL
/// catalog): 2 worker threads, made on first use. The vault itself stays synchronous.
pub(crate) fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        #[allow(clippy::expect_used)] // fails only when no thread can be spawned at all
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gardien-io")
            .enable_all()
            .build()
            .expect("the network clients' runtime")
    })
}

/// Resolves a path from the config: absolute as is, relative to the data dir otherwise.
fn resolve(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { dir.join(p) }
}

impl Vault {
    /// Creates a data dir, or leaves an existing one exactly as it is.
    ///
    /// Key files are never overwritten: an init interrupted half-way is completed with
    /// the keys it had already made. The config is written last, so its presence marks
    /// a complete data dir.
    pub fn init(dir: &Path, opts: &InitOptions, now: DateTime<Utc>) -> Result<InitReport, Error> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        if dir.join("gardien.toml").exists() {
            let v = Vault::open(dir, None)?;
            let master_recipient = v.catalog.meta("master_recipient")?.unwrap_or_default();
            let (verifier_key, _) = v.door(Action::Init, vec![], String::new(), now, |_| {
                keys::ensure_signing_key(&resolve(dir, &v.config.signing_key), &keys::log_origin(&v.config.operator))
            })?;
            return Ok(InitReport {
                created: false,
                dir: dir.to_owned(),
                master_key: v.master_key_path,
                master_recipient,
                verifier_key,
            });
        }
        // The operator's name is in every signed note and certificate: printable, no
        // space, no '+', nothing invisible.
        text::check("operator name", &opts.operator, false)?;
        if opts.operator.is_empty() || opts.operator.contains(['+', ' ', '\n', '\t']) {
            return Err(Error::InvalidName {
                what: "operator name",
                value: crate::quote_input(&opts.operator),
                rule: "use a name without spaces or '+', such as the operator's domain",
            });
        }
        // Only an empty directory, or one an interrupted init left, becomes a data dir:
        // pointing --data-dir at a home directory by mistake must not scatter files in it.
        if let Ok(entries) = fs::read_dir(dir) {
            const OURS: [&str; 7] =
                ["keys", "catalog.db", "catalog.db-wal", "catalog.db-shm", "stores", "run", "gardien.toml.new"];
            let foreign: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !OURS.contains(&n.as_str()))
                .collect();
            if !foreign.is_empty() {
                return Err(Error::NotEmpty { dir: dir.to_owned(), example: foreign[0].clone() });
            }
        }
        fs::create_dir_all(dir).map_err(io(dir))?;
        // The data dir holds client metadata and, wrapped, every key: the owner's alone.
        store::private_dir(dir)?;
        let now_s = rfc3339(now);
        let master_rel = opts.master_key.clone().unwrap_or_else(|| PathBuf::from("keys/master.key"));
        let master_path = resolve(dir, &master_rel);
        let (master_recipient, _) = keys::ensure_master_key(&master_path, &now_s)?;
        let (verifier_key, _) =
            keys::ensure_signing_key(&dir.join("keys/signing.key"), &keys::log_origin(&opts.operator))?;
        let location = match &opts.catalog {
            Some(url) => {
                catalog::pg::config(url)?;
                Location::Postgres(url.clone())
            }
            None => Location::File(dir.join("catalog.db")),
        };
        let catalog = Catalog::open(&location, dir, true)?;
        // A PostgreSQL catalog another data dir already uses: a second node is a copy of
        // that data dir (its keys, its gardien.toml), never a new init over it.
        if opts.catalog.is_some() && catalog.ledger_size()? > 0 {
            return Err(Error::CatalogUrl {
                reason: "this PostgreSQL catalog already belongs to a data dir (its ledger is not empty): \
                         to add a node, copy that data dir (its keys and gardien.toml) to it"
                    .into(),
            });
        }
        let in_force = catalog.meta_init("master_recipient", &master_recipient)?;
        if in_force != master_recipient {
            return Err(Error::WrongMasterKey {
                path: master_path,
                detail: format!(
                    "its public key is {master_recipient}, but this catalog's keys are wrapped to {in_force}"
                ),
            });
        }
        catalog.meta_init("created", &now_s)?;
        if catalog.person(door::OPERATOR_HANDLE)?.is_none() {
            catalog.add_person(&Person {
                handle: door::OPERATOR_HANDLE.to_owned(),
                role: "ops".into(),
                client: None,
                name: Some(opts.operator.clone()),
                disabled: None,
                created: now_s.clone(),
                email: None,
                lang: "fr".into(),
            })?;
        }
        if catalog.stores()?.iter().all(|s| s.name != DEFAULT_STORE) {
            catalog.add_store(&StoreInfo {
                name: DEFAULT_STORE.to_owned(),
                site: DEFAULT_SITES[0].to_owned(),
                kind: StoreKind::Local { root: dir.join("stores").join(DEFAULT_STORE) },
                created: now_s.clone(),
            })?;
        }
        // Local stores' directories are made now; an S3 store is reached when used.
        for s in catalog.stores()?.iter().filter(|s| matches!(s.kind, StoreKind::Local { .. })) {
            Store::open(s, &dir.join("run").join("uploads"))?;
        }
        fs::create_dir_all(dir.join("run")).map_err(io(&dir.join("run")))?;
        let cfg_path = dir.join("gardien.toml");
        let tmp = dir.join("gardien.toml.new");
        fs::write(&tmp, Config::render(&opts.operator, &master_rel, opts.catalog.as_deref())).map_err(io(&tmp))?;
        fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io(&tmp))?;
        fs::rename(&tmp, &cfg_path).map_err(io(&cfg_path))?;
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        // The ledger's first entry is the vault's creation.
        let v = Vault::open(dir, None)?;
        v.door(Action::Init, vec![], format!("operator={}", opts.operator), now, |_| Ok(()))?;
        Ok(InitReport { created: true, dir: dir.to_owned(), master_key: master_path, master_recipient, verifier_key })
    }

    /// Opens a data dir. `master_key` overrides the config's master key path. Ingests that
    /// died half-way (their process is gone) are cleaned up; `recovered` lists them.
    pub fn open(dir: &Path, master_key: Option<&Path>) -> Result<Vault, Error> {
        let config = Config::load(dir)?;
        // Tightened if loosened since (best effort: a data dir of another owner, opened
        // read-only, is left as it is).
        if let Err(e) = store::private_dir(dir) {
            tracing::warn!("{e}");
        }
        let catalog = Catalog::open(&config.catalog_location(dir), dir, false)?;
        let master_key_path = master_key.map_or_else(|| resolve(dir, &config.master_key), Path::to_owned);
        let mut v = Vault {
            dir: dir.to_owned(),
            config,
            catalog,
            master_key_path,
            recovered: Vec::new(),
            actor: door::OPERATOR_HANDLE.to_owned(),
            policy: std::sync::OnceLock::new(),
            group: None,
            deferred: Mutex::new(None),
        };
        // A store out of reach does not stop every command: what it holds of a dead
        // ingest is cleaned by a later open or by fsck, which insists.
        let recovery = v.recover(true)?;
        v.recovered = recovery.cleaned;
        Ok(v)
    }

    /// Starts a group-commit writer for this data dir (`GroupCommit`), to share between
    /// the vaults of one process (`use_group_commit`).
    pub fn start_group_commit(&self) -> Result<GroupCommit, Error> {
        GroupCommit::start(&self.config.catalog_location(&self.dir), &self.dir)
    }

    /// From now on, events that change nothing else are committed in groups by `group`.
    pub fn use_group_commit(&mut self, group: GroupCommit) {
        self.group = Some(group);
    }

    /// With a group commit: from now on, operations do not wait for their event to be
    /// durable; the caller takes the events (`take_pending`) and must wait on each before
    /// it answers (a response leaves only once its event is durable).
    pub fn defer_durability(&mut self) {
        *self.deferred.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Vec::new());
    }

    /// The events of the operations run since the last call, not yet known durable.
    pub fn take_pending(&self) -> Vec<Pending> {
        self.deferred
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Acts as `handle` from now on; the door refuses an unknown or disabled person.
    pub fn act_as(&mut self, handle: &str) {
        handle.clone_into(&mut self.actor);
    }

    /// Interrupted ingests cleaned up when the vault was opened.
    pub fn recovered(&self) -> &[String] {
        &self.recovered
    }

    /// The parsed config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the master key and checks it is this vault's.
    pub fn master_key(&self) -> Result<MasterKey, Error> {
        let key = MasterKey::load(&self.master_key_path)?;
        let expected = self.catalog.meta("master_recipient")?.unwrap_or_default();
        if key.recipient() != expected {
            return Err(Error::WrongMasterKey {
                path: self.master_key_path.clone(),
                detail: format!(
                    "its public key is {}, but this data dir's keys are wrapped to {expected}",
                    key.recipient()
                ),
            });
        }
        Ok(key)
    }

    /// Adds a store on `site` (refused outside the allowed sites, LOC-1): a local
    /// directory, or an S3 bucket, which is asked for a listing first (the bucket is there
    /// and the keys open it).
    pub fn add_store(&self, name: &str, site: &str, at: &NewStore<'_>, now: DateTime<Utc>) -> Result<StoreInfo, Error> {
        // What was asked, escaped and cut short: a refusal is recorded with it.
        let shown = |v: &str| text::escape(&v.chars().take(200).collect::<String>());
        let details = match at {
            NewStore::Dir(path) => format!("site={} path={}", shown(site), shown(&path.to_string_lossy())),
            NewStore::S3 { url, endpoint, region, .. } => {
                // A malformed endpoint may hold a secret: only a checked one is recorded.
                let endpoint = store::check_s3_endpoint(endpoint).unwrap_or_else(|_| "(invalid)".into());
                format!("site={} s3={} endpoint={endpoint} region={}", shown(site), shown(url), shown(region))
            }
        };
        self.door(Action::StoreAdd, vec![format!("store:{name}")], details, now, |rec| {
            check_name("store name", name)?;
            self.config.check_site(site)?;
            if self.catalog.stores()?.iter().any(|s| s.name == name) {
                return Err(Error::StoreExists(name.to_owned()));
            }
            let setup = |reason: String| Error::StoreSetup { store: name.to_owned(), reason };
            let kind = match at {
                NewStore::Dir(path) => {
                    text::check("store path", &path.to_string_lossy(), false)?;
                    let root =
                        std::path::absolute(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
                    // Two stores on one directory would be one copy counted twice.
                    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
                    if let Some(other) = self.catalog.stores()?.into_iter().find(|s| match &s.kind {
                        StoreKind::Local { root: r } => canonical(r) == canonical(&root),
                        StoreKind::S3(_) => false,
                    }) {
                        return Err(Error::StorePathTaken { path: root, store: other.name });
                    }
                    StoreKind::Local { root }
                }
                NewStore::S3 { url, endpoint, region, credentials, ca } => {
                    let endpoint = store::check_s3_endpoint(endpoint).map_err(setup)?;
                    store::check_s3_region(region).map_err(setup)?;
                    let (bucket, prefix) = store::parse_s3_url(url).map_err(setup)?;
                    let file = |what: &'static str, p: &Option<&Path>| -> Result<Option<PathBuf>, Error> {
                        let Some(p) = p else { return Ok(None) };
                        text::check(what, &p.to_string_lossy(), false)?;
                        Ok(Some(std::path::absolute(p).map_err(|source| Error::Io { path: p.to_path_buf(), source })?))
                    };
                    let credentials = file("credentials path", credentials)?;
                    let ca = file("CA file path", ca)?;
                    if ca.is_some() && !endpoint.starts_with("https://") {
                        return Err(setup("--ca is for an https endpoint".into()));
                    }
                    let b = store::S3Bucket { endpoint, region: (*region).to_owned(), bucket, prefix, credentials, ca };
                    // Two stores on one place (or one inside the other) would be one copy
                    // counted twice, and each would see the other's objects as orphans. One
                    // service answers under several names (IP, host names, aliases), so the
                    // same bucket and an overlapping prefix are refused whatever the endpoint.
                    s3_overlap(name, &self.catalog.stores()?, &b)?;
                    StoreKind::S3(b)
                }
            };
            let info = StoreInfo { name: name.to_owned(), site: site.to_owned(), kind, created: rfc3339(now) };
            // Open first: a directory that cannot be created, a bucket that cannot be listed,
            // is refused before anything is recorded.
            self.open_store(&info)?.probe()?;
            self.record(rec, Outcome::Allowed, |c| {
                // Again in the recording transaction: two `store add` at once both passed
                // the first look while the other probed the network.
                if let StoreKind::S3(b) = &info.kind {
                    s3_overlap(name, &c.stores()?, b)?;
                }
                c.add_store(&info)
            })?;
            Ok(info)
        })
    }

    /// Every store.
    pub fn stores(&self, now: DateTime<Utc>) -> Result<Vec<StoreInfo>, Error> {
        self.door(Action::StoreList, vec![], String::new(), now, |_| self.catalog.stores())
    }

    /// Registers a client.
    pub fn add_client(&self, slug: &str, name: &str, now: DateTime<Utc>) -> Result<Client, Error> {
        self.door(Action::ClientAdd, vec![format!("client:{slug}")], format!("name={name}"), now, |rec| {
            check_name("client slug", slug)?;
            text::check("client name", name, false)?;
            if name.trim().is_empty() {
                return Err(Error::InvalidName {
                    what: "client name",
                    value: crate::quote_input(name),
                    rule: "give the client's full name",
                });
            }
            let c = Client { slug: slug.to_owned(), name: name.trim().to_owned(), created: rfc3339(now) };
            self.record(rec, Outcome::Allowed, |cat| cat.add_client(&c))?;
            Ok(c)
        })
    }

    /// Every client.
    pub fn clients(&self, now: DateTime<Utc>) -> Result<Vec<Client>, Error> {
        self.door(Action::ClientList, vec![], String::new(), now, |_| self.catalog.clients())
    }

    /// Active datasets, optionally of one client; `with_destroyed` adds the records of
    /// destroyed ones (the client's inventory, PROOF-1).
    pub fn datasets(
        &self,
        client: Option<&str>,
        with_destroyed: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Dataset>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::DatasetList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let all = self.catalog.datasets(client, with_destroyed)?;
            let shown = self.visible(all, Action::DatasetShow, |d| format!("dataset:{}", d.id), now)?;
            shown.into_iter().map(|d| self.with_fate(d, now)).collect()
        })
    }

    /// One active dataset.
    pub fn dataset(&self, id: &str, now: DateTime<Utc>) -> Result<Dataset, Error> {
        self.door(Action::DatasetShow, vec![format!("dataset:{id}")], String::new(), now, |rec| {
            let ds = self.lookup(id, rec)?;
            self.with_fate(ds, now)
        })
    }

    /// Looks a dataset up for an operation, and names its client in the event.
    fn lookup(&self, id: &str, rec: &mut Record) -> Result<Dataset, Error> {
        let ds = self.catalog.dataset(id)?;
        rec.resources.push(format!("client:{}", ds.client));
        Ok(ds)
    }

    /// A live dataset and its key, unwrapped with the master key; `progress` learns its size.
    fn unlock(
        &self,
        id: &str,
        rec: &mut Record,
        progress: &dyn Progress,
    ) -> Result<(Dataset, age::x25519::Identity), Error> {
        let ds = self.lookup_live(id, rec)?;
        progress.set_total(ds.size);
        let identity = keys::unwrap_dataset_key(&self.master_key()?, id, &self.catalog.wrapped_key(id)?)?;
        Ok((ds, identity))
    }

    /// `lookup`, for operations that read the data: a destroyed dataset is refused.
    fn lookup_live(&self, id: &str, rec: &mut Record) -> Result<Dataset, Error> {
        let ds = self.lookup(id, rec)?;
        match &ds.destruction {
            Some(d) => Err(Error::Destroyed {
                id: id.to_owned(),
                at: d.at.clone(),
                certificate: self.catalog.certificates(Some(id))?.into_iter().next().map(|c| c.0),
            }),
            None => Ok(ds),
        }
    }

    /// Opens a store; an S3 store journals its uploads in `run/uploads`.
    pub(crate) fn open_store(&self, info: &StoreInfo) -> Result<Store, Error> {
        Store::open(info, &self.dir.join("run").join("uploads"))
    }

    /// The stores a request names, each checked against the allowed sites (LOC-1).
    fn placement(&self, names: &[String]) -> Result<Vec<Store>, Error> {
        let names = if names.is_empty() { &self.config.default_stores } else { names };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for name in names {
            if !seen.insert(name) {
                continue;
            }
            let info = self.catalog.store(name)?;
            self.config.check_site(&info.site)?;
            out.push(self.open_store(&info)?);
        }
        if out.is_empty() {
            return Err(Error::Config {
                path: self.dir.join("gardien.toml"),
                reason: "default_stores is empty; name a store with --store".into(),
            });
        }
        Ok(out)
    }

    /// Takes a dataset in: seals `input` with a fresh key, writes every copy, syncs them,
    /// and only then makes the dataset visible. On any failure nothing of it remains.
    pub fn ingest(
        &self,
        source: Source<'_>,
        req: &IngestRequest<'_>,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Dataset, Error> {
        let from = match &source {
            Source::Path(p) => p.display().to_string(),
            Source::Reader(_) => "-".to_owned(),
        };
        let details = format!("class={} label={} from={from}", req.class, req.label.unwrap_or(""));
        self.door(Action::DatasetIngest, vec![format!("client:{}", req.client)], details, now, |rec| {
            let mut file;
            let input: &mut (dyn Read + Send) = match source {
                Source::Path(path) => {
                    file = fs::File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
                    if let Ok(m) = file.metadata() {
                        progress.set_total(m.len());
                    }
                    &mut file
                }
                Source::Reader(r) => r,
            };
            self.ingest_inner(input, req, progress, now, rec, &|_, _| Ok(()))
        })
    }

    /// `also` runs in the transaction that makes the dataset visible (given its id).
    pub(crate) fn ingest_inner(
        &self,
        input: &mut (dyn Read + Send),
        req: &IngestRequest<'_>,
        progress: &dyn Progress,
        now: DateTime<Utc>,
        rec: &mut Record,
        also: &dyn Fn(&Catalog, &str) -> Result<(), Error>,
    ) -> Result<Dataset, Error> {
        // Every check before any effect: bad input changes nothing.
        if !self.catalog.has_client(req.client)? {
            return Err(Error::UnknownClient(req.client.to_owned()));
        }
        if let Some(l) = req.label {
            text::check("label", l, false)?;
        }
        if let Some(p) = req.provider {
            text::check("provider", p, false)?;
        }
        match req.contract {
            None if req.class.needs_contract() => {
                return Err(Error::ContractNeeded(format!(
                    "a {} belongs to a contract: give --contract CASE (`gardien contract add` opens one)",
                    req.class
                )));
            }
            None => {}
            Some(case) => {
                let row = self.catalog.contract(case)?;
                if row.client != req.client {
                    return Err(Error::ContractNeeded(format!(
                        "contract {case} is client {}'s, not {}'s",
                        row.client, req.client
                    )));
                }
                // PRE-6: a sample is destroyed when its pre-sales period ends without a
                // deal, so its case must have one, and still be open.
                if req.class == DatasetClass::PresalesSample {
                    let k = &row.contract;
                    if k.presales_until.is_none() && !matches!(k.deal, lifecycle::Deal::Concluded { .. }) {
                        return Err(Error::ContractNeeded(format!(
                            "a pre-sales sample belongs to a case with a pre-sales period (PRE-6: it is destroyed when the period ends without a deal); set one with `gardien contract add CASE --client {} --presales-until DATE`",
                            req.client
                        )));
                    }
                    if k.phase(now) == lifecycle::Phase::Closed {
                        return Err(Error::ContractNeeded(format!(
                            "case {case} is closed (its pre-sales period ended without a deal, or the contract ended): no sample enters it"
                        )));
                    }
                }
                rec.resources.push(format!("contract:{case}"));
            }
        }
        // PRE-3: a sample is addressed to one technical operator.
        match (req.class, req.to) {
            (DatasetClass::PresalesSample, None) => {
                return Err(Error::BadInput(
                    "a pre-sales sample is addressed to the one technical operator in charge (PRE-3): give --to HANDLE"
                        .into(),
                ));
            }
            (DatasetClass::PresalesSample, Some(h)) => {
                let p = self.catalog.person(h)?.ok_or_else(|| Error::Unknown { what: "person", name: h.to_owned() })?;
                if p.role != "technical-operator" || p.disabled.is_some() {
                    return Err(Error::BadInput(format!(
                        "--to {h}: a sample is addressed to an active technical operator, and {h} is {}{}",
                        p.role,
                        if p.disabled.is_some() { " (disabled)" } else { "" }
                    )));
                }
                rec.resources.push(format!("person:{h}"));
            }
            (_, to) if to.is_some() || req.provider.is_some() => {
                return Err(Error::BadInput("--to and --provider are for pre-sales samples only".into()));
            }
            _ => {}
        }
        let stores = self.placement(req.stores)?;
        let master_recipient = self
            .catalog
            .meta("master_recipient")?
            .ok_or_else(|| Error::Corrupt("the catalog has no master recipient".into()))?;
        let key = keys::new_dataset_key(&master_recipient)?;

        let mut idb = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut idb);
        let id = format!("ds-{}", hex::encode(idb));
        let object = format!("{DATASETS_PREFIX}/{id}.age");
        rec.resources.insert(0, format!("dataset:{id}"));
        rec.resources.extend(stores.iter().map(|s| format!("store:{}", s.info().name)));

        // The lock tells other processes this pending dataset is alive (see `recover`).
        let lock_path = self.dir.join("run").join(format!("{id}.lock"));
        let lock = lock_file(&lock_path)?;
        lock.lock().map_err(|source| Error::Io { path: lock_path.clone(), source })?;
        // On a PostgreSQL catalog other nodes see the pending row too: a lock this
        // connection holds until the ingest ends (or the process dies) tells them it lives.
        let claim = format!("ingest:{id}");
        self.catalog.hold_lock(&claim)?;
        let recipient = key.recipient.to_string();
        let created = rfc3339(now);
        if let Err(e) = self.catalog.insert_pending(&catalog::NewDataset {
            id: &id,
            client: req.client,
            class: req.class,
            label: req.label,
            contract: req.contract,
            recipient: &recipient,
            wrapped_key: &key.wrapped,
            created: &created,
            addressed_to: req.to,
            provider: req.provider.or((req.class == DatasetClass::PresalesSample).then_some(req.client)),
        }) {
            let _ = fs::remove_file(&lock_path);
            let _ = self.catalog.let_go(&claim);
            return Err(e);
        }

        let result = write_copies(&stores, &object, input, &key.recipient, progress);
        let outcome = result.and_then(|(digest, tags)| {
            let copies: Vec<catalog::Written> = stores
                .iter()
                .zip(tags)
                .map(|(s, etag)| catalog::Written { store: s.info().name.clone(), object: object.clone(), etag })
                .collect();
            // The dataset becomes visible in the same transaction that records it.
            self.record(rec, Outcome::Allowed, |c| {
                c.activate(&id, digest.size, &hex::encode(digest.sha256), &copies)?;
                also(c, &id)
            })
        });
        if let Err(e) = outcome {
            for s in &stores {
                s.discard(&object);
            }
            let _ = self.catalog.delete_pending(&id);
            let _ = fs::remove_file(&lock_path);
            let _ = self.catalog.let_go(&claim);
            return Err(e);
        }
        let _ = fs::remove_file(&lock_path);
        let _ = self.catalog.let_go(&claim);
        drop(lock);
        self.catalog.dataset(&id)
    }

    /// Cleans up ingests whose process died: (cleaned, still in progress, stores that
    /// could not be cleaned now and why). A store out of reach is passed over: its
    /// leftovers (an S3 upload, journaled) wait for the next try, and the ingest is not
    /// counted as cleaned. `quick`: when the vault opens, an S3 store gets one short try
    /// (every command opens the vault; none should wait on a store that does not answer).
    fn recover(&self, quick: bool) -> Result<Recovery, Error> {
        let mut r = Recovery::default();
        let pending = self.catalog.pending()?;
        if pending.is_empty() {
            return Ok(r);
        }
        let mut stores = Vec::new();
        for info in self.catalog.stores()? {
            match Store::open_with(&info, &self.dir.join("run").join("uploads"), quick) {
                Ok(s) => stores.push(s),
                Err(e) => r.unreachable.push((info.name.clone(), e.to_string())),
            }
        }
        for p in pending {
            // An ingest on another node of a PostgreSQL catalog: alive while it holds its lock.
            if self.catalog.held_elsewhere(&format!("ingest:{}", p.id))? == Some(true) {
                r.alive.push(p.id);
                continue;
            }
            let lock_path = self.dir.join("run").join(format!("{}.lock", p.id));
            let lock = match fs::File::open(&lock_path) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => Some(f),
                    Err(fs::TryLockError::WouldBlock) => {
                        r.alive.push(p.id);
                        continue;
                    }
                    Err(fs::TryLockError::Error(source)) => return Err(Error::Io { path: lock_path, source }),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(source) => return Err(Error::Io { path: lock_path, source }),
            };
            // Deleting the row first, only if still pending, closes the race with an ingest
            // that finished meanwhile: its dataset is active and is left alone.
            if !self.catalog.delete_pending(&p.id)? {
                continue;
            }
            let object = format!("{DATASETS_PREFIX}/{}.age", p.id);
            let mut whole = r.unreachable.is_empty();
            for s in &stores {
                // A store that failed once is not asked again in this pass.
                if r.unreachable.iter().any(|(name, _)| *name == s.info().name) {
                    whole = false;
                    continue;
                }
                if let Err(e) = s.remove_partial(&object).and_then(|_| s.delete(&object)) {
                    // fsck aborts the journaled upload later, and reports a complete
                    // object no dataset lists as an orphan.
                    tracing::warn!(dataset = %p.id, "an interrupted ingest's leftovers wait: {e}");
                    r.unreachable.push((s.info().name.clone(), e.to_string()));
                    whole = false;
                }
            }
            let _ = fs::remove_file(&lock_path);
            drop(lock);
            if whole {
                tracing::info!(dataset = %p.id, "cleaned up an interrupted ingest");
                r.cleaned.push(p.id);
            }
        }
        Ok(r)
    }

    /// Whether the ingest writing `object` (`datasets/<id>.age`) is alive: its lock file
    /// is held by a process.
    fn ingest_alive(&self, object: &str) -> Result<bool, Error> {
        let Some(id) = object.strip_prefix(&format!("{DATASETS_PREFIX}/")).and_then(|o| o.strip_suffix(".age")) else {
            return Ok(false);
        };
        if !door::valid_id("dataset", id) {
            return Ok(false);
        }
        if self.catalog.held_elsewhere(&format!("ingest:{id}"))? == Some(true) {
            return Ok(true);
        }
        let lock_path = self.dir.join("run").join(format!("{id}.lock"));
        match fs::File::open(&lock_path) {
            Ok(f) => match f.try_lock() {
                Ok(()) => Ok(false),
                Err(fs::TryLockError::WouldBlock) => Ok(true),
                Err(fs::TryLockError::Error(source)) => Err(Error::Io { path: lock_path, source }),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io { path: lock_path, source }),
        }
    }

    /// Checks the data dir: cleans interrupted ingests, and reports copies whose object
    /// is missing, changed, and objects no dataset lists. It deletes no committed object.
    /// A store it cannot reach is reported unchecked; the others are checked all the same.
    pub fn fsck(&self, now: DateTime<Utc>) -> Result<FsckReport, Error> {
        self.door(Action::Fsck, vec![], String::new(), now, |_| self.fsck_inner())
    }

    fn fsck_inner(&self) -> Result<FsckReport, Error> {
        let recovery = self.recover(false)?;
        let mut report = FsckReport {
            cleaned: [self.recovered.clone(), recovery.cleaned].concat(),
            in_progress: recovery.alive,
            ..Default::default()
        };
        // A live dataset's copies must be there; a destroyed one's must not (a leftover is
        // reported as an orphan); a destruction under way is the next sweep's to finish.
        let objects = self.catalog.objects()?;
        let known: std::collections::HashMap<(String, String), Option<String>> =
            objects.iter().filter(|o| o.2 == "active").map(|o| ((o.0.clone(), o.1.clone()), o.3.clone())).collect();
        let destroying: std::collections::HashSet<(String, String)> =
            objects.iter().filter(|o| o.2 == "destroying").map(|o| (o.0.clone(), o.1.clone())).collect();
        let pending: std::collections::HashSet<String> =
            report.in_progress.iter().map(|id| format!("{DATASETS_PREFIX}/{id}.age")).collect();
        for info in self.catalog.stores()? {
            let checked = (|| -> Result<(), Error> {
                let store = self.open_store(&info)?;
                // Uploads a dead process left on an S3 store whose dataset is gone already.
                // An ingest that began after this fsck did holds its lock: left alone.
                for object in store.journaled()? {
                    if !pending.contains(&object) && !self.ingest_alive(&object)? {
                        store.remove_partial(&object)?;
                    }
                }
                let listed: std::collections::HashMap<String, Option<String>> =
                    store.list_tagged(DATASETS_PREFIX)?.into_iter().collect();
                let mut found = FsckReport::default();
                for object in listed.keys() {
                    let key = (info.name.clone(), object.clone());
                    // Read again before it is reported: an ingest that began after the
                    // catalog was read (on this node or another) and ended before the
                    // listing is in neither set, and is no orphan.
                    if !known.contains_key(&key)
                        && !destroying.contains(&key)
                        && !pending.contains(object)
                        && !self.catalog.copy_recorded(&info.name, object)?
                        && !self.ingest_alive(object)?
                    {
                        found.orphans.push((object.clone(), info.name.clone()));
                    }
                }
                for ((s, object), tag) in known.iter().filter(|((s, _), _)| *s == info.name) {
                    match tag {
                        // A remote copy: the listing says whether it is there and still the
                        // one written (its tag), 1,000 copies per request.
                        Some(tag) => match listed.get(object) {
                            None => found.missing.push((object.clone(), s.clone())),
                            Some(now) if now.as_deref() != Some(tag.as_str()) => {
                                found.changed.push((object.clone(), s.clone()))
                            }
                            Some(_) => {}
                        },
                        None => {
                            if !listed.contains_key(object) {
                                found.missing.push((object.clone(), s.clone()));
                            }
                        }
                    }
                }
                report.orphans.append(&mut found.orphans);
                report.missing.append(&mut found.missing);
                report.changed.append(&mut found.changed);
                Ok(())
            })();
            match checked {
                Ok(()) => {}
                // The catalog failing is not one store's problem.
                Err(e @ Error::Catalog(_)) => return Err(e),
                Err(e) => report.unchecked.push((info.name.clone(), e.to_string())),
            }
        }
        report.missing.sort();
        report.orphans.sort();
        report.changed.sort();
        Ok(report)
    }

    /// Writes the plaintext of dataset `id` to `out`, checked against its recorded size
    /// and SHA-256. Copies are tried in order until one opens; a copy that fails after
    /// output has begun is an error (the output is then not to be trusted).
    ///
    /// The event is recorded once a copy has opened and before the first byte goes out:
    /// if the ledger cannot be written, nothing is read (fail closed). A stream cannot be
    /// taken back, so a copy that fails half-way leaves that event as it is.
    pub fn get(
        &self,
        id: &str,
        out: &mut (dyn Write + Send),
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Option<catalog::OutCopy>, Error> {
        self.door(Action::DatasetGet, vec![format!("dataset:{id}")], "to=stdout".into(), now, |rec| {
            let copy = self.download_copy(id, rec)?;
            self.get_stream_inner(id, out, progress, rec, &|c| copy.as_ref().map_or(Ok(()), |cp| c.add_out_copy(cp)))?;
            Ok(copy)
        })
    }

    /// A third party's download is a copy in their hands (CONF-1): recorded as one, in the
    /// read's own transaction, and attested destroyed by them before the dataset's
    /// destruction completes (PRE-6, ARC-1). Other readers' gets are recorded reads: the
    /// client's admin reads its own data, the ops team runs the vault.
    fn download_copy(&self, id: &str, rec: &mut Record) -> Result<Option<catalog::OutCopy>, Error> {
        let third_party = self.catalog.person(&self.actor)?.is_some_and(|p| p.role == "third-party");
        if !third_party {
            return Ok(None);
        }
        let copy = catalog::OutCopy {
            id: copies::new_copy_id(),
            dataset: id.to_owned(),
            kind: "environment".into(),
            environment: "(download)".into(),
            holder: self.actor.clone(),
            created: rec.time().to_owned(),
            attested: None,
        };
        rec.resources.push(format!("copy:{}", copy.id));
        Ok(Some(copy))
    }

    /// Streams a dataset's plaintext; `change` is made in the transaction of its event.
    pub(crate) fn get_stream_inner(
        &self,
        id: &str,
        out: &mut (dyn Write + Send),
        progress: &dyn Progress,
        rec: &mut Record,
        change: &dyn Fn(&Catalog) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (ds, identity) = self.unlock(id, rec, progress)?;
        let mut failures = Vec::new();
        for copy in &ds.copies {
            match self.open_copy(&ds, copy, &identity) {
                Ok(opened) => {
                    rec.resources.push(format!("store:{}", copy.store));
                    self.record(rec, Outcome::Allowed, |c| {
                        c.ensure_active(id)?;
                        change(c)
                    })?;
                    return read_copy(&ds, copy, opened, out, Part::Plaintext, progress);
                }
                Err(e) => failures.push(e),
            }
        }
        Err(no_readable_copy(&ds, failures))
    }

    /// Writes dataset `id` to a new file at `path`. Unlike a stream, a file can be
    /// rewritten: a copy that fails half-way is followed by the next, from the start.
    /// On failure of every copy the file is removed.
    pub fn get_to_file(
        &self,
        id: &str,
        path: &Path,
        force: bool,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Option<catalog::OutCopy>, Error> {
        let details = format!("to={}", path.display());
        self.door(Action::DatasetGet, vec![format!("dataset:{id}")], details, now, |rec| {
            let copy = self.download_copy(id, rec)?;
            self.get_to_file_inner(id, path, force, progress, rec, &|c| {
                copy.as_ref().map_or(Ok(()), |cp| c.add_out_copy(cp))
            })?;
            Ok(copy)
        })
    }

    /// Writes a dataset's plaintext to a file; `change` is made in the transaction of its
    /// event.
    pub(crate) fn get_to_file_inner(
        &self,
        id: &str,
        path: &Path,
        force: bool,
        progress: &dyn Progress,
        rec: &mut Record,
        change: &dyn Fn(&Catalog) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (ds, identity) = self.unlock(id, rec, progress)?;
        self.write_output(path, force, |file| {
            let mut failures = Vec::new();
            for (i, copy) in ds.copies.iter().enumerate() {
                file.set_len(0).map_err(Error::Output)?;
                let r = self
                    .open_copy(&ds, copy, &identity)
                    .and_then(|opened| read_copy_at(&ds, copy, opened, file, progress));
                match r {
                    // Recorded before the file is complete and synced: if the ledger cannot
                    // be written, the file is removed (fail closed).
                    Ok(()) => {
                        rec.resources.push(format!("store:{}", copy.store));
                        return self.record(rec, Outcome::Allowed, |c| {
                            c.ensure_active(id)?;
                            change(c)
                        });
                    }
                    Err(e @ Error::Output(_)) => return Err(e),
                    Err(e) => {
                        if i + 1 < ds.copies.len() {
                            tracing::warn!("{e}; trying the next copy");
                        }
                        failures.push(e);
                    }
                }
            }
            Err(no_readable_copy(&ds, failures))
        })
    }

    /// Opens every copy of `id`, authenticating and hashing it in full. `progress` counts
    /// plaintext bytes across all copies.
    pub fn verify(&self, id: &str, progress: &dyn Progress, now: DateTime<Utc>) -> Result<Vec<CopyCheck>, Error> {
        self.door(Action::DatasetVerify, vec![format!("dataset:{id}")], String::new(), now, |rec| {
            self.verify_inner(id, progress, rec)
        })
    }

    fn verify_inner(&self, id: &str, progress: &dyn Progress, rec: &mut Record) -> Result<Vec<CopyCheck>, Error> {
        let (ds, identity) = self.unlock(id, rec, progress)?;
        progress.set_total(ds.size * ds.copies.len() as u64);
        let mut checks = Vec::new();
        for (i, copy) in ds.copies.iter().enumerate() {
            // Progress counts across copies: the i-th starts where the previous ones ended.
            let base = ds.size * i as u64;
            let result = self.open_copy(&ds, copy, &identity).and_then(|(mut reader, file_key)| {
                let digest = agefile::open(&mut reader, &file_key, agefile::Out::Ordered(&mut |_| Ok(())), &|n| {
                    progress.set_done(base + n)
                })
                .map_err(|e| copy_error(&ds, copy, e))?;
                check_digest(&ds, copy, digest)
            });
            checks.push(CopyCheck { copy: copy.clone(), result });
        }
        // A bad copy is an integrity failure of the operation, and the event says so.
        if let Some(bad) = checks.iter().find_map(|c| c.result.as_ref().err()) {
            self.record(rec, Outcome::Failed, |_| Ok(()))?;
            tracing::debug!("verify found a bad copy: {bad}");
        }
        Ok(checks)
    }

    /// Writes dataset `id` to `path` as an age file for `recipient` alone (OPS-2).
    ///
    /// The file key is re-wrapped in a new header; the payload is copied as it is, after
    /// each chunk was authenticated and the whole hashed against the record.
    pub fn export(
        &self,
        id: &str,
        recipient: &str,
        path: &Path,
        force: bool,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        // The recipient is part of the decision (OPS-2: one of the client's registered
        // keys); a text that is no recipient is refused before it is recorded anywhere.
        let key = client_keys::parse_recipient(recipient)?.to_string();
        let details = format!("recipient={key} to={}", path.display());
        let resources = vec![format!("dataset:{id}"), format!("key:{key}")];
        self.door(Action::DatasetExport, resources, details, now, |rec| {
            self.export_inner(id, recipient, path, force, progress, rec)
        })
    }

    fn export_inner(
        &self,
        id: &str,
        recipient: &str,
        path: &Path,
        force: bool,
        progress: &dyn Progress,
        rec: &mut Record,
    ) -> Result<(), Error> {
        let to = client_keys::parse_recipient(recipient)?;
        let (ds, identity) = self.unlock(id, rec, progress)?;
        self.write_output(path, force, |file| {
            let mut failures = Vec::new();
            for copy in &ds.copies {
                let (mut reader, file_key) = match self.open_copy(&ds, copy, &identity) {
                    Ok(x) => x,
                    Err(e) => {
                        failures.push(e);
                        continue;
                    }
                };
                let mut out = io::BufWriter::with_capacity(1 << 20, file);
                let header = agefile::header_for(&file_key, &to).map_err(|e| copy_error(&ds, copy, e))?;
                let mut nonce = [0u8; 16];
                reader.read_exact(&mut nonce).map_err(|e| copy_error(&ds, copy, e.into()))?;
                out.write_all(&header).and_then(|()| out.write_all(&nonce)).map_err(Error::Output)?;
                let payload: Box<dyn Read + Send> = Box::new(io::Cursor::new(nonce).chain(reader));
                read_copy(&ds, copy, (payload, file_key), &mut out, Part::Ciphertext, progress)?;
                rec.resources.push(format!("store:{}", copy.store));
                // Fail closed: no export is left behind without its event. The export is
                // listed among the copies that left, as the client's own (it never blocks).
                let out = catalog::OutCopy {
                    id: copies::new_copy_id(),
                    dataset: ds.id.clone(),
                    kind: "client".into(),
                    environment: "client".into(),
                    holder: recipient.trim().to_owned(),
                    created: rec.time().to_owned(),
                    attested: None,
                };
                return self.record(rec, Outcome::Allowed, |c| {
                    c.ensure_active(id)?;
                    c.add_out_copy(&out)
                });
            }
            Err(no_readable_copy(&ds, failures))
        })
    }

    /// Opens a copy's object and its header: the reader is left at the payload.
    fn open_copy(
        &self,
        ds: &Dataset,
        copy: &Copy,
        identity: &age::x25519::Identity,
    ) -> Result<(Box<dyn Read + Send>, age_core::format::FileKey), Error> {
        let info = self.catalog.store(&copy.store)?;
        let mut reader = self.open_store(&info)?.reader(&copy.object).map_err(|e| match e {
            Error::Store { error: object_store::Error::NotFound { .. }, .. } => copy_error(
                ds,
                copy,
                agefile::AgeError::Io(io::Error::new(io::ErrorKind::NotFound, "the object is missing")),
            ),
            other => other,
        })?;
        let header = agefile::Header::read(&mut reader).map_err(|e| copy_error(ds, copy, e))?;
        let file_key = header.open(identity).map_err(|e| copy_error(ds, copy, e))?;
        Ok((reader, file_key))
    }

    /// Creates `path`, lets `fill` write it; removes it if anything failed. Like `cp` and
    /// `age -d`, it leaves the flush to disk to the system: the output is the user's copy,
    /// not custody (the vault's own copies are always synced).
    fn write_output(
        &self,
        path: &Path,
        force: bool,
        fill: impl FnOnce(&mut fs::File) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let io_err = |p: &Path| {
            let p = p.to_owned();
            move |source: io::Error| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    Error::OutputExists(p.clone())
                } else {
                    Error::Io { path: p.clone(), source }
                }
            }
        };
        // Plaintext, or an export: the user's alone (0600) whatever the umask.
        let mut opts = fs::OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.write(true);
        if fs::symlink_metadata(path).is_ok() && !force {
            return Err(Error::OutputExists(path.to_owned()));
        }
        // With --force, a link is written through, as `cp` does: the file it names is the
        // output (`-o /dev/stdout` is a link to a descriptor; the link itself stays).
        let resolved;
        let path = match fs::symlink_metadata(path) {
            Ok(m) if m.is_symlink() => match fs::canonicalize(path) {
                Ok(p) => {
                    resolved = p;
                    resolved.as_path()
                }
                // A dangling link: its target is created, in place.
                Err(_) => {
                    let mut file = opts.create(true).truncate(true).open(path).map_err(io_err(path))?;
                    return fill(&mut file);
                }
            },
            _ => path,
        };
        // A device or a pipe (`/dev/null`, a terminal) is written in place.
        if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            let mut file = opts.truncate(true).open(path).map_err(io_err(path))?;
            return fill(&mut file);
        }
        // Otherwise the file is written beside its name and moved there once whole: a
        // process killed half-way leaves no cut file under the name asked for (only a
        // hidden `.NAME.gardien-*.part`).
        let (dir, name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(n)) => (if d.as_os_str().is_empty() { Path::new(".") } else { d }, n),
            _ => return Err(Error::Io { path: path.to_owned(), source: io::Error::other("not a file name") }),
        };
        let mut r = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut r);
        let tmp = dir.join(format!(".{}.gardien-{}.part", name.to_string_lossy(), hex::encode(r)));
        let mut file = opts.create_new(true).open(&tmp).map_err(io_err(path))?;
        let result = fill(&mut file).and_then(|()| {
            drop(file);
            if force {
                fs::rename(&tmp, path).map_err(io_err(path))
            } else {
                // No clobbering a file that appeared meanwhile: a link fails if it exists.
                fs::hard_link(&tmp, path).map_err(io_err(path)).map(|()| {
                    let _ = fs::remove_file(&tmp);
                })
            }
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn lock_file(path: &Path) -> Result<fs::File, Error> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)
}

/// Every copy being written: each sealed block goes to each of them.
struct Copies<'a, 'b> {
    writers: &'a [store::StoreWriter<'b>],
    error: Mutex<Option<Error>>,
}

impl agefile::WriteAt for Copies<'_, '_> {
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), String> {
        for w in self.writers {
            if let Err(e) = w.write_at(offset, data) {
                let msg = e.to_string();
                if let Ok(mut slot) = self.error.lock() {
                    slot.get_or_insert(e);
                }
                return Err(msg);
            }
        }
        Ok(())
    }
}

/// Seals `input` once and writes the same ciphertext to every store, then syncs each;
/// returns the digest and each copy's entity tag (remote stores).
fn write_copies(
    stores: &[Store],
    object: &str,
    input: &mut (dyn Read + Send),
    recipient: &age::x25519::Recipient,
    progress: &dyn Progress,
) -> Result<(agefile::Digest, Vec<Option<String>>), Error> {
    let file_key = agefile::new_file_key();
    let header = agefile::header_for(&file_key, recipient).map_err(|e| Error::Corrupt(e.to_string()))?;
    let writers = stores.iter().map(|s| s.writer(object)).collect::<Result<Vec<_>, _>>()?;
    let sink = Copies { writers: &writers, error: Mutex::new(None) };
    let digest = match agefile::seal(input, &file_key, &header, &sink, &|n| progress.set_done(n)) {
        Ok(d) => d,
        Err(e) => {
            return Err(match sink.error.into_inner().ok().flatten() {
                Some(store_error) => store_error,
                None => match e {
                    agefile::AgeError::Io(e) => Error::Input(e),
                    other => Error::Corrupt(other.to_string()),
                },
            });
        }
    };
    let mut tags = Vec::with_capacity(writers.len());
    for w in writers {
        tags.push(w.finish()?);
    }
    Ok((digest, tags))
}

/// Which bytes of an opened copy go to the output.
#[derive(Clone, Copy)]
enum Part {
    /// The plaintext (`get`).
    Plaintext,
    /// The ciphertext as stored, each chunk authenticated first (`export`).
    Ciphertext,
}

/// Streams an opened copy to `out` and checks the plaintext against the record.
fn read_copy(
    ds: &Dataset,
    copy: &Copy,
    (mut reader, file_key): (Box<dyn Read + Send>, age_core::format::FileKey),
    out: &mut (dyn Write + Send),
    part: Part,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let mut out_error = None;
    let digest = agefile::open(
        &mut reader,
        &file_key,
        agefile::Out::Ordered(&mut |o| {
            let bytes = match part {
                Part::Plaintext => o.plaintext,
                Part::Ciphertext => o.ciphertext,
            };
            out.write_all(bytes).map_err(|e| {
                let msg = e.to_string();
                out_error = Some(e);
                msg
            })
        }),
        &|n| progress.set_done(n),
    );
    if let Some(e) = out_error {
        return Err(Error::Output(e));
    }
    check_digest(ds, copy, digest.map_err(|e| copy_error(ds, copy, e))?)?;
    out.flush().map_err(Error::Output)
}

/// A file written at offsets, from every opening thread.
struct FileAt<'a>(&'a fs::File, std::sync::Mutex<Option<io::Error>>);

impl agefile::WriteAt for FileAt<'_> {
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), String> {
        std::os::unix::fs::FileExt::write_all_at(self.0, data, offset).map_err(|e| {
            let msg = e.to_string();
            if let Ok(mut slot) = self.1.lock() {
                slot.get_or_insert(e);
            }
            msg
        })
    }
}

/// Opens a copy's plaintext into `file` by positional writes, and checks it.
fn read_copy_at(
    ds: &Dataset,
    copy: &Copy,
    (mut reader, file_key): (Box<dyn Read + Send>, age_core::format::FileKey),
    file: &fs::File,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let at = FileAt(file, std::sync::Mutex::new(None));
    let digest = agefile::open(&mut reader, &file_key, agefile::Out::At(&at), &|n| progress.set_done(n));
    if let Some(e) = at.1.into_inner().ok().flatten() {
        return Err(Error::Output(e));
    }
    check_digest(ds, copy, digest.map_err(|e| copy_error(ds, copy, e))?)
}

/// One failed copy is its own best explanation; several are listed.
fn no_readable_copy(ds: &Dataset, mut failures: Vec<Error>) -> Error {
    if failures.len() == 1 {
        return failures.remove(0);
    }
    let unreachable = failures.iter().all(|e| matches!(e, Error::Store { .. } | Error::StoreSetup { .. }));
    Error::NoReadableCopy {
        dataset: ds.id.clone(),
        failures: failures.iter().map(|e| error::one_line(&e.to_string())).collect(),
        unreachable,
    }
}

/// A copy that failed to read: an integrity error, unless its store could not be reached
/// (a remote store's error under the read: exit 1, not 3). A copy replaced or gone while
/// it was read is an integrity error.
fn copy_error(ds: &Dataset, copy: &Copy, e: agefile::AgeError) -> Error {
    let e = match e {
        agefile::AgeError::Io(io) if io.get_ref().is_some_and(|r| r.is::<object_store::Error>()) => {
            match io.into_inner().map(|inner| inner.downcast::<object_store::Error>()) {
                Some(Ok(source))
                    if !matches!(
                        *source,
                        object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. }
                    ) =>
                {
                    return Error::Store { store: copy.store.clone(), error: *source };
                }
                Some(Ok(source)) => agefile::AgeError::Io(io::Error::other(source)),
                Some(Err(other)) => agefile::AgeError::Io(io::Error::other(other)),
                None => agefile::AgeError::Io(io::Error::other("read failed")),
            }
        }
        other => other,
    };
    Error::CopyCorrupt { dataset: ds.id.clone(), store: copy.store.clone(), reason: error::one_line(&e.to_string()) }
}

fn check_digest(ds: &Dataset, copy: &Copy, d: agefile::Digest) -> Result<(), Error> {
    let sha = hex::encode(d.sha256);
    if d.size != ds.size || sha != ds.sha256 {
        return Err(Error::CopyCorrupt {
            dataset: ds.id.clone(),
            store: copy.store.clone(),
            reason: format!(
                "its content ({} bytes, sha256 {sha}) does not match the record ({} bytes, sha256 {})",
                d.size, ds.size, ds.sha256
            ),
        });
    }
    Ok(())
}
