//! Store calls of a virtual-time campaign, carried out on the real runtime.
//!
//! The embedded demo runs its campaign on a tokio runtime whose clock is paused: time jumps
//! to the next timer whenever every task waits, so a shift runs in seconds with exact
//! timings. A store that waits on real I/O (the SQL outbox, the ledger over gRPC) would let
//! the clock jump while its answer is on the way, and the engine would see a 2 s deadline
//! pass during a database write. [`OnRuntime`] runs each call on the real runtime from a
//! blocking task: tokio does not advance a paused clock while a blocking task runs, so the
//! write takes no virtual time at all.

use std::sync::Arc;

use ledger_api::domain::{AccountCheck, ContactOutcome};
use tokio::runtime::Handle;

use dialer::account::{AccountSource, AccountView, SourceError};
use dialer::outcomes::{LedgerCommand, OutcomeSink, SinkError, Unacknowledged};

/// `T`'s calls, run on the runtime of `handle`.
#[derive(Debug)]
pub struct OnRuntime<T> {
    inner: Arc<T>,
    handle: Handle,
}

impl<T> OnRuntime<T> {
    pub fn new(inner: Arc<T>, handle: Handle) -> OnRuntime<T> {
        OnRuntime { inner, handle }
    }
}

impl<T: Send + Sync + 'static> OnRuntime<T> {
    async fn run<R, F, Fut>(&self, f: F) -> Result<R, String>
    where
        R: Send + 'static,
        F: FnOnce(Arc<T>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = R> + Send,
    {
        let inner = self.inner.clone();
        let handle = self.handle.clone();
        tokio::task::spawn_blocking(move || handle.block_on(f(inner)))
            .await
            .map_err(|e| format!("offloaded call failed: {e}"))
    }
}

impl<T: OutcomeSink> OutcomeSink for OnRuntime<T> {
    async fn begin(&self, provisional: &ContactOutcome) -> Result<(), SinkError> {
        let p = provisional.clone();
        self.run(move |s| async move { s.begin(&p).await })
            .await
            .map_err(SinkError)?
    }

    async fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> Result<(), SinkError> {
        let o = outcome.clone();
        let c = commands.to_vec();
        self.run(move |s| async move { s.finish(&o, &c).await })
            .await
            .map_err(SinkError)?
    }

    async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
        let a = accounts.to_vec();
        self.run(move |s| async move { s.unacknowledged(&a).await })
            .await
            .map_err(SinkError)?
    }
}

impl<T: AccountSource> AccountSource for OnRuntime<T> {
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        let id = account_id.to_string();
        self.run(move |s| async move { s.load(&id).await })
            .await
            .map_err(SourceError::Unavailable)?
    }

    async fn load_many(&self, ids: &[String]) -> Vec<Result<AccountView, SourceError>> {
        let a = ids.to_vec();
        let n = a.len();
        match self
            .run(move |s| async move { s.load_many(&a).await })
            .await
        {
            Ok(v) => v,
            Err(e) => (0..n)
                .map(|_| Err(SourceError::Unavailable(e.clone())))
                .collect(),
        }
    }

    async fn check(&self, accounts: &[(String, i64)]) -> Result<AccountCheck, SourceError> {
        let a = accounts.to_vec();
        self.run(move |s| async move { s.check(&a).await })
            .await
            .map_err(SourceError::Unavailable)?
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use dialer::outcomes::MemorySink;

    /// A store that takes real time to answer.
    #[derive(Debug, Default)]
    struct Slow(MemorySink);

    impl OutcomeSink for Slow {
        async fn begin(&self, p: &ContactOutcome) -> Result<(), SinkError> {
            std::thread::sleep(Duration::from_millis(50));
            self.0.begin(p).await
        }
        async fn finish(&self, o: &ContactOutcome, c: &[LedgerCommand]) -> Result<(), SinkError> {
            self.0.finish(o, c).await
        }
        async fn unacknowledged(&self, a: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
            self.0.unacknowledged(a).await
        }
    }

    #[test]
    fn a_paused_clock_does_not_move_during_an_offloaded_write() {
        let real = tokio::runtime::Runtime::new().expect("runtime");
        let virt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let sink = OnRuntime::new(Arc::new(Slow::default()), real.handle().clone());
        let outcome: ContactOutcome = serde_json::from_value(serde_json::json!({
            "idempotency_key": "k", "account_id": "a", "person_id": "", "debt_ids": ["d"],
            "number": "+14045550134", "direction": "outbound", "channel": "call",
            "dial_mode": "predictive", "outcome": "no_answer", "party": "consumer",
            "third_party_id": "", "campaign_id": "c", "agent_id": "",
            "started_at": "2026-11-23T16:00:00Z", "ring_ms": 0, "talk_ms": 0, "amd": "not_run",
            "recording_ref": "", "disposition": "", "counts_for_regf": false, "event_id": 0,
            "recorded_at": null
        }))
        .expect("outcome");
        let moved = virt.block_on(async {
            // A timer a second away: with the clock free to jump, it would fire at once.
            let timer = tokio::spawn(tokio::time::sleep(Duration::from_secs(1)));
            let before = tokio::time::Instant::now();
            sink.begin(&outcome).await.expect("begin");
            let moved = before.elapsed();
            timer.abort();
            moved
        });
        assert_eq!(moved, Duration::ZERO);
    }
}
