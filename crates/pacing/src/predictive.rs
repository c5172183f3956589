//! The predictive pacer.
//!
//! Each second it asks, for the `k+1`-th attempt it could launch now: if this attempt turns
//! out to be a live answer, what is the chance that no agent is free within the connect
//! deadline of its human verdict? It launches attempts while that marginal risk stays under
//! a threshold `theta`, and a feedback loop moves `theta` so that the campaign's drops stay
//! at the share its abandonment budget allows.
//!
//! The risk is computed Erlang-style, from expected flows rather than from a fixed ratio:
//! for several likely verdict times `s` of the new attempt (quantiles of the learned
//! ring-time distribution of live answers, plus the AMD delay),
//!
//! - supply(s) = ready agents + sum over busy agents of P(free by s + deadline | busy for so
//!   long), from the learned talk and wrap distributions ([`HandleModel`]);
//! - demand(s) = answered calls that may be waiting + sum over ringing attempts of
//!   P(live verdict by s | still ringing after e s) + the other `k` new attempts' chance of a
//!   live verdict by s ([`AttemptModel`]);
//! - the marginal attempt is dropped if supply - demand < 1. Supply and demand are sums of
//!   independent Bernoulli terms, so a normal approximation gives the probability; the
//!   variance also carries the uncertainty of the estimated answer rate, because every
//!   attempt in flight shares that error.
//!
//! Why a marginal threshold and not an average target: the abandonment constraint is on the
//! average, and for a constraint on an average the best policy (Lagrangian argument) takes an
//! extra attempt exactly when its marginal drop risk is below a price; `theta` is that price.
//! Why feedback on `theta`: the normal approximation, the independence assumptions and the
//! estimation lags are all biased in ways that vary by team size and scenario. Each tick,
//! `ln theta` moves by `gain x (r x expected human verdicts - predicted drops)` of the
//! attempts just launched (a dense signal, even for a 10-agent team whose realised drops are
//! rare), where `r` is the [`AbandonBudget`]'s allowed drop share over the upper confidence
//! bound of the forecast's [`Calibration`] (realised over predicted drops). The budget plans
//! each rolling window (30 days, and UK 24 h) to end a statistical margin under the target,
//! `z` standard errors for the answers it will hold: few observations, more caution.
//!
//! Up to one attempt in flight per ready agent is always launched (it cannot be dropped);
//! only the attempts beyond are priced.
//!
//! The pacer never cancels a ringing call (attempts ring to the carrier timeout, so the
//! 15 s minimum ring holds by construction) and never asks for more lines than the cap.

use serde::{Deserialize, Serialize};

use crate::budget::AbandonBudget;
use crate::estimators::{AgentTracker, AttemptModel, Calibration, HandleModel, MAX_H};
use crate::state::{Learned, PredictiveState, same_config};
use crate::stats::phi;
use crate::{
    AgentState, Clock, Config, Controller, Decision, Outcome, PacingError, PacingState, Phase,
    STATE_VERSION, StateError, Tick,
};

/// The tunable parameters of the predictive pacer. `Default` is the frozen configuration
/// the benchmark in `docs/pacing.md` was run with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictiveConfig {
    /// A fixed extra margin under the strict abandonment target (0 by default: the margin is
    /// the statistical one, see `z`).
    pub margin: f64,
    /// Normal quantile of the confidence margins: the budget plans so that the window's
    /// strict share stays `z` standard errors under the target, and the forecast's
    /// calibration is taken at its upper `z` bound.
    pub z: f64,
    /// Realised over predicted drops assumed before any drop is seen (pessimistic)...
    pub calibration_prior: f64,
    /// ...worth this many drops.
    pub calibration_prior_drops: f64,
    /// Half-life (s of shift time) of the calibration record.
    pub calibration_half_life_s: f64,
    /// Half-life (s) of the answer-rate and ring-time estimates.
    pub answer_half_life_s: f64,
    /// Half-life (s) of the talk and wrap samples.
    pub handle_half_life_s: f64,
    /// Share of dials needing an agent assumed before any data...
    pub prior_live: f64,
    /// ...worth this many dials.
    pub prior_dials: f64,
    /// Mean seconds from a live pick-up to the AMD's human verdict.
    pub amd_delay_s: f64,
    /// Verdict-time quantiles the marginal risk is averaged over.
    pub horizon_points: usize,
    /// Initial marginal-risk threshold and its bounds.
    pub theta0: f64,
    pub theta_min: f64,
    pub theta_max: f64,
    /// Step of `ln theta` per predicted drop above (or below) the allowed share.
    pub gain: f64,
    /// Live answers over which an over- or under-spent budget is paid back.
    pub payback_lives: f64,
    /// Talks shorter than this use the short-call wrap distribution.
    pub class_split_s: f64,
    /// Handle samples needed before busy agents count as future supply.
    pub min_handle_samples: usize,
    /// A team back after this long without an active agent (a night, a closed calling
    /// window) starts a new shift: the price goes back to `theta0` and ramps again.
    pub shift_gap_s: f64,
}

impl Default for PredictiveConfig {
    fn default() -> PredictiveConfig {
        PredictiveConfig {
            margin: 0.0,
            z: 1.645,
            calibration_prior: 2.0,
            calibration_prior_drops: 4.0,
            calibration_half_life_s: 4.0 * 3600.0,
            answer_half_life_s: 900.0,
            handle_half_life_s: 3600.0,
            prior_live: 0.35,
            prior_dials: 20.0,
            amd_delay_s: 1.75,
            horizon_points: 8,
            theta0: 0.01,
            theta_min: 0.0005,
            theta_max: 0.8,
            gain: 0.2,
            payback_lives: 1000.0,
            class_split_s: 60.0,
            min_handle_samples: 20,
            shift_gap_s: 3600.0,
        }
    }
}

impl PredictiveConfig {
    fn validate(&self) -> Result<(), PacingError> {
        let bad = |name: &'static str, problem: &str| {
            Err(PacingError::BadPolicy {
                name,
                problem: problem.to_string(),
            })
        };
        if !(self.margin >= 0.0 && self.margin < 0.5) {
            return bad("margin", "must be in [0, 0.5)");
        }
        if !(self.answer_half_life_s > 0.0 && self.handle_half_life_s > 0.0) {
            return bad("half_life", "must be positive");
        }
        if !(self.prior_live > 0.0 && self.prior_live < 1.0 && self.prior_dials > 0.0) {
            return bad("prior_live", "must be in (0, 1) with positive weight");
        }
        if self.horizon_points == 0 || self.horizon_points > 64 {
            return bad("horizon_points", "must be in 1..=64");
        }
        if !(0.0 < self.theta_min && self.theta_min <= self.theta0 && self.theta0 <= self.theta_max)
            || self.theta_max >= 1.0
        {
            return bad("theta", "need 0 < theta_min <= theta0 <= theta_max < 1");
        }
        if !(self.z >= 0.0 && self.z < 10.0) {
            return bad("z", "must be in [0, 10)");
        }
        if !(self.calibration_prior > 0.0
            && self.calibration_prior_drops > 0.0
            && self.calibration_half_life_s > 0.0)
        {
            return bad(
                "calibration",
                "prior, its weight and half-life must be positive",
            );
        }
        if self.shift_gap_s.is_nan() || self.shift_gap_s <= 0.0 {
            return bad("shift_gap_s", "must be positive");
        }
        if !(self.gain > 0.0 && self.payback_lives > 0.0 && self.amd_delay_s >= 0.0) {
            return bad("gain", "gain and payback must be positive");
        }
        Ok(())
    }
}

/// The predictive controller of one campaign.
#[derive(Debug, Clone)]
pub struct Predictive {
    cfg: Config,
    p: PredictiveConfig,
    clock: Clock,
    attempts: AttemptModel,
    handle: HandleModel,
    tracker: AgentTracker,
    budget: AbandonBudget,
    calibration: Calibration,
    ln_theta: f64,
    /// The last tick with an active agent: a long gap before the next starts a new shift.
    last_active_t: Option<f64>,
    // Scratch: busy agents (censored handle samples), then values per horizon point.
    talking: Vec<f64>,
    wrapping: Vec<(f64, Option<f64>)>,
    mu: Vec<f64>,
    var: Vec<f64>,
    ring_mean: Vec<f64>,
    new_live: Vec<f64>,
}

impl Predictive {
    pub fn new(cfg: Config, p: PredictiveConfig) -> Result<Predictive, PacingError> {
        cfg.validate()?;
        p.validate()?;
        let aim = (cfg.abandon_target - p.margin).max(0.0);
        let n = p.horizon_points;
        Ok(Predictive {
            attempts: AttemptModel::new(
                p.answer_half_life_s,
                cfg.ring_timeout_s,
                p.prior_live,
                p.prior_dials,
            ),
            handle: HandleModel::new(p.handle_half_life_s, p.class_split_s, p.min_handle_samples),
            tracker: AgentTracker::default(),
            budget: AbandonBudget::new(aim, cfg.amd_false_positive, cfg.uk_mode)
                .with_confidence(p.z),
            calibration: Calibration::new(
                p.calibration_prior,
                p.calibration_prior_drops,
                p.calibration_half_life_s,
            ),
            ln_theta: p.theta0.ln(),
            last_active_t: None,
            clock: Clock::default(),
            talking: Vec::new(),
            wrapping: Vec::new(),
            mu: vec![0.0; n],
            var: vec![0.0; n],
            ring_mean: vec![0.0; n],
            new_live: vec![0.0; n],
            cfg,
            p,
        })
    }

    /// The current marginal-risk threshold.
    pub fn theta(&self) -> f64 {
        self.ln_theta.exp()
    }

    /// Estimated strict abandonment of the rolling 30-day window.
    pub fn window_abandonment(&self) -> Option<f64> {
        self.budget.strict_rate()
    }

    fn learn(&mut self, tick: &Tick, dt: f64) {
        let mut humans = 0;
        let mut drops = 0;
        for c in &tick.completed {
            self.attempts.observe(tick.t, c.outcome, c.ring_s);
            match c.outcome {
                Outcome::HumanConnected => humans += 1,
                Outcome::HumanDropped => {
                    humans += 1;
                    drops += 1;
                }
                _ => {}
            }
        }
        self.attempts.advance(tick.t, dt);
        self.handle.advance(dt);
        self.tracker.update(tick.t, &tick.agents, &mut self.handle);
        self.talking.clear();
        self.wrapping.clear();
        for (i, a) in tick.agents.iter().enumerate() {
            match a.state {
                AgentState::Talk => self.talking.push(tick.t - a.since),
                AgentState::Wrap => self
                    .wrapping
                    .push((tick.t - a.since, self.tracker.talk_before_wrap(i))),
                _ => {}
            }
        }
        self.handle.maybe_rebuild(&self.talking, &self.wrapping);
        self.budget.record(tick.t, humans, drops);
        self.calibration.advance(dt);
        self.calibration.record_real(f64::from(drops));
    }

    /// The share of predicted drops per expected human verdict the pacer may run at: the
    /// budget's allowed drop share over the forecast's calibration at its upper bound.
    pub fn predicted_share_target(&self) -> f64 {
        self.budget.allowed_drop_share(self.p.payback_lives) / self.calibration.upper(self.p.z)
    }

    /// Moves the price on what this tick's launches are predicted to cost: `risk_sum` is the
    /// sum of their marginal risks (each given a live answer), `dial` their number.
    fn steer(&mut self, dial: u32, risk_sum: f64) {
        if dial == 0 {
            return;
        }
        let p_live = self.attempts.p_live();
        let predicted = p_live * risk_sum;
        let expected_humans = p_live * f64::from(dial);
        self.calibration.record_predicted(predicted);
        let r = self.predicted_share_target();
        self.ln_theta += self.p.gain * (r * expected_humans - predicted);
        self.ln_theta = self
            .ln_theta
            .clamp(self.p.theta_min.ln(), self.p.theta_max.ln());
    }

    /// The price was learned against the previous shift's team and answer rates, and at a
    /// shift's start every agent is ready and nothing rings: yesterday's evening price would
    /// launch a burst against a stale answer rate. After `shift_gap_s` without an active agent
    /// the price starts cautious again (never raised) and the predicted-drop loop ramps it, as
    /// on a campaign's first day (the answer-rate estimates are back at their prior by then,
    /// see `AttemptModel::top_up_priors`); handle times, the calibration and the budget are
    /// kept.
    fn start_shift_after_a_gap(&mut self, t: f64) {
        if let Some(last) = self.last_active_t {
            if t - last >= self.p.shift_gap_s {
                self.ln_theta = self.ln_theta.min(self.p.theta0.ln());
                self.calibration = Calibration::new(
                    self.p.calibration_prior,
                    self.p.calibration_prior_drops,
                    self.p.calibration_half_life_s,
                );
            }
        }
        self.last_active_t = Some(t);
    }

    /// Fills `mu`/`var` with supply minus demand (before any new attempt) at each horizon
    /// point and `new_live` with each new attempt's chance of a live verdict by then.
    fn forecast(&mut self, tick: &Tick) {
        let n = self.p.horizon_points;
        let p_live = self.attempts.p_live();
        let p_machine = self.attempts.p_machine();
        let delay = self.p.amd_delay_s;
        let deadline = self.cfg.connect_deadline_s;
        let use_busy = self.handle.len() >= self.p.min_handle_samples;
        let mut horizons = [0usize; 64];
        let mut ring_at = [0.0f64; 64];
        for j in 0..n {
            let q = (j as f64 + 0.5) / n as f64;
            let ring = self.attempts.live_ring_quantile(q);
            ring_at[j] = ring;
            horizons[j] = ((ring + delay + deadline).round() as usize).min(MAX_H);
            self.new_live[j] = p_live * q;
            self.mu[j] = 0.0;
            self.var[j] = 0.05;
            self.ring_mean[j] = 0.0;
        }
        for (i, a) in tick.agents.iter().enumerate() {
            let busy_for = tick.t - a.since;
            match a.state {
                AgentState::Ready => self.mu[..n].iter_mut().for_each(|m| *m += 1.0),
                AgentState::Talk | AgentState::Wrap if use_busy => {
                    let talk = self.tracker.talk_before_wrap(i);
                    for (j, &h) in horizons[..n].iter().enumerate() {
                        let p = if a.state == AgentState::Talk {
                            self.handle.p_free_talk(busy_for, h)
                        } else {
                            self.handle.p_free_wrap(busy_for, talk, h)
                        };
                        self.mu[j] += p;
                        self.var[j] += p * (1.0 - p);
                    }
                }
                _ => {}
            }
        }
        let q_answered = p_live / (p_live + p_machine).max(1e-12);
        for f in &tick.inflight {
            match f.phase {
                Phase::Answered => {
                    for j in 0..n {
                        self.mu[j] -= q_answered;
                        self.var[j] += q_answered * (1.0 - q_answered);
                    }
                }
                Phase::Ringing => {
                    let alive = self.attempts.still_ringing(f.elapsed).max(1e-6);
                    let f0 = self.attempts.live_ring_cdf(f.elapsed);
                    for (j, &ring) in ring_at[..n].iter().enumerate() {
                        // The new attempt's verdict comes `ring + delay` from now; this one's
                        // pick-up must come within `ring` more seconds.
                        let f1 = self.attempts.live_ring_cdf(f.elapsed + ring);
                        let p = (p_live * (f1 - f0) / alive).clamp(0.0, 1.0);
                        self.mu[j] -= p;
                        self.var[j] += p * (1.0 - p);
                        self.ring_mean[j] += p;
                    }
                }
            }
        }
    }

    /// Marginal drop risk of an attempt launched after `k` others this tick: the chance that
    /// one more live answer at the new attempt's verdict time finds (or leaves a later call
    /// in flight with) no agent. With first-come first-served agents, a call arriving at `s`
    /// adds a drop when the shortage at any later point `u >= s` of the horizon is positive,
    /// so the risk at each verdict time is the largest shortage probability from it on.
    fn risk(&self, k: f64) -> f64 {
        let n = self.p.horizon_points;
        let cv = 1.0 / (self.attempts.live_weight() + 1.0).sqrt();
        let mut sum = 0.0;
        let mut later_max: f64 = 0.0;
        for j in (0..n).rev() {
            let c = self.new_live[j];
            let mu = self.mu[j] - k * c;
            let shared = cv * (self.ring_mean[j] + k * c);
            let var = self.var[j] + k * c * (1.0 - c) + shared * shared;
            later_max = later_max.max(phi((0.5 - mu) / var.sqrt()));
            sum += later_max;
        }
        sum / n as f64
    }
}

impl Predictive {
    fn save(&self) -> Option<PacingState> {
        let at = self.clock.last?;
        Some(PacingState {
            version: STATE_VERSION,
            at,
            learned: Learned::Predictive(Box::new(PredictiveState {
                cfg: self.cfg.clone(),
                p: self.p.clone(),
                attempts: self.attempts.save(),
                handle: self.handle.save(),
                tracker: self.tracker.save(),
                budget: self.budget.save(),
                calibration: self.calibration.save(),
                ln_theta: self.ln_theta,
                last_active_t: self.last_active_t,
            })),
        })
    }

    /// A controller of this configuration holding `state`, its times moved onto the clock
    /// that reads `at` at the snapshot instant.
    fn restored(&self, state: &PacingState, at: f64) -> Result<Predictive, StateError> {
        let Learned::Predictive(s) = &state.learned;
        if !state_config_matches(&self.cfg, &self.p, s) {
            return Err(StateError::ConfigChanged);
        }
        let corrupt = StateError::Corrupt;
        crate::estimators::finite("snapshot instant", [state.at, at].iter()).map_err(corrupt)?;
        let offset = at - state.at;
        let mut fresh = Predictive::new(self.cfg.clone(), self.p.clone())
            .map_err(|e| corrupt(e.to_string()))?;
        fresh
            .attempts
            .restore(&s.attempts, offset)
            .map_err(corrupt)?;
        fresh.handle.restore(&s.handle).map_err(corrupt)?;
        fresh.tracker.restore(&s.tracker, offset).map_err(corrupt)?;
        fresh.budget.restore(&s.budget, offset).map_err(corrupt)?;
        fresh.calibration.restore(&s.calibration).map_err(corrupt)?;
        let (lo, hi) = (self.p.theta_min.ln(), self.p.theta_max.ln());
        if !(s.ln_theta >= lo && s.ln_theta <= hi) {
            return Err(corrupt(format!("price {} out of bounds", s.ln_theta)));
        }
        crate::estimators::finite("last_active_t", s.last_active_t.iter()).map_err(corrupt)?;
        fresh.ln_theta = s.ln_theta;
        fresh.last_active_t = s.last_active_t.map(|t| t + offset);
        fresh.clock = Clock { last: Some(at) };
        Ok(fresh)
    }
}

fn state_config_matches(cfg: &Config, p: &PredictiveConfig, s: &PredictiveState) -> bool {
    same_config(cfg, &s.cfg) && *p == s.p
}

impl Controller for Predictive {
    fn snapshot(&self) -> Option<PacingState> {
        self.save()
    }

    fn restore(&mut self, state: &PacingState, at: f64) -> Result<(), StateError> {
        *self = self.restored(state, at)?;
        Ok(())
    }

    fn estimated_answer_rate(&self) -> Option<f64> {
        Some(self.attempts.p_live())
    }

    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError> {
        let dt = self.clock.advance(tick.t)?;
        self.learn(tick, dt);
        if tick.active_agents() > 0 {
            self.start_shift_after_a_gap(tick.t);
        }
        let room = self.cfg.line_room(tick);
        if room == 0 || tick.active_agents() == 0 {
            return Ok(Decision { dial: 0 });
        }
        self.forecast(tick);
        let theta = self.theta();
        // Up to one attempt in flight per ready agent nothing can be dropped (every call has
        // its own agent): launch those whatever the forecast, whose normal approximation is
        // pessimistic for a handful of agents. Price only the attempts beyond.
        let safe =
            (tick.count(AgentState::Ready) as u32).saturating_sub(tick.inflight.len() as u32);
        let mut dial = 0;
        let mut risk_sum = 0.0;
        while dial < room {
            if dial < safe {
                dial += 1;
                continue;
            }
            let r = self.risk(f64::from(dial));
            if r > theta {
                break;
            }
            risk_sum += r;
            dial += 1;
        }
        self.steer(dial, risk_sum);
        Ok(Decision { dial })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Agent, InFlight};

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn no_agents_no_dials() {
        let mut p = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
        let tick = Tick {
            t: 0.0,
            agents: vec![
                Agent {
                    state: AgentState::Paused,
                    since: 0.0
                };
                5
            ],
            inflight: vec![],
            completed: vec![],
        };
        assert_eq!(p.tick(&tick).unwrap().dial, 0);
    }

    #[test]
    fn ready_agents_get_calls_and_more_inflight_means_fewer() {
        let mut p = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
        let ready = vec![
            Agent {
                state: AgentState::Ready,
                since: 0.0
            };
            10
        ];
        let t0 = Tick {
            t: 0.0,
            agents: ready.clone(),
            inflight: vec![],
            completed: vec![],
        };
        let n0 = p.tick(&t0).unwrap().dial;
        assert!(n0 >= 10, "{n0}");
        let t1 = Tick {
            t: 1.0,
            agents: ready,
            inflight: vec![
                InFlight {
                    elapsed: 1.0,
                    phase: Phase::Ringing
                };
                n0 as usize
            ],
            completed: vec![],
        };
        let n1 = p.tick(&t1).unwrap().dial;
        assert!(n1 < n0, "{n1} >= {n0}");
    }

    fn tick_with(t: f64, completed: Vec<crate::Completed>) -> Tick {
        Tick {
            t,
            agents: vec![
                Agent {
                    state: AgentState::Talk,
                    since: 0.0
                };
                4
            ],
            inflight: vec![],
            completed,
        }
    }

    #[test]
    fn drops_tighten_the_target_and_clean_connections_loosen_it() {
        let c = |outcome| crate::Completed {
            outcome,
            ring_s: 9.0,
        };
        for uk_mode in [false, true] {
            let cfg = Config {
                uk_mode,
                ..Config::default()
            };
            let mut dropped = Predictive::new(cfg.clone(), PredictiveConfig::default()).unwrap();
            let mut served = Predictive::new(cfg, PredictiveConfig::default()).unwrap();
            let r0 = dropped.predicted_share_target();
            for s in 0..20 {
                let t = f64::from(s);
                dropped
                    .tick(&tick_with(t, vec![c(Outcome::HumanDropped)]))
                    .unwrap();
                served
                    .tick(&tick_with(t, vec![c(Outcome::HumanConnected); 5]))
                    .unwrap();
            }
            let (rd, rs) = (
                dropped.predicted_share_target(),
                served.predicted_share_target(),
            );
            assert!(rd < r0 * 0.5, "{rd} vs {r0}");
            assert!(rs > r0, "{rs} vs {r0}");
            assert!(dropped.window_abandonment().unwrap() > 0.9);
            let strict = served.window_abandonment().unwrap();
            assert!((strict - 0.01).abs() < 1e-9, "{strict}");
        }
    }

    #[test]
    fn price_follows_predicted_drops() {
        // Every agent ready and nothing in flight: launches are nearly free of risk, so the
        // predicted drops stay under the allowed share and the price rises.
        let mut p = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
        let theta0 = p.theta();
        let ready = vec![
            Agent {
                state: AgentState::Ready,
                since: 0.0
            };
            20
        ];
        for s in 0..5 {
            let tick = Tick {
                t: f64::from(s),
                agents: ready.clone(),
                inflight: vec![],
                completed: vec![],
            };
            p.tick(&tick).unwrap();
        }
        assert!(p.theta() > theta0, "{} <= {theta0}", p.theta());
        // Many calls about to be answered and no agent free: every launch is risky, the
        // predicted drops exceed the share and the price falls.
        let mut q = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
        let mut agents = vec![
            Agent {
                state: AgentState::Talk,
                since: 0.0
            };
            20
        ];
        agents[0].state = AgentState::Ready;
        for s in 0..5 {
            let tick = Tick {
                t: f64::from(s),
                agents: agents.clone(),
                inflight: vec![
                    InFlight {
                        elapsed: 10.0,
                        phase: Phase::Ringing
                    };
                    3
                ],
                completed: vec![],
            };
            q.tick(&tick).unwrap();
        }
        assert!(q.theta() <= theta0, "{} > {theta0}", q.theta());
    }

    #[test]
    fn a_new_shift_starts_from_the_cautious_price() {
        let ready = |t: f64, n: usize| Tick {
            t,
            agents: vec![
                Agent {
                    state: AgentState::Ready,
                    since: 0.0
                };
                n
            ],
            inflight: vec![],
            completed: vec![],
        };
        let mut p = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
        let theta0 = p.theta();
        for s in 0..30 {
            p.tick(&ready(f64::from(s), 20)).unwrap();
        }
        let evening = p.theta();
        assert!(evening > theta0, "{evening} <= {theta0}");
        // Half an hour without agents is a break, not a new shift: the price is kept.
        let mut after_break = p.clone();
        for s in 1..1800 {
            after_break.tick(&ready(30.0 + f64::from(s), 0)).unwrap();
        }
        after_break.tick(&ready(1830.0, 20)).unwrap();
        assert!(after_break.theta() >= evening, "{}", after_break.theta());
        // Overnight, ticked without agents or not ticked at all: the morning starts at theta0.
        let mut ticked = p.clone();
        for s in 1..=4000 {
            ticked.tick(&ready(30.0 + f64::from(s), 0)).unwrap();
        }
        let mut jumped = p;
        for q in [&mut ticked, &mut jumped] {
            q.tick(&ready(57_600.0, 20)).unwrap();
            assert!(q.theta() < evening, "{} >= {evening}", q.theta());
            assert!(q.theta() <= theta0 * 1.5, "{} vs {theta0}", q.theta());
        }
    }

    #[test]
    fn a_cold_pacer_never_dials_fewer_than_progressive() {
        for n in 1..=20usize {
            for talking in [0usize, 3] {
                let mut p = Predictive::new(cfg(), PredictiveConfig::default()).unwrap();
                let mut agents = vec![
                    Agent {
                        state: AgentState::Ready,
                        since: 0.0
                    };
                    n
                ];
                agents.extend(vec![
                    Agent {
                        state: AgentState::Talk,
                        since: 0.0
                    };
                    talking
                ]);
                let inflight = vec![
                    InFlight {
                        elapsed: 3.0,
                        phase: Phase::Ringing
                    };
                    n / 2
                ];
                let tick = Tick {
                    t: 0.0,
                    agents,
                    inflight,
                    completed: vec![],
                };
                let d = p.tick(&tick).unwrap().dial as usize;
                assert!(d >= n - n / 2, "{n} ready, {} in flight: {d}", n / 2);
            }
        }
    }

    #[test]
    fn bad_config_is_refused() {
        let p = PredictiveConfig {
            theta0: 2.0,
            ..PredictiveConfig::default()
        };
        assert!(Predictive::new(cfg(), p).is_err());
        let c = Config {
            abandon_target: 0.0,
            ..Config::default()
        };
        assert!(Predictive::new(c, PredictiveConfig::default()).is_err());
    }
}
