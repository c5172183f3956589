//! Pause and stop mean stop, on every replica. Three real `dialerd` replicas on one
//! PostgreSQL and Redis with a real `ledgerd` run one campaign, with agents on each; the
//! replica holding the campaign's lease dials it, the others do not and proxy their agents'
//! sessions to it. A pause through one
//! replica stops the dialing, a resume through another restarts it, and
//! `StopCampaign(wait)` through the third returns only when no replica has a call in
//! progress, after which none dials again. A fourth process on an id a live replica holds
//! refuses to start. Every disposition the replicas confirmed is in the ledger, and every
//! attempt is there exactly once.

mod common;
mod harness;
mod procs;

use std::net::SocketAddr;
use std::time::Duration;

use collections_proto::dialer_v1 as pb;
use harness::{Campaigns, PATIENCE, START, figures_until};
use procs::{assert_dispositions_kept, dialerd_env, dials, held_by_other, position};

/// The replica ids, and how long a claim lives unrenewed.
const REPLICAS: [&str; 3] = ["rep-1", "rep-2", "rep-3"];
const CLAIM_TTL_S: &str = "3";

fn env(db: &common::TestDb, ledger: SocketAddr, id: &str) -> Vec<(&'static str, String)> {
    let mut e = dialerd_env(db, ledger, id, START);
    e.push(("DIALER_REPLICA_CLAIM_TTL_S", CLAIM_TTL_S.into()));
    e
}

/// The campaign's state on this replica; `UNSPECIFIED` while the replica has not yet picked
/// up a campaign created through another one (its registry follows the table every second).
async fn state(c: &mut Campaigns, id: &str) -> i32 {
    match c
        .get_campaign(pb::GetCampaignRequest {
            campaign_id: id.into(),
        })
        .await
    {
        Ok(r) => r.into_inner().state,
        Err(s) if s.code() == tonic::Code::NotFound => pb::CampaignState::Unspecified as i32,
        Err(s) => panic!("campaign: {s}"),
    }
}

/// Waits until the replica reports `want`.
async fn until_state(c: &mut Campaigns, id: &str, want: pb::CampaignState) {
    tokio::time::timeout(PATIENCE, async {
        while state(c, id).await != want as i32 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{want:?} in time"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_stop_hold_on_every_replica() {
    let (db, mut ledgerd, mut crm, accounts, campaign) = procs::stage('R', "rep", 900).await;

    let (mut procs_, mut managers) =
        procs::replicas(&REPLICAS, |id| env(&db, ledgerd.addr, id)).await;
    procs::create_campaign(&mut managers[0], &campaign, &accounts).await;
    // The others pick the campaign up from the shared table.
    for m in &mut managers[1..] {
        until_state(m, &campaign, pb::CampaignState::Ready).await;
    }
    let mut teams = Vec::new();
    for (i, p) in procs_.iter().enumerate() {
        let prefix = format!("rep{}-agent", i + 1);
        teams.push(
            procs::roaming_team(&[p.addr], &campaign, &prefix, 3, |k| {
                if k % 9 == 4 {
                    pb::DispositionCode::CeaseRequest
                } else {
                    pb::DispositionCode::RightPartyContact
                }
            })
            .await,
        );
    }
    harness::start(&mut managers[0], &campaign).await;
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("dialer database");
    // The lease holder dials; the others keep the campaign (and their agents) without dialing.
    let holder = position(
        &REPLICAS,
        &held_by_other(&mut sql, &campaign, None, 0).await.0,
    );
    figures_until(&mut managers[holder], &campaign, |f| f.dials >= 10).await;
    for (i, m) in managers.iter_mut().enumerate() {
        if i != holder {
            assert_eq!(dials(m, &campaign).await, 0, "replica {} dialed", i + 1);
        }
    }

    // Paused through replica 1: every replica reports it and none dials any more.
    managers[0]
        .pause_campaign(pb::PauseCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await
        .expect("paused");
    for m in &mut managers {
        until_state(m, &campaign, pb::CampaignState::Paused).await;
    }
    let mut frozen = Vec::new();
    for m in &mut managers {
        frozen.push(dials(m, &campaign).await);
    }
    // A minute of the dialers' clocks (they run 20 times as fast).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (i, m) in managers.iter_mut().enumerate() {
        assert_eq!(
            dials(m, &campaign).await,
            frozen[i],
            "replica {} dialed while paused",
            i + 1
        );
    }

    // Resumed through replica 2: every replica reports it, and the holder dials again.
    managers[1]
        .resume_campaign(pb::ResumeCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await
        .expect("resumed");
    for m in &mut managers {
        until_state(m, &campaign, pb::CampaignState::Running).await;
    }
    let before = frozen[holder];
    figures_until(&mut managers[holder], &campaign, |f| f.dials >= before + 5).await;
    // Agents logged in to the other replicas get calls too, proxied to the holder (which of
    // the nine ready agents takes each call is the holder's choice: wait for one).
    tokio::time::timeout(PATIENCE, async {
        while (0..teams.len())
            .filter(|i| *i != holder)
            .all(|i| teams[i].saved_so_far() == 0)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("agents on the replicas not holding the campaign took calls (proxied to the holder)");

    // Stopped through replica 3, waiting: when it returns no replica has a call in progress.
    harness::stop(&mut managers[2], &campaign).await;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dialer_outbox WHERE campaign_id = $1 AND state = 'provisional'",
    )
    .bind(&campaign)
    .fetch_one(&mut sql)
    .await
    .expect("outbox");
    assert_eq!(open, 0, "calls still in progress after StopCampaign(wait)");
    let mut stopped = Vec::new();
    for m in &mut managers {
        until_state(m, &campaign, pb::CampaignState::Stopped).await;
        stopped.push(dials(m, &campaign).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, m) in managers.iter_mut().enumerate() {
        assert_eq!(
            dials(m, &campaign).await,
            stopped[i],
            "replica {} dialed after the stop",
            i + 1
        );
    }

    // A fourth process on replica 1's id: refused while replica 1 lives.
    let out = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(procs::dialerd_bin())
            .envs(env(&db, ledgerd.addr, REPLICAS[0]))
            .env("RUST_LOG", "warn")
            .output(),
    )
    .await
    .expect("exits in time")
    .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("replica id rep-1 is held by a live dialerd")
            && err.contains("DIALER_REPLICA_ID"),
        "{err}"
    );

    // A graceful stop of each replica; then the ledger has everything, once.
    for t in &teams {
        t.abort();
    }
    drop(managers);
    for p in &mut procs_ {
        assert!(p.terminate().await.success());
    }
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    let total: u64 = stopped.iter().sum();
    assert_eq!(
        recorded.len() as u64,
        total,
        "every replica's attempts, once"
    );
    let tallies: Vec<procs::Tally> = teams.iter().map(procs::Team::take_tally).collect();
    let refs: Vec<&procs::Tally> = tallies.iter().collect();
    assert_dispositions_kept(&refs, &recorded);
    ledgerd.kill().await;
    db.cleanup().await;
}
