//! A campaign's figures over the shift: one sample a minute of the campaign's clock, the last
//! 12 hours of them, in memory. A wallboard or `dialerctl watch` opened mid-shift draws its
//! charts from these at once instead of from what arrives after it connects; nothing is read
//! from a database (the engine records a sample when it publishes its figures).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use queue::Millis;
use serde::Serialize;

use super::figures::{Figures, RunState};

/// One sample a minute of the campaign's clock.
pub const TREND_EVERY_MS: Millis = 60_000;

/// Samples kept: 12 hours, a long shift, at most ~40 KB per campaign.
pub const TREND_POINTS: usize = 720;

/// The figures the shift's charts and sparklines draw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrendPoint {
    /// The campaign's clock (ms) when the figures were taken.
    pub at_ms: Millis,
    pub abandon_rate_today: f64,
    pub abandon_rate_window: f64,
    pub occupancy: f64,
    pub lines_in_use: u32,
    pub pacing_ratio: f64,
}

impl From<&Figures> for TrendPoint {
    fn from(f: &Figures) -> Self {
        TrendPoint {
            at_ms: f.at_ms,
            abandon_rate_today: f.abandon_rate_today,
            abandon_rate_window: f.abandon_rate_window,
            occupancy: f.occupancy,
            lines_in_use: f.lines_in_use,
            pacing_ratio: f.pacing_ratio,
        }
    }
}

/// The bounded series of a campaign, shared between its engine task (the only writer) and
/// its readers (feeds opening). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Trend {
    points: Arc<Mutex<VecDeque<TrendPoint>>>,
}

impl Trend {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<TrendPoint>> {
        self.points.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `f` as a sample if a minute has passed since the last one. Nothing is taken
    /// before the campaign first starts (the shift has not begun); the final figures of a
    /// stopped campaign always are, so its chart ends where it stopped.
    pub fn record(&self, f: &Figures) {
        if f.state == RunState::Ready {
            return;
        }
        let mut points = self.lock();
        let due = points.back().is_none_or(|last| {
            f.at_ms >= last.at_ms + TREND_EVERY_MS
                || (f.state == RunState::Stopped && f.at_ms > last.at_ms)
        });
        if !due {
            return;
        }
        if points.len() == TREND_POINTS {
            points.pop_front();
        }
        points.push_back(TrendPoint::from(f));
    }

    /// The samples so far, oldest first.
    pub fn points(&self) -> Vec<TrendPoint> {
        self.lock().iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::figures::{AgentCounts, Counters, QueueView};
    use crate::engine::seats::StateTime;

    fn figures(at_ms: Millis, state: RunState) -> Figures {
        let mut f = Counters::new("c", 30).snapshot(
            at_ms,
            state,
            AgentCounts::default(),
            at_ms as u32 / 1000,
            StateTime::default(),
            QueueView::default(),
        );
        f.occupancy = at_ms as f64 / 1e9;
        f
    }

    #[test]
    fn one_sample_a_minute_from_the_start_and_the_stop() {
        let t = Trend::default();
        t.record(&figures(0, RunState::Ready));
        assert!(t.points().is_empty(), "nothing before the start");
        for s in 1..=150 {
            t.record(&figures(s * 1000, RunState::Running));
        }
        let at: Vec<Millis> = t.points().iter().map(|p| p.at_ms).collect();
        assert_eq!(at, [1000, 61_000, 121_000]);
        assert_eq!(t.points()[1].lines_in_use, 61);
        t.record(&figures(130_000, RunState::Stopped));
        assert_eq!(t.points().last().map(|p| p.at_ms), Some(130_000));
    }

    #[test]
    fn the_series_keeps_the_last_twelve_hours() {
        let t = Trend::default();
        let minutes = TREND_POINTS as Millis + 30;
        for m in 0..minutes {
            t.record(&figures(m * TREND_EVERY_MS, RunState::Running));
        }
        let p = t.points();
        assert_eq!(p.len(), TREND_POINTS);
        assert_eq!(p[0].at_ms, 30 * TREND_EVERY_MS);
        assert_eq!(p[TREND_POINTS - 1].at_ms, (minutes - 1) * TREND_EVERY_MS);
    }
}
