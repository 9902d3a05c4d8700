//! The portal: server-rendered pages in French and English, usable without JavaScript
//! (the verification page's script is the one exception, and adds only the check itself).
//! A session is a random secret in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict),
//! kept hashed by the vault; every form carries the session's anti-CSRF token.

use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::Shared;
use crate::errors::ApiError;
use crate::http::ClientAddr;
use crate::i18n::Lang;
use crate::identity::{FailureKind, SESSION_COOKIE, SESSION_COOKIE_PLAIN, log_failure, session_cookie};
use crate::pool::{Signed, Who};

/// What every portal request brings: its language, its session cookie, its address.
pub(crate) struct Visit {
    lang: Lang,
    /// Set when the request switched language (`?lang=`): the cookie to keep it.
    set_lang: Option<Lang>,
    cookie: Option<String>,
    addr: ClientAddr,
}

impl FromRequestParts<Shared> for Visit {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ClientAddr>().copied().ok_or(ApiError::NotFound)?;
        let asked = parts.uri.query().and_then(|q| {
            q.split('&').find_map(|kv| match kv {
                "lang=en" => Some(Lang::En),
                "lang=fr" => Some(Lang::Fr),
                _ => None,
            })
        });
        let cookie_lang = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| match c.trim() {
                "lang=en" => Some(Lang::En),
                "lang=fr" => Some(Lang::Fr),
                _ => None,
            });
        Ok(Visit {
            lang: asked.or(cookie_lang).unwrap_or(Lang::Fr),
            set_lang: asked,
            cookie: session_cookie(parts, state.https),
            addr,
        })
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// A page's frame: language switch, navigation for the person's role, sign-out.
fn page(v: &Visit, me: Option<&Signed>, title: &str, body: Markup) -> Response {
    page_with(v, me, title, body, false)
}

/// `page`, reloading itself every 5 seconds when `refresh` (work in progress).
fn page_with(v: &Visit, me: Option<&Signed>, title: &str, body: Markup, refresh: bool) -> Response {
    let l = v.lang;
    let person = me.and_then(|s| s.person.as_ref());
    let csrf = me.and_then(|s| s.session.as_ref()).map(|s| s.csrf.clone()).unwrap_or_default();
    let markup = html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="5"; }
                title { (title) " — gardien" }
                link rel="stylesheet" href="/static/gardien.css";
            }
            body {
                a.skip href="#main" { (l.t("skip")) }
                header {
                    p.brand { "gardien" span.tagline { " — " (l.t("title")) } }
                    a.lang href={ "?lang=" (l.other().code()) } lang=(l.other().code()) hreflang=(l.other().code()) { (l.t("lang.switch")) }
                    @if let Some(p) = person {
                        nav aria-label=(l.t("nav.main")) {
                            ul {
                                li { a href="/" { (l.t("nav.home")) } }
                                @for (href, key) in nav_for(&p.role) {
                                    li { a href=(href) { (l.t(key)) } }
                                }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (l.t("nav.logout")) " (" (p.handle) ")" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    let mut r = axum::response::Html(markup.into_string()).into_response();
    if let Some(lang) = v.set_lang {
        let c = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        if let Ok(c) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    r
}

/// The pages a role reaches from the navigation.
fn nav_for(role: &str) -> Vec<(&'static str, &'static str)> {
    match role {
        "client-admin" => vec![
            ("/datasets", "nav.datasets"),
            ("/log", "nav.log"),
            ("/certificates", "nav.certificates"),
            ("/keys", "nav.keys"),
            ("/sites", "nav.sites"),
            ("/servers", "nav.servers"),
            ("/approvals", "nav.approvals"),
            ("/drops", "nav.drops"),
            ("/verify", "nav.verify"),
        ],
        "client-signer" | "third-party" => vec![("/approvals", "nav.approvals"), ("/verify", "nav.verify")],
        "client-tech" => vec![("/sites", "nav.sites"), ("/servers", "nav.servers"), ("/verify", "nav.verify")],
        "technical-operator" => {
            vec![("/datasets", "nav.datasets"), ("/drops", "nav.drops"), ("/verify", "nav.verify")]
        }
        "sales" => vec![("/contracts", "nav.contracts"), ("/approvals", "nav.approvals"), ("/verify", "nav.verify")],
        _ => vec![
            ("/clients", "nav.clients"),
            ("/datasets", "nav.datasets"),
            ("/sweep", "nav.sweep"),
            ("/approvals", "nav.approvals"),
            ("/drops", "nav.drops"),
            ("/sites", "nav.sites"),
            ("/servers", "nav.servers"),
            ("/log?outcome=denied", "nav.refusals"),
            ("/certificates", "nav.certificates"),
            ("/verify", "nav.verify"),
        ],
    }
}

/// An error as a page: the same mapping as the API (a refusal names its clauses).
fn error_page(v: &Visit, me: Option<&Signed>, e: &ApiError) -> Response {
    let p = e.problem();
    let l = v.lang;
    let body = html! {
        p role="alert" {
            @if !p.clauses.is_empty() { "(" (p.clauses.join(", ")) ") " }
            (p.reason)
        }
        p { a href="/" { (l.t("error.back")) } }
    };
    let mut r = page(v, me, l.t("error.title"), body);
    *r.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// Runs a page's operation for the signed-in person; sends them to sign in (or to their
/// second factor) when the session is not (fully) in force.
async fn signed<T: Send + 'static>(
    state: &Shared,
    v: &Visit,
    f: impl FnOnce(&vault::Vault, &Signed) -> Result<T, vault::Error> + Send + 'static,
) -> Result<(T, Signed), Response> {
    let Some(secret) = v.cookie.clone() else {
        return Err(Redirect::to("/login").into_response());
    };
    let r = state
        .pool
        .run(Who::Session { secret: secret.clone(), full: true }, move |vault, s| Ok((f(vault, s), s.clone())))
        .await;
    match r {
        Ok((Ok(t), s)) => Ok((t, s)),
        Ok((Err(e), s)) => Err(error_page(v, Some(&s), &ApiError::Vault(e))),
        Err(vault::Error::NotSignedIn) => {
            // A session waiting for its second factor goes there; anything else signs in.
            let partial = state.pool.run(Who::Session { secret, full: false }, |_, s| Ok(s.clone())).await;
            match partial {
                Ok(s) if s.session.as_ref().is_some_and(|x| x.totp_enrolled) => {
                    Err(Redirect::to("/login/totp").into_response())
                }
                Ok(_) => Err(Redirect::to("/totp").into_response()),
                Err(_) => Err(Redirect::to("/login").into_response()),
            }
        }
        Err(e) => Err(error_page(v, None, &ApiError::Vault(e))),
    }
}

/// The form's token must be the session's (constant-time).
fn csrf_ok(s: &Signed, given: &str) -> bool {
    let expected = s.session.as_ref().map(|x| x.csrf.as_bytes()).unwrap_or_default();
    !expected.is_empty() && ring_eq(expected, given.as_bytes())
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest as _;
    // Equal-length digests compared byte by byte without early exit.
    let (x, y) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

fn session_cookie_header(state: &Shared, secret: &str) -> String {
    if state.https {
        format!("{SESSION_COOKIE}={secret}; Path=/; Secure; HttpOnly; SameSite=Strict")
    } else {
        format!("{SESSION_COOKIE_PLAIN}={secret}; Path=/; HttpOnly; SameSite=Strict")
    }
}

fn clear_cookie(state: &Shared) -> String {
    if state.https {
        format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
    } else {
        format!("{SESSION_COOKIE_PLAIN}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(c) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn login_form(v: &Visit, error: Option<&str>) -> Markup {
    let l = v.lang;
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action="/login" {
            p {
                label for="handle" { (l.t("login.handle")) }
                input #handle type="text" name="handle" autocomplete="username" required autocapitalize="none" spellcheck="false";
            }
            p {
                label for="password" { (l.t("login.password")) }
                input #password type="password" name="password" autocomplete="current-password" required;
            }
            p { button type="submit" { (l.t("login.submit")) } }
        }
    }
}

/// `GET /login`: the sign-in form (public).
pub(crate) async fn login_page(v: Visit) -> Response {
    page(&v, None, v.lang.t("login.title"), login_form(&v, None))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    handle: String,
    password: String,
}

/// `POST /login`: `session:login`, its password step.
pub(crate) async fn login(State(state): State<Shared>, v: Visit, Form(f): Form<LoginForm>) -> Response {
    let l = v.lang;
    if !state.throttle.reserve(v.addr.0) {
        let mut r = page(&v, None, l.t("login.title"), login_form(&v, Some(l.t("login.throttled"))));
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return r;
    }
    let handle = f.handle.trim().to_owned();
    let password = SecretString::from(f.password);
    let address = v.addr.0.to_string();
    let Ok(_permit) = state.hashing.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let result =
        state.pool.run(Who::Claimed(handle.clone()), move |vault, _| vault.login(&password, &address, now())).await;
    match result {
        Ok(issued) => {
            state.throttle.release(v.addr.0);
            let next = if !issued.info.second_factor_due {
                "/"
            } else if issued.info.totp_enrolled {
                "/login/totp"
            } else {
                "/totp"
            };
            with_cookie(
                Redirect::to(next).into_response(),
                &session_cookie_header(&state, issued.secret.expose_secret()),
            )
        }
        Err(e) => {
            let kind = match &e {
                vault::Error::SignIn(vault::SignInFailure::Locked) => FailureKind::Locked,
                _ => FailureKind::Password,
            };
            log_failure(v.addr, kind, &handle);
            let mut r = page(&v, None, l.t("login.title"), login_form(&v, Some(l.t("login.failed"))));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

fn code_form(v: &Visit, csrf: &str, action: &str, error: Option<&str>) -> Markup {
    let l = v.lang;
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            p {
                label for="code" { (l.t("totp.code")) }
                input #code type="text" name="code" inputmode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required;
            }
            p { button type="submit" { (l.t("totp.submit")) } }
        }
    }
}

/// The session a second-factor step belongs to (its password step done).
async fn partial(state: &Shared, v: &Visit) -> Option<Signed> {
    let secret = v.cookie.clone()?;
    state.pool.run(Who::Session { secret, full: false }, |_, s| Ok(s.clone())).await.ok()
}

/// `GET /login/totp`: the second step's form (part of the sign-in page).
pub(crate) async fn totp_page(State(state): State<Shared>, v: Visit) -> Response {
    match partial(&state, &v).await {
        Some(s) => {
            let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
            page(&v, None, v.lang.t("totp.title"), code_form(&v, &csrf, "/login/totp", None))
        }
        None => Redirect::to("/login").into_response(),
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    csrf: String,
    code: String,
}

/// `POST /login/totp`: `session:login`, its second-factor step.
pub(crate) async fn totp(State(state): State<Shared>, v: Visit, Form(f): Form<CodeForm>) -> Response {
    let l = v.lang;
    let Some(s) = partial(&state, &v).await else {
        return Redirect::to("/login").into_response();
    };
    if !csrf_ok(&s, &f.csrf) {
        return error_page(&v, None, &ApiError::Forbidden("this form expired: reload the page"));
    }
    if !state.throttle.reserve(v.addr.0) {
        return error_page(&v, None, &ApiError::Throttled);
    }
    let secret = v.cookie.clone().unwrap_or_default();
    let address = v.addr.0.to_string();
    let handle = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let r = state
        .pool
        .run(Who::Claimed(handle.clone()), move |vault, _| vault.login_totp(&secret, &f.code, &address, now()))
        .await;
    match r {
        Ok(()) => {
            state.throttle.release(v.addr.0);
            Redirect::to("/").into_response()
        }
        Err(_) => {
            log_failure(v.addr, FailureKind::Totp, &handle);
            let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
            let mut r =
                page(&v, None, l.t("totp.title"), code_form(&v, &csrf, "/login/totp", Some(l.t("totp.failed"))));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

/// A QR code of `text`, as inline SVG (no script, no request).
fn qr_svg(text: &str) -> Markup {
    let Ok(qr) = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium) else {
        return html! {};
    };
    let n = qr.size();
    let border = 4;
    let mut d = String::new();
    for y in 0..n {
        for x in 0..n {
            if qr.get_module(x, y) {
                d.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let dim = n + 2 * border;
    PreEscaped(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qr\" viewBox=\"0 0 {dim} {dim}\" role=\"img\" aria-label=\"QR code\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{d}\" fill=\"#000\"/></svg>"
    ))
}

/// `GET /totp`: `person:totp`, an enrolment begins (a fresh seed, shown once as a QR code).
pub(crate) async fn enrol_page(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let Some(s) = partial(&state, &v).await else {
        return Redirect::to("/login").into_response();
    };
    // An enrolled second factor is given, not replaced, at sign-in.
    if s.session.as_ref().is_some_and(|x| x.totp_enrolled && x.second_factor_due) {
        return Redirect::to("/login/totp").into_response();
    }
    let handle = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let required = s.session.as_ref().is_some_and(|x| x.second_factor_due);
    let secret = v.cookie.clone().unwrap_or_default();
    match state.pool.run(Who::Claimed(handle), move |vault, _| vault.begin_totp(&secret, now())).await {
        Ok(e) => {
            let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
            let body = html! {
                @if required { p.notice { (l.t("totp.enrol.required")) } }
                p { (l.t("totp.enrol.intro")) }
                (qr_svg(e.uri.expose_secret()))
                p { (l.t("totp.enrol.key")) " : " code.secret { (e.secret.expose_secret()) } }
                (code_form(&v, &csrf, "/totp", None))
            };
            page(&v, if required { None } else { Some(&s) }, l.t("totp.enrol.title"), body)
        }
        Err(e) => error_page(&v, None, &ApiError::Vault(e)),
    }
}

/// `POST /totp`: `person:totp`, the enrolment confirmed by a first code.
pub(crate) async fn enrol(State(state): State<Shared>, v: Visit, Form(f): Form<CodeForm>) -> Response {
    let Some(s) = partial(&state, &v).await else {
        return Redirect::to("/login").into_response();
    };
    if !csrf_ok(&s, &f.csrf) {
        return error_page(&v, None, &ApiError::Forbidden("this form expired: reload the page"));
    }
    let handle = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let secret = v.cookie.clone().unwrap_or_default();
    match state.pool.run(Who::Claimed(handle), move |vault, _| vault.confirm_totp(&f.code, &secret, now())).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => error_page(&v, None, &ApiError::Vault(e)),
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// `POST /logout`: `session:logout`.
pub(crate) async fn logout(State(state): State<Shared>, v: Visit, Form(f): Form<CsrfForm>) -> Response {
    let Some(s) = partial(&state, &v).await else {
        return with_cookie(Redirect::to("/login").into_response(), &clear_cookie(&state));
    };
    if !csrf_ok(&s, &f.csrf) {
        return error_page(&v, None, &ApiError::Forbidden("this form expired: reload the page"));
    }
    let secret = v.cookie.clone().unwrap_or_default();
    let handle = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let _ = state.pool.run(Who::Claimed(handle), move |vault, _| vault.logout(&secret, now())).await;
    with_cookie(Redirect::to("/login").into_response(), &clear_cookie(&state))
}

/// `GET /`: `session:show`, who is signed in and where to go.
pub(crate) async fn home(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (me, s) = match signed(&state, &v, |vault, _| vault.me(now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let enrolled = s.session.as_ref().is_some_and(|x| x.totp_enrolled);
    let body = html! {
        dl {
            dt { (l.t("home.signed_in_as")) } dd { (me.handle) @if let Some(n) = &me.name { " (" (n) ")" } }
            dt { (l.t("home.role")) } dd { (me.role) }
            @if let Some(c) = &me.client { dt { (l.t("home.client")) } dd { (c) } }
        }
        p {
            @if enrolled { (l.t("totp.enrolled")) } @else { (l.t("totp.not_enrolled")) " — " a href="/totp" { (l.t("totp.enrol.link")) } }
        }
        h2 { (l.t("contact.title")) }
        p { (l.t("contact.intro")) }
        form method="post" action="/contact" {
            input type="hidden" name="csrf" value=(s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default());
            p { label for="email" { (l.t("contact.email")) } input id="email" type="email" name="email" value=(me.email.clone().unwrap_or_default()) autocomplete="email"; }
            p { label for="notify_lang" { (l.t("contact.lang")) }
                select id="notify_lang" name="lang" {
                    option value="fr" selected[me.lang == "fr"] { "Français" }
                    option value="en" selected[me.lang == "en"] { "English" }
                }
            }
            p { button type="submit" { (l.t("contact.save")) } }
        }
        ul.cards {
            @for (href, key) in nav_for(&me.role) { li { a href=(href) { (l.t(key)) } } }
        }
    };
    page(&v, Some(&s), l.t("nav.home"), body)
}

fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut u = 0;
    while f >= 1024.0 && u < UNITS.len() - 1 {
        f /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{f:.1} {}", UNITS[u]) }
}

fn site_name(s: &str) -> &str {
    match s {
        "fr-roubaix" => "Roubaix",
        "fr-strasbourg" => "Strasbourg",
        other => other,
    }
}

fn day(s: &str) -> String {
    s.get(..10).unwrap_or(s).to_owned()
}

/// A period's end as its last day (`--until 2027-06-30` is kept as the next midnight).
fn until(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| lifecycle::show_until(t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| s.to_owned())
}

/// `GET /datasets`: `dataset:list`, the client's inventory and each dataset's fate.
pub(crate) async fn datasets(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (list, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.datasets(client.as_deref(), false, now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        @if list.is_empty() { p { (l.t("datasets.none")) } } @else {
            table {
                thead { tr {
                    th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("col.label")) } th scope="col" { (l.t("col.class")) }
                    th scope="col" { (l.t("col.size")) } th scope="col" { (l.t("col.sites")) } th scope="col" { (l.t("col.phase")) }
                    th scope="col" { (l.t("col.destroy")) } th scope="col" { (l.t("col.clause")) }
                } }
                tbody {
                    @for d in &list {
                        @let fate = d.fate.clone().unwrap_or(vault::Fate { phase: String::new(), due: None, rule: None, clause: None, held: false });
                        @let mut sites = d.copies.iter().map(|c| site_name(&c.site).to_owned()).collect::<Vec<_>>();
                        tr {
                            td { code { (d.id) } }
                            td { (d.label.clone().unwrap_or_default()) }
                            td { (d.class.as_str()) }
                            td { (size(d.size)) }
                            td { ({ sites.sort(); sites.dedup(); sites.join(", ") }) }
                            td { (fate.phase) }
                            td { @if fate.held { (l.t("held")) } @else { (fate.due.as_deref().map(day).unwrap_or_else(|| l.t("no_date").to_owned())) } }
                            td { (fate.clause.unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    page(&v, Some(&s), l.t("datasets.title"), body)
}

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    /// Only entries with this outcome (`denied`: the recent refusals).
    outcome: Option<String>,
}

/// `GET /log`: `ledger:list`, the client's access log, decoded, each entry with its proof
/// (`?outcome=denied`: the refusals only).
pub(crate) async fn log(State(state): State<Shared>, v: Visit, Query(q): Query<LogQuery>) -> Response {
    let l = v.lang;
    let (mut rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.ledger_events(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Some(o) = &q.outcome {
        rows.retain(|(_, e)| e.outcome.as_str() == o);
    }
    rows.reverse();
    rows.truncate(500);
    let body = html! {
        p { (l.t("log.intro")) }
        p { (l.t("log.verify")) " " a href="/verify" { (l.t("nav.verify")) } }
        table {
            thead { tr {
                th scope="col" { "#" } th scope="col" { (l.t("col.time")) } th scope="col" { (l.t("col.actor")) }
                th scope="col" { (l.t("col.action")) } th scope="col" { (l.t("col.resources")) }
                th scope="col" { (l.t("col.decision")) } th scope="col" { (l.t("col.proof")) }
            } }
            tbody {
                @for (i, e) in &rows {
                    tr {
                        td { (i) }
                        td { (e.time) }
                        td { (e.actor.trim_start_matches("person:")) }
                        td { code { (e.action.as_str()) } }
                        td { (e.resources.join(" ")) }
                        td { (l.t(e.outcome.as_str())) " (" (e.clause) ")" }
                        td {
                            a href={ "/log/" (i) "/proof" } download={ "entry-" (i) ".proof" } { (l.t("col.proof")) } " · "
                            a href={ "/log/" (i) "/entry" } download={ "entry-" (i) } { (l.t("log.entry")) }
                        }
                    }
                }
            }
        }
    };
    page(&v, Some(&s), l.t("log.title"), body)
}

/// `GET /log/{n}/proof`: `ledger:proof`, the entry's tlog-proof to download.
pub(crate) async fn log_proof(State(state): State<Shared>, v: Visit, Path(n): Path<u64>) -> Response {
    match signed(&state, &v, move |vault, _| vault.inclusion_proof(n, None, now())).await {
        Ok((proof, _)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"entry-{n}.proof\"")),
            ],
            proof,
        )
            .into_response(),
        Err(r) => r,
    }
}

/// `GET /log/{n}/entry`: `ledger:entry`, the entry's bytes (what its proof proves).
pub(crate) async fn log_entry(State(state): State<Shared>, v: Visit, Path(n): Path<u64>) -> Response {
    match signed(&state, &v, move |vault, _| vault.ledger_entry(n, now())).await {
        Ok((bytes, _)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"entry-{n}\"")),
            ],
            bytes,
        )
            .into_response(),
        Err(r) => r,
    }
}

/// `GET /certificates`: `certificate:list`.
pub(crate) async fn certificates(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.certificates(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        @if rows.is_empty() { p { (l.t("certificates.none")) } } @else {
            table {
                thead { tr { th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("col.dataset")) } th scope="col" { (l.t("col.issued")) } th scope="col" { (l.t("download")) } } }
                tbody { @for c in &rows { tr {
                    td { a href={ "/certificates/" (c.id) } { code { (c.id) } } }
                    td { code { (c.dataset) } }
                    td { (c.issued) }
                    td { a href={ "/certificates/" (c.id) "/file" } download={ (c.id) ".cert" } { (l.t("download")) } }
                } } }
            }
        }
    };
    page(&v, Some(&s), l.t("certificates.title"), body)
}

/// `GET /certificates/{id}`: `certificate:show`, rendered.
pub(crate) async fn certificate(State(state): State<Shared>, v: Visit, Path(id): Path<String>) -> Response {
    let l = v.lang;
    let ((rec, info), s) = match signed(&state, &v, move |vault, _| vault.certificate(&id, now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (heading, intro) = vault::CertificateInfo::heading(l == Lang::Fr);
    let body = html! {
        h2 { (heading) }
        p { (intro) }
        dl { @for (label, val) in info.rows(l == Lang::Fr) {
            dt { (label) }
            dd { @for (i, line) in val.lines().enumerate() { @if i > 0 { br; } (line) } }
        } }
        p { a href={ "/certificates/" (rec.id) "/file" } download={ (rec.id) ".cert" } { (l.t("download")) } " — " a href="/verify" { (l.t("nav.verify")) } }
    };
    page(&v, Some(&s), &format!("{} {}", l.t("certificates.title"), rec.id), body)
}

/// `GET /certificates/{id}/file`: `certificate:show`, the signed file.
pub(crate) async fn certificate_file(State(state): State<Shared>, v: Visit, Path(id): Path<String>) -> Response {
    match signed(&state, &v, move |vault, _| vault.certificate(&id, now())).await {
        Ok(((rec, _), _)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.cert\"", rec.id)),
            ],
            rec.note,
        )
            .into_response(),
        Err(r) => r,
    }
}

/// `GET /keys`: `client:key-list`.
pub(crate) async fn keys(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone()).unwrap_or_default();
        vault.client_keys(&client, now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let body = html! {
        p { (l.t("keys.intro")) }
        @if rows.iter().all(|k| k.removed.is_some()) { p { (l.t("keys.none")) } }
        ul.keys { @for k in rows.iter().filter(|k| k.removed.is_none()) { li {
            code { (k.recipient) } " " (k.label.clone().unwrap_or_default()) " — " (l.t("col.added")) " " (day(&k.added))
            form.inline method="post" action="/keys/remove" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="recipient" value=(k.recipient);
                button type="submit" aria-label={ (l.t("keys.remove")) " " (k.recipient) } { (l.t("keys.remove")) }
            }
        } } }
        h2 { (l.t("keys.add")) }
        form method="post" action="/keys" {
            input type="hidden" name="csrf" value=(csrf);
            p { label for="recipient" { (l.t("col.recipient")) } input #recipient type="text" name="recipient" required spellcheck="false" placeholder="age1..."; }
            p { label for="label" { (l.t("keys.label")) } input #label type="text" name="label"; }
            p { button type="submit" { (l.t("keys.add")) } }
        }
    };
    page(&v, Some(&s), l.t("keys.title"), body)
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    csrf: String,
    recipient: String,
    label: Option<String>,
}

/// Runs a form's operation once its token is checked, then goes back to `to`.
async fn post<T: Send + 'static>(
    state: &Shared,
    v: &Visit,
    csrf: String,
    to: String,
    f: impl FnOnce(&vault::Vault, &Signed) -> Result<T, vault::Error> + Send + 'static,
) -> Response {
    let r = signed(state, v, move |vault, me| {
        if !csrf_ok(me, &csrf) {
            return Ok(None);
        }
        f(vault, me).map(Some)
    })
    .await;
    match r {
        Ok((Some(_), _)) => Redirect::to(&to).into_response(),
        Ok((None, s)) => error_page(v, Some(&s), &ApiError::Forbidden("this form expired: reload the page")),
        Err(r) => r,
    }
}

/// `POST /keys`: `client:key-add`.
pub(crate) async fn add_key(State(state): State<Shared>, v: Visit, Form(f): Form<KeyForm>) -> Response {
    let label = f.label.filter(|l| !l.trim().is_empty());
    post(&state, &v, f.csrf, "/keys".into(), move |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone()).unwrap_or_default();
        vault.add_client_key(&client, f.recipient.trim(), label.as_deref(), now())
    })
    .await
}

/// `POST /keys/remove`: `client:key-remove`.
pub(crate) async fn remove_key(State(state): State<Shared>, v: Visit, Form(f): Form<KeyForm>) -> Response {
    post(&state, &v, f.csrf, "/keys".into(), move |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone()).unwrap_or_default();
        vault.remove_client_key(&client, f.recipient.trim(), now())
    })
    .await
}

/// `GET /approvals`: `approval:list`.
pub(crate) async fn approvals(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.approvals(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        @if rows.is_empty() { p { (l.t("approvals.none")) } } @else {
            table {
                thead { tr { th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("col.kind")) } th scope="col" { (l.t("col.for")) } th scope="col" { (l.t("col.status")) } th scope="col" { (l.t("col.until")) } } }
                tbody { @for a in &rows { tr {
                    td { a href={ "/approvals/" (a.id) } { code { (a.id) } } }
                    td { (a.kind) }
                    td { (a.for_handle.clone().unwrap_or_default()) }
                    td { (a.status) }
                    td { (a.until.as_deref().map(until).unwrap_or_default()) }
                } } }
            }
        }
    };
    page(&v, Some(&s), l.t("approvals.title"), body)
}

/// `GET /approvals/{id}`: `approval:show`, the scope in full; a signer decides from here
/// (CONF-4: only once the scope was shown, which this page is).
pub(crate) async fn approval(State(state): State<Shared>, v: Visit, Path(id): Path<String>) -> Response {
    let l = v.lang;
    let ((a, can_decide), s) = match signed(&state, &v, move |vault, me| {
        let a = vault.approval(&id, now())?;
        let signer = me.person.as_ref().is_some_and(|p| p.role == "client-signer");
        Ok((a, signer))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let body = html! {
        dl {
            dt { (l.t("col.kind")) } dd { (a.kind) }
            dt { (l.t("col.status")) } dd { (a.status) }
            dt { (l.t("approval.requester")) } dd { (a.requester) }
            @if let Some(f) = &a.for_handle { dt { (l.t("col.for")) } dd { (f) } }
            @if let Some(u) = &a.until { dt { (l.t("col.until")) } dd { (until(u)) } }
            dt { (l.t("col.datasets")) } dd { @if a.datasets.is_empty() { "—" } @else { @for (i, d) in a.datasets.iter().enumerate() { @if i > 0 { ", " } code { (d) } } } }
            @if let Some(by) = &a.decided_by { dt { (l.t("approval.decided_by")) } dd { (by) " — " (a.decided_at.as_deref().map(day).unwrap_or_default()) } }
            @if let Some(c) = &a.comment { dt { (l.t("approval.comment")) } dd { (c) } }
        }
        h2 { (l.t("approval.scope")) }
        pre.scope { (a.scope) }
        @if can_decide && a.status == "requested" {
            form method="post" action={ "/approvals/" (a.id) "/decision" } {
                input type="hidden" name="csrf" value=(csrf);
                p { label for="comment" { (l.t("approval.comment")) } textarea #comment name="comment" rows="3" {} }
                p {
                    button type="submit" name="decision" value="approve" { (l.t("approval.approve")) } " "
                    button type="submit" name="decision" value="refuse" { (l.t("approval.refuse")) }
                }
            }
        }
        @if can_decide && a.status == "approved" {
            form method="post" action={ "/approvals/" (a.id) "/revoke" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { (l.t("approval.revoke")) }
            }
        }
    };
    page(&v, Some(&s), &format!("{} {}", l.t("approvals.title"), a.id), body)
}

#[derive(Deserialize)]
pub(crate) struct DecisionForm {
    csrf: String,
    decision: String,
    comment: Option<String>,
}

/// `POST /approvals/{id}/decision`: `approval:decide`.
pub(crate) async fn decide(
    State(state): State<Shared>,
    v: Visit,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Response {
    let to = format!("/approvals/{id}");
    let approve = f.decision == "approve";
    let comment = f.comment.filter(|c| !c.trim().is_empty());
    post(&state, &v, f.csrf, to, move |vault, _| vault.decide_approval(&id, approve, comment.as_deref(), now())).await
}

/// `POST /approvals/{id}/revoke`: `approval:revoke`.
pub(crate) async fn revoke(
    State(state): State<Shared>,
    v: Visit,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let to = format!("/approvals/{id}");
    post(&state, &v, f.csrf, to, move |vault, _| vault.revoke_approval(&id, now())).await
}

/// `GET /clients`: `client:list` (the operator's staff).
pub(crate) async fn clients(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, _| vault.clients(now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        table {
            thead { tr { th scope="col" { (l.t("home.client")) } th scope="col" { (l.t("col.label")) } th scope="col" { (l.t("col.added")) } } }
            tbody { @for c in &rows { tr { td { code { (c.slug) } } td { (c.name) } td { (day(&c.created)) } } } }
        }
    };
    page(&v, Some(&s), l.t("nav.clients"), body)
}

/// `GET /sweep`: `vault:sweep` as a dry run, what the next daily sweep (24 hours from now)
/// will destroy, and what a hold keeps.
pub(crate) async fn sweep(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (report, s) =
        match signed(&state, &v, |vault, _| vault.sweep_dry_run(now() + chrono::Duration::hours(24), now())).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let rows = |items: &[vault::DueItem]| {
        html! {
            table {
                thead { tr { th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("home.client")) } th scope="col" { (l.t("col.class")) } th scope="col" { (l.t("col.destroy")) } th scope="col" { (l.t("col.clause")) } } }
                tbody { @for d in items { tr {
                    td { code { (d.dataset.id) } } td { (d.dataset.client) } td { (d.dataset.class.as_str()) }
                    td { (lifecycle::show_instant(d.due.at)) " — " (d.due.rule) } td { (d.due.clause) }
                } } }
            }
        }
    };
    let body = html! {
        p { (l.t("sweep.intro")) }
        @if report.due.is_empty() { p { (l.t("sweep.none")) } } @else { (rows(&report.due)) }
        @if !report.held.is_empty() { h2 { (l.t("sweep.held")) } (rows(&report.held)) }
    };
    page(&v, Some(&s), l.t("nav.sweep"), body)
}

/// `GET /contracts`: `contract:list` (sales' cases, ops').
pub(crate) async fn contracts(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.contracts(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let t = |d: Option<chrono::DateTime<chrono::Utc>>| d.map(lifecycle::show_instant).unwrap_or_else(|| "—".into());
    let body = html! {
        table {
            thead { tr {
                th scope="col" { (l.t("col.case")) } th scope="col" { (l.t("home.client")) } th scope="col" { (l.t("col.phase")) }
                th scope="col" { (l.t("col.presales")) } th scope="col" { (l.t("col.deal")) } th scope="col" { (l.t("col.ends")) }
            } }
            tbody { @for r in &rows { tr {
                td { code { (r.contract.case) } } td { (r.client) } td { (r.contract.phase(now()).as_str()) }
                td { (t(r.contract.presales_until)) }
                td { (match r.contract.deal { lifecycle::Deal::Undecided => "—", lifecycle::Deal::Concluded { .. } => l.t("deal.concluded"), lifecycle::Deal::Lost { .. } => l.t("deal.lost") }) }
                td { (t(r.contract.ends)) }
            } } }
        }
    };
    page(&v, Some(&s), l.t("nav.contracts"), body)
}

/// `GET /verify`: `ledger:key`, the page that checks a proof or a certificate in the
/// browser, against the key it shows (and the person can pin).
pub(crate) async fn verify(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (key, s) = match signed(&state, &v, |vault, _| vault.ledger_key(now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        p { (l.t("verify.intro")) }
        form #verify-form {
            p { label for="verifier-key" { (l.t("verify.key")) } textarea #verifier-key name="key" rows="2" spellcheck="false" { (key.trim()) } }
            p { label for="kind" { (l.t("verify.kind")) }
                select #kind name="kind" {
                    option value="proof" { (l.t("verify.kind.proof")) }
                    option value="certificate" { (l.t("verify.kind.certificate")) }
                }
            }
            p { label for="file" { (l.t("verify.file")) } input #file type="file"; }
            p { label for="text" { (l.t("verify.text")) } textarea #text rows="8" spellcheck="false" {} }
            div #entry-fields {
                p { label for="entry-file" { (l.t("verify.entry")) } input #entry-file type="file"; }
                p { label for="entry-text" { (l.t("verify.entry_text")) } textarea #entry-text rows="6" spellcheck="false" {} }
            }
            p { button type="submit" { (l.t("verify.submit")) } }
        }
        div #result role="status" aria-live="polite" {}
        script type="module" src="/static/verify.js" {}
    };
    page(&v, Some(&s), l.t("verify.title"), body)
}

/// Static assets: the stylesheet and the verification script (public, cacheable).
/// The media type of the scripts served.
pub(crate) const JS: &str = "text/javascript; charset=utf-8";

/// A static asset, cached by browsers for `cache`.
pub(crate) fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)], body).into_response()
}

pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", "public, max-age=3600", include_str!("../assets/gardien.css"))
}

pub(crate) async fn verify_js() -> Response {
    asset(JS, "public, max-age=3600", include_str!("../assets/verify.js"))
}

// ---- The secure drop (issue 11) -------------------------------------------------------

fn staff(s: &Signed) -> bool {
    s.person.as_ref().is_some_and(|p| matches!(p.role.as_str(), "ops" | "technical-operator"))
}

/// `GET /drops`: `drop:list` (the staff: the drops they may see; a client's admin: its
/// own), and for the staff the form that opens one.
pub(crate) async fn drops(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.drops(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let me = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let body = html! {
        @if rows.is_empty() { p { (l.t("drops.none")) } } @else {
            table {
                thead { tr {
                    th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("home.client")) } th scope="col" { (l.t("col.class")) }
                    th scope="col" { (l.t("drops.to")) } th scope="col" { (l.t("col.status")) } th scope="col" { (l.t("col.until")) }
                } }
                tbody { @for d in &rows { tr {
                    td { a href={ "/drops/" (d.id) } { code { (d.id) } } }
                    td { (d.client) } td { (d.class) } td { (d.addressed_to) }
                    td { (d.state) @if let Some(r) = &d.end_reason { " (" (r) ")" } }
                    td { (until(&d.expires)) }
                } } }
            }
        }
        @if staff(&s) {
            h2 { (l.t("drops.new")) }
            form method="post" action="/drops" {
                input type="hidden" name="csrf" value=(csrf);
                p { label for="client" { (l.t("home.client")) } input id="client" name="client" required; }
                p { label for="to" { (l.t("drops.to")) } input id="to" name="to" required value=(me); }
                p { label for="contract" { (l.t("drops.contract")) } input id="contract" name="contract" required; }
                p { label for="class" { (l.t("col.class")) }
                    select id="class" name="class" {
                        option value="presales-sample" { "presales-sample" }
                        option value="loading-data" { "loading-data" }
                    }
                }
                p { label for="expires" { (l.t("drops.expires")) } input id="expires" name="expires" value="7d"; }
                p { label for="max_size" { (l.t("drops.max")) } input id="max_size" name="max_size" value="50GiB"; }
                p { label for="label" { (l.t("col.label")) } input id="label" name="label"; }
                p { button type="submit" { (l.t("drops.create")) } }
            }
        }
    };
    page(&v, Some(&s), l.t("drops.title"), body)
}

#[derive(Deserialize)]
pub(crate) struct DropForm {
    csrf: String,
    client: String,
    to: String,
    contract: String,
    class: String,
    expires: String,
    max_size: String,
    label: Option<String>,
}

/// `POST /drops`: `drop:create`; the link and password are shown on the answer, once.
pub(crate) async fn create_drop(
    State(state): State<Shared>,
    v: Visit,
    headers: axum::http::HeaderMap,
    Form(f): Form<DropForm>,
) -> Response {
    let l = v.lang;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let scheme = if state.https { "https" } else { "http" };
    let r = signed(&state, &v, move |vault, me| {
        if !csrf_ok(me, &f.csrf) {
            return Ok(None);
        }
        let class = f.class.parse().map_err(|_| {
            vault::Error::BadInput(format!("a drop takes presales-sample or loading-data, not {}", f.class))
        })?;
        let expires = vault::parse_expires(&f.expires, now()).map_err(vault::Error::BadInput)?;
        let max_size = vault::parse_size(&f.max_size).map_err(vault::Error::BadInput)?;
        let label = f.label.filter(|x| !x.trim().is_empty());
        let req = vault::DropRequest {
            client: f.client.trim(),
            to: f.to.trim(),
            contract: f.contract.trim(),
            class,
            expires,
            max_size,
            label: label.as_deref(),
        };
        vault.drop_create(&req, now()).map(Some)
    })
    .await;
    let (d, s) = match r {
        Ok((Some(d), s)) => (d, s),
        Ok((None, s)) => return error_page(&v, Some(&s), &ApiError::Forbidden("this form expired: reload the page")),
        Err(r) => return r,
    };
    let link = format!("{scheme}://{host}/d/{}", d.token.expose_secret());
    let body = html! {
        p role="status" { (l.t("drops.once")) }
        dl {
            dt { (l.t("drops.link")) } dd { code { (link) } }
            dt { (l.t("login.password")) } dd { code { (d.password.expose_secret()) } }
            dt { (l.t("drops.to")) } dd { (d.drop.addressed_to) }
            dt { (l.t("col.until")) } dd { (until(&d.drop.expires)) }
            dt { (l.t("drops.max")) } dd { (size(d.drop.max_size)) }
        }
        p { a href={ "/drops/" (d.drop.id) } { (d.drop.id) } }
    };
    page(&v, Some(&s), l.t("drops.created"), body)
}

/// `GET /drops/{id}`: `drop:show`, and for its staff the revocation.
pub(crate) async fn drop_page(State(state): State<Shared>, v: Visit, Path(id): Path<String>) -> Response {
    let l = v.lang;
    let ((d, ups), s) = match signed(&state, &v, move |vault, _| vault.drop_show(&id, now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let body = html! {
        dl {
            dt { (l.t("home.client")) } dd { (d.client) }
            dt { (l.t("drops.contract")) } dd { (d.contract) }
            dt { (l.t("col.class")) } dd { (d.class) }
            dt { (l.t("drops.to")) } dd { (d.addressed_to) }
            dt { (l.t("drops.by")) } dd { (d.created_by) }
            @if let Some(x) = &d.label { dt { (l.t("col.label")) } dd { (x) } }
            dt { (l.t("col.status")) } dd { (d.state) @if let Some(r) = &d.end_reason { " (" (r) ")" } }
            @if d.failures > 0 { dt { (l.t("drops.failures")) } dd { (d.failures) } }
            dt { (l.t("col.until")) } dd { (until(&d.expires)) }
            dt { (l.t("drops.max")) } dd { (size(d.max_size)) }
            dt { (l.t("drops.recipient")) } dd { code { (d.recipient) } }
            @if let Some(ds) = &d.dataset { dt { (l.t("drops.dataset")) } dd { code { (ds) } } }
        }
        @if !ups.is_empty() {
            h2 { (l.t("drops.uploads")) }
            table {
                thead { tr { th scope="col" { (l.t("col.id")) } th scope="col" { (l.t("col.status")) } th scope="col" { (l.t("col.size")) } } }
                tbody { @for u in &ups { tr {
                    td { code { (u.id) } } td { (u.state) } td { (u.length.map(size).unwrap_or_else(|| "—".into())) }
                } } }
            }
        }
        @if staff(&s) && d.state == "open" {
            form method="post" action={ "/drops/" (d.id) "/revoke" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { (l.t("drops.revoke")) }
            }
        }
    };
    page(&v, Some(&s), &format!("{} {}", l.t("drops.one"), d.id), body)
}

/// `POST /drops/{id}/revoke`: `drop:revoke`.
pub(crate) async fn revoke_drop(
    State(state): State<Shared>,
    v: Visit,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let to = format!("/drops/{id}");
    post(&state, &v, f.csrf, to, move |vault, _| vault.drop_revoke(&id, now())).await
}

#[derive(Deserialize)]
pub(crate) struct ContactForm {
    csrf: String,
    email: String,
    lang: String,
}

/// `POST /contact`: `person:contact`, one's own address and language (issue 15).
pub(crate) async fn contact(State(state): State<Shared>, v: Visit, Form(f): Form<ContactForm>) -> Response {
    post(&state, &v, f.csrf, "/".into(), move |vault, me| {
        let handle = me.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
        let email = f.email.trim();
        let contact =
            vault::Contact { email: Some((!email.is_empty()).then(|| email.to_owned())), lang: Some(f.lang.clone()) };
        vault.set_contact(&handle, &contact, now())
    })
    .await
}

/// `GET /sites`: `site:list` (a client's people: their client's).
pub(crate) async fn sites(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.sites(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        p { (l.t("sites.intro")) }
        @if rows.is_empty() { p { (l.t("sites.none")) } }
        @else {
            table {
                thead { tr { th scope="col" { (l.t("col.site")) } th scope="col" { (l.t("col.client")) } th scope="col" { (l.t("col.contract")) } } }
                tbody { @for r in &rows { tr {
                    td { a href={ "/sites/" (r.slug) } { (r.slug) } } td { (r.client) } td { (r.contract) }
                } } }
            }
        }
    };
    page(&v, Some(&s), l.t("sites.title"), body)
}

/// `GET /sites/{slug}`: `site:show`; its restitutions, those under way, and (for whoever
/// may ask for one) the form to hand it back to one of the client's keys.
pub(crate) async fn site(State(state): State<Shared>, v: Visit, Path(slug): Path<String>) -> Response {
    let l = v.lang;
    // The jobs first: one seen done has its archive in the vault's answer that follows
    // (shown only once the vault let this person see the site).
    let jobs = state.jobs.of_site(&slug);
    let ((view, keys), s) = match signed(&state, &v, move |vault, me| {
        let view = vault.site(&slug, now())?;
        let role = me.person.as_ref().map(|p| p.role.as_str()).unwrap_or_default();
        // The keys it may go to: read only by those who may hand it back (their own
        // operation, recorded as such).
        let keys = if matches!(role, "client-admin" | "ops") {
            vault.client_keys(&view.site.client, now())?.into_iter().filter(|k| k.removed.is_none()).collect()
        } else {
            Vec::new()
        };
        Ok((view, keys))
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let csrf = s.session.as_ref().map(|x| x.csrf.clone()).unwrap_or_default();
    let viewer = s.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default();
    let jobs: Vec<_> = jobs.into_iter().filter(|j| j.seen_by(&viewer)).collect();
    let running = jobs.iter().any(|j| j.outcome.is_none());
    let client_admin = s.person.as_ref().is_some_and(|p| p.role == "client-admin");
    let restitutions: Vec<_> = view.archives.iter().filter(|a| a.kind == "restitution").collect();
    let backups = view.archives.iter().filter(|a| a.kind == "backup").count();
    let size = |n: u64| format!("{:.1} MiB", n as f64 / 1048576.0);
    let body = html! {
        dl {
            dt { (l.t("col.client")) } dd { (view.site.client) }
            dt { (l.t("col.contract")) } dd { (view.site.contract) }
            dt { (l.t("sites.backups")) } dd { (backups) }
        }
        h2 { (l.t("sites.restitutions")) }
        p { (l.t("sites.restitutions.intro")) }
        @if restitutions.is_empty() { p { (l.t("sites.restitutions.none")) } }
        @else {
            table {
                thead { tr {
                    th scope="col" { (l.t("col.dataset")) } th scope="col" { (l.t("col.archive")) }
                    th scope="col" { (l.t("col.recipient")) } th scope="col" { (l.t("col.size")) }
                    th scope="col" { (l.t("col.inconsistencies")) } th scope="col" { (l.t("col.file")) }
                } }
                tbody { @for a in &restitutions { tr {
                    td { code { (a.dataset) } } td { (a.top) }
                    td { code.key { (a.recipient.clone().unwrap_or_default()) } }
                    td { (a.files) " " (l.t("sites.files")) ", " (size(a.file_bytes)) " + " (size(a.db_bytes)) }
                    td { (a.inconsistencies.lines().count()) }
                    td { @if client_admin { a href={ "/restitutions/" (a.dataset) "/file" } download { (l.t("sites.download")) } } }
                } } }
            }
            p.hint { (l.t("sites.download.hint")) }
        }
        @if !jobs.is_empty() {
            h2 { (l.t("sites.jobs")) }
            ul.jobs { @for j in &jobs {
                li {
                    (j.job.started_at) " — " (j.job.started_by) " → " code.key { (j.job.recipient) } " : "
                    @match &j.outcome {
                        None => {
                            @let (done, total, files, rate, left) = j.progress;
                            progress value=(done) max=(total.max(1)) aria-label=(l.t("sites.progress")) {}
                            " " (size(done)) " / " (size(total)) ", " (files) " " (l.t("sites.files")) ", "
                            (size(rate)) "/s"
                            @if let Some(left) = left { ", " (l.t("sites.left")) " " (left / 60) " min " (left % 60) " s" }
                        }
                        Some(Ok(id)) => {
                            (l.t("sites.done"))
                            // Named only where `dataset show` would show it.
                            @if view.archives.iter().any(|a| &a.dataset == id) { " " code { (id) } }
                        }
                        Some(Err(p)) => {
                            span role="alert" { @if !p.clauses.is_empty() { "(" (p.clauses.join(", ")) ") " } (p.reason) }
                        }
                    }
                }
            } }
        }
        @if !keys.is_empty() {
            h2 { (l.t("sites.handback")) }
            form method="post" action={ "/sites/" (view.site.slug) "/restitution" } {
                input type="hidden" name="csrf" value=(csrf);
                p {
                    label for="recipient" { (l.t("sites.handback.key")) }
                    select #recipient name="recipient" required {
                        @for k in &keys { option value=(k.recipient) { (k.recipient) @if let Some(lb) = &k.label { " — " (lb) } } }
                    }
                }
                p { button type="submit" { (l.t("sites.handback.go")) } }
            }
        } @else if client_admin {
            p { (l.t("sites.handback.nokey")) " " a href="/keys" { (l.t("nav.keys")) } }
        }
    };
    let title = format!("{} {}", l.t("sites.site"), view.site.slug);
    page_with(&v, Some(&s), &title, body, running)
}

#[derive(Deserialize)]
pub(crate) struct RestitutionForm {
    csrf: String,
    recipient: String,
}

/// `POST /sites/{slug}/restitution`: `site:restitution`, run on its own thread; the page
/// follows it.
pub(crate) async fn start_restitution(
    State(state): State<Shared>,
    v: Visit,
    Path(slug): Path<String>,
    Form(f): Form<RestitutionForm>,
) -> Response {
    let Some(secret) = v.cookie.clone() else {
        return Redirect::to("/login").into_response();
    };
    let r = signed(&state, &v, move |_, me| {
        Ok(csrf_ok(me, &f.csrf)
            .then(|| (me.person.as_ref().map(|p| p.handle.clone()).unwrap_or_default(), f.recipient)))
    })
    .await;
    match r {
        Ok((Some((by, recipient)), _)) => {
            let to = format!("/sites/{slug}");
            crate::jobs::start_restitution(
                &state,
                Who::Session { secret, full: true },
                slug,
                recipient.trim().to_owned(),
                &by,
            );
            Redirect::to(&to).into_response()
        }
        Ok((None, s)) => error_page(&v, Some(&s), &ApiError::Forbidden("this form expired: reload the page")),
        Err(r) => r,
    }
}

/// `GET /restitutions/{id}/file`: `dataset:export` of a restitution to the key it was made
/// for, resumable.
pub(crate) async fn restitution_file(
    State(state): State<Shared>,
    v: Visit,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(secret) = v.cookie.clone() else {
        return Redirect::to("/login").into_response();
    };
    match crate::download::serve(&state, Who::Session { secret, full: true }, id, &headers).await {
        Ok(r) => r,
        Err(ApiError::Vault(vault::Error::RangeNotSatisfiable { total })) => crate::download::unsatisfiable(total),
        Err(ApiError::Vault(vault::Error::NotSignedIn)) => Redirect::to("/login").into_response(),
        Err(e) => error_page(&v, None, &e),
    }
}

/// `GET /servers`: `server:list`; a client's people see their client's dedicated and
/// managed servers (ACC-2), the operator's ops every one.
pub(crate) async fn servers(State(state): State<Shared>, v: Visit) -> Response {
    let l = v.lang;
    let (rows, s) = match signed(&state, &v, |vault, me| {
        let client = me.person.as_ref().and_then(|p| p.client.clone());
        vault.servers(client.as_deref(), now())
    })
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = html! {
        p { (l.t("servers.intro")) }
        @if rows.is_empty() { p { (l.t("servers.none")) } }
        @else {
            table {
                thead { tr {
                    th scope="col" { (l.t("col.server")) } th scope="col" { (l.t("col.kind")) }
                    th scope="col" { (l.t("col.site")) } th scope="col" { (l.t("col.client")) }
                } }
                tbody { @for r in &rows { tr {
                    td { a href={ "/servers/" (r.name) } { (r.name) } } td { (l.t(&format!("servers.kind.{}", r.kind))) }
                    td { (r.site) } td { (r.client.clone().unwrap_or_else(|| "-".into())) }
                } } }
            }
        }
    };
    page(&v, Some(&s), l.t("servers.title"), body)
}

/// A finding in the page's language: its code's words (with its number), after what it is
/// about; the text as the check said it for a report kept before findings had codes.
fn finding_text(l: Lang, f: &serde_json::Value) -> String {
    let words = f["code"].as_str().map(|c| l.t(&format!("finding.{c}"))).filter(|w| *w != "??");
    match words {
        Some(w) => {
            let w = w.replace("{arg}", f["arg"].as_str().unwrap_or(""));
            let sep = if l == Lang::Fr { " : " } else { ": " };
            match f["subject"].as_str().filter(|s| !s.is_empty()) {
                Some(s) => format!("{s}{sep}{w}"),
                None => w,
            }
        }
        None => f["text"].as_str().unwrap_or("").to_owned(),
    }
}

/// `GET /servers/{name}`: `server:show`; its web applications and its last hygiene check,
/// each finding with its clause (WEB-1, WEB-2, NET-1).
pub(crate) async fn server(State(state): State<Shared>, v: Visit, Path(name): Path<String>) -> Response {
    let l = v.lang;
    let (view, s) = match signed(&state, &v, move |vault, _| vault.server(&name, now())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let srv = &view.server;
    let check = view.last_check.as_ref();
    let empty = Vec::new();
    let apps = check.and_then(|(_, r)| r["apps"].as_array()).unwrap_or(&empty);
    let findings = check.and_then(|(_, r)| r["findings"].as_array()).unwrap_or(&empty);
    let ports = |key: &str| -> String {
        let list: Vec<String> = check
            .and_then(|(_, r)| r[key].as_array())
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).map(|p| p.to_string()).collect())
            .unwrap_or_default();
        if list.is_empty() { "-".into() } else { list.join(", ") }
    };
    let body = html! {
        dl {
            dt { (l.t("col.kind")) } dd { (l.t(&format!("servers.kind.{}", srv.kind))) }
            dt { (l.t("col.site")) } dd { (srv.site) }
            dt { (l.t("col.client")) } dd { (srv.client.clone().unwrap_or_else(|| "-".into())) }
        }
        h2 { (l.t("servers.apps")) }
        @if view.apps.is_empty() { p { (l.t("servers.apps.none")) } }
        @else {
            table {
                thead { tr {
                    th scope="col" { (l.t("col.domain")) } th scope="col" { (l.t("col.kind")) }
                    th scope="col" { (l.t("servers.certificate")) }
                } }
                tbody { @for a in &view.apps { tr {
                    td { (a.domain) } td { (a.kind) }
                    td {
                        @match apps.iter().find(|x| x["domain"] == a.domain.as_str()) {
                            None => { (l.t("servers.unchecked")) }
                            Some(x) => {
                                @if x["valid"] == true { (l.t("servers.cert.valid")) } @else { strong { (l.t("servers.cert.invalid")) } }
                                @if let Some(d) = x["days_left"].as_i64() { ", " (d) " " (l.t("servers.days")) }
                            }
                        }
                    }
                } } }
            }
        }
        h2 { (l.t("servers.check")) }
        @match check {
            None => p { (l.t("servers.never")) },
            Some((at, report)) => {
                p { (l.t("servers.checked")) " " (lifecycle::parse_instant(at).map_or_else(|_| at.clone(), lifecycle::show_instant)) }
                dl {
                    dt { (l.t("servers.ports.open")) } dd { (ports("open_ports")) }
                    dt { (l.t("servers.ports.declared")) } dd { (ports("declared_ports")) }
                    dt { "NET-2" } dd {
                        @match report.get("fail2ban").filter(|f| !f.is_null()) {
                            None => { (l.t("servers.fail2ban.none")) }
                            Some(f) => {
                                @if f["running"] == true {
                                    (l.t("servers.fail2ban.running")) " "
                                    (f["jails"].as_array().map(|j| j.iter().map(|j| format!("{} ({})",
                                        j["name"].as_str().unwrap_or("?"), j["ports"].as_str().unwrap_or("?")))
                                        .collect::<Vec<_>>().join(", ")).filter(|s| !s.is_empty()).unwrap_or_else(|| "-".into()))
                                } @else { strong { (l.t("servers.fail2ban.stopped")) } }
                                ", " (l.t("servers.fail2ban.reported")) " "
                                (f["reported"].as_str().map(|at| lifecycle::parse_instant(at).map_or_else(|_| at.to_owned(), lifecycle::show_instant)).unwrap_or_default())
                            }
                        }
                    }
                }
                @if findings.is_empty() { p { (l.t("servers.findings.none")) } }
                @else {
                    ul.findings { @for f in findings {
                        li { strong { (f["clause"].as_str().unwrap_or("?")) } " — " (finding_text(l, f)) }
                    } }
                }
            }
        }
    };
    page(&v, Some(&s), &format!("{} {}", l.t("servers.server"), srv.name), body)
}
