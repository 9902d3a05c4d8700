//! The vault's domain values: clients, datasets and their copies.

/// What a dataset is, which decides how long it is kept (the retention rules are
/// `lifecycle`'s, and so is this type).
pub use lifecycle::Class as DatasetClass;

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
    /// A sample's technical operator (PRE-3).
    pub addressed_to: Option<String>,
    /// A sample's original provider (PRE-4).
    pub provider: Option<String>,
    /// Its legal holds, oldest first: while one is open its clock is stopped.
    pub holds: Vec<Hold>,
    /// Its contract's phase and when the rules destroy it (filled by `Vault::dataset`
    /// and `Vault::datasets`).
    pub fate: Option<Fate>,
}

/// Where a dataset stands under the retention rules (PROOF-1: the client sees when its
/// data will be destroyed, and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    /// The contract's phase (`pre-sales`, `operation`, `admin-window`, `closed`), or
    /// `destroyed`.
    pub phase: String,
    /// When the rules make it due (RFC 3339), if they set a date yet.
    pub due: Option<String>,
    /// The rule, in words.
    pub rule: Option<String>,
    /// The clause behind the rule.
    pub clause: Option<String>,
    /// Whether an open hold stops its clock.
    pub held: bool,
}

/// A legal hold on a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Placed on (RFC 3339).
    pub held: String,
    /// Released on, if it was.
    pub released: Option<String>,
    /// Why.
    pub reason: String,
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
