//! The simulated carrier: a statistical telephone network behind the same [`Carrier`] trait
//! as a real one. It is the embedded default and the load generator.
//!
//! Each call draws its fate from the pacing benchmark's attempt model
//! (`simulator::model::draw`: fast failures, answering machines with AMD delays and
//! misclassifications, live answers with log-normal ring times, no answers) and plays it out
//! on tokio time, so a test or a demo on a paused tokio clock runs hours of dialing in
//! seconds. A second stream of draws per call, which leaves the model's outcomes as the
//! benchmark has them, splits fast failures into busy, SIT and failed and gives each call
//! what real signalling reports: ringback or a busy tone or a SIT before the answer, the AMD
//! verdict's cause, the SIP final status with its Q.850 cause, and the timings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simulator::model::{self, Draw};
use simulator::rng::SplitMix64;
use simulator::scenario::Scenario;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use crate::{
    Amd, AmdCause, CallEnd, CallId, Carrier, CarrierError, CarrierEvent, EarlyMedia, EndCause,
    Events, MIN_RING, Network, Originate, Prompt, Q850, SipStatus, Timings, Verdict,
};

/// The verdict on a short "Hello?".
const HUMAN: Amd = Amd {
    verdict: Verdict::Human,
    cause: AmdCause::ShortGreeting,
};

/// How long a live person waits in silence before hanging up themselves.
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Ringing,
    /// Picked up, answering-machine detection still running.
    Detecting,
    Answered(Verdict),
    Talking,
}

#[derive(Debug)]
enum Command {
    Bridge(String),
    Hangup(Option<Prompt>),
    Cancel,
}

#[derive(Debug)]
struct Call {
    dialed_at: Instant,
    phase: Phase,
    commands: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
struct Inner {
    scenario: Scenario,
    seed: u64,
    /// Simulated seconds per real second (1: real time).
    speed: f64,
    started: Instant,
    next_index: AtomicU64,
    events: mpsc::UnboundedSender<CarrierEvent>,
    calls: Mutex<HashMap<CallId, Call>>,
    prompts: Mutex<Vec<(CallId, Prompt)>>,
    /// What each call "really" was, for simulated agents to hear (taken once).
    truths: Mutex<HashMap<CallId, Truth>>,
}

/// What a simulated agent learns by talking: who answered and how long the wrap-up takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// An answering machine the AMD passed as human.
    pub machine: bool,
    /// The right party (the consumer) answered.
    pub right_party: bool,
    /// Wrap-up seconds the agent needs after the call.
    pub wrap_s: f64,
}

impl Inner {
    /// Real time for `s` simulated seconds.
    fn real(&self, s: f64) -> Duration {
        secs(s / self.speed)
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Call>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_phase(&self, call: CallId, phase: Phase) {
        if let Some(c) = self.calls().get_mut(&call) {
            c.phase = phase;
        }
    }

    fn emit(&self, event: CarrierEvent) {
        if let CarrierEvent::Ended { call, .. } = &event {
            let talked = self
                .calls()
                .remove(call)
                .is_some_and(|c| c.phase == Phase::Talking);
            if !talked {
                // Nobody will ask: no agent heard this call.
                self.truths
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(call);
            }
        }
        // A dropped receiver means nobody listens any more: nothing to do.
        let _ = self.events.send(event);
    }
}

/// A simulated telephone network.
#[derive(Debug, Clone)]
pub struct SimCarrier {
    inner: Arc<Inner>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl SimCarrier {
    /// A network answering like `scenario`; events arrive on the returned receiver. Must be
    /// created inside a tokio runtime (calls are tokio tasks).
    pub fn new(scenario: Scenario, seed: u64) -> (SimCarrier, Events) {
        SimCarrier::with_speed(scenario, seed, 1.0)
    }

    /// A network whose calls play out `speed` times faster than real time (rings, talks,
    /// a person's patience, the ring timeout alike), so a demo or a test on the real clock
    /// sees many calls in a few seconds. `speed` is clamped to [0.001, 1000].
    pub fn with_speed(scenario: Scenario, seed: u64, speed: f64) -> (SimCarrier, Events) {
        let speed = if speed.is_finite() {
            speed.clamp(0.001, 1000.0)
        } else {
            1.0
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Inner {
            scenario,
            seed,
            speed,
            started: Instant::now(),
            next_index: AtomicU64::new(0),
            events: tx,
            calls: Mutex::new(HashMap::new()),
            prompts: Mutex::new(Vec::new()),
            truths: Mutex::new(HashMap::new()),
        };
        (
            SimCarrier {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    /// Calls in progress.
    pub fn in_progress(&self) -> usize {
        self.inner.calls().len()
    }

    /// Prompts played so far (safe-harbor and voicemail messages), in order.
    pub fn prompts(&self) -> Vec<(CallId, Prompt)> {
        self.inner
            .prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What call `call` really was, once (for simulated agents; `None` for calls that
    /// never reach an agent or were already asked about).
    pub fn take_truth(&self, call: CallId) -> Option<Truth> {
        self.inner
            .truths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&call)
    }

    fn command(
        &self,
        call: CallId,
        check: impl FnOnce(&Call) -> Result<Option<Phase>, CarrierError>,
        cmd: Command,
    ) -> Result<(), CarrierError> {
        let mut calls = self.inner.calls();
        let c = calls
            .get_mut(&call)
            .ok_or(CarrierError::UnknownCall(call))?;
        if let Some(phase) = check(c)? {
            c.phase = phase;
        }
        c.commands
            .send(cmd)
            .map_err(|_| CarrierError::UnknownCall(call))
    }
}

impl Carrier for SimCarrier {
    fn originate(&self, o: Originate) -> Result<(), CarrierError> {
        o.validate()?;
        let index = self.inner.next_index.fetch_add(1, Ordering::Relaxed);
        let t_s = self.inner.started.elapsed().as_secs_f64() * self.inner.speed;
        let draw = model::draw(&self.inner.scenario, self.inner.seed, 0, index, t_s);
        let details = Details::draw(self.inner.seed, index);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut calls = self.inner.calls();
            if calls.contains_key(&o.call) {
                return Err(CarrierError::DuplicateCall(o.call));
            }
            calls.insert(
                o.call,
                Call {
                    dialed_at: Instant::now(),
                    phase: Phase::Ringing,
                    commands: tx,
                },
            );
        }
        let truth = match draw {
            Draw::Live { rpc, wrap, .. } => Some(Truth {
                machine: false,
                right_party: rpc,
                wrap_s: wrap,
            }),
            Draw::Machine {
                passed_talk: Some(_),
                ..
            } => Some(Truth {
                machine: true,
                right_party: false,
                wrap_s: 5.0,
            }),
            _ => None,
        };
        if let Some(t) = truth {
            self.inner
                .truths
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(o.call, t);
        }
        let inner = self.inner.clone();
        let timeout = o.ring_timeout.div_f64(self.inner.speed);
        tokio::spawn(play(inner, o.call, timeout, draw, details, rx));
        Ok(())
    }

    fn bridge(&self, call: CallId, agent: &str) -> Result<(), CarrierError> {
        self.command(
            call,
            |c| match c.phase {
                Phase::Answered(Verdict::Human | Verdict::NotSure) => Ok(Some(Phase::Talking)),
                _ => Err(CarrierError::NotAnswered(call)),
            },
            Command::Bridge(agent.to_string()),
        )
    }

    fn hangup(&self, call: CallId, prompt: Option<Prompt>) -> Result<(), CarrierError> {
        self.command(
            call,
            |c| match c.phase {
                Phase::Ringing | Phase::Detecting => Err(CarrierError::NotAnswered(call)),
                _ => Ok(None),
            },
            Command::Hangup(prompt),
        )
    }

    fn cancel(&self, call: CallId) -> Result<(), CarrierError> {
        let speed = self.inner.speed;
        self.command(
            call,
            |c| {
                let rang = c.dialed_at.elapsed().mul_f64(speed);
                match c.phase {
                    Phase::Ringing if rang < MIN_RING => {
                        Err(CarrierError::TooEarlyToCancel { call, rang })
                    }
                    Phase::Ringing => Ok(None),
                    _ => Err(CarrierError::Invalid {
                        field: "call",
                        problem: "already answered: hang up instead",
                    }),
                }
            },
            Command::Cancel,
        )
    }
}

/// The dice of one call beyond the attempt model's, from a stream of its own (the model's
/// outcomes stay the benchmark's): which fast failure it is, and the details real signalling
/// reports.
#[derive(Debug, Clone, Copy)]
struct Details {
    /// Busy below 0.5, failed below 0.8, else SIT: the split of the model's fast failures.
    fail_kind: f64,
    /// Network seconds from the INVITE to the 18x (at most half the time to the pick-up or
    /// the end).
    progress_s: f64,
    /// A busy number plays a busy tone before its 486.
    busy_tone: bool,
    /// A SIT number has changed (410, Q.850 22) rather than being unallocated (404, 1).
    changed: bool,
    /// Picks the AMD verdict's cause.
    amd: f64,
}

impl Details {
    fn draw(seed: u64, index: u64) -> Details {
        let mut r = SplitMix64::stream(seed ^ 0x5eed_fa11, 0, index);
        Details {
            fail_kind: r.uniform(),
            progress_s: r.range(0.3, 2.5),
            busy_tone: r.uniform() < 0.3,
            changed: r.uniform() < 0.2,
            amd: r.uniform(),
        }
    }

    fn fast_failure(&self) -> EndCause {
        match self.fail_kind {
            k if k < 0.5 => EndCause::Busy,
            k if k < 0.8 => EndCause::Failed,
            _ => EndCause::Sit,
        }
    }

    /// When the 18x comes for a call that is picked up or ends `by_s` after the INVITE.
    fn progress(&self, by_s: f64) -> f64 {
        self.progress_s.min(by_s / 2.0)
    }

    /// Why AMD says machine: mostly a greeting longer than a person's.
    fn machine_cause(&self) -> AmdCause {
        match self.amd {
            u if u < 0.55 => AmdCause::LongGreeting,
            u if u < 0.9 => AmdCause::TooManyWords,
            _ => AmdCause::Beep,
        }
    }

    /// Why AMD takes a person for a machine: they said a lot.
    fn talkative_cause(&self) -> AmdCause {
        if self.amd < 0.5 {
            AmdCause::LongGreeting
        } else {
            AmdCause::TooManyWords
        }
    }

    /// The final status and Q.850 cause a call ending with `cause` gets. A ring timeout is
    /// ours (a CANCEL: 487) with the cause the network would give (19, no answer).
    fn signalled(&self, cause: EndCause) -> (SipStatus, Q850) {
        match cause {
            EndCause::Busy => (SipStatus::BUSY_HERE, Q850::USER_BUSY),
            EndCause::Sit if self.changed => (SipStatus::GONE, Q850::NUMBER_CHANGED),
            EndCause::Sit => (SipStatus::NOT_FOUND, Q850::UNALLOCATED_NUMBER),
            EndCause::Failed => (SipStatus::SERVICE_UNAVAILABLE, Q850::NETWORK_OUT_OF_ORDER),
            EndCause::NoAnswer => (SipStatus::REQUEST_TERMINATED, Q850::NO_ANSWER),
            EndCause::Cancelled => (SipStatus::REQUEST_TERMINATED, Q850::NORMAL_CLEARING),
            EndCause::RemoteHangup | EndCause::LocalHangup => {
                (SipStatus::OK, Q850::NORMAL_CLEARING)
            }
        }
    }
}

/// What one call's signalling has reported so far, measured from the INVITE in network time.
#[derive(Debug)]
struct Timeline {
    call: CallId,
    dialed: Instant,
    speed: f64,
    timings: Timings,
    early_media: Option<EarlyMedia>,
}

impl Timeline {
    fn since_dial(&self) -> Duration {
        self.dialed.elapsed().mul_f64(self.speed)
    }

    fn progress(&mut self, inner: &Inner, media: EarlyMedia) {
        self.timings.progress = Some(self.since_dial());
        self.early_media = Some(media);
        inner.emit(CarrierEvent::Progress {
            call: self.call,
            media,
        });
    }

    fn picked_up(&mut self, inner: &Inner) {
        self.timings.answer = Some(self.since_dial());
        inner.emit(CarrierEvent::PickedUp { call: self.call });
    }

    fn verdict(&mut self) {
        self.timings.verdict = Some(self.since_dial());
    }

    fn end(mut self, cause: EndCause, details: &Details) -> CallEnd {
        self.timings.end = self.since_dial();
        let (status, q850) = details.signalled(cause);
        CallEnd {
            cause,
            status,
            q850: Some(q850),
            early_media: self.early_media,
            timings: self.timings,
        }
    }
}

/// What the ringing phase ended with.
enum Rang {
    PickedUp,
    Timeout,
    Cancelled,
}

/// Rings (ringback from `progress` seconds after the dial) until `pickup` unless the timeout
/// or a cancel comes first.
async fn ring(
    line: &mut Timeline,
    inner: &Inner,
    progress: Duration,
    pickup: Option<Duration>,
    timeout: Duration,
    rx: &mut mpsc::UnboundedReceiver<Command>,
) -> Rang {
    let dialed = line.dialed;
    let (until, outcome) = match pickup {
        Some(p) if p < timeout => (dialed + p, Rang::PickedUp),
        _ => (dialed + timeout, Rang::Timeout),
    };
    let mut alert = Some(dialed + progress).filter(|&at| at < until);
    loop {
        tokio::select! {
            // Commands first: a cancel accepted before the pick-up instant wins.
            biased;
            cmd = rx.recv() => match cmd {
                Some(Command::Cancel) | None => return Rang::Cancelled,
                // Bridge and hangup are refused while ringing (checked by the caller).
                Some(_) => {}
            },
            () = sleep_until(alert.unwrap_or(until)), if alert.is_some() => {
                alert = None;
                line.progress(inner, EarlyMedia::Ringback);
            }
            () = sleep_until(until) => return outcome,
        }
    }
}

/// How a call that is picked up goes, in network seconds.
#[derive(Debug, Clone, Copy)]
struct Pickup {
    /// From the dial to the pick-up.
    at_s: f64,
    /// From the pick-up to the AMD verdict.
    listen_s: f64,
    amd: Amd,
    /// How long the far end talks once bridged (`None`: it never would be).
    talk_s: Option<f64>,
}

/// Rings (ringback from its 18x) until the pick-up, unless the timeout or a cancel comes
/// first; then AMD listens and the call is answered.
async fn picked_up(
    line: &mut Timeline,
    inner: &Inner,
    details: &Details,
    p: Pickup,
    timeout: Duration,
    rx: &mut mpsc::UnboundedReceiver<Command>,
) -> EndCause {
    let progress = inner.real(details.progress(p.at_s));
    let pickup = Some(inner.real(p.at_s));
    match ring(line, inner, progress, pickup, timeout, rx).await {
        Rang::Cancelled => EndCause::Cancelled,
        Rang::Timeout => EndCause::NoAnswer,
        Rang::PickedUp if cancelled_meanwhile(inner, line.call, rx) => EndCause::Cancelled,
        Rang::PickedUp => {
            line.picked_up(inner);
            sleep(inner.real(p.listen_s)).await;
            answered(inner, line, p.amd, p.talk_s, rx).await
        }
    }
}

/// Marks a call picked up. A cancel accepted while it was still marked ringing (between
/// the pick-up and this moment) wins: the engine was told the cancel succeeded. The phase
/// is changed under the same lock the cancel was accepted under, so no cancel slips past.
fn cancelled_meanwhile(
    inner: &Inner,
    call: CallId,
    rx: &mut mpsc::UnboundedReceiver<Command>,
) -> bool {
    inner.set_phase(call, Phase::Detecting);
    matches!(rx.try_recv(), Ok(Command::Cancel))
}

/// A picked-up call after the AMD verdict: waits for the engine, then plays out the talk.
async fn answered(
    inner: &Inner,
    line: &mut Timeline,
    amd: Amd,
    talk: Option<f64>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
) -> EndCause {
    let call = line.call;
    line.verdict();
    inner.set_phase(call, Phase::Answered(amd.verdict));
    inner.emit(CarrierEvent::Answered { call, amd });
    let patience = sleep(PATIENCE.div_f64(inner.speed));
    tokio::pin!(patience);
    loop {
        tokio::select! {
            () = &mut patience => return EndCause::RemoteHangup,
            cmd = rx.recv() => match cmd {
                Some(Command::Bridge(agent)) => {
                    inner.emit(CarrierEvent::Bridged { call, agent });
                    let talk = sleep(inner.real(talk.unwrap_or(0.0)));
                    tokio::pin!(talk);
                    loop {
                        tokio::select! {
                            () = &mut talk => return EndCause::RemoteHangup,
                            cmd = rx.recv() => match cmd {
                                Some(Command::Hangup(prompt)) => return hung_up(inner, call, prompt),
                                None => return EndCause::LocalHangup,
                                Some(_) => {}
                            },
                        }
                    }
                }
                Some(Command::Hangup(prompt)) => return hung_up(inner, call, prompt),
                None => return EndCause::LocalHangup,
                Some(Command::Cancel) => {}
            },
        }
    }
}

fn hung_up(inner: &Inner, call: CallId, prompt: Option<Prompt>) -> EndCause {
    if let Some(p) = prompt {
        inner
            .prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((call, p));
    }
    EndCause::LocalHangup
}

async fn play(
    inner: Arc<Inner>,
    call: CallId,
    timeout: Duration,
    draw: Draw,
    details: Details,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let dialed = Instant::now();
    let mut line = Timeline {
        call,
        dialed,
        speed: inner.speed,
        timings: Timings::default(),
        early_media: None,
    };
    let cause = match draw {
        Draw::Fail { end } => {
            let cause = details.fast_failure();
            let media = match cause {
                EndCause::Busy if details.busy_tone => Some(EarlyMedia::BusyTone),
                EndCause::Sit => Some(EarlyMedia::Sit),
                _ => None,
            };
            if let Some(media) = media {
                sleep_until(dialed + inner.real(details.progress(end))).await;
                line.progress(&inner, media);
            }
            sleep_until(dialed + inner.real(end)).await;
            cause
        }
        Draw::NoAnswer => {
            let progress = inner.real(details.progress_s);
            match ring(&mut line, &inner, progress, None, timeout, &mut rx).await {
                Rang::Cancelled => EndCause::Cancelled,
                _ => EndCause::NoAnswer,
            }
        }
        Draw::Machine {
            pickup,
            amd,
            passed_talk,
        } => {
            let answer = Pickup {
                at_s: pickup,
                listen_s: amd,
                // An AMD false negative (a short outgoing message) looks human and takes an
                // agent's time.
                amd: match passed_talk {
                    Some(_) => HUMAN,
                    None => Amd {
                        verdict: Verdict::Machine,
                        cause: details.machine_cause(),
                    },
                },
                talk_s: passed_talk,
            };
            picked_up(&mut line, &inner, &details, answer, timeout, &mut rx).await
        }
        Draw::Live {
            ring: ring_s,
            verdict_delay,
            amd_fp,
            talk,
            ..
        } => {
            let answer = Pickup {
                at_s: ring_s,
                listen_s: verdict_delay,
                // An AMD false positive: a person who said a lot, classed as a machine and
                // hung up on.
                amd: if amd_fp {
                    Amd {
                        verdict: Verdict::Machine,
                        cause: details.talkative_cause(),
                    }
                } else {
                    HUMAN
                },
                talk_s: Some(talk),
            };
            picked_up(&mut line, &inner, &details, answer, timeout, &mut rx).await
        }
    };
    let end = line.end(cause, &details);
    inner.emit(CarrierEvent::Ended { call, end });
}

/// The simulated network: a [`SimCarrier`] per campaign, seeded from the campaign id so two
/// campaigns do not replay the same calls.
#[derive(Debug, Clone)]
pub struct SimNetwork {
    pub scenario: Scenario,
    pub seed: u64,
    /// Simulated seconds per real second.
    pub speed: f64,
}

impl Network for SimNetwork {
    fn open(&self, campaign: &str) -> (Arc<dyn Carrier>, Events) {
        // FNV-1a: stable across runs and platforms (std's hasher is randomly keyed).
        let h = campaign.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let (carrier, events) =
            SimCarrier::with_speed(self.scenario.clone(), self.seed ^ h, self.speed);
        (Arc::new(carrier), events)
    }
}
