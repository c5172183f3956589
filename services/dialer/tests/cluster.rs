//! dialerd on a Redis Cluster: a real `dialerd` process whose queues and attempt counters
//! live on the local three-master cluster (`REDIS_CLUSTER_URL`, started by
//! scripts/services-up; the test fails, never skips, when it is down), `ledgerd` on
//! PostgreSQL, a predictive campaign of 300 accounts on the simulated carrier with five
//! simulated agents. Every script of the queue and the counters must run on the node owning
//! its slot: the campaign dials, the ledger holds each attempt exactly once, no debt past
//! 7-in-7 (US-REGF-08), no account called twice at once, and the counted attempts are in the
//! accounts' counters, which are spread over several nodes.

mod common;
mod harness;
mod procs;

use std::collections::{BTreeSet, HashMap};

use collections_proto::dialer_v1 as pb;
use harness::{START, figures_until};
use procs::{dialerd, dialerd_env, manager};
use queue::redis_store::{RedisConn, RedisQueue};
use queue::{AttemptBook, CampaignQueue};
use redis::Value;

/// The node (host:port) owning each key, from the cluster's own slot map and KEYSLOT.
async fn nodes_of(conn: &RedisConn, keys: &[String]) -> BTreeSet<String> {
    let mut c = conn.clone();
    let Value::Array(ranges) = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async::<Value>(&mut c)
        .await
        .expect("cluster slots")
    else {
        panic!("CLUSTER SLOTS")
    };
    let owners: Vec<(i64, i64, String)> = ranges
        .iter()
        .map(|r| match r {
            Value::Array(v) => match &v[..] {
                [Value::Int(a), Value::Int(b), Value::Array(m), ..] => match &m[..] {
                    [Value::BulkString(h), Value::Int(p), ..] => {
                        (*a, *b, format!("{}:{p}", String::from_utf8_lossy(h)))
                    }
                    other => panic!("CLUSTER SLOTS node {other:?}"),
                },
                other => panic!("CLUSTER SLOTS range {other:?}"),
            },
            other => panic!("CLUSTER SLOTS range {other:?}"),
        })
        .collect();
    let mut nodes = BTreeSet::new();
    for k in keys {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query_async(&mut c)
            .await
            .expect("keyslot");
        let (_, _, n) = owners
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .expect("slot owner");
        nodes.insert(n.clone());
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_on_a_redis_cluster_dials_within_limits_and_records_each_outcome_once() {
    let url = harness::redis_cluster_url();
    let conn = queue::redis_store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("Redis Cluster at {url}: {e} (run bash scripts/services-up)"));
    assert!(conn.is_cluster());

    let (db, mut ledgerd, mut crm, accounts, campaign) = procs::stage('K', "kluster", 300).await;
    let mut env = dialerd_env(&db, ledgerd.addr, "cluster-dialer-1", START);
    for (k, v) in &mut env {
        if *k == "DIALER_REDIS_URL" {
            *v = url.clone();
        }
    }
    let mut dialer = dialerd(&env).await;
    let mut campaigns = manager(dialer.addr).await;
    let queued = procs::create_campaign(&mut campaigns, &campaign, &accounts).await;
    assert!(queued > 250, "{queued} of 300 queued");
    let team = procs::team(dialer.addr, &campaign, "k-agent", 5, |_| {
        pb::DispositionCode::RightPartyContact
    })
    .await;
    harness::start(&mut campaigns, &campaign).await;
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 120).await;

    // The campaign's queue is the one on the cluster.
    let q = RedisQueue::new(conn.clone(), &campaign);
    assert!(q.is_alive().await.expect("alive"), "the campaign's marker");
    let sizes = q.sizes().await.expect("sizes");
    assert!(sizes.ready + sizes.sleeping + sizes.leased > 0, "{sizes:?}");

    harness::stop(&mut campaigns, &campaign).await;
    let after = figures_until(&mut campaigns, &campaign, |_| true).await;
    drop(campaigns);
    team.abort();
    // A graceful stop flushes the outbox.
    let status = dialer.terminate().await;
    assert!(status.success(), "{status:?}");

    // Each attempt exactly once in the ledger (`outcomes` fails on a repeated key), nothing
    // left in the outbox.
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    assert!(
        recorded.len() >= 120,
        "{} recorded of {} dials",
        recorded.len(),
        after.dials
    );
    assert_eq!(
        procs::outbox_left(&db.dialer_url).await,
        0,
        "nothing left in the outbox"
    );

    // US-REGF-08 per debt, never two calls to one account at once, every call checked.
    let mut per_debt: HashMap<&str, u32> = HashMap::new();
    let mut spans: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for o in &recorded {
        assert!(o.checked_seq > 0, "{} placed unchecked", o.idempotency_key);
        if o.counts_for_regf {
            *per_debt.entry(o.debt_ids[0].as_str()).or_default() += 1;
        }
        let at = o.started_at.as_millisecond();
        spans
            .entry(o.account_id.as_str())
            .or_default()
            .push((at, at + o.ring_ms + o.talk_ms));
    }
    assert!(per_debt.values().all(|&n| n <= 7), "{per_debt:?}");
    for (account, mut s) in spans {
        s.sort();
        for w in s.windows(2) {
            assert!(w[0].1 <= w[1].0, "{account} called twice at once");
        }
    }

    // The counted attempts are in their accounts' counters on the cluster, and those
    // accounts' counters live on more than one node.
    let book = queue::redis_store::RedisAttemptBook::new(conn.clone());
    let mut counted_accounts = BTreeSet::new();
    for o in recorded.iter().filter(|o| o.counts_for_regf) {
        let counters = book.counters(&o.account_id).await.expect("counters");
        assert!(
            counters
                .values()
                .any(|c| c.contains_key(&o.idempotency_key)),
            "attempt {} of {} not in its counters: {counters:?}",
            o.idempotency_key,
            o.account_id
        );
        counted_accounts.insert(o.account_id.clone());
    }
    assert!(counted_accounts.len() >= 10, "{counted_accounts:?}");
    let index_keys: Vec<String> = counted_accounts
        .iter()
        .map(|a| queue::reservation::index_key(a))
        .collect();
    let nodes = nodes_of(&conn, &index_keys).await;
    assert!(nodes.len() >= 2, "counters all on {nodes:?}");
    eprintln!(
        "{} outcomes, {} dials, counters of {} accounts on nodes {nodes:?}",
        recorded.len(),
        after.dials,
        counted_accounts.len()
    );

    q.destroy().await.expect("cleanup");
    ledgerd.kill().await;
    db.cleanup().await;
}
