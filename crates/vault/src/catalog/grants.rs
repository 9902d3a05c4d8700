//! The catalog's side of server access (migration `0015_access.sql`): the catalog of
//! maneuvers, the bastion, the clients' user CAs, the grants and the maneuvers run.

use super::db::{Optional as _, Row, params};

use super::Catalog;
use crate::Error;

/// A maneuver of the catalog, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManeuverRow {
    /// Its id.
    pub id: String,
    /// The program's absolute path.
    pub program: String,
    /// Fixed leading arguments.
    pub fixed: Vec<String>,
    /// Typed arguments: name and pattern.
    pub args: Vec<(String, String)>,
    /// The longest a grant including it lasts, in seconds.
    pub max_ttl: i64,
    /// What it does.
    pub description: String,
    /// When it was added.
    pub created: String,
    /// Who added it.
    pub created_by: String,
}

/// The bastion's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BastionRow {
    /// Where it is (LOC-1).
    pub site: String,
    /// `HOST:PORT` people connect to.
    pub address: String,
    /// The address it connects to servers from (`source-address` of target certificates).
    pub egress: String,
    /// Its account people log in as.
    pub login: String,
    /// The maneuvers' account on dedicated servers.
    pub target_login: String,
    /// gardien's path on dedicated servers.
    pub runner: String,
    /// When it was last set.
    pub updated: String,
}

/// A grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// `gr-` and hex.
    pub id: String,
    /// The approval it stands on.
    pub approval: String,
    /// Whose server.
    pub client: String,
    /// The server.
    pub server: String,
    /// The person let in.
    pub person: String,
    /// `SHA256:...` of their key.
    pub key: String,
    /// The bastion certificate's serial (the target's is the next one).
    pub serial: i64,
    /// RFC 3339.
    pub valid_after: String,
    /// RFC 3339.
    pub valid_before: String,
    /// When revoked.
    pub revoked_at: Option<String>,
    /// By whom.
    pub revoked_by: Option<String>,
    /// When made.
    pub created: String,
}

/// A maneuver run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// `run-` and hex.
    pub id: String,
    /// The grant it ran under.
    pub grant_id: String,
    /// The maneuver.
    pub maneuver: String,
    /// The argv, JSON.
    pub argv: String,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339; none while it runs (or if it was killed).
    pub ended: Option<String>,
    /// Its exit status (none: killed by a signal, or running).
    pub status: Option<i64>,
}

const MANEUVER_COLUMNS: &str = "id, program, fixed, args, max_ttl, description, created, created_by";
const GRANT_COLUMNS: &str =
    "id, approval, client, server, person, key, serial, valid_after, valid_before, revoked_at, revoked_by, created";

fn maneuver_row(r: &Row<'_>) -> rusqlite::Result<ManeuverRow> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(ManeuverRow {
        id: r.get(0)?,
        program: r.get(1)?,
        fixed: serde_json::from_str(&json(2)?).map_err(|e| bad(2, e))?,
        args: serde_json::from_str(&json(3)?).map_err(|e| bad(3, e))?,
        max_ttl: r.get(4)?,
        description: r.get(5)?,
        created: r.get(6)?,
        created_by: r.get(7)?,
    })
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        approval: r.get(1)?,
        client: r.get(2)?,
        server: r.get(3)?,
        person: r.get(4)?,
        key: r.get(5)?,
        serial: r.get(6)?,
        valid_after: r.get(7)?,
        valid_before: r.get(8)?,
        revoked_at: r.get(9)?,
        revoked_by: r.get(10)?,
        created: r.get(11)?,
    })
}

impl Catalog {
    /// Adds a maneuver; false when the id is taken (a maneuver never changes).
    pub fn add_maneuver(&self, m: &ManeuverRow) -> Result<bool, Error> {
        let fixed = serde_json::to_string(&m.fixed).map_err(|e| Error::Corrupt(e.to_string()))?;
        let args = serde_json::to_string(&m.args).map_err(|e| Error::Corrupt(e.to_string()))?;
        let n = self.db.execute(
            &format!("INSERT INTO maneuvers ({MANEUVER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING"),
            params![m.id, m.program, fixed, args, m.max_ttl, m.description, m.created, m.created_by],
        )?;
        Ok(n == 1)
    }

    /// A maneuver by its id.
    pub fn maneuver(&self, id: &str) -> Result<Option<ManeuverRow>, Error> {
        Ok(self
            .db
            .prepare_cached(&format!("SELECT {MANEUVER_COLUMNS} FROM maneuvers WHERE id = ?1"))?
            .query_row([id], maneuver_row)
            .optional()?)
    }

    /// The catalog, by id.
    pub fn maneuvers(&self) -> Result<Vec<ManeuverRow>, Error> {
        let mut st = self.db.prepare_cached(&format!("SELECT {MANEUVER_COLUMNS} FROM maneuvers ORDER BY id"))?;
        let rows = st.query_map([], maneuver_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Sets the bastion.
    pub fn set_bastion(&self, b: &BastionRow) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO bastion (id, site, address, egress, login, target_login, runner, updated)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET site = ?1, address = ?2, egress = ?3, login = ?4, target_login = ?5, runner = ?6, updated = ?7",
            params![b.site, b.address, b.egress, b.login, b.target_login, b.runner, b.updated],
        )?;
        Ok(())
    }

    /// The bastion, once set.
    pub fn bastion(&self) -> Result<Option<BastionRow>, Error> {
        Ok(self
            .db
            .prepare_cached(
                "SELECT site, address, egress, login, target_login, runner, updated FROM bastion WHERE id = 1",
            )?
            .query_row([], |r| {
                Ok(BastionRow {
                    site: r.get(0)?,
                    address: r.get(1)?,
                    egress: r.get(2)?,
                    login: r.get(3)?,
                    target_login: r.get(4)?,
                    runner: r.get(5)?,
                    updated: r.get(6)?,
                })
            })
            .optional()?)
    }

    /// A client's user CA: its public line and its wrapped private key.
    pub fn client_ca(&self, client: &str) -> Result<Option<(String, String)>, Error> {
        Ok(self
            .db
            .prepare_cached("SELECT public, wrapped FROM client_cas WHERE client = ?1")?
            .query_row([client], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Adds a client's user CA; false when it has one.
    pub fn add_client_ca(&self, client: &str, public: &str, wrapped: &str, created: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "INSERT INTO client_cas (client, public, wrapped, created) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![client, public, wrapped, created],
        )?;
        Ok(n == 1)
    }

    /// Every client's CA public line, by client.
    pub fn client_cas(&self) -> Result<Vec<(String, String)>, Error> {
        let mut st = self.db.prepare_cached("SELECT client, public FROM client_cas ORDER BY client")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The next certificate serial: two per grant (the bastion's, then the target's).
    pub fn next_serial(&self) -> Result<i64, Error> {
        Ok(self.db.query_row("SELECT COALESCE(MAX(serial), 0) + 2 FROM grants", [], |r| r.get(0))?)
    }

    /// Adds a grant.
    pub fn add_grant(&self, g: &GrantRow) -> Result<(), Error> {
        self.db.execute(
            &format!("INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
            params![
                g.id,
                g.approval,
                g.client,
                g.server,
                g.person,
                g.key,
                g.serial,
                g.valid_after,
                g.valid_before,
                g.revoked_at,
                g.revoked_by,
                g.created
            ],
        )?;
        Ok(())
    }

    /// A grant by its id.
    pub fn grant(&self, id: &str) -> Result<Option<GrantRow>, Error> {
        Ok(self
            .db
            .prepare_cached(&format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"))?
            .query_row([id], grant_row)
            .optional()?)
    }

    /// Every grant, or a client's, newest first.
    pub fn grants(&self, client: Option<&str>) -> Result<Vec<GrantRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE ?1 IS NULL OR client = ?1 ORDER BY created DESC, id"
        ))?;
        let rows = st.query_map([client], grant_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Revokes a grant; false when it was revoked already.
    pub fn revoke_grant(&self, id: &str, at: &str, by: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "UPDATE grants SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at, by],
        )?;
        Ok(n == 1)
    }

    /// Records a maneuver's start.
    pub fn add_run(&self, r: &RunRow) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO maneuver_runs (id, grant_id, maneuver, argv, started, ended, status) VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL)",
            params![r.id, r.grant_id, r.maneuver, r.argv, r.started],
        )?;
        Ok(())
    }

    /// Records a maneuver's end.
    pub fn end_run(&self, id: &str, ended: &str, status: Option<i64>) -> Result<(), Error> {
        self.db.execute(
            "UPDATE maneuver_runs SET ended = ?2, status = ?3 WHERE id = ?1 AND ended IS NULL",
            params![id, ended, status],
        )?;
        Ok(())
    }
}
