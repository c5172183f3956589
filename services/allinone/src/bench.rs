//! What the benchmark binaries share: a throw-away PostgreSQL database and the synthetic
//! accounts they load into the ledger.

use anyhow::Context;
use ledger_api::common_pb;
use ledger_api::pb;
use sqlx::Connection;

/// The PostgreSQL server a benchmark creates its databases on: `--database-url`, else
/// `$DATABASE_URL`, else the local test server.
pub fn admin_url(arg: Option<&str>) -> String {
    arg.map(str::to_owned)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh database on a PostgreSQL server, dropped by [`PgDb::drop_db`] (or kept, for a
/// look afterwards, by not calling it).
#[derive(Debug)]
pub struct PgDb {
    admin: String,
    name: String,
    /// Where to connect to the new database.
    pub url: String,
}

impl PgDb {
    /// Creates `<prefix>_<random>` on the server `admin` names.
    pub async fn create(admin: &str, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(admin)
            .await
            .context("connecting to PostgreSQL (scripts/services-up starts it)")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await?;
        let cut = admin
            .rfind('/')
            .context("database url without a database")?;
        Ok(Self {
            admin: admin.to_owned(),
            url: format!("{}/{name}", &admin[..cut]),
            name,
        })
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_db(self) {
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

/// Account `<prefix>-<a>`: one person with one mobile, one debt `<prefix>-<a>-d1` of
/// `balance_minor`, 60 days past due.
pub fn account(prefix: &str, a: usize, balance_minor: i64) -> pb::Account {
    pb::Account {
        account_id: format!("{prefix}-{a}"),
        creditor: "Bench Bank".into(),
        persons: vec![pb::Person {
            person_id: "p1".into(),
            full_name: "Bench Person".into(),
            role: pb::PersonRole::Primary as i32,
            phones: vec![pb::Phone {
                number: phone(a),
                kind: common_pb::PhoneKind::Mobile as i32,
                ..Default::default()
            }],
            ..Default::default()
        }],
        debts: vec![pb::Debt {
            debt_id: format!("{prefix}-{a}-d1"),
            balance_minor,
            currency: "USD".into(),
            days_past_due: 60,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Account `a`'s mobile number.
pub fn phone(a: usize) -> String {
    format!("+1404555{:04}", a % 10_000)
}
