//! The secure drop's HTTP side (issue 11): the sender's page (`/d/{token}`), the password
//! that opens a session (`POST /d/{token}/session`), and the tus 1.0 endpoint (`/tus/`)
//! that takes the upload token as a bearer. The protocol's headers are the `tus` crate's;
//! the bytes stream from the connection to a blocking thread that writes and checks them
//! (`vault::Receiving`) in constant memory; every decision is the vault's, through the door.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use maud::{Markup, html};
use secrecy::{ExposeSecret as _, SecretString};

use crate::Shared;
use crate::errors::ApiError;
use crate::http::ClientAddr;
use crate::i18n::Lang;
use crate::identity::{FailureKind, log_failure};
use crate::pool::Who;

/// The tus endpoint, as `POST /d/{token}/session` names it.
pub(crate) const TUS_ENDPOINT: &str = "/tus/";
/// How long a PATCH may wait for its next bytes before it is ended (its lock given back).
const IDLE: Duration = Duration::from_secs(30);
/// The least a body must bring in each window, and the window.
const MIN_RATE: u64 = 64 * 1024;
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Uploads written at once by the whole server.
pub(crate) const RECEIVERS: usize = 32;
/// A PATCH without a checksum makes what it received durable every this many bytes, so a
/// cut or a kill loses at most this much.
const COMMIT_EVERY: u64 = 64 << 20;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// How a sender's request runs: no person acts (the vault's sender steps name the drop);
/// the vault is reset to the operator so nothing of a previous request's person remains.
fn sender() -> Who {
    Who::Claimed(vault::OPERATOR_HANDLE.into())
}

/// A text in the page's language.
fn t(l: Lang, fr: &'static str, en: &'static str) -> &'static str {
    match l {
        Lang::Fr => fr,
        Lang::En => en,
    }
}

fn lang_of(headers: &HeaderMap, uri: &axum::http::Uri) -> Lang {
    let q = uri.query().unwrap_or("");
    if q.split('&').any(|kv| kv == "lang=en") {
        return Lang::En;
    }
    if q.split('&').any(|kv| kv == "lang=fr") {
        return Lang::Fr;
    }
    let cookie_en = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == "lang=en");
    if cookie_en { Lang::En } else { Lang::Fr }
}

fn frame(l: Lang, title: &str, body: Markup, script: bool) -> Response {
    let markup = html! {
        (maud::DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — gardien" }
                link rel="stylesheet" href="/static/gardien.css";
                @if script {
                    script src="/static/drop-vendor.js" defer {}
                    script src="/static/drop.js" defer {}
                }
            }
            body {
                a.skip href="#main" { (t(l, "Aller au contenu", "Skip to content")) }
                header {
                    p.brand { "gardien" span.tagline { " — " (t(l, "dépôt sécurisé", "secure drop")) } }
                    a.lang href={ "?lang=" (l.other().code()) } lang=(l.other().code()) hreflang=(l.other().code()) {
                        (t(l, "English", "Français"))
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    axum::response::Html(markup.into_string()).into_response()
}

/// `GET /d/{token}`: the password form. The same page for every token, known or not
/// (PRE-1: nothing of a drop is reachable without its token and password).
pub(crate) async fn page(Path(token): Path<String>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let l = lang_of(&headers, &uri);
    // The form posts to this link's own session; a token that cannot be one posts nowhere
    // useful, and gets the same page.
    let token: String =
        if token.len() <= 128 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            token
        } else {
            "invalid".into()
        };
    let action = format!("/d/{token}/session");
    frame(
        l,
        t(l, "Déposer un fichier", "Send a file"),
        html! {
            p { (t(l, "Ce lien ouvre un dépôt : un seul fichier, chiffré dans votre navigateur avant de partir, pour une seule personne nommée chez l'hébergeur.",
                      "This link opens a drop: one file, encrypted in your browser before it leaves, for one named person at the operator.")) }
            form id="open" method="post" action=(action) {
                label for="password" { (t(l, "Mot de passe reçu séparément", "Password you received separately")) }
                input id="password" type="password" name="password" autocomplete="off" required;
                label for="receipt" { (t(l, "Votre adresse, pour un accusé de réception (facultatif)", "Your address, for a receipt (optional)")) }
                input id="receipt" type="email" name="receipt" autocomplete="email" maxlength="254" aria-describedby="receipt-hint";
                p id="receipt-hint" class="hint" { (t(l, "Elle ne sert qu'à vous envoyer, une fois le fichier reçu et vérifié, sa taille et son empreinte SHA-256.",
                                                      "It is used only to send you, once the file is in and checked, its size and SHA-256.")) }
                div { button type="submit" { (t(l, "Ouvrir le dépôt", "Open the drop")) } }
            }
            p id="open-error" role="alert" hidden {}
            section id="drop" hidden aria-labelledby="drop-title" {
                h2 id="drop-title" { (t(l, "Le dépôt", "The drop")) }
                dl {
                    dt { (t(l, "Destinataire", "Recipient")) } dd id="d-to" {}
                    dt { (t(l, "Pour le client", "For the client")) } dd id="d-client" {}
                    dt { (t(l, "Ouvert jusqu'au", "Open until")) } dd id="d-expires" {}
                    dt { (t(l, "Taille maximale", "Largest size")) } dd id="d-max" {}
                }
                p { (t(l, "Un dépôt reçoit un seul fichier, qui devient un jeu de données avec sa propre clé. Plusieurs fichiers : faites-en une archive, ou demandez plusieurs dépôts.",
                          "A drop receives one file, which becomes one dataset with its own key. Several files: make an archive, or ask for several drops.")) }
                label for="file" { (t(l, "Fichier", "File")) }
                input id="file" type="file";
                button id="send" type="button" { (t(l, "Chiffrer et envoyer", "Encrypt and send")) }
                progress id="bar" max="100" value="0" hidden {}
                p id="status" role="status" aria-live="polite" {}
                details {
                    summary { (t(l, "Sans navigateur : les commandes", "Without a browser: the commands")) }
                    p { (t(l, "Chiffrez le fichier pour la clé du dépôt avec age, puis envoyez-le avec curl ou tout client tus (tuspy, tus-js-client) :",
                              "Encrypt the file to the drop's key with age, then send it with curl or any tus client (tuspy, tus-js-client):")) }
                    pre { code id="commands" {} }
                }
            }
            noscript {
                p { (t(l, "Sans JavaScript, donnez le mot de passe : la page suivante montre les commandes (age et un client tus) pour envoyer le fichier.",
                          "Without JavaScript, give the password: the next page shows the commands (age and a tus client) to send the file.")) }
            }
        },
        true,
    )
}

/// What `POST /d/{token}/session` answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DropSession {
    /// The bearer token of the tus endpoint, for this drop only.
    pub upload_token: String,
    /// The age recipient to encrypt the file to (the drop's own key).
    pub recipient: String,
    /// Where to upload (tus 1.0).
    pub tus_endpoint: String,
    /// The largest file the drop takes (the age file, as sent), in bytes.
    pub max_size: u64,
    /// Until when the drop takes a file.
    pub expires: String,
    /// The technical operator it is addressed to (PRE-3).
    pub to: String,
    /// The client whose data it is.
    pub client: String,
}

#[derive(serde::Deserialize)]
struct PasswordBody {
    password: String,
    /// Where the sender wants a receipt once the file is in (optional).
    #[serde(default)]
    receipt: Option<String>,
}

/// `POST /d/{token}/session`: the password opens a session (JSON in, JSON out; or the
/// page's form, answered with the commands to send the file without a browser).
pub(crate) async fn session(State(state): State<Shared>, Path(token): Path<String>, req: Request) -> Response {
    let addr = req.extensions().get::<ClientAddr>().copied();
    let Some(addr) = addr else { return ApiError::NotFound.into_response() };
    let l = lang_of(req.headers(), req.uri());
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = match axum::body::to_bytes(req.into_body(), 4096).await {
        Ok(b) => b,
        Err(_) => return ApiError::BadRequest("the body is at most 4 KiB".into()).into_response(),
    };
    let (password, receipt) = if json {
        match serde_json::from_slice::<PasswordBody>(&bytes) {
            Ok(b) => (b.password, b.receipt),
            Err(e) => return ApiError::BadRequest(format!("send {{\"password\": \"...\"}}: {e}")).into_response(),
        }
    } else {
        match form_field(&bytes, "password") {
            Some(p) => (p, form_field(&bytes, "receipt")),
            None => return ApiError::BadRequest("send the password (password=...)".into()).into_response(),
        }
    };
    let receipt = receipt.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let lang = if l == Lang::En { "en" } else { "fr" };
    if !state.throttle.reserve(addr.0) {
        return ApiError::Throttled.into_response();
    }
    let password = SecretString::from(password);
    let address = addr.0.to_string();
    let tok = token.clone();
    let r = state
        .pool
        .run(sender(), move |v, _| v.drop_open(&tok, &password, &address, receipt.as_deref().map(|r| (r, lang)), now()))
        .await;
    match r {
        Ok(issued) => {
            state.throttle.release(addr.0);
            let d = issued.info;
            let s = DropSession {
                upload_token: issued.secret.expose_secret().to_owned(),
                recipient: d.recipient.clone(),
                tus_endpoint: TUS_ENDPOINT.into(),
                max_size: d.max_size,
                expires: d.expires.clone(),
                to: d.addressed_to.clone(),
                client: d.client.clone(),
            };
            if json { axum::Json(s).into_response() } else { commands_page(l, &s) }
        }
        Err(e) => {
            if matches!(e, vault::Error::DropClosed) {
                log_failure(addr, FailureKind::Drop, "(drop)");
            }
            let e = ApiError::Vault(e);
            if json {
                e.into_response()
            } else {
                let p = e.problem();
                let closed = p.status != 400;
                let mut r = frame(
                    l,
                    if closed {
                        t(l, "Dépôt fermé", "Drop closed")
                    } else {
                        t(l, "Demande invalide", "Invalid request")
                    },
                    html! {
                        @if !closed { p role="alert" { (p.reason) } }
                        @else { p role="alert" { (t(l, "Ce lien et ce mot de passe n'ouvrent pas de dépôt : le mot de passe est faux, ou le dépôt est inconnu, révoqué, expiré ou a déjà reçu son fichier. Après cinq mots de passe faux, le dépôt est révoqué.",
                                             "This link and password do not open a drop: the password is wrong, or the drop is unknown, revoked, expired or has received its file. Five wrong passwords revoke the drop.")) } }
                        p { a href="." { (t(l, "Réessayer", "Try again")) } }
                    },
                    false,
                );
                *r.status_mut() = StatusCode::from_u16(p.status).unwrap_or(StatusCode::FORBIDDEN);
                r
            }
        }
    }
}

/// The `password` field of a form body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The page a form post gets: the drop's facts and the exact commands.
fn commands_page(l: Lang, s: &DropSession) -> Response {
    let create = format!(
        "age -r {r} -o fichier.age fichier\ncurl -sS -i -X POST -T fichier.age \\\n  -H 'Tus-Resumable: 1.0.0' -H 'Authorization: Bearer {tok}' \\\n  -H \"Upload-Length: $(stat -c %s fichier.age)\" \\\n  -H 'Content-Type: application/offset+octet-stream' \\\n  https://SERVEUR/tus",
        r = s.recipient,
        tok = s.upload_token,
    );
    let tuspy = format!(
        "age -r {r} -o fichier.age fichier\npython3 -c 'from tusclient import client; c = client.TusClient(\"https://SERVEUR{e}\", headers={{\"Authorization\": \"Bearer {tok}\"}}); c.uploader(\"fichier.age\", chunk_size=8<<20).upload()'",
        r = s.recipient,
        tok = s.upload_token,
        e = s.tus_endpoint
    );
    frame(
        l,
        t(l, "Envoyer sans navigateur", "Send without a browser"),
        html! {
            dl {
                dt { (t(l, "Destinataire", "Recipient")) } dd { (s.to) }
                dt { (t(l, "Pour le client", "For the client")) } dd { (s.client) }
                dt { (t(l, "Ouvert jusqu'au", "Open until")) } dd { (s.expires) }
                dt { (t(l, "Taille maximale (octets)", "Largest size (bytes)")) } dd { (s.max_size) }
                dt { (t(l, "Clé age du dépôt", "The drop's age key")) } dd { code { (s.recipient) } }
            }
            p { (t(l, "Chiffrez le fichier pour la clé du dépôt, puis envoyez-le avec curl ou tout client tus (remplacez SERVEUR par l'adresse de cette page). Le jeton d'envoi ne sert qu'à ce dépôt ; gardez-le pour reprendre un envoi interrompu.",
                      "Encrypt the file to the drop's key, then send it with curl or any tus client (replace SERVEUR with this page's address). The upload token serves this drop only; keep it to resume an interrupted upload.")) }
            h2 { "curl" }
            pre { code { (create) } }
            h2 { "tuspy" }
            pre { code { (tuspy) } }
        },
        false,
    )
}

pub(crate) async fn drop_js() -> Response {
    crate::portal::asset(crate::portal::JS, "public, max-age=3600", include_str!("../assets/drop.js"))
}

pub(crate) async fn vendor_js() -> Response {
    crate::portal::asset(crate::portal::JS, "public, max-age=86400", include_str!("../assets/drop-vendor.js"))
}

// ---- tus ----------------------------------------------------------------------------

/// A tus refusal: its status, the protocol headers, and the reason in words.
fn tus_error(status: u16, reason: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{reason}\n"),
    )
        .into_response();
    tus_headers(r.headers_mut());
    if status == 412 {
        r.headers_mut().insert("tus-version", HeaderValue::from_static(tus::VERSION));
    }
    r
}

fn protocol(e: &tus::Error) -> Response {
    tus_error(e.status(), &e.to_string())
}

fn vault_error(e: vault::Error) -> Response {
    let mut r = ApiError::Vault(e).into_response();
    tus_headers(r.headers_mut());
    r
}

fn tus_headers(h: &mut HeaderMap) {
    h.insert("tus-resumable", HeaderValue::from_static(tus::VERSION));
}

fn http_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(str::to_owned)
}

fn header_str<'a>(headers: &'a HeaderMap) -> impl Fn(&str) -> Option<&'a str> {
    move |name| headers.get(name).and_then(|v| v.to_str().ok())
}

/// `OPTIONS /tus/`: what this server speaks.
pub(crate) async fn options() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    h.insert("tus-version", HeaderValue::from_static(tus::VERSION));
    h.insert("tus-extension", HeaderValue::from_static(tus::EXTENSIONS));
    h.insert("tus-checksum-algorithm", HeaderValue::from_static(tus::CHECKSUM_ALGORITHMS));
    if let Ok(v) = HeaderValue::from_str(&vault::MAX_MAX_SIZE.to_string()) {
        h.insert("tus-max-size", v);
    }
    r
}

/// The upload token's drop, or the tus answer for a request without one in force.
async fn authenticate(
    state: &Shared,
    headers: &HeaderMap,
    addr: Option<ClientAddr>,
) -> Result<vault::DropRow, Response> {
    if let Some(a) = addr
        && state.throttle.blocked(a.0)
    {
        return Err(vault_error_throttled());
    }
    let Some(token) = bearer(headers) else {
        return Err(tus_error(
            401,
            "give the upload token: Authorization: Bearer ... (POST /d/TOKEN/session answers it)",
        ));
    };
    let r = state.pool.run(sender(), move |v, _| v.drop_session(&token, now())).await;
    match r {
        Ok(d) => Ok(d),
        Err(e) => {
            if let Some(a) = addr {
                crate::identity::auth_failed(state, a, FailureKind::Drop, "(upload token)");
            }
            Err(vault_error(e))
        }
    }
}

/// `authenticate`, for the requests whose only protocol header is `Tus-Resumable` (HEAD,
/// DELETE).
async fn versioned(state: &Shared, headers: &HeaderMap, addr: Option<ClientAddr>) -> Result<vault::DropRow, Response> {
    tus::check_version(header_str(headers)("tus-resumable")).map_err(|e| protocol(&e))?;
    authenticate(state, headers, addr).await
}

fn vault_error_throttled() -> Response {
    let mut r = ApiError::Throttled.into_response();
    tus_headers(r.headers_mut());
    r
}

/// The upload id a tus URL names (`/tus/up-...` or a full URL), for a final concatenation.
fn upload_id(url: &str) -> Option<String> {
    let id = url.trim().rsplit('/').next()?;
    (id.starts_with("up-")
        && id.len() <= 64
        && id[3..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then(|| id.to_owned())
}

/// `POST /tus/`: creates an upload in the token's drop (creation, defer-length,
/// concatenation), with its first bytes if the body carries some (creation-with-upload).
pub(crate) async fn create(State(state): State<Shared>, req: Request) -> Response {
    let addr = req.extensions().get::<ClientAddr>().copied();
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let drop = match authenticate(&state, &headers, addr).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let creation = match tus::parse_creation(header_str(&headers), vault::MAX_MAX_SIZE) {
        Ok(c) => c,
        Err(e) => return protocol(&e),
    };
    let (length, concat, ids) = match &creation.concat {
        tus::Concat::None => (known(creation.length), "none", Vec::new()),
        tus::Concat::Partial => (known(creation.length), "partial", Vec::new()),
        tus::Concat::Final(urls) => {
            let ids: Option<Vec<String>> = urls.iter().map(|u| upload_id(u)).collect();
            match ids {
                Some(ids) => (None, "final", ids),
                None => return tus_error(400, "Upload-Concat: final; names uploads of this server (/tus/up-...)"),
            }
        }
    };
    let metadata = headers.get("upload-metadata").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let d = drop.clone();
    let uploads_dir = state.uploads.dir().to_owned();
    let concat_owned = concat.to_owned();
    let created = state
        .pool
        .run(sender(), move |v, _| {
            let st = v.upload_create(&d, length, &concat_owned, &ids, metadata.as_deref(), now())?;
            if concat_owned == "final" {
                // The parts, joined and checked as one age file, become the dataset.
                let identity = v.drop_identity(&d)?;
                let digest = match vault::concatenate(&uploads_dir, &st.row.id, &ids, identity) {
                    Ok(x) => x,
                    Err(vault::Error::DropFile(why)) => return Err(v.upload_refuse(&d, &st.row.id, &why, now())),
                    Err(e) => return Err(e),
                };
                v.drop_receive(&d, &st.row.id, digest, now())?;
            }
            Ok(st)
        })
        .await;
    let st = match created {
        Ok(s) => s,
        Err(e) => return vault_error(e),
    };
    let location = format!("{TUS_ENDPOINT}{}", st.row.id);
    // creation-with-upload: a body with the first bytes.
    let has_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(tus::OFFSET_OCTET_STREAM));
    let mut offset = None;
    if has_body && concat != "final" {
        let patch = tus::Patch {
            offset: 0,
            length: None,
            checksum: match headers.get("upload-checksum").and_then(|v| v.to_str().ok()).map(tus::parse_checksum) {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => return protocol(&e),
                None => None,
            },
        };
        let r = receive(&state, drop, st, patch, body).await;
        match r {
            Ok(o) => offset = Some(o),
            Err(resp) => return resp,
        }
    }
    let mut r = StatusCode::CREATED.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    if let Some(o) = offset {
        h.insert("upload-offset", HeaderValue::from(o));
    }
    r
}

fn known(l: Option<tus::Length>) -> Option<u64> {
    match l {
        Some(tus::Length::Known(n)) => Some(n),
        _ => None,
    }
}

/// `HEAD /tus/{id}`: the durable offset and what the upload was created with.
pub(crate) async fn head(State(state): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let addr = req.extensions().get::<ClientAddr>().copied();
    let headers = req.headers().clone();
    let drop = match versioned(&state, &headers, addr).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let st = match state.pool.run(sender(), move |v, _| v.upload_state(&drop, &id)).await {
        Ok(s) => s,
        Err(e) => return vault_error(e),
    };
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    tus_headers(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("upload-offset", HeaderValue::from(st.offset));
    match st.row.length {
        Some(n) => {
            h.insert("upload-length", HeaderValue::from(n));
        }
        None => {
            h.insert("upload-defer-length", HeaderValue::from_static("1"));
        }
    }
    if let Some(m) = st.row.metadata.as_deref().and_then(|m| HeaderValue::from_str(m).ok()) {
        h.insert("upload-metadata", m);
    }
    match st.row.concat.as_str() {
        "partial" => {
            h.insert("upload-concat", HeaderValue::from_static("partial"));
        }
        "final" => {
            let v = format!(
                "final;{}",
                st.row.parts.iter().map(|p| format!("{TUS_ENDPOINT}{p}")).collect::<Vec<_>>().join(" ")
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert("upload-concat", v);
            }
        }
        _ => {}
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(&st.row.expires)) {
        h.insert("upload-expires", v);
    }
    r
}

/// `PATCH /tus/{id}`: the next bytes, at the upload's offset.
pub(crate) async fn patch(State(state): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let addr = req.extensions().get::<ClientAddr>().copied();
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let p = match tus::parse_patch(header_str(&headers)) {
        Ok(p) => p,
        Err(e) => return protocol(&e),
    };
    let drop = match authenticate(&state, &headers, addr).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    // A drop that received its file answers HEAD only.
    if drop.state != "open" {
        return vault_error(vault::Error::DropClosed);
    }
    let d = drop.clone();
    let st = match state.pool.run(sender(), move |v, _| v.upload_state(&d, &id)).await {
        Ok(s) => s,
        Err(e) => return vault_error(e),
    };
    let expires = st.row.expires.clone();
    match receive(&state, drop, st, p, body).await {
        Ok(offset) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            tus_headers(r.headers_mut());
            r.headers_mut().insert("upload-offset", HeaderValue::from(offset));
            if let Ok(v) = HeaderValue::from_str(&http_date(&expires)) {
                r.headers_mut().insert("upload-expires", v);
            }
            r
        }
        Err(r) => r,
    }
}

/// What the connection side sends the writing thread.
enum Piece {
    Data(Bytes),
    End,
}

/// Receives a PATCH body (or a creation's) into an upload: checks the request against the
/// upload's state, streams the bytes to a blocking thread that writes and checks them,
/// then commits (or takes back, for a wrong checksum), and completes the upload when its
/// last byte is in. Returns the new offset.
async fn receive(
    state: &Shared,
    drop: vault::DropRow,
    st: vault::UploadState,
    p: tus::Patch,
    body: Body,
) -> Result<u64, Response> {
    let mut upload = tus::Upload {
        offset: st.offset,
        length: st.row.length,
        final_concat: st.row.concat == "final",
        max_size: drop.max_size,
    };
    let had_length = upload.length.is_some();
    let limit = upload.check_patch(&p).map_err(|e| protocol(&e))?;
    let row = st.row.clone();
    if !had_length && let Some(n) = upload.length {
        let (d, id) = (drop.clone(), row.id.clone());
        state.pool.run(sender(), move |v, _| v.upload_set_length(&d, &id, n)).await.map_err(vault_error)?;
    }
    // The drop's key, to check the bytes (a part of a concatenation is checked when its
    // final upload joins the parts).
    let identity = if row.concat == "none" {
        let d = drop.clone();
        Some(state.pool.run(sender(), move |v, _| v.drop_identity(&d)).await.map_err(vault_error)?)
    } else {
        None
    };
    // The server writes so many uploads at once (each holds a thread while its body
    // lasts); past that, a sender is asked to come back (tus clients retry on 503).
    let Ok(permit) = state.receivers.clone().try_acquire_owned() else {
        let mut r =
            tus_error(503, "the server is receiving as many uploads as it takes at once; try again in a few seconds");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Err(r);
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(16);
    let uploads = state.uploads.clone();
    let checksum = p.checksum.clone();
    let expected_offset = p.offset;
    let row_w = row.clone();
    let worker = tokio::task::spawn_blocking(move || -> Result<(vault::Receiving, Outcome), vault::Error> {
        let _permit = permit;
        let mut r = uploads.begin(&row_w, identity)?;
        if r.offset() != expected_offset {
            return Ok((r, Outcome::Offset));
        }
        let mut digest = checksum.as_ref().map(|c| {
            ring::digest::Context::new(match c.algorithm {
                tus::Algorithm::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                tus::Algorithm::Sha256 => &ring::digest::SHA256,
            })
        });
        let mut n = 0u64;
        let mut ended = false;
        // A chunk sent with a checksum that fails the age check may have been damaged on
        // the way: the rest of the body is read, and the checksum decides (460 if it does
        // not match: the chunk is taken back and sent again).
        let mut failed: Option<vault::Error> = None;
        while let Some(piece) = rx.blocking_recv() {
            match piece {
                Piece::Data(b) => {
                    if n + b.len() as u64 > limit {
                        r.rollback()?;
                        return Ok((r, Outcome::TooLarge));
                    }
                    if failed.is_none()
                        && let Err(e) = r.write(&b)
                    {
                        if checksum.is_none() {
                            return Ok((r, Outcome::BadFile(e)));
                        }
                        failed = Some(e);
                    }
                    if let Some(d) = digest.as_mut() {
                        d.update(&b);
                    }
                    n += b.len() as u64;
                    if checksum.is_none() && r.pending() >= COMMIT_EVERY {
                        r.commit()?;
                    }
                }
                Piece::End => {
                    ended = true;
                    break;
                }
            }
        }
        if let (Some(c), Some(d)) = (&checksum, digest) {
            if !ended || !c.matches(d.finish().as_ref()) {
                r.rollback()?;
                return Ok((r, if ended { Outcome::Checksum } else { Outcome::Cut }));
            }
            // The bytes are the ones the sender meant: a failed check is the file's.
            if let Some(e) = failed {
                return Ok((r, Outcome::BadFile(e)));
            }
        }
        // A body cut short keeps what arrived (tus: the offset is what is durable).
        r.commit()?;
        Ok((r, if ended { Outcome::Done } else { Outcome::Cut }))
    });
    // The connection side: each piece within IDLE of the last, or the request ends.
    let mut stream = body.into_data_stream();
    let mut send_end = true;
    // A body trickling a byte now and then would hold its thread for ever: below
    // `MIN_RATE` bytes in a `RATE_WINDOW`, the request ends (what arrived is kept).
    let mut window = (std::time::Instant::now(), 0u64);
    loop {
        if window.0.elapsed() >= RATE_WINDOW {
            if window.1 < MIN_RATE {
                send_end = false;
                break;
            }
            window = (std::time::Instant::now(), 0);
        }
        match tokio::time::timeout(IDLE, stream.next()).await {
            Ok(Some(Ok(b))) => {
                window.1 += b.len() as u64;
                if b.is_empty() {
                    continue;
                }
                if tx.send(Piece::Data(b)).await.is_err() {
                    send_end = false;
                    break;
                }
            }
            Ok(None) => break,
            Ok(Some(Err(_))) | Err(_) => {
                send_end = false;
                break;
            }
        }
    }
    if send_end {
        let _ = tx.send(Piece::End).await;
    }
    std::mem::drop(tx);
    let (receiving, outcome) = match worker.await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(vault_error(e)),
        Err(e) => return Err(vault_error(vault::Error::Corrupt(format!("the upload's writer failed: {e}")))),
    };
    let offset = receiving.offset();
    let id = row.id.clone();
    match outcome {
        Outcome::Offset => {
            return Err(protocol(&tus::Error::Offset { expected: offset, given: expected_offset }));
        }
        Outcome::TooLarge => {
            return Err(protocol(&tus::Error::TooLarge(format!(
                "the body goes past what this upload may hold ({} bytes from offset {offset}); nothing of it was kept",
                limit
            ))));
        }
        Outcome::Checksum => return Err(protocol(&tus::Error::ChecksumMismatch)),
        Outcome::Cut => {
            return Err(tus_error(400, "the body was cut short or too slow; ask HEAD for the offset and resume"));
        }
        Outcome::BadFile(e) => {
            std::mem::drop(receiving);
            state.uploads.forget(&id);
            let why = match e {
                vault::Error::DropFile(w) => w,
                other => other.to_string(),
            };
            let d = drop.clone();
            let err = state
                .pool
                .run(sender(), move |v, _| {
                    Err::<(), _>(v.upload_refuse(
                        &d,
                        &id,
                        &format!("{why}; it must be an age file encrypted to this drop's key ({})", d.recipient),
                        now(),
                    ))
                })
                .await;
            return Err(vault_error(err.err().unwrap_or(vault::Error::DropFile("refused".into()))));
        }
        Outcome::Done => {}
    }
    let complete = upload.length.is_some_and(|len| len == offset);
    if !complete {
        return Ok(offset);
    }
    if row.concat == "partial" {
        std::mem::drop(receiving);
        state.uploads.forget(&id);
        let d = drop.clone();
        state.pool.run(sender(), move |v, _| v.upload_part_done(&d, &id, now())).await.map_err(vault_error)?;
        return Ok(offset);
    }
    let d = drop.clone();
    let done = state
        .pool
        .run(sender(), move |v, _| {
            let digest = match receiving.finish() {
                Ok(x) => x,
                Err(vault::Error::DropFile(why)) => {
                    return Err(v.upload_refuse(
                        &d,
                        &id,
                        &format!("{why}; it must be an age file encrypted to this drop's key ({})", d.recipient),
                        now(),
                    ));
                }
                Err(e) => return Err(e),
            };
            v.drop_receive(&d, &id, digest, now())
        })
        .await;
    match done {
        Ok(ds) => {
            tracing::info!(drop = %drop.id, dataset = %ds.id, "a drop received its file");
            Ok(offset)
        }
        Err(e) => Err(vault_error(e)),
    }
}

/// How a body's reception ended.
enum Outcome {
    Done,
    Cut,
    Offset,
    TooLarge,
    Checksum,
    BadFile(vault::Error),
}

/// `DELETE /tus/{id}`: the sender ends an upload (termination).
pub(crate) async fn terminate(State(state): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    let addr = req.extensions().get::<ClientAddr>().copied();
    let headers = req.headers().clone();
    let drop = match versioned(&state, &headers, addr).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    // An upload being written is ended by its own request first.
    let uploads = state.uploads.clone();
    let i = id.clone();
    let r = state
        .pool
        .run(sender(), move |v, _| {
            v.upload_state(&drop, &i)?;
            v.upload_terminate(&drop, &i, now())
        })
        .await;
    uploads.forget(&id);
    match r {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            tus_headers(r.headers_mut());
            r
        }
        Err(e) => vault_error(e),
    }
}

/// Whether a request is the tus endpoint's (no whole-request time limit: a PATCH takes as
/// long as its bytes, each within `IDLE` of the last).
pub(crate) fn is_tus(method: &Method, path: &str) -> bool {
    (path == "/tus" || path.starts_with("/tus/")) && method != Method::GET
}

/// Every 30 seconds: the notifications due are sent (issue 15), once a relay is set.
pub(crate) async fn notify_loop(state: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        let r = state
            .pool
            .run(sender(), |v, _| if v.notify_due(now())? { v.notify_flush(now()).map(Some) } else { Ok(None) })
            .await;
        match r {
            Ok(Some(x)) => {
                tracing::info!(sent = x.sent, retried = x.retried, failed = x.failed, "notifications");
            }
            Ok(None) => {}
            Err(e) => tracing::error!("could not send notifications: {e}"),
        }
    }
}

/// Every minute: drops and partial uploads whose time ran out are ended and deleted.
pub(crate) async fn expire_loop(state: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let r = state.pool.run(sender(), |v, _| v.expire_drops(now())).await;
        match r {
            Ok(x) => {
                for u in &x.uploads {
                    state.uploads.forget(u);
                }
                if !x.drops.is_empty() || !x.uploads.is_empty() {
                    tracing::info!(
                        drops = x.drops.len(),
                        uploads = x.uploads.len(),
                        "expired drops and partial uploads"
                    );
                }
            }
            Err(e) => tracing::error!("could not expire drops: {e}"),
        }
    }
}
