//! The money events of the receivables ledger, exactly as the JSON Lines import names them
//! (issue 12): their types, their (de)serialisation and the checks one event can pass on its
//! own (amounts positive, dates valid, `due` not before `date`, installments in order).
//!
//! Checks that need the events before it (references to an earlier line of the same account,
//! one reversal per payment, the account's currency, id idempotence) live in
//! [`crate::book`]. Deserialisation goes through a `serde_json::Value` and a hand-written
//! reader, so that every refusal names the field (`amount_minor must be positive`) rather
//! than a serde position.

use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest amount of one event, in minor units (10^15: ten trillion dollars). Bounding the
/// inputs keeps every sum of an account's amounts far from `i64` overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// Largest grace period, in days (ten years).
pub const MAX_GRACE_DAYS: u32 = 3650;

/// One money event of one account. Nothing is updated in place: balances, allocations and
/// statuses are derived from the sequence of these (see [`crate::ledger`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Unique in the portfolio; importing the same id with the same content is a no-op.
    pub id: String,
    /// The account (one debt) the event belongs to.
    pub account: String,
    /// Posting date: events apply in order of it, then of arrival (rule 1).
    pub date: Date,
    /// What happened, with the fields of its type.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of money event, with their own fields (`type` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Money owed: principal (an opening balance), interest or a fee.
    Charge {
        amount_minor: i64,
        due: Date,
        category: Category,
        #[serde(skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
    },
    /// Money received, optionally aimed at one charge.
    Payment {
        amount_minor: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        applies_to: Option<String>,
    },
    /// A payment that bounced (NSF, chargeback): it counts as never made from this date on.
    Reversal {
        reverses: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An adjustment or credit memo: allocated like a payment, but not cash.
    Credit {
        amount_minor: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        applies_to: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Money paid back out of the credit balance.
    Refund {
        amount_minor: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Debt given up; without an amount, the whole open balance.
    WriteOff {
        #[serde(skip_serializing_if = "Option::is_none")]
        amount_minor: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        applies_to: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The consumer promised to pay an amount by a date.
    Promise {
        amount_minor: i64,
        due: Date,
        #[serde(skip_serializing_if = "Option::is_none")]
        grace_days: Option<u32>,
    },
    /// A payment plan: an installment schedule.
    Plan {
        installments: Vec<Installment>,
        #[serde(skip_serializing_if = "Option::is_none")]
        grace_days: Option<u32>,
    },
    /// An amount accepted by a date in full satisfaction of the account.
    Settlement {
        amount_minor: i64,
        due: Date,
        #[serde(skip_serializing_if = "Option::is_none")]
        grace_days: Option<u32>,
    },
    /// The consumer disputes the debt: a collection hold until resolved (FDCPA 809(b)).
    Dispute {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The end of a dispute.
    DisputeResolved {
        dispute: String,
        resolution: Resolution,
    },
}

/// One installment of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    pub due: Date,
    pub amount_minor: i64,
}

/// What a charge is for; the Reg F itemization reports interest and fees apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Principal,
    Interest,
    Fee,
}

/// How a dispute ended: the debt verified, or the dispute withdrawn by the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    Verified,
    Withdrawn,
}

/// The `type` names of the event kinds, for messages.
pub const TYPES: &str = "charge, payment, reversal, credit, refund, write_off, promise, plan, \
                         settlement, dispute, dispute_resolved";

impl EventKind {
    /// The `type` name in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Charge { .. } => "charge",
            EventKind::Payment { .. } => "payment",
            EventKind::Reversal { .. } => "reversal",
            EventKind::Credit { .. } => "credit",
            EventKind::Refund { .. } => "refund",
            EventKind::WriteOff { .. } => "write_off",
            EventKind::Promise { .. } => "promise",
            EventKind::Plan { .. } => "plan",
            EventKind::Settlement { .. } => "settlement",
            EventKind::Dispute { .. } => "dispute",
            EventKind::DisputeResolved { .. } => "dispute_resolved",
        }
    }

    /// The reference to an earlier event of the account, with its field name.
    pub fn reference(&self) -> Option<(&'static str, &str)> {
        match self {
            EventKind::Payment { applies_to, .. }
            | EventKind::Credit { applies_to, .. }
            | EventKind::WriteOff { applies_to, .. } => {
                applies_to.as_deref().map(|id| ("applies_to", id))
            }
            EventKind::Reversal { reverses, .. } => Some(("reverses", reverses.as_str())),
            EventKind::DisputeResolved { dispute, .. } => Some(("dispute", dispute.as_str())),
            _ => None,
        }
    }
}

/// Why an event is refused. Every message names the field, so that a file import can say
/// `line 3: amount_minor must be positive`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("{0} is missing")]
    Missing(String),
    #[error("{field} must be {expected}")]
    Invalid {
        field: String,
        expected: &'static str,
    },
    #[error("{0} must be positive")]
    NotPositive(String),
    #[error("{0} must be at most 10^15 minor units")]
    TooLarge(String),
    #[error("{0} is not a valid ISO date (YYYY-MM-DD)")]
    BadDate(String),
    #[error("{0} is before date")]
    DueBeforeDate(String),
    #[error("installments must be in increasing due order")]
    InstallmentOrder,
    #[error("{field} is not a field of a {kind} event")]
    UnknownField { field: String, kind: &'static str },
    #[error("type must be one of {TYPES}")]
    UnknownType,
    #[error("{field}: {id} is not an earlier event of account {account}")]
    UnknownReference {
        field: &'static str,
        id: String,
        account: String,
    },
    #[error("{field}: {id} is a {found}, not a {expected}")]
    WrongReference {
        field: &'static str,
        id: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{field}: {id} is dated after this event")]
    ReferenceLater { field: &'static str, id: String },
    #[error("reverses: payment {0} is already reversed")]
    AlreadyReversed(String),
    #[error("dispute: dispute {0} is already resolved")]
    AlreadyResolved(String),
    #[error("currency: {found} differs from the account's {account}")]
    CurrencyMismatch { found: String, account: String },
    #[error("id: {0} was imported before with different content")]
    Conflict(String),
}

fn invalid(field: &str, expected: &'static str) -> EventError {
    EventError::Invalid {
        field: field.to_owned(),
        expected,
    }
}

/// Parses a strict ISO calendar date, `YYYY-MM-DD` and nothing else (no time, no offset).
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i32> {
        let part = b.get(range)?;
        part.iter().try_fold(0i32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0'))
        })
    };
    let year = i16::try_from(digits(0..4)?).ok()?;
    let month = i8::try_from(digits(5..7)?).ok()?;
    let day = i8::try_from(digits(8..10)?).ok()?;
    Date::new(year, month, day).ok()
}

/// Reads the fields of one JSON object, refusing the ones its type does not have.
struct Reader<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Reader<'a> {
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn string(&self, field: &str) -> Result<String, EventError> {
        self.opt_string(field)?
            .ok_or_else(|| EventError::Missing(field.to_owned()))
    }

    fn opt_string(&self, field: &str) -> Result<Option<String>, EventError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Err(invalid(field, "a non-empty string")),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(field, "a string")),
        }
    }

    fn date(&self, field: &str) -> Result<Date, EventError> {
        date_value(field, self.get(field))
    }

    fn amount(&self, field: &str) -> Result<i64, EventError> {
        self.opt_amount(field)?
            .ok_or_else(|| EventError::Missing(field.to_owned()))
    }

    fn opt_amount(&self, field: &str) -> Result<Option<i64>, EventError> {
        self.get(field).map(|v| amount_value(field, v)).transpose()
    }

    fn grace(&self) -> Result<Option<u32>, EventError> {
        match self.get("grace_days") {
            None => Ok(None),
            Some(v) => match v.as_u64().and_then(|g| u32::try_from(g).ok()) {
                Some(g) if g <= MAX_GRACE_DAYS => Ok(Some(g)),
                _ => Err(invalid("grace_days", "an integer from 0 to 3650")),
            },
        }
    }
}

fn date_value(field: &str, value: Option<&Value>) -> Result<Date, EventError> {
    match value {
        None => Err(EventError::Missing(field.to_owned())),
        Some(Value::String(s)) => {
            parse_date(s).ok_or_else(|| EventError::BadDate(field.to_owned()))
        }
        Some(_) => Err(EventError::BadDate(field.to_owned())),
    }
}

fn amount_value(field: &str, value: &Value) -> Result<i64, EventError> {
    let Some(n) = value.as_i64() else {
        return Err(match value.as_f64() {
            Some(f) if f <= 0.0 => EventError::NotPositive(field.to_owned()),
            Some(f) if f.fract() == 0.0 => EventError::TooLarge(field.to_owned()),
            _ => invalid(field, "an integer number of minor units"),
        });
    };
    if n <= 0 {
        Err(EventError::NotPositive(field.to_owned()))
    } else if n > MAX_AMOUNT_MINOR {
        Err(EventError::TooLarge(field.to_owned()))
    } else {
        Ok(n)
    }
}

/// The fields every event has.
const COMMON: [&str; 4] = ["type", "id", "account", "date"];

/// The fields of each type beyond [`COMMON`].
fn fields_of(kind: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match kind {
        "charge" => ("charge", &["amount_minor", "due", "category", "currency"]),
        "payment" => ("payment", &["amount_minor", "applies_to"]),
        "reversal" => ("reversal", &["reverses", "reason"]),
        "credit" => ("credit", &["amount_minor", "applies_to", "reason"]),
        "refund" => ("refund", &["amount_minor", "reason"]),
        "write_off" => ("write_off", &["amount_minor", "applies_to", "reason"]),
        "promise" => ("promise", &["amount_minor", "due", "grace_days"]),
        "plan" => ("plan", &["installments", "grace_days"]),
        "settlement" => ("settlement", &["amount_minor", "due", "grace_days"]),
        "dispute" => ("dispute", &["reason"]),
        "dispute_resolved" => ("dispute_resolved", &["dispute", "resolution"]),
        _ => return None,
    })
}

impl Event {
    /// Reads and checks one event from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Event, EventError> {
        let Value::Object(map) = value else {
            return Err(EventError::NotJson("expected an object".into()));
        };
        let r = Reader { map };
        let kind_name = match r.get("type") {
            None => return Err(EventError::Missing("type".into())),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(EventError::UnknownType),
        };
        let (kind_name, allowed) = fields_of(kind_name).ok_or(EventError::UnknownType)?;
        if let Some(extra) = map
            .keys()
            .find(|k| !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
        {
            return Err(EventError::UnknownField {
                field: extra.clone(),
                kind: kind_name,
            });
        }
        let id = r.string("id")?;
        let account = r.string("account")?;
        let date = r.date("date")?;
        let kind = match kind_name {
            "charge" => EventKind::Charge {
                amount_minor: r.amount("amount_minor")?,
                due: r.date("due")?,
                category: match r.get("category").and_then(Value::as_str) {
                    Some("principal") => Category::Principal,
                    Some("interest") => Category::Interest,
                    Some("fee") => Category::Fee,
                    None if r.get("category").is_none() => {
                        return Err(EventError::Missing("category".into()));
                    }
                    _ => return Err(invalid("category", "one of principal, interest, fee")),
                },
                currency: r.opt_string("currency")?,
            },
            "payment" => EventKind::Payment {
                amount_minor: r.amount("amount_minor")?,
                applies_to: r.opt_string("applies_to")?,
            },
            "reversal" => EventKind::Reversal {
                reverses: r.string("reverses")?,
                reason: r.opt_string("reason")?,
            },
            "credit" => EventKind::Credit {
                amount_minor: r.amount("amount_minor")?,
                applies_to: r.opt_string("applies_to")?,
                reason: r.opt_string("reason")?,
            },
            "refund" => EventKind::Refund {
                amount_minor: r.amount("amount_minor")?,
                reason: r.opt_string("reason")?,
            },
            "write_off" => EventKind::WriteOff {
                amount_minor: r.opt_amount("amount_minor")?,
                applies_to: r.opt_string("applies_to")?,
                reason: r.opt_string("reason")?,
            },
            "promise" => EventKind::Promise {
                amount_minor: r.amount("amount_minor")?,
                due: r.date("due")?,
                grace_days: r.grace()?,
            },
            "plan" => EventKind::Plan {
                installments: installments(r.get("installments"))?,
                grace_days: r.grace()?,
            },
            "settlement" => EventKind::Settlement {
                amount_minor: r.amount("amount_minor")?,
                due: r.date("due")?,
                grace_days: r.grace()?,
            },
            "dispute" => EventKind::Dispute {
                reason: r.opt_string("reason")?,
            },
            _ => EventKind::DisputeResolved {
                dispute: r.string("dispute")?,
                resolution: match r.get("resolution").and_then(Value::as_str) {
                    Some("verified") => Resolution::Verified,
                    Some("withdrawn") => Resolution::Withdrawn,
                    None if r.get("resolution").is_none() => {
                        return Err(EventError::Missing("resolution".into()));
                    }
                    _ => return Err(invalid("resolution", "one of verified, withdrawn")),
                },
            },
        };
        let event = Event {
            id,
            account,
            date,
            kind,
        };
        event.validate()?;
        Ok(event)
    }

    /// The checks one event can pass on its own: amounts positive and bounded, `due` not
    /// before `date`, installments non-empty and in increasing due order, currency an ISO
    /// 4217 code. [`Event::from_value`] runs it; call it on events built in code.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.id.is_empty() {
            return Err(invalid("id", "a non-empty string"));
        }
        if self.account.is_empty() {
            return Err(invalid("account", "a non-empty string"));
        }
        let amount = |field: &str, a: i64| -> Result<(), EventError> {
            if a <= 0 {
                Err(EventError::NotPositive(field.to_owned()))
            } else if a > MAX_AMOUNT_MINOR {
                Err(EventError::TooLarge(field.to_owned()))
            } else {
                Ok(())
            }
        };
        let due = |field: &str, d: Date| -> Result<(), EventError> {
            if d < self.date {
                Err(EventError::DueBeforeDate(field.to_owned()))
            } else {
                Ok(())
            }
        };
        let grace = |g: Option<u32>| -> Result<(), EventError> {
            match g {
                Some(g) if g > MAX_GRACE_DAYS => {
                    Err(invalid("grace_days", "an integer from 0 to 3650"))
                }
                _ => Ok(()),
            }
        };
        match &self.kind {
            EventKind::Charge {
                amount_minor,
                due: d,
                currency,
                ..
            } => {
                amount("amount_minor", *amount_minor)?;
                due("due", *d)?;
                if let Some(c) = currency
                    && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
                {
                    return Err(invalid("currency", "an ISO 4217 code like USD"));
                }
            }
            EventKind::Payment { amount_minor, .. }
            | EventKind::Credit { amount_minor, .. }
            | EventKind::Refund { amount_minor, .. } => amount("amount_minor", *amount_minor)?,
            EventKind::WriteOff { amount_minor, .. } => {
                if let Some(a) = amount_minor {
                    amount("amount_minor", *a)?;
                }
            }
            EventKind::Promise {
                amount_minor,
                due: d,
                grace_days,
            }
            | EventKind::Settlement {
                amount_minor,
                due: d,
                grace_days,
            } => {
                amount("amount_minor", *amount_minor)?;
                due("due", *d)?;
                grace(*grace_days)?;
            }
            EventKind::Plan {
                installments,
                grace_days,
            } => {
                if installments.is_empty() {
                    return Err(invalid("installments", "a non-empty list"));
                }
                let mut previous: Option<Date> = None;
                let mut total: i64 = 0;
                for (k, i) in installments.iter().enumerate() {
                    amount(&format!("installments[{k}].amount_minor"), i.amount_minor)?;
                    due(&format!("installments[{k}].due"), i.due)?;
                    if previous.is_some_and(|p| i.due <= p) {
                        return Err(EventError::InstallmentOrder);
                    }
                    previous = Some(i.due);
                    total = total.saturating_add(i.amount_minor);
                }
                if total > MAX_AMOUNT_MINOR {
                    return Err(EventError::TooLarge("installments".into()));
                }
                grace(*grace_days)?;
            }
            EventKind::Reversal { .. }
            | EventKind::Dispute { .. }
            | EventKind::DisputeResolved { .. } => {}
        }
        Ok(())
    }
}

fn installments(value: Option<&Value>) -> Result<Vec<Installment>, EventError> {
    let Some(value) = value else {
        return Err(EventError::Missing("installments".into()));
    };
    let Value::Array(items) = value else {
        return Err(invalid("installments", "a list of {due, amount_minor}"));
    };
    items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let Value::Object(map) = item else {
                return Err(invalid(
                    &format!("installments[{k}]"),
                    "an object {due, amount_minor}",
                ));
            };
            if let Some(extra) = map.keys().find(|f| *f != "due" && *f != "amount_minor") {
                return Err(EventError::UnknownField {
                    field: format!("installments[{k}].{extra}"),
                    kind: "plan",
                });
            }
            let due_field = format!("installments[{k}].due");
            let amount_field = format!("installments[{k}].amount_minor");
            Ok(Installment {
                due: date_value(&due_field, map.get("due").filter(|v| !v.is_null()))?,
                amount_minor: match map.get("amount_minor").filter(|v| !v.is_null()) {
                    None => return Err(EventError::Missing(amount_field)),
                    Some(v) => amount_value(&amount_field, v)?,
                },
            })
        })
        .collect()
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Event::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Event {
    /// The event as one JSON Lines line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}
