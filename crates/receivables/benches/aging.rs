//! The portfolio aging report over 1 M accounts on one core (issue 12's goal: < 5 s).
//!
//! `cargo bench -p receivables --bench aging [-- ACCOUNTS]`. Each account gets a few events
//! (an opening-balance charge, monthly interest, a promise, payments; some reversed, some
//! disputed, some on a plan or a settlement). Prints the time to load the book (events/s
//! through [`Book::import`], the import path), the aging fast path
//! ([`portfolio_aging`]) and the full replay report with KPIs ([`replay`]); then the
//! derivation of one account with 200,000 events (no quadratic path on a long history).

use std::hint::black_box;
use std::time::Instant;

use jiff::civil::Date;
use receivables::{
    Book, Category, Event, EventKind, Installment, Resolution, portfolio_aging, replay,
};

fn day(n: i64) -> Date {
    Date::constant(2024, 1, 1)
        .checked_add(jiff::Span::new().days(n))
        .expect("in range")
}

fn account_events(k: u64, out: &mut Vec<Event>) {
    let account = format!("acct-{k:07}");
    let mut n = 0;
    let mut push = |date: i64, kind: EventKind, out: &mut Vec<Event>| {
        n += 1;
        out.push(Event {
            id: format!("{account}-{n}"),
            account: account.clone(),
            date: day(date),
            kind,
        });
    };
    let start = (k % 90) as i64;
    let amount = 10_000 + (k % 97) as i64 * 1_000;
    push(
        start,
        EventKind::Charge {
            amount_minor: amount,
            due: day(start + 30),
            category: Category::Principal,
            currency: Some("USD".into()),
        },
        out,
    );
    push(
        start + 31,
        EventKind::Charge {
            amount_minor: amount / 100,
            due: day(start + 45),
            category: Category::Interest,
            currency: None,
        },
        out,
    );
    match k % 5 {
        0 => {
            push(
                start + 40,
                EventKind::Promise {
                    amount_minor: amount / 2,
                    due: day(start + 50),
                    grace_days: Some(3),
                },
                out,
            );
            push(
                start + 49,
                EventKind::Payment {
                    amount_minor: amount / 2,
                    applies_to: None,
                },
                out,
            );
        }
        1 => {
            push(
                start + 35,
                EventKind::Payment {
                    amount_minor: amount / 3,
                    applies_to: Some(format!("{account}-1")),
                },
                out,
            );
            push(
                start + 40,
                EventKind::Reversal {
                    reverses: format!("{account}-3"),
                    reason: Some("NSF".into()),
                },
                out,
            );
        }
        2 => {
            push(
                start + 32,
                EventKind::Plan {
                    installments: vec![
                        Installment {
                            due: day(start + 40),
                            amount_minor: amount / 2,
                        },
                        Installment {
                            due: day(start + 70),
                            amount_minor: amount / 2,
                        },
                    ],
                    grace_days: Some(5),
                },
                out,
            );
            push(
                start + 40,
                EventKind::Payment {
                    amount_minor: amount / 2,
                    applies_to: None,
                },
                out,
            );
        }
        3 => {
            push(start + 33, EventKind::Dispute { reason: None }, out);
            push(
                start + 60,
                EventKind::DisputeResolved {
                    dispute: format!("{account}-3"),
                    resolution: Resolution::Verified,
                },
                out,
            );
        }
        _ => {
            push(
                start + 34,
                EventKind::Settlement {
                    amount_minor: amount / 2,
                    due: day(start + 60),
                    grace_days: None,
                },
                out,
            );
            push(
                start + 50,
                EventKind::Payment {
                    amount_minor: amount / 2,
                    applies_to: None,
                },
                out,
            );
        }
    }
}

/// One account with `n` events: monthly-ish charges, partial payments, some reversed,
/// partial write-offs, promises; checks the pass stays O(n log n) on a long history.
fn big_account(n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    while out.len() < n {
        let date = (k / 8) as i64 % 3000;
        let id = format!("big-{k}");
        let kind = match k % 8 {
            0..=2 => EventKind::Charge {
                amount_minor: 1_000 + (k % 13) as i64,
                due: day(date + 30),
                category: Category::Fee,
                currency: None,
            },
            3 | 4 => EventKind::Payment {
                amount_minor: 700,
                applies_to: Some(format!("big-{}", k - 3)),
            },
            5 => EventKind::Reversal {
                reverses: format!("big-{}", k - 1),
                reason: None,
            },
            6 => EventKind::WriteOff {
                amount_minor: Some(50),
                applies_to: None,
                reason: None,
            },
            _ => EventKind::Promise {
                amount_minor: 500,
                due: day(date + 10),
                grace_days: Some(2),
            },
        };
        out.push(Event {
            id,
            account: "big".into(),
            date: day(date),
            kind,
        });
        k += 1;
    }
    out
}

fn main() {
    let accounts: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut events = Vec::with_capacity(accounts as usize * 4);
    for k in 0..accounts {
        account_events(k, &mut events);
    }
    let count = events.len();
    let started = Instant::now();
    let mut book = Book::new();
    book.import(events).expect("valid events");
    let load = started.elapsed();
    println!(
        "load: {count} events of {accounts} accounts into the book in {:.2} s ({:.0} events/s)",
        load.as_secs_f64(),
        count as f64 / load.as_secs_f64()
    );

    let as_of = day(150);
    let started = Instant::now();
    let (aging, credit) = black_box(portfolio_aging(&book, as_of));
    let fast = started.elapsed();
    println!(
        "aging as of {as_of}: {:.3} s over {accounts} accounts (total open {}, credit {credit})",
        fast.as_secs_f64(),
        aging.total
    );

    let started = Instant::now();
    let report = black_box(replay(&book, day(120), as_of).expect("report"));
    let full = started.elapsed();
    println!(
        "replay report with KPIs (S = {}, two derivations per account, sorted by id): {:.3} s (CEI {:?}, DSO {:?})",
        day(120),
        full.as_secs_f64(),
        report.kpi.cei_percent,
        report.kpi.dso_days
    );
    drop(book);

    let long = 200_000;
    let mut book = Book::new();
    book.import(big_account(long)).expect("valid events");
    let account = book.account("big").expect("account");
    let started = Instant::now();
    let state = black_box(account.state_as_of(day(3100)));
    println!(
        "one account with {long} events: derived in {:.3} s ({} open items)",
        started.elapsed().as_secs_f64(),
        state.open_items.len()
    );
}
