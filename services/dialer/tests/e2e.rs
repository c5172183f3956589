//! The dialer service's acceptance, end to end and through gRPC only: real `ledgerd` and
//! `dialerd` processes on a fresh PostgreSQL database and the real Redis. A CRM loads 1,000
//! accounts, a manager creates and starts a predictive campaign on the simulated carrier, ten
//! agents take calls and disposition them (some as cease requests), the CRM sets a cease in
//! the middle, `dialerd` is killed (SIGKILL) and restarted, the campaign is stopped and the
//! service shut down. The ledger must then hold every attempt exactly once, none outside the
//! calling window in any candidate zone, none past a limit, none that could have seen a cease,
//! every disposition the dialer confirmed, and no account called twice at once.
//!
//! Whether a call came after the CRM's cease is decided by the ledger's own order, not by
//! clocks: each outcome carries the change seq its pre-dial check was confirmed against, and a
//! call is lawful only if that seq is below the cease's. So the test holds on a loaded machine.

mod common;
mod harness;
mod procs;

use std::collections::{HashMap, HashSet};

use auth::Role;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use dialer::account::AccountView;
use harness::{START, figures_until};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use procs::{assert_dispositions_kept, dialer_now, dialerd, dialerd_env, manager};

/// Every seventh call a cease request.
fn every_seventh_a_cease(k: u32) -> pb::DispositionCode {
    if k % 7 == 3 {
        pb::DispositionCode::CeaseRequest
    } else {
        pb::DispositionCode::RightPartyContact
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_manager_and_agents_through_a_dialerd_crash() {
    let (db, mut ledgerd, mut crm, accounts, campaign) = procs::stage('E', "e2e", 1000).await;

    // A manager creates, fills and starts a predictive campaign.
    let mut dialerd1 = dialerd(&dialerd_env(&db, ledgerd.addr, "e2e-dialer-1", START)).await;
    let mut campaigns = manager(dialerd1.addr).await;
    let queued = procs::create_campaign(&mut campaigns, &campaign, &accounts).await;
    assert!(queued > 900, "{queued} of 1000 queued");
    let team1 = procs::team(
        dialerd1.addr,
        &campaign,
        "e2e-agent",
        10,
        every_seventh_a_cease,
    )
    .await;
    harness::start(&mut campaigns, &campaign).await;
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 60).await;

    // The CRM sets a cease on twenty accounts the campaign has not reached yet, spread over
    // the portfolio (some of them would be called in the minutes that follow). The cease is
    // dated on the dialer's clock (the CRM's world here); a hold counts from receipt anyway.
    let reached: HashSet<String> = procs::outcomes(&mut crm, &campaign)
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
    let since =
        Timestamp::from_millisecond(dialer_now(&mut campaigns, &campaign).await).expect("instant");
    for account in &ceased {
        crm.set_hold(lpb::SetHoldRequest {
            hold: Some(lpb::Hold {
                hold_id: format!("{account}-cease"),
                account_id: account.clone(),
                kind: lpb::HoldKind::Cease as i32,
                since: Some(ledger_api::wire::ts_to(since)),
                set_by: "crm:letter".into(),
                reason: "written cease".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .expect("cease set");
    }

    // dialerd dies mid-campaign, calls in flight, and comes back on the same database, its
    // clock set a minute after where the first one's had got (a restart resumes the time; a
    // clock behind the history it recorded would stop dialing).
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 150).await;
    let resume_at = dialer_now(&mut campaigns, &campaign).await + 60_000;
    dialerd1.kill().await;
    team1.abort();
    let clock = Timestamp::from_millisecond(resume_at)
        .expect("instant")
        .to_string();
    let mut dialerd2 = dialerd(&dialerd_env(&db, ledgerd.addr, "e2e-dialer-1", &clock)).await;
    let mut campaigns = manager(dialerd2.addr).await;
    let team2 = procs::team(
        dialerd2.addr,
        &campaign,
        "e2e-agent",
        10,
        every_seventh_a_cease,
    )
    .await;
    let resumed = figures_until(&mut campaigns, &campaign, |f| f.dials >= 60).await;
    assert_eq!(resumed.state, pb::CampaignState::Running as i32);
    harness::stop(&mut campaigns, &campaign).await;
    let after = figures_until(&mut campaigns, &campaign, |_| true).await;
    drop(campaigns);
    team2.abort();
    // A graceful stop flushes the outbox.
    let status = dialerd2.terminate().await;
    assert!(status.success(), "{status:?}");

    // The ledger holds every attempt exactly once.
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    assert!(
        recorded.len() as u64 >= 150 + after.dials,
        "{}",
        recorded.len()
    );
    assert_eq!(
        procs::outbox_left(&db.dialer_url).await,
        0,
        "nothing left in the outbox"
    );

    // Every disposition the dialer confirmed saved is in the ledger, across the crash.
    let (t1, t2) = (team1.take_tally(), team2.take_tally());
    assert!(
        t1.saved_count() + t2.saved_count() > 10,
        "agents took calls"
    );
    assert_dispositions_kept(&[&t1, &t2], &recorded);

    // Where the ledger put each CRM cease in its order of changes.
    let mut dialer_role = procs::ledger_client(ledgerd.addr, Role::Dialer).await;
    let check = dialer_role
        .check_accounts(lpb::CheckAccountsRequest {
            accounts: ceased
                .iter()
                .map(|a| lpb::AccountCursor {
                    account_id: a.clone(),
                    after_seq: 0,
                })
                .collect(),
        })
        .await
        .expect("check")
        .into_inner();
    let cease_seq: HashMap<String, i64> = check
        .changes
        .iter()
        .filter(|c| c.kind == lpb::ChangeKind::Hold as i32 && c.ref_id.ends_with("-cease"))
        .map(|c| (c.account_id.clone(), c.seq))
        .collect();
    assert_eq!(cease_seq.len(), ceased.len());

    let by_id: HashMap<&str, &ledger_api::domain::Account> = accounts
        .iter()
        .map(|a| (a.account_id.as_str(), a))
        .collect();
    let engine = compliance::Engine::builtin();
    let mut per_debt: HashMap<&str, u32> = HashMap::new();
    let mut spans: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    let mut ceases: HashMap<String, i64> = HashMap::new();
    let mut sorted: Vec<&ledger_api::domain::ContactOutcome> = recorded.iter().collect();
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
        // Every call was confirmed against the ledger before it was placed.
        assert!(o.checked_seq > 0, "{} placed unchecked", o.idempotency_key);
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
        // US-REGF-06: a call confirmed after the CRM's cease was committed would have seen it.
        if let Some(&seq) = cease_seq.get(&o.account_id) {
            assert!(
                o.checked_seq < seq,
                "called after the CRM's cease (checked at {}, cease at {seq})",
                o.checked_seq
            );
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
    // Busy, no answer and failed calls reached nobody; a right-party contact the consumer.
    // An unanswered call rang at least 15 s (US-TCPA-02) on the network's clock, which is the
    // dialer's: the recorded ring time is the network's even at 20 times real time.
    for o in &recorded {
        if o.outcome == compliance::model::Outcome::NoAnswer && o.disposition != "DIALER_LOST" {
            assert!(
                o.ring_ms >= 15_000,
                "no answer after {} ms of ringing",
                o.ring_ms
            );
        }
        match o.outcome {
            compliance::model::Outcome::Busy
            | compliance::model::Outcome::NoAnswer
            | compliance::model::Outcome::Failed => {
                assert_eq!(o.party, ledger_api::domain::Party::Nobody)
            }
            compliance::model::Outcome::Conversation => {
                assert_eq!(o.party, ledger_api::domain::Party::Consumer)
            }
            _ => {}
        }
    }
    eprintln!(
        "{} outcomes ({} recorded provisionally after the kill), {} cease dispositions, {} of {} \
         CRM-ceased accounts called before their cease, {} dispositions confirmed; pre-dial lag \
         p99 {} us, max {} us",
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
        ceased.len(),
        t1.saved_count() + t2.saved_count(),
        after.pre_dial_lag_p99_us,
        after.pre_dial_lag_max_us,
    );
    // Never two calls to one account at once.
    for (account, mut s) in spans {
        s.sort();
        for w in s.windows(2) {
            assert!(w[0].1 <= w[1].0, "{account} called twice at once");
        }
    }

    ledgerd.kill().await;
    db.cleanup().await;
}
