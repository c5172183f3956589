//! The one error type of the crate: what went wrong starting, talking to or reading from a
//! peer, with enough context (paths, commands, log excerpts) to fix a failing test without
//! re-running it.

use std::path::PathBuf;

/// Why a peer, a fixture or a file could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path or address.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An external tool (sox, espeak-ng, ...) exited with an error.
    #[error("`{command}` failed ({status}): {stderr}")]
    Tool {
        /// The command line, for running it by hand.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
    /// A peer process exited while it was being started.
    #[error("{peer} exited while starting ({status}): {log}")]
    Exited {
        /// Which peer ("sipp human", "baresip").
        peer: String,
        /// Its exit status.
        status: String,
        /// The end of its logs.
        log: String,
    },
    /// A peer did not become ready (bind its port, accept control connections) in time.
    #[error("{peer} not ready after {waited_ms} ms: {log}")]
    NotReady {
        /// Which peer.
        peer: String,
        /// How long it was given.
        waited_ms: u128,
        /// The end of its logs.
        log: String,
    },
    /// A scenario file was not found where it was looked for.
    #[error("no SIPp scenario {name:?} at {path}")]
    NoScenario {
        /// The name asked for.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A WAV file could not be understood.
    #[error("{path}: not a WAV file this crate reads ({reason})")]
    Wav {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// baresip's control connection failed or a command was refused.
    #[error("baresip command {command:?}: {reason}")]
    Command {
        /// The command sent.
        command: String,
        /// What baresip answered, or why there was no answer.
        reason: String,
    },
}

impl Error {
    /// An I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The last `max` characters of `text` (logs can be long; the end says why it stopped).
pub(crate) fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let skipped: String = text.chars().skip(count - max).collect();
    format!("...{skipped}")
}
