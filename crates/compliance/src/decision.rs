//! What an evaluation answers: the verdict, every reason with its rule id, warnings, the
//! zones evaluated and where each came from, and when the call next becomes eligible. The
//! reason codes themselves are [`crate::reason`]'s (re-exported here), which the rule packs
//! use too: `packs` -> `reason` <- `decision`, no cycle.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::Serialize;

use crate::packs::PackSet;
pub use crate::reason::{Clears, ReasonCode};
use crate::zones::Sources;

/// Deny > Defer > Allow. Deny: a law (or a hold the tenant treats as law) refuses the call.
/// Defer: only the campaign's own pacing policy (US-REGF-12) refuses it for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Defer,
    Deny,
}

/// One reason, warning or annotation, with the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: ReasonCode,
    /// The rule instance id, e.g. `US-REGF-08` or `US-MA-01`.
    pub rule: &'static str,
    /// A short human explanation with the figures (counts, local times, zones).
    pub detail: String,
}

/// A candidate zone and why it is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneEvaluated {
    pub zone: Cow<'static, str>,
    /// The input fields that gave it, e.g. `consumer.phones[0]`, `consumer.addresses[0].zip`.
    pub sources: Sources,
    /// Local wall-clock time of the evaluation instant there.
    pub local_time: DateTime,
}

/// The engine's answer for one proposed call.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    pub reasons: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Allow annotations (e.g. the prior-consent exclusion).
    pub notes: Vec<Finding>,
    /// Earliest instant at which every time- and count-based reason clears; none for holds.
    pub next_eligible: Option<Timestamp>,
    pub zones: Vec<ZoneEvaluated>,
    /// Whether this call, once placed and connected, counts toward US-REGF-08 for its debts.
    pub counted: bool,
    /// Rule packs applied, with the rule-set version.
    pub packs: PackSet,
    pub ruleset_version: &'static str,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    pub fn has(&self, code: ReasonCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }
}
