//! The durable outbox against the real stores (PostgreSQL, sharing one database with the
//! ledger as in production, and SQLite files) and the real ledger served in-process with JWT
//! auth: exactly once across a ledger outage, across a relay crash and a dead replica's
//! provisional rows, rejected outcomes dead-lettered without blocking the rest, and the
//! begin/finish contract. Nothing here asserts on time.

#[path = "../../dialer/tests/common/mod.rs"]
mod common;
mod inproc;

use std::sync::Arc;
use std::time::Duration;

use auth::Role;
use common::*;
use dialer::ledger_link::lazy_channel;
use dialer::outbox::{Outbox, OutboxError, RelayConfig};
use dialer::outcomes::OutcomeSink;
use inproc::*;
use ledger_api::pb;
use prost::Message;
use tokio::task::JoinSet;

both_stores!(
    exactly_once_across_ledger_outage,
    relay_crash_and_dead_owner_recovery,
    rejected_outcomes_go_to_the_dead_table,
    begin_and_finish_contract,
);

const ACCOUNTS: usize = 20;

fn acct(i: usize) -> String {
    format!("X-{}", i % ACCOUNTS)
}

fn key(i: usize) -> String {
    format!("att-{i:05}")
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(120)
}

/// Runs `f(i)` for every `i` in `keys` on 50 concurrent tasks (as the engine's calls would).
async fn concurrently<F, Fut>(keys: std::ops::Range<usize>, f: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    const WORKERS: usize = 50;
    let f = Arc::new(f);
    let mut set = JoinSet::new();
    for w in 0..WORKERS {
        let f = f.clone();
        let keys = keys.clone();
        set.spawn(async move {
            for i in keys.filter(|i| i % WORKERS == w) {
                f(i).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("worker");
    }
}

async fn exactly_once_across_ledger_outage(db: &TestDb) {
    const N: usize = 5000;
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let addr = ledger.addr;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(
        &mut admin,
        (0..ACCOUNTS).map(|i| account(&acct(i))).collect(),
    )
    .await;

    let outbox = Outbox::open(&db.dialer_url, "replica-1").await.unwrap();
    assert_eq!(
        outbox
            .recover_provisional("replica-1")
            .await
            .unwrap()
            .published,
        0
    );
    let relay = outbox.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        fast_relay(),
    );
    let attempt = |ob: Outbox, begin: bool, finish: bool| {
        move |i: usize| {
            let ob = ob.clone();
            async move {
                if begin {
                    ob.begin(&provisional(&key(i), &acct(i)))
                        .await
                        .expect("begin");
                }
                if finish {
                    ob.finish(&final_outcome(&key(i), &acct(i)), &[])
                        .await
                        .expect("finish");
                }
            }
        }
    };

    // Ledger up: 2,000 attempts while the relay streams.
    concurrently(0..2000, attempt(outbox.clone(), true, true)).await;
    // Ledger stopped mid-stream: the next 2,000 begin, 1,500 finish, all without the ledger.
    ledger.stop().await;
    concurrently(2000..4000, attempt(outbox.clone(), true, false)).await;
    concurrently(2000..3500, attempt(outbox.clone(), false, true)).await;
    let during = outbox.stats().await.unwrap();
    assert_eq!(during.pending, 500, "calls in progress across the restart");
    // Restarted on the same port and database: the rest, and the calls that spanned it.
    let ledger = TestLedger::start(&db.ledger_url, Some(addr)).await;
    concurrently(3500..4000, attempt(outbox.clone(), false, true)).await;
    concurrently(4000..N, attempt(outbox.clone(), true, true)).await;

    assert_eq!(outbox.flush(deadline()).await.unwrap(), 0, "flushed");
    let st = outbox.stats().await.unwrap();
    assert_eq!((st.pending, st.ready, st.dead_rows), (0, 0, 0), "{st:?}");
    assert!(st.reconnects >= 1, "the relay saw the outage: {st:?}");
    assert!(st.acked >= N as u64, "{st:?}");

    let mut admin = ledger.client(Role::Admin).await;
    let got = recorded(&mut admin).await;
    assert_eq!(got.len(), N, "every attempt recorded");
    for i in 0..N {
        let (times, disposition) = &got[&key(i)];
        assert_eq!(*times, 1, "{} recorded once", key(i));
        assert_eq!(disposition, "FINAL", "{} has its final outcome", key(i));
    }
    relay.shutdown().await;
    outbox.close().await;
    ledger.stop().await;
}

async fn relay_crash_and_dead_owner_recovery(db: &TestDb) {
    const N: usize = 3000;
    const FINISHED: usize = 2500;
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(
        &mut admin,
        (0..ACCOUNTS).map(|i| account(&acct(i))).collect(),
    )
    .await;

    // Replica A: 3,000 attempts begun, 2,500 finished; 500 calls still in progress.
    let a = Outbox::open(&db.dialer_url, "replica-a").await.unwrap();
    let ob = a.clone();
    concurrently(0..N, move |i| {
        let ob = ob.clone();
        async move {
            ob.begin(&provisional(&key(i), &acct(i))).await.unwrap();
            if i < FINISHED {
                ob.finish(&final_outcome(&key(i), &acct(i)), &[])
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    // A small window makes the relay take many round trips, so the crash lands mid-stream.
    let relay_a = a.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        RelayConfig {
            window: 20,
            page: 20,
            message_size: 5,
            ..fast_relay()
        },
    );
    let watch = a.clone();
    eventually("a first acknowledgement", async || watch.acked() > 0).await;
    // The crash: the relay task dies mid-stream, then the whole replica.
    relay_a.abort();
    drop(relay_a);
    let left = a.stats().await.unwrap();
    eprintln!("at the crash: {left:?}");
    assert_eq!(left.pending, (N - FINISHED) as u64);
    drop(a);

    // Replica B on the same database takes over A's rows.
    let b = Outbox::open(&db.dialer_url, "replica-b").await.unwrap();
    let rec = b.recover_provisional("replica-a").await.unwrap();
    assert_eq!(rec.published, (N - FINISHED) as u64, "{rec:?}");
    let relay_b = b.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        fast_relay(),
    );
    assert_eq!(b.flush(deadline()).await.unwrap(), 0);
    let st = b.stats().await.unwrap();
    assert_eq!((st.pending, st.ready), (0, 0), "{st:?}");
    let again = b.recover_provisional("replica-a").await.unwrap();
    assert_eq!(
        (again.published, again.adopted),
        (0, 0),
        "nothing of A is left"
    );

    let got = recorded(&mut admin).await;
    assert_eq!(got.len(), N, "every attempt recorded");
    for i in 0..N {
        let (times, disposition) = &got[&key(i)];
        assert_eq!(*times, 1, "{} recorded once", key(i));
        let want = if i < FINISHED { "FINAL" } else { "PROVISIONAL" };
        assert_eq!(disposition, want, "{}", key(i));
    }
    relay_b.shutdown().await;
    b.close().await;
    ledger.stop().await;
}

async fn rejected_outcomes_go_to_the_dead_table(db: &TestDb) {
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(&mut admin, vec![account("R-1")]).await;
    let ob = Outbox::open(&db.dialer_url, "replica-r").await.unwrap();

    // First in relay order: an account the ledger does not know, and a final outcome with a
    // malformed number (finish keeps whatever the call produced).
    ob.begin(&provisional("bad-acct", "R-404")).await.unwrap();
    ob.finish(&final_outcome("bad-acct", "R-404"), &[])
        .await
        .unwrap();
    ob.begin(&provisional("bad-num", "R-1")).await.unwrap();
    let mut bad = final_outcome("bad-num", "R-1");
    bad.number = "404-555-0134".into();
    ob.finish(&bad, &[]).await.unwrap();
    for i in 0..100 {
        ob.begin(&provisional(&key(i), "R-1")).await.unwrap();
        ob.finish(&final_outcome(&key(i), "R-1"), &[])
            .await
            .unwrap();
    }
    let relay = ob.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        fast_relay(),
    );
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    let st = ob.stats().await.unwrap();
    assert_eq!((st.ready, st.dead, st.dead_rows), (0, 2, 2), "{st:?}");

    let dead = ob.dead_letters(10).await.unwrap();
    let by_key = |k: &str| dead.iter().find(|d| d.idempotency_key == k).unwrap();
    let d = by_key("bad-acct");
    assert_eq!(
        (d.error_code.as_str(), d.error_field.as_str()),
        ("NOT_FOUND", "account_id")
    );
    assert_eq!(d.owner, "replica-r");
    let d = by_key("bad-num");
    assert_eq!(
        (d.error_code.as_str(), d.error_field.as_str()),
        ("INVALID_ARGUMENT", "number")
    );
    let payload = pb::ContactOutcome::decode(d.payload.as_slice()).unwrap();
    assert_eq!(
        payload.disposition, "FINAL",
        "the dead letter keeps what was sent"
    );

    let got = recorded(&mut admin).await;
    assert_eq!(got.len(), 100, "the rejected ones blocked nothing");

    // Once the cause is fixed, an operator requeues: it is recorded, the table empties.
    upsert(&mut admin, vec![account("R-404")]).await;
    assert_eq!(ob.requeue_dead(&["bad-acct".to_owned()]).await.unwrap(), 1);
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    let got = recorded(&mut admin).await;
    assert_eq!(got.get("bad-acct").map(|g| g.0), Some(1));
    assert_eq!(ob.stats().await.unwrap().dead_rows, 1);
    relay.shutdown().await;
    ob.close().await;
    ledger.stop().await;
}

async fn begin_and_finish_contract(db: &TestDb) {
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(&mut admin, vec![account("C-1")]).await;
    let ob = Outbox::open(&db.dialer_url, "replica-c").await.unwrap();
    assert_eq!(
        ob.dialect(),
        if db.dialer_url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    );

    // A begin the ledger would refuse is refused before the dial.
    let mut bad = provisional("c-bad", "C-1");
    bad.number = "555".into();
    assert!(ob.begin(&bad).await.is_err());
    // Repeated begin: one provisional row, the first payload stands.
    ob.begin(&provisional("c-1", "C-1")).await.unwrap();
    let mut other = provisional("c-1", "C-1");
    other.disposition = "SECOND-BEGIN".into();
    ob.begin(&other).await.unwrap();
    // Finish of a key never begun: inserted ready. Begin after finish: no change.
    ob.finish(&final_outcome("c-2", "C-1"), &[]).await.unwrap();
    ob.begin(&provisional("c-2", "C-1")).await.unwrap();
    // Begin and finish racing into one batch still end ready with the final payload.
    let (p3, f3) = (provisional("c-3", "C-1"), final_outcome("c-3", "C-1"));
    let (x, y) = tokio::join!(ob.begin(&p3), ob.finish(&f3, &[]));
    x.unwrap();
    y.unwrap();
    let st = ob.stats().await.unwrap();
    assert_eq!((st.pending, st.ready), (1, 2), "{st:?}");
    // Recovering the own owner after writing would publish live calls: refused.
    assert!(matches!(
        ob.recover_provisional("replica-c").await,
        Err(OutboxError::RecoverAfterBegin)
    ));

    let relay = ob.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        fast_relay(),
    );
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    ob.finish(&final_outcome("c-1", "C-1"), &[]).await.unwrap();
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    let got = recorded(&mut admin).await;
    let disp = |k: &str| got[k].1.clone();
    assert_eq!(got.len(), 3);
    assert_eq!(
        (disp("c-1"), disp("c-2"), disp("c-3")),
        ("FINAL".into(), "FINAL".into(), "FINAL".into())
    );
    // A finish repeated after delivery is resent and acknowledged as a duplicate.
    ob.finish(&final_outcome("c-2", "C-1"), &[]).await.unwrap();
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    assert_eq!(recorded(&mut admin).await.len(), 3);
    assert_eq!(ob.stats().await.unwrap().duplicates, 1);

    // A wrong token: the relay keeps retrying, nothing is lost or dead-lettered.
    relay.shutdown().await;
    ob.finish(&final_outcome("c-4", "C-1"), &[]).await.unwrap();
    let relay = ob.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        auth::Token::fixed("not-a-jwt"),
        fast_relay(),
    );
    let watch = ob.clone();
    eventually("a refused stream", async || {
        watch.stats().await.unwrap().reconnects >= 2
    })
    .await;
    let st = ob.stats().await.unwrap();
    assert_eq!((st.ready, st.dead_rows), (1, 0), "{st:?}");
    relay.shutdown().await;
    // With the dialer's token it goes through.
    let relay = ob.spawn_relay(
        lazy_channel(&ledger.uri()).unwrap(),
        token(Role::Dialer),
        fast_relay(),
    );
    assert_eq!(ob.flush(deadline()).await.unwrap(), 0);
    relay.shutdown().await;
    ob.close().await;
    ledger.stop().await;
}
