//! Benchmark of a large campaign's start (issue 13, "fast loads").
//!
//! ```sh
//! bash scripts/services-up
//! cargo run --release -p allinone --bin campaign-load -- --accounts 1000000
//! ```
//!
//! In one process, on a throw-away PostgreSQL database and the local Redis: a ledger served
//! over gRPC, loaded with `--accounts` generated accounts through `UpsertAccounts` (streams
//! of `--per-stream` records, as a CRM would send them; the figure is accounts/s), then
//! `dialerd` assembled from its configuration as the binary is (its outbox on the same
//! PostgreSQL, queues and counters on Redis, the ledger link), `--agents` softphones ready on
//! a predictive campaign on the simulated carrier. The campaign is started, then its accounts
//! are added (AddAccounts, 100,000 ids a call, the dialer reading them from the ledger a page
//! at a time); printed: the time from StartCampaign to the first dial, how many accounts
//! were queued then, and the time until every account was queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allinone::bench::{admin_url, scratch_db};
use anyhow::Context as _;
use auth::{Auth, BearerAuth, Claims, Role, Token, sign_hs256};
use clap::Parser;
use collections_proto::dialer_v1 as pb;
use dialer::config::{CarrierConfig, Config, ServerSettings};
use ledger_api::pb as lpb;
use lpb::ledger_service_client::LedgerServiceClient;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use pb::agent_service_client::AgentServiceClient;
use pb::campaign_service_client::CampaignServiceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const LEDGER_KEY: &str = "campaign-load-ledger-key-0123456789abcdef";
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
}

fn token(key: &str, sub: &str, role: Role) -> Token {
    Token::fixed(sign_hs256(
        key,
        &Claims {
            sub: sub.into(),
            role,
            exp: None,
        },
    ))
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

/// Generated accounts `start..start + n` of the run, as UpsertAccounts messages.
fn generated(run: &str, start: usize, n: usize) -> Vec<lpb::UpsertAccountRequest> {
    let since = jiff::Timestamp::constant(1_793_491_200, 0); // 2026-11-01
    let mut out = Vec::with_capacity(n);
    let mut at = start;
    while at < start + n {
        let take = GENERATE.min(start + n - at);
        let block = at / GENERATE;
        for mut a in dialer::portfolio::accounts(take, block as u64 + 1, since) {
            let pre = format!("{run}-{block:04}");
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
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let campaign = format!("load-{run}");

    // The ledger on PostgreSQL, served over loopback gRPC.
    let store = ledger::store::Store::connect(url).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ledger_addr = listener.local_addr()?;
    let (stop_ledger, ledger_stopped) = tokio::sync::oneshot::channel::<()>();
    let ledger_task = tokio::spawn(ledger::server::serve(
        store.clone(),
        ledger::metrics::Metrics::new(),
        Auth::new(Some(LEDGER_KEY)),
        ledger::server::ServeOptions::default(),
        listener,
        async {
            let _ = ledger_stopped.await;
        },
    ));
    let ledger_uri = format!("http://{ledger_addr}");
    let channel = tonic::transport::Endpoint::from_shared(ledger_uri.clone())?
        .connect()
        .await?;
    let mut crm = LedgerServiceClient::with_interceptor(
        channel,
        BearerAuth(token(LEDGER_KEY, "crm-loader", Role::Crm)),
    )
    .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES);

    // 1. The load: streams of `per_stream` records, generated while the previous is sent.
    let t = Instant::now();
    let mut created = 0u64;
    let mut start = 0;
    let mut next = {
        let (run, n) = (run.clone(), args.per_stream.min(args.accounts));
        tokio::task::spawn_blocking(move || generated(&run, 0, n))
    };
    let mut gen_s = 0.0;
    while start < args.accounts {
        let g = Instant::now();
        let reqs = next.await?;
        gen_s += g.elapsed().as_secs_f64();
        let n = reqs.len();
        let after = start + n;
        let m = args.per_stream.min(args.accounts.saturating_sub(after));
        next = {
            let run = run.clone();
            tokio::task::spawn_blocking(move || generated(&run, after, m))
        };
        let r = crm
            .upsert_accounts(tokio_stream::iter(reqs))
            .await?
            .into_inner();
        anyhow::ensure!(
            r.rejected == 0,
            "records refused: {:?}",
            r.results.iter().find(|x| x.error.is_some())
        );
        created += u64::from(r.created);
        start = after;
        println!(
            "  {start:>8} accounts loaded, {:.0} accounts/s so far",
            start as f64 / (t.elapsed().as_secs_f64() - gen_s).max(1e-9)
        );
    }
    let load_s = t.elapsed().as_secs_f64() - gen_s;
    println!(
        "ledger (PostgreSQL) load over gRPC: {created} accounts in {load_s:.1} s = {:.0} accounts/s \
         (generating them, {gen_s:.1} s not waiting on the ledger, excluded)",
        created as f64 / load_s
    );

    // 2. dialerd on the same PostgreSQL and the local Redis, reading from the ledger.
    let cfg = Config {
        server: ServerSettings {
            database_url: url.to_owned(),
            jwt_hs256_key: Some(DIALER_KEY.into()),
            listen: "127.0.0.1:0".into(),
            ..ServerSettings::default()
        },
        redis_url: Some(args.redis.clone()),
        ledger_url: Some(ledger_uri),
        ledger_jwt_hs256_key: Some(LEDGER_KEY.into()),
        replica_id: format!("load-{run}"),
        carrier: CarrierConfig::Sim {
            scenario: "S2".into(),
            seed: 1,
            speed: 1.0,
            clock_start: Some("2026-11-23T17:00:00Z".into()),
        },
        shutdown_grace_s: 30,
        ..Config::default()
    };
    cfg.validate().context("config")?;
    let server = dialer::app::Local::start(&cfg, Duration::from_secs(60)).await?;
    let (addr, registry) = (server.addr, server.registry.clone());
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut manager = CampaignServiceClient::with_interceptor(
        channel.clone(),
        BearerAuth(token(DIALER_KEY, "load-manager", Role::Manager)),
    );
    manager
        .create_campaign(pb::CreateCampaignRequest {
            campaign: Some(pb::Campaign {
                campaign_id: campaign.clone(),
                name: Some("campaign load".into()),
                pacing: Some(pb::Pacing {
                    mode: pb::PacingMode::Predictive as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await?;
    let mut agents = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let name = format!("load-agent-{i}");
        let mut client = AgentServiceClient::with_interceptor(
            channel.clone(),
            BearerAuth(token(DIALER_KEY, &name, Role::Agent)),
        );
        let (tx, rx) = mpsc::channel(16);
        let send = |c| pb::AgentRequest { command: Some(c) };
        tx.send(send(C::Login(pb::Login {
            campaign_id: campaign.clone(),
            endpoint: format!("sip:{name}@load"),
            agent_id: String::new(),
        })))
        .await?;
        tx.send(send(C::Ready(pb::Ready {}))).await?;
        let mut events = client.session(ReceiverStream::new(rx)).await?.into_inner();
        agents.push(tokio::spawn(async move {
            while let Ok(Some(m)) = events.message().await {
                if let Some(Event::Ended(e)) = m.event {
                    let d = pb::DispositionCall {
                        call_id: e.call_id,
                        disposition: Some(pb::Disposition {
                            code: pb::DispositionCode::RightPartyContact as i32,
                            ..Default::default()
                        }),
                    };
                    if tx.send(send(C::Disposition(d))).await.is_err() {
                        return;
                    }
                }
            }
        }));
    }

    // 3. Start, then add every account; watch for the first dial meanwhile.
    let added = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    manager
        .start_campaign(pb::StartCampaignRequest {
            campaign_id: campaign.clone(),
        })
        .await?;
    let first = {
        let (registry, campaign, added) = (registry.clone(), campaign.clone(), added.clone());
        tokio::spawn(async move {
            loop {
                let f = registry
                    .figures()
                    .into_iter()
                    .map(|(_, f)| f)
                    .find(|f| f.campaign_id == campaign);
                if let Some(f) = f.filter(|f| f.dials > 0) {
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
    let ids_of = |start: usize, n: usize| -> Vec<String> {
        (start..start + n)
            .map(|i| {
                let block = i / GENERATE;
                format!("{run}-{block:04}-A{:06}", i % GENERATE)
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

    manager
        .stop_campaign(pb::StopCampaignRequest {
            campaign_id: campaign.clone(),
            wait: false,
        })
        .await?;
    for a in agents {
        a.abort();
    }
    drop(manager);
    if server.shutdown(Duration::from_secs(60)).await.is_none() {
        println!("dialerd did not shut down within 60 s");
    }
    let _ = stop_ledger.send(());
    let _ = ledger_task.await;
    store.close().await;
    Ok(())
}
