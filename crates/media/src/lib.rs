//! Call audio without I/O: what the telephony adapter does to the bytes of a call's media,
//! kept apart from its sockets so every path can be tested and fuzzed on its own.
//!
//! The adapter owns one RTP socket per call leg; everything it does to what passes through
//! is here, on byte slices: parse what arrives (and refuse what is not RTP), put it in
//! order, hear DTMF in it, relay it to the other leg under that leg's numbering, play
//! prompts into it, and record it. No tokio, no sockets; the recorder writes to any
//! `Write + Seek` (+ `Read` for the hash).
//!
//! # Layout
//!
//! - [`g711`]: G.711 u-law (PCMU) and A-law (PCMA) to and from 16-bit linear samples.
//! - [`rtp`]: RTP packets read and written with rtp-rs ([`rtp::parse`], [`rtp::build`]),
//!   refusing RTCP, STUN and malformed datagrams with a typed error.
//! - [`dtmf`]: RFC 4733 telephone-events: the payload, digits received once per key press
//!   ([`dtmf::DtmfReceiver`]), the packets that send one ([`dtmf::DtmfSender`]).
//! - [`cn`]: RFC 3389 comfort noise, heard as silence until the next packet.
//! - [`jitter`]: a small reorder buffer ([`jitter::JitterBuffer`]): audio in order, losses
//!   and pauses said, duplicates and late packets dropped and counted, SSRC changes.
//! - [`relay`]: the bridge's rewriting ([`relay::OutStream`]): one leg's outgoing stream
//!   with its own SSRC, continuous sequence and timestamps, whether it carries the other
//!   leg's packets or our own.
//! - [`prompt`]: prerecorded messages ([`prompt::Prompt`]) from WAV, cut into payloads.
//! - [`wav`]: the WAV reader behind prompts and the two-channel call [`wav::Recorder`]
//!   with the finished file's SHA-256.

pub mod cn;
pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod prompt;
pub mod relay;
pub mod rtp;
pub mod wav;

pub use g711::Law;
pub use rtp::{Header, Packet, RtpError};
