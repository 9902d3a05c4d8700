//! The catalog's side of the secure drop (migration `0009_drops.sql`): drops, the sessions
//! their password opens, and their tus uploads. Secrets are looked up by their SHA-256.

use super::db::{Optional as _, Row, params};

use super::Catalog;
use crate::Error;

/// A drop, as the catalog keeps it (never its token, password or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRow {
    /// `dr-` and 16 hex digits.
    pub id: String,
    /// The client whose data it receives.
    pub client: String,
    /// The contract (case) the data belongs to.
    pub contract: String,
    /// `presales-sample` or `loading-data`.
    pub class: String,
    /// The technical operator it is addressed to (PRE-3).
    pub addressed_to: String,
    /// Who opened it.
    pub created_by: String,
    /// A free label (catalog only).
    pub label: Option<String>,
    /// The most bytes its file may have (the age file, as sent).
    pub max_size: u64,
    /// The age recipient the sender encrypts to (the dataset key's public half).
    pub recipient: String,
    /// When it was opened.
    pub created: String,
    /// Until when it takes a file.
    pub expires: String,
    /// `open`, `received`, `revoked` or `expired`.
    pub state: String,
    /// Wrong passwords in a row.
    pub failures: i64,
    /// When it stopped taking a file.
    pub ended: Option<String>,
    /// Why (`received`, `revoked by HANDLE`, `5 wrong passwords`, `expired`).
    pub end_reason: Option<String>,
    /// The dataset its file became.
    pub dataset: Option<String>,
}

/// A tus upload into a drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// `up-` and 24 hex digits.
    pub id: String,
    /// Its drop.
    pub drop_id: String,
    /// Its length, once known.
    pub length: Option<u64>,
    /// `none`, `partial` or `final`.
    pub concat: String,
    /// A final concatenation's parts, in order.
    pub parts: Vec<String>,
    /// `Upload-Metadata` as sent.
    pub metadata: Option<String>,
    /// When it was created.
    pub created: String,
    /// When it expires unless complete.
    pub expires: String,
    /// `receiving`, `complete`, `terminated`, `expired` or `refused`.
    pub state: String,
}

const DROP_COLUMNS: &str = "id, client, contract, class, addressed_to, created_by, label, max_size, recipient, created, expires, state, failures, ended, end_reason, dataset";

fn drop_row(r: &Row<'_>) -> rusqlite::Result<DropRow> {
    Ok(DropRow {
        id: r.get(0)?,
        client: r.get(1)?,
        contract: r.get(2)?,
        class: r.get(3)?,
        addressed_to: r.get(4)?,
        created_by: r.get(5)?,
        label: r.get(6)?,
        max_size: r.get::<_, i64>(7)? as u64,
        recipient: r.get(8)?,
        created: r.get(9)?,
        expires: r.get(10)?,
        state: r.get(11)?,
        failures: r.get(12)?,
        ended: r.get(13)?,
        end_reason: r.get(14)?,
        dataset: r.get(15)?,
    })
}

const UPLOAD_COLUMNS: &str = "id, drop_id, length, concat, parts, metadata, created, expires, state";

fn upload_row(r: &Row<'_>) -> rusqlite::Result<UploadRow> {
    let parts: Option<String> = r.get(4)?;
    Ok(UploadRow {
        id: r.get(0)?,
        drop_id: r.get(1)?,
        length: r.get::<_, Option<i64>>(2)?.map(|n| n as u64),
        concat: r.get(3)?,
        parts: parts.map(|p| p.split(' ').map(str::to_owned).collect()).unwrap_or_default(),
        metadata: r.get(5)?,
        created: r.get(6)?,
        expires: r.get(7)?,
        state: r.get(8)?,
    })
}

impl Catalog {
    /// Records a new drop with its secrets' hashes and its wrapped key.
    pub(crate) fn add_drop(
        &self,
        d: &DropRow,
        token_hash: &str,
        password: &str,
        wrapped_key: &str,
    ) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO drops (id, token_hash, password, client, contract, class, addressed_to, created_by, label, max_size, recipient, wrapped_key, created, expires, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'open')",
            params![
                d.id, token_hash, password, d.client, d.contract, d.class, d.addressed_to, d.created_by, d.label,
                d.max_size as i64, d.recipient, wrapped_key, d.created, d.expires
            ],
        )?;
        Ok(())
    }

    /// The drop `id`.
    pub fn drop_row(&self, id: &str) -> Result<Option<DropRow>, Error> {
        let mut st = self.db.prepare_cached(&format!("SELECT {DROP_COLUMNS} FROM drops WHERE id = ?1"))?;
        Ok(st.query_row([id], drop_row).optional()?)
    }

    /// The drop whose link's token hashes to `hash`, with its password's PHC string.
    pub(crate) fn drop_by_token(&self, hash: &str) -> Result<Option<(DropRow, String)>, Error> {
        let mut st =
            self.db.prepare_cached(&format!("SELECT {DROP_COLUMNS}, password FROM drops WHERE token_hash = ?1"))?;
        Ok(st.query_row([hash], |r| Ok((drop_row(r)?, r.get(16)?))).optional()?)
    }

    /// The drop's wrapped dataset key, while it has one.
    pub(crate) fn drop_wrapped_key(&self, id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .db
            .query_row("SELECT wrapped_key FROM drops WHERE id = ?1", [id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
    }

    /// Every drop, or a client's, newest first.
    pub fn drops(&self, client: Option<&str>) -> Result<Vec<DropRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {DROP_COLUMNS} FROM drops WHERE ?1 IS NULL OR client = ?1 ORDER BY created DESC, id"
        ))?;
        let rows = st.query_map([client], drop_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Counts a wrong password; at `revoke_at` in a row the drop is revoked. Returns the count.
    pub(crate) fn drop_password_failed(&self, id: &str, revoke_at: i64, at: &str) -> Result<i64, Error> {
        let n: i64 = self.db.query_row(
            "UPDATE drops SET failures = failures + 1 WHERE id = ?1 AND state = 'open' RETURNING failures",
            [id],
            |r| r.get(0),
        )?;
        if n >= revoke_at {
            self.end_drop(id, "revoked", &format!("{n} wrong passwords"), at)?;
        }
        Ok(n)
    }

    /// Ends an open drop: it takes no file any more and keeps no key. False if it was not open.
    pub(crate) fn end_drop(&self, id: &str, state: &str, reason: &str, at: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "UPDATE drops SET state = ?2, end_reason = ?3, ended = ?4, wrapped_key = NULL WHERE id = ?1 AND state = 'open'",
            params![id, state, reason, at],
        )?;
        Ok(n == 1)
    }

    /// A sender's session: the upload token's hash, for the drop.
    pub(crate) fn add_drop_session(&self, hash: &str, drop_id: &str, at: &str, address: &str) -> Result<(), Error> {
        self.db.execute("UPDATE drops SET failures = 0 WHERE id = ?1", [drop_id])?;
        self.db.execute(
            "INSERT INTO drop_sessions (hash, drop_id, created, address) VALUES (?1, ?2, ?3, ?4)",
            params![hash, drop_id, at, address],
        )?;
        Ok(())
    }

    /// Where the drop's sender wants a receipt (the last address given wins).
    pub(crate) fn set_drop_receipt(&self, id: &str, to: &str, lang: &str) -> Result<(), Error> {
        self.db.execute("UPDATE drops SET receipt_to = ?2, receipt_lang = ?3 WHERE id = ?1", params![id, to, lang])?;
        Ok(())
    }

    /// The address (and language) for the drop's receipt, if its sender gave one.
    pub(crate) fn drop_receipt_to(&self, id: &str) -> Result<Option<(String, String)>, Error> {
        let r = self
            .db
            .query_row("SELECT receipt_to, coalesce(receipt_lang, 'fr') FROM drops WHERE id = ?1", [id], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        Ok(r.and_then(|(to, lang)| to.map(|t| (t, lang))))
    }

    /// The drop an upload token opens.
    pub(crate) fn drop_by_session(&self, hash: &str) -> Result<Option<DropRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {} FROM drops d JOIN drop_sessions s ON s.drop_id = d.id WHERE s.hash = ?1",
            DROP_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        Ok(st.query_row([hash], drop_row).optional()?)
    }

    /// Records a new upload.
    pub(crate) fn add_upload(&self, u: &UploadRow) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO drop_uploads (id, drop_id, length, concat, parts, metadata, created, expires, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                u.id,
                u.drop_id,
                u.length.map(|n| n as i64),
                u.concat,
                (!u.parts.is_empty()).then(|| u.parts.join(" ")),
                u.metadata,
                u.created,
                u.expires,
                u.state
            ],
        )?;
        Ok(())
    }

    /// The upload `id` of drop `drop_id` (another drop's answers as unknown).
    pub fn upload(&self, drop_id: &str, id: &str) -> Result<Option<UploadRow>, Error> {
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM drop_uploads WHERE id = ?1 AND drop_id = ?2"))?;
        Ok(st.query_row([id, drop_id], upload_row).optional()?)
    }

    /// A drop's uploads.
    pub fn uploads(&self, drop_id: &str) -> Result<Vec<UploadRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM drop_uploads WHERE drop_id = ?1 ORDER BY created, id"
        ))?;
        let rows = st.query_map([drop_id], upload_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A drop's uploads under way: receiving, or parts received and waiting for their final.
    pub(crate) fn live_uploads(&self, drop_id: &str) -> Result<Vec<String>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT id FROM drop_uploads WHERE drop_id = ?1
             AND (state = 'receiving' OR (state = 'complete' AND concat = 'partial'))",
        )?;
        let rows = st.query_map([drop_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(rows)
    }

    /// The bytes every upload still receiving may yet take: its declared length, or its
    /// drop's maximum while deferred.
    pub(crate) fn live_upload_bytes(&self, except: Option<&str>) -> Result<u64, Error> {
        let n: i64 = self.db.query_row(
            "SELECT CAST(coalesce(sum(coalesce(u.length, d.max_size)), 0) AS BIGINT) FROM drop_uploads u JOIN drops d ON d.id = u.drop_id
             WHERE u.state = 'receiving' AND u.id IS DISTINCT FROM ?1",
            [except],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Uploads still receiving whose time ran out, or whose drop ended.
    pub(crate) fn stale_uploads(&self, now: &str) -> Result<Vec<UploadRow>, Error> {
        let mut st = self.db.prepare_cached(&format!(
            "SELECT {} FROM drop_uploads u JOIN drops d ON d.id = u.drop_id
             WHERE (u.state = 'receiving' OR (u.state = 'complete' AND u.concat = 'partial'))
               AND (u.expires <= ?1 OR d.state <> 'open')",
            UPLOAD_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        let rows = st.query_map([now], upload_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Open drops whose time ran out.
    pub(crate) fn expired_drops(&self, now: &str) -> Result<Vec<DropRow>, Error> {
        let mut st = self
            .db
            .prepare_cached(&format!("SELECT {DROP_COLUMNS} FROM drops WHERE state = 'open' AND expires <= ?1"))?;
        let rows = st.query_map([now], drop_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Sets an upload's length (a deferred one, once declared).
    pub(crate) fn set_upload_length(&self, id: &str, length: u64) -> Result<(), Error> {
        self.db.execute(
            "UPDATE drop_uploads SET length = ?2 WHERE id = ?1 AND length IS NULL",
            params![id, length as i64],
        )?;
        Ok(())
    }

    /// Moves an upload from `from` to `to`. False if it was not in `from`.
    pub(crate) fn set_upload_state(&self, id: &str, from: &[&str], to: &str, at: &str) -> Result<bool, Error> {
        let mut n = 0;
        for f in from {
            n += self.db.execute(
                "UPDATE drop_uploads SET state = ?3, ended = ?4 WHERE id = ?1 AND state = ?2",
                params![id, f, to, at],
            )?;
        }
        Ok(n == 1)
    }

    /// The drop received its file: it is `dataset` now, and the key lives in the
    /// dataset's row only. False if the drop was no longer open.
    pub(crate) fn drop_received(&self, id: &str, dataset: &str, at: &str) -> Result<bool, Error> {
        let n = self.db.execute(
            "UPDATE drops SET state = 'received', end_reason = 'received', ended = ?3, dataset = ?2, wrapped_key = NULL
             WHERE id = ?1 AND state = 'open'",
            params![id, dataset, at],
        )?;
        Ok(n == 1)
    }
}
