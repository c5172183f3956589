//! A campaign as a manager configures it: who to call (the queue is filled separately), how
//! to pace, which rules and windows apply, how to rank and recycle, what to say when a call
//! must be dropped. Plain data with serde (TOML and JSON alike) and one validation that names
//! the offending field, so the gRPC edge can answer INVALID_ARGUMENT with it.

use carrier::MIN_RING;
use pacing::Policy as Pacing;
use queue::rank::RankingConfig;
use queue::recycle::RecyclePolicy;
use serde::{Deserialize, Serialize};

use crate::limits::{CAMPAIGN_ID_BYTES, MAX_MIN_HANDLE_SAMPLES, MAX_PACK_IDS};

/// Everything a campaign is configured with. Changing it on a running campaign takes effect
/// at the next second (see [`crate::engine::CampaignHandle::update`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignSpec {
    pub id: String,
    pub name: String,
    /// Preview, progressive, power or predictive, with the policy's own knobs.
    pub pacing: Pacing,
    /// Strict abandonment target (drops plus estimated AMD false positives over live answers).
    pub abandon_target: f64,
    /// Days of the rolling window the target holds over (30 in the US).
    pub abandon_window_days: u32,
    /// UK mode: the target also holds over every rolling 24 h (Ofcom).
    pub uk_mode: bool,
    /// Lines in use may not exceed this many per logged-in, unpaused agent.
    pub max_lines_per_agent: f64,
    /// The carrier gives up ringing after this long; never less than 15 s.
    pub ring_timeout_s: f64,
    /// A live answer waits at most this long for an agent before the safe-harbor message.
    pub connect_deadline_s: f64,
    /// Estimated share of live answers the AMD hangs up on as machines (counted as drops).
    pub amd_false_positive: f64,
    /// Compliance policy: rule packs, unknown-location handling, pattern limits.
    pub compliance: compliance::Policy,
    pub ranking: RankingConfig,
    pub recycling: RecyclePolicy,
    /// E.164 number presented; a DID the tenant controls (US-TCPA-03).
    pub caller_id: String,
    /// Played to a live answer no agent could take (names the caller and an opt-out number).
    pub safe_harbor_template: String,
    /// Limited-content message left on machines (US-REGF-13); none: hang up silently.
    pub voicemail_template: Option<String>,
    /// Agent script shown in the screen pop.
    pub script: String,
    /// The mini-Miranda disclosure read at the start of a right-party contact.
    pub mini_miranda: String,
    /// After this long in wrap-up without a disposition, the agent is set not ready.
    pub wrap_up_s: u32,
    /// Queue lease of an account while its attempt is in progress (renewed for long calls).
    pub lease_s: u32,
}

impl Default for CampaignSpec {
    fn default() -> Self {
        CampaignSpec {
            id: String::new(),
            name: String::new(),
            pacing: Pacing::predictive(),
            abandon_target: 0.03,
            abandon_window_days: 30,
            uk_mode: false,
            max_lines_per_agent: 4.0,
            ring_timeout_s: 22.0,
            connect_deadline_s: 2.0,
            amd_false_positive: 0.01,
            compliance: compliance::Policy::default(),
            ranking: RankingConfig::default(),
            recycling: RecyclePolicy::default(),
            caller_id: "+18005550100".into(),
            safe_harbor_template: "This is {company} calling. Please call us back at \
                                   {callback_number}. To stop further calls, press 9 or call \
                                   that number."
                .into(),
            voicemail_template: None,
            script: "Verify identity, then state the purpose of the call.".into(),
            mini_miranda: "This is an attempt to collect a debt and any information obtained \
                           will be used for that purpose."
                .into(),
            wrap_up_s: 120,
            lease_s: 600,
        }
    }
}

/// A configuration no campaign may run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid campaign.{field}: {problem}")]
pub struct SpecError {
    pub field: &'static str,
    pub problem: String,
}

impl CampaignSpec {
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |field: &'static str, problem: &str| {
            Err(SpecError {
                field,
                problem: problem.to_string(),
            })
        };
        if self.id.is_empty() || self.id.len() > CAMPAIGN_ID_BYTES {
            return bad("id", "1 to 64 characters");
        }
        if !self
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("id", "letters, digits, '-' and '_' only");
        }
        if !(self.abandon_target > 0.0 && self.abandon_target <= 0.05) {
            return bad(
                "abandon_target",
                "must be in (0, 0.05]: the legal limit is 3 %",
            );
        }
        if !(1..=90).contains(&self.abandon_window_days) {
            return bad("abandon_window_days", "must be 1 to 90");
        }
        if !(self.max_lines_per_agent >= 1.0 && self.max_lines_per_agent <= 10.0) {
            return bad("max_lines_per_agent", "must be in [1, 10]");
        }
        if !(self.ring_timeout_s >= MIN_RING.as_secs_f64() && self.ring_timeout_s <= 120.0) {
            return bad(
                "ring_timeout_s",
                "must be in [15, 120]: calls ring at least 15 s",
            );
        }
        if !(self.connect_deadline_s > 0.0 && self.connect_deadline_s <= 2.0) {
            return bad(
                "connect_deadline_s",
                "must be in (0, 2]: a live answer gets an agent within 2 s",
            );
        }
        if !(0.0..0.5).contains(&self.amd_false_positive) {
            return bad("amd_false_positive", "must be in [0, 0.5)");
        }
        if ledger_api::domain::validate_e164("caller_id", &self.caller_id).is_err() {
            return bad("caller_id", "must be an E.164 number");
        }
        if self.safe_harbor_template.trim().is_empty() {
            return bad(
                "safe_harbor_template",
                "an abandoned call must hear who called",
            );
        }
        if self.wrap_up_s == 0 || self.wrap_up_s > 3600 {
            return bad("wrap_up_s", "must be 1 to 3600");
        }
        if self.lease_s < 60 || self.lease_s > 86_400 {
            return bad("lease_s", "must be 60 to 86400");
        }
        if let Some(packs) = &self.compliance.packs {
            if packs.len() > MAX_PACK_IDS {
                return bad(
                    "compliance.packs.ids",
                    &format!("at most {MAX_PACK_IDS} pack ids"),
                );
            }
        }
        self.validate_pacing()?;
        self.compliance.validate().map_err(|e| {
            use compliance::policy::PolicyError;
            let field = match &e {
                PolicyError::GapTooShort => "compliance.min_gap_same_number_minutes",
                PolicyError::Horizon => "compliance.horizon_days",
                PolicyError::ZeroCap("max_voicemails_per_week") => {
                    "compliance.max_voicemails_per_week"
                }
                PolicyError::ZeroCap(_) => "compliance.max_calls_per_day_per_person",
            };
            SpecError {
                field,
                problem: e.to_string(),
            }
        })?;
        self.pacing_config().validate().map_err(|e| match e {
            pacing::PacingError::InvalidConfig { field, problem } => SpecError { field, problem },
            other => SpecError {
                field: "pacing",
                problem: other.to_string(),
            },
        })?;
        self.pacing
            .build(&self.pacing_config())
            .map(drop)
            .map_err(|e| SpecError {
                field: "pacing",
                problem: e.to_string(),
            })
    }

    /// The pacing policy's own knobs, each named as the API names it: the power ratio within
    /// the line cap, the predictive model's ranges.
    fn validate_pacing(&self) -> Result<(), SpecError> {
        let bad = |field: &'static str, problem: String| Err(SpecError { field, problem });
        match &self.pacing {
            Pacing::Power { ratio } => {
                if !(*ratio >= 1.0 && *ratio <= self.max_lines_per_agent) {
                    return bad(
                        "pacing.power_ratio",
                        format!(
                            "must be in [1, max_lines_per_agent = {}]",
                            self.max_lines_per_agent
                        ),
                    );
                }
            }
            Pacing::Predictive(k) => {
                let positive = |v: f64| v.is_finite() && v > 0.0;
                let checks: [(&'static str, bool, &str); 11] = [
                    (
                        "pacing.predictive.margin",
                        (0.0..0.5).contains(&k.margin),
                        "must be in [0, 0.5)",
                    ),
                    (
                        "pacing.predictive.answer_half_life_s",
                        positive(k.answer_half_life_s),
                        "must be positive",
                    ),
                    (
                        "pacing.predictive.handle_half_life_s",
                        positive(k.handle_half_life_s),
                        "must be positive",
                    ),
                    (
                        "pacing.predictive.prior_live",
                        k.prior_live > 0.0 && k.prior_live < 1.0,
                        "must be in (0, 1)",
                    ),
                    (
                        "pacing.predictive.prior_dials",
                        positive(k.prior_dials),
                        "must be positive",
                    ),
                    (
                        "pacing.predictive.amd_delay_s",
                        k.amd_delay_s.is_finite() && k.amd_delay_s >= 0.0,
                        "must not be negative",
                    ),
                    (
                        "pacing.predictive.theta_min",
                        k.theta_min > 0.0 && k.theta_min <= k.theta0,
                        "need 0 < theta_min <= theta0 <= theta_max < 1",
                    ),
                    (
                        "pacing.predictive.theta_max",
                        k.theta0 <= k.theta_max && k.theta_max < 1.0,
                        "need 0 < theta_min <= theta0 <= theta_max < 1",
                    ),
                    (
                        "pacing.predictive.gain",
                        positive(k.gain),
                        "must be positive",
                    ),
                    (
                        "pacing.predictive.payback_lives",
                        positive(k.payback_lives),
                        "must be positive",
                    ),
                    (
                        "pacing.predictive.class_split_s",
                        positive(k.class_split_s),
                        "must be positive",
                    ),
                ];
                if let Some((field, _, problem)) = checks.iter().find(|(_, ok, _)| !ok) {
                    return bad(field, problem.to_string());
                }
                if !(1..=64).contains(&k.horizon_points) {
                    return bad("pacing.predictive.horizon_points", "must be 1 to 64".into());
                }
                if k.min_handle_samples > MAX_MIN_HANDLE_SAMPLES as usize {
                    return bad(
                        "pacing.predictive.min_handle_samples",
                        format!("at most {MAX_MIN_HANDLE_SAMPLES}"),
                    );
                }
            }
            Pacing::Preview | Pacing::Progressive | Pacing::VicidialAdaptive => {}
        }
        Ok(())
    }

    /// The pacing controller's configuration for `agents` seats.
    pub fn pacing_config(&self) -> pacing::Config {
        pacing::Config {
            agents: 0,
            abandon_target: self.abandon_target,
            connect_deadline_s: self.connect_deadline_s,
            min_ring_s: MIN_RING.as_secs_f64(),
            ring_timeout_s: self.ring_timeout_s,
            max_lines_per_agent: self.max_lines_per_agent,
            amd_false_positive: self.amd_false_positive,
            uk_mode: self.uk_mode,
        }
    }

    /// The dial mode the compliance engine and the ledger see for pacer-launched calls.
    pub fn dial_mode(&self) -> compliance::model::DialMode {
        use compliance::model::DialMode;
        match self.pacing {
            Pacing::Preview => DialMode::Preview,
            Pacing::Progressive => DialMode::Progressive,
            Pacing::Power { .. } => DialMode::Power,
            Pacing::Predictive(_) | Pacing::VicidialAdaptive => DialMode::Predictive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_fields_are_named() {
        let ok = CampaignSpec {
            id: "c1".into(),
            ..CampaignSpec::default()
        };
        ok.validate().expect("defaults are valid");
        let mut short_gap = ok.clone();
        short_gap.compliance.min_gap_same_number_minutes = Some(2);
        assert_eq!(
            short_gap.validate().expect_err("gap").field,
            "compliance.min_gap_same_number_minutes"
        );
        let cases: [(&str, CampaignSpec); 4] = [
            ("id", CampaignSpec::default()),
            (
                "ring_timeout_s",
                CampaignSpec {
                    ring_timeout_s: 10.0,
                    ..ok.clone()
                },
            ),
            (
                "abandon_target",
                CampaignSpec {
                    abandon_target: 0.2,
                    ..ok.clone()
                },
            ),
            (
                "caller_id",
                CampaignSpec {
                    caller_id: "555".into(),
                    ..ok.clone()
                },
            ),
        ];
        for (field, spec) in cases {
            assert_eq!(spec.validate().expect_err(field).field, field);
        }
    }

    #[test]
    fn specs_read_from_toml() {
        let spec: CampaignSpec = toml::from_str(
            r#"
            id = "spring"
            pacing = { policy = "power", ratio = 1.5 }
            abandon_target = 0.02
            [recycling]
            busy_minutes = 10
            "#,
        )
        .expect("toml");
        assert_eq!(spec.pacing, Pacing::Power { ratio: 1.5 });
        assert_eq!(spec.recycling.busy_minutes, 10);
        spec.validate().expect("valid");
    }
}
