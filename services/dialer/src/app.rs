//! Builds dialerd from its configuration: the stores (queues in process or on Redis), the
//! outcome sink and account source (the durable outbox and the ledger link, or memory and a
//! sample portfolio without a ledger), the campaign registry resumed from the database, the
//! outbox relay and the ledger's change feed, and the server options.

use std::sync::Arc;
use std::time::Duration;

use auth::{Claims, Role};
use carrier::SimNetwork;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tracing::{info, warn};

use crate::account::AccountView;
use crate::backend::{MemorySource, ServiceSink, ServiceSource, ServiceStores};
use crate::campaign_store::{CampaignStore, CampaignStoreError};
use crate::config::{CarrierConfig, Config, ConfigError};
use crate::engine::{Backend, Clock};
use auth::Token;

use crate::ledger_link::{self, LedgerLink};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxError, RelayHandle};
use crate::outcomes::MemorySink;
use crate::registry::{Registry, RegistryError};
use crate::server::{ServeOptions, TlsPem};

/// The store set dialerd runs on.
pub type ServiceBackend = ServiceStores<ServiceSink, ServiceSource>;

/// Seed of the sample portfolio.
pub const SAMPLE_SEED: u64 = 7;

/// Name of the ledger change feed's cursor in the dialer's database.
pub const FEED: &str = "ledger";

/// Why dialerd could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("redis: {0}")]
    Queue(#[from] queue::QueueError),
    #[error("campaign store: {0}")]
    Store(#[from] CampaignStoreError),
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error("ledger: {0}")]
    Ledger(#[from] ledger_link::LinkError),
    #[error("reading {path}: {source}")]
    Tls {
        path: String,
        source: std::io::Error,
    },
    #[error("resuming campaigns: {0}")]
    Resume(#[from] RegistryError),
    #[error(transparent)]
    Claim(#[from] crate::replica::ClaimError),
    #[error("sip carrier: {0}")]
    Sip(#[from] telephony::StartError),
    /// The ledger answered and refused the dialer's credentials.
    #[error(
        "the ledger refused the dialer's credentials ({0}): set ledger_token \
         (DIALER_LEDGER_TOKEN) to a valid JWT with role dialer, or ledger_jwt_hs256_key \
         (DIALER_LEDGER_JWT_HS256_KEY) to the ledger's key"
    )]
    LedgerRefused(String),
}

/// The sample portfolio served without a ledger: `count` accounts loaded 30 days before
/// `now_ms` (seeded, so every run and test sees the same accounts).
pub fn sample_source(count: u32, now_ms: i64) -> MemorySource {
    let since = jiff::Timestamp::from_millisecond(now_ms - 30 * 86_400_000)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    MemorySource::new(
        crate::portfolio::accounts(count as usize, SAMPLE_SEED, since)
            .into_iter()
            .map(|account| AccountView {
                account,
                contacts: Vec::new(),
                promises: Vec::new(),
                version: 0,
            }),
    )
}

/// The ledger token: a fixed one, one minted per call from the ledger's key (role `dialer`,
/// sub = this replica, valid an hour), or none (a ledger without authentication).
pub fn ledger_token(cfg: &Config) -> Token {
    match (&cfg.ledger_token, &cfg.ledger_jwt_hs256_key) {
        (Some(t), _) => Token::fixed(t.clone()),
        (None, Some(key)) => {
            let key = key.clone();
            let sub = cfg.replica_id.clone();
            Token::from_fn(move || {
                auth::sign_hs256(
                    &key,
                    &Claims {
                        sub: sub.clone(),
                        role: Role::Dialer,
                        exp: Some(jiff::Timestamp::now().as_second() + 3600),
                    },
                )
            })
        }
        (None, None) => Token::none(),
    }
}

/// The ledger side of a running dialerd: the outbox, its relay and the change feed.
#[derive(Debug)]
pub struct LedgerSide {
    pub outbox: Outbox,
    relay: RelayHandle,
    feed: JoinHandle<()>,
    depth: JoinHandle<()>,
}

impl LedgerSide {
    /// Step 4 of the shutdown: waits until the ledger has acknowledged every finished
    /// attempt or `deadline` passes, then stops the relay and the feed. Returns the rows left
    /// (they are sent by the next start).
    pub async fn flush(self, deadline: tokio::time::Instant) -> u64 {
        let left = match self.outbox.flush(deadline).await {
            Ok(left) => left,
            Err(e) => {
                warn!(error = %e, "outbox flush failed");
                u64::MAX
            }
        };
        if left > 0 {
            warn!(
                left,
                "outcomes not yet acknowledged by the ledger; sent at the next start"
            );
        } else {
            info!("outbox flushed to the ledger");
        }
        self.relay.shutdown().await;
        self.feed.abort();
        self.depth.abort();
        left
    }
}

/// dialerd's parts, built from its configuration and ready to serve.
#[derive(Debug)]
pub struct App {
    pub registry: Arc<Registry<ServiceBackend>>,
    pub metrics: Metrics,
    pub options: ServeOptions,
    /// Campaigns resumed from the database.
    pub resumed: usize,
    /// None without a ledger (outcomes kept in memory).
    pub ledger: Option<LedgerSide>,
    /// This process's claim on its replica id.
    pub claim: crate::replica::ReplicaClaim,
    /// Follows the campaign table other replicas change.
    pub sync: JoinHandle<()>,
    /// The campaign leases (replicas sharing Redis); none in-process (one replica drives
    /// every campaign).
    pub leases: Option<Arc<crate::ownership::Leases>>,
    store: CampaignStore,
    outbox: Option<Outbox>,
    claim_ttl: Duration,
}

impl App {
    /// Starts renewing and taking campaign leases, advertising `addr` to other replicas
    /// (call once the listener is bound). Returns the scan task (none without leases).
    pub fn own_campaigns(&self, addr: std::net::SocketAddr) -> Option<JoinHandle<()>> {
        let leases = self.leases.clone()?;
        leases.advertise(&addr.to_string());
        Some(tokio::spawn(crate::ownership::run(
            leases,
            self.store.clone(),
            self.outbox.clone(),
            self.claim_ttl,
        )))
    }
}

/// Stops the lease scan and gives the leases back (after the campaigns stopped dialing).
async fn give_back(
    scan: Option<JoinHandle<()>>,
    leases: Option<Arc<crate::ownership::Leases>>,
    store: CampaignStore,
) {
    if let Some(t) = scan {
        t.abort();
    }
    if let Some(l) = leases {
        crate::ownership::release_all(&l, &store).await;
    }
}

/// Builds everything from `cfg`: recovers this replica's attempts left in progress by a
/// previous run, resumes the stored campaigns, starts the outbox relay and the change feed.
pub async fn assemble(cfg: &Config) -> Result<App, StartError> {
    assemble_with(cfg, None).await
}

/// [`assemble`], with `network` in place of the configured carrier's when given (the demo
/// keeps its simulated carriers to run simulated agents on them).
pub async fn assemble_with(
    cfg: &Config,
    network: Option<Box<dyn carrier::Network>>,
) -> Result<App, StartError> {
    let speed = &cfg.carrier.speed();
    // One clock for the campaigns and the simulated carrier: at `speed`, rings and talks are
    // recorded as long as the network played them.
    let clock = match cfg.carrier.clock_start()? {
        Some(t) => Clock::starting_at(t.as_millisecond()),
        None => Clock::system(),
    }
    .with_rate(*speed);
    let metrics = Metrics::new();
    let store = CampaignStore::open(&cfg.server.database_url).await?;
    let claim_ttl = Duration::from_secs(cfg.replica_claim_ttl_s);
    let claim = crate::replica::claim(&store, &cfg.replica_id, claim_ttl).await?;
    let (sink, source, link, outbox) = match &cfg.ledger_url {
        Some(url) => {
            let token = ledger_token(cfg);
            let link = LedgerLink::connect_lazy(url, token)?;
            check_credentials(&link).await?;
            let outbox = Outbox::open(&cfg.server.database_url, &cfg.replica_id).await?;
            // Attempts a previous run of this replica left in progress are recorded with
            // their provisional outcomes before any new attempt begins.
            let recovered = outbox.recover_provisional(&cfg.replica_id).await?;
            info!(
                published = recovered.published,
                adopted = recovered.adopted,
                "outbox recovered"
            );
            let sink = ServiceSink::Ledger(outbox.clone());
            (
                sink,
                ServiceSource::Ledger(link.clone()),
                Some(link),
                Some(outbox),
            )
        }
        None => {
            warn!(
                "no ledger_url: accounts come from the sample portfolio and outcomes are kept in memory"
            );
            (
                ServiceSink::Memory(MemorySink::default()),
                ServiceSource::Sample(sample_source(
                    cfg.sample_accounts.unwrap_or(0),
                    clock.now_ms(),
                )),
                None,
                None,
            )
        }
    };
    // Replicas share campaigns only through Redis; in-process queues mean one replica, which
    // drives every campaign without a lease.
    let leases = cfg.redis_url.as_ref().map(|_| {
        Arc::new(crate::ownership::Leases::new(
            &cfg.replica_id,
            cfg.lease_timing(),
            Some(metrics.clone()),
        ))
    });
    let fence = leases.clone().map(|l| {
        Arc::new(move |campaign: &str| l.fence(campaign)) as crate::backend::CampaignFence
    });
    let stores = crate::backend::service_stores(
        cfg.redis_url.as_deref(),
        sink,
        source,
        compliance::Engine::builtin(),
        &cfg.replica_id,
        fence,
    )
    .await?;
    let network: Box<dyn carrier::Network> = match (network, &cfg.carrier) {
        (Some(n), _) => n,
        (None, CarrierConfig::Sim { seed, .. }) => Box::new(SimNetwork {
            scenario: simulator::scenario::Scenario::get(cfg.carrier.scenario()?),
            seed: *seed,
            speed: clock.rate(),
        }),
        (None, CarrierConfig::Sip(sip)) => Box::new(telephony::SipNetwork::start(sip).await?),
    };
    let mut registry = Registry::new(Arc::new(stores), store.clone(), network, clock);
    if let Some(l) = &leases {
        registry = registry.with_leases(l.clone());
        if let Some(o) = &outbox {
            o.fence_with(l.clone());
        }
    }
    if let Some(link) = &link {
        registry = registry.with_lister(Arc::new(link.clone()));
    }
    if let Some(outbox) = &outbox {
        registry = registry.with_open_calls(Arc::new(outbox.clone()), claim_ttl);
    }
    let registry = Arc::new(registry);
    let resumed = registry.resume().await?;
    let sync = tokio::spawn(follow_store(registry.clone()));
    let lease_store = store.clone();
    let lease_outbox = outbox.clone();
    let ledger = match (link, outbox) {
        (Some(link), Some(outbox)) => {
            let relay = outbox.spawn_relay(link.channel(), ledger_token(cfg), Default::default());
            let feed = tokio::spawn(follow_feed(link, registry.clone(), store));
            let depth = tokio::spawn(track_depth(outbox.clone(), metrics.clone()));
            Some(LedgerSide {
                outbox,
                relay,
                feed,
                depth,
            })
        }
        _ => None,
    };
    let tls = match &cfg.tls {
        Some(t) => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|source| StartError::Tls {
                    path: p.display().to_string(),
                    source,
                })
            };
            Some(TlsPem {
                cert: read(&t.cert_path)?,
                key: read(&t.key_path)?,
            })
        }
        None => None,
    };
    Ok(App {
        registry,
        metrics,
        options: ServeOptions {
            auth: cfg.server.auth(),
            tls,
            shutdown_grace: Duration::from_secs(cfg.shutdown_grace_s),
        },
        resumed,
        ledger,
        claim,
        sync,
        leases,
        store: lease_store,
        outbox: lease_outbox,
        claim_ttl,
    })
}

/// How long the start-up credentials check waits for the ledger.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails the start if the ledger answers and refuses the dialer's credentials (a bad or
/// missing token, a role other than dialer). A ledger that does not answer is not an error:
/// the outbox holds outcomes and the pre-dial check holds dials until it does.
async fn check_credentials(link: &LedgerLink) -> Result<(), StartError> {
    match tokio::time::timeout(PROBE_TIMEOUT, link.probe()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(ledger_link::LinkError::Status(s)))
            if matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) =>
        {
            Err(StartError::LedgerRefused(format!(
                "{:?}: {}",
                s.code(),
                s.message()
            )))
        }
        Ok(Err(e)) => {
            warn!(error = %e, "the ledger did not answer at start; dialing waits for it");
            Ok(())
        }
        Err(_) => {
            warn!("the ledger did not answer at start; dialing waits for it");
            Ok(())
        }
    }
}

/// Brings the registry in line with the campaign table every second (campaigns created,
/// paused, re-paced or stopped through another replica).
async fn follow_store<B: Backend>(registry: Arc<Registry<B>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if registry.draining() {
            return;
        }
        if let Err(e) = registry.sync().await {
            warn!(error = %e, "following the campaign table");
        }
    }
}

/// Follows the ledger's change feed from the stored cursor: every change to an account
/// (hold, consent, profile, a contact recorded elsewhere) reaches the campaigns holding it,
/// which reload it and drop it from their queue at once if it may no longer be called.
/// Outcomes of this dialer's own campaigns are skipped: the engine recorded them already.
pub async fn follow_feed<B: Backend>(
    link: LedgerLink,
    registry: Arc<Registry<B>>,
    store: CampaignStore,
) {
    let mut after = match store.feed_cursor(FEED).await {
        Ok(seq) => seq,
        Err(e) => {
            warn!(error = %e, "reading the feed cursor; following from the start");
            0
        }
    };
    info!(after, "following the ledger's change feed");
    let mut changes = link.watch(after);
    let mut saved = after;
    let mut last_save = tokio::time::Instant::now();
    while let Some(item) = changes.next().await {
        match item {
            Ok(change) => {
                let own = matches!(
                    &change.payload,
                    ledger_api::domain::ChangePayload::Outcome(o) if registry.knows(&o.campaign_id)
                );
                if !own {
                    registry.account_changed(&change.account_id);
                }
                after = change.seq;
            }
            Err(e) => warn!(error = %e, "ledger change feed"),
        }
        if after != saved && last_save.elapsed() >= Duration::from_secs(1) {
            let now = jiff::Timestamp::now();
            match store.save_feed_cursor(FEED, after, now).await {
                Ok(()) => saved = after,
                Err(e) => warn!(error = %e, "saving the feed cursor"),
            }
            last_save = tokio::time::Instant::now();
        }
    }
    if after != saved {
        let _ = store
            .save_feed_cursor(FEED, after, jiff::Timestamp::now())
            .await;
    }
    warn!("the ledger's change feed ended (token or role refused?)");
}

/// Keeps `dialer_outbox_depth` current (outcomes not yet acknowledged by the ledger).
async fn track_depth(outbox: Outbox, metrics: Metrics) {
    loop {
        if let Ok(s) = outbox.stats().await {
            metrics
                .outbox_depth
                .set(i64::try_from(s.pending + s.ready).unwrap_or(i64::MAX));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Why a running dialerd stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
}

/// Runs dialerd from `cfg` until `shutdown` resolves, then goes through the shutdown
/// sequence (health NOT_SERVING, campaigns stop within the grace period, the outbox
/// flushes). `announce` receives the `dialerd listening on ADDR` and `dialerd metrics on
/// ADDR` lines (scripts and tests read them to find ports chosen with `:0`).
pub async fn run(
    cfg: &Config,
    shutdown: impl std::future::Future<Output = ()> + Send,
    announce: impl Fn(&str),
) -> Result<crate::registry::ShutdownReport, RunError> {
    run_with(cfg, Hooks::default(), shutdown, announce).await
}

/// A started registry, handed to [`Hooks::ready`].
pub type Ready = Box<dyn FnOnce(Arc<Registry<ServiceBackend>>) + Send>;

/// What an embedding (the demo) adds to [`run`].
#[derive(Default)]
pub struct Hooks {
    /// Replaces the configured carrier's network.
    pub network: Option<Box<dyn carrier::Network>>,
    /// Called with the registry once the campaigns are resumed, before serving.
    pub ready: Option<Ready>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("network", &self.network.is_some())
            .field("ready", &self.ready.is_some())
            .finish()
    }
}

/// [`run`] with `hooks`.
pub async fn run_with(
    cfg: &Config,
    hooks: Hooks,
    shutdown: impl std::future::Future<Output = ()> + Send,
    announce: impl Fn(&str),
) -> Result<crate::registry::ShutdownReport, RunError> {
    let app = assemble_with(cfg, hooks.network).await?;
    let registry = app.registry.clone();
    if let Some(ready) = hooks.ready {
        ready(registry.clone());
    }
    let bind = |addr: std::net::SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::Bind {
                addr: addr.to_string(),
                source,
            })
    };
    if let Some(addr) = cfg.server.metrics_addr()? {
        let l = bind(addr).await?;
        if let Ok(a) = l.local_addr() {
            announce(&format!("dialerd metrics on {a}"));
        }
        let (r, m) = (registry.clone(), app.metrics.clone());
        let refresh = move || m.observe(&r.figures());
        // The wallboard shares the port: same token checks as the gRPC API.
        let routes = crate::wallboard::router(
            registry.clone(),
            app.options.auth.clone(),
            app.metrics.registry.clone(),
            refresh,
        );
        tokio::spawn(crate::wallboard::serve(l, routes));
    }
    let listener = bind(cfg.server.listen_addr()?).await?;
    let scan = listener
        .local_addr()
        .ok()
        .and_then(|a| app.own_campaigns(a));
    let (leases, lease_store) = (app.leases.clone(), app.store.clone());
    if let Ok(addr) = listener.local_addr() {
        announce(&format!("dialerd listening on {addr}"));
        info!(
            %addr,
            replica = %cfg.replica_id,
            queues = match cfg.redis_url.as_deref().map(queue::redis_store::RedisTarget::parse) {
                Some(Ok(t)) if t.is_cluster() => "redis-cluster",
                Some(_) => "redis",
                None => "memory",
            },
            ledger = cfg.ledger_url.is_some(),
            auth = cfg.server.jwt_hs256_key.is_some(),
            tls = cfg.tls.is_some(),
            resumed = app.resumed,
            "dialerd started"
        );
    }
    // The last step of the shutdown: the finished attempts reach the ledger (bounded by the
    // grace period again; what is left is sent by the next start), then the replica id is
    // given back.
    let grace = app.options.shutdown_grace;
    let ledger = app.ledger;
    let claim = Arc::new(app.claim);
    let sync = app.sync;
    let flush = {
        let claim = claim.clone();
        async move {
            sync.abort();
            give_back(scan, leases, lease_store).await;
            if let Some(l) = ledger {
                l.flush(tokio::time::Instant::now() + grace).await;
            }
            claim.release().await;
        }
    };
    // Another process taking the id (this one was frozen past its claim) stops this one.
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            () = claim.lost() => {}
        }
    };
    Ok(crate::server::serve(
        registry,
        app.metrics,
        app.options,
        listener,
        shutdown,
        flush,
    )
    .await?)
}

/// A dialer assembled from a configuration and served in this process on an ephemeral
/// loopback port: what the in-process tests and the load tool run, without the replica
/// claim and the metrics endpoint of `dialerd`.
#[derive(Debug)]
pub struct Local {
    /// Where it serves gRPC.
    pub addr: std::net::SocketAddr,
    pub registry: Arc<Registry<ServiceBackend>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<Result<crate::registry::ShutdownReport, crate::server::ServeError>>,
    /// Outbox rows the shutdown left unacknowledged by the ledger.
    unflushed: Arc<std::sync::atomic::AtomicU64>,
}

/// Local shutdown's result: the registry's report (or the server's error) and the outbox rows
/// the ledger had not acknowledged within the flush deadline.
pub type LocalShutdown = (
    Result<crate::registry::ShutdownReport, crate::server::ServeError>,
    u64,
);

impl Local {
    /// Assembles `cfg` and serves it; at shutdown the outbox is flushed to the ledger for at
    /// most `flush_for`.
    pub async fn start(cfg: &Config, flush_for: Duration) -> Result<Local, RunError> {
        let mut app = assemble(cfg).await?;
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = tokio::net::TcpListener::bind(any_port)
            .await
            .map_err(|source| RunError::Bind {
                addr: any_port.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| RunError::Bind {
            addr: any_port.to_string(),
            source,
        })?;
        let scan = app.own_campaigns(addr);
        let (leases, lease_store) = (app.leases.clone(), app.store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let unflushed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let side = app.ledger.take();
        let left = unflushed.clone();
        let task = tokio::spawn(crate::server::serve(
            app.registry.clone(),
            app.metrics,
            app.options,
            listener,
            async {
                let _ = stopped.await;
            },
            async move {
                give_back(scan, leases, lease_store).await;
                if let Some(side) = side {
                    let n = side.flush(tokio::time::Instant::now() + flush_for).await;
                    left.store(n, std::sync::atomic::Ordering::Relaxed);
                }
            },
        ));
        Ok(Local {
            addr,
            registry: app.registry,
            stop,
            task,
            unflushed,
        })
    }

    /// Shuts down (calls end, the outbox is flushed); `None` if that took longer than
    /// `patience`.
    pub async fn shutdown(self, patience: Duration) -> Option<LocalShutdown> {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(patience, self.task).await.ok()?;
        let served = served.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        Some((
            served,
            self.unflushed.load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
}
