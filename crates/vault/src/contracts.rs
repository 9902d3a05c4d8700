//! Contracts and their phases: pre-sales, the deal, VSR, the end, custody, the admin
//! window (OPS-4, recorded here, enforced by the policy later). The rules are the
//! `lifecycle` crate's; this module records and checks them through the one door.

use chrono::{DateTime, Utc};

use crate::catalog::ContractRow;
use crate::event::Action;
use crate::{Error, Outcome, Vault, check_name, rfc3339};

/// The dates `contract set` may change; `None` leaves one as it is.
#[derive(Debug, Default)]
pub struct ContractDates<'a> {
    /// End of the regular-service verification period (OPS-3).
    pub vsr_until: Option<&'a str>,
    /// End of the contract.
    pub ends: Option<&'a str>,
    /// Custody after the end, 0 (ARC-2) to 12 (ARC-1) months.
    pub custody_months: Option<u32>,
    /// End of the window in which the client's admin accounts may still read (OPS-4).
    pub admin_window_until: Option<&'a str>,
}

impl Vault {
    /// Opens a case for `client`, with the end of its pre-sales period if there is one.
    pub fn add_contract(
        &self,
        case: &str,
        client: &str,
        presales_until: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ContractRow, Error> {
        let resources = vec![format!("contract:{case}"), format!("client:{client}")];
        self.door(Action::ContractAdd, resources, String::new(), now, |rec| {
            check_name("case name", case)?;
            if !self.catalog.has_client(client)? {
                return Err(Error::UnknownClient(client.to_owned()));
            }
            let presales = presales_until.map(lifecycle::parse_until).transpose()?;
            if let Some(p) = presales
                && p <= now
            {
                return Err(lifecycle::Error::OutOfOrder(format!(
                    "the pre-sales period cannot end (through {}) before it starts ({})",
                    lifecycle::show_until(p),
                    lifecycle::show_instant(now)
                ))
                .into());
            }
            let row = ContractRow {
                contract: lifecycle::Contract::new(case, presales),
                client: client.to_owned(),
                created: rfc3339(now),
            };
            self.record(rec, Outcome::Allowed, |c| c.add_contract(&row))?;
            Ok(row)
        })
    }

    /// Records whether the deal was concluded or lost (once).
    pub fn decide(
        &self,
        case: &str,
        concluded: bool,
        on: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ContractRow, Error> {
        let details = format!("concluded={concluded}");
        self.door(Action::ContractDeal, vec![format!("contract:{case}")], details, now, |rec| {
            let row = self.catalog.contract(case)?;
            rec.resources.push(format!("client:{}", row.client));
            let on = on.map(lifecycle::parse_instant).transpose()?.unwrap_or(now);
            let deal = if concluded { lifecycle::Deal::Concluded { on } } else { lifecycle::Deal::Lost { on } };
            // Read, decided and written in one write transaction: of two deals recorded at
            // once, the second finds the first and is refused.
            self.record(rec, Outcome::Allowed, |c| {
                let mut row = c.contract(case)?;
                row.contract.decide(deal, lifecycle::parse_instant(&row.created)?, now)?;
                c.update_contract(&row.contract)?;
                Ok(row)
            })
        })
    }

    /// Sets a contract's later dates and custody; the whole is checked before anything
    /// is recorded.
    pub fn set_contract(
        &self,
        case: &str,
        dates: &ContractDates<'_>,
        now: DateTime<Utc>,
    ) -> Result<ContractRow, Error> {
        self.door(Action::ContractSet, vec![format!("contract:{case}")], format!("{dates:?}"), now, |rec| {
            let row = self.catalog.contract(case)?;
            rec.resources.push(format!("client:{}", row.client));
            self.record(rec, Outcome::Allowed, |cat| {
                let mut row = cat.contract(case)?;
                set_dates(&mut row.contract, dates, now)?;
                cat.update_contract(&row.contract)?;
                Ok(row)
            })
        })
    }

    /// One contract.
    pub fn contract(&self, case: &str, now: DateTime<Utc>) -> Result<ContractRow, Error> {
        self.door(Action::ContractShow, vec![format!("contract:{case}")], String::new(), now, |rec| {
            let row = self.catalog.contract(case)?;
            rec.resources.push(format!("client:{}", row.client));
            Ok(row)
        })
    }

    /// Every contract, or one client's; only those the actor may `show` (a client's
    /// people see their client's, never another's).
    pub fn contracts(&self, client: Option<&str>, now: DateTime<Utc>) -> Result<Vec<ContractRow>, Error> {
        let resources = client.map(|c| vec![format!("client:{c}")]).unwrap_or_default();
        self.door(Action::ContractList, resources, String::new(), now, |_| {
            if let Some(c) = client
                && !self.catalog.has_client(c)?
            {
                return Err(Error::UnknownClient(c.to_owned()));
            }
            let all = match client {
                Some(c) => self.catalog.client_contracts(c)?,
                None => self.catalog.contracts(None)?,
            };
            self.visible(all, Action::ContractShow, |c| format!("contract:{}", c.contract.case), now)
        })
    }
}

/// Applies `contract set` to a contract, checked as a whole. A date that has passed is
/// history: it cannot be moved (moving a passed end or a closed admin window would reopen
/// what closed, OPS-4 and ARC-1), and an admin window cannot be added once the contract's
/// end has passed (without one it closed with the contract).
fn set_dates(c: &mut lifecycle::Contract, dates: &ContractDates<'_>, now: DateTime<Utc>) -> Result<(), Error> {
    let orig = c.clone();
    let passed = |what: &str, at: DateTime<Utc>| {
        Error::Lifecycle(lifecycle::Error::OutOfOrder(format!(
            "the {what} passed on {}: a date that has passed cannot be moved (it would reopen what closed)",
            lifecycle::show_until(at)
        )))
    };
    if let Some(v) = dates.vsr_until {
        let new = lifecycle::parse_until(v)?;
        if let Some(old) = orig.vsr_until.filter(|o| *o <= now && *o != new) {
            return Err(passed("VSR period", old));
        }
        c.vsr_until = Some(new);
    }
    if let Some(e) = dates.ends {
        let new = lifecycle::parse_until(e)?;
        if let Some(old) = orig.ends.filter(|o| *o <= now && *o != new) {
            return Err(passed("contract's end", old));
        }
        c.ends = Some(new);
    }
    if let Some(m) = dates.custody_months {
        // Once custody has run out (its backups were due), it cannot be lengthened back.
        if let Some(end) = orig.ends
            && let Some(out) = end.checked_add_months(chrono::Months::new(orig.custody_months))
            && out <= now
            && m != orig.custody_months
        {
            return Err(passed("custody period", out));
        }
        c.custody_months = m;
    }
    if let Some(w) = dates.admin_window_until {
        let new = lifecycle::parse_until(w)?;
        // Without a window of its own, the window closed with the contract.
        if let Some(old) =
            orig.admin_window_until.or(orig.ends).filter(|o| *o <= now && Some(new) != orig.admin_window_until)
        {
            return Err(passed("admin window", old));
        }
        c.admin_window_until = Some(new);
    }
    Ok(c.check()?)
}
