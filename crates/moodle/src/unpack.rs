//! A site's archive put back (`gardien site restore`): the dump into an empty database
//! through the engine's own client, moodledata into an empty directory, every file checked
//! against SHA256SUMS on the way. The archive is read once, as it streams out of the vault.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::Digest as _;

use crate::db::{self, DbUrl, Engine};
use crate::{Error, Progress};

/// What a restore put back.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The archive's top directory.
    pub top: String,
    /// Files written under moodledata.
    pub files: u64,
    /// Their bytes.
    pub file_bytes: u64,
    /// SQL bytes loaded.
    pub db_bytes: u64,
}

/// Refuses a target that is not empty: a restore never mixes with what is there.
pub fn check_empty(db: &DbUrl, moodledata: &Path) -> Result<(), Error> {
    match fs::read_dir(moodledata) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(Error::NotMoodle(format!(
                    "{}: not empty; a restore goes into an empty directory",
                    moodledata.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::Io { path: moodledata.to_owned(), source }),
    }
    let sql = match db.engine {
        Engine::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        }
        Engine::Mariadb => "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
    };
    let n: u64 = db.query(sql)?.first().and_then(|r| r.trim().parse().ok()).unwrap_or(u64::MAX);
    if n != 0 {
        return Err(Error::NotMoodle(format!(
            "the database {} holds {n} tables; a restore goes into an empty database",
            db.name
        )));
    }
    Ok(())
}

/// The engine's client loading SQL from its stdin, in one transaction where the engine
/// has them for DDL (PostgreSQL).
fn loader(db: &DbUrl) -> Command {
    let mut c = match db.engine {
        Engine::Postgres => {
            let mut c = Command::new("psql");
            // One transaction, begun and committed by us: psql left without its COMMIT (its
            // input cut, gardien killed) ends the session and PostgreSQL rolls it back.
            c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
            c
        }
        Engine::Mariadb => {
            let mut c = Command::new("mariadb");
            c.arg("--default-character-set=utf8mb4");
            c
        }
    };
    c.args(db.connect_args());
    match db.engine {
        Engine::Postgres => c.arg(format!("--dbname={}", db.name)),
        Engine::Mariadb => c.arg(&db.name),
    };
    c
}

/// The path under `root` of an archive member's relative name, refusing anything but
/// plain names (no `..`, no absolute path): the archive is authenticated, and still.
fn safe_join(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = root.to_owned();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Directories of the client's data: nothing for the machine's other users.
fn mkdirs(p: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(p)
        .map_err(|source| Error::Io { path: p.to_owned(), source })
}

/// Reads an archive made by [`crate::pack`] from `archive` (the zstd stream) and puts it
/// back. On failure what was written under `moodledata` is removed; the database is left
/// as its engine leaves a failed load (PostgreSQL: untouched, one transaction).
pub fn unpack(archive: impl Read, db: &DbUrl, moodledata: &Path, progress: &dyn Progress) -> Result<Restored, Error> {
    check_empty(db, moodledata)?;
    // The files go to a directory beside the target, renamed into place once everything
    // was checked: a restore killed half-way leaves the target as it was (empty), and a
    // hidden `.NAME.gardien-restore-PID` to remove.
    let (Some(parent), Some(name)) = (moodledata.parent(), moodledata.file_name()) else {
        return Err(Error::NotMoodle(format!("{}: not a directory to restore into", moodledata.display())));
    };
    fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    let prefix = format!(".{}.gardien-restore-", name.to_string_lossy());
    // What a restore killed earlier left beside it (its process gone): removed.
    if let Ok(d) = fs::read_dir(parent) {
        for e in d.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = n.strip_prefix(&prefix)
                && pid.parse::<u32>().is_ok()
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let staging = parent.join(format!("{prefix}{}", std::process::id()));
    {
        use std::os::unix::fs::DirBuilderExt as _;
        fs::DirBuilder::new()
            .mode(0o750)
            .create(&staging)
            .map_err(|source| Error::Io { path: staging.clone(), source })?;
    }
    let mut cmd = loader(db);
    let program = db::program_of(&cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn { program: program.clone(), source })?;
    // What the loader says is read as it comes (bounded): a loader blocked on a full
    // stderr would never read its stdin again.
    let errs = child.stderr.take().map(db::drain);
    let result = unpack_into(archive, db.engine == Engine::Postgres, &mut child, &staging, progress);
    if result.is_err() {
        // The archive is not whole: the loader must not commit what it got (PostgreSQL
        // would, at the end of its input): killed before its input ends.
        let _ = child.kill();
    }
    drop(child.stdin.take());
    let status = child.wait().map_err(|source| Error::Spawn { program: program.clone(), source });
    let err = errs.and_then(|t| t.join().ok()).unwrap_or_default();
    let outcome = match (result, status) {
        (Ok(r), Ok(s)) if s.success() => Ok(r),
        (Ok(_), Ok(s)) => Err(Error::Tool { program, status: s.to_string(), stderr: db::tail(&err) }),
        (Err(e), _) => Err(e),
        (_, Err(e)) => Err(e),
    };
    // MariaDB commits each table as it is created: a failed load leaves part of the dump.
    let outcome = outcome.map_err(|e| match db.engine {
        Engine::Mariadb => Error::NotMoodle(format!(
            "{e}; the database {} may now hold part of the dump (MariaDB commits each table as it comes): drop and create it again before another restore",
            db.name
        )),
        Engine::Postgres => e,
    });
    let outcome = outcome.and_then(|r| {
        // An empty target directory gives way to the restored one.
        if moodledata.exists() {
            fs::remove_dir(moodledata).map_err(|source| Error::Io { path: moodledata.to_owned(), source })?;
        }
        fs::rename(&staging, moodledata).map_err(|source| Error::Io { path: moodledata.to_owned(), source })?;
        Ok(r)
    });
    if outcome.is_err() {
        // Nothing half-made left visible: the files written go.
        let _ = fs::remove_dir_all(&staging);
    }
    outcome
}

fn unpack_into(
    archive: impl Read,
    postgres: bool,
    child: &mut Child,
    moodledata: &Path,
    progress: &dyn Progress,
) -> Result<Restored, Error> {
    let decoder =
        zstd::stream::read::Decoder::new(archive).map_err(|e| Error::NotMoodle(format!("not a site archive: {e}")))?;
    let mut tar = tar::Archive::new(decoder);
    // Borrowed, not taken: the loader's input stays open until every file was checked, so
    // that it commits (at the end of its input) only a whole archive.
    let sql = child.stdin.as_mut().ok_or_else(|| Error::Internal("the loader has no stdin".into()))?;
    if postgres {
        sql.write_all(b"BEGIN;\n").map_err(|source| Error::Io { path: "psql".into(), source })?;
    }
    let mut report = Restored::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut sums = None;
    let mut next_piece = 1u64;
    let mut done = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let bad = |why: String| Error::NotMoodle(format!("not a site archive gardien made: {why}"));
    let entries = tar.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let mut comps = path.components();
        let top = match comps.next() {
            Some(Component::Normal(t)) => t.to_string_lossy().into_owned(),
            _ => return Err(bad(format!("member {} outside its top directory", path.display()))),
        };
        if report.top.is_empty() {
            report.top = top.clone();
        } else if report.top != top {
            return Err(bad(format!("two top directories ({} and {top})", report.top)));
        }
        let rel = comps.as_path().to_owned();
        let name = rel.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            if let Some(sub) = rel.strip_prefix("moodledata").ok().filter(|s| !s.as_os_str().is_empty()) {
                let p = safe_join(moodledata, sub).ok_or_else(|| bad(format!("unsafe path {name}")))?;
                mkdirs(&p)?;
            }
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("{name} is not a file")));
        }
        let mut hasher = sha2::Sha256::new();
        let mut pump = |out: &mut dyn Write, entry: &mut dyn Read, what: &Path, files: u64| -> Result<u64, Error> {
            let mut n = 0u64;
            loop {
                let k = entry.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                if k == 0 {
                    return Ok(n);
                }
                hasher.update(&buf[..k]);
                out.write_all(&buf[..k]).map_err(|source| Error::Io { path: what.to_owned(), source })?;
                n += k as u64;
                done += k as u64;
                progress.done(done, files);
            }
        };
        if let Some(piece) = name.strip_prefix("db/").and_then(|n| n.strip_suffix(".sql")) {
            if piece.parse::<u64>().ok() != Some(next_piece) {
                return Err(bad(format!("dump piece {name} out of order")));
            }
            next_piece += 1;
            report.db_bytes += pump(sql, &mut entry, Path::new("the database's client"), report.files)?;
        } else if let Ok(sub) = rel.strip_prefix("moodledata") {
            let p = safe_join(moodledata, sub).ok_or_else(|| bad(format!("unsafe path {name}")))?;
            if let Some(parent) = p.parent() {
                mkdirs(parent)?;
            }
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
                .map_err(|source| Error::Io { path: p.clone(), source })?;
            report.file_bytes += pump(&mut f, &mut entry, &p, report.files)?;
            report.files += 1;
            // The client's data: nothing for the machine's other users.
            let mode = entry.header().mode().unwrap_or(0o640) & 0o750;
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|source| Error::Io { path: p.clone(), source })?;
        } else if name == "SHA256SUMS" {
            let mut t = String::new();
            entry.read_to_string(&mut t).map_err(|e| bad(e.to_string()))?;
            sums = Some(t);
            continue;
        } else {
            // The guides, config.php, the signatures: checked, not written.
            pump(&mut io::sink(), &mut entry, &rel, report.files)?;
        }
        seen.insert(name, hex::encode(hasher.finalize()));
    }
    // Every file listed, with its digest, and nothing else (the signatures aside).
    let sums = sums.ok_or_else(|| bad("no SHA256SUMS".into()))?;
    let mut listed = std::collections::BTreeSet::new();
    for line in sums.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let escaped = line.starts_with('\\');
        let (hex, name) =
            line.trim_start_matches('\\').split_once("  ").ok_or_else(|| bad(format!("SHA256SUMS line {line:?}")))?;
        let name = if escaped { name.replace("\\\\", "\\") } else { name.to_owned() };
        match seen.get(&name) {
            Some(h) if h == hex => {}
            Some(_) => return Err(bad(format!("{name} does not match SHA256SUMS"))),
            None => return Err(bad(format!("{name} is listed in SHA256SUMS but absent"))),
        }
        listed.insert(name);
    }
    let unlisted: Vec<&String> =
        seen.keys().filter(|k| !k.starts_with("SHA256SUMS.") && !listed.contains(*k)).collect();
    if !unlisted.is_empty() {
        return Err(bad(format!("files not in SHA256SUMS: {unlisted:?}")));
    }
    if postgres {
        sql.write_all(b"COMMIT;\n").map_err(|source| Error::Io { path: "psql".into(), source })?;
    }
    Ok(report)
}
