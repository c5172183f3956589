//! Ingest benchmark: streams outcomes through the real gRPC `RecordOutcomes` stream into a
//! fresh PostgreSQL database served in-process, prints outcomes/s, then measures a naive
//! one-row-per-transaction insert on the same database for comparison. Not part of the test
//! suite; run with `cargo run --release -p allinone --bin ledger-bench`.

use std::time::Instant;

use allinone::bench::{account, admin_url, phone, scratch_db};
use auth::Auth;
use clap::Parser;
use ledger::metrics::Metrics;
use ledger::store::Store;
use ledger_api::common_pb;
use ledger_api::pb;
use ledger_api::pb::ledger_service_client::LedgerServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

#[derive(Debug, Parser)]
#[command(about = "Ledger ingest benchmark (PostgreSQL)")]
struct Args {
    /// Server with CREATEDB rights (default: $DATABASE_URL, else the local test server); a
    /// fresh database is created and dropped.
    #[arg(long)]
    database_url: Option<String>,
    /// Outcomes streamed through gRPC.
    #[arg(long, default_value_t = 1_000_000)]
    outcomes: usize,
    /// Outcomes per stream message.
    #[arg(long, default_value_t = 50)]
    per_message: usize,
    /// Outcomes the client keeps in flight without an ack (outbox window).
    #[arg(long, default_value_t = 20_000)]
    window: usize,
    /// Rows for the naive one-row-per-transaction baseline.
    #[arg(long, default_value_t = 20_000)]
    naive: usize,
    /// Accounts the outcomes are spread over.
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Most outcomes per ingest transaction (server side).
    #[arg(long, default_value_t = ledger::grpc::MAX_BATCH)]
    max_batch: usize,
    /// Keep the database afterwards.
    #[arg(long)]
    keep: bool,
}

const T0: i64 = 1_767_625_200;

fn outcome(i: usize, accounts: usize, prefix: &str) -> pb::ContactOutcome {
    let a = i % accounts;
    let kinds = [
        common_pb::OutcomeKind::NoAnswer,
        common_pb::OutcomeKind::Busy,
        common_pb::OutcomeKind::Voicemail,
        common_pb::OutcomeKind::Machine,
        common_pb::OutcomeKind::Conversation,
    ];
    pb::ContactOutcome {
        idempotency_key: format!("{prefix}-{i}"),
        account_id: format!("acct-{a}"),
        person_id: "p1".into(),
        debt_ids: vec![format!("acct-{a}-d1")],
        number: phone(a),
        direction: pb::Direction::Outbound as i32,
        channel: pb::Channel::Call as i32,
        dial_mode: common_pb::DialMode::Predictive as i32,
        outcome: kinds[i % kinds.len()] as i32,
        party: pb::Party::Consumer as i32,
        campaign_id: "bench".into(),
        agent_id: format!("agent-{}", i % 50),
        started_at: Some(prost_types::Timestamp {
            seconds: T0 + i as i64,
            nanos: 0,
        }),
        ring_ms: 15_000,
        talk_ms: 0,
        amd: pb::AmdVerdict::Human as i32,
        recording_ref: String::new(),
        disposition: "NA".into(),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = scratch_db(&admin_url(args.database_url.as_deref()), "ledger_bench").await?;
    let result = run(&args, &db.url).await;
    if !args.keep {
        db.drop_db().await;
    }
    result
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let metrics = Metrics::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ledger::server::serve(
        store.clone(),
        metrics.clone(),
        Auth::new(None),
        ledger::server::ServeOptions {
            max_batch: args.max_batch,
            ..Default::default()
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let ch = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = LedgerServiceClient::new(ch);

    let t = Instant::now();
    let accts: Vec<_> = (0..args.accounts)
        .map(|a| pb::UpsertAccountRequest {
            account: Some(account("acct", a, 10_000 + a as i64)),
        })
        .collect();
    let r = client
        .upsert_accounts(tokio_stream::iter(accts))
        .await?
        .into_inner();
    anyhow::ensure!(
        r.created as usize == args.accounts,
        "accounts not loaded: {r:?}"
    );
    println!(
        "loaded {} accounts in {:.2}s",
        args.accounts,
        t.elapsed().as_secs_f64()
    );

    // Naive first (so it does not pay for the checkpoint the big run triggers): one INSERT
    // per transaction, one after the other, straight on the store.
    let t = Instant::now();
    for i in 0..args.naive {
        let o = ledger_api::wire::outcome_in(outcome(i, args.accounts, "naive"))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.record_outcome_naive(&o).await?;
    }
    let nsecs = t.elapsed().as_secs_f64();
    let naive_rate = args.naive as f64 / nsecs;
    println!(
        "naive one-row-per-transaction: {} outcomes in {nsecs:.1}s = {naive_rate:.0} outcomes/s \
         (1,000,000 would take {:.0}s)",
        args.naive,
        1_000_000.0 / naive_rate
    );
    // Batched: the real gRPC stream, acks after commit, a bounded in-flight window.
    let (tx, rx) = mpsc::channel::<pb::RecordOutcomesRequest>(64);
    let t = Instant::now();
    let mut acks = client
        .record_outcomes(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let (credit_tx, mut credit_rx) = mpsc::unbounded_channel::<usize>();
    let (n, per, window, accounts) = (args.outcomes, args.per_message, args.window, args.accounts);
    let producer = tokio::spawn(async move {
        let mut sent = 0usize;
        let mut acked = 0usize;
        while sent < n {
            while sent - acked >= window {
                match credit_rx.recv().await {
                    Some(k) => acked += k,
                    None => return,
                }
            }
            while let Ok(k) = credit_rx.try_recv() {
                acked += k;
            }
            let m = per.min(n - sent);
            let outcomes = (sent..sent + m)
                .map(|i| outcome(i, accounts, "b"))
                .collect();
            if tx
                .send(pb::RecordOutcomesRequest {
                    outcomes,
                    fence: None,
                })
                .await
                .is_err()
            {
                return;
            }
            sent += m;
        }
    });
    let mut recorded = 0usize;
    let mut got = 0usize;
    let mut next_report = 100_000;
    while got < n {
        let Some(r) = acks.message().await? else {
            anyhow::bail!("ack stream ended after {got} acks");
        };
        got += r.acks.len();
        recorded += r
            .acks
            .iter()
            .filter(|a| a.status == pb::AckStatus::Recorded as i32)
            .count();
        let _ = credit_tx.send(r.acks.len());
        if got >= next_report {
            println!(
                "  {got:>9} acked, {:>8.0} outcomes/s so far",
                got as f64 / t.elapsed().as_secs_f64()
            );
            next_report += 100_000;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    producer.await?;
    anyhow::ensure!(recorded == n, "only {recorded} of {n} recorded");
    let batched_rate = n as f64 / secs;
    let batches = metrics.batch_size.get_sample_count();
    println!(
        "batched gRPC stream: {n} outcomes in {secs:.1}s = {batched_rate:.0} outcomes/s \
         ({batches} transactions, mean batch {:.0})",
        metrics.batch_size.get_sample_sum() / batches.max(1) as f64
    );

    println!(
        "speed-up: {:.1}x; machine: {} cores",
        batched_rate / naive_rate,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let _ = stop.send(());
    server.await??;
    store.close().await;
    Ok(())
}
