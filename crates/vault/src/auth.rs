//! Who is who, for `gardien serve`: passwords (argon2id), a second factor (TOTP, RFC 6238),
//! API tokens and portal sessions. Every change and every sign-in goes through the door
//! (`person:password`, `person:totp`, `token:*`, `session:*`) and is in the ledger, its
//! failures included; a token or a session is checked here on each request, and the
//! request's own event names who it authenticated.
//!
//! Secrets: a password is kept only as an argon2id hash (OWASP parameters: 19 MiB, 2
//! passes, 1 lane); tokens and session cookies are 256-bit random values kept as their
//! SHA-256 (a fast hash is enough for values no one can guess, and lets a request be
//! checked without argon2's cost); comparisons of secrets are constant-time. The TOTP seed
//! is the one secret kept as it is, in the catalog (0600): the server needs it to check
//! codes.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::catalog::{SessionRow, TokenRow};
use crate::event::{Action, Outcome};
use crate::{Error, Vault, rfc3339};

/// Consecutive failures after which sign-in is paused for the account (NET-2).
pub const LOCK_AFTER: i64 = 5;
/// For how long.
pub const LOCK_MINUTES: i64 = 15;
/// A session ends after this long unused...
pub const SESSION_IDLE_MINUTES: i64 = 30;
/// ...and this long after it began, whatever its use.
pub const SESSION_HOURS: i64 = 12;
/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Roles that need a second factor by default.
pub const SECOND_FACTOR_ROLES: [&str; 2] = ["ops", "client-signer"];

/// Why a sign-in was refused: the event's details and the server's log say it, the
/// person is told only that it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// No such person, or a disabled one.
    UnknownPerson,
    /// The person has no password yet.
    NoPassword,
    /// The password did not match.
    Password,
    /// The second factor's code did not match (or was used already).
    Totp,
    /// The account is paused after repeated failures.
    Locked,
}

impl SignInFailure {
    /// One word, as the server's log line and the event's details write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInFailure::UnknownPerson => "unknown",
            SignInFailure::NoPassword => "no-password",
            SignInFailure::Password => "password",
            SignInFailure::Totp => "totp",
            SignInFailure::Locked => "locked",
        }
    }
}

/// A secret shown once (a new token, a session cookie); zeroized when dropped.
#[derive(Debug)]
pub struct Issued<T> {
    /// What was made.
    pub info: T,
    /// The secret: printed or set once, never stored.
    pub secret: SecretString,
}

/// A signed-in session, as each request finds it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Whose.
    pub person: crate::Person,
    /// Whether the second factor is still to be given (or enrolled, for a role that needs
    /// one): until then the session reaches only that step.
    pub second_factor_due: bool,
    /// Whether the person has a second factor enrolled.
    pub totp_enrolled: bool,
    /// The anti-CSRF token its forms carry.
    pub csrf: String,
    /// Its absolute end.
    pub expires: String,
}

/// A TOTP enrolment under way: the seed to put in an authenticator app.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The seed, base32 (as apps take it).
    pub secret: SecretString,
    /// The `otpauth://` URI (for a QR code).
    pub uri: SecretString,
}

pub(crate) fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The SHA-256 of a bearer secret, as the catalog keeps it.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Who a sign-in for a handle that names no one is recorded as.
const UNKNOWN_ACTOR: &str = "(unknown)";

/// The prefix of API tokens (so a leaked one is recognised by secret scanners).
pub const TOKEN_PREFIX: &str = "gardien_";

fn argon2() -> argon2::Argon2<'static> {
    // OWASP's first choice: m = 19 MiB, t = 2, p = 1 (argon2's defaults, named here so a
    // change of the crate's defaults does not change ours).
    let params = argon2::Params::new(19 * 1024, 2, 1, None).expect("fixed, valid argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hashes a password (argon2id, a fresh salt): the PHC string the catalog keeps.
pub(crate) fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Corrupt(format!("argon2: {e}")))
}

/// Whether `password` matches `phc`: argon2id recomputed in one of a few reused memory
/// areas (19 MiB each), compared in constant time (`Output`'s equality). Reusing the
/// memory keeps a server's footprint flat however many sign-ins and drop passwords it
/// checks: a fresh 19 MiB allocation per check stayed in each thread's allocator arena.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else { return false };
    let Ok(params) = argon2::Params::try_from(&h) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else { return false };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let a = argon2::Argon2::new(algorithm, version, params);
    let done =
        with_blocks(blocks, |memory| a.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory));
    done.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Runs `f` with `n` argon2 memory blocks, taken from a small pool (kept for reuse).
fn with_blocks<T>(n: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    static POOL: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());
    let taken = POOL.lock().ok().and_then(|mut p| p.iter().position(|b| b.len() == n).map(|i| p.swap_remove(i)));
    let mut memory = taken.unwrap_or_else(|| vec![argon2::Block::default(); n]);
    let r = f(&mut memory);
    if let Ok(mut p) = POOL.lock()
        && p.len() < 4
    {
        p.push(memory);
    }
    r
}

/// The cost of a check without a hash to check: an unknown person's sign-in takes as long
/// as a known one's, so timing does not tell which handles exist.
pub(crate) fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default());
    let _ = verify_password(password, phc);
}

/// The rules a new password meets.
pub fn check_password(handle: &str, password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::WeakPassword("use at least 12 characters (a few words are easiest to remember)"));
    }
    if password.len() > 1024 {
        return Err(Error::WeakPassword("use at most 1024 bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err(Error::WeakPassword("control characters (a newline, a tab) are not allowed"));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 6 {
        return Err(Error::WeakPassword("use at least 6 different characters"));
    }
    let lower = password.to_lowercase();
    if lower.contains(&handle.to_lowercase()) {
        return Err(Error::WeakPassword("it must not contain the handle"));
    }
    const COMMON: [&str; 8] = ["password", "motdepasse", "123456", "azerty", "qwerty", "moodle", "gardien", "admin"];
    if let Some(w) = COMMON.iter().find(|w| lower.contains(*w)) {
        let _ = w;
        return Err(Error::WeakPassword("it contains a word every attacker tries first (password, azerty, moodle...)"));
    }
    Ok(())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

fn totp(secret_b32: &str) -> Result<totp_rs::Totp, Error> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32)
        .map_err(|_| Error::Corrupt("a stored TOTP seed is not base32".into()))?;
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .map_err(|e| Error::Corrupt(format!("a stored TOTP seed is unusable: {e}")))
}

/// The time step `code` is valid for (one step of clock skew either way), if any.
fn totp_step(secret_b32: &str, code: &str, now: DateTime<Utc>) -> Result<Option<i64>, Error> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    Ok(totp(secret_b32)?.check(code, now.timestamp().max(0) as u64).map(|s| s as i64))
}

impl Vault {
    /// Sets `handle`'s password (the ops team's first one, or the person's own); every
    /// session of theirs ends and their failures are cleared.
    pub fn set_password(&self, handle: &str, password: &SecretString, now: DateTime<Utc>) -> Result<(), Error> {
        self.door(Action::PersonPassword, vec![format!("person:{handle}")], String::new(), now, |rec| {
            check_password(handle, password.expose_secret())?;
            let phc = hash_password(password.expose_secret())?;
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| {
                c.set_password(handle, &phc, &at)?;
                c.end_sessions(handle, None, &at)
            })
        })
    }

    /// Signs the current actor in with their password, from `address` (for the record).
    /// The session reaches only the second factor's step until it is given, when the
    /// person has one or their role needs one.
    pub fn login(&self, password: &SecretString, address: &str, now: DateTime<Utc>) -> Result<Issued<Session>, Error> {
        let handle = self.actor.clone();
        // An unknown person's attempt costs what a known one's does.
        let person = self.catalog.person(&handle).ok().flatten();
        let known = person.as_ref().is_some_and(|p| p.disabled.is_none());
        if !known {
            verify_nothing(password.expose_secret());
        }
        let details = format!("address={address}");
        // A handle that names no one never enters the permanent ledger: it may be a
        // password typed in the wrong field, or anything an attacker wants written there.
        // The attempt is recorded, by an unknown actor.
        if person.is_none() {
            return Err(self.record_unknown_sign_in(details, now));
        }
        self.door(Action::SessionLogin, vec![format!("person:{handle}")], details, now, |rec| {
            let cred = self.catalog.credentials(&handle)?;
            let at = rfc3339(now);
            let locked = cred.locked_until.as_deref().and_then(parse_time).is_some_and(|t| t > now);
            let failure = if locked {
                // No hash is checked while locked: guessing goes no further.
                verify_nothing(password.expose_secret());
                Some(SignInFailure::Locked)
            } else {
                match &cred.password {
                    None => {
                        verify_nothing(password.expose_secret());
                        Some(SignInFailure::NoPassword)
                    }
                    Some(phc) if !verify_password(password.expose_secret(), phc) => Some(SignInFailure::Password),
                    Some(_) => None,
                }
            };
            if let Some(f) = failure {
                return Err(self.sign_in_failed(rec, &handle, f, &cred, now));
            }
            let person = self.catalog.person(&handle)?.ok_or_else(|| Error::UnknownPerson(handle.clone()))?;
            let enrolled = cred.totp_secret.is_some();
            let due = enrolled || SECOND_FACTOR_ROLES.contains(&person.role.as_str());
            let secret = random_secret();
            let row = SessionRow {
                handle: handle.clone(),
                created: at.clone(),
                last_seen: at.clone(),
                expires: rfc3339(now + Duration::hours(SESSION_HOURS)),
                level: if due { "password" } else { "full" }.into(),
                csrf: random_secret(),
                ended: None,
            };
            rec.details = format!("{} step=password level={}", rec.details, row.level);
            // Failures are cleared once the whole sign-in succeeded: a password alone
            // does not reset the count that stops guessing the second factor.
            self.record(rec, Outcome::Allowed, |c| {
                if !due {
                    c.login_succeeded(&handle)?;
                }
                c.add_session(&digest(&secret), &row)
            })?;
            let session = Session {
                person,
                second_factor_due: due,
                totp_enrolled: enrolled,
                csrf: row.csrf,
                expires: row.expires,
            };
            Ok(Issued { info: session, secret: SecretString::from(secret) })
        })
    }

    /// Records a failed step of a sign-in, pausing the account after `LOCK_AFTER` in a row;
    /// returns the error the person gets.
    fn sign_in_failed(
        &self,
        rec: &mut crate::Record,
        handle: &str,
        failure: SignInFailure,
        cred: &crate::catalog::CredentialRow,
        now: DateTime<Utc>,
    ) -> Error {
        // A lock that has run out starts a new count: one failure after it does not lock
        // the account again (else one guess every 15 minutes would keep anyone out).
        let expired = cred.locked_until.as_deref().and_then(parse_time).is_some_and(|t| t <= now);
        let failures = if expired { 0 } else { cred.failures };
        let lock = (failure != SignInFailure::Locked && failures + 1 >= LOCK_AFTER)
            .then(|| rfc3339(now + Duration::minutes(LOCK_MINUTES)));
        rec.details = format!("{} reason={}", rec.details, failure.as_str());
        if let Some(until) = &lock {
            rec.details = format!("{} locked-until={until}", rec.details);
        }
        // NET-2 when the account is (or becomes) paused, OPS-1 otherwise.
        let clause = if lock.is_some() || failure == SignInFailure::Locked { "NET-2" } else { "OPS-1" };
        let recorded = self.append(rec, Outcome::Denied, clause, |c| {
            if expired {
                c.login_succeeded(handle)?;
            }
            if failure == SignInFailure::Locked { Ok(()) } else { c.login_failed(handle, lock.as_deref()) }
        });
        match recorded {
            Ok(()) => Error::SignIn(failure),
            Err(e) => e,
        }
    }

    /// The session whose cookie is `secret`, if it is in force: not ended, within its
    /// absolute and idle limits, its person active. Its use is noted (at most once a
    /// minute, so that pages do not each write).
    pub fn session(&self, secret: &str, now: DateTime<Utc>) -> Result<Session, Error> {
        let hash = digest(secret);
        let row = self.catalog.session(&hash)?.ok_or(Error::NotSignedIn)?;
        let idle_end = parse_time(&row.last_seen).map(|t| t + Duration::minutes(SESSION_IDLE_MINUTES));
        let end = parse_time(&row.expires);
        if row.ended.is_some() || end.is_none_or(|e| e <= now) || idle_end.is_none_or(|e| e <= now) {
            return Err(Error::NotSignedIn);
        }
        let person = self.catalog.person(&row.handle)?.ok_or(Error::NotSignedIn)?;
        if person.disabled.is_some() {
            return Err(Error::NotSignedIn);
        }
        if parse_time(&row.last_seen).is_some_and(|t| now - t > Duration::seconds(60)) {
            self.catalog.touch_session(&hash, &rfc3339(now))?;
        }
        let cred = self.catalog.credentials(&row.handle)?;
        Ok(Session {
            person,
            second_factor_due: row.level != "full",
            totp_enrolled: cred.totp_secret.is_some(),
            csrf: row.csrf,
            expires: row.expires,
        })
    }

    /// The second step of a sign-in: the code of the session's person's authenticator.
    pub fn login_totp(&self, secret: &str, code: &str, address: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let s = self.session(secret, now)?;
        let handle = s.person.handle.clone();
        let details = format!("address={address} step=totp");
        self.door(Action::SessionLogin, vec![format!("person:{handle}")], details, now, |rec| {
            let cred = self.catalog.credentials(&handle)?;
            let locked = cred.locked_until.as_deref().and_then(parse_time).is_some_and(|t| t > now);
            let step = match &cred.totp_secret {
                Some(seed) if !locked => totp_step(seed, code, now)?,
                _ => None,
            };
            let step = match step {
                Some(step) if cred.totp_last_step.is_none_or(|last| step > last) => step,
                _ => {
                    let f = if locked { SignInFailure::Locked } else { SignInFailure::Totp };
                    return Err(self.sign_in_failed(rec, &handle, f, &cred, now));
                }
            };
            let hash = digest(secret);
            // The step is taken in the transaction that records the sign-in: of two
            // requests with one code at once, one takes it, the other finds it taken.
            let taken = self.record(rec, Outcome::Allowed, |c| {
                if !c.totp_take_step(&handle, step)? {
                    return Ok(false);
                }
                c.login_succeeded(&handle)?;
                c.upgrade_session(&hash)?;
                Ok(true)
            });
            match taken {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::SignIn(SignInFailure::Totp)),
                Err(e) => Err(e),
            }
        })
    }

    /// Begins the current actor's TOTP enrolment: a fresh seed, kept pending until a code
    /// from it confirms it (`confirm_totp`).
    pub fn begin_totp(&self, session: &str, now: DateTime<Utc>) -> Result<TotpEnrolment, Error> {
        let handle = self.actor.clone();
        self.door(Action::PersonTotp, vec![format!("person:{handle}")], "step=begin".into(), now, |rec| {
            self.may_enrol(&handle, session, now)?;
            let mut seed = [0u8; 20];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let b32 = totp_rs::Secret::new(Box::from(seed)).to_base32();
            let issuer = self.config.operator.clone();
            let uri = format!(
                "otpauth://totp/{}:{handle}?secret={b32}&issuer={}&algorithm=SHA1&digits=6&period=30",
                percent(&issuer),
                percent(&issuer)
            );
            self.record(rec, Outcome::Allowed, |c| c.totp_pending(&handle, &b32))?;
            Ok(TotpEnrolment { secret: SecretString::from(b32), uri: SecretString::from(uri) })
        })
    }

    /// Confirms the pending seed with a code from it: the second factor is enrolled, and
    /// the session `secret` (if any) counts as having given it.
    pub fn confirm_totp(&self, code: &str, session: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let handle = self.actor.clone();
        self.door(Action::PersonTotp, vec![format!("person:{handle}")], "step=confirm".into(), now, |rec| {
            self.may_enrol(&handle, session, now)?;
            let cred = self.catalog.credentials(&handle)?;
            let pending =
                cred.totp_pending.ok_or_else(|| Error::BadInput("no enrolment under way: begin one first".into()))?;
            let step = totp_step(&pending, code, now)?.ok_or_else(|| {
                Error::BadInput("that code does not match: check the device's clock and type the current code".into())
            })?;
            let at = rfc3339(now);
            let hash = digest(session);
            // A new seed: every other session of the person ends.
            self.record(rec, Outcome::Allowed, |c| {
                c.totp_confirm(&handle, step, &at)?;
                c.end_other_sessions(&handle, &hash, &at)?;
                c.upgrade_session(&hash)
            })
        })
    }

    /// Whether the session `secret`, of `handle`, may enrol a second factor: a first one
    /// from the session its password opened; a new one, replacing the enrolled one, only
    /// from a session that gave the enrolled one (a password alone never replaces it).
    fn may_enrol(&self, handle: &str, secret: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let s = self.session(secret, now)?;
        if s.person.handle != handle {
            return Err(Error::NotSignedIn);
        }
        if s.totp_enrolled && s.second_factor_due {
            return Err(Error::Refused {
                clauses: vec!["OPS-1".into()],
                reason: "a second factor is enrolled: give its code first (a lost device is reset by the ops team)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Records a sign-in attempt for a handle that names no one, without the handle.
    fn record_unknown_sign_in(&self, details: String, now: DateTime<Utc>) -> Error {
        let mut rec = crate::Record::unknown(Action::SessionLogin, details, now);
        match self.append_as(&mut rec, UNKNOWN_ACTOR, Outcome::Denied, "OPS-1") {
            Ok(()) => Error::SignIn(SignInFailure::UnknownPerson),
            Err(e) => e,
        }
    }

    /// Removes `handle`'s second factor (a lost device; the ops team's), ending their sessions.
    pub fn reset_totp(&self, handle: &str, now: DateTime<Utc>) -> Result<(), Error> {
        self.door(Action::PersonTotp, vec![format!("person:{handle}")], "step=reset".into(), now, |rec| {
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| {
                c.totp_reset(handle)?;
                c.end_sessions(handle, None, &at)
            })
        })
    }

    /// Signs out of the session `secret`.
    pub fn logout(&self, secret: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let hash = digest(secret);
        let row = self.catalog.session(&hash)?.ok_or(Error::NotSignedIn)?;
        let handle = row.handle;
        self.door(Action::SessionLogout, vec![format!("person:{handle}")], String::new(), now, |rec| {
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| c.end_sessions(&handle, Some(&hash), &at))
        })
    }

    /// Who the current actor is (their own record).
    pub fn me(&self, now: DateTime<Utc>) -> Result<crate::Person, Error> {
        let handle = self.actor.clone();
        self.door(Action::SessionShow, vec![format!("person:{handle}")], String::new(), now, |_| {
            self.catalog.person(&handle)?.ok_or(Error::UnknownPerson(handle.clone()))
        })
    }

    /// Makes an API token acting as the current actor, shown once.
    pub fn create_token(
        &self,
        label: Option<&str>,
        expires: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Issued<TokenRow>, Error> {
        let handle = self.actor.clone();
        let mut id = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = format!("tk-{}", hex::encode(id));
        let resources = vec![format!("person:{handle}"), format!("token:{id}")];
        self.door(Action::TokenCreate, resources, format!("label={}", label.unwrap_or("")), now, |rec| {
            if let Some(l) = label {
                crate::text::check("label", l, false)?;
            }
            if let Some(e) = expires
                && e <= now
            {
                return Err(Error::BadInput(
                    "the expiry is in the past: give a later date or a duration such as 90d".into(),
                ));
            }
            let secret = format!("{TOKEN_PREFIX}{}", random_secret());
            let row = TokenRow {
                id: id.clone(),
                handle: handle.clone(),
                label: label.map(str::to_owned),
                created: rfc3339(now),
                expires: expires.map(rfc3339),
                revoked: None,
            };
            self.record(rec, Outcome::Allowed, |c| c.add_token(&row, &digest(&secret)))?;
            Ok(Issued { info: row, secret: SecretString::from(secret) })
        })
    }

    /// `handle`'s tokens (the current actor's own when None).
    pub fn tokens(&self, handle: Option<&str>, now: DateTime<Utc>) -> Result<Vec<TokenRow>, Error> {
        let handle = handle.unwrap_or(&self.actor).to_owned();
        self.door(Action::TokenList, vec![format!("person:{handle}")], String::new(), now, |_| {
            self.catalog.tokens(&handle)
        })
    }

    /// Revokes a token: it stops working at once. A token of someone else answers as an
    /// unknown one to whoever may not revoke it.
    pub fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> Result<TokenRow, Error> {
        let owner = self.catalog.token(id).ok().flatten().map(|t| t.handle);
        // Another's token is looked up only for those the policy lets revoke it.
        let owner = match owner {
            Some(o)
                if o == self.actor
                    || self.allowed_as(&self.actor, Action::TokenRevoke, &[format!("person:{o}")], now)? =>
            {
                Some(o)
            }
            _ => None,
        };
        let person = owner.clone().unwrap_or_else(|| self.actor.clone());
        let resources = vec![format!("person:{person}"), format!("token:{id}")];
        self.door(Action::TokenRevoke, resources, String::new(), now, |rec| {
            let t = owner
                .and_then(|_| self.catalog.token(id).ok().flatten())
                .ok_or_else(|| Error::Unknown { what: "token", name: id.to_owned() })?;
            if t.revoked.is_some() {
                return Err(Error::BadInput(format!("token {id} is already revoked")));
            }
            self.record(rec, Outcome::Allowed, |c| c.revoke_token(id, &rfc3339(now)))?;
            Ok(TokenRow { revoked: Some(rfc3339(now)), ..t })
        })
    }

    /// The person a bearer token acts as, if it is in force. Not an operation of its own:
    /// the request it authenticates records its event, naming that person.
    pub fn authenticate_token(&self, secret: &str, now: DateTime<Utc>) -> Result<crate::Person, Error> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Err(Error::NotSignedIn);
        }
        self.catalog.read(|c| {
            let t = c.token_by_hash(&digest(secret))?.ok_or(Error::NotSignedIn)?;
            if t.revoked.is_some() || t.expires.as_deref().and_then(parse_time).is_some_and(|e| e <= now) {
                return Err(Error::NotSignedIn);
            }
            let p = c.person(&t.handle)?.ok_or(Error::NotSignedIn)?;
            if p.disabled.is_some() {
                return Err(Error::NotSignedIn);
            }
            Ok(p)
        })
    }
}

/// Percent-encodes a label of an `otpauth://` URI.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
