//! The campaign lease protocol on the real PostgreSQL and Redis, without processes: two
//! replicas' scans split two campaigns by fair share; a lapsed lease is taken over by
//! compare-and-set with a higher token; the taker adopts the old holder's outbox rows (its
//! call in progress published as provisional); the old holder's late outbox writes and queue
//! leases are refused (fenced), and it notices the loss at its next scan. With a real
//! `ledgerd`: a stale holder's ledger command, delayed on the network past the takeover,
//! is refused at the ledger (it cannot undo what happened since) and every outcome lands
//! exactly once.

mod common;
mod harness;
mod procs;

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

/// Two live replicas, `r1` and `r2`, over the campaign store, each with its leases and an
/// outbox fenced by them.
struct Replicas {
    store: CampaignStore,
    r1: Arc<Leases>,
    r2: Arc<Leases>,
    o1: Outbox,
    o2: Outbox,
}

/// Claims the replica ids `r1` and `r2` at `now` and stores `campaigns` as running.
async fn two_replicas(db: &common::TestDb, campaigns: &[&str], now: Timestamp) -> Replicas {
    let store = CampaignStore::open(&db.dialer_url).await.expect("store");
    let lapsed = now.checked_sub(SignedDuration::from_secs(60)).unwrap();
    for (id, instance) in [("r1", "h/1/a"), ("r2", "h/2/b")] {
        store
            .claim_replica(id, instance, now, lapsed, |_| false)
            .await
            .expect("claim")
            .expect("claimed");
    }
    for id in campaigns {
        let spec = CampaignSpec {
            id: (*id).to_string(),
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
    Replicas {
        store,
        r1,
        r2,
        o1,
        o2,
    }
}

#[tokio::test]
async fn leases_split_by_fair_share_and_a_takeover_fences_the_old_holder() {
    let db = common::TestDb::postgres().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (c1, c2) = (format!("lease-a-{run}"), format!("lease-b-{run}"));
    let now = Timestamp::now();
    let Replicas {
        store,
        r1,
        r2,
        o1,
        o2,
    } = two_replicas(&db, &[&c1, &c2], now).await;
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

/// A TCP proxy to `to` whose client-to-server direction can be held (bytes are kept, not
/// lost, and forwarded on release): a network that delays one replica's writes.
async fn holding_proxy(
    to: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hold, held) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(to).await.expect("upstream");
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let mut held = held.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || held.wait_for(|h| !*h).await.is_err() {
                        break;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
        }
    });
    (addr, hold)
}

/// The ledger's `ledger_fenced_commands_total{rpc}` from its metrics port.
async fn ledger_fenced(metrics: std::net::SocketAddr, rpc: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(metrics)
        .await
        .expect("metrics");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    let line = format!("ledger_fenced_commands_total{{rpc=\"{rpc}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line} not in the metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_holders_delayed_ledger_command_is_refused_at_the_ledger() {
    use dialer::outcomes::LedgerCommand;
    common::init_tracing();
    let db = common::TestDb::postgres().await;
    let metrics = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut ledgerd = procs::spawn(
        &procs::ledgerd_bin(),
        &[
            ("LEDGER_DATABASE_URL", db.ledger_url.clone()),
            ("LEDGER_LISTEN", "127.0.0.1:0".into()),
            ("LEDGER_METRICS_LISTEN", metrics.to_string()),
            ("LEDGER_JWT_HS256_KEY", common::KEY.into()),
        ],
        "ledgerd listening on ",
    )
    .await;
    let mut crm = procs::ledger_client(ledgerd.addr, auth::Role::Crm).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let account = format!("LF-{}", &run[..8]);
    common::upsert(&mut crm, vec![common::account(&account)]).await;

    let campaign = format!("fence-{run}");
    let now = Timestamp::now();
    let Replicas {
        store,
        r1,
        r2,
        o1,
        o2,
    } = two_replicas(&db, &[&campaign], now).await;
    let (mut s1, mut s2) = (ScanState::default(), ScanState::default());
    scan(&r1, &store, Some(&o1), CLAIM_TTL, &mut s1)
        .await
        .expect("scan");
    assert!(r1.holds(&campaign));
    let old = r1.fence(&campaign);

    // r1's relay reaches the ledger through a network that will hold its writes.
    let (via, hold) = holding_proxy(ledgerd.addr).await;
    let relay = |o: &Outbox, at: std::net::SocketAddr| {
        let ch = dialer::ledger_link::lazy_channel(&format!("http://{at}")).expect("channel");
        o.spawn_relay(ch, common::token(auth::Role::Dialer), common::fast_relay())
    };
    let relay1 = relay(&o1, via);
    let out = |key: &str| {
        let mut o = common::final_outcome(key, &account);
        o.campaign_id = campaign.clone();
        o
    };
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(10);
    o1.finish(&out("lf-0"), &[]).await.expect("finish");
    assert_eq!(o1.flush(deadline()).await.expect("flush"), 0, "r1 delivers");

    // r1 records a call whose disposition sets a cease hold; the relay reads both rows and
    // sends them, and the network holds them (r1 as good as frozen mid-send).
    hold.send(true).unwrap();
    let cease = ledger_api::domain::Hold {
        hold_id: format!("lf-1-cease-{run}"),
        account_id: account.clone(),
        kind: ledger_api::domain::HoldKind::Cease,
        debt_id: String::new(),
        number: String::new(),
        since: Timestamp::from_second(common::T0).unwrap(),
        until: None,
        set_by: "agent-1".into(),
        reason: "asked to stop".into(),
    };
    let sent = o1.stats().await.expect("stats").sent;
    o1.finish(&out("lf-1"), &[LedgerCommand::Hold(cease.clone())])
        .await
        .expect("finish");
    common::eventually("r1's relay sent the held rows", async || {
        o1.stats().await.expect("stats").sent > sent
    })
    .await;

    // r1's lease lapses; r2 takes the campaign over, adopts both rows and delivers them
    // under its token, which raises the ledger's mark.
    let past = now.checked_sub(SignedDuration::from_secs(1)).unwrap();
    assert!(
        store
            .renew_lease(&campaign, "r1", old, past)
            .await
            .expect("expire")
    );
    scan(&r2, &store, Some(&o2), CLAIM_TTL, &mut s2)
        .await
        .expect("scan");
    assert_eq!(r2.fence(&campaign), old + 1);
    let relay2 = relay(&o2, ledgerd.addr);
    assert_eq!(o2.flush(deadline()).await.expect("flush"), 0, "r2 delivers");
    // Since then the CRM lifted the hold (the consumer withdrew the request).
    let mut lifted = ledger_api::wire::hold_out(cease.clone());
    lifted.until = common::ts(common::T0 + 3600);
    crm.set_hold(collections_proto::ledger_v1::SetHoldRequest {
        hold: Some(lifted),
        fence: None,
    })
    .await
    .expect("lifted");
    let before = ledger_fenced(metrics, "SetHold").await;

    // The network delivers r1's held writes: the outcome is a duplicate, the hold is refused
    // (it would otherwise set the lifted hold again). r1 gives the campaign up at once.
    assert_eq!(
        r1.held(),
        vec![campaign.clone()],
        "r1 has not scanned since: it still counts the campaign as its own"
    );
    hold.send(false).unwrap();
    common::eventually("the ledger refuses r1's stale hold", async || {
        o1.stats().await.expect("stats").ledger_fenced == 1
    })
    .await;
    assert_eq!(ledger_fenced(metrics, "SetHold").await, before + 1);
    assert!(
        !r1.holds(&campaign) && r1.held().is_empty(),
        "r1 gave it up"
    );
    let acct = crm
        .get_account(collections_proto::ledger_v1::GetAccountRequest {
            account_id: account.clone(),
        })
        .await
        .expect("account")
        .into_inner();
    let h = acct
        .holds
        .into_iter()
        .find(|h| h.hold_id == cease.hold_id)
        .expect("the hold");
    assert_eq!(h.until, common::ts(common::T0 + 3600), "the lift stands");

    // Exactly once: both outcomes recorded once, nothing left or dead-lettered.
    let recorded = common::recorded(&mut crm).await;
    for key in ["lf-0", "lf-1"] {
        assert_eq!(recorded.get(key).map(|r| r.0), Some(1), "{key}");
    }
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("db");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM dialer_outbox WHERE campaign_id = $1")
        .bind(&campaign)
        .fetch_one(&mut sql)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM dialer_outbox_dead")
        .fetch_one(&mut sql)
        .await
        .expect("count");
    assert_eq!(dead, 0, "a stale refusal is never dead-lettered");
    relay1.shutdown().await;
    relay2.shutdown().await;
    ledgerd.kill().await;
    db.cleanup().await;
}

fn common_redis() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}
