//! `gardien person add|list|disable|password|reset-totp`: who acts, with which role, and
//! how they sign in to `gardien serve`.

use crate::{Cli, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Register a person. Staff roles: ops, technical-operator, sales. Client roles (with
    /// --client): client-admin, client-signer, client-tech, third-party.
    #[command(
        after_help = "Examples:\n  gardien person add jdupont --role technical-operator --name \"Jeanne Dupont\"\n  \
        gardien person add proviseur --role client-signer --client lycee-hugo"
    )]
    Add {
        /// A short handle (lowercase letters, digits, dashes).
        handle: String,
        /// The role.
        #[arg(long)]
        role: String,
        /// The client, for client roles.
        #[arg(long)]
        client: Option<String>,
        /// The person's name (kept in the catalog, never in the ledger).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the people.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a person: the door refuses them from now on; they stay on record.
    Disable {
        /// The handle.
        handle: String,
    },
    /// Set a person's password for `gardien serve` (argon2id; at least 12 characters, 6
    /// different ones, not the handle). Asked twice on a terminal, without echo; otherwise
    /// read from stdin (its first line). Every session of theirs ends.
    #[command(after_help = "Examples:\n  gardien person password proviseur\n  \
        pwgen -s 20 1 | tee /dev/stderr | gardien person password proviseur   # hand it over by another channel")]
    Password {
        /// The handle.
        handle: String,
    },
    /// Remove a person's second factor (a lost phone): they enrol again at their next
    /// sign-in; their sessions end.
    ResetTotp {
        /// The handle.
        handle: String,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::Add { handle, role, client, name } => {
            v.add_person(handle, role, client.as_deref(), name.as_deref(), now)?;
            eprintln!("added {handle} ({role}{})", client.as_ref().map(|c| format!(" of {c}")).unwrap_or_default());
        }
        Cmd::List { json } => {
            let people = v.persons(now)?;
            if *json {
                return output::json(
                    &people
                        .iter()
                        .map(|p| {
                            serde_json::json!({"handle": p.handle, "role": p.role, "client": p.client, "name": p.name, "disabled": p.disabled, "created": p.created})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["HANDLE", "ROLE", "CLIENT", "NAME", "DISABLED"],
                people.iter().map(|p| {
                    vec![
                        p.handle.clone(),
                        p.role.clone(),
                        p.client.clone().unwrap_or_else(|| "-".into()),
                        p.name.clone().unwrap_or_default(),
                        p.disabled.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Disable { handle } => {
            v.disable_person(handle, now)?;
            eprintln!("disabled {handle}");
        }
        Cmd::Password { handle } => {
            let password = read_password(handle)?;
            v.set_password(handle, &password, now)?;
            eprintln!("password set for {handle}; their sessions were ended");
        }
        Cmd::ResetTotp { handle } => {
            v.reset_totp(handle, now)?;
            eprintln!("second factor removed for {handle}; they enrol again at their next sign-in");
        }
    }
    Ok(())
}

/// A new password: asked twice without echo on a terminal, else the first line of stdin.
fn read_password(handle: &str) -> anyhow::Result<secrecy::SecretString> {
    use std::io::{BufRead as _, IsTerminal as _};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("new password for {handle}: "))?;
        let second = rpassword::prompt_password("again: ")?;
        if first != second {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        return Ok(first.into());
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.is_empty() {
        anyhow::bail!("no password on stdin: pipe one line, or run this on a terminal to be asked");
    }
    Ok(line.to_owned().into())
}
