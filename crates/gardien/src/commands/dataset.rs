//! `gardien dataset ingest|list|show|get|verify|export`.

use std::io::Write as _;
use std::path::PathBuf;

use crate::{Cli, exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Take a file (or stdin) into custody: sealed with its own key, written to every store.
    ///
    /// Prints only the new dataset id on stdout. The dataset is listed only once every
    /// copy is written and synced; an interrupted ingest leaves nothing visible.
    #[command(
        after_help = "Examples:\n  id=$(gardien dataset ingest sample.csv --client lycee-hugo --class presales-sample --contract essai-2026 --to jdupont --provider \"Lycée Victor Hugo\")\n  pg_dump moodle | gardien dataset ingest - --client lycee-hugo --class backup --store local --store strasbourg-1"
    )]
    Ingest {
        /// The file to take in, or - for stdin.
        path: PathBuf,
        /// The client that owns the data.
        #[arg(long)]
        client: String,
        /// presales-sample, loading-data, backup, archive, export or other.
        #[arg(long, value_parser = parse_class)]
        class: vault::DatasetClass,
        /// A free label, kept in the catalog only.
        #[arg(long)]
        label: Option<String>,
        /// A store to write a copy to (repeat for more copies). Default: the config's default_stores.
        #[arg(long = "store")]
        stores: Vec<String>,
        /// The contract it belongs to; required for presales-sample, loading-data, backup, archive.
        #[arg(long)]
        contract: Option<String>,
        /// A sample's technical operator: the one person it is addressed to (PRE-3); required for presales-sample.
        #[arg(long)]
        to: Option<String>,
        /// A sample's original provider, who decides its re-use elsewhere (PRE-4). Default: the client.
        #[arg(long)]
        provider: Option<String>,
    },
    /// Place a legal hold: the dataset's retention clock stops until it is released.
    Hold {
        /// The dataset id.
        id: String,
        /// Why (kept in the catalog, not in the ledger).
        #[arg(long)]
        reason: String,
    },
    /// Release a dataset's legal hold: its clock runs again.
    Release {
        /// The dataset id.
        id: String,
    },
    /// List the datasets in custody.
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Also the destroyed ones (their records: when, under which rule).
        #[arg(long)]
        all: bool,
        /// Only the datasets under a legal hold (their destruction clock is stopped).
        #[arg(long)]
        held: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dataset and its copies.
    Show {
        /// The dataset id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a dataset's plaintext, checked against its recorded SHA-256.
    #[command(after_help = "On a failed check the exit code is 3, and a file given with -o is removed.")]
    Get {
        /// The dataset id.
        id: String,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Decrypt and hash every copy of a dataset; exit code 3 if any copy is bad.
    Verify {
        /// The dataset id.
        id: String,
    },
    /// Hand a dataset to its client as an age file for the client's own key (OPS-2).
    ///
    /// The client opens it with `age -d -i client.key`; it never needs gardien.
    #[command(
        after_help = "Example:\n  gardien dataset export ds-0123456789abcdef --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p -o backup.age"
    )]
    Export {
        /// The dataset id.
        id: String,
        /// The client's age recipient (age1...).
        #[arg(long)]
        recipient: String,
        /// The file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
}

fn parse_class(s: &str) -> Result<vault::DatasetClass, String> {
    s.parse().map_err(|e: lifecycle::Error| e.to_string())
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    match cmd {
        Cmd::Ingest { path, client, class, label, stores, contract, to, provider } => {
            let req = vault::IngestRequest {
                client,
                class: *class,
                label: label.as_deref(),
                stores,
                contract: contract.as_deref(),
                to: to.as_deref(),
                provider: provider.as_deref(),
            };
            let (pb, source) = if path.as_os_str() == "-" {
                (output::progress(None, "ingesting stdin"), vault::Source::Reader(&mut std::io::stdin()))
            } else {
                (output::progress(Some(0), "ingesting"), vault::Source::Path(path))
            };
            let ds = v.ingest(source, &req, &output::Bar(&pb), super::now());
            pb.finish_and_clear();
            let ds = ds?;
            println!("{}", ds.id);
            tracing::info!(dataset = %ds.id, size = ds.size, "ingested");
            Ok(())
        }
        Cmd::List { client, all, held, json } => {
            let mut list = v.datasets(client.as_deref(), *all, super::now())?;
            if *held {
                list.retain(|d| d.holds.iter().any(|h| h.released.is_none()));
            }
            if *json {
                return output::json(&list.iter().map(output::dataset_json).collect::<Vec<_>>());
            }
            output::table(
                &["ID", "CLIENT", "CLASS", "SIZE", "CREATED", "STATE", "COPIES", "LABEL"],
                list.iter().map(|d| {
                    vec![
                        d.id.clone(),
                        d.client.clone(),
                        d.class.to_string(),
                        output::size(d.size),
                        output::day(&d.created),
                        // A hold shows where the dataset is listed (its clock is stopped).
                        if d.holds.iter().any(|h| h.released.is_none()) {
                            format!("{} (held)", d.state)
                        } else {
                            d.state.clone()
                        },
                        d.copies.iter().map(|c| format!("{}@{}", c.store, c.site)).collect::<Vec<_>>().join(","),
                        d.label.clone().unwrap_or_default(),
                    ]
                }),
            )
        }
        Cmd::Show { id, json } => {
            let d = v.dataset(id, super::now())?;
            if *json {
                return output::json(&output::dataset_json(&d));
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "id:      {}", d.id)?;
            writeln!(out, "client:  {}", d.client)?;
            writeln!(out, "class:   {}", d.class)?;
            writeln!(out, "label:   {}", vault::text::escape(d.label.as_deref().unwrap_or("-")))?;
            writeln!(out, "size:    {} ({} bytes)", output::size(d.size), d.size)?;
            writeln!(out, "sha256:  {}", d.sha256)?;
            writeln!(out, "created: {}", output::day(&d.created))?;
            writeln!(out, "state:   {}", d.state)?;
            writeln!(out, "contract: {}", d.contract.as_deref().unwrap_or("-"))?;
            if let Some(to) = &d.addressed_to {
                writeln!(out, "addressed to: {to} (PRE-3)")?;
            }
            if let Some(p) = &d.provider {
                writeln!(out, "provider: {} (decides any re-use elsewhere, PRE-4)", vault::text::escape(p))?;
            }
            for h in &d.holds {
                match &h.released {
                    None => writeln!(
                        out,
                        "held:    since {}: {} (its destruction clock is stopped until released)",
                        output::day(&h.held),
                        vault::text::escape(&h.reason)
                    )?,
                    Some(r) => writeln!(
                        out,
                        "hold:    from {} to {}: {}",
                        output::day(&h.held),
                        output::day(r),
                        vault::text::escape(&h.reason)
                    )?,
                }
            }
            if let Some(x) = &d.destruction {
                writeln!(
                    out,
                    "destroyed: {} under {} ({}), ledger entry {}",
                    output::day(&x.at),
                    x.clause,
                    x.rule,
                    x.event.map_or("-".into(), |e| e.to_string())
                )?;
            }
            for c in &d.copies {
                let gone = if d.destruction.is_some() { ", destroyed" } else { "" };
                writeln!(out, "copy:    store {} on site {} ({}{gone})", c.store, c.site, c.object)?;
            }
            Ok(())
        }
        Cmd::Get { id, output: path, force } => {
            let pb = output::progress(Some(0), "reading");
            let r = match path {
                Some(p) => v.get_to_file(id, p, *force, &output::Bar(&pb), super::now()),
                None => {
                    // A duplicate of fd 1 as a plain file: no line buffering on binary data.
                    let fd = std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned()?;
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(fd));
                    v.get(id, &mut out, &output::Bar(&pb), super::now())
                }
            };
            pb.finish_and_clear();
            if let Some(c) = r? {
                eprintln!(
                    "this copy is recorded as {} in your hands: once you destroyed it, attest it with: gardien --as {} copy attest {id} {}",
                    c.id, c.holder, c.id
                );
            }
            Ok(())
        }
        Cmd::Hold { id, reason } => {
            v.hold(id, reason, super::now())?;
            eprintln!("dataset {id} is held: the sweeper will not destroy it until it is released");
            Ok(())
        }
        Cmd::Release { id } => {
            v.release(id, super::now())?;
            eprintln!("dataset {id} released: its clock runs again");
            Ok(())
        }
        Cmd::Verify { id } => {
            let pb = output::progress(Some(0), "verifying");
            let checks = v.verify(id, &output::Bar(&pb), super::now())?;
            pb.finish_and_clear();
            let (mut bad, mut unread) = (Vec::new(), Vec::new());
            for c in &checks {
                match &c.result {
                    Ok(()) => println!("ok      {} copy on store {} ({})", id, c.copy.store, c.copy.site),
                    // A store out of reach says nothing of the copy: not an integrity failure.
                    Err(e @ (vault::Error::Store { .. } | vault::Error::StoreSetup { .. })) => {
                        println!("UNREAD  {}", vault::text::escape(&e.to_string()));
                        unread.push(e.to_string());
                    }
                    Err(e) => {
                        println!("FAILED  {}", vault::text::escape(&e.to_string()));
                        bad.push(e.to_string());
                    }
                }
            }
            if !bad.is_empty() {
                let msg = format!("{} of {} copies failed verification: {}", bad.len(), checks.len(), bad.join("; "));
                return Err(super::Exit(exit::INTEGRITY, msg).into());
            }
            if !unread.is_empty() {
                let msg =
                    format!("{} of {} copies could not be read: {}", unread.len(), checks.len(), unread.join("; "));
                return Err(super::Exit(exit::FAILED, msg).into());
            }
            Ok(())
        }
        Cmd::Export { id, recipient, output: path, force } => {
            let pb = output::progress(Some(0), "exporting");
            let r = v.export(id, recipient, path, *force, &output::Bar(&pb), super::now());
            pb.finish_and_clear();
            r?;
            let shown = vault::text::escape(&path.display().to_string());
            eprintln!(
                "wrote {shown} for {}; the client opens it with: age -d -i client.key -o data {shown}",
                recipient.trim()
            );
            Ok(())
        }
    }
}
