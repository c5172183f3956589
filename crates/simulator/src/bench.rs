//! The benchmark: every scenario x team size, the predictive pacer against the baselines
//! (progressive, power 2.0, VICIdial-style adaptive, power-k tuned in hindsight), all on the
//! same random draws, run on worker threads across cells.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pacing::Policy;
use serde::Serialize;

use crate::engine::{SimConfig, run_days, run_independent_days};
use crate::metrics::{DayMetrics, Summary};
use crate::scenario::{Scenario, ScenarioId, frontier};

/// Errors of a simulation run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("controller: {0}")]
    Pacing(#[from] pacing::PacingError),
    #[error("a worker thread panicked")]
    Worker,
}

/// Days and summary of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub policy: String,
    pub scenario: ScenarioId,
    pub agents: usize,
    pub summary: Summary,
    #[serde(skip)]
    pub days: Vec<DayMetrics>,
}

/// Strict abandonment the tuned power-k must stay under.
pub const TUNE_TARGET: f64 = 0.03;

pub fn policy_label(p: &Policy) -> String {
    match p {
        Policy::Preview => "preview".into(),
        Policy::Progressive => "progressive".into(),
        Policy::Power { ratio } => format!("power {ratio:.2}"),
        Policy::Predictive(_) => "predictive".into(),
        Policy::VicidialAdaptive => "vicidial".into(),
    }
}

/// Runs one policy.
pub fn run(cfg: &SimConfig, policy: &Policy) -> Result<RunResult, SimError> {
    let cc = cfg.controller_config();
    let days = if cfg.independent_days {
        run_independent_days(cfg, &mut || policy.build(&cc))?
    } else {
        let mut c = policy.build(&cc)?;
        run_days(cfg, c.as_mut())?
    };
    Ok(RunResult {
        policy: policy_label(policy),
        scenario: cfg.scenario.id,
        agents: cfg.agents,
        summary: Summary::from_days(&days),
        days,
    })
}

/// Highest power ratio tried by the tuning.
pub const TUNE_MAX_K: f64 = 10.0;

/// Bisects k in [1, [`TUNE_MAX_K`]] (8 steps) for the largest power ratio whose pooled strict
/// abandonment stays at or under [`TUNE_TARGET`], in hindsight (on the very days it reports).
pub fn tune_power_k(cfg: &SimConfig) -> Result<(f64, RunResult), SimError> {
    let ok = |r: &RunResult| r.summary.strict_abandonment.value <= TUNE_TARGET;
    let top = run(cfg, &Policy::Power { ratio: TUNE_MAX_K })?;
    if ok(&top) {
        return Ok((TUNE_MAX_K, top));
    }
    let (mut lo, mut hi) = (1.0, TUNE_MAX_K);
    let mut best: Option<RunResult> = None;
    for _ in 0..8 {
        let mid = (lo + hi) / 2.0;
        let r = run(cfg, &Policy::Power { ratio: mid })?;
        if ok(&r) {
            lo = mid;
            best = Some(r);
        } else {
            hi = mid;
        }
    }
    let best = match best {
        Some(b) => b,
        None => run(cfg, &Policy::Power { ratio: lo })?,
    };
    Ok((lo, best))
}

/// One cell of the benchmark table.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub scenario: ScenarioId,
    pub agents: usize,
    pub frontier: Option<f64>,
    pub predictive: Summary,
    pub progressive: Summary,
    pub power2: Summary,
    pub vicidial: Summary,
    pub power_k: f64,
    pub power_k_summary: Summary,
}

/// Which job of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Predictive,
    Progressive,
    Power2,
    Vicidial,
    PowerK,
}

const JOBS: [Job; 5] = [
    Job::PowerK,
    Job::Predictive,
    Job::Vicidial,
    Job::Power2,
    Job::Progressive,
];

/// Runs every (scenario, team size) cell on `threads` workers.
pub fn run_all(
    scenarios: &[ScenarioId],
    teams: &[usize],
    days: u32,
    shift_s: u32,
    seed: u64,
    independent_days: bool,
    threads: usize,
) -> Result<Vec<Cell>, SimError> {
    let mut cells = Vec::new();
    for &s in scenarios {
        for &n in teams {
            cells.push((s, n));
        }
    }
    // Biggest first so the last jobs to finish are short.
    let mut jobs: Vec<(usize, Job)> = Vec::new();
    for job in JOBS {
        for (i, _) in cells.iter().enumerate() {
            jobs.push((i, job));
        }
    }
    jobs.sort_by_key(|&(i, job)| {
        let weight = if job == Job::PowerK { 8 } else { 1 };
        std::cmp::Reverse(cells[i].1 * weight)
    });
    type Out = Result<(f64, RunResult), SimError>;
    let results: Mutex<Vec<Option<Out>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(ci, job)) = jobs.get(j) else { break };
                    let (s, n) = cells[ci];
                    let cfg = SimConfig {
                        seed,
                        shift_s,
                        independent_days,
                        ..SimConfig::new(Scenario::get(s), n, days)
                    };
                    let out = match job {
                        Job::Predictive => run(&cfg, &Policy::predictive()).map(|r| (0.0, r)),
                        Job::Progressive => run(&cfg, &Policy::Progressive).map(|r| (0.0, r)),
                        Job::Power2 => run(&cfg, &Policy::Power { ratio: 2.0 }).map(|r| (0.0, r)),
                        Job::Vicidial => run(&cfg, &Policy::VicidialAdaptive).map(|r| (0.0, r)),
                        Job::PowerK => tune_power_k(&cfg),
                    };
                    if let Ok(mut r) = results.lock() {
                        r[j] = Some(out);
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| SimError::Worker)?;
    let mut by_cell: Vec<[Option<(f64, Summary)>; 5]> = vec![Default::default(); cells.len()];
    for (k, out) in results.into_iter().enumerate() {
        let (ci, job) = jobs[k];
        let (x, r) = out.ok_or(SimError::Worker)??;
        let slot = JOBS.iter().position(|&j| j == job).unwrap_or(0);
        by_cell[ci][slot] = Some((x, r.summary));
    }
    let mut out = Vec::new();
    for (ci, slots) in by_cell.into_iter().enumerate() {
        let [pk, pred, vici, p2, prog] = slots;
        let (s, n) = cells[ci];
        let (k, pk) = pk.ok_or(SimError::Worker)?;
        let get = |x: Option<(f64, Summary)>| x.map(|v| v.1).ok_or(SimError::Worker);
        out.push(Cell {
            scenario: s,
            agents: n,
            frontier: frontier(s, n),
            predictive: get(pred)?,
            progressive: get(prog)?,
            power2: get(p2)?,
            vicidial: get(vici)?,
            power_k: k,
            power_k_summary: pk,
        });
    }
    Ok(out)
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

fn ab(s: &Summary) -> String {
    let e = s.strict_abandonment;
    format!("{} [{}-{}]", pct(e.value), pct(e.lo), pct(e.hi))
}

/// The benchmark table in Markdown (percentages).
pub fn markdown(cells: &[Cell]) -> String {
    let mut s = String::new();
    s.push_str(
        "| cell | predictive aband. % [95 % CI] | pred. occ. % | frontier % (gap) | pred. worst 30 min % | progressive aband. / occ. % | power 2.0 aband. / occ. % | VICIdial aband. / occ. % | power-k (k) aband. / occ. % |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let frontier = match c.frontier {
            Some(f) => format!(
                "{} ({:+.1})",
                pct(f),
                100.0 * (c.predictive.occupancy.value - f)
            ),
            None => "-".into(),
        };
        let pair = |x: &Summary| {
            format!(
                "{} / {}",
                pct(x.strict_abandonment.value),
                pct(x.occupancy.value)
            )
        };
        s.push_str(&format!(
            "| {} x {} | {} | {} | {} | {} | {} | {} | {} | ({:.2}) {} |\n",
            c.scenario,
            c.agents,
            ab(&c.predictive),
            pct(c.predictive.occupancy.value),
            frontier,
            c.predictive.worst_30min_window.map_or("-".into(), pct),
            pair(&c.progressive),
            pair(&c.power2),
            pair(&c.vicidial),
            c.power_k,
            pair(&c.power_k_summary),
        ));
    }
    s
}

/// The predictive pacer's secondary metrics per cell, in Markdown.
pub fn markdown_detail(cells: &[Cell]) -> String {
    let mut s = String::new();
    s.push_str(
        "| cell | pacing aband. % | occ. % [95 % CI] | idle s / agent-h | live contacts / agent-h | RPC / agent-h | dials / agent-h | dials / live contact | peak lines |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let p = &c.predictive;
        let o = p.occupancy;
        s.push_str(&format!(
            "| {} x {} | {} | {} [{}-{}] | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} | {} |\n",
            c.scenario,
            c.agents,
            pct(p.pacing_abandonment),
            pct(o.value),
            pct(o.lo),
            pct(o.hi),
            p.idle_s_per_agent_hour,
            p.live_contacts_per_agent_hour,
            p.rpc_per_agent_hour,
            p.dials_per_agent_hour,
            p.dials_per_live_contact,
            p.peak_lines,
        ));
    }
    s
}

/// What the predictive-only grid runs: every scenario x team size x seed.
#[derive(Debug, Clone)]
pub struct GridSpec {
    pub scenarios: Vec<ScenarioId>,
    pub teams: Vec<usize>,
    pub seeds: Vec<u64>,
    pub days: u32,
    pub shift_s: u32,
    /// A fresh controller every day (cold starts), see [`SimConfig::independent_days`].
    pub independent_days: bool,
}

/// One (scenario, team size) cell of the predictive-only grid.
#[derive(Debug, Clone, Serialize)]
pub struct GridCell {
    pub scenario: ScenarioId,
    pub agents: usize,
    pub frontier: Option<f64>,
    /// Every seed's days pooled.
    pub pooled: Summary,
    /// One summary per seed, in the order of [`GridSpec::seeds`].
    pub per_seed: Vec<Summary>,
}

impl GridCell {
    /// The highest strict abandonment of any one seed's run.
    pub fn worst_seed_abandonment(&self) -> f64 {
        self.per_seed
            .iter()
            .map(|s| s.strict_abandonment.value)
            .fold(0.0, f64::max)
    }
}

/// Runs the predictive pacer on every cell and seed of `spec`, on `threads` workers.
pub fn run_grid(
    spec: &GridSpec,
    policy: &Policy,
    threads: usize,
) -> Result<Vec<GridCell>, SimError> {
    let mut jobs: Vec<(ScenarioId, usize, u64)> = Vec::new();
    for &s in &spec.scenarios {
        for &n in &spec.teams {
            for &seed in &spec.seeds {
                jobs.push((s, n, seed));
            }
        }
    }
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].1));
    let results: Mutex<Vec<Option<Result<RunResult, SimError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&j) = order.get(k) else { break };
                    let (s, n, seed) = jobs[j];
                    let cfg = SimConfig {
                        seed,
                        shift_s: spec.shift_s,
                        independent_days: spec.independent_days,
                        ..SimConfig::new(Scenario::get(s), n, spec.days)
                    };
                    let out = run(&cfg, policy);
                    if let Ok(mut r) = results.lock() {
                        r[j] = Some(out);
                    }
                }
            });
        }
    });
    let results = results.into_inner().map_err(|_| SimError::Worker)?;
    let mut runs = Vec::with_capacity(results.len());
    for r in results {
        runs.push(r.ok_or(SimError::Worker)??);
    }
    let per_cell = spec.seeds.len().max(1);
    let mut out = Vec::new();
    for chunk in runs.chunks(per_cell) {
        let first = &chunk[0];
        let days: Vec<DayMetrics> = chunk.iter().flat_map(|r| r.days.iter().cloned()).collect();
        out.push(GridCell {
            scenario: first.scenario,
            agents: first.agents,
            frontier: frontier(first.scenario, first.agents),
            pooled: Summary::from_days(&days),
            per_seed: chunk.iter().map(|r| r.summary.clone()).collect(),
        });
    }
    Ok(out)
}

/// The predictive-only grid in Markdown (percentages).
pub fn markdown_grid(cells: &[GridCell]) -> String {
    let opt = |x: Option<f64>| x.map_or("-".into(), pct);
    let mut s = String::new();
    s.push_str(
        "| cell | occ. % | frontier % (gap) | strict aband. % (pooled) | worst seed % | worst 30 min % | first 30 min % | worst first 30 min % | rest of shift % | peak lines |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cells {
        let p = &c.pooled;
        let frontier = match c.frontier {
            Some(f) => format!("{} ({:+.1})", pct(f), 100.0 * (p.occupancy.value - f)),
            None => "-".into(),
        };
        s.push_str(&format!(
            "| {} x {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.scenario,
            c.agents,
            pct(p.occupancy.value),
            frontier,
            pct(p.strict_abandonment.value),
            pct(c.worst_seed_abandonment()),
            opt(p.worst_30min_window),
            opt(p.first_30min_abandonment),
            opt(p.worst_first_30min),
            opt(p.rest_abandonment),
            p.peak_lines,
        ));
    }
    s
}
