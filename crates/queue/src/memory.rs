//! In-process stores: the embedded default, with the same semantics as the Redis store
//! (atomic under one mutex), so tests can run the same scenarios against both.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::reservation::{AttemptBook, Reservation, ReserveOutcome};
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
}

/// Attempt counters in this process.
#[derive(Debug, Default)]
pub struct MemoryAttemptBook {
    /// counter key -> attempts (id, instant)
    counters: Mutex<HashMap<String, Vec<(String, Millis)>>>,
}

impl MemoryAttemptBook {
    pub fn new() -> MemoryAttemptBook {
        MemoryAttemptBook::default()
    }
}

impl AttemptBook for MemoryAttemptBook {
    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError> {
        r.validate()?;
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
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
        for key in r.debt_keys.iter().map(|d| r.debt_counter(d)).chain([phone]) {
            let v = c.entry(key).or_default();
            v.retain(|(_, at)| *at >= r.now - crate::reservation::KEEP_MS);
            v.push((r.attempt_id.clone(), r.now));
        }
        Ok(ReserveOutcome::Reserved)
    }

    async fn release(&self, r: &Reservation) -> Result<(), QueueError> {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for key in r
            .debt_keys
            .iter()
            .map(|d| r.debt_counter(d))
            .chain([r.phone_counter()])
        {
            if let Some(v) = c.get_mut(&key) {
                v.retain(|(id, _)| *id != r.attempt_id);
            }
        }
        Ok(())
    }

    async fn rebuild(
        &self,
        account: &str,
        attempts: &[crate::reservation::PastAttempt],
    ) -> Result<(), QueueError> {
        let mut c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        // Like the Redis store: the counters the history touches are replaced.
        for a in attempts {
            for key in a.counters(account) {
                c.remove(&key);
            }
        }
        for a in attempts {
            for key in a.counters(account) {
                c.entry(key).or_default().push((a.id.clone(), a.at));
            }
        }
        Ok(())
    }
}
