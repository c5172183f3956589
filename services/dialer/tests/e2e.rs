//! The dialer service's acceptance, end to end and through gRPC only: real `ledgerd` and
//! `dialerd` processes on a fresh PostgreSQL database and the real Redis. A CRM loads 1,000
//! accounts, a manager creates and starts a predictive campaign on the simulated carrier, ten
//! agents take calls and disposition them (some as cease requests), the CRM sets a cease in
//! the middle, `dialerd` is killed (SIGKILL) and restarted, the campaign is stopped and the
//! service shut down. The ledger must then hold every attempt exactly once, none outside the
//! calling window in any candidate zone, none past a limit, none after a cease, and no
//! account called twice at once.

mod common;
mod harness;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use auth::Role;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use dialer::account::AccountView;
use harness::{Bearer, Campaigns, PATIENCE, START, Softphone, figures_until, token};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use pb::campaign_service_client::CampaignServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A service process and the address it printed.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

async fn spawn(bin: &PathBuf, envs: &[(&str, String)], ready_prefix: &str) -> Proc {
    let mut cmd = Command::new(bin);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("service starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(PATIENCE, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("the service printed its address");
            if let Some(a) = line.strip_prefix(ready_prefix) {
                return a.trim().parse::<SocketAddr>().expect("an address");
            }
        }
    })
    .await
    .expect("listening in time");
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc { child, addr }
}

/// `ledgerd`, built next to `dialerd` by a workspace build; built here when missing.
fn ledgerd() -> PathBuf {
    let dialerd = PathBuf::from(env!("CARGO_BIN_EXE_dialerd"));
    let path = dialerd.with_file_name(format!("ledgerd{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "ledger", "--bin", "ledgerd"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "ledgerd builds");
    }
    path
}

/// The generated portfolio with ids unique to this run (the attempt counters in Redis
/// outlive a test run).
fn portfolio(run: &str, n: usize) -> Vec<ledger::domain::Account> {
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    dialer::portfolio::accounts(n, 21, since)
        .into_iter()
        .map(|mut a| {
            a.account_id = format!("{run}{}", a.account_id);
            for p in &mut a.persons {
                p.person_id = format!("{run}{}", p.person_id);
            }
            for d in &mut a.debts {
                d.debt_id = format!("{run}{}", d.debt_id);
            }
            for h in &mut a.holds {
                h.hold_id = format!("{run}{}", h.hold_id);
                h.account_id = a.account_id.clone();
                h.debt_id = format!("{run}{}", h.debt_id);
            }
            a
        })
        .collect()
}

fn dialerd_env(db: &common::TestDb, ledger: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("DIALER_DATABASE_URL", db.dialer_url.clone()),
        ("DIALER_REDIS_URL", harness::redis_url()),
        ("DIALER_LEDGER_URL", format!("http://{ledger}")),
        ("DIALER_LEDGER_JWT_HS256_KEY", common::KEY.into()),
        ("DIALER_JWT_HS256_KEY", harness::KEY.into()),
        ("DIALER_LISTEN", "127.0.0.1:0".into()),
        ("DIALER_REPLICA_ID", "e2e-dialer-1".into()),
        ("DIALER_CARRIER_SCENARIO", "S2".into()),
        ("DIALER_CARRIER_SPEED", "20".into()),
        ("DIALER_CARRIER_CLOCK_START", START.into()),
        ("DIALER_SHUTDOWN_GRACE_S", "30".into()),
    ]
}

async fn manager(addr: SocketAddr) -> Campaigns {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    CampaignServiceClient::with_interceptor(ch, Bearer::new(&token("e2e-manager", Role::Manager)))
}

/// Ten softphones that disposition every connected call at once; every seventh as a cease
/// request. Returns the tasks and the call count.
async fn team(addr: SocketAddr, id: &str) -> (Vec<tokio::task::JoinHandle<()>>, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let mut phone = Softphone::login_to(addr, &format!("e2e-agent-{i}"), id)
            .await
            .expect("login");
        let n = calls.clone();
        tasks.push(tokio::spawn(async move {
            phone.send(C::Ready(pb::Ready {})).await;
            while let Ok(Some(m)) = phone.rx.message().await {
                if let Some(Event::Connected(c)) = m.event {
                    let k = n.fetch_add(1, Ordering::Relaxed);
                    let code = if k % 7 == 3 {
                        pb::DispositionCode::CeaseRequest
                    } else {
                        pb::DispositionCode::RightPartyContact
                    };
                    phone
                        .send(C::Disposition(pb::DispositionCall {
                            call_id: c.call_id,
                            disposition: Some(pb::Disposition {
                                code: code as i32,
                                ..Default::default()
                            }),
                        }))
                        .await;
                }
            }
        }));
    }
    (tasks, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_manager_and_agents_through_a_dialerd_crash() {
    let db = common::TestDb::postgres().await;
    let run = format!("E{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let campaign = format!("e2e-{}", &run[1..9]);

    let mut ledgerd = spawn(
        &ledgerd(),
        &[
            ("LEDGER_DATABASE_URL", db.ledger_url.clone()),
            ("LEDGER_LISTEN", "127.0.0.1:0".into()),
            ("LEDGER_JWT_HS256_KEY", common::KEY.into()),
            // The ledger stays on the wall clock: the dialer's (fast) clock starts at START,
            // days before any run, so no outcome is from the ledger's future.
        ],
        "ledgerd listening on ",
    )
    .await;
    let ledger_uri = format!("http://{}", ledgerd.addr);

    // The CRM loads the portfolio.
    let accounts = portfolio(&run, 1000);
    let mut crm = {
        let ch = tonic::transport::Endpoint::from_shared(ledger_uri.clone())
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        lpb::ledger_service_client::LedgerServiceClient::with_interceptor(
            ch,
            dialer::ledger_link::BearerAuth(dialer::ledger_link::Token::fixed(common::jwt(
                Role::Crm,
            ))),
        )
    };
    common::upsert(
        &mut crm,
        accounts
            .iter()
            .cloned()
            .map(ledger::grpc::account_out)
            .collect(),
    )
    .await;

    // A manager creates, fills and starts a predictive campaign.
    let mut dialerd = spawn(
        &PathBuf::from(env!("CARGO_BIN_EXE_dialerd")),
        &dialerd_env(&db, ledgerd.addr),
        "dialerd listening on ",
    )
    .await;
    let mut campaigns = manager(dialerd.addr).await;
    campaigns
        .create_campaign(harness::campaign(&campaign, pb::PacingMode::Predictive))
        .await
        .expect("created");
    let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    let mut queued = 0;
    for chunk in ids.chunks(250) {
        queued += campaigns
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: campaign.clone(),
                account_ids: chunk.to_vec(),
                filter: None,
                page_token: String::new(),
            })
            .await
            .expect("added")
            .into_inner()
            .queued;
    }
    assert!(queued > 900, "{queued} of 1000 queued");
    let (agents, connected) = team(dialerd.addr, &campaign).await;
    campaigns
        .start_campaign(pb::StartCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await
        .expect("started");
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 60).await;

    // The CRM sets a cease on twenty accounts the campaign has not reached yet, spread over
    // the portfolio (some of them would be called in the minutes that follow).
    let reached: HashSet<String> = outcomes(&mut crm, &campaign)
        .await
        .into_iter()
        .map(|o| o.account_id)
        .collect();
    let ceased: HashSet<String> = accounts
        .iter()
        .filter(|a| a.holds.is_empty() && !reached.contains(&a.account_id))
        .step_by(37)
        .take(20)
        .map(|a| a.account_id.clone())
        .collect();
    // The CRM's world runs on the dialer's clock (from START, not the wall clock): a cease
    // effective "now" there; one dated by the wall clock would not be in force yet.
    let cease_since = figures_until(&mut campaigns, &campaign, |_| true)
        .await
        .at
        .expect("figures carry their instant");
    for account in &ceased {
        crm.set_hold(lpb::SetHoldRequest {
            hold: Some(lpb::Hold {
                hold_id: format!("{account}-cease"),
                account_id: account.clone(),
                kind: lpb::HoldKind::Cease as i32,
                since: Some(cease_since),
                set_by: "crm:letter".into(),
                reason: "written cease".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("cease set");
    }
    // The dialer's clock when the ceases were set (it runs from the configured start).
    let ceased_at = figures_until(&mut campaigns, &campaign, |_| true)
        .await
        .at
        .map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .expect("figures carry their instant");

    // dialerd dies mid-campaign, calls in flight, and comes back on the same database.
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 150).await;
    dialerd.child.start_kill().expect("SIGKILL");
    let _ = dialerd.child.wait().await;
    for a in agents {
        a.abort();
    }
    let before = connected.load(Ordering::Relaxed);
    let mut dialerd = spawn(
        &PathBuf::from(env!("CARGO_BIN_EXE_dialerd")),
        &dialerd_env(&db, ledgerd.addr),
        "dialerd listening on ",
    )
    .await;
    let mut campaigns = manager(dialerd.addr).await;
    let (agents, connected) = team(dialerd.addr, &campaign).await;
    let resumed = figures_until(&mut campaigns, &campaign, |f| f.dials >= 60).await;
    assert_eq!(resumed.state, pb::CampaignState::Running as i32);
    campaigns
        .stop_campaign(pb::StopCampaignRequest {
            campaign_id: campaign.clone(),
            wait: true,
        })
        .await
        .expect("stopped");
    let after = figures_until(&mut campaigns, &campaign, |_| true).await;
    assert!(
        before + connected.load(Ordering::Relaxed) > 10,
        "agents took calls"
    );
    drop(campaigns);
    for a in agents {
        a.abort();
    }
    // A graceful stop flushes the outbox.
    let pid = dialerd.child.id().expect("pid");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(PATIENCE, dialerd.child.wait())
        .await
        .expect("exits in time")
        .expect("exit status");
    assert!(status.success(), "{status:?}");

    // The ledger holds every attempt exactly once.
    let recorded = outcomes(&mut crm, &campaign).await;
    let keys: HashSet<&str> = recorded
        .iter()
        .map(|o| o.idempotency_key.as_str())
        .collect();
    assert_eq!(keys.len(), recorded.len());
    assert!(
        recorded.len() as u64 >= 150 + after.dials,
        "{}",
        recorded.len()
    );
    let mut outbox = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("dialer database");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM dialer_outbox")
        .fetch_one(&mut outbox)
        .await
        .expect("outbox count");
    assert_eq!(left, 0, "nothing left in the outbox");

    let by_id: HashMap<&str, &ledger::domain::Account> = accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a))
        .collect();
    let engine = compliance::Engine::builtin();
    let mut per_debt: HashMap<&str, u32> = HashMap::new();
    let mut spans: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    let mut ceases: HashMap<String, i64> = HashMap::new();
    let mut sorted: Vec<&ledger::domain::ContactOutcome> = recorded.iter().collect();
    sorted.sort_by_key(|o| o.started_at);
    for o in sorted {
        let a = by_id[o.account_id.as_str()];
        let at = o.started_at.as_millisecond();
        // US-REGF-01: 08:00-21:00 in every zone the consumer may be in.
        let view = AccountView {
            account: a.clone(),
            contacts: Vec::new(),
            promises: Vec::new(),
            version: 0,
        };
        let req = view.call_request(
            &o.number,
            &o.debt_ids,
            o.started_at,
            compliance::model::DialMode::Manual,
        );
        let d = engine
            .evaluate(&req, &compliance::Policy::default())
            .expect("evaluates");
        for z in &d.zones {
            let hour = o
                .started_at
                .to_zoned(TimeZone::get(&z.zone).expect("zone"))
                .hour();
            assert!((8..21).contains(&hour), "called at {hour}h in {}", z.zone);
        }
        // Holds loaded with the account and ceases set since: no call about those debts.
        for h in &a.holds {
            assert!(!o.debt_ids.contains(&h.debt_id), "called on a hold");
        }
        for debt in &o.debt_ids {
            if let Some(t) = ceases.get(debt) {
                assert!(at < *t, "called about {debt} after a cease disposition");
            }
        }
        if o.disposition == "CEASE" {
            for debt in &o.debt_ids {
                ceases.insert(debt.clone(), at);
            }
        }
        if ceased.contains(&o.account_id) {
            assert!(at <= ceased_at + 1_000, "called after the CRM's cease");
        }
        // US-REGF-08: the run is shorter than 7 days.
        if o.counts_for_regf {
            *per_debt.entry(o.debt_ids[0].as_str()).or_default() += 1;
        }
        spans
            .entry(o.account_id.as_str())
            .or_default()
            .push((at, at + o.ring_ms + o.talk_ms));
    }
    assert!(per_debt.values().all(|&n| n <= 7));
    eprintln!(
        "{} outcomes ({} recorded provisionally after the kill), {} cease dispositions, {} of {} CRM-ceased accounts called before their cease",
        recorded.len(),
        recorded
            .iter()
            .filter(|o| o.disposition == "DIALER_LOST")
            .count(),
        recorded.iter().filter(|o| o.disposition == "CEASE").count(),
        recorded
            .iter()
            .filter(|o| ceased.contains(&o.account_id))
            .count(),
        ceased.len()
    );
    // Never two calls to one account at once.
    for (account, mut s) in spans {
        s.sort();
        for w in s.windows(2) {
            assert!(w[0].1 <= w[1].0, "{account} called twice at once");
        }
    }

    let _ = ledgerd.child.start_kill();
    let _ = ledgerd.child.wait().await;
    db.cleanup().await;
}

/// Every outcome of `campaign`, in ledger domain types.
async fn outcomes(
    crm: &mut dialer::ledger_link::LedgerClient,
    campaign: &str,
) -> Vec<ledger::domain::ContactOutcome> {
    let mut out = Vec::new();
    let mut req = lpb::ListOutcomesRequest {
        campaign_id: campaign.into(),
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let r = crm
            .list_outcomes(req.clone())
            .await
            .expect("outcomes")
            .into_inner();
        out.extend(
            r.outcomes
                .into_iter()
                .map(|o| ledger::grpc::outcome_from_pb(o).expect("a valid outcome")),
        );
        if r.next_page_token.is_empty() {
            return out;
        }
        req.page_token = r.next_page_token;
    }
}
