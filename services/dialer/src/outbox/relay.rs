//! The relay: streams this replica's ready outcome rows to the ledger over
//! `LedgerService.RecordOutcomes` and deletes each row only after the ledger acknowledged it
//! (RECORDED or DUPLICATE, sent after the ledger's commit). A REJECTED outcome moves to the
//! dead-letter table with the ledger's error instead of being retried forever. Command rows
//! (holds, promises, consent changes from dispositions) go by their unary RPCs, each
//! idempotent by its key, and are deleted once the ledger answered.
//!
//! One stream at a time, with at most `window` outcomes sent and not acknowledged. When the
//! stream breaks (ledger down, network, ledger restart) everything unacknowledged is still a
//! ready row and is sent again on the next stream; the ledger answers DUPLICATE for what it
//! had already committed, so nothing is recorded twice. Reconnects back off exponentially up
//! to a cap. The relay sleeps on a notification from the writer (new ready rows) with a slow
//! poll as a safety net, and never touches the writer's queue, so `begin`/`finish` never wait
//! for the ledger.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collections_proto::ledger_v1 as pb;
use pb::ledger_service_client::LedgerServiceClient;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tracing::Instrument;

use super::Outbox;
use super::store::Rejection;
use crate::outcomes::WriteKind;
use auth::{BearerAuth, Token};
use ledger_api::domain::is_fenced;

/// Tuning of the relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Most outcomes sent and not yet acknowledged (and kept in memory). The ledger commits
    /// whatever has arrived (up to its batch size) in one transaction, so a larger window
    /// means larger ledger batches and a higher delivery rate (docs/performance.md).
    pub window: usize,
    /// Most rows read per query.
    pub page: usize,
    /// Most outcomes per `RecordOutcomesRequest` message.
    pub message_size: usize,
    /// First wait before reconnecting; doubles on each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Safety-net poll when no notification came (rows written by another process, e.g. a
    /// recovery on another replica).
    pub poll: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            window: 10_000,
            page: 1000,
            message_size: 250,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            poll: Duration::from_secs(2),
        }
    }
}

/// The running relay. Dropping the handle aborts the task (like a crash: whatever is not
/// acknowledged stays in the outbox for the next relay).
#[derive(Debug)]
pub struct RelayHandle {
    task: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl RelayHandle {
    /// Stops at once, mid-stream if need be.
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    /// Closes the stream and waits for the task to end. Outcomes sent but not acknowledged
    /// stay in the outbox (call [`Outbox::flush`] first for a clean shutdown).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

pub(super) fn spawn(
    outbox: Outbox,
    channel: Channel,
    token: Token,
    cfg: RelayConfig,
) -> RelayHandle {
    let cfg = RelayConfig {
        window: cfg.window.max(1),
        page: cfg.page.max(1),
        message_size: cfg.message_size.max(1),
        ..cfg
    };
    let (stop, stop_rx) = watch::channel(false);
    let span = tracing::info_span!("outbox_relay", owner = %outbox.owner());
    let task = tokio::spawn(run(outbox, channel, token, cfg, stop_rx).instrument(span));
    RelayHandle {
        task: Some(task),
        stop,
    }
}

/// How a stream ended.
enum End {
    Stopped,
    Broken {
        reason: String,
        /// Acks arrived on it: the ledger was healthy, so the next failure starts the backoff
        /// afresh.
        acked: bool,
    },
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Sender gone counts as stop too: the handle is gone.
    let _ = stop.wait_for(|s| *s).await;
}

/// Between half and all of `d`, so replicas restarted together do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d / 2 + (d / 2).mul_f64(f64::from(n % 1000) / 1000.0)
}

async fn run(
    outbox: Outbox,
    channel: Channel,
    token: Token,
    cfg: RelayConfig,
    mut stop: watch::Receiver<bool>,
) {
    let counters = &outbox.shared.counters;
    let mut backoff = cfg.backoff_initial;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        match session(&outbox, channel.clone(), &token, &cfg, &mut stop).await {
            End::Stopped => {
                tracing::info!("relay stopped");
                return;
            }
            End::Broken { reason, acked } => {
                counters.reconnects.fetch_add(1, Ordering::Relaxed);
                if acked || started.elapsed() >= cfg.backoff_max {
                    backoff = cfg.backoff_initial;
                }
                let wait = jitter(backoff);
                tracing::warn!(%reason, retry_in = ?wait, "ledger stream ended; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped(&mut stop) => return,
                }
                backoff = (backoff * 2).min(cfg.backoff_max);
            }
        }
    }
}

/// One RecordOutcomes stream, from open to break or stop.
async fn session(
    outbox: &Outbox,
    channel: Channel,
    token: &Token,
    cfg: &RelayConfig,
    stop: &mut watch::Receiver<bool>,
) -> End {
    let s = &outbox.shared;
    // Room for a message per outcome in the window: sending never waits, so the relay always
    // keeps reading acks (the ledger stops reading if its acks are not read).
    let (tx, rx) = mpsc::channel::<pb::RecordOutcomesRequest>(cfg.window + 1);
    let mut client = LedgerServiceClient::with_interceptor(channel, BearerAuth(token.clone()))
        .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(collections_proto::MAX_MESSAGE_BYTES);
    let mut commands_client = client.clone();
    let opened = tokio::select! {
        r = client.record_outcomes(ReceiverStream::new(rx)) => r,
        _ = stopped(stop) => return End::Stopped,
    };
    let mut acks = match opened {
        Ok(r) => r.into_inner(),
        Err(st) => {
            return End::Broken {
                reason: format!("open: {:?}: {}", st.code(), st.message()),
                acked: false,
            };
        }
    };
    tracing::debug!("ledger stream open");
    let broken = |reason: String, acked: bool| End::Broken { reason, acked };
    // Outcomes sent and not acknowledged, with the fence each went with.
    let mut inflight: Inflight = HashMap::new();
    // Relay-order cursor; `None` = scan from the start (skipping what is in flight).
    let mut cursor: Option<(i64, String)> = None;
    s.rescan.store(false, Ordering::Release);
    let mut need_fetch = true;
    let mut acked_any = false;
    // An interval, not a sleep per turn: steady ack traffic must not postpone the poll.
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + cfg.poll, cfg.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while need_fetch && inflight.len() < cfg.window {
            if s.rescan.swap(false, Ordering::AcqRel) {
                cursor = None;
            }
            let room = (cfg.window - inflight.len()).min(cfg.page);
            // From the start, the rows in flight come back too: read past them.
            let limit = room + if cursor.is_none() { inflight.len() } else { 0 };
            let rows = match s.store.fetch_ready(&s.owner, cursor.as_ref(), limit).await {
                Ok(r) => r,
                Err(e) => return broken(format!("reading the outbox: {e}"), acked_any),
            };
            if rows.len() < limit {
                need_fetch = false;
            }
            if let Some(last) = rows.last() {
                cursor = Some((last.ready_seq, last.idempotency_key.clone()));
            }
            // One message per campaign fence (a message's fence covers all its outcomes).
            let mut msgs: Vec<(SentFence, Vec<pb::ContactOutcome>)> = Vec::new();
            let mut corrupt = Vec::new();
            let mut commands = Vec::new();
            let send = |fence: SentFence, outcomes: Vec<pb::ContactOutcome>| {
                let n = outcomes.len() as u64;
                let fence =
                    fence.map(|(campaign_id, token)| pb::CampaignFence { campaign_id, token });
                tx.try_send(pb::RecordOutcomesRequest { outcomes, fence })
                    .map(|()| s.counters.sent.fetch_add(n, Ordering::Relaxed))
                    .is_ok()
            };
            for r in rows {
                if inflight.contains_key(&r.idempotency_key) || s.held_back(&r.campaign_id) {
                    continue;
                }
                if r.kind != WriteKind::Outcome.as_str() {
                    commands.push(r);
                    continue;
                }
                let fence = s.fence(&r.campaign_id);
                match pb::ContactOutcome::decode(r.payload.as_slice()) {
                    Ok(o) => {
                        inflight.insert(r.idempotency_key, fence.clone());
                        let at = match msgs.iter().position(|(f, _)| *f == fence) {
                            Some(at) => at,
                            None => {
                                msgs.push((fence.clone(), Vec::new()));
                                msgs.len() - 1
                            }
                        };
                        msgs[at].1.push(o);
                        if msgs[at].1.len() == cfg.message_size {
                            let full = std::mem::take(&mut msgs[at].1);
                            if !send(fence, full) {
                                return broken(
                                    "ledger stream closed while sending".into(),
                                    acked_any,
                                );
                            }
                        }
                    }
                    Err(e) => corrupt.push(Rejection {
                        key: r.idempotency_key,
                        code: "DATA_LOSS".into(),
                        field: "payload".into(),
                        message: format!("undecodable outbox row: {e}"),
                    }),
                }
            }
            for (fence, outcomes) in msgs {
                if !outcomes.is_empty() && !send(fence, outcomes) {
                    return broken("ledger stream closed while sending".into(), acked_any);
                }
            }
            if !corrupt.is_empty() {
                if let Err(e) = dead_letter(outbox, &corrupt).await {
                    return broken(format!("writing dead letters: {e}"), acked_any);
                }
            }
            if !commands.is_empty() {
                if let Err(reason) = send_commands(outbox, &mut commands_client, commands).await {
                    return broken(reason, acked_any);
                }
                acked_any = true;
            }
        }
        tokio::select! {
            biased;
            _ = stopped(stop) => return End::Stopped,
            m = acks.message() => match m {
                Ok(Some(resp)) => {
                    acked_any = true;
                    if let Err(e) = apply_acks(outbox, &mut inflight, resp.acks).await {
                        return broken(format!("applying acks: {e}"), acked_any);
                    }
                }
                Ok(None) => return broken("ledger closed the stream".into(), acked_any),
                Err(st) => {
                    return broken(format!("{:?}: {}", st.code(), st.message()), acked_any);
                }
            },
            _ = s.notify.notified(), if !need_fetch => need_fetch = true,
            _ = poll.tick() => {
                need_fetch = true;
                s.rescan.store(true, Ordering::Release);
            }
        }
    }
}

/// Sends command rows by their unary RPCs, in relay order: each answered one is deleted, a
/// refused one (the ledger will never take it as it is) dead-lettered. Any other failure
/// ends the session with its reason; what is left is sent again on the next one.
async fn send_commands(
    outbox: &Outbox,
    client: &mut LedgerServiceClient<
        tonic::service::interceptor::InterceptedService<Channel, BearerAuth>,
    >,
    rows: Vec<super::store::ReadyRow>,
) -> Result<(), String> {
    let s = &outbox.shared;
    for r in rows {
        // A refusal earlier in this round holds the campaign's later rows back.
        if s.held_back(&r.campaign_id) {
            continue;
        }
        let sent_fence = s.fence(&r.campaign_id);
        let fence = sent_fence
            .clone()
            .map(|(campaign_id, token)| pb::CampaignFence { campaign_id, token });
        let sent = match WriteKind::parse(&r.kind) {
            Some(WriteKind::Hold) => match pb::Hold::decode(r.payload.as_slice()) {
                Ok(h) => Ok(client
                    .set_hold(pb::SetHoldRequest {
                        hold: Some(h),
                        fence,
                    })
                    .await
                    .map(drop)),
                Err(e) => Err(e),
            },
            Some(WriteKind::Promise) => match pb::Promise::decode(r.payload.as_slice()) {
                Ok(p) => Ok(client
                    .record_promise(pb::RecordPromiseRequest {
                        promise: Some(p),
                        fence,
                    })
                    .await
                    .map(drop)),
                Err(e) => Err(e),
            },
            Some(WriteKind::Consent) => match pb::SetConsentRequest::decode(r.payload.as_slice()) {
                Ok(c) => Ok(client
                    .set_consent(pb::SetConsentRequest { fence, ..c })
                    .await
                    .map(drop)),
                Err(e) => Err(e),
            },
            Some(WriteKind::Plan) => {
                match pb::RecordPaymentPlanRequest::decode(r.payload.as_slice()) {
                    Ok(p) => Ok(client
                        .record_payment_plan(pb::RecordPaymentPlanRequest { fence, ..p })
                        .await
                        .map(drop)),
                    Err(e) => Err(e),
                }
            }
            // Outcomes never come here; an unknown kind is a newer dialer's row.
            Some(WriteKind::Outcome) | None => continue,
        };
        s.counters.sent.fetch_add(1, Ordering::Relaxed);
        let rejection = |code: String, message: String| Rejection {
            key: r.idempotency_key.clone(),
            code,
            field: String::new(),
            message,
        };
        match sent {
            Ok(Ok(())) => {
                s.store
                    .delete(std::slice::from_ref(&r.idempotency_key))
                    .await
                    .map_err(|e| format!("deleting a sent command: {e}"))?;
                s.counters.recorded.fetch_add(1, Ordering::Relaxed);
                s.progress.send_modify(|p| *p += 1);
            }
            Ok(Err(st)) if is_fenced(code_name(st.code()), st.message()) => {
                let (campaign, token) = sent_fence.unwrap_or_default();
                fenced_out(outbox, &campaign, token, 1)
                    .await
                    .map_err(|e| format!("handing over a refused campaign's rows: {e}"))?;
            }
            Ok(Err(st)) if refused(&st) => {
                let code = code_name(st.code()).to_owned();
                dead_letter(outbox, &[rejection(code, st.message().to_owned())])
                    .await
                    .map_err(|e| format!("writing dead letters: {e}"))?;
            }
            Ok(Err(st)) => {
                return Err(format!(
                    "{} command: {:?}: {}",
                    r.kind,
                    st.code(),
                    st.message()
                ));
            }
            Err(e) => {
                dead_letter(
                    outbox,
                    &[rejection(
                        "DATA_LOSS".into(),
                        format!("undecodable outbox row: {e}"),
                    )],
                )
                .await
                .map_err(|e| format!("writing dead letters: {e}"))?;
            }
        }
    }
    Ok(())
}

/// The gRPC code's canonical name, as the ledger's per-record errors spell it.
fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        _ => "UNKNOWN",
    }
}

/// Answers that resending cannot change (the command itself is wrong or its account gone);
/// auth errors are not among them: a token may be fixed without touching the row.
fn refused(st: &tonic::Status) -> bool {
    matches!(
        st.code(),
        tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::FailedPrecondition
            | tonic::Code::OutOfRange
    )
}

async fn dead_letter(outbox: &Outbox, rejected: &[Rejection]) -> Result<(), super::OutboxError> {
    let s = &outbox.shared;
    for r in rejected {
        // Keys, codes and field paths only: the message may quote the payload.
        tracing::warn!(
            key = %r.key,
            code = %r.code,
            field = %r.field,
            "outcome rejected; moved to the dead-letter table"
        );
    }
    let now = jiff::Timestamp::now().as_microsecond();
    s.store.dead_letter(rejected, now).await?;
    s.counters
        .dead
        .fetch_add(rejected.len() as u64, Ordering::Relaxed);
    s.progress.send_modify(|p| *p += rejected.len() as u64);
    Ok(())
}

/// Deletes acknowledged rows and dead-letters rejected ones. An ack with a status this code
/// does not know leaves its row in place: the next rescan sends it again.
async fn apply_acks(
    outbox: &Outbox,
    inflight: &mut Inflight,
    acks: Vec<pb::OutcomeAck>,
) -> Result<(), super::OutboxError> {
    let s = &outbox.shared;
    let mut done = Vec::with_capacity(acks.len());
    let mut rejected = Vec::new();
    let mut fenced: HashMap<(String, i64), u64> = HashMap::new();
    let (mut recorded, mut duplicate) = (0u64, 0u64);
    for a in acks {
        let sent_fence = inflight.remove(&a.idempotency_key).flatten();
        let stale = a
            .error
            .as_ref()
            .is_some_and(|e| is_fenced(&e.code, &e.message));
        match pb::AckStatus::try_from(a.status) {
            // Stale: left as it is, for the campaign's holder (never dead-lettered).
            Ok(pb::AckStatus::Rejected) if stale => {
                *fenced.entry(sent_fence.unwrap_or_default()).or_default() += 1;
            }
            Ok(pb::AckStatus::Recorded) => {
                recorded += 1;
                done.push(a.idempotency_key);
            }
            Ok(pb::AckStatus::Duplicate) => {
                duplicate += 1;
                done.push(a.idempotency_key);
            }
            Ok(pb::AckStatus::Rejected) => {
                let e = a.error.unwrap_or_default();
                rejected.push(Rejection {
                    key: a.idempotency_key,
                    code: e.code,
                    field: e.field,
                    message: e.message,
                });
            }
            _ => {
                tracing::warn!(key = %a.idempotency_key, status = a.status, "unknown ack status; will resend");
                s.rescan.store(true, Ordering::Release);
            }
        }
    }
    s.store.delete(&done).await?;
    s.counters.recorded.fetch_add(recorded, Ordering::Relaxed);
    s.counters.duplicate.fetch_add(duplicate, Ordering::Relaxed);
    s.progress.send_modify(|p| *p += recorded + duplicate);
    if !rejected.is_empty() {
        dead_letter(outbox, &rejected).await?;
    }
    for ((campaign, token), n) in fenced {
        fenced_out(outbox, &campaign, token, n).await?;
    }
    Ok(())
}

/// The ledger refused `n` rows of `campaign` sent under `token`: another replica has sent it
/// a higher token, so it holds the campaign. The relay holds the campaign's rows back (they
/// are the holder's to deliver: it adopted them when it took the lease), counts the refusal,
/// gives the campaign up here, and hands any row of the campaign still this replica's to the
/// holder, so none is left behind. Nothing is deleted or dead-lettered.
async fn fenced_out(
    outbox: &Outbox,
    campaign: &str,
    token: i64,
    n: u64,
) -> Result<(), super::OutboxError> {
    let s = &outbox.shared;
    s.refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(campaign.to_owned(), token);
    s.counters.ledger_fenced.fetch_add(n, Ordering::Relaxed);
    tracing::warn!(
        campaign_id = %campaign,
        token,
        rows = n,
        "ledger refused the relay's stale fencing token: another replica holds the campaign"
    );
    if let Some(leases) = s.leases.get() {
        leases.refused_by_ledger(campaign, token);
    }
    let holder = s.store.lease_holder(campaign).await?;
    if !holder.is_empty() && holder != s.owner {
        let now = jiff::Timestamp::now().as_microsecond();
        let (published, adopted) = s
            .store
            .take_over(
                super::store::Scope::OwnerCampaign(&s.owner, campaign),
                &holder,
                s.next_seqs(1),
                now,
            )
            .await?;
        if published + adopted > 0 {
            tracing::info!(campaign_id = %campaign, %holder, published, adopted,
                "outbox rows of a lost campaign handed to its holder");
        }
    }
    Ok(())
}

/// The fence a row was sent with: (campaign, token), or none.
type SentFence = Option<(String, i64)>;

/// Outcomes sent and not yet acknowledged: key -> the fence sent with it.
type Inflight = HashMap<String, SentFence>;
