//! The receivables money events of issue 12 in the ledger's database: an append-only table
//! (`money_events`, migration 0003) and the one import path every producer goes through
//! (the `ReceivablesService.ImportMoneyEvents` RPC, and the embedded ledger of
//! `dialerctl ledger replay`).
//!
//! The store checks nothing itself: a batch is checked by `receivables::Book` (the pure
//! engine) against the stored events of the accounts it touches, inside the transaction
//! that writes it, so `ledgerd` refuses exactly what the engine refuses, with the same
//! messages. Reports load the events back into a `Book` and derive them there: nothing
//! derived is stored, so a report as of any past date is reproducible.

use std::collections::HashSet;

use jiff::civil::Date;
use receivables::{AccountState, Book, Event, EventError, ImportSummary, Report};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlstore::{Driver, List, sql, with_pool, write_tx};

use super::{Result, Store, StoreError, us};

/// The writer lock (`Driver::WRITER_LOCK`) that makes imports one at a time: a batch is
/// checked against the stored events, so two batches touching the same account must not
/// both check before either writes.
const MONEY_LOCK: i64 = 7142025;

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

/// Most rows one INSERT statement writes.
const INSERT_CHUNK: usize = 10_000;

/// The columns of the new rows of an import, in batch order.
#[derive(Debug, Default)]
struct NewRows {
    ids: Vec<String>,
    accounts: Vec<String>,
    dates: Vec<String>,
    bodies: Vec<String>,
    hashes: Vec<String>,
}

/// [`INSERT_CHUNK`] rows of [`NewRows`].
#[derive(Debug, Clone, Copy)]
struct Chunk<'a> {
    ids: &'a [String],
    accounts: &'a [String],
    dates: &'a [String],
    bodies: &'a [String],
    hashes: &'a [String],
}

impl NewRows {
    fn push(&mut self, event: &Event, body: String) {
        self.ids.push(event.id.clone());
        self.accounts.push(event.account.clone());
        self.dates.push(event.date.to_string());
        self.hashes.push(content_hash(&body));
        self.bodies.push(body);
    }

    fn chunks(&self) -> impl Iterator<Item = Chunk<'_>> {
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
    fn sqlite_json(&self) -> Result<String> {
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
struct MoneyRow {
    event_id: String,
    account_id: String,
    body: String,
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
    Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        if events.len() > MAX_EVENTS_PER_IMPORT {
            return Err(refused(
                MAX_EVENTS_PER_IMPORT,
                "",
                format!("events: at most {MAX_EVENTS_PER_IMPORT} per import"),
            ));
        }
        let now = us(jiff::Timestamp::now());
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let summary = write_tx!(self.db, tx, D => {
            sqlx::query(<D as Driver>::WRITER_LOCK)
                .bind(MONEY_LOCK)
                .execute(&mut *tx)
                .await?;
            // The accounts to check against: the batch's, and those owning its ids (an id
            // re-imported under another account is a conflict, seen only with its owner).
            let owners: Vec<(String,)> = sqlx::query_as(sql!(D,
                "SELECT DISTINCT account_id FROM money_events WHERE event_id " in_list(1)))
                .bind(List(&ids))
                .fetch_all(&mut *tx)
                .await?;
            let mut accounts: Vec<String> = events
                .iter()
                .map(|e| e.account.clone())
                .chain(owners.into_iter().map(|(a,)| a))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            accounts.sort_unstable();
            let rows: Vec<MoneyRow> = sqlx::query_as(sql!(D,
                "SELECT event_id, account_id, body FROM money_events WHERE account_id "
                in_list(1) " ORDER BY seq"))
                .bind(List(&accounts))
                .fetch_all(&mut *tx)
                .await?;
            let mut book = book_of(&rows)?;
            let stored: HashSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
            let summary = match book.import(events.iter().cloned()) {
                Ok(s) => s,
                Err(e) => return Err(batch_refusal(&book, &events, e)),
            };
            let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
            let mut rows = NewRows::default();
            for event in &events {
                if stored.contains(event.id.as_str()) || !seen.insert(event.id.as_str()) {
                    continue; // a duplicate: the book found it identical
                }
                let body = serde_json::to_string(event)
                    .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.id)))?;
                rows.push(event, body);
            }
            // In batch order, so `seq` is the arrival order. PostgreSQL: arrays through
            // UNNEST; SQLite: one JSON array of rows through json_each. Chunked so no
            // statement carries more than INSERT_CHUNK rows.
            for chunk in rows.chunks() {
                match <D as Driver>::DIALECT {
                    sqlstore::Dialect::Postgres => {
                        sqlx::query(
                            "INSERT INTO money_events \
                             (event_id, account_id, event_date, body, content_hash, recorded_at) \
                             SELECT i, a, d, b, h, $6 FROM UNNEST($1::text[], $2::text[], \
                             $3::text[], $4::text[], $5::text[]) WITH ORDINALITY \
                             AS u(i, a, d, b, h, n) ORDER BY n",
                        )
                        .bind(List(chunk.ids))
                        .bind(List(chunk.accounts))
                        .bind(List(chunk.dates))
                        .bind(List(chunk.bodies))
                        .bind(List(chunk.hashes))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlstore::Dialect::Sqlite => {
                        sqlx::query(
                            "INSERT INTO money_events \
                             (event_id, account_id, event_date, body, content_hash, recorded_at) \
                             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, \
                             value ->> 4, $2 FROM json_each($1) ORDER BY key",
                        )
                        .bind(chunk.sqlite_json()?)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            tx.commit().await?;
            summary
        });
        // The account ledger's part (dispute holds): after the commit, for duplicates too.
        self.after_money_import(&events, actor).await?;
        tracing::debug!(
            actor,
            new = summary.new,
            duplicates = summary.duplicates,
            "money events imported"
        );
        Ok(summary)
    }

    /// The stored events of `accounts` (all when `None`) as a book, in arrival order.
    pub async fn money_book(&self, accounts: Option<&[String]>) -> Result<Book> {
        let rows: Vec<MoneyRow> = with_pool!(self.db, p, D => match accounts {
            None => sqlx::query_as(
                "SELECT event_id, account_id, body FROM money_events ORDER BY seq")
                .fetch_all(p)
                .await?,
            Some(list) => sqlx::query_as(sql!(D,
                "SELECT event_id, account_id, body FROM money_events WHERE account_id "
                in_list(1) " ORDER BY seq"))
                .bind(List(list))
                .fetch_all(p)
                .await?,
        });
        book_of(&rows)
    }

    /// The replay report of the whole portfolio for the period `period_start..=as_of`: the
    /// same figures `receivables::replay` gives for the same events.
    pub async fn receivables_report(&self, period_start: Date, as_of: Date) -> Result<Report> {
        let book = self.money_book(None).await?;
        receivables::replay(&book, period_start, as_of).map_err(|e| {
            StoreError::Invalid(ledger_api::domain::ValidationError {
                field: "period_start".into(),
                message: e.to_string(),
            })
        })
    }

    /// One account's events and state as of `as_of`; NOT_FOUND when it has no events.
    pub async fn account_statement(&self, account_id: &str, as_of: Date) -> Result<Statement> {
        let book = self.money_book(Some(&[account_id.to_owned()])).await?;
        let account = book
            .account(account_id)
            .ok_or_else(|| StoreError::NotFound {
                field: "account_id",
                id: account_id.to_owned(),
            })?
            .clone();
        let state = account.state_as_of(as_of);
        Ok(Statement { account, state })
    }
}

/// The refusal of a batch the book refused at `e.index`: a conflicting id names the first
/// field that differs from the event imported before (stored, or earlier in the batch).
fn batch_refusal(book: &Book, events: &[Event], e: receivables::BatchError) -> StoreError {
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
