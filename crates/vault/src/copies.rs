//! Copies that leave the vault (PRE-5: a sample installed on a local test machine) and
//! their attested destruction (PRE-6: every copy, on every medium). A destruction is not
//! complete, and its certificate not issued, while a copy it knows of is not attested.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use rand::RngCore as _;

use crate::catalog::OutCopy;
use crate::event::Action;
use crate::{Error, Outcome, Progress, Vault};

/// A fresh copy id: `cp-` and 12 hex digits.
pub(crate) fn new_copy_id() -> String {
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("cp-{}", hex::encode(b))
}

/// Where `copy out` writes the plaintext.
pub enum CopyTarget<'a> {
    /// A new file (refused if it exists, unless `force`).
    File {
        /// The path.
        path: &'a Path,
        /// Overwrite.
        force: bool,
    },
    /// A stream, such as stdout piped to an installer.
    Stream(&'a mut (dyn Write + Send)),
}

impl Vault {
    /// Decrypts a dataset onto a registered environment (its holder holds the copy), and
    /// records the copy in the same transaction as the event. The policy decides where a
    /// copy may go (PRE-3, PRE-4, PRE-5 for samples).
    pub fn copy_out(
        &self,
        id: &str,
        environment: &str,
        target: CopyTarget<'_>,
        progress: &dyn Progress,
        now: DateTime<Utc>,
    ) -> Result<OutCopy, Error> {
        let resources = vec![format!("dataset:{id}"), format!("environment:{environment}")];
        let details = format!("environment={environment}");
        self.door(Action::CopyOut, resources, details, now, |rec| {
            let env = self.catalog.environment(environment)?;
            let copy = OutCopy {
                id: new_copy_id(),
                dataset: id.to_owned(),
                kind: "environment".into(),
                environment: env.name.clone(),
                holder: env.holder.clone().unwrap_or_else(|| self.actor.clone()),
                created: rec.time().to_owned(),
                attested: None,
            };
            rec.resources.push(format!("copy:{}", copy.id));
            let change = |c: &crate::catalog::Catalog| c.add_out_copy(&copy);
            match target {
                CopyTarget::File { path, force } => self.get_to_file_inner(id, path, force, progress, rec, &change)?,
                CopyTarget::Stream(out) => self.get_stream_inner(id, out, progress, rec, &change)?,
            }
            Ok(copy)
        })
    }

    /// The copies that left the vault, of one dataset or all.
    pub fn out_copies(&self, dataset: Option<&str>, now: DateTime<Utc>) -> Result<Vec<OutCopy>, Error> {
        let resources = dataset.map(|d| vec![format!("dataset:{d}")]).unwrap_or_default();
        self.door(Action::CopyList, resources, String::new(), now, |_| {
            if let Some(d) = dataset {
                self.catalog.dataset(d)?;
            }
            let all = self.catalog.out_copies(dataset)?;
            self.visible(all, Action::DatasetShow, |c| format!("dataset:{}", c.dataset), now)
        })
    }

    /// Records that the holder of a copy destroyed it. The holder attests it themselves,
    /// or the ops team records it on the holder's word (and the certificate says so);
    /// `by`, if given, must name the holder.
    pub fn attest(
        &self,
        dataset: &str,
        copy: &str,
        by: Option<&str>,
        method: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<OutCopy, Error> {
        let resources = vec![format!("dataset:{dataset}"), format!("copy:{copy}")];
        let details = format!("by={} method={}", by.unwrap_or(""), method.unwrap_or(""));
        self.door(Action::CopyAttest, resources, details, now, |rec| {
            self.catalog.dataset(dataset)?;
            let mut c = self
                .catalog
                .out_copies(Some(dataset))?
                .into_iter()
                .find(|c| c.id == copy && c.kind == "environment")
                .ok_or_else(|| Error::UnknownCopy { dataset: dataset.to_owned(), copy: copy.to_owned() })?;
            if let Some(m) = method {
                crate::text::check("method", m, false)?;
            }
            if let Some(b) = by
                && b != c.holder
            {
                return Err(Error::Refused {
                    clauses: vec!["PRE-6".into()],
                    reason: format!(
                        "copy {copy} is held by {}: its destruction is attested by its holder (--by {} or no --by), not by {}",
                        c.holder,
                        c.holder,
                        crate::quote_input(b)
                    ),
                });
            }
            // (Who may attest is the policy's: the holder, `the-holder-attests`, or the
            // ops team, recorded as such.)
            if let Some((at, who, _)) = &c.attested {
                return Err(Error::AlreadyAttested { copy: copy.to_owned(), at: at.clone(), by: who.clone() });
            }
            let at = crate::rfc3339(now);
            // Who recorded it: the holder, or ops on their word (the holder is on the row).
            let recorder = self.actor.clone();
            self.record(rec, Outcome::Allowed, |cat| cat.attest(copy, &at, &recorder, method))?;
            c.attested = Some((at, recorder, method.map(str::to_owned)));
            Ok(c)
        })
    }
}
