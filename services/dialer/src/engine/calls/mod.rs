//! The campaign task itself: its state and the handling of each event. See the module
//! documentation of [`super`] for the flow of one call.
//!
//! - this file: the task's state, its loop, and manager and agent commands;
//! - [`call`]: one call's life as a state machine (typed phases and their transitions);
//! - [`lease`]: the queue lease of a call's account as a guard, released in one place;
//! - [`dialing`]: pacing decisions turned into calls, previews, manual dials;
//! - [`events`]: carrier events, routing, abandonment, wrap-up, dispositions, outcomes;
//! - [`screen_pop`]: what an agent sees when a call arrives.

mod call;
mod dialing;
mod events;
mod lease;
#[cfg(test)]
mod lease_paths;
mod screen_pop;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use carrier::{CallId, Carrier, CarrierEvent};
use compliance::Decision;
use compliance::model::{self as cm, Direction, HoldKind};
use jiff::Timestamp;
use ledger_api::domain::{ContactOutcome, Hold};
use pacing::{Completed, Controller};
use queue::rank::{AccountFacts, rank};
use queue::reservation::PastAttempt;
use queue::{AttemptBook, CampaignQueue, Millis, Reservation};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;
use tracing::{Instrument, debug, info, info_span, warn};

use super::figures::{AgentCounts, AgentRow, Counters, Figures, QueueView, RunState};
use super::seats::Seats;
use super::{AddReport, Backend, CampaignControl, Clock, Command, Deadlines, EngineError};
use crate::account::{AccountSource, AccountView, SourceError, history_entry, join_all};
use crate::campaign::CampaignSpec;
use crate::outcomes::{OutcomeSink, Unacknowledged, WriteKind};
use crate::session::{
    AgentCommand, AgentEvent, Disposition, DispositionCode, Rejection, SeatState,
};
use call::{Attempt, Call, Input, Phase, Step};
use lease::{Leases, Release};

/// Calls ids are unique per process; the attempt's idempotency key is unique everywhere.
static NEXT_CALL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

const REG_F_LIMIT: u32 = 7;
const MINUTE: Millis = 60_000;
const DAY: Millis = 86_400_000;
/// At most this many accounts popped per second beyond what is dialed (refused ones).
const MAX_POP_ROUNDS: usize = 8;
/// How far the clock may read behind recorded history before dialing stops: clocks of
/// different machines disagree by seconds, not minutes.
pub(crate) const CLOCK_SKEW: Millis = 5 * MINUTE;
/// A counter rebuild keeps attempts it cannot see that are younger than this: another
/// replica's (or campaign's) reservation made just before the rebuild read the outbox, whose
/// outbox row was not written yet. Generous: keeping one longer only counts on the safe side.
const COUNTER_GRACE: Millis = 10 * MINUTE;
/// Counter rebuilds sent to the store at once.
const REBUILD_BATCH: usize = 256;
/// How often the lease holder stores its pacer's snapshot (wall time): a takeover resumes
/// from at most this long ago.
const PACING_SAVE_EVERY: Duration = Duration::from_secs(5);
/// A stored pacer snapshot older than this (campaign clock) is not restored: the pacer
/// starts cold. By then the pacer itself would have dropped what matters in its first
/// minutes (its price and calibration after an hour without agents, its answer rate to
/// the prior), and a cold start is the cautious side (docs/architecture.md).
const PACING_STATE_MAX_AGE_S: f64 = 3600.0;

/// An attempt reserved and ready to be noted in the outbox and dialed.
struct Prepared {
    id: CallId,
    attempt: Attempt,
    reservation: Option<Reservation>,
}

/// Who and what a call is about.
struct Target {
    account: String,
    number: String,
    phone_index: usize,
    debts: Vec<String>,
}

/// What to do with one account now.
enum Plan {
    Dial {
        number: String,
        phone_index: usize,
        debts: Vec<String>,
        decision: Box<Decision>,
    },
    Sleep {
        until: Millis,
    },
    Retire,
}

pub(crate) struct Runtime<B: Backend> {
    spec: CampaignSpec,
    state: RunState,
    backend: Arc<B>,
    queue: B::Queue,
    carrier: Arc<dyn Carrier>,
    clock: Clock,
    pacer: Box<dyn Controller>,
    /// The campaign's durable state shared with other replicas, checked before each round of
    /// dials; `None` when this process is the only one running it (tests, the demo).
    control: Option<Arc<dyn CampaignControl>>,
    /// The control version whose state and configuration this task follows.
    version: i64,
    /// Whether this replica held the campaign's lease at the last check (for the log line
    /// when that changes).
    owned: bool,
    /// Publishes the configuration in force (the handle reads it).
    spec_tx: watch::Sender<CampaignSpec>,
    /// The latest contact of any loaded account (Unix ms): a clock reading much earlier than
    /// that runs backwards (see [`CLOCK_SKEW`]).
    latest_history: Millis,
    /// Our own command sender, for work finished in spawned tasks.
    tx: mpsc::UnboundedSender<Command>,
    accounts: HashMap<String, AccountView>,
    /// Accounts whose attempt counters could not be rebuilt since their view was loaded:
    /// not dialed until a rebuild succeeds (see `view`).
    unbuilt: HashSet<String>,
    /// Next phone to try, per account (index into its phones in campaign order).
    cursor: HashMap<String, usize>,
    calls: HashMap<CallId, Call>,
    /// The queue leases handed out (each held by a call between two events).
    leases: Leases,
    /// Accounts with a call in progress (never two at once).
    busy_accounts: HashMap<String, CallId>,
    seats: Seats,
    waiting: Deadlines,
    wraps: Deadlines,
    completed: Vec<Completed>,
    counters: Counters,
    /// Final outcomes on their way to the outbox. Written off the event loop (a durable
    /// commit takes milliseconds); until one lands, the provisional outcome stands in for it.
    writes: tokio::task::JoinSet<()>,
    stop_waiters: Vec<oneshot::Sender<()>>,
    next_tick: Millis,
    last_extend: Millis,
    queue_view: QueueView,
    /// Whether the pacer started from a stored snapshot (a takeover or a restart resumed
    /// it) rather than cold, since it was last built.
    pacing_restored: bool,
    /// Whether the stored snapshot was read since this replica last took the lease: read
    /// once per holding, before the first dial of it.
    pacing_resumed: bool,
    /// When the last snapshot was sent to the store, and that write while in flight.
    pacing_saved_at: tokio::time::Instant,
    pacing_saving: Option<tokio::task::JoinHandle<()>>,
    /// Wall-clock start of the decision in progress (its share of the pop, then the rules
    /// and the reservation), for the decision-latency figure.
    decision_started: Option<(std::time::Instant, Duration)>,
}

fn ts(ms: Millis) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl<B: Backend> Runtime<B> {
    pub(crate) fn new(
        spec: CampaignSpec,
        backend: Arc<B>,
        carrier: Arc<dyn Carrier>,
        clock: Clock,
        tx: mpsc::UnboundedSender<Command>,
        control: Option<(Arc<dyn CampaignControl>, i64)>,
        spec_tx: watch::Sender<CampaignSpec>,
    ) -> Result<Self, EngineError> {
        let pacer = build_pacer(&spec)?;
        let (control, version) = match control {
            Some((c, v)) => (Some(c), v),
            None => (None, 0),
        };
        let queue = backend.queue(&spec.id);
        let now = clock.now_ms();
        Ok(Runtime {
            counters: Counters::new(&spec.id, spec.abandon_window_days),
            spec,
            state: RunState::Ready,
            backend,
            queue,
            carrier,
            clock,
            pacer,
            control,
            version,
            owned: true,
            spec_tx,
            latest_history: Millis::MIN,
            tx,
            accounts: HashMap::new(),
            unbuilt: HashSet::new(),
            cursor: HashMap::new(),
            calls: HashMap::new(),
            leases: Leases::default(),
            busy_accounts: HashMap::new(),
            seats: Seats::default(),
            waiting: Deadlines::default(),
            wraps: Deadlines::default(),
            completed: Vec::new(),
            writes: tokio::task::JoinSet::new(),
            stop_waiters: Vec::new(),
            next_tick: now + 1000,
            last_extend: now,
            queue_view: QueueView::default(),
            decision_started: None,
            pacing_restored: false,
            pacing_resumed: false,
            pacing_saved_at: tokio::time::Instant::now(),
            pacing_saving: None,
        })
    }

    pub(crate) fn initial_figures(&self) -> Figures {
        let mut c = self.counters.clone();
        let mut f = c.snapshot(
            self.clock.now_ms(),
            self.state,
            AgentCounts::default(),
            0,
            self.seats.time,
            QueueView::default(),
        );
        f.abandon_target = self.spec.abandon_target;
        f.pacing_answer_rate = self.pacer.estimated_answer_rate().unwrap_or(0.0);
        f
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: mpsc::UnboundedReceiver<CarrierEvent>,
        figures: watch::Sender<Figures>,
        trend: super::Trend,
    ) {
        let span = info_span!("campaign", campaign_id = %self.spec.id);
        async move {
            info!("campaign task started");
            loop {
                let next = [Some(self.next_tick), self.waiting.next(), self.wraps.next()]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(self.next_tick);
                tokio::select! {
                    biased;
                    Some(ev) = events.recv() => self.on_carrier(ev).await,
                    cmd = commands.recv() => match cmd {
                        Some(Command::Update { spec, reply }) => {
                            let r = self.update(*spec);
                            let _ = reply.send(r);
                        }
                        Some(c) => self.on_command(c).await,
                        None => break,
                    },
                    () = sleep_until(self.clock.instant_at(next)) => {
                        let now = self.clock.now_ms();
                        self.on_timers(now).await;
                        if now >= self.next_tick {
                            self.next_tick = now + 1000;
                            self.on_tick(now).await;
                            let f = self.figures(now);
                            trend.record(&f);
                            let _ = figures.send(f);
                        }
                    }
                }
                debug_assert_eq!(
                    self.leases.open(),
                    self.leases_held(),
                    "a queue lease was dropped without its release"
                );
                if self.state == RunState::Stopping && self.calls.is_empty() {
                    while self.writes.join_next().await.is_some() {}
                    self.save_pacing_at_end().await;
                    self.state = RunState::Stopped;
                    let f = self.figures(self.clock.now_ms());
                    trend.record(&f);
                    let _ = figures.send(f);
                    for w in self.stop_waiters.drain(..) {
                        let _ = w.send(());
                    }
                    break;
                }
            }
            info!("campaign task ended");
        }
        .instrument(span)
        .await
    }

    fn update(&mut self, spec: CampaignSpec) -> Result<(), EngineError> {
        if spec.id != self.spec.id {
            return Err(EngineError::Conflict(
                "a campaign's id cannot change".into(),
            ));
        }
        if spec.pacing != self.spec.pacing || spec.pacing_config() != self.spec.pacing_config() {
            self.pacer = build_pacer(&spec)?;
            self.pacing_restored = false;
        }
        self.counters.set_window(spec.abandon_window_days);
        self.spec = spec;
        let _ = self.spec_tx.send(self.spec.clone());
        info!("campaign configuration updated");
        Ok(())
    }

    /// Remembers how late `v`'s history goes (for the backwards-clock alarm).
    fn note_history(&mut self, v: &AccountView) {
        if let Some(t) = v
            .contacts
            .iter()
            .map(|c| c.started_at.as_millisecond())
            .max()
        {
            self.latest_history = self.latest_history.max(t);
        }
    }

    /// Whether the clock reads far earlier than recorded history: a clock that ran backwards
    /// (a restart on a wrong or earlier configured time). The rules' windows and counts are
    /// then unreliable, so the campaign does not dial until the clock has caught up; the
    /// figures carry the alarm and it is logged.
    pub(super) fn clock_behind(&mut self, now: Millis) -> bool {
        let behind = self.latest_history.saturating_sub(now);
        let alarm = behind > CLOCK_SKEW;
        if alarm && self.counters.clock_behind_ms == 0 {
            tracing::error!(
                behind_s = behind / 1000,
                "the clock reads earlier than recorded history: dialing stopped until it catches up"
            );
        }
        self.counters.clock_behind_ms = if alarm { behind } else { 0 };
        alarm
    }

    /// Before a round of dials: the campaign's durable state, which any replica may have
    /// changed (pause, stop, a new configuration). Whatever it says is applied first, so a
    /// pause committed anywhere stops this replica's next dial. `true`: dial. A store that
    /// does not answer means no dial (fail closed).
    pub(super) async fn confirm_running(&mut self, now: Millis) -> bool {
        let Some(control) = self.control.clone() else {
            return self.state == RunState::Running;
        };
        let c = match control.check(&self.spec.id, self.version).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                warn!("campaign gone from the database: stopping");
                self.begin_stop(now).await;
                return false;
            }
            Err(e) => {
                warn!(error = %e, "campaign state unreadable: not dialing");
                self.counters.errors += 1;
                return false;
            }
        };
        if let Some(spec) = c.spec
            && spec != self.spec
            && let Err(e) = self.update(spec)
        {
            warn!(error = %e, "stored configuration refused; keeping the one in force");
        }
        self.version = c.version;
        match c.state {
            RunState::Stopping | RunState::Stopped => {
                info!("stopped by another replica");
                self.begin_stop(now).await;
            }
            s if s != self.state && self.state != RunState::Stopping => {
                info!(from = ?self.state, to = ?s, "campaign state set by another replica");
                self.state = s;
            }
            _ => {}
        }
        if c.owned != self.owned {
            info!(owned = c.owned, "campaign lease changed hands");
            self.owned = c.owned;
        }
        self.state == RunState::Running && c.owned
    }

    /// Before the pacer's tick: once per holding of the campaign's lease (a takeover, a
    /// restart, a lease won back), the pacer resumes from the snapshot the last holder
    /// stored, unless there is none, it is too old or it does not fit the configuration
    /// (then it goes on cold). Until that read succeeds the campaign does not dial.
    pub(super) async fn resume_pacing(&mut self, now: Millis) {
        let Some(control) = self.control.clone() else {
            return;
        };
        if !control.holds(&self.spec.id) {
            self.pacing_resumed = false;
            return;
        }
        if self.pacing_resumed {
            return;
        }
        let saved = match control.load_pacing(&self.spec.id).await {
            Ok(saved) => saved,
            Err(e) => {
                warn!(error = %e, "pacing state unreadable: not dialing until it is read");
                self.counters.errors += 1;
                return;
            }
        };
        self.pacing_resumed = true;
        self.pacing_saved_at = tokio::time::Instant::now();
        let Some(saved) = saved else {
            info!("no pacing state stored: the pacer starts cold");
            return;
        };
        // Its age on the campaign clock (which may run faster than the wall clock).
        let age_s = saved.age.as_secs_f64().max(0.0) * self.clock.rate();
        if age_s > PACING_STATE_MAX_AGE_S {
            info!(age_s, "pacing state too old: the pacer starts cold");
            return;
        }
        let at = now as f64 / 1000.0 - age_s;
        match pacing::PacingState::from_json(&saved.json)
            .and_then(|state| self.pacer.restore(&state, at))
        {
            Ok(()) => {
                self.pacing_restored = true;
                info!(
                    age_s,
                    answer_rate = self.pacer.estimated_answer_rate(),
                    "pacing state restored: the pacer resumes what the last holder learned"
                );
            }
            Err(e) => warn!(error = %e, "pacing state not restored: the pacer starts cold"),
        }
    }

    /// After the pacer's tick: the holder stores its snapshot every [`PACING_SAVE_EVERY`],
    /// off the event loop, one write at a time (a stopping task stores it once, at its end:
    /// [`Self::save_pacing_at_end`]). The store refuses it once another replica took the
    /// lease over (fenced by the lease token).
    pub(super) fn save_pacing(&mut self) {
        let Some(control) = self.control.clone() else {
            return;
        };
        if !self.pacing_resumed
            || matches!(self.state, RunState::Stopping | RunState::Stopped)
            || self.pacing_saved_at.elapsed() < PACING_SAVE_EVERY
            || self
                .pacing_saving
                .as_ref()
                .is_some_and(|h| !h.is_finished())
            || !control.holds(&self.spec.id)
        {
            return;
        }
        let Some(state) = self.pacer.snapshot() else {
            return;
        };
        self.pacing_saved_at = tokio::time::Instant::now();
        let id = self.spec.id.clone();
        self.pacing_saving = Some(tokio::spawn(
            store_pacing(control, id, state.to_json()).in_current_span(),
        ));
    }

    /// When the task ends (a stop, or this replica shutting down before it gives its leases
    /// back): the pacer's last state is stored, so the next holder loses none of what was
    /// learned since the last periodic save.
    async fn save_pacing_at_end(&mut self) {
        if let Some(saving) = self.pacing_saving.take() {
            let _ = saving.await;
        }
        let Some(control) = self.control.clone() else {
            return;
        };
        if !self.pacing_resumed || !control.holds(&self.spec.id) {
            return;
        }
        if let Some(state) = self.pacer.snapshot() {
            store_pacing(control, self.spec.id.clone(), state.to_json()).await;
        }
    }

    /// No new dials; the task ends once the calls in progress have ended.
    async fn begin_stop(&mut self, now: Millis) {
        if matches!(self.state, RunState::Stopping | RunState::Stopped) {
            return;
        }
        info!("stopping: no new dials, waiting for calls in progress");
        self.state = RunState::Stopping;
        // Preview offers were never dialed: give them back.
        let previews: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.phase(), Phase::Offered))
            .map(|(id, _)| *id)
            .collect();
        for id in previews {
            self.unoffer(id, now).await;
        }
    }

    fn figures(&mut self, now: Millis) -> Figures {
        self.seats.settle(now);
        let mut agents = AgentCounts::default();
        for s in self.seats.iter() {
            match s.state {
                SeatState::Ready => agents.ready += 1,
                SeatState::Reserved => agents.reserved += 1,
                SeatState::OnCall => agents.on_call += 1,
                SeatState::WrapUp => agents.wrap_up += 1,
                SeatState::NotReady { .. } => agents.not_ready += 1,
                SeatState::LoggedOut => agents.logged_out += 1,
            }
        }
        let lines = self.calls.values().filter(|c| c.on_line()).count() as u32;
        let mut f = self.counters.snapshot(
            now,
            self.state,
            agents,
            lines,
            self.seats.time,
            self.queue_view,
        );
        f.abandon_target = self.spec.abandon_target;
        f.pacing_state_restored = self.pacing_restored;
        f.pacing_answer_rate = self.pacer.estimated_answer_rate().unwrap_or(0.0);
        f.roster = self
            .seats
            .iter()
            .map(|s| {
                let (state, pause_code) = match &s.state {
                    SeatState::LoggedOut => ("logged_out", ""),
                    SeatState::NotReady { code } => ("not_ready", code.as_str()),
                    SeatState::Ready => ("ready", ""),
                    SeatState::Reserved => ("reserved", ""),
                    SeatState::OnCall => ("on_call", ""),
                    SeatState::WrapUp => ("wrap_up", ""),
                };
                AgentRow {
                    agent_id: s.agent.clone(),
                    state,
                    pause_code: pause_code.to_string(),
                    since_ms: s.since,
                    call_id: s.call.map(|c| c.to_string()),
                    calls: s.calls,
                    talk_ms: s.talk_ms,
                }
            })
            .collect();
        f
    }

    // ------------------------------------------------------------------ calls and leases

    /// Feeds `input` to call `id` (`None`: no such call). A call that moves on or refuses
    /// stays in the map; one that ends or is withdrawn leaves it and is returned.
    pub(super) fn feed(&mut self, id: CallId, input: Input, now: Millis) -> Option<Step<()>> {
        let call = self.calls.remove(&id)?;
        Some(match call.on(input, now) {
            Step::Moved(c) => {
                self.calls.insert(id, c);
                Step::Moved(())
            }
            Step::Refused(c) => {
                self.calls.insert(id, c);
                Step::Refused(())
            }
            Step::Ended(e) => Step::Ended(e),
            Step::Withdrawn(a) => Step::Withdrawn(a),
        })
    }

    /// Gives a settled lease back to the queue: the one place leases end.
    pub(super) async fn release(&mut self, r: Release) {
        let (lease, next) = self.leases.close(r);
        match self.queue.complete(&lease, next).await {
            Ok(true) => {}
            Ok(false) => debug!(account_id = %lease.account, "lease had expired"),
            Err(e) => {
                warn!(error = %e, "queue complete failed (the lease will expire)");
                self.counters.errors += 1;
            }
        }
    }

    /// Leases held by the campaign's calls.
    fn leases_held(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.attempt().lease.is_some())
            .count()
    }

    /// Between two events every open lease is held by a call; one that is not was dropped
    /// without its release (a bug: debug builds stop at the event that lost it). It expires in
    /// the queue; say so once.
    pub(super) fn reconcile_leases(&mut self) {
        if let Err(lost) = self.leases.reconcile(self.leases_held()) {
            tracing::error!(
                lost,
                "queue leases dropped without a release: they will expire"
            );
        }
    }

    // ------------------------------------------------------------------ commands

    async fn on_command(&mut self, c: Command) {
        let now = self.clock.now_ms();
        match c {
            Command::Login {
                agent,
                endpoint,
                events,
            } => {
                let before = self
                    .seats
                    .index(&agent)
                    .map(|i| self.seats.get(i).endpoint.clone())
                    .filter(|e| !e.is_empty() && *e != endpoint);
                if let Some(old) = before {
                    self.carrier.agent_logout(&old);
                }
                self.seats.login(&agent, &endpoint, events, now);
                // A SIP network calls the softphone now and keeps the leg up (nailed-up).
                self.carrier.agent_login(&endpoint);
                info!(agent_id = %agent, "agent logged in");
            }
            Command::Agent { agent, command } => self.on_agent(&agent, command, now).await,
            Command::AddAccounts { ids, reply } => self.load(ids, Some(reply)),
            Command::Loaded {
                views,
                unacked,
                read_at,
                report,
                fresh,
                reply,
            } => {
                self.loaded(views, unacked, read_at, report, fresh, reply)
                    .await
            }
            Command::AccountChanged { account_id } => {
                if self.accounts.contains_key(&account_id) {
                    self.load(vec![account_id], None);
                }
            }
            Command::SetState { state, reply } => {
                let r = match (self.state, state) {
                    (RunState::Stopping | RunState::Stopped, _) => Err(EngineError::Stopped),
                    (_, RunState::Running | RunState::Paused) => {
                        info!(from = ?self.state, to = ?state, "campaign state");
                        self.state = state;
                        Ok(())
                    }
                    _ => Err(EngineError::Conflict("use stop to end a campaign".into())),
                };
                let _ = reply.send(r);
            }
            Command::Update { .. } => {}
            Command::Saved { agent, call } => {
                if let Some(seat) = self.seats.index(&agent) {
                    self.seats.send(seat, AgentEvent::DispositionSaved { call });
                }
            }
            Command::Stop { reply } => {
                self.stop_waiters.push(reply);
                self.begin_stop(now).await;
            }
        }
    }

    /// Loads accounts in a separate task (the ledger may be slow) and comes back with
    /// [`Command::Loaded`]. Each batch reads the outbox before the ledger: an outcome the
    /// ledger acknowledges (and the outbox drops) in between is then in the ledger's answer,
    /// so the counter rebuild misses no attempt. An AddAccounts (`reply` set) loads in pages
    /// of [`LOAD_PAGE`] through [`AccountSource::load_many`], each page queued as it arrives
    /// (dialing starts on the first page while the rest load, at most [`LOAD_AHEAD`] pages
    /// ahead of the queue); a refresh (no `reply`) loads its accounts one by one.
    fn load(&self, ids: Vec<String>, reply: Option<oneshot::Sender<AddReport>>) {
        let backend = self.backend.clone();
        let tx = self.tx.clone();
        let clock = self.clock;
        let Some(reply) = reply else {
            tokio::spawn(async move {
                let read_at = clock.now_ms();
                let mut report = AddReport::default();
                let mut views = Vec::with_capacity(ids.len());
                let mut unacked = Vec::new();
                for chunk in ids.chunks(32) {
                    match backend.outbox().unacknowledged(chunk).await {
                        Ok(u) => unacked.extend(u),
                        Err(e) => {
                            // Fail closed: without it the counters cannot be rebuilt.
                            warn!(error = %e, "outbox unavailable: accounts not loaded");
                            report.unavailable.extend(chunk.iter().cloned());
                            continue;
                        }
                    }
                    let loads = chunk.iter().map(|id| backend.source().load(id));
                    sort_loads(chunk, join_all(loads).await, &mut views, &mut report);
                }
                let _ = tx.send(Command::Loaded {
                    views,
                    unacked,
                    read_at,
                    report,
                    fresh: false,
                    reply: None,
                });
            });
            return;
        };
        tokio::spawn(async move {
            let mut total = AddReport::default();
            let mut ahead: std::collections::VecDeque<oneshot::Receiver<AddReport>> =
                std::collections::VecDeque::new();
            for page in ids.chunks(LOAD_PAGE) {
                let read_at = clock.now_ms();
                let mut report = AddReport::default();
                let unacked = match backend.outbox().unacknowledged(page).await {
                    Ok(u) => u,
                    Err(e) => {
                        warn!(error = %e, "outbox unavailable: accounts not loaded");
                        total.unavailable.extend(page.iter().cloned());
                        continue;
                    }
                };
                let mut views = Vec::with_capacity(page.len());
                let loads = backend.source().load_many(page).await;
                sort_loads(page, loads, &mut views, &mut report);
                let (page_reply, page_done) = oneshot::channel();
                if tx
                    .send(Command::Loaded {
                        views,
                        unacked,
                        read_at,
                        report,
                        fresh: true,
                        reply: Some(page_reply),
                    })
                    .is_err()
                {
                    return; // the campaign ended
                }
                ahead.push_back(page_done);
                while ahead.len() > LOAD_AHEAD {
                    if let Some(done) = ahead.pop_front() {
                        add_report(&mut total, done.await);
                    }
                }
            }
            for done in ahead {
                add_report(&mut total, done.await);
            }
            let _ = reply.send(total);
        });
    }

    /// Freshly loaded views: our own outcomes the ledger has not reported back are kept, the
    /// accounts' attempt counters are rebuilt from them and the outbox's unacknowledged
    /// outcomes (`unacked`, read from `read_at`) before any of them can be dialed again, and
    /// the queue follows what changed.
    async fn loaded(
        &mut self,
        views: Vec<AccountView>,
        unacked: Vec<Unacknowledged>,
        read_at: Millis,
        mut report: AddReport,
        fresh: bool,
        reply: Option<oneshot::Sender<AddReport>>,
    ) {
        let now = self.clock.now_ms();
        let mut rows: HashMap<&str, Vec<&Unacknowledged>> = HashMap::new();
        for u in &unacked {
            rows.entry(u.account_id.as_str()).or_default().push(u);
        }
        let mut rebuilds = Vec::with_capacity(views.len());
        let mut items = Vec::new();
        let mut reranked = Vec::new();
        for mut v in views {
            let id = v.account.account_id.clone();
            self.merge_own(&mut v);
            let attempts = counted_attempts(&v, rows.get(id.as_str()).map_or(&[], |r| &r[..]));
            rebuilds.push((id.clone(), attempts));
            let callable = !open_debts(&v, now).is_empty();
            // A hold released: back in the queue (an account retired for other reasons,
            // a promise say, stays out: only fresh loads and released holds are pushed).
            let released = !fresh
                && callable
                && self
                    .accounts
                    .get(&id)
                    .is_some_and(|old| open_debts(old, now).is_empty());
            if (fresh || released) && callable {
                items.push(queue::QueueItem {
                    account: id.clone(),
                    rank: self.rank(&v, now),
                });
            } else if callable {
                // News of a queued account (a payment, a promise broken or imported): its
                // rank now, where it waits; a retired account stays out. A pending promise
                // defers it when it is next popped (the plan step), before any dial.
                reranked.push(queue::QueueItem {
                    account: id.clone(),
                    rank: self.rank(&v, now),
                });
            }
            if !callable && !fresh {
                // A hold on every debt: out of the queue now (a call in progress ends as
                // it would; no new one starts).
                if let Err(e) = self.queue.remove(&id).await {
                    warn!(error = %e, "queue remove failed");
                    self.counters.errors += 1;
                }
                debug!(account_id = %id, "account retired by a ledger change (a hold, or paid)");
            }
            self.note_history(&v);
            self.accounts.insert(id, v);
        }
        self.rebuild_counters(rebuilds, read_at).await;
        if !reranked.is_empty()
            && let Err(e) = self.queue.rerank(&reranked).await
        {
            warn!(error = %e, "queue re-rank failed");
            self.counters.errors += 1;
        }
        if !items.is_empty() {
            match self.queue.push(&items).await {
                Ok(()) => report.queued = items.len() as u32,
                Err(e) => {
                    warn!(error = %e, "queue push failed");
                    self.counters.errors += 1;
                    report
                        .unavailable
                        .extend(items.into_iter().map(|i| i.account));
                }
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(report);
        }
    }

    /// Keeps in a fresh view our own outcomes of the copy it replaces that the ledger has not
    /// reported back yet.
    fn merge_own(&self, v: &mut AccountView) {
        let Some(old) = self.accounts.get(&v.account.account_id) else {
            return;
        };
        for c in &old.contacts {
            if !v
                .contacts
                .iter()
                .any(|x| x.idempotency_key == c.idempotency_key)
            {
                v.contacts.push(c.clone());
            }
        }
    }

    /// Makes the accounts' attempt counters exactly these attempts (with the young members
    /// of other replicas kept, see [`COUNTER_GRACE`]), in concurrent batches. An account
    /// whose rebuild failed is marked and not dialed until one succeeds.
    pub(super) async fn rebuild_counters(
        &mut self,
        rebuilds: Vec<(String, Vec<PastAttempt>)>,
        read_at: Millis,
    ) {
        let backend = self.backend.clone();
        for batch in rebuilds.chunks(REBUILD_BATCH) {
            let done = join_all(
                batch
                    .iter()
                    .map(|(id, a)| backend.book().rebuild(id, a, read_at, COUNTER_GRACE)),
            )
            .await;
            for ((id, _), r) in batch.iter().zip(done) {
                match r {
                    Ok(()) => {
                        self.unbuilt.remove(id);
                    }
                    Err(e) => {
                        warn!(account_id = %id, error = %e, "attempt counters not rebuilt: not dialing it until they are");
                        self.counters.errors += 1;
                        self.unbuilt.insert(id.clone());
                    }
                }
            }
        }
    }

    fn rank(&self, v: &AccountView, now: Millis) -> f64 {
        rank(&self.spec.ranking, &facts(v), now)
    }

    async fn on_agent(&mut self, agent: &str, command: AgentCommand, now: Millis) {
        let Some(seat) = self.seats.index(agent) else {
            warn!(agent_id = %agent, "command from an agent not logged in");
            return;
        };
        let reject = |seats: &mut Seats, what: &str, rejection: Rejection| {
            seats.send(
                seat,
                AgentEvent::Rejected {
                    command: what.to_string(),
                    rejection,
                },
            );
        };
        let own_call = |call: CallId, calls: &HashMap<CallId, Call>| {
            calls.get(&call).is_some_and(|c| c.seat() == Some(seat))
        };
        // Another agent's call and a call that is over (or never was) read differently: the
        // first is refused for ownership, the second is a stale command.
        let not_own = |call: CallId, calls: &HashMap<CallId, Call>| {
            if calls.contains_key(&call) {
                Rejection::not_yours()
            } else {
                Rejection::not_found("no such call (it has ended)")
            }
        };
        match command {
            AgentCommand::Ready => match self.seats.get(seat).state {
                SeatState::NotReady { .. } | SeatState::Ready => {
                    self.seats.get_mut(seat).pending_not_ready = None;
                    self.seats.set(seat, SeatState::Ready, now);
                    self.serve_waiting(now);
                }
                _ => {
                    // Ready again after the call: cancel a pending not-ready.
                    self.seats.get_mut(seat).pending_not_ready = None;
                }
            },
            AgentCommand::NotReady { code } => match self.seats.get(seat).state {
                SeatState::Ready | SeatState::NotReady { .. } => {
                    self.seats.set(seat, SeatState::NotReady { code }, now)
                }
                SeatState::LoggedOut => {}
                _ => self.seats.get_mut(seat).pending_not_ready = Some(code),
            },
            AgentCommand::Logout => {
                let busy = matches!(
                    self.seats.get(seat).state,
                    SeatState::Reserved | SeatState::OnCall | SeatState::WrapUp
                );
                if busy {
                    reject(
                        &mut self.seats,
                        "logout",
                        Rejection::not_now("finish the call first"),
                    );
                } else {
                    self.seats.set(seat, SeatState::LoggedOut, now);
                    let endpoint = self.seats.get(seat).endpoint.clone();
                    self.carrier.agent_logout(&endpoint);
                    info!(agent_id = %agent, "agent logged out");
                }
            }
            AgentCommand::Accept { call } | AgentCommand::Skip { call } => {
                let accept = matches!(command, AgentCommand::Accept { .. });
                let what = if accept { "accept" } else { "skip" };
                if !own_call(call, &self.calls) {
                    reject(&mut self.seats, what, not_own(call, &self.calls));
                    return;
                }
                if self
                    .calls
                    .get(&call)
                    .is_none_or(|c| !matches!(c.phase(), Phase::Offered))
                {
                    reject(
                        &mut self.seats,
                        what,
                        Rejection::not_now("no such preview offer"),
                    );
                    return;
                }
                if accept {
                    self.accept_preview(call, now).await;
                } else {
                    self.unoffer(call, now).await;
                    self.seats.set(seat, SeatState::Ready, now);
                }
            }
            AgentCommand::Hangup { call } => {
                if !own_call(call, &self.calls) {
                    reject(&mut self.seats, "hangup", not_own(call, &self.calls));
                    return;
                }
                if let Err(e) = self.carrier.hangup(call, None) {
                    reject(&mut self.seats, "hangup", Rejection::not_now(e.to_string()));
                }
            }
            AgentCommand::Disposition { call, disposition } => {
                if !own_call(call, &self.calls) {
                    reject(&mut self.seats, "disposition", not_own(call, &self.calls));
                    return;
                }
                if let Err(rejection) = self.check_disposition(call, &disposition) {
                    reject(&mut self.seats, "disposition", rejection);
                    return;
                }
                match self.feed(call, Input::Disposition(disposition), now) {
                    // Disposition before the end: hang up, finish when it ends.
                    Some(Step::Moved(())) => {
                        let _ = self.carrier.hangup(call, None);
                    }
                    // In wrap-up: recorded now.
                    Some(Step::Ended(e)) => self.finish(call, *e, now).await,
                    _ => reject(
                        &mut self.seats,
                        "disposition",
                        Rejection::not_now("the call is not connected"),
                    ),
                }
            }
            AgentCommand::ManualDial {
                account_id,
                number,
                debt_ids,
            } => {
                self.manual_dial(seat, account_id, number, debt_ids, now)
                    .await
            }
        }
    }

    fn check_disposition(&self, call: CallId, d: &Disposition) -> Result<(), Rejection> {
        let c = self.calls[&call].attempt();
        for debt in &d.debts_discussed {
            if !c.record.debt_ids.contains(debt) {
                return Err(Rejection::field(
                    "debts_discussed",
                    format_args!("{debt} is not a debt of this call"),
                ));
            }
        }
        match d.code {
            DispositionCode::PromiseToPay => {
                let Some(p) = &d.promise else {
                    return Err(Rejection::field("promise", "required for a promise to pay"));
                };
                if p.amount_minor <= 0 {
                    return Err(Rejection::field("promise.amount_minor", "must be positive"));
                }
                if !c.record.debt_ids.contains(&p.debt_id) {
                    return Err(Rejection::field(
                        "promise.debt_id",
                        "not a debt of this call",
                    ));
                }
                if p.due_date.parse::<jiff::civil::Date>().is_err() {
                    return Err(Rejection::field("promise.due_date", "must be YYYY-MM-DD"));
                }
            }
            DispositionCode::PaymentPlan => {
                let Some(p) = &d.plan else {
                    return Err(Rejection::field("plan", "required for a payment plan"));
                };
                if !c.record.debt_ids.contains(&p.debt_id) {
                    return Err(Rejection::field("plan.debt_id", "not a debt of this call"));
                }
                // The plan is dated the call's day (UTC): no installment falls due before it.
                let day = ts(c.started_at).to_zoned(jiff::tz::TimeZone::UTC).date();
                if let Some(first) = p.installments.first()
                    && first
                        .due
                        .parse::<jiff::civil::Date>()
                        .is_ok_and(|d| d < day)
                {
                    return Err(Rejection::field(
                        "plan.installments[0].due",
                        "before the day of the call",
                    ));
                }
            }
            DispositionCode::Callback if d.callback_at_ms.is_none_or(|t| t <= c.started_at) => {
                return Err(Rejection::field("callback_at", "required, in the future"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Stores a pacer snapshot through the campaign's control (refused, and only logged, once
/// another replica took the lease over).
async fn store_pacing(control: Arc<dyn CampaignControl>, id: String, json: String) {
    match control.save_pacing(&id, json).await {
        Ok(true) => {}
        Ok(false) => debug!("pacing state not stored: the lease moved on"),
        Err(e) => warn!(error = %e, "storing the pacing state"),
    }
}

fn build_pacer(spec: &CampaignSpec) -> Result<Box<dyn Controller>, EngineError> {
    spec.pacing
        .build(&spec.pacing_config())
        .map_err(|e| EngineError::Conflict(format!("pacing: {e}")))
}

fn code_tag(kind: HoldKind) -> &'static str {
    match kind {
        HoldKind::Cease => "cease-",
        HoldKind::Attorney => "attorney-",
        HoldKind::Dispute => "dispute-",
        HoldKind::WrongNumber => "wrong-number",
        _ => "hold-",
    }
}

/// What ranking knows of an account: the ledger's balance and days past due, its own
/// attempts, and the receivables ledger's aging bucket and promise.
pub(crate) fn facts(v: &AccountView) -> AccountFacts {
    let outbound = v
        .contacts
        .iter()
        .filter(|c| c.direction == Direction::Outbound);
    let (aging_bucket, promise_broken_from) = v.receivables_facts();
    AccountFacts {
        crm_score: None,
        balance_minor: v.balance_minor(),
        days_past_due: v
            .account
            .debts
            .iter()
            .map(|d| d.days_past_due.max(0) as u32)
            .max()
            .unwrap_or(0),
        attempts: outbound.clone().count() as u32,
        last_contact: outbound.map(|c| c.started_at.as_millisecond()).max(),
        window_closes_at: None,
        aging_bucket,
        promise_broken_from,
    }
}

/// Debts a call may be about: still owed, and no hold in force stops calls about them
/// (cease, attorney, dispute, bankruptcy, deceased, medium opt-out), scoped to the debt or
/// the whole account. A hold is in force until released, even when its `since` is later
/// than our clock (the compliance engine's reading: a hold received counts at once). A debt
/// the receivables ledger knows with nothing open (paid in full, settled, written off) is
/// not collected on; one without money events is owed as loaded.
pub(crate) fn open_debts(v: &AccountView, now: Millis) -> Vec<String> {
    let blocking = |k: HoldKind| !matches!(k, HoldKind::NumberOptout | HoldKind::WrongNumber);
    let in_force = |h: &Hold| h.until.is_none_or(|u| u.as_millisecond() > now);
    v.account
        .debts
        .iter()
        .filter(|d| d.receivables.as_ref().is_none_or(|r| r.open_minor > 0))
        .filter(|d| {
            !v.account.holds.iter().any(|h| {
                blocking(h.kind) && in_force(h) && (h.debt_id.is_empty() || h.debt_id == d.debt_id)
            })
        })
        .map(|d| d.debt_id.clone())
        .collect()
}

/// The counter keys of the debts of a call: student loans of one group share one.
fn debt_keys(v: &AccountView, debts: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = debts
        .iter()
        .map(|id| {
            v.account
                .debts
                .iter()
                .find(|d| &d.debt_id == id && !d.student_loan_group.is_empty())
                .map_or_else(|| id.clone(), |d| d.student_loan_group.clone())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The account's debts as the compliance engine models them (student-loan groups).
fn model_debts(v: &AccountView) -> Vec<cm::Debt> {
    v.account
        .debts
        .iter()
        .map(|d| cm::Debt {
            id: d.debt_id.clone(),
            student_loan_group: (!d.student_loan_group.is_empty())
                .then(|| d.student_loan_group.clone()),
        })
        .collect()
}

/// The attempts an account's counters must hold, and nothing else: the counted calls of its
/// view (the ledger's history and our own outcomes not reported back yet) attributed as the
/// compliance engine attributes them ([`PastAttempt::from_history`]), and the outbox's
/// outcomes the ledger has not acknowledged, of any replica: a final one as it will be
/// recorded; a provisional one (a call in progress, or one whose replica died) under every
/// debt of the call, as its reservation is (the safe side until it ends).
pub(crate) fn counted_attempts(v: &AccountView, unacked: &[&Unacknowledged]) -> Vec<PastAttempt> {
    let debts = model_debts(v);
    let holds = v.consumer().holds;
    let history: Vec<(String, cm::HistoryEntry)> = v
        .contacts
        .iter()
        .map(|c| (c.idempotency_key.clone(), history_entry(c)))
        .collect();
    let mut attempts = PastAttempt::from_history(&history, &debts, &holds);
    let known: HashSet<&str> = v
        .contacts
        .iter()
        .map(|c| c.idempotency_key.as_str())
        .collect();
    for u in unacked {
        let Some(o) = &u.outcome else { continue };
        if u.kind != WriteKind::Outcome || known.contains(u.key.as_str()) {
            continue;
        }
        if !u.provisional {
            let entry = [(u.key.clone(), history_entry(o))];
            attempts.extend(PastAttempt::from_history(&entry, &debts, &holds));
        } else if o.direction == Direction::Outbound && !o.debt_ids.is_empty() {
            attempts.push(PastAttempt {
                id: u.key.clone(),
                at: o.started_at.as_millisecond(),
                debt_keys: debt_keys(v, &o.debt_ids),
                phone: (!o.number.is_empty()).then(|| o.number.clone()),
            });
        }
    }
    attempts
}

/// The debt keys a finished call counts under (US-REGF-10, -11), `None` if it does not count:
/// the attribution a rebuild from the recorded outcome will make.
fn attributed(v: &AccountView, record: &ContactOutcome) -> Option<Vec<String>> {
    let entry = [(record.idempotency_key.clone(), history_entry(record))];
    PastAttempt::from_history(&entry, &model_debts(v), &v.consumer().holds)
        .pop()
        .map(|a| a.debt_keys)
}

/// Retries an idempotent ledger write with capped backoff until it succeeds (true) or is
/// refused for a stale campaign lease (false: retrying cannot help).
async fn retry<F, Fut>(what: &'static str, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::outcomes::SinkError>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match f().await {
            Ok(()) => return true,
            Err(e) if e.is_fenced() => {
                // The campaign's new holder adopted this call: its record stands.
                warn!(error = %e, what, "write refused: this replica no longer holds the campaign");
                return false;
            }
            Err(e) => {
                warn!(error = %e, what, "ledger write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Accounts one AddAccounts page loads and queues: one GetAccountViews call.
pub(crate) const LOAD_PAGE: usize = 1000;
/// Pages an AddAccounts may have loaded and not yet queued (the engine queues a page while
/// the next ones load).
pub(crate) const LOAD_AHEAD: usize = 2;

/// Sorts the results of loading `ids` into views and the report's failures.
fn sort_loads(
    ids: &[String],
    loads: Vec<Result<AccountView, SourceError>>,
    views: &mut Vec<AccountView>,
    report: &mut AddReport,
) {
    for (id, r) in ids.iter().zip(loads) {
        match r {
            Ok(v) => views.push(v),
            Err(SourceError::NotFound(_)) => report.not_found.push(id.clone()),
            Err(SourceError::Unavailable(e)) => {
                warn!(error = %e, "account source unavailable");
                report.unavailable.push(id.clone());
            }
        }
    }
}

/// Adds a page's report to the total (a page whose campaign ended reports nothing).
fn add_report(total: &mut AddReport, page: Result<AddReport, oneshot::error::RecvError>) {
    if let Ok(p) = page {
        total.queued += p.queued;
        total.not_found.extend(p.not_found);
        total.unavailable.extend(p.unavailable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compliance::model::Outcome;
    use ledger_api::domain::Debt;

    fn view() -> AccountView {
        let mut account = crate::portfolio::accounts(1, 1, Timestamp::UNIX_EPOCH)
            .pop()
            .expect("an account");
        let debt = |id: &str, group: &str| Debt {
            debt_id: id.into(),
            balance_minor: 10_000,
            currency: "USD".into(),
            days_past_due: 90,
            student_loan_group: group.into(),
            original_creditor: "Acme".into(),
            last_activity_at: None,
            receivables: None,
        };
        account.debts = vec![debt("d1", ""), debt("s1", "g"), debt("s2", "g")];
        account.holds.clear();
        AccountView {
            account,
            contacts: Vec::new(),
            promises: Vec::new(),
            version: 0,
        }
    }

    fn outcome(key: &str, at: Millis, outcome: Outcome, debts: &[&str]) -> ContactOutcome {
        let target = Target {
            account: "acct".into(),
            number: "+14045550134".into(),
            phone_index: 0,
            debts: debts.iter().map(|d| d.to_string()).collect(),
        };
        let mut o = call::provisional(
            key.into(),
            "c",
            String::new(),
            target,
            compliance::model::DialMode::Manual,
            String::new(),
            at,
        );
        o.outcome = outcome;
        o.dial_mode = None;
        o.disposition.clear();
        o
    }

    fn row(o: ContactOutcome, provisional: bool) -> Unacknowledged {
        Unacknowledged {
            account_id: o.account_id.clone(),
            key: o.idempotency_key.clone(),
            kind: WriteKind::Outcome,
            provisional,
            outcome: Some(o),
        }
    }

    fn keyed(a: &[PastAttempt]) -> Vec<(&str, Millis, Vec<&str>)> {
        let mut v: Vec<_> = a
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.at,
                    a.debt_keys.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// The counters hold the view's counted calls as the compliance engine attributes them
    /// (US-REGF-10, -11), the outbox's finals likewise, and a call in progress under every
    /// debt of the call, as its reservation; what the view already has is not counted twice.
    #[test]
    fn counted_attempts_are_the_history_and_the_unacknowledged_outcomes() {
        let mut v = view();
        v.contacts = vec![
            outcome("h-no-answer", 1_000, Outcome::NoAnswer, &["s1", "d1"]),
            outcome("h-talk", 2_000, Outcome::Conversation, &["d1", "s1", "s2"]),
            outcome("h-busy", 3_000, Outcome::Busy, &["d1"]),
        ];
        let rows = [
            row(
                outcome("o-final", 4_000, Outcome::Machine, &["d1", "s1"]),
                false,
            ),
            row(
                outcome("o-flight", 5_000, Outcome::NoAnswer, &["s2", "d1"]),
                true,
            ),
            // The ledger already reported it: the view's copy wins.
            row(outcome("h-talk", 2_000, Outcome::NoAnswer, &["d1"]), true),
            Unacknowledged {
                account_id: "acct".into(),
                key: "o-hold".into(),
                kind: WriteKind::Hold,
                provisional: false,
                outcome: None,
            },
        ];
        let rows: Vec<&Unacknowledged> = rows.iter().collect();
        let got = counted_attempts(&v, &rows);
        assert_eq!(
            keyed(&got),
            vec![
                ("h-no-answer", 1_000, vec!["g"]),
                ("h-talk", 2_000, vec!["d1", "g"]),
                ("o-final", 4_000, vec!["d1"]),
                ("o-flight", 5_000, vec!["d1", "g"]),
            ]
        );
        assert!(
            got.iter()
                .all(|a| a.phone.as_deref() == Some("+14045550134"))
        );
    }

    /// A finished call settles where its outcome is attributed; a busy one is released.
    #[test]
    fn a_finished_call_is_attributed_as_it_will_be_recorded() {
        let v = view();
        let no_answer = outcome("k1", 1_000, Outcome::NoAnswer, &["s2", "d1"]);
        assert_eq!(attributed(&v, &no_answer), Some(vec!["g".to_string()]));
        let talk = outcome("k2", 1_000, Outcome::Conversation, &["d1"]);
        assert_eq!(attributed(&v, &talk), Some(vec!["d1".to_string()]));
        let busy = outcome("k3", 1_000, Outcome::Busy, &["d1"]);
        assert_eq!(attributed(&v, &busy), None);
        let wrong = outcome("k4", 1_000, Outcome::WrongParty, &["d1"]);
        assert_eq!(attributed(&v, &wrong), None);
    }
}
