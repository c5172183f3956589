//! The gRPC services every server runs beside its own: health (`grpc.health.v1.Health`, what
//! load balancers and probes ask) and reflection in v1 and v1alpha (grpcurl 1.8 speaks only
//! v1alpha), added to a server as one set of routes.

use tonic::service::Routes;
pub use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Why a server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("server task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// The health a server reports for its services and for itself as a whole (the empty
/// service name).
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl Health {
    /// Every service, and the server as a whole, reports `status` (NOT_SERVING at the start
    /// of a shutdown, so load balancers stop sending work).
    pub async fn set(&self, status: ServingStatus) {
        for s in self.services.iter().copied().chain([""]) {
            self.reporter.set_service_status(s, status).await;
        }
    }
}

/// Health for `services` (all SERVING), and reflection over `descriptor_set` (with health's
/// own) advertising only `services`, health and reflection itself: the project's one
/// descriptor set holds every service's package, a server lists only what it serves. Add the
/// routes to the server with `Server::add_routes`, then the server's own services.
pub async fn health_and_reflection(
    services: &[&'static str],
    descriptor_set: &'static [u8],
) -> Result<(Health, Routes), ServeError> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health {
        reporter,
        services: services.to_vec(),
    };
    health.set(ServingStatus::Serving).await;
    let reflection = |itself: &'static str| {
        services
            .iter()
            .chain(&["grpc.health.v1.Health", itself])
            .fold(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(descriptor_set)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
                |b, s| b.with_service_name(*s),
            )
    };
    let v1 = reflection("grpc.reflection.v1.ServerReflection").build_v1()?;
    let v1alpha = reflection("grpc.reflection.v1alpha.ServerReflection").build_v1alpha()?;
    let routes = Routes::new(health_service)
        .add_service(v1)
        .add_service(v1alpha);
    Ok((health, routes))
}

/// The connections a server accepts on `listener`, with Nagle's algorithm off. Why: tonic
/// applies `Server::tcp_nodelay` only to a listener it binds itself, and a reply leaves in
/// more than one write (headers, message, trailers): with Nagle on, the later writes wait
/// for the client's delayed ACK, some 40 ms a unary call (docs/performance.md, "Reply
/// latency").
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// The span of one gRPC request (the server's `trace_fn`): named for its method, as
/// OpenTelemetry's RPC conventions want, so exported traces read `LedgerService/GetAccount`.
/// Requests' own logs are inside it.
pub fn request_span(req: &tonic::codegen::http::Request<()>) -> tracing::Span {
    let path = req.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    tracing::info_span!(
        "grpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    )
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = super::incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.expect("a connection").unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
