//! The ledger's persistence (sqlx): one code path for PostgreSQL (production) and SQLite (the
//! embedded default), on the shared store layer (`sqlstore`). Queries are written once in SQL
//! both dialects accept (`$N` parameters, `ON CONFLICT`, `RETURNING`), with `sqlstore::sql!`
//! fragments where they differ (id lists), and run through `sqlstore::with_pool!`, which
//! instantiates the same body for each pool type. Only bulk ingest is a different algorithm
//! per dialect (Postgres `UNNEST` vs a SQLite row loop in one transaction). Every write is one
//! transaction that also appends to the `changes` feed and the audit log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use sqlstore::{Db, Driver, List, PoolSize, sql, with_pool, write_tx};
use sqlx::{FromRow, PgPool, SqlitePool};
use tokio::sync::watch;

use ledger_api::domain::*;

/// Raises campaign `$campaign`'s fence mark to `$token` in transaction `$tx` (taking its row
/// lock, before any other lock of the transaction but the money lock) and returns the mark
/// as it now is: above `$token` means the command is stale.
macro_rules! raise_fence {
    ($tx:ident, $campaign:expr, $token:expr, $now:expr) => {{
        let (mark,): (i64,) = sqlx::query_as(
            "INSERT INTO campaign_fences (campaign_id, token, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (campaign_id) DO UPDATE SET token = CASE \
             WHEN excluded.token > campaign_fences.token THEN excluded.token \
             ELSE campaign_fences.token END, updated_at = excluded.updated_at RETURNING token",
        )
        .bind($campaign)
        .bind($token)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        mark
    }};
}

/// Checks a command's fence (`Option<&Fence>`) in its transaction: raises the mark, or
/// returns [`StoreError::Fenced`] (the transaction rolls back) when the mark is higher.
macro_rules! pass_fence {
    ($tx:ident, $fence:expr, $now:expr) => {
        if let Some(f) = $fence {
            let mark = raise_fence!($tx, &f.campaign_id, f.token, $now);
            if mark > f.token {
                return Err(StoreError::Fenced {
                    fence: f.clone(),
                    current: mark,
                });
            }
        }
    };
}

/// The fence pass of an ingest batch, in its transaction `$tx` (driver `$D`): raises each
/// campaign's mark to the highest token the batch carries for it (campaigns in name order:
/// one lock order), then splits `$todo` into the outcomes to insert and the stale ones
/// (token below the mark) with the mark. A stale outcome whose key is already recorded is
/// neither: it acks DUPLICATE, the stored result, whatever its token.
macro_rules! fence_batch {
    ($tx:ident, $D:ty, $batch:expr, $todo:expr, $fences:expr, $now:expr) => {{
        let fence_of = |i: usize| $fences.get(i).and_then(Option::as_ref);
        let mut highest: std::collections::BTreeMap<&str, i64> = Default::default();
        for &i in $todo {
            if let Some(f) = fence_of(i) {
                let t = highest.entry(f.campaign_id.as_str()).or_insert(f.token);
                *t = (*t).max(f.token);
            }
        }
        let mut marks: HashMap<&str, i64> = HashMap::with_capacity(highest.len());
        for (campaign, token) in highest {
            marks.insert(campaign, raise_fence!($tx, campaign, token, $now));
        }
        let mut kept: Vec<usize> = Vec::with_capacity($todo.len());
        let mut stale: Vec<(usize, i64)> = Vec::new();
        for &i in $todo {
            match fence_of(i) {
                Some(f) if marks[f.campaign_id.as_str()] > f.token => {
                    stale.push((i, marks[f.campaign_id.as_str()]))
                }
                _ => kept.push(i),
            }
        }
        if !stale.is_empty() {
            let keys: Vec<String> = stale
                .iter()
                .map(|&(i, _)| $batch[i].idempotency_key.clone())
                .collect();
            let recorded: Vec<(String,)> = sqlx::query_as(sql!($D,
                "SELECT idempotency_key FROM contact_events WHERE idempotency_key " in_list(1)))
            .bind(List(&keys))
            .fetch_all(&mut *$tx)
            .await?;
            let recorded: HashSet<String> = recorded.into_iter().map(|(k,)| k).collect();
            stale.retain(|&(i, _)| !recorded.contains(&$batch[i].idempotency_key));
        }
        (kept, stale)
    }};
}

mod consumer;
mod debts;
#[macro_use]
mod money;
pub use consumer::AppliedPayment;
pub use debts::{
    MAX_INSTALLMENTS, PlanRecord, debt_summary, dispute_hold_id, dispute_holds, opening_event_id,
    plan_event_id, promise_event_id,
};
pub use money::{
    AgingPage, AgingTotals, CommitmentCounts, CommitmentLine, CommitmentPage, MAX_EVENT_BYTES,
    MAX_EVENTS_PER_IMPORT, MAX_PAGE_SIZE, ReportFilter, ReportLine, Statement, page_size,
};

/// The ledger's migrations (`migrations/ledger`), one file each for both dialects. The dialer's
/// (versions 1000 and up) may share the database; each side ignores the other's versions.
pub static MIGRATIONS: sqlstore::Migrations = sqlstore::migrations!("../../../migrations/ledger": "0001_ledger.sql", "0002_pre_dial_check.sql", "0003_money_events.sql", "0004_consumer_payments.sql", "0005_campaign_fences.sql");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid argument: {0}")]
    Invalid(#[from] ValidationError),
    #[error("{field} not found: {id}")]
    NotFound { field: &'static str, id: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Connecting, migrating, or an unsupported URL.
    #[error(transparent)]
    Open(#[from] sqlstore::OpenError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A consumer payment refused (the message names the field).
    #[error(transparent)]
    ConsumerPayment(#[from] receivables::ConsumerPaymentError),
    /// A money event of an import batch refused: its index in the batch, its id, and what
    /// is wrong, the field first (`amount_minor must be positive`).
    #[error("event {index} ({id}): {message}")]
    Refused {
        index: usize,
        id: String,
        message: String,
    },
    /// A command carried a campaign fence below the campaign's mark: a stale dialer
    /// replica's write (docs/ledger.md, "Campaign fences").
    #[error("{}", fence.refusal(*current))]
    Fenced { fence: Fence, current: i64 },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle on the ledger database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// Highest change seq committed by this process (watchers wake on it).
    head: Arc<watch::Sender<i64>>,
    /// The receivables book kept in memory, shared by the clones (see `money.rs`).
    money: Arc<money::KeptBook>,
    /// The ledger's "now" for dates it derives (an opening balance's load date, the date
    /// receivables summaries are as of): the server's clock once served, shared by clones.
    clock: Arc<std::sync::RwLock<crate::clock::Clock>>,
    /// What loads wrote since the account tables were last analyzed (see `bulk.rs`).
    loads: Arc<bulk::LoadStats>,
}

/// The writer lock (`Driver::WRITER_LOCK`) that serializes change-feed writers, so
/// `changes.seq` order is commit order.
const CHANGES_LOCK: i64 = 7142024;

macro_rules! event_cols {
    () => {
        "event_id, idempotency_key, account_id, person_id, debt_ids, number, direction, \
         channel, dial_mode, outcome, counts_for_regf, party, third_party_id, campaign_id, \
         agent_id, started_at, ring_ms, talk_ms, amd, recording_ref, disposition, recorded_at, \
         checked_seq"
    };
}

/// Takes the change lock in the transaction `$tx` (of driver `$D`). Writers also touch
/// `debt_activity` only under it: one lock order, no deadlock with concurrent ingest batches.
macro_rules! lock_changes {
    ($tx:ident, $D:ty) => {
        sqlx::query(<$D as Driver>::WRITER_LOCK)
            .bind(CHANGES_LOCK)
            .execute(&mut *$tx)
            .await?
    };
}

/// Appends one change (after taking the change lock) and returns its seq.
macro_rules! append_change {
    ($tx:ident, $D:ident, $kind:expr, $account:expr, $ref_id:expr, $payload:expr, $now:expr) => {{
        lock_changes!($tx, $D);
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO changes (kind, account_id, event_id, ref_id, payload, recorded_at) \
             VALUES ($1, $2, NULL, $3, $4, $5) RETURNING seq",
        )
        .bind(enum_name(&$kind))
        .bind($account)
        .bind($ref_id)
        .bind($payload)
        .bind($now)
        .fetch_one(&mut *$tx)
        .await?;
        seq
    }};
}

/// Appends a change whose payload is `$value` (after the change lock) and audits it with the
/// same JSON as detail; returns the change's seq.
macro_rules! audited_change {
    ($tx:ident, $D:ident, $now:expr, $actor:expr, $action:expr, $kind:expr, $account:expr,
     $ref_id:expr, $entity:expr, $entity_id:expr, $value:expr) => {{
        let value = json($value);
        let seq = append_change!($tx, $D, $kind, $account, $ref_id, Some(&value), $now);
        audit!(
            $tx, $now, $actor, $action, $entity, $entity_id, $account, &value
        );
        seq
    }};
}

macro_rules! audit {
    ($tx:ident, $now:expr, $actor:expr, $action:expr, $kind:expr, $id:expr, $account:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, entity_kind, entity_id, account_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($now)
        .bind($actor)
        .bind($action)
        .bind($kind)
        .bind($id)
        .bind($account)
        .bind($detail)
        .execute(&mut *$tx)
        .await?
    };
}

mod bulk;
pub use bulk::{DialingView, MAX_VIEW_ACCOUNTS, ViewPage};

fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn opt_us(t: Option<Timestamp>) -> Option<i64> {
    t.map(us)
}

fn ts(v: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(v).map_err(|e| StoreError::Corrupt(format!("instant {v}: {e}")))
}

fn opt_ts(v: Option<i64>) -> Result<Option<Timestamp>> {
    v.map(ts).transpose()
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    parse_enum(s).ok_or_else(|| StoreError::Corrupt(format!("{what} {s:?}")))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain types serialize")
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let d = h.finalize();
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Deterministic id of a hold given without one, so re-sending it is idempotent.
pub fn derived_hold_id(h: &Hold) -> String {
    format!(
        "h-{}",
        short_hash(&[
            &h.account_id,
            &enum_name(&h.kind),
            &h.debt_id,
            &h.number,
            &us(h.since).to_string(),
        ])
    )
}

#[derive(Debug, FromRow)]
struct AccountRow {
    account_id: String,
    creditor: String,
    known_zone: String,
    updated_at: i64,
}

#[derive(Debug, FromRow)]
struct PersonRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    person_id: String,
    full_name: String,
    role: String,
}

#[derive(Debug, FromRow)]
struct PhoneRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    person_id: String,
    number: String,
    kind: String,
    consent_automated: bool,
    consent_source: String,
    consent_at: Option<i64>,
    consent_revoked_at: Option<i64>,
    employer_prohibits: bool,
}

impl PhoneRow {
    fn into_phone(self) -> Result<Phone> {
        Ok(Phone {
            number: self.number,
            kind: parse("phone kind", &self.kind)?,
            consent_automated: self.consent_automated,
            consent_source: self.consent_source,
            consent_at: opt_ts(self.consent_at)?,
            consent_revoked_at: opt_ts(self.consent_revoked_at)?,
            employer_prohibits: self.employer_prohibits,
        })
    }
}

#[derive(Debug, FromRow)]
struct AddressRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    person_id: String,
    line1: String,
    city: String,
    zip: String,
    state: String,
    country: String,
    is_current: bool,
}

#[derive(Debug, FromRow)]
struct DebtRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    debt_id: String,
    balance_minor: i64,
    currency: String,
    days_past_due: i32,
    student_loan_group: String,
    original_creditor: String,
    last_activity_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
struct HoldRow {
    hold_id: String,
    account_id: String,
    kind: String,
    debt_id: String,
    number: String,
    since: i64,
    until: Option<i64>,
    set_by: String,
    reason: String,
}

impl HoldRow {
    fn into_hold(self) -> Result<Hold> {
        Ok(Hold {
            hold_id: self.hold_id,
            account_id: self.account_id,
            kind: parse("hold kind", &self.kind)?,
            debt_id: self.debt_id,
            number: self.number,
            since: ts(self.since)?,
            until: opt_ts(self.until)?,
            set_by: self.set_by,
            reason: self.reason,
        })
    }
}

#[derive(Debug, FromRow)]
struct BlackoutRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    days: String,
    from_time: String,
    to_time: String,
    since: Option<i64>,
    until: Option<i64>,
    number: String,
    place: String,
}

#[derive(Debug, FromRow)]
struct CallConsentRow {
    /// Selected by the batched reads only (grouping).
    #[sqlx(default)]
    account_id: String,
    debt_id: String,
    given_at: i64,
    days: i32,
    revoked_at: Option<i64>,
}

#[derive(Debug, FromRow)]
struct PromiseRow {
    promise_id: String,
    account_id: String,
    debt_id: String,
    amount_minor: i64,
    currency: String,
    due_date: String,
    status: String,
    outcome_key: String,
    set_by: String,
    created_at: i64,
    updated_at: i64,
}

impl PromiseRow {
    fn into_promise(self) -> Result<Promise> {
        Ok(Promise {
            promise_id: self.promise_id,
            account_id: self.account_id,
            debt_id: self.debt_id,
            amount_minor: self.amount_minor,
            currency: self.currency,
            due_date: self.due_date,
            status: parse("promise status", &self.status)?,
            outcome_key: self.outcome_key,
            set_by: self.set_by,
            created_at: Some(ts(self.created_at)?),
            updated_at: Some(ts(self.updated_at)?),
        })
    }
}

#[derive(Debug, FromRow)]
struct EventRow {
    event_id: i64,
    idempotency_key: String,
    account_id: String,
    person_id: String,
    debt_ids: String,
    number: String,
    direction: String,
    channel: String,
    dial_mode: String,
    outcome: String,
    counts_for_regf: bool,
    party: String,
    third_party_id: String,
    campaign_id: String,
    agent_id: String,
    started_at: i64,
    ring_ms: i64,
    talk_ms: i64,
    amd: String,
    recording_ref: String,
    disposition: String,
    recorded_at: i64,
    checked_seq: i64,
}

impl EventRow {
    fn into_outcome(self) -> Result<ContactOutcome> {
        Ok(ContactOutcome {
            idempotency_key: self.idempotency_key,
            account_id: self.account_id,
            person_id: self.person_id,
            debt_ids: serde_json::from_str(&self.debt_ids)
                .map_err(|e| StoreError::Corrupt(format!("debt_ids: {e}")))?,
            number: self.number,
            direction: parse("direction", &self.direction)?,
            channel: parse("channel", &self.channel)?,
            dial_mode: if self.dial_mode.is_empty() {
                None
            } else {
                Some(parse("dial mode", &self.dial_mode)?)
            },
            outcome: parse("outcome", &self.outcome)?,
            party: parse("party", &self.party)?,
            third_party_id: self.third_party_id,
            campaign_id: self.campaign_id,
            agent_id: self.agent_id,
            started_at: ts(self.started_at)?,
            ring_ms: self.ring_ms,
            talk_ms: self.talk_ms,
            amd: parse("amd", &self.amd)?,
            recording_ref: self.recording_ref,
            disposition: self.disposition,
            counts_for_regf: self.counts_for_regf,
            event_id: self.event_id,
            recorded_at: Some(ts(self.recorded_at)?),
            checked_seq: self.checked_seq,
        })
    }
}

#[derive(Debug, FromRow)]
struct ChangeRow {
    seq: i64,
    kind: String,
    account_id: String,
    event_id: Option<i64>,
    ref_id: String,
    payload: Option<String>,
    recorded_at: i64,
}

/// Column values of one new contact event, in insert order.
struct EventValues<'a> {
    o: &'a ContactOutcome,
    debt_ids: String,
    direction: String,
    channel: String,
    dial_mode: String,
    outcome: String,
    party: String,
    amd: String,
}

impl<'a> EventValues<'a> {
    fn new(o: &'a ContactOutcome) -> Self {
        Self {
            o,
            debt_ids: json(&o.debt_ids),
            direction: enum_name(&o.direction),
            channel: enum_name(&o.channel),
            dial_mode: o.dial_mode.map(|m| enum_name(&m)).unwrap_or_default(),
            outcome: enum_name(&o.outcome),
            party: enum_name(&o.party),
            amd: enum_name(&o.amd),
        }
    }
}

/// Per-debt aggregate of one ingest batch for the `debt_activity` projection.
#[derive(Debug, Default)]
struct Activity {
    account_id: String,
    last_at: i64,
    last_conversation_at: Option<i64>,
    attempts: i64,
    regf_attempts: i64,
    conversations: i64,
}

fn aggregate_activity<'a>(
    new: impl Iterator<Item = &'a ContactOutcome>,
) -> Vec<(String, Activity)> {
    let mut m: HashMap<&str, Activity> = HashMap::new();
    for o in new {
        let at = us(o.started_at);
        for d in &o.debt_ids {
            let a = m.entry(d.as_str()).or_insert_with(|| Activity {
                account_id: o.account_id.clone(),
                last_at: i64::MIN,
                ..Activity::default()
            });
            a.last_at = a.last_at.max(at);
            a.attempts += 1;
            if o.counts_for_regf {
                a.regf_attempts += 1;
            }
            if o.outcome == Outcome::Conversation {
                a.conversations += 1;
                a.last_conversation_at = Some(a.last_conversation_at.map_or(at, |c| c.max(at)));
            }
        }
    }
    let mut v: Vec<_> = m.into_iter().map(|(k, a)| (k.to_owned(), a)).collect();
    // One lock order for every writer.
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

const UPSERT_ACTIVITY_SQLITE: &str = "INSERT INTO debt_activity (debt_id, account_id, \
    last_activity_at, last_attempt_at, last_conversation_at, attempts, regf_attempts, conversations) \
    VALUES ($1, $2, $3, $3, $4, $5, $6, $7) \
    ON CONFLICT (debt_id) DO UPDATE SET \
    last_activity_at = max(debt_activity.last_activity_at, excluded.last_activity_at), \
    last_attempt_at = max(coalesce(debt_activity.last_attempt_at, excluded.last_attempt_at), \
                          coalesce(excluded.last_attempt_at, debt_activity.last_attempt_at)), \
    last_conversation_at = max(coalesce(debt_activity.last_conversation_at, excluded.last_conversation_at), \
                          coalesce(excluded.last_conversation_at, debt_activity.last_conversation_at)), \
    attempts = debt_activity.attempts + excluded.attempts, \
    regf_attempts = debt_activity.regf_attempts + excluded.regf_attempts, \
    conversations = debt_activity.conversations + excluded.conversations";

const UPSERT_ACTIVITY_PG: &str = "INSERT INTO debt_activity (debt_id, account_id, \
    last_activity_at, last_attempt_at, last_conversation_at, attempts, regf_attempts, conversations) \
    SELECT d, a, l, l, c, n, r, v FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], \
    $5::bigint[], $6::bigint[], $7::bigint[]) AS u(d, a, l, c, n, r, v) \
    ON CONFLICT (debt_id) DO UPDATE SET \
    last_activity_at = GREATEST(debt_activity.last_activity_at, excluded.last_activity_at), \
    last_attempt_at = GREATEST(debt_activity.last_attempt_at, excluded.last_attempt_at), \
    last_conversation_at = GREATEST(debt_activity.last_conversation_at, excluded.last_conversation_at), \
    attempts = debt_activity.attempts + excluded.attempts, \
    regf_attempts = debt_activity.regf_attempts + excluded.regf_attempts, \
    conversations = debt_activity.conversations + excluded.conversations";

/// Binds one contact event's 22 values to `INSERT_EVENT`, in its column order (one
/// place for the order, shared by the per-row ingest and the benchmark's naive baseline).
macro_rules! bind_event {
    ($query:expr, $o:expr, $v:expr, $counts:expr, $now:expr) => {
        $query
            .bind(&$o.idempotency_key)
            .bind(&$o.account_id)
            .bind(&$o.person_id)
            .bind(&$v.debt_ids)
            .bind(&$o.number)
            .bind(&$v.direction)
            .bind(&$v.channel)
            .bind(&$v.dial_mode)
            .bind(&$v.outcome)
            .bind($counts)
            .bind(&$v.party)
            .bind(&$o.third_party_id)
            .bind(&$o.campaign_id)
            .bind(&$o.agent_id)
            .bind(us($o.started_at))
            .bind($o.ring_ms)
            .bind($o.talk_ms)
            .bind(&$v.amd)
            .bind(&$o.recording_ref)
            .bind(&$o.disposition)
            .bind($o.checked_seq)
            .bind($now)
    };
}

const INSERT_EVENT: &str = "INSERT INTO contact_events (idempotency_key, account_id, \
    person_id, debt_ids, number, direction, channel, dial_mode, outcome, counts_for_regf, party, \
    third_party_id, campaign_id, agent_id, started_at, ring_ms, talk_ms, amd, recording_ref, \
    disposition, checked_seq, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
    $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) ON CONFLICT (idempotency_key) DO NOTHING \
    RETURNING event_id";

const INSERT_EVENTS_PG: &str = "INSERT INTO contact_events (idempotency_key, account_id, \
    person_id, debt_ids, number, direction, channel, dial_mode, outcome, counts_for_regf, party, \
    third_party_id, campaign_id, agent_id, started_at, ring_ms, talk_ms, amd, recording_ref, \
    disposition, checked_seq, recorded_at) \
    SELECT k, a, p, d, n, di, ch, dm, o, c, pa, tp, ca, ag, s, r, t, am, rr, ds, cs, $22 \
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
    $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[], $13::text[], \
    $14::text[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[], \
    $21::bigint[]) \
    AS u(k, a, p, d, n, di, ch, dm, o, c, pa, tp, ca, ag, s, r, t, am, rr, ds, cs) \
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING event_id, idempotency_key";

impl Store {
    /// Connects to `postgres://...` or `sqlite:...` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let size = PoolSize {
            postgres: 16,
            sqlite: 8,
        };
        let db = Db::open(url, size, &MIGRATIONS).await?;
        let mut store = Store {
            db,
            head: Arc::new(watch::channel(0).0),
            money: Arc::default(),
            clock: Arc::default(),
            loads: Arc::default(),
        };
        let head = store.max_seq().await?;
        store.head = Arc::new(watch::channel(head).0);
        Ok(store)
    }

    /// From now on the store (and every clone) reads dates from `clock`: the server's, so a
    /// ledger on a set clock derives its dates on that clock too.
    pub fn set_clock(&self, clock: crate::clock::Clock) {
        *self.clock.write().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    /// The ledger's today, in UTC.
    pub fn today(&self) -> jiff::civil::Date {
        let now = self.clock.read().unwrap_or_else(|e| e.into_inner()).now();
        now.to_zoned(jiff::tz::TimeZone::UTC).date()
    }

    /// `postgres` or `sqlite`.
    pub fn dialect(&self) -> &'static str {
        self.db.dialect().name()
    }

    pub async fn close(&self) {
        self.db.close().await
    }

    /// Receiver that changes whenever this process commits a change (watchers also poll, to
    /// see other replicas' commits).
    pub fn subscribe_head(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    fn bump(&self, seq: i64) {
        self.head.send_if_modified(|h| {
            if seq > *h {
                *h = seq;
                true
            } else {
                false
            }
        });
    }

    /// Highest committed change seq (0 when none).
    pub async fn max_seq(&self) -> Result<i64> {
        let (v,): (Option<i64>,) = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT max(seq) FROM changes").fetch_one(p).await?
        });
        Ok(v.unwrap_or(0))
    }

    pub async fn account_exists(&self, account_id: &str) -> Result<bool> {
        let row: Option<(String,)> = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT account_id FROM accounts WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.is_some())
    }

    /// NOT_FOUND (naming `field`) unless the account exists.
    async fn require_account(&self, account_id: &str, field: &'static str) -> Result<()> {
        if self.account_exists(account_id).await? {
            return Ok(());
        }
        Err(StoreError::NotFound {
            field,
            id: account_id.to_owned(),
        })
    }

    // ------------------------------------------------------------------ accounts

    /// The account with everything on it, or NOT_FOUND. Debts with money events carry the
    /// receivables ledger's balance, days past due and summary as of the ledger's today.
    pub async fn get_account(&self, account_id: &str) -> Result<Account> {
        let mut account: Account = with_pool!(self.db, p, D => {
            let row: Option<AccountRow> = sqlx::query_as(
                "SELECT account_id, creditor, known_zone, updated_at FROM accounts \
                 WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(p)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound { field: "account_id", id: account_id.to_owned() });
            };
            let persons: Vec<PersonRow> = sqlx::query_as(
                "SELECT person_id, full_name, role FROM persons WHERE account_id = $1 ORDER BY ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let phones: Vec<PhoneRow> = sqlx::query_as(
                "SELECT person_id, number, kind, consent_automated, consent_source, consent_at, \
                 consent_revoked_at, employer_prohibits FROM phones WHERE account_id = $1 \
                 ORDER BY person_id, ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let addresses: Vec<AddressRow> = sqlx::query_as(
                "SELECT person_id, line1, city, zip, state, country, is_current FROM addresses \
                 WHERE account_id = $1 ORDER BY person_id, ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let debts: Vec<DebtRow> = sqlx::query_as(
                "SELECT d.debt_id, d.balance_minor, d.currency, d.days_past_due, \
                 d.student_loan_group, d.original_creditor, a.last_activity_at \
                 FROM debts d LEFT JOIN debt_activity a ON a.debt_id = d.debt_id \
                 WHERE d.account_id = $1 ORDER BY d.ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let holds: Vec<HoldRow> = sqlx::query_as(
                "SELECT hold_id, account_id, kind, debt_id, number, since, until, set_by, reason \
                 FROM holds WHERE account_id = $1 ORDER BY since, hold_id",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let blackouts: Vec<BlackoutRow> = sqlx::query_as(
                "SELECT days, from_time, to_time, since, until, number, place FROM blackouts \
                 WHERE account_id = $1 ORDER BY ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            let consents: Vec<CallConsentRow> = sqlx::query_as(
                "SELECT debt_id, given_at, days, revoked_at FROM call_consents \
                 WHERE account_id = $1 ORDER BY ord",
            )
            .bind(account_id)
            .fetch_all(p)
            .await?;
            assemble_account(row, persons, phones, addresses, debts, holds, blackouts, consents)?
        });
        self.fill_receivables(&mut account).await?;
        Ok(account)
    }

    /// Ids of the accounts matching `f` with an id greater than `after` (the paging cursor),
    /// in id order, at most `limit`. Per-account aggregates are correlated subqueries on the
    /// debts and phones indexes, so a page costs what it returns (plus the rows the filter
    /// skips), not a scan of every debt.
    pub async fn list_accounts(
        &self,
        f: &AccountFilter,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>> {
        f.validate("filter")?;
        let rows: Vec<(String,)> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT a.account_id FROM accounts a WHERE a.account_id > $1 \
                 AND ($2 = '' OR a.creditor = $2) \
                 AND ($3 IS NULL OR (SELECT coalesce(sum(d.balance_minor), 0) FROM debts d \
                      WHERE d.account_id = a.account_id) >= $3) \
                 AND ($4 IS NULL OR (SELECT coalesce(sum(d.balance_minor), 0) FROM debts d \
                      WHERE d.account_id = a.account_id) <= $4) \
                 AND ($5 IS NULL OR (SELECT coalesce(max(d.days_past_due), 0) FROM debts d \
                      WHERE d.account_id = a.account_id) >= $5) \
                 AND ($6 IS NULL OR (SELECT coalesce(max(d.days_past_due), 0) FROM debts d \
                      WHERE d.account_id = a.account_id) <= $6) \
                 AND ($7 IS NULL OR EXISTS (SELECT 1 FROM phones ph \
                      WHERE ph.account_id = a.account_id) = $7) \
                 ORDER BY a.account_id LIMIT $8",
            )
            .bind(after)
            .bind(&f.creditor)
            .bind(f.min_balance_minor)
            .bind(f.max_balance_minor)
            .bind(f.min_days_past_due)
            .bind(f.max_days_past_due)
            .bind(f.has_phone)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    // ------------------------------------------------------------------ outcomes

    /// Applies a batch of (shape-validated) outcomes in one transaction; one ack per input, in
    /// input order. Keys already recorded, or repeated in the batch, ack as duplicates.
    pub async fn record_outcomes(&self, batch: &mut [ContactOutcome]) -> Result<Vec<AckKind>> {
        self.record_outcomes_fenced(batch, &[]).await
    }

    /// [`Store::record_outcomes`] with each outcome's campaign fence (`fences[i]` for
    /// `batch[i]`; missing or `None`: not fenced). A stale outcome (token below its
    /// campaign's mark, raised first by the batch's highest tokens) is REJECTED with
    /// FAILED_PRECONDITION unless its key is already recorded (then DUPLICATE); the rest of
    /// the batch is applied.
    pub async fn record_outcomes_fenced(
        &self,
        batch: &mut [ContactOutcome],
        fences: &[Option<Fence>],
    ) -> Result<Vec<AckKind>> {
        let mut acks: Vec<Option<AckKind>> = vec![None; batch.len()];
        // Repeats inside the batch: the first occurrence is applied, later ones follow it.
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut repeat_of: Vec<Option<usize>> = vec![None; batch.len()];
        for (i, o) in batch.iter().enumerate() {
            match first.get(&o.idempotency_key) {
                Some(&j) => repeat_of[i] = Some(j),
                None => {
                    first.insert(o.idempotency_key.clone(), i);
                }
            }
        }
        // Accounts and their debts.
        let accounts: Vec<String> = {
            let s: HashSet<&str> = batch.iter().map(|o| o.account_id.as_str()).collect();
            s.into_iter().map(str::to_owned).collect()
        };
        let rows: Vec<(String, Option<String>)> = with_pool!(self.db, p, D => {
            sqlx::query_as(sql!(D,
                "SELECT a.account_id, d.debt_id FROM accounts a \
                 LEFT JOIN debts d ON d.account_id = a.account_id WHERE a.account_id " in_list(1)))
            .bind(List(&accounts))
            .fetch_all(p)
            .await?
        });
        let mut debts: HashMap<String, HashSet<String>> = HashMap::new();
        for (a, d) in rows {
            let e = debts.entry(a).or_default();
            if let Some(d) = d {
                e.insert(d);
            }
        }
        let mut todo = Vec::new();
        for (i, o) in batch.iter_mut().enumerate() {
            if repeat_of[i].is_some() {
                continue;
            }
            let Some(ds) = debts.get(&o.account_id) else {
                acks[i] = Some(AckKind::Rejected {
                    code: "NOT_FOUND",
                    field: "account_id".into(),
                    message: "unknown account".into(),
                });
                continue;
            };
            if let Some((j, _)) = o
                .debt_ids
                .iter()
                .enumerate()
                .find(|(_, d)| !ds.contains(*d))
            {
                acks[i] = Some(AckKind::Rejected {
                    code: "INVALID_ARGUMENT",
                    field: format!("debt_ids[{j}]"),
                    message: "is not a debt of the account".into(),
                });
                continue;
            }
            o.counts_for_regf = o.compute_counts_for_regf();
            todo.push(i);
        }
        let now = us(Timestamp::now());
        let mut new_idx: Vec<usize> = Vec::new();
        let mut stale: Vec<(usize, i64)> = Vec::new();
        let mut max_seq = 0;
        if !todo.is_empty() {
            match &self.db {
                Db::Pg(p) => {
                    (new_idx, stale, max_seq) = ingest_pg(p, batch, &todo, fences, now).await?;
                }
                Db::Sqlite(p) => {
                    (new_idx, stale, max_seq) = ingest_sqlite(p, batch, &todo, fences, now).await?;
                }
            }
        }
        for &i in &todo {
            acks[i] = Some(AckKind::Duplicate);
        }
        for &i in &new_idx {
            acks[i] = Some(AckKind::Recorded);
        }
        for &(i, mark) in &stale {
            let fence = fences[i].as_ref().expect("a stale outcome has a fence");
            acks[i] = Some(AckKind::Rejected {
                code: "FAILED_PRECONDITION",
                field: FENCE_FIELD.into(),
                message: fence.refusal(mark),
            });
        }
        for i in 0..batch.len() {
            if let Some(j) = repeat_of[i] {
                acks[i] = Some(match &acks[j] {
                    Some(AckKind::Rejected { .. }) => acks[j].clone().expect("set"),
                    _ => AckKind::Duplicate,
                });
            }
        }
        self.bump(max_seq);
        Ok(acks
            .into_iter()
            .map(|a| a.expect("every outcome acked"))
            .collect())
    }

    /// Recorded outcomes in recording order.
    pub async fn list_outcomes(&self, f: &OutcomeFilter) -> Result<Vec<ContactOutcome>> {
        let rows: Vec<EventRow> = with_pool!(self.db, p, D => {
            sqlx::query_as(concat!(
                "SELECT ",
                event_cols!(),
                " FROM contact_events WHERE event_id > $1 AND ($2 = '' OR account_id = $2) \
                 AND ($3 = '' OR campaign_id = $3) AND ($4 = '' OR idempotency_key = $4) \
                 AND started_at >= $5 AND started_at < $6 \
                 AND ($7 = '' OR event_id IN \
                      (SELECT event_id FROM contact_event_debts WHERE debt_id = $7)) \
                 ORDER BY event_id LIMIT $8"
            ))
            .bind(f.after_event_id)
            .bind(&f.account_id)
            .bind(&f.campaign_id)
            .bind(&f.idempotency_key)
            .bind(f.since.map_or(i64::MIN, us))
            .bind(f.until.map_or(i64::MAX, us))
            .bind(&f.debt_id)
            .bind(i64::from(f.limit))
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(EventRow::into_outcome).collect()
    }

    /// Contacts of an account (optionally one person and/or debt) since an instant, with the
    /// account's holds, phones, preferences: what a compliance decision needs.
    pub async fn contact_history(
        &self,
        account_id: &str,
        person_id: &str,
        debt_id: &str,
        since: Option<Timestamp>,
    ) -> Result<ContactHistory> {
        let account = self.get_account(account_id).await?;
        if !person_id.is_empty() && !account.persons.iter().any(|p| p.person_id == person_id) {
            return Err(StoreError::NotFound {
                field: "person_id",
                id: person_id.to_owned(),
            });
        }
        if !debt_id.is_empty() && !account.debts.iter().any(|d| d.debt_id == debt_id) {
            return Err(StoreError::NotFound {
                field: "debt_id",
                id: debt_id.to_owned(),
            });
        }
        let rows: Vec<EventRow> = with_pool!(self.db, p, D => {
            sqlx::query_as(concat!(
                "SELECT ",
                event_cols!(),
                " FROM contact_events WHERE account_id = $1 AND started_at >= $2 \
                 AND ($3 = '' OR person_id = $3) \
                 AND ($4 = '' OR event_id IN \
                      (SELECT event_id FROM contact_event_debts WHERE debt_id = $4)) \
                 ORDER BY started_at, event_id"
            ))
            .bind(account_id)
            .bind(since.map_or(i64::MIN, us))
            .bind(person_id)
            .bind(debt_id)
            .fetch_all(p)
            .await?
        });
        let contacts = rows
            .into_iter()
            .map(EventRow::into_outcome)
            .collect::<Result<_>>()?;
        Ok(ContactHistory { contacts, account })
    }

    // ------------------------------------------------------------------ holds, consents, promises

    /// Sets (or releases, with `until`) a hold; idempotent by hold id.
    pub async fn set_hold(&self, h: Hold, actor: &str) -> Result<Hold> {
        self.set_hold_fenced(h, actor, None).await
    }

    /// [`Store::set_hold`] for a dialer replica holding `fence`: a replay of a hold already
    /// set as asked returns it whatever the token; a change under a stale token is
    /// [`StoreError::Fenced`].
    pub async fn set_hold_fenced(
        &self,
        mut h: Hold,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<Hold> {
        h.validate()?;
        if h.hold_id.is_empty() {
            h.hold_id = derived_hold_id(&h);
        }
        if h.set_by.is_empty() {
            h.set_by = actor.to_owned();
        }
        self.require_account(&h.account_id, "hold.account_id")
            .await?;
        let now = us(Timestamp::now());
        let (hold, seq) = write_tx!(self.db, tx, D => {
            let existing: Option<HoldRow> = sqlx::query_as(
                "SELECT hold_id, account_id, kind, debt_id, number, since, until, set_by, reason \
                 FROM holds WHERE hold_id = $1",
            )
            .bind(&h.hold_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(e) = existing.clone() {
                let e = e.into_hold()?;
                if e.account_id != h.account_id || e.kind != h.kind || e.debt_id != h.debt_id
                    || e.number != h.number || e.since != h.since
                {
                    return Err(ValidationError::new(
                        "hold.hold_id",
                        "names an existing hold with other account, kind, debt, number or since",
                    )
                    .into());
                }
                if e.until == h.until && e.reason == h.reason {
                    return Ok(e);
                }
            }
            pass_fence!(tx, fence, now);
            if existing.is_some() {
                sqlx::query(
                    "UPDATE holds SET until = $2, reason = $3, set_by = $4, updated_at = $5 \
                     WHERE hold_id = $1",
                )
                .bind(&h.hold_id)
                .bind(opt_us(h.until))
                .bind(&h.reason)
                .bind(&h.set_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO holds (hold_id, account_id, kind, debt_id, number, since, until, \
                     set_by, reason, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(&h.hold_id)
                .bind(&h.account_id)
                .bind(enum_name(&h.kind))
                .bind(&h.debt_id)
                .bind(&h.number)
                .bind(us(h.since))
                .bind(opt_us(h.until))
                .bind(&h.set_by)
                .bind(&h.reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let seq = audited_change!(tx, D, now, actor, "set_hold", ChangeKind::Hold,
                &h.account_id, &h.hold_id, "hold", &h.hold_id, &h);
            tx.commit().await?;
            (h, seq)
        });
        self.bump(seq);
        Ok(hold)
    }

    /// Records consent to automated calls on a phone, or its revocation; idempotent.
    pub async fn set_consent(&self, c: ConsentUpdate, actor: &str) -> Result<Phone> {
        self.set_consent_fenced(c, actor, None).await
    }

    /// [`Store::set_consent`] for a dialer replica holding `fence` (a change that changes
    /// nothing returns the phone whatever the token).
    pub async fn set_consent_fenced(
        &self,
        c: ConsentUpdate,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<Phone> {
        c.validate()?;
        self.require_account(&c.account_id, "account_id").await?;
        let now = us(Timestamp::now());
        let set_by = if c.set_by.is_empty() {
            actor.to_owned()
        } else {
            c.set_by.clone()
        };
        let (phone, seq) = write_tx!(self.db, tx, D => {
            let row: Option<PhoneRow> = sqlx::query_as(
                "SELECT person_id, number, kind, consent_automated, consent_source, consent_at, \
                 consent_revoked_at, employer_prohibits FROM phones \
                 WHERE account_id = $1 AND person_id = $2 AND number = $3",
            )
            .bind(&c.account_id)
            .bind(&c.person_id)
            .bind(&c.number)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound {
                    field: "number",
                    id: ledger_api::redact::phone(&c.number),
                });
            };
            let old = row.into_phone()?;
            let mut new = old.clone();
            if c.consent {
                new.consent_automated = true;
                new.consent_source.clone_from(&c.source);
                new.consent_at = Some(c.at);
                new.consent_revoked_at = None;
            } else {
                new.consent_revoked_at = Some(c.at);
                if !c.source.is_empty() {
                    new.consent_source.clone_from(&c.source);
                }
            }
            if new == old {
                return Ok(old);
            }
            pass_fence!(tx, fence, now);
            sqlx::query(
                "UPDATE phones SET consent_automated = $4, consent_source = $5, consent_at = $6, \
                 consent_revoked_at = $7 WHERE account_id = $1 AND person_id = $2 AND number = $3",
            )
            .bind(&c.account_id)
            .bind(&c.person_id)
            .bind(&c.number)
            .bind(new.consent_automated)
            .bind(&new.consent_source)
            .bind(opt_us(new.consent_at))
            .bind(opt_us(new.consent_revoked_at))
            .execute(&mut *tx)
            .await?;
            let change = ConsentChange {
                account_id: c.account_id.clone(),
                person_id: c.person_id.clone(),
                phone: new.clone(),
                set_by: set_by.clone(),
            };
            let action = if c.consent { "give_consent" } else { "revoke_consent" };
            let seq = audited_change!(tx, D, now, actor, action, ChangeKind::Consent,
                &c.account_id, &c.number, "phone", format!("{}/{}", c.person_id, c.number), &change);
            tx.commit().await?;
            (new, seq)
        });
        self.bump(seq);
        Ok(phone)
    }

    /// Records a promise to pay, or changes the status of a known one; idempotent. A promise
    /// a disposition made (`outcome_key` set) is also a receivables `promise` event
    /// (`outcome:<key>:promise`), imported right after (again on a resend, as a duplicate).
    pub async fn record_promise(&self, pr: Promise, actor: &str) -> Result<Promise> {
        self.record_promise_fenced(pr, actor, None).await
    }

    /// [`Store::record_promise`] for a dialer replica holding `fence` (a replay of a known
    /// promise in its status returns it whatever the token).
    pub async fn record_promise_fenced(
        &self,
        pr: Promise,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<Promise> {
        let stored = self.record_promise_row(pr, actor, fence).await?;
        self.import_promise_event(&stored, actor).await?;
        Ok(stored)
    }

    /// The promise part of [`Store::record_promise`]: one transaction.
    async fn record_promise_row(
        &self,
        mut pr: Promise,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<Promise> {
        pr.validate()?;
        if pr.promise_id.is_empty() {
            pr.promise_id = format!("p-{}", uuid::Uuid::new_v4());
        }
        if pr.set_by.is_empty() {
            pr.set_by = actor.to_owned();
        }
        self.require_account(&pr.account_id, "promise.account_id")
            .await?;
        let now = us(Timestamp::now());
        let (promise, seq) = write_tx!(self.db, tx, D => {
            let debt: Option<(String,)> =
                sqlx::query_as("SELECT debt_id FROM debts WHERE debt_id = $1 AND account_id = $2")
                    .bind(&pr.debt_id)
                    .bind(&pr.account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if debt.is_none() {
                return Err(ValidationError::new("promise.debt_id", "is not a debt of the account").into());
            }
            let existing: Option<PromiseRow> = sqlx::query_as(
                "SELECT promise_id, account_id, debt_id, amount_minor, currency, due_date, status, \
                 outcome_key, set_by, created_at, updated_at FROM promises WHERE promise_id = $1",
            )
            .bind(&pr.promise_id)
            .fetch_optional(&mut *tx)
            .await?;
            let stored = if let Some(e) = existing {
                let mut e = e.into_promise()?;
                if e.account_id != pr.account_id || e.debt_id != pr.debt_id {
                    return Err(ValidationError::new(
                        "promise.promise_id",
                        "names a promise of another account or debt",
                    )
                    .into());
                }
                if e.status == pr.status {
                    return Ok(e);
                }
                pass_fence!(tx, fence, now);
                sqlx::query(
                    "UPDATE promises SET status = $2, set_by = $3, updated_at = $4 WHERE promise_id = $1",
                )
                .bind(&pr.promise_id)
                .bind(enum_name(&pr.status))
                .bind(&pr.set_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                e.status = pr.status;
                e.set_by.clone_from(&pr.set_by);
                e.updated_at = Some(ts(now)?);
                e
            } else {
                pass_fence!(tx, fence, now);
                sqlx::query(
                    "INSERT INTO promises (promise_id, account_id, debt_id, amount_minor, currency, \
                     due_date, status, outcome_key, set_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(&pr.promise_id)
                .bind(&pr.account_id)
                .bind(&pr.debt_id)
                .bind(pr.amount_minor)
                .bind(&pr.currency)
                .bind(&pr.due_date)
                .bind(enum_name(&pr.status))
                .bind(&pr.outcome_key)
                .bind(&pr.set_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                pr.created_at = Some(ts(now)?);
                pr.updated_at = pr.created_at;
                pr
            };
            // The change first: it takes the change lock, under which debt_activity is written.
            let seq = audited_change!(tx, D, now, actor, "record_promise", ChangeKind::Promise,
                &stored.account_id, &stored.promise_id, "promise", &stored.promise_id, &stored);
            sqlx::query(
                "UPDATE debt_activity SET last_activity_at = $2 \
                 WHERE debt_id = $1 AND last_activity_at < $2",
            )
            .bind(&stored.debt_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            (stored, seq)
        });
        self.bump(seq);
        Ok(promise)
    }

    pub async fn list_promises(&self, account_id: &str, debt_id: &str) -> Result<Vec<Promise>> {
        self.require_account(account_id, "account_id").await?;
        let rows: Vec<PromiseRow> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT promise_id, account_id, debt_id, amount_minor, currency, due_date, status, \
                 outcome_key, set_by, created_at, updated_at FROM promises \
                 WHERE account_id = $1 AND ($2 = '' OR debt_id = $2) ORDER BY created_at, promise_id",
            )
            .bind(account_id)
            .bind(debt_id)
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(PromiseRow::into_promise).collect()
    }

    // ------------------------------------------------------------------ change feed

    /// Up to `limit` changes after `after_seq`, in seq order.
    pub async fn changes_after(
        &self,
        after_seq: i64,
        account_id: &str,
        limit: u32,
    ) -> Result<Vec<Change>> {
        let rows: Vec<ChangeRow> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT seq, kind, account_id, event_id, ref_id, payload, recorded_at FROM changes \
                 WHERE seq > $1 AND ($2 = '' OR account_id = $2) ORDER BY seq LIMIT $3",
            )
            .bind(after_seq)
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        let ids: Vec<i64> = rows.iter().filter_map(|r| r.event_id).collect();
        let mut events: HashMap<i64, ContactOutcome> = HashMap::new();
        if !ids.is_empty() {
            let evs: Vec<EventRow> = with_pool!(self.db, p, D => {
                sqlx::query_as(sql!(D,
                    "SELECT " event_cols!() " FROM contact_events WHERE event_id " in_list(1)))
                .bind(List(&ids))
                .fetch_all(p)
                .await?
            });
            for e in evs {
                let o = e.into_outcome()?;
                events.insert(o.event_id, o);
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: ChangeKind = parse("change kind", &r.kind)?;
            let payload_json = || {
                r.payload
                    .as_deref()
                    .ok_or_else(|| StoreError::Corrupt(format!("change {} without payload", r.seq)))
            };
            let de = |s: &str| -> Result<serde_json::Value> {
                serde_json::from_str(s)
                    .map_err(|e| StoreError::Corrupt(format!("change {}: {e}", r.seq)))
            };
            let payload = match kind {
                ChangeKind::Outcome => {
                    let id = r.event_id.unwrap_or_default();
                    match events.remove(&id) {
                        Some(o) => ChangePayload::Outcome(Box::new(o)),
                        // Purged by retention: the feed skips it.
                        None => continue,
                    }
                }
                ChangeKind::Hold => ChangePayload::Hold(
                    serde_json::from_value(de(payload_json()?)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
                ChangeKind::Consent => ChangePayload::Consent(
                    serde_json::from_value(de(payload_json()?)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
                ChangeKind::Promise => ChangePayload::Promise(
                    serde_json::from_value(de(payload_json()?)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
                ChangeKind::Account => ChangePayload::Account(r.ref_id.clone()),
                ChangeKind::Receivables => ChangePayload::Receivables(
                    serde_json::from_value(de(payload_json()?)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ),
            };
            out.push(Change {
                seq: r.seq,
                kind,
                account_id: r.account_id,
                recorded_at: ts(r.recorded_at)?,
                payload,
            });
        }
        Ok(out)
    }

    /// The pre-dial check: every change of `cursors`' accounts after each one's seq, up to
    /// the head of the feed read first (so every change committed before the call is
    /// reported: seq order is commit order). Outcome changes carry their idempotency key, so
    /// a dialer can tell its own outcomes from news. At most `limit` changes: past it,
    /// `as_of_seq` stops at the last one reported, which keeps the promise.
    pub async fn check_accounts(
        &self,
        cursors: &[(String, i64)],
        limit: u32,
    ) -> Result<AccountCheck> {
        let head = self.max_seq().await?;
        let Some(min_after) = cursors.iter().map(|c| c.1).min() else {
            return Ok(AccountCheck {
                as_of_seq: head,
                changes: Vec::new(),
            });
        };
        let ids: Vec<&str> = cursors.iter().map(|c| c.0.as_str()).collect();
        // Changes of the accounts with `$2 < seq <= $3`, at most `$4`, in seq order, with an
        // outcome's idempotency key as its ref.
        let rows: Vec<(i64, String, String, String)> = with_pool!(self.db, p, D => {
            sqlx::query_as(sql!(D,
                "SELECT c.seq, c.kind, c.account_id, COALESCE(e.idempotency_key, c.ref_id) \
                 FROM changes c LEFT JOIN contact_events e ON e.event_id = c.event_id \
                 WHERE c.account_id " in_list(1) " AND c.seq > $2 AND c.seq <= $3 \
                 ORDER BY c.seq LIMIT $4"))
            .bind(List(&ids))
            .bind(min_after)
            .bind(head)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        let as_of_seq = if rows.len() as u64 >= u64::from(limit) {
            rows.last().map_or(head, |r| r.0)
        } else {
            head
        };
        let after: HashMap<&str, i64> = cursors.iter().map(|c| (c.0.as_str(), c.1)).collect();
        let mut changes = Vec::with_capacity(rows.len());
        for (seq, kind, account_id, ref_id) in rows {
            if seq > as_of_seq || after.get(account_id.as_str()).is_some_and(|&a| seq <= a) {
                continue;
            }
            changes.push(ChangeRef {
                seq,
                kind: parse("change kind", &kind)?,
                account_id,
                ref_id,
            });
        }
        Ok(AccountCheck { as_of_seq, changes })
    }

    // ------------------------------------------------------------------ retention

    /// Deletes contact events all of whose debts had their last activity before `cutoff`
    /// (with their debt links and feed entries). Returns the number of events deleted.
    pub async fn purge_before(&self, cutoff: Timestamp) -> Result<u64> {
        let cutoff = us(cutoff);
        let n = write_tx!(self.db, tx, D => {
            let n = sqlx::query(
                "DELETE FROM contact_events WHERE event_id IN ( \
                   SELECT l.event_id FROM contact_event_debts l \
                   JOIN debt_activity a ON a.debt_id = l.debt_id \
                   GROUP BY l.event_id HAVING max(a.last_activity_at) < $1)",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM contact_event_debts WHERE NOT EXISTS \
                 (SELECT 1 FROM contact_events e WHERE e.event_id = contact_event_debts.event_id)",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM changes WHERE event_id IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM contact_events e WHERE e.event_id = changes.event_id)",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// Naive ingest for the benchmark's baseline: one row, one transaction, no batching.
    pub async fn record_outcome_naive(&self, o: &ContactOutcome) -> Result<bool> {
        let now = us(Timestamp::now());
        let v = EventValues::new(o);
        let new = write_tx!(self.db, tx, D => {
            let id: Option<(i64,)> = bind_event!(
                sqlx::query_as(INSERT_EVENT),
                o,
                v,
                o.compute_counts_for_regf(),
                now
            )
            .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            id.is_some()
        });
        Ok(new)
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble_account(
    row: AccountRow,
    persons: Vec<PersonRow>,
    phones: Vec<PhoneRow>,
    addresses: Vec<AddressRow>,
    debts: Vec<DebtRow>,
    holds: Vec<HoldRow>,
    blackouts: Vec<BlackoutRow>,
    consents: Vec<CallConsentRow>,
) -> Result<Account> {
    let mut by_person: HashMap<String, Person> = HashMap::new();
    let mut order = Vec::new();
    for p in persons {
        order.push(p.person_id.clone());
        by_person.insert(
            p.person_id.clone(),
            Person {
                person_id: p.person_id,
                full_name: p.full_name,
                role: parse("person role", &p.role)?,
                phones: Vec::new(),
                addresses: Vec::new(),
            },
        );
    }
    for ph in phones {
        let pid = ph.person_id.clone();
        if let Some(p) = by_person.get_mut(&pid) {
            p.phones.push(ph.into_phone()?);
        }
    }
    for a in addresses {
        if let Some(p) = by_person.get_mut(&a.person_id) {
            p.addresses.push(Address {
                line1: a.line1,
                city: a.city,
                zip: a.zip,
                state: a.state,
                country: a.country,
                current: a.is_current,
            });
        }
    }
    Ok(Account {
        account_id: row.account_id,
        creditor: row.creditor,
        known_zone: row.known_zone,
        persons: order
            .into_iter()
            .filter_map(|id| by_person.remove(&id))
            .collect(),
        debts: debts
            .into_iter()
            .map(|d| {
                Ok(Debt {
                    debt_id: d.debt_id,
                    balance_minor: d.balance_minor,
                    currency: d.currency,
                    days_past_due: d.days_past_due,
                    student_loan_group: d.student_loan_group,
                    original_creditor: d.original_creditor,
                    last_activity_at: opt_ts(d.last_activity_at)?,
                    receivables: None,
                })
            })
            .collect::<Result<_>>()?,
        holds: holds
            .into_iter()
            .map(HoldRow::into_hold)
            .collect::<Result<_>>()?,
        blackouts: blackouts
            .into_iter()
            .map(|b| {
                Ok(Blackout {
                    days: b
                        .days
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| parse("day", s))
                        .collect::<Result<_>>()?,
                    from: b.from_time,
                    to: b.to_time,
                    since: opt_ts(b.since)?,
                    until: opt_ts(b.until)?,
                    number: b.number,
                    place: if b.place.is_empty() {
                        None
                    } else {
                        Some(parse("place", &b.place)?)
                    },
                })
            })
            .collect::<Result<_>>()?,
        call_consents: consents
            .into_iter()
            .map(|c| {
                Ok(CallConsent {
                    debt_id: c.debt_id,
                    given_at: ts(c.given_at)?,
                    days: c.days.max(0) as u32,
                    revoked_at: opt_ts(c.revoked_at)?,
                })
            })
            .collect::<Result<_>>()?,
        updated_at: Some(ts(row.updated_at)?),
    })
}

/// Postgres batch: one `INSERT .. SELECT FROM UNNEST` per table, one transaction.
/// Returns the indices (into `batch`) that were new, and the highest change seq written.
async fn ingest_pg(
    p: &PgPool,
    batch: &[ContactOutcome],
    todo: &[usize],
    fences: &[Option<Fence>],
    now: i64,
) -> Result<(Vec<usize>, Vec<(usize, i64)>, i64)> {
    let mut tx = p.begin().await?;
    let (mut todo, stale) = fence_batch!(tx, sqlx::Postgres, batch, todo, fences, now);
    // Insert in key order: concurrent batches carrying the same keys (a resend racing the
    // original) then take index locks in one order and cannot deadlock.
    todo.sort_unstable_by(|&a, &b| batch[a].idempotency_key.cmp(&batch[b].idempotency_key));
    let todo = &todo[..];
    let vals: Vec<EventValues<'_>> = todo.iter().map(|&i| EventValues::new(&batch[i])).collect();
    macro_rules! col {
        ($e:expr) => {
            vals.iter().map($e).collect::<Vec<_>>()
        };
    }
    let inserted: Vec<(i64, String)> = sqlx::query_as(INSERT_EVENTS_PG)
        .bind(col!(|v| v.o.idempotency_key.as_str()))
        .bind(col!(|v| v.o.account_id.as_str()))
        .bind(col!(|v| v.o.person_id.as_str()))
        .bind(col!(|v| v.debt_ids.as_str()))
        .bind(col!(|v| v.o.number.as_str()))
        .bind(col!(|v| v.direction.as_str()))
        .bind(col!(|v| v.channel.as_str()))
        .bind(col!(|v| v.dial_mode.as_str()))
        .bind(col!(|v| v.outcome.as_str()))
        .bind(col!(|v| v.o.counts_for_regf))
        .bind(col!(|v| v.party.as_str()))
        .bind(col!(|v| v.o.third_party_id.as_str()))
        .bind(col!(|v| v.o.campaign_id.as_str()))
        .bind(col!(|v| v.o.agent_id.as_str()))
        .bind(col!(|v| us(v.o.started_at)))
        .bind(col!(|v| v.o.ring_ms))
        .bind(col!(|v| v.o.talk_ms))
        .bind(col!(|v| v.amd.as_str()))
        .bind(col!(|v| v.o.recording_ref.as_str()))
        .bind(col!(|v| v.o.disposition.as_str()))
        .bind(col!(|v| v.o.checked_seq))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    if inserted.is_empty() {
        tx.commit().await?;
        return Ok((Vec::new(), stale, 0));
    }
    let pos: HashMap<&str, usize> = todo
        .iter()
        .map(|&i| (batch[i].idempotency_key.as_str(), i))
        .collect();
    let mut new: Vec<(i64, usize)> = inserted
        .iter()
        .map(|(id, k)| (*id, pos[k.as_str()]))
        .collect();
    new.sort_unstable();
    let (mut l_debt, mut l_at, mut l_ev) = (Vec::new(), Vec::new(), Vec::new());
    for &(id, i) in &new {
        for d in &batch[i].debt_ids {
            l_debt.push(d.as_str());
            l_at.push(us(batch[i].started_at));
            l_ev.push(id);
        }
    }
    sqlx::query(
        "INSERT INTO contact_event_debts (debt_id, started_at, event_id) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(&l_debt)
    .bind(&l_at)
    .bind(&l_ev)
    .execute(&mut *tx)
    .await?;
    let act = aggregate_activity(new.iter().map(|&(_, i)| &batch[i]));
    lock_changes!(tx, sqlx::Postgres);
    sqlx::query(UPSERT_ACTIVITY_PG)
        .bind(act.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
        .bind(
            act.iter()
                .map(|(_, a)| a.account_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(act.iter().map(|(_, a)| a.last_at).collect::<Vec<_>>())
        .bind(
            act.iter()
                .map(|(_, a)| a.last_conversation_at)
                .collect::<Vec<_>>(),
        )
        .bind(act.iter().map(|(_, a)| a.attempts).collect::<Vec<_>>())
        .bind(act.iter().map(|(_, a)| a.regf_attempts).collect::<Vec<_>>())
        .bind(act.iter().map(|(_, a)| a.conversations).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    let (max_seq,): (Option<i64>,) = sqlx::query_as(
        "WITH ins AS (INSERT INTO changes (kind, account_id, event_id, ref_id, payload, recorded_at) \
         SELECT 'outcome', a, e, e::text, NULL, $3 FROM UNNEST($1::text[], $2::bigint[]) AS u(a, e) \
         ORDER BY u.e RETURNING seq) SELECT max(seq) FROM ins",
    )
    .bind(
        new.iter()
            .map(|&(_, i)| batch[i].account_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(new.iter().map(|&(id, _)| id).collect::<Vec<_>>())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((
        new.into_iter().map(|(_, i)| i).collect(),
        stale,
        max_seq.unwrap_or(0),
    ))
}

/// SQLite batch: prepared single-row statements in one `BEGIN IMMEDIATE` transaction (SQLite
/// has no array binding; statements are cached so this is fast in-process).
async fn ingest_sqlite(
    p: &SqlitePool,
    batch: &[ContactOutcome],
    todo: &[usize],
    fences: &[Option<Fence>],
    now: i64,
) -> Result<(Vec<usize>, Vec<(usize, i64)>, i64)> {
    let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
    let (todo, stale) = fence_batch!(tx, sqlx::Sqlite, batch, todo, fences, now);
    let mut new = Vec::new();
    let mut max_seq = 0;
    for &i in &todo {
        let o = &batch[i];
        let v = EventValues::new(o);
        let id: Option<(i64,)> =
            bind_event!(sqlx::query_as(INSERT_EVENT), o, v, o.counts_for_regf, now)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id,)) = id else { continue };
        for d in &o.debt_ids {
            sqlx::query(
                "INSERT INTO contact_event_debts (debt_id, started_at, event_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(d)
            .bind(us(o.started_at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO changes (kind, account_id, event_id, ref_id, payload, recorded_at) \
             VALUES ('outcome', $1, $2, $3, NULL, $4) RETURNING seq",
        )
        .bind(&o.account_id)
        .bind(id)
        .bind(id.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        max_seq = seq;
        new.push(i);
    }
    for (d, a) in aggregate_activity(new.iter().map(|&i| &batch[i])) {
        sqlx::query(UPSERT_ACTIVITY_SQLITE)
            .bind(&d)
            .bind(&a.account_id)
            .bind(a.last_at)
            .bind(a.last_conversation_at)
            .bind(a.attempts)
            .bind(a.regf_attempts)
            .bind(a.conversations)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok((new, stale, max_seq))
}
