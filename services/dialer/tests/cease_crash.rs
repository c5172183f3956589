//! A consumer's "stop calling me" survives the dialer's crash. A real `dialerd` on PostgreSQL
//! and Redis with a real `ledgerd`: an agent takes a call, the ledger goes away, the agent
//! dispositions the call as a cease request, the dialer confirms it saved and is killed at once
//! (SIGKILL). The hold exists then only in the dialer's outbox. The ledger comes back, the
//! dialer restarts and dials on: the ledger ends with the cease hold exactly once and the
//! account is never called again (US-REGF-06).

mod common;
mod harness;
mod procs;

use auth::Role;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use harness::{START, Softphone, figures_until};
use jiff::Timestamp;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use procs::{dialer_now, dialerd, dialerd_env, manager};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cease_disposition_survives_a_kill_right_after_it() {
    let (db, mut ledgerd, _, accounts, campaign) = procs::stage('C', "cease", 300).await;

    let mut d1 = dialerd(&dialerd_env(&db, ledgerd.addr, "cease-dialer", START)).await;
    let mut campaigns = manager(d1.addr).await;
    procs::create_campaign(&mut campaigns, &campaign, &accounts).await;
    let mut phone = Softphone::login_to(d1.addr, "cease-agent", &campaign)
        .await
        .expect("login");
    phone.send(C::Ready(pb::Ready {})).await;
    harness::start(&mut campaigns, &campaign).await;

    // The first call bridged to the agent, and whose account it is.
    let mut offered = std::collections::HashMap::new();
    let (call, account) = phone
        .wait_for(|e| match e {
            Event::Offered(o) => {
                let a = o.screen_pop.as_ref().map(|p| p.account_id.clone());
                offered.insert(o.call_id.clone(), a.unwrap_or_default());
                None
            }
            Event::Connected(c) => Some((c.call_id.clone(), offered[&c.call_id].clone())),
            _ => None,
        })
        .await;
    let resume_at = dialer_now(&mut campaigns, &campaign).await + 60_000;

    // The ledger goes away; the agent records the cease; the dialer says it is saved and dies.
    ledgerd.kill().await;
    phone
        .send(C::Disposition(pb::DispositionCall {
            call_id: call.clone(),
            disposition: Some(pb::Disposition {
                code: pb::DispositionCode::CeaseRequest as i32,
                ..Default::default()
            }),
        }))
        .await;
    phone
        .wait_for(|e| matches!(e, Event::Saved(s) if s.call_id == call).then_some(()))
        .await;
    d1.kill().await;
    drop(phone);

    // At that moment the cease lives only in the dialer's outbox.
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(&db.dialer_url)
        .await
        .expect("dialer database");
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM dialer_outbox WHERE kind = 'hold' AND account_id = $1",
    )
    .bind(&account)
    .fetch_one(&mut sql)
    .await
    .expect("outbox");
    assert!(held >= 1, "the cease hold waits in the outbox");

    // The ledger and the dialer come back; the campaign dials on with two agents.
    let ledgerd = procs::ledgerd(&db).await;
    let clock = Timestamp::from_millisecond(resume_at)
        .expect("instant")
        .to_string();
    let mut d2 = dialerd(&dialerd_env(&db, ledgerd.addr, "cease-dialer", &clock)).await;
    let mut campaigns = manager(d2.addr).await;
    let team = procs::team(d2.addr, &campaign, "after-agent", 2, |_| {
        pb::DispositionCode::RightPartyContact
    })
    .await;
    figures_until(&mut campaigns, &campaign, |f| f.dials >= 80).await;
    harness::stop(&mut campaigns, &campaign).await;
    team.abort();
    assert!(d2.terminate().await.success());

    // The hold is in the ledger, once per debt of the call, each set exactly once.
    let mut crm = procs::ledger_client(ledgerd.addr, Role::Crm).await;
    let recorded = procs::outcomes(&mut crm, &campaign).await;
    let cease_call: Vec<_> = recorded
        .iter()
        .filter(|o| o.account_id == account && o.disposition == "CEASE")
        .collect();
    assert_eq!(cease_call.len(), 1, "the cease call is recorded once");
    let cease_call = cease_call[0];
    let stored = crm
        .get_account(lpb::GetAccountRequest {
            account_id: account.clone(),
        })
        .await
        .expect("account")
        .into_inner();
    let prefix = format!("{}-cease-", cease_call.idempotency_key);
    let holds: Vec<&lpb::Hold> = stored
        .holds
        .iter()
        .filter(|h| h.hold_id.starts_with(&prefix))
        .collect();
    assert_eq!(holds.len(), cease_call.debt_ids.len(), "{:?}", stored.holds);
    assert!(
        holds
            .iter()
            .all(|h| h.kind == lpb::HoldKind::Cease as i32 && h.until.is_none())
    );
    let mut dialer_role = procs::ledger_client(ledgerd.addr, Role::Dialer).await;
    let changes = dialer_role
        .check_accounts(lpb::CheckAccountsRequest {
            accounts: vec![lpb::AccountCursor {
                account_id: account.clone(),
                after_seq: 0,
            }],
        })
        .await
        .expect("check")
        .into_inner()
        .changes;
    for h in &holds {
        let n = changes.iter().filter(|c| c.ref_id == h.hold_id).count();
        assert_eq!(n, 1, "hold {} set once", h.hold_id);
    }

    // And the account was never called again.
    let later: Vec<_> = recorded
        .iter()
        .filter(|o| o.account_id == account && o.started_at > cease_call.started_at)
        .collect();
    assert!(later.is_empty(), "called after the cease: {later:?}");
    assert!(
        recorded
            .iter()
            .any(|o| o.started_at.as_millisecond() >= resume_at),
        "the restarted dialer dialed"
    );
    db.cleanup().await;
}
