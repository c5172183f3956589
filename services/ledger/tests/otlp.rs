//! Tracing export: a real `ledgerd` configured with `OTEL_EXPORTER_OTLP_ENDPOINT` sends the
//! spans of the requests it serves to an OTLP collector, here a tonic server implementing
//! the collector's `TraceService` in this test, with the service name and the resource
//! attributes of `OTEL_RESOURCE_ATTRIBUTES`. Without an endpoint nothing is exported (the
//! default), which the other tests of this crate run with.

use std::process::Stdio;
use std::time::Duration;

use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// The collector: hands every export request to the test.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(req.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

#[tokio::test]
async fn ledgerd_exports_its_request_spans_to_the_configured_collector() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .env(
            "LEDGER_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display()),
        )
        .env("LEDGER_LISTEN", "127.0.0.1:0")
        .env_remove("LEDGER_JWT_HS256_KEY")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env_remove("OTEL_SERVICE_NAME")
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=otlp-test",
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ledgerd");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .next_line()
        .await
        .unwrap()
        .expect("ledgerd prints its address");
    let addr = line
        .strip_prefix("ledgerd listening on ")
        .expect("listening line")
        .to_owned();

    let mut client = LedgerServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = client
        .get_account(pb::GetAccountRequest {
            account_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // SIGTERM: the graceful path flushes the batch of spans before the process exits.
    let pid = child.id().expect("running").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "ledgerd exits 0 after SIGTERM: {status}");

    // Every export request that arrived, until the sender is idle: the last one was sent
    // before ledgerd exited, so it is already queued here.
    let mut spans = Vec::new();
    while let Ok(Some(req)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        for rs in req.resource_spans {
            let res = rs.resource.expect("a resource");
            assert_eq!(attr(&res.attributes, "service.name"), Some("ledgerd"));
            assert_eq!(
                attr(&res.attributes, "deployment.environment"),
                Some("otlp-test")
            );
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
    }
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let get = spans
        .iter()
        .find(|s| s.name == "collections.ledger.v1.LedgerService/GetAccount")
        .unwrap_or_else(|| panic!("no GetAccount span among {names:?}"));
    assert_eq!(attr(&get.attributes, "rpc.system"), Some("grpc"));
    assert_eq!(attr(&get.attributes, "rpc.method"), Some("GetAccount"));
}
