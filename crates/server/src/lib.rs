//! `gardien serve`: the client's own door over the vault — a JSON API under `/api/v1/`
//! (bearer tokens), a server-rendered portal in French and English (sessions), and the
//! public few: `/healthz`, the sign-in page, static assets, the OpenAPI document.
//!
//! Architecture invariant: HTTP stops here. Every route runs one vault operation, which
//! goes through `Vault::door` with the action the ledger names (`routes::ROUTES` lists them,
//! and a test calls each one and finds its event); the vault knows nothing of HTTP. A
//! response leaves only once its event is durable (the vault's group commit).
#![forbid(unsafe_code)]

mod api;
mod download;
mod drop;
mod errors;
mod http;
mod i18n;
mod identity;
mod jobs;
mod pool;
mod portal;
pub mod routes;
mod security;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::http::ListenError;

/// How `gardien serve` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data dir.
    pub data_dir: PathBuf,
    /// The master key, when elsewhere than the config says.
    pub master_key: Option<PathBuf>,
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS certificate chain and key (PEM): HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The reverse proxy in front, the only peer whose forwarded address is trusted.
    pub behind_proxy: Option<IpAddr>,
    /// How many requests run their vault operation at once (each has its own catalog
    /// connection).
    pub workers: usize,
}

/// Runs the server until SIGINT or SIGTERM. Prints where it listens on stderr.
pub fn run(opts: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("gardien-http").build()?;
    runtime.block_on(async move {
        let state = Arc::new(State::open(&opts)?);
        tokio::spawn(drop::expire_loop(state.clone()));
        tokio::spawn(drop::notify_loop(state.clone()));
        http::serve(opts, state).await
    })
}

/// What every handler shares.
pub(crate) struct State {
    pub pool: pool::Pool,
    pub throttle: identity::Throttle,
    /// Whether the browser reaches us over HTTPS (directly or through the proxy).
    pub https: bool,
    /// Bounds argon2 (19 MiB and ~50 ms each) to a few at once.
    pub hashing: tokio::sync::Semaphore,
    /// The drops' uploads being received (their check's state between requests).
    pub uploads: std::sync::Arc<vault::Uploads>,
    /// Uploads being written at once (each holds a blocking thread while its body lasts).
    pub receivers: Arc<tokio::sync::Semaphore>,
    /// Restitutions under way (issue 12).
    pub jobs: jobs::Jobs,
}

impl State {
    fn open(opts: &Options) -> anyhow::Result<State> {
        let pool = pool::Pool::open(&opts.data_dir, opts.master_key.as_deref(), opts.workers)?;
        Ok(State {
            pool,
            throttle: identity::Throttle::default(),
            https: opts.tls.is_some() || opts.behind_proxy.is_some(),
            hashing: tokio::sync::Semaphore::new(2),
            uploads: vault::Uploads::new(opts.data_dir.join("drops")),
            receivers: Arc::new(tokio::sync::Semaphore::new(drop::RECEIVERS)),
            jobs: jobs::Jobs::default(),
        })
    }
}

/// Every route of the server, as built (for tests and `--help`).
pub fn router_for_tests() -> Vec<routes::Route> {
    routes::ROUTES.to_vec()
}

pub(crate) type Shared = Arc<State>;
