//! The LedgerService contract over real gRPC, against PostgreSQL (fresh database per test)
//! and the embedded SQLite store: validation and status codes, idempotency, exactly-once
//! outcome ingest, history for compliance, holds/consents/promises, change feed resume,
//! auth, health and reflection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use ledger_api::common_pb;
use ledger_api::pb;
use tonic::Code;

both_stores!(
    accounts_upsert_get_validate,
    outcomes_are_applied_exactly_once,
    history_holds_consents_promises,
    watch_changes_resumes_without_loss,
    list_accounts_filters_and_pages,
    check_accounts_reports_every_change_after_the_cursor,
);

async fn accounts_upsert_get_validate(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;

    let mut bad = account("A-bad");
    bad.debts[1].currency = "dollars".into();
    let mut no_person = account("A-np");
    no_person.persons.clear();
    let r = upsert(&mut c, vec![account("A-1"), bad, account("A-2"), no_person]).await;
    assert_eq!((r.created, r.rejected), (2, 2), "{r:?}");
    let e = r.results[1].error.as_ref().unwrap();
    assert_eq!(e.code, "INVALID_ARGUMENT");
    assert_eq!(e.field, "account.debts[1].currency");
    assert_eq!(
        r.results[3].error.as_ref().unwrap().field,
        "account.persons"
    );
    assert_eq!(r.results[2].status, pb::UpsertStatus::Created as i32);

    // Nothing of a rejected record was committed.
    let nf = c
        .get_account(pb::GetAccountRequest {
            account_id: "A-bad".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound);

    let a = c
        .get_account(pb::GetAccountRequest {
            account_id: "A-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let want = account("A-1");
    assert_eq!(a.persons, want.persons);
    assert_eq!(a.blackouts, want.blackouts);
    assert_eq!(a.call_consents, want.call_consents);
    assert_eq!(a.debts.len(), 2);
    assert_eq!(a.debts[0].balance_minor, 123_456);
    assert_eq!(a.debts[1].student_loan_group, "sl-1");
    assert!(a.debts[0].last_activity_at.is_some());

    // The first load's balance is the debt's opening balance in the receivables ledger,
    // which the read reports (tests/debts.rs checks the aging on a set clock).
    let r0 = a.debts[0].receivables.as_ref().expect("a summary");
    assert_eq!(r0.open_minor, 123_456);

    // Re-sending the same record is a no-op; a changed one is an update. After the first
    // load the balance is the ledger's: a reload's balance posts nothing.
    let mut changed = account("A-1");
    changed.debts[0].balance_minor = 100_000;
    changed.creditor = "Acme Two".into();
    let r = upsert(&mut c, vec![account("A-2"), changed]).await;
    assert_eq!((r.unchanged, r.updated, r.rejected), (1, 1, 0), "{r:?}");
    let a = c
        .get_account(pb::GetAccountRequest {
            account_id: "A-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.creditor, "Acme Two");
    assert_eq!(a.debts[0].balance_minor, 123_456);

    let e = c
        .get_account(pb::GetAccountRequest {
            account_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("account_id"), "{}", e.message());
    srv.stop().await;
}

async fn outcomes_are_applied_exactly_once(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("B-1"), account("B-2")]).await;

    let mut batch = Vec::new();
    for i in 0..50 {
        let kind = if i % 5 == 0 {
            common_pb::OutcomeKind::Busy
        } else {
            common_pb::OutcomeKind::NoAnswer
        };
        batch.push(outcome(
            &format!("k{i}"),
            if i % 2 == 0 { "B-1" } else { "B-2" },
            kind,
            T0 + i,
        ));
    }
    // Repeated inside the same stream.
    batch.push(outcome(
        "k3",
        "B-2",
        common_pb::OutcomeKind::NoAnswer,
        T0 + 3,
    ));
    // Unknown account, foreign debt, missing outcome, bad number.
    batch.push(outcome("x-acct", "nope", common_pb::OutcomeKind::Busy, T0));
    let mut foreign = outcome("x-debt", "B-1", common_pb::OutcomeKind::Busy, T0);
    foreign.debt_ids = vec!["B-2-d1".into()];
    batch.push(foreign);
    let mut no_kind = outcome("x-kind", "B-1", common_pb::OutcomeKind::Busy, T0);
    no_kind.outcome = 0;
    batch.push(no_kind);
    let mut bad_num = outcome("x-num", "B-1", common_pb::OutcomeKind::Busy, T0);
    bad_num.number = "555-0134".into();
    batch.push(bad_num);

    let acks = record(&mut c, batch.clone()).await;
    let by_key = |k: &str| {
        acks.iter()
            .find(|a| a.idempotency_key == k)
            .unwrap()
            .clone()
    };
    let recorded = acks
        .iter()
        .filter(|a| a.status == pb::AckStatus::Recorded as i32)
        .count();
    assert_eq!(recorded, 50);
    let dup: Vec<_> = acks.iter().filter(|a| a.duplicate).collect();
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].idempotency_key, "k3");
    let e = by_key("x-acct").error.unwrap();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("NOT_FOUND", "account_id")
    );
    let e = by_key("x-debt").error.unwrap();
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("INVALID_ARGUMENT", "debt_ids[0]")
    );
    assert_eq!(by_key("x-kind").error.unwrap().field, "outcome");
    assert_eq!(by_key("x-num").error.unwrap().field, "number");

    // Resending everything: every valid key is a duplicate, nothing new.
    let again = record(&mut c, batch).await;
    assert_eq!(
        again
            .iter()
            .filter(|a| a.status == pb::AckStatus::Recorded as i32)
            .count(),
        0
    );
    assert_eq!(again.iter().filter(|a| a.duplicate).count(), 51);

    let all = list_all(
        &mut c,
        pb::ListOutcomesRequest {
            page_size: 7,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all.len(), 50);
    let keys: HashSet<_> = all.iter().map(|o| o.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 50);
    assert!(all.windows(2).all(|w| w[0].event_id < w[1].event_id));
    let k0 = all.iter().find(|o| o.idempotency_key == "k0").unwrap();
    assert!(!k0.counts_for_regf, "busy does not count for Reg F");
    let k1 = all.iter().find(|o| o.idempotency_key == "k1").unwrap();
    assert!(k1.counts_for_regf);
    assert_eq!(k1.recording_ref, "rec/k1");
    assert_eq!(k1.amd, pb::AmdVerdict::Human as i32);
    assert_eq!(k1.dial_mode, common_pb::DialMode::Predictive as i32);

    // Filters.
    let b1 = pb::ListOutcomesRequest {
        account_id: "B-1".into(),
        since: ts(T0 + 10),
        until: ts(T0 + 20),
        ..Default::default()
    };
    let by_debt = pb::ListOutcomesRequest {
        debt_id: "B-2-d1".into(),
        ..Default::default()
    };
    let one = pb::ListOutcomesRequest {
        idempotency_key: "k7".into(),
        ..Default::default()
    };
    for (filter, want) in [(b1, 5), (by_debt, 25), (one, 1)] {
        let got = list_all(&mut c, filter.clone()).await;
        assert_eq!(got.len(), want, "{filter:?}");
    }
    let e = c
        .list_outcomes(pb::ListOutcomesRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    srv.stop().await;
}

async fn history_holds_consents_promises(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("C-1")]).await;
    let mut both_debts = outcome("h1", "C-1", common_pb::OutcomeKind::Conversation, T0);
    both_debts.debt_ids = vec!["C-1-d1".into(), "C-1-d2".into()];
    let mut other_debt = outcome("h2", "C-1", common_pb::OutcomeKind::Voicemail, T0 + 100);
    other_debt.debt_ids = vec!["C-1-d2".into()];
    let mut inbound = outcome("h3", "C-1", common_pb::OutcomeKind::Conversation, T0 + 200);
    inbound.direction = pb::Direction::Inbound as i32;
    record(&mut c, vec![both_debts, other_debt, inbound]).await;

    // Holds: idempotent by id (derived when absent), release by `until`.
    let hold = pb::Hold {
        account_id: "C-1".into(),
        kind: pb::HoldKind::Cease as i32,
        since: ts(T0 + 300),
        set_by: "letter-scan".into(),
        reason: "written cease".into(),
        ..Default::default()
    };
    let h1 = c
        .set_hold(pb::SetHoldRequest {
            hold: Some(hold.clone()),
            fence: None,
        })
        .await
        .unwrap()
        .into_inner();
    let h2 = c
        .set_hold(pb::SetHoldRequest {
            hold: Some(hold.clone()),
            fence: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!h1.hold_id.is_empty());
    assert_eq!(h1, h2);
    let mut nf = hold.clone();
    nf.account_id = "nope".into();
    let e = c
        .set_hold(pb::SetHoldRequest {
            hold: Some(nf),
            fence: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut bad = hold.clone();
    bad.kind = pb::HoldKind::NumberOptout as i32;
    let e = c
        .set_hold(pb::SetHoldRequest {
            hold: Some(bad),
            fence: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("hold.number"), "{}", e.message());
    let mut no_kind = hold.clone();
    no_kind.kind = 0;
    let e = c
        .set_hold(pb::SetHoldRequest {
            hold: Some(no_kind),
            fence: None,
        })
        .await
        .unwrap_err();
    assert!(e.message().starts_with("hold.kind"), "{}", e.message());

    // Consent revocation sticks even when the CRM reloads the account with consent.
    let p = c
        .set_consent(pb::SetConsentRequest {
            account_id: "C-1".into(),
            person_id: "p1".into(),
            number: "+14045550134".into(),
            consent: false,
            source: "said stop on call h3".into(),
            at: ts(T0 + 250),
            set_by: "agent-7".into(),
            fence: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.consent_revoked_at, ts(T0 + 250));
    let e = c
        .set_consent(pb::SetConsentRequest {
            account_id: "C-1".into(),
            person_id: "p1".into(),
            number: "+14045550100".into(),
            consent: false,
            at: ts(T0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let mut reload = account("C-1");
    reload.creditor = "Acme Bank NA".into();
    let r = upsert(&mut c, vec![reload]).await;
    assert_eq!(r.updated, 1);

    // Promises.
    let pr = c
        .record_promise(pb::RecordPromiseRequest {
            promise: Some(pb::Promise {
                promise_id: "pr-1".into(),
                account_id: "C-1".into(),
                debt_id: "C-1-d1".into(),
                amount_minor: 25_000,
                currency: "USD".into(),
                due_date: "2026-02-01".into(),
                outcome_key: "h1".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pr.status, pb::PromiseStatus::Pending as i32);
    let mut kept = pr.clone();
    kept.status = pb::PromiseStatus::Kept as i32;
    c.record_promise(pb::RecordPromiseRequest {
        promise: Some(kept.clone()),
        fence: None,
    })
    .await
    .unwrap();
    let mut bad = kept.clone();
    bad.promise_id = "pr-2".into();
    bad.due_date = "next friday".into();
    let e = c
        .record_promise(pb::RecordPromiseRequest {
            promise: Some(bad),
            fence: None,
        })
        .await
        .unwrap_err();
    assert!(
        e.message().starts_with("promise.due_date"),
        "{}",
        e.message()
    );
    let list = c
        .list_promises(pb::ListPromisesRequest {
            account_id: "C-1".into(),
            debt_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .promises;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, pb::PromiseStatus::Kept as i32);

    // History for the compliance engine.
    let h = c
        .get_contact_history(pb::GetContactHistoryRequest {
            account_id: "C-1".into(),
            debt_id: "C-1-d1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let keys: Vec<_> = h
        .contacts
        .iter()
        .map(|o| o.idempotency_key.as_str())
        .collect();
    assert_eq!(keys, ["h1", "h3"]);
    assert_eq!(h.holds.len(), 1);
    assert_eq!(h.holds[0].kind, pb::HoldKind::Cease as i32);
    let phone = &h.persons[0].phones[0];
    assert!(phone.consent_automated);
    assert_eq!(phone.consent_revoked_at, ts(T0 + 250), "revocation stuck");
    assert_eq!(h.call_consents.len(), 1);
    assert_eq!(h.blackouts.len(), 1);
    assert_eq!(h.known_zone, "America/New_York");
    assert_eq!(h.debts[1].student_loan_group, "sl-1");
    let h = c
        .get_contact_history(pb::GetContactHistoryRequest {
            account_id: "C-1".into(),
            since: ts(T0 + 50),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(h.contacts.len(), 2);
    assert_eq!(h.contacts[1].direction, pb::Direction::Inbound as i32);
    assert!(
        !h.contacts[1].counts_for_regf,
        "inbound calls are not placed calls"
    );
    let e = c
        .get_contact_history(pb::GetContactHistoryRequest {
            account_id: "C-1".into(),
            debt_id: "zzz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // The history converts into the compliance engine's own types.
    let entries: Vec<compliance::model::HistoryEntry> = h
        .contacts
        .iter()
        .map(|o| {
            let kind = common_pb::OutcomeKind::try_from(o.outcome)
                .unwrap()
                .as_str_name();
            compliance::model::HistoryEntry {
                at: jiff::Timestamp::from_second(o.started_at.unwrap().seconds).unwrap(),
                direction: if o.direction == pb::Direction::Inbound as i32 {
                    compliance::model::Direction::Inbound
                } else {
                    compliance::model::Direction::Outbound
                },
                number: Some(o.number.clone()),
                debt_ids: o.debt_ids.clone(),
                outcome: serde_json::from_value(serde_json::Value::String(
                    kind.trim_start_matches("OUTCOME_KIND_").to_lowercase(),
                ))
                .unwrap(),
                channel: compliance::model::Channel::Call,
                mode: None,
                party: compliance::model::Party::Consumer,
                third_party_id: None,
            }
        })
        .collect();
    assert_eq!(entries[0].outcome, compliance::model::Outcome::Voicemail);
    srv.stop().await;
}

/// The next change that is not a money event's: the accounts these tests load have opening
/// balances, each a RECEIVABLES change (tested in `tests/debts.rs`).
async fn next_change(s: &mut tonic::Streaming<pb::Change>) -> pb::Change {
    loop {
        let ch = tokio::time::timeout(Duration::from_secs(20), s.message())
            .await
            .expect("a change within 20 s")
            .expect("stream ok")
            .expect("stream open");
        if ch.kind != pb::ChangeKind::Receivables as i32 {
            return ch;
        }
    }
}

async fn watch_changes_resumes_without_loss(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("W-1")]).await;
    let mut w = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: 0,
            account_id: "W-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = next_change(&mut w).await;
    assert_eq!(first.kind, pb::ChangeKind::Account as i32);

    // Live: outcomes then a hold.
    let outs: Vec<_> = (0..5)
        .map(|i| {
            outcome(
                &format!("w{i}"),
                "W-1",
                common_pb::OutcomeKind::NoAnswer,
                T0 + i,
            )
        })
        .collect();
    record(&mut c, outs).await;
    // In seq order, each once. Messages of one stream may commit in concurrent batches
    // (the ingest writer keeps up to MAX_INFLIGHT transactions), so the feed's order among
    // them is commit order, not send order.
    let mut last = first.seq;
    let mut keys = Vec::new();
    for _ in 0..5 {
        let ch = next_change(&mut w).await;
        assert!(ch.seq > last);
        last = ch.seq;
        match ch.payload {
            Some(pb::change::Payload::Outcome(o)) => keys.push(o.idempotency_key),
            other => panic!("want outcome, got {other:?}"),
        }
    }
    keys.sort();
    assert_eq!(keys, ["w0", "w1", "w2", "w3", "w4"]);
    drop(w);

    // Changes while disconnected, then resume from the last seq received.
    c.set_hold(pb::SetHoldRequest {
        hold: Some(pb::Hold {
            account_id: "W-1".into(),
            kind: pb::HoldKind::Attorney as i32,
            debt_id: "W-1-d1".into(),
            since: ts(T0 + 60),
            ..Default::default()
        }),
        fence: None,
    })
    .await
    .unwrap();
    c.set_consent(pb::SetConsentRequest {
        account_id: "W-1".into(),
        person_id: "p1".into(),
        number: "+14045550134".into(),
        consent: false,
        at: ts(T0 + 70),
        ..Default::default()
    })
    .await
    .unwrap();
    record(
        &mut c,
        vec![outcome(
            "w5",
            "W-1",
            common_pb::OutcomeKind::Voicemail,
            T0 + 80,
        )],
    )
    .await;
    let mut w = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: last,
            account_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let a = next_change(&mut w).await;
    let b = next_change(&mut w).await;
    let d = next_change(&mut w).await;
    assert!(a.seq > last && b.seq > a.seq && d.seq > b.seq);
    assert!(
        matches!(a.payload, Some(pb::change::Payload::Hold(ref h)) if h.kind == pb::HoldKind::Attorney as i32)
    );
    match &b.payload {
        Some(pb::change::Payload::Consent(cc)) => {
            assert_eq!(cc.phone.as_ref().unwrap().consent_revoked_at, ts(T0 + 70));
        }
        other => panic!("want consent, got {other:?}"),
    }
    assert!(
        matches!(d.payload, Some(pb::change::Payload::Outcome(ref o)) if o.idempotency_key == "w5")
    );
    let e = c
        .watch_changes(pb::WatchChangesRequest {
            after_seq: -1,
            account_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    srv.stop().await;
}

async fn list_ids(
    c: &mut pb::ledger_service_client::LedgerServiceClient<tonic::transport::Channel>,
    filter: common_pb::AccountFilter,
    page_size: u32,
) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let r = c
            .list_accounts(pb::ListAccountsRequest {
                filter: Some(filter.clone()),
                page_size,
                page_token,
            })
            .await
            .expect("list accounts")
            .into_inner();
        pages += 1;
        ids.extend(r.account_ids);
        if r.next_page_token.is_empty() {
            return (ids, pages);
        }
        page_token = r.next_page_token;
    }
}

async fn list_accounts_filters_and_pages(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    // L-1: Acme, 128,456 minor, 95 days, phones. L-2: another creditor. L-3: small and
    // recent. L-4: no phone. L-5: 200 days past due.
    let mut l2 = account("L-2");
    l2.creditor = "Other Bank".into();
    let mut l3 = account("L-3");
    l3.debts[0].balance_minor = 1_000;
    l3.debts[0].days_past_due = 10;
    l3.debts[1].days_past_due = 5;
    let mut l4 = account("L-4");
    l4.persons[0].phones.clear();
    let mut l5 = account("L-5");
    l5.debts[1].days_past_due = 200;
    // Loaded out of order: the listing orders by id.
    let r = upsert(&mut c, vec![l5, account("L-1"), l4, l3, l2]).await;
    assert_eq!(r.created, 5, "{r:?}");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let all = names(&["L-1", "L-2", "L-3", "L-4", "L-5"]);

    // Paging: stable order, every id once, a token only while more remain.
    let (ids, pages) = list_ids(&mut c, common_pb::AccountFilter::default(), 2).await;
    assert_eq!((ids.clone(), pages), (all.clone(), 3));
    let (ids, pages) = list_ids(&mut c, common_pb::AccountFilter::default(), 0).await;
    assert_eq!(
        (ids, pages),
        (all.clone(), 1),
        "default page holds all five"
    );
    let (ids, _) = list_ids(&mut c, common_pb::AccountFilter::default(), 1_000_000).await;
    assert_eq!(ids, all, "oversized pages are served at the maximum");
    let (ids, pages) = list_ids(&mut c, common_pb::AccountFilter::default(), 5).await;
    assert_eq!(
        (ids.len(), pages),
        (5, 1),
        "an exact page has no next token"
    );

    let cases: Vec<(common_pb::AccountFilter, Vec<&str>)> = vec![
        (
            common_pb::AccountFilter {
                creditor: "Other Bank".into(),
                ..Default::default()
            },
            vec!["L-2"],
        ),
        (
            common_pb::AccountFilter {
                min_balance_minor: Some(100_000),
                ..Default::default()
            },
            vec!["L-1", "L-2", "L-4", "L-5"],
        ),
        (
            common_pb::AccountFilter {
                max_balance_minor: Some(6_000),
                ..Default::default()
            },
            vec!["L-3"],
        ),
        (
            common_pb::AccountFilter {
                min_balance_minor: Some(128_456),
                max_balance_minor: Some(128_456),
                ..Default::default()
            },
            vec!["L-1", "L-2", "L-4", "L-5"],
        ),
        (
            common_pb::AccountFilter {
                min_days_past_due: Some(100),
                ..Default::default()
            },
            vec!["L-5"],
        ),
        (
            common_pb::AccountFilter {
                max_days_past_due: Some(10),
                ..Default::default()
            },
            vec!["L-3"],
        ),
        (
            common_pb::AccountFilter {
                has_phone: Some(false),
                ..Default::default()
            },
            vec!["L-4"],
        ),
        (
            common_pb::AccountFilter {
                creditor: "Acme Bank".into(),
                has_phone: Some(true),
                min_days_past_due: Some(90),
                ..Default::default()
            },
            vec!["L-1", "L-5"],
        ),
    ];
    for (f, want) in cases {
        let (ids, _) = list_ids(&mut c, f.clone(), 1).await;
        assert_eq!(ids, names(&want), "{f:?}");
    }

    // Bad requests name the field.
    for (f, token, field) in [
        (
            common_pb::AccountFilter {
                min_balance_minor: Some(10),
                max_balance_minor: Some(5),
                ..Default::default()
            },
            "",
            "filter.max_balance_minor",
        ),
        (
            common_pb::AccountFilter {
                min_days_past_due: Some(-1),
                ..Default::default()
            },
            "",
            "filter.min_days_past_due",
        ),
        (
            common_pb::AccountFilter {
                min_days_past_due: Some(30),
                max_days_past_due: Some(29),
                ..Default::default()
            },
            "",
            "filter.max_days_past_due",
        ),
        (common_pb::AccountFilter::default(), "L-3", "page_token"),
    ] {
        let e = c
            .list_accounts(pb::ListAccountsRequest {
                filter: Some(f),
                page_size: 0,
                page_token: token.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with(field), "{}", e.message());
    }
    srv.stop().await;
}

/// The services a reflection client of protocol version `$v` (`v1` or `v1alpha`) lists.
macro_rules! reflected_services {
    ($v:ident, $ch:expr) => {{
        use tonic_reflection::pb::$v::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut s = ServerReflectionClient::new($ch)
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let resp = s.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(l)) = resp.message_response else {
            panic!("want list");
        };
        l.service
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<String>>()
    }};
}

#[tokio::test]
async fn auth_roles_health_and_reflection() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db.url, Some(KEY)).await;
    let ch = srv.channel().await;
    let token = bearer;
    let mut c = pb::ledger_service_client::LedgerServiceClient::new(ch.clone());
    let e = c
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = c
        .get_account(pb::GetAccountRequest {
            account_id: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let crm = token(auth::Role::Crm);
    let mut c = pb::ledger_service_client::LedgerServiceClient::with_interceptor(
        ch.clone(),
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", crm.clone());
            Ok(r)
        },
    );
    let e = c
        .get_account(pb::GetAccountRequest {
            account_id: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "crm may read");
    c.list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("crm may list accounts");
    let dialer = token(auth::Role::Dialer);
    let mut d = pb::ledger_service_client::LedgerServiceClient::with_interceptor(
        ch.clone(),
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", dialer.clone());
            Ok(r)
        },
    );
    d.list_accounts(pb::ListAccountsRequest::default())
        .await
        .expect("the dialer may list accounts");
    let e = c
        .record_outcomes(tokio_stream::iter(Vec::<pb::RecordOutcomesRequest>::new()))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::PermissionDenied,
        "crm may not record outcomes"
    );

    // Health and reflection need no token.
    let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let s = h
        .check(tonic_health::pb::HealthCheckRequest {
            service: "collections.ledger.v1.LedgerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        s.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // grpcurl 1.8 speaks only v1alpha; newer clients v1.
    let listed = reflected_services!(v1alpha, ch.clone());
    assert!(
        listed
            .iter()
            .any(|s| s == "collections.ledger.v1.LedgerService")
    );
    let listed = reflected_services!(v1, ch.clone());
    assert!(listed.iter().any(|s| s == "grpc.health.v1.Health"));
    srv.stop().await;
}

#[tokio::test]
async fn retention_purge_keeps_recent_debts() {
    let db = TestDb::sqlite();
    let srv = TestServer::start(&db.url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("R-1")]).await;
    let old = T0 - 86_400 * 365 * 5;
    let mut o1 = outcome("old", "R-1", common_pb::OutcomeKind::NoAnswer, old);
    o1.debt_ids = vec!["R-1-d2".into()];
    record(
        &mut c,
        vec![
            o1,
            outcome("new", "R-1", common_pb::OutcomeKind::NoAnswer, T0),
        ],
    )
    .await;
    // d2's last activity is its load (now), so nothing is purged with a cutoff 3 years ago.
    let cutoff = jiff::Timestamp::from_second(T0 - 86_400 * 365 * 3).unwrap();
    assert_eq!(srv.store.purge_before(cutoff).await.unwrap(), 0);
    // A cutoff after every activity purges both.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    assert_eq!(srv.store.purge_before(later).await.unwrap(), 2);
    let left = list_all(&mut c, pb::ListOutcomesRequest::default()).await;
    assert!(left.is_empty());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_other_replicas_commits() {
    // Two ledgerd replicas on one PostgreSQL: a watcher on A sees what is written through B
    // (no in-process notification crosses replicas; the poll fallback does).
    let db = TestDb::postgres().await;
    let a = TestServer::start(&db.url, None).await;
    let b = TestServer::start(&db.url, None).await;
    let mut ca = a.client().await;
    let mut cb = b.client().await;
    upsert(&mut cb, vec![account("M-1")]).await;
    let mut w = ca
        .watch_changes(pb::WatchChangesRequest {
            after_seq: 0,
            account_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = next_change(&mut w).await;
    assert_eq!(first.kind, pb::ChangeKind::Account as i32);
    record(
        &mut cb,
        vec![outcome("m1", "M-1", common_pb::OutcomeKind::Answered, T0)],
    )
    .await;
    let ch = next_change(&mut w).await;
    assert!(
        matches!(ch.payload, Some(pb::change::Payload::Outcome(ref o)) if o.idempotency_key == "m1")
    );
    // Both replicas agree on the single recorded event.
    let acks = record(
        &mut ca,
        vec![outcome("m1", "M-1", common_pb::OutcomeKind::Answered, T0)],
    )
    .await;
    assert!(acks[0].duplicate);
    drop(w);
    a.stop().await;
    b.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let m = ledger::metrics::Metrics::new();
    m.outcomes.with_label_values(&["recorded"]).inc_by(3);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(service::metrics::serve(l, m.registry.clone(), || {}));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.contains("ledger_outcomes_total{status=\"recorded\"} 3"),
        "{body}"
    );
    assert!(body.contains("ledger_ingest_batch_size"));
    task.abort();
}

/// The dialer's pre-dial check: every change of the asked accounts after their cursors and up
/// to `as_of_seq` is reported (outcomes by idempotency key), and nothing of other accounts.
async fn check_accounts_reports_every_change_after_the_cursor(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("K-1"), account("K-2")]).await;
    let check =
        |c: &mut pb::ledger_service_client::LedgerServiceClient<tonic::transport::Channel>,
         cursors: Vec<(&str, i64)>| {
            let mut c = c.clone();
            let accounts = cursors
                .into_iter()
                .map(|(a, s)| pb::AccountCursor {
                    account_id: a.into(),
                    after_seq: s,
                })
                .collect();
            async move {
                c.check_accounts(pb::CheckAccountsRequest { accounts })
                    .await
                    .map(|r| r.into_inner())
            }
        };
    let first = check(&mut c, vec![("K-1", 0), ("K-2", 0)]).await.unwrap();
    // Each upsert is one ACCOUNT change (plus its holds and its opening balances).
    assert!(first.as_of_seq > 0);
    assert!(
        first
            .changes
            .iter()
            .all(|r| r.kind == pb::ChangeKind::Account as i32
                || r.kind == pb::ChangeKind::Hold as i32
                || r.kind == pb::ChangeKind::Receivables as i32)
    );
    assert!(first.changes.iter().any(|r| r.account_id == "K-1"));
    let base = first.as_of_seq;

    let mut checked = outcome("ck-1", "K-1", common_pb::OutcomeKind::NoAnswer, T0);
    checked.checked_seq = base;
    record(&mut c, vec![checked]).await;
    // The seq the dialer checked against is kept with the contact, for audit.
    let stored = c
        .get_contact_history(pb::GetContactHistoryRequest {
            account_id: "K-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.contacts[0].checked_seq, base);
    c.set_hold(pb::SetHoldRequest {
        hold: Some(pb::Hold {
            hold_id: "ck-h1".into(),
            account_id: "K-1".into(),
            kind: pb::HoldKind::Cease as i32,
            since: ts(T0),
            ..Default::default()
        }),
        fence: None,
    })
    .await
    .unwrap();
    record(
        &mut c,
        vec![outcome("ck-2", "K-2", common_pb::OutcomeKind::NoAnswer, T0)],
    )
    .await;

    let r = check(&mut c, vec![("K-1", base)]).await.unwrap();
    let refs: Vec<(i32, &str)> = r
        .changes
        .iter()
        .map(|c| (c.kind, c.ref_id.as_str()))
        .collect();
    assert_eq!(
        refs,
        [
            (pb::ChangeKind::Outcome as i32, "ck-1"),
            (pb::ChangeKind::Hold as i32, "ck-h1")
        ]
    );
    assert!(
        r.changes
            .iter()
            .all(|c| c.account_id == "K-1" && c.seq > base)
    );
    assert!(r.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(r.as_of_seq >= r.changes.last().unwrap().seq);

    // After the last change seen, nothing more; and an empty ask still gives the head.
    let hold_seq = r.changes[1].seq;
    let r = check(&mut c, vec![("K-1", hold_seq)]).await.unwrap();
    assert!(r.changes.is_empty(), "{r:?}");
    let head = check(&mut c, vec![]).await.unwrap();
    assert!(head.as_of_seq > hold_seq);

    // Bad cursors name the field.
    let e = check(&mut c, vec![("", 0)]).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("accounts[0].account_id"),
        "{}",
        e.message()
    );
    let e = check(&mut c, vec![("K-1", -1)]).await.unwrap_err();
    assert!(
        e.message().starts_with("accounts[0].after_seq"),
        "{}",
        e.message()
    );
}
