//! The catalog's two engines behind one small interface: SQLite (embedded, the default) and
//! PostgreSQL (one catalog for several nodes).
//!
//! Every statement is written once, in the SQL both engines accept (`ON CONFLICT DO
//! NOTHING`, `RETURNING`, `COALESCE`), with SQLite's `?N` placeholders; for PostgreSQL they
//! become `$N` (`to_pg`). Values travel as rusqlite's dynamic values both ways: a parameter
//! is written in the type PostgreSQL asks for (`Param`), a column is read back as the value
//! SQLite would have given (`pg_value`), so the row readers are the same for both engines.
//! The few things that differ (transactions, locks, migrations) are methods here, each with
//! its two arms side by side.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use rusqlite::types::{FromSql, FromSqlError, ToSql, ToSqlOutput, Type as LiteType, ValueRef};

pub use rusqlite::params;

/// How long a PostgreSQL statement waits for a lock (another node's write transaction,
/// an ingest's or the sweep's lock, a table locked by hand) before it fails with a message:
/// SQLite's busy timeout.
const LOCK_WAIT: &str = "30s";
/// How long connecting and signing in may take.
const CONNECT_SECS: u64 = 10;

/// An open connection to one engine.
pub enum Db {
    /// The embedded catalog.
    Lite(rusqlite::Connection),
    /// A PostgreSQL catalog.
    Pg(Pg),
}

/// A PostgreSQL connection with its prepared statements. Its connection task runs on the
/// process's network runtime; each call waits for its answer on the calling thread
/// (`wait`), which may be a server's async thread or a plain one alike.
pub struct Pg {
    client: tokio_postgres::Client,
    /// The catalog's schema (`current_schema()`), which names its locks.
    schema: String,
    statements: RefCell<HashMap<String, tokio_postgres::Statement>>,
    in_transaction: Cell<bool>,
}

/// The advisory lock key of a name in a catalog: the first 8 bytes of the SHA-256 of the
/// catalog's schema and the name, so that two data dirs in two schemas of one database do
/// not wait on each other, and names do not collide in practice. Every write transaction
/// takes `write`: writers queue on it as SQLite's writers queue on `BEGIN IMMEDIATE`,
/// whichever node they run on, so the ledger is appended by one writer at a time.
fn lock_key(schema: &str, name: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("gardien:{schema}:{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Waits for `f` without entering any Tokio runtime: the futures of a PostgreSQL client
/// only exchange messages with its connection task, which the network runtime drives.
fn wait<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A statement failed, in either engine.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite's error, or a value that did not convert.
    #[error(transparent)]
    Lite(#[from] rusqlite::Error),
    /// PostgreSQL's error (its text once: not chained again as a source).
    #[error("{}", pg_text(.0))]
    Pg(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> DbError {
        DbError::Pg(e)
    }
}

fn pg_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) if d.code().code() == "55P03" => format!(
            "PostgreSQL: the catalog stayed locked for {LOCK_WAIT} (another gardien writing, or a lock taken by hand): nothing was done; try again"
        ),
        Some(d) => format!("PostgreSQL: {} ({})", d.message(), d.code().code()),
        None => match std::error::Error::source(e) {
            Some(why) => format!("PostgreSQL: {e}: {why}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

impl DbError {
    /// Whether the statement broke a uniqueness or key constraint.
    pub fn is_constraint(&self) -> bool {
        match self {
            DbError::Lite(rusqlite::Error::SqliteFailure(e, _)) => e.code == rusqlite::ErrorCode::ConstraintViolation,
            DbError::Lite(_) => false,
            DbError::Pg(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
        }
    }
}

/// `.optional()` on a one-row query: no row is `None`, in either engine.
pub trait Optional<T> {
    /// The row, or `None` when there was none.
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> Optional<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::Lite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A statement's parameters: `params![...]`, an array of values, or `[]`.
pub trait Args {
    /// Calls `f` with the parameters as a slice.
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R;
}

impl Args for &[&dyn ToSql] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(self)
    }
}

impl Args for [&(dyn ToSql + Send + Sync); 0] {
    fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_args {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Args for [T; $n] {
            fn with<R>(&self, f: impl FnOnce(&[&dyn ToSql]) -> R) -> R {
                let refs: [&dyn ToSql; $n] = std::array::from_fn(|i| &self[i] as &dyn ToSql);
                f(&refs)
            }
        }
    )*};
}
array_args!(1 2 3 4 5 6 7 8);

/// A column's position (rusqlite's `RowIndex`, for positions only).
pub trait Column {
    /// The 0-based position.
    fn index(self) -> usize;
}

impl Column for usize {
    fn index(self) -> usize {
        self
    }
}

/// One result row, from either engine; read it as rusqlite's rows are read.
pub enum Row<'a> {
    /// A SQLite row.
    Lite(&'a rusqlite::Row<'a>),
    /// A PostgreSQL row.
    Pg(&'a tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i`, converted as SQLite's value would be (rusqlite's `get<I, T>` shape, so
    /// `r.get::<_, String>(0)` reads the same for both engines).
    pub fn get<I: Column, T: FromSql>(&self, i: I) -> rusqlite::Result<T> {
        let i = i.index();
        match self {
            Row::Lite(r) => r.get(i),
            Row::Pg(r) => {
                let v = pg_value(r, i)?;
                T::column_result(v).map_err(|e| match e {
                    FromSqlError::InvalidType => {
                        rusqlite::Error::InvalidColumnType(i, r.columns()[i].name().to_owned(), v.data_type())
                    }
                    FromSqlError::OutOfRange(n) => rusqlite::Error::IntegralValueOutOfRange(i, n),
                    other => rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), Box::new(other)),
                })
            }
        }
    }

    /// Column `i` as a borrowed value.
    pub fn get_ref(&self, i: usize) -> rusqlite::Result<ValueRef<'_>> {
        match self {
            Row::Lite(r) => r.get_ref(i),
            Row::Pg(r) => pg_value(r, i),
        }
    }
}

/// A PostgreSQL column as the value SQLite would hold: integers and booleans as integers,
/// text as text, bytea as blobs.
fn pg_value(r: &tokio_postgres::Row, i: usize) -> rusqlite::Result<ValueRef<'_>> {
    use tokio_postgres::types::Type;
    let column = r.columns().get(i).ok_or(rusqlite::Error::InvalidColumnIndex(i))?;
    let bad = |e: tokio_postgres::Error| rusqlite::Error::FromSqlConversionFailure(i, LiteType::Null, Box::new(e));
    let ty = column.type_();
    Ok(if *ty == Type::INT8 {
        r.try_get::<_, Option<i64>>(i).map_err(bad)?.map_or(ValueRef::Null, ValueRef::Integer)
    } else if *ty == Type::INT4 {
        r.try_get::<_, Option<i32>>(i).map_err(bad)?.map_or(ValueRef::Null, |v| ValueRef::Integer(v.into()))
    } else if *ty == Type::INT2 {
        r.try_get::<_, Option<i16>>(i).map_err(bad)?.map_or(ValueRef::Null, |v| ValueRef::Integer(v.into()))
    } else if *ty == Type::BOOL {
        r.try_get::<_, Option<bool>>(i).map_err(bad)?.map_or(ValueRef::Null, |v| ValueRef::Integer(v.into()))
    } else if *ty == Type::FLOAT8 {
        r.try_get::<_, Option<f64>>(i).map_err(bad)?.map_or(ValueRef::Null, ValueRef::Real)
    } else if *ty == Type::BYTEA {
        r.try_get::<_, Option<&[u8]>>(i).map_err(bad)?.map_or(ValueRef::Null, ValueRef::Blob)
    } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
        r.try_get::<_, Option<&str>>(i).map_err(bad)?.map_or(ValueRef::Null, |s| ValueRef::Text(s.as_bytes()))
    } else {
        return Err(rusqlite::Error::FromSqlConversionFailure(
            i,
            LiteType::Null,
            format!("column {} has PostgreSQL type {ty}, which the catalog does not use", column.name()).into(),
        ));
    })
}

/// A parameter written in whatever type PostgreSQL inferred for its place, as SQLite
/// would have compared it: an integer where an integer goes, text where text goes.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

impl tokio_postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use tokio_postgres::types::{IsNull, Type};
        let texty = [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN].contains(ty);
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(v) if *ty == Type::INT8 => put(&v, ty, out),
            ValueRef::Integer(v) if *ty == Type::INT4 => put(&i32::try_from(v)?, ty, out),
            ValueRef::Integer(v) if *ty == Type::INT2 => put(&i16::try_from(v)?, ty, out),
            ValueRef::Integer(v) if *ty == Type::BOOL => put(&(v != 0), ty, out),
            ValueRef::Integer(v) if *ty == Type::FLOAT8 => put(&(v as f64), ty, out),
            ValueRef::Integer(v) if texty => put(&v.to_string(), ty, out),
            ValueRef::Real(v) if *ty == Type::FLOAT8 => put(&v, ty, out),
            ValueRef::Text(v) if texty => put(&std::str::from_utf8(v)?, ty, out),
            ValueRef::Text(v) | ValueRef::Blob(v) if *ty == Type::BYTEA => put(&v, ty, out),
            v => Err(format!("a {} value cannot go where PostgreSQL expects {ty}", v.data_type()).into()),
        }
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Parameters as PostgreSQL takes them.
fn params_of<'a>(outputs: &'a [ToSqlOutput<'a>]) -> rusqlite::Result<Vec<Param<'a>>> {
    outputs
        .iter()
        .map(|o| match o {
            ToSqlOutput::Borrowed(v) => Ok(Param(*v)),
            ToSqlOutput::Owned(v) => Ok(Param(ValueRef::from(v))),
            _ => Err(rusqlite::Error::ToSqlConversionFailure("a value the catalog does not use".into())),
        })
        .collect()
}

fn put<T: tokio_postgres::types::ToSql>(
    v: &T,
    ty: &tokio_postgres::types::Type,
    out: &mut bytes::BytesMut,
) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
    v.to_sql(ty, out)
}

/// SQLite's `?N` (and bare `?`) placeholders as PostgreSQL's `$N`, outside string literals.
pub fn to_pg(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut next = 0;
    while let Some(c) = chars.next() {
        if quoted {
            quoted = c != '\'';
            out.push(c);
            continue;
        }
        match c {
            '\'' => {
                quoted = true;
                out.push(c);
            }
            '?' => {
                let mut n = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    n.push(d);
                }
                if n.is_empty() {
                    next += 1;
                    n = next.to_string();
                }
                out.push('$');
                out.push_str(&n);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A statement to run, possibly many times; prepared once per connection by each engine.
pub struct Stmt<'c> {
    db: &'c Db,
    sql: String,
}

impl Stmt<'_> {
    /// Runs it; the number of rows changed.
    pub fn execute(&mut self, args: impl Args) -> Result<usize, DbError> {
        self.db.execute(&self.sql, args)
    }

    /// Its one row, read by `f`; no row is `QueryReturnedNoRows` (see `Optional`).
    pub fn query_row<T>(
        &mut self,
        args: impl Args,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        self.db.query_row(&self.sql, args, f)
    }

    /// Its rows, each read by `f`.
    pub fn query_map<T>(
        &mut self,
        args: impl Args,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<std::vec::IntoIter<rusqlite::Result<T>>, DbError> {
        self.db.query_map(&self.sql, args, f)
    }

    /// Whether it returns a row.
    pub fn exists(&mut self, args: impl Args) -> Result<bool, DbError> {
        self.db.query_row(&self.sql, args, |_| Ok(())).optional().map(|r| r.is_some())
    }
}

impl Db {
    /// Opens a PostgreSQL connection.
    pub fn connect_pg(config: &tokio_postgres::Config) -> Result<Db, DbError> {
        let config = config.clone();
        let rt = crate::io_runtime();
        // The connect timeout covers the TCP connection only: a server that accepts and then
        // says nothing is bounded here, sign-in included.
        let connected = wait(rt.spawn(async move {
            tokio::time::timeout(std::time::Duration::from_secs(CONNECT_SECS), config.connect(tokio_postgres::NoTls))
                .await
        }));
        let (client, connection) = match connected {
            Ok(Ok(c)) => c?,
            Ok(Err(_)) => {
                return Err(DbError::Lite(rusqlite::Error::ToSqlConversionFailure(
                    format!("no answer within {CONNECT_SECS} s").into(),
                )));
            }
            Err(e) => return Err(DbError::Lite(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))),
        };
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("the PostgreSQL catalog's connection ended: {e}");
            }
        });
        wait(client.batch_execute(&format!("SET lock_timeout = '{LOCK_WAIT}'")))?;
        let schema: String = wait(client.query_one("SELECT current_schema()", &[]))?.try_get(0).unwrap_or_default();
        Ok(Db::Pg(Pg { client, schema, statements: RefCell::new(HashMap::new()), in_transaction: Cell::new(false) }))
    }

    /// The SQLite connection, for what only SQLite has (pragmas, WAL checkpoints).
    pub fn lite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Lite(c) => Some(c),
            Db::Pg(_) => None,
        }
    }

    /// A statement, prepared on first use.
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>, DbError> {
        Ok(Stmt { db: self, sql: sql.to_owned() })
    }

    /// The same as `prepare`: both engines keep what they prepared.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>, DbError> {
        self.prepare(sql)
    }

    /// The prepared statement for `sql`. A parameter whose type PostgreSQL cannot infer
    /// from its place (`?1 IS NULL` alone) takes the type of the value given: text for a
    /// NULL, as SQLite would not care.
    fn pg_statement(pg: &Pg, sql: &str, values: &[Param<'_>]) -> Result<tokio_postgres::Statement, DbError> {
        use tokio_postgres::types::Type;
        if let Some(s) = pg.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let text = to_pg(sql);
        // A statement that fails inside a transaction aborts it on PostgreSQL (not on
        // SQLite): a first prepare inside one is fenced by a savepoint.
        let fenced = pg.in_transaction.get();
        if fenced {
            wait(pg.client.batch_execute("SAVEPOINT gardien_prepare"))?;
        }
        let prepared = wait(pg.client.prepare(&text));
        if fenced {
            let undo = if prepared.is_ok() {
                "RELEASE SAVEPOINT gardien_prepare"
            } else {
                "ROLLBACK TO SAVEPOINT gardien_prepare; RELEASE SAVEPOINT gardien_prepare"
            };
            wait(pg.client.batch_execute(undo))?;
        }
        let s = match prepared {
            Err(e) if e.code().is_some_and(|c| ["42P08", "42P18"].contains(&c.code())) => {
                let types: Vec<Type> = values
                    .iter()
                    .map(|v| match v.0 {
                        ValueRef::Integer(_) => Type::INT8,
                        ValueRef::Real(_) => Type::FLOAT8,
                        ValueRef::Blob(_) => Type::BYTEA,
                        ValueRef::Text(_) | ValueRef::Null => Type::TEXT,
                    })
                    .collect();
                wait(pg.client.prepare_typed(&text, &types))?
            }
            other => other?,
        };
        pg.statements.borrow_mut().insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn pg_run<R>(
        pg: &Pg,
        sql: &str,
        args: &[&dyn ToSql],
        run: impl FnOnce(
            &tokio_postgres::Client,
            &tokio_postgres::Statement,
            &[&(dyn tokio_postgres::types::ToSql + Sync)],
        ) -> Result<R, tokio_postgres::Error>,
    ) -> Result<R, DbError> {
        let outputs = args.iter().map(|a| a.to_sql()).collect::<rusqlite::Result<Vec<ToSqlOutput<'_>>>>()?;
        let values = params_of(&outputs)?;
        let statement = Self::pg_statement(pg, sql, &values)?;
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        Ok(run(&pg.client, &statement, &refs)?)
    }

    /// Runs one statement; the number of rows changed.
    pub fn execute(&self, sql: &str, args: impl Args) -> Result<usize, DbError> {
        args.with(|a| match self {
            Db::Lite(c) => Ok(c.prepare_cached(sql)?.execute(a)?),
            Db::Pg(pg) => Self::pg_run(pg, sql, a, |c, s, p| wait(c.execute(s, p))).map(|n| n as usize),
        })
    }

    /// Runs one statement once per row of parameters. On PostgreSQL the executions are
    /// pipelined: sent together, answered together, one round trip for all of them (a
    /// group of ledger appends); in the order given, inside the caller's transaction.
    pub fn execute_rows(&self, sql: &str, rows: &[Vec<rusqlite::types::Value>]) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self {
            Db::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                for row in rows {
                    st.execute(rusqlite::params_from_iter(row.iter()))?;
                }
                Ok(())
            }
            Db::Pg(pg) => {
                let params: Vec<Vec<Param<'_>>> =
                    rows.iter().map(|row| row.iter().map(|v| Param(ValueRef::from(v))).collect()).collect();
                let statement = Self::pg_statement(pg, sql, &params[0])?;
                let refs: Vec<Vec<&(dyn tokio_postgres::types::ToSql + Sync)>> = params
                    .iter()
                    .map(|row| row.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)).collect())
                    .collect();
                let runs = refs.iter().map(|r| pg.client.execute(&statement, r));
                wait(futures::future::try_join_all(runs))?;
                Ok(())
            }
        }
    }

    /// Runs statements without parameters (a migration, a transaction's bounds).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(pg) => Ok(wait(pg.client.batch_execute(sql))?),
        }
    }

    /// The one row of a query, read by `f`.
    pub fn query_row<T>(
        &self,
        sql: &str,
        args: impl Args,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        args.with(|a| match self {
            Db::Lite(c) => Ok(c.prepare_cached(sql)?.query_row(a, |r| f(&Row::Lite(r)))?),
            Db::Pg(pg) => {
                let rows = Self::pg_run(pg, sql, a, |c, s, p| wait(c.query(s, p)))?;
                match rows.first() {
                    Some(r) => Ok(f(&Row::Pg(r))?),
                    None => Err(DbError::Lite(rusqlite::Error::QueryReturnedNoRows)),
                }
            }
        })
    }

    /// Every row of a query, each read by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: impl Args,
        mut f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<std::vec::IntoIter<rusqlite::Result<T>>, DbError> {
        args.with(|a| match self {
            Db::Lite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map(a, |r| f(&Row::Lite(r)))?.collect::<Vec<_>>();
                Ok(rows.into_iter())
            }
            Db::Pg(pg) => {
                let rows = Self::pg_run(pg, sql, a, |c, s, p| wait(c.query(s, p)))?;
                Ok(rows.iter().map(|r| f(&Row::Pg(r))).collect::<Vec<_>>().into_iter())
            }
        })
    }

    /// Every row of a query, streamed to `each` (a scan of the whole ledger).
    pub fn each<E: From<DbError>>(
        &self,
        sql: &str,
        args: impl Args,
        mut each: impl FnMut(&Row<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        args.with(|a| match self {
            Db::Lite(c) => {
                let mut st = c.prepare_cached(sql).map_err(DbError::from)?;
                let mut rows = st.query(a).map_err(DbError::from)?;
                while let Some(r) = rows.next().map_err(DbError::from)? {
                    each(&Row::Lite(r))?;
                }
                Ok(())
            }
            Db::Pg(pg) => {
                let outputs =
                    a.iter().map(|v| v.to_sql()).collect::<rusqlite::Result<Vec<_>>>().map_err(DbError::from)?;
                let values = params_of(&outputs).map_err(DbError::from)?;
                let statement = Self::pg_statement(pg, sql, &values)?;
                use futures::StreamExt as _;
                let rows = wait(pg.client.query_raw(&statement, values.iter())).map_err(DbError::from)?;
                let mut rows = std::pin::pin!(rows);
                while let Some(r) = wait(rows.next()) {
                    each(&Row::Pg(&r.map_err(DbError::from)?))?;
                }
                Ok(())
            }
        })
    }

    /// A lock named `name` across every node of a PostgreSQL catalog, held by this
    /// connection until `let_go` or until the connection ends (the process died): an
    /// ingest under way, the one sweep. Waits for another holder. Nothing on SQLite, whose
    /// processes all share one machine and use lock files.
    pub fn hold(&self, name: &str) -> Result<(), DbError> {
        match self {
            Db::Lite(_) => Ok(()),
            Db::Pg(pg) => {
                wait(pg.client.execute("SELECT pg_advisory_lock($1)", &[&lock_key(&pg.schema, name)]))?;
                Ok(())
            }
        }
    }

    /// Lets go of `hold(name)`.
    pub fn let_go(&self, name: &str) -> Result<(), DbError> {
        match self {
            Db::Lite(_) => Ok(()),
            Db::Pg(pg) => {
                wait(pg.client.execute("SELECT pg_advisory_unlock($1)", &[&lock_key(&pg.schema, name)]))?;
                Ok(())
            }
        }
    }

    /// Whether another connection, on any node, holds `name` (`None` on SQLite: ask the
    /// lock file).
    pub fn held_elsewhere(&self, name: &str) -> Result<Option<bool>, DbError> {
        match self {
            Db::Lite(_) => Ok(None),
            Db::Pg(pg) => {
                let key = lock_key(&pg.schema, name);
                let row = wait(pg.client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]))?;
                let got: bool = row.get(0);
                if got {
                    wait(pg.client.execute("SELECT pg_advisory_unlock($1)", &[&key]))?;
                }
                Ok(Some(!got))
            }
        }
    }

    /// Whether a transaction is open on this connection.
    pub fn in_transaction(&self) -> bool {
        match self {
            Db::Lite(c) => !c.is_autocommit(),
            Db::Pg(pg) => pg.in_transaction.get(),
        }
    }

    /// Opens a write transaction. Writers queue here, across processes and nodes: SQLite's
    /// `BEGIN IMMEDIATE` takes its one write lock; on PostgreSQL every writer takes the
    /// same advisory lock (`lock_key(schema, "write")`) until it commits or rolls back.
    pub fn begin_write(&self) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.prepare_cached("BEGIN IMMEDIATE")?.execute([]).map(drop)?),
            Db::Pg(pg) => {
                wait(pg.client.batch_execute("BEGIN"))?;
                pg.in_transaction.set(true);
                wait(pg.client.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(&pg.schema, "write")]))?;
                Ok(())
            }
        }
    }

    /// Opens a read transaction: one consistent snapshot.
    pub fn begin_read(&self) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.prepare_cached("BEGIN")?.execute([]).map(drop)?),
            Db::Pg(pg) => {
                wait(pg.client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ"))?;
                pg.in_transaction.set(true);
                Ok(())
            }
        }
    }

    /// Commits the open transaction.
    pub fn commit(&self) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.prepare_cached("COMMIT")?.execute([]).map(drop)?),
            Db::Pg(pg) => {
                let r = wait(pg.client.batch_execute("COMMIT"));
                pg.in_transaction.set(false);
                Ok(r?)
            }
        }
    }

    /// Rolls the open transaction back.
    pub fn rollback(&self) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch("ROLLBACK")?),
            Db::Pg(pg) => {
                let r = wait(pg.client.batch_execute("ROLLBACK"));
                pg.in_transaction.set(false);
                Ok(r?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_pg;

    #[test]
    fn placeholders_become_dollars_outside_literals() {
        assert_eq!(to_pg("SELECT a FROM t WHERE b = ?1 AND c = ?12"), "SELECT a FROM t WHERE b = $1 AND c = $12");
        assert_eq!(to_pg("VALUES (?, ?, '?1', 'it''s ?')"), "VALUES ($1, $2, '?1', 'it''s ?')");
        assert_eq!(to_pg("instr(',' || e || ',', ',' || ?1 || ',')"), "instr(',' || e || ',', ',' || $1 || ',')");
    }
}
