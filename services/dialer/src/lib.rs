//! The dialer runtime.
//!
//! - [`carrier`]: the seam to the telephone network. One trait, [`carrier::Carrier`], that a
//!   simulated network ([`carrier::sim`], the embedded default and load generator) and, later,
//!   a SIP trunk or PBX adapter implement; the campaign engine only ever sees this trait.
//!
//! The campaign engine (queue, compliance, reservation, pacing and agents wired to a carrier)
//! is the next piece of this crate.

pub mod carrier;
