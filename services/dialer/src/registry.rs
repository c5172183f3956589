//! The campaign registry: campaign id to running campaign, and the campaign life cycle
//! (create, update, start, pause, resume, stop) kept in the dialer's database so a restarted
//! dialerd resumes every campaign in the state it was left in, and so every replica on that
//! database follows it: a change is written there first, each engine reads it before its
//! next round of dials, and [`Registry::sync`] brings this replica's view in line.
//!
//! One engine task per campaign that is not stopped, each on its own carrier from the
//! [`Network`]. The map is behind a plain mutex never held across an await; life-cycle
//! changes are serialized by a second, async lock, so a slow database write never blocks an
//! agent's command or a figures read.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carrier::Network;
use jiff::Timestamp;
use ledger_api::domain::AccountFilter;
use queue::CampaignQueue;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::campaign::{CampaignSpec, SpecError};
use crate::campaign_store::{CampaignStore, CampaignStoreError, StoredState};
use crate::engine::{
    self, AddReport, Backend, CampaignControl, CampaignHandle, Clock, Control, EngineError,
    Figures, RunState, SavedPacing, Trend, TrendPoint,
};
use crate::ownership::Leases;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    Ready,
    Running,
    Paused,
    /// Stopping: no new dials, waiting for calls in progress.
    Stopping,
    Stopped,
}

impl CampaignState {
    fn stored(self) -> StoredState {
        match self {
            CampaignState::Ready => StoredState::Ready,
            CampaignState::Running => StoredState::Running,
            CampaignState::Paused => StoredState::Paused,
            CampaignState::Stopping | CampaignState::Stopped => StoredState::Stopped,
        }
    }

    fn from_stored(s: StoredState) -> CampaignState {
        match s {
            StoredState::Ready => CampaignState::Ready,
            StoredState::Running => CampaignState::Running,
            StoredState::Paused => CampaignState::Paused,
            StoredState::Stopped => CampaignState::Stopped,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Ready => "ready",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Stopping => "stopping",
            CampaignState::Stopped => "stopped",
        }
    }
}

/// A campaign as managers see it.
#[derive(Debug, Clone)]
pub struct CampaignInfo {
    pub spec: CampaignSpec,
    pub state: CampaignState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The latest figures (the last ones of a stopped campaign this process ran, else
    /// empty ones).
    pub figures: Figures,
}

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("campaign {0} not found")]
    NotFound(String),
    #[error("campaign {0} already exists")]
    AlreadyExists(String),
    #[error(transparent)]
    Invalid(#[from] SpecError),
    /// Not possible in the campaign's current state.
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("the dialer is shutting down")]
    Draining,
    /// This dialer cannot do it (e.g. adding by filter without a ledger).
    #[error("{0}")]
    Unimplemented(String),
    /// A system the operation needs (the ledger) did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("campaign store: {0}")]
    Store(CampaignStoreError),
}

impl From<CampaignStoreError> for RegistryError {
    fn from(e: CampaignStoreError) -> Self {
        match e {
            CampaignStoreError::Exists(id) => RegistryError::AlreadyExists(id),
            CampaignStoreError::NotFound(id) => RegistryError::NotFound(id),
            other => RegistryError::Store(other),
        }
    }
}

fn engine_error(id: &str, e: EngineError) -> RegistryError {
    match e {
        EngineError::Spec(s) => RegistryError::Invalid(s),
        EngineError::Stopped => {
            RegistryError::FailedPrecondition(format!("campaign {id} has stopped"))
        }
        EngineError::Conflict(c) => RegistryError::FailedPrecondition(c),
    }
}

struct Entry {
    spec: CampaignSpec,
    state: CampaignState,
    /// The stored version this entry reflects.
    version: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    handle: Option<CampaignHandle>,
    task: Option<JoinHandle<()>>,
    figures: watch::Receiver<Figures>,
    /// The figures over the shift (empty for a campaign this process never ran).
    trend: Trend,
}

impl Entry {
    fn info(&self) -> CampaignInfo {
        CampaignInfo {
            spec: self
                .handle
                .as_ref()
                .map_or_else(|| self.spec.clone(), |h| h.spec()),
            state: self.state,
            created_at: self.created_at,
            updated_at: self.updated_at,
            figures: self.figures.borrow().clone(),
        }
    }
}

/// One page of account ids and the token of the next page, or why the list failed.
pub type PageFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(Vec<String>, Option<String>), String>> + Send + 'a>>;

/// Lists account ids by filter, a page at a time (the ledger's ListAccounts).
pub trait AccountLister: Send + Sync + 'static {
    /// One page of at most `page_size` ids from `page_token` (empty: the first page), and
    /// the token of the next page if there is one.
    fn list<'a>(
        &'a self,
        filter: &'a AccountFilter,
        page_size: u32,
        page_token: &'a str,
    ) -> PageFuture<'a>;
}

impl AccountLister for crate::ledger_link::LedgerLink {
    fn list<'a>(
        &'a self,
        filter: &'a AccountFilter,
        page_size: u32,
        page_token: &'a str,
    ) -> PageFuture<'a> {
        Box::pin(async move {
            self.list_accounts(filter, page_size, page_token)
                .await
                .map(|p| (p.account_ids, p.next_page_token))
                .map_err(|e| e.to_string())
        })
    }
}

/// What the engine checks before it dials: the campaign table, and whether this replica holds
/// the campaign's lease (always, without leases: one replica).
struct LeasedControl {
    store: CampaignStore,
    leases: Option<Arc<Leases>>,
}

impl CampaignControl for LeasedControl {
    fn holds(&self, id: &str) -> bool {
        self.leases.as_ref().is_none_or(|l| l.holds(id))
    }

    fn load_pacing<'a>(&'a self, id: &'a str) -> engine::ControlFuture<'a, Option<SavedPacing>> {
        Box::pin(async move {
            let stored = self.store.pacing(id).await.map_err(|e| e.to_string())?;
            Ok(stored.map(|p| SavedPacing {
                age: Timestamp::now().duration_since(p.saved_at),
                json: p.json,
            }))
        })
    }

    fn save_pacing<'a>(&'a self, id: &'a str, json: String) -> engine::ControlFuture<'a, bool> {
        Box::pin(async move {
            // The token of the lease held here (0 without leases: the table's own 0).
            let token = self.leases.as_ref().map_or(0, |l| l.fence(id));
            self.store
                .save_pacing(id, token, &json, Timestamp::now())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn check<'a>(
        &'a self,
        id: &'a str,
        known: i64,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Control>, String>> + Send + 'a>> {
        Box::pin(async move {
            let c = self
                .store
                .control(id, known)
                .await
                .map_err(|e| e.to_string())?;
            let owned = self.leases.as_ref().is_none_or(|l| l.holds(id));
            Ok(c.map(|c| Control {
                state: match c.state {
                    StoredState::Ready => RunState::Ready,
                    StoredState::Running => RunState::Running,
                    StoredState::Paused => RunState::Paused,
                    StoredState::Stopped => RunState::Stopped,
                },
                version: c.version,
                spec: c.spec,
                owned,
            }))
        })
    }
}

/// Counts the calls in progress of a campaign on every live replica (the outbox's
/// provisional rows), so a stop can wait for all of them.
pub trait OpenCalls: Send + Sync + 'static {
    fn open_calls<'a>(
        &'a self,
        campaign: &'a str,
        owners: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<u64, String>> + Send + 'a>>;
}

impl OpenCalls for crate::outbox::Outbox {
    fn open_calls<'a>(
        &'a self,
        campaign: &'a str,
        owners: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<u64, String>> + Send + 'a>> {
        Box::pin(async move {
            crate::outbox::Outbox::open_calls(self, campaign, owners)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// How long a stop waits for other replicas' calls in progress at most.
pub const STOP_WAIT_OTHERS: Duration = Duration::from_secs(600);

/// Most accounts one AddAccounts adds (by ids or by filter).
pub const MAX_ACCOUNTS_PER_ADD: usize = 100_000;

/// What a shutdown did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Campaigns whose calls all ended within the grace period.
    pub stopped: Vec<String>,
    /// Campaigns still with calls in progress when the grace period ran out (their
    /// attempts are recovered from the outbox at the next start).
    pub timed_out: Vec<String>,
}

/// Every campaign of this dialer.
pub struct Registry<B: Backend> {
    backend: Arc<B>,
    store: CampaignStore,
    network: Box<dyn Network>,
    clock: Clock,
    /// Shared with the background half of a stop.
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    /// Serializes life-cycle changes (held across database writes, never across a stop).
    admin: tokio::sync::Mutex<()>,
    draining: AtomicBool,
    /// Account lists by filter; none without a ledger.
    lister: Option<Arc<dyn AccountLister>>,
    /// Other replicas' calls in progress, and how long a replica claim lives; none when this
    /// replica is alone (no outbox).
    open_calls: Option<(Arc<dyn OpenCalls>, Duration)>,
    /// The campaign leases of this replica: only the holder dials a campaign. None: this
    /// replica drives every campaign (in-process mode, tests).
    leases: Option<Arc<Leases>>,
}

impl<B: Backend> std::fmt::Debug for Registry<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("campaigns", &self.lock().len())
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish()
    }
}

impl<B: Backend> Registry<B> {
    /// A registry over `store` that has not resumed anything yet (see [`Registry::resume`]).
    pub fn new(
        backend: Arc<B>,
        store: CampaignStore,
        network: Box<dyn Network>,
        clock: Clock,
    ) -> Registry<B> {
        Registry {
            backend,
            store,
            network,
            clock,
            entries: Arc::new(Mutex::new(BTreeMap::new())),
            admin: tokio::sync::Mutex::new(()),
            draining: AtomicBool::new(false),
            lister: None,
            open_calls: None,
            leases: None,
        }
    }

    /// Dials only the campaigns whose lease this replica holds in `leases`.
    pub fn with_leases(mut self, leases: Arc<Leases>) -> Registry<B> {
        self.leases = Some(leases);
        self
    }

    /// This replica's campaign leases, if it shares campaigns with others.
    pub fn leases(&self) -> Option<&Arc<Leases>> {
        self.leases.as_ref()
    }

    /// The address of the replica agents' sessions on `id` belong to, when another replica
    /// holds the campaign (`None`: served here).
    pub fn route(&self, id: &str) -> Option<String> {
        self.leases.as_ref()?.route(id)
    }

    /// Lets a stop wait for the calls in progress of every live replica (replica claims
    /// renewed within `claim_ttl`).
    pub fn with_open_calls(
        mut self,
        open_calls: Arc<dyn OpenCalls>,
        claim_ttl: Duration,
    ) -> Registry<B> {
        self.open_calls = Some((open_calls, claim_ttl));
        self
    }

    /// Lets campaigns be filled by filter through `lister`.
    pub fn with_lister(mut self, lister: Arc<dyn AccountLister>) -> Registry<B> {
        self.lister = Some(lister);
        self
    }

    /// The campaign store (the change feed keeps its cursor there too).
    pub fn store(&self) -> &CampaignStore {
        &self.store
    }

    /// Whether `id` is a campaign of this registry (stopped ones included).
    pub fn knows(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.clock.now_ms()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The stores campaigns run on (the compliance engine and account source included).
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The dialer's clock (virtual when configured to start at a fixed instant).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn check_open(&self) -> Result<(), RegistryError> {
        if self.draining.load(Ordering::Acquire) {
            Err(RegistryError::Draining)
        } else {
            Ok(())
        }
    }

    /// Starts the engine task of a campaign (in [`engine::RunState::Ready`]), following the
    /// stored campaign from `version` on.
    fn spawn(
        &self,
        spec: &CampaignSpec,
        version: i64,
    ) -> Result<(CampaignHandle, JoinHandle<()>), RegistryError> {
        let (carrier, events) = self.network.open(&spec.id);
        let control: Arc<dyn CampaignControl> = Arc::new(LeasedControl {
            store: self.store.clone(),
            leases: self.leases.clone(),
        });
        engine::spawn_with(
            spec.clone(),
            self.backend.clone(),
            carrier,
            events,
            self.clock,
            Some((control, version)),
        )
        .map_err(|e| engine_error(&spec.id, e))
    }

    /// Restarts every stored campaign that is not stopped, in the state it was left in.
    /// Returns how many were resumed.
    pub async fn resume(&self) -> Result<usize, RegistryError> {
        let _admin = self.admin.lock().await;
        let stored = self.store.list().await?;
        let mut resumed = 0;
        for c in stored {
            let id = c.spec.id.clone();
            if self.lock().contains_key(&id) {
                continue;
            }
            let state = CampaignState::from_stored(c.state);
            let (handle, task) = if state == CampaignState::Stopped {
                (None, None)
            } else {
                let (h, t) = self.spawn(&c.spec, c.version)?;
                (Some(h), Some(t))
            };
            let figures = handle.as_ref().map_or_else(
                || watch::channel(empty_figures(&id, self.clock.now_ms())).1,
                |h| h.figures(),
            );
            let trend = handle.as_ref().map(|h| h.trend()).unwrap_or_default();
            self.lock().insert(
                id.clone(),
                Entry {
                    spec: c.spec,
                    state,
                    version: c.version,
                    created_at: c.created_at,
                    updated_at: c.updated_at,
                    handle: handle.clone(),
                    task,
                    figures,
                    trend,
                },
            );
            let Some(handle) = handle else { continue };
            self.requeue_if_lost(&id, &handle).await?;
            match state {
                CampaignState::Running => handle.start().await,
                CampaignState::Paused => handle.pause().await,
                _ => Ok(()),
            }
            .map_err(|e| engine_error(&id, e))?;
            info!(campaign_id = %id, state = state.as_str(), "campaign resumed");
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Queues a resumed campaign's stored accounts again if its queue store lost them (a new
    /// process on in-process queues, a flushed or replaced Redis: the campaign's alive marker
    /// is gone with the data). Loading them rebuilds their attempt counters from the ledger.
    /// The marker is set once every account is queued, so a load that fell short is retried
    /// at the next start.
    async fn requeue_if_lost(
        &self,
        id: &str,
        handle: &CampaignHandle,
    ) -> Result<(), RegistryError> {
        let queue = self.backend.queue(id);
        match queue.is_alive().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                // Fail closed: queuing again would bring back accounts the campaign retired
                // (worked, promised); a queue store that does not answer dials nothing anyway.
                warn!(campaign_id = %id, error = %e, "queue marker unreadable: accounts not queued again");
                return Ok(());
            }
        }
        let accounts = self.store.accounts(id).await?;
        let mut complete = true;
        if !accounts.is_empty() {
            let r = handle
                .add_accounts(accounts)
                .await
                .map_err(|e| engine_error(id, e))?;
            complete = r.unavailable.is_empty();
            info!(campaign_id = %id, queued = r.queued, unavailable = r.unavailable.len(), "accounts queued again");
        }
        if !complete {
            warn!(campaign_id = %id, "some accounts could not be queued again; retried at the next start");
        } else if let Err(e) = queue.mark_alive().await {
            warn!(campaign_id = %id, error = %e, "queue marker not set");
        }
        Ok(())
    }

    /// Creates a campaign in state [`CampaignState::Ready`].
    pub async fn create(&self, spec: CampaignSpec) -> Result<CampaignInfo, RegistryError> {
        self.check_open()?;
        spec.validate()?;
        let _admin = self.admin.lock().await;
        if self.lock().contains_key(&spec.id) {
            return Err(RegistryError::AlreadyExists(spec.id));
        }
        let now = self.now();
        self.store.insert(&spec, StoredState::Ready, now).await?;
        let (handle, task) = self.spawn(&spec, 1)?;
        // The queue holds every account of the campaign from now on (none yet).
        if let Err(e) = self.backend.queue(&spec.id).mark_alive().await {
            warn!(campaign_id = %spec.id, error = %e, "queue marker not set");
        }
        let entry = Entry {
            spec: spec.clone(),
            state: CampaignState::Ready,
            version: 1,
            created_at: now,
            updated_at: now,
            figures: handle.figures(),
            trend: handle.trend(),
            handle: Some(handle),
            task: Some(task),
        };
        let info = entry.info();
        self.lock().insert(spec.id.clone(), entry);
        info!(campaign_id = %spec.id, "campaign created");
        Ok(info)
    }

    /// Replaces a campaign's configuration; a running campaign applies it at its next
    /// second.
    pub async fn update(&self, spec: CampaignSpec) -> Result<CampaignInfo, RegistryError> {
        self.check_open()?;
        spec.validate()?;
        let _admin = self.admin.lock().await;
        let handle = {
            let map = self.lock();
            let e = map
                .get(&spec.id)
                .ok_or_else(|| RegistryError::NotFound(spec.id.clone()))?;
            if matches!(e.state, CampaignState::Stopping | CampaignState::Stopped) {
                return Err(RegistryError::FailedPrecondition(format!(
                    "campaign {} has stopped",
                    spec.id
                )));
            }
            e.handle.clone()
        };
        // Stored first: every replica (this one included) dials under what is stored.
        let now = self.now();
        let version = self.store.save_spec(&spec, now).await?;
        if let Some(h) = &handle {
            h.update(spec.clone())
                .await
                .map_err(|e| engine_error(&spec.id, e))?;
        }
        let mut map = self.lock();
        let e = map
            .get_mut(&spec.id)
            .ok_or_else(|| RegistryError::NotFound(spec.id.clone()))?;
        e.spec = spec;
        e.version = e.version.max(version);
        e.updated_at = now;
        info!(campaign_id = %e.spec.id, "campaign updated");
        Ok(e.info())
    }

    pub fn get(&self, id: &str) -> Result<CampaignInfo, RegistryError> {
        self.lock()
            .get(id)
            .map(Entry::info)
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    /// Every campaign, in id order.
    pub fn list(&self) -> Vec<CampaignInfo> {
        self.lock().values().map(Entry::info).collect()
    }

    /// The latest figures of every campaign (for metrics).
    pub fn figures(&self) -> Vec<(CampaignState, Figures)> {
        self.lock()
            .values()
            .map(|e| (e.state, e.figures.borrow().clone()))
            .collect()
    }

    /// A live campaign's figures, updated every second until it stops.
    pub fn watch(&self, id: &str) -> Result<watch::Receiver<Figures>, RegistryError> {
        self.lock()
            .get(id)
            .map(|e| e.figures.clone())
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    /// A campaign's figures over the shift so far on this replica, one sample a minute of
    /// its clock, oldest first (what a wallboard draws before the live figures arrive).
    pub fn trend(&self, id: &str) -> Result<Vec<TrendPoint>, RegistryError> {
        self.lock()
            .get(id)
            .map(|e| e.trend.points())
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))
    }

    /// The running campaign `id` (agents log in through it).
    pub fn handle(&self, id: &str) -> Result<CampaignHandle, RegistryError> {
        let map = self.lock();
        let e = map
            .get(id)
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
        match (&e.handle, e.state) {
            (Some(h), CampaignState::Ready | CampaignState::Running | CampaignState::Paused) => {
                Ok(h.clone())
            }
            _ => Err(RegistryError::FailedPrecondition(format!(
                "campaign {id} has stopped"
            ))),
        }
    }

    /// Moves a campaign from one of `from` to `to` (no-op if already there).
    async fn transition(
        &self,
        id: &str,
        from: &[CampaignState],
        to: CampaignState,
        hint: &str,
    ) -> Result<CampaignInfo, RegistryError> {
        self.check_open()?;
        let _admin = self.admin.lock().await;
        let (handle, state) = {
            let map = self.lock();
            let e = map
                .get(id)
                .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
            (e.handle.clone(), e.state)
        };
        if state == to {
            return self.get(id);
        }
        if !from.contains(&state) {
            return Err(RegistryError::FailedPrecondition(format!(
                "campaign {id} is {}: {hint}",
                state.as_str()
            )));
        }
        let handle = handle.ok_or_else(|| {
            RegistryError::FailedPrecondition(format!("campaign {id} has stopped"))
        })?;
        // Stored first: every replica's engine reads it before its next round of dials.
        let now = self.now();
        let version = self.store.set_state(id, to.stored(), now).await?;
        match to {
            CampaignState::Running => handle.start().await,
            CampaignState::Paused => handle.pause().await,
            _ => Ok(()),
        }
        .map_err(|e| engine_error(id, e))?;
        let mut map = self.lock();
        let e = map
            .get_mut(id)
            .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
        e.state = to;
        e.version = e.version.max(version);
        e.updated_at = now;
        info!(campaign_id = %id, state = to.as_str(), "campaign state");
        Ok(e.info())
    }

    /// Ready to running.
    pub async fn start(&self, id: &str) -> Result<CampaignInfo, RegistryError> {
        self.transition(
            id,
            &[CampaignState::Ready],
            CampaignState::Running,
            "only a ready campaign starts (a paused one resumes)",
        )
        .await
    }

    /// Running to paused.
    pub async fn pause(&self, id: &str) -> Result<CampaignInfo, RegistryError> {
        self.transition(
            id,
            &[CampaignState::Running],
            CampaignState::Paused,
            "only a running campaign pauses",
        )
        .await
    }

    /// Paused to running.
    pub async fn resume_campaign(&self, id: &str) -> Result<CampaignInfo, RegistryError> {
        self.transition(
            id,
            &[CampaignState::Paused],
            CampaignState::Running,
            "only a paused campaign resumes (a ready one starts)",
        )
        .await
    }

    /// Stops a campaign for good: no new dials, on any replica (the stop is stored first and
    /// every engine reads it before its next round); the returned future ends once the calls
    /// in progress, this replica's and those of every other live replica, have ended and been
    /// recorded. With `wait` false it returns as soon as the campaign is stopping (the rest
    /// happens in the background).
    pub async fn stop(&self, id: &str, wait: bool) -> Result<CampaignInfo, RegistryError> {
        self.check_open()?;
        let handle = {
            let _admin = self.admin.lock().await;
            let handle = {
                let mut map = self.lock();
                let e = map
                    .get_mut(id)
                    .ok_or_else(|| RegistryError::NotFound(id.to_string()))?;
                if matches!(e.state, CampaignState::Stopping | CampaignState::Stopped) {
                    None
                } else {
                    e.state = CampaignState::Stopping;
                    e.handle.clone()
                }
            };
            if handle.is_some() {
                // Persisted first: a crash while stopping must not resume the campaign, and
                // the other replicas stop at their next round.
                let version = self
                    .store
                    .set_state(id, StoredState::Stopped, self.now())
                    .await?;
                if let Some(e) = self.lock().get_mut(id) {
                    e.version = e.version.max(version);
                }
            }
            handle
        };
        let Some(handle) = handle else {
            if wait {
                self.wait_stopped(id).await;
                self.wait_other_replicas(id).await;
            }
            return self.get(id);
        };
        info!(campaign_id = %id, "campaign stopping");
        let finish = self.finish_stop(id, handle);
        if wait {
            finish.await;
            self.wait_other_replicas(id).await;
        } else {
            tokio::spawn(finish);
        }
        self.get(id)
    }

    /// The second half of a stop on this replica: the engine's calls end, then the entry is
    /// stopped.
    fn finish_stop(
        &self,
        id: &str,
        handle: CampaignHandle,
    ) -> impl Future<Output = ()> + Send + 'static {
        let id = id.to_string();
        let now = self.now();
        let task = self.lock().get_mut(&id).and_then(|e| e.task.take());
        let entries = self.entries.clone();
        async move {
            handle.stop().await;
            if let Some(t) = task {
                let _ = t.await;
            }
            let mut map = entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = map.get_mut(&id) {
                e.state = CampaignState::Stopped;
                e.updated_at = now;
                e.handle = None;
            }
            info!(campaign_id = %id, "campaign stopped");
        }
    }

    /// Waits (at most [`STOP_WAIT_OTHERS`]) until no live replica has a call of `id` in
    /// progress. Calls of a replica whose claim lapsed (a crash) are recorded when it, or a
    /// replica adopting its rows, starts again: they are not waited for.
    async fn wait_other_replicas(&self, id: &str) {
        let Some((calls, ttl)) = &self.open_calls else {
            return;
        };
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let since = Timestamp::now()
                .checked_sub(jiff::SignedDuration::try_from(*ttl).unwrap_or_default())
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let open = match self.store.live_replicas(since).await {
                Ok(live) => calls.open_calls(id, &live).await,
                Err(e) => Err(e.to_string()),
            };
            match open {
                Ok(0) => return,
                Ok(n) => debug!(campaign_id = %id, calls = n, "waiting for other replicas' calls"),
                Err(e) => warn!(campaign_id = %id, error = %e, "counting calls in progress"),
            }
            if started.elapsed() >= STOP_WAIT_OTHERS {
                warn!(campaign_id = %id, "other replicas still have calls in progress");
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// Brings this replica in line with the campaign table, which other replicas change too:
    /// campaigns created elsewhere start here (in their stored state), and stored changes of
    /// state or configuration reach the engines and what GetCampaign reports. (Engines also
    /// read their campaign's row before each round of dials; this is for everything else.)
    pub async fn sync(&self) -> Result<(), RegistryError> {
        if self.draining() {
            return Ok(());
        }
        self.resume().await?;
        for c in self.store.list().await? {
            let id = c.spec.id.clone();
            let _admin = self.admin.lock().await;
            let Some((handle, version)) =
                self.lock().get(&id).map(|e| (e.handle.clone(), e.version))
            else {
                continue;
            };
            if c.version <= version {
                continue;
            }
            let to = CampaignState::from_stored(c.state);
            if let Some(h) = &handle {
                if h.spec() != c.spec
                    && let Err(e) = h.update(c.spec.clone()).await
                {
                    warn!(campaign_id = %id, error = %e, "stored configuration refused");
                }
                let r = match to {
                    CampaignState::Running => h.start().await,
                    CampaignState::Paused => h.pause().await,
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    warn!(campaign_id = %id, error = %e, "stored state not applied");
                }
            }
            let stop = {
                let mut map = self.lock();
                let Some(e) = map.get_mut(&id) else { continue };
                e.spec = c.spec;
                e.version = c.version;
                e.updated_at = c.updated_at;
                let stopping = to == CampaignState::Stopped
                    && !matches!(e.state, CampaignState::Stopping | CampaignState::Stopped);
                e.state = if stopping {
                    CampaignState::Stopping
                } else {
                    to
                };
                if stopping { handle } else { None }
            };
            if let Some(h) = stop {
                info!(campaign_id = %id, "campaign stopped by another replica");
                tokio::spawn(self.finish_stop(&id, h));
            }
            info!(campaign_id = %id, state = to.as_str(), version = c.version, "campaign synced");
        }
        Ok(())
    }

    async fn wait_stopped(&self, id: &str) {
        let Ok(mut figures) = self.watch(id) else {
            return;
        };
        while self
            .get(id)
            .is_ok_and(|c| c.state != CampaignState::Stopped)
        {
            if figures.changed().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Loads accounts from the source into a campaign's queue and remembers them.
    pub async fn add_accounts(
        &self,
        id: &str,
        ids: Vec<String>,
    ) -> Result<AddReport, RegistryError> {
        self.check_open()?;
        let handle = self.handle(id)?;
        let report = handle
            .add_accounts(ids.clone())
            .await
            .map_err(|e| engine_error(id, e))?;
        let skip: HashSet<&String> = report.not_found.iter().chain(&report.unavailable).collect();
        let known: Vec<String> = ids.into_iter().filter(|a| !skip.contains(a)).collect();
        if !known.is_empty() {
            self.store.add_accounts(id, &known, self.now()).await?;
        }
        Ok(report)
    }

    /// Adds the accounts matching `filter`, at most [`MAX_ACCOUNTS_PER_ADD`] from
    /// `page_token` (empty: the start); returns what was added and where to continue.
    pub async fn add_by_filter(
        &self,
        id: &str,
        filter: &AccountFilter,
        page_token: &str,
    ) -> Result<(AddReport, Option<String>), RegistryError> {
        self.check_open()?;
        self.handle(id)?;
        let lister = self.lister.clone().ok_or_else(|| {
            RegistryError::Unimplemented(
                "filter: adding accounts by filter needs the ledger (ledger_url); give \
                 account_ids"
                    .into(),
            )
        })?;
        let mut ids = Vec::new();
        let mut token = page_token.to_string();
        let next = loop {
            let room = MAX_ACCOUNTS_PER_ADD - ids.len();
            let page = u32::try_from(room.min(10_000)).unwrap_or(10_000);
            let (mut got, next) = lister
                .list(filter, page, &token)
                .await
                .map_err(|e| RegistryError::Unavailable(format!("the ledger: {e}")))?;
            got.truncate(room);
            ids.extend(got);
            match next {
                Some(t) if ids.len() < MAX_ACCOUNTS_PER_ADD => token = t,
                other => break other,
            }
        };
        let report = if ids.is_empty() {
            AddReport::default()
        } else {
            self.add_accounts(id, ids).await?
        };
        Ok((report, next))
    }

    /// The ledger changed an account: every running campaign reloads it if it holds it.
    pub fn account_changed(&self, account_id: &str) {
        for e in self.lock().values() {
            if let Some(h) = &e.handle {
                let _ = h.account_changed(account_id);
            }
        }
    }

    /// Whether a shutdown has begun.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Shutdown: refuses new work, stops dialing on every campaign and waits up to `grace`
    /// for calls in progress to end. Campaigns stay stored as they were (running ones
    /// resume at the next start).
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.draining.store(true, Ordering::Release);
        let _admin = self.admin.lock().await;
        let running: Vec<(String, CampaignHandle)> = self
            .lock()
            .iter()
            .filter_map(|(id, e)| e.handle.clone().map(|h| (id.clone(), h)))
            .collect();
        let mut set = tokio::task::JoinSet::new();
        for (id, h) in running {
            set.spawn(async move {
                h.stop().await;
                id
            });
        }
        let mut report = ShutdownReport::default();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(Ok(id))) => report.stopped.push(id),
                Ok(Some(Err(e))) => warn!(error = %e, "campaign stop task failed"),
                Ok(None) => break,
                Err(_) => {
                    let stopped: HashSet<&String> = report.stopped.iter().collect();
                    report.timed_out = self
                        .lock()
                        .iter()
                        .filter(|(id, e)| e.handle.is_some() && !stopped.contains(id))
                        .map(|(id, _)| id.clone())
                        .collect();
                    warn!(campaigns = ?report.timed_out, "calls still in progress at the end of the grace period");
                    break;
                }
            }
        }
        report.stopped.sort();
        report
    }
}

/// Figures of a campaign this process has not run (stopped before the last restart).
pub(crate) fn empty_figures(id: &str, now: queue::Millis) -> Figures {
    use crate::engine::figures::{AgentCounts, Counters, QueueView, RunState};
    Counters::new(id, 30).snapshot(
        now,
        RunState::Stopped,
        AgentCounts::default(),
        0,
        crate::engine::seats::StateTime::default(),
        QueueView::default(),
    )
}
