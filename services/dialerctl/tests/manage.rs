//! The manager's commands (`campaign create|start|pause|resume|stop|list|show`, `agents`,
//! `explain`) run as the `dialerctl` binary against a live dialerd: the real server
//! (`dialer::app::run`, as `dialerd` runs it) in this process on a loopback port, with a JWT
//! key, a campaign store on a fresh SQLite file, the sample portfolio and the simulated
//! carrier on a clock inside calling hours. Tables by default, one JSON document with
//! `--json`, one line and a non-zero exit on a refused token or a bad campaign file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use auth::{BearerAuth, Claims, Role, Token};
use collections_proto::dialer_v1 as pb;
use dialer::config::{CarrierConfig, Config, ServerSettings, TlsConfig};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn token(sub: &str, role: Role) -> String {
    auth::sign_hs256(
        KEY,
        &Claims {
            sub: sub.to_string(),
            role,
            exp: Some(jiff::Timestamp::now().as_second() + 3600),
        },
    )
}

/// dialerd in this process; dropped with the test's runtime.
struct Dialerd {
    addr: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// dialer's test certificates: `localhost.pem` signed by `ca.pem`.
fn tls_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dialer/tests/data")
        .join(name)
}

impl Dialerd {
    async fn start() -> Dialerd {
        Dialerd::start_with(false).await
    }

    /// `tls`: serve TLS with dialer's test certificate for `localhost`.
    async fn start_with(tls: bool) -> Dialerd {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = Config {
            server: ServerSettings {
                database_url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("dialerd.db").display()
                ),
                jwt_hs256_key: Some(KEY.into()),
                listen: "127.0.0.1:0".into(),
                ..ServerSettings::default()
            },
            sample_accounts: Some(200),
            replica_id: "dialerctl-test".into(),
            carrier: CarrierConfig::Sim {
                scenario: "S2".into(),
                seed: 7,
                speed: 20.0,
                clock_start: Some("2026-11-23T16:00:00Z".into()),
            },
            shutdown_grace_s: 5,
            tls: tls.then(|| TlsConfig {
                cert_path: tls_file("localhost.pem"),
                key_path: tls_file("localhost.key"),
            }),
            ..Config::default()
        };
        cfg.validate().expect("valid config");
        let (addr_tx, mut addr_rx) = mpsc::unbounded_channel::<String>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let announce = move |line: &str| {
                if let Some(a) = line.strip_prefix("dialerd listening on ") {
                    let _ = addr_tx.send(a.trim().to_string());
                }
            };
            let shutdown = async move {
                let _ = stopped.await;
            };
            dialer::app::run(&cfg, shutdown, announce)
                .await
                .expect("dialerd runs");
        });
        let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx.recv())
            .await
            .expect("dialerd listens within a minute")
            .expect("an address");
        Dialerd {
            addr,
            _dir: dir,
            stop: Some(stop),
            task,
        }
    }

    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), &mut self.task).await;
    }
}

/// `dialerctl ARGS` with the address from the environment and `token` as a flag; a config
/// home of its own, so the developer's config never leaks in.
async fn dialerctl(addr: &str, token: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("tmp");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dialerctl"));
    cmd.args(args)
        .env("DIALER_ADDR", addr)
        .env_remove("DIALER_TOKEN")
        .env("XDG_CONFIG_HOME", home.path());
    if !token.is_empty() {
        cmd.args(["--token", token]);
    }
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("dialerctl runs");
        drop(home);
        out
    })
    .await
    .expect("joined")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn json(out: &Output) -> Value {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("one JSON document: {e}\n{text}"))
}

/// The exit code and the one line on stderr of a refused command.
fn refused(out: &Output) -> (i32, String) {
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("dialerctl: "), "{err}");
    (out.status.code().expect("exit code"), err)
}

fn docs(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_runs_a_campaign_from_the_command_line() {
    let d = Dialerd::start().await;
    let manager = token("m1", Role::Manager);
    let addr = d.addr.as_str();

    // Nothing yet.
    let out = dialerctl(addr, &manager, &["campaign", "list"]).await;
    assert_eq!(ok(&out), "no campaigns\n");

    // Create from the documented examples (TOML; the YAML twin under another id).
    let out = dialerctl(
        addr,
        &manager,
        &[
            "campaign",
            "create",
            "-f",
            docs("campaign.example.toml").to_str().expect("p"),
            "--json",
        ],
    )
    .await;
    let c = json(&out);
    assert_eq!(c["campaign_id"], "spring-recovery");
    assert_eq!(c["state"], "ready");
    assert_eq!(c["abandon_target"], 0.025);
    assert_eq!(c["pacing"]["mode"], "predictive");
    assert_eq!(c["compliance"]["max_calls_per_day_per_person"], 2);
    assert_eq!(c["recycling"]["phone_order"][0], "mobile");
    let yaml_dir = tempfile::tempdir().expect("tmp");
    let yaml = std::fs::read_to_string(docs("campaign.example.yaml"))
        .expect("yaml example")
        .replace("campaign_id: spring-recovery", "campaign_id: spring-yaml");
    let yaml_path = yaml_dir.path().join("c.yaml");
    std::fs::write(&yaml_path, yaml).expect("write");
    let out = dialerctl(
        addr,
        &manager,
        &["campaign", "create", "-f", yaml_path.to_str().expect("p")],
    )
    .await;
    assert_eq!(
        ok(&out),
        "campaign spring-yaml: ready (predictive, abandonment target 2.50%)\n"
    );

    // Accounts by id; by filter it needs a ledger, which this dialerd has not.
    let out = dialerctl(
        addr,
        &manager,
        &[
            "campaign",
            "add",
            "spring-recovery",
            "A000001",
            "A000002",
            "Z999",
            "--json",
        ],
    )
    .await;
    let added = json(&out);
    assert_eq!(added["queued"], 2, "{added}");
    assert_eq!(added["not_found"], serde_json::json!(["Z999"]));
    let out = dialerctl(
        addr,
        &manager,
        &["campaign", "add", "spring-recovery", "--all"],
    )
    .await;
    let (_, line) = refused(&out);
    assert!(line.contains("campaign add spring-recovery"), "{line}");

    // Life cycle, each step answered with the new state.
    for (step, state) in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
    ] {
        let out = dialerctl(
            addr,
            &manager,
            &["campaign", step, "spring-recovery", "--json"],
        )
        .await;
        assert_eq!(json(&out)["state"], state, "{step}");
    }

    // The table lists both, in id order.
    let out = dialerctl(addr, &manager, &["campaign", "list"]).await;
    let table = ok(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CAMPAIGN") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("spring-recovery") && lines[1].contains("running"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("spring-yaml") && lines[2].contains("ready"),
        "{table}"
    );
    let out = dialerctl(
        addr,
        &manager,
        &["campaign", "list", "--state", "ready", "--json"],
    )
    .await;
    let ids: Vec<Value> = json(&out)["campaigns"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["campaign_id"].clone())
        .collect();
    assert_eq!(ids, ["spring-yaml"]);

    // Show prints a campaign file that creates the same campaign again.
    let out = dialerctl(addr, &manager, &["campaign", "show", "spring-recovery"]).await;
    let shown = ok(&out);
    assert!(shown.contains("# state = running"), "{shown}");
    let again = shown.replace(
        "campaign_id = \"spring-recovery\"",
        "campaign_id = \"spring-copy\"",
    );
    let copy = yaml_dir.path().join("copy.toml");
    std::fs::write(&copy, again).expect("write");
    let out = dialerctl(
        addr,
        &manager,
        &[
            "campaign",
            "create",
            "-f",
            copy.to_str().expect("p"),
            "--json",
        ],
    )
    .await;
    let mut copied = json(&out);
    let mut original = json(
        &dialerctl(
            addr,
            &manager,
            &["campaign", "show", "spring-recovery", "--json"],
        )
        .await,
    );
    for v in [&mut copied, &mut original] {
        let m = v.as_object_mut().expect("object");
        for k in ["campaign_id", "state", "created_at", "updated_at"] {
            m.remove(k);
        }
    }
    assert_eq!(copied, original);

    // An agent logs in; the manager sees it with its state.
    let mut agents = pb::agent_service_client::AgentServiceClient::with_interceptor(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect"),
        BearerAuth(Token::fixed(token("ana", Role::Agent))),
    );
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::AgentRequest {
        command: Some(pb::agent_request::Command::Login(pb::Login {
            campaign_id: "spring-recovery".into(),
            endpoint: "sip:ana@sim".into(),
            agent_id: String::new(),
        })),
    })
    .await
    .expect("queued");
    let mut session = agents
        .session(ReceiverStream::new(rx))
        .await
        .expect("session")
        .into_inner();
    session.message().await.expect("state").expect("open");
    let listed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let out = dialerctl(
                addr,
                &manager,
                &["agents", "--campaign", "spring-recovery", "--json"],
            )
            .await;
            let v = json(&out);
            if v["agents"].as_array().is_some_and(|a| !a.is_empty()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the agent is listed within the figures' next second");
    let a = &listed["agents"][0];
    assert_eq!(a["agent_id"], "ana");
    assert_eq!(a["campaign_id"], "spring-recovery");
    assert_eq!(a["state"], "not_ready");
    assert_eq!(a["pause_code"], "login");
    let out = dialerctl(addr, &manager, &["agents"]).await;
    let table = ok(&out);
    assert!(table.starts_with("CAMPAIGN"), "{table}");
    assert!(
        table.contains("ana") && table.contains("not_ready (login)"),
        "{table}"
    );

    // Explain under the campaign's policy.
    let out = dialerctl(
        addr,
        &manager,
        &[
            "explain",
            "A000001",
            "--campaign",
            "spring-recovery",
            "--json",
        ],
    )
    .await;
    let e = json(&out);
    assert!(
        ["allow", "defer", "deny"].contains(&e["verdict"].as_str().expect("verdict")),
        "{e}"
    );
    assert_eq!(e["account_id"], "A000001");
    assert!(!e["packs"].as_array().expect("packs").is_empty(), "{e}");
    let out = dialerctl(addr, &manager, &["explain", "A000001"]).await;
    let text = ok(&out);
    assert!(text.starts_with("account A000001: "), "{text}");
    let out = dialerctl(addr, &manager, &["explain", "NOPE-1"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 5, "{line}");
    assert!(line.contains("not found"), "{line}");

    // Stop, waiting for the calls in progress.
    let out = dialerctl(
        addr,
        &manager,
        &["campaign", "stop", "spring-recovery", "--wait", "--json"],
    )
    .await;
    assert_eq!(json(&out)["state"], "stopped");
    let out = dialerctl(addr, &manager, &["campaign", "start", "spring-recovery"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 5, "{line}");
    drop(tx);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_and_bad_campaign_files_get_one_line_and_an_exit_code() {
    let d = Dialerd::start().await;
    let addr = d.addr.clone();
    let addr = addr.as_str();
    let manager = token("m1", Role::Manager);

    // An agent's token: not a manager's.
    let out = dialerctl(addr, &token("ana", Role::Agent), &["campaign", "list"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("the token is not a manager's"), "{line}");
    let out = dialerctl(addr, &token("ana", Role::Agent), &["agents"]).await;
    assert_eq!(refused(&out).0, 3);
    // No token, and a token signed with another key.
    let out = dialerctl(addr, "", &["campaign", "list"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 3, "{line}");
    assert!(line.contains("UNAUTHENTICATED"), "{line}");
    let forged = auth::sign_hs256(
        "another key, not dialerd's, 32 bytes",
        &Claims {
            sub: "m1".into(),
            role: Role::Manager,
            exp: None,
        },
    );
    let out = dialerctl(addr, &forged, &["campaign", "list"]).await;
    assert_eq!(refused(&out).0, 3);

    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("path").to_string()
    };
    // dialerd refuses a value out of range, naming the field.
    let bad_range = write("range.toml", "campaign_id = \"c1\"\nring_timeout_s = 5.0\n");
    let out = dialerctl(addr, &manager, &["campaign", "create", "-f", &bad_range]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 4, "{line}");
    assert!(
        line.contains("INVALID_ARGUMENT") && line.contains("ring_timeout_s"),
        "{line}"
    );
    // The file's shape is checked before dialerd is asked: an unknown key, a bad name.
    let typo = write(
        "typo.toml",
        "campaign_id = \"c1\"\n[pacing]\nmod = \"power\"\n",
    );
    let out = dialerctl(addr, &manager, &["campaign", "create", "-f", &typo]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 4, "{line}");
    assert!(line.contains("typo.toml") && line.contains("mod"), "{line}");
    let bad_mode = write("mode.yaml", "campaign_id: c1\npacing:\n  mode: turbo\n");
    let out = dialerctl(addr, &manager, &["campaign", "create", "-f", &bad_mode]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 4, "{line}");
    assert!(line.contains("turbo"), "{line}");
    // Nothing was created by any of them.
    let out = dialerctl(addr, &manager, &["campaign", "list", "--json"]).await;
    assert_eq!(json(&out)["campaigns"], serde_json::json!([]));
    // An unknown campaign.
    let out = dialerctl(addr, &manager, &["campaign", "pause", "nope"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 5, "{line}");
    assert!(line.contains("campaign pause nope"), "{line}");
    d.shutdown().await;

    // dialerd gone: unreachable, its own exit code.
    let out = dialerctl(addr, &manager, &["campaign", "list"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("cannot reach dialerd"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_ca_certificate_that_signed_dialerds() {
    let d = Dialerd::start_with(true).await;
    let port = d.addr.rsplit(':').next().expect("port").to_string();
    let https = format!("https://localhost:{port}");
    let manager = token("m1", Role::Manager);
    let ca = tls_file("ca.pem");
    let ca = ca.to_str().expect("path");
    let out = dialerctl(&https, &manager, &["campaign", "list", "--ca-cert", ca]).await;
    assert_eq!(ok(&out), "no campaigns\n");
    // No CA: said before connecting.
    let out = dialerctl(&https, &manager, &["campaign", "list"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("--ca-cert"), "{line}");
    // A certificate that did not sign dialerd's: the handshake fails.
    let leaf = tls_file("localhost.key");
    let out = dialerctl(
        &https,
        &manager,
        &[
            "campaign",
            "list",
            "--ca-cert",
            leaf.to_str().expect("path"),
        ],
    )
    .await;
    assert_ne!(refused(&out).0, 0);
    // Plaintext to a TLS server does not pass either.
    let out = dialerctl(&d.addr, &manager, &["campaign", "list"]).await;
    let (code, line) = refused(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("https://"), "{line}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agents_work_a_campaign_and_the_manager_sees_them() {
    let d = Dialerd::start().await;
    let addr = d.addr.clone();
    let manager = token("m1", Role::Manager);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("floor.toml");
    std::fs::write(&file, "campaign_id = \"floor\"\nwrap_up_s = 5\n").expect("write");
    let out = dialerctl(
        &addr,
        &manager,
        &["campaign", "create", "-f", file.to_str().expect("p")],
    )
    .await;
    ok(&out);
    let ids: Vec<String> = (0..150).map(|i| format!("A{i:06}")).collect();
    let mut args = vec!["campaign", "add", "floor"];
    args.extend(ids.iter().map(String::as_str));
    ok(&dialerctl(&addr, &manager, &args).await);
    ok(&dialerctl(&addr, &manager, &["campaign", "start", "floor"]).await);

    // A manager's token may not log agents in.
    let out = dialerctl(&addr, &manager, &["sim-agents", "floor", "--count", "2"]).await;
    assert_eq!(refused(&out).0, 3);

    let admin = token("admin", Role::Admin);
    let team = {
        let addr = addr.clone();
        tokio::spawn(async move {
            dialerctl(
                &addr,
                &admin,
                &[
                    "sim-agents",
                    "floor",
                    "--count",
                    "3",
                    "--talk-s",
                    "0.2",
                    "--seconds",
                    "120",
                ],
            )
            .await
        })
    };
    let listed = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let v = json(&dialerctl(&addr, &manager, &["agents", "--json"]).await);
            let calls: u64 = v["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| a["calls"].as_u64().unwrap_or(0))
                .sum();
            if calls >= 3 {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("the simulated agents take calls");
    let mut agents: Vec<&str> = listed["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["agent_id"].as_str().expect("id"))
        .collect();
    agents.sort_unstable();
    assert_eq!(agents, ["sim-agent-1", "sim-agent-2", "sim-agent-3"]);

    // Stopping the campaign ends their sessions, and the command with them.
    let out = dialerctl(&addr, &manager, &["campaign", "stop", "floor", "--wait"]).await;
    assert_eq!(
        ok(&out),
        "campaign floor: stopped (predictive, abandonment target 3.00%)\n"
    );
    let out = tokio::time::timeout(Duration::from_secs(60), team)
        .await
        .expect("sim-agents ends with the campaign")
        .expect("joined");
    assert!(ok(&out).starts_with("3 simulated agents logged in to floor"));
    d.shutdown().await;
}

/// `dialerctl watch` on a real terminal (a pseudo-terminal from `script`, bsdutils, an
/// essential Debian package): it draws the campaign, `p` pauses it, `r` resumes it, `q`
/// quits with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_on_a_terminal_pauses_resumes_and_quits() {
    use std::io::Write as _;
    let d = Dialerd::start().await;
    let addr = d.addr.clone();
    let manager = token("m1", Role::Manager);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "campaign_id = \"wall\"\n").expect("write");
    ok(&dialerctl(
        &addr,
        &manager,
        &["campaign", "create", "-f", file.to_str().expect("p")],
    )
    .await);
    ok(&dialerctl(&addr, &manager, &["campaign", "start", "wall"]).await);

    let screen = dir.path().join("screen");
    let mut child = std::process::Command::new("script")
        .args(["-qfc"])
        .arg(format!(
            "stty cols 110 rows 30; {} watch wall",
            env!("CARGO_BIN_EXE_dialerctl")
        ))
        .arg(&screen)
        .env("DIALER_ADDR", &addr)
        .env("DIALER_TOKEN", &manager)
        .env("XDG_CONFIG_HOME", dir.path())
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("script runs");
    let mut keys = child.stdin.take().expect("stdin");
    // Presses `key` until the campaign is in `state` (the first press may come before the
    // view has taken the terminal).
    let mut press_until = async |key: &[u8], state: &str| {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                keys.write_all(key).expect("key");
                keys.flush().expect("flush");
                tokio::time::sleep(Duration::from_millis(500)).await;
                let v = json(
                    &dialerctl(&addr, &manager, &["campaign", "show", "wall", "--json"]).await,
                );
                if v["state"] == state {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{state} after pressing {key:?}"));
    };
    press_until(b"p", "paused").await;
    press_until(b"r", "running").await;
    keys.write_all(b"q").expect("q");
    keys.flush().expect("flush");
    let status = tokio::task::spawn_blocking(move || {
        let s = child.wait().expect("exit");
        drop(keys);
        s
    })
    .await
    .expect("joined");
    assert!(status.success(), "{status:?}");
    let drawn = String::from_utf8_lossy(&std::fs::read(&screen).expect("typescript")).to_string();
    // Words, not phrases: a redraw writes only the cells that changed, so the spaces a
    // phrase shares with the previous frame are skipped by cursor moves.
    for want in ["wall", "RUNNING", "PAUSED", "paused:", "resumed", "ratio"] {
        assert!(drawn.contains(want), "{want:?} not drawn");
    }
    d.shutdown().await;
}
