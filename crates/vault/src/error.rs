//! The vault's errors. Each names what it happened to (a path, a store, a dataset) and,
//! where the user can act, what to do next. None carries key material or client data.

use std::path::PathBuf;

use crate::auth::{LOCK_MINUTES, SignInFailure};

/// A text given by a person, as an error may quote it: a secret is never quoted (an age
/// secret key passed where a recipient or a path was expected), control characters are
/// escaped, and a long text is cut.
pub fn quote_input(value: &str) -> String {
    let v = value.trim();
    if v.to_ascii_uppercase().contains("AGE-SECRET-KEY-") || v.contains("PRIVATE KEY") || v.starts_with("PRIVATE+KEY+")
    {
        return "the text given (a secret key: it is not repeated here; give the public key, `age-keygen -y`)".into();
    }
    let mut short: String = v.chars().take(80).collect();
    if v.chars().count() > 80 {
        short.push('…');
    }
    format!("'{}'", crate::text::escape(&short))
}

/// Everything the vault can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No gardien data dir at that path.
    #[error("{} is not a gardien data dir (no gardien.toml); create one with `gardien init`", dir.display())]
    NotInitialized {
        /// The directory looked at.
        dir: PathBuf,
    },
    /// `init` on a directory holding other things.
    #[error("{} is not empty and is not a gardien data dir (it holds '{example}'); choose an empty or new directory", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
        /// One of the entries found.
        example: String,
    },
    /// Another store already uses that directory.
    #[error("{} is already the directory of store '{store}'; a second copy must be on another disk or site", path.display())]
    StorePathTaken {
        /// The directory.
        path: PathBuf,
        /// The store using it.
        store: String,
    },
    /// The data dir was written by a newer gardien.
    #[error("{} has format {found}, newer than this gardien understands ({supported}); upgrade gardien before using it", dir.display())]
    TooNew {
        /// The data dir.
        dir: PathBuf,
        /// Its format version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// gardien.toml could not be read.
    #[error("config {}: {reason}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// LOC-1: a store on a site outside the allowed list.
    #[error("refused (LOC-1): site '{site}' is not an allowed site; data may only be placed on {}", allowed.join(", "))]
    SiteNotAllowed {
        /// The site asked for.
        site: String,
        /// The sites allowed by the config.
        allowed: Vec<String>,
    },
    /// A name that does not fit the rules for its kind.
    #[error("invalid {what} {value}: {rule}")]
    InvalidName {
        /// What kind of name (store, client, site...).
        what: &'static str,
        /// The name given, quoted (`quote_input`).
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// No store of that name.
    #[error("unknown store '{0}'; `gardien store list` shows the stores")]
    UnknownStore(String),
    /// A store of that name exists already.
    #[error("store '{0}' already exists")]
    StoreExists(String),
    /// No client of that slug.
    #[error("unknown client '{0}'; `gardien client list` shows the clients, `gardien client add` registers one")]
    UnknownClient(String),
    /// A client of that slug exists already.
    #[error("client '{0}' already exists")]
    ClientExists(String),
    /// No contract of that name.
    #[error("unknown contract '{0}'; `gardien contract list` shows the contracts, `gardien contract add` opens one")]
    UnknownContract(String),
    /// A contract of that name exists already.
    #[error("contract '{0}' already exists")]
    ContractExists(String),
    /// A rule of the lifecycle refused the input (a date, a custody, a deal).
    #[error("{0}")]
    Lifecycle(#[from] lifecycle::Error),
    /// A dataset class that must belong to a contract was given none, or one of another client.
    #[error("{0}")]
    ContractNeeded(String),
    /// The dataset was destroyed.
    #[error("dataset {id} was destroyed on {at}; nothing of it can be read ({})", destroyed_hint(id, certificate.as_deref()))]
    Destroyed {
        /// The dataset.
        id: String,
        /// When its key was shredded.
        at: String,
        /// Its certificate, once issued.
        certificate: Option<String>,
    },
    /// The dataset is under a legal hold.
    #[error("dataset {0} is under a legal hold; release it first (`gardien dataset release {0}`)")]
    Held(String),
    /// Release of a dataset that is not held.
    #[error("dataset {0} is not held")]
    NotHeld(String),
    /// No such copy of that dataset.
    #[error("dataset {dataset} has no copy {copy}; `gardien copy list {dataset}` shows its copies")]
    UnknownCopy {
        /// The dataset.
        dataset: String,
        /// The copy asked for.
        copy: String,
    },
    /// The copy's destruction was attested already.
    #[error("copy {copy} was already attested destroyed on {at} by {by}")]
    AlreadyAttested {
        /// The copy.
        copy: String,
        /// When.
        at: String,
        /// By whom.
        by: String,
    },
    /// A destruction waits for copies outside the vault to be attested destroyed.
    #[error("waiting for copies outside the vault to be attested destroyed: {0}")]
    Unattested(String),
    /// No such certificate.
    #[error("unknown certificate '{0}'; `gardien certificate list` shows them")]
    UnknownCertificate(String),
    /// A certificate does not verify.
    #[error("the certificate does not verify: {0}")]
    BadCertificate(String),
    /// The acting person is not registered.
    #[error("refused (OPS-1): '{0}' is not a registered person; `gardien person list` shows them")]
    UnknownPerson(String),
    /// The acting person was disabled.
    #[error("refused (OPS-1): person '{handle}' was disabled on {at}")]
    DisabledPerson {
        /// The handle.
        handle: String,
        /// When.
        at: String,
    },
    /// The policy refused the request; the clauses are those of the deciding policies.
    #[error("refused ({}): {reason}", clauses.join(", "))]
    Refused {
        /// The clause ids.
        clauses: Vec<String>,
        /// The deciding policies' reasons.
        reason: String,
    },
    /// The policy files do not load (the shipped set with the operator's additions).
    #[error("{0}; fix or remove the file (`gardien policy validate` checks candidates)")]
    Policy(#[from] policy::Error),
    /// A text holding a control character.
    #[error("invalid {what}: it holds the control character {char}; {rule}")]
    InvalidText {
        /// What the text is (label, scope, comment...).
        what: &'static str,
        /// The first offending character, as U+XXXX.
        char: String,
        /// Why it is refused.
        rule: &'static str,
    },
    /// Something of that name exists already.
    #[error("{what} '{name}' already exists")]
    Exists {
        /// What kind of thing.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A password too weak to be set.
    #[error("this password is too weak: {0}")]
    WeakPassword(&'static str),
    /// A sign-in refused. One answer whatever the cause (an unknown handle, a wrong
    /// password or code, a locked account), so that it reveals nothing; the cause is in
    /// the ledger's event and the server's log.
    #[error(
        "sign-in refused: unknown handle, wrong password or code, or sign-in paused after repeated failures (try again in {LOCK_MINUTES} minutes)"
    )]
    SignIn(SignInFailure),
    /// A token or session that is unknown, expired, revoked or ended.
    #[error("not signed in: the token or session is unknown, expired or revoked")]
    NotSignedIn,
    /// Nothing of that name.
    #[error("unknown {what} '{name}'; `gardien {}` shows them", lister(.what))]
    Unknown {
        /// What kind of thing.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// Input that does not make sense, with what to give instead.
    #[error("{0}")]
    BadInput(String),
    /// A download's `Range` lies outside the file.
    #[error("the range asked for is outside the file ({total} bytes)")]
    RangeNotSatisfiable {
        /// The file's length.
        total: u64,
    },
    /// A Moodle site: its database, its files, its archive.
    #[error("site {site}: {source}")]
    Site {
        /// The site's slug.
        site: String,
        /// What went wrong.
        source: moodle::Error,
    },
    /// An approval request or decision that cannot be made as asked.
    #[error("{0}")]
    BadApproval(String),
    /// A person of that handle exists already.
    #[error("person '{0}' already exists")]
    PersonExists(String),
    /// A role and a client that do not go together.
    #[error("{0}")]
    BadRole(String),
    /// A resource of another client, refused to a client's person (OPS-1): it answers
    /// exactly as an unknown one would (the error inside), so that "unknown" and "not
    /// yours" cannot be told apart. The refusal is recorded in the owner's log.
    #[error("{0}")]
    Hidden(Box<Error>),
    /// No dataset of that id.
    #[error("unknown dataset '{0}'; `gardien dataset list` shows the datasets")]
    UnknownDataset(String),
    /// The dataset is still being written.
    #[error("dataset {0} is still being ingested")]
    Pending(String),
    /// The master key file is missing or is not an age identity.
    #[error("cannot read the master key {}: {reason}", path.display())]
    MasterKeyUnreadable {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The master key is not the one this data dir's keys are wrapped to.
    #[error("wrong master key {}: {detail}; nothing can be decrypted with it (give the right one with --master-key or GARDIEN_MASTER_KEY)", path.display())]
    WrongMasterKey {
        /// The key file used.
        path: PathBuf,
        /// What showed it to be wrong.
        detail: String,
    },
    /// A copy failed to open or to authenticate.
    #[error("dataset {dataset}, copy on store '{store}': {reason}")]
    CopyCorrupt {
        /// The dataset.
        dataset: String,
        /// The store holding the bad copy.
        store: String,
        /// What failed.
        reason: String,
    },
    /// No copy of the dataset could be read.
    #[error("dataset {dataset}: no copy could be read ({})", failures.join("; "))]
    NoReadableCopy {
        /// The dataset.
        dataset: String,
        /// One line per copy tried.
        failures: Vec<String>,
        /// Every copy's store was out of reach: nothing is known of the copies (not an
        /// integrity failure).
        unreachable: bool,
    },
    /// Not an age X25519 recipient. `value` is what was given, redacted if it looked
    /// like a secret (`Error::bad_recipient`).
    #[error("{value} is not an age recipient (age1...): {reason}")]
    BadRecipient {
        /// What was given, quoted, or a description of it when it is a secret.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The output path exists and would be overwritten.
    #[error("{} exists; remove it or choose another path (or pass --force)", .0.display())]
    OutputExists(PathBuf),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the input of an ingest failed.
    #[error("reading the input: {0}")]
    Input(#[source] std::io::Error),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
    /// A store refused an operation. A remote store's answer is the server's text: shown
    /// on one line and cut short (it could forge lines, or fill a terminal), and not
    /// chained as a source (which would print it again as it came).
    #[error("store '{store}': {}", one_line(&error.to_string()))]
    Store {
        /// The store.
        store: String,
        /// The object store's error.
        error: object_store::Error,
    },
    /// A store cannot be set up or reached as described (an S3 address, its credentials).
    #[error("store '{store}': {reason}")]
    StoreSetup {
        /// The store.
        store: String,
        /// What is wrong, never a secret.
        reason: String,
    },
    /// The catalog database failed.
    #[error("catalog: {0}")]
    Catalog(#[from] crate::catalog::db::DbError),
    /// The PostgreSQL catalog could not be reached (the URL is shown without its secrets).
    #[error("cannot reach the catalog at {url}: {reason}")]
    CatalogUnreachable {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// A catalog URL that cannot be used.
    #[error("catalog URL refused: {reason}")]
    CatalogUrl {
        /// Why.
        reason: String,
    },
    /// The ledger could not record an operation, which therefore did not happen.
    #[error("the ledger could not record this operation, so it was not performed (fail closed): {0}")]
    LedgerWrite(String),
    /// A checkpoint or proof given as input is malformed or not this log's.
    #[error("{0}")]
    LedgerInput(String),
    /// The stored log contradicts what was signed.
    #[error("ledger inconsistency: {0}")]
    LedgerInconsistent(String),
    /// No entry at that index.
    #[error("no ledger entry {index}: the log holds entries 0 to {} ({size} in all)", size.saturating_sub(1))]
    NoSuchEntry {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A drop's link and password that open nothing: an unknown link, a wrong password, a
    /// drop revoked, expired or already used all answer this, alike (PRE-1).
    #[error(
        "this link and password do not open a drop: the password is wrong, or the drop is unknown, revoked, expired or has received its file; ask the person who sent you the link"
    )]
    DropClosed,
    /// An upload token that is not in force, or an upload of another drop (alike).
    #[error("no such upload: create one with POST /tus/ after opening the drop with its password")]
    UnknownUpload,
    /// Another request is writing this upload (tus: 423).
    #[error(
        "another request is sending this upload; wait for it to end (or 30 s after its connection died), then ask HEAD for the offset"
    )]
    UploadBusy,
    /// More than a drop or the disk takes (tus: 413).
    #[error("{0}")]
    TooLarge(String),
    /// The uploaded file is not an age file for the drop's key, or failed authentication:
    /// the upload was refused and nothing of it was kept.
    #[error("the file was refused and nothing was kept: {0}")]
    DropFile(String),
    /// An ACME order that did not give a certificate (WEB-1).
    #[error("no certificate: {0}")]
    Acme(String),
    /// The data dir holds something that cannot be right.
    #[error("data dir inconsistency: {0}")]
    Corrupt(String),
}

fn destroyed_hint(id: &str, certificate: Option<&str>) -> String {
    match certificate {
        Some(c) => format!("its destruction certificate: `gardien certificate show {c}`"),
        None => format!("its certificate is not issued yet; `gardien dataset show {id}` says under which rule"),
    }
}

/// The command that lists things of a kind.
fn lister(what: &str) -> String {
    match what {
        "grant" => "access list".into(),
        "application" => "server show SERVER".into(),
        other => format!("{other} list"),
    }
}

/// A text on one line, at most 600 characters (what a store's server said).
pub(crate) fn one_line(text: &str) -> String {
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 600 { format!("{}...", text.chars().take(600).collect::<String>()) } else { text }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Catalog(e.into())
    }
}
