//! Logging: one tracing subscriber for a service binary, one for tests.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// What is logged when `RUST_LOG` says nothing: the service's own information, and only
/// warnings of the SQL driver (which logs every statement at info).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Logs to stderr (stdout carries what scripts read: the addresses, a token), filtered by
/// `RUST_LOG` or [`DEFAULT_FILTER`], in colour only for a person at a terminal, not in
/// collected logs.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Logs through the test harness's capture, warnings unless `RUST_LOG` says otherwise; a
/// second call (another test in the same binary) keeps the first subscriber.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}
