//! The dialer runtime.
//!
//! - [`carrier`]: the seam to the telephone network. One trait, [`carrier::Carrier`], that a
//!   simulated network ([`carrier::sim`], the embedded default and load generator) and, later,
//!   a SIP trunk or PBX adapter implement; the campaign engine only ever sees this trait.
//! - [`account`]: the ledger's view of an account and its translation into compliance
//!   questions.
//! - [`outcomes`]: the seam to the durable outbox that carries every attempt's outcome to the
//!   ledger exactly once.
//! - [`outbox`]: that outbox (SQLite or PostgreSQL) and its relay to the ledger.
//! - [`ledger_link`]: the dialer's client of the ledger (account views, the change feed,
//!   account lists).

pub mod account;
pub mod carrier;
pub mod ledger_link;
pub mod outbox;
pub mod outcomes;
