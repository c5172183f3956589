//! Rule packs: the law as data. A pack (US federal, a state, UK, a province) is a list of
//! parameterised rule instances with effective dates and a jurisdiction; the engine has one
//! implementation per rule *kind*. A rule change (a new cap, a new effective date) is then
//! an edit of `packs/builtin.toml`, not of code, and tenants can load their own file.

use jiff::civil::Date;
use serde::Deserialize;

use crate::clock::{ClockTime, DayNumber, day_number};
use crate::model::{Day, HoldKind, Outcome};
use crate::reason::ReasonCode;

const BUILTIN: &str = include_str!("../packs/builtin.toml");

/// A versioned set of packs.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub version: &'static str,
    pub packs: Vec<Pack>,
}

#[derive(Debug, Clone)]
pub struct Pack {
    pub id: &'static str,
    pub title: String,
    pub jurisdiction: Jurisdiction,
    pub effective: Effective,
    pub rules: Vec<Rule>,
}

/// When a pack or rule is in force: from its first date to the day before `to`, read as
/// UTC dates of the call (a rule taking effect on a date applies from 00:00 UTC that day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub from: Option<Date>,
    pub to: Option<Date>,
    from_day: DayNumber,
    to_day: DayNumber,
}

impl Effective {
    pub fn new(from: Option<Date>, to: Option<Date>) -> Effective {
        Effective {
            from,
            to,
            from_day: from.map_or(DayNumber::MIN, day_number),
            to_day: to.map_or(DayNumber::MAX, day_number),
        }
    }

    /// Whether in force on a UTC day number.
    pub fn contains(&self, utc_day: DayNumber) -> bool {
        self.from_day <= utc_day && utc_day < self.to_day
    }
}

/// Where a pack applies: a country, optionally one state or province, optionally New York
/// City only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    pub country: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub nyc: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// Catalogue id, e.g. `US-REGF-08`.
    pub id: &'static str,
    pub effective: Effective,
    pub kind: RuleKind,
}

/// Which history entries a frequency rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    /// Reg F placed calls that connected (US-REGF-10); MA uses the same set.
    Regf,
    /// A person or a message was reached (WA "communications", Ontario "contacts").
    Reached,
    /// Every outbound attempt (NYC).
    Attempts,
    /// Voicemails and limited-content messages left (pattern policy).
    Messages,
}

/// Whose calls a frequency rule adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Per particular debt (student loans of one group are one debt).
    Debt,
    /// Per person, across debts.
    Person,
}

/// Which numbers a frequency rule covers: the dialed number must be of that kind, and only
/// calls to such numbers are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Numbers {
    #[default]
    All,
    /// Residence, cell, or a number the debtor gave as personal.
    Personal,
    /// Any other number (work).
    Other,
    Work,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channels {
    #[default]
    Calls,
    /// Calls, texts and emails.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum HolidayCalendar {
    #[serde(rename = "CA-ON")]
    Ontario,
    #[serde(rename = "CA-QC")]
    Quebec,
}

/// The rule kinds the engine implements.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// On `days`, calls only `from <= local < to` in every candidate zone.
    CallingWindow {
        #[serde(default)]
        days: Vec<Day>,
        from: ClockTime,
        to: ClockTime,
        #[serde(with = "code")]
        reason: ReasonCode,
        /// Used instead of `reason` when only some candidate zones are outside the window.
        #[serde(default, with = "opt_code")]
        multizone_reason: Option<ReasonCode>,
        /// A valid consent window (US-REGF-03) lifts this rule.
        #[serde(default)]
        consent_overrides: bool,
        /// Emit `WARN_LAST_DIAL_MARGIN` per the policy's margin.
        #[serde(default)]
        margin_warning: bool,
    },
    /// No calls on the calendar's public holidays.
    Holidays {
        calendar: HolidayCalendar,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// Consumer-stated inconvenient times and places (US-REGF-02).
    ConsumerBlackouts {
        #[serde(with = "code")]
        time_reason: ReasonCode,
        #[serde(with = "code")]
        place_reason: ReasonCode,
        #[serde(default)]
        consent_overrides: bool,
    },
    /// Employer prohibits calls at work (US-REGF-04).
    Workplace {
        #[serde(with = "code")]
        reason: ReasonCode,
        #[serde(default)]
        consent_overrides: bool,
    },
    /// A hold of this kind refuses the call while in effect.
    Hold {
        hold: HoldKind,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// At most `limit` counted entries in any `window_days` consecutive local dates.
    Frequency {
        limit: u32,
        window_days: u16,
        scope: Scope,
        counts: Counts,
        #[serde(default)]
        numbers: Numbers,
        #[serde(default)]
        channels: Channels,
        /// Calls under the consumer's direct prior consent are not counted (US-REGF-10).
        #[serde(default)]
        consent_excludes: bool,
        /// Applies only once a conversation has taken place (Ontario).
        #[serde(default)]
        after_first_conversation: bool,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// No call about a debt within `days` local dates of a conversation about it
    /// (conversation date = day 1).
    PostConversation {
        days: u16,
        #[serde(default)]
        consent_excludes: bool,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// No call to the same number within `minutes` of an earlier call with one of `after`.
    RepeatGap {
        after: Vec<Outcome>,
        minutes: u32,
        /// Lifted when a live agent is guaranteed (manual or preview mode, or reserved).
        #[serde(default)]
        waived_by_live_agent: bool,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// One location call per third party (US-REGF-14).
    LocationRepeat {
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// Automated calls to a wireless (or unknown) line need prior express consent.
    TcpaWirelessConsent {
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// Revoked consent stops automated calls at once.
    TcpaRevocation {
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// Reassigned Numbers Database: `yes` refuses every call, `no_data` automated ones.
    TcpaReassigned {
        #[serde(with = "code")]
        reason: ReasonCode,
    },
    /// Prerecorded calls without consent to a residential line: at most `limit` per
    /// `window_days` consecutive days.
    TcpaResidentialPrerecorded {
        limit: u32,
        window_days: u16,
        #[serde(with = "code")]
        reason: ReasonCode,
    },
}

/// The packs applied to one decision: a bit set over a rule set's packs.
#[derive(Clone, Copy)]
pub struct PackSet {
    set: &'static RuleSet,
    mask: u64,
}

impl PackSet {
    pub(crate) fn new(set: &'static RuleSet, mask: u64) -> PackSet {
        PackSet { set, mask }
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static Pack> + use<> {
        let mask = self.mask;
        self.set
            .packs
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| p)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|p| p.id == id)
    }
}

impl std::fmt::Debug for PackSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|p| p.id)).finish()
    }
}

impl serde::Serialize for PackSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|p| p.id))
    }
}

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("rule file: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("at most 64 packs per rule set")]
    TooManyPacks,
    #[error("pack {pack}: duplicate pack id")]
    DuplicatePack { pack: String },
    #[error("pack {pack}, rule {rule}: {problem}")]
    Invalid {
        pack: String,
        rule: String,
        problem: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRuleSet {
    version: String,
    #[serde(rename = "pack")]
    packs: Vec<FilePack>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePack {
    id: String,
    title: String,
    jurisdiction: Jurisdiction,
    #[serde(default)]
    effective_from: Option<Date>,
    #[serde(default)]
    effective_to: Option<Date>,
    #[serde(rename = "rule", default)]
    rules: Vec<FileRule>,
}

#[derive(Deserialize)]
struct FileRule {
    id: String,
    #[serde(default)]
    effective_from: Option<Date>,
    #[serde(default)]
    effective_to: Option<Date>,
    #[serde(flatten)]
    kind: RuleKind,
}

/// Rule sets live for the whole process; leaking their few strings keeps `&'static str`
/// ids in every decision without reference counting.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl RuleSet {
    /// The rule set shipped with this build.
    pub fn builtin() -> &'static RuleSet {
        static SET: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
        SET.get_or_init(|| {
            #[allow(clippy::expect_used)]
            RuleSet::from_toml(BUILTIN).expect("packs/builtin.toml is checked by tests")
        })
    }

    /// A rule set from a TOML file in the format of `packs/builtin.toml`.
    pub fn from_toml(text: &str) -> Result<RuleSet, PackError> {
        let file: FileRuleSet = toml::from_str(text)?;
        if file.packs.len() > 64 {
            return Err(PackError::TooManyPacks);
        }
        let mut packs: Vec<Pack> = Vec::with_capacity(file.packs.len());
        for p in file.packs {
            if packs.iter().any(|q| q.id == p.id) {
                return Err(PackError::DuplicatePack { pack: p.id });
            }
            let mut rules = Vec::with_capacity(p.rules.len());
            for r in p.rules {
                validate(&r.kind).map_err(|problem| PackError::Invalid {
                    pack: p.id.clone(),
                    rule: r.id.clone(),
                    problem,
                })?;
                rules.push(Rule {
                    id: leak(r.id),
                    effective: Effective::new(r.effective_from, r.effective_to),
                    kind: r.kind,
                });
            }
            packs.push(Pack {
                id: leak(p.id),
                title: p.title,
                jurisdiction: p.jurisdiction,
                effective: Effective::new(p.effective_from, p.effective_to),
                rules,
            });
        }
        Ok(RuleSet {
            version: leak(file.version),
            packs,
        })
    }
}

fn validate(kind: &RuleKind) -> Result<(), &'static str> {
    match kind {
        RuleKind::CallingWindow { from, to, .. } if from > to => {
            Err("calling window `from` is after `to`")
        }
        RuleKind::Frequency {
            limit, window_days, ..
        }
        | RuleKind::TcpaResidentialPrerecorded {
            limit, window_days, ..
        } if *limit == 0 || *window_days == 0 || *window_days > 366 => {
            Err("limit must be >= 1 and window_days in 1..=366")
        }
        RuleKind::PostConversation { days, .. } if *days == 0 || *days > 366 => {
            Err("days must be in 1..=366")
        }
        RuleKind::RepeatGap { minutes, after, .. } if *minutes == 0 || after.is_empty() => {
            Err("minutes must be >= 1 and `after` non-empty")
        }
        _ => Ok(()),
    }
}

mod code {
    use super::ReasonCode;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ReasonCode, D::Error> {
        let s = String::deserialize(d)?;
        ReasonCode::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {s}")))
    }
}

mod opt_code {
    use super::ReasonCode;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ReasonCode>, D::Error> {
        let s = String::deserialize(d)?;
        ReasonCode::parse(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code {s}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rule_set_parses() {
        let set = RuleSet::from_toml(BUILTIN).expect("builtin packs");
        assert!(set.packs.iter().any(|p| p.id == "US-FED"));
        assert!(set.packs.iter().all(|p| !p.rules.is_empty()));
    }

    #[test]
    fn bad_files_are_refused_with_the_place() {
        let bad = r#"
            version = "x"
            [[pack]]
            id = "P"
            title = "t"
            jurisdiction = { country = "US" }
            [[pack.rule]]
            id = "R"
            kind = "frequency"
            limit = 0
            window_days = 7
            scope = "debt"
            counts = "regf"
            reason = "US_REGF_7IN7"
        "#;
        let err = RuleSet::from_toml(bad).expect_err("limit 0");
        assert!(err.to_string().contains("pack P, rule R"), "{err}");
        let unknown = bad
            .replace("US_REGF_7IN7", "NOPE")
            .replace("limit = 0", "limit = 1");
        assert!(RuleSet::from_toml(&unknown).is_err());
    }
}
