//! dialerd refuses to start where it could only fail later: a ledger that refuses its
//! credentials (it would retry UNAUTHENTICATED forever) and a fast carrier without a set
//! clock (its recorded times would run ahead of the ledger's). Each exits non-zero with a
//! message naming what to fix.

mod common;
mod harness;
mod procs;

use harness::{PATIENCE, START};

async fn run(envs: Vec<(&'static str, String)>) -> (bool, String) {
    let out = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(procs::dialerd_bin())
            .envs(envs)
            .env("RUST_LOG", "warn")
            .output(),
    )
    .await
    .expect("exits in time")
    .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialerd_exits_when_the_ledger_refuses_its_credentials() {
    let db = common::TestDb::sqlite();
    let mut ledgerd = procs::ledgerd(&db).await;
    for (var, value) in [
        (
            "DIALER_LEDGER_JWT_HS256_KEY",
            "not-the-ledgers-key-not-the-ledgers-key",
        ),
        ("DIALER_LEDGER_TOKEN", "not.a.jwt"),
    ] {
        let mut env = procs::dialerd_env(&db, ledgerd.addr, "startup-1", START);
        env.retain(|(k, _)| *k != "DIALER_LEDGER_JWT_HS256_KEY");
        env.push((var, value.into()));
        let (ok, err) = run(env).await;
        assert!(!ok, "{var}: dialerd started");
        assert!(
            err.contains("the ledger refused the dialer's credentials")
                && err.contains("Unauthenticated"),
            "{var}: {err}"
        );
    }
    // The right key starts it (and it is stopped at once).
    let env = procs::dialerd_env(&db, ledgerd.addr, "startup-1", START);
    let mut d = procs::dialerd(&env).await;
    let status = d.terminate().await;
    assert!(
        status.success(),
        "{status:?}: {:?}",
        d.stderr.lock().unwrap()
    );
    ledgerd.kill().await;
}

#[tokio::test]
async fn a_fast_carrier_needs_a_set_clock() {
    let db = common::TestDb::sqlite();
    let (ok, err) = run(vec![
        ("DIALER_DATABASE_URL", db.dialer_url.clone()),
        ("DIALER_LISTEN", "127.0.0.1:0".into()),
        ("DIALER_CARRIER_SPEED", "10".into()),
    ])
    .await;
    assert!(!ok);
    assert!(
        err.contains("carrier.speed") && err.contains("clock_start"),
        "{err}"
    );
}
