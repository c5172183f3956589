//! Property tests over random valid event sequences of a few accounts:
//!
//! - the balance identity, for every account and date D:
//!   `total open - credit balance = charges - effective payments - credits - written off -
//!   settled + refunds`, where charges, effective payments (dated <= D, not reversed by a
//!   reversal dated <= D), credits and refunds are summed straight from the events, and
//!   written off / settled are what the derivation closed; a credit balance only exists
//!   when nothing is open;
//! - aging buckets sum to the total open, which is the sum of the open items;
//! - a report as of D is the same without the events dated after D;
//! - a report does not depend on how the accounts' events interleave.

use jiff::civil::Date;
use proptest::prelude::*;
use receivables::{Book, Event, EventKind, Installment, Resolution, replay};

const ACCOUNTS: [&str; 3] = ["acc-1", "acc-2", "acc-3"];

fn day(n: u16) -> Date {
    Date::constant(2024, 1, 1)
        .checked_add(jiff::Span::new().days(i64::from(n)))
        .expect("in range")
}

/// One random operation, turned into an event by [`build`].
#[derive(Debug, Clone)]
struct Op {
    account: usize,
    day: u16,
    kind: u8,
    amount: i64,
    offset: u16,
    grace: u32,
    pick: usize,
    flag: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..ACCOUNTS.len(),
        0u16..150,
        0u8..14,
        1i64..1_000,
        0u16..60,
        0u32..6,
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(
            |(account, day, kind, amount, offset, grace, pick, flag)| Op {
                account,
                day,
                kind,
                amount,
                offset,
                grace,
                pick,
                flag,
            },
        )
}

/// A valid book from the operations: each op becomes an event; references pick among the
/// account's earlier events of the right type dated no later; what the book refuses (a
/// second reversal, ...) is dropped.
fn build(ops: &[Op]) -> (Book, Vec<Event>) {
    let mut book = Book::new();
    let mut accepted: Vec<Event> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let account = ACCOUNTS[op.account];
        let date = day(op.day);
        let earlier = |type_name: &str| -> Option<String> {
            let candidates: Vec<&Event> = accepted
                .iter()
                .filter(|e| {
                    e.account == account && e.kind.type_name() == type_name && e.date <= date
                })
                .collect();
            if candidates.is_empty() {
                None
            } else {
                Some(candidates[op.pick % candidates.len()].id.clone())
            }
        };
        let applies_to = if op.flag { earlier("charge") } else { None };
        let kind = match op.kind {
            0..=3 => EventKind::Charge {
                amount_minor: op.amount,
                due: day(op.day + op.offset),
                category: [
                    receivables::Category::Principal,
                    receivables::Category::Interest,
                    receivables::Category::Fee,
                ][op.pick % 3],
                currency: None,
            },
            4..=6 => EventKind::Payment {
                amount_minor: op.amount,
                applies_to,
            },
            7 => match earlier("payment") {
                Some(reverses) => EventKind::Reversal {
                    reverses,
                    reason: None,
                },
                None => continue,
            },
            8 => EventKind::Credit {
                amount_minor: op.amount / 3 + 1,
                applies_to,
                reason: None,
            },
            9 => EventKind::Refund {
                amount_minor: op.amount / 2 + 1,
                reason: None,
            },
            10 => EventKind::WriteOff {
                amount_minor: (op.pick % 2 == 0).then_some(op.amount / 4 + 1),
                applies_to,
                reason: None,
            },
            11 => EventKind::Promise {
                amount_minor: op.amount,
                due: day(op.day + op.offset / 4),
                grace_days: Some(op.grace),
            },
            12 => {
                if op.flag {
                    EventKind::Settlement {
                        amount_minor: op.amount,
                        due: day(op.day + op.offset / 2),
                        grace_days: Some(op.grace),
                    }
                } else {
                    let count = 1 + op.pick % 3;
                    EventKind::Plan {
                        installments: (0..count)
                            .map(|k| Installment {
                                due: day(op.day + 10 * (k as u16 + 1)),
                                amount_minor: op.amount / count as i64 + 1,
                            })
                            .collect(),
                        grace_days: Some(op.grace),
                    }
                }
            }
            _ => match (op.flag, earlier("dispute")) {
                (true, Some(dispute)) => EventKind::DisputeResolved {
                    dispute,
                    resolution: Resolution::Verified,
                },
                _ => EventKind::Dispute { reason: None },
            },
        };
        let event = Event {
            id: format!("e{n}"),
            account: account.to_owned(),
            date,
            kind,
        };
        if book.insert(event.clone()).is_ok() {
            accepted.push(event);
        }
    }
    (book, accepted)
}

/// The identity's terms summed straight from the events of one account as of D.
fn raw_terms(events: &[Event], account: &str, as_of: Date) -> (i64, i64, i64, i64) {
    let visible: Vec<&Event> = events
        .iter()
        .filter(|e| e.account == account && e.date <= as_of)
        .collect();
    let reversed: Vec<&str> = visible
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Reversal { reverses, .. } => Some(reverses.as_str()),
            _ => None,
        })
        .collect();
    let (mut charges, mut payments, mut credits, mut refunds) = (0, 0, 0, 0);
    for e in visible {
        match &e.kind {
            EventKind::Charge { amount_minor, .. } => charges += amount_minor,
            EventKind::Payment { amount_minor, .. } if !reversed.contains(&e.id.as_str()) => {
                payments += amount_minor
            }
            EventKind::Credit { amount_minor, .. } => credits += amount_minor,
            EventKind::Refund { amount_minor, .. } => refunds += amount_minor,
            _ => {}
        }
    }
    (charges, payments, credits, refunds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn balance_identity_and_aging_sums(ops in prop::collection::vec(op(), 0..60), at in 0u16..220) {
        let (book, events) = build(&ops);
        let as_of = day(at);
        for account in book.accounts() {
            let s = account.state_as_of(as_of);
            let (charges, payments, credits, refunds) = raw_terms(&events, account.id(), as_of);
            prop_assert_eq!(s.totals.charges_minor(), charges);
            prop_assert_eq!(s.totals.payments_minor, payments);
            prop_assert_eq!(s.totals.credits_minor, credits);
            prop_assert_eq!(s.totals.refunds_minor, refunds);
            let open = s.total_open_minor();
            prop_assert_eq!(
                open - s.credit_balance_minor,
                charges - payments - credits - s.totals.written_off_minor
                    - s.totals.settled_minor + refunds
            );
            prop_assert!(s.credit_balance_minor >= 0);
            prop_assert!(s.credit_balance_minor == 0 || open == 0);
            let a = s.aging;
            prop_assert_eq!(a.current + a.d1_30 + a.d31_60 + a.d61_90 + a.d91_120 + a.d121_plus, a.total);
            prop_assert_eq!(s.open_items.iter().map(|i| i.open_minor).sum::<i64>(), a.total);
            prop_assert!(s.open_items.iter().all(|i| i.open_minor > 0));
            prop_assert!(s.settlements.iter().filter(|x| x.status == receivables::SettlementStatus::Pending).count() <= 1);
            prop_assert!(s.promises.iter().filter(|x| x.status == receivables::PromiseStatus::Pending).count() <= 1);
            prop_assert!(s.plans.iter().filter(|x| x.status == receivables::PlanStatus::Active).count() <= 1);
        }
    }

    #[test]
    fn reports_ignore_events_after_d(ops in prop::collection::vec(op(), 0..60), at in 0u16..200, len in 1u16..60) {
        let (book, events) = build(&ops);
        let as_of = day(at + len);
        let start = day(at);
        let mut before = Book::new();
        for e in events.iter().filter(|e| e.date <= as_of) {
            prop_assert!(before.insert(e.clone()).is_ok());
        }
        let full = replay(&book, start, as_of).unwrap();
        let cut = replay(&before, start, as_of).unwrap();
        // Accounts whose events all come after D appear only in the full book, with zeros.
        let nonempty: Vec<_> = full.accounts.iter().filter(|l| before.account(&l.account).is_some()).cloned().collect();
        prop_assert_eq!(&nonempty, &cut.accounts);
        prop_assert!(full.accounts.iter().filter(|l| before.account(&l.account).is_none()).all(|l| l.aging.total == 0 && l.credit_balance_minor == 0 && !l.in_dispute && !l.settled));
        prop_assert_eq!(full.kpi, cut.kpi);
        prop_assert_eq!(full.aging, cut.aging);
        prop_assert_eq!(receivables::portfolio_aging(&book, as_of), (full.aging, full.credit_balance_minor));
    }

    #[test]
    fn interleaving_of_accounts_does_not_matter(ops in prop::collection::vec(op(), 0..60), choices in prop::collection::vec(0usize..3, 0..200), at in 0u16..200) {
        let (book, events) = build(&ops);
        // Another arrival order keeping each account's own order.
        let mut queues: Vec<std::collections::VecDeque<&Event>> = ACCOUNTS
            .iter()
            .map(|a| events.iter().filter(|e| e.account == *a).collect())
            .collect();
        let mut other = Book::new();
        for c in choices.iter().copied().chain(std::iter::repeat_n(0..3, events.len()).flatten()) {
            if let Some(e) = queues[c].pop_front() {
                prop_assert!(other.insert(e.clone()).is_ok());
            }
        }
        prop_assert_eq!(other.len(), book.len());
        let as_of = day(at + 30);
        prop_assert_eq!(replay(&book, day(at), as_of).unwrap(), replay(&other, day(at), as_of).unwrap());
    }

    #[test]
    fn reimporting_the_same_events_is_a_no_op(ops in prop::collection::vec(op(), 0..40)) {
        let (mut book, events) = build(&ops);
        let summary = book.import(events.clone()).unwrap();
        prop_assert_eq!(summary.new, 0);
        prop_assert_eq!(summary.duplicates, events.len());
        // And via JSON Lines text.
        let text: String = events.iter().map(|e| format!("{e}\n")).collect();
        let reloaded = receivables::jsonl::load(&text).unwrap();
        prop_assert_eq!(reloaded.len(), book.len());
        let as_of = day(200);
        prop_assert_eq!(replay(&book, day(0), as_of).unwrap(), replay(&reloaded, day(0), as_of).unwrap());
    }

    #[test]
    fn a_refused_batch_leaves_no_trace(ops in prop::collection::vec(op(), 1..60), split in any::<prop::sample::Index>(), bad_at in any::<prop::sample::Index>()) {
        let (full, events) = build(&ops);
        prop_assume!(!events.is_empty());
        let cut = split.index(events.len()) + 1;
        let mut book = Book::new();
        book.import(events[..cut].iter().cloned()).unwrap();
        let as_of = day(220);
        let before = replay(&book, day(0), as_of).unwrap();
        // The rest of the events with, somewhere, an old id with new content.
        let mut batch: Vec<Event> = events[cut..].to_vec();
        // An id already in the book, with a later date (and, for a plan, another schedule).
        let mut bad = events[bad_at.index(cut)].clone();
        bad.date = day(300);
        bad.kind = EventKind::Dispute { reason: Some("changed".into()) };
        let position = bad_at.index(batch.len() + 1);
        batch.insert(position, bad);
        let err = book.import(batch).unwrap_err();
        prop_assert_eq!(err.index, position);
        prop_assert_eq!(book.len(), cut);
        prop_assert_eq!(replay(&book, day(0), as_of).unwrap(), before);
        // Without it, the batch goes in and the book is the whole one.
        book.import(events[cut..].iter().cloned()).unwrap();
        prop_assert_eq!(replay(&book, day(0), as_of).unwrap(), replay(&full, day(0), as_of).unwrap());
    }

    #[test]
    fn regf_itemization_reconciles(ops in prop::collection::vec(op(), 0..60), from in 0u16..150, len in 0u16..100) {
        let (book, _) = build(&ops);
        for account in book.accounts() {
            let it = account.itemization(day(from), day(from + len));
            prop_assert_eq!(
                it.current_amount_minor,
                it.amount_on_itemization_date_minor + it.interest_since_minor + it.fees_since_minor
                    + it.other_charges_since_minor - it.payments_since_minor - it.credits_since_minor
            );
        }
    }
}
