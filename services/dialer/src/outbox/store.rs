//! The outbox's SQL: one code path for PostgreSQL (production, possibly the ledger's own
//! database) and SQLite (the embedded default), chosen by URL, on the shared store layer
//! (`sqlstore`): each query written once, its body instantiated per dialect by
//! `with_pool!`/`write_tx!`, so each is type-checked against its driver. What differs per
//! dialect is how a batch is bound (PostgreSQL: one `INSERT .. SELECT FROM UNNEST` of arrays
//! per statement kind; SQLite: the same statement, cached, once per row inside one
//! `BEGIN IMMEDIATE` transaction) and how a key list is bound (`sqlstore::List`).

use std::collections::HashMap;

use collections_proto::ledger_v1 as pb;
use prost::Message;
use sqlstore::{Db, List, PoolSize, sql, with_pool, write_tx};
use sqlx::FromRow;

use super::OutboxError;
use crate::outcomes::{Unacknowledged, WriteKind};

type Result<T, E = OutboxError> = std::result::Result<T, E>;

/// Handle on the outbox tables; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    db: Db,
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

/// Which rows [`Store::take_over`] takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope<'a> {
    /// Every row of one owner (a restarted replica's own, or a dead replica's).
    Owner(&'a str),
    /// A campaign's rows of every other owner (a takeover adopting the previous holder's).
    Campaign(&'a str),
    /// One owner's rows of one campaign (a stale holder handing them to the holder).
    OwnerCampaign(&'a str, &'a str),
}

/// A ready row as the relay reads it.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct ReadyRow {
    pub idempotency_key: String,
    pub ready_seq: i64,
    /// `outcome`, `hold`, `promise`, `consent` or `plan` (see [`WriteKind`]).
    pub kind: String,
    pub payload: Vec<u8>,
    /// The campaign it was written for (its lease's token fences the send).
    pub campaign_id: String,
}

/// A row of the dead-letter table.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeadLetter {
    pub idempotency_key: String,
    /// The replica whose relay received the rejection.
    pub owner: String,
    /// `outcome`, `hold`, `promise`, `consent` or `plan`.
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

/// One row of a batch, as `upsert_rows!` binds it.
#[derive(Debug, Clone, Copy)]
struct Part<'a> {
    key: &'a str,
    payload: &'a [u8],
    /// Relay order; `None` while provisional.
    seq: Option<i64>,
    kind: &'static str,
    account: &'a str,
    campaign: &'a str,
}

impl<'a> Part<'a> {
    fn of(row: &'a Row, payload: &'a [u8], seq: Option<i64>) -> Self {
        Part {
            key: &row.key,
            payload,
            seq,
            kind: row.kind.as_str(),
            account: &row.account,
            campaign: &row.campaign,
        }
    }
}

/// Inserts outbox rows in state `$state` from `$1` key, `$2` owner, `$3` now, `$4` payload,
/// `$5` relay order, `$6` kind, `$7` account, `$8` campaign, then `$on_conflict`. PostgreSQL
/// binds the per-row parameters as arrays (a batch in one statement), SQLite one row's values.
macro_rules! upsert_rows {
    ($D:ty, $state:literal, $on_conflict:literal) => {
        sql!($D,
            "INSERT INTO dialer_outbox (idempotency_key, owner, state, ready_seq, payload, \
             created_at, updated_at, kind, account_id, campaign_id) \
             SELECT k, $2, '" $state "', s, p, $3, $3, t, a, c FROM "
            per_dialect(
                "UNNEST($1::text[], $4::bytea[], $5::bigint[], $6::text[], $7::text[], \
                 $8::text[]) AS u(k, p, s, t, a, c)",
                "(SELECT $1 AS k, $4 AS p, $5 AS s, $6 AS t, $7 AS a, $8 AS c)")
            " WHERE true ON CONFLICT (idempotency_key) " $on_conflict)
    };
}

/// Binds `upsert_rows!`'s parameters, each per-row one as `$v!(field)`.
macro_rules! bind_parts {
    ($q:expr, $owner:expr, $now:expr, $v:ident) => {
        $q.bind($v!(key))
            .bind($owner)
            .bind($now)
            .bind($v!(payload))
            .bind($v!(seq))
            .bind($v!(kind))
            .bind($v!(account))
            .bind($v!(campaign))
    };
}

/// One `upsert_rows!` statement and the rows it writes.
#[derive(Debug)]
struct Upsert<'a> {
    sql: &'static str,
    parts: &'a [Part<'a>],
    owner: &'a str,
    now: i64,
}

/// How a batch of rows reaches its statement in a dialect.
trait Batch: sqlx::Database {
    async fn run(u: &Upsert<'_>, conn: &mut Self::Connection) -> Result<()>;
}

/// One statement for the whole batch, each per-row parameter an array.
impl Batch for sqlx::Postgres {
    async fn run(u: &Upsert<'_>, conn: &mut sqlx::PgConnection) -> Result<()> {
        macro_rules! column {
            ($f:ident) => {
                u.parts.iter().map(|p| p.$f).collect::<Vec<_>>()
            };
        }
        bind_parts!(sqlx::query(u.sql), u.owner, u.now, column)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The statement once per row (SQLite binds no arrays; cached, in-process, this is fast).
impl Batch for sqlx::Sqlite {
    async fn run(u: &Upsert<'_>, conn: &mut sqlx::SqliteConnection) -> Result<()> {
        for p in u.parts {
            macro_rules! value {
                ($f:ident) => {
                    p.$f
                };
            }
            let q = bind_parts!(sqlx::query(u.sql), u.owner, u.now, value);
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Connects to `postgres://...` or `sqlite:...` and applies pending migrations.
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let size = PoolSize {
            postgres: 8,
            sqlite: 4,
        };
        Ok(Store {
            db: Db::open(url, size, &crate::db::MIGRATIONS).await?,
        })
    }

    pub(crate) fn dialect(&self) -> &'static str {
        self.db.dialect().name()
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

    /// Applies one folded batch (at most one write per key) in one transaction: provisional
    /// rows (a key already present is left as it is), then ready ones (inserted or replaced).
    ///
    /// `fences` are the campaign leases the batch's writers held, (campaign, fencing token):
    /// the transaction first locks those campaigns' rows and reads their current tokens; if
    /// any writer's token is below its campaign's (another replica took the campaign over),
    /// nothing is written and the current tokens are returned (`Some`) for the caller to drop
    /// the stale writes and try the rest. The row lock orders the batch against a takeover:
    /// a takeover commits either before (the batch sees its token) or after (it then sees,
    /// and adopts, the rows this batch wrote).
    pub(crate) async fn apply(
        &self,
        owner: &str,
        writes: &[Write],
        now: i64,
        fences: &[(String, i64)],
    ) -> Result<Option<HashMap<String, i64>>> {
        let mut prov = Vec::new();
        let mut ready = Vec::new();
        for w in writes {
            match w {
                Write::Provisional { row, payload } => prov.push(Part::of(row, payload, None)),
                Write::Ready { row, payload, seq } => {
                    ready.push(Part::of(row, payload, Some(*seq)))
                }
            }
        }
        // Key order inside each statement: two processes writing overlapping keys take the
        // index locks in one order and cannot deadlock.
        prov.sort_unstable_by_key(|p| p.key);
        ready.sort_unstable_by_key(|p| p.key);
        let campaigns: Vec<String> = {
            let mut c: Vec<String> = fences.iter().map(|(c, _)| c.clone()).collect();
            c.sort_unstable();
            c.dedup();
            c
        };
        let stale = write_tx!(self.db, tx, D => {
            if !campaigns.is_empty() {
                // A no-op update: it takes the campaigns' row locks (PostgreSQL; SQLite's
                // BEGIN IMMEDIATE serializes writers anyway) and reads the tokens under them.
                let current: Vec<(String, i64)> = sqlx::query_as(sql!(D,
                    "UPDATE dialer_campaigns SET lease_token = lease_token \
                     WHERE campaign_id " in_list(1) " RETURNING campaign_id, lease_token"))
                .bind(List(&campaigns))
                .fetch_all(&mut *tx)
                .await?;
                let current: HashMap<String, i64> = current.into_iter().collect();
                if fences
                    .iter()
                    .any(|(c, t)| current.get(c).is_some_and(|cur| t < cur))
                {
                    tx.rollback().await?;
                    return Ok(Some(current));
                }
            }
            let statements = [
                (prov, upsert_rows!(D, "provisional", "DO NOTHING")),
                (ready, upsert_rows!(D, "ready",
                    "DO UPDATE SET state = 'ready', payload = excluded.payload, \
                     ready_seq = excluded.ready_seq, updated_at = excluded.updated_at")),
            ];
            for (parts, sql) in statements {
                if !parts.is_empty() {
                    let u = Upsert { sql, parts: &parts, owner, now };
                    <D as Batch>::run(&u, &mut tx).await?;
                }
            }
            tx.commit().await?;
            None
        });
        Ok(stale)
    }

    /// The rows about `accounts`, of every owner: writes the ledger has not acknowledged, with
    /// the outcome of outcome rows.
    pub(crate) async fn unacknowledged(&self, accounts: &[String]) -> Result<Vec<Unacknowledged>> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        type OfAccount = (String, String, String, String, Option<Vec<u8>>);
        let rows: Vec<OfAccount> = with_pool!(self.db, p, D => {
            sqlx::query_as(sql!(D,
                "SELECT account_id, idempotency_key, kind, state, \
                 CASE WHEN kind = 'outcome' THEN payload END \
                 FROM dialer_outbox WHERE account_id " in_list(1)))
            .bind(List(accounts))
            .fetch_all(p)
            .await?
        });
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
        let (n,): (i64,) = with_pool!(self.db, p, D => {
            sqlx::query_as(sql!(D,
                "SELECT count(*) FROM dialer_outbox WHERE campaign_id = $1 \
                 AND state = 'provisional' AND owner " in_list(2)))
            .bind(campaign)
            .bind(List(owners))
            .fetch_one(p)
            .await?
        });
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
                "SELECT idempotency_key, ready_seq, kind, payload, campaign_id FROM dialer_outbox \
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
        let n = with_pool!(self.db, p, D => {
            sqlx::query(sql!(D, "DELETE FROM dialer_outbox WHERE idempotency_key " in_list(1)))
                .bind(List(keys))
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Moves rejected rows to the dead-letter table, in one transaction. A key already there
    /// (rejected before, requeued, rejected again) gets the new error.
    pub(crate) async fn dead_letter(&self, rejected: &[Rejection], now: i64) -> Result<u64> {
        if rejected.is_empty() {
            return Ok(0);
        }
        let n = write_tx!(self.db, tx, D => {
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

    /// Publishes the provisional rows in `scope` as they are (ready, relay order `seq`, ties
    /// by key) and moves every row in it to `new_owner`, in one transaction: a restarted
    /// replica recovering its own calls, a replica taking a dead one's rows, or a takeover
    /// adopting a campaign (the previous holder's later writes for it are refused by the
    /// fencing token, [`Store::apply`], so a call published here is never recorded twice).
    /// Returns (provisional rows published, ready rows of another owner adopted).
    pub(crate) async fn take_over(
        &self,
        scope: Scope<'_>,
        new_owner: &str,
        seq: i64,
        now: i64,
    ) -> Result<(u64, u64)> {
        // Publish binds $1 new owner, $2 now, $3 seq; adopt $1, $2; the scope's values follow.
        macro_rules! statements {
            ($publish:literal, $adopt:literal) => {
                (
                    concat!(
                        "UPDATE dialer_outbox SET state = 'ready', ready_seq = $3, owner = $1, \
                         updated_at = $2 WHERE state = 'provisional' AND ",
                        $publish
                    ),
                    concat!(
                        "UPDATE dialer_outbox SET owner = $1, updated_at = $2 \
                         WHERE state = 'ready' AND owner <> $1 AND ",
                        $adopt
                    ),
                )
            };
        }
        let ((publish, adopt), values) = match scope {
            Scope::Owner(o) => (statements!("owner = $4", "owner = $3"), vec![o]),
            Scope::Campaign(c) => (
                statements!("campaign_id = $4 AND owner <> $1", "campaign_id = $3"),
                vec![c],
            ),
            Scope::OwnerCampaign(o, c) => (
                statements!(
                    "owner = $4 AND campaign_id = $5",
                    "owner = $3 AND campaign_id = $4"
                ),
                vec![o, c],
            ),
        };
        let r = write_tx!(self.db, tx, D => {
            let mut q = sqlx::query(publish).bind(new_owner).bind(now).bind(seq);
            for v in &values {
                q = q.bind(*v);
            }
            let published = q.execute(&mut *tx).await?.rows_affected();
            let mut q = sqlx::query(adopt).bind(new_owner).bind(now);
            for v in &values {
                q = q.bind(*v);
            }
            let adopted = q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            (published, adopted)
        });
        Ok(r)
    }

    /// The replica holding `campaign`'s lease now (empty: none).
    pub(crate) async fn lease_holder(&self, campaign: &str) -> Result<String> {
        let row: Option<(String,)> = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT lease_owner FROM dialer_campaigns WHERE campaign_id = $1")
                .bind(campaign)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(o,)| o).unwrap_or_default())
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
        let n = write_tx!(self.db, tx, D => {
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
