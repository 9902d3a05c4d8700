//! `gardien sweep`.

use crate::{Cli, exit, output};

/// Destroy what the retention rules make due.
#[derive(Debug, clap::Args)]
#[command(after_help = "Rules: presales-sample when pre-sales ends without a concluded deal (PRE-6);\n\
loading-data when the VSR ends (OPS-3); backup and archive at the contract's end plus custody\n\
(ARC-1, ARC-2); export after export_days (OPS-2). A hold pauses a dataset's clock.\n\n\
Examples:\n  gardien sweep --dry-run\n  gardien sweep --dry-run --at 2027-01-01 --json\n  gardien sweep                     # destroys what is due now; run it daily\n\n\
Exit code 3 when something due could not be destroyed (it is listed as blocked).")]
pub struct Args {
    /// With --dry-run only: list what would be due at this instant (a day means its
    /// midnight, UTC). A real sweep destroys on the real clock, never at another date.
    #[arg(long, requires = "dry_run")]
    at: Option<String>,
    /// List what is due, with its rule and clause, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    let at = match &args.at {
        Some(a) => lifecycle::parse_instant(a)?,
        None => now,
    };
    let r = if args.dry_run { v.sweep_dry_run(at, now)? } else { v.sweep(now)? };
    // Drops and partial uploads whose time ran out end here too (a host without the server).
    if !args.dry_run {
        let x = v.expire_drops(now)?;
        if !args.json && (!x.drops.is_empty() || !x.uploads.is_empty()) {
            eprintln!("{} drops expired; {} partial uploads deleted", x.drops.len(), x.uploads.len());
        }
    }
    if args.json {
        output::json(&serde_json::json!({
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "dry_run": args.dry_run,
            "due": r.due.iter().map(|d| serde_json::json!({
                "dataset": d.dataset.id, "client": d.dataset.client, "class": d.dataset.class.as_str(),
                "contract": d.dataset.contract, "rule": d.due.rule, "clause": d.due.clause,
                "due_since": d.due.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })).collect::<Vec<_>>(),
            "destroyed": r.destroyed.iter().map(|(id, i)| serde_json::json!({"dataset": id, "event": i})).collect::<Vec<_>>(),
            "held": r.held.iter().map(|d| serde_json::json!({
                "dataset": d.dataset.id, "client": d.dataset.client, "class": d.dataset.class.as_str(),
                "rule": d.due.rule, "clause": d.due.clause,
                "due_since": d.due.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "holds": d.dataset.holds.iter().map(|h| serde_json::json!({"held": h.held, "released": h.released, "reason": h.reason})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "blocked": r.blocked.iter().map(|(id, why)| serde_json::json!({"dataset": id, "why": why})).collect::<Vec<_>>(),
            "certificates": r.certificates.iter().map(|(id, c)| serde_json::json!({"dataset": id, "certificate": c})).collect::<Vec<_>>(),
        }))?;
    } else {
        for d in &r.due {
            println!(
                "{}  {}  {}  {}  due since {}  {} ({})",
                if args.dry_run { "due      " } else { "destroy  " },
                d.dataset.id,
                d.dataset.client,
                d.dataset.class,
                lifecycle::show_instant(d.due.at),
                d.due.rule,
                d.due.clause
            );
        }
        for d in &r.held {
            println!(
                "held      {}  {}  {}  due under {} since {}, but held: {}",
                d.dataset.id,
                d.dataset.client,
                d.dataset.class,
                d.due.clause,
                lifecycle::show_instant(d.due.at),
                vault::text::escape(&d.dataset.holds.iter().map(|h| h.reason.as_str()).collect::<Vec<_>>().join("; "))
            );
        }
        for (id, why) in &r.blocked {
            println!("BLOCKED  {id}: {why}");
        }
        for (id, cert) in &r.certificates {
            println!("certificate {cert} issued for {id}");
        }
        eprintln!(
            "{} due; {} held; {} destroyed; {} blocked{}",
            r.due.len(),
            r.held.len(),
            r.destroyed.len(),
            r.blocked.len(),
            if args.dry_run { " (dry run: nothing changed)" } else { "" }
        );
    }
    if !r.blocked.is_empty() {
        return Err(
            super::Exit(exit::INTEGRITY, format!("{} due datasets could not be destroyed", r.blocked.len())).into()
        );
    }
    Ok(())
}
