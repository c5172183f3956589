//! Measures answering-machine detection on a corpus from `scripts/amd-corpus`: every file
//! through linear, u-law and A-law, confusion matrices per codec and pooled, causes,
//! decision times, beep timing, and the issue's goal (>= 95 % of machines detected, <= 2 %
//! of people called machines).
//!
//! ```sh
//! scripts/amd-corpus /tmp/amd --per-class 200 --seed 1
//! cargo run --release -p callprogress --example amd_eval -- /tmp/amd [--markdown] \
//!     [--set field=value ...]
//! ```
//!
//! `--set` overrides an [`AmdConfig`] field (e.g. `--set silence_threshold=512`,
//! `--set detect_beep=false`), to measure a campaign's thresholds against the defaults.

#[path = "../tests/support/corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::process::ExitCode;

use callprogress::AmdConfig;

fn set(cfg: &mut AmdConfig, kv: &str) -> Result<(), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or(format!("--set {kv}: want field=value"))?;
    if k == "detect_beep" {
        cfg.detect_beep = v.parse().map_err(|e| format!("{k}: {e}"))?;
        return Ok(());
    }
    let n: u32 = v.parse().map_err(|e| format!("{k}: {e}"))?;
    let field = match k {
        "initial_silence_ms" => &mut cfg.initial_silence_ms,
        "greeting_ms" => &mut cfg.greeting_ms,
        "after_greeting_silence_ms" => &mut cfg.after_greeting_silence_ms,
        "total_analysis_ms" => &mut cfg.total_analysis_ms,
        "min_word_ms" => &mut cfg.min_word_ms,
        "between_words_silence_ms" => &mut cfg.between_words_silence_ms,
        "max_words" => &mut cfg.max_words,
        "max_word_ms" => &mut cfg.max_word_ms,
        "silence_threshold" => {
            cfg.silence_threshold = u16::try_from(n).map_err(|e| format!("{k}: {e}"))?;
            return Ok(());
        }
        _ => return Err(format!("no field {k}")),
    };
    *field = n;
    Ok(())
}

fn main() -> ExitCode {
    let mut dir = None;
    let mut markdown = false;
    let mut cfg = AmdConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--markdown" => markdown = true,
            "--set" => {
                let kv = args.next().unwrap_or_default();
                if let Err(e) = set(&mut cfg, &kv) {
                    eprintln!("amd_eval: {e}");
                    return ExitCode::from(2);
                }
            }
            _ if dir.is_none() && !a.starts_with("--") => dir = Some(PathBuf::from(a)),
            _ => {
                eprintln!("usage: amd_eval DIR [--markdown] [--set field=value ...]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: amd_eval DIR [--markdown] [--set field=value ...]");
        return ExitCode::from(2);
    };
    if let Err(e) = cfg.validate() {
        eprintln!("amd_eval: {e}");
        return ExitCode::from(2);
    }
    match corpus::evaluate(&dir, &cfg) {
        Ok(outcomes) => {
            println!("config: {cfg:?}\n");
            print!("{}", corpus::report(&outcomes, markdown));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("amd_eval: {e}");
            ExitCode::FAILURE
        }
    }
}
