//! `dialerctl test-call` against SIPp trunks: the JSON other tools read (field names are a
//! contract) and the human-readable form, for an answered call behind a digest challenge and
//! a busy one.

use std::process::Command;
use std::time::Duration;

use testpeers::{Sipp, free_udp_port, require_tools};

async fn test_call(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    // The call runs while this runtime keeps the SIPp handle's timers going.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dialerctl"))
            .arg("test-call")
            .args(&args)
            .args(["--bind", "127.0.0.1:0"])
            .output()
            .expect("dialerctl runs")
    })
    .await
    .expect("join");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_for_an_answered_call_behind_a_digest_challenge() {
    require_tools();
    let port = free_udp_port();
    let mut sipp = Sipp::builder("digest")
        .sip_port(port)
        .auth("trunkuser", "s3cret")
        .spawn()
        .expect("sipp");
    let trunk = format!("sip:127.0.0.1:{port}");
    let (status, stdout, stderr) = test_call(&[
        "--trunk",
        &trunk,
        "--number",
        "+12125550123",
        "--user",
        "trunkuser",
        "--password",
        "s3cret",
        "--caller-id",
        "+15550100000",
        "--json",
    ])
    .await;
    assert!(status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["outcome"], "answered", "{v}");
    assert_eq!(v["sip_status"], 200);
    assert!(v["q850_cause"].is_null());
    assert_eq!(v["amd_verdict"], "human");
    assert_eq!(v["amd_cause"], "short_greeting");
    let t = &v["timings_ms"];
    let (p, a, d) = (
        t["invite_to_18x"].as_u64().expect("18x"),
        t["invite_to_200"].as_u64().expect("200"),
        t["invite_to_verdict"].as_u64().expect("verdict"),
    );
    assert!(p <= a && a <= d, "{t}");
    let result = sipp.wait(Duration::from_secs(20)).await;
    assert!(result.success, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_for_a_busy_number() {
    require_tools();
    let port = free_udp_port();
    let mut sipp = Sipp::uas("busy", port, &[]);
    let trunk = format!("sip:127.0.0.1:{port}");
    let (status, stdout, stderr) =
        test_call(&["--trunk", &trunk, "--number", "+12125550124"]).await;
    assert!(status.success(), "{stderr}");
    for line in [
        "outcome      busy",
        "sip status   486",
        "q850 cause   17",
        "amd          - (-)",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    assert!(sipp.wait(Duration::from_secs(10)).await.success);
}

#[test]
fn a_bad_number_is_refused_with_the_field() {
    let out = Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args([
            "test-call",
            "--trunk",
            "sip:127.0.0.1:9",
            "--number",
            "12345",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("to") && err.contains("E.164"), "{err}");
}
