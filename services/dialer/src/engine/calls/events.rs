//! What happens to calls once dialed: carrier events, routing to agents, the 2-second
//! deadline and the safe-harbor message, wrap-up, dispositions and the final outcome.

use carrier::{CallId, CarrierEvent, EndCause, Prompt, Verdict};
use compliance::model::{HoldKind, Outcome};
use ledger_api::domain::{AmdVerdict, ConsentUpdate, Hold, Party, Promise, PromiseStatus};
use pacing::{Completed, Outcome as PaceOutcome};
use queue::recycle::Recycle;
use queue::{AttemptBook, CampaignQueue, Millis, Next};
use tracing::{debug, info, warn};

use super::{Call, DAY, MINUTE, Phase, Runtime, attributed, code_tag, open_debts, retry, ts};
use crate::engine::{Backend, Command, outcome_name};
use crate::outcomes::{LedgerCommand, OutcomeSink};
use crate::session::{AgentEvent, Disposition, DispositionCode, SeatState};

impl<B: Backend> Runtime<B> {
    // ------------------------------------------------------------------ carrier events

    pub(super) async fn on_carrier(&mut self, ev: CarrierEvent) {
        let now = self.clock.now_ms();
        match ev {
            CarrierEvent::Progress { .. } => {}
            CarrierEvent::PickedUp { call } => {
                if let Some(c) = self.calls.get_mut(&call)
                    && c.phase == Phase::Ringing
                {
                    c.phase = Phase::Detecting;
                }
            }
            CarrierEvent::Answered { call, amd } => self.answered(call, amd.verdict, now),
            CarrierEvent::Bridged { call, .. } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.talk_from = Some(now);
                    if let Some(seat) = c.seat {
                        self.seats.set(seat, SeatState::OnCall, now);
                        self.seats.get_mut(seat).call = Some(call);
                        self.seats.send(seat, AgentEvent::Connected { call });
                    }
                }
            }
            CarrierEvent::Ended { call, end } => self.ended(call, end.cause, now).await,
        }
    }

    pub(super) fn answered(&mut self, id: CallId, verdict: Verdict, now: Millis) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        c.answered_at = Some(now);
        let ring_s = (now - c.dialed_at) as f64 / 1000.0;
        match verdict {
            Verdict::Machine => {
                c.record.amd = AmdVerdict::Machine;
                c.phase = Phase::Closing;
                let prompt = self
                    .spec
                    .voicemail_template
                    .clone()
                    .map(|template| Prompt::Voicemail { template });
                c.outcome = Some(if prompt.is_some() {
                    Outcome::Lcm
                } else {
                    Outcome::Machine
                });
                self.completed.push(Completed {
                    outcome: PaceOutcome::Machine,
                    ring_s,
                });
                self.counters.machines += 1;
                let _ = self.carrier.hangup(id, prompt);
            }
            Verdict::Human | Verdict::NotSure => {
                // Not sure is a person until heard otherwise: hanging up on one abandons.
                c.record.amd = if verdict == Verdict::Human {
                    AmdVerdict::Human
                } else {
                    AmdVerdict::NotSure
                };
                c.phase = Phase::Waiting;
                if let Some(seat) = c.seat {
                    // Preview and manual calls have their agent waiting.
                    self.bridge(id, seat, now);
                } else if let Some(seat) = self.seats.longest_idle_ready() {
                    self.bridge(id, seat, now);
                } else {
                    let deadline = now + (self.spec.connect_deadline_s * 1000.0) as Millis;
                    self.waiting.push(deadline, id);
                }
            }
        }
    }

    /// Connects a waiting live answer to `seat` and shows the agent the screen pop.
    pub(super) fn bridge(&mut self, id: CallId, seat: usize, now: Millis) {
        let (account, number, debts, reserved) = {
            let c = &self.calls[&id];
            (
                c.account.clone(),
                c.record.number.clone(),
                c.record.debt_ids.clone(),
                c.reserved,
            )
        };
        let endpoint = self.seats.get(seat).endpoint.clone();
        if let Err(e) = self.carrier.bridge(id, &endpoint) {
            // The person hung up in between: the end event follows.
            debug!(call_id = id, error = %e, "bridge failed");
            return;
        }
        let ring_s = {
            let c = &self.calls[&id];
            (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0
        };
        self.completed.push(Completed {
            outcome: PaceOutcome::HumanConnected,
            ring_s,
        });
        self.counters.live(now, false);
        let agent = self.seats.get(seat).agent.clone();
        let pop = if reserved {
            None
        } else {
            Some(self.screen_pop(&account, &number, &debts, now))
        };
        let c = self.calls.get_mut(&id).expect("call checked above");
        c.phase = Phase::Talking;
        c.seat = Some(seat);
        c.record.agent_id = agent;
        if let Some(pop) = pop {
            c.pop = Some(pop.clone());
            self.seats.offer(seat, id, pop, false, now);
        }
    }

    /// An agent became ready: give it the live answer waiting longest.
    pub(super) fn serve_waiting(&mut self, now: Millis) {
        while let Some(seat) = self.seats.longest_idle_ready() {
            let Some(id) = self.waiting.queue.iter().map(|(_, id)| *id).find(|id| {
                self.calls
                    .get(id)
                    .is_some_and(|c| c.phase == Phase::Waiting)
            }) else {
                return;
            };
            self.waiting.queue.retain(|(_, x)| *x != id);
            self.bridge(id, seat, now);
        }
    }

    pub(super) async fn on_timers(&mut self, now: Millis) {
        for id in self.waiting.pop_due(now) {
            let Some(c) = self.calls.get_mut(&id) else {
                continue;
            };
            if c.phase != Phase::Waiting {
                continue;
            }
            // Nobody to take the call within the deadline: the safe-harbor message, then
            // hang up (US-TCPA-01, UK-OFCOM-01).
            c.phase = Phase::Closing;
            c.outcome = Some(Outcome::Abandoned);
            let ring_s = (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0;
            self.completed.push(Completed {
                outcome: PaceOutcome::HumanDropped,
                ring_s,
            });
            self.counters.live(now, true);
            let prompt = Prompt::SafeHarbor {
                template: self.spec.safe_harbor_template.clone(),
            };
            if let Err(e) = self.carrier.hangup(id, Some(prompt)) {
                debug!(call_id = id, error = %e, "abandon hangup failed");
            }
            info!(call_id = id, "abandoned with the safe-harbor message");
        }
        for id in self.wraps.pop_due(now) {
            let overdue = self.calls.get(&id).is_some_and(|c| c.phase == Phase::Wrap);
            if overdue && let Some(c) = self.calls.remove(&id) {
                let seat = c.seat;
                self.finish_connected(id, c, now).await;
                if let Some(seat) = seat {
                    self.seats.set(
                        seat,
                        SeatState::NotReady {
                            code: "wrap_timeout".into(),
                        },
                        now,
                    );
                }
            }
        }
    }

    pub(super) async fn ended(&mut self, id: CallId, cause: EndCause, now: Millis) {
        let Some(mut c) = self.calls.remove(&id) else {
            return;
        };
        c.record.ring_ms = c.answered_at.unwrap_or(now) - c.dialed_at;
        // A preview or manual call that never reached its agent frees the agent.
        let reserved_seat = c
            .seat
            .filter(|&s| c.reserved && self.seats.get(s).state == SeatState::Reserved);
        if !matches!(c.phase, Phase::Talking | Phase::Preview | Phase::Wrap)
            && let Some(seat) = reserved_seat
        {
            self.seats.send(
                seat,
                AgentEvent::Ended {
                    call: id,
                    cause,
                    wrap_deadline_ms: now,
                },
            );
            self.release_seat(seat, now);
        }
        match c.phase {
            Phase::Ringing => {
                let (outcome, pace) = match cause {
                    EndCause::Busy => (Outcome::Busy, PaceOutcome::Fail),
                    EndCause::Sit => (Outcome::Sit, PaceOutcome::Fail),
                    EndCause::Failed => (Outcome::Failed, PaceOutcome::Fail),
                    _ => (Outcome::NoAnswer, PaceOutcome::NoAnswer),
                };
                self.completed.push(Completed {
                    outcome: pace,
                    ring_s: (now - c.dialed_at) as f64 / 1000.0,
                });
                self.finish(id, c, outcome, now).await;
            }
            Phase::Waiting => {
                // The person hung up before an agent was free: a drop all the same.
                self.completed.push(Completed {
                    outcome: PaceOutcome::HumanDropped,
                    ring_s: (c.answered_at.unwrap_or(now) - c.dialed_at) as f64 / 1000.0,
                });
                self.counters.live(now, true);
                self.finish(id, c, Outcome::Abandoned, now).await;
            }
            Phase::Detecting => {
                // Hung up during answering-machine detection: answered, nobody spoken to.
                self.completed.push(Completed {
                    outcome: PaceOutcome::Machine,
                    ring_s: (now - c.dialed_at) as f64 / 1000.0,
                });
                self.finish(id, c, Outcome::Answered, now).await;
            }
            Phase::Closing => {
                let outcome = c.outcome.unwrap_or(Outcome::Machine);
                self.finish(id, c, outcome, now).await;
            }
            Phase::Talking => {
                c.record.talk_ms = c.talk_from.map_or(0, |t| now - t);
                let Some(seat) = c.seat else {
                    self.finish(id, c, Outcome::Answered, now).await;
                    return;
                };
                if c.talk_from.is_none() {
                    // Ended before the bridge completed.
                    self.finish(id, c, Outcome::Abandoned, now).await;
                    self.release_seat(seat, now);
                    return;
                }
                if c.disposition.is_some() {
                    self.finish_connected(id, c, now).await;
                    self.release_seat(seat, now);
                    return;
                }
                let deadline = now + Millis::from(self.spec.wrap_up_s) * 1000;
                c.phase = Phase::Wrap;
                self.calls.insert(id, c);
                self.wraps.push(deadline, id);
                self.seats.set(seat, SeatState::WrapUp, now);
                self.seats.get_mut(seat).call = Some(id);
                self.seats.send(
                    seat,
                    AgentEvent::Ended {
                        call: id,
                        cause,
                        wrap_deadline_ms: deadline,
                    },
                );
            }
            Phase::Preview | Phase::Wrap => {
                self.calls.insert(id, c);
            }
        }
    }

    /// After a call: ready again, or the not-ready the agent asked for meanwhile.
    pub(super) fn release_seat(&mut self, seat: usize, now: Millis) {
        let next = match self.seats.get_mut(seat).pending_not_ready.take() {
            Some(code) => SeatState::NotReady { code },
            None => SeatState::Ready,
        };
        if self.seats.get(seat).state != SeatState::LoggedOut {
            self.seats.set(seat, next, now);
        }
        self.serve_waiting(now);
    }

    /// Records a connected call with its disposition (or none, after the wrap timeout) and
    /// applies what the disposition means.
    pub(super) async fn finish_connected(&mut self, id: CallId, mut c: Call, now: Millis) {
        let seat = c.seat;
        let d = c.disposition.take();
        let (outcome, code) = match &d {
            Some(d) => (d.code.outcome(), d.code.as_str()),
            None => (Outcome::Answered, "NO_DISPOSITION"),
        };
        c.record.disposition = code.to_string();
        let mut commands = Vec::new();
        if let Some(d) = &d {
            if !d.debts_discussed.is_empty() {
                c.record.debt_ids = d.debts_discussed.clone();
            }
            if d.code.is_rpc() {
                self.counters.right_party_contacts += 1;
            }
            commands = self.apply_disposition(&c, d, now).await;
        }
        let saved_to = d
            .as_ref()
            .and(seat)
            .map(|s| self.seats.get(s).agent.clone());
        c.disposition = d;
        self.finish_with(id, c, outcome, commands, saved_to, now)
            .await;
        if let Some(seat) = seat
            && self.seats.get(seat).state == SeatState::WrapUp
        {
            self.release_seat(seat, now);
        }
    }

    /// What a disposition asks of the ledger (holds, a promise, a consent revocation): applied
    /// to our copy at once, so no further call starts this second, and returned to be written
    /// with the call's outcome in one durable step.
    pub(super) async fn apply_disposition(
        &mut self,
        c: &Call,
        d: &Disposition,
        now: Millis,
    ) -> Vec<LedgerCommand> {
        let mut commands = Vec::new();
        let hold_kind = match d.code {
            DispositionCode::CeaseRequest => Some(HoldKind::Cease),
            DispositionCode::Attorney => Some(HoldKind::Attorney),
            DispositionCode::Dispute => Some(HoldKind::Dispute),
            DispositionCode::WrongNumber => Some(HoldKind::WrongNumber),
            _ => None,
        };
        if let Some(kind) = hold_kind {
            let debts: Vec<String> = if kind == HoldKind::WrongNumber {
                vec![String::new()]
            } else {
                c.record.debt_ids.clone()
            };
            for debt in debts {
                let hold = Hold {
                    hold_id: format!("{}-{}{}", c.record.idempotency_key, code_tag(kind), debt),
                    account_id: c.account.clone(),
                    kind,
                    debt_id: debt,
                    number: if kind == HoldKind::WrongNumber {
                        c.record.number.clone()
                    } else {
                        String::new()
                    },
                    since: ts(now),
                    until: None,
                    set_by: c.record.agent_id.clone(),
                    reason: format!("disposition {}", d.code.as_str()),
                };
                if let Some(v) = self.accounts.get_mut(&c.account) {
                    v.account.holds.push(hold.clone());
                }
                commands.push(LedgerCommand::Hold(hold));
            }
            if kind != HoldKind::WrongNumber
                && let Some(v) = self.accounts.get(&c.account)
                && open_debts(v, now).is_empty()
                && let Err(e) = self.queue.remove(&c.account).await
            {
                warn!(error = %e, "queue remove failed");
            }
        }
        if d.code == DispositionCode::RevokeConsent {
            // US-TCPA-05: applied on receipt, to the number called.
            let update = ConsentUpdate {
                account_id: c.account.clone(),
                person_id: c.record.person_id.clone(),
                number: c.record.number.clone(),
                consent: false,
                source: "agent disposition".into(),
                at: ts(now),
                set_by: c.record.agent_id.clone(),
            };
            if let Some(v) = self.accounts.get_mut(&c.account) {
                v.revoke_consent(&update.number, update.at);
            }
            commands.push(LedgerCommand::Consent {
                key: format!("{}-consent", c.record.idempotency_key),
                update,
            });
        }
        if let (DispositionCode::PromiseToPay, Some(p)) = (d.code, &d.promise) {
            self.counters.promises += 1;
            commands.push(LedgerCommand::Promise(Promise {
                promise_id: format!("{}-ptp", c.record.idempotency_key),
                account_id: c.account.clone(),
                debt_id: p.debt_id.clone(),
                amount_minor: p.amount_minor,
                currency: p.currency.clone(),
                due_date: p.due_date.clone(),
                status: PromiseStatus::Pending,
                outcome_key: c.record.idempotency_key.clone(),
                set_by: c.record.agent_id.clone(),
                created_at: None,
                updated_at: None,
            }));
        }
        commands
    }

    /// Records the final outcome, releases an attempt that does not count, and tells the
    /// queue what comes next for the account.
    pub(super) async fn finish(&mut self, id: CallId, c: Call, outcome: Outcome, now: Millis) {
        self.finish_with(id, c, outcome, Vec::new(), None, now)
            .await
    }

    /// [`Self::finish`] with the commands of the call's disposition, written with the outcome;
    /// `saved_to` hears [`AgentEvent::DispositionSaved`] once they are durable.
    pub(super) async fn finish_with(
        &mut self,
        id: CallId,
        mut c: Call,
        outcome: Outcome,
        commands: Vec<LedgerCommand>,
        saved_to: Option<String>,
        now: Millis,
    ) {
        self.busy_accounts.remove(&c.account);
        c.record.outcome = outcome;
        c.record.party = party_reached(outcome, c.disposition.as_ref().map(|d| d.code));
        if c.record.disposition == "DIALER_LOST" {
            c.record.disposition.clear();
        }
        if c.record.talk_ms == 0 && c.talk_from.is_some() {
            c.record.talk_ms = now - c.talk_from.unwrap_or(now);
        }
        self.counters.outcome(outcome_name(outcome));
        debug!(
            call_id = id,
            outcome = outcome_name(outcome),
            "call finished"
        );
        let backend = self.backend.clone();
        let record = c.record.clone();
        let tx = self.tx.clone();
        self.writes.spawn(async move {
            retry("record outcome", || {
                backend.outbox().finish(&record, &commands)
            })
            .await;
            if let Some(agent) = saved_to {
                let _ = tx.send(Command::Saved { agent, call: id });
            }
        });
        if let Some(r) = &c.reservation {
            // The attempt now counts only where the final outcome is attributed (a no-answer
            // against its first debt, a conversation against the debts discussed), or not
            // at all: what a rebuild from the recorded outcome would give.
            let book = self.backend.book();
            let done = match self
                .accounts
                .get(&c.account)
                .map(|v| attributed(v, &c.record))
            {
                Some(Some(keys)) => book.settle(r, &keys).await,
                Some(None) => book.release(r).await,
                // No copy of the account (not expected while its call runs): as reserved.
                None if !outcome.counts_for_regf() => book.release(r).await,
                None => Ok(()),
            };
            if let Err(e) = done {
                // Keeping it counted under every debt of the call is the safe side; the next
                // rebuild makes it exact.
                warn!(error = %e, "reservation settle failed");
            }
        }
        if let Some(v) = self.accounts.get_mut(&c.account) {
            v.contacts.push(c.record.clone());
        }
        if let Some(lease) = c.lease.take() {
            let next = self.next_after(&c, outcome, now);
            self.complete(&lease, next).await;
        }
    }

    /// When the account comes back (recycling per outcome, or per disposition).
    pub(super) fn next_after(&mut self, c: &Call, outcome: Outcome, now: Millis) -> Next {
        let Some(v) = self.accounts.get(&c.account) else {
            return Next::Retire;
        };
        let rank = self.rank(v, now);
        if open_debts(v, now).is_empty() {
            return Next::Retire;
        }
        let phones = v.phones_in_order(&self.spec.recycling.phone_order).len();
        match self.spec.recycling.after(outcome) {
            Recycle::RetryIn(d) => Next::Sleep { at: now + d, rank },
            Recycle::NextPhone => {
                let next = c.phone_index + 1;
                if next >= phones {
                    Next::Retire
                } else {
                    self.cursor.insert(c.account.clone(), next);
                    Next::Ready { rank }
                }
            }
            Recycle::Disposition => match c.disposition.as_ref().map(|d| d.code) {
                Some(DispositionCode::Callback) => Next::Sleep {
                    at: c
                        .disposition
                        .as_ref()
                        .and_then(|d| d.callback_at_ms)
                        .unwrap_or(now + DAY),
                    rank: rank - 100.0,
                },
                // Worked (promise) or held (cease, attorney, dispute): out of this campaign.
                Some(
                    DispositionCode::PromiseToPay
                    | DispositionCode::CeaseRequest
                    | DispositionCode::Attorney
                    | DispositionCode::Dispute,
                ) => Next::Retire,
                // After a conversation Reg F allows no call for 7 days (US-REGF-09); the
                // rules decide the exact instant when it wakes.
                Some(DispositionCode::RightPartyContact | DispositionCode::Refused) => {
                    Next::Sleep {
                        at: now + 7 * DAY,
                        rank,
                    }
                }
                _ => Next::Sleep {
                    at: now + Millis::from(self.spec.recycling.no_answer_minutes) * MINUTE,
                    rank,
                },
            },
        }
    }
}

/// Who a finished call reached, from its outcome and the agent's disposition (the ledger's
/// right-party figures are computed from it).
fn party_reached(outcome: Outcome, code: Option<DispositionCode>) -> Party {
    match outcome {
        Outcome::Busy | Outcome::Sit | Outcome::Failed | Outcome::NoAnswer => Party::Nobody,
        Outcome::Voicemail | Outcome::Lcm | Outcome::Machine => Party::Machine,
        Outcome::Conversation => Party::Consumer,
        Outcome::WrongParty => Party::ThirdParty,
        Outcome::Answered if code == Some(DispositionCode::ThirdParty) => Party::ThirdParty,
        Outcome::Answered | Outcome::Abandoned => Party::Unidentified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_party_is_who_the_call_reached() {
        let d = Some;
        assert_eq!(party_reached(Outcome::Busy, None), Party::Nobody);
        assert_eq!(party_reached(Outcome::NoAnswer, None), Party::Nobody);
        assert_eq!(party_reached(Outcome::Failed, None), Party::Nobody);
        assert_eq!(party_reached(Outcome::Machine, None), Party::Machine);
        assert_eq!(party_reached(Outcome::Abandoned, None), Party::Unidentified);
        assert_eq!(
            party_reached(Outcome::Conversation, d(DispositionCode::PromiseToPay)),
            Party::Consumer
        );
        assert_eq!(
            party_reached(Outcome::WrongParty, d(DispositionCode::WrongNumber)),
            Party::ThirdParty
        );
        assert_eq!(
            party_reached(Outcome::Answered, d(DispositionCode::ThirdParty)),
            Party::ThirdParty
        );
        assert_eq!(
            party_reached(Outcome::Answered, d(DispositionCode::NoContact)),
            Party::Unidentified
        );
        // Whoever answered, the call was for the consumer: it counts (US-REGF-10).
        for p in [
            Party::Nobody,
            Party::Machine,
            Party::Unidentified,
            Party::ThirdParty,
        ] {
            assert_eq!(p.target(""), compliance::model::Party::Consumer);
        }
    }
}
