//! Several debts, one consumer (issue 12): how one payment made for several of a
//! consumer's debts is split, and which debts must not be sold or transferred.
//!
//! The split never applies money to a disputed debt (Reg F 1006.30(c), FDCPA 810). The order,
//! documented in `docs/receivables.md`: the most past-due debt first (oldest due date of an
//! open item), then the account id; each debt gets at most its net balance; what no
//! undisputed debt can take is returned as unapplied (held for the consumer, never put on a
//! disputed debt). The result is one `payment` event per account for the caller to import.
//!
//! [`ConsumerPayment`] is that payment as a CRM sends it (`ApplyConsumerPayment`, or a
//! `consumer_payment` line of an event file); [`plan_consumer_payment`] splits it against a
//! book and derives the `payment` events (`<id>/<debt>`), which go through the book's one
//! import path like any other event.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::book::Book;
use crate::event::{Event, EventError, EventKind, MAX_AMOUNT_MINOR, parse_date};
use crate::ledger::AccountState;

/// Most debts one consumer payment may name.
pub const MAX_CONSUMER_DEBTS: usize = 100;

/// One payment a consumer made for several of their debts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerPayment {
    /// Unique among consumer payments; the parts' event ids are `<id>/<debt>`.
    pub id: String,
    /// The payment's date: the debts are split by their states as of it.
    pub date: Date,
    pub amount_minor: i64,
    /// ISO 4217; every debt with a currency must be in it (a split never converts).
    pub currency: String,
    /// The debts (money accounts, i.e. ledger debt ids) it is for, in any order: the split
    /// has its own order. Kept sorted, so the same set is the same content.
    pub debt_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why a consumer payment is refused; each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerPaymentError {
    /// A field on its own (the event file's words: `amount_minor must be positive`).
    #[error(transparent)]
    Field(#[from] EventError),
    #[error("debt_ids[{index}]: {debt} is listed twice")]
    DuplicateDebt { index: usize, debt: String },
    #[error("debt_ids: {debt} has no money events")]
    UnknownDebt { debt: String },
    #[error("currency: {found} differs from debt {debt}'s {account}")]
    Currency {
        found: String,
        debt: String,
        account: String,
    },
    /// The same id sent before with another content.
    #[error("{field}: differs from the consumer payment {id} applied before")]
    Conflict { field: &'static str, id: String },
    /// The parts' events, refused by the book (an id taken by another event).
    #[error("{0}")]
    Import(String),
}

fn invalid(field: &str, expected: &'static str) -> ConsumerPaymentError {
    ConsumerPaymentError::Field(EventError::Invalid {
        field: field.to_owned(),
        expected,
    })
}

/// The fields of a `consumer_payment` line.
const FIELDS: [&str; 7] = [
    "type",
    "id",
    "date",
    "amount_minor",
    "currency",
    "debt_ids",
    "reason",
];

impl ConsumerPayment {
    /// Builds and checks one (the debt ids sorted).
    pub fn new(
        id: String,
        date: Date,
        amount_minor: i64,
        currency: String,
        debt_ids: Vec<String>,
        reason: Option<String>,
    ) -> Result<ConsumerPayment, ConsumerPaymentError> {
        let mut p = ConsumerPayment {
            id,
            date,
            amount_minor,
            currency,
            debt_ids,
            reason: reason.filter(|r| !r.is_empty()),
        };
        p.validate()?;
        p.debt_ids.sort();
        Ok(p)
    }

    /// Reads a `consumer_payment` line of an event file: `type`, `id`, `date`,
    /// `amount_minor`, `currency`, `debt_ids`, `reason?`; unknown fields refused.
    pub fn from_value(value: &Value) -> Result<ConsumerPayment, ConsumerPaymentError> {
        let Value::Object(map) = value else {
            return Err(EventError::NotJson("expected an object".into()).into());
        };
        if let Some(extra) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(EventError::UnknownField {
                field: extra.clone(),
                kind: "consumer_payment",
            }
            .into());
        }
        let get = |f: &str| map.get(f).filter(|v| !v.is_null());
        let string = |f: &str| -> Result<Option<String>, ConsumerPaymentError> {
            match get(f) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(invalid(f, "a non-empty string")),
            }
        };
        let required = |f: &str| {
            string(f)?.ok_or_else(|| ConsumerPaymentError::from(EventError::Missing(f.into())))
        };
        let date = match get("date") {
            None => return Err(EventError::Missing("date".into()).into()),
            Some(v) => v
                .as_str()
                .and_then(parse_date)
                .ok_or_else(|| EventError::BadDate("date".into()))?,
        };
        let amount_minor = match get("amount_minor") {
            None => return Err(EventError::Missing("amount_minor".into()).into()),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| invalid("amount_minor", "an integer number of minor units"))?,
        };
        let debt_ids = match get("debt_ids") {
            None => return Err(EventError::Missing("debt_ids".into()).into()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(k, v)| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(invalid(&format!("debt_ids[{k}]"), "a non-empty string")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(invalid("debt_ids", "a list of debt ids")),
        };
        ConsumerPayment::new(
            required("id")?,
            date,
            amount_minor,
            required("currency")?,
            debt_ids,
            string("reason")?,
        )
    }

    /// The checks it passes on its own: id, amount positive and bounded, currency an ISO
    /// 4217 code, 1 to [`MAX_CONSUMER_DEBTS`] distinct non-empty debt ids.
    pub fn validate(&self) -> Result<(), ConsumerPaymentError> {
        if self.id.is_empty() {
            return Err(invalid("id", "a non-empty string"));
        }
        if self.amount_minor <= 0 {
            return Err(EventError::NotPositive("amount_minor".into()).into());
        }
        if self.amount_minor > MAX_AMOUNT_MINOR {
            return Err(EventError::TooLarge("amount_minor".into()).into());
        }
        let c = &self.currency;
        if !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(invalid("currency", "an ISO 4217 code like USD"));
        }
        if self.debt_ids.is_empty() {
            return Err(invalid("debt_ids", "a non-empty list"));
        }
        if self.debt_ids.len() > MAX_CONSUMER_DEBTS {
            return Err(invalid("debt_ids", "at most 100 debt ids"));
        }
        let mut seen = std::collections::HashSet::new();
        for (index, debt) in self.debt_ids.iter().enumerate() {
            if debt.is_empty() {
                return Err(invalid(&format!("debt_ids[{index}]"), "a non-empty string"));
            }
            if !seen.insert(debt.as_str()) {
                return Err(ConsumerPaymentError::DuplicateDebt {
                    index,
                    debt: debt.clone(),
                });
            }
        }
        Ok(())
    }

    /// The id of the `payment` event of its part on `debt`.
    pub fn event_id(&self, debt: &str) -> String {
        format!("{}/{debt}", self.id)
    }

    /// The first field (in the order of the request) where two payments of the same id
    /// differ: what a conflicting re-send names. `None`: the same content.
    pub fn differing_field(&self, other: &ConsumerPayment) -> Option<&'static str> {
        if self.date != other.date {
            Some("date")
        } else if self.amount_minor != other.amount_minor {
            Some("amount_minor")
        } else if self.currency != other.currency {
            Some("currency")
        } else if self.debt_ids != other.debt_ids {
            Some("debt_ids")
        } else if self.reason != other.reason {
            Some("reason")
        } else {
            None
        }
    }
}

/// Splits `payment` over its debts by their states in `book` as of its date
/// ([`split_payment`]: never a disputed debt) and derives one `payment` event per part,
/// dated the payment's date, for the caller to import (all-or-nothing, with the book's
/// checks). Every debt must have money events in the book, and those with a currency must
/// be in the payment's.
pub fn plan_consumer_payment(
    book: &Book,
    payment: &ConsumerPayment,
) -> Result<(PaymentSplit, Vec<Event>), ConsumerPaymentError> {
    payment.validate()?;
    let mut states = Vec::with_capacity(payment.debt_ids.len());
    for debt in &payment.debt_ids {
        let Some(account) = book.account(debt) else {
            return Err(ConsumerPaymentError::UnknownDebt { debt: debt.clone() });
        };
        if let Some(currency) = account.currency()
            && currency != payment.currency
        {
            return Err(ConsumerPaymentError::Currency {
                found: payment.currency.clone(),
                debt: debt.clone(),
                account: currency.to_owned(),
            });
        }
        states.push((debt.as_str(), account.state_as_of(payment.date)));
    }
    let debts: Vec<(&str, &AccountState)> = states.iter().map(|(d, s)| (*d, s)).collect();
    let split = split_payment(payment.amount_minor, &debts);
    let events = split
        .parts
        .iter()
        .map(|(debt, amount)| Event {
            id: payment.event_id(debt),
            account: debt.clone(),
            date: payment.date,
            kind: EventKind::Payment {
                amount_minor: *amount,
                applies_to: None,
            },
        })
        .collect();
    Ok((split, events))
}

/// [`plan_consumer_payment`], then the events imported into `book` (all-or-nothing): what
/// `dialerctl ledger replay` and the ledger's store do with a consumer payment, minus the
/// store.
pub fn apply_consumer_payment(
    book: &mut Book,
    payment: &ConsumerPayment,
) -> Result<PaymentSplit, ConsumerPaymentError> {
    let (split, events) = plan_consumer_payment(book, payment)?;
    book.import(events).map_err(|e| {
        ConsumerPaymentError::Import(format!(
            "{}: {}",
            payment.event_id(split.parts.get(e.index).map_or("", |(d, _)| d.as_str())),
            e.error
        ))
    })?;
    Ok(split)
}

/// A `consumer_payment` line of an event file, or anything else (left to [`Event`]).
pub fn is_consumer_payment(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("consumer_payment")
}

/// How a consumer's payment is split over their debts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PaymentSplit {
    /// (account, amount) in the order applied; amounts positive.
    pub parts: Vec<(String, i64)>,
    /// What no undisputed debt could take.
    pub unapplied_minor: i64,
}

/// Splits `amount_minor` over the consumer's debts, each given as (account id, its state as
/// of the payment date).
pub fn split_payment(amount_minor: i64, debts: &[(&str, &AccountState)]) -> PaymentSplit {
    let mut eligible: Vec<(&str, &AccountState)> = debts
        .iter()
        .filter(|(_, s)| !s.in_dispute && s.balance_minor() > 0)
        .copied()
        .collect();
    eligible.sort_by(|(a, sa), (b, sb)| {
        let oldest = |s: &AccountState| s.open_items.iter().map(|i| i.due).min();
        oldest(sa).cmp(&oldest(sb)).then_with(|| a.cmp(b))
    });
    let mut left = amount_minor.max(0);
    let mut parts = Vec::new();
    for (account, state) in eligible {
        if left == 0 {
            break;
        }
        let take = left.min(state.balance_minor());
        parts.push((account.to_owned(), take));
        left -= take;
    }
    PaymentSplit {
        parts,
        unapplied_minor: left,
    }
}

impl AccountState {
    /// Not to be sold or transferred (1006.30(b), as issue 12 scopes it): settled or in
    /// dispute as of D.
    pub fn transfer_blocked(&self) -> bool {
        self.settled || self.in_dispute
    }
}
