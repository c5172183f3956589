//! The campaign task itself: its state and the handling of each event. See the module
//! documentation of [`super`] for the flow of one call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use compliance::model::{DialMode, Direction, HoldKind, Outcome, Party};
use compliance::{Decision, Verdict as Allowed};
use jiff::Timestamp;
use ledger::domain::{AmdVerdict, Channel, ContactOutcome, Hold, Promise, PromiseStatus};
use pacing::{Completed, Controller, InFlight, Outcome as PaceOutcome, Phase as PacePhase, Tick};
use queue::rank::{AccountFacts, rank};
use queue::recycle::Recycle;
use queue::reservation::window_start;
use queue::{AttemptBook, CampaignQueue, Lease, Millis, Next, Reservation, ReserveOutcome};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::sleep_until;
use tracing::{Instrument, debug, info, info_span, warn};

use super::figures::{AgentCounts, Counters, Figures, QueueView, RunState};
use super::seats::Seats;
use super::{AddReport, Backend, Clock, Command, Deadlines, EngineError, outcome_name};
use crate::account::{AccountSource, AccountView, SourceError};
use crate::campaign::CampaignSpec;
use crate::carrier::{CallId, Carrier, CarrierEvent, EndCause, Originate, Prompt, Verdict};
use crate::outcomes::{LedgerWrites, OutcomeSink};
use crate::session::{
    AgentCommand, AgentEvent, ContactLine, DebtLine, Disposition, DispositionCode, PromiseLine,
    ScreenPop, SeatState,
};

/// Calls ids are unique per process; the attempt's idempotency key is unique everywhere.
static NEXT_CALL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

const REG_F_LIMIT: u32 = 7;
const MINUTE: Millis = 60_000;
const DAY: Millis = 86_400_000;
/// At most this many accounts popped per second beyond what is dialed (refused ones).
const MAX_POP_ROUNDS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Preview: offered to the seat, not dialed yet.
    Preview,
    Ringing,
    /// Picked up; answering-machine detection running.
    Detecting,
    /// A human answered; waiting for an agent until the deadline.
    Waiting,
    /// Bridged or being bridged to the seat.
    Talking,
    /// The call ended; the seat is wrapping up.
    Wrap,
    /// Machine or abandoned: hung up (with a prompt), waiting for the end.
    Closing,
}

#[derive(Debug)]
struct Call {
    account: String,
    lease: Option<Lease>,
    record: ContactOutcome,
    reservation: Option<Reservation>,
    phone_index: usize,
    dialed_at: Millis,
    answered_at: Option<Millis>,
    talk_from: Option<Millis>,
    phase: Phase,
    /// The seat the call is reserved for (preview, manual) or routed to.
    seat: Option<usize>,
    reserved: bool,
    /// What the call turned into, once known (before `Ended`).
    outcome: Option<Outcome>,
    disposition: Option<Disposition>,
    pop: Option<ScreenPop>,
}

/// A call reserved and ready to be noted in the outbox and dialed.
struct Prepared {
    id: CallId,
    call: Call,
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
    /// Our own command sender, for work finished in spawned tasks.
    tx: mpsc::UnboundedSender<Command>,
    accounts: HashMap<String, AccountView>,
    /// Next phone to try, per account (index into its phones in campaign order).
    cursor: HashMap<String, usize>,
    calls: HashMap<CallId, Call>,
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
    ) -> Result<Self, EngineError> {
        let pacer = build_pacer(&spec)?;
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
            tx,
            accounts: HashMap::new(),
            cursor: HashMap::new(),
            calls: HashMap::new(),
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
        })
    }

    pub(crate) fn initial_figures(&self) -> Figures {
        let mut c = self.counters.clone();
        c.snapshot(
            self.clock.now_ms(),
            self.state,
            AgentCounts::default(),
            0,
            self.seats.time,
            QueueView::default(),
        )
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: mpsc::UnboundedReceiver<CarrierEvent>,
        figures: watch::Sender<Figures>,
        spec_tx: watch::Sender<CampaignSpec>,
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
                            if r.is_ok() {
                                let _ = spec_tx.send(self.spec.clone());
                            }
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
                            let _ = figures.send(self.figures(now));
                        }
                    }
                }
                if self.state == RunState::Stopping && self.calls.is_empty() {
                    while self.writes.join_next().await.is_some() {}
                    self.state = RunState::Stopped;
                    let _ = figures.send(self.figures(self.clock.now_ms()));
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
        }
        self.counters.set_window(spec.abandon_window_days);
        self.spec = spec;
        info!("campaign configuration updated");
        Ok(())
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
        let lines = self
            .calls
            .values()
            .filter(|c| c.phase != Phase::Preview && c.phase != Phase::Wrap)
            .count() as u32;
        self.counters.snapshot(
            now,
            self.state,
            agents,
            lines,
            self.seats.time,
            self.queue_view,
        )
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
                self.seats.login(&agent, &endpoint, events, now);
                info!(agent_id = %agent, "agent logged in");
            }
            Command::Agent { agent, command } => self.on_agent(&agent, command, now).await,
            Command::AddAccounts { ids, reply } => self.load(ids, Some(reply)),
            Command::Loaded {
                views,
                report,
                reply,
            } => self.loaded(views, report, reply, now).await,
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
            Command::Stop { reply } => {
                info!("stopping: no new dials, waiting for calls in progress");
                self.state = RunState::Stopping;
                self.stop_waiters.push(reply);
                // Preview offers were never dialed: give them back.
                let previews: Vec<CallId> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.phase == Phase::Preview)
                    .map(|(id, _)| *id)
                    .collect();
                for id in previews {
                    self.unoffer(id, now).await;
                }
            }
        }
    }

    /// Loads accounts in a separate task (the ledger may be slow) and comes back with
    /// [`Command::Loaded`].
    fn load(&self, ids: Vec<String>, reply: Option<oneshot::Sender<AddReport>>) {
        let backend = self.backend.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut report = AddReport::default();
            let mut views = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(32) {
                let loads = chunk.iter().map(|id| backend.source().load(id));
                for (id, r) in chunk.iter().zip(join_all(loads).await) {
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
            let _ = tx.send(Command::Loaded {
                views,
                report,
                reply,
            });
        });
    }

    async fn loaded(
        &mut self,
        views: Vec<AccountView>,
        mut report: AddReport,
        reply: Option<oneshot::Sender<AddReport>>,
        now: Millis,
    ) {
        let fresh = reply.is_some();
        let mut items = Vec::new();
        for mut v in views {
            let id = v.account.account_id.clone();
            if let Some(old) = self.accounts.get(&id) {
                // Keep our own outcomes the ledger has not reported back yet.
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
            }
            if !callable && !fresh {
                // A hold on every debt: out of the queue now (a call in progress ends as
                // it would; no new one starts).
                if let Err(e) = self.queue.remove(&id).await {
                    warn!(error = %e, "queue remove failed");
                    self.counters.errors += 1;
                }
                debug!(account_id = %id, "account retired by a ledger change");
            }
            self.accounts.insert(id, v);
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

    fn rank(&self, v: &AccountView, now: Millis) -> f64 {
        let outbound = v
            .contacts
            .iter()
            .filter(|c| c.direction == Direction::Outbound);
        let facts = AccountFacts {
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
        };
        rank(&self.spec.ranking, &facts, now)
    }

    async fn on_agent(&mut self, agent: &str, command: AgentCommand, now: Millis) {
        let Some(seat) = self.seats.index(agent) else {
            warn!(agent_id = %agent, "command from an agent not logged in");
            return;
        };
        let reject = |seats: &mut Seats, what: &str, problem: &str| {
            seats.send(
                seat,
                AgentEvent::Rejected {
                    command: what.to_string(),
                    problem: problem.to_string(),
                },
            );
        };
        let own_call = |call: CallId, calls: &HashMap<CallId, Call>| {
            calls.get(&call).is_some_and(|c| c.seat == Some(seat))
        };
        // Another agent's call and a call that is over (or never was) read differently: the
        // first is refused for ownership, the second is a stale command.
        let not_own = |call: CallId, calls: &HashMap<CallId, Call>| {
            if calls.contains_key(&call) {
                "not your call"
            } else {
                "no such call (it has ended)"
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
                    reject(&mut self.seats, "logout", "finish the call first");
                } else {
                    self.seats.set(seat, SeatState::LoggedOut, now);
                    info!(agent_id = %agent, "agent logged out");
                }
            }
            AgentCommand::Accept { call } | AgentCommand::Skip { call } => {
                let accept = matches!(command, AgentCommand::Accept { .. });
                let what = if accept { "accept" } else { "skip" };
                if !own_call(call, &self.calls) {
                    let problem = not_own(call, &self.calls);
                    reject(&mut self.seats, what, problem);
                    return;
                }
                if self
                    .calls
                    .get(&call)
                    .is_none_or(|c| c.phase != Phase::Preview)
                {
                    reject(&mut self.seats, what, "no such preview offer");
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
                    let problem = not_own(call, &self.calls);
                    reject(&mut self.seats, "hangup", problem);
                    return;
                }
                if let Err(e) = self.carrier.hangup(call, None) {
                    reject(&mut self.seats, "hangup", &e.to_string());
                }
            }
            AgentCommand::Disposition { call, disposition } => {
                if !own_call(call, &self.calls) {
                    let problem = not_own(call, &self.calls);
                    reject(&mut self.seats, "disposition", problem);
                    return;
                }
                if let Err(problem) = self.check_disposition(call, &disposition) {
                    reject(&mut self.seats, "disposition", &problem);
                    return;
                }
                let phase = self.calls[&call].phase.clone();
                match phase {
                    Phase::Talking => {
                        // Disposition before the end: hang up, finish when it ends.
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.disposition = Some(disposition);
                        }
                        let _ = self.carrier.hangup(call, None);
                    }
                    Phase::Wrap => {
                        if let Some(mut c) = self.calls.remove(&call) {
                            c.disposition = Some(disposition);
                            self.finish_connected(call, c, now).await;
                        }
                    }
                    _ => reject(&mut self.seats, "disposition", "the call is not connected"),
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

    fn check_disposition(&self, call: CallId, d: &Disposition) -> Result<(), String> {
        let c = &self.calls[&call];
        for debt in &d.debts_discussed {
            if !c.record.debt_ids.contains(debt) {
                return Err(format!(
                    "debts_discussed: {debt} is not a debt of this call"
                ));
            }
        }
        match d.code {
            DispositionCode::PromiseToPay => {
                let Some(p) = &d.promise else {
                    return Err("promise: required for a promise to pay".into());
                };
                if p.amount_minor <= 0 {
                    return Err("promise.amount_minor: must be positive".into());
                }
                if !c.record.debt_ids.contains(&p.debt_id) {
                    return Err("promise.debt_id: not a debt of this call".into());
                }
                if p.due_date.parse::<jiff::civil::Date>().is_err() {
                    return Err("promise.due_date: must be YYYY-MM-DD".into());
                }
            }
            DispositionCode::Callback if d.callback_at_ms.is_none_or(|t| t <= c.dialed_at) => {
                return Err("callback_at: required, in the future".into());
            }
            _ => {}
        }
        Ok(())
    }

    // ------------------------------------------------------------------ pacing and dialing

    async fn on_tick(&mut self, now: Millis) {
        while self.writes.try_join_next().is_some() {}
        if now - self.last_extend >= MINUTE {
            self.extend_leases(now).await;
        }
        match self.queue.sizes().await {
            Ok(q) => self.queue_view = q.into(),
            Err(e) => {
                warn!(error = %e, "queue unavailable");
                self.counters.errors += 1;
            }
        }
        let tick = Tick {
            t: now as f64 / 1000.0,
            agents: self.seats.pacing_agents(),
            inflight: self
                .calls
                .values()
                .filter_map(|c| {
                    let phase = match c.phase {
                        Phase::Ringing => PacePhase::Ringing,
                        Phase::Detecting | Phase::Waiting => PacePhase::Answered,
                        _ => return None,
                    };
                    Some(InFlight {
                        elapsed: (now - c.dialed_at) as f64 / 1000.0,
                        phase,
                    })
                })
                .collect(),
            completed: std::mem::take(&mut self.completed),
        };
        // The pacer learns from every tick, dialing or not.
        let decision = match self.pacer.tick(&tick) {
            Ok(d) => d,
            Err(e) => {
                warn!(error = %e, "pacer refused the tick");
                return;
            }
        };
        if self.state != RunState::Running {
            return;
        }
        if self.spec.dial_mode() == DialMode::Preview {
            self.offer_previews(now).await;
        } else if decision.dial > 0 {
            self.dial(decision.dial as usize, now).await;
        }
    }

    async fn extend_leases(&mut self, now: Millis) {
        self.last_extend = now;
        let ttl = Millis::from(self.spec.lease_s) * 1000;
        let leases: Vec<Lease> = self
            .calls
            .values()
            .filter_map(|c| c.lease.clone())
            .filter(|l| l.expires_at - now < ttl / 2)
            .collect();
        if !leases.is_empty()
            && let Err(e) = self.queue.extend(&leases, now, ttl).await
        {
            warn!(error = %e, "lease extension failed");
            self.counters.errors += 1;
        }
    }

    /// Pops accounts and dials up to `n` of them.
    async fn dial(&mut self, n: usize, now: Millis) {
        let mut dialed = 0;
        for _ in 0..MAX_POP_ROUNDS {
            let need = n - dialed;
            if need == 0 {
                break;
            }
            let popped = std::time::Instant::now();
            let leases = match self.pop(need, now).await {
                Some(l) if !l.is_empty() => l,
                _ => break,
            };
            let pop_share = popped.elapsed() / leases.len() as u32;
            let mut prepared = Vec::with_capacity(leases.len());
            for lease in leases {
                self.decision_started = Some((std::time::Instant::now(), pop_share));
                if let Some(p) = self.prepare(lease, None, self.spec.dial_mode(), now).await {
                    prepared.push(p);
                }
            }
            dialed += self.launch(prepared, now).await.len();
        }
    }

    async fn pop(&mut self, n: usize, now: Millis) -> Option<Vec<Lease>> {
        let ttl = Millis::from(self.spec.lease_s) * 1000;
        match self
            .queue
            .pop_lease(n, now, ttl, self.backend.owner())
            .await
        {
            Ok(l) => Some(l),
            Err(e) => {
                // Fail closed: no lease, no dial.
                warn!(error = %e, "queue pop failed");
                self.counters.errors += 1;
                None
            }
        }
    }

    async fn view(&mut self, account: &str) -> Option<&AccountView> {
        if !self.accounts.contains_key(account) {
            match self.backend.source().load(account).await {
                Ok(v) => {
                    self.accounts.insert(account.to_string(), v);
                }
                Err(e) => {
                    warn!(error = %e, "account load failed");
                    self.counters.errors += 1;
                    return None;
                }
            }
        }
        self.accounts.get(account)
    }

    /// What to do with `account` now: the first phone (from its cursor, in campaign order)
    /// the rules allow, or sleep until the earliest instant one becomes callable.
    fn plan(&mut self, account: &str, mode: DialMode, now: Millis) -> Plan {
        let Some(v) = self.accounts.get(account) else {
            return Plan::Retire;
        };
        let debts = open_debts(v, now);
        if debts.is_empty() {
            return Plan::Retire;
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order);
        let start = self.cursor.get(account).copied().unwrap_or(0);
        let mut earliest: Option<Millis> = None;
        let mut reasons: Vec<&'static str> = Vec::new();
        for (i, phone) in phones.iter().enumerate().skip(start) {
            let req = v.call_request(&phone.number, &debts, ts(now), mode);
            let decision = match self
                .backend
                .compliance()
                .evaluate(&req, &self.spec.compliance)
            {
                Ok(d) => d,
                Err(e) => {
                    warn!(error = %e, "compliance input refused");
                    reasons.push("INPUT_ERROR");
                    continue;
                }
            };
            if decision.verdict == Allowed::Allow {
                return Plan::Dial {
                    number: phone.number.clone(),
                    phone_index: i,
                    debts,
                    decision: Box::new(decision),
                };
            }
            reasons.extend(decision.reasons.iter().map(|r| r.code.as_str()));
            if let Some(t) = decision.next_eligible {
                let t = t.as_millisecond();
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        }
        reasons.sort_unstable();
        reasons.dedup();
        for r in reasons {
            self.counters.refused(r);
        }
        match earliest {
            Some(until) => Plan::Sleep { until },
            None => Plan::Retire,
        }
    }

    /// Plans, reserves, notes and dials one leased account. Returns whether a call started.
    /// Checks, plans and reserves one leased account: a call ready to note and dial, or
    /// `None` when it is not dialed now (the lease is completed accordingly).
    async fn prepare(
        &mut self,
        lease: Lease,
        seat: Option<usize>,
        mode: DialMode,
        now: Millis,
    ) -> Option<Prepared> {
        let account = lease.account.clone();
        let later = |at| Next::Sleep { at, rank: 0.0 };
        if self.busy_accounts.contains_key(&account) {
            // A manual call to it is in progress: look again later.
            self.complete(&lease, later(now + 5 * MINUTE)).await;
            return None;
        }
        if self.view(&account).await.is_none() {
            self.complete(&lease, later(now + MINUTE)).await;
            return None;
        }
        match self.plan(&account, mode, now) {
            Plan::Retire => {
                self.complete(&lease, Next::Retire).await;
                None
            }
            Plan::Sleep { until } => {
                let rank = self.rank(&self.accounts[&account], now);
                self.complete(&lease, Next::Sleep { at: until, rank }).await;
                None
            }
            Plan::Dial {
                number,
                phone_index,
                debts,
                decision,
            } => {
                let target = Target {
                    account,
                    number,
                    phone_index,
                    debts,
                };
                self.reserve_call(target, Some(lease), &decision, seat, mode, now)
                    .await
            }
        }
    }

    /// Reserves the attempt (when it counts) and builds the call with its provisional
    /// outcome. `None`: refused or failed (a lease is completed accordingly).
    async fn reserve_call(
        &mut self,
        t: Target,
        lease: Option<Lease>,
        decision: &Decision,
        seat: Option<usize>,
        mode: DialMode,
        now: Millis,
    ) -> Option<Prepared> {
        let view = &self.accounts[&t.account];
        let key = format!("att-{}", uuid::Uuid::new_v4());
        let reservation = if decision.counted {
            let zones = decision.zones.iter().map(|z| z.zone.as_ref());
            let r = Reservation {
                account: t.account.clone(),
                attempt_id: key.clone(),
                debt_keys: debt_keys(view, &t.debts),
                phone: t.number.clone(),
                now,
                window_start: window_start(zones, ts(now), 7),
                limit: REG_F_LIMIT,
                min_gap: Millis::from(
                    self.spec
                        .compliance
                        .min_gap_same_number_minutes
                        .unwrap_or(0),
                ) * MINUTE,
            };
            let reserved = self.backend.book().reserve(&r).await;
            if let Some((from, pop_share)) = self.decision_started.take() {
                self.counters.decided(from.elapsed() + pop_share);
            }
            let retry_at = match reserved {
                Ok(ReserveOutcome::Reserved) => None,
                Ok(ReserveOutcome::DebtLimit { .. }) => {
                    // Another replica used the budget: the ledger history will tell when.
                    self.counters.refused("RESERVATION_DEBT_LIMIT");
                    Some(now + 60 * MINUTE)
                }
                Ok(ReserveOutcome::PhoneGap { until }) => {
                    self.counters.refused("RESERVATION_PHONE_GAP");
                    Some(until)
                }
                Err(e) => {
                    warn!(error = %e, "attempt reservation failed: not dialing");
                    self.counters.errors += 1;
                    Some(now + MINUTE)
                }
            };
            if let Some(at) = retry_at {
                if let Some(l) = &lease {
                    self.complete(l, Next::Sleep { at, rank: 0.0 }).await;
                }
                return None;
            }
            Some(r)
        } else {
            None
        };
        let view = &self.accounts[&t.account];
        let record = ContactOutcome {
            idempotency_key: key,
            account_id: t.account.clone(),
            person_id: view
                .consumer_person()
                .map(|p| p.person_id.clone())
                .unwrap_or_default(),
            debt_ids: t.debts,
            number: t.number,
            direction: Direction::Outbound,
            channel: Channel::Call,
            dial_mode: Some(mode),
            // If nothing more is ever known (a crash mid-call), a placed call that counts.
            outcome: Outcome::NoAnswer,
            party: Party::Consumer,
            third_party_id: String::new(),
            campaign_id: self.spec.id.clone(),
            agent_id: seat
                .map(|s| self.seats.get(s).agent.clone())
                .unwrap_or_default(),
            started_at: ts(now),
            ring_ms: 0,
            talk_ms: 0,
            amd: AmdVerdict::NotRun,
            recording_ref: String::new(),
            disposition: "DIALER_LOST".into(),
            counts_for_regf: false,
            event_id: 0,
            recorded_at: None,
        };
        Some(Prepared {
            id: NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            call: Call {
                account: t.account,
                lease,
                record,
                reservation,
                phone_index: t.phone_index,
                dialed_at: now,
                answered_at: None,
                talk_from: None,
                phase: Phase::Ringing,
                seat,
                reserved: seat.is_some(),
                outcome: None,
                disposition: None,
                pop: None,
            },
        })
    }

    /// Notes the prepared attempts in the outbox (all at once, so the outbox commits them
    /// together) and dials those it accepted. Returns the calls started.
    async fn launch(&mut self, prepared: Vec<Prepared>, now: Millis) -> Vec<CallId> {
        let backend = self.backend.clone();
        let noted = join_all(
            prepared
                .iter()
                .map(|p| backend.outbox().begin(&p.call.record)),
        )
        .await;
        let mut started = Vec::with_capacity(prepared.len());
        for (p, noted) in prepared.into_iter().zip(noted) {
            let Prepared { id, call } = p;
            if let Err(e) = noted {
                warn!(error = %e, "outbox refused the attempt: not dialing");
                self.counters.errors += 1;
                if let Some(r) = &call.reservation {
                    let _ = self.backend.book().release(r).await;
                }
                if let Some(l) = &call.lease {
                    self.complete(
                        l,
                        Next::Sleep {
                            at: now + MINUTE,
                            rank: 0.0,
                        },
                    )
                    .await;
                }
                continue;
            }
            let originate = Originate {
                call: id,
                to: call.record.number.clone(),
                caller_id: self.spec.caller_id.clone(),
                ring_timeout: Duration::from_secs_f64(self.spec.ring_timeout_s),
            };
            self.busy_accounts.insert(call.account.clone(), id);
            debug!(call_id = id, account_id = %call.account, "dialing");
            self.calls.insert(id, call);
            self.counters.dialed(now);
            if let Err(e) = self.carrier.originate(originate) {
                warn!(call_id = id, error = %e, "carrier refused the call");
                self.counters.errors += 1;
                if let Some(c) = self.calls.remove(&id) {
                    self.finish(id, c, Outcome::Failed, now).await;
                }
                continue;
            }
            started.push(id);
        }
        started
    }

    async fn complete(&mut self, lease: &Lease, next: Next) {
        match self.queue.complete(lease, next).await {
            Ok(true) => {}
            Ok(false) => debug!(account_id = %lease.account, "lease had expired"),
            Err(e) => {
                warn!(error = %e, "queue complete failed (the lease will expire)");
                self.counters.errors += 1;
            }
        }
    }

    // ------------------------------------------------------------------ preview and manual

    async fn offer_previews(&mut self, now: Millis) {
        // Refused accounts do not count as offers; bound the pops so one second's work
        // stays short whatever the queue holds.
        let mut budget = 50 + 10 * self.seats.iter().count();
        while let Some(seat) = self.seats.longest_idle_ready() {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let Some(mut leases) = self.pop(1, now).await else {
                return;
            };
            let Some(lease) = leases.pop() else {
                return;
            };
            let account = lease.account.clone();
            if self.busy_accounts.contains_key(&account) || self.view(&account).await.is_none() {
                self.complete(
                    &lease,
                    Next::Sleep {
                        at: now + MINUTE,
                        rank: 0.0,
                    },
                )
                .await;
                continue;
            }
            match self.plan(&account, DialMode::Preview, now) {
                Plan::Retire => self.complete(&lease, Next::Retire).await,
                Plan::Sleep { until } => {
                    self.complete(
                        &lease,
                        Next::Sleep {
                            at: until,
                            rank: 0.0,
                        },
                    )
                    .await
                }
                Plan::Dial {
                    number,
                    phone_index,
                    debts,
                    ..
                } => {
                    let id = NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let pop = self.screen_pop(&account, &number, &debts, now);
                    let mut record = ContactOutcome {
                        idempotency_key: String::new(),
                        account_id: account.clone(),
                        person_id: String::new(),
                        debt_ids: debts,
                        number,
                        direction: Direction::Outbound,
                        channel: Channel::Call,
                        dial_mode: Some(DialMode::Preview),
                        outcome: Outcome::NoAnswer,
                        party: Party::Consumer,
                        third_party_id: String::new(),
                        campaign_id: self.spec.id.clone(),
                        agent_id: self.seats.get(seat).agent.clone(),
                        started_at: ts(now),
                        ring_ms: 0,
                        talk_ms: 0,
                        amd: AmdVerdict::NotRun,
                        recording_ref: String::new(),
                        disposition: String::new(),
                        counts_for_regf: false,
                        event_id: 0,
                        recorded_at: None,
                    };
                    record.person_id = pop.person_id.clone();
                    self.calls.insert(
                        id,
                        Call {
                            account: account.clone(),
                            lease: Some(lease),
                            record,
                            reservation: None,
                            phone_index,
                            dialed_at: now,
                            answered_at: None,
                            talk_from: None,
                            phase: Phase::Preview,
                            seat: Some(seat),
                            reserved: true,
                            outcome: None,
                            disposition: None,
                            pop: Some(pop.clone()),
                        },
                    );
                    self.busy_accounts.insert(account, id);
                    self.seats.get_mut(seat).call = Some(id);
                    self.seats.set(seat, SeatState::Reserved, now);
                    self.seats.get_mut(seat).call = Some(id);
                    self.seats.send(
                        seat,
                        AgentEvent::Offered {
                            call: id,
                            pop: Box::new(pop),
                            preview: true,
                        },
                    );
                }
            }
        }
    }

    /// A preview offer the agent skipped (or the campaign stopped): back to the queue.
    async fn unoffer(&mut self, call: CallId, now: Millis) {
        if let Some(c) = self.calls.remove(&call) {
            self.busy_accounts.remove(&c.account);
            if let Some(l) = &c.lease {
                self.complete(
                    l,
                    Next::Sleep {
                        at: now + 15 * MINUTE,
                        rank: 0.0,
                    },
                )
                .await;
            }
            if let Some(seat) = c.seat
                && self.seats.get(seat).state == SeatState::Reserved
            {
                self.seats.set(seat, SeatState::Ready, now);
            }
        }
    }

    async fn accept_preview(&mut self, call: CallId, now: Millis) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        self.busy_accounts.remove(&c.account);
        let seat = c.seat.expect("a preview is offered to a seat");
        // The rules are asked again: time has passed since the offer.
        let lease = c.lease.clone().expect("a preview holds a lease");
        let prepared = self
            .prepare(lease, Some(seat), DialMode::Preview, now)
            .await;
        let started = match prepared {
            Some(p) => self.launch(vec![p], now).await,
            None => Vec::new(),
        };
        if let Some(id) = started.first() {
            self.seats.get_mut(seat).call = Some(*id);
            if let Some(nc) = self.calls.get_mut(id) {
                nc.pop = c.pop;
            }
        } else {
            self.seats.send(
                seat,
                AgentEvent::Refused {
                    account_id: c.account.clone(),
                    reasons: vec!["no longer callable now".into()],
                    next_eligible_ms: None,
                },
            );
            self.seats.set(seat, SeatState::Ready, now);
        }
    }

    async fn manual_dial(
        &mut self,
        seat: usize,
        account: String,
        number: Option<String>,
        debt_ids: Vec<String>,
        now: Millis,
    ) {
        let reject = |seats: &mut Seats, problem: String| {
            seats.send(
                seat,
                AgentEvent::Rejected {
                    command: "manual_dial".into(),
                    problem,
                },
            )
        };
        if !matches!(
            self.seats.get(seat).state,
            SeatState::Ready | SeatState::NotReady { .. }
        ) {
            return reject(&mut self.seats, "finish the current call first".into());
        }
        if self.busy_accounts.contains_key(&account) {
            return reject(
                &mut self.seats,
                "account_id: a call to it is in progress".into(),
            );
        }
        if self.view(&account).await.is_none() {
            return reject(&mut self.seats, format!("account_id: {account} not found"));
        }
        let v = &self.accounts[&account];
        let debts = if debt_ids.is_empty() {
            open_debts(v, now)
        } else {
            debt_ids
        };
        if let Some(bad) = debts.iter().find(|d| !v.debt_ids().contains(d)) {
            return reject(
                &mut self.seats,
                format!("debt_ids: {bad} is not on the account"),
            );
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order);
        let chosen = match &number {
            Some(n) => phones.iter().position(|p| &p.number == n),
            None => (!phones.is_empty()).then_some(0),
        };
        let Some(phone_index) = chosen else {
            return reject(&mut self.seats, "number: not a phone of the account".into());
        };
        let number = phones[phone_index].number.clone();
        let req = v.call_request(&number, &debts, ts(now), DialMode::Manual);
        let decision = match self
            .backend
            .compliance()
            .evaluate(&req, &self.spec.compliance)
        {
            Ok(d) => d,
            Err(e) => return reject(&mut self.seats, e.to_string()),
        };
        if decision.verdict != Allowed::Allow {
            self.seats.send(
                seat,
                AgentEvent::Refused {
                    account_id: account,
                    reasons: decision
                        .reasons
                        .iter()
                        .map(|r| r.code.as_str().to_string())
                        .collect(),
                    next_eligible_ms: decision.next_eligible.map(|t| t.as_millisecond()),
                },
            );
            return;
        }
        let pop = self.screen_pop(&account, &number, &debts, now);
        self.seats.set(seat, SeatState::Reserved, now);
        let target = Target {
            account,
            number,
            phone_index,
            debts,
        };
        let prepared = self
            .reserve_call(target, None, &decision, Some(seat), DialMode::Manual, now)
            .await;
        let started = match prepared {
            Some(p) => self.launch(vec![p], now).await,
            None => Vec::new(),
        };
        match started.first().copied() {
            Some(id) => {
                self.seats.get_mut(seat).call = Some(id);
                if let Some(c) = self.calls.get_mut(&id) {
                    c.pop = Some(pop.clone());
                }
                self.seats.send(
                    seat,
                    AgentEvent::Offered {
                        call: id,
                        pop: Box::new(pop),
                        preview: false,
                    },
                );
            }
            None => {
                self.seats.set(seat, SeatState::Ready, now);
                reject(
                    &mut self.seats,
                    "the attempt could not be reserved now".into(),
                );
            }
        }
    }

    // ------------------------------------------------------------------ carrier events

    async fn on_carrier(&mut self, ev: CarrierEvent) {
        let now = self.clock.now_ms();
        match ev {
            CarrierEvent::PickedUp { call } => {
                if let Some(c) = self.calls.get_mut(&call)
                    && c.phase == Phase::Ringing
                {
                    c.phase = Phase::Detecting;
                }
            }
            CarrierEvent::Answered { call, verdict } => self.answered(call, verdict, now),
            CarrierEvent::Bridged { call, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.talk_from = Some(now);
                    if let Some(seat) = c.seat {
                        self.seats.set(seat, SeatState::OnCall, now);
                        self.seats.get_mut(seat).call = Some(call);
                        self.seats.send(seat, AgentEvent::Connected { call });
                    }
                }
            }
            CarrierEvent::Ended { call, cause } => self.ended(call, cause, now).await,
        }
    }

    fn answered(&mut self, id: CallId, verdict: Verdict, now: Millis) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.answered_at = Some(now);
        let ring_s = (now - c.dialed_at) as f64 / 1000.0;
        match verdict {
            Verdict::Machine => {
                c.record.amd = AmdVerdict::Machine;
                c.phase = Phase::Closing;
                let prompt = self
                    .spec
                    .voicemail_template
                    .clone()
                    .map(|template| Prompt::Voicemail { template });
                c.outcome = Some(if prompt.is_some() {
                    Outcome::Lcm
                } else {
                    Outcome::Machine
                });
                self.completed.push(Completed {
                    outcome: PaceOutcome::Machine,
                    ring_s,
                });
                self.counters.machines += 1;
                let _ = self.carrier.hangup(id, prompt);
            }
            Verdict::Human => {
                c.record.amd = AmdVerdict::Human;
                c.phase = Phase::Waiting;
                if let Some(seat) = c.seat {
                    // Preview and manual calls have their agent waiting.
                    self.bridge(id, seat, now);
                } else if let Some(seat) = self.seats.longest_idle_ready() {
                    self.bridge(id, seat, now);
                } else {
                    let deadline = now + (self.spec.connect_deadline_s * 1000.0) as Millis;
                    self.waiting.push(deadline, id);
                }
            }
        }
    }

    /// Connects a waiting live answer to `seat` and shows the agent the screen pop.
    fn bridge(&mut self, id: CallId, seat: usize, now: Millis) {
        let (account, number, debts, reserved) = {
            let c = &self.calls[&id];
            (
                c.account.clone(),
                c.record.number.clone(),
                c.record.debt_ids.clone(),
                c.reserved,
            )
        };
        let endpoint = self.seats.get(seat).endpoint.clone();
        if let Err(e) = self.carrier.bridge(id, &endpoint) {
            // The person hung up in between: the end event follows.
            debug!(call_id = id, error = %e, "bridge failed");
            return;
        }
        let ring_s = {
            let c = &self.calls[&id];
            (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0
        };
        self.completed.push(Completed {
            outcome: PaceOutcome::HumanConnected,
            ring_s,
        });
        self.counters.live(now, false);
        let agent = self.seats.get(seat).agent.clone();
        let pop = if reserved {
            None
        } else {
            Some(self.screen_pop(&account, &number, &debts, now))
        };
        let c = self.calls.get_mut(&id).expect("call checked above");
        c.phase = Phase::Talking;
        c.seat = Some(seat);
        c.record.agent_id = agent;
        if let Some(pop) = pop {
            c.pop = Some(pop.clone());
            self.seats.set(seat, SeatState::Reserved, now);
            self.seats.get_mut(seat).call = Some(id);
            self.seats.send(
                seat,
                AgentEvent::Offered {
                    call: id,
                    pop: Box::new(pop),
                    preview: false,
                },
            );
        }
    }

    /// An agent became ready: give it the live answer waiting longest.
    fn serve_waiting(&mut self, now: Millis) {
        while let Some(seat) = self.seats.longest_idle_ready() {
            let Some(id) = self.waiting.queue.iter().map(|(_, id)| *id).find(|id| {
                self.calls
                    .get(id)
                    .is_some_and(|c| c.phase == Phase::Waiting)
            }) else {
                return;
            };
            self.waiting.queue.retain(|(_, x)| *x != id);
            self.bridge(id, seat, now);
        }
    }

    async fn on_timers(&mut self, now: Millis) {
        for id in self.waiting.pop_due(now) {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            if c.phase != Phase::Waiting {
                continue;
            }
            // Nobody to take the call within the deadline: the safe-harbor message, then
            // hang up (US-TCPA-01, UK-OFCOM-01).
            c.phase = Phase::Closing;
            c.outcome = Some(Outcome::Abandoned);
            let ring_s = (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0;
            self.completed.push(Completed {
                outcome: PaceOutcome::HumanDropped,
                ring_s,
            });
            self.counters.live(now, true);
            let prompt = Prompt::SafeHarbor {
                template: self.spec.safe_harbor_template.clone(),
            };
            if let Err(e) = self.carrier.hangup(id, Some(prompt)) {
                debug!(call_id = id, error = %e, "abandon hangup failed");
            }
            info!(call_id = id, "abandoned with the safe-harbor message");
        }
        for id in self.wraps.pop_due(now) {
            let overdue = self.calls.get(&id).is_some_and(|c| c.phase == Phase::Wrap);
            if overdue && let Some(c) = self.calls.remove(&id) {
                let seat = c.seat;
                self.finish_connected(id, c, now).await;
                if let Some(seat) = seat {
                    self.seats.set(
                        seat,
                        SeatState::NotReady {
                            code: "wrap_timeout".into(),
                        },
                        now,
                    );
                }
            }
        }
    }

    async fn ended(&mut self, id: CallId, cause: EndCause, now: Millis) {
        let Some(mut c) = self.calls.remove(&id) else {
            return;
        };
        c.record.ring_ms = c.answered_at.unwrap_or(now) - c.dialed_at;
        // A preview or manual call that never reached its agent frees the agent.
        let reserved_seat = c
            .seat
            .filter(|&s| c.reserved && self.seats.get(s).state == SeatState::Reserved);
        if !matches!(c.phase, Phase::Talking | Phase::Preview | Phase::Wrap)
            && let Some(seat) = reserved_seat
        {
            self.seats.send(
                seat,
                AgentEvent::Ended {
                    call: id,
                    cause,
                    wrap_deadline_ms: now,
                },
            );
            self.release_seat(seat, now);
        }
        match c.phase {
            Phase::Ringing => {
                let (outcome, pace) = match cause {
                    EndCause::Busy => (Outcome::Busy, PaceOutcome::Fail),
                    EndCause::Sit => (Outcome::Sit, PaceOutcome::Fail),
                    EndCause::Failed => (Outcome::Failed, PaceOutcome::Fail),
                    _ => (Outcome::NoAnswer, PaceOutcome::NoAnswer),
                };
                self.completed.push(Completed {
                    outcome: pace,
                    ring_s: (now - c.dialed_at) as f64 / 1000.0,
                });
                self.finish(id, c, outcome, now).await;
            }
            Phase::Waiting => {
                // The person hung up before an agent was free: a drop all the same.
                self.completed.push(Completed {
                    outcome: PaceOutcome::HumanDropped,
                    ring_s: (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0,
                });
                self.counters.live(now, true);
                self.finish(id, c, Outcome::Abandoned, now).await;
            }
            Phase::Detecting => {
                // Hung up during answering-machine detection: answered, nobody spoken to.
                self.completed.push(Completed {
                    outcome: PaceOutcome::Machine,
                    ring_s: (now - c.dialed_at) as f64 / 1000.0,
                });
                self.finish(id, c, Outcome::Answered, now).await;
            }
            Phase::Closing => {
                let outcome = c.outcome.unwrap_or(Outcome::Machine);
                self.finish(id, c, outcome, now).await;
            }
            Phase::Talking => {
                c.record.talk_ms = c.talk_from.map_or(0, |t| now - t);
                let Some(seat) = c.seat else {
                    self.finish(id, c, Outcome::Answered, now).await;
                    return;
                };
                if c.talk_from.is_none() {
                    // Ended before the bridge completed.
                    self.finish(id, c, Outcome::Abandoned, now).await;
                    self.release_seat(seat, now);
                    return;
                }
                if c.disposition.is_some() {
                    self.finish_connected(id, c, now).await;
                    self.release_seat(seat, now);
                    return;
                }
                let deadline = now + Millis::from(self.spec.wrap_up_s) * 1000;
                c.phase = Phase::Wrap;
                self.calls.insert(id, c);
                self.wraps.push(deadline, id);
                self.seats.set(seat, SeatState::WrapUp, now);
                self.seats.get_mut(seat).call = Some(id);
                self.seats.send(
                    seat,
                    AgentEvent::Ended {
                        call: id,
                        cause,
                        wrap_deadline_ms: deadline,
                    },
                );
            }
            Phase::Preview | Phase::Wrap => {
                self.calls.insert(id, c);
            }
        }
    }

    /// After a call: ready again, or the not-ready the agent asked for meanwhile.
    fn release_seat(&mut self, seat: usize, now: Millis) {
        let next = match self.seats.get_mut(seat).pending_not_ready.take() {
            Some(code) => SeatState::NotReady { code },
            None => SeatState::Ready,
        };
        if self.seats.get(seat).state != SeatState::LoggedOut {
            self.seats.set(seat, next, now);
        }
        self.serve_waiting(now);
    }

    /// Records a connected call with its disposition (or none, after the wrap timeout) and
    /// applies what the disposition means.
    async fn finish_connected(&mut self, id: CallId, mut c: Call, now: Millis) {
        let seat = c.seat;
        let d = c.disposition.take();
        let (outcome, code) = match &d {
            Some(d) => (d.code.outcome(), d.code.as_str()),
            None => (Outcome::Answered, "NO_DISPOSITION"),
        };
        c.record.disposition = code.to_string();
        if let Some(d) = &d {
            if !d.debts_discussed.is_empty() {
                c.record.debt_ids = d.debts_discussed.clone();
            }
            if d.code.is_rpc() {
                self.counters.right_party_contacts += 1;
            }
            self.apply_disposition(&c, d, now).await;
        }
        c.disposition = d;
        self.finish(id, c, outcome, now).await;
        if let Some(seat) = seat
            && self.seats.get(seat).state == SeatState::WrapUp
        {
            self.release_seat(seat, now);
        }
    }

    /// Holds and promises a disposition makes: applied to our copy at once (so no further
    /// call starts this second) and written to the ledger.
    async fn apply_disposition(&mut self, c: &Call, d: &Disposition, now: Millis) {
        let hold_kind = match d.code {
            DispositionCode::CeaseRequest => Some(HoldKind::Cease),
            DispositionCode::Attorney => Some(HoldKind::Attorney),
            DispositionCode::Dispute => Some(HoldKind::Dispute),
            DispositionCode::WrongNumber => Some(HoldKind::WrongNumber),
            _ => None,
        };
        if let Some(kind) = hold_kind {
            let debts: Vec<String> = if kind == HoldKind::WrongNumber {
                vec![String::new()]
            } else {
                c.record.debt_ids.clone()
            };
            for debt in debts {
                let hold = Hold {
                    hold_id: format!("{}-{}{}", c.record.idempotency_key, code_tag(kind), debt),
                    account_id: c.account.clone(),
                    kind,
                    debt_id: debt,
                    number: if kind == HoldKind::WrongNumber {
                        c.record.number.clone()
                    } else {
                        String::new()
                    },
                    since: ts(now),
                    until: None,
                    set_by: c.record.agent_id.clone(),
                    reason: format!("disposition {}", d.code.as_str()),
                };
                if let Some(v) = self.accounts.get_mut(&c.account) {
                    v.account.holds.push(hold.clone());
                }
                let backend = self.backend.clone();
                tokio::spawn(async move {
                    retry("set_hold", || backend.outbox().set_hold(hold.clone())).await
                });
            }
            if kind != HoldKind::WrongNumber
                && let Some(v) = self.accounts.get(&c.account)
                && open_debts(v, now).is_empty()
                && let Err(e) = self.queue.remove(&c.account).await
            {
                warn!(error = %e, "queue remove failed");
            }
        }
        if let (DispositionCode::PromiseToPay, Some(p)) = (d.code, &d.promise) {
            self.counters.promises += 1;
            let promise = Promise {
                promise_id: format!("{}-ptp", c.record.idempotency_key),
                account_id: c.account.clone(),
                debt_id: p.debt_id.clone(),
                amount_minor: p.amount_minor,
                currency: p.currency.clone(),
                due_date: p.due_date.clone(),
                status: PromiseStatus::Pending,
                outcome_key: c.record.idempotency_key.clone(),
                set_by: c.record.agent_id.clone(),
                created_at: None,
                updated_at: None,
            };
            let backend = self.backend.clone();
            tokio::spawn(async move {
                retry("record_promise", || {
                    backend.outbox().record_promise(promise.clone())
                })
                .await
            });
        }
    }

    /// Records the final outcome, releases an attempt that does not count, and tells the
    /// queue what comes next for the account.
    async fn finish(&mut self, id: CallId, mut c: Call, outcome: Outcome, now: Millis) {
        self.busy_accounts.remove(&c.account);
        c.record.outcome = outcome;
        if c.record.disposition == "DIALER_LOST" {
            c.record.disposition.clear();
        }
        if c.record.talk_ms == 0 && c.talk_from.is_some() {
            c.record.talk_ms = now - c.talk_from.unwrap_or(now);
        }
        self.counters.outcome(outcome_name(outcome));
        debug!(
            call_id = id,
            outcome = outcome_name(outcome),
            "call finished"
        );
        let backend = self.backend.clone();
        let record = c.record.clone();
        self.writes.spawn(async move {
            retry("record outcome", || backend.outbox().finish(&record)).await
        });
        if let Some(r) = &c.reservation
            && !outcome.counts_for_regf()
            && let Err(e) = self.backend.book().release(r).await
        {
            // Keeping it counted is the safe side.
            warn!(error = %e, "reservation release failed");
        }
        if let Some(v) = self.accounts.get_mut(&c.account) {
            v.contacts.push(c.record.clone());
        }
        if let Some(lease) = c.lease.take() {
            let next = self.next_after(&c, outcome, now);
            self.complete(&lease, next).await;
        }
    }

    /// When the account comes back (recycling per outcome, or per disposition).
    fn next_after(&mut self, c: &Call, outcome: Outcome, now: Millis) -> Next {
        let Some(v) = self.accounts.get(&c.account) else {
            return Next::Retire;
        };
        let rank = self.rank(v, now);
        if open_debts(v, now).is_empty() {
            return Next::Retire;
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order).len();
        match self.spec.recycling.after(outcome) {
            Recycle::RetryIn(d) => Next::Sleep { at: now + d, rank },
            Recycle::NextPhone => {
                let next = c.phone_index + 1;
                if next >= phones {
                    Next::Retire
                } else {
                    self.cursor.insert(c.account.clone(), next);
                    Next::Ready { rank }
                }
            }
            Recycle::Disposition => match c.disposition.as_ref().map(|d| d.code) {
                Some(DispositionCode::Callback) => Next::Sleep {
                    at: c
                        .disposition
                        .as_ref()
                        .and_then(|d| d.callback_at_ms)
                        .unwrap_or(now + DAY),
                    rank: rank - 100.0,
                },
                // Worked (promise) or held (cease, attorney, dispute): out of this campaign.
                Some(
                    DispositionCode::PromiseToPay
                    | DispositionCode::CeaseRequest
                    | DispositionCode::Attorney
                    | DispositionCode::Dispute,
                ) => Next::Retire,
                // After a conversation Reg F allows no call for 7 days (US-REGF-09); the
                // rules decide the exact instant when it wakes.
                Some(DispositionCode::RightPartyContact | DispositionCode::Refused) => {
                    Next::Sleep {
                        at: now + 7 * DAY,
                        rank,
                    }
                }
                _ => Next::Sleep {
                    at: now + Millis::from(self.spec.recycling.no_answer_minutes) * MINUTE,
                    rank,
                },
            },
        }
    }

    // ------------------------------------------------------------------ screen pop

    fn screen_pop(&self, account: &str, number: &str, debts: &[String], now: Millis) -> ScreenPop {
        let Some(v) = self.accounts.get(account) else {
            return ScreenPop::default();
        };
        let person = v.consumer_person();
        let phone = person.and_then(|p| p.phones.iter().find(|ph| ph.number == number));
        let mut notes = Vec::new();
        match phone {
            Some(ph) if ph.consent_automated && ph.consent_revoked_at.is_none() => {
                notes.push("consent for automated calls: yes".to_string())
            }
            Some(_) => notes.push("consent for automated calls: none".to_string()),
            None => {}
        }
        for h in &v.account.holds {
            if h.until.is_none_or(|u| u.as_millisecond() > now) {
                notes.push(format!(
                    "hold {:?}{}",
                    h.kind,
                    if h.debt_id.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", h.debt_id)
                    }
                ));
            }
        }
        let week_ago = now - 7 * DAY;
        let calls_on = |debt: &str| {
            v.contacts
                .iter()
                .filter(|c| {
                    c.direction == Direction::Outbound
                        && c.outcome.counts_for_regf()
                        && c.started_at.as_millisecond() >= week_ago
                        && c.debt_ids.first().is_some_and(|d| d == debt)
                })
                .count() as u32
        };
        let debt_lines: Vec<DebtLine> = v
            .account
            .debts
            .iter()
            .map(|d| DebtLine {
                debt_id: d.debt_id.clone(),
                balance_minor: d.balance_minor,
                currency: d.currency.clone(),
                days_past_due: d.days_past_due,
                original_creditor: d.original_creditor.clone(),
                regf_calls_left: REG_F_LIMIT.saturating_sub(calls_on(&d.debt_id)),
            })
            .collect();
        for d in &debt_lines {
            if debts.contains(&d.debt_id) {
                notes.push(format!(
                    "Reg F: {} of {REG_F_LIMIT} calls left on {} this week",
                    d.regf_calls_left, d.debt_id
                ));
            }
        }
        let mut last: Vec<&ContactOutcome> = v.contacts.iter().collect();
        last.sort_by_key(|c| std::cmp::Reverse(c.started_at));
        ScreenPop {
            account_id: account.to_string(),
            person_id: person.map(|p| p.person_id.clone()).unwrap_or_default(),
            name: person.map(|p| p.full_name.clone()).unwrap_or_default(),
            number: number.to_string(),
            creditor: v.account.creditor.clone(),
            debts: debt_lines,
            call_debt_ids: debts.to_vec(),
            last_contacts: last
                .into_iter()
                .take(10)
                .map(|c| ContactLine {
                    at_ms: c.started_at.as_millisecond(),
                    outcome: c.outcome,
                    disposition: c.disposition.clone(),
                    agent_id: c.agent_id.clone(),
                })
                .collect(),
            promises: v
                .promises
                .iter()
                .filter(|p| p.status == PromiseStatus::Pending)
                .map(|p| PromiseLine {
                    debt_id: p.debt_id.clone(),
                    amount_minor: p.amount_minor,
                    currency: p.currency.clone(),
                    due_date: p.due_date.clone(),
                    status: "pending".into(),
                })
                .collect(),
            compliance_notes: notes,
            script: self.spec.script.clone(),
            mini_miranda: self.spec.mini_miranda.clone(),
        }
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

/// Debts no hold in force stops calls about (cease, attorney, dispute, bankruptcy,
/// deceased, medium opt-out), scoped to the debt or the whole account.
pub(crate) fn open_debts(v: &AccountView, now: Millis) -> Vec<String> {
    let blocking = |k: HoldKind| !matches!(k, HoldKind::NumberOptout | HoldKind::WrongNumber);
    let in_force = |h: &Hold| {
        h.since.as_millisecond() <= now && h.until.is_none_or(|u| u.as_millisecond() > now)
    };
    v.account
        .debts
        .iter()
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

/// Retries an idempotent ledger write with capped backoff until it succeeds.
async fn retry<F, Fut>(what: &'static str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::outcomes::SinkError>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match f().await {
            Ok(()) => return,
            Err(e) => {
                warn!(error = %e, what, "ledger write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Polls futures concurrently (on this task) and collects their results in order, so a
/// batch of store calls can be committed together.
async fn join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
