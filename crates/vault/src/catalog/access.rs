//! What the policy needs from the catalog, read with cached statements and indexes only
//! (a decision loads a handful of rows, never a table): environments, approvals, and the
//! facts of a request's resource.

use super::db::{Optional as _, params};
use chrono::{DateTime, Utc};

use super::Catalog;
use crate::Error;

/// A place a copy may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRow {
    /// Its name.
    pub name: String,
    /// `local-test` or `online`.
    pub kind: String,
    /// Who holds it.
    pub holder: Option<String>,
    /// When it was registered.
    pub created: String,
}

/// A request that needs the client, and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// `ap-` and 12 hex digits.
    pub id: String,
    /// `disclosure`, `observation`, `material-reuse`, `sample-reuse`, `server-access`.
    pub kind: String,
    /// The client who decides.
    pub client: String,
    /// What is asked, in full; never changed after the request.
    pub scope: String,
    /// Who asked.
    pub requester: String,
    /// Who it is for (a third party, a technical operator), if one person.
    pub for_handle: Option<String>,
    /// `server-access`: the server.
    pub server: Option<String>,
    /// `server-access`: the catalog of maneuvers, one per line.
    pub maneuvers: Option<String>,
    /// When it expires (exclusive), if it does.
    pub until: Option<String>,
    /// `requested`, `approved`, `refused`, `revoked`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// The signer's comment.
    pub comment: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When it was asked.
    pub created: String,
    /// The datasets it covers (none: all of the client's).
    pub datasets: Vec<String>,
}

/// An age key a client registered: its exports go there (OPS-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    /// The client.
    pub client: String,
    /// The age recipient (`age1...`).
    pub recipient: String,
    /// What the client calls it.
    pub label: Option<String>,
    /// When it was registered.
    pub added: String,
    /// By whom (a client admin).
    pub added_by: String,
    /// When it was removed, if it was.
    pub removed: Option<String>,
    /// By whom.
    pub removed_by: Option<String>,
}

/// The facts of a dataset the policy reads.
#[derive(Debug, Clone)]
pub struct AccessFacts {
    /// Its client.
    pub client: String,
    /// Its class.
    pub class: String,
    /// `active`, `destroying`, `destroyed`, `pending`.
    pub state: String,
    /// Its contract's phase at the time asked; `operation` without a contract.
    pub phase: lifecycle::Phase,
    /// The technical operator a sample is addressed to.
    pub addressed_to: Option<String>,
}

const APPROVAL_COLUMNS: &str = "id, kind, client, scope, requester, for_handle, server, maneuvers, until, status, decided_by, decided_at, comment, revoked_at, created";

fn approval_row(r: &super::db::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        client: r.get(2)?,
        scope: r.get(3)?,
        requester: r.get(4)?,
        for_handle: r.get(5)?,
        server: r.get(6)?,
        maneuvers: r.get(7)?,
        until: r.get(8)?,
        status: r.get(9)?,
        decided_by: r.get(10)?,
        decided_at: r.get(11)?,
        comment: r.get(12)?,
        revoked_at: r.get(13)?,
        created: r.get(14)?,
        datasets: vec![],
    })
}

impl Catalog {
    /// The policy facts of one dataset at `now`.
    pub fn access_facts(&self, id: &str, now: DateTime<Utc>) -> Result<AccessFacts, Error> {
        let row = self
            .db
            .prepare_cached("SELECT client, class, state, addressed_to, contract FROM datasets WHERE id = ?1")?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .optional()?
            .ok_or_else(|| Error::UnknownDataset(id.to_owned()))?;
        let (client, class, state, addressed_to, contract) = row;
        if state == "pending" {
            return Err(Error::Pending(id.to_owned()));
        }
        // The phase is `lifecycle::Contract::phase`, the sweeper's own reading of the
        // contract: no restatement of it here.
        let phase = match contract {
            Some(k) => self.contract(&k)?.contract.phase(now),
            None => lifecycle::Phase::Operation,
        };
        Ok(AccessFacts { client, class, state, phase, addressed_to })
    }

    /// A contract's phase at `now`, and its client.
    pub fn contract_phase(&self, name: &str, now: DateTime<Utc>) -> Result<(String, lifecycle::Phase), Error> {
        let row = self.contract(name)?;
        Ok((row.client, row.contract.phase(now)))
    }

    /// A client's phase at `now`: the most open of its contracts' (`lifecycle::Contract::
    /// most_open`); `operation` without contracts.
    pub fn client_phase(&self, slug: &str, now: DateTime<Utc>) -> Result<lifecycle::Phase, Error> {
        if !self.has_client(slug)? {
            return Err(Error::UnknownClient(slug.to_owned()));
        }
        // One contract in operation settles it (the most open phase there is): found
        // through the dates' indexes, confirmed by `lifecycle`.
        let now_s = crate::rfc3339(now);
        if self.operating_contract(slug, &now_s)?.is_some_and(|c| c.phase(now) == lifecycle::Phase::Operation) {
            return Ok(lifecycle::Phase::Operation);
        }
        // Else the contracts not closed for sure (ended with their window closed), read in
        // full and compared by `lifecycle`.
        let mut open = Vec::new();
        let any = self.open_contracts(slug, &now_s, |c| {
            let operation = c.phase(now) == lifecycle::Phase::Operation;
            open.push(c);
            !operation
        })?;
        Ok(match (any, open.is_empty()) {
            (false, _) => lifecycle::Phase::Operation,
            (true, true) => lifecycle::Phase::Closed,
            (true, false) => lifecycle::Contract::most_open(open.iter(), now),
        })
    }

    /// The kinds of the approvals in force at `now` that name `actor` and, for `dataset`,
    /// name that dataset (CONF-1, CONF-4: an approval lets in the person it names, to the
    /// datasets it names, nothing more). With no dataset, the approvals that name none
    /// (server access).
    pub fn approvals_in_force(
        &self,
        client: &str,
        actor: &str,
        dataset: Option<&str>,
        now: &str,
    ) -> Result<Vec<String>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT DISTINCT a.kind FROM approvals a
              WHERE a.client = ?1 AND a.for_handle = ?2 AND a.status = 'approved'
                AND a.decided_at <= ?3 AND (a.until IS NULL OR a.until > ?3)
                AND CASE WHEN ?4 IS NULL
                         THEN NOT EXISTS (SELECT 1 FROM approval_datasets x WHERE x.approval = a.id)
                         ELSE EXISTS (SELECT 1 FROM approval_datasets x WHERE x.approval = a.id AND x.dataset = ?4)
                    END
              ORDER BY 1",
        )?;
        let rows = st.query_map(params![client, actor, now, dataset], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether `recipient` is a key the client registered and has not removed (OPS-2).
    pub fn client_key_registered(&self, client: &str, recipient: &str) -> Result<bool, Error> {
        Ok(self
            .db
            .prepare_cached("SELECT 1 FROM client_keys WHERE client = ?1 AND recipient = ?2 AND removed IS NULL")?
            .query_row([client, recipient], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Registers a client's key, or registers again one that was removed; a key in force
    /// is an error.
    pub fn add_client_key(&self, k: &ClientKey) -> Result<(), Error> {
        let n = self.db.execute(
            "INSERT INTO client_keys (client, recipient, label, added, added_by) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (client, recipient) DO UPDATE SET label = ?3, added = ?4, added_by = ?5, removed = NULL, removed_by = NULL
             WHERE client_keys.removed IS NOT NULL",
            params![k.client, k.recipient, k.label, k.added, k.added_by],
        )?;
        if n == 0 {
            return Err(Error::Exists { what: "client key", name: k.recipient.clone() });
        }
        Ok(())
    }

    /// Removes a key in force; returns false if there is none.
    pub fn remove_client_key(&self, client: &str, recipient: &str, at: &str, by: &str) -> Result<bool, Error> {
        Ok(self.db.execute(
            "UPDATE client_keys SET removed = ?3, removed_by = ?4 WHERE client = ?1 AND recipient = ?2 AND removed IS NULL",
            params![client, recipient, at, by],
        )? == 1)
    }

    /// A client's keys, in force first, by date.
    pub fn client_keys(&self, client: &str) -> Result<Vec<ClientKey>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT client, recipient, label, added, added_by, removed, removed_by FROM client_keys
              WHERE client = ?1 ORDER BY removed IS NOT NULL, added, recipient",
        )?;
        let rows = st.query_map([client], |r| {
            Ok(ClientKey {
                client: r.get(0)?,
                recipient: r.get(1)?,
                label: r.get(2)?,
                added: r.get(3)?,
                added_by: r.get(4)?,
                removed: r.get(5)?,
                removed_by: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a dataset was copied to an environment other than `environment` (PRE-4).
    pub fn installed_elsewhere(&self, dataset: &str, environment: &str) -> Result<bool, Error> {
        Ok(self
            .db
            .prepare_cached(
                "SELECT 1 FROM out_copies WHERE dataset = ?1 AND kind = 'environment' AND environment <> ?2 LIMIT 1",
            )?
            .query_row([dataset, environment], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Registers an environment; an existing name is an error.
    pub fn add_environment(&self, e: &EnvironmentRow) -> Result<(), Error> {
        let n = self.db.execute(
            "INSERT INTO environments (name, kind, holder, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![e.name, e.kind, e.holder, e.created],
        )?;
        if n == 0 {
            return Err(Error::Exists { what: "environment", name: e.name.clone() });
        }
        Ok(())
    }

    /// One environment.
    pub fn environment(&self, name: &str) -> Result<EnvironmentRow, Error> {
        self.db
            .prepare_cached("SELECT name, kind, holder, created FROM environments WHERE name = ?1")?
            .query_row([name], |r| {
                Ok(EnvironmentRow { name: r.get(0)?, kind: r.get(1)?, holder: r.get(2)?, created: r.get(3)? })
            })
            .optional()?
            .ok_or_else(|| Error::Unknown { what: "environment", name: name.to_owned() })
    }

    /// Every environment, by name.
    pub fn environments(&self) -> Result<Vec<EnvironmentRow>, Error> {
        let mut st = self.db.prepare("SELECT name, kind, holder, created FROM environments ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(EnvironmentRow { name: r.get(0)?, kind: r.get(1)?, holder: r.get(2)?, created: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a request.
    pub fn add_approval(&self, a: &ApprovalRow) -> Result<(), Error> {
        self.db.execute(
            &format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
            params![
                a.id, a.kind, a.client, a.scope, a.requester, a.for_handle, a.server, a.maneuvers, a.until, a.status,
                a.decided_by, a.decided_at, a.comment, a.revoked_at, a.created
            ],
        )?;
        for d in &a.datasets {
            self.db.execute("INSERT INTO approval_datasets (approval, dataset) VALUES (?1, ?2)", params![a.id, d])?;
        }
        Ok(())
    }

    /// One approval with its datasets.
    pub fn approval(&self, id: &str) -> Result<ApprovalRow, Error> {
        let mut a = self
            .db
            .prepare_cached(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"))?
            .query_row([id], approval_row)
            .optional()?
            .ok_or_else(|| Error::Unknown { what: "approval", name: id.to_owned() })?;
        let mut st =
            self.db.prepare_cached("SELECT dataset FROM approval_datasets WHERE approval = ?1 ORDER BY dataset")?;
        a.datasets = st.query_map([id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(a)
    }

    /// Every approval of a client (or all), oldest first.
    pub fn approvals(&self, client: Option<&str>) -> Result<Vec<ApprovalRow>, Error> {
        let ids: Vec<String> = match client {
            Some(c) => {
                let mut st = self.db.prepare("SELECT id FROM approvals WHERE client = ?1 ORDER BY created, id")?;
                st.query_map([c], |r| r.get(0))?.collect::<Result<_, _>>()?
            }
            None => {
                let mut st = self.db.prepare("SELECT id FROM approvals ORDER BY created, id")?;
                st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
            }
        };
        ids.iter().map(|id| self.approval(id)).collect()
    }

    /// Records a decision on a request still open.
    pub fn decide_approval(
        &self,
        id: &str,
        status: &str,
        by: &str,
        at: &str,
        comment: Option<&str>,
    ) -> Result<(), Error> {
        // Decided once: of two decisions at once, the second finds it decided.
        let n = self.db.execute(
            "UPDATE approvals SET status = ?2, decided_by = ?3, decided_at = ?4, comment = ?5 WHERE id = ?1 AND status = 'requested'",
            params![id, status, by, at, comment],
        )?;
        if n == 0 {
            return Err(Error::BadApproval(format!(
                "approval {id} was decided meanwhile; `gardien approval show {id}`"
            )));
        }
        Ok(())
    }

    /// Notes that the signer `handle` was shown the request in full.
    pub fn approval_shown(&self, id: &str, handle: &str, at: &str) -> Result<(), Error> {
        self.db.execute("UPDATE approvals SET shown_at = ?2 WHERE id = ?1 AND shown_at IS NULL", params![id, at])?;
        self.db.execute(
            "INSERT INTO approval_views (approval, handle, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![id, handle, at],
        )?;
        Ok(())
    }

    /// Whether the signer `handle` was shown the request in full.
    pub fn approval_shown_to(&self, id: &str, handle: &str) -> Result<bool, Error> {
        Ok(self
            .db
            .query_row("SELECT 1 FROM approval_views WHERE approval = ?1 AND handle = ?2", [id, handle], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// A certificate (by its id or its dataset's) and its dataset's client.
    pub fn certificate_client(&self, id: &str) -> Result<(String, String), Error> {
        self.db
            .prepare_cached(
                "SELECT c.id, d.client FROM certificates c JOIN datasets d ON d.id = c.dataset WHERE c.id = ?1 OR c.dataset = ?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or_else(|| Error::UnknownCertificate(id.to_owned()))
    }

    /// Revokes an approval.
    pub fn revoke_approval(&self, id: &str, at: &str) -> Result<(), Error> {
        let n = self.db.execute(
            "UPDATE approvals SET status = 'revoked', revoked_at = ?2 WHERE id = ?1 AND status IN ('requested', 'approved')",
            params![id, at],
        )?;
        if n == 0 {
            return Err(Error::BadApproval(format!("approval {id} changed meanwhile; `gardien approval show {id}`")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ContractRow;
    use lifecycle::{Contract, Deal, parse_until};

    fn t(s: &str) -> DateTime<Utc> {
        lifecycle::parse_instant(s).unwrap()
    }

    /// The catalog's client phase (index-filtered SQL, then `lifecycle`) is
    /// `Contract::most_open` over all the client's contracts, for every combination of the
    /// lifecycle table, alone and three at a time, on both sides of every date.
    #[test]
    fn the_client_phase_is_lifecycles_most_open_phase() {
        let dir = tempfile::tempdir().unwrap();
        let cat =
            Catalog::open(&super::super::Location::File(dir.path().join("catalog.db")), dir.path(), true).unwrap();
        let mut contracts = Vec::new();
        for presales in [None, Some(parse_until("2026-03-31").unwrap())] {
            for deal in [
                Deal::Undecided,
                Deal::Concluded { on: t("2026-03-20T00:00:00Z") },
                Deal::Lost { on: t("2026-03-15T00:00:00Z") },
            ] {
                for ends in [None, Some(parse_until("2027-06-30").unwrap())] {
                    for window in [None, Some(parse_until("2027-07-31").unwrap())] {
                        if window.is_some() && ends.is_none() {
                            continue;
                        }
                        contracts.push(Contract {
                            case: String::new(),
                            presales_until: presales,
                            deal,
                            vsr_until: None,
                            ends,
                            custody_months: 6,
                            admin_window_until: window,
                        });
                    }
                }
            }
        }
        // Clients of one contract each, then of three (a stride through the list).
        let mut clients: Vec<(String, Vec<Contract>)> = Vec::new();
        for (i, c) in contracts.iter().enumerate() {
            clients.push((format!("one-{i}"), vec![c.clone()]));
            let trio = (0..3).map(|k| contracts[(i * 7 + k * 11) % contracts.len()].clone()).collect();
            clients.push((format!("three-{i}"), trio));
        }
        clients.push(("none".into(), vec![]));
        for (slug, list) in &mut clients {
            let client =
                crate::Client { slug: slug.clone(), name: slug.clone(), created: "2026-01-01T00:00:00Z".into() };
            cat.add_client(&client).unwrap();
            for (k, c) in list.iter_mut().enumerate() {
                c.case = format!("{slug}-{k}");
                let row =
                    ContractRow { contract: c.clone(), client: slug.clone(), created: "2026-01-01T00:00:00Z".into() };
                cat.add_contract(&row).unwrap();
                cat.update_contract(c).unwrap();
            }
        }
        for at in [
            "2026-02-01T00:00:00Z",
            "2026-03-15T00:00:00Z",
            "2026-03-19T23:59:59Z",
            "2026-03-20T00:00:00Z",
            "2026-04-01T00:00:00Z",
            "2027-06-30T23:59:59Z",
            "2027-07-01T00:00:00Z",
            "2027-08-01T00:00:00Z",
        ] {
            let now = t(at);
            for (slug, list) in &clients {
                assert_eq!(
                    cat.client_phase(slug, now).unwrap(),
                    Contract::most_open(list.iter(), now),
                    "{slug} at {at}"
                );
            }
        }
    }
}
