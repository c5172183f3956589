//! The reason codes of the rule catalogue (with their rule ids and how each clears), shared
//! by the rule packs ([`crate::packs`]), the rules and the decision ([`crate::decision`]); a
//! module of its own so that neither of those imports the other for them.

use serde::Serialize;

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
