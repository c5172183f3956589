//! One outbound call to a debtor, from INVITE to its end, as one task: trunks in failover
//! order, ringing and early media, the answer, answering-machine detection, then whatever the
//! engine asks (bridge to an agent, hang up after a message, cancel), and BYE either way.
//!
//! The task reports through the carrier's event channel in the order `carrier::event`
//! documents, and always ends with exactly one `Ended`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use callprogress::{BeepDetector, Detector, Tone, ToneDetector};
use carrier::{
    Amd, AmdCause, CallEnd, CallId, CarrierEvent, EarlyMedia, EndCause, Originate, Prompt, Q850,
    SipStatus, Timings, Verdict,
};
use media::jitter::{Frame, JitterBuffer};
use sip::{Method, Response};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use crate::agent::AgentLeg;
use crate::dialog::{AnswerRoute, Dialog, InviteClient, InviteSpec, InviteStep, Party};
use crate::media_leg::{Heard, MediaLeg};
use crate::outcome::{OutcomeClass, classify_failure};
use crate::recording::{Recorded, Recording};
use crate::transport::Incoming;
use crate::{CallSettings, Shared, sdp_offer};

/// What the engine asks of a call in progress.
#[derive(Debug)]
pub enum Command {
    Bridge { agent: Arc<AgentLeg>, name: String },
    Hangup(Option<Prompt>),
    Cancel,
}

/// Where a call is, for the carrier's synchronous checks.
pub mod phase {
    pub const RINGING: u8 = 0;
    pub const DETECTING: u8 = 1;
    pub const HUMAN: u8 = 2;
    pub const MACHINE: u8 = 3;
    pub const BRIDGED: u8 = 4;
    pub const ENDING: u8 = 5;
}

/// The carrier's view of a call in progress.
#[derive(Debug)]
pub struct Handle {
    pub commands: UnboundedSender<Command>,
    pub started: Instant,
    pub phase: Arc<AtomicU8>,
}

/// How the call ended, as reported (and as `dialerctl test-call` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub class: OutcomeClass,
    pub amd: Option<Amd>,
    pub end: CallEnd,
    pub trunk: Option<String>,
    pub recording: Option<Recorded>,
}

struct Call {
    shared: Arc<Shared>,
    settings: Arc<CallSettings>,
    id: CallId,
    events: UnboundedSender<CarrierEvent>,
    phase: Arc<AtomicU8>,
    t0: Instant,
    timings: Timings,
    early: Option<EarlyMedia>,
    amd: Option<Amd>,
    media: Arc<MediaLeg>,
    trunk: Option<String>,
}

impl Call {
    fn emit(&self, event: CarrierEvent) {
        let _ = self.events.send(event);
    }

    fn since(&self) -> Duration {
        self.t0.elapsed()
    }

    fn end(
        &mut self,
        cause: EndCause,
        status: u16,
        q850: Option<u8>,
        class: OutcomeClass,
    ) -> Report {
        self.end_recorded(cause, status, q850, class, None)
    }

    fn end_recorded(
        &mut self,
        cause: EndCause,
        status: u16,
        q850: Option<u8>,
        class: OutcomeClass,
        recording: Option<Recorded>,
    ) -> Report {
        if let Some(r) = &recording {
            let retain_days = self
                .settings
                .recording
                .as_ref()
                .map_or(0, |c| c.retention_days);
            self.emit(CarrierEvent::Recorded {
                call: self.id,
                reference: r.reference(retain_days),
            });
        }
        self.phase.store(phase::ENDING, Ordering::Release);
        self.timings.end = self.since();
        let end = CallEnd {
            cause,
            status: SipStatus(status),
            q850: q850.map(Q850),
            early_media: self.early,
            timings: self.timings,
        };
        self.emit(CarrierEvent::Ended { call: self.id, end });
        Report {
            class,
            amd: self.amd,
            end,
            trunk: self.trunk.clone(),
            recording,
        }
    }
}

/// Places `call` and drives it to its end; returns what happened (also reported as events).
pub async fn run(
    shared: Arc<Shared>,
    settings: Arc<CallSettings>,
    originate: Originate,
    mut commands: UnboundedReceiver<Command>,
    events: UnboundedSender<CarrierEvent>,
    phase: Arc<AtomicU8>,
) -> Report {
    let t0 = Instant::now();
    let media = match MediaLeg::bind(shared.rtp_ip, shared.laws[0]).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "sip: no RTP socket");
            phase.store(phase::ENDING, Ordering::Release);
            let end = CallEnd {
                cause: EndCause::Failed,
                status: SipStatus(500),
                q850: None,
                early_media: None,
                timings: Timings {
                    end: t0.elapsed(),
                    ..Timings::default()
                },
            };
            let _ = events.send(CarrierEvent::Ended {
                call: originate.call,
                end,
            });
            return Report {
                class: OutcomeClass::Failed,
                amd: None,
                end,
                trunk: None,
                recording: None,
            };
        }
    };
    let mut call = Call {
        shared: shared.clone(),
        settings,
        id: originate.call,
        events,
        phase,
        t0,
        timings: Timings::default(),
        early: None,
        amd: None,
        media,
        trunk: None,
    };
    call.place(originate, &mut commands).await
}

impl Call {
    /// Tries the trunks in order until one carries the call to a final answer.
    async fn place(
        &mut self,
        originate: Originate,
        commands: &mut UnboundedReceiver<Command>,
    ) -> Report {
        let ring_deadline = self.t0 + originate.ring_timeout.max(carrier::MIN_RING);
        let mut last_failure = (503u16, None::<u8>);
        let trunks = self.shared.trunks.clone();
        let mut engine_cancelled = false;
        for trunk in trunks.iter() {
            if engine_cancelled {
                break;
            }
            self.trunk = Some(trunk.name.clone());
            let Ok(target) = trunk.target().await else {
                tracing::warn!(trunk = %trunk.name, "sip: trunk address does not resolve");
                continue;
            };
            let local_ip = self.shared.endpoint.local_ip_towards(target.addr);
            let call_id = crate::dialog::new_call_id(&local_ip.to_string());
            let (_dialog_route, mut incoming) = self.shared.endpoint.dialog(&call_id);
            let spec = InviteSpec {
                request_uri: trunk.request_uri(&originate.to),
                from: Party {
                    name_addr: trunk.from(&originate.caller_id),
                    tag: Some(crate::dialog::new_tag()),
                },
                to: trunk.to(&originate.to),
                call_id: call_id.clone(),
                contact: self.shared.contact(local_ip, target.transport),
                target,
                outbound_proxy: trunk.proxy_target().await,
                sdp: sdp_offer(&self.shared, local_ip, self.media.local().port(), 1),
                headers: trunk.extra_headers(&originate.caller_id),
                credentials: trunk.credentials(),
                session_expires: self.shared.session_expires,
            };
            let mut invite = match InviteClient::start(&self.shared.endpoint, spec).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(trunk = %trunk.name, error = %e, "sip: INVITE not sent");
                    continue;
                }
            };
            let (early_tx, mut early_rx) = unbounded_channel::<Heard>();
            let mut tones = ToneDetector::new();
            let mut progress_sent = false;
            let mut samples = Vec::with_capacity(240);
            loop {
                let ringing = tokio::time::sleep_until(ring_deadline);
                let step = tokio::select! {
                    step = invite.next() => step,
                    Some(cmd) = commands.recv() => {
                        match cmd {
                            Command::Cancel => {
                                engine_cancelled = true;
                                invite.cancel();
                            }
                            // Nothing to bridge or hang up before an answer: the carrier refuses
                            // these synchronously; a late one is dropped.
                            Command::Bridge { .. } | Command::Hangup(_) => {}
                        }
                        continue;
                    }
                    _ = ringing, if !invite.cancelling() => {
                        invite.cancel();
                        continue;
                    }
                    Some(heard) = early_rx.recv() => {
                        if let Some(law) = media::g711::Law::from_payload_type(heard.payload_type) {
                            samples.clear();
                            law.decode_into(&heard.payload, &mut samples);
                            if let Some(tone) = tones.push(&samples) {
                                let media = early_media(tone);
                                if media.is_some() && self.early != Some(EarlyMedia::Sit) {
                                    self.early = media;
                                }
                                if !progress_sent {
                                    if let Some(m) = media {
                                        progress_sent = true;
                                        self.emit(CarrierEvent::Progress { call: self.id, media: m });
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    Some(req) = incoming.recv() => {
                        // Before the answer only a stray BYE or OPTIONS can come; answer it.
                        let status = if req.request.method == Method::Options { 200 } else { 481 };
                        let r = crate::dialog::reply(&req.request, status, None);
                        self.shared.endpoint.respond(r, req.from).await;
                        continue;
                    }
                };
                match step {
                    InviteStep::Provisional(r) => {
                        if self.timings.progress.is_none() {
                            self.timings.progress = Some(self.since());
                        }
                        if let Some(remote) = self.shared.remote_from(&r) {
                            // Early media (183 with SDP): listen for ringback, busy, SIT.
                            self.media.set_remote(remote);
                            self.media.analyse(Some(early_tx.clone()));
                        } else if !progress_sent && r.status == 180 {
                            progress_sent = true;
                            self.early.get_or_insert(EarlyMedia::Ringback);
                            self.emit(CarrierEvent::Progress {
                                call: self.id,
                                media: EarlyMedia::Ringback,
                            });
                        }
                    }
                    InviteStep::Failed(r) => {
                        self.media.analyse(None);
                        let q850 = sip::q850_cause(&r.headers);
                        let class = classify_failure(r.status, q850, self.early);
                        if invite.cancelling() && r.status == 487 {
                            let (cause, class) = if engine_cancelled {
                                (EndCause::Cancelled, OutcomeClass::NoAnswer)
                            } else {
                                (EndCause::NoAnswer, OutcomeClass::NoAnswer)
                            };
                            return self.end(cause, r.status, q850, class);
                        }
                        if class == OutcomeClass::TrunkTrouble {
                            tracing::info!(trunk = %trunk.name, status = r.status, "sip: trunk trouble, next trunk");
                            last_failure = (r.status, q850);
                            break;
                        }
                        return self.end(class.end_cause(), r.status, q850, class);
                    }
                    InviteStep::Timeout => {
                        self.media.analyse(None);
                        if invite.cancelling() {
                            let cause = if engine_cancelled {
                                EndCause::Cancelled
                            } else {
                                EndCause::NoAnswer
                            };
                            return self.end(cause, 408, None, OutcomeClass::NoAnswer);
                        }
                        tracing::info!(trunk = %trunk.name, "sip: no answer from the trunk, next trunk");
                        last_failure = (408, None);
                        break;
                    }
                    InviteStep::Answered(r, dialog) => {
                        self.media.analyse(None);
                        let answer_route = invite.into_answer_route();
                        let mut dialog = *dialog;
                        if engine_cancelled {
                            // The 200-after-CANCEL race: the callee answered as we cancelled.
                            // Acknowledged already; end it at once.
                            dialog.bye(&self.shared.endpoint, None).await;
                            return self.end(
                                EndCause::Cancelled,
                                200,
                                None,
                                OutcomeClass::Answered,
                            );
                        }
                        return self
                            .answered(r, dialog, answer_route, incoming, commands)
                            .await;
                    }
                }
            }
        }
        if engine_cancelled {
            return self.end(EndCause::Cancelled, 487, None, OutcomeClass::NoAnswer);
        }
        let (status, q850) = last_failure;
        self.end(EndCause::Failed, status, q850, OutcomeClass::TrunkTrouble)
    }

    /// Picked up: detect who answered, then do what the engine asks until either side hangs up.
    async fn answered(
        &mut self,
        response: Response,
        mut dialog: Dialog,
        mut answer_route: AnswerRoute,
        mut incoming: UnboundedReceiver<Incoming>,
        commands: &mut UnboundedReceiver<Command>,
    ) -> Report {
        self.timings.answer = Some(self.since());
        self.phase.store(phase::DETECTING, Ordering::Release);
        if let Some(remote) = self.shared.remote_from(&response) {
            self.media.set_remote(remote);
        }
        self.emit(CarrierEvent::PickedUp { call: self.id });
        let refresh = crate::session_refresh(&response);
        let (audio_tx, mut audio_rx) = unbounded_channel::<Heard>();
        self.media.analyse(Some(audio_tx));
        let mut listen = Listener::new(&self.shared, &self.settings);
        let answered_at = Instant::now();
        let mut check = tokio::time::interval(Duration::from_millis(100));
        let mut bridged: Option<(Arc<AgentLeg>, Option<Recording>)> = None;
        let mut refresh_at = refresh.map(|s| Instant::now() + s);
        let mut machine_hangup: Option<(Option<Prompt>, Instant)> = None;
        loop {
            let refresh_sleep = tokio::time::sleep_until(
                refresh_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                Some(heard) = audio_rx.recv() => {
                    if let Some(decision) = listen.heard(heard) {
                        self.verdict(decision);
                    }
                    if listen.beeped && machine_hangup.is_some() {
                        let (prompt, _) = machine_hangup.take().unwrap_or((None, Instant::now()));
                        return self.hang_up(&mut dialog, &mut incoming, prompt, bridged.take()).await;
                    }
                }
                _ = check.tick() => {
                    if self.amd.is_none() {
                        if let Some(decision) = listen.catch_up(answered_at.elapsed()) {
                            self.verdict(decision);
                        }
                    }
                    if let Some((prompt, until)) = &machine_hangup {
                        if Instant::now() >= *until {
                            let prompt = prompt.clone();
                            return self.hang_up(&mut dialog, &mut incoming, prompt, bridged.take()).await;
                        }
                    }
                    // A far end that should be sending and has gone quiet is gone (a trunk
                    // that lost the call without a BYE).
                    let remote = self.media.remote();
                    if self.shared.rtp_timeout.is_some_and(|t| remote.receive && self.media.silent_for() >= t) {
                        tracing::info!(call_id = self.id, "sip: no RTP from the far end, hanging up");
                        return self.hang_up(&mut dialog, &mut incoming, None, bridged.take()).await;
                    }
                }
                _ = refresh_sleep, if refresh_at.is_some() => {
                    let mut update = dialog.request(&self.shared.endpoint, Method::Update, None);
                    update.headers.push("Session-Expires", format!("{};refresher=uac", refresh.map_or(0, |d| d.as_secs() * 2)));
                    let ep = self.shared.endpoint.clone();
                    let target = dialog.target;
                    tokio::spawn(async move { crate::dialog::non_invite(&ep, update, target).await; });
                    refresh_at = refresh.map(|s| Instant::now() + s);
                }
                _ = answer_route.reack(&dialog) => {}
                Some(req) = incoming.recv() => {
                    if let Some(report) = self.in_dialog(req, &mut dialog, &mut bridged).await {
                        return report;
                    }
                }
                cmd = commands.recv() => match cmd {
                    None => return self.hang_up(&mut dialog, &mut incoming, None, bridged.take()).await,
                    Some(Command::Cancel) => {}
                    Some(Command::Bridge { agent, name }) => {
                        match self.bridge(&agent) {
                            Ok(recording) => {
                                self.phase.store(phase::BRIDGED, Ordering::Release);
                                self.emit(CarrierEvent::Bridged { call: self.id, agent: name });
                                bridged = Some((agent, recording));
                            }
                            Err(()) => {
                                // The agent's leg went down between the check and now: this is
                                // an abandoned call, and the engine hears of it as a hang-up.
                                let prompt = self.shared.safe_harbor_prompt();
                                return self.hang_up(&mut dialog, &mut incoming, prompt, None).await;
                            }
                        }
                    }
                    Some(Command::Hangup(prompt)) => {
                        let machine = self.amd.is_some_and(|a| a.verdict == Verdict::Machine);
                        if machine && matches!(prompt, Some(Prompt::Voicemail { .. })) && !listen.beeped {
                            // Leave the message after the beep, or after the wait if none comes.
                            listen.want_beep();
                            machine_hangup = Some((prompt, Instant::now() + self.shared.beep_wait));
                        } else {
                            return self.hang_up(&mut dialog, &mut incoming, prompt, bridged.take()).await;
                        }
                    }
                }
            }
        }
    }

    fn verdict(&mut self, decision: callprogress::Decision) {
        let amd = amd_of(&decision);
        self.amd = Some(amd);
        self.timings.verdict = Some(self.since());
        self.phase.store(
            if amd.verdict == Verdict::Machine {
                phase::MACHINE
            } else {
                phase::HUMAN
            },
            Ordering::Release,
        );
        self.emit(CarrierEvent::Answered { call: self.id, amd });
    }

    fn bridge(&mut self, agent: &Arc<AgentLeg>) -> Result<Option<Recording>, ()> {
        let agent_media = agent.media().ok_or(())?;
        self.media.analyse(None);
        let recording = match &self.settings.recording {
            Some(cfg) => match Recording::start(cfg, self.id) {
                Ok(r) => {
                    self.media.record(Some(r.tap(media::wav::Channel::Debtor)));
                    agent_media.record(Some(r.tap(media::wav::Channel::Agent)));
                    Some(r)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "recording: not started");
                    None
                }
            },
            None => None,
        };
        self.media.forward(Some(agent_media.clone()));
        agent_media.forward(Some(self.media.clone()));
        Ok(recording)
    }

    fn unbridge(
        &mut self,
        bridged: Option<(Arc<AgentLeg>, Option<Recording>)>,
    ) -> Option<Recorded> {
        let (agent, recording) = bridged?;
        self.media.forward(None);
        self.media.record(None);
        if let Some(m) = agent.media() {
            m.forward(None);
            m.record(None);
        }
        agent.detach(self.id);
        match recording?.finish() {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "recording: not finished");
                None
            }
        }
    }

    /// Plays the prompt (if any) and sends BYE.
    /// Plays the prompt (if any) and sends BYE; a debtor who hangs up during the message
    /// ends the call there (their BYE answered, none of ours sent).
    async fn hang_up(
        &mut self,
        dialog: &mut Dialog,
        incoming: &mut UnboundedReceiver<Incoming>,
        prompt: Option<Prompt>,
        bridged: Option<(Arc<AgentLeg>, Option<Recording>)>,
    ) -> Report {
        self.phase.store(phase::ENDING, Ordering::Release);
        let recorded = self.unbridge(bridged);
        self.media.analyse(None);
        if let Some(p) = prompt {
            let frames = self.shared.prompt_frames(&p, self.media.remote());
            let media = self.media.clone();
            let play = media.play(frames);
            tokio::pin!(play);
            loop {
                tokio::select! {
                    () = &mut play => break,
                    Some(Incoming { request, from }) = incoming.recv() => {
                        let bye = request.method == Method::Bye;
                        let r = match request.method {
                            Method::Invite | Method::Update => {
                                crate::answer_offer(&self.shared, &request, &self.media, dialog)
                            }
                            _ => crate::dialog::reply(&request, 200, None),
                        };
                        if request.method == Method::Ack {
                            continue;
                        }
                        self.shared.endpoint.respond(r, from).await;
                        if bye {
                            let q850 = sip::q850_cause(&request.headers);
                            return self.end_recorded(
                                EndCause::RemoteHangup,
                                200,
                                q850,
                                OutcomeClass::Answered,
                                recorded,
                            );
                        }
                    }
                }
            }
        }
        dialog.bye(&self.shared.endpoint, None).await;
        self.end_recorded(
            EndCause::LocalHangup,
            200,
            None,
            OutcomeClass::Answered,
            recorded,
        )
    }

    /// A request from the far end inside the dialog; `Some` when it ended the call.
    async fn in_dialog(
        &mut self,
        req: Incoming,
        dialog: &mut Dialog,
        bridged: &mut Option<(Arc<AgentLeg>, Option<Recording>)>,
    ) -> Option<Report> {
        let ep = self.shared.endpoint.clone();
        let Incoming { request, from } = req;
        match request.method {
            Method::Bye => {
                ep.respond(crate::dialog::reply(&request, 200, None), from)
                    .await;
                let recorded = self.unbridge(bridged.take());
                let q850 = sip::q850_cause(&request.headers);
                Some(self.end_recorded(
                    EndCause::RemoteHangup,
                    200,
                    q850,
                    OutcomeClass::Answered,
                    recorded,
                ))
            }
            Method::Invite | Method::Update => {
                let response = crate::answer_offer(&self.shared, &request, &self.media, dialog);
                ep.respond(response, from).await;
                None
            }
            Method::Ack => None,
            _ => {
                ep.respond(crate::dialog::reply(&request, 200, None), from)
                    .await;
                None
            }
        }
    }
}

/// What the detectors make of the answered audio: the AMD decision, and the beep after it.
struct Listener {
    jitter: JitterBuffer,
    /// The law of the audio heard last (the answer chose it; a re-INVITE may change it).
    law: media::g711::Law,
    detector: Detector,
    beep: Option<BeepDetector>,
    fed: u64,
    samples: Vec<i16>,
    decided: bool,
    beeped: bool,
}

impl Listener {
    fn new(shared: &Shared, settings: &CallSettings) -> Listener {
        Listener {
            jitter: JitterBuffer::new(3),
            law: shared.laws[0],
            detector: Detector::new(&settings.amd),
            beep: None,
            fed: 0,
            samples: Vec::with_capacity(240),
            decided: false,
            beeped: false,
        }
    }

    fn want_beep(&mut self) {
        self.beep.get_or_insert_with(BeepDetector::new);
    }

    fn heard(&mut self, heard: Heard) -> Option<callprogress::Decision> {
        if let Some(law) = media::g711::Law::from_payload_type(heard.payload_type) {
            self.law = law;
        }
        let law = self.law;
        self.jitter.push(&media::rtp::Packet {
            payload_type: heard.payload_type,
            marker: false,
            seq: heard.seq,
            timestamp: heard.timestamp,
            ssrc: heard.ssrc,
            payload: &heard.payload,
        });
        let mut decision = None;
        while let Some(frame) = self.jitter.pop() {
            self.samples.clear();
            match frame {
                Frame::Audio {
                    payload,
                    payload_type,
                    samples,
                    ..
                } => {
                    if payload_type == law.payload_type() {
                        law.decode_into(payload, &mut self.samples)
                    } else {
                        // Telephone-event and comfort noise: time without speech.
                        self.samples.resize(samples as usize, 0)
                    }
                }
                Frame::Lost { samples } | Frame::Silence { samples } => {
                    self.samples.resize(samples as usize, 0)
                }
            }
            self.fed += self.samples.len() as u64;
            if !self.decided {
                if let Some(d) = self.detector.push(&self.samples) {
                    self.decided = true;
                    if d.verdict == callprogress::Verdict::Machine {
                        self.want_beep();
                    }
                    decision = Some(d);
                }
            } else if let Some(b) = &mut self.beep {
                if b.push(&self.samples).is_some() {
                    self.beeped = true;
                }
            }
        }
        decision
    }

    /// No audio is silence: when the packets stop (or never start), the detector is fed the
    /// missing time so it still decides within its analysis time.
    fn catch_up(&mut self, since_answer: Duration) -> Option<callprogress::Decision> {
        let due = since_answer.as_millis() as u64 * 8;
        let behind = due.saturating_sub(self.fed + 1600);
        if behind == 0 || self.decided {
            return None;
        }
        self.fed += behind;
        let d = self.detector.push_silence(behind as usize)?;
        self.decided = true;
        Some(d)
    }
}

fn early_media(tone: Tone) -> Option<EarlyMedia> {
    match tone {
        Tone::Ringback => Some(EarlyMedia::Ringback),
        Tone::Busy => Some(EarlyMedia::BusyTone),
        Tone::Sit => Some(EarlyMedia::Sit),
        Tone::Speech => Some(EarlyMedia::Announcement),
        Tone::Silence => None,
    }
}

/// The detector's decision in the carrier's terms.
pub fn amd_of(d: &callprogress::Decision) -> Amd {
    use callprogress::{Cause, Verdict as V};
    Amd {
        verdict: match d.verdict {
            V::Human => Verdict::Human,
            V::Machine => Verdict::Machine,
            V::NotSure => Verdict::NotSure,
        },
        cause: match d.cause {
            Cause::ShortGreeting => AmdCause::ShortGreeting,
            Cause::LongGreeting | Cause::MaxWordLength => AmdCause::LongGreeting,
            Cause::TooManyWords => AmdCause::TooManyWords,
            Cause::Beep => AmdCause::Beep,
            Cause::InitialSilence => AmdCause::InitialSilence,
            Cause::MaxTime => AmdCause::MaxTime,
        },
    }
}
