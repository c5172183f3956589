//! Several dialer replicas sharing one campaign, against the in-process store, the real
//! Redis on 127.0.0.1:6379 (`REDIS_URL`) and the local Redis Cluster (`REDIS_CLUSTER_URL`,
//! three masters started by scripts/services-up): every account dialed exactly once, no
//! Reg F limit exceeded across replicas, and a replica killed mid-lease loses no account.
//! Each replica is an OS thread with its own tokio runtime and its own Redis connection.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use queue::memory::{MemoryAttemptBook, MemoryQueue};
use queue::redis_store::{RedisAttemptBook, RedisQueue, RedisTarget, queue_key};
use queue::reservation::index_key;
use queue::{
    AttemptBook, CampaignQueue, Lease, Millis, Next, QueueItem, Reservation, ReserveOutcome,
};
use support::{cluster_url, open, redis_url};

const T0: Millis = 1_784_000_000_000; // 2026-07-14
const TTL: Millis = 60_000;

/// A campaign name no other test run uses.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}", std::process::id())
}

fn items(n: usize) -> Vec<QueueItem> {
    (0..n)
        .map(|i| QueueItem {
            account: format!("A{i}"),
            rank: (i % 97) as f64,
        })
        .collect()
}

fn index(account: &str) -> usize {
    account[1..].parse().expect("account index")
}

#[derive(Clone)]
enum Store {
    Memory(Arc<MemoryQueue>, Arc<MemoryAttemptBook>),
    Redis(String),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `f` as one replica on its own thread and runtime, with its own store handles.
fn replica<F, Fut>(store: &Store, campaigns: Vec<String>, f: F) -> std::thread::JoinHandle<()>
where
    F: FnOnce(Vec<Handle>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let store = store.clone();
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let handles = match &store {
                Store::Memory(q, b) => campaigns
                    .iter()
                    .map(|_| Handle::Memory(q.clone(), b.clone()))
                    .collect(),
                Store::Redis(url) => {
                    let conn = open(url).await;
                    campaigns
                        .iter()
                        .map(|c| {
                            Handle::Redis(
                                RedisQueue::new(conn.clone(), c),
                                RedisAttemptBook::new(conn.clone()),
                            )
                        })
                        .collect()
                }
            };
            f(handles).await;
        })
    })
}

/// One replica's view of one campaign (a test helper: size does not matter).
#[allow(clippy::large_enum_variant)]
enum Handle {
    Memory(Arc<MemoryQueue>, Arc<MemoryAttemptBook>),
    Redis(RedisQueue, RedisAttemptBook),
}

impl Handle {
    async fn pop(&self, n: usize, now: Millis, owner: &str) -> Vec<Lease> {
        match self {
            Handle::Memory(q, _) => q.pop_lease(n, now, TTL, owner).await,
            Handle::Redis(q, _) => q.pop_lease(n, now, TTL, owner).await,
        }
        .expect("pop")
    }

    async fn complete(&self, lease: &Lease, next: Next) -> bool {
        match self {
            Handle::Memory(q, _) => q.complete(lease, next).await,
            Handle::Redis(q, _) => q.complete(lease, next).await,
        }
        .expect("complete")
    }

    async fn reserve(&self, r: &Reservation) -> ReserveOutcome {
        match self {
            Handle::Memory(_, b) => b.reserve(r).await,
            Handle::Redis(_, b) => b.reserve(r).await,
        }
        .expect("reserve")
    }
}

async fn load(store: &Store, campaign: &str, accounts: usize) {
    match store {
        Store::Memory(q, _) => q.push(&items(accounts)).await.expect("push"),
        Store::Redis(url) => {
            let q = RedisQueue::new(open(url).await, campaign);
            q.push(&items(accounts)).await.expect("push");
        }
    }
}

async fn destroy(store: &Store, campaign: &str) {
    if let Store::Redis(url) = store {
        let q = RedisQueue::new(open(url).await, campaign);
        q.destroy().await.expect("destroy");
    }
}

/// Three replicas drain a campaign of `accounts`; replica 0 first takes `killed` leases and
/// dies without completing them; the others run after those leases expired.
fn drain(store: Store, accounts: usize, killed: usize) {
    let campaign = unique("drain");
    runtime().block_on(load(&store, &campaign, accounts));
    let dialed: Arc<Vec<AtomicU32>> = Arc::new((0..accounts).map(|_| AtomicU32::new(0)).collect());

    if killed > 0 {
        let lost = replica(&store, vec![campaign.clone()], move |h| async move {
            let leases = h[0].pop(killed, T0, "doomed").await;
            assert_eq!(leases.len(), killed);
            // The replica dies here: its leases are never completed.
        });
        lost.join().expect("killed replica");
    }

    let workers: Vec<_> = (0..3)
        .map(|r| {
            let dialed = dialed.clone();
            replica(&store, vec![campaign.clone()], move |h| async move {
                // Later than the dead replica's leases: they have expired.
                let now = T0 + TTL + 1;
                loop {
                    let leases = h[0].pop(200, now, &format!("replica-{r}")).await;
                    if leases.is_empty() {
                        break;
                    }
                    for lease in leases {
                        dialed[index(&lease.account)].fetch_add(1, Ordering::SeqCst);
                        assert!(h[0].complete(&lease, Next::Retire).await, "lease lost");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("replica");
    }
    let counts: Vec<u32> = dialed.iter().map(|d| d.load(Ordering::SeqCst)).collect();
    let missing = counts.iter().filter(|&&c| c == 0).count();
    let twice = counts.iter().filter(|&&c| c > 1).count();
    runtime().block_on(destroy(&store, &campaign));
    assert_eq!(
        (missing, twice),
        (0, 0),
        "accounts never dialed / dialed more than once"
    );
}

#[test]
fn three_replicas_dial_each_of_100k_accounts_once_in_process() {
    drain(Store::Memory(Arc::default(), Arc::default()), 100_000, 0);
}

#[test]
fn three_replicas_dial_each_of_100k_accounts_once_on_redis() {
    drain(Store::Redis(redis_url()), 100_000, 0);
}

#[test]
fn three_replicas_dial_each_of_100k_accounts_once_on_redis_cluster() {
    drain(Store::Redis(cluster_url()), 100_000, 0);
}

#[test]
fn a_replica_killed_mid_lease_loses_no_account_in_process() {
    drain(Store::Memory(Arc::default(), Arc::default()), 5_000, 500);
}

#[test]
fn a_replica_killed_mid_lease_loses_no_account_on_redis() {
    drain(Store::Redis(redis_url()), 5_000, 500);
}

#[test]
fn a_replica_killed_mid_lease_loses_no_account_on_redis_cluster() {
    drain(Store::Redis(cluster_url()), 5_000, 500);
}

/// Two campaigns hold the same accounts (the same debts); three replicas work both and keep
/// recycling every account. The reservation alone must keep each debt at 7 attempts.
fn seven_in_seven_across_replicas(store: Store) {
    const ACCOUNTS: usize = 300;
    let book_prefix = unique("acct");
    let campaigns = match &store {
        // On a cluster, the two campaigns on two different nodes, and the accounts' counters
        // over several: scripts of one campaign or one account, never crossing slots.
        Store::Redis(url) if RedisTarget::parse(url).expect("url").is_cluster() => runtime()
            .block_on(async {
                let conn = open(url).await;
                let campaigns = support::names_on_distinct_nodes(&conn, &unique("regf"), 2, |c| {
                    queue_key(c, "ready")
                })
                .await;
                let mut keys: Vec<String> = (0..ACCOUNTS)
                    .map(|i| index_key(&format!("{book_prefix}-{i}")))
                    .collect();
                support::assert_spread(&conn, "accounts' counters", &keys).await;
                keys = campaigns.iter().map(|c| queue_key(c, "ready")).collect();
                support::assert_spread(&conn, "campaigns' queues", &keys).await;
                campaigns
            }),
        _ => vec![unique("regf-a"), unique("regf-b")],
    };
    for c in &campaigns {
        runtime().block_on(load(&store, c, ACCOUNTS));
    }
    let reserved: Arc<Vec<AtomicU32>> =
        Arc::new((0..ACCOUNTS).map(|_| AtomicU32::new(0)).collect());
    let workers: Vec<_> = (0..3)
        .map(|r| {
            let reserved = reserved.clone();
            let book_prefix = book_prefix.clone();
            replica(&store, campaigns.clone(), move |h| async move {
                let mut now = T0;
                let mut seq = 0u64;
                loop {
                    let mut any = false;
                    for q in &h {
                        for lease in q.pop(50, now, &format!("r{r}")).await {
                            any = true;
                            seq += 1;
                            let i = index(&lease.account);
                            let reservation = Reservation {
                                account: format!("{book_prefix}-{i}"),
                                attempt_id: format!("r{r}-{seq}"),
                                debt_keys: vec![format!("debt-{i}")],
                                phone: format!("+1404555{i:04}"),
                                now,
                                window_start: T0,
                                limit: 7,
                                min_gap: 0,
                            };
                            let next = match q.reserve(&reservation).await {
                                // A broken reservation would recycle forever: stop at 20
                                // and let the assertion below tell.
                                ReserveOutcome::Reserved
                                    if reserved[i].fetch_add(1, Ordering::SeqCst) < 20 =>
                                {
                                    Next::Ready { rank: 0.0 }
                                }
                                _ => Next::Retire,
                            };
                            q.complete(&lease, next).await;
                        }
                    }
                    if !any {
                        break;
                    }
                    now += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("replica");
    }
    let counts: Vec<u32> = reserved.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    for c in &campaigns {
        runtime().block_on(destroy(&store, c));
    }
    let odd: Vec<(usize, u32)> = counts
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, c)| c != 7)
        .collect();
    assert!(odd.is_empty(), "debts without exactly 7 attempts: {odd:?}");
}

#[test]
fn reservation_keeps_seven_in_seven_across_replicas_in_process() {
    seven_in_seven_across_replicas(Store::Memory(Arc::default(), Arc::default()));
}

#[test]
fn reservation_keeps_seven_in_seven_across_replicas_on_redis() {
    seven_in_seven_across_replicas(Store::Redis(redis_url()));
}

#[test]
fn reservation_keeps_seven_in_seven_across_replicas_on_redis_cluster() {
    seven_in_seven_across_replicas(Store::Redis(cluster_url()));
}

/// Deferred accounts sleep until their instant and wake on their own; stale leases cannot
/// complete; a removed account is gone at once.
async fn lifecycle<Q: CampaignQueue>(q: &Q) {
    // A store that never held the campaign's accounts says so.
    assert!(!q.is_alive().await.expect("alive"));
    q.mark_alive().await.expect("mark");
    assert!(q.is_alive().await.expect("alive"));
    q.push_sleeping(&items(3), T0 + 1_000).await.expect("push");
    assert!(q.pop_lease(10, T0, TTL, "r").await.expect("pop").is_empty());
    assert_eq!(q.next_wake().await.expect("wake"), Some(T0 + 1_000));
    let leases = q.pop_lease(10, T0 + 1_000, TTL, "r").await.expect("pop");
    assert_eq!(leases.len(), 3);
    // Ranks order the pops: A0 (rank 0) first.
    assert_eq!(leases[0].account, "A0");
    // After expiry another replica takes A1 over; the first holder's completion is refused.
    let later = T0 + 1_000 + TTL + 1;
    assert!(
        q.complete(
            &leases[0],
            Next::Sleep {
                at: later + 5_000,
                rank: 0.0
            }
        )
        .await
        .expect("complete")
    );
    let again = q.pop_lease(10, later, TTL, "r2").await.expect("pop");
    assert_eq!(again.len(), 2, "expired leases came back");
    assert!(!q.complete(&leases[1], Next::Retire).await.expect("stale"));
    q.remove("A0").await.expect("remove");
    let sizes = q.sizes().await.expect("sizes");
    assert_eq!((sizes.ready, sizes.sleeping, sizes.leased), (0, 0, 2));
}

#[test]
fn lifecycle_in_process() {
    runtime().block_on(lifecycle(&MemoryQueue::new()));
}

fn lifecycle_at(url: &str) {
    runtime().block_on(async {
        let q = RedisQueue::new(open(url).await, &unique("life"));
        lifecycle(&q).await;
        q.destroy().await.expect("destroy");
    });
}

#[test]
fn lifecycle_on_redis() {
    lifecycle_at(&redis_url());
}

#[test]
fn lifecycle_on_redis_cluster() {
    lifecycle_at(&cluster_url());
}

/// Counters rebuilt from the ledger's history refuse the 8th attempt at once.
async fn rebuild<B: AttemptBook>(book: &B) {
    let account = unique("rebuild");
    let past: Vec<queue::reservation::PastAttempt> = (0..7)
        .map(|i| queue::reservation::PastAttempt {
            id: format!("h{i}"),
            at: T0 + i * 3_600_000,
            debt_keys: vec!["d1".to_string()],
            phone: Some("+14045550134".to_string()),
        })
        .collect();
    book.rebuild(&account, &past, T0 + 86_400_000, 0)
        .await
        .expect("rebuild");
    let r = Reservation {
        account,
        attempt_id: "next".to_string(),
        debt_keys: vec!["d1".to_string()],
        phone: "+14045550188".to_string(),
        now: T0 + 86_400_000,
        window_start: T0,
        limit: 7,
        min_gap: 0,
    };
    assert_eq!(
        book.reserve(&r).await.expect("reserve"),
        ReserveOutcome::DebtLimit {
            debt: "d1".to_string()
        }
    );
    let other_debt = Reservation {
        debt_keys: vec!["d2".to_string()],
        ..r.clone()
    };
    assert_eq!(
        book.reserve(&other_debt).await.expect("reserve"),
        ReserveOutcome::Reserved
    );
    let same_phone = Reservation {
        attempt_id: "n2".to_string(),
        debt_keys: vec!["d3".to_string()],
        min_gap: 60_000,
        ..r
    };
    assert!(matches!(
        book.reserve(&same_phone).await.expect("reserve"),
        ReserveOutcome::PhoneGap { .. }
    ));
    book.release(&other_debt).await.expect("release");
    assert_eq!(
        book.reserve(&same_phone).await.expect("reserve"),
        ReserveOutcome::Reserved
    );
}

#[test]
fn counters_rebuilt_from_history_in_process() {
    runtime().block_on(rebuild(&MemoryAttemptBook::new()));
}

#[test]
fn counters_rebuilt_from_history_on_redis() {
    runtime().block_on(async { rebuild(&RedisAttemptBook::new(open(&redis_url()).await)).await });
}

#[test]
fn counters_rebuilt_from_history_on_redis_cluster() {
    runtime().block_on(async { rebuild(&RedisAttemptBook::new(open(&cluster_url()).await)).await });
}

/// A re-rank moves a ready account, keeps a sleeper asleep with its new rank, and touches
/// neither a leased account nor one retired or never queued.
async fn rerank<Q: CampaignQueue>(q: &Q) {
    let item = |a: &str, rank: f64| QueueItem {
        account: a.to_string(),
        rank,
    };
    q.push(&[item("R0", 0.0), item("R1", 1.0), item("R2", 2.0)])
        .await
        .expect("push");
    q.push_sleeping(&[item("S0", 5.0)], T0 + 1_000)
        .await
        .expect("push");
    // R0 leased, then retired; R2 moved ahead of R1; S0 ranked first but still asleep.
    let first = q.pop_lease(1, T0, TTL, "r").await.expect("pop");
    assert_eq!(first[0].account, "R0");
    q.rerank(&[
        item("R0", -10.0),
        item("R2", 0.5),
        item("S0", -5.0),
        item("X", -9.0),
    ])
    .await
    .expect("rerank");
    let next = q.pop_lease(1, T0, TTL, "r").await.expect("pop");
    assert_eq!(next[0].account, "R2");
    assert!(q.complete(&first[0], Next::Retire).await.expect("complete"));
    q.rerank(&[item("R0", -10.0)]).await.expect("rerank");
    let sizes = q.sizes().await.expect("sizes");
    assert_eq!((sizes.ready, sizes.sleeping, sizes.leased), (1, 1, 1));
    let woken = q.pop_lease(10, T0 + 1_000, TTL, "r").await.expect("pop");
    let order: Vec<&str> = woken.iter().map(|l| l.account.as_str()).collect();
    assert_eq!(order, ["S0", "R1"]);
}

#[test]
fn rerank_in_process() {
    runtime().block_on(rerank(&MemoryQueue::new()));
}

#[test]
fn rerank_on_redis() {
    runtime().block_on(async {
        let q = RedisQueue::new(open(&redis_url()).await, &unique("rerank"));
        rerank(&q).await;
        q.destroy().await.expect("destroy");
    });
}
