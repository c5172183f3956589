//! Store plumbing shared by the services: one way to open a PostgreSQL or SQLite database,
//! write a query once for both, and migrate either from one file per migration.
//!
//! The crate knows SQL and pools, never a service's domain: the ledger's and the dialer's
//! stores keep their tables, rows and queries, and come here for what every store needs.
//!
//! # Layout
//!
//! - `pool`: [`Db`], a pool of either dialect opened from a URL, with migrations applied.
//! - `dialect`: [`Dialect`], [`Driver`], [`sql!`]: the SQL that differs, one text per dialect.
//! - `dispatch`: [`with_pool!`], [`write_tx!`]: one query body run on either pool.
//! - `list`: [`List`], an id list bound as one parameter (an array, or JSON on SQLite).
//! - `rows`: [`Rows`], the rows of a multi-row write bound as one array per column (or one
//!   JSON array on SQLite), read by `select_rows(..)` of [`sql!`].
//! - `migrate`: [`Migrations`], one file per migration, rendered per dialect byte-for-byte.
//! - `error`: [`OpenError`], why a database could not be opened.
//! - [`scratch`]: throw-away PostgreSQL databases for tests, schema checks and benchmarks.
//!
//! # Writing a query once
//!
//! ```no_run
//! # async fn f(db: &sqlstore::Db, ids: &[String]) -> Result<(), sqlx::Error> {
//! let n: i64 = sqlstore::with_pool!(db, p, D => {
//!     sqlx::query_scalar(sqlstore::sql!(D, "SELECT count(*) FROM t WHERE id " in_list(1)))
//!         .bind(sqlstore::List(ids))
//!         .fetch_one(p)
//!         .await?
//! });
//! # Ok(()) }
//! ```
//!
//! The body is compiled once per driver (so each instance is type-checked against its
//! driver's encodings), and `$1`-style placeholders, `ON CONFLICT` and `RETURNING` read the
//! same in both dialects. See docs/architecture.md ("One store layer") for why a dialect
//! trait rather than sqlx's `Any` driver.

mod dialect;
mod dispatch;
mod error;
mod list;
pub mod migrate;
mod pool;
mod rows;
pub mod scratch;

pub use dialect::{Dialect, Driver};
pub use error::OpenError;
pub use list::List;
pub use migrate::Migrations;
pub use pool::{Db, PoolSize};
pub use rows::{BindRows, Rows};

/// The sqlx this crate was built with, for the macros' paths.
#[doc(hidden)]
pub use sqlx as __sqlx;
