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

/// Implements a store trait for a two-variant enum by delegating each method to the variant
/// held: the signatures are written once here, the bodies not at all.
macro_rules! delegate {
    (impl $trait:ident for $any:ident { $(async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        impl $any {
            /// Which store this is (`memory` or `redis`), for logs and metrics.
            pub fn kind(&self) -> &'static str {
                match self {
                    $any::Memory(_) => "memory",
                    $any::Redis(_) => "redis",
                }
            }
        }

        impl $trait for $any {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                match self {
                    $any::Memory(s) => s.$name($($arg),*).await,
                    $any::Redis(s) => s.$name($($arg),*).await,
                }
            })*
        }
    };
}

delegate! {
    impl CampaignQueue for AnyQueue {
        async fn push(&self, items: &[QueueItem]) -> Result<(), QueueError>;
        async fn push_sleeping(&self, items: &[QueueItem], at: Millis) -> Result<(), QueueError>;
        async fn rerank(&self, items: &[QueueItem]) -> Result<(), QueueError>;
        async fn pop_lease(&self, n: usize, now: Millis, ttl: Millis, owner: &str) -> Result<Vec<Lease>, QueueError>;
        async fn complete(&self, lease: &Lease, next: Next) -> Result<bool, QueueError>;
        async fn extend(&self, leases: &[Lease], now: Millis, ttl: Millis) -> Result<usize, QueueError>;
        async fn remove(&self, account: &str) -> Result<(), QueueError>;
        async fn next_wake(&self) -> Result<Option<Millis>, QueueError>;
        async fn sizes(&self) -> Result<QueueSizes, QueueError>;
        async fn mark_alive(&self) -> Result<(), QueueError>;
        async fn is_alive(&self) -> Result<bool, QueueError>;
    }
}

delegate! {
    impl AttemptBook for AnyBook {
        async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError>;
        async fn release(&self, r: &Reservation) -> Result<(), QueueError>;
        async fn settle(&self, r: &Reservation, debt_keys: &[String]) -> Result<(), QueueError>;
        async fn rebuild(&self, account: &str, attempts: &[PastAttempt], now: Millis, grace: Millis) -> Result<(), QueueError>;
        async fn counters(&self, account: &str) -> Result<Counters, QueueError>;
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
