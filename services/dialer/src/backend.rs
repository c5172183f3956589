//! Store sets: the concrete stores a deployment plugs into the campaign engine's
//! [`Backend`]. The embedded default uses in-process queues and counters, the SQLite outbox
//! and the in-process ledger; production swaps in Redis and PostgreSQL; tests and benches
//! may use an in-memory outbox and account source.

use std::collections::HashMap;
use std::sync::RwLock;

use queue::memory::{MemoryAttemptBook, MemoryQueue};
use queue::redis_store::{RedisAttemptBook, RedisQueue};
use queue::{AnyBook, AnyQueue, AttemptBook, CampaignQueue, QueueError};

use crate::account::{AccountSource, AccountView, SourceError};
use crate::engine::Backend;
use crate::outcomes::{LedgerCommand, OutcomeSink, SinkError, Unacknowledged};
use ledger_api::domain::{AccountCheck, ContactOutcome};

/// One set of stores.
pub struct Stores<Q, B, O, S> {
    /// Opens the queue of a campaign.
    pub queues: Box<dyn Fn(&str) -> Q + Send + Sync>,
    pub book: B,
    pub outbox: O,
    pub source: S,
    pub compliance: compliance::Engine,
    /// This replica's name (lease owner).
    pub owner: String,
}

impl<Q, B, O, S> std::fmt::Debug for Stores<Q, B, O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("owner", &self.owner)
            .finish()
    }
}

impl<Q, B, O, S> Backend for Stores<Q, B, O, S>
where
    Q: CampaignQueue + 'static,
    B: AttemptBook + 'static,
    O: OutcomeSink,
    S: AccountSource,
{
    type Queue = Q;
    type Book = B;
    type Outbox = O;
    type Source = S;

    fn queue(&self, campaign: &str) -> Q {
        (self.queues)(campaign)
    }
    fn book(&self) -> &B {
        &self.book
    }
    fn outbox(&self) -> &O {
        &self.outbox
    }
    fn source(&self) -> &S {
        &self.source
    }
    fn compliance(&self) -> &compliance::Engine {
        &self.compliance
    }
    fn owner(&self) -> &str {
        &self.owner
    }
}

/// The store set of the service: queues and counters in process or on Redis (chosen at run
/// time), with the outbox and account source it is given.
pub type ServiceStores<O, S> = Stores<AnyQueue, AnyBook, O, S>;

/// Reads the campaign-lease fencing token this replica writes a campaign's queue under.
pub type CampaignFence = std::sync::Arc<dyn Fn(&str) -> i64 + Send + Sync>;

/// Stores on Redis at `redis_url` (shared by replicas), or in this process without one. With
/// `fence`, every queue's leasing calls carry the campaign's lease token (a stale holder's
/// are refused by the scripts).
pub async fn service_stores<O, S>(
    redis_url: Option<&str>,
    outbox: O,
    source: S,
    compliance: compliance::Engine,
    owner: &str,
    fence: Option<CampaignFence>,
) -> Result<ServiceStores<O, S>, QueueError> {
    type Queues = Box<dyn Fn(&str) -> AnyQueue + Send + Sync>;
    let (queues, book): (Queues, AnyBook) = match redis_url {
        Some(url) => {
            // One multiplexed connection, cloned by every campaign's queue.
            let conn = queue::redis_store::connect(url).await?;
            let book = AnyBook::Redis(RedisAttemptBook::new(conn.clone()));
            (
                Box::new(move |campaign| {
                    AnyQueue::Redis(match &fence {
                        Some(f) => {
                            let (f, c) = (f.clone(), campaign.to_string());
                            RedisQueue::fenced(
                                conn.clone(),
                                campaign,
                                std::sync::Arc::new(move || f(&c)),
                            )
                        }
                        None => RedisQueue::new(conn.clone(), campaign),
                    })
                }),
                book,
            )
        }
        None => (
            Box::new(|_| AnyQueue::Memory(MemoryQueue::new())),
            AnyBook::Memory(MemoryAttemptBook::new()),
        ),
    };
    Ok(Stores {
        queues,
        book,
        outbox,
        source,
        compliance,
        owner: owner.to_string(),
    })
}

/// Accounts held in memory (tests, benches, simulations without a ledger).
#[derive(Debug, Default)]
pub struct MemorySource {
    accounts: RwLock<HashMap<String, AccountView>>,
}

impl MemorySource {
    pub fn new(views: impl IntoIterator<Item = AccountView>) -> MemorySource {
        MemorySource {
            accounts: RwLock::new(
                views
                    .into_iter()
                    .map(|v| (v.account.account_id.clone(), v))
                    .collect(),
            ),
        }
    }

    /// Adds or replaces an account (as a CRM load or a hold would).
    pub fn put(&self, view: AccountView) {
        self.accounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(view.account.account_id.clone(), view);
    }
}

impl AccountSource for MemorySource {
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(account_id)
            .cloned()
            .ok_or_else(|| SourceError::NotFound(account_id.to_string()))
    }
}

/// Where dialerd's outcomes (and the holds, promises and consent changes of dispositions) go:
/// the durable outbox relayed to the ledger, or memory when no ledger is configured (demos,
/// tests).
#[derive(Debug)]
pub enum ServiceSink {
    Ledger(crate::outbox::Outbox),
    Memory(crate::outcomes::MemorySink),
}

/// Where dialerd's accounts come from: the ledger, or a generated sample portfolio. (One
/// value per process: the size difference between the variants does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum ServiceSource {
    Ledger(crate::ledger_link::LedgerLink),
    Sample(MemorySource),
}

impl OutcomeSink for ServiceSink {
    async fn begin(&self, provisional: &ContactOutcome) -> Result<(), SinkError> {
        match self {
            ServiceSink::Ledger(o) => o.begin(provisional).await,
            ServiceSink::Memory(m) => m.begin(provisional).await,
        }
    }

    async fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> Result<(), SinkError> {
        match self {
            ServiceSink::Ledger(o) => o.finish(outcome, commands).await,
            ServiceSink::Memory(m) => m.finish(outcome, commands).await,
        }
    }

    async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
        match self {
            ServiceSink::Ledger(o) => o.unacknowledged(accounts).await,
            ServiceSink::Memory(m) => m.unacknowledged(accounts).await,
        }
    }
}

impl AccountSource for ServiceSource {
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        match self {
            ServiceSource::Ledger(l) => l.load(account_id).await,
            ServiceSource::Sample(m) => m.load(account_id).await,
        }
    }

    async fn check(&self, accounts: &[(String, i64)]) -> Result<AccountCheck, SourceError> {
        match self {
            ServiceSource::Ledger(l) => l.check(accounts).await,
            ServiceSource::Sample(m) => m.check(accounts).await,
        }
    }
}
