//! Listening: HTTPS with the operator's certificate, or plain HTTP only on a loopback
//! address or behind a named reverse proxy (NET-1: nothing exposed in clear). Each
//! connection is served by hyper; the peer's address (or the proxy's forwarded one)
//! goes with every request for throttling and the log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use crate::{Options, Shared};

/// Why the server would not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Plain HTTP on an address others reach.
    #[error(
        "refusing to serve plain HTTP on {0}: give --tls-cert and --tls-key, listen on a loopback address (127.0.0.1), or name the reverse proxy that terminates TLS with --behind-proxy ADDRESS (NET-1)"
    )]
    PlainHttp(SocketAddr),
    /// A certificate or key that could not be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The address a request came from: the TCP peer, or for the trusted proxy, the last
/// address of its `X-Forwarded-For` (the one it appended itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub IpAddr);

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::rustls::ServerConfig, ListenError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| ListenError::Tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ListenError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ListenError::Tls(format!("{}: no certificate in this PEM file", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ListenError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ListenError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ListenError::Tls(format!("the certificate and the key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves until SIGINT or SIGTERM.
pub(crate) async fn serve(opts: Options, state: Shared) -> anyhow::Result<()> {
    let tls = match &opts.tls {
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(cert, key)?))),
        None if opts.listen.ip().is_loopback() || opts.behind_proxy.is_some() => None,
        None => return Err(ListenError::PlainHttp(opts.listen).into()),
    };
    let listener =
        TcpListener::bind(opts.listen).await.map_err(|source| ListenError::Bind { addr: opts.listen, source })?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!("{} gardien listening on {scheme}://{local}", crate::identity::now_text());
    let app = crate::routes::router(state.clone());
    let proxy = opts.behind_proxy;
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Behind a proxy, only the proxy talks to us: anyone else would bypass its TLS.
        if let Some(p) = proxy
            && canonical(p) != canonical(peer.ip())
        {
            tracing::warn!("refused a connection from {peer}: only the proxy {p} may connect");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let addr = client_addr(peer.ip(), proxy, req.headers());
                    req.extensions_mut().insert(addr);
                    app.oneshot(req.map(axum::body::Body::new)).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // A client has 10 s to send its headers (slowloris); a keep-alive connection idle for
            // 10 s is closed the same way.
            builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
            let result = match tls {
                Some(tls) => match tokio::time::timeout(Duration::from_secs(10), tls.accept(stream)).await {
                    Ok(Ok(s)) => builder.serve_connection(TokioIo::new(s), service).await,
                    _ => return,
                },
                None => builder.serve_connection(TokioIo::new(stream), service).await,
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    eprintln!("{} gardien stopping", crate::identity::now_text());
    Ok(())
}

fn client_addr(peer: IpAddr, proxy: Option<IpAddr>, headers: &axum::http::HeaderMap) -> ClientAddr {
    let peer = canonical(peer);
    match proxy {
        Some(p) if canonical(p) == peer => {
            // The proxy appends the address it saw last; earlier ones are the client's word.
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse::<IpAddr>().ok());
            ClientAddr(forwarded.map_or(peer, canonical))
        }
        _ => ClientAddr(peer),
    }
}

/// An IPv4 address seen through a dual-stack socket is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
