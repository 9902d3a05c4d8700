//! Who is asking: a bearer token (the API) or a session cookie (the portal), checked on
//! every request; sign-in throttling per address (the account's own lock is the vault's);
//! the one log line per authentication failure that fail2ban reads (NET-2).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::Shared;
use crate::errors::ApiError;
use crate::http::ClientAddr;

/// The session cookie: `__Host-` binds it to this origin, over HTTPS, for the whole site.
pub(crate) const SESSION_COOKIE: &str = "__Host-gardien";
/// Its name when the server is reached over plain HTTP on loopback (browsers refuse a
/// `__Host-` cookie without HTTPS).
pub(crate) const SESSION_COOKIE_PLAIN: &str = "gardien-session";

/// Failures from one address within `WINDOW` after which it is refused for the window.
const MAX_FAILURES: usize = 20;
const WINDOW: Duration = Duration::from_secs(600);

/// Authentication failures per address, in memory (a restart forgets them; fail2ban,
/// reading the log, does not).
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    /// Whether `ip` failed too often lately.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(q) = map.get_mut(&ip) else { return false };
        while q.front().is_some_and(|t| t.elapsed() > WINDOW) {
            q.pop_front();
        }
        q.len() >= MAX_FAILURES
    }

    /// Takes a slot for a sign-in attempt from `ip` before it is checked (so that attempts
    /// sent at once are counted as they come, not after): false when `ip` is over its
    /// limit. A success gives the slot back (`release`); a failure keeps it.
    pub fn reserve(&self, ip: IpAddr) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let q = map.entry(ip).or_default();
        while q.front().is_some_and(|t| t.elapsed() > WINDOW) {
            q.pop_front();
        }
        if q.len() >= MAX_FAILURES {
            return false;
        }
        q.push_back(Instant::now());
        true
    }

    /// Gives back the slot of a sign-in attempt that succeeded.
    pub fn release(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(q) = map.get_mut(&ip) {
            q.pop_back();
        }
    }

    /// Notes a failure from `ip`.
    pub fn fail(&self, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bounded memory: an attacker with many addresses cannot grow the map for ever.
        if map.len() > 100_000 {
            map.retain(|_, q| q.back().is_some_and(|t| t.elapsed() <= WINDOW));
        }
        let q = map.entry(ip).or_default();
        q.push_back(Instant::now());
        if q.len() > MAX_FAILURES * 2 {
            q.pop_front();
        }
    }
}

/// Now, as the log lines write it.
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What an authentication failure was.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FailureKind {
    Password,
    Totp,
    Token,
    Locked,
    /// A drop's link and password, or an upload token, that opened nothing.
    Drop,
}

impl FailureKind {
    fn as_str(self) -> &'static str {
        match self {
            FailureKind::Password => "password",
            FailureKind::Totp => "totp",
            FailureKind::Token => "token",
            FailureKind::Locked => "locked",
            FailureKind::Drop => "drop",
        }
    }
}

/// The handle as the log line writes it: printable ASCII but `"` and `\`, others as
/// `\xNN`, at most 64 characters (nothing a person types can forge a field).
fn log_handle(handle: &str) -> String {
    let mut out = String::new();
    for b in handle.bytes().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The one line per authentication failure (contrib/fail2ban/filter.d/gardien.conf reads
/// it; the address comes before anything a person typed).
pub(crate) fn log_failure(addr: ClientAddr, kind: FailureKind, handle: &str) {
    eprintln!(
        "{} gardien auth-failure address={} kind={} handle=\"{}\"",
        now_text(),
        addr.0,
        kind.as_str(),
        log_handle(handle)
    );
}

/// `log_failure`, and the failure counted against the address.
pub(crate) fn auth_failed(state: &Shared, addr: ClientAddr, kind: FailureKind, handle: &str) {
    log_failure(addr, kind, handle);
    state.throttle.fail(addr.0);
}

/// A bearer token and where it came from (`/api/v1/`; cookies are never read there). The
/// token is checked in the request's vault operation (`Pool::run`).
#[derive(Debug, Clone)]
pub(crate) struct Bearer {
    pub token: String,
    pub addr: ClientAddr,
}

impl FromRequestParts<Shared> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ClientAddr>().copied().ok_or(ApiError::Unauthenticated)?;
        if state.throttle.blocked(addr.0) {
            return Err(ApiError::Throttled);
        }
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .map(str::to_owned);
        match token {
            Some(token) => Ok(Bearer { token, addr }),
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// The session cookie's value, if the request carries one: over HTTPS only the `__Host-`
/// one (a sibling site cannot set it), over plain HTTP on loopback only the plain one.
pub(crate) fn session_cookie(parts: &Parts, https: bool) -> Option<String> {
    let name = if https { SESSION_COOKIE } else { SESSION_COOKIE_PLAIN };
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}
