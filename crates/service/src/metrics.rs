//! The Prometheus side of a service: a registry's text exposition, and a minimal HTTP
//! endpoint serving it, so operators scrape a service without a sidecar.

use prometheus::{Encoder, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// `registry`'s metrics in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("encode metrics");
    String::from_utf8(buf).expect("utf-8 metrics")
}

/// Serves `GET /metrics` on `listener` until the task is dropped, calling `refresh` before
/// each rendering (metrics read from live state at scrape time); any other request gets 404.
/// One request per connection, which is all Prometheus needs.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    refresh: impl Fn() + Send + Sync + 'static,
) {
    let refresh = std::sync::Arc::new(refresh);
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        let refresh = refresh.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /metrics") {
                refresh();
                ("200 OK", render(&registry))
            } else {
                ("404 Not Found", "not found\n".to_owned())
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

/// User plus system CPU seconds this process has used so far (Linux `/proc/self/stat`; 0
/// elsewhere): what the load tools divide by their dials to report cores per call rate.
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ')' (0-based
    // 11 and 12). Clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::IntCounter;
    use tokio::net::TcpStream;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut body = String::new();
        s.read_to_string(&mut body).await.expect("read");
        body
    }

    #[tokio::test]
    async fn serves_the_registry_refreshed_at_each_scrape() {
        let registry = Registry::new();
        let scrapes = IntCounter::new("demo_scrapes_total", "Scrapes").expect("metric");
        registry
            .register(Box::new(scrapes.clone()))
            .expect("register");
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let task = tokio::spawn(serve(l, registry, move || scrapes.inc()));
        let body = get(addr, "/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.contains("demo_scrapes_total 1"), "{body}");
        assert!(get(addr, "/metrics").await.contains("demo_scrapes_total 2"));
        assert!(get(addr, "/other").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}
