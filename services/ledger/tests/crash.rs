//! Crash recovery: the real `ledgerd` binary is killed with SIGKILL in the middle of a
//! RecordOutcomes stream, restarted on the same database, and the client resends every
//! outcome it has no ack for (as the dialer's outbox does). Each idempotency key must then
//! be found exactly once through ListOutcomes. Runs on PostgreSQL and on the SQLite file.

mod common;

use std::collections::HashSet;
use std::process::Stdio;

use common::*;
use ledger_api::common_pb;
use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

const N: usize = 4000;
/// Outcomes sent but not yet acknowledged, at most (like an outbox window).
const WINDOW: usize = 400;

async fn spawn_ledgerd(url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledgerd"))
        .env("LEDGER_DATABASE_URL", url)
        .env("LEDGER_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn ledgerd");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .next_line()
        .await
        .unwrap()
        .expect("ledgerd prints its address");
    let addr = line
        .strip_prefix("ledgerd listening on ")
        .expect("listening line")
        .to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{addr}"))
}

async fn connect(uri: &str) -> LedgerServiceClient<Channel> {
    LedgerServiceClient::new(
        Channel::from_shared(uri.to_owned())
            .unwrap()
            .connect()
            .await
            .expect("connect to ledgerd"),
    )
}

fn outcomes() -> Vec<pb::ContactOutcome> {
    (0..N)
        .map(|i| {
            let acct = format!("K-{}", i % 20);
            outcome(
                &format!("crash-{i}"),
                &acct,
                common_pb::OutcomeKind::NoAnswer,
                T0 + i as i64,
            )
        })
        .collect()
}

/// Streams `todo` with at most WINDOW unacknowledged; `kill_after` acks, kills the child.
/// Returns the keys acknowledged before the stream ended.
async fn stream(
    client: &mut LedgerServiceClient<Channel>,
    todo: Vec<pb::ContactOutcome>,
    mut kill: Option<(usize, &mut Child)>,
) -> HashSet<String> {
    let (tx, rx) = mpsc::channel(16);
    let mut acks = client
        .record_outcomes(ReceiverStream::new(rx))
        .await
        .expect("open stream")
        .into_inner();
    let mut acked = HashSet::new();
    let mut sent = 0usize;
    let total = todo.len();
    let mut pending = todo.into_iter();
    loop {
        while sent < total && sent - acked.len() < WINDOW {
            let chunk: Vec<_> = pending.by_ref().take(10).collect();
            sent += chunk.len();
            if tx
                .send(pb::RecordOutcomesRequest {
                    outcomes: chunk,
                    fence: None,
                })
                .await
                .is_err()
            {
                break;
            }
        }
        if sent == total && acked.len() == total {
            break;
        }
        match acks.message().await {
            Ok(Some(r)) => {
                for a in r.acks {
                    assert_ne!(a.status, pb::AckStatus::Rejected as i32, "{a:?}");
                    acked.insert(a.idempotency_key);
                }
            }
            Ok(None) | Err(_) => break,
        }
        if let Some((after, child)) = kill.as_mut()
            && acked.len() >= *after
        {
            // SIGKILL: no shutdown hook, no flush, mid-stream with a window in flight.
            child.start_kill().expect("kill ledgerd");
            child.wait().await.expect("reap ledgerd");
            kill = None;
        }
    }
    acked
}

async fn crash_and_resend(url: &str) {
    // Load the accounts through a first instance.
    let (mut child, uri) = spawn_ledgerd(url).await;
    let mut c = connect(&uri).await;
    let accounts = (0..20).map(|i| account(&format!("K-{i}"))).collect();
    let r = upsert(&mut c, accounts).await;
    assert_eq!(r.created, 20);

    let all = outcomes();
    let acked = stream(&mut c, all.clone(), Some((N / 3, &mut child))).await;
    assert!(
        acked.len() < N,
        "the kill must land mid-stream ({} of {N} acked)",
        acked.len()
    );
    eprintln!("acked before the kill: {}", acked.len());

    // Restart on the same database and resend everything not acknowledged.
    let (_child2, uri) = spawn_ledgerd(url).await;
    let mut c = connect(&uri).await;
    let resend: Vec<_> = all
        .iter()
        .filter(|o| !acked.contains(&o.idempotency_key))
        .cloned()
        .collect();
    let n_resend = resend.len();
    let acked2 = stream(&mut c, resend, None).await;
    assert_eq!(acked2.len(), n_resend, "every resent outcome acked");

    // Each key exactly once.
    let listed = list_all(
        &mut c,
        pb::ListOutcomesRequest {
            page_size: 1000,
            ..Default::default()
        },
    )
    .await;
    let keys: Vec<_> = listed.iter().map(|o| o.idempotency_key.as_str()).collect();
    let unique: HashSet<_> = keys.iter().copied().collect();
    assert_eq!(keys.len(), N, "no outcome twice, none lost");
    assert_eq!(unique.len(), N);
    for o in &all {
        assert!(unique.contains(o.idempotency_key.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_postgres() {
    let db = TestDb::postgres().await;
    crash_and_resend(&db.url).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_sqlite() {
    let db = TestDb::sqlite();
    crash_and_resend(&db.url).await;
    db.cleanup().await;
}
