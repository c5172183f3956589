//! The durable outbox: every attempt's outcome is written here before and after the dial
//! ([`crate::outcomes::OutcomeSink`]), with the holds, promises and consent changes its
//! disposition makes, and a relay task ([`relay`]) sends ready rows to the ledger, deleting
//! each only after the ledger acknowledged it. Together with the ledger's idempotency keys
//! this gives exactly one recorded outcome per attempt, and every consumer instruction an
//! agent recorded, across crashes of the dialer, the ledger or the network (the argument is
//! in `docs/outbox.md`).
//!
//! Writes go through one group-commit writer task per [`Outbox`]: callers queue their write
//! and await the commit of the batch that carried it, so hundreds of concurrent `begin` and
//! `finish` calls share a transaction (and an fsync) instead of paying one each.

mod relay;
mod store;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use ledger_api::domain::{ContactOutcome, ValidationError};
use prost::Message;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::Instrument;

pub use relay::{RelayConfig, RelayHandle};
pub use store::DeadLetter;

use crate::outcomes::{LedgerCommand, OutcomeSink, SinkError, Unacknowledged, WriteKind};
use store::{Row, Scope, Store, Write};

/// Why an outbox operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboxError {
    #[error("database: {0}")]
    Db(Arc<sqlx::Error>),
    /// Connecting, migrating, or an unsupported URL.
    #[error("{0}")]
    Open(Arc<sqlstore::OpenError>),
    /// The outcome would be rejected by the ledger; refused before the dial.
    #[error("invalid outcome: {0}")]
    Invalid(#[from] ValidationError),
    #[error("invalid owner id: {0}")]
    Owner(&'static str),
    /// `recover_provisional` of this outbox's own owner after it began writing: it would
    /// publish calls that are still in progress.
    #[error("recover_provisional of the own owner must run before the first begin")]
    RecoverAfterBegin,
    /// The writer task is gone (the runtime is shutting down).
    #[error("outbox writer stopped")]
    Closed,
    /// The write was made under a campaign lease another replica has since taken over: it is
    /// refused, so a stale holder never records what the new holder adopted.
    #[error("{FENCED}: campaign {campaign}, token {token} below the current {current}")]
    Fenced {
        campaign: String,
        token: i64,
        current: i64,
    },
}

/// How a refused stale write's error starts (see [`SinkError::is_fenced`]).
pub const FENCED: &str = "stale campaign lease";

impl From<sqlstore::OpenError> for OutboxError {
    fn from(e: sqlstore::OpenError) -> Self {
        match e {
            sqlstore::OpenError::Sql(e) => e.into(),
            other => OutboxError::Open(Arc::new(other)),
        }
    }
}

impl From<sqlx::Error> for OutboxError {
    fn from(e: sqlx::Error) -> Self {
        OutboxError::Db(Arc::new(e))
    }
}

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// Most `begin`/`finish` calls applied in one transaction. 1 disables group commit (the
    /// benchmark's baseline).
    pub max_batch: usize,
    /// Calls queued for the writer before callers wait to queue (back-pressure).
    pub queue: usize,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        Self {
            max_batch: 2048,
            queue: 8192,
        }
    }
}

/// Counters since this process opened the outbox (for metrics; cheap to read).
#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    calls: AtomicU64,
    sent: AtomicU64,
    recorded: AtomicU64,
    duplicate: AtomicU64,
    dead: AtomicU64,
    reconnects: AtomicU64,
    fenced: AtomicU64,
    ledger_fenced: AtomicU64,
}

/// What the outbox holds and has done, for metrics and health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Provisional rows of this owner: calls in progress (or left by a crash until recovered).
    pub pending: u64,
    /// Ready rows of this owner not yet acknowledged by the ledger.
    pub ready: u64,
    /// Rows in the dead-letter table (all owners).
    pub dead_rows: u64,
    /// Since open: writer transactions committed, and the begin/finish calls they carried
    /// (their ratio is the group-commit batch size).
    pub commits: u64,
    pub calls: u64,
    /// Since open: outcomes sent to the ledger (a resend after a reconnect counts again).
    pub sent: u64,
    /// Since open: acknowledged RECORDED or DUPLICATE, and deleted.
    pub acked: u64,
    /// Since open: of `acked`, the DUPLICATE ones (resends of outcomes already recorded).
    pub duplicates: u64,
    /// Since open: REJECTED and moved to the dead-letter table.
    pub dead: u64,
    /// Since open: relay streams that broke and were reopened.
    pub reconnects: u64,
    /// Since open: writes refused because another replica had taken their campaign over.
    pub fenced: u64,
    /// Since open: rows the ledger refused for a stale campaign fencing token (left for
    /// the campaign's holder to deliver, never dead-lettered).
    pub ledger_fenced: u64,
}

/// State shared by the handle, the writer task and the relay task.
#[derive(Debug)]
struct Shared {
    store: Store,
    owner: String,
    /// Next relay order: strictly increasing in this process, above every stored value.
    seq: AtomicI64,
    /// New ready rows were committed (the relay sleeps on this).
    notify: Notify,
    /// Rows may have become ready behind the relay's cursor (recover, requeue): rescan.
    rescan: AtomicBool,
    /// Acknowledgements processed so far (flush waits on it).
    progress: watch::Sender<u64>,
    /// A begin or finish was accepted (guards `recover_provisional` of the own owner).
    wrote: AtomicBool,
    counters: Counters,
    /// The campaign leases this replica holds: every write carries its campaign's token.
    /// Unset (no fencing) for an outbox used without leases (tools, some tests).
    leases: std::sync::OnceLock<Arc<crate::ownership::Leases>>,
    /// Campaigns whose commands the ledger refused, with the token refused: the relay sends
    /// none of their rows until this replica holds a newer lease on them.
    refused: std::sync::Mutex<HashMap<String, i64>>,
}

impl Shared {
    fn next_seqs(&self, n: usize) -> i64 {
        self.seq.fetch_add(n as i64, Ordering::Relaxed)
    }

    /// The fence the relay sends a row of `campaign` with: the token of this replica's latest
    /// lease on it (an adopted row goes with the adopter's). None without leases, for a row
    /// of no campaign, or for a campaign never held here (a row recovered after a restart).
    fn fence(&self, campaign: &str) -> Option<(String, i64)> {
        let token = self.leases.get()?.fence(campaign);
        (token > 0 && !campaign.is_empty()).then(|| (campaign.to_owned(), token))
    }

    /// Whether the relay holds back `campaign`'s rows (its last send was refused as stale
    /// and no newer lease was taken since).
    fn held_back(&self, campaign: &str) -> bool {
        let refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused
            .get(campaign)
            .is_some_and(|t| self.fence(campaign).is_none_or(|(_, now)| now <= *t))
    }

    fn wake_relay(&self, rescan: bool) {
        if rescan {
            self.rescan.store(true, Ordering::Release);
        }
        self.notify.notify_one();
    }
}

#[derive(Debug)]
enum Kind {
    /// A provisional row (a dial about to happen).
    Begin,
    /// A ready row: a final outcome or a command.
    Finish,
}

/// One row to write.
#[derive(Debug)]
struct Item {
    kind: Kind,
    row: Row,
    payload: Vec<u8>,
}

/// One queued call: its rows (committed together) and where to report the batch's commit.
#[derive(Debug)]
struct Pending {
    items: Vec<Item>,
    /// The campaign lease the write was made under: (campaign, fencing token).
    fence: Option<(String, i64)>,
    done: oneshot::Sender<Result<(), OutboxError>>,
}

/// The outbox row of an outcome.
fn outcome_item(kind: Kind, o: &ContactOutcome) -> Item {
    Item {
        kind,
        row: Row {
            key: o.idempotency_key.clone(),
            kind: WriteKind::Outcome,
            account: o.account_id.clone(),
            campaign: o.campaign_id.clone(),
        },
        payload: ledger_api::wire::outcome_out(o.clone()).encode_to_vec(),
    }
}

/// A disposition's payment plan as the ledger's RecordPaymentPlan request.
fn plan_out(
    p: &crate::outcomes::PaymentPlan,
) -> collections_proto::ledger_v1::RecordPaymentPlanRequest {
    use collections_proto::ledger_v1 as lpb;
    lpb::RecordPaymentPlanRequest {
        account_id: p.account_id.clone(),
        debt_id: p.debt_id.clone(),
        outcome_key: p.outcome_key.clone(),
        made_on: p.made_on.clone(),
        installments: p
            .installments
            .iter()
            .map(|(due, amount_minor)| lpb::PlanInstallment {
                due: due.clone(),
                amount_minor: *amount_minor,
            })
            .collect(),
        grace_days: p.grace_days,
        fence: None,
    }
}

/// The outbox row of a command (always ready: it is sent as soon as it is committed).
fn command_item(c: &LedgerCommand, campaign: &str) -> Item {
    let payload = match c {
        LedgerCommand::Hold(h) => ledger_api::wire::hold_out(h.clone()).encode_to_vec(),
        LedgerCommand::Promise(p) => ledger_api::wire::promise_out(p.clone()).encode_to_vec(),
        LedgerCommand::Consent { update, .. } => {
            ledger_api::wire::consent_update_out(update.clone()).encode_to_vec()
        }
        LedgerCommand::Plan(p) => plan_out(p).encode_to_vec(),
    };
    Item {
        kind: Kind::Finish,
        row: Row {
            key: c.key().to_owned(),
            kind: c.kind(),
            account: c.account_id().to_owned(),
            campaign: campaign.to_owned(),
        },
        payload,
    }
}

/// Handle on a dialer replica's outbox; cheap to clone. The writer task lives while any
/// clone does (a running relay holds one).
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Pending>,
}

impl Outbox {
    /// Opens (creating and migrating) the outbox at `url` (`sqlite://dialer.db?mode=rwc`,
    /// `postgres://...`) for replica `owner`, a stable id of this dialer process (e.g. the
    /// pod name) under which its rows are written and relayed.
    pub async fn open(url: &str, owner: &str) -> Result<Outbox, OutboxError> {
        Self::open_with(url, owner, OutboxOptions::default()).await
    }

    pub async fn open_with(
        url: &str,
        owner: &str,
        opts: OutboxOptions,
    ) -> Result<Outbox, OutboxError> {
        if owner.trim().is_empty() {
            return Err(OutboxError::Owner("is empty"));
        }
        if owner.len() > 200 {
            return Err(OutboxError::Owner("is longer than 200 bytes"));
        }
        let store = Store::connect(url).await?;
        let seq = store.max_ready_seq().await? + 1;
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            store,
            owner: owner.to_owned(),
            seq: AtomicI64::new(seq),
            notify: Notify::new(),
            rescan: AtomicBool::new(true),
            progress,
            wrote: AtomicBool::new(false),
            counters: Counters::default(),
            leases: std::sync::OnceLock::new(),
            refused: std::sync::Mutex::new(HashMap::new()),
        });
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        tokio::spawn(writer(shared.clone(), rx, opts.max_batch.max(1)));
        tracing::info!(owner, dialect = shared.store.dialect(), "outbox open");
        Ok(Outbox { shared, tx })
    }

    /// This replica's id.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// `postgres` or `sqlite`.
    pub fn dialect(&self) -> &'static str {
        self.shared.store.dialect()
    }

    /// Fences every later write with the campaign leases in `leases` (once; later calls are
    /// ignored).
    pub fn fence_with(&self, leases: Arc<crate::ownership::Leases>) {
        let _ = self.shared.leases.set(leases);
    }

    async fn submit(&self, items: Vec<Item>, campaign: &str) -> Result<(), OutboxError> {
        let (done, rx) = oneshot::channel();
        self.shared.wrote.store(true, Ordering::Relaxed);
        let fence = self
            .shared
            .leases
            .get()
            .map(|l| (campaign.to_owned(), l.fence(campaign)));
        self.tx
            .send(Pending { items, fence, done })
            .await
            .map_err(|_| OutboxError::Closed)?;
        rx.await.map_err(|_| OutboxError::Closed)?
    }

    /// Provisional rows of `campaign` written by the replicas `owners`: their calls still in
    /// progress. A stop waits for the live replicas' to reach 0.
    pub async fn open_calls(&self, campaign: &str, owners: &[String]) -> Result<u64, OutboxError> {
        self.shared.store.open_calls(campaign, owners).await
    }

    /// Publishes the provisional rows of `owner` as they are and moves all of that owner's
    /// rows to this outbox's relay. Call it at start-up for this replica's own id (its calls
    /// in progress died with the previous process), before the first `begin`; or for the id
    /// of a replica known to be dead. Never for a live replica: its calls in progress would be
    /// recorded with their provisional outcomes (their finals would then be duplicates).
    pub async fn recover_provisional(&self, owner: &str) -> Result<Recovered, OutboxError> {
        let s = &self.shared;
        if owner == s.owner && s.wrote.load(Ordering::Relaxed) {
            return Err(OutboxError::RecoverAfterBegin);
        }
        let now = jiff::Timestamp::now().as_microsecond();
        let (published, adopted) = s
            .store
            .take_over(Scope::Owner(owner), &s.owner, s.next_seqs(1), now)
            .await?;
        tracing::info!(
            from = owner,
            to = %s.owner,
            published,
            adopted,
            "outbox recovered provisional rows"
        );
        s.wake_relay(true);
        Ok(Recovered { published, adopted })
    }

    /// Adopts the rows other replicas wrote for `campaign` (this replica has just taken its
    /// lease over): their provisional rows are published as they are and every row moves to
    /// this outbox's relay. Safe while the previous holder lives: its later writes for the
    /// campaign carry a lower fencing token and are refused.
    pub async fn adopt_campaign(&self, campaign: &str) -> Result<Recovered, OutboxError> {
        let s = &self.shared;
        let now = jiff::Timestamp::now().as_microsecond();
        let (published, adopted) = s
            .store
            .take_over(Scope::Campaign(campaign), &s.owner, s.next_seqs(1), now)
            .await?;
        if published + adopted > 0 {
            tracing::info!(
                campaign_id = campaign,
                published,
                adopted,
                "outbox adopted the previous holder's rows"
            );
            s.wake_relay(true);
        }
        Ok(Recovered { published, adopted })
    }

    /// Starts the relay to the ledger on `channel` (see [`crate::ledger_link::lazy_channel`]),
    /// authenticating with `token`. At most one relay per outbox should run.
    pub fn spawn_relay(
        &self,
        channel: tonic::transport::Channel,
        token: auth::Token,
        config: RelayConfig,
    ) -> RelayHandle {
        relay::spawn(self.clone(), channel, token, config)
    }

    /// Waits until every ready row of this owner is acknowledged by the ledger or `deadline`
    /// passes; returns how many ready rows are left (0: flushed). Provisional rows (calls
    /// still in progress) are not waited for: stop dialing and finish calls first. Needs a
    /// running relay to make progress.
    pub async fn flush(&self, deadline: tokio::time::Instant) -> Result<u64, OutboxError> {
        let mut progress = self.shared.progress.subscribe();
        loop {
            progress.borrow_and_update();
            let (_, ready) = self.shared.store.counts(&self.shared.owner).await?;
            if ready == 0 {
                return Ok(0);
            }
            self.shared.wake_relay(false);
            // Progress wakes us; the sleep re-counts now and then in case another process
            // (a relay adopting these rows) made it.
            let wait = async {
                tokio::select! {
                    _ = progress.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            };
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                let (_, ready) = self.shared.store.counts(&self.shared.owner).await?;
                return Ok(ready);
            }
        }
    }

    /// Current row counts and counters.
    pub async fn stats(&self) -> Result<OutboxStats, OutboxError> {
        let s = &self.shared;
        let (pending, ready) = s.store.counts(&s.owner).await?;
        let dead_rows = s.store.dead_count().await?;
        let c = &s.counters;
        let recorded = c.recorded.load(Ordering::Relaxed);
        let duplicates = c.duplicate.load(Ordering::Relaxed);
        Ok(OutboxStats {
            pending,
            ready,
            dead_rows,
            commits: c.commits.load(Ordering::Relaxed),
            calls: c.calls.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            acked: recorded + duplicates,
            duplicates,
            dead: c.dead.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            fenced: c.fenced.load(Ordering::Relaxed),
            ledger_fenced: c.ledger_fenced.load(Ordering::Relaxed),
        })
    }

    /// Outcomes acknowledged (recorded or duplicate) since open: a cheap, synchronous read.
    pub fn acked(&self) -> u64 {
        let c = &self.shared.counters;
        c.recorded.load(Ordering::Relaxed) + c.duplicate.load(Ordering::Relaxed)
    }

    /// Up to `limit` rejected outcomes, oldest rejection first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, OutboxError> {
        self.shared.store.dead_letters(limit).await
    }

    /// Sends dead letters again (after the cause was fixed, e.g. the account was loaded).
    /// Returns how many were requeued.
    pub async fn requeue_dead(&self, keys: &[String]) -> Result<u64, OutboxError> {
        let s = &self.shared;
        let now = jiff::Timestamp::now().as_microsecond();
        let n = s
            .store
            .requeue_dead(keys, &s.owner, s.next_seqs(1), now)
            .await?;
        s.wake_relay(true);
        Ok(n)
    }

    /// Closes the database pool (the writer and a relay then fail their next operation).
    pub async fn close(&self) {
        self.shared.store.close().await;
    }
}

/// What [`Outbox::recover_provisional`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Provisional rows marked ready with their provisional outcome.
    pub published: u64,
    /// Ready rows of another owner taken over by this outbox's relay.
    pub adopted: u64,
}

impl OutcomeSink for Outbox {
    /// Refuses (so the engine does not dial) an outcome the ledger would reject for its shape;
    /// a repeated begin of a key is a no-op.
    async fn begin(&self, provisional: &ContactOutcome) -> Result<(), SinkError> {
        provisional
            .validate()
            .map_err(|e| SinkError(OutboxError::Invalid(e).to_string()))?;
        self.submit(
            vec![outcome_item(Kind::Begin, provisional)],
            &provisional.campaign_id,
        )
        .await
        .map_err(|e| SinkError(e.to_string()))
    }

    /// Not validated: the call happened, so its outcome is kept whatever it holds; a bad one
    /// ends in the dead-letter table with the ledger's reason. The commands commit in the same
    /// transaction as the outcome.
    async fn finish(
        &self,
        outcome: &ContactOutcome,
        commands: &[LedgerCommand],
    ) -> Result<(), SinkError> {
        let mut items = Vec::with_capacity(1 + commands.len());
        items.push(outcome_item(Kind::Finish, outcome));
        items.extend(
            commands
                .iter()
                .map(|c| command_item(c, &outcome.campaign_id)),
        );
        self.submit(items, &outcome.campaign_id)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>, SinkError> {
        self.shared
            .store
            .unacknowledged(accounts)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }
}

/// Folds a batch to at most one write per key: any finish wins (the last one's payload, made
/// ready); otherwise the first begin's payload as provisional. Relay order follows the order
/// in which the finishes arrived.
/// `first_seq` is the first of as many relay-order values as the batch has finishes.
fn fold(batch: &mut [Pending], first_seq: i64) -> Vec<Write> {
    let mut at: HashMap<String, usize> = HashMap::with_capacity(batch.len());
    let mut writes: Vec<Write> = Vec::with_capacity(batch.len());
    let mut seq = first_seq;
    for item in batch.iter_mut().flat_map(|p| p.items.iter_mut()) {
        // Cloned: a batch refused for a stale fence is folded again without the stale calls.
        let payload = item.payload.clone();
        let row = item.row.clone();
        match (at.entry(row.key.clone()), &item.kind) {
            (Entry::Vacant(e), Kind::Begin) => {
                e.insert(writes.len());
                writes.push(Write::Provisional { row, payload });
            }
            (Entry::Vacant(e), Kind::Finish) => {
                e.insert(writes.len());
                writes.push(Write::Ready { row, payload, seq });
                seq += 1;
            }
            (Entry::Occupied(_), Kind::Begin) => {}
            (Entry::Occupied(e), Kind::Finish) => {
                writes[*e.get()] = Write::Ready { row, payload, seq };
                seq += 1;
            }
        }
    }
    writes
}

/// The group-commit writer: whatever has queued (up to `max_batch`) is one transaction;
/// every caller in it hears the commit's result. Batches grow by themselves while the
/// previous one commits; there is no timer to wait on.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut buf: Vec<Pending> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut buf, max_batch).await > 0 {
        let mut batch = std::mem::take(&mut buf);
        let result = loop {
            let finishes = batch
                .iter()
                .flat_map(|p| &p.items)
                .filter(|i| matches!(i.kind, Kind::Finish))
                .count();
            let writes = fold(&mut batch, shared.next_seqs(finishes));
            let any_ready = writes.iter().any(|w| matches!(w, Write::Ready { .. }));
            let mut fences: Vec<(String, i64)> =
                batch.iter().filter_map(|p| p.fence.clone()).collect();
            fences.sort_unstable();
            fences.dedup();
            let now = jiff::Timestamp::now().as_microsecond();
            let span =
                tracing::debug_span!("outbox_commit", calls = batch.len(), rows = writes.len());
            match shared
                .store
                .apply(&shared.owner, &writes, now, &fences)
                .instrument(span)
                .await
            {
                Ok(None) => break Ok(any_ready),
                Ok(Some(current)) => {
                    // Refuse the stale calls, write the others.
                    let (stale, kept): (Vec<Pending>, Vec<Pending>) =
                        batch.into_iter().partition(|p| {
                            p.fence
                                .as_ref()
                                .is_some_and(|(c, t)| current.get(c).is_some_and(|cur| t < cur))
                        });
                    for p in stale {
                        let (campaign, token) = p.fence.clone().unwrap_or_default();
                        let current = current.get(&campaign).copied().unwrap_or_default();
                        tracing::warn!(
                            campaign_id = %campaign,
                            token,
                            current,
                            "outbox write refused: another replica holds the campaign (stale lease)"
                        );
                        shared.counters.fenced.fetch_add(1, Ordering::Relaxed);
                        if let Some(l) = shared.leases.get() {
                            l.note_fenced(&campaign);
                        }
                        let _ = p.done.send(Err(OutboxError::Fenced {
                            campaign,
                            token,
                            current,
                        }));
                    }
                    batch = kept;
                    if batch.is_empty() {
                        break Ok(false);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let result = result.map(|any_ready| {
            if any_ready {
                shared.wake_relay(false);
            }
        });
        match &result {
            Ok(()) => {
                shared.counters.commits.fetch_add(1, Ordering::Relaxed);
                shared
                    .counters
                    .calls
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, calls = batch.len(), "outbox batch failed"),
        }
        for p in batch {
            let _ = p.done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: Kind, key: &str, payload: &[u8]) -> Pending {
        Pending {
            items: vec![Item {
                kind,
                row: row(key),
                payload: payload.to_vec(),
            }],
            fence: None,
            done: oneshot::channel().0,
        }
    }

    fn row(key: &str) -> Row {
        Row {
            key: key.to_owned(),
            kind: WriteKind::Outcome,
            account: "acc".into(),
            campaign: "c".into(),
        }
    }

    #[test]
    fn a_batch_folds_to_one_write_per_key() {
        let mut batch = vec![
            call(Kind::Begin, "a", b"a-prov"),
            call(Kind::Begin, "b", b"b-prov"),
            call(Kind::Finish, "a", b"a-final"),
            call(Kind::Begin, "b", b"b-prov-again"),
            call(Kind::Finish, "c", b"c-final"),
            call(Kind::Begin, "c", b"c-prov-late"),
            call(Kind::Finish, "d", b"d-1"),
            call(Kind::Finish, "d", b"d-2"),
        ];
        let w = fold(&mut batch, 10);
        let ready = |key: &str, payload: &[u8], seq| Write::Ready {
            row: row(key),
            payload: payload.to_vec(),
            seq,
        };
        assert_eq!(
            w,
            vec![
                // Begin then finish: ready with the final payload, in finish order.
                ready("a", b"a-final", 10),
                // Repeated begin: the first payload stands.
                Write::Provisional {
                    row: row("b"),
                    payload: b"b-prov".to_vec(),
                },
                // Begin after finish changes nothing.
                ready("c", b"c-final", 11),
                // The last finish wins.
                ready("d", b"d-2", 13),
            ]
        );
    }
}
