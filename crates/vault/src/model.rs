//! The vault's domain values: clients, datasets and their copies.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// What a dataset is, which later decides how long it is kept (see `clauses.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetClass {
    /// A sample received in a pre-sales trial (PRE-1..PRE-6).
    PresalesSample,
    /// The original loading data of a site (OPS-3).
    LoadingData,
    /// A backup of a site (ARC-1).
    Backup,
    /// An archive kept after a contract (ARC-1).
    Archive,
    /// Data prepared to hand back to the client (OPS-2).
    Export,
    /// Anything else the client entrusted.
    Other,
}

impl DatasetClass {
    /// Every class, in the order `--help` lists them.
    pub const ALL: [DatasetClass; 6] = [
        DatasetClass::PresalesSample,
        DatasetClass::LoadingData,
        DatasetClass::Backup,
        DatasetClass::Archive,
        DatasetClass::Export,
        DatasetClass::Other,
    ];

    /// The name used on the command line, in JSON and in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetClass::PresalesSample => "presales-sample",
            DatasetClass::LoadingData => "loading-data",
            DatasetClass::Backup => "backup",
            DatasetClass::Archive => "archive",
            DatasetClass::Export => "export",
            DatasetClass::Other => "other",
        }
    }
}

impl DatasetClass {
    /// The class as the retention rules see it.
    pub fn lifecycle(self) -> lifecycle::Class {
        match self {
            DatasetClass::PresalesSample => lifecycle::Class::PresalesSample,
            DatasetClass::LoadingData => lifecycle::Class::LoadingData,
            DatasetClass::Backup => lifecycle::Class::Backup,
            DatasetClass::Archive => lifecycle::Class::Archive,
            DatasetClass::Export => lifecycle::Class::Export,
            DatasetClass::Other => lifecycle::Class::Other,
        }
    }
}

impl fmt::Display for DatasetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DatasetClass::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| Error::UnknownClass(s.to_owned()))
    }
}

/// A client of the operator, owner of its data (OPS-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Short stable name (`lycee-hugo`).
    pub slug: String,
    /// Full name.
    pub name: String,
    /// When it was registered (RFC 3339).
    pub created: String,
}

/// One in-vault copy of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The store holding it.
    pub store: String,
    /// The store's site.
    pub site: String,
    /// The object's name in the store.
    pub object: String,
}

/// A dataset in custody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// `ds-` and 16 hex digits.
    pub id: String,
    /// The owning client's slug.
    pub client: String,
    /// What it is.
    pub class: DatasetClass,
    /// A free label; it stays in the catalog only.
    pub label: Option<String>,
    /// The contract it belongs to.
    pub contract: Option<String>,
    /// Set once it was destroyed (or is being destroyed).
    pub destruction: Option<Destruction>,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, lowercase hex.
    pub sha256: String,
    /// When it was ingested (RFC 3339).
    pub created: String,
    /// `active` for every dataset a listing shows.
    pub state: String,
    /// Its in-vault copies.
    pub copies: Vec<Copy>,
}

/// How a dataset was destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destruction {
    /// When its key was shredded (RFC 3339).
    pub at: String,
    /// The rule that made it due.
    pub rule: String,
    /// The clause behind the rule.
    pub clause: String,
    /// The ledger index of its destruction event, once recorded.
    pub event: Option<u64>,
}
