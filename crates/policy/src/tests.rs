//! The policy, executable: every role × every action × every phase × without and with the
//! approval that matters for the role, against `expected` — `clauses.md` written as a
//! table, independently of the Cedar files. A new action in the schema fails the table
//! until it has its row.

use super::*;

const TOM: &str = "tom"; // the technical operator the sample is addressed to

fn engine() -> Engine {
    Engine::new(vec![]).unwrap()
}

fn actor(role: &str, client: Option<&str>) -> Actor {
    let handle = match role {
        "technical-operator" => TOM.to_owned(),
        r => format!("{r}-{}", client.unwrap_or("staff")),
    };
    Actor { handle, role: role.into(), client: client.map(str::to_owned) }
}

fn actor_of(role: &str) -> Actor {
    let client = ROLES[3..].contains(&role).then_some("a");
    actor(role, client)
}

/// The approval kind that matters for a role; the table runs without it and with it.
fn relevant_approval(role: &str) -> Option<&'static str> {
    match role {
        "third-party" => Some("disclosure"),
        "technical-operator" => Some("sample-reuse"),
        "client-tech" => Some("server-access"),
        _ => None,
    }
}

/// The resource kinds an action applies to, as the schema says.
fn resources_for(action: &str, phase: &str) -> Vec<Resource> {
    let dphase = phase.to_owned();
    let cphase = if phase == "destroyed" { "closed".to_owned() } else { phase.to_owned() };
    let dataset = |class: &str| Resource::Dataset {
        id: format!("ds-{class}"),
        client: "a".into(),
        class: class.into(),
        phase: dphase.clone(),
        addressed_to: (class == "presales-sample").then(|| TOM.to_owned()),
    };
    let client = Resource::Client { slug: "a".into(), phase: cphase.clone() };
    match action {
        "vault:init" | "store:list" | "client:list" | "vault:fsck" | "vault:migrate" | "vault:sweep"
        | "person:list" | "ledger:key" | "ledger:checkpoint" | "ledger:consistency" | "ledger:verify"
        | "certificate:verify" | "policy:validate" | "policy:show" | "policy:explain" | "environment:list"
        | "store:add" | "client:add" | "environment:add" | "notify:config" | "notify:list" | "notify:flush"
        | "webhook:add" | "webhook:list" | "webhook:remove" => {
            vec![Resource::Vault]
        }
        "dataset:list" | "contract:list" | "copy:list" | "certificate:list" | "ledger:list" | "approval:list"
        | "public-mentions" | "person:add" | "dataset:ingest" | "contract:add" | "approval:request" => {
            vec![Resource::Vault, client]
        }
        "dataset:get" | "dataset:export" | "copy:out" | "dataset:show" | "dataset:verify" | "dataset:hold"
        | "dataset:release" | "dataset:destroy" | "copy:attest" => {
            vec![dataset("presales-sample"), dataset("loading-data")]
        }
        "client:key-add" | "client:key-remove" | "client:key-list" => {
            vec![Resource::Client { slug: "a".into(), phase: cphase }]
        }
        "contract:deal" | "contract:set" | "contract:show" => {
            vec![Resource::Contract { case: "case-a".into(), client: "a".into(), phase: cphase }]
        }
        "certificate:show" => vec![Resource::Certificate { id: "cert-1".into(), client: "a".into() }],
        "person:disable" | "person:password" | "person:totp" | "token:create" | "token:list" | "token:revoke"
        | "session:login" | "session:logout" | "session:show" | "person:contact" => {
            vec![Resource::Person(actor("client-tech", Some("a")))]
        }
        "ledger:entry" | "ledger:proof" => {
            vec![Resource::Entry { index: 7, client: Some("a".into()) }, Resource::Entry { index: 8, client: None }]
        }
        "approval:show" | "approval:decide" | "approval:revoke" => vec![Resource::Approval {
            id: "ap-1".into(),
            client: "a".into(),
            kind: "observation".into(),
            status: "requested".into(),
            requester: "sales-staff".into(),
            beneficiary: None,
        }],
        "drop:create" => vec![client],
        "site:add" | "site:show" | "site:check" | "site:backup" | "site:restitution" => {
            vec![Resource::Client { slug: "a".into(), phase: cphase }]
        }
        "site:list" => vec![Resource::Vault, client],
        "site:restore" => vec![dataset("presales-sample"), dataset("loading-data")],
        "drop:list" => vec![Resource::Vault, client],
        "drop:show" | "drop:revoke" | "drop:open" | "drop:upload" | "drop:receive" | "drop:terminate"
        | "drop:expire" => vec![
            // Addressed to the table's technical operator, and one addressed to another.
            Resource::Drop {
                id: "dr-1".into(),
                client: "a".into(),
                addressed_to: TOM.into(),
                created_by: "ops-staff".into(),
            },
            Resource::Drop {
                id: "dr-2".into(),
                client: "a".into(),
                addressed_to: "tina".into(),
                created_by: "ops-staff".into(),
            },
        ],
        "server:add" => vec![Resource::Vault],
        "server:list" => vec![Resource::Vault, client],
        "server:check" | "server:app-cert" => vec![
            Resource::Vault,
            Resource::Server { name: "shared-1".into(), client: None, shared: true },
            Resource::Server { name: "dedicated-a".into(), client: Some("a".into()), shared: false },
        ],
        "server:show" | "server:app-add" | "server:ports" | "server:fail2ban" => vec![
            Resource::Server { name: "shared-1".into(), client: None, shared: true },
            Resource::Server { name: "dedicated-a".into(), client: Some("a".into()), shared: false },
        ],
        "server:access" | "access:revoke" => vec![
            Resource::Server { name: "shared-1".into(), client: None, shared: true },
            Resource::Server { name: "dedicated-a".into(), client: Some("a".into()), shared: false },
        ],
        "access:list" => vec![Resource::Vault, client],
        "maneuver:add" | "maneuver:list" | "bastion:set" | "sshd:config" => vec![Resource::Vault],
        other => panic!("action {other} has no row in the policy table: add it to resources_for and expected"),
    }
}

/// A client's admin and technical contacts see their client's servers (the list of its
/// client, a server dedicated to it), never a shared one (ACC-1, ACC-2).
fn own_server(action: &str, res: &Resource) -> Option<&'static str> {
    match (action, res) {
        ("server:list" | "access:list", Resource::Client { .. })
        | ("server:show" | "server:check", Resource::Server { client: Some(_), .. }) => Some("ACC-2"),
        _ => None,
    }
}

/// A client's admin, signer and technical contacts read the catalog of maneuvers, and end
/// access given on a server of their client (ACC-2); never on a shared server (ACC-1).
fn catalog_or_revoke(action: &str, res: &Resource) -> Option<&'static str> {
    match (action, res) {
        ("maneuver:list", Resource::Vault) | ("access:revoke", Resource::Server { client: Some(_), .. }) => {
            Some("ACC-2")
        }
        _ => None,
    }
}

/// What clauses.md says, as a decision and the clause that must be among its reasons.
fn expected(role: &str, action: &str, res: &Resource, approval: Option<&str>) -> (bool, &'static str) {
    const ANYONE: [&str; 7] = [
        "policy:explain",
        "policy:show",
        "ledger:key",
        "ledger:checkpoint",
        "ledger:consistency",
        "ledger:verify",
        "certificate:verify",
    ];
    let client_role = ROLES[3..].contains(&role);
    let read_data = matches!(action, "dataset:get" | "dataset:export" | "copy:out" | "site:restore");
    let (class, phase) = match res {
        Resource::Dataset { class, phase, .. } => (class.as_str(), phase.as_str()),
        _ => ("", ""),
    };
    let sample = class == "presales-sample";
    // Forbids first: nothing overrides them.
    // Credentials are their owner's (the table's person is another): ops sets passwords,
    // resets second factors, lists and revokes tokens; nobody signs in as another.
    if matches!(
        action,
        "person:password"
            | "person:totp"
            | "token:create"
            | "token:list"
            | "token:revoke"
            | "session:login"
            | "session:logout"
            | "session:show"
            | "person:contact"
    ) {
        let ops_may =
            matches!(action, "person:password" | "person:totp" | "token:list" | "token:revoke" | "person:contact");
        let own = matches!(res, Resource::Person(p) if p.handle == actor_of(role).handle);
        return ((role == "ops" && ops_may) || own, "OPS-1");
    }
    // A drop's sender acts by its link and password: no person does it in their place.
    if matches!(action, "drop:open" | "drop:upload" | "drop:receive" | "drop:terminate" | "drop:expire") {
        return (false, "PRE-1");
    }
    // A third party lists its client's approvals (the rows naming it, a listing's filter);
    // an approval naming it is `third_parties_see_the_approvals_naming_them`.
    if role == "third-party" && action == "approval:list" && matches!(res, Resource::Client { .. }) {
        return (true, "CONF-1");
    }
    if role == "third-party"
        && !ANYONE.contains(&action)
        && !(approval.is_some() && matches!(action, "dataset:get" | "dataset:show"))
    {
        return (false, "CONF-2");
    }
    // The table's copies have no holder named: only ops attests them (PRE-6; holders are
    // `the_holder_of_a_copy_attests_it`).
    if action == "copy:attest" && role != "ops" {
        return (false, "PRE-6");
    }
    if read_data && phase == "destroyed" {
        return (false, "PRE-6");
    }
    if matches!(action, "dataset:get" | "copy:out" | "site:restore") && sample && role != "technical-operator" {
        return (false, "PRE-3");
    }
    if action == "dataset:export" && sample && role != "client-admin" {
        return (false, "PRE-3");
    }
    // A sample's plaintext leaves only as a tracked copy (copy out), never downloaded.
    if matches!(action, "dataset:get" | "site:restore") && sample {
        return (false, "PRE-5");
    }
    // The table's copy goes to the technical operator's own local test machine, and the
    // sample is already installed elsewhere: PRE-4 asks for the provider's approval.
    if action == "copy:out" && sample && approval != Some("sample-reuse") {
        return (false, "PRE-4");
    }
    if matches!(action, "dataset:get" | "copy:out" | "site:restore")
        && phase == "admin-window"
        && role != "client-admin"
    {
        return (false, "OPS-4");
    }
    if read_data && phase == "closed" && !(action == "dataset:export" && role == "ops") {
        return (false, "ARC-1");
    }
    // A client's keys are its admin's to register (OPS-2: an export reaches the client).
    if matches!(action, "client:key-add" | "client:key-remove") && role != "client-admin" {
        return (false, "OPS-2");
    }
    if action == "approval:decide" && role != "client-signer" {
        return (false, "CONF-1");
    }
    if let Resource::Server { shared, .. } = res
        && client_role
        && action == "server:access"
    {
        if *shared {
            return (false, "ACC-1");
        }
        if approval != Some("server-access") {
            return (false, "ACC-3");
        }
    }
    if client_role && matches!(action, "drop:create" | "drop:revoke") {
        return (false, "OPS-1");
    }
    // A ledger entry about no client is the operator's, like the vault itself.
    let vault_wide = matches!(res, Resource::Vault | Resource::Entry { client: None, .. });
    if client_role
        && vault_wide
        && matches!(
            action,
            "dataset:list"
                | "contract:list"
                | "copy:list"
                | "certificate:list"
                | "ledger:list"
                | "approval:list"
                | "public-mentions"
                | "approval:request"
                | "drop:list"
                | "site:list"
                | "server:list"
                | "access:list"
                | "server:check"
        )
    {
        return (false, "OPS-1");
    }
    // Then what each role may do.
    if ANYONE.contains(&action) {
        return (true, if role == "ops" { "OPS-1" } else { "PROOF-1" });
    }
    let allowed: Option<&'static str> = match role {
        "ops" => Some("OPS-1"),
        "technical-operator" => match action {
            "dataset:get" | "copy:out" | "dataset:show" | "dataset:verify" | "copy:attest" if sample => Some("PRE-3"),
            "environment:add" | "environment:list" | "dataset:list" | "copy:list" | "approval:request"
            | "approval:list" | "certificate:list" | "drop:create" | "drop:list" => Some("PRE-3"),
            "site:list" | "site:show" | "site:check" => Some("OPS-2"),
            "drop:show" | "drop:revoke" if matches!(res, Resource::Drop { addressed_to, .. } if addressed_to == TOM) => {
                Some("PRE-3")
            }
            _ => None,
        },
        "sales" => matches!(
            action,
            "client:add"
                | "client:list"
                | "contract:add"
                | "contract:deal"
                | "contract:set"
                | "contract:show"
                | "contract:list"
                | "approval:request"
                | "approval:list"
                | "approval:show"
                | "certificate:list"
        )
        .then_some("PRE-6"),
        // Their own client's resources only (resources_for builds them in client a).
        "client-admin" => (!vault_wide
            && matches!(
                action,
                "dataset:list"
                    | "dataset:show"
                    | "dataset:get"
                    | "dataset:export"
                    | "dataset:verify"
                    | "copy:list"
                    | "certificate:list"
                    | "certificate:show"
                    | "contract:list"
                    | "contract:show"
                    | "ledger:list"
                    | "ledger:entry"
                    | "ledger:proof"
                    | "approval:list"
                    | "approval:show"
                    | "approval:request"
                    | "public-mentions"
                    | "client:key-add"
                    | "client:key-remove"
                    | "client:key-list"
                    | "drop:list"
                    | "drop:show"
                    | "site:list"
                    | "site:show"
                    | "site:restitution"
            ))
        .then_some(if action.starts_with("drop:") { "PROOF-1" } else { "OPS-2" })
        .or_else(|| own_server(action, res))
        .or_else(|| catalog_or_revoke(action, res)),
        "client-signer" => (!vault_wide
            && matches!(
                action,
                "approval:decide"
                    | "approval:revoke"
                    | "approval:list"
                    | "approval:show"
                    | "approval:request"
                    | "dataset:list"
                    | "dataset:show"
                    | "certificate:list"
                    | "certificate:show"
                    | "contract:list"
                    | "contract:show"
                    | "ledger:list"
                    | "public-mentions"
            ))
        .then_some("CONF-1")
        .or_else(|| catalog_or_revoke(action, res)),
        "client-tech" => match action {
            "approval:request" | "approval:list" | "approval:show" if !vault_wide => Some("ACC-2"),
            "site:list" | "site:show" if !vault_wide => Some("OPS-2"),
            "server:list" | "server:show" | "access:list" | "server:check" => own_server(action, res),
            "server:access" => Some("ACC-2"),
            "maneuver:list" | "access:revoke" => catalog_or_revoke(action, res),
            _ => None,
        },
        "third-party" => match (action, approval) {
            ("dataset:get" | "dataset:show", Some(_)) => Some("CONF-1"),
            _ => None,
        },
        other => panic!("role {other} is not in the table"),
    };
    match allowed {
        Some(clause) => (true, clause),
        None => (false, DEFAULT_CLAUSE),
    }
}

/// A backup of client a, in `phase`.
fn backup_of_a(phase: &str) -> Resource {
    Resource::Dataset {
        id: "ds-b".into(),
        client: "a".into(),
        class: "backup".into(),
        phase: phase.into(),
        addressed_to: None,
    }
}

fn context(action: &str, approval: Option<&str>) -> Context {
    Context {
        approvals: approval.iter().map(|a| (*a).to_owned()).collect(),
        environment: (action == "copy:out").then(|| Environment {
            name: "tom-laptop".into(),
            kind: "local-test".into(),
            holder: Some(actor_of("technical-operator")),
        }),
        other_environment: action == "copy:out",
        kind: (action == "approval:request").then(|| "server-access".to_owned()),
        holder_approvals: None,
        // The table's export goes to a key the client registered (see
        // `exports_go_only_to_the_clients_keys` for the others).
        client_key: matches!(action, "dataset:export" | "site:restitution").then_some(true),
        copy_holder: None,
    }
}

#[test]
fn every_role_action_phase_and_approval() {
    let e = engine();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for action in e.actions() {
        for phase in ["pre-sales", "operation", "admin-window", "closed", "destroyed"] {
            for res in resources_for(&action, phase) {
                for role in ROLES {
                    for approval in [None, relevant_approval(role)].into_iter().collect::<HashSet<_>>() {
                        let who = actor_of(role);
                        let ctx = context(&action, approval);
                        let got = e.decide(&who, &action, &res, &ctx).unwrap();
                        // The schema-checked path decides the same (and the request fits
                        // the schema).
                        assert_eq!(e.decide_checked(&who, &action, &res, &ctx).unwrap(), got, "{role} {action}");
                        let (allowed, clause) = expected(role, &action, &res, approval);
                        checked += 1;
                        if got.allowed != allowed || !got.clauses.iter().any(|c| c == clause) {
                            wrong.push(format!(
                                "{role} {action} {} phase={phase} approval={approval:?}: want {} ({clause}), got {} ({}: {})",
                                res.name(),
                                if allowed { "ALLOW" } else { "DENY" },
                                if got.allowed { "ALLOW" } else { "DENY" },
                                got.clause_list(),
                                got.reason()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {checked} decisions differ from the table:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked > 3000, "only {checked} decisions checked");
    eprintln!("{checked} decisions checked");
}

#[test]
fn client_people_never_reach_another_client() {
    let e = engine();
    for role in &ROLES[3..] {
        let who = actor(role, Some("b"));
        for action in e.actions() {
            for res in resources_for(&action, "operation") {
                if matches!(res, Resource::Vault | Resource::Person(_))
                    || matches!(&res, Resource::Server { client: None, .. } | Resource::Entry { client: None, .. })
                {
                    continue;
                }
                let ctx = Context {
                    approvals: ROLES.iter().map(|_| "disclosure".to_owned()).collect(),
                    ..context(&action, None)
                };
                let got = e.decide(&who, &action, &res, &ctx).unwrap();
                assert!(!got.allowed, "{role} of client b did {action} on {} of client a", res.name());
                assert!(got.clauses.contains(&"OPS-1".to_owned()), "{role} {action}: {got:?}");
            }
        }
    }
}

/// PRE-3, PRE-4, PRE-5 for a copy of a sample, one variation at a time.
#[test]
fn where_a_sample_may_go() {
    let e = engine();
    let sample = Resource::Dataset {
        id: "ds-1".into(),
        client: "a".into(),
        class: "presales-sample".into(),
        phase: "pre-sales".into(),
        addressed_to: Some(TOM.into()),
    };
    let tom = actor_of("technical-operator");
    let other_tech = Actor { handle: "tess".into(), role: "technical-operator".into(), client: None };
    let env = |kind: &str, holder: &str| Environment {
        name: "env".into(),
        kind: kind.into(),
        holder: Some(Actor { handle: holder.into(), role: "technical-operator".into(), client: None }),
    };
    let check = |who: &Actor, env: Option<Environment>, other: bool, approvals: &[&str], want: (bool, &str)| {
        let ctx = Context {
            approvals: approvals.iter().map(|a| (*a).to_owned()).collect(),
            environment: env,
            other_environment: other,
            ..Context::default()
        };
        let got = e.decide(who, "copy:out", &sample, &ctx).unwrap();
        assert_eq!((got.allowed, got.clauses.contains(&want.1.to_owned())), (want.0, true), "{ctx:?}: {got:?}");
    };
    check(&tom, Some(env("local-test", TOM)), false, &[], (true, "PRE-3"));
    check(&tom, Some(env("online", TOM)), false, &[], (false, "PRE-5"));
    check(&tom, None, false, &[], (false, "PRE-5"));
    check(&tom, Some(env("local-test", "tess")), false, &[], (false, "PRE-3"));
    check(&other_tech, Some(env("local-test", "tess")), false, &[], (false, "PRE-3"));
    check(&tom, Some(env("local-test", TOM)), true, &[], (false, "PRE-4"));
    check(&tom, Some(env("local-test", TOM)), true, &["sample-reuse"], (true, "PRE-3"));
    // An approval does not make an online environment acceptable.
    check(&tom, Some(env("online", TOM)), true, &["sample-reuse"], (false, "PRE-5"));
}

#[test]
fn approvals_are_decided_by_a_signer_other_than_the_requester() {
    let e = engine();
    let signer = actor_of("client-signer");
    let own = Resource::Approval {
        id: "ap-2".into(),
        client: "a".into(),
        kind: "disclosure".into(),
        status: "requested".into(),
        requester: signer.handle.clone(),
        beneficiary: None,
    };
    let got = e.decide(&signer, "approval:decide", &own, &Context::default()).unwrap();
    assert!(!got.allowed && got.clauses == ["OPS-1"], "{got:?}");
    // A client-tech may ask for server access only.
    let tech = actor_of("client-tech");
    let client = Resource::Client { slug: "a".into(), phase: "operation".into() };
    let ask = |kind: &str| Context { kind: Some(kind.into()), ..Context::default() };
    assert!(e.decide(&tech, "approval:request", &client, &ask("server-access")).unwrap().allowed);
    assert!(!e.decide(&tech, "approval:request", &client, &ask("disclosure")).unwrap().allowed);
}

#[test]
fn operator_files_are_added_and_checked_with_file_and_line() {
    let extra = |text: &str| vec![Source { name: "site.cedar".into(), text: text.into() }];
    // A well-formed addition applies.
    let e = Engine::new(extra(
        "@id(\"sales-sees-datasets\")\n@clause(\"OPS-1\")\npermit (principal, action == Action::\"dataset:list\", resource)\nwhen { principal.role == \"sales\" };\n",
    ))
    .unwrap();
    let got = e.decide(&actor_of("sales"), "dataset:list", &Resource::Vault, &Context::default()).unwrap();
    assert!(got.allowed && got.policies == ["sales-sees-datasets"], "{got:?}");
    // ...but cannot override a forbid.
    let e = Engine::new(extra("@clause(\"OPS-1\")\npermit (principal, action, resource);\n")).unwrap();
    let tp = actor_of("third-party");
    let ds = resources_for("dataset:get", "operation").pop().unwrap();
    let got = e.decide(&tp, "dataset:get", &ds, &Context::default()).unwrap();
    assert!(!got.allowed && got.clauses == ["CONF-2"], "{got:?}");
    // ACC-1: on a shared server, no client role is let in, even with an approval and a
    // file that permits everything.
    let shared = Resource::Server { name: "shared-1".into(), client: None, shared: true };
    let ctx = Context { approvals: vec!["server-access".into()], ..Context::default() };
    for role in &ROLES[3..] {
        let got = e.decide(&actor_of(role), "server:access", &shared, &ctx).unwrap();
        assert!(!got.allowed && got.clauses.iter().any(|c| c == "ACC-1"), "{role}: {got:?}");
    }
    // ACC-3: nor on a dedicated one without the approval in force.
    let dedicated = Resource::Server { name: "dedicated-a".into(), client: Some("a".into()), shared: false };
    let got = e.decide(&actor_of("client-tech"), "server:access", &dedicated, &Context::default()).unwrap();
    assert!(!got.allowed && got.clauses == ["ACC-3"], "{got:?}");
    for (text, want) in [
        ("\n\npermit (principal, action, resource) when { principal.rol == \"x\" };", "site.cedar"),
        ("@clause(\"OPS-1\")\npermit (principal, action, resource)\nwhen { principal.rol == \"x\" };", "site.cedar:"),
        ("@clause(\"OPS-1\")\n\npermit (principal action, resource);", "site.cedar:3:"),
        ("@clause(\"OPS-1\")\npermit (principal, action == Action::\"dataset:eat\", resource);", "dataset:eat"),
        ("permit (principal, action, resource);", "no @clause"),
        // A clause the policy does not have is no reason.
        ("@clause(\"X\")\npermit (principal, action, resource);", "cites clause 'X', which the policy"),
        ("@clause(\"OPS-9\")\npermit (principal, action, resource);", "cites clause 'OPS-9'"),
    ] {
        let err = Engine::new(extra(text)).err().unwrap().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn decisions_name_clauses_and_reasons() {
    let e = engine();
    let tp = actor_of("third-party");
    let ds = resources_for("dataset:get", "operation").pop().unwrap();
    let got = e.decide(&tp, "dataset:get", &ds, &Context::default()).unwrap();
    assert_eq!(got.clauses, ["CONF-2"]);
    assert_eq!(got.reason(), "third parties have no access to client data");
    let got = e.decide(&actor_of("sales"), "vault:fsck", &Resource::Vault, &Context::default()).unwrap();
    assert_eq!((got.allowed, got.clause_list()), (false, "OPS-1".to_owned()));
    assert!(got.reason().starts_with("no policy lets a sales do vault:fsck"), "{}", got.reason());
}

/// Policy files are outside input: every single-byte change to a shipped file (at a stride,
/// with a few replacement bytes) gives a clean `Ok` or an `Err` naming the file, never a
/// panic. A deterministic stand-in for a fuzz target.
#[test]
fn edited_policy_files_never_panic_and_errors_name_the_file() {
    // The shipped file under other ids, so that it is added beside the original.
    let text = SHIPPED[2].1.replace("@id(\"", "@id(\"edited-");
    let bytes = text.as_bytes();
    Engine::new(vec![Source { name: "edited.cedar".into(), text: text.clone() }]).unwrap();
    let mut errors = 0;
    for (n, i) in (0..bytes.len()).step_by(37).enumerate() {
        let mut b = bytes.to_vec();
        b[i] = [b'(', b'"', b'x', b';', b'@', 0xff][n % 6];
        let edited = String::from_utf8_lossy(&b).into_owned();
        if let Err(e) = Engine::new(vec![Source { name: "edited.cedar".into(), text: edited }]) {
            errors += 1;
            assert!(e.to_string().contains("edited.cedar"), "byte {i}: {e}");
        }
    }
    let edits = bytes.len().div_ceil(37);
    assert!(errors > 20 && errors < edits, "{errors} of {edits} edits were refused");
}

/// OPS-2: an export goes only to a key the client's admin registered, whoever asks and in
/// every phase; anything else is refused under OPS-2 (a copy out is the other way).
#[test]
fn exports_go_only_to_the_clients_keys() {
    let e = engine();
    for phase in ["operation", "admin-window", "closed"] {
        let backup = backup_of_a(phase);
        for role in ["ops", "client-admin"] {
            for client_key in [None, Some(false)] {
                let ctx = Context { client_key, ..Context::default() };
                let got = e.decide(&actor_of(role), "dataset:export", &backup, &ctx).unwrap();
                assert!(!got.allowed && got.clauses.contains(&"OPS-2".to_owned()), "{role} {phase}: {got:?}");
            }
        }
        // To the client's key: its admin hands it back, and in custody (ARC-1: redo the
        // reversibility) the ops team does.
        let ctx = Context { client_key: Some(true), ..Context::default() };
        let by = if phase == "closed" { "ops" } else { "client-admin" };
        assert!(e.decide(&actor_of(by), "dataset:export", &backup, &ctx).unwrap().allowed, "{phase}");
        // A site handed back whole: the same rule (OPS-2), in every phase of its client.
        let client = Resource::Client { slug: "a".into(), phase: phase.into() };
        for role in ["ops", "client-admin"] {
            for client_key in [None, Some(false)] {
                let ctx = Context { client_key, ..Context::default() };
                let got = e.decide(&actor_of(role), "site:restitution", &client, &ctx).unwrap();
                assert!(!got.allowed && got.clauses.contains(&"OPS-2".to_owned()), "{role} {phase}: {got:?}");
            }
            let ctx = Context { client_key: Some(true), ..Context::default() };
            assert!(e.decide(&actor_of(role), "site:restitution", &client, &ctx).unwrap().allowed, "{role} {phase}");
        }
    }
}

/// A copy goes to an environment held by the staff or by the data's own client; a third
/// party holds one only under an approval naming them and the dataset (CONF-1).
#[test]
fn where_a_copy_may_go_depends_on_its_holder() {
    let e = engine();
    let backup = backup_of_a("operation");
    let ops = actor_of("ops");
    let holder = |role: &str, client: Option<&str>| Environment {
        name: "env".into(),
        kind: "online".into(),
        holder: Some(Actor { handle: format!("h-{role}"), role: role.into(), client: client.map(str::to_owned) }),
    };
    let check = |env: Environment, holder_approvals: Option<Vec<String>>, want: (bool, &str)| {
        let ctx = Context { environment: Some(env), holder_approvals, ..Context::default() };
        let got = e.decide(&ops, "copy:out", &backup, &ctx).unwrap();
        assert_eq!(e.decide_checked(&ops, "copy:out", &backup, &ctx).unwrap(), got);
        assert_eq!(got.allowed, want.0, "{ctx:?}: {got:?}");
        assert!(got.clauses.contains(&want.1.to_owned()), "{ctx:?}: {got:?}");
    };
    check(holder("ops", None), None, (true, "OPS-1"));
    check(holder("client-admin", Some("a")), None, (true, "OPS-1"));
    check(holder("client-admin", Some("b")), None, (false, "OPS-1"));
    check(holder("third-party", Some("b")), Some(vec!["disclosure".into()]), (false, "OPS-1"));
    check(holder("third-party", Some("a")), None, (false, "CONF-1"));
    check(holder("third-party", Some("a")), Some(vec![]), (false, "CONF-1"));
    check(holder("third-party", Some("a")), Some(vec!["disclosure".into()]), (true, "OPS-1"));
}

/// `CLAUSES` is the list of `clauses.md` (beside the project, as CI has it).
#[test]
fn the_clause_list_is_clauses_md() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/policy/clauses.md");
    let Ok(text) = std::fs::read_to_string(path) else {
        panic!("{path} is missing: the project's ../shared must be beside it (as in CI)");
    };
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- **")?.split_once("**").map(|(id, _)| id))
        .filter(|id| id.contains('-'))
        .collect();
    assert_eq!(ids, CLAUSES);
}

/// PRE-6: the holder of a copy attests its destruction, whoever they are; nobody else but
/// the ops team does.
#[test]
fn the_holder_of_a_copy_attests_it() {
    let e = engine();
    let backup = backup_of_a("operation");
    for role in ["client-admin", "third-party", "technical-operator", "client-tech"] {
        let who = actor_of(role);
        let theirs = Context { copy_holder: Some(who.handle.clone()), ..Context::default() };
        let got = e.decide(&who, "copy:attest", &backup, &theirs).unwrap();
        assert!(got.allowed && got.clauses == ["PRE-6"], "{role}: {got:?}");
        assert_eq!(e.decide_checked(&who, "copy:attest", &backup, &theirs).unwrap(), got);
        let other = Context { copy_holder: Some("someone-else".into()), ..Context::default() };
        assert!(!e.decide(&who, "copy:attest", &backup, &other).unwrap().allowed, "{role}");
    }
}

/// Role invariants an operator's permit cannot open: nobody but ops adds or disables
/// people; the client's people do not administer the vault.
#[test]
fn nobody_grants_themselves_a_role() {
    let e = Engine::new(vec![Source {
        name: "open-bar.cedar".into(),
        text: "@id(\"x\") @clause(\"OPS-1\") @reason(\"x\") permit (principal, action, resource);".into(),
    }])
    .unwrap();
    let client = Resource::Client { slug: "a".into(), phase: "operation".into() };
    for role in ["third-party", "client-admin", "sales", "technical-operator"] {
        let got = e.decide(&actor_of(role), "person:add", &client, &Context::default()).unwrap();
        assert!(!got.allowed && got.clauses.contains(&"OPS-1".to_owned()), "{role}: {got:?}");
    }
    let contract = Resource::Contract { case: "c".into(), client: "a".into(), phase: "closed".into() };
    for role in ["third-party", "client-admin", "client-signer"] {
        let got = e.decide(&actor_of(role), "contract:set", &contract, &Context::default()).unwrap();
        assert!(!got.allowed, "{role}: {got:?}");
    }
}

/// Every person signs in and keeps their own credentials, whatever their role (a third
/// party included: that is how it reaches what an approval gives); nobody but ops touches
/// another's, and ops never signs in or makes a token as another (OPS-1). An operator's
/// permit-all file opens none of it.
#[test]
fn credentials_are_ones_own() {
    const CREDENTIALS: [&str; 8] = [
        "person:password",
        "person:totp",
        "token:create",
        "token:list",
        "token:revoke",
        "session:login",
        "session:logout",
        "session:show",
    ];
    let permit_all = vec![Source {
        name: "site.cedar".into(),
        text: "@clause(\"OPS-1\")\npermit (principal, action, resource);\n".into(),
    }];
    for extra in [vec![], permit_all] {
        let engine = Engine::new(extra.clone()).unwrap();
        for role in ROLES {
            let me = actor_of(role);
            for action in CREDENTIALS {
                let own =
                    engine.decide_checked(&me, action, &Resource::Person(me.clone()), &Context::default()).unwrap();
                assert!(own.allowed, "{role} {action} on themselves: {own:?}");
                let other = actor(if role == "client-admin" { "client-signer" } else { "client-admin" }, Some("a"));
                let d = engine.decide_checked(&me, action, &Resource::Person(other), &Context::default()).unwrap();
                let ops_may = matches!(action, "person:password" | "person:totp" | "token:list" | "token:revoke");
                assert_eq!(
                    d.allowed,
                    role == "ops" && ops_may,
                    "{role} {action} on another ({} files): {d:?}",
                    extra.len()
                );
                if !d.allowed {
                    assert!(d.clauses.contains(&"OPS-1".to_owned()), "{role} {action}: {d:?}");
                }
            }
        }
    }
}

/// A third party sees the approvals that name it, and so what each lets it see; no other
/// approval of its client, none of another client (CONF-1, CONF-2).
#[test]
fn third_parties_see_the_approvals_naming_them() {
    let e = engine();
    let tp = actor_of("third-party");
    let approval = |client: &str, beneficiary: Option<&str>| Resource::Approval {
        id: "ap-3".into(),
        client: client.into(),
        kind: "observation".into(),
        status: "approved".into(),
        requester: "sales-staff".into(),
        beneficiary: beneficiary.map(str::to_owned),
    };
    let show = |r: &Resource| e.decide_checked(&tp, "approval:show", r, &Context::default()).unwrap();
    let mine = show(&approval("a", Some(&tp.handle)));
    assert!(mine.allowed && mine.clauses == ["CONF-1"], "{mine:?}");
    assert!(!show(&approval("a", Some("someone-else"))).allowed);
    assert!(!show(&approval("a", None)).allowed);
    assert!(!show(&approval("b", Some(&tp.handle))).allowed, "another client's");
    for action in ["approval:decide", "approval:revoke"] {
        assert!(!e.decide_checked(&tp, action, &approval("a", Some(&tp.handle)), &Context::default()).unwrap().allowed);
    }
    let other = Resource::Client { slug: "b".into(), phase: "operation".into() };
    assert!(!e.decide_checked(&tp, "approval:list", &other, &Context::default()).unwrap().allowed);
}
