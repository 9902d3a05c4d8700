//! Moodle sites (issue 12): `site add|list|show|check`, `restitution create` (the site
//! handed back whole to a key of its client, OPS-2) and `site backup` (into the vault, a
//! backup of the site's contract, ARC-1). The archive is made by the `moodle` crate and
//! sealed as it comes: no clear byte of it touches the disk, and it becomes visible only
//! once every copy is durable, like every dataset.

use std::io::{self, Read};
use std::path::Path;
use std::sync::{Mutex, mpsc};

use chrono::{DateTime, Utc};

use crate::catalog::{ArchiveRow, SiteRow};
use crate::door::Record;
use crate::event::Action;
use crate::{Dataset, DatasetClass, Error, IngestRequest, Progress, Vault, client_keys, rfc3339, sshsig, text};

/// A site to add.
#[derive(Debug)]
pub struct NewSite<'a> {
    /// Its slug.
    pub slug: &'a str,
    /// Its client.
    pub client: &'a str,
    /// The contract it is hosted under.
    pub contract: &'a str,
    /// Its database (no password).
    pub db_url: &'a str,
    /// Its `moodledata`, absolute.
    pub moodledata: &'a Path,
    /// Its `config.php`, absolute, if named.
    pub config: Option<&'a Path>,
}

/// A site and its archives.
#[derive(Debug, Clone)]
pub struct SiteView {
    /// The site.
    pub site: SiteRow,
    /// Its restitutions and backups, oldest first (those still in the vault).
    pub archives: Vec<ArchiveRow>,
}

/// What a restitution or a backup made.
#[derive(Debug)]
pub struct Made {
    /// Its dataset.
    pub dataset: Dataset,
    /// What the archive holds and what the checks found.
    pub report: moodle::Report,
}

fn site_err(site: &str) -> impl Fn(moodle::Error) -> Error + '_ {
    move |source| Error::Site { site: site.to_owned(), source }
}

fn absolute(what: &'static str, p: &Path) -> Result<String, Error> {
    let s = p.to_str().ok_or_else(|| Error::BadInput(format!("{what}: the path is not UTF-8")))?;
    text::check(what, s, false)?;
    if !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(Error::BadInput(format!("{what} {}: give an absolute path without '..'", text::escape(s))));
    }
    Ok(s.to_owned())
}

/// The ledger key signs SHA256SUMS twice: an SSH signature (`ssh-keygen -Y verify`) and
/// a C2SP signed note (what checks the ledger's checkpoints checks it too).
struct Signer(ledger::note::Signer);

impl moodle::Sign for Signer {
    fn sign(&self, sums: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let sig = sshsig::sign(&self.0, sums.as_bytes()).map_err(|e| e.to_string())?;
        let note = self.0.sign(sums).map_err(|e| e.to_string())?;
        Ok(vec![("SHA256SUMS.sig".into(), sig.into_bytes()), ("SHA256SUMS.note".into(), note.into_bytes())])
    }
    fn name(&self) -> String {
        self.0.name().to_owned()
    }
}

/// The progress of a pack, passed on to the vault's.
struct PackProgress<'a>(&'a dyn Progress);

impl moodle::Progress for PackProgress<'_> {
    fn total(&self, bytes: u64) {
        self.0.set_total(bytes);
    }
    fn done(&self, bytes: u64, files: u64) {
        self.0.set_done(bytes);
        self.0.set_files(files);
    }
}

/// The archive as the vault reads it: the packer's output through a pipe (of buffers); at its end, the
/// packer's outcome (a failed pack is an error here, never a short dataset).
struct Packed<'a> {
    pipe: Option<crate::chanpipe::PipeReader>,
    outcome: mpsc::Receiver<Result<moodle::Report, moodle::Error>>,
    report: &'a Mutex<Option<Result<moodle::Report, moodle::Error>>>,
}

impl Read for Packed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(pipe) = self.pipe.as_mut() else { return Ok(0) };
        let n = pipe.read(buf)?;
        if n == 0 {
            let r = self.outcome.recv().unwrap_or_else(|_| Err(moodle::Error::Internal("the packer stopped".into())));
            let failed = r.is_err();
            *self.report.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
            if failed {
                return Err(io::Error::other("the site's archive could not be made"));
            }
        }
        Ok(n)
    }
}

impl Vault {
    /// `site add`: a client's Moodle site, hosted under one of its contracts.
    pub fn site_add(&self, s: &NewSite<'_>, now: DateTime<Utc>) -> Result<SiteRow, Error> {
        let resources = vec![format!("client:{}", s.client), format!("site:{}", s.slug)];
        let details = format!("contract={}", s.contract);
        self.door(Action::SiteAdd, resources, details, now, |rec| {
            crate::check_name("site", s.slug)?;
            let contract = self.catalog.contract(s.contract)?;
            if contract.client != s.client {
                return Err(Error::BadInput(format!(
                    "contract {} is client {}'s, not {}'s",
                    s.contract, contract.client, s.client
                )));
            }
            let db = moodle::DbUrl::parse(s.db_url).map_err(site_err(s.slug))?;
            let moodledata = absolute("--moodledata", s.moodledata)?;
            // One database, one moodledata, one site: registered twice (under another
            // client) a restitution would hand one client's site to another.
            let real = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| p.into());
            for other in self.catalog.sites(None)? {
                // Host names compared as DNS does (case), a port as the engine's default.
                let key = |d: &moodle::DbUrl| {
                    let port = d.port.unwrap_or(match d.engine {
                        moodle::Engine::Postgres => 5432,
                        moodle::Engine::Mariadb => 3306,
                    });
                    (d.engine, d.host.as_ref().map(|h| h.to_ascii_lowercase()), port, d.socket.clone(), d.name.clone())
                };
                let same_db = moodle::DbUrl::parse(&other.db_url).is_ok_and(|o| key(&o) == key(&db));
                if same_db || real(&other.moodledata) == real(&moodledata) {
                    return Err(Error::BadInput(format!(
                        "site {} already has this {}: a database and a moodledata belong to one site",
                        other.slug,
                        if same_db { "database" } else { "moodledata" }
                    )));
                }
            }
            if !s.moodledata.join("filedir").is_dir() {
                return Err(Error::BadInput(format!(
                    "--moodledata {}: no filedir inside (is it Moodle's $CFG->dataroot?)",
                    text::escape(&moodledata)
                )));
            }
            let config = match s.config {
                Some(p) => {
                    let c = absolute("--config", p)?;
                    let src = std::fs::read(p).map_err(|source| Error::Io { path: p.to_owned(), source })?;
                    moodle::config::read(&src).map_err(site_err(s.slug))?;
                    Some(c)
                }
                None => None,
            };
            let row = SiteRow {
                slug: s.slug.to_owned(),
                client: s.client.to_owned(),
                contract: s.contract.to_owned(),
                db_url: db.to_url(),
                moodledata,
                config_path: config,
                created: rfc3339(now),
            };
            rec.resources.push(format!("contract:{}", s.contract));
            self.record(rec, crate::Outcome::Allowed, |c| {
                if c.add_site(&row)? {
                    Ok(())
                } else {
                    Err(Error::BadInput(format!("site {} exists already (`gardien site show {}`)", s.slug, s.slug)))
                }
            })?;
            Ok(row)
        })
    }

    /// `site list`: every site, or a client's.
    pub fn sites(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<SiteRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::SiteList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let sites = self.catalog.sites(client)?;
            self.for_the_actor(sites)
        })
    }

    /// `site show`: a site and its archives still in the vault.
    pub fn site(&self, slug: &str, now: DateTime<Utc>) -> Result<SiteView, Error> {
        self.door(Action::SiteShow, vec![format!("site:{slug}")], String::new(), now, |_| {
            let site = self.for_the_actor(vec![self.site_row(slug)?])?.remove(0);
            let mut archives = Vec::new();
            for a in self.catalog.site_archives(slug)? {
                if self.catalog.dataset(&a.dataset).is_ok_and(|d| d.destruction.is_none()) {
                    archives.push(a);
                }
            }
            // Only the archives whose dataset `dataset show` would show this person.
            let archives = self.visible(archives, Action::DatasetShow, |a| format!("dataset:{}", a.dataset), now)?;
            Ok(SiteView { site, archives })
        })
    }

    /// Sites as the acting person may read them: a client's people never see where the
    /// operator keeps them (database URL, paths).
    fn for_the_actor(&self, mut sites: Vec<SiteRow>) -> Result<Vec<SiteRow>, Error> {
        if self.catalog.person(&self.actor)?.is_some_and(|p| p.client.is_some()) {
            for s in &mut sites {
                s.db_url = String::new();
                s.moodledata = String::new();
                s.config_path = None;
            }
        }
        Ok(sites)
    }

    fn site_row(&self, slug: &str) -> Result<SiteRow, Error> {
        self.catalog.site(slug)?.ok_or_else(|| Error::Unknown { what: "site", name: slug.to_owned() })
    }

    /// `site check`: the database answers, and every file it references is in filedir,
    /// named by its SHA-1.
    pub fn site_check(
        &self,
        slug: &str,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<moodle::CheckReport, Error> {
        self.door(Action::SiteCheck, vec![format!("site:{slug}")], String::new(), now, |rec| {
            let site = self.site_row(slug)?;
            let db = moodle::DbUrl::parse(&site.db_url).map_err(site_err(slug))?;
            let report = moodle::check(
                &moodle::Site {
                    slug,
                    db: &db,
                    moodledata: Path::new(&site.moodledata),
                    config: site.config_path.as_deref().map(Path::new),
                },
                &PackProgress(progress),
            )
            .map_err(site_err(slug))?;
            rec.details = format!(
                "referenced={} checked={} inconsistencies={}",
                report.referenced,
                report.checked,
                report.inconsistencies.len()
            );
            Ok(report)
        })
    }

    /// `restitution create`: the site handed back whole, as an `export` dataset of its
    /// client for one of the client's registered keys (OPS-2).
    pub fn restitution_create(
        &self,
        slug: &str,
        recipient: &str,
        allow_missing: bool,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Made, Error> {
        let key = client_keys::parse_recipient(recipient)?.to_string();
        let resources = vec![format!("site:{slug}"), format!("key:{key}")];
        let details = format!("recipient={key} allow_missing={allow_missing}");
        self.door(Action::SiteRestitution, resources, details, now, |rec| {
            self.archive_site(slug, Some(&key), &[], allow_missing, progress, now, rec)
        })
    }

    /// `site backup`: the site into the vault, a `backup` dataset of its contract (ARC-1
    /// retention), on `stores` (the config's default stores when empty; LOC-1 as always).
    pub fn site_backup(
        &self,
        slug: &str,
        stores: &[String],
        allow_missing: bool,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<Made, Error> {
        let details = format!("allow_missing={allow_missing}");
        self.door(Action::SiteBackup, vec![format!("site:{slug}")], details, now, |rec| {
            self.archive_site(slug, None, stores, allow_missing, progress, now, rec)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn archive_site(
        &self,
        slug: &str,
        recipient: Option<&str>,
        stores: &[String],
        allow_missing: bool,
        progress: &dyn Progress,
        now: DateTime<Utc>,
        rec: &mut Record,
    ) -> Result<Made, Error> {
        let site = self.site_row(slug)?;
        let db = moodle::DbUrl::parse(&site.db_url).map_err(site_err(slug))?;
        let signer = Signer(self.signer()?);
        let opts = moodle::Options { allow_missing, day: now.format("%Y%m%d").to_string(), created: rfc3339(now) };
        let (class, label, kind) = match recipient {
            Some(_) => (DatasetClass::Export, format!("restitution of site {slug}"), "restitution"),
            None => (DatasetClass::Backup, format!("backup of site {slug}"), "backup"),
        };
        let req = IngestRequest {
            client: &site.client,
            class,
            label: Some(&label),
            stores,
            contract: Some(&site.contract),
            to: None,
            provider: None,
        };
        let report_slot = Mutex::new(None);
        let (tx, rx) = mpsc::channel();
        let (pipe, writer) = crate::chanpipe::pipe();
        let moodledata = Path::new(&site.moodledata);
        let config = site.config_path.as_deref().map(Path::new);
        let msite = moodle::Site { slug, db: &db, moodledata, config };
        let result = std::thread::scope(|scope| {
            let pack_progress = PackProgress(progress);
            let (msite, opts, signer) = (&msite, &opts, &signer);
            scope.spawn(move || {
                // The pipe's writer is dropped before the outcome is sent: the reader sees
                // the end, then asks how it went.
                let r = moodle::pack(msite, opts, signer, writer, &pack_progress).map(|(report, w)| {
                    drop(w);
                    report
                });
                let _ = tx.send(r);
            });
            let mut input = Packed { pipe: Some(pipe), outcome: rx, report: &report_slot };
            let also = |c: &crate::catalog::Catalog, id: &str| {
                let guard = report_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(Ok(r)) = guard.as_ref() else {
                    return Err(Error::Corrupt("the archive ended without its report".into()));
                };
                let client_header = match recipient {
                    Some(k) => Some(self.client_header(id, &client_keys::parse_recipient(k)?)?),
                    None => None,
                };
                c.add_site_archive(&ArchiveRow {
                    dataset: id.to_owned(),
                    site: slug.to_owned(),
                    kind: kind.to_owned(),
                    recipient: recipient.map(str::to_owned),
                    top: r.top.clone(),
                    files: r.files,
                    file_bytes: r.file_bytes,
                    db_bytes: r.db_bytes,
                    sums_sha256: r.sums_sha256.clone(),
                    inconsistencies: r.inconsistencies.iter().map(|i| format!("{i}\n")).collect(),
                    client_header,
                })
            };
            let r = self.ingest_inner(&mut input, &req, &Quiet, now, rec, &also);
            // When the vault stopped first, the packer fails writing to the closed pipe:
            // its outcome says whether it had failed on its own before.
            input.pipe = None;
            let late = match report_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_none() {
                true => input.outcome.recv().ok(),
                false => None,
            };
            (r, late)
        });
        let (result, late) = result;
        // A pack that failed is the error to tell (the vault saw only a broken pipe).
        let report = report_slot.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        match (result, report) {
            (Ok(dataset), Some(Ok(report))) => Ok(Made { dataset, report }),
            (_, Some(Err(e))) => Err(site_err(slug)(e)),
            (Err(e), _) => match late {
                Some(Err(pe)) if !matches!(pe, moodle::Error::Output(_)) => Err(site_err(slug)(pe)),
                _ => Err(e),
            },
            (Ok(_), _) => Err(Error::Corrupt("the archive ended without its report".into())),
        }
    }
}

/// The vault's progress during an archive: the pack reports bytes read from the site
/// (its total is the site's size); the sealing's count of archive bytes is dropped.
struct Quiet;

impl Progress for Quiet {
    fn set_total(&self, _total: u64) {}
    fn set_done(&self, _done: u64) {}
}

impl Vault {
    /// `site restore`: a site's backup put back into an empty database and an empty (or
    /// new) directory. The plaintext streams from the vault into the database's client and
    /// the files; it is recorded before the first byte, as every read of client data.
    pub fn site_restore(
        &self,
        id: &str,
        db_url: &str,
        moodledata: &Path,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<moodle::Restored, Error> {
        let details = format!("db={} moodledata={}", moodle::redact_url(db_url), moodledata.display());
        self.door(Action::SiteRestore, vec![format!("dataset:{id}")], details, now, |rec| {
            let ds = self.catalog.dataset(id)?;
            let archive = self
                .catalog
                .site_archives_of(id)?
                .filter(|a| a.kind == "backup" && ds.class == DatasetClass::Backup)
                .ok_or_else(|| {
                    Error::BadInput(format!(
                        "{id} is not a site's backup (`gardien site show SITE` lists them); a restitution is the client's to restore"
                    ))
                })?;
            rec.resources.push(format!("site:{}", archive.site));
            let db = moodle::DbUrl::parse(db_url).map_err(site_err(&archive.site))?;
            // A dump goes back into its own engine only.
            let engine = moodle::DbUrl::parse(&self.site_row(&archive.site)?.db_url).map(|d| d.engine).ok();
            if engine.is_some_and(|e| e != db.engine) {
                return Err(Error::BadInput(format!(
                    "{id} is a backup of a {} site: restore it into a {} database",
                    engine.map_or("", |e| e.as_str()),
                    engine.map_or("", |e| e.as_str())
                )));
            }
            absolute("--moodledata", moodledata)?;
            // Checked before anything is read from the vault: bad input changes nothing.
            moodle::unpack::check_empty(&db, moodledata).map_err(site_err(&archive.site))?;
            let (pipe, mut writer) = io::pipe().map_err(|e| Error::Corrupt(format!("a pipe: {e}")))?;
            let site = archive.site.clone();
            std::thread::scope(|scope| {
                let pack_progress = PackProgress(progress);
                let db = &db;
                let unpacker = scope.spawn(move || moodle::unpack(pipe, db, moodledata, &pack_progress));
                let streamed = self.get_stream_inner(id, &mut writer, &Quiet, rec, &|_| Ok(()));
                drop(writer);
                let unpacked = unpacker.join().unwrap_or_else(|_| Err(moodle::Error::Internal("the restore stopped".into())));
                match (streamed, unpacked) {
                    (Ok(()), Ok(r)) => Ok(r),
                    // A copy that failed its check is the cause (the unpacker only saw
                    // its stream end early).
                    (Err(e @ (Error::CopyCorrupt { .. } | Error::NoReadableCopy { .. })), _) => Err(e),
                    // Otherwise the unpacker's error says more than a broken pipe.
                    (_, Err(e)) => Err(site_err(&site)(e)),
                    (Err(e), Ok(_)) => Err(e),
                }
            })
        })
    }
}

/// A restitution's file as one download delivers it (HTTP `Range`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The whole file's length.
    pub total: u64,
    /// The first byte sent.
    pub start: u64,
    /// The last byte sent (inclusive); `start > end` for an empty file.
    pub end: u64,
    /// Whether a range was asked and is served (206).
    pub partial: bool,
    /// Changes whenever the bytes would (the dataset and its header).
    pub etag: String,
    /// A file name for it (`SITE-YYYYMMDD.age`).
    pub name: String,
}

/// Given what a download sends, where to write it (the HTTP body).
pub type OpenBody<'a> = dyn FnMut(&Download) -> Result<Box<dyn io::Write + Send>, Error> + 'a;

/// A `Range: bytes=...` asked for: (first, last), either open.
pub type ByteRange = (Option<u64>, Option<u64>);

/// Writes only the bytes from `skip` on, `left` of them, of what it is given.
struct Window<'a> {
    out: &'a mut (dyn io::Write + Send),
    skip: u64,
    left: u64,
}

impl io::Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut b = buf;
        let skip = usize::try_from(self.skip.min(b.len() as u64)).unwrap_or(b.len());
        b = &b[skip..];
        self.skip -= skip as u64;
        let take = usize::try_from(self.left.min(b.len() as u64)).unwrap_or(b.len());
        if take > 0 {
            self.out.write_all(&b[..take])?;
            self.left -= take as u64;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The age payload's length for `n` plaintext bytes: the nonce and 64 KiB chunks, each
/// with its 16-byte tag (an empty file has one empty chunk).
fn payload_len(n: u64) -> u64 {
    let chunk = crate::agefile::CHUNK as u64;
    16 + n + 16 * n.div_ceil(chunk).max(1)
}

impl Vault {
    /// The header of dataset `id`'s file for `to`, made once from one of its copies.
    fn client_header(&self, id: &str, to: &age::x25519::Recipient) -> Result<Vec<u8>, Error> {
        let identity = crate::keys::unwrap_dataset_key(&self.master_key()?, id, &self.catalog.wrapped_key(id)?)?;
        let ds = self.catalog.dataset(id)?;
        let mut failures = Vec::new();
        for copy in &ds.copies {
            match self.open_copy(&ds, copy, &identity) {
                Ok((_, file_key)) => {
                    return crate::agefile::header_for(&file_key, to).map_err(|e| Error::Corrupt(e.to_string()));
                }
                Err(e) => failures.push(e),
            }
        }
        Err(crate::no_readable_copy(&ds, failures))
    }

    /// A restitution's file for its client (`dataset:export` to the key it was made for,
    /// OPS-2): its stored header, then the payload as stored, each chunk authenticated
    /// before it goes. `range` (from HTTP `Range`) and `if_range` (an ETag) choose the
    /// bytes; `open` gets what will be sent before the first byte and gives where to write.
    /// Recorded before the first byte, as every stream of client data.
    pub fn restitution_download(
        &self,
        id: &str,
        range: Option<ByteRange>,
        if_range: Option<&str>,
        open: &mut OpenBody<'_>,
        now: DateTime<Utc>,
    ) -> Result<Download, Error> {
        // The key it was made for is part of the request (the policy checks the client
        // still has it); a dataset with no restitution names none, and is refused.
        let archive = if crate::door::valid_id("dataset", id) { self.catalog.site_archives_of(id)? } else { None };
        let mut resources = vec![format!("dataset:{id}")];
        if let Some(k) = archive.as_ref().and_then(|a| a.recipient.as_ref()) {
            resources.push(format!("key:{k}"));
        }
        let details = format!("download range={range:?}");
        self.door(Action::DatasetExport, resources, details, now, |rec| {
            let archive = archive.filter(|a| a.kind == "restitution").ok_or_else(|| {
                Error::BadInput(format!("{id} is not a restitution: `gardien dataset export` hands any dataset back"))
            })?;
            let header = archive.client_header.clone().unwrap_or_default();
            let (ds, identity) = self.unlock(id, rec, &Quiet)?;
            let total = header.len() as u64 + payload_len(ds.size);
            let etag = {
                use sha2::Digest as _;
                let h = sha2::Sha256::digest(&header);
                format!("\"{id}-{}\"", hex::encode(&h[..8]))
            };
            // If-Range with another validator: the whole file (RFC 9110 13.1.5).
            let range = range.filter(|_| if_range.is_none_or(|t| t == etag));
            let (start, end, partial) = match range {
                None => (0, total.saturating_sub(1), false),
                Some((Some(a), b)) if a < total => (a, b.map_or(total - 1, |b| b.min(total - 1)), true),
                Some((None, Some(n))) if n > 0 => (total.saturating_sub(n), total - 1, true),
                Some(_) => {
                    return Err(Error::RangeNotSatisfiable { total });
                }
            };
            if partial && start > end {
                return Err(Error::RangeNotSatisfiable { total });
            }
            let dl = Download { total, start, end, partial, etag, name: format!("{}.age", archive.top) };
            let mut failures = Vec::new();
            for copy in &ds.copies {
                let opened = match self.open_copy(&ds, copy, &identity) {
                    Ok(x) => x,
                    Err(e) => {
                        failures.push(e);
                        continue;
                    }
                };
                rec.resources.push(format!("store:{}", copy.store));
                // Listed among the copies that left, as the client's own, once per whole
                // download (a resumed one is the same file).
                let out_copy = (start == 0).then(|| crate::catalog::OutCopy {
                    id: crate::copies::new_copy_id(),
                    dataset: ds.id.clone(),
                    kind: "client".into(),
                    environment: "client".into(),
                    holder: archive.recipient.clone().unwrap_or_default(),
                    created: rec.time().to_owned(),
                    attested: None,
                });
                self.record(rec, crate::Outcome::Allowed, |c| {
                    c.ensure_active(id)?;
                    out_copy.as_ref().map_or(Ok(()), |cp| c.add_out_copy(cp))
                })?;
                let (mut reader, file_key) = opened;
                // The payload's nonce, then its chunks as stored (as `export` writes them).
                let mut nonce = [0u8; 16];
                io::Read::read_exact(&mut reader, &mut nonce).map_err(|e| crate::copy_error(&ds, copy, e.into()))?;
                let mut out = open(&dl)?;
                let mut w = Window { out: &mut *out, skip: start, left: (end + 1).saturating_sub(start) };
                io::Write::write_all(&mut w, &header).map_err(Error::Output)?;
                io::Write::write_all(&mut w, &nonce).map_err(Error::Output)?;
                if w.left > 0 {
                    let payload: Box<dyn io::Read + Send> = Box::new(io::Cursor::new(nonce).chain(reader));
                    crate::read_copy(&ds, copy, (payload, file_key), &mut w, crate::Part::Ciphertext, &Quiet)?;
                }
                io::Write::flush(&mut w).map_err(Error::Output)?;
                return Ok(dl);
            }
            Err(crate::no_readable_copy(&ds, failures))
        })
    }
}
