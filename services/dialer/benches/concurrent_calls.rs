//! The dialer's CPU per 1,000 concurrent simulated calls.
//!
//! `cargo bench -p dialer --bench concurrent_calls [-- AGENTS MINUTES]` (defaults 800 agents,
//! 10 measured minutes after 5 minutes of warm-up).
//!
//! One predictive campaign (scenario S2) with a simulated agent team on the simulated
//! carrier, in-process queue, counters and outbox, on a paused tokio clock: virtual time runs
//! as fast as the CPU allows, so the process CPU time spent per virtual second is the cost of
//! carrying that traffic in real time. Dividing by the concurrent calls (ringing, waiting for
//! an agent, or connected) gives core-seconds per second per 1,000 calls. The figure
//! includes the simulated carrier and agents (the load generator), so it is an upper bound
//! for the engine alone. Prints one block of figures; record them in docs/performance.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carrier::sim::SimCarrier;
use dialer::backend::{MemorySource, Stores};
use dialer::campaign::CampaignSpec;
use dialer::engine::{self, Clock};
use dialer::portfolio;
use dialer::sim_agents::{self, Behaviour};
use jiff::Timestamp;
use queue::memory::{MemoryAttemptBook, MemoryQueue};
use simulator::scenario::{Scenario, ScenarioId};

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let agents: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(800);
    let minutes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(run(agents, minutes));
}

async fn run(agents: usize, minutes: u64) {
    // Monday 16:00 UTC: every zone of the mainland is inside its window for hours.
    let start: Timestamp = "2026-11-23T16:00:00Z".parse().expect("ts");
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    let accounts = portfolio::views(agents * 120, 1, since);
    let ids: Vec<String> = accounts
        .iter()
        .map(|v| v.account.account_id.clone())
        .collect();
    let stores = Arc::new(Stores {
        queues: Box::new(|_| MemoryQueue::new()),
        book: MemoryAttemptBook::new(),
        outbox: CountingSink::default(),
        source: MemorySource::new(accounts),
        compliance: compliance::Engine::builtin(),
        owner: "bench".into(),
    });
    let (carrier, events) = SimCarrier::new(Scenario::get(ScenarioId::S2), 1);
    let spec = CampaignSpec {
        id: "bench".into(),
        ..CampaignSpec::default()
    };
    let clock = Clock::starting_at(start.as_millisecond());
    let (handle, _task) =
        engine::spawn(spec, stores, Arc::new(carrier.clone()), events, clock).expect("spawn");
    handle.add_accounts(ids).await.expect("queued");
    let _team = sim_agents::spawn_team(&handle, &carrier, agents, "a", &Behaviour::default(), 1)
        .expect("team");
    handle.start().await.expect("start");
    tokio::time::sleep(Duration::from_secs(300)).await;

    let figures = handle.figures();
    let dials0 = figures.borrow().dials;
    let cpu0 = service::metrics::process_cpu_seconds();
    let wall = Instant::now();
    let mut lines = 0u64;
    let mut peak = 0u32;
    let seconds = minutes * 60;
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let l = figures.borrow().lines_in_use;
        lines += u64::from(l);
        peak = peak.max(l);
    }
    let cpu = service::metrics::process_cpu_seconds() - cpu0;
    let wall = wall.elapsed().as_secs_f64();
    let f = figures.borrow().clone();
    let avg_lines = lines as f64 / seconds as f64;
    let cpu_per_s = cpu / seconds as f64;
    println!("dialer CPU per 1,000 concurrent simulated calls");
    println!("  agents {agents}, {minutes} virtual minutes measured (after 5 of warm-up)");
    println!("  concurrent calls: mean {avg_lines:.0}, peak {peak}");
    println!(
        "  dials/s {:.1}, occupancy {:.1} %, abandonment {:.2} %",
        (f.dials - dials0) as f64 / seconds as f64,
        100.0 * f.occupancy,
        100.0 * f.abandon_rate_today
    );
    println!("  CPU {cpu:.2} s for {seconds} virtual s ({wall:.1} s wall, one thread)");
    println!(
        "  => {:.2} % of one core per 1,000 concurrent calls (engine + simulated carrier + agents)",
        100.0 * cpu_per_s * 1000.0 / avg_lines
    );
    println!(
        "  decision latency (pop share + rules + reservation): p50 {} us, p99 {} us",
        f.decision_p50_us, f.decision_p99_us
    );
}

/// An outbox that keeps nothing but counts (the bench measures the engine, not a store).
#[derive(Debug, Default)]
struct CountingSink {
    begun: std::sync::atomic::AtomicU64,
}

impl dialer::outcomes::OutcomeSink for CountingSink {
    async fn begin(
        &self,
        _: &ledger_api::domain::ContactOutcome,
    ) -> Result<(), dialer::outcomes::SinkError> {
        self.begun
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    async fn finish(
        &self,
        _: &ledger_api::domain::ContactOutcome,
        _: &[dialer::outcomes::LedgerCommand],
    ) -> Result<(), dialer::outcomes::SinkError> {
        Ok(())
    }
    async fn unacknowledged(
        &self,
        _: &[String],
    ) -> Result<Vec<dialer::outcomes::Unacknowledged>, dialer::outcomes::SinkError> {
        Ok(Vec::new())
    }
}
