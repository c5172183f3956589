//! What happens to calls once dialed: carrier events, routing to agents, the 2-second
//! deadline and the safe-harbor message, wrap-up, dispositions and the final outcome.

use carrier::{CallEnd, CallId, CarrierError, CarrierEvent, EndCause, Prompt, Verdict};
use compliance::model::{HoldKind, Outcome};
use ledger_api::domain::{ConsentUpdate, Hold, Party, Promise, PromiseStatus};
use pacing::{Completed, Outcome as PaceOutcome};
use queue::recycle::Recycle;
use queue::{AttemptBook, CampaignQueue, Millis, Next};
use tracing::{debug, info, warn};

use super::call::{Answer, Attempt, Ended, Input, Phase, Recorded, Step};
use super::{DAY, MINUTE, Runtime, attributed, code_tag, open_debts, retry, ts};
use crate::engine::{Backend, Command, outcome_name};
use crate::outcomes::{LedgerCommand, OutcomeSink, PaymentPlan};
use crate::session::{AgentEvent, Disposition, DispositionCode, SeatState};

impl<B: Backend> Runtime<B> {
    // ------------------------------------------------------------------ carrier events

    pub(super) async fn on_carrier(&mut self, ev: CarrierEvent) {
        let now = self.clock.now_ms();
        match ev {
            CarrierEvent::Progress { call, .. } => {
                self.feed(call, Input::Progress, now);
            }
            CarrierEvent::PickedUp { call } => {
                self.feed(call, Input::PickedUp, now);
            }
            CarrierEvent::Answered { call, amd } => self.answered(call, amd.verdict, now),
            CarrierEvent::Bridged { call, .. } => {
                if let Some(Step::Moved(())) = self.feed(call, Input::Connected, now)
                    && let Some(seat) = self.calls[&call].seat()
                {
                    self.seats.set(seat, SeatState::OnCall, now);
                    self.seats.get_mut(seat).call = Some(call);
                    self.seats.send(seat, AgentEvent::Connected { call });
                }
            }
            CarrierEvent::Recorded { call, reference } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.attempt_mut().record.recording_ref = reference;
                }
            }
            CarrierEvent::Ended { call, end } => self.ended(call, end, now).await,
        }
    }

    pub(super) fn answered(&mut self, id: CallId, verdict: Verdict, now: Millis) {
        let voicemail = self.spec.voicemail_template.clone();
        let input = Input::Verdict {
            verdict,
            voicemail: voicemail.is_some(),
        };
        if !matches!(self.feed(id, input, now), Some(Step::Moved(()))) {
            return;
        }
        let c = &self.calls[&id];
        let ring_s = c.ring_s(now);
        match verdict {
            Verdict::Machine => {
                let prompt = voicemail.map(|template| Prompt::Voicemail { template });
                self.completed.push(Completed {
                    outcome: PaceOutcome::Machine,
                    ring_s,
                });
                self.counters.machines += 1;
                let _ = self.carrier.hangup(id, prompt);
            }
            Verdict::Human | Verdict::NotSure => {
                if let Some(seat) = c.attempt().reserved {
                    // Preview and manual calls have their agent waiting.
                    self.bridge(id, seat, now);
                    // A phone that could not take it left the call waiting for another agent.
                    self.serve_waiting(now);
                } else if let Some(seat) = self.seats.longest_idle_ready() {
                    self.bridge(id, seat, now);
                    self.serve_waiting(now);
                } else {
                    let deadline = now + (self.spec.connect_deadline_s * 1000.0) as Millis;
                    self.waiting.push(deadline, id);
                }
            }
        }
    }

    /// Connects a waiting live answer to `seat` and shows the agent the screen pop.
    pub(super) fn bridge(&mut self, id: CallId, seat: usize, now: Millis) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        if !matches!(c.phase(), Phase::Answered(_, Answer::Waiting { .. })) {
            return;
        }
        let a = c.attempt();
        let (account, number, debts) = (
            a.account.clone(),
            a.record.number.clone(),
            a.record.debt_ids.clone(),
        );
        let reserved = a.reserved.is_some();
        let ring_s = c.ring_s(now);
        let endpoint = self.seats.get(seat).endpoint.clone();
        match self.carrier.bridge(id, &endpoint) {
            Ok(()) => {}
            Err(CarrierError::Unavailable(why)) => {
                // The agent's phone cannot take calls (a SIP softphone's leg is down): the seat
                // stops taking calls until the agent is ready again, and the person waits for
                // another agent within the connect deadline, as if none had been free.
                warn!(call_id = id, agent_id = %self.seats.get(seat).agent, %why, "agent's phone unavailable");
                self.seats.set(
                    seat,
                    SeatState::NotReady {
                        code: "phone_unavailable".into(),
                    },
                    now,
                );
                if !self.waiting.queue.iter().any(|(_, x)| *x == id) {
                    let at = self.calls[&id].answered_at().unwrap_or(now);
                    let deadline = at + (self.spec.connect_deadline_s * 1000.0) as Millis;
                    self.waiting.push(deadline, id);
                }
                return;
            }
            Err(e) => {
                // The person hung up in between: the end event follows.
                debug!(call_id = id, error = %e, "bridge failed");
                return;
            }
        }
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
        self.feed(id, Input::Bridge { seat, agent }, now);
        if let Some(pop) = pop {
            self.seats.offer(seat, id, pop, false, now);
        }
    }

    /// An agent became ready: give it the live answer waiting longest.
    pub(super) fn serve_waiting(&mut self, now: Millis) {
        while let Some(seat) = self.seats.longest_idle_ready() {
            let Some(id) = self.waiting.queue.iter().map(|(_, id)| *id).find(|id| {
                self.calls.get(id).is_some_and(|c| {
                    matches!(c.phase(), Phase::Answered(_, Answer::Waiting { .. }))
                })
            }) else {
                return;
            };
            self.waiting.queue.retain(|(_, x)| *x != id);
            self.bridge(id, seat, now);
        }
    }

    pub(super) async fn on_timers(&mut self, now: Millis) {
        for id in self.waiting.pop_due(now) {
            // Nobody to take the call within the deadline: the safe-harbor message, then
            // hang up (US-TCPA-01, UK-OFCOM-01).
            let Some(Step::Moved(())) = self.feed(id, Input::Abandon, now) else {
                continue;
            };
            let ring_s = self.calls[&id].ring_s(now);
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
            if let Some(Step::Ended(e)) = self.feed(id, Input::WrapTimeout, now) {
                let seat = e.seat();
                self.finish(id, *e, now).await;
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

    pub(super) async fn ended(&mut self, id: CallId, end: CallEnd, now: Millis) {
        let Some(c) = self.calls.get(&id) else {
            return;
        };
        let cause = end.cause;
        debug!(
            call_id = id,
            sip_status = end.status.0,
            q850 = ?end.q850.map(|q| q.0),
            early_media = ?end.early_media,
            "carrier: call ended"
        );
        // What the pacer learns from this end, by the phase the call ends in.
        let learned = match c.phase() {
            Phase::Dialing(_) | Phase::Ringing(_) => Some(match cause {
                EndCause::Busy | EndCause::Sit | EndCause::Failed => PaceOutcome::Fail,
                _ => PaceOutcome::NoAnswer,
            }),
            // Hung up during answering-machine detection: answered, nobody spoken to.
            Phase::Answered(_, Answer::Detecting) => Some(PaceOutcome::Machine),
            // The person hung up before an agent was free: a drop all the same.
            Phase::Answered(_, Answer::Waiting { .. }) => Some(PaceOutcome::HumanDropped),
            _ => None,
        };
        let ring_s = c.ring_s(now);
        // A preview or manual call that never reached its agent frees the agent.
        let talking = matches!(
            c.phase(),
            Phase::Bridged(..) | Phase::Offered | Phase::WrapUp(..)
        );
        let reserved_seat = c
            .attempt()
            .reserved
            .filter(|&s| !talking && self.seats.get(s).state == SeatState::Reserved);
        let bridged_seat = match c.phase() {
            Phase::Bridged(_, b) => Some(b.seat),
            _ => None,
        };
        let Some(step) = self.calls.remove(&id).map(|c| c.on(Input::End(cause), now)) else {
            return;
        };
        if let Some(seat) = reserved_seat {
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
        match step {
            Step::Ended(e) => {
                if let Some(outcome) = learned {
                    self.completed.push(Completed { outcome, ring_s });
                    if outcome == PaceOutcome::HumanDropped {
                        self.counters.live(now, true);
                    }
                }
                self.finish(id, *e, now).await;
                if let Some(seat) = bridged_seat {
                    self.release_seat(seat, now);
                }
            }
            // A conversation is over: the agent wraps up.
            Step::Moved(c) => {
                let seat = c.seat().expect("a conversation has its agent");
                let deadline = now + Millis::from(self.spec.wrap_up_s) * 1000;
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
            Step::Refused(c) => {
                self.calls.insert(id, c);
            }
            Step::Withdrawn(_) => unreachable!("only a preview is withdrawn"),
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

    /// Records an ended call: as its outcome, or from its agent's disposition.
    pub(super) async fn finish(&mut self, id: CallId, e: Ended, now: Millis) {
        match e.recorded {
            Recorded::As(outcome) => {
                self.finish_with(id, e, outcome, Vec::new(), None, now)
                    .await
            }
            Recorded::Conversation { seat } => self.finish_connected(id, e, seat, now).await,
        }
    }

    /// Records a connected call with its disposition (or none, after the wrap timeout) and
    /// applies what the disposition means.
    async fn finish_connected(&mut self, id: CallId, mut e: Ended, seat: usize, now: Millis) {
        let d = e.disposition.take();
        let (outcome, code) = match &d {
            Some(d) => (d.code.outcome(), d.code.as_str()),
            None => (Outcome::Answered, "NO_DISPOSITION"),
        };
        e.attempt.record.disposition = code.to_string();
        let mut commands = Vec::new();
        if let Some(d) = &d {
            if !d.debts_discussed.is_empty() {
                e.attempt.record.debt_ids = d.debts_discussed.clone();
            }
            if d.code.is_rpc() {
                self.counters.contact(now);
            }
            commands = self.apply_disposition(&e.attempt, d, now).await;
        }
        let saved_to = d.as_ref().map(|_| self.seats.get(seat).agent.clone());
        e.disposition = d;
        self.finish_with(id, e, outcome, commands, saved_to, now)
            .await;
        if self.seats.get(seat).state == SeatState::WrapUp {
            self.release_seat(seat, now);
        }
    }

    /// What a disposition asks of the ledger (holds, a promise, a consent revocation): applied
    /// to our copy at once, so no further call starts this second, and returned to be written
    /// with the call's outcome in one durable step.
    pub(super) async fn apply_disposition(
        &mut self,
        c: &Attempt,
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
            self.counters.promise(now);
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
        if let (DispositionCode::PaymentPlan, Some(p)) = (d.code, &d.plan) {
            commands.push(LedgerCommand::Plan(PaymentPlan {
                key: format!("{}-plan", c.record.idempotency_key),
                account_id: c.account.clone(),
                debt_id: p.debt_id.clone(),
                outcome_key: c.record.idempotency_key.clone(),
                made_on: ts(now).to_zoned(jiff::tz::TimeZone::UTC).date().to_string(),
                installments: p
                    .installments
                    .iter()
                    .map(|i| (i.due.clone(), i.amount_minor))
                    .collect(),
                grace_days: p.grace_days,
            }));
        }
        commands
    }

    /// Records the final outcome with the commands of the call's disposition (written with
    /// it; `saved_to` hears [`AgentEvent::DispositionSaved`] once they are durable), settles
    /// or releases the attempt's reservation, and releases the lease with what comes next for
    /// the account.
    async fn finish_with(
        &mut self,
        id: CallId,
        mut e: Ended,
        outcome: Outcome,
        commands: Vec<LedgerCommand>,
        saved_to: Option<String>,
        now: Millis,
    ) {
        self.busy_accounts.remove(&e.attempt.account);
        let c = &mut e.attempt;
        c.record.outcome = outcome;
        c.record.party = party_reached(outcome, e.disposition.as_ref().map(|d| d.code));
        if c.record.disposition == "DIALER_LOST" {
            c.record.disposition.clear();
        }
        if c.record.talk_ms == 0
            && let Some(t) = e.talk_from
        {
            c.record.talk_ms = now - t;
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
            let written = retry("record outcome", || {
                backend.outbox().finish(&record, &commands)
            })
            .await;
            // A refused write is not confirmed to the agent: it was not saved here.
            if let Some(agent) = saved_to.filter(|_| written) {
                let _ = tx.send(Command::Saved { agent, call: id });
            }
        });
        if let Some(r) = &e.reservation {
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
        if let Some(lease) = e.attempt.lease.take() {
            let next = self.next_after(&e, outcome, now);
            self.release(lease.settle(next)).await;
        }
    }

    /// When the account comes back (recycling per outcome, or per disposition).
    fn next_after(&mut self, e: &Ended, outcome: Outcome, now: Millis) -> Next {
        let c = &e.attempt;
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
            Recycle::Disposition => match e.disposition.as_ref().map(|d| d.code) {
                Some(DispositionCode::Callback) => Next::Sleep {
                    at: e
                        .disposition
                        .as_ref()
                        .and_then(|d| d.callback_at_ms)
                        .unwrap_or(now + DAY),
                    rank: rank - 100.0,
                },
                // Worked (promise) or held (cease, attorney, dispute): out of this campaign.
                Some(
                    DispositionCode::PromiseToPay
                    | DispositionCode::PaymentPlan
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
