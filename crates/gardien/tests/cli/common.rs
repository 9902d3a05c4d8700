//! The harness: a data dir in a temp dir, and helpers to run commands in it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest as _, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_gardien");

/// The binary `Env` runs: this build's, or `GARDIEN_TEST_BIN` (the tests' own knob, not the
/// binary's: to run them against an earlier build and see which test pins which fix).
pub fn bin() -> String {
    std::env::var("GARDIEN_TEST_BIN").unwrap_or_else(|_| BIN.to_owned())
}
/// The technical operator `Env::new` registers; `ingest` addresses samples to them.
pub const TECH: &str = "jdupont";

/// A temp dir with a data dir in it (`data`), and a private TMPDIR (`tmp`) that the
/// tests search for leaked plaintext.
pub struct Env {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub tmp: PathBuf,
}

impl Env {
    /// A data dir, not initialised.
    pub fn bare() -> Env {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let tmp = root.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        Env { root, data, tmp }
    }

    /// An initialised data dir with one client, `acme`. Under `GARDIEN_TEST_STORE=s3`
    /// (scripts/test's second pass), its default store `local` is an S3 bucket instead.
    pub fn new() -> Env {
        let env = Env::bare();
        match PgTest::selected() {
            Some(pg) => {
                let url = pg.create_catalog(&env);
                env.ok(&["init", "--operator", "hebergeur.example", "--catalog", &url]);
            }
            None => {
                env.ok(&["init", "--operator", "hebergeur.example"]);
            }
        }
        env.ok(&["client", "add", "acme", "--name", "ACME Formation"]);
        if let Some(s3) = S3Test::selected() {
            s3.repoint_default_store(&env);
        }
        env
    }

    /// Registers (once) the technical operator `TECH`, to whom samples are addressed, and
    /// their local test machine, `laptop-qa-3`.
    pub fn with_tech(&self) {
        if self.sql(&format!("SELECT count(*) FROM persons WHERE handle = '{TECH}'")) == "0" {
            self.ok(&["person", "add", TECH, "--role", "technical-operator"]);
            self.ok(&["environment", "add", "laptop-qa-3", "--kind", "local-test", "--holder", TECH]);
        }
    }

    /// A fresh age identity at `path`, whose public key `admin` (a client admin of
    /// `client`) registers as the client's (OPS-2: exports go only there); the recipient.
    pub fn registered_key(&self, admin: &str, client: &str, path: &Path) -> String {
        let recipient = age_keygen(path);
        self.ok(&["--as", admin, "client", "key", "add", client, &recipient]);
        recipient
    }

    /// `registered_key` for acme, by its admin `admin-acme` (registered if need be).
    pub fn client_key(&self, path: &Path) -> String {
        if self.sql("SELECT count(*) FROM persons WHERE handle = 'admin-acme'") == "0" {
            self.ok(&["person", "add", "admin-acme", "--role", "client-admin", "--client", "acme"]);
        }
        self.registered_key("admin-acme", "acme", path)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.setup(Command::new(bin()), args)
    }

    /// `cmd`, run at another date under Debian's `faketime` (`2099-01-02`, `2099-01-02
    /// 12:00:00`): the binary has no clock override, so tests move the system's clock as
    /// its libc shows it to this one process.
    pub fn cmd_at(&self, when: &str, args: &[&str]) -> Command {
        let mut c = Command::new("faketime");
        c.arg(when).arg(bin());
        self.setup(c, args)
    }

    pub fn ok_at(&self, when: &str, args: &[&str]) -> String {
        let out = self.cmd_at(when, args).output().expect("run faketime gardien");
        assert!(
            out.status.success(),
            "gardien {args:?} at {when} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn fails_at(&self, when: &str, args: &[&str], code: i32) -> String {
        let out = self.cmd_at(when, args).output().expect("run faketime gardien");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "gardien {args:?} at {when}: stderr:\n{stderr}");
        stderr
    }

    fn setup(&self, mut c: Command, args: &[&str]) -> Command {
        c.args(args)
            .env("GARDIEN_DATA_DIR", &self.data)
            .env("TMPDIR", &self.tmp)
            .env_remove("GARDIEN_MASTER_KEY")
            .env_remove("GARDIEN_AS")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run gardien")
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gardien {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs, asserts the exit code, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "gardien {args:?}: stderr:\n{stderr}");
        stderr
    }

    /// Ingests `data` through stdin; returns the new id.
    pub fn ingest(&self, data: &[u8], extra: &[&str]) -> String {
        let mut args = vec!["dataset", "ingest", "-"];
        if !extra.contains(&"--client") {
            args.extend(["--client", "acme"]);
        }
        if !extra.contains(&"--class") {
            args.extend(["--class", "other"]);
        }
        if extra.contains(&"presales-sample") && !extra.contains(&"--to") {
            self.with_tech();
            args.extend(["--to", TECH]);
        }
        args.extend_from_slice(extra);
        let mut child =
            self.cmd(&args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&data));
        let out = child.wait_with_output().expect("wait");
        feeder.join().expect("feeder").expect("write stdin");
        assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
        assert!(id.starts_with("ds-") && !id.contains('\n'), "stdout is only the id: {id:?}");
        id
    }

    pub fn get(&self, id: &str) -> Vec<u8> {
        let out = self.run(&["dataset", "get", id]);
        assert!(out.status.success(), "get failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub fn show(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["dataset", "show", id, "--json"])).expect("json")
    }

    /// The blob of a dataset in the default store, as a file: the file itself for a local
    /// store; under the S3 pass, a copy fetched from the bucket (`write_blob` puts one back).
    pub fn blob(&self, id: &str) -> PathBuf {
        match S3Test::selected() {
            None => self.data.join("stores/local/datasets").join(format!("{id}.age")),
            Some(s3) => {
                let path = self.path(&format!("fetched-{id}.age"));
                let _ = std::fs::remove_file(&path);
                s3.fetch(self, id, &path);
                path
            }
        }
    }

    /// Whether the default store holds a dataset's blob.
    pub fn blob_exists(&self, id: &str) -> bool {
        match S3Test::selected() {
            None => self.blob(id).exists(),
            Some(s3) => s3.exists(self, id),
        }
    }

    /// Replaces a dataset's blob in the default store by the file at `from`, behind
    /// gardien's back.
    pub fn write_blob(&self, id: &str, from: &Path) {
        match S3Test::selected() {
            None => {
                let to = self.blob(id);
                if from != to {
                    std::fs::copy(from, to).expect("replace the blob");
                }
            }
            Some(s3) => s3.put(self, id, from),
        }
    }

    /// The catalog's content as SQL text (through the real sqlite3), plus every file's
    /// hash under the data dir but the catalog's own files: what "changes nothing" means.
    pub fn snapshot(&self) -> (String, BTreeMap<PathBuf, String>) {
        let dump = Command::new("sqlite3")
            .arg(self.data.join("catalog.db"))
            // Not the ledger (refusals are recorded there, on purpose), nor what a refusal counts
            // on purpose (sign-in failures, a drop's wrong passwords, queued alerts).
            .arg(concat!(
                ".dump meta stores clients datasets copies persons environments approvals approval_datasets ",
                "contracts holds client_keys certificates out_copies sites site_archives servers server_apps ",
                "server_ports server_checks server_fail2ban app_certificates acme_accounts maneuvers bastion ",
                "client_cas grants maneuver_runs webhooks"
            ))
            .output()
            .expect("sqlite3 (scripts/test installs it)");
        assert!(dump.status.success(), "sqlite3 .dump: {}", String::from_utf8_lossy(&dump.stderr));
        let mut files = BTreeMap::new();
        for f in walk(&self.data) {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("catalog.db") {
                continue;
            }
            files.insert(f.clone(), sha256_file(&f));
        }
        (String::from_utf8(dump.stdout).expect("utf-8"), files)
    }

    /// Everything the catalog holds, as bytes: the SQLite file, or a dump of the schema.
    pub fn catalog_bytes(&self) -> Vec<u8> {
        match PgTest::schema_of(self) {
            Some(schema) => {
                let out = Command::new("pg_dump")
                    .args(["-h", &PgTest::server().socket, "-U", "postgres", "-n", &schema, "postgres"])
                    .output()
                    .expect("pg_dump");
                assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
                out.stdout
            }
            None => std::fs::read(self.data.join("catalog.db")).expect("catalog.db"),
        }
    }

    /// `query`, which the catalog must refuse: the engine's error.
    pub fn sql_fails(&self, query: &str) -> String {
        let out = match PgTest::schema_of(self) {
            Some(schema) => Command::new("psql")
                .args(["-h", &PgTest::server().socket, "-U", "postgres", "-d", "postgres", "-tAq", "-c", query])
                .env("PGOPTIONS", format!("-csearch_path={schema}"))
                .output()
                .expect("psql"),
            None => Command::new("sqlite3").arg(self.data.join("catalog.db")).arg(query).output().expect("sqlite3"),
        };
        assert!(!out.status.success() || !out.stderr.is_empty(), "{query} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn sql(&self, query: &str) -> String {
        if let Some(schema) = PgTest::schema_of(self) {
            return PgTest::selected().expect("the PostgreSQL pass").sql(&schema, query);
        }
        let out = Command::new("sqlite3").arg(self.data.join("catalog.db")).arg(query).output().expect("sqlite3");
        assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
    }
}

/// An approval of `kind` requested by ops for `for_handle` (a person of acme) on acme's
/// `dataset`, with `scope`; its id (printed by `approval request`).
pub fn request_approval(env: &Env, kind: &str, for_handle: &str, dataset: &str, scope: &str) -> String {
    let args =
        ["approval", "request", kind, "--client", "acme", "--for", for_handle, "--dataset", dataset, "--scope", scope];
    env.ok(&args).trim().to_owned()
}

/// The ledger's last entry, as text.
pub fn last_event(env: &Env) -> String {
    env.sql("SELECT CAST(entry AS TEXT) FROM ledger_entries ORDER BY idx DESC LIMIT 1")
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn sha256_file(p: &Path) -> String {
    sha256_hex(&std::fs::read(p).expect("read"))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deterministic bytes that do not compress and have no long repeats.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs an external tool, asserting it exists (scripts/test installs them).
pub fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "`{name}` is not installed; run scripts/test, which installs what the tests need");
    Command::new(name)
}

/// `age-keygen -o path`; returns the secret key's text (`AGE-SECRET-KEY-1...`).
pub fn age_keygen_secret(path: &Path) -> String {
    age_keygen(path);
    std::fs::read_to_string(path).unwrap().lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_owned()
}

/// `age-keygen -o path`; returns the public key.
pub fn age_keygen(path: &Path) -> String {
    let out = tool("age-keygen").arg("-o").arg(path).output().expect("age-keygen");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("Public key: ").to_owned()
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The PostgreSQL pass of the tests (`GARDIEN_TEST_CATALOG=postgres`, set by scripts/test
/// with `GARDIEN_TEST_STORE=s3`: the conformance pass on PostgreSQL and S3): every
/// `Env::new`'s catalog is a schema of its own in the test PostgreSQL's `postgres`
/// database (`tests/moodle/services` starts it; `GARDIEN_TEST_PG` is its socket directory),
/// and `Env::sql` reads and writes it with `psql`.
pub struct PgTest {
    pub socket: String,
}

impl PgTest {
    /// The test PostgreSQL, whichever pass this is.
    pub fn server() -> PgTest {
        PgTest {
            socket: std::env::var("GARDIEN_TEST_PG")
                .expect("GARDIEN_TEST_PG: run scripts/test, or eval \"$(tests/moodle/services start DIR)\""),
        }
    }

    pub fn selected() -> Option<PgTest> {
        (std::env::var("GARDIEN_TEST_CATALOG").as_deref() == Ok("postgres")).then(|| PgTest {
            socket: std::env::var("GARDIEN_TEST_PG")
                .expect("GARDIEN_TEST_PG: run scripts/test, or eval \"$(tests/moodle/services start DIR)\""),
        })
    }

    /// A fresh schema for `env`'s catalog; the URL `init --catalog` takes.
    pub fn create_catalog(&self, env: &Env) -> String {
        let (schema, url) = self.new_schema();
        std::fs::write(env.path("pg-schema"), &schema).unwrap();
        url
    }

    /// A fresh, empty schema: (its name, its catalog URL).
    pub fn new_schema(&self) -> (String, String) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let schema = format!("t{nanos}_{}_{n}", std::process::id());
        // SQLite's group_concat, for the tests' own queries (gardien's connection does not
        // see `public`: its search path is its schema alone).
        static AGGREGATES: std::sync::Once = std::sync::Once::new();
        AGGREGATES.call_once(|| {
            self.psql(
                "public",
                "CREATE OR REPLACE FUNCTION public.gc_step(acc text, x text, sep text) RETURNS text LANGUAGE sql \
                 IMMUTABLE AS $$ SELECT CASE WHEN x IS NULL THEN acc WHEN acc IS NULL THEN x ELSE acc || sep || x END $$; \
                 CREATE OR REPLACE AGGREGATE public.group_concat(text, text) (SFUNC = public.gc_step, STYPE = text); \
                 CREATE OR REPLACE FUNCTION public.gc_step(acc text, x text) RETURNS text LANGUAGE sql \
                 IMMUTABLE AS $$ SELECT public.gc_step(acc, x, ',') $$; \
                 CREATE OR REPLACE AGGREGATE public.group_concat(text) (SFUNC = public.gc_step, STYPE = text);",
            );
        });
        self.psql("public", &format!("CREATE SCHEMA {schema}"));
        let url = self.url(&schema);
        (schema, url)
    }

    pub fn url(&self, schema: &str) -> String {
        format!("postgres://postgres@/postgres?host={}&options=-csearch_path%3D{schema}", self.socket)
    }

    fn schema_of(env: &Env) -> Option<String> {
        std::fs::read_to_string(env.path("pg-schema")).ok()
    }

    fn psql(&self, schema: &str, query: &str) -> Output {
        let out = Command::new("psql")
            .args([
                "-h",
                &self.socket,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                query,
            ])
            .env("PGOPTIONS", format!("-csearch_path={schema},public"))
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql {query}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// `query`, written for SQLite, on PostgreSQL: the few idioms the tests use that differ
    /// are rewritten (a blob read as text).
    pub fn sql(&self, schema: &str, query: &str) -> String {
        let mut query = query
            .replace("CAST(entry AS TEXT)", "convert_from(entry, 'UTF8')")
            .replace("char(", "chr(")
            .replace("hex(entry)", "upper(encode(entry, 'hex'))");
        if let Some(v) = query.strip_prefix("PRAGMA user_version = ") {
            query = format!("UPDATE gardien_schema SET version = {v}");
        }
        if let (Some(a), Some(b)) = (query.find("CAST("), query.rfind(" AS BLOB)")) {
            query = format!("{}convert_to({}, 'UTF8'){}", &query[..a], &query[a + 5..b], &query[b + 9..]);
        }
        if query.contains("FROM (SELECT") && query.ends_with(')') {
            query.push_str(" AS sub");
        }
        if let Some(rest) =
            query.strip_prefix("CREATE TRIGGER full BEFORE INSERT ON ledger_entries BEGIN SELECT RAISE(ABORT, '")
        {
            let message = rest.trim_end_matches("'); END");
            query = format!(
                "CREATE FUNCTION full_() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$; \
                 CREATE TRIGGER \"full\" BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION full_()"
            );
        }
        String::from_utf8(self.psql(schema, &query).stdout).expect("utf-8").trim().to_owned()
    }
}

/// The S3 pass of the tests (`GARDIEN_TEST_STORE=s3`, set by scripts/test for the modules
/// whose behaviour must not depend on the store): the default store of every `Env::new`
/// is a prefix of its own in the SeaweedFS bucket `tests/s3/seaweed` started. The harness
/// points the catalog's `local` row there (what `store add --s3` records), so the tests'
/// expectations, which name the store `local`, read the same on both passes.
pub struct S3Test {
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub secret: String,
}

impl S3Test {
    pub fn from_env() -> S3Test {
        let var = |k: &str| {
            std::env::var(k)
                .unwrap_or_else(|_| panic!("{k}: run scripts/test, or eval \"$(tests/s3/seaweed start DIR WEED)\""))
        };
        S3Test {
            endpoint: var("GARDIEN_TEST_S3"),
            bucket: var("GARDIEN_TEST_S3_BUCKET"),
            key: var("GARDIEN_TEST_S3_KEY"),
            secret: var("GARDIEN_TEST_S3_SECRET"),
        }
    }

    pub fn selected() -> Option<S3Test> {
        (std::env::var("GARDIEN_TEST_STORE").as_deref() == Ok("s3")).then(S3Test::from_env)
    }

    /// A prefix no other test (or run) uses.
    pub fn fresh_prefix(tag: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        format!("t{nanos}-{}/{tag}", std::process::id())
    }

    /// A credentials file for the test key in `env`'s temp dir, the owner's alone.
    pub fn credentials(&self, env: &Env) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = env.path("s3.toml");
        std::fs::write(&path, format!("access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n", self.key, self.secret))
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn repoint_default_store(&self, env: &Env) {
        let creds = self.credentials(env);
        let prefix = S3Test::fresh_prefix("default");
        std::fs::write(env.path("s3-prefix"), &prefix).unwrap();
        env.sql(&format!(
            "UPDATE stores SET kind = 's3', location = 's3://{}/{prefix}', endpoint = '{}', region = 'us-east-1', \
             credentials = '{}' WHERE name = 'local'",
            self.bucket,
            self.endpoint,
            creds.display()
        ));
    }

    fn object(&self, env: &Env, id: &str) -> String {
        let prefix = std::fs::read_to_string(env.path("s3-prefix")).expect("the S3 pass's prefix");
        format!("s3://{}/{prefix}/datasets/{id}.age", self.bucket)
    }

    /// The AWS CLI (PyPI awscli, in the tests' venv), to look at and tamper with the bucket
    /// from outside gardien.
    pub fn aws(&self, args: &[&str]) -> Output {
        let python = std::env::var("GARDIEN_TEST_PYTHON").expect("GARDIEN_TEST_PYTHON: run scripts/test");
        let aws = Path::new(&python).with_file_name("aws");
        Command::new(aws)
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", "us-east-1"])
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("aws (scripts/test installs awscli in its venv)")
    }

    fn fetch(&self, env: &Env, id: &str, to: &Path) {
        // A missing object leaves no file, as a local store's missing blob would.
        let _ = self.aws(&["s3", "cp", "--only-show-errors", &self.object(env, id), to.to_str().unwrap()]);
    }

    fn exists(&self, env: &Env, id: &str) -> bool {
        let object = self.object(env, id);
        let (bucket, key) = object.trim_start_matches("s3://").split_once('/').unwrap();
        self.aws(&["s3api", "head-object", "--bucket", bucket, "--key", key]).status.success()
    }

    fn put(&self, env: &Env, id: &str, from: &Path) {
        let out = self.aws(&["s3", "cp", "--only-show-errors", from.to_str().unwrap(), &self.object(env, id)]);
        assert!(out.status.success(), "aws s3 cp: {}", String::from_utf8_lossy(&out.stderr));
    }
}
