//! Pacing: how many outbound attempts a campaign launches now.
//!
//! Pure: no I/O, no clock. The caller (the production dialer, the simulator, or an external
//! simulator through `dialerctl pacing-agent`) hands a [`Tick`] snapshot of the campaign
//! once per second: the time, every agent's state and since when, every attempt in flight
//! (elapsed, phase) and the attempts resolved since the previous tick. The controller answers
//! with a [`Decision`]. The snapshot is exactly the JSON-lines tick of the controller protocol
//! (see `docs/pacing.md`), so in-process and over-the-wire pacing are the same code.
//!
//! ```
//! use pacing::{Agent, AgentState, Config, Policy, Tick};
//!
//! let cfg = Config::default();
//! let mut pacer = Policy::Progressive.build(&cfg).unwrap();
//! let tick = Tick {
//!     t: 0.0,
//!     agents: vec![Agent { state: AgentState::Ready, since: 0.0 }; 3],
//!     inflight: vec![],
//!     completed: vec![],
//! };
//! assert_eq!(pacer.tick(&tick).unwrap().dial, 3);
//! ```
//!
//! # Layout
//!
//! - [`estimators`]: online answer, ring-time and handle-time models (what the next seconds
//!   will bring).
//! - [`budget`]: rolling abandonment accounting (how many abandons the 3 % still allows).
//! - [`predictive`]: the model-based pacer built on both.
//! - [`baselines`]: preview, progressive, power and VICIdial-style adaptive, for comparison.
//! - [`state`]: snapshots of what a controller learned, to resume it in another process.
//! - [`protocol`]: the JSON-lines controller session of `dialerctl pacing-agent`, without
//!   the I/O.
//! - `stats`: the small numeric helpers they share (private).
//!
//! It depends on nothing with I/O (no tokio, tonic, sqlx or redis): see docs/architecture.md.

pub mod baselines;
pub mod budget;
pub mod estimators;
pub mod predictive;
pub mod protocol;
pub mod state;
mod stats;

use serde::{Deserialize, Serialize};

pub use predictive::{Predictive, PredictiveConfig};
pub use state::{PacingState, STATE_VERSION, StateError};

/// State of one agent seat as the agent service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged in, waiting for a call.
    Ready,
    /// On a connected call (the call holds a line).
    Talk,
    /// After-call work; no line.
    Wrap,
    /// Logged in but on a break; takes no calls.
    Paused,
    /// Not logged in (a seat kept in the list so positions stay stable).
    LoggedOut,
}

impl AgentState {
    /// Logged in and not paused: counts for the lines cap and occupancy.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AgentState::Ready | AgentState::Talk | AgentState::Wrap
        )
    }
}

/// One agent in a tick. Positions in [`Tick::agents`] are expected to be stable seats; the
/// predictive pacer uses them to learn handle times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub state: AgentState,
    /// Clock time (s) the agent entered `state`.
    pub since: f64,
}

/// Phase of an attempt in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Ringing, not picked up yet.
    Ringing,
    /// Picked up: answering-machine detection running, or a human waiting for an agent.
    Answered,
}

/// One attempt in flight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InFlight {
    /// Seconds since the dial.
    pub elapsed: f64,
    pub phase: Phase,
}

/// How an attempt ended, as the switch reports it. An AMD false positive (a person hung up
/// on as a machine) is reported as `Machine`; an AMD false negative (a machine passed to an
/// agent) as `HumanConnected` or `HumanDropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    HumanConnected,
    HumanDropped,
    Machine,
    NoAnswer,
    Fail,
}

impl Outcome {
    /// A "human" verdict: the call needed an agent.
    pub fn needs_agent(self) -> bool {
        matches!(self, Outcome::HumanConnected | Outcome::HumanDropped)
    }
}

/// An attempt resolved since the previous tick.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Completed {
    pub outcome: Outcome,
    /// Seconds from dial to pick-up (or to the end, for no answer and failures).
    pub ring_s: f64,
}

/// The campaign snapshot handed to a controller once per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Clock time in seconds; must not go backwards.
    pub t: f64,
    pub agents: Vec<Agent>,
    #[serde(default)]
    pub inflight: Vec<InFlight>,
    #[serde(default)]
    pub completed: Vec<Completed>,
}

impl Tick {
    /// Agents logged in and not paused.
    pub fn active_agents(&self) -> usize {
        self.agents.iter().filter(|a| a.state.is_active()).count()
    }

    pub fn count(&self, state: AgentState) -> usize {
        self.agents.iter().filter(|a| a.state == state).count()
    }

    /// Lines in use: attempts in flight plus connected calls (agents in talk).
    pub fn lines_in_use(&self) -> usize {
        self.inflight.len() + self.count(AgentState::Talk)
    }
}

/// Campaign pacing configuration (the protocol's `config` line).
/// Unknown fields are ignored so that simulators may send more than this controller uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Team size (informative; the controller counts agents in each tick).
    pub agents: u32,
    /// Strict abandonment target (drops plus AMD false positives over live answers).
    pub abandon_target: f64,
    /// A live answer with no agent within this many seconds of the human verdict is dropped.
    pub connect_deadline_s: f64,
    /// No ringing call may be cancelled before this many seconds.
    pub min_ring_s: f64,
    /// The carrier's no-answer timeout.
    pub ring_timeout_s: f64,
    /// Lines in use may not exceed this times the logged-in, unpaused agents.
    pub max_lines_per_agent: f64,
    /// Estimated share of live answers the AMD hangs up on as machines (invisible drops).
    pub amd_false_positive: f64,
    /// UK mode: the abandonment budget also holds over every rolling 24 h.
    #[serde(default)]
    pub uk_mode: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            agents: 50,
            abandon_target: 0.03,
            connect_deadline_s: 2.0,
            min_ring_s: 15.0,
            ring_timeout_s: 22.0,
            max_lines_per_agent: 4.0,
            amd_false_positive: 0.01,
            uk_mode: false,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), PacingError> {
        let bad = |field: &'static str, problem: &str| {
            Err(PacingError::InvalidConfig {
                field,
                problem: problem.to_string(),
            })
        };
        if !(self.abandon_target > 0.0 && self.abandon_target < 1.0) {
            return bad("abandon_target", "must be in (0, 1)");
        }
        if !(self.amd_false_positive >= 0.0 && self.amd_false_positive < 1.0) {
            return bad("amd_false_positive", "must be in [0, 1)");
        }
        if !(self.connect_deadline_s > 0.0 && self.connect_deadline_s.is_finite()) {
            return bad("connect_deadline_s", "must be positive");
        }
        if !(self.ring_timeout_s > 0.0 && self.ring_timeout_s.is_finite()) {
            return bad("ring_timeout_s", "must be positive");
        }
        if !(self.min_ring_s >= 0.0 && self.min_ring_s <= self.ring_timeout_s) {
            return bad("min_ring_s", "must be in [0, ring_timeout_s]");
        }
        if !(self.max_lines_per_agent >= 1.0 && self.max_lines_per_agent.is_finite()) {
            return bad("max_lines_per_agent", "must be at least 1");
        }
        Ok(())
    }

    /// How many more lines may be used now: the cap minus lines in use, never negative.
    pub fn line_room(&self, tick: &Tick) -> u32 {
        let cap = (self.max_lines_per_agent * tick.active_agents() as f64 + 1e-9).floor() as usize;
        cap.saturating_sub(tick.lines_in_use()) as u32
    }
}

/// What the controller wants done now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Attempts to launch now. Never more than [`Config::line_room`].
    pub dial: u32,
}

/// Errors of the pacing controllers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PacingError {
    #[error("invalid config: {field}: {problem}")]
    InvalidConfig {
        field: &'static str,
        problem: String,
    },
    #[error("tick time {now} is before the previous tick {previous}")]
    TimeWentBackwards { previous: f64, now: f64 },
    #[error("tick time {0} is not a finite number")]
    BadTime(f64),
    #[error("policy parameter {name}: {problem}")]
    BadPolicy { name: &'static str, problem: String },
}

/// A pacing controller: one per campaign, fed one tick per second.
pub trait Controller: std::fmt::Debug + Send {
    /// Decides for this tick. Implementations never return more than `line_room`.
    fn tick(&mut self, tick: &Tick) -> Result<Decision, PacingError>;

    /// What the controller has learned as of its last tick, to resume it elsewhere (see
    /// [`state`]); `None` for pacers that learn nothing, or before the first tick.
    fn snapshot(&self) -> Option<PacingState> {
        None
    }

    /// Takes over what `state` holds; `at` is this controller's clock reading of the
    /// snapshot's instant ([`PacingState::at`] on the clock that made it). On an error the
    /// controller is left as it was.
    fn restore(&mut self, state: &PacingState, at: f64) -> Result<(), StateError> {
        let _ = (state, at);
        Err(StateError::NotSupported)
    }

    /// The share of dials the controller expects to need an agent (its learned answer rate,
    /// or its prior before data); `None` for pacers that estimate none.
    fn estimated_answer_rate(&self) -> Option<f64> {
        None
    }
}

/// Rejects non-finite and backwards time; shared by every controller.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Clock {
    last: Option<f64>,
}

impl Clock {
    pub(crate) fn advance(&mut self, now: f64) -> Result<f64, PacingError> {
        if !now.is_finite() {
            return Err(PacingError::BadTime(now));
        }
        let dt = match self.last {
            Some(prev) if now < prev => {
                return Err(PacingError::TimeWentBackwards {
                    previous: prev,
                    now,
                });
            }
            Some(prev) => now - prev,
            None => 0.0,
        };
        self.last = Some(now);
        Ok(dt)
    }
}

/// A pacing policy, as a campaign configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Policy {
    /// Agent-initiated dialing only: the pacer launches nothing.
    Preview,
    /// One attempt in flight per ready agent.
    Progressive,
    /// `ratio` attempts in flight per ready agent.
    Power { ratio: f64 },
    /// The model-based pacer under the abandonment budget.
    Predictive(PredictiveConfig),
    /// Baseline: VICIdial-style adaptive dial level ("average" drop variant).
    VicidialAdaptive,
}

impl Policy {
    /// The frozen predictive configuration.
    pub fn predictive() -> Policy {
        Policy::Predictive(PredictiveConfig::default())
    }

    /// Parses a CLI name: `preview`, `progressive`, `power` (ratio 2.0), `power:1.6`,
    /// `predictive`, `vicidial`.
    pub fn from_name(name: &str) -> Result<Policy, PacingError> {
        let bad = |problem: String| PacingError::BadPolicy {
            name: "policy",
            problem,
        };
        match name {
            "preview" => Ok(Policy::Preview),
            "progressive" => Ok(Policy::Progressive),
            "power" => Ok(Policy::Power { ratio: 2.0 }),
            "predictive" => Ok(Policy::predictive()),
            "vicidial" => Ok(Policy::VicidialAdaptive),
            _ => match name.strip_prefix("power:") {
                Some(r) => r
                    .parse::<f64>()
                    .map(|ratio| Policy::Power { ratio })
                    .map_err(|e| bad(format!("{name}: {e}"))),
                None => Err(bad(format!("unknown policy {name:?}"))),
            },
        }
    }

    /// Builds a controller for one campaign.
    pub fn build(&self, cfg: &Config) -> Result<Box<dyn Controller>, PacingError> {
        cfg.validate()?;
        Ok(match self {
            Policy::Preview => Box::new(baselines::Preview),
            Policy::Progressive => Box::new(baselines::Power::new(cfg.clone(), 1.0)?),
            Policy::Power { ratio } => Box::new(baselines::Power::new(cfg.clone(), *ratio)?),
            Policy::Predictive(p) => Box::new(Predictive::new(cfg.clone(), p.clone())?),
            Policy::VicidialAdaptive => Box::new(baselines::Vicidial::new(cfg.clone())),
        })
    }
}
