//! Let's Encrypt by default (WEB-1): a certificate for one application's domain over ACME
//! HTTP-01, with `instant-acme`. The CA asks for
//! `http://DOMAIN/.well-known/acme-challenge/TOKEN`; gardien answers it either itself, on a
//! port that the domain's port 80 reaches (`Responder::Listen`), or by writing the answer in
//! the web server's document root for the time of the order (`Responder::Webroot`).
//!
//! What the CA sends is not trusted: a token is a base64url word before it names a file or
//! a path, and the chain it returns must parse and name the domain asked for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use zeroize::Zeroizing;

/// Let's Encrypt's production directory: the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// Renewal starts this many days before a certificate ends (Let's Encrypt's advice).
pub const RENEW_DAYS: i64 = 30;

/// Where the CA's HTTP-01 request is answered.
#[derive(Clone, Debug)]
pub enum Responder {
    /// gardien listens here for the time of the order (the domain's port 80 must reach it).
    Listen(SocketAddr),
    /// The answer is written under `DIR/.well-known/acme-challenge/` and removed after.
    Webroot(PathBuf),
}

impl Responder {
    /// As kept with a certificate: `webroot:/abs/dir` or `listen:ADDR:PORT`.
    pub fn to_text(&self) -> String {
        match self {
            Responder::Listen(a) => format!("listen:{a}"),
            Responder::Webroot(d) => format!("webroot:{}", d.display()),
        }
    }

    /// Reads what `to_text` wrote.
    pub fn from_text(s: &str) -> Option<Responder> {
        match s.split_once(':')? {
            ("listen", a) => a.parse().ok().map(Responder::Listen),
            ("webroot", d) if d.starts_with('/') => Some(Responder::Webroot(PathBuf::from(d))),
            _ => None,
        }
    }
}

/// The CA to ask.
#[derive(Clone, Debug)]
pub struct Ca<'a> {
    /// Its ACME directory URL (https).
    pub directory: &'a str,
    /// A PEM root to trust for the directory's own HTTPS instead of the system's (test CAs).
    pub root: Option<&'a Path>,
    /// A contact for the account (`mailto:` added).
    pub email: Option<&'a str>,
}

/// What an order gives.
pub struct Issued {
    /// The leaf then its chain, PEM.
    pub chain_pem: String,
    /// The certificate's private key, PKCS#8 PEM.
    pub key_pem: Zeroizing<String>,
    /// The leaf's end, in seconds since the epoch.
    pub not_after: i64,
    /// The leaf's serial, hex.
    pub serial: String,
}

/// What goes wrong, said for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// Bad input, before anything is asked.
    #[error("{0}")]
    Bad(String),
    /// The responder could not start or write.
    #[error("{0}")]
    Responder(String),
    /// The CA refused or failed.
    #[error("the ACME server: {0}")]
    Server(String),
    /// The order did not end in time.
    #[error("no certificate after {0} s: the order was abandoned")]
    Timeout(u64),
}

/// The error and its causes, as one line ("client error (Connect): invalid peer certificate...").
fn server(e: instant_acme::Error) -> AcmeError {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    AcmeError::Server(text)
}

/// A token is base64url (RFC 8555 §8.1): nothing else may name a file or a path.
pub fn check_token(token: &str) -> Result<(), AcmeError> {
    if !token.is_empty()
        && token.len() <= 256
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(AcmeError::Server(format!("a challenge token that is not base64url ({} bytes): refused", token.len())))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, AcmeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AcmeError::Responder(format!("could not start: {e}")))
}

/// A directory URL: https, printable ASCII, no user or password in it (it would be printed
/// and kept), one that the HTTP client takes.
pub fn check_directory(url: &str) -> Result<(), AcmeError> {
    // Not said back: a refused URL may hold a password, however it is spelled.
    let bad = || {
        AcmeError::Bad(format!(
            "--acme-directory (the {} characters given): an https:// URL of printable characters, without `@` (no user or password)",
            url.chars().count()
        ))
    };
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if url.len() > 2048 || !url.bytes().all(|b| b.is_ascii_graphic()) || authority.is_empty() || url.contains('@') {
        return Err(bad());
    }
    url.parse::<hyper::Uri>().map(|_| ()).map_err(|_| bad())
}

fn builder(ca: &Ca<'_>) -> Result<instant_acme::AccountBuilder, AcmeError> {
    match ca.root {
        Some(root) => Account::builder_with_root(root)
            .map_err(|e| AcmeError::Bad(format!("--acme-root {}: not a PEM certificate ({e})", root.display()))),
        None => Account::builder().map_err(server),
    }
}

/// The account an order is made with.
pub enum AccountSource<'a> {
    /// One registered before: its credentials (JSON).
    Kept(&'a str),
    /// None yet: one is registered (terms of service agreed) and its credentials (JSON,
    /// with its private key) handed here to keep, before any order.
    New(&'a mut dyn FnMut(&str) -> Result<(), String>),
}

/// Obtains a certificate for `domain` from `ca` with `account`, answering HTTP-01 with
/// `responder`; all within `timeout`. Bad input and the responder fail before the CA is
/// asked anything.
pub fn obtain(
    ca: &Ca<'_>,
    account: AccountSource<'_>,
    domain: &str,
    responder: &Responder,
    timeout: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Issued, AcmeError> {
    check_directory(ca.directory)?;
    if let Some(root) = ca.root {
        // A regular file of a PEM's size: a FIFO or a device would hang or fill memory.
        match std::fs::metadata(root) {
            Ok(m) if m.is_file() && m.len() <= 1 << 20 => {}
            _ => {
                return Err(AcmeError::Bad(format!(
                    "--acme-root {}: not a PEM file (a regular file of at most 1 MiB)",
                    root.display()
                )));
            }
        }
    }
    runtime()?.block_on(async {
        // The responder first: a port in use or a webroot missing fails before any order.
        let answers: Answers = Arc::default();
        let _server = match responder {
            Responder::Listen(addr) => Some(listen(*addr, answers.clone()).await?),
            Responder::Webroot(dir) => {
                if !dir.is_dir() {
                    return Err(AcmeError::Bad(format!("--webroot {}: not a directory", dir.display())));
                }
                challenge_dir(dir, false)?;
                None
            }
        };
        let secs = timeout.as_secs();
        match tokio::time::timeout(timeout, order(ca, account, domain, responder, &answers, progress)).await {
            Ok(r) => r,
            Err(_) => Err(AcmeError::Timeout(secs)),
        }
    })
}

type Answers = Arc<Mutex<HashMap<String, String>>>;

async fn order(
    ca: &Ca<'_>,
    account: AccountSource<'_>,
    domain: &str,
    responder: &Responder,
    answers: &Answers,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Issued, AcmeError> {
    let account = match account {
        AccountSource::Kept(json) => {
            let creds: AccountCredentials = serde_json::from_str(json)
                .map_err(|e| AcmeError::Bad(format!("the stored ACME account does not read: {e}")))?;
            builder(ca)?.from_credentials(creds).await.map_err(server)?
        }
        AccountSource::New(keep) => {
            progress(&format!("registering an ACME account at {}", ca.directory));
            let contact = ca.email.map(|e| format!("mailto:{e}"));
            let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
            let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
            let (account, creds) = builder(ca)?.create(&new, ca.directory.to_owned(), None).await.map_err(server)?;
            let json = Zeroizing::new(serde_json::to_string(&creds).map_err(|e| AcmeError::Server(e.to_string()))?);
            keep(&json).map_err(|e| AcmeError::Responder(format!("the new ACME account could not be kept: {e}")))?;
            account
        }
    };
    progress(&format!("ordering a certificate for {domain}"));
    let ids = [Identifier::Dns(domain.to_owned())];
    let mut order = account.new_order(&NewOrder::new(&ids)).await.map_err(server)?;
    let mut written: Vec<Written> = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(a) = authorizations.next().await {
        let mut authz = a.map_err(server)?;
        // Only the name asked for is answered for: an authorization for another is the CA's
        // error, not gardien's to prove.
        let asked = Identifier::Dns(domain.to_owned());
        let id = authz.identifier();
        if *id.identifier != asked || id.wildcard {
            return Err(AcmeError::Server(format!("the CA asks to prove {:?}, not {domain}", id.identifier)));
        }
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(AcmeError::Server(format!("the authorization for {domain} is {other:?}"))),
        }
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| AcmeError::Server("the CA offers no http-01 challenge".into()))?;
        check_token(&challenge.token)?;
        let answer = challenge.key_authorization().as_str().to_owned();
        match responder {
            Responder::Listen(_) => {
                answers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(challenge.token.clone(), answer);
            }
            Responder::Webroot(dir) => written.push(Written::new(dir, &challenge.token, &answer)?),
        }
        progress(&format!("answering http://{domain}/.well-known/acme-challenge/{}", challenge.token));
        challenge.set_ready().await.map_err(server)?;
    }
    let retries = RetryPolicy::new().timeout(Duration::from_secs(90));
    let status = order.poll_ready(&retries).await.map_err(server)?;
    if status != OrderStatus::Ready {
        let why = problems(&mut order).await;
        return Err(AcmeError::Server(format!("the order for {domain} is {status:?}{why}")));
    }
    drop(written);
    progress("finalizing the order");
    let key_pem = Zeroizing::new(order.finalize().await.map_err(server)?);
    let returned = order.poll_certificate(&retries).await.map_err(server)?;
    let (chain_pem, not_after, serial) = leaf(&returned, domain, &key_pem, SystemTime::now())?;
    Ok(Issued { chain_pem, key_pem, not_after, serial })
}

/// Why an order failed, as the CA says it of its challenges.
async fn problems(order: &mut instant_acme::Order) -> String {
    let mut out = String::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut a)) = authorizations.next().await {
        if let Some(c) = a.challenge(ChallengeType::Http01)
            && let Some(p) = &c.error
        {
            out.push_str(&format!(": {p}"));
        }
    }
    out
}

/// The longest a certificate may last (the CA/Browser Forum's limit): one for longer, or
/// already ended, or not yet begun, is the CA's error and would never be renewed in time.
const MAX_DAYS: u64 = 398;

/// The chain a CA returned, checked: its certificates only (anything else between or
/// around them is dropped), the leaf for `domain`, for the key `key_pem`, in force at `now`
/// and for at most `MAX_DAYS`. Gives the chain as kept (PEM), the leaf's end (seconds since
/// the epoch) and serial (hex).
pub fn leaf(returned: &str, domain: &str, key_pem: &str, now: SystemTime) -> Result<(String, i64, String), AcmeError> {
    use base64::Engine as _;
    use x509_cert::der::Decode as _;
    let bad = |what: &str| AcmeError::Server(format!("the certificate returned {what}"));
    let ders: Vec<CertificateDer<'_>> =
        CertificateDer::pem_slice_iter(returned.as_bytes()).collect::<Result<_, _>>().map_err(|_| bad("is not PEM"))?;
    // Each certificate of the chain parses: a web server would refuse the file otherwise.
    let certs: Vec<x509_cert::Certificate> = ders
        .iter()
        .map(|d| x509_cert::Certificate::from_der(d))
        .collect::<Result<_, _>>()
        .map_err(|_| bad("holds a certificate that does not parse"))?;
    let cert = certs.first().ok_or_else(|| bad("is not PEM"))?;
    let tbs = &cert.tbs_certificate;
    if is_ca(tbs) {
        return Err(bad("is an authority's certificate, not a site's"));
    }
    let names = dns_names(tbs);
    if !names.iter().any(|n| n.eq_ignore_ascii_case(domain)) {
        return Err(bad(&format!("names {names:?}, not {domain}")));
    }
    // The key the certificate is for is the one generated for it.
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| AcmeError::Server("the key generated for the order does not read".into()))?;
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        key.secret_pkcs8_der(),
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|_| AcmeError::Server("the key generated for the order is not P-256".into()))?;
    use ring::signature::KeyPair as _;
    if tbs.subject_public_key_info.subject_public_key.raw_bytes() != pair.public_key().as_ref() {
        return Err(bad("is for another key than the one generated for it"));
    }
    let begins = tbs.validity.not_before.to_system_time();
    let ends = tbs.validity.not_after.to_system_time();
    let hour = Duration::from_secs(3600);
    if begins > now + hour || ends <= now + hour {
        return Err(bad("is not in force now"));
    }
    // Renewed a third of its life before its end, one lasting less than 3 days would be
    // ordered again at once: the CA's mistake, and a loop on its rate limits.
    if ends.duration_since(begins).unwrap_or_default() < Duration::from_secs(3 * 86_400) {
        return Err(bad("lasts less than 3 days"));
    }
    if ends.duration_since(begins).unwrap_or_default() > Duration::from_secs(MAX_DAYS * 86_400) {
        return Err(bad(&format!("lasts more than {MAX_DAYS} days")));
    }
    let not_after = ends
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let mut chain = String::new();
    for der in &ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        chain.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            chain.push_str(std::str::from_utf8(line).unwrap_or_default());
            chain.push('\n');
        }
        chain.push_str("-----END CERTIFICATE-----\n");
    }
    Ok((chain, not_after, hex(tbs.serial_number.as_bytes())))
}

/// When a kept chain's leaf is due for renewal: `RENEW_DAYS` before its end, or a third of
/// its life before it if that is sooner (Let's Encrypt's advice for short certificates).
pub fn renew_from(chain_pem: &str) -> Option<SystemTime> {
    use x509_cert::der::Decode as _;
    let der = CertificateDer::pem_slice_iter(chain_pem.as_bytes()).next()?.ok()?;
    let cert = x509_cert::Certificate::from_der(&der).ok()?;
    let v = &cert.tbs_certificate.validity;
    let (begins, ends) = (v.not_before.to_system_time(), v.not_after.to_system_time());
    let third = ends.duration_since(begins).unwrap_or_default() / 3;
    let days = Duration::from_secs(u64::try_from(RENEW_DAYS).unwrap_or(30) * 86_400);
    Some(ends - third.min(days))
}

fn is_ca(tbs: &x509_cert::TbsCertificate) -> bool {
    use x509_cert::der::Decode as _;
    use x509_cert::ext::pkix::BasicConstraints;
    tbs.extensions.iter().flatten().any(|ext| {
        ext.extn_id == <BasicConstraints as x509_cert::der::oid::AssociatedOid>::OID
            && BasicConstraints::from_der(ext.extn_value.as_bytes()).is_ok_and(|b| b.ca)
    })
}

fn dns_names(tbs: &x509_cert::TbsCertificate) -> Vec<String> {
    use x509_cert::der::Decode as _;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let mut out = Vec::new();
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id == <SubjectAltName as x509_cert::der::oid::AssociatedOid>::OID
            && let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes())
        {
            for n in san.0 {
                if let GeneralName::DnsName(d) = n {
                    out.push(d.to_string());
                }
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ROOT/.well-known/acme-challenge`, made if `make` and missing: inside the document root
/// only, since a link there (the site's own content) could send gardien's file anywhere.
fn challenge_dir(root: &Path, make: bool) -> Result<PathBuf, AcmeError> {
    let dir = root.join(".well-known").join("acme-challenge");
    for d in [root.join(".well-known"), dir.clone()] {
        match std::fs::symlink_metadata(&d) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(AcmeError::Bad(format!(
                    "{} is a link or not a directory: the answer is written in the document root only",
                    d.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !make => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&d).map_err(|e| AcmeError::Responder(format!("{}: {e}", d.display())))?
            }
            Err(e) => return Err(AcmeError::Responder(format!("{}: {e}", d.display()))),
        }
    }
    Ok(dir)
}

/// An answer written in a webroot, removed when dropped (whatever happens to the order).
struct Written(PathBuf);

impl Written {
    fn new(root: &Path, token: &str, answer: &str) -> Result<Written, AcmeError> {
        let dir = challenge_dir(root, true)?;
        let fail = |e: std::io::Error| AcmeError::Responder(format!("{}: {e}", dir.display()));
        let path = dir.join(token);
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            // A new file, readable by the web server; never one that is already there.
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&path).map_err(fail)?;
            f.write_all(answer.as_bytes()).map_err(fail)?;
        }
        Ok(Written(path))
    }
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The HTTP-01 responder: `GET /.well-known/acme-challenge/TOKEN` for the tokens of this
/// order, 404 for anything else. Stops when dropped.
struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn listen(addr: SocketAddr, answers: Answers) -> Result<Listening, AcmeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AcmeError::Responder(format!("--http-listen {addr}: {e}")))?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let answers = answers.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let answer = req
                        .uri()
                        .path()
                        .strip_prefix("/.well-known/acme-challenge/")
                        .filter(|_| matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD))
                        .and_then(|t| {
                            answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(t).cloned()
                        });
                    async move {
                        match answer {
                            Some(a) => {
                                hyper::Response::builder().header("content-type", "application/octet-stream").body(a)
                            }
                            None => hyper::Response::builder().status(404).body(String::new()),
                        }
                    }
                });
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
                let _ = b.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(Listening(task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_an_https_url_without_secrets_or_control_characters() {
        check_directory("https://acme-v02.api.letsencrypt.org/directory").unwrap();
        check_directory("https://localhost:14000/dir").unwrap();
        for bad in [
            "http://localhost/dir",
            "https://",
            "https:///dir",
            "https://user:s3cret@localhost/dir",
            "https://localhost/dir\u{1b}[31m",
            "https://localhost/d ir",
            "https://localh\u{f6}st/dir",
            "ftp://localhost/dir",
            "https://user:s3c?ret@localhost/dir",
            "https://localhost/dir?u=s3cret@x",
            "https//user:s3cret@localhost/dir",
        ] {
            let e = check_directory(bad).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && !e.contains('\u{1b}'), "{e}");
        }
    }

    #[test]
    fn tokens_that_could_name_another_file_are_refused() {
        assert!(check_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0").is_ok());
        for t in ["", "../../etc/passwd", "a/b", "a.b", "a b", "x\u{1b}[31m", &"a".repeat(257)] {
            assert!(check_token(t).is_err(), "{t:?}");
        }
    }
}
