//! The SIP campaign acceptance test (issue 11): a real `dialerd` with the SIP carrier runs a
//! progressive campaign against a SIPp trunk (`tests/sip/mix.xml`, which picks each call's
//! behaviour by the last digit of the number dialed: a person, a machine, busy, no answer),
//! with two baresip softphones as the agents' nailed-up legs. Every outcome must reach the
//! ledger exactly once and match what SIPp did with that number, and the agents must have
//! heard the debtors. Real processes throughout: `ledgerd` and `dialerd` on PostgreSQL and
//! Redis, SIPp and baresip on loopback; everything is driven over gRPC and SIP.

mod common;
mod harness;
mod procs;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::Role;
use collections_proto::dialer_v1 as pb;
use harness::{PATIENCE, START, Softphone};
use ledger_api::domain::{Account, AmdVerdict, ContactOutcome, Outcome, PhoneKind};
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use testpeers::{Baresip, Sipp, SippResult, fixtures, free_udp_port, require_tools};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Accounts in the campaign: numbers ending 0..9, 0, 1 (six people, two machines, two busy,
/// two unanswered).
const ACCOUNTS: usize = 12;
/// How long an agent talks before dispositioning: the debtor's speech starts 2.9 s after the
/// answer (after the "Hello?"), so the agent hears some of it.
const TALK: Duration = Duration::from_secs(4);
const AGENTS: usize = 2;

/// What the trunk does with a number, by its last digit (tests/sip/README.md, "The mix").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Behaviour {
    Human,
    Machine,
    Busy,
    NoAnswer,
}

impl Behaviour {
    fn of(number: &str) -> Behaviour {
        match number.bytes().last() {
            Some(b'0'..=b'3') => Behaviour::Human,
            Some(b'4' | b'5') => Behaviour::Machine,
            Some(b'6' | b'7') => Behaviour::Busy,
            _ => Behaviour::NoAnswer,
        }
    }

    /// The word SIPp logs for it (`call N behaviour=WORD`).
    fn logged(self) -> &'static str {
        match self {
            Behaviour::Human => "human",
            Behaviour::Machine => "machine",
            Behaviour::Busy => "busy",
            Behaviour::NoAnswer => "no_answer",
        }
    }
}

/// The generated portfolio with one landline each (consent given), in Atlanta (open at
/// `START`), no holds, numbers ending in the digits that pick each behaviour.
fn portfolio(run: &str) -> Vec<Account> {
    let since: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    procs::portfolio(run, ACCOUNTS)
        .into_iter()
        .enumerate()
        .map(|(i, mut a)| {
            a.holds.clear();
            a.blackouts.clear();
            a.known_zone = "America/New_York".into();
            let person = &mut a.persons[0];
            person.phones.truncate(1);
            let phone = &mut person.phones[0];
            phone.number = format!("+1404555{:04}", 100 + i);
            phone.kind = PhoneKind::Landline;
            phone.consent_automated = true;
            phone.consent_source = "credit application".into();
            phone.consent_at = Some(since);
            phone.consent_revoked_at = None;
            phone.employer_prohibits = false;
            for addr in &mut person.addresses {
                addr.zip = "30303".into();
                addr.state = "GA".into();
                addr.country = "US".into();
            }
            a
        })
        .collect()
}

/// dialerd's TOML: the SIP carrier on the trunk at `trunk_port`, its clock from `START` at
/// real speed, bridged calls recorded under `dir`.
fn sip_config(dir: &Path, trunk_port: u16) -> PathBuf {
    let path = dir.join("dialerd.toml");
    let text = format!(
        r#"
[carrier]
kind = "sip"
bind = "127.0.0.1:0"
ring_timeout_s = 15
clock_start = "{START}"

[[carrier.trunks]]
name = "sipp"
uri = "sip:127.0.0.1:{trunk_port}"

[carrier.recording]
dir = "{}"
"#,
        dir.join("recordings").display()
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

/// What an agent sent for one call.
#[derive(Debug, Clone)]
struct Sent {
    agent: String,
    call_id: String,
    /// The ledger's code of the disposition (RPC, PTP, NO_CONTACT).
    code: String,
}

/// What the agents did: per account, the disposition sent; the calls confirmed saved; any
/// command the dialer refused.
#[derive(Debug, Default)]
struct Worked {
    sent: HashMap<String, Sent>,
    saved: HashSet<String>,
    rejected: Vec<String>,
}

/// The `k`-th connected call's disposition: a right-party contact, a promise to pay on the
/// first debt of the call, or no contact, in turn.
fn disposition(k: u32, pop: &pb::ScreenPop) -> (pb::Disposition, &'static str) {
    match k % 3 {
        0 => (
            pb::Disposition {
                code: pb::DispositionCode::RightPartyContact as i32,
                ..Default::default()
            },
            "RPC",
        ),
        1 => (
            pb::Disposition {
                code: pb::DispositionCode::PromiseToPay as i32,
                promise: Some(pb::PromiseTerms {
                    debt_id: pop.call_debt_ids.first().cloned().unwrap_or_default(),
                    amount_minor: 5_000,
                    currency: "USD".into(),
                    due_date: "2026-12-15".into(),
                }),
                ..Default::default()
            },
            "PTP",
        ),
        _ => (
            pb::Disposition {
                code: pb::DispositionCode::NoContact as i32,
                ..Default::default()
            },
            "NO_CONTACT",
        ),
    }
}

/// An agent at its softphone: ready, talks [`TALK`] on each connected call, then
/// dispositions it (the dialer hangs up and frees the seat).
fn work(mut phone: Softphone, worked: Arc<Mutex<Worked>>, calls: Arc<AtomicU32>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let agent = phone.agent.clone();
        phone.send(C::Ready(pb::Ready {})).await;
        let mut pops: HashMap<String, pb::ScreenPop> = HashMap::new();
        let mut due: std::collections::VecDeque<(Instant, pb::DispositionCall)> =
            Default::default();
        loop {
            let wake = due.front().map(|(t, _)| *t);
            tokio::select! {
                m = phone.rx.message() => {
                    let Ok(Some(m)) = m else { return };
                    match m.event {
                        Some(Event::Offered(o)) => {
                            pops.insert(o.call_id.clone(), o.screen_pop.unwrap_or_default());
                        }
                        Some(Event::Connected(c)) => {
                            let pop = pops.get(&c.call_id).cloned().unwrap_or_default();
                            let k = calls.fetch_add(1, Ordering::Relaxed);
                            let (d, code) = disposition(k, &pop);
                            worked.lock().unwrap().sent.insert(
                                pop.account_id.clone(),
                                Sent {
                                    agent: agent.clone(),
                                    call_id: c.call_id.clone(),
                                    code: code.into(),
                                },
                            );
                            due.push_back((
                                Instant::now() + TALK,
                                pb::DispositionCall {
                                    call_id: c.call_id,
                                    disposition: Some(d),
                                },
                            ));
                        }
                        Some(Event::Saved(s)) => {
                            worked.lock().unwrap().saved.insert(s.call_id);
                        }
                        Some(Event::Rejected(r)) => {
                            worked.lock().unwrap().rejected.push(format!("{agent}: {r:?}"));
                        }
                        _ => {}
                    }
                }
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    if let Some((_, d)) = due.pop_front() {
                        phone.send(C::Disposition(d)).await;
                    }
                }
            }
        }
    })
}

/// What an agent's softphone heard, second by second (mean absolute amplitude), over all its
/// calls: the nailed-up leg is one call for the shift, silent between bridges.
fn heard_by_second(agent: &Baresip) -> Vec<f64> {
    agent
        .recordings()
        .iter()
        .filter_map(|r| testpeers::read_wav(&r.heard).ok())
        .flat_map(|wav| {
            let second = (wav.sample_rate as usize * usize::from(wav.channels)).max(1);
            wav.samples
                .chunks(second)
                .map(testpeers::mean_abs)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// SIPp's calls from its log: call number -> (number dialed, behaviour logged).
fn sipp_calls(result: &SippResult) -> HashMap<u64, (String, Option<String>)> {
    let mut calls: HashMap<u64, (String, Option<String>)> = HashMap::new();
    for line in result.log.lines() {
        let mut words = line.split_whitespace();
        let (Some("call"), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let rest: Vec<&str> = words.collect();
        if let Some(to) = rest.iter().find_map(|w| w.strip_prefix("to=")) {
            assert!(
                calls.insert(n, (to.to_string(), None)).is_none(),
                "call {n} invited twice:\n{}",
                result.log
            );
        } else if let Some(b) = rest.iter().find_map(|w| w.strip_prefix("behaviour=")) {
            let call = calls.get_mut(&n).expect("behaviour after the invite");
            assert!(call.1.is_none(), "call {n}: two behaviours");
            call.1 = Some(b.to_string());
        }
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_on_a_sip_trunk_records_every_outcome_once_as_the_trunk_played_it() {
    require_tools();
    let began = std::time::Instant::now();

    // The ledger with the portfolio.
    let db = common::TestDb::postgres().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let run = format!("S{}-", &id[..8]);
    let campaign = format!("sip-{}", &id[..8]);
    let ledgerd = procs::ledgerd(&db).await;
    let accounts = portfolio(&run);
    let mut crm = procs::ledger_client(ledgerd.addr, Role::Crm).await;
    procs::load(&mut crm, &accounts).await;
    let number_of: HashMap<String, String> = accounts
        .iter()
        .map(|a| (a.account_id.clone(), a.persons[0].phones[0].number.clone()))
        .collect();

    // The trunk, the agents' softphones, and dialerd on the trunk.
    let trunk_port = free_udp_port();
    let mut trunk = Sipp::builder("mix")
        .sip_port(trunk_port)
        .calls(ACCOUNTS as u64)
        .spawn()
        .expect("sipp");
    let softphones: Vec<Baresip> = (0..AGENTS)
        .map(|_| Baresip::agent(free_udp_port(), &fixtures().agent_voice.wav))
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let config = sip_config(dir.path(), trunk_port);
    let envs: Vec<(&str, String)> =
        procs::dialerd_env(&db, ledgerd.addr, &format!("sip-{}", &id[..8]), START)
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "DIALER_CARRIER_SCENARIO" | "DIALER_CARRIER_SPEED"))
            .collect();
    let mut dialerd = procs::dialerd_with_config(&envs, &config).await;

    // A progressive campaign (one line per ready agent: no live answer waits for an agent),
    // ringing the 15 s minimum.
    let mut campaigns = procs::manager(dialerd.addr).await;
    let mut spec = harness::campaign(&campaign, pb::PacingMode::Progressive);
    if let Some(c) = spec.campaign.as_mut() {
        c.ring_timeout_s = Some(15.0);
    }
    campaigns.create_campaign(spec).await.expect("created");
    let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    let queued = procs::add_accounts(&mut campaigns, &campaign, &ids).await;
    assert_eq!(queued as usize, ACCOUNTS, "every account queued");

    // The agents log in with their softphones: dialerd calls each (nailed-up leg).
    let worked = Arc::new(Mutex::new(Worked::default()));
    let calls = Arc::new(AtomicU32::new(0));
    let mut team = Vec::new();
    for (i, softphone) in softphones.iter().enumerate() {
        let phone = Softphone::login_at(
            dialerd.addr,
            &format!("sip-agent-{i}"),
            &campaign,
            &softphone.uri(),
        )
        .await
        .expect("login");
        let up = softphone
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(20))
            .await;
        assert!(
            up.is_some(),
            "the leg to agent {i} came up: {}",
            softphone.log()
        );
        team.push(work(phone, worked.clone(), calls.clone()));
    }
    harness::start(&mut campaigns, &campaign).await;

    // SIPp takes its calls; then every outcome reaches the ledger.
    let sipp = trunk.wait(PATIENCE).await;
    let deadline = Instant::now() + PATIENCE;
    let mut recorded = procs::outcomes(&mut crm, &campaign).await;
    while recorded.len() < ACCOUNTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        recorded = procs::outcomes(&mut crm, &campaign).await;
    }
    let figures = harness::figures_until(&mut campaigns, &campaign, |_| true).await;
    harness::stop(&mut campaigns, &campaign).await;
    for t in &team {
        t.abort();
    }
    let stderr = dialerd.stderr.clone();
    assert!(dialerd.terminate().await.success(), "dialerd exits cleanly");
    // Nothing more arrives after the stop (the relay had drained: a final read).
    let recorded_after = procs::outcomes(&mut crm, &campaign).await;
    let logs = || stderr.lock().unwrap().join("\n");

    // SIPp: every call ran its scenario to the end, one INVITE per account's number.
    assert!(sipp.success, "{sipp}\ndialerd:\n{}", logs());
    let sipp_calls = sipp_calls(&sipp);
    assert_eq!(sipp_calls.len(), ACCOUNTS, "{sipp}");
    let mut by_number: HashMap<&str, &str> = HashMap::new();
    for (to, behaviour) in sipp_calls.values() {
        let behaviour = behaviour.as_deref().expect("each call logs its behaviour");
        assert_eq!(
            behaviour,
            Behaviour::of(to).logged(),
            "{to}: the mix's rule"
        );
        assert!(
            by_number.insert(to, behaviour).is_none(),
            "{to} dialed twice:\n{}",
            sipp.log
        );
    }
    for (account, number) in &number_of {
        assert!(
            by_number.contains_key(number.as_str()),
            "{account} ({number}) never dialed:\n{}",
            sipp.log
        );
    }

    // The ledger: one outcome per call SIPp saw, each account once, none after the stop.
    assert_eq!(
        recorded.len(),
        sipp_calls.len(),
        "outcomes in the ledger: {recorded:#?}\ndialerd:\n{}",
        logs()
    );
    assert_eq!(
        recorded_after.len(),
        recorded.len(),
        "outcomes after the stop"
    );
    let by_account: HashMap<&str, &ContactOutcome> = recorded
        .iter()
        .map(|o| (o.account_id.as_str(), o))
        .collect();
    assert_eq!(
        by_account.len(),
        ACCOUNTS,
        "each account once: {recorded:#?}"
    );

    // Each outcome is what SIPp did with the number.
    let worked = std::mem::take(&mut *worked.lock().unwrap());
    assert!(worked.rejected.is_empty(), "{:?}", worked.rejected);
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut abandoned = 0;
    for (account, number) in &number_of {
        let o = by_account[account.as_str()];
        assert_eq!(&o.number, number);
        let behaviour = Behaviour::of(number);
        let what = format!("{account} ({number}, {behaviour:?}): {o:#?}");
        match behaviour {
            Behaviour::Busy => {
                assert_eq!(o.outcome, Outcome::Busy, "{what}");
                assert_eq!(o.amd, AmdVerdict::NotRun, "{what}");
            }
            Behaviour::NoAnswer => {
                assert_eq!(o.outcome, Outcome::NoAnswer, "{what}");
                assert_eq!(o.amd, AmdVerdict::NotRun, "{what}");
                assert!(o.ring_ms >= 15_000, "rang the minimum: {what}");
            }
            Behaviour::Machine => {
                assert_eq!(o.outcome, Outcome::Machine, "{what}");
                assert_eq!(o.amd, AmdVerdict::Machine, "{what}");
                assert!(o.agent_id.is_empty(), "{what}");
            }
            Behaviour::Human => {
                assert!(
                    matches!(o.amd, AmdVerdict::Human | AmdVerdict::NotSure),
                    "{what}"
                );
                match worked.sent.get(account) {
                    Some(sent) => {
                        // Connected to an agent, recorded with the agent's disposition.
                        assert_eq!(o.agent_id, sent.agent, "{what}");
                        assert_eq!(o.disposition, sent.code, "{what}");
                        let want = if sent.code == "NO_CONTACT" {
                            Outcome::Answered
                        } else {
                            Outcome::Conversation
                        };
                        assert_eq!(o.outcome, want, "{what}");
                        assert!(o.talk_ms > 0, "{what}");
                        assert!(!o.recording_ref.is_empty(), "recorded: {what}");
                        assert!(
                            worked.saved.contains(&sent.call_id),
                            "disposition confirmed saved: {what}"
                        );
                    }
                    None => {
                        // No agent free within the deadline: the safe-harbor path.
                        assert_eq!(o.outcome, Outcome::Abandoned, "{what}");
                        abandoned += 1;
                    }
                }
            }
        }
        *seen.entry(behaviour.logged()).or_default() += 1;
    }
    assert_eq!(
        worked.sent.len() + abandoned,
        seen.get("human").copied().unwrap_or(0) as usize
    );
    assert!(
        !worked.sent.is_empty(),
        "at least one person reached an agent"
    );

    // The agents heard the debtors: speech in what baresip recorded on each leg that took a
    // call.
    let mut heard = Vec::new();
    for (i, softphone) in softphones.iter().enumerate() {
        let agent = format!("sip-agent-{i}");
        let bridged = worked.sent.values().filter(|s| s.agent == agent).count();
        let seconds = heard_by_second(softphone);
        let level = seconds.iter().copied().fold(0.0, f64::max);
        let loud = seconds.iter().filter(|l| **l > 200.0).count();
        heard.push((agent.clone(), bridged, seconds.len(), loud, level.round()));
        // Each bridge brings seconds of the debtor's speech (well above 200; silence is
        // about 0, line noise tens).
        assert!(
            loud >= bridged && (bridged == 0 || level > 200.0),
            "{agent} took {bridged} calls and heard {loud} loud seconds (loudest {level:.0}): \
             {seconds:?}\n{}",
            softphone.log()
        );
    }

    let mut codes: HashMap<&str, u32> = HashMap::new();
    for s in worked.sent.values() {
        *codes.entry(s.code.as_str()).or_default() += 1;
    }
    println!(
        "sip campaign: {} calls; by behaviour {seen:?}; connected {} {codes:?}, abandoned \
         {abandoned}; agents (calls, seconds recorded, seconds above 200, loudest) {heard:?}; figures: dials {}, \
         live {}, abandoned {}; {:.1} s",
        sipp_calls.len(),
        worked.sent.len(),
        figures.dials,
        figures.live_answers,
        figures.abandoned,
        began.elapsed().as_secs_f64()
    );
    db.cleanup().await;
}
