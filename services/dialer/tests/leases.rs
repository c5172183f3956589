//! The campaign lease protocol on the real PostgreSQL and Redis, without processes: two
//! replicas' scans split two campaigns by fair share; a lapsed lease is taken over by
//! compare-and-set with a higher token; the taker adopts the old holder's outbox rows (its
//! call in progress published as provisional); the old holder's late outbox writes and queue
//! leases are refused (fenced), and it notices the loss at its next scan.

mod common;

use std::sync::Arc;
use std::time::Duration;

use dialer::campaign::CampaignSpec;
use dialer::campaign_store::{CampaignStore, StoredState};
use dialer::outbox::Outbox;
use dialer::outcomes::OutcomeSink;
use dialer::ownership::{LeaseTiming, Leases, ScanState, scan};
use jiff::{SignedDuration, Timestamp};
use queue::CampaignQueue;
use queue::redis_store::RedisQueue;

const TIMING: LeaseTiming = LeaseTiming {
    ttl: Duration::from_secs(3),
    scan: Duration::from_millis(100),
};
const CLAIM_TTL: Duration = Duration::from_secs(60);

fn outcome(key: &str, campaign: &str) -> ledger_api::domain::ContactOutcome {
    let mut o = common::provisional(key, "acc-1");
    o.campaign_id = campaign.into();
    o
}

async fn row(sql: &mut sqlx::PgConnection, key: &str) -> (String, String) {
    sqlx::query_as("SELECT owner, state FROM dialer_outbox WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(sql)
        .await
        .expect("outbox row")
}

#[tokio::test]
async fn leases_split_by_fair_share_and_a_takeover_fences_the_old_holder() {
    let db = common::TestDb::postgres().await;
    let store = CampaignStore::open(&db.dialer_url).await.expect("store");
    let now = Timestamp::now();
    let lapsed = now.checked_sub(SignedDuration::from_secs(60)).unwrap();
    for (id, instance) in [("r1", "h/1/a"), ("r2", "h/2/b")] {
        store
            .claim_replica(id, instance, now, lapsed, |_| false)
            .await
            .expect("claim")
            .expect("claimed");
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (c1, c2) = (format!("lease-a-{run}"), format!("lease-b-{run}"));
    for id in [&c1, &c2] {
        let spec = CampaignSpec {
            id: id.clone(),
            name: "leases".into(),
            ..CampaignSpec::default()
        };
        store
            .insert(&spec, StoredState::Running, now)
            .await
            .expect("insert");
    }
    let r1 = Arc::new(Leases::new("r1", TIMING, None));
    let r2 = Arc::new(Leases::new("r2", TIMING, None));
    let o1 = Outbox::open(&db.dialer_url, "r1").await.expect("outbox 1");
    let o2 = Outbox::open(&db.dialer_url, "r2").await.expect("outbox 2");
    o1.fence_with(r1.clone());
    o2.fence_with(r2.clone());
    let (mut s1, mut s2) = (ScanState::default(), ScanState::default());

    // Fair share: two campaigns, two live replicas, one each (r1 scans first).
    scan(&r1, &store, Some(&o1), CLAIM_TTL, &mut s1)
        .await
        .expect("scan");
    assert_eq!(r1.held(), vec![c1.clone()]);
    scan(&r2, &store, Some(&o2), CLAIM_TTL, &mut s2)
        .await
        .expect("scan");
    assert_eq!(r2.held(), vec![c2.clone()]);
    scan(&r1, &store, Some(&o1), CLAIM_TTL, &mut s1)
        .await
        .expect("scan");
    assert_eq!(r1.held(), vec![c1.clone()], "a held lease is not taken");
    assert!(r1.holds(&c1) && !r1.holds(&c2) && !r2.holds(&c1));
    let old = r1.fence(&c1);
    assert!(old > 0);

    // r1 has a call in progress on c1, and its queue leases carry its token.
    o1.begin(&outcome("k-old", &c1))
        .await
        .expect("begin under the lease");
    let conn = queue::redis_store::connect(&common_redis())
        .await
        .expect("redis");
    let fence = |l: &Arc<Leases>, c: &str| {
        let (l, c) = (l.clone(), c.to_string());
        Arc::new(move || l.fence(&c)) as queue::redis_store::Fence
    };
    let q1 = RedisQueue::fenced(conn.clone(), &c1, fence(&r1, &c1));
    let q2 = RedisQueue::fenced(conn.clone(), &c1, fence(&r2, &c1));
    q1.pop_lease(1, 0, 1000, "r1")
        .await
        .expect("pop under the lease");

    // r1 freezes: its lease lapses (expiry set in the past, as if not renewed for a ttl).
    let past = now.checked_sub(SignedDuration::from_secs(1)).unwrap();
    assert!(
        store
            .renew_lease(&c1, "r1", old, past)
            .await
            .expect("expire")
    );
    // r2 holds its share already: it takes c1 only once it saw it free at two scans.
    scan(&r2, &store, Some(&o2), CLAIM_TTL, &mut s2)
        .await
        .expect("scan");
    assert!(!r2.holds(&c1), "above its share, not at the first sight");
    scan(&r2, &store, Some(&o2), CLAIM_TTL, &mut s2)
        .await
        .expect("scan");
    assert!(r2.holds(&c1), "free at two scans: taken");
    assert_eq!(r2.fence(&c1), old + 1, "the token only grows");

    // r2 adopted r1's call in progress: published as it was, relayed by r2.
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("db");
    assert_eq!(row(&mut sql, "k-old").await, ("r2".into(), "ready".into()));
    o2.begin(&outcome("k-new", &c1))
        .await
        .expect("the new holder writes");
    q2.pop_lease(1, 0, 1000, "r2")
        .await
        .expect("the new holder leases");

    // r1 wakes up: its late writes are refused, not duplicated; so are its queue leases.
    let late = o1.finish(&outcome("k-old", &c1), &[]).await;
    assert!(late.as_ref().is_err_and(|e| e.is_fenced()), "{late:?}");
    let begin = o1.begin(&outcome("k-late", &c1)).await;
    assert!(begin.as_ref().is_err_and(|e| e.is_fenced()), "{begin:?}");
    assert!(matches!(
        q1.pop_lease(1, 0, 1000, "r1").await,
        Err(queue::QueueError::Fenced)
    ));
    assert_eq!(row(&mut sql, "k-old").await, ("r2".into(), "ready".into()));
    let late_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM dialer_outbox WHERE idempotency_key = 'k-late'")
            .fetch_one(&mut sql)
            .await
            .expect("count");
    assert_eq!(late_rows, 0);
    // Nor may it write for a campaign it never held (token 0, below r2's).
    let never = o1.begin(&outcome("k-never", &c2)).await;
    assert!(never.as_ref().is_err_and(|e| e.is_fenced()), "{never:?}");
    assert_eq!(o1.stats().await.expect("stats").fenced, 3);

    // r1's next scan notices the loss; it does not take c1 back.
    scan(&r1, &store, Some(&o1), CLAIM_TTL, &mut s1)
        .await
        .expect("scan");
    assert!(!r1.holds(&c1));
    assert!(r1.held().is_empty());
    let _ = q1.destroy().await;
    db.cleanup().await;
}

fn common_redis() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}
