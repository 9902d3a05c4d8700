//! `gardien certificate list|show|export|verify`: signed destruction certificates.

use std::path::PathBuf;

use crate::{Cli, exit, output};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// List the certificates issued.
    List {
        /// Only this client's (client people must give theirs).
        #[arg(long)]
        client: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a certificate (by its id or its dataset's id), checked, rendered for the client
    /// in French and English (Markdown).
    Show {
        /// The certificate or dataset id.
        id: String,
        /// Print its fields as JSON instead.
        #[arg(long)]
        json: bool,
        /// fr, en, or both.
        #[arg(long, default_value = "both", value_parser = ["fr", "en", "both"])]
        lang: String,
    },
    /// Write the signed certificate to a file, for the client.
    Export {
        /// The certificate or dataset id.
        id: String,
        /// The file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Check a certificate file: its signature, its checkpoint, and its destruction event's
    /// inclusion in the ledger. With --key it works offline, with no data dir.
    #[command(
        after_help = "Example, for the client:\n  gardien certificate verify cert.txt --key \"hebergeur.example/gardien+1a2b3c4d+AQ...\"\n\nExit code 3 if it does not verify."
    )]
    Verify {
        /// The certificate file.
        path: PathBuf,
        /// The operator's verifier key (`gardien ledger key`).
        #[arg(long)]
        key: Option<String>,
    },
}

pub fn run(cli: &Cli, cmd: &Cmd) -> anyhow::Result<()> {
    if let Cmd::Verify { path, key: Some(key) } = cmd {
        let note = crate::output::read_small_text(path)?;
        let key = ledger::note::Verifier::parse(key)?;
        let info = vault::verify_certificate(&note, &key).map_err(|e| super::Exit(exit::INTEGRITY, e.to_string()))?;
        return print_ok(&info);
    }
    let v = super::open(cli)?;
    let now = super::now();
    match cmd {
        Cmd::List { client, json } => {
            let certs = v.certificates(client.as_deref(), now)?;
            if *json {
                return output::json(
                    &certs
                        .iter()
                        .map(|c| serde_json::json!({"id": c.id, "dataset": c.dataset, "issued": c.issued}))
                        .collect::<Vec<_>>(),
                );
            }
            output::table(
                &["CERTIFICATE", "DATASET", "ISSUED"],
                certs.iter().map(|c| vec![c.id.clone(), c.dataset.clone(), c.issued.clone()]),
            )?;
        }
        Cmd::Show { id, json, lang } => {
            let (_, info) = v.certificate(id, now)?;
            if *json {
                let mut m = serde_json::Map::new();
                for (k, val) in &info.fields {
                    match m.get_mut(k) {
                        Some(serde_json::Value::Array(a)) => a.push(val.clone().into()),
                        Some(prev) => *prev = serde_json::Value::Array(vec![prev.clone(), val.clone().into()]),
                        None => {
                            m.insert(k.clone(), val.clone().into());
                        }
                    }
                }
                return output::json(&m);
            }
            if lang != "en" {
                print!("{}", render(&info, Lang::Fr));
            }
            if lang == "both" {
                println!();
            }
            if lang != "fr" {
                print!("{}", render(&info, Lang::En));
            }
        }
        Cmd::Export { id, output: path } => {
            let (c, _) = v.certificate(id, now)?;
            crate::output::write_private(path, c.note.as_bytes())?;
            eprintln!(
                "wrote certificate {} to {}; check it with: gardien certificate verify {} --key \"$(gardien ledger key)\"",
                c.id,
                path.display(),
                path.display()
            );
        }
        Cmd::Verify { path, key: None } => {
            let note = crate::output::read_small_text(path)?;
            let info = v.verify_certificate(&note, now).map_err(|e| match e {
                vault::Error::BadCertificate(why) => {
                    anyhow::Error::from(super::Exit(exit::INTEGRITY, format!("the certificate does not verify: {why}")))
                }
                other => other.into(),
            })?;
            print_ok(&info)?;
        }
        Cmd::Verify { key: Some(_), .. } => unreachable!("handled above"),
    }
    Ok(())
}

fn print_ok(info: &vault::CertificateInfo) -> anyhow::Result<()> {
    println!(
        "ok: certificate {} for dataset {} ({}), destruction recorded at ledger entry {} of a signed log of {} entries",
        info.get("id").unwrap_or("?"),
        info.get("dataset").unwrap_or("?"),
        info.get("clause").unwrap_or("?"),
        info.ledger_index,
        info.tree_size
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Lang {
    Fr,
    En,
}

/// The certificate for a person: Markdown, in French or English.
fn render(info: &vault::CertificateInfo, lang: Lang) -> String {
    let french = matches!(lang, Lang::Fr);
    let (title, intro) = vault::CertificateInfo::heading(french);
    let mut s = format!("# {title}\n\n{intro}\n\n");
    for (label, value) in info.rows(french) {
        match value.split_once('\n') {
            None => s.push_str(&format!("- **{label}**: {value}\n")),
            Some(_) => {
                s.push_str(&format!("- **{label}**:\n"));
                for line in value.lines() {
                    s.push_str(&format!("  - {line}\n"));
                }
            }
        }
    }
    s
}
