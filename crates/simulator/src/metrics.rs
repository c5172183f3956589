//! The benchmark's metrics: per day, then pooled over days with a 95 % interval.
//!
//! Strict abandonment = (persons dropped + AMD false positives) / live answers (persons who
//! picked up). Pacing abandonment = persons dropped / persons the AMD called human.
//! Occupancy = (talk + wrap) / logged-in, unpaused time within the shift. Per-agent-hour
//! rates use the same logged-in, unpaused time. Machines passed to agents by mistake use
//! agent time but are neither live answers nor contacts.

use pacing::AgentState;
use serde::Serialize;

/// Everything counted on one simulated day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayMetrics {
    pub dials: u64,
    pub live_answers: u64,
    pub amd_false_positives: u64,
    pub drops: u64,
    pub live_contacts: u64,
    pub rpc_contacts: u64,
    pub busy_s: f64,
    pub ready_s: f64,
    pub paused_s: f64,
    pub peak_lines: u64,
    /// Ticks where the controller asked for more lines than the cap allowed.
    pub cap_violations: u64,
    /// Worst strict abandonment over rolling 30-min windows (60 s step) with >= 30 live
    /// answers.
    pub worst_window: Option<f64>,
    /// Live answers and strict abandons in the first 30 minutes of the shift.
    pub first_30min_lives: u64,
    pub first_30min_strict: u64,
    #[serde(skip)]
    lives_by_min: Vec<u32>,
    #[serde(skip)]
    strict_by_min: Vec<u32>,
}

impl DayMetrics {
    pub(crate) fn new(shift_s: u32) -> DayMetrics {
        let minutes = (shift_s as usize).div_ceil(60).max(1);
        DayMetrics {
            lives_by_min: vec![0; minutes],
            strict_by_min: vec![0; minutes],
            ..DayMetrics::default()
        }
    }

    fn minute(&self, t: f64) -> usize {
        ((t / 60.0) as usize).min(self.lives_by_min.len() - 1)
    }

    pub(crate) fn live_answer(&mut self, t: f64, amd_fp: bool) {
        let m = self.minute(t);
        self.live_answers += 1;
        self.lives_by_min[m] += 1;
        if amd_fp {
            self.amd_false_positives += 1;
            self.strict_by_min[m] += 1;
        }
    }

    pub(crate) fn drop_person(&mut self, t: f64) {
        let m = self.minute(t);
        self.drops += 1;
        self.strict_by_min[m] += 1;
    }

    pub(crate) fn account(&mut self, state: AgentState, secs: f64) {
        match state {
            AgentState::Talk | AgentState::Wrap => self.busy_s += secs,
            AgentState::Ready => self.ready_s += secs,
            AgentState::Paused => self.paused_s += secs,
            AgentState::LoggedOut => {}
        }
    }

    pub(crate) fn finish(&mut self) {
        let n = self.lives_by_min.len();
        let w = 30.min(n);
        self.first_30min_lives = self.lives_by_min[..w].iter().map(|&x| u64::from(x)).sum();
        self.first_30min_strict = self.strict_by_min[..w].iter().map(|&x| u64::from(x)).sum();
        let mut worst: Option<f64> = None;
        for start in 0..=(n - w) {
            let lives: u32 = self.lives_by_min[start..start + w].iter().sum();
            if lives >= 30 {
                let strict: u32 = self.strict_by_min[start..start + w].iter().sum();
                let r = f64::from(strict) / f64::from(lives);
                worst = Some(worst.map_or(r, |x: f64| x.max(r)));
            }
        }
        self.worst_window = worst;
    }

    pub fn strict_abandons(&self) -> u64 {
        self.drops + self.amd_false_positives
    }

    /// Logged-in, unpaused agent seconds.
    pub fn available_s(&self) -> f64 {
        self.busy_s + self.ready_s
    }
}

/// A pooled ratio with its 95 % interval over days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// 97.5 % quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// Pooled ratio sum(a) / sum(b) over days, with a ratio-estimator t interval.
pub fn pooled(pairs: &[(f64, f64)]) -> Estimate {
    let sa: f64 = pairs.iter().map(|p| p.0).sum();
    let sb: f64 = pairs.iter().map(|p| p.1).sum();
    let value = if sb > 0.0 { sa / sb } else { 0.0 };
    let k = pairs.len();
    if k < 2 || sb <= 0.0 {
        return Estimate {
            value,
            lo: value,
            hi: value,
        };
    }
    let mean_b = sb / k as f64;
    let ss: f64 = pairs.iter().map(|p| (p.0 - value * p.1).powi(2)).sum();
    let se = (ss / (k as f64 * (k as f64 - 1.0))).sqrt() / mean_b;
    let t = T975.get(k - 2).copied().unwrap_or(1.96);
    Estimate {
        value,
        lo: (value - t * se).max(0.0),
        hi: value + t * se,
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Metrics pooled over the days of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub days: usize,
    pub strict_abandonment: Estimate,
    pub pacing_abandonment: f64,
    pub worst_30min_window: Option<f64>,
    /// Strict abandonment of the shifts' first 30 minutes, pooled over days...
    pub first_30min_abandonment: Option<f64>,
    /// ...its worst day (days with >= 30 live answers in those minutes)...
    pub worst_first_30min: Option<f64>,
    /// ...and of the rest of the shifts, pooled.
    pub rest_abandonment: Option<f64>,
    pub occupancy: Estimate,
    pub idle_s_per_agent_hour: f64,
    pub live_contacts_per_agent_hour: f64,
    pub rpc_per_agent_hour: f64,
    pub dials_per_agent_hour: f64,
    pub dials_per_live_contact: f64,
    pub peak_lines: u64,
    pub dials: u64,
    pub live_answers: u64,
    pub strict_abandons: u64,
    pub cap_violations: u64,
}

impl Summary {
    pub fn from_days(days: &[DayMetrics]) -> Summary {
        let sum = |f: &dyn Fn(&DayMetrics) -> f64| days.iter().map(f).sum::<f64>();
        let hours = sum(&|d| d.available_s()) / 3600.0;
        let per_hour = |x: f64| if hours > 0.0 { x / hours } else { 0.0 };
        let drops = sum(&|d| d.drops as f64);
        let humans = sum(&|d| (d.live_answers - d.amd_false_positives) as f64);
        let contacts = sum(&|d| d.live_contacts as f64);
        let dials = sum(&|d| d.dials as f64);
        Summary {
            days: days.len(),
            strict_abandonment: pooled(
                &days
                    .iter()
                    .map(|d| (d.strict_abandons() as f64, d.live_answers as f64))
                    .collect::<Vec<_>>(),
            ),
            pacing_abandonment: if humans > 0.0 { drops / humans } else { 0.0 },
            worst_30min_window: days.iter().filter_map(|d| d.worst_window).reduce(f64::max),
            first_30min_abandonment: ratio(
                sum(&|d| d.first_30min_strict as f64),
                sum(&|d| d.first_30min_lives as f64),
            ),
            worst_first_30min: days
                .iter()
                .filter(|d| d.first_30min_lives >= 30)
                .map(|d| d.first_30min_strict as f64 / d.first_30min_lives as f64)
                .reduce(f64::max),
            rest_abandonment: ratio(
                sum(&|d| (d.strict_abandons() - d.first_30min_strict) as f64),
                sum(&|d| (d.live_answers - d.first_30min_lives) as f64),
            ),
            occupancy: pooled(
                &days
                    .iter()
                    .map(|d| (d.busy_s, d.available_s()))
                    .collect::<Vec<_>>(),
            ),
            idle_s_per_agent_hour: per_hour(sum(&|d| d.ready_s)),
            live_contacts_per_agent_hour: per_hour(contacts),
            rpc_per_agent_hour: per_hour(sum(&|d| d.rpc_contacts as f64)),
            dials_per_agent_hour: per_hour(dials),
            dials_per_live_contact: if contacts > 0.0 {
                dials / contacts
            } else {
                0.0
            },
            peak_lines: days.iter().map(|d| d.peak_lines).max().unwrap_or(0),
            dials: dials as u64,
            live_answers: days.iter().map(|d| d.live_answers).sum(),
            strict_abandons: days.iter().map(DayMetrics::strict_abandons).sum(),
            cap_violations: days.iter().map(|d| d.cap_violations).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_interval_brackets_value() {
        let e = pooled(&[(3.0, 100.0), (2.0, 100.0), (4.0, 100.0)]);
        assert!((e.value - 0.03).abs() < 1e-12);
        assert!(e.lo < 0.03 && e.hi > 0.03);
        let same = pooled(&[(3.0, 100.0), (3.0, 100.0)]);
        assert!((same.hi - same.lo).abs() < 1e-12);
    }

    #[test]
    fn worst_window_needs_thirty_answers() {
        let mut d = DayMetrics::new(3600);
        for i in 0..29 {
            d.live_answer(f64::from(i) * 10.0, false);
        }
        d.drop_person(100.0);
        d.finish();
        assert_eq!(d.worst_window, None);
        d.live_answer(500.0, true);
        d.finish();
        assert!((d.worst_window.unwrap() - 2.0 / 30.0).abs() < 1e-12);
        assert_eq!((d.first_30min_lives, d.first_30min_strict), (30, 2));
    }

    #[test]
    fn first_half_hour_is_split_from_the_rest() {
        let mut d = DayMetrics::new(7200);
        for i in 0..40 {
            d.live_answer(f64::from(i) * 30.0, false);
            d.live_answer(3600.0 + f64::from(i) * 30.0, false);
        }
        d.drop_person(60.0);
        d.drop_person(61.0);
        d.drop_person(4000.0);
        d.finish();
        let s = Summary::from_days(&[d]);
        assert!((s.first_30min_abandonment.unwrap() - 2.0 / 40.0).abs() < 1e-12);
        assert!((s.worst_first_30min.unwrap() - 2.0 / 40.0).abs() < 1e-12);
        assert!((s.rest_abandonment.unwrap() - 1.0 / 40.0).abs() < 1e-12);
    }
}
