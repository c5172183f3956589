//! A generated sample portfolio of ledger accounts: consumers spread over US time zones with
//! the cases the rules care about (split area codes, Arizona and the Navajo Nation, Guam,
//! state-only addresses, people who moved, cell phones without consent, holds, several debts).
//! Seeded, so runs repeat. Used by the embedded demo, the engine tests and the load test.

use jiff::Timestamp;
use ledger_api::domain::{
    Account, Address, Debt, Hold, HoldKind, Person, PersonRole, Phone, PhoneKind,
};
use simulator::rng::SplitMix64;

use crate::account::AccountView;

/// Area code and exchange, home ZIP and state: a spread over US zones, with the places the
/// rules care about (split area codes, Arizona, the Navajo Nation, Guam, a state-only address).
pub const PLACES: &[(&str, Option<&str>, &str)] = &[
    ("212555", Some("10001"), "NY"),
    ("404555", Some("30303"), "GA"),
    ("305555", Some("33130"), "FL"),
    ("312555", Some("60601"), "IL"),
    ("214555", Some("75201"), "TX"),
    ("303555", Some("80202"), "CO"),
    ("602555", Some("85004"), "AZ"),
    ("928871", Some("86515"), "AZ"),
    ("415555", Some("94103"), "CA"),
    ("206555", Some("98101"), "WA"),
    ("617555", Some("02108"), "MA"),
    ("850432", Some("32501"), "FL"),
    ("615555", None, "TN"),
    ("808555", Some("96813"), "HI"),
    ("907555", Some("99501"), "AK"),
    ("671555", Some("96910"), "GU"),
    ("787555", Some("00901"), "PR"),
];

const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo",
];
const LAST: &[&str] = &[
    "Alvarez", "Brooks", "Chen", "Diallo", "Evans", "Fischer", "Gupta",
];
const CREDITORS: &[&str] = &["Northwind Bank", "Contoso Card", "Fabrikam Health"];

/// The simulator's seedable generator, with the draws a portfolio needs.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.0.uniform() <= p
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n.max(1) as u64) as usize
    }
}

/// `count` accounts `A000000`, `A000001`, ... loaded at `since`.
pub fn accounts(count: usize, seed: u64, since: Timestamp) -> Vec<Account> {
    let mut rng = Rng::new(seed);
    (0..count).map(|i| account(i, &mut rng, since)).collect()
}

/// [`accounts`] as views with no history yet: a portfolio served without a ledger (tests,
/// benches, simulations).
pub fn views(count: usize, seed: u64, since: Timestamp) -> Vec<AccountView> {
    accounts(count, seed, since)
        .into_iter()
        .map(AccountView::from)
        .collect()
}

fn phone(number: String, kind: PhoneKind, consent: bool, since: Timestamp) -> Phone {
    Phone {
        number,
        kind,
        consent_automated: consent,
        consent_source: if consent {
            "credit application".into()
        } else {
            String::new()
        },
        consent_at: consent.then_some(since),
        consent_revoked_at: None,
        employer_prohibits: false,
    }
}

fn account(i: usize, rng: &mut Rng, since: Timestamp) -> Account {
    let (prefix, zip, state) = PLACES[rng.below(PLACES.len())];
    let mobile = rng.chance(0.6);
    let mut phones = vec![phone(
        format!("+1{prefix}{:04}", rng.below(10_000)),
        if mobile {
            PhoneKind::Mobile
        } else {
            PhoneKind::Landline
        },
        !mobile || rng.chance(0.6),
        since,
    )];
    // One in five has moved: a cell from elsewhere, an address here.
    if rng.chance(0.2) {
        let (other, _, _) = PLACES[rng.below(PLACES.len())];
        phones.push(phone(
            format!("+1{other}{:04}", rng.below(10_000)),
            PhoneKind::Mobile,
            true,
            since,
        ));
    }
    let account_id = format!("A{i:06}");
    let debts: Vec<Debt> = (0..1 + usize::from(rng.chance(0.25)))
        .map(|d| Debt {
            debt_id: format!("D{i:06}-{d}"),
            balance_minor: 5_000 + rng.below(500_000) as i64,
            currency: "USD".into(),
            days_past_due: 30 + rng.below(700) as i32,
            student_loan_group: String::new(),
            original_creditor: CREDITORS[rng.below(CREDITORS.len())].into(),
            last_activity_at: None,
            receivables: None,
        })
        .collect();
    let hold = match rng.below(100) {
        0..=1 => Some(HoldKind::Cease),
        2 => Some(HoldKind::Attorney),
        3 => Some(HoldKind::Bankruptcy),
        _ => None,
    };
    let holds = hold
        .map(|kind| Hold {
            hold_id: format!("{account_id}-h"),
            account_id: account_id.clone(),
            kind,
            debt_id: debts[0].debt_id.clone(),
            number: String::new(),
            since,
            until: None,
            set_by: "crm".into(),
            reason: "loaded with the account".into(),
        })
        .into_iter()
        .collect();
    Account {
        account_id: account_id.clone(),
        creditor: CREDITORS[rng.below(CREDITORS.len())].into(),
        known_zone: String::new(),
        persons: vec![Person {
            person_id: format!("{account_id}-p1"),
            full_name: format!(
                "{} {}",
                FIRST[rng.below(FIRST.len())],
                LAST[rng.below(LAST.len())]
            ),
            role: PersonRole::Primary,
            phones,
            addresses: vec![Address {
                line1: format!("{} Main St", 1 + rng.below(999)),
                city: String::new(),
                zip: zip.unwrap_or_default().to_string(),
                state: state.to_string(),
                country: if state == "GU" || state == "PR" {
                    String::new()
                } else {
                    "US".into()
                },
                current: true,
            }],
        }],
        debts,
        holds,
        blackouts: Vec::new(),
        call_consents: Vec::new(),
        updated_at: None,
    }
}
