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
    let link = |e: rustix::io::Errno| {
        if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR {
            io::Error::new(io::ErrorKind::InvalidInput, "a symbolic link: gardien reads no file through a link")
        } else {
            io::Error::from(e)
        }
    };
    let mut dir = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io::Error::from)?;
    let comps: Vec<_> = rel.components().collect();
    let Some((last, dirs)) = comps.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a file"));
    };
    for c in dirs {
        let std::path::Component::Normal(name) = c else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain path"));
        };
        dir = rustix::fs::openat(
            &dir,
            *name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(link)?;
    }
    let std::path::Component::Normal(name) = last else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a plain path"));
    };
    let fd = rustix::fs::openat(
        &dir,
        *name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(link)?;
    let f = fs::File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(f)
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
    Data(Vec<u8>),
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
    let mut sent = 0u64;
    let read_result = (|| -> Result<(), Error> {
        loop {
            let mut piece = vec![0u8; PIECE];
            let mut len = 0;
            while len < PIECE {
                let n = out.read(&mut piece[len..]).map_err(|e| Error::Internal(format!("reading the dump: {e}")))?;
                if n == 0 {
                    break;
                }
                len += n;
            }
            if len == 0 {
                return Ok(());
            }
            piece.truncate(len);
            sent += len as u64;
            if tx.send(Piece::Data(piece)).is_err() {
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
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644, self.mtime);
        self.tar.append_data(&mut h, format!("{}/{name}", self.top), data).map_err(Error::Output)?;
        if listed {
            self.sums.push_str(&sum_line(&hex::encode(sha2::Sha256::digest(data)), name));
        }
        Ok(())
    }

    fn add_dir(&mut self, name: &str, mode: u32, mtime: u64) -> Result<(), Error> {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode, mtime);
        self.tar.append_data(&mut h, format!("{}/{name}/", self.top), io::empty()).map_err(Error::Output)
    }

    /// Adds a file from the disk under `name`; its SHA-1 when asked.
    fn add_file(
        &mut self,
        name: &str,
        path: &Path,
        want_sha1: bool,
        found: &mut Vec<Inconsistency>,
    ) -> Result<Option<(u64, Option<String>)>, Error> {
        let file = match open_plain(&self.root, path) {
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
        let mut m = Member::new(io::BufReader::with_capacity(1 << 20, file), size, want_sha1);
        self.tar.append_data(&mut h, format!("{}/{name}", self.top), &mut m).map_err(Error::Output)?;
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
            Engine::Postgres => "SELECT pg_database_size(current_database())".to_owned(),
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
    let mut found = Vec::new();
    for h in &hashes {
        if locate(site.moodledata, h).is_none() {
            let p = content_path(site.moodledata, "filedir", h);
            found.push(if fs::symlink_metadata(&p).is_ok() {
                Inconsistency::NotPlain { path: rel(site.moodledata, &p) }
            } else {
                Inconsistency::Missing { hash: h.clone() }
            });
        }
    }
    if !found.is_empty() && !opts.allow_missing {
        return Err(Error::Inconsistent(found));
    }
    let wanted: HashSet<&str> = hashes.iter().map(String::as_str).collect();

    // What the walk will read, for the progress's total.
    let mut files_total = 0u64;
    walk(site.moodledata, &mut |_, _, meta| {
        files_total += meta.len();
        Ok(())
    })?;
    progress.total(files_total + db_size);

    let (tx, rx) = mpsc::sync_channel::<Piece>(2);
    let snapshot_id = snapshot.as_ref().map(|s| s.id.clone());
    let db = site.db.clone();
    std::thread::scope(|scope| {
        let dumper = scope.spawn(move || {
            let r = run_dump(&db, snapshot_id.as_deref(), &tx);
            let _ = tx.send(Piece::End(r));
        });
        let result = write_archive(
            site,
            opts,
            signer,
            out,
            progress,
            &config,
            &server,
            &wanted,
            // Those found missing are found again, after the walk (the trash may have them).
            Vec::new(),
            hashes.len() as u64,
            &rx,
        );
        // A failed archive stops the dump (its next send fails, and it is killed).
        drop(rx);
        let _ = dumper.join();
        if let Some(s) = snapshot.take() {
            s.close();
        }
        result
    })
}

/// Calls `f(relative name, path, metadata)` for every regular file under moodledata but
/// the excluded directories, in name order; directories get `f` with `is_dir()` metadata.
fn walk(root: &Path, f: &mut dyn FnMut(&str, &Path, &fs::Metadata) -> Result<(), Error>) -> Result<(), Error> {
    let mut stack = vec![(root.to_owned(), String::new())];
    while let Some((dir, name)) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(|source| Error::Io { path: dir.clone(), source })?
            .collect::<Result<_, _>>()
            .map_err(|source| Error::Io { path: dir.clone(), source })?;
        entries.sort_by_key(fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        for e in entries {
            let file_name = e.file_name();
            let child = if name.is_empty() {
                file_name.to_string_lossy().into_owned()
            } else {
                format!("{name}/{}", file_name.to_string_lossy())
            };
            if name.is_empty() && EXCLUDED.contains(&child.as_str()) {
                continue;
            }
            let meta = match fs::symlink_metadata(e.path()) {
                Ok(m) => m,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(Error::Io { path: e.path(), source }),
            };
            if meta.is_dir() {
                subdirs.push((e.path(), child));
            } else {
                f(&child, &e.path(), &meta)?;
            }
        }
        // Depth first, in name order.
        for (p, n) in subdirs.into_iter().rev() {
            let meta = fs::symlink_metadata(&p).map_err(|source| Error::Io { path: p.clone(), source })?;
            f(&n, &p, &meta)?;
            stack.push((p, n));
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
    mut found: Vec<Inconsistency>,
    referenced: u64,
    rx: &mpsc::Receiver<Piece>,
) -> Result<(Report, W), Error> {
    let mut enc = zstd::stream::write::Encoder::new(out, 3).map_err(Error::Output)?;
    enc.multithread(2).map_err(Error::Output)?;
    enc.include_checksum(true).map_err(Error::Output)?;
    let top = format!("{}-{}", site.slug, opts.day);
    let mtime = chrono_free_now();
    let mut a = Archive {
        tar: tar::Builder::new(enc),
        root: site.moodledata.to_owned(),
        top: top.clone(),
        sums: String::new(),
        mtime,
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
    // Takes the dump's pieces that are ready (all of them, waiting, when `wait`).
    let mut take_pieces = |a: &mut Archive<_>, report: &mut Report, done: &mut u64, wait: bool| -> Result<(), Error> {
        while !dump_done {
            let piece = if wait {
                rx.recv().map_err(|_| Error::Internal("the dump's thread ended".into()))?
            } else {
                match rx.try_recv() {
                    Ok(p) => p,
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => {
                        return Err(Error::Internal("the dump's thread ended".into()));
                    }
                }
            };
            match piece {
                Piece::Data(d) => {
                    report.db_pieces += 1;
                    report.db_bytes += d.len() as u64;
                    *done += d.len() as u64;
                    a.add_bytes(&format!("db/{:06}.sql", report.db_pieces), &d, true)?;
                    progress.done(*done, report.files);
                }
                Piece::End(r) => {
                    r?;
                    dump_done = true;
                }
            }
        }
        Ok(())
    };
    let mut corrupt_referenced = false;
    // The contents archived under filedir, each checked against its name.
    let mut archived: HashSet<String> = HashSet::new();
    walk(site.moodledata, &mut |name, path, meta| {
        take_pieces(&mut a, &mut report, &mut done, false)?;
        let member = format!("moodledata/{name}");
        if name.contains(|c: char| c.is_control()) || path.file_name().is_some_and(|n| n.to_str().is_none()) {
            found.push(Inconsistency::Skipped {
                path: name.escape_debug().to_string(),
                why: "its name has control characters or is not UTF-8",
            });
            return Ok(());
        }
        if meta.is_dir() {
            return a.add_dir(&member, meta.permissions().mode() & 0o755, u64::try_from(meta.mtime()).unwrap_or(0));
        }
        if meta.file_type().is_symlink() || !meta.is_file() {
            found
                .push(Inconsistency::Skipped { path: name.to_owned(), why: "not a regular file (a link or a device)" });
            return Ok(());
        }
        let in_filedir = name.starts_with("filedir/");
        let hash_name = path.file_name().and_then(|n| n.to_str()).filter(|n| in_filedir && is_hash(n));
        if in_filedir && name.ends_with(".tmp") {
            // Moodle writes a content here before renaming it into place.
            return Ok(());
        }
        if let Some((size, sha1)) = a.add_file(&member, path, hash_name.is_some(), &mut found)? {
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
                a.add_file(&format!("moodledata/{name}"), &p, true, &mut found)?.map(|x| (x, in_trash))
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
        walk(&site.moodledata.join("trashdir"), &mut |_, p, meta| {
            if meta.is_file()
                && let Some(h) = p.file_name().and_then(|n| n.to_str()).filter(|n| is_hash(n))
                && !archived.contains(h)
            {
                trash.push((h.to_owned(), p.to_owned()));
            }
            Ok(())
        })?;
        trash.sort();
        trash.dedup_by(|x, y| x.0 == y.0);
        for (h, p) in trash {
            let name = format!("filedir/{}/{}/{h}", &h[0..2], &h[2..4]);
            if let Some((size, sha1)) = a.add_file(&format!("moodledata/{name}"), &p, true, &mut found)? {
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
    take_pieces(&mut a, &mut report, &mut done, true)?;
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
}
