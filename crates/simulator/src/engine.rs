//! The discrete-event engine: one shift on a virtual clock.
//!
//! Attempt resolution (pick-ups, verdicts, deadlines, call and wrap ends, breaks) runs on an
//! event queue with exact times; the controller is asked once per simulated second with the
//! same snapshot the JSON-lines protocol carries, and its attempts are launched at that
//! second. A run of several days keeps one controller (one campaign), so rolling budgets carry
//! over from day to day; the clock it sees is `day x 86 400 + seconds into the shift`. With
//! [`SimConfig::independent_days`] every day gets a fresh controller whose clock starts at 0
//! (the benchmark's "K independent days" read strictly: every day is a cold start).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use pacing::{Agent, AgentState, Completed, Config, Controller, InFlight, Outcome, Phase, Tick};

use crate::metrics::DayMetrics;
use crate::model::{self, CONNECT_DEADLINE_S, Draw, RING_TIMEOUT_S};
use crate::rng::SplitMix64;
use crate::scenario::Scenario;

/// Seconds between the starts of two simulated days on the controller's clock.
pub const DAY_S: f64 = 86_400.0;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub scenario: Scenario,
    pub agents: usize,
    pub days: u32,
    /// Shift length (s); the benchmark uses 8 h.
    pub shift_s: u32,
    /// Added to the scenario's seed (0 for the benchmark).
    pub seed: u64,
    /// Every day a fresh controller (no memory), its clock from 0; otherwise one controller
    /// for all days, its clock at `day x 86 400 + s`.
    pub independent_days: bool,
}

impl SimConfig {
    pub fn new(scenario: Scenario, agents: usize, days: u32) -> SimConfig {
        SimConfig {
            scenario,
            agents,
            days,
            shift_s: 28_800,
            seed: 0,
            independent_days: false,
        }
    }

    /// The controller configuration of this campaign.
    pub fn controller_config(&self) -> Config {
        Config {
            agents: self.agents as u32,
            abandon_target: 0.03,
            connect_deadline_s: CONNECT_DEADLINE_S,
            min_ring_s: model::MIN_RING_S,
            ring_timeout_s: RING_TIMEOUT_S,
            max_lines_per_agent: model::LINES_PER_AGENT,
            amd_false_positive: self.scenario.amd_false_positive,
            uk_mode: false,
        }
    }

    fn seed(&self) -> u64 {
        self.scenario.seed.wrapping_add(self.seed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Pickup(u32),
    Verdict(u32),
    WaitExpire(u32),
    /// Failure, no-answer timeout or machine hang-up.
    End(u32),
    TalkEnd(u32),
    WrapEnd(u32),
    Login(u32),
    BreakDue(u32, u32),
    BreakEnd(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallPhase {
    Ringing,
    Answered,
    Waiting,
    Done,
}

#[derive(Debug, Clone)]
struct Call {
    dial: f64,
    draw: Draw,
    phase: CallPhase,
}

#[derive(Debug, Clone)]
struct SimAgent {
    state: AgentState,
    since: f64,
    accounted: f64,
    /// Wrap that follows the current talk.
    next_wrap: f64,
    pending_break: Option<f64>,
}

/// One day of one campaign.
struct Day<'a> {
    cfg: &'a SimConfig,
    day: u64,
    now: f64,
    shift: f64,
    seq: u64,
    events: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    calls: Vec<Call>,
    active: Vec<u32>,
    waiting: VecDeque<u32>,
    agents: Vec<SimAgent>,
    completed: Vec<Completed>,
    m: DayMetrics,
}

fn key(t: f64) -> i64 {
    (t * 1e6).round() as i64
}

impl<'a> Day<'a> {
    fn new(cfg: &'a SimConfig, day: u64, carried: Vec<Completed>) -> Day<'a> {
        let shift = f64::from(cfg.shift_s);
        let mut d = Day {
            cfg,
            day,
            now: 0.0,
            shift,
            seq: 0,
            events: BinaryHeap::new(),
            calls: Vec::new(),
            active: Vec::new(),
            waiting: VecDeque::new(),
            agents: Vec::with_capacity(cfg.agents),
            completed: carried,
            m: DayMetrics::new(cfg.shift_s),
        };
        for a in 0..cfg.agents {
            let mut agent = SimAgent {
                state: AgentState::Ready,
                since: 0.0,
                accounted: 0.0,
                next_wrap: 0.0,
                pending_break: None,
            };
            if cfg.scenario.churn {
                // Agent behaviour draws from its own streams, the same for every policy.
                let mut r = SplitMix64::stream(cfg.seed() ^ 0xA6E7_5EED, day, a as u64);
                agent.state = AgentState::LoggedOut;
                let login = r.range(0.0, 600.0);
                d.push(login, Ev::Login(a as u32));
                let scale = shift / 28_800.0;
                let b1 = login + scale * r.range(3600.0, 7200.0);
                let lunch = scale * r.range(12_600.0, 16_200.0);
                let b2 = scale * r.range(19_800.0, 23_400.0);
                d.push(b1, Ev::BreakDue(a as u32, (900.0 * scale) as u32));
                d.push(lunch, Ev::BreakDue(a as u32, (1800.0 * scale) as u32));
                d.push(b2, Ev::BreakDue(a as u32, (900.0 * scale) as u32));
            }
            d.agents.push(agent);
        }
        d
    }

    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((key(t), self.seq, ev)));
    }

    fn set_state(&mut self, a: usize, state: AgentState) {
        let now = self.now;
        let ag = &mut self.agents[a];
        let upto = now.min(self.shift);
        if upto > ag.accounted {
            self.m.account(ag.state, upto - ag.accounted);
            ag.accounted = upto;
        }
        ag.state = state;
        ag.since = now;
    }

    fn lines(&self) -> usize {
        self.active.len()
            + self
                .agents
                .iter()
                .filter(|a| a.state == AgentState::Talk)
                .count()
    }

    fn launch(&mut self) {
        let idx = self.calls.len() as u64;
        let draw = model::draw(&self.cfg.scenario, self.cfg.seed(), self.day, idx, self.now);
        let id = idx as u32;
        let t = self.now;
        match draw {
            Draw::Fail { end } => self.push(t + end, Ev::End(id)),
            Draw::NoAnswer => self.push(t + RING_TIMEOUT_S, Ev::End(id)),
            Draw::Machine { pickup, .. } => self.push(t + pickup, Ev::Pickup(id)),
            Draw::Live { ring, .. } => self.push(t + ring, Ev::Pickup(id)),
        }
        self.calls.push(Call {
            dial: t,
            draw,
            phase: CallPhase::Ringing,
        });
        self.active.push(id);
        self.m.dials += 1;
    }

    fn ring_s(&self, id: u32) -> f64 {
        match self.calls[id as usize].draw {
            Draw::Fail { end } => end,
            Draw::NoAnswer => RING_TIMEOUT_S,
            Draw::Machine { pickup, .. } => pickup,
            Draw::Live { ring, .. } => ring,
        }
    }

    fn finish(&mut self, id: u32, outcome: Outcome) {
        self.calls[id as usize].phase = CallPhase::Done;
        let ring_s = self.ring_s(id);
        self.completed.push(Completed { outcome, ring_s });
    }

    fn is_person(&self, id: u32) -> bool {
        matches!(self.calls[id as usize].draw, Draw::Live { .. })
    }

    /// The ready agent idle the longest.
    fn longest_idle(&self) -> Option<usize> {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.state == AgentState::Ready)
            .min_by(|x, y| x.1.since.total_cmp(&y.1.since))
            .map(|(i, _)| i)
    }

    fn connect(&mut self, id: u32, a: usize) {
        let (talk, wrap) = match self.calls[id as usize].draw {
            Draw::Live {
                talk, wrap, rpc, ..
            } => {
                self.m.live_contacts += 1;
                self.m.rpc_contacts += u64::from(rpc);
                let mult = match self.cfg.scenario.talk_drift {
                    Some((from, m)) if self.now >= from => m,
                    _ => 1.0,
                };
                (talk * mult, wrap)
            }
            Draw::Machine {
                passed_talk: Some(t),
                ..
            } => (t, 5.0),
            _ => unreachable!("only human verdicts are connected"),
        };
        self.finish(id, Outcome::HumanConnected);
        self.set_state(a, AgentState::Talk);
        self.agents[a].next_wrap = wrap;
        self.push(self.now + talk, Ev::TalkEnd(a as u32));
    }

    /// A human verdict (right or wrong): connect or queue for the deadline.
    fn human_verdict(&mut self, id: u32) {
        if let Some(a) = self.longest_idle() {
            self.connect(id, a);
        } else {
            self.calls[id as usize].phase = CallPhase::Waiting;
            self.waiting.push_back(id);
            self.push(self.now + CONNECT_DEADLINE_S, Ev::WaitExpire(id));
        }
    }

    /// Agent `a` is free: take the longest-waiting call, go on a due break, or wait.
    fn agent_free(&mut self, a: usize) {
        if let Some(dur) = self.agents[a].pending_break.take() {
            self.set_state(a, AgentState::Paused);
            self.push(self.now + dur, Ev::BreakEnd(a as u32));
            return;
        }
        self.set_state(a, AgentState::Ready);
        if let Some(id) = self.waiting.pop_front() {
            self.connect(id, a);
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Pickup(id) => {
                self.calls[id as usize].phase = CallPhase::Answered;
                let delay = match self.calls[id as usize].draw {
                    Draw::Machine { amd, .. } => amd,
                    Draw::Live { verdict_delay, .. } => verdict_delay,
                    _ => unreachable!("only answers pick up"),
                };
                self.push(self.now + delay, Ev::Verdict(id));
            }
            Ev::Verdict(id) => match self.calls[id as usize].draw {
                Draw::Machine { passed_talk, .. } => {
                    if passed_talk.is_some() {
                        self.human_verdict(id);
                    } else {
                        self.finish(id, Outcome::Machine);
                    }
                }
                Draw::Live { amd_fp, .. } => {
                    self.m.live_answer(self.now, amd_fp);
                    if amd_fp {
                        self.finish(id, Outcome::Machine);
                    } else {
                        self.human_verdict(id);
                    }
                }
                _ => unreachable!("only answers get a verdict"),
            },
            Ev::WaitExpire(id) => {
                if self.calls[id as usize].phase == CallPhase::Waiting {
                    self.waiting.retain(|&w| w != id);
                    if self.is_person(id) {
                        self.m.drop_person(self.now);
                    }
                    self.finish(id, Outcome::HumanDropped);
                }
            }
            Ev::End(id) => {
                let outcome = match self.calls[id as usize].draw {
                    Draw::Fail { .. } => Outcome::Fail,
                    Draw::NoAnswer => Outcome::NoAnswer,
                    _ => Outcome::Machine,
                };
                if matches!(outcome, Outcome::NoAnswer) {
                    debug_assert!(self.now - self.calls[id as usize].dial >= model::MIN_RING_S);
                }
                self.finish(id, outcome);
            }
            Ev::TalkEnd(a) => {
                let a = a as usize;
                self.set_state(a, AgentState::Wrap);
                let wrap = self.agents[a].next_wrap;
                self.push(self.now + wrap, Ev::WrapEnd(a as u32));
            }
            Ev::WrapEnd(a) | Ev::Login(a) | Ev::BreakEnd(a) => self.agent_free(a as usize),
            Ev::BreakDue(a, dur) => {
                let a = a as usize;
                match self.agents[a].state {
                    AgentState::Ready => {
                        self.set_state(a, AgentState::Paused);
                        self.push(self.now + f64::from(dur), Ev::BreakEnd(a as u32));
                    }
                    AgentState::Talk | AgentState::Wrap => {
                        self.agents[a].pending_break = Some(f64::from(dur));
                    }
                    // Not logged in yet, or already on a break: skip this one.
                    AgentState::Paused | AgentState::LoggedOut => {}
                }
            }
        }
    }

    fn run_until(&mut self, t: f64) {
        let k = key(t);
        while let Some(&Reverse((at, _, ev))) = self.events.peek() {
            if at > k {
                break;
            }
            self.events.pop();
            self.now = at as f64 / 1e6;
            self.handle(ev);
        }
        self.now = t;
    }

    fn snapshot(&mut self, tick: &mut Tick) {
        let base = if self.cfg.independent_days {
            0.0
        } else {
            self.day as f64 * DAY_S
        };
        tick.t = base + self.now;
        tick.agents.clear();
        tick.agents.extend(self.agents.iter().map(|a| Agent {
            state: a.state,
            since: base + a.since,
        }));
        let calls = &self.calls;
        self.active
            .retain(|&id| calls[id as usize].phase != CallPhase::Done);
        tick.inflight.clear();
        tick.inflight.extend(self.active.iter().map(|&id| {
            let c = &calls[id as usize];
            InFlight {
                elapsed: self.now - c.dial,
                phase: if c.phase == CallPhase::Ringing {
                    Phase::Ringing
                } else {
                    Phase::Answered
                },
            }
        }));
        tick.completed.clear();
        tick.completed.append(&mut self.completed);
    }

    fn run(
        mut self,
        controller: &mut dyn Controller,
        cc: &Config,
        tick: &mut Tick,
    ) -> Result<(DayMetrics, Vec<Completed>), pacing::PacingError> {
        for s in 0..self.cfg.shift_s {
            self.run_until(f64::from(s));
            self.snapshot(tick);
            let want = controller.tick(tick)?.dial;
            let room = cc.line_room(tick);
            if want > room {
                self.m.cap_violations += 1;
            }
            for _ in 0..want.min(room) {
                self.launch();
            }
            let lines = self.lines() as u64;
            self.m.peak_lines = self.m.peak_lines.max(lines);
        }
        // Shift over: no new dials; let every attempt in flight resolve.
        self.run_until(self.shift);
        for a in 0..self.agents.len() {
            let st = self.agents[a].state;
            self.set_state(a, st);
        }
        while self
            .active
            .iter()
            .any(|&id| self.calls[id as usize].phase != CallPhase::Done)
        {
            let Some(&Reverse((at, _, _))) = self.events.peek() else {
                break;
            };
            self.run_until(at as f64 / 1e6);
            let calls = &self.calls;
            self.active
                .retain(|&id| calls[id as usize].phase != CallPhase::Done);
        }
        self.m.finish();
        Ok((self.m, self.completed))
    }
}

/// Runs `cfg.days` days, each with a fresh controller from `make` whose clock starts at 0
/// (nothing carries over, not even the previous shift's late completions).
pub fn run_independent_days(
    cfg: &SimConfig,
    make: &mut dyn FnMut() -> Result<Box<dyn Controller>, pacing::PacingError>,
) -> Result<Vec<DayMetrics>, pacing::PacingError> {
    let cfg = SimConfig {
        independent_days: true,
        ..cfg.clone()
    };
    let cc = cfg.controller_config();
    let mut out = Vec::with_capacity(cfg.days as usize);
    for d in 0..cfg.days {
        let mut controller = make()?;
        let mut tick = Tick::default();
        let day = Day::new(&cfg, u64::from(d), Vec::new());
        let (m, _) = day.run(controller.as_mut(), &cc, &mut tick)?;
        out.push(m);
    }
    Ok(out)
}

/// Runs `cfg.days` days of one campaign with `controller`.
pub fn run_days(
    cfg: &SimConfig,
    controller: &mut dyn Controller,
) -> Result<Vec<DayMetrics>, pacing::PacingError> {
    let cc = cfg.controller_config();
    let mut tick = Tick::default();
    let mut carried = Vec::new();
    let mut out = Vec::with_capacity(cfg.days as usize);
    for d in 0..cfg.days {
        let day = Day::new(cfg, u64::from(d), carried);
        let (m, rest) = day.run(controller, &cc, &mut tick)?;
        carried = rest;
        out.push(m);
    }
    Ok(out)
}
