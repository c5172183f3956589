//! Answering-machine detection: Asterisk app_amd's state machine (apps/app_amd.c,
//! `isAnsweringMachine`), frame for frame, on audio time instead of a channel.
//!
//! What app_amd does, and so what [`Detector`] does on each 20 ms frame:
//!
//! 1. Count the frame into the total; at `total_analysis_ms` give up: NOTSURE (TOOLONG).
//! 2. Ask the DSP whether the frame is silent (mean absolute amplitude below
//!    `silence_threshold`) and how long the silence has lasted (the DSP's `totalsilence`,
//!    reset by any voiced frame).
//! 3. In silence: once it reaches `between_words_silence_ms`, the current word is over.
//!    Still before the first word and silent for `initial_silence_ms`: MACHINE
//!    (INITIALSILENCE). After a greeting has begun and silent for
//!    `after_greeting_silence_ms`: HUMAN (the person said "Hello?" and waits).
//! 4. In voice: consecutive voice of `min_word_ms` after a silence is a new word; a word of
//!    `max_word_ms` is MACHINE (MAXWORDLENGTH); more than `max_words` words is MACHINE
//!    (MAXWORDS); once in the greeting, `greeting_ms` of voice in all is MACHINE
//!    (LONGGREETING); the first word starts the greeting.
//!
//! Faithful details kept on purpose: the detector starts "in a word", so a call that opens
//! on speech does not count that first word (app_amd's `currentState = STATE_IN_WORD`);
//! voice before the first whole word counts towards the greeting; the checks run in
//! app_amd's order. One difference: a gap ([`Detector::push_silence`]) is silence to the
//! DSP too, whereas app_amd's comfort-noise frames bypass the DSP and are forgotten by
//! the next voice frame's silence count.
//!
//! Beyond app_amd, with `detect_beep`: a voicemail beep (see [`crate::beep`]) is MACHINE
//! with cause [`Cause::Beep`], checked before the energy rules on each frame.

use std::fmt;

use crate::beep::{BeepEvent, BeepTracker};
use crate::config::AmdConfig;
use crate::frame::{FRAME_MS, FRAME_SAMPLES, Frames, level};

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Human,
    Machine,
    /// Out of time without a rule firing (app_amd's NOTSURE); a dialer treats it as a
    /// person, since hanging up on one is an abandoned call.
    NotSure,
}

/// The rule that decided, with app_amd's `AMDCAUSE` name in [`Cause::asterisk_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A greeting, then `after_greeting_silence_ms` of silence: a person (HUMAN).
    ShortGreeting,
    /// `greeting_ms` of voice: a machine (LONGGREETING).
    LongGreeting,
    /// More than `max_words` words: a machine (MAXWORDS).
    TooManyWords,
    /// One word of `max_word_ms`: a machine (MAXWORDLENGTH).
    MaxWordLength,
    /// A voicemail beep: a machine (not in app_amd).
    Beep,
    /// `initial_silence_ms` without a word: a machine (INITIALSILENCE).
    InitialSilence,
    /// `total_analysis_ms` without a decision: not sure (TOOLONG).
    MaxTime,
}

impl Verdict {
    /// app_amd's `AMDSTATUS` value.
    pub const fn asterisk_name(self) -> &'static str {
        match self {
            Verdict::Human => "HUMAN",
            Verdict::Machine => "MACHINE",
            Verdict::NotSure => "NOTSURE",
        }
    }
}

impl Cause {
    /// app_amd's `AMDCAUSE` prefix (BEEP is this crate's).
    pub const fn asterisk_name(self) -> &'static str {
        match self {
            Cause::ShortGreeting => "HUMAN",
            Cause::LongGreeting => "LONGGREETING",
            Cause::TooManyWords => "MAXWORDS",
            Cause::MaxWordLength => "MAXWORDLENGTH",
            Cause::Beep => "BEEP",
            Cause::InitialSilence => "INITIALSILENCE",
            Cause::MaxTime => "TOOLONG",
        }
    }

    /// The verdict this cause gives.
    pub const fn verdict(self) -> Verdict {
        match self {
            Cause::ShortGreeting => Verdict::Human,
            Cause::MaxTime => Verdict::NotSure,
            _ => Verdict::Machine,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.asterisk_name())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.asterisk_name())
    }
}

/// The detector's one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub cause: Cause,
    /// Audio time from the first sample pushed to the end of the deciding frame.
    pub at_ms: u32,
}

/// One answered call's detector: push its audio from the 200 OK on until it decides.
#[derive(Debug, Clone)]
pub struct Detector {
    cfg: AmdConfig,
    frames: Frames,
    beep: Option<BeepTracker>,
    decision: Option<Decision>,
    /// `iTotalTime`.
    total_ms: u32,
    /// The DSP's `totalsilence`: consecutive silent frames, in ms.
    dsp_silence_ms: u32,
    in_initial_silence: bool,
    in_greeting: bool,
    /// `currentState == STATE_IN_WORD`.
    in_word: bool,
    voice_ms: u32,
    consecutive_voice_ms: u32,
    words: u32,
}

impl Detector {
    /// A detector for one call. The configuration is used as given (see
    /// [`AmdConfig::validate`]); no value makes it panic.
    pub fn new(cfg: &AmdConfig) -> Self {
        Detector {
            cfg: cfg.clone(),
            frames: Frames::new(),
            beep: cfg.detect_beep.then(BeepTracker::new),
            decision: None,
            total_ms: 0,
            dsp_silence_ms: 0,
            in_initial_silence: true,
            in_greeting: false,
            in_word: true,
            voice_ms: 0,
            consecutive_voice_ms: 0,
            words: 0,
        }
    }

    /// Feeds any number of 8 kHz samples; returns the decision once, on the push whose audio
    /// completes the deciding frame (audio after it is ignored), then `None` forever.
    pub fn push(&mut self, samples: &[i16]) -> Option<Decision> {
        if self.decision.is_some() {
            return None;
        }
        let mut rest = samples;
        while let Some(frame) = self.frames.next(&mut rest) {
            if let Some(d) = self.frame(level(&frame), Some(&frame)) {
                return Some(d);
            }
        }
        None
    }

    /// A gap of `samples` in the audio (lost packets, comfort noise): silence.
    pub fn push_silence(&mut self, samples: usize) -> Option<Decision> {
        let mut left = samples;
        while left > 0 && self.decision.is_none() {
            if self.frames.pending() == 0 && left >= FRAME_SAMPLES {
                left -= FRAME_SAMPLES;
                if let Some(d) = self.frame(0, None) {
                    return Some(d);
                }
            } else {
                let (took, frame) = self.frames.zeros(left);
                left -= took;
                if let Some(frame) = frame {
                    if let Some(d) = self.frame(level(&frame), Some(&frame)) {
                        return Some(d);
                    }
                }
            }
        }
        None
    }

    /// The decision, once made.
    pub fn decision(&self) -> Option<Decision> {
        self.decision
    }

    /// Audio analysed so far, in whole frames.
    pub fn elapsed_ms(&self) -> u32 {
        self.total_ms
    }

    /// Words counted so far.
    pub fn words(&self) -> u32 {
        self.words
    }

    /// Voice heard so far (all voiced frames), in ms.
    pub fn voice_ms(&self) -> u32 {
        self.voice_ms
    }

    fn decide(&mut self, cause: Cause) -> Option<Decision> {
        let d = Decision {
            verdict: cause.verdict(),
            cause,
            at_ms: self.total_ms,
        };
        self.decision = Some(d);
        Some(d)
    }

    /// One 20 ms frame of mean absolute amplitude `level`; `samples` for the beep tracker
    /// (`None` for a gap).
    fn frame(&mut self, level: u32, samples: Option<&[i16]>) -> Option<Decision> {
        let c = &self.cfg;
        self.total_ms = self.total_ms.saturating_add(FRAME_MS);
        if self.total_ms >= c.total_analysis_ms {
            return self.decide(Cause::MaxTime);
        }
        let silent = level < u32::from(c.silence_threshold);
        if let Some(tracker) = &mut self.beep {
            let analysed = if silent { None } else { samples };
            if let Some(BeepEvent::Started { .. }) = tracker.frame(analysed, self.total_ms) {
                return self.decide(Cause::Beep);
            }
        }
        if silent {
            self.dsp_silence_ms = self.dsp_silence_ms.saturating_add(FRAME_MS);
            let silence = self.dsp_silence_ms;
            if silence >= c.between_words_silence_ms {
                self.in_word = false;
                self.consecutive_voice_ms = 0;
            }
            if self.in_initial_silence && silence >= c.initial_silence_ms {
                return self.decide(Cause::InitialSilence);
            }
            if self.in_greeting && silence >= c.after_greeting_silence_ms {
                return self.decide(Cause::ShortGreeting);
            }
        } else {
            self.dsp_silence_ms = 0;
            self.consecutive_voice_ms = self.consecutive_voice_ms.saturating_add(FRAME_MS);
            self.voice_ms = self.voice_ms.saturating_add(FRAME_MS);
            let word = self.consecutive_voice_ms >= c.min_word_ms;
            if word && !self.in_word {
                self.words = self.words.saturating_add(1);
                self.in_word = true;
            }
            if self.consecutive_voice_ms >= c.max_word_ms {
                return self.decide(Cause::MaxWordLength);
            }
            if self.words > c.max_words {
                return self.decide(Cause::TooManyWords);
            }
            if self.in_greeting && self.voice_ms >= c.greeting_ms {
                return self.decide(Cause::LongGreeting);
            }
            if word && !self.in_greeting {
                self.in_initial_silence = false;
                self.in_greeting = true;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{silence, sine, words};

    /// app_amd's thresholds, with the beep cause.
    fn cfg() -> AmdConfig {
        AmdConfig {
            detect_beep: true,
            ..AmdConfig::asterisk()
        }
    }

    fn decide(cfg: &AmdConfig, x: &[i16]) -> Decision {
        let mut d = Detector::new(cfg);
        let got = d.push(x);
        let got = got.or_else(|| d.push_silence(usize::MAX));
        got.expect("a decision by total_analysis_ms")
    }

    #[test]
    fn hello_then_silence_is_a_human_after_the_greeting_silence() {
        // 500 ms of silence, "Hello?" (400 ms), silence.
        let x = words(&[(500, 400)], 3000);
        let d = decide(&cfg(), &x);
        assert_eq!((d.verdict, d.cause), (Verdict::Human, Cause::ShortGreeting));
        assert_eq!(d.at_ms, 900 + 800);
    }

    #[test]
    fn two_words_with_a_pause_are_still_a_human() {
        let x = words(&[(400, 300), (200, 400)], 3000);
        let d = decide(&cfg(), &x);
        assert_eq!(d.cause, Cause::ShortGreeting);
        assert_eq!(d.at_ms, 1300 + 800);
    }

    #[test]
    fn a_long_greeting_is_a_machine_when_its_voice_reaches_greeting_ms() {
        // Words of 600 ms with 200 ms gaps: 3 words would be MAXWORDS, so allow many.
        let c = AmdConfig {
            max_words: 10,
            ..cfg()
        };
        let x = words(&[(300, 600), (200, 600), (200, 600)], 2000);
        let d = decide(&c, &x);
        assert_eq!(
            (d.verdict, d.cause),
            (Verdict::Machine, Cause::LongGreeting)
        );
        // 1500 ms of voice: 600 + 600 + 300 into the third word.
        assert_eq!(d.at_ms, 300 + 600 + 200 + 600 + 200 + 300);
    }

    #[test]
    fn a_third_word_is_a_machine() {
        let x = words(&[(300, 200), (200, 200), (200, 200)], 2000);
        let d = decide(&cfg(), &x);
        assert_eq!(
            (d.verdict, d.cause),
            (Verdict::Machine, Cause::TooManyWords)
        );
        // The third word counts once it has lasted min_word_ms.
        assert_eq!(d.at_ms, 300 + 200 + 200 + 200 + 200 + 100);
    }

    #[test]
    fn the_default_allows_three_words() {
        let x = words(&[(300, 200), (200, 200), (200, 200)], 2000);
        assert_eq!(
            decide(&AmdConfig::default(), &x).cause,
            Cause::ShortGreeting
        );
        let x = words(&[(300, 200), (200, 200), (200, 200), (200, 200)], 2000);
        assert_eq!(decide(&AmdConfig::default(), &x).cause, Cause::TooManyWords);
    }

    #[test]
    fn one_endless_word_is_max_word_length() {
        let c = AmdConfig {
            greeting_ms: 10_000,
            max_word_ms: 2000,
            ..cfg()
        };
        let x = words(&[(200, 4000)], 0);
        let d = decide(&c, &x);
        assert_eq!(
            (d.verdict, d.cause),
            (Verdict::Machine, Cause::MaxWordLength)
        );
        assert_eq!(d.at_ms, 200 + 2000);
    }

    #[test]
    fn silence_is_a_machine_after_the_initial_silence() {
        let d = decide(&cfg(), &silence(8000 * 4));
        assert_eq!(
            (d.verdict, d.cause),
            (Verdict::Machine, Cause::InitialSilence)
        );
        assert_eq!(d.at_ms, 2500);
    }

    #[test]
    fn a_gap_counts_as_silence() {
        let mut d = Detector::new(&cfg());
        assert_eq!(d.push(&silence(80)), None);
        let got = d.push_silence(8000 * 3).expect("decision");
        assert_eq!(got.cause, Cause::InitialSilence);
        assert_eq!(got.at_ms, 2500);
        assert_eq!(d.push(&silence(160)), None);
        assert_eq!(d.push_silence(1000), None);
        assert_eq!(d.decision(), Some(got));
    }

    #[test]
    fn short_blips_keep_resetting_nothing_and_time_runs_out() {
        // Blips of 60 ms (shorter than a word) every 1000 ms: never a word, never 2500 ms
        // of silence in a row, so out of time.
        let mut x = Vec::new();
        for _ in 0..6 {
            x.extend(words(&[(940, 60)], 0));
        }
        let d = decide(&cfg(), &x);
        assert_eq!((d.verdict, d.cause), (Verdict::NotSure, Cause::MaxTime));
        assert_eq!(d.at_ms, 5000);
    }

    #[test]
    fn a_first_word_without_silence_before_it_is_not_counted() {
        // app_amd starts in a word: voice from the first frame is not a new word.
        let c = AmdConfig {
            max_words: 1,
            ..cfg()
        };
        let x = words(&[(0, 300), (200, 300)], 2000);
        let d = decide(&c, &x);
        assert_eq!(d.cause, Cause::ShortGreeting);
        let x = words(&[(20, 300), (200, 300)], 2000);
        assert_eq!(decide(&c, &x).cause, Cause::ShortGreeting);
        let x = words(&[(60, 300), (200, 300)], 2000);
        assert_eq!(decide(&c, &x).cause, Cause::TooManyWords);
    }

    #[test]
    fn a_beep_is_a_machine_when_detect_beep_is_on() {
        let mut x = words(&[(300, 600)], 300);
        x.extend(sine(1000.0, 8000.0, 8000 / 2));
        x.extend(silence(8000));
        let d = decide(&cfg(), &x);
        assert_eq!((d.verdict, d.cause), (Verdict::Machine, Cause::Beep));
        assert_eq!(d.at_ms, 300 + 600 + 300 + 120);

        let c = AmdConfig {
            detect_beep: false,
            ..cfg()
        };
        assert_eq!(decide(&c, &x).cause, Cause::ShortGreeting);
    }

    #[test]
    fn slicing_does_not_change_the_decision() {
        let x = words(&[(400, 300), (120, 250), (300, 500)], 2000);
        let whole = decide(&cfg(), &x);
        for step in [1, 80, 160, 240, 1000] {
            let mut d = Detector::new(&cfg());
            let got = x.chunks(step).find_map(|c| d.push(c));
            assert_eq!(got, Some(whole), "step {step}");
        }
    }

    #[test]
    fn names_are_app_amds() {
        assert_eq!(Cause::ShortGreeting.to_string(), "HUMAN");
        assert_eq!(Cause::MaxTime.asterisk_name(), "TOOLONG");
        assert_eq!(Verdict::NotSure.to_string(), "NOTSURE");
        assert_eq!(Cause::InitialSilence.verdict(), Verdict::Machine);
    }
}
