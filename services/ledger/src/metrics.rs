//! Prometheus metrics of the ledger (ingest rate, batch sizes, commit latency, watcher lag)
//! and a minimal HTTP `/metrics` endpoint, so operators see ingest health without a sidecar.

use std::net::SocketAddr;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

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
        for c in [
            Box::new(outcomes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(batch_size.clone()),
            Box::new(batch_seconds.clone()),
            Box::new(accounts.clone()),
            Box::new(watchers.clone()),
            Box::new(watch_lag.clone()),
            Box::new(change_head.clone()),
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
        }
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped. HTTP/1.0-style: one request per
/// connection, which is all Prometheus needs.
pub async fn serve(listener: TcpListener, metrics: Metrics) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let m = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /metrics") {
                ("200 OK", m.render())
            } else {
                ("404 Not Found", "not found\n".to_owned())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

/// Binds the metrics endpoint.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
