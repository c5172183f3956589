//! The peers checked against each other before the dialer is checked against them: every
//! trunk scenario of `tests/sip/` driven by a SIPp stand-in dialer (`tests/sip/uac/`), with
//! the status codes, Reason headers and log lines it promises, and its early and answered
//! media heard on a socket; baresip answering a call, recording the caller's audio, talking
//! back and obeying commands; and the fixtures' lengths and tones.
//!
//! The cases of a test run concurrently (their time is mostly waiting for scenario timers),
//! so the whole check takes about as long as its longest case.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use testpeers::{
    Baresip, Codec, LoggedMessage, RtpListener, Sipp, SippResult, Transport, Wav, digest, energy,
    fixtures, free_udp_port, mean_abs, read_wav, require_tools, tone_level,
};

/// Long enough for any case; a wedged SIPp is killed and reported, not waited for forever.
const WAIT: Duration = Duration::from_secs(60);

/// Speech (and tones) at the fixtures' level measure in the thousands; G.711 silence near 0.
const AUDIBLE: f64 = 300.0;
const SILENT: f64 = 30.0;

type Outcome = Result<(), String>;
type Case = (&'static str, Pin<Box<dyn Future<Output = Outcome> + Send>>);

fn case<F>(name: &'static str, future: F) -> Case
where
    F: Future<Output = Outcome> + Send + 'static,
{
    (name, Box::pin(future))
}

/// Runs the cases concurrently and fails with every failure, not only the first.
async fn run_all(cases: Vec<Case>) {
    require_tools();
    let _ = fixtures();
    let mut set = tokio::task::JoinSet::new();
    for (name, future) in cases {
        set.spawn(async move { (name, future.await) });
    }
    let mut failures = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((name, Err(why))) => failures.push(format!("== {name}: {why}")),
            Err(e) => failures.push(format!("== a case panicked: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn ensure(condition: bool, why: impl FnOnce() -> String) -> Outcome {
    if condition { Ok(()) } else { Err(why()) }
}

fn ok(result: &SippResult) -> Outcome {
    ensure(result.success, || result.to_string())
}

fn logged(result: &SippResult, text: &str) -> Outcome {
    ensure(result.logged(text), || {
        format!("no log line with {text:?}\n{result}")
    })
}

/// The responses a stand-in dialer received with `status`.
fn responses(result: &SippResult, status: u16) -> Vec<LoggedMessage> {
    result
        .messages()
        .into_iter()
        .filter(|m| m.received && m.status() == Some(status))
        .collect()
}

fn spawn(builder: testpeers::SippBuilder) -> Result<Sipp, String> {
    builder.spawn().map_err(|e| e.to_string())
}

/// A trunk scenario and a stand-in dialer calling it over UDP; the dialer's SDP points at
/// `ear`.
fn pair(
    uas: testpeers::SippBuilder,
    uac: &str,
    ear: &RtpListener,
    uac_keys: &[(&str, &str)],
) -> Result<(Sipp, Sipp), String> {
    pair_over(Transport::Udp, uas, uac, ear, uac_keys)
}

fn pair_over(
    transport: Transport,
    uas: testpeers::SippBuilder,
    uac: &str,
    ear: &RtpListener,
    uac_keys: &[(&str, &str)],
) -> Result<(Sipp, Sipp), String> {
    let trunk = spawn(uas.transport(transport))?;
    let dialer = spawn(
        Sipp::builder(uac)
            .transport(transport)
            .remote(trunk.addr())
            .service("14045550100")
            .rtp_port(ear.port())
            .keys(uac_keys),
    )?;
    Ok((trunk, dialer))
}

async fn both(trunk: &mut Sipp, dialer: &mut Sipp) -> (SippResult, SippResult) {
    let dialer = dialer.wait(WAIT).await;
    let trunk = trunk.wait(WAIT).await;
    (trunk, dialer)
}

fn samples_between(ear: &RtpListener, from: f64, to: f64) -> Vec<i16> {
    ear.wav().between(from, to).samples
}

// ---------------------------------------------------------------------------------------

#[test]
fn fixtures_have_the_lengths_and_tones_the_scenarios_time_against() {
    require_tools();
    let fx = fixtures();
    let wav = |path: &std::path::Path| -> Wav { read_wav(path).unwrap() };
    let secs = |path: &std::path::Path| wav(path).seconds();
    for clip in [
        &fx.hello,
        &fx.speech,
        &fx.greeting_beep,
        &fx.sit,
        &fx.ringback,
        &fx.agent_voice,
        &fx.silence,
    ] {
        let w = wav(&clip.wav);
        assert_eq!(
            (w.sample_rate, w.channels),
            (8000, 1),
            "{}",
            clip.wav.display()
        );
        let frames = w.samples.len() as u64;
        assert_eq!(std::fs::metadata(&clip.pcmu).unwrap().len(), frames);
        assert_eq!(std::fs::metadata(&clip.pcma).unwrap().len(), frames);
    }
    assert!((secs(&fx.hello.wav) - 3.0).abs() < 0.01);
    assert!((secs(&fx.greeting_beep.wav) - 9.0).abs() < 0.01);
    assert!((secs(&fx.sit.wav) - 5.0).abs() < 0.01);
    assert!((secs(&fx.ringback.wav) - 6.0).abs() < 0.01);

    let hello = wav(&fx.hello.wav);
    assert!(hello.between(0.0, 0.8).energy() > AUDIBLE);
    assert!(
        hello.between(1.2, 3.0).energy() < SILENT,
        "the hello ends in silence"
    );
    assert!(energy(&fx.speech.wav) > AUDIBLE && energy(&fx.agent_voice.wav) > AUDIBLE);
    assert!(energy(&fx.silence.wav) < 1.0);

    let machine = wav(&fx.greeting_beep.wav);
    assert!(
        machine.between(0.0, 7.0).energy() > AUDIBLE,
        "a long greeting"
    );
    let beep = machine.between(8.05, 8.35).samples;
    assert!(
        tone_level(&beep, 8000, 1000.0) > 8000.0,
        "a 1 kHz beep at 8 s"
    );
    assert!(machine.between(8.45, 9.0).energy() < SILENT);

    let sit = wav(&fx.sit.wav);
    for (from, to, freq) in [
        (0.02, 0.25, 913.8),
        (0.30, 0.52, 1370.6),
        (0.57, 0.92, 1776.7),
    ] {
        let segment = sit.between(from, to).samples;
        assert!(tone_level(&segment, 8000, freq) > 5000.0, "SIT {freq} Hz");
    }
    assert!(sit.between(1.2, 4.0).energy() > AUDIBLE, "the announcement");

    let ringback = wav(&fx.ringback.wav).between(0.0, 2.0).samples;
    let (l440, l480) = (
        tone_level(&ringback, 8000, 440.0),
        tone_level(&ringback, 8000, 480.0),
    );
    assert!(
        l440 > 5000.0 && l480 > 5000.0,
        "440 Hz {l440:.0}, 480 Hz {l480:.0}"
    );
    assert!(
        (l440 - l480).abs() < 0.1 * l440,
        "equal levels: {l440:.0} {l480:.0}"
    );
    assert!(tone_level(&ringback, 8000, 1000.0) < 200.0);
    assert!(wav(&fx.ringback.wav).between(2.1, 6.0).energy() < SILENT);
}

// ---------------------------------------------------------------------------------------

/// A person answers; each side hears the other (the trunk's SDP points at its own ear).
async fn human(transport: Transport) -> Outcome {
    let dialer_ear = RtpListener::bind();
    let trunk_ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair_over(
        transport,
        Sipp::builder("human")
            .rtp_port(trunk_ear.port())
            .key("ring_ms", 200),
        "uac/answered",
        &dialer_ear,
        &[("talk_ms", "5000")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&t, "answered")?;
    logged(&t, "talking")?;
    logged(&t, "bye from uac")?;
    ensure(t.received_requests("ACK").len() == 1, || {
        format!("one ACK\n{t}")
    })?;
    let hello = mean_abs(&samples_between(&dialer_ear, 0.0, 0.8));
    let pause = mean_abs(&samples_between(&dialer_ear, 1.2, 2.7));
    let talk = mean_abs(&samples_between(&dialer_ear, 3.0, 4.5));
    eprintln!(
        "human {transport:?}: dialer heard hello {hello:.0}, pause {pause:.0}, talk {talk:.0}; trunk heard {:.0}",
        trunk_ear.energy()
    );
    ensure(hello > AUDIBLE && pause < SILENT && talk > AUDIBLE, || {
        format!("the dialer should hear hello, silence, speech: {hello:.0} {pause:.0} {talk:.0}")
    })?;
    ensure(trunk_ear.energy() > AUDIBLE, || {
        format!(
            "the trunk's ear heard {:.0} from the dialer",
            trunk_ear.energy()
        )
    })
}

async fn human_hangs_up() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("human_hangs_up")
            .key("ring_ms", 200)
            .key("talk_ms", 1000),
        "uac/hangup_by_peer",
        &ear,
        &[],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&t, "bye from trunk")?;
    logged(&d, "bye from peer")?;
    ensure(ear.energy() > AUDIBLE, || "no audio before the BYE".into())
}

/// The greeting, the beep at 8 s, silence; the trunk's ear hears the voicemail drop.
async fn machine() -> Outcome {
    let dialer_ear = RtpListener::bind();
    let trunk_ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("machine")
            .rtp_port(trunk_ear.port())
            .key("ring_ms", 200),
        "uac/answered",
        &dialer_ear,
        &[("talk_ms", "11000")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&t, "after beep")?;
    let greeting = mean_abs(&samples_between(&dialer_ear, 0.0, 7.0));
    let beep = tone_level(&samples_between(&dialer_ear, 8.05, 8.35), 8000, 1000.0);
    let after = mean_abs(&samples_between(&dialer_ear, 8.5, 10.5));
    eprintln!(
        "machine: greeting {greeting:.0}, 1 kHz beep {beep:.0}, after {after:.0}; drop heard {:.0}",
        trunk_ear.energy()
    );
    ensure(
        greeting > AUDIBLE && beep > 5000.0 && after < SILENT,
        || format!("greeting {greeting:.0}, beep {beep:.0}, after {after:.0}"),
    )?;
    ensure(trunk_ear.energy() > AUDIBLE, || {
        "the drop was not heard".into()
    })
}

async fn ringback_answer() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("ringback_answer").key("ringback_ms", 3000),
        "uac/answered",
        &ear,
        &[("talk_ms", "2000")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    let early = responses(&d, 183);
    ensure(
        early.len() == 1 && early[0].body().contains("m=audio"),
        || format!("one 183 with SDP\n{d}"),
    )?;
    let ring = samples_between(&ear, 0.1, 1.9);
    let (l440, l480) = (
        tone_level(&ring, 8000, 440.0),
        tone_level(&ring, 8000, 480.0),
    );
    let off = mean_abs(&samples_between(&ear, 2.1, 2.9));
    let hello = mean_abs(&samples_between(&ear, 3.0, 3.8));
    eprintln!("ringback: 440 Hz {l440:.0}, 480 Hz {l480:.0}, off {off:.0}, hello {hello:.0}");
    ensure(
        l440 > 2000.0 && l480 > 2000.0 && off < SILENT && hello > AUDIBLE,
        || format!("ringback 440 {l440:.0} 480 {l480:.0}, off {off:.0}, then hello {hello:.0}"),
    )
}

async fn refused(scenario: &'static str, status: u16, cause: &'static str) -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(Sipp::builder(scenario), "uac/rejected", &ear, &[])?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    let finals = responses(&d, status);
    let reason = finals
        .first()
        .and_then(|m| m.header("Reason"))
        .unwrap_or_default();
    ensure(finals.len() == 1 && reason.contains(cause), || {
        format!("a {status} with Reason {cause}, got {reason:?}\n{d}")
    })?;
    ensure(t.received_requests("ACK").len() == 1, || {
        format!("the ACK\n{t}")
    })
}

/// 183 with the three SIT tones and an announcement as early media, then 404 cause 1.
async fn sit() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(Sipp::builder("sit"), "uac/rejected", &ear, &[])?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    ensure(responses(&d, 183).len() == 1, || format!("a 183\n{d}"))?;
    let not_found = responses(&d, 404);
    let reason = not_found
        .first()
        .and_then(|m| m.header("Reason"))
        .unwrap_or_default();
    ensure(
        reason.contains("cause=1;") || reason.ends_with("cause=1"),
        || format!("404 with cause 1, got {reason:?}"),
    )?;
    for (from, to, freq) in [
        (0.02, 0.25, 913.8),
        (0.30, 0.52, 1370.6),
        (0.57, 0.92, 1776.7),
    ] {
        let level = tone_level(&samples_between(&ear, from, to), 8000, freq);
        ensure(level > 3000.0, || {
            format!("SIT {freq} Hz heard at {level:.0}")
        })?;
    }
    let announcement = mean_abs(&samples_between(&ear, 1.2, 4.0));
    ensure(announcement > AUDIBLE, || {
        format!("announcement {announcement:.0}")
    })
}

async fn no_answer() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("no_answer"),
        "uac/cancel",
        &ear,
        &[("ring_ms", "1000")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&t, "cancel")?;
    logged(&d, "terminated 487")?;
    let reason = responses(&d, 487)
        .first()
        .and_then(|m| m.header("Reason").map(str::to_string))
        .unwrap_or_default();
    ensure(reason.contains("cause=19"), || {
        format!("487 Reason {reason:?}")
    })
}

async fn cancel_race() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("cancel_race"),
        "uac/cancel",
        &ear,
        &[("ring_ms", "500")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&d, "answered after cancel")?;
    logged(&t, "bye from uac")?;
    ensure(t.received_requests("ACK").len() == 1, || {
        format!("the ACK of the 200\n{t}")
    })
}

async fn digest_case(scenario: &'static str, password: &'static str) -> Outcome {
    let ear = RtpListener::bind();
    let mut trunk = spawn(
        Sipp::builder(scenario)
            .auth("alice", "s3cret")
            .key("ring_ms", 200),
    )?;
    let mut dialer = spawn(
        Sipp::builder("uac/digest")
            .remote(trunk.addr())
            .service("14045550100")
            .rtp_port(ear.port())
            .auth("alice", password)
            .key("talk_ms", 1500),
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&d)?;
    let challenge = if scenario == "digest" { 401 } else { 407 };
    ensure(responses(&d, challenge).len() == 1, || {
        format!("a {challenge}\n{d}")
    })?;
    let verified = digest::verify(&t.messages, "alice", "s3cret");
    if password == "s3cret" {
        ok(&t)?;
        logged(&t, "auth=valid")?;
        ensure(verified.is_ok(), || format!("digest::verify: {verified:?}"))
    } else if scenario == "digest" {
        ensure(!t.success && t.logged("auth=invalid"), || {
            format!("should fail\n{t}")
        })?;
        ensure(responses(&d, 403).len() == 1, || format!("a 403\n{d}"))?;
        ensure(verified.is_err(), || {
            "digest::verify accepted a wrong password".into()
        })
    } else {
        // The 407 scenario checks the user only; the response is checked here.
        ensure(verified.is_err(), || {
            "digest::verify accepted a wrong password".into()
        })
    }
}

async fn hold() -> Outcome {
    let ear = RtpListener::bind();
    let (mut trunk, mut dialer) = pair(
        Sipp::builder("hold")
            .key("ring_ms", 200)
            .key("hold_after_ms", 1000)
            .key("hold_ms", 1500),
        "uac/hold",
        &ear,
        &[("talk_ms", "2000")],
    )?;
    let (t, d) = both(&mut trunk, &mut dialer).await;
    ok(&t)?;
    ok(&d)?;
    logged(&t, "held answer=recvonly")?;
    logged(&t, "resumed")?;
    let reinvites = d.received_requests("INVITE");
    ensure(
        reinvites.len() == 2
            && reinvites[0].body().contains("a=sendonly")
            && reinvites[1].body().contains("a=sendrecv"),
        || format!("re-INVITEs sendonly then sendrecv\n{d}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_scenarios_follow_their_script() {
    run_all(vec![
        case("human over UDP", human(Transport::Udp)),
        case("human over TCP", human(Transport::Tcp)),
        case("human_hangs_up", human_hangs_up()),
        case("machine", machine()),
        case("ringback_answer", ringback_answer()),
        case("hold", hold()),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_cancelled_scenarios_follow_their_script() {
    run_all(vec![
        case("busy", refused("busy", 486, "cause=17")),
        case("unavailable", refused("unavailable", 503, "cause=38")),
        case("sit", sit()),
        case("no_answer", no_answer()),
        case("cancel_race", cancel_race()),
        case("digest", digest_case("digest", "s3cret")),
        case("digest, wrong password", digest_case("digest", "wrong")),
        case("digest_proxy", digest_case("digest_proxy", "s3cret")),
        case(
            "digest_proxy, wrong password",
            digest_case("digest_proxy", "wrong"),
        ),
    ])
    .await;
}

/// Ten calls against one trunk: the last digit of the number picks the behaviour. The trunk is
/// stopped (SIGUSR1) when the dialer is done, as a campaign test would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mix_answers_a_known_mix() {
    require_tools();
    let ear = RtpListener::bind();
    // As in a campaign, the trunk does not know how many calls will come: stopped at the end.
    let mut trunk = Sipp::builder("mix")
        .calls(1000)
        .key("ring_ms", 300)
        .spawn()
        .unwrap();
    let mut dialer = Sipp::builder("uac/mix")
        .remote(trunk.addr())
        .service("140455501")
        .calls(10)
        .rate(5.0)
        .rtp_port(ear.port())
        .key("talk_ms", 1500)
        .spawn()
        .unwrap();
    let d = dialer.wait(WAIT).await;
    let t = trunk.stop(WAIT).await;
    assert!(d.success, "{d}");
    assert!(t.success, "{t}");
    let count = |what: &str| t.log.lines().filter(|l| l.contains(what)).count();
    // Calls 1..=10 dial 1404555011 ..= 14045550110: last digits 1-9 and 0.
    assert_eq!(count("behaviour=human"), 4, "{t}");
    assert_eq!(count("behaviour=machine"), 2, "{t}");
    assert_eq!(count("behaviour=busy"), 2, "{t}");
    assert_eq!(count("behaviour=no_answer"), 2, "{t}");
    assert_eq!(
        d.messages()
            .iter()
            .filter(|m| m.received && m.status() == Some(486))
            .count(),
        2
    );
    assert_eq!(
        d.messages()
            .iter()
            .filter(|m| m.received && m.status() == Some(487))
            .count(),
        2
    );
}

/// baresip answers a caller, records the caller's speech, talks back, sends DTMF, holds,
/// resumes and hangs up on command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_answers_records_talks_and_obeys() {
    require_tools();
    let fx = fixtures();
    let agent = Baresip::agent(free_udp_port(), &fx.agent_voice.wav);
    let ear = RtpListener::bind();
    let mut caller = Sipp::builder("uac/hangup_by_peer")
        .remote(agent.addr())
        .service("agent")
        .rtp_port(ear.port())
        .key("voice_loop", fx.speech.rtp_stream(Codec::Pcmu, -1))
        .spawn()
        .unwrap();
    let established = agent
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .await;
    assert!(
        established.is_some(),
        "no CALL_ESTABLISHED: {:?}\n{}",
        agent.events(),
        agent.log()
    );
    assert!(
        ear.wait_packets(100, Duration::from_secs(10)).await,
        "no RTP from baresip"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let status = agent.command("callstat").await.unwrap();
    assert!(status.contains("ESTABLISHED"), "{status}");
    agent.command("sndcode 5").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.command("hold").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.command("resume").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.command("hangup").await.unwrap();
    let closed = agent
        .wait_event("CALL_CLOSED", Duration::from_secs(10))
        .await;
    assert!(closed.is_some(), "no CALL_CLOSED");

    let c = caller.wait(WAIT).await;
    assert!(c.success, "{c}");
    assert!(c.logged("bye from peer"), "{c}");
    let reinvites = c.received_requests("INVITE");
    assert!(reinvites.len() >= 2, "hold and resume re-INVITEs\n{c}");
    assert!(reinvites[0].body().contains("a=sendonly"), "{c}");
    assert!(
        reinvites[reinvites.len() - 1].body().contains("a=sendrecv"),
        "{c}"
    );
    let refused = agent.command("nosuchcommand").await;
    assert!(refused.is_err(), "an unknown command: {refused:?}");

    let heard = energy(&agent.recorded());
    let said = energy(&agent.said());
    eprintln!(
        "baresip: heard {heard:.0}, said {said:.0}, caller heard {:.0}, digits {:?}",
        ear.energy(),
        ear.dtmf_digits(101)
    );
    assert!(
        heard > AUDIBLE,
        "the agent heard {heard:.0} of the caller's speech"
    );
    assert!(said > AUDIBLE, "the agent said {said:.0}");
    assert!(
        ear.energy() > AUDIBLE,
        "the caller heard {:.0} from the agent",
        ear.energy()
    );
    assert_eq!(ear.dtmf_digits(101), "5");
}
