//! The sweeper: what is due at an instant under the retention rules (PROOF-2), and its
//! destruction. Each destruction shreds the dataset's key first (crypto-shredding: from
//! then on no copy can be read), deletes every blob on every store and checks each is
//! gone, then records a `dataset:destroy` event naming the clause. A sweep killed at any
//! point leaves datasets `destroying`, which the next sweep finishes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::event::Action;
use crate::store::Store;
use crate::{Dataset, Error, Outcome, Vault, rfc3339};

/// A dataset due for destruction, and why.
#[derive(Debug, Clone)]
pub struct DueItem {
    /// The dataset.
    pub dataset: Dataset,
    /// The rule, its clause and the instant it became due.
    pub due: lifecycle::Due,
}

/// What a sweep did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct SweepReport {
    /// Everything due at the sweep's instant.
    pub due: Vec<DueItem>,
    /// Datasets destroyed by this sweep: (id, ledger index of the event).
    pub destroyed: Vec<(String, u64)>,
    /// Due datasets that could not be destroyed: (id, why). The sweep exits non-zero.
    pub blocked: Vec<(String, String)>,
    /// Certificates issued: (dataset, certificate id).
    pub certificates: Vec<(String, String)>,
    /// Datasets whose rule's date has passed but a legal hold stops: not destroyed, and
    /// shown (a hold never makes a dataset vanish from the list).
    pub held: Vec<DueItem>,
}

impl Vault {
    /// A dry run: what would be due at `at` (any date), changing nothing.
    pub fn sweep_dry_run(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<SweepReport, Error> {
        let details = format!("at={} dry_run=true", rfc3339(at));
        self.door(Action::Sweep, vec![], details, now, |_| {
            let (due, held) = self.due(at)?;
            Ok(SweepReport { due, held, ..SweepReport::default() })
        })
    }

    /// Destroys what is due at `now`. There is no other instant: a destruction happens on
    /// the real clock, and its certificate says the rule's date had passed (PROOF-2).
    pub fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, Error> {
        let details = format!("at={} dry_run=false", rfc3339(now));
        self.door(Action::Sweep, vec![], details, now, |_| {
            // One real sweep at a time: another waits for it, then finds done what it did
            // (two sweeps racing on one dataset would record false failures).
            let lock_path = self.dir.join("run").join("sweep.lock");
            let lock = crate::lock_file(&lock_path)?;
            lock.lock().map_err(|source| Error::Io { path: lock_path.clone(), source })?;
            // And one across the nodes of a PostgreSQL catalog, let go when this sweep ends.
            self.catalog.hold_lock("sweep")?;
            let swept = self.sweep_locked(now);
            let _ = self.catalog.let_go("sweep");
            drop(lock);
            swept
        })
    }

    fn sweep_locked(&self, now: DateTime<Utc>) -> Result<SweepReport, Error> {
        {
            let (due, held) = self.due(now)?;
            let mut report = SweepReport { due, held, ..SweepReport::default() };
            let stores: HashMap<String, Store> = self
                .catalog
                .stores()?
                .iter()
                .map(|s| Ok((s.name.clone(), self.open_store(s)?)))
                .collect::<Result<_, Error>>()?;
            for item in &report.due {
                match self.destroy(item, &stores, now) {
                    Ok(index) => report.destroyed.push((item.dataset.id.clone(), index)),
                    Err(e) => {
                        // Ops hear of it (issue 15), once a day per dataset at most.
                        let why = if matches!(e, Error::Unattested(_)) { "copy-unattested" } else { "error" };
                        if let Err(e) = self.alert_blocked(item, why, now) {
                            tracing::error!("could not write the sweep's alert: {e}");
                        }
                        report.blocked.push((item.dataset.id.clone(), e.to_string()))
                    }
                }
            }
            // The WAL still holds the pages with the keys just shredded: write it back
            // into the (secure_delete) database and truncate it.
            self.catalog.checkpoint_wal()?;
            // Then a certificate for every destruction without one (this sweep's, or one
            // a crash left uncertified).
            let uncertified = self.catalog.uncertified()?;
            if uncertified.is_empty() {
                return Ok(report);
            }
            // One checkpoint, signed after every destruction event, proves them all.
            let checkpoint = self.sign_checkpoint(now)?;
            for id in uncertified {
                match self.issue_certificate(&id, &checkpoint, now) {
                    Ok(c) => report.certificates.push((id, c.id)),
                    Err(e) => report.blocked.push((id, format!("no certificate yet: {e}"))),
                }
            }
            Ok(report)
        }
    }

    /// A due dataset the sweep could not destroy: ops are told (at most once a day each).
    fn alert_blocked(&self, item: &DueItem, why: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let ds = &item.dataset;
        let at = rfc3339(now);
        let day_ago = rfc3339(now - chrono::Duration::days(1));
        self.catalog.write(|c| {
            if c.notified_since("sweep-blocked", &ds.id, &day_ago)? {
                return Ok(());
            }
            let facts = format!("at={at}\nwhy={why}\nclause={}", item.due.clause);
            let ops = c.people_in("ops", None)?;
            c.notify("sweep-blocked", &ops, Some(&ds.client), &ds.id, &facts, &at)
        })
    }

    /// The dataset with its fate: its contract's phase and when the rules destroy it.
    pub(crate) fn with_fate(&self, mut ds: crate::Dataset, now: DateTime<Utc>) -> Result<crate::Dataset, Error> {
        let contract = match &ds.contract {
            Some(k) => Some(self.catalog.contract(k)?.contract),
            None => None,
        };
        let parse = |s: &str| DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc));
        let holds: Vec<lifecycle::Hold> =
            ds.holds.iter().filter_map(|h| Some((parse(&h.held)?, h.released.as_deref().and_then(parse)))).collect();
        let created = parse(&ds.created).unwrap_or(now);
        let phase = if ds.destruction.is_some() {
            "destroyed".to_owned()
        } else {
            contract.as_ref().map_or(lifecycle::Phase::Operation, |c| c.phase(now)).as_str().to_owned()
        };
        let due = lifecycle::due(ds.class, contract.as_ref(), created, self.config.export_days);
        let held = holds.iter().any(|h| h.1.is_none());
        let at = due.as_ref().and_then(|d| lifecycle::paused(d.at, &holds));
        ds.fate = Some(crate::Fate {
            phase,
            due: at.map(crate::rfc3339),
            rule: due.as_ref().map(|d| d.rule.to_owned()),
            clause: due.as_ref().map(|d| d.clause.to_owned()),
            held,
        });
        Ok(ds)
    }

    /// What is due at `at`, and what would be but for a hold.
    pub(crate) fn due(&self, at: DateTime<Utc>) -> Result<(Vec<DueItem>, Vec<DueItem>), Error> {
        let mut contracts: HashMap<String, lifecycle::Contract> = HashMap::new();
        let mut out = Vec::new();
        let mut held = Vec::new();
        for c in self.catalog.sweep_candidates(at, self.config.export_days)? {
            if let Some(k) = &c.contract
                && !contracts.contains_key(k)
            {
                contracts.insert(k.clone(), self.catalog.contract(k)?.contract);
            }
            let contract = c.contract.as_ref().and_then(|k| contracts.get(k));
            let due = lifecycle::due_at(c.class, contract, c.created, self.config.export_days, &c.holds, at);
            let due = match (due, c.destroying) {
                (Some(d), _) => d,
                // A crashed sweep's half-done destruction is finished whatever the date.
                (None, true) => lifecycle::Due { at: c.created, rule: "an interrupted destruction", clause: "PROOF-2" },
                (None, false) => {
                    // The rule's date has passed, but a hold stops the clock: listed as held.
                    if let Some(d) = lifecycle::due(c.class, contract, c.created, self.config.export_days)
                        && d.at <= at
                        && !c.holds.is_empty()
                    {
                        held.push(DueItem { dataset: self.catalog.dataset(&c.id)?, due: d });
                    }
                    continue;
                }
            };
            out.push(DueItem { dataset: self.catalog.dataset(&c.id)?, due });
        }
        Ok((out, held))
    }

    /// Destroys one due dataset; returns the ledger index of its event.
    fn destroy(&self, item: &DueItem, stores: &HashMap<String, Store>, now: DateTime<Utc>) -> Result<u64, Error> {
        let ds = &item.dataset;
        let mut resources = vec![format!("dataset:{}", ds.id), format!("client:{}", ds.client)];
        resources.extend(ds.contract.iter().map(|c| format!("contract:{c}")));
        resources.extend(ds.copies.iter().map(|c| format!("store:{}", c.store)));
        let details = format!("rule={}", item.due.rule);
        let ask = crate::door::Ask { clause: Some(item.due.clause), kind: None };
        self.door_with(Action::DatasetDestroy, resources, details, ask, now, |rec| {
            if self.catalog.held(&ds.id)? {
                return Err(Error::Held(ds.id.clone()));
            }
            // 1. The key: from here on no copy anywhere can be decrypted.
            self.catalog.write(|c| c.shred(&ds.id, &rfc3339(now), item.due.rule, item.due.clause))?;
            // 2. Every in-vault copy, checked gone.
            for copy in &ds.copies {
                let store = stores.get(&copy.store).ok_or_else(|| Error::UnknownStore(copy.store.clone()))?;
                store.remove_partial(&copy.object)?;
                store.delete(&copy.object)?;
                if store.exists(&copy.object)? {
                    return Err(Error::Corrupt(format!(
                        "{} is still on store {} after its deletion",
                        copy.object, copy.store
                    )));
                }
            }
            // 3. Every copy that left the vault (PRE-6: all copies, on every medium) must be
            //    attested destroyed by its holder; the client's own exports do not count.
            let waiting: Vec<String> = self
                .catalog
                .out_copies(Some(&ds.id))?
                .into_iter()
                .filter(|c| c.kind == "environment" && c.attested.is_none())
                .map(|c| format!("copy {} on {} held by {}", c.id, c.environment, c.holder))
                .collect();
            if !waiting.is_empty() {
                return Err(Error::Unattested(waiting.join(", ")));
            }
            // 4. The record, in the transaction that marks it destroyed.
            let index = self.catalog.ledger_size()?;
            self.record(rec, Outcome::Allowed, |c| c.mark_destroyed(&ds.id))?;
            Ok(index)
        })
    }

    /// Places a legal hold on a dataset: its clock stops until released.
    pub fn hold(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), Error> {
        self.door(Action::DatasetHold, vec![format!("dataset:{id}")], format!("reason={reason}"), now, |rec| {
            let ds = self.lookup(id, rec)?;
            if ds.destruction.is_some() {
                return Err(Error::Destroyed {
                    id: id.to_owned(),
                    at: ds.destruction.map(|d| d.at).unwrap_or_default(),
                    certificate: self.catalog.certificates(Some(id))?.into_iter().next().map(|c| c.0),
                });
            }
            crate::text::check("hold reason", reason, false)?;
            if reason.trim().is_empty() {
                return Err(Error::InvalidName {
                    what: "hold reason",
                    value: crate::quote_input(reason),
                    rule: "say why the dataset is held",
                });
            }
            self.record(rec, Outcome::Allowed, |c| c.hold(id, &rfc3339(now), reason))
        })
    }

    /// Releases a dataset's holds; its clock runs again.
    pub fn release(&self, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        self.door(Action::DatasetRelease, vec![format!("dataset:{id}")], String::new(), now, |rec| {
            self.lookup(id, rec)?;
            if !self.catalog.held(id)? {
                return Err(Error::NotHeld(id.to_owned()));
            }
            self.record(rec, Outcome::Allowed, |c| c.release(id, &rfc3339(now)).map(|_| ()))
        })
    }
}
