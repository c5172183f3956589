//! How many bridged calls one core relays, and the latency the relay adds.
//!
//! The relay (every leg's receive task: parse, rewrite into the other leg's stream, send)
//! runs on a single-threaded runtime: one core. A second thread plays the phones: for each
//! call the debtor's phone sends a 20 ms G.711 packet every 20 ms to its leg, stamped with the
//! send time, and the agent's phone receives it from the other leg; the agent's phone does
//! the same the other way. Latency is receive time minus send time on one clock, so it
//! includes the phones' own scheduling: an upper bound on what the relay adds.
//!
//! `cargo bench -p telephony --bench bridge [-- CALLS...]` (default 250 500 1000 1500).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use media::g711::Law;
use telephony::media_leg::{MediaLeg, Remote};
use tokio::net::UdpSocket;
use tokio::time::Instant;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Packets sent before this are not measured (sockets and tasks settle).
const WARMUP: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(8);

fn main() {
    let mut calls: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if calls.is_empty() {
        calls = vec![250, 500, 1000, 1500];
    }
    println!("bridged calls | packets relayed/s | latency p50 | p99 | max | lost");
    println!("---|---|---|---|---|---");
    for n in calls {
        run(n);
    }
}

fn remote(addr: SocketAddr) -> Remote {
    Remote {
        addr: Some(addr),
        law: Law::Pcmu,
        dtmf_pt: Some(101),
        ptime_ms: 20,
        send: true,
    }
}

fn run(n: usize) {
    let relay = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    // The legs' receive tasks are spawned on the relay runtime.
    let legs: Vec<(Arc<MediaLeg>, Arc<MediaLeg>)> = relay.block_on(async {
        let mut legs = Vec::with_capacity(n);
        for _ in 0..n {
            let a = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            let b = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            legs.push((a, b));
        }
        legs
    });
    let stop = Arc::new(AtomicBool::new(false));
    let relay_stop = stop.clone();
    let relay_thread = std::thread::spawn(move || {
        relay.block_on(async move {
            while !relay_stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    });
    let phones = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("phone runtime");
    let (mut lat, sent) = phones.block_on(async {
        let start = Instant::now();
        let end = start + RUN;
        let mut receivers = Vec::new();
        let mut senders = Vec::new();
        for (a, b) in &legs {
            let pa = Arc::new(UdpSocket::bind((LOCAL, 0)).await.expect("phone"));
            let pb = Arc::new(UdpSocket::bind((LOCAL, 0)).await.expect("phone"));
            a.set_remote(remote(pa.local_addr().expect("addr")));
            b.set_remote(remote(pb.local_addr().expect("addr")));
            a.forward(Some(b.clone()));
            b.forward(Some(a.clone()));
            for (from, to, dest) in [(pa.clone(), pb.clone(), a.local()), (pb, pa, b.local())] {
                // Phones are not synchronised: spread the first packets over a packet time.
                let offset = Duration::from_micros(20_000 * senders.len() as u64 / (2 * n) as u64);
                senders.push(tokio::spawn(send(from, dest, start, start + offset, end)));
                receivers.push(tokio::spawn(receive(to, start, end)));
            }
        }
        let mut sent = 0u64;
        for s in senders {
            sent += s.await.unwrap_or(0);
        }
        let mut lat = Vec::new();
        for r in receivers {
            lat.extend(r.await.unwrap_or_default());
        }
        (lat, sent)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = relay_thread.join();
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).max(0.0) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let measured = (RUN - WARMUP).as_secs_f64();
    println!(
        "{n} | {:.0} | {:.0} us | {:.0} us | {:.0} us | {:.2} %",
        lat.len() as f64 / measured,
        q(0.5),
        q(0.99),
        q(1.0),
        100.0 * sent.saturating_sub(lat.len() as u64) as f64 / sent.max(1) as f64,
    );
}

/// Sends a 20 ms packet every 20 ms until `end`, its payload starting with the send time;
/// returns how many of the measured ones (after the warm-up) it sent.
async fn send(
    socket: Arc<UdpSocket>,
    dest: SocketAddr,
    start: Instant,
    first: Instant,
    end: Instant,
) -> u64 {
    let mut tick = tokio::time::interval_at(first, Duration::from_millis(20));
    let mut out = Vec::with_capacity(200);
    let mut payload = [0xFFu8; 160];
    let ssrc = socket.local_addr().map_or(1, |a| u32::from(a.port()));
    let mut seq = 0u16;
    let mut measured = 0;
    // Stop sending a little early so every measured packet can arrive before `end`.
    while Instant::now() + Duration::from_millis(200) < end {
        tick.tick().await;
        let now = start.elapsed();
        payload[..8].copy_from_slice(&(now.as_nanos() as u64).to_be_bytes());
        let h = media::rtp::Header {
            payload_type: 0,
            marker: false,
            seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
        };
        media::rtp::build(&h, &payload, &mut out);
        if socket.send_to(&out, dest).await.is_ok() && now >= WARMUP {
            measured += 1;
        }
        seq = seq.wrapping_add(1);
    }
    measured
}

/// Receives relayed packets until `end`; the latencies (ns) of those sent after the warm-up.
async fn receive(socket: Arc<UdpSocket>, start: Instant, end: Instant) -> Vec<u64> {
    let mut buf = [0u8; 2048];
    let mut lat = Vec::new();
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, socket.recv(&mut buf)).await {
        let now = start.elapsed().as_nanos() as u64;
        let Ok(p) = media::rtp::parse(&buf[..n]) else {
            continue;
        };
        let Some(Ok(stamp)) = p.payload.get(..8).map(<[u8; 8]>::try_from) else {
            continue;
        };
        let sent = u64::from_be_bytes(stamp);
        if Duration::from_nanos(sent) >= WARMUP {
            lat.push(now.saturating_sub(sent));
        }
    }
    lat
}
