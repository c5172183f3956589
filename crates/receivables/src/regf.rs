//! The Reg F validation-notice itemization (12 CFR 1006.34(c)(2)): what was owed on the
//! itemization date, the interest, fees, payments and credits since, and the current amount,
//! per account as of D.
//!
//! Both ends come from the same derivation ([`Account::state_as_of`]), so the lines always
//! reconcile: current = owed on the itemization date + interest + fees + other charges -
//! payments - credits. Which of Reg F's five reference dates the itemization date is
//! (charge-off, last statement, last payment, transaction, judgment) is the caller's choice;
//! [`Account::transaction_date`] gives the date of the first principal charge.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::book::Account;
use crate::event::{Category, EventKind};

/// One account's itemization. Amounts are net owed (total open minus credit balance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Itemization {
    pub itemization_date: Date,
    pub as_of: Date,
    /// Owed at the end of the itemization date.
    pub amount_on_itemization_date_minor: i64,
    pub interest_since_minor: i64,
    pub fees_since_minor: i64,
    /// Principal charged after the itemization date (normally zero; kept so the lines
    /// reconcile).
    pub other_charges_since_minor: i64,
    /// Payments since, net of reversals and refunds (negative when more was reversed).
    pub payments_since_minor: i64,
    /// Credits, write-offs and amounts closed by a settlement since.
    pub credits_since_minor: i64,
    pub current_amount_minor: i64,
}

impl Account {
    /// The date of the first principal charge (Reg F's "transaction date" when the
    /// opening balance is that charge).
    pub fn transaction_date(&self) -> Option<Date> {
        self.events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Charge {
                        category: Category::Principal,
                        ..
                    }
                )
            })
            .map(|e| e.date)
            .min()
    }

    /// The itemization as of `as_of` from `itemization_date` (clamped to `as_of`).
    pub fn itemization(&self, itemization_date: Date, as_of: Date) -> Itemization {
        let itemization_date = itemization_date.min(as_of);
        let then = self.state_as_of(itemization_date);
        let now = self.state_as_of(as_of);
        let (a, b) = (then.totals, now.totals);
        let since = |x: i64, y: i64| y.saturating_sub(x);
        Itemization {
            itemization_date,
            as_of,
            amount_on_itemization_date_minor: a.net_minor(),
            interest_since_minor: since(a.interest_minor, b.interest_minor),
            fees_since_minor: since(a.fees_minor, b.fees_minor),
            other_charges_since_minor: since(a.principal_minor, b.principal_minor),
            payments_since_minor: since(a.payments_minor, b.payments_minor)
                .saturating_sub(since(a.refunds_minor, b.refunds_minor)),
            credits_since_minor: since(a.credits_minor, b.credits_minor)
                .saturating_add(since(a.written_off_minor, b.written_off_minor))
                .saturating_add(since(a.settled_minor, b.settled_minor)),
            current_amount_minor: now
                .total_open_minor()
                .saturating_sub(now.credit_balance_minor),
        }
    }
}
