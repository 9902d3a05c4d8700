//! One restorable archive of a Moodle site: a tar, compressed by zstd, written to any
//! `Write` (the vault seals it as it comes: nothing of it touches the disk in clear).
//!
//! ```text
//! SLUG-YYYYMMDD/RESTORE.fr.md, RESTORE.en.md   how to check and restore it, standard tools only
//! SLUG-YYYYMMDD/config.php                     the database password's value replaced
//! SLUG-YYYYMMDD/moodledata/...                 without what Moodle regenerates (EXCLUDED)
//! SLUG-YYYYMMDD/db/000001.sql ...              the engine's own dump, plain SQL, in 4 MiB pieces
//! SLUG-YYYYMMDD/INCONSISTENCIES.txt            what the checks found, when they found something
//! SLUG-YYYYMMDD/SHA256SUMS                     every file above (`sha256sum -c` reads it)
//! SLUG-YYYYMMDD/SHA256SUMS.sig, .note          its signatures by the operator's ledger key
//! ```
//!
//! The dump runs on its own thread (its pieces wait in a channel of two) while the files
//! are read, so the database and the disk work at once; memory stays bounded (three
//! pieces, zstd's window and buffers), whatever the site's size.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;

use sha1::Digest as _;
use sha2::Digest as _;

use crate::db::{self, DbUrl, Engine, Snapshot};
use crate::{Error, Inconsistency};

/// What Moodle regenerates, left out of moodledata (Moodle's own site-backup advice).
pub const EXCLUDED: [&str; 7] = ["cache", "localcache", "sessions", "temp", "trashdir", "lock", "climaintenance.html"];

/// The size of the dump's pieces.
pub const PIECE: usize = 4 << 20;

/// The archive format's name, first line of `SHA256SUMS`.
pub const FORMAT: &str = "gardien-restitution/v1";

/// A site to pack.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    /// Its slug (the archive's top directory starts with it).
    pub slug: &'a str,
    /// Its database.
    pub db: &'a DbUrl,
    /// Its `moodledata` directory.
    pub moodledata: &'a Path,
    /// Its `config.php`, if the operator named it.
    pub config: Option<&'a Path>,
}

/// How to pack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Go on when referenced files are missing or corrupt (listed in INCONSISTENCIES.txt).
    pub allow_missing: bool,
    /// The day in the top directory's name (`YYYYMMDD`).
    pub day: String,
    /// When (RFC 3339), in SHA256SUMS's first line.
    pub created: String,
}

/// Signs `SHA256SUMS`: the files to add beside it (name, content).
pub trait Sign: Sync {
    /// The signature files.
    fn sign(&self, sums: &str) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// The signer's name (the principal `ssh-keygen -Y verify -I` names).
    fn name(&self) -> String;
}

/// Progress of a long pack.
pub trait Progress: Sync {
    /// The total bytes to read, estimated (the database's size is the engine's).
    fn total(&self, _bytes: u64) {}
    /// Bytes read and files packed so far.
    fn done(&self, bytes: u64, files: u64);
}

/// What a pack did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The archive's top directory.
    pub top: String,
    /// Files from moodledata.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// The dump's bytes.
    pub db_bytes: u64,
    /// Its pieces.
    pub db_pieces: u64,
    /// The content hashes the database references.
    pub referenced: u64,
    /// What the checks found.
    pub inconsistencies: Vec<Inconsistency>,
    /// SHA-256 of SHA256SUMS (so the ledger can name the archive's contents).
    pub sums_sha256: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The engine's version.
    pub server: String,
    /// The content hashes the database references.
    pub referenced: u64,
    /// Files under filedir checked (present and named by their SHA-1).
    pub checked: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What was wrong.
    pub inconsistencies: Vec<Inconsistency>,
}

/// `filedir/ab/cd/<hash>` under `root`.
fn content_path(root: &Path, dir: &str, h: &str) -> PathBuf {
    root.join(dir).join(&h[0..2]).join(&h[2..4]).join(h)
}

fn is_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a referenced hash's content is: filedir, else the trash (a file deleted after
/// the snapshot), else nowhere.
fn locate(moodledata: &Path, h: &str) -> Option<(PathBuf, bool)> {
    let p = content_path(moodledata, "filedir", h);
    if plain_file(moodledata, &p) {
        return Some((p, false));
    }
    for t in [content_path(moodledata, "trashdir", h), moodledata.join("trashdir").join(h)] {
        if plain_file(moodledata, &t) {
            return Some((t, true));
        }
    }
    None
}

/// Whether `p` (under `root`) is a regular file reached through real directories only:
/// no file is ever read through a symbolic link, which a site's files could point at
/// anything the operator's account reads (the vault's keys, /etc/shadow).
fn plain_file(root: &Path, p: &Path) -> bool {
    let Ok(rel) = p.strip_prefix(root) else { return false };
    let mut at = root.to_owned();
    let mut comps = rel.components().peekable();
    while let Some(c) = comps.next() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if comps.peek().is_some() && m.is_dir() => {}
            Ok(m) if comps.peek().is_none() && m.is_file() => return true,
            _ => return false,
        }
    }
    false
}

/// Opens `path`, a file under `root`, one directory at a time from `root`, none of them
/// through a symbolic link (`openat` with `O_NOFOLLOW` at every step: a directory swapped
/// for a link while the walk runs is not followed), and only if it is a regular file.
pub(crate) fn open_plain(root: &Path, path: &Path) -> io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags};
    let rel = path.strip_prefix(root).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "outside moodledata"))?;
    let mut names = Vec::new();
    for c in rel.components() {
        let std::path::Component::Normal(name) = c else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain path"));
        };
        names.push(name);
    }
    let Some((last, dirs)) = names.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"));
    };
    let mut dir = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    for name in dirs {
        dir = rustix::fs::openat(
            &dir,
            *name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(link_error)?;
    }
    open_in(rustix::fd::AsFd::as_fd(&dir), last)
}

/// Where a file to archive is: in a directory the walk holds open (its name there, and
/// its path for messages), or at a path under moodledata (found after the walk).
enum Source<'a> {
    At(rustix::fd::BorrowedFd<'a>, &'a std::ffi::OsStr, &'a Path),
    Path(&'a Path),
}

/// Opens `name` in the directory `dir` (`O_NOFOLLOW`: a link is refused), if a regular file.
fn open_in(dir: rustix::fd::BorrowedFd<'_>, name: &std::ffi::OsStr) -> io::Result<fs::File> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(link_error)?;
    let f = fs::File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(f)
}

/// `ELOOP` or `ENOTDIR` from an `O_NOFOLLOW` open: a link where a file or directory was.
fn link_error(e: rustix::io::Errno) -> io::Error {
    if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
        io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link: gardien reads no file through a link")
    } else {
        io::Error::from(e)
    }
}

fn sha1_file(root: &Path, path: &Path, progress: &mut dyn FnMut(u64)) -> io::Result<String> {
    let mut f = open_plain(root, path)?;
    let mut h = sha1::Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(hex::encode(h.finalize()))
}

/// The site's referenced hashes, read in `snapshot` when one is given.
fn referenced(db: &DbUrl, prefix: &str, snapshot: Option<&mut Snapshot>) -> Result<Vec<String>, Error> {
    let sql = DbUrl::hashes_sql(prefix);
    let rows = match snapshot {
        Some(s) => s.query(&sql),
        None => db.query(&sql),
    }
    .map_err(|e| match e {
        Error::Tool { stderr, .. } if stderr.contains("does not exist") || stderr.contains("doesn't exist") => {
            Error::NotMoodle(format!("the database {} has no table {prefix}files", db.name))
        }
        other => other,
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let h = r.trim().to_ascii_lowercase();
        if !is_hash(&h) {
            return Err(Error::NotMoodle(format!("{prefix}files holds a content hash that is not a SHA-1: {h:?}")));
        }
        out.push(h);
    }
    Ok(out)
}

fn read_config(site: &Site<'_>) -> Result<Option<crate::config::Config>, Error> {
    let Some(p) = site.config else { return Ok(None) };
    // Not through a link (the site's account could point it at another site's).
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
            .open(p)
            .map_err(|source| Error::Io { path: p.to_owned(), source })?
    };
    let meta = f.metadata().map_err(|source| Error::Io { path: p.to_owned(), source })?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(Error::Config(format!("{}: not a regular file of at most 1 MiB", p.display())));
    }
    let mut src = Vec::new();
    f.read_to_end(&mut src).map_err(|source| Error::Io { path: p.to_owned(), source })?;
    crate::config::read(&src).map(Some)
}

fn check_moodledata(p: &Path) -> Result<(), Error> {
    let meta = fs::metadata(p).map_err(|source| Error::Io { path: p.to_owned(), source })?;
    if !meta.is_dir() {
        return Err(Error::NotMoodle(format!("{}: not a directory", p.display())));
    }
    match fs::symlink_metadata(p.join("filedir")) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::NotMoodle(format!(
                "{}/filedir is a symbolic link: gardien reads no site file through a link (one could point anywhere); \
                 give the real directory, or move the files back under moodledata",
                p.display()
            )));
        }
        _ => {
            return Err(Error::NotMoodle(format!("{}: no filedir inside: not a Moodle data directory", p.display())));
        }
    }
    Ok(())
}

/// Checks a site: its database answers, and every file it references is in filedir,
/// named by its SHA-1.
pub fn check(site: &Site<'_>, progress: &dyn Progress) -> Result<CheckReport, Error> {
    check_moodledata(site.moodledata)?;
    let prefix = read_config(site)?.map_or_else(|| "mdl_".to_owned(), |c| c.prefix);
    let server = site.db.server_version()?;
    let hashes = referenced(site.db, &prefix, None)?;
    let mut report = CheckReport { server, referenced: hashes.len() as u64, ..Default::default() };
    let mut done = 0u64;
    for h in &hashes {
        let p = content_path(site.moodledata, "filedir", h);
        if fs::symlink_metadata(&p).is_ok() && !plain_file(site.moodledata, &p) {
            report.inconsistencies.push(Inconsistency::NotPlain { path: rel(site.moodledata, &p) });
            continue;
        }
        match sha1_file(site.moodledata, &p, &mut |n| {
            done += n;
            progress.done(done, report.checked);
        }) {
            Ok(actual) if &actual == h => {
                report.checked += 1;
                report.bytes += fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            }
            Ok(actual) => {
                report.inconsistencies.push(Inconsistency::Corrupt { path: rel(site.moodledata, &p), actual })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                report.inconsistencies.push(Inconsistency::Missing { hash: h.clone() })
            }
            Err(source) => return Err(Error::Io { path: p, source }),
        }
    }
    Ok(report)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

/// A dump's output, in pieces, or how it ended.
enum Piece {
    /// A piece and its SHA-256 (hashed on the dump's thread, beside the archive's).
    Data(Vec<u8>, String),
    End(Result<(), Error>),
}

fn run_dump(db: &DbUrl, snapshot: Option<&str>, tx: &mpsc::SyncSender<Piece>) -> Result<(), Error> {
    let mut cmd = db.dump_command(snapshot);
    let program = db::program_of(&cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { program: program.clone(), source })?;
    let stderr = child.stderr.take().ok_or_else(|| Error::Internal("the dump has no stderr".into()))?;
    let errs = db::drain(stderr);
    let mut out = child.stdout.take().ok_or_else(|| Error::Internal("the dump has no stdout".into()))?;
    // A pipe of 1 MiB (Linux's most for a user) rather than 64 KiB: the dump and its reader
    // wake each other 16 times less often.
    let _ = rustix::pipe::fcntl_setpipe_size(&out, 1 << 20);
    let mut sent = 0u64;
    let read_result = (|| -> Result<(), Error> {
        loop {
            // read_to_end reads a pipe into the capacity as it is (no zeroing first).
            let mut piece = Vec::with_capacity(PIECE);
            let len = (&mut out)
                .take(PIECE as u64)
                .read_to_end(&mut piece)
                .map_err(|e| Error::Internal(format!("reading the dump: {e}")))?;
            if len == 0 {
                return Ok(());
            }
            sent += len as u64;
            let sha256 = hex::encode(sha2::Sha256::digest(&piece));
            if tx.send(Piece::Data(piece, sha256)).is_err() {
                // The archive stopped: stop the dump.
                return Err(Error::Internal("the archive stopped".into()));
            }
            if len < PIECE {
                return Ok(());
            }
        }
    })();
    if read_result.is_err() {
        let _ = child.kill();
    }
    drop(out);
    let status = child.wait().map_err(|source| Error::Spawn { program: program.clone(), source })?;
    let err = errs.join().unwrap_or_default();
    read_result?;
    if !status.success() {
        return Err(Error::Tool { program, status: status.to_string(), stderr: db::tail(&err) });
    }
    if sent == 0 {
        return Err(Error::Tool { program, status: "wrote nothing".into(), stderr: db::tail(&err) });
    }
    Ok(())
}

/// A reader that hashes what it reads (SHA-256 always, SHA-1 for filedir contents), and
/// gives exactly `size` bytes: zeros after a file that shrank (reported), nothing past a
/// file that grew (reported), so the tar's header never lies.
struct Member<R> {
    inner: R,
    left: u64,
    short: bool,
    sha256: sha2::Sha256,
    sha1: Option<sha1::Sha1>,
    read: u64,
}

impl<R: Read> Member<R> {
    fn new(inner: R, size: u64, sha1: bool) -> Self {
        Member {
            inner,
            left: size,
            short: false,
            sha256: sha2::Sha256::new(),
            sha1: sha1.then(sha1::Sha1::new),
            read: 0,
        }
    }
}

impl<R: Read> Read for Member<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = if self.short {
            buf[..want].fill(0);
            want
        } else {
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                self.short = true;
                buf[..want].fill(0);
                want
            } else {
                n
            }
        };
        sha2::Digest::update(&mut self.sha256, &buf[..n]);
        if let Some(h) = &mut self.sha1 {
            h.update(&buf[..n]);
        }
        self.left -= n as u64;
        self.read += n as u64;
        Ok(n)
    }
}

/// The archive being written, and the lines of SHA256SUMS.
struct Archive<W: Write> {
    tar: tar::Builder<W>,
    /// moodledata: every file read is under it, opened from it.
    root: PathBuf,
    top: String,
    sums: String,
    mtime: u64,
    /// What each member's data goes through on its way to the archive.
    buf: Vec<u8>,
}

/// A line of SHA256SUMS for `name` (sha256sum's escaping of a backslash).
fn sum_line(hex: &str, name: &str) -> String {
    if name.contains('\\') { format!("\\{hex}  {}\n", name.replace('\\', "\\\\")) } else { format!("{hex}  {name}\n") }
}

impl<W: Write> Archive<W> {
    fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Adds a file made here (guides, config, dump pieces, sums).
    fn add_bytes(&mut self, name: &str, data: &[u8], listed: bool) -> Result<(), Error> {
        let sha256 = listed.then(|| hex::encode(sha2::Sha256::digest(data)));
        self.add_hashed(name, data, sha256.as_deref())
    }

    /// Adds a file made here whose SHA-256 is known (listed in SHA256SUMS when given).
    fn add_hashed(&mut self, name: &str, data: &[u8], sha256: Option<&str>) -> Result<(), Error> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644, self.mtime);
        self.tar.append_data(&mut h, format!("{}/{name}", self.top), io::empty()).map_err(Error::Output)?;
        self.tar.get_mut().write_all(data).map_err(Error::Output)?;
        self.pad(data.len() as u64)?;
        if let Some(hex) = sha256 {
            self.sums.push_str(&sum_line(hex, name));
        }
        Ok(())
    }

    /// One member: its header (and a long name's entry) by the tar crate, then its
    /// `h.size()` bytes from `data` in large writes (the tar crate copies 8 KiB at a time,
    /// and each write is a call into zstd), then the padding to 512 bytes. `add_bytes`
    /// does the same with its slice.
    fn member(&mut self, h: &mut tar::Header, name: &str, data: &mut dyn Read) -> Result<(), Error> {
        let size = h.size().map_err(Error::Output)?;
        self.tar.append_data(h, format!("{}/{name}", self.top), io::empty()).map_err(Error::Output)?;
        let out = self.tar.get_mut();
        let mut left = size;
        while left > 0 {
            let want = self.buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = data.read(&mut self.buf[..want]).map_err(Error::Output)?;
            if n == 0 {
                return Err(Error::Internal(format!("{name}: its data ended {left} bytes early")));
            }
            out.write_all(&self.buf[..n]).map_err(Error::Output)?;
            left -= n as u64;
        }
        self.pad(size)
    }

    /// The zeros after a member's `size` bytes, to the next 512.
    fn pad(&mut self, size: u64) -> Result<(), Error> {
        let pad = usize::try_from((512 - size % 512) % 512).unwrap_or(0);
        self.tar.get_mut().write_all(&[0u8; 512][..pad]).map_err(Error::Output)
    }

    fn add_dir(&mut self, name: &str, mode: u32, mtime: u64) -> Result<(), Error> {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode, mtime);
        self.tar.append_data(&mut h, format!("{}/{name}/", self.top), io::empty()).map_err(Error::Output)
    }

    /// Adds a file from the disk under `name`; its SHA-1 when asked.
    fn add_file(
        &mut self,
        name: &str,
        from: Source<'_>,
        want_sha1: bool,
        found: &mut Vec<Inconsistency>,
    ) -> Result<Option<(u64, Option<String>)>, Error> {
        let (opened, path) = match from {
            Source::At(dir, file_name, path) => (open_in(dir, file_name), path),
            Source::Path(path) => (open_plain(&self.root, path), path),
        };
        let file = match opened {
            Ok(f) => f,
            // Removed since it was listed (Moodle's cron cleans up): nothing to keep.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // Replaced by a link or something else since the walk saw it: left out.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                found.push(Inconsistency::Skipped {
                    path: name.to_owned(),
                    why: "not a regular file (a link or a device)",
                });
                return Ok(None);
            }
            Err(source) => return Err(Error::Io { path: path.to_owned(), source }),
        };
        let meta = file.metadata().map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let size = meta.len();
        let mut h = Self::header(
            tar::EntryType::Regular,
            size,
            meta.permissions().mode() & 0o755,
            u64::try_from(meta.mtime()).unwrap_or(0),
        );
        let mut m = Member::new(file, size, want_sha1);
        self.member(&mut h, name, &mut m)?;
        let mut grew = false;
        if !m.short {
            let mut one = [0u8; 1];
            grew = matches!(m.inner.read(&mut one), Ok(1));
        }
        if m.short || grew {
            found.push(Inconsistency::Changed { path: name.to_owned() });
        }
        self.sums.push_str(&sum_line(&hex::encode(sha2::Digest::finalize(m.sha256)), name));
        Ok(Some((size, m.sha1.map(|h| hex::encode(h.finalize())))))
    }
}

/// Packs the site into `out` (a zstd-compressed tar); on any error, what was written is
/// to be discarded by the caller.
pub fn pack<W: Write>(
    site: &Site<'_>,
    opts: &Options,
    signer: &dyn Sign,
    out: W,
    progress: &dyn Progress,
) -> Result<(Report, W), Error> {
    check_moodledata(site.moodledata)?;
    let config = read_config(site)?;
    let prefix = config.as_ref().map_or("mdl_", |c| c.prefix.as_str()).to_owned();
    // The database's state first (PostgreSQL: a snapshot the dump shares), then the files:
    // Moodle writes a file before the row naming it, and deletes the row before the file
    // (to the trash, where a file gone since the snapshot is found).
    let mut snapshot = match site.db.engine {
        Engine::Postgres => Some(Snapshot::open(site.db)?),
        Engine::Mariadb => None,
    };
    let server = match snapshot.as_mut() {
        Some(s) => s.query("SELECT version()")?.into_iter().next().unwrap_or_default(),
        None => site.db.server_version()?,
    };
    let db_size: u64 = {
        let sql = match site.db.engine {
            // What the dump will be, about: the tables' data (TOAST included), not their
            // indexes nor the database's free space (the progress's total, and the pace of
            // the files beside the dump, come from it).
            Engine::Postgres => "SELECT COALESCE(SUM(pg_table_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'".to_owned(),
            Engine::Mariadb => format!(
                "SELECT COALESCE(SUM(data_length), 0) FROM information_schema.tables WHERE table_schema = '{}'",
                site.db.name
            ),
        };
        let rows = match snapshot.as_mut() {
            Some(s) => s.query(&sql)?,
            None => site.db.query(&sql)?,
        };
        rows.first().and_then(|r| r.trim().parse().ok()).unwrap_or(0)
    };
    let hashes = referenced(site.db, &prefix, snapshot.as_mut())?;

    let (tx, rx) = mpsc::sync_channel::<Piece>(2);
    let snapshot_id = snapshot.as_ref().map(|s| s.id.clone());
    let db = site.db.clone();
    // The transaction exporting the snapshot holds a lock on the tables it read (mdl_files)
    // until it ends: it ends with the dump (which imported the snapshot when it started),
    // not with the files, so that a schema change on the live site waits for the dump
    // only.
    let exported = snapshot.take();
    std::thread::scope(|scope| {
        // The dump starts now (pg_dump takes its locks and reads the catalog while the
        // files are listed); a refusal below stops it.
        let dumper = scope.spawn(move || {
            let r = run_dump(&db, snapshot_id.as_deref(), &tx);
            if let Some(s) = exported {
                s.close();
            }
            let _ = tx.send(Piece::End(r));
        });
        // The files are listed beside, while the dump goes into the archive.
        let listing = scope.spawn(|| list_files(site.moodledata, &hashes));
        let wanted: HashSet<&str> = hashes.iter().map(String::as_str).collect();
        let result = write_archive(
            site,
            opts,
            signer,
            out,
            progress,
            &config,
            &server,
            &wanted,
            hashes.len() as u64,
            (listing, db_size),
            &rx,
        );
        // A failed archive stops the dump (its next send fails, and it is killed).
        drop(rx);
        let _ = dumper.join();
        result
    })
}

/// The thread listing the files: what they weigh, and the referenced contents missing.
type Listing<'scope> = std::thread::ScopedJoinHandle<'scope, Result<(u64, Vec<Inconsistency>), Error>>;

/// One walk: what the archive will read (the progress's total), and the referenced
/// contents in neither filedir (as regular files reached through real directories) nor
/// the trash.
fn list_files(moodledata: &Path, hashes: &[String]) -> Result<(u64, Vec<Inconsistency>), Error> {
    let mut files_total = 0u64;
    let mut present: HashSet<String> = HashSet::new();
    walk(moodledata, None, &EXCLUDED, &mut |e| {
        if e.kind == Kind::File && e.plain {
            files_total += e.len;
            if let Some(h) = e.file_name.to_str().filter(|h| is_hash(h))
                && e.name == format!("filedir/{}/{}/{h}", &h[0..2], &h[2..4])
            {
                present.insert(h.to_owned());
            }
        }
        Ok(())
    })?;
    let mut found = Vec::new();
    for h in hashes.iter().filter(|h| !present.contains(h.as_str())) {
        if locate(moodledata, h).is_none() {
            let p = content_path(moodledata, "filedir", h);
            found.push(if fs::symlink_metadata(&p).is_ok() {
                Inconsistency::NotPlain { path: rel(moodledata, &p) }
            } else {
                Inconsistency::Missing { hash: h.clone() }
            });
        }
    }
    Ok((files_total, found))
}

/// What an entry is, as `lstat` says (a link is never followed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    /// A symbolic link, or a directory swapped for something else since it was listed.
    Link,
    /// A device, a FIFO, a socket.
    Other,
}

/// An entry the walk found, in a directory it holds open.
struct Found<'a> {
    /// Its name under the walk's root (`filedir/ab/cd/<sha1>`); lossy when not `plain`.
    name: &'a str,
    /// The root joined with the name, for messages only: no file is opened by this path.
    path: &'a Path,
    /// Its name is UTF-8 without control characters (else it is reported, not archived,
    /// and a directory so named is not entered).
    plain: bool,
    /// The directory holding it, and its name there: what a file is opened with.
    dir: rustix::fd::BorrowedFd<'a>,
    file_name: &'a std::ffi::OsStr,
    kind: Kind,
    len: u64,
    mode: u32,
    mtime: u64,
}

/// Calls `f` for every entry under `root` (or under its directory `sub`), but `exclude`d
/// names at the top, depth first in name order, a directory before what it holds. Every
/// directory is opened from its parent's descriptor with `O_NOFOLLOW`, and every entry
/// looked at with `fstatat(AT_SYMLINK_NOFOLLOW)` in it: nothing outside the tree is
/// listed, not even names, when a directory is swapped for a link mid-walk (it is reported
/// as a link), and no path the kernel reads is longer than one name. A directory or file
/// removed mid-walk is passed over (Moodle's cron, and plugins, remove them).
fn walk(
    root: &Path,
    sub: Option<&str>,
    exclude: &[&str],
    f: &mut dyn FnMut(&Found<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    use rustix::fd::{AsFd, OwnedFd};
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use std::ffi::{OsStr, OsString};
    use std::os::unix::ffi::OsStrExt;
    use std::rc::Rc;
    let io_err = |path: &Path, e: rustix::io::Errno| Error::Io { path: path.to_owned(), source: io::Error::from(e) };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let top = rustix::fs::open(root, dir_flags, Mode::empty()).map_err(|e| io_err(root, e))?;
    let (top, base) = match sub {
        None => (top, root.to_owned()),
        Some(s) => match rustix::fs::openat(&top, s, dir_flags | OFlags::NOFOLLOW, Mode::empty()) {
            Ok(fd) => (fd, root.join(s)),
            // No such directory, or a link: nothing to walk.
            Err(_) => return Ok(()),
        },
    };
    // Directories to enter: the parent's descriptor, the name there, the name in the tree.
    let mut stack: Vec<(Rc<OwnedFd>, OsString, String)> = Vec::new();
    let mut current = Some((Rc::new(top), String::new()));
    loop {
        let (dir, name) = match current.take() {
            Some(d) => d,
            None => {
                let Some((parent, file_name, name)) = stack.pop() else { break };
                let path = base.join(&name);
                let found = |kind, mode, mtime| Found {
                    name: &name,
                    path: &path,
                    plain: true,
                    dir: parent.as_fd(),
                    file_name: &file_name,
                    kind,
                    len: 0,
                    mode,
                    mtime,
                };
                let fd = match rustix::fs::openat(&*parent, &file_name, dir_flags | OFlags::NOFOLLOW, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::NOENT) => continue,
                    // Swapped for a link (or a file) since it was listed: not entered.
                    Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                        f(&found(Kind::Link, 0, 0))?;
                        continue;
                    }
                    Err(e) => return Err(io_err(&path, e)),
                };
                let st = rustix::fs::fstat(&fd).map_err(|e| io_err(&path, e))?;
                f(&found(Kind::Dir, st.st_mode & 0o7777, u64::try_from(st.st_mtime).unwrap_or(0)))?;
                (Rc::new(fd), name)
            }
        };
        let here = base.join(&name);
        let listing = match rustix::fs::Dir::read_from(&*dir) {
            Ok(l) => l,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err(&here, e)),
        };
        let mut names: Vec<OsString> = Vec::new();
        for entry in listing {
            let entry = entry.map_err(|e| io_err(&here, e))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_owned());
            }
        }
        names.sort();
        let mut subdirs = Vec::new();
        for file_name in names {
            let lossy = file_name.to_string_lossy();
            let child = if name.is_empty() { lossy.clone().into_owned() } else { format!("{name}/{lossy}") };
            if name.is_empty() && exclude.contains(&child.as_str()) {
                continue;
            }
            let plain = file_name.to_str().is_some_and(|n| !n.contains(|c: char| c.is_control()));
            let path = here.join(&file_name);
            let st = match rustix::fs::statat(&*dir, &file_name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(io_err(&path, e)),
            };
            let kind = match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => Kind::Dir,
                FileType::RegularFile => Kind::File,
                FileType::Symlink => Kind::Link,
                _ => Kind::Other,
            };
            if kind == Kind::Dir && plain {
                subdirs.push((file_name, child));
                continue;
            }
            f(&Found {
                name: &child,
                path: &path,
                plain,
                dir: dir.as_fd(),
                file_name: &file_name,
                kind,
                len: u64::try_from(st.st_size).unwrap_or(0),
                mode: st.st_mode & 0o7777,
                mtime: u64::try_from(st.st_mtime).unwrap_or(0),
            })?;
        }
        // Depth first, in name order.
        for (file_name, child) in subdirs.into_iter().rev() {
            stack.push((Rc::clone(&dir), file_name, child));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_archive<W: Write>(
    site: &Site<'_>,
    opts: &Options,
    signer: &dyn Sign,
    out: W,
    progress: &dyn Progress,
    config: &Option<crate::config::Config>,
    server: &str,
    wanted: &HashSet<&str>,
    referenced: u64,
    (listing, db_size): (Listing<'_>, u64),
    rx: &mpsc::Receiver<Piece>,
) -> Result<(Report, W), Error> {
    let enc = crate::frames::Frames::new(out, 2).map_err(Error::Output)?;
    let top = format!("{}-{}", site.slug, opts.day);
    let mtime = chrono_free_now();
    let mut a = Archive {
        tar: tar::Builder::new(enc),
        root: site.moodledata.to_owned(),
        top: top.clone(),
        sums: String::new(),
        mtime,
        buf: vec![0; 1 << 20],
    };
    let mut report = Report { top, referenced, ..Default::default() };
    let engine = site.db.engine;
    a.add_bytes("RESTORE.fr.md", crate::guide::text("fr", engine, site.slug, server, &signer.name()).as_bytes(), true)?;
    a.add_bytes("RESTORE.en.md", crate::guide::text("en", engine, site.slug, server, &signer.name()).as_bytes(), true)?;
    if let Some(c) = config {
        a.add_bytes("config.php", &c.redacted, true)?;
    }
    let mut done = 0u64;
    let mut dump_done = false;
    // Takes the dump's pieces that are ready, after waiting for one (`Wait::One`) or for
    // all of them (`Wait::All`).
    let mut take_pieces = |a: &mut Archive<crate::frames::Frames<W>>,
                           report: &mut Report,
                           done: &mut u64,
                           mut wait: Wait|
     -> Result<bool, Error> {
        while !dump_done {
            let piece = if wait != Wait::No {
                if wait == Wait::One {
                    wait = Wait::No;
                }
                rx.recv().map_err(|_| Error::Internal("the dump's thread ended".into()))?
            } else {
                match rx.try_recv() {
                    Ok(p) => p,
                    Err(mpsc::TryRecvError::Empty) => return Ok(false),
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return Err(Error::Internal("the dump's thread ended".into()));
                    }
                }
            };
            match piece {
                Piece::Data(d, sha256) => {
                    a.tar.get_mut().cut().map_err(Error::Output)?;
                    report.db_pieces += 1;
                    report.db_bytes += d.len() as u64;
                    *done += d.len() as u64;
                    a.add_hashed(&format!("db/{:06}.sql", report.db_pieces), &d, Some(&sha256))?;
                    a.tar.get_mut().cut().map_err(Error::Output)?;
                    progress.done(*done, report.files);
                }
                Piece::End(r) => {
                    r?;
                    dump_done = true;
                }
            }
        }
        Ok(dump_done)
    };
    // The dump goes in until the files are listed (or it ends): then a referenced content
    // in neither filedir nor the trash refuses the archive (unless `allow_missing`), before
    // any file is read. Those found then are found again after the walk, the trash's with
    // them.
    let files_total = loop {
        if listing.is_finished() || take_pieces(&mut a, &mut report, &mut done, Wait::One)? {
            let (total, found) =
                listing.join().map_err(|_| Error::Internal("the listing of the files failed".into()))??;
            if !found.is_empty() && !opts.allow_missing {
                return Err(Error::Inconsistent(found));
            }
            break total;
        }
    };
    progress.total(files_total + db_size);
    let mut found = Vec::new();
    let mut corrupt_referenced = false;
    // The contents archived under filedir, each checked against its name.
    let mut archived: HashSet<String> = HashSet::new();
    walk(site.moodledata, None, &EXCLUDED, &mut |e| {
        let name = e.name;
        // The dump is paced by the database server and pg_dump, which share the cores with
        // the files: the files wait for it when they are ahead of it by more than 5% (as a
        // share of what each is expected to be), so that the dump does not end alone.
        let db_total = db_size;
        let ahead = u128::from(report.file_bytes) * u128::from(db_total)
            > (u128::from(report.db_bytes) + u128::from(db_total / 20)) * u128::from(files_total);
        take_pieces(&mut a, &mut report, &mut done, if ahead { Wait::One } else { Wait::No })?;
        let member = format!("moodledata/{name}");
        if !e.plain {
            found.push(Inconsistency::Skipped {
                path: name.escape_debug().to_string(),
                why: if e.kind == Kind::Dir {
                    "a directory whose name has control characters or is not UTF-8 (not entered)"
                } else {
                    "its name has control characters or is not UTF-8"
                },
            });
            return Ok(());
        }
        match e.kind {
            Kind::Dir => return a.add_dir(&member, e.mode & 0o755, e.mtime),
            Kind::Link | Kind::Other => {
                found.push(Inconsistency::Skipped {
                    path: name.to_owned(),
                    why: "not a regular file (a link or a device)",
                });
                return Ok(());
            }
            Kind::File => {}
        }
        let in_filedir = name.starts_with("filedir/");
        let hash_name = e.file_name.to_str().filter(|n| in_filedir && is_hash(n));
        if in_filedir && name.ends_with(".tmp") {
            // Moodle writes a content here before renaming it into place.
            return Ok(());
        }
        let from = Source::At(e.dir, e.file_name, e.path);
        if let Some((size, sha1)) = a.add_file(&member, from, hash_name.is_some(), &mut found)? {
            report.files += 1;
            report.file_bytes += size;
            done += size;
            match (hash_name, sha1) {
                (Some(h), Some(actual)) if actual != h => {
                    corrupt_referenced |= wanted.contains(h);
                    found.push(Inconsistency::Corrupt { path: name.to_owned(), actual });
                    // In the archive already, as it is: not looked for again.
                    archived.insert(h.to_owned());
                }
                (Some(h), Some(_)) => {
                    archived.insert(h.to_owned());
                }
                _ => {}
            }
        }
        progress.done(done, report.files);
        Ok(())
    })?;
    // Contents referenced by the snapshot and deleted since (Moodle deletes the row, then
    // moves the content to the trash), before the walk or during it: from the trash.
    let mut late: Vec<&str> = wanted.iter().copied().filter(|h| !archived.contains(*h)).collect();
    late.sort_unstable();
    for h in late {
        let name = format!("filedir/{}/{}/{h}", &h[0..2], &h[2..4]);
        let added = match locate(site.moodledata, h) {
            Some((p, in_trash)) => {
                a.add_file(&format!("moodledata/{name}"), Source::Path(&p), true, &mut found)?.map(|x| (x, in_trash))
            }
            None => None,
        };
        match added {
            Some(((size, sha1), in_trash)) => {
                report.files += 1;
                report.file_bytes += size;
                archived.insert(h.to_owned());
                if sha1.as_deref() != Some(h) {
                    corrupt_referenced = true;
                    found.push(Inconsistency::Corrupt { path: name, actual: sha1.unwrap_or_default() });
                } else if in_trash {
                    found.push(Inconsistency::FromTrash { hash: h.to_owned() });
                }
            }
            None => {
                let p = content_path(site.moodledata, "filedir", h);
                found.push(if fs::symlink_metadata(&p).is_ok() {
                    Inconsistency::NotPlain { path: rel(site.moodledata, &p) }
                } else {
                    Inconsistency::Missing { hash: h.to_owned() }
                });
            }
        }
    }
    // MariaDB cannot share its dump's snapshot: a row written after the list of referenced
    // contents was read may name a content deleted since. Every content in the trash not
    // already archived goes in too (at worst an orphan Moodle's cron removes).
    if site.db.engine == Engine::Mariadb && site.moodledata.join("trashdir").is_dir() {
        let mut trash = Vec::new();
        walk(site.moodledata, Some("trashdir"), &[], &mut |e| {
            if e.kind == Kind::File
                && let Some(h) = e.file_name.to_str().filter(|n| is_hash(n))
                && !archived.contains(h)
            {
                trash.push((h.to_owned(), site.moodledata.join("trashdir").join(e.name)));
            }
            Ok(())
        })?;
        trash.sort();
        trash.dedup_by(|x, y| x.0 == y.0);
        for (h, p) in trash {
            let name = format!("filedir/{}/{}/{h}", &h[0..2], &h[2..4]);
            if let Some((size, sha1)) = a.add_file(&format!("moodledata/{name}"), Source::Path(&p), true, &mut found)? {
                report.files += 1;
                report.file_bytes += size;
                if sha1.as_deref() != Some(h.as_str()) {
                    found.push(Inconsistency::Corrupt {
                        path: format!("trashdir/.../{h}"),
                        actual: sha1.unwrap_or_default(),
                    });
                }
            }
        }
    }
    take_pieces(&mut a, &mut report, &mut done, Wait::All)?;
    let missing = found.iter().any(|i| matches!(i, Inconsistency::Missing { .. } | Inconsistency::NotPlain { .. }));
    if (corrupt_referenced || missing) && !opts.allow_missing {
        return Err(Error::Inconsistent(found));
    }
    if !found.is_empty() {
        let mut t = String::from(
            "# What gardien's checks found while making this archive (one per line).\n# missing: a file the database references is in neither filedir nor the trash.\n# corrupt: a file whose content's SHA-1 is not its name.\n# link: a file the database references that is a symbolic link (never followed) or not a regular file.\n# from-trash: a file deleted after the database's snapshot, taken from the trash.\n# changed: a file that changed while it was read (its copy here may be cut or padded).\n# skipped: a file left out, and why.\n",
        );
        for i in &found {
            t.push_str(&i.to_string());
            t.push('\n');
        }
        a.add_bytes("INCONSISTENCIES.txt", t.as_bytes(), true)?;
    }
    let sums = format!(
        "# {FORMAT} site={} created={} engine={} files={} db-pieces={}\n{}",
        site.slug,
        opts.created,
        engine.as_str(),
        report.files,
        report.db_pieces,
        a.sums
    );
    report.sums_sha256 = hex::encode(sha2::Sha256::digest(sums.as_bytes()));
    let signatures = signer.sign(&sums).map_err(Error::Sign)?;
    a.add_bytes("SHA256SUMS", sums.as_bytes(), false)?;
    for (name, data) in signatures {
        a.add_bytes(&name, &data, false)?;
    }
    report.inconsistencies = found;
    let enc = a.tar.into_inner().map_err(Error::Output)?;
    let out = enc.finish().map_err(Error::Output)?;
    Ok((report, out))
}

/// How long `take_pieces` waits for the dump.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    No,
    One,
    All,
}

/// Now, as Unix seconds, for the members made here.
fn chrono_free_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `open_plain` refuses a link at any level under the root, and what is not a file.
    #[test]
    fn no_file_is_read_through_a_link() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("md");
        let secret = t.path().join("secret");
        fs::create_dir_all(root.join("a/b")).expect("dirs");
        fs::create_dir_all(&secret).expect("dirs");
        fs::write(secret.join("key"), b"the key").expect("write");
        fs::write(root.join("a/b/f"), b"plain").expect("write");
        std::os::unix::fs::symlink(&secret, root.join("a/link")).expect("link");
        std::os::unix::fs::symlink(secret.join("key"), root.join("a/b/l")).expect("link");
        let mut s = String::new();
        open_plain(&root, &root.join("a/b/f")).expect("plain").read_to_string(&mut s).expect("read");
        assert_eq!(s, "plain");
        for bad in ["a/link/key", "a/b/l", "a/b", "../secret/key"] {
            let e = open_plain(&root, &root.join(bad)).expect_err(bad);
            assert!(matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::NotFound), "{bad}: {e}");
        }
        assert!(!plain_file(&root, &root.join("a/link/key")));
        assert!(plain_file(&root, &root.join("a/b/f")));
    }

    /// A directory swapped for a link while the walk runs is reported as a link, and no
    /// name beyond it is listed.
    #[test]
    fn the_walk_lists_nothing_through_a_link_swapped_in_mid_walk() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = t.path().join("md");
        let secret = t.path().join("secret");
        fs::create_dir_all(root.join("a")).expect("dirs");
        fs::create_dir_all(root.join("z/inner")).expect("dirs");
        fs::create_dir_all(&secret).expect("dirs");
        fs::write(root.join("a/f"), b"plain").expect("write");
        fs::write(secret.join("master.key"), b"the key").expect("write");
        let mut seen = Vec::new();
        walk(&root, None, &[], &mut |e| {
            if e.name == "a/f" {
                fs::rename(root.join("z"), t.path().join("moved")).expect("rename");
                std::os::unix::fs::symlink(&secret, root.join("z")).expect("link");
            }
            seen.push((e.name.to_owned(), e.kind == Kind::Link));
            Ok(())
        })
        .expect("walk");
        assert!(seen.iter().all(|(n, _)| !n.contains("master.key") && !n.contains("inner")), "{seen:?}");
        assert!(seen.contains(&("z".to_owned(), true)), "{seen:?}");
        assert!(seen.contains(&("a/f".to_owned(), false)), "{seen:?}");
    }
}
