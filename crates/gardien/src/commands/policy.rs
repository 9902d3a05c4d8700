//! `gardien policy validate|show|explain`: the access policy, as Cedar code.

use std::io::Write as _;
use std::path::PathBuf;

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Check the policy: the shipped files, the data dir's `policies/*.cedar`, and the
    /// files given (candidates not installed yet), against the schema.
    ///
    /// Exit code 0 if the set validates, 1 with every problem (file:line:column) if not.
    /// While the data dir's own files do not validate, every other command is refused.
    #[command(after_help = "Example:\n  gardien policy validate site.cedar && cp site.cedar gardien-data/policies/")]
    Validate {
        /// Candidate policy files.
        files: Vec<PathBuf>,
    },
    /// Print the effective policy set, file by file.
    Show,
    /// May the acting person (--as) do ACTION to RESOURCE? Prints ALLOW or DENY with the
    /// clauses of the deciding policies; exit code 0 for ALLOW, 1 for DENY.
    ///
    /// The approvals in force, the dataset's phase and the environment are read from the
    /// catalog as for a real request; --context replaces some of them.
    #[command(
        after_help = "Examples:\n  gardien --as prestataire policy explain --action dataset:get --resource dataset:ds-0123456789abcdef\n  \
        gardien --as jdupont policy explain --action copy:out --resource dataset:ds-0123456789abcdef --context '{\"environment\": \"laptop-jdupont\"}'\n\n\
        Context keys: approvals (a list of kinds), environment (a name), other_environment (true/false), kind (an approval kind)."
    )]
    Explain {
        /// The action, noun:verb (dataset:get, copy:out, approval:decide...).
        #[arg(long)]
        action: String,
        /// The resource, kind:id (dataset:ID, client:SLUG, contract:CASE, approval:ID, ...).
        #[arg(long)]
        resource: String,
        /// JSON that replaces parts of the request's context.
        #[arg(long)]
        context: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Validate { files } => {
            let n = v.policy_validate(files, now)?;
            eprintln!(
                "the policy validates: {n} policies (shipped, the data dir's and {} candidate file(s))",
                files.len()
            );
        }
        Cmd::Show => {
            // The operator's files are shown as written, with any control character escaped.
            let text = vault::text::escape_lines(&v.policy_show(now)?);
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
        Cmd::Explain { action, resource, context, json } => {
            let e = v.explain(action, resource, context.as_deref(), now)?;
            let d = &e.decision;
            let verdict = if d.allowed { "ALLOW" } else { "DENY" };
            if *json {
                output::json(&serde_json::json!({
                    "decision": verdict, "clauses": d.clauses, "reasons": d.reasons, "policies": d.policies,
                    "actor": e.actor, "role": e.role, "action": e.action, "resource": e.resource, "approvals": e.approvals,
                }))?;
            } else {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{verdict} ({}): {}", d.clause_list(), vault::text::escape(&d.reason()))?;
                writeln!(out, "  who:       {} ({})", e.actor, e.role)?;
                writeln!(out, "  action:    {}", e.action)?;
                writeln!(out, "  resource:  {}", e.resource)?;
                let approvals = if e.approvals.is_empty() { "none".to_owned() } else { e.approvals.join(", ") };
                writeln!(out, "  approvals: {approvals}")?;
                let policies = if d.policies.is_empty() {
                    "none permits it (default refusal)".to_owned()
                } else {
                    vault::text::escape(&d.policies.join(", "))
                };
                writeln!(out, "  policies:  {policies}")?;
            }
            if !d.allowed {
                return Err(super::Exit(
                    crate::exit::FAILED,
                    format!("{} may not {} {}", e.actor, e.action, e.resource),
                )
                .into());
            }
        }
    }
    Ok(())
}
