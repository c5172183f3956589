//! The evaluation context: the request with everything the rules ask repeatedly worked out
//! once (the dialed phone, the particular-debt keys, each history entry's classes and its
//! local date in every candidate zone, the consent periods).

use jiff::Timestamp;

use crate::clock::DayNumber;
use crate::error::InputError;
use crate::model::{
    CallRequest, Channel, Direction, HistoryEntry, HoldKind, Outcome, Party, Phone, PhoneKind,
};
use crate::policy::Policy;
use crate::zones::Candidate;

/// Bit set over the proposed call's particular-debt keys (at most 32).
pub type KeyMask = u32;

/// A history entry classified once.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub e: &'a HistoryEntry,
    /// Counted against these keys of the proposed call (US-REGF-10 attribution).
    pub keys: KeyMask,
    /// A conversation about these keys (US-REGF-09).
    pub conversation: KeyMask,
    /// Outbound, to the consumer, to a number that is theirs.
    pub placed: bool,
    pub regf: bool,
    pub reached: bool,
    pub message: bool,
    pub call: bool,
    pub personal_number: bool,
    pub work_number: bool,
    pub other_number: bool,
    pub same_number: bool,
    /// Not counted for these keys: placed under the consumer's prior consent.
    pub consented: KeyMask,
    /// Local date in the first candidate zone (the common single-zone case needs no
    /// further allocation).
    day0: DayNumber,
}

/// A direct prior consent to more calls about one key (US-REGF-10), resolved to when it
/// ends: after its days, at revocation, or with the next conversation about the debt.
#[derive(Debug, Clone)]
pub struct Consent {
    pub key: usize,
    pub given_at: Timestamp,
    pub days: i32,
    /// Last instant (inclusive) the consent covers regardless of dates.
    pub ends: Timestamp,
}

pub struct Ctx<'a> {
    pub req: &'a CallRequest,
    pub policy: &'a Policy,
    pub zones: &'a [Candidate],
    pub dial_phone: Option<&'a Phone>,
    pub dial_kind: PhoneKind,
    /// The proposed call's particular-debt keys (student loans grouped, US-REGF-11).
    pub keys: Vec<&'a str>,
    pub entries: Vec<Entry<'a>>,
    /// `days[i * (zones.len() - 1) + z - 1]`: local date of entry `i` in zone `z > 0`.
    days: Vec<DayNumber>,
    pub consents: Vec<Consent>,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("keys", &self.keys)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Ctx<'a> {
    pub fn new(
        req: &'a CallRequest,
        policy: &'a Policy,
        zones: &'a [Candidate],
    ) -> Result<Ctx<'a>, InputError> {
        if req.dial.debt_id.is_empty() {
            return Err(InputError::field("dial.debt_id", "must not be empty"));
        }
        let mut keys: Vec<&str> = Vec::with_capacity(1 + req.dial.debt_ids.len());
        for d in req.dial.all_debt_ids() {
            let k = key_of(req, d);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if keys.len() > 32 {
            return Err(InputError::field(
                "dial.debt_ids",
                "at most 32 debts per call",
            ));
        }
        let all: KeyMask = if keys.len() == 32 {
            u32::MAX
        } else {
            (1 << keys.len()) - 1
        };
        // Without student-loan groups a debt is its own key: skip the debt lookup.
        let grouped = req.debts.iter().any(|d| d.student_loan_group.is_some());
        let mask_of = |debt: &str| -> KeyMask {
            let k = if grouped { key_of(req, debt) } else { debt };
            keys.iter().position(|&x| x == k).map_or(0, |i| 1 << i)
        };

        let dial_phone = req
            .consumer
            .phones
            .iter()
            .find(|p| p.number == req.dial.number);
        let dial_kind = dial_phone.map_or(PhoneKind::Unknown, |p| p.kind);
        let wrong = |number: Option<&str>| {
            number.is_some_and(|n| {
                req.consumer
                    .holds
                    .iter()
                    .any(|h| h.kind == HoldKind::WrongNumber && h.number.as_deref() == Some(n))
            })
        };

        let mut entries = Vec::with_capacity(req.history.len());
        for e in &req.history {
            let misdirected = e.outcome == Outcome::WrongParty || wrong(e.number.as_deref());
            let placed =
                e.direction == Direction::Outbound && e.party == Party::Consumer && !misdirected;
            let attributed = if e.debt_ids.is_empty() {
                all
            } else if e.outcome.names_debts() {
                e.debt_ids.iter().fold(0, |m, d| m | mask_of(d))
            } else {
                mask_of(&e.debt_ids[0])
            };
            let conversation = if e.outcome == Outcome::Conversation
                && e.channel == Channel::Call
                && e.party == Party::Consumer
            {
                if e.debt_ids.is_empty() {
                    all
                } else {
                    e.debt_ids.iter().fold(0, |m, d| m | mask_of(d))
                }
            } else {
                0
            };
            // Most entries are calls to the dialed number: one comparison settles them.
            let same_number = e.number.as_deref() == Some(req.dial.number.as_str());
            let kind = if same_number && dial_phone.is_some() {
                Some(dial_kind)
            } else {
                e.number
                    .as_deref()
                    .and_then(|n| req.consumer.phones.iter().find(|p| p.number == n))
                    .map(|p| p.kind)
            };
            entries.push(Entry {
                e,
                keys: attributed,
                conversation,
                placed,
                // Channel is filtered per rule: Reg F counts calls, MA counts texts too.
                regf: placed && e.outcome.counts_for_regf(),
                reached: placed && e.outcome.reached(),
                message: placed && matches!(e.outcome, Outcome::Voicemail | Outcome::Lcm),
                call: e.channel == Channel::Call,
                // A number not on file could be any kind: it counts as each.
                personal_number: kind.is_none_or(PhoneKind::is_personal),
                work_number: kind.is_none_or(|k| k == PhoneKind::Work),
                other_number: kind.is_none_or(|k| !k.is_personal()),
                same_number,
                consented: 0,
                day0: zones.first().map_or(0, |z| z.clock.day(e.at)),
            });
        }

        // Dates in the other zones, only when there are other zones.
        let extra = zones.len().saturating_sub(1);
        let mut days = Vec::with_capacity(entries.len() * extra);
        for en in &entries {
            for z in zones.iter().skip(1) {
                days.push(z.clock.day(en.e.at));
            }
        }

        let mut ctx = Ctx {
            req,
            policy,
            zones,
            dial_phone,
            dial_kind,
            keys,
            entries,
            days,
            consents: Vec::new(),
        };
        ctx.resolve_consents();
        Ok(ctx)
    }

    /// Local date of entry `i` in zone `z`.
    pub fn day(&self, i: usize, z: usize) -> DayNumber {
        if z == 0 {
            self.entries[i].day0
        } else {
            self.days[i * (self.zones.len() - 1) + z - 1]
        }
    }

    pub fn all_keys(&self) -> KeyMask {
        if self.keys.len() == 32 {
            u32::MAX
        } else {
            (1 << self.keys.len()) - 1
        }
    }

    fn resolve_consents(&mut self) {
        let req = self.req;
        for c in &req.consumer.call_consents {
            let Some(key) = self.keys.iter().position(|&k| k == key_of(req, &c.debt_id)) else {
                continue;
            };
            let bit = 1 << key;
            // The next conversation about the debt after consent was given ends it; the
            // call that carried that conversation is still covered.
            let next_conv = self
                .entries
                .iter()
                .filter(|en| en.conversation & bit != 0 && en.e.at > c.given_at)
                .map(|en| en.e.at)
                .min();
            let mut ends = next_conv.unwrap_or(Timestamp::MAX);
            if let Some(r) = c.revoked_at {
                ends = ends.min(r);
            }
            self.consents.push(Consent {
                key,
                given_at: c.given_at,
                days: i32::from(c.days.unwrap_or(7).clamp(1, 7)),
                ends,
            });
        }
        if self.consents.is_empty() {
            return;
        }
        for i in 0..self.entries.len() {
            let at = self.entries[i].e.at;
            let mut excluded = 0;
            for c in &self.consents {
                let covered = (0..self.zones.len()).all(|z| {
                    let given = self.zones[z].clock.day(c.given_at);
                    self.consent_covers(c, at, self.day(i, z), given)
                });
                if covered {
                    excluded |= 1 << c.key;
                }
            }
            self.entries[i].consented = excluded;
        }
    }

    fn consent_covers(&self, c: &Consent, at: Timestamp, day: DayNumber, given: DayNumber) -> bool {
        at >= c.given_at && at <= c.ends && day < given + c.days
    }

    /// Keys for which a call at `t` falls under a prior consent in every zone.
    pub fn consented_at(&self, t: Timestamp) -> KeyMask {
        let mut mask = 0;
        for c in &self.consents {
            // A call after the consent-ending conversation is no longer covered.
            if t >= c.ends {
                continue;
            }
            let covered = self
                .zones
                .iter()
                .all(|z| self.consent_covers(c, t, z.clock.day(t), z.clock.day(c.given_at)));
            if covered {
                mask |= 1 << c.key;
            }
        }
        mask
    }
}

/// The particular-debt key of a debt: its student-loan group when it has one (US-REGF-11).
fn key_of<'r>(req: &'r CallRequest, debt: &'r str) -> &'r str {
    req.debts
        .iter()
        .find(|d| d.id == debt)
        .and_then(|d| d.student_loan_group.as_deref())
        .unwrap_or(debt)
}
