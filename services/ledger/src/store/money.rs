//! The receivables money events of issue 12 in the ledger's database: an append-only table
//! (`money_events`, migration 0003), the one import path every producer goes through
//! (the `ReceivablesService.ImportMoneyEvents` RPC, and the embedded ledger of
//! `dialerctl ledger replay`), and the book the reports read, kept in memory.
//!
//! The store checks nothing itself: a batch is checked by `receivables::Book` (the pure
//! engine) against the events of the accounts it touches, inside the transaction that
//! writes it, so `ledgerd` refuses exactly what the engine refuses, with the same messages.
//! Reports derive from the book; nothing derived is stored, so a report as of any past date
//! is reproducible.
//!
//! **The kept book.** The whole book is loaded once (lazily) from the table and kept in the
//! store, shared by every request. It remembers the highest `seq` it holds; before each
//! report, statement and import it catches up with the rows after that seq (one query on
//! the primary key), so a replica never serves a book older than what was committed before
//! the request started, whoever committed it (another process, another replica). A
//! committed import is added right after its commit. Imports are serialised by the writer
//! lock and take their seqs under it, so rows commit in seq order and "the rows after seq"
//! never skips a row that commits later.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use ledger_api::domain::{ChangeKind, MoneyEventChange, enum_name};
use receivables::{
    AccountLine, AccountState, Aging, Book, Bucket, ConsumerPayment, Event, EventError, EventKind,
    ImportSummary, Kpi, PlanStatus, PromiseStatus, Report, SettlementStatus, limitations,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlstore::{Driver, List, sql, with_pool, write_tx};
use tokio::sync::{Mutex, RwLock, RwLockReadGuard};

use super::consumer::{self, AppliedPayment};
use super::{Result, Store, StoreError, us};
use ledger_api::domain::Fence;

/// The writer lock (`Driver::WRITER_LOCK`) that makes imports one at a time: a batch is
/// checked against the stored events, so two batches touching the same account must not
/// both check before either writes.
pub(super) const MONEY_LOCK: i64 = 7142025;

/// Most events one import takes (one transaction, all-or-nothing). The engine holds the
/// batch and the touched accounts' events in memory while checking.
pub const MAX_EVENTS_PER_IMPORT: usize = 1_000_000;

/// Largest JSON text of one event, in bytes (a plan of a few hundred installments fits).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// One account's events and its derived state as of a date: what a statement shows.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The account's events in arrival order (all of them; `state` sees those dated <= D).
    pub account: receivables::Account,
    pub state: AccountState,
}

/// The rows after the kept book's seq, a page at a time (so loading a large book never holds
/// all its rows' text at once).
pub(super) const CATCH_UP: &str = "SELECT seq, event_id, account_id, body FROM money_events WHERE seq > $1 \
                        ORDER BY seq LIMIT $2";

/// Rows per catch-up query.
pub(super) const CATCH_UP_ROWS: i64 = 100_000;

/// Most rows one INSERT statement writes.
const INSERT_CHUNK: usize = 10_000;

/// Catches the kept book up with what others committed, in the transaction `$tx` of an
/// import that holds the money lock (nobody else writes money events then; on an in-memory
/// SQLite that transaction holds the one connection, so it reads through it).
macro_rules! catch_up_in_tx {
    ($store:expr, $tx:ident) => {
        loop {
            let rows: Vec<$crate::store::money::MoneyRow> =
                sqlx::query_as($crate::store::money::CATCH_UP)
                    .bind($store.money.seq().await)
                    .bind($crate::store::money::CATCH_UP_ROWS)
                    .fetch_all(&mut *$tx)
                    .await?;
            let more = rows.len() as i64 == $crate::store::money::CATCH_UP_ROWS;
            $store.money.apply(rows).await?;
            if !more {
                break;
            }
        }
    };
}

/// Inserts an import's [`NewRows`] in the transaction `$tx` (driver `$D`), in batch order so
/// `seq` is the arrival order. PostgreSQL: arrays through UNNEST; SQLite: one JSON array of
/// rows through json_each. Chunked so no statement carries more than [`INSERT_CHUNK`] rows.
macro_rules! insert_money_rows {
    ($tx:ident, $D:ident, $rows:expr, $now:expr) => {
        for chunk in $rows.chunks() {
            match <$D as sqlstore::Driver>::DIALECT {
                sqlstore::Dialect::Postgres => {
                    sqlx::query(
                        "INSERT INTO money_events \
                         (event_id, account_id, event_date, body, content_hash, recorded_at) \
                         SELECT i, a, d, b, h, $6 FROM UNNEST($1::text[], $2::text[], \
                         $3::text[], $4::text[], $5::text[]) WITH ORDINALITY \
                         AS u(i, a, d, b, h, n) ORDER BY n",
                    )
                    .bind(sqlstore::List(chunk.ids))
                    .bind(sqlstore::List(chunk.accounts))
                    .bind(sqlstore::List(chunk.dates))
                    .bind(sqlstore::List(chunk.bodies))
                    .bind(sqlstore::List(chunk.hashes))
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                }
                sqlstore::Dialect::Sqlite => {
                    // One JSON array of rows, not multi-row VALUES: SQLite looks up
                    // each numbered parameter `$N` by name, so a statement of thousands
                    // of them is quadratic (measured: 1,658 events/s).
                    sqlx::query(
                        "INSERT INTO money_events \
                         (event_id, account_id, event_date, body, content_hash, recorded_at) \
                         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
                         value ->> 4, $2 FROM json_each($1) ORDER BY key",
                    )
                    .bind(chunk.sqlite_json()?)
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                }
            }
        }
    };
}

/// The columns of the new rows of an import, in batch order.
#[derive(Debug, Default)]
pub(super) struct NewRows {
    ids: Vec<String>,
    accounts: Vec<String>,
    dates: Vec<String>,
    bodies: Vec<String>,
    hashes: Vec<String>,
}

/// [`INSERT_CHUNK`] rows of [`NewRows`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Chunk<'a> {
    pub(super) ids: &'a [String],
    pub(super) accounts: &'a [String],
    pub(super) dates: &'a [String],
    pub(super) bodies: &'a [String],
    pub(super) hashes: &'a [String],
}

impl NewRows {
    pub(super) fn push(&mut self, event: &Event, body: String) {
        self.ids.push(event.id.clone());
        self.accounts.push(event.account.clone());
        self.dates.push(event.date.to_string());
        self.hashes.push(content_hash(&body));
        self.bodies.push(body);
    }

    pub(super) fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> {
        self.ids
            .chunks(INSERT_CHUNK)
            .zip(self.accounts.chunks(INSERT_CHUNK))
            .zip(self.dates.chunks(INSERT_CHUNK))
            .zip(self.bodies.chunks(INSERT_CHUNK))
            .zip(self.hashes.chunks(INSERT_CHUNK))
            .map(|((((ids, accounts), dates), bodies), hashes)| Chunk {
                ids,
                accounts,
                dates,
                bodies,
                hashes,
            })
    }
}

impl Chunk<'_> {
    /// The rows as one JSON array of `[id, account, date, body, hash]` (SQLite's bulk
    /// insert reads it with `json_each`).
    pub(super) fn sqlite_json(&self) -> Result<String> {
        let rows: Vec<[&str; 5]> = self
            .ids
            .iter()
            .zip(self.accounts)
            .zip(self.dates)
            .zip(self.bodies)
            .zip(self.hashes)
            .map(|((((i, a), d), b), h)| [i.as_str(), a, d, b, h])
            .collect();
        serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(format!("rows: {e}")))
    }
}

/// A stored event's row, as loaded into a book.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct MoneyRow {
    seq: i64,
    event_id: String,
    account_id: String,
    body: String,
}

/// The book as of the stored rows up to `seq`.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    pub(crate) book: Book,
    /// Highest `money_events.seq` in `book` (0: nothing loaded yet).
    pub(crate) seq: i64,
}

/// The store's book kept in memory (one per store, shared by its clones): readers derive
/// under the read lock; catching up and adding a committed import take the write lock
/// briefly.
#[derive(Debug, Default)]
pub(crate) struct KeptBook {
    kept: RwLock<Kept>,
    /// Held by a catch-up outside an import (the load at start among them), so a request
    /// that arrives during the first load waits for it and then reads only what came after,
    /// instead of reading the whole table a second time beside it.
    loading: Mutex<()>,
}

impl KeptBook {
    pub(super) async fn seq(&self) -> i64 {
        self.kept.read().await.seq
    }

    async fn read(&self) -> RwLockReadGuard<'_, Kept> {
        self.kept.read().await
    }

    /// Adds rows read after `since` (in seq order); rows another caller added meanwhile
    /// are skipped by their seq.
    pub(super) async fn apply(&self, rows: Vec<MoneyRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut kept = self.kept.write().await;
        for row in rows {
            if row.seq <= kept.seq {
                continue;
            }
            let event = row_event(&row)?;
            kept.book
                .insert(event)
                .map_err(|e| corrupt_event(&row, e))?;
            kept.seq = row.seq;
        }
        Ok(())
    }

    /// Adds a committed import: `checked` holds whole copies of the accounts it touched
    /// with the new events, checked when the book was at `before`; its rows end at `after`.
    /// When a reader caught up past `before` meanwhile, it read those rows itself.
    pub(super) async fn absorb(&self, before: i64, after: i64, checked: Book) {
        let mut kept = self.kept.write().await;
        if kept.seq == before && after >= before {
            kept.book.absorb(checked);
            kept.seq = after;
        }
    }
}

fn corrupt_event(row: &MoneyRow, problem: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "money event {} of account {}: {problem}",
        row.event_id, row.account_id
    ))
}

/// The stored event of a row.
fn row_event(row: &MoneyRow) -> Result<Event> {
    let value: Value = serde_json::from_str(&row.body).map_err(|e| corrupt_event(row, e))?;
    Event::from_value(&value).map_err(|e| corrupt_event(row, e))
}

/// What the change feed says of a batch's new events: one change per event that changes
/// its debt's receivables, in batch order. Disputes and their resolutions are left out: the
/// account ledger turns them into dispute holds, which are HOLD changes of their own.
fn feed_changes(new_events: &[&Event]) -> Vec<MoneyEventChange> {
    new_events
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::Dispute { .. } | EventKind::DisputeResolved { .. }
            )
        })
        .map(|e| MoneyEventChange {
            debt_id: e.account.clone(),
            event_id: e.id.clone(),
            event_type: e.kind.type_name().to_owned(),
            event_date: e.date.to_string(),
            amount_minor: match &e.kind {
                EventKind::Charge { amount_minor, .. }
                | EventKind::Payment { amount_minor, .. }
                | EventKind::Credit { amount_minor, .. }
                | EventKind::Refund { amount_minor, .. }
                | EventKind::Promise { amount_minor, .. }
                | EventKind::Settlement { amount_minor, .. } => *amount_minor,
                EventKind::WriteOff { amount_minor, .. } => amount_minor.unwrap_or(0),
                EventKind::Plan { installments, .. } => installments
                    .iter()
                    .fold(0i64, |t, i| t.saturating_add(i.amount_minor)),
                EventKind::Reversal { .. }
                | EventKind::Dispute { .. }
                | EventKind::DisputeResolved { .. } => 0,
            },
        })
        .collect()
}

/// A book of stored rows (in arrival order).
fn book_of(rows: &[MoneyRow]) -> Result<Book> {
    let mut book = Book::new();
    for row in rows {
        let event = row_event(row)?;
        book.insert(event).map_err(|e| corrupt_event(row, e))?;
    }
    Ok(book)
}

/// SHA-256 of the stored JSON, in hex.
fn content_hash(body: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// The first top-level field (in name order) where two events' JSON differ: what a
/// conflicting re-import names. `id` only when nothing else differs (it cannot: same id).
fn differing_field(before: &Event, now: &Event) -> String {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(now))
    else {
        return "id".to_owned();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .find(|k| a.get(*k) != b.get(*k))
        .map_or_else(|| "id".to_owned(), |k| k.clone())
}

/// A refused event: its index in the batch, its id and what is wrong (field first).
fn refused(index: usize, id: &str, message: String) -> StoreError {
    StoreError::Refused {
        index,
        id: id.to_owned(),
        message,
    }
}

impl Store {
    /// Imports a batch of money events in one transaction, all-or-nothing: each is checked
    /// by `receivables::Book` against the stored events of the accounts the batch touches
    /// (and of the accounts owning its ids); an id stored with the same content is a no-op,
    /// with a different content [`StoreError::Refused`] naming the event and the first
    /// differing field. Only the new events are written, in batch order.
    pub async fn import_money_events(
        &self,
        events: Vec<Event>,
        actor: &str,
    ) -> Result<ImportSummary> {
        Ok(self.import_money(events, None, actor, None).await?.0)
    }

    /// [`Store::import_money_events`] for a dialer replica holding `fence`: a batch that
    /// writes something is [`StoreError::Fenced`] under a stale token; one of duplicates
    /// only is answered as before, whatever the token.
    pub async fn import_money_events_fenced(
        &self,
        events: Vec<Event>,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<ImportSummary> {
        Ok(self.import_money(events, None, actor, fence).await?.0)
    }

    /// The one import path: `events`, or (`consumer`) the parts of a consumer payment,
    /// split under the lock against the caught-up book and recorded with them
    /// (`store/consumer.rs`); under a campaign `fence` when a dialer replica sent it.
    pub(crate) async fn import_money(
        &self,
        mut events: Vec<Event>,
        consumer: Option<&ConsumerPayment>,
        actor: &str,
        fence: Option<&Fence>,
    ) -> Result<(ImportSummary, Option<AppliedPayment>)> {
        if events.len() > MAX_EVENTS_PER_IMPORT {
            return Err(refused(
                MAX_EVENTS_PER_IMPORT,
                "",
                format!("events: at most {MAX_EVENTS_PER_IMPORT} per import"),
            ));
        }
        let now = us(jiff::Timestamp::now());
        let (summary, before, after, checked, applied, change_seq) = write_tx!(self.db, tx, D => {
            sqlx::query(<D as Driver>::WRITER_LOCK)
                .bind(MONEY_LOCK)
                .execute(&mut *tx)
                .await?;
            // Under the lock nobody else writes money events: catch the kept book up with
            // what others committed (in this transaction: an in-memory SQLite has one
            // connection), then check against it.
            catch_up_in_tx!(self, tx);
            // A consumer payment: a re-send answers its record; a new one is split here,
            // against the caught-up book, and its parts are the batch.
            let mut applied = None;
            if let Some(payment) = consumer {
                let row: Option<(String, String)> = sqlx::query_as(consumer::STORED)
                    .bind(&payment.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((body, split)) = row {
                    let resent = consumer::resent(payment, &body, &split)?;
                    return Ok((ImportSummary::default(), Some(resent)));
                }
                let (split, parts) = {
                    let kept = self.money.read().await;
                    receivables::plan_consumer_payment(&kept.book, payment)?
                };
                events = parts;
                applied = Some(AppliedPayment {
                    payment: payment.clone(),
                    split,
                    duplicate: false,
                });
            }
            // The accounts to check against: the batch's, and those owning its ids (an id
            // re-imported under another account is a conflict, seen only with its owner),
            // copied out of the kept book so a refused batch leaves it untouched.
            let (mut checked, stored, before) = {
                let kept = self.money.read().await;
                let mut touched: HashSet<&str> = HashSet::new();
                let mut copies = Vec::new();
                let mut stored = Vec::with_capacity(events.len());
                for event in &events {
                    let owner = kept.book.owner_of(&event.id);
                    stored.push(owner.is_some());
                    for account in owner.into_iter().chain(kept.book.account(&event.account)) {
                        if touched.insert(account.id()) {
                            copies.push(account.clone());
                        }
                    }
                }
                (Book::of_accounts(copies), stored, kept.seq)
            };
            let summary = match checked.import(events.iter().cloned()) {
                Ok(s) => s,
                Err(e) => return Err(batch_refusal(&checked, &events, e)),
            };
            if summary.new > 0 {
                pass_fence!(tx, fence, now);
            }
            let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
            let mut rows = NewRows::default();
            let mut new_events: Vec<&Event> = Vec::new();
            for (event, stored) in events.iter().zip(stored) {
                if stored || !seen.insert(event.id.as_str()) {
                    continue; // a duplicate: the book found it identical
                }
                let body = serde_json::to_string(event)
                    .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.id)))?;
                rows.push(event, body);
                new_events.push(event);
            }
            insert_money_rows!(tx, D, rows, now);
            let after = if rows.ids.is_empty() {
                before
            } else {
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM money_events")
                    .fetch_one(&mut *tx)
                    .await?;
                max.unwrap_or(before)
            };
            // The change feed, in this transaction: exactly the committed events are in it.
            let feed = feed_changes(&new_events);
            let owners: HashMap<String, String> = if feed.is_empty() {
                HashMap::new()
            } else {
                let debts: Vec<&str> = feed
                    .iter()
                    .map(|c| c.debt_id.as_str())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let mut owners = HashMap::with_capacity(debts.len());
                for chunk in debts.chunks(INSERT_CHUNK) {
                    let found: Vec<(String, String)> = sqlx::query_as(sql!(D,
                        "SELECT debt_id, account_id FROM debts WHERE debt_id " in_list(1)))
                        .bind(List(chunk))
                        .fetch_all(&mut *tx)
                        .await?;
                    owners.extend(found);
                }
                owners
            };
            // (ledger account, event id, payload) of the events of ledger debts: money for a
            // debt the ledger does not know yet has no account to report it on (its load is
            // an ACCOUNT change).
            let mut changes: Vec<[String; 3]> = Vec::new();
            for c in feed {
                if let Some(account) = owners.get(&c.debt_id) {
                    let payload = serde_json::to_string(&c)
                        .map_err(|e| StoreError::Corrupt(format!("change {}: {e}", c.event_id)))?;
                    changes.push([account.clone(), c.event_id, payload]);
                }
            }
            let change_seq = if changes.is_empty() {
                None
            } else {
                // Money lock, then change lock: no writer takes them the other way round.
                sqlx::query(<D as Driver>::WRITER_LOCK)
                    .bind(super::CHANGES_LOCK)
                    .execute(&mut *tx)
                    .await?;
                let kind = enum_name(&ChangeKind::Receivables);
                for chunk in changes.chunks(INSERT_CHUNK) {
                    match <D as Driver>::DIALECT {
                        sqlstore::Dialect::Postgres => {
                            let col = |i: usize| -> Vec<&str> {
                                chunk.iter().map(|c| c[i].as_str()).collect()
                            };
                            sqlx::query(
                                "INSERT INTO changes \
                                 (kind, account_id, event_id, ref_id, payload, recorded_at) \
                                 SELECT $4, a, NULL, r, p, $5 FROM UNNEST($1::text[], \
                                 $2::text[], $3::text[]) WITH ORDINALITY AS u(a, r, p, n) \
                                 ORDER BY n",
                            )
                            .bind(List(&col(0)))
                            .bind(List(&col(1)))
                            .bind(List(&col(2)))
                            .bind(&kind)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        sqlstore::Dialect::Sqlite => {
                            let rows = serde_json::to_string(chunk)
                                .map_err(|e| StoreError::Corrupt(format!("changes: {e}")))?;
                            sqlx::query(
                                "INSERT INTO changes \
                                 (kind, account_id, event_id, ref_id, payload, recorded_at) \
                                 SELECT $2, value ->> 0, NULL, value ->> 1, value ->> 2, $3 \
                                 FROM json_each($1) ORDER BY key",
                            )
                            .bind(rows)
                            .bind(&kind)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM changes")
                    .fetch_one(&mut *tx)
                    .await?;
                max
            };
            if let Some(a) = &applied {
                let r = consumer::Record::of(a)?;
                sqlx::query(consumer::INSERT)
                    .bind(r.id)
                    .bind(r.date)
                    .bind(r.amount_minor)
                    .bind(r.unapplied_minor)
                    .bind(r.currency)
                    .bind(r.body)
                    .bind(r.split)
                    .bind(actor)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            (summary, before, after, checked, applied, change_seq)
        });
        if let Some(seq) = change_seq {
            self.bump(seq);
        }
        // Only now that it is committed does the kept book see the batch.
        if summary.new > 0 {
            self.money.absorb(before, after, checked).await;
        }
        // The account ledger's part (dispute holds): after the commit, for duplicates too.
        self.after_money_import(&events, actor).await?;
        tracing::debug!(
            actor,
            new = summary.new,
            duplicates = summary.duplicates,
            "money events imported"
        );
        Ok((summary, applied))
    }

    /// The stored events of `accounts` (all when `None`) as a book, in arrival order.
    pub async fn money_book(&self, accounts: Option<&[String]>) -> Result<Book> {
        let rows: Vec<MoneyRow> = with_pool!(self.db, p, D => match accounts {
            None => sqlx::query_as(
                "SELECT seq, event_id, account_id, body FROM money_events ORDER BY seq")
                .fetch_all(p)
                .await?,
            Some(list) => sqlx::query_as(sql!(D,
                "SELECT seq, event_id, account_id, body FROM money_events WHERE account_id "
                in_list(1) " ORDER BY seq"))
                .bind(List(list))
                .fetch_all(p)
                .await?,
        });
        book_of(&rows)
    }

    /// Catches the kept book up with the rows committed after the seq it holds (all of
    /// them the first time, [`CATCH_UP_ROWS`] per query): one query on the primary key when
    /// nothing or little is new.
    pub(crate) async fn money_catch_up(&self) -> Result<()> {
        // Not taken by an import's catch-up, which reads in its transaction: on an
        // in-memory SQLite that transaction holds the one connection this loop would need.
        let _loading = self.money.loading.lock().await;
        loop {
            let since = self.money.seq().await;
            let rows: Vec<MoneyRow> = with_pool!(self.db, p, D => sqlx::query_as(CATCH_UP)
                .bind(since)
                .bind(CATCH_UP_ROWS)
                .fetch_all(p)
                .await?);
            let more = rows.len() as i64 == CATCH_UP_ROWS;
            self.money.apply(rows).await?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Loads the kept book now rather than on the first report or import (`ledgerd` runs it
    /// in the background at start: 4 M events take half a minute); requests that arrive
    /// meanwhile wait for it, then catch up the rest. Returns the events and accounts held.
    pub async fn warm_money_book(&self) -> Result<(usize, usize)> {
        self.money_catch_up().await?;
        let kept = self.money.read().await;
        Ok((kept.book.len(), kept.book.accounts().count()))
    }

    /// The kept book, caught up with every committed import (read-locked while held:
    /// imports of this process wait to add theirs until it is dropped).
    pub(crate) async fn money_read(&self) -> Result<RwLockReadGuard<'_, Kept>> {
        self.money_catch_up().await?;
        Ok(self.money.read().await)
    }

    /// The replay report of the whole portfolio for the period `period_start..=as_of`: the
    /// same figures `receivables::replay` gives for the same events.
    pub async fn receivables_report(&self, period_start: Date, as_of: Date) -> Result<Report> {
        let kept = self.money_read().await?;
        receivables::replay(&kept.book, period_start, as_of).map_err(|e| {
            StoreError::Invalid(ledger_api::domain::ValidationError {
                field: "period_start".into(),
                message: e.to_string(),
            })
        })
    }

    /// One account's events and state as of `as_of`; NOT_FOUND when it has no events.
    pub async fn account_statement(&self, account_id: &str, as_of: Date) -> Result<Statement> {
        let kept = self.money_read().await?;
        let account = kept
            .book
            .account(account_id)
            .ok_or_else(|| StoreError::NotFound {
                field: "account_id",
                id: account_id.to_owned(),
            })?
            .clone();
        drop(kept);
        let state = account.state_as_of(as_of);
        Ok(Statement { account, state })
    }
}

/// The refusal of a batch the book refused at `e.index`: a conflicting id names the first
/// field that differs from the event imported before (stored, or earlier in the batch).
pub(super) fn batch_refusal(
    book: &Book,
    events: &[Event],
    e: receivables::BatchError,
) -> StoreError {
    let id = events.get(e.index).map_or("", |ev| ev.id.as_str());
    let message = match (&e.error, events.get(e.index)) {
        (EventError::Conflict(_), Some(now)) => {
            let before = events
                .get(..e.index)
                .and_then(|earlier| earlier.iter().find(|b| b.id == now.id))
                .or_else(|| stored_event(book, &now.id));
            match before {
                Some(before) => format!(
                    "{}: differs from the event {} imported before",
                    differing_field(before, now),
                    now.id
                ),
                None => e.error.to_string(),
            }
        }
        _ => e.error.to_string(),
    };
    refused(e.index, id, message)
}

/// The stored event with this id, wherever its account.
fn stored_event<'b>(book: &'b Book, id: &str) -> Option<&'b Event> {
    book.accounts().find_map(|a| a.event(id))
}

/// Which accounts a report covers (`ReportFilter` of receivables.proto); `None` does not
/// filter. Client and campaign select by the account ledger (a money account is a ledger
/// debt id); the bucket by the derived state as of D.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// The ledger account's `creditor` of the debt.
    pub client: Option<String>,
    /// A campaign that attempted the debt: an outcome with this `campaign_id` names it.
    pub campaign_id: Option<String>,
    /// A non-zero amount in this bucket as of D.
    pub bucket: Option<Bucket>,
    /// The do-not-transfer flag as of D is this (Reg F 1006.30(b)).
    pub transfer_blocked: Option<bool>,
}

impl ReportFilter {
    /// Whether an account's state as of D passes the state parts (bucket, transfer flag).
    pub fn keeps(&self, state: &AccountState) -> bool {
        self.bucket.is_none_or(|b| b.of(&state.aging) != 0)
            && self
                .transfer_blocked
                .is_none_or(|t| t == state.transfer_blocked())
    }
}

/// One account's report line and its time-barred flag as of D.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    pub line: AccountLine,
    pub time_barred: bool,
}

/// The totals of the selected accounts as of D.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgingTotals {
    pub aging: Aging,
    pub credit_balance_minor: i64,
    pub accounts: u64,
}

/// A page of the aging report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgingPage {
    /// The first page's (no `after`) only.
    pub totals: Option<AgingTotals>,
    pub lines: Vec<ReportLine>,
    /// The last account id of this page when more lines follow.
    pub next: Option<String>,
}

/// Commitments by status as of D.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitmentCounts {
    pub promises: HashMap<PromiseStatus, u64>,
    pub plans: HashMap<PlanStatus, u64>,
    pub settlements: HashMap<SettlementStatus, u64>,
}

/// One promise, plan or settlement as of D (`CommitmentLine` of receivables.proto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentLine {
    pub account: String,
    /// `promise`, `plan` or `settlement`.
    pub kind: &'static str,
    pub event_id: String,
    /// The status's snake_case name.
    pub status: String,
    pub date: Date,
    pub due: Date,
    pub amount_minor: i64,
    pub paid_minor: i64,
    pub kept_on: Option<Date>,
    pub broken_on: Option<Date>,
    pub installments: usize,
    pub installments_kept: usize,
}

/// A page of the commitment report (paged by account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentPage {
    pub counts: Option<CommitmentCounts>,
    pub lines: Vec<CommitmentLine>,
    pub next: Option<String>,
}

/// Most lines (or accounts) of one report page.
pub const MAX_PAGE_SIZE: usize = 10_000;

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn days_after(date: Date, days: i64) -> Option<Date> {
    date.checked_add(jiff::Span::new().days(days)).ok()
}

/// The commitments of one account as of D, in arrival order.
fn commitment_lines(account: &receivables::Account, state: &AccountState) -> Vec<CommitmentLine> {
    let events = account.events();
    let mut out = Vec::new();
    let base = |index: usize, kind: &'static str| {
        let event = events.get(index);
        (
            event.map(|e| e.id.clone()).unwrap_or_default(),
            event.map_or(state.as_of, |e| e.date),
            kind,
        )
    };
    let grace = |index: usize| -> i64 {
        match events.get(index).map(|e| &e.kind) {
            Some(EventKind::Promise { grace_days, .. })
            | Some(EventKind::Settlement { grace_days, .. })
            | Some(EventKind::Plan { grace_days, .. }) => i64::from(grace_days.unwrap_or(0)),
            _ => 0,
        }
    };
    for p in &state.promises {
        let (event_id, date, kind) = base(p.event, "promise");
        out.push(CommitmentLine {
            account: account.id().to_owned(),
            kind,
            event_id,
            status: snake(&p.status),
            date,
            due: p.due,
            amount_minor: p.amount_minor,
            paid_minor: p.paid_minor,
            kept_on: p.met_on.filter(|_| p.status == PromiseStatus::Kept),
            broken_on: (p.status == PromiseStatus::Broken)
                .then(|| days_after(p.due, grace(p.event) + 1))
                .flatten(),
            installments: 0,
            installments_kept: 0,
        });
    }
    for s in &state.settlements {
        let (event_id, date, kind) = base(s.event, "settlement");
        out.push(CommitmentLine {
            account: account.id().to_owned(),
            kind,
            event_id,
            status: snake(&s.status),
            date,
            due: s.due,
            amount_minor: s.amount_minor,
            paid_minor: s.paid_minor,
            kept_on: s.met_on.filter(|_| s.status == SettlementStatus::Fulfilled),
            broken_on: (s.status == SettlementStatus::Broken)
                .then(|| days_after(s.due, grace(s.event) + 1))
                .flatten(),
            installments: 0,
            installments_kept: 0,
        });
    }
    for plan in &state.plans {
        let (event_id, date, kind) = base(plan.event, "plan");
        let installments: &[receivables::Installment] =
            match events.get(plan.event).map(|e| &e.kind) {
                Some(EventKind::Plan { installments, .. }) => installments,
                _ => &[],
            };
        let next = installments
            .get(plan.installments_kept)
            .or_else(|| installments.last());
        let due = next.map_or(date, |i| i.due);
        out.push(CommitmentLine {
            account: account.id().to_owned(),
            kind,
            event_id,
            status: snake(&plan.status),
            date,
            due,
            amount_minor: plan.total_minor,
            paid_minor: plan.paid_minor,
            kept_on: None,
            broken_on: (plan.status == PlanStatus::Broken)
                .then(|| days_after(due, grace(plan.event) + 1))
                .flatten(),
            installments: plan.installments,
            installments_kept: plan.installments_kept,
        });
    }
    out.sort_by_key(|l| {
        events
            .iter()
            .position(|e| e.id == l.event_id)
            .unwrap_or(usize::MAX)
    });
    out
}

/// The page size asked for: 0 means 1000; at most [`MAX_PAGE_SIZE`].
pub fn page_size(asked: u32) -> Result<usize> {
    match asked as usize {
        0 => Ok(1000),
        n if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(StoreError::Invalid(ledger_api::domain::ValidationError {
            field: "page_size".into(),
            message: format!("must be at most {MAX_PAGE_SIZE}"),
        })),
    }
}

impl Store {
    /// The money accounts (ledger debt ids) the client and campaign parts of `filter`
    /// select; `None` when neither is set.
    async fn selected_debts(&self, filter: &ReportFilter) -> Result<Option<HashSet<String>>> {
        let mut selected: Option<HashSet<String>> = None;
        if let Some(client) = &filter.client {
            let rows: Vec<(String,)> = with_pool!(self.db, p, D => sqlx::query_as(
                "SELECT d.debt_id FROM debts d JOIN accounts a ON a.account_id = d.account_id \
                 WHERE a.creditor = $1")
                .bind(client)
                .fetch_all(p)
                .await?);
            selected = Some(rows.into_iter().map(|(d,)| d).collect());
        }
        if let Some(campaign) = &filter.campaign_id {
            let rows: Vec<(String,)> = with_pool!(self.db, p, D => sqlx::query_as(
                "SELECT DISTINCT l.debt_id FROM contact_event_debts l \
                 JOIN contact_events e ON e.event_id = l.event_id WHERE e.campaign_id = $1")
                .bind(campaign)
                .fetch_all(p)
                .await?);
            let attempted: HashSet<String> = rows.into_iter().map(|(d,)| d).collect();
            selected = Some(match selected {
                Some(s) => s.intersection(&attempted).cloned().collect(),
                None => attempted,
            });
        }
        Ok(selected)
    }

    /// The US state of each debt's consumer: the current address of the primary person of
    /// the ledger account owning the debt (the lowest-ordered when several), for `debts`
    /// (all when `None`). Read-only.
    pub async fn debt_states(&self, debts: Option<&[String]>) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, String)> = with_pool!(self.db, p, D => match debts {
            None => sqlx::query_as(
                "SELECT d.debt_id, ad.state FROM debts d \
                 JOIN persons pe ON pe.account_id = d.account_id AND pe.role = 'primary' \
                 JOIN addresses ad ON ad.account_id = pe.account_id \
                 AND ad.person_id = pe.person_id AND ad.is_current AND ad.country = 'US' \
                 ORDER BY ad.ord DESC")
                .fetch_all(p)
                .await?,
            Some(list) => sqlx::query_as(sql!(D,
                "SELECT d.debt_id, ad.state FROM debts d \
                 JOIN persons pe ON pe.account_id = d.account_id AND pe.role = 'primary' \
                 JOIN addresses ad ON ad.account_id = pe.account_id \
                 AND ad.person_id = pe.person_id AND ad.is_current AND ad.country = 'US' \
                 WHERE d.debt_id " in_list(1) " ORDER BY ad.ord DESC"))
                .bind(List(list))
                .fetch_all(p)
                .await?,
        });
        // Highest ord first, so the lowest-ordered address is the one left.
        Ok(rows.into_iter().collect())
    }

    /// The time-barred flags of lines whose accrual dates are known.
    async fn flag_time_barred(
        &self,
        lines: Vec<(AccountLine, Option<Date>)>,
        as_of: Date,
        all: bool,
    ) -> Result<Vec<ReportLine>> {
        let ids: Vec<String> = lines
            .iter()
            .filter(|(_, accrual)| accrual.is_some())
            .map(|(l, _)| l.account.clone())
            .collect();
        let states = if ids.is_empty() {
            HashMap::new()
        } else if all {
            self.debt_states(None).await?
        } else {
            self.debt_states(Some(&ids)).await?
        };
        let table = receivables::LimitationsTable::us();
        Ok(lines
            .into_iter()
            .map(|(line, accrual)| {
                let time_barred = match (accrual, states.get(&line.account)) {
                    (Some(accrual), Some(state)) => table
                        .get(state)
                        .is_some_and(|l| limitations::barred(accrual, l.years(), as_of)),
                    _ => false,
                };
                ReportLine { line, time_barred }
            })
            .collect())
    }

    /// The replay report with each line's time-barred flag (in line order).
    pub async fn receivables_report_flagged(
        &self,
        period_start: Date,
        as_of: Date,
    ) -> Result<(Report, Vec<bool>)> {
        let mut accruals = Vec::new();
        let report = {
            let kept = self.money_read().await?;
            receivables::replay_where(
                &kept.book,
                period_start,
                as_of,
                |_| true,
                |_, state| {
                    accruals.push(limitations::accrual_date(state));
                    true
                },
            )
            .map_err(|e| invalid("period_start", e.to_string()))?
        };
        let lines = report.accounts.iter().cloned().zip(accruals).collect();
        let flags = self
            .flag_time_barred(lines, as_of, true)
            .await?
            .into_iter()
            .map(|l| l.time_barred)
            .collect();
        Ok((report, flags))
    }

    /// A page of the aging report as of `as_of`: the lines of the selected accounts after
    /// account `after` (sorted by id), at most `limit`, and the totals when `after` is
    /// `None`.
    pub async fn aging_page(
        &self,
        as_of: Date,
        filter: &ReportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AgingPage> {
        let selected = self.selected_debts(filter).await?;
        let select =
            |a: &receivables::Account| selected.as_ref().is_none_or(|s| s.contains(a.id()));
        let keep = |state: &AccountState| filter.keeps(state);
        let (totals, lines, next) = {
            let kept = self.money_read().await?;
            let totals = after.is_none().then(|| {
                let mut t = AgingTotals::default();
                for account in kept.book.accounts().filter(|a| select(a)) {
                    let state = account.state_as_of(as_of);
                    if keep(&state) {
                        t.aging.merge(&state.aging);
                        t.credit_balance_minor = t
                            .credit_balance_minor
                            .saturating_add(state.credit_balance_minor);
                        t.accounts += 1;
                    }
                }
                t
            });
            let sorted = kept.book.accounts_by_id();
            let start = after.map_or(0, |a| sorted.partition_point(|x| x.id() <= a));
            let mut lines = Vec::new();
            let mut next = None;
            for account in sorted.iter().skip(start).filter(|a| select(a)) {
                let state = account.state_as_of(as_of);
                if !keep(&state) {
                    continue;
                }
                if lines.len() == limit {
                    next = lines
                        .last()
                        .map(|(l, _): &(AccountLine, _)| l.account.clone());
                    break;
                }
                lines.push((
                    AccountLine::new(account, &state),
                    limitations::accrual_date(&state),
                ));
            }
            (totals, lines, next)
        };
        let lines = self.flag_time_barred(lines, as_of, false).await?;
        Ok(AgingPage {
            totals,
            lines,
            next,
        })
    }

    /// Every line of the aging report (for the CSV export): one snapshot of the book.
    pub async fn aging_lines(
        &self,
        as_of: Date,
        filter: &ReportFilter,
    ) -> Result<Vec<AccountLine>> {
        let selected = self.selected_debts(filter).await?;
        let kept = self.money_read().await?;
        Ok(kept
            .book
            .accounts_by_id()
            .into_iter()
            .filter(|a| selected.as_ref().is_none_or(|s| s.contains(a.id())))
            .filter_map(|account| {
                let state = account.state_as_of(as_of);
                filter
                    .keeps(&state)
                    .then(|| AccountLine::new(account, &state))
            })
            .collect())
    }

    /// The KPIs of `period_start..=as_of` over the selected accounts, and their number.
    pub async fn kpi_report(
        &self,
        period_start: Date,
        as_of: Date,
        filter: &ReportFilter,
    ) -> Result<(Kpi, u64)> {
        let selected = self.selected_debts(filter).await?;
        let kept = self.money_read().await?;
        let report = receivables::replay_where(
            &kept.book,
            period_start,
            as_of,
            |a| selected.as_ref().is_none_or(|s| s.contains(a.id())),
            |_, state| filter.keeps(state),
        )
        .map_err(|e| invalid("period_start", e.to_string()))?;
        Ok((report.kpi, report.accounts.len() as u64))
    }

    /// A page of the commitment report: the commitments of the selected accounts after
    /// account `after`, at most `limit` accounts' worth, and the counts when `after` is
    /// `None`.
    pub async fn commitment_page(
        &self,
        as_of: Date,
        filter: &ReportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CommitmentPage> {
        let selected = self.selected_debts(filter).await?;
        let select =
            |a: &receivables::Account| selected.as_ref().is_none_or(|s| s.contains(a.id()));
        let keep = |state: &AccountState| filter.keeps(state);
        let has_any = |s: &AccountState| {
            !(s.promises.is_empty() && s.plans.is_empty() && s.settlements.is_empty())
        };
        let kept = self.money_read().await?;
        let counts = after.is_none().then(|| {
            let mut c = CommitmentCounts::default();
            for account in kept.book.accounts().filter(|a| select(a)) {
                let state = account.state_as_of(as_of);
                if !keep(&state) {
                    continue;
                }
                for p in &state.promises {
                    *c.promises.entry(p.status).or_default() += 1;
                }
                for p in &state.plans {
                    *c.plans.entry(p.status).or_default() += 1;
                }
                for s in &state.settlements {
                    *c.settlements.entry(s.status).or_default() += 1;
                }
            }
            c
        });
        let sorted = kept.book.accounts_by_id();
        let start = after.map_or(0, |a| sorted.partition_point(|x| x.id() <= a));
        let mut lines = Vec::new();
        let (mut accounts, mut last, mut next) = (0usize, None::<String>, None);
        for account in sorted.iter().skip(start).filter(|a| select(a)) {
            let state = account.state_as_of(as_of);
            if !keep(&state) || !has_any(&state) {
                continue;
            }
            if accounts == limit {
                next = last.take();
                break;
            }
            accounts += 1;
            last = Some(account.id().to_owned());
            lines.extend(commitment_lines(account, &state));
        }
        Ok(CommitmentPage {
            counts,
            lines,
            next,
        })
    }

    /// One account's statement with the US state of its consumer and its time-barred flag.
    pub async fn account_statement_flagged(
        &self,
        account_id: &str,
        as_of: Date,
    ) -> Result<(Statement, Option<String>, bool)> {
        let statement = self.account_statement(account_id, as_of).await?;
        let states = self.debt_states(Some(&[account_id.to_owned()])).await?;
        let us_state = states.get(account_id).cloned();
        let barred = us_state.as_deref().is_some_and(|s| {
            receivables::time_barred(receivables::LimitationsTable::us(), s, &statement.state)
        });
        Ok((statement, us_state, barred))
    }
}

fn invalid(field: &str, message: String) -> StoreError {
    StoreError::Invalid(ledger_api::domain::ValidationError {
        field: field.into(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Event {
        Event::from_value(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn a_conflict_names_the_first_differing_field() {
        let a = event(
            r#"{"type":"payment","id":"p","account":"A","date":"2024-01-01","amount_minor":5}"#,
        );
        let b = event(
            r#"{"type":"payment","id":"p","account":"A","date":"2024-01-01","amount_minor":6}"#,
        );
        let c = event(
            r#"{"type":"payment","id":"p","account":"B","date":"2024-01-02","amount_minor":5}"#,
        );
        assert_eq!(differing_field(&a, &b), "amount_minor");
        assert_eq!(differing_field(&a, &c), "account");
        assert_eq!(differing_field(&a, &a), "id");
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            content_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
