//! `dialerctl ledger replay`: a receivables report from a file of money events, as of a date,
//! with the period KPIs. The JSON it prints (`--json`) is a contract other tools read: the
//! field names are those of issue 12, extended, never renamed.
//!
//! It runs an embedded ledger: the ledger's own store (`ledger::store::Store`) on a
//! temporary SQLite file, removed afterwards. The file is imported through
//! `Store::import_money_events`, the code behind `ledgerd`'s `ImportMoneyEvents` RPC
//! (checked by the receivables engine, one all-or-nothing transaction), and the report is
//! `Store::receivables_report`, what `GetReceivablesReport` answers: so this command and a
//! `ledgerd` (on PostgreSQL or SQLite) give the same report for the same file.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use ledger::store::{Store, StoreError};

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
    if period_start > as_of {
        bail!(receivables::ReportError::PeriodAfterAsOf {
            period_start,
            as_of
        });
    }
    let text = std::fs::read_to_string(&args.events)
        .with_context(|| format!("reading {}", args.events.display()))?;
    // Each line is checked on its own first, so a malformed one is named by its line.
    let parsed = match receivables::jsonl::parse(&text) {
        Ok(p) => p,
        Err(e) => bail!("{}: {e}", args.events.display()),
    };
    let (lines, events): (Vec<usize>, Vec<receivables::Event>) = parsed.into_iter().unzip();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = TempDb::new();
    let result = rt.block_on(async {
        let store = Store::connect(&db.url()).await?;
        let report = match store.import_money_events(events, "dialerctl").await {
            Ok(_) => store.receivables_report(period_start, as_of).await,
            Err(e) => Err(e),
        };
        store.close().await;
        report
    });
    drop(db);
    // A bad file is refused as a whole, the message naming the line and field.
    let report = match result {
        Ok(r) => r,
        Err(StoreError::Refused { index, message, .. }) => {
            let line = lines.get(index).copied().unwrap_or(0);
            bail!("{}: line {line}: {message}", args.events.display())
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if args.csv {
        print!("{}", receivables::accounts_csv(&report));
    } else {
        print_text(&report);
    }
    Ok(())
}

/// The embedded ledger's SQLite file in the system's temporary directory, removed (with its
/// WAL files) when dropped.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> TempDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("dialerctl-replay-{}-{nanos}.db", std::process::id());
        TempDb {
            path: std::env::temp_dir().join(name),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
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
