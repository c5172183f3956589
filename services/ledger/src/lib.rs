//! The account ledger service: system of record for accounts, debts, holds, consents,
//! promises and every contact, over gRPC (`collections.ledger.v1.LedgerService`).
//!
//! # Layout
//!
//! The contract (domain types and validation, protobuf mapping, bounds, redactor) is the
//! `ledger-api` crate, shared with the ledger's clients; this crate is the service around it:
//!
//! - [`store`]: sqlx, PostgreSQL or SQLite: accounts, history, the change feed, and the
//!   receivables money events (issue 12, checked by the `receivables` engine).
//! - [`grpc`]: `LedgerService` (the request checks, the streaming RPCs) and
//!   `ReceivablesService` (money event import, reports), their role table and their one
//!   mapping of errors to statuses.
//! - [`server`]: the tonic stack (the role layer, health, reflection, message bounds, shutdown).
//! - [`config`]: the TOML file and `LEDGER_*` overrides.
//! - [`metrics`]: Prometheus figures and their HTTP endpoint.
//! - [`clock`]: the ledger's notion of now (the embedded all-in-one moves it to a shift's
//!   virtual time).
//!
//! It may depend on `ledger-api`, `auth`, `compliance`, `receivables`, the proto crate and the server and
//! database libraries; never on the dialer (see docs/architecture.md).

pub mod clock;
pub mod config;
pub mod grpc;
pub mod metrics;
pub mod server;
pub mod store;

pub use ledger_api::pb;
