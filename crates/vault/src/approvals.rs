//! Requests that need the client, and its signer's decisions: a disclosure to a third party
//! (CONF-1), an observation of practices with its declared scope (CONF-4), the re-use of
//! pedagogical material (CONF-3, stated on the public page), the re-use of a pre-sales
//! sample in another environment (PRE-4), server access with its catalog of maneuvers
//! (ACC-2). The policy reads the approvals in force; this module keeps them: the scope never
//! changes after the request, nobody decides their own request, an approval expires at its
//! `until`, and every transition is a ledger event.

use chrono::{DateTime, Utc};
use rand::RngCore as _;

use crate::catalog::ApprovalRow;
use crate::door::Ask;
use crate::event::Action;
use crate::{Error, Outcome, Vault, rfc3339, text};

/// The kinds of approval, with the clause each serves.
pub const KINDS: [&str; 5] = ["disclosure", "observation", "material-reuse", "sample-reuse", "server-access"];

/// The clause behind a kind.
pub fn kind_clause(kind: &str) -> &'static str {
    match kind {
        "disclosure" => "CONF-1",
        "observation" => "CONF-4",
        "material-reuse" => "CONF-3",
        "sample-reuse" => "PRE-4",
        _ => "ACC-2",
    }
}

/// What `approval request` asks.
#[derive(Debug, Default)]
pub struct NewApproval<'a> {
    /// One of `KINDS`.
    pub kind: &'a str,
    /// The client who decides.
    pub client: &'a str,
    /// What is asked, in full.
    pub scope: &'a str,
    /// The one person it is for, if one.
    pub for_handle: Option<&'a str>,
    /// The datasets it covers (none: all of the client's).
    pub datasets: &'a [String],
    /// When it expires (a day: through that day).
    pub until: Option<&'a str>,
    /// `server-access`: the server.
    pub server: Option<&'a str>,
    /// `server-access`: the maneuvers allowed.
    pub maneuvers: &'a [String],
}

/// Whether an approval is in force at `now`.
pub fn in_force(a: &ApprovalRow, now: &str) -> bool {
    a.status == "approved" && a.until.as_deref().is_none_or(|u| u > now)
}

impl Vault {
    /// Records a request; the client's signer decides it later.
    pub fn request_approval(&self, req: &NewApproval<'_>, now: DateTime<Utc>) -> Result<ApprovalRow, Error> {
        let mut resources = vec![format!("client:{}", req.client)];
        resources.extend(req.for_handle.map(|h| format!("person:{h}")));
        resources.extend(req.datasets.iter().map(|d| format!("dataset:{d}")));
        let details = format!("kind={} scope={}", req.kind, req.scope);
        let ask = Ask { clause: None, kind: Some(req.kind) };
        self.door_with(Action::ApprovalRequest, resources, details, ask, now, |rec| {
            if !KINDS.contains(&req.kind) {
                return Err(Error::BadApproval(format!(
                    "unknown approval kind '{}'; the kinds are {}",
                    req.kind,
                    KINDS.join(", ")
                )));
            }
            text::check("scope", req.scope, true)?;
            if req.scope.trim().chars().count() < 10 {
                return Err(Error::BadApproval(format!(
                    "the scope says what is asked, in full (at least a sentence): the client's signer decides on it{}",
                    if req.kind == "observation" { " (CONF-4: the client is fully informed of the scope)" } else { "" }
                )));
            }
            let (server, maneuvers) = match (req.kind, req.server, req.maneuvers) {
                ("server-access", Some(s), m) if !m.is_empty() => {
                    // A server of the client's (another client's, or a shared one, answers as
                    // unknown: it is no server of theirs, ACC-1), and maneuvers of the catalog,
                    // kept as the signer reads them: program, arguments, patterns (ACC-2).
                    let row = self
                        .catalog
                        .server(s)?
                        .filter(|row| row.client.as_deref() == Some(req.client))
                        .ok_or_else(|| Error::Unknown { what: "server", name: s.to_owned() })?;
                    rec.resources.push(format!("server:{}", row.name));
                    let mut lines: Vec<String> = Vec::new();
                    for id in m {
                        let line = self
                            .catalog
                            .maneuver(id)?
                            .map(|m| crate::grants::maneuver_line(&m))
                            .ok_or_else(|| Error::Unknown { what: "maneuver", name: id.clone() })?;
                        if !lines.contains(&line) {
                            lines.push(line);
                        }
                    }
                    (Some(row.name), Some(lines.join("\n")))
                }
                ("server-access", _, _) => {
                    return Err(Error::BadApproval(
                        "server access names the server and its catalog of maneuvers (ACC-2): --server NAME --maneuver ID... (the ids `gardien maneuver list` shows)"
                            .into(),
                    ));
                }
                (_, None, []) => (None, None),
                _ => return Err(Error::BadApproval("--server and --maneuver are for server-access only".into())),
            };
            // An approval names the one person it lets in, and that person's role fits
            // the kind: a third party of this client for a disclosure, an observation or a
            // re-use of material (CONF-1/3/4), a technical operator for a sample's re-use
            // (PRE-4), the client's technical staff for server access (ACC-2). Server
            // access is for the requester when no one else is named.
            let (role, what) = match req.kind {
                "sample-reuse" => ("technical-operator", "a technical operator"),
                "server-access" => ("client-tech", "the client's technical staff (client-tech)"),
                "material-reuse" => ("third-party", "a third party of the client, or the operator's staff"),
                _ => ("third-party", "a third party of the client"),
            };
            let for_handle = match (req.for_handle, req.kind) {
                (Some(h), _) => h.to_owned(),
                (None, "server-access") => self.actor.clone(),
                (None, k) => {
                    return Err(Error::BadApproval(format!(
                        "an approval for {k} names the person it lets in: --for HANDLE ({what}); the signer sees exactly who"
                    )));
                }
            };
            // Disabled, or another client's person: answered as unknown (no existence
            // leaks across clients).
            // To a client's person, the operator's staff are not theirs to know of either.
            let asker_is_client = self.catalog.person(&self.actor)?.is_some_and(|a| a.client.is_some());
            let p = self
                .catalog
                .person(&for_handle)?
                .filter(|p| p.disabled.is_none())
                .filter(|p| match p.client.as_deref() {
                    Some(c) => c == req.client,
                    None => !asker_is_client,
                })
                .ok_or_else(|| Error::Unknown { what: "person", name: for_handle.clone() })?;
            let own_client = p.client.as_deref() == Some(req.client);
            // Pedagogical material may also be re-used by the operator itself (CONF-3: its
            // demonstrator), on the client's formal agreement.
            let staff_reuse = req.kind == "material-reuse" && p.client.is_none();
            if !staff_reuse && (p.role != role || (role != "technical-operator" && !own_client)) {
                return Err(Error::BadApproval(format!(
                    "an approval for {} is for {what}; '{for_handle}' is not one",
                    req.kind
                )));
            }
            // ...and the datasets it opens: never "all of the client's" (an observation
            // reads what it names, nothing more).
            if req.kind != "server-access" && req.datasets.is_empty() {
                return Err(Error::BadApproval(format!(
                    "an approval for {} names the datasets it opens: --dataset ID (repeat it for several)",
                    req.kind
                )));
            }
            for d in req.datasets {
                // Another client's dataset answers as an unknown one (no existence leaks).
                let f = match self.catalog.access_facts(d, now) {
                    Ok(f) if f.client == req.client => f,
                    Ok(_) | Err(Error::UnknownDataset(_) | Error::Pending(_)) => {
                        return Err(Error::UnknownDataset(d.clone()));
                    }
                    Err(e) => return Err(e),
                };
                if f.state != "active" {
                    return Err(Error::BadApproval(format!("dataset {d} was destroyed: nothing of it can be opened")));
                }
                if req.kind == "sample-reuse" && f.class != "presales-sample" {
                    return Err(Error::BadApproval(format!("dataset {d} is not a pre-sales sample (PRE-4 is about samples)")));
                }
            }
            if req.kind == "server-access" && !req.datasets.is_empty() {
                return Err(Error::BadApproval("server access opens a server, not datasets: drop --dataset".into()));
            }
            let until = match req.until {
                Some(u) => {
                    let t = lifecycle::parse_until(u)?;
                    if t <= now {
                        return Err(Error::BadApproval(format!("--until {u} is already past")));
                    }
                    Some(rfc3339(t))
                }
                None => None,
            };
            let mut b = [0u8; 6];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let a = ApprovalRow {
                id: format!("ap-{}", hex::encode(b)),
                kind: req.kind.to_owned(),
                client: req.client.to_owned(),
                scope: req.scope.trim().to_owned(),
                requester: self.actor.clone(),
                for_handle: Some(for_handle),
                server,
                maneuvers,
                until,
                status: "requested".into(),
                decided_by: None,
                decided_at: None,
                comment: None,
                revoked_at: None,
                created: rfc3339(now),
                datasets: req.datasets.to_vec(),
            };
            rec.resources.insert(0, format!("approval:{}", a.id));
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| {
                c.add_approval(&a)?;
                // Issue 15: the client's signers are told an approval waits for them.
                let facts = format!("kind={}\nuntil={}", a.kind, a.until.as_deref().unwrap_or("-"));
                let signers = c.people_in("client-signer", Some(&a.client))?;
                c.notify("approval-waiting", &signers, Some(&a.client), &a.id, &facts, &at)
            })?;
            Ok(a)
        })
    }

    /// Approvals, of one client or all.
    pub fn approvals(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<ApprovalRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::ApprovalList, resources, String::new(), now, |_| {
            let all = self.catalog.approvals(client)?;
            let shown = self.visible(all, Action::ApprovalShow, |a| format!("approval:{}", a.id), now)?;
            shown.into_iter().map(|a| self.as_seen(a, now)).collect()
        })
    }

    /// An approval as the actor sees it: a third party learns which datasets an approval
    /// opens once it is in force, not while it is asked for (nothing of the client's data,
    /// not even its ids, reaches it before the client agreed, CONF-1).
    fn as_seen(&self, mut a: ApprovalRow, now: DateTime<Utc>) -> Result<ApprovalRow, Error> {
        let third_party = self.catalog.person(&self.actor)?.is_some_and(|p| p.role == "third-party");
        if third_party && !in_force(&a, &rfc3339(now)) {
            a.datasets.clear();
        }
        Ok(a)
    }

    /// One approval, in full. Shown to someone the policy lets decide it (a signer of its
    /// client), it counts as read before the decision (CONF-4).
    pub fn approval(&self, id: &str, now: DateTime<Utc>) -> Result<ApprovalRow, Error> {
        self.door(Action::ApprovalShow, vec![format!("approval:{id}")], String::new(), now, |rec| {
            let a = self.catalog.approval(id)?;
            rec.resources.push(format!("client:{}", a.client));
            let decider = self.allowed_as(&self.actor, Action::ApprovalDecide, &[format!("approval:{id}")], now)?;
            let at = rfc3339(now);
            self.record(
                rec,
                Outcome::Allowed,
                |c| if decider { c.approval_shown(id, &self.actor, &at) } else { Ok(()) },
            )?;
            self.as_seen(a, now)
        })
    }

    /// The client's signer approves or refuses a request.
    pub fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRow, Error> {
        let details =
            format!("decision={} comment={}", if approve { "approve" } else { "refuse" }, comment.unwrap_or(""));
        self.door(Action::ApprovalDecide, vec![format!("approval:{id}")], details, now, |rec| {
            let mut a = self.catalog.approval(id)?;
            rec.resources.push(format!("client:{}", a.client));
            if a.status != "requested" {
                return Err(Error::BadApproval(format!("approval {id} was already {}; ask anew", a.status)));
            }
            if let Some(c) = comment {
                text::check("comment", c, true)?;
            }
            let at = rfc3339(now);
            if a.until.as_deref().is_some_and(|u| u <= at.as_str()) {
                return Err(Error::BadApproval(format!("approval {id} expired on {}; ask anew", a.until.unwrap_or_default())));
            }
            // CONF-4: the signer deciding is one who read the scope in full, not another.
            if a.kind == "observation" && !self.catalog.approval_shown_to(id, &self.actor)? {
                return Err(Error::Refused {
                    clauses: vec!["CONF-4".into()],
                    reason: format!(
                        "the client must be fully informed of the scope before deciding: read it first with `gardien approval show {id}`"
                    ),
                });
            }
            a.status = if approve { "approved" } else { "refused" }.to_owned();
            a.decided_by = Some(self.actor.clone());
            a.decided_at = Some(at.clone());
            a.comment = comment.map(str::to_owned);
            self.record(rec, Outcome::Allowed, |c| {
                c.decide_approval(id, &a.status, &self.actor, &at, comment)?;
                // Issue 15: the requester is told the decision.
                let facts = format!("kind={}\ndecision={}", a.kind, a.status);
                c.notify("approval-decided", &[a.requester.clone()], Some(&a.client), id, &facts, &at)?;
                // A third party is told the approval for them opens (and, later, ends).
                if a.status == "approved" {
                    let facts = format!("kind={}\nuntil={}", a.kind, a.until.as_deref().unwrap_or("-"));
                    let to = c.third_party_of(&a)?;
                    c.notify("approval-opened", &to, Some(&a.client), id, &facts, &at)?;
                }
                Ok(())
            })?;
            Ok(a)
        })
    }

    /// Withdraws a request or an approval; what it allowed stops at once.
    pub fn revoke_approval(&self, id: &str, now: DateTime<Utc>) -> Result<ApprovalRow, Error> {
        self.door(Action::ApprovalRevoke, vec![format!("approval:{id}")], String::new(), now, |rec| {
            let mut a = self.catalog.approval(id)?;
            rec.resources.push(format!("client:{}", a.client));
            if !matches!(a.status.as_str(), "requested" | "approved") {
                return Err(Error::BadApproval(format!("approval {id} is {}: nothing to revoke", a.status)));
            }
            let at = rfc3339(now);
            let was_in_force = in_force(&a, &at);
            a.status = "revoked".into();
            a.revoked_at = Some(at.clone());
            self.record(rec, Outcome::Allowed, |c| {
                c.revoke_approval(id, &at)?;
                // A third party is told an approval for them ends.
                if was_in_force {
                    let to = c.third_party_of(&a)?;
                    c.notify(
                        "approval-ended",
                        &to,
                        Some(&a.client),
                        id,
                        &format!("kind={}\nreason=revoked", a.kind),
                        &at,
                    )?;
                }
                Ok(())
            })?;
            Ok(a)
        })
    }

    /// The approved re-uses of pedagogical material in force, with their client's name,
    /// for the demonstrator's public page (CONF-3).
    pub fn public_mentions(&self, now: DateTime<Utc>) -> Result<Vec<(ApprovalRow, String)>, Error> {
        self.door(Action::PublicMentions, vec![], String::new(), now, |_| {
            let names: std::collections::HashMap<String, String> =
                self.catalog.clients()?.into_iter().map(|c| (c.slug, c.name)).collect();
            let at = rfc3339(now);
            Ok(self
                .catalog
                .approvals(None)?
                .into_iter()
                .filter(|a| a.kind == "material-reuse" && in_force(a, &at))
                .map(|a| {
                    let name = names.get(&a.client).cloned().unwrap_or_else(|| a.client.clone());
                    (a, name)
                })
                .collect())
        })
    }
}
