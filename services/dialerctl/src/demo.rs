//! `dialerctl demo`: a day of dialing over a generated portfolio, every attempt decided by
//! the compliance engine, followed by a report. It runs on nothing but this binary (the
//! embedded default) and shows what the engine does: multi-zone consumers waiting for
//! their latest zone to open, cell phones without consent routed to manual dialing,
//! holds, 7-in-7 and post-conversation limits, deferred accounts sleeping until
//! `next_eligible` instead of being polled.

use std::collections::BTreeMap;
use std::time::Instant;

use compliance::model::{
    Address, CallRequest, Consumer, Debt, Dial, DialMode, Direction, HistoryEntry, Hold, HoldKind,
    Outcome, Phone, PhoneKind,
};
use compliance::{Engine, Policy, Verdict};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Accounts in the generated portfolio.
    #[arg(long, default_value_t = 5000)]
    pub accounts: usize,
    /// Days to simulate.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// First day (UTC date the shift starts on).
    #[arg(long, default_value = "2026-07-13")]
    pub start: Date,
    /// Random seed of the portfolio and outcomes.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            accounts: 5000,
            days: 3,
            start: Date::constant(2026, 7, 13),
            seed: 7,
        }
    }
}

/// SplitMix64: a small, seedable generator, enough for a demo portfolio.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Area code and exchange, home ZIP and state: a spread over US zones, with the places the
/// rules care about (split area codes, Arizona, the Navajo Nation, Guam, a state-only address).
const PLACES: &[(&str, Option<&str>, &str)] = &[
    ("212555", Some("10001"), "NY"),
    ("404555", Some("30303"), "GA"),
    ("305555", Some("33130"), "FL"),
    ("312555", Some("60601"), "IL"),
    ("214555", Some("75201"), "TX"),
    ("303555", Some("80202"), "CO"),
    ("602555", Some("85004"), "AZ"),
    ("928871", Some("86515"), "AZ"),
    ("415555", Some("94103"), "CA"),
    ("206555", Some("98101"), "WA"),
    ("617555", Some("02108"), "MA"),
    ("850432", Some("32501"), "FL"),
    ("615555", None, "TN"),
    ("808555", Some("96813"), "HI"),
    ("907555", Some("99501"), "AK"),
    ("671555", Some("96910"), "GU"),
    ("787555", Some("00901"), "PR"),
];

struct Account {
    request: CallRequest,
    /// Next instant worth asking the engine about; `None` when never (holds).
    next_try: Option<Timestamp>,
}

fn generate(args: &DemoArgs, rng: &mut Rng) -> Vec<Account> {
    let since = args
        .start
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    (0..args.accounts)
        .map(|i| {
            let (prefix, zip, state) = PLACES[rng.below(PLACES.len())];
            let number = format!("+1{prefix}{:04}", rng.below(10_000));
            let mobile = rng.chance(0.6);
            let mut phones = vec![Phone {
                number: number.clone(),
                kind: if mobile {
                    PhoneKind::Mobile
                } else {
                    PhoneKind::Landline
                },
                consent_automated: !mobile || rng.chance(0.6),
                consent_revoked_at: None,
                employer_prohibits: false,
                rnd: None,
            }];
            // One in five has moved: a cell from elsewhere, an address here.
            if rng.chance(0.2) {
                let (other, _, _) = PLACES[rng.below(PLACES.len())];
                phones.push(Phone {
                    number: format!("+1{other}{:04}", rng.below(10_000)),
                    kind: PhoneKind::Mobile,
                    consent_automated: true,
                    consent_revoked_at: None,
                    employer_prohibits: false,
                    rnd: None,
                });
            }
            let debt_id = format!("D{i:06}");
            let mut holds = Vec::new();
            let roll = rng.below(100);
            let kind = match roll {
                0..=1 => Some(HoldKind::Cease),
                2 => Some(HoldKind::Attorney),
                3 => Some(HoldKind::Bankruptcy),
                _ => None,
            };
            if let Some(kind) = kind {
                holds.push(Hold {
                    kind,
                    debt_id: Some(debt_id.clone()),
                    number: None,
                    since,
                    until: None,
                });
            }
            let request = CallRequest {
                at: since,
                mode: DialMode::Predictive,
                dial: Dial {
                    number,
                    debt_id: debt_id.clone(),
                    debt_ids: Vec::new(),
                    party: compliance::model::Party::Consumer,
                    third_party_id: None,
                    agent_reserved: false,
                },
                consumer: Consumer {
                    phones,
                    addresses: vec![Address {
                        zip: zip.map(str::to_string),
                        state: Some(state.to_string()),
                        country: None,
                        current: true,
                    }],
                    holds,
                    ..Consumer::default()
                },
                debts: vec![Debt {
                    id: debt_id,
                    student_loan_group: None,
                }],
                history: Vec::new(),
            };
            Account {
                request,
                next_try: Some(since),
            }
        })
        .collect()
}

/// Outcome of a placed call and when the account should be tried again (recycling).
fn dial(rng: &mut Rng) -> (Outcome, SignedDuration) {
    let r = rng.below(100);
    match r {
        0..=9 => (Outcome::Busy, SignedDuration::from_mins(15)),
        10..=44 => (Outcome::NoAnswer, SignedDuration::from_hours(2)),
        45..=69 => (Outcome::Machine, SignedDuration::from_hours(20)),
        70..=74 => (Outcome::Sit, SignedDuration::from_hours(24 * 30)),
        _ => (Outcome::Conversation, SignedDuration::from_hours(24)),
    }
}

/// Local hour in every zone the engine evaluated, checked independently of the engine.
fn inside_window(at: Timestamp, zones: &[compliance::decision::ZoneEvaluated]) -> bool {
    zones.iter().all(|z| {
        TimeZone::get(&z.zone)
            .map(|tz| {
                let h = at.to_zoned(tz).hour();
                (8..21).contains(&h)
            })
            .unwrap_or(false)
    })
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let mut rng = Rng(args.seed);
    let engine = Engine::builtin();
    let policy = Policy::default();
    let mut accounts = generate(args, &mut rng);
    let on_hold = accounts
        .iter()
        .filter(|a| !a.request.consumer.holds.is_empty())
        .count();
    println!(
        "dialerctl demo: {} accounts ({on_hold} with a hold) over {} US places, {} days from {}, predictive mode, rule set {}",
        accounts.len(),
        PLACES.len(),
        args.days,
        args.start,
        engine.ruleset().version
    );

    let tick = SignedDuration::from_mins(5);
    let start = accounts
        .first()
        .map_or(Timestamp::UNIX_EPOCH, |a| a.request.at);
    let end = start
        .checked_add(SignedDuration::from_hours(24 * i64::from(args.days)))
        .unwrap_or(start);
    let mut evaluations = 0u64;
    let mut refusals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut dials, mut manual, mut outside, mut counted) = (0u64, 0u64, 0u64, 0u64);
    let mut engine_time = std::time::Duration::ZERO;
    let mut now = start;
    while now < end {
        for acct in accounts.iter_mut() {
            if acct.next_try.is_none_or(|t| t > now) {
                continue;
            }
            acct.request.at = now;
            acct.request.mode = DialMode::Predictive;
            let t0 = Instant::now();
            let mut decision = engine.evaluate(&acct.request, &policy)?;
            evaluations += 1;
            // Cells without consent cannot be autodialed: an agent dials them by hand.
            let tcpa = decision
                .reasons
                .iter()
                .any(|r| r.rule.starts_with("US-TCPA"));
            if tcpa {
                acct.request.mode = DialMode::Manual;
                decision = engine.evaluate(&acct.request, &policy)?;
                evaluations += 1;
                manual += 1;
            }
            engine_time += t0.elapsed();
            if decision.verdict != Verdict::Allow {
                for r in &decision.reasons {
                    *refusals.entry(r.code.as_str()).or_default() += 1;
                }
                // Sleep until the engine says the account may be callable again.
                acct.next_try = decision.next_eligible;
                continue;
            }
            dials += 1;
            counted += u64::from(decision.counted);
            outside += u64::from(!inside_window(now, &decision.zones));
            let (outcome, recycle) = dial(&mut rng);
            *outcomes.entry(format!("{outcome:?}")).or_default() += 1;
            acct.request.history.push(HistoryEntry {
                at: now,
                direction: Direction::Outbound,
                number: Some(acct.request.dial.number.clone()),
                debt_ids: vec![acct.request.dial.debt_id.clone()],
                outcome,
                channel: compliance::model::Channel::Call,
                mode: Some(acct.request.mode),
                party: compliance::model::Party::Consumer,
                third_party_id: None,
            });
            acct.next_try = now.checked_add(recycle).ok();
        }
        now = now.checked_add(tick)?;
    }

    let never = accounts.iter().filter(|a| a.next_try.is_none()).count();
    println!();
    println!("shift report");
    println!("  compliance evaluations   {evaluations:>10}");
    println!(
        "  engine time              {:>10.3} s ({:.0} evaluations/s on one core)",
        engine_time.as_secs_f64(),
        evaluations as f64 / engine_time.as_secs_f64().max(1e-9)
    );
    println!("  calls placed             {dials:>10}");
    println!("    routed to manual (cell, no consent)  {manual:>6}");
    println!("    counted toward Reg F 7-in-7          {counted:>6}");
    println!("    placed outside 08:00-21:00 in any candidate zone: {outside}");
    println!("  outcomes");
    for (o, n) in &outcomes {
        println!("    {o:<22} {n:>8}");
    }
    println!("  refusals by reason (an attempt can have several)");
    for (code, n) in &refusals {
        println!("    {code:<28} {n:>8}");
    }
    println!("  accounts on hold (never callable): {never}");
    anyhow::ensure!(
        outside == 0,
        "{outside} calls were placed outside a calling window"
    );
    Ok(())
}
