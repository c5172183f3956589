//! One implementation per rule kind. Each looks at the context at an instant `t` and
//! reports what fails there and the earliest instant it would stop failing; the engine
//! calls them at the request's instant (explaining) and again while it searches for
//! `next_eligible` (quietly).

mod frequency;
mod status;
mod window;

use jiff::Timestamp;

use crate::clock::{ClockTime, DayNumber, ZoneClock, date_of};
use crate::decision::Finding;
use crate::history::Ctx;
use crate::packs::{Rule, RuleKind};
use crate::policy::PatternAction;
use crate::reason::{Clears, ReasonCode};

/// A failing rule at one instant.
#[derive(Debug, Clone)]
pub struct Hit {
    pub code: ReasonCode,
    pub rule: &'static str,
    pub clears: Clears,
    /// Earliest instant after `t` at which this rule alone passes; `None` when unknown.
    pub next: Option<Timestamp>,
    pub detail: String,
}

/// Where rules report. In quiet mode no text is formatted and warnings are dropped.
#[derive(Debug, Default)]
pub struct Sink {
    pub explain: bool,
    pub hits: Vec<Hit>,
    pub warnings: Vec<Finding>,
    pub notes: Vec<Finding>,
}

impl Sink {
    pub fn explaining() -> Sink {
        Sink {
            explain: true,
            ..Sink::default()
        }
    }

    fn hit(
        &mut self,
        rule: &'static str,
        code: ReasonCode,
        clears: Clears,
        next: Option<Timestamp>,
        detail: impl FnOnce() -> String,
    ) {
        let detail = if self.explain {
            detail()
        } else {
            String::new()
        };
        self.hits.push(Hit {
            code,
            rule,
            clears,
            next,
            detail,
        });
    }

    fn warn(&mut self, rule: &'static str, code: ReasonCode, detail: impl FnOnce() -> String) {
        if self.explain && !self.warnings.iter().any(|w| w.code == code) {
            self.warnings.push(Finding {
                code,
                rule,
                detail: detail(),
            });
        }
    }

    fn note(&mut self, rule: &'static str, code: ReasonCode, detail: impl FnOnce() -> String) {
        if self.explain && !self.notes.iter().any(|w| w.code == code) {
            self.notes.push(Finding {
                code,
                rule,
                detail: detail(),
            });
        }
    }
}

/// Evaluates one pack rule at `t`.
pub fn eval(rule: &Rule, ctx: &Ctx<'_>, t: Timestamp, sink: &mut Sink) {
    let id = rule.id;
    match &rule.kind {
        RuleKind::CallingWindow {
            days,
            from,
            to,
            reason,
            multizone_reason,
            consent_overrides,
            margin_warning,
        } => window::calling_window(
            ctx,
            t,
            sink,
            window::Window {
                id,
                days,
                from: *from,
                to: *to,
                reason: *reason,
                multizone_reason: *multizone_reason,
                consent_overrides: *consent_overrides,
                margin_warning: *margin_warning,
            },
        ),
        RuleKind::Holidays { calendar, reason } => {
            window::holidays(ctx, t, sink, id, *calendar, *reason)
        }
        RuleKind::ConsumerBlackouts {
            time_reason,
            place_reason,
            consent_overrides,
        } => window::blackouts(
            ctx,
            t,
            sink,
            id,
            *time_reason,
            *place_reason,
            *consent_overrides,
        ),
        RuleKind::Workplace {
            reason,
            consent_overrides,
        } => status::workplace(ctx, t, sink, id, *reason, *consent_overrides),
        RuleKind::Hold { hold, reason } => status::hold(ctx, t, sink, id, *hold, *reason),
        RuleKind::Frequency {
            limit,
            window_days,
            scope,
            counts,
            numbers,
            channels,
            consent_excludes,
            after_first_conversation,
            reason,
        } => frequency::frequency(
            ctx,
            t,
            sink,
            &frequency::Cap {
                id,
                limit: *limit,
                window_days: i32::from(*window_days),
                scope: *scope,
                counts: *counts,
                numbers: *numbers,
                channels: *channels,
                consent_excludes: *consent_excludes,
                after_first_conversation: *after_first_conversation,
                reason: *reason,
                clears: Clears::InTime,
            },
        ),
        RuleKind::PostConversation {
            days,
            consent_excludes,
            reason,
        } => frequency::post_conversation(
            ctx,
            t,
            sink,
            id,
            i32::from(*days),
            *consent_excludes,
            *reason,
        ),
        RuleKind::RepeatGap {
            after,
            minutes,
            waived_by_live_agent,
            reason,
        } => frequency::repeat_gap(
            ctx,
            t,
            sink,
            id,
            |en| after.contains(&en.e.outcome),
            *minutes,
            *waived_by_live_agent,
            *reason,
            Clears::InTime,
        ),
        RuleKind::LocationRepeat { reason } => status::location_repeat(ctx, t, sink, id, *reason),
        RuleKind::TcpaWirelessConsent { reason } => {
            status::tcpa_wireless(ctx, t, sink, id, *reason)
        }
        RuleKind::TcpaRevocation { reason } => status::tcpa_revoked(ctx, t, sink, id, *reason),
        RuleKind::TcpaReassigned { reason } => status::tcpa_reassigned(ctx, t, sink, id, *reason),
        RuleKind::TcpaResidentialPrerecorded {
            limit,
            window_days,
            reason,
        } => frequency::residential_prerecorded(
            ctx,
            t,
            sink,
            id,
            *limit,
            i32::from(*window_days),
            *reason,
        ),
    }
}

/// The campaign's pattern policy (US-REGF-12), which is not law and so not a pack: a
/// breach defers the call (or only warns, per policy).
pub fn pattern_policy(ctx: &Ctx<'_>, t: Timestamp, sink: &mut Sink) {
    let policy = ctx.policy;
    let warn_only = policy.pattern_action == PatternAction::Warn;
    let mut local = Sink {
        explain: sink.explain,
        ..Sink::default()
    };
    if let Some(minutes) = policy.min_gap_same_number_minutes {
        frequency::repeat_gap(
            ctx,
            t,
            &mut local,
            "US-REGF-12",
            |en| en.regf,
            minutes,
            false,
            ReasonCode::PolicyPacing,
            Clears::InTimePolicy,
        );
    }
    let caps = [
        (
            policy.max_calls_per_day_per_person,
            1,
            crate::packs::Counts::Regf,
        ),
        (
            policy.max_voicemails_per_week,
            7,
            crate::packs::Counts::Messages,
        ),
    ];
    for (limit, window_days, counts) in caps {
        if let Some(limit) = limit {
            frequency::frequency(
                ctx,
                t,
                &mut local,
                &frequency::Cap {
                    id: "US-REGF-12",
                    limit,
                    window_days,
                    scope: crate::packs::Scope::Person,
                    counts,
                    numbers: crate::packs::Numbers::All,
                    channels: crate::packs::Channels::Calls,
                    consent_excludes: false,
                    after_first_conversation: false,
                    reason: ReasonCode::PolicyPacing,
                    clears: Clears::InTimePolicy,
                },
            );
        }
    }
    if warn_only {
        for h in local.hits {
            sink.warn(h.rule, ReasonCode::WarnRegfPattern, || h.detail);
        }
    } else {
        sink.hits.extend(local.hits);
    }
}

/// `HH:MM Zone` of an instant, for details.
fn local_time(clock: &ZoneClock, name: &str, t: Timestamp) -> String {
    let (_, sod) = clock.local(t);
    format!("{:02}:{:02} {name}", sod / 3600, sod / 60 % 60)
}

/// Local midnight starting `day`.
fn day_start(clock: &ZoneClock, day: DayNumber) -> Timestamp {
    clock.instant(day, ClockTime::MIDNIGHT)
}

fn date_str(day: DayNumber) -> String {
    date_of(day).to_string()
}
