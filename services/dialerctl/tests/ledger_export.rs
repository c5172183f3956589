//! `dialerctl ledger export` against a real ledger (served in-process on SQLite, with a
//! signing key): each report's CSV on stdout, the filter flags, and a refused token or a
//! missing flag as one line on stderr with the exit code of the manager's commands.

use std::process::Command;

use collections_proto::ledger_v1 as pb;
use pb::receivables_service_client::ReceivablesServiceClient;

const KEY: &str = "export-test-key-0123456789abcdef-xyz";
const EVENTS: &str = include_str!("../../../crates/receivables/tests/data/kpi_example.jsonl");

fn token(role: auth::Role) -> String {
    auth::sign_hs256(
        KEY,
        &auth::Claims {
            sub: "t".into(),
            role,
            exp: None,
        },
    )
}

/// The ledger on a fresh SQLite file with the worked example imported; its address.
async fn ledger(dir: &std::path::Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("ledger.db").display());
    let store = ledger::store::Store::connect(&url).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        ledger::server::serve(
            store,
            ledger::metrics::Metrics::new(),
            auth::Auth::new(Some(KEY)),
            Default::default(),
            listener,
            async {
                let _ = rx.await;
            },
        )
        .await
        .expect("serve");
    });
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let bearer =
        tonic::metadata::MetadataValue::try_from(format!("Bearer {}", token(auth::Role::Crm)))
            .unwrap();
    let mut c = ReceivablesServiceClient::with_interceptor(ch, move |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", bearer.clone());
        Ok(r)
    });
    let msgs: Vec<pb::ImportMoneyEventsRequest> = EVENTS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| pb::ImportMoneyEventsRequest {
            event_json: l.to_owned(),
        })
        .collect();
    c.import_money_events(tokio_stream::iter(msgs))
        .await
        .expect("import");
    (addr, stop)
}

fn export(addr: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialerctl"))
        .args(["ledger", "export", "--addr", addr, "--token", token])
        .args(args)
        .env_remove("LEDGER_ADDR")
        .env_remove("LEDGER_TOKEN")
        .output()
        .expect("dialerctl runs")
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_each_report_as_csv() {
    let dir = tempfile::tempdir().expect("tmp");
    let (addr, stop) = ledger(dir.path()).await;
    let m = token(auth::Role::Manager);
    let out = tokio::task::spawn_blocking(move || {
        let aging = stdout(&export(
            &addr,
            &m,
            &["--report", "aging", "--as-of", "2024-03-31"],
        ));
        let blocked = stdout(&export(
            &addr,
            &m,
            &[
                "--report",
                "aging",
                "--as-of",
                "2024-03-31",
                "--transfer-blocked",
                "true",
            ],
        ));
        let kpi = stdout(&export(
            &addr,
            &m,
            &[
                "--report",
                "kpi",
                "--as-of",
                "2024-03-31",
                "--period-start",
                "2024-03-01",
            ],
        ));
        let commitments = stdout(&export(
            &addr,
            &m,
            &["--report", "commitments", "--as-of", "2024-03-31"],
        ));
        let no_period = export(&addr, &m, &["--report", "kpi", "--as-of", "2024-03-31"]);
        let agent = export(
            &addr,
            &token(auth::Role::Agent),
            &["--report", "aging", "--as-of", "2024-03-31"],
        );
        let bad_date = export(&addr, &m, &["--report", "aging", "--as-of", "March"]);
        (aging, blocked, kpi, commitments, no_period, agent, bad_date)
    })
    .await
    .unwrap();
    let (aging, blocked, kpi, commitments, no_period, agent, bad_date) = out;
    // The aging CSV is `accounts_csv` of the replay of the same file.
    let book = receivables::jsonl::load(EVENTS).unwrap();
    let report = receivables::replay(
        &book,
        "2024-03-31".parse().unwrap(),
        "2024-03-31".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(aging, receivables::accounts_csv(&report));
    assert_eq!(
        blocked,
        format!(
            "{}D,0,200,0,0,0,0,200,0,true,false,true\r\n",
            receivables::CSV_HEADER
        )
    );
    let kpi_rows: Vec<&str> = kpi.split("\r\n").collect();
    assert_eq!(kpi_rows[0], receivables::KPI_CSV_HEADER.trim_end());
    assert_eq!(
        kpi_rows[1],
        "2024-03-01,2024-03-31,4,1400,700,1400,700,64.29,43.75,62,33.33,1,1,50,0,0,1,1"
    );
    assert_eq!(commitments.lines().count(), 4, "{commitments}");
    assert!(commitments.starts_with("account,kind,event_id,status,"));
    // Refusals: one line on stderr, the manager's exit codes (4 input, 3 token).
    assert_eq!(no_period.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&no_period.stderr).contains("--period-start is required"));
    assert_eq!(agent.status.code(), Some(3));
    assert!(agent.stdout.is_empty());
    assert_eq!(bad_date.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&bad_date.stderr).contains("as_of"),
        "{}",
        String::from_utf8_lossy(&bad_date.stderr)
    );
    let _ = stop.send(());
}
