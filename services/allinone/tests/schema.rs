//! The ledger's and the dialer's migrations, written once for both dialects (`sqlstore`):
//!
//! - each renders, per dialect, exactly the SQL that databases applied from the per-dialect
//!   files before (sqlx compares a SHA-384 checksum of it and refuses a database whose applied
//!   migration changed), so every database created before still opens;
//! - migrated from scratch, PostgreSQL (the real server on `DATABASE_URL`) and SQLite end with
//!   the same schema: tables, columns, type classes, nullability, primary keys, indexes.

use std::collections::BTreeSet;

use sqlstore::scratch::ScratchPg;
use sqlstore::{Db, Dialect, Migrations, PoolSize};
use sqlx::Row;

/// `(version, PostgreSQL, SQLite)`: SHA-384 of `migrations/{postgres,sqlite}/*.sql` and
/// `migrations/dialer/{postgres,sqlite}/*.sql` as of commit 5d883d6 (and of the ledger's
/// money events, version 3, its consumer payments, version 4, its campaign fences, version 5,
/// and the outbox's plans, version 1003, since they were added),
/// the checksums sqlx stored in `_sqlx_migrations` of every database migrated until then.
const APPLIED: [(i64, &str, &str); 13] = [
    (
        1,
        "75aac61ed30e95c3bd79519c328a1860a2972e812a662416eb14627f1615f3be737a61b2218fe187cc1b67b15f375f8d",
        "8c8acf7df1bb70829371b291187a8bf7f8e8c770f89ff0d56f1d8debea36940c524b269bef205a1c0d7cc3b9c54b49d1",
    ),
    (
        2,
        "61c3cf426feb1b1c49c629968e924f433f3d36d780591064b1f754d96d65bad57f8e720b4cf7d09cff2b20b4c46dfd1b",
        "eac5a1e5e9a34d6d27f9ebd443bf4695acec48b9730e796115b4920dc0c5e78a3517a017154d63ebd76f3a5446b56ac4",
    ),
    (
        3,
        "d7f6158081c3d6e96f0d68faf37e7e9c8a4843b872d5c959f333da65ea8ab477571cb31797839bdb8d18e7779d6d13e5",
        "7f9483baebbbdf06e5881712bdbb727e17e0e8bcebaa539210187c345013c50244510df247bc3dd925659b2284800c0d",
    ),
    (
        4,
        "6c7856559e6590fe5a261af22b0d93de69d378b7e0f2dfbcd592df62c5c344d537c608c6e0c0fea1947b6667dd55d703",
        "19c19bb98e9cb9ae3cbe7fcbac865a2022583803f7cd69ba4b18951f5ae243337caab2b420c0b922ec8c194f66670108",
    ),
    (
        5,
        "b799d74532138425b5b34c17c93e9c372c8a3935dfd6b6fc070b655404634090e38776c74cea2629d7fccb10dd8b8863",
        "c9966fc536fae7b7437b531418221777a36e8ab791c3d7077ed5d4c6cb23ecdbbf9d051eb7737c69eec7ef14b761e1af",
    ),
    (
        1000,
        "1e40b882442ee38f84fad3b7827bb68b8d8cdd941c7117ba532876648aa0540deb010e361f06bd9a32b1be82e4d40f48",
        "1dbc502479154bb99e3daf8266b8e28ae7398e4f21352d96021359bfb16fd9a93119cb1d609837b8a214bb74ffb8c17d",
    ),
    (
        1002,
        "f618aed1790796776705f42e46a0fe4bbb831d550400a8be7b6425a6f117a32e418e208b9ac4983b39a8ff0a7978734c",
        "bac438ced85204c58132afdca8bc871e44b36d0129dc6e42dd75cdfade90f92fd511f2847520b43076e8844a940d7a2c",
    ),
    (
        1003,
        "e9ee41c49a27dc8214bf6489ce3b065748794ac8941f4056c8e162bc3f31f817d3d46f0952f836bb13d612634e4afad3",
        "85b9d48364fbc3903c5bdeaabff7e502af35d38b92f39c6f15d5210474806c8990a68f7e543722cd04ee2f8af56c3091",
    ),
    (
        1100,
        "2a6801233506a4590402ea0877680c348f52b6626f7454fd94021dbd47cb2acd16307b500c65ea1d55674e76aabc48c0",
        "b082aa856841e77579105505c1368ba17dc3ef01bb0aceb8b724a8fa7c2cf3f4b82db2b3599c71f9896c6062ab7fc446",
    ),
    (
        1101,
        "cc0ad34d0a554a05884e8462674c3bb551e6a057216cc1517982c8f9ba4e1121ab2062d477df3c997322df3e1244f900",
        "c87344bd8f97b5a6e8acd4914552712e54f471d22a6929d21e9e8137f7f7c3431f65c495d9e70e8c729434834d9276b2",
    ),
    (
        1102,
        "178dd6ee9f8356777fb303d6d8e6b0f698889c09c879483db9ff4cebaf461ec3bb02b8090bbbd280cb7a6fb636580a06",
        "4ad289a68b5927f056c61ac1771555a353b623f19a3ed9cb87dd0f9d23a519effb80366b7538486c3a3ed6d6f3f66660",
    ),
    (
        1103,
        "c0ea47503c0e9e46efbd3a10732526c00c02802cc88604b16e07c4e12ed4c02af108f57685e00bc24900654580715beb",
        "6f5945fee7ab208de9af0ca5730294c61dd73eeb95a053e71f47d49c889de5d596527704927abcb9e1775ca9d462023c",
    ),
    (
        1104,
        "14539c87469ffd1231c33a0d9159bd7f2b4d4b18f750fc525d39150276b9fb7c662c7bc4150205ac018f3d934267f0f0",
        "e4f81af1c03fcbf0f9967a5026acaeb35733f587325dc0cd0abd1ea43f1bc3c0efc5f3413989850aef7b57d142115917",
    ),
];

/// Both services' migrations, the ledger's first (as the all-in-one applies them).
const SERVICES: [&Migrations; 2] = [&ledger::store::MIGRATIONS, &dialer::db::MIGRATIONS];

#[test]
fn every_migration_renders_the_sql_databases_applied() {
    for (i, dialect) in Dialect::ALL.into_iter().enumerate() {
        let rendered: Vec<(i64, String)> = SERVICES
            .iter()
            .flat_map(|m| m.checksums(dialect).expect("renders"))
            .collect();
        let applied: Vec<(i64, String)> = APPLIED
            .iter()
            .map(|&(v, pg, sqlite)| (v, [pg, sqlite][i].to_owned()))
            .collect();
        assert_eq!(rendered, applied, "{dialect:?}");
    }
}

/// One fact of a schema, in terms both dialects share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Fact {
    Column {
        table: String,
        column: String,
        class: &'static str,
        not_null: bool,
    },
    PrimaryKey {
        table: String,
        columns: Vec<String>,
    },
    /// `name` is `(constraint)` for the index behind a `UNIQUE` column constraint: each
    /// dialect names those itself.
    Index {
        table: String,
        name: String,
        unique: bool,
        columns: Vec<String>,
    },
}

/// The type class a declared or reported type belongs to: integers of any width and
/// auto-increment keys are one class (SQLite's INTEGER is 64-bit), as are text types.
fn class(ty: &str) -> &'static str {
    let ty = ty.to_ascii_lowercase();
    if ty.contains("int") || ty.contains("serial") {
        "integer"
    } else if ty == "text" || ty.starts_with("character") || ty.starts_with("varchar") {
        "text"
    } else if ty == "bytea" || ty == "blob" {
        "bytes"
    } else if ty.starts_with("bool") {
        "boolean"
    } else if ty.starts_with("double") || ty == "real" || ty.starts_with("float") {
        "float"
    } else {
        // Unknown: kept apart, so any other type shows as a difference.
        Box::leak(ty.into_boxed_str())
    }
}

/// Primary-key columns are NOT NULL in PostgreSQL whatever their declaration; SQLite reports
/// them nullable unless declared so. Both are normalised to the PostgreSQL meaning.
fn facts(
    columns: Vec<(String, String, String, bool)>,
    primary_keys: Vec<(String, Vec<String>)>,
    indexes: Vec<Fact>,
) -> BTreeSet<Fact> {
    let pk: BTreeSet<(String, String)> = primary_keys
        .iter()
        .flat_map(|(t, cs)| cs.iter().map(move |c| (t.clone(), c.clone())))
        .collect();
    let mut out: BTreeSet<Fact> = indexes.into_iter().collect();
    for (table, column, ty, not_null) in columns {
        let not_null = not_null || pk.contains(&(table.clone(), column.clone()));
        out.insert(Fact::Column {
            table,
            column,
            class: class(&ty),
            not_null,
        });
    }
    out.extend(
        primary_keys
            .into_iter()
            .map(|(table, columns)| Fact::PrimaryKey { table, columns }),
    );
    out
}

async fn postgres_facts(pool: &sqlx::PgPool) -> BTreeSet<Fact> {
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO' \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("columns");
    // Every index with its columns in key order; whether it is the primary key, and whether
    // a constraint (UNIQUE, PRIMARY KEY) made it.
    let rows = sqlx::query(
        "SELECT t.relname::text, i.relname::text, ix.indisprimary, ix.indisunique, \
         array(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, o) \
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o), \
         EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) \
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND t.relname <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("indexes");
    let (mut primary_keys, mut indexes) = (Vec::new(), Vec::new());
    for r in rows {
        let (table, name): (String, String) = (r.get(0), r.get(1));
        let columns: Vec<String> = r.get(4);
        if r.get::<bool, _>(2) {
            primary_keys.push((table, columns));
        } else {
            indexes.push(Fact::Index {
                table,
                name: if r.get(5) {
                    "(constraint)".into()
                } else {
                    name
                },
                unique: r.get(3),
                columns,
            });
        }
    }
    facts(columns, primary_keys, indexes)
}

async fn sqlite_facts(pool: &sqlx::SqlitePool) -> BTreeSet<Fact> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let (mut columns, mut primary_keys, mut indexes) = (Vec::new(), Vec::new(), Vec::new());
    for table in tables {
        let cols: Vec<(String, String, bool, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(pool)
                .await
                .expect("table_info");
        let mut pk: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.3 > 0)
            .map(|c| (c.3, c.0.clone()))
            .collect();
        pk.sort();
        if !pk.is_empty() {
            primary_keys.push((table.clone(), pk.into_iter().map(|c| c.1).collect()));
        }
        for (column, ty, not_null, _) in cols {
            columns.push((table.clone(), column, ty, not_null));
        }
        let list: Vec<(String, bool, String)> = sqlx::query_as(
            "SELECT name, \"unique\", origin FROM pragma_index_list($1) WHERE origin <> 'pk'",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .expect("index_list");
        for (name, unique, origin) in list {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .expect("index_info");
            indexes.push(Fact::Index {
                table: table.clone(),
                name: if origin == "u" {
                    "(constraint)".into()
                } else {
                    name
                },
                unique,
                columns,
            });
        }
    }
    facts(columns, primary_keys, indexes)
}

/// Opens `url` with both services' migrations, as a shared database.
async fn migrated(url: &str) -> Db {
    let size = PoolSize {
        postgres: 2,
        sqlite: 2,
    };
    let db = Db::open(url, size, SERVICES[0]).await.expect("open");
    db.migrate(SERVICES[1]).await.expect("dialer migrations");
    db
}

#[tokio::test]
async fn postgres_and_sqlite_migrate_to_one_schema() {
    let scratch = ScratchPg::create(&sqlstore::scratch::admin_url(), "schema_t")
        .await
        .expect("a database on PostgreSQL at DATABASE_URL (run scripts/services-up)");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());

    let (pg, sqlite) = (migrated(&scratch.url).await, migrated(&sqlite_url).await);
    let (Db::Pg(p), Db::Sqlite(s)) = (&pg, &sqlite) else {
        panic!("dialects by url");
    };
    let (pg_facts, sqlite_facts) = (postgres_facts(p).await, sqlite_facts(s).await);
    pg.close().await;
    sqlite.close().await;
    scratch.drop_db().await;

    let only = |a: &BTreeSet<Fact>, b: &BTreeSet<Fact>| -> Vec<String> {
        a.difference(b).map(|f| format!("{f:?}")).collect()
    };
    let (pg_only, sqlite_only) = (
        only(&pg_facts, &sqlite_facts),
        only(&sqlite_facts, &pg_facts),
    );
    assert!(
        pg_only.is_empty() && sqlite_only.is_empty(),
        "the dialects' schemas drifted:\n  only on PostgreSQL:\n    {}\n  only on SQLite:\n    {}",
        pg_only.join("\n    "),
        sqlite_only.join("\n    ")
    );
    // The comparison saw the whole schema (not two empty sets).
    let tables: BTreeSet<&str> = pg_facts
        .iter()
        .filter_map(|f| match f {
            Fact::PrimaryKey { table, .. } => Some(table.as_str()),
            _ => None,
        })
        .collect();
    assert!(tables.contains("contact_events") && tables.contains("dialer_replicas"));
    assert!(pg_facts.len() > 150, "{} facts", pg_facts.len());
}
