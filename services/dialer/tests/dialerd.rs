//! The real `dialerd` binary: configured by environment, it serves gRPC and `/metrics`,
//! shuts down cleanly on SIGTERM, resumes its campaign on the next start, and refuses to
//! start on a bad setting, naming it.

mod harness;

use std::process::Stdio;

use auth::Role;
use collections_proto::dialer_v1 as pb;
use harness::{KEY, PATIENCE, START, account_ids, campaign, token};
use pb::campaign_service_client::CampaignServiceClient;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

struct Dialerd {
    child: Child,
    grpc: String,
    metrics: String,
}

async fn start(database_url: &str) -> Dialerd {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialerd"))
        .env("DIALER_LISTEN", "127.0.0.1:0")
        .env("DIALER_METRICS_LISTEN", "127.0.0.1:0")
        .env("DIALER_DATABASE_URL", database_url)
        .env("DIALER_JWT_HS256_KEY", KEY)
        .env("DIALER_SAMPLE_ACCOUNTS", "200")
        .env("DIALER_CARRIER_CLOCK_START", START)
        .env("DIALER_CARRIER_SPEED", "20")
        .env("DIALER_SHUTDOWN_GRACE_S", "20")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("dialerd starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut grpc, mut metrics) = (String::new(), String::new());
    tokio::time::timeout(PATIENCE, async {
        while grpc.is_empty() {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("dialerd printed its address");
            if let Some(a) = line.strip_prefix("dialerd metrics on ") {
                metrics = a.to_string();
            }
            if let Some(a) = line.strip_prefix("dialerd listening on ") {
                grpc = a.to_string();
            }
        }
    })
    .await
    .expect("dialerd listening");
    Dialerd {
        child,
        grpc,
        metrics,
    }
}

impl Dialerd {
    async fn campaigns(&self) -> harness::Campaigns {
        let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", self.grpc))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        CampaignServiceClient::with_interceptor(ch, harness::bearer(&token("m1", Role::Manager)))
    }

    async fn scrape(&self) -> String {
        let mut sock = tokio::net::TcpStream::connect(&self.metrics)
            .await
            .expect("metrics");
        sock.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let mut body = String::new();
        sock.read_to_string(&mut body).await.expect("response");
        body
    }

    async fn signal(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        let killed = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("exits within patience")
            .expect("status")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialerd_serves_shuts_down_on_sigterm_and_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/dialer.db?mode=rwc", dir.path().display());
    let d = start(&url).await;
    let mut campaigns = d.campaigns().await;
    campaigns
        .create_campaign(campaign("bin", pb::PacingMode::Predictive))
        .await
        .expect("created");
    campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: "bin".into(),
            account_ids: account_ids(200),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added");
    harness::start(&mut campaigns, "bin").await;
    let text = d.scrape().await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("dialer_campaigns{state=\"running\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("dialer_queue_accounts{campaign=\"bin\""),
        "{text}"
    );
    drop(campaigns);
    let status = d.signal("-TERM").await;
    assert!(status.success(), "{status:?}");

    let d = start(&url).await;
    let got = d
        .campaigns()
        .await
        .get_campaign(pb::GetCampaignRequest {
            campaign_id: "bin".into(),
        })
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(got.state, pb::CampaignState::Running as i32);
    let status = d.signal("-INT").await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_bad_setting_stops_dialerd_and_names_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_dialerd"))
        .env("DIALER_CARRIER_SPEED", "0")
        .env("DIALER_LISTEN", "127.0.0.1:0")
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("carrier.speed"), "{err}");
}
