//! The outbox's SQL: one code path for PostgreSQL (production, possibly the ledger's own
//! database) and SQLite (the embedded default), chosen by URL, in the ledger store's style:
//! runtime `query_as` on two typed pools and a dispatch macro that instantiates one body per
//! dialect, so each is type-checked against its driver. What differs per dialect: the batch
//! write (PostgreSQL: one `INSERT .. SELECT FROM UNNEST` per statement kind; SQLite: cached
//! single-row statements inside one `BEGIN IMMEDIATE` transaction) and how a key list is bound
//! (`= ANY($1)` vs `json_each`).

use collections_proto::ledger_v1 as pb;
use prost::Message;
use sqlx::FromRow;

use super::OutboxError;
use crate::db::{Db, with_pool};
use crate::outcomes::{Unacknowledged, WriteKind};

type Result<T, E = OutboxError> = std::result::Result<T, E>;

/// Handle on the outbox tables; cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    db: Db,
}

/// The dialect only: a pool's connect options may hold the database password.
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect())
            .finish()
    }
}

/// SQL that differs between the dialects.
trait Dialect {
    /// Deletes the rows whose keys are in the list `$1`.
    const DELETE_KEYS: &'static str;
    /// (account, key, kind, state, outcome payload) of the rows about the accounts in the
    /// list `$1`.
    const OF_ACCOUNTS: &'static str;
}

impl Dialect for sqlx::Postgres {
    const DELETE_KEYS: &'static str =
        "DELETE FROM dialer_outbox WHERE idempotency_key = ANY($1::text[])";
    const OF_ACCOUNTS: &'static str = "SELECT account_id, idempotency_key, kind, state, \
         CASE WHEN kind = 'outcome' THEN payload END \
         FROM dialer_outbox WHERE account_id = ANY($1::text[])";
}

impl Dialect for sqlx::Sqlite {
    const DELETE_KEYS: &'static str = "DELETE FROM dialer_outbox \
         WHERE idempotency_key IN (SELECT value FROM json_each($1))";
    const OF_ACCOUNTS: &'static str = "SELECT account_id, idempotency_key, kind, state, \
         CASE WHEN kind = 'outcome' THEN payload END \
         FROM dialer_outbox WHERE account_id IN (SELECT value FROM json_each($1))";
}

/// Runs `$body` inside a write transaction `$tx` of either dialect (SQLite: `BEGIN IMMEDIATE`,
/// so a transaction never fails on upgrading a read lock to a write lock).
macro_rules! write_tx {
    ($store:expr, $tx:ident, $D:ident => $body:expr) => {
        match &$store.db {
            Db::Pg(p) => {
                #[allow(dead_code)]
                type $D = sqlx::Postgres;
                #[allow(unused_mut)]
                let mut $tx = p.begin().await?;
                $body
            }
            Db::Sqlite(p) => {
                #[allow(dead_code)]
                type $D = sqlx::Sqlite;
                #[allow(unused_mut)]
                let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
        }
    };
}

/// Which row a write is, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub key: String,
    pub kind: WriteKind,
    pub account: String,
    pub campaign: String,
}

/// What one batch does to one key (the writer folds a batch's calls per key first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// Insert a provisional row unless the key is present (a repeated begin, or a begin after
    /// the finish, changes nothing).
    Provisional { row: Row, payload: Vec<u8> },
    /// Insert or replace as ready with this payload and relay order.
    Ready {
        row: Row,
        payload: Vec<u8>,
        seq: i64,
    },
}

/// A ready row as the relay reads it.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct ReadyRow {
    pub idempotency_key: String,
    pub ready_seq: i64,
    /// `outcome`, `hold`, `promise` or `consent` (see [`WriteKind`]).
    pub kind: String,
    pub payload: Vec<u8>,
}

/// A row of the dead-letter table.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeadLetter {
    pub idempotency_key: String,
    /// The replica whose relay received the rejection.
    pub owner: String,
    /// `outcome`, `hold`, `promise` or `consent`.
    pub kind: String,
    /// Protobuf-encoded `collections.ledger.v1.ContactOutcome` (or `Hold`, `Promise`,
    /// `SetConsentRequest`, by kind), as it was sent.
    pub payload: Vec<u8>,
    /// gRPC code name the ledger gave, e.g. `NOT_FOUND`, `INVALID_ARGUMENT`.
    pub error_code: String,
    /// The offending field path, e.g. `number`.
    pub error_field: String,
    pub error_message: String,
    /// When the attempt was first written, microseconds since the epoch.
    pub created_at: i64,
    /// When the rejection arrived, microseconds since the epoch.
    pub dead_at: i64,
}

/// One rejection to move to the dead-letter table.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub key: String,
    pub code: String,
    pub field: String,
    pub message: String,
}

const INSERT_PROVISIONAL: &str = "INSERT INTO dialer_outbox (idempotency_key, owner, state, \
    ready_seq, payload, created_at, updated_at, kind, account_id, campaign_id) \
    VALUES ($1, $2, 'provisional', NULL, $3, $4, $4, $5, $6, $7) \
    ON CONFLICT (idempotency_key) DO NOTHING";

const UPSERT_READY: &str = "INSERT INTO dialer_outbox (idempotency_key, owner, state, \
    ready_seq, payload, created_at, updated_at, kind, account_id, campaign_id) \
    VALUES ($1, $2, 'ready', $3, $4, $5, $5, $6, $7, $8) \
    ON CONFLICT (idempotency_key) DO UPDATE SET state = 'ready', payload = excluded.payload, \
    ready_seq = excluded.ready_seq, updated_at = excluded.updated_at";

const INSERT_PROVISIONAL_PG: &str = "INSERT INTO dialer_outbox (idempotency_key, owner, state, \
    ready_seq, payload, created_at, updated_at, kind, account_id, campaign_id) \
    SELECT k, $2, 'provisional', NULL, p, $3, $3, t, a, c \
    FROM UNNEST($1::text[], $4::bytea[], $5::text[], $6::text[], $7::text[]) AS u(k, p, t, a, c) \
    ON CONFLICT (idempotency_key) DO NOTHING";

const UPSERT_READY_PG: &str = "INSERT INTO dialer_outbox (idempotency_key, owner, state, \
    ready_seq, payload, created_at, updated_at, kind, account_id, campaign_id) \
    SELECT k, $2, 'ready', s, p, $3, $3, t, a, c \
    FROM UNNEST($1::text[], $4::bytea[], $5::bigint[], $6::text[], $7::text[], $8::text[]) \
    AS u(k, p, s, t, a, c) \
    ON CONFLICT (idempotency_key) DO UPDATE SET state = 'ready', payload = excluded.payload, \
    ready_seq = excluded.ready_seq, updated_at = excluded.updated_at";

impl Store {
    /// Connects to `postgres://...` or `sqlite:...` and applies pending migrations.
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        Ok(Store {
            db: crate::db::connect(url, 8).await?,
        })
    }

    pub(crate) fn dialect(&self) -> &'static str {
        self.db.dialect()
    }

    pub(crate) async fn close(&self) {
        self.db.close().await
    }

    /// Highest relay order used so far (0 when none), so a restarted writer continues above it.
    pub(crate) async fn max_ready_seq(&self) -> Result<i64> {
        let (v,): (Option<i64>,) = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT max(ready_seq) FROM dialer_outbox").fetch_one(p).await?
        });
        Ok(v.unwrap_or(0))
    }

    /// Applies one folded batch (at most one write per key) in one transaction.
    pub(crate) async fn apply(&self, owner: &str, writes: &[Write], now: i64) -> Result<()> {
        match &self.db {
            Db::Pg(p) => {
                // Key order inside each statement: two processes writing overlapping keys
                // take the index locks in one order and cannot deadlock.
                let mut prov: Vec<(&Row, &[u8])> = Vec::new();
                let mut ready: Vec<(&Row, &[u8], i64)> = Vec::new();
                for w in writes {
                    match w {
                        Write::Provisional { row, payload } => prov.push((row, payload)),
                        Write::Ready { row, payload, seq } => ready.push((row, payload, *seq)),
                    }
                }
                prov.sort_unstable_by(|a, b| a.0.key.cmp(&b.0.key));
                ready.sort_unstable_by(|a, b| a.0.key.cmp(&b.0.key));
                macro_rules! col {
                    ($v:expr, $e:expr) => {
                        $v.iter().map($e).collect::<Vec<_>>()
                    };
                }
                let mut tx = p.begin().await?;
                if !prov.is_empty() {
                    sqlx::query(INSERT_PROVISIONAL_PG)
                        .bind(col!(prov, |w| w.0.key.as_str()))
                        .bind(owner)
                        .bind(now)
                        .bind(col!(prov, |w| w.1))
                        .bind(col!(prov, |w| w.0.kind.as_str()))
                        .bind(col!(prov, |w| w.0.account.as_str()))
                        .bind(col!(prov, |w| w.0.campaign.as_str()))
                        .execute(&mut *tx)
                        .await?;
                }
                if !ready.is_empty() {
                    sqlx::query(UPSERT_READY_PG)
                        .bind(col!(ready, |w| w.0.key.as_str()))
                        .bind(owner)
                        .bind(now)
                        .bind(col!(ready, |w| w.1))
                        .bind(col!(ready, |w| w.2))
                        .bind(col!(ready, |w| w.0.kind.as_str()))
                        .bind(col!(ready, |w| w.0.account.as_str()))
                        .bind(col!(ready, |w| w.0.campaign.as_str()))
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Db::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                for w in writes {
                    match w {
                        Write::Provisional { row, payload } => {
                            sqlx::query(INSERT_PROVISIONAL)
                                .bind(&row.key)
                                .bind(owner)
                                .bind(payload)
                                .bind(now)
                                .bind(row.kind.as_str())
                                .bind(&row.account)
                                .bind(&row.campaign)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Write::Ready { row, payload, seq } => {
                            sqlx::query(UPSERT_READY)
                                .bind(&row.key)
                                .bind(owner)
                                .bind(seq)
                                .bind(payload)
                                .bind(now)
                                .bind(row.kind.as_str())
                                .bind(&row.account)
                                .bind(&row.campaign)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The rows about `accounts`, of every owner: writes the ledger has not acknowledged, with
    /// the outcome of outcome rows.
    pub(crate) async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        type OfAccount = (String, String, String, String, Option<Vec<u8>>);
        let rows: Vec<OfAccount> = match &self.db {
            Db::Pg(p) => {
                sqlx::query_as(<sqlx::Postgres as Dialect>::OF_ACCOUNTS)
                    .bind(accounts)
                    .fetch_all(p)
                    .await?
            }
            Db::Sqlite(p) => {
                sqlx::query_as(<sqlx::Sqlite as Dialect>::OF_ACCOUNTS)
                    .bind(serde_json::Value::from(accounts).to_string())
                    .fetch_all(p)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(account_id, key, kind, state, payload)| Unacknowledged {
                account_id,
                key,
                // An unknown kind (a newer dialer's row) is treated as the strictest: a hold.
                kind: WriteKind::parse(&kind).unwrap_or(WriteKind::Hold),
                provisional: state == "provisional",
                // Undecodable (the relay dead-letters it): listed, without an outcome.
                outcome: payload
                    .and_then(|p| pb::ContactOutcome::decode(p.as_slice()).ok())
                    .and_then(|o| ledger_api::wire::outcome_from_pb(o).ok()),
            })
            .collect())
    }

    /// Provisional rows of `campaign` of the `owners` (their calls in progress).
    pub(crate) async fn open_calls(&self, campaign: &str, owners: &[String]) -> Result<u64> {
        if owners.is_empty() {
            return Ok(0);
        }
        let (n,): (i64,) = match &self.db {
            Db::Pg(p) => {
                sqlx::query_as(
                    "SELECT count(*) FROM dialer_outbox WHERE campaign_id = $1 \
                     AND state = 'provisional' AND owner = ANY($2::text[])",
                )
                .bind(campaign)
                .bind(owners)
                .fetch_one(p)
                .await?
            }
            Db::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT count(*) FROM dialer_outbox WHERE campaign_id = $1 \
                     AND state = 'provisional' AND owner IN (SELECT value FROM json_each($2))",
                )
                .bind(campaign)
                .bind(serde_json::Value::from(owners).to_string())
                .fetch_one(p)
                .await?
            }
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` ready rows of `owner` after the relay-order cursor `(seq, key)` (from the
    /// start when `None`), in relay order.
    pub(crate) async fn fetch_ready(
        &self,
        owner: &str,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ReadyRow>> {
        let (seq, key) = after.map_or((i64::MIN, ""), |(s, k)| (*s, k.as_str()));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT idempotency_key, ready_seq, kind, payload FROM dialer_outbox \
                 WHERE owner = $1 AND state = 'ready' AND (ready_seq, idempotency_key) > ($2, $3) \
                 ORDER BY ready_seq, idempotency_key LIMIT $4",
            )
            .bind(owner)
            .bind(seq)
            .bind(key)
            .bind(limit)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Deletes acknowledged rows.
    pub(crate) async fn delete(&self, keys: &[String]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let n = match &self.db {
            Db::Pg(p) => sqlx::query(<sqlx::Postgres as Dialect>::DELETE_KEYS)
                .bind(keys)
                .execute(p)
                .await?
                .rows_affected(),
            Db::Sqlite(p) => sqlx::query(<sqlx::Sqlite as Dialect>::DELETE_KEYS)
                .bind(serde_json::Value::from(keys).to_string())
                .execute(p)
                .await?
                .rows_affected(),
        };
        Ok(n)
    }

    /// Moves rejected rows to the dead-letter table, in one transaction. A key already there
    /// (rejected before, requeued, rejected again) gets the new error.
    pub(crate) async fn dead_letter(&self, rejected: &[Rejection], now: i64) -> Result<u64> {
        if rejected.is_empty() {
            return Ok(0);
        }
        let n = write_tx!(self, tx, D => {
            let mut n = 0;
            for r in rejected {
                n += sqlx::query(
                    "INSERT INTO dialer_outbox_dead (idempotency_key, owner, payload, error_code, \
                     error_field, error_message, created_at, dead_at, kind, account_id, \
                     campaign_id) \
                     SELECT idempotency_key, owner, payload, $2, $3, $4, created_at, $5, kind, \
                     account_id, campaign_id FROM dialer_outbox WHERE idempotency_key = $1 \
                     ON CONFLICT (idempotency_key) DO UPDATE SET owner = excluded.owner, \
                     payload = excluded.payload, kind = excluded.kind, \
                     error_code = excluded.error_code, \
                     error_field = excluded.error_field, error_message = excluded.error_message, \
                     dead_at = excluded.dead_at",
                )
                .bind(&r.key)
                .bind(&r.code)
                .bind(&r.field)
                .bind(&r.message)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM dialer_outbox WHERE idempotency_key = $1")
                    .bind(&r.key)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// Marks `dead_owner`'s provisional rows ready (relay order `seq`, ties by key) and moves
    /// all of its rows to `new_owner`. Returns (provisional rows published, ready rows adopted).
    pub(crate) async fn recover(
        &self,
        dead_owner: &str,
        new_owner: &str,
        seq: i64,
        now: i64,
    ) -> Result<(u64, u64)> {
        let r = write_tx!(self, tx, D => {
            let published = sqlx::query(
                "UPDATE dialer_outbox SET state = 'ready', ready_seq = $3, owner = $2, \
                 updated_at = $4 WHERE owner = $1 AND state = 'provisional'",
            )
            .bind(dead_owner)
            .bind(new_owner)
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let adopted = if dead_owner == new_owner {
                0
            } else {
                sqlx::query(
                    "UPDATE dialer_outbox SET owner = $2, updated_at = $3 \
                     WHERE owner = $1 AND state = 'ready'",
                )
                .bind(dead_owner)
                .bind(new_owner)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            tx.commit().await?;
            (published, adopted)
        });
        Ok(r)
    }

    /// Rows of `owner` by state: (provisional, ready).
    pub(crate) async fn counts(&self, owner: &str) -> Result<(u64, u64)> {
        let rows: Vec<(String, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT state, count(*) FROM dialer_outbox WHERE owner = $1 GROUP BY state",
            )
            .bind(owner)
            .fetch_all(p)
            .await?
        });
        let mut out = (0, 0);
        for (state, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match state.as_str() {
                "provisional" => out.0 = n,
                _ => out.1 = n,
            }
        }
        Ok(out)
    }

    /// Rows in the dead-letter table (all owners).
    pub(crate) async fn dead_count(&self) -> Result<u64> {
        let (n,): (i64,) = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT count(*) FROM dialer_outbox_dead").fetch_one(p).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Up to `limit` dead letters, oldest rejection first.
    pub(crate) async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>> {
        let rows = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT idempotency_key, owner, kind, payload, error_code, error_field, \
                 error_message, created_at, dead_at FROM dialer_outbox_dead \
                 ORDER BY dead_at, idempotency_key LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Moves dead letters back to the outbox as ready rows of `owner` (after an operator fixed
    /// the cause, e.g. loaded the missing account). Keys already in the outbox are left alone.
    pub(crate) async fn requeue_dead(
        &self,
        keys: &[String],
        owner: &str,
        seq: i64,
        now: i64,
    ) -> Result<u64> {
        let n = write_tx!(self, tx, D => {
            let mut n = 0;
            for k in keys {
                let moved = sqlx::query(
                    "INSERT INTO dialer_outbox (idempotency_key, owner, state, ready_seq, payload, \
                     created_at, updated_at, kind, account_id, campaign_id) \
                     SELECT idempotency_key, $2, 'ready', $3, payload, created_at, $4, kind, \
                     account_id, campaign_id \
                     FROM dialer_outbox_dead WHERE idempotency_key = $1 \
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(k)
                .bind(owner)
                .bind(seq)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM dialer_outbox_dead WHERE idempotency_key = $1")
                    .bind(k)
                    .execute(&mut *tx)
                    .await?;
                n += moved;
            }
            tx.commit().await?;
            n
        });
        Ok(n)
    }
}
