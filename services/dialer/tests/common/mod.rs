//! Test helpers: a fresh PostgreSQL database (on the real server named by DATABASE_URL,
//! dropped afterwards) or fresh SQLite files per test, tokens per role, and sample records.
//! No mocks. The real ledger served in-process is the all-in-one's (`services/allinone/tests`,
//! which shares this module by path): the dialer does not depend on the ledger crate.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use auth::Token;
use auth::{Claims, Role};
use dialer::ledger_link::LedgerClient;
use dialer::outbox::RelayConfig;
use jiff::Timestamp;
use ledger_api::common_pb;
use ledger_api::domain::{
    AmdVerdict, Channel, ContactOutcome, DialMode, Direction, Outcome, Party,
};
use ledger_api::pb;
use sqlstore::scratch::{ScratchPg, admin_url};

/// The ledger's HS256 key in every test.
pub const KEY: &str = "dialer-tests-key-dialer-tests-key-0123";

/// Where the ledger and the outbox live for one test: on PostgreSQL one fresh database shared
/// by both (as in production, so the two migrators meet in one `_sqlx_migrations`); on
/// SQLite two files in a temp dir.
#[derive(Debug)]
pub struct TestDb {
    pub ledger_url: String,
    pub dialer_url: String,
    pg: Option<ScratchPg>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let pg = ScratchPg::create(&admin_url(), "dialer_t")
            .await
            .expect("a database on PostgreSQL at DATABASE_URL (run scripts/services-up)");
        Self {
            ledger_url: pg.url.clone(),
            dialer_url: pg.url.clone(),
            pg: Some(pg),
            _dir: None,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = |f: &str| format!("sqlite://{}?mode=rwc", dir.path().join(f).display());
        Self {
            ledger_url: url("ledger.db"),
            dialer_url: url("dialer.db"),
            pg: None,
            _dir: Some(dir),
        }
    }

    pub async fn cleanup(self) {
        if let Some(pg) = &self.pg {
            pg.drop_db().await;
        }
    }
}

/// Generates a `postgres` and a `sqlite` test from `async fn(&TestDb)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::common::TestDb::postgres().await;
                super::$name(&db).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite();
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    )*};
}

pub fn init_tracing() {
    service::telemetry::init_for_tests();
}

pub fn jwt(role: Role) -> String {
    auth::sign_hs256(
        KEY,
        &Claims {
            sub: format!("test-{role:?}").to_lowercase(),
            role,
            exp: None,
        },
    )
}

pub fn token(role: Role) -> Token {
    Token::fixed(jwt(role))
}

/// Relay tuning for tests: quick reconnects so an outage costs little test time.
pub fn fast_relay() -> RelayConfig {
    RelayConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..RelayConfig::default()
    }
}

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2026-01-05T15:00:00Z, a Monday.
pub const T0: i64 = 1_767_625_200;

/// An account in Atlanta with a consented mobile, a landline, two debts, a blackout and a
/// call consent.
pub fn account(id: &str) -> pb::Account {
    pb::Account {
        account_id: id.to_owned(),
        creditor: "Acme Bank".into(),
        known_zone: "America/New_York".into(),
        persons: vec![pb::Person {
            person_id: "p1".into(),
            full_name: "Jane Q. Doe".into(),
            role: pb::PersonRole::Primary as i32,
            phones: vec![
                pb::Phone {
                    number: "+14045550134".into(),
                    kind: common_pb::PhoneKind::Mobile as i32,
                    consent_automated: true,
                    consent_source: "application".into(),
                    consent_at: ts(T0 - 86_400 * 30),
                    ..Default::default()
                },
                pb::Phone {
                    number: "+14045550199".into(),
                    kind: common_pb::PhoneKind::Landline as i32,
                    ..Default::default()
                },
            ],
            addresses: vec![pb::Address {
                line1: "1 Main St".into(),
                city: "Atlanta".into(),
                zip: "30301".into(),
                state: "GA".into(),
                country: "US".into(),
                current: true,
            }],
        }],
        debts: vec![
            pb::Debt {
                debt_id: format!("{id}-d1"),
                balance_minor: 123_456,
                currency: "USD".into(),
                days_past_due: 95,
                original_creditor: "Acme".into(),
                ..Default::default()
            },
            pb::Debt {
                debt_id: format!("{id}-d2"),
                balance_minor: 5_000,
                currency: "USD".into(),
                days_past_due: 30,
                student_loan_group: "sl-1".into(),
                original_creditor: "Acme".into(),
                ..Default::default()
            },
        ],
        blackouts: vec![pb::Blackout {
            days: vec![pb::Weekday::Mon as i32, pb::Weekday::Tue as i32],
            from: "15:00".into(),
            to: "17:00".into(),
            place: pb::Place::Work as i32,
            ..Default::default()
        }],
        call_consents: vec![pb::CallConsent {
            debt_id: format!("{id}-d1"),
            given_at: ts(T0 - 3600),
            days: 3,
            revoked_at: None,
        }],
        ..Default::default()
    }
}

pub async fn upsert(c: &mut LedgerClient, accounts: Vec<pb::Account>) {
    let n = accounts.len() as u32;
    let reqs: Vec<_> = accounts
        .into_iter()
        .map(|a| pb::UpsertAccountRequest { account: Some(a) })
        .collect();
    let r = c
        .upsert_accounts(tokio_stream::iter(reqs))
        .await
        .expect("upsert")
        .into_inner();
    assert_eq!(r.created + r.updated + r.unchanged, n, "{r:?}");
}

/// An outbound predictive call to the account's mobile about its first debt.
pub fn outcome(key: &str, account: &str, kind: Outcome, disposition: &str) -> ContactOutcome {
    ContactOutcome {
        idempotency_key: key.to_owned(),
        account_id: account.to_owned(),
        person_id: "p1".into(),
        debt_ids: vec![format!("{account}-d1")],
        number: "+14045550134".into(),
        direction: Direction::Outbound,
        channel: Channel::Call,
        dial_mode: Some(DialMode::Predictive),
        outcome: kind,
        party: Party::Consumer,
        third_party_id: String::new(),
        campaign_id: "camp-1".into(),
        agent_id: String::new(),
        started_at: Timestamp::from_second(T0).unwrap(),
        ring_ms: 15_000,
        talk_ms: 0,
        amd: AmdVerdict::NotRun,
        recording_ref: String::new(),
        disposition: disposition.to_owned(),
        counts_for_regf: false,
        event_id: 0,
        recorded_at: None,
        checked_seq: 0,
    }
}

/// What the engine writes before the dial: a placed call counts, so a counted outcome.
pub fn provisional(key: &str, account: &str) -> ContactOutcome {
    outcome(key, account, Outcome::NoAnswer, "PROVISIONAL")
}

/// What it writes after the call.
pub fn final_outcome(key: &str, account: &str) -> ContactOutcome {
    let mut o = outcome(key, account, Outcome::Voicemail, "FINAL");
    o.amd = AmdVerdict::Machine;
    o
}

/// Every recorded outcome, following page tokens: idempotency key -> (times seen,
/// disposition of the first).
pub async fn recorded(c: &mut LedgerClient) -> HashMap<String, (usize, String)> {
    let mut out: HashMap<String, (usize, String)> = HashMap::new();
    let mut req = pb::ListOutcomesRequest {
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let r = c
            .list_outcomes(req.clone())
            .await
            .expect("list outcomes")
            .into_inner();
        for o in r.outcomes {
            out.entry(o.idempotency_key).or_insert((0, o.disposition)).0 += 1;
        }
        if r.next_page_token.is_empty() {
            return out;
        }
        req.page_token = r.next_page_token;
    }
}

/// Waits (without asserting on how long it takes) until `cond` holds, checking every few
/// milliseconds; panics after a generous limit so a broken build does not hang CI.
pub async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut cond: F) {
    let limit = tokio::time::Instant::now() + Duration::from_secs(120);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < limit,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
