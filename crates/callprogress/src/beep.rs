//! Voicemail beeps: one steady tone between 400 and 2100 Hz lasting at least 120 ms (six
//! whole 20 ms frames), with 85 % of each frame's energy in one Goertzel bin.
//!
//! Speech comes close: a vowel's harmonic can hold 85 % of a frame's energy near 400-500 Hz
//! for up to four frames in the corpus (espeak-ng voices); six frames keep a margin, and a
//! real beep (a pure tone, 90 % and more even under line noise and G.711) lasts 200 ms and
//! more.
//!
//! Two uses. During analysis, [`crate::Detector`] runs the same tracker and calls a beep a
//! machine (app_amd has no such cause; a short "leave a message" greeting would otherwise
//! pass for a person's). After a machine verdict, [`BeepDetector`] says when the beep has
//! ended, which is when a voicemail drop should start so the message is recorded whole.
//!
//! The tone's frequency is not known in advance, so each voiced frame's zero crossings give
//! an estimate (within a few Hz for a tone) and a Goertzel filter there measures how much of
//! the frame's energy it holds (four more filters either side when noise blurs the
//! estimate): one filter per voiced frame, instead of a bank of seventy over the band.

use crate::frame::{FRAME_MS, FRAME_SAMPLES, Frames, level};
use crate::goertzel::{Goertzel, relative};

/// Lowest and highest beep frequency accepted, in Hz.
pub const BEEP_MIN_HZ: u32 = 400;
pub const BEEP_MAX_HZ: u32 = 2100;
/// Consecutive tonal frames that make a beep.
pub const BEEP_MIN_FRAMES: u32 = 6;
/// The share of a frame's energy that must sit in the tone's bin.
const TONAL_RATIO: f32 = 0.85;
/// How far (Hz) a beep's frames may wander from its first frame's frequency.
const STEADY_HZ: u32 = 50;

/// A beep that has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beep {
    /// Its frequency, within about 10 Hz.
    pub freq_hz: u32,
    /// Audio time of its first whole tonal frame, from the detector's start.
    pub start_ms: u32,
    /// Audio time of the end of the frame in which it stopped: from here on the line is the
    /// recorder's.
    pub end_ms: u32,
}

/// What one frame did to the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BeepEvent {
    /// A tone has lasted [`BEEP_MIN_FRAMES`]: a beep is playing.
    Started { freq_hz: u32 },
    /// The beep stopped.
    Ended(Beep),
}

/// The frame-by-frame state shared by [`BeepDetector`] and the AMD detector.
#[derive(Debug, Clone)]
pub(crate) struct BeepTracker {
    /// Frequency of the current tonal run (Hz), 0 when none.
    run_freq: u32,
    run_frames: u32,
    run_start_ms: u32,
}

impl BeepTracker {
    pub(crate) fn new() -> Self {
        BeepTracker {
            run_freq: 0,
            run_frames: 0,
            run_start_ms: 0,
        }
    }

    /// One frame ending at `end_ms`; `frame` is `None` for a silent frame (not analysed).
    pub(crate) fn frame(&mut self, frame: Option<&[i16]>, end_ms: u32) -> Option<BeepEvent> {
        let tone = frame.and_then(tone_of);
        match tone {
            Some(f) if self.run_frames > 0 && f.abs_diff(self.run_freq) <= STEADY_HZ => {
                self.run_frames += 1;
                (self.run_frames == BEEP_MIN_FRAMES).then_some(BeepEvent::Started {
                    freq_hz: self.run_freq,
                })
            }
            _ => {
                let ended =
                    (self.run_frames >= BEEP_MIN_FRAMES).then_some(BeepEvent::Ended(Beep {
                        freq_hz: self.run_freq,
                        start_ms: self.run_start_ms,
                        end_ms,
                    }));
                match tone {
                    Some(f) => {
                        self.run_freq = f;
                        self.run_frames = 1;
                        self.run_start_ms = end_ms.saturating_sub(FRAME_MS);
                    }
                    None => {
                        self.run_freq = 0;
                        self.run_frames = 0;
                    }
                }
                ended
            }
        }
    }
}

/// The beep frequency a frame holds, if it is one steady tone in the band.
fn tone_of(frame: &[i16]) -> Option<u32> {
    let n = frame.len();
    let estimate = crossing_frequency(frame)?;
    if !(BEEP_MIN_HZ as f32 - 50.0..=BEEP_MAX_HZ as f32 + 50.0).contains(&estimate) {
        return None;
    }
    let energy = crate::goertzel::energy(frame);
    let share = |f: f32| relative(Goertzel::new(f, crate::SAMPLE_RATE).power(frame), n, energy);
    // One filter at the estimate settles most frames: speech scores far below 0.25 and a
    // tone near 1. Noise can pull the crossings of a tone off by some Hz (12 Hz costs a
    // 20 ms frame 20 % of its score): then look either side.
    let centre = estimate.round();
    let mut best = (share(centre), centre);
    if best.0 < 0.25 {
        return None;
    }
    if best.0 < TONAL_RATIO {
        for df in [-12.5, -6.25, 6.25, 12.5] {
            let p = share(centre + df);
            if p > best.0 {
                best = (p, centre + df);
            }
        }
    }
    let (ratio, freq) = (best.0, best.1.round() as u32);
    (ratio >= TONAL_RATIO && (BEEP_MIN_HZ..=BEEP_MAX_HZ).contains(&freq)).then_some(freq)
}

/// The frequency zero crossings give: a tone of f Hz crosses zero 2 f times a second; the
/// first and last crossings, placed between their samples by linear interpolation, give
/// the time the counted half periods took. Within a few Hz for a tone.
fn crossing_frequency(frame: &[i16]) -> Option<f32> {
    let (mut first, mut last, mut count) = (0.0f32, 0.0f32, 0u32);
    for (i, w) in frame.windows(2).enumerate() {
        if let [a, b] = *w {
            if (a < 0) != (b < 0) {
                let (a, b) = (f32::from(a), f32::from(b));
                let t = i as f32 + a / (a - b);
                if count == 0 {
                    first = t;
                }
                last = t;
                count += 1;
            }
        }
    }
    if count < 3 || last <= first {
        return None;
    }
    Some((count - 1) as f32 * crate::SAMPLE_RATE as f32 / (2.0 * (last - first)))
}

/// Listens for a voicemail beep after a machine verdict; feed it the call's audio from the
/// verdict on. One per call.
#[derive(Debug, Clone)]
pub struct BeepDetector {
    frames: Frames,
    tracker: BeepTracker,
    threshold: u32,
    elapsed_ms: u32,
    silence_ms: u32,
}

impl Default for BeepDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl BeepDetector {
    /// A detector whose silence threshold is app_amd's default (256).
    pub fn new() -> Self {
        Self::with_threshold(256)
    }

    /// A detector with the campaign's silence threshold (mean absolute amplitude below
    /// which a frame is silence and not analysed).
    pub fn with_threshold(silence_threshold: u16) -> Self {
        BeepDetector {
            frames: Frames::new(),
            tracker: BeepTracker::new(),
            threshold: u32::from(silence_threshold),
            elapsed_ms: 0,
            silence_ms: 0,
        }
    }

    /// Feeds 8 kHz samples; answers a beep once it has ended (the frame after its last),
    /// then keeps listening (a machine may beep twice).
    pub fn push(&mut self, samples: &[i16]) -> Option<Beep> {
        let mut found = None;
        let mut rest = samples;
        while let Some(frame) = self.frames.next(&mut rest) {
            if let Some(b) = self.frame(&frame) {
                found = Some(b);
            }
        }
        found
    }

    /// Audio fed so far, in whole frames.
    pub fn elapsed_ms(&self) -> u32 {
        self.elapsed_ms
    }

    /// How long the line has been silent, for a drop on machines that never beep (start
    /// after, say, 1.5 s of silence).
    pub fn trailing_silence_ms(&self) -> u32 {
        self.silence_ms
    }

    fn frame(&mut self, frame: &[i16; FRAME_SAMPLES]) -> Option<Beep> {
        self.elapsed_ms = self.elapsed_ms.saturating_add(FRAME_MS);
        let voiced = level(frame) >= self.threshold;
        self.silence_ms = if voiced {
            0
        } else {
            self.silence_ms.saturating_add(FRAME_MS)
        };
        match self
            .tracker
            .frame(voiced.then_some(&frame[..]), self.elapsed_ms)
        {
            Some(BeepEvent::Ended(b)) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{noise, silence, sine};

    fn run(samples: &[i16]) -> Vec<Beep> {
        let mut d = BeepDetector::new();
        samples
            .chunks(160)
            .filter_map(|c| d.push(c))
            .collect::<Vec<_>>()
    }

    #[test]
    fn a_beep_is_reported_when_it_ends_with_its_frequency() {
        for freq in [440.0, 600.0, 1000.0, 1400.0, 2000.0] {
            let mut x = silence(4000);
            x.extend(sine(freq, 6000.0, 2400)); // 300 ms from 500 ms
            x.extend(silence(4000));
            let beeps = run(&x);
            assert_eq!(beeps.len(), 1, "{freq}");
            let b = beeps[0];
            assert!(b.freq_hz.abs_diff(freq as u32) <= 25, "{freq}: {b:?}");
            assert!((480..=540).contains(&b.start_ms), "{b:?}");
            assert!((800..=840).contains(&b.end_ms), "{b:?}");
        }
    }

    #[test]
    fn short_tones_noise_and_out_of_band_tones_are_not_beeps() {
        let mut x = sine(1000.0, 6000.0, 640); // 80 ms
        x.extend(silence(1600));
        x.extend(noise(1, 3000.0, 8000));
        x.extend(sine(250.0, 6000.0, 4000));
        x.extend(sine(3000.0, 6000.0, 4000));
        x.extend(silence(1600));
        assert!(run(&x).is_empty());
    }

    #[test]
    fn a_noisy_beep_is_still_found() {
        let tone = sine(800.0, 4000.0, 3200);
        let n = noise(7, 400.0, 3200);
        let mut x = silence(800);
        x.extend(tone.iter().zip(&n).map(|(a, b)| a.saturating_add(*b)));
        x.extend(silence(800));
        assert_eq!(run(&x).len(), 1);
    }

    #[test]
    fn trailing_silence_and_elapsed_time_count_frames() {
        let mut d = BeepDetector::default();
        assert_eq!(d.push(&sine(700.0, 6000.0, 1600)), None);
        assert_eq!(d.trailing_silence_ms(), 0);
        let b = d.push(&silence(800)).expect("beep");
        assert_eq!(b.end_ms, 220);
        assert_eq!(d.trailing_silence_ms(), 100);
        assert_eq!(d.elapsed_ms(), 300);
    }
}
