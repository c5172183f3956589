//! How many bridged calls one core relays, and the latency the relay adds.
//!
//! The relay is the production code path: every call has two legs (`MediaLeg`), each with
//! its own socket and receive task that parses what arrives, rewrites it into the other leg's
//! outgoing stream and sends it. Here all legs run on one single-threaded runtime whose
//! thread is pinned to one CPU: one core, whose busy share is read from the kernel
//! (`/proc/thread-self/stat`) at the end.
//!
//! The phones are the instrument, kept cheap and off the relay's core: two threads pinned to
//! another CPU, on one socket (playing every debtor and every agent). One sends each call's
//! 20 ms G.711 packet every 20 ms in each direction, evenly spread at a 200 us resolution:
//! what is due is sent with one `sendmmsg`, stamped with the wall clock just before it. The
//! other polls for what the relay forwards with `recvmmsg` (not asleep on the socket, so the
//! relay's sends wake no one, as with a phone across the network). Latency is the kernel's
//! receive stamp on the phone socket (`SO_TIMESTAMPNS`, taken when the relay's send reaches
//! it) minus the send stamp: an upper bound on what the relay adds (it includes the phones'
//! send path, both loopback paths and the relay thread's waits for its CPU) that leaves out
//! when the receiving phone thread gets to read it ("p99 as read" adds that back).
//!
//! `cargo bench -p telephony --bench bridge [-- [--probe] [--fifo] CALLS...]` (default 250
//! 500 1000 1500 2000). `--probe` adds a thread on the relay's CPU that sleeps 1 ms in a loop
//! and reports how late it wakes: the scheduler's latency on that core under the same load.
//! `--fifo` runs the relay, phone and probe threads under SCHED_FIFO (through util-linux's
//! `chrt`, as root): what the relay does with a core of its own on a machine shared with
//! other work.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use media::g711::Law;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg,
    setsockopt, sockopt,
};
use nix::sys::time::TimeSpec;
use nix::unistd::Pid;
use telephony::media_leg::{MediaLeg, Remote};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Packets sent before this are not measured (sockets and tasks settle).
const WARMUP: Duration = Duration::from_secs(2);
const RUN: Duration = Duration::from_secs(10);
/// The sender stops this long before the end so every measured packet can arrive.
const TAIL: Duration = Duration::from_millis(300);
const PTIME: Duration = Duration::from_millis(20);
/// The sender wakes at most this often; what is due by then goes out in one system call.
const TICK: Duration = Duration::from_micros(200);
/// Datagrams per `sendmmsg`/`recvmmsg`.
const BATCH: usize = 64;
/// The phone socket's receive buffer: a few hundred milliseconds of relayed packets, so a
/// late phone thread does not count as the relay's loss.
const PHONE_RCVBUF: usize = 16 << 20;

/// Where the threads run: the relay alone on one CPU, the phones on another.
#[derive(Debug, Clone, Copy)]
struct Cpus {
    relay: Option<usize>,
    phones: Option<usize>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let probe = args.iter().any(|a| a == "--probe");
    let fifo = args.iter().any(|a| a == "--fifo");
    let mut calls: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if calls.is_empty() {
        calls = vec![250, 500, 1000, 1500, 2000];
    }
    let cpus = choose_cpus();
    match cpus {
        Cpus {
            relay: Some(r),
            phones: Some(p),
        } => println!("relay runtime thread pinned to CPU {r}; phone threads pinned to CPU {p}"),
        _ => println!("fewer than two CPUs allowed: threads not pinned"),
    }
    if fifo {
        println!("relay, phone and probe threads under SCHED_FIFO priority 1");
    }
    println!();
    println!(
        "bridged calls | packets relayed/s | relay core busy | phones busy | latency p50 | p99 \
         | p99.9 | max | p99 as read | lost | UDP buffer drops"
    );
    println!("---|---|---|---|---|---|---|---|---|---|---");
    let mut probes = Vec::new();
    for n in calls {
        if let Some(p) = run(n, Sched { cpus, fifo }, probe) {
            probes.push((n, p));
        }
    }
    if !probes.is_empty() {
        println!();
        println!("bridged calls | 1 ms sleeps on the relay CPU: late p50 | p99 | p99.9 | max");
        println!("---|---|---|---|---");
        for (n, mut late) in probes {
            late.sort_unstable();
            println!(
                "{n} | {:.0} us | {:.0} us | {:.0} us | {:.0} us",
                quantile(&late, 0.5),
                quantile(&late, 0.99),
                quantile(&late, 0.999),
                quantile(&late, 1.0),
            );
        }
    }
}

/// The relay on the last allowed CPU, the phones on the first.
fn choose_cpus() -> Cpus {
    let allowed: Vec<usize> = sched_getaffinity(Pid::from_raw(0))
        .map(|set| {
            (0..CpuSet::count())
                .filter(|&i| set.is_set(i).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    match (allowed.first(), allowed.last()) {
        (Some(&p), Some(&r)) if p != r => Cpus {
            relay: Some(r),
            phones: Some(p),
        },
        _ => Cpus {
            relay: None,
            phones: None,
        },
    }
}

/// Where and how a run's threads are scheduled.
#[derive(Debug, Clone, Copy)]
struct Sched {
    cpus: Cpus,
    fifo: bool,
}

impl Sched {
    /// Pins the calling thread to `cpu` (if any), under SCHED_FIFO if asked.
    fn place(self, cpu: Option<usize>) {
        if let Some(cpu) = cpu {
            let mut set = CpuSet::new();
            if set.set(cpu).is_err() || sched_setaffinity(Pid::from_raw(0), &set).is_err() {
                eprintln!("could not pin a thread to CPU {cpu}");
            }
        }
        if self.fifo {
            let tid = nix::unistd::gettid().to_string();
            let done = std::process::Command::new("chrt")
                .args(["-f", "-p", "1", &tid])
                .status()
                .is_ok_and(|s| s.success());
            if !done {
                eprintln!("could not put thread {tid} under SCHED_FIFO (chrt, as root)");
            }
        }
    }
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("thread")
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

/// Datagrams dropped by the kernel at a full UDP receive buffer, machine-wide
/// (`RcvbufErrors` in /proc/net/snmp).
fn udp_rcvbuf_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// The wall clock in nanoseconds: the clock of the kernel's receive stamps.
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The `p` quantile of sorted nanoseconds, in microseconds.
fn quantile(sorted: &[u64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).max(0.0) as usize)
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}

/// What the receiving phone measured.
#[derive(Debug, Default)]
struct Received {
    /// Kernel receive stamp minus send stamp, ns, of the measured packets.
    kernel: Vec<u64>,
    /// Read time minus send stamp, ns.
    read: Vec<u64>,
    cpu: Duration,
}

fn run(n: usize, sched: Sched, probe: bool) -> Option<Vec<u64>> {
    let cpus = sched.cpus;
    sched.place(cpus.phones);
    let relay = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    // One socket plays every phone (debtors' and agents'): one receiving thread in all.
    let phone = Arc::new(UdpSocket::bind((LOCAL, 0)).expect("phone"));
    if setsockopt(&*phone, sockopt::RcvBufForce, &PHONE_RCVBUF).is_err() {
        let _ = setsockopt(&*phone, sockopt::RcvBuf, &PHONE_RCVBUF);
    }
    setsockopt(&*phone, sockopt::ReceiveTimestampns, &true).expect("SO_TIMESTAMPNS");
    let phones = phone.local_addr().expect("addr");
    // The legs' receive tasks are spawned on the relay runtime.
    let legs: Vec<(Arc<MediaLeg>, Arc<MediaLeg>)> = relay.block_on(async {
        let mut legs = Vec::with_capacity(n);
        for _ in 0..n {
            let d = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            let a = MediaLeg::bind(LOCAL, Law::Pcmu).await.expect("leg");
            d.set_remote(remote(phones));
            a.set_remote(remote(phones));
            d.forward(Some(a.clone()));
            a.forward(Some(d.clone()));
            legs.push((d, a));
        }
        legs
    });
    let drops0 = udp_rcvbuf_errors();
    let start = Instant::now();
    let end = start + RUN;
    let warm_ns = wall_ns() + WARMUP.as_nanos() as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let relay_stop = stop.clone();
    // Named, so `perf` and `top -H` show the relay apart from the phones.
    let relay_thread = spawn("relay", move || {
        sched.place(cpus.relay);
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
    let prober = probe.then(|| {
        spawn("probe", move || {
            sched.place(cpus.relay);
            sleep_lateness(end)
        })
    });
    let receiver = {
        let phone = phone.clone();
        spawn("phone-rx", move || {
            sched.place(cpus.phones);
            receive(&phone, warm_ns, end)
        })
    };
    // The phone sends to every leg (debtors' and agents'); it hears each through the relay.
    let dests: Vec<SocketAddr> = legs
        .iter()
        .flat_map(|(d, a)| [d.local(), a.local()])
        .collect();
    let send_cpu0 = thread_cpu();
    let sent = send(&phone, &dests, start, end, warm_ns);
    let send_cpu = thread_cpu() - send_cpu0;
    let got = receiver.join().unwrap_or_default();
    stop.store(true, Ordering::Relaxed);
    let busy = relay_thread.join().unwrap_or(0.0);
    let late = prober.and_then(|p| p.join().ok());
    let drops = udp_rcvbuf_errors().saturating_sub(drops0);
    drop(legs);
    let phones_busy = (send_cpu + got.cpu).as_secs_f64() / RUN.as_secs_f64();
    let (mut kernel, mut read) = (got.kernel, got.read);
    kernel.sort_unstable();
    read.sort_unstable();
    let measured = (RUN - WARMUP - TAIL).as_secs_f64();
    println!(
        "{n} | {:.0} | {:.0} % | {:.0} % | {:.0} us | {:.0} us | {:.0} us | {:.0} us | {:.0} us \
         | {:.2} % | {drops}",
        kernel.len() as f64 / measured,
        busy * 100.0,
        phones_busy * 100.0,
        quantile(&kernel, 0.5),
        quantile(&kernel, 0.99),
        quantile(&kernel, 0.999),
        quantile(&kernel, 1.0),
        quantile(&read, 0.99),
        100.0 * sent.saturating_sub(kernel.len() as u64) as f64 / sent.max(1) as f64,
    );
    late
}

/// Sends every stream's packet once per packet time, the streams evenly spread over it and
/// batched per `TICK`; returns how many measured packets (stamped after the warm-up) went out.
fn send(
    socket: &UdpSocket,
    dests: &[SocketAddr],
    start: Instant,
    end: Instant,
    warm_ns: u64,
) -> u64 {
    let last = end - TAIL;
    if dests.is_empty() {
        std::thread::sleep(end - Instant::now());
        return 0;
    }
    let dests: Vec<SockaddrIn> = dests
        .iter()
        .map(|d| match d {
            SocketAddr::V4(v4) => SockaddrIn::from(*v4),
            SocketAddr::V6(_) => unreachable!("the legs bind 127.0.0.1"),
        })
        .collect();
    let gap = PTIME / dests.len() as u32;
    let due = |k: u64| start + gap * (k as u32);
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(200)).collect();
    let mut addrs: Vec<Option<SockaddrIn>> = vec![None; BATCH];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let mut payload = [0xFFu8; 160];
    let mut measured = 0;
    let mut k: u64 = 0;
    let mut wake = start;
    loop {
        let now = Instant::now();
        let stamp = wall_ns();
        payload[..8].copy_from_slice(&stamp.to_be_bytes());
        let mut count = 0;
        while count < BATCH && due(k) <= now && due(k) < last {
            let i = (k % dests.len() as u64) as usize;
            let round = (k / dests.len() as u64) as u32;
            let h = media::rtp::Header {
                payload_type: 0,
                marker: false,
                seq: round as u16,
                timestamp: round.wrapping_mul(160),
                ssrc: i as u32,
            };
            if let (Some(buf), Some(addr)) = (bufs.get_mut(count), addrs.get_mut(count)) {
                media::rtp::build(&h, &payload, buf);
                *addr = dests.get(i).copied();
            }
            count += 1;
            k += 1;
        }
        let mut off = 0;
        while off < count {
            let iovs: Vec<[IoSlice<'_>; 1]> =
                bufs[off..count].iter().map(|b| [IoSlice::new(b)]).collect();
            match sendmmsg(
                socket.as_raw_fd(),
                &mut headers,
                iovs.iter(),
                &addrs[off..count],
                no_cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(r) => {
                    let c = r.count();
                    if stamp >= warm_ns {
                        measured += c as u64;
                    }
                    off += c.max(1);
                }
                // That datagram is not sent (and counts as lost if measured).
                Err(_) => {
                    if stamp >= warm_ns {
                        measured += 1;
                    }
                    off += 1;
                }
            }
        }
        if due(k) >= last {
            return measured;
        }
        if count == BATCH {
            continue;
        }
        wake = (wake + TICK).max(due(k));
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
        }
    }
}

/// Receives relayed packets until `end`; the latencies of those sent after the warm-up.
fn receive(socket: &UdpSocket, warm_ns: u64, end: Instant) -> Received {
    let cpu0 = thread_cpu();
    let mut got = Received::default();
    let mut bufs = vec![[0u8; 512]; BATCH];
    let mut headers =
        MultiHeaders::<SockaddrIn>::preallocate(BATCH, Some(nix::cmsg_space!(TimeSpec)));
    while Instant::now() < end {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        // Polled, not blocking: a phone thread asleep on the socket would have the relay's
        // every send wake it (an IPI and a scheduler call on the relay's core, 16 % of its
        // time in a profile), which a real phone across the network does not cost the relay.
        // The kernel's receive stamp keeps the latency exact however late this reads.
        let Ok(msgs) = recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        ) else {
            std::thread::sleep(TICK);
            continue;
        };
        let now = wall_ns();
        let mut read = 0;
        for m in msgs {
            read += 1;
            let Some(data) = m.iovs().next() else {
                continue;
            };
            let Ok(p) = media::rtp::parse(data) else {
                continue;
            };
            let Some(Ok(stamp)) = p.payload.get(..8).map(<[u8; 8]>::try_from) else {
                continue;
            };
            let sent = u64::from_be_bytes(stamp);
            if sent < warm_ns {
                continue;
            }
            let kernel = m.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::ScmTimestampns(ts) => {
                        Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
                    }
                    _ => None,
                })
            });
            got.kernel.push(kernel.unwrap_or(now).saturating_sub(sent));
            got.read.push(now.saturating_sub(sent));
        }
        if read < BATCH {
            std::thread::sleep(TICK);
        }
    }
    got.cpu = thread_cpu() - cpu0;
    got
}

/// Sleeps 1 ms at a time until `end`; how late (ns) each wake-up came after the warm-up.
fn sleep_lateness(end: Instant) -> Vec<u64> {
    let measure_from = Instant::now() + WARMUP;
    let mut late = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        if t >= measure_from {
            late.push(
                t.elapsed()
                    .saturating_sub(Duration::from_millis(1))
                    .as_nanos() as u64,
            );
        }
    }
    late
}
