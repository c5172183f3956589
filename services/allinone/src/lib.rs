//! Composition roots: where the ledger and the dialer, two services that never depend on each
//! other, are put together in one process.
//!
//! # Layout
//!
//! - [`embedded`]: the all-in-one (ledger + dialer in one process on SQLite, simulated
//!   carrier and agents, a shift on a fast clock): what `dialerctl demo` and the README's
//!   first command run.
//! - [`offload`]: store calls of a virtual-time (paused clock) campaign run on the real
//!   runtime without letting virtual time jump (only the all-in-one needs it).
//! - [`bench`]: what the benchmark binaries share (a throw-away PostgreSQL database, synthetic
//!   accounts).
//! - `src/bin/`: the load and benchmark tools, kept out of the service crates:
//!   `dialer-load` (dialerd under a softphone load, on the embedded ledger), `outbox-bench`
//!   (the outbox and its relay into a real ledger) and `ledger-bench` (the ledger's ingest).
//! - `tests/`: the dialer's tests that serve the real ledger in-process (`tests/inproc`),
//!   sharing the dialer's test support by path.
//!
//! It may depend on every crate of the workspace; nothing depends on it but `dialerctl`
//! (see docs/architecture.md).

pub mod bench;
pub mod embedded;
pub mod offload;
