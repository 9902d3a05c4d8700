//! `gardien`: the operator's command line. Argument parsing, terminal output and exit
//! codes live here; every operation is the vault's.
#![forbid(unsafe_code)]

mod ask;
mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The command failed: bad input, missing thing, I/O error. Nothing was changed.
    pub const FAILED: u8 = 1;
    /// The command line itself was wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// Data failed an integrity check: a copy is altered, truncated or missing.
    pub const INTEGRITY: u8 = 3;
    /// Refused by the policy (a clause such as LOC-1 forbids it).
    pub const REFUSED: u8 = 4;
}

const AFTER_HELP: &str = "\
Examples:
  gardien init --operator hebergeur.example
  gardien client add lycee-hugo --name \"Lycée Victor Hugo\"
  gardien contract add hugo --client lycee-hugo
  id=$(gardien dataset ingest moodle.sql.gz --client lycee-hugo --class loading-data --contract hugo)
  gardien dataset verify \"$id\"
  gardien dataset export \"$id\" --recipient age1... -o lycee-hugo.sql.gz.age
  gardien --as chercheur policy explain --action dataset:get --resource \"dataset:$id\"
  gardien demo                      # a guided walk on a throwaway data dir

Exit codes:
  0  success
  1  the command failed (bad input, unknown name, I/O error); nothing was changed
  2  the command line is wrong
  3  integrity failure: a copy is altered, truncated or missing
  4  refused by the policy (the message names the clauses and the reason, e.g. refused (CONF-2): ...)";

/// gardien keeps custody of a hosting operator's client data and makes its
/// confidentiality policy true by construction.
#[derive(Debug, Parser)]
#[command(name = "gardien", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The data dir: catalog, keys, config and the default local store.
    #[arg(long, global = true, env = "GARDIEN_DATA_DIR", default_value = "./gardien-data")]
    pub data_dir: PathBuf,
    /// The master key file, when it lives elsewhere than the config says (another medium).
    #[arg(long, global = true, env = "GARDIEN_MASTER_KEY")]
    pub master_key: Option<PathBuf>,
    /// The person acting (a handle from `gardien person list`); every event names them.
    #[arg(long = "as", global = true, env = "GARDIEN_AS", default_value = vault::OPERATOR_HANDLE)]
    pub act_as: String,
    /// More log lines on stderr (-v info, -vv debug). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data dir: catalog, master key, signing key, config, default store.
    Init(commands::init::Args),
    /// Manage the stores blobs are written to (each on an allowed site, LOC-1).
    #[command(subcommand)]
    Store(commands::store::Cmd),
    /// Manage the operator's clients, the owners of the data.
    #[command(subcommand)]
    Client(commands::client::Cmd),
    /// The people who act, with their roles (staff, or a client's people).
    #[command(subcommand)]
    Person(commands::person::Cmd),
    /// Open pre-sales cases and contracts, record the deal and the dates the rules read.
    #[command(subcommand)]
    Contract(commands::contract::Cmd),
    /// Copies that leave the vault (a test machine, a person) and their attested destruction.
    #[command(subcommand)]
    Copy(commands::copy::Cmd),
    /// Signed destruction certificates, and their offline verification.
    #[command(subcommand)]
    Certificate(commands::certificate::Cmd),
    /// Destroy, on the date, what the retention rules make due (PRE-6, OPS-3, ARC-1/2, OPS-2).
    Sweep(commands::sweep::Args),
    /// Take datasets into custody, read them back, verify them, hand them to their client.
    #[command(subcommand)]
    Dataset(commands::dataset::Cmd),
    /// The tamper-evident log of every operation: checkpoints, proofs, verification.
    #[command(subcommand)]
    Ledger(commands::ledger::Cmd),
    /// Check the data dir: clean interrupted ingests, report missing and orphan blobs.
    Fsck(commands::fsck::Args),
    /// Where the catalog and the ledger live: move them from SQLite to PostgreSQL.
    #[command(subcommand)]
    Catalog(commands::catalog::Cmd),
    /// Where copies may go: local test machines (the only place for a sample, PRE-5) or online.
    #[command(subcommand)]
    Environment(commands::environment::Cmd),
    /// Requests that need the client's approval, and its signer's decisions.
    #[command(subcommand)]
    Approval(commands::approval::Cmd),
    /// The access policy (Cedar): validate the operator's files, show the set, explain a decision.
    #[command(subcommand)]
    Policy(commands::policy::Cmd),
    /// The demonstrator's public page text: every approved re-use of material (CONF-3), FR and EN.
    PublicMentions(commands::approval::MentionsArgs),
    /// Serve the client's own door: the HTTP API and the French/English portal.
    Serve(commands::serve::Args),
    /// API tokens for `gardien serve`: made by the person they act as, shown once, revocable.
    #[command(subcommand)]
    Token(commands::token::Cmd),
    /// The secure drop: a client's file sent to one technical operator, encrypted before it leaves the sender.
    #[command(subcommand)]
    Drop(commands::drop::Cmd),
    /// Notifications by e-mail: the relay, the outbox, sending what is due.
    #[command(subcommand)]
    Notify(commands::notify::Cmd),
    /// Webhooks: endpoints that receive the notifications, signed with HMAC-SHA-256.
    #[command(subcommand)]
    Webhook(commands::webhook::Cmd),
    /// A client's Moodle sites: register, check, back up into the vault (OPS-2, ARC-1).
    #[command(subcommand)]
    Site(commands::site::Cmd),
    /// Hand a Moodle site back whole to its client, as one age file (OPS-2).
    #[command(subcommand)]
    Restitution(commands::site::RestitutionCmd),
    /// Servers: where each is (LOC-1), whose (ACC-1, ACC-2, ACC-4), the web applications it hosts (WEB-2).
    #[command(subcommand)]
    Server(commands::server::Cmd),
    /// The catalog of maneuvers a client's technical staff may be granted (ACC-2).
    #[command(subcommand)]
    Maneuver(commands::access::ManeuverCmd),
    /// Access to a dedicated server: certificates for an approved request, revocation (ACC-3).
    #[command(subcommand)]
    Access(commands::access::Cmd),
    /// The bastion, the one entry point to servers (ACC-4): settings and sshd configuration.
    #[command(subcommand)]
    Bastion(commands::access::BastionCmd),
    /// A guided walk through gardien on a throwaway data dir.
    Demo(commands::demo::Args),
}

fn main() -> ExitCode {
    // `println!` panics when stdout cannot be written (a closed pipe, a full disk): a reader
    // that went away is the end of the output (as `head` would have it), a full disk is an
    // error, neither a crash.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            if msg.contains("Broken pipe") {
                std::process::exit(i32::from(exit::OK));
            }
            eprintln!("gardien: cannot write the output: {}", msg.trim_start_matches("failed printing to stdout: "));
            std::process::exit(i32::from(exit::FAILED));
        }
        eprintln!("gardien: internal error (a bug; please report it): {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // The parser quotes what it was given: a secret key pasted in the wrong place,
            // control characters. Neither reaches the terminal as is.
            let text = e.render().to_string();
            eprint!("{}", vault::text::escape_lines(&vault::text::redact_secrets(&text)));
            return ExitCode::from(exit::USAGE);
        }
    };
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
    match commands::run(&cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(exit::OK);
            }
            eprintln!("gardien: {}", render(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// An error as one message: each cause once (a cause already in its parent's message is
/// not repeated), no secret key (given by mistake as a path or a recipient), and no control
/// character reaching the terminal.
fn render(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if msg.contains(&c) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&c);
    }
    vault::text::escape_lines(&vault::text::redact_secrets(&msg))
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(code) = cause.downcast_ref::<commands::Exit>() {
            return code.0;
        }
        if let Some(v) = cause.downcast_ref::<vault::Error>() {
            return vault_exit_code(v);
        }
    }
    exit::FAILED
}

/// A vault error's exit code; another client's resource exits as an unknown one would.
pub(crate) fn vault_exit_code(v: &vault::Error) -> u8 {
    match v {
        vault::Error::Hidden(inner) => vault_exit_code(inner),
        vault::Error::SiteNotAllowed { .. }
        | vault::Error::UnknownPerson(_)
        | vault::Error::DisabledPerson { .. }
        | vault::Error::SignIn(_)
        | vault::Error::NotSignedIn
        | vault::Error::Refused { .. }
        | vault::Error::DropClosed => exit::REFUSED,
        vault::Error::DropFile(_) => exit::INTEGRITY,
        // Files the database references, missing or corrupt: the site is not whole.
        vault::Error::Site { source: moodle::Error::Inconsistent(_), .. } => exit::INTEGRITY,
        vault::Error::Site { .. } | vault::Error::RangeNotSatisfiable { .. } => exit::FAILED,
        // Every copy's store out of reach: nothing is known of the copies.
        vault::Error::NoReadableCopy { unreachable: true, .. } => exit::FAILED,
        vault::Error::CopyCorrupt { .. }
        | vault::Error::NoReadableCopy { .. }
        | vault::Error::LedgerInconsistent(_)
        | vault::Error::BadCertificate(_) => exit::INTEGRITY,
        vault::Error::NotInitialized { .. }
        | vault::Error::NotEmpty { .. }
        | vault::Error::StorePathTaken { .. }
        | vault::Error::TooNew { .. }
        | vault::Error::Config { .. }
        | vault::Error::CatalogUrl { .. }
        | vault::Error::InvalidName { .. }
        | vault::Error::InvalidText { .. }
        | vault::Error::UnknownStore(_)
        | vault::Error::StoreExists(_)
        | vault::Error::UnknownClient(_)
        | vault::Error::ClientExists(_)
        | vault::Error::UnknownDataset(_)
        | vault::Error::Pending(_)
        | vault::Error::MasterKeyUnreadable { .. }
        | vault::Error::WrongMasterKey { .. }
        | vault::Error::BadRecipient { .. }
        | vault::Error::OutputExists(_)
        | vault::Error::Io { .. }
        | vault::Error::Input(_)
        | vault::Error::Output(_)
        | vault::Error::Store { .. }
        | vault::Error::StoreSetup { .. }
        | vault::Error::Catalog(_)
        | vault::Error::CatalogUnreachable { .. }
        | vault::Error::LedgerWrite(_)
        | vault::Error::UnknownContract(_)
        | vault::Error::ContractExists(_)
        | vault::Error::Lifecycle(_)
        | vault::Error::ContractNeeded(_)
        | vault::Error::Destroyed { .. }
        | vault::Error::Held(_)
        | vault::Error::NotHeld(_)
        | vault::Error::UnknownCopy { .. }
        | vault::Error::AlreadyAttested { .. }
        | vault::Error::Unattested(_)
        | vault::Error::UnknownCertificate(_)
        | vault::Error::PersonExists(_)
        | vault::Error::BadRole(_)
        | vault::Error::LedgerInput(_)
        | vault::Error::NoSuchEntry { .. }
        | vault::Error::Policy(_)
        | vault::Error::Exists { .. }
        | vault::Error::Unknown { .. }
        | vault::Error::BadInput(_)
        | vault::Error::WeakPassword(_)
        | vault::Error::BadApproval(_)
        | vault::Error::UnknownUpload
        | vault::Error::UploadBusy
        | vault::Error::TooLarge(_)
        | vault::Error::Acme(_)
        | vault::Error::Corrupt(_) => exit::FAILED,
    }
}
