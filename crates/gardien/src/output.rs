//! Terminal output: tables, JSON, progress bars. Only the CLI knows the terminal.

use std::io::{IsTerminal as _, Write as _};

use indicatif::{ProgressBar, ProgressStyle};

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints rows under a header, columns aligned.
/// Every cell is shown with its control characters escaped: a `\r` or an escape sequence in
/// a label cannot forge a row or hide a column.
pub fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = rows.map(|r| r.iter().map(|c| vault::text::escape(c)).collect()).collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let line = |cells: Vec<String>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == n { c } else { format!("{c:<w$}", w = width[i]) })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", line(header.iter().map(|h| h.to_string()).collect()))?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

/// The JSON shape of a store.
pub fn store_json(s: &vault::StoreInfo) -> serde_json::Value {
    let mut v = serde_json::json!({"name": s.name, "site": s.site, "kind": s.kind_name(), "location": s.location(), "created": s.created});
    if let vault::StoreKind::S3(b) = &s.kind {
        v["endpoint"] = b.endpoint.clone().into();
        v["region"] = b.region.clone().into();
        v["credentials"] = b.credentials.as_ref().map_or("environment".to_owned(), |p| p.display().to_string()).into();
        v["ca"] = b.ca.as_ref().map(|p| p.display().to_string()).into();
    }
    v
}

/// The JSON shape of a dataset (the published one: see the README).
pub fn dataset_json(d: &vault::Dataset) -> serde_json::Value {
    serde_json::json!({
        "id": d.id,
        "client": d.client,
        "class": d.class.as_str(),
        "label": d.label,
        "size": d.size,
        "sha256": d.sha256,
        "created": d.created,
        "state": d.state,
        "contract": d.contract,
        "addressed_to": d.addressed_to,
        "provider": d.provider,
        "destroyed": d.destruction.as_ref().map(|x| serde_json::json!({"at": x.at, "rule": x.rule, "clause": x.clause, "event": x.event})),
        "copies": d.copies.iter().map(|c| serde_json::json!({"store": c.store, "site": c.site})).collect::<Vec<_>>(),
        "holds": d.holds.iter().map(|h| serde_json::json!({"held": h.held, "released": h.released, "reason": h.reason})).collect::<Vec<_>>(),
    })
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
pub fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    pb.set_message(what.to_owned());
    pb
}

/// A progress bar as the vault's `Progress`.
pub struct Bar<'a>(pub &'a ProgressBar);

impl vault::Progress for Bar<'_> {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn set_done(&self, done: u64) {
        self.0.set_position(done);
    }
}

/// Human size: 1.5 MiB.
pub fn size(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// An instant as people read it (one format everywhere in text output): `2027-06-30`
/// at midnight, else `2027-06-30 18:00 UTC`. JSON keeps RFC 3339.
pub fn day(rfc3339: &str) -> String {
    lifecycle::parse_instant(rfc3339).map_or_else(|_| rfc3339.to_owned(), lifecycle::show_instant)
}

/// The end of a period given "until D", as the last day it includes (`--until 2027-06-30`
/// is shown `2027-06-30`).
pub fn until(rfc3339: &str) -> String {
    lifecycle::parse_instant(rfc3339).map_or_else(|_| rfc3339.to_owned(), lifecycle::show_until)
}

/// Writes a file only its owner reads (0600, whatever the umask): a certificate or a ledger
/// entry names a client and its datasets.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// Replaces the files `dir/name` (text, mode whatever the umask) together: each is written
/// and synced beside its place first, then each renamed into place; if one rename fails,
/// those already renamed are put back as they were. Nothing half-written is left, nor a
/// copy (a key's) beside them. Says what it wrote.
pub fn replace_files(dir: &std::path::Path, files: &[(&str, &str, u32)]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    // Names of this process's own: two writers at once do not remove each other's.
    let pid = std::process::id();
    let tmp = |name: &str| dir.join(format!(".{name}.{pid}.gardien-tmp"));
    let old = |name: &str| dir.join(format!(".{name}.{pid}.gardien-old"));
    let cleanup = || {
        for (name, _, _) in files {
            let _ = std::fs::remove_file(tmp(name));
            let _ = std::fs::remove_file(old(name));
        }
    };
    let stage = || -> anyhow::Result<()> {
        for (name, text, mode) in files {
            let t = tmp(name);
            let _ = std::fs::remove_file(&t);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(*mode)
                .open(&t)
                .with_context(|| format!("cannot write {}", shown(&t)))?;
            f.set_permissions(std::fs::Permissions::from_mode(*mode))?;
            f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", shown(&t)))?;
            f.sync_all()?;
        }
        Ok(())
    };
    if let Err(e) = stage() {
        cleanup();
        return Err(e);
    }
    let mut done: Vec<(&str, bool)> = Vec::new();
    for (name, _, _) in files {
        let path = dir.join(name);
        // What was there, kept (a second name for the same file) until all are in place.
        let had = std::fs::hard_link(&path, old(name)).is_ok();
        if let Err(e) = std::fs::rename(tmp(name), &path) {
            for (n, had) in done.iter().rev() {
                if *had {
                    let _ = std::fs::rename(old(n), dir.join(n));
                } else {
                    let _ = std::fs::remove_file(dir.join(n));
                }
            }
            cleanup();
            return Err(anyhow::anyhow!("cannot write {}: {e}; the files there are as they were", shown(&path)));
        }
        done.push((name, had));
    }
    cleanup();
    for (name, _, _) in files {
        eprintln!("wrote {}", shown(&dir.join(name)));
    }
    Ok(())
}

/// Reads a small input file (a certificate, a checkpoint, a proof, an entry): a regular
/// file of at most 16 MiB, so that a FIFO or a device given by mistake fails at once
/// instead of hanging or filling memory.
pub fn read_small(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    const MAX: u64 = 16 << 20;
    let m = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    if !m.is_file() {
        anyhow::bail!("reading {}: not a regular file", path.display());
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX + 1).read_to_end(&mut buf))
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    if buf.len() as u64 > MAX {
        anyhow::bail!("reading {}: larger than 16 MiB, which no certificate, checkpoint or proof is", path.display());
    }
    Ok(buf)
}

/// `read_small`, as UTF-8 text.
pub fn read_small_text(path: &std::path::Path) -> anyhow::Result<String> {
    String::from_utf8(read_small(path)?).map_err(|_| anyhow::anyhow!("reading {}: not UTF-8 text", path.display()))
}

/// A path as a terminal may show it: control characters escaped.
pub fn shown(p: &std::path::Path) -> String {
    vault::text::escape(&p.to_string_lossy())
}
