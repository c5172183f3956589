//! A takeover resumes the campaign's pacing state. Two real `dialerd` replicas on one
//! PostgreSQL and Redis with a real `ledgerd` run a predictive campaign on a network where
//! few dials reach a person (scenario S6, about 8 % live answers, far from the pacer's
//! cautious prior of 35 %). The holder learns that answer rate and stores its pacer's state;
//! it is SIGKILLed, and the replica that takes the campaign over starts its pacer from what
//! the dead one learned (the figures say `pacing_state_restored` and carry the learned rate),
//! not from the prior. Then that replica is restarted cleanly: it stores its pacer's state on
//! its way out and resumes it again.

mod common;
mod harness;
mod procs;

use std::net::SocketAddr;
use std::time::Duration;

use collections_proto::dialer_v1 as pb;
use harness::{PATIENCE, START, figures_until};
use procs::{dialerd, dialerd_env, held_by_other, manager, position};

const REPLICAS: [&str; 2] = ["pr-1", "pr-2"];
/// The predictive pacer's prior answer rate (`PredictiveConfig::prior_live`).
const PRIOR: f64 = 0.35;

fn env(db: &common::TestDb, ledger: SocketAddr, id: &str) -> Vec<(&'static str, String)> {
    let mut e: Vec<(&'static str, String)> = dialerd_env(db, ledger, id, START)
        .into_iter()
        .filter(|(k, _)| *k != "DIALER_CARRIER_SCENARIO")
        .collect();
    e.push(("DIALER_CARRIER_SCENARIO", "S6".into()));
    e.push(("DIALER_REPLICA_CLAIM_TTL_S", "3".into()));
    e.push(("DIALER_CAMPAIGN_LEASE_TTL_S", "3".into()));
    e.push(("DIALER_CAMPAIGN_LEASE_SCAN_MS", "500".into()));
    e
}

/// (holder, token, when its pacing state was stored (µs), the token it was stored under).
async fn lease_and_state(sql: &mut sqlx::PgConnection, campaign: &str) -> (String, i64, i64, i64) {
    sqlx::query_as(
        "SELECT lease_owner, lease_token, pacing_saved_at, pacing_token FROM dialer_campaigns \
         WHERE campaign_id = $1",
    )
    .bind(campaign)
    .fetch_one(sql)
    .await
    .expect("campaign row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_holder_resumes_the_pacing_state_the_dead_one_learned() {
    let (db, mut ledgerd, _crm, accounts, campaign) = procs::stage('P', "pace", 600).await;
    let (mut reps, mut managers) =
        procs::replicas(&REPLICAS, |id| env(&db, ledgerd.addr, id)).await;
    procs::create_campaign(&mut managers[0], &campaign, &accounts).await;
    let addrs: Vec<SocketAddr> = reps.iter().map(|p| p.addr).collect();
    let team = procs::roaming_team(&addrs, &campaign, &format!("{campaign}-a"), 4, |_| {
        pb::DispositionCode::RightPartyContact
    })
    .await;
    harness::start(&mut managers[0], &campaign).await;
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("dialer database");

    // The holder learns an answer rate far under the prior.
    let (first, first_token) = held_by_other(&mut sql, &campaign, None, 0).await;
    let h = position(&REPLICAS, &first);
    let learned = figures_until(&mut managers[h], &campaign, |f| {
        f.dials >= 100 && f.pacing_answer_rate < 0.15
    })
    .await;
    assert!(
        !learned.pacing_state_restored,
        "the first holder started cold"
    );
    // The other replica's standby pacer knows nothing: its prior.
    let standby = figures_until(&mut managers[1 - h], &campaign, |_| true).await;
    assert!(
        (standby.pacing_answer_rate - PRIOR).abs() < 1e-9,
        "{standby:?}"
    );
    assert!(!standby.pacing_state_restored);

    // Its state is stored under its lease token; SIGKILL it right after a fresh store.
    let (_, _, before, _) = lease_and_state(&mut sql, &campaign).await;
    let (_, _, saved, token) = tokio::time::timeout(PATIENCE, async {
        loop {
            let row = lease_and_state(&mut sql, &campaign).await;
            if row.2 > before && row.2 > 0 {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the holder stores its pacing state every few seconds");
    assert!(
        saved > 0 && token == first_token,
        "stored under the holder's token"
    );
    let at_kill = figures_until(&mut managers[h], &campaign, |_| true).await;
    reps[h].kill().await;

    // The other replica takes over and its pacer starts from what the dead one learned.
    let (next, next_token) = held_by_other(&mut sql, &campaign, Some(&first), first_token).await;
    let n = position(&REPLICAS, &next);
    let resumed = figures_until(&mut managers[n], &campaign, |f| f.pacing_state_restored).await;
    println!(
        "pacing answer rate: holder {:.3} at its SIGKILL, new holder {:.3} on taking over \
         (prior {PRIOR}), dials so far {}",
        at_kill.pacing_answer_rate, resumed.pacing_answer_rate, resumed.dials
    );
    assert!(
        resumed.pacing_answer_rate < PRIOR - 0.1,
        "the new holder's pacer starts from the learned rate, not the prior: {resumed:?}"
    );
    assert!(
        (resumed.pacing_answer_rate - at_kill.pacing_answer_rate).abs() < 0.05,
        "{} vs {}",
        resumed.pacing_answer_rate,
        at_kill.pacing_answer_rate
    );
    // It goes on storing its own state, under its own token.
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (_, _, _, t) = lease_and_state(&mut sql, &campaign).await;
            if t == next_token {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the new holder stores its pacing state");

    // A clean restart of that replica resumes it too, from the state it stored on its way
    // out (after SIGTERM, not its last periodic save up to 5 s before).
    let terminated_at = jiff::Timestamp::now().as_microsecond();
    assert!(reps[n].terminate().await.success());
    let (_, _, saved_at_end, t) = lease_and_state(&mut sql, &campaign).await;
    assert!(
        saved_at_end >= terminated_at && t == next_token,
        "the pacing state is stored at shutdown: saved at {saved_at_end} µs, SIGTERM at \
         {terminated_at} µs"
    );
    reps[n] = dialerd(&env(&db, ledgerd.addr, &next)).await;
    let mut again = manager(reps[n].addr).await;
    held_by_other(&mut sql, &campaign, None, next_token).await;
    let restarted = figures_until(&mut again, &campaign, |f| f.pacing_state_restored).await;
    assert!(
        restarted.pacing_answer_rate < PRIOR - 0.1,
        "restarted: {}",
        restarted.pacing_answer_rate
    );

    harness::stop(&mut again, &campaign).await;
    team.abort();
    drop((managers, again));
    assert!(reps[n].terminate().await.success());
    ledgerd.kill().await;
    db.cleanup().await;
}
