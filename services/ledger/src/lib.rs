//! The account ledger service: system of record for accounts, debts, holds, consents,
//! promises and every contact, over gRPC (`collections.ledger.v1.LedgerService`).
//!
//! Layers: [`domain`] (plain types and validation), [`store`] (sqlx, PostgreSQL or SQLite),
//! [`grpc`] (protobuf mapping and streaming RPCs), [`server`] (tonic stack), plus [`auth`],
//! [`config`], [`metrics`] and [`redact`]; [`limits`] holds every bound on input, [`codes`]
//! the ISO code lists, [`clock`] the ledger's notion of now.

pub mod clock;
pub mod codes;
pub mod config;
pub mod domain;
pub mod grpc;
pub mod limits;
pub mod metrics;
pub mod redact;
pub mod server;
pub mod store;

pub use collections_proto::ledger_v1 as pb;

/// Authentication and roles, shared with the dialer (the `auth` crate); kept under this path
/// so the ledger's callers and tests are unchanged.
pub use ::auth;
