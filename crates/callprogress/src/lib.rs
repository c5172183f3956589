//! Call progress without I/O: answering-machine detection (Asterisk app_amd's method), beep
//! detection, and tones on early media (ringback, busy, SIT) with Goertzel filters.
//!
//! Everything here takes 8 kHz 16-bit linear samples (decode G.711 first, e.g. with
//! `media::g711`) and answers in audio time, so the telephony adapter owns the sockets and
//! clocks and every decision can be replayed from a recording.
//!
//! ```
//! use callprogress::{AmdConfig, Cause, Detector, Verdict};
//!
//! let mut amd = Detector::new(&AmdConfig::default());
//! // Stand-in for a voice: loud and not a tone (a steady tone would be a beep).
//! let hello: Vec<i16> = (0..3200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as i16 / 8).collect();
//! assert_eq!(amd.push(&[0; 4000]), None); // 500 ms before they speak
//! assert_eq!(amd.push(&hello), None); // "Hello?" (400 ms)
//! let d = amd.push_silence(8000).expect("decided"); // then they wait
//! assert_eq!((d.verdict, d.cause, d.at_ms), (Verdict::Human, Cause::ShortGreeting, 1700));
//! ```
//!
//! # Layout
//!
//! - [`config`]: [`AmdConfig`], a campaign's thresholds under app_amd's names and defaults,
//!   and [`ConfigError`].
//! - [`amd`]: [`Detector`], app_amd's state machine on 20 ms frames, with its
//!   [`Decision`] ([`Verdict`] and [`Cause`]).
//! - [`beep`]: [`BeepDetector`], when a voicemail beep ends (for a voicemail drop); the
//!   same tracker gives the detector its beep cause.
//! - [`tone`]: [`ToneDetector`], early media classed as a [`Tone`] by Goertzel filters and
//!   cadence.
//! - [`goertzel`]: the filter.
//! - `frame`: cutting pushes of any size into the 20 ms frames all of them decide on.

pub mod amd;
pub mod beep;
pub mod config;
mod frame;
pub mod goertzel;
#[cfg(test)]
mod test_signals;
pub mod tone;

pub use amd::{Cause, Decision, Detector, Verdict};
pub use beep::{Beep, BeepDetector};
pub use config::{AmdConfig, ConfigError};
pub use frame::{FRAME_MS, FRAME_SAMPLES};
pub use tone::{Tone, ToneDetector};

/// The sample rate of everything here: G.711's 8 kHz.
pub const SAMPLE_RATE: u32 = 8000;
