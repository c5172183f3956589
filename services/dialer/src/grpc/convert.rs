//! Protobuf to domain and back: campaigns (merged field by field onto defaults or the
//! current configuration), figures, agent commands and events, compliance decisions. Bad
//! input becomes INVALID_ARGUMENT naming the field; nothing here panics on input.

use carrier::{CallId, EndCause};
use collections_proto::common_v1 as cpb;
use collections_proto::dialer_v1 as pb;
use compliance::model::{DialMode, PhoneKind};
use compliance::policy::{PatternAction, UnknownLocation};
use compliance::{Decision, Finding, ReasonCode, Verdict};
use jiff::Timestamp;
use ledger_api::common;
use pacing::Policy as Pacing;
use tonic::Status;

use super::status::{self, invalid};
use crate::campaign::CampaignSpec;
use crate::engine::figures::AgentRow;
use crate::engine::{Figures, RunState, TrendPoint};
use crate::limits::{self, ID_BYTES, MAX_DEBTS, MAX_MINOR};
use crate::registry::{CampaignInfo, CampaignState};
use crate::session::{
    AgentCommand, AgentEvent, Disposition, DispositionCode, InstallmentTerms, PlanTerms,
    PromiseTerms, RejectKind, ScreenPop, SeatState,
};

// ---------------------------------------------------------------- time

pub fn ts_to(t: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: t.subsec_nanosecond(),
    }
}

pub fn ms_to(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn ts_from(t: &prost_types::Timestamp, field: &str) -> Result<Timestamp, Status> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(invalid(field, "nanos out of range"));
    }
    Timestamp::new(t.seconds, t.nanos).map_err(|_| invalid(field, "out of range"))
}

// ---------------------------------------------------------------- text limits

/// Checks a free-text field's length (characters) and that it has no control characters
/// other than newlines and tabs.
pub fn text(field: &str, v: &str, max: usize) -> Result<(), Status> {
    if v.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, "control characters are not allowed"));
    }
    Ok(())
}

/// An id: 1 to [`ID_BYTES`] bytes (the ledger's bound), no spaces or control characters.
pub fn id(field: &str, v: &str) -> Result<(), Status> {
    if v.is_empty() {
        return Err(invalid(field, "required"));
    }
    if v.len() > ID_BYTES || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            field,
            format!("1 to {ID_BYTES} bytes, no spaces or control characters"),
        ));
    }
    Ok(())
}

/// A repeated field of at most `max` entries.
pub fn at_most<T>(field: &str, items: &[T], max: usize) -> Result<(), Status> {
    if items.len() > max {
        return Err(invalid(
            field,
            format!("{} entries; at most {max} allowed", items.len()),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- enums

pub fn state_to(s: CampaignState) -> pb::CampaignState {
    match s {
        CampaignState::Ready => pb::CampaignState::Ready,
        CampaignState::Running => pb::CampaignState::Running,
        CampaignState::Paused => pb::CampaignState::Paused,
        CampaignState::Stopping => pb::CampaignState::Stopping,
        CampaignState::Stopped => pb::CampaignState::Stopped,
    }
}

pub fn state_from(v: i32, field: &str) -> Result<Option<CampaignState>, Status> {
    Ok(
        match pb::CampaignState::try_from(v).map_err(|_| invalid(field, "unknown value"))? {
            pb::CampaignState::Unspecified => None,
            pb::CampaignState::Ready => Some(CampaignState::Ready),
            pb::CampaignState::Running => Some(CampaignState::Running),
            pb::CampaignState::Paused => Some(CampaignState::Paused),
            pb::CampaignState::Stopping => Some(CampaignState::Stopping),
            pb::CampaignState::Stopped => Some(CampaignState::Stopped),
        },
    )
}

fn run_state_to(s: RunState) -> pb::CampaignState {
    match s {
        RunState::Ready => pb::CampaignState::Ready,
        RunState::Running => pb::CampaignState::Running,
        RunState::Paused => pb::CampaignState::Paused,
        RunState::Stopping => pb::CampaignState::Stopping,
        RunState::Stopped => pb::CampaignState::Stopped,
    }
}

/// A phone kind of a campaign's phone order ([`ledger_api::common`]'s mapping): required.
fn phone_kind_from(v: i32, field: &str) -> Result<PhoneKind, Status> {
    common::phone_kind_from(v, field)
        .map_err(status::contract)?
        .ok_or_else(|| invalid(field, "must be specified"))
}

/// A dial mode ([`ledger_api::common`]'s mapping); `None` for UNSPECIFIED.
pub fn dial_mode_from(v: i32, field: &str) -> Result<Option<DialMode>, Status> {
    common::dial_mode_from(v, field).map_err(status::contract)
}

// ---------------------------------------------------------------- campaigns

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// `0` removes an optional limit; absent keeps it.
fn set_limit(slot: &mut Option<u32>, v: Option<u32>) {
    if let Some(v) = v {
        *slot = (v != 0).then_some(v);
    }
}

/// Applies the fields present in `c` to `spec` (the defaults on create, the current
/// configuration on update). `packs` are the rule set's pack ids, to refuse unknown ones.
pub fn merge_campaign(
    c: pb::Campaign,
    mut spec: CampaignSpec,
    packs: &[&str],
) -> Result<CampaignSpec, Status> {
    if let Some(name) = c.name {
        text("campaign.name", &name, limits::NAME_CHARS)?;
        spec.name = name;
    }
    if let Some(p) = c.pacing {
        spec.pacing = merge_pacing(p, spec.pacing)?;
    }
    set(&mut spec.abandon_target, c.abandon_target);
    set(&mut spec.abandon_window_days, c.abandon_window_days);
    set(&mut spec.uk_mode, c.uk_mode);
    set(&mut spec.max_lines_per_agent, c.max_lines_per_agent);
    set(&mut spec.ring_timeout_s, c.ring_timeout_s);
    set(&mut spec.connect_deadline_s, c.connect_deadline_s);
    set(&mut spec.amd_false_positive, c.amd_false_positive);
    if let Some(p) = c.compliance {
        let policy = &mut spec.compliance;
        match pb::UnknownLocation::try_from(p.unknown_location) {
            Ok(pb::UnknownLocation::Unspecified) => {}
            Ok(pb::UnknownLocation::Deny) => policy.unknown_location = UnknownLocation::Deny,
            Ok(pb::UnknownLocation::AllUs) => policy.unknown_location = UnknownLocation::AllUs,
            Err(_) => {
                return Err(invalid(
                    "campaign.compliance.unknown_location",
                    "unknown value",
                ));
            }
        }
        set(
            &mut policy.last_dial_margin_minutes,
            p.last_dial_margin_minutes,
        );
        if policy.last_dial_margin_minutes > limits::MAX_LAST_DIAL_MARGIN_MINUTES {
            return Err(invalid(
                "campaign.compliance.last_dial_margin_minutes",
                format_args!("at most {}", limits::MAX_LAST_DIAL_MARGIN_MINUTES),
            ));
        }
        if let Some(sel) = p.packs {
            if sel.all {
                policy.packs = None;
            } else {
                at_most(
                    "campaign.compliance.packs.ids",
                    &sel.ids,
                    limits::MAX_PACK_IDS,
                )?;
                for (i, id) in sel.ids.iter().enumerate() {
                    if sel.ids[..i].iter().any(|p| p.eq_ignore_ascii_case(id)) {
                        return Err(invalid(
                            format_args!("campaign.compliance.packs.ids[{i}]"),
                            "listed twice",
                        ));
                    }
                    if !packs.iter().any(|p| p.eq_ignore_ascii_case(id)) {
                        return Err(invalid(
                            format_args!("campaign.compliance.packs.ids[{i}]"),
                            format_args!("unknown pack {id:?} (known: {})", packs.join(", ")),
                        ));
                    }
                }
                policy.packs = Some(sel.ids);
            }
        }
        set_limit(
            &mut policy.min_gap_same_number_minutes,
            p.min_gap_same_number_minutes,
        );
        set_limit(
            &mut policy.max_calls_per_day_per_person,
            p.max_calls_per_day_per_person,
        );
        set_limit(
            &mut policy.max_voicemails_per_week,
            p.max_voicemails_per_week,
        );
        match pb::PatternAction::try_from(p.pattern_action) {
            Ok(pb::PatternAction::Unspecified) => {}
            Ok(pb::PatternAction::Defer) => policy.pattern_action = PatternAction::Defer,
            Ok(pb::PatternAction::Warn) => policy.pattern_action = PatternAction::Warn,
            Err(_) => {
                return Err(invalid(
                    "campaign.compliance.pattern_action",
                    "unknown value",
                ));
            }
        }
        set(&mut policy.horizon_days, p.horizon_days);
    }
    if let Some(r) = c.ranking {
        let w = &mut spec.ranking;
        for (field, slot, v) in [
            ("crm_score", &mut w.crm_score, r.crm_score),
            ("balance", &mut w.balance, r.balance),
            ("days_past_due", &mut w.days_past_due, r.days_past_due),
            ("attempts", &mut w.attempts, r.attempts),
            (
                "since_last_contact",
                &mut w.since_last_contact,
                r.since_last_contact,
            ),
            ("follow_the_sun", &mut w.follow_the_sun, r.follow_the_sun),
            ("aging_bucket", &mut w.aging_bucket, r.aging_bucket),
            ("broken_promise", &mut w.broken_promise, r.broken_promise),
        ] {
            if let Some(v) = v {
                let max = limits::MAX_RANKING_WEIGHT;
                if !(v.is_finite() && (-max..=max).contains(&v)) {
                    return Err(invalid(
                        format_args!("campaign.ranking.{field}"),
                        format_args!("must be a number in [-{max}, {max}]"),
                    ));
                }
                *slot = v;
            }
        }
    }
    if let Some(r) = c.recycling {
        let rp = &mut spec.recycling;
        for (field, slot, v) in [
            ("busy_minutes", &mut rp.busy_minutes, r.busy_minutes),
            (
                "no_answer_minutes",
                &mut rp.no_answer_minutes,
                r.no_answer_minutes,
            ),
            (
                "machine_minutes",
                &mut rp.machine_minutes,
                r.machine_minutes,
            ),
            (
                "voicemail_minutes",
                &mut rp.voicemail_minutes,
                r.voicemail_minutes,
            ),
            ("failed_minutes", &mut rp.failed_minutes, r.failed_minutes),
            (
                "abandoned_minutes",
                &mut rp.abandoned_minutes,
                r.abandoned_minutes,
            ),
        ] {
            if let Some(v) = v {
                if v > limits::MAX_RECYCLE_MINUTES {
                    return Err(invalid(
                        format_args!("campaign.recycling.{field}"),
                        format_args!("at most {} (90 days)", limits::MAX_RECYCLE_MINUTES),
                    ));
                }
                *slot = v;
            }
        }
        set(
            &mut rp.next_phone_on_dead_number,
            r.next_phone_on_dead_number,
        );
        if !r.phone_order.is_empty() {
            let mut order = Vec::with_capacity(r.phone_order.len());
            for (i, k) in r.phone_order.iter().enumerate() {
                let kind = phone_kind_from(*k, &format!("campaign.recycling.phone_order[{i}]"))?;
                if order.contains(&kind) {
                    return Err(invalid(
                        format_args!("campaign.recycling.phone_order[{i}]"),
                        "listed twice",
                    ));
                }
                order.push(kind);
            }
            rp.phone_order = order;
        }
    }
    if let Some(v) = c.caller_id {
        spec.caller_id = v;
    }
    if let Some(v) = c.safe_harbor_template {
        text("campaign.safe_harbor_template", &v, limits::TEMPLATE_CHARS)?;
        spec.safe_harbor_template = v;
    }
    if let Some(v) = c.voicemail_template {
        text("campaign.voicemail_template", &v, limits::TEMPLATE_CHARS)?;
        spec.voicemail_template = (!v.trim().is_empty()).then_some(v);
    }
    if let Some(v) = c.script {
        text("campaign.script", &v, limits::SCRIPT_CHARS)?;
        spec.script = v;
    }
    if let Some(v) = c.mini_miranda {
        text("campaign.mini_miranda", &v, limits::MINI_MIRANDA_CHARS)?;
        spec.mini_miranda = v;
    }
    set(&mut spec.wrap_up_s, c.wrap_up_s);
    set(&mut spec.lease_s, c.lease_s);
    // Every remaining rule (ranges, E.164, the pacing policy's own checks) is the domain's,
    // named the same way.
    spec.validate().map_err(status::spec)?;
    Ok(spec)
}

fn merge_pacing(p: pb::Pacing, current: Pacing) -> Result<Pacing, Status> {
    let mode = pb::PacingMode::try_from(p.mode)
        .map_err(|_| invalid("campaign.pacing.mode", format!("unknown value {}", p.mode)))?;
    let mut policy = match (mode, current) {
        (pb::PacingMode::Unspecified, c) => c,
        (pb::PacingMode::Preview, _) => Pacing::Preview,
        (pb::PacingMode::Progressive, _) => Pacing::Progressive,
        (pb::PacingMode::Power, c @ Pacing::Power { .. }) => c,
        (pb::PacingMode::Power, _) => Pacing::Power { ratio: 2.0 },
        (pb::PacingMode::Predictive, c @ Pacing::Predictive(_)) => c,
        (pb::PacingMode::Predictive, _) => Pacing::predictive(),
    };
    if let Some(r) = p.power_ratio {
        match &mut policy {
            Pacing::Power { ratio } => *ratio = r,
            _ => {
                return Err(invalid(
                    "campaign.pacing.power_ratio",
                    "only for mode POWER",
                ));
            }
        }
    }
    if let Some(k) = p.predictive {
        let Pacing::Predictive(cfg) = &mut policy else {
            return Err(invalid(
                "campaign.pacing.predictive",
                "only for mode PREDICTIVE",
            ));
        };
        set(&mut cfg.margin, k.margin);
        set(&mut cfg.answer_half_life_s, k.answer_half_life_s);
        set(&mut cfg.handle_half_life_s, k.handle_half_life_s);
        set(&mut cfg.prior_live, k.prior_live);
        set(&mut cfg.prior_dials, k.prior_dials);
        set(&mut cfg.amd_delay_s, k.amd_delay_s);
        set(&mut cfg.theta0, k.theta0);
        set(&mut cfg.theta_min, k.theta_min);
        set(&mut cfg.theta_max, k.theta_max);
        set(&mut cfg.gain, k.gain);
        set(&mut cfg.payback_lives, k.payback_lives);
        set(&mut cfg.class_split_s, k.class_split_s);
        if let Some(h) = k.horizon_points {
            cfg.horizon_points = h as usize;
        }
        if let Some(m) = k.min_handle_samples {
            cfg.min_handle_samples = m as usize;
        }
    }
    Ok(policy)
}

pub fn campaign_to(c: &CampaignInfo) -> pb::Campaign {
    let s = &c.spec;
    let (mode, power_ratio, predictive) = match &s.pacing {
        Pacing::Preview => (pb::PacingMode::Preview, None, None),
        Pacing::Progressive => (pb::PacingMode::Progressive, None, None),
        Pacing::Power { ratio } => (pb::PacingMode::Power, Some(*ratio), None),
        Pacing::Predictive(p) => (
            pb::PacingMode::Predictive,
            None,
            Some(pb::PredictiveKnobs {
                margin: Some(p.margin),
                answer_half_life_s: Some(p.answer_half_life_s),
                handle_half_life_s: Some(p.handle_half_life_s),
                prior_live: Some(p.prior_live),
                prior_dials: Some(p.prior_dials),
                amd_delay_s: Some(p.amd_delay_s),
                theta0: Some(p.theta0),
                theta_min: Some(p.theta_min),
                theta_max: Some(p.theta_max),
                gain: Some(p.gain),
                payback_lives: Some(p.payback_lives),
                horizon_points: Some(p.horizon_points as u32),
                class_split_s: Some(p.class_split_s),
                min_handle_samples: Some(p.min_handle_samples as u32),
            }),
        ),
        // A benchmark baseline, not offered by the API.
        Pacing::VicidialAdaptive => (pb::PacingMode::Unspecified, None, None),
    };
    let p = &s.compliance;
    pb::Campaign {
        campaign_id: s.id.clone(),
        name: Some(s.name.clone()),
        pacing: Some(pb::Pacing {
            mode: mode as i32,
            power_ratio,
            predictive,
        }),
        abandon_target: Some(s.abandon_target),
        abandon_window_days: Some(s.abandon_window_days),
        uk_mode: Some(s.uk_mode),
        max_lines_per_agent: Some(s.max_lines_per_agent),
        ring_timeout_s: Some(s.ring_timeout_s),
        connect_deadline_s: Some(s.connect_deadline_s),
        amd_false_positive: Some(s.amd_false_positive),
        compliance: Some(pb::CompliancePolicy {
            unknown_location: match p.unknown_location {
                UnknownLocation::Deny => pb::UnknownLocation::Deny,
                UnknownLocation::AllUs => pb::UnknownLocation::AllUs,
            } as i32,
            last_dial_margin_minutes: Some(p.last_dial_margin_minutes),
            packs: Some(pb::PackSelection {
                all: p.packs.is_none(),
                ids: p.packs.clone().unwrap_or_default(),
            }),
            min_gap_same_number_minutes: Some(p.min_gap_same_number_minutes.unwrap_or(0)),
            max_calls_per_day_per_person: Some(p.max_calls_per_day_per_person.unwrap_or(0)),
            max_voicemails_per_week: Some(p.max_voicemails_per_week.unwrap_or(0)),
            pattern_action: match p.pattern_action {
                PatternAction::Defer => pb::PatternAction::Defer,
                PatternAction::Warn => pb::PatternAction::Warn,
            } as i32,
            horizon_days: Some(p.horizon_days),
        }),
        ranking: Some(pb::Ranking {
            crm_score: Some(s.ranking.crm_score),
            balance: Some(s.ranking.balance),
            days_past_due: Some(s.ranking.days_past_due),
            attempts: Some(s.ranking.attempts),
            since_last_contact: Some(s.ranking.since_last_contact),
            follow_the_sun: Some(s.ranking.follow_the_sun),
            aging_bucket: Some(s.ranking.aging_bucket),
            broken_promise: Some(s.ranking.broken_promise),
        }),
        recycling: Some(pb::Recycling {
            busy_minutes: Some(s.recycling.busy_minutes),
            no_answer_minutes: Some(s.recycling.no_answer_minutes),
            machine_minutes: Some(s.recycling.machine_minutes),
            voicemail_minutes: Some(s.recycling.voicemail_minutes),
            failed_minutes: Some(s.recycling.failed_minutes),
            abandoned_minutes: Some(s.recycling.abandoned_minutes),
            next_phone_on_dead_number: Some(s.recycling.next_phone_on_dead_number),
            phone_order: s
                .recycling
                .phone_order
                .iter()
                .map(|k| common::phone_kind_to(*k))
                .collect(),
        }),
        caller_id: Some(s.caller_id.clone()),
        safe_harbor_template: Some(s.safe_harbor_template.clone()),
        voicemail_template: Some(s.voicemail_template.clone().unwrap_or_default()),
        script: Some(s.script.clone()),
        mini_miranda: Some(s.mini_miranda.clone()),
        wrap_up_s: Some(s.wrap_up_s),
        lease_s: Some(s.lease_s),
        state: state_to(c.state) as i32,
        created_at: Some(ts_to(c.created_at)),
        updated_at: Some(ts_to(c.updated_at)),
    }
}

pub fn figures_to(f: &Figures) -> pb::Figures {
    pb::Figures {
        campaign_id: f.campaign_id.clone(),
        at: Some(ms_to(f.at_ms)),
        state: run_state_to(f.state) as i32,
        agents: Some(pb::AgentCounts {
            ready: f.agents.ready,
            reserved: f.agents.reserved,
            on_call: f.agents.on_call,
            wrap_up: f.agents.wrap_up,
            not_ready: f.agents.not_ready,
            logged_out: f.agents.logged_out,
        }),
        lines_in_use: f.lines_in_use,
        peak_lines: f.peak_lines,
        dials: f.dials,
        dials_last_minute: f.dials_last_minute,
        live_answers: f.live_answers,
        answer_rate: f.answer_rate,
        connected: f.connected,
        abandoned: f.abandoned,
        abandon_rate_today: f.abandon_rate_today,
        abandon_rate_window: f.abandon_rate_window,
        machines: f.machines,
        right_party_contacts: f.right_party_contacts,
        promises: f.promises,
        occupancy: f.occupancy,
        queue: Some(pb::QueueSizes {
            ready: f.queue.ready,
            sleeping: f.queue.sleeping,
            leased: f.queue.leased,
        }),
        refused_by_reason: f.refused_by_reason.clone().into_iter().collect(),
        outcomes: f.outcomes.clone().into_iter().collect(),
        errors: f.errors,
        pre_dial_lag_p99_us: f.pre_dial_lag_p99_us,
        pre_dial_lag_max_us: f.pre_dial_lag_max_us,
        clock_behind_ms: f.clock_behind_ms,
        last_hour: Some(pb::LastHour {
            dials: f.last_hour.dials,
            answers: f.last_hour.answers,
            right_party_contacts: f.last_hour.contacts,
            promises: f.last_hour.promises,
        }),
        pacing_ratio: f.pacing_ratio,
        pacing_answer_rate: f.pacing_answer_rate,
        pacing_state_restored: f.pacing_state_restored,
        abandon_target: f.abandon_target,
        abandon_window_days: f.abandon_window_days,
        roster: f
            .roster
            .iter()
            .map(|a| agent_status_to(a, "", f.at_ms))
            .collect(),
        history: Vec::new(),
    }
}

/// One sample of a campaign's figures over the shift.
pub fn trend_point_to(p: &TrendPoint) -> pb::TrendPoint {
    pb::TrendPoint {
        at: Some(ms_to(p.at_ms)),
        abandon_rate_today: p.abandon_rate_today,
        abandon_rate_window: p.abandon_rate_window,
        occupancy: p.occupancy,
        lines_in_use: p.lines_in_use,
        pacing_ratio: p.pacing_ratio,
    }
}

/// One roster row of figures taken at `at_ms`; `campaign_id` is left empty inside figures
/// (which name the campaign).
pub fn agent_status_to(a: &AgentRow, campaign_id: &str, at_ms: i64) -> pb::AgentStatus {
    let state = match a.state {
        "logged_out" => pb::SeatState::LoggedOut,
        "not_ready" => pb::SeatState::NotReady,
        "ready" => pb::SeatState::Ready,
        "reserved" => pb::SeatState::Reserved,
        "on_call" => pb::SeatState::OnCall,
        "wrap_up" => pb::SeatState::WrapUp,
        _ => pb::SeatState::Unspecified,
    };
    pb::AgentStatus {
        agent_id: a.agent_id.clone(),
        state: state as i32,
        pause_code: a.pause_code.clone(),
        since: Some(ms_to(a.since_ms)),
        call_id: a.call_id.clone().unwrap_or_default(),
        calls: a.calls,
        talk_ms: u64::try_from(a.talk_ms).unwrap_or(0),
        campaign_id: campaign_id.to_string(),
        in_state_ms: u64::try_from(at_ms - a.since_ms).unwrap_or(0),
    }
}

/// A filter over the ledger's accounts, checked as the ledger checks it (with its code).
pub fn account_filter(f: cpb::AccountFilter) -> Result<ledger_api::domain::AccountFilter, Status> {
    common::account_filter_in(f, "filter").map_err(status::contract)
}

// ---------------------------------------------------------------- agents

fn call_id(v: &str, field: &str) -> Result<CallId, Status> {
    v.parse::<CallId>()
        .map_err(|_| invalid(field, "not a call id of this dialer"))
}

/// The name of a command, as `CommandRejected.command` reports it.
pub fn command_name(c: &pb::agent_request::Command) -> &'static str {
    use pb::agent_request::Command as C;
    match c {
        C::Login(_) => "login",
        C::Ready(_) => "ready",
        C::NotReady(_) => "not_ready",
        C::Accept(_) => "accept",
        C::Skip(_) => "skip",
        C::Hangup(_) => "hangup",
        C::Disposition(_) => "disposition",
        C::ManualDial(_) => "manual_dial",
        C::Logout(_) => "logout",
    }
}

/// A softphone command as the engine takes it (`login` is handled by the session itself).
pub fn agent_command(c: pb::agent_request::Command) -> Result<AgentCommand, Status> {
    use pb::agent_request::Command as C;
    Ok(match c {
        C::Login(_) => {
            return Err(status::already_logged_in());
        }
        C::Ready(_) => AgentCommand::Ready,
        C::NotReady(n) => {
            if n.pause_code.trim().is_empty() {
                return Err(invalid("not_ready.pause_code", "required"));
            }
            text(
                "not_ready.pause_code",
                &n.pause_code,
                limits::PAUSE_CODE_CHARS,
            )?;
            AgentCommand::NotReady { code: n.pause_code }
        }
        C::Accept(a) => AgentCommand::Accept {
            call: call_id(&a.call_id, "accept.call_id")?,
        },
        C::Skip(a) => AgentCommand::Skip {
            call: call_id(&a.call_id, "skip.call_id")?,
        },
        C::Hangup(a) => AgentCommand::Hangup {
            call: call_id(&a.call_id, "hangup.call_id")?,
        },
        C::Disposition(d) => AgentCommand::Disposition {
            call: call_id(&d.call_id, "disposition.call_id")?,
            disposition: disposition(
                d.disposition
                    .ok_or_else(|| invalid("disposition.disposition", "required"))?,
            )?,
        },
        C::ManualDial(m) => {
            id("manual_dial.account_id", &m.account_id)?;
            let number = if m.number.is_empty() {
                None
            } else {
                ledger_api::domain::validate_e164("manual_dial.number", &m.number)
                    .map_err(status::contract)?;
                Some(m.number)
            };
            at_most("manual_dial.debt_ids", &m.debt_ids, MAX_DEBTS)?;
            for (i, d) in m.debt_ids.iter().enumerate() {
                id(&format!("manual_dial.debt_ids[{i}]"), d)?;
            }
            AgentCommand::ManualDial {
                account_id: m.account_id,
                number,
                debt_ids: m.debt_ids,
            }
        }
        C::Logout(_) => AgentCommand::Logout,
    })
}

fn disposition(d: pb::Disposition) -> Result<Disposition, Status> {
    const F: &str = "disposition.disposition";
    let code = match pb::DispositionCode::try_from(d.code) {
        Ok(pb::DispositionCode::Unspecified) => {
            return Err(invalid(format_args!("{F}.code"), "required"));
        }
        Ok(pb::DispositionCode::RightPartyContact) => DispositionCode::RightPartyContact,
        Ok(pb::DispositionCode::PromiseToPay) => DispositionCode::PromiseToPay,
        Ok(pb::DispositionCode::Callback) => DispositionCode::Callback,
        Ok(pb::DispositionCode::Dispute) => DispositionCode::Dispute,
        Ok(pb::DispositionCode::CeaseRequest) => DispositionCode::CeaseRequest,
        Ok(pb::DispositionCode::Attorney) => DispositionCode::Attorney,
        Ok(pb::DispositionCode::WrongNumber) => DispositionCode::WrongNumber,
        Ok(pb::DispositionCode::Refused) => DispositionCode::Refused,
        Ok(pb::DispositionCode::ThirdParty) => DispositionCode::ThirdParty,
        Ok(pb::DispositionCode::NoContact) => DispositionCode::NoContact,
        Ok(pb::DispositionCode::Machine) => DispositionCode::Machine,
        Ok(pb::DispositionCode::RevokeConsent) => DispositionCode::RevokeConsent,
        Ok(pb::DispositionCode::PaymentPlan) => DispositionCode::PaymentPlan,
        Err(_) => {
            return Err(invalid(
                format_args!("{F}.code"),
                format!("unknown value {}", d.code),
            ));
        }
    };
    text(&format!("{F}.notes"), &d.notes, limits::NOTES_CHARS)?;
    let promise = match (code, d.promise) {
        (DispositionCode::PromiseToPay, None) => {
            return Err(invalid(
                format_args!("{F}.promise"),
                "required for PROMISE_TO_PAY",
            ));
        }
        (DispositionCode::PromiseToPay, Some(p)) => {
            if !(1..=MAX_MINOR).contains(&p.amount_minor) {
                return Err(invalid(
                    format_args!("{F}.promise.amount_minor"),
                    format_args!("must be positive and at most {MAX_MINOR}"),
                ));
            }
            ledger_api::domain::validate_currency(&format!("{F}.promise.currency"), &p.currency)
                .map_err(status::contract)?;
            if p.due_date.len() != 10 || p.due_date.parse::<jiff::civil::Date>().is_err() {
                return Err(invalid(
                    format_args!("{F}.promise.due_date"),
                    "must be YYYY-MM-DD",
                ));
            }
            id(&format!("{F}.promise.debt_id"), &p.debt_id)?;
            Some(PromiseTerms {
                debt_id: p.debt_id,
                amount_minor: p.amount_minor,
                currency: p.currency,
                due_date: p.due_date,
            })
        }
        (_, Some(_)) => {
            return Err(invalid(
                format_args!("{F}.promise"),
                "only for PROMISE_TO_PAY",
            ));
        }
        (_, None) => None,
    };
    let plan = match (code, d.plan) {
        (DispositionCode::PaymentPlan, None) => {
            return Err(invalid(
                format_args!("{F}.plan"),
                "required for PAYMENT_PLAN",
            ));
        }
        (DispositionCode::PaymentPlan, Some(p)) => Some(Box::new(plan_terms(p)?)),
        (_, Some(_)) => {
            return Err(invalid(format_args!("{F}.plan"), "only for PAYMENT_PLAN"));
        }
        (_, None) => None,
    };
    let callback_at_ms = match (code, &d.callback_at) {
        (DispositionCode::Callback, None) => {
            return Err(invalid(
                format_args!("{F}.callback_at"),
                "required for CALLBACK",
            ));
        }
        (_, Some(t)) => Some(ts_from(t, &format!("{F}.callback_at"))?.as_millisecond()),
        (_, None) => None,
    };
    at_most(
        &format!("{F}.debts_discussed"),
        &d.debts_discussed,
        MAX_DEBTS,
    )?;
    for (i, debt) in d.debts_discussed.iter().enumerate() {
        id(&format!("{F}.debts_discussed[{i}]"), debt)?;
    }
    Ok(Disposition {
        code,
        debts_discussed: d.debts_discussed,
        promise,
        plan,
        callback_at_ms,
        notes: d.notes,
    })
}

/// A PAYMENT_PLAN's terms, each bound named (`disposition.disposition.plan.installments[1].due`).
fn plan_terms(p: pb::PlanTerms) -> Result<PlanTerms, Status> {
    const F: &str = "disposition.disposition.plan";
    id(&format!("{F}.debt_id"), &p.debt_id)?;
    if p.installments.is_empty() || p.installments.len() > limits::MAX_PLAN_INSTALLMENTS {
        return Err(invalid(
            format_args!("{F}.installments"),
            format_args!("1 to {} installments", limits::MAX_PLAN_INSTALLMENTS),
        ));
    }
    let mut previous: Option<jiff::civil::Date> = None;
    let mut installments = Vec::with_capacity(p.installments.len());
    for (k, i) in p.installments.into_iter().enumerate() {
        let due = match i.due.parse::<jiff::civil::Date>() {
            Ok(d) if i.due.len() == 10 => d,
            _ => {
                return Err(invalid(
                    format_args!("{F}.installments[{k}].due"),
                    "must be YYYY-MM-DD",
                ));
            }
        };
        if previous.is_some_and(|p| due <= p) {
            return Err(invalid(
                format_args!("{F}.installments[{k}].due"),
                "must be after the previous installment's",
            ));
        }
        previous = Some(due);
        if !(1..=MAX_MINOR).contains(&i.amount_minor) {
            return Err(invalid(
                format_args!("{F}.installments[{k}].amount_minor"),
                format_args!("must be positive and at most {MAX_MINOR}"),
            ));
        }
        installments.push(InstallmentTerms {
            due: i.due,
            amount_minor: i.amount_minor,
        });
    }
    if p.grace_days > limits::MAX_GRACE_DAYS {
        return Err(invalid(
            format_args!("{F}.grace_days"),
            format_args!("at most {}", limits::MAX_GRACE_DAYS),
        ));
    }
    Ok(PlanTerms {
        debt_id: p.debt_id,
        installments,
        grace_days: p.grace_days,
    })
}

fn seat_to(s: &SeatState) -> (pb::SeatState, String) {
    match s {
        SeatState::LoggedOut => (pb::SeatState::LoggedOut, String::new()),
        SeatState::NotReady { code } => (pb::SeatState::NotReady, code.clone()),
        SeatState::Ready => (pb::SeatState::Ready, String::new()),
        SeatState::Reserved => (pb::SeatState::Reserved, String::new()),
        SeatState::OnCall => (pb::SeatState::OnCall, String::new()),
        SeatState::WrapUp => (pb::SeatState::WrapUp, String::new()),
    }
}

fn cause_to(c: EndCause) -> pb::EndCause {
    match c {
        EndCause::Busy => pb::EndCause::Busy,
        EndCause::Sit => pb::EndCause::Sit,
        EndCause::Failed => pb::EndCause::Failed,
        EndCause::NoAnswer => pb::EndCause::NoAnswer,
        EndCause::Cancelled => pb::EndCause::Cancelled,
        EndCause::RemoteHangup => pb::EndCause::RemoteHangup,
        EndCause::LocalHangup => pb::EndCause::LocalHangup,
    }
}

fn screen_pop_to(p: ScreenPop) -> pb::ScreenPop {
    pb::ScreenPop {
        account_id: p.account_id,
        person_id: p.person_id,
        name: p.name,
        number: p.number,
        creditor: p.creditor,
        debts: p
            .debts
            .into_iter()
            .map(|d| pb::DebtLine {
                debt_id: d.debt_id,
                balance_minor: d.balance_minor,
                currency: d.currency,
                days_past_due: d.days_past_due,
                original_creditor: d.original_creditor,
                regf_calls_left: d.regf_calls_left,
                open_minor: d.statement.open_minor,
                past_due_minor: d.statement.past_due_minor,
                oldest_bucket: d.statement.oldest_bucket,
                last_payment_date: d.statement.last_payment_date,
                last_payment_minor: d.statement.last_payment_minor,
                promise_status: d.statement.promise_status,
                promise_due: d.statement.promise_due,
                plan_status: d.statement.plan_status,
                in_dispute: d.statement.in_dispute,
            })
            .collect(),
        call_debt_ids: p.call_debt_ids,
        last_contacts: p
            .last_contacts
            .into_iter()
            .map(|c| pb::ContactLine {
                at: Some(ms_to(c.at_ms)),
                outcome: common::outcome_to(c.outcome),
                disposition: c.disposition,
                agent_id: c.agent_id,
            })
            .collect(),
        promises: p
            .promises
            .into_iter()
            .map(|x| pb::PromiseLine {
                debt_id: x.debt_id,
                amount_minor: x.amount_minor,
                currency: x.currency,
                due_date: x.due_date,
                status: x.status,
            })
            .collect(),
        compliance_notes: p.compliance_notes,
        script: p.script,
        mini_miranda: p.mini_miranda,
    }
}

/// The softphone's code for an engine rejection.
fn rejection_code(kind: RejectKind) -> pb::RejectionCode {
    match kind {
        RejectKind::Invalid => pb::RejectionCode::InvalidArgument,
        RejectKind::NotFound => pb::RejectionCode::NotFound,
        RejectKind::NotYours => pb::RejectionCode::PermissionDenied,
        RejectKind::NotNow => pb::RejectionCode::FailedPrecondition,
    }
}

/// A rejection made at the edge (malformed command).
pub fn rejected(command: &str, e: &Status) -> pb::AgentMessage {
    let code = match e.code() {
        tonic::Code::InvalidArgument => pb::RejectionCode::InvalidArgument,
        tonic::Code::PermissionDenied => pb::RejectionCode::PermissionDenied,
        tonic::Code::NotFound => pb::RejectionCode::NotFound,
        _ => pb::RejectionCode::FailedPrecondition,
    };
    pb::AgentMessage {
        event: Some(pb::agent_message::Event::Rejected(pb::CommandRejected {
            command: command.to_string(),
            reason: e.message().to_string(),
            code: code as i32,
        })),
    }
}

fn finding_from_code(code: &str) -> pb::Finding {
    pb::Finding {
        code: code.to_string(),
        rule_id: ReasonCode::parse(code)
            .map(|c| c.rule_id().to_string())
            .unwrap_or_default(),
        detail: String::new(),
    }
}

pub fn agent_event_to(e: AgentEvent) -> pb::AgentMessage {
    use pb::agent_message::Event as E;
    let event = match e {
        AgentEvent::State { state } => {
            let (state, pause_code) = seat_to(&state);
            E::State(pb::StateChanged {
                state: state as i32,
                pause_code,
            })
        }
        AgentEvent::Offered { call, pop, preview } => E::Offered(pb::Offered {
            call_id: call.to_string(),
            preview,
            screen_pop: Some(screen_pop_to(*pop)),
        }),
        AgentEvent::Connected { call } => E::Connected(pb::Connected {
            call_id: call.to_string(),
        }),
        AgentEvent::Ended {
            call,
            cause,
            wrap_deadline_ms,
        } => E::Ended(pb::Ended {
            call_id: call.to_string(),
            cause: cause_to(cause) as i32,
            wrap_deadline: Some(ms_to(wrap_deadline_ms)),
        }),
        AgentEvent::Refused {
            account_id,
            reasons,
            next_eligible_ms,
        } => E::Refused(pb::Refused {
            account_id,
            reasons: reasons.iter().map(|r| finding_from_code(r)).collect(),
            next_eligible: next_eligible_ms.map(ms_to),
        }),
        AgentEvent::DispositionSaved { call } => E::Saved(pb::DispositionSaved {
            call_id: call.to_string(),
        }),
        AgentEvent::Rejected { command, rejection } => E::Rejected(pb::CommandRejected {
            command,
            code: rejection_code(rejection.kind) as i32,
            reason: rejection.reason,
        }),
    };
    pb::AgentMessage { event: Some(event) }
}

// ---------------------------------------------------------------- compliance

fn finding_to(f: &Finding) -> pb::Finding {
    pb::Finding {
        code: f.code.as_str().to_string(),
        rule_id: f.rule.to_string(),
        detail: f.detail.clone(),
    }
}

pub fn explanation_to(
    d: &Decision,
    at: Timestamp,
    number: &str,
    debt_ids: &[String],
    mode: DialMode,
) -> pb::Explanation {
    pb::Explanation {
        verdict: match d.verdict {
            Verdict::Allow => pb::Verdict::Allow,
            Verdict::Defer => pb::Verdict::Defer,
            Verdict::Deny => pb::Verdict::Deny,
        } as i32,
        reasons: d.reasons.iter().map(finding_to).collect(),
        warnings: d.warnings.iter().map(finding_to).collect(),
        notes: d.notes.iter().map(finding_to).collect(),
        zones: d
            .zones
            .iter()
            .map(|z| pb::Zone {
                zone: z.zone.to_string(),
                sources: match serde_json::to_value(z.sources) {
                    Ok(serde_json::Value::Array(v)) => v
                        .into_iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                },
                local_time: z.local_time.to_string(),
            })
            .collect(),
        next_eligible: d.next_eligible.map(ts_to),
        counted: d.counted,
        packs: d.packs.iter().map(|p| p.id.to_string()).collect(),
        ruleset_version: d.ruleset_version.to_string(),
        at: Some(ts_to(at)),
        number: number.to_string(),
        debt_ids: debt_ids.to_vec(),
        mode: common::dial_mode_to(mode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs() -> Vec<&'static str> {
        vec!["HOLDS", "US-FED", "US-TCPA"]
    }

    #[test]
    fn create_takes_defaults_and_update_keeps_what_is_absent() {
        let created = merge_campaign(
            pb::Campaign {
                campaign_id: String::new(),
                name: Some("spring".into()),
                ..Default::default()
            },
            CampaignSpec {
                id: "c1".into(),
                ..CampaignSpec::default()
            },
            &packs(),
        )
        .expect("valid");
        assert_eq!(created.ring_timeout_s, 22.0);
        assert_eq!(created.pacing, Pacing::predictive());
        let updated = merge_campaign(
            pb::Campaign {
                pacing: Some(pb::Pacing {
                    mode: pb::PacingMode::Power as i32,
                    power_ratio: Some(1.5),
                    predictive: None,
                }),
                compliance: Some(pb::CompliancePolicy {
                    min_gap_same_number_minutes: Some(0),
                    packs: Some(pb::PackSelection {
                        all: false,
                        ids: vec!["US-FED".into()],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
            created.clone(),
            &packs(),
        )
        .expect("valid");
        assert_eq!(updated.name, "spring");
        assert_eq!(updated.pacing, Pacing::Power { ratio: 1.5 });
        assert_eq!(updated.compliance.min_gap_same_number_minutes, None);
        assert_eq!(updated.compliance.packs, Some(vec!["US-FED".to_string()]));
        // And back: what campaign_to prints, merge reads as the same configuration.
        let info = CampaignInfo {
            spec: updated.clone(),
            state: CampaignState::Ready,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            figures: crate::registry::empty_figures("c1", 0),
        };
        let base = CampaignSpec {
            id: "c1".into(),
            ..CampaignSpec::default()
        };
        let again = merge_campaign(campaign_to(&info), base, &packs()).expect("round trip");
        assert_eq!(again, updated);
    }

    #[test]
    fn bad_fields_are_named() {
        let base = CampaignSpec {
            id: "c1".into(),
            ..CampaignSpec::default()
        };
        let cases = [
            (
                pb::Campaign {
                    ring_timeout_s: Some(5.0),
                    ..Default::default()
                },
                "campaign.ring_timeout_s",
            ),
            (
                pb::Campaign {
                    pacing: Some(pb::Pacing {
                        mode: pb::PacingMode::Progressive as i32,
                        power_ratio: Some(2.0),
                        predictive: None,
                    }),
                    ..Default::default()
                },
                "campaign.pacing.power_ratio",
            ),
            (
                pb::Campaign {
                    compliance: Some(pb::CompliancePolicy {
                        packs: Some(pb::PackSelection {
                            all: false,
                            ids: vec!["US-FED".into(), "MARS".into()],
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "campaign.compliance.packs.ids[1]",
            ),
            (
                pb::Campaign {
                    compliance: Some(pb::CompliancePolicy {
                        min_gap_same_number_minutes: Some(2),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "campaign.compliance.min_gap_same_number_minutes",
            ),
            (
                pb::Campaign {
                    recycling: Some(pb::Recycling {
                        phone_order: vec![1, 1],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "campaign.recycling.phone_order[1]",
            ),
            (
                pb::Campaign {
                    caller_id: Some("555".into()),
                    ..Default::default()
                },
                "campaign.caller_id",
            ),
            (
                pb::Campaign {
                    abandon_target: Some(f64::NAN),
                    ..Default::default()
                },
                "campaign.abandon_target",
            ),
        ];
        for (c, field) in cases {
            let e = merge_campaign(c, base.clone(), &packs()).expect_err(field);
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(
                e.message().starts_with(&format!("{field}:")),
                "{field}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn malformed_agent_commands_name_the_field() {
        use pb::agent_request::Command as C;
        let cases = [
            (
                C::Accept(pb::Accept {
                    call_id: "x".into(),
                }),
                "accept.call_id",
            ),
            (
                C::NotReady(pb::NotReady {
                    pause_code: String::new(),
                }),
                "not_ready.pause_code",
            ),
            (
                C::Disposition(pb::DispositionCall {
                    call_id: "1".into(),
                    disposition: Some(pb::Disposition {
                        code: pb::DispositionCode::PromiseToPay as i32,
                        ..Default::default()
                    }),
                }),
                "disposition.disposition.promise",
            ),
            (
                C::ManualDial(pb::ManualDial {
                    account_id: "A1".into(),
                    number: "12".into(),
                    debt_ids: vec![],
                }),
                "manual_dial.number",
            ),
        ];
        for (c, field) in cases {
            let e = agent_command(c).expect_err(field);
            assert!(e.message().starts_with(field), "{}", e.message());
        }
    }

    #[test]
    fn engine_rejections_read_as_before() {
        use crate::session::Rejection;
        let cases = [
            (
                Rejection::field("promise.amount_minor", "must be positive"),
                pb::RejectionCode::InvalidArgument,
                "promise.amount_minor: must be positive",
            ),
            (
                Rejection::not_yours(),
                pb::RejectionCode::PermissionDenied,
                "not your call",
            ),
            (
                Rejection::not_found("no such call (it has ended)"),
                pb::RejectionCode::NotFound,
                "no such call (it has ended)",
            ),
            (
                Rejection::not_now("finish the call first"),
                pb::RejectionCode::FailedPrecondition,
                "finish the call first",
            ),
        ];
        for (rejection, code, reason) in cases {
            let m = agent_event_to(AgentEvent::Rejected {
                command: "hangup".into(),
                rejection,
            });
            let Some(pb::agent_message::Event::Rejected(r)) = m.event else {
                panic!("a rejection");
            };
            assert_eq!((r.code(), r.reason.as_str()), (code, reason));
        }
    }
}
