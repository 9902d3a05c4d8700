//! Blob stores, through the `object_store` crate: a local directory, or an S3-compatible
//! bucket (`s3`: OVHcloud, Scaleway, Garage, MinIO...). Every store has a site; the vault
//! checks it against the allowed sites (LOC-1) before every write.
//!
//! The vault's side is synchronous: `object_store`'s local backend runs its blocking work
//! inline when no Tokio runtime is around, so `futures::executor::block_on` drives it; the
//! S3 backend runs on a runtime of its own (`s3.rs`).
//!
//! Writes: `object_store`'s local upload renames its staging file into place but never
//! syncs it, and takes its parts one at a time in order. A local store's writer is ours:
//! positional writes from every sealing thread into a staging file, write-back started in
//! the background as it grows, then fsync, rename, and fsync of the directory. An S3
//! store's writer puts the same blocks into fixed-size multipart parts, several on the
//! wire at once. A dataset is made visible only after every copy's `finish` returned.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::FileExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use futures::executor::block_on;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStore};

use crate::Error;

mod s3;

pub(crate) use s3::parse_url as parse_s3_url;
pub(crate) use s3::{check_endpoint as check_s3_endpoint, check_region as check_s3_region};

/// What kind of backend a store is, with what it needs to be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// A directory on this machine.
    Local {
        /// The directory holding the objects.
        root: PathBuf,
    },
    /// A bucket (and a prefix in it) of an S3-compatible service.
    S3(S3Bucket),
}

/// Where an S3 store is; its keys are not here (see `s3.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Bucket {
    /// `http(s)://HOST[:PORT]`.
    pub endpoint: String,
    /// The provider's region name.
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// The prefix objects go under, without slashes at its ends (may be empty).
    pub prefix: String,
    /// The file holding the keys; `None`: the environment's `AWS_*` variables.
    pub credentials: Option<PathBuf>,
    /// A PEM file of certificate authorities trusted for an https endpoint, besides the
    /// system's.
    pub ca: Option<PathBuf>,
}

impl S3Bucket {
    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A store as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Its name (`local`, `roubaix-2`...).
    pub name: String,
    /// The site it is on (LOC-1).
    pub site: String,
    /// How to reach it.
    pub kind: StoreKind,
    /// When it was added (RFC 3339).
    pub created: String,
}

impl StoreInfo {
    /// `local` or `s3`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            StoreKind::Local { .. } => "local",
            StoreKind::S3(_) => "s3",
        }
    }

    /// The directory or `s3://BUCKET/PREFIX` it lives at.
    pub fn location(&self) -> String {
        match &self.kind {
            StoreKind::Local { root } => root.to_string_lossy().into_owned(),
            StoreKind::S3(b) => b.url(),
        }
    }
}

/// An opened store.
pub struct Store {
    info: StoreInfo,
    backend: Backend,
}

/// How an opened store is reached (what `StoreInfo::kind` says, opened).
enum Backend {
    Local { root: PathBuf, inner: Arc<dyn ObjectStore> },
    S3(s3::S3),
}

/// Makes a directory its owner's alone (0700) if it is looser.
pub(crate) fn private_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let m = fs::metadata(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    if m.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    }
    Ok(())
}

impl Store {
    /// Opens the backend of `info`; a local store's directory is created if missing. An S3
    /// store journals its uploads' ids in `uploads` (the data dir's `run/uploads`).
    pub fn open(info: &StoreInfo, uploads: &Path) -> Result<Store, Error> {
        Store::open_with(info, uploads, false)
    }

    /// `open`; `quick`: an S3 store's requests get one short try (a few seconds), for work
    /// that may wait for a later run rather than hold up a command.
    pub fn open_with(info: &StoreInfo, uploads: &Path, quick: bool) -> Result<Store, Error> {
        let backend = match &info.kind {
            StoreKind::Local { root } => {
                fs::create_dir_all(root).map_err(|source| Error::Io { path: root.clone(), source })?;
                // Blobs are ciphertext, but whoever could write here could replace or delete
                // them: a store's directory is gardien's alone, whatever the umask.
                private_dir(root)?;
                let inner = Arc::new(LocalFileSystem::new_with_prefix(root).map_err(|e| self::err(info, e))?);
                Backend::Local { root: root.clone(), inner }
            }
            StoreKind::S3(b) => Backend::S3(s3::S3::open(&info.name, b, uploads, quick)?),
        };
        Ok(Store { info: info.clone(), backend })
    }

    /// Asks an S3 store for one page of its listing (the bucket is there and the keys open
    /// it); nothing for a local one.
    pub fn probe(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Local { .. } => Ok(()),
            Backend::S3(s) => s.probe(),
        }
    }

    /// The catalog's view of this store.
    pub fn info(&self) -> &StoreInfo {
        &self.info
    }

    /// Starts writing `object`; nothing is visible under that name until `finish`.
    pub fn writer(&self, object: &str) -> Result<StoreWriter<'_>, Error> {
        match &self.backend {
            Backend::S3(s) => Ok(StoreWriter(WriterKind::S3(s.writer(object)))),
            Backend::Local { root, .. } => {
                let (dest, staging) = staging_for(root, object)?;
                let io = |path: &Path| {
                    let path = path.to_owned();
                    move |source| Error::Io { path, source }
                };
                let file = fs::OpenOptions::new()
                    .mode(0o600)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&staging)
                    .map_err(io(&staging))?;
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let syncer = file.try_clone().map_err(io(&staging))?;
                // Write-back runs beside the writes, so the final fsync has little left to do.
                let flusher = std::thread::spawn(move || {
                    for () in rx {
                        let _ = syncer.sync_data();
                    }
                });
                Ok(StoreWriter(WriterKind::Local(LocalWriter {
                    store: self,
                    file,
                    staging,
                    dest,
                    written: AtomicU64::new(0),
                    flush: Mutex::new(Some((tx, flusher))),
                    done: false,
                })))
            }
        }
    }

    /// Makes the complete file at `src` the object `object`: a hard link when the store is
    /// on the same filesystem (no copy), else a copy; synced, then renamed into place and
    /// its directory synced, as `writer` does. `src` is left where it is. An S3 store
    /// uploads it. Returns the object's entity tag on a remote store.
    pub fn adopt(&self, object: &str, src: &Path) -> Result<Option<String>, Error> {
        match &self.backend {
            Backend::S3(_) => {
                let mut from = fs::File::open(src).map_err(|source| Error::Io { path: src.to_owned(), source })?;
                let w = self.writer(object)?;
                let mut buf = vec![0; s3::PART];
                let mut at = 0u64;
                loop {
                    let n = crate::agefile::read_full(&mut from, &mut buf)
                        .map_err(|source| Error::Io { path: src.to_owned(), source })?;
                    if n == 0 {
                        break;
                    }
                    w.write_at(at, &buf[..n])?;
                    at += n as u64;
                }
                w.finish()
            }
            Backend::Local { root, .. } => {
                let (dest, staging) = staging_for(root, object)?;
                let io = |path: &Path| {
                    let path = path.to_owned();
                    move |source| Error::Io { path, source }
                };
                let _ = fs::remove_file(&staging);
                if fs::hard_link(src, &staging).is_err() {
                    let mut from = fs::File::open(src).map_err(io(src))?;
                    let mut to = fs::OpenOptions::new()
                        .mode(0o600)
                        .write(true)
                        .create_new(true)
                        .open(&staging)
                        .map_err(io(&staging))?;
                    let copied = io::copy(&mut from, &mut to).and_then(|_| to.sync_all());
                    if let Err(source) = copied {
                        let _ = fs::remove_file(&staging);
                        return Err(Error::Io { path: staging, source });
                    }
                } else {
                    fs::File::open(&staging).and_then(|f| f.sync_all()).map_err(io(&staging))?;
                }
                if let Err(source) = fs::rename(&staging, &dest) {
                    let _ = fs::remove_file(&staging);
                    return Err(Error::Io { path: dest, source });
                }
                if let Some(dir) = dest.parent() {
                    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
                }
                Ok(None)
            }
        }
    }

    /// Reads `object` from its start.
    pub fn reader(&self, object: &str) -> Result<Box<dyn Read + Send>, Error> {
        let inner = match &self.backend {
            Backend::S3(s) => return s.reader(object),
            Backend::Local { inner, .. } => inner,
        };
        let got = block_on(inner.get(&ObjectPath::from(object))).map_err(|e| err(&self.info, e))?;
        Ok(match got.payload {
            GetResultPayload::File(file, _) => Box::new(io::BufReader::with_capacity(1 << 20, file)),
            GetResultPayload::Stream(stream) => Box::new(StreamReader { stream, buf: bytes::Bytes::new() }),
        })
    }

    /// Whether `object` exists.
    pub fn exists(&self, object: &str) -> Result<bool, Error> {
        let inner = match &self.backend {
            Backend::S3(s) => return Ok(s.etag(object)?.is_some()),
            Backend::Local { inner, .. } => inner,
        };
        match block_on(inner.head(&ObjectPath::from(object))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(err(&self.info, e)),
        }
    }

    /// Deletes `object`; deleting what is not there is not an error.
    pub fn delete(&self, object: &str) -> Result<(), Error> {
        let inner = match &self.backend {
            Backend::S3(s) => return s.delete(object),
            Backend::Local { inner, .. } => inner,
        };
        match block_on(inner.delete(&ObjectPath::from(object))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(err(&self.info, e)),
        }
    }

    /// After a failed write: removes `object` and what its upload left, with one short try
    /// on a remote store (what fails there stays journaled, for fsck). Errors are logged.
    pub fn discard(&self, object: &str) {
        let done = match &self.backend {
            Backend::S3(s) => s.discard(object),
            Backend::Local { .. } => self.delete(object).and_then(|()| self.remove_partial(object).map(drop)),
        };
        if let Err(e) = done {
            tracing::warn!(store = %self.info.name, "leftovers of a failed write wait for fsck: {e}");
        }
    }

    /// Removes what an interrupted upload of `object` left behind (a local store's
    /// staging files `<object>#N`, an S3 store's journaled multipart upload). Returns how
    /// many were removed.
    pub fn remove_partial(&self, object: &str) -> Result<usize, Error> {
        match &self.backend {
            Backend::S3(s) => s.remove_partial(object),
            Backend::Local { root, .. } => {
                let path = root.join(object);
                let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                    return Ok(0);
                };
                let prefix = format!("{}#", name.to_string_lossy());
                let entries = match fs::read_dir(dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                    Err(source) => return Err(Error::Io { path: dir.to_owned(), source }),
                };
                let mut removed = 0;
                for entry in entries {
                    let entry = entry.map_err(|source| Error::Io { path: dir.to_owned(), source })?;
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        fs::remove_file(entry.path()).map_err(|source| Error::Io { path: entry.path(), source })?;
                        removed += 1;
                    }
                }
                Ok(removed)
            }
        }
    }

    /// The objects whose upload a process journaled and did not finish (S3 stores; a
    /// local store's leftovers are found by name).
    pub fn journaled(&self) -> Result<Vec<String>, Error> {
        match &self.backend {
            Backend::Local { .. } => Ok(Vec::new()),
            Backend::S3(s) => s.journaled(),
        }
    }

    /// Every object under `prefix`, with its entity tag on a remote store (`None` on a
    /// local one).
    pub fn list_tagged(&self, prefix: &str) -> Result<Vec<(String, Option<String>)>, Error> {
        use futures::StreamExt as _;
        let inner = match &self.backend {
            Backend::S3(s) => return Ok(s.list(prefix)?.into_iter().map(|(name, tag)| (name, Some(tag))).collect()),
            Backend::Local { inner, .. } => inner,
        };
        let prefix = ObjectPath::from(prefix);
        let mut out = Vec::new();
        let mut stream = inner.list(Some(&prefix));
        while let Some(meta) = block_on(stream.next()) {
            out.push((meta.map_err(|e| err(&self.info, e))?.location.to_string(), None));
        }
        Ok(out)
    }
}

/// Where `object` lands under `root`, and its staging file beside it (`name#0`: what
/// object_store's own local uploads use, never listed, so a half-written blob is never
/// seen as an object); the directory is made, private.
fn staging_for(root: &Path, object: &str) -> Result<(PathBuf, PathBuf), Error> {
    let dest = root.join(object);
    let staging = PathBuf::from(format!("{}#0", dest.display()));
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
        private_dir(dir)?;
    }
    Ok((dest, staging))
}

fn err(info: &StoreInfo, source: object_store::Error) -> Error {
    Error::Store { store: info.name.clone(), error: source }
}

/// Bytes written between two background write-backs.
const FLUSH_EVERY: u64 = 128 << 20;

/// An object being written, by positional writes from several threads. Dropped without
/// `finish`, nothing of it stays.
pub struct StoreWriter<'a>(WriterKind<'a>);

enum WriterKind<'a> {
    Local(LocalWriter<'a>),
    S3(s3::Writer<'a>),
}

impl StoreWriter<'_> {
    /// Writes `data` at `offset`; each range is written once.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        match &self.0 {
            WriterKind::Local(w) => w.write_at(offset, data),
            WriterKind::S3(w) => w.write_at(offset, data),
        }
    }

    /// Makes the object durable, then visible under its name; returns a remote object's
    /// entity tag.
    pub fn finish(self) -> Result<Option<String>, Error> {
        match self.0 {
            WriterKind::Local(w) => w.finish().map(|()| None),
            WriterKind::S3(w) => w.finish().map(Some),
        }
    }
}

/// A local object being written: a staging file, removed if dropped without `finish`.
struct LocalWriter<'a> {
    store: &'a Store,
    file: fs::File,
    staging: PathBuf,
    dest: PathBuf,
    written: AtomicU64,
    flush: Mutex<Option<(mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>>,
    done: bool,
}

impl LocalWriter<'_> {
    /// Writes `data` at `offset`; each range is written once.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        self.file.write_all_at(data, offset).map_err(|source| Error::Io { path: self.staging.clone(), source })?;
        let before = self.written.fetch_add(data.len() as u64, Ordering::Relaxed);
        if before / FLUSH_EVERY != (before + data.len() as u64) / FLUSH_EVERY
            && let Ok(guard) = self.flush.lock()
            && let Some((tx, _)) = guard.as_ref()
        {
            // A write-back already queued covers this one too.
            let _ = tx.try_send(());
        }
        Ok(())
    }

    /// Makes the object durable, then visible under its name.
    fn finish(mut self) -> Result<(), Error> {
        if let Some((tx, flusher)) = self.flush.lock().ok().and_then(|mut f| f.take()) {
            drop(tx);
            let _ = flusher.join();
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        self.file.sync_all().map_err(io(&self.staging))?;
        fs::rename(&self.staging, &self.dest).map_err(io(&self.dest))?;
        self.done = true;
        if let Some(dir) = self.dest.parent() {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
        }
        tracing::debug!(store = %self.store.info.name, object = %self.dest.display(), "copy written and synced");
        Ok(())
    }
}

impl Drop for LocalWriter<'_> {
    fn drop(&mut self) {
        if let Some((tx, flusher)) = self.flush.lock().ok().and_then(|mut f| f.take()) {
            drop(tx);
            let _ = flusher.join();
        }
        if !self.done {
            let _ = fs::remove_file(&self.staging);
        }
    }
}

/// A blocking `Read` over a local object's byte stream, polled inline.
struct StreamReader {
    stream: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    buf: bytes::Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use futures::StreamExt as _;
        while self.buf.is_empty() {
            match block_on(self.stream.next()) {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        bytes::Buf::advance(&mut self.buf, n);
        Ok(n)
    }
}
