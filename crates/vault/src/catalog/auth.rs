//! The catalog's side of sign-in: password hashes, second-factor seeds, tokens and
//! sessions (migration `0007_credentials.sql`). Secrets people hold (tokens, session
//! cookies) are looked up by their SHA-256, never stored.

use super::db::{Optional as _, params};

use super::Catalog;
use crate::Error;

/// A person's sign-in state.
#[derive(Debug, Default, Clone)]
pub struct CredentialRow {
    /// The argon2id PHC string, once a password is set.
    pub password: Option<String>,
    /// The enrolled TOTP seed (base32).
    pub totp_secret: Option<String>,
    /// A seed being enrolled, not yet confirmed by a code.
    pub totp_pending: Option<String>,
    /// The last time step a code was accepted for.
    pub totp_last_step: Option<i64>,
    /// Consecutive failed sign-ins.
    pub failures: i64,
    /// Until when sign-in is locked (RFC 3339).
    pub locked_until: Option<String>,
}

/// An API token, as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// `tk-` and 12 hex digits.
    pub id: String,
    /// Whose it is: it acts as them.
    pub handle: String,
    /// A free label.
    pub label: Option<String>,
    /// When it was made.
    pub created: String,
    /// When it stops working, if ever.
    pub expires: Option<String>,
    /// When it was revoked.
    pub revoked: Option<String>,
}

/// A portal session, as found by its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Whose.
    pub handle: String,
    /// When it began.
    pub created: String,
    /// When it was last used (idle expiry counts from here).
    pub last_seen: String,
    /// Its absolute end.
    pub expires: String,
    /// `password` (second factor still due) or `full`.
    pub level: String,
    /// The anti-CSRF token of its forms.
    pub csrf: String,
    /// When it was ended (sign-out).
    pub ended: Option<String>,
}

impl Catalog {
    /// A person's sign-in state (the default when they have none yet).
    pub fn credentials(&self, handle: &str) -> Result<CredentialRow, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT password, totp_secret, totp_pending, totp_last_step, failures, locked_until
             FROM credentials WHERE handle = ?1",
        )?;
        Ok(st
            .query_row([handle], |r| {
                Ok(CredentialRow {
                    password: r.get(0)?,
                    totp_secret: r.get(1)?,
                    totp_pending: r.get(2)?,
                    totp_last_step: r.get(3)?,
                    failures: r.get(4)?,
                    locked_until: r.get(5)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn ensure_credentials(&self, handle: &str) -> Result<(), Error> {
        self.db
            .prepare_cached("INSERT INTO credentials (handle) VALUES (?1) ON CONFLICT DO NOTHING")?
            .execute([handle])?;
        Ok(())
    }

    /// Sets a person's password hash; their failures and lock are cleared.
    pub fn set_password(&self, handle: &str, phc: &str, at: &str) -> Result<(), Error> {
        self.ensure_credentials(handle)?;
        self.db.execute(
            "UPDATE credentials SET password = ?2, password_set = ?3, failures = 0, locked_until = NULL
             WHERE handle = ?1",
            params![handle, phc, at],
        )?;
        Ok(())
    }

    /// Records a failed sign-in; `lock_until` locks the account.
    pub fn login_failed(&self, handle: &str, lock_until: Option<&str>) -> Result<(), Error> {
        self.ensure_credentials(handle)?;
        self.db.execute(
            "UPDATE credentials SET failures = failures + 1, locked_until = COALESCE(?2, locked_until)
             WHERE handle = ?1",
            params![handle, lock_until],
        )?;
        Ok(())
    }

    /// Clears the failures after a successful sign-in.
    pub fn login_succeeded(&self, handle: &str) -> Result<(), Error> {
        self.db.execute("UPDATE credentials SET failures = 0, locked_until = NULL WHERE handle = ?1", [handle])?;
        Ok(())
    }

    /// Keeps a seed being enrolled (replacing any earlier pending one).
    pub fn totp_pending(&self, handle: &str, secret: &str) -> Result<(), Error> {
        self.ensure_credentials(handle)?;
        self.db.execute("UPDATE credentials SET totp_pending = ?2 WHERE handle = ?1", params![handle, secret])?;
        Ok(())
    }

    /// Confirms the pending seed: from now on sign-in asks for its codes.
    pub fn totp_confirm(&self, handle: &str, step: i64, at: &str) -> Result<(), Error> {
        self.db.execute(
            "UPDATE credentials SET totp_secret = totp_pending, totp_pending = NULL, totp_enrolled = ?3,
             totp_last_step = ?2 WHERE handle = ?1 AND totp_pending IS NOT NULL",
            params![handle, step, at],
        )?;
        Ok(())
    }

    /// Takes the time step of an accepted code, unless it (or a later one) was taken
    /// already: a code is accepted once. Whether it was taken now.
    pub fn totp_take_step(&self, handle: &str, step: i64) -> Result<bool, Error> {
        let n = self.db.execute(
            "UPDATE credentials SET totp_last_step = ?2
             WHERE handle = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![handle, step],
        )?;
        Ok(n == 1)
    }

    /// Ends every session of a person but one.
    pub fn end_other_sessions(&self, handle: &str, keep: &str, at: &str) -> Result<(), Error> {
        self.db.execute(
            "UPDATE sessions SET ended = ?3 WHERE handle = ?1 AND hash <> ?2 AND ended IS NULL",
            params![handle, keep, at],
        )?;
        Ok(())
    }

    /// Removes a person's second factor (a lost phone); they enrol again.
    pub fn totp_reset(&self, handle: &str) -> Result<(), Error> {
        self.db.execute(
            "UPDATE credentials SET totp_secret = NULL, totp_pending = NULL, totp_enrolled = NULL,
             totp_last_step = NULL WHERE handle = ?1",
            [handle],
        )?;
        Ok(())
    }

    /// Stores a new token.
    pub fn add_token(&self, t: &TokenRow, hash: &str) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO tokens (id, hash, handle, label, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![t.id, hash, t.handle, t.label, t.created, t.expires],
        )?;
        Ok(())
    }

    fn token_rows(&self, sql: &str, arg: &str) -> Result<Vec<TokenRow>, Error> {
        let mut st = self.db.prepare_cached(sql)?;
        let rows = st.query_map([arg], |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                handle: r.get(1)?,
                label: r.get(2)?,
                created: r.get(3)?,
                expires: r.get(4)?,
                revoked: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A person's tokens, oldest first.
    pub fn tokens(&self, handle: &str) -> Result<Vec<TokenRow>, Error> {
        self.token_rows(
            "SELECT id, handle, label, created, expires, revoked FROM tokens WHERE handle = ?1 ORDER BY created, id",
            handle,
        )
    }

    /// The token with this id.
    pub fn token(&self, id: &str) -> Result<Option<TokenRow>, Error> {
        Ok(self.token_rows("SELECT id, handle, label, created, expires, revoked FROM tokens WHERE id = ?1", id)?.pop())
    }

    /// The token whose secret hashes to `hash`.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, Error> {
        Ok(self
            .token_rows("SELECT id, handle, label, created, expires, revoked FROM tokens WHERE hash = ?1", hash)?
            .pop())
    }

    /// Revokes a token.
    pub fn revoke_token(&self, id: &str, at: &str) -> Result<(), Error> {
        self.db.execute("UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL", params![id, at])?;
        Ok(())
    }

    /// Starts a session.
    pub fn add_session(&self, hash: &str, s: &SessionRow) -> Result<(), Error> {
        self.db.execute(
            "INSERT INTO sessions (hash, handle, created, last_seen, expires, level, csrf)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![hash, s.handle, s.created, s.last_seen, s.expires, s.level, s.csrf],
        )?;
        Ok(())
    }

    /// The session whose cookie hashes to `hash`.
    pub fn session(&self, hash: &str) -> Result<Option<SessionRow>, Error> {
        let mut st = self.db.prepare_cached(
            "SELECT handle, created, last_seen, expires, level, csrf, ended FROM sessions WHERE hash = ?1",
        )?;
        Ok(st
            .query_row([hash], |r| {
                Ok(SessionRow {
                    handle: r.get(0)?,
                    created: r.get(1)?,
                    last_seen: r.get(2)?,
                    expires: r.get(3)?,
                    level: r.get(4)?,
                    csrf: r.get(5)?,
                    ended: r.get(6)?,
                })
            })
            .optional()?)
    }

    /// Notes a session's use.
    pub fn touch_session(&self, hash: &str, at: &str) -> Result<(), Error> {
        self.db.execute("UPDATE sessions SET last_seen = ?2 WHERE hash = ?1", params![hash, at])?;
        Ok(())
    }

    /// Raises a session to `full` (its second factor was given).
    pub fn upgrade_session(&self, hash: &str) -> Result<(), Error> {
        self.db.execute("UPDATE sessions SET level = 'full' WHERE hash = ?1 AND ended IS NULL", [hash])?;
        Ok(())
    }

    /// Ends a session, or every session of a person (`hash` None): a new password or a
    /// disabled person signs everyone out.
    pub fn end_sessions(&self, handle: &str, hash: Option<&str>, at: &str) -> Result<(), Error> {
        self.db.execute(
            "UPDATE sessions SET ended = ?3 WHERE handle = ?1 AND (?2 IS NULL OR hash = ?2) AND ended IS NULL",
            params![handle, hash, at],
        )?;
        Ok(())
    }
}
