//! What an evaluation answers: the verdict, every reason with its rule id, warnings, the
//! zones evaluated and where each came from, and when the call next becomes eligible.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::Serialize;

use crate::packs::PackSet;
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

/// How a reason clears, which decides the verdict and `next_eligible`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clears {
    /// A status block (cease, attorney, opt-out ...): no time makes it go away.
    Never,
    /// A time or count limit of law: clears at a computable instant.
    InTime,
    /// A campaign pacing policy: clears at a computable instant; verdict `defer`.
    InTimePolicy,
}

macro_rules! reason_codes {
    ($( $variant:ident => $code:literal, $rule:literal, $clears:ident; )*) => {
        /// Reason codes of the rule catalogue (section 8), plus warnings and annotations.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonCode { $( $variant, )* }

        impl ReasonCode {
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant, )* ];

            /// The stable code, e.g. `US_REGF_7IN7`.
            pub fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => $code, )* }
            }

            /// The rule id of the catalogue, e.g. `US-REGF-08`.
            pub fn rule_id(self) -> &'static str {
                match self { $( ReasonCode::$variant => $rule, )* }
            }

            pub fn clears(self) -> Clears {
                match self { $( ReasonCode::$variant => Clears::$clears, )* }
            }

            pub fn parse(code: &str) -> Option<ReasonCode> {
                match code { $( $code => Some(ReasonCode::$variant), )* _ => None }
            }
        }
    };
}

reason_codes! {
    // 1. Status blocks.
    RegfCease => "US_REGF_CEASE", "US-REGF-06", Never;
    RegfAttorney => "US_REGF_ATTORNEY", "US-REGF-05", Never;
    RegfMediumOptout => "US_REGF_MEDIUM_OPTOUT", "US-REGF-07", Never;
    RegfWorkplace => "US_REGF_WORKPLACE", "US-REGF-04", Never;
    WrongNumber => "WRONG_NUMBER", "POLICY-WRONG-NUMBER", Never;
    BankruptcyHold => "BANKRUPTCY_HOLD", "POLICY-BANKRUPTCY", Never;
    DeceasedNoRep => "DECEASED_NO_REP", "POLICY-DECEASED", Never;
    DisputeHold => "DISPUTE_HOLD", "POLICY-DISPUTE", Never;
    // 2. Location and time.
    RegfNoLocation => "US_REGF_NO_LOCATION", "US-REGF-01", Never;
    RegfHours => "US_REGF_HOURS", "US-REGF-01", InTime;
    RegfHoursMultizone => "US_REGF_HOURS_MULTIZONE", "US-REGF-01", InTime;
    RegfConsumerTime => "US_REGF_CONSUMER_TIME", "US-REGF-02", InTime;
    RegfConsumerPlace => "US_REGF_CONSUMER_PLACE", "US-REGF-02", InTime;
    FlHours => "US_FL_HOURS", "US-FL-01", InTime;
    WaHours => "US_WA_HOURS", "US-WA-01", InTime;
    CaOnSunday => "CA_ON_SUNDAY", "CA-ON-01", InTime;
    CaOnHours => "CA_ON_HOURS", "CA-ON-01", InTime;
    CaOnHoliday => "CA_ON_HOLIDAY", "CA-ON-01", InTime;
    CaQcHours => "CA_QC_HOURS", "CA-QC-01", InTime;
    UkFcaHours => "UK_FCA_HOURS", "UK-FCA-01", InTime;
    // 3. Frequency.
    Regf7in7 => "US_REGF_7IN7", "US-REGF-08", InTime;
    RegfPostconv => "US_REGF_POSTCONV", "US-REGF-09", InTime;
    RegfLocationRepeat => "US_REGF_LOCATION_REPEAT", "US-REGF-14", Never;
    Ma2in7 => "US_MA_2IN7", "US-MA-01", InTime;
    Ma2in30Other => "US_MA_2IN30_OTHER", "US-MA-01", InTime;
    Wa3PerWeek => "US_WA_3PERWEEK", "US-WA-01", InTime;
    WaWork1PerWeek => "US_WA_WORK_1PERWEEK", "US-WA-01", InTime;
    Nyc3in7 => "US_NYC_3IN7", "US-NYC-01", InTime;
    CaOn3in7 => "CA_ON_3IN7", "CA-ON-01", InTime;
    UkOfcom72h => "UK_OFCOM_72H", "UK-OFCOM-01", InTime;
    UkOfcomAmd24h => "UK_OFCOM_AMD_24H", "UK-OFCOM-01", InTime;
    PolicyPacing => "POLICY_PACING", "US-REGF-12", InTimePolicy;
    // 4. Channel / TCPA.
    TcpaNoConsent => "US_TCPA_NO_CONSENT", "US-TCPA-04", Never;
    TcpaRevoked => "US_TCPA_REVOKED", "US-TCPA-05", Never;
    TcpaRndDisconnected => "US_TCPA_RND_DISCONNECTED", "US-TCPA-07", Never;
    TcpaResPrerecordedCap => "US_TCPA_RES_PRERECORDED_CAP", "US-TCPA-06", InTime;
    // Warnings.
    WarnLastDialMargin => "WARN_LAST_DIAL_MARGIN", "US-REGF-01", InTime;
    WarnRegfPattern => "WARN_REGF_PATTERN", "US-REGF-12", InTime;
    WarnLowConfidenceZone => "WARN_LOW_CONFIDENCE_ZONE", "US-REGF-01", InTime;
    WarnRndNoData => "WARN_RND_NO_DATA", "US-TCPA-07", InTime;
    WarnUnknownLineType => "WARN_UNKNOWN_LINE_TYPE", "US-TCPA-04", InTime;
    // Allow annotations.
    AllowPriorConsentExclusion => "ALLOW_PRIOR_CONSENT_EXCLUSION", "US-REGF-10", InTime;
    AllowConsentWindow => "ALLOW_CONSENT_WINDOW", "US-REGF-03", InTime;
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &c in ReasonCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert_eq!(ReasonCode::parse(c.as_str()), Some(c));
        }
    }
}
