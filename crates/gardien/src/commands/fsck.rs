//! `gardien fsck`.

use crate::{Cli, exit};

/// Check the data dir.
#[derive(Debug, clap::Args)]
#[command(after_help = "Interrupted ingests (their process is gone) are removed: they never became visible.\n\
Copies whose blob is missing and blobs no dataset lists are reported, never deleted;\n\
so are copies on an S3 store that are not the object written (their entity tag changed).\n\
Uploads a killed process left unfinished on an S3 store are aborted.\n\
Exit code 3 when something is reported.")]
pub struct Args {}

pub fn run(cli: &Cli, _args: &Args) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let r = v.fsck(super::now())?;
    for id in &r.in_progress {
        println!("in progress: ingest {id} (another process is writing it)");
    }
    // Object names come from the stores: shown escaped.
    let esc = |s: &str| vault::text::escape(s);
    for (object, store) in &r.missing {
        println!("missing: {} on store {store}", esc(object));
    }
    for (object, store) in &r.orphans {
        println!("orphan: {} on store {store} (no dataset lists it)", esc(object));
    }
    for (object, store) in &r.changed {
        println!(
            "changed: {} on store {store} (not the object gardien wrote; `gardien dataset verify` reads it)",
            esc(object)
        );
    }
    for (store, why) in &r.unchecked {
        println!("unchecked: store {store}: {}", esc(why));
    }
    if r.has_problems() {
        return Err(super::Exit(
            exit::INTEGRITY,
            format!(
                "{} missing copies, {} orphan blobs, {} changed copies",
                r.missing.len(),
                r.orphans.len(),
                r.changed.len()
            ),
        )
        .into());
    }
    if !r.unchecked.is_empty() {
        return Err(super::Exit(exit::FAILED, format!("{} stores could not be checked", r.unchecked.len())).into());
    }
    // `open` already reported what it cleaned; fsck cleans only what died since.
    for id in r.cleaned.iter().filter(|id| !v.recovered().contains(id)) {
        eprintln!("cleaned up interrupted ingest {id}");
    }
    println!("ok: no problem found");
    Ok(())
}
