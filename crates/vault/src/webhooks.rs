//! Webhooks (issue 15): an endpoint of the operator's (a ticketing system) receives the
//! notifications' facts as JSON — ids, kinds, dates, sizes and a link, never client data —
//! signed with HMAC-SHA-256. The outbox delivers them like mail: written in the event's
//! transaction, retried with backoff, each attempt recorded.
//!
//! The signature, as a receiver checks it (the documented verification, docs/webhooks.md):
//! `Gardien-Signature: t=<unix seconds>,hmac-sha256=<hex>`, the MAC of `<t>.<body>` keyed
//! with the secret `webhook add` printed (its ASCII bytes). A receiver refuses a `t` more
//! than 300 seconds from its clock (a captured request replayed later), and acts once per
//! `id` of the signed body, which it remembers for a day (gardien's retries of one
//! notification, each signed anew, span at most about 15 hours).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::catalog::OutboxRow;
use crate::event::Action;
use crate::{Error, Issued, Outcome, Vault, keys, rfc3339};

/// The kinds a webhook may take (`--events`), or `all`.
pub const EVENTS: [&str; 12] = [
    "approval-waiting",
    "approval-reminder",
    "approval-decided",
    "approval-opened",
    "approval-ended",
    "drop-received",
    "drop-revoked",
    "drop-expiring",
    "destruction-notice",
    "certificate-issued",
    "sweep-blocked",
    "attestation-overdue",
];

/// How far a receiver lets a signature's time be from its clock, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

/// A webhook, as `webhook list` shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// `wh-` and 12 hex digits.
    pub id: String,
    /// Where it posts.
    pub url: String,
    /// The kinds it takes, comma-separated, or `*`.
    pub events: String,
    /// Only this client's notifications.
    pub client: Option<String>,
    /// When it was added, and by whom.
    pub created: String,
    /// Who added it.
    pub created_by: String,
    /// When it was removed.
    pub removed: Option<String>,
}

/// An endpoint's address (a webhook's, the portal's): `https://`, or `http://` to this
/// machine only (NET-1: nothing in clear on the network); parsed as HTTP parses it (the
/// `http` crate's `Uri`), printable, at most 2048 characters, no user or password.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{}: {why}", crate::quote_input(url));
    if url.len() > 2048 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("a URL is printable ASCII without spaces, at most 2048 characters"));
    }
    let uri: ureq::http::Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
    let authority = uri.authority().ok_or_else(|| bad("write https://HOST/PATH"))?;
    if authority.as_str().contains('@') {
        return Err(bad("no user or password in the URL"));
    }
    // Nothing after the host but its port (`[::1]evil.example` parses with host `[::1]`).
    let whole = match authority.port() {
        Some(p) => format!("{}:{}", authority.host(), p.as_str()),
        None => authority.host().to_owned(),
    };
    if whole != authority.as_str() {
        return Err(bad("the host is a name (tickets.example) or an IP address"));
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if authority.port().is_some_and(|p| p.as_str().parse::<u16>().map_or(true, |n| n == 0)) {
        return Err(bad("the port is a number from 1 to 65535"));
    }
    // The host is a name or an address, nothing else (`[::1]evil` parses as a host).
    let named = host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if !named && host.parse::<std::net::IpAddr>().is_err() {
        return Err(bad("the host is a name (tickets.example) or an IP address"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if crate::notify::is_loopback(host) => Ok(()),
        Some("http") => Err(bad("plain http only to this machine (127.0.0.1, ::1, localhost), NET-1: use https://")),
        _ => Err(bad("write https://HOST/PATH")),
    }
}

/// `--events`: known kinds, or `all`.
fn check_events(events: &[String]) -> Result<String, Error> {
    let mut out: Vec<&str> = Vec::new();
    let mut all = false;
    for e in events.iter().flat_map(|e| e.split(',')).map(str::trim).filter(|e| !e.is_empty()) {
        if e == "all" || e == "*" {
            all = true;
            continue;
        }
        if !EVENTS.contains(&e) {
            return Err(Error::BadInput(format!(
                "unknown event {}: the events are all, {}",
                crate::quote_input(e),
                EVENTS.join(", ")
            )));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if all {
        return Ok("*".into());
    }
    if out.is_empty() {
        return Err(Error::BadInput(format!("--events: all, or some of {}", EVENTS.join(", "))));
    }
    Ok(out.join(","))
}

impl Vault {
    /// `webhook add`: an endpoint for the notifications of `events` (of `client` only, or
    /// of every client). Its secret is printed once and kept wrapped to the master key.
    pub fn webhook_add(
        &self,
        url: &str,
        events: &[String],
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Issued<WebhookRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        let details = format!("events={}", events.join(","));
        self.door(Action::WebhookAdd, resources, details, now, |rec| {
            check_url(url).map_err(Error::BadInput)?;
            let events = check_events(events)?;
            if let Some(c) = client
                && !self.catalog.clients()?.iter().any(|x| x.slug == c)
            {
                return Err(Error::Unknown { what: "client", name: c.to_owned() });
            }
            let master = self
                .catalog
                .meta("master_recipient")?
                .ok_or_else(|| Error::Corrupt("the catalog has no master recipient".into()))?;
            let secret = format!("whsec_{}", crate::auth::random_secret());
            let wrapped = keys::wrap_secret(&master, secret.as_bytes())?;
            let id = crate::drops::new_id("wh-", 6);
            let row = WebhookRow {
                id: id.clone(),
                url: url.to_owned(),
                events,
                client: client.map(str::to_owned),
                created: rfc3339(now),
                created_by: self.actor.clone(),
                removed: None,
            };
            rec.resources.insert(0, format!("webhook:{id}"));
            self.record(rec, Outcome::Allowed, |c| c.add_webhook(&row, &wrapped))?;
            Ok(Issued { info: row, secret: SecretString::from(secret) })
        })
    }

    /// `webhook list`: every webhook, removed ones too (never a secret).
    pub fn webhooks(&self, now: DateTime<Utc>) -> Result<Vec<WebhookRow>, Error> {
        self.door(Action::WebhookList, vec![], String::new(), now, |_| self.catalog.webhooks())
    }

    /// `webhook remove`: it takes nothing more; what waits for it is dropped (`skipped`).
    pub fn webhook_remove(&self, id: &str, now: DateTime<Utc>) -> Result<WebhookRow, Error> {
        self.door(Action::WebhookRemove, vec![format!("webhook:{id}")], String::new(), now, |rec| {
            let mut w = self
                .catalog
                .webhook(id)?
                .filter(|w| w.removed.is_none())
                .ok_or_else(|| Error::Unknown { what: "webhook", name: id.to_owned() })?;
            let at = rfc3339(now);
            self.record(rec, Outcome::Allowed, |c| c.remove_webhook(id, &at))?;
            w.removed = Some(at);
            Ok(w)
        })
    }

    /// The secret of a webhook, unwrapped with the master key, to sign with.
    pub(crate) fn webhook_secret(&self, id: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let wrapped = self.catalog.webhook_wrapped_secret(id)?;
        keys::unwrap_secret(&self.master_key()?, &format!("webhook {id}"), &wrapped)
    }
}

/// The JSON a webhook receives for `n`: its facts, never client data.
pub fn body(n: &OutboxRow, portal: Option<&str>) -> String {
    let facts: serde_json::Map<String, serde_json::Value> = n
        .facts
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    let link = portal.map(|p| format!("{p}{}", crate::notify::path_of(n)));
    serde_json::json!({
        "id": delivery_id(n),
        "event": n.kind,
        "client": n.client,
        "subject": n.subject,
        "facts": facts,
        "created": n.created,
        "link": link,
    })
    .to_string()
}

/// A notification's id for its receiver: the same on every retry, and new for every
/// notification even across data dirs (a vault restored from a backup reuses row numbers;
/// the instant, kind, subject and target it hashes in do not repeat).
pub fn delivery_id(n: &OutboxRow) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(format!("{}|{}|{}|{:?}", n.created, n.kind, n.subject, n.webhook).as_bytes());
    format!("{}-{}", n.id, &hex::encode(h)[..12])
}

/// `Gardien-Signature`'s value for `body` sent at `t` (unix seconds).
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={t},hmac-sha256={}", hex::encode(ctx.sign().as_ref()))
}

/// The documented verification: the header's MAC matches (compared in constant time) and
/// its time is within `TOLERANCE_SECONDS` of `now`. (A receiver also acts once per body
/// `id`.)
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> Result<(), &'static str> {
    let mut t = None;
    let mut mac = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("hmac-sha256", v)) => mac = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(mac)) = (t, mac) else { return Err("no t= or hmac-sha256= in the header") };
    if (now - t).abs() > TOLERANCE_SECONDS {
        return Err("signed more than 5 minutes away from now: a replay, or a clock off");
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut msg = t.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    ring::hmac::verify(&key, &msg, &mac).map_err(|_| "the signature does not match")
}

/// Posts `n` to the webhook at `url`: a 2xx answer is a delivery.
pub(crate) fn deliver(
    agent: &ureq::Agent,
    url: &str,
    secret: &[u8],
    n: &OutboxRow,
    portal: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let body = body(n, portal);
    let sig = signature(secret, now.timestamp(), body.as_bytes());
    let r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("gardien/", env!("CARGO_PKG_VERSION")))
        .header("Gardien-Event", &n.kind)
        .header("Gardien-Delivery", &delivery_id(n))
        .header("Gardien-Signature", &sig)
        .send(body.as_bytes());
    match r {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("the endpoint answered {}", resp.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// The agent webhooks are posted with: 10 seconds at most, no redirect (a redirect could
/// take the facts elsewhere), a status is an answer, not an error.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .max_redirects(0)
        // Straight to the endpoint: no HTTP_PROXY from the environment (a proxy elsewhere
        // would carry a loopback webhook's facts off this machine).
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_verification_takes_a_fresh_signature_and_refuses_the_rest() {
        let secret = b"whsec_test";
        let body = br#"{"id":"1","event":"drop-received"}"#;
        let header = signature(secret, 1_800_000_000, body);
        assert!(header.starts_with("t=1800000000,hmac-sha256="), "{header}");
        assert_eq!(verify(secret, &header, body, 1_800_000_000 + 299), Ok(()));
        assert!(verify(secret, &header, body, 1_800_000_000 + 301).is_err(), "a replay after 5 minutes");
        assert!(verify(secret, &header, body, 1_800_000_000 - 301).is_err(), "from the future");
        assert!(verify(b"another", &header, body, 1_800_000_000).is_err(), "another secret");
        assert!(verify(secret, &header, br#"{"id":"2","event":"drop-received"}"#, 1_800_000_000).is_err());
        let moved = header.replace("t=1800000000", "t=1800000100");
        assert!(verify(secret, &moved, body, 1_800_000_100).is_err(), "the time is signed too");
        assert!(verify(secret, "hmac-sha256=00", body, 1_800_000_000).is_err());
    }

    #[test]
    fn an_endpoint_is_https_or_loopback_and_names_no_credentials() {
        for ok in ["https://tickets.example/h", "http://127.0.0.1:8080/h", "http://[::1]:9/x", "http://localhost/h"] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://tickets.example/h",
            "ftp://x.example/",
            "https://user:pw@tickets.example/",
            "https:///path",
            "https://x.example/\u{7}",
            "http://127.0.0.1.evil.example/",
            "http://[::1]evil.example/h",
            "http://[::1].evil.example/h",
            "http://[::1/h",
            "http://127.0.0.1:99999/h",
            "http://localhost@evil.example/",
            "http://localhost.evil.example/",
            "https://",
            "https://user:pass@p.example/",
            "https://p.example/\u{202e}",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
