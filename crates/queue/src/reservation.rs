//! Attempt reservation: the concurrency guard in front of every dial.
//!
//! The compliance engine decides on the history it was given; two replicas deciding at the
//! same moment could each see 6 counted calls and both dial. So after the engine allows a
//! call, the dialer *reserves* it: one atomic step re-counts the attempts recorded for each
//! debt since the start of the 7-date window (and the last call to the number) and records
//! this attempt only if the limits still hold. Attempts that end up not counting (busy,
//! SIT) are released. The ledger stays the source of truth: counters are rebuilt from its
//! contact history on cold start, and every store error refuses the dial (fail closed).

use std::future::Future;

use compliance::model::{Channel, Debt, Direction, HistoryEntry, Party};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::{Millis, QueueError};

/// Attempts older than this are dropped from counters (the longest window is 30 days).
pub const KEEP_MS: Millis = 31 * 86_400_000;

/// One attempt to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The person (account) the call is to: every counter key is tagged with it, so one
    /// Redis Cluster slot holds them all and the script stays atomic.
    pub account: String,
    /// Unique per attempt (also the ledger's idempotency key).
    pub attempt_id: String,
    /// Particular-debt keys the call is about (student loans grouped).
    pub debt_keys: Vec<String>,
    /// E.164 number dialed.
    pub phone: String,
    pub now: Millis,
    /// Start of the counting window: local midnight of the date 6 days before today, in
    /// the candidate zone where that comes first (counting more is the safe side).
    pub window_start: Millis,
    /// Attempts allowed per debt in the window (7 under US-REGF-08).
    pub limit: u32,
    /// Minimum gap between attempts to the number.
    pub min_gap: Millis,
}

/// The answer of a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved,
    /// Another replica got there first: this debt has no budget left in the window.
    DebtLimit {
        debt: String,
    },
    /// The number was called too recently; try again from `until`.
    PhoneGap {
        until: Millis,
    },
}

impl Reservation {
    pub fn validate(&self) -> Result<(), QueueError> {
        let bad = |field, problem| Err(QueueError::Invalid { field, problem });
        if self.account.is_empty() {
            return bad("account", "must not be empty");
        }
        if self.attempt_id.is_empty() {
            return bad("attempt_id", "must not be empty");
        }
        if self.debt_keys.is_empty() {
            return bad("debt_keys", "at least one debt");
        }
        if self.window_start > self.now {
            return bad("window_start", "after now");
        }
        if self.limit == 0 {
            return bad("limit", "must be at least 1");
        }
        Ok(())
    }

    pub fn debt_counter(&self, debt: &str) -> String {
        debt_counter(&self.account, debt)
    }

    pub fn phone_counter(&self) -> String {
        phone_counter(&self.account, &self.phone)
    }
}

/// Common prefix of an account's counter keys (`{a:ACCOUNT}`: the Redis Cluster hash tag).
pub fn account_prefix(account: &str) -> String {
    format!("att:{{a:{account}}}:")
}

fn debt_counter(account: &str, debt: &str) -> String {
    format!("{}debt:{debt}", account_prefix(account))
}

fn phone_counter(account: &str, phone: &str) -> String {
    format!("{}phone:{phone}", account_prefix(account))
}

/// A counted attempt from the ledger's history, for rebuilding counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastAttempt {
    pub id: String,
    pub at: Millis,
    pub debt_keys: Vec<String>,
    pub phone: Option<String>,
}

impl PastAttempt {
    pub fn counters(&self, account: &str) -> Vec<String> {
        self.debt_keys
            .iter()
            .map(|d| debt_counter(account, d))
            .chain(self.phone.iter().map(|p| phone_counter(account, p)))
            .collect()
    }

    /// The attempts of a contact history that count toward US-REGF-08, attributed as the
    /// compliance engine attributes them (US-REGF-10, -11).
    pub fn from_history(history: &[HistoryEntry], debts: &[Debt]) -> Vec<PastAttempt> {
        let key = |id: &str| -> String {
            debts
                .iter()
                .find(|d| d.id == id)
                .and_then(|d| d.student_loan_group.clone())
                .unwrap_or_else(|| id.to_string())
        };
        history
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.direction == Direction::Outbound
                    && e.party == Party::Consumer
                    && e.channel == Channel::Call
                    && e.outcome.counts_for_regf()
            })
            .map(|(i, e)| {
                let mut keys: Vec<String> = if e.outcome.names_debts() {
                    e.debt_ids.iter().map(|d| key(d)).collect()
                } else {
                    e.debt_ids.first().map(|d| key(d)).into_iter().collect()
                };
                keys.dedup();
                PastAttempt {
                    id: format!("history-{i}-{}", e.at.as_millisecond()),
                    at: e.at.as_millisecond(),
                    debt_keys: keys,
                    phone: e.number.clone(),
                }
            })
            .collect()
    }
}

/// Start of the `days`-date window ending today, in the candidate zone where it starts
/// first. Unknown zone names are skipped; with none left, UTC.
pub fn window_start<'z>(
    zones: impl IntoIterator<Item = &'z str>,
    at: Timestamp,
    days: i32,
) -> Millis {
    let start_in = |tz: TimeZone| -> Option<Millis> {
        let date = at
            .to_zoned(tz.clone())
            .date()
            .checked_sub((days - 1).days())
            .ok()?;
        let start = date.to_zoned(tz).ok()?;
        Some(start.timestamp().as_millisecond())
    };
    zones
        .into_iter()
        .filter_map(|z| TimeZone::get(z).ok())
        .filter_map(start_in)
        .min()
        .or_else(|| start_in(TimeZone::UTC))
        .unwrap_or(at.as_millisecond())
}

/// Per-debt and per-phone attempt counters shared by every replica.
pub trait AttemptBook: Send + Sync {
    /// Atomically checks the limits and, when they hold, records the attempt.
    fn reserve(
        &self,
        r: &Reservation,
    ) -> impl Future<Output = Result<ReserveOutcome, QueueError>> + Send;

    /// Removes a reserved attempt that turned out not to count (busy, SIT, never placed).
    fn release(&self, r: &Reservation) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Replaces an account's counters with the ledger's history (cold start).
    fn rebuild(
        &self,
        account: &str,
        attempts: &[PastAttempt],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_starts_at_the_earliest_local_midnight() {
        let at: Timestamp = "2026-07-15T18:00:00Z".parse().expect("ts");
        // New York midnight (04:00Z) comes before Los Angeles midnight (07:00Z).
        let start = window_start(["America/Los_Angeles", "America/New_York"], at, 7);
        let expected: Timestamp = "2026-07-09T04:00:00Z".parse().expect("ts");
        assert_eq!(start, expected.as_millisecond());
    }

    #[test]
    fn history_attribution_matches_the_engine() {
        let h: Vec<HistoryEntry> = serde_json::from_value(serde_json::json!([
            {"at": "2026-07-10T15:00:00Z", "number": "+14045550134", "debt_ids": ["a", "b"], "outcome": "no_answer"},
            {"at": "2026-07-11T15:00:00Z", "number": "+14045550134", "debt_ids": ["a", "b"], "outcome": "conversation"},
            {"at": "2026-07-12T15:00:00Z", "number": "+14045550134", "debt_ids": ["a"], "outcome": "busy"},
            {"at": "2026-07-12T16:00:00Z", "direction": "inbound", "debt_ids": ["a"], "outcome": "conversation"},
        ]))
        .expect("history");
        let p = PastAttempt::from_history(&h, &[]);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].debt_keys, ["a"]);
        assert_eq!(p[1].debt_keys, ["a", "b"]);
    }
}
