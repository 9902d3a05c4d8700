//! Hygiene checks of a server, from the outside as the internet sees it: each web
//! application's HTTPS certificate (WEB-1: valid for its domain, from a trusted chain, days
//! left) and the TCP ports that answer against the ones declared necessary (NET-1).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::Error;

/// The trusted roots a check uses.
pub use rustls::RootCertStore as RootStore;

/// Days before expiry under which a certificate is reported (Let's Encrypt renews at 30).
pub const WARN_DAYS: i64 = 30;

/// What a certificate check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The domain checked.
    pub domain: String,
    /// Where it was reached (`HOST:PORT`).
    pub reached: String,
    /// Whether a browser would accept it now: chain to a trusted root, valid for the domain, in date.
    pub valid: bool,
    /// Days until it expires (negative: expired), when a certificate was presented.
    pub days_left: Option<i64>,
    /// The leaf's issuer, as its distinguished name says.
    pub issuer: Option<String>,
    /// Each problem, said for a person.
    pub problems: Vec<String>,
    /// Each problem's code (one of `PROBLEM_CODES`), in the same order: what a portal in
    /// another language says instead.
    pub codes: Vec<&'static str>,
}

/// The codes of a certificate's problems (`Tls::codes`).
pub const PROBLEM_CODES: [&str; 16] = [
    "no-roots",
    "tls",
    "bad-name",
    "no-resolve",
    "not-public",
    "no-answer",
    "slow",
    "no-handshake",
    "no-certificate",
    "expired",
    "not-yet-valid",
    "wrong-name",
    "untrusted",
    "revoked",
    "refused",
    "expires-soon",
];

impl Tls {
    fn problem(&mut self, code: &'static str, text: String) {
        self.codes.push(code);
        self.problems.push(text);
    }
}

/// The leaf presented, and whether the chain and name verified.
type Seen = (Vec<u8>, Result<(), rustls::Error>);

/// Records the chain and the verdict, and lets the handshake finish (nothing is sent).
#[derive(Debug)]
struct Recorder {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).map(|_| ());
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((end_entity.to_vec(), verdict));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The roots a browser on this machine trusts, and the PEM files given.
pub fn roots(extra: &[Vec<u8>]) -> Result<RootStore, Error> {
    use rustls::pki_types::pem::PemObject as _;
    let mut store = RootStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = store.add(c);
    }
    for pem in extra {
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(pem) {
            let c = c.map_err(|e| Error::Bad(format!("--ca: not a PEM certificate ({e})")))?;
            store.add(c).map_err(|e| Error::Bad(format!("--ca: {e}")))?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::Bad("--ca: no PEM certificate in the file".into()));
        }
    }
    Ok(store)
}

/// A refused certificate's problem: its code (`PROBLEM_CODES`) and what it is, said.
fn say(e: &rustls::Error, domain: &str) -> (&'static str, String) {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            ("expired", "the certificate has expired".into())
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            ("not-yet-valid", "the certificate is not valid yet".into())
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            ("wrong-name", format!("the certificate is not for {domain}"))
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => (
            "untrusted",
            "the certificate is not from a trusted authority (self-signed, or its chain is incomplete)".into(),
        ),
        rustls::Error::InvalidCertificate(C::Revoked) => ("revoked", "the certificate is revoked".into()),
        // webpki's name for a certificate that signed itself as an authority (`openssl req -x509`).
        other if other.to_string().contains("CaUsedAsEndEntity") => (
            "untrusted",
            "the certificate is not from a trusted authority (self-signed: an authority's certificate serves the site)"
                .into(),
        ),
        other => ("refused", format!("the certificate is refused: {other}")),
    }
}

/// Checks `domain`'s certificate at `addr` (`HOST:PORT`), with SNI, against `roots`. With
/// `public_only` (the address is the domain's own, which its owner's DNS decides), an
/// address of this network (loopback, private, link-local) is not connected to: the check
/// cannot be turned into a probe of the operator's own machines.
pub fn check_tls(domain: &str, addr: &str, roots: Arc<RootStore>, timeout: Duration, public_only: bool) -> Tls {
    let mut out = Tls {
        domain: domain.to_owned(),
        reached: addr.to_owned(),
        valid: false,
        days_left: None,
        issuer: None,
        problems: Vec::new(),
        codes: Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = match rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build() {
        Ok(v) => v,
        Err(e) => {
            out.problem("no-roots", format!("no trusted roots to check against: {e}"));
            return out;
        }
    };
    let recorder = Arc::new(Recorder { inner, seen: Mutex::new(None) });
    let config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth(),
        Err(e) => {
            out.problem("tls", format!("TLS: {e}"));
            return out;
        }
    };
    let Ok(name) = ServerName::try_from(domain.to_owned()) else {
        out.problem("bad-name", format!("{domain} is not a name a certificate is for"));
        return out;
    };
    let target: Option<SocketAddr> = addr.to_socket_addrs().ok().and_then(|mut a| a.next());
    let Some(target) = target else {
        out.problem("no-resolve", format!("{addr} does not resolve"));
        return out;
    };
    if public_only && !is_public(target.ip()) {
        out.problem("not-public", format!("{domain} resolves to {}, not a public address: not checked", target.ip()));
        return out;
    }
    let mut sock = match TcpStream::connect_timeout(&target, timeout) {
        Ok(s) => s,
        Err(e) => {
            out.problem("no-answer", format!("HTTPS does not answer at {addr}: {e}"));
            return out;
        }
    };
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let mut conn = match rustls::ClientConnection::new(Arc::new(config), name) {
        Ok(c) => c,
        Err(e) => {
            out.problem("tls", format!("TLS: {e}"));
            return out;
        }
    };
    // A server that trickles its handshake a byte at a time is given ten times the limit,
    // not for ever: each read waits at most what is left of it.
    let deadline = std::time::Instant::now() + timeout * 10;
    let late = |out: &mut Tls| {
        out.problem("slow", format!("no TLS handshake at {addr} within {} s", (timeout * 10).as_secs()))
    };
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            late(&mut out);
            return out;
        }
        let step = if conn.wants_write() {
            let _ = sock.set_write_timeout(Some(left.min(timeout)));
            conn.write_tls(&mut sock).map(|_| ())
        } else if conn.wants_read() {
            let _ = sock.set_read_timeout(Some(left.min(timeout)));
            match conn.read_tls(&mut sock) {
                Ok(0) => {
                    Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed the connection"))
                }
                Ok(_) => conn.process_new_packets().map(|_| ()).map_err(std::io::Error::other),
                Err(e) => Err(e),
            }
        } else {
            break;
        };
        if let Err(e) = step {
            if recorder.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_none() {
                out.problem("no-handshake", format!("no TLS handshake at {addr}: {}", e));
                return out;
            }
            break;
        }
    }
    let seen = recorder.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    let Some((leaf, verdict)) = seen else {
        out.problem("no-certificate", format!("no certificate presented at {addr}"));
        return out;
    };
    if let Ok(cert) = <x509_cert::Certificate as x509_cert::der::Decode>::from_der(&leaf) {
        let not_after = cert.tbs_certificate.validity.not_after.to_system_time();
        let now = SystemTime::now();
        let days = match not_after.duration_since(now) {
            Ok(d) => i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs().div_ceil(86_400)).unwrap_or(i64::MAX),
        };
        out.days_left = Some(days);
        out.issuer = Some(cert.tbs_certificate.issuer.to_string());
    }
    match verdict {
        Ok(()) => out.valid = true,
        Err(e) => {
            let (code, text) = say(&e, domain);
            out.problem(code, text);
        }
    }
    if let Some(d) = out.days_left
        && (0..WARN_DAYS).contains(&d)
    {
        out.problem("expires-soon", format!("the certificate expires in {d} days (renew {WARN_DAYS} days before)"));
    }
    out
}

/// The ports scanned when none are given: the well-known ones, and services often left
/// open by mistake (databases, caches, admin consoles).
pub fn default_ports() -> Vec<u16> {
    let mut p: Vec<u16> = (1..=1024).collect();
    p.extend([
        1433, 1521, 2049, 2375, 2376, 3000, 3306, 5000, 5432, 5601, 5672, 5900, 5984, 6379, 6443, 8000, 8008, 8080,
        8081, 8088, 8443, 8888, 9000, 9090, 9200, 9300, 10250, 11211, 15672, 27017,
    ]);
    p
}

/// The ports of `ports` that accept a TCP connection at `host`, in order. `workers` at once,
/// each attempt bounded by `timeout` (a filtered port costs that much).
pub fn open_ports(host: &str, ports: &[u16], workers: usize, timeout: Duration) -> Result<Vec<u16>, Error> {
    let ip = (host.trim_start_matches('[').trim_end_matches(']'), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| Error::Bad(format!("{host} does not resolve")))?;
    let next = Mutex::new(ports.iter().copied());
    let open = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, 256) {
            s.spawn(|| {
                loop {
                    let Some(port) = next.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next() else {
                        return;
                    };
                    if TcpStream::connect_timeout(&SocketAddr::new(ip, port), timeout).is_ok() {
                        open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(port);
                    }
                }
            });
        }
    });
    let mut open = open.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    open.sort_unstable();
    Ok(open)
}

/// `22,80,443` or `8000-8010`, comma-separated.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, Error> {
    let bad = || Error::Bad(format!("{}: give ports as 22,80,443 or 8000-8010 (1-65535)", crate::maneuver::quote(s)));
    let port = |p: &str| -> Result<u16, Error> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)
    };
    if s.split(',').count() > 64 {
        return Err(Error::Bad("at most 64 ports or ranges in a list".into()));
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (port(a)?, port(b)?);
                if a > b {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(port(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// An address of the internet at large: not loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast or documentation.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(a) => {
            let [x, y, ..] = a.octets();
            !(a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || (x == 100 && (64..128).contains(&y))
                || x == 0)
        }
        std::net::IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(std::net::IpAddr::V4(v4));
            }
            let first = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && a.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_or_are_refused() {
        assert_eq!(parse_ports("443,22,80").unwrap(), [22, 80, 443]);
        assert_eq!(parse_ports("8000-8002,22").unwrap(), [22, 8000, 8001, 8002]);
        for bad in ["", "0", "65536", "22,", "a", "10-5", "+22", "1-2-3"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
        assert!(parse_ports(&vec!["1-65535"; 65].join(",")).is_err());
        for (ip, public) in [
            ("8.8.8.8", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("192.168.1.1", false),
            ("169.254.1.1", false),
            ("100.64.0.1", false),
            ("::1", false),
            ("fd00::1", false),
            ("::ffff:10.0.0.1", false),
            ("2a01:4f8::1", true),
        ] {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }
}
