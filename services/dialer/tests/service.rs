//! dialerd through gRPC only: authentication and roles, malformed requests, unknown ids, a
//! predictive campaign worked by ten agent sessions while a manager watches and re-paces it,
//! call ownership between agents, compliance explanations, restart and resume, Redis mode,
//! and TLS. Waits are bounded by a generous patience; nothing asserts on wall-clock speed.

mod harness;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use auth::{Claims, Role};
use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use harness::*;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use tonic::Code;

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> (Code, String) {
    let e = r.expect_err("an error status");
    (e.code(), e.message().to_string())
}

fn get(id: &str) -> pb::GetCampaignRequest {
    pb::GetCampaignRequest {
        campaign_id: id.into(),
    }
}

/// "May account `id` be called now?"
fn explain_now(id: &str) -> pb::ExplainRequest {
    pb::ExplainRequest {
        account_id: id.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_callers_and_bad_requests_are_refused_and_the_server_keeps_serving() {
    let mut server = Server::start(Options::default()).await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = server.campaigns(&manager).await;
    campaigns
        .create_campaign(campaign("c1", pb::PacingMode::Progressive))
        .await
        .expect("created");

    // Authentication: none, expired, forged.
    let mut anonymous = server.campaigns("").await;
    assert_eq!(
        code(anonymous.get_campaign(get("c1")).await).0,
        Code::Unauthenticated
    );
    let expired = auth::sign_hs256(
        KEY,
        &Claims {
            sub: "m1".into(),
            role: Role::Manager,
            exp: Some(jiff::Timestamp::now().as_second() - 60),
        },
    );
    let (c, m) = code(
        server
            .campaigns(&expired)
            .await
            .get_campaign(get("c1"))
            .await,
    );
    assert_eq!(c, Code::Unauthenticated);
    assert!(m.contains("expired"), "{m}");
    let forged = auth::sign_hs256(
        "another key of thirty-two bytes or more",
        &Claims {
            sub: "m1".into(),
            role: Role::Admin,
            exp: None,
        },
    );
    assert_eq!(
        code(
            server
                .campaigns(&forged)
                .await
                .get_campaign(get("c1"))
                .await
        )
        .0,
        Code::Unauthenticated
    );

    // Roles: agents and CRMs do not run campaigns; managers have no agent session.
    for role in [Role::Agent, Role::Crm, Role::Dialer] {
        let mut c = server.campaigns(&token("x", role)).await;
        assert_eq!(
            code(c.get_campaign(get("c1")).await).0,
            Code::PermissionDenied,
            "{role:?}"
        );
    }
    let mut as_manager = server.agents(&manager).await;
    assert_eq!(
        code(Softphone::login_with(&mut as_manager, "m1", "", "c1").await).0,
        Code::PermissionDenied
    );
    let mut as_agent = server.compliance(&token("a1", Role::Agent)).await;
    assert_eq!(
        code(as_agent.explain(explain_now("A000001")).await).0,
        Code::PermissionDenied
    );

    // Malformed requests name the field.
    let mut bad = campaign("c2", pb::PacingMode::Predictive);
    bad.campaign.as_mut().expect("campaign").ring_timeout_s = Some(5.0);
    let (c, m) = code(campaigns.create_campaign(bad).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("campaign.ring_timeout_s:"), "{m}");
    let (c, m) = code(
        campaigns
            .create_campaign(pb::CreateCampaignRequest { campaign: None })
            .await,
    );
    assert_eq!(
        (c, m.starts_with("campaign:")),
        (Code::InvalidArgument, true)
    );
    let (c, m) = code(
        campaigns
            .create_campaign(campaign("bad id!", pb::PacingMode::Power))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("campaign.campaign_id:"), "{m}");
    let mut unknown_pack = campaign("c3", pb::PacingMode::Power);
    unknown_pack.campaign.as_mut().expect("campaign").compliance = Some(pb::CompliancePolicy {
        packs: Some(pb::PackSelection {
            all: false,
            ids: vec!["US-FED".into(), "ATLANTIS".into()],
        }),
        ..Default::default()
    });
    let (c, m) = code(campaigns.create_campaign(unknown_pack).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("campaign.compliance.packs.ids[1]:"), "{m}");
    let (c, m) = code(
        campaigns
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: "c1".into(),
                account_ids: vec!["A000001".into(), "two words".into()],
                filter: None,
                page_token: String::new(),
            })
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("account_ids[1]:"), "{m}");
    let (c, m) = code(
        campaigns
            .update_campaign(pb::UpdateCampaignRequest {
                campaign: Some(pb::Campaign {
                    campaign_id: "c1".into(),
                    pacing: Some(pb::Pacing {
                        mode: pb::PacingMode::Predictive as i32,
                        power_ratio: Some(2.0),
                        predictive: None,
                    }),
                    ..Default::default()
                }),
            })
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("campaign.pacing.power_ratio:"), "{m}");

    // Filters need a ledger (this dialer has the sample portfolio), and are checked first.
    let by_filter = |filter: cpb::AccountFilter| pb::AddAccountsRequest {
        campaign_id: "c1".into(),
        account_ids: vec![],
        filter: Some(filter),
        page_token: String::new(),
    };
    assert_eq!(
        code(
            campaigns
                .add_accounts(by_filter(cpb::AccountFilter {
                    creditor: "Northwind Bank".into(),
                    ..Default::default()
                }))
                .await
        )
        .0,
        Code::Unimplemented
    );
    let (c, m) = code(
        campaigns
            .add_accounts(by_filter(cpb::AccountFilter {
                min_days_past_due: Some(90),
                max_days_past_due: Some(30),
                ..Default::default()
            }))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("filter.max_days_past_due:"), "{m}");

    // Unknown ids, duplicates, wrong states.
    assert_eq!(
        code(campaigns.get_campaign(get("nope")).await).0,
        Code::NotFound
    );
    assert_eq!(
        code(
            campaigns
                .start_campaign(pb::StartCampaignRequest {
                    campaign_id: "nope".into()
                })
                .await
        )
        .0,
        Code::NotFound
    );
    assert_eq!(
        code(
            campaigns
                .create_campaign(campaign("c1", pb::PacingMode::Progressive))
                .await
        )
        .0,
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            campaigns
                .resume_campaign(pb::ResumeCampaignRequest {
                    campaign_id: "c1".into()
                })
                .await
        )
        .0,
        Code::FailedPrecondition
    );
    let mut explain = server.compliance(&manager).await;
    assert_eq!(
        code(explain.explain(explain_now("Z999")).await).0,
        Code::NotFound
    );

    // Sessions: the first message must be a login; an agent is only itself; the campaign
    // must exist.
    let mut agents = server.agents(&token("a1", Role::Agent)).await;
    assert_eq!(
        code(Softphone::login_with(&mut agents, "a1", "a2", "c1").await).0,
        Code::PermissionDenied
    );
    assert_eq!(
        code(Softphone::login_with(&mut agents, "a1", "", "nope").await).0,
        Code::NotFound
    );
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(command(C::Ready(pb::Ready {})))
        .await
        .expect("queued");
    let (c, m) = code(
        agents
            .session(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await,
    );
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("login:"), "{m}");
    // A malformed command inside a session is rejected; the session goes on.
    let mut phone = Softphone::login(&server, "a1", "c1").await.expect("login");
    phone
        .wait_for(|e| matches!(e, Event::State(_)).then_some(()))
        .await;
    phone
        .send(C::Accept(pb::Accept {
            call_id: "not-a-call".into(),
        }))
        .await;
    let r = phone.next_rejection().await;
    assert_eq!(r.code, pb::RejectionCode::InvalidArgument as i32);
    assert!(r.reason.starts_with("accept.call_id:"), "{}", r.reason);
    phone.send(C::Ready(pb::Ready {})).await;
    let s = phone
        .wait_for(|e| match e {
            Event::State(s) => Some(s.state),
            _ => None,
        })
        .await;
    assert_eq!(s, pb::SeatState::Ready as i32);
    phone.close();

    // Still serving.
    assert_eq!(
        server.health("collections.dialer.v1.CampaignService").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let c1 = campaigns.get_campaign(get("c1")).await.expect("c1");
    assert_eq!(c1.into_inner().state, pb::CampaignState::Ready as i32);
    server.shutdown().await;
}

#[derive(Default)]
struct Floor {
    dispositions: Vec<AtomicU32>,
    previews: AtomicU32,
    rejections: Mutex<Vec<pb::CommandRejected>>,
}

/// A softphone that takes every call and dispositions it as soon as it is connected
/// (alternating right-party contacts and promises to pay); previews are accepted.
async fn work(mut phone: Softphone, floor: Arc<Floor>, idx: usize) {
    phone.send(C::Ready(pb::Ready {})).await;
    let mut debts: HashMap<String, Vec<String>> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut n = 0u32;
    while let Ok(Some(m)) = phone.rx.message().await {
        match m.event {
            Some(Event::Offered(o)) => {
                let pop = o.screen_pop.unwrap_or_default();
                debts.insert(o.call_id.clone(), pop.call_debt_ids);
                if o.preview {
                    floor.previews.fetch_add(1, Ordering::Relaxed);
                    phone
                        .send(C::Accept(pb::Accept { call_id: o.call_id }))
                        .await;
                }
            }
            Some(Event::Connected(c)) => {
                n += 1;
                let first_debt = debts.get(&c.call_id).and_then(|d| d.first().cloned());
                let disposition = match first_debt {
                    Some(debt) if n % 2 == 0 => pb::Disposition {
                        code: pb::DispositionCode::PromiseToPay as i32,
                        promise: Some(pb::PromiseTerms {
                            debt_id: debt,
                            amount_minor: 5_000,
                            currency: "USD".into(),
                            due_date: "2026-12-15".into(),
                        }),
                        notes: "promised by phone".into(),
                        ..Default::default()
                    },
                    _ => pb::Disposition {
                        code: pb::DispositionCode::RightPartyContact as i32,
                        ..Default::default()
                    },
                };
                done.insert(c.call_id.clone());
                phone
                    .send(C::Disposition(pb::DispositionCall {
                        call_id: c.call_id,
                        disposition: Some(disposition),
                    }))
                    .await;
                floor.dispositions[idx].fetch_add(1, Ordering::Relaxed);
            }
            Some(Event::Rejected(r)) => floor.rejections.lock().expect("lock").push(r),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_agents_work_a_predictive_campaign_that_is_watched_and_repaced() {
    let mut server = Server::start(Options::default()).await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = server.campaigns(&manager).await;
    let id = "spring";
    let created = campaigns
        .create_campaign(campaign(id, pb::PacingMode::Predictive))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.state, pb::CampaignState::Ready as i32);
    assert_eq!(created.ring_timeout_s, Some(22.0));
    let added = campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.into(),
            account_ids: [account_ids(500), vec!["Z404".into()]].concat(),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added")
        .into_inner();
    assert!(added.queued > 400, "{added:?}");
    assert_eq!(added.not_found, ["Z404"]);

    let floor = Arc::new(Floor {
        dispositions: (0..10).map(|_| AtomicU32::new(0)).collect(),
        ..Floor::default()
    });
    let mut team = Vec::new();
    for i in 0..10 {
        let phone = Softphone::login(&server, &format!("agent-{i}"), id)
            .await
            .expect("login");
        team.push(tokio::spawn(work(phone, floor.clone(), i)));
    }
    let mut watch = harness::watch(&mut campaigns, id).await;
    let first = watch.message().await.expect("figures").expect("first");
    assert_eq!(first.campaign_id, id);
    harness::start(&mut campaigns, id).await;

    // Every agent takes and dispositions calls; the manager sees them in the figures.
    let mut running: Option<pb::Figures> = None;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let f = watch.message().await.expect("figures").expect("open");
            if f.state == pb::CampaignState::Running as i32 && f.dials > 0 {
                running = Some(f);
            }
            let all = floor
                .dispositions
                .iter()
                .all(|d| d.load(Ordering::Relaxed) >= 1);
            if all && running.is_some() {
                break;
            }
        }
    })
    .await
    .expect("ten agents each disposition a call");
    let f = running.expect("running figures");
    assert!(f.live_answers > 0 && f.connected > 0, "{f:?}");
    assert_eq!(f.agents.as_ref().map(|a| a.logged_out), Some(0));

    // Re-paced while running: preview offers reach the agents, no restart.
    let updated = campaigns
        .update_campaign(pb::UpdateCampaignRequest {
            campaign: Some(pb::Campaign {
                campaign_id: id.into(),
                pacing: Some(pb::Pacing {
                    mode: pb::PacingMode::Preview as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(
        updated.pacing.as_ref().map(|p| p.mode),
        Some(pb::PacingMode::Preview as i32)
    );
    assert_eq!(updated.name.as_deref(), Some("test spring"));
    assert_eq!(updated.state, pb::CampaignState::Running as i32);
    tokio::time::timeout(PATIENCE, async {
        while floor.previews.load(Ordering::Relaxed) == 0 {
            let _ = watch.message().await.expect("figures").expect("open");
        }
    })
    .await
    .expect("a preview offer after the update");

    // Stop: calls in progress end, the stream's last figures say STOPPED.
    let stopped = harness::stop(&mut campaigns, id).await;
    assert_eq!(stopped.state, pb::CampaignState::Stopped as i32);
    let mut last = None;
    while let Ok(Some(f)) = watch.message().await {
        last = Some(f);
    }
    assert_eq!(
        last.map(|f| f.state),
        Some(pb::CampaignState::Stopped as i32)
    );
    for t in team {
        tokio::time::timeout(PATIENCE, t)
            .await
            .expect("sessions end with the campaign")
            .expect("agent task");
    }
    let rejections = floor.rejections.lock().expect("lock").clone();
    assert!(
        rejections
            .iter()
            .all(|r| r.code != pb::RejectionCode::PermissionDenied as i32),
        "{rejections:?}"
    );

    // What reached the outbox: dispositions by our agents, and the promises.
    let outbox = &server.registry.backend().outbox;
    let finals = outbox.finals();
    assert_eq!(outbox.open_attempts(), 0);
    let dispositioned: HashSet<&str> = finals
        .iter()
        .filter(|o| o.disposition == "RPC" || o.disposition == "PTP")
        .map(|o| o.agent_id.as_str())
        .collect();
    assert_eq!(dispositioned.len(), 10, "{dispositioned:?}");
    assert!(!outbox.promises().is_empty());
    assert!(outbox.overlapping().is_empty());
    server.shutdown().await;
}

/// The floor manager's figures: every logged-in agent in the roster with its state, time in
/// state and call; the rolling hour's dials, answers, contacts and promises; the pacing ratio
/// and the campaign's abandonment target. `ListAgents` answers managers, never agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_see_the_roster_and_the_last_hour_and_an_agent_sees_no_other_agent() {
    let mut server = Server::start(Options::default()).await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = server.campaigns(&manager).await;
    let id = "roster";
    let mut req = campaign(id, pb::PacingMode::Predictive);
    if let Some(c) = req.campaign.as_mut() {
        c.abandon_target = Some(0.02);
    }
    campaigns.create_campaign(req).await.expect("created");
    campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.into(),
            account_ids: account_ids(300),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added");
    let floor = Arc::new(Floor {
        dispositions: (0..3).map(|_| AtomicU32::new(0)).collect(),
        ..Floor::default()
    });
    let mut team = Vec::new();
    for i in 0..3 {
        let phone = Softphone::login(&server, &format!("floor-{i}"), id)
            .await
            .expect("login");
        team.push(tokio::spawn(work(phone, floor.clone(), i)));
    }
    // The last agent logs in and stays not ready.
    let _idle = Softphone::login(&server, "floor-idle", id)
        .await
        .expect("login");
    harness::start(&mut campaigns, id).await;

    let f = figures_until(&mut campaigns, id, |f| {
        let h = f.last_hour.unwrap_or_default();
        h.right_party_contacts > 0 && h.promises > 0 && f.roster.len() == 4
    })
    .await;
    let h = f.last_hour.unwrap_or_default();
    assert!(
        h.dials >= h.answers && h.answers >= h.right_party_contacts,
        "{h:?}"
    );
    assert!(h.dials as u64 <= f.dials, "{h:?} {f:?}");
    assert_eq!(f.abandon_target, 0.02);
    assert_eq!(f.abandon_window_days, 30);
    let agents: Vec<&str> = f.roster.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!(agents, ["floor-0", "floor-1", "floor-2", "floor-idle"]);
    let at = f.at.expect("at");
    for a in &f.roster {
        let since = a.since.expect("since");
        let since_ms = since.seconds * 1000 + i64::from(since.nanos) / 1_000_000;
        let at_ms = at.seconds * 1000 + i64::from(at.nanos) / 1_000_000;
        assert_eq!(a.in_state_ms as i64, at_ms - since_ms, "{a:?} at {at:?}");
        let on_a_call = [
            pb::SeatState::Reserved,
            pb::SeatState::OnCall,
            pb::SeatState::WrapUp,
        ]
        .map(|s| s as i32)
        .contains(&a.state);
        assert_eq!(on_a_call, !a.call_id.is_empty(), "{a:?}");
    }
    let idle = &f.roster[3];
    assert_eq!(
        (
            idle.state,
            idle.pause_code.as_str(),
            idle.calls,
            idle.talk_ms
        ),
        (pb::SeatState::NotReady as i32, "login", 0, 0)
    );
    assert!(
        f.roster[..3].iter().map(|a| a.calls).sum::<u32>() > 0,
        "{f:?}"
    );
    // Lines over the available agents (the idle one is paused, so at most three).
    let n = f.agents.unwrap_or_default();
    let available = n.ready + n.reserved + n.on_call + n.wrap_up;
    assert!(available <= 3 && n.not_ready >= 1, "{n:?}");
    let want = if available == 0 {
        0.0
    } else {
        f64::from(f.lines_in_use) / f64::from(available)
    };
    assert_eq!(f.pacing_ratio, want, "{f:?}");

    let listed = campaigns
        .list_agents(pb::ListAgentsRequest {
            campaign_id: id.into(),
        })
        .await
        .expect("agents")
        .into_inner()
        .agents;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|a| a.campaign_id == id), "{listed:?}");
    let all = campaigns
        .list_agents(pb::ListAgentsRequest::default())
        .await
        .expect("agents")
        .into_inner()
        .agents;
    assert_eq!(all.len(), 4);
    let (c, _) = code(
        campaigns
            .list_agents(pb::ListAgentsRequest {
                campaign_id: "nope".into(),
            })
            .await,
    );
    assert_eq!(c, Code::NotFound);

    // An agent sees neither the roster nor the figures.
    let mut as_agent = server.campaigns(&token("floor-0", Role::Agent)).await;
    let (c, _) = code(as_agent.list_agents(pb::ListAgentsRequest::default()).await);
    assert_eq!(c, Code::PermissionDenied);
    let (c, _) = code(
        as_agent
            .watch_campaign(pb::WatchCampaignRequest {
                campaign_id: id.into(),
                history: false,
            })
            .await,
    );
    assert_eq!(c, Code::PermissionDenied);

    harness::stop(&mut campaigns, id).await;
    for t in team {
        tokio::time::timeout(PATIENCE, t)
            .await
            .expect("sessions end with the campaign")
            .expect("agent task");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cannot_touch_another_agents_call_and_a_closed_session_logs_out() {
    let mut server = Server::start(Options::default()).await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = server.campaigns(&manager).await;
    let id = "preview";
    campaigns
        .create_campaign(campaign(id, pb::PacingMode::Preview))
        .await
        .expect("created");
    campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.into(),
            account_ids: account_ids(100),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added");
    let mut alice = Softphone::login(&server, "alice", id).await.expect("alice");
    let mut bob = Softphone::login(&server, "bob", id).await.expect("bob");
    bob.wait_for(|e| matches!(e, Event::State(_)).then_some(()))
        .await;
    alice.send(C::Ready(pb::Ready {})).await;
    harness::start(&mut campaigns, id).await;
    let offer = alice
        .wait_for(|e| match e {
            Event::Offered(o) => Some(o.clone()),
            _ => None,
        })
        .await;
    assert!(offer.preview);
    let pop = offer.screen_pop.expect("screen pop");
    assert!(!pop.account_id.is_empty() && !pop.debts.is_empty());

    // Bob tries Alice's call every way he can.
    for c in [
        C::Accept(pb::Accept {
            call_id: offer.call_id.clone(),
        }),
        C::Skip(pb::Skip {
            call_id: offer.call_id.clone(),
        }),
        C::Hangup(pb::Hangup {
            call_id: offer.call_id.clone(),
        }),
        C::Disposition(pb::DispositionCall {
            call_id: offer.call_id.clone(),
            disposition: Some(pb::Disposition {
                code: pb::DispositionCode::CeaseRequest as i32,
                ..Default::default()
            }),
        }),
    ] {
        bob.send(c).await;
        let r = bob.next_rejection().await;
        assert_eq!(
            r.code,
            pb::RejectionCode::PermissionDenied as i32,
            "{}: {}",
            r.command,
            r.reason
        );
    }
    // Alice still holds it and passes on it.
    alice
        .send(C::Skip(pb::Skip {
            call_id: offer.call_id.clone(),
        }))
        .await;
    alice
        .wait_for(|e| match e {
            Event::State(s) if s.state == pb::SeatState::Ready as i32 => Some(()),
            _ => None,
        })
        .await;

    // Bob closes his softphone: he is logged out of the campaign.
    bob.close();
    harness::figures_until(&mut campaigns, id, |f| {
        f.agents.as_ref().is_some_and(|a| a.logged_out == 1)
    })
    .await;
    alice.close();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_gives_reasons_zones_and_the_next_eligible_instant() {
    let mut server = Server::start(Options::default()).await;
    let accounts =
        dialer::portfolio::accounts(500, dialer::app::SAMPLE_SEED, jiff::Timestamp::UNIX_EPOCH);
    let ceased = accounts
        .iter()
        .find(|a| {
            a.holds
                .iter()
                .any(|h| h.kind == compliance::model::HoldKind::Cease)
        })
        .expect("a ceased account in the sample");
    let plain = accounts
        .iter()
        .find(|a| {
            a.holds.is_empty()
                && a.persons[0].addresses[0].state == "NY"
                && a.persons[0].phones.len() == 1
                && a.persons[0].phones[0].kind == compliance::model::PhoneKind::Landline
        })
        .expect("a New York landline account");
    // A CRM may ask too.
    let mut explain = server.compliance(&token("crm-1", Role::Crm)).await;

    let e = explain
        .explain(pb::ExplainRequest {
            account_id: ceased.account_id.clone(),
            debt_ids: vec![ceased.holds[0].debt_id.clone()],
            ..Default::default()
        })
        .await
        .expect("explained")
        .into_inner();
    assert_eq!(e.verdict, pb::Verdict::Deny as i32);
    let cease = e
        .reasons
        .iter()
        .find(|r| r.code == "US_REGF_CEASE")
        .expect("cease reason");
    assert_eq!(cease.rule_id, "US-REGF-06");
    assert!(e.next_eligible.is_none(), "a hold never clears by itself");

    // 00:00 in New York: too early there; the next eligible instant is 08:00 local.
    let night = pb::ExplainRequest {
        account_id: plain.account_id.clone(),
        at: Some(prost_types::Timestamp {
            seconds: "2026-11-24T05:00:00Z"
                .parse::<jiff::Timestamp>()
                .expect("ts")
                .as_second(),
            nanos: 0,
        }),
        mode: cpb::DialMode::Manual as i32,
        ..Default::default()
    };
    let e = explain
        .explain(night.clone())
        .await
        .expect("explained")
        .into_inner();
    assert_eq!(e.verdict, pb::Verdict::Deny as i32);
    assert!(
        e.reasons
            .iter()
            .any(|r| r.code.starts_with("US_REGF_HOURS") && !r.detail.is_empty()),
        "{:?}",
        e.reasons
    );
    let next = e.next_eligible.expect("next eligible");
    assert_eq!(
        next.seconds,
        "2026-11-24T13:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("ts")
            .as_second()
    );
    assert!(
        e.zones
            .iter()
            .any(|z| z.zone == "America/New_York" && !z.sources.is_empty())
    );
    assert!(e.packs.iter().any(|p| p == "US-FED"));
    assert_eq!(e.number, plain.persons[0].phones[0].number);
    assert_eq!(e.debt_ids.len(), plain.debts.len());

    // At the instant it names, the call is allowed.
    let mut at_next = night.clone();
    at_next.at = Some(next);
    let e = explain
        .explain(at_next)
        .await
        .expect("explained")
        .into_inner();
    assert_eq!(e.verdict, pb::Verdict::Allow as i32, "{:?}", e.reasons);

    // Bad input names the field; an unknown campaign is NOT_FOUND.
    let mut bad_debt = night.clone();
    bad_debt.debt_ids = vec!["D-none".into()];
    let (c, m) = code(explain.explain(bad_debt).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("debt_ids[0]:"), "{m}");
    let mut bad_number = night.clone();
    bad_number.number = "555".into();
    let (c, m) = code(explain.explain(bad_number).await);
    assert_eq!(c, Code::InvalidArgument);
    assert!(m.starts_with("number:"), "{m}");
    let mut no_campaign = night;
    no_campaign.campaign_id = "nope".into();
    assert_eq!(code(explain.explain(no_campaign).await).0, Code::NotFound);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_dialer_resumes_its_campaigns() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}/dialer.db?mode=rwc", dir.path().display());
    let opts = Options {
        database_url: Some(url.clone()),
        ..Options::default()
    };
    let mut first = Server::start(opts.clone()).await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = first.campaigns(&manager).await;
    for (id, mode) in [
        ("r-running", pb::PacingMode::Progressive),
        ("r-paused", pb::PacingMode::Power),
        ("r-stopped", pb::PacingMode::Predictive),
        ("r-ready", pb::PacingMode::Preview),
    ] {
        campaigns
            .create_campaign(campaign(id, mode))
            .await
            .expect("created");
    }
    campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: "r-running".into(),
            account_ids: account_ids(200),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added");
    for id in ["r-running", "r-paused"] {
        harness::start(&mut campaigns, id).await;
    }
    campaigns
        .pause_campaign(pb::PauseCampaignRequest {
            campaign_id: "r-paused".into(),
        })
        .await
        .expect("paused");
    harness::stop(&mut campaigns, "r-stopped").await;

    // Shutdown: health turns NOT_SERVING first.
    let mut health = tonic_health::pb::health_client::HealthClient::new(first.channel().await);
    let mut statuses = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: "collections.dialer.v1.AgentService".into(),
        })
        .await
        .expect("watch health")
        .into_inner();
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    assert_eq!(
        statuses.message().await.expect("status").map(|s| s.status),
        Some(serving)
    );
    let shutdown = first.begin_shutdown();
    assert_eq!(
        statuses.message().await.ok().flatten().map(|s| s.status),
        Some(not_serving)
    );
    drop(statuses);
    drop(health);
    let report = shutdown.await.expect("task").expect("serve");
    assert_eq!(report.stopped, ["r-paused", "r-ready", "r-running"]);
    assert!(report.timed_out.is_empty());

    // The next dialer on the same database resumes every campaign as it was.
    let mut second = Server::start_on(&opts, &url).await;
    let mut campaigns = second.campaigns(&manager).await;
    let list = campaigns
        .list_campaigns(pb::ListCampaignsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .campaigns;
    let states: Vec<(String, i32)> = list
        .iter()
        .map(|c| (c.campaign_id.clone(), c.state))
        .collect();
    assert_eq!(
        states,
        [
            ("r-paused".to_string(), pb::CampaignState::Paused as i32),
            ("r-ready".to_string(), pb::CampaignState::Ready as i32),
            ("r-running".to_string(), pb::CampaignState::Running as i32),
            ("r-stopped".to_string(), pb::CampaignState::Stopped as i32),
        ]
    );
    let power = list
        .iter()
        .find(|c| c.campaign_id == "r-paused")
        .and_then(|c| c.pacing.as_ref())
        .map(|p| p.mode);
    assert_eq!(power, Some(pb::PacingMode::Power as i32));
    let running = campaigns
        .list_campaigns(pb::ListCampaignsRequest {
            state: pb::CampaignState::Running as i32,
        })
        .await
        .expect("list running")
        .into_inner()
        .campaigns;
    assert_eq!(running.len(), 1);
    // In-process queues were rebuilt from the stored accounts.
    let mut watch = harness::watch(&mut campaigns, "r-running").await;
    tokio::time::timeout(PATIENCE, async {
        loop {
            let f = watch.message().await.expect("figures").expect("open");
            let q = f.queue.unwrap_or_default();
            if q.ready + q.sleeping + q.leased > 0 {
                break;
            }
        }
    })
    .await
    .expect("queued again");
    // A stopped campaign stays stopped.
    assert_eq!(
        code(
            campaigns
                .start_campaign(pb::StartCampaignRequest {
                    campaign_id: "r-stopped".into()
                })
                .await
        )
        .0,
        Code::FailedPrecondition
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_the_queue_lives_in_redis() {
    // The sample accounts are the same in every run and their attempt counters live in the
    // shared Redis for weeks: start from an empty history, so earlier runs' attempts (at the
    // same configured clock) do not gap the phones.
    let mut conn = queue::redis_store::connect(&redis_url())
        .await
        .expect("redis");
    for account in account_ids(300) {
        let prefix = queue::reservation::account_prefix(&account);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .expect("keys");
        if !keys.is_empty() {
            let () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .expect("del");
        }
    }
    let mut server = Server::start(Options {
        redis: true,
        ..Options::default()
    })
    .await;
    let manager = token("m1", Role::Manager);
    let mut campaigns = server.campaigns(&manager).await;
    let id = unique("redis");
    campaigns
        .create_campaign(campaign(&id, pb::PacingMode::Progressive))
        .await
        .expect("created");
    let added = campaigns
        .add_accounts(pb::AddAccountsRequest {
            campaign_id: id.clone(),
            account_ids: account_ids(300),
            filter: None,
            page_token: String::new(),
        })
        .await
        .expect("added")
        .into_inner();
    assert!(added.queued > 200, "{added:?}");
    let floor = Arc::new(Floor {
        dispositions: (0..2).map(|_| AtomicU32::new(0)).collect(),
        ..Floor::default()
    });
    let mut team = Vec::new();
    for i in 0..2 {
        let phone = Softphone::login(&server, &format!("r-agent-{i}"), &id)
            .await
            .expect("login");
        team.push(tokio::spawn(work(phone, floor.clone(), i)));
    }
    harness::start(&mut campaigns, &id).await;
    figures_until(&mut campaigns, &id, |f| {
        let calls: u32 = floor
            .dispositions
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .sum();
        calls >= 2 && f.dials > 0
    })
    .await;
    // The queue the figures report is the one in Redis.
    let conn = queue::redis_store::connect(&redis_url())
        .await
        .expect("redis");
    let q = queue::redis_store::RedisQueue::new(conn, &id);
    let sizes = queue::CampaignQueue::sizes(&q).await.expect("sizes");
    assert!(sizes.ready + sizes.sleeping + sizes.leased > 0, "{sizes:?}");
    harness::stop(&mut campaigns, &id).await;
    for t in team {
        let _ = tokio::time::timeout(PATIENCE, t).await;
    }
    q.destroy().await.expect("cleanup");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_when_configured() {
    let mut server = Server::start(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    assert_eq!(
        server.health("").await,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut campaigns = server.campaigns(&token("m1", Role::Manager)).await;
    campaigns
        .create_campaign(campaign("tls", pb::PacingMode::Progressive))
        .await
        .expect("over TLS");
    // Plaintext gets nowhere.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("endpoint")
        .connect()
        .await;
    if let Ok(ch) = plain {
        let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
        assert!(
            h.check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_err()
        );
    }
    server.shutdown().await;
}
