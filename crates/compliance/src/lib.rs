//! The compliance engine: decides, for one proposed call at one instant, whether it may be
//! placed, every reason why not, and when it next may.
//!
//! Pure: no I/O, no clock. `now` is part of the request. Rule ids (`US-REGF-08` ...) refer to
//! the project's rule catalogue, summarised in `docs/compliance.md`.
//!
//! ```
//! use compliance::{CallRequest, Engine, Policy, Verdict};
//!
//! let req: CallRequest = serde_json::from_str(r#"{
//!     "at": "2026-10-06T12:00:00Z",
//!     "dial": {"number": "+12125550134", "debt_id": "d1"},
//!     "consumer": {"phones": [{"number": "+12125550134", "kind": "landline"}],
//!                  "addresses": [{"zip": "10001", "state": "NY"}]}
//! }"#).unwrap();
//! let decision = Engine::builtin().evaluate(&req, &Policy::default()).unwrap();
//! assert_eq!(decision.verdict, Verdict::Allow); // 08:00:00 EDT is not before 08:00
//! ```

//! # Layout
//!
//! - [`model`]: the request ([`CallRequest`]: the proposed dial, the consumer, their history)
//!   and the contact vocabulary the ledger shares.
//! - [`engine`](Engine): locate, select packs, prepare the history, run every rule, combine.
//! - [`zones`], [`geo`], [`clock`], [`holidays`]: where the consumer may be and what time and
//!   day it is there.
//! - [`packs`]: the rule set as data (TOML packs of parameterised rule kinds); the kinds are
//!   code, in the private `rules` module.
//! - [`reason`]: the reason codes of the catalogue, used by the packs, the rules and the
//!   decision alike.
//! - [`decision`]: what an evaluation answers ([`Decision`]); [`policy`]: the campaign's
//!   choices; [`error`]: bad input; [`redact`]: numbers in detail strings.
//!
//! Plain Rust: no runtime, network or database among its dependencies (a test in
//! `services/allinone/tests/shape.rs` keeps it so).

pub mod clock;
pub mod decision;
mod engine;
pub mod error;
pub mod geo;
mod history;
pub mod holidays;
pub mod model;
pub mod packs;
pub mod policy;
pub mod reason;
pub mod redact;
mod rules;
pub mod zones;

pub use decision::{Decision, Finding, ReasonCode, Verdict};
pub use engine::Engine;
pub use error::InputError;
pub use model::CallRequest;
pub use policy::Policy;
