//! Campaign ownership across replicas: exactly one replica drives (dials) each campaign, the
//! holder of its lease in the campaign table (owner, advertised address, fencing token,
//! expiry). Every replica runs this scan: it renews the leases it holds, notices the ones it
//! lost, and takes free or lapsed ones up to its fair share; a replica that took a campaign
//! from another adopts the calls that one knew about (its outbox rows). The token goes with
//! every outbox write, whose transaction refuses a token below the campaign's current one,
//! so a stale holder (a frozen process) cannot record what the new holder adopted. The
//! protocol and its clock arithmetic are in docs/architecture.md ("Campaign ownership").

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use crate::campaign_store::{CampaignStore, CampaignStoreError, LeaseRow};
use crate::metrics::Metrics;
use crate::outbox::Outbox;

/// How long a campaign lease lives unrenewed, and how often replicas scan the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub ttl: Duration,
    pub scan: Duration,
}

impl Default for LeaseTiming {
    /// A SIGKILLed holder's campaigns are taken over within ttl + 2 scans = 8 s.
    fn default() -> Self {
        LeaseTiming {
            ttl: Duration::from_secs(6),
            scan: Duration::from_secs(1),
        }
    }
}

impl LeaseTiming {
    /// How often the holder renews: a third of the ttl (or every scan, if sooner), so two
    /// renewals may fail before the lease is in danger.
    pub fn renew_every(&self) -> Duration {
        self.scan.min(self.ttl / 3)
    }

    /// How long after *sending* a renewal the holder keeps dialing on it: two thirds of the
    /// ttl. The stored expiry is the renewal's instant plus the full ttl, so the holder stops
    /// a third of the ttl before anyone may take over (room for clock skew between replicas
    /// and a slow database round trip).
    pub fn renew_deadline(&self) -> Duration {
        self.ttl - self.ttl / 3
    }

    /// The longest from a holder's death to another replica holding its campaign: the lease
    /// lapses within `ttl` of its last renewal, every replica scans within `scan` after that,
    /// and a replica already at its fair share takes it at its second sighting (one more
    /// scan) if no replica under its share did.
    pub fn takeover_bound(&self) -> Duration {
        self.ttl + 2 * self.scan
    }
}

/// A lease this replica holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    /// This replica dials the campaign until then (monotonic: a frozen process wakes up past
    /// it).
    valid_until: Instant,
}

/// The leases this replica holds and the last token it held per campaign.
#[derive(Debug)]
pub struct Leases {
    owner: String,
    /// The gRPC address advertised to other replicas (set once the listener is bound).
    addr: Mutex<String>,
    timing: LeaseTiming,
    held: Mutex<HashMap<String, Held>>,
    /// The token of each campaign's latest lease held here: writes carry it, also after the
    /// lease is lost (a write made under a lease nobody has taken over since is still good).
    tokens: Mutex<HashMap<String, i64>>,
    /// Every campaign's holder as of the last scan: (replica id, address, lease expiry), for
    /// routing agents' sessions.
    holders: Mutex<HashMap<String, (String, String, Timestamp)>>,
    metrics: Option<Metrics>,
}

impl Leases {
    pub fn new(owner: &str, timing: LeaseTiming, metrics: Option<Metrics>) -> Leases {
        Leases {
            owner: owner.to_string(),
            addr: Mutex::new(String::new()),
            timing,
            held: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            holders: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Where agents' sessions on `campaign` belong: `Some(address)` of the replica holding
    /// its lease when that is another one, `None` when this replica holds it or nobody does
    /// (the session is served here).
    pub fn route(&self, campaign: &str) -> Option<String> {
        if self.holds(campaign) {
            return None;
        }
        let holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let (owner, addr, expires) = holders.get(campaign)?;
        (owner != &self.owner && !addr.is_empty() && *expires > Timestamp::now())
            .then(|| addr.clone())
    }

    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// The address other replicas reach this one at.
    pub fn advertise(&self, addr: &str) {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = addr.to_string();
    }

    /// Whether this replica may dial `campaign` now: it holds the lease and its last renewal
    /// is recent enough.
    pub fn holds(&self, campaign: &str) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(campaign)
            .is_some_and(|h| Instant::now() < h.valid_until)
    }

    /// The fencing token writes about `campaign` carry (0: never held here).
    pub fn fence(&self, campaign: &str) -> i64 {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(campaign)
            .copied()
            .unwrap_or(0)
    }

    /// Campaigns whose lease this replica holds (renewed or not).
    pub fn held(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Counts a write refused for a stale lease.
    pub fn note_fenced(&self, campaign: &str) {
        if let Some(m) = &self.metrics {
            m.fenced_writes.with_label_values(&[campaign]).inc();
        }
    }

    /// The ledger refused a command sent for `campaign` under `token`: another replica has
    /// since sent a higher one, so it holds the campaign. Counted, and the lease is given up
    /// here at once if it is no newer than `token` (the next scan would find the loss too;
    /// this stops the dialing sooner).
    pub fn refused_by_ledger(&self, campaign: &str, token: i64) {
        if let Some(m) = &self.metrics {
            m.ledger_fenced.with_label_values(&[campaign]).inc();
        }
        let stale = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(campaign)
            .is_some_and(|h| h.token <= token);
        if stale {
            self.lost(campaign, "the ledger refused its fencing token");
        }
    }

    fn took(&self, campaign: &str, token: i64, valid_until: Instant) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(campaign.to_string(), Held { token, valid_until });
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(campaign.to_string(), token);
        if let Some(m) = &self.metrics {
            m.lease_acquired
                .with_label_values(&[campaign, &self.owner])
                .inc();
        }
    }

    /// The campaign stopped: nothing drives it any more (not a loss).
    fn ended(&self, campaign: &str) {
        let was = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(campaign);
        if was.is_some() {
            info!(campaign_id = campaign, "campaign stopped: its lease ends");
        }
    }

    fn lost(&self, campaign: &str, why: &str) {
        let was = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(campaign);
        if let Some(h) = was {
            warn!(
                campaign_id = campaign,
                token = h.token,
                why,
                "campaign lease lost: not dialing it"
            );
            if let Some(m) = &self.metrics {
                m.lease_lost
                    .with_label_values(&[campaign, &self.owner])
                    .inc();
            }
        }
    }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).unwrap_or_default())
        .unwrap_or(t)
}

fn minus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_sub(SignedDuration::try_from(d).unwrap_or_default())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// What the scan keeps from one round to the next.
#[derive(Debug, Default)]
pub struct ScanState {
    /// Campaigns seen free at the last scan and not taken: taken now even above the fair
    /// share (no replica under its share wanted them).
    seen_free: HashSet<String>,
}

/// One scan: renew what this replica holds, drop what it lost, take free or lapsed leases
/// up to the fair share (ceil(campaigns / live replicas)), adopting the previous holder's
/// outbox rows. `claim_ttl` tells live replicas (their id claims renewed within it).
pub async fn scan(
    leases: &Leases,
    store: &CampaignStore,
    outbox: Option<&Outbox>,
    claim_ttl: Duration,
    state: &mut ScanState,
) -> Result<(), CampaignStoreError> {
    let rows = store.leases().await?;
    *leases.holders.lock().unwrap_or_else(|e| e.into_inner()) = rows
        .iter()
        .filter(|r| !r.owner.is_empty())
        .map(|r| {
            (
                r.campaign.clone(),
                (r.owner.clone(), r.addr.clone(), r.expires_at),
            )
        })
        .collect();
    let by_id: HashMap<&str, &LeaseRow> = rows.iter().map(|r| (r.campaign.as_str(), r)).collect();
    // Renew (or notice the loss of) every lease held here.
    let mine: Vec<(String, Held)> = leases
        .held
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(c, h)| (c.clone(), *h))
        .collect();
    for (campaign, h) in mine {
        match by_id.get(campaign.as_str()) {
            Some(r) if r.owner == leases.owner && r.token == h.token => {
                let sent = Instant::now();
                let expires = plus(Timestamp::now(), leases.timing.ttl);
                match store
                    .renew_lease(&campaign, &leases.owner, h.token, expires)
                    .await
                {
                    Ok(true) => {
                        if let Some(x) = leases
                            .held
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_mut(&campaign)
                        {
                            x.valid_until = sent + leases.timing.renew_deadline();
                        }
                    }
                    Ok(false) => leases.lost(&campaign, "taken over"),
                    // Not renewed this time: dialing stops at `valid_until` unless a later
                    // renewal gets through.
                    Err(e) => {
                        warn!(campaign_id = %campaign, error = %e, "renewing the campaign lease")
                    }
                }
            }
            Some(_) => leases.lost(&campaign, "taken over"),
            None => leases.ended(&campaign),
        }
    }
    // Take free or lapsed leases up to the fair share.
    let now = Timestamp::now();
    let live = store
        .live_replicas(minus(now, claim_ttl))
        .await?
        .len()
        .max(1);
    let share = rows.len().div_ceil(live);
    let mut holding = leases.held().len();
    let mut free_now = HashSet::new();
    for r in &rows {
        let free = r.owner.is_empty() || r.expires_at < now;
        if !free || leases.holds(&r.campaign) {
            continue;
        }
        if holding >= share && !state.seen_free.contains(&r.campaign) {
            free_now.insert(r.campaign.clone());
            continue;
        }
        let sent = Instant::now();
        let addr = leases
            .addr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(token) = store
            .acquire_lease(r, &leases.owner, &addr, now, plus(now, leases.timing.ttl))
            .await?
        else {
            continue;
        };
        // Adopt what the previous holders wrote before dialing: their calls in progress are
        // recorded with their provisional outcomes, once.
        if let Some(outbox) = outbox
            && let Err(e) = outbox.adopt_campaign(&r.campaign).await
        {
            warn!(campaign_id = %r.campaign, error = %e, "adopting the previous holder's calls; retried at the next scan");
            let _ = store.release_lease(&r.campaign, &leases.owner, token).await;
            continue;
        }
        leases.took(&r.campaign, token, sent + leases.timing.renew_deadline());
        info!(
            campaign_id = %r.campaign,
            token,
            previous = %r.owner,
            "campaign lease acquired: dialing it"
        );
        holding += 1;
    }
    state.seen_free = free_now;
    Ok(())
}

/// Renews and takes leases every [`LeaseTiming::renew_every`] until aborted.
pub async fn run(
    leases: Arc<Leases>,
    store: CampaignStore,
    outbox: Option<Outbox>,
    claim_ttl: Duration,
) {
    let mut tick = tokio::time::interval(leases.timing.renew_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = ScanState::default();
    loop {
        tick.tick().await;
        if let Err(e) = scan(&leases, &store, outbox.as_ref(), claim_ttl, &mut state).await {
            warn!(error = %e, "scanning campaign leases");
        }
    }
}

/// Gives back every lease held (a clean shutdown, after the campaigns stopped dialing), so
/// other replicas take them at their next scan.
pub async fn release_all(leases: &Leases, store: &CampaignStore) {
    let held: Vec<(String, Held)> = leases
        .held
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain()
        .collect();
    for (campaign, h) in held {
        if let Err(e) = store.release_lease(&campaign, &leases.owner, h.token).await {
            warn!(campaign_id = %campaign, error = %e, "releasing the campaign lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_stops_before_its_lease_can_lapse_and_the_default_takes_over_within_10_s() {
        let t = LeaseTiming::default();
        assert!(t.renew_every() < t.renew_deadline());
        assert!(t.renew_deadline() < t.ttl);
        assert!(t.takeover_bound() <= Duration::from_secs(10));
        let fast = LeaseTiming {
            ttl: Duration::from_secs(3),
            scan: Duration::from_secs(2),
        };
        assert_eq!(fast.renew_every(), Duration::from_secs(1));
        assert_eq!(fast.renew_deadline(), Duration::from_secs(2));
    }
}
