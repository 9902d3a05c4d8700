//! The retention table, executable: every class and phase, around every boundary (the day
//! before, the day itself, the day after), deal concluded or not, custody 0 and 12 months,
//! with and without a hold.

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap()
}

/// A case with pre-sales through 2026-03-31, VSR through 2026-06-30, end 2027-06-30.
fn contract(deal: Deal, custody: u32) -> Contract {
    Contract {
        case: "case".into(),
        presales_until: Some(parse_until("2026-03-31").unwrap()),
        deal,
        vsr_until: Some(parse_until("2026-06-30").unwrap()),
        ends: Some(parse_until("2027-06-30").unwrap()),
        custody_months: custody,
        admin_window_until: None,
    }
}

struct Case {
    what: &'static str,
    class: Class,
    deal: Deal,
    custody: u32,
    holds: Vec<Hold>,
    at: &'static str,
    /// The clause it is due under, or None when not due.
    want: Option<&'static str>,
}

fn check(cases: &[Case]) {
    let created = t("2026-03-01T09:00:00Z");
    for c in cases {
        let k = contract(c.deal, c.custody);
        let got = due_at(c.class, Some(&k), created, DEFAULT_EXPORT_DAYS, &c.holds, t(c.at)).map(|d| d.clause);
        assert_eq!(got, c.want, "{} at {}", c.what, c.at);
    }
}

fn row(
    what: &'static str,
    class: Class,
    deal: Deal,
    custody: u32,
    at: &'static str,
    want: Option<&'static str>,
) -> Case {
    Case { what, class, deal, custody, holds: vec![], at, want }
}

#[test]
fn presales_samples_pre_6() {
    let lost = Deal::Lost { on: parse_until("2026-03-15").unwrap() };
    let won = Deal::Concluded { on: t("2026-03-20T00:00:00Z") };
    use Class::PresalesSample as S;
    check(&[
        row("undecided, the day before the end", S, Deal::Undecided, 6, "2026-03-30T12:00:00Z", None),
        row("undecided, on the last day", S, Deal::Undecided, 6, "2026-03-31T23:59:59Z", None),
        row("undecided, the day after", S, Deal::Undecided, 6, "2026-04-01T00:00:00Z", Some("PRE-6")),
        row("lost on the 15th, the day before", S, lost, 6, "2026-03-14T12:00:00Z", None),
        row("lost on the 15th, that day", S, lost, 6, "2026-03-15T12:00:00Z", None),
        row("lost on the 15th, the day after", S, lost, 6, "2026-03-16T00:00:00Z", Some("PRE-6")),
        row("concluded: loading data, kept past pre-sales", S, won, 6, "2026-04-01T00:00:00Z", None),
        row("concluded: loading data, last VSR day", S, won, 6, "2026-06-30T12:00:00Z", None),
        row("concluded: loading data, the day after VSR", S, won, 6, "2026-07-01T00:00:00Z", Some("OPS-3")),
    ]);
}

#[test]
fn loading_data_ops_3() {
    let won = Deal::Concluded { on: t("2026-03-20T00:00:00Z") };
    use Class::LoadingData as L;
    check(&[
        row("the day before the VSR end", L, won, 6, "2026-06-29T12:00:00Z", None),
        row("the VSR's last day", L, won, 6, "2026-06-30T12:00:00Z", None),
        row("the day after", L, won, 6, "2026-07-01T12:00:00Z", Some("OPS-3")),
    ]);
    let mut k = contract(won, 6);
    k.vsr_until = None;
    assert_eq!(due(L, Some(&k), t("2026-03-01T00:00:00Z"), 30), None, "no VSR date, no destruction date yet");
}

#[test]
fn backups_and_archives_arc_1_arc_2() {
    let won = Deal::Concluded { on: t("2026-03-20T00:00:00Z") };
    let mut rows = Vec::new();
    for class in [Class::Backup, Class::Archive] {
        rows.extend([
            row("custody 6, the day before", class, won, 6, "2027-12-30T12:00:00Z", None),
            row("custody 6, the last day", class, won, 6, "2027-12-31T12:00:00Z", None),
            row("custody 6 (default), the day after", class, won, 6, "2028-01-01T00:00:00Z", Some("ARC-1")),
            row("custody 12, the last day", class, won, 12, "2028-06-30T12:00:00Z", None),
            row("custody 12, the day after", class, won, 12, "2028-07-01T00:00:00Z", Some("ARC-1")),
            row("custody 0, the contract's last day", class, won, 0, "2027-06-30T12:00:00Z", None),
            row("custody 0, the day after", class, won, 0, "2027-07-01T00:00:00Z", Some("ARC-2")),
        ]);
    }
    check(&rows);
}

#[test]
fn exports_and_other() {
    let created = t("2026-03-01T09:00:00Z");
    let d = due_at(Class::Export, None, created, 30, &[], t("2026-03-31T09:00:00Z")).unwrap();
    assert_eq!((d.clause, d.at), ("OPS-2", t("2026-03-31T09:00:00Z")));
    assert_eq!(due_at(Class::Export, None, created, 30, &[], t("2026-03-31T08:59:59Z")), None);
    assert_eq!(due(Class::Other, None, created, 30), None);
    assert!(!Class::Export.needs_contract() && !Class::Other.needs_contract());
    assert!(Class::PresalesSample.needs_contract() && Class::Backup.needs_contract());
}

#[test]
fn holds_pause_the_clock() {
    use Class::PresalesSample as S;
    let hold = |from: &str, until: Option<&str>| (t(from), until.map(t));
    check(&[
        Case {
            what: "open hold",
            class: S,
            deal: Deal::Undecided,
            custody: 6,
            holds: vec![hold("2026-03-10T00:00:00Z", None)],
            at: "2027-01-01T00:00:00Z",
            want: None,
        },
        Case {
            what: "open hold placed when already overdue",
            class: S,
            deal: Deal::Undecided,
            custody: 6,
            holds: vec![hold("2026-05-01T00:00:00Z", None)],
            at: "2026-05-02T00:00:00Z",
            want: None,
        },
        Case {
            what: "a 10-day hold before the end: 10 more days",
            class: S,
            deal: Deal::Undecided,
            custody: 6,
            holds: vec![hold("2026-03-10T00:00:00Z", Some("2026-03-20T00:00:00Z"))],
            at: "2026-04-10T12:00:00Z",
            want: None,
        },
        Case {
            what: "a 10-day hold before the end, the day after the shifted end",
            class: S,
            deal: Deal::Undecided,
            custody: 6,
            holds: vec![hold("2026-03-10T00:00:00Z", Some("2026-03-20T00:00:00Z"))],
            at: "2026-04-11T00:00:00Z",
            want: Some("PRE-6"),
        },
    ]);
}

#[test]
fn dates_contract_checks_and_deciding_twice() {
    assert_eq!(parse_until("2026-03-31").unwrap(), t("2026-04-01T00:00:00Z"));
    assert_eq!(parse_until("2026-03-31T18:00:00+02:00").unwrap(), t("2026-03-31T16:00:00Z"));
    assert_eq!(parse_instant("2026-03-31T18:00:00").unwrap(), t("2026-03-31T18:00:00Z"));
    assert!(matches!(parse_until("31/03/2026"), Err(Error::BadDate(_))));
    let (opened, now) = (t("2026-01-15T00:00:00Z"), t("2026-03-12T00:00:00Z"));
    let mut k = contract(Deal::Undecided, 6);
    k.decide(Deal::Lost { on: t("2026-03-10T00:00:00Z") }, opened, now).unwrap();
    assert!(matches!(
        k.decide(Deal::Concluded { on: t("2026-03-11T00:00:00Z") }, opened, now),
        Err(Error::AlreadyDecided { .. })
    ));
    let mut k = contract(Deal::Undecided, 13);
    assert_eq!(k.check(), Err(Error::Custody(13)));
    k.custody_months = 12;
    k.ends = Some(t("2026-05-01T00:00:00Z"));
    assert!(matches!(k.check(), Err(Error::OutOfOrder(_))), "end before VSR");
    let mut k = contract(Deal::Undecided, 6);
    k.vsr_until = Some(t("2026-03-01T00:00:00Z"));
    assert!(matches!(k.check(), Err(Error::OutOfOrder(_))), "VSR before pre-sales");
    assert!(contract(Deal::Undecided, 0).check().is_ok());
}

#[test]
fn phases_around_every_boundary() {
    let concluded = Deal::Concluded { on: t("2026-03-01T00:00:00Z") };
    let lost = Deal::Lost { on: t("2026-03-01T00:00:00Z") };
    let mut windowed = contract(concluded, 6);
    windowed.admin_window_until = Some(parse_until("2027-07-31").unwrap());
    let cases = [
        (contract(Deal::Undecided, 6), "2026-02-01T00:00:00Z", Phase::PreSales),
        (contract(lost, 6), "2026-02-28T23:59:59Z", Phase::PreSales),
        // Lost: the pre-sales period ended then (PRE-6), nobody reads its samples.
        (contract(lost, 6), "2026-03-01T00:00:00Z", Phase::Closed),
        (contract(Deal::Undecided, 6), "2026-04-01T00:00:00Z", Phase::Closed),
        (contract(concluded, 6), "2027-06-30T23:59:59Z", Phase::Operation),
        // No admin window: the contract's end closes it.
        (contract(concluded, 6), "2027-07-01T00:00:00Z", Phase::Closed),
        (windowed.clone(), "2027-06-30T23:59:59Z", Phase::Operation),
        (windowed.clone(), "2027-07-01T00:00:00Z", Phase::AdminWindow),
        (windowed.clone(), "2027-07-31T23:59:59Z", Phase::AdminWindow),
        (windowed, "2027-08-01T00:00:00Z", Phase::Closed),
    ];
    for (c, at, want) in cases {
        assert_eq!(c.phase(t(at)), want, "{at} with deal {:?}", c.deal);
    }
}

#[test]
fn a_deal_is_dated_within_its_case() {
    let opened = t("2026-01-15T10:30:00Z");
    let won = |on: &str| Deal::Concluded { on: t(on) };
    // (deal date, now, accepted)
    for (on, now, ok) in [
        ("2026-03-20T00:00:00Z", "2026-03-21T00:00:00Z", true),
        ("2026-01-14T23:59:59Z", "2026-03-21T00:00:00Z", false), // before the case was opened
        ("2026-01-15T00:00:00Z", "2026-03-21T00:00:00Z", true),  // its day, given as a day
        ("2026-03-22T00:00:00Z", "2026-03-21T00:00:00Z", false), // in the future
        // After the pre-sales end (through 2026-03-31): the sample was due under PRE-6.
        ("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", false),
        ("2026-03-31T23:59:59Z", "2026-03-31T23:59:59Z", true),
        // Recorded after the period ended, backdated into it: refused (PRE-6).
        ("2026-03-15T00:00:00Z", "2026-05-01T00:00:00Z", false),
    ] {
        let mut k = contract(Deal::Undecided, 6);
        let r = k.decide(won(on), opened, t(now));
        assert_eq!(r.is_ok(), ok, "deal on {on} at {now}: {r:?}");
        assert_eq!(k.deal == Deal::Undecided, !ok, "a refused deal changes nothing");
    }
}

#[test]
fn dates_outside_2000_2999_are_refused() {
    for s in ["1999-12-31", "3000-01-01", "0001-01-01T00:00:00Z", "20277-06-30"] {
        assert!(parse_until(s).is_err() && parse_instant(s).is_err(), "{s}");
    }
    // A period through 2999-12-31 would end in 3000: refused; through 2999-12-30 is fine.
    assert!(matches!(parse_until("2999-12-31"), Err(Error::DateOutOfRange(_))));
    assert!(parse_until("2999-12-30").is_ok());
    assert!(parse_instant("2000-01-01").is_ok());
    assert_eq!(show_until(parse_until("2027-06-30").unwrap()), "2027-06-30");
    assert_eq!(show_instant(parse_until("2027-06-30").unwrap()), "2027-07-01");
    assert_eq!(show_until(t("2027-06-30T18:00:00Z")), "2027-06-30 18:00 UTC");
}

/// The policy's phase and the sweeper's rules are one reading of a contract: over every
/// combination of pre-sales date, deal, VSR, end, admin window and custody, and instants
/// on both sides of every date, nothing is due while the contract is open (pre-sales or
/// operation) but loading data after its VSR (OPS-3), and a case closed by its pre-sales
/// end without a deal has its samples due (PRE-6) at that same instant.
#[test]
fn one_phase_for_the_policy_and_the_sweeper() {
    let created = t("2026-01-20T00:00:00Z");
    let instants = [
        "2026-02-01T00:00:00Z",
        "2026-03-14T23:59:59Z",
        "2026-03-15T00:00:00Z",
        "2026-03-19T23:59:59Z",
        "2026-03-20T00:00:00Z",
        "2026-03-31T23:59:59Z",
        "2026-04-01T00:00:00Z",
        "2026-06-30T23:59:59Z",
        "2026-07-01T00:00:00Z",
        "2027-06-30T23:59:59Z",
        "2027-07-01T00:00:00Z",
        "2027-07-31T23:59:59Z",
        "2027-08-01T00:00:00Z",
        "2027-12-31T23:59:59Z",
        "2028-01-01T00:00:00Z",
        "2030-01-01T00:00:00Z",
    ];
    let deals = [
        Deal::Undecided,
        Deal::Concluded { on: t("2026-03-20T00:00:00Z") },
        Deal::Lost { on: t("2026-03-15T00:00:00Z") },
    ];
    let mut checked = 0;
    for presales in [None, Some(parse_until("2026-03-31").unwrap())] {
        for deal in deals {
            for vsr in [None, Some(parse_until("2026-06-30").unwrap())] {
                for ends in [None, Some(parse_until("2027-06-30").unwrap())] {
                    for window in [None, Some(parse_until("2027-07-31").unwrap())] {
                        for custody in [0, 6] {
                            let k = Contract {
                                case: "case".into(),
                                presales_until: presales,
                                deal,
                                vsr_until: vsr,
                                ends,
                                custody_months: custody,
                                admin_window_until: window,
                            };
                            if k.check().is_err() || (window.is_some() && ends.is_none()) {
                                continue;
                            }
                            for at in instants {
                                let now = t(at);
                                let phase = k.phase(now);
                                let due = |c: Class| due_at(c, Some(&k), created, 30, &[], now).map(|d| d.clause);
                                let what = format!("{k:?} at {at}: {phase:?}");
                                let open = matches!(phase, Phase::PreSales | Phase::Operation);
                                if open {
                                    assert_eq!(due(Class::Backup), None, "{what}");
                                    assert_eq!(due(Class::Archive), None, "{what}");
                                    assert_ne!(due(Class::PresalesSample), Some("PRE-6"), "{what}");
                                }
                                if due(Class::PresalesSample) == Some("PRE-6") || due(Class::Backup).is_some() {
                                    assert!(!open, "due, so not open: {what}");
                                }
                                if phase == Phase::Closed && k.presales_ended().is_some_and(|p| now >= p) {
                                    assert_eq!(due(Class::PresalesSample), Some("PRE-6"), "{what}");
                                }
                                if ends.is_some_and(|e| now >= e) {
                                    assert!(!open, "ended, so not open: {what}");
                                }
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

/// The README's hosting contract (no pre-sales period, no deal): in operation until its
/// end, then the admin window, then custody, as the sweeper sees it.
#[test]
fn a_hosting_contract_without_a_deal_ends_like_any_other() {
    let k = Contract {
        case: "hugo".into(),
        presales_until: None,
        deal: Deal::Undecided,
        vsr_until: None,
        ends: Some(parse_until("2027-06-30").unwrap()),
        custody_months: 6,
        admin_window_until: Some(parse_until("2027-07-31").unwrap()),
    };
    assert_eq!(k.phase(t("2027-06-30T12:00:00Z")), Phase::Operation);
    assert_eq!(k.phase(t("2027-07-01T00:00:00Z")), Phase::AdminWindow);
    assert_eq!(k.phase(t("2027-08-01T00:00:00Z")), Phase::Closed);
    assert_eq!(due(Class::Backup, Some(&k), t("2026-01-01T00:00:00Z"), 30).unwrap().at, t("2028-01-01T00:00:00Z"));
}
