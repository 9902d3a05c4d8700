//! `gardien contract add|deal|set|show|list`.

use std::io::Write as _;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Open a case for a client, with the end of its pre-sales period (PRE-6).
    #[command(after_help = "Dates are ISO 8601 days (through that day, UTC) or instants:\n  \
        gardien contract add acme-trial --client acme --presales-until 2026-12-31")]
    Add {
        /// The case name (lowercase letters, digits, dashes).
        case: String,
        /// The client.
        #[arg(long)]
        client: String,
        /// Last day (or instant) of the pre-sales period.
        #[arg(long)]
        presales_until: Option<String>,
    },
    /// Record the deal: concluded (samples become loading data) or lost (PRE-6).
    Deal {
        /// The case.
        case: String,
        /// The deal is concluded.
        #[arg(long, conflicts_with = "lost", required_unless_present = "lost")]
        concluded: bool,
        /// The deal is lost: the pre-sales period ends on that date.
        #[arg(long)]
        lost: bool,
        /// When (default: now).
        #[arg(long)]
        on: Option<String>,
    },
    /// Set the later dates: VSR end (OPS-3), contract end, custody (ARC-1/2), admin window (OPS-4).
    Set {
        /// The case.
        case: String,
        /// Last day of the regular-service verification period.
        #[arg(long)]
        vsr_until: Option<String>,
        /// Last day of the contract.
        #[arg(long)]
        ends: Option<String>,
        /// Months backups and archives are kept after the end: 0 (ARC-2) to 12 (ARC-1). Default 6.
        #[arg(long)]
        custody_months: Option<u32>,
        /// Last day the client's admin accounts may still read their data (OPS-4).
        #[arg(long)]
        admin_window_until: Option<String>,
    },
    /// Show a contract.
    Show {
        /// The case.
        case: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the contracts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn json(r: &vault::ContractRow, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let c = &r.contract;
    let t = |d: Option<chrono::DateTime<chrono::Utc>>| d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let (deal_on,) = match c.deal {
        lifecycle::Deal::Undecided => (None,),
        lifecycle::Deal::Concluded { on } | lifecycle::Deal::Lost { on } => (t(Some(on)),),
    };
    serde_json::json!({
        "case": c.case, "client": r.client, "created": r.created,
        "presales_until": t(c.presales_until), "deal": c.deal.as_str(), "deal_on": deal_on,
        "vsr_until": t(c.vsr_until), "ends": t(c.ends), "custody_months": c.custody_months,
        "admin_window_until": t(c.admin_window_until), "phase": c.phase(now).as_str(),
    })
}

/// A contract's field as people read it: a period's end as its last day, an instant as
/// a day (JSON keeps RFC 3339, the exclusive end of each period).
fn text(key: &str, val: &serde_json::Value) -> String {
    match (key, val.as_str()) {
        ("presales_until" | "vsr_until" | "ends" | "admin_window_until", Some(v)) => output::until(v),
        ("created" | "deal_on", Some(v)) => output::day(v),
        (_, Some(v)) => v.to_owned(),
        (_, None) if val.is_null() => "-".to_owned(),
        (_, None) => val.to_string(),
    }
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { case, client, presales_until } => {
            v.add_contract(case, client, presales_until.as_deref(), now)?;
            eprintln!("opened contract {case} for {client}");
        }
        Cmd::Deal { case, concluded, lost: _, on } => {
            v.decide(case, *concluded, on.as_deref(), now)?;
            eprintln!("contract {case}: deal {}", if *concluded { "concluded" } else { "lost" });
        }
        Cmd::Set { case, vsr_until, ends, custody_months, admin_window_until } => {
            let dates = vault::ContractDates {
                vsr_until: vsr_until.as_deref(),
                ends: ends.as_deref(),
                custody_months: *custody_months,
                admin_window_until: admin_window_until.as_deref(),
            };
            v.set_contract(case, &dates, now)?;
            eprintln!("contract {case} updated");
        }
        Cmd::Show { case, json: as_json } => {
            let r = v.contract(case, now)?;
            let j = json(&r, now);
            if *as_json {
                return output::json(&j);
            }
            let mut out = std::io::stdout().lock();
            if let Some(o) = j.as_object() {
                for (k, val) in o {
                    writeln!(out, "{k:<20} {}", vault::text::escape(&text(k, val)))?;
                }
            }
        }
        Cmd::List { json: as_json } => {
            let rows = v.contracts(None, now)?;
            if *as_json {
                return output::json(&rows.iter().map(|r| json(r, now)).collect::<Vec<_>>());
            }
            output::table(
                &["CASE", "CLIENT", "PHASE", "DEAL", "PRESALES UNTIL", "VSR UNTIL", "ENDS", "CUSTODY"],
                rows.iter().map(|r| {
                    let j = json(r, now);
                    let s = |k: &str| text(k, &j[k]);
                    vec![
                        s("case"),
                        s("client"),
                        s("phase"),
                        s("deal"),
                        s("presales_until"),
                        s("vsr_until"),
                        s("ends"),
                        format!("{} months", r.contract.custody_months),
                    ]
                }),
            )?;
        }
    }
    Ok(())
}
