//! Where attempt outcomes go: the seam between the campaign engine and the durable outbox
//! that feeds the ledger.
//!
//! Each attempt is written twice under one idempotency key: before the dial, a provisional
//! outcome (what to record if the dialer never learns more, e.g. it crashes mid-call: a
//! placed call counts, so the provisional outcome is a counted one), then the final outcome.
//! Whatever happens, the ledger receives exactly one outcome per attempt.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use ledger::domain::{ContactOutcome, Hold, Promise};

/// The outcome store failed; the engine fails closed (no dial without a provisional record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome store: {0}")]
pub struct SinkError(pub String);

/// A durable destination for attempt outcomes.
pub trait OutcomeSink: Send + Sync + 'static {
    /// Durably notes an attempt before it is dialed, with the outcome to record if no final
    /// one ever comes.
    fn begin(
        &self,
        provisional: &ContactOutcome,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Durably records the attempt's final outcome (same idempotency key as `begin`).
    fn finish(
        &self,
        outcome: &ContactOutcome,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// The other writes a disposition makes in the ledger: a hold (cease, attorney, dispute,
/// wrong number) and a promise to pay. Ids are derived from the attempt, so a retry is
/// idempotent.
pub trait LedgerWrites: Send + Sync + 'static {
    fn set_hold(&self, hold: Hold) -> impl Future<Output = Result<(), SinkError>> + Send;
    fn record_promise(
        &self,
        promise: Promise,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

/// An in-memory sink for tests and benches: keeps what it was given.
#[derive(Debug, Default)]
pub struct MemorySink {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    provisional: HashMap<String, ContactOutcome>,
    finals: Vec<ContactOutcome>,
    holds: Vec<Hold>,
    promises: Vec<Promise>,
    /// Attempts begun while another attempt on the same account was open.
    overlapping: Vec<String>,
}

impl MemorySink {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Final outcomes in the order they were recorded.
    pub fn finals(&self) -> Vec<ContactOutcome> {
        self.lock().finals.clone()
    }

    /// Holds set by dispositions.
    pub fn holds(&self) -> Vec<Hold> {
        self.lock().holds.clone()
    }

    /// Promises recorded by dispositions.
    pub fn promises(&self) -> Vec<Promise> {
        self.lock().promises.clone()
    }

    /// Attempts begun while another on the same account was still open (must stay empty:
    /// an account is never dialed twice at once).
    pub fn overlapping(&self) -> Vec<String> {
        self.lock().overlapping.clone()
    }

    /// Attempts begun and not finished yet.
    pub fn open_attempts(&self) -> usize {
        self.lock().provisional.len()
    }
}

impl OutcomeSink for MemorySink {
    async fn begin(&self, provisional: &ContactOutcome) -> Result<(), SinkError> {
        let mut inner = self.lock();
        if inner
            .provisional
            .values()
            .any(|p| p.account_id == provisional.account_id)
        {
            inner.overlapping.push(provisional.idempotency_key.clone());
        }
        inner
            .provisional
            .insert(provisional.idempotency_key.clone(), provisional.clone());
        Ok(())
    }

    async fn finish(&self, outcome: &ContactOutcome) -> Result<(), SinkError> {
        let mut inner = self.lock();
        if inner.provisional.remove(&outcome.idempotency_key).is_none() {
            return Err(SinkError(format!(
                "attempt {} was never begun or is already finished",
                outcome.idempotency_key
            )));
        }
        inner.finals.push(outcome.clone());
        Ok(())
    }
}

impl LedgerWrites for MemorySink {
    async fn set_hold(&self, hold: Hold) -> Result<(), SinkError> {
        self.lock().holds.push(hold);
        Ok(())
    }

    async fn record_promise(&self, promise: Promise) -> Result<(), SinkError> {
        self.lock().promises.push(promise);
        Ok(())
    }
}
