//! The dialer's ledger link against the real ledger (in-process, JWT auth on): an account
//! loads into an `AccountView` the compliance engine decides on correctly (a cease hold
//! denies with US_REGF_CEASE), the change feed resumes across a ledger restart without
//! repeating or missing a seq, account lists page, and failures map to the dialer's errors.

#[path = "../../dialer/tests/common/mod.rs"]
mod common;
mod inproc;

use std::time::Duration;

use auth::Role;
use auth::Token;
use common::*;
use compliance::model::DialMode;
use compliance::{Engine, Policy, ReasonCode, Verdict};
use dialer::account::{AccountSource, SourceError};
use dialer::ledger_link::{LedgerLink, LinkError, LinkOptions};
use inproc::*;
use jiff::{SignedDuration, Timestamp};
use ledger_api::domain::{AccountFilter, Change, ChangeKind, ChangePayload, HoldKind, PhoneKind};
use ledger_api::pb;
use tokio_stream::{Stream, StreamExt};

fn at(t: Timestamp) -> Option<prost_types::Timestamp> {
    Some(ledger_api::wire::ts_to(t))
}

fn fast() -> LinkOptions {
    LinkOptions {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..LinkOptions::default()
    }
}

/// The next change that is not a money event's (the accounts loaded here have opening
/// balances, each a RECEIVABLES change: tested in the ledger's `tests/debts.rs`).
async fn next(w: &mut (impl Stream<Item = Result<Change, LinkError>> + Unpin)) -> Change {
    loop {
        let c = tokio::time::timeout(Duration::from_secs(60), w.next())
            .await
            .expect("a change within 60 s")
            .expect("stream open")
            .expect("a valid change");
        if c.kind != ChangeKind::Receivables {
            return c;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_gives_the_compliance_engine_what_it_needs() {
    let db = TestDb::sqlite();
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(&mut admin, vec![account("V-1")]).await;
    // Whole seconds: the ledger keeps microseconds.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let days = |d: i64| now - SignedDuration::from_hours(24 * d);
    // History: two contacts in the last 31 days and one older (not loaded).
    let mut recent = provisional("h-recent", "V-1");
    recent.started_at = days(2);
    let mut recent2 = final_outcome("h-recent-2", "V-1");
    recent2.started_at = days(1);
    recent2.debt_ids = vec!["V-1-d1".into(), "V-1-d2".into()];
    let mut old = final_outcome("h-old", "V-1");
    old.started_at = days(40);
    let outs: Vec<_> = [recent, recent2, old]
        .into_iter()
        .map(ledger_api::wire::outcome_out)
        .collect();
    let mut stream = admin
        .record_outcomes(tokio_stream::iter(vec![pb::RecordOutcomesRequest {
            outcomes: outs,
            fence: None,
        }]))
        .await
        .unwrap()
        .into_inner();
    // The ledger may commit the three in more than one batch: one ack message per batch.
    let mut acked = 0;
    while acked < 3 {
        acked += stream.message().await.unwrap().expect("acks").acks.len();
    }
    assert_eq!(acked, 3);
    admin
        .set_consent(pb::SetConsentRequest {
            account_id: "V-1".into(),
            person_id: "p1".into(),
            number: "+14045550199".into(),
            consent: false,
            source: "said stop".into(),
            at: at(days(3)),
            set_by: "agent-7".into(),
            fence: None,
        })
        .await
        .unwrap();
    admin
        .record_promise(pb::RecordPromiseRequest {
            promise: Some(pb::Promise {
                promise_id: "pr-1".into(),
                account_id: "V-1".into(),
                debt_id: "V-1-d1".into(),
                amount_minor: 10_000,
                currency: "USD".into(),
                due_date: "2026-02-01".into(),
                outcome_key: "h-recent-2".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .unwrap();

    let link = LedgerLink::connect(&ledger.uri(), token(Role::Dialer))
        .await
        .unwrap();
    let v = link.load("V-1").await.unwrap();
    let a = &v.account;
    assert_eq!(
        (a.account_id.as_str(), a.creditor.as_str()),
        ("V-1", "Acme Bank")
    );
    assert!(
        a.updated_at.is_some(),
        "read-only fields survive the conversion"
    );
    assert!(a.debts.iter().all(|d| d.last_activity_at.is_some()));
    assert_eq!(v.balance_minor(), 128_456);
    let mut keys: Vec<_> = v
        .contacts
        .iter()
        .map(|c| c.idempotency_key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["h-recent", "h-recent-2"], "only the last 31 days");
    assert!(
        v.contacts
            .iter()
            .all(|c| c.event_id > 0 && c.recorded_at.is_some())
    );
    assert!(
        v.contacts.iter().all(|c| c.counts_for_regf),
        "set by the ledger, kept"
    );
    assert_eq!(v.promises.len(), 1);
    assert!(v.promises[0].created_at.is_some());
    let phones = v.phones_in_order(&[PhoneKind::Mobile, PhoneKind::Landline]);
    assert_eq!(phones.len(), 2);
    assert_eq!(phones[1].consent_revoked_at, Some(days(3)));

    // The compliance question built from the view.
    let engine = Engine::builtin();
    let policy = Policy::default();
    let when = now + SignedDuration::from_hours(1);
    let req = v.call_request("+14045550134", &v.debt_ids(), when, DialMode::Predictive);
    assert_eq!(req.history.len(), 2);
    assert_eq!(req.debts.len(), 2);
    assert_eq!(req.debts[1].student_loan_group.as_deref(), Some("sl-1"));
    assert_eq!(req.consumer.phones.len(), 2);
    assert!(req.consumer.phones[0].consent_automated);
    assert_eq!(req.consumer.phones[1].consent_revoked_at, Some(days(3)));
    assert_eq!(req.consumer.known_zone.as_deref(), Some("America/New_York"));
    assert_eq!(req.consumer.blackouts.len(), 1);
    assert_eq!(req.consumer.call_consents.len(), 1);
    assert!(req.consumer.holds.is_empty());
    let before = engine.evaluate(&req, &policy).unwrap();
    assert!(!before.has(ReasonCode::RegfCease), "{:?}", before.reasons);

    // A written cease: the next load carries the hold and the engine refuses.
    admin
        .set_hold(pb::SetHoldRequest {
            hold: Some(pb::Hold {
                account_id: "V-1".into(),
                kind: pb::HoldKind::Cease as i32,
                since: at(days(1)),
                set_by: "letter-scan".into(),
                reason: "written cease".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .unwrap();
    let v = link.load("V-1").await.unwrap();
    assert_eq!(v.account.holds.len(), 1);
    assert_eq!(v.account.holds[0].kind, HoldKind::Cease);
    let req = v.call_request("+14045550134", &v.debt_ids(), when, DialMode::Predictive);
    let d = engine.evaluate(&req, &policy).unwrap();
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.has(ReasonCode::RegfCease), "{:?}", d.reasons);
    assert_eq!(d.next_eligible, None, "a hold has no next eligible instant");

    // Failures: unknown account, wrong token, ledger gone.
    assert_eq!(
        link.load("nope").await.unwrap_err(),
        SourceError::NotFound("nope".into())
    );
    let forged = LedgerLink::connect(&ledger.uri(), Token::fixed("forged"))
        .await
        .unwrap();
    assert!(matches!(
        forged.load("V-1").await.unwrap_err(),
        SourceError::Unavailable(m) if m.starts_with("Unauthenticated")
    ));
    let uri = ledger.uri();
    ledger.stop().await;
    let gone = LedgerLink::connect_lazy(&uri, token(Role::Dialer)).unwrap();
    assert!(matches!(
        gone.load("V-1").await.unwrap_err(),
        SourceError::Unavailable(_)
    ));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_reconnect_without_repeats_or_gaps() {
    let db = TestDb::sqlite();
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let addr = ledger.addr;
    let mut admin = ledger.client(Role::Admin).await;
    upsert(&mut admin, vec![account("W-1")]).await;
    let link = LedgerLink::connect_lazy(&ledger.uri(), token(Role::Dialer))
        .unwrap()
        .with_options(fast());
    let mut w = link.watch(0);
    let mut seen = vec![next(&mut w).await];
    assert_eq!(seen[0].kind, ChangeKind::Account);
    assert!(matches!(&seen[0].payload, ChangePayload::Account(id) if id == "W-1"));

    let hold = |kind: pb::HoldKind, since: i64| pb::SetHoldRequest {
        hold: Some(pb::Hold {
            account_id: "W-1".into(),
            kind: kind as i32,
            since: ts(since),
            ..Default::default()
        }),
        fence: None,
    };
    admin
        .set_hold(hold(pb::HoldKind::Dispute, T0))
        .await
        .unwrap();
    let c = next(&mut w).await;
    match &c.payload {
        ChangePayload::Hold(h) => {
            assert_eq!((h.kind, h.account_id.as_str()), (HoldKind::Dispute, "W-1"));
        }
        other => panic!("want a hold, got {other:?}"),
    }
    seen.push(c);

    // The ledger goes away (ending the stream) and comes back on the same address; changes
    // made after the restart arrive on the resumed stream.
    ledger.stop().await;
    let ledger = TestLedger::start(&db.ledger_url, Some(addr)).await;
    let mut admin = ledger.client(Role::Admin).await;
    admin
        .set_consent(pb::SetConsentRequest {
            account_id: "W-1".into(),
            person_id: "p1".into(),
            number: "+14045550134".into(),
            consent: false,
            at: ts(T0 + 60),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .set_hold(hold(pb::HoldKind::Cease, T0 + 120))
        .await
        .unwrap();
    upsert(&mut admin, vec![account("W-2")]).await;
    for _ in 0..3 {
        seen.push(next(&mut w).await);
    }
    assert!(
        matches!(&seen[2].payload, ChangePayload::Consent(c) if c.phone.consent_revoked_at.is_some())
    );
    assert!(matches!(&seen[3].payload, ChangePayload::Hold(h) if h.kind == HoldKind::Cease));
    assert!(matches!(&seen[4].payload, ChangePayload::Account(id) if id == "W-2"));

    // Exactly the ledger's feed, in order: nothing repeated, nothing skipped.
    let feed: Vec<i64> = ledger
        .store
        .changes_after(0, "", 1000)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.kind != ChangeKind::Receivables)
        .map(|c| c.seq)
        .collect();
    let got: Vec<i64> = seen.iter().map(|c| c.seq).collect();
    assert_eq!(got, feed);
    // And the next change is the next one, not a replay.
    admin
        .set_hold(hold(pb::HoldKind::Attorney, T0 + 180))
        .await
        .unwrap();
    let c = next(&mut w).await;
    assert!(c.seq > *got.last().unwrap());
    assert!(matches!(&c.payload, ChangePayload::Hold(h) if h.kind == HoldKind::Attorney));

    // A token the ledger refuses ends the stream with the error (retrying cannot help).
    let forged = LedgerLink::connect_lazy(&ledger.uri(), Token::fixed("forged"))
        .unwrap()
        .with_options(fast());
    let mut fw = forged.watch(0);
    let e = tokio::time::timeout(Duration::from_secs(60), fw.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, LinkError::Status(s) if s.code() == tonic::Code::Unauthenticated),
        "{e}"
    );
    assert!(fw.next().await.is_none());
    drop(w);
    ledger.stop().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_accounts_pages_through_a_filter() {
    let db = TestDb::postgres().await;
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut admin = ledger.client(Role::Admin).await;
    let mut accounts: Vec<_> = (0..7).map(|i| account(&format!("P-{i}"))).collect();
    accounts[3].persons[0].phones.clear();
    accounts[5].creditor = "Other".into();
    upsert(&mut admin, accounts).await;
    let link = LedgerLink::connect(&ledger.uri(), token(Role::Dialer))
        .await
        .unwrap();
    let filter = AccountFilter {
        creditor: "Acme Bank".into(),
        has_phone: Some(true),
        min_days_past_due: Some(90),
        ..Default::default()
    };
    let mut ids = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let p = link.list_accounts(&filter, 2, &token).await.unwrap();
        pages += 1;
        ids.extend(p.account_ids);
        match p.next_page_token {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(ids, ["P-0", "P-1", "P-2", "P-4", "P-6"]);
    assert_eq!(pages, 3);
    let bad = AccountFilter {
        min_balance_minor: Some(10),
        max_balance_minor: Some(1),
        ..Default::default()
    };
    let e = link.list_accounts(&bad, 0, "").await.unwrap_err();
    assert!(
        matches!(&e, LinkError::Status(s) if s.code() == tonic::Code::InvalidArgument
            && s.message().starts_with("filter.max_balance_minor")),
        "{e}"
    );
    ledger.stop().await;
    db.cleanup().await;
}
