//! The real ledger served in-process (its store and server, from the `ledger` crate), for
//! the dialer's tests that need a ledger they can restart or read the store of. The rest of
//! the test support is the dialer's (`services/dialer/tests/common`, `harness`), shared by
//! path so it is written once.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use auth::BearerAuth;
use auth::{Auth, Role};
use dialer::ledger_link::LedgerClient;
use ledger::metrics::Metrics;
use ledger::store::Store;
use ledger_api::pb;
use tokio::sync::oneshot;

use crate::common::{KEY, init_tracing, token};

/// The real ledger served in-process on 127.0.0.1, auth on.
#[derive(Debug)]
pub struct TestLedger {
    pub addr: SocketAddr,
    pub store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestLedger {
    /// On a free port, or on `addr` (a restart on the port a previous instance used).
    pub async fn start(url: &str, addr: Option<SocketAddr>) -> Self {
        init_tracing();
        let store = Store::connect(url).await.expect("ledger store");
        let want = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(want).await {
                Ok(l) => break l,
                // The previous instance's socket may take a moment to go.
                Err(e) if tries < 100 => {
                    tries += 1;
                    tracing::debug!(error = %e, "rebinding the ledger port");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("bind {want}: {e}"),
            }
        };
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel();
        let s = store.clone();
        let task = tokio::spawn(async move {
            ledger::server::serve(
                s,
                Metrics::new(),
                Auth::new(Some(KEY)),
                Default::default(),
                listener,
                async {
                    let _ = rx.await;
                },
            )
            .await
            .expect("serve");
        });
        Self {
            addr,
            store,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client with a token of `role`.
    pub async fn client(&self, role: Role) -> LedgerClient {
        let ch = tonic::transport::Channel::from_shared(self.uri())
            .unwrap()
            .connect()
            .await
            .expect("connect to the ledger");
        pb::ledger_service_client::LedgerServiceClient::with_interceptor(
            ch,
            BearerAuth(token(role)),
        )
    }

    /// Graceful stop (the ledger ends its streams), then the store is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.store.close().await;
    }
}
