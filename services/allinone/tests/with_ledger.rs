//! dialerd built from its configuration against a real ledger (served in process): accounts
//! come from the ledger (by filter too), a hold set in the ledger reaches the campaign's
//! queue through the change feed, Explain reads the ledger, and every attempt's outcome
//! reaches the ledger through the durable outbox by the end of the shutdown. On SQLite and
//! on PostgreSQL, through gRPC only.

#[path = "../../dialer/tests/common/mod.rs"]
mod common;
#[path = "../../dialer/tests/harness/mod.rs"]
mod harness;
mod inproc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use auth::Role;
use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use common::TestDb;
use dialer::config::{CarrierConfig, Config, ServerSettings};
use harness::{PATIENCE, START, Softphone, bearer, figures_until, token};
use inproc::TestLedger;
use pb::campaign_service_client::CampaignServiceClient;

both_stores!(a_dialer_on_a_ledger);

fn accounts() -> Vec<lpb::Account> {
    (0..60)
        .map(|i| {
            let mut a = common::account(&format!("L{i:03}"));
            if i >= 40 {
                a.creditor = "Other Bank".into();
            }
            a
        })
        .collect()
}

async fn a_dialer_on_a_ledger(db: &TestDb) {
    let ledger = TestLedger::start(&db.ledger_url, None).await;
    let mut crm = ledger.client(Role::Crm).await;
    common::upsert(&mut crm, accounts()).await;

    let cfg = Config {
        server: ServerSettings {
            database_url: db.dialer_url.clone(),
            jwt_hs256_key: Some(harness::KEY.into()),
            listen: "127.0.0.1:0".into(),
            ..ServerSettings::default()
        },
        ledger_url: Some(ledger.uri()),
        ledger_jwt_hs256_key: Some(common::KEY.into()),
        replica_id: "dialer-test".into(),
        carrier: CarrierConfig::Sim {
            scenario: "S1".into(),
            seed: 1,
            speed: 20.0,
            clock_start: Some(START.into()),
        },
        shutdown_grace_s: 30,
        ..Config::default()
    };
    cfg.validate().expect("valid config");
    let server = dialer::app::Local::start(&cfg, PATIENCE)
        .await
        .expect("started");
    let addr = server.addr;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut campaigns =
        CampaignServiceClient::with_interceptor(channel, bearer(&token("m1", Role::Manager)));

    // A campaign filled by filter from the ledger: the 40 Acme accounts.
    let id = "ledger-spring";
    campaigns
        .create_campaign(harness::campaign(id, pb::PacingMode::Progressive))
        .await
        .expect("created");
    let added = campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.into(),
            account_ids: vec![],
            filter: Some(cpb::AccountFilter {
                creditor: "Acme Bank".into(),
                ..Default::default()
            }),
            page_token: String::new(),
        })
        .await
        .expect("added by filter")
        .into_inner();
    assert_eq!(added.queued, 40, "{added:?}");
    assert!(added.next_page_token.is_empty());
    let by_id = campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.into(),
            account_ids: vec!["L050".into(), "NOPE".into()],
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added by id")
        .into_inner();
    assert_eq!(
        (by_id.queued, by_id.not_found),
        (1, vec!["NOPE".to_string()])
    );
    figures_until(&mut campaigns, id, |f| {
        f.queue.as_ref().is_some_and(|q| q.ready == 41)
    })
    .await;

    // A cease set in the ledger takes the account out of the queue (the change feed).
    let mut writer = ledger.client(Role::Crm).await;
    writer
        .set_hold(lpb::SetHoldRequest {
            hold: Some(lpb::Hold {
                hold_id: "cease-L007".into(),
                account_id: "L007".into(),
                kind: lpb::HoldKind::Cease as i32,
                since: common::ts(common::T0),
                set_by: "crm:letter".into(),
                reason: "written cease".into(),
                ..Default::default()
            }),
            fence: None,
        })
        .await
        .expect("hold set");
    figures_until(&mut campaigns, id, |f| {
        f.queue.as_ref().is_some_and(|q| q.ready == 40)
    })
    .await;

    // Explain reads the same ledger.
    let mut explain = pb::compliance_service_client::ComplianceServiceClient::with_interceptor(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect"),
        bearer(&token("crm-1", Role::Crm)),
    );
    let e = explain
        .explain(pb::ExplainRequest {
            account_id: "L007".into(),
            campaign_id: id.into(),
            ..Default::default()
        })
        .await
        .expect("explained")
        .into_inner();
    assert_eq!(e.verdict, pb::Verdict::Deny as i32);
    assert!(e.reasons.iter().any(|r| r.code == "US_REGF_CEASE"), "{e:?}");
    assert!(e.zones.iter().any(|z| z.zone == "America/New_York"));

    // Agents work the campaign.
    let dispositions = Arc::new(AtomicU32::new(0));
    let mut team = Vec::new();
    for i in 0..3 {
        let phone = Softphone::login_to(addr, &format!("l-agent-{i}"), id)
            .await
            .expect("login");
        team.push(phone.work_right_party_contacts(dispositions.clone()));
    }
    harness::start(&mut campaigns, id).await;
    let f = figures_until(&mut campaigns, id, |f| {
        f.dials >= 5 && dispositions.load(Ordering::Relaxed) >= 2
    })
    .await;
    assert!(f.connected >= 2, "{f:?}");
    let stopped_campaign = harness::stop(&mut campaigns, id).await;
    assert_eq!(stopped_campaign.state, pb::CampaignState::Stopped as i32);
    let final_figures = figures_until(&mut campaigns, id, |_| true).await;
    for t in team {
        let _ = tokio::time::timeout(PATIENCE, t).await;
    }

    // Shutdown flushes the outbox: the ledger holds one outcome per attempt.
    drop(campaigns);
    drop(explain);
    let (served, unflushed) = server.shutdown(PATIENCE).await.expect("shut down");
    served.expect("serve");
    assert_eq!(
        unflushed, 0,
        "every finished attempt acknowledged by the ledger"
    );
    let mut reader = ledger.client(Role::Admin).await;
    let mut keys = std::collections::HashSet::new();
    let mut rpc = 0;
    let mut req = lpb::ListOutcomesRequest {
        campaign_id: id.into(),
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let r = reader
            .list_outcomes(req.clone())
            .await
            .expect("outcomes")
            .into_inner();
        for o in r.outcomes {
            assert!(
                keys.insert(o.idempotency_key.clone()),
                "one outcome per attempt"
            );
            assert_ne!(o.account_id, "L007", "no call after the cease");
            if o.disposition == "RPC" {
                rpc += 1;
            }
        }
        if r.next_page_token.is_empty() {
            break;
        }
        req.page_token = r.next_page_token;
    }
    assert_eq!(keys.len() as u64, final_figures.dials);
    assert!(rpc >= 2, "{rpc}");
    ledger.stop().await;
}
