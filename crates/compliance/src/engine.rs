//! The decision procedure: locate the consumer, select the rule packs that apply there and
//! then, run every rule (no early exit), combine the verdict, and search the earliest instant
//! at which every time- and count-based reason clears.

use jiff::{SignedDuration, Timestamp};

use crate::clock::DayNumber;
use crate::decision::{Decision, Finding, Verdict, ZoneEvaluated};
use crate::error::InputError;
use crate::geo::geo;
use crate::history::Ctx;
use crate::model::{CallRequest, Party};
use crate::packs::{Jurisdiction, PackSet, Rule, RuleKind, RuleSet};
use crate::policy::Policy;
use crate::reason::{Clears, ReasonCode};
use crate::rules::{self, Sink};
use crate::zones::{Region, locate};

/// Upper bound on search steps for `next_eligible`; each step moves at least to the next
/// window edge or day, so this is never reached within a sane horizon.
const MAX_STEPS: usize = 4096;

/// The engine: a rule set. Cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: &'static RuleSet,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::builtin()
    }
}

fn matches(j: &Jurisdiction, regions: &[Region]) -> bool {
    j.country == "*"
        || regions.iter().any(|r| {
            j.country.as_bytes().eq_ignore_ascii_case(&r.country)
                && j.state.as_deref().is_none_or(|s| {
                    r.state
                        .is_some_and(|rs| s.as_bytes().eq_ignore_ascii_case(&rs))
                })
                && (!j.nyc || r.nyc)
        })
}

/// Rules that need a zone to mean anything (local dates or times of day).
fn needs_zone(rule: &Rule) -> bool {
    !matches!(
        rule.kind,
        RuleKind::Hold { .. }
            | RuleKind::Workplace { .. }
            | RuleKind::LocationRepeat { .. }
            | RuleKind::TcpaWirelessConsent { .. }
            | RuleKind::TcpaRevocation { .. }
            | RuleKind::TcpaReassigned { .. }
    )
}

impl Engine {
    /// The rule set shipped with this build.
    pub fn builtin() -> Engine {
        Engine {
            rules: RuleSet::builtin(),
        }
    }

    /// An engine over a tenant's own rule set (kept for the life of the process).
    pub fn with_rules(rules: RuleSet) -> Engine {
        Engine {
            rules: Box::leak(Box::new(rules)),
        }
    }

    pub fn ruleset(&self) -> &RuleSet {
        self.rules
    }

    /// Decides one proposed call. Errors only for input that cannot be evaluated.
    pub fn evaluate(&self, req: &CallRequest, policy: &Policy) -> Result<Decision, InputError> {
        policy
            .validate()
            .map_err(|e| InputError::field("policy", e.to_string()))?;
        let location = locate(geo(), req, policy.unknown_location)?;
        let ctx = Ctx::new(req, policy, &location.zones)?;

        let today = req.at.as_second().div_euclid(86_400) as DayNumber;
        let mut mask = 0u64;
        for (i, pack) in self.rules.packs.iter().enumerate() {
            if policy.pack_enabled(pack.id)
                && pack.effective.contains(today)
                && matches(&pack.jurisdiction, &location.places)
            {
                mask |= 1 << i;
            }
        }
        let packs = PackSet::new(self.rules, mask);
        let unknown = location.unknown;
        let active = || {
            packs
                .iter()
                .flat_map(|p| p.rules.iter())
                .filter(move |r| r.effective.contains(today) && (!unknown || !needs_zone(r)))
        };

        let mut sink = Sink::explaining();
        for rule in active() {
            rules::eval(rule, &ctx, req.at, &mut sink);
        }
        if !location.unknown {
            rules::pattern_policy(&ctx, req.at, &mut sink);
        }
        if location.unknown {
            sink.hits.push(rules::Hit {
                code: ReasonCode::RegfNoLocation,
                rule: ReasonCode::RegfNoLocation.rule_id(),
                clears: Clears::Never,
                next: None,
                detail:
                    "no phone prefix, address or confirmed zone gives a location; policy is deny"
                        .to_string(),
            });
        }
        if location.phones_only {
            sink.warnings.push(Finding {
                code: ReasonCode::WarnLowConfidenceZone,
                rule: "US-REGF-01",
                detail: "zones come from phone prefixes only (a rate centre, not a residence)"
                    .to_string(),
            });
        }

        let verdict = if sink.hits.iter().any(|h| h.clears != Clears::InTimePolicy) {
            Verdict::Deny
        } else if sink.hits.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Defer
        };
        let next_eligible =
            if verdict == Verdict::Allow || sink.hits.iter().any(|h| h.clears == Clears::Never) {
                None
            } else {
                next_eligible(active, &ctx, req.at, policy)
            };

        let mut reasons: Vec<Finding> = Vec::with_capacity(sink.hits.len());
        sink.hits.sort_by_key(|h| h.code);
        for h in sink.hits {
            if !reasons.iter().any(|r| r.code == h.code && r.rule == h.rule) {
                reasons.push(Finding {
                    code: h.code,
                    rule: h.rule,
                    detail: h.detail,
                });
            }
        }
        if verdict != Verdict::Allow {
            sink.notes.clear();
        }
        let consented = ctx.consented_at(req.at);
        Ok(Decision {
            verdict,
            reasons,
            warnings: sink.warnings,
            notes: sink.notes,
            next_eligible,
            zones: location
                .zones
                .iter()
                .map(|z| ZoneEvaluated {
                    zone: z.name.clone(),
                    sources: z.sources,
                    local_time: z.clock.datetime(req.at),
                })
                .collect(),
            counted: req.dial.party == Party::Consumer && consented != ctx.all_keys(),
            packs,
            ruleset_version: self.rules.version,
        })
    }
}

/// The earliest instant from `at` at which no time- or count-based rule fails, found as a
/// fixed point: jump to the latest "clears at" of the rules failing now, and check again.
fn next_eligible<'r, I: Iterator<Item = &'r Rule>>(
    active: impl Fn() -> I,
    ctx: &Ctx<'_>,
    at: Timestamp,
    policy: &Policy,
) -> Option<Timestamp> {
    let horizon = at
        .checked_add(SignedDuration::from_hours(
            24 * i64::from(policy.horizon_days),
        ))
        .unwrap_or(Timestamp::MAX);
    let mut t = at;
    for _ in 0..MAX_STEPS {
        let mut sink = Sink::default();
        for rule in active() {
            rules::eval(rule, ctx, t, &mut sink);
        }
        rules::pattern_policy(ctx, t, &mut sink);
        if sink.hits.is_empty() {
            return Some(t);
        }
        let mut next = t;
        for h in &sink.hits {
            match (h.clears, h.next) {
                (Clears::Never, _) | (_, None) => return None,
                (_, Some(n)) => next = next.max(n),
            }
        }
        if next <= t || next > horizon {
            return None;
        }
        t = next;
    }
    None
}
