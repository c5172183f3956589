//! Snapshots of what a controller has learned, so a campaign that moves to another dialer
//! replica (or a replica that restarts) resumes its pacing instead of starting cold.
//!
//! A [`PacingState`] is plain data, serialized as JSON with a `version`: a snapshot of an
//! unknown version, an unreadable one or one made under another policy or configuration is
//! refused with a [`StateError`] and the controller stays as it was (cold), never a panic.
//!
//! Time: a controller's clock `t` is the caller's, and another process may count from
//! another origin. A snapshot keeps its times on the clock that made it together with that
//! clock's reading of the snapshot instant, [`PacingState::at`] (the last tick). Restoring
//! takes the new clock's reading of the same instant and moves every time by the difference,
//! so ages are kept whatever the origins; the time between the snapshot and the first tick
//! after the restore ages the estimates as any gap between ticks does. Restored on the same
//! clock (difference 0), nothing moves and the controller goes on bit for bit.

use serde::{Deserialize, Serialize};

use crate::budget::BudgetState;
use crate::estimators::{AttemptState, CalibrationState, HandleState, TrackerState};
use crate::{Config, PredictiveConfig};

/// The snapshot format this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// What a controller has learned, as of its last tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingState {
    pub version: u32,
    /// The snapshot instant on the clock of the controller that made it (its last tick).
    pub at: f64,
    pub(crate) learned: Learned,
}

/// The learned state per policy (the simple pacers learn nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub(crate) enum Learned {
    Predictive(Box<PredictiveState>),
}

/// The predictive pacer's learning: attempt and handle-time models, agent tracker,
/// abandonment budget, forecast calibration and price, with the configuration they were
/// learned under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PredictiveState {
    pub(crate) cfg: Config,
    pub(crate) p: PredictiveConfig,
    pub(crate) attempts: AttemptState,
    pub(crate) handle: HandleState,
    pub(crate) tracker: TrackerState,
    pub(crate) budget: BudgetState,
    pub(crate) calibration: CalibrationState,
    pub(crate) ln_theta: f64,
    pub(crate) last_active_t: Option<f64>,
}

/// Why a snapshot was not restored (the controller then starts cold).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    #[error("pacing state version {found} is not the supported {STATE_VERSION}")]
    UnknownVersion { found: u64 },
    #[error("pacing state is unreadable: {0}")]
    Corrupt(String),
    #[error("pacing state was learned under another policy or configuration")]
    ConfigChanged,
    #[error("this pacer keeps no state to restore")]
    NotSupported,
}

impl PacingState {
    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a pacing state serializes (finite numbers only)")
    }

    /// Reads a stored snapshot: the version first, so a newer format is told apart from a
    /// corrupt one.
    pub fn from_json(json: &str) -> Result<PacingState, StateError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let found = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| StateError::Corrupt("no version".into()))?;
        if found != u64::from(STATE_VERSION) {
            return Err(StateError::UnknownVersion { found });
        }
        serde_json::from_value(value).map_err(|e| StateError::Corrupt(e.to_string()))
    }
}

/// Whether two configurations are the same for learning purposes (`agents` is informative).
pub(crate) fn same_config(a: &Config, b: &Config) -> bool {
    Config {
        agents: 0,
        ..a.clone()
    } == Config {
        agents: 0,
        ..b.clone()
    }
}
