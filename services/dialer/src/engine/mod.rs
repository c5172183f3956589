//! The campaign engine: one task per campaign that, second by second, asks the pacer how many
//! calls to launch, takes the best accounts from the queue, asks the compliance engine,
//! reserves the attempt, notes it in the outbox, dials, routes live answers to the
//! longest-idle agent (or plays the safe-harbor message after 2 s), and records every outcome.
//!
//! The task owns all mutable campaign state and handles one thing at a time (a carrier
//! event, an agent command, a timer), so there are no locks and no races inside a campaign.
//! Stores and networks sit behind traits ([`Backend`], [`Carrier`]); time is tokio time mapped
//! to Unix milliseconds by a [`Clock`], so tests and the demo run hours on a paused clock.

mod calls;
pub mod figures;
pub mod seats;
pub mod trend;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use carrier::{CallId, Carrier, CarrierEvent};
use compliance::model::Outcome;
use queue::{AttemptBook, CampaignQueue, Millis};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::account::{AccountSource, AccountView};
use crate::campaign::{CampaignSpec, SpecError};
use crate::outcomes::OutcomeSink;
use crate::session::{AgentCommand, AgentEvent, AgentId};

pub use figures::{Figures, RunState};
pub use trend::{Trend, TrendPoint};

/// The stores a campaign works against: queues, attempt counters, the outbox and ledger
/// writes, and the account source. The embedded default and production differ only here.
pub trait Backend: Send + Sync + 'static {
    type Queue: CampaignQueue + 'static;
    type Book: AttemptBook + 'static;
    type Outbox: OutcomeSink;
    type Source: AccountSource;

    /// The queue of one campaign.
    fn queue(&self, campaign: &str) -> Self::Queue;
    fn book(&self) -> &Self::Book;
    fn outbox(&self) -> &Self::Outbox;
    fn source(&self) -> &Self::Source;
    fn compliance(&self) -> &compliance::Engine;
    /// This replica's name (queue lease owner).
    fn owner(&self) -> &str;
}

/// A campaign's durable state as every replica running it sees it (the dialer's database):
/// its run state, configuration and their version.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    /// `Ready`, `Running`, `Paused` or `Stopped`.
    pub state: RunState,
    pub version: i64,
    /// The configuration, when newer than the version asked about.
    pub spec: Option<CampaignSpec>,
    /// Whether this replica drives the campaign (holds its lease): a replica that does not
    /// keeps the campaign (agents, figures) but does not dial it.
    pub owned: bool,
}

/// A pacer snapshot as stored by the campaign's lease holder.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedPacing {
    /// `pacing::PacingState` as JSON.
    pub json: String,
    /// How long ago it was written, by the wall clock (negative: written "later" by a clock
    /// ahead of this one).
    pub age: jiff::SignedDuration,
}

/// A future of the control seam.
pub type ControlFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, String>> + Send + 'a>>;

/// Where the engine reads a campaign's durable state before it dials.
pub trait CampaignControl: Send + Sync + 'static {
    /// Whether this replica holds the campaign's lease now (no I/O: as of the last scan).
    /// Without leases, always.
    fn holds(&self, id: &str) -> bool {
        let _ = id;
        true
    }

    /// The pacer snapshot last stored for campaign `id`, if any.
    fn load_pacing<'a>(&'a self, id: &'a str) -> ControlFuture<'a, Option<SavedPacing>> {
        let _ = id;
        Box::pin(async { Ok(None) })
    }

    /// Stores the pacer snapshot of campaign `id` under this replica's lease token; `false`
    /// when refused because another replica took the lease over since.
    fn save_pacing<'a>(&'a self, id: &'a str, json: String) -> ControlFuture<'a, bool> {
        let _ = (id, json);
        Box::pin(async { Ok(false) })
    }

    /// The state of campaign `id`, with its configuration if its version is not `known`;
    /// `None` if the campaign is gone.
    fn check<'a>(
        &'a self,
        id: &'a str,
        known: i64,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<Control>, String>> + Send + 'a>,
    >;
}

/// Tokio time as Unix milliseconds: `origin_ms` at the instant the clock was made, running
/// `rate` clock seconds per tokio second. A paused tokio clock makes it a virtual clock; a
/// rate above 1 is a fast clock for demos and tests, the same one the simulated carrier plays
/// its calls on, so recorded ring and talk times are the network's.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_ms: Millis,
    rate: f64,
}

impl Clock {
    /// A clock reading `origin_ms` now.
    pub fn starting_at(origin_ms: Millis) -> Clock {
        Clock {
            origin: Instant::now(),
            origin_ms,
            rate: 1.0,
        }
    }

    /// A clock reading the system's wall-clock time.
    pub fn system() -> Clock {
        Clock::starting_at(jiff::Timestamp::now().as_millisecond())
    }

    /// The same clock running `rate` times as fast from its origin (clamped to
    /// [0.001, 1000]).
    pub fn with_rate(mut self, rate: f64) -> Clock {
        self.rate = if rate.is_finite() {
            rate.clamp(0.001, 1000.0)
        } else {
            1.0
        };
        self
    }

    /// Clock seconds per tokio second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn now_ms(&self) -> Millis {
        let elapsed = self.origin.elapsed();
        let ms = if self.rate == 1.0 {
            elapsed.as_millis() as Millis
        } else {
            (elapsed.as_secs_f64() * 1000.0 * self.rate).round() as Millis
        };
        self.origin_ms + ms
    }

    /// The tokio instant at which the clock reads `ms`.
    pub fn instant_at(&self, ms: Millis) -> Instant {
        let delta = ms - self.origin_ms;
        if delta <= 0 {
            self.origin
        } else if self.rate == 1.0 {
            self.origin + Duration::from_millis(delta as u64)
        } else {
            self.origin + Duration::from_secs_f64(delta as f64 / 1000.0 / self.rate)
        }
    }
}

/// Why a request to the engine failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("the campaign has stopped")]
    Stopped,
    #[error("{0}")]
    Conflict(String),
}

/// What loading accounts into a campaign did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddReport {
    pub queued: u32,
    pub not_found: Vec<String>,
    /// The ledger could not be reached for these; they are not queued (fail closed).
    pub unavailable: Vec<String>,
}

pub(crate) enum Command {
    Login {
        agent: AgentId,
        endpoint: String,
        events: mpsc::UnboundedSender<AgentEvent>,
    },
    Agent {
        agent: AgentId,
        command: AgentCommand,
    },
    AddAccounts {
        ids: Vec<String>,
        reply: oneshot::Sender<AddReport>,
    },
    Loaded {
        views: Vec<AccountView>,
        /// The outbox's unacknowledged writes about them, read before the views (the order a
        /// counter rebuild needs, see `calls::Runtime::loaded`), from `read_at` on.
        unacked: Vec<crate::outcomes::Unacknowledged>,
        read_at: Millis,
        report: AddReport,
        /// Loaded to be queued (an AddAccounts page), not a refresh of a queued account.
        fresh: bool,
        reply: Option<oneshot::Sender<AddReport>>,
    },
    AccountChanged {
        account_id: String,
    },
    SetState {
        state: RunState,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Update {
        spec: Box<CampaignSpec>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
    /// A call's outcome and disposition commands are durable (sent by the write task).
    Saved {
        agent: AgentId,
        call: CallId,
    },
}

/// A running campaign, as its managers, agents and the ledger feed reach it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CampaignHandle {
    id: String,
    tx: mpsc::UnboundedSender<Command>,
    figures: watch::Receiver<Figures>,
    trend: Trend,
    spec: watch::Receiver<CampaignSpec>,
    clock: Clock,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Login { .. } => "Login",
            Command::Agent { .. } => "Agent",
            Command::AddAccounts { .. } => "AddAccounts",
            Command::Loaded { .. } => "Loaded",
            Command::AccountChanged { .. } => "AccountChanged",
            Command::SetState { .. } => "SetState",
            Command::Update { .. } => "Update",
            Command::Stop { .. } => "Stop",
            Command::Saved { .. } => "Saved",
        })
    }
}

impl CampaignHandle {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn send(&self, c: Command) -> Result<(), EngineError> {
        self.tx.send(c).map_err(|_| EngineError::Stopped)
    }

    /// Logs an agent in; its events arrive on the returned receiver. Commands go through
    /// [`CampaignHandle::agent`].
    pub fn login(
        &self,
        agent: &str,
        endpoint: &str,
    ) -> Result<mpsc::UnboundedReceiver<AgentEvent>, EngineError> {
        let (events, rx) = mpsc::unbounded_channel();
        self.send(Command::Login {
            agent: agent.to_string(),
            endpoint: endpoint.to_string(),
            events,
        })?;
        Ok(rx)
    }

    /// An agent's command (the agent must be logged in).
    pub fn agent(&self, agent: &str, command: AgentCommand) -> Result<(), EngineError> {
        self.send(Command::Agent {
            agent: agent.to_string(),
            command,
        })
    }

    /// Loads accounts from the source and queues them.
    pub async fn add_accounts(&self, ids: Vec<String>) -> Result<AddReport, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::AddAccounts { ids, reply })?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// The ledger changed this account (hold, consent, profile, outcome from elsewhere):
    /// reload it, and take it out of the queue at once if nothing may be called any more.
    pub fn account_changed(&self, account_id: &str) -> Result<(), EngineError> {
        self.send(Command::AccountChanged {
            account_id: account_id.to_string(),
        })
    }

    async fn set_state(&self, state: RunState) -> Result<(), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::SetState { state, reply })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    pub async fn start(&self) -> Result<(), EngineError> {
        self.set_state(RunState::Running).await
    }

    pub async fn pause(&self) -> Result<(), EngineError> {
        self.set_state(RunState::Paused).await
    }

    /// Replaces the configuration; takes effect at the next second.
    pub async fn update(&self, spec: CampaignSpec) -> Result<(), EngineError> {
        spec.validate()?;
        let (reply, rx) = oneshot::channel();
        self.send(Command::Update {
            spec: Box::new(spec),
            reply,
        })?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Stops dialing, lets calls in progress end and their outcomes be recorded, then ends
    /// the campaign task.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::Stop { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Live figures, updated once per second.
    pub fn figures(&self) -> watch::Receiver<Figures> {
        self.figures.clone()
    }

    /// The figures over the shift, one sample a minute (see [`trend`]).
    pub fn trend(&self) -> Trend {
        self.trend.clone()
    }

    /// The campaign's clock (virtual in simulations).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The configuration in force.
    pub fn spec(&self) -> CampaignSpec {
        self.spec.borrow().clone()
    }
}

/// Starts a campaign's task on `carrier` (whose events arrive on `carrier_events`). The
/// campaign starts in [`RunState::Ready`]: call [`CampaignHandle::start`] to dial.
pub fn spawn<B: Backend>(
    spec: CampaignSpec,
    backend: Arc<B>,
    carrier: Arc<dyn Carrier>,
    carrier_events: mpsc::UnboundedReceiver<CarrierEvent>,
    clock: Clock,
) -> Result<(CampaignHandle, tokio::task::JoinHandle<()>), EngineError> {
    spawn_with(spec, backend, carrier, carrier_events, clock, None)
}

/// [`spawn`] for a campaign other replicas may run too: before each round of dials the task
/// reads `control` (starting from version `known`) and follows the state and configuration
/// stored there.
pub fn spawn_with<B: Backend>(
    spec: CampaignSpec,
    backend: Arc<B>,
    carrier: Arc<dyn Carrier>,
    carrier_events: mpsc::UnboundedReceiver<CarrierEvent>,
    clock: Clock,
    control: Option<(Arc<dyn CampaignControl>, i64)>,
) -> Result<(CampaignHandle, tokio::task::JoinHandle<()>), EngineError> {
    spec.validate()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (spec_tx, spec_rx) = watch::channel(spec.clone());
    let runtime = calls::Runtime::new(
        spec.clone(),
        backend,
        carrier,
        clock,
        tx.clone(),
        control,
        spec_tx,
    )?;
    let (figures_tx, figures) = watch::channel(runtime.initial_figures());
    let trend = Trend::default();
    let handle = CampaignHandle {
        id: spec.id.clone(),
        tx,
        figures,
        trend: trend.clone(),
        spec: spec_rx,
        clock,
    };
    let task = tokio::spawn(runtime.run(rx, carrier_events, figures_tx, trend));
    Ok((handle, task))
}

/// Calls waiting for an agent or for a disposition, in deadline order (deadlines are a
/// fixed offset from an event, so arrival order is deadline order).
#[derive(Debug, Default)]
struct Deadlines {
    queue: VecDeque<(Millis, CallId)>,
}

impl Deadlines {
    fn push(&mut self, at: Millis, call: CallId) {
        self.queue.push_back((at, call));
    }

    fn next(&self) -> Option<Millis> {
        self.queue.front().map(|d| d.0)
    }

    fn pop_due(&mut self, now: Millis) -> Vec<CallId> {
        let mut due = Vec::new();
        while let Some(&(at, call)) = self.queue.front() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            due.push(call);
        }
        due
    }
}

/// The name of an outcome in figures and reports (`no_answer`, `abandoned`, ...).
pub fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Busy => "busy",
        Outcome::Sit => "sit",
        Outcome::Failed => "failed",
        Outcome::NoAnswer => "no_answer",
        Outcome::Voicemail => "voicemail",
        Outcome::Lcm => "lcm",
        Outcome::Machine => "machine",
        Outcome::Answered => "answered",
        Outcome::Abandoned => "abandoned",
        Outcome::Conversation => "conversation",
        Outcome::WrongParty => "wrong_party",
    }
}
