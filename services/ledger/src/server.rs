//! Assembles the gRPC server: LedgerService and ReceivablesService behind `auth::RoleLayer`
//! over the ledger's role table, and (open to all) gRPC health and reflection in both v1 and v1alpha (grpcurl 1.8
//! speaks only v1alpha). Used by `ledgerd`, the benchmark and in-process tests alike, so all
//! of them run the same stack.

use std::future::Future;
use std::time::Duration;

use collections_proto::ledger_v1::ledger_service_server::LedgerServiceServer;
use collections_proto::ledger_v1::receivables_service_server::ReceivablesServiceServer;
pub use service::ServeError;
use tokio::net::TcpListener;
use tonic::server::NamedService;

use crate::clock::Clock;
use crate::grpc::LedgerGrpc;
use crate::grpc::receivables::ReceivablesGrpc;
use crate::grpc::roles::ROLES;
use crate::metrics::Metrics;
use crate::store::Store;
use auth::{Auth, RoleLayer};
use tower_layer::Layer;

/// Tuning of the server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Most outcomes per ingest transaction.
    pub max_batch: usize,
    /// The ledger's "now" for checking outcomes' `started_at` (the wall clock unless the
    /// senders run on a set clock).
    pub clock: Clock,
    /// How far after the clock's now an outcome's `started_at` may be.
    pub max_future_skew: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_batch: crate::grpc::MAX_BATCH,
            clock: Clock::system(),
            max_future_skew: ledger_api::limits::DEFAULT_MAX_FUTURE_SKEW,
        }
    }
}

/// Serves the ledger on `listener` until `shutdown` resolves.
pub async fn serve(
    store: Store,
    metrics: Metrics,
    auth: Auth,
    opts: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    // The store derives its dates (opening balances, receivables summaries) on this clock.
    store.set_clock(opts.clock.clone());
    // The descriptor set holds the dialer's package too: advertise only what is served here.
    let (_health, routes) = service::grpc::health_and_reflection(
        &[
            LedgerServiceServer::<LedgerGrpc>::NAME,
            ReceivablesServiceServer::<ReceivablesGrpc>::NAME,
        ],
        collections_proto::FILE_DESCRIPTOR_SET,
    )
    .await?;
    warm_book(store.clone(), &metrics);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        // End watch and ingest streams so graceful shutdown can finish.
        let _ = stop_tx.send(true);
    };
    let receivables = RoleLayer::new(auth.clone(), ROLES).layer(
        ReceivablesServiceServer::new(ReceivablesGrpc::new(store.clone()))
            .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(collections_proto::MAX_MESSAGE_BYTES),
    );
    // Health and reflection stay open: only the ledger's own services are behind the roles.
    let ledger = RoleLayer::new(auth, ROLES).layer(
        LedgerServiceServer::new(
            LedgerGrpc::new(store, metrics, stop_rx)
                .with_max_batch(opts.max_batch)
                .with_clock(opts.clock, opts.max_future_skew),
        )
        // The project's one limit, which its clients use too (the bounds make every record
        // fit; see `ledger_api::limits`).
        .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(collections_proto::MAX_MESSAGE_BYTES),
    );
    tonic::transport::Server::builder()
        .trace_fn(service::grpc::request_span)
        .add_routes(routes)
        .add_service(ledger)
        .add_service(receivables)
        .serve_with_incoming_shutdown(service::grpc::incoming(listener), shutdown)
        .await?;
    Ok(())
}

/// Loads the receivables book in the background, so the first report or import does not pay
/// for it (36 s for 4 M events on SQLite). The server answers meanwhile and health stays
/// SERVING: other services use the ledger for more than the receivables; a receivables
/// request that comes first waits for the load (see `Store::warm_money_book`).
fn warm_book(store: Store, metrics: &Metrics) {
    let (seconds, events) = (
        metrics.book_load_seconds.clone(),
        metrics.book_events.clone(),
    );
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        tracing::info!("loading the receivables book");
        match store.warm_money_book().await {
            Ok((n, accounts)) => {
                let took = started.elapsed().as_secs_f64();
                seconds.set(took);
                events.set(i64::try_from(n).unwrap_or(i64::MAX));
                tracing::info!(
                    events = n,
                    accounts,
                    seconds = took,
                    "receivables book loaded"
                );
            }
            // Not fatal: the first request that needs the book loads it.
            Err(e) => tracing::warn!(error = %e, "loading the receivables book at start"),
        }
    });
}
