//! Campaign fences (issue 13): a dialer replica's commands carry its campaign lease's fencing
//! token; the ledger keeps the highest per campaign, accepts equal or higher ones (raising
//! the mark), refuses lower ones with FAILED_PRECONDITION naming the campaign and both tokens
//! (a REJECTED ack on the outcome stream), counts them, and still answers a replay of what
//! is already recorded with its stored result, whatever the token. Commands without a fence
//! (a CRM's) are not fenced.

mod common;

use collections_proto::common_v1 as common_pb;
use collections_proto::ledger_v1 as pb;
use common::*;
use tonic::Code;
use tonic::transport::Channel;

type Client = pb::ledger_service_client::LedgerServiceClient<Channel>;

both_stores!(fenced_commands);

fn fence(campaign: &str, token: i64) -> Option<pb::CampaignFence> {
    Some(pb::CampaignFence {
        campaign_id: campaign.into(),
        token,
    })
}

/// Sends one message of outcomes with `fence` and returns its acks.
async fn send(
    c: &mut Client,
    fence: Option<pb::CampaignFence>,
    outcomes: Vec<pb::ContactOutcome>,
) -> Vec<pb::OutcomeAck> {
    let n = outcomes.len();
    let mut acks = Vec::new();
    let mut stream = c
        .record_outcomes(tokio_stream::iter(vec![pb::RecordOutcomesRequest {
            outcomes,
            fence,
        }]))
        .await
        .expect("record")
        .into_inner();
    while let Some(r) = stream.message().await.expect("ack stream") {
        acks.extend(r.acks);
    }
    assert_eq!(acks.len(), n);
    acks
}

fn out(key: &str, minute: i64) -> pb::ContactOutcome {
    outcome(
        key,
        "F-1",
        common_pb::OutcomeKind::NoAnswer,
        T0 + 60 * minute,
    )
}

fn status(a: &pb::OutcomeAck) -> pb::AckStatus {
    a.status()
}

fn refused(st: &tonic::Status, campaign: &str, token: i64, current: i64) {
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    let m = st.message();
    assert!(
        ledger_api::domain::is_fenced("FAILED_PRECONDITION", m)
            && m.contains(&format!("campaign {campaign} token {token} "))
            && m.contains(&format!("current {current}")),
        "{m}"
    );
}

fn fenced_count(srv: &TestServer, rpc: &str) -> u64 {
    srv.metrics.fenced.with_label_values(&[rpc]).get()
}

async fn fenced_commands(url: &str) {
    let srv = TestServer::start(url, None).await;
    let mut c = srv.client().await;
    upsert(&mut c, vec![account("F-1")]).await;

    // Outcomes: the first token sets the mark, an equal one is accepted.
    let a = send(&mut c, fence("c1", 5), vec![out("f-1", 1)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Recorded);
    let a = send(&mut c, fence("c1", 5), vec![out("f-2", 2)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Recorded);
    // A lower one is refused, naming the campaign and both tokens; a replay of a recorded
    // key under it is answered as before (DUPLICATE), in the same message.
    let a = send(&mut c, fence("c1", 4), vec![out("f-3", 3), out("f-1", 1)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Rejected);
    let e = a[0].error.clone().expect("error");
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("FAILED_PRECONDITION", "fence.token")
    );
    assert!(
        ledger_api::domain::is_fenced(&e.code, &e.message)
            && e.message.contains("campaign c1 token 4 ")
            && e.message.contains("current 5"),
        "{}",
        e.message
    );
    assert_eq!(status(&a[1]), pb::AckStatus::Duplicate);
    assert_eq!(fenced_count(&srv, "RecordOutcomes"), 1);
    // A higher one raises the mark: the old token is refused from then on.
    let a = send(&mut c, fence("c1", 7), vec![out("f-4", 4)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Recorded);
    let a = send(&mut c, fence("c1", 5), vec![out("f-5", 5)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Rejected);
    assert!(a[0].error.as_ref().unwrap().message.contains("current 7"));
    // Marks are per campaign, and an unfenced sender (a CRM) is not fenced.
    let mut other = out("f-6", 6);
    other.campaign_id = "c2".into();
    let a = send(&mut c, fence("c2", 1), vec![other]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Recorded);
    let a = send(&mut c, None, vec![out("f-7", 7)]).await;
    assert_eq!(status(&a[0]), pb::AckStatus::Recorded);
    // A fence must name the outcomes' campaign, with a positive token.
    let a = send(&mut c, fence("c2", 9), vec![out("f-8", 8)]).await;
    let e = a[0].error.clone().expect("error");
    assert_eq!(
        (e.code.as_str(), e.field.as_str()),
        ("INVALID_ARGUMENT", "fence.campaign_id")
    );
    let a = send(&mut c, fence("c1", 0), vec![out("f-8", 8)]).await;
    assert_eq!(a[0].error.as_ref().unwrap().field, "fence.token");
    assert_eq!(fenced_count(&srv, "RecordOutcomes"), 2);
    // Exactly once: every accepted key once, the refused ones not at all.
    let mut keys: Vec<String> = list_all(
        &mut c,
        pb::ListOutcomesRequest {
            account_id: "F-1".into(),
            page_size: 100,
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .map(|o| o.idempotency_key)
    .collect();
    keys.sort();
    assert_eq!(keys, ["f-1", "f-2", "f-4", "f-6", "f-7"]);

    // Holds: below the mark (7) refused; at it set; a replay of the same hold under a stale
    // token returns it; a change under a stale token is refused.
    let hold = pb::Hold {
        hold_id: "h-cease".into(),
        account_id: "F-1".into(),
        kind: pb::HoldKind::Cease as i32,
        since: ts(T0),
        reason: "asked to stop".into(),
        ..Default::default()
    };
    let set = |h: &pb::Hold, f| pb::SetHoldRequest {
        hold: Some(h.clone()),
        fence: f,
    };
    let st = c.set_hold(set(&hold, fence("c1", 6))).await.unwrap_err();
    refused(&st, "c1", 6, 7);
    c.set_hold(set(&hold, fence("c1", 7))).await.expect("set");
    c.set_hold(set(&hold, fence("c1", 3)))
        .await
        .expect("a replay is answered whatever the token");
    let mut released = hold.clone();
    released.until = ts(T0 + 60);
    let st = c
        .set_hold(set(&released, fence("c1", 3)))
        .await
        .unwrap_err();
    refused(&st, "c1", 3, 7);
    let h = c
        .set_hold(set(&released, fence("c1", 8)))
        .await
        .expect("released")
        .into_inner();
    assert_eq!(h.until, ts(T0 + 60));
    assert_eq!(fenced_count(&srv, "SetHold"), 2);

    // Promises and consent: the same rules (the mark is 8 now).
    let promise = pb::Promise {
        promise_id: "pr-f".into(),
        account_id: "F-1".into(),
        debt_id: "F-1-d1".into(),
        amount_minor: 10_000,
        currency: "USD".into(),
        due_date: "2026-02-01".into(),
        outcome_key: "f-4".into(),
        ..Default::default()
    };
    let rp = |f| pb::RecordPromiseRequest {
        promise: Some(promise.clone()),
        fence: f,
    };
    refused(
        &c.record_promise(rp(fence("c1", 7))).await.unwrap_err(),
        "c1",
        7,
        8,
    );
    c.record_promise(rp(fence("c1", 8))).await.expect("promise");
    c.record_promise(rp(fence("c1", 1))).await.expect("replay");
    let consent = |f| pb::SetConsentRequest {
        account_id: "F-1".into(),
        person_id: "p1".into(),
        number: "+14045550134".into(),
        consent: false,
        at: ts(T0 + 120),
        fence: f,
        ..Default::default()
    };
    refused(
        &c.set_consent(consent(fence("c1", 2))).await.unwrap_err(),
        "c1",
        2,
        8,
    );
    c.set_consent(consent(fence("c1", 9)))
        .await
        .expect("revoked");
    c.set_consent(consent(fence("c1", 2)))
        .await
        .expect("replay");
    assert_eq!(fenced_count(&srv, "RecordPromise"), 1);
    assert_eq!(fenced_count(&srv, "SetConsent"), 1);
    let st = c
        .set_consent(consent(fence("", 9)))
        .await
        .expect_err("a fence names its campaign");
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("fence.campaign_id"), "{st:?}");
    // The ledger's metrics export the counter.
    assert!(
        srv.metrics
            .render()
            .contains("ledger_fenced_commands_total{rpc=\"SetHold\"} 2")
    );
    srv.stop().await;
}
