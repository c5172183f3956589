//! How many bridged calls one core relays, and the latency the relay adds.
//!
//! The relay is the production code path: every call has two legs (`MediaLeg`), each with
//! its own socket and receive task that parses what arrives, rewrites it into the other leg's
//! outgoing stream and sends it. Here all legs run on one single-threaded runtime: one core.
//! A second thread plays the phones with two sockets only (one for every debtor, one for every
//! agent), so its own cost stays small: each millisecond it sends the packets due (every call
//! sends a 20 ms G.711 packet every 20 ms in each direction, spread evenly), stamped with the
//! send time, and it reads what the relay forwards. Latency is receive time minus send time
//! on one clock: an upper bound on what the relay adds, since it includes both kernels' and
//! the phones' own scheduling.
//!
//! `cargo bench -p telephony --bench bridge [-- CALLS...]` (default 250 500 1000 1500 2000).

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
const RUN: Duration = Duration::from_secs(10);

fn main() {
    let mut calls: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if calls.is_empty() {
        calls = vec![250, 500, 1000, 1500, 2000];
    }
    println!("bridged calls | packets relayed/s | latency p50 | p99 | p99.9 | max | lost");
    println!("---|---|---|---|---|---|---");
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
    let phones = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("phone runtime");
    let (debtor_phone, agent_phone) = phones.block_on(async {
        (
            Arc::new(UdpSocket::bind((LOCAL, 0)).await.expect("phone")),
            Arc::new(UdpSocket::bind((LOCAL, 0)).await.expect("phone")),
        )
    });
    let (debtors, agents) = (
        debtor_phone.local_addr().expect("addr"),
        agent_phone.local_addr().expect("addr"),
    );
    // The legs' receive tasks are spawned on the relay runtime.
    let legs: Vec<(Arc<MediaLeg>, Arc<MediaLeg>)> = relay.block_on(async {
        let mut legs = Vec::with_capacity(n);
        for _ in 0..n {
            let d = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            let a = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            d.set_remote(remote(debtors));
            a.set_remote(remote(agents));
            d.forward(Some(a.clone()));
            a.forward(Some(d.clone()));
            legs.push((d, a));
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
    // Where each phone sends: the debtor phone to every debtor leg, the agent phone to every
    // agent leg; the far phone hears it.
    let to_debtor_legs: Vec<SocketAddr> = legs.iter().map(|(d, _)| d.local()).collect();
    let to_agent_legs: Vec<SocketAddr> = legs.iter().map(|(_, a)| a.local()).collect();
    let (mut lat, sent) = phones.block_on(async {
        let start = Instant::now();
        let end = start + RUN;
        let hear_agents = tokio::spawn(receive(debtor_phone.clone(), start, end));
        let hear_debtors = tokio::spawn(receive(agent_phone.clone(), start, end));
        let sent = send(
            &[(debtor_phone, to_debtor_legs), (agent_phone, to_agent_legs)],
            start,
            end,
        )
        .await;
        let mut lat = hear_agents.await.unwrap_or_default();
        lat.extend(hear_debtors.await.unwrap_or_default());
        (lat, sent)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = relay_thread.join();
    drop(legs);
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).max(0.0) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let measured = (RUN - WARMUP - Duration::from_millis(300)).as_secs_f64();
    println!(
        "{n} | {:.0} | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {:.2} %",
        lat.len() as f64 / measured,
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        100.0 * sent.saturating_sub(lat.len() as u64) as f64 / sent.max(1) as f64,
    );
}

/// Every call's packets in both directions, one per call per direction every 20 ms, spread
/// over the 20 ms in 1 ms steps; returns how many of the measured ones (after the warm-up)
/// were sent.
async fn send(phones: &[(Arc<UdpSocket>, Vec<SocketAddr>)], start: Instant, end: Instant) -> u64 {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut out = Vec::with_capacity(200);
    let mut payload = [0xFFu8; 160];
    let mut measured = 0;
    let mut step = 0usize;
    // Stop a little early so every measured packet can arrive before `end`.
    while Instant::now() + Duration::from_millis(300) < end {
        tick.tick().await;
        let slot = step % 20;
        let round = (step / 20) as u32;
        step += 1;
        for (phone, legs) in phones {
            // The calls whose packet is due in this millisecond.
            for (i, dest) in legs.iter().enumerate().skip(slot).step_by(20) {
                let now = start.elapsed();
                payload[..8].copy_from_slice(&(now.as_nanos() as u64).to_be_bytes());
                let h = media::rtp::Header {
                    payload_type: 0,
                    marker: false,
                    seq: round as u16,
                    timestamp: round.wrapping_mul(160),
                    ssrc: i as u32,
                };
                media::rtp::build(&h, &payload, &mut out);
                if phone.send_to(&out, dest).await.is_ok() && now >= WARMUP {
                    measured += 1;
                }
            }
        }
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
