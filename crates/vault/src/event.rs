//! Ledger events: what the one door records of every operation, in a versioned,
//! canonical text encoding (the bytes a leaf hashes). An event holds ids and a salted
//! commitment only: labels, paths and reasons stay in the catalog's `event_details`,
//! which can be erased without rewriting the log.

use std::fmt;

use crate::Error;

/// Every operation kind of the one door, named `noun:verb` after the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `gardien init` (recorded as the ledger's first entry).
    Init,
    /// `store add`.
    StoreAdd,
    /// `store list`.
    StoreList,
    /// `client add`.
    ClientAdd,
    /// `client list`.
    ClientList,
    /// `dataset ingest`.
    DatasetIngest,
    /// `dataset list`.
    DatasetList,
    /// `dataset show`.
    DatasetShow,
    /// `dataset get`.
    DatasetGet,
    /// `dataset verify`.
    DatasetVerify,
    /// `dataset export`.
    DatasetExport,
    /// `fsck`.
    Fsck,
    /// `catalog migrate`: the catalog and the ledger moved to PostgreSQL.
    CatalogMigrate,
    /// `contract add`.
    ContractAdd,
    /// `contract deal`.
    ContractDeal,
    /// `contract set`.
    ContractSet,
    /// `contract show`.
    ContractShow,
    /// `contract list`.
    ContractList,
    /// `sweep`.
    Sweep,
    /// A destruction by the sweeper (one per dataset).
    DatasetDestroy,
    /// `dataset hold`.
    DatasetHold,
    /// `dataset release`.
    DatasetRelease,
    /// `copy out`.
    CopyOut,
    /// `copy list`.
    CopyList,
    /// `copy attest`.
    CopyAttest,
    /// `certificate list`.
    CertificateList,
    /// `certificate show` and `certificate export`.
    CertificateShow,
    /// `certificate verify` against the data dir's key.
    CertificateVerify,
    /// `person add`.
    PersonAdd,
    /// `person list`.
    PersonList,
    /// `person disable`.
    PersonDisable,
    /// `ledger key`.
    LedgerKey,
    /// `ledger checkpoint`.
    LedgerCheckpoint,
    /// `ledger entry`.
    LedgerEntry,
    /// `ledger list`.
    LedgerList,
    /// `ledger proof`.
    LedgerProof,
    /// `ledger consistency`.
    LedgerConsistency,
    /// `ledger verify`.
    LedgerVerify,
    /// `environment add`.
    EnvironmentAdd,
    /// `environment list`.
    EnvironmentList,
    /// `approval request`.
    ApprovalRequest,
    /// `approval list`.
    ApprovalList,
    /// `approval show`.
    ApprovalShow,
    /// `approval decide`.
    ApprovalDecide,
    /// `approval revoke`.
    ApprovalRevoke,
    /// `policy validate`.
    PolicyValidate,
    /// `policy show`.
    PolicyShow,
    /// `policy explain`.
    PolicyExplain,
    /// `public-mentions`.
    PublicMentions,
    /// `client key add`.
    ClientKeyAdd,
    /// `client key remove`.
    ClientKeyRemove,
    /// `client key list`.
    ClientKeyList,
    /// `person password` (a new password for a person).
    PersonPassword,
    /// a second factor enrolled or reset.
    PersonTotp,
    /// `token create`.
    TokenCreate,
    /// `token list`.
    TokenList,
    /// `token revoke`.
    TokenRevoke,
    /// a sign-in to `gardien serve` (its password, then its second factor).
    SessionLogin,
    /// a sign-out.
    SessionLogout,
    /// who the signed-in person is (`GET /api/v1/me`, the portal's first page).
    SessionShow,
    /// `person contact`: a person's address and language (issue 15).
    PersonContact,
    /// `notify config`: the SMTP relay (issue 15).
    NotifyConfig,
    /// `notify list`: the outbox.
    NotifyList,
    /// `notify flush`: what is due, sent.
    NotifyFlush,
    /// `webhook add`: an endpoint that receives notifications, signed.
    WebhookAdd,
    /// `webhook list`.
    WebhookList,
    /// `webhook remove`.
    WebhookRemove,
    /// `site add`: a client's Moodle site (issue 12).
    SiteAdd,
    /// `site list`.
    SiteList,
    /// `site show`.
    SiteShow,
    /// `site check`: its database answers, its files match it.
    SiteCheck,
    /// `restitution create`: the site handed back whole to a client's key (OPS-2).
    SiteRestitution,
    /// `site backup`: the site into the vault, a backup of its contract (ARC-1).
    SiteBackup,
    /// `site restore`: a backup put back into an empty database and directory.
    SiteRestore,
    /// `server add`: a server of the inventory (issue 13; LOC-1, ACC-1, ACC-2).
    ServerAdd,
    /// `server list`.
    ServerList,
    /// `server show`.
    ServerShow,
    /// `server app add`: a web application a server hosts (WEB-2).
    ServerAppAdd,
    /// `server ports`.
    ServerPorts,
    /// `server check`.
    ServerCheck,
    /// `server app cert`, `server app renew`: an application's certificate over ACME (WEB-1).
    ServerAppCert,
    /// `server fail2ban`: what fail2ban watches on a server, as it reports it (NET-2).
    ServerFail2ban,
    /// `access grant`, the bastion's principals answer, the runner's maneuvers (ACC-1..4).
    ServerAccess,
    /// `access revoke`.
    AccessRevoke,
    /// `access list`.
    AccessList,
    /// `maneuver add`.
    ManeuverAdd,
    /// `maneuver list`.
    ManeuverList,
    /// `bastion set`.
    BastionSet,
    /// `bastion sshd-config`, `server sshd-config`.
    SshdConfig,
    /// `drop create`: a drop opened for a client's file.
    DropCreate,
    /// `drop list`.
    DropList,
    /// `drop show`.
    DropShow,
    /// `drop revoke`, or five wrong passwords (PRE-2).
    DropRevoke,
    /// A sender gives a drop's password (a session opened, or a password refused).
    DropOpen,
    /// A sender creates a tus upload in a drop.
    DropUpload,
    /// An upload complete: its file checked and made a dataset, or refused.
    DropReceive,
    /// A sender deletes an upload (tus termination).
    DropTerminate,
    /// A drop or a partial upload that expired, and what was deleted.
    DropExpire,
}

impl Action {
    /// Every action; a test runs each through the CLI.
    pub const ALL: [Action; 98] = [
        Action::Init,
        Action::StoreAdd,
        Action::StoreList,
        Action::ClientAdd,
        Action::ClientList,
        Action::DatasetIngest,
        Action::DatasetList,
        Action::DatasetShow,
        Action::DatasetGet,
        Action::DatasetVerify,
        Action::DatasetExport,
        Action::Fsck,
        Action::CatalogMigrate,
        Action::ContractAdd,
        Action::ContractDeal,
        Action::ContractSet,
        Action::ContractShow,
        Action::ContractList,
        Action::Sweep,
        Action::DatasetDestroy,
        Action::DatasetHold,
        Action::DatasetRelease,
        Action::CopyOut,
        Action::CopyList,
        Action::CopyAttest,
        Action::CertificateList,
        Action::CertificateShow,
        Action::CertificateVerify,
        Action::PersonAdd,
        Action::PersonList,
        Action::PersonDisable,
        Action::LedgerKey,
        Action::LedgerCheckpoint,
        Action::LedgerEntry,
        Action::LedgerList,
        Action::LedgerProof,
        Action::LedgerConsistency,
        Action::LedgerVerify,
        Action::EnvironmentAdd,
        Action::EnvironmentList,
        Action::ApprovalRequest,
        Action::ApprovalList,
        Action::ApprovalShow,
        Action::ApprovalDecide,
        Action::ApprovalRevoke,
        Action::PolicyValidate,
        Action::PolicyShow,
        Action::PolicyExplain,
        Action::PublicMentions,
        Action::ClientKeyAdd,
        Action::ClientKeyRemove,
        Action::ClientKeyList,
        Action::PersonPassword,
        Action::PersonTotp,
        Action::TokenCreate,
        Action::TokenList,
        Action::TokenRevoke,
        Action::SessionLogin,
        Action::SessionLogout,
        Action::SessionShow,
        Action::PersonContact,
        Action::NotifyConfig,
        Action::NotifyList,
        Action::NotifyFlush,
        Action::WebhookAdd,
        Action::WebhookList,
        Action::WebhookRemove,
        Action::SiteAdd,
        Action::SiteList,
        Action::SiteShow,
        Action::SiteCheck,
        Action::SiteRestitution,
        Action::SiteBackup,
        Action::SiteRestore,
        Action::ServerAdd,
        Action::ServerList,
        Action::ServerShow,
        Action::ServerAppAdd,
        Action::ServerPorts,
        Action::ServerCheck,
        Action::ServerAppCert,
        Action::ServerFail2ban,
        Action::ServerAccess,
        Action::AccessRevoke,
        Action::AccessList,
        Action::ManeuverAdd,
        Action::ManeuverList,
        Action::BastionSet,
        Action::SshdConfig,
        Action::DropCreate,
        Action::DropList,
        Action::DropShow,
        Action::DropRevoke,
        Action::DropOpen,
        Action::DropUpload,
        Action::DropReceive,
        Action::DropTerminate,
        Action::DropExpire,
    ];

    /// `noun:verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Init => "vault:init",
            Action::StoreAdd => "store:add",
            Action::StoreList => "store:list",
            Action::ClientAdd => "client:add",
            Action::ClientList => "client:list",
            Action::DatasetIngest => "dataset:ingest",
            Action::DatasetList => "dataset:list",
            Action::DatasetShow => "dataset:show",
            Action::DatasetGet => "dataset:get",
            Action::DatasetVerify => "dataset:verify",
            Action::DatasetExport => "dataset:export",
            Action::Fsck => "vault:fsck",
            Action::CatalogMigrate => "vault:migrate",
            Action::ContractAdd => "contract:add",
            Action::ContractDeal => "contract:deal",
            Action::ContractSet => "contract:set",
            Action::ContractShow => "contract:show",
            Action::ContractList => "contract:list",
            Action::Sweep => "vault:sweep",
            Action::DatasetDestroy => "dataset:destroy",
            Action::DatasetHold => "dataset:hold",
            Action::DatasetRelease => "dataset:release",
            Action::CopyOut => "copy:out",
            Action::CopyList => "copy:list",
            Action::CopyAttest => "copy:attest",
            Action::CertificateList => "certificate:list",
            Action::CertificateShow => "certificate:show",
            Action::CertificateVerify => "certificate:verify",
            Action::PersonAdd => "person:add",
            Action::PersonList => "person:list",
            Action::PersonDisable => "person:disable",
            Action::LedgerKey => "ledger:key",
            Action::LedgerCheckpoint => "ledger:checkpoint",
            Action::LedgerEntry => "ledger:entry",
            Action::LedgerList => "ledger:list",
            Action::LedgerProof => "ledger:proof",
            Action::LedgerConsistency => "ledger:consistency",
            Action::LedgerVerify => "ledger:verify",
            Action::EnvironmentAdd => "environment:add",
            Action::EnvironmentList => "environment:list",
            Action::ApprovalRequest => "approval:request",
            Action::ApprovalList => "approval:list",
            Action::ApprovalShow => "approval:show",
            Action::ApprovalDecide => "approval:decide",
            Action::ApprovalRevoke => "approval:revoke",
            Action::PolicyValidate => "policy:validate",
            Action::PolicyShow => "policy:show",
            Action::PolicyExplain => "policy:explain",
            Action::PublicMentions => "public-mentions",
            Action::ClientKeyAdd => "client:key-add",
            Action::ClientKeyRemove => "client:key-remove",
            Action::ClientKeyList => "client:key-list",
            Action::PersonPassword => "person:password",
            Action::PersonTotp => "person:totp",
            Action::TokenCreate => "token:create",
            Action::TokenList => "token:list",
            Action::TokenRevoke => "token:revoke",
            Action::SessionLogin => "session:login",
            Action::SessionLogout => "session:logout",
            Action::SessionShow => "session:show",
            Action::PersonContact => "person:contact",
            Action::NotifyConfig => "notify:config",
            Action::NotifyList => "notify:list",
            Action::NotifyFlush => "notify:flush",
            Action::WebhookAdd => "webhook:add",
            Action::WebhookList => "webhook:list",
            Action::WebhookRemove => "webhook:remove",
            Action::SiteAdd => "site:add",
            Action::SiteList => "site:list",
            Action::SiteShow => "site:show",
            Action::SiteCheck => "site:check",
            Action::SiteRestitution => "site:restitution",
            Action::SiteBackup => "site:backup",
            Action::SiteRestore => "site:restore",
            Action::ServerAdd => "server:add",
            Action::ServerList => "server:list",
            Action::ServerShow => "server:show",
            Action::ServerAppAdd => "server:app-add",
            Action::ServerPorts => "server:ports",
            Action::ServerCheck => "server:check",
            Action::ServerAppCert => "server:app-cert",
            Action::ServerFail2ban => "server:fail2ban",
            Action::ServerAccess => "server:access",
            Action::AccessRevoke => "access:revoke",
            Action::AccessList => "access:list",
            Action::ManeuverAdd => "maneuver:add",
            Action::ManeuverList => "maneuver:list",
            Action::BastionSet => "bastion:set",
            Action::SshdConfig => "sshd:config",
            Action::DropCreate => "drop:create",
            Action::DropList => "drop:list",
            Action::DropShow => "drop:show",
            Action::DropRevoke => "drop:revoke",
            Action::DropOpen => "drop:open",
            Action::DropUpload => "drop:upload",
            Action::DropReceive => "drop:receive",
            Action::DropTerminate => "drop:terminate",
            Action::DropExpire => "drop:expire",
        }
    }

    /// Whether the operation only reads the catalog (its event aside): the door then runs
    /// its decision and its reads in one read transaction, one snapshot. An operation
    /// listed here that tried to write would fail (SQLite refuses a write transaction
    /// inside a read one), and `every_operation_kind_appends_exactly_one_event` runs them all.
    pub fn reads_only(self) -> bool {
        matches!(
            self,
            Action::DatasetShow
                | Action::DatasetList
                | Action::ContractShow
                | Action::ContractList
                | Action::CertificateList
                | Action::LedgerEntry
                | Action::LedgerList
                | Action::LedgerKey
                | Action::ClientList
                | Action::StoreList
                | Action::PersonList
                | Action::ClientKeyList
                | Action::TokenList
                | Action::SessionShow
                | Action::EnvironmentList
                | Action::CopyList
                | Action::DropList
                | Action::DropShow
                | Action::NotifyList
                | Action::SiteList
                | Action::SiteShow
                | Action::ServerList
                | Action::ServerShow
                | Action::AccessList
                | Action::ManeuverList
        )
    }

    /// The action named `noun:verb`.
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed and performed.
    Allowed,
    /// Refused by the policy.
    Denied,
    /// Allowed, but it failed (bad input, I/O, integrity); it changed nothing.
    Failed,
}

impl Outcome {
    /// The word in the entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One ledger entry, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Who: `person:<handle>`.
    pub actor: String,
    /// What.
    pub action: Action,
    /// To what: `kind:id`, the most specific first.
    pub resources: Vec<String>,
    /// Whether the policy allowed it.
    pub allowed: bool,
    /// The clause that decided.
    pub clause: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Hex SHA-256 of salt || details.
    pub commitment: String,
}

const MAGIC: &str = "gardien-event/v1";

fn clean(field: &str, v: &str) -> Result<(), Error> {
    if v.is_empty() || v.contains(['\n', '\r']) {
        return Err(Error::Corrupt(format!("event {field} '{v}' is empty or spans lines")));
    }
    Ok(())
}

impl Event {
    /// The canonical bytes: one `key value` line per field, in a fixed order.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        clean("time", &self.time)?;
        clean("actor", &self.actor)?;
        clean("clause", &self.clause)?;
        let mut s = format!("{MAGIC}\ntime {}\nactor {}\naction {}\n", self.time, self.actor, self.action);
        for r in &self.resources {
            clean("resource", r)?;
            s.push_str(&format!("resource {r}\n"));
        }
        s.push_str(&format!(
            "decision {} {}\noutcome {}\ncommitment {}\n",
            if self.allowed { "allow" } else { "deny" },
            self.clause,
            self.outcome.as_str(),
            self.commitment
        ));
        Ok(s.into_bytes())
    }

    /// Decodes an entry; anything not in the canonical form is refused.
    pub fn decode(bytes: &[u8]) -> Result<Event, Error> {
        let bad = |why: &str| Error::Corrupt(format!("ledger entry is not a gardien event: {why}"));
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let mut lines = text.strip_suffix('\n').ok_or_else(|| bad("no final newline"))?.split('\n');
        if lines.next() != Some(MAGIC) {
            return Err(bad("unknown version"));
        }
        let mut field = |name: &str| -> Result<String, Error> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("no {name} line")))
        };
        let time = field("time")?;
        let actor = field("actor")?;
        let action = Action::parse(&field("action")?).ok_or_else(|| bad("unknown action"))?;
        let rest: Vec<String> = std::iter::from_fn(|| lines.next().map(str::to_owned)).collect();
        let mut resources = Vec::new();
        let mut it = rest.into_iter().peekable();
        while let Some(r) = it.next_if(|l| l.starts_with("resource ")) {
            resources.push(r["resource ".len()..].to_owned());
        }
        let decision =
            it.next().and_then(|l| l.strip_prefix("decision ").map(str::to_owned)).ok_or_else(|| bad("no decision"))?;
        let (verdict, clause) = decision.split_once(' ').ok_or_else(|| bad("bad decision"))?;
        let allowed = match verdict {
            "allow" => true,
            "deny" => false,
            _ => return Err(bad("bad decision")),
        };
        let outcome = match it.next().as_deref().and_then(|l| l.strip_prefix("outcome ")) {
            Some("allowed") => Outcome::Allowed,
            Some("denied") => Outcome::Denied,
            Some("failed") => Outcome::Failed,
            _ => return Err(bad("bad outcome")),
        };
        let commitment = it
            .next()
            .and_then(|l| l.strip_prefix("commitment ").map(str::to_owned))
            .ok_or_else(|| bad("no commitment"))?;
        if it.next().is_some() {
            return Err(bad("trailing lines"));
        }
        let e = Event { time, actor, action, resources, allowed, clause: clause.to_owned(), outcome, commitment };
        if e.encode()? != bytes {
            return Err(bad("not canonical"));
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_refuse_non_canonical() {
        let e = Event {
            time: "2026-11-23T12:00:00Z".into(),
            actor: "person:operator".into(),
            action: Action::DatasetGet,
            resources: vec!["dataset:ds-0011223344556677".into(), "client:acme".into()],
            allowed: true,
            clause: "OPS-1".into(),
            outcome: Outcome::Allowed,
            commitment: "00".repeat(32),
        };
        let b = e.encode().unwrap();
        assert_eq!(Event::decode(&b).unwrap(), e);
        let text = String::from_utf8(b).unwrap();
        assert!(
            text.starts_with(
                "gardien-event/v1\ntime 2026-11-23T12:00:00Z\nactor person:operator\naction dataset:get\n"
            )
        );
        assert!(Event::decode(text.replace("allowed", "failed").as_bytes()).is_ok());
        assert!(Event::decode(text.replace("\n", "\r\n").as_bytes()).is_err());
        assert!(Event::decode(format!("{text}extra\n").as_bytes()).is_err());
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
    }
}
