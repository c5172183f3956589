//! The Redis stores: one campaign's queue as sorted sets and hashes under one hash tag
//! (`{c:CAMPAIGN}`), attempt counters under the account's tag (`{a:ACCOUNT}`), so every
//! Lua script touches a single Redis Cluster slot and runs atomically.
//!
//! Keys of a campaign: `ready` (ZSET rank), `sleep` (ZSET wake time), `lease` (ZSET lease
//! expiry), `rank` (HASH account -> rank, so an expired lease returns where it was),
//! `owner` (HASH account -> `token:replica`), `seq` (lease token counter).

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{Script, Value};

use crate::reservation::{AttemptBook, KEEP_MS, PastAttempt, Reservation, ReserveOutcome};
use crate::{
    CampaignQueue, Lease, Millis, Next, QueueError, QueueItem, QueueSizes, check_items, check_rank,
};

/// Accounts per push script call: bounded so one call never blocks Redis for long.
const PUSH_BATCH: usize = 1000;

static PUSH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS ready sleep lease rank; ARGV mode at (account rank)...
for i = 3, #ARGV, 2 do
  local a, r = ARGV[i], ARGV[i + 1]
  if not redis.call('ZSCORE', KEYS[3], a) then
    redis.call('HSET', KEYS[4], a, r)
    if ARGV[1] == 'sleep' then
      redis.call('ZREM', KEYS[1], a)
      redis.call('ZADD', KEYS[2], ARGV[2], a)
    elseif not redis.call('ZSCORE', KEYS[2], a) then
      redis.call('ZADD', KEYS[1], r, a)
    end
  end
end
return 1
",
    )
});

static POP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS ready sleep lease rank owner seq; ARGV now n ttl owner
local now = tonumber(ARGV[1])
local function back_to_ready(set, members)
  for _, a in ipairs(members) do
    redis.call('ZREM', set, a)
    redis.call('ZADD', KEYS[1], redis.call('HGET', KEYS[4], a) or 0, a)
  end
end
for _ = 1, 10 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
  if #due == 0 then break end
  back_to_ready(KEYS[2], due)
end
for _ = 1, 10 do
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  if #expired == 0 then break end
  for _, a in ipairs(expired) do redis.call('HDEL', KEYS[5], a) end
  back_to_ready(KEYS[3], expired)
end
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[2]))
local expires = now + tonumber(ARGV[3])
local out = {}
for i = 1, #popped, 2 do
  local a = popped[i]
  local token = redis.call('INCR', KEYS[6])
  redis.call('ZADD', KEYS[3], expires, a)
  redis.call('HSET', KEYS[5], a, token .. ':' .. ARGV[4])
  out[#out + 1] = a
  out[#out + 1] = token
end
return out
",
    )
});

static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS ready sleep lease rank owner; ARGV account token action at rank
local held = redis.call('HGET', KEYS[5], ARGV[1])
if not held or string.match(held, '^(%d+):') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[3] == 'ready' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
elseif ARGV[3] == 'sleep' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
else
  redis.call('HDEL', KEYS[4], ARGV[1])
end
return 1
",
    )
});

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS lease owner; ARGV expires (account token)...
local held = 0
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur and string.match(cur, '^(%d+):') == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
    held = held + 1
  end
end
return held
",
    )
});

static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS ready sleep lease rank owner; ARGV account
for i = 1, 3 do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
",
    )
});

static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS debt counters..., phone counter; ARGV now attempt limit window_start min_gap keep
local now, n = tonumber(ARGV[1]), #KEYS
for i = 1, n - 1 do
  if redis.call('ZCOUNT', KEYS[i], ARGV[4], '+inf') >= tonumber(ARGV[3]) then
    return {1, i}
  end
end
local last = redis.call('ZREVRANGE', KEYS[n], 0, 0, 'WITHSCORES')
local gap = tonumber(ARGV[5])
if gap > 0 and #last > 0 and now < tonumber(last[2]) + gap then
  return {2, tonumber(last[2]) + gap}
end
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - tonumber(ARGV[6]))
  redis.call('ZADD', KEYS[i], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[6])
end
return {0, 0}
",
    )
});

static REBUILD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS counters; ARGV keep (key_index at id)...
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 2, #ARGV, 3 do
  local k = KEYS[tonumber(ARGV[i])]
  redis.call('ZADD', k, ARGV[i + 1], ARGV[i + 2])
  redis.call('PEXPIRE', k, ARGV[1])
end
return 1
",
    )
});

/// One campaign's queue on Redis.
#[derive(Clone)]
pub struct RedisQueue {
    conn: MultiplexedConnection,
    keys: [String; 6],
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("keys", &self.keys[0])
            .finish()
    }
}

/// Opens a multiplexed connection (cheap to clone, shared by every queue of a replica).
pub async fn connect(url: &str) -> Result<MultiplexedConnection, QueueError> {
    let client = redis::Client::open(url)?;
    Ok(client.get_multiplexed_async_connection().await?)
}

fn rank_arg(rank: f64) -> String {
    // Display never uses exponent notation, which Redis would not parse.
    format!("{rank}")
}

impl RedisQueue {
    pub fn new(conn: MultiplexedConnection, campaign: &str) -> RedisQueue {
        let k = |name: &str| format!("q:{{c:{campaign}}}:{name}");
        RedisQueue {
            conn,
            keys: [
                k("ready"),
                k("sleep"),
                k("lease"),
                k("rank"),
                k("owner"),
                k("seq"),
            ],
        }
    }

    /// Deletes every key of the campaign (tests, campaign deletion).
    pub async fn destroy(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        // UNLINK frees large sets in the background instead of blocking Redis.
        redis::cmd("UNLINK")
            .arg(&self.keys[..])
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn push_mode(
        &self,
        items: &[QueueItem],
        mode: &str,
        at: Millis,
    ) -> Result<(), QueueError> {
        check_items(items)?;
        let mut conn = self.conn.clone();
        for batch in items.chunks(PUSH_BATCH) {
            let mut inv = PUSH.prepare_invoke();
            inv.key(&self.keys[0])
                .key(&self.keys[1])
                .key(&self.keys[2])
                .key(&self.keys[3]);
            inv.arg(mode).arg(at);
            for item in batch {
                inv.arg(&item.account).arg(rank_arg(item.rank));
            }
            inv.invoke_async::<()>(&mut conn).await?;
        }
        Ok(())
    }
}

impl CampaignQueue for RedisQueue {
    async fn push(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        self.push_mode(items, "ready", 0).await
    }

    async fn push_sleeping(&self, items: &[QueueItem], at: Millis) -> Result<(), QueueError> {
        self.push_mode(items, "sleep", at).await
    }

    async fn pop_lease(
        &self,
        n: usize,
        now: Millis,
        ttl: Millis,
        owner: &str,
    ) -> Result<Vec<Lease>, QueueError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut inv = POP.prepare_invoke();
        for k in &self.keys {
            inv.key(k);
        }
        let reply: Vec<Value> = inv
            .arg(now)
            .arg(n)
            .arg(ttl)
            .arg(owner)
            .invoke_async(&mut conn)
            .await?;
        let expires_at = now.saturating_add(ttl);
        reply
            .chunks(2)
            .map(|pair| match pair {
                [Value::BulkString(a), Value::Int(token)] => Ok(Lease {
                    account: String::from_utf8_lossy(a).into_owned(),
                    token: *token as u64,
                    expires_at,
                }),
                other => Err(QueueError::Protocol(format!("pop reply {other:?}"))),
            })
            .collect()
    }

    async fn complete(&self, lease: &Lease, next: Next) -> Result<bool, QueueError> {
        let (action, at, rank) = match next {
            Next::Ready { rank } => ("ready", 0, rank),
            Next::Sleep { at, rank } => ("sleep", at, rank),
            Next::Retire => ("retire", 0, 0.0),
        };
        check_rank(rank)?;
        let mut conn = self.conn.clone();
        let mut inv = COMPLETE.prepare_invoke();
        for k in &self.keys[..5] {
            inv.key(k);
        }
        let held: i64 = inv
            .arg(&lease.account)
            .arg(lease.token.to_string())
            .arg(action)
            .arg(at)
            .arg(rank_arg(rank))
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    async fn extend(
        &self,
        leases: &[Lease],
        now: Millis,
        ttl: Millis,
    ) -> Result<usize, QueueError> {
        if leases.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let mut inv = EXTEND.prepare_invoke();
        inv.key(&self.keys[2])
            .key(&self.keys[4])
            .arg(now.saturating_add(ttl));
        for l in leases {
            inv.arg(&l.account).arg(l.token.to_string());
        }
        let held: i64 = inv.invoke_async(&mut conn).await?;
        Ok(held as usize)
    }

    async fn remove(&self, account: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut inv = REMOVE.prepare_invoke();
        for k in &self.keys[..5] {
            inv.key(k);
        }
        inv.arg(account).invoke_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn next_wake(&self) -> Result<Option<Millis>, QueueError> {
        let mut conn = self.conn.clone();
        type Firsts = Vec<(String, f64)>;
        let (sleep, lease): (Firsts, Firsts) = redis::pipe()
            .zrange_withscores(&self.keys[1], 0, 0)
            .zrange_withscores(&self.keys[2], 0, 0)
            .query_async(&mut conn)
            .await?;
        Ok(sleep
            .into_iter()
            .chain(lease)
            .map(|(_, s)| s as Millis)
            .min())
    }

    async fn sizes(&self) -> Result<QueueSizes, QueueError> {
        let mut conn = self.conn.clone();
        let (ready, sleeping, leased): (u64, u64, u64) = redis::pipe()
            .zcard(&self.keys[0])
            .zcard(&self.keys[1])
            .zcard(&self.keys[2])
            .query_async(&mut conn)
            .await?;
        Ok(QueueSizes {
            ready,
            sleeping,
            leased,
        })
    }
}

/// Attempt counters on Redis.
#[derive(Clone)]
pub struct RedisAttemptBook {
    conn: MultiplexedConnection,
}

impl std::fmt::Debug for RedisAttemptBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAttemptBook").finish_non_exhaustive()
    }
}

impl RedisAttemptBook {
    pub fn new(conn: MultiplexedConnection) -> RedisAttemptBook {
        RedisAttemptBook { conn }
    }
}

impl AttemptBook for RedisAttemptBook {
    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError> {
        r.validate()?;
        let mut conn = self.conn.clone();
        let mut inv = RESERVE.prepare_invoke();
        for d in &r.debt_keys {
            inv.key(r.debt_counter(d));
        }
        inv.key(r.phone_counter());
        let (code, value): (i64, i64) = inv
            .arg(r.now)
            .arg(&r.attempt_id)
            .arg(r.limit)
            .arg(r.window_start)
            .arg(r.min_gap)
            .arg(KEEP_MS)
            .invoke_async(&mut conn)
            .await?;
        match code {
            0 => Ok(ReserveOutcome::Reserved),
            1 => Ok(ReserveOutcome::DebtLimit {
                debt: r
                    .debt_keys
                    .get((value - 1).max(0) as usize)
                    .cloned()
                    .unwrap_or_default(),
            }),
            2 => Ok(ReserveOutcome::PhoneGap { until: value }),
            other => Err(QueueError::Protocol(format!("reserve reply {other}"))),
        }
    }

    async fn release(&self, r: &Reservation) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for key in r
            .debt_keys
            .iter()
            .map(|d| r.debt_counter(d))
            .chain([r.phone_counter()])
        {
            pipe.zrem(key, &r.attempt_id).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn rebuild(&self, account: &str, attempts: &[PastAttempt]) -> Result<(), QueueError> {
        let mut keys: Vec<String> = Vec::new();
        let mut args: Vec<(usize, Millis, &str)> = Vec::new();
        for a in attempts {
            for key in a.counters(account) {
                let i = match keys.iter().position(|k| *k == key) {
                    Some(i) => i,
                    None => {
                        keys.push(key);
                        keys.len() - 1
                    }
                };
                args.push((i + 1, a.at, &a.id));
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut inv = REBUILD.prepare_invoke();
        for k in &keys {
            inv.key(k);
        }
        inv.arg(KEEP_MS);
        for (i, at, id) in args {
            inv.arg(i).arg(at).arg(id);
        }
        inv.invoke_async::<()>(&mut conn).await?;
        Ok(())
    }
}
