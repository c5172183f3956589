//! The Goertzel filter: the power of one frequency in a block of samples, in N
//! multiply-adds and no table. Call progress needs a handful of known frequencies (tone
//! plans, SIT segments, a beep's estimate), for which this is far cheaper than an FFT.
//!
//! [`Goertzel::relative_power`] normalises the bin's power by the block's energy, so a pure
//! tone at the filter's frequency scores about 1.0 whatever its level, two equal tones score
//! about 0.5 each, and speech or noise score little: "energy concentrated in one bin" is a
//! threshold on that ratio.

use std::f32::consts::PI;

/// One frequency's filter, reusable over any number of blocks (it keeps no state between
/// them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goertzel {
    freq_hz: f32,
    /// 2 cos(2 pi f / fs).
    coeff: f32,
}

impl Goertzel {
    /// A filter at `freq_hz` for audio sampled at `sample_rate` Hz. A sample rate of 0 is
    /// taken as [`crate::SAMPLE_RATE`].
    pub fn new(freq_hz: f32, sample_rate: u32) -> Self {
        let rate = if sample_rate == 0 {
            crate::SAMPLE_RATE
        } else {
            sample_rate
        };
        let omega = 2.0 * PI * freq_hz / rate as f32;
        Goertzel {
            freq_hz,
            coeff: 2.0 * omega.cos(),
        }
    }

    /// The frequency this filter measures.
    pub fn freq_hz(&self) -> f32 {
        self.freq_hz
    }

    /// |X(f)|^2 over `samples`, in squared sample units.
    pub fn power(&self, samples: &[i16]) -> f32 {
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in samples {
            let s0 = f32::from(x) + self.coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - self.coeff * s1 * s2
    }

    /// The share of the block's energy at this frequency: `2 |X(f)|^2 / (N * energy)`,
    /// where `energy` is [`energy`]`(samples)`. About 1.0 for a pure tone at the filter's
    /// frequency; 0.0 for an empty or silent block.
    pub fn relative_power(&self, samples: &[i16], energy: f32) -> f32 {
        relative(self.power(samples), samples.len(), energy)
    }
}

/// Normalises a bin power to the share of the block's energy (see
/// [`Goertzel::relative_power`]).
pub fn relative(power: f32, n: usize, energy: f32) -> f32 {
    if n == 0 || energy <= 0.0 {
        return 0.0;
    }
    2.0 * power / (n as f32 * energy)
}

/// The block's energy: the sum of its squared samples.
pub fn energy(samples: &[i16]) -> f32 {
    samples
        .iter()
        .map(|&x| {
            let v = f32::from(x);
            v * v
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sine(freq: f32, amp: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f32 / 8000.0).sin()) as i16)
            .collect()
    }

    #[test]
    fn a_tone_scores_one_at_its_frequency_and_little_elsewhere() {
        let x = sine(1000.0, 8000.0, 160);
        let e = energy(&x);
        let on = Goertzel::new(1000.0, 8000).relative_power(&x, e);
        let off = Goertzel::new(1300.0, 8000).relative_power(&x, e);
        assert!((on - 1.0).abs() < 0.02, "{on}");
        assert!(off < 0.01, "{off}");
    }

    #[test]
    fn the_ratio_does_not_depend_on_level() {
        for amp in [300.0, 3000.0, 30000.0] {
            let x = sine(425.0, amp, 160);
            let p = Goertzel::new(425.0, 8000).relative_power(&x, energy(&x));
            assert!((p - 1.0).abs() < 0.05, "{amp}: {p}");
        }
    }

    #[test]
    fn two_equal_tones_share_the_energy() {
        let a = sine(400.0, 5000.0, 160);
        let b = sine(450.0, 5000.0, 160);
        let x: Vec<i16> = a.iter().zip(&b).map(|(p, q)| p + q).collect();
        let e = energy(&x);
        let p1 = Goertzel::new(400.0, 8000).relative_power(&x, e);
        let p2 = Goertzel::new(450.0, 8000).relative_power(&x, e);
        assert!(
            (p1 - 0.5).abs() < 0.05 && (p2 - 0.5).abs() < 0.05,
            "{p1} {p2}"
        );
    }

    #[test]
    fn empty_and_silent_blocks_score_zero() {
        let g = Goertzel::new(440.0, 0);
        assert_eq!(g.relative_power(&[], 0.0), 0.0);
        assert_eq!(g.relative_power(&[0; 160], 0.0), 0.0);
        assert_eq!(g.freq_hz(), 440.0);
    }
}
