//! Attempt reservation: the concurrency guard in front of every dial.
//!
//! The compliance engine decides on the history it was given; two replicas deciding at the
//! same moment could each see 6 counted calls and both dial. So after the engine allows a
//! call, the dialer *reserves* it: one atomic step re-counts the attempts recorded for each
//! debt since the start of the 7-date window (and the last call to the number) and records
//! this attempt only if the limits still hold. While the call is in progress it counts for
//! every debt of the call (the safe side); when it ends it is *settled*: kept only under the
//! debts the compliance engine attributes the final outcome to (US-REGF-10, -11), or released
//! if it does not count (busy, SIT). The ledger stays the source of truth: whenever the
//! dialer loads an account it *rebuilds* the account's counters from the ledger's contact
//! history and the outbox's unacknowledged outcomes, exactly, so counters cannot drift (a
//! lost Redis, a crash between reserve and dial). Every store error refuses the dial (fail
//! closed).

use std::collections::BTreeMap;
use std::future::Future;

use compliance::model::{Channel, Debt, Direction, HistoryEntry, Hold, HoldKind, Party};
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

    /// Every counter the reservation is recorded in: its debts', then its phone's.
    pub fn counters(&self) -> Vec<String> {
        self.debt_keys
            .iter()
            .map(|d| self.debt_counter(d))
            .chain([self.phone_counter()])
            .collect()
    }
}

/// The debts a settled attempt stays under: at least one (a counted call is about a debt).
pub(crate) fn check_settled(debt_keys: &[String]) -> Result<(), QueueError> {
    if debt_keys.is_empty() || debt_keys.iter().any(String::is_empty) {
        return Err(QueueError::Invalid {
            field: "debt_keys",
            problem: "at least one debt, none empty",
        });
    }
    Ok(())
}

/// An account's counters as a store holds them: counter key -> attempt id -> instant (ms).
pub type Counters = BTreeMap<String, BTreeMap<String, Millis>>;

/// Common prefix of an account's counter keys (`{a:ACCOUNT}`: the Redis Cluster hash tag).
pub fn account_prefix(account: &str) -> String {
    format!("att:{{a:{account}}}:")
}

/// The set of an account's counter keys (same hash slot): how a rebuild finds counters the
/// history no longer names.
pub fn index_key(account: &str) -> String {
    format!("{}keys", account_prefix(account))
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

    /// The attempts of a contact history that count toward US-REGF-08, each under the id
    /// the counters know it by (the ledger's idempotency key, which is the reservation's id),
    /// attributed exactly as the compliance engine attributes them (US-REGF-10, -11; see
    /// `compliance::history`): an outbound call to the consumer whose outcome counts and
    /// that was not misdirected (a wrong party, or a number under a wrong-number hold),
    /// counted against each debt it names if it was a conversation or a voicemail, else
    /// against its first debt; with no debt named, against every debt. Student loans of one
    /// group are one debt. `debts` are the account's debts; `holds` its holds.
    pub fn from_history(
        history: &[(String, HistoryEntry)],
        debts: &[Debt],
        holds: &[Hold],
    ) -> Vec<PastAttempt> {
        let key = |id: &str| -> String {
            debts
                .iter()
                .find(|d| d.id == id)
                .and_then(|d| d.student_loan_group.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let wrong_number = |n: &Option<String>| {
            n.as_deref().is_some_and(|n| {
                holds
                    .iter()
                    .any(|h| h.kind == HoldKind::WrongNumber && h.number.as_deref() == Some(n))
            })
        };
        history
            .iter()
            .enumerate()
            .filter(|(_, (_, e))| {
                e.direction == Direction::Outbound
                    && e.party == Party::Consumer
                    && e.channel == Channel::Call
                    && e.outcome.counts_for_regf()
                    && !wrong_number(&e.number)
            })
            .map(|(i, (id, e))| {
                let named: Vec<&str> = if e.debt_ids.is_empty() {
                    debts.iter().map(|d| d.id.as_str()).collect()
                } else if e.outcome.names_debts() {
                    e.debt_ids.iter().map(String::as_str).collect()
                } else {
                    e.debt_ids.iter().take(1).map(String::as_str).collect()
                };
                let mut keys: Vec<String> = Vec::with_capacity(named.len());
                for k in named.into_iter().map(key) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                PastAttempt {
                    // The ledger requires a key; an entry without one still counts.
                    id: if id.is_empty() {
                        format!("history-{i}-{}", e.at.as_millisecond())
                    } else {
                        id.clone()
                    },
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

    /// Once the call has ended and counts: keeps the attempt only under `debt_keys` (the
    /// debts its final outcome is attributed to, see [`PastAttempt::from_history`]) and its
    /// phone, at its reservation instant. A rebuild from the recorded history then finds
    /// the counters as they are.
    fn settle(
        &self,
        r: &Reservation,
        debt_keys: &[String],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Makes the account's counters exactly `attempts` (ids are the counters' members:
    /// reservation ids, the ledger's idempotency keys), dropping those older than
    /// [`KEEP_MS`] before `now`, in one atomic step. Members `attempts` does not name are
    /// removed from every counter of the account (found through its key index), except
    /// those younger than `grace` before `now`: another replica's attempt between its
    /// reservation and its first durable record, which the caller could not see yet.
    fn rebuild(
        &self,
        account: &str,
        attempts: &[PastAttempt],
        now: Millis,
        grace: Millis,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The account's counters as they are (tests, diagnostics).
    fn counters(&self, account: &str) -> impl Future<Output = Result<Counters, QueueError>> + Send;
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
        let h: Vec<(String, HistoryEntry)> = h
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("att-{i}"), e))
            .collect();
        let p = PastAttempt::from_history(&h, &[], &[]);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].id.as_str(), &p[0].debt_keys[..]),
            ("att-0", &["a".to_string()][..])
        );
        assert_eq!(
            (p[1].id.as_str(), &p[1].debt_keys[..]),
            ("att-1", &["a".to_string(), "b".to_string()][..])
        );
    }

    /// US-REGF-11: student loans of one group count as one debt; US-REGF-10: a call naming
    /// no debt counts against every debt; a call to a number under a wrong-number hold was
    /// misdirected and does not count, nor does a third party's.
    #[test]
    fn groups_unnamed_debts_and_misdirected_calls() {
        let h: Vec<HistoryEntry> = serde_json::from_value(serde_json::json!([
            {"at": "2026-07-10T15:00:00Z", "number": "+14045550134", "debt_ids": ["s1", "s2", "a"], "outcome": "conversation"},
            {"at": "2026-07-10T16:00:00Z", "number": "+14045550134", "debt_ids": [], "outcome": "no_answer"},
            {"at": "2026-07-10T17:00:00Z", "number": "+14045550199", "debt_ids": ["a"], "outcome": "no_answer"},
            {"at": "2026-07-10T18:00:00Z", "number": "+14045550134", "debt_ids": ["a"], "outcome": "answered", "party": "third_party", "third_party_id": "tp"},
        ]))
        .expect("history");
        let h: Vec<(String, HistoryEntry)> = h
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("k{i}"), e))
            .collect();
        let debts: Vec<Debt> = serde_json::from_value(serde_json::json!([
            {"id": "s1", "student_loan_group": "g"},
            {"id": "s2", "student_loan_group": "g"},
            {"id": "a"},
        ]))
        .expect("debts");
        let holds: Vec<Hold> = serde_json::from_value(serde_json::json!([
            {"kind": "wrong_number", "number": "+14045550199", "since": "2026-07-11T00:00:00Z"},
        ]))
        .expect("holds");
        let p = PastAttempt::from_history(&h, &debts, &holds);
        let got: Vec<(&str, Vec<&str>)> = p
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.debt_keys.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(got, [("k0", vec!["g", "a"]), ("k1", vec!["g", "a"])]);
    }
}
