//! Several debts, one consumer (issue 12): how one payment made for several of a
//! consumer's debts is split, and which debts must not be sold or transferred.
//!
//! The split never applies money to a disputed debt (Reg F 1006.30(c), FDCPA 810). The order,
//! documented in `docs/receivables.md`: the most past-due debt first (oldest due date of an
//! open item), then the account id; each debt gets at most its net balance; what no
//! undisputed debt can take is returned as unapplied (held for the consumer, never put on a
//! disputed debt). The result is one `payment` event per account for the caller to import.

use serde::{Deserialize, Serialize};

use crate::ledger::AccountState;

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
