//! The user agent's SIP sockets and who each arriving message belongs to.
//!
//! One UDP socket (and a TCP listener on the same port) per user agent; TCP connections to
//! trunks are opened on first use and reused, and requests a trunk sends back on them are
//! read like any other. Every message arrives at [`Endpoint`]'s dispatcher, which hands a
//! response to the client transaction waiting on its Via branch and a request to the dialog
//! of its Call-ID. What nobody waits for is answered here (481, OPTIONS pings) or dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};

use sip::{Message, Method, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::config::Transport;

/// Where a message goes: an address and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// A request that arrived for a dialog, and where to send its response.
#[derive(Debug)]
pub struct Incoming {
    pub request: Request,
    pub from: Target,
}

/// Resolves `HOST[:PORT]` (blocking: configuration time only).
pub fn resolve(hostport: &str, default_port: u16) -> io::Result<SocketAddr> {
    let with_port = if hostport.parse::<SocketAddr>().is_ok()
        || hostport.rsplit_once(':').is_some_and(|(h, p)| {
            !h.ends_with(':') && !h.is_empty() && p.parse::<u16>().is_ok() && !h.contains(':')
        }) {
        hostport.to_string()
    } else {
        format!("{hostport}:{default_port}")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{hostport}: no address")))
}

/// Resolves a host and port at call time.
pub async fn lookup(host: &str, port: u16) -> io::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

type Routes<T> = Mutex<HashMap<String, UnboundedSender<T>>>;

fn transaction_key(branch: &str, method: &Method) -> String {
    format!("{branch} {method}")
}

struct Inner {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    tcp: Mutex<HashMap<SocketAddr, UnboundedSender<Vec<u8>>>>,
    transactions: Routes<Response>,
    dialogs: Routes<Incoming>,
}

/// The user agent's SIP endpoint: sends messages and routes what arrives.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.inner.local)
            .finish()
    }
}

/// While held, messages for a key (a branch or a Call-ID) are delivered to its receiver.
#[derive(Debug)]
pub struct Route {
    key: String,
    dialog: bool,
    endpoint: Endpoint,
}

impl Drop for Route {
    fn drop(&mut self) {
        let inner = &self.endpoint.inner;
        if self.dialog {
            lock(&inner.dialogs).remove(&self.key);
        } else {
            lock(&inner.transactions).remove(&self.key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Endpoint {
    /// Binds UDP (and TCP, best effort) at `bind` and starts reading.
    pub async fn bind(bind: SocketAddr) -> io::Result<Endpoint> {
        let udp = Arc::new(UdpSocket::bind(bind).await?);
        let local = udp.local_addr()?;
        let endpoint = Endpoint {
            inner: Arc::new(Inner {
                udp: udp.clone(),
                local,
                tcp: Mutex::new(HashMap::new()),
                transactions: Mutex::new(HashMap::new()),
                dialogs: Mutex::new(HashMap::new()),
            }),
        };
        let weak = Arc::downgrade(&endpoint.inner);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((n, from)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let Some(inner) = weak.upgrade() else { return };
                let from = Target {
                    addr: from,
                    transport: Transport::Udp,
                };
                Endpoint { inner }.received(buf.get(..n).unwrap_or_default(), from);
            }
        });
        if let Ok(listener) = TcpListener::bind(local).await {
            let weak = Arc::downgrade(&endpoint.inner);
            tokio::spawn(async move {
                while let Ok((stream, peer)) = listener.accept().await {
                    let Some(inner) = weak.upgrade() else { return };
                    Endpoint { inner }.adopt(stream, peer);
                }
            });
        }
        Ok(endpoint)
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Our address as seen from `towards`: the bound IP, or the one the OS routes from when
    /// bound to the unspecified address.
    pub fn local_ip_towards(&self, towards: SocketAddr) -> IpAddr {
        let ip = self.inner.local.ip();
        if !ip.is_unspecified() {
            return ip;
        }
        std::net::UdpSocket::bind(SocketAddr::new(
            if towards.is_ipv4() {
                IpAddr::from([0, 0, 0, 0])
            } else {
                IpAddr::from([0u16; 8])
            },
            0,
        ))
        .and_then(|s| {
            s.connect(towards)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(ip)
    }

    /// Delivers responses on `branch` to `method` to the returned receiver while the route
    /// is held. A CANCEL shares its INVITE's branch (RFC 3261 9.1): the method tells their
    /// responses apart.
    pub fn transaction(
        &self,
        branch: &str,
        method: &Method,
    ) -> (Route, UnboundedReceiver<Response>) {
        let (tx, rx) = unbounded_channel();
        let key = transaction_key(branch, method);
        lock(&self.inner.transactions).insert(key.clone(), tx);
        (
            Route {
                key,
                dialog: false,
                endpoint: self.clone(),
            },
            rx,
        )
    }

    /// Delivers requests with `call_id` to the returned receiver while the route is held.
    pub fn dialog(&self, call_id: &str) -> (Route, UnboundedReceiver<Incoming>) {
        let (tx, rx) = unbounded_channel();
        lock(&self.inner.dialogs).insert(call_id.to_string(), tx);
        (
            Route {
                key: call_id.to_string(),
                dialog: true,
                endpoint: self.clone(),
            },
            rx,
        )
    }

    /// Sends a message.
    pub async fn send(&self, message: &Message, to: Target) -> io::Result<()> {
        let bytes = message.to_bytes();
        match to.transport {
            Transport::Udp => self.inner.udp.send_to(&bytes, to.addr).await.map(|_| ()),
            Transport::Tcp => {
                let existing = lock(&self.inner.tcp).get(&to.addr).cloned();
                let conn = match existing {
                    Some(c) if !c.is_closed() => c,
                    _ => {
                        let stream = TcpStream::connect(to.addr).await?;
                        self.adopt(stream, to.addr)
                    }
                };
                conn.send(bytes)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection closed"))
            }
        }
    }

    /// Sends a response to a request that arrived from `to`.
    pub async fn respond(&self, response: Response, to: Target) {
        if let Err(e) = self.send(&Message::Response(response), to).await {
            tracing::debug!(error = %e, "sip: response not sent");
        }
    }

    /// Starts reading and writing a TCP connection; returns its writer.
    fn adopt(&self, stream: TcpStream, peer: SocketAddr) -> UnboundedSender<Vec<u8>> {
        // Each message is one write; with Nagle on, one sent right after another (an ACK,
        // then a BYE) would wait for the peer's delayed ACK of the first.
        let _ = stream.set_nodelay(true);
        let (tx, mut rx) = unbounded_channel::<Vec<u8>>();
        lock(&self.inner.tcp).insert(peer, tx.clone());
        let (mut read, mut write) = stream.into_split();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            let mut chunk = vec![0u8; 8192];
            let from = Target {
                addr: peer,
                transport: Transport::Tcp,
            };
            loop {
                let n = match read.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                loop {
                    match sip::parse_stream(&buf) {
                        Ok(Some((message, used))) => {
                            buf.drain(..used.min(buf.len()));
                            let Some(inner) = weak.upgrade() else { return };
                            Endpoint { inner }.dispatch(message, from);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            // A stream that cannot be framed cannot be resynchronised.
                            tracing::warn!(error = %e, "sip: closing a TCP connection");
                            return;
                        }
                    }
                }
            }
            if let Some(inner) = weak.upgrade() {
                lock(&inner.tcp).remove(&peer);
            }
        });
        tx
    }

    fn received(&self, datagram: &[u8], from: Target) {
        // Keep-alives (CRLF) and anything that is not SIP are dropped.
        if datagram.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        match sip::parse(datagram) {
            Ok(message) => self.dispatch(message, from),
            Err(e) => tracing::debug!(error = %e, "sip: unparseable datagram dropped"),
        }
    }

    fn dispatch(&self, message: Message, from: Target) {
        match message {
            Message::Response(response) => {
                let branch = response
                    .headers
                    .vias()
                    .ok()
                    .and_then(|v| v.first().and_then(|v| v.branch().map(str::to_string)));
                let method = response.headers.cseq().ok().map(|c| c.method);
                let route = branch.zip(method).and_then(|(b, m)| {
                    lock(&self.inner.transactions)
                        .get(&transaction_key(&b, &m))
                        .cloned()
                });
                match route {
                    Some(tx) => {
                        let _ = tx.send(response);
                    }
                    None => tracing::debug!(status = response.status, "sip: stray response"),
                }
            }
            Message::Request(request) => {
                let route = request
                    .headers
                    .call_id()
                    .and_then(|id| lock(&self.inner.dialogs).get(id).cloned());
                let request = match route {
                    Some(tx) => match tx.send(Incoming { request, from }) {
                        Ok(()) => return,
                        Err(e) => e.0.request,
                    },
                    None => request,
                };
                self.unrouted(request, from);
            }
        }
    }

    /// A request no dialog waits for: OPTIONS pings get 200, ACKs are dropped, the rest 481
    /// (or 603 for a new INVITE: this user agent takes no inbound calls).
    fn unrouted(&self, request: Request, from: Target) {
        let (status, reason) = match request.method {
            sip::Method::Ack => return,
            sip::Method::Options => (200, "OK"),
            sip::Method::Invite => (603, "Decline"),
            _ => (481, "Call/Transaction Does Not Exist"),
        };
        let response = Response::to(&request, status, reason, None);
        let this = self.clone();
        tokio::spawn(async move { this.respond(response, from).await });
    }
}
