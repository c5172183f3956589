//! The tenant's or campaign's choices where the law leaves room: what to do without a
//! location, which rule packs to apply, and the pacing-pattern limits of US-REGF-12.

use serde::{Deserialize, Serialize};

/// What to do when no phone, address or confirmed zone gives a location (rules.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownLocation {
    /// Refuse with `US_REGF_NO_LOCATION` (default).
    #[default]
    Deny,
    /// Assume every US zone, territories included: only 22:00-01:00 UTC remains.
    AllUs,
}

/// Whether a pattern-policy breach refuses the call (verdict `defer`) or only warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternAction {
    #[default]
    Defer,
    Warn,
}

/// Campaign policy. Every field has a default, so `{}` is a valid policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub unknown_location: UnknownLocation,
    /// Warn (`WARN_LAST_DIAL_MARGIN`) when a call starts this close to a window's end.
    pub last_dial_margin_minutes: u32,
    /// Pack ids to apply (each still only where its jurisdiction matches the consumer);
    /// `None` applies every pack of the rule set.
    pub packs: Option<Vec<String>>,
    /// US-REGF-12: minimum gap between counted calls to the same number (never below 5).
    pub min_gap_same_number_minutes: Option<u32>,
    /// US-REGF-12: counted calls per consumer-local day across all debts.
    pub max_calls_per_day_per_person: Option<u32>,
    /// US-REGF-12: voicemails and limited-content messages per 7 local days.
    pub max_voicemails_per_week: Option<u32>,
    pub pattern_action: PatternAction,
    /// How far ahead `next_eligible` is searched before giving up (days).
    pub horizon_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            unknown_location: UnknownLocation::Deny,
            last_dial_margin_minutes: 0,
            packs: None,
            min_gap_same_number_minutes: Some(30),
            max_calls_per_day_per_person: Some(3),
            max_voicemails_per_week: None,
            pattern_action: PatternAction::Defer,
            horizon_days: 400,
        }
    }
}

/// A policy value outside what the rules allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("min_gap_same_number_minutes must be at least 5 (rules.md US-REGF-12)")]
    GapTooShort,
    #[error("horizon_days must be between 1 and 3660")]
    Horizon,
    #[error("{0} must be at least 1")]
    ZeroCap(&'static str),
}

impl Policy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.min_gap_same_number_minutes.is_some_and(|m| m < 5) {
            return Err(PolicyError::GapTooShort);
        }
        if !(1..=3660).contains(&self.horizon_days) {
            return Err(PolicyError::Horizon);
        }
        if self.max_calls_per_day_per_person == Some(0) {
            return Err(PolicyError::ZeroCap("max_calls_per_day_per_person"));
        }
        if self.max_voicemails_per_week == Some(0) {
            return Err(PolicyError::ZeroCap("max_voicemails_per_week"));
        }
        Ok(())
    }

    pub(crate) fn pack_enabled(&self, id: &str) -> bool {
        self.packs
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|p| p.eq_ignore_ascii_case(id)))
    }
}
