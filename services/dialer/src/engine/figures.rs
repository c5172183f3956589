//! Live figures of a campaign, as managers watch them (`WatchCampaign`) and the demo prints
//! them: counters since the campaign started, today's and the rolling window's abandonment,
//! occupancy, accounts refused by reason, the rolling last hour's rates, the pacing ratio and
//! the agent roster.

use std::collections::{BTreeMap, VecDeque};

use queue::{Millis, QueueSizes};
use serde::Serialize;

use super::seats::StateTime;

/// Whether the campaign dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created, not started yet.
    Ready,
    Running,
    /// No new dials; calls in progress go on.
    Paused,
    /// Stopping: no new dials, waiting for calls in progress to end.
    Stopping,
    Stopped,
}

/// Agents per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    pub ready: u32,
    pub reserved: u32,
    pub on_call: u32,
    pub wrap_up: u32,
    pub not_ready: u32,
    pub logged_out: u32,
}

/// One agent of the campaign as the floor manager sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRow {
    pub agent_id: String,
    /// `ready`, `reserved`, `on_call`, `wrap_up`, `not_ready`, `logged_out`.
    pub state: &'static str,
    /// For `not_ready`: why (`login`, `break`, `wrap_timeout` ...); empty otherwise.
    pub pause_code: String,
    /// When the agent entered the state (campaign clock, ms).
    pub since_ms: Millis,
    /// The call the agent is reserved for, talking on or wrapping up.
    pub call_id: Option<String>,
    /// Calls connected to the agent and its talk time, since the campaign started here.
    pub calls: u32,
    pub talk_ms: i64,
}

/// Events of the rolling last hour, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LastHour {
    pub dials: u32,
    /// Live answers (connected plus abandoned).
    pub answers: u32,
    /// Right-party contacts.
    pub contacts: u32,
    pub promises: u32,
}

/// A snapshot, published once per second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub campaign_id: String,
    pub at_ms: Millis,
    pub state: RunState,
    pub agents: AgentCounts,
    /// Calls ringing or waiting for an agent, plus connected calls.
    pub lines_in_use: u32,
    pub peak_lines: u32,
    pub dials: u64,
    pub dials_last_minute: u32,
    /// Live answers (human verdicts: connected plus abandoned).
    pub live_answers: u64,
    /// Live answers over dials.
    pub answer_rate: f64,
    pub connected: u64,
    pub abandoned: u64,
    /// Abandoned over live answers, today (UTC day) and over the rolling window.
    pub abandon_rate_today: f64,
    pub abandon_rate_window: f64,
    pub machines: u64,
    pub right_party_contacts: u64,
    pub promises: u64,
    /// Talk and wrap time over logged-in, unpaused time.
    pub occupancy: f64,
    pub queue: QueueView,
    /// Accounts the compliance engine refused (deferred or denied), by reason code.
    pub refused_by_reason: BTreeMap<String, u64>,
    /// Final outcomes by kind.
    pub outcomes: BTreeMap<String, u64>,
    /// Store or carrier failures that made the engine hold back (fail closed).
    pub errors: u64,
    /// Wall-clock time of one dial decision (its share of the queue pop, the rules, the
    /// attempt reservation), over the last 10,000 decisions: median and 99th percentile.
    pub decision_p50_us: u32,
    pub decision_p99_us: u32,
    /// Wall-clock time from the pre-dial check's question to the ledger until the dial, over
    /// the last 10,000 rounds that dialed: 99th percentile and maximum. A hold the ledger
    /// committed longer ago than this before a dial was seen by it.
    pub pre_dial_lag_p99_us: u32,
    pub pre_dial_lag_max_us: u32,
    /// How far the clock reads behind the latest recorded contact, when that is more than a
    /// few minutes (0 otherwise): a clock that ran backwards; the campaign does not dial.
    pub clock_behind_ms: i64,
    /// Dials, live answers, contacts and promises of the last 60 minutes (a rolling hour,
    /// so a rate per hour that reacts within the hour).
    pub last_hour: LastHour,
    /// Lines in use per available agent (logged in and not paused: ready, reserved, on a call
    /// or wrapping up); 0 without one. What the pacer is running at, whatever its mode.
    pub pacing_ratio: f64,
    /// The share of dials the pacer expects to need an agent: its learned answer rate (its
    /// prior before data); 0 for pacers that estimate none.
    pub pacing_answer_rate: f64,
    /// Whether the pacer resumed from the state the campaign's last lease holder stored (a
    /// takeover or a restart) rather than starting cold.
    pub pacing_state_restored: bool,
    /// The campaign's abandonment target and the days its rolling window holds over, so a
    /// view can colour the rates without asking for the campaign.
    pub abandon_target: f64,
    pub abandon_window_days: u32,
    /// The agents who logged in to the campaign on this replica, in login order.
    pub roster: Vec<AgentRow>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueView {
    pub ready: u64,
    pub sleeping: u64,
    pub leased: u64,
}

impl From<QueueSizes> for QueueView {
    fn from(q: QueueSizes) -> Self {
        QueueView {
            ready: q.ready,
            sleeping: q.sleeping,
            leased: q.leased,
        }
    }
}

const DAY_MS: Millis = 86_400_000;
const HOUR_MS: Millis = 3_600_000;

/// Running counters behind [`Figures`].
#[derive(Debug, Clone)]
pub struct Counters {
    pub campaign_id: String,
    pub dials: u64,
    pub live_answers: u64,
    pub connected: u64,
    pub abandoned: u64,
    pub machines: u64,
    pub right_party_contacts: u64,
    pub promises: u64,
    pub peak_lines: u32,
    pub errors: u64,
    pub refused_by_reason: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    /// See [`Figures::clock_behind_ms`].
    pub clock_behind_ms: i64,
    /// (UTC day, live answers, abandoned) for the rolling window.
    days: VecDeque<(Millis, u64, u64)>,
    window_days: u32,
    recent_dials: VecDeque<Millis>,
    /// Instants of the last hour's dials, live answers, contacts and promises.
    hour: [VecDeque<Millis>; 4],
    /// Last decision latencies (µs).
    decisions: Samples,
    /// Last pre-dial check lags (µs).
    pre_dial: Samples,
}

const LATENCY_SAMPLES: usize = 10_000;

/// The last [`LATENCY_SAMPLES`] durations (µs), in a ring.
#[derive(Debug, Clone, Default)]
struct Samples {
    ring: Vec<u32>,
    next: usize,
}

impl Samples {
    fn push(&mut self, took: std::time::Duration) {
        let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
        if self.ring.len() < LATENCY_SAMPLES {
            self.ring.push(us);
        } else {
            self.ring[self.next] = us;
        }
        self.next = (self.next + 1) % LATENCY_SAMPLES;
    }

    /// The quantiles `qs` of the samples (0 when there are none).
    fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [u32; N] {
        if self.ring.is_empty() {
            return [0; N];
        }
        let mut v = self.ring.clone();
        v.sort_unstable();
        qs.map(|q| v[((v.len() - 1) as f64 * q).round() as usize])
    }
}

impl Counters {
    pub fn new(campaign_id: &str, window_days: u32) -> Counters {
        Counters {
            campaign_id: campaign_id.to_string(),
            dials: 0,
            live_answers: 0,
            connected: 0,
            abandoned: 0,
            machines: 0,
            right_party_contacts: 0,
            promises: 0,
            peak_lines: 0,
            errors: 0,
            refused_by_reason: BTreeMap::new(),
            clock_behind_ms: 0,
            outcomes: BTreeMap::new(),
            days: VecDeque::new(),
            window_days,
            recent_dials: VecDeque::new(),
            hour: Default::default(),
            decisions: Samples::default(),
            pre_dial: Samples::default(),
        }
    }

    pub fn set_window(&mut self, days: u32) {
        self.window_days = days;
    }

    fn today(&mut self, now: Millis) -> &mut (Millis, u64, u64) {
        let day = now.div_euclid(DAY_MS);
        if self.days.back().is_none_or(|d| d.0 != day) {
            self.days.push_back((day, 0, 0));
        }
        while self
            .days
            .front()
            .is_some_and(|d| d.0 <= day - Millis::from(self.window_days))
        {
            self.days.pop_front();
        }
        self.days.back_mut().expect("just pushed")
    }

    pub fn dialed(&mut self, now: Millis) {
        self.dials += 1;
        self.recent_dials.push_back(now);
        self.hour[0].push_back(now);
    }

    pub fn live(&mut self, now: Millis, abandoned: bool) {
        self.live_answers += 1;
        self.hour[1].push_back(now);
        let today = self.today(now);
        today.1 += 1;
        if abandoned {
            today.2 += 1;
            self.abandoned += 1;
        } else {
            self.connected += 1;
        }
    }

    /// A right-party contact was dispositioned.
    pub fn contact(&mut self, now: Millis) {
        self.right_party_contacts += 1;
        self.hour[2].push_back(now);
    }

    /// A promise to pay was dispositioned.
    pub fn promise(&mut self, now: Millis) {
        self.promises += 1;
        self.hour[3].push_back(now);
    }

    pub fn decided(&mut self, took: std::time::Duration) {
        self.decisions.push(took);
    }

    /// A round of dials went out `lag` after its pre-dial check was asked.
    pub fn pre_dial_lag(&mut self, lag: std::time::Duration) {
        self.pre_dial.push(lag);
    }

    pub fn refused(&mut self, code: &str) {
        *self.refused_by_reason.entry(code.to_string()).or_default() += 1;
    }

    pub fn outcome(&mut self, kind: &str) {
        *self.outcomes.entry(kind.to_string()).or_default() += 1;
    }

    pub fn snapshot(
        &mut self,
        now: Millis,
        state: RunState,
        agents: AgentCounts,
        lines_in_use: u32,
        time: StateTime,
        queue: QueueView,
    ) -> Figures {
        while self
            .recent_dials
            .front()
            .is_some_and(|t| *t <= now - 60_000)
        {
            self.recent_dials.pop_front();
        }
        for q in &mut self.hour {
            while q.front().is_some_and(|t| *t <= now - HOUR_MS) {
                q.pop_front();
            }
        }
        let last_hour = LastHour {
            dials: self.hour[0].len() as u32,
            answers: self.hour[1].len() as u32,
            contacts: self.hour[2].len() as u32,
            promises: self.hour[3].len() as u32,
        };
        let available = agents.ready + agents.reserved + agents.on_call + agents.wrap_up;
        self.peak_lines = self.peak_lines.max(lines_in_use);
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let (today_lives, today_drops) = {
            let t = *self.today(now);
            (t.1, t.2)
        };
        let (win_lives, win_drops) = self
            .days
            .iter()
            .fold((0, 0), |(l, d), x| (l + x.1, d + x.2));
        let worked = time.talk + time.wrap;
        let [decision_p50_us, decision_p99_us] = self.decisions.quantiles([0.5, 0.99]);
        let [pre_dial_lag_p99_us, pre_dial_lag_max_us] = self.pre_dial.quantiles([0.99, 1.0]);
        Figures {
            campaign_id: self.campaign_id.clone(),
            at_ms: now,
            state,
            agents,
            lines_in_use,
            peak_lines: self.peak_lines,
            dials: self.dials,
            dials_last_minute: self.recent_dials.len() as u32,
            live_answers: self.live_answers,
            answer_rate: ratio(self.live_answers, self.dials),
            connected: self.connected,
            abandoned: self.abandoned,
            abandon_rate_today: ratio(today_drops, today_lives),
            abandon_rate_window: ratio(win_drops, win_lives),
            machines: self.machines,
            right_party_contacts: self.right_party_contacts,
            promises: self.promises,
            occupancy: ratio(worked as u64, (worked + time.ready) as u64),
            queue,
            refused_by_reason: self.refused_by_reason.clone(),
            outcomes: self.outcomes.clone(),
            errors: self.errors,
            decision_p50_us,
            decision_p99_us,
            pre_dial_lag_p99_us,
            pre_dial_lag_max_us,
            clock_behind_ms: self.clock_behind_ms,
            last_hour,
            pacing_ratio: ratio(u64::from(lines_in_use), u64::from(available)),
            pacing_answer_rate: 0.0,
            pacing_state_restored: false,
            abandon_target: 0.0,
            abandon_window_days: self.window_days,
            roster: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_old_days() {
        let mut c = Counters::new("c", 2);
        c.live(0, true);
        c.live(DAY_MS, false);
        c.live(2 * DAY_MS, false);
        let f = c.snapshot(
            2 * DAY_MS,
            RunState::Running,
            AgentCounts::default(),
            0,
            StateTime::default(),
            QueueView::default(),
        );
        assert_eq!(f.abandoned, 1);
        assert_eq!(f.abandon_rate_window, 0.0);
        assert_eq!(f.abandon_rate_today, 0.0);
    }

    #[test]
    fn the_last_hour_forgets_older_events_and_the_ratio_counts_available_agents() {
        let mut c = Counters::new("c", 30);
        c.dialed(0);
        c.dialed(HOUR_MS / 2);
        c.live(HOUR_MS / 2, false);
        c.contact(HOUR_MS / 2);
        c.promise(HOUR_MS / 2);
        c.dialed(HOUR_MS);
        let agents = AgentCounts {
            ready: 1,
            on_call: 2,
            wrap_up: 1,
            not_ready: 5,
            ..AgentCounts::default()
        };
        let f = c.snapshot(
            HOUR_MS,
            RunState::Running,
            agents,
            6,
            StateTime::default(),
            QueueView::default(),
        );
        // The dial at 0 is exactly an hour old: out.
        assert_eq!(
            f.last_hour,
            LastHour {
                dials: 2,
                answers: 1,
                contacts: 1,
                promises: 1
            }
        );
        assert_eq!((f.dials, f.right_party_contacts, f.promises), (3, 1, 1));
        // Paused agents are not available: 6 lines over 4 agents.
        assert_eq!(f.pacing_ratio, 1.5);
        let f = c.snapshot(
            3 * HOUR_MS,
            RunState::Running,
            AgentCounts::default(),
            0,
            StateTime::default(),
            QueueView::default(),
        );
        assert_eq!(f.last_hour, LastHour::default());
        assert_eq!(f.pacing_ratio, 0.0);
    }
}
