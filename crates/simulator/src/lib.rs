//! The pacing benchmark's discrete-event simulator.
//!
//! It runs the real pacing controllers of the `pacing` crate against a statistical carrier
//! (the attempt model of [`model`]) and simulated agents, on a virtual clock, with common
//! random numbers so that every policy faces the same dice. [`bench`](mod@bench) runs the whole
//! benchmark (scenarios S1-S9 x 10/50/200 agents x policies); `dialerctl simulate` is its
//! command line.
//!
//! ```
//! use simulator::{SimConfig, Scenario, ScenarioId, run};
//! let cfg = SimConfig { shift_s: 1800, ..SimConfig::new(Scenario::get(ScenarioId::S1), 10, 1) };
//! let r = run(&cfg, &pacing::Policy::Progressive).unwrap();
//! assert!(r.summary.dials > 0);
//! ```

//! # Layout
//!
//! - [`scenario`]: the scenarios S1-S9 and the reference frontier.
//! - [`model`]: the attempt model (what one dial turns into), drawn from [`rng`]'s common
//!   random streams.
//! - [`engine`]: one shift on a virtual clock, a pacer and a team.
//! - [`metrics`]: per-day figures, pooled over days with intervals.
//! - [`bench`](mod@bench): the whole benchmark grid, on worker threads.
//!
//! Like `pacing`, it has no I/O dependency (no tokio, tonic, sqlx or redis).

pub mod bench;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod scenario;

pub use bench::{
    Cell, GridCell, GridSpec, RunResult, SimError, run, run_all, run_grid, tune_power_k,
};
pub use engine::{SimConfig, run_days, run_independent_days};
pub use metrics::{DayMetrics, Estimate, Summary};
pub use scenario::{Scenario, ScenarioId, TEAM_SIZES, frontier};
