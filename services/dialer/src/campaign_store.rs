//! Where campaigns are kept so a restarted dialerd resumes them: each campaign's
//! configuration and state, the accounts added to it, and how far the ledger's change feed
//! was followed, in the dialer's database (PostgreSQL or SQLite, tables `dialer_campaigns`,
//! `dialer_campaign_accounts` and `dialer_feed_cursor`, migrations under
//! `migrations/dialer/`). Each query is written once for both dialects (`sqlstore`).

use jiff::Timestamp;
use sqlstore::{Db, List, OpenError, PoolSize, sql, with_pool, write_tx};

use crate::campaign::CampaignSpec;

/// What a campaign is to be resumed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredState {
    Ready,
    Running,
    Paused,
    /// Final.
    Stopped,
}

impl StoredState {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredState::Ready => "ready",
            StoredState::Running => "running",
            StoredState::Paused => "paused",
            StoredState::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Option<StoredState> {
        [
            StoredState::Ready,
            StoredState::Running,
            StoredState::Paused,
            StoredState::Stopped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One stored campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCampaign {
    pub spec: CampaignSpec,
    pub state: StoredState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every change of state or configuration.
    pub version: i64,
}

/// A campaign's durable state as the engine checks it before dialing.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub state: StoredState,
    pub version: i64,
    /// The configuration, when it is newer than the version the caller knew.
    pub spec: Option<CampaignSpec>,
}

/// A campaign's lease as stored: who drives it, where to reach that replica, the fencing
/// token and when the lease lapses unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub campaign: String,
    /// Replica id of the holder; empty when free.
    pub owner: String,
    /// The holder's advertised gRPC address (agents' sessions are sent there).
    pub addr: String,
    /// Fencing token: bumped by every acquisition, so a later holder always has a higher one.
    pub token: i64,
    pub expires_at: Timestamp,
}

/// A campaign's pacer snapshot as stored by its lease holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPacing {
    /// `pacing::PacingState` as JSON.
    pub json: String,
    /// When it was written (the writer's wall clock).
    pub saved_at: Timestamp,
    /// The lease token it was written under.
    pub token: i64,
}

/// Another live process holds a replica id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaHeld {
    pub instance: String,
    pub renewed_at: Timestamp,
}

/// A failure of the campaign store.
#[derive(Debug, thiserror::Error)]
pub enum CampaignStoreError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("campaign {0} already exists")]
    Exists(String),
    #[error("campaign {0} not found")]
    NotFound(String),
    #[error("stored campaign {id} is unreadable: {problem}")]
    Corrupt { id: String, problem: String },
}

/// The campaign table of the dialer's database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CampaignStore {
    db: Db,
}

fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl CampaignStore {
    /// Connects to `postgres://...` or `sqlite:...` and applies pending migrations.
    pub async fn open(url: &str) -> Result<CampaignStore, CampaignStoreError> {
        let size = PoolSize {
            postgres: 4,
            sqlite: 4,
        };
        Ok(CampaignStore {
            db: Db::open(url, size, &crate::db::MIGRATIONS).await?,
        })
    }

    /// `postgres` or `sqlite`.
    pub fn dialect(&self) -> &'static str {
        self.db.dialect().name()
    }

    pub async fn close(&self) {
        self.db.close().await
    }

    fn spec_json(spec: &CampaignSpec) -> String {
        serde_json::to_string(spec).expect("a campaign spec serializes")
    }

    /// Stores a new campaign; [`CampaignStoreError::Exists`] if its id is taken.
    pub async fn insert(
        &self,
        spec: &CampaignSpec,
        state: StoredState,
        now: Timestamp,
    ) -> Result<(), CampaignStoreError> {
        let json = Self::spec_json(spec);
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "INSERT INTO dialer_campaigns (campaign_id, spec, state, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (campaign_id) DO NOTHING",
            )
            .bind(&spec.id)
            .bind(&json)
            .bind(state.as_str())
            .bind(micros(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(CampaignStoreError::Exists(spec.id.clone()));
        }
        Ok(())
    }

    /// Replaces a campaign's configuration; returns its new version.
    pub async fn save_spec(
        &self,
        spec: &CampaignSpec,
        now: Timestamp,
    ) -> Result<i64, CampaignStoreError> {
        let json = Self::spec_json(spec);
        let v: Option<i64> = with_pool!(self.db, p, D => {
            sqlx::query_scalar(
                "UPDATE dialer_campaigns SET spec = $2, updated_at = $3, version = version + 1 \
                 WHERE campaign_id = $1 RETURNING version",
            )
            .bind(&spec.id)
            .bind(&json)
            .bind(micros(now))
            .fetch_optional(p)
            .await?
        });
        v.ok_or_else(|| CampaignStoreError::NotFound(spec.id.clone()))
    }

    /// Records the state a campaign is to be resumed in (and every replica is to follow
    /// before its next dial); returns its new version.
    pub async fn set_state(
        &self,
        id: &str,
        state: StoredState,
        now: Timestamp,
    ) -> Result<i64, CampaignStoreError> {
        let v: Option<i64> = with_pool!(self.db, p, D => {
            sqlx::query_scalar(
                "UPDATE dialer_campaigns SET state = $2, updated_at = $3, version = version + 1 \
                 WHERE campaign_id = $1 RETURNING version",
            )
            .bind(id)
            .bind(state.as_str())
            .bind(micros(now))
            .fetch_optional(p)
            .await?
        });
        v.ok_or_else(|| CampaignStoreError::NotFound(id.to_string()))
    }

    /// A campaign's durable state and version, and its configuration if the version is not
    /// `known` (`None`: no such campaign). The engine asks before each round of dials.
    pub async fn control(
        &self,
        id: &str,
        known: i64,
    ) -> Result<Option<Control>, CampaignStoreError> {
        let row: Option<(String, i64, Option<String>)> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT state, version, CASE WHEN version <> $2 THEN spec END \
                 FROM dialer_campaigns WHERE campaign_id = $1",
            )
            .bind(id)
            .bind(known)
            .fetch_optional(p)
            .await?
        });
        let Some((state, version, spec)) = row else {
            return Ok(None);
        };
        let corrupt = |problem: String| CampaignStoreError::Corrupt {
            id: id.to_string(),
            problem,
        };
        let state = StoredState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown state {state:?}")))?;
        let spec = match spec {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        };
        Ok(Some(Control {
            state,
            version,
            spec,
        }))
    }

    /// Every stored campaign, in id order.
    pub async fn list(&self) -> Result<Vec<StoredCampaign>, CampaignStoreError> {
        const SQL: &str = "SELECT campaign_id, spec, state, created_at, updated_at, version \
                           FROM dialer_campaigns ORDER BY campaign_id";
        let rows: Vec<(String, String, String, i64, i64, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as(SQL).fetch_all(p).await?
        });
        rows.into_iter()
            .map(|(id, spec, state, created, updated, version)| {
                let corrupt = |problem: String| CampaignStoreError::Corrupt {
                    id: id.clone(),
                    problem,
                };
                let spec: CampaignSpec =
                    serde_json::from_str(&spec).map_err(|e| corrupt(e.to_string()))?;
                let state = StoredState::parse(&state)
                    .ok_or_else(|| corrupt(format!("unknown state {state:?}")))?;
                Ok(StoredCampaign {
                    spec,
                    state,
                    created_at: from_micros(created),
                    updated_at: from_micros(updated),
                    version,
                })
            })
            .collect()
    }

    /// Remembers accounts added to a campaign (already known ones are kept as they are).
    pub async fn add_accounts(
        &self,
        id: &str,
        accounts: &[String],
        now: Timestamp,
    ) -> Result<(), CampaignStoreError> {
        write_tx!(self.db, tx, D => {
            // One statement per chunk of the id list.
            for chunk in accounts.chunks(1000) {
                sqlx::query(sql!(D,
                    "INSERT INTO dialer_campaign_accounts (campaign_id, account_id, added_at) \
                     SELECT $1, value, $3 FROM " list_rows(2) " WHERE true ON CONFLICT DO NOTHING"))
                .bind(id)
                .bind(List(chunk))
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The accounts added to a campaign, in id order.
    pub async fn accounts(&self, id: &str) -> Result<Vec<String>, CampaignStoreError> {
        Ok(with_pool!(self.db, p, D => {
            sqlx::query_scalar(
                "SELECT account_id FROM dialer_campaign_accounts WHERE campaign_id = $1 \
                 ORDER BY account_id",
            )
            .bind(id)
            .fetch_all(p)
            .await?
        }))
    }
}

impl CampaignStore {
    /// Claims `replica` for `instance` at `now`: granted if nobody holds it, the holder is
    /// `instance` itself, its claim was last renewed before `lapsed_before`, or `dead` says
    /// the holder is gone. Otherwise the holder. One statement, so two processes racing for
    /// an id cannot both win.
    pub async fn claim_replica(
        &self,
        replica: &str,
        instance: &str,
        now: Timestamp,
        lapsed_before: Timestamp,
        dead: impl Fn(&str) -> bool,
    ) -> Result<Result<(), ReplicaHeld>, CampaignStoreError> {
        let held: Option<(String, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT instance, renewed_at FROM dialer_replicas WHERE replica_id = $1")
                .bind(replica)
                .fetch_optional(p)
                .await?
        });
        // Take over from a dead holder by naming it: the update matches only if it still
        // holds the id (otherwise somebody else won the race).
        let takeover = held
            .as_ref()
            .filter(|(i, _)| i != instance && dead(i))
            .map(|(i, _)| i.clone())
            .unwrap_or_default();
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "INSERT INTO dialer_replicas (replica_id, instance, claimed_at, renewed_at) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (replica_id) DO UPDATE \
                 SET instance = excluded.instance, claimed_at = excluded.claimed_at, \
                 renewed_at = excluded.renewed_at \
                 WHERE dialer_replicas.instance = $2 OR dialer_replicas.renewed_at < $4 \
                 OR dialer_replicas.instance = $5",
            )
            .bind(replica)
            .bind(instance)
            .bind(micros(now))
            .bind(micros(lapsed_before))
            .bind(&takeover)
            .execute(p)
            .await?
            .rows_affected()
        });
        if n == 1 {
            return Ok(Ok(()));
        }
        let held: Option<(String, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as("SELECT instance, renewed_at FROM dialer_replicas WHERE replica_id = $1")
                .bind(replica)
                .fetch_optional(p)
                .await?
        });
        Ok(Err(held.map_or_else(
            || ReplicaHeld {
                instance: String::new(),
                renewed_at: now,
            },
            |(instance, at)| ReplicaHeld {
                instance,
                renewed_at: from_micros(at),
            },
        )))
    }

    /// Renews `instance`'s claim; false if it no longer holds the id.
    pub async fn renew_replica(
        &self,
        replica: &str,
        instance: &str,
        now: Timestamp,
    ) -> Result<bool, CampaignStoreError> {
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "UPDATE dialer_replicas SET renewed_at = $3 WHERE replica_id = $1 AND instance = $2",
            )
            .bind(replica)
            .bind(instance)
            .bind(micros(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Gives the id back (a clean shutdown), if `instance` still holds it.
    pub async fn release_replica(
        &self,
        replica: &str,
        instance: &str,
    ) -> Result<(), CampaignStoreError> {
        with_pool!(self.db, p, D => {
            sqlx::query("DELETE FROM dialer_replicas WHERE replica_id = $1 AND instance = $2")
                .bind(replica)
                .bind(instance)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Replica ids whose claim was renewed at or after `since`: the live ones.
    pub async fn live_replicas(&self, since: Timestamp) -> Result<Vec<String>, CampaignStoreError> {
        Ok(with_pool!(self.db, p, D => {
            sqlx::query_scalar("SELECT replica_id FROM dialer_replicas WHERE renewed_at >= $1")
                .bind(micros(since))
                .fetch_all(p)
                .await?
        }))
    }

    /// Every campaign's lease, stopped campaigns left out (nothing drives them), in id order.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, CampaignStoreError> {
        let rows: Vec<(String, String, String, i64, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT campaign_id, lease_owner, lease_addr, lease_token, lease_expires_at \
                 FROM dialer_campaigns WHERE state <> 'stopped' ORDER BY campaign_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(campaign, owner, addr, token, expires)| LeaseRow {
                campaign,
                owner,
                addr,
                token,
                expires_at: from_micros(expires),
            })
            .collect())
    }

    /// Takes the lease of `campaign` for `owner` (advertising `addr`) until `expires_at` if it
    /// is still as `seen` (compare-and-set on the token, so two replicas racing for a lapsed
    /// lease cannot both win) and free or lapsed at `now`. Returns the new fencing token
    /// (`seen.token + 1`).
    pub async fn acquire_lease(
        &self,
        seen: &LeaseRow,
        owner: &str,
        addr: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Option<i64>, CampaignStoreError> {
        let token = seen.token + 1;
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "UPDATE dialer_campaigns SET lease_owner = $2, lease_addr = $3, \
                 lease_token = $4, lease_expires_at = $6 \
                 WHERE campaign_id = $1 AND lease_token = $5 AND state <> 'stopped' \
                 AND (lease_owner = '' OR lease_expires_at < $7)",
            )
            .bind(&seen.campaign)
            .bind(owner)
            .bind(addr)
            .bind(token)
            .bind(seen.token)
            .bind(micros(expires_at))
            .bind(micros(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok((n == 1).then_some(token))
    }

    /// Extends `owner`'s lease of `campaign` under `token` to `expires_at`; false if the
    /// lease is no longer that (another replica took it over, or the campaign stopped).
    pub async fn renew_lease(
        &self,
        campaign: &str,
        owner: &str,
        token: i64,
        expires_at: Timestamp,
    ) -> Result<bool, CampaignStoreError> {
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "UPDATE dialer_campaigns SET lease_expires_at = $4 WHERE campaign_id = $1 \
                 AND lease_owner = $2 AND lease_token = $3 AND state <> 'stopped'",
            )
            .bind(campaign)
            .bind(owner)
            .bind(token)
            .bind(micros(expires_at))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Gives a lease back (a clean shutdown): another replica may take it at its next scan
    /// instead of waiting for it to lapse. The token stays (it only grows).
    pub async fn release_lease(
        &self,
        campaign: &str,
        owner: &str,
        token: i64,
    ) -> Result<(), CampaignStoreError> {
        with_pool!(self.db, p, D => {
            sqlx::query(
                "UPDATE dialer_campaigns SET lease_owner = '', lease_expires_at = 0 \
                 WHERE campaign_id = $1 AND lease_owner = $2 AND lease_token = $3",
            )
            .bind(campaign)
            .bind(owner)
            .bind(token)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Stores the pacer's snapshot `json` of `campaign` if `token` is still its lease token:
    /// a stale holder (its lease taken over since) is refused (false), so it cannot
    /// overwrite what the new holder learned.
    pub async fn save_pacing(
        &self,
        campaign: &str,
        token: i64,
        json: &str,
        now: Timestamp,
    ) -> Result<bool, CampaignStoreError> {
        let n = with_pool!(self.db, p, D => {
            sqlx::query(
                "UPDATE dialer_campaigns SET pacing_state = $3, pacing_saved_at = $4, \
                 pacing_token = $2 WHERE campaign_id = $1 AND lease_token = $2",
            )
            .bind(campaign)
            .bind(token)
            .bind(json)
            .bind(micros(now))
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The pacer snapshot last stored for `campaign` (`None`: none, or no such campaign).
    pub async fn pacing(&self, campaign: &str) -> Result<Option<StoredPacing>, CampaignStoreError> {
        let row: Option<(String, i64, i64)> = with_pool!(self.db, p, D => {
            sqlx::query_as(
                "SELECT pacing_state, pacing_saved_at, pacing_token FROM dialer_campaigns \
                 WHERE campaign_id = $1",
            )
            .bind(campaign)
            .fetch_optional(p)
            .await?
        });
        Ok(row
            .filter(|(json, _, _)| !json.is_empty())
            .map(|(json, at, token)| StoredPacing {
                json,
                saved_at: from_micros(at),
                token,
            }))
    }

    /// The last ledger change seq handled under `name` (0: none yet).
    pub async fn feed_cursor(&self, name: &str) -> Result<i64, CampaignStoreError> {
        let seq: Option<i64> = with_pool!(self.db, p, D => {
            sqlx::query_scalar("SELECT seq FROM dialer_feed_cursor WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        Ok(seq.unwrap_or(0))
    }

    /// Records that every change up to `seq` was handled (never moves backwards).
    pub async fn save_feed_cursor(
        &self,
        name: &str,
        seq: i64,
        now: Timestamp,
    ) -> Result<(), CampaignStoreError> {
        with_pool!(self.db, p, D => {
            sqlx::query(sql!(D,
                "INSERT INTO dialer_feed_cursor (name, seq, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET seq = " greatest "(dialer_feed_cursor.seq, \
                 excluded.seq), updated_at = excluded.updated_at"))
            .bind(name)
            .bind(seq)
            .bind(micros(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn roundtrip(store: CampaignStore, id: &str) {
        let now: Timestamp = "2026-11-23T16:00:00Z".parse().expect("ts");
        let mut spec = CampaignSpec {
            id: id.into(),
            name: "spring".into(),
            ..CampaignSpec::default()
        };
        store
            .insert(&spec, StoredState::Ready, now)
            .await
            .expect("insert");
        assert!(matches!(
            store.insert(&spec, StoredState::Ready, now).await,
            Err(CampaignStoreError::Exists(_))
        ));
        spec.ring_timeout_s = 30.0;
        store.save_spec(&spec, now).await.expect("save");
        store
            .set_state(id, StoredState::Paused, now)
            .await
            .expect("state");
        assert!(matches!(
            store.set_state("nope", StoredState::Paused, now).await,
            Err(CampaignStoreError::NotFound(_))
        ));
        let all = store.list().await.expect("list");
        let got = all.iter().find(|c| c.spec.id == id).expect("stored");
        assert_eq!(got.spec, spec);
        assert_eq!(got.state, StoredState::Paused);
        assert_eq!(got.created_at, now);
        let ids: Vec<String> = (0..2500).map(|i| format!("A{i:06}")).collect();
        store.add_accounts(id, &ids, now).await.expect("add");
        store
            .add_accounts(id, &ids[..10], now)
            .await
            .expect("again");
        assert_eq!(store.accounts(id).await.expect("accounts"), ids);
        assert_eq!(store.feed_cursor(id).await.expect("cursor"), 0);
        store.save_feed_cursor(id, 42, now).await.expect("save");
        store.save_feed_cursor(id, 7, now).await.expect("older");
        assert_eq!(store.feed_cursor(id).await.expect("cursor"), 42);
    }

    /// Only the current lease holder's pacing snapshot is stored: a holder whose lease was
    /// taken over is refused, before and after the new holder wrote.
    async fn pacing_writes_are_fenced(store: CampaignStore, id: &str) {
        let now = Timestamp::now();
        let later = |s: i64| now.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let spec = CampaignSpec {
            id: id.into(),
            name: "pacing".into(),
            ..CampaignSpec::default()
        };
        store
            .insert(&spec, StoredState::Running, now)
            .await
            .expect("insert");
        assert_eq!(store.pacing(id).await.expect("read"), None);
        let free = |token| LeaseRow {
            campaign: id.into(),
            owner: String::new(),
            addr: String::new(),
            token,
            expires_at: Timestamp::UNIX_EPOCH,
        };
        let old = store
            .acquire_lease(&free(0), "r1", "", now, later(1))
            .await
            .expect("acquire")
            .expect("free");
        assert!(
            store
                .save_pacing(id, old, "{\"v\":1}", now)
                .await
                .expect("save")
        );
        let got = store.pacing(id).await.expect("read").expect("stored");
        assert_eq!((got.json.as_str(), got.token), ("{\"v\":1}", old));
        // r2 takes the lapsed lease over: r1's writes no longer count.
        let seen = store
            .leases()
            .await
            .expect("leases")
            .into_iter()
            .find(|r| r.campaign == id)
            .expect("row");
        let new = store
            .acquire_lease(&seen, "r2", "", later(5), later(10))
            .await
            .expect("acquire")
            .expect("lapsed");
        assert!(new > old);
        assert!(
            !store
                .save_pacing(id, old, "{\"v\":2}", now)
                .await
                .expect("stale")
        );
        assert_eq!(
            store.pacing(id).await.expect("read").expect("kept").json,
            "{\"v\":1}"
        );
        assert!(
            store
                .save_pacing(id, new, "{\"v\":3}", later(6))
                .await
                .expect("save")
        );
        assert!(
            !store
                .save_pacing(id, old, "{\"v\":4}", later(7))
                .await
                .expect("stale")
        );
        let got = store.pacing(id).await.expect("read").expect("stored");
        assert_eq!((got.json.as_str(), got.token), ("{\"v\":3}", new));
        assert_eq!(
            got.saved_at,
            Timestamp::from_microsecond(later(6).as_microsecond()).unwrap()
        );
        // A campaign that does not exist has none, and takes none.
        assert!(!store.save_pacing("nope", 0, "{}", now).await.expect("save"));
        assert_eq!(store.pacing("nope").await.expect("read"), None);
    }

    #[tokio::test]
    async fn sqlite_pacing_writes_are_fenced() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/d.db?mode=rwc", dir.path().display());
        pacing_writes_are_fenced(CampaignStore::open(&url).await.expect("open"), "p1").await;
    }

    #[tokio::test]
    async fn postgres_pacing_writes_are_fenced() {
        let pg = sqlstore::scratch::ScratchPg::create(&sqlstore::scratch::admin_url(), "dialer_pf")
            .await
            .expect("a database on PostgreSQL at DATABASE_URL (run scripts/services-up)");
        let store = CampaignStore::open(&pg.url).await.expect("postgres");
        pacing_writes_are_fenced(store.clone(), "p1").await;
        store.close().await;
        pg.drop_db().await;
    }

    #[tokio::test]
    async fn sqlite_roundtrip() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/d.db?mode=rwc", dir.path().display());
        roundtrip(CampaignStore::open(&url).await.expect("open"), "c1").await;
        // Reopening applies nothing new and keeps the data.
        let again = CampaignStore::open(&url).await.expect("reopen");
        assert_eq!(again.list().await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn postgres_roundtrip() {
        // A database of its own: `list` reads every campaign, and the shared one may hold
        // rows of other runs.
        let pg = sqlstore::scratch::ScratchPg::create(&sqlstore::scratch::admin_url(), "dialer_cs")
            .await
            .expect("a database on PostgreSQL at DATABASE_URL (run scripts/services-up)");
        let store = CampaignStore::open(&pg.url).await.expect("postgres");
        roundtrip(store.clone(), "c1").await;
        store.close().await;
        pg.drop_db().await;
    }
}
