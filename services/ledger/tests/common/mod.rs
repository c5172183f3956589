//! Test helpers: a fresh PostgreSQL database per test (on the real server named by
//! DATABASE_URL) or a fresh SQLite file, an in-process ledger server on a free port, and
//! builders for sample records. No mocks: every test talks gRPC to the real stack.
#![allow(dead_code)]

use std::net::SocketAddr;

use auth::Auth;
use ledger::metrics::Metrics;
use ledger::store::Store;
use ledger_api::common_pb;
use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use ledger_api::pb::receivables_service_client::ReceivablesServiceClient;
use sqlstore::scratch::{ScratchPg, admin_url};
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The key test servers started with `Some(KEY)` check tokens against.
pub const KEY: &str = "test-key-test-key-test-key-test-key";

/// `Bearer <token>` of a caller in `role`, signed with [`KEY`].
pub fn bearer(role: auth::Role) -> MetadataValue<Ascii> {
    let t = auth::sign_hs256(
        KEY,
        &auth::Claims {
            sub: "t".into(),
            role,
            exp: None,
        },
    );
    MetadataValue::try_from(format!("Bearer {t}")).expect("a header value")
}

/// A ReceivablesService client on `ch` calling in `role` (tokens signed with [`KEY`]).
pub fn receivables_client(
    ch: &Channel,
    role: auth::Role,
) -> ReceivablesServiceClient<InterceptedService<Channel, impl Interceptor + Clone>> {
    let v = bearer(role);
    ReceivablesServiceClient::with_interceptor(ch.clone(), move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", v.clone());
        Ok(r)
    })
}

/// A database that lives as long as the value (Postgres: dropped by `cleanup`).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pg: Option<ScratchPg>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let pg = ScratchPg::create(&admin_url(), "ledger_t")
            .await
            .expect("a database on PostgreSQL at DATABASE_URL (run scripts/services-up)");
        Self {
            url: pg.url.clone(),
            pg: Some(pg),
            _dir: None,
        }
    }

    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("ledger.db").display()
        );
        Self {
            url,
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

/// The ledger served in-process on 127.0.0.1 with a free port.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Store,
    /// The server's metrics (clones share the counters).
    pub metrics: Metrics,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(url: &str, key: Option<&str>) -> Self {
        Self::start_with(url, key, Default::default()).await
    }

    /// With these server options (clock, skew, batch size).
    pub async fn start_with(
        url: &str,
        key: Option<&str>,
        opts: ledger::server::ServeOptions,
    ) -> Self {
        service::telemetry::init_for_tests();
        let store = Store::connect(url).await.expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel();
        let s = store.clone();
        let auth = Auth::new(key);
        let metrics = Metrics::new();
        let m = metrics.clone();
        let task = tokio::spawn(async move {
            ledger::server::serve(s, m, auth, opts, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            addr,
            store,
            metrics,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn client(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.channel().await)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.store.close().await;
    }
}

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// 2026-01-05T15:00:00Z, a Monday.
pub const T0: i64 = 1_767_625_200;

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
                student_loan_group: String::new(),
                original_creditor: "Acme".into(),
                last_activity_at: None,
                receivables: None,
            },
            pb::Debt {
                debt_id: format!("{id}-d2"),
                balance_minor: 5_000,
                currency: "USD".into(),
                days_past_due: 30,
                student_loan_group: "sl-1".into(),
                original_creditor: "Acme".into(),
                last_activity_at: None,
                receivables: None,
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

pub fn outcome(
    key: &str,
    account: &str,
    kind: common_pb::OutcomeKind,
    at: i64,
) -> pb::ContactOutcome {
    pb::ContactOutcome {
        idempotency_key: key.to_owned(),
        account_id: account.to_owned(),
        person_id: "p1".into(),
        debt_ids: vec![format!("{account}-d1")],
        number: "+14045550134".into(),
        direction: pb::Direction::Outbound as i32,
        channel: pb::Channel::Call as i32,
        dial_mode: common_pb::DialMode::Predictive as i32,
        outcome: kind as i32,
        party: pb::Party::Consumer as i32,
        campaign_id: "c1".into(),
        agent_id: "a7".into(),
        started_at: ts(at),
        ring_ms: 12_000,
        talk_ms: if kind == common_pb::OutcomeKind::Conversation {
            95_000
        } else {
            0
        },
        amd: pb::AmdVerdict::Human as i32,
        recording_ref: format!("rec/{key}"),
        disposition: "RPC".into(),
        ..Default::default()
    }
}

pub async fn upsert(
    c: &mut LedgerServiceClient<Channel>,
    accounts: Vec<pb::Account>,
) -> pb::UpsertAccountsResponse {
    let reqs: Vec<_> = accounts
        .into_iter()
        .map(|a| pb::UpsertAccountRequest { account: Some(a) })
        .collect();
    c.upsert_accounts(tokio_stream::iter(reqs))
        .await
        .expect("upsert")
        .into_inner()
}

/// Sends outcomes in one stream (one message each) and returns every ack.
pub async fn record(
    c: &mut LedgerServiceClient<Channel>,
    outcomes: Vec<pb::ContactOutcome>,
) -> Vec<pb::OutcomeAck> {
    let n = outcomes.len();
    let reqs: Vec<_> = outcomes
        .into_iter()
        .map(|o| pb::RecordOutcomesRequest {
            outcomes: vec![o],
            fence: None,
        })
        .collect();
    let mut stream = c
        .record_outcomes(tokio_stream::iter(reqs))
        .await
        .expect("record")
        .into_inner();
    let mut acks = Vec::new();
    while let Some(r) = stream.message().await.expect("ack stream") {
        acks.extend(r.acks);
    }
    assert_eq!(acks.len(), n, "one ack per outcome");
    acks
}

/// Every outcome ListOutcomes returns for a filter, following page tokens.
pub async fn list_all(
    c: &mut LedgerServiceClient<Channel>,
    mut req: pb::ListOutcomesRequest,
) -> Vec<pb::ContactOutcome> {
    let mut out = Vec::new();
    loop {
        let r = c
            .list_outcomes(req.clone())
            .await
            .expect("list")
            .into_inner();
        out.extend(r.outcomes);
        if r.next_page_token.is_empty() {
            return out;
        }
        req.page_token = r.next_page_token;
    }
}

/// Generates a `postgres` and a `sqlite` test from `async fn(url)`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::common::TestDb::postgres().await;
                super::$name(&db.url).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite();
                super::$name(&db.url).await;
                db.cleanup().await;
            }
        }
    )*};
}
