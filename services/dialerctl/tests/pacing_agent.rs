//! `dialerctl pacing-agent` speaks the JSON-lines controller protocol on stdin/stdout.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn pacing_agent_answers_config_and_ticks() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args(["pacing-agent", "--policy", "progressive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dialerctl starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ask = |line: &str| -> String {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        stdout.read_line(&mut answer).unwrap();
        answer.trim().to_string()
    };
    assert_eq!(
        ask(
            r#"{"config":{"agents":3,"abandon_target":0.03,"connect_deadline_s":2.0,"min_ring_s":15,"ring_timeout_s":22,"max_lines_per_agent":4,"amd_false_positive":0.01}}"#
        ),
        r#"{"ok":true}"#
    );
    // Two ready agents, one ringing attempt: progressive tops up to two.
    assert_eq!(
        ask(
            r#"{"t":3600.0,"agents":[{"state":"ready","since":3598.2},{"state":"ready","since":3590.0},{"state":"talk","since":3420.0}],"inflight":[{"elapsed":5.1,"phase":"ringing"}],"completed":[{"outcome":"fail","ring_s":2.1}]}"#
        ),
        r#"{"dial":1}"#
    );
    assert_eq!(
        ask(
            r#"{"t":3601.0,"agents":[{"state":"talk","since":3600.5},{"state":"ready","since":3590.0},{"state":"talk","since":3420.0}],"inflight":[{"elapsed":1.0,"phase":"ringing"}],"completed":[{"outcome":"human_connected","ring_s":8.2}]}"#
        ),
        r#"{"dial":0}"#
    );
    // A clock that starts again is a new day for a fresh controller (pacing::protocol), not an
    // error: no agents, no dial. A malformed tick is an error.
    assert_eq!(ask(r#"{"t":3600.0,"agents":[]}"#), r#"{"dial":0}"#);
    assert!(ask(r#"{"t":3601.0,"agents":"none"}"#).contains("error"));
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn pacing_agent_predictive_dials_for_ready_agents() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args(["pacing-agent", "--policy", "predictive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dialerctl starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(
            stdin,
            r#"{{"config":{{"agents":2,"abandon_target":0.03,"connect_deadline_s":2.0,"min_ring_s":15,"ring_timeout_s":22,"max_lines_per_agent":4,"amd_false_positive":0.01}}}}"#
        )
        .unwrap();
        writeln!(
            stdin,
            r#"{{"t":0.0,"agents":[{{"state":"ready","since":0.0}},{{"state":"ready","since":0.0}}],"inflight":[],"completed":[]}}"#
        )
        .unwrap();
        // End of input ends the run.
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"ok":true}"#);
    let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    let dial = v["dial"].as_u64().unwrap();
    assert!((2..=8).contains(&dial), "{dial}");
}
