//! Many rows bound as a few parameters, so one statement writes a whole batch without a
//! parameter per value: on PostgreSQL one typed array per column (read by `UNNEST`), on
//! SQLite one JSON array of rows (read by `json_each`). The SQL side is `select_rows(..)` of
//! [`sql!`](crate::sql!).
//!
//! Why not multi-row `VALUES`: a statement of 30,000 parameters is parsed, planned and bound
//! value by value on PostgreSQL (where a 1,000-account load spent its time), and SQLite looks
//! each numbered parameter up by name, quadratic in their number.

use std::fmt::Write as _;

use sqlx::postgres::PgArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Postgres, Sqlite};

/// One column of [`Rows`].
#[derive(Debug, Clone)]
enum Column<'a> {
    Text(Vec<&'a str>),
    OptText(Vec<Option<&'a str>>),
    Int(Vec<i32>),
    BigInt(Vec<i64>),
    OptBigInt(Vec<Option<i64>>),
    Bool(Vec<bool>),
}

impl Column<'_> {
    fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::OptText(v) => v.len(),
            Column::Int(v) => v.len(),
            Column::BigInt(v) => v.len(),
            Column::OptBigInt(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    /// Row `i`'s value as JSON, appended to `out`.
    fn json(&self, i: usize, out: &mut String) {
        fn text(s: &str, out: &mut String) {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        match self {
            Column::Text(v) => text(v[i], out),
            Column::OptText(v) => match v[i] {
                Some(s) => text(s, out),
                None => out.push_str("null"),
            },
            Column::Int(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::BigInt(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::OptBigInt(v) => match v[i] {
                Some(x) => {
                    let _ = write!(out, "{x}");
                }
                None => out.push_str("null"),
            },
            // SQLite stores booleans as the integers 0 and 1 (what sqlx binds a `bool` as).
            Column::Bool(v) => out.push(if v[i] { '1' } else { '0' }),
        }
    }
}

/// The rows of one multi-row statement, column by column, in the order of the statement's
/// `select_rows(..)` types (`text` for [`Rows::text`] and [`Rows::opt_text`], `int`,
/// `bigint` for [`Rows::bigint`] and [`Rows::opt_bigint`], `bool`). Bind it with
/// [`BindRows::bind_rows`]: it is the statement's only parameter(s).
///
/// ```
/// # use sqlstore::{sql, Driver, Rows};
/// fn q<D: Driver>() -> &'static str {
///     sql!(D, "INSERT INTO t (k, n) " select_rows(text, bigint) " ON CONFLICT DO NOTHING")
/// }
/// assert_eq!(
///     q::<sqlx::Postgres>(),
///     "INSERT INTO t (k, n) SELECT c1, c2 FROM UNNEST($1::text[], $2::int8[]) \
///      WITH ORDINALITY AS r(c1, c2, n) WHERE true ORDER BY n ON CONFLICT DO NOTHING"
/// );
/// assert_eq!(
///     q::<sqlx::Sqlite>(),
///     "INSERT INTO t (k, n) SELECT value ->> 0 AS c1, value ->> 1 AS c2 FROM json_each($1) \
///      WHERE true ORDER BY key ON CONFLICT DO NOTHING"
/// );
/// let keys = ["a", "b"];
/// let rows = Rows::new(2).text(keys.iter().copied()).bigint([1, 2]);
/// assert_eq!(rows.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Rows<'a> {
    len: usize,
    columns: Vec<Column<'a>>,
}

impl<'a> Rows<'a> {
    /// Rows of `len` rows; every column added must have exactly `len` values.
    pub fn new(len: usize) -> Self {
        Rows {
            len,
            columns: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(mut self, c: Column<'a>) -> Self {
        // A programming error (a column built from another list than its rows), not input.
        assert_eq!(
            c.len(),
            self.len,
            "column {} of Rows",
            self.columns.len() + 1
        );
        self.columns.push(c);
        self
    }

    pub fn text(self, v: impl IntoIterator<Item = &'a str>) -> Self {
        self.push(Column::Text(v.into_iter().collect()))
    }

    pub fn opt_text(self, v: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        self.push(Column::OptText(v.into_iter().collect()))
    }

    pub fn int(self, v: impl IntoIterator<Item = i32>) -> Self {
        self.push(Column::Int(v.into_iter().collect()))
    }

    pub fn bigint(self, v: impl IntoIterator<Item = i64>) -> Self {
        self.push(Column::BigInt(v.into_iter().collect()))
    }

    pub fn opt_bigint(self, v: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.push(Column::OptBigInt(v.into_iter().collect()))
    }

    pub fn bool(self, v: impl IntoIterator<Item = bool>) -> Self {
        self.push(Column::Bool(v.into_iter().collect()))
    }

    /// The rows as the JSON array of arrays SQLite's `json_each` reads.
    fn sqlite_json(&self) -> String {
        let mut out = String::with_capacity(self.len * self.columns.len() * 12 + 2);
        out.push('[');
        for i in 0..self.len {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, c) in self.columns.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                c.json(i, &mut out);
            }
            out.push(']');
        }
        out.push(']');
        out
    }
}

/// Binds [`Rows`] to a query of either database: what a query body of
/// [`with_pool!`](crate::with_pool!) calls, whichever its driver.
pub trait BindRows<'r>: Sized {
    fn bind_rows(self, rows: Rows<'r>) -> Self;
}

macro_rules! bind_pg {
    ($q:ident, $rows:ident) => {{
        let mut q = $q;
        for c in $rows.columns {
            q = match c {
                Column::Text(v) => q.bind(v),
                Column::OptText(v) => q.bind(v),
                Column::Int(v) => q.bind(v),
                Column::BigInt(v) => q.bind(v),
                Column::OptBigInt(v) => q.bind(v),
                Column::Bool(v) => q.bind(v),
            };
        }
        q
    }};
}

impl<'r> BindRows<'r> for Query<'_, Postgres, PgArguments> {
    fn bind_rows(self, rows: Rows<'r>) -> Self {
        bind_pg!(self, rows)
    }
}

impl<'q, 'r: 'q, O> BindRows<'r> for QueryAs<'q, Postgres, O, PgArguments> {
    fn bind_rows(self, rows: Rows<'r>) -> Self {
        bind_pg!(self, rows)
    }
}

impl<'r> BindRows<'r> for Query<'_, Sqlite, SqliteArguments> {
    fn bind_rows(self, rows: Rows<'r>) -> Self {
        self.bind(rows.sqlite_json())
    }
}

impl<'r, O> BindRows<'r> for QueryAs<'_, Sqlite, O, SqliteArguments> {
    fn bind_rows(self, rows: Rows<'r>) -> Self {
        self.bind(rows.sqlite_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_json_escapes_and_types() {
        let names = ["a\"b\\c\n", "é"];
        let rows = Rows::new(2)
            .text(names)
            .opt_text([None, Some("x")])
            .int([1, -2])
            .bigint([i64::MAX, 0])
            .opt_bigint([None, Some(5)])
            .bool([true, false]);
        let json = rows.sqlite_json();
        assert_eq!(
            json,
            r#"[["a\"b\\c\u000a",null,1,9223372036854775807,null,1],["é","x",-2,0,5,0]]"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[0][0], "a\"b\\c\n");
    }

    #[test]
    #[should_panic(expected = "column 2 of Rows")]
    fn a_short_column_is_a_programming_error() {
        let _ = Rows::new(2).bigint([1, 2]).bigint([1]);
    }
}
