//! `dialerctl`: the operator's command-line tool.
//!
//! - `dialerctl compliance check`: batch compliance decisions, JSON lines on stdin/stdout.
//! - `dialerctl compliance sample`: writes sample cases for `check` (load tests, examples).
//! - `dialerctl demo` (also what runs with no subcommand): a compliance-audited day of
//!   dialing over a generated portfolio, on the embedded defaults.
//! - `dialerctl simulate`: the pacing benchmark (one cell, or `--all` for the table).
//! - `dialerctl pacing-agent`: the pacing controller behind the JSON-lines protocol.
//! - `dialerctl test-call`: one call through a SIP trunk, to check it.
//! - `dialerctl ledger replay`: a receivables report from a file of money events.
//! - `dialerctl ledger export`: a running ledgerd's aging, KPI or commitment report as CSV.
//! - `dialerctl campaign create|start|pause|resume|stop|list|show`, `agents`, `explain`: a
//!   campaign manager's commands over dialerd's gRPC API.
//! - `dialerctl watch CAMPAIGN`: the manager's live terminal view of a campaign.
//! - `dialerctl sim-agents CAMPAIGN`: simulated softphones working a campaign (demos).
//!
//! A composition root (docs/architecture.md): it may use any crate; `demo` runs the
//! all-in-one of `services/allinone`.

mod agent;
mod campaign_file;
mod check;
mod client;
mod demo;
mod ledger;
mod manage;
mod portfolio;
mod sim_agents;
mod simulate;
mod test_call;
mod watch;

use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use compliance::packs::RuleSet;
use compliance::policy::UnknownLocation;
use compliance::{Engine, Policy};

#[derive(Parser)]
#[command(
    name = "dialerctl",
    version,
    about = "Operator tool of the collections dialer"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compliance engine commands.
    Compliance {
        #[command(subcommand)]
        command: ComplianceCommand,
    },
    /// Runs a simulated day of dialing through the compliance engine and prints a report.
    Demo(demo::DemoArgs),
    /// Simulates outbound shifts with a pacing policy and prints the benchmark metrics.
    Simulate(simulate::SimulateArgs),
    /// Serves the pacing controller over JSON lines on stdin/stdout.
    PacingAgent(agent::AgentArgs),
    /// Places one call through a SIP trunk and prints how it went.
    TestCall(test_call::TestCallArgs),
    /// Receivables ledger commands.
    Ledger {
        #[command(subcommand)]
        command: ledger::LedgerCommand,
    },
    /// A manager's campaign commands on dialerd (address and token: --addr/--token,
    /// DIALER_ADDR/DIALER_TOKEN, or ~/.config/dialerctl/config.toml).
    Campaign {
        #[command(flatten)]
        conn: client::ConnArgs,
        #[command(subcommand)]
        command: manage::CampaignCommand,
    },
    /// The agents logged in to dialerd's campaigns: state, time in state, call, calls, talk.
    Agents {
        #[command(flatten)]
        conn: client::ConnArgs,
        /// Only this campaign's agents.
        #[arg(long)]
        campaign: Option<String>,
    },
    /// Why an account may or may not be called now (ComplianceService.Explain).
    Explain {
        #[command(flatten)]
        conn: client::ConnArgs,
        #[command(flatten)]
        args: manage::ExplainArgs,
    },
    /// Simulated agents' softphones working a campaign over gRPC, for demos (an admin's
    /// token logs in several).
    SimAgents {
        #[command(flatten)]
        conn: client::ConnArgs,
        #[command(flatten)]
        args: sim_agents::SimAgentsArgs,
    },
    /// A live view of a campaign's figures (keys: p pause, r resume, q quit).
    Watch {
        #[command(flatten)]
        conn: client::ConnArgs,
        /// The campaign id.
        campaign: String,
    },
}

#[derive(Subcommand)]
enum ComplianceCommand {
    /// Reads one JSON case per line on stdin, writes one JSON decision per line on stdout.
    Check(CheckArgs),
    /// Writes generated cases for `check`, one JSON line each, to stdout.
    Sample(SampleArgs),
}

#[derive(clap::Args)]
struct SampleArgs {
    /// Number of cases.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Drops nulls, `false`, empty arrays and objects: the defaults a case may leave out.
fn compact(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(compact);
            m.retain(|_, v| match v {
                Value::Null | Value::Bool(false) => false,
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(compact),
        _ => {}
    }
}

fn compliance_sample(args: &SampleArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut rng = portfolio::Rng::new(args.seed);
    let since: jiff::Timestamp = "2026-07-13T00:00:00Z".parse()?;
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    for (i, req) in portfolio::cases(args.count, &mut rng, since).enumerate() {
        let mut case = serde_json::to_value(&req)?;
        compact(&mut case);
        if let serde_json::Value::Object(m) = &mut case {
            m.insert("id".to_string(), serde_json::Value::String(format!("s{i}")));
        }
        serde_json::to_writer(&mut out, &case)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Campaign policy file (TOML or JSON; fields of `compliance::Policy`).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// What to do without any location (overrides the policy file).
    #[arg(long, value_enum)]
    unknown_location: Option<UnknownLocationArg>,
    /// A rule-set file replacing the built-in packs (format of packs/builtin.toml).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Add rule ids, explanations and zone sources to each answer.
    #[arg(long)]
    explain: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum UnknownLocationArg {
    Deny,
    AllUs,
}

fn load_policy(path: Option<&PathBuf>) -> anyhow::Result<Policy> {
    let Some(path) = path else {
        return Ok(Policy::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let policy: Policy = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    } else {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    };
    policy
        .validate()
        .with_context(|| format!("policy {}", path.display()))?;
    Ok(policy)
}

fn compliance_check(args: CheckArgs) -> anyhow::Result<()> {
    let mut policy = load_policy(args.policy.as_ref())?;
    if let Some(u) = args.unknown_location {
        policy.unknown_location = match u {
            UnknownLocationArg::Deny => UnknownLocation::Deny,
            UnknownLocationArg::AllUs => UnknownLocation::AllUs,
        };
    }
    let engine = match &args.rules {
        None => Engine::builtin(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Engine::with_rules(
                RuleSet::from_toml(&text).with_context(|| format!("rules {}", path.display()))?,
            )
        }
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let opts = check::CheckOptions {
        policy,
        threads,
        explain: args.explain,
    };
    let stdin = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let stdout = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let started = std::time::Instant::now();
    let stats = check::run(&engine, stdin, stdout, &opts)?;
    let secs = started.elapsed().as_secs_f64();
    if stats.cases > 0 {
        eprintln!(
            "dialerctl: {} cases, {} errors, {:.2} s ({:.0} cases/s)",
            stats.cases,
            stats.errors,
            secs,
            stats.cases as f64 / secs.max(1e-9)
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Compliance {
            command: ComplianceCommand::Check(args),
        }) => compliance_check(args),
        Some(Command::Compliance {
            command: ComplianceCommand::Sample(args),
        }) => compliance_sample(&args),
        Some(Command::Demo(args)) => demo::run(&args),
        Some(Command::Simulate(args)) => simulate::run(&args),
        Some(Command::PacingAgent(args)) => agent::run(&args),
        Some(Command::TestCall(args)) => test_call::run(&args),
        Some(Command::Ledger { command }) => ledger::run(&command),
        Some(Command::Campaign { conn, command }) => {
            exit_on_failure(manage::run(&conn, manage::Manage::Campaign(command)))
        }
        Some(Command::Agents { conn, campaign }) => {
            exit_on_failure(manage::run(&conn, manage::Manage::Agents { campaign }))
        }
        Some(Command::Explain { conn, args }) => {
            exit_on_failure(manage::run(&conn, manage::Manage::Explain(args)))
        }
        Some(Command::SimAgents { conn, args }) => exit_on_failure(sim_agents::run(&conn, &args)),
        Some(Command::Watch { conn, campaign }) => exit_on_failure(watch::run(&conn, &campaign)),
        None => demo::run(&demo::DemoArgs::default()),
    }
}

/// A manager's command that failed: its one line on stderr and its exit code.
fn exit_on_failure(r: Result<(), client::Failure>) -> anyhow::Result<()> {
    if let Err(f) = r {
        eprintln!("dialerctl: {}", f.message);
        std::process::exit(i32::from(f.exit_code()));
    }
    Ok(())
}
