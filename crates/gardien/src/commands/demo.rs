//! `gardien demo`: a guided walk on a throwaway data dir, through the real commands.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// A guided walk through gardien on a throwaway data dir.
#[derive(Debug, clap::Args)]
#[command(after_help = "Every step runs the real `gardien` command it prints, then `age` opens the\n\
export the way a client would. Needs Debian's `age` package for the last step.")]
pub struct Args {
    /// Where to put the throwaway data dir (default: a new temp dir, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of the generated sample, in MiB.
    #[arg(long, default_value_t = 8)]
    size_mib: u64,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let tmp;
    let base = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempdir()?;
            tmp.0.clone()
        }
    };
    let data = base.join("gardien-data");
    let exe = std::env::current_exe().context("finding the gardien binary")?;
    // A step whose output is read by the demo, not shown (the whole ledger as JSON).
    let quiet = std::cell::Cell::new(false);
    // Runs one real command; `refused` steps show a refusal and fail the demo if it succeeds.
    // Everything goes to stdout, in order (a log of the demo shows each command with its
    // result, refusals included), and each command is printed quoted, ready to paste.
    let run_with = |title: &str, args: &[&str], refused: bool, input: Option<&str>| -> anyhow::Result<String> {
        println!("\n== {title}");
        println!("$ gardien {}", shell_words(args));
        let mut child = Command::new(&exe)
            .args(args)
            .env("GARDIEN_DATA_DIR", &data)
            .env_remove("GARDIEN_MASTER_KEY")
            .env_remove("GARDIEN_AS")
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running gardien {}", args.join(" ")))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            use std::io::Write as _;
            stdin.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !quiet.get() {
            print!("{stdout}");
        }
        print!("{}", String::from_utf8_lossy(&out.stderr));
        if out.status.success() == refused {
            bail!("step '{title}' {} ({})", if refused { "was not refused" } else { "failed" }, out.status);
        }
        Ok(stdout)
    };
    let run = |title: &str, args: &[&str], refused: bool| run_with(title, args, refused, None);
    let step = |title: &str, args: &[&str]| run(title, args, false);
    let refused = |title: &str, args: &[&str]| run(title, args, true).map(|_| ());

    println!("gardien demo, data dir {}", data.display());
    step(
        "1. initialise a data dir (catalog, master key, signing key, local store on fr-roubaix)",
        &["init", "--operator", "demo.gardien.example"],
    )?;
    refused(
        "2. LOC-1: a store outside France is refused",
        &["store", "add", "virginia", "--site", "us-east-1", "--path", "/tmp/nowhere"],
    )?;
    step("3. register a client", &["client", "add", "lycee-hugo", "--name", "Lycée Victor Hugo"])?;
    let presales_end = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d").to_string();
    step(
        "3b. sales opens a pre-sales case, for 30 days (PRE-6)",
        &["contract", "add", "hugo-trial", "--client", "lycee-hugo", "--presales-until", &presales_end],
    )?;
    step(
        "3c. the technical operator in charge of the trial",
        &["person", "add", "jdupont", "--role", "technical-operator", "--name", "Jeanne Dupont"],
    )?;
    step(
        "3d. the client's signer, who decides what needs the client",
        &["person", "add", "proviseur", "--role", "client-signer", "--client", "lycee-hugo"],
    )?;
    step(
        "3e. the client's admin account (its Moodle administrator)",
        &["person", "add", "admin-hugo", "--role", "client-admin", "--client", "lycee-hugo"],
    )?;
    step(
        "3f. a researcher from outside: a third party",
        &["person", "add", "chercheur", "--role", "third-party", "--client", "lycee-hugo"],
    )?;
    step(
        "3g. the technical operator's laptop: a local test environment (PRE-5)",
        &["environment", "add", "laptop-qa-3", "--kind", "local-test", "--holder", "jdupont"],
    )?;
    let sample = base.join("sample.csv");
    write_sample(&sample, args.size_mib << 20)?;
    let sample_s = sample.to_string_lossy().into_owned();
    let id = step(
        &format!("4. take a {} MiB generated sample into custody, addressed to jdupont alone (PRE-3)", args.size_mib),
        &[
            "dataset",
            "ingest",
            &sample_s,
            "--client",
            "lycee-hugo",
            "--class",
            "presales-sample",
            "--contract",
            "hugo-trial",
            "--label",
            "demo sample",
            "--to",
            "jdupont",
            "--provider",
            "Lycée Victor Hugo",
        ],
    )?;
    let id = id.trim().to_owned();
    step("5. list the client's datasets", &["dataset", "list", "--client", "lycee-hugo"])?;
    step("6. verify every copy (decrypt, authenticate, hash)", &["dataset", "verify", &id])?;
    refused("6b. CONF-2: the third party tries to read the sample", &["--as", "chercheur", "dataset", "get", &id])?;
    refused(
        "6c. anyone can ask the policy why, and which clauses decide",
        &["--as", "chercheur", "policy", "explain", "--action", "dataset:get", "--resource", &format!("dataset:{id}")],
    )?;
    let approval = step(
        "6d. the researcher's observation of practices is asked of the client, with its full scope (CONF-4)",
        &[
            "approval",
            "request",
            "observation",
            "--client",
            "lycee-hugo",
            "--for",
            "chercheur",
            "--dataset",
            &id,
            "--scope",
            "observe how teachers use the forums of the MATH courses in 2026, from the course metadata only; no message bodies, no names",
            "--until",
            &presales_end,
        ],
    )?;
    let approval = approval.trim().to_owned();
    refused(
        "6e. the signer cannot decide before reading the scope in full (CONF-4)",
        &["--as", "proviseur", "approval", "decide", &approval, "--approve"],
    )?;
    step("6f. the signer reads it", &["--as", "proviseur", "approval", "show", &approval])?;
    step(
        "6g. and approves it",
        &["--as", "proviseur", "approval", "decide", &approval, "--approve", "--comment", "metadata only"],
    )?;
    step(
        "6h. the researcher now sees the dataset's record, under CONF-4 (the sample's content stays the technical operator's, PRE-3)",
        &["--as", "chercheur", "dataset", "show", &id],
    )?;
    step(
        "6i. the request, the reading and the decision are in the ledger",
        &["ledger", "list", "--client", "lycee-hugo"],
    )?;

    println!("\n== 7. the client makes its own age key (age-keygen)");
    let key = base.join("client.key");
    let recipient = age_keygen(&key)?;
    println!("$ age-keygen -o client.key\nPublic key: {recipient}");
    step(
        "7b. the client's admin registers it: the client's data is handed back only to its registered keys (OPS-2)",
        &["--as", "admin-hugo", "client", "key", "add", "lycee-hugo", &recipient, "--label", "DSI du lycée"],
    )?;
    let export = base.join("export.age");
    let export_s = export.to_string_lossy().into_owned();
    step(
        "8. the client's admin takes the sample back, for its own key (OPS-2; nobody else may export a sample, PRE-3)",
        &["--as", "admin-hugo", "dataset", "export", &id, "--recipient", &recipient, "-o", &export_s],
    )?;
    let other = age_keygen(&base.join("someone-else.key"))?;
    let elsewhere = base.join("elsewhere.age").to_string_lossy().into_owned();
    refused(
        "8b. an export to any other key is refused: it would be a copy, not a hand-back (OPS-2)",
        &["--as", "admin-hugo", "dataset", "export", &id, "--recipient", &other, "-o", &elsewhere],
    )?;

    println!("\n== 9. the client opens it with age alone");
    let opened = base.join("opened.csv");
    println!("$ age -d -i client.key -o opened.csv export.age");
    let st = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(&opened)
        .arg(&export)
        .status()
        .context("running age")?;
    if !st.success() {
        bail!("age could not open the export ({st})");
    }
    let same = std::fs::read(&opened)? == std::fs::read(&sample)?;
    println!("opened.csv is {} the original sample", if same { "byte for byte" } else { "NOT" });
    if !same {
        bail!("the opened export differs from the sample");
    }
    quiet.set(true);
    let events = step(
        "10. every step above is an event in the tamper-evident ledger (the JSON is read, not shown)",
        &["ledger", "list", "--json"],
    );
    quiet.set(false);
    let events: serde_json::Value = serde_json::from_str(&events?)?;
    let all = events.as_array().context("the ledger's list is not a JSON array")?;
    let index = all
        .iter()
        .find(|e| e["action"] == "dataset:ingest")
        .and_then(|e| e["index"].as_u64())
        .context("the ingest's event is not in the ledger")?
        .to_string();
    let denied = all.iter().filter(|e| e["outcome"] == "denied").count();
    println!("{} events so far, {denied} of them refusals; the sample's ingest is entry {index}", all.len());
    let cp = base.join("checkpoint");
    let note = step("11. a signed checkpoint (C2SP tlog-checkpoint) the client can keep", &["ledger", "checkpoint"])?;
    std::fs::write(&cp, &note)?;
    let (cp_s, entry, proof_path) =
        (cp.to_string_lossy().into_owned(), base.join("ingest.entry"), base.join("ingest.tlog-proof"));
    let (entry_s, proof_s) = (entry.to_string_lossy().into_owned(), proof_path.to_string_lossy().into_owned());
    step(
        &format!("12. the raw bytes of the ingest's event, entry {index}"),
        &["ledger", "entry", &index, "-o", &entry_s],
    )?;
    let proof = step(
        "13. an inclusion proof for it (c2sp.org/tlog-proof@v1)",
        &["ledger", "proof", &index, "--checkpoint", &cp_s],
    )?;
    std::fs::write(&proof_path, proof)?;
    let key = step("14. the log's verifier key", &["ledger", "key"])?;
    step(
        "15. anyone checks the proof offline, with the key alone",
        &["ledger", "verify-proof", "--key", key.trim(), "--proof", &proof_s, "--entry", &entry_s],
    )?;
    step("16. the whole log, recomputed and checked against every signed checkpoint", &["ledger", "verify"])?;
    step(
        "17. later: a consistency proof from the kept checkpoint (a tlog-witness body)",
        &["ledger", "consistency", "--from", &cp_s],
    )?;
    let installed = base.join("installed-on-laptop.csv");
    let installed_s = installed.to_string_lossy().into_owned();
    step(
        "18. the technical operator installs the sample on their local test machine (PRE-3, PRE-5)",
        &["--as", "jdupont", "copy", "out", &id, "--env", "laptop-qa-3", "-o", &installed_s],
    )?;
    step("19. the case is lost: the pre-sales period ends now (PRE-6)", &["contract", "deal", "hugo-trial", "--lost"])?;
    step("20. what is due, with its rule and clause (nothing changes)", &["sweep", "--dry-run"])?;
    refused("21. the sweeper shreds the key and deletes every blob, but the laptop's copy blocks the end", &["sweep"])?;
    let copies: serde_json::Value =
        serde_json::from_str(&step("22. the copies outside the vault", &["copy", "list", &id, "--json"])?)?;
    let copy = copies
        .as_array()
        .and_then(|a| a.iter().find(|c| c["kind"] == "environment"))
        .and_then(|c| c["copy"].as_str())
        .context("the laptop's copy is not listed")?
        .to_owned();
    std::fs::remove_file(&installed)?;
    step(
        "23. its holder destroys it and attests",
        &["--as", "jdupont", "copy", "attest", &id, &copy, "--method", "rm, then DROP DATABASE on the test Moodle"],
    )?;
    step("24. the next sweep completes the destruction and issues the certificate", &["sweep"])?;
    refused("25. the sample can no longer be read", &["dataset", "get", &id])?;
    step("26. its record stays, with the rule and the ledger entry of its destruction", &["dataset", "show", &id])?;
    step("27. the certificate, for the client (French and English)", &["certificate", "show", &id])?;
    let cert = base.join("certificate.txt");
    let cert_s = cert.to_string_lossy().into_owned();
    step("28. exported, signed", &["certificate", "export", &id, "-o", &cert_s])?;
    step(
        "29. the client verifies it offline, with the operator's public key alone",
        &["--data-dir", "/nonexistent", "certificate", "verify", &cert_s, "--key", key.trim()],
    )?;
    step("30. and the ledger still verifies from its first entry", &["ledger", "verify"])?;
    // The client's own door: a password for its admin, then the command that serves this
    // data dir (run by `scripts/demo --serve`).
    let password = demo_password()?;
    run_with(
        "31. a password for the client's admin, to sign in to the portal (read from stdin)",
        &["person", "password", "admin-hugo"],
        false,
        Some(&format!("{password}\n")),
    )?;
    println!(
        "\ndemo done{}",
        if args.dir.is_some() { format!("; the data dir stays at {}", data.display()) } else { String::new() }
    );
    println!("\nThe client's own door, on this data dir (scripts/demo --serve runs it):");
    println!("  gardien --data-dir {} serve --listen 127.0.0.1:8080", shell_words(&[&data.to_string_lossy()]));
    println!("then open http://127.0.0.1:8080/ and sign in as admin-hugo, password {password}");
    if args.dir.is_none() {
        println!("(this run's data dir is removed now: give --dir DIR to keep it)");
    }
    Ok(())
}

/// The command line as a shell reads it back: words with spaces, quotes or other special
/// characters in single quotes, so that a printed command can be pasted as it is.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '=' | '+' | '@'));
            if plain { (*a).to_owned() } else { format!("'{}'", a.replace('\'', r"'\''")) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `age-keygen -o path`; the public key.
fn age_keygen(path: &Path) -> anyhow::Result<String> {
    let kg = Command::new("age-keygen").arg("-o").arg(path).stderr(Stdio::piped()).output();
    let kg = match kg {
        Ok(o) if o.status.success() => o,
        _ => bail!("the demo's last steps need Debian's `age` package (age, age-keygen): apt-get install age"),
    };
    Ok(String::from_utf8_lossy(&kg.stderr).trim().trim_start_matches("Public key: ").to_owned())
}

/// A fake Moodle user export: no real person in it.
fn write_sample(path: &Path, size: u64) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut n = 0u64;
    let mut i = 0u64;
    writeln!(w, "id,username,firstname,lastname,email,course")?;
    while n < size {
        let line = format!("{i},eleve{i},Prénom{},Nom{},eleve{i}@lycee.example,MATH-{}\n", i % 97, i % 89, i % 13);
        n += line.len() as u64;
        w.write_all(line.as_bytes())?;
        i += 1;
    }
    w.flush()?;
    Ok(())
}

/// A temp dir removed on drop (the demo's data is throwaway).
struct TempDir(PathBuf);

fn tempdir() -> anyhow::Result<TempDir> {
    let p = std::env::temp_dir().join(format!("gardien-demo-{}", std::process::id()));
    std::fs::create_dir_all(&p)?;
    Ok(TempDir(p))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh password for the demo's client admin: 16 random bytes from the system, as hex
/// in groups of four (printed once, for this throwaway data dir only).
fn demo_password() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut b = [0u8; 12];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-"))
}
