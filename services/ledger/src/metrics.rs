//! Prometheus metrics of the ledger (ingest rate, batch sizes, commit latency, watcher lag),
//! served on `/metrics` by [`service::metrics::serve`] so operators see ingest health without
//! a sidecar.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// The RPCs a dialer sends with a campaign fence (`ledger_fenced_commands_total`'s labels).
pub const FENCED_RPCS: [&str; 5] = [
    "RecordOutcomes",
    "SetHold",
    "RecordPromise",
    "SetConsent",
    "RecordPaymentPlan",
];

/// The ledger's metrics, registered in their own registry (one per server instance).
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Outcomes acknowledged, by status (recorded, duplicate, rejected).
    pub outcomes: IntCounterVec,
    /// Outcomes per committed ingest batch.
    pub batch_size: Histogram,
    /// Seconds to apply and commit one ingest batch.
    pub batch_seconds: Histogram,
    /// Account records applied, by status.
    pub accounts: IntCounterVec,
    /// Open WatchChanges streams.
    pub watchers: IntGauge,
    /// Changes a watcher was behind the head when it read a page.
    pub watch_lag: Histogram,
    /// Highest change seq committed by this process.
    pub change_head: IntGauge,
    /// Dialer commands refused for a stale campaign fence, by RPC: a replica wrote after
    /// another took its campaign over (a frozen process waking up).
    pub fenced: IntCounterVec,
    /// Seconds the receivables book took to load at start (0 until it has).
    pub book_load_seconds: Gauge,
    /// Events in the receivables book when its load at start ended.
    pub book_events: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let outcomes = IntCounterVec::new(
            Opts::new("ledger_outcomes_total", "Outcomes acknowledged, by status"),
            &["status"],
        )
        .expect("metric");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("ledger_ingest_batch_size", "Outcomes per committed batch")
                .buckets(vec![1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0]),
        )
        .expect("metric");
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new("ledger_ingest_batch_seconds", "Time to apply one batch")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 14).expect("buckets")),
        )
        .expect("metric");
        let accounts = IntCounterVec::new(
            Opts::new(
                "ledger_accounts_upserted_total",
                "Account records, by status",
            ),
            &["status"],
        )
        .expect("metric");
        let watchers =
            IntGauge::new("ledger_watchers", "Open WatchChanges streams").expect("metric");
        let watch_lag = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_watch_lag_changes",
                "Watcher lag behind head, in changes",
            )
            .buckets(prometheus::exponential_buckets(1.0, 4.0, 10).expect("buckets")),
        )
        .expect("metric");
        let change_head = IntGauge::new("ledger_change_head_seq", "Highest change seq committed")
            .expect("metric");
        let fenced = IntCounterVec::new(
            Opts::new(
                "ledger_fenced_commands_total",
                "Commands refused for a stale campaign fencing token, by RPC",
            ),
            &["rpc"],
        )
        .expect("metric");
        // Exported at 0 from the start, so an alert's rate() sees the first refusal.
        for rpc in FENCED_RPCS {
            fenced.with_label_values(&[rpc]);
        }
        let book_load_seconds = Gauge::new(
            "ledger_receivables_book_load_seconds",
            "Seconds the receivables book took to load at start (0 until loaded)",
        )
        .expect("metric");
        let book_events = IntGauge::new(
            "ledger_receivables_book_events",
            "Money events in the receivables book when its load at start ended",
        )
        .expect("metric");
        for c in [
            Box::new(fenced.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(outcomes.clone()),
            Box::new(batch_size.clone()),
            Box::new(batch_seconds.clone()),
            Box::new(accounts.clone()),
            Box::new(watchers.clone()),
            Box::new(watch_lag.clone()),
            Box::new(change_head.clone()),
            Box::new(book_load_seconds.clone()),
            Box::new(book_events.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            outcomes,
            batch_size,
            batch_seconds,
            accounts,
            watchers,
            watch_lag,
            change_head,
            fenced,
            book_load_seconds,
            book_events,
        }
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        service::metrics::render(&self.registry)
    }
}
