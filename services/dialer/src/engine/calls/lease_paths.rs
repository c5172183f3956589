//! Every way a leased account leaves the engine gives its lease back exactly once.
//!
//! Campaigns run on stores and a carrier that fail now and then, so that every exit is
//! taken: an account that cannot be loaded, refused by the rules (asleep or retired), refused
//! by the attempt counters (another replica used the budget), held back by the pre-dial check
//! (unavailable, or news in the ledger), refused by the outbox or by the carrier, dialed and
//! ended every way the network ends calls, and preview offers accepted, skipped or taken back
//! at the stop.
//! The queue counts the completions of each lease it gave; the engine itself asserts after
//! every event that no lease was dropped (debug builds), which would end its task.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carrier::sim::SimCarrier;
use carrier::{CallId, Carrier, CarrierError, Originate, Prompt};
use jiff::Timestamp;
use ledger_api::domain::{AccountCheck, ChangeKind, ChangeRef, ContactOutcome};
use queue::memory::{MemoryAttemptBook, MemoryQueue};
use queue::{
    AttemptBook, CampaignQueue, Lease, Millis, Next, QueueError, QueueItem, QueueSizes, Reservation,
};
use simulator::scenario::{Scenario, ScenarioId};

use crate::account::{AccountSource, AccountView, SourceError};
use crate::backend::{MemorySource, Stores};
use crate::campaign::CampaignSpec;
use crate::engine::{self, Clock, RunState};
use crate::outcomes::{LedgerCommand, MemorySink, OutcomeSink, SinkError, Unacknowledged};
use crate::session::{AgentCommand, AgentEvent, SeatState};
use crate::sim_agents::{self, Behaviour};

/// Every `n`th call (counted per kind) fails.
#[derive(Debug)]
struct Every(u64, AtomicU64);

impl Every {
    fn new(n: u64) -> Every {
        Every(n, AtomicU64::new(0))
    }

    fn now(&self) -> bool {
        (self.1.fetch_add(1, Ordering::Relaxed) + 1) % self.0 == 0
    }
}

/// A memory queue that counts how often each lease it gave is completed.
#[derive(Debug)]
struct CountingQueue {
    inner: MemoryQueue,
    completions: Completions,
}

type Completions = Arc<Mutex<HashMap<(String, u64), u32>>>;
type Stored<T> = Result<T, QueueError>;

impl CampaignQueue for CountingQueue {
    async fn pop_lease(&self, n: usize, now: Millis, ttl: Millis, by: &str) -> Stored<Vec<Lease>> {
        let leases = self.inner.pop_lease(n, now, ttl, by).await?;
        let mut c = self.completions.lock().expect("lock");
        for l in &leases {
            assert!(c.insert((l.account.clone(), l.token), 0).is_none());
        }
        Ok(leases)
    }
    async fn complete(&self, lease: &Lease, next: Next) -> Stored<bool> {
        let key = (lease.account.clone(), lease.token);
        *self
            .completions
            .lock()
            .expect("lock")
            .entry(key)
            .or_default() += 1;
        self.inner.complete(lease, next).await
    }
    // The rest as the memory queue does it.
    async fn push(&self, items: &[QueueItem]) -> Stored<()> {
        self.inner.push(items).await
    }
    async fn push_sleeping(&self, items: &[QueueItem], at: Millis) -> Stored<()> {
        self.inner.push_sleeping(items, at).await
    }
    async fn rerank(&self, items: &[QueueItem]) -> Stored<()> {
        self.inner.rerank(items).await
    }
    async fn extend(&self, leases: &[Lease], now: Millis, ttl: Millis) -> Stored<usize> {
        self.inner.extend(leases, now, ttl).await
    }
    async fn remove(&self, account: &str) -> Stored<()> {
        self.inner.remove(account).await
    }
    async fn next_wake(&self) -> Stored<Option<Millis>> {
        self.inner.next_wake().await
    }
    async fn sizes(&self) -> Stored<QueueSizes> {
        self.inner.sizes().await
    }
    async fn mark_alive(&self) -> Stored<()> {
        self.inner.mark_alive().await
    }
    async fn is_alive(&self) -> Stored<bool> {
        self.inner.is_alive().await
    }
}

/// An outbox that refuses an attempt now and then.
#[derive(Debug)]
struct FlakySink {
    inner: MemorySink,
    refuse: Every,
}

impl OutcomeSink for FlakySink {
    async fn begin(&self, provisional: &ContactOutcome) -> Result<(), SinkError> {
        if self.refuse.now() {
            return Err(SinkError("injected".into()));
        }
        self.inner.begin(provisional).await
    }
    async fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> Result<(), SinkError> {
        self.inner.finish(outcome, commands).await
    }
    async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
        self.inner.unacknowledged(accounts).await
    }
}

/// A ledger that is unreachable now and then, and reports news on an account now and then.
#[derive(Debug)]
struct FlakySource {
    inner: MemorySource,
    unavailable: Every,
    check_down: Every,
    news: Every,
}

impl AccountSource for FlakySource {
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        if self.unavailable.now() {
            return Err(SourceError::Unavailable("injected".into()));
        }
        self.inner.load(account_id).await
    }
    async fn check(&self, accounts: &[(String, i64)]) -> Result<AccountCheck, SourceError> {
        if self.check_down.now() {
            return Err(SourceError::Unavailable("injected".into()));
        }
        let changes = match accounts.first() {
            Some((account, _)) if self.news.now() => vec![ChangeRef {
                seq: 1,
                kind: ChangeKind::Account,
                account_id: account.clone(),
                ref_id: account.clone(),
            }],
            _ => Vec::new(),
        };
        Ok(AccountCheck {
            as_of_seq: 1,
            changes,
        })
    }
}

/// The simulated network, refusing a call now and then.
#[derive(Debug)]
struct FlakyCarrier {
    inner: SimCarrier,
    refuse: Every,
}

impl Carrier for FlakyCarrier {
    fn originate(&self, call: Originate) -> Result<(), CarrierError> {
        if self.refuse.now() {
            return Err(CarrierError::Unavailable("injected".into()));
        }
        self.inner.originate(call)
    }
    fn bridge(&self, call: CallId, agent: &str) -> Result<(), CarrierError> {
        self.inner.bridge(call, agent)
    }
    fn hangup(&self, call: CallId, prompt: Option<Prompt>) -> Result<(), CarrierError> {
        self.inner.hangup(call, prompt)
    }
    fn cancel(&self, call: CallId) -> Result<(), CarrierError> {
        self.inner.cancel(call)
    }
}

type TestStores = Stores<CountingQueue, MemoryAttemptBook, FlakySink, FlakySource>;

/// Stores on `views`, with counters that find every debt of each tenth account already called
/// 7 times by another replica (the reservation refuses them), and the completions the queue
/// counts.
async fn stores(views: Vec<AccountView>, now: Millis) -> (Arc<TestStores>, Completions) {
    let book = MemoryAttemptBook::new();
    for v in views.iter().step_by(10) {
        for d in &v.account.debts {
            let key = if d.student_loan_group.is_empty() {
                &d.debt_id
            } else {
                &d.student_loan_group
            };
            for i in 0..7 {
                let r = Reservation {
                    account: v.account.account_id.clone(),
                    attempt_id: format!("other-replica-{key}-{i}"),
                    debt_keys: vec![key.clone()],
                    phone: format!("+1404555{i:04}"),
                    now,
                    window_start: now - 86_400_000,
                    limit: 7,
                    min_gap: 0,
                };
                book.reserve(&r).await.expect("reserved");
            }
        }
    }
    let completions = Completions::default();
    let counted = completions.clone();
    let stores = Stores {
        queues: Box::new(move |_| CountingQueue {
            inner: MemoryQueue::new(),
            completions: counted.clone(),
        }),
        book,
        outbox: FlakySink {
            inner: MemorySink::default(),
            refuse: Every::new(10),
        },
        source: FlakySource {
            inner: MemorySource::new(views),
            unavailable: Every::new(7),
            check_down: Every::new(11),
            news: Every::new(13),
        },
        compliance: compliance::Engine::builtin(),
        owner: "test".into(),
    };
    (Arc::new(stores), completions)
}

/// Runs a campaign of `pacing` for `secs` seconds from `start` with `agents` simulated agents,
/// stops it and returns the completions per lease and the final figures' outcome and refusal
/// counts.
async fn run(
    pacing: pacing::Policy,
    start: &str,
    agents: usize,
    secs: u64,
) -> (HashMap<(String, u64), u32>, engine::Figures) {
    let clock = Clock::starting_at(start.parse::<Timestamp>().expect("ts").as_millisecond());
    let views = crate::portfolio::views(600, 21, since());
    let ids = views.iter().map(|v| v.account.account_id.clone()).collect();
    let (stores, completions) = stores(views, clock.now_ms()).await;
    let (sim, events) = SimCarrier::new(Scenario::get(ScenarioId::S2), 3);
    let carrier = FlakyCarrier {
        inner: sim.clone(),
        refuse: Every::new(12),
    };
    let spec = CampaignSpec {
        id: "leases".into(),
        pacing,
        ..CampaignSpec::default()
    };
    let (handle, task) =
        engine::spawn(spec, stores, Arc::new(carrier), events, clock).expect("spawn");
    // Loads that fail are reported, not queued: enough accounts get in.
    handle.add_accounts(ids).await.expect("added");
    let team =
        sim_agents::spawn_team(&handle, &sim, agents, "a", &Behaviour::default(), 5).expect("team");
    handle.start().await.expect("start");
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let figures = handle.figures().borrow().clone();
    handle.stop().await;
    task.await
        .expect("the campaign task ends without losing a lease");
    for t in team {
        t.abort();
    }
    let completions = completions.lock().expect("lock").clone();
    (completions, figures)
}

/// When the portfolio's accounts were loaded.
fn since() -> Timestamp {
    "2026-11-01T00:00:00Z".parse().expect("ts")
}

fn assert_each_released_once(completions: &HashMap<(String, u64), u32>) {
    assert!(completions.len() > 50, "{} leases", completions.len());
    let wrong: BTreeMap<_, _> = completions.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "leases not completed exactly once: {wrong:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_exit_of_a_predictive_campaign_releases_its_lease_once() {
    // Monday 16:00 UTC: the mainland is inside its calling window.
    let (completions, f) = run(
        pacing::Policy::predictive(),
        "2026-11-23T16:00:00Z",
        8,
        1800,
    )
    .await;
    assert_each_released_once(&completions);
    for reason in [
        "RESERVATION_DEBT_LIMIT",
        "PRE_DIAL_CHECK_UNAVAILABLE",
        "PRE_DIAL_CHANGED",
    ] {
        assert!(f.refused_by_reason.contains_key(reason), "{reason}: {f:?}");
    }
    for outcome in ["failed", "no_answer", "busy", "machine", "answered"] {
        assert!(f.outcomes.contains_key(outcome), "{outcome}: {f:?}");
    }
    assert!(f.errors > 0, "injected failures count as errors");
}

#[tokio::test(start_paused = true)]
async fn every_exit_of_a_preview_campaign_releases_its_lease_once() {
    let (completions, f) = run(pacing::Policy::Preview, "2026-11-23T16:00:00Z", 3, 1800).await;
    assert_each_released_once(&completions);
    assert!(f.dials > 10, "{f:?}");
}

/// At night in the US most accounts are refused by the rules and sleep until the window
/// opens; skipped offers and an offer outstanding at the stop go back to the queue.
#[tokio::test(start_paused = true)]
async fn refused_skipped_and_withdrawn_offers_release_their_leases_once() {
    let (completions, f) = run(pacing::Policy::Preview, "2026-11-23T10:00:00Z", 2, 120).await;
    assert!(f.refused_by_reason.contains_key("US_REGF_HOURS"), "{f:?}");
    assert_each_released_once(&completions);

    // A preview campaign by day whose one agent skips every offer, and stops with one out.
    let clock = Clock::starting_at(
        "2026-11-23T16:00:00Z"
            .parse::<Timestamp>()
            .expect("ts")
            .as_millisecond(),
    );
    let views = crate::portfolio::views(40, 4, since());
    let ids = views.iter().map(|v| v.account.account_id.clone()).collect();
    let (stores, completions) = stores(views, clock.now_ms()).await;
    let (sim, events) = SimCarrier::new(Scenario::get(ScenarioId::S2), 3);
    let spec = CampaignSpec {
        id: "skips".into(),
        pacing: pacing::Policy::Preview,
        ..CampaignSpec::default()
    };
    let (handle, task) = engine::spawn(spec, stores, Arc::new(sim), events, clock).expect("spawn");
    handle.add_accounts(ids).await.expect("added");
    let mut rx = handle.login("skipper", "sip:skipper").expect("login");
    handle.agent("skipper", AgentCommand::Ready).expect("ready");
    handle.start().await.expect("start");
    let mut skipped = 0;
    while skipped < 5 {
        if let AgentEvent::Offered { call, .. } = rx.recv().await.expect("event") {
            handle
                .agent("skipper", AgentCommand::Skip { call })
                .expect("skip");
            skipped += 1;
            handle.agent("skipper", AgentCommand::Ready).expect("ready");
        }
    }
    // The next offer is out when the campaign stops.
    while !matches!(rx.recv().await, Some(AgentEvent::Offered { .. })) {}
    handle.stop().await;
    assert_eq!(handle.figures().borrow().state, RunState::Stopped);
    task.await.expect("task");
    let completions = completions.lock().expect("lock").clone();
    assert!(completions.len() >= 6, "{completions:?}");
    let wrong: Vec<_> = completions.iter().filter(|(_, n)| **n != 1).collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// The simulated network, where one agent's phone cannot take calls (a SIP softphone whose
/// nailed-up leg is down).
#[derive(Debug)]
struct DeadPhone {
    inner: SimCarrier,
    dead: &'static str,
}

impl Carrier for DeadPhone {
    fn originate(&self, call: Originate) -> Result<(), CarrierError> {
        self.inner.originate(call)
    }
    fn bridge(&self, call: CallId, agent: &str) -> Result<(), CarrierError> {
        if agent == self.dead {
            return Err(CarrierError::Unavailable("leg down".into()));
        }
        self.inner.bridge(call, agent)
    }
    fn hangup(&self, call: CallId, prompt: Option<Prompt>) -> Result<(), CarrierError> {
        self.inner.hangup(call, prompt)
    }
    fn cancel(&self, call: CallId) -> Result<(), CarrierError> {
        self.inner.cancel(call)
    }
}

/// A person answered and the agent chosen cannot take the call: the agent stops getting calls
/// (not ready, `phone_unavailable`) and the person goes to another agent instead of waiting
/// on a dead phone until they hang up.
#[tokio::test(start_paused = true)]
async fn a_person_whose_agent_has_no_phone_goes_to_another_agent() {
    let clock = Clock::starting_at(
        "2026-11-23T16:00:00Z"
            .parse::<Timestamp>()
            .expect("ts")
            .as_millisecond(),
    );
    let views = crate::portfolio::views(200, 21, since());
    let ids = views.iter().map(|v| v.account.account_id.clone()).collect();
    let (stores, _) = stores(views, clock.now_ms()).await;
    let (sim, events) = SimCarrier::new(Scenario::get(ScenarioId::S2), 3);
    let carrier = DeadPhone {
        inner: sim.clone(),
        dead: "sip:dead",
    };
    let spec = CampaignSpec {
        id: "dead-phone".into(),
        pacing: pacing::Policy::predictive(),
        ..CampaignSpec::default()
    };
    let (handle, task) =
        engine::spawn(spec, stores, Arc::new(carrier), events, clock).expect("spawn");
    handle.add_accounts(ids).await.expect("added");
    let mut dead = handle.login("dead", "sip:dead").expect("login");
    handle.agent("dead", AgentCommand::Ready).expect("ready");
    let team =
        sim_agents::spawn_team(&handle, &sim, 2, "a", &Behaviour::default(), 5).expect("team");
    handle.start().await.expect("start");
    let mut benched = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1800);
    while !benched {
        let ev = tokio::time::timeout_at(deadline, dead.recv())
            .await
            .expect("the dead phone's agent is benched")
            .expect("events");
        match ev {
            AgentEvent::State {
                state: SeatState::NotReady { code },
            } if code == "phone_unavailable" => benched = true,
            AgentEvent::Connected { call } => panic!("connected to a dead phone: {call}"),
            _ => {}
        }
    }
    tokio::time::sleep(Duration::from_secs(600)).await;
    let f = handle.figures().borrow().clone();
    handle.stop().await;
    task.await.expect("task");
    for t in team {
        t.abort();
    }
    // People were connected by the others, and nobody was stuck on the dead phone: every
    // answered person was either talked to or given the safe-harbor message in time.
    assert!(
        f.outcomes.get("answered").copied().unwrap_or(0) > 0,
        "{f:?}"
    );
}
