//! Sample cases for `dialerctl compliance sample`: consumers of the generated portfolio
//! (places, phones and holds from `dialer::portfolio`) as compliance requests, with histories.

use compliance::model::{
    Address, CallRequest, Consumer, Debt, Dial, DialMode, Hold, HoldKind, Outcome, Party, Phone,
    PhoneKind,
};
use jiff::{SignedDuration, Timestamp};

pub use dialer::portfolio::{PLACES, Rng};

/// `count` consumers, each as a call request at `since` about their one debt, with no history.
pub fn generate(count: usize, rng: &mut Rng, since: Timestamp) -> Vec<CallRequest> {
    (0..count)
        .map(|i| {
            let (prefix, zip, state) = PLACES[rng.below(PLACES.len())];
            let number = format!("+1{prefix}{:04}", rng.below(10_000));
            let mobile = rng.chance(0.6);
            let mut phones = vec![Phone {
                number: number.clone(),
                kind: if mobile {
                    PhoneKind::Mobile
                } else {
                    PhoneKind::Landline
                },
                consent_automated: !mobile || rng.chance(0.6),
                consent_revoked_at: None,
                employer_prohibits: false,
                rnd: None,
            }];
            // One in five has moved: a cell from elsewhere, an address here.
            if rng.chance(0.2) {
                let (other, _, _) = PLACES[rng.below(PLACES.len())];
                phones.push(Phone {
                    number: format!("+1{other}{:04}", rng.below(10_000)),
                    kind: PhoneKind::Mobile,
                    consent_automated: true,
                    consent_revoked_at: None,
                    employer_prohibits: false,
                    rnd: None,
                });
            }
            let debt_id = format!("D{i:06}");
            let mut holds = Vec::new();
            let roll = rng.below(100);
            let kind = match roll {
                0..=1 => Some(HoldKind::Cease),
                2 => Some(HoldKind::Attorney),
                3 => Some(HoldKind::Bankruptcy),
                _ => None,
            };
            if let Some(kind) = kind {
                holds.push(Hold {
                    kind,
                    debt_id: Some(debt_id.clone()),
                    number: None,
                    since,
                    until: None,
                });
            }
            CallRequest {
                at: since,
                mode: DialMode::Predictive,
                dial: Dial {
                    number,
                    debt_id: debt_id.clone(),
                    debt_ids: Vec::new(),
                    party: Party::Consumer,
                    third_party_id: None,
                    agent_reserved: false,
                },
                consumer: Consumer {
                    phones,
                    addresses: vec![Address {
                        zip: zip.map(str::to_string),
                        state: Some(state.to_string()),
                        country: None,
                        current: true,
                    }],
                    holds,
                    ..Consumer::default()
                },
                debts: vec![Debt {
                    id: debt_id,
                    student_loan_group: None,
                }],
                history: Vec::new(),
            }
        })
        .collect()
}

/// Outcome of a placed call and when to try again (the recycling a campaign would apply).
pub fn outcome(rng: &mut Rng) -> (Outcome, SignedDuration) {
    match rng.below(100) {
        0..=9 => (Outcome::Busy, SignedDuration::from_mins(15)),
        10..=44 => (Outcome::NoAnswer, SignedDuration::from_hours(2)),
        45..=69 => (Outcome::Machine, SignedDuration::from_hours(20)),
        70..=74 => (Outcome::Sit, SignedDuration::from_hours(24 * 30)),
        _ => (Outcome::Conversation, SignedDuration::from_hours(24)),
    }
}

/// Sample cases for `dialerctl compliance check`: consumers of the portfolio at random
/// instants of a week, each with up to 10 calls in the days before.
pub fn cases(
    count: usize,
    rng: &mut Rng,
    since: Timestamp,
) -> impl Iterator<Item = CallRequest> + '_ {
    let people = generate(count.min(10_000), rng, since);
    (0..count).map(move |i| {
        let mut req = people[i % people.len()].clone();
        req.at = since
            .checked_add(SignedDuration::from_secs((rng.below(7 * 86_400)) as i64))
            .unwrap_or(since);
        for _ in 0..rng.below(11) {
            let ago = SignedDuration::from_secs(rng.below(10 * 86_400) as i64 + 60);
            let (o, _) = outcome(rng);
            let mut e = req.placed(o);
            e.at = req.at.checked_sub(ago).unwrap_or(req.at);
            req.history.push(e);
        }
        req
    })
}
