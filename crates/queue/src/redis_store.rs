//! The Redis stores: one campaign's queue as sorted sets and hashes under one hash tag
//! (`{c:CAMPAIGN}`), attempt counters under the account's tag (`{a:ACCOUNT}`), so every
//! Lua script touches a single Redis Cluster slot and runs atomically.
//!
//! Keys of a campaign: `ready` (ZSET rank), `sleep` (ZSET wake time), `lease` (ZSET lease
//! expiry), `rank` (HASH account -> rank, so an expired lease returns where it was),
//! `owner` (HASH account -> `token:replica`), `seq` (lease token counter), `alive` (set once
//! the campaign's accounts are queued: its absence after a restart means the queue was lost).
//!
//! Keys of an account's counters: `debt:KEY` and `phone:NUMBER` (ZSET attempt id -> instant),
//! and `keys` (SET of those counter keys, so a rebuild finds every one of them and can name
//! them all to its script, as Redis Cluster requires).
//!
//! Every script and pipeline here names keys of one tag only (one campaign's or one
//! account's), so each runs on the one node that owns the slot: [`RedisConn`] is either a
//! single server's connection or a Redis Cluster's, chosen by the URL ([`RedisTarget`]), and
//! the stores do not know which. The cluster client routes a script by its first key and a
//! pipeline by its keys (refusing one that spans slots), follows MOVED/ASK while slots
//! migrate, and loads scripts on every master.

use std::sync::LazyLock;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Script, Value};

use crate::reservation::{
    AttemptBook, Counters, KEEP_MS, PastAttempt, Reservation, ReserveOutcome, check_settled,
    index_key,
};
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

static RERANK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS ready sleep rank; ARGV (account rank)...
for i = 1, #ARGV, 2 do
  local a, r = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', KEYS[1], a) then
    redis.call('HSET', KEYS[3], a, r)
    redis.call('ZADD', KEYS[1], r, a)
  elseif redis.call('ZSCORE', KEYS[2], a) then
    redis.call('HSET', KEYS[3], a, r)
  end
end
return 1
",
    )
});

/// The campaign-lease fence every leasing script starts with: a caller's fencing token below
/// the campaign's highest seen is refused (`-1`: a stale campaign holder); a higher one is
/// remembered. A negative token means no fence (a queue used without campaign leases).
const FENCE_CHECK: &str = r"
local fence = tonumber(ARGV[#ARGV])
if fence >= 0 then
  local seen = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
  if fence < seen then return -1 end
  if fence > seen then redis.call('SET', KEYS[#KEYS], fence) end
end
";

static POP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        &[
            "-- KEYS ready sleep lease rank owner seq fence; ARGV now n ttl owner fence",
            FENCE_CHECK,
            r"local now = tonumber(ARGV[1])
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
        ]
        .concat(),
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
        &[
            "-- KEYS lease owner fence; ARGV expires (account token)... fence",
            FENCE_CHECK,
            r"local held = 0
for i = 2, #ARGV - 1, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur and string.match(cur, '^(%d+):') == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
    held = held + 1
  end
end
return held
",
        ]
        .concat(),
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
-- KEYS debt counters..., phone counter, key index; ARGV now attempt limit window_start min_gap keep
local now, n = tonumber(ARGV[1]), #KEYS - 1
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
  redis.call('SADD', KEYS[n + 1], KEYS[i])
end
redis.call('PEXPIRE', KEYS[n + 1], ARGV[6])
return {0, 0}
",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS counters..., key index; ARGV attempt
local idx = KEYS[#KEYS]
for i = 1, #KEYS - 1 do
  redis.call('ZREM', KEYS[i], ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', idx, KEYS[i]) end
end
return 1
",
    )
});

static SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS debt counters..., phone counter, key index; ARGV attempt at keep (flag per debt counter)...
local n, idx = #KEYS - 1, KEYS[#KEYS]
for i = 1, n do
  if i == n or ARGV[3 + i] == '1' then
    redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
    redis.call('SADD', idx, KEYS[i])
  else
    redis.call('ZREM', KEYS[i], ARGV[1])
    if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', idx, KEYS[i]) end
  end
end
redis.call('PEXPIRE', idx, ARGV[3])
return 1
",
    )
});

static REBUILD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
-- KEYS key index, counters...; ARGV cut young keep (counter_index at id)...
-- Every counter the index names must be among KEYS: if a reservation added one since the
-- caller read the index, change nothing and let the caller read it again.
local idx = KEYS[1]
local known = {}
for i = 2, #KEYS do known[KEYS[i]] = true end
for _, k in ipairs(redis.call('SMEMBERS', idx)) do
  if not known[k] then return 0 end
end
local cut, young = tonumber(ARGV[1]), ARGV[2]
local named = {}
for i = 4, #ARGV, 3 do named[ARGV[i + 2]] = true end
for i = 2, #KEYS do
  local kept = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. young, '+inf', 'WITHSCORES')
  redis.call('DEL', KEYS[i])
  for j = 1, #kept, 2 do
    if not named[kept[j]] then redis.call('ZADD', KEYS[i], kept[j + 1], kept[j]) end
  end
end
for i = 4, #ARGV, 3 do
  if tonumber(ARGV[i + 1]) > cut then
    redis.call('ZADD', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  end
end
redis.call('DEL', idx)
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
    redis.call('SADD', idx, KEYS[i])
  end
end
redis.call('PEXPIRE', idx, ARGV[3])
return 1
",
    )
});

/// Reads of the key index a rebuild makes before giving up (each retry means a reservation
/// created a new counter of the account in between).
const REBUILD_TRIES: usize = 5;

/// Where the Redis stores live, from a URL: `redis://` or `rediss://` is one server (as
/// before); `redis+cluster://` or `rediss+cluster://` is a Redis Cluster, the host list
/// (`host:port,host:port,...`, at least one) being its seed nodes: the client asks them for
/// the slot map and finds every other node from it.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// The server's URL.
    Single(String),
    /// One `redis://` (or `rediss://`) URL per seed node, each with the URL's credentials.
    Cluster(Vec<String>),
}

impl std::fmt::Debug for RedisTarget {
    // URLs may carry a password: only the shape is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Single(_) => f.write_str("Single(..)"),
            RedisTarget::Cluster(seeds) => write!(f, "Cluster({} seeds)", seeds.len()),
        }
    }
}

impl RedisTarget {
    /// Parses a store URL. A cluster URL may carry `user:password@` (applied to every node)
    /// and a query (passed on to every node), but no database other than 0: a cluster has
    /// only that one.
    pub fn parse(url: &str) -> Result<RedisTarget, QueueError> {
        let invalid = |problem| QueueError::Invalid {
            field: "redis_url",
            problem,
        };
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(RedisTarget::Single(url.to_string()));
        }
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            ("redis", rest)
        } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
            ("rediss", rest)
        } else {
            return Err(invalid(
                "want redis://, rediss:// (one server), redis+cluster:// or rediss+cluster:// (seed nodes of a Redis Cluster)",
            ));
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        if !(path.is_empty() || path == "0") {
            return Err(invalid("a Redis Cluster has only database 0"));
        }
        // Hosts never hold '@'; a password's is percent-encoded, as in any URL.
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let seeds: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| {
                let mut seed = format!("{scheme}://");
                if let Some(u) = userinfo {
                    seed.push_str(u);
                    seed.push('@');
                }
                seed.push_str(h);
                if let Some(q) = query {
                    seed.push_str("/?");
                    seed.push_str(q);
                }
                seed
            })
            .collect();
        if seeds.is_empty() {
            return Err(invalid("a Redis Cluster URL needs at least one host:port"));
        }
        Ok(RedisTarget::Cluster(seeds))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisTarget::Cluster(_))
    }
}

/// A connection to one Redis server or to a Redis Cluster: cheap to clone (both multiplex
/// one set of sockets), shared by every queue and the attempt book of a replica.
#[derive(Clone)]
pub enum RedisConn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RedisConn::Single(_) => "RedisConn::Single",
            RedisConn::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

impl RedisConn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConn::Cluster(_))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// One campaign's queue on Redis.
#[derive(Clone)]
pub struct RedisQueue {
    conn: RedisConn,
    keys: [String; 6],
    alive: String,
    /// `q:{c:CAMPAIGN}:fence`: the highest campaign-lease token a leasing call carried.
    fence_key: String,
    /// The caller's current campaign-lease token (none: not fenced).
    fence: Option<Fence>,
}

/// Reads the campaign-lease fencing token a replica currently writes under.
pub type Fence = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("keys", &self.keys[0])
            .finish()
    }
}

/// Connects to the server or cluster `url` names ([`RedisTarget::parse`]).
pub async fn connect(url: &str) -> Result<RedisConn, QueueError> {
    connect_to(&RedisTarget::parse(url)?).await
}

/// Connects to `target`: a multiplexed connection to one server, or a cluster connection
/// that reads the slot map from the first seed that answers.
///
/// `rediss://` (and `rediss+cluster://`) connect with TLS (rustls), trusting the system's
/// roots, or only the PEM roots of the file the URL's `ca_file` query parameter names (ours:
/// taken off the URL before redis-rs reads it), for a private CA such as a cluster's own.
pub async fn connect_to(target: &RedisTarget) -> Result<RedisConn, QueueError> {
    Ok(match target {
        RedisTarget::Single(url) => {
            let (url, roots) = take_ca_file(url)?;
            let client = match roots {
                Some(pem) => redis::Client::build_with_tls(url.as_str(), tls_roots(pem))?,
                None => redis::Client::open(url.as_str())?,
            };
            RedisConn::Single(client.get_multiplexed_async_connection().await?)
        }
        RedisTarget::Cluster(seeds) => {
            let mut roots = None;
            let mut urls = Vec::with_capacity(seeds.len());
            for seed in seeds {
                let (url, pem) = take_ca_file(seed)?;
                urls.push(url);
                roots = roots.or(pem);
            }
            let mut builder = redis::cluster::ClusterClientBuilder::new(urls);
            if let Some(pem) = roots {
                builder = builder.certs(tls_roots(pem));
            }
            RedisConn::Cluster(builder.build()?.get_async_connection().await?)
        }
    })
}

fn tls_roots(pem: Vec<u8>) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }
}

/// Splits the `ca_file=PATH` query parameter off `url` and reads the file it names.
fn take_ca_file(url: &str) -> Result<(String, Option<Vec<u8>>), QueueError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut path = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("ca_file=") {
            Some(p) => {
                path = Some(p);
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    let Some(path) = path else {
        return Ok((url.to_owned(), None));
    };
    if !url.starts_with("rediss://") {
        return Err(QueueError::Invalid {
            field: "redis_url",
            problem: "ca_file applies to TLS URLs only (rediss:// or rediss+cluster://)",
        });
    }
    let pem = std::fs::read(path).map_err(|source| QueueError::CaFile {
        path: path.to_owned(),
        source,
    })?;
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, Some(pem)))
}

/// The key `name` (`ready`, `sleep`, `lease`, `rank`, `owner`, `seq`, `alive`, `fence`) of
/// `campaign`'s queue: all under the campaign's hash tag, so one slot holds the campaign.
pub fn queue_key(campaign: &str, name: &str) -> String {
    format!("q:{{c:{campaign}}}:{name}")
}

fn rank_arg(rank: f64) -> String {
    // Display never uses exponent notation, which Redis would not parse.
    format!("{rank}")
}

impl RedisQueue {
    pub fn new(conn: RedisConn, campaign: &str) -> RedisQueue {
        let k = |name: &str| queue_key(campaign, name);
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
            alive: k("alive"),
            fence_key: k("fence"),
            fence: None,
        }
    }

    /// The queue of `campaign` whose leasing calls (pop, extend) carry the campaign-lease
    /// token `fence` reads: the scripts refuse a token below the highest one seen for the
    /// campaign ([`QueueError::Fenced`]), so a replica that lost the campaign to another
    /// cannot lease its accounts any more. The fence key shares the campaign's hash tag.
    pub fn fenced(conn: RedisConn, campaign: &str, fence: Fence) -> RedisQueue {
        RedisQueue {
            fence: Some(fence),
            ..RedisQueue::new(conn, campaign)
        }
    }

    fn fence_arg(&self) -> i64 {
        self.fence.as_ref().map_or(-1, |f| f())
    }

    /// Deletes every key of the campaign (tests, campaign deletion).
    pub async fn destroy(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        // UNLINK frees large sets in the background instead of blocking Redis.
        redis::cmd("UNLINK")
            .arg(&self.keys[..])
            .arg(&self.alive)
            .arg(&self.fence_key)
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

    async fn rerank(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        check_items(items)?;
        let mut conn = self.conn.clone();
        for batch in items.chunks(PUSH_BATCH) {
            let mut inv = RERANK.prepare_invoke();
            inv.key(&self.keys[0]).key(&self.keys[1]).key(&self.keys[3]);
            for item in batch {
                inv.arg(&item.account).arg(rank_arg(item.rank));
            }
            inv.invoke_async::<()>(&mut conn).await?;
        }
        Ok(())
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
        let reply: Value = inv
            .key(&self.fence_key)
            .arg(now)
            .arg(n)
            .arg(ttl)
            .arg(owner)
            .arg(self.fence_arg())
            .invoke_async(&mut conn)
            .await?;
        let reply = match reply {
            Value::Int(-1) => return Err(QueueError::Fenced),
            Value::Array(v) => v,
            other => return Err(QueueError::Protocol(format!("pop reply {other:?}"))),
        };
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
            .key(&self.fence_key)
            .arg(now.saturating_add(ttl));
        for l in leases {
            inv.arg(&l.account).arg(l.token.to_string());
        }
        let held: i64 = inv.arg(self.fence_arg()).invoke_async(&mut conn).await?;
        if held < 0 {
            return Err(QueueError::Fenced);
        }
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

    async fn mark_alive(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(&self.alive)
            .arg(1)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn is_alive(&self) -> Result<bool, QueueError> {
        let mut conn = self.conn.clone();
        let n: i64 = redis::cmd("EXISTS")
            .arg(&self.alive)
            .query_async(&mut conn)
            .await?;
        Ok(n == 1)
    }
}

/// The index of `key` in `keys`, appended if absent.
fn position(keys: &mut Vec<String>, key: String) -> usize {
    match keys.iter().position(|k| *k == key) {
        Some(i) => i,
        None => {
            keys.push(key);
            keys.len() - 1
        }
    }
}

/// Attempt counters on Redis.
#[derive(Clone)]
pub struct RedisAttemptBook {
    conn: RedisConn,
}

impl std::fmt::Debug for RedisAttemptBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAttemptBook").finish_non_exhaustive()
    }
}

impl RedisAttemptBook {
    pub fn new(conn: RedisConn) -> RedisAttemptBook {
        RedisAttemptBook { conn }
    }
}

impl AttemptBook for RedisAttemptBook {
    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome, QueueError> {
        r.validate()?;
        let mut conn = self.conn.clone();
        let mut inv = RESERVE.prepare_invoke();
        for key in r.counters() {
            inv.key(key);
        }
        inv.key(index_key(&r.account));
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
        let mut inv = RELEASE.prepare_invoke();
        for key in r.counters() {
            inv.key(key);
        }
        inv.key(index_key(&r.account))
            .arg(&r.attempt_id)
            .invoke_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn settle(&self, r: &Reservation, debt_keys: &[String]) -> Result<(), QueueError> {
        r.validate()?;
        check_settled(debt_keys)?;
        let mut debts: Vec<&String> = r.debt_keys.iter().collect();
        for d in debt_keys {
            if !debts.contains(&d) {
                debts.push(d);
            }
        }
        let mut conn = self.conn.clone();
        let mut inv = SETTLE.prepare_invoke();
        for d in &debts {
            inv.key(r.debt_counter(d));
        }
        inv.key(r.phone_counter()).key(index_key(&r.account));
        inv.arg(&r.attempt_id).arg(r.now).arg(KEEP_MS);
        for d in &debts {
            inv.arg(if debt_keys.contains(d) { "1" } else { "0" });
        }
        inv.invoke_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn rebuild(
        &self,
        account: &str,
        attempts: &[PastAttempt],
        now: Millis,
        grace: Millis,
    ) -> Result<(), QueueError> {
        let index = index_key(account);
        let mut keys: Vec<String> = Vec::new();
        let mut args: Vec<(usize, Millis, &str)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for a in attempts {
            if !seen.insert(a.id.as_str()) {
                continue;
            }
            for key in a.counters(account) {
                let i = position(&mut keys, key);
                // KEYS[1] is the index; counters start at 2.
                args.push((i + 2, a.at, &a.id));
            }
        }
        let mut conn = self.conn.clone();
        for _ in 0..REBUILD_TRIES {
            let listed: Vec<String> = redis::cmd("SMEMBERS")
                .arg(&index)
                .query_async(&mut conn)
                .await?;
            let mut all = keys.clone();
            for k in listed {
                position(&mut all, k);
            }
            let mut inv = REBUILD.prepare_invoke();
            inv.key(&index);
            for k in &all {
                inv.key(k);
            }
            inv.arg(now.saturating_sub(KEEP_MS))
                .arg(now.saturating_sub(grace))
                .arg(KEEP_MS);
            for (i, at, id) in &args {
                inv.arg(*i).arg(*at).arg(*id);
            }
            let done: i64 = inv.invoke_async(&mut conn).await?;
            if done == 1 {
                return Ok(());
            }
        }
        Err(QueueError::Protocol(format!(
            "rebuild of {account}: its counters kept changing"
        )))
    }

    async fn counters(&self, account: &str) -> Result<Counters, QueueError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = redis::cmd("SMEMBERS")
            .arg(index_key(account))
            .query_async(&mut conn)
            .await?;
        if keys.is_empty() {
            return Ok(Counters::new());
        }
        let mut pipe = redis::pipe();
        for k in &keys {
            pipe.zrange_withscores(k, 0, -1);
        }
        let sets: Vec<Vec<(String, f64)>> = pipe.query_async(&mut conn).await?;
        Ok(keys
            .into_iter()
            .zip(sets)
            .filter(|(_, s)| !s.is_empty())
            .map(|(k, s)| (k, s.into_iter().map(|(m, at)| (m, at as Millis)).collect()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_is_taken_off_the_url_and_read() {
        let dir = std::env::temp_dir().join(format!("queue-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, b"PEM").expect("write");
        let url = format!(
            "rediss://:pw@r:6380/0?protocol=resp3&ca_file={}",
            ca.display()
        );
        let (bare, pem) = take_ca_file(&url).expect("ca_file");
        assert_eq!(bare, "rediss://:pw@r:6380/0?protocol=resp3");
        assert_eq!(pem.as_deref(), Some(&b"PEM"[..]));
        let (bare, _) = take_ca_file(&format!("rediss://r/?ca_file={}", ca.display())).expect("ok");
        assert_eq!(bare, "rediss://r/");
        // Without it the URL is left alone; on a plaintext URL it is a mistake.
        let plain = "redis://r:6379/?protocol=resp3";
        assert_eq!(
            take_ca_file(plain).expect("plain"),
            (plain.to_owned(), None)
        );
        assert!(matches!(
            take_ca_file(&format!("redis://r/?ca_file={}", ca.display())),
            Err(QueueError::Invalid {
                field: "redis_url",
                ..
            })
        ));
        assert!(matches!(
            take_ca_file("rediss://r/?ca_file=/nonexistent/ca.pem"),
            Err(QueueError::CaFile { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn single_server_urls_are_kept_as_they_are() {
        for url in [
            "redis://127.0.0.1:6379",
            "rediss://u:p@redis.example:6380/2",
        ] {
            assert_eq!(
                RedisTarget::parse(url).expect("url"),
                RedisTarget::Single(url.to_string())
            );
        }
    }

    #[test]
    fn cluster_urls_name_their_seed_nodes() {
        assert_eq!(
            RedisTarget::parse("redis+cluster://10.0.0.1:7001,10.0.0.2:7002").expect("url"),
            RedisTarget::Cluster(vec![
                "redis://10.0.0.1:7001".into(),
                "redis://10.0.0.2:7002".into()
            ])
        );
        // Credentials and the query go to every seed.
        assert_eq!(
            RedisTarget::parse("rediss+cluster://dialer:s%40cret@a:6379,b:6379/0?protocol=resp3")
                .expect("url"),
            RedisTarget::Cluster(vec![
                "rediss://dialer:s%40cret@a:6379/?protocol=resp3".into(),
                "rediss://dialer:s%40cret@b:6379/?protocol=resp3".into()
            ])
        );
    }

    #[test]
    fn bad_urls_name_the_setting() {
        for url in [
            "http://x",
            "redis+cluster://",
            "redis+cluster://a:1/3",
            "cluster://a:1",
        ] {
            match RedisTarget::parse(url) {
                Err(QueueError::Invalid { field, .. }) => assert_eq!(field, "redis_url", "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
