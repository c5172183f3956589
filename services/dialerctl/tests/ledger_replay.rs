//! `dialerctl ledger replay`: the JSON contract on the receivables crate's worked KPI example,
//! and a bad file refused as a whole with the line and field named.

use std::process::Command;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/receivables/tests/data/kpi_example.jsonl"
);
const EXPECTED: &str =
    include_str!("../../../crates/receivables/tests/data/kpi_example.report.json");

fn replay(events: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args([
            "ledger",
            "replay",
            "--events",
            events,
            "--as-of",
            "2024-03-31",
            "--period-start",
            "2024-03-01",
        ])
        .args(extra)
        .output()
        .expect("dialerctl runs")
}

#[test]
fn the_json_report_is_the_worked_example() {
    let out = replay(EXAMPLE, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let want: serde_json::Value = serde_json::from_str(EXPECTED).expect("expected report");
    assert_eq!(got, want);
    // The contract's names, as issue 12 spells them.
    for key in [
        "as_of",
        "period_start",
        "aging",
        "credit_balance_minor",
        "kpi",
        "accounts",
    ] {
        assert!(got.get(key).is_some(), "{key}");
    }
    for key in [
        "beginning_receivables_minor",
        "charges_minor",
        "ending_receivables_minor",
        "net_collections_minor",
        "past_due_percent",
        "cei_percent",
        "dso_days",
        "liquidation_percent",
        "promises_kept",
        "promises_broken",
        "promise_kept_percent",
        "plans_active",
        "plans_completed",
        "plans_broken",
        "accounts_in_dispute",
    ] {
        assert!(got["kpi"].get(key).is_some(), "kpi.{key}");
    }
}

#[test]
fn a_bad_file_is_refused_with_its_line_and_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"type":"charge","id":"c1","account":"A","date":"2024-01-01","amount_minor":1000,"due":"2024-01-31","category":"principal"}"#,
            "\n",
            r#"{"type":"payment","id":"p1","account":"A","date":"2024-02-01","amount_minor":100}"#,
            "\n",
            r#"{"type":"payment","id":"p2","account":"A","date":"2024-02-02","amount_minor":-5}"#,
            "\n"
        ),
    )
    .expect("write");
    let out = replay(path.to_str().expect("utf-8 path"), &["--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed for a refused file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3: amount_minor must be positive"),
        "{err}"
    );
}

#[test]
fn consumer_payment_lines_are_split_over_their_debts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("consumer.jsonl");
    let example = std::fs::read_to_string(EXAMPLE).expect("example");
    // 900 for A, B and D on 03-25: D is disputed (from 03-20), so nothing goes to it; A,
    // the most past due, takes its 700 and B (after its reversal) 200.
    let line = r#"{"type":"consumer_payment","id":"cp1","date":"2024-03-25","amount_minor":900,"currency":"USD","debt_ids":["D","B","A"]}"#;
    std::fs::write(&path, format!("{example}{line}\n{line}\n")).expect("write");
    let out = replay(path.to_str().expect("utf-8 path"), &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let totals: Vec<(String, i64, bool)> = got["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_owned(),
                a["total"].as_i64().unwrap(),
                a["transfer_blocked"].as_bool().unwrap(),
            )
        })
        .collect();
    let t = |a: &str, n, b| (a.to_owned(), n, b);
    assert_eq!(
        totals,
        [
            t("A", 0, false),
            t("B", 300, false),
            t("C", 0, false),
            t("D", 200, true)
        ]
    );
    // The ledger's store and the engine agree on the file (the repeated line is a no-op).
    let (book, splits) =
        receivables::jsonl::load_mixed(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(splits[0].1, splits[1].1);
    let want = receivables::replay(
        &book,
        "2024-03-01".parse().unwrap(),
        "2024-03-31".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(got, serde_json::to_value(&want).unwrap());

    // A consumer payment for a debt without money events: refused, its line named.
    std::fs::write(
        &path,
        format!("{example}{}\n", line.replace(r#""A""#, r#""Q""#)),
    )
    .expect("write");
    let out = replay(path.to_str().expect("utf-8 path"), &["--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 14: debt_ids: Q has no money events"),
        "{err}"
    );
}
