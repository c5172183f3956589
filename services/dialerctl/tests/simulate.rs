//! `dialerctl simulate` prints the benchmark metrics of one cell.

use std::process::Command;

#[test]
fn simulate_prints_metrics_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args([
            "simulate",
            "--scenario",
            "S2",
            "--agents",
            "10",
            "--days",
            "2",
            "--shift-s",
            "900",
            "--policy",
            "progressive",
            "--json",
        ])
        .output()
        .expect("dialerctl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["scenario"], "S2");
    assert_eq!(v["agents"], 10);
    assert_eq!(v["days"], 2);
    let s = &v["summary"];
    for key in [
        "strict_abandonment",
        "pacing_abandonment",
        "worst_30min_window",
        "occupancy",
        "idle_s_per_agent_hour",
        "live_contacts_per_agent_hour",
        "rpc_per_agent_hour",
        "dials_per_agent_hour",
        "dials_per_live_contact",
        "peak_lines",
    ] {
        assert!(s.get(key).is_some(), "missing {key}: {s}");
    }
    assert!(s["strict_abandonment"]["lo"].as_f64() <= s["strict_abandonment"]["hi"].as_f64());
}

#[test]
fn simulate_refuses_unknown_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args(["simulate", "--scenario", "S10", "--days", "1"])
        .output()
        .expect("dialerctl runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scenario"));
}
