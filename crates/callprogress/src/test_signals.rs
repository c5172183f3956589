//! Synthetic signals for the unit tests: silence, sine tones, white noise and "words"
//! (bursts of noise between gaps), sample-exact so the expected decision times are exact.

use std::f32::consts::PI;

pub(crate) fn silence(n: usize) -> Vec<i16> {
    vec![0; n]
}

pub(crate) fn sine(freq: f32, amp: f32, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

/// Uniform white noise of peak `amp` (xorshift, so the same seed gives the same samples).
pub(crate) fn noise(seed: u64, amp: f32, n: usize) -> Vec<i16> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f32 / (1u64 << 53) as f32; // [0, 1)
            (amp * (2.0 * u - 1.0)) as i16
        })
        .collect()
}

/// `(gap_ms, word_ms)` pairs of silence then a noise burst, then `tail_ms` of silence.
pub(crate) fn words(spec: &[(u32, u32)], tail_ms: u32) -> Vec<i16> {
    let mut x = Vec::new();
    for (i, &(gap, word)) in spec.iter().enumerate() {
        x.extend(silence(gap as usize * 8));
        x.extend(noise(i as u64 + 1, 4000.0, word as usize * 8));
    }
    x.extend(silence(tail_ms as usize * 8));
    x
}

/// Two tones summed.
pub(crate) fn dual(f1: f32, f2: f32, amp: f32, n: usize) -> Vec<i16> {
    sine(f1, amp, n)
        .iter()
        .zip(sine(f2, amp, n))
        .map(|(a, b)| a.saturating_add(b))
        .collect()
}

/// A cadence: `(on_ms, off_ms)` of `tone` repeated until `total_ms`.
pub(crate) fn cadence(
    tone: &dyn Fn(usize) -> Vec<i16>,
    pattern: &[(u32, u32)],
    total_ms: u32,
) -> Vec<i16> {
    let mut x = Vec::new();
    'outer: loop {
        for &(on, off) in pattern {
            x.extend(tone(on as usize * 8));
            x.extend(silence(off as usize * 8));
            if x.len() >= total_ms as usize * 8 {
                break 'outer;
            }
        }
    }
    x.truncate(total_ms as usize * 8);
    x
}
