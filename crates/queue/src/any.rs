//! Run-time choice of store: [`AnyQueue`] and [`AnyBook`] hold either the in-process or the
//! Redis implementation and delegate to it, so a service picks the store from its
//! configuration while its code names one concrete type.

use crate::memory::{MemoryAttemptBook, MemoryQueue};
use crate::redis_store::{RedisAttemptBook, RedisQueue};
use crate::reservation::{Counters, PastAttempt};
use crate::{
    AttemptBook, CampaignQueue, Lease, Millis, Next, QueueError, QueueItem, QueueSizes,
    Reservation, ReserveOutcome,
};

/// One campaign's queue, in process or on Redis.
#[derive(Debug)]
pub enum AnyQueue {
    Memory(MemoryQueue),
    Redis(RedisQueue),
}

/// Attempt counters, in process or on Redis.
#[derive(Debug)]
pub enum AnyBook {
    Memory(MemoryAttemptBook),
    Redis(RedisAttemptBook),
}

impl AnyQueue {
    /// Which store this is (`memory` or `redis`), for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyQueue::Memory(_) => "memory",
            AnyQueue::Redis(_) => "redis",
        }
    }
}

impl AnyBook {
    /// Which store this is (`memory` or `redis`).
    pub fn kind(&self) -> &'static str {
        match self {
            AnyBook::Memory(_) => "memory",
            AnyBook::Redis(_) => "redis",
        }
    }
}

impl CampaignQueue for AnyQueue {
    async fn push(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        match self {
            AnyQueue::Memory(q) => q.push(items).await,
            AnyQueue::Redis(q) => q.push(items).await,
        }
    }

    async fn push_sleeping(&self, items: &[QueueItem], at: Millis) -> Result<(), QueueError> {
        match self {
            AnyQueue::Memory(q) => q.push_sleeping(items, at).await,
            AnyQueue::Redis(q) => q.push_sleeping(items, at).await,
        }
    }

    async fn pop_lease(
        &self,
        n: usize,
        now: Millis,
        ttl: Millis,
        owner: &str,
    ) -> Result<Vec<Lease>, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.pop_lease(n, now, ttl, owner).await,
            AnyQueue::Redis(q) => q.pop_lease(n, now, ttl, owner).await,
        }
    }

    async fn complete(&self, lease: &Lease, next: Next) -> Result<bool, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.complete(lease, next).await,
            AnyQueue::Redis(q) => q.complete(lease, next).await,
        }
    }

    async fn extend(
        &self,
        leases: &[Lease],
        now: Millis,
        ttl: Millis,
    ) -> Result<usize, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.extend(leases, now, ttl).await,
            AnyQueue::Redis(q) => q.extend(leases, now, ttl).await,
        }
    }

    async fn remove(&self, account: &str) -> Result<(), QueueError> {
        match self {
            AnyQueue::Memory(q) => q.remove(account).await,
            AnyQueue::Redis(q) => q.remove(account).await,
        }
    }

    async fn next_wake(&self) -> Result<Option<Millis>, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.next_wake().await,
            AnyQueue::Redis(q) => q.next_wake().await,
        }
    }

    async fn sizes(&self) -> Result<QueueSizes, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.sizes().await,
            AnyQueue::Redis(q) => q.sizes().await,
        }
    }

    async fn mark_alive(&self) -> Result<(), QueueError> {
        match self {
            AnyQueue::Memory(q) => q.mark_alive().await,
            AnyQueue::Redis(q) => q.mark_alive().await,
        }
    }

    async fn is_alive(&self) -> Result<bool, QueueError> {
        match self {
            AnyQueue::Memory(q) => q.is_alive().await,
            AnyQueue::Redis(q) => q.is_alive().await,
        }
    }
}

impl AttemptBook for AnyBook {
    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError> {
        match self {
            AnyBook::Memory(b) => b.reserve(r).await,
            AnyBook::Redis(b) => b.reserve(r).await,
        }
    }

    async fn release(&self, r: &Reservation) -> Result<(), QueueError> {
        match self {
            AnyBook::Memory(b) => b.release(r).await,
            AnyBook::Redis(b) => b.release(r).await,
        }
    }

    async fn settle(&self, r: &Reservation, debt_keys: &[String]) -> Result<(), QueueError> {
        match self {
            AnyBook::Memory(b) => b.settle(r, debt_keys).await,
            AnyBook::Redis(b) => b.settle(r, debt_keys).await,
        }
    }

    async fn rebuild(
        &self,
        account: &str,
        attempts: &[PastAttempt],
        now: Millis,
        grace: Millis,
    ) -> Result<(), QueueError> {
        match self {
            AnyBook::Memory(b) => b.rebuild(account, attempts, now, grace).await,
            AnyBook::Redis(b) => b.rebuild(account, attempts, now, grace).await,
        }
    }

    async fn counters(&self, account: &str) -> Result<Counters, QueueError> {
        match self {
            AnyBook::Memory(b) => b.counters(account).await,
            AnyBook::Redis(b) => b.counters(account).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_variants_delegate() {
        let q = AnyQueue::Memory(MemoryQueue::new());
        assert_eq!(q.kind(), "memory");
        q.push(&[QueueItem {
            account: "A1".into(),
            rank: 1.0,
        }])
        .await
        .expect("push");
        assert_eq!(q.sizes().await.expect("sizes").ready, 1);
        let leases = q.pop_lease(5, 1_000, 60_000, "r1").await.expect("pop");
        assert_eq!(leases.len(), 1);
        assert!(
            q.complete(&leases[0], Next::Retire)
                .await
                .expect("complete")
        );
        assert_eq!(q.sizes().await.expect("sizes"), QueueSizes::default());

        let book = AnyBook::Memory(MemoryAttemptBook::new());
        let r = Reservation {
            account: "A1".into(),
            attempt_id: "att-1".into(),
            debt_keys: vec!["d1".into()],
            phone: "+14045550134".into(),
            now: 1_000,
            window_start: 0,
            limit: 1,
            min_gap: 0,
        };
        assert_eq!(
            book.reserve(&r).await.expect("reserve"),
            ReserveOutcome::Reserved
        );
        let again = Reservation {
            attempt_id: "att-2".into(),
            ..r.clone()
        };
        assert!(matches!(
            book.reserve(&again).await.expect("reserve"),
            ReserveOutcome::DebtLimit { .. }
        ));
        book.release(&r).await.expect("release");
        assert_eq!(
            book.reserve(&again).await.expect("reserve"),
            ReserveOutcome::Reserved
        );
    }
}
