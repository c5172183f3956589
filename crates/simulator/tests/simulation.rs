//! Behaviour of the simulator and of the controllers inside it. Short shifts and few days so
//! the suite stays fast in debug builds; nothing here depends on wall-clock time.

use pacing::protocol::{Reply, Session};
use pacing::{Controller, Decision, Outcome, PacingError, Policy, Tick};
use simulator::model::{Draw, draw};
use simulator::{Scenario, ScenarioId, SimConfig, run, run_days};

fn short(id: ScenarioId, agents: usize, days: u32, shift_s: u32) -> SimConfig {
    SimConfig {
        shift_s,
        ..SimConfig::new(Scenario::get(id), agents, days)
    }
}

#[test]
fn progressive_only_loses_amd_false_positives() {
    let cfg = short(ScenarioId::S1, 10, 2, 3600);
    let r = run(&cfg, &Policy::Progressive).unwrap();
    let s = &r.summary;
    assert!(s.live_answers > 100, "{s:?}");
    assert_eq!(s.pacing_abandonment, 0.0);
    for d in &r.days {
        assert_eq!(d.drops, 0);
        assert_eq!(d.strict_abandons(), d.amd_false_positives);
    }
}

#[test]
fn lines_cap_holds_even_for_greedy_policies() {
    for policy in [Policy::Power { ratio: 10.0 }, Policy::predictive()] {
        let cfg = short(ScenarioId::S5, 10, 1, 1800);
        let r = run(&cfg, &policy).unwrap();
        assert!(r.summary.peak_lines <= 40, "{policy:?}: {:?}", r.summary);
        assert_eq!(r.summary.cap_violations, 0, "{policy:?}");
    }
}

/// Wraps a controller and records what the switch reported.
#[derive(Debug)]
struct Recorder {
    inner: Box<dyn Controller>,
    completed: Vec<(Outcome, f64)>,
    max_ringing_elapsed: f64,
}

impl Controller for Recorder {
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        self.completed
            .extend(tick.completed.iter().map(|c| (c.outcome, c.ring_s)));
        for f in &tick.inflight {
            if f.phase == pacing::Phase::Ringing {
                self.max_ringing_elapsed = self.max_ringing_elapsed.max(f.elapsed);
            }
        }
        self.inner.tick(tick)
    }
}

#[test]
fn no_ringing_call_is_cut_before_the_minimum_ring() {
    let cfg = short(ScenarioId::S4, 20, 1, 1800);
    let mut rec = Recorder {
        inner: Policy::predictive()
            .build(&cfg.controller_config())
            .unwrap(),
        completed: Vec::new(),
        max_ringing_elapsed: 0.0,
    };
    run_days(&cfg, &mut rec).unwrap();
    let min_ring = cfg.controller_config().min_ring_s;
    let unanswered: Vec<f64> = rec
        .completed
        .iter()
        .filter(|c| c.0 == Outcome::NoAnswer)
        .map(|c| c.1)
        .collect();
    assert!(unanswered.len() > 50);
    // Nobody cancels: every unanswered attempt rings to the carrier timeout.
    assert!(unanswered.iter().all(|&r| r >= min_ring && r == 22.0));
    assert!(rec.max_ringing_elapsed < 22.0 + 1e-9);
}

#[test]
fn same_seed_same_results_other_seed_other_results() {
    let cfg = short(ScenarioId::S2, 20, 2, 1800);
    let a = run(&cfg, &Policy::predictive()).unwrap();
    let b = run(&cfg, &Policy::predictive()).unwrap();
    assert_eq!(a.days, b.days);
    let other = SimConfig { seed: 7, ..cfg };
    let c = run(&other, &Policy::predictive()).unwrap();
    assert_ne!(a.days, c.days);
}

#[test]
fn common_random_numbers_do_not_depend_on_dial_time() {
    // S1 has a flat answer rate: the same attempt dialed at any time is the same attempt.
    let sc = Scenario::get(ScenarioId::S1);
    for i in 0..200 {
        assert_eq!(draw(&sc, 1, 3, i, 10.0), draw(&sc, 1, 3, i, 20_000.0));
    }
    // In S3 only the live/no-answer boundary moves with the answer rate.
    let s3 = Scenario::get(ScenarioId::S3);
    for i in 0..500 {
        let before = draw(&s3, 1, 0, i, 100.0);
        let after = draw(&s3, 1, 0, i, 20_000.0);
        match (before, after) {
            (Draw::Live { .. }, Draw::NoAnswer) => {}
            (x, y) => assert_eq!(x, y),
        }
    }
}

#[test]
fn attempt_outcomes_match_the_model() {
    let sc = Scenario::get(ScenarioId::S1);
    let n = 200_000u64;
    let (mut fail, mut machine, mut live, mut passed, mut fp, mut rpc) = (0, 0, 0, 0, 0, 0);
    let mut rings = Vec::new();
    let mut talk_rpc = (0.0, 0);
    for i in 0..n {
        match draw(&sc, 42, 0, i, 0.0) {
            Draw::Fail { end } => {
                assert!((1.0..4.0).contains(&end));
                fail += 1;
            }
            Draw::Machine {
                pickup,
                amd,
                passed_talk,
            } => {
                assert!((8.0..=21.5).contains(&pickup) && (2.0..4.0).contains(&amd));
                machine += 1;
                passed += u32::from(passed_talk.is_some());
            }
            Draw::Live {
                ring,
                verdict_delay,
                amd_fp,
                rpc: r,
                talk,
                ..
            } => {
                assert!(ring > 1.5 && ring < 22.0 && (1.0..2.5).contains(&verdict_delay));
                live += 1;
                fp += u32::from(amd_fp);
                rpc += u32::from(r);
                rings.push(ring);
                if r {
                    talk_rpc.0 += talk;
                    talk_rpc.1 += 1;
                }
            }
            Draw::NoAnswer => {}
        }
    }
    let share = |k: u32| f64::from(k) / n as f64;
    assert!((share(fail) - 0.10).abs() < 0.004);
    assert!((share(machine) - 0.30).abs() < 0.005);
    assert!((share(live) - 0.25).abs() < 0.005);
    assert!((f64::from(passed) / f64::from(machine) - 0.10).abs() < 0.006);
    assert!((f64::from(fp) / f64::from(live) - 0.01).abs() < 0.002);
    assert!((f64::from(rpc) / f64::from(live) - 0.5).abs() < 0.01);
    rings.sort_by(f64::total_cmp);
    // Median 9 s before the redraw into (1.5, 22) s; cutting the 3.7 % upper tail moves it
    // to the 48.1 % point of the original: 9 exp(0.5 x -0.046) = 8.79 s.
    let median = rings[rings.len() / 2];
    assert!((median - 8.79).abs() < 0.1, "{median}");
    let mean_talk = talk_rpc.0 / f64::from(talk_rpc.1);
    assert!((mean_talk - 240.0).abs() < 5.0, "{mean_talk}");
}

#[test]
fn churn_pauses_agents_and_logs_them_in_late() {
    let cfg = short(ScenarioId::S7, 10, 1, 28_800);
    let r = run(&cfg, &Policy::Progressive).unwrap();
    let d = &r.days[0];
    // Two 15-min breaks and a lunch per agent: about an hour each.
    let paused_h = d.paused_s / 3600.0;
    assert!(paused_h > 8.0 && paused_h < 11.0, "{paused_h}");
    // Logins over the first 10 minutes: a few agent-minutes lost.
    assert!(d.available_s() + d.paused_s < 10.0 * 28_800.0 - 600.0);
}

#[test]
fn predictive_beats_progressive_within_budget() {
    let cfg = short(ScenarioId::S1, 50, 1, 3 * 3600);
    let pred = run(&cfg, &Policy::predictive()).unwrap().summary;
    let prog = run(&cfg, &Policy::Progressive).unwrap().summary;
    assert!(
        pred.occupancy.value > prog.occupancy.value + 0.10,
        "{pred:?} vs {prog:?}"
    );
    assert!(pred.strict_abandonment.value < 0.05, "{pred:?}");
}

/// Drives a controller through the JSON-lines protocol: tick -> JSON -> session -> JSON.
#[derive(Debug)]
struct OverTheWire {
    session: Session,
}

impl Controller for OverTheWire {
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        let line = serde_json::to_string(tick).expect("ticks serialize");
        let Reply::Line(answer) = self.session.handle_line(&line) else {
            panic!("session ended");
        };
        let v: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
        let dial = v["dial"].as_u64().unwrap_or_else(|| panic!("{answer}"));
        Ok(Decision { dial: dial as u32 })
    }
}

#[test]
fn protocol_boundary_is_equivalent_to_in_process() {
    let cfg = short(ScenarioId::S3, 10, 2, 1200);
    let cc = cfg.controller_config();
    let mut direct = Policy::predictive().build(&cc).unwrap();
    let a = run_days(&cfg, direct.as_mut()).unwrap();
    let mut session = Session::new(Policy::predictive());
    let config_line = serde_json::json!({ "config": cc }).to_string();
    assert_eq!(
        session.handle_line(&config_line),
        Reply::Line(r#"{"ok":true}"#.into())
    );
    let mut wire = OverTheWire { session };
    let b = run_days(&cfg, &mut wire).unwrap();
    assert_eq!(a, b);
}

/// Records the clock of every tick.
#[derive(Debug, Default)]
struct Clocks(std::sync::Arc<std::sync::Mutex<Vec<f64>>>);

impl Controller for Clocks {
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        self.0.lock().unwrap().push(tick.t);
        Ok(Decision { dial: 0 })
    }
}

#[test]
fn independent_days_start_cold_with_the_clock_at_zero() {
    let cfg = SimConfig {
        independent_days: true,
        ..short(ScenarioId::S1, 3, 3, 60)
    };
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut starts = 0;
    let days = simulator::run_independent_days(&cfg, &mut || {
        starts += 1;
        Ok(Box::new(Clocks(log.clone())))
    })
    .unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(starts, 3, "one fresh controller per day");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 180);
    assert_eq!((log[0], log[60], log[120]), (0.0, 0.0, 0.0));
    assert_eq!(log[179], 59.0);
    // Through `run`, a policy's days are also independent: the same day twice gives the same
    // metrics whatever came before, and day 0 equals a one-day run.
    let one = run(
        &SimConfig {
            independent_days: true,
            ..short(ScenarioId::S1, 10, 1, 1800)
        },
        &Policy::predictive(),
    )
    .unwrap();
    let two = run(
        &SimConfig {
            independent_days: true,
            ..short(ScenarioId::S1, 10, 2, 1800)
        },
        &Policy::predictive(),
    )
    .unwrap();
    assert_eq!(one.days[0], two.days[0]);
}

#[test]
fn a_cold_small_team_stays_within_the_limit() {
    // Three cold 1-hour days of a 10-agent S1 team: every day starts with a fresh predictive
    // controller (no memory, clock at 0). Before the confidence margins this overshot
    // (3.5-4.1 % over full days, 7-9 % in the first half hour).
    let cfg = SimConfig {
        independent_days: true,
        seed: 1,
        ..short(ScenarioId::S1, 10, 3, 3600)
    };
    let r = run(&cfg, &Policy::predictive()).unwrap();
    let s = &r.summary;
    assert!(s.live_answers > 400, "{s:?}");
    assert!(s.strict_abandonment.value <= 0.03, "{s:?}");
    assert!(s.first_30min_abandonment.unwrap() <= 0.03, "{s:?}");
}

/// A 1,000-agent campaign's first 3 minutes, cold: no burst. The first launches and the
/// answer rate and handle times learned from the shift's first seconds once sent 2,500
/// attempts in one tick (peak lines at the 4,000 cap) and dropped 7-12 % of the first 3
/// minutes' live answers (seeds 1-3); now 2,600-3,000 lines at the peak and 3-4 % strict,
/// 1 point of it AMD false positives.
#[test]
fn a_thousand_agents_start_without_a_burst() {
    for seed in 1..=2 {
        let cfg = SimConfig {
            independent_days: true,
            seed,
            ..short(ScenarioId::S2, 1000, 1, 180)
        };
        let r = run(&cfg, &Policy::predictive()).unwrap();
        let d = &r.days[0];
        let pacing_drops = d.drops as f64 / d.live_answers as f64;
        assert!(d.peak_lines < 3_600, "seed {seed}: peak {}", d.peak_lines);
        assert!(pacing_drops < 0.05, "seed {seed}: {pacing_drops}");
    }
}
