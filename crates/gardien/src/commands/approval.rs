//! `gardien approval request|list|show|decide|revoke` and `gardien public-mentions`: what
//! needs the client's approval, and its signer's decision.

use std::io::Write as _;
use std::path::PathBuf;

use crate::{Cli, output};

const KINDS_HELP: &str = "Kinds:
  disclosure      data given to a third party, as a service the client asked for (CONF-1)
  observation     an observation of practices; the scope is shown in full to the signer, who must
                  read it (`approval show`) before deciding (CONF-4)
  material-reuse  re-use of pedagogical material; stated on the public page once approved (CONF-3)
  sample-reuse    a pre-sales sample installed in another environment, decided for its original
                  provider (PRE-4)
  server-access   access to a dedicated server, limited to a catalog of maneuvers (ACC-2, ACC-3)";

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Ask the client for an approval; its signer decides with `approval decide`.
    #[command(after_help = format!("{KINDS_HELP}\n\nExamples:\n  \
        gardien approval request observation --client lycee-hugo --for chercheur --scope \"read the forum activity of 2025-2026, anonymised, for a study on ...\" --until 2027-06-30\n  \
        gardien --as jdupont approval request sample-reuse --client lycee-hugo --dataset ds-0123456789abcdef --scope \"install the sample on the second test laptop\"\n  \
        gardien --as tech-hugo approval request server-access --client lycee-hugo --server moodle-hugo-1 --maneuver \"restart php-fpm\" --maneuver \"read nginx logs\" --scope \"on-call during the exam week\""))]
    Request {
        /// disclosure, observation, material-reuse, sample-reuse or server-access.
        kind: String,
        /// The client who decides.
        #[arg(long)]
        client: String,
        /// What is asked, in full; it never changes after the request.
        #[arg(long)]
        scope: String,
        /// The one person it is for (a third party, a technical operator).
        #[arg(long = "for")]
        for_handle: Option<String>,
        /// A dataset it opens (repeat for several); required but for server access: an
        /// approval never covers "all of the client's".
        #[arg(long = "dataset")]
        datasets: Vec<String>,
        /// When it expires (a day lasts through its end, UTC).
        #[arg(long)]
        until: Option<String>,
        /// server-access: the server.
        #[arg(long)]
        server: Option<String>,
        /// server-access: one maneuver of the catalog (repeat).
        #[arg(long = "maneuver")]
        maneuvers: Vec<String>,
    },
    /// List approvals.
    List {
        /// Only this client's (client people must give theirs).
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an approval in full (shown to the client's signer, it counts as read: CONF-4).
    Show {
        /// The approval id (ap-...).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve or refuse a request, as a signer of its client (--as SIGNER).
    #[command(
        after_help = "Example:\n  gardien --as proviseur approval show ap-0123456789ab\n  gardien --as proviseur approval decide ap-0123456789ab --approve --comment \"for this study only\""
    )]
    Decide {
        /// The approval id.
        id: String,
        /// Approve it.
        #[arg(long, conflicts_with = "refuse", required_unless_present = "refuse")]
        approve: bool,
        /// Refuse it.
        #[arg(long)]
        refuse: bool,
        /// A comment, kept with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw a request or an approval: what it allowed stops at once.
    Revoke {
        /// The approval id.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct MentionsArgs {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn json(a: &vault::ApprovalRow) -> serde_json::Value {
    serde_json::json!({
        "id": a.id, "kind": a.kind, "clause": vault::kind_clause(&a.kind), "client": a.client, "scope": a.scope,
        "requester": a.requester, "for": a.for_handle, "datasets": a.datasets, "server": a.server,
        "maneuvers": a.maneuvers.as_ref().map(|m| m.lines().collect::<Vec<_>>()), "until": a.until, "status": a.status,
        "decided_by": a.decided_by, "decided_at": a.decided_at, "comment": a.comment, "revoked_at": a.revoked_at,
        "created": a.created,
    })
}

fn print(a: &vault::ApprovalRow) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "id:        {}", a.id)?;
    writeln!(out, "kind:      {} ({})", a.kind, vault::kind_clause(&a.kind))?;
    writeln!(out, "client:    {}", a.client)?;
    writeln!(out, "status:    {}", a.status)?;
    writeln!(out, "asked by:  {} on {}", a.requester, output::day(&a.created))?;
    // Exactly whom and what it lets in (an approval of an older gardien may name no one:
    // it then lets no one in).
    writeln!(out, "for:       {}", a.for_handle.as_deref().unwrap_or("no one (it names no person)"))?;
    let datasets = if a.datasets.is_empty() { "none".to_owned() } else { a.datasets.join(", ") };
    writeln!(out, "datasets:  {datasets}")?;
    if let Some(s) = &a.server {
        writeln!(out, "server:    {s}")?;
    }
    if let Some(m) = &a.maneuvers {
        for line in m.lines() {
            writeln!(out, "maneuver:  {line}")?;
        }
    }
    let until =
        a.until.as_deref().map_or_else(|| "no end date".to_owned(), |u| format!("{} (included)", output::until(u)));
    writeln!(out, "until:     {until}")?;
    if let (Some(by), Some(at)) = (&a.decided_by, &a.decided_at) {
        writeln!(
            out,
            "decided:   {} by {by} on {}{}",
            a.status,
            output::day(at),
            a.comment.as_ref().map(|c| format!(" ({})", vault::text::escape(c))).unwrap_or_default()
        )?;
    }
    if let Some(at) = &a.revoked_at {
        writeln!(out, "revoked:   {}", output::day(at))?;
    }
    writeln!(out, "scope, in full:")?;
    // As it was asked, with nothing able to hide part of it (CONF-4).
    for line in vault::text::escape_lines(&a.scope).lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Request { kind, client, scope, for_handle, datasets, until, server, maneuvers } => {
            let a = v.request_approval(
                &vault::NewApproval {
                    kind,
                    client,
                    scope,
                    for_handle: for_handle.as_deref(),
                    datasets,
                    until: until.as_deref(),
                    server: server.as_deref(),
                    maneuvers,
                },
                now,
            )?;
            println!("{}", a.id);
            eprintln!(
                "requested {} {} of client {}; a signer of the client decides it: gardien --as SIGNER approval decide {}",
                a.kind, a.id, a.client, a.id
            );
        }
        Cmd::List { client, json: as_json } => {
            let list = v.approvals(client.as_deref(), now)?;
            if *as_json {
                return output::json(&list.iter().map(json).collect::<Vec<_>>());
            }
            output::table(
                &["ID", "KIND", "CLIENT", "STATUS", "FOR", "UNTIL", "SCOPE"],
                list.iter().map(|a| {
                    let mut scope: String = a.scope.chars().take(50).collect();
                    if a.scope.chars().count() > 50 {
                        scope.push_str("...");
                    }
                    vec![
                        a.id.clone(),
                        a.kind.clone(),
                        a.client.clone(),
                        a.status.clone(),
                        a.for_handle.clone().unwrap_or_else(|| "-".into()),
                        a.until.as_deref().map_or_else(|| "-".into(), output::until),
                        scope.replace('\n', " "),
                    ]
                }),
            )?;
        }
        Cmd::Show { id, json: as_json } => {
            let a = v.approval(id, now)?;
            if *as_json {
                return output::json(&json(&a));
            }
            print(&a)?;
        }
        Cmd::Decide { id, approve, refuse: _, comment } => {
            let a = v.decide_approval(id, *approve, comment.as_deref(), now)?;
            print(&a)?;
            eprintln!("{} {}", a.status, a.id);
        }
        Cmd::Revoke { id } => {
            let a = v.revoke_approval(id, now)?;
            eprintln!("revoked {} ({} of client {})", a.id, a.kind, a.client);
        }
    }
    Ok(())
}

/// `gardien public-mentions`: the demonstrator's public page text (CONF-3).
pub fn mentions(cli: &Cli, args: &MentionsArgs) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let list = v.public_mentions(super::now())?;
    let mut t = String::new();
    t.push_str("# Mentions — réutilisation de contenus pédagogiques / Re-use of pedagogical material\n\n");
    t.push_str(
        "Les contenus pédagogiques de nos clients ne sont ni exportés ni réutilisés sans leur accord formel. \
Les accords en vigueur sont les suivants.\n\n",
    );
    t.push_str(
        "Our clients' pedagogical material is never exported or re-used without their formal agreement. \
The agreements in force are listed below.\n\n",
    );
    if list.is_empty() {
        t.push_str("Aucun accord en vigueur. / No agreement in force.\n");
    }
    for (a, name) in &list {
        let day = output::day(a.decided_at.as_deref().unwrap_or(&a.created));
        t.push_str(&format!("## {name}\n\n"));
        t.push_str(&format!("- Accord du / Agreed on: {day}\n"));
        if let Some(u) = &a.until {
            t.push_str(&format!("- Jusqu'au / Until: {} (inclus / included)\n", output::until(u)));
        }
        t.push_str(&format!("- Portée / Scope: {}\n", vault::text::escape(&a.scope.replace('\n', " "))));
        t.push_str(&format!("- Référence / Reference: {}\n\n", a.id));
    }
    match &args.output {
        Some(p) => {
            output::write_private(p, t.as_bytes())?;
            eprintln!("wrote {} ({} agreement(s))", vault::text::escape(&p.display().to_string()), list.len());
        }
        None => std::io::stdout().lock().write_all(t.as_bytes())?,
    }
    Ok(())
}
