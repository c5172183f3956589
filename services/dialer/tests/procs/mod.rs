//! Real `ledgerd` and `dialerd` processes for the end-to-end tests: spawn one and read the
//! address it prints, a CRM's and a manager's gRPC clients, a portfolio with ids unique to the
//! run, a team of softphones that tally every disposition they send and every one the dialer
//! confirmed saved, and the ledger's outcomes of a campaign. Everything goes through gRPC.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use auth::Role;
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1 as lpb;
use jiff::Timestamp;
use pb::agent_message::Event;
use pb::agent_request::Command as C;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;
use crate::harness::{self, Campaigns, PATIENCE, Softphone, bearer};

/// A service process and the address it printed.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    /// What it wrote on stderr (its logs), for failure messages.
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM (a graceful stop), and the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("pid");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("exits in time")
            .expect("exit status")
    }
}

/// Starts `bin` with `envs` and waits for the line starting with `ready_prefix`.
pub async fn spawn(bin: &PathBuf, envs: &[(&str, String)], ready_prefix: &str) -> Proc {
    spawn_with(bin, &[], envs, ready_prefix).await
}

/// As [`spawn`], with command-line `args` (e.g. `--config FILE`); `envs` may set `RUST_LOG`
/// (default `warn`).
pub async fn spawn_with(
    bin: &PathBuf,
    args: &[&str],
    envs: &[(&str, String)],
    ready_prefix: &str,
) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.args(args).env("RUST_LOG", "warn");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("service starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut errs = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let keep = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = errs.next_line().await {
            keep.lock().unwrap().push(l);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(PATIENCE, async {
        loop {
            let line = lines.next_line().await.expect("read");
            let Some(line) = line else {
                panic!(
                    "the service exited before printing its address: {:?}",
                    stderr.lock().unwrap()
                );
            };
            if let Some(a) = line.strip_prefix(ready_prefix) {
                return a.trim().parse::<SocketAddr>().expect("an address");
            }
        }
    })
    .await
    .expect("listening in time");
    // Keep draining stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc {
        child,
        addr,
        stderr,
    }
}

pub fn dialerd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dialerd"))
}

/// `ledgerd`, built next to `dialerd` by a workspace build; built here when missing.
pub fn ledgerd_bin() -> PathBuf {
    let dialerd = dialerd_bin();
    let path = dialerd.with_file_name(format!("ledgerd{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "ledger", "--bin", "ledgerd"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "ledgerd builds");
    }
    path
}

/// `ledgerd` on `db`, auth on.
pub async fn ledgerd(db: &common::TestDb) -> Proc {
    spawn(
        &ledgerd_bin(),
        &[
            ("LEDGER_DATABASE_URL", db.ledger_url.clone()),
            ("LEDGER_LISTEN", "127.0.0.1:0".into()),
            ("LEDGER_JWT_HS256_KEY", common::KEY.into()),
        ],
        "ledgerd listening on ",
    )
    .await
}

/// A client of the ledger at `addr` with a `role` token.
pub async fn ledger_client(addr: SocketAddr, role: Role) -> dialer::ledger_link::LedgerClient {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    lpb::ledger_service_client::LedgerServiceClient::with_interceptor(
        ch,
        auth::BearerAuth(auth::Token::fixed(common::jwt(role))),
    )
}

/// What every multi-process test starts from: a fresh database, `ledgerd` on it, a CRM
/// client of it, a portfolio of `n` accounts the CRM has loaded, with ids unique to this run
/// (`letter` starts them, one letter per test file), and the name of the campaign the test
/// creates (`<tag>-<run id>`).
pub async fn stage(
    letter: char,
    tag: &str,
    n: usize,
) -> (
    common::TestDb,
    Proc,
    dialer::ledger_link::LedgerClient,
    Vec<ledger_api::domain::Account>,
    String,
) {
    let db = common::TestDb::postgres().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let run = format!("{letter}{}-", &id[..8]);
    let ledgerd = ledgerd(&db).await;
    let accounts = portfolio(&run, n);
    let mut crm = ledger_client(ledgerd.addr, Role::Crm).await;
    load(&mut crm, &accounts).await;
    (db, ledgerd, crm, accounts, format!("{tag}-{}", &id[..8]))
}

/// Creates the predictive `campaign` through `campaigns` and queues every one of `accounts`;
/// returns how many were queued.
pub async fn create_campaign(
    campaigns: &mut Campaigns,
    campaign: &str,
    accounts: &[ledger_api::domain::Account],
) -> u32 {
    campaigns
        .create_campaign(harness::campaign(campaign, pb::PacingMode::Predictive))
        .await
        .expect("created");
    let ids: Vec<String> = accounts.iter().map(|a| a.account_id.clone()).collect();
    add_accounts(campaigns, campaign, &ids).await
}

/// The generated portfolio with ids unique to this run (the attempt counters in Redis
/// outlive a test run).
pub fn portfolio(run: &str, n: usize) -> Vec<ledger_api::domain::Account> {
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    dialer::portfolio::accounts(n, 21, since)
        .into_iter()
        .map(|mut a| {
            a.account_id = format!("{run}{}", a.account_id);
            for p in &mut a.persons {
                p.person_id = format!("{run}{}", p.person_id);
            }
            for d in &mut a.debts {
                d.debt_id = format!("{run}{}", d.debt_id);
            }
            for h in &mut a.holds {
                h.hold_id = format!("{run}{}", h.hold_id);
                h.account_id = a.account_id.clone();
                h.debt_id = format!("{run}{}", h.debt_id);
            }
            a
        })
        .collect()
}

/// The CRM loads `accounts` into the ledger.
pub async fn load(
    crm: &mut dialer::ledger_link::LedgerClient,
    accounts: &[ledger_api::domain::Account],
) {
    common::upsert(
        crm,
        accounts
            .iter()
            .cloned()
            .map(ledger_api::wire::account_out)
            .collect(),
    )
    .await;
}

/// dialerd's environment: the ledger, Redis, `replica`'s id, a clock from `clock_start`
/// running 20 times as fast as real time (so is the simulated network).
pub fn dialerd_env(
    db: &common::TestDb,
    ledger: SocketAddr,
    replica: &str,
    clock_start: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("DIALER_DATABASE_URL", db.dialer_url.clone()),
        ("DIALER_REDIS_URL", harness::redis_url()),
        ("DIALER_LEDGER_URL", format!("http://{ledger}")),
        ("DIALER_LEDGER_JWT_HS256_KEY", common::KEY.into()),
        ("DIALER_JWT_HS256_KEY", harness::KEY.into()),
        ("DIALER_LISTEN", "127.0.0.1:0".into()),
        ("DIALER_REPLICA_ID", replica.into()),
        ("DIALER_CARRIER_SCENARIO", "S2".into()),
        ("DIALER_CARRIER_SPEED", "20".into()),
        ("DIALER_CARRIER_CLOCK_START", clock_start.into()),
        ("DIALER_SHUTDOWN_GRACE_S", "30".into()),
    ]
}

pub async fn dialerd(envs: &[(&str, String)]) -> Proc {
    spawn(&dialerd_bin(), envs, "dialerd listening on ").await
}

/// dialerd with the TOML file `config` (e.g. a `[carrier]` section of kind `sip`) under
/// `envs`.
pub async fn dialerd_with_config(envs: &[(&str, String)], config: &std::path::Path) -> Proc {
    let config = config.to_str().expect("a UTF-8 path");
    spawn_with(
        &dialerd_bin(),
        &["--config", config],
        envs,
        "dialerd listening on ",
    )
    .await
}

/// One `dialerd` per replica id, each started with `env(id)`, and a manager's client on
/// each (in the order of `ids`).
pub async fn replicas(
    ids: &[&str],
    env: impl Fn(&str) -> Vec<(&'static str, String)>,
) -> (Vec<Proc>, Vec<Campaigns>) {
    let mut procs = Vec::new();
    let mut managers = Vec::new();
    for id in ids {
        let p = dialerd(&env(id)).await;
        managers.push(manager(p.addr).await);
        procs.push(p);
    }
    (procs, managers)
}

/// (holder replica id, fencing token) of `campaign`'s lease, read from the campaign table.
pub async fn lease(sql: &mut sqlx::PgConnection, campaign: &str) -> (String, i64) {
    sqlx::query_as("SELECT lease_owner, lease_token FROM dialer_campaigns WHERE campaign_id = $1")
        .bind(campaign)
        .fetch_one(sql)
        .await
        .expect("lease row")
}

/// Waits until `campaign` is held by a replica other than `not` (none: by anyone) with a
/// token above `above`; returns (holder, token).
pub async fn held_by_other(
    sql: &mut sqlx::PgConnection,
    campaign: &str,
    not: Option<&str>,
    above: i64,
) -> (String, i64) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let (owner, token) = lease(sql, campaign).await;
            if !owner.is_empty() && Some(owner.as_str()) != not && token > above {
                return (owner, token);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a holder in time")
}

/// Where replica `id` is in `ids`.
pub fn position(ids: &[&str], id: &str) -> usize {
    ids.iter()
        .position(|r| *r == id)
        .unwrap_or_else(|| panic!("{id} is not one of {ids:?}"))
}

/// The dials of `campaign` in its latest figures on one replica.
pub async fn dials(campaigns: &mut Campaigns, campaign: &str) -> u64 {
    harness::figures_until(campaigns, campaign, |_| true)
        .await
        .dials
}

/// Rows left in the dialer's outbox (all campaigns of the test database).
pub async fn outbox_left(dialer_url: &str) -> i64 {
    let mut sql = <sqlx::PgConnection as sqlx::Connection>::connect(dialer_url)
        .await
        .expect("dialer database");
    sqlx::query_scalar("SELECT count(*) FROM dialer_outbox")
        .fetch_one(&mut sql)
        .await
        .expect("outbox count")
}

/// A manager's CampaignService client on the dialerd at `addr`.
pub async fn manager(addr: SocketAddr) -> Campaigns {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    pb::campaign_service_client::CampaignServiceClient::with_interceptor(
        ch,
        bearer(&harness::token("e2e-manager", Role::Manager)),
    )
}

/// Adds `ids` to `campaign` in pages; returns how many were queued.
pub async fn add_accounts(campaigns: &mut Campaigns, campaign: &str, ids: &[String]) -> u32 {
    let mut queued = 0;
    for chunk in ids.chunks(250) {
        queued += campaigns
            .add_accounts(pb::AddAccountsRequest {
                campaign_id: campaign.into(),
                account_ids: chunk.to_vec(),
                filter: None,
                page_token: String::new(),
            })
            .await
            .expect("added")
            .into_inner()
            .queued;
    }
    queued
}

/// The dialer clock's reading in a campaign's latest figures (Unix ms).
pub async fn dialer_now(campaigns: &mut Campaigns, campaign: &str) -> i64 {
    let f = harness::figures_until(campaigns, campaign, |_| true).await;
    f.at.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .expect("figures carry their instant")
}

/// What a team's softphones sent and what the dialer confirmed saved, per (agent,
/// disposition code).
#[derive(Debug, Default)]
pub struct Tally {
    /// (agent, call id) -> the disposition code sent.
    sent: HashMap<(String, String), String>,
    /// (agent, call id) the dialer answered with DispositionSaved.
    saved: HashSet<(String, String)>,
}

impl Tally {
    /// (agent, code) -> number, of the dispositions sent.
    pub fn sent(&self) -> HashMap<(String, String), u32> {
        let mut out = HashMap::new();
        for ((agent, _), code) in &self.sent {
            *out.entry((agent.clone(), code.clone())).or_default() += 1;
        }
        out
    }

    /// (agent, code) -> number, of the dispositions the dialer confirmed saved.
    pub fn saved(&self) -> HashMap<(String, String), u32> {
        let mut out = HashMap::new();
        for ((agent, call), code) in &self.sent {
            if self.saved.contains(&(agent.clone(), call.clone())) {
                *out.entry((agent.clone(), code.clone())).or_default() += 1;
            }
        }
        out
    }

    pub fn saved_count(&self) -> usize {
        self.saved.len()
    }
}

/// The ledger's short code of a disposition (as the dialer records it).
pub fn ledger_code(code: pb::DispositionCode) -> &'static str {
    match code {
        pb::DispositionCode::CeaseRequest => "CEASE",
        pb::DispositionCode::Attorney => "ATTORNEY",
        pb::DispositionCode::RevokeConsent => "REVOKE_CONSENT",
        _ => "RPC",
    }
}

/// A running team: its tasks and its tally.
pub struct Team {
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub tally: Arc<Mutex<Tally>>,
}

impl Team {
    /// What the team sent and had confirmed so far (the team should be stopped).
    pub fn take_tally(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap())
    }

    /// How many calls the dialer has confirmed saved so far (the team goes on).
    pub fn saved_so_far(&self) -> usize {
        self.tally.lock().unwrap().saved_count()
    }

    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `n` softphones named `{prefix}-{i}` on the dialerd at `addr` that disposition every
/// connected call at once with the code `pick` chooses from a running call count.
pub async fn team(
    addr: SocketAddr,
    campaign: &str,
    prefix: &str,
    n: usize,
    pick: fn(u32) -> pb::DispositionCode,
) -> Team {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let agent = format!("{prefix}-{i}");
        let mut phone = Softphone::login_to(addr, &agent, campaign)
            .await
            .expect("login");
        let (tally, calls) = (tally.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            phone.send(C::Ready(pb::Ready {})).await;
            while let Ok(Some(m)) = phone.rx.message().await {
                match m.event {
                    Some(Event::Connected(c)) => {
                        let k = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let code = pick(k);
                        tally.lock().unwrap().sent.insert(
                            (agent.clone(), c.call_id.clone()),
                            ledger_code(code).to_string(),
                        );
                        phone
                            .send(C::Disposition(pb::DispositionCall {
                                call_id: c.call_id,
                                disposition: Some(pb::Disposition {
                                    code: code as i32,
                                    ..Default::default()
                                }),
                            }))
                            .await;
                    }
                    Some(Event::Saved(s)) => {
                        tally
                            .lock()
                            .unwrap()
                            .saved
                            .insert((agent.clone(), s.call_id));
                    }
                    _ => {}
                }
            }
        }));
    }
    Team { tasks, tally }
}

/// As [`team`], with softphones that reconnect whenever their session ends (the campaign
/// moved to another replica, the replica died), trying `addrs` in turn from their own: what
/// a softphone does behind a load balancer over the replicas.
pub async fn roaming_team(
    addrs: &[SocketAddr],
    campaign: &str,
    prefix: &str,
    n: usize,
    pick: fn(u32) -> pb::DispositionCode,
) -> Team {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let agent = format!("{prefix}-{i}");
        let (addrs, campaign) = (addrs.to_vec(), campaign.to_string());
        let (tally, calls) = (tally.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            let mut at = i;
            // Call ids are per replica: a softphone that moves between replicas may see one
            // twice, so its tally keys calls by session too.
            let mut session = 0u32;
            loop {
                session += 1;
                let addr = addrs[at % addrs.len()];
                let Some(mut phone) = roam_login(addr, &agent, &campaign).await else {
                    at += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                };
                if !phone.try_send(C::Ready(pb::Ready {})).await {
                    continue;
                }
                while let Ok(Some(m)) = phone.rx.message().await {
                    match m.event {
                        Some(Event::Connected(c)) => {
                            let k = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let code = pick(k);
                            tally.lock().unwrap().sent.insert(
                                (agent.clone(), format!("{session}/{}", c.call_id)),
                                ledger_code(code).to_string(),
                            );
                            let sent = phone
                                .try_send(C::Disposition(pb::DispositionCall {
                                    call_id: c.call_id,
                                    disposition: Some(pb::Disposition {
                                        code: code as i32,
                                        ..Default::default()
                                    }),
                                }))
                                .await;
                            if !sent {
                                break;
                            }
                        }
                        Some(Event::Saved(s)) => {
                            tally
                                .lock()
                                .unwrap()
                                .saved
                                .insert((agent.clone(), format!("{session}/{}", s.call_id)));
                        }
                        _ => {}
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }));
    }
    Team { tasks, tally }
}

/// A login at `addr`, or `None` if the replica does not answer or refuses.
async fn roam_login(addr: SocketAddr, agent: &str, campaign: &str) -> Option<Softphone> {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .ok()?
        .connect_timeout(std::time::Duration::from_secs(1))
        .connect()
        .await
        .ok()?;
    let mut client = pb::agent_service_client::AgentServiceClient::with_interceptor(
        ch,
        bearer(&harness::token(agent, Role::Agent)),
    );
    let endpoint = format!("sip:{agent}@sim");
    Softphone::login_endpoint(&mut client, agent, "", campaign, &endpoint)
        .await
        .ok()
}

/// Every outcome of `campaign`, in ledger domain types; fails if an attempt (idempotency
/// key) is there twice.
pub async fn outcomes(
    ledger: &mut dialer::ledger_link::LedgerClient,
    campaign: &str,
) -> Vec<ledger_api::domain::ContactOutcome> {
    let mut out = Vec::new();
    let mut req = lpb::ListOutcomesRequest {
        campaign_id: campaign.into(),
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let r = ledger
            .list_outcomes(req.clone())
            .await
            .expect("outcomes")
            .into_inner();
        out.extend(
            r.outcomes
                .into_iter()
                .map(|o| ledger_api::wire::outcome_from_pb(o).expect("a valid outcome")),
        );
        if r.next_page_token.is_empty() {
            let keys: std::collections::HashSet<&str> =
                out.iter().map(|o| o.idempotency_key.as_str()).collect();
            assert_eq!(keys.len(), out.len(), "an attempt recorded twice");
            return out;
        }
        req.page_token = r.next_page_token;
    }
}

/// Every disposition the dialer confirmed saved is in the ledger, and nothing was recorded
/// that an agent did not send: per (agent, code), saved <= recorded <= sent. (A disposition
/// sent just before a crash and not confirmed may or may not have been made durable.)
pub fn assert_dispositions_kept(
    tallies: &[&Tally],
    recorded: &[ledger_api::domain::ContactOutcome],
) {
    let mut in_ledger: HashMap<(String, String), u32> = HashMap::new();
    for o in recorded.iter().filter(|o| !o.agent_id.is_empty()) {
        if ["CEASE", "ATTORNEY", "REVOKE_CONSENT", "RPC"].contains(&o.disposition.as_str()) {
            *in_ledger
                .entry((o.agent_id.clone(), o.disposition.clone()))
                .or_default() += 1;
        }
    }
    let (mut sent, mut saved): (HashMap<_, u32>, HashMap<_, u32>) = Default::default();
    for t in tallies {
        for (k, n) in t.sent() {
            *sent.entry(k).or_default() += n;
        }
        for (k, n) in t.saved() {
            *saved.entry(k).or_default() += n;
        }
    }
    let keys: HashSet<&(String, String)> = sent.keys().chain(in_ledger.keys()).collect();
    for k in keys {
        let (s, v, l) = (
            sent.get(k).copied().unwrap_or(0),
            saved.get(k).copied().unwrap_or(0),
            in_ledger.get(k).copied().unwrap_or(0),
        );
        assert!(
            v <= l && l <= s,
            "{k:?}: {v} confirmed saved, {l} in the ledger, {s} sent"
        );
    }
}
