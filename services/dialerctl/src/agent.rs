//! `dialerctl pacing-agent`: the production pacing controller behind the JSON-lines
//! controller protocol on stdin/stdout, so any external simulator can drive it.

use std::io::{BufRead as _, Write as _};

use pacing::Policy;
use pacing::protocol::{Reply, Session};

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// Policy: predictive, progressive, power (2.0), power:<ratio>, vicidial, preview.
    #[arg(long, default_value = "predictive")]
    pub policy: String,
}

pub fn run(args: &AgentArgs) -> anyhow::Result<()> {
    let policy = Policy::from_name(&args.policy)?;
    let mut session = Session::new(policy);
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    for line in stdin.lines() {
        match session.handle_line(&line?) {
            Reply::Line(s) => {
                out.write_all(s.as_bytes())?;
                out.write_all(b"\n")?;
                // Each answer is awaited by the driver: flush per line.
                out.flush()?;
            }
            Reply::End => break,
        }
    }
    Ok(())
}
