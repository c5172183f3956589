//! In-process stores: the embedded default, with the same semantics as the Redis store
//! (atomic under one mutex), so tests can run the same scenarios against both.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::reservation::{
    AttemptBook, Counters, KEEP_MS, PastAttempt, Reservation, ReserveOutcome, check_settled,
};
use crate::{
    CampaignQueue, Lease, Millis, Next, QueueError, QueueItem, QueueSizes, check_items, check_rank,
};

/// A rank as a totally ordered key (ranks are checked finite on the way in).
#[derive(Debug, Clone, Copy)]
struct Rank(f64);

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Rank {}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug, Default)]
struct State {
    ready: BTreeSet<(Rank, String)>,
    sleeping: BTreeSet<(Millis, String)>,
    /// account -> (token, expiry)
    leased: HashMap<String, (u64, Millis)>,
    expiries: BTreeSet<(Millis, String)>,
    /// Where each queued account is: its rank, and its wake time when asleep.
    rank: HashMap<String, (f64, Option<Millis>)>,
    seq: u64,
}

impl State {
    fn unqueue(&mut self, account: &str) {
        if let Some((rank, wake)) = self.rank.remove(account) {
            match wake {
                Some(at) => self.sleeping.remove(&(at, account.to_string())),
                None => self.ready.remove(&(Rank(rank), account.to_string())),
            };
        }
    }

    fn enqueue(&mut self, account: String, rank: f64, wake: Option<Millis>) {
        self.unqueue(&account);
        match wake {
            Some(at) => self.sleeping.insert((at, account.clone())),
            None => self.ready.insert((Rank(rank), account.clone())),
        };
        self.rank.insert(account, (rank, wake));
    }

    fn release(&mut self, account: &str) -> Option<(u64, Millis)> {
        let held = self.leased.remove(account)?;
        self.expiries.remove(&(held.1, account.to_string()));
        Some(held)
    }
}

/// A campaign queue in this process.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
    alive: AtomicBool,
}

impl MemoryQueue {
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the sets half-updated in a way that
        // loses accounts (each update is a few set operations), so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CampaignQueue for MemoryQueue {
    async fn push(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        check_items(items)?;
        let mut s = self.lock();
        for item in items {
            if s.leased.contains_key(&item.account) {
                continue;
            }
            let wake = s.rank.get(&item.account).and_then(|&(_, w)| w);
            s.enqueue(item.account.clone(), item.rank, wake);
        }
        Ok(())
    }

    async fn rerank(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        check_items(items)?;
        let mut s = self.lock();
        for item in items {
            if s.leased.contains_key(&item.account) {
                continue;
            }
            if let Some(&(_, wake)) = s.rank.get(&item.account) {
                s.enqueue(item.account.clone(), item.rank, wake);
            }
        }
        Ok(())
    }

    async fn push_sleeping(&self, items: &[QueueItem], at: Millis) -> Result<(), QueueError> {
        check_items(items)?;
        let mut s = self.lock();
        for item in items {
            if !s.leased.contains_key(&item.account) {
                s.enqueue(item.account.clone(), item.rank, Some(at));
            }
        }
        Ok(())
    }

    async fn pop_lease(
        &self,
        n: usize,
        now: Millis,
        ttl: Millis,
        _owner: &str,
    ) -> Result<Vec<Lease>, QueueError> {
        let mut s = self.lock();
        while let Some((at, account)) = s.sleeping.first().cloned() {
            if at > now {
                break;
            }
            let rank = s.rank.get(&account).map_or(0.0, |&(r, _)| r);
            s.enqueue(account, rank, None);
        }
        while let Some((at, account)) = s.expiries.first().cloned() {
            if at > now {
                break;
            }
            s.release(&account);
            let rank = s.rank.get(&account).map_or(0.0, |&(r, _)| r);
            s.enqueue(account, rank, None);
        }
        let mut out = Vec::with_capacity(n.min(s.ready.len()));
        while out.len() < n {
            let Some((rank, account)) = s.ready.pop_first() else {
                break;
            };
            // Keep the rank so an expired lease returns where it was.
            s.rank.insert(account.clone(), (rank.0, None));
            s.seq += 1;
            let token = s.seq;
            let expires_at = now.saturating_add(ttl);
            s.leased.insert(account.clone(), (token, expires_at));
            s.expiries.insert((expires_at, account.clone()));
            out.push(Lease {
                account,
                token,
                expires_at,
            });
        }
        Ok(out)
    }

    async fn complete(&self, lease: &Lease, next: Next) -> Result<bool, QueueError> {
        let mut s = self.lock();
        match s.leased.get(&lease.account) {
            Some(&(token, _)) if token == lease.token => {}
            _ => return Ok(false),
        }
        s.release(&lease.account);
        match next {
            Next::Ready { rank } => {
                check_rank(rank)?;
                s.enqueue(lease.account.clone(), rank, None);
            }
            Next::Sleep { at, rank } => {
                check_rank(rank)?;
                s.enqueue(lease.account.clone(), rank, Some(at));
            }
            Next::Retire => {
                s.rank.remove(&lease.account);
            }
        }
        Ok(true)
    }

    async fn extend(
        &self,
        leases: &[Lease],
        now: Millis,
        ttl: Millis,
    ) -> Result<usize, QueueError> {
        let mut s = self.lock();
        let mut held = 0;
        for lease in leases {
            if s.leased
                .get(&lease.account)
                .is_some_and(|&(t, _)| t == lease.token)
            {
                s.release(&lease.account);
                let expires_at = now.saturating_add(ttl);
                s.leased
                    .insert(lease.account.clone(), (lease.token, expires_at));
                s.expiries.insert((expires_at, lease.account.clone()));
                held += 1;
            }
        }
        Ok(held)
    }

    async fn remove(&self, account: &str) -> Result<(), QueueError> {
        let mut s = self.lock();
        s.release(account);
        s.unqueue(account);
        Ok(())
    }

    async fn next_wake(&self) -> Result<Option<Millis>, QueueError> {
        let s = self.lock();
        let sleeper = s.sleeping.first().map(|(at, _)| *at);
        let expiry = s.expiries.first().map(|(at, _)| *at);
        Ok(match (sleeper, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    async fn sizes(&self) -> Result<QueueSizes, QueueError> {
        let s = self.lock();
        Ok(QueueSizes {
            ready: s.ready.len() as u64,
            sleeping: s.sleeping.len() as u64,
            leased: s.leased.len() as u64,
        })
    }

    async fn mark_alive(&self) -> Result<(), QueueError> {
        self.alive.store(true, Ordering::Release);
        Ok(())
    }

    async fn is_alive(&self) -> Result<bool, QueueError> {
        Ok(self.alive.load(Ordering::Acquire))
    }
}

/// One counter: attempts (id, instant).
type Counter = Vec<(String, Millis)>;

/// Attempt counters in this process.
#[derive(Debug, Default)]
pub struct MemoryAttemptBook {
    /// account -> counter key -> attempts (the account's map is its key index).
    accounts: Mutex<HashMap<String, HashMap<String, Counter>>>,
}

impl MemoryAttemptBook {
    pub fn new() -> MemoryAttemptBook {
        MemoryAttemptBook::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Counter>>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Drops empty counters, and the account once it has none.
fn tidy(all: &mut HashMap<String, HashMap<String, Counter>>, account: &str) {
    if let Some(c) = all.get_mut(account) {
        c.retain(|_, v| !v.is_empty());
        if c.is_empty() {
            all.remove(account);
        }
    }
}

impl AttemptBook for MemoryAttemptBook {
    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError> {
        r.validate()?;
        let mut all = self.lock();
        let c = all.entry(r.account.clone()).or_default();
        for debt in &r.debt_keys {
            let key = r.debt_counter(debt);
            let n = c.get(&key).map_or(0, |v| {
                v.iter().filter(|(_, at)| *at >= r.window_start).count()
            });
            if n as u32 >= r.limit {
                return Ok(ReserveOutcome::DebtLimit { debt: debt.clone() });
            }
        }
        let phone = r.phone_counter();
        if let Some(last) = c
            .get(&phone)
            .and_then(|v| v.iter().map(|(_, at)| *at).max())
            && r.min_gap > 0
            && r.now < last.saturating_add(r.min_gap)
        {
            return Ok(ReserveOutcome::PhoneGap {
                until: last + r.min_gap,
            });
        }
        for key in r.counters() {
            let v = c.entry(key).or_default();
            v.retain(|(id, at)| *at > r.now - KEEP_MS && *id != r.attempt_id);
            v.push((r.attempt_id.clone(), r.now));
        }
        Ok(ReserveOutcome::Reserved)
    }

    async fn release(&self, r: &Reservation) -> Result<(), QueueError> {
        let mut all = self.lock();
        if let Some(c) = all.get_mut(&r.account) {
            for key in r.counters() {
                if let Some(v) = c.get_mut(&key) {
                    v.retain(|(id, _)| *id != r.attempt_id);
                }
            }
        }
        tidy(&mut all, &r.account);
        Ok(())
    }

    async fn settle(&self, r: &Reservation, debt_keys: &[String]) -> Result<(), QueueError> {
        r.validate()?;
        check_settled(debt_keys)?;
        let mut all = self.lock();
        let c = all.entry(r.account.clone()).or_default();
        let keep: Vec<String> = debt_keys
            .iter()
            .map(|d| r.debt_counter(d))
            .chain([r.phone_counter()])
            .collect();
        for key in r.counters() {
            if let Some(v) = c.get_mut(&key) {
                v.retain(|(id, _)| *id != r.attempt_id);
            }
        }
        for key in keep {
            let v = c.entry(key).or_default();
            v.retain(|(id, _)| *id != r.attempt_id);
            v.push((r.attempt_id.clone(), r.now));
        }
        tidy(&mut all, &r.account);
        Ok(())
    }

    async fn rebuild(
        &self,
        account: &str,
        attempts: &[PastAttempt],
        now: Millis,
        grace: Millis,
    ) -> Result<(), QueueError> {
        let mut all = self.lock();
        let c = all.entry(account.to_string()).or_default();
        let named: HashSet<&str> = attempts.iter().map(|a| a.id.as_str()).collect();
        let young = now.saturating_sub(grace);
        for v in c.values_mut() {
            v.retain(|(id, at)| !named.contains(id.as_str()) && *at > young);
        }
        let cut = now.saturating_sub(KEEP_MS);
        let mut seen = HashSet::new();
        for a in attempts.iter().filter(|a| a.at > cut) {
            if !seen.insert(a.id.as_str()) {
                continue;
            }
            for key in a.counters(account) {
                let v = c.entry(key).or_default();
                if !v.iter().any(|(id, _)| *id == a.id) {
                    v.push((a.id.clone(), a.at));
                }
            }
        }
        tidy(&mut all, account);
        Ok(())
    }

    async fn counters(&self, account: &str) -> Result<Counters, QueueError> {
        let all = self.lock();
        Ok(all
            .get(account)
            .map(|c| {
                c.iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                    .collect()
            })
            .unwrap_or_default())
    }
}
