//! An S3-compatible bucket as a store (issue 14): OVHcloud, Scaleway, Garage, MinIO,
//! SeaweedFS... through `object_store`'s S3 client.
//!
//! The same guarantees as a local store:
//! - **visible only when complete**: a copy is one multipart upload, invisible under its
//!   name until S3 completes it; a small one is a single PUT, atomic as well;
//! - **constant memory**: the sealing threads write blocks at their offsets, in any order;
//!   each lands in the buffer of its fixed-size part, and a part is sent as soon as it is
//!   full, several at once, the writers waiting when `IN_FLIGHT` parts are on the wire;
//! - **nothing left behind**: an upload's id is written (and synced) to the data dir's
//!   `run/uploads/` before its first part, so what a killed process started is aborted by
//!   the next `fsck` (or the ingest's own cleanup); S3 bills incomplete uploads otherwise;
//! - **checked**: the object's entity tag after completion is kept, and fsck compares it.
//!
//! Credentials never reach the catalog: they are read when the store is opened, from the
//! file the store names (`access_key_id` and `secret_access_key`, TOML, the owner's alone)
//! or from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`).
//! Nothing else is looked up (no instance metadata, no profile files).
//!
//! The client is asynchronous: one Tokio runtime, made on first use and shared by every S3
//! store of the process, runs it; the vault's synchronous side blocks on it. The vault is
//! called from plain threads or `spawn_blocking` (the server), never from async code.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};
use sha2::{Digest as _, Sha256};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::S3Bucket;
use crate::Error;

/// The size of every part but the last (S3 wants at least 5 MiB; `aws s3 cp` uses 8).
pub(crate) const PART: usize = 8 << 20;
/// Parts on the wire at once, per copy.
const IN_FLIGHT: usize = 8;
/// Longest a credentials file may be.
const MAX_CREDENTIALS: u64 = 4096;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        #[allow(clippy::expect_used)] // fails only when no thread can be spawned at all
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gardien-s3")
            .enable_all()
            .build()
            .expect("the S3 client's runtime")
    })
}

/// `s3://BUCKET` or `s3://BUCKET/PREFIX` → (bucket, prefix without slashes at its ends).
/// The bucket follows S3's naming rules; the prefix is segments of printable ASCII, none
/// empty, `.` or `..`.
pub(crate) fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or("an S3 store's address is s3://BUCKET/PREFIX")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_end_matches('/');
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..");
    if !bucket_ok {
        return Err("the bucket name must be 3 to 63 lowercase letters, digits, dots and dashes".into());
    }
    if prefix.len() > 512 {
        return Err("the prefix is longer than 512 characters".into());
    }
    if !prefix.is_empty()
        && !prefix.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
    {
        return Err("the prefix must be segments of letters, digits, dots, dashes and underscores, \
                    separated by single slashes, none of them '.' or '..'"
            .into());
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

/// An endpoint is `http(s)://HOST[:PORT]` with printable ASCII, no user or password in it
/// (credentials come from elsewhere), no path, query or fragment. Never echoed when wrong:
/// what was typed might hold a secret.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        let host = host.strip_suffix('/').unwrap_or(host);
        !host.is_empty()
            && host.len() <= 255
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    });
    if ok { Ok(()) } else { Err("the endpoint must be http(s)://HOST[:PORT], nothing more".into()) }
}

/// A region is what the provider calls it (`gra`, `fr-par`, `us-east-1`).
pub(crate) fn check_region(region: &str) -> Result<(), String> {
    if (1..=64).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err("the region must be letters, digits and dashes".into())
    }
}

struct Keys {
    id: String,
    secret: String,
    token: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

/// The store's keys, from its file or the environment; errors name the file or the
/// variable, never what is in them.
fn keys(name: &str, b: &S3Bucket) -> Result<Keys, Error> {
    let setup = |reason: String| Error::StoreSetup { store: name.to_owned(), reason };
    match &b.credentials {
        Some(path) => {
            use std::os::unix::fs::MetadataExt as _;
            let shown = path.display();
            let meta =
                fs::symlink_metadata(path).map_err(|e| setup(format!("credentials file {shown}: {}", e.kind())))?;
            if !meta.is_file() {
                return Err(setup(format!("credentials file {shown} is not a regular file")));
            }
            if meta.mode() & 0o077 != 0 {
                return Err(setup(format!(
                    "credentials file {shown} is readable by others (mode {:o}); chmod 600 it",
                    meta.mode() & 0o777
                )));
            }
            if meta.len() > MAX_CREDENTIALS {
                return Err(setup(format!("credentials file {shown} is larger than {MAX_CREDENTIALS} bytes")));
            }
            let mut text = String::new();
            fs::File::open(path)
                .and_then(|f| f.take(MAX_CREDENTIALS).read_to_string(&mut text))
                .map_err(|e| setup(format!("credentials file {shown}: {}", e.kind())))?;
            // toml's message quotes the offending line, which may be the secret: not shown.
            let k: KeysFile = toml::from_str(&text).map_err(|_| {
                setup(format!(
                    "credentials file {shown} must hold exactly access_key_id = \"...\" and \
                     secret_access_key = \"...\" (and optionally session_token), in TOML"
                ))
            })?;
            Ok(Keys { id: k.access_key_id, secret: k.secret_access_key, token: k.session_token })
        }
        None => {
            let var = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Ok(Keys { id, secret, token: var("AWS_SESSION_TOKEN") }),
                _ => Err(setup(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add the store \
                     with --credentials FILE"
                        .into(),
                )),
            }
        }
    }
}

/// An opened S3 store.
pub(crate) struct S3 {
    name: String,
    client: Arc<AmazonS3>,
    prefix: String,
    uploads: PathBuf,
}

impl S3 {
    /// Builds the client; nothing is sent yet. `uploads` is where upload ids are journaled.
    pub(crate) fn open(name: &str, b: &S3Bucket, uploads: &Path) -> Result<S3, Error> {
        let k = keys(name, b)?;
        let options = ClientOptions::new()
            .with_allow_http(b.endpoint.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120));
        // A store that stops answering fails the operation within about a minute, rather
        // than retrying for the client's default three.
        let retry = RetryConfig { max_retries: 4, retry_timeout: Duration::from_secs(60), ..RetryConfig::default() };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&b.bucket)
            .with_region(&b.region)
            .with_endpoint(&b.endpoint)
            .with_allow_http(b.endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_access_key_id(k.id)
            .with_secret_access_key(k.secret)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(token) = k.token {
            builder = builder.with_token(token);
        }
        let client = builder.build().map_err(|e| Error::Store { store: name.to_owned(), source: e })?;
        Ok(S3 {
            name: name.to_owned(),
            client: Arc::new(client),
            prefix: b.prefix.clone(),
            uploads: uploads.to_owned(),
        })
    }

    fn err(&self, source: object_store::Error) -> Error {
        Error::Store { store: self.name.clone(), source }
    }

    fn path(&self, object: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(object)
        } else {
            ObjectPath::from(format!("{}/{object}", self.prefix))
        }
    }

    /// Lists one page under the prefix: the bucket exists and the keys open it.
    pub(crate) fn probe(&self) -> Result<(), Error> {
        let prefix = self.path("datasets");
        runtime().block_on(self.client.list_with_delimiter(Some(&prefix))).map(|_| ()).map_err(|e| self.err(e))
    }

    pub(crate) fn reader(&self, object: &str) -> Result<Box<dyn Read + Send>, Error> {
        let got = runtime().block_on(self.client.get(&self.path(object))).map_err(|e| self.err(e))?;
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 20,
            super::StreamReader::new(got.into_stream(), Some(runtime())),
        )))
    }

    /// The object's entity tag, or `None` if it is not there.
    pub(crate) fn etag(&self, object: &str) -> Result<Option<String>, Error> {
        match runtime().block_on(self.client.head(&self.path(object))) {
            Ok(meta) => Ok(Some(meta.e_tag.unwrap_or_default())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    pub(crate) fn delete(&self, object: &str) -> Result<(), Error> {
        match runtime().block_on(self.client.delete(&self.path(object))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        use futures::StreamExt as _;
        let full = self.path(prefix);
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        runtime().block_on(async {
            let mut out = Vec::new();
            let mut stream = self.client.list(Some(&full));
            while let Some(meta) = stream.next().await {
                let location = meta.map_err(|e| self.err(e))?.location.to_string();
                out.push(location.strip_prefix(&strip).unwrap_or(&location).to_owned());
            }
            Ok(out)
        })
    }

    /// The journal file of uploads of `object` to this store.
    fn journal(&self, object: &str) -> PathBuf {
        let h = Sha256::digest(format!("{}\n{object}", self.name).as_bytes());
        self.uploads.join(format!("{}.{}", self.name, &hex::encode(h)[..32]))
    }

    /// Aborts the upload of `object` a dead process journaled; 1 if there was one.
    pub(crate) fn remove_partial(&self, object: &str) -> Result<usize, Error> {
        let journal = self.journal(object);
        let text = match fs::read_to_string(&journal) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(Error::Io { path: journal, source }),
        };
        let id = text.lines().nth(1).unwrap_or_default().to_owned();
        if !id.is_empty() {
            match runtime().block_on(self.client.abort_multipart(&self.path(object), &id)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(e)),
            }
        }
        fs::remove_file(&journal).map_err(|source| Error::Io { path: journal, source })?;
        Ok(1)
    }

    /// Every object with an upload journaled for this store.
    pub(crate) fn journaled(&self) -> Result<Vec<String>, Error> {
        let entries = match fs::read_dir(&self.uploads) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { path: self.uploads.clone(), source }),
        };
        let mine = format!("{}.", self.name);
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io { path: self.uploads.clone(), source })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Names are `<store>.<32 hex>`; a store's name has no dot, so no other store's match.
            if name.strip_prefix(&mine).is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
                let text =
                    fs::read_to_string(entry.path()).map_err(|source| Error::Io { path: entry.path(), source })?;
                if let Some(object) = text.lines().next().filter(|o| self.journal(o) == entry.path()) {
                    out.push(object.to_owned());
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn writer(&self, object: &str) -> Writer<'_> {
        Writer {
            s3: self,
            object: object.to_owned(),
            path: self.path(object),
            state: Mutex::new(State::default()),
            done: false,
        }
    }
}

#[derive(Default)]
struct State {
    /// Parts being filled, by index.
    filling: BTreeMap<usize, (Vec<u8>, usize)>,
    /// The multipart upload, once a first part is full.
    upload: Option<String>,
    /// Parts on the wire, oldest first.
    sending: VecDeque<(usize, JoinHandle<object_store::Result<PartId>>)>,
    /// Parts S3 has.
    sent: BTreeMap<usize, PartId>,
    /// One past the last byte written.
    end: u64,
}

/// A copy being written to S3. Dropped without `finish`, its upload is aborted.
pub(crate) struct Writer<'a> {
    s3: &'a S3,
    object: String,
    path: ObjectPath,
    state: Mutex<State>,
    done: bool,
}

impl Writer<'_> {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        self.state.lock().map_err(|_| Error::Corrupt("an S3 writer's state was poisoned".into()))
    }

    /// Starts the multipart upload and journals its id before any part is sent.
    fn start(&self, st: &mut State) -> Result<(), Error> {
        if st.upload.is_some() {
            return Ok(());
        }
        let id = runtime().block_on(self.s3.client.create_multipart(&self.path)).map_err(|e| self.s3.err(e))?;
        let journal = self.s3.journal(&self.object);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        let written = (|| {
            fs::create_dir_all(&self.s3.uploads)?;
            super::private_dir(&self.s3.uploads).map_err(|e| io::Error::other(e.to_string()))?;
            let tmp = journal.with_extension("tmp");
            {
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
                writeln!(f, "{}\n{id}", self.object)?;
                f.sync_all()?;
            }
            fs::rename(&tmp, &journal)?;
            fs::File::open(&self.s3.uploads)?.sync_all()
        })();
        if let Err(e) = written {
            let _ = runtime().block_on(self.s3.client.abort_multipart(&self.path, &id));
            return Err(io(&journal)(e));
        }
        st.upload = Some(id);
        Ok(())
    }

    /// Sends a full part, waiting first while `IN_FLIGHT` are on the wire.
    fn send(&self, st: &mut State, idx: usize, data: Vec<u8>) -> Result<(), Error> {
        self.start(st)?;
        while st.sending.len() >= IN_FLIGHT {
            self.reap_one(st)?;
        }
        let (client, path) = (Arc::clone(&self.s3.client), self.path.clone());
        let id = st.upload.clone().unwrap_or_default();
        let task = runtime().spawn(async move { client.put_part(&path, &id, idx, PutPayload::from(data)).await });
        st.sending.push_back((idx, task));
        Ok(())
    }

    fn reap_one(&self, st: &mut State) -> Result<(), Error> {
        if let Some((idx, task)) = st.sending.pop_front() {
            let part = runtime()
                .block_on(task)
                .map_err(|e| Error::Corrupt(format!("an S3 upload task failed: {e}")))?
                .map_err(|e| self.s3.err(e))?;
            st.sent.insert(idx, part);
        }
        Ok(())
    }

    /// Writes `data` at `offset`; each range is written once.
    pub(crate) fn write_at(&self, offset: u64, mut data: &[u8]) -> Result<(), Error> {
        let mut st = self.lock()?;
        let mut at = offset;
        st.end = st.end.max(offset + data.len() as u64);
        while !data.is_empty() {
            let idx = (at / PART as u64) as usize;
            let within = (at % PART as u64) as usize;
            let n = data.len().min(PART - within);
            let full = {
                let (buf, filled) = st.filling.entry(idx).or_insert_with(|| (vec![0; PART], 0));
                buf[within..within + n].copy_from_slice(&data[..n]);
                *filled += n;
                *filled == PART
            };
            if full && let Some((buf, _)) = st.filling.remove(&idx) {
                self.send(&mut st, idx, buf)?;
            }
            data = &data[n..];
            at += n as u64;
        }
        Ok(())
    }

    /// Sends what is left, completes the upload (or puts a small object whole) and
    /// returns the object's entity tag.
    pub(crate) fn finish(mut self) -> Result<String, Error> {
        let mut st = std::mem::take(&mut *self.lock()?);
        let last = (st.end.max(1) - 1) / PART as u64;
        let tail = st.end - last * PART as u64;
        // Every part before the last was full and sent; the last holds exactly the rest.
        let whole = st.filling.len() <= 1
            && st.filling.iter().all(|(i, (_, filled))| *i as u64 == last && *filled as u64 == tail)
            && (st.filling.contains_key(&(last as usize)) || st.end == 0);
        if !whole {
            *self.lock()? = st;
            return Err(Error::Corrupt(format!("the copy of {} on store {} has gaps", self.object, self.s3.name)));
        }
        let result = (|| {
            if st.upload.is_none() {
                // Small enough for one PUT, which is atomic too.
                let data = st.filling.remove(&(last as usize)).map(|(mut b, _)| {
                    b.truncate(tail as usize);
                    b
                });
                runtime()
                    .block_on(self.s3.client.put(&self.path, PutPayload::from(data.unwrap_or_default())))
                    .map_err(|e| self.s3.err(e))?;
                return Ok(());
            }
            if let Some((mut b, _)) = st.filling.remove(&(last as usize)) {
                b.truncate(tail as usize);
                self.send(&mut st, last as usize, b)?;
            }
            while !st.sending.is_empty() {
                self.reap_one(&mut st)?;
            }
            let parts: Vec<PartId> = std::mem::take(&mut st.sent).into_values().collect();
            if parts.len() as u64 != last + 1 {
                return Err(Error::Corrupt(format!(
                    "the copy of {} on store {} lost a part",
                    self.object, self.s3.name
                )));
            }
            let id = st.upload.clone().unwrap_or_default();
            runtime()
                .block_on(self.s3.client.complete_multipart(&self.path, &id, parts))
                .map_err(|e| self.s3.err(e))?;
            st.upload = None;
            Ok(())
        })();
        if let Err(e) = result {
            *self.lock()? = st;
            return Err(e);
        }
        self.done = true;
        let _ = fs::remove_file(self.s3.journal(&self.object));
        let tag = self.s3.etag(&self.object)?.ok_or_else(|| {
            Error::Corrupt(format!(
                "the copy of {} on store {} is not there after its upload",
                self.object, self.s3.name
            ))
        })?;
        tracing::debug!(store = %self.s3.name, object = %self.object, "copy uploaded");
        Ok(tag)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Ok(mut st) = self.state.lock() else { return };
        for (_, task) in st.sending.drain(..) {
            task.abort();
        }
        if let Some(id) = st.upload.take() {
            // Aborted here, or by the next fsck if this fails (its id stays journaled).
            if runtime().block_on(self.s3.client.abort_multipart(&self.path, &id)).is_ok() {
                let _ = fs::remove_file(self.s3.journal(&self.object));
            }
        }
    }
}
