//! One call's life as a state machine: typed phases, and transitions that are the only way
//! to change a call.
//!
//! ```text
//!  Offered ──withdraw──► gone (skipped, taken back at the stop, or accepted: dialed anew)
//!
//!  Dialing ──18x──► Ringing ──200──► Answered::Detecting
//!     │                │                     │
//!     └──────────── verdict ─────────────────┤
//!                                            ├─ person ──► Answered::Waiting ──bridge──► Bridged
//!                                            │                    │ abandon              │ end
//!                                            └─ machine ─► Answered::HangingUp ◄──┘      ▼
//!                                                                                      WrapUp
//!                                                                disposition, timeout  │
//!  Dialing, Ringing, Answered, Bridged ──end──► Ended ◄─────────────────────────────────┘
//! ```
//!
//! A disposition given while `Bridged` stays with the call (the engine hangs up) and the end
//! records it without a wrap-up.
//!
//! Data that exists only in some phases lives in them: the attempt reservation from the dial
//! on ([`Placed`]), the verdict's instant once there is one, the agent's seat from the
//! bridge on, a disposition given while still talking. Each transition consumes the phase it
//! leaves and builds the next; an input that does not apply to the phase is refused and the
//! call comes back unchanged. [`Call::on`] is the whole transition table. Nothing here does
//! I/O: the engine turns each step into carrier commands, seat changes, pacing figures and
//! records.

use compliance::model::{DialMode, Direction, Outcome};
use ledger_api::domain::{AmdVerdict, Channel, ContactOutcome, Party};
use queue::{Millis, Reservation};

use super::lease::Held;
use super::{Target, ts};
use crate::session::Disposition;
use carrier::{EndCause, Verdict};

/// What every phase of a call knows.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub account: String,
    /// The outcome being built (what the ledger gets).
    pub record: ContactOutcome,
    /// Index of the number called among the account's phones in campaign order.
    pub phone_index: usize,
    /// When the attempt started: the dial, or the preview offer.
    pub started_at: Millis,
    /// The account's queue lease (none for a manual dial).
    pub lease: Option<Held>,
    /// The seat waiting for this call (preview, manual dial). A predictive call gets its seat
    /// when it is bridged.
    pub reserved: Option<usize>,
}

/// The outcome an attempt starts from: a placed call nothing more is known of, which is what
/// the ledger gets if the dialer dies mid-call (a counted no-answer).
pub(crate) fn provisional(
    key: String,
    campaign: &str,
    person_id: String,
    target: Target,
    mode: DialMode,
    agent: String,
    at: Millis,
) -> ContactOutcome {
    ContactOutcome {
        idempotency_key: key,
        account_id: target.account,
        person_id,
        debt_ids: target.debts,
        number: target.number,
        direction: Direction::Outbound,
        channel: Channel::Call,
        dial_mode: Some(mode),
        outcome: Outcome::NoAnswer,
        party: Party::Nobody,
        third_party_id: String::new(),
        campaign_id: campaign.to_string(),
        agent_id: agent,
        started_at: ts(at),
        ring_ms: 0,
        talk_ms: 0,
        amd: AmdVerdict::NotRun,
        recording_ref: String::new(),
        disposition: "DIALER_LOST".into(),
        counts_for_regf: false,
        event_id: 0,
        recorded_at: None,
        checked_seq: 0,
    }
}

/// What a placed call holds until it is recorded.
#[derive(Debug)]
pub(crate) struct Placed {
    /// The attempt reserved in the counters (none when it does not count).
    pub reservation: Option<Reservation>,
}

/// A picked-up call before anyone talks on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Answering-machine detection is listening.
    Detecting,
    /// A person (or a call AMD is not sure of) waits for an agent since the verdict `at`.
    Waiting { at: Millis },
    /// Hung up on after the verdict `at` (a machine, or nobody free in time); the end records
    /// it as `outcome`.
    HangingUp { at: Millis, outcome: Outcome },
}

/// A call bridged to an agent, or being bridged.
#[derive(Debug)]
pub(crate) struct Bridged {
    pub seat: usize,
    /// The verdict's instant.
    pub answered_at: Millis,
    /// When the network confirmed the bridge; `None` until it does.
    pub talk_from: Option<Millis>,
    /// Given before the end: the call is being hung up and is recorded with it.
    pub disposition: Option<Disposition>,
}

/// A conversation that ended; the agent is wrapping up.
#[derive(Debug)]
pub(crate) struct WrapUp {
    pub seat: usize,
    pub talk_from: Millis,
}

/// Where a call is in its life.
#[derive(Debug)]
pub(crate) enum Phase {
    /// A preview offered to its seat, not dialed.
    Offered,
    /// Dialed; nothing heard yet.
    Dialing(Placed),
    /// The far end is alerted (an 18x).
    Ringing(Placed),
    Answered(Placed, Answer),
    Bridged(Placed, Bridged),
    WrapUp(Placed, WrapUp),
}

/// What can happen to a call.
#[derive(Debug)]
pub(crate) enum Input {
    /// The network's 18x.
    Progress,
    /// The network's 200 OK: AMD listens.
    PickedUp,
    /// AMD's verdict; `voicemail`: the campaign leaves a message on machines.
    Verdict { verdict: Verdict, voicemail: bool },
    /// A waiting person is bridged to `seat` (the carrier took the command).
    Bridge { seat: usize, agent: String },
    /// The network confirms the bridge.
    Connected,
    /// Nobody took the waiting person in time.
    Abandon,
    /// The agent's disposition.
    Disposition(Disposition),
    /// The wrap-up time ran out without a disposition.
    WrapTimeout,
    /// The call is over on the network (or the carrier refused to place it).
    End(EndCause),
    /// A preview offer taken back: skipped, accepted (then dialed as a new call), or the
    /// campaign stops.
    Withdraw,
}

/// How an ended call is recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Recorded {
    /// As this outcome.
    As(Outcome),
    /// From the disposition of the agent at `seat` (none: the wrap-up timed out).
    Conversation { seat: usize },
}

/// A call that is over, to be recorded: the terminal phase.
#[derive(Debug)]
pub(crate) struct Ended {
    pub attempt: Attempt,
    pub reservation: Option<Reservation>,
    pub recorded: Recorded,
    /// When the conversation began, if it did.
    pub talk_from: Option<Millis>,
    pub disposition: Option<Disposition>,
}

impl Ended {
    /// The seat of the call: its agent's after a conversation, else the one reserved for it.
    pub(crate) fn seat(&self) -> Option<usize> {
        match self.recorded {
            Recorded::Conversation { seat } => Some(seat),
            Recorded::As(_) => self.attempt.reserved,
        }
    }
}

/// What an input did to a call. `C` is the call that moved on or refused (`()` once the
/// engine has put it back in its map).
#[derive(Debug)]
pub(crate) enum Step<C = Call> {
    /// To its next phase.
    Moved(C),
    /// Not an input for its phase: the call as it was.
    Refused(C),
    /// Over: record it.
    Ended(Box<Ended>),
    /// A preview offer taken back, with its attempt (lease, seat).
    Withdrawn(Box<Attempt>),
}

/// A call of the campaign.
#[derive(Debug)]
pub(crate) struct Call {
    attempt: Attempt,
    phase: Phase,
}

impl Call {
    /// A preview offered to its seat.
    pub(crate) fn offered(attempt: Attempt) -> Call {
        Call {
            attempt,
            phase: Phase::Offered,
        }
    }

    /// A call being dialed.
    pub(crate) fn dialing(attempt: Attempt, reservation: Option<Reservation>) -> Call {
        Call {
            attempt,
            phase: Phase::Dialing(Placed { reservation }),
        }
    }

    pub(crate) fn attempt(&self) -> &Attempt {
        &self.attempt
    }

    pub(crate) fn attempt_mut(&mut self) -> &mut Attempt {
        &mut self.attempt
    }

    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The seat the call is for: its agent once bridged, else the one reserved for it.
    pub(crate) fn seat(&self) -> Option<usize> {
        match &self.phase {
            Phase::Bridged(_, b) => Some(b.seat),
            Phase::WrapUp(_, w) => Some(w.seat),
            _ => self.attempt.reserved,
        }
    }

    /// Whether it uses a line: dialed and not over.
    pub(crate) fn on_line(&self) -> bool {
        !matches!(self.phase, Phase::Offered | Phase::WrapUp(..))
    }

    /// The verdict's instant, once there is one.
    pub(crate) fn answered_at(&self) -> Option<Millis> {
        match &self.phase {
            Phase::Answered(_, Answer::Waiting { at } | Answer::HangingUp { at, .. }) => Some(*at),
            Phase::Bridged(_, b) => Some(b.answered_at),
            _ => None,
        }
    }

    /// Seconds from the dial to the verdict (to `now` before there is one): the ring time
    /// the pacer learns.
    pub(crate) fn ring_s(&self, now: Millis) -> f64 {
        (self.answered_at().unwrap_or(now) - self.attempt.started_at) as f64 / 1000.0
    }

    /// The transition table: `input` applied to the call at `now`.
    pub(crate) fn on(self, input: Input, now: Millis) -> Step {
        let Call { mut attempt, phase } = self;
        let moved = |attempt, phase| Step::Moved(Call { attempt, phase });
        match (phase, input) {
            (Phase::Offered, Input::Withdraw) => Step::Withdrawn(Box::new(attempt)),
            (Phase::Dialing(p), Input::Progress) => moved(attempt, Phase::Ringing(p)),
            (Phase::Dialing(p) | Phase::Ringing(p), Input::PickedUp) => {
                moved(attempt, Phase::Answered(p, Answer::Detecting))
            }
            (
                Phase::Dialing(p) | Phase::Ringing(p) | Phase::Answered(p, Answer::Detecting),
                Input::Verdict { verdict, voicemail },
            ) => {
                let answer = match verdict {
                    Verdict::Machine => {
                        attempt.record.amd = AmdVerdict::Machine;
                        let outcome = if voicemail {
                            Outcome::Lcm
                        } else {
                            Outcome::Machine
                        };
                        Answer::HangingUp { at: now, outcome }
                    }
                    Verdict::Human => {
                        attempt.record.amd = AmdVerdict::Human;
                        Answer::Waiting { at: now }
                    }
                    // A person until heard otherwise: hanging up on one abandons the call.
                    Verdict::NotSure => {
                        attempt.record.amd = AmdVerdict::NotSure;
                        Answer::Waiting { at: now }
                    }
                };
                moved(attempt, Phase::Answered(p, answer))
            }
            (Phase::Answered(p, Answer::Waiting { at }), Input::Bridge { seat, agent }) => {
                attempt.record.agent_id = agent;
                let bridged = Bridged {
                    seat,
                    answered_at: at,
                    talk_from: None,
                    disposition: None,
                };
                moved(attempt, Phase::Bridged(p, bridged))
            }
            (Phase::Answered(p, Answer::Waiting { at }), Input::Abandon) => {
                let outcome = Outcome::Abandoned;
                moved(
                    attempt,
                    Phase::Answered(p, Answer::HangingUp { at, outcome }),
                )
            }
            (Phase::Bridged(p, mut b), Input::Connected) if b.talk_from.is_none() => {
                b.talk_from = Some(now);
                moved(attempt, Phase::Bridged(p, b))
            }
            // Given while talking: the engine hangs up, the end records it.
            (Phase::Bridged(p, mut b), Input::Disposition(d)) => {
                b.disposition = Some(d);
                moved(attempt, Phase::Bridged(p, b))
            }
            (Phase::WrapUp(p, w), Input::Disposition(d)) => {
                conversation(attempt, p, w.seat, Some(w.talk_from), Some(d))
            }
            (Phase::WrapUp(p, w), Input::WrapTimeout) => {
                conversation(attempt, p, w.seat, Some(w.talk_from), None)
            }
            (phase, Input::End(cause)) => end(attempt, phase, cause, now),
            (phase, _) => Step::Refused(Call { attempt, phase }),
        }
    }
}

fn ended(
    attempt: Attempt,
    p: Placed,
    recorded: Recorded,
    talk_from: Option<Millis>,
    disposition: Option<Disposition>,
) -> Step {
    Step::Ended(Box::new(Ended {
        attempt,
        reservation: p.reservation,
        recorded,
        talk_from,
        disposition,
    }))
}

fn conversation(
    attempt: Attempt,
    p: Placed,
    seat: usize,
    talk_from: Option<Millis>,
    disposition: Option<Disposition>,
) -> Step {
    ended(
        attempt,
        p,
        Recorded::Conversation { seat },
        talk_from,
        disposition,
    )
}

/// The network ended a placed call: recorded now, or wrapped up first after a conversation.
/// A preview was never placed, and a call in wrap-up has ended already: refused.
fn end(mut attempt: Attempt, phase: Phase, cause: EndCause, now: Millis) -> Step {
    let dialed = attempt.started_at;
    let record = &mut attempt.record;
    let outcome = |o| Recorded::As(o);
    match phase {
        Phase::Dialing(p) | Phase::Ringing(p) => {
            record.ring_ms = now - dialed;
            let o = match cause {
                EndCause::Busy => Outcome::Busy,
                EndCause::Sit => Outcome::Sit,
                EndCause::Failed => Outcome::Failed,
                _ => Outcome::NoAnswer,
            };
            ended(attempt, p, outcome(o), None, None)
        }
        // Hung up during answering-machine detection: answered, nobody spoken to.
        Phase::Answered(p, Answer::Detecting) => {
            record.ring_ms = now - dialed;
            ended(attempt, p, outcome(Outcome::Answered), None, None)
        }
        // The person hung up before an agent was free: a drop all the same.
        Phase::Answered(p, Answer::Waiting { at }) => {
            record.ring_ms = at - dialed;
            ended(attempt, p, outcome(Outcome::Abandoned), None, None)
        }
        Phase::Answered(p, Answer::HangingUp { at, outcome: o }) => {
            record.ring_ms = at - dialed;
            ended(attempt, p, outcome(o), None, None)
        }
        Phase::Bridged(p, b) => {
            record.ring_ms = b.answered_at - dialed;
            record.talk_ms = b.talk_from.map_or(0, |t| now - t);
            match (b.talk_from, b.disposition) {
                // Ended before the bridge completed.
                (None, d) => ended(attempt, p, outcome(Outcome::Abandoned), None, d),
                (Some(t), Some(d)) => conversation(attempt, p, b.seat, Some(t), Some(d)),
                (Some(talk_from), None) => {
                    let wrap = WrapUp {
                        seat: b.seat,
                        talk_from,
                    };
                    Step::Moved(Call {
                        attempt,
                        phase: Phase::WrapUp(p, wrap),
                    })
                }
            }
        }
        phase @ (Phase::Offered | Phase::WrapUp(..)) => Step::Refused(Call { attempt, phase }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::DispositionCode;
    use queue::{Lease, Next};

    const T0: Millis = 1_800_000_000_000;

    fn attempt(reserved: Option<usize>) -> Attempt {
        let target = Target {
            account: "a1".into(),
            number: "+14045550134".into(),
            phone_index: 0,
            debts: vec!["d1".into()],
        };
        Attempt {
            account: "a1".into(),
            record: provisional(
                "k1".into(),
                "c",
                "p1".into(),
                target,
                DialMode::Predictive,
                String::new(),
                T0,
            ),
            phone_index: 0,
            started_at: T0,
            lease: None,
            reserved,
        }
    }

    fn dialing() -> Call {
        Call::dialing(attempt(None), None)
    }

    fn disposition(code: DispositionCode) -> Disposition {
        Disposition {
            code,
            debts_discussed: Vec::new(),
            promise: None,
            plan: None,
            callback_at_ms: None,
            notes: String::new(),
        }
    }

    fn human() -> Input {
        Input::Verdict {
            verdict: Verdict::Human,
            voicemail: false,
        }
    }

    /// Feeds inputs one a second from `from` that must each move the call on.
    fn drive(mut call: Call, from: Millis, inputs: impl IntoIterator<Item = Input>) -> Call {
        for (i, input) in inputs.into_iter().enumerate() {
            let what = format!("{input:?} in {:?}", call.phase);
            call = match call.on(input, from + 1000 * (i as Millis + 1)) {
                Step::Moved(c) => c,
                other => panic!("{what}: {other:?}"),
            };
        }
        call
    }

    fn waiting() -> Call {
        drive(dialing(), T0, [Input::Progress, Input::PickedUp, human()])
    }

    fn talking() -> Call {
        let bridge = Input::Bridge {
            seat: 3,
            agent: "alice".into(),
        };
        drive(waiting(), T0 + 3000, [bridge, Input::Connected])
    }

    fn ended(step: Step) -> Ended {
        match step {
            Step::Ended(e) => *e,
            other => panic!("not ended: {other:?}"),
        }
    }

    /// What a phase is, for comparing a call before and after a refused input.
    fn shape(c: &Call) -> String {
        let s = format!("{:?}", c.phase);
        s.split(['(', ' ']).next().unwrap_or_default().to_string()
    }

    #[test]
    fn a_predictive_call_lives_through_its_phases() {
        let call = waiting();
        assert!(matches!(
            call.phase(),
            Phase::Answered(_, Answer::Waiting { at }) if *at == T0 + 3000
        ));
        assert_eq!(call.attempt().record.amd, AmdVerdict::Human);
        assert_eq!(
            call.seat(),
            None,
            "a predictive call has no seat before the bridge"
        );
        assert_eq!(call.ring_s(T0 + 9000), 3.0, "rang until the verdict");
        let call = talking();
        assert_eq!(call.seat(), Some(3));
        assert_eq!(call.attempt().record.agent_id, "alice");
        assert!(matches!(
            call.phase(),
            Phase::Bridged(_, Bridged { talk_from: Some(t), .. }) if *t == T0 + 5000
        ));
        // The far end hangs up after 60 s of talk: the agent wraps up.
        let Step::Moved(call) = call.on(Input::End(EndCause::RemoteHangup), T0 + 65_000) else {
            panic!("wraps up");
        };
        assert!(matches!(
            call.phase(),
            Phase::WrapUp(_, WrapUp { seat: 3, .. })
        ));
        assert!(!call.on_line());
        let e = ended(call.on(
            Input::Disposition(disposition(DispositionCode::RightPartyContact)),
            T0 + 80_000,
        ));
        assert_eq!(e.recorded, Recorded::Conversation { seat: 3 });
        assert_eq!(e.seat(), Some(3));
        assert_eq!(e.talk_from, Some(T0 + 5000));
        assert_eq!(
            (e.attempt.record.ring_ms, e.attempt.record.talk_ms),
            (3000, 60_000)
        );
        assert!(e.disposition.is_some());
    }

    #[test]
    fn each_end_records_what_the_call_reached() {
        let end = |c: Call, cause| ended(c.on(Input::End(cause), T0 + 30_000));
        let e = end(dialing(), EndCause::Busy);
        assert_eq!(e.recorded, Recorded::As(Outcome::Busy));
        assert_eq!(e.attempt.record.ring_ms, 30_000);
        let ringing = drive(dialing(), T0, [Input::Progress]);
        assert_eq!(
            end(ringing, EndCause::Cancelled).recorded,
            Recorded::As(Outcome::NoAnswer)
        );
        let detecting = drive(dialing(), T0, [Input::PickedUp]);
        assert_eq!(
            end(detecting, EndCause::RemoteHangup).recorded,
            Recorded::As(Outcome::Answered)
        );
        let e = end(waiting(), EndCause::RemoteHangup);
        assert_eq!(e.recorded, Recorded::As(Outcome::Abandoned));
        assert_eq!(e.attempt.record.ring_ms, 3000);
        let abandoned = drive(waiting(), T0 + 3000, [Input::Abandon]);
        assert_eq!(
            end(abandoned, EndCause::LocalHangup).recorded,
            Recorded::As(Outcome::Abandoned)
        );
        for (voicemail, outcome) in [(false, Outcome::Machine), (true, Outcome::Lcm)] {
            let machine = Input::Verdict {
                verdict: Verdict::Machine,
                voicemail,
            };
            // A verdict without a 200 before it (some networks) is a pick-up all the same.
            let c = drive(dialing(), T0, [machine]);
            assert_eq!(c.attempt().record.amd, AmdVerdict::Machine);
            assert_eq!(
                end(c, EndCause::LocalHangup).recorded,
                Recorded::As(outcome)
            );
        }
        // Ended before the network confirmed the bridge: abandoned, the agent's disposition
        // (given meanwhile) kept for the recycling.
        let bridging = drive(
            waiting(),
            T0 + 3000,
            [
                Input::Bridge {
                    seat: 1,
                    agent: "bob".into(),
                },
                Input::Disposition(disposition(DispositionCode::Callback)),
            ],
        );
        let e = end(bridging, EndCause::RemoteHangup);
        assert_eq!(e.recorded, Recorded::As(Outcome::Abandoned));
        assert_eq!((e.talk_from, e.attempt.record.talk_ms), (None, 0));
        assert!(e.disposition.is_some());
        // Dispositioned while talking: recorded at the end, no wrap-up.
        let c = drive(
            talking(),
            T0 + 5000,
            [Input::Disposition(disposition(DispositionCode::Refused))],
        );
        let e = end(c, EndCause::LocalHangup);
        assert_eq!(e.recorded, Recorded::Conversation { seat: 3 });
        assert_eq!(e.attempt.record.talk_ms, 25_000);
    }

    #[test]
    fn not_sure_is_a_person_recorded_as_not_sure() {
        let verdict = Input::Verdict {
            verdict: Verdict::NotSure,
            voicemail: true,
        };
        let c = drive(dialing(), T0, [Input::PickedUp, verdict]);
        assert!(matches!(
            c.phase(),
            Phase::Answered(_, Answer::Waiting { .. })
        ));
        assert_eq!(c.attempt().record.amd, AmdVerdict::NotSure);
    }

    #[test]
    fn a_wrap_up_that_runs_out_is_recorded_without_disposition() {
        let c = drive(talking(), T0 + 5000, [Input::End(EndCause::RemoteHangup)]);
        let e = ended(c.on(Input::WrapTimeout, T0 + 200_000));
        assert_eq!(e.recorded, Recorded::Conversation { seat: 3 });
        assert!(e.disposition.is_none());
    }

    #[test]
    fn a_preview_offer_is_withdrawn_with_its_lease_and_seat() {
        let mut leases = super::super::lease::Leases::default();
        let mut a = attempt(Some(2));
        a.lease = Some(leases.hold(Lease {
            account: "a1".into(),
            token: 1,
            expires_at: T0 + 60_000,
        }));
        let offer = Call::offered(a);
        assert!(!offer.on_line());
        assert_eq!(offer.seat(), Some(2));
        let Step::Withdrawn(a) = offer.on(Input::Withdraw, T0) else {
            panic!("withdrawn");
        };
        assert_eq!(a.reserved, Some(2));
        let lease = a.lease.expect("the offer's lease");
        let _ = leases.close(lease.settle(Next::Retire));
        assert_eq!(leases.reconcile(0), Ok(()));
    }

    /// Every input that does not belong to a phase is refused and leaves the call as it was:
    /// no verdict before a dial, no bridge of a call nobody waits on, no second end, no
    /// disposition of a call that is not connected, no withdrawing a placed call.
    #[test]
    fn inputs_that_do_not_apply_to_a_phase_are_refused() {
        fn input(name: &str) -> Input {
            match name {
                "progress" => Input::Progress,
                "picked-up" => Input::PickedUp,
                "verdict" => human(),
                "bridge" => Input::Bridge {
                    seat: 0,
                    agent: "x".into(),
                },
                "connected" => Input::Connected,
                "abandon" => Input::Abandon,
                "disposition" => Input::Disposition(disposition(DispositionCode::NoContact)),
                "wrap-timeout" => Input::WrapTimeout,
                "end" => Input::End(EndCause::RemoteHangup),
                "withdraw" => Input::Withdraw,
                other => panic!("no input {other}"),
            }
        }
        fn offered() -> Call {
            Call::offered(attempt(Some(0)))
        }
        fn detecting() -> Call {
            drive(dialing(), T0, [Input::PickedUp])
        }
        fn hanging_up() -> Call {
            drive(waiting(), T0 + 3000, [Input::Abandon])
        }
        fn bridging() -> Call {
            drive(waiting(), T0 + 3000, [input("bridge")])
        }
        fn wrap_up() -> Call {
            drive(talking(), T0 + 5000, [input("end")])
        }
        type Make = fn() -> Call;
        let cases: [(Make, &str); 8] = [
            (
                offered,
                "progress picked-up verdict bridge connected abandon disposition wrap-timeout end",
            ),
            (
                dialing,
                "bridge connected abandon disposition wrap-timeout withdraw",
            ),
            (
                detecting,
                "progress picked-up bridge abandon disposition withdraw",
            ),
            (
                waiting,
                "verdict picked-up connected disposition wrap-timeout withdraw",
            ),
            (hanging_up, "bridge abandon verdict disposition withdraw"),
            (bridging, "verdict bridge abandon wrap-timeout withdraw"),
            (talking, "connected verdict withdraw"),
            (wrap_up, "end connected bridge verdict withdraw"),
        ];
        for (make, inputs) in cases {
            for name in inputs.split(' ') {
                let call = make();
                let (before, record) = (shape(&call), call.attempt().record.clone());
                let what = format!("{name} in {before}");
                match call.on(input(name), T0 + 99_000) {
                    Step::Refused(c) => {
                        assert_eq!(shape(&c), before, "{what}");
                        assert_eq!(c.attempt().record, record, "{what}");
                    }
                    other => panic!("{what} was accepted: {other:?}"),
                }
            }
        }
    }
}
