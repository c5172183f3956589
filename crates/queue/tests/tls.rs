//! Redis over TLS (`rediss://`): managed Redis services (ElastiCache with in-transit
//! encryption, Azure Cache, Memorystore) take TLS only. The test starts its own redis-server
//! with a TLS port, its certificate signed by a CA made here with openssl, and drives a
//! campaign queue through it: trusting that CA by the URL's `ca_file`, and refused without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use queue::redis_store::{RedisQueue, connect};
use queue::{CampaignQueue, QueueItem};

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl)")
        .success();
    assert!(ok, "openssl {args:?}");
}

/// A CA, and a server certificate for 127.0.0.1 it signed, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=queue-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
}

/// A redis-server with only a TLS port, killed on drop.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    dir: PathBuf,
}

impl TlsRedis {
    fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("queue-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        certificates(&dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server, built with TLS)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsRedis { child, port, dir }
    }

    fn url(&self, query: &str) -> String {
        format!("rediss://127.0.0.1:{}/0{query}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_queue_works_over_tls_trusting_the_ca_file_and_is_refused_without_it() {
    let server = TlsRedis::start();
    let ca = server.dir.join("ca.pem");

    // The system's roots do not hold this CA: the handshake is refused, nothing plaintext.
    let refused = match connect(&server.url("")).await {
        Ok(_) => panic!("a certificate from an unknown CA must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.to_lowercase().contains("certificate") || refused.contains("UnknownIssuer"),
        "a certificate error: {refused}"
    );

    let conn = connect(&server.url(&format!("?ca_file={}", ca.display())))
        .await
        .expect("TLS connection trusting ca_file");
    let queue = RedisQueue::new(conn, "tls-campaign");
    queue
        .push(&[
            QueueItem {
                account: "acct-1".into(),
                rank: 2.0,
            },
            QueueItem {
                account: "acct-2".into(),
                rank: 1.0,
            },
        ])
        .await
        .expect("push over TLS");
    let sizes = queue.sizes().await.expect("sizes over TLS");
    assert_eq!(sizes.ready, 2);
}
