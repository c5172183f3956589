//! Migrations written once, rendered per dialect.
//!
//! A service keeps one file per migration (`migrations/ledger/0001_ledger.sql`) and embeds
//! them with [`migrations!`](crate::migrations!). The few places where PostgreSQL and SQLite
//! differ are tokens, replaced when the file is rendered for a database:
//!
//! | token | PostgreSQL | SQLite |
//! |---|---|---|
//! | `{{Dialect}}` | `PostgreSQL` | `SQLite` |
//! | `{{dialect}}` | `postgres` | `sqlite` |
//! | `{{other}}` | `sqlite` | `postgres` |
//! | `{{serial_pk}}` | `BIGSERIAL PRIMARY KEY` | `INTEGER PRIMARY KEY AUTOINCREMENT` |
//! | `{{i64}}` | `BIGINT` | `INTEGER` |
//! | `{{bytes}}` | `BYTEA` | `BLOB ` (padded: the column keeps its alignment) |
//!
//! A line starting `--@postgres ` or `--@sqlite ` is kept, without that prefix, for that
//! dialect only; a line starting `--!` is a note about the template, kept for neither.
//!
//! sqlx records a SHA-384 checksum of each applied migration's SQL and refuses a database
//! whose applied SQL changed. The rendering of each file is therefore byte-for-byte the SQL
//! the per-dialect files held when databases applied them (comments included, even those
//! naming files that no longer exist); the services' tests pin those checksums.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::{Dialect, OpenError};

/// A service's migrations: `(file name, template)` in version order, the file name in
/// sqlx's form `<version>_<description>.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    files: &'static [(&'static str, &'static str)],
}

/// Embeds the migration files `$file` of the folder `$dir` (relative to the calling source
/// file, as for `include_str!`) as [`Migrations`].
#[macro_export]
macro_rules! migrations {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        $crate::Migrations::new(&[$(($file, include_str!(concat!($dir, "/", $file)))),+])
    };
}

impl Migrations {
    pub const fn new(files: &'static [(&'static str, &'static str)]) -> Self {
        Migrations { files }
    }

    /// Each migration as sqlx's file loader would read it from a folder of `dialect`'s
    /// rendered files: version and description from the name, SQL and checksum from the
    /// rendering.
    pub fn rendered(&self, dialect: Dialect) -> Result<Vec<Migration>, OpenError> {
        self.files
            .iter()
            .map(|&(file, template)| {
                let bad = |problem: &str| OpenError::Template {
                    file,
                    problem: problem.to_owned(),
                };
                let (version, rest) = file.split_once('_').ok_or_else(|| bad("no version"))?;
                let version = version.parse().map_err(|_| bad("version not a number"))?;
                let description = rest
                    .strip_suffix(".sql")
                    .ok_or_else(|| bad("not .sql"))?
                    .replace('_', " ");
                let sql = render(template, dialect).map_err(|t| bad(&format!("token {t}")))?;
                let no_tx = sql.starts_with("-- no-transaction");
                Ok(Migration::new(
                    version,
                    Cow::Owned(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    no_tx,
                ))
            })
            .collect()
    }

    /// `(version, checksum)` of each migration as sqlx records it in `_sqlx_migrations`
    /// (SHA-384 of the rendered SQL), the checksum in hex: what the services' tests pin, so a
    /// rendering that drifts from what databases applied fails there, not at a customer's.
    pub fn checksums(&self, dialect: Dialect) -> Result<Vec<(i64, String)>, OpenError> {
        Ok(self
            .rendered(dialect)?
            .iter()
            .map(|m| {
                let hex = m.checksum.iter().map(|b| format!("{b:02x}")).collect();
                (m.version, hex)
            })
            .collect())
    }

    /// A migrator of `dialect`'s renderings with `ignore_missing` set: the ledger and the
    /// dialer may share one database and so sqlx's one `_sqlx_migrations` table, where each
    /// finds the other's versions (the dialer's are 1000 and up) applied but unknown to it.
    pub fn migrator(&self, dialect: Dialect) -> Result<Migrator, OpenError> {
        let mut m = Migrator::with_migrations(self.rendered(dialect)?);
        m.set_ignore_missing(true);
        Ok(m)
    }
}

/// The SQL of `template` for `dialect`, or the first unknown `{{token}}`.
pub fn render(template: &str, dialect: Dialect) -> Result<String, String> {
    let pg = dialect == Dialect::Postgres;
    let mut out = String::with_capacity(template.len() + 64);
    for line in template.split_inclusive('\n') {
        if line.starts_with("--!") {
            continue;
        }
        let line = match (
            line.strip_prefix("--@postgres "),
            line.strip_prefix("--@sqlite "),
        ) {
            (Some(l), _) if pg => l,
            (_, Some(l)) if !pg => l,
            (Some(_), _) | (_, Some(_)) => continue,
            (None, None) => line,
        };
        let mut rest = line;
        while let Some(at) = rest.find("{{") {
            out.push_str(&rest[..at]);
            let end = rest[at..]
                .find("}}")
                .map(|e| at + e + 2)
                .ok_or_else(|| rest[at..].trim_end().to_owned())?;
            out.push_str(token(&rest[at..end], dialect).ok_or_else(|| rest[at..end].to_owned())?);
            rest = &rest[end..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// What a token reads in `dialect`.
fn token(token: &str, dialect: Dialect) -> Option<&'static str> {
    let (pg, sqlite) = match token {
        "{{Dialect}}" => ("PostgreSQL", "SQLite"),
        "{{dialect}}" => ("postgres", "sqlite"),
        "{{other}}" => ("sqlite", "postgres"),
        "{{serial_pk}}" => ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        "{{i64}}" => ("BIGINT", "INTEGER"),
        "{{bytes}}" => ("BYTEA", "BLOB "),
        _ => return None,
    };
    Some(match dialect {
        Dialect::Postgres => pg,
        Dialect::Sqlite => sqlite,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "--! a note on the template\n\
        -- Things ({{Dialect}}, {{dialect}}); see migrations/{{other}}/x.sql.\n\
        CREATE TABLE t (\n    id {{serial_pk}},\n    at {{i64}} NOT NULL,\n\
        \x20   b  {{bytes}} NOT NULL\n);\n\
        --@postgres -- advisory lock\n\
        --@sqlite -- one writer\n\
        SELECT 1;";

    #[test]
    fn tokens_and_dialect_lines_render_per_dialect() {
        assert_eq!(
            render(TEMPLATE, Dialect::Postgres).unwrap(),
            "-- Things (PostgreSQL, postgres); see migrations/sqlite/x.sql.\n\
             CREATE TABLE t (\n    id BIGSERIAL PRIMARY KEY,\n    at BIGINT NOT NULL,\n\
             \x20   b  BYTEA NOT NULL\n);\n-- advisory lock\nSELECT 1;"
        );
        assert_eq!(
            render(TEMPLATE, Dialect::Sqlite).unwrap(),
            "-- Things (SQLite, sqlite); see migrations/postgres/x.sql.\n\
             CREATE TABLE t (\n    id INTEGER PRIMARY KEY AUTOINCREMENT,\n    at INTEGER NOT NULL,\n\
             \x20   b  BLOB  NOT NULL\n);\n-- one writer\nSELECT 1;"
        );
    }

    #[test]
    fn text_without_tokens_is_kept_byte_for_byte() {
        let sql = "-- x\r\nCREATE TABLE t (a TEXT); -- { not a token }\n\n";
        for d in Dialect::ALL {
            assert_eq!(render(sql, d).unwrap(), sql);
        }
    }

    #[test]
    fn an_unknown_or_open_token_is_refused() {
        assert_eq!(
            render("a {{nope}} b", Dialect::Sqlite),
            Err("{{nope}}".into())
        );
        assert_eq!(
            render("a {{i64 b\n", Dialect::Sqlite),
            Err("{{i64 b".into())
        );
        static BAD: Migrations = Migrations::new(&[("0001_x.sql", "{{nope}}")]);
        assert!(matches!(
            BAD.migrator(Dialect::Postgres),
            Err(OpenError::Template {
                file: "0001_x.sql",
                ..
            })
        ));
    }

    #[test]
    fn names_give_version_and_description_as_sqlx_reads_them() {
        static M: Migrations = Migrations::new(&[
            ("0001_ledger.sql", "SELECT 1;\n"),
            ("1002_outbox_commands.sql", "-- no-transaction\nSELECT 2;\n"),
        ]);
        let r = M.rendered(Dialect::Sqlite).unwrap();
        assert_eq!((r[0].version, &*r[0].description), (1, "ledger"));
        assert_eq!(
            (r[1].version, &*r[1].description),
            (1002, "outbox commands")
        );
        assert!(!r[0].no_tx && r[1].no_tx);
        assert_eq!(
            &*r[0].checksum,
            &*sqlx::migrate::Migration::new(
                1,
                "x".into(),
                MigrationType::Simple,
                "SELECT 1;\n".into_sql_str(),
                false
            )
            .checksum
        );
    }
}
