//! Pacing-state snapshots: a controller restored from a snapshot of another goes on exactly
//! as that one would (same decisions, same learned state), on the same clock or on a clock
//! of another origin; unusable snapshots are refused with a typed error, never a panic.

use pacing::{
    Agent, AgentState, Completed, Config, Controller, InFlight, Outcome, PacingState, Phase,
    Policy, Predictive, PredictiveConfig, StateError, Tick,
};
use proptest::prelude::*;

/// One second (or gap) of a generated campaign. Times are multiples of 0.25 s so that
/// moving them by a whole number of hours is exact in floating point.
#[derive(Debug, Clone)]
struct Step {
    dt_q: u32,
    changes: Vec<(usize, u8)>,
    inflight: Vec<(u32, bool)>,
    completed: Vec<(u8, u32)>,
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![
        20 => Just(4u32),
        3 => Just(2u32),
        2 => 5u32..40,
        1 => Just(4 * 4000u32), // over an hour: a new shift
    ];
    (
        dt,
        prop::collection::vec((0usize..12, 0u8..5), 0..4),
        prop::collection::vec((0u32..88, any::<bool>()), 0..10),
        prop::collection::vec((0u8..5, 0u32..88), 0..6),
    )
        .prop_map(|(dt_q, changes, inflight, completed)| Step {
            dt_q,
            changes,
            inflight,
            completed,
        })
}

/// The ticks of `steps` for `seats` agents, starting at `t0`.
fn ticks(seats: usize, t0: f64, steps: &[Step]) -> Vec<Tick> {
    let mut agents = vec![
        Agent {
            state: AgentState::Ready,
            since: t0,
        };
        seats
    ];
    let mut t = t0;
    let mut out = Vec::new();
    for s in steps {
        t += f64::from(s.dt_q) / 4.0;
        for &(seat, state) in &s.changes {
            let state = [
                AgentState::Ready,
                AgentState::Talk,
                AgentState::Wrap,
                AgentState::Paused,
                AgentState::LoggedOut,
            ][usize::from(state)];
            let a = &mut agents[seat % seats];
            if a.state != state {
                *a = Agent { state, since: t };
            }
        }
        out.push(Tick {
            t,
            agents: agents.clone(),
            inflight: s
                .inflight
                .iter()
                .map(|&(e, answered)| InFlight {
                    elapsed: f64::from(e) / 4.0,
                    phase: if answered {
                        Phase::Answered
                    } else {
                        Phase::Ringing
                    },
                })
                .collect(),
            completed: s
                .completed
                .iter()
                .map(|&(o, r)| Completed {
                    outcome: [
                        Outcome::HumanConnected,
                        Outcome::HumanDropped,
                        Outcome::Machine,
                        Outcome::NoAnswer,
                        Outcome::Fail,
                    ][usize::from(o)],
                    ring_s: f64::from(r) / 4.0,
                })
                .collect(),
        });
    }
    out
}

fn shifted(ticks: &[Tick], by: f64) -> Vec<Tick> {
    ticks
        .iter()
        .map(|t| Tick {
            t: t.t + by,
            agents: t
                .agents
                .iter()
                .map(|a| Agent {
                    state: a.state,
                    since: a.since + by,
                })
                .collect(),
            ..t.clone()
        })
        .collect()
}

fn cfg(uk_mode: bool) -> Config {
    Config {
        uk_mode,
        ..Config::default()
    }
}

fn run(c: &mut dyn Controller, ticks: &[Tick]) -> Vec<u32> {
    ticks
        .iter()
        .map(|t| c.tick(t).expect("tick").dial)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// restore(snapshot(c)) then the same ticks: the same decisions and, at the end, the same
    /// learned state as `c` itself, bit for bit (through the stored JSON form). On a clock
    /// whose origin is days away (the ticks moved by as much), the same decisions too.
    #[test]
    fn a_restored_controller_goes_on_as_the_original(
        seats in 1usize..12,
        steps in prop::collection::vec(step(), 2..360),
        split in 0.0f64..1.0,
        uk_mode in any::<bool>(),
    ) {
        let t0 = 1_800_000_000.0;
        let all = ticks(seats, t0, &steps);
        let k = ((all.len() as f64 * split) as usize).clamp(1, all.len() - 1);
        let (before, after) = all.split_at(k);
        let mut original = Predictive::new(cfg(uk_mode), PredictiveConfig::default()).unwrap();
        run(&mut original, before);
        let json = original.snapshot().expect("a ticked controller has a state").to_json();
        let state = PacingState::from_json(&json).expect("reads back");
        prop_assert_eq!(state.at, before[k - 1].t);

        let mut same_clock = Predictive::new(cfg(uk_mode), PredictiveConfig::default()).unwrap();
        same_clock.restore(&state, state.at).expect("restores");
        // A clock 3 days and 5 hours ahead (a whole number of hours: the budget's hourly
        // buckets line up, and every time stays exact).
        let by = 3.0 * 86_400.0 + 5.0 * 3600.0;
        let mut other_clock = Predictive::new(cfg(uk_mode), PredictiveConfig::default()).unwrap();
        other_clock.restore(&state, state.at + by).expect("restores");

        let want = run(&mut original, after);
        prop_assert_eq!(&run(&mut same_clock, after), &want);
        prop_assert_eq!(
            original.snapshot().unwrap().to_json(),
            same_clock.snapshot().unwrap().to_json()
        );
        prop_assert_eq!(&run(&mut other_clock, &shifted(after, by)), &want);
        prop_assert_eq!(other_clock.theta(), original.theta());
        prop_assert_eq!(other_clock.estimated_answer_rate(), original.estimated_answer_rate());
        prop_assert_eq!(other_clock.window_abandonment(), original.window_abandonment());
    }
}

/// A predictive controller that has seen `n` seconds of a team of 5 answering 10 % of
/// dials (far from the prior of 35 %).
fn learned(n: u32) -> Predictive {
    let mut p = Predictive::new(Config::default(), PredictiveConfig::default()).unwrap();
    for s in 0..n {
        let t = 1000.0 + f64::from(s);
        let mut completed = vec![
            Completed {
                outcome: Outcome::NoAnswer,
                ring_s: 22.0
            };
            9
        ];
        completed.push(Completed {
            outcome: Outcome::HumanConnected,
            ring_s: 8.0,
        });
        p.tick(&Tick {
            t,
            agents: vec![
                Agent {
                    state: AgentState::Ready,
                    since: 1000.0
                };
                5
            ],
            inflight: vec![],
            completed,
        })
        .unwrap();
    }
    p
}

#[test]
fn the_answer_rate_learned_survives_a_restore_and_ages_with_the_gap() {
    let p = learned(600);
    let rate = p.estimated_answer_rate().unwrap();
    assert!((rate - 0.1).abs() < 0.02, "{rate}");
    let state = p.snapshot().unwrap();
    let mut fresh = Predictive::new(Config::default(), PredictiveConfig::default()).unwrap();
    assert!((fresh.estimated_answer_rate().unwrap() - 0.35).abs() < 1e-9);
    // Restored on a clock of another origin, 30 s after the snapshot instant.
    fresh.restore(&state, 50.0).unwrap();
    assert_eq!(fresh.estimated_answer_rate(), Some(rate));
    let idle = |t: f64| Tick {
        t,
        agents: vec![
            Agent {
                state: AgentState::Ready,
                since: 0.0
            };
            5
        ],
        inflight: vec![],
        completed: vec![],
    };
    fresh.tick(&idle(80.0)).unwrap();
    let aged = fresh.estimated_answer_rate().unwrap();
    assert!((aged - rate).abs() < 0.01, "30 s barely ages it: {aged}");
    assert_ne!(aged, rate, "but ages it");
}

#[test]
fn unusable_snapshots_are_refused_and_leave_the_controller_cold() {
    let state = learned(60).snapshot().unwrap();
    let json = state.to_json();
    let cold = || Predictive::new(Config::default(), PredictiveConfig::default()).unwrap();
    let prior = cold().estimated_answer_rate();

    let newer = json.replacen("\"version\":1", "\"version\":2", 1);
    assert_eq!(
        PacingState::from_json(&newer),
        Err(StateError::UnknownVersion { found: 2 })
    );
    for bad in [
        "",
        "{}",
        "[1,2]",
        "{\"version\":1}",
        &json[..json.len() / 2],
        &json.replacen("\"ln_theta\":", "\"ln_theta\":null,\"x\":", 1),
    ] {
        assert!(
            matches!(PacingState::from_json(bad), Err(StateError::Corrupt(_))),
            "{bad:.60}"
        );
    }
    // Readable but wrong inside: refused at restore, the controller untouched.
    let mut tampered: serde_json::Value = serde_json::from_str(&json).unwrap();
    tampered["learned"]["ln_theta"] = serde_json::json!(5.0);
    let tampered = PacingState::from_json(&tampered.to_string()).unwrap();
    let mut c = cold();
    assert!(matches!(
        c.restore(&tampered, 0.0),
        Err(StateError::Corrupt(_))
    ));
    assert_eq!(c.estimated_answer_rate(), prior);
    assert!(c.snapshot().is_none(), "still never ticked");

    // Another configuration: what was learned does not apply.
    let mut other = Predictive::new(
        Config {
            abandon_target: 0.02,
            ..Config::default()
        },
        PredictiveConfig::default(),
    )
    .unwrap();
    assert_eq!(other.restore(&state, 0.0), Err(StateError::ConfigChanged));
    let mut other_p = Predictive::new(
        Config::default(),
        PredictiveConfig {
            prior_live: 0.2,
            ..PredictiveConfig::default()
        },
    )
    .unwrap();
    assert_eq!(other_p.restore(&state, 0.0), Err(StateError::ConfigChanged));
    // The team size is informative only.
    let mut bigger = Predictive::new(
        Config {
            agents: 200,
            ..Config::default()
        },
        PredictiveConfig::default(),
    )
    .unwrap();
    assert_eq!(bigger.restore(&state, 0.0), Ok(()));

    // Pacers that learn nothing have nothing to save or restore.
    let mut power = Policy::Progressive.build(&Config::default()).unwrap();
    power
        .tick(&Tick {
            t: 0.0,
            agents: vec![],
            inflight: vec![],
            completed: vec![],
        })
        .unwrap();
    assert!(power.snapshot().is_none());
    assert_eq!(power.restore(&state, 0.0), Err(StateError::NotSupported));
}

/// The stored size of a busy campaign's snapshot (printed: it is written every few seconds).
#[test]
fn snapshot_size_of_a_busy_campaign() {
    let mut p = Predictive::new(Config::default(), PredictiveConfig::default()).unwrap();
    let seats = 200;
    let mut agents = vec![
        Agent {
            state: AgentState::Ready,
            since: 0.0
        };
        seats
    ];
    for s in 1..=7200u32 {
        let t = f64::from(s);
        // Every seat cycles talk 90 s, wrap 20 s, ready 10 s, offset by seat.
        for (i, a) in agents.iter_mut().enumerate() {
            let phase = (s as usize + i * 7) % 120;
            let state = match phase {
                0..90 => AgentState::Talk,
                90..110 => AgentState::Wrap,
                _ => AgentState::Ready,
            };
            if a.state != state {
                *a = Agent { state, since: t };
            }
        }
        let completed = (0..12)
            .map(|j| Completed {
                outcome: if j < 2 {
                    Outcome::HumanConnected
                } else {
                    Outcome::NoAnswer
                },
                ring_s: 5.0 + f64::from(j),
            })
            .collect();
        p.tick(&Tick {
            t,
            agents: agents.clone(),
            inflight: vec![
                InFlight {
                    elapsed: 3.0,
                    phase: Phase::Ringing
                };
                300
            ],
            completed,
        })
        .unwrap();
    }
    let json = p.snapshot().unwrap().to_json();
    println!(
        "snapshot of a 200-agent campaign after 2 h: {} bytes of JSON",
        json.len()
    );
    assert!(json.len() < 1_000_000, "{}", json.len());
}
