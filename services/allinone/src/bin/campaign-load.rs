//! Benchmark of a large campaign's start (issue 13, "fast loads").
//!
//! ```sh
//! bash scripts/services-up
//! cargo run --release -p allinone --bin campaign-load -- --accounts 1000000
//! ```
//!
//! In one process, on a throw-away PostgreSQL database and the local Redis: a ledger served
//! over gRPC, loaded with `--accounts` generated accounts through `UpsertAccounts` (streams
//! of `--per-stream` records, `--streams` of them at a time, as a CRM's import workers would
//! send them; the figure is accounts/s), then
//! `dialerd` assembled from its configuration as the binary is (its outbox on the same
//! PostgreSQL, queues and counters on Redis, the ledger link), `--agents` softphones ready on
//! a predictive campaign on the simulated carrier. The campaign is started, then its accounts
//! are added (AddAccounts, 100,000 ids a call, the dialer reading them from the ledger a page
//! at a time); printed: the time from StartCampaign to the first dial, how many accounts
//! were queued then, and the time until every account was queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allinone::bench::{BenchDialer, DialerSetup, admin_url, campaign_figures, scratch_db, token};
use allinone::embedded;
use anyhow::Context as _;
use auth::{BearerAuth, Role};
use clap::Parser;
use collections_proto::dialer_v1 as pb;
use ledger_api::pb as lpb;
use lpb::ledger_service_client::LedgerServiceClient;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DIALER_KEY: &str = "campaign-load-dialer-key-0123456789abcdef";
/// Accounts generated at a time (the load streams them as they are made).
const GENERATE: usize = 10_000;

#[derive(Parser)]
struct Args {
    /// Accounts loaded into the ledger and added to the campaign.
    #[arg(long, default_value_t = 1_000_000)]
    accounts: usize,
    /// Records per UpsertAccounts stream (its response lists every record, so a stream
    /// stays well under the 16 MiB message limit).
    #[arg(long, default_value_t = 100_000)]
    per_stream: usize,
    /// UpsertAccounts streams sent at a time (a CRM's import workers; each stream's chunks
    /// commit in order, streams write side by side).
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// Softphones ready on the campaign.
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// PostgreSQL server to create the throw-away database on (default: $DATABASE_URL or
    /// the local test server).
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Keep the database afterwards.
    #[arg(long)]
    keep: bool,
    /// Stop after the ledger load (no campaign): for comparing load rates.
    #[arg(long)]
    load_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = scratch_db(&admin_url(args.database_url.as_deref()), "campaign_load").await?;
    let result = run(&args, &db.url).await;
    if !args.keep {
        db.drop_db().await;
    }
    result
}

/// Generated accounts `start..start + n` of the run (one stream's), as UpsertAccounts
/// messages: blocks of [`GENERATE`] from `start`, each named by where it starts.
fn generated(run: &str, start: usize, n: usize) -> Vec<lpb::UpsertAccountRequest> {
    let since = jiff::Timestamp::constant(1_793_491_200, 0); // 2026-11-01
    let mut out = Vec::with_capacity(n);
    let mut at = start;
    while at < start + n {
        let take = GENERATE.min(start + n - at);
        for mut a in dialer::portfolio::accounts(take, at as u64 + 1, since) {
            let pre = format!("{run}-{at:07}");
            a.account_id = format!("{pre}-{}", a.account_id);
            for d in &mut a.debts {
                d.debt_id = format!("{pre}-{}", d.debt_id);
            }
            for h in &mut a.holds {
                h.hold_id = format!("{pre}-{}", h.hold_id);
                h.account_id.clone_from(&a.account_id);
                h.debt_id = format!("{pre}-{}", h.debt_id);
            }
            for p in &mut a.persons {
                p.person_id = format!("{pre}-{}", p.person_id);
                // The generator may draw one number twice; the ledger refuses that.
                let mut seen = std::collections::HashSet::new();
                p.phones.retain(|ph| seen.insert(ph.number.clone()));
            }
            out.push(lpb::UpsertAccountRequest {
                account: Some(ledger_api::wire::account_out(a)),
            });
        }
        at += take;
    }
    out
}

async fn run(args: &Args, url: &str) -> anyhow::Result<()> {
    anyhow::ensure!(args.streams >= 1, "--streams: at least 1");
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let campaign = format!("load-{run}");

    // The ledger on PostgreSQL, served over loopback gRPC.
    let ledger = embedded::serve_ledger(url).await?;
    let channel = tonic::transport::Endpoint::from_shared(ledger.uri.clone())?
        .connect()
        .await?;
    let crm = LedgerServiceClient::with_interceptor(
        channel,
        BearerAuth(token(&ledger.jwt_key, "crm-loader", Role::Crm)),
    )
    .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES);

    // 1. The load: streams of `per_stream` records, `streams` at a time, generated ahead
    // (one stream's worth per stream slot) while the others are sent.
    let t = Instant::now();
    let (gen_tx, mut gen_rx) = tokio::sync::mpsc::channel(args.streams);
    let generator = {
        let (run, total, per) = (run.clone(), args.accounts, args.per_stream);
        tokio::spawn(async move {
            let mut start = 0;
            while start < total {
                let n = per.min(total - start);
                let run = run.clone();
                let reqs = tokio::task::spawn_blocking(move || generated(&run, start, n)).await?;
                if gen_tx.send(reqs).await.is_err() {
                    break;
                }
                start += n;
            }
            anyhow::Ok(())
        })
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(args.streams));
    let mut sending = tokio::task::JoinSet::new();
    let loaded = Arc::new(AtomicU64::new(0));
    let mut created = 0u64;
    // Time the ledger sat idle waiting for generated records: not the ledger's.
    let mut gen_s = 0.0;
    loop {
        let slot = slots.clone().acquire_owned().await?;
        let g = Instant::now();
        let idle = slots.available_permits() + 1 == args.streams;
        let Some(reqs) = gen_rx.recv().await else {
            break;
        };
        if idle {
            gen_s += g.elapsed().as_secs_f64();
        }
        let mut crm = crm.clone();
        let loaded = loaded.clone();
        let n = reqs.len() as u64;
        sending.spawn(async move {
            let r = crm
                .upsert_accounts(tokio_stream::iter(reqs))
                .await?
                .into_inner();
            drop(slot);
            anyhow::ensure!(
                r.rejected == 0,
                "records refused: {:?}",
                r.results.iter().find(|x| x.error.is_some())
            );
            let so_far = loaded.fetch_add(n, Ordering::Relaxed) + n;
            println!(
                "  {so_far:>8} accounts loaded, {:.1} s (generation waits included)",
                t.elapsed().as_secs_f64()
            );
            anyhow::Ok(r.created)
        });
        while let Some(done) = sending.try_join_next() {
            created += u64::from(done??);
        }
    }
    while let Some(done) = sending.join_next().await {
        created += u64::from(done??);
    }
    generator.await??;
    let load_s = t.elapsed().as_secs_f64() - gen_s;
    println!(
        "ledger (PostgreSQL) load over gRPC, {} stream(s) at a time: {created} accounts in \
         {load_s:.1} s = {:.0} accounts/s (generating them, {gen_s:.1} s not waiting on the \
         ledger, excluded)",
        args.streams,
        created as f64 / load_s
    );

    if args.load_only {
        ledger.shutdown().await;
        return Ok(());
    }

    // 2. dialerd on the same PostgreSQL and the local Redis, reading from the ledger, and
    // the softphones ready on the campaign.
    let dialer = BenchDialer::start(
        &DialerSetup {
            run: run.clone(),
            database_url: url.to_owned(),
            jwt_key: DIALER_KEY.into(),
            redis_url: Some(args.redis.clone()),
            ledger_uri: ledger.uri.clone(),
            ledger_key: ledger.jwt_key.clone(),
            speed: 1.0,
        },
        &campaign,
        "campaign load",
    )
    .await?;
    let agents = dialer
        .softphones(args.agents, Duration::ZERO, Arc::default())
        .await?;
    let mut manager = dialer.manager.clone();

    // 3. Start, then add every account; watch for the first dial meanwhile.
    let added = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    manager
        .start_campaign(pb::StartCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await?;
    let first = {
        let (registry, campaign, added) = (
            dialer.server.registry.clone(),
            campaign.clone(),
            added.clone(),
        );
        tokio::spawn(async move {
            loop {
                if let Some(f) = campaign_figures(&registry, &campaign).filter(|f| f.dials > 0) {
                    println!(
                        "  first dial {:.2} s after StartCampaign",
                        t0.elapsed().as_secs_f64()
                    );
                    return (
                        t0.elapsed().as_secs_f64(),
                        f.queue.ready + f.queue.sleeping + f.queue.leased,
                        added.load(Ordering::Relaxed),
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let per_stream = args.per_stream;
    let ids_of = |start: usize, n: usize| -> Vec<String> {
        (start..start + n)
            .map(|i| {
                let stream = i / per_stream * per_stream;
                let block = stream + (i - stream) / GENERATE * GENERATE;
                format!("{run}-{block:07}-A{:06}", i - block)
            })
            .collect()
    };
    let mut queued = 0u64;
    let mut not_found = 0usize;
    let mut at = 0;
    while at < args.accounts {
        let n = dialer::registry::MAX_ACCOUNTS_PER_ADD.min(args.accounts - at);
        let r = manager
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: campaign.clone(),
                account_ids: ids_of(at, n),
                filter: None,
                page_token: String::new(),
            })
            .await?
            .into_inner();
        queued += u64::from(r.queued);
        not_found += r.not_found.len();
        at += n;
        added.store(at as u64, Ordering::Relaxed);
        println!(
            "  {at:>8} accounts added, {queued} queued, {:.1} s after start",
            t0.elapsed().as_secs_f64()
        );
    }
    let full_s = t0.elapsed().as_secs_f64();
    let (first_s, in_queue, calls_done) = tokio::time::timeout(Duration::from_secs(120), first)
        .await
        .context("no dial within 120 s of the last account queued")??;
    println!();
    println!(
        "campaign of {} accounts ({} agents, predictive, Redis queue):",
        args.accounts, args.agents
    );
    println!(
        "  first dial           {first_s:.2} s after StartCampaign ({in_queue} accounts in the \
         queue then; {calls_done} of {} added by finished AddAccounts calls)",
        args.accounts
    );
    println!(
        "  queue full           {full_s:.1} s after StartCampaign ({queued} queued, {} not \
         callable or held, {not_found} not found) = {:.0} accounts/s",
        args.accounts as u64 - queued - not_found as u64,
        args.accounts as f64 / full_s
    );

    drop(manager);
    if !dialer.stop(agents, Duration::from_secs(60)).await? {
        println!("dialerd did not shut down within 60 s");
    }
    ledger.shutdown().await;
    Ok(())
}
