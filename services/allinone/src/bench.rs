//! What the benchmark binaries share: where their throw-away PostgreSQL databases go and the
//! synthetic accounts they load into the ledger.

use anyhow::Context;
use ledger_api::common_pb;
use ledger_api::pb;
use sqlstore::scratch::ScratchPg;

/// The PostgreSQL server a benchmark creates its databases on: `--database-url`, else the
/// test server of [`sqlstore::scratch::admin_url`].
pub fn admin_url(arg: Option<&str>) -> String {
    arg.map_or_else(sqlstore::scratch::admin_url, str::to_owned)
}

/// A fresh database for one benchmark run.
pub async fn scratch_db(admin: &str, prefix: &str) -> anyhow::Result<ScratchPg> {
    ScratchPg::create(admin, prefix)
        .await
        .context("creating a database on PostgreSQL (scripts/services-up starts it)")
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
