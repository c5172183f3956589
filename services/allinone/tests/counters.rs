//! Attempt counters that cannot drift: dialerd runs a campaign on Redis against a real
//! ledger (so the contact history is durable), is paused and shut down; every `att:*` key in
//! Redis (members and scores of each counter, each account's key index) is read; Redis is
//! flushed (queues and counters gone, as after losing a Redis without persistence); dialerd
//! starts again on the same dialer database and ledger. It finds the campaign's queue lost,
//! queues the stored accounts again, which loads them, which rebuilds their counters from
//! the ledger's history: every key reads as before.
//!
//! The test owns a Redis database of its own (number 7 on the `REDIS_URL` server), so the
//! FLUSHDB disturbs no other test; it runs on PostgreSQL only (one test, one database 7).

#[path = "../../dialer/tests/common/mod.rs"]
mod common;
#[path = "../../dialer/tests/harness/mod.rs"]
mod harness;
mod inproc;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use auth::Role;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use common::TestDb;
use dialer::config::{CarrierConfig, Config, ServerSettings};
use harness::{PATIENCE, Softphone, bearer, figures_until, token};
use inproc::TestLedger;
use pb::campaign_service_client::CampaignServiceClient;

/// The Redis database this test flushes.
const REDIS_DB: u32 = 7;
const ACCOUNTS: usize = 30;

/// `REDIS_URL` with its database number replaced by [`REDIS_DB`].
fn redis_url() -> String {
    let base = harness::redis_url();
    let base = base.trim_end_matches('/');
    let server = match base.rsplit_once('/') {
        Some((server, db)) if !db.is_empty() && db.bytes().all(|b| b.is_ascii_digit()) => server,
        _ => base,
    };
    format!("{server}/{REDIS_DB}")
}

/// A calling instant the ledger keeps in its 31-day history whenever the test runs: 16:00 UTC
/// (11:00 in New York) on the latest Tuesday to Thursday before today.
fn clock_start() -> String {
    let mut day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    loop {
        day = day.yesterday().expect("a day before");
        if matches!(
            day.weekday(),
            jiff::civil::Weekday::Tuesday
                | jiff::civil::Weekday::Wednesday
                | jiff::civil::Weekday::Thursday
        ) {
            return format!("{day}T16:00:00Z");
        }
    }
}

/// Accounts with three debts, one of them a student loan of a group (US-REGF-11), so the
/// attribution of each outcome (first debt, or every debt discussed) shows in the counters.
fn accounts() -> Vec<lpb::Account> {
    (0..ACCOUNTS)
        .map(|i| {
            let id = format!("K{i:03}");
            let mut a = common::account(&id);
            a.call_consents.clear();
            a.debts.push(lpb::Debt {
                debt_id: format!("{id}-d3"),
                balance_minor: 20_000,
                currency: "USD".into(),
                days_past_due: 60,
                original_creditor: "Acme".into(),
                ..Default::default()
            });
            a
        })
        .collect()
}

/// One `att:*` key as Redis holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// A counter: attempt id -> instant.
    Counter(BTreeMap<String, i64>),
    /// An account's key index.
    Index(BTreeSet<String>),
}

/// Every `att:*` key of the test's database.
async fn attempt_keys(conn: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, Held> {
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("att:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut out = BTreeMap::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(conn)
            .await
            .expect("type");
        let held = match kind.as_str() {
            "zset" => {
                let m: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(&k)
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .query_async(conn)
                    .await
                    .expect("zrange");
                Held::Counter(m.into_iter().map(|(id, at)| (id, at as i64)).collect())
            }
            "set" => {
                let m: BTreeSet<String> = redis::cmd("SMEMBERS")
                    .arg(&k)
                    .query_async(conn)
                    .await
                    .expect("smembers");
                Held::Index(m)
            }
            other => panic!("{k}: unexpected type {other}"),
        };
        out.insert(k, held);
    }
    out
}

fn config(db: &TestDb, ledger: &TestLedger, start: &str) -> Config {
    let cfg = Config {
        server: ServerSettings {
            database_url: db.dialer_url.clone(),
            jwt_hs256_key: Some(harness::KEY.into()),
            listen: "127.0.0.1:0".into(),
            ..ServerSettings::default()
        },
        ledger_url: Some(ledger.uri()),
        ledger_jwt_hs256_key: Some(common::KEY.into()),
        redis_url: Some(redis_url()),
        replica_id: "counters-test".into(),
        carrier: CarrierConfig::Sim {
            scenario: "S1".into(),
            seed: 7,
            speed: 20.0,
            clock_start: Some(start.into()),
        },
        shutdown_grace_s: 30,
        ..Config::default()
    };
    cfg.validate().expect("valid config");
    cfg
}

/// A running dialerd assembled from `cfg`; its shutdown flushes the outbox to the ledger.
struct Dialer(dialer::app::Local);

impl Dialer {
    async fn start(cfg: &Config) -> Dialer {
        Dialer(
            dialer::app::Local::start(cfg, PATIENCE)
                .await
                .expect("started"),
        )
    }

    async fn campaigns(&self) -> harness::Campaigns {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.0.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        CampaignServiceClient::with_interceptor(channel, bearer(&token("m1", Role::Manager)))
    }

    async fn shutdown(self) {
        let (served, unflushed) = self.0.shutdown(PATIENCE).await.expect("shut down");
        served.expect("serve");
        assert_eq!(
            unflushed, 0,
            "every finished attempt acknowledged by the ledger"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_after_a_redis_flush_and_a_restart_equal_the_counters_before() {
    let db = TestDb::postgres().await;
    counters_survive_a_flush(&db).await;
    db.cleanup().await;
}

async fn counters_survive_a_flush(db: &TestDb) {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis on REDIS_URL (run scripts/services-up)");
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut conn)
        .await
        .expect("flushdb");

    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut crm = ledger.client(Role::Crm).await;
    common::upsert(&mut crm, accounts()).await;
    let start = clock_start();
    let cfg = config(db, &ledger, &start);

    // First life: the campaign dials, agents talk to whoever answers, then it is paused
    // (so it does not dial on its own after the restart) and dialerd shuts down.
    let first = Dialer::start(&cfg).await;
    let mut campaigns = first.campaigns().await;
    let id = harness::unique("counters");
    campaigns
        .create_campaign(harness::campaign(&id, pb::PacingMode::Progressive))
        .await
        .expect("created");
    let added = campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.clone(),
            account_ids: (0..ACCOUNTS).map(|i| format!("K{i:03}")).collect(),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added")
        .into_inner();
    assert_eq!(added.queued as usize, ACCOUNTS, "{added:?}");
    let talks = Arc::new(AtomicU32::new(0));
    let mut team = Vec::new();
    for i in 0..3 {
        let phone = Softphone::login_to(first.0.addr, &format!("c-agent-{i}"), &id)
            .await
            .expect("login");
        team.push(phone.work_right_party_contacts(talks.clone()));
    }
    harness::start(&mut campaigns, &id).await;
    figures_until(&mut campaigns, &id, |f| {
        f.dials >= 20 && talks.load(Ordering::Relaxed) >= 2
    })
    .await;
    campaigns
        .pause_campaign(pb::PauseCampaignRequest {
            campaign_id: id.clone(),
        })
        .await
        .expect("paused");
    drop(campaigns);
    first.shutdown().await;
    for t in team {
        let _ = tokio::time::timeout(PATIENCE, t).await;
    }

    let before = attempt_keys(&mut conn).await;

    // What the counters hold is what the ledger counts: one member per counted outcome.
    let mut reader = ledger.client(Role::Admin).await;
    let mut counted = BTreeSet::new();
    let mut req = lpb::ListOutcomesRequest {
        campaign_id: id.clone(),
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let r = reader
            .list_outcomes(req.clone())
            .await
            .expect("outcomes")
            .into_inner();
        counted.extend(
            r.outcomes
                .into_iter()
                .filter(|o| o.counts_for_regf)
                .map(|o| o.idempotency_key),
        );
        if r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    let members: BTreeSet<String> = before
        .values()
        .filter_map(|h| match h {
            Held::Counter(m) => Some(m.keys().cloned()),
            Held::Index(_) => None,
        })
        .flatten()
        .collect();
    assert!(counted.len() >= 10, "{} counted outcomes", counted.len());
    assert_eq!(members, counted, "one member per counted outcome");
    // A no-answer counts against its first debt only (US-REGF-10): some third debt's
    // counter holds fewer attempts than its account's phones.
    let narrowed = (0..ACCOUNTS).any(|i| {
        let prefix = format!("att:{{a:K{i:03}}}:");
        let len = |suffix: &str| match before.get(&format!("{prefix}{suffix}")) {
            Some(Held::Counter(m)) => m.len(),
            _ => 0,
        };
        len("phone:+14045550134") + len("phone:+14045550199") > len(&format!("debt:K{i:03}-d3"))
    });
    assert!(
        narrowed,
        "settled attempts stay under their final debts only"
    );

    // Redis loses everything.
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut conn)
        .await
        .expect("flushdb");
    assert!(attempt_keys(&mut conn).await.is_empty());

    // Second life on the same dialer database and ledger: the campaign's queue is found
    // lost, its accounts are queued again and their counters rebuilt before it resumes.
    let second = Dialer::start(&cfg).await;
    let after = attempt_keys(&mut conn).await;
    let alive: bool = redis::cmd("EXISTS")
        .arg(format!("q:{{c:{id}}}:alive"))
        .query_async(&mut conn)
        .await
        .expect("exists");
    assert!(
        alive,
        "the queue marked alive once the accounts are queued again"
    );
    let mut campaigns = second.campaigns().await;
    // The queue figures are read at the engine's next tick, so wait for them (a queue that
    // stayed empty fails this on the patience timeout).
    figures_until(&mut campaigns, &id, |f| {
        f.queue
            .as_ref()
            .is_some_and(|q| q.ready + q.sleeping + q.leased > 0)
    })
    .await;
    drop(campaigns);
    second.shutdown().await;
    ledger.stop().await;

    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same keys"
    );
    for (k, held) in &before {
        assert_eq!(after.get(k), Some(held), "{k}");
    }
}
