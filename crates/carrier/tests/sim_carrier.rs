//! The simulated carrier on a paused tokio clock: outcome shares follow the attempt model,
//! ringing calls cannot be cancelled before 15 s, an abandoned live answer gets the
//! safe-harbor message, a bridged call ends when the person hangs up, and every end reports
//! what SIP signalling would.

use std::collections::HashMap;
use std::time::Duration;

use carrier::sim::SimCarrier;
use carrier::{
    CallId, Carrier, CarrierError, CarrierEvent, EndCause, Events, Originate, Prompt, Verdict,
};
use simulator::scenario::{Scenario, ScenarioId};

fn call(id: CallId) -> Originate {
    Originate {
        call: id,
        to: format!("+1404555{:04}", id % 10_000),
        caller_id: "+14045550100".to_string(),
        ring_timeout: Duration::from_secs(22),
    }
}

fn s1() -> Scenario {
    Scenario::get(ScenarioId::parse("S1").expect("S1"))
}

/// A network answering like S1 (seeded) with calls `0..n` placed.
fn dialed(n: u64, seed: u64) -> (SimCarrier, Events) {
    let (carrier, events) = SimCarrier::new(s1(), seed);
    for id in 0..n {
        carrier.originate(call(id)).expect("originate");
    }
    (carrier, events)
}

#[tokio::test(start_paused = true)]
async fn outcome_shares_follow_the_attempt_model() {
    const N: u64 = 4000;
    let (carrier, mut events) = dialed(N, 7);
    let mut ends: HashMap<EndCause, u64> = HashMap::new();
    let (mut human, mut machine) = (0u64, 0u64);
    let mut ended = 0;
    while ended < N {
        match events.recv().await.expect("event") {
            CarrierEvent::Answered { call, amd } if amd.verdict == Verdict::Human => {
                human += 1;
                carrier.bridge(call, "agent-1").expect("bridge");
            }
            CarrierEvent::Answered { call, amd } if amd.verdict == Verdict::Machine => {
                machine += 1;
                carrier.hangup(call, None).expect("hangup");
            }
            CarrierEvent::Answered { amd, .. } => panic!("the simulated AMD decides: {amd:?}"),
            CarrierEvent::Bridged { .. }
            | CarrierEvent::PickedUp { .. }
            | CarrierEvent::Recorded { .. }
            | CarrierEvent::Progress { .. } => {}
            CarrierEvent::Ended { end, .. } => {
                *ends.entry(end.cause).or_default() += 1;
                ended += 1;
            }
        }
    }
    let share = |n: u64| n as f64 / N as f64;
    let fast_fail = ends.get(&EndCause::Busy).copied().unwrap_or(0)
        + ends.get(&EndCause::Sit).copied().unwrap_or(0)
        + ends.get(&EndCause::Failed).copied().unwrap_or(0);
    // S1: 10 % fast failures, 30 % machines (10 % of them pass as human), 25 % live.
    assert!(
        (share(fast_fail) - 0.10).abs() < 0.02,
        "fast failures {}",
        share(fast_fail)
    );
    assert!(
        (share(machine) - 0.30 * 0.9).abs() < 0.03,
        "machine verdicts {}",
        share(machine)
    );
    assert!(
        (share(human) - (0.25 + 0.03)).abs() < 0.03,
        "human verdicts {}",
        share(human)
    );
    let no_answer = share(ends.get(&EndCause::NoAnswer).copied().unwrap_or(0));
    assert!((no_answer - 0.35).abs() < 0.03, "no answer {no_answer}");
    assert_eq!(carrier.in_progress(), 0);
}

#[tokio::test(start_paused = true)]
async fn ringing_calls_are_not_cancelled_before_fifteen_seconds() {
    // Find a call that rings past 15 s: dial until one is still ringing then.
    let (carrier, mut events) = dialed(200, 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ringing: Vec<CallId> = (0..200)
        .filter(|&id| {
            matches!(
                carrier.cancel(id),
                Err(CarrierError::TooEarlyToCancel { .. })
            )
        })
        .collect();
    assert!(!ringing.is_empty());
    tokio::time::sleep(Duration::from_secs(11)).await;
    let mut cancelled = 0;
    for id in ringing {
        if carrier.cancel(id).is_ok() {
            cancelled += 1;
        }
    }
    assert!(
        cancelled > 0,
        "some calls still ring at 16 s and may be cancelled"
    );
    let mut seen = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
        match ev {
            CarrierEvent::Ended { end, .. } if end.cause == EndCause::Cancelled => seen += 1,
            CarrierEvent::Answered { call, .. } => {
                let _ = carrier.hangup(call, None);
            }
            _ => {}
        }
    }
    assert_eq!(seen, cancelled);
    assert!(matches!(
        carrier.cancel(999_999),
        Err(CarrierError::UnknownCall(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_live_answer_hears_the_safe_harbor_message() {
    let (carrier, mut events) = dialed(100, 3);
    let message = Prompt::SafeHarbor {
        template: "uk-abandon-v1".to_string(),
    };
    let (mut abandoned, mut bridged_ended) = (None, 0);
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
        match ev {
            CarrierEvent::Answered { call, amd }
                if amd.verdict == Verdict::Human && abandoned.is_none() =>
            {
                // No agent free: abandon with the message.
                carrier.hangup(call, Some(message.clone())).expect("hangup");
                abandoned = Some(call);
            }
            CarrierEvent::Answered { call, amd } if amd.verdict == Verdict::Human => {
                carrier.bridge(call, "agent-7").expect("bridge");
                assert!(matches!(
                    carrier.bridge(call, "agent-8"),
                    Err(CarrierError::NotAnswered(_))
                ));
            }
            CarrierEvent::Answered { call, amd } if amd.verdict == Verdict::Machine => {
                carrier.hangup(call, None).expect("hangup");
            }
            CarrierEvent::Ended { end, .. } if end.cause == EndCause::RemoteHangup => {
                bridged_ended += 1
            }
            _ => {}
        }
    }
    let abandoned = abandoned.expect("a live answer among 100 calls");
    assert_eq!(carrier.prompts(), vec![(abandoned, message)]);
    assert!(
        bridged_ended > 0,
        "bridged calls end when the person hangs up"
    );
}

#[test]
fn bad_calls_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (carrier, _events) = SimCarrier::new(s1(), 1);
        let mut c = call(1);
        c.to = "4045550100".to_string();
        assert!(matches!(
            carrier.originate(c),
            Err(CarrierError::Invalid { field: "to", .. })
        ));
        let mut c = call(2);
        c.ring_timeout = Duration::from_secs(10);
        assert!(matches!(
            carrier.originate(c),
            Err(CarrierError::Invalid {
                field: "ring_timeout",
                ..
            })
        ));
        carrier.originate(call(3)).expect("originate");
        assert_eq!(
            carrier.originate(call(3)),
            Err(CarrierError::DuplicateCall(3))
        );
    });
}

#[tokio::test(start_paused = true)]
async fn a_faster_network_plays_the_same_calls_in_less_time() {
    // At 20x every call is over within 26 simulated seconds (the longest: a machine picking
    // up at 21.5 s and detected 4 s later), i.e. 1.3 s of tokio time; and
    // ringing calls still may not be cancelled before 15 simulated seconds.
    let (carrier, mut events) = SimCarrier::with_speed(s1(), 7, 20.0);
    let start = tokio::time::Instant::now();
    for id in 0..200 {
        carrier.originate(call(id)).expect("originate");
    }
    assert!(matches!(
        carrier.cancel(0),
        Err(CarrierError::TooEarlyToCancel { .. })
    ));
    let mut ended = 0;
    while ended < 200 {
        match events.recv().await.expect("event") {
            CarrierEvent::Answered { call, .. } => carrier.hangup(call, None).expect("hangup"),
            CarrierEvent::Ended { .. } => ended += 1,
            CarrierEvent::Bridged { .. }
            | CarrierEvent::PickedUp { .. }
            | CarrierEvent::Recorded { .. }
            | CarrierEvent::Progress { .. } => {}
        }
    }
    assert!(
        start.elapsed() <= Duration::from_millis(1_300),
        "{:?}",
        start.elapsed()
    );
}

/// Every end carries what a SIP trunk would report, consistent with its cause: the final
/// status and Q.850 cause, the early media heard, and timings in the order signalling gives
/// them; AMD verdicts carry their cause.
#[tokio::test(start_paused = true)]
async fn every_end_reports_what_signalling_would() {
    use carrier::{AmdCause, EarlyMedia, Q850, SipStatus};

    const N: u64 = 2000;
    let (carrier, mut events) = dialed(N, 11);
    let mut progress: HashMap<CallId, EarlyMedia> = HashMap::new();
    let mut causes: HashMap<EndCause, u64> = HashMap::new();
    let mut ended = 0;
    while ended < N {
        match events.recv().await.expect("event") {
            CarrierEvent::Progress { call, media } => {
                assert!(progress.insert(call, media).is_none(), "one 18x per call");
            }
            CarrierEvent::Answered { call, amd } => {
                match amd.verdict {
                    Verdict::Human => assert_eq!(amd.cause, AmdCause::ShortGreeting),
                    Verdict::Machine => assert!(matches!(
                        amd.cause,
                        AmdCause::LongGreeting | AmdCause::TooManyWords | AmdCause::Beep
                    )),
                    Verdict::NotSure => panic!("the simulated AMD always decides"),
                }
                carrier.hangup(call, None).expect("hangup");
            }
            CarrierEvent::Ended { call, end } => {
                ended += 1;
                *causes.entry(end.cause).or_default() += 1;
                assert_eq!(end.early_media, progress.get(&call).copied(), "{end:?}");
                let (status, q850) = (end.status, end.q850.expect("a Q.850 cause"));
                match end.cause {
                    EndCause::Busy => {
                        assert_eq!((status, q850), (SipStatus::BUSY_HERE, Q850::USER_BUSY));
                        assert!(matches!(end.early_media, None | Some(EarlyMedia::BusyTone)));
                    }
                    EndCause::Sit => {
                        assert!(
                            [
                                (SipStatus::NOT_FOUND, Q850::UNALLOCATED_NUMBER),
                                (SipStatus::GONE, Q850::NUMBER_CHANGED)
                            ]
                            .contains(&(status, q850))
                        );
                        assert_eq!(end.early_media, Some(EarlyMedia::Sit));
                    }
                    EndCause::Failed => {
                        assert_eq!(
                            (status, q850),
                            (SipStatus::SERVICE_UNAVAILABLE, Q850::NETWORK_OUT_OF_ORDER)
                        );
                        assert_eq!(end.early_media, None);
                    }
                    EndCause::NoAnswer => {
                        assert_eq!(
                            (status, q850),
                            (SipStatus::REQUEST_TERMINATED, Q850::NO_ANSWER)
                        );
                        assert_eq!(end.early_media, Some(EarlyMedia::Ringback));
                        // Rang to the 22 s timeout (timers tick in milliseconds).
                        let over = end.timings.end.saturating_sub(Duration::from_secs(22));
                        assert!(over < Duration::from_millis(5), "{end:?}");
                        assert!(end.timings.end >= Duration::from_secs(22), "{end:?}");
                    }
                    EndCause::LocalHangup | EndCause::RemoteHangup => {
                        assert_eq!((status, q850), (SipStatus::OK, Q850::NORMAL_CLEARING));
                        assert_eq!(end.early_media, Some(EarlyMedia::Ringback));
                    }
                    EndCause::Cancelled => panic!("nothing was cancelled"),
                }
                let t = end.timings;
                let answered = end.status == SipStatus::OK;
                assert_eq!(t.answer.is_some(), answered, "{end:?}");
                assert_eq!(t.verdict.is_some(), answered, "{end:?}");
                let order = [t.progress, t.answer, t.verdict, Some(t.end)];
                let order: Vec<Duration> = order.into_iter().flatten().collect();
                assert!(order.is_sorted(), "{end:?}");
            }
            CarrierEvent::Bridged { .. }
            | CarrierEvent::PickedUp { .. }
            | CarrierEvent::Recorded { .. } => {}
        }
    }
    for cause in [
        EndCause::Busy,
        EndCause::Sit,
        EndCause::Failed,
        EndCause::NoAnswer,
        EndCause::LocalHangup,
    ] {
        assert!(causes.get(&cause).is_some_and(|&n| n > 0), "{causes:?}");
    }
}
