//! How many bridged calls one core relays, and the latency the relay adds.
//!
//! The relay is the production code path: every call has two legs (`MediaLeg`), each with
//! its own socket and receive task that parses what arrives, rewrites it into the other leg's
//! outgoing stream and sends it. Here all legs run on one single-threaded runtime: one core,
//! whose busy share is read from the kernel (`/proc/thread-self/stat`) at the end.
//!
//! The phones are two plain threads on one socket (playing every debtor and every agent), so
//! they cost little: one sends each call's 20 ms G.711 packet every 20 ms in each direction,
//! evenly spread (not in bursts), stamped with the send time; the other receives what the
//! relay forwards. Latency is receive time minus send time on one
//! clock: an upper bound on what the relay adds (it includes both kernel paths and the
//! phones' scheduling).
//!
//! `cargo bench -p telephony --bench bridge [-- CALLS...]` (default 250 500 1000 1500 2000).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use media::g711::Law;
use telephony::media_leg::{MediaLeg, Remote};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Packets sent before this are not measured (sockets and tasks settle).
const WARMUP: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(10);
const PTIME: Duration = Duration::from_millis(20);

fn main() {
    let mut calls: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if calls.is_empty() {
        calls = vec![250, 500, 1000, 1500, 2000];
    }
    println!(
        "bridged calls | packets relayed/s | relay core busy | latency p50 | p99 | p99.9 | max | lost"
    );
    println!("---|---|---|---|---|---|---|---");
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
        receive: true,
    }
}

/// This thread's CPU time so far (user + system), from the kernel.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn run(n: usize) {
    let relay = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    // One socket plays every phone (debtors' and agents'): one receiving thread in all.
    let phone = Arc::new(UdpSocket::bind((LOCAL, 0)).expect("phone"));
    let (debtor_phone, agent_phone) = (phone.clone(), phone.clone());
    let (debtors, agents) = (
        phone.local_addr().expect("addr"),
        phone.local_addr().expect("addr"),
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
    let start = Instant::now();
    let end = start + RUN;
    let stop = Arc::new(AtomicBool::new(false));
    let relay_stop = stop.clone();
    let relay_thread = std::thread::spawn(move || {
        relay.block_on(async move {
            // Measure the relay's own CPU over the measured part of the run.
            tokio::time::sleep(WARMUP).await;
            let (t0, c0) = (Instant::now(), thread_cpu());
            while !relay_stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (thread_cpu() - c0).as_secs_f64() / t0.elapsed().as_secs_f64()
        })
    });
    let receivers: Vec<_> = [phone.clone()]
        .into_iter()
        .map(|s| std::thread::spawn(move || receive(&s, start, end)))
        .collect();
    // Each phone sends to its legs: the debtor phone to every debtor leg, the agent phone to
    // every agent leg; the other phone hears it through the relay.
    let sends: Vec<(Arc<UdpSocket>, SocketAddr)> = legs
        .iter()
        .flat_map(|(d, a)| {
            [
                (debtor_phone.clone(), d.local()),
                (agent_phone.clone(), a.local()),
            ]
        })
        .collect();
    let sent = send(&sends, start, end);
    let mut lat: Vec<u64> = receivers
        .into_iter()
        .flat_map(|r| r.join().unwrap_or_default())
        .collect();
    stop.store(true, Ordering::Relaxed);
    let busy = relay_thread.join().unwrap_or(0.0);
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
        "{n} | {:.0} | {:.0} % | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {:.2} %",
        lat.len() as f64 / measured,
        busy * 100.0,
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        100.0 * sent.saturating_sub(lat.len() as u64) as f64 / sent.max(1) as f64,
    );
}

/// Sends every stream's packet once per packet time, the streams evenly spread over it;
/// returns how many measured packets (sent after the warm-up) went out.
fn send(streams: &[(Arc<UdpSocket>, SocketAddr)], start: Instant, end: Instant) -> u64 {
    let gap = PTIME / streams.len().max(1) as u32;
    let mut out = Vec::with_capacity(200);
    let mut payload = [0xFFu8; 160];
    let mut measured = 0;
    let mut k: u64 = 0;
    // Stop a little early so every measured packet can arrive before `end`.
    let last = end - Duration::from_millis(300);
    loop {
        let due = start + gap * (k as u32);
        if due >= last {
            return measured;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let i = (k as usize) % streams.len();
        let round = (k / streams.len() as u64) as u32;
        let (phone, dest) = &streams[i];
        let sent_at = start.elapsed();
        payload[..8].copy_from_slice(&(sent_at.as_nanos() as u64).to_be_bytes());
        let h = media::rtp::Header {
            payload_type: 0,
            marker: false,
            seq: round as u16,
            timestamp: round.wrapping_mul(160),
            ssrc: i as u32,
        };
        media::rtp::build(&h, &payload, &mut out);
        if phone.send_to(&out, dest).is_ok() && sent_at >= WARMUP {
            measured += 1;
        }
        k += 1;
    }
}

/// Receives relayed packets until `end`; the latencies (ns) of those sent after the warm-up.
fn receive(socket: &UdpSocket, start: Instant, end: Instant) -> Vec<u64> {
    let mut buf = [0u8; 2048];
    let mut lat = Vec::new();
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    while Instant::now() < end {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
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
