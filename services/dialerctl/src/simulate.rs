//! `dialerctl simulate`: the pacing benchmark from the command line.
//!
//! One cell: `dialerctl simulate --scenario S2 --agents 50 --days 10 --policy predictive
//! [--json]`. The whole table: `dialerctl simulate --all --days 10 --markdown`. The
//! predictive pacer alone on cold (independent) days, several team sizes and seeds:
//! `dialerctl simulate --all --predictive-only --agents 5,10,20,50,200 --days 3 --seeds 1,2,3
//! --independent-days --markdown`.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use pacing::Policy;
use simulator::{Scenario, ScenarioId, SimConfig, Summary, TEAM_SIZES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyArg {
    Predictive,
    Progressive,
    Power,
    Vicidial,
    PowerK,
    Preview,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Scenario S1..S9 (one cell).
    #[arg(long, default_value = "S2")]
    pub scenario: String,
    /// Team size (one cell: the first; with --all: every listed size, default 10,50,200).
    #[arg(long, value_delimiter = ',')]
    pub agents: Vec<usize>,
    /// Days (shifts of one campaign; see --independent-days).
    #[arg(long, default_value_t = 10)]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = PolicyArg::Predictive)]
    pub policy: PolicyArg,
    /// Lines per ready agent of `--policy power`.
    #[arg(long, default_value_t = 2.0)]
    pub ratio: f64,
    /// Added to every scenario's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// With --all --predictive-only: several seeds (each added to the scenario's seed); the
    /// table pools their days and shows the worst seed. Overrides --seed.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Every day a fresh controller with its clock from 0 (a cold start with no memory),
    /// instead of one controller whose 30-day budget carries over.
    #[arg(long)]
    pub independent_days: bool,
    /// With --all: only the predictive pacer (no baselines); prints occupancy, strict
    /// abandonment, worst 30-minute window and first-30-minutes vs rest of the shift.
    #[arg(long)]
    pub predictive_only: bool,
    /// With --all: only these scenarios (default every one), e.g. S1,S5.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Shift length in seconds.
    #[arg(long, default_value_t = 28_800)]
    pub shift_s: u32,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
    /// Run the whole benchmark (every scenario x 10/50/200 agents x every policy).
    #[arg(long)]
    pub all: bool,
    /// With --all: print the Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// With --all: worker threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn human(label: &str, cfg: &SimConfig, s: &Summary) -> String {
    let e = s.strict_abandonment;
    let o = s.occupancy;
    let mut out = format!(
        "{} x {} agents, {} days, policy {label}\n",
        cfg.scenario.id, cfg.agents, s.days
    );
    let rows = [
        (
            "strict abandonment",
            format!("{} [{} .. {}]", pct(e.value), pct(e.lo), pct(e.hi)),
        ),
        ("pacing abandonment", pct(s.pacing_abandonment)),
        (
            "worst 30-min window",
            s.worst_30min_window.map_or("-".into(), pct),
        ),
        (
            "first 30 min / rest",
            format!(
                "{} / {} (worst first 30 min {})",
                s.first_30min_abandonment.map_or("-".into(), pct),
                s.rest_abandonment.map_or("-".into(), pct),
                s.worst_first_30min.map_or("-".into(), pct)
            ),
        ),
        (
            "occupancy",
            format!("{} [{} .. {}]", pct(o.value), pct(o.lo), pct(o.hi)),
        ),
        (
            "idle s / agent-hour",
            format!("{:.0}", s.idle_s_per_agent_hour),
        ),
        (
            "live contacts / agent-hour",
            format!("{:.2}", s.live_contacts_per_agent_hour),
        ),
        ("RPCs / agent-hour", format!("{:.2}", s.rpc_per_agent_hour)),
        (
            "dials / agent-hour",
            format!("{:.1}", s.dials_per_agent_hour),
        ),
        (
            "dials / live contact",
            format!("{:.2}", s.dials_per_live_contact),
        ),
        ("peak lines", s.peak_lines.to_string()),
    ];
    for (k, v) in rows {
        out.push_str(&format!("  {k:<28}{v}\n"));
    }
    if let Some(f) = simulator::frontier(cfg.scenario.id, cfg.agents) {
        out.push_str(&format!(
            "  {:<28}{} (gap {:+.1} points)\n",
            "reference frontier",
            pct(f),
            100.0 * (o.value - f)
        ));
    }
    out
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.all {
        let threads = args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let started = std::time::Instant::now();
        let scenarios = if args.scenarios.is_empty() {
            ScenarioId::ALL.to_vec()
        } else {
            let mut v = Vec::new();
            for name in &args.scenarios {
                let Some(id) = ScenarioId::parse(name) else {
                    bail!("unknown scenario {name:?} (S1..S9)");
                };
                v.push(id);
            }
            v
        };
        let teams = if args.agents.is_empty() {
            TEAM_SIZES.to_vec()
        } else {
            args.agents.clone()
        };
        if teams.contains(&0) || args.days == 0 || args.shift_s == 0 {
            bail!("--agents, --days and --shift-s must be positive");
        }
        if args.predictive_only {
            let spec = simulator::GridSpec {
                scenarios,
                teams,
                seeds: if args.seeds.is_empty() {
                    vec![args.seed]
                } else {
                    args.seeds.clone()
                },
                days: args.days,
                shift_s: args.shift_s,
                independent_days: args.independent_days,
            };
            let cells = simulator::run_grid(&spec, &Policy::predictive(), threads)?;
            eprintln!(
                "dialerctl: {} cells x {} seeds, predictive only, {} {} days each, {:.0} s",
                cells.len(),
                spec.seeds.len(),
                spec.days,
                if spec.independent_days {
                    "independent"
                } else {
                    "consecutive"
                },
                started.elapsed().as_secs_f64()
            );
            if args.json {
                for c in &cells {
                    writeln!(out, "{}", serde_json::to_string(c)?)?;
                }
            } else {
                write!(out, "{}", simulator::bench::markdown_grid(&cells))?;
            }
            return Ok(());
        }
        let cells = simulator::run_all(
            &scenarios,
            &teams,
            args.days,
            args.shift_s,
            args.seed,
            args.independent_days,
            threads,
        )?;
        eprintln!(
            "dialerctl: {} cells x 5 policies, {} days each, {:.0} s",
            cells.len(),
            args.days,
            started.elapsed().as_secs_f64()
        );
        if args.json {
            for c in &cells {
                writeln!(out, "{}", serde_json::to_string(c)?)?;
            }
        } else {
            write!(out, "{}", simulator::bench::markdown(&cells))?;
            writeln!(out)?;
            write!(out, "{}", simulator::bench::markdown_detail(&cells))?;
        }
        return Ok(());
    }
    let Some(id) = ScenarioId::parse(&args.scenario) else {
        bail!("unknown scenario {:?} (S1..S9)", args.scenario);
    };
    let agents = args.agents.first().copied().unwrap_or(50);
    let cfg = SimConfig {
        seed: args.seed,
        shift_s: args.shift_s,
        independent_days: args.independent_days,
        ..SimConfig::new(Scenario::get(id), agents, args.days)
    };
    if cfg.agents == 0 || cfg.days == 0 || cfg.shift_s == 0 {
        bail!("--agents, --days and --shift-s must be positive");
    }
    let (label, result) = match args.policy {
        PolicyArg::PowerK => {
            let (k, r) = simulator::tune_power_k(&cfg).context("tuning power-k")?;
            (format!("power-k (tuned k = {k:.3})"), r)
        }
        p => {
            let policy = match p {
                PolicyArg::Predictive => Policy::predictive(),
                PolicyArg::Progressive => Policy::Progressive,
                PolicyArg::Power => Policy::Power { ratio: args.ratio },
                PolicyArg::Vicidial => Policy::VicidialAdaptive,
                PolicyArg::Preview => Policy::Preview,
                PolicyArg::PowerK => unreachable!("handled above"),
            };
            let r = simulator::run(&cfg, &policy)?;
            (r.policy.clone(), r)
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&result)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("policy".into(), label.into());
            m.insert("days".into(), cfg.days.into());
        }
        writeln!(out, "{v}")?;
    } else {
        write!(out, "{}", human(&label, &cfg, &result.summary))?;
    }
    Ok(())
}
