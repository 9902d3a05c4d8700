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
        /// Where they are told of what awaits them (an approval to decide, a drop received,
        /// a destruction coming).
        #[arg(long)]
        email: Option<String>,
        /// The language they are told in: fr (default) or en.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Set how a person is told of what awaits them: their e-mail address and language
    /// (ops for anyone, a person for themself with --as).
    #[command(
        visible_alias = "set",
        after_help = "Examples:\n  gardien person contact proviseur --email proviseur@lycee-hugo.fr --lang fr\n  \
        gardien --as jdupont person contact jdupont --no-email"
    )]
    Contact {
        /// The handle.
        handle: String,
        /// The address.
        #[arg(long, conflicts_with = "no_email")]
        email: Option<String>,
        /// Remove the address: nothing is sent to them.
        #[arg(long)]
        no_email: bool,
        /// fr or en.
        #[arg(long)]
        lang: Option<String>,
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
        Cmd::Add { handle, role, client, name, email, lang } => {
            let contact = vault::Contact { email: email.clone().map(Some), lang: lang.clone() };
            v.add_person_with(handle, role, client.as_deref(), name.as_deref(), &contact, now)?;
            eprintln!("added {handle} ({role}{})", client.as_ref().map(|c| format!(" of {c}")).unwrap_or_default());
        }
        Cmd::List { json } => {
            let people = v.persons(now)?;
            if *json {
                return output::json(
                    &people
                        .iter()
                        .map(|p| {
                            serde_json::json!({"handle": p.handle, "role": p.role, "client": p.client, "name": p.name, "disabled": p.disabled, "created": p.created, "email": p.email, "lang": p.lang})
                        })
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["HANDLE", "ROLE", "CLIENT", "NAME", "EMAIL", "LANG", "DISABLED"],
                people.iter().map(|p| {
                    vec![
                        p.handle.clone(),
                        p.role.clone(),
                        p.client.clone().unwrap_or_else(|| "-".into()),
                        p.name.clone().unwrap_or_default(),
                        p.email.clone().unwrap_or_else(|| "-".into()),
                        p.lang.clone(),
                        p.disabled.clone().unwrap_or_else(|| "-".into()),
                    ]
                }),
            )?;
        }
        Cmd::Contact { handle, email, no_email, lang } => {
            let email = if *no_email { Some(None) } else { email.clone().map(Some) };
            let p = v.set_contact(handle, &vault::Contact { email, lang: lang.clone() }, now)?;
            eprintln!(
                "{handle} is told in {} at {}",
                p.lang,
                p.email.as_deref().map_or_else(|| "no address (nothing is sent)".to_owned(), vault::text::escape)
            );
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
