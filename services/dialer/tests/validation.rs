//! Every documented constraint of every dialerd request, one table per request message: a
//! valid request, then one mutation per row with the field path the INVALID_ARGUMENT (or the
//! softphone's CommandRejected) must name, through gRPC on the in-process server; a rejected
//! request changes nothing. Plus the largest request the bounds allow (an AddAccounts of
//! 100,000 ids at the id bound) passes the one message-size limit, and dialer.proto's
//! comments name the bounds `dialer::limits` enforces.

mod harness;

use auth::Role;
use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use dialer::limits::*;
use harness::*;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use tonic::Code;

type Mutation<T> = (&'static str, fn(&mut T));

fn long(n: usize) -> String {
    "x".repeat(n + 1)
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, tonic::Status>, field: &str) {
    let e = r.expect_err(field);
    assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
    assert!(
        e.message().starts_with(&format!("{field}:")),
        "want {field}, got {:?}",
        e.message()
    );
}

fn power(ratio: f64) -> Option<pb::Pacing> {
    Some(pb::Pacing {
        mode: pb::PacingMode::Power as i32,
        power_ratio: Some(ratio),
        predictive: None,
    })
}

fn predictive(f: fn(&mut pb::PredictiveKnobs)) -> Option<pb::Pacing> {
    let mut k = pb::PredictiveKnobs::default();
    f(&mut k);
    Some(pb::Pacing {
        mode: pb::PacingMode::Predictive as i32,
        power_ratio: None,
        predictive: Some(k),
    })
}

fn packs(ids: Vec<String>) -> Option<pb::CompliancePolicy> {
    Some(pb::CompliancePolicy {
        packs: Some(pb::PackSelection { all: false, ids }),
        ..Default::default()
    })
}

fn campaign_rows() -> Vec<Mutation<pb::Campaign>> {
    vec![
        ("campaign.campaign_id", |c| {
            c.campaign_id = long(CAMPAIGN_ID_BYTES)
        }),
        ("campaign.campaign_id", |c| c.campaign_id = "bad id".into()),
        ("campaign.name", |c| c.name = Some(long(NAME_CHARS))),
        ("campaign.name", |c| c.name = Some("a\u{7}b".into())),
        ("campaign.pacing.mode", |c| {
            c.pacing = Some(pb::Pacing {
                mode: 42,
                ..Default::default()
            })
        }),
        ("campaign.pacing.power_ratio", |c| c.pacing = power(0.5)),
        // Above max_lines_per_agent (4 by default): the pacer could never place them.
        ("campaign.pacing.power_ratio", |c| c.pacing = power(5.0)),
        ("campaign.pacing.power_ratio", |c| {
            c.pacing = power(f64::NAN)
        }),
        ("campaign.pacing.power_ratio", |c| {
            c.pacing = power(3.0);
            c.max_lines_per_agent = Some(2.0);
        }),
        ("campaign.pacing.predictive.margin", |c| {
            c.pacing = predictive(|k| k.margin = Some(0.6))
        }),
        ("campaign.pacing.predictive.answer_half_life_s", |c| {
            c.pacing = predictive(|k| k.answer_half_life_s = Some(0.0))
        }),
        ("campaign.pacing.predictive.handle_half_life_s", |c| {
            c.pacing = predictive(|k| k.handle_half_life_s = Some(f64::INFINITY))
        }),
        ("campaign.pacing.predictive.prior_live", |c| {
            c.pacing = predictive(|k| k.prior_live = Some(1.0))
        }),
        ("campaign.pacing.predictive.prior_dials", |c| {
            c.pacing = predictive(|k| k.prior_dials = Some(-1.0))
        }),
        ("campaign.pacing.predictive.amd_delay_s", |c| {
            c.pacing = predictive(|k| k.amd_delay_s = Some(-0.1))
        }),
        ("campaign.pacing.predictive.theta_min", |c| {
            c.pacing = predictive(|k| k.theta_min = Some(0.0))
        }),
        ("campaign.pacing.predictive.theta_max", |c| {
            c.pacing = predictive(|k| k.theta_max = Some(1.0))
        }),
        ("campaign.pacing.predictive.gain", |c| {
            c.pacing = predictive(|k| k.gain = Some(0.0))
        }),
        ("campaign.pacing.predictive.payback_lives", |c| {
            c.pacing = predictive(|k| k.payback_lives = Some(0.0))
        }),
        ("campaign.pacing.predictive.horizon_points", |c| {
            c.pacing = predictive(|k| k.horizon_points = Some(65))
        }),
        ("campaign.pacing.predictive.class_split_s", |c| {
            c.pacing = predictive(|k| k.class_split_s = Some(-1.0))
        }),
        ("campaign.pacing.predictive.min_handle_samples", |c| {
            c.pacing = predictive(|k| k.min_handle_samples = Some(MAX_MIN_HANDLE_SAMPLES + 1))
        }),
        ("campaign.pacing.predictive", |c| {
            c.pacing = Some(pb::Pacing {
                mode: pb::PacingMode::Preview as i32,
                power_ratio: None,
                predictive: Some(Default::default()),
            })
        }),
        ("campaign.abandon_target", |c| c.abandon_target = Some(0.0)),
        ("campaign.abandon_target", |c| c.abandon_target = Some(0.06)),
        ("campaign.abandon_window_days", |c| {
            c.abandon_window_days = Some(91)
        }),
        ("campaign.max_lines_per_agent", |c| {
            c.max_lines_per_agent = Some(0.5)
        }),
        ("campaign.max_lines_per_agent", |c| {
            c.max_lines_per_agent = Some(11.0)
        }),
        ("campaign.ring_timeout_s", |c| c.ring_timeout_s = Some(14.0)),
        ("campaign.ring_timeout_s", |c| {
            c.ring_timeout_s = Some(121.0)
        }),
        ("campaign.connect_deadline_s", |c| {
            c.connect_deadline_s = Some(2.5)
        }),
        ("campaign.amd_false_positive", |c| {
            c.amd_false_positive = Some(0.5)
        }),
        ("campaign.compliance.unknown_location", |c| {
            c.compliance = Some(pb::CompliancePolicy {
                unknown_location: 9,
                ..Default::default()
            })
        }),
        ("campaign.compliance.last_dial_margin_minutes", |c| {
            c.compliance = Some(pb::CompliancePolicy {
                last_dial_margin_minutes: Some(MAX_LAST_DIAL_MARGIN_MINUTES + 1),
                ..Default::default()
            })
        }),
        ("campaign.compliance.packs.ids[0]", |c| {
            c.compliance = packs(vec!["ATLANTIS".into()])
        }),
        ("campaign.compliance.packs.ids[1]", |c| {
            c.compliance = packs(vec!["US-FED".into(), "us-fed".into()])
        }),
        ("campaign.compliance.packs.ids", |c| {
            c.compliance = packs(vec!["US-FED".into(); MAX_PACK_IDS + 1])
        }),
        ("campaign.compliance.min_gap_same_number_minutes", |c| {
            c.compliance = Some(pb::CompliancePolicy {
                min_gap_same_number_minutes: Some(4),
                ..Default::default()
            })
        }),
        ("campaign.compliance.pattern_action", |c| {
            c.compliance = Some(pb::CompliancePolicy {
                pattern_action: 9,
                ..Default::default()
            })
        }),
        ("campaign.compliance.horizon_days", |c| {
            c.compliance = Some(pb::CompliancePolicy {
                horizon_days: Some(0),
                ..Default::default()
            })
        }),
        ("campaign.ranking.balance", |c| {
            c.ranking = Some(pb::Ranking {
                balance: Some(MAX_RANKING_WEIGHT + 1.0),
                ..Default::default()
            })
        }),
        ("campaign.ranking.attempts", |c| {
            c.ranking = Some(pb::Ranking {
                attempts: Some(f64::NAN),
                ..Default::default()
            })
        }),
        ("campaign.recycling.busy_minutes", |c| {
            c.recycling = Some(pb::Recycling {
                busy_minutes: Some(MAX_RECYCLE_MINUTES + 1),
                ..Default::default()
            })
        }),
        ("campaign.recycling.phone_order[0]", |c| {
            c.recycling = Some(pb::Recycling {
                phone_order: vec![0],
                ..Default::default()
            })
        }),
        ("campaign.recycling.phone_order[1]", |c| {
            c.recycling = Some(pb::Recycling {
                phone_order: vec![1, 1],
                ..Default::default()
            })
        }),
        ("campaign.caller_id", |c| c.caller_id = Some("555".into())),
        ("campaign.safe_harbor_template", |c| {
            c.safe_harbor_template = Some("  ".into())
        }),
        ("campaign.safe_harbor_template", |c| {
            c.safe_harbor_template = Some(long(TEMPLATE_CHARS))
        }),
        ("campaign.voicemail_template", |c| {
            c.voicemail_template = Some(long(TEMPLATE_CHARS))
        }),
        ("campaign.script", |c| c.script = Some(long(SCRIPT_CHARS))),
        ("campaign.mini_miranda", |c| {
            c.mini_miranda = Some(long(MINI_MIRANDA_CHARS))
        }),
        ("campaign.wrap_up_s", |c| c.wrap_up_s = Some(0)),
        ("campaign.wrap_up_s", |c| c.wrap_up_s = Some(3601)),
        ("campaign.lease_s", |c| c.lease_s = Some(59)),
        ("campaign.lease_s", |c| c.lease_s = Some(86_401)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_requests_name_the_field_and_change_nothing() {
    let mut server = Server::start(Options::default()).await;
    let mut c = server.campaigns(&token("m1", Role::Manager)).await;
    let base = c
        .create_campaign(campaign("base", pb::PacingMode::Power))
        .await
        .expect("created")
        .into_inner();

    // CreateCampaignRequest.
    assert_invalid(
        c.create_campaign(pb::CreateCampaignRequest { campaign: None })
            .await,
        "campaign",
    );
    for (field, f) in campaign_rows() {
        let mut req = campaign("fresh", pb::PacingMode::Predictive);
        f(req.campaign.as_mut().unwrap());
        assert_invalid(c.create_campaign(req).await, field);
    }
    // The boundary values are accepted: power ratio at the line cap.
    let mut edge = campaign("edge", pb::PacingMode::Power);
    edge.campaign.as_mut().unwrap().pacing = power(4.0);
    c.create_campaign(edge).await.expect("ratio = max lines");

    // UpdateCampaignRequest: the same rows on the existing campaign (its id kept).
    for (field, f) in campaign_rows() {
        if field == "campaign.campaign_id" {
            continue;
        }
        let mut u = pb::Campaign {
            campaign_id: "base".into(),
            ..Default::default()
        };
        f(&mut u);
        assert_invalid(
            c.update_campaign(pb::UpdateCampaignRequest { campaign: Some(u) })
                .await,
            field,
        );
    }
    // Lowering the line cap below the power ratio in force is refused too.
    assert_invalid(
        c.update_campaign(pb::UpdateCampaignRequest {
            campaign: Some(pb::Campaign {
                campaign_id: "base".into(),
                max_lines_per_agent: Some(1.5),
                ..Default::default()
            }),
        })
        .await,
        "campaign.pacing.power_ratio",
    );

    // Nothing of a rejected request was applied.
    let after = c
        .get_campaign(pb::GetCampaignRequest {
            campaign_id: "base".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after, base);
    let ids: Vec<String> = c
        .list_campaigns(pb::ListCampaignsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .campaigns
        .into_iter()
        .map(|c| c.campaign_id)
        .collect();
    assert_eq!(ids, vec!["base".to_string(), "edge".to_string()]);

    // Requests naming a campaign: Get, Start, Pause, Resume, Stop, Watch.
    for id in [String::new(), long(CAMPAIGN_ID_BYTES)] {
        let r = c
            .get_campaign(pb::GetCampaignRequest {
                campaign_id: id.clone(),
            })
            .await;
        assert_invalid(r, "campaign_id");
        let r = c
            .start_campaign(pb::StartCampaignRequest {
                campaign_id: id.clone(),
            })
            .await;
        assert_invalid(r, "campaign_id");
        let r = c
            .pause_campaign(pb::PauseCampaignRequest {
                campaign_id: id.clone(),
            })
            .await;
        assert_invalid(r, "campaign_id");
        let r = c
            .resume_campaign(pb::ResumeCampaignRequest {
                campaign_id: id.clone(),
            })
            .await;
        assert_invalid(r, "campaign_id");
        let r = c
            .stop_campaign(pb::StopCampaignRequest {
                campaign_id: id.clone(),
                wait: false,
            })
            .await;
        assert_invalid(r, "campaign_id");
        let r = c
            .watch_campaign(pb::WatchCampaignRequest {
                campaign_id: id,
                history: false,
            })
            .await;
        assert_invalid(r.map(drop), "campaign_id");
    }
    // ListCampaignsRequest.
    assert_invalid(
        c.list_campaigns(pb::ListCampaignsRequest { state: 42 })
            .await,
        "state",
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_accounts_requests_name_the_field_and_the_largest_fits() {
    let mut server = Server::start(Options::default()).await;
    // The one message limit on the client side too, as the project's clients use it.
    let mut c = server
        .campaigns(&token("m1", Role::Manager))
        .await
        .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(collections_proto::MAX_MESSAGE_BYTES);
    c.create_campaign(campaign("add", pb::PacingMode::Progressive))
        .await
        .expect("created");
    let rows: Vec<Mutation<pb::AddAccountsRequest>> = vec![
        ("campaign_id", |r| r.campaign_id.clear()),
        ("campaign_id", |r| r.campaign_id = long(CAMPAIGN_ID_BYTES)),
        ("account_ids", |r| r.account_ids.clear()),
        ("account_ids", |r| r.filter = Some(Default::default())),
        ("account_ids", |r| {
            r.account_ids = vec!["A000001".into(); MAX_ACCOUNTS_PER_ADD + 1]
        }),
        ("account_ids[1]", |r| r.account_ids.push("A 1".into())),
        ("account_ids[1]", |r| r.account_ids.push(long(ID_BYTES))),
        ("page_token", |r| r.page_token = "t".into()),
        ("filter.creditor", |r| {
            r.account_ids.clear();
            r.filter = Some(cpb::AccountFilter {
                creditor: long(ledger_api::limits::NAME_BYTES),
                ..Default::default()
            });
        }),
        ("filter.max_balance_minor", |r| {
            r.account_ids.clear();
            r.filter = Some(cpb::AccountFilter {
                min_balance_minor: Some(9),
                max_balance_minor: Some(1),
                ..Default::default()
            });
        }),
        ("filter.min_days_past_due", |r| {
            r.account_ids.clear();
            r.filter = Some(cpb::AccountFilter {
                min_days_past_due: Some(-1),
                ..Default::default()
            });
        }),
        ("page_token", |r| {
            r.account_ids.clear();
            r.filter = Some(Default::default());
            r.page_token = long(PAGE_TOKEN_BYTES);
        }),
    ];
    for (field, f) in rows {
        let mut r = pb::AddAccountsRequest {
            campaign_id: "add".into(),
            account_ids: vec!["A000001".into()],
            ..Default::default()
        };
        f(&mut r);
        assert_invalid(c.add_accounts(r).await, field);
    }
    // Nothing was queued by them.
    let f = figures_until(&mut c, "add", |_| true).await;
    let q = f.queue.unwrap_or_default();
    assert_eq!((q.ready, q.sleeping, q.leased), (0, 0, 0), "{q:?}");
    // The largest request the bounds allow passes the message limit (tonic's default of
    // 4 MiB would refuse it), and so does its answer.
    let ids: Vec<String> = (0..MAX_ACCOUNTS_PER_ADD)
        .map(|i| format!("{i:0>w$}", w = ID_BYTES))
        .collect();
    let r = c
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: "add".into(),
            account_ids: ids,
            ..Default::default()
        })
        .await
        .expect("the largest AddAccounts is accepted")
        .into_inner();
    assert_eq!(r.not_found.len(), MAX_ACCOUNTS_PER_ADD);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_requests_name_the_field() {
    let mut server = Server::start(Options::default()).await;
    let mut x = server.compliance(&token("m1", Role::Manager)).await;
    let rows: Vec<Mutation<pb::ExplainRequest>> = vec![
        ("account_id", |r| r.account_id.clear()),
        ("account_id", |r| r.account_id = long(ID_BYTES)),
        ("account_id", |r| r.account_id = "A 1".into()),
        ("at", |r| {
            r.at = Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 1_000_000_000,
            })
        }),
        ("number", |r| r.number = "12".into()),
        ("debt_ids", |r| r.debt_ids = vec!["d".into(); MAX_DEBTS + 1]),
        ("debt_ids[0]", |r| r.debt_ids = vec!["not-a-debt".into()]),
        ("campaign_id", |r| r.campaign_id = long(CAMPAIGN_ID_BYTES)),
        ("mode", |r| r.mode = 99),
    ];
    for (field, f) in rows {
        let mut r = pb::ExplainRequest {
            account_id: "A000001".into(),
            ..Default::default()
        };
        f(&mut r);
        assert_invalid(x.explain(r).await, field);
    }
    x.explain(pb::ExplainRequest {
        account_id: "A000001".into(),
        ..Default::default()
    })
    .await
    .expect("the valid request is answered");
    server.shutdown().await;
}

fn disposition(f: fn(&mut pb::Disposition)) -> C {
    let mut d = pb::Disposition {
        code: pb::DispositionCode::PromiseToPay as i32,
        promise: Some(pb::PromiseTerms {
            debt_id: "d1".into(),
            amount_minor: 5000,
            currency: "USD".into(),
            due_date: "2026-12-15".into(),
        }),
        ..Default::default()
    };
    f(&mut d);
    C::Disposition(pb::DispositionCall {
        call_id: "1".into(),
        disposition: Some(d),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_requests_name_the_field() {
    let mut server = Server::start(Options::default()).await;
    let mut c = server.campaigns(&token("m1", Role::Manager)).await;
    c.create_campaign(campaign("floor", pb::PacingMode::Preview))
        .await
        .expect("created");

    // Login: a bad one ends the session with INVALID_ARGUMENT naming the field.
    let mut admin = server.agents(&token("root", Role::Admin)).await;
    let logins: Vec<Mutation<pb::Login>> = vec![
        ("login.campaign_id", |l| l.campaign_id.clear()),
        ("login.campaign_id", |l| {
            l.campaign_id = long(CAMPAIGN_ID_BYTES)
        }),
        ("login.endpoint", |l| l.endpoint = " ".into()),
        ("login.endpoint", |l| l.endpoint = long(ENDPOINT_CHARS)),
        ("login.agent_id", |l| l.agent_id = "agent 7".into()),
        ("login.agent_id", |l| l.agent_id = long(ID_BYTES)),
    ];
    for (field, f) in logins {
        let mut l = pb::Login {
            campaign_id: "floor".into(),
            endpoint: "sip:a@pbx".into(),
            agent_id: "a7".into(),
        };
        f(&mut l);
        let r = admin
            .session(tokio_stream::iter(vec![command(C::Login(l))]))
            .await;
        assert_invalid(r.map(drop), field);
    }

    // Commands of a session: each bad one is rejected naming the field; the session goes on.
    let mut phone = Softphone::login(&server, "a7", "floor")
        .await
        .expect("login");
    let rows: Vec<(&str, C)> = vec![
        (
            "not_ready.pause_code",
            C::NotReady(pb::NotReady {
                pause_code: String::new(),
            }),
        ),
        (
            "not_ready.pause_code",
            C::NotReady(pb::NotReady {
                pause_code: long(PAUSE_CODE_CHARS),
            }),
        ),
        (
            "accept.call_id",
            C::Accept(pb::Accept {
                call_id: "x".into(),
            }),
        ),
        (
            "skip.call_id",
            C::Skip(pb::Skip {
                call_id: long(ID_BYTES),
            }),
        ),
        (
            "hangup.call_id",
            C::Hangup(pb::Hangup {
                call_id: String::new(),
            }),
        ),
        (
            "disposition.disposition",
            C::Disposition(pb::DispositionCall {
                call_id: "1".into(),
                disposition: None,
            }),
        ),
        ("disposition.disposition.code", disposition(|d| d.code = 0)),
        (
            "disposition.disposition.promise",
            disposition(|d| d.promise = None),
        ),
        (
            "disposition.disposition.promise.amount_minor",
            disposition(|d| d.promise.as_mut().unwrap().amount_minor = 0),
        ),
        (
            "disposition.disposition.promise.amount_minor",
            disposition(|d| d.promise.as_mut().unwrap().amount_minor = MAX_MINOR + 1),
        ),
        (
            "disposition.disposition.promise.currency",
            disposition(|d| d.promise.as_mut().unwrap().currency = "XYZ".into()),
        ),
        (
            "disposition.disposition.promise.due_date",
            disposition(|d| d.promise.as_mut().unwrap().due_date = "tomorrow".into()),
        ),
        (
            "disposition.disposition.promise.debt_id",
            disposition(|d| d.promise.as_mut().unwrap().debt_id = long(ID_BYTES)),
        ),
        (
            "disposition.disposition.callback_at",
            disposition(|d| {
                d.code = pb::DispositionCode::Callback as i32;
                d.promise = None;
            }),
        ),
        (
            "disposition.disposition.notes",
            disposition(|d| d.notes = long(NOTES_CHARS)),
        ),
        (
            "disposition.disposition.debts_discussed",
            disposition(|d| d.debts_discussed = vec!["d1".into(); MAX_DEBTS + 1]),
        ),
        (
            "manual_dial.account_id",
            C::ManualDial(pb::ManualDial::default()),
        ),
        (
            "manual_dial.number",
            C::ManualDial(pb::ManualDial {
                account_id: "A000001".into(),
                number: "12".into(),
                debt_ids: vec![],
            }),
        ),
        (
            "manual_dial.debt_ids",
            C::ManualDial(pb::ManualDial {
                account_id: "A000001".into(),
                number: String::new(),
                debt_ids: vec!["d1".into(); MAX_DEBTS + 1],
            }),
        ),
    ];
    for (field, cmd) in rows {
        phone.send(cmd).await;
        let r = phone.next_rejection().await;
        assert_eq!(
            r.code,
            pb::RejectionCode::InvalidArgument as i32,
            "{field}: {r:?}"
        );
        assert!(
            r.reason.starts_with(&format!("{field}:")),
            "want {field}, got {r:?}"
        );
    }
    // Still logged in and answering.
    phone.send(C::Ready(pb::Ready {})).await;
    phone
        .wait_for(|e| match e {
            Event::State(s) if s.state == pb::SeatState::Ready as i32 => Some(()),
            _ => None,
        })
        .await;
    phone.close();
    server.shutdown().await;
}

/// dialer.proto's comments name the bounds enforced here.
#[test]
fn proto_comments_name_the_enforced_bounds() {
    let proto = include_str!("../../../proto/collections/dialer/v1/dialer.proto");
    let flat: String = proto
        .lines()
        .map(|l| l.trim_start().trim_start_matches("//").trim())
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        format!("Display name (at most {NAME_CHARS} characters)"),
        format!("at most {TEMPLATE_CHARS} characters"),
        format!("Agent script shown in the screen pop (at most {SCRIPT_CHARS} characters)"),
        format!("(at most {MINI_MIRANDA_CHARS} characters)"),
        format!("each at most once, at most {MAX_PACK_IDS}"),
        format!("0 to {MAX_LAST_DIAL_MARGIN_MINUTES} [0]"),
        format!("each in [-{MAX_RANKING_WEIGHT}, {MAX_RANKING_WEIGHT}]"),
        format!("each 0 to {MAX_RECYCLE_MINUTES}"),
        format!("at most {MAX_MIN_HANDLE_SAMPLES} [20]"),
        format!("Required, at most {CAMPAIGN_ID_BYTES} bytes"),
        format!("at most {MAX_ACCOUNTS_PER_ADD} per request, each 1 to {ID_BYTES} bytes"),
        format!("next_page_token (at most {PAGE_TOKEN_BYTES} bytes)"),
        format!("required, at most {ENDPOINT_CHARS} characters"),
        format!("at most {PAUSE_CODE_CHARS} characters"),
        format!("at most {NOTES_CHARS} characters"),
        format!("at most {MAX_DEBTS} ids, each at most {ID_BYTES} bytes"),
        "Positive, at most 10^15".to_string(),
        "in [1, max_lines_per_agent]".to_string(),
    ] {
        assert!(flat.contains(&want), "dialer.proto does not say {want:?}");
    }
    assert_eq!(MAX_MINOR, 10i64.pow(15));
}
