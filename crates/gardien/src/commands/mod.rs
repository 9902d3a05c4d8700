//! One module per command; `run` dispatches with one exhaustive match.

pub mod access;
pub mod approval;
pub mod catalog;
pub mod certificate;
pub mod client;
pub mod contract;
pub mod copy;
pub mod dataset;
pub mod demo;
pub mod drop;
pub mod environment;
pub mod fsck;
pub mod init;
pub mod ledger;
pub mod notify;
pub mod person;
pub mod policy;
pub mod serve;
pub mod server;
pub mod site;
pub mod store;
pub mod sweep;
pub mod token;
pub mod webhook;

use crate::{Cli, Command};

/// An error that carries its own exit code (for outcomes that are not a vault error,
/// such as a `verify` that found a bad copy and already said so).
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
pub struct Exit(pub u8, pub String);

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Init(args) => init::run(cli, args),
        Command::Store(cmd) => store::run(cli, cmd),
        Command::Client(cmd) => client::run(cli, cmd),
        Command::Dataset(cmd) => dataset::run(cli, cmd),
        Command::Fsck(args) => fsck::run(cli, args),
        Command::Catalog(cmd) => catalog::run(cli, cmd),
        Command::Contract(cmd) => contract::run(cli, cmd),
        Command::Person(cmd) => person::run(cli, cmd),
        Command::Certificate(cmd) => certificate::run(cli, cmd),
        Command::Copy(cmd) => copy::run(cli, cmd),
        Command::Sweep(args) => sweep::run(cli, args),
        Command::Ledger(cmd) => ledger::run(cli, cmd),
        Command::Environment(cmd) => environment::run(cli, cmd),
        Command::Approval(cmd) => approval::run(cli, cmd),
        Command::Policy(cmd) => policy::run(cli, cmd),
        Command::PublicMentions(args) => approval::mentions(cli, args),
        Command::Token(cmd) => token::run(cli, cmd),
        Command::Drop(cmd) => drop::run(cli, cmd),
        Command::Notify(cmd) => notify::run(cli, cmd),
        Command::Webhook(cmd) => webhook::run(cli, cmd),
        Command::Server(cmd) => server::run(cli, cmd),
        Command::Access(cmd) => access::run(cli, cmd),
        Command::Maneuver(cmd) => access::run_maneuver(cli, cmd),
        Command::Bastion(cmd) => access::run_bastion(cli, cmd),
        Command::Site(cmd) => site::run(cli, cmd),
        Command::Restitution(cmd) => site::run_restitution(cli, cmd),
        Command::Serve(args) => serve::run(cli, args),
        Command::Demo(args) => demo::run(args),
    }
}

/// Opens the data dir named on the command line, telling the user about any interrupted
/// ingest that opening it cleaned up.
pub fn open(cli: &Cli) -> anyhow::Result<vault::Vault> {
    let mut v = vault::Vault::open(&cli.data_dir, cli.master_key.as_deref())?;
    v.act_as(&cli.act_as);
    for id in v.recovered() {
        eprintln!("gardien: cleaned up interrupted ingest {id} (it never became visible; nothing of it was kept)");
    }
    Ok(v)
}

/// The one clock of the CLI.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
