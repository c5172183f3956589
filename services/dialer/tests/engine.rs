//! The campaign engine end to end on a paused tokio clock: generated portfolio, in-process
//! queue and counters, the simulated carrier and a simulated agent team. Hours of dialing
//! run in seconds; every invariant the law and the product promise is checked on what the
//! engine recorded.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use carrier::Prompt;
use carrier::sim::SimCarrier;
use compliance::model::{HoldKind, Outcome};
use dialer::account::AccountView;
use dialer::backend::{MemorySource, Stores};
use dialer::campaign::CampaignSpec;
use dialer::engine::{self, AddReport, CampaignHandle, Clock, RunState};
use dialer::outcomes::MemorySink;
use dialer::portfolio;
use dialer::session::{AgentCommand, AgentEvent, SeatState};
use dialer::sim_agents::{self, Behaviour};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ledger_api::domain::Hold;
use queue::memory::{MemoryAttemptBook, MemoryQueue};
use simulator::scenario::{Scenario, ScenarioId};
use tokio::task::JoinHandle;

type TestStores = Stores<MemoryQueue, MemoryAttemptBook, MemorySink, MemorySource>;

/// 2026-11-23 16:00 UTC: 11:00 in New York, 08:00 in Los Angeles (a Monday).
const START: &str = "2026-11-23T16:00:00Z";

fn stores(views: Vec<AccountView>) -> Arc<TestStores> {
    Arc::new(Stores {
        queues: Box::new(|_| MemoryQueue::new()),
        book: MemoryAttemptBook::new(),
        outbox: MemorySink::default(),
        source: MemorySource::new(views),
        compliance: compliance::Engine::builtin(),
        owner: "test-replica".into(),
    })
}

fn views(n: usize, seed: u64) -> Vec<AccountView> {
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    portfolio::views(n, seed, since)
}

/// A started campaign: its handle and task, its simulated network, its agent team, and what
/// adding the accounts reported.
struct Shift {
    handle: CampaignHandle,
    task: JoinHandle<()>,
    carrier: SimCarrier,
    team: Vec<JoinHandle<()>>,
    report: AddReport,
}

/// Who works a shift: this many simulated agents, their names' prefix, their seed.
struct Team(usize, &'static str, u64);

/// Starts `spec` at [`START`] on the simulated network of `scenario` (seeded), with every
/// account of `accounts` added and `team` logged in.
async fn start_shift(
    spec: CampaignSpec,
    stores: &Arc<TestStores>,
    accounts: &[AccountView],
    (scenario, seed): (ScenarioId, u64),
    Team(agents, prefix, team_seed): Team,
) -> Shift {
    let (carrier, events) = SimCarrier::new(Scenario::get(scenario), seed);
    let clock = Clock::starting_at(START.parse::<Timestamp>().expect("ts").as_millisecond());
    let network = Arc::new(carrier.clone());
    let (handle, task) =
        engine::spawn(spec, stores.clone(), network, events, clock).expect("valid campaign");
    let ids = accounts
        .iter()
        .map(|v| v.account.account_id.clone())
        .collect();
    let report = handle.add_accounts(ids).await.expect("added");
    let behaviour = Behaviour::default();
    let team = sim_agents::spawn_team(&handle, &carrier, agents, prefix, &behaviour, team_seed)
        .expect("team");
    handle.start().await.expect("start");
    Shift {
        handle,
        task,
        carrier,
        team,
        report,
    }
}

impl Shift {
    /// Stops the campaign (its calls end and are recorded) and sends the agents home.
    async fn stop(&mut self) {
        self.handle.stop().await;
        (&mut self.task).await.expect("campaign task");
        for t in &self.team {
            t.abort();
        }
    }
}

fn spec(id: &str) -> CampaignSpec {
    CampaignSpec {
        id: id.into(),
        name: "test".into(),
        ..CampaignSpec::default()
    }
}

/// Every IANA zone the compliance engine considers for an account's call to `number`.
fn zones_of(
    engine: &compliance::Engine,
    v: &AccountView,
    number: &str,
    debts: &[String],
    at: Timestamp,
) -> Vec<String> {
    let req = v.call_request(number, debts, at, compliance::model::DialMode::Manual);
    let d = engine
        .evaluate(&req, &compliance::Policy::default())
        .expect("evaluates");
    d.zones.iter().map(|z| z.zone.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_predictive_shift_keeps_every_promise() {
    let accounts = views(12_000, 11);
    let by_id: HashMap<String, AccountView> = accounts
        .iter()
        .map(|v| (v.account.account_id.clone(), v.clone()))
        .collect();
    let stores = stores(accounts.clone());
    let team = Team(20, "agent", 3);
    let mut shift = start_shift(spec("shift"), &stores, &accounts, (ScenarioId::S2, 5), team).await;
    let handle = shift.handle.clone();
    let clock = handle.clock();
    let held = accounts
        .iter()
        .filter(|v| v.account.debts.len() == 1 && !v.account.holds.is_empty())
        .count();
    assert_eq!(shift.report.queued as usize, accounts.len() - held);

    // Half way, the CRM sets a cease on an account not yet reached.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let worked: HashSet<String> = stores
        .outbox
        .finals()
        .iter()
        .map(|o| o.account_id.clone())
        .collect();
    let ceased = accounts
        .iter()
        .find(|v| {
            v.account.holds.is_empty()
                && !worked.contains(&v.account.account_id)
                && v.account.persons[0].addresses[0].state == "NY"
        })
        .expect("an unreached New York account")
        .account
        .account_id
        .clone();
    let cease_at = clock.now_ms();
    let mut view = by_id[&ceased].clone();
    for d in view.account.debts.clone() {
        view.account.holds.push(Hold {
            hold_id: format!("cease-{}", d.debt_id),
            account_id: ceased.clone(),
            kind: HoldKind::Cease,
            debt_id: d.debt_id.clone(),
            number: String::new(),
            since: Timestamp::from_millisecond(cease_at).expect("ts"),
            until: None,
            set_by: "crm".into(),
            reason: "written cease".into(),
        });
    }
    stores.source.put(view);
    handle.account_changed(&ceased).expect("running");

    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let figures = handle.figures().borrow().clone();
    shift.stop().await;

    let finals = stores.outbox.finals();
    assert!(finals.len() > 2_000, "dialed {} calls", finals.len());
    assert_eq!(figures.state, RunState::Running);
    assert!(figures.connected > 200, "{figures:?}");

    // Exactly one final outcome per attempt begun, none left open, none overlapping.
    let keys: HashSet<&str> = finals.iter().map(|o| o.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), finals.len());
    assert_eq!(stores.outbox.open_attempts(), 0);
    assert!(stores.outbox.overlapping().is_empty());

    let engine = compliance::Engine::builtin();
    let mut per_debt: HashMap<&str, u32> = HashMap::new();
    for o in &finals {
        let v = &by_id[&o.account_id];
        // Holds loaded with the account: never called about that debt.
        for h in &v.account.holds {
            assert!(
                !o.debt_ids.contains(&h.debt_id),
                "{} called on hold",
                o.account_id
            );
        }
        // US-REGF-01: 08:00-21:00 in every zone the consumer may be in.
        for zone in zones_of(&engine, v, &o.number, &o.debt_ids, o.started_at) {
            let hour = o
                .started_at
                .to_zoned(TimeZone::get(&zone).expect("zone"))
                .hour();
            assert!(
                (8..21).contains(&hour),
                "{} called at {hour}h in {zone}",
                o.account_id
            );
        }
        // US-TCPA-04: no automated call to a cell phone without consent.
        let phone = v.account.persons[0]
            .phones
            .iter()
            .find(|p| p.number == o.number)
            .expect("a phone of the account");
        assert!(
            phone.consent_automated || phone.kind != ledger_api::domain::PhoneKind::Mobile,
            "cell without consent dialed"
        );
        // US-REGF-08: at most 7 counted calls per debt in the run (shorter than 7 days).
        if o.outcome.counts_for_regf() {
            *per_debt.entry(o.debt_ids[0].as_str()).or_default() += 1;
        }
        // The cease stops calls from the second it is known.
        if o.account_id == ceased {
            assert!(o.started_at.as_millisecond() <= cease_at);
        }
    }
    assert!(per_debt.values().all(|&n| n <= 7));

    // Every abandoned call heard the safe-harbor message, and is recycled no sooner than
    // 72 h (UK-OFCOM-01 spirit): no second call to an abandoned account in this run.
    let abandoned: Vec<_> = finals
        .iter()
        .filter(|o| o.outcome == Outcome::Abandoned)
        .collect();
    let safe_harbor = shift
        .carrier
        .prompts()
        .iter()
        .filter(|(_, p)| matches!(p, Prompt::SafeHarbor { .. }))
        .count();
    assert_eq!(safe_harbor, abandoned.len());
    for a in &abandoned {
        assert!(
            !finals
                .iter()
                .any(|o| o.account_id == a.account_id && o.started_at > a.started_at),
            "abandoned account called again"
        );
    }
    // The pacer held abandonment near its target over the shift (the budget is 30 days,
    // so a few hours may run a little over; far over means it is not controlling).
    let lives = finals
        .iter()
        .filter(|o| {
            matches!(
                o.outcome,
                Outcome::Abandoned
                    | Outcome::Conversation
                    | Outcome::Answered
                    | Outcome::WrongParty
            )
        })
        .count();
    let rate = abandoned.len() as f64 / lives as f64;
    assert!(
        rate < 0.05,
        "abandonment {rate:.3} over {lives} live answers"
    );
    // Dispositions made holds (cease, dispute, wrong number) and promises.
    assert!(!stores.outbox.holds().is_empty());
    assert!(!stores.outbox.promises().is_empty());
}

#[tokio::test(start_paused = true)]
async fn manual_dial_goes_through_compliance_and_agents_see_only_their_calls() {
    let accounts = views(50, 3);
    let stores = stores(accounts.clone());
    let (carrier, events) = SimCarrier::new(Scenario::get(ScenarioId::S5), 9);
    // 03:00 in New York: nothing may be dialed.
    let night = "2026-11-23T08:00:00Z".parse::<Timestamp>().expect("ts");
    let clock = Clock::starting_at(night.as_millisecond());
    let mut s = spec("manual");
    s.pacing = pacing::Policy::Preview;
    let (handle, _task) =
        engine::spawn(s, stores.clone(), Arc::new(carrier), events, clock).expect("spawn");
    let mut rx = handle.login("alice", "sip:alice").expect("login");
    let _bob = handle.login("bob", "sip:bob").expect("login");
    handle.agent("alice", AgentCommand::Ready).expect("ready");
    let target = accounts[0].account.account_id.clone();
    handle
        .agent(
            "alice",
            AgentCommand::ManualDial {
                account_id: target.clone(),
                number: None,
                debt_ids: Vec::new(),
            },
        )
        .expect("sent");
    let refused = loop {
        match rx.recv().await.expect("event") {
            AgentEvent::Refused {
                account_id,
                reasons,
                next_eligible_ms,
            } => break (account_id, reasons, next_eligible_ms),
            AgentEvent::State { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(refused.0, target);
    assert!(
        refused.1.iter().any(|r| r.contains("HOURS")),
        "{:?}",
        refused.1
    );
    assert!(refused.2.is_some_and(|t| t > night.as_millisecond()));
    assert!(stores.outbox.finals().is_empty());

    // Bob cannot disposition or hang up a call that is not his.
    handle
        .agent("bob", AgentCommand::Hangup { call: 1 })
        .expect("sent");
    handle
        .agent("nobody", AgentCommand::Ready)
        .expect("ignored, not panicking");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        handle.figures().borrow().state,
        RunState::Ready,
        "the campaign keeps running"
    );
    let _ = SeatState::Ready;
}

#[tokio::test(start_paused = true)]
async fn preview_mode_offers_accounts_to_agents_who_accept_them() {
    let accounts = views(400, 5);
    let stores = stores(accounts.clone());
    let mut s = spec("preview");
    s.pacing = pacing::Policy::Preview;
    let mut shift = start_shift(s, &stores, &accounts, (ScenarioId::S5, 4), Team(3, "p", 2)).await;
    tokio::time::sleep(Duration::from_secs(1800)).await;
    shift.stop().await;
    let finals = stores.outbox.finals();
    assert!(finals.len() > 20, "{} preview calls", finals.len());
    for o in &finals {
        assert_eq!(o.dial_mode, Some(compliance::model::DialMode::Preview));
        assert!(o.agent_id.starts_with('p'), "each call has its agent");
    }
    // Preview calls have an agent on the line: nobody is ever abandoned.
    assert!(finals.iter().all(|o| o.outcome != Outcome::Abandoned));
    assert!(stores.outbox.overlapping().is_empty());
}

/// A clock that reads far earlier than recorded history (a restart on an earlier configured
/// time) stops dialing with an alarm, and dialing resumes once the clock has caught up.
#[tokio::test(start_paused = true)]
async fn a_clock_behind_recorded_history_stops_dialing() {
    let mut accounts = views(200, 8);
    let start = START.parse::<Timestamp>().expect("ts");
    // One account was called an hour "from now": by a clock that was ahead, or before a
    // restart whose clock was set back.
    let later = start
        .checked_add(jiff::SignedDuration::from_hours(1))
        .expect("ts");
    let number = accounts[0].account.persons[0].phones[0].number.clone();
    let debt = accounts[0].account.debts[0].debt_id.clone();
    let account_id = accounts[0].account.account_id.clone();
    accounts[0]
        .contacts
        .push(ledger_api::domain::ContactOutcome {
            idempotency_key: "earlier-run".into(),
            account_id,
            person_id: String::new(),
            debt_ids: vec![debt],
            number,
            direction: compliance::model::Direction::Outbound,
            channel: compliance::model::Channel::Call,
            dial_mode: Some(compliance::model::DialMode::Predictive),
            outcome: Outcome::NoAnswer,
            party: ledger_api::domain::Party::Nobody,
            third_party_id: String::new(),
            campaign_id: "clock".into(),
            agent_id: String::new(),
            started_at: later,
            ring_ms: 22_000,
            talk_ms: 0,
            amd: ledger_api::domain::AmdVerdict::NotRun,
            recording_ref: String::new(),
            disposition: String::new(),
            counts_for_regf: true,
            event_id: 1,
            recorded_at: None,
            checked_seq: 0,
        });
    let stores = stores(accounts.clone());
    let team = Team(5, "c", 2);
    let mut shift = start_shift(spec("clock"), &stores, &accounts, (ScenarioId::S5, 2), team).await;
    let handle = shift.handle.clone();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let f = handle.figures().borrow().clone();
    assert_eq!(f.dials, 0, "no dial while the clock is behind history");
    assert!(f.clock_behind_ms > 50 * 60_000, "{}", f.clock_behind_ms);
    // Within the allowed skew of the history again: dialing resumes, the alarm clears.
    tokio::time::sleep(Duration::from_secs(3000)).await;
    let f = handle.figures().borrow().clone();
    assert!(f.dials > 0);
    assert_eq!(f.clock_behind_ms, 0);
    shift.stop().await;
}

/// A promise to pay still pending in the receivables ledger defers the account (campaign
/// policy, counted as PROMISE_PENDING) until the day after its due date plus grace; then it
/// is dialed like any other.
#[tokio::test(start_paused = true)]
async fn a_pending_promise_defers_the_account_until_the_day_after_it_breaks() {
    let mut accounts = views(60, 17);
    // Due on the shift's day, no grace: broken from 2026-11-24 00:00 UTC (19:00 in New
    // York, still inside its calling window), eight hours into the shift.
    let broken_from = "2026-11-24T00:00:00Z".parse::<Timestamp>().expect("ts");
    let mut promised = HashSet::new();
    for v in accounts
        .iter_mut()
        .filter(|v| v.account.holds.is_empty())
        .take(20)
    {
        promised.insert(v.account.account_id.clone());
        for d in &mut v.account.debts {
            d.receivables = Some(ledger_api::domain::DebtReceivables {
                as_of: Some("2026-11-23".parse().expect("date")),
                open_minor: d.balance_minor,
                oldest_bucket: "31_60".into(),
                promise_status: "pending".into(),
                promise_amount_minor: 1_000,
                promise_due: Some("2026-11-23".parse().expect("date")),
                ..Default::default()
            });
        }
    }
    let stores = stores(accounts.clone());
    let mut shift = start_shift(
        spec("promises"),
        &stores,
        &accounts,
        (ScenarioId::S2, 5),
        Team(4, "a", 3),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10 * 3600)).await;
    let figures = shift.handle.figures().borrow().clone();
    shift.stop().await;
    let finals = stores.outbox.finals();
    let to_promised: Vec<_> = finals
        .iter()
        .filter(|o| promised.contains(&o.account_id))
        .collect();
    assert!(
        to_promised.iter().all(|o| o.started_at >= broken_from),
        "a pending promise was dialed before it broke"
    );
    assert!(!to_promised.is_empty(), "broken promises are dialed");
    assert!(
        figures.refused_by_reason.contains_key("PROMISE_PENDING"),
        "{figures:?}"
    );
    assert!(
        finals
            .iter()
            .any(|o| !promised.contains(&o.account_id) && o.started_at < broken_from)
    );
}
