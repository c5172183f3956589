//! Properties over arbitrary audio and configurations: nothing panics, a decision arrives
//! by `total_analysis_ms` (rounded up to a whole 20 ms frame), and the detector is
//! deterministic whatever the slicing of its input.

use callprogress::{AmdConfig, BeepDetector, Detector, FRAME_MS, ToneDetector};
use proptest::prelude::*;

fn any_config() -> impl Strategy<Value = AmdConfig> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>(), 0u32..20_000),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<u16>(), any::<bool>()),
    )
        .prop_map(|((a, b, c, d), (e, f, g, h), (t, beep))| AmdConfig {
            initial_silence_ms: a,
            greeting_ms: b,
            after_greeting_silence_ms: c,
            total_analysis_ms: d,
            min_word_ms: e,
            between_words_silence_ms: f,
            max_words: g,
            max_word_ms: h,
            silence_threshold: t,
            detect_beep: beep,
        })
}

/// Audio that is not all noise: runs of silence, loud noise and tones.
fn audio(max: usize) -> impl Strategy<Value = Vec<i16>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..4000).prop_map(|n| vec![0i16; n]),
            prop::collection::vec(any::<i16>(), 0..2000),
            (400u32..2200, 0usize..4000, 100i16..20000).prop_map(|(f, n, a)| {
                (0..n)
                    .map(|i| {
                        let ph = 2.0 * std::f32::consts::PI * f as f32 * i as f32 / 8000.0;
                        (f32::from(a) * ph.sin()) as i16
                    })
                    .collect()
            }),
        ],
        0..12,
    )
    .prop_map(move |parts| {
        let mut x: Vec<i16> = parts.concat();
        x.truncate(max);
        x
    })
}

fn round_up(ms: u32) -> u32 {
    ms.div_ceil(FRAME_MS).max(1) * FRAME_MS
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn nothing_panics(cfg in any_config(), x in audio(40_000), step in 1usize..700, gap in any::<usize>()) {
        let mut d = Detector::new(&cfg);
        let mut b = BeepDetector::with_threshold(cfg.silence_threshold);
        let mut t = ToneDetector::new();
        for c in x.chunks(step) {
            let _ = d.push(c);
            let _ = b.push(c);
            let _ = t.push(c);
        }
        let _ = d.push_silence(gap % 100_000);
        let _ = d.push(&x);
    }

    #[test]
    fn a_decision_arrives_by_total_analysis_ms(cfg in any_config(), x in audio(200_000)) {
        let total = round_up(cfg.total_analysis_ms);
        let mut d = Detector::new(&cfg);
        let mut got = d.push(&x);
        if got.is_none() {
            got = d.push_silence(total as usize * 8);
        }
        let decision = got.expect("a decision");
        prop_assert!(decision.at_ms <= total, "{decision:?} after {total}");
        prop_assert!(decision.at_ms >= FRAME_MS);
        prop_assert_eq!(d.push(&x), None);
        prop_assert_eq!(d.push_silence(8000), None);
        prop_assert_eq!(d.decision(), Some(decision));
    }

    #[test]
    fn the_detector_is_deterministic(x in audio(60_000), a in 1usize..1000, b in 1usize..1000) {
        let cfg = AmdConfig::default();
        let run = |step: usize| {
            let mut d = Detector::new(&cfg);
            x.chunks(step).find_map(|c| d.push(c)).or_else(|| d.push_silence(usize::MAX))
        };
        let first = run(a);
        prop_assert_eq!(first, run(a));
        prop_assert_eq!(first, run(b));
        let mut whole = Detector::new(&cfg);
        prop_assert_eq!(first, whole.push(&x).or_else(|| whole.push_silence(usize::MAX)));
    }
}
