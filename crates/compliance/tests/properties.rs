//! Property tests of the engine's promises (issue 2 acceptance):
//! - a call is never allowed while any candidate zone is outside 08:00-21:00 (US-REGF-01);
//! - at `next_eligible`, no time- or count-based reason fails any more;
//! - removing history never turns an allowed call into a refused one;
//! - an earlier clock never forgets history: entries later than the evaluation instant
//!   still count (fail closed, US-REGF-08/09, holds);
//! - a dialer that only dials when allowed never puts more than 7 counted calls about one
//!   debt into any 7 consecutive local dates (US-REGF-08).
//!
//! The checks recompute local times with jiff directly, not with the engine's own clock.

use std::collections::BTreeMap;

use compliance::decision::Clears;
use compliance::model::{
    Address, CallRequest, Consumer, Debt, Dial, DialMode, Direction, HistoryEntry, Outcome, Party,
    Phone, PhoneKind,
};
use compliance::policy::UnknownLocation;
use compliance::{Engine, Policy, Verdict};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

/// Prefixes across US zones, including split ones and Guam, Hawaii, Alaska, Puerto Rico.
const PREFIXES: &[&str] = &[
    "+1212555", "+1404555", "+1312555", "+1303555", "+1602555", "+1928871", "+1415555", "+1850432",
    "+1850555", "+1615555", "+1671555", "+1808555", "+1907555", "+1787555", "+1800555", "+1208555",
    "+1605555",
];
const ZIPS: &[(&str, &str)] = &[
    ("10001", "NY"),
    ("94103", "CA"),
    ("85004", "AZ"),
    ("86515", "AZ"),
    ("96910", "GU"),
    ("32501", "FL"),
    ("60601", "IL"),
    ("99501", "AK"),
    ("96813", "HI"),
    ("02108", "MA"),
    ("98101", "WA"),
    ("00901", "PR"),
    ("37201", "TN"),
];
const STATES: &[&str] = &["TN", "IN", "KY", "TX", "ID", "OR", "ND", "FL", "NV"];
const OUTCOMES: &[Outcome] = &[
    Outcome::Busy,
    Outcome::Sit,
    Outcome::Failed,
    Outcome::NoAnswer,
    Outcome::Voicemail,
    Outcome::Lcm,
    Outcome::Machine,
    Outcome::Answered,
    Outcome::Abandoned,
    Outcome::Conversation,
    Outcome::WrongParty,
];
const MODES: &[DialMode] = &[
    DialMode::Manual,
    DialMode::Preview,
    DialMode::Progressive,
    DialMode::Power,
    DialMode::Predictive,
    DialMode::Prerecorded,
];

/// 2026-01-01T00:00:00Z plus up to a year and a bit.
const YEAR_START: i64 = 1_767_225_600;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).expect("in range")
}

fn phone() -> impl Strategy<Value = Phone> {
    (0..PREFIXES.len(), 0..10_000u32, 0..4usize, any::<bool>()).prop_map(|(p, n, kind, consent)| {
        Phone {
            number: format!("{}{n:04}", PREFIXES[p]),
            kind: [
                PhoneKind::Mobile,
                PhoneKind::Landline,
                PhoneKind::Work,
                PhoneKind::Unknown,
            ][kind],
            consent_automated: consent,
            consent_revoked_at: None,
            employer_prohibits: false,
            rnd: None,
        }
    })
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (0..ZIPS.len()).prop_map(|i| Address {
            zip: Some(ZIPS[i].0.to_string()),
            state: Some(ZIPS[i].1.to_string()),
            // `Address::default()` is not current (serde's default is): say so.
            current: true,
            country: None,
        }),
        (0..STATES.len()).prop_map(|i| Address {
            zip: None,
            state: Some(STATES[i].to_string()),
            current: true,
            country: None,
        }),
    ]
}

fn entry(debts: usize) -> impl Strategy<Value = (i64, usize, usize, usize, bool)> {
    // (seconds before `at`, outcome, debt index, phone index, inbound); some entries are
    // later than `at`, as after a restart whose clock starts behind the history.
    (
        -2 * 86_400..14 * 86_400i64,
        0..OUTCOMES.len(),
        0..debts,
        0..3usize,
        prop::bool::weighted(0.1),
    )
}

prop_compose! {
    fn request()(
        phones in prop::collection::vec(phone(), 1..3),
        addresses in prop::collection::vec(address(), 0..2),
        at in 0..400 * 86_400i64,
        mode in 0..MODES.len(),
        debts in 1..4usize,
        history in prop::collection::vec(entry(3), 0..16),
        group in any::<bool>(),
    ) -> CallRequest {
        let at = YEAR_START + at;
        let debts_v: Vec<Debt> = (0..debts)
            .map(|i| Debt {
                id: format!("d{i}"),
                // Sometimes the debts are student loans of one account.
                student_loan_group: group.then(|| "sl".to_string()),
            })
            .collect();
        let history = history
            .into_iter()
            .map(|(ago, o, d, p, inbound)| HistoryEntry {
                at: ts(at - ago),
                direction: if inbound { Direction::Inbound } else { Direction::Outbound },
                number: Some(phones[p % phones.len()].number.clone()),
                debt_ids: vec![format!("d{}", d % debts)],
                outcome: OUTCOMES[o],
                channel: compliance::model::Channel::Call,
                mode: None,
                party: Party::Consumer,
                third_party_id: None,
            })
            .collect();
        CallRequest {
            at: ts(at),
            mode: MODES[mode],
            dial: Dial {
                number: phones[0].number.clone(),
                debt_id: "d0".to_string(),
                debt_ids: Vec::new(),
                party: Party::Consumer,
                third_party_id: None,
                agent_reserved: false,
            },
            consumer: Consumer { phones, addresses, ..Consumer::default() },
            debts: debts_v,
            history,
        }
    }
}

fn policy() -> impl Strategy<Value = Policy> {
    (any::<bool>(), any::<bool>()).prop_map(|(all_us, pattern)| Policy {
        unknown_location: if all_us {
            UnknownLocation::AllUs
        } else {
            UnknownLocation::Deny
        },
        min_gap_same_number_minutes: pattern.then_some(30),
        max_calls_per_day_per_person: pattern.then_some(3),
        ..Policy::default()
    })
}

fn local_hour(zone: &str, at: Timestamp) -> i8 {
    at.to_zoned(TimeZone::get(zone).expect("zone")).hour()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_allowed_outside_any_candidate_zones_window(req in request(), policy in policy()) {
        let d = Engine::builtin().evaluate(&req, &policy).expect("valid request");
        if d.verdict == Verdict::Allow {
            prop_assert!(!d.zones.is_empty(), "allowed without any zone");
            for z in &d.zones {
                let h = local_hour(&z.zone, req.at);
                prop_assert!((8..21).contains(&h), "allowed at {h}:xx in {}", z.zone);
            }
        }
    }

    #[test]
    fn next_eligible_clears_every_time_and_count_reason(req in request(), policy in policy()) {
        let engine = Engine::builtin();
        let d = engine.evaluate(&req, &policy).expect("valid request");
        if let Some(next) = d.next_eligible {
            prop_assert!(next > req.at);
            let mut later = req.clone();
            later.at = next;
            let again = engine.evaluate(&later, &policy).expect("valid request");
            let timed: Vec<_> = again
                .reasons
                .iter()
                .filter(|r| r.code.clears() != Clears::Never)
                .map(|r| r.code.as_str())
                .collect();
            prop_assert!(timed.is_empty(), "at {next} still refused for {timed:?} (was {:?})", d.reasons);
        }
    }

    #[test]
    fn removing_history_never_turns_allow_into_deny(
        req in request(),
        policy in policy(),
        keep in prop::collection::vec(any::<bool>(), 16),
    ) {
        let engine = Engine::builtin();
        let d = engine.evaluate(&req, &policy).expect("valid request");
        if d.verdict == Verdict::Allow {
            let mut fewer = req.clone();
            let mut i = 0;
            fewer.history.retain(|_| { i += 1; keep[i - 1] });
            let again = engine.evaluate(&fewer, &policy).expect("valid request");
            prop_assert_eq!(again.verdict, Verdict::Allow, "{:?}", again.reasons);
        }
    }
}

/// Reasons that history alone raises (not the time of day, not a pack's effective date).
const HISTORY_CODES: &[&str] = &[
    "US_REGF_7IN7",
    "US_REGF_POSTCONV",
    "POLICY_PACING",
    "US_MA_2IN7",
    "US_MA_2IN30_OTHER",
    "US_WA_3PERWEEK",
    "US_WA_WORK_1PERWEEK",
    "UK_OFCOM_72H",
    "UK_OFCOM_AMD_24H",
    "US_TCPA_RES_PRERECORDED_CAP",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Fail closed: evaluated by a clock that is behind (so that part of the history lies
    /// "in the future"), every refusal that history gives at the true instant is still given.
    /// (Without prior consents, which only ever lift refusals from their own instant on.)
    #[test]
    fn an_earlier_clock_never_forgets_history(
        req in request(),
        policy in policy(),
        back in 1..10 * 86_400i64,
    ) {
        let engine = Engine::builtin();
        let d = engine.evaluate(&req, &policy).expect("valid request");
        let mut earlier = req.clone();
        earlier.at = ts(req.at.as_second() - back);
        let e = engine.evaluate(&earlier, &policy).expect("valid request");
        for r in d.reasons.iter().filter(|r| HISTORY_CODES.contains(&r.code.as_str())) {
            prop_assert!(
                e.has(r.code),
                "{} at {} but not {back} s earlier: {:?}",
                r.code.as_str(),
                req.at,
                e.reasons
            );
        }
    }
}

/// Local dates on which calls about `debt` were counted, per candidate zone.
fn counted_dates(req: &CallRequest, debt: &str, zone: &str) -> Vec<jiff::civil::Date> {
    let tz = TimeZone::get(zone).expect("zone");
    req.history
        .iter()
        .filter(|e| e.debt_ids.first().is_some_and(|d| d == debt) && e.outcome.counts_for_regf())
        .map(|e| e.at.to_zoned(tz.clone()).date())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_dialer_that_obeys_never_exceeds_seven_in_seven(
        mut req in request(),
        steps in prop::collection::vec((5..240i64, 0..OUTCOMES.len(), 0..3usize), 200..400),
    ) {
        let engine = Engine::builtin();
        // No pattern policy: only the law limits the loop.
        let policy = Policy {
            unknown_location: UnknownLocation::AllUs,
            min_gap_same_number_minutes: None,
            max_calls_per_day_per_person: None,
            ..Policy::default()
        };
        req.history.clear();
        req.mode = DialMode::Manual;
        let debts: Vec<String> = req.debts.iter().map(|d| d.id.clone()).collect();
        let mut zones = Vec::new();
        for (minutes, outcome, debt) in steps {
            req.at = req.at.checked_add(SignedDuration::from_mins(minutes)).expect("time");
            req.dial.debt_id = debts[debt % debts.len()].clone();
            let d = engine.evaluate(&req, &policy).expect("valid request");
            zones = d.zones.iter().map(|z| z.zone.to_string()).collect();
            if d.verdict == Verdict::Allow {
                let outcome = match OUTCOMES[outcome] {
                    // Keep conversations rare so that 7-in-7 is actually reached.
                    Outcome::Conversation | Outcome::WrongParty => Outcome::NoAnswer,
                    o => o,
                };
                req.history.push(req.placed(outcome));
            }
        }
        // Per particular debt: student loans of one group count together.
        let grouped = req.debts.iter().any(|d| d.student_loan_group.is_some());
        let keys: Vec<Vec<String>> = if grouped { vec![debts.clone()] } else { debts.iter().map(|d| vec![d.clone()]).collect() };
        for zone in &zones {
            for key in &keys {
                let mut per_date: BTreeMap<jiff::civil::Date, u32> = BTreeMap::new();
                for debt in key {
                    for date in counted_dates(&req, debt, zone) {
                        *per_date.entry(date).or_default() += 1;
                    }
                }
                for (&date, _) in per_date.iter() {
                    let end = date.checked_add(jiff::ToSpan::days(6)).expect("date");
                    let in_window: u32 = per_date.range(date..=end).map(|(_, n)| n).sum();
                    prop_assert!(in_window <= 7, "{in_window} counted calls about {key:?} in 7 dates from {date} ({zone})");
                }
            }
        }
    }
}
