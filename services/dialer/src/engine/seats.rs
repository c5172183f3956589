//! Agent seats of one campaign: who is logged in, in which state since when, and where their
//! events go. Routing picks the longest-idle ready agent; the pacer sees stable seat
//! positions (a seat outlives a logout so handle-time learning stays attached to it).

use std::collections::HashMap;

use carrier::CallId;
use queue::Millis;
use tokio::sync::mpsc::UnboundedSender;

use crate::session::{AgentEvent, AgentId, SeatState};

#[derive(Debug)]
pub struct Seat {
    pub agent: AgentId,
    pub endpoint: String,
    pub state: SeatState,
    pub since: Millis,
    /// The call the seat is reserved for, talking on or wrapping up.
    pub call: Option<CallId>,
    /// A not-ready asked for during a call, applied after its disposition.
    pub pending_not_ready: Option<String>,
    /// Calls this agent took (connected to it) since the campaign started on this replica.
    pub calls: u32,
    /// Talk time (reserved or on a call, ms) since the campaign started on this replica.
    pub talk_ms: i64,
    /// Time in the current state is accounted up to here (`since` stays the state's start:
    /// the pacer learns handle times from it).
    accounted: Millis,
    events: Option<UnboundedSender<AgentEvent>>,
}

/// Time spent per state today (ms), for occupancy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateTime {
    pub ready: i64,
    pub talk: i64,
    pub wrap: i64,
    pub not_ready: i64,
}

#[derive(Debug, Default)]
pub struct Seats {
    seats: Vec<Seat>,
    by_agent: HashMap<AgentId, usize>,
    pub time: StateTime,
}

impl Seats {
    /// Logs an agent in (not ready) on its old seat or a new one; a second login replaces
    /// the first session's event channel.
    pub fn login(
        &mut self,
        agent: &str,
        endpoint: &str,
        events: UnboundedSender<AgentEvent>,
        now: Millis,
    ) -> usize {
        let idx = match self.by_agent.get(agent) {
            Some(&i) => i,
            None => {
                self.seats.push(Seat {
                    agent: agent.to_string(),
                    endpoint: String::new(),
                    state: SeatState::LoggedOut,
                    since: now,
                    call: None,
                    pending_not_ready: None,
                    calls: 0,
                    talk_ms: 0,
                    accounted: now,
                    events: None,
                });
                let i = self.seats.len() - 1;
                self.by_agent.insert(agent.to_string(), i);
                i
            }
        };
        let seat = &mut self.seats[idx];
        seat.endpoint = endpoint.to_string();
        seat.events = Some(events);
        if seat.state == SeatState::LoggedOut {
            self.set(
                idx,
                SeatState::NotReady {
                    code: "login".into(),
                },
                now,
            );
        } else {
            let state = seat.state.clone();
            self.send(idx, AgentEvent::State { state });
        }
        idx
    }

    pub fn index(&self, agent: &str) -> Option<usize> {
        self.by_agent.get(agent).copied()
    }

    pub fn get(&self, idx: usize) -> &Seat {
        &self.seats[idx]
    }

    pub fn get_mut(&mut self, idx: usize) -> &mut Seat {
        &mut self.seats[idx]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Seat> {
        self.seats.iter()
    }

    /// Moves a seat to `state`, accounting the time spent in the old one, and tells the
    /// agent.
    pub fn set(&mut self, idx: usize, state: SeatState, now: Millis) {
        account(&mut self.time, &mut self.seats[idx], now);
        let seat = &mut self.seats[idx];
        if state == SeatState::OnCall && seat.state != SeatState::OnCall {
            seat.calls += 1;
        }
        seat.state = state.clone();
        seat.since = now;
        seat.accounted = now;
        if !matches!(
            state,
            SeatState::Reserved | SeatState::OnCall | SeatState::WrapUp
        ) {
            seat.call = None;
        }
        self.send(idx, AgentEvent::State { state });
    }

    /// Reserves the seat for `call` and shows the agent the screen pop.
    pub fn offer(
        &mut self,
        idx: usize,
        call: CallId,
        pop: crate::session::ScreenPop,
        preview: bool,
        now: Millis,
    ) {
        if self.seats[idx].state != SeatState::Reserved {
            self.set(idx, SeatState::Reserved, now);
        }
        self.seats[idx].call = Some(call);
        self.send(
            idx,
            AgentEvent::Offered {
                call,
                pop: Box::new(pop),
                preview,
            },
        );
    }

    /// Sends an event to the seat's agent; a closed session logs the seat out.
    pub fn send(&mut self, idx: usize, event: AgentEvent) {
        let seat = &mut self.seats[idx];
        if let Some(tx) = &seat.events
            && tx.send(event).is_err()
        {
            seat.events = None;
        }
    }

    /// Whether the agent's session is still listening.
    pub fn connected(&self, idx: usize) -> bool {
        self.seats[idx]
            .events
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// The ready agent idle the longest (fairness, and the agent most likely to be
    /// attentive is not the one who just sat down).
    pub fn longest_idle_ready(&self) -> Option<usize> {
        self.seats
            .iter()
            .enumerate()
            .filter(|(i, s)| s.state == SeatState::Ready && self.connected(*i))
            .min_by_key(|(_, s)| s.since)
            .map(|(i, _)| i)
    }

    /// The seats as the pacer sees them.
    pub fn pacing_agents(&self) -> Vec<pacing::Agent> {
        use pacing::AgentState as P;
        self.seats
            .iter()
            .map(|s| pacing::Agent {
                state: match s.state {
                    SeatState::Ready => P::Ready,
                    SeatState::Reserved | SeatState::OnCall => P::Talk,
                    SeatState::WrapUp => P::Wrap,
                    SeatState::NotReady { .. } => P::Paused,
                    SeatState::LoggedOut => P::LoggedOut,
                },
                since: s.since as f64 / 1000.0,
            })
            .collect()
    }

    /// Accounts the time of every seat up to `now` (before reading [`Seats::time`]).
    pub fn settle(&mut self, now: Millis) {
        for seat in &mut self.seats {
            account(&mut self.time, seat, now);
        }
    }
}

/// Adds the seat's time in its state since it was last accounted to the campaign's totals
/// and the seat's own talk time, and marks it accounted up to `now`.
fn account(time: &mut StateTime, seat: &mut Seat, now: Millis) {
    let spent = (now - seat.accounted.max(seat.since)).max(0);
    match seat.state {
        SeatState::Ready => time.ready += spent,
        SeatState::Reserved | SeatState::OnCall => {
            time.talk += spent;
            seat.talk_ms += spent;
        }
        SeatState::WrapUp => time.wrap += spent,
        SeatState::NotReady { .. } => time.not_ready += spent,
        SeatState::LoggedOut => {}
    }
    seat.accounted = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_idle_ready_agent_gets_the_call() {
        let mut seats = Seats::default();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let a = seats.login("a", "sip:a", tx.clone(), 0);
        let b = seats.login("b", "sip:b", tx.clone(), 0);
        let c = seats.login("c", "sip:c", tx, 0);
        seats.set(b, SeatState::Ready, 1_000);
        seats.set(a, SeatState::Ready, 2_000);
        assert_eq!(seats.longest_idle_ready(), Some(b));
        seats.set(b, SeatState::OnCall, 3_000);
        assert_eq!(seats.longest_idle_ready(), Some(a));
        assert_eq!(
            seats.get(c).state,
            SeatState::NotReady {
                code: "login".into()
            }
        );
        assert_eq!(seats.time.ready, 2_000);
        seats.settle(5_000);
        assert_eq!((seats.get(b).calls, seats.get(b).talk_ms), (1, 2_000));
        assert_eq!((seats.get(a).calls, seats.get(a).talk_ms), (0, 0));
    }

    #[test]
    fn a_closed_session_takes_no_calls() {
        let mut seats = Seats::default();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let a = seats.login("a", "sip:a", tx, 0);
        seats.set(a, SeatState::Ready, 0);
        drop(rx);
        assert_eq!(seats.longest_idle_ready(), None);
    }
}
