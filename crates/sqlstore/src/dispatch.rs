//! One query body for both pools: the macros instantiate the body once per driver, so each
//! copy is type-checked against its driver's encodings while the source is written once.

/// Runs `$body` with `$p` bound to the pool of the [`Db`](crate::Db) `$db` and `$D` to its
/// database type (a [`Driver`](crate::Driver): `sql!($D, ...)` renders its SQL).
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $p:ident, $D:ident => $body:expr) => {
        match &$db {
            $crate::Db::Pg($p) => {
                #[allow(dead_code)]
                type $D = $crate::__sqlx::Postgres;
                $body
            }
            $crate::Db::Sqlite($p) => {
                #[allow(dead_code)]
                type $D = $crate::__sqlx::Sqlite;
                $body
            }
        }
    };
}

/// Runs `$body` inside a write transaction `$tx` on the [`Db`](crate::Db) `$db`, `$D` bound
/// as in [`with_pool!`]. SQLite's begins with `BEGIN IMMEDIATE`, so a transaction that reads
/// then writes never fails on upgrading its read lock. The body commits; `?` rolls back.
#[macro_export]
macro_rules! write_tx {
    ($db:expr, $tx:ident, $D:ident => $body:expr) => {
        $crate::with_pool!($db, pool, $D => {
            #[allow(unused_mut)]
            let mut $tx = pool.begin_with(<$D as $crate::Driver>::BEGIN_WRITE).await?;
            $body
        })
    };
}
