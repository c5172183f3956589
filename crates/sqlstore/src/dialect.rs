//! The two SQL dialects: which one a database speaks ([`Dialect`], a value) and the SQL that
//! differs between them ([`Driver`], implemented by sqlx's two database types, and the
//! fragments of [`sql!`](crate::sql!)).

/// Which SQL a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Production: concurrent writers, replicas, online backups.
    Postgres,
    /// The embedded default: one file, one writer, nothing to install.
    Sqlite,
}

impl Dialect {
    /// Both, in a fixed order (tests and migrations iterate them).
    pub const ALL: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

    /// `postgres` or `sqlite`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// The dialect a database URL names (`postgres://`, `postgresql://`, `sqlite:`).
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Dialect::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else {
            None
        }
    }
}

/// A database type with its dialect: what a query body instantiated by
/// [`with_pool!`](crate::with_pool!) knows as `D`.
pub trait Driver: sqlx::Database {
    const DIALECT: Dialect;

    /// Takes the transaction-scoped writer lock numbered `$1`, held until the transaction
    /// ends. PostgreSQL: an advisory lock. SQLite: nothing to take, its writers are already
    /// one at a time (`BEGIN IMMEDIATE`, see [`write_tx!`](crate::write_tx!)).
    const WRITER_LOCK: &'static str;

    /// What a write transaction begins with (see [`write_tx!`](crate::write_tx!)). SQLite:
    /// `BEGIN IMMEDIATE`, the write lock at once, so a transaction that reads then writes
    /// never fails on upgrading its read lock.
    const BEGIN_WRITE: &'static str;

    /// The text of this dialect among the two renderings [`sql!`](crate::sql!) makes.
    fn pick(postgres: &'static str, sqlite: &'static str) -> &'static str {
        match Self::DIALECT {
            Dialect::Postgres => postgres,
            Dialect::Sqlite => sqlite,
        }
    }
}

impl Driver for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const WRITER_LOCK: &'static str = "SELECT pg_advisory_xact_lock($1)";
    const BEGIN_WRITE: &'static str = "BEGIN";
}

impl Driver for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const WRITER_LOCK: &'static str = "SELECT $1";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
}

/// One SQL text, written once, as the dialect of the driver `D` reads it: a `&'static str`
/// (both renderings are made at compile time).
///
/// The text is a sequence of string literals, macro calls that expand to literals (a shared
/// column list), and these fragments where the dialects differ:
///
/// | fragment | PostgreSQL | SQLite |
/// |---|---|---|
/// | `in_list(N)` | `= ANY($N)` | `IN (SELECT value FROM json_each($N))` |
/// | `list_rows(N)` | `UNNEST($N) AS l(value)` | `json_each($N)` |
/// | `greatest` | `GREATEST` | `MAX` |
/// | `per_dialect("A", "B")` | `A` | `B` |
/// | `select_rows(text, bigint, ..)` | `SELECT c1, c2 FROM UNNEST($1::text[], $2::int8[]) WITH ORDINALITY AS r(c1, c2, n) WHERE true ORDER BY n` | `SELECT value ->> 0 AS c1, value ->> 1 AS c2 FROM json_each($1) WHERE true ORDER BY key` |
///
/// `$N` of `in_list` and `list_rows` is bound to a [`List`](crate::List). `list_rows` is a
/// row source with one column, `value`; an upsert selecting from it needs a `WHERE` clause
/// (SQLite reads `ON CONFLICT` after a bare `FROM` as a join). `per_dialect` is for what no
/// fragment names yet, such as a multi-column row source (`UNNEST` of arrays on PostgreSQL,
/// one row of parameters on SQLite).
///
/// `select_rows(..)` is the row source of a multi-row write: its column types (`text`, `int`,
/// `bigint`, `bool`, at most 31) in the order of the [`Rows`](crate::Rows) bound to it with
/// [`BindRows`](crate::BindRows), which are the statement's only parameters (`$1` up to the
/// number of columns on PostgreSQL, `$1` on SQLite). Rows come out in the order given, their
/// columns named `c1`, `c2`, ... (so it can also be a subquery: `FROM (select_rows(..)) AS m`).
///
/// ```
/// # use sqlstore::{sql, Driver};
/// fn q<D: Driver>() -> &'static str {
///     sql!(D, "DELETE FROM t WHERE k " in_list(1))
/// }
/// assert_eq!(q::<sqlx::Postgres>(), "DELETE FROM t WHERE k = ANY($1)");
/// assert_eq!(
///     q::<sqlx::Sqlite>(),
///     "DELETE FROM t WHERE k IN (SELECT value FROM json_each($1))"
/// );
/// ```
#[macro_export]
macro_rules! sql {
    ($D:ty, $($text:tt)+) => {
        $crate::sql!(@munch $D; []; []; $($text)+)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*];) => {
        <$D as $crate::Driver>::pick(concat!($($pg)*), concat!($($lite)*))
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; in_list($n:literal) $($rest:tt)*) => {
        $crate::sql!(@munch $D;
            [$($pg)* "= ANY($", $n, ")",];
            [$($lite)* "IN (SELECT value FROM json_each($", $n, "))",];
            $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; list_rows($n:literal) $($rest:tt)*) => {
        $crate::sql!(@munch $D;
            [$($pg)* "UNNEST($", $n, ") AS l(value)",];
            [$($lite)* "json_each($", $n, ")",];
            $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; select_rows($t:ident $(, $ts:ident)* $(,)?) $($rest:tt)*) => {
        $crate::sql!(@rows $D; [$($pg)*]; [$($lite)*]; [$($ts)*];
            [2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32];
            [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31];
            ["$1::", $crate::__pg_array!($t),]; ["c1",]; ["value ->> 0 AS c1",];
            $($rest)*)
    };
    (@rows $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; [$t:ident $($ts:ident)*];
     [$n:literal $($ns:literal)*]; [$m:literal $($ms:literal)*];
     [$($arr:tt)*]; [$($names:tt)*]; [$($sel:tt)*]; $($rest:tt)*) => {
        $crate::sql!(@rows $D; [$($pg)*]; [$($lite)*]; [$($ts)*]; [$($ns)*]; [$($ms)*];
            [$($arr)* ", $", $n, "::", $crate::__pg_array!($t),];
            [$($names)* ", c", $n,];
            [$($sel)* ", value ->> ", $m, " AS c", $n,];
            $($rest)*)
    };
    (@rows $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; []; [$($ns:literal)*]; [$($ms:literal)*];
     [$($arr:tt)*]; [$($names:tt)*]; [$($sel:tt)*]; $($rest:tt)*) => {
        $crate::sql!(@munch $D;
            [$($pg)* "SELECT ", $($names)* " FROM UNNEST(", $($arr)* ") WITH ORDINALITY AS r(",
             $($names)* ", n) WHERE true ORDER BY n",];
            [$($lite)* "SELECT ", $($sel)* " FROM json_each($1) WHERE true ORDER BY key",];
            $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; per_dialect($a:literal, $b:literal) $($rest:tt)*) => {
        $crate::sql!(@munch $D; [$($pg)* $a,]; [$($lite)* $b,]; $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; greatest $($rest:tt)*) => {
        $crate::sql!(@munch $D; [$($pg)* "GREATEST",]; [$($lite)* "MAX",]; $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; $m:ident ! $args:tt $($rest:tt)*) => {
        $crate::sql!(@munch $D; [$($pg)* $m ! $args,]; [$($lite)* $m ! $args,]; $($rest)*)
    };
    (@munch $D:ty; [$($pg:tt)*]; [$($lite:tt)*]; $s:literal $($rest:tt)*) => {
        $crate::sql!(@munch $D; [$($pg)* $s,]; [$($lite)* $s,]; $($rest)*)
    };
}

/// The PostgreSQL array type of a `select_rows(..)` column type of [`sql!`](crate::sql!).
#[doc(hidden)]
#[macro_export]
macro_rules! __pg_array {
    (text) => {
        "text[]"
    };
    (int) => {
        "int4[]"
    };
    (bigint) => {
        "int8[]"
    };
    (bool) => {
        "bool[]"
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: fn(Dialect) -> &'static str) -> [&'static str; 2] {
        [f(Dialect::Postgres), f(Dialect::Sqlite)]
    }

    macro_rules! event_cols {
        () => {
            "a, b"
        };
    }

    #[test]
    fn one_text_two_renderings() {
        fn render(d: Dialect) -> &'static str {
            fn of<D: Driver>() -> &'static str {
                sql!(D,
                    "SELECT " event_cols!() " FROM t WHERE k " in_list(1)
                    " AND v = " greatest "(x, y) AND n IN (SELECT value FROM " list_rows(2) ")"
                    per_dialect(" -- pg", " -- lite"))
            }
            match d {
                Dialect::Postgres => of::<sqlx::Postgres>(),
                Dialect::Sqlite => of::<sqlx::Sqlite>(),
            }
        }
        assert_eq!(
            both(render),
            [
                "SELECT a, b FROM t WHERE k = ANY($1) AND v = GREATEST(x, y) \
                 AND n IN (SELECT value FROM UNNEST($2) AS l(value)) -- pg",
                "SELECT a, b FROM t WHERE k IN (SELECT value FROM json_each($1)) \
                 AND v = MAX(x, y) AND n IN (SELECT value FROM json_each($2)) -- lite",
            ]
        );
    }

    #[test]
    fn urls_name_their_dialect() {
        assert_eq!(
            Dialect::of_url("postgres://u@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::of_url("postgresql://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(
            Dialect::of_url("sqlite://x.db?mode=rwc"),
            Some(Dialect::Sqlite)
        );
        assert_eq!(Dialect::of_url("sqlite::memory:"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of_url("mysql://h/db"), None);
        assert_eq!(Dialect::ALL.map(Dialect::name), ["postgres", "sqlite"]);
    }
}
