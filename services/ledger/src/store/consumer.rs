//! Several debts, one consumer (issue 12) in the ledger: `ApplyConsumerPayment` splits one
//! payment over a consumer's debts (`receivables::plan_consumer_payment`: never a disputed
//! debt, Reg F 1006.30(c)) and imports one `payment` event per part through the money
//! import path (`Store::import_money`, under its writer lock, against the caught-up book), in
//! the same transaction as the payment's row in `consumer_payments` (migration 0004). That
//! row makes a re-send idempotent: the same content answers the split it got then, even if
//! the debts' states have changed since; another content is refused naming the field.

use receivables::{ConsumerPayment, ConsumerPaymentError, PaymentSplit};

use super::{Result, Store, StoreError};

/// A consumer payment applied now, or found applied before (`duplicate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedPayment {
    pub payment: ConsumerPayment,
    pub split: PaymentSplit,
    /// Applied before with the same content: nothing was imported now.
    pub duplicate: bool,
}

/// The stored payment of an id (read under the money lock).
pub(crate) const STORED: &str = "SELECT body, split FROM consumer_payments WHERE payment_id = $1";

pub(crate) const INSERT: &str = "INSERT INTO consumer_payments \
     (payment_id, payment_date, amount_minor, unapplied_minor, currency, body, split, \
     recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The columns of a payment's row.
pub(crate) struct Record {
    pub id: String,
    pub date: String,
    pub amount_minor: i64,
    pub unapplied_minor: i64,
    pub currency: String,
    pub body: String,
    pub split: String,
}

impl Record {
    pub(crate) fn of(a: &AppliedPayment) -> Result<Record> {
        let json = |what: &str, v: serde_json::Result<String>| {
            v.map_err(|e| StoreError::Corrupt(format!("consumer payment {what}: {e}")))
        };
        Ok(Record {
            id: a.payment.id.clone(),
            date: a.payment.date.to_string(),
            amount_minor: a.payment.amount_minor,
            unapplied_minor: a.split.unapplied_minor,
            currency: a.payment.currency.clone(),
            body: json("body", serde_json::to_string(&a.payment))?,
            split: json("split", serde_json::to_string(&a.split))?,
        })
    }
}

/// A re-sent payment against its stored row: the same content answers the stored split
/// (a duplicate); another is refused naming the first differing field.
pub(crate) fn resent(payment: &ConsumerPayment, body: &str, split: &str) -> Result<AppliedPayment> {
    let corrupt =
        |e: serde_json::Error| StoreError::Corrupt(format!("consumer payment {}: {e}", payment.id));
    let before: ConsumerPayment = serde_json::from_str(body).map_err(corrupt)?;
    if let Some(field) = before.differing_field(payment) {
        return Err(ConsumerPaymentError::Conflict {
            field,
            id: payment.id.clone(),
        }
        .into());
    }
    Ok(AppliedPayment {
        payment: before,
        split: serde_json::from_str(split).map_err(corrupt)?,
        duplicate: true,
    })
}

impl Store {
    /// Applies one payment a consumer made for several of their debts: split by the debts'
    /// states as of its date, one `payment` event per part (`<id>/<debt>`), all-or-nothing
    /// with its record; idempotent by id (see the module doc).
    pub async fn apply_consumer_payment(
        &self,
        payment: &ConsumerPayment,
        actor: &str,
    ) -> Result<AppliedPayment> {
        payment.validate()?;
        let (summary, applied) = self
            .import_money(Vec::new(), Some(payment), actor, None)
            .await?;
        let applied = applied
            .ok_or_else(|| StoreError::Corrupt(format!("consumer payment {}", payment.id)))?;
        tracing::info!(
            actor,
            payment = %payment.id,
            parts = applied.split.parts.len(),
            new_events = summary.new,
            unapplied_minor = applied.split.unapplied_minor,
            duplicate = applied.duplicate,
            "consumer payment applied"
        );
        Ok(applied)
    }
}
