//! Real SIP peers for the telephony tests, so the dialer's SIP trunk carrier is tested against
//! other implementations than its own: SIPp playing the trunk (the scenarios of `tests/sip/`:
//! a person, a machine, busy, no answer, SIT, ringback, digest challenges, ...), baresip
//! playing an agent's auto-answering softphone that records what it hears, the audio they
//! play generated at test time, and the checks a test makes on audio (energy, tones, DTMF).
//!
//! A test starts with [`require_tools`] (a clear message where sipp, baresip, sox or
//! espeak-ng is missing), takes ports from [`free_udp_port`], starts peers, runs the dialer
//! against them, and then waits for SIPp's verdict ([`Sipp::wait`]: did every call follow the
//! scenario) and measures what was heard ([`energy`] of [`Baresip::recorded`], or an
//! [`RtpListener`] where a scenario's SDP points the dialer's audio).
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use testpeers::{Baresip, Sipp, energy, fixtures, free_udp_port, require_tools};
//!
//! require_tools();
//! let agent = Baresip::agent(free_udp_port(), &fixtures().agent_voice.wav);
//! let mut trunk = Sipp::uas("human", free_udp_port(), &[("ring_ms", "1000")]);
//! // ... the dialer calls trunk.uri("14045550123"), bridges it to agent.uri(), hangs up ...
//! let result = trunk.wait(Duration::from_secs(30)).await;
//! assert!(result.success, "{result}");
//! assert!(energy(&agent.recorded()) > 300.0);
//! # }
//! ```
//!
//! # Layout
//! - `tools`: the external programs and [`require_tools`].
//! - `net`: free ports ([`free_udp_port`]) and the check that a peer has bound its port.
//! - `fixtures`: the generated, cached audio clips ([`fixtures`], [`Clip`], [`Codec`]).
//! - `sipp`: SIPp as trunk or stand-in dialer ([`Sipp`], [`SippBuilder`], [`SippResult`]).
//! - `siplog`: SIPp's message log read back ([`LoggedMessage`]).
//! - `digest`: digest responses checked from that log ([`digest::verify`]).
//! - `baresip`: baresip as an agent's softphone ([`Baresip`], its events and recordings).
//! - `rtp`: a socket that hears RTP ([`RtpListener`]).
//! - `audio`: WAV reading and writing, G.711, [`energy`], [`tone_level`].
//! - `error`: the crate's [`Error`].

mod audio;
mod baresip;
pub mod digest;
mod error;
mod fixtures;
mod net;
mod rtp;
mod siplog;
mod sipp;
mod tools;

pub use audio::{Wav, energy, mean_abs, parse_wav, read_wav, tone_level, try_energy, write_wav};
pub use baresip::{Baresip, BaresipEvent, Recording};
pub use error::Error;
pub use fixtures::{Clip, Codec, Fixtures, fixtures};
pub use net::free_udp_port;
pub use rtp::{RtpListener, RtpPacket, parse_rtp};
pub use siplog::{LoggedMessage, parse_message_log};
pub use sipp::{
    DEFAULT_AUTH, DEFAULT_REALM, Sipp, SippBuilder, SippResult, Transport, scenario_dir,
    scenario_path,
};
pub use tools::{INSTALL_HINT, TOOLS, find_in_path, missing_tools, require_tools};
