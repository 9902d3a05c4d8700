//! The secure drop (issue 11): a client sends one file, encrypted before it leaves the
//! sender, to one named technical operator (PRE-1, PRE-2, PRE-3).
//!
//! The staff opens a drop (`drop_create`): a fresh dataset key is made and kept wrapped to
//! the master key like every other; the sender gets a link (a 256-bit token) and a
//! password (argon2id), and encrypts to the key's public half. The password opens a
//! session whose upload token the tus endpoint takes (`drop_open`). Each upload's bytes
//! are ciphertext only, kept under the data dir's `drops/` with their durable offset
//! (`Uploads`), and checked as they arrive (`agefile::Check`): the header opens with the
//! drop's key, every chunk authenticates. When the last byte is in, the file becomes the
//! dataset's blob as is (`drop_receive`): linked into each store, made visible with its
//! event in one transaction. Every sender step is an event of the one door whose actor
//! is the drop (`door_sender`).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::agefile::{self, Check};
use crate::auth::{Issued, digest, hash_password, random_secret, verify_nothing, verify_password};
use crate::catalog::{DropRow, UploadRow};
use crate::event::{Action, Outcome};
use crate::{DATASETS_PREFIX, Dataset, DatasetClass, Error, Vault, keys, rfc3339, text};

/// Wrong passwords in a row that revoke a drop (PRE-2).
pub const REVOKE_AFTER: i64 = 5;
/// The longest a drop stays open.
pub const MAX_DAYS: i64 = 90;
/// The default and the largest size a drop takes.
pub const DEFAULT_MAX_SIZE: u64 = 50 << 30;
/// The largest `--max-size`.
pub const MAX_MAX_SIZE: u64 = 1 << 40;
/// Uploads under way in one drop at most (tus-js-client's parallel parts, a retry).
pub const MAX_LIVE_UPLOADS: usize = 8;
/// Space kept free on the disk that holds the uploads.
const RESERVE: u64 = 256 << 20;

/// What `drop create` asks for.
pub struct DropRequest<'a> {
    /// The client whose data it receives.
    pub client: &'a str,
    /// The technical operator it is addressed to (PRE-3).
    pub to: &'a str,
    /// The case the data belongs to.
    pub contract: &'a str,
    /// `presales-sample` or `loading-data`.
    pub class: DatasetClass,
    /// Until when it takes a file.
    pub expires: DateTime<Utc>,
    /// The most bytes it takes.
    pub max_size: u64,
    /// A free label (catalog only).
    pub label: Option<&'a str>,
}

/// A drop just opened: its link's token and its password, shown once.
pub struct NewDrop {
    /// The drop.
    pub drop: DropRow,
    /// The link's token (`/d/TOKEN`).
    pub token: SecretString,
    /// The password, for another channel than the link (PRE-2).
    pub password: SecretString,
}

/// A drop's upload, as HEAD answers it.
#[derive(Debug, Clone)]
pub struct UploadState {
    /// The catalog's row.
    pub row: UploadRow,
    /// Bytes durably received.
    pub offset: u64,
}

/// What `expire_drops` did.
#[derive(Debug, Default)]
pub struct ExpiryReport {
    /// Drops that expired now.
    pub drops: Vec<String>,
    /// Uploads deleted (expired, or of a drop that ended).
    pub uploads: Vec<String>,
}

/// A size as people write it: `50GiB`, `500MiB`, `2TB`, `1048576` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 =
        n.parse().map_err(|_| format!("'{s}' is not a size: write 50GiB, 500MiB, 2TB or a number of bytes"))?;
    let mul: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("unknown unit '{other}' in '{s}': use B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)")),
    };
    n.checked_mul(mul).ok_or_else(|| format!("'{s}' is too large"))
}

/// A drop's end as people write it: `7d`, `48h`, `30m`, or a date (through that day).
pub fn parse_expires(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    if let Ok(n) = n.parse::<i64>()
        && (1..=MAX_DAYS * 24 * 60).contains(&n)
    {
        return match unit {
            "d" => Ok(now + Duration::days(n)),
            "h" => Ok(now + Duration::hours(n)),
            "m" => Ok(now + Duration::minutes(n)),
            _ => Err(format!("unknown unit in '{s}': use d, h or m (7d, 48h, 30m), or a date")),
        };
    }
    lifecycle::parse_until(s).map_err(|e| format!("{e} (or a duration such as 7d)"))
}

pub(crate) fn new_id(prefix: &str, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

/// A password people can read out or type: 20 letters and digits without look-alikes, in
/// groups of five (about 100 bits).
fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut b = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let chars: Vec<char> = b.iter().map(|x| ALPHABET[usize::from(*x) % ALPHABET.len()] as char).collect();
    chars.chunks(5).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Whether a drop takes files at `now`.
fn is_open(d: &DropRow, now: DateTime<Utc>) -> bool {
    d.state == "open" && parse_time(&d.expires).is_some_and(|e| e > now)
}

/// Bytes free for gardien on the filesystem holding `dir`.
pub fn free_space(dir: &Path) -> Result<u64, Error> {
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::Io { path: dir.to_owned(), source: e.into() })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

impl Vault {
    /// The directory of the drops' uploads (ciphertext only).
    pub fn uploads_dir(&self) -> PathBuf {
        self.dir.join("drops")
    }

    /// Opens a drop for `req.client`'s file, addressed to `req.to` (PRE-3). The token and
    /// password are returned once and kept only as hashes.
    pub fn drop_create(&self, req: &DropRequest<'_>, now: DateTime<Utc>) -> Result<NewDrop, Error> {
        let id = new_id("dr-", 8);
        let resources = vec![
            format!("drop:{id}"),
            format!("client:{}", req.client),
            format!("contract:{}", req.contract),
            format!("person:{}", req.to),
        ];
        let details = format!(
            "class={} to={} max_size={} expires={} label={}",
            req.class,
            req.to,
            req.max_size,
            rfc3339(req.expires),
            req.label.unwrap_or("")
        );
        self.door(Action::DropCreate, resources, details, now, |rec| {
            if let Some(l) = req.label {
                text::check("label", l, false)?;
            }
            if !matches!(req.class, DatasetClass::PresalesSample | DatasetClass::LoadingData) {
                return Err(Error::BadInput(format!(
                    "a drop receives a presales-sample or loading-data, not a {}",
                    req.class
                )));
            }
            if req.expires <= now {
                return Err(Error::BadInput("the drop's expiry is in the past: give a duration such as 7d".into()));
            }
            if req.expires > now + Duration::days(MAX_DAYS) {
                return Err(Error::BadInput(format!("a drop stays open at most {MAX_DAYS} days")));
            }
            if req.max_size == 0 || req.max_size > MAX_MAX_SIZE {
                return Err(Error::BadInput("--max-size is between 1 byte and 1 TiB".into()));
            }
            let row = self.catalog.contract(req.contract)?;
            if row.client != req.client {
                return Err(Error::ContractNeeded(format!(
                    "contract {} is client {}'s, not {}'s",
                    req.contract, row.client, req.client
                )));
            }
            let k = &row.contract;
            if k.phase(now) == lifecycle::Phase::Closed {
                return Err(Error::ContractNeeded(format!(
                    "case {} is closed: no data enters it",
                    req.contract
                )));
            }
            match req.class {
                // OPS-3: loading data comes once the contract is concluded.
                DatasetClass::LoadingData if !matches!(k.deal, lifecycle::Deal::Concluded { .. }) => {
                    return Err(Error::ContractNeeded(format!(
                        "loading data is sent once the contract is concluded (OPS-3); case {} has no deal yet (`gardien contract deal`)",
                        req.contract
                    )));
                }
                // PRE-6: a sample's case has a pre-sales period (it is destroyed at its end).
                DatasetClass::PresalesSample
                    if k.presales_until.is_none() && !matches!(k.deal, lifecycle::Deal::Concluded { .. }) =>
                {
                    return Err(Error::ContractNeeded(format!(
                        "a pre-sales sample belongs to a case with a pre-sales period (PRE-6); set one with `gardien contract set {} --presales-until DATE`",
                        req.contract
                    )));
                }
                _ => {}
            }
            // PRE-3: one addressee, an active technical operator.
            let p = self
                .catalog
                .person(req.to)?
                .ok_or_else(|| Error::Unknown { what: "person", name: req.to.to_owned() })?;
            if p.role != "technical-operator" || p.disabled.is_some() {
                return Err(Error::BadInput(format!(
                    "--to {}: a drop is addressed to an active technical operator (PRE-3), and {} is {}{}",
                    req.to,
                    req.to,
                    p.role,
                    if p.disabled.is_some() { " (disabled)" } else { "" }
                )));
            }
            let master = self
                .catalog
                .meta("master_recipient")?
                .ok_or_else(|| Error::Corrupt("the catalog has no master recipient".into()))?;
            let key = keys::new_dataset_key(&master)?;
            let token = random_secret();
            let password = new_password();
            let phc = hash_password(&password)?;
            let drop = DropRow {
                id: id.clone(),
                client: req.client.to_owned(),
                contract: req.contract.to_owned(),
                class: req.class.as_str().to_owned(),
                addressed_to: req.to.to_owned(),
                created_by: self.actor.clone(),
                label: req.label.map(str::to_owned),
                max_size: req.max_size,
                recipient: key.recipient.to_string(),
                created: rfc3339(now),
                expires: rfc3339(req.expires),
                state: "open".into(),
                failures: 0,
                ended: None,
                end_reason: None,
                dataset: None,
            };
            self.record(rec, Outcome::Allowed, |c| c.add_drop(&drop, &digest(&token), &phc, &key.wrapped))?;
            Ok(NewDrop { drop, token: SecretString::from(token), password: SecretString::from(password) })
        })
    }

    /// The drops the actor may see (`drop:show`), a client's or all.
    pub fn drops(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<DropRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::DropList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let rows = self.catalog.drops(client)?;
            self.visible(rows, Action::DropShow, |d| format!("drop:{}", d.id), now)
        })
    }

    /// One drop and its uploads.
    pub fn drop_show(&self, id: &str, now: DateTime<Utc>) -> Result<(DropRow, Vec<UploadRow>), Error> {
        self.door(Action::DropShow, vec![format!("drop:{id}")], String::new(), now, |_| {
            let d = self.catalog.drop_row(id)?.ok_or_else(|| Error::Unknown { what: "drop", name: id.to_owned() })?;
            let ups = self.catalog.uploads(id)?;
            Ok((d, ups))
        })
    }

    /// Revokes an open drop: its link and sessions stop working, its partial uploads are
    /// deleted, and its key is shredded (it never held a file).
    pub fn drop_revoke(&self, id: &str, now: DateTime<Utc>) -> Result<DropRow, Error> {
        let details = String::new();
        self.door(Action::DropRevoke, vec![format!("drop:{id}")], details, now, |rec| {
            let d = self.catalog.drop_row(id)?.ok_or_else(|| Error::Unknown { what: "drop", name: id.to_owned() })?;
            rec.resources.push(format!("client:{}", d.client));
            if d.state != "open" {
                return Err(Error::BadInput(format!("drop {id} is {} already: nothing to revoke", d.state)));
            }
            let at = rfc3339(now);
            let reason = format!("revoked by {}", self.actor);
            let ups = self.catalog.uploads(id)?;
            self.record(rec, Outcome::Allowed, |c| {
                c.end_drop(id, "revoked", &reason, &at)?;
                for u in &ups {
                    c.set_upload_state(&u.id, &["receiving", "complete"], "terminated", &at)?;
                }
                Ok(())
            })?;
            for u in &ups {
                remove_upload_files(&self.uploads_dir(), &u.id);
            }
            self.catalog.drop_row(id)?.ok_or_else(|| Error::Unknown { what: "drop", name: id.to_owned() })
        })
    }

    /// A sender gives a drop's link token and password: an upload token (shown once) for
    /// the tus endpoint, or the one refusal (`DropClosed`) for everything else (PRE-1).
    /// Five wrong passwords in a row revoke the drop (PRE-2). `receipt`: the address (and
    /// language, `fr` or `en`) where the sender wants a receipt once the file is in.
    pub fn drop_open(
        &self,
        token: &str,
        password: &SecretString,
        address: &str,
        receipt: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<Issued<DropRow>, Error> {
        let found = if token.len() <= 128 { self.catalog.drop_by_token(&digest(token))? } else { None };
        // The sender's address is theirs: the ledger records that a receipt was asked, not where.
        let details = format!("address={address}{}", if receipt.is_some() { " receipt=yes" } else { "" });
        let Some((drop, phc)) = found.filter(|(d, _)| is_open(d, now)) else {
            // Unknown, revoked, expired or used: the same answer, after the same work.
            verify_nothing(password.expose_secret());
            return self.door_sender(Action::DropOpen, "drop:(unknown)", vec![], details, "PRE-1", now, |_| {
                Err::<Issued<DropRow>, _>(Error::DropClosed)
            });
        };
        let actor = format!("drop:{}", drop.id);
        let resources = vec![format!("drop:{}", drop.id), format!("client:{}", drop.client)];
        self.door_sender(Action::DropOpen, &actor, resources, details, "PRE-2", now, |rec| {
            let at = rfc3339(now);
            if !verify_password(password.expose_secret(), &phc) {
                // The count and a revocation are recorded with the refusal, at once.
                rec.details = format!("{} reason=password", rec.details);
                let n = self.append(rec, Outcome::Denied, "PRE-2", |c| {
                    let n = c.drop_password_failed(&drop.id, REVOKE_AFTER, &at)?;
                    if n == REVOKE_AFTER {
                        // Issue 15: the addressee and ops are told.
                        let facts = format!("reason={n} wrong passwords");
                        let mut to = vec![drop.addressed_to.clone()];
                        to.extend(c.people_in("ops", None)?);
                        c.notify("drop-revoked", &to, Some(&drop.client), &drop.id, &facts, &at)?;
                    }
                    Ok(n)
                })?;
                if n >= REVOKE_AFTER {
                    let mut revoked = crate::Record::unknown(
                        Action::DropRevoke,
                        format!("reason={n} wrong passwords address={address}"),
                        now,
                    );
                    revoked.resources = vec![format!("drop:{}", drop.id), format!("client:{}", drop.client)];
                    revoked.set_actor(&actor);
                    if let Err(e) = self.append(&mut revoked, Outcome::Allowed, "PRE-2", |_| Ok(())) {
                        tracing::error!("could not record a drop's revocation: {e}");
                    }
                    tracing::warn!(drop = %drop.id, "drop revoked after {n} wrong passwords");
                }
                return Err(Error::DropClosed);
            }
            if let Some((to, lang)) = receipt {
                crate::check_email(to)?;
                if !matches!(lang, "fr" | "en") {
                    return Err(Error::BadInput(format!("language {}: fr or en", crate::quote_input(lang))));
                }
            }
            let secret = random_secret();
            self.record(rec, Outcome::Allowed, |c| {
                c.add_drop_session(&digest(&secret), &drop.id, &at, address)?;
                if let Some((to, lang)) = receipt {
                    c.set_drop_receipt(&drop.id, to, lang)?;
                }
                Ok(())
            })?;
            Ok(Issued { info: drop.clone(), secret: SecretString::from(secret) })
        })
    }

    /// The drop an upload token opens, while it takes a file. Not an operation of its own:
    /// the request it authenticates records its event, naming the drop.
    pub fn drop_session(&self, upload_token: &str, now: DateTime<Utc>) -> Result<DropRow, Error> {
        if upload_token.len() > 128 {
            return Err(Error::DropClosed);
        }
        // A drop that received its file still answers HEAD (tus: a client that lost the
        // last answer learns its upload is complete); everything else checks `is_open`.
        self.catalog
            .drop_by_session(&digest(upload_token))?
            .filter(|d| is_open(d, now) || d.state == "received")
            .ok_or(Error::DropClosed)
    }

    /// The drop's dataset key, to check its uploads with.
    pub fn drop_identity(&self, drop: &DropRow) -> Result<age::x25519::Identity, Error> {
        let wrapped = self.catalog.drop_wrapped_key(&drop.id)?.ok_or(Error::DropClosed)?;
        keys::unwrap_dataset_key(&self.master_key()?, &drop.id, &wrapped)
    }

    /// Creates an upload in an open drop (tus creation). `length` is `None` when deferred
    /// or for a final concatenation (`parts`, the upload ids to join, in order).
    pub fn upload_create(
        &self,
        drop: &DropRow,
        length: Option<u64>,
        concat: &str,
        parts: &[String],
        metadata: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<UploadState, Error> {
        let id = new_id("up-", 12);
        let actor = format!("drop:{}", drop.id);
        let resources = vec![format!("drop:{}", drop.id), format!("upload:{id}"), format!("client:{}", drop.client)];
        let details = format!(
            "length={} concat={concat} parts={}",
            length.map_or_else(|| "deferred".to_owned(), |n| n.to_string()),
            parts.join(",")
        );
        self.door_sender(Action::DropUpload, &actor, resources, details, "PRE-1", now, |rec| {
            if drop.dataset.is_some() || !is_open(drop, now) {
                return Err(Error::DropClosed);
            }
            // A sender's uploads under way are bounded: parallel parts and a retry or two,
            // not an unbounded store of unchecked bytes.
            let live = self.catalog.live_uploads(&drop.id)?;
            if live.len() >= MAX_LIVE_UPLOADS {
                return Err(Error::TooLarge(format!(
                    "this drop has {} uploads under way, the most it takes: finish or delete one (tus termination) first",
                    live.len()
                )));
            }
            if concat != "final" && length == Some(0) {
                return Err(Error::BadInput("an empty file is not an age file: nothing to send".into()));
            }
            let mut length = length;
            if concat == "final" {
                let mut total = 0u64;
                for p in parts {
                    let part = self.catalog.upload(&drop.id, p)?.ok_or(Error::UnknownUpload)?;
                    if part.concat != "partial" || part.state != "complete" {
                        return Err(Error::BadInput(format!(
                            "upload {p} is not a complete partial upload: a final concatenation joins parts already received"
                        )));
                    }
                    total = total.saturating_add(part.length.unwrap_or(0));
                }
                if parts.is_empty() {
                    return Err(Error::BadInput("a final concatenation names its parts".into()));
                }
                length = Some(total);
            }
            if let Some(n) = length {
                self.check_room(drop, n, None)?;
            }
            let dir = self.uploads_dir();
            fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
            crate::store::private_dir(&dir)?;
            let row = UploadRow {
                id: id.clone(),
                drop_id: drop.id.clone(),
                length,
                concat: concat.to_owned(),
                parts: parts.to_vec(),
                metadata: metadata.map(str::to_owned),
                created: rfc3339(now),
                expires: drop.expires.clone(),
                state: "receiving".into(),
            };
            create_upload_files(&dir, &id)?;
            if let Err(e) = self.record(rec, Outcome::Allowed, |c| c.add_upload(&row)) {
                remove_upload_files(&dir, &id);
                return Err(e);
            }
            Ok(UploadState { row, offset: 0 })
        })
    }

    /// Refuses a length a drop or the disk cannot take (tus 413), before a byte is written:
    /// above the drop's maximum, or above the free space less what every other upload
    /// still receiving declared (a deferred one counts as its drop's maximum). `upload`, a
    /// deferred upload declaring its length, does not count against itself.
    pub fn check_room(&self, drop: &DropRow, length: u64, upload: Option<&str>) -> Result<(), Error> {
        if length > drop.max_size {
            return Err(Error::TooLarge(format!(
                "{length} bytes is more than this drop takes ({} bytes); ask for a drop with a larger --max-size",
                drop.max_size
            )));
        }
        let dir = self.uploads_dir();
        let probe = if dir.exists() { dir } else { self.dir.clone() };
        let free = free_space(&probe)?;
        let promised = self.catalog.live_upload_bytes(upload)?;
        if length.saturating_add(RESERVE).saturating_add(promised) > free {
            return Err(Error::TooLarge(format!(
                "{length} bytes is more than the space left to receive it ({} bytes free, {promised} promised to uploads under way); nothing was written",
                free.saturating_sub(RESERVE)
            )));
        }
        Ok(())
    }

    /// An upload of `drop` and its durable offset (tus HEAD). Another drop's upload and an
    /// ended one answer as unknown.
    pub fn upload_state(&self, drop: &DropRow, id: &str) -> Result<UploadState, Error> {
        let row = self.catalog.upload(&drop.id, id)?.ok_or(Error::UnknownUpload)?;
        if !matches!(row.state.as_str(), "receiving" | "complete") {
            return Err(Error::UnknownUpload);
        }
        let offset =
            if row.state == "complete" { row.length.unwrap_or(0) } else { read_offset(&self.uploads_dir(), id)? };
        Ok(UploadState { row, offset })
    }

    /// A deferred upload's length, declared by a PATCH (checked against the drop and the
    /// disk first).
    pub fn upload_set_length(&self, drop: &DropRow, id: &str, length: u64) -> Result<(), Error> {
        self.check_room(drop, length, Some(id))?;
        self.catalog.write(|c| c.set_upload_length(id, length))
    }

    /// A partial upload of a concatenation is complete: it waits for its final upload.
    pub fn upload_part_done(&self, drop: &DropRow, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let at = rfc3339(now);
        let _ = drop;
        self.catalog.write(|c| c.set_upload_state(id, &["receiving"], "complete", &at).map(|_| ()))
    }

    /// The pending dataset of a drop's file: recorded, adopted into every store, then
    /// made visible with the drop's end in one transaction (`drop_receive`, which holds
    /// its lock).
    #[allow(clippy::too_many_arguments)]
    fn adopt_pending(
        &self,
        rec: &mut crate::door::Record,
        drop: &DropRow,
        upload: &str,
        digest: &agefile::Digest,
        ds_id: &str,
        object: &str,
        created: &str,
        wrapped: &str,
        class: DatasetClass,
        stores: &[crate::store::Store],
    ) -> Result<Dataset, Error> {
        self.catalog.insert_pending(&crate::catalog::NewDataset {
            id: ds_id,
            client: &drop.client,
            class,
            label: drop.label.as_deref(),
            contract: Some(&drop.contract),
            recipient: &drop.recipient,
            wrapped_key: wrapped,
            created,
            addressed_to: Some(&drop.addressed_to),
            provider: Some(&drop.client),
        })?;
        let src = part_path(&self.uploads_dir(), upload);
        let mut placed = Vec::new();
        let mut copies = Vec::new();
        let mut outcome = Ok(());
        for s in stores {
            match s.adopt(object, &src) {
                Ok(etag) => {
                    placed.push(s);
                    copies.push(crate::catalog::Written {
                        store: s.info().name.clone(),
                        object: object.to_owned(),
                        etag,
                    });
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let outcome = outcome.and_then(|()| {
            self.record(rec, Outcome::Allowed, |c| {
                if !c.drop_received(&drop.id, ds_id, created)? {
                    return Err(Error::DropClosed);
                }
                c.set_upload_state(upload, &["receiving"], "complete", created)?;
                // One drop, one file: every other upload of the drop ends with it.
                for other in c.live_uploads(&drop.id)? {
                    c.set_upload_state(&other, &["receiving", "complete"], "terminated", created)?;
                }
                // Issue 15: the addressee is told, with the size and SHA-256 to check.
                let facts = format!("dataset={ds_id}\nsize={}\nsha256={}", digest.size, hex::encode(digest.sha256));
                c.notify(
                    "drop-received",
                    std::slice::from_ref(&drop.addressed_to),
                    Some(&drop.client),
                    &drop.id,
                    &facts,
                    created,
                )?;
                // The sender who gave an address gets a receipt.
                if let Some((to, lang)) = c.drop_receipt_to(&drop.id)? {
                    c.notify_address("drop-receipt", &to, &lang, &drop.client, &drop.id, &facts, created)?;
                }
                c.activate(ds_id, digest.size, &hex::encode(digest.sha256), &copies)
            })
        });
        if let Err(e) = outcome {
            for s in &placed {
                let _ = s.delete(object);
            }
            let _ = self.catalog.delete_pending(ds_id);
            return Err(e);
        }
        self.catalog.dataset(ds_id)
    }

    /// The last byte of an upload is in and checked: its file becomes the drop's dataset,
    /// addressed to the drop's technical operator with the client as provider. The file is
    /// linked (or copied) into every store and synced; the dataset, the drop's end and the
    /// event are one transaction. Nothing lands if any step fails.
    pub fn drop_receive(
        &self,
        drop: &DropRow,
        upload: &str,
        digest: agefile::Digest,
        now: DateTime<Utc>,
    ) -> Result<Dataset, Error> {
        let actor = format!("drop:{}", drop.id);
        let ds_id = new_id("ds-", 8);
        let resources = vec![
            format!("dataset:{ds_id}"),
            format!("drop:{}", drop.id),
            format!("upload:{upload}"),
            format!("client:{}", drop.client),
            format!("contract:{}", drop.contract),
            format!("person:{}", drop.addressed_to),
        ];
        let details = format!("size={} sha256={}", digest.size, hex::encode(digest.sha256));
        let result = self.door_sender(Action::DropReceive, &actor, resources, details, "PRE-3", now, |rec| {
            let wrapped = self.catalog.drop_wrapped_key(&drop.id)?.ok_or(Error::DropClosed)?;
            // What held when the drop was opened must still hold: its addressee an active
            // technical operator (PRE-3), its case open (PRE-6, OPS-3).
            let to = self.catalog.person(&drop.addressed_to)?;
            if !to.is_some_and(|p| p.role == "technical-operator" && p.disabled.is_none()) {
                return Err(Error::DropFile(format!(
                    "the drop's addressee {} is no longer an active technical operator (PRE-3): the file was not taken; ask the operator for a new drop",
                    drop.addressed_to
                )));
            }
            if self.catalog.contract(&drop.contract)?.contract.phase(now) == lifecycle::Phase::Closed {
                return Err(Error::DropFile(format!(
                    "case {} is closed: no data enters it; the file was not taken",
                    drop.contract
                )));
            }
            let class: DatasetClass =
                drop.class.parse().map_err(|_| Error::Corrupt(format!("drop {} has class {}", drop.id, drop.class)))?;
            let stores = self.placement(&[])?;
            rec.resources.extend(stores.iter().map(|s| format!("store:{}", s.info().name)));
            let object = format!("{DATASETS_PREFIX}/{ds_id}.age");
            let created = rfc3339(now);
            // Pending, it is alive as an ingest is (see `Vault::recover`): its lock file on
            // this machine, its lock in a PostgreSQL catalog for the other nodes.
            let lock_path = self.dir.join("run").join(format!("{ds_id}.lock"));
            let lock = crate::lock_file(&lock_path)?;
            lock.lock().map_err(|source| Error::Io { path: lock_path.clone(), source })?;
            let claim = format!("ingest:{ds_id}");
            self.catalog.hold_lock(&claim)?;
            let adopted = self.adopt_pending(rec, drop, upload, &digest, &ds_id, &object, &created, &wrapped, class, &stores);
            let _ = self.catalog.let_go(&claim);
            let _ = std::fs::remove_file(&lock_path);
            std::mem::drop(lock);
            adopted
        });
        if result.is_ok() {
            // Its file, and every other upload's of the drop (ended with it).
            let dir = self.uploads_dir();
            remove_upload_files(&dir, upload);
            for u in self.catalog.uploads(&drop.id).unwrap_or_default() {
                if u.state == "terminated" {
                    remove_upload_files(&dir, &u.id);
                }
            }
        }
        result
    }

    /// An upload's file was refused (not an age file for the drop's key, or altered): it
    /// is deleted and recorded; the drop stays open for a good file.
    pub fn upload_refuse(&self, drop: &DropRow, upload: &str, why: &str, now: DateTime<Utc>) -> Error {
        let actor = format!("drop:{}", drop.id);
        let resources =
            vec![format!("drop:{}", drop.id), format!("upload:{upload}"), format!("client:{}", drop.client)];
        let at = rfc3339(now);
        let r: Result<(), Error> =
            self.door_sender(Action::DropReceive, &actor, resources, format!("refused={why}"), "PRE-1", now, |rec| {
                self.append(rec, Outcome::Failed, "PRE-1", |c| {
                    c.set_upload_state(upload, &["receiving", "complete"], "refused", &at).map(|_| ())
                })?;
                Err(Error::DropFile(why.to_owned()))
            });
        remove_upload_files(&self.uploads_dir(), upload);
        match r {
            Err(e) => e,
            Ok(()) => Error::DropFile(why.to_owned()),
        }
    }

    /// The sender deletes an upload (tus termination).
    pub fn upload_terminate(&self, drop: &DropRow, upload: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let actor = format!("drop:{}", drop.id);
        let resources =
            vec![format!("drop:{}", drop.id), format!("upload:{upload}"), format!("client:{}", drop.client)];
        let at = rfc3339(now);
        self.door_sender(Action::DropTerminate, &actor, resources, String::new(), "PRE-1", now, |rec| {
            let u = self.catalog.upload(&drop.id, upload)?.ok_or(Error::UnknownUpload)?;
            if u.state == "complete" && u.concat != "partial" {
                return Err(Error::BadInput(format!(
                    "upload {upload} is complete: its file is in the vault, and only the operator's rules end it now"
                )));
            }
            self.record(rec, Outcome::Allowed, |c| {
                if c.set_upload_state(upload, &["receiving", "complete"], "terminated", &at)? {
                    Ok(())
                } else {
                    Err(Error::UnknownUpload)
                }
            })?;
            remove_upload_files(&self.uploads_dir(), upload);
            Ok(())
        })
    }

    /// Ends drops whose time ran out and deletes the uploads of drops that ended or whose
    /// time ran out (tus expiration), each recorded (`drop:expire`). Run by the server
    /// every minute and by `gardien sweep`.
    pub fn expire_drops(&self, now: DateTime<Utc>) -> Result<ExpiryReport, Error> {
        let at = rfc3339(now);
        let mut report = ExpiryReport::default();
        let actor = format!("person:{}", self.actor);
        for d in self.catalog.expired_drops(&at)? {
            let resources = vec![format!("drop:{}", d.id), format!("client:{}", d.client)];
            let ended =
                self.door_sender(Action::DropExpire, &actor, resources, "drop".into(), "PRE-1", now, |rec| {
                    self.record(rec, Outcome::Allowed, |c| c.end_drop(&d.id, "expired", "expired", &at))
                })?;
            if ended {
                report.drops.push(d.id);
            }
        }
        for u in self.catalog.stale_uploads(&at)? {
            let Some(d) = self.catalog.drop_row(&u.drop_id)? else { continue };
            let resources = vec![format!("drop:{}", d.id), format!("upload:{}", u.id), format!("client:{}", d.client)];
            let done =
                self.door_sender(Action::DropExpire, &actor, resources, "upload".into(), "PRE-1", now, |rec| {
                    self.record(rec, Outcome::Allowed, |c| {
                        c.set_upload_state(&u.id, &["receiving", "complete"], "expired", &at)
                    })
                })?;
            remove_upload_files(&self.uploads_dir(), &u.id);
            if done {
                report.uploads.push(u.id);
            }
        }
        Ok(report)
    }
}

/// Where an upload's bytes are.
pub fn part_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.part"))
}

fn offset_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.offset"))
}

fn create_upload_files(dir: &Path, id: &str) -> Result<(), Error> {
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Io { path: p, source }
    };
    let part = part_path(dir, id);
    fs::OpenOptions::new().mode(0o600).write(true).create_new(true).open(&part).map_err(io(&part))?;
    write_offset_file(dir, id, 0, true)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

fn remove_upload_files(dir: &Path, id: &str) {
    let _ = fs::remove_file(part_path(dir, id));
    let _ = fs::remove_file(offset_path(dir, id));
}

/// The durable offset: the file's bytes up to it were synced before it was written.
fn read_offset(dir: &Path, id: &str) -> Result<u64, Error> {
    let p = offset_path(dir, id);
    let text = fs::read_to_string(&p).map_err(|source| Error::Io { path: p.clone(), source })?;
    text.trim().parse().map_err(|_| Error::Corrupt(format!("{} does not hold an offset", p.display())))
}

fn write_offset(dir: &Path, id: &str, offset: u64) -> Result<(), Error> {
    write_offset_file(dir, id, offset, false)
}

/// `create`: only when the upload is created (an upload deleted meanwhile, terminated or
/// expired, is not brought back by a request still writing it).
fn write_offset_file(dir: &Path, id: &str, offset: u64, create: bool) -> Result<(), Error> {
    let p = offset_path(dir, id);
    let io = |source| Error::Io { path: p.clone(), source };
    // A fixed-width record rewritten in place: one write, one sync, never a torn number.
    let f = fs::OpenOptions::new().mode(0o600).write(true).create(create).truncate(false).open(&p).map_err(io)?;
    f.write_all_at(format!("{offset:020}\n").as_bytes(), 0).map_err(io)?;
    f.sync_data().map_err(io)
}

/// What an upload being received holds in memory between requests: its file and the
/// state of its check (the bytes before the offset, already authenticated).
struct Receiver {
    file: fs::File,
    offset: u64,
    written: u64,
    check: Option<Check>,
    saved: Option<Check>,
}

enum Slot {
    Idle(Box<Receiver>),
    Busy,
}

/// The uploads being received by this process. One request at a time writes an upload
/// (a second gets `UploadBusy`, tus 423); between requests its check's state stays here,
/// and after a restart it is rebuilt from the bytes on disk.
pub struct Uploads {
    dir: PathBuf,
    slots: Mutex<HashMap<String, Slot>>,
}

/// One request's hold on an upload: it writes, commits or takes back bytes. Dropped, it
/// gives the upload back for the next request.
pub struct Receiving {
    uploads: Arc<Uploads>,
    id: String,
    r: Option<Box<Receiver>>,
    /// Write-back started beside the writes (a thread syncing the file every
    /// `FLUSH_EVERY` bytes), so that a commit waits only for the last few.
    flush: Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>,
    unflushed: u64,
}

/// Bytes written between two background write-backs of an upload.
const FLUSH_EVERY: u64 = 8 << 20;

impl Uploads {
    /// The uploads under `dir` (the data dir's `drops/`).
    pub fn new(dir: PathBuf) -> Arc<Uploads> {
        Arc::new(Uploads { dir, slots: Mutex::new(HashMap::new()) })
    }

    /// Where the uploads' files are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes `upload` for one request. `identity` opens its file (None for a part of a
    /// concatenation, which is checked when its final upload joins the parts). Bytes past
    /// the durable offset (a request cut short) are dropped first.
    pub fn begin(
        self: &Arc<Self>,
        upload: &UploadRow,
        identity: Option<age::x25519::Identity>,
    ) -> Result<Receiving, Error> {
        {
            let mut slots = self.slots();
            match slots.insert(upload.id.clone(), Slot::Busy) {
                Some(Slot::Busy) => return Err(Error::UploadBusy),
                Some(Slot::Idle(r)) => {
                    return Ok(Receiving {
                        uploads: self.clone(),
                        id: upload.id.clone(),
                        r: Some(r),
                        flush: None,
                        unflushed: 0,
                    });
                }
                None => {}
            }
        }
        // Not in memory (first request, or after a restart): rebuilt from disk, outside
        // the map's lock.
        let loaded = self.load(upload, identity);
        match loaded {
            Ok(r) => Ok(Receiving {
                uploads: self.clone(),
                id: upload.id.clone(),
                r: Some(Box::new(r)),
                flush: None,
                unflushed: 0,
            }),
            Err(e) => {
                self.slots().remove(&upload.id);
                Err(e)
            }
        }
    }

    fn load(&self, upload: &UploadRow, identity: Option<age::x25519::Identity>) -> Result<Receiver, Error> {
        let path = part_path(&self.dir, &upload.id);
        let io = |source| Error::Io { path: path.clone(), source };
        let offset = read_offset(&self.dir, &upload.id)?;
        let file = fs::OpenOptions::new().read(true).write(true).open(&path).map_err(io)?;
        file.set_len(offset).map_err(io)?;
        let check = match identity {
            None => None,
            Some(id) => {
                let mut c = Check::new(id);
                let mut buf = vec![0u8; 1 << 20];
                let mut f = &file;
                let mut left = offset;
                while left > 0 {
                    let n = f.read(&mut buf[..(left.min(1 << 20) as usize)]).map_err(io)?;
                    if n == 0 {
                        return Err(Error::Corrupt(format!("{} is shorter than its offset", path.display())));
                    }
                    c.push(&buf[..n]).map_err(|e| Error::DropFile(e.to_string()))?;
                    left -= n as u64;
                }
                Some(c)
            }
        };
        Ok(Receiver { file, offset, written: 0, saved: check.clone(), check })
    }

    /// Forgets an upload's state (it completed, or was refused or deleted).
    pub fn forget(&self, id: &str) {
        self.slots().remove(id);
    }
}

impl Receiving {
    fn r(&mut self) -> &mut Receiver {
        #[allow(clippy::expect_used)] // present from `begin` until drop or `finish`
        self.r.as_mut().expect("a receiving upload has its state")
    }

    /// The durable offset.
    pub fn offset(&self) -> u64 {
        self.r.as_ref().map_or(0, |r| r.offset)
    }

    /// Bytes written since the last commit.
    pub fn pending(&self) -> u64 {
        self.r.as_ref().map_or(0, |r| r.written)
    }

    /// Writes the next bytes and checks them. A `DropFile` error is final for the upload.
    pub fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        self.unflushed += data.len() as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.unflushed = 0;
            self.start_writeback();
        }
        let r = self.r();
        let at = r.offset + r.written;
        r.file.write_all_at(data, at).map_err(Error::Input)?;
        r.written += data.len() as u64;
        if let Some(c) = r.check.as_mut() {
            c.push(data).map_err(|e| Error::DropFile(e.to_string()))?;
        }
        Ok(())
    }

    /// Asks the write-back thread to sync what was written so far (it runs beside the
    /// writes; a request already queued covers this one too).
    fn start_writeback(&mut self) {
        if self.flush.is_none() {
            let Some(file) = self.r.as_ref().and_then(|r| r.file.try_clone().ok()) else { return };
            let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
            let t = std::thread::spawn(move || {
                for () in rx {
                    let _ = file.sync_data();
                }
            });
            self.flush = Some((tx, t));
        }
        if let Some((tx, _)) = &self.flush {
            let _ = tx.try_send(());
        }
    }

    /// Makes what was written durable, then the new offset. Returns it.
    pub fn commit(&mut self) -> Result<u64, Error> {
        let dir = self.uploads.dir.clone();
        let id = self.id.clone();
        let r = self.r();
        if r.written > 0 {
            r.file.sync_data().map_err(Error::Input)?;
            write_offset(&dir, &id, r.offset + r.written)?;
            r.offset += r.written;
            r.written = 0;
        }
        // The check's state at the durable offset: what a rollback goes back to.
        r.saved = r.check.clone();
        Ok(r.offset)
    }

    /// Takes back what was written since the last commit (a checksum that did not match, a
    /// body past the upload's end): the bytes and the check's state both go back to the
    /// durable offset.
    pub fn rollback(&mut self) -> Result<(), Error> {
        let r = self.r();
        r.file.set_len(r.offset).map_err(Error::Input)?;
        r.written = 0;
        r.check = r.saved.clone();
        Ok(())
    }

    /// Every byte is in: the last chunk is checked, and the plaintext's digest returned.
    pub fn finish(mut self) -> Result<agefile::Digest, Error> {
        let mut r = self.r.take().ok_or_else(|| Error::Corrupt("an upload finished twice".into()))?;
        self.uploads.forget(&self.id);
        r.file.sync_all().map_err(Error::Input)?;
        match r.check.take() {
            Some(c) => c.finish().map_err(|e| Error::DropFile(e.to_string())),
            None => Err(Error::Corrupt("a part of a concatenation has no check of its own".into())),
        }
    }

    /// Whether the upload is checked as it comes (not a part of a concatenation).
    pub fn checked(&self) -> bool {
        self.r.as_ref().is_some_and(|r| r.check.is_some())
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some((tx, t)) = self.flush.take() {
            drop(tx);
            let _ = t.join();
        }
        let mut slots = self.uploads.slots();
        match self.r.take() {
            // Uncommitted bytes are not kept: the next request starts at the durable offset.
            Some(mut r) if r.written == 0 || r.file.set_len(r.offset).is_ok() => {
                if r.written > 0 {
                    r.written = 0;
                    // The check went past the offset: rebuild it from disk next time.
                    slots.remove(&self.id);
                    return;
                }
                slots.insert(self.id.clone(), Slot::Idle(r));
            }
            _ => {
                slots.remove(&self.id);
            }
        }
    }
}

/// Joins the parts of a final concatenation into its file, checking it as one age file.
pub fn concatenate(
    dir: &Path,
    final_id: &str,
    parts: &[String],
    identity: age::x25519::Identity,
) -> Result<agefile::Digest, Error> {
    let dest = part_path(dir, final_id);
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Io { path: p, source }
    };
    let mut out = fs::OpenOptions::new().write(true).truncate(true).open(&dest).map_err(io(&dest))?;
    let mut check = Check::new(identity);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for p in parts {
        let src = part_path(dir, p);
        let mut f = fs::File::open(&src).map_err(io(&src))?;
        loop {
            let n = f.read(&mut buf).map_err(io(&src))?;
            if n == 0 {
                break;
            }
            check.push(&buf[..n]).map_err(|e| Error::DropFile(e.to_string()))?;
            io::Write::write_all(&mut out, &buf[..n]).map_err(io(&dest))?;
            total += n as u64;
        }
    }
    out.sync_all().map_err(io(&dest))?;
    write_offset_file(dir, final_id, total, true)?;
    let digest = check.finish().map_err(|e| Error::DropFile(e.to_string()))?;
    for p in parts {
        remove_upload_files(dir, p);
    }
    Ok(digest)
}
