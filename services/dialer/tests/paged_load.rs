//! A campaign's accounts load in pages (issue 13, "fast loads"): the engine asks its source
//! for a page at a time (`AccountSource::load_many`) and queues each page as it arrives, so a
//! large campaign dials its first page's accounts while the rest still load. The source here
//! holds every page after the first until the test has seen a dial: the order of events, not
//! time, is what is asserted (virtual time, paused tokio clock).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use carrier::sim::SimCarrier;
use dialer::account::{AccountSource, AccountView, SourceError};
use dialer::backend::{MemorySource, Stores};
use dialer::campaign::CampaignSpec;
use dialer::engine::{self, Clock};
use dialer::outcomes::MemorySink;
use dialer::portfolio;
use dialer::sim_agents::{self, Behaviour};
use jiff::Timestamp;
use queue::memory::{MemoryAttemptBook, MemoryQueue};
use simulator::scenario::{Scenario, ScenarioId};
use tokio::sync::Semaphore;

/// A source whose pages after the first wait for a permit; it logs what it serves.
struct Gated {
    inner: MemorySource,
    gate: Arc<Semaphore>,
    log: Arc<Mutex<Vec<String>>>,
    pages: Mutex<Vec<usize>>,
}

impl AccountSource for Gated {
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        self.log.lock().unwrap().push(format!("load {account_id}"));
        self.inner.load(account_id).await
    }

    async fn load_many(&self, ids: &[String]) -> Vec<Result<AccountView, SourceError>> {
        let n = {
            let mut p = self.pages.lock().unwrap();
            p.push(ids.len());
            p.len()
        };
        if n > 1 {
            self.gate.acquire().await.expect("gate").forget();
        }
        self.log.lock().unwrap().push(format!("page {n}"));
        self.inner.load_many(ids).await
    }
}

#[tokio::test(start_paused = true)]
async fn dialing_begins_before_the_last_page_is_read() {
    let since: Timestamp = "2026-11-01T00:00:00Z".parse().expect("ts");
    let accounts = portfolio::views(2_500, 21, since);
    let ids: Vec<String> = accounts
        .iter()
        .map(|v| v.account.account_id.clone())
        .collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Semaphore::new(0));
    let stores = Arc::new(Stores {
        queues: Box::new(|_| MemoryQueue::new()),
        book: MemoryAttemptBook::new(),
        outbox: MemorySink::default(),
        source: Gated {
            inner: MemorySource::new(accounts),
            gate: gate.clone(),
            log: log.clone(),
            pages: Mutex::new(Vec::new()),
        },
        compliance: compliance::Engine::builtin(),
        owner: "test-replica".into(),
    });
    // 2026-11-23 16:00 UTC, a Monday: calling hours across the US mainland.
    let (carrier, events) = SimCarrier::new(Scenario::get(ScenarioId::S2), 5);
    let clock = Clock::starting_at(
        "2026-11-23T16:00:00Z"
            .parse::<Timestamp>()
            .expect("ts")
            .as_millisecond(),
    );
    let spec = CampaignSpec {
        id: "paged".into(),
        name: "paged load".into(),
        ..CampaignSpec::default()
    };
    let (handle, task) = engine::spawn(
        spec,
        stores.clone(),
        Arc::new(carrier.clone()),
        events,
        clock,
    )
    .expect("campaign");
    let team =
        sim_agents::spawn_team(&handle, &carrier, 5, "a", &Behaviour::default(), 3).expect("team");
    handle.start().await.expect("start");
    let adding = {
        let h = handle.clone();
        tokio::spawn(async move { h.add_accounts(ids).await })
    };
    let mut figures = handle.figures();
    tokio::time::timeout(Duration::from_secs(600), figures.wait_for(|f| f.dials > 0))
        .await
        .expect("a dial while pages 2 and 3 wait (virtual time)")
        .expect("figures");
    log.lock().unwrap().push("dial".into());
    assert!(!adding.is_finished(), "the load is still under way");
    gate.add_permits(10);
    let report = adding.await.expect("task").expect("added");
    let pages = stores.source.pages.lock().unwrap().clone();
    assert_eq!(pages, vec![1000, 1000, 500], "pages of the ledger's size");
    let log = log.lock().unwrap().clone();
    let order: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|e| !e.starts_with("load "))
        .collect();
    assert_eq!(order, vec!["page 1", "dial", "page 2", "page 3"]);
    assert!(
        !log.iter().any(|e| e.starts_with("load ")),
        "a campaign load reads pages, not accounts one by one"
    );
    // Every account is accounted for: queued, or not callable now (holds), none lost.
    assert!(
        report.not_found.is_empty() && report.unavailable.is_empty(),
        "{report:?}"
    );
    assert!(report.queued > 2_000, "{report:?}");
    handle.stop().await;
    task.await.expect("campaign task");
    for t in team {
        t.abort();
    }
}
