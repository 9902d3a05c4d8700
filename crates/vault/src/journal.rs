//! The ledger's operations on a data dir: the verifier key, signed checkpoints, entries,
//! the decoded event list, inclusion and consistency proofs, and a full verification.
//! The tree math and the formats are the `ledger` crate's; the storage is the catalog's.

use chrono::{DateTime, Utc};
use ledger::merkle;
use ledger::note::Signer;
use ledger::proof::{Checkpoint, ConsistencyProof, InclusionProof};
use sha2::{Digest as _, Sha256};

use crate::event::{Action, Event};
use crate::{Error, Vault, keys, resolve, rfc3339};

/// What `ledger verify` found.
#[derive(Debug, Default)]
pub struct LedgerReport {
    /// Entries read.
    pub size: u64,
    /// Signed checkpoints checked against the recomputed tree.
    pub checkpoints: usize,
    /// Every problem, naming the entry index or checkpoint size.
    pub problems: Vec<String>,
    /// Entries whose details were recomputed against their commitment.
    pub details_checked: u64,
    /// Entries whose details were erased (allowed: the log holds no personal data).
    pub details_erased: u64,
}

fn bad_input(e: ledger::Error) -> Error {
    Error::LedgerInput(e.to_string())
}

impl Vault {
    pub(crate) fn signer(&self) -> Result<Signer, Error> {
        keys::load_signer(&resolve(&self.dir, &self.config.signing_key))
    }

    /// The verifier key clients use to check checkpoints and proofs offline.
    pub fn ledger_key(&self, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::LedgerKey, vec![], String::new(), now, |_| Ok(self.signer()?.verifier_key()))
    }

    /// The same key as a line of OpenSSH's `allowed_signers`, for restitutions
    /// (`ssh-keygen -Y verify -n gardien-restitution`).
    pub fn ledger_key_ssh(&self, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::LedgerKey, vec![], "ssh".into(), now, |_| {
            crate::sshsig::allowed_signers_line(&self.signer()?)
        })
    }

    /// Signs a checkpoint of the tree as it is now.
    pub fn checkpoint(&self, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::LedgerCheckpoint, vec![], String::new(), now, |_| Ok(self.sign_checkpoint(now)?.1))
    }

    /// Signs (and keeps) a checkpoint of the current tree, refusing to if the tree is not
    /// consistent with every checkpoint signed before (tlog-checkpoint: a log never signs
    /// two inconsistent checkpoints).
    pub(crate) fn sign_checkpoint(&self, now: DateTime<Utc>) -> Result<(Checkpoint, String), Error> {
        let signer = self.signer()?;
        let verifier = signer.verifier();
        let size = self.catalog.ledger_size()?;
        let root = merkle::root(&self.catalog, size)?;
        // The latest checkpoint suffices: it was itself signed only once consistent with
        // every earlier one, and a stored hash edited since changes the root at its size.
        if let Some((old_size, note)) = self.catalog.latest_checkpoint()? {
            let old = Checkpoint::open(&note, &verifier)
                .map_err(|e| Error::Corrupt(format!("stored checkpoint {old_size}: {e}")))?;
            self.check_against_log(&old, size).map_err(|e| match e {
                Error::LedgerInconsistent(why) => Error::LedgerInconsistent(format!("{why}; refusing to sign")),
                other => other,
            })?;
        }
        let cp = Checkpoint { origin: signer.name().to_owned(), size, root };
        let note = cp.sign(&signer).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.catalog.write(|c| c.add_checkpoint(size, &note, &rfc3339(now)))?;
        Ok((cp, note))
    }

    /// The raw bytes of entry `index` (what its leaf hashes).
    pub fn ledger_entry(&self, index: u64, now: DateTime<Utc>) -> Result<Vec<u8>, Error> {
        self.door(Action::LedgerEntry, vec![format!("entry:{index}")], String::new(), now, |_| self.entry_at(index))
    }

    fn entry_at(&self, index: u64) -> Result<Vec<u8>, Error> {
        self.catalog.ledger_entry(index)?.ok_or(Error::NoSuchEntry { index, size: self.catalog.ledger_size()? })
    }

    /// The events, decoded, with their indexes; optionally only those naming a client.
    pub fn ledger_events(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<(u64, Event)>, Error> {
        self.ledger_page(client, 0, usize::MAX, now)
    }

    /// `ledger_events` from index `from` on, at most `limit` of them (a page: the next
    /// one starts after the last index returned).
    pub fn ledger_page(
        &self,
        client: Option<&str>,
        from: u64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<(u64, Event)>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::LedgerList, resources, String::new(), now, |_| {
            let want = client.map(|c| format!("client:{c}"));
            let mut out = Vec::new();
            let mut keep = |i: u64, bytes: &[u8]| {
                let e = Event::decode(bytes).map_err(|e| Error::Corrupt(format!("entry {i}: {e}")))?;
                if want.as_ref().is_none_or(|w| e.resources.contains(w)) {
                    out.push((i, e));
                }
                Ok(())
            };
            match &want {
                // A client's log: only the entries naming it are read and decoded (the
                // decoded event is what decides; the byte search only narrows).
                Some(w) => self.catalog.ledger_entries_containing(
                    format!("\nresource {w}\n").as_bytes(),
                    from,
                    limit,
                    &mut keep,
                )?,
                None => {
                    let to = from.saturating_add(limit.min(u64::MAX as usize) as u64).min(u64::MAX >> 1);
                    self.catalog.ledger_entries(from, to, &mut keep)?
                }
            }
            self.visible(out, Action::LedgerEntry, |(i, _)| format!("entry:{i}"), now)
        })
    }

    /// A `tlog-proof@v1` for entry `index`, against `checkpoint` (a note this log signed)
    /// or a fresh checkpoint of the current tree.
    pub fn inclusion_proof(&self, index: u64, checkpoint: Option<&str>, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::LedgerProof, vec![format!("entry:{index}")], String::new(), now, |_| {
            let (cp, note) = match checkpoint {
                Some(note) => {
                    // A checkpoint signed with this log's key but for another tree (a
                    // fork, a restored copy) proves nothing here: report it, do not print
                    // a proof that cannot verify.
                    let cp = self.own_checkpoint(note)?;
                    self.check_against_log(&cp, self.catalog.ledger_size()?)?;
                    (cp, note.to_owned())
                }
                None => self.sign_checkpoint(now)?,
            };
            if index >= cp.size {
                return Err(Error::NoSuchEntry { index, size: cp.size });
            }
            let path = merkle::inclusion_proof(&self.catalog, index, cp.size)?;
            Ok(InclusionProof { index, path, checkpoint: note }.to_text())
        })
    }

    /// A `tlog-witness` add-checkpoint body from the checkpoint `old` (a note this log
    /// signed, which a client kept) to a fresh checkpoint of the current tree.
    pub fn consistency_proof(&self, old: &str, now: DateTime<Utc>) -> Result<String, Error> {
        self.door(Action::LedgerConsistency, vec![], String::new(), now, |_| {
            let old = self.own_checkpoint(old)?;
            let (new, note) = self.sign_checkpoint(now)?;
            self.check_against_log(&old, new.size)?;
            let path = merkle::consistency_proof(&self.catalog, old.size, new.size)?;
            Ok(ConsistencyProof { old: old.size, path, checkpoint: note }.to_text())
        })
    }

    /// Whether a checkpoint signed with this log's key describes this log (of `size`
    /// entries): not larger, and the same root at its size. Else the log was truncated or
    /// rewritten, or the checkpoint is of a fork (a restored copy that went on).
    fn check_against_log(&self, cp: &Checkpoint, size: u64) -> Result<(), Error> {
        if cp.size > size {
            return Err(Error::LedgerInconsistent(format!(
                "a checkpoint of size {} was signed but the log holds {size} entries: it was truncated, or the checkpoint is of a fork",
                cp.size
            )));
        }
        if merkle::root(&self.catalog, cp.size)? != cp.root {
            return Err(Error::LedgerInconsistent(format!(
                "the tree of size {} no longer has the root signed in its checkpoint: the log was rewritten, or the checkpoint is of a fork",
                cp.size
            )));
        }
        Ok(())
    }

    /// Parses and checks a checkpoint note signed by this log's key.
    fn own_checkpoint(&self, note: &str) -> Result<Checkpoint, Error> {
        Checkpoint::open(note, &self.signer()?.verifier()).map_err(bad_input)
    }

    /// Recomputes the tree from every stored entry and checks it against the stored leaf
    /// hashes and every signed checkpoint. Reports each edited, missing or reordered
    /// entry by index, and a truncated log by the checkpoint it contradicts.
    ///
    /// The one operation that still reports when its own event cannot be appended: the
    /// audit of a broken ledger must work. The report then says it was not recorded.
    pub fn verify_ledger(&self, now: DateTime<Utc>) -> Result<LedgerReport, Error> {
        match self.door(Action::LedgerVerify, vec![], String::new(), now, |_| self.check_ledger()) {
            Err(Error::LedgerWrite(why)) => {
                let mut report = self.check_ledger()?;
                report.problems.push(format!("this verification could not be recorded in the ledger: {why}"));
                Ok(report)
            }
            other => other,
        }
    }

    fn check_ledger(&self) -> Result<LedgerReport, Error> {
        let verifier = self.signer()?.verifier();
        let mut checkpoints = Vec::new();
        let mut report = LedgerReport::default();
        for (size, note) in self.catalog.checkpoints()? {
            match Checkpoint::open(&note, &verifier) {
                Ok(cp) => checkpoints.push(cp),
                Err(e) => report.problems.push(format!("checkpoint of size {size}: {e}")),
            }
        }
        checkpoints.sort_by_key(|c| c.size);
        let mut pending = checkpoints.iter().peekable();
        let mut edge = Vec::new();
        let mut next = 0u64;
        let check_roots = |edge: &Vec<ledger::Hash>,
                           size: u64,
                           pending: &mut std::iter::Peekable<std::slice::Iter<'_, Checkpoint>>,
                           report: &mut LedgerReport| {
            while let Some(cp) = pending.next_if(|cp| cp.size <= size) {
                report.checkpoints += 1;
                if cp.size < size {
                    report.problems.push(format!(
                        "the checkpoint of size {} cannot be checked: entries before it are missing",
                        cp.size
                    ));
                } else if root_of_edge(edge) != cp.root {
                    report.problems.push(format!(
                        "the first {} entries do not hash to the root of the checkpoint signed for that size",
                        cp.size
                    ));
                }
            }
        };
        check_roots(&edge, 0, &mut pending, &mut report);
        self.catalog.ledger_entries_with_leaves(|idx, entry, stored_leaf, details| {
            while next < idx {
                report.problems.push(format!("entry {next} is missing"));
                next += 1;
            }
            match Event::decode(entry) {
                Err(e) => report.problems.push(format!("entry {idx}: {e}")),
                // The details behind the entry's commitment, unless they were erased
                // (which the log allows): recomputed, so an edited detail is caught.
                Ok(event) => match details {
                    Some((salt, text)) => {
                        let mut h = Sha256::new();
                        h.update(salt);
                        h.update(text.as_bytes());
                        if hex::encode(h.finalize()) != event.commitment {
                            report.problems.push(format!(
                                "entry {idx}: its details in the catalog do not match its commitment (they were altered)"
                            ));
                        }
                        report.details_checked += 1;
                    }
                    None => report.details_erased += 1,
                },
            }
            let leaf = merkle::leaf_hash(entry);
            if stored_leaf != Some(leaf) {
                report
                    .problems
                    .push(format!("entry {idx} does not match its leaf hash (the entry or the hash was altered)"));
            }
            merkle::append(&mut edge, idx, leaf);
            next = idx + 1;
            check_roots(&edge, next, &mut pending, &mut report);
            Ok(())
        })?;
        report.size = next;
        for cp in pending {
            report.problems.push(format!(
                "a checkpoint was signed for {} entries but the log holds {next}: it was truncated",
                cp.size
            ));
        }
        Ok(report)
    }
}

/// The root of a tree from its right edge (complete subtrees, largest first).
fn root_of_edge(edge: &[ledger::Hash]) -> ledger::Hash {
    let mut it = edge.iter().rev();
    let Some(first) = it.next() else { return merkle::empty_root() };
    it.fold(*first, |acc, left| merkle::node_hash(left, &acc))
}

/// Hooks for `benches/ledger.rs`: the storage measured without a CLI process per event.
#[doc(hidden)]
pub mod bench {
    use super::*;

    /// Appends `n` synthetic events in transactions of `batch` (group commit: one fsync
    /// per transaction), as a server's door would when operations arrive together.
    pub fn append(v: &Vault, n: u64, batch: u64, now: DateTime<Utc>) -> Result<(), Error> {
        let time = rfc3339(now);
        // Empty details under a zero salt, committed to as the door does (so that
        // `verify` finds every commitment right).
        let commitment = hex::encode(Sha256::new().chain_update([0u8; 16]).chain_update(b"").finalize());
        let mut done = 0;
        while done < n {
            let k = batch.min(n - done);
            // One group, as the group-commit writer appends it (`ledger_append_all`).
            v.catalog.write(|c| {
                let mut encoded = Vec::with_capacity(k as usize);
                for i in 0..k {
                    let e = Event {
                        time: time.clone(),
                        actor: crate::OPERATOR.to_owned(),
                        action: Action::LedgerKey,
                        resources: vec![format!("entry:{}", done + i)],
                        allowed: true,
                        clause: "OPS-1".into(),
                        outcome: crate::Outcome::Allowed,
                        commitment: commitment.clone(),
                    };
                    encoded.push(e.encode()?);
                }
                let group: Vec<(&[u8], &[u8], &str)> =
                    encoded.iter().map(|e| (e.as_slice(), &[0u8; 16][..], "")).collect();
                c.ledger_append_all(&group)?;
                Ok(())
            })?;
            done += k;
        }
        Ok(())
    }

    /// An inclusion proof at the current size, from the stored hashes (no signing).
    pub fn proof(v: &Vault, index: u64) -> Result<Vec<ledger::Hash>, Error> {
        let size = v.catalog.ledger_size()?;
        merkle::inclusion_proof(&v.catalog, index, size)
    }

    /// Fills the catalog for the sweep benchmark (see `Catalog::bench_fill`).
    pub fn fill(v: &Vault, client: &str, contracts: usize, datasets: usize) -> Result<(), Error> {
        v.catalog.bench_fill(client, contracts, datasets)
    }

    /// Adds `people` people (all roles, over `clients` clients, the first being
    /// `client`), `approvals` approved requests of `client` (half naming one of the first
    /// `datasets` datasets of `fill`), and one local test environment per technical
    /// operator, for the policy benchmark. Returns the handles.
    pub fn fill_access(
        v: &Vault,
        client: &str,
        clients: usize,
        people: usize,
        approvals: usize,
        datasets: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Error> {
        let at = rfc3339(now);
        v.catalog.write(|c| {
            for k in 1..clients {
                c.add_client(&crate::Client {
                    slug: format!("{client}-{k}"),
                    name: format!("Client {k}"),
                    created: at.clone(),
                })?;
            }
            let mut handles = Vec::with_capacity(people);
            for i in 0..people {
                let role = policy::ROLES[i % policy::ROLES.len()];
                let staff = i % policy::ROLES.len() < 3;
                let handle = format!("p{i:04}");
                let home = if i % 2 == 0 { client.to_owned() } else { format!("{client}-{}", 1 + i % (clients - 1)) };
                c.add_person(&crate::Person {
                    handle: handle.clone(),
                    role: role.to_owned(),
                    client: (!staff).then_some(home),
                    name: None,
                    disabled: None,
                    created: at.clone(),
                    email: None,
                    lang: "fr".into(),
                })?;
                if role == "technical-operator" {
                    c.add_environment(&crate::EnvironmentRow {
                        name: format!("env-{handle}"),
                        kind: "local-test".into(),
                        holder: Some(handle.clone()),
                        created: at.clone(),
                    })?;
                }
                handles.push(handle);
            }
            for i in 0..approvals {
                let kind = crate::APPROVAL_KINDS[i % crate::APPROVAL_KINDS.len()];
                c.add_approval(&crate::ApprovalRow {
                    id: format!("ap-b{i:010}"),
                    kind: kind.to_owned(),
                    client: client.to_owned(),
                    scope: "benchmark".into(),
                    requester: handles[0].clone(),
                    for_handle: Some(handles[(i * 7) % handles.len()].clone()),
                    server: None,
                    maneuvers: None,
                    until: None,
                    status: "approved".into(),
                    decided_by: None,
                    decided_at: None,
                    comment: None,
                    revoked_at: None,
                    created: at.clone(),
                    datasets: if i % 2 == 0 { vec![format!("ds-b{:015}", (i * 13) % datasets)] } else { vec![] },
                })?;
            }
            Ok(handles)
        })
    }

    /// One decision as the door makes it (the actor, the request's entities and approvals
    /// from the catalog, Cedar), without performing or recording anything.
    pub fn decide(
        v: &Vault,
        handle: &str,
        action: Action,
        resources: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        v.allowed_as(handle, action, resources, now)
    }

    /// The loading half of `decide`: the actor and the request's entities from the
    /// catalog, not asking Cedar.
    pub fn load(
        v: &Vault,
        handle: &str,
        action: Action,
        resources: &[String],
        now: DateTime<Utc>,
    ) -> Result<(policy::Actor, policy::Resource, policy::Context), Error> {
        v.load_request(handle, action, resources, None, now)
    }

    /// The data dir's policy.
    pub fn engine(v: &Vault) -> Result<&policy::Engine, Error> {
        v.policy()
    }

    /// The full verification, without recording it.
    pub fn verify(v: &Vault) -> Result<LedgerReport, Error> {
        v.check_ledger()
    }
}
