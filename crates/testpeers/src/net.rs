//! Ports for peers that run side by side (tests run in parallel, so nothing may use a fixed
//! port), and the check that a peer has bound its port before a test sends to it.
//!
//! A peer gets a block of four ports (it binds the first and a neighbour or two) taken from
//! below the kernel's ephemeral range, so that no outgoing connection of another process
//! (a database client, a gRPC channel) can be given one of them between the pick and the
//! peer's bind. The block is reserved across processes by a lock on a file named after it
//! (test runners start one process per test), held until this process exits.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Where blocks are picked: under 32768, where Linux's default ephemeral range
/// (`ip_local_port_range`, 32768-60999) starts, and above the well-known services.
const FIRST_BLOCK: u16 = 20_000 / BLOCK;
const LAST_BLOCK: u16 = 32_764 / BLOCK;
/// Ports a peer may bind from its block's first: SIP on P (UDP and TCP) and TLS on P + 1
/// (baresip), or audio on P and video on P + 2 (SIPp's media).
const BLOCK: u16 = 4;

/// What this process holds: the blocks handed out, and the locks that keep other processes
/// off them (dropped only when the process exits).
#[derive(Default)]
struct Held {
    blocks: HashSet<u16>,
    locks: Vec<File>,
}

fn held() -> &'static Mutex<Held> {
    static HELD: OnceLock<Mutex<Held>> = OnceLock::new();
    HELD.get_or_init(Mutex::default)
}

fn udp_free(port: u16) -> bool {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn tcp_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A port on 127.0.0.1 for a SIP peer: free on UDP and TCP, and port + 1 free on TCP too
/// (baresip binds SIP over TLS there and will not start without it).
///
/// # Panics
/// If no such port is found in 500 tries (the machine is out of ports).
pub fn free_udp_port() -> u16 {
    pick(|port| udp_free(port) && tcp_free(port) && tcp_free(port + 1))
}

/// An even port on 127.0.0.1 for SIPp's media: SIPp binds it (audio) and port + 2 (video).
pub(crate) fn free_media_port() -> u16 {
    pick(|port| udp_free(port) && udp_free(port + 2))
}

/// A TCP port on 127.0.0.1 (baresip's control connection).
pub(crate) fn free_tcp_port() -> u16 {
    pick(tcp_free)
}

/// The first port of a free block that this process has reserved, where `suits` holds.
fn pick(suits: impl Fn(u16) -> bool) -> u16 {
    let seed = std::collections::hash_map::RandomState::new();
    let mut held = held()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for attempt in 0..500u32 {
        let mut hash = seed.build_hasher();
        hash.write_u32(attempt);
        let span = u64::from(LAST_BLOCK - FIRST_BLOCK + 1);
        let block = FIRST_BLOCK + u16::try_from(hash.finish() % span).unwrap_or(0);
        if held.blocks.contains(&block) {
            continue;
        }
        let Some(lock) = reserve(block) else {
            continue;
        };
        let port = block * BLOCK;
        if !suits(port) {
            continue;
        }
        held.blocks.insert(block);
        held.locks.push(lock);
        return port;
    }
    panic!("no free port on 127.0.0.1 after 500 tries");
}

/// An exclusive lock on `block`'s file, or `None` if another process holds it. Where locks
/// cannot be taken at all (no temporary directory), the block is used unreserved: the bind
/// checks still apply.
fn reserve(block: u16) -> Option<File> {
    let dir = lock_dir();
    let file = match File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{block}.lock")))
    {
        Ok(file) => file,
        Err(_) => return File::open("/dev/null").ok(),
    };
    file.try_lock().ok().map(|()| file)
}

fn lock_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("testpeers-ports");
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// Which kind of socket [`is_bound`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Udp,
    /// A listening TCP socket.
    Tcp,
}

/// Whether some process has bound `port` (listening, for TCP), from /proc/net. `None` where
/// /proc/net cannot be read (not Linux): callers then wait a moment instead.
pub(crate) fn is_bound(port: u16, proto: Proto) -> Option<bool> {
    let files: &[&str] = match proto {
        Proto::Udp => &["/proc/net/udp", "/proc/net/udp6"],
        Proto::Tcp => &["/proc/net/tcp", "/proc/net/tcp6"],
    };
    let mut readable = false;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        readable = true;
        if table_has(&text, port, proto) {
            return Some(true);
        }
    }
    readable.then_some(false)
}

/// Whether a /proc/net/{udp,tcp} table has a socket on `port` (TCP: in state LISTEN, 0A).
fn table_has(table: &str, port: u16, proto: Proto) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1);
        let state = fields.nth(1);
        let Some(local_port) = local
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
        else {
            return false;
        };
        local_port == port && (proto == Proto::Udp || state == Some("0A"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0
";
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:13C4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:13C5 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn proc_net_tables_are_read_by_port_and_state() {
        assert!(table_has(UDP, 5060, Proto::Udp));
        assert!(!table_has(UDP, 5061, Proto::Udp));
        assert!(table_has(TCP, 5060, Proto::Tcp));
        // Connected, not listening.
        assert!(!table_has(TCP, 5061, Proto::Tcp));
    }

    #[test]
    fn ports_are_not_handed_out_twice_and_are_seen_bound() {
        let a = free_udp_port();
        let b = free_udp_port();
        assert_ne!(a, b);
        // Outside the ephemeral range, and reserved against other processes.
        assert!((20_000..32_768).contains(&a), "{a}");
        assert!(
            reserve(a / BLOCK).is_none(),
            "another process could take {a}"
        );
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, a)).unwrap();
        assert_eq!(is_bound(a, Proto::Udp), Some(true));
        drop(socket);
        let media = free_media_port();
        assert_eq!(media % 2, 0);
    }
}
