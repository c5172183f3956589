//! `dialerctl ledger replay`: a receivables report from a file of money events, as of a date,
//! with the period KPIs. The JSON it prints (`--json`) is a contract other tools read: the
//! field names are those of issue 12, extended, never renamed.
//!
//! Today the events go through the pure receivables engine (`crates/receivables`: the same
//! validation and derivation the ledger will run); the embedded ledger store comes with the
//! ledger's import RPC, and the output does not change with it.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

#[derive(clap::Subcommand)]
pub enum LedgerCommand {
    /// Imports a JSON Lines file of money events and prints the report as of a date.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The events, one JSON object per line (`type`, `id`, `account`, `date`, ...).
    #[arg(long)]
    events: PathBuf,
    /// The report's date (YYYY-MM-DD): events dated later are not seen.
    #[arg(long)]
    as_of: String,
    /// The first day of the KPI period (YYYY-MM-DD); the period ends at `--as-of`.
    #[arg(long)]
    period_start: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Print the accounts as CSV (for spreadsheets) instead.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
}

pub fn run(command: &LedgerCommand) -> anyhow::Result<()> {
    match command {
        LedgerCommand::Replay(args) => replay(args),
    }
}

fn date(flag: &str, text: &str) -> anyhow::Result<jiff::civil::Date> {
    match receivables::event::parse_date(text) {
        Some(d) => Ok(d),
        None => bail!("{flag}: {text:?} is not a date (YYYY-MM-DD)"),
    }
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let as_of = date("--as-of", &args.as_of)?;
    let period_start = date("--period-start", &args.period_start)?;
    let text = std::fs::read_to_string(&args.events)
        .with_context(|| format!("reading {}", args.events.display()))?;
    // A bad file is refused as a whole, the message naming the line and field.
    let book = match receivables::jsonl::load(&text) {
        Ok(b) => b,
        Err(e) => bail!("{}: {e}", args.events.display()),
    };
    let report = receivables::replay(&book, period_start, as_of)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if args.csv {
        print!("{}", receivables::accounts_csv(&report));
    } else {
        print_text(&report);
    }
    Ok(())
}

fn print_text(r: &receivables::Report) {
    let a = &r.aging;
    println!(
        "as of {} (period from {}), {} accounts",
        r.as_of,
        r.period_start,
        r.accounts.len()
    );
    println!("aging (minor units)");
    for (bucket, v) in [
        ("current", a.current),
        ("1-30", a.d1_30),
        ("31-60", a.d31_60),
        ("61-90", a.d61_90),
        ("91-120", a.d91_120),
        ("121+", a.d121_plus),
        ("total", a.total),
    ] {
        println!("  {bucket:<8} {v:>14}");
    }
    println!("credit balance {:>14}", r.credit_balance_minor);
    let k = serde_json::to_value(&r.kpi).unwrap_or_default();
    if let Some(map) = k.as_object() {
        println!("kpi");
        for (name, v) in map {
            println!("  {name:<28} {v}");
        }
    }
}
