//! The embedded all-in-one: the ledger and the dialer in one process on SQLite files,
//! in-process queues and counters, the simulated carrier and a simulated agent team: what
//! the README's first command runs, with nothing to install.
//!
//! Everything goes through the production paths: a CRM loads the generated portfolio with
//! `UpsertAccounts` over gRPC, the dialer reads accounts through the ledger link, every
//! attempt goes into the durable outbox and reaches the ledger through `RecordOutcomes`;
//! dispositions set holds and promises over gRPC. Only the campaign runs on a fast clock: its
//! tokio runtime has a paused clock (a shift runs in seconds with exact timings), and its
//! store calls are offloaded to the real runtime ([`crate::offload`]) so virtual time never
//! moves while a write is on its way.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth::{Auth, Claims, Role, sign_hs256};
use collections_proto::common_v1 as cpb;
use collections_proto::ledger_v1 as pb;
use jiff::Timestamp;
use pb::ledger_service_client::LedgerServiceClient;
use queue::memory::{MemoryAttemptBook, MemoryQueue};
use simulator::scenario::{Scenario, ScenarioId};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::offload::OnRuntime;
use auth::Token;
use carrier::Prompt;
use carrier::sim::SimCarrier;
use dialer::backend::Stores;
use dialer::campaign::CampaignSpec;
use dialer::engine::{self, Clock, Figures};
use dialer::ledger_link::{self, LedgerLink};
use dialer::outbox::{Outbox, OutboxError, RelayHandle};
use dialer::portfolio;
use dialer::sim_agents::{self, Behaviour};

/// What can stop the all-in-one.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("ledger: {0}")]
    Ledger(String),
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error("campaign: {0}")]
    Engine(#[from] engine::EngineError),
    #[error("virtual-time runtime: {0}")]
    Runtime(String),
}

/// The demo shift.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub accounts: usize,
    pub agents: usize,
    /// First instant of the shift (UTC).
    pub start: Timestamp,
    pub hours: f64,
    pub scenario: ScenarioId,
    pub seed: u64,
    pub pacing: pacing::Policy,
    /// Progress is reported this often (virtual minutes).
    pub progress_every_min: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            accounts: 8_000,
            agents: 10,
            // Monday 2026-11-23, 10:00 in New York to 15:00 in Los Angeles.
            start: Timestamp::constant(1_795_446_000, 0),
            hours: 8.0,
            scenario: ScenarioId::S2,
            seed: 7,
            pacing: pacing::Policy::predictive(),
            progress_every_min: 60,
        }
    }
}

/// A ledger served on a loopback port, with a key to mint tokens.
#[derive(Debug)]
pub struct EmbeddedLedger {
    pub uri: String,
    pub jwt_key: String,
    /// The ledger's clock (the wall clock until a shift moves it to its virtual time, so
    /// outcomes are judged against the time they were made in).
    pub clock: ledger::clock::Clock,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl EmbeddedLedger {
    /// A bearer token for `sub` with `role`, valid for a day.
    pub fn token(&self, sub: &str, role: Role) -> String {
        dev_token(&self.jwt_key, sub, role)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.task.await;
    }
}

/// A bearer token signed with `key`, valid for 24 hours.
pub fn dev_token(key: &str, sub: &str, role: Role) -> String {
    sign_hs256(
        key,
        &Claims {
            sub: sub.into(),
            role,
            exp: Some(Timestamp::now().as_second() + 86_400),
        },
    )
}

/// Starts `ledgerd`'s server in this process on `dir/ledger.db` (created fresh).
pub async fn start_ledger(dir: &Path) -> Result<EmbeddedLedger, EmbeddedError> {
    std::fs::create_dir_all(dir).map_err(|e| EmbeddedError::DataDir(dir.into(), e))?;
    for f in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
    serve_ledger(&url).await
}

/// Starts `ledgerd`'s server in this process on the database at `url` (migrated first),
/// listening on a free loopback port, with a fresh key for its tokens.
pub async fn serve_ledger(url: &str) -> Result<EmbeddedLedger, EmbeddedError> {
    let store = ledger::store::Store::connect(url)
        .await
        .map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let jwt_key = uuid::Uuid::new_v4().to_string();
    let auth = Auth::new(Some(&jwt_key));
    let clock = ledger::clock::Clock::system();
    let opts = ledger::server::ServeOptions {
        clock: clock.clone(),
        ..Default::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(e) = ledger::server::serve(
            store,
            ledger::metrics::Metrics::new(),
            auth,
            opts,
            listener,
            shutdown,
        )
        .await
        {
            tracing::error!(error = %e, "embedded ledger stopped");
        }
    });
    Ok(EmbeddedLedger {
        uri: format!("http://{addr}"),
        jwt_key,
        clock,
        stop: Some(stop),
        task,
    })
}

/// Loads accounts into the ledger as a CRM does (one `UpsertAccounts` stream); returns how
/// many were accepted.
pub async fn load_accounts(
    ledger: &EmbeddedLedger,
    accounts: Vec<ledger_api::domain::Account>,
) -> Result<u32, EmbeddedError> {
    let channel =
        ledger_link::lazy_channel(&ledger.uri).map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let token = Token::fixed(ledger.token("crm-loader", Role::Crm));
    let mut client = LedgerServiceClient::with_interceptor(channel, auth::BearerAuth(token));
    let reqs: Vec<pb::UpsertAccountRequest> = accounts
        .into_iter()
        .map(|a| pb::UpsertAccountRequest {
            account: Some(ledger_api::wire::account_out(a)),
        })
        .collect();
    let r = client
        .upsert_accounts(tokio_stream::iter(reqs))
        .await
        .map_err(|e| EmbeddedError::Ledger(e.to_string()))?
        .into_inner();
    if let Some(bad) = r.results.iter().find(|x| x.error.is_some()) {
        return Err(EmbeddedError::Ledger(format!(
            "account {} refused: {:?}",
            bad.account_id, bad.error
        )));
    }
    Ok(r.results.len() as u32)
}

/// What a shift did, from the campaign's figures and from the ledger.
#[derive(Debug, Clone)]
pub struct ShiftReport {
    pub figures: Figures,
    pub accounts_queued: u32,
    /// Outcomes of the campaign the ledger holds after the outbox was flushed.
    pub ledger_outcomes: u64,
    /// Distinct idempotency keys among them (equal to `ledger_outcomes`: nothing doubled).
    pub ledger_distinct: u64,
    /// Outbox rows not acknowledged at the end (0: nothing lost).
    pub outbox_left: u64,
    pub safe_harbor_messages: usize,
    pub ledger_by_outcome: BTreeMap<String, u64>,
    pub virtual_hours: f64,
    pub wall_seconds: f64,
}

/// Runs one demo shift against `ledger` (already loaded), with the dialer's outbox in `dir`.
/// `progress` is called on the caller's runtime with the figures every
/// `opts.progress_every_min` virtual minutes.
pub async fn run_shift(
    opts: &DemoOptions,
    ledger: &EmbeddedLedger,
    dir: &Path,
    account_ids: Vec<String>,
    mut progress: impl FnMut(&Figures),
) -> Result<ShiftReport, EmbeddedError> {
    let wall = std::time::Instant::now();
    for f in ["dialer.db", "dialer.db-wal", "dialer.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("dialer.db").display());
    let owner = "embedded";
    let outbox = Outbox::open(&url, owner).await?;
    outbox.recover_provisional(owner).await?;
    let token = Token::fixed(ledger.token("dialer-embedded", Role::Dialer));
    let channel =
        ledger_link::lazy_channel(&ledger.uri).map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let relay: RelayHandle = outbox.spawn_relay(channel.clone(), token.clone(), Default::default());
    let link = LedgerLink::from_channel(channel, token.clone());

    let real = tokio::runtime::Handle::current();
    let stores = Stores {
        queues: Box::new(|_| MemoryQueue::new()),
        book: MemoryAttemptBook::new(),
        outbox: OnRuntime::new(Arc::new(outbox.clone()), real.clone()),
        source: OnRuntime::new(Arc::new(link.clone()), real),
        compliance: compliance::Engine::builtin(),
        owner: owner.into(),
    };
    let spec = CampaignSpec {
        id: "demo".into(),
        name: "Embedded demo shift".into(),
        pacing: opts.pacing.clone(),
        ..CampaignSpec::default()
    };
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<Figures>();
    let (done_tx, done_rx) = oneshot::channel();
    let shift = VirtualShift {
        spec,
        scenario: opts.scenario,
        seed: opts.seed,
        agents: opts.agents,
        start_ms: opts.start.as_millisecond(),
        hours: opts.hours,
        progress_every_min: opts.progress_every_min.max(1),
        account_ids,
        ledger_clock: ledger.clock.clone(),
    };
    std::thread::Builder::new()
        .name("virtual-shift".into())
        .spawn(move || {
            let _ = done_tx.send(shift.run(stores, progress_tx));
        })
        .map_err(|e| EmbeddedError::Runtime(e.to_string()))?;
    while let Some(f) = progress_rx.recv().await {
        progress(&f);
    }
    let (figures, queued, safe_harbor) = done_rx
        .await
        .map_err(|_| EmbeddedError::Runtime("the shift thread died".into()))??;

    let left = outbox
        .flush(tokio::time::Instant::now() + Duration::from_secs(120))
        .await?;
    relay.shutdown().await;
    let (ledger_outcomes, ledger_distinct, ledger_by_outcome) =
        campaign_outcomes(&ledger.uri, token, "demo").await?;
    Ok(ShiftReport {
        figures,
        accounts_queued: queued,
        ledger_outcomes,
        ledger_distinct,
        outbox_left: left,
        safe_harbor_messages: safe_harbor,
        ledger_by_outcome,
        virtual_hours: opts.hours,
        wall_seconds: wall.elapsed().as_secs_f64(),
    })
}

/// Reads back every outcome of `campaign` from the ledger (paged).
async fn campaign_outcomes(
    uri: &str,
    token: Token,
    campaign: &str,
) -> Result<(u64, u64, BTreeMap<String, u64>), EmbeddedError> {
    let channel =
        ledger_link::lazy_channel(uri).map_err(|e| EmbeddedError::Ledger(e.to_string()))?;
    let mut client = LedgerServiceClient::with_interceptor(channel, auth::BearerAuth(token));
    let mut keys = HashSet::new();
    let mut total = 0u64;
    let mut by = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let r = client
            .list_outcomes(pb::ListOutcomesRequest {
                campaign_id: campaign.into(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| EmbeddedError::Ledger(e.to_string()))?
            .into_inner();
        for o in &r.outcomes {
            total += 1;
            keys.insert(o.idempotency_key.clone());
            let kind = cpb::OutcomeKind::try_from(o.outcome)
                .map(|k| {
                    k.as_str_name()
                        .trim_start_matches("OUTCOME_KIND_")
                        .to_lowercase()
                })
                .unwrap_or_else(|_| "unknown".into());
            *by.entry(kind).or_default() += 1;
        }
        if r.next_page_token.is_empty() {
            break;
        }
        page_token = r.next_page_token;
    }
    Ok((total, keys.len() as u64, by))
}

/// The campaign side of the demo, run on its own thread with a paused-clock runtime.
struct VirtualShift {
    spec: CampaignSpec,
    scenario: ScenarioId,
    seed: u64,
    agents: usize,
    start_ms: i64,
    hours: f64,
    progress_every_min: u32,
    account_ids: Vec<String>,
    /// Kept at the shift's virtual time (see [`VirtualShift::shift`]).
    ledger_clock: ledger::clock::Clock,
}

type ShiftResult = Result<(Figures, u32, usize), EmbeddedError>;

impl VirtualShift {
    fn run<B: engine::Backend>(
        self,
        stores: B,
        progress: mpsc::UnboundedSender<Figures>,
    ) -> ShiftResult {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|e| EmbeddedError::Runtime(e.to_string()))?;
        rt.block_on(self.shift(stores, progress))
    }

    async fn shift<B: engine::Backend>(
        self,
        stores: B,
        progress: mpsc::UnboundedSender<Figures>,
    ) -> ShiftResult {
        let (carrier, events) = SimCarrier::new(Scenario::get(self.scenario), self.seed);
        let clock = Clock::starting_at(self.start_ms);
        // The ledger refuses outcomes that start in its future: it lives on this shift's
        // virtual time, set every virtual second (an outcome reaches it after it started, so
        // it is never more than that second ahead), and runs on in real time after the shift.
        let ledger_clock = self.ledger_clock.clone();
        let publisher = tokio::spawn(async move {
            loop {
                if let Ok(t) = Timestamp::from_millisecond(clock.now_ms()) {
                    ledger_clock.set(t);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let (handle, task) = engine::spawn(
            self.spec,
            Arc::new(stores),
            Arc::new(carrier.clone()),
            events,
            clock,
        )?;
        let added = handle.add_accounts(self.account_ids).await?;
        let team = sim_agents::spawn_team(
            &handle,
            &carrier,
            self.agents,
            "agent-",
            &Behaviour::default(),
            self.seed,
        )?;
        handle.start().await?;
        let end = self.start_ms + (self.hours * 3_600_000.0) as i64;
        let step = Duration::from_secs(u64::from(self.progress_every_min) * 60);
        while clock.now_ms() < end {
            let left = Duration::from_millis((end - clock.now_ms()).max(0) as u64);
            tokio::time::sleep(step.min(left)).await;
            let _ = progress.send(handle.figures().borrow().clone());
        }
        handle.stop().await;
        let figures = handle.figures().borrow().clone();
        let _ = task.await;
        for t in team {
            t.abort();
        }
        publisher.abort();
        let safe_harbor = carrier
            .prompts()
            .iter()
            .filter(|(_, p)| matches!(p, Prompt::SafeHarbor { .. }))
            .count();
        Ok((figures, added.queued, safe_harbor))
    }
}

/// The generated portfolio's accounts and their ids.
pub fn sample_portfolio(count: usize, seed: u64) -> Vec<ledger_api::domain::Account> {
    let since: Timestamp = Timestamp::constant(1_793_491_200, 0); // 2026-11-01
    portfolio::accounts(count, seed, since)
}
