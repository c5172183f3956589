//! The skeleton every gRPC service binary of the project runs on (`dialerd`, `ledgerd`, and
//! the demo's served dialerd): what a service needs around its own gRPC services, written
//! once. A service says what tells it apart (its name, environment prefix, default listen
//! address and database, the roles its tokens may carry) in one [`ServiceSpec`] and keeps
//! only its domain: its settings beyond [`ServerSettings`], its stores, its handlers.
//!
//! # Layout
//!
//! - `spec`: [`ServiceSpec`], what tells one service's skeleton from another's.
//! - `cli`: [`cli::Cli`], `--config FILE`, `serve` (the default), `token` and the service's
//!   own subcommands.
//! - `config`: [`ServerSettings`] (database, listen addresses, JWT key) flattened into each
//!   service's TOML, the `PREFIX_*` environment overrides, and [`ConfigError`].
//! - `telemetry`: the tracing subscriber of a binary (stderr, `RUST_LOG`, colour only on a
//!   terminal) and of a test.
//! - `shutdown`: [`shutdown::signal`], the SIGTERM/Ctrl-C future, handlers installed at once.
//! - `metrics`: the Prometheus text of a registry, its `GET /metrics` HTTP endpoint, and the
//!   process's CPU time the load tools report.
//! - `grpc`: gRPC health for a server's services and reflection (v1 and v1alpha) over a
//!   descriptor set, and [`ServeError`].
//! - `token`: the `token` subcommand: a bearer JWT signed with the configured key.
//!
//! It depends on no database driver, no Redis and no contract crate: the services hand it
//! their names and descriptor set.

pub mod cli;
pub mod config;
pub mod grpc;
pub mod metrics;
pub mod shutdown;
mod spec;
pub mod telemetry;
pub mod token;

pub use config::{ConfigError, ServerSettings};
pub use grpc::ServeError;
pub use spec::ServiceSpec;
