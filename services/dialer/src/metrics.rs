//! Prometheus metrics of dialerd, labelled per campaign (dials, outcomes by kind,
//! abandonment, lines, agents by state, queue sizes, refusals by reason), refreshed from
//! each campaign's live figures at every scrape (the `/metrics` endpoint is
//! [`service::metrics::serve`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::{GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::engine::Figures;
use crate::registry::CampaignState;

/// The dialer's metrics, in their own registry (one per server instance).
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub dials: IntCounterVec,
    pub outcomes: IntCounterVec,
    pub live_answers: IntCounterVec,
    pub abandoned: IntCounterVec,
    pub refused: IntCounterVec,
    pub errors: IntCounterVec,
    pub abandon_rate: GaugeVec,
    pub lines: IntGaugeVec,
    pub agents: IntGaugeVec,
    pub queue: IntGaugeVec,
    pub campaigns: IntGaugeVec,
    /// Seconds from a round's pre-dial check to its dials (p99, max): how stale the newest
    /// ledger state a dial did not see can be.
    pub pre_dial_lag: GaugeVec,
    /// Seconds the clock reads behind the latest recorded contact (alarm when above 0).
    pub clock_behind: GaugeVec,
    /// Open agent sessions.
    pub sessions: IntGauge,
    /// Outcomes written but not yet acknowledged by the ledger (set by the outbox relay).
    pub outbox_depth: IntGauge,
    /// Campaign leases this replica took (`{campaign, replica}`): a campaign changing hands
    /// often is a flapping lease (the helm chart's alert).
    pub lease_acquired: IntCounterVec,
    /// Campaign leases this replica lost (not renewed in time, or taken over).
    pub lease_lost: IntCounterVec,
    /// Outbox writes refused because another replica had taken their campaign over.
    pub fenced_writes: IntCounterVec,
    /// Ledger commands the ledger refused for a stale campaign fencing token: this replica
    /// sent after another took the campaign over (it gives the campaign up).
    pub ledger_fenced: IntCounterVec,
    /// Counter values already exported, per campaign: counters only move forward by the
    /// difference to the latest figures.
    seen: Arc<Mutex<HashMap<String, Figures>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let m = Metrics {
            dials: counter("dialer_dials_total", "Calls dialed", &["campaign"]),
            outcomes: counter(
                "dialer_outcomes_total",
                "Final call outcomes by kind",
                &["campaign", "outcome"],
            ),
            live_answers: counter(
                "dialer_live_answers_total",
                "Live answers (connected plus abandoned)",
                &["campaign"],
            ),
            abandoned: counter(
                "dialer_abandoned_total",
                "Live answers no agent took within the connect deadline",
                &["campaign"],
            ),
            refused: counter(
                "dialer_refused_total",
                "Accounts the compliance engine deferred or denied, by reason code",
                &["campaign", "reason"],
            ),
            errors: counter(
                "dialer_errors_total",
                "Store or carrier failures the campaign held back on",
                &["campaign"],
            ),
            abandon_rate: GaugeVec::new(
                Opts::new(
                    "dialer_abandon_rate",
                    "Abandoned over live answers (window: today or rolling)",
                ),
                &["campaign", "window"],
            )
            .expect("valid metric"),
            lines: IntGaugeVec::new(
                Opts::new("dialer_lines_in_use", "Calls ringing, waiting or connected"),
                &["campaign"],
            )
            .expect("valid metric"),
            agents: IntGaugeVec::new(
                Opts::new("dialer_agents", "Agents by state"),
                &["campaign", "state"],
            )
            .expect("valid metric"),
            queue: IntGaugeVec::new(
                Opts::new("dialer_queue_accounts", "Queued accounts by state"),
                &["campaign", "state"],
            )
            .expect("valid metric"),
            campaigns: IntGaugeVec::new(
                Opts::new("dialer_campaigns", "Campaigns by state"),
                &["state"],
            )
            .expect("valid metric"),
            pre_dial_lag: GaugeVec::new(
                Opts::new(
                    "dialer_pre_dial_lag_seconds",
                    "From the pre-dial check's question to the ledger to the dials (p99, max)",
                ),
                &["campaign", "quantile"],
            )
            .expect("valid metric"),
            clock_behind: GaugeVec::new(
                Opts::new(
                    "dialer_clock_behind_history_seconds",
                    "How far the clock reads behind recorded contacts; above 0 stops dialing",
                ),
                &["campaign"],
            )
            .expect("valid metric"),
            sessions: IntGauge::new("dialer_agent_sessions", "Open agent sessions")
                .expect("valid metric"),
            outbox_depth: IntGauge::new(
                "dialer_outbox_depth",
                "Outcomes written but not yet acknowledged by the ledger",
            )
            .expect("valid metric"),
            lease_acquired: counter(
                "dialer_campaign_lease_acquired_total",
                "Campaign leases this replica took (a new holder drives the campaign)",
                &["campaign", "replica"],
            ),
            lease_lost: counter(
                "dialer_campaign_lease_lost_total",
                "Campaign leases this replica lost (not renewed in time, or taken over)",
                &["campaign", "replica"],
            ),
            fenced_writes: counter(
                "dialer_outbox_fenced_writes_total",
                "Outbox writes refused: made under a campaign lease another replica took over",
                &["campaign"],
            ),
            ledger_fenced: counter(
                "dialer_relay_fenced_total",
                "Ledger commands refused by the ledger: sent under a campaign lease another \
                 replica took over",
                &["campaign"],
            ),
            seen: Arc::new(Mutex::new(HashMap::new())),
            registry,
        };
        for c in [
            Box::new(m.dials.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.outcomes.clone()),
            Box::new(m.live_answers.clone()),
            Box::new(m.abandoned.clone()),
            Box::new(m.refused.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.abandon_rate.clone()),
            Box::new(m.lines.clone()),
            Box::new(m.agents.clone()),
            Box::new(m.queue.clone()),
            Box::new(m.campaigns.clone()),
            Box::new(m.pre_dial_lag.clone()),
            Box::new(m.clock_behind.clone()),
            Box::new(m.sessions.clone()),
            Box::new(m.outbox_depth.clone()),
            Box::new(m.lease_acquired.clone()),
            Box::new(m.lease_lost.clone()),
            Box::new(m.fenced_writes.clone()),
            Box::new(m.ledger_fenced.clone()),
        ] {
            m.registry.register(c).expect("unique metric names");
        }
        m
    }

    /// Brings every metric up to date with the campaigns' latest figures.
    pub fn observe(&self, campaigns: &[(CampaignState, Figures)]) {
        let mut by_state: HashMap<&'static str, i64> = HashMap::new();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (state, f) in campaigns {
            *by_state.entry(state.as_str()).or_default() += 1;
            let c = f.campaign_id.as_str();
            let old = seen.get(c);
            let delta = |new: u64, old: Option<u64>| new.saturating_sub(old.unwrap_or(0));
            self.dials
                .with_label_values(&[c])
                .inc_by(delta(f.dials, old.map(|o| o.dials)));
            self.live_answers
                .with_label_values(&[c])
                .inc_by(delta(f.live_answers, old.map(|o| o.live_answers)));
            self.abandoned
                .with_label_values(&[c])
                .inc_by(delta(f.abandoned, old.map(|o| o.abandoned)));
            self.errors
                .with_label_values(&[c])
                .inc_by(delta(f.errors, old.map(|o| o.errors)));
            for (kind, n) in &f.outcomes {
                let before = old.and_then(|o| o.outcomes.get(kind).copied());
                self.outcomes
                    .with_label_values(&[c, kind.as_str()])
                    .inc_by(delta(*n, before));
            }
            for (reason, n) in &f.refused_by_reason {
                let before = old.and_then(|o| o.refused_by_reason.get(reason).copied());
                self.refused
                    .with_label_values(&[c, reason.as_str()])
                    .inc_by(delta(*n, before));
            }
            self.abandon_rate
                .with_label_values(&[c, "today"])
                .set(f.abandon_rate_today);
            self.abandon_rate
                .with_label_values(&[c, "rolling"])
                .set(f.abandon_rate_window);
            self.lines
                .with_label_values(&[c])
                .set(i64::from(f.lines_in_use));
            for (q, us) in [
                ("0.99", f.pre_dial_lag_p99_us),
                ("1", f.pre_dial_lag_max_us),
            ] {
                self.pre_dial_lag
                    .with_label_values(&[c, q])
                    .set(f64::from(us) / 1e6);
            }
            self.clock_behind
                .with_label_values(&[c])
                .set(f.clock_behind_ms as f64 / 1000.0);
            let a = &f.agents;
            for (state, n) in [
                ("ready", a.ready),
                ("reserved", a.reserved),
                ("on_call", a.on_call),
                ("wrap_up", a.wrap_up),
                ("not_ready", a.not_ready),
                ("logged_out", a.logged_out),
            ] {
                self.agents.with_label_values(&[c, state]).set(i64::from(n));
            }
            for (state, n) in [
                ("ready", f.queue.ready),
                ("sleeping", f.queue.sleeping),
                ("leased", f.queue.leased),
            ] {
                self.queue
                    .with_label_values(&[c, state])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            seen.insert(c.to_string(), f.clone());
        }
        for state in [
            CampaignState::Ready,
            CampaignState::Running,
            CampaignState::Paused,
            CampaignState::Stopping,
            CampaignState::Stopped,
        ] {
            let s = state.as_str();
            self.campaigns
                .with_label_values(&[s])
                .set(by_state.get(s).copied().unwrap_or(0));
        }
    }

    /// Text exposition format.
    pub fn render(&self) -> String {
        service::metrics::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_the_figures() {
        let m = Metrics::new();
        let mut f = crate::registry::empty_figures("c1", 0);
        f.dials = 5;
        f.outcomes.insert("busy".into(), 2);
        m.observe(&[(CampaignState::Running, f.clone())]);
        f.dials = 8;
        f.outcomes.insert("busy".into(), 3);
        m.observe(&[(CampaignState::Running, f)]);
        let text = m.render();
        assert!(
            text.contains("dialer_dials_total{campaign=\"c1\"} 8"),
            "{text}"
        );
        assert!(
            text.contains("dialer_outcomes_total{campaign=\"c1\",outcome=\"busy\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("dialer_campaigns{state=\"running\"} 1"),
            "{text}"
        );
    }
}
