//! The signal that starts a graceful shutdown.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal as listen};

/// A signal handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("installing the {signal} handler: {source}")]
pub struct SignalError {
    pub signal: &'static str,
    pub source: std::io::Error,
}

/// Resolves at the first SIGTERM (a rollout, `kill`) or SIGINT (Ctrl-C). Both handlers are
/// installed by this call, not when the future is first polled: call it before the service
/// starts (before it announces its address), so a SIGTERM right after start-up takes the
/// graceful path instead of the default action.
pub fn signal() -> Result<impl Future<Output = ()> + Send + 'static, SignalError> {
    let install = |kind, signal| listen(kind).map_err(|source| SignalError { signal, source });
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        let signal = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal, "signal received: shutting down");
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn a_sigterm_sent_before_the_first_poll_is_not_lost() {
        let stop = super::signal().expect("handlers");
        // To this very process (nextest runs each test in its own).
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), stop)
            .await
            .expect("the signal resolves the future");
    }
}
