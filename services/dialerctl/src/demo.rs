//! `dialerctl demo`: a day of dialing over a generated portfolio, every attempt decided by
//! the compliance engine, followed by a report. It runs on nothing but this binary (the
//! embedded default) and shows what the engine does: multi-zone consumers waiting for
//! their latest zone to open, cell phones without consent routed to manual dialing,
//! holds, 7-in-7 and post-conversation limits, deferred accounts sleeping until
//! `next_eligible` instead of being polled.

use std::collections::BTreeMap;
use std::time::Instant;

use compliance::model::{CallRequest, DialMode};
use compliance::{Engine, Policy, Verdict};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::portfolio::{self, PLACES, Rng};

struct Account {
    request: CallRequest,
    /// Next instant worth asking the engine about; `None` when never (holds).
    next_try: Option<Timestamp>,
}

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
    let mut rng = Rng::new(args.seed);
    let engine = Engine::builtin();
    let policy = Policy::default();
    let since = args
        .start
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let mut accounts: Vec<Account> = portfolio::generate(args.accounts, &mut rng, since)
        .into_iter()
        .map(|request| Account {
            request,
            next_try: Some(since),
        })
        .collect();
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
            let (outcome, recycle) = portfolio::outcome(&mut rng);
            *outcomes.entry(format!("{outcome:?}")).or_default() += 1;
            let entry = portfolio::placed(&acct.request, outcome);
            acct.request.history.push(entry);
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
