//! Throw-away PostgreSQL databases: what every store test, schema check and benchmark that
//! runs on the real server creates first and drops last, so none of them shares tables with
//! another run.

use sqlx::Connection;

/// The server a test or a benchmark makes its databases on: `$DATABASE_URL`, else the local
/// test server (trust auth, database `test`).
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh database on a PostgreSQL server, dropped by [`ScratchPg::drop_db`] (or kept, for
/// a look afterwards, by not calling it).
#[derive(Debug)]
pub struct ScratchPg {
    admin: String,
    name: String,
    /// Where to connect to the new database.
    pub url: String,
}

impl ScratchPg {
    /// Creates `<prefix>_<random>` on the server `admin` connects to.
    pub async fn create(admin: &str, prefix: &str) -> Result<ScratchPg, sqlx::Error> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await?;
        let base = admin.rfind('/').map_or(admin, |cut| &admin[..cut]);
        Ok(ScratchPg {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database, closing whatever is still connected to it (best effort: a server
    /// gone away leaves it behind).
    pub async fn drop_db(&self) {
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut c)
            .await;
        }
    }
}
