//! The queue lease of a call's account as a guard: handed out in one place, given back in
//! one place, and never forgotten in between.
//!
//! [`Held`] is the only holder of a [`Lease`] in the engine. It cannot be cloned, and the one
//! way to end it is [`Held::settle`] with what comes next for the account, which gives a
//! [`Release`] for the engine to apply (`Runtime::release`, the only caller of the queue's
//! `complete`). Completing is async (a store round trip), so it cannot happen in `Drop`;
//! instead both types are `#[must_use]` (a settle whose release is ignored does not compile
//! with warnings denied) and settling consumes the guard, so a lease is never completed
//! twice. What types cannot see, a guard dropped with whatever held it, [`Leases`] does: it
//! counts the guards handed out and the releases applied, and between two events every open
//! lease must be held by a call of the campaign (the engine asserts it after every event in
//! debug builds and checks it every second).

use queue::{Lease, Next};

/// A leased account, until [`Held::settle`] says what comes next for it.
#[derive(Debug)]
#[must_use = "a lease must be settled (Held::settle) and released (Runtime::release)"]
pub(crate) struct Held(Lease);

impl Held {
    pub(crate) fn account(&self) -> &str {
        &self.0.account
    }

    /// The lease, to extend it while the call lasts.
    pub(crate) fn lease(&self) -> &Lease {
        &self.0
    }

    /// Ends the lease with `next`: the release to apply.
    pub(crate) fn settle(self, next: Next) -> Release {
        Release {
            lease: self.0,
            next,
        }
    }
}

/// A settled lease on its way back to the queue.
#[derive(Debug)]
#[must_use = "a release must be applied (Runtime::release)"]
pub(crate) struct Release {
    lease: Lease,
    next: Next,
}

/// The campaign's ledger of leases: how many guards are out.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    open: usize,
}

impl Leases {
    /// A lease the queue just gave: from now on it must be released exactly once.
    pub(crate) fn hold(&mut self, lease: Lease) -> Held {
        self.open += 1;
        Held(lease)
    }

    /// A release being applied: the lease and what comes next for its account.
    pub(crate) fn close(&mut self, r: Release) -> (Lease, Next) {
        self.open -= 1;
        (r.lease, r.next)
    }

    /// Guards handed out and not released yet.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Checks that every open lease is among the `held` ones (those of the campaign's calls,
    /// between two events). `Err(n)`: `n` guards were dropped without a release; their leases
    /// will expire in the queue (the account comes back, later than it should). They are
    /// written off, so each loss is reported once.
    pub(crate) fn reconcile(&mut self, held: usize) -> Result<(), usize> {
        match self.open.checked_sub(held) {
            Some(0) => Ok(()),
            Some(lost) => {
                self.open = held;
                Err(lost)
            }
            None => unreachable!("{held} leases held, only {} open", self.open),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(account: &str, token: u64) -> Lease {
        Lease {
            account: account.into(),
            token,
            expires_at: 60_000,
        }
    }

    #[test]
    fn a_settled_lease_is_released_once_with_its_next() {
        let mut leases = Leases::default();
        let held = leases.hold(lease("a1", 7));
        assert_eq!(held.account(), "a1");
        assert_eq!(leases.open(), 1);
        // `settle` and `close` consume what they are given: a second settle or release of
        // the same lease does not compile.
        let (l, next) = leases.close(held.settle(Next::Ready { rank: 2.0 }));
        assert_eq!((l.token, next), (7, Next::Ready { rank: 2.0 }));
        assert_eq!(leases.open(), 0);
        assert_eq!(leases.reconcile(0), Ok(()));
    }

    #[test]
    fn a_guard_or_release_dropped_unapplied_is_caught_once() {
        let mut leases = Leases::default();
        let kept = leases.hold(lease("kept", 1));
        let forgotten = leases.hold(lease("forgotten", 2));
        drop(forgotten);
        let unapplied = leases.hold(lease("unapplied", 3)).settle(Next::Retire);
        drop(unapplied);
        // One call still holds its guard; two leases are gone without a release.
        assert_eq!(leases.reconcile(1), Err(2));
        assert_eq!(leases.reconcile(1), Ok(()), "reported once");
        let (l, _) = leases.close(kept.settle(Next::Retire));
        assert_eq!(l.account, "kept");
        assert_eq!(leases.reconcile(0), Ok(()));
    }
}
