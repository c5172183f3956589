//! Holds fail closed on clocks that disagree (US-REGF-06: a cease takes effect on receipt, at
//! the receiving system's timestamp): a hold whose `since` is later than the evaluation
//! instant was received already and stops the call; only a release (`until` at or before
//! the instant) lifts it.

use compliance::{CallRequest, Engine, Policy, ReasonCode, Verdict};
use serde_json::{Value, json};

fn with_hold(hold: Value) -> CallRequest {
    serde_json::from_value(json!({
        "at": "2026-10-06T16:00:00Z",
        "dial": {"number": "+12125550134", "debt_id": "d1"},
        "consumer": {
            "phones": [{"number": "+12125550134", "kind": "landline"}],
            "addresses": [{"zip": "10001", "state": "NY"}],
            "holds": [hold],
        },
        "debts": [{"id": "d1"}],
    }))
    .expect("valid case")
}

#[test]
fn a_cease_received_by_a_clock_ahead_of_ours_stops_the_call() {
    let req = with_hold(json!({"kind": "cease", "since": "2026-10-06T18:00:00Z"}));
    let d = Engine::builtin()
        .evaluate(&req, &Policy::default())
        .expect("evaluates");
    assert_eq!(d.verdict, Verdict::Deny, "{:?}", d.reasons);
    assert!(d.has(ReasonCode::RegfCease));
    assert!(d.next_eligible.is_none());
}

#[test]
fn only_a_release_lifts_a_hold() {
    let released = with_hold(json!({
        "kind": "cease", "since": "2026-10-01T12:00:00Z", "until": "2026-10-05T12:00:00Z"
    }));
    let d = Engine::builtin()
        .evaluate(&released, &Policy::default())
        .expect("evaluates");
    assert_eq!(d.verdict, Verdict::Allow, "{:?}", d.reasons);
    // Released only later: still in force now, eligible at the release.
    let later = with_hold(json!({
        "kind": "attorney", "since": "2026-10-01T12:00:00Z", "until": "2026-10-07T12:00:00Z"
    }));
    let d = Engine::builtin()
        .evaluate(&later, &Policy::default())
        .expect("evaluates");
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.has(ReasonCode::RegfAttorney));
}
