//! The catalog's side of notifications (migration `0011_outbox.sql`): the outbox, written
//! in the transaction of the event that causes each row.

use super::db::{Optional as _, Row, params};

use super::Catalog;
use crate::Error;

/// A notification, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Its order.
    pub id: i64,
    /// What happened (`approval-waiting`...).
    pub kind: String,
    /// To whom: a person, an address (a drop sender's receipt) or a webhook.
    pub person: Option<String>,
    /// A drop sender's address, for a receipt.
    pub address: Option<String>,
    /// The language of a receipt (a person's is theirs).
    pub lang: Option<String>,
    /// A webhook's id.
    pub webhook: Option<String>,
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

const COLUMNS: &str = "id, kind, person, client, subject, facts, created, state, attempts, next_attempt, last_error, \
    sent, message_id, address, lang, webhook";

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
        address: r.get(13)?,
        lang: r.get(14)?,
        webhook: r.get(15)?,
    })
}

fn webhook_row(r: &Row<'_>) -> rusqlite::Result<crate::WebhookRow> {
    Ok(crate::WebhookRow {
        id: r.get(0)?,
        url: r.get(1)?,
        events: r.get(2)?,
        client: r.get(3)?,
        created: r.get(4)?,
        created_by: r.get(5)?,
        removed: r.get(6)?,
    })
}

impl Catalog {
    /// Writes a notification of `kind` about `subject` for each of `people`, and for each
    /// webhook that takes it (call it inside the event's transaction).
    pub(crate) fn notify(
        &self,
        kind: &str,
        people: &[String],
        client: Option<&str>,
        subject: &str,
        facts: &str,
        at: &str,
    ) -> Result<(), Error> {
        for person in people {
            self.db.execute(
                "INSERT INTO outbox (kind, person, client, subject, facts, created, state, next_attempt)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?6)",
                params![kind, person, client, subject, facts, at],
            )?;
        }
        // A webhook takes the kinds it names (or all), of its client (or every client's).
        self.db.execute(
            "INSERT INTO outbox (kind, webhook, client, subject, facts, created, state, next_attempt)
             SELECT ?1, id, ?2, ?3, ?4, ?5, 'pending', ?5 FROM webhooks
             WHERE removed IS NULL AND (client IS NULL OR client IS NOT DISTINCT FROM ?2)
             AND (events = '*' OR instr(',' || events || ',', ',' || ?1 || ',') > 0)
             ORDER BY id",
            params![kind, client, subject, facts, at],
        )?;
        Ok(())
    }

    /// Writes a receipt for a drop's sender, at the address they gave.
    pub(crate) fn notify_address(
        &self,
        kind: &str,
        address: &str,
        lang: &str,
        client: &str,
        subject: &str,
        facts: &str,
        at: &str,
    ) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO outbox (kind, address, lang, client, subject, facts, created, state, next_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?7)",
            params![kind, address, lang, client, subject, facts, at],
        )?;
        Ok(())
    }

    /// The active people of `client` in `role` (a client's signers, its admins), or the
    /// operator's staff in `role` when `client` is None.
    pub(crate) fn people_in(&self, role: &str, client: Option<&str>) -> Result<Vec<String>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT handle FROM persons WHERE role = ?1 AND disabled IS NULL AND client IS NOT DISTINCT FROM ?2 ORDER BY handle",
        )?;
        let rows = st.query_map(params![role, client], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// Adds a webhook, its secret wrapped.
    pub(crate) fn add_webhook(&self, w: &crate::WebhookRow, wrapped: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO webhooks (id, url, events, client, wrapped_secret, created, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![w.id, w.url, w.events, w.client, wrapped, w.created, w.created_by],
        )?;
        Ok(())
    }

    /// Every webhook, oldest first.
    pub(crate) fn webhooks(&self) -> Result<Vec<crate::WebhookRow>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT id, url, events, client, created, created_by, removed FROM webhooks ORDER BY created, id",
        )?;
        let rows = st.query_map([], webhook_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One webhook.
    pub(crate) fn webhook(&self, id: &str) -> Result<Option<crate::WebhookRow>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT id, url, events, client, created, created_by, removed FROM webhooks WHERE id = ?1",
        )?;
        Ok(st.query_row([id], webhook_row).optional()?)
    }

    /// A webhook's wrapped secret.
    pub(crate) fn webhook_wrapped_secret(&self, id: &str) -> Result<String, Error> {
        Ok(self.db.query_row("SELECT wrapped_secret FROM webhooks WHERE id = ?1", [id], |r| r.get(0))?)
    }

    /// Removes a webhook: what waits for it is dropped.
    pub(crate) fn remove_webhook(&self, id: &str, at: &str) -> Result<(), Error> {
        self.db.execute("UPDATE webhooks SET removed = ?2 WHERE id = ?1 AND removed IS NULL", params![id, at])?;
        self.db.execute(
            "UPDATE outbox SET state = 'skipped', last_error = 'webhook removed' WHERE webhook = ?1 AND state = 'pending'",
            [id],
        )?;
        Ok(())
    }

    /// Who hears of what befalls a client's data: its admins, and the operator's ops.
    pub(crate) fn admins_and_ops(&self, client: &str) -> Result<Vec<String>, Error> {
        let mut to = self.people_in("client-admin", Some(client))?;
        to.extend(self.people_in("ops", None)?);
        Ok(to)
    }

    /// The third party an approval is for (none when it is for the operator's staff, or
    /// for anyone).
    pub(crate) fn third_party_of(&self, a: &super::ApprovalRow) -> Result<Vec<String>, Error> {
        let Some(h) = &a.for_handle else { return Ok(Vec::new()) };
        let mut st = self.db.prepare_cached(
            "SELECT handle FROM persons WHERE handle = ?1 AND role = 'third-party' AND disabled IS NULL",
        )?;
        let rows = st.query_map([h], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
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

    /// The notifications due at `now`, oldest first (`mail`: mail too, not only webhooks).
    pub(crate) fn outbox_due(&self, now: &str, limit: usize, mail: bool) -> Result<Vec<OutboxRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox o WHERE state = 'pending' AND next_attempt <= ?1 AND (?3 = 1 OR webhook IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.state = 'pending' AND e.id < o.id
                             AND e.next_attempt > ?1 AND e.webhook IS NOT DISTINCT FROM o.webhook
                             AND (o.webhook IS NOT NULL OR (e.person IS NOT DISTINCT FROM o.person AND e.address IS NOT DISTINCT FROM o.address)))
             ORDER BY id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![now, limit as i64, i64::from(mail)], row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Whether a webhook is in place.
    pub(crate) fn has_webhooks(&self) -> Result<bool, Error> {
        Ok(self.db.query_row("SELECT EXISTS (SELECT 1 FROM webhooks WHERE removed IS NULL)", [], |r| r.get(0))?)
    }

    /// Whether a notification of `kind` about `subject` was ever written.
    pub(crate) fn notified(&self, kind: &str, subject: &str) -> Result<bool, Error> {
        self.notified_since(kind, subject, "")
    }

    /// Whether a notification of `kind` about `subject` was written since `since`.
    pub(crate) fn notified_since(&self, kind: &str, subject: &str, since: &str) -> Result<bool, Error> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE subject = ?2 AND kind = ?1 AND created > ?3)",
            params![kind, subject, since],
            |r| r.get(0),
        )?)
    }

    /// Whether a destruction notice of `days` or fewer went out for `dataset`.
    pub(crate) fn notice_written(&self, dataset: &str, days: i64) -> Result<bool, Error> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM destruction_notices WHERE dataset = ?1 AND days <= ?2)",
            params![dataset, days],
            |r| r.get(0),
        )?)
    }

    /// Records a destruction notice.
    pub(crate) fn add_notice(&self, dataset: &str, days: i64, due: &str, at: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO destruction_notices (dataset, days, due, written) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![dataset, days, due, at],
        )?;
        Ok(())
    }

    /// When `dataset`'s first destruction notice was written, and when one was first
    /// delivered to a person of its client (its admins), if one was.
    pub(crate) fn first_notice(&self, dataset: &str, client: &str) -> Result<Option<(String, Option<String>)>, Error> {
        let written: Option<String> =
            self.db.query_row("SELECT min(written) FROM destruction_notices WHERE dataset = ?1", [dataset], |r| {
                r.get(0)
            })?;
        let Some(written) = written else { return Ok(None) };
        let sent: Option<String> = self.db.query_row(
            "SELECT min(o.sent) FROM outbox o JOIN persons p ON p.handle = o.person
             WHERE o.subject = ?1 AND o.kind = 'destruction-notice' AND o.state = 'sent' AND p.client = ?2",
            params![dataset, client],
            |r| r.get(0),
        )?;
        Ok(Some((written, sent)))
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
        // An approval for a third party that reached its `until` (within a week: older
        // ones ended before notifications existed).
        let mut st = self.db.prepare_cached(
            "SELECT a.id, a.client, a.kind, a.for_handle FROM approvals a JOIN persons p ON p.handle = a.for_handle
             WHERE a.status = 'approved' AND a.until IS NOT NULL AND a.until <= ?1 AND a.until > ?2
             AND p.role = 'third-party' AND p.disabled IS NULL
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'approval-ended' AND o.subject = a.id)",
        )?;
        let week_ago = chrono::DateTime::parse_from_rfc3339(now)
            .map(|t| crate::rfc3339((t - chrono::Duration::days(7)).with_timezone(&chrono::Utc)))
            .unwrap_or_default();
        let ended = st
            .query_map([now, week_ago.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if dry {
            return Ok(approvals.len() + drops.len() + ended.len());
        }
        let mut n = 0;
        for (id, client, kind, to) in ended {
            self.notify("approval-ended", &[to], Some(&client), &id, &format!("kind={kind}\nreason=expired"), now)?;
            n += 1;
        }
        for (id, client, kind) in approvals {
            for signer in self.people_in("client-signer", Some(&client))? {
                self.notify("approval-reminder", &[signer], Some(&client), &id, &format!("kind={kind}"), now)?;
                n += 1;
            }
        }
        for (id, client, to, expires) in drops {
            self.notify("drop-expiring", &[to], Some(&client), &id, &format!("expires={expires}"), now)?;
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
