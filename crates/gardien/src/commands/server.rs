//! `gardien server add|list|show` and `gardien server app add`: the inventory the server
//! clauses are decided on (issue 13): where each server is (LOC-1), whose it is (ACC-1:
//! a shared server is no client's; ACC-2: a dedicated one is one client's; ACC-4: a
//! managed one is the client's own infrastructure), and the web applications it hosts
//! (WEB-2: only Moodle on a shared server).

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a server to the inventory.
    #[command(
        after_help = "Examples:\n  gardien server add mut-rbx-1 --site fr-roubaix --kind shared --address mut-rbx-1.hebergeur.example\n  \
        gardien server add hugo-1 --site fr-strasbourg --kind dedicated --client lycee-hugo --address 192.0.2.10:2222\n\n\
        A shared server hosts many clients' Moodle sites and gives none of them access (ACC-1); a dedicated\n\
        server is one client's, where its technical staff may be let in for an agreed catalog of maneuvers\n\
        (ACC-2); a managed server is the client's own infrastructure the operator runs (ACC-4)."
    )]
    Add {
        /// Its name (lowercase letters, digits, inner dashes).
        name: String,
        /// Where it is: one of the sites the configuration allows (LOC-1: fr-roubaix, fr-strasbourg).
        #[arg(long)]
        site: String,
        /// shared, dedicated or managed.
        #[arg(long)]
        kind: String,
        /// The client a dedicated or managed server belongs to (never for a shared one).
        #[arg(long)]
        client: Option<String>,
        /// Its SSH service: HOST[:PORT] (a domain name, an IPv4 address or [IPv6]; port 22 when none).
        #[arg(long)]
        address: String,
    },
    /// The servers, or a client's (its dedicated and managed servers).
    List {
        /// Only this client's.
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A server and the web applications it hosts.
    Show {
        /// The server's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The web applications a server hosts.
    #[command(subcommand)]
    App(AppCmd),
    /// Write a dedicated or managed server's sshd configuration for the maneuvers' account
    /// (certificates of its client's CA only, from the bastion only) and the CA it trusts.
    #[command(
        after_help = "Example:\n  gardien server sshd-config hugo-1 --dir /tmp/hugo-1-ssh --listen 0.0.0.0:22\n  \
        (copy both files to the server's /etc/ssh/gardien, then: sshd -t -f /etc/ssh/gardien/sshd_config)\n\n\
        A shared server is refused: nobody of a client's is let in there, ever (ACC-1)."
    )]
    SshdConfig {
        /// The server's name.
        name: String,
        /// The directory to write sshd_config and user-cas.pub into.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// ADDRESS:PORT sshd listens on.
        #[arg(long, default_value = "0.0.0.0:22")]
        listen: String,
        /// The server's host key.
        #[arg(long, default_value = "/etc/ssh/ssh_host_ed25519_key")]
        host_key: String,
        /// Where the CA file will be on the server (default: --dir's user-cas.pub).
        #[arg(long)]
        user_cas: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AppCmd {
    /// Record a web application a server hosts, by its domain. Another application than
    /// Moodle is refused on a shared server (WEB-2).
    #[command(after_help = "Example:\n  gardien server app add mut-rbx-1 --kind moodle --domain moodle.lycee-hugo.fr")]
    Add {
        /// The server's name.
        server: String,
        /// moodle or other.
        #[arg(long)]
        kind: String,
        /// Its domain name (the one its HTTPS certificate is for).
        #[arg(long)]
        domain: String,
    },
}

fn server_json(s: &vault::ServerRow) -> serde_json::Value {
    serde_json::json!({
        "name": s.name, "site": s.site, "kind": s.kind, "client": s.client,
        "address": s.address, "created": s.created,
    })
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { name, site, kind, client, address } => {
            let s = v.server_add(&vault::NewServer { name, site, kind, client: client.as_deref(), address }, now)?;
            eprintln!(
                "server {} added: {} on {}{}, SSH at {}",
                s.name,
                s.kind,
                s.site,
                s.client.as_deref().map(|c| format!(" for {c}")).unwrap_or_default(),
                s.address
            );
            Ok(())
        }
        Cmd::List { client, json } => {
            let servers = v.servers(client.as_deref(), now)?;
            if *json {
                return output::json(&servers.iter().map(server_json).collect::<Vec<_>>());
            }
            output::table(
                &["SERVER", "SITE", "KIND", "CLIENT", "ADDRESS"],
                servers.iter().map(|s| {
                    vec![
                        s.name.clone(),
                        s.site.clone(),
                        s.kind.clone(),
                        s.client.clone().unwrap_or_else(|| "-".into()),
                        s.address.clone(),
                    ]
                }),
            )
        }
        Cmd::Show { name, json } => {
            let view = v.server(name, now)?;
            let s = &view.server;
            if *json {
                let mut j = server_json(s);
                j["apps"] = view
                    .apps
                    .iter()
                    .map(|a| serde_json::json!({"domain": a.domain, "kind": a.kind, "created": a.created}))
                    .collect::<Vec<_>>()
                    .into();
                return output::json(&j);
            }
            println!("server   {}", s.name);
            println!("site     {}", s.site);
            println!("kind     {}", s.kind);
            println!("client   {}", s.client.as_deref().unwrap_or("- (shared: no client's, ACC-1)"));
            println!("address  {}", s.address);
            println!("added    {}", output::day(&s.created));
            if view.apps.is_empty() {
                println!("apps     none recorded");
            }
            for a in &view.apps {
                println!("app      {} ({})", a.domain, a.kind);
            }
            Ok(())
        }
        Cmd::SshdConfig { name, dir, listen, host_key, user_cas } => {
            let cas = match user_cas {
                Some(c) => c.clone(),
                None => std::path::absolute(dir.join("user-cas.pub"))?.to_string_lossy().into_owned(),
            };
            let files = v.server_sshd_config(name, listen, host_key, &cas, now)?;
            super::access::write_files(dir, &files)
        }
        Cmd::App(AppCmd::Add { server, kind, domain }) => {
            let a = v.server_app_add(server, kind, domain, now)?;
            eprintln!("{} ({}) recorded on {}", a.domain, a.kind, a.server);
            Ok(())
        }
    }
}
