//! Comfort noise (RFC 3389, payload type 13): what a trunk sends instead of audio while a
//! party is silent (voice activity detection on), so the stream goes quiet without looking
//! dead.
//!
//! Receivers here treat it as silence: an answering-machine detector hears "no speech"
//! for as long as the comfort noise stands, and a recording holds silence there. How long
//! it stands is not in the payload: it lasts until the next packet, so [`silence_samples`]
//! turns the two timestamps into the number of silent samples to stand in for it.

use crate::g711::Law;
use crate::rtp::ts_delta;

/// The static payload type of comfort noise.
pub const PAYLOAD_TYPE: u8 = crate::rtp::PT_CN;

/// The longest silence one comfort-noise packet stands for (10 s at 8 kHz); a longer gap
/// is a restarted or broken stream rather than a pause, and is cut here.
pub const MAX_SILENCE_SAMPLES: u32 = 80_000;

/// Why a comfort-noise payload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CnError {
    #[error("comfort-noise payload is empty (the noise level byte is missing)")]
    Empty,
}

/// One comfort-noise payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComfortNoise<'a> {
    /// Noise level in -dBov, 0..=127 (0 is full scale, 127 the quietest).
    pub level: u8,
    /// Spectral reflection coefficients, if the sender gave any (unused here).
    pub coefficients: &'a [u8],
}

impl ComfortNoise<'_> {
    /// Reads a comfort-noise payload; the reserved top bit of the level is ignored.
    pub fn parse(payload: &[u8]) -> Result<ComfortNoise<'_>, CnError> {
        let (&level, coefficients) = payload.split_first().ok_or(CnError::Empty)?;
        Ok(ComfortNoise {
            level: level & 0x7F,
            coefficients,
        })
    }

    /// The noise level in dBov (0 or negative).
    pub fn dbov(&self) -> i16 {
        -i16::from(self.level)
    }

    /// The RMS amplitude of the noise on the 16-bit linear scale (full scale 32767), should a
    /// receiver ever want to generate noise rather than silence.
    pub fn rms(&self) -> f64 {
        32767.0 * 10f64.powf(-f64::from(self.level) / 20.0)
    }
}

/// The silent samples a comfort-noise packet at `cn_timestamp` stands for when the next
/// packet of the stream has `next_timestamp`: their distance, 0 when the next one is not
/// later, at most [`MAX_SILENCE_SAMPLES`].
pub fn silence_samples(cn_timestamp: u32, next_timestamp: u32) -> u32 {
    let gap = ts_delta(next_timestamp, cn_timestamp);
    (gap.max(0) as u32).min(MAX_SILENCE_SAMPLES)
}

/// Appends `samples` bytes of `law`'s silence to `out` (what stands in for comfort noise).
pub fn fill(law: Law, samples: u32, out: &mut Vec<u8>) {
    out.resize(out.len() + samples as usize, law.silence());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_level_and_coefficients_are_read() {
        let cn = ComfortNoise::parse(&[0x40, 1, 2]).unwrap();
        assert_eq!(cn.level, 64);
        assert_eq!(cn.dbov(), -64);
        assert_eq!(cn.coefficients, &[1, 2]);
        assert!((ComfortNoise::parse(&[0]).unwrap().rms() - 32767.0).abs() < 1e-6);
        assert!((ComfortNoise::parse(&[20]).unwrap().rms() - 3276.7).abs() < 1e-3);
        assert_eq!(ComfortNoise::parse(&[0xC0]).unwrap().level, 64);
        assert_eq!(ComfortNoise::parse(&[]), Err(CnError::Empty));
    }

    #[test]
    fn the_silence_lasts_until_the_next_packet() {
        assert_eq!(silence_samples(1000, 1000 + 4000), 4000);
        assert_eq!(silence_samples(u32::MAX - 9, 150), 160);
        assert_eq!(silence_samples(1000, 900), 0);
        assert_eq!(silence_samples(0, 1_000_000), MAX_SILENCE_SAMPLES);
        let mut out = vec![1];
        fill(Law::Pcma, 3, &mut out);
        assert_eq!(out, [1, 0xD5, 0xD5, 0xD5]);
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(cn) = ComfortNoise::parse(&bytes) {
                prop_assert!(cn.level < 128);
                prop_assert_eq!(cn.coefficients.len() + 1, bytes.len());
            }
        }
    }
}
