//! One live process per replica id. The replica id names this dialerd's outbox rows and queue
//! leases, and a restart recovers "its own" calls in progress by it: two live processes on one
//! id would publish each other's calls as lost and lose the agents' dispositions. So a
//! dialerd claims its id in the dialer's database at start, renews the claim while it runs and
//! gives it back at a clean stop; another process gets the id only once the claim has lapsed,
//! or at once when the holder is a dead process on this host (a restart after a crash).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::campaign_store::{CampaignStore, CampaignStoreError};

/// Why the id could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "replica id {replica} is held by a live dialerd ({instance}, renewed at {renewed_at}): \
         give each replica its own replica_id (DIALER_REPLICA_ID)"
    )]
    Held {
        replica: String,
        instance: String,
        renewed_at: Timestamp,
    },
    #[error("claiming the replica id: {0}")]
    Store(#[from] CampaignStoreError),
}

/// This process's claim on its replica id, renewed in the background.
#[derive(Debug)]
pub struct ReplicaClaim {
    store: CampaignStore,
    replica: String,
    instance: String,
    renew: JoinHandle<()>,
    lost: watch::Receiver<bool>,
}

/// `host/pid/random`: tells this process from a restarted one on the same host.
fn this_instance() -> String {
    format!(
        "{}/{}/{}",
        host(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `instance` (another instance than this one) is a process of this host that no
/// longer runs (Linux `/proc`; elsewhere
/// nothing is known dead and a claim is taken only once it lapsed).
fn is_dead(instance: &str) -> bool {
    let mut parts = instance.split('/');
    let (Some(h), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if h != host() || !std::path::Path::new("/proc/self").exists() {
        return false;
    }
    // Our own pid under another instance: a previous process that had it (a container
    // restarted in place). Otherwise a pid that no longer exists.
    pid.parse::<u32>().is_ok_and(|pid| {
        pid == std::process::id() || !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
}

fn ago(d: Duration) -> Timestamp {
    Timestamp::now()
        .checked_sub(SignedDuration::try_from(d).unwrap_or_default())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Claims `replica` for this process. A claim held by a live process elsewhere is waited on
/// for one `ttl` (it may be a crashed replica's, lapsing); still renewed after that, the id is
/// another live replica's: [`ClaimError::Held`].
pub async fn claim(
    store: &CampaignStore,
    replica: &str,
    ttl: Duration,
) -> Result<ReplicaClaim, ClaimError> {
    let instance = this_instance();
    let patience = ttl + ttl / 3 + Duration::from_secs(1);
    let started = std::time::Instant::now();
    loop {
        match store
            .claim_replica(replica, &instance, Timestamp::now(), ago(ttl), is_dead)
            .await?
        {
            Ok(()) => break,
            Err(held) if started.elapsed() >= patience => {
                return Err(ClaimError::Held {
                    replica: replica.to_string(),
                    instance: held.instance,
                    renewed_at: held.renewed_at,
                });
            }
            Err(held) => {
                info!(replica, holder = %held.instance, "replica id held; waiting for the claim to lapse");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    info!(replica, %instance, "replica id claimed");
    let (lost_tx, lost) = watch::channel(false);
    let renew = tokio::spawn({
        let (store, replica, instance) = (store.clone(), replica.to_string(), instance.clone());
        async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match store
                    .renew_replica(&replica, &instance, Timestamp::now())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!(replica, "replica id taken by another process: stopping");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    // Not renewed this time; the claim lives `ttl`, renewals come every third.
                    Err(e) => warn!(replica, error = %e, "renewing the replica claim"),
                }
            }
        }
    });
    Ok(ReplicaClaim {
        store: store.clone(),
        replica: replica.to_string(),
        instance,
        renew,
        lost,
    })
}

impl ReplicaClaim {
    /// Resolves if another process took the id (this one must stop: it can no longer tell its
    /// rows from the other's).
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|l| *l).await;
    }

    /// Gives the id back (a clean stop): a restart on another host need not wait.
    pub async fn release(&self) {
        self.renew.abort();
        if let Err(e) = self
            .store
            .release_replica(&self.replica, &self.instance)
            .await
        {
            warn!(error = %e, "releasing the replica id");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims the id `r1` for `instance`.
    async fn claim(
        store: &CampaignStore,
        instance: &str,
        now: Timestamp,
        lapsed: Timestamp,
        dead: impl Fn(&str) -> bool,
    ) -> Result<(), crate::campaign_store::ReplicaHeld> {
        store
            .claim_replica("r1", instance, now, lapsed, dead)
            .await
            .expect("claim")
    }

    #[tokio::test]
    async fn one_live_process_per_id_and_a_dead_holder_is_replaced_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/d.db?mode=rwc", dir.path().display());
        let store = CampaignStore::open(&url).await.expect("store");
        let now = Timestamp::now();
        let never = |_: &str| false;
        let lapsed = ago(Duration::from_secs(15));
        assert_eq!(claim(&store, "h/1/a", now, lapsed, never).await, Ok(()));
        // Another live instance is refused; the holder itself may claim again.
        let held = claim(&store, "h/2/b", now, lapsed, never).await;
        assert_eq!(held.unwrap_err().instance, "h/1/a");
        assert_eq!(claim(&store, "h/1/a", now, lapsed, never).await, Ok(()));
        // A holder known dead is replaced at once.
        let dead = |i: &str| i == "h/1/a";
        assert_eq!(claim(&store, "h/2/b", now, lapsed, dead).await, Ok(()));
        assert!(!store.renew_replica("r1", "h/1/a", now).await.unwrap());
        assert!(store.renew_replica("r1", "h/2/b", now).await.unwrap());
        // A lapsed claim is anyone's.
        let later = now.checked_add(SignedDuration::from_secs(60)).unwrap();
        let lapsed_later = later.checked_sub(SignedDuration::from_secs(15)).unwrap();
        assert_eq!(
            claim(&store, "h/3/c", later, lapsed_later, never).await,
            Ok(())
        );
        // A clean release frees it.
        store.release_replica("r1", "h/3/c").await.unwrap();
        assert_eq!(claim(&store, "h/4/d", now, lapsed, never).await, Ok(()));
    }

    #[test]
    fn a_live_pid_is_alive_and_a_vanished_pid_is_dead() {
        // The parent of this test process runs.
        let parent = std::os::unix::process::parent_id();
        assert!(!is_dead(&format!("{}/{parent}/x", host())));
        assert!(!is_dead("some-other-host/1/x"));
        // Pids are below 2^22 on Linux.
        if std::path::Path::new("/proc/self").exists() {
            assert!(is_dead(&format!("{}/4294967/x", host())));
        }
    }
}
