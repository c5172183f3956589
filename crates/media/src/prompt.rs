//! Prerecorded messages as audio: the safe-harbor message an abandoned debtor hears before
//! the hang-up, the limited-content voicemail dropped after the beep.
//!
//! A [`Prompt`] holds 8 kHz 16-bit linear samples, loaded once from the operator's WAV
//! (PCM 16-bit, u-law or A-law; mono, 8 kHz: telephony audio, so no resampling here and
//! anything else is refused with a clear [`WavError`]) and encoded per call in the law
//! and packet time the call negotiated. Tones and silence are built in, for tests and as
//! fallbacks when a campaign's message cannot be loaded.

use crate::g711::Law;
use crate::wav::{Encoding, SAMPLE_RATE, WavError, WavReader};

/// A message to play, as 8 kHz linear samples.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    samples: Vec<i16>,
}

/// Only the length: a prompt's audio has no place in logs.
impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("duration_ms", &self.duration_ms())
            .finish()
    }
}

/// Samples per millisecond at 8 kHz.
const PER_MS: usize = (SAMPLE_RATE / 1000) as usize;

impl Prompt {
    /// Loads a WAV file: 8 kHz mono PCM 16-bit, u-law or A-law.
    pub fn from_wav(bytes: &[u8]) -> Result<Prompt, WavError> {
        let wav = WavReader::new(bytes)?;
        let f = wav.format();
        if let Encoding::Other { tag, bits } = f.encoding {
            return Err(WavError::UnsupportedEncoding { tag, bits });
        }
        if f.sample_rate != SAMPLE_RATE {
            return Err(WavError::UnsupportedRate(f.sample_rate));
        }
        if f.channels != 1 {
            return Err(WavError::UnsupportedChannels(f.channels));
        }
        let samples = wav.channel(0)?;
        if samples.is_empty() {
            return Err(WavError::Empty);
        }
        Ok(Prompt { samples })
    }

    /// A prompt of these samples (8 kHz).
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt { samples }
    }

    /// A sine tone of `freq_hz` lasting `ms`, at about -10 dBFS.
    pub fn tone(freq_hz: u32, ms: u32) -> Prompt {
        let n = ms as usize * PER_MS;
        let step = std::f64::consts::TAU * f64::from(freq_hz) / f64::from(SAMPLE_RATE);
        let samples = (0..n)
            .map(|i| (10_362.0 * (step * i as f64).sin()) as i16)
            .collect();
        Prompt { samples }
    }

    /// `ms` of silence.
    pub fn silence(ms: u32) -> Prompt {
        Prompt {
            samples: vec![0; ms as usize * PER_MS],
        }
    }

    /// This prompt followed by `next`.
    pub fn then(mut self, next: &Prompt) -> Prompt {
        self.samples.extend_from_slice(&next.samples);
        self
    }

    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / PER_MS as u64
    }

    /// The whole prompt encoded in `law` (to cache per law).
    pub fn encode(&self, law: Law) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.samples.len());
        law.encode_into(&self.samples, &mut out);
        out
    }

    /// The prompt as RTP payloads of `ptime_ms` (20 or 30 on trunks; clamped to 10..=120),
    /// the last one padded with silence to a whole packet.
    pub fn frames(&self, law: Law, ptime_ms: u32) -> Frames<'_> {
        Frames {
            samples: &self.samples,
            law,
            frame: ptime_ms.clamp(10, 120) as usize * PER_MS,
        }
    }
}

/// The payloads of a prompt, one packet each; see [`Prompt::frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    samples: &'a [i16],
    law: Law,
    frame: usize,
}

impl Frames<'_> {
    /// Samples per packet: the timestamp step to send each payload with.
    pub fn samples_per_frame(&self) -> u32 {
        self.frame as u32
    }

    /// Writes the next payload into `out` (cleared first) without allocating once `out`
    /// has grown; `false` at the end.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.samples.is_empty() {
            return false;
        }
        let n = self.frame.min(self.samples.len());
        let (now, rest) = self.samples.split_at(n);
        self.law.encode_into(now, out);
        out.resize(self.frame, self.law.silence());
        self.samples = rest;
        true
    }
}

impl Iterator for Frames<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.frame);
        self.next_into(&mut out).then_some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.samples.len().div_ceil(self.frame);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Frames<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::{Channel, Format, Recorder};
    use proptest::prelude::*;

    fn mono_wav(tag: u16, bits: u16, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
        let align = channels.wrapping_mul(bits) / 8;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        v.extend_from_slice(&align.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn the_three_telephony_formats_load() {
        let pcm = mono_wav(1, 16, 8000, 1, &[0x10, 0x00, 0xF0, 0xFF]);
        assert_eq!(Prompt::from_wav(&pcm).unwrap().samples(), [16, -16]);
        let ulaw = mono_wav(7, 8, 8000, 1, &[0x80, 0xFF]);
        assert_eq!(Prompt::from_wav(&ulaw).unwrap().samples(), [32124, 0]);
        let alaw = mono_wav(6, 8, 8000, 1, &[0xD5]);
        assert_eq!(Prompt::from_wav(&alaw).unwrap().samples(), [8]);
    }

    #[test]
    fn other_formats_are_refused_with_the_reason() {
        let cd = mono_wav(1, 16, 44_100, 2, &[0; 8]);
        assert_eq!(
            Prompt::from_wav(&cd),
            Err(WavError::UnsupportedRate(44_100))
        );
        let stereo = mono_wav(1, 16, 8000, 2, &[0; 8]);
        assert_eq!(
            Prompt::from_wav(&stereo),
            Err(WavError::UnsupportedChannels(2))
        );
        let float = mono_wav(3, 32, 8000, 1, &[0; 8]);
        assert_eq!(
            Prompt::from_wav(&float),
            Err(WavError::UnsupportedEncoding { tag: 3, bits: 32 })
        );
        let empty = mono_wav(1, 16, 8000, 1, &[]);
        assert_eq!(Prompt::from_wav(&empty), Err(WavError::Empty));
        assert_eq!(Prompt::from_wav(b"ID3"), Err(WavError::NotRiff));
    }

    #[test]
    fn frames_are_whole_packets() {
        let p = Prompt::tone(440, 50);
        assert_eq!(p.duration_ms(), 50);
        let frames: Vec<Vec<u8>> = p.frames(Law::Pcmu, 20).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.len() == 160));
        // The last 10 ms are padding.
        assert!(frames[2][80..].iter().all(|&b| b == 0xFF));
        assert_ne!(frames[0], frames[1]);
        let thirty = p.frames(Law::Pcma, 30);
        assert_eq!(thirty.len(), 2);
        assert_eq!(thirty.samples_per_frame(), 240);
        let joined = Prompt::silence(20).then(&p);
        assert_eq!(joined.duration_ms(), 70);
        assert!(
            joined
                .frames(Law::Pcma, 20)
                .next()
                .unwrap()
                .iter()
                .all(|&b| b == 0xD5)
        );
        assert_eq!(format!("{joined:?}"), "Prompt { duration_ms: 70 }");
    }

    #[test]
    fn the_tone_has_its_frequency() {
        // 1 kHz over 1 s: 2000 zero crossings.
        let p = Prompt::tone(1000, 1000);
        let crossings = p
            .samples()
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        assert!((1990..=2010).contains(&crossings), "{crossings}");
        assert!(p.samples().iter().all(|s| s.unsigned_abs() <= 10_362));
    }

    #[test]
    fn a_recorded_file_loads_back_as_a_prompt_per_channel() {
        // The recorder's output is stereo: refused as a prompt, clearly.
        let mut file = std::io::Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut file, Format::Pcm16Stereo).unwrap();
        rec.push(Channel::Agent, 0, Prompt::tone(400, 20).samples())
            .unwrap();
        rec.finish().unwrap();
        assert_eq!(
            Prompt::from_wav(file.get_ref()),
            Err(WavError::UnsupportedChannels(2))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Prompt::from_wav(&bytes);
        }

        #[test]
        fn arbitrary_formats_never_panic(
            tag in prop_oneof![Just(1u16), Just(6), Just(7), any::<u16>()],
            bits in prop_oneof![Just(8u16), Just(16), any::<u16>()],
            channels in 0u16..4,
            data in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let bytes = mono_wav(tag, bits, 8000, channels, &data);
            if let Ok(p) = Prompt::from_wav(&bytes) {
                prop_assert!(!p.samples().is_empty());
            }
        }

        #[test]
        fn pcm_prompts_load_exactly(samples in proptest::collection::vec(any::<i16>(), 1..500), ptime in prop_oneof![Just(20u32), Just(30)]) {
            let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let p = Prompt::from_wav(&mono_wav(1, 16, 8000, 1, &data)).unwrap();
            prop_assert_eq!(p.samples(), &samples[..]);
            let frames: Vec<Vec<u8>> = p.frames(Law::Pcmu, ptime).collect();
            let per = ptime as usize * 8;
            prop_assert_eq!(frames.len(), samples.len().div_ceil(per));
            let flat: Vec<u8> = frames.concat();
            prop_assert_eq!(&flat[..samples.len()], &p.encode(Law::Pcmu)[..]);
        }
    }
}
