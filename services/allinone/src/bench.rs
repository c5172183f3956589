//! What the benchmark binaries share: where their throw-away PostgreSQL databases go, the
//! synthetic accounts they load into the ledger, tokens, and `dialerd` assembled with a
//! predictive campaign and its softphones (`campaign-load`, `dialer-load`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use auth::{BearerAuth, Claims, Role, Token, sign_hs256};
use collections_proto::dialer_v1 as dpb;
use dialer::app::{Local, ServiceBackend};
use dialer::config::{CarrierConfig, Config, ServerSettings};
use dialer::engine::Figures;
use dialer::registry::Registry;
use dpb::agent_message::Event;
use dpb::agent_request::Command as C;
use dpb::agent_service_client::AgentServiceClient;
use dpb::campaign_service_client::CampaignServiceClient;
use ledger_api::common_pb;
use ledger_api::pb;
use sqlstore::scratch::ScratchPg;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The PostgreSQL server a benchmark creates its databases on: `--database-url`, else the
/// test server of [`sqlstore::scratch::admin_url`].
pub fn admin_url(arg: Option<&str>) -> String {
    arg.map_or_else(sqlstore::scratch::admin_url, str::to_owned)
}

/// A fresh database for one benchmark run.
pub async fn scratch_db(admin: &str, prefix: &str) -> anyhow::Result<ScratchPg> {
    ScratchPg::create(admin, prefix)
        .await
        .context("creating a database on PostgreSQL (scripts/services-up starts it)")
}

/// Account `<prefix>-<a>`: one person with one mobile, one debt `<prefix>-<a>-d1` of
/// `balance_minor`, 60 days past due.
pub fn account(prefix: &str, a: usize, balance_minor: i64) -> pb::Account {
    pb::Account {
        account_id: format!("{prefix}-{a}"),
        creditor: "Bench Bank".into(),
        persons: vec![pb::Person {
            person_id: "p1".into(),
            full_name: "Bench Person".into(),
            role: pb::PersonRole::Primary as i32,
            phones: vec![pb::Phone {
                number: phone(a),
                kind: common_pb::PhoneKind::Mobile as i32,
                ..Default::default()
            }],
            ..Default::default()
        }],
        debts: vec![pb::Debt {
            debt_id: format!("{prefix}-{a}-d1"),
            balance_minor,
            currency: "USD".into(),
            days_past_due: 60,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Account `a`'s mobile number.
pub fn phone(a: usize) -> String {
    format!("+1404555{:04}", a % 10_000)
}

/// A bearer token for `sub` with `role`, signed with `key`, that never expires (a run's
/// tokens must outlive its longest phase).
pub fn token(key: &str, sub: &str, role: Role) -> Token {
    Token::fixed(sign_hs256(
        key,
        &Claims {
            sub: sub.into(),
            role,
            exp: None,
        },
    ))
}

/// A campaign manager's client of a benchmark's `dialerd`.
pub type Manager = CampaignServiceClient<InterceptedService<Channel, BearerAuth>>;

/// What a benchmark's `dialerd` runs on: its database, Redis (or in-process stores), the
/// ledger it reads from, and the simulated carrier's speed.
#[derive(Debug, Clone)]
pub struct DialerSetup {
    /// Unique per run: queue keys and attempt counters in Redis outlive a run.
    pub run: String,
    pub database_url: String,
    pub jwt_key: String,
    pub redis_url: Option<String>,
    pub ledger_uri: String,
    pub ledger_key: String,
    /// The simulated network runs this many times faster than real time.
    pub speed: f64,
}

/// `dialerd` assembled from its configuration as the binary is (on the simulated carrier,
/// scenario S2, from 2026-11-23T17:00Z), serving on a free loopback port, with a manager's
/// client and one predictive campaign created.
pub struct BenchDialer {
    pub server: Local,
    pub channel: Channel,
    pub manager: Manager,
    pub campaign: String,
    jwt_key: String,
}

impl std::fmt::Debug for BenchDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchDialer")
            .field("addr", &self.server.addr)
            .field("campaign", &self.campaign)
            .finish_non_exhaustive()
    }
}

impl BenchDialer {
    /// Starts `dialerd` on `setup` and creates the predictive campaign `campaign` (`name`).
    pub async fn start(setup: &DialerSetup, campaign: &str, name: &str) -> anyhow::Result<Self> {
        let cfg = Config {
            server: ServerSettings {
                database_url: setup.database_url.clone(),
                jwt_hs256_key: Some(setup.jwt_key.clone()),
                listen: "127.0.0.1:0".into(),
                ..ServerSettings::default()
            },
            redis_url: setup.redis_url.clone(),
            ledger_url: Some(setup.ledger_uri.clone()),
            ledger_jwt_hs256_key: Some(setup.ledger_key.clone()),
            replica_id: format!("load-{}", setup.run),
            carrier: CarrierConfig::Sim {
                scenario: "S2".into(),
                seed: 1,
                speed: setup.speed,
                clock_start: Some("2026-11-23T17:00:00Z".into()),
            },
            shutdown_grace_s: 30,
            ..Config::default()
        };
        cfg.validate().context("config")?;
        let server = Local::start(&cfg, Duration::from_secs(60)).await?;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))?
            .connect()
            .await?;
        let mut manager = CampaignServiceClient::with_interceptor(
            channel.clone(),
            BearerAuth(token(&setup.jwt_key, "load-manager", Role::Manager)),
        );
        manager
            .create_campaign(dpb::CreateCampaignRequest {
                campaign: Some(dpb::Campaign {
                    campaign_id: campaign.to_owned(),
                    name: Some(name.to_owned()),
                    pacing: Some(dpb::Pacing {
                        mode: dpb::PacingMode::Predictive as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })
            .await?;
        Ok(BenchDialer {
            server,
            channel,
            manager,
            campaign: campaign.to_owned(),
            jwt_key: setup.jwt_key.clone(),
        })
    }

    /// `count` softphones, each its own `AgentService.Session` stream logged in to the
    /// campaign and ready; each ended call gets a right-party-contact disposition after
    /// `wrap_up`, counted in `dispositions`.
    pub async fn softphones(
        &self,
        count: usize,
        wrap_up: Duration,
        dispositions: Arc<AtomicU64>,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let mut agents = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("load-agent-{i}");
            let mut client = AgentServiceClient::with_interceptor(
                self.channel.clone(),
                BearerAuth(token(&self.jwt_key, &name, Role::Agent)),
            );
            let (tx, rx) = mpsc::channel(16);
            let send = |c| dpb::AgentRequest { command: Some(c) };
            tx.send(send(C::Login(dpb::Login {
                campaign_id: self.campaign.clone(),
                endpoint: format!("sip:{name}@load"),
                agent_id: String::new(),
            })))
            .await?;
            tx.send(send(C::Ready(dpb::Ready {}))).await?;
            let mut events = client.session(ReceiverStream::new(rx)).await?.into_inner();
            let done = dispositions.clone();
            agents.push(tokio::spawn(async move {
                while let Ok(Some(m)) = events.message().await {
                    if let Some(Event::Ended(e)) = m.event {
                        if !wrap_up.is_zero() {
                            tokio::time::sleep(wrap_up).await;
                        }
                        let d = dpb::DispositionCall {
                            call_id: e.call_id,
                            disposition: Some(dpb::Disposition {
                                code: dpb::DispositionCode::RightPartyContact as i32,
                                ..Default::default()
                            }),
                        };
                        if tx.send(send(C::Disposition(d))).await.is_err() {
                            return;
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        Ok(agents)
    }

    /// The campaign's live figures (None before it runs).
    pub fn figures(&self) -> Option<Figures> {
        campaign_figures(&self.server.registry, &self.campaign)
    }

    /// Stops the campaign without waiting for its calls (they stay in the outbox as
    /// provisional outcomes, as after a crash), ends the softphones and shuts `dialerd`
    /// down; false if it did not within `patience`.
    pub async fn stop(
        self,
        agents: Vec<JoinHandle<()>>,
        patience: Duration,
    ) -> anyhow::Result<bool> {
        let BenchDialer {
            server,
            mut manager,
            campaign,
            ..
        } = self;
        manager
            .stop_campaign(dpb::StopCampaignRequest {
                campaign_id: campaign,
                wait: false,
            })
            .await?;
        for a in agents {
            a.abort();
        }
        drop(manager);
        Ok(server.shutdown(patience).await.is_some())
    }
}

/// The figures of `campaign` in `registry` (a clone of it can watch from another task).
pub fn campaign_figures(registry: &Registry<ServiceBackend>, campaign: &str) -> Option<Figures> {
    registry
        .figures()
        .into_iter()
        .map(|(_, f)| f)
        .find(|f| f.campaign_id == campaign)
}
