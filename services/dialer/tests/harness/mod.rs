//! dialerd in process for the gRPC tests: the real server stack (`dialer::server::serve`)
//! on a loopback port chosen by the OS, the campaign store on a fresh SQLite file (or the
//! given URL), queues in process or on the real Redis (`REDIS_URL`), outcomes kept in memory,
//! the sample portfolio as the account source, and a simulated network playing calls 20
//! times faster than real time. The dialer's clock starts on a Monday at 16:00 UTC (11:00 in
//! New York, 08:00 in Los Angeles), so calling windows are open. Clients talk gRPC only.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth::{Auth, BearerAuth, Claims, Role, Token};
use carrier::SimNetwork;
use collections_proto::dialer_v1 as pb;
use dialer::backend::{MemorySource, ServiceStores};
use dialer::campaign_store::CampaignStore;
use dialer::engine::Clock;
use dialer::metrics::Metrics;
use dialer::outcomes::MemorySink;
use dialer::registry::{Registry, ShutdownReport};
use dialer::server::{ServeError, ServeOptions, TlsPem};
use pb::agent_service_client::AgentServiceClient;
use pb::campaign_service_client::CampaignServiceClient;
use pb::compliance_service_client::ComplianceServiceClient;
use simulator::scenario::{Scenario, ScenarioId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, Streaming};

pub const KEY: &str = "0123456789abcdef0123456789abcdef";
/// A Monday, 11:00 in New York and 08:00 in Los Angeles.
pub const START: &str = "2026-11-23T16:00:00Z";
/// Generous bound for waits, so a broken test fails instead of hanging. Never a speed check.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub type TestBackend = ServiceStores<MemorySink, MemorySource>;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// The local Redis Cluster scripts/services-up starts (three masters).
pub fn redis_cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_string()
    })
}

/// A campaign id no other test run uses (Redis keeps queues between runs).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[derive(Debug, Clone)]
pub struct Options {
    pub redis: bool,
    /// Size of the sample portfolio.
    pub accounts: u32,
    /// Campaign store; none: a fresh SQLite file.
    pub database_url: Option<String>,
    /// Simulated seconds per real second.
    pub speed: f64,
    pub tls: bool,
    pub grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            redis: false,
            accounts: 500,
            database_url: None,
            speed: 20.0,
            tls: false,
            grace: Duration::from_secs(60),
        }
    }
}

/// A running in-process dialerd.
pub struct Server {
    pub addr: SocketAddr,
    pub registry: Arc<Registry<TestBackend>>,
    pub database_url: String,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<ShutdownReport, ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

pub fn start_ms() -> i64 {
    START
        .parse::<jiff::Timestamp>()
        .expect("ts")
        .as_millisecond()
}

fn tls_pem() -> TlsPem {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    TlsPem {
        cert: std::fs::read(dir.join("localhost.pem")).expect("test cert"),
        key: std::fs::read(dir.join("localhost.key")).expect("test key"),
    }
}

impl Server {
    pub async fn start(opts: Options) -> Server {
        let (dir, database_url) = match &opts.database_url {
            Some(u) => (None, u.clone()),
            None => {
                let dir = tempfile::tempdir().expect("tmp");
                let url = format!("sqlite://{}/dialer.db?mode=rwc", dir.path().display());
                (Some(dir), url)
            }
        };
        let mut s = Server::start_on(&opts, &database_url).await;
        s._dir = dir;
        s
    }

    /// A server on an existing campaign store (a restart).
    pub async fn start_on(opts: &Options, database_url: &str) -> Server {
        let clock = Clock::starting_at(start_ms());
        let redis = opts.redis.then(redis_url);
        let stores = dialer::backend::service_stores(
            redis.as_deref(),
            MemorySink::default(),
            dialer::app::sample_source(opts.accounts, clock.now_ms()),
            compliance::Engine::builtin(),
            "test-replica",
            None,
        )
        .await
        .expect("stores (Redis on REDIS_URL: run scripts/services-up)");
        let store = CampaignStore::open(database_url)
            .await
            .expect("campaign store");
        let network = SimNetwork {
            scenario: Scenario::get(ScenarioId::S1),
            seed: 1,
            speed: opts.speed,
        };
        let registry = Arc::new(Registry::new(
            Arc::new(stores),
            store,
            Box::new(network),
            clock,
        ));
        registry.resume().await.expect("resume");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dialer::server::serve(
            registry.clone(),
            Metrics::new(),
            ServeOptions {
                auth: Auth::new(Some(KEY)),
                tls: opts.tls.then(tls_pem),
                shutdown_grace: opts.grace,
            },
            listener,
            async {
                let _ = stopped.await;
            },
            async {},
        ));
        Server {
            addr,
            registry,
            database_url: database_url.to_string(),
            tls: opts.tls,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// Runs the shutdown sequence and waits for the server to close.
    pub async fn shutdown(&mut self) -> ShutdownReport {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("shutdown within patience")
            .expect("server task")
            .expect("server")
    }

    /// Starts the shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) -> JoinHandle<Result<ShutdownReport, ServeError>> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().expect("running")
    }

    pub async fn channel(&self) -> Channel {
        let endpoint = if self.tls {
            let ca = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ca.pem"),
            )
            .expect("ca");
            Endpoint::from_shared(format!("https://localhost:{}", self.addr.port()))
                .expect("endpoint")
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                        .domain_name("localhost"),
                )
                .expect("tls")
        } else {
            Endpoint::from_shared(format!("http://{}", self.addr)).expect("endpoint")
        };
        endpoint.connect().await.expect("connect")
    }

    pub async fn campaigns(&self, token: &str) -> Campaigns {
        CampaignServiceClient::with_interceptor(self.channel().await, bearer(token))
    }

    pub async fn agents(&self, token: &str) -> Agents {
        AgentServiceClient::with_interceptor(self.channel().await, bearer(token))
    }

    pub async fn compliance(&self, token: &str) -> Explainer {
        ComplianceServiceClient::with_interceptor(self.channel().await, bearer(token))
    }

    pub async fn health(&self, service: &str) -> i32 {
        let mut h = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        h.check(tonic_health::pb::HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .expect("health")
        .into_inner()
        .status
    }
}

/// A token for `sub` with `role`, valid for an hour.
pub fn token(sub: &str, role: Role) -> String {
    auth::sign_hs256(
        KEY,
        &Claims {
            sub: sub.to_string(),
            role,
            exp: Some(jiff::Timestamp::now().as_second() + 3600),
        },
    )
}

/// The interceptor of a client holding `token` (none when empty: a server without a key).
pub fn bearer(token: &str) -> BearerAuth {
    BearerAuth(if token.is_empty() {
        Token::none()
    } else {
        Token::fixed(token)
    })
}

pub type Campaigns = CampaignServiceClient<InterceptedService<Channel, BearerAuth>>;
pub type Agents = AgentServiceClient<InterceptedService<Channel, BearerAuth>>;
pub type Explainer = ComplianceServiceClient<InterceptedService<Channel, BearerAuth>>;

/// A campaign with the given pacing and defaults otherwise.
pub fn campaign(id: &str, mode: pb::PacingMode) -> pb::CreateCampaignRequest {
    pb::CreateCampaignRequest {
        campaign: Some(pb::Campaign {
            campaign_id: id.to_string(),
            name: Some(format!("test {id}")),
            pacing: Some(pb::Pacing {
                mode: mode as i32,
                ..Default::default()
            }),
            // Short wrap-up: a test shutdown does not wait two minutes for one.
            wrap_up_s: Some(5),
            ..Default::default()
        }),
    }
}

/// A manager starts `campaign`.
pub async fn start(campaigns: &mut Campaigns, campaign: &str) {
    campaigns
        .start_campaign(pb::StartCampaignRequest {
            campaign_id: campaign.into(),
        })
        .await
        .expect("started");
}

/// A manager stops `campaign` and waits for its calls in progress to end; returns the
/// campaign as stopped.
pub async fn stop(campaigns: &mut Campaigns, campaign: &str) -> pb::Campaign {
    campaigns
        .stop_campaign(pb::StopCampaignRequest {
            campaign_id: campaign.into(),
            wait: true,
        })
        .await
        .expect("stopped")
        .into_inner()
}

/// A manager's `WatchCampaign` stream of `campaign`'s figures. A replica that has not yet
/// picked up a campaign created through another one (it follows the table every second)
/// answers NOT_FOUND: asked again until it has, within the patience.
pub async fn watch(campaigns: &mut Campaigns, campaign: &str) -> tonic::Streaming<pb::Figures> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match campaigns
                .watch_campaign(pb::WatchCampaignRequest {
                    campaign_id: campaign.into(),
                    history: false,
                })
                .await
            {
                Ok(r) => return r.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(s) => panic!("watch: {s}"),
            }
        }
    })
    .await
    .expect("the campaign on this replica within patience")
}

/// The sample portfolio's account ids `A000000`...
pub fn account_ids(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("A{i:06}")).collect()
}

/// One softphone session.
pub struct Softphone {
    pub agent: String,
    tx: mpsc::Sender<pb::AgentRequest>,
    pub rx: Streaming<pb::AgentMessage>,
}

impl std::fmt::Debug for Softphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Softphone")
            .field("agent", &self.agent)
            .finish()
    }
}

impl Softphone {
    /// Logs `agent` (its own token) into `campaign`.
    pub async fn login(server: &Server, agent: &str, campaign: &str) -> Result<Softphone, Status> {
        let mut client = server.agents(&token(agent, Role::Agent)).await;
        Softphone::login_with(&mut client, agent, "", campaign).await
    }

    /// Logs `agent` into `campaign` on a plaintext server at `addr`.
    pub async fn login_to(
        addr: SocketAddr,
        agent: &str,
        campaign: &str,
    ) -> Result<Softphone, Status> {
        Softphone::login_at(addr, agent, campaign, &format!("sip:{agent}@sim")).await
    }

    /// Logs in with `client`, claiming `agent_id` (empty: the token's sub).
    pub async fn login_with(
        client: &mut Agents,
        agent: &str,
        agent_id: &str,
        campaign: &str,
    ) -> Result<Softphone, Status> {
        let endpoint = format!("sip:{agent}@sim");
        Softphone::login_endpoint(client, agent, agent_id, campaign, &endpoint).await
    }

    /// Logs `agent` into `campaign` on a plaintext server at `addr` with its softphone at
    /// `endpoint` (a real SIP URI when dialerd runs the SIP carrier: it calls it at login).
    pub async fn login_at(
        addr: SocketAddr,
        agent: &str,
        campaign: &str,
        endpoint: &str,
    ) -> Result<Softphone, Status> {
        let ch = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut client =
            AgentServiceClient::with_interceptor(ch, bearer(&token(agent, Role::Agent)));
        Softphone::login_endpoint(&mut client, agent, "", campaign, endpoint).await
    }

    /// Logs in with `client` and the softphone `endpoint`, claiming `agent_id` (empty: the
    /// token's sub).
    pub async fn login_endpoint(
        client: &mut Agents,
        agent: &str,
        agent_id: &str,
        campaign: &str,
        endpoint: &str,
    ) -> Result<Softphone, Status> {
        let (tx, rx) = mpsc::channel(64);
        tx.send(command(pb::agent_request::Command::Login(pb::Login {
            campaign_id: campaign.to_string(),
            endpoint: endpoint.to_string(),
            agent_id: agent_id.to_string(),
        })))
        .await
        .expect("queued");
        let resp = client.session(ReceiverStream::new(rx)).await?;
        Ok(Softphone {
            agent: agent.to_string(),
            tx,
            rx: resp.into_inner(),
        })
    }

    /// Goes ready and answers every connected call with a right-party-contact disposition
    /// (a conversation about every debt of the call), counting them in `dispositions`,
    /// until the session ends.
    pub fn work_right_party_contacts(
        mut self,
        dispositions: Arc<std::sync::atomic::AtomicU32>,
    ) -> JoinHandle<()> {
        use pb::agent_request::Command as C;
        tokio::spawn(async move {
            self.send(C::Ready(pb::Ready {})).await;
            while let Ok(Some(m)) = self.rx.message().await {
                if let Some(pb::agent_message::Event::Connected(c)) = m.event {
                    self.send(C::Disposition(pb::DispositionCall {
                        call_id: c.call_id,
                        disposition: Some(pb::Disposition {
                            code: pb::DispositionCode::RightPartyContact as i32,
                            ..Default::default()
                        }),
                    }))
                    .await;
                    dispositions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        })
    }

    pub async fn send(&self, c: pb::agent_request::Command) {
        self.tx.send(command(c)).await.expect("session open");
    }

    /// Sends `c`; false if the session has ended (a softphone that reconnects then does).
    pub async fn try_send(&self, c: pb::agent_request::Command) -> bool {
        self.tx.send(command(c)).await.is_ok()
    }

    /// The next message, failing the test after [`PATIENCE`].
    pub async fn next(&mut self) -> Option<Result<pb::AgentMessage, Status>> {
        tokio::time::timeout(PATIENCE, self.rx.message())
            .await
            .expect("a message within patience")
            .transpose()
    }

    /// Waits for the first event `f` picks, skipping others.
    pub async fn wait_for<T>(
        &mut self,
        mut f: impl FnMut(&pb::agent_message::Event) -> Option<T>,
    ) -> T {
        loop {
            let m = self
                .next()
                .await
                .expect("stream open")
                .expect("no error status");
            if let Some(t) = m.event.as_ref().and_then(&mut f) {
                return t;
            }
        }
    }

    /// Ends the session from the softphone's side.
    /// The next command this softphone had rejected (other events are skipped).
    pub async fn next_rejection(&mut self) -> pb::CommandRejected {
        self.wait_for(|e| match e {
            pb::agent_message::Event::Rejected(r) => Some(r.clone()),
            _ => None,
        })
        .await
    }

    pub fn close(self) {
        drop(self.tx);
        drop(self.rx);
    }
}

pub fn command(c: pb::agent_request::Command) -> pb::AgentRequest {
    pb::AgentRequest { command: Some(c) }
}

/// Figures of campaign `id` from `WatchCampaign`, once `done` holds (fails after
/// [`PATIENCE`]).
pub async fn figures_until(
    campaigns: &mut Campaigns,
    id: &str,
    mut done: impl FnMut(&pb::Figures) -> bool,
) -> pb::Figures {
    let mut watch = watch(campaigns, id).await;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let f = watch.message().await.expect("figures").expect("open");
            if done(&f) {
                return f;
            }
        }
    })
    .await
    .expect("figures within patience")
}
