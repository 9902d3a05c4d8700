//! gardien's access policy: the Cedar schema, the shipped policy set (one clause per
//! policy, named by its `@clause` annotation), the operator's own additions, and
//! decisions that say which clauses decided them.
//!
//! The caller describes one request as values (`Actor`, `Resource`, `Context`): the actor,
//! the resource with the facts the policies read (its client, class, phase), and the
//! approvals in force. This crate turns them into the few Cedar entities the request needs
//! and asks Cedar. A denial with no forbid policy behind it is the default refusal of OPS-1
//! (only people with a legitimate right reach client data).
//!
//! Architecture invariant: this crate knows no storage, no CLI and no clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::str::FromStr as _;

use cedar_policy::{
    ActionConstraint, Authorizer, Context as CedarContext, Decision as CedarDecision, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, PolicyId, PolicySet, PrincipalConstraint, Request, RestrictedExpression, Schema,
    ValidationMode, Validator,
};

#[cfg(test)]
mod tests;

/// The shipped schema.
pub const SCHEMA: &str = include_str!("../policies/schema.cedarschema");
/// The shipped policy files, in the order `policy show` prints them.
pub const SHIPPED: [(&str, &str); 3] = [
    ("invariants.cedar", include_str!("../policies/invariants.cedar")),
    ("staff.cedar", include_str!("../policies/staff.cedar")),
    ("clients.cedar", include_str!("../policies/clients.cedar")),
];
/// Every clause of the policy (`../shared/policy/clauses.md`): a policy cites only these
/// (a test compares the list with the file when it is beside the project).
pub const CLAUSES: [&str; 29] = [
    "LOC-1", "ACC-1", "ACC-2", "ACC-3", "ACC-4", "WEB-1", "WEB-2", "ENC-1", "NET-1", "NET-2", "NET-3", "PRE-1",
    "PRE-2", "PRE-3", "PRE-4", "PRE-5", "PRE-6", "OPS-1", "OPS-2", "OPS-3", "OPS-4", "CONF-1", "CONF-2", "CONF-3",
    "CONF-4", "ARC-1", "ARC-2", "PROOF-1", "PROOF-2",
];

/// The clause a refusal cites when no policy permits the request.
pub const DEFAULT_CLAUSE: &str = "OPS-1";

/// The schema's action groups: what policies speak of, never an operation of their own.
pub const GROUPS: [&str; 3] = ["read-data", "data", "credentials"];

/// The roles of people; the first three are the operator's staff, the others belong to
/// one client.
pub const ROLES: [&str; 7] =
    ["ops", "technical-operator", "sales", "client-admin", "client-signer", "client-tech", "third-party"];

/// What can go wrong loading or validating policies.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy file does not parse or does not fit the schema; each problem with its place.
    #[error("the policy does not validate:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The schema itself is broken (a bug of the build, not of the operator's files).
    #[error("the policy schema is broken: {0}")]
    Schema(String),
    /// A request names something the schema does not know.
    #[error("{0}")]
    BadRequest(String),
}

/// One policy file: its name (as shown in messages) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file name, or path for the operator's files.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Who acts.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The person's handle.
    pub handle: String,
    /// Their role (one of `ROLES`).
    pub role: String,
    /// Their client, for client roles.
    pub client: Option<String>,
}

/// What the request acts on, with the facts the policies read.
#[derive(Debug, Clone)]
pub enum Resource {
    /// The vault as a whole.
    Vault,
    /// A client, in the phase of its contracts.
    Client {
        /// Slug.
        slug: String,
        /// `pre-sales`, `operation`, `admin-window` or `closed`.
        phase: String,
    },
    /// A blob store.
    Store(String),
    /// A dataset.
    Dataset {
        /// Id.
        id: String,
        /// Its client.
        client: String,
        /// Its retention class.
        class: String,
        /// Its contract's phase, or `destroyed`.
        phase: String,
        /// The technical operator a sample is addressed to (PRE-3).
        addressed_to: Option<String>,
    },
    /// A contract (pre-sales case).
    Contract {
        /// Case name.
        case: String,
        /// Its client.
        client: String,
        /// Its phase.
        phase: String,
    },
    /// A person, as the resource of `person:disable`.
    Person(Actor),
    /// An approval.
    Approval {
        /// Id.
        id: String,
        /// Its client.
        client: String,
        /// Its kind.
        kind: String,
        /// `requested`, `approved`, `refused`, `revoked`.
        status: String,
        /// Who asked.
        requester: String,
        /// The one person it is for (a third party, a technical operator), if one.
        beneficiary: Option<String>,
    },
    /// A destruction certificate.
    Certificate {
        /// Id.
        id: String,
        /// The destroyed dataset's client.
        client: String,
    },
    /// A ledger entry, and the client its event names, if one.
    Entry {
        /// Its index.
        index: u64,
        /// The client the event is about.
        client: Option<String>,
    },
    /// A secure drop (issue 11): addressed to one technical operator (PRE-3), opened by
    /// a member of the staff.
    Drop {
        /// Id.
        id: String,
        /// Its client.
        client: String,
        /// The technical operator it is addressed to.
        addressed_to: String,
        /// Who opened it.
        created_by: String,
    },
    /// A server.
    Server {
        /// Name.
        name: String,
        /// The client it is dedicated to, if any.
        client: Option<String>,
        /// Shared infrastructure (ACC-1).
        shared: bool,
    },
}

impl Resource {
    /// The client the resource belongs to, if one.
    pub fn client(&self) -> Option<&str> {
        match self {
            Resource::Client { slug: c, .. }
            | Resource::Dataset { client: c, .. }
            | Resource::Contract { client: c, .. }
            | Resource::Approval { client: c, .. }
            | Resource::Certificate { client: c, .. }
            | Resource::Drop { client: c, .. } => Some(c),
            Resource::Person(a) => a.client.as_deref(),
            Resource::Server { client, .. } | Resource::Entry { client, .. } => client.as_deref(),
            Resource::Vault | Resource::Store(_) => None,
        }
    }

    /// `kind:id`, as in ledger events.
    pub fn name(&self) -> String {
        match self {
            Resource::Vault => "vault:gardien".into(),
            Resource::Client { slug, .. } => format!("client:{slug}"),
            Resource::Store(n) => format!("store:{n}"),
            Resource::Dataset { id, .. } => format!("dataset:{id}"),
            Resource::Contract { case, .. } => format!("contract:{case}"),
            Resource::Person(a) => format!("person:{}", a.handle),
            Resource::Approval { id, .. } => format!("approval:{id}"),
            Resource::Certificate { id, .. } => format!("certificate:{id}"),
            Resource::Entry { index, .. } => format!("entry:{index}"),
            Resource::Server { name, .. } => format!("server:{name}"),
            Resource::Drop { id, .. } => format!("drop:{id}"),
        }
    }
}

/// Where a copy goes.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name.
    pub name: String,
    /// `local-test` or `online`.
    pub kind: String,
    /// Who holds it, with their role and client.
    pub holder: Option<Actor>,
}

/// The request's context.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Kinds of the approvals in force for this actor on this resource.
    pub approvals: Vec<String>,
    /// `copy:out`: where the copy goes.
    pub environment: Option<Environment>,
    /// `copy:out`: the dataset is already installed on another environment (PRE-4).
    pub other_environment: bool,
    /// `approval:request`: the kind asked for.
    pub kind: Option<String>,
    /// `copy:out`: kinds of the approvals in force for the environment's holder on the
    /// dataset.
    pub holder_approvals: Option<Vec<String>>,
    /// `dataset:export`: whether the recipient is one of the client's registered keys.
    pub client_key: Option<bool>,
    /// `copy:attest`: the handle of the copy's holder.
    pub copy_holder: Option<String>,
}

/// A decision and the clauses that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or refused.
    pub allowed: bool,
    /// The clause ids of the determining policies (at least one).
    pub clauses: Vec<String>,
    /// The determining policies' reasons, in the same order.
    pub reasons: Vec<String>,
    /// The determining policies' ids (empty for the default refusal).
    pub policies: Vec<String>,
}

impl Decision {
    /// `CLAUSE, CLAUSE`.
    pub fn clause_list(&self) -> String {
        self.clauses.join(", ")
    }

    /// The reasons, joined.
    pub fn reason(&self) -> String {
        self.reasons.join("; ")
    }
}

/// The loaded, validated policy set.
pub struct Engine {
    schema: Schema,
    set: PolicySet,
    /// Per action and role, the policies whose scope can match them: Cedar evaluates every
    /// policy of a set, and most do not concern a given request (same decisions, a fraction
    /// of the work).
    by_action: HashMap<(String, String), PolicySet>,
    sources: Vec<Source>,
    authorizer: Authorizer,
    /// Per policy: its clauses, reason, and place in the set (file by file, as written:
    /// the invariants first), read once.
    meta: HashMap<PolicyId, (Vec<String>, String, usize)>,
    /// Per action: its entity, with its groups (`read-data`, `data`) as ancestors, from
    /// the schema. Part of every decision, in every build: without it `action in
    /// Action::"data"` is false and every invariant scoped on a group silently never fires.
    action_entities: HashMap<String, Vec<Entity>>,
}

fn euid(kind: &str, id: &str) -> EntityUid {
    // Kinds are our schema's names: they always parse.
    let t = EntityTypeName::from_str(kind).unwrap_or_else(|_| unreachable!("entity type {kind}"));
    EntityUid::from_type_name_and_id(t, EntityId::new(id))
}

/// The line and column of byte `offset` in `text`, from 1.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `file:line:col: message` for a diagnostic whose labels point into `text`.
fn place(file: &str, text: &str, d: &dyn miette::Diagnostic, msg: String) -> String {
    let at = d.labels().and_then(|mut l| l.next()).map(|l| line_col(text, l.offset()));
    let help = d.help().map(|h| format!(" ({h})")).unwrap_or_default();
    match at {
        Some((line, col)) => format!("{file}:{line}:{col}: {msg}{help}"),
        None => format!("{file}: {msg}{help}"),
    }
}

impl Engine {
    /// The shipped policies plus `extra` (the operator's files), parsed and validated
    /// against the schema. Every problem is reported with its file and line.
    pub fn new(extra: Vec<Source>) -> Result<Engine, Error> {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA).map_err(|e| Error::Schema(e.to_string()))?;
        let mut sources: Vec<Source> =
            SHIPPED.iter().map(|(n, t)| Source { name: (*n).to_owned(), text: (*t).to_owned() }).collect();
        sources.extend(extra);
        let mut set = PolicySet::new();
        let mut problems = Vec::new();
        let mut origin: HashMap<PolicyId, usize> = HashMap::new();
        let mut meta = HashMap::new();
        for (i, src) in sources.iter().enumerate() {
            let parsed = match PolicySet::from_str(&src.text) {
                Ok(p) => p,
                Err(errs) => {
                    for e in errs.iter() {
                        problems.push(place(&src.name, &src.text, e, e.to_string()));
                    }
                    continue;
                }
            };
            if parsed.templates().next().is_some() {
                problems.push(format!("{}: templates are not used by gardien; write plain policies", src.name));
            }
            for (n, p) in parsed.policies().enumerate() {
                let id = p.annotation("id").map_or_else(|| format!("{}#{n}", src.name), str::to_owned);
                // Cedar keeps no public source location for a parsed policy: find its @id,
                // or name it by position.
                let at = src.text.find(&format!("@id(\"{id}\")")).map_or((0, 0), |o| line_col(&src.text, o));
                let Some(clause) = p.annotation("clause").filter(|c| !c.trim().is_empty()) else {
                    problems.push(format!(
                        "{}:{}:{}: policy '{id}' has no @clause(\"...\") annotation: every policy names the clause it implements",
                        src.name, at.0, at.1
                    ));
                    continue;
                };
                let clauses: Vec<String> =
                    clause.split([',', ' ']).filter(|c| !c.is_empty()).map(str::to_owned).collect();
                let also = p.annotation("clause_also").unwrap_or("");
                if let Some(unknown) = clauses
                    .iter()
                    .map(String::as_str)
                    .chain(also.split([',', ' ']).filter(|c| !c.is_empty()))
                    .find(|c| !CLAUSES.contains(c))
                {
                    problems.push(format!(
                        "{}:{}:{}: policy '{id}' cites clause '{unknown}', which the policy (clauses.md) does not have; the clauses are {}",
                        src.name,
                        at.0,
                        at.1,
                        CLAUSES.join(", ")
                    ));
                    continue;
                }
                let reason = p.annotation("reason").unwrap_or(clause).to_owned();
                // A reason is read by the person refused and by the signer: nothing in it may
                // hide or rewrite what they read.
                if let Some(text) = [Some(id.as_str()), Some(reason.as_str())].into_iter().flatten().find(|t| {
                    t.chars().any(|c| c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{061C}' | '\u{FEFF}'))
                }) {
                    problems.push(format!(
                        "{}:{}:{}: policy '{}' has a control or invisible character in its @id or @reason: {}",
                        src.name,
                        at.0,
                        at.1,
                        id.escape_debug(),
                        text.escape_debug()
                    ));
                    continue;
                }
                let pid = PolicyId::new(&id);
                if origin.contains_key(&pid) {
                    problems
                        .push(format!("{}:{}:{}: a policy with @id(\"{id}\") already exists", src.name, at.0, at.1));
                    continue;
                }
                origin.insert(pid.clone(), i);
                meta.insert(pid.clone(), (clauses, reason, meta.len()));
                if let Err(e) = set.add(p.new_id(pid)) {
                    problems.push(format!("{}: {e}", src.name));
                }
            }
        }
        if problems.is_empty() {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for e in result.validation_errors() {
                let (name, text) = origin
                    .get(e.policy_id())
                    .map_or(("?", ""), |&i| (sources[i].name.as_str(), sources[i].text.as_str()));
                problems.push(place(name, text, e, format!("policy '{}': {e}", e.policy_id())));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let groups = schema.action_entities().map_err(|e| Error::Schema(e.to_string()))?;
        let mut by_action = HashMap::new();
        let mut action_entities = HashMap::new();
        for uid in schema.actions() {
            let ancestors: HashSet<&EntityUid> = groups.ancestors(uid).map(Iterator::collect).unwrap_or_default();
            // The action's own entity carries its groups as ancestors (the schema's
            // closure): `action in Action::"data"` needs nothing more in the store.
            let entity =
                groups.get(uid).cloned().ok_or_else(|| Error::Schema(format!("action {uid} has no entity")))?;
            action_entities.insert(uid.id().unescaped().to_owned(), vec![entity]);
            for role in ROLES {
                let role_uid = euid("Role", role);
                // A scope `principal in Role::"x"` matches the people of role x only; any
                // other principal scope is kept (it is decided at evaluation).
                let other_role = |u: &EntityUid| u.type_name().to_string() == "Role" && *u != role_uid;
                let mut sub = PolicySet::new();
                for p in set.policies() {
                    let action_applies = match p.action_constraint() {
                        ActionConstraint::Any => true,
                        ActionConstraint::Eq(a) => &a == uid,
                        ActionConstraint::In(list) => list.iter().any(|a| a == uid || ancestors.contains(a)),
                    };
                    let role_applies = match p.principal_constraint() {
                        PrincipalConstraint::In(u) | PrincipalConstraint::IsIn(_, u) => !other_role(&u),
                        PrincipalConstraint::Any | PrincipalConstraint::Eq(_) | PrincipalConstraint::Is(_) => true,
                    };
                    if action_applies && role_applies {
                        sub.add(p.clone()).map_err(|e| Error::Schema(e.to_string()))?;
                    }
                }
                by_action.insert((uid.id().unescaped().to_owned(), (*role).to_owned()), sub);
            }
        }
        Ok(Engine { schema, set, by_action, sources, authorizer: Authorizer::new(), meta, action_entities })
    }

    /// The effective policy set, file by file, as written.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for s in &self.sources {
            let _ = writeln!(out, "// ---- {} ----\n{}", s.name, s.text.trim_end());
            out.push('\n');
        }
        out
    }

    /// The files the set was built from.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Every action the schema declares (groups excluded), sorted.
    pub fn actions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .schema
            .actions()
            .map(|a| a.id().unescaped().to_owned())
            .filter(|a| !GROUPS.contains(&a.as_str()))
            .collect();
        v.sort();
        v
    }

    /// Whether the schema declares `action`.
    pub fn knows(&self, action: &str) -> bool {
        !GROUPS.contains(&action) && self.schema.actions().any(|a| a.id().unescaped() == action)
    }

    /// Decides one request.
    pub fn decide(&self, actor: &Actor, action: &str, resource: &Resource, ctx: &Context) -> Result<Decision, Error> {
        self.decide_with(actor, action, resource, ctx, None)
    }

    /// `decide`, also checking every entity and the request against the schema (an
    /// attribute of the wrong type, a missing one, an action on a resource it does not
    /// apply to are errors). The policy table runs both and requires the same decision on
    /// every row: the check catches a bug in how requests are built; it never changes a
    /// decision (an entity that does not fit fails evaluation, which refuses).
    pub fn decide_checked(
        &self,
        actor: &Actor,
        action: &str,
        resource: &Resource,
        ctx: &Context,
    ) -> Result<Decision, Error> {
        self.decide_with(actor, action, resource, ctx, Some(&self.schema))
    }

    fn decide_with(
        &self,
        actor: &Actor,
        action: &str,
        resource: &Resource,
        ctx: &Context,
        schema: Option<&Schema>,
    ) -> Result<Decision, Error> {
        let mut entities: Vec<Entity> = Vec::with_capacity(4);
        let mut clients: HashSet<String> = HashSet::new();
        let mut client = |slug: &str, phase: &str, entities: &mut Vec<Entity>| -> EntityUid {
            let uid = euid("Client", slug);
            if clients.insert(slug.to_owned()) {
                let attrs = HashMap::from([("phase".to_owned(), RestrictedExpression::new_string(phase.to_owned()))]);
                entities.push(Entity::new(uid.clone(), attrs, HashSet::new()).unwrap_or_else(|_| unreachable!()));
            }
            uid
        };
        let bad = |e: &dyn std::fmt::Display| Error::BadRequest(e.to_string());
        let person = |a: &Actor,
                      entities: &mut Vec<Entity>,
                      client: &mut dyn FnMut(&str, &str, &mut Vec<Entity>) -> EntityUid| {
            let uid = euid("Person", &a.handle);
            let mut attrs = HashMap::from([("role".to_owned(), RestrictedExpression::new_string(a.role.clone()))]);
            let mut parents = HashSet::from([euid("Role", &a.role)]);
            if let Some(c) = &a.client {
                let cu = client(c, "unknown", entities);
                attrs.insert("client".into(), RestrictedExpression::new_entity_uid(cu.clone()));
                parents.insert(cu);
            }
            entities.push(Entity::new(uid.clone(), attrs, parents).unwrap_or_else(|_| unreachable!()));
            uid
        };
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        // The resource first, so that its client's phase is the one recorded.
        let (ruid, rattrs, rparents): (EntityUid, HashMap<String, RestrictedExpression>, HashSet<EntityUid>) =
            match resource {
                Resource::Vault => (euid("Vault", "gardien"), HashMap::new(), HashSet::new()),
                Resource::Client { slug, phase } => {
                    let uid = client(slug, phase, &mut entities);
                    (uid, HashMap::new(), HashSet::new())
                }
                Resource::Store(n) => (euid("Store", n), HashMap::new(), HashSet::new()),
                Resource::Dataset { id, client: c, class, phase, addressed_to } => {
                    let cu = client(c, "unknown", &mut entities);
                    let mut attrs = HashMap::from([("class".to_owned(), s(class)), ("phase".to_owned(), s(phase))]);
                    if let Some(to) = addressed_to {
                        attrs.insert("addressed_to".into(), RestrictedExpression::new_entity_uid(euid("Person", to)));
                    }
                    (euid("Dataset", id), attrs, HashSet::from([cu]))
                }
                Resource::Contract { case, client: c, phase } => {
                    let cu = client(c, phase, &mut entities);
                    (euid("Contract", case), HashMap::from([("phase".to_owned(), s(phase))]), HashSet::from([cu]))
                }
                Resource::Person(a) => {
                    let uid = euid("Person", &a.handle);
                    if a.handle != actor.handle {
                        person(a, &mut entities, &mut client);
                    }
                    (uid, HashMap::new(), HashSet::new())
                }
                Resource::Approval { id, client: c, kind, status, requester, beneficiary } => {
                    let cu = client(c, "unknown", &mut entities);
                    let mut attrs = HashMap::from([
                        ("kind".to_owned(), s(kind)),
                        ("status".to_owned(), s(status)),
                        ("requester".to_owned(), RestrictedExpression::new_entity_uid(euid("Person", requester))),
                    ]);
                    if let Some(b) = beneficiary {
                        attrs.insert("beneficiary".to_owned(), RestrictedExpression::new_entity_uid(euid("Person", b)));
                    }
                    (euid("Approval", id), attrs, HashSet::from([cu]))
                }
                Resource::Certificate { id, client: c } => {
                    let cu = client(c, "unknown", &mut entities);
                    (euid("Certificate", id), HashMap::new(), HashSet::from([cu]))
                }
                Resource::Entry { index, client: c } => {
                    let parents = c.iter().map(|c| client(c, "unknown", &mut entities)).collect();
                    (euid("Entry", &index.to_string()), HashMap::new(), parents)
                }
                Resource::Drop { id, client: c, addressed_to, created_by } => {
                    let cu = client(c, "unknown", &mut entities);
                    let attrs = HashMap::from([
                        ("addressed_to".to_owned(), RestrictedExpression::new_entity_uid(euid("Person", addressed_to))),
                        ("created_by".to_owned(), RestrictedExpression::new_entity_uid(euid("Person", created_by))),
                    ]);
                    (euid("Drop", id), attrs, HashSet::from([cu]))
                }
                Resource::Server { name, client: c, shared } => {
                    let parents = c.iter().map(|c| client(c, "unknown", &mut entities)).collect();
                    let attrs = HashMap::from([("shared".to_owned(), RestrictedExpression::new_bool(*shared))]);
                    (euid("Server", name), attrs, parents)
                }
            };
        if !matches!(resource, Resource::Client { .. } | Resource::Person(_)) {
            entities.push(Entity::new(ruid.clone(), rattrs, rparents).map_err(|e| bad(&e))?);
        }
        let puid = person(actor, &mut entities, &mut client);
        let mut pairs = vec![
            (
                "approvals".to_owned(),
                RestrictedExpression::new_set(
                    ctx.approvals.iter().map(|a| RestrictedExpression::new_string(a.clone())),
                ),
            ),
            ("other_environment".to_owned(), RestrictedExpression::new_bool(ctx.other_environment)),
        ];
        if let Some(env) = &ctx.environment {
            let uid = euid("Environment", &env.name);
            let mut attrs = HashMap::from([("kind".to_owned(), s(&env.kind))]);
            if let Some(h) = &env.holder {
                // The holder's role and client decide where a copy may go: their entity
                // is part of the request.
                let hu = if h.handle == actor.handle {
                    euid("Person", &h.handle)
                } else {
                    person(h, &mut entities, &mut client)
                };
                attrs.insert("holder".into(), RestrictedExpression::new_entity_uid(hu));
            }
            entities.push(Entity::new(uid.clone(), attrs, HashSet::new()).map_err(|e| bad(&e))?);
            pairs.push(("environment".to_owned(), RestrictedExpression::new_entity_uid(uid)));
        }
        if let Some(k) = &ctx.kind {
            pairs.push(("kind".to_owned(), s(k)));
        }
        if let Some(h) = &ctx.holder_approvals {
            let set = RestrictedExpression::new_set(h.iter().map(|a| RestrictedExpression::new_string(a.clone())));
            pairs.push(("holder_approvals".to_owned(), set));
        }
        if let Some(k) = ctx.client_key {
            pairs.push(("client_key".to_owned(), RestrictedExpression::new_bool(k)));
        }
        if let Some(h) = &ctx.copy_holder {
            pairs.push(("copy_holder".to_owned(), RestrictedExpression::new_entity_uid(euid("Person", h))));
        }
        // The action and its groups, in every decision whatever the build or the caller
        // (with a schema, Cedar adds them all itself).
        if schema.is_none() {
            let chain = self
                .action_entities
                .get(action)
                .ok_or_else(|| Error::BadRequest(format!("unknown action {action}")))?;
            entities.extend(chain.iter().cloned());
        }
        let context = CedarContext::from_pairs(pairs).map_err(|e| bad(&e))?;
        let entities = Entities::from_entities(entities, schema).map_err(|e| bad(&e))?;
        let request = Request::new(puid, euid("Action", action), ruid, context, schema)
            .map_err(|e| Error::BadRequest(format!("{action} on {}: {e}", resource.name())))?;
        let set = self.by_action.get(&(action.to_owned(), actor.role.clone())).unwrap_or(&self.set);
        let response = self.authorizer.is_authorized(&request, set, &entities);
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            // A policy that fails to evaluate is skipped by Cedar; a skipped forbid would
            // open what it closes, so any error refuses (fail closed).
            return Ok(Decision {
                allowed: false,
                clauses: vec![DEFAULT_CLAUSE.into()],
                reasons: vec![format!("the policy could not be evaluated: {}", errors.join("; "))],
                policies: vec![],
            });
        }
        let allowed = response.decision() == CedarDecision::Allow;
        let mut d = Decision { allowed, clauses: vec![], reasons: vec![], policies: vec![] };
        let mut ids: Vec<&PolicyId> = response.diagnostics().reason().collect();
        // In the order the policies are written (the invariants first, the most general
        // of them first): a refusal names its main clause first.
        ids.sort_by_key(|p| self.meta[*p].2);
        for id in ids {
            let (clauses, reason, _) = &self.meta[id];
            for c in clauses {
                if !d.clauses.contains(c) {
                    d.clauses.push(c.clone());
                }
            }
            d.reasons.push(reason.clone());
            d.policies.push(id.to_string());
        }
        if d.clauses.is_empty() {
            d.clauses.push(DEFAULT_CLAUSE.into());
            d.reasons.push(format!(
                "no policy lets a {} do {action} on {} (only people with a legitimate right reach client data)",
                actor.role,
                resource.name()
            ));
        }
        Ok(d)
    }
}

/// Checks the operator's files against the schema with the shipped set, without keeping
/// the result: `policy validate`.
pub fn validate(extra: Vec<Source>) -> Result<usize, Error> {
    let e = Engine::new(extra)?;
    Ok(e.set.policies().count())
}
