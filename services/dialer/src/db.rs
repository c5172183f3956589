//! The dialer's own database (outbox, campaigns): one way to connect to it, PostgreSQL in
//! production or SQLite embedded, with the dialer's migrations applied. The outbox and the
//! campaign store each hold a [`Db`] and keep their own SQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

static PG_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/dialer/postgres");
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../../migrations/dialer/sqlite");

/// A connection pool of either dialect.
#[derive(Debug, Clone)]
pub enum Db {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

/// Why the dialer's database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL, redacted.
    #[error("unsupported database url {0} (want postgres://... or sqlite:...)")]
    Url(String),
}

/// `m` with `ignore_missing`: the dialer may share a database (and so sqlx's
/// `_sqlx_migrations` table) with the ledger, whose versions it does not know (see
/// docs/outbox.md).
fn shared_db_migrator(m: &Migrator) -> Migrator {
    let mut m = Migrator::with_migrations(m.iter().cloned().collect());
    m.set_ignore_missing(true);
    m
}

/// Connects to `postgres://...` (at most `pg_connections`) or `sqlite:...` and applies the
/// dialer's pending migrations.
pub async fn connect(url: &str, pg_connections: u32) -> Result<Db, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = PgPoolOptions::new()
            .max_connections(pg_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        shared_db_migrator(&PG_MIGRATOR).run(&pool).await?;
        Ok(Db::Pg(pool))
    } else if url.starts_with("sqlite:") {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        if !memory {
            // WAL + FULL: a committed write (an awaited begin or finish) survives a crash of
            // the process and of the machine.
            opts = opts
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep exactly one.
            .max_connections(if memory { 1 } else { 4 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        shared_db_migrator(&SQLITE_MIGRATOR).run(&pool).await?;
        Ok(Db::Sqlite(pool))
    } else {
        Err(DbError::Url(ledger_api::redact::url(url)))
    }
}

/// Runs `$body` with `$p` bound to the pool of either dialect of the [`Db`] `$db` and `$D`
/// to its database type: one body, type-checked against each driver. (Placeholders `$1`,
/// `$2`, ... read the same in both.)
macro_rules! with_pool {
    ($db:expr, $p:ident, $D:ident => $body:expr) => {
        match &$db {
            $crate::db::Db::Pg($p) => {
                #[allow(dead_code)]
                type $D = sqlx::Postgres;
                $body
            }
            $crate::db::Db::Sqlite($p) => {
                #[allow(dead_code)]
                type $D = sqlx::Sqlite;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

impl Db {
    /// `postgres` or `sqlite`.
    pub fn dialect(&self) -> &'static str {
        match self {
            Db::Pg(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Pg(p) => p.close().await,
            Db::Sqlite(p) => p.close().await,
        }
    }
}
