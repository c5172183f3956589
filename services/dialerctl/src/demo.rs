//! `dialerctl demo` (what `cargo run --release` runs): the embedded all-in-one. A ledger and
//! a dialer in this process on SQLite files, a CRM load of a generated portfolio over gRPC, a
//! predictive campaign with simulated agents on the simulated carrier on a fast clock, hourly
//! progress, and a shift report checked against what the ledger recorded. See
//! `allinone::embedded` for how the pieces are wired. With `--serve` the ledger and a dialerd
//! stay up for real clients; with `--http` too, that dialerd serves the web wallboard and
//! runs a live campaign worked by simulated agents, so the wallboard has figures to show.

use std::path::{Path, PathBuf};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use allinone::embedded::{self, DemoOptions, ShiftReport};
use anyhow::Context as _;
use auth::Role;
use carrier::sim::{SimCarrier, SimNetwork};
use carrier::{Carrier, Events, Network};
use dialer::app::{Hooks, ServiceBackend};
use dialer::campaign::CampaignSpec;
use dialer::config::{CarrierConfig, Config, ServerSettings};
use dialer::engine::Figures;
use dialer::registry::{CampaignState, Registry};
use dialer::sim_agents::{self, Behaviour};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use simulator::scenario::{Scenario, ScenarioId};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Accounts in the generated portfolio.
    #[arg(long, default_value_t = 8000)]
    pub accounts: usize,
    /// Simulated agents.
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Length of the shift in virtual hours.
    #[arg(long, default_value_t = 8.0)]
    pub hours: f64,
    /// Start of the shift (UTC); the default is 10:00 in New York on a Monday.
    #[arg(long, default_value = "2026-11-23T15:00:00Z")]
    pub start: Timestamp,
    /// Pacing: preview, progressive, power, power:RATIO, predictive.
    #[arg(long, default_value = "predictive")]
    pub policy: String,
    /// Answer-rate scenario of the simulated carrier (S1..S9 of the pacing benchmark).
    #[arg(long, default_value = "S2")]
    pub scenario: String,
    /// Random seed of the portfolio, the carrier and the agents.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the ledger's and the dialer's SQLite files go (recreated on each run).
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// After the shift, keep the ledger and dialerd serving gRPC on localhost (until Ctrl-C)
    /// and print a development token for each role.
    #[arg(long)]
    pub serve: bool,
    /// Where dialerd listens with `--serve`.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// With `--serve`: dialerd's HTTP port (metrics and the web wallboard), and a live
    /// campaign (`floor`) worked by the simulated agents; the wallboard's address is printed
    /// with a manager token. Port 0 picks a free one.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// With `--serve --http`: simulated seconds per real second of the served dialer (1: real
    /// time).
    #[arg(long, default_value_t = 1.0)]
    pub serve_speed: f64,
    /// With `--serve --http`: the live campaign's abandonment target (a share: 0.03 is 3 %).
    #[arg(long, default_value_t = 0.03)]
    pub abandon_target: f64,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            accounts: 8000,
            agents: 10,
            hours: 8.0,
            start: Timestamp::constant(1_795_446_000, 0),
            policy: "predictive".into(),
            scenario: "S2".into(),
            seed: 7,
            data_dir: "demo-data".into(),
            serve: false,
            listen: "127.0.0.1:50051".into(),
            http: None,
            serve_speed: 1.0,
            abandon_target: 0.03,
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn progress_line(f: &Figures) {
    let local = Timestamp::from_millisecond(f.at_ms)
        .map(|t| t.to_zoned(TimeZone::get("America/New_York").unwrap_or(TimeZone::UTC)))
        .map(|z| z.strftime("%H:%M").to_string())
        .unwrap_or_default();
    let a = &f.agents;
    println!(
        "  {local} New York | dials {:>6} | live {:>5} | RPC {:>4} | abandon {:>6} | occupancy {:>6} | agents ready {:>2}, on call {:>2}, wrap {:>2} | queue {} ready, {} asleep",
        f.dials,
        f.live_answers,
        f.right_party_contacts,
        pct(f.abandon_rate_today),
        pct(f.occupancy),
        a.ready,
        a.on_call + a.reserved,
        a.wrap_up,
        f.queue.ready,
        f.queue.sleeping,
    );
}

fn report(r: &ShiftReport, loaded: u32, held: usize) -> anyhow::Result<()> {
    let f = &r.figures;
    println!();
    println!(
        "shift report: {} virtual hours in {:.0} s",
        r.virtual_hours, r.wall_seconds
    );
    println!(
        "  accounts loaded by the CRM   {loaded:>8} ({} queued; {held} with a hold on every debt)",
        r.accounts_queued
    );
    println!("  dials                        {:>8}", f.dials);
    println!(
        "  live answers                 {:>8} ({} of dials)",
        f.live_answers,
        pct(f.answer_rate)
    );
    println!("  connected to an agent        {:>8}", f.connected);
    println!(
        "  right-party contacts         {:>8} ({} promises to pay)",
        f.right_party_contacts, f.promises
    );
    println!(
        "  abandoned                    {:>8} ({} of live answers; {} safe-harbor messages played)",
        f.abandoned,
        pct(f.abandon_rate_today),
        r.safe_harbor_messages
    );
    println!("  machines detected            {:>8}", f.machines);
    println!("  agent occupancy              {:>8}", pct(f.occupancy));
    println!(
        "  decision latency             p50 {} us, p99 {} us",
        f.decision_p50_us, f.decision_p99_us
    );
    println!("  calls refused by the rules, by reason (an account may be refused several times):");
    for (code, n) in &f.refused_by_reason {
        println!("    {code:<30} {n:>8}");
    }
    println!("  outcomes the ledger recorded:");
    for (kind, n) in &r.ledger_by_outcome {
        println!("    {kind:<30} {n:>8}");
    }
    let engine_total: u64 = f.outcomes.values().sum();
    println!(
        "  ledger: {} outcomes, {} distinct keys; the campaign finished {engine_total}; outbox left {}",
        r.ledger_outcomes, r.ledger_distinct, r.outbox_left
    );
    anyhow::ensure!(
        r.ledger_outcomes == engine_total && r.ledger_distinct == r.ledger_outcomes,
        "the ledger does not hold exactly one outcome per attempt"
    );
    anyhow::ensure!(r.outbox_left == 0, "outcomes left in the outbox");
    println!("  every attempt reached the ledger exactly once");
    Ok(())
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let scenario = ScenarioId::parse(&args.scenario)
        .with_context(|| format!("unknown scenario {:?}", args.scenario))?;
    let pacing = pacing::Policy::from_name(&args.policy)?;
    let opts = DemoOptions {
        accounts: args.accounts,
        agents: args.agents,
        start: args.start,
        hours: args.hours,
        scenario,
        seed: args.seed,
        pacing,
        progress_every_min: 60,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let ledger = embedded::start_ledger(&args.data_dir).await?;
        let accounts = embedded::sample_portfolio(opts.accounts, opts.seed);
        let held = accounts
            .iter()
            .filter(|a| {
                a.debts
                    .iter()
                    .all(|d| a.holds.iter().any(|h| h.debt_id == d.debt_id))
            })
            .count();
        let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
        println!(
            "dialerctl demo: ledger and dialer in one process (SQLite in {}/), in-process queues, simulated carrier ({}), {} simulated agents",
            args.data_dir.display(),
            args.scenario,
            opts.agents
        );
        let t = std::time::Instant::now();
        let loaded = embedded::load_accounts(&ledger, accounts).await?;
        println!(
            "  CRM loaded {loaded} accounts over gRPC in {:.1} s; {} pacing from {} for {} virtual hours",
            t.elapsed().as_secs_f64(),
            args.policy,
            args.start,
            args.hours
        );
        let r = embedded::run_shift(&opts, &ledger, &args.data_dir, ids.clone(), progress_line)
            .await?;
        report(&r, loaded, held)?;
        if args.serve {
            serve(args, &ledger, ids).await?;
        }
        ledger.shutdown().await;
        Ok(())
    })
}

/// The live campaign the served dialerd runs with `--http`.
const FLOOR: &str = "floor";

/// The simulated network, keeping each campaign's carrier: simulated agents read the
/// carrier's truth of a call (who answered, how long the wrap-up is) to disposition it.
#[derive(Clone)]
struct KeptNetwork {
    net: SimNetwork,
    kept: Arc<Mutex<HashMap<String, SimCarrier>>>,
}

impl Network for KeptNetwork {
    fn open(&self, campaign: &str) -> (Arc<dyn Carrier>, Events) {
        // The seed as SimNetwork derives it (FNV-1a of the id), so runs repeat.
        let h = campaign.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let (carrier, events) =
            SimCarrier::with_speed(self.net.scenario.clone(), self.net.seed ^ h, self.net.speed);
        if let Ok(mut kept) = self.kept.lock() {
            kept.insert(campaign.to_owned(), carrier.clone());
        }
        (Arc::new(carrier), events)
    }
}

/// Creates the live campaign on the served dialer, adds the demo's accounts, starts it and
/// logs the simulated agents in.
async fn start_floor(
    registry: Arc<Registry<ServiceBackend>>,
    kept: Arc<Mutex<HashMap<String, SimCarrier>>>,
    args: DemoArgs,
    ids: Vec<String>,
) -> anyhow::Result<()> {
    let spec = CampaignSpec {
        id: FLOOR.into(),
        name: "Live floor (demo)".into(),
        pacing: pacing::Policy::from_name(&args.policy)?,
        abandon_target: args.abandon_target,
        // The simulated agents wrap up in real seconds whatever the carrier's speed: a
        // wrap-up limit stretched by the speed keeps them from timing out on a fast clock.
        wrap_up_s: (f64::from(CampaignSpec::default().wrap_up_s) * args.serve_speed.max(1.0))
            .min(3600.0) as u32,
        ..CampaignSpec::default()
    };
    if registry.get(FLOOR).is_err() {
        registry.create(spec).await?;
    }
    registry.add_accounts(FLOOR, ids).await?;
    if registry.get(FLOOR)?.state == CampaignState::Ready {
        registry.start(FLOOR).await?;
    }
    let handle = registry.handle(FLOOR)?;
    let carrier = kept
        .lock()
        .ok()
        .and_then(|k| k.get(FLOOR).cloned())
        .context("the live campaign's carrier")?;
    let team = sim_agents::spawn_team(
        &handle,
        &carrier,
        args.agents,
        "agent-",
        &Behaviour::default(),
        args.seed,
    )?;
    // The agents run until the campaign ends; nothing waits for them.
    drop(team);
    Ok(())
}

/// The instant the demo's shift ended (its start plus its hours, to the millisecond).
fn shift_end(args: &DemoArgs) -> Timestamp {
    let ms = (args.hours * 3_600_000.0).round() as i64;
    args.start
        .checked_add(jiff::SignedDuration::from_millis(ms))
        .unwrap_or(args.start)
}

/// Seconds the served demo's shutdown waits for calls in progress (dialerd's default: 150).
const DEMO_GRACE_S: u64 = 10;

/// Keeps the demo's ledger and a dialerd on it serving for real clients until Ctrl-C.
async fn serve(
    args: &DemoArgs,
    ledger: &embedded::EmbeddedLedger,
    ids: Vec<String>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.serve_speed > 0.0 && args.serve_speed.is_finite(),
        "--serve-speed must be a positive number"
    );
    let cfg = Config {
        server: ServerSettings {
            database_url: format!(
                "sqlite://{}?mode=rwc",
                args.data_dir.join("dialerd.db").display()
            ),
            jwt_hs256_key: Some(ledger.jwt_key.clone()),
            listen: args.listen.clone(),
            metrics_listen: args.http.clone(),
            ..ServerSettings::default()
        },
        ledger_url: Some(ledger.uri.clone()),
        ledger_jwt_hs256_key: Some(ledger.jwt_key.clone()),
        replica_id: "embedded".into(),
        carrier: CarrierConfig::Sim {
            scenario: args.scenario.clone(),
            seed: args.seed,
            speed: if args.http.is_some() {
                args.serve_speed
            } else {
                1.0
            },
            // The served dialer's clock runs from the end of the shift: inside calling hours,
            // so a campaign created now dials at once, and not before the history the shift
            // recorded (a clock behind it stops dialing: US-REGF-08 counts would be wrong).
            clock_start: Some(shift_end(args).to_string()),
        },
        // A production dialerd lets agents finish their calls for minutes; the demo's are
        // simulated, and someone pressing Ctrl-C wants the terminal back.
        shutdown_grace_s: DEMO_GRACE_S,
        ..Config::default()
    };
    cfg.validate()?;
    println!();
    println!(
        "serving until Ctrl-C: ledger on {}, dialerd on {}",
        ledger.uri, args.listen
    );
    println!("development tokens (valid 24 h; pass as `authorization: Bearer TOKEN`):");
    for (sub, role) in [
        ("manager-1", Role::Manager),
        ("agent-1", Role::Agent),
        ("crm-1", Role::Crm),
        ("admin", Role::Admin),
    ] {
        println!(
            "  {:<8} {}",
            role.as_str(),
            embedded::dev_token(&ledger.jwt_key, sub, role)
        );
    }
    println!(
        "try: export MANAGER={}",
        embedded::dev_token(&ledger.jwt_key, "manager-1", Role::Manager)
    );
    println!(
        "     grpcurl -plaintext -H \"authorization: Bearer $MANAGER\" {} list",
        args.listen
    );
    // The manager's console (README: "Running a campaign from the command line").
    println!("or, in another terminal, the manager's console:");
    // `cargo run` leaves dialerctl in target/release, which a new shell does not have on its
    // PATH: say where it is.
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        println!("  export PATH=\"{}:$PATH\"", dir.display());
    }
    println!(
        "  export DIALER_ADDR={} DIALER_TOKEN={}",
        args.listen,
        embedded::dev_token(&ledger.jwt_key, "manager-1", Role::Manager)
    );
    println!("  dialerctl campaign list");
    // dialerd's own: Ctrl-C, or SIGTERM, starts its graceful shutdown; a second one quits at
    // once (what is not yet in the ledger is in the outbox, sent at the next start).
    let first = service::shutdown::signal()?;
    let shutdown = async move {
        first.await;
        eprintln!(
            "stopping: calls in progress get up to {DEMO_GRACE_S} s, then the outcomes go to the ledger (Ctrl-C again: quit now)"
        );
        if let Ok(again) = service::shutdown::signal() {
            tokio::spawn(async move {
                again.await;
                eprintln!("quit");
                std::process::exit(130);
            });
        }
    };
    let mut hooks = Hooks::default();
    if args.http.is_some() {
        let kept = Arc::new(Mutex::new(HashMap::new()));
        let net = KeptNetwork {
            net: SimNetwork {
                scenario: Scenario::get(cfg.carrier.scenario()?),
                seed: args.seed,
                speed: args.serve_speed,
            },
            kept: kept.clone(),
        };
        hooks.network = Some(Box::new(net));
        let floor_args = args.clone();
        hooks.ready = Some(Box::new(move |registry| {
            tokio::spawn(async move {
                match start_floor(registry, kept, floor_args, ids).await {
                    Ok(()) => println!("live campaign {FLOOR} started with simulated agents"),
                    Err(e) => eprintln!("the live campaign did not start: {e:#}"),
                }
            });
        }));
    }
    let manager = embedded::dev_token(&ledger.jwt_key, "manager-1", Role::Manager);
    dialer::app::run_with(&cfg, hooks, shutdown, |line| {
        println!("{line}");
        // The HTTP port's address, known once bound (port 0 picks one).
        if let Some(addr) = line.strip_prefix("dialerd metrics on ") {
            println!("wallboard: http://{addr}/wallboard/?token={manager}");
        }
    })
    .await?;
    Ok(())
}
