//! The benchmark: every scenario x team size, the predictive pacer against the baselines
//! (progressive, power 2.0, VICIdial-style adaptive, power-k tuned in hindsight), all on the
//! same random draws, run on worker threads across cells.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pacing::Policy;
use serde::Serialize;

use crate::engine::{SimConfig, run_days};
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
    let mut c = policy.build(&cfg.controller_config())?;
    let days = run_days(cfg, c.as_mut())?;
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
