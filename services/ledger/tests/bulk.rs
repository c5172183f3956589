//! Fast loads (issue 13) over real gRPC on PostgreSQL and SQLite: `UpsertAccounts` writes a
//! chunk of records in one transaction and still reports each record on its own (a bad one in
//! the middle is refused alone, naming its field), an identical reload is UNCHANGED, the
//! change feed carries every account written; `GetAccountViews` serves a page of accounts
//! exactly as the per-account reads (GetAccount, GetContactHistory, ListPromises) do; and
//! `ledgerd migrate` applies the migrations and exits 0.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use common::*;
use ledger_api::common_pb;
use ledger_api::domain::ChangeKind;
use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use tonic::Code;
use tonic::transport::Channel;

both_stores!(
    a_bad_record_in_the_middle_is_refused_alone,
    an_identical_reload_is_unchanged,
    the_change_feed_carries_every_upserted_account,
    concurrent_streams_feed_every_change_once_in_order,
    views_equal_the_per_account_reads,
    views_refuse_bad_asks,
    ledgerd_migrate_applies_and_exits,
);

async fn get(c: &mut LedgerServiceClient<Channel>, id: &str) -> pb::Account {
    c.get_account(pb::GetAccountRequest {
        account_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// A record with a hold, so holds go through the batch too.
fn held(id: &str) -> pb::Account {
    let mut a = account(id);
    a.holds = vec![pb::Hold {
        hold_id: format!("{id}-h"),
        kind: pb::HoldKind::Attorney as i32,
        debt_id: format!("{id}-d2"),
        since: ts(T0 - 600),
        set_by: "crm".into(),
        reason: "represented".into(),
        ..Default::default()
    }];
    a
}

async fn a_bad_record_in_the_middle_is_refused_alone(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let mut bad = account("B-3");
    bad.debts[1].balance_minor = -1;
    let ids = ["B-1", "B-2", "B-3", "B-4", "B-5"];
    let batch = vec![
        account("B-1"),
        held("B-2"),
        bad,
        account("B-4"),
        held("B-5"),
    ];
    let r = upsert(&mut c, batch).await;
    assert_eq!((r.created, r.rejected), (4, 1), "{r:?}");
    let statuses: Vec<(u32, String, i32)> = r
        .results
        .iter()
        .map(|x| (x.index, x.account_id.clone(), x.status))
        .collect();
    let created = pb::UpsertStatus::Created as i32;
    assert_eq!(
        statuses,
        vec![
            (0, "B-1".into(), created),
            (1, "B-2".into(), created),
            (2, "B-3".into(), pb::UpsertStatus::Rejected as i32),
            (3, "B-4".into(), created),
            (4, "B-5".into(), created),
        ]
    );
    let e = r.results[2].error.as_ref().expect("the bad record's error");
    assert_eq!(e.code, "INVALID_ARGUMENT");
    assert_eq!(e.field, "account.debts[1].balance_minor");
    // The others are stored, whole; the bad one is not.
    for id in ["B-1", "B-2", "B-4", "B-5"] {
        let a = get(&mut c, id).await;
        assert_eq!(a.persons[0].phones.len(), 2, "{id}");
        assert_eq!(a.debts.len(), 2, "{id}");
        assert_eq!(a.call_consents.len(), 1, "{id}");
        assert_eq!(a.blackouts.len(), 1, "{id}");
        assert_eq!(
            a.holds.len(),
            usize::from(id == "B-2" || id == "B-5"),
            "{id}"
        );
    }
    let missing = c
        .get_account(pb::GetAccountRequest {
            account_id: ids[2].into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // One transaction wrote the four: one write instant (a record-by-record write has one
    // each).
    let stamps: BTreeSet<i64> = {
        let mut s = BTreeSet::new();
        for id in ["B-1", "B-2", "B-4", "B-5"] {
            s.insert(
                get(&mut c, id).await.updated_at.unwrap().seconds * 1_000_000_000
                    + i64::from(get(&mut c, id).await.updated_at.unwrap().nanos),
            );
        }
        s
    };
    assert_eq!(stamps.len(), 1, "one batch, one instant: {stamps:?}");
    // The opening balances of the batch were posted (the balance reads from the ledger).
    let a = get(&mut c, "B-4").await;
    assert!(a.debts[0].receivables.is_some(), "{:?}", a.debts[0]);
    srv.stop().await;
}

async fn an_identical_reload_is_unchanged(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let batch: Vec<pb::Account> = (0..30).map(|i| held(&format!("U-{i:02}"))).collect();
    let r = upsert(&mut c, batch.clone()).await;
    assert_eq!(r.created, 30);
    let head = srv.store.max_seq().await.unwrap();
    let r = upsert(&mut c, batch.clone()).await;
    assert_eq!((r.unchanged, r.created, r.updated), (30, 0, 0), "{r:?}");
    assert!(
        r.results
            .iter()
            .all(|x| x.status == pb::UpsertStatus::Unchanged as i32)
    );
    assert_eq!(
        srv.store.max_seq().await.unwrap(),
        head,
        "an unchanged reload writes no change"
    );
    // One changed among unchanged ones: only it is written.
    let mut again = batch;
    again[7].creditor = "Other Bank".into();
    again[7].persons[0].phones.pop();
    let r = upsert(&mut c, again).await;
    assert_eq!((r.unchanged, r.updated), (29, 1), "{r:?}");
    assert_eq!(r.results[7].status, pb::UpsertStatus::Updated as i32);
    let a = get(&mut c, "U-07").await;
    assert_eq!(a.creditor, "Other Bank");
    assert_eq!(a.persons[0].phones.len(), 1);
    assert_eq!(a.holds.len(), 1, "a known hold stays, once");
    let changes = srv.store.changes_after(head, "", 1000).await.unwrap();
    let of: Vec<(&str, ChangeKind)> = changes
        .iter()
        .map(|c| (c.account_id.as_str(), c.kind))
        .collect();
    assert_eq!(of, vec![("U-07", ChangeKind::Account)]);
    srv.stop().await;
}

async fn the_change_feed_carries_every_upserted_account(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    // More than one chunk (1,000 records), a hold on every third.
    let n = 2_500;
    let batch: Vec<pb::Account> = (0..n)
        .map(|i| {
            let id = format!("F-{i:05}");
            if i % 3 == 0 { held(&id) } else { account(&id) }
        })
        .collect();
    let r = upsert(&mut c, batch).await;
    assert_eq!(r.created as usize, n);
    let indexes: Vec<u32> = r.results.iter().map(|x| x.index).collect();
    assert_eq!(
        indexes,
        (0..n as u32).collect::<Vec<_>>(),
        "results in stream order"
    );
    let mut accounts: HashMap<String, usize> = HashMap::new();
    let mut holds = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = srv.store.changes_after(after, "", 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for ch in page {
            match ch.kind {
                ChangeKind::Account => *accounts.entry(ch.account_id).or_default() += 1,
                ChangeKind::Hold => {
                    holds.insert(ch.account_id);
                }
                _ => {}
            }
        }
    }
    assert_eq!(accounts.len(), n, "every account in the feed");
    assert!(accounts.values().all(|k| *k == 1), "each once");
    assert_eq!(holds.len(), n.div_ceil(3), "every new hold in the feed");
    // WatchChanges serves the same feed.
    let mut w = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: 0,
            account_id: "F-00003".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = w.message().await.unwrap().unwrap();
    assert_eq!(first.account_id, "F-00003");
    srv.stop().await;
}

/// Two UpsertAccounts streams at once, a reload of accounts whose debts get outcomes at the
/// same moment, and the outcomes themselves, all while a WatchChanges reader follows the feed:
/// the reader sees every change exactly once, in seq order, and exactly the rows the feed
/// holds (a seq committed after a higher one would be skipped by a reader past it).
async fn concurrent_streams_feed_every_change_once_in_order(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let base: Vec<pb::Account> = (0..40).map(|i| account(&format!("W-{i:02}"))).collect();
    assert_eq!(upsert(&mut c, base.clone()).await.created, 40);
    let start = srv.store.max_seq().await.unwrap();

    let n = 2_000usize;
    let holds_per_stream = n.div_ceil(4);
    let outcomes = 200usize;
    // Changes the writers below make: accounts and new holds of the two streams (an
    // account's opening balances are in its ACCOUNT change, docs/ledger.md), the 40
    // reloaded accounts, one change per outcome.
    let expected = 2 * (n + holds_per_stream) + 40 + outcomes;
    let mut w = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: start,
            account_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(expected);
        while seen.len() < expected {
            let m = tokio::time::timeout(std::time::Duration::from_secs(60), w.message())
                .await
                .expect("the watcher keeps up")
                .expect("watch stream")
                .expect("more changes");
            seen.push(m);
        }
        seen
    });

    let stream = |tag: &'static str| {
        let mut c = c.clone();
        async move {
            let batch: Vec<pb::Account> = (0..n)
                .map(|i| {
                    let id = format!("{tag}-{i:05}");
                    if i % 4 == 0 { held(&id) } else { account(&id) }
                })
                .collect();
            upsert(&mut c, batch).await
        }
    };
    let reload = {
        let mut c = c.clone();
        let again: Vec<pb::Account> = base
            .iter()
            .map(|a| pb::Account {
                creditor: "Reloaded Bank".into(),
                ..a.clone()
            })
            .collect();
        async move { upsert(&mut c, again).await }
    };
    let record_them = {
        let mut c = c.clone();
        let batch: Vec<pb::ContactOutcome> = (0..outcomes)
            .map(|i| {
                outcome(
                    &format!("k-{i}"),
                    &format!("W-{:02}", i % 40),
                    common_pb::OutcomeKind::NoAnswer,
                    T0 + i as i64,
                )
            })
            .collect();
        async move { record(&mut c, batch).await }
    };
    let (a, b, r, acks) = tokio::join!(stream("S1"), stream("S2"), reload, record_them);
    assert_eq!(
        (a.created, a.rejected),
        (n as u32, 0),
        "{:?}",
        a.results.first()
    );
    assert_eq!((b.created, b.rejected), (n as u32, 0));
    assert_eq!((r.updated, r.rejected), (40, 0), "{r:?}");
    assert!(
        acks.iter()
            .all(|k| k.status == pb::AckStatus::Recorded as i32),
        "{acks:?}"
    );

    let seen = reader.await.unwrap();
    let seqs: Vec<i64> = seen.iter().map(|m| m.seq).collect();
    assert!(
        seqs.windows(2).all(|p| p[0] < p[1]),
        "strictly increasing seqs"
    );
    // Exactly the feed's rows after `start`, no more (nothing else was written).
    let mut table = Vec::new();
    let mut after = start;
    loop {
        let page = srv.store.changes_after(after, "", 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        table.extend(page.into_iter().map(|ch| ch.seq));
    }
    // Lengths and the first difference: the whole lists run to thousands of numbers.
    let first_diff = seqs.iter().zip(&table).position(|(a, b)| a != b);
    assert!(
        seqs == table,
        "the watcher saw every committed change: {} seen, {} in the table, first difference at {first_diff:?}, last seen {:?}, last in the table {:?}",
        seqs.len(),
        table.len(),
        seqs.last(),
        table.last()
    );
    let mut accounts: HashMap<String, usize> = HashMap::new();
    let (mut holds, mut outs) = (BTreeSet::new(), 0);
    for m in &seen {
        match pb::ChangeKind::try_from(m.kind).unwrap() {
            pb::ChangeKind::Account => *accounts.entry(m.account_id.clone()).or_default() += 1,
            pb::ChangeKind::Hold => assert!(holds.insert(m.account_id.clone()), "hold once"),
            pb::ChangeKind::Outcome => outs += 1,
            k => panic!("unexpected change {k:?}"),
        }
    }
    // The streams' opening balances committed with their accounts: one per debt with a
    // balance.
    let debts: Vec<String> = ["S1", "S2"]
        .iter()
        .flat_map(|tag| (0..n).map(move |i| format!("{tag}-{i:05}")))
        .flat_map(|id| account(&id).debts.into_iter().map(|d| d.debt_id))
        .collect();
    let book = srv.store.money_book(Some(&debts)).await.unwrap();
    let openings_per_account = account("x")
        .debts
        .iter()
        .filter(|d| d.balance_minor > 0)
        .count();
    assert_eq!(
        book.len(),
        2 * n * openings_per_account,
        "each opening balance once"
    );
    assert_eq!(accounts.len(), 2 * n + 40, "every account written");
    assert!(accounts.values().all(|k| *k == 1), "each once");
    assert_eq!(holds.len(), 2 * holds_per_stream);
    assert_eq!(outs, outcomes);
    srv.stop().await;
}

async fn views_equal_the_per_account_reads(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let mut plain = account("V-3");
    plain.persons[0].phones.clear();
    plain.blackouts.clear();
    plain.call_consents.clear();
    let r = upsert(
        &mut c,
        vec![account("V-1"), held("V-2"), plain, held("V-4")],
    )
    .await;
    assert_eq!(r.created, 4);
    // Contacts: two on V-1 (one before `since`), one on V-4; a promise on V-1 and V-2.
    let acks = record(
        &mut c,
        vec![
            outcome(
                "k1",
                "V-1",
                common_pb::OutcomeKind::NoAnswer,
                T0 - 86_400 * 40,
            ),
            outcome("k2", "V-1", common_pb::OutcomeKind::Conversation, T0),
            outcome("k3", "V-4", common_pb::OutcomeKind::NoAnswer, T0 + 60),
        ],
    )
    .await;
    assert!(acks.iter().all(|a| a.error.is_none()), "{acks:?}");
    for (id, pid) in [("V-1", "p-1"), ("V-2", "p-2")] {
        c.record_promise(pb::RecordPromiseRequest {
            promise: Some(pb::Promise {
                promise_id: pid.into(),
                account_id: id.into(),
                debt_id: format!("{id}-d1"),
                amount_minor: 10_000,
                currency: "USD".into(),
                due_date: "2026-02-01".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .unwrap();
    }
    let since = ts(T0 - 86_400 * 31);
    let ask: Vec<String> = ["V-4", "V-1", "nope", "V-3", "V-2", "V-1"]
        .map(String::from)
        .to_vec();
    let r = c
        .get_account_views(pb::GetAccountViewsRequest {
            account_ids: ask,
            since,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.not_found, vec!["nope".to_owned()]);
    assert!(r.deferred.is_empty());
    assert_eq!(r.as_of_seq, srv.store.max_seq().await.unwrap());
    let order: Vec<&str> = r
        .views
        .iter()
        .map(|v| v.account.as_ref().unwrap().account_id.as_str())
        .collect();
    assert_eq!(
        order,
        vec!["V-4", "V-1", "V-3", "V-2"],
        "asked order, once each"
    );
    for v in &r.views {
        let id = v.account.as_ref().unwrap().account_id.clone();
        let account = get(&mut c, &id).await;
        let history = c
            .get_contact_history(pb::GetContactHistoryRequest {
                account_id: id.clone(),
                since,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let promises = c
            .list_promises(pb::ListPromisesRequest {
                account_id: id.clone(),
                debt_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v.account.as_ref(), Some(&account), "{id}: account");
        assert_eq!(v.contacts, history.contacts, "{id}: contacts");
        assert_eq!(v.promises, promises.promises, "{id}: promises");
    }
    let counts: Vec<(usize, usize)> = r
        .views
        .iter()
        .map(|v| (v.contacts.len(), v.promises.len()))
        .collect();
    assert_eq!(
        counts,
        vec![(1, 0), (1, 1), (0, 0), (0, 1)],
        "the table's cases"
    );
    srv.stop().await;
}

async fn views_refuse_bad_asks(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let ask = |ids: Vec<String>| pb::GetAccountViewsRequest {
        account_ids: ids,
        since: None,
    };
    let e = c.get_account_views(ask(vec![])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("account_ids"), "{}", e.message());
    let e = c
        .get_account_views(ask(vec!["a".into(), String::new()]))
        .await
        .unwrap_err();
    assert!(e.message().starts_with("account_ids[1]"), "{}", e.message());
    let many: Vec<String> = (0..1001).map(|i| format!("x{i}")).collect();
    let e = c.get_account_views(ask(many)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    srv.stop().await;
}

async fn ledgerd_migrate_applies_and_exits(url: &str) {
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
            .arg("migrate")
            .env("LEDGER_DATABASE_URL", url)
            .output()
            .expect("ledgerd runs");
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("ledger migrations applied"), "{stdout}");
    }
    // The schema is there: a store opens on it and it has no changes yet.
    let store = ledger::store::Store::connect(url).await.unwrap();
    assert_eq!(store.max_seq().await.unwrap(), 0);
    store.close().await;
}

/// When `table` was last analyzed by an explicit ANALYZE (autovacuum's are not counted).
async fn analyzed(sql: &mut sqlx::PgConnection, table: &str) -> Option<String> {
    let (at,): (Option<String>,) =
        sqlx::query_as("SELECT last_analyze::text FROM pg_stat_user_tables WHERE relname = $1")
            .bind(table)
            .fetch_one(sql)
            .await
            .unwrap();
    at
}

/// A load of more than 10,000 accounts refreshes the account tables' planner statistics
/// (PostgreSQL's autovacuum would do it a minute or more later, or never where it is off:
/// until then the dialer's page reads scan whole tables). `last_analyze` is set only by an
/// explicit ANALYZE, not by autovacuum's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_load_refreshes_the_planner_statistics() {
    let db = TestDb::postgres().await;
    let srv = TestServer::start(&db.url, None).await;
    let mut c = srv.client().await;
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    assert_eq!(
        analyzed(&mut sql, "addresses").await,
        None,
        "a fresh database"
    );
    let small: Vec<pb::Account> = (0..100).map(|i| account(&format!("L-{i:05}"))).collect();
    assert_eq!(upsert(&mut c, small).await.created, 100);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        analyzed(&mut sql, "addresses").await,
        None,
        "not after a small load"
    );

    let large: Vec<pb::Account> = (100..10_100)
        .map(|i| account(&format!("L-{i:05}")))
        .collect();
    assert_eq!(upsert(&mut c, large).await.created, 10_000);
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while analyzed(&mut sql, "addresses").await.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the account tables are analyzed after the load");
    srv.stop().await;
    db.cleanup().await;
}
