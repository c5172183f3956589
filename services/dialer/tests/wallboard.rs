//! The wallboard's HTTP side against a running dialerd (no browser): the live figures feed
//! refuses agent and crm tokens and requests without one, and streams a campaign's figures
//! to a manager as server-sent events; the `?token=` login sets the HttpOnly cookie the
//! page then needs. The browser tests are in scripts/wallboard-test.

mod common;
mod harness;

use std::sync::Arc;

use auth::{Claims, Role, sign_hs256};
use collections_proto::dialer_v1 as pb;
use dialer::app::{Hooks, ServiceBackend};
use dialer::campaign::CampaignSpec;
use dialer::config::{CarrierConfig, Config, ServerSettings};
use dialer::registry::Registry;
use harness::{PATIENCE, START};
use pb::campaign_service_client::CampaignServiceClient;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KEY: &str = "wallboard-test-key-wallboard-test-key";

fn token(role: Role) -> String {
    sign_hs256(
        KEY,
        &Claims {
            sub: format!("{}-1", role.as_str()),
            role,
            exp: Some(jiff::Timestamp::now().as_second() + 3600),
        },
    )
}

/// Sends a GET and returns the connection, read from its start.
async fn get(addr: &str, path: &str, headers: &[(&str, String)]) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    BufReader::new(s)
}

/// The status line and headers (lower-cased names).
async fn head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).await.expect("status");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            return (status, headers);
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
}

async fn status(addr: &str, path: &str, headers: &[(&str, String)]) -> u16 {
    let mut r = get(addr, path, headers).await;
    head(&mut r).await.0
}

/// The `data:` of the next event named `name`, skipping others (chunked framing lines are
/// skipped too: they never start with `event: ` or `data: `).
async fn next_event(r: &mut BufReader<TcpStream>, name: &str) -> serde_json::Value {
    let mut event = false;
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).await.expect("read") > 0,
            "stream ended"
        );
        let line = line.trim_end();
        if let Some(e) = line.strip_prefix("event: ") {
            event = e == name;
        } else if let Some(data) = line.strip_prefix("data: ").filter(|_| event) {
            return serde_json::from_str(data).expect("event JSON");
        }
    }
}

/// A running dialerd with its HTTP port.
struct Served {
    addr: String,
    grpc: String,
    registry: Arc<Registry<ServiceBackend>>,
    stop: tokio::sync::oneshot::Sender<()>,
    server:
        tokio::task::JoinHandle<Result<dialer::registry::ShutdownReport, dialer::app::RunError>>,
}

impl Served {
    async fn shut_down(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("shuts down in time")
            .expect("join")
            .expect("clean shutdown");
    }
}

/// Starts dialerd on `db` with a simulated carrier whose clock runs `speed` times real time,
/// and campaign `wb` running on it.
async fn serve(db: &common::TestDb, replica: &str, speed: f64) -> Served {
    let cfg = Config {
        server: ServerSettings {
            database_url: db.dialer_url.clone(),
            listen: "127.0.0.1:0".into(),
            metrics_listen: Some("127.0.0.1:0".into()),
            jwt_hs256_key: Some(KEY.into()),
            ..ServerSettings::default()
        },
        sample_accounts: Some(50),
        replica_id: replica.into(),
        carrier: CarrierConfig::Sim {
            scenario: "S2".into(),
            seed: 1,
            speed,
            clock_start: Some(START.into()),
        },
        ..Config::default()
    };
    cfg.validate().expect("valid config");
    let (addr_tx, addr_rx) = std::sync::mpsc::channel::<String>();
    let (grpc_tx, grpc_rx) = std::sync::mpsc::channel::<String>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Arc<Registry<ServiceBackend>>>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hooks = Hooks {
        network: None,
        ready: Some(Box::new(move |r| {
            let _ = ready_tx.send(r);
        })),
    };
    let server = tokio::spawn(async move {
        dialer::app::run_with(
            &cfg,
            hooks,
            async {
                let _ = stopped.await;
            },
            move |line| {
                if let Some(a) = line.strip_prefix("dialerd metrics on ") {
                    let _ = addr_tx.send(a.to_owned());
                }
                if let Some(a) = line.strip_prefix("dialerd listening on ") {
                    let _ = grpc_tx.send(a.to_owned());
                }
            },
        )
        .await
    });
    let registry = tokio::time::timeout(PATIENCE, ready_rx)
        .await
        .expect("dialerd assembles in time")
        .expect("registry");
    let spec = CampaignSpec {
        id: "wb".into(),
        name: "Wallboard test".into(),
        ..CampaignSpec::default()
    };
    registry.create(spec).await.expect("create");
    registry.start("wb").await.expect("start");
    let addr = tokio::task::spawn_blocking(move || addr_rx.recv_timeout(PATIENCE))
        .await
        .expect("join")
        .expect("the HTTP port is announced");
    let grpc = tokio::task::spawn_blocking(move || grpc_rx.recv_timeout(PATIENCE))
        .await
        .expect("join")
        .expect("the gRPC port is announced");
    Served {
        addr,
        grpc,
        registry,
        stop,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_feed_refuses_agents_and_streams_to_managers() {
    let db = common::TestDb::sqlite();
    let served = serve(&db, "wallboard-1", 1.0).await;
    let addr = served.addr.clone();

    let feed = "/wallboard/api/campaigns/wb/events";
    let bearer = |role| vec![("Authorization", format!("Bearer {}", token(role)))];
    assert_eq!(status(&addr, feed, &[]).await, 401, "no token");
    assert_eq!(
        status(&addr, feed, &[("Authorization", "Bearer not.a.jwt".into())]).await,
        401
    );
    assert_eq!(
        status(&addr, feed, &bearer(Role::Agent)).await,
        403,
        "agent"
    );
    assert_eq!(status(&addr, feed, &bearer(Role::Crm)).await, 403, "crm");
    assert_eq!(
        status(
            &addr,
            "/wallboard/api/campaigns/nope/events",
            &bearer(Role::Manager)
        )
        .await,
        404
    );

    // A manager gets the stream: the latest figures at once, then the next snapshot.
    let mut r = get(&addr, feed, &bearer(Role::Manager)).await;
    let (code, headers) = head(&mut r).await;
    assert_eq!(code, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")),
        "{headers:?}"
    );
    let first = next_event(&mut r, "figures").await;
    assert_eq!(first["campaign_id"], "wb");
    assert_eq!(first["abandon_target"], 0.03);
    let mut later = next_event(&mut r, "figures").await;
    while later["at_ms"] == first["at_ms"] {
        later = next_event(&mut r, "figures").await;
    }
    assert!(later["at_ms"].as_i64() > first["at_ms"].as_i64(), "{later}");
    assert_eq!(later["state"], "running");

    // The overview feed and the campaign list, for an admin.
    let mut r = get(&addr, "/wallboard/api/campaigns", &bearer(Role::Admin)).await;
    assert_eq!(head(&mut r).await.0, 200);

    // The browser login: ?token= sets the cookie and redirects to the clean URL; the cookie
    // then opens the page; an agent's token gets 403 and no cookie.
    let mut r = get(
        &addr,
        &format!("/wallboard/campaign/wb?token={}", token(Role::Manager)),
        &[],
    )
    .await;
    let (code, headers) = head(&mut r).await;
    assert_eq!(code, 303);
    let location = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.as_str());
    assert_eq!(location, Some("/wallboard/campaign/wb"));
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let mut r = get(&addr, "/wallboard/campaign/wb", &[("Cookie", pair)]).await;
    assert_eq!(head(&mut r).await.0, 200);
    let mut body = vec![0u8; 512];
    let n = r.read(&mut body).await.expect("body");
    assert!(String::from_utf8_lossy(&body[..n]).contains("<!doctype html>"));
    let mut r = get(
        &addr,
        &format!("/wallboard/?token={}", token(Role::Agent)),
        &[],
    )
    .await;
    let (code, headers) = head(&mut r).await;
    assert_eq!(code, 403);
    assert!(!headers.iter().any(|(k, _)| k == "set-cookie"));
    // Prometheus still scrapes the same port without a token.
    assert_eq!(status(&addr, "/metrics", &[]).await, 200);

    served.shut_down().await;
}

/// A page opened after ten minutes of the shift gets them first: the feed's first event is
/// the history, one point per minute of the campaign's clock since it started, before the
/// live figures; gRPC's WatchCampaign sends the same series when asked for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_mid_shift_gets_the_shift_so_far() {
    let db = common::TestDb::sqlite();
    // Ten minutes of the campaign's clock per second.
    let served = serve(&db, "wallboard-2", 600.0).await;
    let mut figures = served.registry.watch("wb").expect("watch");
    let started = figures.borrow_and_update().at_ms;
    tokio::time::timeout(PATIENCE, async {
        while figures.borrow_and_update().at_ms < started + 10 * 60_000 {
            figures.changed().await.expect("figures");
        }
    })
    .await
    .expect("ten minutes of the shift pass");

    let bearer = vec![("Authorization", format!("Bearer {}", token(Role::Manager)))];
    let mut r = get(&served.addr, "/wallboard/api/campaigns/wb/events", &bearer).await;
    assert_eq!(head(&mut r).await.0, 200);
    // The first event, before any figures.
    let mut line = String::new();
    while !line.starts_with("event: ") {
        line.clear();
        assert!(
            r.read_line(&mut line).await.expect("read") > 0,
            "stream ended"
        );
    }
    assert_eq!(line.trim_end(), "event: history");
    line.clear();
    r.read_line(&mut line).await.expect("read");
    let history: serde_json::Value =
        serde_json::from_str(line.trim_end().strip_prefix("data: ").expect("data")).expect("JSON");
    assert_eq!(history["every_ms"], 60_000);
    let points = history["points"].as_array().expect("points");
    assert!(points.len() >= 6, "{history}");
    let at: Vec<i64> = points
        .iter()
        .map(|p| p["at_ms"].as_i64().expect("at_ms"))
        .collect();
    // From the first minutes of the shift (the clock runs on while the campaign is created
    // and started), a point a minute of its clock (a tick may come a little late at 600x).
    assert!(at[0] < started + 5 * 60_000, "from the start: {at:?}");
    assert!(
        at.windows(2)
            .all(|w| w[1] - w[0] >= 60_000 && w[1] - w[0] < 2 * 60_000),
        "a point a minute: {at:?}"
    );
    for p in points {
        for k in ["abandon_rate_today", "abandon_rate_window", "occupancy"] {
            let v = p[k].as_f64().expect(k);
            assert!((0.0..=1.0).contains(&v), "{k}: {p}");
        }
    }
    // Then the live figures, newer than the last point.
    let f = next_event(&mut r, "figures").await;
    assert!(f["at_ms"].as_i64() >= at.last().copied(), "{f}");

    // WatchCampaign: the series in the first message when asked for, in none otherwise.
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", served.grpc))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut campaigns =
        CampaignServiceClient::with_interceptor(ch, harness::bearer(&token(Role::Manager)));
    let watch = |history| pb::WatchCampaignRequest {
        campaign_id: "wb".into(),
        history,
    };
    let mut stream = campaigns
        .watch_campaign(watch(true))
        .await
        .expect("watch")
        .into_inner();
    let first = stream.message().await.expect("first").expect("a message");
    assert!(
        first.history.len() >= points.len(),
        "{}",
        first.history.len()
    );
    let second = stream.message().await.expect("second").expect("a message");
    assert!(second.history.is_empty());
    let mut plain = campaigns
        .watch_campaign(watch(false))
        .await
        .expect("watch")
        .into_inner();
    let first = plain.message().await.expect("first").expect("a message");
    assert!(first.history.is_empty());

    served.shut_down().await;
}
