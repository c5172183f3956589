//! The dialer runtime.
//!
//! - [`carrier`]: the seam to the telephone network. One trait, [`carrier::Carrier`], that a
//!   simulated network ([`carrier::sim`], the embedded default and load generator) and, later,
//!   a SIP trunk or PBX adapter implement; the campaign engine only ever sees this trait.
//! - [`account`]: the ledger's view of an account and its translation into compliance
//!   questions.
//! - [`outcomes`]: the seam to the durable outbox that carries every attempt's outcome to the
//!   ledger exactly once.

pub mod account;
pub mod carrier;
pub mod outcomes;
