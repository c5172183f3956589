//! The all-in-one's ledger judges outcomes by the shift's virtual time: a shift set years
//! ahead of the wall clock still gets every attempt recorded (the ledger refuses outcomes
//! that start in its future, and its clock follows the shift), exactly once.

use allinone::embedded::{self, DemoOptions};
use jiff::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shift_ahead_of_the_wall_clock_is_recorded_in_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A Monday, 10:00 in New York, five years on.
    let start: Timestamp = "2031-01-06T15:00:00Z".parse().expect("ts");
    assert!(start > Timestamp::now());
    let opts = DemoOptions {
        accounts: 300,
        agents: 3,
        start,
        hours: 0.5,
        progress_every_min: 30,
        ..DemoOptions::default()
    };
    let ledger = embedded::start_ledger(dir.path()).await.expect("ledger");
    let accounts = embedded::sample_portfolio(opts.accounts, opts.seed);
    let ids = accounts.iter().map(|a| a.account_id.clone()).collect();
    embedded::load_accounts(&ledger, accounts)
        .await
        .expect("load");
    let r = embedded::run_shift(&opts, &ledger, dir.path(), ids, |_| {})
        .await
        .expect("shift");
    let finished: u64 = r.figures.outcomes.values().sum();
    assert!(finished > 0, "the shift placed calls: {:?}", r.figures);
    assert_eq!(r.outbox_left, 0);
    assert_eq!(
        (r.ledger_outcomes, r.ledger_distinct),
        (finished, finished),
        "every attempt in the ledger once"
    );
    // The ledger's clock followed the shift.
    assert!(ledger.clock.now() >= start);
    ledger.shutdown().await;
}
