//! The one door: every public operation of the vault runs through `Vault::door`, which
//! identifies the actor, asks the policy, runs the operation, and appends exactly one
//! event to the ledger. An operation that changes the catalog makes its change in the same
//! transaction as its event (`Vault::record`); one with an outside effect (a file, a
//! stream) records before the effect is made visible. If the event cannot be appended, the
//! operation fails and leaves no effect (fail closed).
//!
//! The policy is a placeholder until the Cedar policy (issue 5): people of the `ops` role
//! (the operator's ops team) may do everything the vault offers, under OPS-1 (only people
//! with a legitimate right reach client data); every other role is refused, so that none
//! gets more before the policy says what it may do. Clauses enforced inside operations
//! (LOC-1) turn their refusals into `denied` events naming the clause.

use chrono::{DateTime, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::catalog::Catalog;
use crate::event::{Action, Event, Outcome};
use crate::{Error, Vault, rfc3339};

/// The person every data dir starts with, and whom the CLI acts as by default.
pub const OPERATOR_HANDLE: &str = "operator";
/// How that person appears in events.
pub const OPERATOR: &str = "person:operator";
/// The clause the placeholder policy cites for what it allows.
const PLACEHOLDER_CLAUSE: &str = "OPS-1";

/// The event an operation is building: it may name more resources as it learns them.
#[derive(Debug)]
pub struct Record {
    action: Action,
    /// `kind:id`, most specific first.
    pub resources: Vec<String>,
    details: String,
    time: String,
    index: Option<u64>,
    clause: &'static str,
}

impl Record {
    /// The operation's time (RFC 3339).
    pub fn time(&self) -> &str {
        &self.time
    }
}

impl Error {
    /// The clause a refusal cites, when the error is a policy refusal.
    pub fn clause(&self) -> Option<&'static str> {
        match self {
            Error::SiteNotAllowed { .. } => Some("LOC-1"),
            Error::UnknownPerson(_) | Error::DisabledPerson { .. } | Error::NotAllowed { .. } => Some("OPS-1"),
            _ => None,
        }
    }
}

impl Vault {
    /// Runs `op` through the one door as the current actor.
    pub(crate) fn door<T>(
        &self,
        action: Action,
        resources: Vec<String>,
        details: String,
        now: DateTime<Utc>,
        op: impl FnOnce(&mut Record) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.door_as(action, resources, details, PLACEHOLDER_CLAUSE, now, op)
    }

    /// `door`, for an operation a clause itself commands (a destruction under PRE-6...):
    /// its event cites that clause.
    pub(crate) fn door_as<T>(
        &self,
        action: Action,
        resources: Vec<String>,
        details: String,
        clause: &'static str,
        now: DateTime<Utc>,
        op: impl FnOnce(&mut Record) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut rec = Record { action, resources, details, time: rfc3339(now), index: None, clause };
        // 1. Who acts: a registered person, not disabled (OPS-1).
        let result = match self.catalog.person(&self.actor)? {
            None => Err(Error::UnknownPerson(self.actor.clone())),
            Some(p) => match p.disabled {
                Some(at) => Err(Error::DisabledPerson { handle: p.handle, at }),
                // 2. The policy: a placeholder until the Cedar policy (issue 5), which lets
                //    the operator's ops team do everything and refuses every other role,
                //    so that no role gets more before the policy says what it may do.
                None if p.role != "ops" => {
                    Err(Error::NotAllowed { handle: p.handle, role: p.role, action: action.as_str().to_owned() })
                }
                // 3. The operation.
                None => op(&mut rec),
            },
        };
        if rec.index.is_some() {
            return result;
        }
        match result {
            Ok(v) => {
                self.record(&mut rec, Outcome::Allowed, |_| Ok(()))?;
                Ok(v)
            }
            Err(e) => {
                let outcome = if e.clause().is_some() { Outcome::Denied } else { Outcome::Failed };
                let clause = e.clause().unwrap_or(rec.clause);
                if let Err(le) = self.append(&mut rec, outcome, clause, |_| Ok(())) {
                    tracing::error!(action = %rec.action, "could not record a failed operation in the ledger: {le}");
                }
                Err(e)
            }
        }
    }

    /// Runs `change` and appends the event in one write transaction: both or neither.
    pub(crate) fn record<T>(
        &self,
        rec: &mut Record,
        outcome: Outcome,
        change: impl FnOnce(&Catalog) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let clause = rec.clause;
        self.append(rec, outcome, clause, change)
    }

    fn append<T>(
        &self,
        rec: &mut Record,
        outcome: Outcome,
        clause: &str,
        change: impl FnOnce(&Catalog) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if let Some(i) = rec.index {
            return Err(Error::Corrupt(format!("operation {} recorded twice (entry {i})", rec.action)));
        }
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let mut h = Sha256::new();
        h.update(salt);
        h.update(rec.details.as_bytes());
        let event = Event {
            time: rec.time.clone(),
            actor: format!("person:{}", self.actor),
            action: rec.action,
            resources: rec.resources.clone(),
            allowed: outcome != Outcome::Denied,
            clause: clause.to_owned(),
            outcome,
            commitment: hex::encode(h.finalize()),
        };
        let bytes = event.encode()?;
        let (v, index) = self.catalog.write(|c| {
            let v = change(c)?;
            let index = c.ledger_append(&bytes, &salt, &rec.details).map_err(|e| Error::LedgerWrite(e.to_string()))?;
            Ok((v, index))
        })?;
        rec.index = Some(index);
        Ok(v)
    }
}
