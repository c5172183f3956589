//! The JSON-lines controller protocol, minus the I/O: a [`Session`] takes one input line and
//! returns the line to answer. `dialerctl pacing-agent` wires it to stdin/stdout, and tests
//! (and the simulator's equivalence test) call it directly.
//!
//! ```text
//! -> {"config":{"agents":50,"abandon_target":0.03,"connect_deadline_s":2.0,"min_ring_s":15,
//!     "ring_timeout_s":22,"max_lines_per_agent":4,"amd_false_positive":0.01}}
//! <- {"ok":true}
//! -> {"t":3600.0,"agents":[{"state":"ready","since":3598.2}],"inflight":[],"completed":[]}
//! <- {"dial":3}
//! ```
//!
//! An empty line ends the session. A line that cannot be used is answered with
//! `{"error":"..."}` and the session goes on.

use serde::Deserialize;

use crate::{Config, Controller, PacingError, Policy, Tick};

#[derive(Deserialize)]
struct ConfigLine {
    config: Config,
}

/// How far back a tick's clock must jump to start a new day (a fresh controller) rather than
/// be refused as time running backwards.
const NEW_DAY_STEP_S: f64 = 3600.0;

/// What to do with one input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Write this line (without newline) and read the next.
    Line(String),
    /// The input ended the session.
    End,
}

/// One protocol session: a policy waiting for its config, then a controller.
#[derive(Debug)]
pub struct Session {
    policy: Policy,
    config: Option<Config>,
    controller: Option<Box<dyn Controller>>,
    last_t: Option<f64>,
}

impl Session {
    pub fn new(policy: Policy) -> Session {
        Session {
            policy,
            config: None,
            controller: None,
            last_t: None,
        }
    }

    /// Handles one line (without its newline).
    pub fn handle_line(&mut self, line: &str) -> Reply {
        let line = line.trim();
        if line.is_empty() {
            return Reply::End;
        }
        Reply::Line(match self.answer(line) {
            Ok(s) => s,
            Err(e) => serde_json::json!({ "error": e }).to_string(),
        })
    }

    fn answer(&mut self, line: &str) -> Result<String, String> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        if value.get("config").is_some() {
            let c: ConfigLine =
                serde_json::from_value(value).map_err(|e| format!("bad config: {e}"))?;
            let controller = self
                .policy
                .build(&c.config)
                .map_err(|e: PacingError| e.to_string())?;
            self.controller = Some(controller);
            self.config = Some(c.config);
            self.last_t = None;
            return Ok(r#"{"ok":true}"#.to_string());
        }
        let config = self
            .config
            .as_ref()
            .ok_or_else(|| "tick before config".to_string())?;
        let tick: Tick = serde_json::from_value(value).map_err(|e| format!("bad tick: {e}"))?;
        // A clock that starts again (a driver running independent days in one session, each
        // from t = 0) is a new day for a new campaign: a fresh controller, as a new config
        // line would give. A small step back is a driver's error and refused as before (a
        // controller's own clock never goes backwards).
        if tick.t.is_finite()
            && self
                .last_t
                .is_some_and(|last| tick.t < last - NEW_DAY_STEP_S)
        {
            self.controller = Some(self.policy.build(config).map_err(|e| e.to_string())?);
        }
        let controller = self
            .controller
            .as_mut()
            .ok_or_else(|| "tick before config".to_string())?;
        let d = controller.tick(&tick).map_err(|e| e.to_string())?;
        self.last_t = Some(tick.t);
        Ok(format!(r#"{{"dial":{}}}"#, d.dial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_then_ticks() {
        let mut s = Session::new(Policy::Progressive);
        assert_eq!(
            s.handle_line(r#"{"t":0,"agents":[]}"#),
            Reply::Line(r#"{"error":"tick before config"}"#.into())
        );
        let cfg = r#"{"config":{"agents":2,"abandon_target":0.03,"connect_deadline_s":2.0,"min_ring_s":15,"ring_timeout_s":22,"max_lines_per_agent":4,"amd_false_positive":0.01}}"#;
        assert_eq!(s.handle_line(cfg), Reply::Line(r#"{"ok":true}"#.into()));
        let tick = r#"{"t":1.0,"agents":[{"state":"ready","since":0.5},{"state":"talk","since":0.0}],
            "inflight":[],"completed":[{"outcome":"fail","ring_s":2.1}]}"#;
        assert_eq!(
            s.handle_line(&tick.replace('\n', "")),
            Reply::Line(r#"{"dial":1}"#.into())
        );
        assert_eq!(s.handle_line(""), Reply::End);
    }

    /// A driver that runs its days in one session, each from t = 0, gets a fresh controller
    /// each day (answers as a new session would) instead of an error per tick.
    #[test]
    fn a_clock_that_starts_again_is_a_new_day() {
        let cfg = r#"{"config":{"agents":2,"abandon_target":0.03,"connect_deadline_s":2.0,"min_ring_s":15,"ring_timeout_s":22,"max_lines_per_agent":4,"amd_false_positive":0.01}}"#;
        let ticks = [
            r#"{"t":0.0,"agents":[{"state":"ready","since":0.0},{"state":"ready","since":0.0}]}"#,
            r#"{"t":1.0,"agents":[{"state":"ready","since":0.0},{"state":"ready","since":0.0}],"inflight":[{"elapsed":1.0,"phase":"ringing"}]}"#,
            r#"{"t":2.0,"agents":[{"state":"talk","since":1.5},{"state":"ready","since":0.0}]}"#,
            r#"{"t":28800.0,"agents":[{"state":"ready","since":28000.0},{"state":"ready","since":0.0}]}"#,
        ];
        let day =
            |s: &mut Session| -> Vec<Reply> { ticks.iter().map(|t| s.handle_line(t)).collect() };
        let mut one = Session::new(Policy::from_name("predictive").unwrap());
        one.handle_line(cfg);
        let first = day(&mut one);
        let second = day(&mut one);
        assert!(
            first
                .iter()
                .all(|r| matches!(r, Reply::Line(l) if l.starts_with(r#"{"dial""#)))
        );
        assert_eq!(first, second);
        // A second back is not a new day: refused, the session goes on.
        let back = r#"{"t":28799.0,"agents":[{"state":"ready","since":0.0}]}"#;
        assert!(matches!(one.handle_line(back), Reply::Line(l) if l.contains("error")));
    }
}
