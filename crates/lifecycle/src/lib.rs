//! gardien's retention rules, as pure functions of values: contract phases, and the
//! instant from which each class of data is due for destruction (PROOF-2: time limits are
//! enforced by the system on the date). Time is always passed in.
//!
//! | class | due when | clause |
//! | --- | --- | --- |
//! | presales-sample | the pre-sales period ends (or the deal is lost) without a concluded deal; with a concluded deal it is loading data | PRE-6 |
//! | loading-data | the VSR period ends | OPS-3 |
//! | backup, archive | the contract's end + custody months (0 to 12, default 6) | ARC-1, ARC-2 |
//! | export | N days after creation (default 30) | OPS-2 |
//! | other | never by rule | |
//!
//! A period "until D" given as a day lasts through the whole of D (UTC unless a zone is
//! given): it ends at the next midnight. A legal hold pauses the clock: the time a dataset
//! spends held is added to its due date, and an open hold means it is not due.
//!
//! Architecture invariant: this crate knows no storage, no CLI and no clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

/// Custody after a contract's end when the contract says nothing (ARC-1: "usually 6
/// months to a year").
pub const DEFAULT_CUSTODY_MONTHS: u32 = 6;
/// The longest custody the policy allows (ARC-1).
pub const MAX_CUSTODY_MONTHS: u32 = 12;
/// Days an export is kept when the config says nothing.
pub const DEFAULT_EXPORT_DAYS: u32 = 30;

/// What the rules refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not an ISO 8601 day or instant.
    #[error(
        "'{0}' is not a date: use a day (2026-12-31) or an instant (2026-12-31T18:00:00Z, 2026-12-31T18:00:00+01:00)"
    )]
    BadDate(String),
    /// A date outside the years 2000 to 2999.
    #[error("'{0}' is out of range: dates are between the years 2000 and 2999")]
    DateOutOfRange(String),
    /// Custody outside 0..=12 months.
    #[error("custody of {0} months refused: ARC-1 and ARC-2 allow 0 to 12 months")]
    Custody(u32),
    /// Dates that contradict each other.
    #[error("{0}")]
    OutOfOrder(String),
    /// Not one of the dataset classes.
    #[error("unknown class '{0}'; the classes are presales-sample, loading-data, backup, archive, export, other")]
    UnknownClass(String),
    /// The deal was already decided.
    #[error("the deal of case {case} was already decided ({decided}); it cannot be decided again")]
    AlreadyDecided {
        /// The case.
        case: String,
        /// What it was decided as.
        decided: String,
    },
}

/// The first year a date may name: nothing gardien keeps predates it.
pub const FIRST_YEAR: i32 = 2000;
/// The last year a date may name (a typo such as 20277 is refused, not kept for ever).
pub const LAST_YEAR: i32 = 2999;

fn in_range(s: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, Error> {
    let year = chrono::Datelike::year(&t);
    if (FIRST_YEAR..=LAST_YEAR).contains(&year) { Ok(t) } else { Err(Error::DateOutOfRange(s.to_owned())) }
}

/// Parses a period's end: a day means "through that day" (the next midnight, UTC); an
/// instant without a zone is UTC. Years 2000 to 2999 only.
pub fn parse_until(s: &str) -> Result<DateTime<Utc>, Error> {
    let s = s.trim();
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // The period's end is the next midnight, and that is what is stored: it must be in
        // range too (2999-12-31 would end in 3000).
        in_range(s, Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).ok_or_else(|| Error::BadDate(s.to_owned()))?))?;
        let next = day.succ_opt().ok_or_else(|| Error::BadDate(s.to_owned()))?;
        let end = Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).ok_or_else(|| Error::BadDate(s.to_owned()))?);
        return in_range(s, end);
    }
    parse_instant(s)
}

/// Parses an instant: RFC 3339 with a zone, or without one (UTC), or a day (its midnight).
/// Years 2000 to 2999 only.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, Error> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(s, t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return in_range(s, Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = day.and_hms_opt(0, 0, 0)
    {
        return in_range(s, Utc.from_utc_datetime(&t));
    }
    Err(Error::BadDate(s.to_owned()))
}

/// How a person reads an instant: `2027-06-30 18:00 UTC`, or the day alone at midnight.
pub fn show_instant(t: DateTime<Utc>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// How a person reads the end of a period given "until D": the last day it includes
/// (`parse_until("2027-06-30")` is shown `2027-06-30`), or the instant if it is not a
/// midnight.
pub fn show_until(t: DateTime<Utc>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        (t - Duration::days(1)).format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// The outcome of a pre-sales case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deal {
    /// Not decided yet.
    Undecided,
    /// Concluded: the sample becomes loading data.
    Concluded {
        /// When.
        on: DateTime<Utc>,
    },
    /// Lost: the pre-sales period ends then (PRE-6).
    Lost {
        /// When.
        on: DateTime<Utc>,
    },
}

impl Deal {
    /// `undecided`, `concluded` or `lost`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Deal::Undecided => "undecided",
            Deal::Concluded { .. } => "concluded",
            Deal::Lost { .. } => "lost",
        }
    }
}

/// A contract's dates, as far as retention is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The case name.
    pub case: String,
    /// When the pre-sales period ends (exclusive), if there is one.
    pub presales_until: Option<DateTime<Utc>>,
    /// The deal.
    pub deal: Deal,
    /// When the regular-service verification period ends (exclusive).
    pub vsr_until: Option<DateTime<Utc>>,
    /// When the contract ends (exclusive).
    pub ends: Option<DateTime<Utc>>,
    /// Custody after the end, 0 to 12 months.
    pub custody_months: u32,
    /// Until when the client's admin accounts may still read their data (OPS-4).
    pub admin_window_until: Option<DateTime<Utc>>,
}

impl Contract {
    /// A new case, checked.
    pub fn new(case: &str, presales_until: Option<DateTime<Utc>>) -> Contract {
        Contract {
            case: case.to_owned(),
            presales_until,
            deal: Deal::Undecided,
            vsr_until: None,
            ends: None,
            custody_months: DEFAULT_CUSTODY_MONTHS,
            admin_window_until: None,
        }
    }

    /// Records the deal, dated `on`; deciding twice is refused, and so is a date before
    /// the contract was opened (`opened`), after `now`, or after the pre-sales period ended
    /// (a late "concluded" must not suspend PRE-6 for the gap: the sample was due then).
    pub fn decide(&mut self, deal: Deal, opened: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Error> {
        if self.deal != Deal::Undecided {
            return Err(Error::AlreadyDecided { case: self.case.clone(), decided: self.deal.as_str().to_owned() });
        }
        let on = match deal {
            Deal::Undecided => return Ok(()),
            Deal::Concluded { on } | Deal::Lost { on } => on,
        };
        // A deal dated by a day (its midnight) on the day the case was opened is fine.
        let opened_day = Utc.from_utc_datetime(&opened.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
        if on < opened_day {
            return Err(Error::OutOfOrder(format!(
                "the deal cannot be dated {}, before case {} was opened ({})",
                show_instant(on),
                self.case,
                show_instant(opened)
            )));
        }
        if on > now {
            return Err(Error::OutOfOrder(format!(
                "the deal cannot be dated {}, in the future: record it when it is decided",
                show_instant(on)
            )));
        }
        // Recorded after the period ended, whatever date it is given: the samples were due
        // when it ended (PRE-6), and a backdated deal must not rescue them.
        if let Some(p) = self.presales_until
            && (on >= p || now >= p)
        {
            return Err(Error::OutOfOrder(format!(
                "the pre-sales period of case {} ended on {} without a deal: its samples were due for destruction then (PRE-6); a deal dated {} is too late",
                self.case,
                show_until(p),
                show_instant(on)
            )));
        }
        self.deal = deal;
        Ok(())
    }

    /// Checks that the dates are in order and the custody within ARC-1/ARC-2.
    pub fn check(&self) -> Result<(), Error> {
        if self.custody_months > MAX_CUSTODY_MONTHS {
            return Err(Error::Custody(self.custody_months));
        }
        if let (Some(v), Some(e)) = (self.vsr_until, self.ends)
            && e < v
        {
            return Err(Error::OutOfOrder(format!(
                "the contract cannot end (through {}) before its VSR period (through {})",
                show_until(e),
                show_until(v)
            )));
        }
        if let (Some(p), Some(v)) = (self.presales_until, self.vsr_until)
            && v < p
        {
            return Err(Error::OutOfOrder(format!(
                "the VSR period cannot end (through {}) before the pre-sales period (through {})",
                show_until(v),
                show_until(p)
            )));
        }
        if let (Some(e), Some(w)) = (self.ends, self.admin_window_until)
            && w < e
        {
            return Err(Error::OutOfOrder(format!(
                "the admin window cannot close (through {}) before the contract ends (through {})",
                show_until(w),
                show_until(e)
            )));
        }
        Ok(())
    }
}

/// Where a contract stands on a date, as the access policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No deal concluded yet, or the case was lost (PRE-*).
    PreSales,
    /// The deal is concluded and the contract has not ended.
    Operation,
    /// The contract has ended; its admin window is open (OPS-4).
    AdminWindow,
    /// The contract has ended and its admin window has closed: custody only (ARC-1).
    Closed,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 4] = [Phase::PreSales, Phase::Operation, Phase::AdminWindow, Phase::Closed];

    /// The name used in the policy (`pre-sales`, `operation`, `admin-window`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PreSales => "pre-sales",
            Phase::Operation => "operation",
            Phase::AdminWindow => "admin-window",
            Phase::Closed => "closed",
        }
    }
}

impl Contract {
    /// When the pre-sales period ended without a concluded deal (PRE-6): a lost deal's
    /// date (or the pre-sales end, if earlier), an undecided case's pre-sales end. `None`
    /// for a concluded deal, and for an undecided contract with no pre-sales period.
    pub fn presales_ended(&self) -> Option<DateTime<Utc>> {
        match self.deal {
            Deal::Concluded { .. } => None,
            Deal::Lost { on } => Some(self.presales_until.map_or(on, |p| p.min(on))),
            Deal::Undecided => self.presales_until,
        }
    }

    /// The contract's phase at `now`: the one answer the access policy and the sweeper
    /// share (`due` is built on the same instants).
    ///
    /// - The contract's end (`ends`) closes it whatever its deal: then the admin window
    ///   (OPS-4) runs until `admin_window_until` (none: it closes with the contract), then
    ///   custody (ARC-1).
    /// - A case whose pre-sales period ended without a deal (lost, or lapsed undecided) is
    ///   closed: its samples are due (PRE-6) and nobody reads them meanwhile.
    /// - A concluded deal is in operation from its date; before it, pre-sales.
    /// - An undecided case with a pre-sales period is in pre-sales; a contract without a
    ///   pre-sales period and without a deal (a hosting contract, for backups) is in
    ///   operation from its start.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if let Some(end) = self.ends
            && now >= end
        {
            return match self.admin_window_until {
                Some(w) if now < w => Phase::AdminWindow,
                _ => Phase::Closed,
            };
        }
        if self.presales_ended().is_some_and(|t| now >= t) {
            return Phase::Closed;
        }
        match self.deal {
            Deal::Concluded { on } if now >= on => Phase::Operation,
            Deal::Concluded { .. } | Deal::Lost { .. } => Phase::PreSales,
            Deal::Undecided if self.presales_until.is_some() => Phase::PreSales,
            Deal::Undecided => Phase::Operation,
        }
    }

    /// The most open of several contracts' phases (operation, then the admin window, then
    /// pre-sales, then closed): a client's standing. No contract: operation.
    pub fn most_open<'a>(contracts: impl IntoIterator<Item = &'a Contract>, now: DateTime<Utc>) -> Phase {
        let rank = |p: Phase| match p {
            Phase::Operation => 3,
            Phase::AdminWindow => 2,
            Phase::PreSales => 1,
            Phase::Closed => 0,
        };
        let mut any = false;
        let mut best = Phase::Closed;
        for c in contracts {
            any = true;
            let p = c.phase(now);
            if rank(p) > rank(best) {
                best = p;
            }
        }
        if any { best } else { Phase::Operation }
    }
}

/// A class of data, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// PRE-*.
    PresalesSample,
    /// OPS-3.
    LoadingData,
    /// ARC-1.
    Backup,
    /// ARC-1.
    Archive,
    /// OPS-2.
    Export,
    /// No rule.
    Other,
}

impl Class {
    /// Every class, in the order `--help` lists them.
    pub const ALL: [Class; 6] =
        [Class::PresalesSample, Class::LoadingData, Class::Backup, Class::Archive, Class::Export, Class::Other];

    /// The name used on the command line, in JSON and in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::PresalesSample => "presales-sample",
            Class::LoadingData => "loading-data",
            Class::Backup => "backup",
            Class::Archive => "archive",
            Class::Export => "export",
            Class::Other => "other",
        }
    }

    /// Whether datasets of this class must belong to a contract.
    pub fn needs_contract(self) -> bool {
        match self {
            Class::PresalesSample | Class::LoadingData | Class::Backup | Class::Archive => true,
            Class::Export | Class::Other => false,
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Class {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Class::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| Error::UnknownClass(s.to_owned()))
    }
}

/// Why and from when a dataset is to be destroyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// From this instant on.
    pub at: DateTime<Utc>,
    /// The rule, in words.
    pub rule: &'static str,
    /// The clause.
    pub clause: &'static str,
}

/// When a dataset becomes due, before holds; `None` while its rule has no date yet (no VSR
/// end, no contract end, an undecided deal with no pre-sales end) or it has no rule.
pub fn due(class: Class, contract: Option<&Contract>, created: DateTime<Utc>, export_days: u32) -> Option<Due> {
    match class {
        Class::Export => Some(Due {
            at: created + Duration::days(i64::from(export_days)),
            rule: "export kept N days after creation",
            clause: "OPS-2",
        }),
        Class::Other => None,
        Class::PresalesSample => {
            let c = contract?;
            let rule = match c.deal {
                Deal::Concluded { .. } => return due(Class::LoadingData, contract, created, export_days),
                Deal::Lost { .. } => "pre-sales ended without a deal (lost)",
                Deal::Undecided => "pre-sales period ended without a concluded deal",
            };
            // The same instants as `Contract::phase`: the pre-sales end without a deal, or
            // the contract's end if it comes first (the phase is closed from either).
            let at = match (c.presales_ended(), c.ends) {
                (Some(p), Some(e)) => p.min(e),
                (p, e) => p.or(e)?,
            };
            Some(Due { at, rule, clause: "PRE-6" })
        }
        Class::LoadingData => Some(Due { at: contract?.vsr_until?, rule: "the VSR period ended", clause: "OPS-3" }),
        Class::Backup | Class::Archive => {
            let c = contract?;
            let end = c.ends?;
            let at = end.checked_add_months(Months::new(c.custody_months))?;
            let (rule, clause) = if c.custody_months == 0 {
                ("the contract ended, with no custody period", "ARC-2")
            } else {
                ("the custody period after the contract's end ran out", "ARC-1")
            };
            Some(Due { at, rule, clause })
        }
    }
}

/// A legal hold: from, and until (open if `None`).
pub type Hold = (DateTime<Utc>, Option<DateTime<Utc>>);

/// Shifts a due instant by the time spent under holds that began before it: the clock is
/// paused while held. `None` while any hold is open.
pub fn paused(due_at: DateTime<Utc>, holds: &[Hold]) -> Option<DateTime<Utc>> {
    // An open hold stops destruction whenever it was placed, even on an overdue dataset.
    if holds.iter().any(|h| h.1.is_none()) {
        return None;
    }
    let mut holds = holds.to_vec();
    holds.sort_by_key(|h| h.0);
    let mut at = due_at;
    for (from, until) in holds {
        if from >= at {
            break;
        }
        at += until? - from;
    }
    Some(at)
}

/// Whether a dataset is due at `now`: its rule, with the clock paused by its holds.
pub fn due_at(
    class: Class,
    contract: Option<&Contract>,
    created: DateTime<Utc>,
    export_days: u32,
    holds: &[Hold],
    now: DateTime<Utc>,
) -> Option<Due> {
    let d = due(class, contract, created, export_days)?;
    let at = paused(d.at, holds)?;
    (now >= at).then_some(Due { at, ..d })
}

#[cfg(test)]
mod tests;
