//! `gardien copy out|list|attest`: copies that leave the vault, and their destruction.

use std::path::PathBuf;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Decrypt a dataset onto a registered environment (`gardien environment add`), and
    /// record the copy: its destruction must be attested before the dataset's can complete.
    /// A pre-sales sample goes only to a local-test environment held by its technical
    /// operator (PRE-3, PRE-5), and beyond the first one only with its provider's approval
    /// (PRE-4).
    #[command(
        after_help = "Example:\n  gardien --as jdupont copy out ds-0123456789abcdef --env laptop-qa-3 -o /srv/test/sample.sql"
    )]
    Out {
        /// The dataset id.
        id: String,
        /// The environment the copy goes to; its holder holds the copy.
        #[arg(long = "env", visible_alias = "to")]
        environment: String,
        /// Write to this file instead of stdout (then stdout is the copy's id alone).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List the copies outside the vault, of one dataset or all; exports to the client are listed as the client's.
    List {
        /// Only this dataset's.
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record that the holder of a copy destroyed it (PRE-6: every copy, on every medium).
    /// The holder attests (`--as HOLDER`), or the ops team records it on the holder's word;
    /// the certificate says which.
    #[command(
        after_help = "Example:\n  gardien --as jdupont copy attest ds-0123456789abcdef cp-0123456789ab --method \"shred -u; DROP DATABASE\""
    )]
    Attest {
        /// The dataset id.
        id: String,
        /// The copy id (`cp-...`, from `copy list`).
        copy: String,
        /// The copy's holder (checked; default: the holder).
        #[arg(long)]
        by: Option<String>,
        /// How (e.g. "shred -u, then DROP DATABASE").
        #[arg(long)]
        method: Option<String>,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Out { id, environment, output: path, force } => {
            let pb = output::progress(Some(0), "copying out");
            let copy = match path {
                Some(p) => v.copy_out(
                    id,
                    environment,
                    vault::CopyTarget::File { path: p, force: *force },
                    &output::Bar(&pb),
                    now,
                ),
                None => {
                    let fd = std::os::fd::AsFd::as_fd(&std::io::stdout()).try_clone_to_owned()?;
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(fd));
                    v.copy_out(id, environment, vault::CopyTarget::Stream(&mut out), &output::Bar(&pb), now)
                }
            };
            pb.finish_and_clear();
            let copy = copy?;
            // With -o, stdout is free: the copy's id alone, for scripts (as ingest prints
            // the dataset's).
            if path.is_some() {
                println!("{}", copy.id);
            }
            eprintln!(
                "copy {} of {id} is on {environment}, held by {}; once destroyed, its holder attests it: gardien --as {} copy attest {id} {}",
                copy.id, copy.holder, copy.holder, copy.id
            );
        }
        Cmd::List { id, json } => {
            let copies = v.out_copies(id.as_deref(), now)?;
            let row = |c: &vault::OutCopy| {
                serde_json::json!({
                    "copy": c.id, "dataset": c.dataset, "kind": c.kind, "environment": c.environment, "holder": c.holder,
                    "created": c.created,
                    "attested": c.attested.as_ref().map(|(at, by, how)| serde_json::json!({"at": at, "by": by, "method": how})),
                })
            };
            if *json {
                return output::json(&copies.iter().map(row).collect::<Vec<_>>());
            }
            output::table(
                &["COPY", "DATASET", "KIND", "ENVIRONMENT", "HOLDER", "LEFT", "DESTROYED"],
                copies.iter().map(|c| {
                    vec![
                        c.id.clone(),
                        c.dataset.clone(),
                        c.kind.clone(),
                        c.environment.clone(),
                        c.holder.clone(),
                        c.created.clone(),
                        c.attested
                            .as_ref()
                            .map_or_else(|| "not attested".to_owned(), |(at, by, _)| format!("{at} by {by}")),
                    ]
                }),
            )?;
        }
        Cmd::Attest { id, copy, by, method } => {
            let c = v.attest(id, copy, by.as_deref(), method.as_deref(), now)?;
            let by = c.attested.map(|(_, by, _)| by).unwrap_or_default();
            eprintln!("copy {copy} of {id} (held by {}): destruction attested by {by}", c.holder);
        }
    }
    Ok(())
}
