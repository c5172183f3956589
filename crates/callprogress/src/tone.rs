//! What early media sounds like before an answer: ringback, a busy tone, a special
//! information tone (SIT: the number is not in service), speech, or silence.
//!
//! Each 20 ms frame is classed by eleven Goertzel filters: the low tone plans (North
//! American ringback 440+480 Hz, UK ringback 400+450 Hz, European 425 Hz), North American
//! busy and reorder (480+620 Hz), and the five SIT frequencies. The low plans are one
//! family on purpose: 425 and 440 Hz are 15 Hz apart, closer than a 20 ms frame resolves,
//! and the cadence tells ringback from busy anyway:
//!
//! - low tone lasting 800 ms: ringback (North America 2 s on, Europe 1 s on);
//! - low tone in UK double rings (about 0.4 s on, 0.2 s off, 0.4 s on, then a long off):
//!   ringback;
//! - low tone in two like cycles of 180-700 ms on and 100-700 ms off: busy (Europe's 0.5/0.5,
//!   UK 0.375/0.375, congestion 0.25/0.25);
//! - 480+620 Hz for 200 ms: busy (North America's busy and reorder; the pair is used for
//!   nothing else);
//! - three ascending SIT segments (913.8 or 985.2, then 1370.6 or 1428.5, then 1776.7 Hz,
//!   each 274 or 380 ms): SIT, as soon as the third has lasted 100 ms;
//! - 400 ms of energy that is none of these (reset by any tone) and stands 10 dB above the
//!   line's noise floor: speech (or music);
//! - 6 s of silence (or of the noise floor), longer than any ringback's off time: silence.
//!
//! The noise floor is the quietest recent frame level, allowed to rise 3 dB a second: a
//! noisy trunk's hiss between ringback bursts is not speech.
//!
//! Busy and SIT are final: the announcement after a SIT does not make the call "speech".

use crate::frame::{FRAME_MS, FRAME_SAMPLES, Frames, level};
use crate::goertzel::{Goertzel, energy, relative};

/// An early-media class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    Ringback,
    /// Busy or reorder (congestion).
    Busy,
    /// Special information tone: a number not in service, changed, or unreachable.
    Sit,
    /// Energy that is not a tone: an announcement, speech or music.
    Speech,
    Silence,
}

impl Tone {
    /// Busy and SIT end the classification: what follows them does not change it.
    pub const fn is_final(self) -> bool {
        matches!(self, Tone::Busy | Tone::Sit)
    }
}

const FREQS: [f32; 11] = [
    400.0, 425.0, 440.0, 450.0, 480.0, 620.0, 913.8, 985.2, 1370.6, 1428.5, 1776.7,
];
/// The share of a frame's energy its tone plan must hold.
const TONAL: f32 = 0.6;
const SPEECH_MS: u32 = 400;
const SILENCE_MS: u32 = 6000;
/// How far above the noise floor (mean absolute amplitude, x3 = about 10 dB) speech stands.
const ABOVE_FLOOR: f32 = 3.0;
/// The noise floor's rise per frame: 3 dB a second at 50 frames a second.
const FLOOR_RISE: f32 = 1.006_932;

/// A frame's class, for cadence: a tone family, or off (silence or other energy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Off,
    /// 400-480 Hz: ringback or a European/UK busy, by cadence.
    Low,
    /// 480+620 Hz.
    High,
    /// SIT segment 0, 1 or 2.
    Sit(u8),
}

/// Completed runs kept for cadence (the SIT and busy patterns need at most five).
const HISTORY: usize = 6;

/// Early-media classifier for one call leg; feed it the audio of a 183 (or ringback).
#[derive(Debug, Clone)]
pub struct ToneDetector {
    frames: Frames,
    filters: [Goertzel; 11],
    threshold: u32,
    /// The line's noise floor, as a frame level.
    floor: f32,
    elapsed_ms: u32,
    /// Completed runs, oldest first; `len` of them valid.
    history: [(Kind, u32); HISTORY],
    len: usize,
    run: (Kind, u32),
    speech_ms: u32,
    silence_ms: u32,
    current: Option<Tone>,
}

impl Default for ToneDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl ToneDetector {
    /// A detector that takes frames below a mean absolute amplitude of 128 (about
    /// -48 dBFS) as silence.
    pub fn new() -> Self {
        Self::with_threshold(128)
    }

    /// A detector with another silence threshold (mean absolute amplitude).
    pub fn with_threshold(silence_threshold: u16) -> Self {
        ToneDetector {
            frames: Frames::new(),
            filters: FREQS.map(|f| Goertzel::new(f, crate::SAMPLE_RATE)),
            threshold: u32::from(silence_threshold),
            floor: f32::from(silence_threshold),
            elapsed_ms: 0,
            history: [(Kind::Off, 0); HISTORY],
            len: 0,
            run: (Kind::Off, 0),
            speech_ms: 0,
            silence_ms: 0,
            current: None,
        }
    }

    /// Feeds 8 kHz samples; answers when a class is established that differs from the
    /// last one answered (the latest, if one push establishes several).
    pub fn push(&mut self, samples: &[i16]) -> Option<Tone> {
        let mut changed = None;
        let mut rest = samples;
        while let Some(frame) = self.frames.next(&mut rest) {
            if let Some(t) = self.frame(&frame) {
                changed = Some(t);
            }
        }
        changed
    }

    /// The class established so far.
    pub fn current(&self) -> Option<Tone> {
        self.current
    }

    /// Audio fed so far, in whole frames.
    pub fn elapsed_ms(&self) -> u32 {
        self.elapsed_ms
    }

    /// The frame's kind, and whether it has energy (a tone, or anything 10 dB above the
    /// noise floor).
    fn classify(&mut self, frame: &[i16]) -> (Kind, bool) {
        let level = level(frame);
        let floor = self.floor;
        self.floor = (level as f32).min(floor * FLOOR_RISE).max(1.0);
        if level < self.threshold {
            return (Kind::Off, false);
        }
        let e = energy(frame);
        let p = self
            .filters
            .map(|g| relative(g.power(frame), FRAME_SAMPLES, e));
        let [p400, p425, p440, p450, p480, p620, s0a, s0b, s1a, s1b, s2] = p;
        if p620 >= 0.25 && p480 + p620 >= TONAL {
            return (Kind::High, true);
        }
        if (p400 + p450).max(p425).max(p440 + p480) >= TONAL {
            return (Kind::Low, true);
        }
        let sit = [s0a.max(s0b), s1a.max(s1b), s2];
        let (best, score) =
            sit.iter().enumerate().fold(
                (0u8, 0.0f32),
                |acc, (i, &s)| if s > acc.1 { (i as u8, s) } else { acc },
            );
        if score >= TONAL {
            return (Kind::Sit(best), true);
        }
        (Kind::Off, level as f32 >= ABOVE_FLOOR * floor)
    }

    fn frame(&mut self, frame: &[i16; FRAME_SAMPLES]) -> Option<Tone> {
        self.elapsed_ms = self.elapsed_ms.saturating_add(FRAME_MS);
        let (kind, energetic) = self.classify(frame);
        if kind == self.run.0 {
            self.run.1 = self.run.1.saturating_add(FRAME_MS);
        } else {
            self.push_run(self.run);
            self.run = (kind, FRAME_MS);
        }
        self.silence_ms = if energetic {
            0
        } else {
            self.silence_ms.saturating_add(FRAME_MS)
        };
        match (kind, energetic) {
            (Kind::Off, true) => self.speech_ms = self.speech_ms.saturating_add(FRAME_MS),
            (Kind::Off, false) => {}
            _ => self.speech_ms = 0,
        }
        let class = self.cadence()?;
        if self.current == Some(class) || self.current.is_some_and(Tone::is_final) {
            return None;
        }
        self.current = Some(class);
        Some(class)
    }

    fn push_run(&mut self, run: (Kind, u32)) {
        if self.len == HISTORY {
            self.history.rotate_left(1);
            self.len -= 1;
        }
        if let Some(slot) = self.history.get_mut(self.len) {
            *slot = run;
            self.len += 1;
        }
    }

    /// The completed run `back` places before the current one (1 = the last completed).
    fn before(&self, back: usize) -> Option<(Kind, u32)> {
        let i = self.len.checked_sub(back)?;
        self.history.get(i).copied()
    }

    /// The class the cadence so far establishes, if any.
    fn cadence(&self) -> Option<Tone> {
        let (kind, dur) = self.run;
        let within = |d: u32, lo: u32, hi: u32| (lo..=hi).contains(&d);
        match kind {
            Kind::High if dur >= 200 => return Some(Tone::Busy),
            Kind::Low if dur >= 800 => return Some(Tone::Ringback),
            Kind::Sit(2) if dur >= 100 && self.sit_before() => return Some(Tone::Sit),
            _ => {}
        }
        // A low tone's on/off cycles, read back from the run in progress.
        if let (Kind::Low, Some((Kind::Off, f2)), Some((Kind::Low, o2))) =
            (kind, self.before(1), self.before(2))
        {
            // A third burst has begun: two like cycles of on/off before it are busy.
            if let (Some((Kind::Off, f1)), Some((Kind::Low, o1))) = (self.before(3), self.before(4))
            {
                let on = |o| within(o, 180, 700);
                let off = |f| within(f, 100, 700);
                if on(o1)
                    && on(o2)
                    && off(f1)
                    && off(f2)
                    && o1.abs_diff(o2) <= 100
                    && f1.abs_diff(f2) <= 150
                {
                    return Some(Tone::Busy);
                }
            }
        }
        if let (Kind::Off, Some((Kind::Low, o2)), Some((Kind::Off, f1)), Some((Kind::Low, o1))) =
            (kind, self.before(1), self.before(2), self.before(3))
        {
            // UK double ring: 0.4 on, 0.2 off, 0.4 on, then 2 s off.
            let ring = |o| within(o, 250, 550);
            if dur >= 1000 && ring(o1) && ring(o2) && within(f1, 100, 300) {
                return Some(Tone::Ringback);
            }
        }
        if self.speech_ms >= SPEECH_MS {
            return Some(Tone::Speech);
        }
        if self.silence_ms >= SILENCE_MS {
            return Some(Tone::Silence);
        }
        None
    }

    /// Whether the completed runs end with SIT segments 0 and 1 of plausible length, each
    /// followed by at most 60 ms of something else.
    fn sit_before(&self) -> bool {
        let mut back = 1;
        for want in [1u8, 0] {
            if let Some((Kind::Off, d)) = self.before(back) {
                if d > 60 {
                    return false;
                }
                back += 1;
            }
            match self.before(back) {
                Some((Kind::Sit(s), d)) if s == want && (150..=450).contains(&d) => back += 1,
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{cadence, dual, noise, silence, sine};

    fn classes(x: &[i16]) -> Vec<(u32, Tone)> {
        let mut d = ToneDetector::new();
        x.chunks(160)
            .filter_map(|c| d.push(c).map(|t| (d.elapsed_ms(), t)))
            .collect()
    }

    fn first(x: &[i16]) -> Option<(u32, Tone)> {
        classes(x).first().copied()
    }

    #[test]
    fn north_american_ringback() {
        let x = cadence(&|n| dual(440.0, 480.0, 4000.0, n), &[(2000, 4000)], 12_000);
        assert_eq!(classes(&x), vec![(800, Tone::Ringback)]);
    }

    #[test]
    fn european_ringback_is_one_second_on() {
        let x = cadence(&|n| sine(425.0, 6000.0, n), &[(1000, 4000)], 10_000);
        assert_eq!(classes(&x), vec![(800, Tone::Ringback)]);
    }

    #[test]
    fn uk_ringback_is_a_double_ring() {
        let x = cadence(
            &|n| dual(400.0, 450.0, 4000.0, n),
            &[(400, 200), (400, 2000)],
            6000,
        );
        let got = classes(&x);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, Tone::Ringback);
        assert!((2000..=2100).contains(&got[0].0), "{got:?}");
    }

    #[test]
    fn european_and_uk_busy_by_cadence() {
        let x = cadence(&|n| sine(425.0, 6000.0, n), &[(500, 500)], 5000);
        let (at, t) = first(&x).expect("class");
        assert_eq!(t, Tone::Busy);
        assert!((2000..=2060).contains(&at), "{at}");
        let x = cadence(&|n| sine(400.0, 6000.0, n), &[(375, 375)], 5000);
        assert_eq!(first(&x).map(|c| c.1), Some(Tone::Busy));
        let x = cadence(&|n| sine(425.0, 6000.0, n), &[(250, 250)], 5000);
        assert_eq!(first(&x).map(|c| c.1), Some(Tone::Busy));
    }

    #[test]
    fn north_american_busy_and_reorder() {
        let x = cadence(&|n| dual(480.0, 620.0, 4000.0, n), &[(500, 500)], 3000);
        assert_eq!(classes(&x), vec![(200, Tone::Busy)]);
        let mut x = silence(8 * 110); // the tone starts mid-frame
        x.extend(cadence(
            &|n| dual(480.0, 620.0, 4000.0, n),
            &[(250, 250)],
            3000,
        ));
        let (at, t) = first(&x).expect("class");
        assert_eq!(t, Tone::Busy);
        assert!((300..=340).contains(&at), "{at}");
    }

    fn sit(first: f32, second: f32, ms: usize) -> Vec<i16> {
        let mut x = silence(1600);
        x.extend(sine(first, 6000.0, ms * 8));
        x.extend(sine(second, 6000.0, ms * 8));
        x.extend(sine(1776.7, 6000.0, 380 * 8));
        x.extend(noise(3, 4000.0, 16_000)); // the announcement
        x
    }

    #[test]
    fn sit_as_soon_as_the_third_segment_is_heard_and_it_stays() {
        for (a, b, ms) in [
            (913.8, 1370.6, 274),
            (985.2, 1428.5, 380),
            (913.8, 1428.5, 274),
        ] {
            let got = classes(&sit(a, b, ms));
            assert_eq!(got.len(), 1, "{a} {b}: {got:?}");
            let (at, t) = got[0];
            assert_eq!(t, Tone::Sit);
            let third = 200 + 2 * ms as u32;
            assert!((third + 100..=third + 160).contains(&at), "{at}");
        }
    }

    #[test]
    fn sit_segments_out_of_order_are_not_sit() {
        let mut x = silence(800);
        x.extend(sine(1776.7, 6000.0, 2400));
        x.extend(sine(1370.6, 6000.0, 2400));
        x.extend(sine(913.8, 6000.0, 2400));
        x.extend(silence(800));
        assert!(!classes(&x).iter().any(|c| c.1 == Tone::Sit));
    }

    #[test]
    fn speech_is_energy_without_a_tone() {
        let mut x = silence(800);
        x.extend(noise(9, 3000.0, 8000));
        assert_eq!(classes(&x), vec![(500, Tone::Speech)]);
    }

    #[test]
    fn silence_after_six_seconds_and_then_ringback() {
        let mut x = silence(8000 * 7);
        x.extend(cadence(
            &|n| dual(440.0, 480.0, 4000.0, n),
            &[(2000, 4000)],
            6000,
        ));
        assert_eq!(
            classes(&x),
            vec![(6000, Tone::Silence), (7800, Tone::Ringback)]
        );
    }

    #[test]
    fn a_whole_file_in_one_push_answers_the_latest_class() {
        let mut x = cadence(&|n| dual(440.0, 480.0, 4000.0, n), &[(2000, 4000)], 6000);
        x.extend(noise(5, 3000.0, 8000));
        let mut d = ToneDetector::default();
        assert_eq!(d.push(&x), Some(Tone::Speech));
        assert_eq!(d.current(), Some(Tone::Speech));
        assert_eq!(d.push(&noise(6, 3000.0, 800)), None);
    }

    #[test]
    fn busy_is_final() {
        let mut x = cadence(&|n| dual(480.0, 620.0, 4000.0, n), &[(500, 500)], 2000);
        x.extend(noise(5, 3000.0, 8000));
        assert_eq!(classes(&x), vec![(200, Tone::Busy)]);
    }
}
