//! `gardien ledger ...`: the tamper-evident log of every operation, and its proofs.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::{Cli, exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Print the verifier key (`<name>+<id>+<key>`) that checks checkpoints and proofs.
    Key {
        /// Print the same key as a line of OpenSSH's allowed_signers file, which checks a
        /// restitution's SHA256SUMS.sig: `ssh-keygen -Y verify -f allowed_signers -I NAME
        /// -n gardien-restitution -s SHA256SUMS.sig < SHA256SUMS`.
        #[arg(long)]
        ssh: bool,
    },
    /// Sign and print a checkpoint (C2SP tlog-checkpoint) of the log as it is now.
    ///
    /// Keep it: with it, `ledger consistency` later proves the log was only appended to.
    Checkpoint,
    /// Print the raw bytes of the entry at INDEX (what its leaf hashes).
    Entry {
        /// The entry's index (0 is the vault's creation).
        index: u64,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List the events, decoded, with their indexes.
    List {
        /// Only the events that name this client.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an inclusion proof (c2sp.org/tlog-proof@v1) for the entry at INDEX.
    #[command(after_help = "Example, checked offline by anyone holding the verifier key:\n  \
        gardien ledger entry 5 -o entry5\n  gardien ledger proof 5 > entry5.tlog-proof\n  \
        gardien ledger verify-proof --key \"$(gardien ledger key)\" --proof entry5.tlog-proof --entry entry5")]
    Proof {
        /// The entry's index.
        index: u64,
        /// Prove against this checkpoint (one this log signed) instead of a new one.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print a consistency proof from a kept checkpoint to now, as a tlog-witness
    /// add-checkpoint body (`old N`, hashes, blank line, new checkpoint).
    Consistency {
        /// The checkpoint kept from earlier.
        #[arg(long)]
        from: PathBuf,
    },
    /// Recompute the whole tree from the stored entries and check it against every
    /// signed checkpoint; an edited, missing or reordered entry is named by index.
    #[command(after_help = "Exit code 3 when anything does not verify.")]
    Verify,
    /// Check a proof offline, with no data dir: the entry is in the log the checkpoint
    /// describes, and the checkpoint is signed by KEY.
    VerifyProof {
        /// The log's verifier key.
        #[arg(long)]
        key: String,
        /// The tlog-proof file.
        #[arg(long)]
        proof: PathBuf,
        /// The entry's raw bytes (from `ledger entry`).
        #[arg(long)]
        entry: PathBuf,
    },
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    crate::output::read_small_text(path)
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    // Offline: the one command that touches no data dir, so it has no door to pass.
    if let Cmd::VerifyProof { key, proof, entry } = cmd {
        let verifier = ledger::note::Verifier::parse(key)?;
        let proof = ledger::proof::InclusionProof::parse(&read(proof)?)
            .with_context(|| format!("reading the proof {}", proof.display()))?;
        let entry = crate::output::read_small(entry)?;
        let cp = proof.verify(&entry, &verifier).map_err(|e| super::Exit(exit::INTEGRITY, e.to_string()))?;
        println!(
            "ok: entry {} is in the log {} of {} entries (root {})",
            proof.index,
            cp.origin,
            cp.size,
            hex(&cp.root)
        );
        return Ok(());
    }
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Key { ssh: false } => println!("{}", v.ledger_key(now)?),
        Cmd::Key { ssh: true } => println!("{}", v.ledger_key_ssh(now)?),
        Cmd::Checkpoint => print!("{}", v.checkpoint(now)?),
        Cmd::Entry { index, output: None } => std::io::stdout().write_all(&v.ledger_entry(*index, now)?)?,
        Cmd::Entry { index, output: Some(path) } => {
            let bytes = v.ledger_entry(*index, now)?;
            crate::output::write_private(path, &bytes)?;
        }
        Cmd::List { client, json } => {
            let events = v.ledger_events(client.as_deref(), now)?;
            if *json {
                return output::json(
                    &events
                        .iter()
                        .map(|(i, e)| {
                            serde_json::json!({
                                "index": i, "time": e.time, "actor": e.actor, "action": e.action.as_str(),
                                "resources": e.resources, "decision": if e.allowed { "allow" } else { "deny" },
                                "clause": e.clause, "outcome": e.outcome.as_str(), "commitment": e.commitment,
                            })
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["INDEX", "TIME", "ACTOR", "ACTION", "OUTCOME", "CLAUSE", "RESOURCES"],
                events.iter().map(|(i, e)| {
                    vec![
                        i.to_string(),
                        e.time.clone(),
                        e.actor.clone(),
                        e.action.to_string(),
                        e.outcome.as_str().to_owned(),
                        e.clause.clone(),
                        e.resources.join(" "),
                    ]
                }),
            )?;
        }
        Cmd::Proof { index, checkpoint } => {
            let note = checkpoint.as_deref().map(read).transpose()?;
            print!("{}", v.inclusion_proof(*index, note.as_deref(), now)?);
        }
        Cmd::Consistency { from } => print!("{}", v.consistency_proof(&read(from)?, now)?),
        Cmd::Verify => {
            let r = v.verify_ledger(now)?;
            for p in &r.problems {
                println!("FAILED  {p}");
            }
            if !r.problems.is_empty() {
                return Err(super::Exit(
                    exit::INTEGRITY,
                    format!("the ledger does not verify: {} problems", r.problems.len()),
                )
                .into());
            }
            println!(
                "ok: {} entries, {} signed checkpoints verified; {} entries' details recomputed against their commitments{}",
                r.size,
                r.checkpoints,
                r.details_checked,
                if r.details_erased > 0 { format!(", {} erased", r.details_erased) } else { String::new() }
            );
        }
        Cmd::VerifyProof { .. } => unreachable!("handled above"),
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
