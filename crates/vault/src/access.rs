//! Who may do what: the door's questions to the policy, built from the catalog. A request's
//! `kind:id` resources become the policy's values (the resource with its client, class and
//! phase; the approvals in force; the environment a copy goes to), loading only the rows
//! the request names. Also the operations on the policy itself (`policy validate|show|
//! explain`) and on environments, where copies may go (PRE-5).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::catalog::EnvironmentRow;
use crate::event::Action;
use crate::{Error, Outcome, Vault, check_name, rfc3339};

/// The kinds of resource a request names (`kind:id`).
const RESOURCE_KINDS: [&str; 9] =
    ["vault", "client", "dataset", "contract", "person", "approval", "certificate", "entry", "store"];

/// The kinds of environment (PRE-5: a sample goes only to `local-test`).
pub const ENVIRONMENT_KINDS: [&str; 2] = ["local-test", "online"];

/// What a resource of an action must be.
enum Target {
    /// The vault as a whole.
    Vault,
    /// One client when the request names one (directly or through a dataset), else the vault.
    ClientOrVault,
    Dataset,
    Contract,
    Certificate,
    Person,
    Entry,
    Approval,
    /// One client, named.
    Client,
    Drop,
    /// A Moodle site, decided as its client.
    Site,
    /// A server of the inventory (shared: no client's).
    Server,
}

fn target(action: Action) -> Target {
    match action {
        Action::Init
        | Action::StoreAdd
        | Action::StoreList
        | Action::ClientAdd
        | Action::ClientList
        | Action::Fsck
        | Action::CatalogMigrate
        | Action::Sweep
        | Action::PersonList
        | Action::LedgerKey
        | Action::LedgerCheckpoint
        | Action::LedgerConsistency
        | Action::LedgerVerify
        | Action::CertificateVerify
        | Action::PolicyValidate
        | Action::PolicyShow
        | Action::PolicyExplain
        | Action::EnvironmentAdd
        | Action::EnvironmentList
        | Action::NotifyConfig
        | Action::NotifyList
        | Action::NotifyFlush
        | Action::WebhookAdd
        | Action::WebhookList
        | Action::WebhookRemove => Target::Vault,
        Action::SiteList => Target::ClientOrVault,
        Action::SiteAdd => Target::Client,
        Action::SiteShow | Action::SiteCheck | Action::SiteRestitution | Action::SiteBackup => Target::Site,
        Action::SiteRestore => Target::Dataset,
        Action::ServerAdd => Target::Vault,
        Action::ServerList => Target::ClientOrVault,
        Action::ServerShow
        | Action::ServerAppAdd
        | Action::ServerAccess
        | Action::AccessRevoke
        | Action::ServerPorts
        | Action::ServerCheck
        | Action::ServerAppCert
        | Action::ServerFail2ban => Target::Server,
        // The catalog of maneuvers, the bastion and the sshd configurations are the operator's.
        Action::ManeuverAdd | Action::ManeuverList | Action::BastionSet | Action::SshdConfig => Target::Vault,
        Action::AccessList => Target::ClientOrVault,
        Action::DatasetList
        | Action::ContractList
        | Action::CopyList
        | Action::CertificateList
        | Action::LedgerList
        | Action::ApprovalList
        | Action::PublicMentions
        | Action::PersonAdd
        | Action::DatasetIngest
        | Action::ContractAdd
        | Action::ApprovalRequest => Target::ClientOrVault,
        Action::DatasetShow
        | Action::DatasetGet
        | Action::DatasetVerify
        | Action::DatasetExport
        | Action::DatasetDestroy
        | Action::DatasetHold
        | Action::DatasetRelease
        | Action::CopyOut
        | Action::CopyAttest => Target::Dataset,
        Action::ContractDeal | Action::ContractSet | Action::ContractShow => Target::Contract,
        Action::CertificateShow => Target::Certificate,
        Action::PersonDisable
        | Action::PersonPassword
        | Action::PersonTotp
        | Action::TokenCreate
        | Action::TokenList
        | Action::TokenRevoke
        | Action::SessionLogin
        | Action::SessionLogout
        | Action::SessionShow
        | Action::PersonContact => Target::Person,
        Action::LedgerEntry | Action::LedgerProof => Target::Entry,
        Action::ApprovalShow | Action::ApprovalDecide | Action::ApprovalRevoke => Target::Approval,
        Action::ClientKeyAdd | Action::ClientKeyRemove | Action::ClientKeyList | Action::DropCreate => Target::Client,
        Action::DropList => Target::ClientOrVault,
        Action::DropShow
        | Action::DropRevoke
        | Action::DropOpen
        | Action::DropUpload
        | Action::DropReceive
        | Action::DropTerminate
        | Action::DropExpire => Target::Drop,
    }
}

fn find<'a>(resources: &'a [String], kind: &str) -> Option<&'a str> {
    resources.iter().find_map(|r| r.strip_prefix(kind).and_then(|r| r.strip_prefix(':')))
}

/// A question put to the policy and its answer (`policy explain`).
#[derive(Debug, Clone)]
pub struct Explained {
    /// Who would act.
    pub actor: String,
    /// Their role.
    pub role: String,
    /// The action asked about.
    pub action: String,
    /// The resource, `kind:id`.
    pub resource: String,
    /// The approvals in force that the decision saw.
    pub approvals: Vec<String>,
    /// The decision.
    pub decision: policy::Decision,
}

/// The operator's policy files: `*.cedar` in the data dir's `policies/`, by name.
fn operator_files(dir: &Path) -> Result<Vec<policy::Source>, Error> {
    let pdir = dir.join("policies");
    let entries = match std::fs::read_dir(&pdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(Error::Io { path: pdir, source }),
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for e in entries {
        let p = e.map_err(|source| Error::Io { path: pdir.clone(), source })?.path();
        if p.extension().is_some_and(|x| x == "cedar") {
            paths.push(p);
        }
    }
    paths.sort();
    paths.iter().map(|p| source_of(p)).collect()
}

/// The largest policy file read (the shipped set is a few KiB).
const MAX_POLICY_FILE: u64 = 1 << 20;

/// A policy file's text. Only a regular file (a symlink to one is followed) of at most
/// 1 MiB is read: a FIFO or a device (`/dev/zero`) would hang or fill memory on every
/// command.
fn source_of(p: &Path) -> Result<policy::Source, Error> {
    use std::io::Read as _;
    let bad = |why: String| Error::Policy(policy::Error::Invalid(vec![format!("{}: {why}", p.display())]));
    let m = std::fs::metadata(p).map_err(|source| Error::Io { path: p.to_owned(), source })?;
    if !m.is_file() {
        return Err(bad("not a regular file (a policy is a text file of Cedar policies)".into()));
    }
    if m.len() > MAX_POLICY_FILE {
        return Err(bad(format!("{} bytes: a policy file holds at most {MAX_POLICY_FILE}", m.len())));
    }
    let mut text = String::new();
    std::fs::File::open(p)
        .and_then(|f| f.take(MAX_POLICY_FILE + 1).read_to_string(&mut text))
        .map_err(|source| Error::Io { path: p.to_owned(), source })?;
    if text.len() as u64 > MAX_POLICY_FILE {
        return Err(bad(format!("more than {MAX_POLICY_FILE} bytes: a policy file holds at most that")));
    }
    Ok(policy::Source { name: p.display().to_string(), text })
}

impl Vault {
    /// Loads the policy now rather than at the first decision (a daemon's first answer
    /// then waits for nothing); an invalid policy is an error here.
    pub fn load_policy(&self) -> Result<(), Error> {
        self.policy().map(|_| ())
    }

    /// The effective policy: the shipped files and the operator's. If the operator's files
    /// do not validate, every request is refused with the reason (fail closed) but
    /// `policy validate`.
    pub(crate) fn policy(&self) -> Result<&policy::Engine, Error> {
        let loaded = self.policy.get_or_init(|| {
            let files = operator_files(&self.dir).map_err(|e| match e {
                Error::Policy(policy::Error::Invalid(v)) => v,
                other => vec![other.to_string()],
            })?;
            policy::Engine::new(files).map_err(|e| match e {
                policy::Error::Invalid(v) => v,
                other => vec![other.to_string()],
            })
        });
        loaded.as_ref().map_err(|v| Error::Policy(policy::Error::Invalid(v.clone())))
    }

    /// The shipped policy alone: what decides `policy validate`, so that broken operator
    /// files can be diagnosed.
    pub(crate) fn shipped_policy(&self) -> Result<policy::Engine, Error> {
        Ok(policy::Engine::new(vec![])?)
    }

    /// Everything a decision needs from the catalog, in one read transaction: the actor
    /// (registered, not disabled: OPS-1), the resource and the context.
    pub(crate) fn load_request(
        &self,
        handle: &str,
        action: Action,
        resources: &[String],
        kind: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(policy::Actor, policy::Resource, policy::Context), Error> {
        self.catalog.read(|c| {
            let p = c.person(handle)?.ok_or_else(|| Error::UnknownPerson(handle.to_owned()))?;
            if let Some(at) = p.disabled {
                return Err(Error::DisabledPerson { handle: p.handle, at });
            }
            let actor = p.into();
            let (resource, ctx) = self.resolve(&actor, action, resources, kind, now)?;
            Ok((actor, resource, ctx))
        })
    }

    /// The policy's values for a request: its resource and context.
    pub(crate) fn resolve(
        &self,
        actor: &policy::Actor,
        action: Action,
        resources: &[String],
        kind: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(policy::Resource, policy::Context), Error> {
        let now_s = rfc3339(now);
        let mut ctx = policy::Context { kind: kind.map(str::to_owned), ..policy::Context::default() };
        let need = |what: &str| {
            Error::BadInput(format!("{action} acts on a {what}: name it as {what}:ID (got {})", resources.join(" ")))
        };
        let dataset = |id: &str, ctx: &mut policy::Context| -> Result<policy::Resource, Error> {
            let f = self.catalog.access_facts(id, now)?;
            ctx.approvals = self.catalog.approvals_in_force(&f.client, &actor.handle, Some(id), &now_s)?;
            let phase = if f.state == "active" { f.phase.as_str() } else { "destroyed" };
            Ok(policy::Resource::Dataset {
                id: id.to_owned(),
                client: f.client,
                class: f.class,
                phase: phase.to_owned(),
                addressed_to: f.addressed_to,
            })
        };
        let resource = match target(action) {
            Target::Vault => policy::Resource::Vault,
            Target::ClientOrVault => {
                let slug = match (find(resources, "client"), find(resources, "dataset")) {
                    (Some(c), _) => Some(c.to_owned()),
                    (None, Some(d)) => Some(self.catalog.access_facts(d, now)?.client),
                    (None, None) => None,
                };
                match slug {
                    Some(slug) => {
                        let phase = self.catalog.client_phase(&slug, now)?;
                        ctx.approvals = self.catalog.approvals_in_force(&slug, &actor.handle, None, &now_s)?;
                        policy::Resource::Client { slug, phase: phase.as_str().to_owned() }
                    }
                    None => policy::Resource::Vault,
                }
            }
            Target::Dataset => {
                let id = find(resources, "dataset").ok_or_else(|| need("dataset"))?;
                let r = dataset(id, &mut ctx)?;
                let client = r.client().unwrap_or_default().to_owned();
                if action == Action::CopyOut
                    && let Some(name) = find(resources, "environment")
                {
                    let env = self.catalog.environment(name)?;
                    ctx.other_environment = self.catalog.installed_elsewhere(id, name)?;
                    // The copy's holder: the environment's, else whoever takes it out. Their
                    // role and client, and the approvals naming them and this dataset,
                    // decide whether the copy may reach them (OPS-1, CONF-1).
                    let handle = env.holder.unwrap_or_else(|| actor.handle.clone());
                    let person = self.catalog.person(&handle)?;
                    // To a client's person, an environment held by another client's person
                    // is an unknown one (no existence leaks across clients).
                    // (An environment held by the operator's staff is not theirs to know of.)
                    if let Some(mine) = actor.client.as_deref()
                        && person.as_ref().and_then(|p| p.client.as_deref()) != Some(mine)
                    {
                        return Err(Error::Hidden(Box::new(Error::Unknown {
                            what: "environment",
                            name: name.to_owned(),
                        })));
                    }
                    let holder: policy::Actor = match person {
                        Some(p) if p.disabled.is_none() => p.into(),
                        _ => {
                            return Err(Error::Refused {
                                clauses: vec!["OPS-1".into()],
                                reason: format!(
                                    "environment {name} is held by '{handle}', who is not an active person: a copy reaches only people with a legitimate right"
                                ),
                            });
                        }
                    };
                    ctx.holder_approvals =
                        Some(self.catalog.approvals_in_force(&client, &holder.handle, Some(id), &now_s)?);
                    ctx.environment =
                        Some(policy::Environment { name: env.name, kind: env.kind, holder: Some(holder) });
                }
                if action == Action::CopyAttest
                    && let Some(copy) = find(resources, "copy")
                {
                    ctx.copy_holder = self
                        .catalog
                        .out_copies(Some(id))?
                        .into_iter()
                        .find(|c| c.id == copy && c.kind == "environment")
                        .map(|c| c.holder);
                }
                if action == Action::DatasetExport {
                    ctx.client_key = match find(resources, "key") {
                        Some(k) => Some(self.catalog.client_key_registered(&client, k)?),
                        None => Some(false),
                    };
                }
                r
            }
            Target::Client => {
                let slug = find(resources, "client").ok_or_else(|| need("client"))?;
                let phase = self.catalog.client_phase(slug, now)?;
                policy::Resource::Client { slug: slug.to_owned(), phase: phase.as_str().to_owned() }
            }
            Target::Contract => {
                let case = find(resources, "contract").ok_or_else(|| need("contract"))?;
                let (client, phase) = self.catalog.contract_phase(case, now)?;
                policy::Resource::Contract { case: case.to_owned(), client, phase: phase.as_str().to_owned() }
            }
            Target::Certificate => {
                let id = find(resources, "certificate").ok_or_else(|| need("certificate"))?;
                let (cid, client) = self.catalog.certificate_client(id)?;
                policy::Resource::Certificate { id: cid, client }
            }
            Target::Person => {
                let h = find(resources, "person").ok_or_else(|| need("person"))?;
                let p = self.catalog.person(h)?.ok_or_else(|| Error::UnknownPerson(h.to_owned()))?;
                policy::Resource::Person(p.into())
            }
            Target::Entry => {
                let i = find(resources, "entry").ok_or_else(|| need("entry"))?;
                let index: u64 = i.parse().map_err(|_| need("entry"))?;
                // The entry is in the client its event names: that client's people read
                // their access log's entries and proofs, no other's.
                let client = match self.catalog.ledger_entry(index)? {
                    Some(bytes) => crate::Event::decode(&bytes)?
                        .resources
                        .iter()
                        .find_map(|r| r.strip_prefix("client:").map(str::to_owned)),
                    None => None,
                };
                policy::Resource::Entry { index, client }
            }
            Target::Site => {
                let slug = find(resources, "site").ok_or_else(|| need("site"))?;
                let site =
                    self.catalog.site(slug)?.ok_or_else(|| Error::Unknown { what: "site", name: slug.to_owned() })?;
                let phase = self.catalog.client_phase(&site.client, now)?;
                if action == Action::SiteRestitution {
                    // OPS-2: a site is handed back to a key its client's admin registered.
                    ctx.client_key = match find(resources, "key") {
                        Some(k) => Some(self.catalog.client_key_registered(&site.client, k)?),
                        None => Some(false),
                    };
                }
                policy::Resource::Client { slug: site.client, phase: phase.as_str().to_owned() }
            }
            Target::Server => {
                // Server access names its grant or its approval: the server is theirs.
                let (name, approval) = match (
                    find(resources, "server"),
                    find(resources, "grant"),
                    find(resources, "approval"),
                ) {
                    (Some(name), _, _) => (name.to_owned(), None),
                    (None, Some(g), _) => {
                        let g = self
                            .catalog
                            .grant(g)?
                            .ok_or_else(|| Error::Unknown { what: "grant", name: g.to_owned() })?;
                        (g.server, Some(g.approval))
                    }
                    (None, None, Some(a)) => {
                        let row = self.catalog.approval(a)?;
                        match row.server {
                            Some(s) if row.kind == "server-access" => (s, Some(row.id)),
                            // Another client's approval answers as unknown (DESIGN invariant 8).
                            _ if actor.client.as_deref().is_some_and(|c| c != row.client) => {
                                return Err(Error::Unknown { what: "approval", name: a.to_owned() });
                            }
                            _ => {
                                return Err(Error::BadApproval(format!(
                                    "approval {a} is for {}, not server access: a grant stands on a server-access approval",
                                    row.kind
                                )));
                            }
                        }
                    }
                    // Every server: the vault's.
                    (None, None, None) if matches!(action, Action::ServerCheck | Action::ServerAppCert) => {
                        return Ok((policy::Resource::Vault, ctx));
                    }
                    (None, None, None) => return Err(need("server")),
                };
                let s =
                    self.catalog.server(&name)?.ok_or_else(|| Error::Unknown { what: "server", name: name.clone() })?;
                // ACC-3: access is the approval's, in force, for this person and this server.
                if let Some(a) = approval {
                    let a = self.catalog.approval(&a)?;
                    if crate::approvals::in_force(&a, &now_s)
                        && a.kind == "server-access"
                        && a.for_handle.as_deref() == Some(actor.handle.as_str())
                        && a.server.as_deref() == Some(s.name.as_str())
                        && s.client.as_deref() == Some(a.client.as_str())
                    {
                        ctx.approvals = vec!["server-access".to_owned()];
                    }
                }
                policy::Resource::Server { name: s.name, shared: s.kind == "shared", client: s.client }
            }
            Target::Drop => {
                let id = find(resources, "drop").ok_or_else(|| need("drop"))?;
                let d =
                    self.catalog.drop_row(id)?.ok_or_else(|| Error::Unknown { what: "drop", name: id.to_owned() })?;
                policy::Resource::Drop {
                    id: d.id,
                    client: d.client,
                    addressed_to: d.addressed_to,
                    created_by: d.created_by,
                }
            }
            Target::Approval => {
                let id = find(resources, "approval").ok_or_else(|| need("approval"))?;
                let a = self.catalog.approval(id)?;
                policy::Resource::Approval {
                    id: a.id,
                    client: a.client,
                    kind: a.kind,
                    status: a.status,
                    requester: a.requester,
                    beneficiary: a.for_handle,
                }
            }
        };
        Ok((resource, ctx))
    }

    /// `policy validate`: the shipped set, the operator's files in the data dir, and
    /// `candidates` (files not installed yet), checked together against the schema.
    /// Returns how many policies the set would hold.
    pub fn policy_validate(&self, candidates: &[PathBuf], now: DateTime<Utc>) -> Result<usize, Error> {
        let details = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
        self.door(Action::PolicyValidate, vec![], details, now, |_| {
            let mut files = operator_files(&self.dir)?;
            for p in candidates {
                files.push(source_of(p)?);
            }
            Ok(policy::validate(files)?)
        })
    }

    /// `policy show`: the effective set, file by file.
    pub fn policy_show(&self, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::PolicyShow, vec![], String::new(), now, |_| Ok(self.policy()?.show()))
    }

    /// `policy explain`: may the current actor do `action` to `resource` (`kind:id`)?
    /// `context` (JSON) replaces what the catalog says of approvals, the environment and
    /// the kind asked for: `{"approvals": ["disclosure"], "environment": "NAME",
    /// "other_environment": true, "kind": "observation"}`.
    pub fn explain(
        &self,
        action: &str,
        resource: &str,
        context: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Explained, Error> {
        let details = format!("action={action} resource={resource} context={}", context.unwrap_or(""));
        self.door(Action::PolicyExplain, vec![], details, now, |rec| {
            let act = Action::parse(action).ok_or_else(|| {
                Error::BadInput(format!(
                    "unknown action '{action}'; the actions are: {}",
                    Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let Some((kind, _)) = resource.split_once(':').filter(|(k, i)| !k.is_empty() && !i.is_empty()) else {
                return Err(Error::BadInput(format!(
                    "'{resource}' is not a resource: write KIND:ID (dataset:ds-..., client:SLUG, contract:CASE, person:HANDLE, approval:ap-..., certificate:ID, entry:N, vault:gardien)"
                )));
            };
            if !RESOURCE_KINDS.contains(&kind) {
                return Err(Error::BadInput(format!(
                    "unknown resource kind '{kind}' in '{resource}'; the kinds are {}",
                    RESOURCE_KINDS.join(", ")
                )));
            }
            let mut resources = vec![resource.to_owned()];
            let overrides = context.map(parse_context).transpose()?;
            if let Some(env) = overrides.as_ref().and_then(|o| o.environment.clone()) {
                resources.push(format!("environment:{env}"));
            }
            let kind_asked = overrides.as_ref().and_then(|o| o.kind.clone());
            let (actor, res, mut ctx) = self.load_request(&self.actor, act, &resources, kind_asked.as_deref(), now)?;
            if let Some(o) = overrides {
                if let Some(a) = o.approvals {
                    ctx.approvals = a;
                }
                if let Some(b) = o.other_environment {
                    ctx.other_environment = b;
                }
            }
            // A client's person learns nothing of another client's resources here either.
            if let Some(hidden) = crate::door::hidden(&actor, &res, &resources) {
                // ...and the question is in the owner's access log.
                rec.resources.extend(res.client().map(|c| format!("client:{c}")));
                return Err(hidden);
            }
            let decision = self.policy()?.decide(&actor, act.as_str(), &res, &ctx)?;
            Ok(Explained {
                actor: actor.handle,
                role: actor.role,
                action: act.as_str().to_owned(),
                resource: res.name(),
                approvals: ctx.approvals,
                decision,
            })
        })
    }

    /// Registers a place copies may go.
    pub fn add_environment(
        &self,
        name: &str,
        kind: &str,
        holder: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<EnvironmentRow, Error> {
        let mut resources = vec![format!("environment:{name}")];
        resources.extend(holder.map(|h| format!("person:{h}")));
        self.door(Action::EnvironmentAdd, resources, format!("kind={kind}"), now, |rec| {
            check_name("environment name", name)?;
            if !ENVIRONMENT_KINDS.contains(&kind) {
                return Err(Error::BadInput(format!(
                    "unknown environment kind '{kind}'; the kinds are local-test (a local development or test machine, the only place a pre-sales sample may go: PRE-5) and online"
                )));
            }
            if let Some(h) = holder {
                let p = self.catalog.person(h)?.ok_or_else(|| Error::Unknown { what: "person", name: h.to_owned() })?;
                if p.disabled.is_some() {
                    return Err(Error::BadInput(format!("person '{h}' is disabled and cannot hold an environment")));
                }
            }
            let env = EnvironmentRow {
                name: name.to_owned(),
                kind: kind.to_owned(),
                holder: holder.map(str::to_owned),
                created: rfc3339(now),
            };
            self.record(rec, Outcome::Allowed, |c| c.add_environment(&env))?;
            Ok(env)
        })
    }

    /// Every environment.
    pub fn environments(&self, now: DateTime<Utc>) -> Result<Vec<EnvironmentRow>, Error> {
        self.door(Action::EnvironmentList, vec![], String::new(), now, |_| self.catalog.environments())
    }
}

#[derive(Default)]
struct Overrides {
    approvals: Option<Vec<String>>,
    environment: Option<String>,
    other_environment: Option<bool>,
    kind: Option<String>,
}

fn parse_context(json: &str) -> Result<Overrides, Error> {
    let bad = |why: String| Error::BadInput(format!("--context: {why}"));
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| bad("give a JSON object".into()))?;
    let mut o = Overrides::default();
    for (k, v) in obj {
        match k.as_str() {
            "approvals" => {
                let list = v.as_array().ok_or_else(|| bad("approvals is a list of kinds".into()))?;
                let kinds = list
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| bad("approvals is a list of kinds".into())))
                    .collect::<Result<Vec<_>, _>>()?;
                for k in &kinds {
                    if !crate::approvals::KINDS.contains(&k.as_str()) {
                        return Err(bad(format!(
                            "unknown approval kind '{k}'; the kinds are {}",
                            crate::approvals::KINDS.join(", ")
                        )));
                    }
                }
                o.approvals = Some(kinds);
            }
            "environment" => {
                o.environment = Some(v.as_str().ok_or_else(|| bad("environment is a name".into()))?.into())
            }
            "other_environment" => {
                o.other_environment = Some(v.as_bool().ok_or_else(|| bad("other_environment is true or false".into()))?)
            }
            "kind" => o.kind = Some(v.as_str().ok_or_else(|| bad("kind is an approval kind".into()))?.into()),
            other => {
                return Err(bad(format!(
                    "unknown key '{other}'; the keys are approvals, environment, other_environment, kind"
                )));
            }
        }
    }
    Ok(o)
}
