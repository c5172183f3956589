//! Time-of-day rules: calling windows in every candidate zone (US-REGF-01, state and
//! provincial windows), public holidays, consumer-stated inconvenient times and places
//! (US-REGF-02), and the consent windows that lift them (US-REGF-03).

use jiff::Timestamp;

use super::{Sink, day_start, local_time};
use crate::clock::{ClockTime, DayNumber, ZoneClock, date_of, weekday};
use crate::history::Ctx;
use crate::holidays::is_holiday;
use crate::model::{Blackout, Day, PhoneKind, Place};
use crate::packs::HolidayCalendar;
use crate::reason::{Clears, ReasonCode};

/// A calling-window rule instance.
pub struct Window<'r> {
    pub id: &'static str,
    pub days: &'r [Day],
    pub from: ClockTime,
    pub to: ClockTime,
    pub reason: ReasonCode,
    pub multizone_reason: Option<ReasonCode>,
    pub consent_overrides: bool,
    pub margin_warning: bool,
}

fn on_day(days: &[Day], day: DayNumber) -> bool {
    days.is_empty() || days.iter().any(|d| d.index() == weekday(day))
}

/// A valid US-REGF-03 consent window covers `t` for the dialed number.
pub(super) fn consent_window_at(ctx: &Ctx<'_>, t: Timestamp) -> bool {
    ctx.req.consumer.consent_windows.iter().any(|w| {
        w.is_valid()
            && w.from <= t
            && t < w.to
            && w.number.as_deref().is_none_or(|n| n == ctx.req.dial.number)
    })
}

/// The next consent window for the dialed number that opens after `t`.
fn next_consent_window(ctx: &Ctx<'_>, t: Timestamp) -> Option<Timestamp> {
    ctx.req
        .consumer
        .consent_windows
        .iter()
        .filter(|w| {
            w.is_valid()
                && w.from > t
                && w.number.as_deref().is_none_or(|n| n == ctx.req.dial.number)
        })
        .map(|w| w.from)
        .min()
}

/// Reports a failure unless a consent window lifts it; the window may also open sooner.
fn consented(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    overrides: bool,
) -> bool {
    if overrides && consent_window_at(ctx, t) {
        sink.note(id, ReasonCode::AllowConsentWindow, || {
            "the consumer's own consent window covers this call (US-REGF-03)".to_string()
        });
        return true;
    }
    false
}

fn earliest(next: Option<Timestamp>, consent: Option<Timestamp>) -> Option<Timestamp> {
    match (next, consent) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// First instant from local `(day, sod)` on at which the window is open in this zone.
fn window_opens(
    w: &Window<'_>,
    clock: &ZoneClock,
    t: Timestamp,
    day: DayNumber,
    sod: i64,
) -> Option<Timestamp> {
    for k in 0..=8 {
        let d = day + k;
        if !on_day(w.days, d) {
            return Some(if k == 0 { t } else { day_start(clock, d) });
        }
        if w.from < w.to {
            if k > 0 {
                return Some(clock.instant(d, w.from));
            }
            if sod < w.from.seconds() {
                return Some(clock.instant(d, w.from));
            }
        }
    }
    None
}

pub fn calling_window(ctx: &Ctx<'_>, t: Timestamp, sink: &mut Sink, w: Window<'_>) {
    let mut closed = 0usize;
    let mut next = Some(t);
    let mut late: Option<usize> = None;
    let margin = i64::from(ctx.policy.last_dial_margin_minutes) * 60;
    for (zi, z) in ctx.zones.iter().enumerate() {
        let (day, sod) = z.clock.local(t);
        if !on_day(w.days, day) {
            continue;
        }
        if w.from.seconds() <= sod && sod < w.to.seconds() {
            if w.margin_warning && margin > 0 && sod + margin > w.to.seconds() {
                late = Some(zi);
            }
            continue;
        }
        closed += 1;
        next = match (next, window_opens(&w, &z.clock, t, day, sod)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    if closed == 0 {
        if let Some(zi) = late {
            let z = &ctx.zones[zi];
            sink.warn(w.id, ReasonCode::WarnLastDialMargin, || {
                format!(
                    "{} is within {} min of the {} window end",
                    local_time(&z.clock, &z.name, t),
                    margin / 60,
                    w.to
                )
            });
        }
        return;
    }
    if consented(ctx, t, sink, w.id, w.consent_overrides) {
        return;
    }
    let next = if w.consent_overrides {
        earliest(next, next_consent_window(ctx, t))
    } else {
        next
    };
    let all_closed = closed == ctx.zones.len();
    let code = match w.multizone_reason {
        Some(multi) if !all_closed => multi,
        _ => w.reason,
    };
    sink.hit(w.id, code, Clears::InTime, next, || {
        let closed_in: Vec<String> = ctx
            .zones
            .iter()
            .filter(|z| {
                let (day, sod) = z.clock.local(t);
                on_day(w.days, day) && !(w.from.seconds() <= sod && sod < w.to.seconds())
            })
            .map(|z| local_time(&z.clock, &z.name, t))
            .collect();
        format!(
            "outside {}-{} local in {} of {} zones: {}",
            w.from,
            w.to,
            closed,
            ctx.zones.len(),
            closed_in.join(", ")
        )
    });
}

pub fn holidays(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    calendar: HolidayCalendar,
    reason: ReasonCode,
) {
    let mut next = None::<Timestamp>;
    let mut hit: Option<(DayNumber, usize)> = None;
    for (zi, z) in ctx.zones.iter().enumerate() {
        let day = z.clock.day(t);
        if !is_holiday(calendar, date_of(day)) {
            continue;
        }
        hit = Some((day, zi));
        let after = (1..=10)
            .map(|k| day + k)
            .find(|&d| !is_holiday(calendar, date_of(d)))
            .map(|d| day_start(&z.clock, d));
        next = next.max(after);
    }
    if let Some((day, zi)) = hit {
        sink.hit(id, reason, Clears::InTime, next, || {
            format!(
                "{} is a public holiday in {}",
                date_of(day),
                ctx.zones[zi].name
            )
        });
    }
}

/// Whether a blackout covers local `(day, sod)`; returns when it ends.
fn blackout_end(b: &Blackout, clock: &ZoneClock, day: DayNumber, sod: i64) -> Option<Timestamp> {
    let from = b.from.unwrap_or(ClockTime::MIDNIGHT);
    let to = b.to.unwrap_or(ClockTime::END_OF_DAY);
    if from < to {
        (on_day(&b.days, day) && from.seconds() <= sod && sod < to.seconds())
            .then(|| clock.instant(day, to))
    } else if from > to {
        // Across midnight: the evening part belongs to `day`, the morning part to the day before.
        if sod >= from.seconds() && on_day(&b.days, day) {
            Some(clock.instant(day + 1, to))
        } else if sod < to.seconds() && on_day(&b.days, day - 1) {
            Some(clock.instant(day, to))
        } else {
            None
        }
    } else {
        on_day(&b.days, day).then(|| day_start(clock, day + 1))
    }
}

pub fn blackouts(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    time_reason: ReasonCode,
    place_reason: ReasonCode,
    consent_overrides: bool,
) {
    let dial = &ctx.req.dial;
    for b in &ctx.req.consumer.blackouts {
        // A blackout the consumer asked for "after" `t` applies as well (fail closed).
        if b.until.is_some_and(|u| t >= u) {
            continue;
        }
        if b.number.as_deref().is_some_and(|n| n != dial.number) {
            continue;
        }
        let place_ok = match b.place {
            None => true,
            Some(Place::Home) => ctx.dial_kind == PhoneKind::Landline,
            Some(Place::Work) => ctx.dial_kind == PhoneKind::Work,
        };
        if !place_ok {
            continue;
        }
        let mut end: Option<Timestamp> = None;
        let mut at_zone = None;
        for z in ctx.zones {
            let (day, sod) = z.clock.local(t);
            if let Some(e) = blackout_end(b, &z.clock, day, sod) {
                end = Some(end.map_or(e, |x| x.max(e)));
                at_zone.get_or_insert_with(|| local_time(&z.clock, &z.name, t));
            }
        }
        let Some(mut end) = end else { continue };
        if consented(ctx, t, sink, id, consent_overrides) {
            return;
        }
        if let Some(u) = b.until {
            end = end.min(u);
        }
        let next = if consent_overrides {
            earliest(Some(end), next_consent_window(ctx, t))
        } else {
            Some(end)
        };
        let scoped = b.number.is_some() || b.place.is_some();
        let code = if scoped { place_reason } else { time_reason };
        sink.hit(id, code, Clears::InTime, next, || {
            let range = match (b.from, b.to) {
                (Some(f), Some(to)) => format!("{f}-{to}"),
                _ => "all day".to_string(),
            };
            format!(
                "the consumer asked not to be called {range}{} (now {})",
                if scoped { " at this number/place" } else { "" },
                at_zone.unwrap_or_default()
            )
        });
    }
}
