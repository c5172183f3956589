//! Hand-worked examples of issue 12's semantics, one group per rule (1-8), plus the Reg F
//! itemization. Each expected figure is worked out in the comment next to it.

use jiff::civil::{Date, date};
use receivables::{
    Account, AccountState, Book, ItemKind, PlanStatus, PromiseStatus, SettlementStatus, jsonl,
    replay,
};

fn book(lines: &[&str]) -> Book {
    jsonl::load(&lines.join("\n")).expect("valid file")
}

fn d(s: &str) -> Date {
    s.parse().expect("date")
}

fn state(book: &Book, account: &str, as_of: &str) -> AccountState {
    book.account(account)
        .expect("account")
        .state_as_of(d(as_of))
}

fn open_of(book: &Book, account: &str, as_of: &str) -> Vec<(String, i64)> {
    let acct: &Account = book.account(account).expect("account");
    acct.state_as_of(d(as_of))
        .open_items
        .iter()
        .map(|i| (acct.events()[i.event].id.clone(), i.open_minor))
        .collect()
}

fn owned(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(s, a)| (s.to_string(), *a)).collect()
}

// ---- Rule 1: by date, then arrival; events after D invisible.

#[test]
fn rule1_events_apply_by_date_not_file_order() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-02-01","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-01-20","amount_minor":60}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-10","amount_minor":50,"due":"2024-01-15","category":"fee"}"#,
    ]);
    // By date: c1, c2, then p1 pays the oldest due first: c2 (50) then c1 (10).
    assert_eq!(open_of(&b, "a", "2024-02-20"), owned(&[("c1", 90)]));
    // c1 is 19 days past due on 2024-02-20.
    assert_eq!(state(&b, "a", "2024-02-20").aging.d1_30, 90);
    // As of 2024-01-15 the payment is not there yet.
    assert_eq!(
        open_of(&b, "a", "2024-01-15"),
        owned(&[("c2", 50), ("c1", 100)])
    );
    // Before anything: nothing.
    assert_eq!(state(&b, "a", "2023-12-31").aging.total, 0);
}

#[test]
fn rule1_same_day_follows_arrival() {
    let b = book(&[
        r#"{"type":"charge","id":"c","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-01","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-01-05","amount_minor":40}"#,
        r#"{"type":"promise","id":"pr","account":"a","date":"2024-01-05","amount_minor":40,"due":"2024-01-10"}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-01-05","amount_minor":40}"#,
    ]);
    // p1 arrived before the promise: only p2 is in its window.
    let s = state(&b, "a", "2024-01-20");
    assert_eq!(s.promises[0].paid_minor, 40);
    assert_eq!(s.promises[0].status, PromiseStatus::Kept);
}

// ---- Rule 2: allocation, credit balance, write-offs, refunds.

#[test]
fn rule2_applies_to_first_then_oldest_due() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-02-29","category":"interest"}"#,
        r#"{"type":"charge","id":"c3","account":"a","date":"2024-01-02","amount_minor":100,"due":"2024-01-31","category":"fee"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":50,"applies_to":"c2"}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-02","amount_minor":130}"#,
    ]);
    // p1: 50 to c2. p2: c1 (due 01-31, dated 01-01) 100, then c3 (same due, later date) 30.
    assert_eq!(
        open_of(&b, "a", "2024-02-02"),
        owned(&[("c3", 70), ("c2", 50)])
    );
}

#[test]
fn rule2_applies_to_a_paid_charge_falls_through() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-02-29","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":150,"applies_to":"c2"}"#,
    ]);
    // 100 closes c2, the 50 left goes to c1.
    assert_eq!(open_of(&b, "a", "2024-02-01"), owned(&[("c1", 50)]));
}

#[test]
fn rule2_credit_balance_consumed_by_a_later_charge() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-01-10","amount_minor":150}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-02-01","amount_minor":80,"due":"2024-02-15","category":"interest"}"#,
    ]);
    // 150 - 100 = 50 credit balance.
    let before = state(&b, "a", "2024-01-31");
    assert_eq!((before.aging.total, before.credit_balance_minor), (0, 50));
    // c2 (80) consumes it: 30 open, no credit.
    let after = state(&b, "a", "2024-02-01");
    assert_eq!(open_of(&b, "a", "2024-02-01"), owned(&[("c2", 30)]));
    assert_eq!(after.credit_balance_minor, 0);
}

#[test]
fn rule2_credit_allocates_like_a_payment() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"credit","id":"k1","account":"a","date":"2024-01-10","amount_minor":130,"reason":"goodwill"}"#,
    ]);
    let s = state(&b, "a", "2024-01-10");
    assert_eq!((s.aging.total, s.credit_balance_minor), (0, 30));
    assert_eq!(s.totals.credits_minor, 130);
}

#[test]
fn rule2_write_off_never_creates_credit() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"write_off","id":"w1","account":"a","date":"2024-03-01","amount_minor":150}"#,
    ]);
    let s = state(&b, "a", "2024-03-01");
    assert_eq!((s.aging.total, s.credit_balance_minor), (0, 0));
    assert_eq!(s.totals.written_off_minor, 100);
}

#[test]
fn rule2_write_off_without_amount_takes_the_whole_open_balance() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-05","amount_minor":50,"due":"2024-02-05","category":"fee"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":30}"#,
        r#"{"type":"write_off","id":"w1","account":"a","date":"2024-03-01"}"#,
        r#"{"type":"charge","id":"c3","account":"a","date":"2024-03-02","amount_minor":10,"due":"2024-03-02","category":"fee"}"#,
    ]);
    // 150 - 30 = 120 written off; c3 comes after and stays open.
    let s = state(&b, "a", "2024-03-02");
    assert_eq!(s.totals.written_off_minor, 120);
    assert_eq!(open_of(&b, "a", "2024-03-02"), owned(&[("c3", 10)]));
}

#[test]
fn rule2_partial_write_off_applies_to_its_charge() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-05","amount_minor":50,"due":"2024-02-05","category":"fee"}"#,
        r#"{"type":"write_off","id":"w1","account":"a","date":"2024-03-01","amount_minor":20,"applies_to":"c2"}"#,
    ]);
    assert_eq!(
        open_of(&b, "a", "2024-03-01"),
        owned(&[("c1", 100), ("c2", 30)])
    );
}

#[test]
fn rule2_refund_out_of_the_credit_balance() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-01-10","amount_minor":150}"#,
        r#"{"type":"refund","id":"r1","account":"a","date":"2024-01-12","amount_minor":50}"#,
    ]);
    let s = state(&b, "a", "2024-01-12");
    assert_eq!((s.aging.total, s.credit_balance_minor), (0, 0));
}

#[test]
fn rule2_refund_beyond_the_credit_balance_after_a_reversal_is_owed_again() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-01","amount_minor":150}"#,
        r#"{"type":"refund","id":"r1","account":"a","date":"2024-02-05","amount_minor":50}"#,
        r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-10","reverses":"p1","reason":"NSF"}"#,
    ]);
    // Before the reversal: paid in full, the 50 over refunded.
    let s = state(&b, "a", "2024-02-09");
    assert_eq!((s.aging.total, s.credit_balance_minor), (0, 0));
    // After it, p1 never happened: c1 is open again and the refund (no credit covered it)
    // is owed again, due on the refund date.
    let s = state(&b, "a", "2024-02-10");
    assert_eq!(
        open_of(&b, "a", "2024-02-10"),
        owned(&[("c1", 100), ("r1", 50)])
    );
    assert_eq!(s.open_items[1].kind, ItemKind::RefundOwed);
    assert_eq!(s.open_items[1].due, d("2024-02-05"));
    // c1: 10 days past due; r1: 5 days.
    assert_eq!(s.aging.d1_30, 150);
    // The identity: 100 - 0 - 0 - 0 - 0 + 50 = 150 open - 0 credit.
    assert_eq!(s.totals.net_minor(), 150);
}

// ---- Rule 3: reversals re-derive everything, from their date on.

#[test]
fn rule3_reversal_unkeeps_a_promise() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"promise","id":"pr","account":"a","date":"2024-02-01","amount_minor":100,"due":"2024-02-10","grace_days":2}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-09","amount_minor":100}"#,
        r#"{"type":"reversal","id":"x1","account":"a","date":"2024-02-11","reverses":"p1"}"#,
    ]);
    assert_eq!(
        state(&b, "a", "2024-02-10").promises[0].status,
        PromiseStatus::Kept
    );
    // From 02-11 the payment never happened; the window (due + 2 = 02-12) is still open.
    assert_eq!(
        state(&b, "a", "2024-02-11").promises[0].status,
        PromiseStatus::Pending
    );
    assert_eq!(
        state(&b, "a", "2024-02-13").promises[0].status,
        PromiseStatus::Broken
    );
    assert_eq!(state(&b, "a", "2024-02-13").totals.payments_minor, 0);
}

#[test]
fn rule3_reversal_after_a_settlements_payment() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"settlement","id":"s1","account":"a","date":"2024-02-01","amount_minor":600,"due":"2024-03-01"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-15","amount_minor":600}"#,
        r#"{"type":"reversal","id":"x1","account":"a","date":"2024-03-05","reverses":"p1","reason":"chargeback"}"#,
    ]);
    // 600 paid, the other 400 closed as settled.
    let s = state(&b, "a", "2024-03-04");
    assert!(s.settled);
    assert_eq!(s.settlements[0].status, SettlementStatus::Fulfilled);
    assert_eq!((s.aging.total, s.totals.settled_minor), (0, 400));
    // The chargeback: no payment, no settlement (its window ended 03-01), 1000 open again.
    let s = state(&b, "a", "2024-03-05");
    assert!(!s.settled);
    assert_eq!(s.settlements[0].status, SettlementStatus::Broken);
    assert_eq!((s.aging.total, s.totals.settled_minor), (1000, 0));
    // A report as of 02-20 is reproduced as it was.
    assert!(state(&b, "a", "2024-02-20").settled);
}

// ---- Rule 4: aging buckets by D minus due.

#[test]
fn rule4_bucket_boundaries() {
    let as_of = date(2024, 12, 31);
    let mut lines = Vec::new();
    for (k, days) in [-5i64, 0, 1, 30, 31, 60, 61, 90, 91, 120, 121, 400]
        .iter()
        .enumerate()
    {
        let due = as_of.checked_sub(jiff::Span::new().days(*days)).unwrap();
        let date = due.min(as_of);
        lines.push(format!(
            r#"{{"type":"charge","id":"c{k}","account":"a","date":"{date}","amount_minor":{},"due":"{due}","category":"principal"}}"#,
            1 << k
        ));
    }
    let b = jsonl::load(&lines.join("\n")).unwrap();
    let a = b.account("a").unwrap().state_as_of(as_of).aging;
    // Bits: -5 and 0 days current (1 + 2), 1 and 30 (4 + 8), 31 and 60 (16 + 32), ...
    assert_eq!(a.current, 3);
    assert_eq!(a.d1_30, 12);
    assert_eq!(a.d31_60, 48);
    assert_eq!(a.d61_90, 192);
    assert_eq!(a.d91_120, 768);
    assert_eq!(a.d121_plus, 3072);
    assert_eq!(a.total, 4095);
}

// ---- Rule 5: settlements.

#[test]
fn rule5_settlement_window_and_closing() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"charge","id":"c2","account":"a","date":"2024-01-01","amount_minor":200,"due":"2024-01-31","category":"fee"}"#,
        r#"{"type":"payment","id":"p0","account":"a","date":"2024-02-01","amount_minor":100}"#,
        r#"{"type":"settlement","id":"s1","account":"a","date":"2024-02-01","amount_minor":500,"due":"2024-02-28","grace_days":3}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-10","amount_minor":300}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-03-02","amount_minor":200}"#,
    ]);
    // p0 came before the settlement: not in its window. p1 + p2 (03-02 <= 02-28 + 3) = 500.
    let s = state(&b, "a", "2024-03-01");
    assert_eq!(s.settlements[0].status, SettlementStatus::Pending);
    assert_eq!(s.pending_settlement().map(|p| p.paid_minor), Some(300));
    assert_eq!(s.aging.total, 800);
    let s = state(&b, "a", "2024-03-02");
    assert_eq!(s.settlements[0].status, SettlementStatus::Fulfilled);
    assert_eq!(s.settlements[0].met_on, Some(d("2024-03-02")));
    // 1200 - 100 - 300 - 200 = 600 closed as settled, not cash.
    assert_eq!((s.aging.total, s.totals.settled_minor), (0, 600));
    assert!(s.settled);
}

#[test]
fn rule5_settlement_late_payment_and_supersession() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"settlement","id":"s1","account":"a","date":"2024-02-01","amount_minor":500,"due":"2024-02-28"}"#,
        r#"{"type":"settlement","id":"s2","account":"a","date":"2024-02-10","amount_minor":400,"due":"2024-03-10"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-03-11","amount_minor":400}"#,
    ]);
    // s2 made while s1 pending: s1 superseded. p1 after s2's due: s2 broken.
    let s = state(&b, "a", "2024-03-11");
    assert_eq!(s.settlements[0].status, SettlementStatus::Superseded);
    assert_eq!(s.settlements[1].status, SettlementStatus::Broken);
    assert_eq!(s.aging.total, 600);
    assert!(!s.settled);
}

// ---- Rule 6: promises and plans.

#[test]
fn rule6_promises_kept_broken_pending_superseded() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"promise","id":"pr1","account":"a","date":"2024-02-01","amount_minor":100,"due":"2024-02-05"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-05","amount_minor":60}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-02-05","amount_minor":40}"#,
        r#"{"type":"promise","id":"pr2","account":"a","date":"2024-02-10","amount_minor":100,"due":"2024-02-15"}"#,
        r#"{"type":"promise","id":"pr3","account":"a","date":"2024-02-12","amount_minor":200,"due":"2024-02-20","grace_days":5}"#,
        r#"{"type":"promise","id":"pr4","account":"a","date":"2024-03-01","amount_minor":50,"due":"2024-03-15"}"#,
    ]);
    let s = state(&b, "a", "2024-03-01");
    let statuses: Vec<PromiseStatus> = s.promises.iter().map(|p| p.status).collect();
    // pr1 kept by 60 + 40 on its due date; pr2 superseded by pr3 while pending; pr3 broken
    // (02-25 passed, nothing paid); pr4 pending.
    assert_eq!(
        statuses,
        [
            PromiseStatus::Kept,
            PromiseStatus::Superseded,
            PromiseStatus::Broken,
            PromiseStatus::Pending
        ]
    );
    assert_eq!(s.promises[0].met_on, Some(d("2024-02-05")));
    assert_eq!(
        s.latest_promise().map(|p| p.status),
        Some(PromiseStatus::Pending)
    );
    assert_eq!(s.balance_minor(), 900);
    // As of 02-25, pr3 is still in its grace period.
    let s = state(&b, "a", "2024-02-25");
    assert_eq!(s.promises[2].status, PromiseStatus::Pending);
}

#[test]
fn rule6_plan_installments_kept_completed() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":900,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-01","installments":[{"due":"2024-02-15","amount_minor":300},{"due":"2024-03-15","amount_minor":300},{"due":"2024-04-15","amount_minor":300}],"grace_days":2}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-17","amount_minor":300}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-03-01","amount_minor":500}"#,
        r#"{"type":"payment","id":"p3","account":"a","date":"2024-04-10","amount_minor":100}"#,
    ]);
    // p1 on the last grace day keeps #1; p2 (cumulative 800) keeps #2 early; p3 completes.
    let s = state(&b, "a", "2024-03-01");
    assert_eq!(s.plans[0].installments_kept, 2);
    assert_eq!(s.active_plan().map(|p| p.paid_minor), Some(800));
    let s = state(&b, "a", "2024-04-10");
    assert_eq!(s.plans[0].installments_kept, 3);
    assert_eq!(s.plans[0].status, PlanStatus::Completed);
}

#[test]
fn rule6_plan_broken_the_day_after_a_missed_installment() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":900,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"plan","id":"pl","account":"a","date":"2024-02-01","installments":[{"due":"2024-02-15","amount_minor":300},{"due":"2024-03-15","amount_minor":300}],"grace_days":2}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-10","amount_minor":300}"#,
        r#"{"type":"payment","id":"p2","account":"a","date":"2024-03-18","amount_minor":300}"#,
    ]);
    // #2's window ends 03-17: still active that day, broken from 03-18 (p2 too late).
    assert_eq!(
        state(&b, "a", "2024-03-17").plans[0].status,
        PlanStatus::Active
    );
    let s = state(&b, "a", "2024-03-18");
    assert_eq!(s.plans[0].status, PlanStatus::Broken);
    assert_eq!(s.plans[0].installments_kept, 1);
}

#[test]
fn rule6_plan_replaced_while_active() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":900,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"plan","id":"pl1","account":"a","date":"2024-02-01","installments":[{"due":"2024-02-15","amount_minor":450},{"due":"2024-03-15","amount_minor":450}]}"#,
        r#"{"type":"plan","id":"pl2","account":"a","date":"2024-02-10","installments":[{"due":"2024-02-20","amount_minor":100}]}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-02-12","amount_minor":100}"#,
        r#"{"type":"plan","id":"pl3","account":"a","date":"2024-03-01","installments":[{"due":"2024-03-10","amount_minor":800}]}"#,
    ]);
    let s = state(&b, "a", "2024-03-20");
    let statuses: Vec<PlanStatus> = s.plans.iter().map(|p| p.status).collect();
    // pl1 replaced by pl2; pl2 completed by p1; pl3 broken after 03-10.
    assert_eq!(
        statuses,
        [
            PlanStatus::Replaced,
            PlanStatus::Completed,
            PlanStatus::Broken
        ]
    );
}

// ---- Rule 7: disputes.

#[test]
fn rule7_dispute_hold_until_resolved() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":100,"due":"2024-01-31","category":"principal"}"#,
        r#"{"type":"dispute","id":"d1","account":"a","date":"2024-02-01","reason":"not mine"}"#,
        r#"{"type":"dispute_resolved","id":"d1r","account":"a","date":"2024-02-20","dispute":"d1","resolution":"verified"}"#,
    ]);
    assert!(!state(&b, "a", "2024-01-31").in_dispute);
    assert!(state(&b, "a", "2024-02-01").in_dispute);
    assert!(state(&b, "a", "2024-02-19").in_dispute);
    let s = state(&b, "a", "2024-02-20");
    assert!(!s.in_dispute);
    assert_eq!(
        s.disputes[0].resolution,
        Some(receivables::Resolution::Verified)
    );
}

// ---- Rule 8: KPIs, the worked example of docs/receivables.md.

/// The portfolio of the worked example in docs/receivables.md (accounts A to D); with its
/// expected report it is a fixture for the stores' and `dialerctl ledger replay`'s tests.
const KPI_EXAMPLE_FILE: &str = include_str!("data/kpi_example.jsonl");
const KPI_EXAMPLE_REPORT: &str = include_str!("data/kpi_example.report.json");

fn kpi_example() -> Book {
    jsonl::load(KPI_EXAMPLE_FILE).expect("fixture")
}

#[test]
fn rule8_kpis_worked_example() {
    let b = kpi_example();
    let r = replay(&b, d("2024-03-01"), d("2024-03-31")).unwrap();
    let k = &r.kpi;
    // B = A 1000 + C 400 (as of 02-29); C = B 500 + D 200.
    assert_eq!(k.beginning_receivables_minor, 1400);
    assert_eq!(k.charges_minor, 700);
    // E = A 700 + B 500 + C 0 + D 200; Ec = B 500 (due 04-04).
    assert_eq!(k.ending_receivables_minor, 1400);
    assert_eq!(r.aging.current, 500);
    // N = 300 + (200 - 200) + (500 - 100).
    assert_eq!(k.net_collections_minor, 700);
    // CEI = (1400 + 700 - 1400) / (1400 + 700 - 500) = 700 / 1600 = 43.75 %.
    assert_eq!(k.cei_percent, Some(43.75));
    // DSO = 1400 / 700 x 31 days = 62.
    assert_eq!(k.dso_days, Some(62.0));
    // Past due = 900 / 1400 = 64.2857 %.
    assert_eq!(k.past_due_percent, Some(64.29));
    // Liquidation = 700 / 2100 = 33.333 %.
    assert_eq!(k.liquidation_percent, Some(33.33));
    // A's promise kept on its due date, C's paid two days late: broken.
    assert_eq!((k.promises_kept, k.promises_broken), (1, 1));
    assert_eq!(k.promise_kept_percent, Some(50.0));
    // B's plan: installment 1 (03-20) unpaid once the payment is reversed.
    assert_eq!(
        (k.plans_active, k.plans_completed, k.plans_broken),
        (0, 0, 1)
    );
    assert_eq!(k.accounts_in_dispute, 1);
    // A: 1000 - 300 = 700, 60 days past due; D: 200, 30 days.
    assert_eq!(
        (r.aging.d1_30, r.aging.d31_60, r.aging.total),
        (200, 700, 1400)
    );
}

#[test]
fn rule8_report_json_is_the_contract() {
    let b = kpi_example();
    let r = replay(&b, d("2024-03-01"), d("2024-03-31")).unwrap();
    let json = serde_json::to_value(&r).unwrap();
    let expected = serde_json::json!({
        "as_of": "2024-03-31",
        "period_start": "2024-03-01",
        "aging": {"current": 500, "1_30": 200, "31_60": 700, "61_90": 0, "91_120": 0,
                  "121_plus": 0, "total": 1400},
        "credit_balance_minor": 0,
        "kpi": {
            "beginning_receivables_minor": 1400, "charges_minor": 700,
            "ending_receivables_minor": 1400, "net_collections_minor": 700,
            "past_due_percent": 64.29, "cei_percent": 43.75, "dso_days": 62.0,
            "liquidation_percent": 33.33, "promises_kept": 1, "promises_broken": 1,
            "promise_kept_percent": 50.0, "plans_active": 0, "plans_completed": 0,
            "plans_broken": 1, "accounts_in_dispute": 1
        },
        "accounts": [
            {"account": "A", "current": 0, "1_30": 0, "31_60": 700, "61_90": 0, "91_120": 0,
             "121_plus": 0, "total": 700, "credit_balance_minor": 0, "in_dispute": false,
             "settled": false, "transfer_blocked": false},
            {"account": "B", "current": 500, "1_30": 0, "31_60": 0, "61_90": 0, "91_120": 0,
             "121_plus": 0, "total": 500, "credit_balance_minor": 0, "in_dispute": false,
             "settled": false, "transfer_blocked": false},
            {"account": "C", "current": 0, "1_30": 0, "31_60": 0, "61_90": 0, "91_120": 0,
             "121_plus": 0, "total": 0, "credit_balance_minor": 0, "in_dispute": false,
             "settled": false, "transfer_blocked": false},
            {"account": "D", "current": 0, "1_30": 200, "31_60": 0, "61_90": 0, "91_120": 0,
             "121_plus": 0, "total": 200, "credit_balance_minor": 0, "in_dispute": true,
             "settled": false, "transfer_blocked": true}
        ]
    });
    assert_eq!(json, expected);
    let fixture: serde_json::Value = serde_json::from_str(KPI_EXAMPLE_REPORT).unwrap();
    assert_eq!(json, fixture);
    // And it reads back.
    let back: receivables::Report = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn rule8_zero_denominators_are_null() {
    let b = Book::new();
    let r = replay(&b, d("2024-03-01"), d("2024-03-31")).unwrap();
    assert_eq!(r.kpi.cei_percent, None);
    assert_eq!(r.kpi.dso_days, None);
    assert_eq!(r.kpi.past_due_percent, None);
    assert_eq!(r.kpi.liquidation_percent, None);
    assert_eq!(r.kpi.promise_kept_percent, None);
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["kpi"]["cei_percent"].is_null());
    assert!(replay(&b, d("2024-04-01"), d("2024-03-31")).is_err());
}

#[test]
fn ratio_rounds_half_away_from_zero() {
    use receivables::report::ratio;
    assert_eq!(ratio(1, 3), Some(0.33));
    assert_eq!(ratio(2, 3), Some(0.67));
    assert_eq!(ratio(1, 8), Some(0.13));
    assert_eq!(ratio(-1, 8), Some(-0.13));
    assert_eq!(ratio(1, -8), Some(-0.13));
    assert_eq!(ratio(5, 0), None);
}

// ---- Reg F itemization.

#[test]
fn regf_itemization_reconciles() {
    let b = book(&[
        r#"{"type":"charge","id":"c1","account":"a","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal","currency":"USD"}"#,
        r#"{"type":"charge","id":"i1","account":"a","date":"2024-02-01","amount_minor":50,"due":"2024-02-01","category":"interest"}"#,
        r#"{"type":"charge","id":"f1","account":"a","date":"2024-02-15","amount_minor":25,"due":"2024-02-15","category":"fee"}"#,
        r#"{"type":"payment","id":"p1","account":"a","date":"2024-03-01","amount_minor":200}"#,
        r#"{"type":"credit","id":"k1","account":"a","date":"2024-03-05","amount_minor":30}"#,
    ]);
    let a = b.account("a").unwrap();
    assert_eq!(a.transaction_date(), Some(d("2024-01-01")));
    assert_eq!(a.currency(), Some("USD"));
    let it = a.itemization(d("2024-01-31"), d("2024-03-31"));
    assert_eq!(it.amount_on_itemization_date_minor, 1000);
    assert_eq!(it.interest_since_minor, 50);
    assert_eq!(it.fees_since_minor, 25);
    assert_eq!(it.payments_since_minor, 200);
    assert_eq!(it.credits_since_minor, 30);
    // 1000 + 50 + 25 - 200 - 30.
    assert_eq!(it.current_amount_minor, 845);
}

// ---- Several debts, one consumer.

#[test]
fn a_split_payment_skips_disputed_debts_and_pays_the_oldest_first() {
    let b = book(&[
        r#"{"type":"charge","id":"x1","account":"x","date":"2024-01-01","amount_minor":300,"due":"2024-03-01","category":"principal"}"#,
        r#"{"type":"charge","id":"y1","account":"y","date":"2024-01-01","amount_minor":200,"due":"2024-02-01","category":"principal"}"#,
        r#"{"type":"charge","id":"z1","account":"z","date":"2024-01-01","amount_minor":500,"due":"2024-01-15","category":"principal"}"#,
        r#"{"type":"dispute","id":"z2","account":"z","date":"2024-03-01"}"#,
        r#"{"type":"charge","id":"w1","account":"w","date":"2024-01-01","amount_minor":100,"due":"2024-03-01","category":"principal"}"#,
    ]);
    let states: Vec<(String, AccountState)> = ["x", "y", "z", "w"]
        .iter()
        .map(|a| (a.to_string(), state(&b, a, "2024-03-10")))
        .collect();
    let debts: Vec<(&str, &AccountState)> = states.iter().map(|(a, s)| (a.as_str(), s)).collect();
    // z is the oldest but disputed: nothing. y (due 02-01) 200, then w and x (same due, by
    // id) 100 and 250.
    let split = receivables::split_payment(550, &debts);
    assert_eq!(
        split.parts,
        vec![("y".into(), 200), ("w".into(), 100), ("x".into(), 250)]
    );
    assert_eq!(split.unapplied_minor, 0);
    // More than the undisputed debts owe: the rest is unapplied, never put on z.
    let split = receivables::split_payment(1000, &debts);
    assert_eq!(split.unapplied_minor, 400);
    assert!(split.parts.iter().all(|(a, _)| a != "z"));
    assert!(states[2].1.transfer_blocked());
    assert!(!states[0].1.transfer_blocked());
}

#[test]
fn report_accounts_as_csv() {
    let mut lines: Vec<&str> = KPI_EXAMPLE_FILE.lines().collect();
    let odd = r#"{"type":"charge","id":"q1","account":"=SUM(A1),\"x\"","date":"2024-01-01","amount_minor":5,"due":"2024-01-01","category":"fee"}"#;
    lines.push(odd);
    let b = book(&lines);
    let r = replay(&b, d("2024-03-01"), d("2024-03-31")).unwrap();
    let csv = receivables::accounts_csv(&r);
    let rows: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        rows[0],
        "account,current,1_30,31_60,61_90,91_120,121_plus,total,credit_balance_minor,in_dispute,settled,transfer_blocked"
    );
    assert_eq!(
        rows[1],
        "\"'=SUM(A1),\"\"x\"\"\",0,0,0,5,0,0,5,0,false,false,false"
    );
    assert_eq!(rows[2], "A,0,0,700,0,0,0,700,0,false,false,false");
    // D is in dispute: not to be sold or transferred (1006.30(b)).
    assert_eq!(rows[5], "D,0,200,0,0,0,0,200,0,true,false,true");
    assert_eq!(rows.len(), 7);
}

#[test]
fn a_byte_order_mark_and_crlf_are_accepted() {
    let text = format!("\u{feff}{}", KPI_EXAMPLE_FILE.replace('\n', "\r\n"));
    assert_eq!(jsonl::load(&text).unwrap().len(), 13);
}

// ---- A consumer payment over several debts (`consumer_payment` lines).

const CONSUMER_DEBTS: &str = r#"{"type":"charge","id":"x1","account":"x","date":"2024-01-01","amount_minor":300,"due":"2024-03-01","category":"principal","currency":"USD"}
{"type":"charge","id":"y1","account":"y","date":"2024-01-01","amount_minor":200,"due":"2024-02-01","category":"principal"}
{"type":"charge","id":"z1","account":"z","date":"2024-01-01","amount_minor":500,"due":"2024-01-15","category":"principal"}
{"type":"dispute","id":"z2","account":"z","date":"2024-03-01"}
{"type":"charge","id":"w1","account":"w","date":"2024-01-01","amount_minor":100,"due":"2024-03-01","category":"principal"}
"#;

fn consumer_line(id: &str, amount: i64, debts: &str) -> String {
    format!(
        r#"{{"type":"consumer_payment","id":"{id}","date":"2024-03-10","amount_minor":{amount},"currency":"USD","debt_ids":[{debts}]}}"#
    )
}

#[test]
fn a_consumer_payment_line_is_split_and_imported_as_payments() {
    // 700 for x, y, z, w as of 03-10: z is the oldest but disputed (1006.30(c)): nothing.
    // y (due 02-01) 200, then w and x (both due 03-01, by id) 100 and 300; 100 is left
    // over, unapplied.
    let file = format!(
        "{CONSUMER_DEBTS}{}\n",
        consumer_line("P1", 700, r#""z","x","w","y""#)
    );
    let (b, splits) = jsonl::load_mixed(&file).unwrap();
    assert_eq!(splits.len(), 1);
    let split = &splits[0].1;
    assert_eq!(split.parts, owned(&[("y", 200), ("w", 100), ("x", 300)]));
    assert_eq!(split.unapplied_minor, 100);
    // One payment event per part, `<id>/<debt>`, and nothing on z.
    assert!(b.account("x").unwrap().event("P1/x").is_some());
    assert!(b.account("z").unwrap().event("P1/z").is_none());
    for a in ["x", "y", "w"] {
        assert_eq!(state(&b, a, "2024-03-10").balance_minor(), 0, "{a}");
    }
    assert_eq!(state(&b, "z", "2024-03-10").balance_minor(), 500);
    assert!(state(&b, "z", "2024-03-10").transfer_blocked());

    // The same line again: the same split, nothing new. Another amount: refused, naming it.
    let again = format!("{file}{}\n", consumer_line("P1", 700, r#""w","x","y","z""#));
    let (b2, splits) = jsonl::load_mixed(&again).unwrap();
    assert_eq!(splits[1].1, *split);
    assert_eq!(b2.len(), b.len());
    let conflict = format!("{file}{}\n", consumer_line("P1", 600, r#""w","x","y","z""#));
    let e = jsonl::load_mixed(&conflict).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 7: amount_minor: differs from the consumer payment P1 applied before"
    );
}

#[test]
fn a_consumer_payment_is_refused_naming_the_field() {
    let refused = |line: &str| {
        jsonl::load_mixed(&format!("{CONSUMER_DEBTS}{line}\n"))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused(&consumer_line("P", 5, r#""x","q""#)),
        "line 6: debt_ids: q has no money events"
    );
    assert_eq!(
        refused(&consumer_line("P", 5, r#""x","x""#)),
        "line 6: debt_ids[1]: x is listed twice"
    );
    assert_eq!(
        refused(&consumer_line("P", 0, r#""x""#)),
        "line 6: amount_minor must be positive"
    );
    assert_eq!(
        refused(&consumer_line("P", 5, "")),
        "line 6: debt_ids must be a non-empty list"
    );
    assert_eq!(
        refused(
            r#"{"type":"consumer_payment","id":"P","account":"x","date":"2024-03-10","amount_minor":5,"currency":"USD","debt_ids":["x"]}"#
        ),
        "line 6: account is not a field of a consumer_payment event"
    );
    let eur = r#"{"type":"charge","id":"e1","account":"e","date":"2024-01-01","amount_minor":5,"due":"2024-01-01","category":"fee","currency":"EUR"}"#;
    assert_eq!(
        refused(&format!("{eur}\n{}", consumer_line("P", 5, r#""x","e""#))),
        "line 7: currency: USD differs from debt e's EUR"
    );
    // The existing format is untouched: `jsonl::parse` does not know the new type.
    assert!(jsonl::parse(&consumer_line("P", 5, r#""x""#)).is_err());
}
