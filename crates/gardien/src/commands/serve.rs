//! `gardien serve`: the client's own door (HTTP API and portal) on this data dir.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::Cli;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
HTTPS with the operator's certificate; plain HTTP only on a loopback address, or behind a
reverse proxy named with --behind-proxy (whose X-Forwarded-For alone is trusted). It runs on
the same data dir as the CLI, at the same time. Every request is decided by the policy and
recorded in the ledger before it is answered.

Examples:
  gardien serve --listen 0.0.0.0:443 --tls-cert /etc/gardien/fullchain.pem --tls-key /etc/gardien/privkey.pem
  gardien serve --listen 127.0.0.1:8080                          # a local try, plain HTTP
  gardien serve --listen 127.0.0.1:8080 --behind-proxy 127.0.0.1  # nginx terminates TLS

People sign in with a password (`gardien person password HANDLE`) and, for ops and
client signers, a second factor they set up at first sign-in; programs use tokens
(`gardien --as HANDLE token create`). The API is described at /api/openapi.json.")]
pub struct Args {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The reverse proxy's address: plain HTTP from it alone, its X-Forwarded-For trusted.
    #[arg(long, conflicts_with = "tls_cert")]
    pub behind_proxy: Option<IpAddr>,
    /// Requests served at once (each holds a catalog connection).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    server::run(server::Options {
        data_dir: cli.data_dir.clone(),
        master_key: cli.master_key.clone(),
        listen: args.listen,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        behind_proxy: args.behind_proxy,
        workers: usize::from(args.workers),
    })
}
