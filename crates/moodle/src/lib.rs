//! A Moodle site as gardien hands it back (OPS-2): its database through the engine's own
//! tools, its `moodledata` without what Moodle regenerates, its `config.php` without the
//! database password, checked against each other (every content the database references
//! is in `filedir`, named by its SHA-1) and packed into one archive a client opens with
//! standard tools (`tar`, `zstd`, `sha256sum`, `ssh-keygen`).
//!
//! This crate knows nothing of the vault: it writes the archive to a `Write`, and asks a
//! [`pack::Sign`] for the signatures.

pub mod config;
pub mod db;
mod frames;
mod guide;
pub mod pack;
pub mod unpack;

use std::fmt;
use std::path::PathBuf;

pub use db::{DbUrl, Engine};
pub use pack::{CheckReport, Options, Progress, Report, Sign, Site, check, pack};
pub use unpack::{Restored, unpack};

/// What went wrong, naming what it happened to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database URL that cannot be used.
    #[error("{0}")]
    BadUrl(String),
    /// A program could not be started.
    #[error(
        "could not run {program}: {source} (is it installed? PostgreSQL sites need postgresql-client, MariaDB sites mariadb-client)"
    )]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A program failed.
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The end of what it printed.
        stderr: String,
    },
    /// A file or directory of the site.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Output(std::io::Error),
    /// Not a Moodle site, or not one this can hand back whole.
    #[error("{0}")]
    NotMoodle(String),
    /// `config.php` says something that stops the restitution.
    #[error("config.php: {0}")]
    Config(String),
    /// Files the database references are missing or corrupt.
    #[error("{} inconsistencies between the database and moodledata: {}{}", .0.len(), .0.iter().take(5).map(ToString::to_string).collect::<Vec<_>>().join("; "), if .0.len() > 5 { "; ..." } else { "" })]
    Inconsistent(Vec<Inconsistency>),
    /// The signer failed.
    #[error("signing SHA256SUMS: {0}")]
    Sign(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Something the checks found between the database and the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconsistency {
    /// A content the database references is in neither filedir nor the trash.
    Missing {
        /// Its SHA-1.
        hash: String,
    },
    /// A file under filedir whose SHA-1 is not its name.
    Corrupt {
        /// Under moodledata.
        path: String,
        /// Its content's SHA-1.
        actual: String,
    },
    /// A content the database references whose place holds a symbolic link or something
    /// else than a regular file: never read (a link could point anywhere).
    NotPlain {
        /// Under moodledata.
        path: String,
    },
    /// A content deleted after the database's snapshot, taken from the trash.
    FromTrash {
        /// Its SHA-1.
        hash: String,
    },
    /// A file that changed size while it was read.
    Changed {
        /// In the archive.
        path: String,
    },
    /// A file left out.
    Skipped {
        /// Under moodledata (escaped).
        path: String,
        /// Why.
        why: &'static str,
    },
}

impl Inconsistency {
    /// Whether it stops a restitution without `--allow-missing`.
    pub fn refuses(&self) -> bool {
        matches!(self, Inconsistency::Missing { .. } | Inconsistency::Corrupt { .. } | Inconsistency::NotPlain { .. })
    }
}

impl fmt::Display for Inconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inconsistency::Missing { hash } => {
                write!(f, "missing filedir/{}/{}/{hash}", &hash[0..2], &hash[2..4])
            }
            Inconsistency::Corrupt { path, actual } => write!(f, "corrupt {path} (its SHA-1 is {actual})"),
            Inconsistency::FromTrash { hash } => {
                write!(f, "from-trash filedir/{}/{}/{hash}", &hash[0..2], &hash[2..4])
            }
            Inconsistency::Changed { path } => write!(f, "changed {path}"),
            Inconsistency::NotPlain { path } => {
                write!(f, "link {path} (a symbolic link or not a regular file: not read)")
            }
            Inconsistency::Skipped { path, why } => write!(f, "skipped {path}: {why}"),
        }
    }
}

/// A database URL as it may be shown: a password in it replaced (it is refused anyway).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.escape_debug().to_string() };
    let mut shown = match rest.split_once('@') {
        Some((auth, tail)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{tail}")
        }
        _ => url.to_owned(),
    };
    // Parameters other than the socket's may carry a password (`?password=`): not shown.
    if let Some(q) = shown.find('?') {
        let query = shown[q + 1..].to_ascii_lowercase();
        if !(query.starts_with("host=/") || query.starts_with("socket=/"))
            || query.contains("pass")
            || query.contains(['&', '#', ';'])
        {
            shown.truncate(q);
            shown.push_str("?...");
        }
    }
    if shown.chars().count() > 200 {
        shown = format!("{}...", shown.chars().take(200).collect::<String>());
    }
    shown.escape_debug().to_string()
}
