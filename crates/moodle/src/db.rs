//! A Moodle site's database: where it is (`postgres://` or `mysql://` URL, never with a
//! password), and the engine's own tools run on it (`psql`, `pg_dump`, `mariadb`,
//! `mariadb-dump`). No driver: the dump must be the engine's own, and the same tools run
//! the few queries the checks need.
//!
//! Passwords are never stored nor put on a command line: PostgreSQL's tools read
//! `PGPASSWORD`, `PGPASSFILE` or `~/.pgpass`; MariaDB's read `MYSQL_PWD` or `~/.my.cnf`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::Error;

/// The database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    Mariadb,
}

impl Engine {
    /// The name used in URLs and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mariadb => "mysql",
        }
    }
}

/// Where a site's database is: `postgres://USER@HOST[:PORT]/DB`,
/// `postgres://USER@/DB?host=/run/postgresql` (a unix socket's directory),
/// `mysql://USER@HOST[:PORT]/DB`, `mysql://USER@/DB?socket=/run/mysqld/mysqld.sock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The engine.
    pub engine: Engine,
    /// The user the tools connect as.
    pub user: String,
    /// A host name or address, when not a socket.
    pub host: Option<String>,
    /// Its port.
    pub port: Option<u16>,
    /// A unix socket (PostgreSQL: its directory; MariaDB: the socket itself).
    pub socket: Option<PathBuf>,
    /// The database's name.
    pub name: String,
}

fn word(what: &str, s: &str, url: &str) -> Result<String, Error> {
    // Not starting with '-': a database name is an argument of mariadb-dump.
    if s.is_empty()
        || s.len() > 63
        || s.starts_with(['-', '.'])
        || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.$".contains(&b))
    {
        return Err(Error::BadUrl(format!(
            "{url}: the {what} must be 1 to 63 letters, digits, '_', '-', '.' or '$', not starting with '-' or '.'"
        )));
    }
    Ok(s.to_owned())
}

impl DbUrl {
    /// Parses a URL; refuses one carrying a password, and anything it does not understand.
    pub fn parse(url: &str) -> Result<DbUrl, Error> {
        let shown = crate::redact_url(url);
        if url.chars().any(char::is_control) {
            return Err(Error::BadUrl(format!("{shown}: control characters in a database URL")));
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::BadUrl(format!("{shown}: expected postgres://USER@HOST[:PORT]/DB or mysql://USER@HOST[:PORT]/DB"))
        })?;
        let engine = match scheme {
            "postgres" | "postgresql" => Engine::Postgres,
            "mysql" | "mariadb" => Engine::Mariadb,
            other => {
                return Err(Error::BadUrl(format!(
                    "{shown}: unknown database kind {other:?} (postgres:// or mysql://; Moodle's other engines are not supported)"
                )));
            }
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (auth, hostpath) = rest.split_once('@').ok_or_else(|| {
            Error::BadUrl(format!("{shown}: name the user the tools connect as (USER@HOST), never with a password"))
        })?;
        if auth.contains(':') {
            return Err(Error::BadUrl(format!(
                "{shown}: a database URL never carries a password (it would be stored and shown); give it through {}",
                match engine {
                    Engine::Postgres => "~/.pgpass, PGPASSFILE or PGPASSWORD",
                    Engine::Mariadb => "~/.my.cnf or MYSQL_PWD",
                }
            )));
        }
        let user = word("user", auth, &shown)?;
        let (hostport, name) =
            hostpath.split_once('/').ok_or_else(|| Error::BadUrl(format!("{shown}: name the database (.../DB)")))?;
        let name = word("database name", name, &shown)?;
        let (mut host, mut port) = (None, None);
        if !hostport.is_empty() {
            let (h, p) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            };
            if h.is_empty() || h.starts_with('-') || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
            {
                return Err(Error::BadUrl(format!("{shown}: {h:?} is not a host name or IPv4 address")));
            }
            host = Some(h.to_owned());
            if let Some(p) = p {
                port = Some(
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| Error::BadUrl(format!("{shown}: {p:?} is not a port")))?,
                );
            }
        }
        let mut socket = None;
        if let Some(q) = query {
            let key = match engine {
                Engine::Postgres => "host",
                Engine::Mariadb => "socket",
            };
            let path = q.strip_prefix(key).and_then(|r| r.strip_prefix('=')).ok_or_else(|| {
                Error::BadUrl(format!("{shown}: the only parameter understood is ?{key}=/ABSOLUTE/PATH"))
            })?;
            if !path.starts_with('/')
                || path.split('/').any(|c| c == "..")
                || path.contains(['&', '%', '\'', '"', '#', '?'])
            {
                return Err(Error::BadUrl(format!("{shown}: ?{key}= takes an absolute path")));
            }
            if host.is_some() {
                return Err(Error::BadUrl(format!("{shown}: a host or a socket, not both")));
            }
            socket = Some(PathBuf::from(path));
        }
        if host.is_none() && socket.is_none() {
            return Err(Error::BadUrl(format!(
                "{shown}: name the host (USER@HOST/DB) or the socket (USER@/DB?{}=/PATH)",
                if engine == Engine::Postgres { "host" } else { "socket" }
            )));
        }
        Ok(DbUrl { engine, user, host, port, socket, name })
    }

    /// The URL again, as stored and shown.
    pub fn to_url(&self) -> String {
        let mut s = format!("{}://{}@", self.engine.as_str(), self.user);
        if let Some(h) = &self.host {
            s.push_str(h);
            if let Some(p) = self.port {
                s.push_str(&format!(":{p}"));
            }
        }
        s.push('/');
        s.push_str(&self.name);
        if let Some(sock) = &self.socket {
            let key = if self.engine == Engine::Postgres { "host" } else { "socket" };
            s.push_str(&format!("?{key}={}", sock.display()));
        }
        s
    }

    /// The connection options every tool of the engine takes.
    pub(crate) fn connect_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        match self.engine {
            Engine::Postgres => {
                // Never prompt: a missing password is an error, not a hung process.
                a.push("--no-password".into());
                a.push(format!("--username={}", self.user));
                if let Some(h) = &self.host {
                    a.push(format!("--host={h}"));
                }
                if let Some(s) = &self.socket {
                    a.push(format!("--host={}", s.display()));
                }
                if let Some(p) = self.port {
                    a.push(format!("--port={p}"));
                }
            }
            Engine::Mariadb => {
                a.push(format!("--user={}", self.user));
                if let Some(h) = &self.host {
                    a.push(format!("--host={h}"));
                    a.push("--protocol=TCP".into());
                }
                if let Some(s) = &self.socket {
                    a.push(format!("--socket={}", s.display()));
                    a.push("--protocol=SOCKET".into());
                }
                if let Some(p) = self.port {
                    a.push(format!("--port={p}"));
                }
            }
        }
        a
    }

    /// The engine's dump tool, writing plain SQL on stdout in one consistent snapshot
    /// (PostgreSQL's own, or `snapshot`, exported by a [`Snapshot`]).
    pub fn dump_command(&self, snapshot: Option<&str>) -> Command {
        match self.engine {
            Engine::Postgres => {
                let mut c = Command::new("pg_dump");
                c.args(self.connect_args());
                c.args([
                    "--format=plain",
                    "--no-owner",
                    "--no-privileges",
                    "--encoding=UTF8",
                    "--lock-wait-timeout=30s",
                ]);
                if let Some(s) = snapshot {
                    c.arg(format!("--snapshot={s}"));
                }
                c.arg(format!("--dbname={}", self.name));
                c
            }
            Engine::Mariadb => {
                let mut c = Command::new("mariadb-dump");
                c.args(self.connect_args());
                // No --databases: the dump restores into a database of any name.
                c.args([
                    "--single-transaction",
                    "--quick",
                    "--skip-lock-tables",
                    "--hex-blob",
                    "--default-character-set=utf8mb4",
                    "--routines",
                    "--triggers",
                    "--no-tablespaces",
                    "--skip-dump-date",
                    &self.name,
                ]);
                c
            }
        }
    }

    /// The engine's client running one query, rows on stdout one per line.
    fn query_command(&self, sql: &str) -> Command {
        match self.engine {
            Engine::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
                c.args(self.connect_args());
                c.arg(format!("--dbname={}", self.name)).arg("-c").arg(sql);
                c
            }
            Engine::Mariadb => {
                let mut c = Command::new("mariadb");
                c.args(self.connect_args());
                c.args(["--batch", "--skip-column-names", "--default-character-set=utf8mb4", "-e", sql, &self.name]);
                c
            }
        }
    }

    /// Runs one query; its rows.
    pub fn query(&self, sql: &str) -> Result<Vec<String>, Error> {
        let program = program_of(&self.query_command(sql));
        let out = self
            .query_command(sql)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn { program: program.clone(), source })?;
        if !out.status.success() {
            return Err(Error::Tool { program, status: out.status.to_string(), stderr: tail(&out.stderr) });
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect())
    }

    /// The SQL listing the content hashes the site's files reference (non-empty, not an
    /// alias of another file: an alias's content may legitimately live elsewhere).
    pub fn hashes_sql(prefix: &str) -> String {
        format!(
            "SELECT DISTINCT contenthash FROM {prefix}files WHERE filesize > 0 AND referencefileid IS NULL ORDER BY contenthash"
        )
    }

    /// The engine's version, as its server says (shown in the restore guide).
    pub fn server_version(&self) -> Result<String, Error> {
        let rows = self.query("SELECT version()")?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}

/// The name of a command's program, for errors.
pub(crate) fn program_of(c: &Command) -> String {
    c.get_program().to_string_lossy().into_owned()
}

/// Reads a tool's stderr as it comes, on its own thread, keeping its last 16 KiB: a tool
/// blocked on a full stderr would stop, and its error is at its end.
pub(crate) fn drain(mut stderr: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut keep = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            keep.extend_from_slice(&buf[..n]);
            if keep.len() > 16 << 10 {
                keep.drain(..keep.len() - (16 << 10));
            }
        }
        keep
    })
}

/// The last lines of a tool's stderr, for an error (at most 600 bytes).
pub(crate) fn tail(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut t = lines[lines.len().saturating_sub(3)..].join(" / ");
    if t.len() > 600 {
        let mut cut = t.len() - 600;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = format!("...{}", &t[cut..]);
    }
    t
}

/// A PostgreSQL transaction held open with its snapshot exported, so that `pg_dump
/// --snapshot` and the list of referenced hashes read the same state of the database.
pub struct Snapshot {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The exported snapshot's id.
    pub id: String,
}

impl Snapshot {
    /// Opens the transaction (repeatable read, read only) and exports its snapshot.
    pub fn open(db: &DbUrl) -> Result<Snapshot, Error> {
        let mut c = Command::new("psql");
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        c.args(db.connect_args());
        c.arg(format!("--dbname={}", db.name));
        let program = "psql".to_owned();
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn { program: program.clone(), source })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| Error::Internal("psql has no stdout".into()))?);
        let mut s = Snapshot { child, stdin, stdout, id: String::new() };
        s.send("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n")?;
        s.id = s.line()?.ok_or_else(|| s.failed())?;
        if !s.id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::Internal(format!("psql answered {:?} for a snapshot id", s.id)));
        }
        Ok(s)
    }

    fn send(&mut self, sql: &str) -> Result<(), Error> {
        let w = self.stdin.as_mut().ok_or_else(|| Error::Internal("psql's stdin is closed".into()))?;
        if w.write_all(sql.as_bytes()).and_then(|()| w.flush()).is_err() {
            return Err(self.failed());
        }
        Ok(())
    }

    fn line(&mut self) -> Result<Option<String>, Error> {
        let mut l = String::new();
        match self.stdout.read_line(&mut l) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(l.trim_end_matches('\n').to_owned())),
            Err(e) => Err(Error::Internal(format!("reading psql's output: {e}"))),
        }
    }

    /// psql ended: its error.
    fn failed(&mut self) -> Error {
        self.stdin = None;
        let mut err = Vec::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_end(&mut err);
        }
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        Error::Tool { program: "psql".into(), status, stderr: tail(&err) }
    }

    /// The rows of a query run in the snapshot.
    pub fn query(&mut self, sql: &str) -> Result<Vec<String>, Error> {
        const END: &str = "gardien-end-of-rows";
        self.send(&format!("{sql};\nSELECT '{END}';\n"))?;
        let mut rows = Vec::new();
        loop {
            match self.line()? {
                Some(l) if l == END => return Ok(rows),
                Some(l) => rows.push(l),
                None => return Err(self.failed()),
            }
        }
    }

    /// Ends the transaction (once the dump has its snapshot, or when it failed).
    pub fn close(mut self) {
        let _ = self.send("COMMIT;\n");
        self.stdin = None;
        let _ = self.child.wait();
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = DbUrl::parse("postgres://moodle@db.example:5433/moodle").expect("url");
        assert_eq!(
            (u.engine, u.user.as_str(), u.host.as_deref(), u.port, u.name.as_str()),
            (Engine::Postgres, "moodle", Some("db.example"), Some(5433), "moodle")
        );
        let u = DbUrl::parse("postgres://postgres@/moodle?host=/run/postgresql").expect("url");
        assert_eq!(u.socket.as_deref(), Some(std::path::Path::new("/run/postgresql")));
        assert_eq!(u.to_url(), "postgres://postgres@/moodle?host=/run/postgresql");
        let u = DbUrl::parse("mysql://root@/moodle?socket=/tmp/m/sock").expect("url");
        assert_eq!(u.engine, Engine::Mariadb);
        for bad in [
            "postgres://u:secret@h/db",
            "postgres://h/db",
            "postgres://u@h",
            "postgres://u@h:99999/db",
            "postgres://u@h/db;drop",
            "postgres://u@/db",
            "postgres://u@h/db?host=/x",
            "postgres://u@/db?sslmode=disable",
            "postgres://u@/db?host=relative",
            "mysql://u@/db?socket=/a/../b",
            "sqlite:///x",
            "postgres://u@h/d\nb",
            "postgres://-u@h/db x",
        ] {
            let e = DbUrl::parse(bad).expect_err(bad);
            assert!(!e.to_string().contains("secret"), "{e}");
        }
    }
}
