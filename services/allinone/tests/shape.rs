//! The workspace keeps its shape (docs/architecture.md), read from `cargo metadata`:
//!
//! - the dialer (the crate building `dialerd`) does not depend on the ledger (the crate
//!   building `ledgerd`), nor the ledger on the dialer, by any kind of dependency (normal, dev
//!   or build), directly or through other crates: they meet only in contracts (`ledger-api`,
//!   `auth`, `collections-proto`) and in composition roots (`allinone`, `dialerctl`);
//! - the decision crates (`compliance`, `pacing`, `simulator`, `receivables`) and the
//!   protocol and media crates (`sip`, `media`, `callprogress`) stay pure: no tokio, tonic, sqlx or redis among
//!   their normal dependencies, direct or transitive;
//! - the contract and library crates under `crates/` depend on no service, and `ledger-api`
//!   on no database driver;
//! - the store layer (`sqlstore`) knows SQL and pools only: by no kind of dependency does it
//!   reach a service, a contract crate (the ledger's or the dialer's domain) or a protocol
//!   other than SQL (tonic, redis).
//! - the carrier seam (`carrier`) reaches no service, no gRPC and no store (tonic, sqlx,
//!   redis), and asks tokio for no more than channels, tasks and time (its simulated carrier
//!   plays calls on tokio time); the SIP carrier (`telephony`) reaches no service, no gRPC
//!   and no store either.
//! - the service skeleton (`service`) knows no domain and no store: by no normal or build
//!   dependency does it reach sqlx, redis, `sqlstore`, a contract crate of a domain
//!   (`ledger-api`, `collections-proto`) or a decision crate; and both service crates
//!   (`dialer`, `ledger`) run on it (a direct normal dependency), not on a copy of it.
//!
//! `SHAPE_MANIFEST=/path/to/Cargo.toml` checks another checkout instead (to see the test
//! fail on a workspace that breaks the rules).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;

use serde_json::Value;

/// Package name -> (dependency name, kind: "normal" | "dev" | "build") edges, and the names of
/// the workspace members with their manifest paths.
struct Graph {
    deps: BTreeMap<String, Vec<(String, String)>>,
    members: BTreeMap<String, String>,
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = std::env::var("SHAPE_MANIFEST")
        .unwrap_or_else(|_| format!("{}/../../Cargo.toml", env!("CARGO_MANIFEST_DIR")));
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            &manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn graph(meta: &Value) -> Graph {
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let members = meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap();
            let p = meta["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == id)
                .expect("member package");
            (
                name_of[id].to_owned(),
                p["manifest_path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut deps = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve.nodes") {
        let from = name_of[node["id"].as_str().unwrap()].to_owned();
        let mut edges = Vec::new();
        for d in node["deps"].as_array().unwrap() {
            let to = name_of[d["pkg"].as_str().unwrap()].to_owned();
            for k in d["dep_kinds"].as_array().unwrap() {
                let kind = k["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push((to.clone(), kind));
            }
        }
        deps.entry(from).or_insert_with(Vec::new).extend(edges);
    }
    Graph { deps, members }
}

impl Graph {
    /// Every package `root` needs, each with the chain that brings it in. `root`'s own
    /// dependencies of the kinds in `root_kinds` count; beyond them only normal and build
    /// dependencies do (a dependency's dev-dependencies are never built for its users).
    fn closure(&self, root: &str, root_kinds: &[&str]) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut todo = VecDeque::new();
        todo.push_back((root.to_owned(), vec![root.to_owned()]));
        while let Some((at, path)) = todo.pop_front() {
            let kinds: &[&str] = if at == root {
                root_kinds
            } else {
                &["normal", "build"]
            };
            for (to, kind) in self.deps.get(&at).into_iter().flatten() {
                if !kinds.contains(&kind.as_str()) || seen.contains_key(to) || to == root {
                    continue;
                }
                let mut p = path.clone();
                p.push(format!("{to} ({kind})"));
                seen.insert(to.clone(), p.clone());
                todo.push_back((to.clone(), p));
            }
        }
        seen
    }
}

/// What `root` must not reach, as "chain" lines.
fn violations(g: &Graph, root: &str, root_kinds: &[&str], forbidden: &[&str]) -> Vec<String> {
    let reach = g.closure(root, root_kinds);
    forbidden
        .iter()
        .filter_map(|f| reach.get(*f).map(|p| p.join(" -> ")))
        .collect()
}

/// The tokio features `package` asks for in its normal dependency beyond `allowed` (cargo
/// unifies features across the workspace, so the resolved graph cannot tell; the manifest
/// can).
fn tokio_beyond(meta: &Value, package: &str, allowed: &[&str]) -> Vec<String> {
    let Some(p) = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == package)
    else {
        return Vec::new();
    };
    let mut bad = Vec::new();
    for d in p["dependencies"].as_array().expect("dependencies") {
        if d["name"] != "tokio" || !d["kind"].is_null() {
            continue;
        }
        if d["uses_default_features"].as_bool() != Some(false) {
            bad.push(format!("{package} -> tokio with its default features"));
        }
        for f in d["features"].as_array().expect("features") {
            let f = f.as_str().unwrap_or_default();
            if !allowed.contains(&f) {
                bad.push(format!("{package} -> tokio feature {f}"));
            }
        }
    }
    bad
}

#[test]
fn the_workspace_keeps_its_shape() {
    let meta = metadata();
    let g = graph(&meta);
    let all = ["normal", "dev", "build"];
    let mut bad = Vec::new();
    for want in [
        "carrier",
        "dialer",
        "ledger",
        "ledger-api",
        "compliance",
        "pacing",
        "service",
        "simulator",
        "sqlstore",
        "telephony",
        "sip",
        "media",
        "callprogress",
        "receivables",
    ] {
        if !g.members.contains_key(want) {
            bad.push(format!("no workspace member {want}"));
        }
    }
    // Services beside each other.
    bad.extend(violations(&g, "dialer", &all, &["ledger"]));
    bad.extend(violations(&g, "ledger", &all, &["dialer"]));
    // Pure decision crates.
    for pure in [
        "compliance",
        "pacing",
        "simulator",
        "sip",
        "media",
        "callprogress",
        "receivables",
    ] {
        bad.extend(violations(
            &g,
            pure,
            &["normal"],
            &["tokio", "tonic", "sqlx", "redis"],
        ));
    }
    // Contracts and libraries depend on no service; the ledger's contract on no database.
    let services: BTreeSet<&str> = g
        .members
        .iter()
        .filter(|(_, manifest)| manifest.contains("/services/"))
        .map(|(name, _)| name.as_str())
        .collect();
    let services: Vec<&str> = services.into_iter().collect();
    for (name, manifest) in &g.members {
        if manifest.contains("/crates/") {
            bad.extend(violations(&g, name, &["normal", "build"], &services));
        }
    }
    bad.extend(violations(
        &g,
        "ledger-api",
        &["normal", "build"],
        &["sqlx", "redis"],
    ));
    // The store layer: SQL and pools, protocol at the edge.
    let mut not_for_the_store = services.clone();
    not_for_the_store.extend(["ledger-api", "collections-proto", "auth", "tonic", "redis"]);
    bad.extend(violations(&g, "sqlstore", &all, &not_for_the_store));
    // The carrier seam: the engine's view of the network, no protocol of another layer.
    bad.extend(violations(
        &g,
        "carrier",
        &["normal", "build"],
        &["tonic", "sqlx", "redis"],
    ));
    bad.extend(tokio_beyond(&meta, "carrier", &["sync", "rt", "time"]));
    bad.extend(violations(
        &g,
        "telephony",
        &["normal", "build"],
        &["tonic", "sqlx", "redis"],
    ));
    // The service skeleton: what a service binary needs around its handlers, no domain.
    bad.extend(violations(
        &g,
        "service",
        &["normal", "build"],
        &[
            "sqlx",
            "redis",
            "sqlstore",
            "ledger-api",
            "collections-proto",
            "compliance",
            "pacing",
            "simulator",
            "queue",
            "carrier",
        ],
    ));
    for svc in ["dialer", "ledger"] {
        let mut direct = g.deps.get(svc).into_iter().flatten();
        if !direct.any(|(to, kind)| to == "service" && kind == "normal") {
            bad.push(format!(
                "{svc} does not run on the service skeleton (crates/service)"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "dependencies that break docs/architecture.md:\n  {}",
        bad.join("\n  ")
    );
}
