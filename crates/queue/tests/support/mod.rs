//! What the Redis tests share: where the single Redis and the Redis Cluster are, and which
//! cluster node owns a key (so a test can show its keys really are spread over nodes).
//!
//! The cluster is the three-master one `scripts/services-up` starts (`REDIS_CLUSTER_URL`,
//! default `redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003`). Tests never skip
//! when it is down: they fail, saying how to start it.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use queue::redis_store::{RedisConn, connect};
use redis::Value;

pub const DEFAULT_CLUSTER_URL: &str =
    "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

pub fn cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| DEFAULT_CLUSTER_URL.to_string())
}

/// A connection to the store at `url`, failing the test with the way to start it.
pub async fn open(url: &str) -> RedisConn {
    match connect(url).await {
        Ok(c) => c,
        Err(e) => panic!("Redis at {url} unreachable ({e}): run `bash scripts/services-up`"),
    }
}

/// Owner of each slot range of the cluster `conn` is connected to: (first, last, node).
pub async fn slot_map(conn: &RedisConn) -> Vec<(i64, i64, String)> {
    assert!(conn.is_cluster(), "a cluster connection");
    let mut c = conn.clone();
    let slots: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut c)
        .await
        .expect("cluster slots");
    let Value::Array(ranges) = slots else {
        panic!("CLUSTER SLOTS reply {slots:?}")
    };
    ranges
        .into_iter()
        .map(|r| match r {
            Value::Array(v) => match &v[..] {
                [Value::Int(a), Value::Int(b), Value::Array(master), ..] => {
                    let node = match &master[..] {
                        [Value::BulkString(host), Value::Int(port), ..] => {
                            format!("{}:{port}", String::from_utf8_lossy(host))
                        }
                        other => panic!("CLUSTER SLOTS node {other:?}"),
                    };
                    (*a, *b, node)
                }
                other => panic!("CLUSTER SLOTS range {other:?}"),
            },
            other => panic!("CLUSTER SLOTS range {other:?}"),
        })
        .collect()
}

/// The node owning each of `keys` (the server's own CLUSTER KEYSLOT, not a local hash).
pub async fn nodes_of(conn: &RedisConn, keys: &[String]) -> BTreeMap<String, String> {
    let map = slot_map(conn).await;
    let mut c = conn.clone();
    let mut out = BTreeMap::new();
    for k in keys {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query_async(&mut c)
            .await
            .expect("cluster keyslot");
        let node = map
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, n)| n.clone())
            .unwrap_or_else(|| panic!("slot {slot} has no owner"));
        out.insert(k.clone(), node);
    }
    out
}

/// Fails unless `keys` live on at least two nodes of the cluster; returns the nodes.
pub async fn assert_spread(conn: &RedisConn, what: &str, keys: &[String]) -> BTreeSet<String> {
    let nodes: BTreeSet<String> = nodes_of(conn, keys).await.into_values().collect();
    assert!(
        nodes.len() >= 2,
        "{what}: {} keys all on {nodes:?}",
        keys.len()
    );
    nodes
}

/// `n` names `base-0`, `base-1`, ... chosen so that the keys `key(name)` make land on `n`
/// different nodes (or as many as the cluster has).
pub async fn names_on_distinct_nodes(
    conn: &RedisConn,
    base: &str,
    n: usize,
    key: impl Fn(&str) -> String,
) -> Vec<String> {
    let nodes = slot_map(conn)
        .await
        .into_iter()
        .map(|(_, _, n)| n)
        .collect::<BTreeSet<_>>()
        .len();
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for i in 0..1000 {
        if out.len() == n.min(nodes) {
            break;
        }
        let name = format!("{base}-{i}");
        let k = key(&name);
        let node = nodes_of(conn, std::slice::from_ref(&k))
            .await
            .remove(&k)
            .expect("node");
        if taken.insert(node) {
            out.push(name);
        }
    }
    assert_eq!(out.len(), n.min(nodes), "names over distinct nodes");
    out
}
