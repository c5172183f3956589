//! The ledger's notion of "now" for checks that compare a sender's instants with the
//! present (an outcome may not start in the ledger's future). The wall clock in production;
//! set to another instant where the dialer runs on a set or virtual clock (demos and tests
//! with `DIALER_CARRIER_CLOCK_START`, the all-in-one's fast shift), so those runs stay
//! checked against the time they live in rather than the check being switched off. When
//! records were written (`recorded_at`, `updated_at`) is always the wall clock.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// A clock that reads the wall clock, or an instant it was set to plus the real time elapsed
/// since. Cheap to clone; clones share the setting, so an embedding process can move the
/// clock of a running ledger ([`Clock::set`]).
#[derive(Clone, Default)]
pub struct Clock(Arc<Mutex<Option<(Timestamp, Instant)>>>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self.lock() {
            None => f.write_str("Clock(system)"),
            Some(_) => write!(f, "Clock(set, now {})", self.now()),
        }
    }
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock reading `t` now and running in real time from there.
    pub fn starting_at(t: Timestamp) -> Clock {
        let c = Clock::default();
        c.set(t);
        c
    }

    /// From now on this clock (and every clone) reads `t`, then runs in real time.
    pub fn set(&self, t: Timestamp) {
        *self.lock() = Some((t, Instant::now()));
    }

    pub fn now(&self) -> Timestamp {
        match *self.lock() {
            None => Timestamp::now(),
            Some((t, at)) => {
                let elapsed = SignedDuration::try_from(at.elapsed()).unwrap_or(SignedDuration::MAX);
                t.checked_add(elapsed).unwrap_or(Timestamp::MAX)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Timestamp, Instant)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clocks_run_from_their_instant_and_clones_follow() {
        let t: Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
        let c = Clock::system();
        let shared = c.clone();
        assert!(c.now() < t);
        c.set(t);
        assert!(shared.now() >= t);
        assert!(shared.now() < t + SignedDuration::from_secs(60));
        let past: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
        let p = Clock::starting_at(past);
        assert!(p.now() >= past && p.now() < Timestamp::now());
    }
}
