//! Evaluations per second of the compliance engine on one core.
//!
//! `cargo bench -p compliance --bench evaluate`. The "typical" consumer is the issue's:
//! 2 phones, 1 address, 10 history entries; an allowed call is the common case, a
//! refused one also computes `next_eligible`.

use std::hint::black_box;

use compliance::{CallRequest, Engine, Policy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn typical(at: &str) -> CallRequest {
    let history: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let outcome = ["no_answer", "busy", "machine", "voicemail", "no_answer"][i % 5];
            serde_json::json!({
                "at": format!("2026-07-{:02}T{}:00:00Z", 5 + i, 14 + i % 6),
                "direction": "outbound",
                "number": if i % 2 == 0 { "+14045550134" } else { "+14045550188" },
                "debt_ids": ["d1"],
                "outcome": outcome,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "at": at,
        "mode": "predictive",
        "dial": {"number": "+14045550134", "debt_id": "d1"},
        "consumer": {
            "phones": [
                {"number": "+14045550134", "kind": "mobile", "consent_automated": true},
                {"number": "+14045550188", "kind": "landline"}
            ],
            "addresses": [{"zip": "30303", "state": "GA"}]
        },
        "debts": [{"id": "d1"}],
        "history": history,
    }))
    .expect("bench case")
}

fn bench(c: &mut Criterion) {
    let engine = Engine::builtin();
    let policy = Policy::default();
    let allowed = typical("2026-07-15T16:30:00Z");
    let refused = typical("2026-07-16T02:30:00Z");
    assert!(engine.evaluate(&allowed, &policy).expect("ok").is_allowed());
    assert!(!engine.evaluate(&refused, &policy).expect("ok").is_allowed());

    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical_allowed", |b| {
        b.iter(|| engine.evaluate(black_box(&allowed), &policy))
    });
    g.bench_function("typical_refused_with_next_eligible", |b| {
        b.iter(|| engine.evaluate(black_box(&refused), &policy))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
