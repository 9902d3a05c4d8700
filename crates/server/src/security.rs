//! What every response carries and every form post is checked for: security headers (a
//! strict CSP with no inline script, HSTS over HTTPS, nosniff, no referrer, no framing),
//! `Cache-Control: no-store` on everything but static assets, a time limit per request,
//! and cross-site form posts refused (the `Origin` / `Sec-Fetch-Site` a browser sends;
//! each form also carries its session's token, checked by the portal).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Shared;

/// The longest a request may take (a vault operation waits for its event's group commit).
const REQUEST_TIME: Duration = Duration::from_secs(30);

/// `default-src 'none'`: only what is listed loads, and no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a state-changing browser request comes from our own pages: the browser's
/// `Sec-Fetch-Site` when it sends one (every current browser does; a page of another site,
/// a sandboxed frame included, is `cross-site` or `same-site`), else the `Origin`, which
/// must be ours. A client that sends neither is no browser carrying someone's cookie.
pub(crate) fn same_origin(req: &Request, https: bool) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), h.get(header::HOST).and_then(|v| v.to_str().ok())) {
        // `Origin: null` (a sandboxed frame, a file) is no origin of ours.
        (Some(origin), Some(host)) => origin.strip_prefix(if https { "https://" } else { "http://" }) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// The answer to a refused form post: a page, in both languages (no session is read here).
fn refused_page() -> Response {
    let body = "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Refusé — Refused</title>\
<link rel=\"stylesheet\" href=\"/static/gardien.css\"></head><body><main id=\"main\"><h1>Refusé</h1>\
<p role=\"alert\">Ce formulaire ne vient pas de ce site : il est refusé, rien n'a changé.</p>\
<p><a href=\"/\">Retour à l'accueil</a></p><h1 lang=\"en\">Refused</h1>\
<p lang=\"en\">This form does not come from this site: it is refused, nothing changed.</p>\
<p lang=\"en\"><a href=\"/\">Back to the home page</a></p></main></body></html>";
    (StatusCode::FORBIDDEN, axum::response::Html(body)).into_response()
}

pub(crate) async fn layer(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let form_post = !matches!(*req.method(), Method::GET | Method::HEAD) && !path.starts_with("/api/");
    let mut res = if form_post && !same_origin(&req, state.https) {
        refused_page()
    } else {
        // A tus request takes as long as its bytes (each piece within 30 s of the last).
        let limit =
            if crate::drop::is_tus(req.method(), &path) { Duration::from_secs(365 * 86400) } else { REQUEST_TIME };
        match tokio::time::timeout(limit, next.run(req)).await {
            Ok(r) => r,
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the request took too long to answer; it may still complete: check before trying again\n",
            )
                .into_response(),
        }
    };
    let status = res.status();
    let h = res.headers_mut();
    // A body refused as too large was not read to its end: the connection cannot carry another
    // request, and a client that pooled it would send its next one into a closed socket.
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin`: nothing to other sites; our own form posts keep their Origin (with
    // `no-referrer`, Chromium sends `Origin: null` on them).
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if state.https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    if !path.starts_with("/static/") {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
