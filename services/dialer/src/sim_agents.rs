//! Simulated agents: a team that logs into a campaign, takes the calls it is offered, talks
//! (the simulated carrier decides how long), wraps up and dispositions the way a collection
//! floor does. They drive the same agent commands and events as a softphone, so the demo,
//! the tests and the load test exercise the real routing, wrap-up and disposition code.

use std::time::Duration;

use carrier::sim::SimCarrier;
use simulator::rng::SplitMix64;
use tokio::task::JoinHandle;

use crate::engine::{CampaignHandle, EngineError};
use crate::session::{
    AgentCommand, AgentEvent, Disposition, DispositionCode, PromiseTerms, SeatState,
};

/// How simulated agents disposition right-party contacts (shares of all RPCs; the rest are
/// plain right-party contacts).
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub promise: f64,
    pub callback: f64,
    pub dispute: f64,
    pub cease: f64,
    pub refused: f64,
    /// Share of non-right-party answers that are wrong numbers (the rest: third parties).
    pub wrong_number: f64,
    /// Seconds of wrap-up when the carrier gives no figure.
    pub default_wrap_s: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            promise: 0.25,
            callback: 0.08,
            dispute: 0.03,
            cease: 0.02,
            refused: 0.10,
            wrong_number: 0.15,
            default_wrap_s: 10.0,
        }
    }
}

/// Logs in `n` agents named `{prefix}{i}` and runs them until the campaign ends.
pub fn spawn_team(
    handle: &CampaignHandle,
    carrier: &SimCarrier,
    n: usize,
    prefix: &str,
    behaviour: &Behaviour,
    seed: u64,
) -> Result<Vec<JoinHandle<()>>, EngineError> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i}");
            let events = handle.login(&name, &format!("sip:{name}@sim"))?;
            handle.agent(&name, AgentCommand::Ready)?;
            let agent = SimAgent {
                name,
                handle: handle.clone(),
                carrier: carrier.clone(),
                behaviour: behaviour.clone(),
                rng: SplitMix64::stream(seed, 7, i as u64),
            };
            Ok(tokio::spawn(agent.run(events)))
        })
        .collect()
}

struct SimAgent {
    name: String,
    handle: CampaignHandle,
    carrier: SimCarrier,
    behaviour: Behaviour,
    rng: SplitMix64,
}

impl SimAgent {
    async fn run(mut self, mut events: tokio::sync::mpsc::UnboundedReceiver<AgentEvent>) {
        let mut debts: Vec<String> = Vec::new();
        while let Some(ev) = events.recv().await {
            let sent = match ev {
                AgentEvent::Offered { call, pop, preview } => {
                    debts = pop.call_debt_ids.clone();
                    if preview {
                        self.handle.agent(&self.name, AgentCommand::Accept { call })
                    } else {
                        Ok(())
                    }
                }
                AgentEvent::Ended { call, .. } => {
                    let truth = self.carrier.take_truth(call);
                    let wrap = truth.map_or(self.behaviour.default_wrap_s, |t| t.wrap_s);
                    tokio::time::sleep(Duration::from_secs_f64(wrap.max(0.0))).await;
                    let disposition = self.disposition(truth, &debts);
                    self.handle
                        .agent(&self.name, AgentCommand::Disposition { call, disposition })
                }
                // Forced not ready (wrap timeout) or refused previews: carry on.
                AgentEvent::State {
                    state: SeatState::NotReady { .. },
                } => self.handle.agent(&self.name, AgentCommand::Ready),
                _ => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    }

    fn disposition(&mut self, truth: Option<carrier::sim::Truth>, debts: &[String]) -> Disposition {
        let b = &self.behaviour;
        let code = match truth {
            Some(t) if t.machine => DispositionCode::Machine,
            Some(t) if t.right_party => {
                let u = self.rng.uniform();
                let mut edge = 0.0;
                let mut pick = DispositionCode::RightPartyContact;
                for (share, code) in [
                    (b.promise, DispositionCode::PromiseToPay),
                    (b.callback, DispositionCode::Callback),
                    (b.dispute, DispositionCode::Dispute),
                    (b.cease, DispositionCode::CeaseRequest),
                    (b.refused, DispositionCode::Refused),
                ] {
                    edge += share;
                    if u < edge {
                        pick = code;
                        break;
                    }
                }
                pick
            }
            Some(_) if self.rng.uniform() < b.wrong_number => DispositionCode::WrongNumber,
            Some(_) => DispositionCode::ThirdParty,
            None => DispositionCode::NoContact,
        };
        let now_ms = self.handle.clock().now_ms();
        let due = jiff::Timestamp::from_millisecond(now_ms + 7 * 86_400_000)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_else(|_| "2030-01-15".into());
        Disposition {
            code,
            debts_discussed: Vec::new(),
            promise: (code == DispositionCode::PromiseToPay)
                .then(|| debts.first())
                .flatten()
                .map(|d| PromiseTerms {
                    debt_id: d.clone(),
                    amount_minor: 5_000 + (self.rng.uniform() * 20_000.0) as i64,
                    currency: "USD".into(),
                    due_date: due.clone(),
                }),
            plan: None,
            callback_at_ms: (code == DispositionCode::Callback).then_some(now_ms + 2 * 86_400_000),
            notes: String::new(),
        }
    }
}
