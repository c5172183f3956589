//! Counters that cannot drift, on the in-process store, on the real Redis (`REDIS_URL`) and on
//! the local Redis Cluster (`REDIS_CLUSTER_URL`, accounts spread over its three masters):
//! a settled attempt stays only under the debts its final outcome is attributed to
//! (US-REGF-10, -11); a rebuild makes an account's counters exactly the attempts it is given
//! (stale members removed, even from counters the history no longer names, members younger
//! than the grace kept); and, for any sequence of reservations, settlements and releases,
//! rebuilding the counters from the attempts that happened changes nothing, on the live
//! counters as on wiped ones.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use queue::memory::MemoryAttemptBook;
use queue::redis_store::RedisAttemptBook;
use queue::reservation::{Counters, PastAttempt, account_prefix, index_key};
use queue::{AttemptBook, Millis, Reservation, ReserveOutcome};

const T0: Millis = 1_784_000_000_000; // 2026-07-14
const MINUTE: Millis = 60_000;
const DAY: Millis = 86_400_000;

use support::{cluster_url, open, redis_url};

/// An account name no other test run uses (Redis keeps counters between runs).
fn unique(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn reservation(account: &str, id: &str, debts: &[&str], phone: &str, now: Millis) -> Reservation {
    Reservation {
        account: account.to_string(),
        attempt_id: id.to_string(),
        debt_keys: debts.iter().map(|d| d.to_string()).collect(),
        phone: phone.to_string(),
        now,
        window_start: now - 7 * DAY,
        limit: 1_000,
        min_gap: 0,
    }
}

fn debt(account: &str, key: &str) -> String {
    format!("{}debt:{key}", account_prefix(account))
}

fn phone(account: &str, number: &str) -> String {
    format!("{}phone:{number}", account_prefix(account))
}

/// Counters as a literal: (key, [(id, at)]).
fn expect(sets: &[(String, &[(&str, Millis)])]) -> Counters {
    sets.iter()
        .map(|(k, m)| {
            (
                k.clone(),
                m.iter().map(|(id, at)| (id.to_string(), *at)).collect(),
            )
        })
        .collect()
}

async fn reserved<B: AttemptBook>(book: &B, r: &Reservation) {
    assert_eq!(
        book.reserve(r).await.expect("reserve"),
        ReserveOutcome::Reserved
    );
}

/// A no-answer about debts a and b counts against a only (its first debt, US-REGF-10); a
/// conversation about both, against both.
async fn settle<B: AttemptBook>(book: &B) {
    let acct = unique("settle");
    let p = "+14045550134";
    let r1 = reservation(&acct, "att-1", &["a", "b"], p, T0);
    reserved(book, &r1).await;
    let in_flight = book.counters(&acct).await.expect("counters");
    assert_eq!(
        in_flight,
        expect(&[
            (debt(&acct, "a"), &[("att-1", T0)]),
            (debt(&acct, "b"), &[("att-1", T0)]),
            (phone(&acct, p), &[("att-1", T0)]),
        ]),
        "in flight: every debt of the call (the safe side)"
    );
    book.settle(&r1, &["a".to_string()]).await.expect("settle");
    let r2 = reservation(&acct, "att-2", &["a", "b"], p, T0 + MINUTE);
    reserved(book, &r2).await;
    book.settle(&r2, &["a".to_string(), "b".to_string()])
        .await
        .expect("settle");
    // Settling twice is the same as once.
    book.settle(&r2, &["a".to_string(), "b".to_string()])
        .await
        .expect("settle again");
    assert_eq!(
        book.counters(&acct).await.expect("counters"),
        expect(&[
            (debt(&acct, "a"), &[("att-1", T0), ("att-2", T0 + MINUTE)]),
            (debt(&acct, "b"), &[("att-2", T0 + MINUTE)]),
            (phone(&acct, p), &[("att-1", T0), ("att-2", T0 + MINUTE)]),
        ])
    );
    // A settled attempt no longer blocks the debts it was not attributed to.
    let r3 = Reservation {
        limit: 1,
        ..reservation(&acct, "att-3", &["b"], "+14045550199", T0 + 2 * MINUTE)
    };
    assert!(matches!(
        book.reserve(&r3).await.expect("reserve"),
        ReserveOutcome::DebtLimit { .. }
    ));
    book.settle(&r2, &["a".to_string()]).await.expect("settle");
    reserved(book, &r3).await;
    // A settlement without a debt is refused, and changes nothing.
    assert!(book.settle(&r3, &[]).await.is_err());
    assert!(book.counters(&acct).await.expect("counters")[&debt(&acct, "b")].contains_key("att-3"));
    let released = reservation(&acct, "att-3", &["b"], "+14045550199", T0 + 2 * MINUTE);
    book.release(&released).await.expect("release");
    assert!(
        !book
            .counters(&acct)
            .await
            .expect("counters")
            .contains_key(&debt(&acct, "b")),
        "an emptied counter leaves the account's counters"
    );
}

/// A rebuild: attempts the history holds come back (and only under their keys), members it
/// does not name go (from counters it does not name too), except the young ones.
async fn rebuild<B: AttemptBook>(book: &B) {
    let acct = unique("rebuild");
    let p = "+14045550134";
    let now = T0 + DAY;
    // Counted in Redis but never recorded anywhere: a replica died between reserve and its
    // outbox begin, a day ago, on a debt and a number the history never names.
    reserved(
        book,
        &reservation(&acct, "lost", &["z"], "+14045550100", T0),
    )
    .await;
    // Recorded, but the counters hold it under too many debts (reserved, never settled).
    reserved(book, &reservation(&acct, "h1", &["a", "b"], p, T0 + MINUTE)).await;
    // Another replica's call, reserved a second ago, not yet in its outbox.
    reserved(book, &reservation(&acct, "young", &["c"], p, now - 1_000)).await;
    // A call of a moment ago the history already has, as a no-answer: its first debt only,
    // young or not.
    reserved(book, &reservation(&acct, "h3", &["a", "c"], p, now - 2_000)).await;
    let history = vec![
        PastAttempt {
            id: "h1".into(),
            at: T0 + MINUTE,
            debt_keys: vec!["a".into()],
            phone: Some(p.into()),
        },
        // Recorded by the ledger, missing from the counters (a flushed Redis).
        PastAttempt {
            id: "h2".into(),
            at: T0 + 2 * MINUTE,
            debt_keys: vec!["a".into(), "b".into()],
            phone: Some(p.into()),
        },
        PastAttempt {
            id: "h3".into(),
            at: now - 2_000,
            debt_keys: vec!["a".into()],
            phone: Some(p.into()),
        },
        // Older than anything a rule looks at: not kept.
        PastAttempt {
            id: "h0".into(),
            at: now - 40 * DAY,
            debt_keys: vec!["a".into()],
            phone: Some(p.into()),
        },
    ];
    book.rebuild(&acct, &history, now, 10 * MINUTE)
        .await
        .expect("rebuild");
    let want = expect(&[
        (
            debt(&acct, "a"),
            &[
                ("h1", T0 + MINUTE),
                ("h2", T0 + 2 * MINUTE),
                ("h3", now - 2_000),
            ],
        ),
        (debt(&acct, "b"), &[("h2", T0 + 2 * MINUTE)]),
        (debt(&acct, "c"), &[("young", now - 1_000)]),
        (
            phone(&acct, p),
            &[
                ("h1", T0 + MINUTE),
                ("h2", T0 + 2 * MINUTE),
                ("h3", now - 2_000),
                ("young", now - 1_000),
            ],
        ),
    ]);
    assert_eq!(book.counters(&acct).await.expect("counters"), want);
    // Again: nothing changes.
    book.rebuild(&acct, &history, now, 10 * MINUTE)
        .await
        .expect("rebuild");
    assert_eq!(book.counters(&acct).await.expect("counters"), want);
    // Once the young member is older than the grace and still unrecorded, it goes too.
    book.rebuild(&acct, &history, now + 11 * MINUTE, 10 * MINUTE)
        .await
        .expect("rebuild");
    let mut later = want.clone();
    later.remove(&debt(&acct, "c"));
    later
        .get_mut(&phone(&acct, p))
        .expect("phone")
        .remove("young");
    assert_eq!(book.counters(&acct).await.expect("counters"), later);
    // With no history left, no counter is left.
    book.rebuild(&acct, &[], now, 0).await.expect("empty");
    assert_eq!(
        book.counters(&acct).await.expect("counters"),
        Counters::new()
    );
}

#[test]
fn settle_in_process() {
    runtime().block_on(settle(&MemoryAttemptBook::new()));
}

#[test]
fn settle_on_redis() {
    runtime().block_on(async { settle(&RedisAttemptBook::new(open(&redis_url()).await)).await });
}

#[test]
fn settle_on_redis_cluster() {
    runtime().block_on(async { settle(&RedisAttemptBook::new(open(&cluster_url()).await)).await });
}

#[test]
fn exact_rebuild_in_process() {
    runtime().block_on(rebuild(&MemoryAttemptBook::new()));
}

#[test]
fn exact_rebuild_on_redis() {
    runtime().block_on(async { rebuild(&RedisAttemptBook::new(open(&redis_url()).await)).await });
}

#[test]
fn exact_rebuild_on_redis_cluster() {
    runtime().block_on(async { rebuild(&RedisAttemptBook::new(open(&cluster_url()).await)).await });
}

#[test]
fn the_index_names_every_counter_on_redis() {
    the_index_names_every_counter(&redis_url());
}

/// On a cluster the index (SMEMBERS, no KEYS scan) finds the counters on the account's node.
#[test]
fn the_index_names_every_counter_on_redis_cluster() {
    the_index_names_every_counter(&cluster_url());
}

/// On Redis, the index lists every counter of the account: a counter created by a
/// reservation the rebuild's caller knows nothing about is found and emptied.
fn the_index_names_every_counter(url: &str) {
    runtime().block_on(async {
        let conn = open(url).await;
        let book = RedisAttemptBook::new(conn.clone());
        let acct = unique("index");
        reserved(&book, &reservation(&acct, "x", &["q"], "+14045550100", T0)).await;
        let mut c = conn.clone();
        let listed: Vec<String> = redis::cmd("SMEMBERS")
            .arg(index_key(&acct))
            .query_async(&mut c)
            .await
            .expect("smembers");
        assert_eq!(listed.len(), 2, "{listed:?}");
        book.rebuild(&acct, &[], T0 + DAY, 0)
            .await
            .expect("rebuild");
        let left: Vec<String> = redis::cmd("KEYS")
            .arg(format!(
                "{}*",
                account_prefix(&acct)
                    .replace('{', "\\{")
                    .replace('}', "\\}")
            ))
            .query_async(&mut c)
            .await
            .expect("keys");
        assert!(left.is_empty(), "{left:?}");
    });
}

// ------------------------------------------------------------------ property

/// How a dialed attempt ends.
#[derive(Debug, Clone)]
enum End {
    /// Busy, SIT: released.
    Release,
    /// Counted: settled under these of its debts (indices into its debts).
    Settle(Vec<usize>),
    /// Still in progress.
    InFlight,
    /// Reserved by a replica that died before recording it anywhere.
    Lost,
}

#[derive(Debug, Clone)]
struct Dial {
    debts: Vec<&'static str>,
    phone: usize,
    gap: Millis,
    end: End,
}

fn dial() -> impl Strategy<Value = Dial> {
    let debts = proptest::sample::subsequence(vec!["d1", "d2", "g1"], 1..=3);
    (
        debts,
        0..2usize,
        1..120i64,
        0..10u8,
        proptest::collection::vec(0..3usize, 1..3),
    )
        .prop_map(|(debts, phone, minutes, end, pick)| {
            let mut kept: Vec<usize> = pick.into_iter().map(|i| i % debts.len()).collect();
            kept.sort_unstable();
            kept.dedup();
            let end = match end {
                0..=1 => End::Release,
                2 => End::InFlight,
                3 => End::Lost,
                _ => End::Settle(kept),
            };
            Dial {
                debts,
                phone,
                gap: minutes * MINUTE,
                end,
            }
        })
}

const PHONES: [&str; 2] = ["+14045550134", "+14045550199"];

/// Plays the dials on `book`, then checks: the counters hold exactly what happened (plus the
/// lost reservations); a rebuild from what happened removes only the lost ones; a second
/// rebuild changes nothing; after a wipe, a rebuild gives the same counters.
/// Returns the account it played on.
async fn play<B: AttemptBook>(book: &B, wipe: impl AsyncFnOnce(&str), dials: &[Dial]) -> String {
    let acct = unique("prop");
    let mut now = T0;
    let mut truth: Vec<PastAttempt> = Vec::new();
    let mut lost: Vec<PastAttempt> = Vec::new();
    for (i, d) in dials.iter().enumerate() {
        now += d.gap;
        let id = format!("att-{i}");
        let r = reservation(&acct, &id, &d.debts, PHONES[d.phone], now);
        reserved(book, &r).await;
        let attempt = |keys: Vec<String>| PastAttempt {
            id: id.clone(),
            at: now,
            debt_keys: keys,
            phone: Some(PHONES[d.phone].to_string()),
        };
        match &d.end {
            End::Release => book.release(&r).await.expect("release"),
            End::Settle(kept) => {
                let keys: Vec<String> = kept.iter().map(|&k| d.debts[k].to_string()).collect();
                book.settle(&r, &keys).await.expect("settle");
                truth.push(attempt(keys));
            }
            End::InFlight => truth.push(attempt(r.debt_keys.clone())),
            End::Lost => lost.push(attempt(r.debt_keys.clone())),
        }
    }
    let model = |attempts: &[&PastAttempt]| -> Counters {
        let mut c: Counters = BTreeMap::new();
        for a in attempts {
            for k in a.counters(&acct) {
                c.entry(k).or_default().insert(a.id.clone(), a.at);
            }
        }
        c
    };
    let live = book.counters(&acct).await.expect("counters");
    assert_eq!(
        live,
        model(&truth.iter().chain(&lost).collect::<Vec<_>>()),
        "counters hold what happened"
    );
    let exact = model(&truth.iter().collect::<Vec<_>>());
    let later = now + MINUTE;
    book.rebuild(&acct, &truth, later, 0)
        .await
        .expect("rebuild");
    assert_eq!(book.counters(&acct).await.expect("counters"), exact);
    book.rebuild(&acct, &truth, later, 0)
        .await
        .expect("rebuild");
    assert_eq!(book.counters(&acct).await.expect("counters"), exact);
    wipe(&acct).await;
    assert!(book.counters(&acct).await.expect("counters").is_empty());
    book.rebuild(&acct, &truth, later, 0)
        .await
        .expect("rebuild");
    assert_eq!(
        book.counters(&acct).await.expect("counters"),
        exact,
        "rebuilt after a wipe"
    );
    acct
}

fn run_property(cases: u32, case: impl Fn(Vec<Dial>)) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(dial(), 0..25), |dials| {
            case(dials);
            Ok(())
        })
        .expect("property");
}

#[test]
fn rebuilding_what_happened_changes_nothing_in_process() {
    let rt = runtime();
    run_property(256, |dials| {
        let book = MemoryAttemptBook::new();
        rt.block_on(play(
            &book,
            async |acct: &str| {
                // Everything older than the end of time, and nothing named: all gone.
                book.rebuild(acct, &[], Millis::MAX, 0).await.expect("wipe");
            },
            &dials,
        ));
    });
}

#[test]
fn rebuilding_what_happened_changes_nothing_on_redis() {
    rebuilding_what_happened_changes_nothing_at(&redis_url());
}

#[test]
fn rebuilding_what_happened_changes_nothing_on_redis_cluster() {
    let accounts = rebuilding_what_happened_changes_nothing_at(&cluster_url());
    runtime().block_on(async {
        let conn = open(&cluster_url()).await;
        let keys: Vec<String> = accounts.iter().map(|a| index_key(a)).collect();
        support::assert_spread(&conn, "the played accounts", &keys).await;
    });
}

/// Runs the property on the store at `url`; returns the accounts it played on.
fn rebuilding_what_happened_changes_nothing_at(url: &str) -> Vec<String> {
    let rt = runtime();
    let conn = rt.block_on(open(url));
    let played = std::sync::Mutex::new(Vec::new());
    run_property(64, |dials| {
        let book = RedisAttemptBook::new(conn.clone());
        let conn = conn.clone();
        let acct = rt.block_on(play(
            &book,
            async move |acct: &str| {
                // What a FLUSHDB does to this account: every key gone.
                let mut c = conn.clone();
                let keys: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(index_key(acct))
                    .query_async(&mut c)
                    .await
                    .expect("smembers");
                redis::cmd("DEL")
                    .arg(&keys)
                    .arg(index_key(acct))
                    .query_async::<()>(&mut c)
                    .await
                    .expect("del");
            },
            &dials,
        ));
        played.lock().expect("played").push(acct);
    });
    played.into_inner().expect("played")
}
