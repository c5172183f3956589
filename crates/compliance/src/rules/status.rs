//! Status rules, which no amount of waiting clears: holds (US-REGF-05/06/07, policy holds),
//! the workplace prohibition (US-REGF-04), repeated location calls (US-REGF-14) and the
//! TCPA consent rules for automated calls (US-TCPA-04, -05, -07).
//!
//! Fail closed: a hold, a reached third party or a revocation recorded later than the
//! evaluation instant counts (it happened; the evaluating clock is behind).

use jiff::Timestamp;

use super::Sink;
use crate::history::Ctx;
use crate::model::{HoldKind, Party, PhoneKind, RndAnswer};
use crate::reason::{Clears, ReasonCode};
use crate::redact::redact_number;

pub fn hold(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    kind: HoldKind,
    reason: ReasonCode,
) {
    if ctx.req.consumer.holds.is_empty() {
        return;
    }
    let dial = &ctx.req.dial;
    let number_scoped = matches!(kind, HoldKind::NumberOptout | HoldKind::WrongNumber);
    // A hold protects the consumer; calls to their attorney are what an attorney hold
    // asks for, and number holds stop the number whoever is called.
    let applies_to_party = match dial.party {
        Party::Consumer => true,
        Party::Attorney | Party::ThirdParty => number_scoped,
    };
    if !applies_to_party {
        return;
    }
    let mut found = false;
    let mut until: Option<Timestamp> = Some(Timestamp::MIN);
    let mut scope = String::new();
    for h in ctx.req.consumer.holds.iter().filter(|h| h.kind == kind) {
        // In force until released. A `since` later than `t` is the receiving system's
        // clock ahead of ours (the hold was received: US-REGF-06 takes effect on receipt),
        // so it counts already: compliance fails closed on clocks that disagree.
        if h.until.is_some_and(|u| t >= u) {
            continue;
        }
        if h.number.as_deref().is_some_and(|n| n != dial.number) {
            continue;
        }
        if let Some(debt) = &h.debt_id {
            let key = ctx
                .req
                .debts
                .iter()
                .find(|d| &d.id == debt)
                .and_then(|d| d.student_loan_group.as_deref())
                .unwrap_or(debt);
            let about_call = dial.all_debt_ids().any(|d| d == debt) || ctx.keys.contains(&key);
            if !about_call {
                continue;
            }
        }
        found = true;
        until = until.zip(h.until).map(|(a, b)| a.max(b));
        if sink.explain && scope.is_empty() {
            scope = match (&h.debt_id, &h.number) {
                (Some(d), _) => format!("debt {d}"),
                (None, Some(n)) => format!("number {}", redact_number(n)),
                (None, None) => "every debt".to_string(),
            };
        }
    }
    if !found {
        return;
    }
    let clears = if until.is_some() {
        Clears::InTime
    } else {
        Clears::Never
    };
    sink.hit(id, reason, clears, until, || {
        format!(
            "{} hold in effect for {scope}",
            format!("{kind:?}").to_lowercase()
        )
    });
}

pub fn workplace(
    ctx: &Ctx<'_>,
    t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    reason: ReasonCode,
    consent_overrides: bool,
) {
    let prohibited =
        ctx.dial_kind == PhoneKind::Work && ctx.dial_phone.is_some_and(|p| p.employer_prohibits);
    if !prohibited {
        return;
    }
    let consent = consent_overrides && super::window::consent_window_at(ctx, t);
    if consent {
        sink.note(id, ReasonCode::AllowConsentWindow, || {
            "the consumer's own consent window covers this call (US-REGF-03)".to_string()
        });
        return;
    }
    sink.hit(id, reason, Clears::Never, None, || {
        "work number and the employer prohibits such calls".to_string()
    });
}

pub fn location_repeat(
    ctx: &Ctx<'_>,
    _t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    reason: ReasonCode,
) {
    let dial = &ctx.req.dial;
    let Some(who) = dial
        .third_party_id
        .as_deref()
        .filter(|_| dial.party == Party::ThirdParty)
    else {
        return;
    };
    let before = ctx.entries.iter().any(|en| {
        en.e.party == Party::ThirdParty
            && en.e.third_party_id.as_deref() == Some(who)
            && en.e.outcome.reached()
    });
    if before {
        sink.hit(id, reason, Clears::Never, None, || {
            "this third party was already contacted for location information".to_string()
        });
    }
}

pub fn tcpa_wireless(
    ctx: &Ctx<'_>,
    _t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    reason: ReasonCode,
) {
    if !ctx.req.mode.is_automated()
        || !matches!(ctx.dial_kind, PhoneKind::Mobile | PhoneKind::Unknown)
    {
        return;
    }
    if ctx.dial_kind == PhoneKind::Unknown {
        sink.warn(id, ReasonCode::WarnUnknownLineType, || {
            "line type unknown: treated as wireless".to_string()
        });
    }
    if ctx.dial_phone.is_some_and(|p| p.consent_automated) {
        return;
    }
    sink.hit(id, reason, Clears::Never, None, || {
        format!(
            "{:?} mode to a possibly wireless number without prior express consent; manual dialing remains possible",
            ctx.req.mode
        )
        .to_lowercase()
    });
}

pub fn tcpa_revoked(
    ctx: &Ctx<'_>,
    _t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    reason: ReasonCode,
) {
    if !ctx.req.mode.is_automated() {
        return;
    }
    let Some(revoked) = ctx.dial_phone.and_then(|p| p.consent_revoked_at) else {
        return;
    };
    // Applied on ingest, whatever its timestamp says (US-TCPA-05).
    sink.hit(id, reason, Clears::Never, None, || {
        format!("consent for automated calls revoked at {revoked}; manual dialing remains possible")
    });
}

pub fn tcpa_reassigned(
    ctx: &Ctx<'_>,
    _t: Timestamp,
    sink: &mut Sink,
    id: &'static str,
    reason: ReasonCode,
) {
    match ctx.dial_phone.and_then(|p| p.rnd) {
        Some(RndAnswer::Yes) => sink.hit(id, reason, Clears::Never, None, || {
            "Reassigned Numbers Database: disconnected since consent".to_string()
        }),
        Some(RndAnswer::NoData) => {
            sink.warn(id, ReasonCode::WarnRndNoData, || {
                "Reassigned Numbers Database has no data for this number".to_string()
            });
            if ctx.req.mode.is_automated() {
                sink.hit(id, reason, Clears::Never, None, || {
                    "no RND data: treated as disconnected for automated modes".to_string()
                });
            }
        }
        Some(RndAnswer::No) | None => {}
    }
}
