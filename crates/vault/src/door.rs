//! The one door: every public operation of the vault runs through `Vault::door`, which
//! identifies the actor, asks the policy, runs the operation, and appends exactly one
//! event to the ledger. An operation that changes the catalog makes its change in the same
//! transaction as its event (`Vault::record`); one with an outside effect (a file, a
//! stream) records before the effect is made visible. If the event cannot be appended, the
//! operation fails and leaves no effect (fail closed).
//!
//! The policy is Cedar (`policy` crate): the door builds the request's entities from the
//! catalog (`access.rs`) and the decision's clauses go into the event, allowed or denied.
//! Clauses enforced inside operations (LOC-1) turn their refusals into `denied` events
//! naming the clause.

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

/// What the door needs beyond the action and resources.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Ask<'a> {
    /// The clause the event cites instead of the policy's (an operation a clause itself
    /// commands: a destruction under PRE-6).
    pub clause: Option<&'static str>,
    /// `approval:request`: the kind asked for.
    pub kind: Option<&'a str>,
}

/// The event an operation is building: it may name more resources as it learns them.
#[derive(Debug)]
pub struct Record {
    action: Action,
    /// `kind:id`, most specific first.
    pub resources: Vec<String>,
    pub(crate) details: String,
    time: String,
    index: Option<u64>,
    pub(crate) clause: String,
    /// Who acts when it is not the vault's person: a drop's sender (`drop:ID`).
    actor: Option<String>,
}

impl Record {
    /// The event of an attempt that reached no operation: no resource but an unknown one.
    pub(crate) fn unknown(action: Action, details: String, now: DateTime<Utc>) -> Record {
        Record {
            action,
            resources: vec![format!("person:{INVALID}")],
            details: crate::text::redact_secrets(&details),
            time: rfc3339(now),
            index: None,
            clause: String::new(),
            actor: None,
        }
    }

    /// Names who acts when it is not the vault's person (a drop's sender: `drop:ID`).
    pub(crate) fn set_actor(&mut self, actor: &str) {
        self.actor = Some(actor.to_owned());
    }

    /// The operation's time (RFC 3339).
    pub fn time(&self) -> &str {
        &self.time
    }
}

/// For a client's person and another client's resource, the error an unknown id of that
/// kind gets: "unknown" and "not yours" answer alike (DESIGN invariant 8).
pub(crate) fn hidden(actor: &policy::Actor, resource: &policy::Resource, resources: &[String]) -> Option<Error> {
    // A drop is addressed to one technical operator (PRE-3): to another, it does not exist.
    if let policy::Resource::Drop { id, addressed_to, created_by, .. } = resource
        && actor.role == "technical-operator"
        && *addressed_to != actor.handle
        && *created_by != actor.handle
    {
        return Some(Error::Hidden(Box::new(Error::Unknown { what: "drop", name: id.clone() })));
    }
    let mine = actor.client.as_deref()?;
    // A server is theirs when dedicated to (or managed for) their client; a shared server
    // is no client's (ACC-1): to a client's people, it does not exist either.
    if let policy::Resource::Server { name, client, .. } = resource {
        // Asked by the grant or the approval given, when one was.
        let (what, name) = match (find_id(resources, "grant"), find_id(resources, "approval")) {
            (Some(g), _) => ("grant", g),
            (None, Some(a)) => ("approval", a),
            (None, None) => ("server", name.clone()),
        };
        return (client.as_deref() != Some(mine)).then(|| Error::Hidden(Box::new(Error::Unknown { what, name })));
    }
    if let policy::Resource::Person(p) = resource {
        if p.client.as_deref() == Some(mine) {
            return None;
        }
    } else if resource.client()? == mine {
        return None;
    }
    let unknown = match resource {
        policy::Resource::Dataset { id, .. } => Error::UnknownDataset(id.clone()),
        // A client found through a dataset the request names (`copy list ID`): that
        // dataset is what was asked for.
        policy::Resource::Client { slug, .. } => {
            match (find_id(resources, "client"), find_id(resources, "dataset"), find_id(resources, "site")) {
                (None, Some(id), _) => Error::UnknownDataset(id),
                // A site is decided as its client: the site is what was asked for.
                (None, None, Some(site)) => Error::Unknown { what: "site", name: site },
                _ => Error::UnknownClient(slug.clone()),
            }
        }
        policy::Resource::Contract { case, .. } => Error::UnknownContract(case.clone()),
        policy::Resource::Approval { id, .. } => Error::Unknown { what: "approval", name: id.clone() },
        policy::Resource::Drop { id, .. } => Error::Unknown { what: "drop", name: id.clone() },
        // Asked by the id given (a certificate's own, or its dataset's).
        policy::Resource::Certificate { .. } => Error::UnknownCertificate(find_id(resources, "certificate")?),
        // Another client's person, or the operator's staff: not theirs to know of.
        policy::Resource::Person(p) if p.client.as_deref() != Some(mine) => Error::UnknownPerson(p.handle.clone()),
        // Entries answer alike already (refused, OPS-1: an entry of no client is not
        // theirs either).
        _ => return None,
    };
    Some(Error::Hidden(Box::new(unknown)))
}

/// The id of the first `kind:id` resource.
fn find_id(resources: &[String], kind: &str) -> Option<String> {
    resources.iter().find_map(|r| r.strip_prefix(kind).and_then(|r| r.strip_prefix(':')).map(str::to_owned))
}

/// What an event names in place of an id that was not one.
const INVALID: &str = "(invalid)";

/// Whether `id` has the shape of an id of `kind`: what may enter the permanent ledger.
pub(crate) fn valid_id(kind: &str, id: &str) -> bool {
    let tail = |prefix: &str, max: usize| {
        id.strip_prefix(prefix).is_some_and(|t| {
            !t.is_empty() && t.len() <= max && t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    };
    match kind {
        "dataset" => tail("ds-", 64),
        "approval" => tail("ap-", 64),
        "copy" => tail("cp-", 64),
        "token" => tail("tk-", 64),
        "drop" => tail("dr-", 64),
        "upload" => tail("up-", 64),
        "webhook" => tail("wh-", 64),
        "grant" => tail("gr-", 64),
        "certificate" => tail("cert-", 64) || tail("ds-", 64),
        "entry" => !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()),
        "key" => tail("age1", 100),
        "vault" => id == "gardien",
        "client" | "contract" | "person" | "store" | "environment" | "server" | "site" | "maneuver" => {
            crate::check_name("name", id).is_ok()
        }
        _ => false,
    }
}

fn invalid_id(kind: &str, id: &str) -> Error {
    let (what, rule): (&'static str, &'static str) = match kind {
        "dataset" => ("dataset id", "a dataset id is ds- and lowercase hex (`gardien dataset list` shows them)"),
        "approval" => ("approval id", "an approval id is ap- and 12 hex digits (`gardien approval list`)"),
        "copy" => ("copy id", "a copy id is cp- and 12 hex digits (`gardien copy list`)"),
        "drop" => ("drop id", "a drop id is dr- and hex digits (`gardien drop list`)"),
        "webhook" => ("webhook id", "a webhook id is wh- and hex digits (`gardien webhook list`)"),
        "grant" => ("grant id", "a grant id is gr- and hex digits (`gardien access list`)"),
        "maneuver" => {
            ("maneuver id", "a maneuver's id is lowercase letters, digits and inner dashes (`gardien maneuver list`)")
        }
        "certificate" => ("certificate id", "a certificate is named by its id (cert-...) or its dataset's (ds-...)"),
        "entry" => ("ledger entry", "an entry is its index, a number"),
        "key" => ("age recipient", "an age recipient is age1 and lowercase letters and digits"),
        "client" => ("client", "use the client's slug: lowercase letters, digits and inner dashes"),
        "contract" => ("case name", "use the case's name: lowercase letters, digits and inner dashes"),
        "person" => ("handle", "use the person's handle (`gardien person list`), never a full name"),
        "store" => ("store", "lowercase letters, digits and inner dashes"),
        "environment" => ("environment", "lowercase letters, digits and inner dashes"),
        "site" => ("site", "use the site's slug (`gardien site list`): lowercase letters, digits and inner dashes"),
        "server" => {
            ("server name", "a server's name is lowercase letters, digits and inner dashes (`gardien server list`)")
        }
        _ => ("name", "lowercase letters, digits and inner dashes"),
    };
    Error::InvalidName { what, value: crate::quote_input(id), rule }
}

impl Error {
    /// The clauses a refusal cites, when the error is a policy refusal.
    pub fn clause(&self) -> Option<String> {
        match self {
            Error::SiteNotAllowed { .. } => Some("LOC-1".into()),
            Error::UnknownPerson(_) | Error::DisabledPerson { .. } => Some("OPS-1".into()),
            Error::Refused { clauses, .. } => Some(clauses.join(",")),
            Error::Hidden(_) | Error::NotSignedIn => Some("OPS-1".into()),
            Error::SignIn(crate::SignInFailure::Locked) => Some("NET-2".into()),
            Error::SignIn(_) => Some("OPS-1".into()),
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
        self.door_with(action, resources, details, Ask::default(), now, op)
    }

    /// `door`, with what the request needs beyond its resources.
    pub(crate) fn door_with<T>(
        &self,
        action: Action,
        resources: Vec<String>,
        details: String,
        ask: Ask<'_>,
        now: DateTime<Utc>,
        op: impl FnOnce(&mut Record) -> Result<T, Error>,
    ) -> Result<T, Error> {
        // The ledger is permanent and holds ids, never names: a text given where an id is
        // expected ("Dossier de Jeanne Dupont") is refused, and its event says only that
        // the id was invalid.
        let mut invalid = None;
        let resources = resources
            .into_iter()
            .map(|r| match r.split_once(':') {
                Some((kind, id)) if valid_id(kind, id) => r,
                Some((kind, id)) => {
                    invalid.get_or_insert_with(|| invalid_id(kind, id));
                    format!("{kind}:{INVALID}")
                }
                None => {
                    invalid.get_or_insert_with(|| invalid_id("resource", &r));
                    format!("resource:{INVALID}")
                }
            })
            .collect();
        // The details stay in the catalog (erasable), never a secret key given by mistake.
        let details = crate::text::redact_secrets(&details);
        let mut rec =
            Record { action, resources, details, time: rfc3339(now), index: None, clause: String::new(), actor: None };
        // 1. Who acts, 2. what the policy says, 3. the operation.
        let checked = match invalid {
            Some(e) => Err(e),
            None => Ok(()),
        };
        let decide_and_run = |rec: &mut Record| {
            checked.and_then(|()| self.ask_policy(action, &mut rec.resources, ask.kind, now)).and_then(|d| {
                rec.clause = ask.clause.map_or_else(|| d.clauses.join(","), str::to_owned);
                op(rec)
            })
        };
        // A read: its decision and its reads see one snapshot, in one read transaction.
        let result = if action.reads_only() {
            let mut out = None;
            let _ = self.catalog.read(|_| {
                out = Some(decide_and_run(&mut rec));
                Ok(())
            });
            out.unwrap_or_else(|| Err(Error::Corrupt("a read transaction could not start".into())))
        } else {
            decide_and_run(&mut rec)
        };
        if rec.index.is_some() {
            return result;
        }
        // 4. The event: the operation's own if it recorded one, else this.
        match result {
            Ok(v) => {
                let clause = rec.clause.clone();
                self.append_event(&mut rec, Outcome::Allowed, &clause)?;
                Ok(v)
            }
            Err(e) => {
                let outcome = if e.clause().is_some() { Outcome::Denied } else { Outcome::Failed };
                let clause = e.clause().unwrap_or_else(|| rec.clause.clone());
                let clause = if clause.is_empty() { policy::DEFAULT_CLAUSE.to_owned() } else { clause };
                if let Err(le) = self.append_event(&mut rec, outcome, &clause) {
                    tracing::error!(action = %rec.action, "could not record a failed operation in the ledger: {le}");
                }
                Err(e)
            }
        }
    }

    /// Runs a drop sender's step through the one door. The sender is no person: they act
    /// by the drop's link and password (PRE-1, PRE-2), which `op` checks; the event names
    /// them as `drop:ID` (`drop:(unknown)` for a link that opens nothing) and cites
    /// `clause`. Exactly one event, as for every operation (an `op` may record its own,
    /// in the transaction of its change).
    pub(crate) fn door_sender<T>(
        &self,
        action: Action,
        actor: &str,
        resources: Vec<String>,
        details: String,
        clause: &str,
        now: DateTime<Utc>,
        op: impl FnOnce(&mut Record) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let details = crate::text::redact_secrets(&details);
        let mut rec = Record {
            action,
            resources,
            details,
            time: rfc3339(now),
            index: None,
            clause: clause.to_owned(),
            actor: Some(actor.to_owned()),
        };
        let result = op(&mut rec);
        if rec.index.is_some() {
            return result;
        }
        let outcome = match &result {
            Ok(_) => Outcome::Allowed,
            Err(Error::DropClosed | Error::UnknownUpload) => Outcome::Denied,
            Err(e) if e.clause().is_some() => Outcome::Denied,
            Err(_) => Outcome::Failed,
        };
        let clause = rec.clause.clone();
        match self.append_event(&mut rec, outcome, &clause) {
            Ok(()) => result,
            Err(e) if result.is_ok() => Err(e),
            Err(le) => {
                tracing::error!(action = %rec.action, "could not record a failed drop step in the ledger: {le}");
                result
            }
        }
    }

    /// The policy's decision for the current actor; a refusal is an `Error::Refused`.
    fn ask_policy(
        &self,
        action: Action,
        resources: &mut Vec<String>,
        kind: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<policy::Decision, Error> {
        self.ask_policy_as(&self.actor, action, resources, kind, now)
    }

    /// `ask_policy` for `handle`.
    pub(crate) fn ask_policy_as(
        &self,
        handle: &str,
        action: Action,
        resources: &mut Vec<String>,
        kind: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<policy::Decision, Error> {
        let (actor, resource, ctx) = self.load_request(handle, action, resources, kind, now)?;
        let shipped;
        let engine = if action == Action::PolicyValidate {
            shipped = self.shipped_policy()?;
            &shipped
        } else {
            self.policy()?
        };
        let d = engine.decide(&actor, action.as_str(), &resource, &ctx)?;
        if d.allowed {
            return Ok(d);
        }
        // Another client's resource, to a client's person: the answer is the one an
        // unknown id gets (no existence, no date, no state leaks across clients), decided
        // on the request as it was made.
        let hidden = hidden(&actor, &resource, resources);
        // A refused request still names the client it was about: it is in that client's
        // access log (`ledger list --client`).
        if let Some(c) = resource.client()
            && !resources.iter().any(|r| r.strip_prefix("client:") == Some(c))
        {
            resources.push(format!("client:{c}"));
        }
        if let Some(hidden) = hidden {
            return Err(hidden);
        }
        let mut reason = d.reason();
        // A destroyed dataset: say when, and where its certificate is.
        if let policy::Resource::Dataset { id, phase, .. } = &resource
            && phase == "destroyed"
            && let Some(x) = self.catalog.dataset(id)?.destruction
        {
            let certificate = self.catalog.certificates(Some(id))?.into_iter().next().map(|c| c.0);
            reason = format!("{reason}; {}", Error::Destroyed { id: id.clone(), at: x.at, certificate });
        }
        Err(Error::Refused { clauses: d.clauses, reason })
    }

    /// Whether the policy lets `handle` do `action` to `resources`: a question, not an
    /// operation (nothing is recorded; the operation asking it records its own event).
    pub(crate) fn allowed_as(
        &self,
        handle: &str,
        action: Action,
        resources: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        match self.ask_policy_as(handle, action, &mut resources.to_vec(), None, now) {
            Ok(_) => Ok(true),
            Err(Error::Refused { .. } | Error::Hidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The rows of a listing the actor may see: those whose resource (`kind:id`) the
    /// policy lets them `show` (a technical operator lists the samples addressed to them,
    /// not every client's datasets): every listing shows only what `show` would show, row
    /// by row. The ops team, whom the shipped policy lets show everything, skips the
    /// per-row decisions; the listing's own event is the record.
    pub(crate) fn visible<T>(
        &self,
        rows: Vec<T>,
        show: Action,
        resource: impl Fn(&T) -> String,
        now: DateTime<Utc>,
    ) -> Result<Vec<T>, Error> {
        let role = self.catalog.person(&self.actor)?.map(|p| p.role).unwrap_or_default();
        if role == "ops" && self.policy()?.sources().len() == policy::SHIPPED.len() {
            return Ok(rows);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            if self.allowed_as(&self.actor, show, &[resource(&r)], now)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Runs `change` and appends the event in one write transaction: both or neither.
    pub(crate) fn record<T>(
        &self,
        rec: &mut Record,
        outcome: Outcome,
        change: impl FnOnce(&Catalog) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let clause = rec.clause.clone();
        self.append(rec, outcome, &clause, change)
    }

    /// Appends an event that goes with no other change: through the group commit when the
    /// vault shares one (a server), else in a transaction of its own.
    pub(crate) fn append_event(&self, rec: &mut Record, outcome: Outcome, clause: &str) -> Result<(), Error> {
        match &self.group {
            Some(group) => {
                let (bytes, salt) = self.encode(rec, outcome, clause)?;
                let pending = group.submit(bytes, salt, rec.details.clone(), outcome == Outcome::Allowed)?;
                // Deferred (a server): the caller waits for it after giving the vault back;
                // else now.
                let mut deferred = self.deferred.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match deferred.as_mut() {
                    Some(list) => {
                        list.push(pending);
                        rec.index = Some(u64::MAX);
                    }
                    None => rec.index = Some(futures::executor::block_on(pending.wait())?),
                }
                Ok(())
            }
            None => self.append(rec, outcome, clause, |_| Ok(())),
        }
    }

    /// Appends an event naming `actor` (not a person's handle: `(unknown)`) in a
    /// transaction of its own.
    pub(crate) fn append_as(&self, rec: &mut Record, actor: &str, outcome: Outcome, clause: &str) -> Result<(), Error> {
        let (bytes, salt) = self.encode_as(rec, &format!("person:{actor}"), outcome, clause)?;
        let index = self
            .catalog
            .write(|c| c.ledger_append(&bytes, &salt, &rec.details).map_err(|e| Error::LedgerWrite(e.to_string())))?;
        rec.index = Some(index);
        Ok(())
    }

    /// The event's bytes and the salt of its commitment.
    fn encode(&self, rec: &Record, outcome: Outcome, clause: &str) -> Result<(Vec<u8>, [u8; 16]), Error> {
        let actor = match &rec.actor {
            Some(a) => a.clone(),
            None => format!("person:{}", if valid_id("person", &self.actor) { self.actor.as_str() } else { INVALID }),
        };
        self.encode_as(rec, &actor, outcome, clause)
    }

    fn encode_as(
        &self,
        rec: &Record,
        actor: &str,
        outcome: Outcome,
        clause: &str,
    ) -> Result<(Vec<u8>, [u8; 16]), Error> {
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
            actor: actor.to_owned(),
            action: rec.action,
            resources: rec.resources.clone(),
            allowed: outcome != Outcome::Denied,
            clause: clause.to_owned(),
            outcome,
            commitment: hex::encode(h.finalize()),
        };
        Ok((event.encode()?, salt))
    }

    pub(crate) fn append<T>(
        &self,
        rec: &mut Record,
        outcome: Outcome,
        clause: &str,
        change: impl FnOnce(&Catalog) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (bytes, salt) = self.encode(rec, outcome, clause)?;
        let (v, index) = self.catalog.write(|c| {
            let v = change(c)?;
            let index = c.ledger_append(&bytes, &salt, &rec.details).map_err(|e| Error::LedgerWrite(e.to_string()))?;
            Ok((v, index))
        })?;
        rec.index = Some(index);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation kind of the one door is a Cedar action of the schema, and the
    /// schema has no action the door lacks; the policy crate's table runs every schema action, so every door action is in it.
    #[test]
    fn every_door_action_is_a_cedar_action() {
        let engine = policy::Engine::new(vec![]).unwrap();
        let mut schema = engine.actions();
        for a in Action::ALL {
            assert!(engine.knows(a.as_str()), "{a} has no Cedar action in schema.cedarschema");
            schema.retain(|s| s != a.as_str());
        }
        assert!(schema.is_empty(), "Cedar actions no door operation performs: {schema:?}");
    }
}
