//! Ranked campaign queues and attempt reservation: what lets several dialer replicas share
//! one campaign without ever dialing an account twice at once or, together, exceeding a
//! frequency limit.
//!
//! - [`CampaignQueue`]: accounts ranked per campaign; [`CampaignQueue::pop_lease`] atomically
//!   takes the best ready accounts and leases them to one replica. A lease that is not
//!   completed expires and its account returns to the queue. Accounts the compliance engine
//!   defers sleep until their `next_eligible` instant and wake on their own (no polling).
//! - [`AttemptBook`]: before each dial, atomically re-checks and records the attempt in
//!   per-debt and per-phone counters; settled to the final outcome's debts when the call
//!   ends, and rebuilt exactly from the ledger's contact history whenever an account is
//!   loaded.
//!
//! Two stores implement both: [`memory`] (the embedded default) and [`redis_store`] (sorted
//! sets and Lua scripts, keys hash-tagged per campaign and per account for Redis Cluster).
//! [`AnyQueue`] and [`AnyBook`] pick one of the two at run time. Ranking ([`rank`]) and
//! recycling ([`recycle`]) are pure.
//!
//! Instants are passed in by the caller (Unix milliseconds) rather than read from a clock,
//! so the simulator's virtual clock drives the same code as production.

//! # Layout
//!
//! - [`reservation`]: the attempt-reservation types and the [`AttemptBook`] contract.
//! - [`memory`], [`redis_store`]: the two stores, each implementing both contracts.
//! - [`any`]: the run-time choice between them.
//! - [`rank`], [`recycle`]: the pure policies (dial order, when an account comes back).

pub mod any;
pub mod memory;
pub mod rank;
pub mod recycle;
pub mod redis_store;
pub mod reservation;

use std::future::Future;

pub use any::{AnyBook, AnyQueue};
pub use reservation::{AttemptBook, Reservation, ReserveOutcome};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// An account to queue with its rank: lower ranks are dialed first.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub account: String,
    pub rank: f64,
}

/// An account leased to one dialer replica until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub account: String,
    /// Proves ownership when completing: a lease that expired and was re-leased to another
    /// replica has a new token, so a late completion cannot clobber it.
    pub token: u64,
    pub expires_at: Millis,
}

/// What happens to an account once its leased attempt is over.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Back in the ready queue with this rank (e.g. the next phone to try).
    Ready { rank: f64 },
    /// Asleep until `at` (recycling delay, or the compliance engine's `next_eligible`),
    /// then ready again with `rank`.
    Sleep { at: Millis, rank: f64 },
    /// Out of the campaign (worked, on hold, no number left).
    Retire,
}

/// Sizes of a campaign's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSizes {
    pub ready: u64,
    pub sleeping: u64,
    pub leased: u64,
}

/// A store failure. The dialer fails closed on it: no lease, no dial.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from the store: {0}")]
    Protocol(String),
    #[error("invalid argument {field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: &'static str,
    },
    /// The caller's campaign-lease token is below the campaign's highest: another replica
    /// has taken the campaign over.
    #[error("stale campaign lease: another replica holds the campaign")]
    Fenced,
    /// The `ca_file` a `rediss://` URL names could not be read.
    #[error("redis_url ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
}

/// One campaign's ranked queue.
pub trait CampaignQueue: Send + Sync {
    /// Adds accounts as ready, or re-ranks them if already queued (ready or asleep).
    /// Accounts currently leased keep their lease.
    fn push(&self, items: &[QueueItem]) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Gives accounts already queued a new rank (a sleeper keeps sleeping until its time);
    /// accounts leased, retired or never queued are left as they are. For news about an
    /// account (a payment, a broken promise) that must not bring a retired one back.
    fn rerank(&self, items: &[QueueItem]) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Adds accounts asleep until `at` (e.g. loaded outside calling hours).
    fn push_sleeping(
        &self,
        items: &[QueueItem],
        at: Millis,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Atomically: wakes sleepers due by `now`, returns expired leases to the queue, then
    /// leases up to `n` of the best ready accounts to `owner` until `now + ttl`.
    fn pop_lease(
        &self,
        n: usize,
        now: Millis,
        ttl: Millis,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Lease>, QueueError>> + Send;

    /// Ends a lease. Returns `false` when the lease was no longer held (expired and taken
    /// over): the caller must then not act on the account.
    fn complete(
        &self,
        lease: &Lease,
        next: Next,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Extends held leases to `now + ttl` (a heartbeat for long calls); returns how many
    /// were still held.
    fn extend(
        &self,
        leases: &[Lease],
        now: Millis,
        ttl: Millis,
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Takes an account out at once, leased or not (a cease or a hold).
    fn remove(&self, account: &str) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The earliest instant a sleeper wakes, so a replica with nothing ready can wait
    /// exactly that long instead of polling.
    fn next_wake(&self) -> impl Future<Output = Result<Option<Millis>, QueueError>> + Send;

    fn sizes(&self) -> impl Future<Output = Result<QueueSizes, QueueError>> + Send;

    /// Records that the campaign's accounts are in this store. A store that lost its data (a
    /// new process on in-process queues, a flushed Redis) has lost the marker too, which is
    /// how a restarted dialer knows to queue the campaign's accounts again.
    fn mark_alive(&self) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Whether [`CampaignQueue::mark_alive`] was called on the data this store still holds.
    fn is_alive(&self) -> impl Future<Output = Result<bool, QueueError>> + Send;
}

fn check_rank(rank: f64) -> Result<(), QueueError> {
    if rank.is_finite() {
        Ok(())
    } else {
        Err(QueueError::Invalid {
            field: "rank",
            problem: "must be a finite number",
        })
    }
}

fn check_items(items: &[QueueItem]) -> Result<(), QueueError> {
    for item in items {
        check_rank(item.rank)?;
        if item.account.is_empty() {
            return Err(QueueError::Invalid {
                field: "account",
                problem: "must not be empty",
            });
        }
    }
    Ok(())
}
