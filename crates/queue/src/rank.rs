//! Ranking: which account a campaign dials first. Pure arithmetic over facts the ledger and
//! the compliance engine provide; the queue only ever sees the resulting number (lower is
//! dialed first), so a campaign can change its weights without touching the stores.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Per-campaign weights. Each factor is scaled to roughly 0..10 before weighting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingConfig {
    /// The CRM's own score (higher = more valuable), taken as given.
    pub crm_score: f64,
    /// Balance: log-scaled, so a 10x larger balance adds a constant.
    pub balance: f64,
    /// Days past due, per 30 days.
    pub days_past_due: f64,
    /// Attempts so far (a penalty: fresh accounts first).
    pub attempts: f64,
    /// Days since the last contact, capped at a week.
    pub since_last_contact: f64,
    /// Follow the sun: hours until the consumer's calling window closes today (accounts
    /// whose window closes first, eastern zones in the evening, go first).
    pub follow_the_sun: f64,
    /// Per aging bucket of the oldest open item in the receivables ledger (0 current, 1 for
    /// 1-30 days, ... 5 for 121+): older money first.
    pub aging_bucket: f64,
    /// A broken promise to pay, from the day after it broke: the account goes up (a
    /// pending promise is not ranked: the account waits, see [`deferred_until`]).
    pub broken_promise: f64,
}

impl Default for RankingConfig {
    fn default() -> Self {
        RankingConfig {
            crm_score: 1.0,
            balance: 1.0,
            days_past_due: 0.5,
            attempts: 1.0,
            since_last_contact: 0.5,
            follow_the_sun: 1.0,
            aging_bucket: 0.5,
            broken_promise: 3.0,
        }
    }
}

/// What ranking needs to know about one account.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AccountFacts {
    pub crm_score: Option<f64>,
    /// Total balance in minor units (cents).
    pub balance_minor: i64,
    pub days_past_due: u32,
    pub attempts: u32,
    pub last_contact: Option<Millis>,
    /// When the consumer's calling window closes in the last candidate zone to close today
    /// (from the compliance engine's zones); `None` when unknown.
    pub window_closes_at: Option<Millis>,
    /// The receivables ledger's aging bucket of the oldest open item, 0 (current) to 5
    /// (121+ days); `None` when the ledger has no money events for the account.
    pub aging_bucket: Option<u8>,
    /// The latest promise to pay, when it is pending or broken (not kept or superseded):
    /// the instant it counts as broken from, the day after its due date plus grace.
    pub promise_broken_from: Option<Millis>,
}

/// The aging bucket index (0 to 5) of the receivables report's bucket name (`current`,
/// `1_30`, `31_60`, `61_90`, `91_120`, `121_plus`); `None` for anything else.
pub fn bucket_index(name: &str) -> Option<u8> {
    Some(match name {
        "current" => 0,
        "1_30" => 1,
        "31_60" => 2,
        "61_90" => 3,
        "91_120" => 4,
        "121_plus" => 5,
        _ => return None,
    })
}

/// Until when a campaign leaves the account alone: a promise still pending at `now` (not
/// past its due date plus grace) defers it to the day after, when it is kept or broken. A
/// campaign policy, not a law: the queue's not-before instant carries it.
pub fn deferred_until(f: &AccountFacts, now: Millis) -> Option<Millis> {
    f.promise_broken_from.filter(|&t| t > now)
}

/// The account's rank at `now`: lower ranks are dialed first.
pub fn rank(cfg: &RankingConfig, f: &AccountFacts, now: Millis) -> f64 {
    const HOUR: f64 = 3_600_000.0;
    let value = cfg.crm_score * f.crm_score.unwrap_or(0.0)
        + cfg.balance * (1.0 + f.balance_minor.max(0) as f64 / 100.0).log10()
        + cfg.days_past_due * f64::from(f.days_past_due) / 30.0
        - cfg.attempts * f64::from(f.attempts)
        + cfg.since_last_contact
            * f.last_contact
                .map_or(7.0, |t| ((now - t) as f64 / (24.0 * HOUR)).clamp(0.0, 7.0));
    let aging = cfg.aging_bucket * f.aging_bucket.map_or(0.0, f64::from);
    let broken = if f.promise_broken_from.is_some_and(|t| t <= now) {
        cfg.broken_promise
    } else {
        0.0
    };
    let value = value + aging + broken;
    let sun = f
        .window_closes_at
        .map_or(0.0, |t| ((t - now) as f64 / HOUR).clamp(0.0, 24.0));
    let r = cfg.follow_the_sun * sun - value;
    if r.is_finite() { r } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    #[test]
    fn older_money_and_broken_promises_come_first_pending_promises_wait() {
        let cfg = RankingConfig::default();
        let now = 1_000 * DAY;
        let base = AccountFacts {
            balance_minor: 50_000,
            days_past_due: 60,
            aging_bucket: Some(2),
            ..AccountFacts::default()
        };
        let older = AccountFacts {
            aging_bucket: Some(5),
            ..base
        };
        assert!(rank(&cfg, &older, now) < rank(&cfg, &base, now));
        // A promise pending until tomorrow: deferred, not ranked up.
        let pending = AccountFacts {
            promise_broken_from: Some(now + DAY),
            ..base
        };
        assert_eq!(deferred_until(&pending, now), Some(now + DAY));
        assert_eq!(rank(&cfg, &pending, now), rank(&cfg, &base, now));
        // From the day after it broke it ranks up, and nothing defers it.
        assert_eq!(deferred_until(&pending, now + DAY), None);
        assert!(rank(&cfg, &pending, now + DAY) < rank(&cfg, &base, now + DAY));
        let lift = rank(&cfg, &base, now + DAY) - rank(&cfg, &pending, now + DAY);
        assert!((lift - cfg.broken_promise).abs() < 1e-9, "{lift}");
        assert_eq!(deferred_until(&base, now), None);
        assert_eq!(bucket_index("121_plus"), Some(5));
        assert_eq!(bucket_index(""), None);
    }

    #[test]
    fn configs_without_the_receivables_weights_still_load() {
        let old: RankingConfig = serde_json::from_str(r#"{"crm_score": 2.0}"#).unwrap();
        assert_eq!(old.crm_score, 2.0);
        assert_eq!(old.broken_promise, RankingConfig::default().broken_promise);
        assert_eq!(old.aging_bucket, RankingConfig::default().aging_bucket);
    }

    #[test]
    fn bigger_fresher_sooner_closing_accounts_come_first() {
        let cfg = RankingConfig::default();
        let base = AccountFacts {
            balance_minor: 50_000,
            days_past_due: 60,
            ..AccountFacts::default()
        };
        let now = 1_000 * 3_600_000;
        let richer = AccountFacts {
            balance_minor: 5_000_000,
            ..base
        };
        assert!(rank(&cfg, &richer, now) < rank(&cfg, &base, now));
        let tried = AccountFacts {
            attempts: 3,
            ..base
        };
        assert!(rank(&cfg, &tried, now) > rank(&cfg, &base, now));
        let east = AccountFacts {
            window_closes_at: Some(now + 3_600_000),
            ..base
        };
        let west = AccountFacts {
            window_closes_at: Some(now + 4 * 3_600_000),
            ..base
        };
        assert!(rank(&cfg, &east, now) < rank(&cfg, &west, now));
        assert!(
            rank(
                &cfg,
                &AccountFacts {
                    crm_score: Some(f64::NAN),
                    ..base
                },
                now
            )
            .is_finite()
        );
    }
}
