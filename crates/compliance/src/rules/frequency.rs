//! Counting rules: caps over consecutive local dates (Reg F 7-in-7 US-REGF-08, MA, WA, NYC,
//! Ontario, the pattern policy), the post-conversation quiet period (US-REGF-09), minimum
//! gaps on one number (UK-OFCOM-01, US-REGF-12) and the TCPA residential prerecorded cap.
//!
//! Dates are the consumer's local dates in each candidate zone; with several zones the
//! strictest answer wins (rules.md section 10, question 1).
//!
//! Fail closed: an entry later than the evaluation instant still counts (it happened; the
//! clock evaluating is behind, e.g. after a restart). Its window is measured from its own
//! date, so it counts from now until its own window ends.

use jiff::{SignedDuration, Timestamp};

use super::{Sink, date_str, day_start};
use crate::clock::DayNumber;
use crate::history::{Ctx, Entry};
use crate::model::{DialMode, Outcome, Party};
use crate::packs::{Channels, Counts, Numbers, Scope};
use crate::reason::{Clears, ReasonCode};

/// A frequency cap instance.
#[derive(Debug, Clone)]
pub struct Cap {
    pub id: &'static str,
    pub limit: u32,
    pub window_days: i32,
    pub scope: Scope,
    pub counts: Counts,
    pub numbers: Numbers,
    pub channels: Channels,
    pub consent_excludes: bool,
    pub after_first_conversation: bool,
    pub reason: ReasonCode,
    pub clears: Clears,
}

/// Counted entries' days, at most this many without allocating.
type Days = Vec<DayNumber>;

/// Entries dated `day - window + 1` or later (later than `day` too: fail closed) number
/// `limit` or more: returns the first later day on which they no longer do (entries only
/// ever leave the window as days pass, each `window` days after its own date).
fn cap_clears(
    days: &[DayNumber],
    day: DayNumber,
    window: i32,
    limit: u32,
) -> Option<Option<DayNumber>> {
    let count = |d: DayNumber| days.iter().filter(|&&x| x > d - window).count() as u32;
    if count(day) < limit {
        return None;
    }
    let last = days.iter().copied().fold(day, DayNumber::max);
    Some((day + 1..=last + window).find(|&d| count(d) < limit))
}

fn numbers_match(numbers: Numbers, en: &Entry<'_>) -> bool {
    match numbers {
        Numbers::All => true,
        Numbers::Personal => en.personal_number,
        Numbers::Other => en.other_number,
        Numbers::Work => en.work_number,
    }
}

/// US-REGF-08/10: whether an entry counts for the cap; at any date, also one later than the
/// evaluation instant (fail closed).
fn counted(cap: &Cap, en: &Entry<'_>) -> bool {
    let class = match cap.counts {
        Counts::Regf => en.regf,
        Counts::Reached => en.reached,
        Counts::Attempts => en.placed,
        Counts::Messages => en.message,
    };
    class && (cap.channels == Channels::All || en.call) && numbers_match(cap.numbers, en)
}

pub fn frequency(ctx: &Ctx<'_>, t: Timestamp, sink: &mut Sink, cap: &Cap) {
    if ctx.req.dial.party != Party::Consumer {
        return;
    }
    let dial_personal = ctx.dial_kind.is_personal();
    let applies = match cap.numbers {
        Numbers::All => true,
        Numbers::Personal => dial_personal,
        Numbers::Other => !dial_personal,
        Numbers::Work => ctx.dial_kind == crate::model::PhoneKind::Work,
    };
    if !applies {
        return;
    }
    if cap.after_first_conversation
        && !ctx
            .entries
            .iter()
            .any(|en| en.e.outcome == Outcome::Conversation)
    {
        return;
    }
    let consented_now = if cap.consent_excludes {
        ctx.consented_at(t)
    } else {
        0
    };
    // Per debt: one pass per key of the proposed call; per person: one pass.
    let passes = match cap.scope {
        Scope::Debt => ctx.keys.len(),
        Scope::Person => 1,
    };
    for pass in 0..passes {
        let key = (cap.scope == Scope::Debt).then_some(pass);
        let bit = key.map_or(0, |k| 1u32 << k);
        let include = |en: &Entry<'_>| {
            counted(cap, en)
                && (key.is_none()
                    || (en.keys & bit != 0 && !(cap.consent_excludes && en.consented & bit != 0)))
        };
        let mut next: Option<Option<Timestamp>> = None;
        let mut worst: Option<(usize, DayNumber, usize)> = None;
        for (zi, z) in ctx.zones.iter().enumerate() {
            let today = z.clock.day(t);
            // Dated today or later (fail closed), or within the window before today.
            let in_window = |d: DayNumber| d > today - cap.window_days;
            // The common case, under the cap, allocates nothing.
            let n = (0..ctx.entries.len())
                .filter(|&i| include(&ctx.entries[i]) && in_window(ctx.day(i, zi)))
                .count();
            if (n as u32) < cap.limit {
                continue;
            }
            let days: Days = (0..ctx.entries.len())
                .filter(|&i| include(&ctx.entries[i]))
                .map(|i| ctx.day(i, zi))
                .collect();
            let clear_day = cap_clears(&days, today, cap.window_days, cap.limit).flatten();
            let at = clear_day.map(|d| day_start(&z.clock, d));
            next = Some(match next {
                None => at,
                Some(prev) => prev.zip(at).map(|(a, b)| a.max(b)),
            });
            worst.get_or_insert((zi, today, n));
        }
        let Some(next) = next else { continue };
        if bit & consented_now != 0 {
            sink.note(cap.id, ReasonCode::AllowPriorConsentExclusion, || {
                "placed under the consumer's direct prior consent: not counted (1006.14(b)(3)(i))"
                    .to_string()
            });
            continue;
        }
        sink.hit(cap.id, cap.reason, cap.clears, next, || {
            let (zi, today, n) = worst.unwrap_or((0, 0, 0));
            let about = key.map_or("the person".to_string(), |k| {
                format!("debt {}", ctx.keys[k])
            });
            format!(
                "{n} counted contacts about {about} on {}..{} in {} (limit {} in {} days)",
                date_str(today - cap.window_days + 1),
                date_str(today),
                ctx.zones[zi].name,
                cap.limit,
                cap.window_days
            )
        });
    }
}

pub fn post_conversation(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    days: i32,
    consent_excludes: bool,
    reason: ReasonCode,
) {
    if ctx.req.dial.party != Party::Consumer {
        return;
    }
    let consented_now = if consent_excludes {
        ctx.consented_at(t)
    } else {
        0
    };
    for k in 0..ctx.keys.len() {
        let bit = 1u32 << k;
        let mut next: Option<Timestamp> = None;
        let mut conv_day: Option<(usize, DayNumber)> = None;
        for (zi, z) in ctx.zones.iter().enumerate() {
            let today = z.clock.day(t);
            let last = ctx
                .entries
                .iter()
                .enumerate()
                // US-REGF-09: a conversation later than `t` starts its quiet period too.
                .filter(|(_, en)| en.conversation & bit != 0)
                .map(|(i, _)| ctx.day(i, zi))
                .filter(|&c| today < c + days)
                .max();
            if let Some(c) = last {
                let at = day_start(&z.clock, c + days);
                next = Some(next.map_or(at, |n| n.max(at)));
                conv_day.get_or_insert((zi, c));
            }
        }
        let Some(next) = next else { continue };
        if bit & consented_now != 0 {
            sink.note(id, ReasonCode::AllowPriorConsentExclusion, || {
                "placed under the consumer's direct prior consent: not counted (1006.14(b)(3)(i))"
                    .to_string()
            });
            continue;
        }
        sink.hit(id, reason, Clears::InTime, Some(next), || {
            let (zi, c) = conv_day.unwrap_or((0, 0));
            format!(
                "conversation about debt {} on {} ({}); quiet for {days} days",
                ctx.keys[k],
                date_str(c),
                ctx.zones[zi].name
            )
        });
    }
}

fn plus_minutes(t: Timestamp, minutes: u32) -> Timestamp {
    t.checked_add(SignedDuration::from_mins(i64::from(minutes)))
        .unwrap_or(Timestamp::MAX)
}

#[allow(clippy::too_many_arguments)]
pub fn repeat_gap(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    after: impl Fn(&Entry<'_>) -> bool,
    minutes: u32,
    waived_by_live_agent: bool,
    reason: ReasonCode,
    clears: Clears,
) {
    if waived_by_live_agent && (!ctx.req.mode.is_automated() || ctx.req.dial.agent_reserved) {
        return;
    }
    // Plain seconds: this runs over every history entry on every evaluation.
    let gap = i64::from(minutes) * 60;
    let now = t.as_second();
    let last = ctx
        .entries
        .iter()
        .filter(|en| en.same_number && en.placed && after(en))
        .map(|en| en.e.at)
        .filter(|at| now < at.as_second() + gap)
        .max();
    if let Some(at) = last {
        let next = plus_minutes(at, minutes);
        sink.hit(id, reason, clears, Some(next), || {
            format!("a call to this number at {at} needs a gap of {minutes} min")
        });
    }
}

pub fn residential_prerecorded(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    limit: u32,
    window_days: i32,
    reason: ReasonCode,
) {
    let consent = ctx.dial_phone.is_some_and(|p| p.consent_automated);
    if ctx.req.mode != DialMode::Prerecorded
        || ctx.dial_kind != crate::model::PhoneKind::Landline
        || consent
    {
        return;
    }
    let mut next: Option<Option<Timestamp>> = None;
    let mut days: Days = Vec::new();
    for (zi, z) in ctx.zones.iter().enumerate() {
        days.clear();
        for (i, en) in ctx.entries.iter().enumerate() {
            if en.same_number && en.placed && en.e.mode == Some(DialMode::Prerecorded) {
                days.push(ctx.day(i, zi));
            }
        }
        if let Some(clear) = cap_clears(&days, z.clock.day(t), window_days, limit) {
            let at = clear.map(|d| day_start(&z.clock, d));
            next = Some(match next {
                None => at,
                Some(prev) => prev.zip(at).map(|(a, b)| a.max(b)),
            });
        }
    }
    if let Some(next) = next {
        sink.hit(id, reason, Clears::InTime, next, || {
            format!("{limit} prerecorded calls without consent to this residential line in {window_days} days")
        });
    }
}
