//! Cost of an exact counter rebuild: an account with 10 counted calls in its history (three
//! debts, two phones), rebuilt over and over, in process and on Redis; one at a time (a
//! lazy load: one round trip each) and 256 at once (an AddAccounts batch, as the engine sends
//! them); and the attribution itself (`PastAttempt::from_history`, pure).
//!
//! `cargo bench -p queue --bench rebuild` (needs Redis on `REDIS_URL`, default
//! redis://127.0.0.1:6379). Prints one line per measurement.

use std::time::Instant;

use compliance::model::{Debt, HistoryEntry};
use queue::memory::MemoryAttemptBook;
use queue::redis_store::{RedisAttemptBook, connect};
use queue::reservation::PastAttempt;
use queue::{AttemptBook, Millis};

const T0: Millis = 1_784_000_000_000;
const ACCOUNTS: usize = 1_000;
const ENTRIES: usize = 10;

fn history() -> (Vec<(String, HistoryEntry)>, Vec<Debt>) {
    let outcomes = [
        "no_answer",
        "machine",
        "conversation",
        "no_answer",
        "abandoned",
    ];
    let entries: Vec<(String, HistoryEntry)> = (0..ENTRIES)
        .map(|i| {
            let e: HistoryEntry = serde_json::from_value(serde_json::json!({
                "at": jiff::Timestamp::from_millisecond(T0 + i as i64 * 3_600_000)
                    .expect("ts")
                    .to_string(),
                "number": if i % 2 == 0 { "+14045550134" } else { "+14045550199" },
                "debt_ids": ["d1", "s1", "d3"],
                "outcome": outcomes[i % outcomes.len()],
            }))
            .expect("entry");
            (format!("att-{i:02}-0123456789abcdef0123456789ab"), e)
        })
        .collect();
    let debts: Vec<Debt> = serde_json::from_value(serde_json::json!([
        {"id": "d1"}, {"id": "s1", "student_loan_group": "g"}, {"id": "d3"}
    ]))
    .expect("debts");
    (entries, debts)
}

async fn bench<B: AttemptBook + Clone + 'static>(name: &str, book: &B, prefix: &str) {
    let (entries, debts) = history();
    let attempts = PastAttempt::from_history(&entries, &debts, &[]);
    assert_eq!(attempts.len(), ENTRIES);
    let now = T0 + 86_400_000;
    let account = |i: usize| format!("{prefix}-{i:04}");
    // One at a time.
    let n = 5 * ACCOUNTS;
    let t = Instant::now();
    for i in 0..n {
        book.rebuild(&account(i % ACCOUNTS), &attempts, now, 600_000)
            .await
            .expect("rebuild");
    }
    let one = n as f64 / t.elapsed().as_secs_f64();
    // 256 in flight at once.
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for chunk in (0..ACCOUNTS).collect::<Vec<_>>().chunks(256) {
            let mut set = tokio::task::JoinSet::new();
            for &i in chunk {
                let (book, attempts, id) = (book.clone(), attempts.clone(), account(i));
                set.spawn(async move { book.rebuild(&id, &attempts, now, 600_000).await });
            }
            while let Some(r) = set.join_next().await {
                r.expect("task").expect("rebuild");
            }
        }
    }
    let batched = (rounds * ACCOUNTS) as f64 / t.elapsed().as_secs_f64();
    println!(
        "{name:<10} rebuild of {ENTRIES} attempts: one at a time {one:>8.0}/s ({:.0} us each); 256 at once {batched:>8.0}/s",
        1e6 / one
    );
    // Clean up: an empty rebuild at the end of time removes every counter.
    for i in 0..ACCOUNTS {
        book.rebuild(&account(i), &[], Millis::MAX, 0)
            .await
            .expect("cleanup");
    }
}

#[derive(Clone, Default)]
struct SharedMemory(std::sync::Arc<MemoryAttemptBook>);

impl AttemptBook for SharedMemory {
    async fn reserve(
        &self,
        r: &queue::Reservation,
    ) -> Result<queue::ReserveOutcome, queue::QueueError> {
        self.0.reserve(r).await
    }
    async fn release(&self, r: &queue::Reservation) -> Result<(), queue::QueueError> {
        self.0.release(r).await
    }
    async fn settle(&self, r: &queue::Reservation, k: &[String]) -> Result<(), queue::QueueError> {
        self.0.settle(r, k).await
    }
    async fn rebuild(
        &self,
        a: &str,
        p: &[PastAttempt],
        now: Millis,
        grace: Millis,
    ) -> Result<(), queue::QueueError> {
        self.0.rebuild(a, p, now, grace).await
    }
    async fn counters(&self, a: &str) -> Result<queue::reservation::Counters, queue::QueueError> {
        self.0.counters(a).await
    }
}

fn main() {
    let (entries, debts) = history();
    let n = 200_000;
    let t = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        total += PastAttempt::from_history(std::hint::black_box(&entries), &debts, &[]).len();
    }
    assert_eq!(total, n * ENTRIES);
    println!(
        "attribution of {ENTRIES} history entries (from_history): {:.2} us each",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        bench("in-process", &SharedMemory::default(), "bench").await;
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        match connect(&url).await {
            Ok(conn) => {
                let book = RedisAttemptBook::new(conn);
                bench(
                    "redis",
                    &book,
                    &format!("bench-rebuild-{}", std::process::id()),
                )
                .await;
            }
            Err(e) => println!("redis      skipped: {e}"),
        }
    });
}
