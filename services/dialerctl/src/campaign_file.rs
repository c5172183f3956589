//! The campaign file of `dialerctl campaign create -f`: a `CampaignSpec` written by hand in
//! TOML, YAML or JSON (docs/campaign.example.toml, docs/campaign.example.yaml), with the
//! `collections.dialer.v1.Campaign` field names, and its conversion to and from the protobuf.
//! Only the shape is checked here (unknown keys, wrong types, unknown names); ranges are
//! dialerd's to check, so one rule book answers grpcurl and dialerctl alike.

use std::path::Path;

use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use serde::{Deserialize, Serialize};

use crate::client::Failure;

/// Declares a struct of the campaign file: unknown keys refused, and every field after the
/// `required` ones an `Option` that may be left out of a file (dialerd's default applies)
/// and is left out when one is written back. One place for what each field would otherwise
/// repeat (serde_with's `skip_serializing_none` without the dependency).
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            required { $($(#[$rmeta:meta])* pub $req:ident: $rty:ty,)* }
            $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$rmeta])* pub $req: $rty,)*
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: $ty,
            )*
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
    ) => {
        section! { $(#[$meta])* pub struct $name { required {} $($fields)* } }
    };
}

section! {
    /// A campaign as a file holds it; every field but `campaign_id` may be left out
    /// (dialerd's default applies).
    pub struct CampaignFile {
        required {
            pub campaign_id: String,
        }
        pub name: Option<String>,
        pub abandon_target: Option<f64>,
        pub abandon_window_days: Option<u32>,
        pub uk_mode: Option<bool>,
        pub max_lines_per_agent: Option<f64>,
        pub ring_timeout_s: Option<f64>,
        pub connect_deadline_s: Option<f64>,
        pub amd_false_positive: Option<f64>,
        pub caller_id: Option<String>,
        pub safe_harbor_template: Option<String>,
        pub voicemail_template: Option<String>,
        pub script: Option<String>,
        pub mini_miranda: Option<String>,
        pub wrap_up_s: Option<u32>,
        pub lease_s: Option<u32>,
        pub pacing: Option<PacingFile>,
        pub compliance: Option<ComplianceFile>,
        pub ranking: Option<RankingFile>,
        pub recycling: Option<RecyclingFile>,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Preview,
    Progressive,
    Power,
    Predictive,
}

section! {
    pub struct PacingFile {
        pub mode: Option<Mode>,
        pub power_ratio: Option<f64>,
        pub predictive: Option<PredictiveFile>,
    }
}

section! {
    pub struct PredictiveFile {
        pub margin: Option<f64>,
        pub answer_half_life_s: Option<f64>,
        pub handle_half_life_s: Option<f64>,
        pub prior_live: Option<f64>,
        pub prior_dials: Option<f64>,
        pub amd_delay_s: Option<f64>,
        pub theta0: Option<f64>,
        pub theta_min: Option<f64>,
        pub theta_max: Option<f64>,
        pub gain: Option<f64>,
        pub payback_lives: Option<f64>,
        pub horizon_points: Option<u32>,
        pub class_split_s: Option<f64>,
        pub min_handle_samples: Option<u32>,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownLocationName {
    Deny,
    AllUs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternActionName {
    Defer,
    Warn,
}

section! {
    pub struct ComplianceFile {
        pub unknown_location: Option<UnknownLocationName>,
        pub last_dial_margin_minutes: Option<u32>,
        /// Pack ids, or `["all"]` for every pack of the rule set.
        pub packs: Option<Vec<String>>,
        pub min_gap_same_number_minutes: Option<u32>,
        pub max_calls_per_day_per_person: Option<u32>,
        pub max_voicemails_per_week: Option<u32>,
        pub pattern_action: Option<PatternActionName>,
        pub horizon_days: Option<u32>,
    }
}

section! {
    pub struct RankingFile {
        pub crm_score: Option<f64>,
        pub balance: Option<f64>,
        pub days_past_due: Option<f64>,
        pub attempts: Option<f64>,
        pub since_last_contact: Option<f64>,
        pub follow_the_sun: Option<f64>,
        /// Weight of the account's aging bucket (older debts first).
        pub aging_bucket: Option<f64>,
        /// Weight of a broken promise to pay on the account.
        pub broken_promise: Option<f64>,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKindName {
    Mobile,
    Landline,
    Work,
    Voip,
    Unknown,
}

section! {
    pub struct RecyclingFile {
        pub busy_minutes: Option<u32>,
        pub no_answer_minutes: Option<u32>,
        pub machine_minutes: Option<u32>,
        pub voicemail_minutes: Option<u32>,
        pub failed_minutes: Option<u32>,
        pub abandoned_minutes: Option<u32>,
        pub next_phone_on_dead_number: Option<bool>,
        pub phone_order: Option<Vec<PhoneKindName>>,
    }
}

/// Reads a campaign file; the format follows the extension (`.toml`, `.yaml`/`.yml`,
/// `.json`). Errors name the file and the key (and line, where the format knows it).
pub fn read(path: &Path) -> Result<CampaignFile, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(format!("reading {}: {e}", path.display())))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    parse(&text, &ext).map_err(|e| Failure::invalid(format!("{}: {e}", path.display())))
}

/// Parses `text` in the format of extension `ext`.
pub fn parse(text: &str, ext: &str) -> Result<CampaignFile, String> {
    let file: CampaignFile = match ext {
        "toml" => toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?,
        "yaml" | "yml" => serde_yaml::from_str(text).map_err(|e| e.to_string())?,
        "json" => serde_json::from_str(text).map_err(|e| e.to_string())?,
        other => {
            return Err(format!(
                "unknown campaign file format {other:?}: use .toml, .yaml or .json"
            ));
        }
    };
    if file.campaign_id.is_empty() {
        return Err("campaign_id: required".into());
    }
    Ok(file)
}

impl CampaignFile {
    /// The protobuf a create sends.
    pub fn to_proto(&self) -> pb::Campaign {
        let pacing = self.pacing.as_ref().map(|p| pb::Pacing {
            mode: match p.mode {
                None => pb::PacingMode::Unspecified,
                Some(Mode::Preview) => pb::PacingMode::Preview,
                Some(Mode::Progressive) => pb::PacingMode::Progressive,
                Some(Mode::Power) => pb::PacingMode::Power,
                Some(Mode::Predictive) => pb::PacingMode::Predictive,
            } as i32,
            power_ratio: p.power_ratio,
            predictive: p.predictive.as_ref().map(|k| pb::PredictiveKnobs {
                margin: k.margin,
                answer_half_life_s: k.answer_half_life_s,
                handle_half_life_s: k.handle_half_life_s,
                prior_live: k.prior_live,
                prior_dials: k.prior_dials,
                amd_delay_s: k.amd_delay_s,
                theta0: k.theta0,
                theta_min: k.theta_min,
                theta_max: k.theta_max,
                gain: k.gain,
                payback_lives: k.payback_lives,
                horizon_points: k.horizon_points,
                class_split_s: k.class_split_s,
                min_handle_samples: k.min_handle_samples,
            }),
        });
        let compliance = self.compliance.as_ref().map(|c| pb::CompliancePolicy {
            unknown_location: match c.unknown_location {
                None => pb::UnknownLocation::Unspecified,
                Some(UnknownLocationName::Deny) => pb::UnknownLocation::Deny,
                Some(UnknownLocationName::AllUs) => pb::UnknownLocation::AllUs,
            } as i32,
            last_dial_margin_minutes: c.last_dial_margin_minutes,
            packs: c.packs.as_ref().map(|ids| {
                if ids.len() == 1 && ids[0].eq_ignore_ascii_case("all") {
                    pb::PackSelection {
                        all: true,
                        ids: Vec::new(),
                    }
                } else {
                    pb::PackSelection {
                        all: false,
                        ids: ids.clone(),
                    }
                }
            }),
            min_gap_same_number_minutes: c.min_gap_same_number_minutes,
            max_calls_per_day_per_person: c.max_calls_per_day_per_person,
            max_voicemails_per_week: c.max_voicemails_per_week,
            pattern_action: match c.pattern_action {
                None => pb::PatternAction::Unspecified,
                Some(PatternActionName::Defer) => pb::PatternAction::Defer,
                Some(PatternActionName::Warn) => pb::PatternAction::Warn,
            } as i32,
            horizon_days: c.horizon_days,
        });
        let ranking = self.ranking.as_ref().map(|r| pb::Ranking {
            crm_score: r.crm_score,
            balance: r.balance,
            days_past_due: r.days_past_due,
            attempts: r.attempts,
            since_last_contact: r.since_last_contact,
            follow_the_sun: r.follow_the_sun,
            aging_bucket: r.aging_bucket,
            broken_promise: r.broken_promise,
        });
        let recycling = self.recycling.as_ref().map(|r| pb::Recycling {
            busy_minutes: r.busy_minutes,
            no_answer_minutes: r.no_answer_minutes,
            machine_minutes: r.machine_minutes,
            voicemail_minutes: r.voicemail_minutes,
            failed_minutes: r.failed_minutes,
            abandoned_minutes: r.abandoned_minutes,
            next_phone_on_dead_number: r.next_phone_on_dead_number,
            phone_order: r
                .phone_order
                .iter()
                .flatten()
                .map(|k| phone_kind_to(*k) as i32)
                .collect(),
        });
        pb::Campaign {
            campaign_id: self.campaign_id.clone(),
            name: self.name.clone(),
            pacing,
            abandon_target: self.abandon_target,
            abandon_window_days: self.abandon_window_days,
            uk_mode: self.uk_mode,
            max_lines_per_agent: self.max_lines_per_agent,
            ring_timeout_s: self.ring_timeout_s,
            connect_deadline_s: self.connect_deadline_s,
            amd_false_positive: self.amd_false_positive,
            compliance,
            ranking,
            recycling,
            caller_id: self.caller_id.clone(),
            safe_harbor_template: self.safe_harbor_template.clone(),
            voicemail_template: self.voicemail_template.clone(),
            script: self.script.clone(),
            mini_miranda: self.mini_miranda.clone(),
            wrap_up_s: self.wrap_up_s,
            lease_s: self.lease_s,
            state: 0,
            created_at: None,
            updated_at: None,
        }
    }

    /// A campaign as dialerd answered it, in the file's shape (what `campaign show` prints).
    pub fn from_proto(c: &pb::Campaign) -> CampaignFile {
        CampaignFile {
            campaign_id: c.campaign_id.clone(),
            name: c.name.clone(),
            abandon_target: c.abandon_target,
            abandon_window_days: c.abandon_window_days,
            uk_mode: c.uk_mode,
            max_lines_per_agent: c.max_lines_per_agent,
            ring_timeout_s: c.ring_timeout_s,
            connect_deadline_s: c.connect_deadline_s,
            amd_false_positive: c.amd_false_positive,
            caller_id: c.caller_id.clone(),
            safe_harbor_template: c.safe_harbor_template.clone(),
            voicemail_template: c.voicemail_template.clone(),
            script: c.script.clone(),
            mini_miranda: c.mini_miranda.clone(),
            wrap_up_s: c.wrap_up_s,
            lease_s: c.lease_s,
            pacing: c.pacing.as_ref().map(|p| PacingFile {
                mode: mode_from(p.mode),
                power_ratio: p.power_ratio,
                predictive: p.predictive.as_ref().map(|k| PredictiveFile {
                    margin: k.margin,
                    answer_half_life_s: k.answer_half_life_s,
                    handle_half_life_s: k.handle_half_life_s,
                    prior_live: k.prior_live,
                    prior_dials: k.prior_dials,
                    amd_delay_s: k.amd_delay_s,
                    theta0: k.theta0,
                    theta_min: k.theta_min,
                    theta_max: k.theta_max,
                    gain: k.gain,
                    payback_lives: k.payback_lives,
                    horizon_points: k.horizon_points,
                    class_split_s: k.class_split_s,
                    min_handle_samples: k.min_handle_samples,
                }),
            }),
            compliance: c.compliance.as_ref().map(|p| ComplianceFile {
                unknown_location: match pb::UnknownLocation::try_from(p.unknown_location) {
                    Ok(pb::UnknownLocation::Deny) => Some(UnknownLocationName::Deny),
                    Ok(pb::UnknownLocation::AllUs) => Some(UnknownLocationName::AllUs),
                    _ => None,
                },
                last_dial_margin_minutes: p.last_dial_margin_minutes,
                packs: p.packs.as_ref().map(|s| {
                    if s.all {
                        vec!["all".to_string()]
                    } else {
                        s.ids.clone()
                    }
                }),
                min_gap_same_number_minutes: p.min_gap_same_number_minutes,
                max_calls_per_day_per_person: p.max_calls_per_day_per_person,
                max_voicemails_per_week: p.max_voicemails_per_week,
                pattern_action: match pb::PatternAction::try_from(p.pattern_action) {
                    Ok(pb::PatternAction::Defer) => Some(PatternActionName::Defer),
                    Ok(pb::PatternAction::Warn) => Some(PatternActionName::Warn),
                    _ => None,
                },
                horizon_days: p.horizon_days,
            }),
            ranking: c.ranking.as_ref().map(|r| RankingFile {
                crm_score: r.crm_score,
                balance: r.balance,
                days_past_due: r.days_past_due,
                attempts: r.attempts,
                since_last_contact: r.since_last_contact,
                follow_the_sun: r.follow_the_sun,
                aging_bucket: r.aging_bucket,
                broken_promise: r.broken_promise,
            }),
            recycling: c.recycling.as_ref().map(|r| RecyclingFile {
                busy_minutes: r.busy_minutes,
                no_answer_minutes: r.no_answer_minutes,
                machine_minutes: r.machine_minutes,
                voicemail_minutes: r.voicemail_minutes,
                failed_minutes: r.failed_minutes,
                abandoned_minutes: r.abandoned_minutes,
                next_phone_on_dead_number: r.next_phone_on_dead_number,
                phone_order: Some(
                    r.phone_order
                        .iter()
                        .filter_map(|k| phone_kind_from(*k))
                        .collect(),
                ),
            }),
        }
    }
}

/// The pacing mode's name, as files and tables write it.
pub fn mode_from(v: i32) -> Option<Mode> {
    match pb::PacingMode::try_from(v) {
        Ok(pb::PacingMode::Preview) => Some(Mode::Preview),
        Ok(pb::PacingMode::Progressive) => Some(Mode::Progressive),
        Ok(pb::PacingMode::Power) => Some(Mode::Power),
        Ok(pb::PacingMode::Predictive) => Some(Mode::Predictive),
        _ => None,
    }
}

pub fn mode_name(m: Option<Mode>) -> &'static str {
    match m {
        Some(Mode::Preview) => "preview",
        Some(Mode::Progressive) => "progressive",
        Some(Mode::Power) => "power",
        Some(Mode::Predictive) => "predictive",
        None => "-",
    }
}

fn phone_kind_to(k: PhoneKindName) -> cpb::PhoneKind {
    match k {
        PhoneKindName::Mobile => cpb::PhoneKind::Mobile,
        PhoneKindName::Landline => cpb::PhoneKind::Landline,
        PhoneKindName::Work => cpb::PhoneKind::Work,
        PhoneKindName::Voip => cpb::PhoneKind::Voip,
        PhoneKindName::Unknown => cpb::PhoneKind::Unknown,
    }
}

fn phone_kind_from(v: i32) -> Option<PhoneKindName> {
    match cpb::PhoneKind::try_from(v) {
        Ok(cpb::PhoneKind::Mobile) => Some(PhoneKindName::Mobile),
        Ok(cpb::PhoneKind::Landline) => Some(PhoneKindName::Landline),
        Ok(cpb::PhoneKind::Work) => Some(PhoneKindName::Work),
        Ok(cpb::PhoneKind::Voip) => Some(PhoneKindName::Voip),
        Ok(cpb::PhoneKind::Unknown) => Some(PhoneKindName::Unknown),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn the_documented_examples_parse_and_say_the_same() {
        let toml = parse(&example("campaign.example.toml"), "toml").expect("toml example");
        let yaml = parse(&example("campaign.example.yaml"), "yaml").expect("yaml example");
        assert_eq!(toml, yaml);
        // Every section of the spec is exercised by the example.
        let p = toml.to_proto();
        assert!(p.pacing.is_some() && p.compliance.is_some());
        assert!(p.ranking.is_some() && p.recycling.is_some());
        assert!(!p.recycling.as_ref().expect("r").phone_order.is_empty());
        // Round trip through the protobuf keeps every field.
        assert_eq!(CampaignFile::from_proto(&p), toml);
    }

    #[test]
    fn left_out_keys_stay_out_when_written_back() {
        let f =
            parse("campaign_id = \"c\"\n[pacing]\nmode = \"power\"\n", "toml").expect("minimal");
        assert_eq!(
            serde_json::to_string(&f).expect("json"),
            r#"{"campaign_id":"c","pacing":{"mode":"power"}}"#
        );
        let e = parse("pacing = {}\n", "toml").expect_err("no id");
        assert!(e.contains("missing field `campaign_id`"), "{e}");
    }

    #[test]
    fn shape_errors_name_the_key() {
        let e = parse("campaign_id = \"c\"\nring_timeout = 20\n", "toml").expect_err("unknown");
        assert!(e.contains("ring_timeout"), "{e}");
        let e = parse("campaign_id: c\npacing:\n  mode: turbo\n", "yaml").expect_err("mode");
        assert!(e.contains("turbo") && e.contains("pacing"), "{e}");
        let e = parse("name = \"x\"\n", "toml").expect_err("no id");
        assert!(e.contains("campaign_id"), "{e}");
        let e = parse("{}", "ini").expect_err("format");
        assert!(e.contains(".toml"), "{e}");
    }
}
