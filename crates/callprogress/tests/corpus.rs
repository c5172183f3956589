//! The goal on a small generated corpus: at least 95 % of machines detected and at
//! most 2 % of people called machines, through linear, u-law and A-law, with the default
//! thresholds. Generates 20 files per class with `scripts/amd-corpus` (espeak-ng and sox;
//! CI installs them) into a temporary directory; skipped, with a note, where they are
//! missing.

#[path = "support/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::Command;

use callprogress::{AmdConfig, Cause, Verdict};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn generated_corpus_meets_the_goal() {
    if !(have("espeak-ng") && have("sox") && have("python3")) {
        eprintln!("skipped: the corpus test needs espeak-ng, sox and python3 on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/amd-corpus");
    let status = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .args(["--per-class", "20", "--seed", "7"])
        .status()
        .expect("run amd-corpus");
    assert!(status.success(), "amd-corpus failed");

    let outcomes = corpus::evaluate(dir.path(), &AmdConfig::default()).expect("evaluate");
    println!("{}", corpus::report(&outcomes, false));
    assert_eq!(outcomes.len(), 80 * 3);

    for codec in corpus::CODECS {
        let rates = corpus::Rates::of(outcomes.iter().filter(|o| o.codec == codec));
        assert!(rates.meets_goal(), "{}: {rates:?}", codec.name());
    }
    // Silence is app_amd's INITIALSILENCE machine, at 2.5 s.
    for o in outcomes.iter().filter(|o| o.label == "silence") {
        assert_eq!(
            (o.verdict, o.cause, o.at_ms),
            (Verdict::Machine, Cause::InitialSilence, 2500)
        );
    }
    // After a machine verdict the beep is found, and the drop would start within 60 ms of
    // its end, never before it.
    for o in &outcomes {
        if let Some(err) = o.beep_end_error_ms {
            let err =
                err.unwrap_or_else(|| panic!("{} {}: beep not found", o.file, o.codec.name()));
            assert!(
                (0..=60).contains(&err),
                "{} {}: {err} ms",
                o.file,
                o.codec.name()
            );
        }
        if o.label == "human" {
            assert_eq!(o.beeps_heard, 0, "{}: a beep in a person's audio", o.file);
        }
    }
}
