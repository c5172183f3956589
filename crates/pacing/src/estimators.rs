//! Online estimators the predictive pacer forecasts with. Everything is learned from what the
//! switch and the agent service report (outcomes, ring times, agent state changes); nothing
//! about the true call model is assumed, so the same code serves any campaign.
//!
//! - [`AttemptModel`]: the outcome mix of a dial (share that needs an agent, machines,
//!   failures, no answers) and the ring-time distribution of each, recency-weighted
//!   (exponential decay in time) because answer rates drift over the day. Attempts are
//!   counted once they are surely resolved (after a lag longer than any attempt lives), so
//!   fast failures do not bias the mix while slower outcomes are still ringing.
//! - [`HandleModel`]: talk and wrap durations learned from agent state changes, as joint
//!   (talk, wrap) samples with recency weights, turned every minute into lookup tables
//!   of "probability this busy agent is free within h seconds given how long it has been
//!   busy". Talk and wrap are correlated (long talks are right-party contacts with long
//!   wraps), which the joint samples keep.
//! - [`AgentTracker`]: turns consecutive ticks' agent lists into those samples.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::{Agent, AgentState, Outcome};

/// Width of ring-time histogram bins (s).
const RING_BIN_S: f64 = 0.5;
/// Ring-time histogram span (s): longer than any carrier timeout we expect.
const RING_BINS: usize = 64;

/// Outcome classes of the attempt model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A human verdict: needs an agent.
    Live = 0,
    Machine = 1,
    Fail = 2,
    NoAnswer = 3,
}

impl Class {
    fn of(o: Outcome) -> Class {
        match o {
            Outcome::HumanConnected | Outcome::HumanDropped => Class::Live,
            Outcome::Machine => Class::Machine,
            Outcome::Fail => Class::Fail,
            Outcome::NoAnswer => Class::NoAnswer,
        }
    }
}

/// Recency-weighted histogram with a cached distribution function.
#[derive(Debug, Clone)]
struct Hist {
    w: [f64; RING_BINS],
    total: f64,
    cdf: [f64; RING_BINS + 1],
    dirty: bool,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            w: [0.0; RING_BINS],
            total: 0.0,
            cdf: [0.0; RING_BINS + 1],
            dirty: true,
        }
    }

    fn add(&mut self, x: f64, weight: f64) {
        let i = ((x / RING_BIN_S).max(0.0) as usize).min(RING_BINS - 1);
        self.w[i] += weight;
        self.total += weight;
        self.dirty = true;
    }

    /// Adds `share` x `other` (a distribution of total mass 1).
    fn blend(&mut self, other: &Hist, share: f64) {
        for (w, o) in self.w.iter_mut().zip(&other.w) {
            *w += share * o;
        }
        self.total += share * other.total;
        self.dirty = true;
    }

    fn decay(&mut self, f: f64) {
        self.w.iter_mut().for_each(|w| *w *= f);
        self.total *= f;
        self.dirty = true;
    }

    fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        let mut acc = 0.0;
        self.cdf[0] = 0.0;
        for i in 0..RING_BINS {
            acc += self.w[i];
            self.cdf[i + 1] = if self.total > 0.0 {
                acc / self.total
            } else {
                0.0
            };
        }
        self.dirty = false;
    }

    /// P(X <= x), linear within bins. Call `refresh` first.
    fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let pos = x / RING_BIN_S;
        let i = pos as usize;
        if i >= RING_BINS {
            return 1.0;
        }
        let f = pos - i as f64;
        self.cdf[i] + f * (self.cdf[i + 1] - self.cdf[i])
    }

    /// Smallest x with P(X <= x) >= q.
    fn quantile(&self, q: f64) -> f64 {
        for i in 0..RING_BINS {
            if self.cdf[i + 1] >= q {
                let lo = self.cdf[i];
                let hi = self.cdf[i + 1];
                let f = if hi > lo { (q - lo) / (hi - lo) } else { 0.5 };
                return (i as f64 + f) * RING_BIN_S;
            }
        }
        RING_BINS as f64 * RING_BIN_S
    }
}

/// An attempt waiting to be folded into the estimates, ordered by estimated dial time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    dialed: f64,
    class: Class,
    ring_s: f64,
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.dialed.total_cmp(&other.dialed)
    }
}

/// Outcome mix and ring-time distributions of dials, recency-weighted.
#[derive(Debug, Clone)]
pub struct AttemptModel {
    decay_per_s: f64,
    lag_s: f64,
    ring_timeout_s: f64,
    /// Attempts not yet folded in, earliest estimated dial time first. Completion order is
    /// not dial order (a failure dialed later ends before a live answer dialed earlier), so
    /// a FIFO would hold back the slow outcomes and bias the mix towards the fast ones.
    pending: BinaryHeap<Reverse<Pending>>,
    weight: [f64; 4],
    /// The outcome mix assumed before data, in dials, and the ring-time shapes assumed.
    prior: [f64; 4],
    prior_ring: [Hist; 3],
    ring: [Hist; 3],
}

impl AttemptModel {
    /// `half_life_s`: recency of the estimates; `prior_live`: share needing an agent assumed
    /// before data, worth `prior_dials` dials.
    pub fn new(half_life_s: f64, ring_timeout_s: f64, prior_live: f64, prior_dials: f64) -> Self {
        let mut ring = [Hist::new(), Hist::new(), Hist::new()];
        // Weak priors: live and machine answers anywhere in the first 20 s, failures early.
        for (k, h) in ring.iter_mut().enumerate() {
            let (lo, hi) = if k == 2 { (0.5, 5.0) } else { (2.0, 20.0) };
            let n = ((hi - lo) / RING_BIN_S) as usize;
            for i in 0..n {
                h.add(lo + (i as f64 + 0.5) * RING_BIN_S, 1.0 / n as f64);
            }
        }
        let other = (1.0 - prior_live).max(0.0);
        let prior = [
            prior_live * prior_dials,
            0.45 * other * prior_dials,
            0.15 * other * prior_dials,
            0.40 * other * prior_dials,
        ];
        AttemptModel {
            decay_per_s: std::f64::consts::LN_2 / half_life_s,
            lag_s: ring_timeout_s + 10.0,
            ring_timeout_s,
            pending: BinaryHeap::new(),
            weight: prior,
            prior,
            prior_ring: ring.clone(),
            ring,
        }
    }

    /// Ages the estimates by `dt` seconds and folds in attempts resolved long enough ago.
    pub fn advance(&mut self, now: f64, dt: f64) {
        if dt > 0.0 {
            let f = (-self.decay_per_s * dt).exp();
            self.weight.iter_mut().for_each(|w| *w *= f);
            self.ring.iter_mut().for_each(|h| h.decay(f));
            self.top_up_priors();
        }
        while let Some(&Reverse(Pending {
            dialed,
            class,
            ring_s,
        })) = self.pending.peek()
        {
            if dialed > now - self.lag_s {
                break;
            }
            self.pending.pop();
            // Folded late (the clock jumped, say overnight): aged as if folded when due.
            let late = (now - self.lag_s - dialed).max(0.0);
            let w = (-self.decay_per_s * late).exp();
            self.weight[class as usize] += w;
            if class != Class::NoAnswer {
                self.ring[class as usize].add(ring_s, w);
            }
        }
        self.ring.iter_mut().for_each(Hist::refresh);
    }

    /// Ageing keeps the ratios of what it ages, so after a night (or hours of a closed calling
    /// window) yesterday's closing answer rate would stand, worth next to nothing yet unmoved
    /// until today's first attempts resolve (S3 closes at 15 % live answers and opens at
    /// 30 %), and weights that fall under the ratios' floor would make it zero. So the
    /// estimates never hold less than the prior's weight: what the data no longer carries is
    /// made up by the cautious prior, and a team's first minutes after a long gap pace as on
    /// a campaign's first day. While data flows (hundreds of dials per half-life) it never
    /// applies.
    fn top_up_priors(&mut self) {
        let prior_total: f64 = self.prior.iter().sum();
        let missing = (prior_total - self.total()) / prior_total;
        if missing > 0.0 {
            for (w, p) in self.weight.iter_mut().zip(self.prior) {
                *w += missing * p;
            }
        }
        for (h, p) in self.ring.iter_mut().zip(&self.prior_ring) {
            let missing = 1.0 - h.total;
            if missing > 0.0 {
                h.blend(p, missing);
            }
        }
    }

    /// Records an attempt the switch reported resolved at `now`.
    pub fn observe(&mut self, now: f64, outcome: Outcome, ring_s: f64) {
        let class = Class::of(outcome);
        // Outcomes after a pick-up resolve a few seconds after it.
        let after = match class {
            Class::Live => 2.0,
            Class::Machine => 3.0,
            _ => 0.0,
        };
        self.pending.push(Reverse(Pending {
            dialed: now - ring_s.max(0.0) - after,
            class,
            ring_s,
        }));
    }

    fn total(&self) -> f64 {
        self.weight.iter().sum()
    }

    /// Share of dials that end with a human verdict (need an agent).
    pub fn p_live(&self) -> f64 {
        self.weight[0] / self.total().max(1e-12)
    }

    /// Share of dials answered by a machine (as the switch reports it).
    pub fn p_machine(&self) -> f64 {
        self.weight[1] / self.total().max(1e-12)
    }

    /// Effective number of human verdicts behind `p_live` (for its uncertainty).
    pub fn live_weight(&self) -> f64 {
        self.weight[0]
    }

    /// P(a live answer picks up within `x` s of the dial).
    pub fn live_ring_cdf(&self, x: f64) -> f64 {
        self.ring[0].cdf(x)
    }

    /// Quantile of the ring time of live answers.
    pub fn live_ring_quantile(&self, q: f64) -> f64 {
        self.ring[0].quantile(q)
    }

    /// P(a dial is still ringing `e` s after it started), over every outcome.
    pub fn still_ringing(&self, e: f64) -> f64 {
        let total = self.total().max(1e-12);
        let mut s = 0.0;
        for k in 0..3 {
            s += self.weight[k] * (1.0 - self.ring[k].cdf(e));
        }
        if e < self.ring_timeout_s {
            s += self.weight[3];
        }
        s / total
    }
}

/// How far the pacer's own drop forecast is from what happens: realised drops over
/// predicted drops (the sum of the launched attempts' marginal risks times their chance of
/// a live answer), with a pessimistic prior worth a few drops, aged in shift time.
///
/// The forecast's normal approximation and independence assumptions are biased in ways that
/// depend on the team size and the scenario; this ratio measures the bias from the pacer's
/// own record. [`Calibration::upper`] is a one-sided confidence bound: the realised drops
/// behind the ratio are a Poisson count, so its relative error is about `1 / sqrt(count)`,
/// wide for a 10-agent team's first hours (a few drops) and narrow at 200 agents.
#[derive(Debug, Clone)]
pub struct Calibration {
    real: f64,
    predicted: f64,
    prior_ratio: f64,
    prior_drops: f64,
    decay_per_s: f64,
}

impl Calibration {
    /// `prior_ratio`: realised over predicted assumed before data, worth `prior_drops`
    /// realised drops; `half_life_s`: ageing in shift time (gaps over a minute, such as a
    /// night, do not age it).
    pub fn new(prior_ratio: f64, prior_drops: f64, half_life_s: f64) -> Calibration {
        Calibration {
            real: 0.0,
            predicted: 0.0,
            prior_ratio,
            prior_drops,
            decay_per_s: std::f64::consts::LN_2 / half_life_s,
        }
    }

    /// Ages the record by `dt` seconds of shift time.
    pub fn advance(&mut self, dt: f64) {
        if dt > 0.0 && dt <= 60.0 {
            let f = (-self.decay_per_s * dt).exp();
            self.real *= f;
            self.predicted *= f;
        }
    }

    pub fn record_predicted(&mut self, drops: f64) {
        self.predicted += drops.max(0.0);
    }

    pub fn record_real(&mut self, drops: f64) {
        self.real += drops.max(0.0);
    }

    fn counts(&self) -> (f64, f64) {
        let n = self.real + self.prior_drops;
        let d = self.predicted + self.prior_drops / self.prior_ratio;
        (n, d)
    }

    pub fn real_drops(&self) -> f64 {
        self.real
    }

    pub fn predicted_drops(&self) -> f64 {
        self.predicted
    }

    /// Point estimate of realised over predicted drops.
    pub fn ratio(&self) -> f64 {
        let (n, d) = self.counts();
        n / d
    }

    /// One-sided upper confidence bound of the ratio with normal quantile `z`.
    pub fn upper(&self, z: f64) -> f64 {
        let (n, _) = self.counts();
        self.ratio() * (1.0 + z / n.sqrt())
    }
}

/// Span of the talk-elapsed axis of the lookup tables (s); longer talks use the last row.
const TALK_SPAN: usize = 1800;
/// Span of the wrap-elapsed axis (s).
const WRAP_SPAN: usize = 600;
/// Horizons of the lookup tables: 0..=MAX_H seconds.
pub const MAX_H: usize = 32;

/// P(free within h | busy for a), as a table over integer a and h.
#[derive(Debug, Clone)]
struct FreeTable {
    span: usize,
    /// p[a * (MAX_H + 1) + h]
    p: Vec<f32>,
    ready: bool,
}

impl FreeTable {
    fn new(span: usize) -> FreeTable {
        FreeTable {
            span,
            p: vec![0.0; span * (MAX_H + 1)],
            ready: false,
        }
    }

    /// Builds from weighted samples. A finished sample `(cond, done, w)`: the phase the table
    /// conditions on lasted `cond` s (the agent is known to be still in it at `a < cond`) and
    /// the agent was free at `done >= cond`. A censored sample `(c, w)` is an agent still in
    /// the phase after `c` s: it only says "not free within h of a" for `a + h < c`. Without
    /// the censored samples, a table built early in a shift would only know the short calls
    /// that already ended and would promise agents far too soon.
    fn build(
        &mut self,
        samples: impl Iterator<Item = (f64, f64, f64)>,
        censored: impl Iterator<Item = (f64, f64)>,
        min_weight: f64,
    ) {
        let span = self.span;
        let stride = MAX_H + 1;
        let mut den = vec![0.0f64; span + 1];
        let mut den_c = vec![0.0f64; (span + 1) * stride];
        let mut num = vec![0.0f64; (span + 1) * stride];
        for (cond, done, w) in samples {
            // a in [0, ceil(cond)) are consistent with "still in phase at a".
            let a_hi = (cond.ceil() as usize).min(span);
            if a_hi == 0 {
                continue;
            }
            den[0] += w;
            den[a_hi] -= w;
            for h in 0..=MAX_H {
                // free within h of a: done <= a + h, so a >= done - h.
                let a_lo = (done - h as f64).ceil().max(0.0) as usize;
                if a_lo < a_hi {
                    num[a_lo * stride + h] += w;
                    num[a_hi * stride + h] -= w;
                }
            }
        }
        for (c, w) in censored {
            for h in 0..=MAX_H {
                let a_hi = ((c - h as f64).ceil().max(0.0) as usize).min(span);
                if a_hi > 0 {
                    den_c[h] += w;
                    den_c[a_hi * stride + h] -= w;
                }
            }
        }
        let mut d = 0.0;
        let mut acc = vec![0.0f64; stride];
        let mut acc_c = vec![0.0f64; stride];
        let mut last_good: Vec<Option<f32>> = vec![None; stride];
        for a in 0..span {
            d += den[a];
            let row = &num[a * stride..(a + 1) * stride];
            acc.iter_mut().zip(row).for_each(|(x, n)| *x += n);
            let row_c = &den_c[a * stride..(a + 1) * stride];
            acc_c.iter_mut().zip(row_c).for_each(|(x, n)| *x += n);
            for h in 0..stride {
                let total = d + acc_c[h];
                let p = if total >= min_weight {
                    let p = (acc[h] / total).clamp(0.0, 1.0) as f32;
                    last_good[h] = Some(p);
                    p
                } else {
                    // Too few samples this long: reuse the last well-estimated value.
                    last_good[h].unwrap_or(0.0)
                };
                self.p[a * stride + h] = p;
            }
        }
        self.ready = last_good.iter().any(Option::is_some);
    }

    fn get(&self, a: f64, h: usize) -> f64 {
        if !self.ready {
            return 0.0;
        }
        let a = (a.max(0.0) as usize).min(self.span - 1);
        f64::from(self.p[a * (MAX_H + 1) + h.min(MAX_H)])
    }
}

/// Talk and wrap durations, and the "free within h" forecasts built from them.
#[derive(Debug, Clone)]
pub struct HandleModel {
    half_life_s: f64,
    class_split_s: f64,
    min_samples: usize,
    rebuild_every_s: f64,
    /// (time recorded, talk, wrap)
    samples: VecDeque<(f64, f64, f64)>,
    max_samples: usize,
    /// Shift time: advances with the ticks but at most a few seconds per tick, so a night
    /// between shifts does not age yesterday's handle times (they do not depend on the hour
    /// the way answer rates do).
    active: f64,
    last_build: f64,
    new_since_build: usize,
    talk: FreeTable,
    /// Wrap tables after a short talk, after a long talk, and for an unknown talk.
    wrap: [FreeTable; 3],
}

impl HandleModel {
    pub fn new(half_life_s: f64, class_split_s: f64, min_samples: usize) -> HandleModel {
        HandleModel {
            half_life_s,
            class_split_s,
            min_samples,
            rebuild_every_s: 60.0,
            samples: VecDeque::new(),
            max_samples: 3000,
            active: 0.0,
            last_build: f64::NEG_INFINITY,
            new_since_build: 0,
            talk: FreeTable::new(TALK_SPAN),
            wrap: [
                FreeTable::new(WRAP_SPAN),
                FreeTable::new(WRAP_SPAN),
                FreeTable::new(WRAP_SPAN),
            ],
        }
    }

    /// Advances the shift clock by a tick's `dt` (capped: gaps between shifts do not count).
    pub fn advance(&mut self, dt: f64) {
        self.active += dt.clamp(0.0, 5.0);
    }

    pub fn record(&mut self, talk: f64, wrap: f64) {
        self.samples
            .push_back((self.active, talk.max(0.0), wrap.max(0.0)));
        if self.samples.len() > self.max_samples {
            self.samples.pop_front();
        }
        self.new_since_build += 1;
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Rebuilds the tables when due. `talking` holds how long each agent now in talk has
    /// been talking; `wrapping` how long each agent in wrap has been wrapping, with the talk
    /// before it when known (both are censored observations).
    pub fn maybe_rebuild(&mut self, talking: &[f64], wrapping: &[(f64, Option<f64>)]) {
        let now = self.active;
        if self.new_since_build == 0
            || self.samples.len() < self.min_samples
            || now - self.last_build < self.rebuild_every_s
        {
            return;
        }
        self.last_build = now;
        self.new_since_build = 0;
        let lambda = std::f64::consts::LN_2 / self.half_life_s;
        let w = |t: f64| (-lambda * (now - t)).exp();
        let min_w = 3.0;
        let s = &self.samples;
        let split = self.class_split_s;
        self.talk.build(
            s.iter().map(|&(t, tk, wr)| (tk, tk + wr, w(t))),
            talking.iter().map(|&c| (c, 1.0)),
            min_w,
        );
        let class = |talk: Option<f64>, k: usize| match (talk, k) {
            (_, 2) => true,
            (Some(t), 0) => t < split,
            (Some(t), 1) => t >= split,
            _ => false,
        };
        for k in 0..3 {
            self.wrap[k].build(
                s.iter()
                    .filter(|x| class(Some(x.1), k))
                    .map(|&(t, _, wr)| (wr, wr, w(t))),
                wrapping
                    .iter()
                    .filter(|x| class(x.1, k))
                    .map(|&(b, _)| (b, 1.0)),
                min_w,
            );
        }
    }

    /// P(an agent in talk for `a` s is free (talk and wrap over) within `h` s).
    pub fn p_free_talk(&self, a: f64, h: usize) -> f64 {
        self.talk.get(a, h)
    }

    /// P(an agent in wrap for `b` s, after a talk of `talk` s if known, is free within `h`).
    pub fn p_free_wrap(&self, b: f64, talk: Option<f64>, h: usize) -> f64 {
        let table = match talk {
            Some(t) if t < self.class_split_s => &self.wrap[0],
            Some(_) => &self.wrap[1],
            None => &self.wrap[2],
        };
        if table.ready {
            table.get(b, h)
        } else {
            self.wrap[2].get(b, h)
        }
    }
}

/// Learns handle times from consecutive agent lists (positions are seats).
#[derive(Debug, Clone, Default)]
pub struct AgentTracker {
    prev_t: Option<f64>,
    prev: Vec<Agent>,
    /// Talk length of the call each seat is wrapping up, when seen.
    last_talk: Vec<Option<f64>>,
}

impl AgentTracker {
    /// Longest believable gap between ticks for a state change to be measured.
    const MAX_GAP_S: f64 = 5.0;

    /// Compares with the previous tick and records finished (talk, wrap) pairs.
    pub fn update(&mut self, now: f64, agents: &[Agent], model: &mut HandleModel) {
        let contiguous = self
            .prev_t
            .is_some_and(|p| now - p <= Self::MAX_GAP_S && agents.len() == self.prev.len());
        if !contiguous {
            self.last_talk = vec![None; agents.len()];
        } else {
            for (i, (old, new)) in self.prev.iter().zip(agents).enumerate() {
                if old.state == new.state && old.since == new.since {
                    continue;
                }
                match (old.state, new.state) {
                    (AgentState::Talk, AgentState::Wrap) => {
                        self.last_talk[i] = Some(new.since - old.since);
                    }
                    (AgentState::Talk, _) => {
                        model.record(new.since - old.since, 0.0);
                        self.last_talk[i] = None;
                    }
                    (AgentState::Wrap, _) => {
                        if let Some(talk) = self.last_talk[i].take() {
                            model.record(talk, new.since - old.since);
                        }
                    }
                    _ => self.last_talk[i] = None,
                }
            }
        }
        self.prev_t = Some(now);
        self.prev.clear();
        self.prev.extend_from_slice(agents);
    }

    /// Talk length before the current wrap of seat `i`, if seen.
    pub fn talk_before_wrap(&self, i: usize) -> Option<f64> {
        self.last_talk.get(i).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn calibration_starts_pessimistic_and_learns() {
        let mut c = Calibration::new(1.5, 4.0, 14_400.0);
        assert!((c.ratio() - 1.5).abs() < 1e-12);
        // With only the prior (4 drops) the bound is far above the estimate.
        assert!(c.upper(1.645) > 1.5 * 1.8, "{}", c.upper(1.645));
        // A well-calibrated forecast: 400 drops predicted, 400 seen.
        c.record_predicted(400.0);
        c.record_real(400.0);
        assert!((c.ratio() - 1.0).abs() < 0.01, "{}", c.ratio());
        assert!(c.upper(1.645) < 1.1, "{}", c.upper(1.645));
        // A forecast that under-predicts by half is caught.
        let mut u = Calibration::new(1.5, 4.0, 14_400.0);
        u.record_predicted(200.0);
        u.record_real(400.0);
        assert!(u.ratio() > 1.9, "{}", u.ratio());
    }

    #[test]
    fn calibration_ages_in_shift_time_only() {
        let mut c = Calibration::new(1.0, 1.0, 3600.0);
        c.record_predicted(100.0);
        c.record_real(100.0);
        c.advance(50_000.0); // a night: not aged
        assert!((c.real_drops() - 100.0).abs() < 1e-9);
        for _ in 0..3600 {
            c.advance(1.0);
        }
        assert!((c.real_drops() - 50.0).abs() < 0.01, "{}", c.real_drops());
    }

    proptest! {
        /// The bound is never under the estimate, grows with z, and for the same observed
        /// ratio narrows as observations accumulate (few observations: more caution).
        #[test]
        fn calibration_bound_narrows_with_data(
            ratio in 0.2f64..3.0,
            small in 1.0f64..50.0,
            factor in 2.0f64..100.0,
            z in 0.5f64..3.0,
        ) {
            let make = |pred: f64| {
                let mut c = Calibration::new(ratio, 4.0, 14_400.0);
                c.record_predicted(pred);
                c.record_real(pred * ratio);
                c
            };
            let few = make(small);
            let many = make(small * factor);
            prop_assert!((few.ratio() - ratio).abs() < 1e-9);
            prop_assert!(few.upper(z) >= few.ratio());
            prop_assert!(few.upper(z + 0.5) > few.upper(z));
            prop_assert!(many.upper(z) < few.upper(z));
        }

        /// The budget's statistical margin shrinks as 1 / sqrt(answers) and never goes
        /// negative; the allowed share never grows when the margin's z grows.
        #[test]
        fn budget_margin_is_monotone(
            lives in 10.0f64..1e6,
            z in 0.0f64..3.0,
            humans in 0u32..20_000,
            share in 0.0f64..0.06,
        ) {
            use crate::budget::{AbandonBudget, statistical_margin};
            let m = statistical_margin(0.03, z, lives);
            prop_assert!(m >= 0.0);
            prop_assert!(statistical_margin(0.03, z, lives * 4.0) <= m / 2.0 + 1e-12);
            let drops = (f64::from(humans) * share) as u32;
            let mut lo = AbandonBudget::new(0.03, 0.01, false).with_confidence(z);
            let mut hi = AbandonBudget::new(0.03, 0.01, false).with_confidence(z + 1.0);
            lo.record(5.0, humans, drops);
            hi.record(5.0, humans, drops);
            prop_assert!(hi.allowed_drop_share(2000.0) <= lo.allowed_drop_share(2000.0) + 1e-15);
        }
    }

    #[test]
    fn attempt_model_learns_the_mix() {
        let mut m = AttemptModel::new(1e9, 22.0, 0.2, 1.0);
        let mut t = 0.0;
        for i in 0..4000 {
            t += 1.0;
            let (o, r) = match i % 4 {
                0 => (Outcome::HumanConnected, 9.0),
                1 => (Outcome::Machine, 17.0),
                2 => (Outcome::NoAnswer, 22.0),
                _ => (Outcome::Fail, 2.0),
            };
            m.observe(t, o, r);
            m.advance(t, 1.0);
        }
        assert!((m.p_live() - 0.25).abs() < 0.01, "{}", m.p_live());
        assert!((m.live_ring_cdf(9.5) - 1.0).abs() < 0.05);
        assert!(m.live_ring_cdf(9.0) < 0.05);
        // A dial ringing for 18 s is either unanswered or a late machine.
        assert!(m.still_ringing(18.0) > 0.2 && m.still_ringing(18.0) < 0.3);
    }

    #[test]
    fn after_a_night_the_estimates_are_the_prior_again() {
        // An evening at 10 % live answers, then a 16-hour night (15-minute half-life).
        let mut m = AttemptModel::new(900.0, 22.0, 0.35, 20.0);
        let mut t = 0.0;
        for i in 0..3000 {
            t += 1.0;
            let o = if i % 10 == 0 {
                Outcome::HumanConnected
            } else {
                Outcome::NoAnswer
            };
            m.observe(t, o, 9.0);
            m.advance(t, 1.0);
        }
        assert!((m.p_live() - 0.10).abs() < 0.02, "{}", m.p_live());
        m.advance(t + 57_600.0, 57_600.0);
        // ...the morning paces on the prior, as a first day does.
        assert!((m.p_live() - 0.35).abs() < 0.01, "{}", m.p_live());
        assert!((m.live_weight() - 7.0).abs() < 0.1, "{}", m.live_weight());
        let median = m.live_ring_quantile(0.5);
        assert!((median - 11.0).abs() < 0.6, "{median}");
    }

    #[test]
    fn censored_agents_temper_early_estimates() {
        // Early in a shift only short calls have ended; 10 agents are still talking at 50 s.
        let mut h = HandleModel::new(1e9, 60.0, 5);
        for _ in 0..10 {
            h.record(20.0, 5.0);
        }
        h.maybe_rebuild(&[], &[]);
        let naive = h.p_free_talk(10.0, 15);
        let mut c = HandleModel::new(1e9, 60.0, 5);
        for _ in 0..10 {
            c.record(20.0, 5.0);
        }
        c.maybe_rebuild(&[50.0; 10], &[]);
        let tempered = c.p_free_talk(10.0, 15);
        assert!((naive - 1.0).abs() < 1e-6);
        assert!((tempered - 0.5).abs() < 1e-6, "{tempered}");
    }

    #[test]
    fn slow_outcomes_are_not_held_back_by_later_fast_ones() {
        // 100 dials a second from 0 s; failures (10 %) end after 2 s, live answers (25 %) after 10 s,
        // the rest after 22 s. The estimate must not dip while slow outcomes are pending.
        let mut m = AttemptModel::new(1e9, 22.0, 0.25, 1.0);
        for s in 0..120 {
            let t = f64::from(s);
            if s >= 2 {
                for _ in 0..10 {
                    m.observe(t, Outcome::Fail, 2.0);
                }
            }
            if s >= 10 {
                for _ in 0..25 {
                    m.observe(t, Outcome::HumanConnected, 8.0);
                }
            }
            if s >= 22 {
                for _ in 0..65 {
                    m.observe(t, Outcome::NoAnswer, 22.0);
                }
            }
            m.advance(t, 1.0);
            assert!((m.p_live() - 0.25).abs() < 0.02, "t {t}: {}", m.p_live());
        }
    }

    #[test]
    fn free_table_conditions_on_elapsed() {
        let mut h = HandleModel::new(1e9, 60.0, 10);
        // Half the calls last 10 s + 5 s wrap, half 100 s + 20 s wrap.
        for i in 0..200 {
            if i % 2 == 0 {
                h.record(10.0, 5.0);
            } else {
                h.record(100.0, 20.0);
            }
        }
        h.maybe_rebuild(&[], &[]);
        // At 0 s, half are free within 15 s.
        assert!((h.p_free_talk(0.0, 15) - 0.5).abs() < 1e-6);
        // Past 10 s only long calls remain, free at 120 s.
        assert!(h.p_free_talk(50.0, 20) < 1e-6);
        assert!((h.p_free_talk(99.0, 21) - 1.0).abs() < 1e-6);
        assert!(h.p_free_talk(99.0, 20) < 1e-6);
        assert!((h.p_free_wrap(0.0, Some(100.0), 20) - 1.0).abs() < 1e-6);
        assert!(h.p_free_wrap(0.0, Some(100.0), 10) < 1e-6);
        assert!((h.p_free_wrap(0.0, Some(5.0), 5) - 1.0).abs() < 1e-6);
    }
}
