//! Call audio without I/O: what the telephony adapter does to the bytes of a call's media,
//! kept apart from its sockets so every path can be tested and fuzzed on its own.
//!
//! # Layout
//!
//! - [`g711`]: G.711 u-law (PCMU) and A-law (PCMA) to and from 16-bit linear samples.

pub mod g711;
