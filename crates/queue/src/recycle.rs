//! Recycling: when an account comes back after an attempt, per outcome, and which of its
//! phones to try next. Pure and configurable per campaign.

use compliance::model::{Outcome, PhoneKind};
use serde::{Deserialize, Serialize};

use crate::Millis;

/// Delay before the next attempt on the same number, per outcome (minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecyclePolicy {
    pub busy_minutes: u32,
    pub no_answer_minutes: u32,
    pub machine_minutes: u32,
    pub voicemail_minutes: u32,
    pub failed_minutes: u32,
    pub abandoned_minutes: u32,
    /// Try the next phone right away after a dead or wrong number.
    pub next_phone_on_dead_number: bool,
    /// Order in which an account's phones are tried.
    pub phone_order: Vec<PhoneKind>,
}

impl Default for RecyclePolicy {
    fn default() -> Self {
        RecyclePolicy {
            busy_minutes: 15,
            no_answer_minutes: 120,
            machine_minutes: 20 * 60,
            voicemail_minutes: 24 * 60,
            failed_minutes: 30,
            // Long enough for the UK 72 h rule's spirit everywhere.
            abandoned_minutes: 72 * 60,
            next_phone_on_dead_number: true,
            phone_order: vec![
                PhoneKind::Mobile,
                PhoneKind::Landline,
                PhoneKind::Voip,
                PhoneKind::Unknown,
                PhoneKind::Work,
            ],
        }
    }
}

/// What to do with an account after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    /// Same number again after this delay.
    RetryIn(Millis),
    /// This number is done (dead, wrong); try the account's next phone.
    NextPhone,
    /// The attempt reached the consumer: the agent's disposition decides what follows.
    Disposition,
}

impl RecyclePolicy {
    pub fn after(&self, outcome: Outcome) -> Recycle {
        let m = |min: u32| Recycle::RetryIn(Millis::from(min) * 60_000);
        match outcome {
            Outcome::Busy => m(self.busy_minutes),
            Outcome::NoAnswer => m(self.no_answer_minutes),
            Outcome::Machine => m(self.machine_minutes),
            Outcome::Voicemail | Outcome::Lcm => m(self.voicemail_minutes),
            Outcome::Failed => m(self.failed_minutes),
            Outcome::Abandoned => m(self.abandoned_minutes),
            Outcome::Sit | Outcome::WrongParty if self.next_phone_on_dead_number => {
                Recycle::NextPhone
            }
            Outcome::Sit | Outcome::WrongParty => m(self.no_answer_minutes),
            Outcome::Answered | Outcome::Conversation => Recycle::Disposition,
        }
    }

    /// Indexes of `kinds` in the order they should be tried (stable within a kind).
    pub fn order(&self, kinds: &[PhoneKind]) -> Vec<usize> {
        let pos = |k: &PhoneKind| {
            self.phone_order
                .iter()
                .position(|o| o == k)
                .unwrap_or(usize::MAX)
        };
        let mut idx: Vec<usize> = (0..kinds.len()).collect();
        idx.sort_by_key(|&i| pos(&kinds[i]));
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_recycle_as_configured() {
        let p = RecyclePolicy::default();
        assert_eq!(p.after(Outcome::Busy), Recycle::RetryIn(15 * 60_000));
        assert_eq!(p.after(Outcome::NoAnswer), Recycle::RetryIn(2 * 3_600_000));
        assert_eq!(p.after(Outcome::Sit), Recycle::NextPhone);
        assert_eq!(p.after(Outcome::Conversation), Recycle::Disposition);
        let kinds = [PhoneKind::Work, PhoneKind::Landline, PhoneKind::Mobile];
        assert_eq!(p.order(&kinds), [2, 1, 0]);
    }
}
