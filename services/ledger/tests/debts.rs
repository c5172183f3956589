//! The account ledger and the receivables (issue 12), over real gRPC on PostgreSQL and
//! SQLite, with the ledger on a set clock (2026-03-10, so dates are exact): a load's balance
//! becomes the debt's opening-balance charge once, reads report the ledger's balance, aging
//! and summary, a dispute money event holds the debt until its resolution (rule
//! POLICY-DISPUTE, through the hold path the dialer's pre-dial check reads), and a
//! disposition's promise and plan are money events, once each.

mod common;

use common::*;
use jiff::civil::Date;
use jiff::{Span, Timestamp};
use ledger::clock::Clock;
use ledger::server::ServeOptions;
use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use ledger_api::pb::receivables_service_client::ReceivablesServiceClient;
use tonic::Code;
use tonic::transport::Channel;

both_stores!(
    a_load_opens_the_balance_once_and_reads_report_the_ledger,
    a_dispute_holds_the_debt_until_resolved,
    dispositions_make_promise_and_plan_events_once,
    money_events_are_in_the_change_feed_once,
);

/// The ledger's today in these tests.
const TODAY: &str = "2026-03-10";

async fn server(url: &str) -> TestServer {
    let clock = Clock::starting_at("2026-03-10T12:00:00Z".parse().unwrap());
    TestServer::start_with(
        url,
        None,
        ServeOptions {
            clock,
            ..ServeOptions::default()
        },
    )
    .await
}

fn today() -> Date {
    TODAY.parse().unwrap()
}

fn days_before(n: i64) -> Date {
    today().checked_sub(Span::new().days(n)).unwrap()
}

async fn import(
    c: &mut ReceivablesServiceClient<Channel>,
    events: &[String],
) -> Result<pb::ImportMoneyEventsResponse, tonic::Status> {
    let msgs: Vec<pb::ImportMoneyEventsRequest> = events
        .iter()
        .map(|e| pb::ImportMoneyEventsRequest {
            event_json: e.clone(),
        })
        .collect();
    c.import_money_events(tokio_stream::iter(msgs))
        .await
        .map(|r| r.into_inner())
}

async fn get(c: &mut LedgerServiceClient<Channel>, id: &str) -> pb::Account {
    c.get_account(pb::GetAccountRequest {
        account_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn events_of(
    r: &mut ReceivablesServiceClient<Channel>,
    debt: &str,
) -> Vec<serde_json::Value> {
    r.get_account_statement(pb::GetAccountStatementRequest {
        account_id: debt.into(),
        as_of: "2030-01-01".into(),
    })
    .await
    .unwrap()
    .into_inner()
    .events_json
    .iter()
    .map(|e| serde_json::from_str(e).unwrap())
    .collect()
}

async fn a_load_opens_the_balance_once_and_reads_report_the_ledger(url: &str) {
    let srv = server(url).await;
    let mut c = srv.client().await;
    let mut r = ReceivablesServiceClient::new(srv.channel().await);
    let created = upsert(&mut c, vec![account("X")]).await;
    assert_eq!(created.created, 1, "{created:?}");

    // The opening charge: principal, the debt's currency, due 95 days before the load.
    let ev = events_of(&mut r, "X-d1").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["id"], "opening:X-d1");
    assert_eq!(ev[0]["type"], "charge");
    assert_eq!(ev[0]["category"], "principal");
    assert_eq!(ev[0]["currency"], "USD");
    assert_eq!(ev[0]["amount_minor"], 123_456);
    assert_eq!(ev[0]["due"], days_before(95).to_string());

    // Read back: the ledger's figures, which are the CRM's on the load date.
    let a = get(&mut c, "X").await;
    let d1 = &a.debts[0];
    assert_eq!((d1.balance_minor, d1.days_past_due), (123_456, 95));
    let s = d1.receivables.as_ref().expect("summary");
    assert_eq!(s.as_of, TODAY);
    assert_eq!(s.open_minor, 123_456);
    assert_eq!(s.past_due_minor, 123_456);
    assert_eq!(s.oldest_bucket, "91_120");
    assert_eq!(
        a.debts[1].receivables.as_ref().unwrap().oldest_bucket,
        "1_30"
    );

    // A reload with another balance posts nothing: the balance is the ledger's now.
    let mut again = account("X");
    again.debts[0].balance_minor = 100_000;
    again.debts[0].days_past_due = 10;
    upsert(&mut c, vec![again.clone(), again]).await;
    assert_eq!(events_of(&mut r, "X-d1").await.len(), 1);
    let a = get(&mut c, "X").await;
    assert_eq!(
        (a.debts[0].balance_minor, a.debts[0].days_past_due),
        (123_456, 95)
    );

    // A payment changes what a read reports.
    let pay = format!(
        r#"{{"type":"payment","id":"pay-1","account":"X-d1","date":"{}","amount_minor":23456}}"#,
        days_before(2)
    );
    import(&mut r, &[pay]).await.unwrap();
    let a = get(&mut c, "X").await;
    let s = a.debts[0].receivables.as_ref().unwrap();
    assert_eq!(a.debts[0].balance_minor, 100_000);
    assert_eq!(s.last_payment_date, days_before(2).to_string());
    assert_eq!(s.last_payment_minor, 23_456);

    // A debt whose money came before the account: no opening charge; the events stand.
    let early = format!(
        r#"{{"type":"charge","id":"crm-c1","account":"Y-d1","date":"{0}","due":"{0}","category":"principal","amount_minor":777,"currency":"USD"}}"#,
        days_before(40)
    );
    import(&mut r, &[early]).await.unwrap();
    upsert(&mut c, vec![account("Y")]).await;
    let ev = events_of(&mut r, "Y-d1").await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    let a = get(&mut c, "Y").await;
    assert_eq!(
        (a.debts[0].balance_minor, a.debts[0].days_past_due),
        (777, 40)
    );

    // A zero balance opens nothing; the read echoes the load.
    let mut z = account("Z");
    z.debts[0].balance_minor = 0;
    upsert(&mut c, vec![z]).await;
    let a = get(&mut c, "Z").await;
    assert!(a.debts[0].receivables.is_none());
    assert_eq!(
        (a.debts[0].balance_minor, a.debts[0].days_past_due),
        (0, 95)
    );
    srv.stop().await;
}

async fn a_dispute_holds_the_debt_until_resolved(url: &str) {
    let srv = server(url).await;
    let mut c = srv.client().await;
    let mut r = ReceivablesServiceClient::new(srv.channel().await);
    upsert(&mut c, vec![account("D")]).await;
    let head = c
        .check_accounts(pb::CheckAccountsRequest {
            accounts: vec![pb::AccountCursor {
                account_id: "D".into(),
                after_seq: 0,
            }],
        })
        .await
        .unwrap()
        .into_inner()
        .as_of_seq;

    let dispute = format!(
        r#"{{"type":"dispute","id":"dsp-1","account":"D-d1","date":"{}","reason":"not mine"}}"#,
        days_before(3)
    );
    import(&mut r, std::slice::from_ref(&dispute))
        .await
        .unwrap();
    let a = get(&mut c, "D").await;
    let holds: Vec<&pb::Hold> = a
        .holds
        .iter()
        .filter(|h| h.kind == pb::HoldKind::Dispute as i32)
        .collect();
    assert_eq!(holds.len(), 1, "{:?}", a.holds);
    let h = holds[0];
    assert_eq!(h.hold_id, "dispute:dsp-1");
    assert_eq!(h.debt_id, "D-d1");
    let midnight =
        |d: Date| -> Timestamp { d.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp() };
    assert_eq!(
        h.since.as_ref().map(|t| t.seconds),
        Some(midnight(days_before(3)).as_second())
    );
    assert!(h.until.is_none());
    assert!(a.debts[0].receivables.as_ref().unwrap().in_dispute);

    // The pre-dial check reports it: a dialer that asks before dialing sees the hold.
    let check = c
        .check_accounts(pb::CheckAccountsRequest {
            accounts: vec![pb::AccountCursor {
                account_id: "D".into(),
                after_seq: head,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        check.changes.iter().any(|ch| ch.ref_id == "dispute:dsp-1"),
        "{check:?}"
    );

    // Re-importing it changes nothing (the hold is set already: no new change).
    import(&mut r, std::slice::from_ref(&dispute))
        .await
        .unwrap();
    let again = c
        .check_accounts(pb::CheckAccountsRequest {
            accounts: vec![pb::AccountCursor {
                account_id: "D".into(),
                after_seq: check.as_of_seq,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.changes.is_empty(), "{again:?}");

    // The resolution releases it as of its date.
    let resolved = format!(
        r#"{{"type":"dispute_resolved","id":"dsp-1-r","account":"D-d1","date":"{}","dispute":"dsp-1","resolution":"verified"}}"#,
        days_before(1)
    );
    import(&mut r, &[resolved]).await.unwrap();
    let a = get(&mut c, "D").await;
    let h = a
        .holds
        .iter()
        .find(|h| h.hold_id == "dispute:dsp-1")
        .unwrap();
    assert_eq!(
        h.until.as_ref().map(|t| t.seconds),
        Some(midnight(days_before(1)).as_second())
    );
    assert!(!a.debts[0].receivables.as_ref().unwrap().in_dispute);

    // A dispute on an id that is no ledger debt is accepted and holds nothing; once the
    // debt is loaded, its hold is set.
    let other = format!(
        r#"{{"type":"dispute","id":"dsp-2","account":"E-d2","date":"{}"}}"#,
        days_before(5)
    );
    import(&mut r, &[other]).await.unwrap();
    upsert(&mut c, vec![account("E")]).await;
    let a = get(&mut c, "E").await;
    assert!(
        a.holds
            .iter()
            .any(|h| h.hold_id == "dispute:dsp-2" && h.debt_id == "E-d2" && h.until.is_none()),
        "{:?}",
        a.holds
    );
    srv.stop().await;
}

async fn dispositions_make_promise_and_plan_events_once(url: &str) {
    let srv = server(url).await;
    let mut c = srv.client().await;
    let mut r = ReceivablesServiceClient::new(srv.channel().await);
    upsert(&mut c, vec![account("P")]).await;
    let promise = pb::Promise {
        promise_id: "k1-ptp".into(),
        account_id: "P".into(),
        debt_id: "P-d1".into(),
        amount_minor: 20_000,
        currency: "USD".into(),
        due_date: "2026-03-20".into(),
        outcome_key: "k1".into(),
        set_by: "agent-7".into(),
        ..Default::default()
    };
    for _ in 0..2 {
        c.record_promise(pb::RecordPromiseRequest {
            promise: Some(promise.clone()),
            fence: None,
        })
        .await
        .unwrap();
    }
    let ev = events_of(&mut r, "P-d1").await;
    let promises: Vec<_> = ev.iter().filter(|e| e["type"] == "promise").collect();
    assert_eq!(promises.len(), 1, "{ev:?}");
    assert_eq!(promises[0]["id"], "outcome:k1:promise");
    assert_eq!(promises[0]["date"], TODAY);
    assert_eq!(promises[0]["due"], "2026-03-20");
    let s = get(&mut c, "P").await.debts[0].receivables.clone().unwrap();
    assert_eq!(s.promise_status, "pending");
    assert_eq!(s.promise_due, "2026-03-20");
    assert_eq!(s.promise_amount_minor, 20_000);

    let plan = pb::RecordPaymentPlanRequest {
        account_id: "P".into(),
        debt_id: "P-d2".into(),
        outcome_key: "k2".into(),
        made_on: TODAY.into(),
        installments: vec![
            pb::PlanInstallment {
                due: "2026-04-01".into(),
                amount_minor: 2_500,
            },
            pb::PlanInstallment {
                due: "2026-05-01".into(),
                amount_minor: 2_500,
            },
        ],
        grace_days: 3,
        fence: None,
    };
    let first = c
        .record_payment_plan(plan.clone())
        .await
        .unwrap()
        .into_inner();
    let second = c
        .record_payment_plan(plan.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate && second.duplicate);
    let ev = events_of(&mut r, "P-d2").await;
    let plans: Vec<_> = ev.iter().filter(|e| e["type"] == "plan").collect();
    assert_eq!(plans.len(), 1, "{ev:?}");
    assert_eq!(plans[0]["id"], "outcome:k2:plan");
    assert_eq!(plans[0]["grace_days"], 3);
    assert_eq!(
        get(&mut c, "P").await.debts[1]
            .receivables
            .as_ref()
            .unwrap()
            .plan_status,
        "active"
    );

    // Bad plans are INVALID_ARGUMENT naming the field; a foreign debt too.
    let cases: Vec<(&str, pb::RecordPaymentPlanRequest)> = vec![
        ("installments[1].due", {
            let mut p = plan.clone();
            p.installments[1].due = "2026-03-01".into();
            p
        }),
        ("installments[0].due", {
            let mut p = plan.clone();
            p.installments[0].due = "April".into();
            p
        }),
        ("installments[0].amount_minor", {
            let mut p = plan.clone();
            p.installments[0].amount_minor = 0;
            p
        }),
        ("plan.installments", {
            let mut p = plan.clone();
            p.installments.clear();
            p
        }),
        ("plan.grace_days", {
            let mut p = plan.clone();
            p.grace_days = 4000;
            p
        }),
        ("plan.debt_id", {
            let mut p = plan.clone();
            p.debt_id = "X-d1".into();
            p
        }),
    ];
    for (field, bad) in cases {
        let e = c.record_payment_plan(bad).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    srv.stop().await;
}

/// What opening balances and receivables summaries cost a load, a reload of the same records
/// and a read: the same accounts loaded with balances (an opening charge per debt) and with
/// zero balances (none), loaded again unchanged, then read back. Prints figures; asserts nothing about speed.
/// `cargo test --release -p ledger --test debts -- --ignored --nocapture load_and_read_cost`
/// (`LEDGER_BENCH_ACCOUNTS`, default 2000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn load_and_read_cost() {
    let n: usize = std::env::var("LEDGER_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    for (name, db) in [
        ("postgres", TestDb::postgres().await),
        ("sqlite", TestDb::sqlite()),
    ] {
        let srv = server(&db.url).await;
        let mut c = srv.client().await;
        for (what, balance) in [("with opening balances", 123_456), ("zero balances", 0)] {
            let accounts: Vec<pb::Account> = (0..n)
                .map(|i| {
                    let mut a = account(&format!("{balance}-{i}"));
                    for d in &mut a.debts {
                        d.balance_minor = balance;
                    }
                    a
                })
                .collect();
            let t = std::time::Instant::now();
            let r = upsert(&mut c, accounts.clone()).await;
            let load = t.elapsed();
            assert_eq!(r.created as usize, n);
            // A daily reload of the same records: nothing to write, openings already posted.
            let t = std::time::Instant::now();
            let r = upsert(&mut c, accounts).await;
            let reload = t.elapsed();
            assert_eq!(r.unchanged as usize, n);
            let t = std::time::Instant::now();
            for i in 0..n.min(500) {
                get(&mut c, &format!("{balance}-{i}")).await;
            }
            let read = t.elapsed();
            println!(
                "{name}: {what}: loaded {n} accounts (2 debts each) in {:.2} s ({:.0}/s); \
                 reloaded unchanged in {:.2} s ({:.0}/s); \
                 {} GetAccount in {:.2} s ({:.2} ms each)",
                load.as_secs_f64(),
                n as f64 / load.as_secs_f64(),
                reload.as_secs_f64(),
                n as f64 / reload.as_secs_f64(),
                n.min(500),
                read.as_secs_f64(),
                read.as_secs_f64() * 1000.0 / n.min(500) as f64
            );
        }
        srv.stop().await;
        db.cleanup().await;
    }
}

/// The changes of the feed after `after`, up to and including the ACCOUNT change of
/// `sentinel` (loaded last, so every change committed before it has been read).
async fn feed_until(
    c: &mut LedgerServiceClient<Channel>,
    after: i64,
    sentinel: &str,
) -> Vec<pb::Change> {
    upsert(c, vec![account(sentinel)]).await;
    let mut stream = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: after,
            account_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(ch) = stream.message().await.unwrap() {
        let done = ch.kind == pb::ChangeKind::Account as i32 && ch.account_id == sentinel;
        if !done {
            out.push(ch);
        } else {
            return out;
        }
    }
    panic!("the feed ended before the sentinel");
}

/// (kind, account, debt, event id, event type, amount) of the RECEIVABLES changes.
fn money_changes(changes: &[pb::Change]) -> Vec<(String, String, String, String, i64)> {
    changes
        .iter()
        .filter(|c| c.kind == pb::ChangeKind::Receivables as i32)
        .map(|c| match &c.payload {
            Some(pb::change::Payload::Receivables(m)) => (
                c.account_id.clone(),
                m.debt_id.clone(),
                m.event_id.clone(),
                m.event_type.clone(),
                m.amount_minor,
            ),
            other => panic!("a RECEIVABLES change carries its event: {other:?}"),
        })
        .collect()
}

/// Every new money event of a ledger debt is one RECEIVABLES change of the account owning the
/// debt, committed with the import (in its order, after the changes before it): a re-import
/// adds none, a refused batch none, a dispute only its HOLD change, and money for a debt the
/// ledger does not know no change. The pre-dial check reports them by event id.
async fn money_events_are_in_the_change_feed_once(url: &str) {
    let srv = server(url).await;
    let mut c = srv.client().await;
    let mut r = ReceivablesServiceClient::new(srv.channel().await);
    let head = |c: &mut LedgerServiceClient<Channel>| {
        let mut c = c.clone();
        async move {
            c.check_accounts(pb::CheckAccountsRequest::default())
                .await
                .unwrap()
                .into_inner()
                .as_of_seq
        }
    };
    let start = head(&mut c).await;
    // The load: its ACCOUNT change, which stands for the opening balances of both debts
    // (money events of the same transaction: no RECEIVABLES change of their own); a read
    // after it carries them.
    upsert(&mut c, vec![account("F")]).await;
    let load = feed_until(&mut c, start, "S1").await;
    assert_eq!(load.len(), 1, "{load:?}");
    assert_eq!(load[0].kind, pb::ChangeKind::Account as i32, "{load:?}");
    assert_eq!(load[0].account_id, "F");
    let loaded = get(&mut c, "F").await;
    let open: Vec<i64> = loaded
        .debts
        .iter()
        .map(|d| d.receivables.as_ref().expect("opening posted").open_minor)
        .collect();
    assert_eq!(open, vec![123_456, 5_000]);

    let after = head(&mut c).await;
    let d = days_before(1);
    let batch = vec![
        format!(
            r#"{{"type":"payment","id":"f-pay","account":"F-d1","date":"{d}","amount_minor":456}}"#
        ),
        format!(
            r#"{{"type":"promise","id":"f-ptp","account":"F-d2","date":"{d}","amount_minor":2000,"due":"{}"}}"#,
            today()
        ),
        format!(r#"{{"type":"dispute","id":"f-dsp","account":"F-d2","date":"{d}"}}"#),
        format!(
            r#"{{"type":"payment","id":"n-pay","account":"nobody-d1","date":"{d}","amount_minor":5}}"#
        ),
        format!(
            r#"{{"type":"reversal","id":"f-rev","account":"F-d1","date":"{d}","reverses":"f-pay"}}"#
        ),
    ];
    assert_eq!(import(&mut r, &batch).await.unwrap().new_events, 5);
    // Again: all duplicates; and a refused batch.
    assert_eq!(import(&mut r, &batch).await.unwrap().duplicate_events, 5);
    let bad = format!(
        r#"{{"type":"payment","id":"f-bad","account":"F-d1","date":"{d}","amount_minor":-1}}"#
    );
    assert!(import(&mut r, &[bad]).await.is_err());

    let feed = feed_until(&mut c, after, "S2").await;
    assert_eq!(
        money_changes(&feed),
        vec![
            (
                "F".into(),
                "F-d1".into(),
                "f-pay".into(),
                "payment".into(),
                456
            ),
            (
                "F".into(),
                "F-d2".into(),
                "f-ptp".into(),
                "promise".into(),
                2000
            ),
            (
                "F".into(),
                "F-d1".into(),
                "f-rev".into(),
                "reversal".into(),
                0
            ),
        ]
    );
    // In seq order, the import's changes together and before the dispute's hold (set after
    // the import committed); the dispute itself is only that hold.
    let seqs: Vec<i64> = feed.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let kinds: Vec<i32> = feed.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            pb::ChangeKind::Receivables as i32,
            pb::ChangeKind::Receivables as i32,
            pb::ChangeKind::Receivables as i32,
            pb::ChangeKind::Hold as i32,
        ],
        "{feed:?}"
    );
    assert!(feed.iter().all(|c| c.account_id == "F"), "{feed:?}");

    // The pre-dial check names them by event id.
    let check = c
        .check_accounts(pb::CheckAccountsRequest {
            accounts: vec![pb::AccountCursor {
                account_id: "F".into(),
                after_seq: after,
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let refs: Vec<(i32, String)> = check
        .changes
        .iter()
        .map(|c| (c.kind, c.ref_id.clone()))
        .collect();
    assert_eq!(
        refs[..3],
        [
            (pb::ChangeKind::Receivables as i32, "f-pay".to_owned()),
            (pb::ChangeKind::Receivables as i32, "f-ptp".to_owned()),
            (pb::ChangeKind::Receivables as i32, "f-rev".to_owned()),
        ],
        "{refs:?}"
    );
    srv.stop().await;
}
