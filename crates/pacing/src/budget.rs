//! Abandonment accounting over rolling windows.
//!
//! The law counts abandonment per campaign over a rolling 30 days (and, in UK mode, also over
//! 24 hours), so the pacer cannot just aim at a per-minute rate: a bad morning must be paid
//! back by a careful afternoon, and a good week leaves room. This module keeps, per window,
//! hourly buckets of human verdicts and drops, estimates the AMD false positives the switch
//! cannot see (`amd_false_positive` x live answers), and turns the state of the strictest
//! window into the drop rate the pacer may run at for the next `payback` live answers so that
//! every window ends at or under its target.

use std::collections::VecDeque;

const BUCKET_S: f64 = 3600.0;

/// One rolling window of hourly buckets.
#[derive(Debug, Clone)]
struct Window {
    span_s: f64,
    /// (bucket index, human verdicts, drops)
    buckets: VecDeque<(i64, f64, f64)>,
    humans: f64,
    drops: f64,
}

impl Window {
    fn new(span_s: f64) -> Window {
        Window {
            span_s,
            buckets: VecDeque::new(),
            humans: 0.0,
            drops: 0.0,
        }
    }

    fn expire(&mut self, t: f64) {
        let oldest = ((t - self.span_s) / BUCKET_S).floor() as i64;
        while let Some(&(b, h, d)) = self.buckets.front() {
            if b > oldest {
                break;
            }
            self.humans -= h;
            self.drops -= d;
            self.buckets.pop_front();
        }
        if self.buckets.is_empty() {
            self.humans = 0.0;
            self.drops = 0.0;
        }
    }

    fn add(&mut self, t: f64, humans: f64, drops: f64) {
        let b = (t / BUCKET_S).floor() as i64;
        match self.buckets.back_mut() {
            Some(last) if last.0 == b => {
                last.1 += humans;
                last.2 += drops;
            }
            _ => self.buckets.push_back((b, humans, drops)),
        }
        self.humans += humans;
        self.drops += drops;
    }
}

/// Rolling abandonment budget of one campaign.
#[derive(Debug, Clone)]
pub struct AbandonBudget {
    /// Strict target the pacer aims at (the legal target minus any fixed margin).
    aim: f64,
    amd_fp: f64,
    /// One-sided normal quantile of the statistical margin (0: none).
    z: f64,
    windows: Vec<Window>,
}

/// The statistical safety margin under `aim` for a window that will hold `lives` live
/// answers: `z` standard errors of a strict-abandonment share measured on that many answers,
/// `z sqrt(aim (1 - aim) / lives)`. Few answers (a young campaign, a small team) give a wide
/// margin; it narrows as the window fills.
pub fn statistical_margin(aim: f64, z: f64, lives: f64) -> f64 {
    let a = aim.clamp(0.0, 1.0);
    z * (a * (1.0 - a) / lives.max(1.0)).sqrt()
}

impl AbandonBudget {
    /// `aim`: strict abandonment to aim at; `amd_fp`: estimated share of live answers lost
    /// to AMD false positives; `uk_mode` adds the 24 h window to the 30-day one. No
    /// statistical margin (see [`AbandonBudget::with_confidence`]).
    pub fn new(aim: f64, amd_fp: f64, uk_mode: bool) -> AbandonBudget {
        let mut windows = vec![Window::new(30.0 * 86_400.0)];
        if uk_mode {
            windows.push(Window::new(86_400.0));
        }
        AbandonBudget {
            aim,
            amd_fp,
            z: 0.0,
            windows,
        }
    }

    /// Plans so that each window ends at the aim minus [`statistical_margin`] with this `z`
    /// (1.645: the window's realised share stays under the aim with about 95 % confidence).
    pub fn with_confidence(mut self, z: f64) -> AbandonBudget {
        self.z = z.max(0.0);
        self
    }

    /// Live answers in the strictest (smallest) window.
    pub fn window_lives(&self) -> f64 {
        self.windows
            .iter()
            .map(|w| self.lives(w.humans))
            .fold(f64::INFINITY, f64::min)
    }

    /// Records human verdicts (connected or dropped) and drops seen at time `t`.
    pub fn record(&mut self, t: f64, humans: u32, drops: u32) {
        for w in &mut self.windows {
            w.expire(t);
            if humans > 0 || drops > 0 {
                w.add(t, f64::from(humans), f64::from(drops));
            }
        }
    }

    /// Estimated strict abandonment of the 30-day window (drops and AMD false positives over
    /// live answers); `None` before any human verdict.
    pub fn strict_rate(&self) -> Option<f64> {
        let w = &self.windows[0];
        (w.humans > 0.0).then(|| self.strict(w.humans, w.drops) / self.lives(w.humans))
    }

    fn lives(&self, humans: f64) -> f64 {
        humans / (1.0 - self.amd_fp)
    }

    fn strict(&self, humans: f64, drops: f64) -> f64 {
        drops + self.amd_fp * self.lives(humans)
    }

    /// The drop share (drops over human verdicts) the pacer may run at for the next `payback`
    /// live answers so that every window returns to the aim. Clamped to a sane band around
    /// the steady-state share, and never negative.
    pub fn allowed_drop_share(&self, payback: f64) -> f64 {
        let mut allowed = f64::INFINITY;
        let mut steady = f64::INFINITY;
        for w in &self.windows {
            let lives = self.lives(w.humans);
            let strict = self.strict(w.humans, w.drops);
            // The window will hold `lives + payback` answers when the plan ends; aim a
            // confidence margin under the aim for that many.
            let aim = (self.aim - statistical_margin(self.aim, self.z, lives + payback)).max(0.0);
            steady = steady.min(((aim - self.amd_fp) * (1.0 - self.amd_fp)).max(0.0));
            // strict rate over the next `payback` lives such that the window ends at the aim.
            let next_strict = (aim * (lives + payback) - strict) / payback;
            let share = (next_strict - self.amd_fp) * (1.0 - self.amd_fp);
            allowed = allowed.min(share);
        }
        allowed.clamp(0.2 * steady, 2.0 * steady)
    }
}

/// What an [`AbandonBudget`] holds: per window, its hourly buckets (index on the
/// controller's clock, human verdicts, drops) and their sums.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct BudgetState {
    windows: Vec<WindowState>,
}

/// One window: (hourly buckets as (index, human verdicts, drops), human verdicts, drops).
type WindowState = (Vec<(i64, f64, f64)>, f64, f64);

impl AbandonBudget {
    pub(crate) fn save(&self) -> BudgetState {
        BudgetState {
            windows: self
                .windows
                .iter()
                .map(|w| (w.buckets.iter().copied().collect(), w.humans, w.drops))
                .collect(),
        }
    }

    /// Takes `s` over (this budget built from the same configuration), its buckets moved by
    /// `offset` seconds onto this clock, to the nearest hour: a window on a clock of another
    /// origin may then forget an hour's bucket up to half an hour early or late, as the
    /// hourly buckets already do. With the same clock (offset 0) nothing moves.
    pub(crate) fn restore(&mut self, s: &BudgetState, offset: f64) -> Result<(), String> {
        if s.windows.len() != self.windows.len() {
            return Err(format!(
                "budget: {} windows, {} expected",
                s.windows.len(),
                self.windows.len()
            ));
        }
        let shift = (offset / BUCKET_S).round();
        if !shift.is_finite() || shift.abs() > 1e12 {
            return Err(format!("budget: clock offset {offset} out of range"));
        }
        let shift = shift as i64;
        for (w, (buckets, humans, drops)) in self.windows.iter_mut().zip(&s.windows) {
            crate::estimators::finite(
                "budget",
                buckets
                    .iter()
                    .flat_map(|(_, h, d)| [h, d])
                    .chain([humans, drops]),
            )?;
            w.buckets = buckets.iter().map(|&(b, h, d)| (b + shift, h, d)).collect();
            w.humans = *humans;
            w.drops = *drops;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_budget_allows_steady_share() {
        let b = AbandonBudget::new(0.03, 0.01, false);
        let s = b.allowed_drop_share(1000.0);
        assert!((s - 0.02 * 0.99).abs() < 1e-9, "{s}");
        assert_eq!(b.strict_rate(), None);
    }

    #[test]
    fn overspending_tightens_and_underspending_loosens() {
        let mut b = AbandonBudget::new(0.03, 0.01, false);
        b.record(100.0, 1000, 60);
        assert!(b.allowed_drop_share(1000.0) < 0.0198 * 0.5);
        let mut g = AbandonBudget::new(0.03, 0.01, false);
        g.record(100.0, 1000, 0);
        assert!(g.allowed_drop_share(1000.0) > 0.0198 * 1.5);
    }

    #[test]
    fn windows_forget_old_hours() {
        let mut b = AbandonBudget::new(0.03, 0.01, true);
        b.record(0.0, 1000, 100);
        // 25 h later the 24 h window is clean, the 30-day window still remembers.
        b.record(25.0 * 3600.0, 0, 0);
        assert!(b.windows[1].humans == 0.0);
        assert!(b.windows[0].humans == 1000.0);
        // 31 days later both are clean.
        b.record(31.0 * 86_400.0, 0, 0);
        assert!(b.windows[0].humans == 0.0);
        assert_eq!(b.strict_rate(), None);
    }

    #[test]
    fn confidence_margin_is_wider_with_few_answers() {
        let a = 0.03;
        let few = statistical_margin(a, 1.645, 500.0);
        let many = statistical_margin(a, 1.645, 50_000.0);
        assert!(few > 3.0 * many, "{few} {many}");
        assert!((many - 1.645 * (a * (1.0 - a) / 50_000.0f64).sqrt()).abs() < 1e-12);
        assert_eq!(statistical_margin(a, 0.0, 10.0), 0.0);
        // A young campaign is allowed less than an old one with the same history share.
        let mut young = AbandonBudget::new(a, 0.01, false).with_confidence(1.645);
        let mut old = young.clone();
        young.record(10.0, 200, 3);
        old.record(10.0, 20_000, 300);
        let (y, o) = (
            young.allowed_drop_share(500.0),
            old.allowed_drop_share(500.0),
        );
        assert!(y < o, "{y} {o}");
        // And both less than without the margin.
        let plain = {
            let mut b = AbandonBudget::new(a, 0.01, false);
            b.record(10.0, 20_000, 300);
            b.allowed_drop_share(500.0)
        };
        assert!(o < plain, "{o} {plain}");
    }

    #[test]
    fn strict_counts_amd_false_positives() {
        let mut b = AbandonBudget::new(0.03, 0.02, false);
        b.record(10.0, 980, 0);
        let r = b.strict_rate().unwrap();
        assert!((r - 0.02).abs() < 1e-9, "{r}");
    }
}
