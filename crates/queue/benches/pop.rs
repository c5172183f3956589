//! Queue pops per second with 1,000,000 accounts queued, in process and on Redis.
//!
//! `cargo bench -p queue --bench pop` (needs Redis on `REDIS_URL`, default
//! redis://127.0.0.1:6379). Prints one line per store and batch size.

use std::time::Instant;

use queue::memory::MemoryQueue;
use queue::redis_store::{RedisQueue, connect};
use queue::{CampaignQueue, Next, QueueItem};

const ACCOUNTS: usize = 1_000_000;
const TTL: i64 = 60_000;

fn items() -> Vec<QueueItem> {
    (0..ACCOUNTS)
        .map(|i| QueueItem {
            account: format!("acct-{i:07}"),
            rank: ((i * 7919) % 100_003) as f64,
        })
        .collect()
}

/// Leases `pops` accounts in batches of `batch`, then completes them; returns accounts
/// per second for each phase.
async fn run<Q: CampaignQueue>(q: &Q, batch: usize, pops: usize) -> (f64, f64) {
    let started = Instant::now();
    let mut leases = Vec::with_capacity(pops);
    let now = 1_784_000_000_000;
    while leases.len() < pops {
        let got = q.pop_lease(batch, now, TTL, "bench").await.expect("pop");
        assert!(!got.is_empty(), "queue ran dry");
        leases.extend(got);
    }
    let pop_rate = leases.len() as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for lease in &leases {
        q.complete(lease, Next::Retire).await.expect("complete");
    }
    (
        pop_rate,
        leases.len() as f64 / started.elapsed().as_secs_f64(),
    )
}

async fn bench<Q: CampaignQueue>(name: &str, q: &Q) {
    let t = Instant::now();
    q.push(&items()).await.expect("push");
    println!(
        "{name:<10} push {ACCOUNTS} accounts: {:.0} accounts/s",
        ACCOUNTS as f64 / t.elapsed().as_secs_f64()
    );
    for (batch, pops) in [(1, 20_000), (100, 200_000)] {
        let (pop, complete) = run(q, batch, pops).await;
        let sizes = q.sizes().await.expect("sizes");
        println!(
            "{name:<10} pop-and-lease, batch {batch:>3}: {pop:>9.0} accounts/s; complete: {complete:>8.0}/s ({} still queued)",
            sizes.ready
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        bench("in-process", &MemoryQueue::new()).await;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        match connect(&url).await {
            Ok(conn) => {
                let q = RedisQueue::new(conn, &format!("bench-{}", std::process::id()));
                bench("redis", &q).await;
                q.destroy().await.expect("destroy");
            }
            Err(e) => println!("redis      skipped: {e}"),
        }
    });
}
