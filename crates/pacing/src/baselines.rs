//! The simple pacers and the benchmark baselines. They exist so that the predictive pacer is
//! always compared, in the same run and on the same random draws, with what a campaign would
//! get otherwise:
//!
//! - [`Preview`]: no automatic dialing (the agent starts each call).
//! - [`Power`]: `ratio` attempts in flight (ringing or answered) per ready agent; ratio 1 is
//!   progressive, which can only drop a call when an agent leaves, ratio 2 is "power 2.0",
//!   other ratios are the benchmark's hindsight-tuned power-k.
//! - [`Vicidial`]: the VICIdial-style adaptive dial level with the "average" drop rule, as
//!   `pacing-benchmark` describes it.

use std::collections::VecDeque;

use crate::{AgentState, Clock, Config, Controller, Decision, Outcome, PacingError, Phase, Tick};

/// Preview dialing: the pacer never launches an attempt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Preview;

impl Controller for Preview {
    fn tick(&mut self, _tick: &Tick) -> Result<Decision, PacingError> {
        Ok(Decision { dial: 0 })
    }
}

/// Progressive (`ratio` 1) and power dialing.
#[derive(Debug, Clone)]
pub struct Power {
    cfg: Config,
    ratio: f64,
    clock: Clock,
}

impl Power {
    pub fn new(cfg: Config, ratio: f64) -> Result<Power, PacingError> {
        if !(ratio.is_finite() && ratio > 0.0) {
            return Err(PacingError::BadPolicy {
                name: "ratio",
                problem: format!("{ratio} is not a positive number"),
            });
        }
        Ok(Power {
            cfg,
            ratio,
            clock: Clock::default(),
        })
    }
}

impl Controller for Power {
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        self.clock.advance(tick.t)?;
        let ready = tick.count(AgentState::Ready) as f64;
        let want = (self.ratio * ready + 1e-9).floor() as usize;
        let dial = want.saturating_sub(tick.inflight.len()) as u32;
        Ok(Decision {
            dial: dial.min(self.cfg.line_room(tick)),
        })
    }
}

/// VICIdial-style adaptive pacing: `lines = round(L x (ready + talking)) - calls in progress`;
/// every 15 s `L *= 1 + (mean ready - mean waiting) / mean agents`, clamped to [1, 3]; `L` is
/// halved when more than half of the last minute's answers dropped, and again at each update
/// once today's drop rate (after 50 answers) is above the target.
#[derive(Debug, Clone)]
pub struct Vicidial {
    cfg: Config,
    clock: Clock,
    level: f64,
    period_start: Option<f64>,
    sum_ready: f64,
    sum_waiting: f64,
    sum_agents: f64,
    samples: u32,
    /// (time, dropped) of the answers of the last minute.
    recent: VecDeque<(f64, bool)>,
    day: i64,
    today_answers: u32,
    today_drops: u32,
}

impl Vicidial {
    const PERIOD_S: f64 = 15.0;

    pub fn new(cfg: Config) -> Vicidial {
        Vicidial {
            cfg,
            clock: Clock::default(),
            level: 1.0,
            period_start: None,
            sum_ready: 0.0,
            sum_waiting: 0.0,
            sum_agents: 0.0,
            samples: 0,
            recent: VecDeque::new(),
            day: i64::MIN,
            today_answers: 0,
            today_drops: 0,
        }
    }
}

impl Controller for Vicidial {
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        self.clock.advance(tick.t)?;
        let day = (tick.t / 86_400.0).floor() as i64;
        if day != self.day {
            self.day = day;
            self.today_answers = 0;
            self.today_drops = 0;
        }
        for c in &tick.completed {
            if c.outcome.needs_agent() {
                let dropped = c.outcome == Outcome::HumanDropped;
                self.recent.push_back((tick.t, dropped));
                self.today_answers += 1;
                self.today_drops += u32::from(dropped);
            }
        }
        while self.recent.front().is_some_and(|(t, _)| *t < tick.t - 60.0) {
            self.recent.pop_front();
        }
        let ready = tick.count(AgentState::Ready);
        let talking = tick.count(AgentState::Talk);
        let waiting = tick
            .inflight
            .iter()
            .filter(|f| f.phase == Phase::Answered)
            .count();
        self.sum_ready += ready as f64;
        self.sum_waiting += waiting as f64;
        self.sum_agents += tick.active_agents() as f64;
        self.samples += 1;
        let start = *self.period_start.get_or_insert(tick.t);
        if tick.t - start >= Self::PERIOD_S {
            let n = f64::from(self.samples);
            let mean_agents = self.sum_agents / n;
            if mean_agents > 0.0 {
                self.level *= 1.0 + (self.sum_ready / n - self.sum_waiting / n) / mean_agents;
            }
            self.level = self.level.clamp(1.0, 3.0);
            let drops = self.recent.iter().filter(|(_, d)| *d).count();
            if !self.recent.is_empty() && drops * 2 > self.recent.len() {
                self.level = (self.level / 2.0).max(1.0);
            }
            if self.today_answers >= 50
                && f64::from(self.today_drops)
                    > self.cfg.abandon_target * f64::from(self.today_answers)
            {
                self.level = (self.level / 2.0).max(1.0);
            }
            self.period_start = Some(tick.t);
            self.sum_ready = 0.0;
            self.sum_waiting = 0.0;
            self.sum_agents = 0.0;
            self.samples = 0;
        }
        let lines = (self.level * (ready + talking) as f64).round() as usize;
        // Calls in progress: attempts in flight and calls connected to agents.
        let dial = lines.saturating_sub(tick.lines_in_use()) as u32;
        Ok(Decision {
            dial: dial.min(self.cfg.line_room(tick)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, InFlight};

    fn tick(t: f64, ready: usize, busy: usize, inflight: usize) -> Tick {
        let mut agents = vec![
            Agent {
                state: AgentState::Ready,
                since: 0.0
            };
            ready
        ];
        agents.extend(std::iter::repeat_n(
            Agent {
                state: AgentState::Talk,
                since: 0.0,
            },
            busy,
        ));
        Tick {
            t,
            agents,
            inflight: vec![
                InFlight {
                    elapsed: 1.0,
                    phase: Phase::Ringing
                };
                inflight
            ],
            completed: vec![],
        }
    }

    #[test]
    fn progressive_tops_up_to_ready_agents() {
        let mut p = Power::new(Config::default(), 1.0).unwrap();
        assert_eq!(p.tick(&tick(0.0, 5, 3, 2)).unwrap().dial, 3);
        assert_eq!(p.tick(&tick(1.0, 2, 6, 4)).unwrap().dial, 0);
    }

    #[test]
    fn power_respects_line_cap() {
        let mut p = Power::new(Config::default(), 10.0).unwrap();
        // 2 agents: cap 8 lines, 1 talking, so 7 free.
        assert_eq!(p.tick(&tick(0.0, 1, 1, 0)).unwrap().dial, 7);
    }

    #[test]
    fn time_must_not_go_backwards() {
        let mut p = Power::new(Config::default(), 1.0).unwrap();
        p.tick(&tick(10.0, 1, 0, 0)).unwrap();
        assert!(matches!(
            p.tick(&tick(9.0, 1, 0, 0)),
            Err(PacingError::TimeWentBackwards { .. })
        ));
    }

    #[test]
    fn vicidial_level_rises_when_agents_wait() {
        let mut v = Vicidial::new(Config::default());
        let mut last = 0;
        for s in 0..40 {
            last = v.tick(&tick(f64::from(s), 10, 0, 0)).unwrap().dial;
        }
        assert!(last > 10, "level should have grown, dial {last}");
    }
}
