//! Assembles and runs dialerd's gRPC server: CampaignService, AgentService and
//! ComplianceService behind `auth::RoleLayer` over the dialer's role table, gRPC health per
//! service and reflection v1 and v1alpha over the one descriptor set (both open to all),
//! optional TLS, and the shutdown sequence:
//!
//! 1. health answers NOT_SERVING for every service (load balancers stop sending work) and
//!    new campaign work is refused (UNAVAILABLE);
//! 2. every campaign stops dialing and its calls in progress end (agents stay connected to
//!    disposition them), for at most the grace period;
//! 3. agent sessions and figure streams end;
//! 4. the `flush` future runs (the outbox flush);
//! 5. the server closes and [`serve`] returns.
//!
//! dialerd, the benchmark and the in-process tests all run this same stack.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use auth::{Auth, RoleLayer};
use collections_proto::dialer_v1 as pb;
use pb::agent_service_server::AgentServiceServer;
use pb::campaign_service_server::CampaignServiceServer;
use pb::compliance_service_server::ComplianceServiceServer;
pub use service::ServeError;
use service::grpc::ServingStatus;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::{Identity, ServerTlsConfig};
use tower_layer::Layer;
use tracing::info;

use crate::engine::Backend;
use crate::grpc::roles::ROLES;
use crate::grpc::{AgentGrpc, CampaignGrpc, ComplianceGrpc};
use crate::metrics::Metrics;
use crate::registry::{Registry, ShutdownReport};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub auth: Auth,
    /// PEM certificate chain and key; none: plaintext.
    pub tls: Option<TlsPem>,
    /// How long a shutdown waits for calls in progress.
    pub shutdown_grace: Duration,
}

/// A PEM certificate chain and private key.
#[derive(Clone)]
pub struct TlsPem {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsPem { .. }")
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            auth: Auth::new(None),
            tls: None,
            shutdown_grace: Duration::from_secs(crate::config::DEFAULT_SHUTDOWN_GRACE_S),
        }
    }
}

/// How long the server waits for clients to close their streams once everything else has
/// shut down.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The gRPC health service names, for probes.
pub const SERVICES: [&str; 3] = [
    "collections.dialer.v1.CampaignService",
    "collections.dialer.v1.AgentService",
    "collections.dialer.v1.ComplianceService",
];

/// Serves on `listener` until `shutdown` resolves, then runs the shutdown sequence (see the
/// module documentation), with `flush` as its step 4.
pub async fn serve<B: Backend>(
    registry: Arc<Registry<B>>,
    metrics: Metrics,
    opts: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    flush: impl Future<Output = ()> + Send,
) -> Result<ShutdownReport, ServeError> {
    // Reflection over the one descriptor set (the ledger's package is in it too) lists only
    // the services this server runs.
    let (health, routes) =
        service::grpc::health_and_reflection(&SERVICES, collections_proto::FILE_DESCRIPTOR_SET)
            .await?;
    // Streams end when this turns true (step 3); the sender lives until `serve` returns.
    let (streams_tx, streams_rx) = watch::channel(false);
    // The project's one message limit (its requests' bounds keep them inside it).
    const MAX: usize = collections_proto::MAX_MESSAGE_BYTES;
    let roles = RoleLayer::new(opts.auth.clone(), ROLES);
    let campaigns = roles.layer(
        CampaignServiceServer::new(CampaignGrpc::new(registry.clone(), streams_rx.clone()))
            .max_decoding_message_size(MAX)
            .max_encoding_message_size(MAX),
    );
    let agents = roles.layer(
        AgentServiceServer::new(AgentGrpc::new(
            registry.clone(),
            metrics.clone(),
            streams_rx.clone(),
        ))
        .max_decoding_message_size(MAX)
        .max_encoding_message_size(MAX),
    );
    let explain = roles.layer(
        ComplianceServiceServer::new(ComplianceGrpc::new(registry.clone()))
            .max_decoding_message_size(MAX)
            .max_encoding_message_size(MAX),
    );
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &opts.tls {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert, &tls.key)))?;
    }
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let server = builder
        .trace_fn(service::grpc::request_span)
        .add_routes(routes)
        .add_service(campaigns)
        .add_service(agents)
        .add_service(explain)
        .serve_with_incoming_shutdown(service::grpc::incoming(listener), async {
            let _ = close_rx.await;
        });
    // Its own task: it keeps serving (agents dispositioning their last calls) while the
    // campaigns stop.
    let mut server = tokio::spawn(server);
    tokio::select! {
        r = &mut server => {
            r??;
            return Ok(ShutdownReport::default());
        }
        () = shutdown => {}
    }
    info!("shutting down: health NOT_SERVING, stopping campaigns");
    health.set(ServingStatus::NotServing).await;
    let report = registry.shutdown(opts.shutdown_grace).await;
    info!(
        stopped = report.stopped.len(),
        timed_out = report.timed_out.len(),
        "campaigns stopped; closing streams and flushing"
    );
    let _ = streams_tx.send(true);
    flush.await;
    let _ = close_tx.send(());
    // Graceful close waits for every open stream; one the server does not end itself (a
    // client watching health) must not hold the process forever.
    match tokio::time::timeout(CLOSE_WAIT, &mut server).await {
        Ok(r) => r??,
        Err(_) => {
            tracing::warn!("streams still open after {CLOSE_WAIT:?}: closing the server");
            server.abort();
        }
    }
    info!("server closed");
    Ok(report)
}
