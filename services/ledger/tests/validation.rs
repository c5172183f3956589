//! Every documented constraint of every LedgerService request, one table per request
//! message: a valid request, then one mutation per row with the code and field path the
//! answer must name, on PostgreSQL and SQLite; a rejected request leaves the ledger as it
//! was. Plus: the largest record the bounds allow is accepted and read back (so no stored
//! account is ever too large to load), outcomes may not start in the ledger's future beyond
//! the configured skew (on the system clock and on a set one), and the proto comments name
//! the bounds `ledger_api::limits` enforces.

mod common;

use std::time::Duration;

use common::*;
use jiff::Timestamp;
use ledger_api::common_pb;
use ledger_api::limits::*;
use ledger_api::pb;
use tonic::Code;

both_stores!(
    upsert_account_request,
    record_outcomes_request,
    unary_requests,
    hold_promise_consent_requests,
    largest_account_round_trips,
    outcomes_from_the_future_are_refused,
);

fn long(n: usize) -> String {
    "x".repeat(n + 1)
}

type Mutation<T> = (&'static str, Box<dyn Fn(&mut T)>);

/// A row: the field the answer must name, and how to break the request. (Shadowed per table
/// as `let m = crate::m::<Request>;` so the closures' argument type is known.)
fn m<T: 'static>(field: &'static str, f: fn(&mut T)) -> Mutation<T> {
    (field, Box::new(f))
}

/// The whole account as GetAccount returns it.
async fn get(
    c: &mut pb::ledger_service_client::LedgerServiceClient<tonic::transport::Channel>,
    id: &str,
) -> pb::Account {
    c.get_account(pb::GetAccountRequest {
        account_id: id.into(),
    })
    .await
    .expect("get")
    .into_inner()
}

fn assert_invalid(e: &tonic::Status, field: &str) {
    assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
    assert!(
        e.message().starts_with(&format!("{field}:")),
        "want {field}, got {:?}",
        e.message()
    );
}

async fn upsert_account_request(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let r = upsert(&mut c, vec![account("V-1")]).await;
    assert_eq!(r.created, 1, "{r:?}");
    let before = get(&mut c, "V-1").await;

    let m = crate::m::<pb::Account>;

    let rows: Vec<Mutation<pb::Account>> = vec![
        m("account.account_id", |a| a.account_id = long(ID_BYTES)),
        m("account.creditor", |a| a.creditor = long(NAME_BYTES)),
        m("account.known_zone", |a| a.known_zone = long(ZONE_BYTES)),
        m("account.known_zone", |a| {
            a.known_zone = "Mars/Olympus".into()
        }),
        m("account.persons", |a| a.persons.clear()),
        m("account.persons", |a| {
            let p = a.persons[0].clone();
            a.persons = (0..=MAX_PERSONS)
                .map(|i| pb::Person {
                    person_id: format!("p{i}"),
                    ..p.clone()
                })
                .collect();
        }),
        m("account.persons[0].person_id", |a| {
            a.persons[0].person_id = long(ID_BYTES)
        }),
        m("account.persons[0].person_id", |a| {
            a.persons[0].person_id = " ".into()
        }),
        m("account.persons[1].person_id", |a| {
            let p = a.persons[0].clone();
            a.persons.push(p);
        }),
        m("account.persons[0].full_name", |a| {
            a.persons[0].full_name = long(NAME_BYTES)
        }),
        m("account.persons[0].full_name", |a| {
            a.persons[0].full_name.clear()
        }),
        m("account.persons[0].role", |a| a.persons[0].role = 99),
        m("account.persons[0].phones", |a| {
            a.persons[0].phones = (0..=MAX_PHONES)
                .map(|i| pb::Phone {
                    number: format!("+1404555{i:04}"),
                    ..Default::default()
                })
                .collect();
        }),
        m("account.persons[0].phones[0].number", |a| {
            a.persons[0].phones[0].number = "4045550134".into()
        }),
        m("account.persons[0].phones[0].number", |a| {
            a.persons[0].phones[0].number = "+1404555013412345678".into()
        }),
        m("account.persons[0].phones[1].number", |a| {
            a.persons[0].phones[1].number = a.persons[0].phones[0].number.clone()
        }),
        m("account.persons[0].phones[0].kind", |a| {
            a.persons[0].phones[0].kind = 42
        }),
        m("account.persons[0].phones[0].consent_source", |a| {
            a.persons[0].phones[0].consent_source = long(NAME_BYTES)
        }),
        m("account.persons[0].phones[0].consent_at", |a| {
            a.persons[0].phones[0].consent_at = None
        }),
        m("account.persons[0].addresses", |a| {
            let ad = a.persons[0].addresses[0].clone();
            a.persons[0].addresses = vec![ad; MAX_ADDRESSES + 1];
        }),
        m("account.persons[0].addresses[0].line1", |a| {
            a.persons[0].addresses[0].line1 = long(NAME_BYTES)
        }),
        m("account.persons[0].addresses[0].city", |a| {
            a.persons[0].addresses[0].city = long(CITY_BYTES)
        }),
        m("account.persons[0].addresses[0].zip", |a| {
            a.persons[0].addresses[0].zip = long(ZIP_BYTES)
        }),
        m("account.persons[0].addresses[0].state", |a| {
            a.persons[0].addresses[0].state = "ZZZZ".into()
        }),
        m("account.persons[0].addresses[0].state", |a| {
            a.persons[0].addresses[0].state = "ZZ".into()
        }),
        m("account.persons[0].addresses[0].state", |a| {
            a.persons[0].addresses[0].state = "ga".into()
        }),
        // A Canadian province is not a US state (an empty country is the US).
        m("account.persons[0].addresses[0].state", |a| {
            a.persons[0].addresses[0].country.clear();
            a.persons[0].addresses[0].state = "ON".into();
        }),
        m("account.persons[0].addresses[0].country", |a| {
            a.persons[0].addresses[0].country = "UK".into()
        }),
        m("account.persons[0].addresses[0].country", |a| {
            a.persons[0].addresses[0].country = "USA".into()
        }),
        m("account.debts", |a| a.debts.clear()),
        m("account.debts", |a| {
            let d = a.debts[0].clone();
            a.debts = (0..=MAX_DEBTS)
                .map(|i| pb::Debt {
                    debt_id: format!("d{i}"),
                    ..d.clone()
                })
                .collect();
            a.call_consents.clear();
        }),
        m("account.debts[0].debt_id", |a| {
            a.debts[0].debt_id = long(ID_BYTES)
        }),
        m("account.debts[1].debt_id", |a| {
            a.debts[1].debt_id = a.debts[0].debt_id.clone()
        }),
        m("account.debts[0].balance_minor", |a| {
            a.debts[0].balance_minor = -5000
        }),
        m("account.debts[0].balance_minor", |a| {
            a.debts[0].balance_minor = MAX_MINOR + 1
        }),
        m("account.debts[0].currency", |a| {
            a.debts[0].currency = "XYZ".into()
        }),
        m("account.debts[0].currency", |a| {
            a.debts[0].currency = "usd".into()
        }),
        m("account.debts[0].days_past_due", |a| {
            a.debts[0].days_past_due = -1
        }),
        m("account.debts[0].days_past_due", |a| {
            a.debts[0].days_past_due = MAX_DAYS_PAST_DUE + 1
        }),
        m("account.debts[0].student_loan_group", |a| {
            a.debts[0].student_loan_group = long(ID_BYTES)
        }),
        m("account.debts[0].original_creditor", |a| {
            a.debts[0].original_creditor = long(200_000)
        }),
        m("account.holds", |a| {
            a.holds = (0..=MAX_HOLDS)
                .map(|i| pb::Hold {
                    hold_id: format!("h{i}"),
                    kind: pb::HoldKind::Cease as i32,
                    since: ts(T0),
                    ..Default::default()
                })
                .collect();
        }),
        m("account.holds[0].kind", |a| {
            a.holds = vec![pb::Hold {
                since: ts(T0),
                ..Default::default()
            }]
        }),
        m("account.holds[0].since", |a| {
            a.holds = vec![pb::Hold {
                kind: pb::HoldKind::Cease as i32,
                ..Default::default()
            }]
        }),
        m("account.holds[0].account_id", |a| {
            a.holds = vec![pb::Hold {
                account_id: "other".into(),
                kind: pb::HoldKind::Cease as i32,
                since: ts(T0),
                ..Default::default()
            }]
        }),
        m("account.holds[0].reason", |a| {
            a.holds = vec![pb::Hold {
                kind: pb::HoldKind::Cease as i32,
                since: ts(T0),
                reason: long(TEXT_BYTES),
                ..Default::default()
            }]
        }),
        m("account.holds[0].number", |a| {
            a.holds = vec![pb::Hold {
                kind: pb::HoldKind::NumberOptout as i32,
                since: ts(T0),
                ..Default::default()
            }]
        }),
        m("account.blackouts", |a| {
            let b = a.blackouts[0].clone();
            a.blackouts = vec![b; MAX_BLACKOUTS + 1];
        }),
        m("account.blackouts[0].days[2]", |a| {
            a.blackouts[0].days.push(pb::Weekday::Mon as i32)
        }),
        m("account.blackouts[0].days[0]", |a| {
            a.blackouts[0].days[0] = 0
        }),
        m("account.blackouts[0].from", |a| {
            a.blackouts[0].from = "25:00".into()
        }),
        m("account.blackouts[0].to", |a| a.blackouts[0].to.clear()),
        m("account.blackouts[0].until", |a| {
            a.blackouts[0].since = ts(T0);
            a.blackouts[0].until = ts(T0 - 1);
        }),
        m("account.blackouts[0].number", |a| {
            a.blackouts[0].number = "12".into()
        }),
        m("account.call_consents", |a| {
            let cc = a.call_consents[0].clone();
            a.call_consents = vec![cc; MAX_CALL_CONSENTS + 1];
        }),
        m("account.call_consents[0].debt_id", |a| {
            a.call_consents[0].debt_id = "nope".into()
        }),
        m("account.call_consents[0].days", |a| {
            a.call_consents[0].days = 8
        }),
        m("account.call_consents[0].given_at", |a| {
            a.call_consents[0].given_at = None
        }),
    ];
    let n = rows.len();
    let mut reqs = Vec::new();
    let mut fields = Vec::new();
    for (field, f) in &rows {
        let mut a = account("V-1");
        f(&mut a);
        reqs.push(a);
        fields.push(*field);
    }
    let r = upsert(&mut c, reqs).await;
    assert_eq!(r.rejected as usize, n, "{r:?}");
    for (res, field) in r.results.iter().zip(&fields) {
        let e = res.error.as_ref().expect("rejected");
        assert_eq!(e.code, "INVALID_ARGUMENT", "{field}: {e:?}");
        assert_eq!(e.field, *field, "{e:?}");
    }
    // Nothing of any rejected record was applied.
    assert_eq!(get(&mut c, "V-1").await, before);
    let ids = c
        .list_accounts(pb::ListAccountsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .account_ids;
    assert_eq!(ids, vec!["V-1".to_string()]);
    // A record at every bound is accepted.
    let mut edge = account("V-1");
    edge.account_id = "a".repeat(ID_BYTES);
    edge.creditor = "c".repeat(NAME_BYTES);
    edge.debts[0].balance_minor = 0;
    edge.debts[1].balance_minor = MAX_MINOR;
    edge.persons[0].addresses[0].state = "AE".into();
    edge.persons[0].addresses.push(pb::Address {
        state: "ON".into(),
        country: "CA".into(),
        ..Default::default()
    });
    let r = upsert(&mut c, vec![edge]).await;
    assert_eq!(r.created, 1, "{r:?}");
    srv.stop().await;
}

async fn record_outcomes_request(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("W-1")]).await;
    let ok = || outcome("base", "W-1", common_pb::OutcomeKind::NoAnswer, T0);
    let m = crate::m::<pb::ContactOutcome>;
    let rows: Vec<Mutation<pb::ContactOutcome>> = vec![
        m("idempotency_key", |o| o.idempotency_key = long(ID_BYTES)),
        m("account_id", |o| o.account_id.clear()),
        m("account_id", |o| o.account_id = long(ID_BYTES)),
        m("person_id", |o| o.person_id = long(ID_BYTES)),
        m("debt_ids", |o| o.debt_ids.clear()),
        m("debt_ids", |o| {
            o.debt_ids = vec!["W-1-d1".into(); MAX_DEBTS + 1]
        }),
        m("debt_ids[1]", |o| o.debt_ids.push(long(ID_BYTES))),
        m("number", |o| o.number = "555".into()),
        m("direction", |o| o.direction = 9),
        m("channel", |o| o.channel = 9),
        m("dial_mode", |o| o.dial_mode = 99),
        m("outcome", |o| o.outcome = 0),
        m("party", |o| o.party = 9),
        // A third party named on a call that was not a location call.
        m("third_party_id", |o| o.third_party_id = "tp-1".into()),
        m("third_party_id", |o| {
            o.party = pb::Party::ThirdParty as i32;
            o.third_party_id = long(ID_BYTES)
        }),
        m("campaign_id", |o| o.campaign_id = long(ID_BYTES)),
        m("agent_id", |o| o.agent_id = long(ID_BYTES)),
        m("started_at", |o| o.started_at = None),
        m("started_at", |o| {
            o.started_at = ts(Timestamp::now().as_second() + 3600)
        }),
        m("ring_ms", |o| o.ring_ms = -1),
        m("talk_ms", |o| o.talk_ms = MAX_DURATION_MS + 1),
        m("amd", |o| o.amd = 9),
        m("recording_ref", |o| o.recording_ref = long(REF_BYTES)),
        m("disposition", |o| o.disposition = long(DISPOSITION_BYTES)),
    ];
    let mut batch = Vec::new();
    let mut want = Vec::new();
    for (i, (field, f)) in rows.iter().enumerate() {
        let mut o = ok();
        f(&mut o);
        if o.idempotency_key == "base" {
            o.idempotency_key = format!("bad-{i}");
        }
        want.push((o.idempotency_key.clone(), *field));
        batch.push(o);
    }
    let acks = record(&mut c, batch).await;
    for (key, field) in &want {
        let a = acks
            .iter()
            .find(|a| &a.idempotency_key == key)
            .expect("an ack per outcome");
        assert_eq!(a.status, pb::AckStatus::Rejected as i32, "{field}: {a:?}");
        let e = a.error.as_ref().expect("error");
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("INVALID_ARGUMENT", *field)
        );
    }
    // More than MAX_OUTCOMES_PER_MESSAGE in one message: each is refused.
    let big: Vec<_> = (0..=MAX_OUTCOMES_PER_MESSAGE)
        .map(|i| outcome(&format!("big-{i}"), "W-1", common_pb::OutcomeKind::Busy, T0))
        .collect();
    let mut s = c
        .record_outcomes(tokio_stream::iter(vec![pb::RecordOutcomesRequest {
            outcomes: big,
            fence: None,
        }]))
        .await
        .unwrap()
        .into_inner();
    let mut big_acks = Vec::new();
    while let Some(r) = s.message().await.unwrap() {
        big_acks.extend(r.acks);
    }
    assert_eq!(big_acks.len(), MAX_OUTCOMES_PER_MESSAGE + 1);
    assert!(
        big_acks
            .iter()
            .all(|a| a.status == pb::AckStatus::Rejected as i32
                && a.error.as_ref().is_some_and(|e| e.field == "outcomes"))
    );
    // Nothing was recorded...
    let all = list_all(
        &mut c,
        pb::ListOutcomesRequest {
            account_id: "W-1".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(all.is_empty(), "{all:?}");
    // ...while a valid outcome is.
    let acks = record(&mut c, vec![ok()]).await;
    assert_eq!(acks[0].status, pb::AckStatus::Recorded as i32, "{acks:?}");
    srv.stop().await;
}

async fn unary_requests(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("U-1")]).await;

    for (field, id) in [
        ("account_id", String::new()),
        ("account_id", long(ID_BYTES)),
    ] {
        let e = c
            .get_account(pb::GetAccountRequest { account_id: id })
            .await
            .unwrap_err();
        assert_invalid(&e, field);
    }

    let m = crate::m::<pb::ListAccountsRequest>;

    let list_rows: Vec<Mutation<pb::ListAccountsRequest>> = vec![
        m("filter.creditor", |r| {
            r.filter.get_or_insert_default().creditor = long(NAME_BYTES)
        }),
        m("filter.max_balance_minor", |r| {
            let f = r.filter.get_or_insert_default();
            f.min_balance_minor = Some(10);
            f.max_balance_minor = Some(5);
        }),
        m("filter.min_days_past_due", |r| {
            r.filter.get_or_insert_default().min_days_past_due = Some(-1)
        }),
        m("filter.max_days_past_due", |r| {
            let f = r.filter.get_or_insert_default();
            f.min_days_past_due = Some(10);
            f.max_days_past_due = Some(5);
        }),
        m("page_token", |r| r.page_token = long(PAGE_TOKEN_BYTES)),
        m("page_token", |r| r.page_token = "U-1".into()),
    ];
    for (field, f) in &list_rows {
        let mut r = pb::ListAccountsRequest::default();
        f(&mut r);
        assert_invalid(&c.list_accounts(r).await.unwrap_err(), field);
    }

    let m = crate::m::<pb::GetContactHistoryRequest>;

    let history_rows: Vec<Mutation<pb::GetContactHistoryRequest>> = vec![
        m("account_id", |r| r.account_id.clear()),
        m("account_id", |r| r.account_id = long(ID_BYTES)),
        m("person_id", |r| r.person_id = long(ID_BYTES)),
        m("debt_id", |r| r.debt_id = long(ID_BYTES)),
        m("since", |r| {
            r.since = Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -1,
            })
        }),
    ];
    for (field, f) in &history_rows {
        let mut r = pb::GetContactHistoryRequest {
            account_id: "U-1".into(),
            ..Default::default()
        };
        f(&mut r);
        assert_invalid(&c.get_contact_history(r).await.unwrap_err(), field);
    }

    let m = crate::m::<pb::ListOutcomesRequest>;

    let outcome_rows: Vec<Mutation<pb::ListOutcomesRequest>> = vec![
        m("account_id", |r| r.account_id = long(ID_BYTES)),
        m("debt_id", |r| r.debt_id = long(ID_BYTES)),
        m("campaign_id", |r| r.campaign_id = long(ID_BYTES)),
        m("idempotency_key", |r| r.idempotency_key = long(ID_BYTES)),
        m("until", |r| {
            r.since = ts(T0);
            r.until = ts(T0 - 1);
        }),
        m("page_token", |r| r.page_token = "-5".into()),
        m("page_token", |r| r.page_token = long(PAGE_TOKEN_BYTES)),
    ];
    for (field, f) in &outcome_rows {
        let mut r = pb::ListOutcomesRequest::default();
        f(&mut r);
        assert_invalid(&c.list_outcomes(r).await.unwrap_err(), field);
    }

    for (field, r) in [
        (
            "after_seq",
            pb::WatchChangesRequest {
                after_seq: -1,
                ..Default::default()
            },
        ),
        (
            "account_id",
            pb::WatchChangesRequest {
                after_seq: 0,
                account_id: long(ID_BYTES),
            },
        ),
    ] {
        assert_invalid(&c.watch_changes(r).await.unwrap_err(), field);
    }

    for (field, r) in [
        ("account_id", pb::ListPromisesRequest::default()),
        (
            "account_id",
            pb::ListPromisesRequest {
                account_id: long(ID_BYTES),
                ..Default::default()
            },
        ),
        (
            "debt_id",
            pb::ListPromisesRequest {
                account_id: "U-1".into(),
                debt_id: long(ID_BYTES),
            },
        ),
    ] {
        assert_invalid(&c.list_promises(r).await.unwrap_err(), field);
    }
    srv.stop().await;
}

async fn hold_promise_consent_requests(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("H-1")]).await;
    let before = get(&mut c, "H-1").await;

    let hold = || pb::Hold {
        hold_id: "h-ok".into(),
        account_id: "H-1".into(),
        kind: pb::HoldKind::Dispute as i32,
        since: ts(T0),
        set_by: "agent-1".into(),
        ..Default::default()
    };
    let m = crate::m::<pb::Hold>;
    let hold_rows: Vec<Mutation<pb::Hold>> = vec![
        m("hold.hold_id", |h| h.hold_id = long(ID_BYTES)),
        m("hold.account_id", |h| h.account_id.clear()),
        m("hold.account_id", |h| h.account_id = long(ID_BYTES)),
        m("hold.kind", |h| h.kind = 0),
        m("hold.kind", |h| h.kind = 77),
        m("hold.debt_id", |h| h.debt_id = long(ID_BYTES)),
        m("hold.number", |h| h.kind = pb::HoldKind::WrongNumber as i32),
        m("hold.number", |h| h.number = "+1".into()),
        m("hold.since", |h| h.since = None),
        m("hold.until", |h| h.until = ts(T0 - 60)),
        m("hold.set_by", |h| h.set_by = long(ID_BYTES)),
        m("hold.reason", |h| h.reason = long(TEXT_BYTES)),
    ];
    for (field, f) in &hold_rows {
        let mut h = hold();
        f(&mut h);
        let e = c
            .set_hold(pb::SetHoldRequest {
                hold: Some(h),
                fence: None,
            })
            .await
            .unwrap_err();
        assert_invalid(&e, field);
    }
    assert_invalid(
        &c.set_hold(pb::SetHoldRequest {
            hold: None,
            fence: None,
        })
        .await
        .unwrap_err(),
        "hold",
    );

    let promise = || pb::Promise {
        promise_id: "pr-ok".into(),
        account_id: "H-1".into(),
        debt_id: "H-1-d1".into(),
        amount_minor: 5_000,
        currency: "USD".into(),
        due_date: "2026-12-15".into(),
        set_by: "agent-1".into(),
        ..Default::default()
    };
    let m = crate::m::<pb::Promise>;
    let promise_rows: Vec<Mutation<pb::Promise>> = vec![
        m("promise.promise_id", |p| p.promise_id = long(ID_BYTES)),
        m("promise.account_id", |p| p.account_id.clear()),
        m("promise.debt_id", |p| p.debt_id.clear()),
        m("promise.debt_id", |p| p.debt_id = long(ID_BYTES)),
        m("promise.amount_minor", |p| p.amount_minor = 0),
        m("promise.amount_minor", |p| p.amount_minor = -1),
        m("promise.amount_minor", |p| p.amount_minor = MAX_MINOR + 1),
        m("promise.currency", |p| p.currency = "XYZ".into()),
        m("promise.due_date", |p| p.due_date = "15/12/2026".into()),
        m("promise.due_date", |p| p.due_date = "2026-02-30".into()),
        m("promise.status", |p| p.status = 17),
        m("promise.outcome_key", |p| p.outcome_key = long(ID_BYTES)),
        m("promise.set_by", |p| p.set_by = long(ID_BYTES)),
    ];
    for (field, f) in &promise_rows {
        let mut p = promise();
        f(&mut p);
        let e = c
            .record_promise(pb::RecordPromiseRequest {
                promise: Some(p),
                fence: None,
            })
            .await
            .unwrap_err();
        assert_invalid(&e, field);
    }

    let consent = || pb::SetConsentRequest {
        account_id: "H-1".into(),
        person_id: "p1".into(),
        number: "+14045550199".into(),
        consent: true,
        source: "inbound call".into(),
        at: ts(T0),
        set_by: "agent-1".into(),
        fence: None,
    };
    let m = crate::m::<pb::SetConsentRequest>;
    let consent_rows: Vec<Mutation<pb::SetConsentRequest>> = vec![
        m("account_id", |r| r.account_id.clear()),
        m("account_id", |r| r.account_id = long(ID_BYTES)),
        m("person_id", |r| r.person_id.clear()),
        m("person_id", |r| r.person_id = long(ID_BYTES)),
        m("number", |r| r.number = "404".into()),
        m("source", |r| r.source.clear()),
        m("source", |r| r.source = long(NAME_BYTES)),
        m("at", |r| r.at = None),
        m("set_by", |r| r.set_by = long(ID_BYTES)),
    ];
    for (field, f) in &consent_rows {
        let mut r = consent();
        f(&mut r);
        assert_invalid(&c.set_consent(r).await.unwrap_err(), field);
    }

    // Nothing changed: no hold, no promise, no consent, no change in the feed but the load.
    assert_eq!(get(&mut c, "H-1").await, before);
    let promises = c
        .list_promises(pb::ListPromisesRequest {
            account_id: "H-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .promises;
    assert!(promises.is_empty(), "{promises:?}");
    // And the valid versions are applied (so the rows above failed for their field only).
    c.set_hold(pb::SetHoldRequest {
        hold: Some(hold()),
        fence: None,
    })
    .await
    .expect("valid hold");
    c.record_promise(pb::RecordPromiseRequest {
        promise: Some(promise()),
        fence: None,
    })
    .await
    .expect("valid promise");
    c.set_consent(consent()).await.expect("valid consent");
    srv.stop().await;
}

/// The largest account the bounds allow, with valid content: every string at its bound,
/// every list full.
fn largest_account() -> pb::Account {
    let s = |c: char, n: usize| c.to_string().repeat(n);
    let id = |prefix: &str, i: usize| format!("{prefix}{i:0>w$}", w = ID_BYTES - prefix.len());
    let persons = (0..MAX_PERSONS)
        .map(|p| pb::Person {
            person_id: id("p", p),
            full_name: s('N', NAME_BYTES),
            role: pb::PersonRole::Primary as i32,
            phones: (0..MAX_PHONES)
                .map(|i| pb::Phone {
                    number: format!("+1404555{:04}", p * MAX_PHONES + i),
                    kind: common_pb::PhoneKind::Mobile as i32,
                    consent_automated: true,
                    consent_source: s('S', NAME_BYTES),
                    consent_at: ts(T0),
                    consent_revoked_at: ts(T0 + 60),
                    employer_prohibits: false,
                })
                .collect(),
            addresses: (0..MAX_ADDRESSES)
                .map(|_| pb::Address {
                    line1: s('L', NAME_BYTES),
                    city: s('C', CITY_BYTES),
                    zip: s('9', ZIP_BYTES),
                    state: "GA".into(),
                    country: "US".into(),
                    current: true,
                })
                .collect(),
        })
        .collect();
    let debts: Vec<pb::Debt> = (0..MAX_DEBTS)
        .map(|i| pb::Debt {
            debt_id: id("d", i),
            balance_minor: MAX_MINOR,
            currency: "USD".into(),
            days_past_due: MAX_DAYS_PAST_DUE,
            student_loan_group: s('G', ID_BYTES),
            original_creditor: s('O', NAME_BYTES),
            last_activity_at: None,
            receivables: None,
        })
        .collect();
    let account_id = s('A', ID_BYTES);
    pb::Account {
        account_id: account_id.clone(),
        creditor: s('K', NAME_BYTES),
        holds: (0..MAX_HOLDS)
            .map(|i| pb::Hold {
                hold_id: id("h", i),
                account_id: account_id.clone(),
                kind: pb::HoldKind::NumberOptout as i32,
                debt_id: id("d", i),
                number: "+14045550000".into(),
                since: ts(T0),
                until: ts(T0 + 86_400),
                set_by: s('B', ID_BYTES),
                reason: s('R', TEXT_BYTES),
            })
            .collect(),
        blackouts: (0..MAX_BLACKOUTS)
            .map(|_| pb::Blackout {
                days: (1..=7).collect(),
                from: "09:00".into(),
                to: "17:00".into(),
                since: ts(T0),
                until: ts(T0 + 86_400),
                number: "+14045550000".into(),
                place: pb::Place::Home as i32,
            })
            .collect(),
        call_consents: debts
            .iter()
            .map(|d| pb::CallConsent {
                debt_id: d.debt_id.clone(),
                given_at: ts(T0),
                days: 7,
                revoked_at: None,
            })
            .collect(),
        debts,
        persons,
        known_zone: "America/New_York".into(),
        updated_at: None,
    }
}

async fn largest_account_round_trips(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    let big = largest_account();
    let r = upsert(&mut c, vec![big.clone()]).await;
    assert_eq!(r.created, 1, "{r:?}");
    let got = get(&mut c, &big.account_id).await;
    assert_eq!(got.persons, big.persons);
    assert_eq!(got.debts.len(), MAX_DEBTS);
    assert_eq!(got.holds.len(), MAX_HOLDS);
    let h = c
        .get_contact_history(pb::GetContactHistoryRequest {
            account_id: big.account_id.clone(),
            ..Default::default()
        })
        .await
        .expect("history of the largest account")
        .into_inner();
    assert_eq!(h.persons.len(), MAX_PERSONS);
    srv.stop().await;
}

async fn outcomes_from_the_future_are_refused(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("F-1")]).await;
    let now = Timestamp::now().as_second();
    let skew = DEFAULT_MAX_FUTURE_SKEW.as_secs() as i64;
    let acks = record(
        &mut c,
        vec![
            outcome("soon", "F-1", common_pb::OutcomeKind::Busy, now + 60),
            outcome(
                "later",
                "F-1",
                common_pb::OutcomeKind::Busy,
                now + skew + 120,
            ),
        ],
    )
    .await;
    let status = |k: &str| {
        acks.iter()
            .find(|a| a.idempotency_key == k)
            .unwrap()
            .clone()
    };
    assert_eq!(status("soon").status, pb::AckStatus::Recorded as i32);
    let later = status("later");
    assert_eq!(later.status, pb::AckStatus::Rejected as i32);
    assert_eq!(later.error.unwrap().field, "started_at");
    srv.stop().await;

    // A ledger on a set clock (the dialer's demo clock ahead of the wall clock) judges by it.
    let ahead: Timestamp = "2031-01-06T16:00:00Z".parse().unwrap();
    let srv = TestServer::start_with(
        url,
        None,
        ledger::server::ServeOptions {
            clock: ledger::clock::Clock::starting_at(ahead),
            max_future_skew: Duration::from_secs(60),
            ..Default::default()
        },
    )
    .await;
    let mut c = srv.client().await;
    let at = ahead.as_second();
    let acks = record(
        &mut c,
        vec![
            outcome("ahead-ok", "F-1", common_pb::OutcomeKind::Busy, at + 30),
            outcome("ahead-late", "F-1", common_pb::OutcomeKind::Busy, at + 600),
        ],
    )
    .await;
    let status = |k: &str| acks.iter().find(|a| a.idempotency_key == k).unwrap().status;
    assert_eq!(status("ahead-ok"), pb::AckStatus::Recorded as i32);
    assert_eq!(status("ahead-late"), pb::AckStatus::Rejected as i32);
    srv.stop().await;
}

/// The comment above each bounded field of ledger.proto (and of the common.proto messages it
/// uses) names the bound enforced here, so the contract and the code cannot drift apart.
#[test]
fn proto_comments_name_the_enforced_bounds() {
    let proto = &[
        include_str!("../../../proto/collections/ledger/v1/ledger.proto"),
        include_str!("../../../proto/collections/common/v1/common.proto"),
    ]
    .concat();
    let bytes = |n: usize| format!("at most {n} bytes");
    let count = |n: usize| format!("{n}");
    let expect: Vec<(&str, &str, String)> = vec![
        ("Account", "account_id", bytes(ID_BYTES)),
        ("Account", "creditor", bytes(NAME_BYTES)),
        ("Account", "persons", format!("1 to {MAX_PERSONS}")),
        ("Account", "debts", format!("1 to {MAX_DEBTS}")),
        ("Account", "holds", format!("at most {MAX_HOLDS}")),
        ("Account", "blackouts", format!("at most {MAX_BLACKOUTS}")),
        (
            "Account",
            "call_consents",
            format!("at most {MAX_CALL_CONSENTS}"),
        ),
        ("Account", "known_zone", bytes(ZONE_BYTES)),
        ("Person", "person_id", format!("at most {ID_BYTES} bytes")),
        ("Person", "full_name", bytes(NAME_BYTES)),
        ("Person", "phones", format!("At most {MAX_PHONES}")),
        ("Person", "addresses", format!("At most {MAX_ADDRESSES}")),
        (
            "Phone",
            "consent_source",
            format!("at most {NAME_BYTES} bytes"),
        ),
        ("Address", "line1", format!("At most {NAME_BYTES} bytes")),
        ("Address", "city", format!("At most {CITY_BYTES} bytes")),
        ("Address", "zip", bytes(ZIP_BYTES)),
        ("Debt", "debt_id", bytes(ID_BYTES)),
        ("Debt", "balance_minor", "0 to 10^15".into()),
        ("Debt", "days_past_due", format!("0 to {MAX_DAYS_PAST_DUE}")),
        (
            "Debt",
            "student_loan_group",
            format!("at most {ID_BYTES} bytes"),
        ),
        ("Debt", "original_creditor", bytes(NAME_BYTES)),
        ("Hold", "hold_id", format!("At most {ID_BYTES} bytes")),
        ("Hold", "reason", bytes(TEXT_BYTES)),
        ("Hold", "set_by", bytes(ID_BYTES)),
        ("ContactOutcome", "debt_ids", format!("1 to {MAX_DEBTS}")),
        ("ContactOutcome", "ring_ms", count(MAX_DURATION_MS as usize)),
        ("ContactOutcome", "recording_ref", bytes(REF_BYTES)),
        ("ContactOutcome", "disposition", bytes(DISPOSITION_BYTES)),
        (
            "ContactOutcome",
            "started_at",
            format!("({} s by default)", DEFAULT_MAX_FUTURE_SKEW.as_secs()),
        ),
        (
            "RecordOutcomesRequest",
            "outcomes",
            format!("at most {MAX_OUTCOMES_PER_MESSAGE} per message"),
        ),
        ("ListAccountsRequest", "page_token", bytes(PAGE_TOKEN_BYTES)),
        ("ListOutcomesRequest", "page_token", bytes(PAGE_TOKEN_BYTES)),
        ("Promise", "amount_minor", "at most 10^15".into()),
        ("SetConsentRequest", "source", bytes(NAME_BYTES)),
    ];
    assert_eq!(MAX_MINOR, 10i64.pow(15));
    for (message, field, want) in expect {
        let comment = field_comment(proto, message, field)
            .unwrap_or_else(|| panic!("{message}.{field} not found in the protos"));
        assert!(
            comment.contains(&want),
            "{message}.{field}: comment {comment:?} does not say {want:?}"
        );
    }
    // Every string of a request message says how long it may be or what format it has.
    for message in [
        "Account",
        "Person",
        "Phone",
        "Address",
        "Debt",
        "Hold",
        "Blackout",
        "CallConsent",
        "GetAccountRequest",
        "AccountFilter",
        "ListAccountsRequest",
        "ContactOutcome",
        "GetContactHistoryRequest",
        "WatchChangesRequest",
        "Promise",
        "ListPromisesRequest",
        "SetConsentRequest",
    ] {
        for (field, comment) in string_fields(proto, message) {
            let ok = [
                "at most",
                "At most",
                "E.164",
                "ISO",
                "HH:MM",
                "YYYY-MM-DD",
                "A debt of",
                "Two-letter",
            ]
            .iter()
            .any(|w| comment.contains(w));
            assert!(ok, "{message}.{field} has no documented bound: {comment:?}");
        }
    }
}

/// The body of `message NAME { ... }` (top level, not nested).
fn message_body<'a>(proto: &'a str, message: &str) -> Option<&'a str> {
    let start = proto.find(&format!("\nmessage {message} {{\n"))?;
    let body = &proto[start..];
    let end = body.find("\n}\n")?;
    Some(&body[..end])
}

/// The comment right above `field` in `message`, as one line of words.
fn field_comment(proto: &str, message: &str, field: &str) -> Option<String> {
    let body = message_body(proto, message)?;
    let lines: Vec<&str> = body.lines().collect();
    let at = lines.iter().position(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let name_at = if words.first() == Some(&"repeated") || words.first() == Some(&"optional") {
            2
        } else {
            1
        };
        words.get(name_at) == Some(&field) && words.get(name_at + 1) == Some(&"=")
    })?;
    let mut comment: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with("//"))
        .copied()
        .collect();
    comment.reverse();
    let words: Vec<&str> = comment
        .iter()
        .flat_map(|l| l.trim_start().trim_start_matches("//").split_whitespace())
        .collect();
    Some(words.join(" "))
}

fn string_fields(proto: &str, message: &str) -> Vec<(String, String)> {
    let body = message_body(proto, message).unwrap_or_else(|| panic!("message {message}"));
    body.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let name = match w.as_slice() {
                ["string", name, "=", ..] => *name,
                ["repeated", "string", name, "=", ..] => *name,
                _ => return None,
            };
            Some((
                name.to_string(),
                field_comment(proto, message, name).unwrap_or_default(),
            ))
        })
        .collect()
}
