//! One call leg's media: its RTP socket, what it sends (prompts, relayed audio) and where what
//! it receives goes (analysis, the bridged leg, the recording).
//!
//! Each leg has one UDP socket and one receive task. A bridge is two legs forwarding to each
//! other straight from their receive tasks (parse, rewrite into the other leg's outgoing
//! stream, send): no queue and no decode on the way unless the two legs speak different laws
//! or the call is recorded, so the relay adds microseconds. Everything that decides (early
//! media tones, AMD, the beep) receives copies of the packets on a channel.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use media::g711::Law;
use media::relay::OutStream;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;

use crate::recording::Tap;

/// A received audio or event packet, copied for whoever analyses it.
#[derive(Debug, Clone)]
pub struct Heard {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload_type: u8,
    pub payload: Vec<u8>,
}

/// What a leg sends and to where: negotiated by SDP, changed by re-INVITEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    pub addr: Option<SocketAddr>,
    pub law: Law,
    pub dtmf_pt: Option<u8>,
    pub ptime_ms: u32,
    /// The far end wants our audio (not on hold: sendrecv or recvonly on their side).
    pub send: bool,
    /// The far end sends us audio (sendrecv or sendonly on their side): only then does
    /// silence on the socket mean the far end is gone.
    pub receive: bool,
}

struct State {
    remote: Remote,
    out: OutStream,
    forward: Option<Arc<MediaLeg>>,
    analyse: Option<UnboundedSender<Heard>>,
    tap: Option<Tap>,
    buf: Vec<u8>,
    /// While a telephone-event from this leg's far end lasts, its audio is not relayed: some
    /// phones (baresip among them) keep sending audio during an event, and interleaved the
    /// two would cut the event into several on the other leg (and leak the tone in-band).
    event_until: Option<std::time::Instant>,
}

/// One leg's RTP endpoint.
pub struct MediaLeg {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    state: Mutex<State>,
    /// Datagrams that were not RTP (STUN, RTCP on the RTP port, garbage): dropped and counted.
    pub stray: std::sync::atomic::AtomicU64,
    /// When the leg was made, and milliseconds after it that the last RTP packet arrived.
    born: std::time::Instant,
    last_rtp_ms: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for MediaLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLeg")
            .field("local", &self.local)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MediaLeg {
    /// Binds an RTP socket on `ip` (an even ephemeral port is not required by RFC 3550 any
    /// more) and starts receiving.
    pub async fn bind(ip: std::net::IpAddr, law: Law) -> std::io::Result<Arc<MediaLeg>> {
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
        let local = socket.local_addr()?;
        let ssrc = uuid::Uuid::new_v4().as_u128() as u32;
        let seed = uuid::Uuid::new_v4().as_u128();
        let leg = Arc::new(MediaLeg {
            socket: socket.clone(),
            local,
            state: Mutex::new(State {
                remote: Remote {
                    addr: None,
                    law,
                    dtmf_pt: None,
                    ptime_ms: 20,
                    send: true,
                    receive: true,
                },
                out: OutStream::new(ssrc, seed as u16, (seed >> 16) as u32),
                forward: None,
                analyse: None,
                tap: None,
                buf: Vec::with_capacity(256),
                event_until: None,
            }),
            stray: Default::default(),
            born: std::time::Instant::now(),
            last_rtp_ms: Default::default(),
        });
        let weak = Arc::downgrade(&leg);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                let Ok((n, _from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Some(leg) = weak.upgrade() else { return };
                leg.received(buf.get(..n).unwrap_or_default());
                // Whatever else is queued is handled on this wake-up (under load packets
                // queue: one wake-up each would cost more than the packets).
                while let Ok((n, _from)) = socket.try_recv_from(&mut buf) {
                    leg.received(buf.get(..n).unwrap_or_default());
                }
            }
        });
        Ok(leg)
    }

    /// The local RTP address (for our SDP).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Where and how to send, from the latest SDP exchange.
    pub fn set_remote(&self, remote: Remote) {
        lock(&self.state).remote = remote;
        self.reset_silence();
    }

    pub fn remote(&self) -> Remote {
        lock(&self.state).remote
    }

    /// Sends copies of what arrives to `tx` (or stops, with `None`).
    pub fn analyse(&self, tx: Option<UnboundedSender<Heard>>) {
        lock(&self.state).analyse = tx;
    }

    /// Relays what arrives to `other` (or stops, with `None`).
    pub fn forward(&self, other: Option<Arc<MediaLeg>>) {
        lock(&self.state).forward = other;
    }

    /// Records what arrives on this leg into a recording's channel (or stops).
    pub fn record(&self, tap: Option<Tap>) {
        lock(&self.state).tap = tap;
    }

    /// How long no RTP has arrived (since the leg was made, if none ever did).
    pub fn silent_for(&self) -> Duration {
        let last = self.last_rtp_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.born
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }

    /// Starts the silence clock again (a new far end, a resumed hold).
    pub fn reset_silence(&self) {
        let now = self.born.elapsed().as_millis() as u64;
        self.last_rtp_ms
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn received(&self, datagram: &[u8]) {
        let Ok(packet) = media::rtp::parse(datagram) else {
            self.stray
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        };
        self.reset_silence();
        let (forward, law, dtmf_pt) = {
            let mut st = lock(&self.state);
            let law = st.remote.law;
            if let Some(tx) = &st.analyse {
                let _ = tx.send(Heard {
                    seq: packet.seq,
                    timestamp: packet.timestamp,
                    ssrc: packet.ssrc,
                    payload_type: packet.payload_type,
                    payload: packet.payload.to_vec(),
                });
            }
            if let Some(tap) = &mut st.tap {
                if packet.payload_type == law.payload_type() {
                    tap.push(law, packet.payload);
                }
            }
            // The clock is read only around an event: audio outside one goes straight on.
            let relay = if Some(packet.payload_type) == st.remote.dtmf_pt {
                let end = packet.payload.get(1).is_some_and(|b| b & 0x80 != 0);
                let hangover = Duration::from_millis(if end { 60 } else { 250 });
                st.event_until = Some(std::time::Instant::now() + hangover);
                true
            } else {
                match st.event_until {
                    Some(until) if std::time::Instant::now() < until => false,
                    Some(_) => {
                        st.event_until = None;
                        true
                    }
                    None => true,
                }
            };
            (st.forward.clone().filter(|_| relay), law, st.remote.dtmf_pt)
        };
        if let Some(other) = forward {
            other.relay_in(&packet, law, dtmf_pt);
        }
    }

    /// A packet from the bridged leg, sent on as part of this leg's stream: payload type
    /// mapped (and the audio transcoded when the two legs chose different laws).
    fn relay_in(&self, packet: &media::rtp::Packet<'_>, from_law: Law, from_dtmf: Option<u8>) {
        let mut st = lock(&self.state);
        let Remote {
            addr: Some(addr),
            law,
            dtmf_pt,
            send: true,
            ..
        } = st.remote
        else {
            return;
        };
        let mut transcoded;
        let (pt, payload) = if packet.payload_type == from_law.payload_type() {
            if law == from_law {
                (law.payload_type(), packet.payload)
            } else {
                transcoded = Vec::with_capacity(packet.payload.len());
                transcoded.extend(
                    packet
                        .payload
                        .iter()
                        .map(|&b| law.encode(from_law.decode(b))),
                );
                (law.payload_type(), &transcoded[..])
            }
        } else if Some(packet.payload_type) == from_dtmf {
            match dtmf_pt {
                Some(pt) => (pt, packet.payload),
                None => return,
            }
        } else {
            // Comfort noise and anything else the other leg did not negotiate: not relayed.
            return;
        };
        let relayed = media::rtp::Packet {
            payload_type: pt,
            payload,
            ..*packet
        };
        let State { out, buf, .. } = &mut *st;
        out.relay(&relayed, buf);
        let _ = self.socket.try_send_to(buf, addr);
    }

    /// Plays `frames` (encoded payloads of one packet each) in real time on this leg's stream.
    /// Returns early when the far end stops wanting audio.
    pub async fn play(&self, frames: Vec<Vec<u8>>) {
        let ptime = self.remote().ptime_ms.max(10);
        let mut tick = tokio::time::interval(Duration::from_millis(ptime as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        for frame in frames {
            tick.tick().await;
            let mut st = lock(&self.state);
            let Some(addr) = st.remote.addr else { return };
            let pt = st.remote.law.payload_type();
            let State { out, buf, .. } = &mut *st;
            out.send(pt, frame.len() as u32, &frame, buf);
            let _ = self.socket.try_send_to(buf, addr);
        }
    }
}
