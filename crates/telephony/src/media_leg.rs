//! One call leg's media: its RTP socket, what it sends (prompts, relayed audio) and where what
//! it receives goes (analysis, the bridged leg, the recording).
//!
//! Each leg has one UDP socket and one receive task. A bridge is two legs forwarding to each
//! other straight from their receive tasks (parse, rewrite into the other leg's outgoing
//! stream, send): no queue and no decode on the way unless the two legs speak different laws
//! or the call is recorded, so the relay adds microseconds. Everything that decides (early
//! media tones, AMD, the beep) receives copies of the packets on a channel.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use media::g711::Law;
use media::relay::OutStream;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
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
    /// Audio transcoded for this leg's law (when the bridged leg chose the other one), reused.
    transcoded: Vec<u8>,
    /// While a telephone-event from this leg's far end lasts, its audio is not relayed: some
    /// phones (baresip among them) keep sending audio during an event, and interleaved the
    /// two would cut the event into several on the other leg (and leak the tone in-band).
    event_until: Option<Instant>,
}

/// One leg's RTP endpoint.
pub struct MediaLeg {
    /// Registered for readability only: sends never wait (a full send buffer drops the
    /// packet, as RTP may), and a socket registered for writability too would wake the
    /// runtime's poller once more for every packet sent, when the kernel frees it.
    socket: Arc<AsyncFd<std::net::UdpSocket>>,
    local: SocketAddr,
    state: Mutex<State>,
    /// Datagrams that were not RTP (STUN, RTCP on the RTP port, garbage): dropped and counted.
    pub stray: AtomicU64,
    /// RTP packets received so far: counted, not timed, so the relay reads no clock per
    /// packet; [`MediaLeg::silent_for`] turns the count into time when it is asked.
    rtp_received: AtomicU64,
    silence: Mutex<Silence>,
}

/// The silence clock: since when the far end has been quiet, as of the packet count seen.
#[derive(Debug, Clone, Copy)]
struct Silence {
    /// `rtp_received` when the clock was last started.
    packets: u64,
    since: Instant,
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
        let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
        socket.set_nonblocking(true)?;
        // Deprecated because a type whose `as_raw_fd` could change under the registration
        // would be unsound; a `std::net::UdpSocket` owns its descriptor for its whole life,
        // and the replacement (`register_with_interest`) is `unsafe`, which the workspace
        // forbids.
        #[allow(deprecated)]
        let socket = Arc::new(AsyncFd::with_interest(socket, Interest::READABLE)?);
        let local = socket.get_ref().local_addr()?;
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
                transcoded: Vec::with_capacity(256),
                event_until: None,
            }),
            stray: Default::default(),
            rtp_received: AtomicU64::new(0),
            silence: Mutex::new(Silence {
                packets: 0,
                since: Instant::now(),
            }),
        });
        let weak = Arc::downgrade(&leg);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                // An error here is the runtime shutting down.
                let Ok(mut ready) = socket.readable().await else {
                    return;
                };
                let Some(leg) = weak.upgrade() else { return };
                // Everything queued is handled on this wake-up (under load packets queue: one
                // wake-up each would cost more than the packets), until the socket is empty.
                loop {
                    match socket.get_ref().recv_from(&mut buf) {
                        Ok((n, _from)) => leg.received(buf.get(..n).unwrap_or_default()),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            ready.clear_ready();
                            break;
                        }
                        // Another error (an ICMP error queued on the socket) is consumed by
                        // the receive that returned it: still readable, try again.
                        Err(_) => break,
                    }
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

    /// How long no RTP has arrived (since the leg was made, if none ever did), as seen by the
    /// callers of this: a packet that arrived since the previous call restarts the clock now,
    /// so a caller that asks every 100 ms sees a far end go quiet at most 100 ms late.
    pub fn silent_for(&self) -> Duration {
        let packets = self.rtp_received.load(Ordering::Relaxed);
        let mut silence = lock(&self.silence);
        if silence.packets != packets {
            *silence = Silence {
                packets,
                since: Instant::now(),
            };
        }
        silence.since.elapsed()
    }

    /// Starts the silence clock again (a new far end, a resumed hold).
    pub fn reset_silence(&self) {
        *lock(&self.silence) = Silence {
            packets: self.rtp_received.load(Ordering::Relaxed),
            since: Instant::now(),
        };
    }

    fn received(&self, datagram: &[u8]) {
        let Ok(packet) = media::rtp::parse(datagram) else {
            self.stray.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.rtp_received.fetch_add(1, Ordering::Relaxed);
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
                st.event_until = Some(Instant::now() + hangover);
                true
            } else {
                match st.event_until {
                    Some(until) if Instant::now() < until => false,
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
        let State {
            out,
            buf,
            transcoded,
            ..
        } = &mut *st;
        let (pt, payload) = if packet.payload_type == from_law.payload_type() {
            if law == from_law {
                (law.payload_type(), packet.payload)
            } else {
                transcoded.clear();
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
        // A late or repeated packet is dropped by the stream (and `buf` left empty).
        if out.relay(&relayed, buf).is_some() {
            let _ = self.socket.get_ref().send_to(buf, addr);
        }
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
            let _ = self.socket.get_ref().send_to(buf, addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::net::UdpSocket;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn remote(addr: SocketAddr, law: Law) -> Remote {
        Remote {
            addr: Some(addr),
            law,
            dtmf_pt: Some(101),
            ptime_ms: 20,
            send: true,
            receive: true,
        }
    }

    fn packet(pt: u8, seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let h = media::rtp::Header {
            payload_type: pt,
            marker: false,
            seq,
            timestamp: u32::from(seq) * 160,
            ssrc,
        };
        media::rtp::build(&h, payload, &mut out);
        out
    }

    /// The next datagram on `socket` (a test that hears nothing fails rather than hangs).
    async fn next(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
            .await
            .expect("a relayed datagram")
            .expect("recv");
        buf.truncate(n);
        buf
    }

    /// Two legs bridged to each other, with a phone socket at each far end.
    async fn bridge(
        debtor_law: Law,
        agent_law: Law,
    ) -> (UdpSocket, Arc<MediaLeg>, UdpSocket, Arc<MediaLeg>) {
        let debtor = UdpSocket::bind((LOCAL, 0)).await.unwrap();
        let agent = UdpSocket::bind((LOCAL, 0)).await.unwrap();
        let d = MediaLeg::bind(LOCAL, debtor_law).await.unwrap();
        let a = MediaLeg::bind(LOCAL, agent_law).await.unwrap();
        d.set_remote(remote(debtor.local_addr().unwrap(), debtor_law));
        a.set_remote(remote(agent.local_addr().unwrap(), agent_law));
        d.forward(Some(a.clone()));
        a.forward(Some(d.clone()));
        (debtor, d, agent, a)
    }

    #[tokio::test]
    async fn bridged_legs_relay_in_their_own_streams_and_a_repeat_sends_nothing() {
        let (debtor, d, agent, _a) = bridge(Law::Pcmu, Law::Pcmu).await;
        // Seq 11 arrives twice: the repeat is dropped, not sent on as an empty datagram.
        for (seq, fill) in [(10, 1), (11, 2), (11, 2), (12, 3)] {
            debtor
                .send_to(&packet(0, seq, 0xDEB, &[fill; 160]), d.local())
                .await
                .unwrap();
        }
        let mut heard = Vec::new();
        for _ in 0..3 {
            heard.push(next(&agent).await);
        }
        let heard: Vec<media::rtp::Packet<'_>> = heard
            .iter()
            .map(|p| media::rtp::parse(p).expect("an RTP packet"))
            .collect();
        let fills: Vec<u8> = heard.iter().map(|p| p.payload[0]).collect();
        assert_eq!(fills, [1, 2, 3]);
        let first = heard[0];
        assert_ne!(
            first.ssrc, 0xDEB,
            "the agent's stream has the leg's own SSRC"
        );
        for (i, p) in heard.iter().enumerate() {
            assert_eq!(p.ssrc, first.ssrc);
            assert_eq!(p.seq, first.seq.wrapping_add(i as u16));
            assert_eq!(p.payload_type, 0);
            assert_eq!(p.payload.len(), 160);
        }
    }

    #[tokio::test]
    async fn audio_is_transcoded_when_the_legs_chose_different_laws() {
        let (debtor, d, agent, _a) = bridge(Law::Pcmu, Law::Pcma).await;
        // Packets of two sizes: the reused transcoding buffer holds only the current one.
        for (seq, len) in [(1u16, 160usize), (2, 80)] {
            debtor
                .send_to(&packet(0, seq, 7, &vec![0xFF; len]), d.local())
                .await
                .unwrap();
        }
        for len in [160, 80] {
            let bytes = next(&agent).await;
            let p = media::rtp::parse(&bytes).unwrap();
            assert_eq!(p.payload_type, 8);
            // u-law silence (0xFF) is A-law silence (0xD5).
            assert_eq!(p.payload, vec![0xD5; len]);
        }
    }

    #[tokio::test]
    async fn a_packet_restarts_the_silence_clock() {
        let (debtor, d, _agent, _a) = bridge(Law::Pcmu, Law::Pcmu).await;
        let before_send = Instant::now();
        debtor
            .send_to(&packet(0, 1, 9, &[0xFF; 160]), d.local())
            .await
            .unwrap();
        while d.rtp_received.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The leg was made before `before_send`: without the restart its silence would be
        // longer than the time since the packet was sent.
        assert!(d.silent_for() <= before_send.elapsed());
        // Not RTP: counted as stray, and no restart.
        debtor.send_to(b"stun?", d.local()).await.unwrap();
        while d.stray.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(d.rtp_received.load(Ordering::Relaxed), 1);
    }
}
