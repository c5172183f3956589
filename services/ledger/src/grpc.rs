//! The gRPC edge: maps protobuf messages to domain types with [`ledger_api::wire`] and
//! [`ledger_api::common`], calls the store, maps results back, and runs the streaming RPCs
//! (batched outcome ingest with acks after commit, change feed replay-then-follow).
//! [`receivables`] is the ReceivablesService (money events, issue 12). Who may call what is
//! [`roles`]; every error answered is mapped in [`status`].

pub mod receivables;
pub mod roles;
pub mod status;

use std::pin::Pin;
use std::time::{Duration, Instant};

use ledger_api::pb;
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{MAX_VIEW_ACCOUNTS, Store};
use ledger_api::common::account_filter_in;
use ledger_api::domain::{self, *};
use ledger_api::limits::{self, ID_BYTES, MAX_OUTCOMES_PER_MESSAGE, PAGE_TOKEN_BYTES};
use ledger_api::wire::*;
use status::{bad_field, invalid, invalid_record, record_error, status, store_record_error};

/// Default for the most outcomes applied in one transaction.
pub const MAX_BATCH: usize = 4000;
/// Transactions of one stream committing at the same time.
pub const MAX_INFLIGHT: usize = 2;
/// ListAccounts page size when the request gives none.
pub const ACCOUNTS_PAGE_DEFAULT: u32 = 1000;
/// Largest ListAccounts page; larger requests are served this many.
pub const ACCOUNTS_PAGE_MAX: u32 = 10_000;
/// Most changes one pre-dial check returns (beyond, its `as_of_seq` stops earlier).
pub const CHECK_CHANGES_MAX: u32 = 10_000;
/// Most account records one UpsertAccounts transaction writes.
pub const UPSERT_CHUNK: usize = 1000;
/// How long an UpsertAccounts chunk waits for more records after its first.
pub const UPSERT_WAIT: Duration = Duration::from_millis(5);
/// A GetAccountViews answer stays under this many bytes (a quarter of the message limit).
pub const VIEWS_PAGE_BYTES: usize = collections_proto::MAX_MESSAGE_BYTES / 4;
/// How often a watcher polls for other replicas' commits when idle.
pub const WATCH_POLL: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------- page tokens

/// ListAccounts page tokens: the last id of the page, versioned and base64url-encoded so
/// clients treat them as opaque and a garbled one is told apart from an id.
fn account_page_token(last_id: &str) -> String {
    use base64::Engine;
    format!(
        "a1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_id)
    )
}

fn account_page_after(token: &str) -> Option<String> {
    use base64::Engine;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.strip_prefix("a1.")?)
        .ok()?;
    String::from_utf8(b).ok().filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------- service

/// The LedgerService implementation.
#[derive(Debug, Clone)]
pub struct LedgerGrpc {
    store: Store,
    metrics: Metrics,
    /// Becomes true when the server shuts down: long-lived streams end so graceful shutdown
    /// does not wait for clients forever.
    stop: watch::Receiver<bool>,
    max_batch: usize,
    /// What "now" is when an outcome's `started_at` is checked.
    clock: Clock,
    /// How far after `clock`'s now an outcome may start.
    max_future_skew: jiff::SignedDuration,
}

impl LedgerGrpc {
    pub fn new(store: Store, metrics: Metrics, stop: watch::Receiver<bool>) -> Self {
        Self {
            store,
            metrics,
            stop,
            max_batch: MAX_BATCH,
            clock: Clock::system(),
            max_future_skew: jiff::SignedDuration::try_from(limits::DEFAULT_MAX_FUTURE_SKEW)
                .unwrap_or(jiff::SignedDuration::ZERO),
        }
    }

    /// Most outcomes per ingest transaction (at least 1).
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Outcomes may start at most `skew` after `clock`'s now.
    pub fn with_clock(mut self, clock: Clock, skew: Duration) -> Self {
        self.clock = clock;
        self.max_future_skew =
            jiff::SignedDuration::try_from(skew).unwrap_or(jiff::SignedDuration::MAX);
        self
    }
}

/// A request's id field: required, at most [`ID_BYTES`].
fn required_id(field: &str, v: &str) -> Result<(), Status> {
    if v.is_empty() {
        return Err(bad_field(field, "is required"));
    }
    domain::bounded(field, v, ID_BYTES).map_err(invalid)
}

/// A request's optional id field: at most [`ID_BYTES`].
fn optional_id(field: &str, v: &str) -> Result<(), Status> {
    domain::bounded(field, v, ID_BYTES).map_err(invalid)
}

fn page_token_bound(v: &str) -> Result<(), Status> {
    domain::bounded("page_token", v, PAGE_TOKEN_BYTES).map_err(invalid)
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        // Sender gone: the server is gone too.
    }
}

/// Applies one batch in one transaction and turns the result into acks.
async fn apply_batch(
    store: Store,
    metrics: Metrics,
    items: Vec<Item>,
) -> Result<Vec<pb::OutcomeAck>, Status> {
    let mut acks = Vec::with_capacity(items.len());
    let mut valid = Vec::with_capacity(items.len());
    let mut fences = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Ok(o, fence) => {
                valid.push(*o);
                fences.push(fence);
            }
            Item::Rejected(key, e) => acks.push(pb::OutcomeAck {
                idempotency_key: key,
                status: pb::AckStatus::Rejected as i32,
                duplicate: false,
                error: Some(invalid_record(&e)),
            }),
        }
    }
    if !valid.is_empty() {
        let started = Instant::now();
        let kinds = store
            .record_outcomes_fenced(&mut valid, &fences)
            .await
            .map_err(status)?;
        metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_size.observe(valid.len() as f64);
        for (o, k) in valid.into_iter().zip(kinds) {
            let (st, error) = match k {
                AckKind::Recorded => (pb::AckStatus::Recorded, None),
                AckKind::Duplicate => (pb::AckStatus::Duplicate, None),
                AckKind::Rejected {
                    code,
                    field,
                    message,
                } => (
                    pb::AckStatus::Rejected,
                    Some(record_error(code, &field, &message)),
                ),
            };
            acks.push(pb::OutcomeAck {
                idempotency_key: o.idempotency_key,
                status: st as i32,
                duplicate: st == pb::AckStatus::Duplicate,
                error,
            });
        }
    }
    for a in &acks {
        let label = match a.status() {
            pb::AckStatus::Recorded => "recorded",
            pb::AckStatus::Duplicate => "duplicate",
            _ => "rejected",
        };
        metrics.outcomes.with_label_values(&[label]).inc();
    }
    let fenced: Vec<&pb::RecordError> = acks
        .iter()
        .filter_map(|a| a.error.as_ref())
        .filter(|e| is_fenced(&e.code, &e.message))
        .collect();
    if let Some(first) = fenced.first() {
        metrics
            .fenced
            .with_label_values(&["RecordOutcomes"])
            .inc_by(fenced.len() as u64);
        tracing::warn!(
            outcomes = fenced.len(),
            refusal = %first.message,
            "outcomes refused: stale campaign fence (a dialer replica wrote after losing its lease)"
        );
    }
    metrics.change_head.set(*store.subscribe_head().borrow());
    Ok(acks)
}

/// A fenced message's outcomes must be of the fence's campaign.
fn fenced_outcome(o: &ContactOutcome, fence: Option<&Fence>) -> Result<(), ValidationError> {
    match fence {
        Some(f) if f.campaign_id != o.campaign_id => Err(ValidationError::new(
            "fence.campaign_id",
            "is not the outcome's campaign_id",
        )),
        _ => Ok(()),
    }
}

/// A unary command's answer: a stale-fence refusal is counted and logged (campaign and both
/// tokens are in its message), then answered FAILED_PRECONDITION.
fn fenced_status(metrics: &Metrics, rpc: &str, e: crate::store::StoreError) -> Status {
    if let crate::store::StoreError::Fenced { fence, current } = &e {
        metrics.fenced.with_label_values(&[rpc]).inc();
        tracing::warn!(
            rpc,
            campaign_id = %fence.campaign_id,
            token = fence.token,
            current,
            "command refused: stale campaign fence (a dialer replica wrote after losing its lease)"
        );
    }
    status(e)
}

/// Reads what the stream has ready, up to `max` messages: waits for the first, then takes
/// what arrives within `wait` of it. Empty at the end of the stream.
async fn read_chunk<T>(
    stream: &mut Streaming<T>,
    max: usize,
    wait: Duration,
) -> Result<Vec<T>, Status> {
    let mut chunk = Vec::new();
    let Some(first) = stream.message().await? else {
        return Ok(chunk);
    };
    chunk.push(first);
    let deadline = tokio::time::Instant::now() + wait;
    while chunk.len() < max {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(m))) => chunk.push(m),
            Ok(Ok(None)) | Err(_) => break,
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(chunk)
}

/// One chunk of `UpsertAccounts`: records refused at the edge are reported as they are, the
/// others written in one batch ([`Store::upsert_accounts`]); results in stream order.
async fn apply_upserts(
    store: Store,
    metrics: Metrics,
    actor: String,
    records: Vec<(u32, String, Result<Account, pb::RecordError>)>,
) -> Vec<pb::UpsertAccountResult> {
    let mut valid = Vec::new();
    let mut slots = Vec::new();
    for (i, (_, _, r)) in records.iter().enumerate() {
        if let Ok(a) = r {
            valid.push(a.clone());
            slots.push(i);
        }
    }
    let started = Instant::now();
    let applied = store.upsert_accounts(valid, &actor).await;
    metrics
        .batch_seconds
        .observe(started.elapsed().as_secs_f64());
    let mut applied: Vec<Option<_>> = applied.into_iter().map(Some).collect();
    let mut by_slot = std::collections::HashMap::new();
    for (k, i) in slots.into_iter().enumerate() {
        by_slot.insert(i, applied[k].take());
    }
    records
        .into_iter()
        .enumerate()
        .map(|(i, (index, account_id, parsed))| {
            let result = match parsed {
                Err(e) => Err(e),
                Ok(_) => match by_slot.remove(&i).flatten() {
                    Some(Ok(o)) => Ok(o),
                    Some(Err(e)) => Err(store_record_error(&e)),
                    None => Err(record_error("INTERNAL", "", "internal error")),
                },
            };
            let (status, error) = match result {
                Ok(UpsertOutcome::Created) => (pb::UpsertStatus::Created, None),
                Ok(UpsertOutcome::Updated) => (pb::UpsertStatus::Updated, None),
                Ok(UpsertOutcome::Unchanged) => (pb::UpsertStatus::Unchanged, None),
                Err(e) => (pb::UpsertStatus::Rejected, Some(e)),
            };
            pb::UpsertAccountResult {
                index,
                account_id,
                status: status as i32,
                error,
            }
        })
        .collect()
}

/// Adds a chunk's results to the response and the metrics. A chunk task that panicked
/// reports nothing (its records are missing from `results`, the client sees the gap).
fn collect_upserts(
    resp: &mut pb::UpsertAccountsResponse,
    metrics: &Metrics,
    done: Result<Vec<pb::UpsertAccountResult>, tokio::task::JoinError>,
) {
    let results = match done {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "account batch task failed");
            return;
        }
    };
    for r in results {
        let status = r.status();
        match status {
            pb::UpsertStatus::Created => resp.created += 1,
            pb::UpsertStatus::Updated => resp.updated += 1,
            pb::UpsertStatus::Unchanged => resp.unchanged += 1,
            _ => resp.rejected += 1,
        }
        metrics
            .accounts
            .with_label_values(&[status.as_str_name()])
            .inc();
        resp.results.push(r);
    }
}

/// One outcome as read from the stream: valid (with its message's campaign fence), or
/// rejected at the edge.
enum Item {
    Ok(Box<ContactOutcome>, Option<Fence>),
    Rejected(String, ValidationError),
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::ledger_service_server::LedgerService for LedgerGrpc {
    async fn upsert_accounts(
        &self,
        req: Request<Streaming<pb::UpsertAccountRequest>>,
    ) -> Result<Response<pb::UpsertAccountsResponse>, Status> {
        let caller = auth::caller(&req)?;
        let mut stream = req.into_inner();
        let mut resp = pb::UpsertAccountsResponse::default();
        let mut index = 0u32;
        // One chunk commits while the next is read; chunks commit in stream order, so a
        // later record of an account wins.
        let mut inflight: Option<tokio::task::JoinHandle<Vec<pb::UpsertAccountResult>>> = None;
        loop {
            let chunk = read_chunk(&mut stream, UPSERT_CHUNK, UPSERT_WAIT).await?;
            if chunk.is_empty() {
                break;
            }
            let mut records = Vec::with_capacity(chunk.len());
            for msg in chunk {
                let account_id = msg
                    .account
                    .as_ref()
                    .map(|a| a.account_id.clone())
                    .unwrap_or_default();
                let parsed = match msg.account {
                    None => Err(record_error("INVALID_ARGUMENT", "account", "is required")),
                    Some(a) => account_in(a).map_err(|v| invalid_record(&v)),
                };
                records.push((index, account_id, parsed));
                index += 1;
            }
            if let Some(prev) = inflight.take() {
                collect_upserts(&mut resp, &self.metrics, prev.await);
            }
            inflight = Some(tokio::spawn(apply_upserts(
                self.store.clone(),
                self.metrics.clone(),
                caller.subject.clone(),
                records,
            )));
        }
        if let Some(prev) = inflight.take() {
            collect_upserts(&mut resp, &self.metrics, prev.await);
        }
        self.metrics
            .change_head
            .set(*self.store.subscribe_head().borrow());
        tracing::info!(
            created = resp.created,
            updated = resp.updated,
            unchanged = resp.unchanged,
            rejected = resp.rejected,
            actor = %caller.subject,
            "accounts upserted"
        );
        Ok(Response::new(resp))
    }

    async fn get_account_views(
        &self,
        req: Request<pb::GetAccountViewsRequest>,
    ) -> Result<Response<pb::GetAccountViewsResponse>, Status> {
        let r = req.into_inner();
        if r.account_ids.is_empty() {
            return Err(bad_field("account_ids", "is required"));
        }
        if r.account_ids.len() > MAX_VIEW_ACCOUNTS {
            return Err(bad_field(
                "account_ids",
                &format!("at most {MAX_VIEW_ACCOUNTS} per call"),
            ));
        }
        for (i, id) in r.account_ids.iter().enumerate() {
            required_id(&format!("account_ids[{i}]"), id)?;
        }
        let since = opt_ts_from(&r.since, "since").map_err(invalid)?;
        let page = self
            .store
            .account_views(&r.account_ids, since)
            .await
            .map_err(status)?;
        let mut out = pb::GetAccountViewsResponse {
            not_found: page.not_found,
            as_of_seq: page.as_of_seq,
            ..Default::default()
        };
        // Every account fits one message (the ledger's bounds), a page of them may not:
        // what would pass VIEWS_PAGE_BYTES is deferred to the next ask.
        let mut bytes = 0usize;
        for v in page.views {
            if bytes >= VIEWS_PAGE_BYTES {
                out.deferred.push(v.account.account_id);
                continue;
            }
            let view = pb::AccountView {
                account: Some(account_out(v.account)),
                contacts: v.contacts.into_iter().map(outcome_out).collect(),
                promises: v.promises.into_iter().map(promise_out).collect(),
            };
            let len = prost::Message::encoded_len(&view);
            if bytes > 0 && bytes + len > VIEWS_PAGE_BYTES {
                bytes = VIEWS_PAGE_BYTES;
                out.deferred
                    .push(view.account.map(|a| a.account_id).unwrap_or_default());
                continue;
            }
            bytes += len;
            out.views.push(view);
        }
        Ok(Response::new(out))
    }

    async fn get_account(
        &self,
        req: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let r = req.into_inner();
        required_id("account_id", &r.account_id)?;
        let a = self
            .store
            .get_account(&r.account_id)
            .await
            .map_err(status)?;
        Ok(Response::new(account_out(a)))
    }

    async fn list_accounts(
        &self,
        req: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => ACCOUNTS_PAGE_DEFAULT,
            n => n.min(ACCOUNTS_PAGE_MAX),
        };
        page_token_bound(&r.page_token)?;
        let after = if r.page_token.is_empty() {
            String::new()
        } else {
            account_page_after(&r.page_token)
                .ok_or_else(|| bad_field("page_token", "is not a token we issued"))?
        };
        let f = account_filter_in(r.filter.unwrap_or_default(), "filter").map_err(invalid)?;
        let mut ids = self
            .store
            .list_accounts(&f, &after, limit + 1)
            .await
            .map_err(status)?;
        let more = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        let next_page_token = match ids.last() {
            Some(last) if more => account_page_token(last),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAccountsResponse {
            account_ids: ids,
            next_page_token,
        }))
    }

    type RecordOutcomesStream = BoxStream<pb::RecordOutcomesResponse>;

    async fn record_outcomes(
        &self,
        req: Request<Streaming<pb::RecordOutcomesRequest>>,
    ) -> Result<Response<Self::RecordOutcomesStream>, Status> {
        let mut inbound = req.into_inner();
        let max_batch = self.max_batch;
        let clock = self.clock.clone();
        let skew = self.max_future_skew;
        let (item_tx, mut item_rx) = mpsc::channel::<Item>(max_batch * 4);
        let (out_tx, out_rx) = mpsc::channel(64);
        // Reader: decode and check shape while the writer commits the previous batch.
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    m = inbound.message() => m,
                    _ = stopped(&mut stop) => return,
                };
                match msg {
                    Ok(Some(msg)) => {
                        // Too many in one message: each is refused (the sender splits).
                        let too_many = (msg.outcomes.len() > MAX_OUTCOMES_PER_MESSAGE).then(|| {
                            ValidationError::new(
                                "outcomes",
                                format!(
                                    "{} in one message; at most {MAX_OUTCOMES_PER_MESSAGE} allowed",
                                    msg.outcomes.len()
                                ),
                            )
                        });
                        let now = clock.now();
                        let fence = fence_in(msg.fence);
                        for o in msg.outcomes {
                            let key = o.idempotency_key.clone();
                            let checked = match (&too_many, &fence) {
                                (Some(e), _) | (None, Err(e)) => Err(e.clone()),
                                (None, Ok(fence)) => outcome_in(o).and_then(|o| {
                                    o.validate_started_at(now, skew)?;
                                    fenced_outcome(&o, fence.as_ref())?;
                                    Ok(o)
                                }),
                            };
                            let item = match checked {
                                Ok(o) => Item::Ok(Box::new(o), fence.clone().ok().flatten()),
                                Err(e) => Item::Rejected(key, e),
                            };
                            if item_tx.send(item).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::debug!(error = %e, "outcome stream ended by client");
                        return;
                    }
                }
            }
        });
        // Writer: whatever has arrived (up to MAX_BATCH) is one transaction; up to
        // MAX_INFLIGHT transactions run at once (the batch being decoded while the previous
        // one commits); acks of a batch are sent after its commit.
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(max_batch);
            let mut inflight = tokio::task::JoinSet::new();
            let mut input_done = false;
            loop {
                tokio::select! {
                    n = item_rx.recv_many(&mut buf, max_batch),
                        if !input_done && inflight.len() < MAX_INFLIGHT =>
                    {
                        if n == 0 {
                            input_done = true;
                        } else {
                            let items: Vec<Item> = std::mem::take(&mut buf);
                            buf.reserve(max_batch);
                            inflight.spawn(apply_batch(store.clone(), metrics.clone(), items));
                        }
                    }
                    Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                        let msg = match done {
                            Ok(r) => r.map(|acks| pb::RecordOutcomesResponse { acks }),
                            Err(e) => Err(status::ingest_failed(e)),
                        };
                        let failed = msg.is_err();
                        if out_tx.send(msg).await.is_err() || failed {
                            // Client gone or store failed: stop; the client resends what
                            // it has no ack for.
                            inflight.shutdown().await;
                            return;
                        }
                    }
                    else => break,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out_rx))))
    }

    async fn get_contact_history(
        &self,
        req: Request<pb::GetContactHistoryRequest>,
    ) -> Result<Response<pb::GetContactHistoryResponse>, Status> {
        let r = req.into_inner();
        required_id("account_id", &r.account_id)?;
        optional_id("person_id", &r.person_id)?;
        optional_id("debt_id", &r.debt_id)?;
        let since = opt_ts_from(&r.since, "since").map_err(invalid)?;
        let h = self
            .store
            .contact_history(&r.account_id, &r.person_id, &r.debt_id, since)
            .await
            .map_err(status)?;
        let a = h.account;
        Ok(Response::new(pb::GetContactHistoryResponse {
            contacts: h.contacts.into_iter().map(outcome_out).collect(),
            holds: a.holds.into_iter().map(hold_out).collect(),
            persons: a.persons.into_iter().map(person_out).collect(),
            blackouts: a.blackouts.into_iter().map(blackout_out).collect(),
            call_consents: a.call_consents.into_iter().map(call_consent_out).collect(),
            debts: a.debts.into_iter().map(debt_out).collect(),
            known_zone: a.known_zone,
        }))
    }

    async fn list_outcomes(
        &self,
        req: Request<pb::ListOutcomesRequest>,
    ) -> Result<Response<pb::ListOutcomesResponse>, Status> {
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => 100,
            n => n.min(1000),
        };
        for (f, v) in [
            ("account_id", &r.account_id),
            ("debt_id", &r.debt_id),
            ("campaign_id", &r.campaign_id),
            ("idempotency_key", &r.idempotency_key),
        ] {
            optional_id(f, v)?;
        }
        page_token_bound(&r.page_token)?;
        let after_event_id = if r.page_token.is_empty() {
            0
        } else {
            r.page_token
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| bad_field("page_token", "is not a token we issued"))?
        };
        let since = opt_ts_from(&r.since, "since").map_err(invalid)?;
        let until = opt_ts_from(&r.until, "until").map_err(invalid)?;
        if let (Some(s), Some(u)) = (since, until)
            && u < s
        {
            return Err(bad_field("until", "must not be before since"));
        }
        let f = OutcomeFilter {
            account_id: r.account_id,
            debt_id: r.debt_id,
            campaign_id: r.campaign_id,
            idempotency_key: r.idempotency_key,
            since,
            until,
            after_event_id,
            limit: limit + 1,
        };
        let mut rows = self.store.list_outcomes(&f).await.map_err(status)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_page_token = if more {
            rows.last()
                .map(|o| o.event_id.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOutcomesResponse {
            outcomes: rows.into_iter().map(outcome_out).collect(),
            next_page_token,
        }))
    }

    type WatchChangesStream = BoxStream<pb::Change>;

    async fn watch_changes(
        &self,
        req: Request<pb::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let r = req.into_inner();
        if r.after_seq < 0 {
            return Err(bad_field("after_seq", "must not be negative"));
        }
        optional_id("account_id", &r.account_id)?;
        let store = self.store.clone();
        let metrics = self.metrics.clone();
        let (tx, rx) = mpsc::channel(256);
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            metrics.watchers.inc();
            let mut head = store.subscribe_head();
            let mut cursor = r.after_seq;
            while !*stop.borrow() {
                let page = match store.changes_after(cursor, &r.account_id, 500).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        break;
                    }
                };
                if page.is_empty() {
                    // Caught up: wait for a local commit, a poll tick (other replicas), or the
                    // client going away.
                    tokio::select! {
                        _ = head.changed() => {}
                        _ = tokio::time::sleep(WATCH_POLL) => {}
                        _ = tx.closed() => break,
                        _ = stopped(&mut stop) => break,
                    }
                    continue;
                }
                let h = *head.borrow_and_update();
                let last = page.last().map_or(cursor, |c| c.seq);
                metrics.watch_lag.observe((h - last).max(0) as f64);
                let mut gone = false;
                for c in page {
                    if tx.send(Ok(change_out(c))).await.is_err() {
                        gone = true;
                        break;
                    }
                }
                if gone {
                    break;
                }
                cursor = last;
            }
            metrics.watchers.dec();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn record_promise(
        &self,
        req: Request<pb::RecordPromiseRequest>,
    ) -> Result<Response<pb::Promise>, Status> {
        let caller = auth::caller(&req)?;
        let r = req.into_inner();
        let fence = fence_in(r.fence).map_err(invalid)?;
        let p = r
            .promise
            .ok_or_else(|| bad_field("promise", "is required"))?;
        let p = promise_in(p).map_err(invalid)?;
        let p = self
            .store
            .record_promise_fenced(p, &caller.subject, fence.as_ref())
            .await
            .map_err(|e| fenced_status(&self.metrics, "RecordPromise", e))?;
        Ok(Response::new(promise_out(p)))
    }

    async fn record_payment_plan(
        &self,
        req: Request<pb::RecordPaymentPlanRequest>,
    ) -> Result<Response<pb::RecordPaymentPlanResponse>, Status> {
        let caller = auth::caller(&req)?;
        let r = req.into_inner();
        let fence = fence_in(r.fence).map_err(invalid)?;
        let date = |field: String, s: &str| -> Result<jiff::civil::Date, Status> {
            ::receivables::event::parse_date(s)
                .ok_or_else(|| bad_field(&field, "is not a date (YYYY-MM-DD)"))
        };
        let mut installments = Vec::with_capacity(r.installments.len());
        for (k, i) in r.installments.iter().enumerate() {
            installments.push(::receivables::Installment {
                due: date(format!("installments[{k}].due"), &i.due)?,
                amount_minor: i.amount_minor,
            });
        }
        let plan = crate::store::PlanRecord {
            made_on: date("made_on".into(), &r.made_on)?,
            account_id: r.account_id,
            debt_id: r.debt_id,
            outcome_key: r.outcome_key,
            installments,
            grace_days: r.grace_days,
        };
        let summary = self
            .store
            .record_plan_fenced(&plan, &caller.subject, fence.as_ref())
            .await
            .map_err(|e| fenced_status(&self.metrics, "RecordPaymentPlan", e))?;
        Ok(Response::new(pb::RecordPaymentPlanResponse {
            duplicate: summary.new == 0,
        }))
    }

    async fn list_promises(
        &self,
        req: Request<pb::ListPromisesRequest>,
    ) -> Result<Response<pb::ListPromisesResponse>, Status> {
        let r = req.into_inner();
        required_id("account_id", &r.account_id)?;
        optional_id("debt_id", &r.debt_id)?;
        let v = self
            .store
            .list_promises(&r.account_id, &r.debt_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListPromisesResponse {
            promises: v.into_iter().map(promise_out).collect(),
        }))
    }

    async fn set_hold(
        &self,
        req: Request<pb::SetHoldRequest>,
    ) -> Result<Response<pb::Hold>, Status> {
        let caller = auth::caller(&req)?;
        let r = req.into_inner();
        let fence = fence_in(r.fence).map_err(invalid)?;
        let h = r.hold.ok_or_else(|| bad_field("hold", "is required"))?;
        let h = hold_in(h, "hold").map_err(invalid)?;
        let kind = h.kind;
        let h = self
            .store
            .set_hold_fenced(h, &caller.subject, fence.as_ref())
            .await
            .map_err(|e| fenced_status(&self.metrics, "SetHold", e))?;
        tracing::info!(hold_id = %h.hold_id, kind = ?kind, actor = %caller.subject, "hold set");
        Ok(Response::new(hold_out(h)))
    }

    async fn set_consent(
        &self,
        req: Request<pb::SetConsentRequest>,
    ) -> Result<Response<pb::Phone>, Status> {
        let caller = auth::caller(&req)?;
        let mut r = req.into_inner();
        let fence = fence_in(r.fence.take()).map_err(invalid)?;
        let c = consent_update_in(r).map_err(invalid)?;
        let number = ledger_api::redact::phone(&c.number);
        let consent = c.consent;
        let p = self
            .store
            .set_consent_fenced(c, &caller.subject, fence.as_ref())
            .await
            .map_err(|e| fenced_status(&self.metrics, "SetConsent", e))?;
        tracing::info!(number = %number, consent, actor = %caller.subject, "consent set");
        Ok(Response::new(phone_out(p)))
    }

    async fn check_accounts(
        &self,
        req: Request<pb::CheckAccountsRequest>,
    ) -> Result<Response<pb::CheckAccountsResponse>, Status> {
        let r = req.into_inner();
        if r.accounts.len() > MAX_CHECK_ACCOUNTS {
            return Err(bad_field(
                "accounts",
                &format!("at most {MAX_CHECK_ACCOUNTS} per check"),
            ));
        }
        let mut cursors = Vec::with_capacity(r.accounts.len());
        for (i, a) in r.accounts.into_iter().enumerate() {
            if a.account_id.is_empty() {
                return Err(bad_field(
                    format_args!("accounts[{i}].account_id"),
                    "is required",
                ));
            }
            if a.after_seq < 0 {
                return Err(bad_field(
                    format_args!("accounts[{i}].after_seq"),
                    "must not be negative",
                ));
            }
            cursors.push((a.account_id, a.after_seq));
        }
        let check = self
            .store
            .check_accounts(&cursors, CHECK_CHANGES_MAX)
            .await
            .map_err(status)?;
        Ok(Response::new(check_out(check)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_page_tokens_are_opaque_and_checked() {
        let t = account_page_token("A-17/x");
        assert_eq!(account_page_after(&t).as_deref(), Some("A-17/x"));
        assert_eq!(account_page_after("A-17"), None);
        assert_eq!(account_page_after("a1.!!"), None);
        assert_eq!(account_page_after("a1."), None);
    }
}
