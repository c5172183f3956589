//! A pool of either dialect, opened from a URL with the options every service uses, with the
//! service's migrations applied.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::{Dialect, Migrations, OpenError};

/// A connection pool of either dialect; cheap to clone. Run a query on it with
/// [`with_pool!`](crate::with_pool!) or [`write_tx!`](crate::write_tx!).
#[derive(Clone)]
pub enum Db {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

/// The dialect only: a pool's connect options may hold the database password.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Db").field(&self.dialect()).finish()
    }
}

/// Connections a pool may open, per dialect (a service's PostgreSQL pool is shared by its
/// replicas' load; SQLite has one writer, a few readers are plenty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    pub postgres: u32,
    pub sqlite: u32,
}

impl Db {
    /// Connects to `postgres://...` or `sqlite:...` and applies `migrations`' pending ones.
    ///
    /// SQLite files run in WAL mode with `synchronous=FULL` (a committed transaction survives
    /// a crash of the process and of the machine), foreign keys on, and wait up to 30 s for
    /// a lock; an in-memory database keeps exactly one connection (it exists once per
    /// connection). PostgreSQL waits up to 30 s for a free connection.
    pub async fn open(url: &str, size: PoolSize, migrations: &Migrations) -> Result<Db, OpenError> {
        let db = match Dialect::of_url(url) {
            Some(Dialect::Postgres) => Db::Pg(
                PgPoolOptions::new()
                    .max_connections(size.postgres)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?,
            ),
            Some(Dialect::Sqlite) => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                let mut opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                if !memory {
                    opts = opts
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full);
                }
                Db::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(if memory { 1 } else { size.sqlite })
                        .min_connections(if memory { 1 } else { 0 })
                        .idle_timeout(None)
                        .max_lifetime(None)
                        .connect_with(opts)
                        .await?,
                )
            }
            None => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(OpenError::Url(scheme.to_owned()));
            }
        };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// Applies `migrations`' pending ones (with sqlx's `ignore_missing`, see
    /// [`Migrations::migrator`]).
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), OpenError> {
        let m = migrations.migrator(self.dialect())?;
        crate::with_pool!(self, p, D => m.run(p).await?);
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Pg(_) => Dialect::Postgres,
            Db::Sqlite(_) => Dialect::Sqlite,
        }
    }

    pub async fn close(&self) {
        crate::with_pool!(self, p, D => p.close().await)
    }
}
