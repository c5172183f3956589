//! `dialerctl demo`, the README's first command, end to end: ledger and dialer in one
//! process, a CRM load, a predictive shift on the fast clock, and a report that checks the
//! ledger holds exactly one outcome per attempt.

use std::process::Command;

#[test]
fn the_embedded_demo_runs_a_shift_and_the_ledger_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args([
            "demo",
            "--accounts",
            "600",
            "--agents",
            "5",
            "--hours",
            "1.5",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("dialerctl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("every attempt reached the ledger exactly once"),
        "{stdout}"
    );
    let dials: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("dials"))
        .and_then(|rest| rest.trim().parse().ok())
        .expect("a dials line");
    assert!(dials > 50, "{stdout}");
    assert!(
        stdout.contains("US_TCPA_NO_CONSENT"),
        "cells without consent are refused"
    );
    // No personal data in the output: no E.164 number of the portfolio.
    assert!(!stdout.contains("+1212555"), "{stdout}");
}
