//! Load test of `dialerd` (bounded, loopback only).
//!
//! ```sh
//! bash scripts/services-up
//! cargo run --release -p allinone --bin dialer-load -- --agents 1000 --accounts 40000
//! ```
//!
//! In one process: a ledger (SQLite in a temp dir) loaded with a generated portfolio over
//! gRPC, `dialerd` assembled from its configuration exactly as the binary does (queues and
//! attempt counters on Redis, the durable outbox relaying to the ledger, the change feed), and
//! `--agents` softphones, each its own `AgentService.Session` stream over loopback, working a
//! predictive campaign on the simulated carrier running `--speed` times faster than real time.
//! After a warm-up it measures, over `--seconds`: dials per second handled, connected calls
//! per second, concurrent calls (mean, peak), the engine's decision latency (its share of
//! the queue pop, the compliance evaluation and the Redis reservation: p50 and p99 over the
//! last 10,000 decisions) and the process CPU (everything above, agents included).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allinone::bench::{BenchDialer, DialerSetup, campaign_figures};
use allinone::embedded;
use anyhow::Context as _;
use clap::Parser;
use collections_proto::dialer_v1 as pb;

const KEY: &str = "dialer-load-test-key-0123456789abcdef";

#[derive(Parser)]
struct Args {
    /// Softphone sessions.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Accounts loaded into the ledger and the campaign.
    #[arg(long, default_value_t = 40_000)]
    accounts: usize,
    /// The simulated network runs this many times faster than real time.
    #[arg(long, default_value_t = 10.0)]
    speed: f64,
    #[arg(long, default_value_t = 20)]
    warmup_s: u64,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Redis for queues and counters; "none" for in-process ones.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Also print, every this many seconds from the start (warm-up included), the interval's
    /// dials, live answers and abandonment, and the agents and lines at its end.
    #[arg(long)]
    timeline_s: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let campaign = format!("load-{run}");

    let ledger = embedded::start_ledger(dir.path()).await?;
    // Unique ids per run: attempt counters in Redis outlive a run.
    let mut accounts = embedded::sample_portfolio(args.accounts, 3);
    for a in &mut accounts {
        a.account_id = format!("{run}-{}", a.account_id);
        for d in &mut a.debts {
            d.debt_id = format!("{run}-{}", d.debt_id);
        }
        for h in &mut a.holds {
            h.hold_id = format!("{run}-{}", h.hold_id);
            h.account_id = a.account_id.clone();
            h.debt_id = format!("{run}-{}", h.debt_id);
        }
    }
    let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    let t = Instant::now();
    let loaded = embedded::load_accounts(&ledger, accounts).await?;
    println!(
        "ledger: {loaded} accounts loaded over gRPC in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let dialer = BenchDialer::start(
        &DialerSetup {
            run: run.to_owned(),
            database_url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("dialer.db").display()
            ),
            jwt_key: KEY.into(),
            redis_url: (args.redis != "none").then(|| args.redis.clone()),
            ledger_uri: ledger.uri.clone(),
            ledger_key: ledger.jwt_key.clone(),
            speed: args.speed,
        },
        &campaign,
        "load test",
    )
    .await?;
    let mut manager = dialer.manager.clone();
    let t = Instant::now();
    let mut queued = 0;
    for chunk in ids.chunks(2000) {
        queued += manager
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: campaign.clone(),
                account_ids: chunk.to_vec(),
                filter: None,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .queued;
    }
    println!(
        "dialerd: {queued} accounts queued (each read from the ledger) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let dispositions = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    // Wrap-up (10 s at real speed), then the disposition.
    let agents = dialer
        .softphones(
            args.agents,
            Duration::from_secs_f64(10.0 / args.speed),
            dispositions.clone(),
        )
        .await?;
    println!(
        "{} agent sessions open in {:.1} s",
        args.agents,
        t.elapsed().as_secs_f64()
    );
    manager
        .start_campaign(pb::StartCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await?;
    let figures = {
        let (registry, campaign) = (dialer.server.registry.clone(), campaign.clone());
        move || campaign_figures(&registry, &campaign)
    };
    let timeline = args.timeline_s.map(|every| {
        let figures = figures.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let mut last = figures();
            println!("     t  dials  lives  dropped  abandonment  ready  on call  wrap-up  lines");
            loop {
                tokio::time::sleep(Duration::from_secs(every)).await;
                let Some(f) = figures() else { continue };
                let (dials, lives, drops) = last
                    .as_ref()
                    .map_or((0, 0, 0), |l| (l.dials, l.live_answers, l.abandoned));
                let (lives, drops) = (f.live_answers - lives, f.abandoned - drops);
                println!(
                    "{:>6.0} {:>6} {:>6} {:>8} {:>10.1} % {:>6} {:>8} {:>8} {:>6}",
                    start.elapsed().as_secs_f64(),
                    f.dials - dials,
                    lives,
                    drops,
                    100.0 * drops as f64 / lives.max(1) as f64,
                    f.agents.ready,
                    f.agents.on_call,
                    f.agents.wrap_up,
                    f.lines_in_use
                );
                last = Some(f);
            }
        })
    });
    tokio::time::sleep(Duration::from_secs(args.warmup_s)).await;

    let f0 = figures().context("figures")?;
    let d0 = dispositions.load(Ordering::Relaxed);
    let cpu0 = service::metrics::process_cpu_seconds();
    let wall = Instant::now();
    let (mut lines, mut peak, mut samples) = (0u64, 0u32, 0u64);
    while wall.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(f) = figures() {
            lines += u64::from(f.lines_in_use);
            peak = peak.max(f.lines_in_use);
            samples += 1;
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    let cpu = service::metrics::process_cpu_seconds() - cpu0;
    let f1 = figures().context("figures")?;
    let d1 = dispositions.load(Ordering::Relaxed);
    println!();
    println!(
        "dialerd load: {} agents, simulated carrier at {}x, queues and counters on {}",
        args.agents,
        args.speed,
        if args.redis == "none" {
            "in-process stores"
        } else {
            "Redis"
        }
    );
    println!(
        "  dials handled        {:.0}/s ({} in {secs:.0} s)",
        (f1.dials - f0.dials) as f64 / secs,
        f1.dials - f0.dials
    );
    println!(
        "  connected calls      {:.0}/s; dispositions {:.0}/s",
        (f1.connected - f0.connected) as f64 / secs,
        (d1 - d0) as f64 / secs
    );
    println!(
        "  concurrent calls     mean {:.0}, peak {peak}",
        lines as f64 / samples.max(1) as f64
    );
    println!(
        "  decision latency     p50 {} us, p99 {} us (pop share + compliance + reservation)",
        f1.decision_p50_us, f1.decision_p99_us
    );
    println!(
        "  pre-dial check lag   p99 {} us, max {} us (ledger question to dials: how old an unseen hold can be)",
        f1.pre_dial_lag_p99_us, f1.pre_dial_lag_max_us
    );
    println!(
        "  CPU                  {:.2} cores ({cpu:.1} s over {secs:.0} s; server, ledger and the {} softphones together)",
        cpu / secs,
        args.agents
    );
    println!(
        "  occupancy {:.1} %, abandonment today {:.2} %, errors {}",
        100.0 * f1.occupancy,
        100.0 * f1.abandon_rate_today,
        f1.errors
    );

    // The report is out: end without waiting for the calls in progress (a stop that waits
    // for them waits for the longest talk of the shift, many minutes at real speed). They
    // stay in the outbox as provisional outcomes, as after a crash.
    let t = Instant::now();
    if let Some(t) = timeline {
        t.abort();
    }
    drop(manager);
    if !dialer.stop(agents, Duration::from_secs(90)).await? {
        println!("dialerd did not shut down within 90 s");
    }
    ledger.shutdown().await;
    println!("shut down in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}
