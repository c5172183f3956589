//! The ledger's contract: what a client of `ledgerd` (the dialer, a CRM loader, tests, tools)
//! and the ledger itself agree on, without the ledger's server or store.
//!
//! # Layout
//!
//! - [`pb`]: the generated messages and client/server stubs of `collections.ledger.v1`
//!   (from `collections-proto`), and [`common_pb`] those of `collections.common.v1`, the
//!   types the ledger's contract shares with the dialer's.
//! - [`domain`]: the ledger's plain Rust types (accounts, holds, consents, promises, contact
//!   outcomes, changes) and their validation rules, free of protobuf and SQL.
//! - [`common`]: [`common_pb`] <-> [`domain`], once for the ledger's edge and the dialer's.
//! - [`wire`]: [`pb`] <-> [`domain`], both ways: checked on the way in (`*_in`), read back as
//!   the ledger sent them (`*_from_pb`), and out (`*_out`).
//! - [`limits`]: every bound on input (string bytes, list entries, amounts), sized so the
//!   largest record fits in one gRPC message.
//! - [`codes`]: the ISO code lists (currencies, countries, states) the validation uses.
//! - [`redact`]: phone numbers, names and URLs as they may appear in logs and errors.
//!
//! It may depend on the proto crate, the compliance vocabulary and plain data libraries
//! (jiff, serde, prost); never on a server, a database driver or a service, so the dialer
//! can depend on it without depending on the ledger service (see docs/architecture.md).

pub mod codes;
pub mod common;
pub mod domain;
pub mod limits;
pub mod redact;
pub mod wire;

pub use collections_proto::common_v1 as common_pb;
pub use collections_proto::ledger_v1 as pb;
