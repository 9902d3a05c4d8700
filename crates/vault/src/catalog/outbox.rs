//! The catalog's side of notifications (migration `0011_outbox.sql`): the outbox, written
//! in the transaction of the event that causes each row.

use rusqlite::{Row, params};

use super::Catalog;
use crate::Error;

/// A notification, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Its order.
    pub id: i64,
    /// What happened (`approval-waiting`...).
    pub kind: String,
    /// To whom.
    pub person: String,
    /// The client it is about.
    pub client: Option<String>,
    /// What it is about (an id).
    pub subject: String,
    /// Ids, dates and sizes, `key=value` per line.
    pub facts: String,
    /// When it was written.
    pub created: String,
    /// `pending`, `sent`, `failed` (given up), `skipped` (no address).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it is tried next.
    pub next_attempt: String,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent: Option<String>,
    /// Its `Message-ID`.
    pub message_id: Option<String>,
}

const COLUMNS: &str =
    "id, kind, person, client, subject, facts, created, state, attempts, next_attempt, last_error, sent, message_id";

fn row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        person: r.get(2)?,
        client: r.get(3)?,
        subject: r.get(4)?,
        facts: r.get(5)?,
        created: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt: r.get(9)?,
        last_error: r.get(10)?,
        sent: r.get(11)?,
        message_id: r.get(12)?,
    })
}

impl Catalog {
    /// Writes a notification for `person` (call it inside the event's transaction).
    pub(crate) fn enqueue(
        &self,
        kind: &str,
        person: &str,
        client: Option<&str>,
        subject: &str,
        facts: &str,
        at: &str,
    ) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO outbox (kind, person, client, subject, facts, created, state, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?6)",
            params![kind, person, client, subject, facts, at],
        )?;
        Ok(())
    }

    /// The active people of `client` in `role` (a client's signers, its admins), or the
    /// operator's staff in `role` when `client` is None.
    pub(crate) fn people_in(&self, role: &str, client: Option<&str>) -> Result<Vec<String>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT handle FROM persons WHERE role = ?1 AND disabled IS NULL AND client IS ?2 ORDER BY handle",
        )?;
        let rows = st.query_map(params![role, client], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// The outbox, newest first (`failed`: only those given up), at most `limit` rows.
    pub fn outbox(&self, failed: bool, limit: usize) -> Result<Vec<OutboxRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE (?1 = 0 OR state = 'failed') ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![i64::from(failed), limit as i64], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The notifications due at `now`, oldest first.
    pub(crate) fn outbox_due(&self, now: &str, limit: usize) -> Result<Vec<OutboxRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt <= ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![now, limit as i64], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Reminders that time makes due (issue 15), written once each: an approval still
    /// waiting 3 days after it was requested (to the client's signers), a drop that
    /// expires within 24 hours and has received nothing (to its addressee). `dry`: only
    /// whether there is one. Returns how many rows were written (or would be).
    pub(crate) fn schedule_reminders(
        &self,
        now: &str,
        days_ago_3: &str,
        in_24h: &str,
        dry: bool,
    ) -> Result<usize, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT id, client, kind FROM approvals WHERE status = 'requested' AND created <= ?1
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'approval-reminder' AND o.subject = approvals.id)",
        )?;
        let approvals = st
            .query_map([days_ago_3], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut st = self.db.prepare_cached(
            "SELECT id, client, addressed_to, expires FROM drops d WHERE state = 'open' AND expires > ?1 AND expires <= ?2
             AND NOT EXISTS (SELECT 1 FROM drop_uploads u WHERE u.drop_id = d.id AND u.state IN ('receiving', 'complete'))
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'drop-expiring' AND o.subject = d.id)",
        )?;
        let drops = st
            .query_map([now, in_24h], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if dry {
            return Ok(approvals.len() + drops.len());
        }
        let mut n = 0;
        for (id, client, kind) in approvals {
            for signer in self.people_in("client-signer", Some(&client))? {
                self.enqueue("approval-reminder", &signer, Some(&client), &id, &format!("kind={kind}"), now)?;
                n += 1;
            }
        }
        for (id, client, to, expires) in drops {
            self.enqueue("drop-expiring", &to, Some(&client), &id, &format!("expires={expires}"), now)?;
            n += 1;
        }
        Ok(n)
    }

    /// Takes a due row for one sender: its next attempt moves to `lease` so that a flush
    /// running at once (the server's and `notify flush`) skips it. False if another took it.
    pub(crate) fn outbox_claim(&self, id: i64, now: &str, lease: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "UPDATE outbox SET next_attempt = ?3 WHERE id = ?1 AND state = 'pending' AND next_attempt <= ?2",
            params![id, now, lease],
        )?;
        Ok(n == 1)
    }

    /// Records a delivery attempt's end.
    pub(crate) fn outbox_done(
        &self,
        id: i64,
        state: &str,
        next_attempt: &str,
        error: Option<&str>,
        sent: Option<&str>,
        message_id: Option<&str>,
    ) -> Result<(), Error> {
        self.db.execute(
            "UPDATE outbox SET state = ?2, attempts = attempts + 1, next_attempt = ?3, last_error = ?4, sent = ?5,
             message_id = coalesce(?6, message_id) WHERE id = ?1",
            params![id, state, next_attempt, error, sent, message_id],
        )?;
        Ok(())
    }
}
