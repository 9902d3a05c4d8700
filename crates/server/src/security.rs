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
use crate::errors::ApiError;

/// The longest a request may take (a vault operation waits for its event's group commit).
const REQUEST_TIME: Duration = Duration::from_secs(30);

/// `default-src 'none'`: only what is listed loads, and no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether a state-changing browser request comes from our own pages.
pub(crate) fn same_origin(req: &Request) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), h.get(header::HOST).and_then(|v| v.to_str().ok())) {
        // `Origin: null` (a sandboxed frame, a file) is no origin of ours.
        (Some(origin), Some(host)) => {
            origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) == Some(host)
        }
        (Some(_), None) => false,
        // Browsers send Origin on every POST; a client without one is not a browser
        // carrying someone's cookie.
        (None, _) => true,
    }
}

pub(crate) async fn layer(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let form_post = !matches!(*req.method(), Method::GET | Method::HEAD) && !path.starts_with("/api/");
    let mut res = if form_post && !same_origin(&req) {
        ApiError::Forbidden("cross-site form post refused").into_response()
    } else {
        match tokio::time::timeout(REQUEST_TIME, next.run(req)).await {
            Ok(r) => r,
            Err(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "the request took too long; nothing was changed\n").into_response()
            }
        }
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
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
