//! The corpus evaluation shared by `examples/amd_eval.rs` and `tests/corpus.rs`: reads the
//! WAVs and `labels.csv` that `scripts/amd-corpus` writes, runs every file through linear,
//! u-law and A-law, and counts what the detector said against the truth.
//!
//! Each file is pushed in 20 ms packets, as RTP delivers it. After a MACHINE verdict a
//! [`BeepDetector`] is fed from 500 ms before the verdict (the adapter keeps that much
//! audio), to measure when a voicemail drop would start against the beep's true end.

#![allow(dead_code)] // each includer uses part of it

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use callprogress::{AmdConfig, BeepDetector, Cause, Detector, Verdict};
use media::g711::Law;

pub const LABELS: [&str; 4] = ["human", "machine", "silence", "noise"];
pub const VERDICTS: [Verdict; 3] = [Verdict::Human, Verdict::Machine, Verdict::NotSure];
pub const CAUSES: [Cause; 7] = [
    Cause::ShortGreeting,
    Cause::LongGreeting,
    Cause::TooManyWords,
    Cause::MaxWordLength,
    Cause::Beep,
    Cause::InitialSilence,
    Cause::MaxTime,
];

/// How the audio reached the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Codec {
    Linear,
    Ulaw,
    Alaw,
}

pub const CODECS: [Codec; 3] = [Codec::Linear, Codec::Ulaw, Codec::Alaw];

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Linear => "linear",
            Codec::Ulaw => "u-law",
            Codec::Alaw => "A-law",
        }
    }

    /// The samples after an encode-decode round trip.
    pub fn through(self, x: &[i16]) -> Vec<i16> {
        let law = match self {
            Codec::Linear => return x.to_vec(),
            Codec::Ulaw => Law::Pcmu,
            Codec::Alaw => Law::Pcma,
        };
        let mut bytes = Vec::with_capacity(x.len());
        law.encode_into(x, &mut bytes);
        let mut out = Vec::with_capacity(x.len());
        law.decode_into(&bytes, &mut out);
        out
    }
}

/// One line of labels.csv.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub label: String,
    pub kind: String,
    pub snr: String,
    pub beep_end_ms: Option<u32>,
}

pub fn read_labels(dir: &Path) -> Result<Vec<Row>, String> {
    let path = dir.join("labels.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| head.iter().position(|h| *h == name);
    let (snr, beep_end) = (col("snr_db"), col("beep_end_ms"));
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).copied().unwrap_or("");
        if f.len() < 3 {
            return Err(format!("{}: short line {line:?}", path.display()));
        }
        rows.push(Row {
            file: f[0].to_string(),
            label: f[1].to_string(),
            kind: f[2].to_string(),
            snr: get(snr).to_string(),
            beep_end_ms: get(beep_end).parse().ok(),
        });
    }
    Ok(rows)
}

/// A 16-bit mono 8 kHz PCM WAV's samples.
pub fn read_wav(bytes: &[u8]) -> Result<Vec<i16>, String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        let body = bytes
            .get(at + 8..at + 8 + len)
            .ok_or("chunk runs past the end")?;
        match id {
            b"fmt " => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                if body.len() < 16 {
                    return Err("short fmt chunk".into());
                }
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                if u16_at(0) != 1 || u16_at(2) != 1 || rate != 8000 || u16_at(14) != 16 {
                    return Err(format!(
                        "want PCM mono 8000 Hz 16-bit; have format {} channels {} rate {rate} bits {}",
                        u16_at(0),
                        u16_at(2),
                        u16_at(14)
                    ));
                }
                format_ok = true;
            }
            b"data" if format_ok => {
                return Ok(body
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect());
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    Err("no fmt and data chunks".into())
}

/// What happened to one file through one codec.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: String,
    pub label: String,
    pub kind: String,
    pub snr: String,
    pub codec: Codec,
    pub verdict: Verdict,
    pub cause: Cause,
    pub at_ms: u32,
    /// For files with a beep and a MACHINE verdict: when the beep detector said the beep
    /// ended, minus its true end (ms); `None` if it never did.
    pub beep_end_error_ms: Option<Option<i64>>,
    /// Beeps the beep detector reported on the whole file (a beep in a person's audio is
    /// a false one).
    pub beeps_heard: u32,
}

/// Runs one file's samples through one codec.
pub fn run(cfg: &AmdConfig, row: &Row, samples: &[i16], codec: Codec) -> Outcome {
    let x = codec.through(samples);
    let mut amd = Detector::new(cfg);
    let decision = x
        .chunks(160)
        .find_map(|p| amd.push(p))
        .or_else(|| amd.push_silence(usize::MAX))
        .expect("a decision by total_analysis_ms");
    let beep_end_error_ms = match (row.beep_end_ms, decision.verdict) {
        (Some(truth), Verdict::Machine) => {
            let from = (decision.at_ms.saturating_sub(500) as usize * 8).min(x.len());
            let mut bd = BeepDetector::with_threshold(cfg.silence_threshold);
            // A beep at the very end of the file ends in the silence after it.
            let found = x[from..]
                .chunks(160)
                .find_map(|p| bd.push(p))
                .or_else(|| bd.push(&[0; 1600]));
            Some(found.map(|b| i64::from(b.end_ms) + from as i64 / 8 - i64::from(truth)))
        }
        _ => None,
    };
    let mut all = BeepDetector::with_threshold(cfg.silence_threshold);
    let mut beeps_heard = x.chunks(160).filter(|p| all.push(p).is_some()).count() as u32;
    beeps_heard += u32::from(all.push(&[0; 1600]).is_some());
    Outcome {
        file: row.file.clone(),
        label: row.label.clone(),
        kind: row.kind.clone(),
        snr: row.snr.clone(),
        codec,
        verdict: decision.verdict,
        cause: decision.cause,
        at_ms: decision.at_ms,
        beep_end_error_ms,
        beeps_heard,
    }
}

/// Every file of the corpus in `dir` through every codec.
pub fn evaluate(dir: &Path, cfg: &AmdConfig) -> Result<Vec<Outcome>, String> {
    let rows = read_labels(dir)?;
    let mut out = Vec::with_capacity(rows.len() * CODECS.len());
    for row in &rows {
        let path = dir.join(&row.file);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let samples = read_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        for codec in CODECS {
            out.push(run(cfg, row, &samples, codec));
        }
    }
    Ok(out)
}

/// The two goal figures over some outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub machines: usize,
    pub machines_detected: usize,
    pub humans: usize,
    pub humans_called_machines: usize,
}

impl Rates {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Rates {
        let mut r = Rates {
            machines: 0,
            machines_detected: 0,
            humans: 0,
            humans_called_machines: 0,
        };
        for o in outcomes {
            let machine = o.verdict == Verdict::Machine;
            match o.label.as_str() {
                "machine" => {
                    r.machines += 1;
                    r.machines_detected += usize::from(machine);
                }
                "human" => {
                    r.humans += 1;
                    r.humans_called_machines += usize::from(machine);
                }
                _ => {}
            }
        }
        r
    }

    pub fn detection(&self) -> f64 {
        pct(self.machines_detected, self.machines)
    }

    pub fn false_machine(&self) -> f64 {
        pct(self.humans_called_machines, self.humans)
    }

    /// The goal: at least 95 % of machines detected, at most 2 % of people called
    /// machines.
    pub fn meets_goal(&self) -> bool {
        self.detection() >= 95.0 && self.false_machine() <= 2.0
    }
}

fn pct(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The report: confusion matrices per codec and pooled, causes, rates, decision times,
/// beep timing, and the humans called machines by kind and SNR.
pub fn report(outcomes: &[Outcome], markdown: bool) -> String {
    let mut s = String::new();
    let table = |s: &mut String, head: &[String], rows: &[Vec<String>]| {
        if markdown {
            let _ = writeln!(s, "| {} |", head.join(" | "));
            let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
            for r in rows {
                let _ = writeln!(s, "| {} |", r.join(" | "));
            }
        } else {
            let widths: Vec<usize> = (0..head.len())
                .map(|i| {
                    rows.iter()
                        .filter_map(|r| r.get(i))
                        .chain(head.get(i))
                        .map(|c| c.len())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for r in std::iter::once(head).chain(rows.iter().map(|r| &r[..])) {
                let cells: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:>w$}"))
                    .collect();
                let _ = writeln!(s, "{}", cells.join("  "));
            }
        }
        let _ = writeln!(s);
    };
    let heading = |s: &mut String, t: &str| {
        let _ = if markdown {
            writeln!(s, "#### {t}\n")
        } else {
            writeln!(s, "== {t}")
        };
    };

    let files = outcomes.iter().filter(|o| o.codec == Codec::Linear).count();
    let _ = writeln!(
        s,
        "{files} files x {} codecs = {} runs\n",
        CODECS.len(),
        outcomes.len()
    );

    let groups: Vec<(String, Vec<&Outcome>)> = CODECS
        .iter()
        .map(|&c| {
            (
                c.name().to_string(),
                outcomes.iter().filter(|o| o.codec == c).collect(),
            )
        })
        .chain(std::iter::once((
            "pooled".to_string(),
            outcomes.iter().collect(),
        )))
        .collect();

    for (name, group) in &groups {
        heading(&mut s, &format!("Confusion matrix, {name}"));
        let head: Vec<String> = std::iter::once("truth \\ verdict".to_string())
            .chain(VERDICTS.iter().map(|v| v.to_string()))
            .chain(std::iter::once("files".to_string()))
            .collect();
        let rows: Vec<Vec<String>> = LABELS
            .iter()
            .map(|l| {
                let of: Vec<_> = group.iter().filter(|o| o.label == *l).collect();
                std::iter::once(l.to_string())
                    .chain(
                        VERDICTS
                            .iter()
                            .map(|v| of.iter().filter(|o| o.verdict == *v).count().to_string()),
                    )
                    .chain(std::iter::once(of.len().to_string()))
                    .collect()
            })
            .collect();
        table(&mut s, &head, &rows);
        let r = Rates::of(group.iter().copied());
        let _ = writeln!(
            s,
            "machines detected: {}/{} = {:.1} %; humans called machines: {}/{} = {:.1} % (goal >= 95 %, <= 2 %: {})\n",
            r.machines_detected,
            r.machines,
            r.detection(),
            r.humans_called_machines,
            r.humans,
            r.false_machine(),
            if r.meets_goal() { "met" } else { "NOT met" }
        );
    }

    heading(&mut s, "Causes (all codecs)");
    let head: Vec<String> = std::iter::once("truth \\ cause".to_string())
        .chain(CAUSES.iter().map(|c| c.to_string()))
        .collect();
    let rows: Vec<Vec<String>> = LABELS
        .iter()
        .map(|l| {
            std::iter::once(l.to_string())
                .chain(CAUSES.iter().map(|c| {
                    outcomes
                        .iter()
                        .filter(|o| o.label == *l && o.cause == *c)
                        .count()
                        .to_string()
                }))
                .collect()
        })
        .collect();
    table(&mut s, &head, &rows);

    heading(
        &mut s,
        "Decision time (ms of audio from the pick-up, all codecs)",
    );
    let head: Vec<String> = ["truth", "median", "p95", "max"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = LABELS
        .iter()
        .map(|l| {
            let mut t: Vec<u32> = outcomes
                .iter()
                .filter(|o| o.label == *l)
                .map(|o| o.at_ms)
                .collect();
            t.sort_unstable();
            vec![
                l.to_string(),
                quantile(&t, 0.5).to_string(),
                quantile(&t, 0.95).to_string(),
                t.last().copied().unwrap_or(0).to_string(),
            ]
        })
        .collect();
    table(&mut s, &head, &rows);

    heading(&mut s, "By kind (all codecs): verdicts");
    let mut kinds: BTreeMap<(String, String), [usize; 3]> = BTreeMap::new();
    for o in outcomes {
        let e = kinds.entry((o.label.clone(), o.kind.clone())).or_default();
        e[VERDICTS.iter().position(|v| *v == o.verdict).unwrap_or(2)] += 1;
    }
    let head: Vec<String> = ["label", "kind", "HUMAN", "MACHINE", "NOTSURE"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = kinds
        .iter()
        .map(|((l, k), n)| {
            vec![
                l.clone(),
                k.clone(),
                n[0].to_string(),
                n[1].to_string(),
                n[2].to_string(),
            ]
        })
        .collect();
    table(&mut s, &head, &rows);

    heading(
        &mut s,
        "By line-noise SNR (humans and machines, all codecs)",
    );
    let mut snrs: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes
        .iter()
        .filter(|o| o.label == "human" || o.label == "machine")
    {
        let k = if o.snr.is_empty() {
            "none".to_string()
        } else {
            format!("{} dB", o.snr)
        };
        snrs.entry(k).or_default().push(o);
    }
    let head: Vec<String> = ["SNR", "machines detected", "humans called machines"]
        .map(String::from)
        .to_vec();
    let rows: Vec<Vec<String>> = snrs
        .iter()
        .map(|(k, v)| {
            let r = Rates::of(v.iter().copied());
            vec![
                k.clone(),
                format!(
                    "{}/{} ({:.1} %)",
                    r.machines_detected,
                    r.machines,
                    r.detection()
                ),
                format!(
                    "{}/{} ({:.1} %)",
                    r.humans_called_machines,
                    r.humans,
                    r.false_machine()
                ),
            ]
        })
        .collect();
    table(&mut s, &head, &rows);

    heading(
        &mut s,
        "Voicemail beep after a MACHINE verdict (all codecs)",
    );
    let errs: Vec<&Option<i64>> = outcomes
        .iter()
        .filter_map(|o| o.beep_end_error_ms.as_ref())
        .collect();
    let mut found: Vec<i64> = errs.iter().filter_map(|e| **e).collect();
    found.sort_unstable();
    let q = |p: f64| -> i64 {
        if found.is_empty() {
            0
        } else {
            found[(((found.len() - 1) as f64) * p).round() as usize]
        }
    };
    let false_beeps = |l: &str| {
        outcomes
            .iter()
            .filter(|o| o.label == l && o.beeps_heard > 0)
            .count()
    };
    let _ = writeln!(
        s,
        "beeps found: {}/{}; end error (detected - true) min {} ms, median {} ms, p95 {} ms, max {} ms; \
         runs with a beep heard in humans {}, silence {}, noise {}\n",
        found.len(),
        errs.len(),
        q(0.0),
        q(0.5),
        q(0.95),
        q(1.0),
        false_beeps("human"),
        false_beeps("silence"),
        false_beeps("noise"),
    );

    let wrong: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            (o.label == "human" && o.verdict == Verdict::Machine)
                || (o.label == "machine" && o.verdict != Verdict::Machine)
        })
        .collect();
    if !wrong.is_empty() && !markdown {
        heading(&mut s, "Misclassified humans and machines");
        for o in wrong {
            let _ = writeln!(
                s,
                "{} {} {} snr={} -> {} {} at {} ms",
                o.file,
                o.codec.name(),
                o.kind,
                if o.snr.is_empty() { "none" } else { &o.snr },
                o.verdict,
                o.cause,
                o.at_ms
            );
        }
    }
    s
}
