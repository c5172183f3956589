use compliance::{CallRequest, Engine, Policy};
fn main() {
    let history: Vec<serde_json::Value> = (0..10).map(|i| {
        let outcome = ["no_answer", "busy", "machine", "voicemail", "no_answer"][i % 5];
        serde_json::json!({"at": format!("2026-07-{:02}T{}:00:00Z", 5 + i, 14 + i % 6), "direction": "outbound",
            "number": if i % 2 == 0 { "+14045550134" } else { "+14045550188" }, "debt_ids": ["d1"], "outcome": outcome})
    }).collect();
    let req: CallRequest = serde_json::from_value(serde_json::json!({"at": "2026-07-15T16:30:00Z", "mode": "predictive",
        "dial": {"number": "+14045550134", "debt_id": "d1"},
        "consumer": {"phones": [{"number": "+14045550134", "kind": "mobile", "consent_automated": true},{"number": "+14045550188", "kind": "landline"}],
            "addresses": [{"zip": "30303", "state": "GA"}]}, "debts": [{"id": "d1"}], "history": history})).unwrap();
    let e = Engine::builtin();
    let p = Policy::default();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100000);
    let t = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        if e.evaluate(std::hint::black_box(&req), &p)
            .unwrap()
            .is_allowed()
        {
            ok += 1;
        }
    }
    let el = t.elapsed();
    println!("{ok} {:.3} us/eval", el.as_secs_f64() * 1e6 / n as f64);
}
