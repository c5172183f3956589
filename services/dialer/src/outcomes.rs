//! Where attempt outcomes go: the seam between the campaign engine and the durable outbox
//! that feeds the ledger.
//!
//! Each attempt is written twice under one idempotency key: before the dial, a provisional
//! outcome (what to record if the dialer never learns more, e.g. it crashes mid-call: a
//! placed call counts, so the provisional outcome is a counted one), then the final outcome
//! together with the ledger writes its disposition makes (a cease hold, a promise, a consent
//! revocation), in one durable step. Whatever happens, the ledger receives exactly one outcome
//! per attempt and every consumer instruction an agent recorded.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use ledger_api::domain::{ConsentUpdate, ContactOutcome, Hold, Promise};

/// A payment plan a disposition took, for the ledger's RecordPaymentPlan (which imports it
/// as the receivables `plan` event `outcome:<outcome_key>:plan`).
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentPlan {
    /// The outbox row's key (`<outcome key>-plan`).
    pub key: String,
    pub account_id: String,
    pub debt_id: String,
    pub outcome_key: String,
    /// The call's date, `YYYY-MM-DD` (UTC).
    pub made_on: String,
    /// `(due YYYY-MM-DD, amount_minor)`, due dates strictly increasing.
    pub installments: Vec<(String, i64)>,
    pub grace_days: u32,
}

/// The outcome store failed; the engine fails closed (no dial without a provisional record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outcome store: {0}")]
pub struct SinkError(pub String);

impl SinkError {
    /// Whether the store refused the write because another replica has taken the campaign
    /// over (a stale lease): retrying cannot help, and the new holder has adopted the call.
    pub fn is_fenced(&self) -> bool {
        self.0.starts_with(crate::outbox::FENCED)
    }
}

/// A write a disposition makes in the ledger besides the outcome. Each has an idempotency key
/// derived from the attempt, so a resend is applied once.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerCommand {
    /// A cease, attorney, dispute or wrong-number hold (SetHold, idempotent by hold_id).
    Hold(Hold),
    /// A promise to pay (RecordPromise, idempotent by promise_id).
    Promise(Promise),
    /// Consent to automated calls given or revoked on a phone (SetConsent).
    Consent { key: String, update: ConsentUpdate },
    /// A payment plan (RecordPaymentPlan, idempotent by the outcome key).
    Plan(PaymentPlan),
}

impl LedgerCommand {
    /// The command's idempotency key (its outbox row).
    pub fn key(&self) -> &str {
        match self {
            LedgerCommand::Hold(h) => &h.hold_id,
            LedgerCommand::Promise(p) => &p.promise_id,
            LedgerCommand::Consent { key, .. } => key,
            LedgerCommand::Plan(p) => &p.key,
        }
    }

    pub fn account_id(&self) -> &str {
        match self {
            LedgerCommand::Hold(h) => &h.account_id,
            LedgerCommand::Promise(p) => &p.account_id,
            LedgerCommand::Consent { update, .. } => &update.account_id,
            LedgerCommand::Plan(p) => &p.account_id,
        }
    }

    /// What kind of write it is (the outbox's `kind` column).
    pub fn kind(&self) -> WriteKind {
        match self {
            LedgerCommand::Hold(_) => WriteKind::Hold,
            LedgerCommand::Promise(_) => WriteKind::Promise,
            LedgerCommand::Consent { .. } => WriteKind::Consent,
            LedgerCommand::Plan(_) => WriteKind::Plan,
        }
    }
}

/// What an outbox row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    Outcome,
    Hold,
    Promise,
    Consent,
    Plan,
}

impl WriteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Outcome => "outcome",
            WriteKind::Hold => "hold",
            WriteKind::Promise => "promise",
            WriteKind::Consent => "consent",
            WriteKind::Plan => "plan",
        }
    }

    pub fn parse(s: &str) -> Option<WriteKind> {
        Some(match s {
            "outcome" => WriteKind::Outcome,
            "hold" => WriteKind::Hold,
            "promise" => WriteKind::Promise,
            "consent" => WriteKind::Consent,
            "plan" => WriteKind::Plan,
            _ => return None,
        })
    }
}

/// A write about an account that the ledger has not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Unacknowledged {
    pub account_id: String,
    pub key: String,
    pub kind: WriteKind,
    /// Still the provisional outcome noted before the dial: a call in progress (or one whose
    /// replica died, to be recorded as it is).
    pub provisional: bool,
    /// The outcome an outcome row carries (`None` for other kinds, or a row that cannot be
    /// decoded), so the attempt counters can count calls the ledger does not have yet.
    pub outcome: Option<ContactOutcome>,
}

/// A durable destination for attempt outcomes and the ledger writes dispositions make.
pub trait OutcomeSink: Send + Sync + 'static {
    /// Durably notes an attempt before it is dialed, with the outcome to record if no final
    /// one ever comes.
    fn begin(
        &self,
        provisional: &ContactOutcome,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Durably records the attempt's final outcome (same idempotency key as `begin`) and the
    /// commands its disposition makes, all in one step: when it returns, none can be lost.
    fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// The writes about `accounts`, by any replica sharing this store, that the ledger has
    /// not acknowledged yet. The engine does not dial an account with such a write unless
    /// its own copy of the account already reflects it (after a crash, it does not).
    fn unacknowledged(
        &self,
        accounts: &[String],
    ) -> impl Future<Output = Result<Vec<Unacknowledged>, SinkError>> + Send;
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
    consents: Vec<ConsentUpdate>,
    plans: Vec<PaymentPlan>,
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

    /// Payment plans recorded by dispositions.
    pub fn plans(&self) -> Vec<PaymentPlan> {
        self.lock().plans.clone()
    }

    /// Consent changes recorded by dispositions.
    pub fn consents(&self) -> Vec<ConsentUpdate> {
        self.lock().consents.clone()
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

    async fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> Result<(), SinkError> {
        let mut inner = self.lock();
        if inner.provisional.remove(&outcome.idempotency_key).is_none() {
            return Err(SinkError(format!(
                "attempt {} was never begun or is already finished",
                outcome.idempotency_key
            )));
        }
        inner.finals.push(outcome.clone());
        for c in commands {
            match c {
                LedgerCommand::Hold(h) => inner.holds.push(h.clone()),
                LedgerCommand::Promise(p) => inner.promises.push(p.clone()),
                LedgerCommand::Consent { update, .. } => inner.consents.push(update.clone()),
                LedgerCommand::Plan(p) => inner.plans.push(p.clone()),
            }
        }
        Ok(())
    }

    /// The memory sink is its own ledger: everything is acknowledged at once.
    async fn unacknowledged(&self, _: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
        Ok(Vec::new())
    }
}
