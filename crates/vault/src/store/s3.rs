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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{Certificate, ClientOptions, ObjectStore, PutPayload, RetryConfig};
use sha2::{Digest as _, Sha256};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::S3Bucket;
use crate::Error;

/// The size of every part but the last (S3 wants at least 5 MiB; `aws s3 cp` uses 8).
pub(crate) const PART: usize = 8 << 20;
/// Parts on the wire at once, per copy. Each request has `REQUEST_SECS` to finish, so a
/// link must carry `IN_FLIGHT` parts in that time: 4 x 8 MiB in 120 s is 0.28 MB/s.
const IN_FLIGHT: usize = 4;
/// Longest a request may take, body included.
const REQUEST_SECS: u64 = 120;
/// Longest a credentials file may be.
const MAX_CREDENTIALS: u64 = 4096;

fn runtime() -> &'static Runtime {
    crate::io_runtime()
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
        && !bucket.contains("..")
        // S3's rules: not an IP address, none of the reserved prefixes and suffixes.
        && bucket.parse::<std::net::Ipv4Addr>().is_err()
        && !["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| bucket.starts_with(p))
        && !["-s3alias", "--ol-s3", "--x-s3", "--table-s3"].iter().any(|s| bucket.ends_with(s));
    if !bucket_ok {
        return Err("the bucket name must be 3 to 63 lowercase letters, digits, dots and dashes, \
                    not an IP address nor a name S3 reserves"
            .into());
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

/// An endpoint is `http(s)://HOST[:PORT]`: a host name, an IPv4 address or a bracketed
/// IPv6 one, a port from 1 to 65535; no user or password (credentials come from
/// elsewhere), no path, query or fragment. Returned in one spelling (host in lowercase,
/// no trailing dot or slash, the scheme's default port left out). Never echoed when
/// wrong: what was typed might hold a secret.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<String, String> {
    let bad = || "the endpoint must be http(s)://HOST[:PORT] (a port from 1 to 65535), nothing more".to_owned();
    let (scheme, rest) = if let Some(r) = endpoint.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = endpoint.strip_prefix("http://") {
        ("http", r)
    } else {
        return Err(bad());
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        let addr: std::net::Ipv6Addr = addr.parse().map_err(|_| bad())?;
        (format!("[{addr}]"), after)
    } else {
        let (h, p) = rest.find(':').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if h.len() > 253 || !h.split('.').all(label_ok) {
            return Err(bad());
        }
        (h, p)
    };
    let port = match port {
        "" => None,
        p => {
            let digits = p.strip_prefix(':').ok_or_else(bad)?;
            if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            match digits.trim_start_matches('0').parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad()),
                Ok(n) => Some(n),
            }
        }
    };
    let spelled = match port {
        Some(p) if !(scheme == "https" && p == 443 || scheme == "http" && p == 80) => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    };
    // What the S3 client will parse (it would panic on what the URL standard refuses:
    // `256.0.0.1`, `a.09`, a bad punycode label); an IPv4 address in another form
    // (`127.1`, `0x7f000001`) is kept as the standard reads it.
    let url = url::Url::parse(&spelled).map_err(|_| bad())?;
    match url.host() {
        Some(url::Host::Domain(d)) if d.starts_with("xn--") || d.contains(".xn--") => Err(bad()),
        Some(url::Host::Ipv4(a)) => Ok(match port {
            Some(p) if !(scheme == "https" && p == 443 || scheme == "http" && p == 80) => format!("{scheme}://{a}:{p}"),
            _ => format!("{scheme}://{a}"),
        }),
        Some(_) => Ok(spelled),
        None => Err(bad()),
    }
}

/// A region is what the provider calls it (`gra`, `fr-par`, `us-east-1`).
pub(crate) fn check_region(region: &str) -> Result<(), String> {
    if (1..=64).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err("the region must be 1 to 64 letters, digits and dashes".into())
    }
}

struct Keys {
    id: String,
    secret: String,
    token: Option<String>,
}

impl Keys {
    /// Keys go into HTTP headers: printable ASCII only (the client would panic otherwise).
    /// Says which one is wrong, never what it holds.
    fn check(&self) -> Result<(), &'static str> {
        let ok = |v: &str| !v.is_empty() && v.len() <= 4096 && v.bytes().all(|b| b.is_ascii_graphic());
        if !ok(&self.id) {
            return Err("the access key id must be printable ASCII without spaces");
        }
        if !ok(&self.secret) {
            return Err("the secret access key must be printable ASCII without spaces");
        }
        if self.token.as_deref().is_some_and(|t| !ok(t)) {
            return Err("the session token must be printable ASCII without spaces");
        }
        Ok(())
    }
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
            if meta.file_type().is_symlink() {
                return Err(setup(format!("credentials file {shown} is a symbolic link; name the file itself")));
            }
            if !meta.is_file() {
                return Err(setup(format!("credentials file {shown} is not a regular file")));
            }
            if meta.uid() != rustix::process::geteuid().as_raw() {
                return Err(setup(format!(
                    "credentials file {shown} belongs to another user (uid {}); it must be gardien's own",
                    meta.uid()
                )));
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
            let keys = Keys { id: k.access_key_id, secret: k.secret_access_key, token: k.session_token };
            keys.check().map_err(|what| setup(format!("credentials file {shown}: {what}")))?;
            Ok(keys)
        }
        None => {
            let var = |v: &str| std::env::var(v).ok().filter(|s| !s.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => {
                    let keys = Keys { id, secret, token: var("AWS_SESSION_TOKEN") };
                    keys.check().map_err(|what| setup(format!("the AWS_* environment variables: {what}")))?;
                    Ok(keys)
                }
                _ => Err(setup(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add the store \
                     with --credentials FILE"
                        .into(),
                )),
            }
        }
    }
}

/// The certificate authorities of a PEM file (a regular file of at most 1 MiB).
fn authorities(name: &str, path: &Path) -> Result<Vec<Certificate>, Error> {
    let setup = |reason: String| Error::StoreSetup { store: name.to_owned(), reason };
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let meta = fs::symlink_metadata(path).map_err(|e| setup(format!("CA file {shown}: {}", e.kind())))?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(setup(format!("CA file {shown} must be a regular file (not a link) of at most 1 MiB")));
    }
    // Whoever could write it could add an authority and read the store's traffic.
    let me = rustix::process::geteuid().as_raw();
    if meta.mode() & 0o022 != 0 || (meta.uid() != me && meta.uid() != 0) {
        return Err(setup(format!(
            "CA file {shown} must belong to gardien's user or root and be writable by its owner alone"
        )));
    }
    let pem = fs::read(path).map_err(|e| setup(format!("CA file {shown}: {}", e.kind())))?;
    match Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        _ => Err(setup(format!("CA file {shown} holds no PEM certificate"))),
    }
}

/// An opened S3 store.
pub(crate) struct S3 {
    name: String,
    client: Arc<AmazonS3>,
    /// The same store with one short try per request: cleanups after a failure, which
    /// fsck finishes if they fail (a store that failed once is likely to fail again).
    cleanup: Arc<AmazonS3>,
    prefix: String,
    uploads: PathBuf,
}

impl S3 {
    /// Builds the clients; nothing is sent yet. `uploads` is where upload ids are
    /// journaled. `quick`: every request gets the cleanup client's one short try.
    pub(crate) fn open(name: &str, b: &S3Bucket, uploads: &Path, quick: bool) -> Result<S3, Error> {
        let k = keys(name, b)?;
        let cas = match &b.ca {
            Some(path) => authorities(name, path)?,
            None => Vec::new(),
        };
        // Every request is bounded, body included (reads go in ranges of `RANGE`, so a
        // large object never needs one long request): a store that stops answering fails
        // the operation within a few minutes, not never; a slow link still gets its parts
        // through (see `IN_FLIGHT`). Retries stop 30 s after the first try (the client's
        // default is three minutes). The cleanup client: 3 s to connect, 10 s in all, no
        // retry.
        let build = |short: bool| -> Result<AmazonS3, Error> {
            let (connect, request) = if short { (3, 10) } else { (10, REQUEST_SECS) };
            let mut options = ClientOptions::new()
                .with_allow_http(b.endpoint.starts_with("http://"))
                .with_connect_timeout(Duration::from_secs(connect))
                .with_timeout(Duration::from_secs(request));
            for cert in &cas {
                options = options.with_root_certificate(cert.clone());
            }
            let retry = if short {
                RetryConfig { max_retries: 0, retry_timeout: Duration::from_secs(10), ..RetryConfig::default() }
            } else {
                RetryConfig { max_retries: 4, retry_timeout: Duration::from_secs(30), ..RetryConfig::default() }
            };
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&b.bucket)
                .with_region(&b.region)
                .with_endpoint(&b.endpoint)
                .with_allow_http(b.endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false)
                .with_access_key_id(&k.id)
                .with_secret_access_key(&k.secret)
                .with_client_options(options)
                .with_retry(retry);
            if let Some(token) = &k.token {
                builder = builder.with_token(token);
            }
            builder.build().map_err(|error| Error::Store { store: name.to_owned(), error })
        };
        let cleanup = Arc::new(build(true)?);
        let client = if quick { Arc::clone(&cleanup) } else { Arc::new(build(false)?) };
        Ok(S3 { name: name.to_owned(), client, cleanup, prefix: b.prefix.clone(), uploads: uploads.to_owned() })
    }

    /// After a failed write: aborts the journaled upload of `object` and deletes the
    /// object, each with one short try.
    pub(crate) fn discard(&self, object: &str) -> Result<(), Error> {
        let path = self.path(object);
        if let Some(id) = self.journaled_id(object)? {
            match runtime().block_on(self.cleanup.abort_multipart(&path, &id)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    let _ = fs::remove_file(self.journal(object));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        match runtime().block_on(self.cleanup.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    fn err(&self, source: object_store::Error) -> Error {
        Error::Store { store: self.name.clone(), error: source }
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

    /// Reads `object` in ranges of `RANGE` bytes, the next fetched while this one is read,
    /// each asked only if the object is still the one the first look found (`If-Match`):
    /// requests stay short whatever the object's size, and an object replaced mid-read
    /// fails the read rather than mixing two.
    pub(crate) fn reader(&self, object: &str) -> Result<Box<dyn Read + Send>, Error> {
        let path = self.path(object);
        let meta = runtime().block_on(self.client.head(&path)).map_err(|e| self.err(e))?;
        let mut r = RangedReader {
            client: Arc::clone(&self.client),
            path,
            tag: meta.e_tag,
            size: meta.size,
            next: 0,
            current: bytes::Bytes::new(),
            ahead: None,
        };
        r.fetch_next();
        Ok(Box::new(r))
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

    /// Every object under `prefix`, with its entity tag (1,000 per request: what fsck
    /// compares, without a HEAD per copy).
    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, Error> {
        use futures::StreamExt as _;
        let full = self.path(prefix);
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        runtime().block_on(async {
            let mut out = Vec::new();
            let mut stream = self.client.list(Some(&full));
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| self.err(e))?;
                let location = meta.location.to_string();
                out.push((
                    location.strip_prefix(&strip).unwrap_or(&location).to_owned(),
                    meta.e_tag.unwrap_or_default(),
                ));
            }
            Ok(out)
        })
    }

    /// The journal file of uploads of `object` to this store.
    fn journal(&self, object: &str) -> PathBuf {
        let h = Sha256::digest(format!("{}\n{object}", self.name).as_bytes());
        self.uploads.join(format!("{}.{}", self.name, &hex::encode(h)[..32]))
    }

    /// The upload id journaled for `object`, if any.
    fn journaled_id(&self, object: &str) -> Result<Option<String>, Error> {
        let journal = self.journal(object);
        // Only a regular file is read (a FIFO there would block).
        if !fs::symlink_metadata(&journal).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        match fs::read_to_string(&journal) {
            Ok(t) => Ok(t.lines().nth(1).filter(|id| !id.is_empty()).map(str::to_owned)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path: journal, source }),
        }
    }

    /// Aborts the upload of `object` a dead process journaled; 1 if there was one.
    pub(crate) fn remove_partial(&self, object: &str) -> Result<usize, Error> {
        let journal = self.journal(object);
        if !journal.exists() {
            return Ok(0);
        }
        if let Some(id) = self.journaled_id(object)? {
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
            // Only regular files are read (a FIFO would block); anything else is not ours.
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            if regular
                && name.strip_prefix(&mine).is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                let Ok(text) = fs::read_to_string(entry.path()) else {
                    tracing::warn!(path = %entry.path().display(), "an upload journal that cannot be read is left alone");
                    continue;
                };
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

/// The size of each ranged read.
const RANGE: u64 = 8 << 20;

/// An object read range after range (see `S3::reader`).
struct RangedReader {
    client: Arc<AmazonS3>,
    path: ObjectPath,
    tag: Option<String>,
    size: u64,
    /// Where the next range to fetch starts.
    next: u64,
    current: bytes::Bytes,
    ahead: Option<JoinHandle<object_store::Result<bytes::Bytes>>>,
}

impl RangedReader {
    fn fetch_next(&mut self) {
        if self.next >= self.size {
            return;
        }
        let end = (self.next + RANGE).min(self.size);
        let options = object_store::GetOptions {
            if_match: self.tag.clone(),
            range: Some(object_store::GetRange::Bounded(self.next..end)),
            ..Default::default()
        };
        let (client, path, want) = (Arc::clone(&self.client), self.path.clone(), end - self.next);
        self.ahead = Some(runtime().spawn(async move {
            let got = client.get_opts(&path, options).await?.bytes().await?;
            // A short (or long) answer is the store's fault, not the copy's.
            if got.len() as u64 != want {
                return Err(object_store::Error::Generic {
                    store: "S3",
                    source: format!("asked {want} bytes of a range, the store sent {}", got.len()).into(),
                });
            }
            Ok(got)
        }));
        self.next = end;
    }
}

impl Read for RangedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            let Some(task) = self.ahead.take() else { return Ok(0) };
            self.current = runtime().block_on(task).map_err(io::Error::other)?.map_err(io::Error::other)?;
            self.fetch_next();
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

impl Drop for RangedReader {
    fn drop(&mut self) {
        if let Some(task) = self.ahead.take() {
            task.abort();
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
            // Its own temporary name: ingests to one store run at once.
            let tmp = PathBuf::from(format!("{}.tmp", journal.display()));
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
        // Every part before the last was full and sent; the last holds exactly the rest (or
        // was full, and sent: an object of a whole number of parts).
        let whole = match st.filling.len() {
            0 => st.end == 0 || tail == PART as u64,
            1 => st.filling.get(&(last as usize)).is_some_and(|(_, filled)| *filled as u64 == tail),
            _ => false,
        };
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
                let put = runtime()
                    .block_on(self.s3.client.put(&self.path, PutPayload::from(data.unwrap_or_default())))
                    .map_err(|e| self.s3.err(e))?;
                return Ok(put.e_tag);
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
            let done = runtime()
                .block_on(self.s3.client.complete_multipart(&self.path, &id, parts))
                .map_err(|e| self.s3.err(e))?;
            st.upload = None;
            Ok(done.e_tag)
        })();
        let answered = match result {
            Ok(tag) => tag,
            Err(e) => {
                *self.lock()? = st;
                return Err(e);
            }
        };
        self.done = true;
        let _ = fs::remove_file(self.s3.journal(&self.object));
        // The tag S3 answered with (what its listings say too); a service that gave none
        // is asked.
        if let Some(tag) = answered {
            tracing::debug!(store = %self.s3.name, object = %self.object, "copy uploaded");
            return Ok(tag);
        }
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
            // Aborted here (one short try), or by fsck if this fails (its id stays journaled).
            if runtime().block_on(self.s3.cleanup.abort_multipart(&self.path, &id)).is_ok() {
                let _ = fs::remove_file(self.s3.journal(&self.object));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_has_one_spelling_and_nothing_but_a_host_and_a_port() {
        for (given, spelled) in [
            ("http://127.0.0.1:14790", "http://127.0.0.1:14790"),
            ("http://LOCALHOST:014790/", "http://localhost:14790"),
            ("https://s3.rbx.io.cloud.ovh.net.", "https://s3.rbx.io.cloud.ovh.net"),
            ("https://s3.example:443", "https://s3.example"),
            ("http://s3.example:80", "http://s3.example"),
            ("https://s3.example:80", "https://s3.example:80"),
            ("http://[::1]:9000", "http://[::1]:9000"),
            ("http://[0:0::1]", "http://[::1]"),
        ] {
            assert_eq!(check_endpoint(given).as_deref(), Ok(spelled), "{given}");
        }
        for bad in [
            "ftp://h",
            "http://",
            "http://h:",
            "http://h:0",
            "http://h:65536",
            "http://h:99999",
            "http://h:x",
            "http://user:pw@h",
            "http://h/path",
            "http://h?q",
            "http://h#f",
            "http://-h",
            "http://h_h",
            "http://[::1",
            "http://[zz]",
            "http://h\u{1b}[2J",
            "HTTP://h",
            // What the URL standard refuses (the S3 client would panic on it).
            "http://256.0.0.1:14890",
            "http://1.2.3.4.5",
            "http://foo.123",
            "http://a.09",
            "http://xn--a",
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(!e.contains("user") && !e.contains("pw"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_address_is_a_bucket_s3_allows_and_a_clean_prefix() {
        assert_eq!(parse_url("s3://gardien"), Ok(("gardien".into(), String::new())));
        assert_eq!(parse_url("s3://gardien/a/b/"), Ok(("gardien".into(), "a/b".into())));
        for bad in [
            "gardien/a",
            "s3://ab",
            "s3://Gardien",
            "s3://-gardien",
            "s3://gar..dien",
            "s3://192.168.1.1",
            "s3://xn--gardien",
            "s3://gardien-s3alias",
            "s3://gardien/a//b",
            "s3://gardien/../b",
            "s3://gardien/./b",
            "s3://gardien/a b",
            "s3://gardien/a%2f",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(check_region("rbx").is_ok() && check_region("").is_err() && check_region(&"a".repeat(65)).is_err());
    }
}
