//! The SIP carrier against real peers: SIPp scenarios of our own acting as the trunk
//! (`tests/sip/`), baresip as the agent's auto-answering softphone. Each test places calls
//! through `SipCarrier` exactly as the campaign engine does (originate, then bridge, hang up
//! or cancel on its events) and checks what SIPp saw and what the carrier reported.
//!
//! The peers are Debian packages `.ci/run` installs (scripts/install-peers); a machine
//! without them fails here with the command that installs them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use carrier::{
    AmdCause, Carrier, CarrierError, CarrierEvent, EarlyMedia, EndCause, Events, Originate, Prompt,
    SipStatus, Verdict,
};
use telephony::config::{RecordingConfig, SipConfig, Transport, Trunk};
use telephony::{OutcomeClass, Report, SipCarrier, SipNetwork};
use testpeers::{Baresip, RtpListener, Sipp, fixtures, free_udp_port, require_tools};
use tokio::time::{Instant, timeout};

const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The prompts' tone, so what the debtor hears can be told from anything else.
const PROMPT_HZ: f64 = 600.0;

fn trunk(name: &str, port: u16) -> Trunk {
    Trunk {
        name: name.into(),
        uri: format!("sip:127.0.0.1:{port}"),
        transport: None,
        outbound_proxy: None,
        username: None,
        password: None,
        caller_id: None,
        headers: vec![("X-Campaign".into(), "test".into())],
    }
}

/// A 3 s tone at [`PROMPT_HZ`] as an 8 kHz mono WAV: the test's safe-harbor and voicemail
/// messages.
fn prompt_wav(dir: &Path, name: &str) -> PathBuf {
    let samples: Vec<i16> = (0..24_000)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (8000.0 * (2.0 * std::f64::consts::PI * PROMPT_HZ * t).sin()) as i16
        })
        .collect();
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let path = dir.join(format!("{name}.wav"));
    std::fs::write(&path, wav).expect("write prompt");
    path
}

struct Rig {
    carrier: Arc<SipCarrier>,
    events: Events,
    _dir: tempfile::TempDir,
}

async fn start_rig(trunks: Vec<Trunk>, tweak: impl FnOnce(&mut SipConfig, &Path)) -> Rig {
    require_tools();
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = SipConfig::single(trunks[0].clone());
    cfg.trunks = trunks;
    cfg.bind = "127.0.0.1:0".parse().expect("addr");
    cfg.ring_timeout_s = 15;
    cfg.safe_harbor_wav = Some(prompt_wav(dir.path(), "safe_harbor"));
    cfg.voicemail_wav = Some(prompt_wav(dir.path(), "voicemail"));
    let recordings = dir.path().join("recordings");
    tweak(&mut cfg, &recordings);
    let network = SipNetwork::start(&cfg).await.expect("user agent");
    let (carrier, events) = network.carrier();
    Rig {
        carrier,
        events,
        _dir: dir,
    }
}

fn originate(call: u64, number: &str) -> Originate {
    Originate {
        call,
        to: number.into(),
        caller_id: "+15550100000".into(),
        ring_timeout: carrier::MIN_RING,
    }
}

/// Logs the agent in at its softphone and waits for the nailed-up leg.
async fn log_in(rig: &Rig, agent: &Baresip) -> String {
    let endpoint = agent.uri();
    rig.carrier.agent_login(&endpoint);
    let up = Instant::now() + Duration::from_secs(10);
    while !rig.carrier.agent_ready(&endpoint) {
        assert!(
            Instant::now() < up,
            "the softphone leg came up: {}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    endpoint
}

/// What the engine would do with each verdict.
#[derive(Clone, Copy)]
enum Policy {
    /// Nobody free: hang up on a person with the safe-harbor message; on a machine leave the
    /// voicemail message.
    Abandon,
    /// Keep the call up this long, then hang up.
    HoldFor(Duration),
}

struct Seen {
    report: Report,
    events: Vec<CarrierEvent>,
    picked_up: Option<Instant>,
}

/// Places one call and drives it like the engine, until it ends.
async fn call(rig: &mut Rig, o: Originate, policy: Policy) -> Seen {
    let id = o.call;
    let handle = rig.carrier.place(o).expect("placed");
    let mut events = Vec::new();
    let mut picked_up = None;
    let deadline = Instant::now() + CALL_TIMEOUT;
    loop {
        let ev = timeout(deadline - Instant::now(), rig.events.recv())
            .await
            .expect("the call ends in time")
            .expect("events");
        match &ev {
            CarrierEvent::PickedUp { .. } => picked_up = Some(Instant::now()),
            CarrierEvent::Answered { call, amd } => match policy {
                Policy::Abandon => {
                    let prompt = match amd.verdict {
                        Verdict::Machine => Prompt::Voicemail {
                            template: "vm".into(),
                        },
                        _ => Prompt::SafeHarbor {
                            template: "sh".into(),
                        },
                    };
                    rig.carrier.hangup(*call, Some(prompt)).expect("hangup");
                }
                Policy::HoldFor(d) => {
                    let carrier = rig.carrier.clone();
                    let call = *call;
                    tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        let _ = carrier.hangup(call, None);
                    });
                }
            },
            _ => {}
        }
        let ended = matches!(ev, CarrierEvent::Ended { call, .. } if call == id);
        events.push(ev);
        if ended {
            break;
        }
    }
    let report = handle.await.expect("call task");
    Seen {
        report,
        events,
        picked_up,
    }
}

fn verdict(seen: &Seen) -> Option<(Verdict, AmdCause)> {
    seen.report.amd.map(|a| (a.verdict, a.cause))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_answers_and_hears_the_safe_harbor_message_before_bye() {
    let port = free_udp_port();
    let listener = RtpListener::bind();
    let mut sipp = Sipp::builder("human")
        .sip_port(port)
        .rtp_port(listener.port())
        .spawn()
        .expect("sipp");
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230001"), Policy::Abandon).await;
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(
        verdict(&seen),
        Some((Verdict::Human, AmdCause::ShortGreeting))
    );
    assert_eq!(seen.report.class, OutcomeClass::Answered);
    assert_eq!(seen.report.end.cause, EndCause::LocalHangup);
    assert_eq!(seen.report.end.status, SipStatus::OK);
    let t = seen.report.end.timings;
    assert!(
        t.progress.is_some() && t.answer.is_some() && t.verdict.is_some(),
        "{t:?}"
    );
    assert!(t.progress <= t.answer && t.answer <= t.verdict, "{t:?}");
    // The whole message (3 s: 150 packets) reached the debtor before the BYE ended the call.
    let heard = listener.samples();
    assert!(
        listener.packet_count() >= 70,
        "{} packets",
        listener.packet_count()
    );
    let level = testpeers::tone_level(&heard, 8000, PROMPT_HZ);
    assert!(level > 1000.0, "the message's tone: {level}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_gets_the_voicemail_message_after_its_beep() {
    let port = free_udp_port();
    let listener = RtpListener::bind();
    let mut sipp = Sipp::builder("machine")
        .sip_port(port)
        .rtp_port(listener.port())
        .spawn()
        .expect("sipp");
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230002"), Policy::Abandon).await;
    let sipp = sipp.wait(Duration::from_secs(30)).await;
    assert!(sipp.success, "{sipp}");
    let (v, cause) = verdict(&seen).expect("a verdict");
    assert_eq!(v, Verdict::Machine, "{cause:?}");
    assert!(
        matches!(cause, AmdCause::LongGreeting | AmdCause::TooManyWords),
        "{cause:?}"
    );
    // The greeting's beep ends 8.4 s into the answer: nothing is said to a machine before it.
    let picked = seen.picked_up.expect("picked up");
    let packets = listener.packets();
    let first = packets.first().expect("the voicemail message was sent");
    let after = first.at.duration_since(picked.into_std());
    assert!(
        after >= Duration::from_millis(8300),
        "message {after:?} after the answer"
    );
    assert!(packets.len() >= 70, "{} packets", packets.len());
    assert_eq!(seen.report.end.cause, EndCause::LocalHangup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_is_busy_with_its_q850_cause() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("busy", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230003"), Policy::Abandon).await;
    assert!(sipp.wait(Duration::from_secs(10)).await.success);
    let r = &seen.report;
    assert_eq!((r.class, r.end.cause), (OutcomeClass::Busy, EndCause::Busy));
    assert_eq!((r.end.status.0, r.end.q850.map(|q| q.0)), (486, Some(17)));
    assert!(r.amd.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_is_cancelled_at_the_ring_timeout_never_before_the_minimum_ring() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("no_answer", port, &[]);
    let rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let handle = rig
        .carrier
        .place(originate(1, "+15551230004"))
        .expect("placed");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The engine may not cancel before the minimum ring (US-TCPA-02).
    assert!(matches!(
        rig.carrier.cancel(1),
        Err(CarrierError::TooEarlyToCancel { .. })
    ));
    let report = timeout(CALL_TIMEOUT, handle)
        .await
        .expect("ends")
        .expect("task");
    let sipp = sipp.wait(Duration::from_secs(10)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(report.class, OutcomeClass::NoAnswer);
    assert_eq!(report.end.cause, EndCause::NoAnswer);
    assert_eq!(report.end.status.0, 487);
    let cancel = sipp.received_requests("CANCEL");
    assert_eq!(cancel.len(), 1, "one CANCEL");
    assert!(
        report.end.timings.end >= carrier::MIN_RING,
        "{:?}",
        report.end.timings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sit_in_early_media_then_404_is_an_invalid_number() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("sit", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230005"), Policy::Abandon).await;
    assert!(sipp.wait(Duration::from_secs(15)).await.success);
    let r = &seen.report;
    assert_eq!(
        (r.class, r.end.cause),
        (OutcomeClass::Invalid, EndCause::Sit)
    );
    assert_eq!(r.end.early_media, Some(EarlyMedia::Sit));
    assert_eq!((r.end.status.0, r.end.q850.map(|q| q.0)), (404, Some(1)));
    assert!(
        seen.events
            .iter()
            .any(|e| matches!(e, CarrierEvent::Progress { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringback_in_early_media_then_a_person() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("ringback_answer", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230006"), Policy::Abandon).await;
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    assert!(seen.events.iter().any(|e| matches!(
        e,
        CarrierEvent::Progress {
            media: EarlyMedia::Ringback,
            ..
        }
    )));
    assert_eq!(seen.report.end.early_media, Some(EarlyMedia::Ringback));
    assert_eq!(verdict(&seen).map(|v| v.0), Some(Verdict::Human));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_challenge_is_answered_and_wrong_credentials_fail() {
    for (scenario, password, answered) in [
        ("digest", "secret", true),
        ("digest_proxy", "secret", true),
        ("digest", "wrong", false),
    ] {
        let port = free_udp_port();
        let mut sipp = Sipp::builder(scenario)
            .sip_port(port)
            .auth("dialer", "secret")
            .spawn()
            .expect("sipp");
        let mut t = trunk("a", port);
        t.username = Some("dialer".into());
        t.password = Some(password.into());
        let mut rig = start_rig(vec![t], |_, _| {}).await;
        let seen = call(&mut rig, originate(1, "+15551230007"), Policy::Abandon).await;
        let result = sipp.wait(Duration::from_secs(20)).await;
        if answered {
            assert!(result.success, "{scenario}: {result}");
            assert_eq!(seen.report.class, OutcomeClass::Answered, "{scenario}");
            if scenario == "digest_proxy" {
                testpeers::digest::verify(&result.messages, "dialer", "secret")
                    .expect("Proxy-Authorization for the right password");
            }
        } else {
            assert!(result.logged("auth=invalid"), "{result}");
            assert_eq!(seen.report.end.status.0, 403);
            assert_eq!(seen.report.class, OutcomeClass::Failed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_trouble_moves_the_call_to_the_next_trunk() {
    let (first, second) = (free_udp_port(), free_udp_port());
    let mut down = Sipp::uas("unavailable", first, &[]);
    let mut up = Sipp::uas("human", second, &[]);
    let mut rig = start_rig(
        vec![trunk("first", first), trunk("second", second)],
        |_, _| {},
    )
    .await;
    let seen = call(&mut rig, originate(1, "+15551230008"), Policy::Abandon).await;
    assert!(down.wait(Duration::from_secs(10)).await.success);
    assert!(up.wait(Duration::from_secs(20)).await.success);
    assert_eq!(seen.report.trunk.as_deref(), Some("second"));
    assert_eq!(seen.report.class, OutcomeClass::Answered);
    // Every trunk in trouble: not connected, so not a counted attempt (US-REGF-10).
    let port = free_udp_port();
    let mut only = Sipp::uas("unavailable", port, &[]);
    let mut rig = start_rig(vec![trunk("only", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(2, "+15551230009"), Policy::Abandon).await;
    assert!(only.wait(Duration::from_secs(10)).await.success);
    assert_eq!(seen.report.class, OutcomeClass::TrunkTrouble);
    assert_eq!(seen.report.end.cause, EndCause::Failed);
    assert_eq!(
        (seen.report.end.status.0, seen.report.end.q850.map(|q| q.0)),
        (503, Some(38))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_racing_our_cancel_is_acknowledged_and_hung_up() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("cancel_race", port, &[]);
    let rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let mut o = originate(1, "+15551230010");
    o.ring_timeout = Duration::from_secs(60);
    let handle = rig.carrier.place(o).expect("placed");
    tokio::time::sleep(carrier::MIN_RING + Duration::from_millis(200)).await;
    rig.carrier
        .cancel(1)
        .expect("cancel after the minimum ring");
    let report = timeout(CALL_TIMEOUT, handle)
        .await
        .expect("ends")
        .expect("task");
    let sipp = sipp.wait(Duration::from_secs(10)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(report.end.cause, EndCause::Cancelled);
    assert_eq!(report.end.status, SipStatus::OK);
    assert_eq!(sipp.received_requests("BYE").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trunk_hangs_up_and_puts_us_on_hold() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("human_hangs_up", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(
        &mut rig,
        originate(1, "+15551230011"),
        Policy::HoldFor(Duration::from_secs(60)),
    )
    .await;
    assert!(sipp.wait(Duration::from_secs(20)).await.success);
    assert_eq!(seen.report.end.cause, EndCause::RemoteHangup);

    // The debtor hangs up while the safe-harbor message plays (3 s from the verdict, about
    // 1.8 s after the answer; the BYE comes 3 s after it): their BYE ends the call, no BYE
    // of ours follows.
    let port = free_udp_port();
    let mut sipp = Sipp::uas("human_hangs_up", port, &[("talk_ms", "0")]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(&mut rig, originate(3, "+15551230017"), Policy::Abandon).await;
    let result = sipp.wait(Duration::from_secs(20)).await;
    assert!(result.success, "{result}");
    assert_eq!(seen.report.end.cause, EndCause::RemoteHangup);
    assert!(result.received_requests("BYE").is_empty(), "{result}");

    let port = free_udp_port();
    let mut sipp = Sipp::uas("hold", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let seen = call(
        &mut rig,
        originate(2, "+15551230012"),
        Policy::HoldFor(Duration::from_secs(7)),
    )
    .await;
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(seen.report.end.cause, EndCause::LocalHangup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tcp() {
    let port = free_udp_port();
    let mut sipp = Sipp::builder("human")
        .sip_port(port)
        .transport(testpeers::Transport::Tcp)
        .spawn()
        .expect("sipp");
    let mut t = trunk("a", port);
    t.transport = Some(Transport::Tcp);
    let mut rig = start_rig(vec![t], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230013"), Policy::Abandon).await;
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(verdict(&seen).map(|v| v.0), Some(Verdict::Human));
}

/// An agent's nailed-up leg: baresip auto-answers the dialer's call at login; a person's call
/// is bridged to it, the agent hears the debtor, and the recording holds both parties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_is_bridged_to_the_agents_softphone_and_recorded() {
    let agent = Baresip::agent(free_udp_port(), &fixtures().agent_voice.wav);
    let port = free_udp_port();
    let mut sipp = Sipp::uas("human", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |c, dir| {
        c.recording = Some(RecordingConfig {
            dir: dir.to_path_buf(),
            format: "pcm16".into(),
            retention_days: 30,
        });
    })
    .await;
    let endpoint = log_in(&rig, &agent).await;
    let handle = rig
        .carrier
        .place(originate(1, "+15551230014"))
        .expect("placed");
    let mut bridged_at = None;
    let mut reference = None;
    loop {
        let ev = timeout(CALL_TIMEOUT, rig.events.recv())
            .await
            .expect("event")
            .expect("open");
        match ev {
            CarrierEvent::Answered { call, amd } => {
                assert_eq!(amd.verdict, Verdict::Human);
                let t = Instant::now();
                rig.carrier.bridge(call, &endpoint).expect("bridge");
                bridged_at = Some(t);
            }
            CarrierEvent::Bridged { call, .. } => {
                // Only a change of media path: printed, not asserted (tests do not time).
                let connect = bridged_at.map(|t| t.elapsed());
                println!("bridge to Bridged: {connect:?}");
                let carrier = rig.carrier.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let _ = carrier.hangup(call, None);
                });
            }
            CarrierEvent::Recorded { reference: r, .. } => reference = Some(r),
            CarrierEvent::Ended { .. } => break,
            _ => {}
        }
    }
    let report = handle.await.expect("task");
    assert!(sipp.wait(Duration::from_secs(20)).await.success);
    assert_eq!(report.end.cause, EndCause::LocalHangup);
    // The agent heard the debtor: the debtor's speech is in what baresip recorded.
    let heard = testpeers::energy(&agent.recorded());
    assert!(heard > 200.0, "energy heard by the agent: {heard}");
    // The recording: two channels, each holding one party, and its hash on the outcome.
    let recorded = report.recording.expect("recorded");
    let reference = reference.expect("Recorded event");
    assert!(reference.contains(&recorded.sha256_hex), "{reference}");
    assert!(reference.ends_with("retain_days=30"), "{reference}");
    let wav = testpeers::read_wav(&recorded.path).expect("wav");
    assert_eq!(wav.channels, 2);
    let energies = wav.channel_energies();
    assert!(energies[0] > 200.0 && energies[1] > 200.0, "{energies:?}");
    let bytes = std::fs::read(&recorded.path).expect("read");
    use sha2::Digest as _;
    let hash: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hash, recorded.sha256_hex);
    // The leg stays up for the next call (nailed-up) until the agent logs out.
    assert!(rig.carrier.agent_ready(&endpoint));
    rig.carrier.agent_logout(&endpoint);
}

/// The agent's softphone during a bridge: DTMF reaches the debtor, hold and resume are
/// answered, and hanging the softphone up ends the debtor's call; the leg comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sends_dtmf_holds_and_hangs_up_from_the_softphone() {
    let agent = Baresip::agent(free_udp_port(), &fixtures().agent_voice.wav);
    let port = free_udp_port();
    let debtor = RtpListener::bind();
    let mut sipp = Sipp::builder("human")
        .sip_port(port)
        .rtp_port(debtor.port())
        .spawn()
        .expect("sipp");
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let endpoint = log_in(&rig, &agent).await;
    let handle = rig
        .carrier
        .place(originate(1, "+15551230015"))
        .expect("placed");
    loop {
        let ev = timeout(CALL_TIMEOUT, rig.events.recv())
            .await
            .expect("event")
            .expect("open");
        match ev {
            CarrierEvent::Answered { call, .. } => {
                rig.carrier.bridge(call, &endpoint).expect("bridge")
            }
            CarrierEvent::Bridged { .. } => break,
            CarrierEvent::Ended { end, .. } => panic!("ended before the bridge: {end:?}"),
            _ => {}
        }
    }
    // The debtor talks from 3 s after the answer (the hello's end).
    tokio::time::sleep(Duration::from_secs(3)).await;
    agent.command("sndcode 5").await.expect("dtmf");
    tokio::time::sleep(Duration::from_millis(800)).await;
    agent.command("hold").await.expect("hold");
    tokio::time::sleep(Duration::from_secs(1)).await;
    agent.command("resume").await.expect("resume");
    tokio::time::sleep(Duration::from_secs(2)).await;
    agent.command("hangup").await.expect("hangup");
    let report = timeout(CALL_TIMEOUT, handle)
        .await
        .expect("ends")
        .expect("task");
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    // The agent hung up on the debtor: our BYE.
    assert_eq!(report.end.cause, EndCause::LocalHangup);
    assert_eq!(
        debtor.dtmf_digits(101),
        "5",
        "the debtor received the agent's DTMF"
    );
    // The agent heard the debtor: some half second of what it heard is speech (baresip
    // starts a new recording when the hold changes its audio stream: look at each).
    let loudest = agent
        .recordings()
        .iter()
        .filter_map(|r| testpeers::read_wav(&r.heard).ok())
        .flat_map(|heard| {
            (0..(heard.seconds() * 2.0) as usize)
                .map(|i| heard.between(i as f64 / 2.0, (i + 1) as f64 / 2.0).energy())
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max);
    assert!(loudest > 200.0, "the agent heard the debtor: {loudest}");
    // The leg comes back for the next call while the agent is logged in.
    let back = Instant::now() + Duration::from_secs(15);
    while !rig.carrier.agent_ready(&endpoint) {
        assert!(Instant::now() < back, "the leg came back: {}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rig.carrier.agent_logout(&endpoint);
}

/// A-law both ways and 30 ms packets: the trunk answers PCMA with `a=ptime:30`, AMD hears a
/// person (in 20 ms packets from SIPp), and the message reaches the debtor in 30 ms A-law.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_law_and_30_ms_packets() {
    let port = free_udp_port();
    let listener = RtpListener::bind();
    let mut sipp = Sipp::builder("human")
        .sip_port(port)
        .codec(testpeers::Codec::Pcma)
        .key("ptime", 30)
        .rtp_port(listener.port())
        .spawn()
        .expect("sipp");
    let mut rig = start_rig(vec![trunk("a", port)], |c, _| c.ptime_ms = 30).await;
    let seen = call(&mut rig, originate(1, "+15551230016"), Policy::Abandon).await;
    let sipp = sipp.wait(Duration::from_secs(20)).await;
    assert!(sipp.success, "{sipp}");
    assert_eq!(verdict(&seen).map(|v| v.0), Some(Verdict::Human));
    let packets = listener.packets();
    assert!(packets.iter().all(|p| p.payload_type == 8), "A-law only");
    assert!(
        packets.iter().all(|p| p.payload.len() == 240),
        "30 ms packets"
    );
    let level = testpeers::tone_level(&listener.samples(), 8000, PROMPT_HZ);
    assert!(level > 1000.0, "the message's tone: {level}");
}

/// A trunk that stops sending RTP without a BYE (it lost the call): after `rtp_timeout_s`
/// of silence on the socket the call is hung up, not left open until the engine's limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_end_gone_silent_is_hung_up() {
    let port = free_udp_port();
    let once = fixtures().speech.rtp_stream(testpeers::Codec::Pcmu, 1);
    let mut sipp = Sipp::builder("human")
        .sip_port(port)
        .key("speech_loop", &once)
        .spawn()
        .expect("sipp");
    let mut rig = start_rig(vec![trunk("a", port)], |c, _| c.rtp_timeout_s = 2).await;
    // The engine would keep the call for five minutes: the silence ends it first (the
    // call's own timeout, CALL_TIMEOUT, fails the test otherwise).
    let seen = call(
        &mut rig,
        originate(1, "+15551230018"),
        Policy::HoldFor(Duration::from_secs(300)),
    )
    .await;
    let result = sipp.wait(Duration::from_secs(20)).await;
    assert!(result.success, "{result}");
    assert_eq!(seen.report.end.cause, EndCause::LocalHangup);
    assert_eq!(result.received_requests("BYE").len(), 1);
}

/// A trunk that makes us the session-timer refresher (RFC 4028): we refresh with UPDATE at
/// half the interval, 45 s into the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_refreshed_when_the_trunk_asks_us_to() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("session_timer", port, &[]);
    let mut rig = start_rig(vec![trunk("a", port)], |_, _| {}).await;
    let handle = rig
        .carrier
        .place(originate(1, "+15551230019"))
        .expect("placed");
    let answered = loop {
        let ev = timeout(CALL_TIMEOUT, rig.events.recv())
            .await
            .expect("event")
            .expect("open");
        match ev {
            CarrierEvent::Answered { call, .. } => break call,
            CarrierEvent::Ended { end, .. } => panic!("ended: {end:?}"),
            _ => {}
        }
    };
    // Keep the call past the refresh (45 s after the 200), then hang up.
    let deadline = Instant::now() + Duration::from_secs(70);
    while !sipp.log().contains("refreshed") {
        assert!(
            !handle.is_finished() && Instant::now() < deadline,
            "no refresh: {}",
            sipp.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rig.carrier.hangup(answered, None).expect("hangup");
    let report = timeout(CALL_TIMEOUT, handle)
        .await
        .expect("ends")
        .expect("task");
    let result = sipp.wait(Duration::from_secs(20)).await;
    assert!(result.success, "{result}");
    assert_eq!(report.end.cause, EndCause::LocalHangup);
    assert_eq!(result.received_requests("UPDATE").len(), 1);
}

/// A trunk reached through an outbound proxy: every request goes to the proxy, the
/// Request-URI names the trunk; caller ID, P-Asserted-Identity and the trunk's extra headers
/// are on the INVITE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_outbound_proxy_with_caller_id_and_extra_headers() {
    let port = free_udp_port();
    let mut sipp = Sipp::uas("human", port, &[]);
    let mut t = trunk("proxied", 5060);
    t.uri = "sip:trunk.invalid:5060".into();
    t.outbound_proxy = Some(format!("127.0.0.1:{port}"));
    let mut rig = start_rig(vec![t], |_, _| {}).await;
    let seen = call(&mut rig, originate(1, "+15551230020"), Policy::Abandon).await;
    let result = sipp.wait(Duration::from_secs(20)).await;
    assert!(result.success, "{result}");
    assert_eq!(seen.report.class, OutcomeClass::Answered);
    let invites = result.received_requests("INVITE");
    let invite = invites.first().expect("an INVITE");
    assert_eq!(
        invite.start_line(),
        "INVITE sip:+15551230020@trunk.invalid:5060 SIP/2.0"
    );
    assert!(
        invite
            .header("From")
            .is_some_and(|f| f.contains("+15550100000"))
    );
    assert!(
        invite
            .header("P-Asserted-Identity")
            .is_some_and(|f| f.contains("+15550100000"))
    );
    assert_eq!(invite.header("X-Campaign"), Some("test"));
    // The BYE went to the proxy too (SIPp saw it).
    assert_eq!(result.received_requests("BYE").len(), 1);
}
