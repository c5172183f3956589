//! `dialerctl ledger replay`: a receivables report from a file of money events, as of a date,
//! with the period KPIs. The JSON it prints (`--json`) is a contract other tools read: the
//! field names are those of issue 12, extended, never renamed. A file may also hold
//! `consumer_payment` lines (one payment split over several debts, what `ApplyConsumerPayment`
//! does), applied in file order through `Store::apply_consumer_payment`.
//!
//! `dialerctl ledger export`: a running ledgerd's aging, KPI or commitment report as CSV on
//! stdout (the `Export*Csv` RPCs), for spreadsheets.
//!
//! It runs an embedded ledger: the ledger's own store (`ledger::store::Store`) on a
//! temporary SQLite file, removed afterwards. The file is imported through
//! `Store::import_money_events`, the code behind `ledgerd`'s `ImportMoneyEvents` RPC
//! (checked by the receivables engine, one all-or-nothing transaction), and the report is
//! `Store::receivables_report`, what `GetReceivablesReport` answers: so this command and a
//! `ledgerd` (on PostgreSQL or SQLite) give the same report for the same file.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use collections_proto::ledger_v1 as lpb;
use ledger::store::{Store, StoreError};
use receivables::jsonl::Line;

use crate::client::{self, Failure, LedgerConnArgs};

#[derive(clap::Subcommand)]
pub enum LedgerCommand {
    /// Imports a JSON Lines file of money events and prints the report as of a date.
    Replay(ReplayArgs),
    /// Writes a running ledgerd's report as CSV to stdout (address and token: --addr/--token
    /// or LEDGER_ADDR/LEDGER_TOKEN; a manager's or admin's token).
    Export(ExportArgs),
}

/// The reports `ledger export` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportReport {
    /// Aging lines per account (ExportAgingCsv).
    Aging,
    /// The period's KPIs, one row (ExportKpiCsv; needs --period-start).
    Kpi,
    /// Promises, plans and settlements with their status (ExportCommitmentCsv).
    Commitments,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    conn: LedgerConnArgs,
    /// Which report.
    #[arg(long, value_enum)]
    report: ExportReport,
    /// The report's date (YYYY-MM-DD).
    #[arg(long)]
    as_of: String,
    /// The first day of the KPI period (YYYY-MM-DD); --report kpi only.
    #[arg(long)]
    period_start: Option<String>,
    /// Only debts of this client (the ledger account's creditor).
    #[arg(long)]
    client: Option<String>,
    /// Only debts this campaign attempted.
    #[arg(long)]
    campaign: Option<String>,
    /// Only accounts with money in this bucket (current, 1_30, ..., 121_plus).
    #[arg(long)]
    bucket: Option<String>,
    /// Only accounts whose do-not-transfer flag (settled or in dispute) is this: `false`
    /// lists what a debt sale may include.
    #[arg(long)]
    transfer_blocked: Option<bool>,
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
        LedgerCommand::Export(args) => {
            if let Err(f) = export(args) {
                eprintln!("dialerctl: {}", f.message);
                std::process::exit(i32::from(f.exit_code()));
            }
            Ok(())
        }
    }
}

/// Streams the report's CSV chunks to stdout as they come.
fn export(args: &ExportArgs) -> Result<(), Failure> {
    use std::io::Write as _;
    let conn = client::resolve_ledger(&args.conn, &|k| std::env::var(k).ok());
    let filter = Some(lpb::ReportFilter {
        client: args.client.clone().unwrap_or_default(),
        campaign_id: args.campaign.clone().unwrap_or_default(),
        bucket: args.bucket.clone().unwrap_or_default(),
        transfer_blocked: args.transfer_blocked,
    });
    let what = "ledger export";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::invalid(format!("{what}: runtime: {e}")))?;
    rt.block_on(async {
        let mut c = conn.receivables().await?;
        let describe = |s: tonic::Status| client::describe_for(&s, what, "ledgerd");
        let mut stream = match args.report {
            ExportReport::Aging => c
                .export_aging_csv(lpb::GetAgingReportRequest {
                    as_of: args.as_of.clone(),
                    filter,
                    ..Default::default()
                })
                .await
                .map_err(describe)?,
            ExportReport::Kpi => {
                let Some(period_start) = args.period_start.clone() else {
                    return Err(Failure::invalid(format!(
                        "{what}: --period-start is required with --report kpi"
                    )));
                };
                c.export_kpi_csv(lpb::GetKpiReportRequest {
                    as_of: args.as_of.clone(),
                    period_start,
                    filter,
                })
                .await
                .map_err(describe)?
            }
            ExportReport::Commitments => c
                .export_commitment_csv(lpb::GetCommitmentReportRequest {
                    as_of: args.as_of.clone(),
                    filter,
                    ..Default::default()
                })
                .await
                .map_err(describe)?,
        }
        .into_inner();
        let mut out = std::io::stdout().lock();
        let write_failed = |e: std::io::Error| Failure::invalid(format!("{what}: stdout: {e}"));
        while let Some(chunk) = stream.message().await.map_err(describe)? {
            out.write_all(&chunk.data).map_err(write_failed)?;
        }
        out.flush().map_err(write_failed)
    })
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
    let parsed = match receivables::jsonl::parse_mixed(&text) {
        Ok(p) => p,
        Err(e) => bail!("{}: {e}", args.events.display()),
    };
    // Runs of events go in as one import each; a consumer payment between them is split
    // against what came before it, as ledgerd would.
    let mut steps: Vec<Step> = Vec::new();
    for (line, parsed) in parsed {
        match (parsed, steps.last_mut()) {
            (Line::Event(e), Some(Step::Events(lines, events))) => {
                lines.push(line);
                events.push(e);
            }
            (Line::Event(e), _) => steps.push(Step::Events(vec![line], vec![e])),
            (Line::ConsumerPayment(p), _) => steps.push(Step::Consumer(line, p)),
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let db = TempDb::new();
    let result: Result<receivables::Report, (usize, StoreError)> = rt.block_on(async {
        let store = Store::connect(&db.url()).await.map_err(|e| (0, e))?;
        let mut outcome = Ok(());
        for step in steps {
            outcome = match step {
                Step::Events(lines, events) => store
                    .import_money_events(events, "dialerctl")
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        let line = match &e {
                            StoreError::Refused { index, .. } => lines.get(*index).copied(),
                            _ => None,
                        };
                        (line.unwrap_or(0), e)
                    }),
                Step::Consumer(line, p) => store
                    .apply_consumer_payment(&p, "dialerctl")
                    .await
                    .map(|_| ())
                    .map_err(|e| (line, e)),
            };
            if outcome.is_err() {
                break;
            }
        }
        let report = match outcome {
            Ok(()) => store
                .receivables_report(period_start, as_of)
                .await
                .map_err(|e| (0, e)),
            Err(e) => Err(e),
        };
        store.close().await;
        report
    });
    drop(db);
    // A bad file is refused as a whole, the message naming the line and field.
    let report = match result {
        Ok(r) => r,
        Err((line, StoreError::Refused { message, .. })) => {
            bail!("{}: line {line}: {message}", args.events.display())
        }
        Err((line, e @ StoreError::ConsumerPayment(_))) => {
            bail!("{}: line {line}: {e}", args.events.display())
        }
        Err((_, e)) => return Err(e.into()),
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

/// One import of the replay: a run of events (with their lines), or a consumer payment.
enum Step {
    Events(Vec<usize>, Vec<receivables::Event>),
    Consumer(usize, receivables::ConsumerPayment),
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
