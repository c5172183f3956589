//! Ports for peers that run side by side (tests run in parallel, so nothing may use a fixed
//! port), and the check that a peer has bound its port before a test sends to it.
//!
//! A port is picked by letting the kernel choose one, checking the neighbours a peer also
//! binds, and remembering it so this process never hands it out twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::{Mutex, OnceLock};

/// Ports handed out by this process: the kernel may offer a released port again before the
/// peer it was picked for has bound it.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
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
/// If no such port is found in 200 tries (the machine is out of ports).
pub fn free_udp_port() -> u16 {
    pick(|port| port < u16::MAX && udp_free(port) && tcp_free(port) && tcp_free(port + 1))
}

/// An even port on 127.0.0.1 for SIPp's media: SIPp binds it (audio) and port + 2 (video).
pub(crate) fn free_media_port() -> u16 {
    pick(|port| port % 2 == 0 && port < u16::MAX - 2 && udp_free(port) && udp_free(port + 2))
}

/// A TCP port on 127.0.0.1 (baresip's control connection).
pub(crate) fn free_tcp_port() -> u16 {
    pick(tcp_free)
}

fn pick(suits: impl Fn(u16) -> bool) -> u16 {
    for _ in 0..200 {
        let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(addr) = socket.local_addr() else {
            continue;
        };
        drop(socket);
        let port = addr.port();
        let mut taken = handed_out()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if taken.contains(&port) || !suits(port) {
            continue;
        }
        taken.insert(port);
        return port;
    }
    panic!("no free port on 127.0.0.1 after 200 tries");
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
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, a)).unwrap();
        assert_eq!(is_bound(a, Proto::Udp), Some(true));
        drop(socket);
        let media = free_media_port();
        assert_eq!(media % 2, 0);
    }
}
