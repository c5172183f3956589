//! `dialerctl`: the operator's command-line tool.
//!
//! - `dialerctl compliance check`: batch compliance decisions, JSON lines on stdin/stdout.
//! - `dialerctl demo` (also what runs with no subcommand): a compliance-audited day of
//!   dialing over a generated portfolio, on the embedded defaults.

mod check;
mod demo;

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
}

#[derive(Subcommand)]
enum ComplianceCommand {
    /// Reads one JSON case per line on stdin, writes one JSON decision per line on stdout.
    Check(CheckArgs),
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
        Some(Command::Demo(args)) => demo::run(&args),
        None => demo::run(&demo::DemoArgs::default()),
    }
}
