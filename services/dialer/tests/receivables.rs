//! The dialer using the ledger's receivables (issue 12), with real `ledgerd` and `dialerd`
//! processes on a fresh PostgreSQL database: a dispute money event the CRM imports makes the
//! dialer refuse calls on the debt with DISPUTE_HOLD (rule POLICY-DISPUTE, FDCPA 809(b))
//! until its resolution is imported; the screen pop shows each debt's statement summary;
//! PROMISE_TO_PAY and PAYMENT_PLAN dispositions reach the ledger's statement as `promise`
//! and `plan` money events, once each; a payment or a promise the CRM imports while a
//! campaign runs reaches the dialer through the change feed at once (a debt paid in full is
//! not dialed again, a pending promise defers the account).

mod common;
mod harness;
mod procs;

use std::collections::HashMap;

use auth::{BearerAuth, Role, Token};
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use harness::{START, Softphone, bearer};
use lpb::receivables_service_client::ReceivablesServiceClient;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use procs::{dialerd, dialerd_env, manager};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Receivables = ReceivablesServiceClient<InterceptedService<Channel, BearerAuth>>;

/// The ledger's ReceivablesService at `addr` with a `role` token.
async fn receivables(addr: std::net::SocketAddr, role: Role) -> Receivables {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    ReceivablesServiceClient::with_interceptor(ch, BearerAuth(Token::fixed(common::jwt(role))))
}

/// What [`stage`] sets up: the ledger's database, `ledgerd`, a CRM client, the accounts and
/// the campaign's name.
type Staged = (
    common::TestDb,
    procs::Proc,
    dialer::ledger_link::LedgerClient,
    Vec<ledger_api::domain::Account>,
    String,
);

/// A fresh database, `ledgerd` on it on the dialer's clock (so dates are the calls' own;
/// the dialer runs 20 times as fast, hence the wide future skew), and `n` accounts the CRM
/// loaded, with ids unique to this run, and a campaign name.
async fn stage(tag: &str, n: usize) -> Staged {
    stage_with(tag, n, |_| {}).await
}

/// [`stage`], with the accounts edited before the CRM loads them.
async fn stage_with(
    tag: &str,
    n: usize,
    edit: impl FnOnce(&mut [ledger_api::domain::Account]),
) -> Staged {
    let db = common::TestDb::postgres().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let run = format!("M{}-", &id[..8]);
    let ledgerd = procs::spawn(
        &procs::ledgerd_bin(),
        &[
            ("LEDGER_DATABASE_URL", db.ledger_url.clone()),
            ("LEDGER_LISTEN", "127.0.0.1:0".into()),
            ("LEDGER_JWT_HS256_KEY", common::KEY.into()),
            ("LEDGER_CLOCK_START", START.into()),
            ("LEDGER_MAX_FUTURE_SKEW_S", "86400".into()),
        ],
        "ledgerd listening on ",
    )
    .await;
    let mut accounts = procs::portfolio(&run, n);
    edit(&mut accounts);
    let mut crm = procs::ledger_client(ledgerd.addr, Role::Crm).await;
    procs::load(&mut crm, &accounts).await;
    (db, ledgerd, crm, accounts, format!("{tag}-{}", &id[..8]))
}

async fn import(r: &mut Receivables, events: Vec<String>) {
    r.import_money_events(tokio_stream::iter(
        events
            .into_iter()
            .map(|event_json| lpb::ImportMoneyEventsRequest { event_json }),
    ))
    .await
    .expect("imported");
}

/// The ids of a debt's money events in the ledger.
async fn event_ids(r: &mut Receivables, debt: &str) -> Vec<String> {
    r.get_account_statement(lpb::GetAccountStatementRequest {
        account_id: debt.into(),
        as_of: "2100-01-01".into(),
    })
    .await
    .expect("statement")
    .into_inner()
    .events_json
    .iter()
    .map(|e| {
        let v: serde_json::Value = serde_json::from_str(e).expect("json");
        v["id"].as_str().expect("an id").to_owned()
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_money_event_refuses_calls_until_its_resolution() {
    let (db, mut ledgerd, _crm, accounts, _) = stage("dispute", 5).await;
    let mut d = dialerd(&dialerd_env(&db, ledgerd.addr, "rcv-dispute", START)).await;
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", d.addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut explain = pb::compliance_service_client::ComplianceServiceClient::with_interceptor(
        ch,
        bearer(&harness::token("rcv-manager", Role::Manager)),
    );
    let a = accounts
        .iter()
        .find(|a| a.holds.is_empty())
        .expect("an account without holds");
    let debt = a.debts[0].debt_id.clone();
    let at: jiff::Timestamp = START.parse().expect("ts");
    let ask = pb::ExplainRequest {
        account_id: a.account_id.clone(),
        debt_ids: vec![debt.clone()],
        at: Some(ledger_api::wire::ts_to(at)),
        ..Default::default()
    };
    let mut reasons = async || -> Vec<(String, String)> {
        explain
            .explain(ask.clone())
            .await
            .expect("explained")
            .into_inner()
            .reasons
            .into_iter()
            .map(|r| (r.code, r.rule_id))
            .collect()
    };
    let disputed = |r: &[(String, String)]| r.iter().any(|(c, _)| c == "DISPUTE_HOLD");
    assert!(!disputed(&reasons().await));

    let mut crm = receivables(ledgerd.addr, Role::Crm).await;
    import(
        &mut crm,
        vec![format!(
            r#"{{"type":"dispute","id":"{debt}-dsp","account":"{debt}","date":"2026-11-20","reason":"not mine"}}"#
        )],
    )
    .await;
    let r = reasons().await;
    assert!(
        r.contains(&("DISPUTE_HOLD".into(), "POLICY-DISPUTE".into())),
        "{r:?}"
    );

    import(
        &mut crm,
        vec![format!(
            r#"{{"type":"dispute_resolved","id":"{debt}-dsp-r","account":"{debt}","date":"2026-11-22","dispute":"{debt}-dsp","resolution":"verified"}}"#
        )],
    )
    .await;
    let r = reasons().await;
    assert!(!disputed(&r), "{r:?}");
    assert!(d.terminate().await.success());
    ledgerd.kill().await;
    db.cleanup().await;
}

/// One connected call as the agent saw it: its id and its screen pop.
async fn next_call(phone: &mut Softphone) -> (String, pb::ScreenPop) {
    let mut offered: HashMap<String, pb::ScreenPop> = HashMap::new();
    phone
        .wait_for(|e| match e {
            Event::Offered(o) => {
                offered.insert(o.call_id.clone(), o.screen_pop.clone().unwrap_or_default());
                None
            }
            Event::Connected(c) => offered
                .get(&c.call_id)
                .map(|p| (c.call_id.clone(), p.clone())),
            _ => None,
        })
        .await
}

/// Waits for the disposition of `call` to be saved; a rejection fails the test.
async fn saved(phone: &mut Softphone, call: &str) {
    let rejected = phone
        .wait_for(|e| match e {
            Event::Saved(s) if s.call_id == call => Some(None),
            Event::Rejected(r) => Some(Some(r.clone())),
            _ => None,
        })
        .await;
    assert!(rejected.is_none(), "{rejected:?}");
}

async fn dispose(phone: &mut Softphone, call: &str, d: pb::Disposition) {
    phone
        .send(C::Disposition(pb::DispositionCall {
            call_id: call.to_owned(),
            disposition: Some(d),
        }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promise_and_plan_dispositions_reach_the_ledger_statement() {
    let (db, mut ledgerd, mut crm, accounts, campaign) = stage("rcvd", 40).await;
    // Each account's first debt had a payment: the screen pop shows it.
    let mut money = receivables(ledgerd.addr, Role::Crm).await;
    import(
        &mut money,
        accounts
            .iter()
            .map(|a| {
                format!(
                    r#"{{"type":"payment","id":"{0}-pay","account":"{0}","date":"2026-11-10","amount_minor":1000}}"#,
                    a.debts[0].debt_id
                )
            })
            .collect(),
    )
    .await;
    let balance: HashMap<String, i64> = accounts
        .iter()
        .flat_map(|a| a.debts.iter().map(|d| (d.debt_id.clone(), d.balance_minor)))
        .collect();
    let first_debts: Vec<String> = accounts
        .iter()
        .map(|a| a.debts[0].debt_id.clone())
        .collect();

    let mut d = dialerd(&dialerd_env(&db, ledgerd.addr, "rcv-dispositions", START)).await;
    let mut campaigns = manager(d.addr).await;
    procs::create_campaign(&mut campaigns, &campaign, &accounts).await;
    let mut phone = Softphone::login_to(d.addr, "rcv-agent", &campaign)
        .await
        .expect("login");
    phone.send(C::Ready(pb::Ready {})).await;
    harness::start(&mut campaigns, &campaign).await;

    // The first call: the statement summary is on the screen pop; a promise to pay.
    let (call, pop) = next_call(&mut phone).await;
    for line in &pop.debts {
        assert!(!line.oldest_bucket.is_empty(), "{line:?}");
        if first_debts.contains(&line.debt_id) {
            assert_eq!(line.open_minor, balance[&line.debt_id] - 1000, "{line:?}");
            assert_eq!(line.last_payment_date, "2026-11-10");
            assert_eq!(line.last_payment_minor, 1000);
        } else {
            assert_eq!(line.open_minor, balance[&line.debt_id], "{line:?}");
        }
        assert!(!line.in_dispute);
    }
    let promised = pop.call_debt_ids[0].clone();
    dispose(
        &mut phone,
        &call,
        pb::Disposition {
            code: pb::DispositionCode::PromiseToPay as i32,
            promise: Some(pb::PromiseTerms {
                debt_id: promised.clone(),
                amount_minor: 2_000,
                currency: "USD".into(),
                due_date: "2026-12-20".into(),
            }),
            ..Default::default()
        },
    )
    .await;
    saved(&mut phone, &call).await;

    // The second: a payment plan, refused while its terms are wrong, then saved.
    let (call, pop) = next_call(&mut phone).await;
    let planned = pop.call_debt_ids[0].clone();
    let installment = |due: &str| pb::plan_terms::Installment {
        due: due.into(),
        amount_minor: 1_500,
    };
    let plan = pb::PlanTerms {
        debt_id: planned.clone(),
        installments: vec![installment("2026-12-01"), installment("2027-01-01")],
        grace_days: 5,
    };
    let mut swapped = plan.clone();
    swapped.installments.reverse();
    for (bad, field) in [
        (None, "disposition.disposition.plan"),
        (
            Some(swapped),
            "disposition.disposition.plan.installments[1].due",
        ),
    ] {
        dispose(
            &mut phone,
            &call,
            pb::Disposition {
                code: pb::DispositionCode::PaymentPlan as i32,
                plan: bad,
                ..Default::default()
            },
        )
        .await;
        let r = phone.next_rejection().await;
        assert!(r.reason.contains(field), "{field}: {r:?}");
    }
    dispose(
        &mut phone,
        &call,
        pb::Disposition {
            code: pb::DispositionCode::PaymentPlan as i32,
            plan: Some(plan),
            ..Default::default()
        },
    )
    .await;
    saved(&mut phone, &call).await;
    harness::stop(&mut campaigns, &campaign).await;
    drop(phone);
    // A graceful stop flushes the outbox.
    assert!(d.terminate().await.success());

    // In the ledger: one promise and one plan event, named after the calls' outcomes.
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    let key_of = |code: &str| {
        let o: Vec<_> = recorded.iter().filter(|o| o.disposition == code).collect();
        assert_eq!(o.len(), 1, "{code}: {o:?}");
        o[0].idempotency_key.clone()
    };
    let (ptp, plan) = (key_of("PTP"), key_of("PLAN"));
    let mut reader = receivables(ledgerd.addr, Role::Manager).await;
    let ids = event_ids(&mut reader, &promised).await;
    let want = format!("outcome:{ptp}:promise");
    assert_eq!(ids.iter().filter(|i| **i == want).count(), 1, "{ids:?}");
    let ids = event_ids(&mut reader, &planned).await;
    let want = format!("outcome:{plan}:plan");
    assert_eq!(ids.iter().filter(|i| **i == want).count(), 1, "{ids:?}");

    // The debts' summaries say so.
    let summary = async |crm: &mut dialer::ledger_link::LedgerClient, debt: &str| {
        let account = recorded
            .iter()
            .find(|o| o.debt_ids.iter().any(|d| d == debt))
            .expect("a call about it")
            .account_id
            .clone();
        crm.get_account(lpb::GetAccountRequest {
            account_id: account,
        })
        .await
        .expect("account")
        .into_inner()
        .debts
        .into_iter()
        .find(|d| d.debt_id == debt)
        .and_then(|d| d.receivables)
        .expect("a summary")
    };
    let s = summary(&mut crm, &promised).await;
    assert_eq!(
        (s.promise_status.as_str(), s.promise_due.as_str()),
        ("pending", "2026-12-20")
    );
    let s = summary(&mut crm, &planned).await;
    assert_eq!(s.plan_status, "active");
    ledgerd.kill().await;
    db.cleanup().await;
}

/// Makes `a` the account a campaign dials first: a large, old balance on every debt, no
/// holds, blackouts or consents, and one landline in Atlanta (callable at the test's hour).
fn first_in_line(a: &mut ledger_api::domain::Account, line: u32) {
    use ledger_api::domain::PhoneKind;
    a.holds.clear();
    a.blackouts.clear();
    a.call_consents.clear();
    a.known_zone = String::new();
    for d in &mut a.debts {
        d.balance_minor = 900_000_000 + i64::from(line);
        d.days_past_due = 3_000;
    }
    a.persons.truncate(1);
    for p in &mut a.persons {
        p.phones.truncate(1);
        for ph in &mut p.phones {
            ph.number = format!("+1404555{line:04}");
            ph.kind = PhoneKind::Landline;
        }
        p.addresses.truncate(1);
        for ad in &mut p.addresses {
            ad.zip = "30301".into();
            ad.state = "GA".into();
            ad.country = "US".into();
            ad.current = true;
        }
    }
}

/// While a campaign runs with the accounts queued, the CRM imports a payment in full of
/// account P's debts and a promise on account Q's: both rank first, so a dialer that did not
/// hear of the imports would dial them first; it dials neither, and counts Q's deferral as
/// PROMISE_PENDING, while it dials the others until none is left to dial now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_or_promise_imported_mid_campaign_acts_at_once() {
    let (db, mut ledgerd, mut crm, accounts, campaign) = stage_with("rcvfeed", 10, |a| {
        first_in_line(&mut a[0], 1);
        first_in_line(&mut a[1], 2);
    })
    .await;
    let (paid, promised) = (accounts[0].clone(), accounts[1].clone());
    let mut d = dialerd(&dialerd_env(&db, ledgerd.addr, "rcv-feed", START)).await;
    let mut campaigns = manager(d.addr).await;
    campaigns
        .create_campaign(harness::campaign(&campaign, pb::PacingMode::Progressive))
        .await
        .expect("created");
    let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    assert!(procs::add_accounts(&mut campaigns, &campaign, &ids).await >= 2);
    // Running, the accounts queued (as loaded: owed, no promise); the agent not ready yet,
    // so nothing is dialed before the imports.
    let phone = Softphone::login_to(d.addr, "rcv-feed-agent", &campaign)
        .await
        .expect("login");
    harness::start(&mut campaigns, &campaign).await;
    let f = harness::figures_until(&mut campaigns, &campaign, |f| {
        f.state == pb::CampaignState::Running as i32
    })
    .await;
    assert_eq!(f.dials, 0, "{f:?}");

    let mut money = receivables(ledgerd.addr, Role::Crm).await;
    let mut events: Vec<String> = paid
        .debts
        .iter()
        .map(|debt| {
            format!(
                r#"{{"type":"payment","id":"{0}-full","account":"{0}","date":"2026-11-22","amount_minor":{1}}}"#,
                debt.debt_id, debt.balance_minor
            )
        })
        .collect();
    events.push(format!(
        r#"{{"type":"promise","id":"{0}-ptp","account":"{0}","date":"2026-11-22","amount_minor":5000,"due":"2026-12-15"}}"#,
        promised.debts[0].debt_id
    ));
    import(&mut money, events).await;

    // The agent works the campaign until nothing is ready or in progress (the rest sleep
    // until a recycling delay or a promise's end): every account still owed and not
    // deferred has been tried by then, P and Q would have been first.
    let worked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let agent = phone.work_right_party_contacts(worked.clone());
    let f = harness::figures_until(&mut campaigns, &campaign, |f| {
        let q = f.queue.unwrap_or_default();
        f.dials >= 2
            && q.ready == 0
            && q.leased == 0
            && f.lines_in_use == 0
            && f.refused_by_reason
                .get("PROMISE_PENDING")
                .is_some_and(|&n| n >= 1)
    })
    .await;
    assert!(f.dials >= 2, "{f:?}");
    harness::stop(&mut campaigns, &campaign).await;
    agent.abort();
    // A graceful stop flushes the outbox: every attempt is in the ledger.
    assert!(d.terminate().await.success());
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    assert!(recorded.len() >= 2, "{recorded:?}");
    for a in [&paid, &promised] {
        let dialed: Vec<_> = recorded
            .iter()
            .filter(|o| o.account_id == a.account_id)
            .collect();
        assert!(dialed.is_empty(), "{} dialed: {dialed:?}", a.account_id);
    }
    ledgerd.kill().await;
    db.cleanup().await;
}
