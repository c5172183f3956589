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
    let sun = f
        .window_closes_at
        .map_or(0.0, |t| ((t - now) as f64 / HOUR).clamp(0.0, 24.0));
    let r = cfg.follow_the_sun * sun - value;
    if r.is_finite() { r } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

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
