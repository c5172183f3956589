//! `dialerctl sim-agents CAMPAIGN`: simulated softphones for demos and wallboard checks. Each
//! holds one `AgentService.Session` over gRPC, as a real softphone does: it logs in, goes
//! ready, accepts preview offers, talks a few (real) seconds on each connected call, hangs up
//! and dispositions it (a right-party contact; every third one a promise to pay due a week
//! after the call). Agent ids are `sim-agent-1`, ... : logging in as several agents needs an
//! admin's token (an agent's token logs in as itself only, so `--count 1`).

use std::time::Duration;

use collections_proto::dialer_v1 as pb;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{self, ConnArgs, Failure, FailureKind, describe};

#[derive(clap::Args, Debug)]
pub struct SimAgentsArgs {
    /// The campaign to log in to.
    pub campaign: String,
    /// Number of simulated agents.
    #[arg(long, default_value_t = 5)]
    pub count: u32,
    /// Seconds (real time) each call is talked before the agent hangs up.
    #[arg(long, default_value_t = 8.0)]
    pub talk_s: f64,
    /// Log out after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
}

/// Runs the team until `--seconds` have passed, Ctrl-C, or every session has ended (the
/// campaign stopped).
pub fn run(conn: &ConnArgs, args: &SimAgentsArgs) -> Result<(), Failure> {
    if !(args.talk_s.is_finite() && args.talk_s >= 0.0) {
        return Err(Failure::invalid(
            "--talk-s: a number of seconds, not negative",
        ));
    }
    let c = client::resolve(conn, &|k| std::env::var(k).ok())
        .map_err(|e| Failure::invalid(format!("{e:#}")))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| Failure {
        kind: FailureKind::Other,
        message: e.to_string(),
    })?;
    rt.block_on(async {
        let mut sessions = Vec::new();
        for i in 1..=args.count {
            let agent = if args.count == 1 {
                String::new()
            } else {
                format!("sim-agent-{i}")
            };
            sessions.push(login(&c, &args.campaign, &agent).await?);
        }
        println!(
            "{} simulated agents logged in to {}",
            sessions.len(),
            args.campaign
        );
        let talk = Duration::from_secs_f64(args.talk_s);
        let mut team = tokio::task::JoinSet::new();
        for s in sessions {
            team.spawn(work(s, talk));
        }
        let until = async {
            match args.seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::select! {
            () = until => {}
            () = async { while team.join_next().await.is_some() {} } => {}
        }
        team.abort_all();
        while team.join_next().await.is_some() {}
        Ok(())
    })
}

/// One logged-in softphone: its commands' sender and its event stream.
struct Session {
    tx: mpsc::Sender<pb::AgentRequest>,
    rx: tonic::Streaming<pb::AgentMessage>,
}

async fn login(c: &client::Conn, campaign: &str, agent: &str) -> Result<Session, Failure> {
    let mut client = c.agents().await?;
    let (tx, rx) = mpsc::channel(16);
    let endpoint = format!("sip:{}@sim", if agent.is_empty() { "agent" } else { agent });
    let _ = tx
        .send(command(C::Login(pb::Login {
            campaign_id: campaign.to_string(),
            endpoint,
            agent_id: agent.to_string(),
        })))
        .await;
    let what = format!(
        "sim-agents login {}",
        if agent.is_empty() {
            "(the token's agent)"
        } else {
            agent
        }
    );
    let mut rx = client
        .session(ReceiverStream::new(rx))
        .await
        .map_err(|s| describe(&s, &what))?
        .into_inner();
    // The first answer is the state after login, or the refusal.
    match rx.message().await {
        Ok(Some(_)) => Ok(Session { tx, rx }),
        Ok(None) => Err(Failure {
            kind: FailureKind::Other,
            message: format!("{what}: the session ended at once"),
        }),
        Err(s) => Err(describe(&s, &what)),
    }
}

fn command(c: C) -> pb::AgentRequest {
    pb::AgentRequest { command: Some(c) }
}

/// Works calls until the session ends.
async fn work(mut s: Session, talk: Duration) {
    let send = |tx: &mpsc::Sender<pb::AgentRequest>, c: C| {
        let tx = tx.clone();
        async move { tx.send(command(c)).await.is_ok() }
    };
    if !send(&s.tx, C::Ready(pb::Ready {})).await {
        return;
    }
    let mut debts: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut connected = std::collections::HashSet::new();
    let mut done = 0u32;
    while let Ok(Some(m)) = s.rx.message().await {
        match m.event {
            Some(Event::Offered(o)) => {
                let pop = o.screen_pop.unwrap_or_default();
                debts.insert(o.call_id.clone(), pop.call_debt_ids);
                if o.preview {
                    send(&s.tx, C::Accept(pb::Accept { call_id: o.call_id })).await;
                }
            }
            Some(Event::Connected(c)) => {
                connected.insert(c.call_id.clone());
                tokio::time::sleep(talk).await;
                send(&s.tx, C::Hangup(pb::Hangup { call_id: c.call_id })).await;
            }
            Some(Event::Ended(e)) => {
                if !connected.remove(&e.call_id) {
                    debts.remove(&e.call_id);
                    continue;
                }
                done += 1;
                let debt = debts.remove(&e.call_id).and_then(|d| d.into_iter().next());
                let due = e.wrap_deadline.and_then(|t| {
                    let at = jiff::Timestamp::new(t.seconds, 0).ok()?;
                    let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
                    day.checked_add(jiff::Span::new().days(7)).ok()
                });
                let disposition = match (debt, due) {
                    (Some(debt_id), Some(due)) if done % 3 == 0 => pb::Disposition {
                        code: pb::DispositionCode::PromiseToPay as i32,
                        promise: Some(pb::PromiseTerms {
                            debt_id,
                            amount_minor: 5_000,
                            currency: "USD".into(),
                            due_date: due.to_string(),
                        }),
                        ..Default::default()
                    },
                    _ => pb::Disposition {
                        code: pb::DispositionCode::RightPartyContact as i32,
                        ..Default::default()
                    },
                };
                send(
                    &s.tx,
                    C::Disposition(pb::DispositionCall {
                        call_id: e.call_id,
                        disposition: Some(disposition),
                    }),
                )
                .await;
            }
            _ => {}
        }
    }
}
