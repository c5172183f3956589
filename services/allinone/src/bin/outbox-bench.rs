//! Outbox benchmark: `begin` + `finish` throughput into the outbox on SQLite and PostgreSQL
//! (group commit, and one transaction per call as the baseline), then the relay's delivered
//! outcomes/s into the real ledger (served in-process on a fresh PostgreSQL database). Not
//! part of the test suite; run with `cargo run --release -p allinone --bin outbox-bench`.

use std::time::{Duration, Instant};

use allinone::bench::{account, admin_url, phone, scratch_db};
use anyhow::bail;
use auth::Auth;
use auth::Token;
use clap::Parser;
use dialer::ledger_link::lazy_channel;
use dialer::outbox::{Outbox, OutboxOptions, RelayConfig};
use dialer::outcomes::OutcomeSink;
use jiff::Timestamp;
use ledger::metrics::Metrics;
use ledger::store::Store;
use ledger_api::domain::{
    AmdVerdict, Channel, ContactOutcome, DialMode, Direction, Outcome, Party,
};
use tokio::task::JoinSet;

#[derive(Debug, Parser)]
#[command(about = "Dialer outbox benchmark (SQLite and PostgreSQL)")]
struct Args {
    /// PostgreSQL server with CREATEDB rights (default: $DATABASE_URL, else the local test
    /// server); fresh databases are created and dropped.
    #[arg(long)]
    database_url: Option<String>,
    /// Attempts (one begin and one finish each) with group commit.
    #[arg(long, default_value_t = 50_000)]
    attempts: usize,
    /// Attempts for the one-transaction-per-call baseline.
    #[arg(long, default_value_t = 2_000)]
    baseline: usize,
    /// Concurrent callers (calls in progress at once).
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Ready outcomes relayed into the ledger.
    #[arg(long, default_value_t = 100_000)]
    relay: usize,
    /// Relay window (outcomes sent and not acknowledged).
    #[arg(long, default_value_t = RelayConfig::default().window)]
    window: usize,
    /// Accounts the outcomes are spread over.
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Only this store: `sqlite` or `postgres`.
    #[arg(long)]
    only: Option<String>,
}

const T0: i64 = 1_767_625_200;

fn outcome(i: usize, accounts: usize, prefix: &str, finished: bool) -> ContactOutcome {
    let a = i % accounts;
    ContactOutcome {
        idempotency_key: format!("{prefix}-{i}"),
        account_id: format!("B-{a}"),
        person_id: "p1".into(),
        debt_ids: vec![format!("B-{a}-d1")],
        number: phone(a),
        direction: Direction::Outbound,
        channel: Channel::Call,
        dial_mode: Some(DialMode::Predictive),
        outcome: if finished {
            Outcome::Voicemail
        } else {
            Outcome::NoAnswer
        },
        party: Party::Consumer,
        third_party_id: String::new(),
        campaign_id: "bench".into(),
        agent_id: String::new(),
        started_at: Timestamp::from_second(T0 + i as i64).expect("instant"),
        ring_ms: 18_000,
        talk_ms: 0,
        amd: AmdVerdict::Machine,
        recording_ref: String::new(),
        disposition: if finished { "VM" } else { "" }.into(),
        counts_for_regf: false,
        event_id: 0,
        recorded_at: None,
        checked_seq: 0,
    }
}

/// `n` attempts (begin, then finish) on `concurrency` tasks; returns (seconds, stats line).
async fn attempts(
    url: &str,
    opts: OutboxOptions,
    n: usize,
    concurrency: usize,
    accounts: usize,
    prefix: &'static str,
) -> anyhow::Result<(f64, String)> {
    let ob = Outbox::open_with(url, &format!("bench-{prefix}"), opts).await?;
    let started = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..concurrency {
        let ob = ob.clone();
        set.spawn(async move {
            let mut i = w;
            while i < n {
                ob.begin(&outcome(i, accounts, prefix, false)).await?;
                ob.finish(&outcome(i, accounts, prefix, true), &[]).await?;
                i += concurrency;
            }
            Ok::<_, dialer::outcomes::SinkError>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let secs = started.elapsed().as_secs_f64();
    let st = ob.stats().await?;
    if st.ready != n as u64 {
        bail!("expected {n} ready rows, found {}", st.ready);
    }
    let line = format!(
        "{n} attempts ({} calls) in {secs:.2} s: {:.0} attempts/s, {:.0} calls/s; {} commits, {:.1} calls per commit",
        st.calls,
        n as f64 / secs,
        st.calls as f64 / secs,
        st.commits,
        st.calls as f64 / st.commits.max(1) as f64
    );
    ob.close().await;
    Ok((secs, line))
}

async fn start_ledger(url: &str, accounts: usize) -> anyhow::Result<(String, Store)> {
    let store = Store::connect(url).await?;
    for a in 0..accounts {
        let acct = ledger_api::wire::account_in(account("B", a, 10_000))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        store.upsert_account(acct, "bench").await?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let s = store.clone();
    tokio::spawn(async move {
        if let Err(e) = ledger::server::serve(
            s,
            Metrics::new(),
            Auth::new(None),
            Default::default(),
            listener,
            std::future::pending(),
        )
        .await
        {
            eprintln!("ledger stopped: {e}");
        }
    });
    Ok((format!("http://{addr}"), store))
}

/// Fills the outbox with `n` ready rows, then relays them into the ledger at `uri`.
async fn relay(
    dialer_url: &str,
    ledger_uri: &str,
    n: usize,
    window: usize,
    accounts: usize,
    prefix: &'static str,
) -> anyhow::Result<String> {
    let ob = Outbox::open(dialer_url, "bench-relay").await?;
    let mut set = JoinSet::new();
    for w in 0..200 {
        let ob = ob.clone();
        set.spawn(async move {
            let mut i = w;
            while i < n {
                ob.finish(&outcome(i, accounts, prefix, true), &[]).await?;
                i += 200;
            }
            Ok::<_, dialer::outcomes::SinkError>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let started = Instant::now();
    let relay = ob.spawn_relay(
        lazy_channel(ledger_uri)?,
        Token::none(),
        RelayConfig {
            window,
            ..RelayConfig::default()
        },
    );
    let left = ob
        .flush(tokio::time::Instant::now() + Duration::from_secs(3600))
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let st = ob.stats().await?;
    relay.shutdown().await;
    ob.close().await;
    if left != 0 || st.dead != 0 {
        bail!("relay left {left} rows, {} dead", st.dead);
    }
    Ok(format!(
        "{n} outcomes delivered and acknowledged in {secs:.2} s: {:.0} outcomes/s ({} sent, {} duplicates)",
        n as f64 / secs,
        st.sent,
        st.duplicates
    ))
}

/// Group commit against one transaction per call on one store, a line each; `url_of` names
/// each run's database from its prefix (the prefixes keep the two runs' attempts apart on a
/// shared one).
async fn compare(store: &str, url_of: impl Fn(&str) -> String, args: &Args) -> anyhow::Result<()> {
    let single = OutboxOptions {
        max_batch: 1,
        ..OutboxOptions::default()
    };
    let runs = [
        (
            "group commit ",
            OutboxOptions::default(),
            args.attempts,
            "g",
        ),
        ("one tx/call  ", single, args.baseline, "s"),
    ];
    for (name, opts, n, prefix) in runs {
        let (_, l) = attempts(
            &url_of(prefix),
            opts,
            n,
            args.concurrency,
            args.accounts,
            prefix,
        )
        .await?;
        println!("{store} {name}: {l}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin = admin_url(args.database_url.as_deref());
    let dir = tempfile_dir()?;
    let want = |s: &str| args.only.as_deref().is_none_or(|o| o == s);
    println!(
        "outbox-bench: {} attempts, concurrency {}, baseline {} attempts, relay {} outcomes (window {})",
        args.attempts, args.concurrency, args.baseline, args.relay, args.window
    );
    if want("sqlite") {
        let url_of = |f: &str| format!("sqlite://{}?mode=rwc", dir.join(f).display());
        compare("sqlite  ", url_of, &args).await?;
    }
    if want("postgres") {
        let db = scratch_db(&admin, "outbox_bench").await?;
        let r = compare("postgres", |_| db.url.clone(), &args).await;
        db.drop_db().await;
        r?;
    }
    // Relay: the ledger on a fresh PostgreSQL database (production), the outbox on each store.
    let ldb = scratch_db(&admin, "outbox_bench").await?;
    let r = async {
        let (uri, store) = start_ledger(&ldb.url, args.accounts).await?;
        if want("sqlite") {
            let url = format!("sqlite://{}?mode=rwc", dir.join("relay.db").display());
            let l = relay(&url, &uri, args.relay, args.window, args.accounts, "rs").await?;
            println!("relay sqlite outbox -> ledger (postgres): {l}");
        }
        if want("postgres") {
            let odb = scratch_db(&admin, "outbox_bench").await?;
            let l = relay(&odb.url, &uri, args.relay, args.window, args.accounts, "rp").await;
            odb.drop_db().await;
            println!("relay postgres outbox -> ledger (postgres): {}", l?);
        }
        store.close().await;
        anyhow::Ok(())
    }
    .await;
    ldb.drop_db().await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// A fresh directory for the SQLite files.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("outbox-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
