//! Early-media classes as a trunk delivers them: every tone plan through linear, u-law and
//! A-law, with line noise, at a low and a high level, must come out as its class; speech
//! (bursts of noise with a syllable rhythm) must not come out as a tone.

use callprogress::{Tone, ToneDetector};
use media::g711::Law;

const RATE: f32 = 8000.0;

fn tones(freqs: &[f32], amp: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            freqs
                .iter()
                .map(|f| amp * (2.0 * std::f32::consts::PI * f * i as f32 / RATE).sin())
                .sum()
        })
        .collect()
}

/// Tones played for `on_ms`, then `off_ms` of nothing.
type Segment<'a> = (&'a [f32], u32, u32);

/// Segments repeated until `total_ms`.
fn cadence(segments: &[Segment<'_>], amp: f32, total_ms: u32) -> Vec<f32> {
    let mut x = Vec::new();
    while x.len() < total_ms as usize * 8 {
        for (freqs, on, off) in segments {
            x.extend(tones(freqs, amp, *on as usize * 8));
            x.extend(std::iter::repeat_n(0.0, *off as usize * 8));
        }
    }
    x.truncate(total_ms as usize * 8);
    x
}

struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Syllables of noise, 120-350 ms, 60-250 ms apart.
fn speech(total_ms: u32, amp: f32) -> Vec<f32> {
    let mut r = Noise(99);
    let mut x = Vec::new();
    while x.len() < total_ms as usize * 8 {
        let syl = (120.0 + 230.0 * (r.next() + 1.0) / 2.0) as usize * 8;
        x.extend((0..syl).map(|_| amp * r.next()));
        let gap = (60.0 + 190.0 * (r.next() + 1.0) / 2.0) as usize * 8;
        x.extend(std::iter::repeat_n(0.0, gap));
    }
    x.truncate(total_ms as usize * 8);
    x
}

/// Adds white noise of peak `noise`, clips, and passes the codec.
fn line(x: &[f32], noise: f32, law: Option<Law>) -> Vec<i16> {
    let mut r = Noise(7);
    let pcm: Vec<i16> = x
        .iter()
        .map(|v| (v + noise * r.next()).clamp(-32768.0, 32767.0) as i16)
        .collect();
    let Some(law) = law else { return pcm };
    let mut bytes = Vec::new();
    law.encode_into(&pcm, &mut bytes);
    let mut out = Vec::new();
    law.decode_into(&bytes, &mut out);
    out
}

fn classify(x: &[i16]) -> Vec<Tone> {
    let mut d = ToneDetector::new();
    x.chunks(160).filter_map(|p| d.push(p)).collect()
}

#[test]
fn every_plan_through_every_codec_with_line_noise() {
    let na_ring: &[f32] = &[440.0, 480.0];
    let uk_ring: &[f32] = &[400.0, 450.0];
    let eu: &[f32] = &[425.0];
    let na_busy: &[f32] = &[480.0, 620.0];
    let cases: Vec<(&str, Vec<Segment<'_>>, Tone)> = vec![
        ("NA ringback", vec![(na_ring, 2000, 4000)], Tone::Ringback),
        (
            "UK ringback",
            vec![(uk_ring, 400, 200), (uk_ring, 400, 2000)],
            Tone::Ringback,
        ),
        ("EU ringback", vec![(eu, 1000, 4000)], Tone::Ringback),
        ("NA busy", vec![(na_busy, 500, 500)], Tone::Busy),
        ("NA reorder", vec![(na_busy, 250, 250)], Tone::Busy),
        ("EU busy", vec![(eu, 500, 500)], Tone::Busy),
        ("UK busy", vec![(&[400.0], 375, 375)], Tone::Busy),
        ("EU congestion", vec![(eu, 250, 250)], Tone::Busy),
    ];
    for law in [None, Some(Law::Pcmu), Some(Law::Pcma)] {
        for amp in [800.0, 8000.0] {
            for (name, segments, want) in &cases {
                let x = line(&cadence(segments, amp, 8000), amp / 30.0, law);
                assert_eq!(classify(&x), vec![*want], "{name} {law:?} amp {amp}");
            }
            // SIT: 913.8, 1370.6, 1776.7 Hz (274 ms each), then the announcement.
            let mut sit = tones(&[913.8], amp, 2192);
            sit.extend(tones(&[1370.6], amp, 2192));
            sit.extend(tones(&[1776.7], amp, 3040));
            sit.extend(speech(3000, amp));
            let x = line(&sit, amp / 30.0, law);
            assert_eq!(classify(&x), vec![Tone::Sit], "SIT {law:?} amp {amp}");

            let x = line(&speech(8000, amp), amp / 30.0, law);
            assert_eq!(classify(&x), vec![Tone::Speech], "speech {law:?} amp {amp}");
        }
        let x = line(&vec![0.0; 8 * 7000], 20.0, law);
        assert_eq!(classify(&x), vec![Tone::Silence], "silence {law:?}");
    }
}
