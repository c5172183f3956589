//! `dialerctl compliance check`: JSON lines in, one JSON line per case out, same order.
//!
//! Cases are read in blocks and evaluated on every core, then written in input order, so a
//! million cases take seconds. A malformed line yields `{"id":..,"error":".."}` and the run
//! goes on.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use compliance::model::{Consumer, Debt, Dial, DialMode, HistoryEntry};
use compliance::{CallRequest, Decision, Engine, Policy};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Lines evaluated per block; large enough to keep every core busy, small enough to stream.
const BLOCK: usize = 4096;

/// Options of one run.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub policy: Policy,
    pub threads: usize,
    /// Add `details` (rule ids and explanations) and `zone_sources` to each line.
    pub explain: bool,
}

/// Counts of one run, reported on stderr.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckStats {
    pub cases: u64,
    pub errors: u64,
}

/// One input line: the fields of a [`CallRequest`] plus the case id and optional per-case
/// policy overrides. The request fields are repeated here rather than `#[serde(flatten)]`ed:
/// flattening buffers every line into an intermediate map and made parsing 3x slower.
#[derive(Deserialize)]
struct Case {
    #[serde(default)]
    id: serde_json::Value,
    #[serde(default)]
    policy: Option<serde_json::Map<String, serde_json::Value>>,
    at: Timestamp,
    #[serde(default)]
    mode: DialMode,
    dial: Dial,
    consumer: Consumer,
    #[serde(default)]
    debts: Vec<Debt>,
    #[serde(default)]
    history: Vec<HistoryEntry>,
}

impl Case {
    fn into_parts(
        self,
    ) -> (
        serde_json::Value,
        Option<serde_json::Map<String, serde_json::Value>>,
        CallRequest,
    ) {
        let request = CallRequest {
            at: self.at,
            mode: self.mode,
            dial: self.dial,
            consumer: self.consumer,
            debts: self.debts,
            history: self.history,
        };
        (self.id, self.policy, request)
    }
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    rule: &'static str,
    detail: &'a str,
}

#[derive(Serialize)]
struct ZoneSource<'a> {
    zone: &'a str,
    sources: &'a compliance::zones::Sources,
    local_time: &'a jiff::civil::DateTime,
}

/// The output contract: the first five fields are fixed by the issue; the rest extend it.
#[derive(Serialize)]
struct Answer<'a> {
    id: &'a serde_json::Value,
    verdict: compliance::Verdict,
    reasons: Vec<&'static str>,
    next_eligible: Option<Timestamp>,
    zones: Vec<&'a str>,
    warnings: Vec<&'static str>,
    notes: Vec<&'static str>,
    counted: bool,
    ruleset: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Vec<Detail<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone_sources: Option<Vec<ZoneSource<'a>>>,
}

#[derive(Serialize)]
struct Failure<'a> {
    id: &'a serde_json::Value,
    error: String,
}

fn answer(id: &serde_json::Value, d: &Decision, explain: bool) -> serde_json::Result<String> {
    let codes = |fs: &[compliance::Finding]| fs.iter().map(|f| f.code.as_str()).collect();
    let details = explain.then(|| {
        d.reasons
            .iter()
            .chain(&d.warnings)
            .chain(&d.notes)
            .map(|f| Detail {
                code: f.code.as_str(),
                rule: f.rule,
                detail: &f.detail,
            })
            .collect()
    });
    let zone_sources = explain.then(|| {
        d.zones
            .iter()
            .map(|z| ZoneSource {
                zone: &z.zone,
                sources: &z.sources,
                local_time: &z.local_time,
            })
            .collect()
    });
    serde_json::to_string(&Answer {
        id,
        verdict: d.verdict,
        reasons: codes(&d.reasons),
        next_eligible: d.next_eligible,
        zones: d.zones.iter().map(|z| z.zone.as_ref()).collect(),
        warnings: codes(&d.warnings),
        notes: codes(&d.notes),
        counted: d.counted,
        ruleset: d.ruleset_version,
        details,
        zone_sources,
    })
}

/// The policy for one case: the run's policy with the case's fields laid over it.
fn case_policy(
    base: &Policy,
    overrides: serde_json::Map<String, serde_json::Value>,
) -> Result<Policy, String> {
    let mut merged = match serde_json::to_value(base) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err("policy: cannot be merged".to_string()),
    };
    merged.extend(overrides);
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| format!("policy: {e}"))
}

/// Evaluates one line into one output line (never fails: errors become error lines).
fn check_line(engine: &Engine, line: &str, opts: &CheckOptions) -> (String, bool) {
    let null = serde_json::Value::Null;
    let fail = |id: &serde_json::Value, error: String| {
        let text = serde_json::to_string(&Failure { id, error })
            .unwrap_or_else(|_| r#"{"id":null,"error":"unprintable error"}"#.to_string());
        (text, false)
    };
    let (id, overrides, request) = match serde_json::from_str::<Case>(line) {
        Ok(c) => c.into_parts(),
        Err(e) => {
            // Still echo the id when the line is JSON with one.
            let id = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("id").cloned())
                .unwrap_or(null);
            return fail(&id, format!("invalid case: {e}"));
        }
    };
    let policy = match overrides {
        None => std::borrow::Cow::Borrowed(&opts.policy),
        Some(o) => match case_policy(&opts.policy, o) {
            Ok(p) => std::borrow::Cow::Owned(p),
            Err(e) => return fail(&id, e),
        },
    };
    match engine.evaluate(&request, &policy) {
        Ok(d) => match answer(&id, &d, opts.explain) {
            Ok(text) => (text, true),
            Err(e) => fail(&id, e.to_string()),
        },
        Err(e) => fail(&id, e.to_string()),
    }
}

/// Runs the batch: reads cases from `input` until EOF, writes answers to `output`.
pub fn run(
    engine: &Engine,
    input: impl BufRead,
    mut output: impl Write,
    opts: &CheckOptions,
) -> anyhow::Result<CheckStats> {
    let mut stats = CheckStats::default();
    let threads = opts.threads.max(1);
    let mut lines = input.lines();
    let mut block: Vec<String> = Vec::with_capacity(BLOCK);
    loop {
        block.clear();
        for line in lines.by_ref() {
            let line = line.context("reading stdin")?;
            if !line.trim().is_empty() {
                block.push(line);
            }
            if block.len() == BLOCK {
                break;
            }
        }
        if block.is_empty() {
            break;
        }
        let chunk = block.len().div_ceil(threads);
        let results: Vec<Vec<(String, bool)>> = std::thread::scope(|s| {
            let handles: Vec<_> = block
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|l| check_line(engine, l, opts))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (text, ok) in results.into_iter().flatten() {
            output.write_all(text.as_bytes())?;
            output.write_all(b"\n")?;
            stats.cases += 1;
            stats.errors += u64::from(!ok);
        }
    }
    output.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(input: &str, opts: &CheckOptions) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        run(&Engine::builtin(), input.as_bytes(), &mut out, opts).expect("run");
        String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    fn opts() -> CheckOptions {
        CheckOptions {
            policy: Policy::default(),
            threads: 3,
            explain: false,
        }
    }

    const ISSUE_EXAMPLE: &str = r#"{"id":"c1","at":"2026-07-15T14:30:00Z","mode":"predictive","dial":{"number":"+14045550134","debt_id":"d1"},"consumer":{"phones":[{"number":"+14045550134","kind":"mobile","consent_automated":true}],"addresses":[{"zip":"94103","state":"CA"}],"known_zone":null,"blackouts":[{"days":["mon","wed"],"from":"15:00","to":"17:00"}],"holds":[{"kind":"cease","debt_id":"d1","since":"2026-07-01T00:00:00Z"}]},"debts":[{"id":"d1","student_loan_group":null}],"history":[{"at":"2026-07-14T16:00:00Z","direction":"outbound","number":"+14045550134","debt_ids":["d1"],"outcome":"no_answer"}]}"#;

    #[test]
    fn the_issue_example_gives_the_contract_fields() {
        let out = run_str(ISSUE_EXAMPLE, &opts());
        let a = &out[0];
        assert_eq!(a["id"], "c1");
        assert_eq!(a["verdict"], "deny");
        assert_eq!(
            a["reasons"],
            serde_json::json!(["US_REGF_CEASE", "US_REGF_HOURS_MULTIZONE"])
        );
        // A cease hold never clears by waiting.
        assert_eq!(a["next_eligible"], serde_json::Value::Null);
        assert_eq!(
            a["zones"],
            serde_json::json!(["America/New_York", "America/Los_Angeles"])
        );
    }

    #[test]
    fn malformed_lines_get_an_error_and_the_run_goes_on() {
        let input = format!(
            "not json\n{{\"id\":\"c2\",\"at\":\"yesterday\"}}\n\n{ISSUE_EXAMPLE}\n{}\n",
            ISSUE_EXAMPLE.replace("+14045550134\",\"debt_id", "555\",\"debt_id")
        );
        let out = run_str(&input, &opts());
        assert_eq!(out.len(), 4, "blank lines are not cases");
        assert_eq!(out[0]["id"], serde_json::Value::Null);
        assert!(out[0]["error"].is_string());
        assert_eq!(out[1]["id"], "c2");
        assert!(
            out[1]["error"]
                .as_str()
                .is_some_and(|e| e.contains("invalid case"))
        );
        assert_eq!(out[2]["verdict"], "deny");
        assert!(
            out[3]["error"]
                .as_str()
                .is_some_and(|e| e.contains("dial.number")),
            "{}",
            out[3]
        );
    }

    #[test]
    fn output_keeps_input_order_across_threads() {
        let mut input = String::new();
        for i in 0..(BLOCK + 100) {
            input.push_str(&ISSUE_EXAMPLE.replace("\"c1\"", &format!("\"c{i}\"")));
            input.push('\n');
        }
        let out = run_str(&input, &opts());
        assert_eq!(out.len(), BLOCK + 100);
        for (i, a) in out.iter().enumerate() {
            assert_eq!(a["id"], format!("c{i}"));
        }
    }

    #[test]
    fn per_case_policy_overrides_the_run_policy() {
        let toll_free = r#"{"id":"t","at":"2026-07-15T19:00:00Z","dial":{"number":"+18005550134","debt_id":"d1"},"consumer":{}}"#;
        let out = run_str(toll_free, &opts());
        assert_eq!(
            out[0]["reasons"],
            serde_json::json!(["US_REGF_NO_LOCATION"])
        );
        let with = toll_free.replace(
            "\"consumer\"",
            "\"policy\":{\"unknown_location\":\"all_us\"},\"consumer\"",
        );
        let out = run_str(&with, &opts());
        assert_eq!(
            out[0]["reasons"],
            serde_json::json!(["US_REGF_HOURS_MULTIZONE"])
        );
        let bad = toll_free.replace("\"consumer\"", "\"policy\":{\"nope\":1},\"consumer\"");
        assert!(
            run_str(&bad, &opts())[0]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("policy"))
        );
    }

    #[test]
    fn explain_adds_rule_ids() {
        let out = run_str(
            ISSUE_EXAMPLE,
            &CheckOptions {
                explain: true,
                ..opts()
            },
        );
        let rules: Vec<&str> = out[0]["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["rule"].as_str())
            .collect();
        assert!(rules.contains(&"US-REGF-06") && rules.contains(&"US-REGF-01"));
        assert_eq!(
            out[0]["zone_sources"][0]["sources"][0],
            "consumer.phones[0]"
        );
        assert_eq!(
            out[0]["zone_sources"][1]["sources"][0],
            "consumer.addresses[0].zip"
        );
    }
}
