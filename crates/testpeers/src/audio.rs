//! Audio checks for the tests: WAV files read (what baresip recorded, the dialer's recordings,
//! written while still open or finished; G.711 and WAV parsing are `media`'s, the dialer's own
//! code, not copies), and two measures: the energy of a
//! signal (mean absolute amplitude: is someone talking?) and the level of one frequency in it
//! (is that the ringback, the beep, the special information tone?).
//!
//! Nothing here panics on the bytes of a file; [`energy`] panics (with the reason) only because
//! a test wants a number, not a `Result`.

use std::path::Path;

use media::wav::WavReader;

use crate::error::Error;

/// Decoded audio: interleaved 16-bit samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// Samples per second, per channel.
    pub sample_rate: u32,
    /// Channels, interleaved in `samples`.
    pub channels: u16,
    /// The samples, frame by frame.
    pub samples: Vec<i16>,
}

impl Wav {
    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        let frames = self.samples.len() / usize::from(self.channels.max(1));
        frames as f64 / f64::from(self.sample_rate.max(1))
    }

    /// One channel's samples (0 is the first; an absent channel is empty).
    pub fn channel(&self, index: u16) -> Vec<i16> {
        let channels = usize::from(self.channels.max(1));
        self.samples
            .iter()
            .skip(usize::from(index))
            .step_by(channels)
            .copied()
            .collect()
    }

    /// The energy ([`mean_abs`]) of each channel: a two-party recording has one party a side.
    pub fn channel_energies(&self) -> Vec<f64> {
        (0..self.channels)
            .map(|c| mean_abs(&self.channel(c)))
            .collect()
    }

    /// The frames between `from` and `to` seconds (clamped to the audio).
    pub fn between(&self, from: f64, to: f64) -> Wav {
        let channels = usize::from(self.channels.max(1));
        let frames = self.samples.len() / channels;
        let frame_at = |secs: f64| -> usize {
            let frame = (secs.max(0.0) * f64::from(self.sample_rate)) as usize;
            frame.min(frames)
        };
        let (start, end) = (frame_at(from), frame_at(to));
        let samples = self
            .samples
            .get(start * channels..end.max(start) * channels)
            .unwrap_or_default()
            .to_vec();
        Wav {
            sample_rate: self.sample_rate,
            channels: self.channels,
            samples,
        }
    }

    /// The energy of all channels together.
    pub fn energy(&self) -> f64 {
        mean_abs(&self.samples)
    }
}

/// Mean absolute amplitude of 16-bit samples: about 0 for silence (G.711 silence decodes to
/// 0 or 8), hundreds for line noise, thousands for speech at a normal level. 0 when empty.
pub fn mean_abs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|s| f64::from(*s).abs()).sum();
    sum / samples.len() as f64
}

/// The energy ([`mean_abs`]) of a WAV file (16-bit PCM, A-law or µ-law; all channels).
///
/// # Panics
/// If the file cannot be read or is not such a WAV; [`try_energy`] returns the error instead.
pub fn energy(wav: &Path) -> f64 {
    match try_energy(wav) {
        Ok(energy) => energy,
        Err(e) => panic!("energy of {}: {e}", wav.display()),
    }
}

/// The energy of a WAV file, or why it could not be read.
pub fn try_energy(wav: &Path) -> Result<f64, Error> {
    Ok(read_wav(wav)?.energy())
}

/// The amplitude of the `freq` Hz component of `samples` (Goertzel): a sine of amplitude A at
/// that frequency gives about A, other frequencies little. Compare it with [`mean_abs`] of
/// the same samples (a pure sine has a mean absolute amplitude of 0.64 A).
pub fn tone_level(samples: &[i16], sample_rate: u32, freq: f64) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let n = samples.len() as f64;
    let omega = 2.0 * std::f64::consts::PI * freq / f64::from(sample_rate);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for sample in samples {
        let s0 = f64::from(*sample) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / n
}

/// Reads a WAV file: PCM 16-bit (plain or WAVE_FORMAT_EXTENSIBLE), A-law or µ-law, any
/// channels. A file still being written (its sizes not filled in yet, as baresip's sndfile
/// leaves them until the call ends) is read to its current end.
pub fn read_wav(path: &Path) -> Result<Wav, Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_wav(&bytes).map_err(|reason| Error::Wav {
        path: path.to_path_buf(),
        reason,
    })
}

/// The WAV format code [`write_wav`] writes.
const FORMAT_PCM: u16 = 1;

/// Parses the bytes of a WAV file (see [`read_wav`]) with the dialer's own reader
/// (`media::wav`), so the tests read recordings the way the product does.
pub fn parse_wav(bytes: &[u8]) -> Result<Wav, String> {
    let reader = WavReader::new(bytes).map_err(|e| e.to_string())?;
    let format = reader.format();
    let channels = (0..format.channels)
        .map(|c| reader.channel(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let frames = channels.first().map_or(0, Vec::len);
    let samples = (0..frames)
        .flat_map(|i| channels.iter().filter_map(move |c| c.get(i).copied()))
        .collect();
    Ok(Wav {
        sample_rate: format.sample_rate,
        channels: format.channels,
        samples,
    })
}

/// Writes 16-bit PCM samples as a WAV file.
pub fn write_wav(path: &Path, wav: &Wav) -> Result<(), Error> {
    let data_len = wav.samples.len() * 2;
    let block_align = wav.channels.saturating_mul(2);
    let mut bytes = Vec::with_capacity(44 + data_len);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&FORMAT_PCM.to_le_bytes());
    bytes.extend_from_slice(&wav.channels.to_le_bytes());
    bytes.extend_from_slice(&wav.sample_rate.to_le_bytes());
    bytes.extend_from_slice(&(wav.sample_rate * u32::from(block_align)).to_le_bytes());
    bytes.extend_from_slice(&block_align.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data_len as u32).to_le_bytes());
    for sample in &wav.samples {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, rate: u32, secs: f64) -> Vec<i16> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn tone_level_finds_the_frequency_and_not_its_neighbours() {
        let tone = sine(1000.0, 8000.0, 8000, 0.4);
        assert!((tone_level(&tone, 8000, 1000.0) - 8000.0).abs() < 200.0);
        assert!(tone_level(&tone, 8000, 440.0) < 200.0);
        // 2A/pi for a continuous sine; 1 kHz sampled at 8 kHz hits only 8 phases (0.60 A).
        assert!((mean_abs(&tone) - 8000.0 * 2.0 / std::f64::consts::PI).abs() < 300.0);
    }

    #[test]
    fn wav_round_trips_and_an_unfinished_one_reads_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let wav = Wav {
            sample_rate: 8000,
            channels: 2,
            samples: vec![100, -2000, 100, -2000, 0, 0],
        };
        write_wav(&path, &wav).unwrap();
        let read = read_wav(&path).unwrap();
        assert_eq!(read, wav);
        assert_eq!(read.channel_energies(), vec![200.0 / 3.0, 4000.0 / 3.0]);
        assert_eq!(read.between(0.0, 1.0 / 8000.0).samples, vec![100, -2000]);

        // Sizes zeroed, as a recorder leaves them while the file is open.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_wav(&bytes).unwrap().samples.len(), 6);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_wav(b"").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff").is_err());
        assert!(parse_wav(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0\x01\x02\x03\x04").is_err());
        let mut odd = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
        odd.extend_from_slice(&[7, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0]);
        odd.extend_from_slice(b"data\x03\0\0\0\xff\xff\x00");
        let wav = parse_wav(&odd).unwrap();
        assert_eq!(wav.samples, vec![0, 0, -32124]);
    }
}
