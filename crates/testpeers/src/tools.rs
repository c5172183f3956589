//! The external programs the peers are made of (sipp, baresip, sox, espeak-ng) and the check
//! that they are installed, so a test on a machine without them fails with the command that
//! installs them rather than with a spawn error deep in a scenario.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, tail};

/// The programs the peers need, by the name they are run by.
pub const TOOLS: [&str; 4] = ["sipp", "baresip", "sox", "espeak-ng"];

/// What to tell a developer whose machine lacks them.
pub const INSTALL_HINT: &str = "install sip-tester baresip sox espeak-ng (scripts/install-peers)";

/// Panics, naming the missing programs and how to install them, unless sipp, baresip, sox and
/// espeak-ng are all on `PATH`. Call it first in every test that uses a peer.
pub fn require_tools() {
    let missing = missing_tools();
    if !missing.is_empty() {
        panic!("missing {}: {INSTALL_HINT}", missing.join(", "));
    }
}

/// The programs of [`TOOLS`] that are not on `PATH`.
pub fn missing_tools() -> Vec<&'static str> {
    TOOLS
        .iter()
        .copied()
        .filter(|tool| find_in_path(tool).is_none())
        .collect()
}

/// Where `program` is on `PATH`, if it is there and executable.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs a command to completion in `dir`; an error carries the command line and its stderr.
pub(crate) fn run(program: &str, args: &[String], dir: &Path) -> Result<Output, Error> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::io(format!("running {program} in {}", dir.display()), e))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Tool {
            command: command_line(program, args),
            status: output.status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 2000),
        })
    }
}

/// A command line as a shell would take it (arguments with spaces quoted), for messages.
pub(crate) fn command_line(program: &str, args: &[String]) -> String {
    let mut line = program.to_string();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains([' ', '"', '\'', '?', '*', '$']) {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args = vec!["-w".to_string(), "a.wav".to_string(), "Hello?".to_string()];
        assert_eq!(
            command_line("espeak-ng", &args),
            "espeak-ng -w a.wav 'Hello?'"
        );
    }

    #[test]
    fn a_program_that_does_not_exist_is_not_found() {
        assert!(find_in_path("testpeers-no-such-program").is_none());
        assert!(find_in_path("sh").is_some());
    }
}
