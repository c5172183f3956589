//! A UDP socket that collects the RTP sent to it: the test's ear where a scenario's SDP points
//! the dialer (`rtp_port`), to hear the safe-harbor message, the voicemail drop, or a trunk's
//! early media in the self-check. G.711 is decoded for energy and tone checks; RFC 4733
//! telephone events are read as DTMF digits.
//!
//! It runs on its own thread, so it works the same under any test runtime or none.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::g711::Law;

use crate::audio::{Wav, mean_abs, write_wav};
use crate::error::Error;

/// One RTP packet as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Payload type (0 PCMU, 8 PCMA, 101 telephone-event, ...).
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload (after any CSRCs and header extension).
    pub payload: Vec<u8>,
    /// Who sent it.
    pub from: SocketAddr,
    /// When it arrived.
    pub at: Instant,
}

/// Parses an RTP packet (version 2); `None` for anything else.
pub fn parse_rtp(bytes: &[u8], from: SocketAddr, at: Instant) -> Option<RtpPacket> {
    let first = *bytes.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let second = *bytes.get(1)?;
    let csrc_count = usize::from(first & 0x0F);
    let mut offset = 12 + 4 * csrc_count;
    if first & 0x10 != 0 {
        // Header extension: 16-bit profile, 16-bit length in 32-bit words.
        let words = u16::from_be_bytes([*bytes.get(offset + 2)?, *bytes.get(offset + 3)?]);
        offset += 4 + 4 * usize::from(words);
    }
    let mut end = bytes.len();
    if first & 0x20 != 0 {
        // Padding: the last byte says how much.
        end = end.checked_sub(usize::from(*bytes.last()?))?;
    }
    let payload = bytes.get(offset..end)?.to_vec();
    Some(RtpPacket {
        payload_type: second & 0x7F,
        marker: second & 0x80 != 0,
        sequence: u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]),
        timestamp: u32::from_be_bytes([
            *bytes.get(4)?,
            *bytes.get(5)?,
            *bytes.get(6)?,
            *bytes.get(7)?,
        ]),
        ssrc: u32::from_be_bytes([
            *bytes.get(8)?,
            *bytes.get(9)?,
            *bytes.get(10)?,
            *bytes.get(11)?,
        ]),
        payload,
        from,
        at,
    })
}

/// The DTMF event names of RFC 4733 (events 0-15).
const DTMF: &[u8; 16] = b"0123456789*#ABCD";

/// A listening RTP socket on 127.0.0.1; stops on drop.
#[derive(Debug)]
pub struct RtpListener {
    port: u16,
    packets: Arc<Mutex<Vec<RtpPacket>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpListener {
    /// Listens on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// If no UDP socket can be bound; [`RtpListener::try_bind`] returns the error instead.
    pub fn bind() -> RtpListener {
        match RtpListener::try_bind(0) {
            Ok(listener) => listener,
            Err(e) => panic!("RTP listener: {e}"),
        }
    }

    /// Listens on `port` of 127.0.0.1 (0: any free port).
    pub fn try_bind(port: u16) -> Result<RtpListener, Error> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| Error::io(format!("binding RTP listener on 127.0.0.1:{port}"), e))?;
        let port = socket
            .local_addr()
            .map_err(|e| Error::io("RTP listener address", e))?
            .port();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| Error::io("RTP listener read timeout", e))?;
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let packets = Arc::clone(&packets);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("rtp-listener-{port}"))
                .spawn(move || receive(&socket, &packets, &stop))
                .map_err(|e| Error::io("starting the RTP listener thread", e))?
        };
        Ok(RtpListener {
            port,
            packets,
            stop,
            thread: Some(thread),
        })
    }

    /// The port it listens on (give it to a scenario as `rtp_port`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<RtpPacket>> {
        self.packets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The packets received so far, in arrival order.
    pub fn packets(&self) -> Vec<RtpPacket> {
        self.lock().clone()
    }

    /// How many packets have arrived.
    pub fn packet_count(&self) -> usize {
        self.lock().len()
    }

    /// Forgets what was received (to measure a later stretch of a call on its own).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The G.711 audio received (payload types 0 and 8), decoded, in arrival order.
    pub fn samples(&self) -> Vec<i16> {
        decode(&self.lock())
    }

    /// The audio received as a WAV (8 kHz mono).
    pub fn wav(&self) -> Wav {
        Wav {
            sample_rate: 8000,
            channels: 1,
            samples: self.samples(),
        }
    }

    /// The energy ([`mean_abs`]) of the audio received.
    pub fn energy(&self) -> f64 {
        mean_abs(&self.samples())
    }

    /// The DTMF digits received as RFC 4733 events (payload type `event_pt`, usually 101),
    /// one per event however often its packets were repeated.
    pub fn dtmf_digits(&self, event_pt: u8) -> String {
        let packets = self.lock();
        let mut digits = String::new();
        let mut last: Option<(u32, u32)> = None;
        for packet in packets.iter().filter(|p| p.payload_type == event_pt) {
            let (Some(event), Some(flags)) = (packet.payload.first(), packet.payload.get(1)) else {
                continue;
            };
            let key = (packet.ssrc, packet.timestamp);
            // One digit per event (its timestamp), counted at its first end packet.
            if flags & 0x80 == 0 || last == Some(key) {
                continue;
            }
            last = Some(key);
            if let Some(digit) = DTMF.get(usize::from(*event)) {
                digits.push(char::from(*digit));
            }
        }
        digits
    }

    /// Writes the audio received so far as a WAV (to listen to a failing test).
    pub fn write_wav(&self, path: &std::path::Path) -> Result<(), Error> {
        write_wav(path, &self.wav())
    }

    /// Waits until at least `count` packets have arrived; false if `timeout` passed first.
    pub async fn wait_packets(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.packet_count() >= count {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RtpListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn receive(socket: &UdpSocket, packets: &Mutex<Vec<RtpPacket>>, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(bytes) = buf.get(..len) else {
            continue;
        };
        if let Some(packet) = parse_rtp(bytes, from, Instant::now()) {
            packets
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(packet);
        }
    }
}

fn decode(packets: &[RtpPacket]) -> Vec<i16> {
    let mut samples = Vec::new();
    for packet in packets {
        if let Some(law) = Law::from_payload_type(packet.payload_type) {
            law.decode_into(&packet.payload, &mut samples);
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x80, pt];
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.extend_from_slice(&ts.to_be_bytes());
        bytes.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn rtp_headers_parse_and_garbage_does_not() {
        let from = SocketAddr::from((Ipv4Addr::LOCALHOST, 9));
        let now = Instant::now();
        let p = parse_rtp(&packet(0x80 | 8, 7, 160, &[0xD5; 4]), from, now).unwrap();
        assert_eq!(
            (p.payload_type, p.marker, p.sequence, p.timestamp),
            (8, true, 7, 160)
        );
        assert_eq!(p.payload, vec![0xD5; 4]);
        assert!(parse_rtp(&[0x80, 0], from, now).is_none());
        assert!(parse_rtp(&[0x00; 20], from, now).is_none());
        // Padding longer than the packet.
        let mut padded = packet(0, 1, 0, &[1, 2, 200]);
        padded[0] |= 0x20;
        assert!(parse_rtp(&padded, from, now).is_none());
        // Extension header claiming more than there is.
        let mut ext = packet(0, 1, 0, &[0, 0, 0xFF, 0xFF]);
        ext[0] |= 0x10;
        assert!(parse_rtp(&ext, from, now).is_none());
    }

    #[tokio::test]
    async fn it_hears_audio_and_digits() {
        let listener = RtpListener::bind();
        let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sender
            .send_to(&packet(0, 1, 0, &[0x00; 160]), listener.addr())
            .unwrap();
        // Digit 5: start, then the end packet three times (as RFC 4733 senders repeat it).
        sender
            .send_to(&packet(101, 2, 160, &[5, 0x0A, 0, 160]), listener.addr())
            .unwrap();
        for seq in 3..6 {
            sender
                .send_to(&packet(101, seq, 160, &[5, 0x8A, 3, 32]), listener.addr())
                .unwrap();
        }
        sender
            .send_to(&packet(101, 6, 800, &[11, 0x8A, 3, 32]), listener.addr())
            .unwrap();
        assert!(listener.wait_packets(6, Duration::from_secs(5)).await);
        assert_eq!(listener.samples().len(), 160);
        assert!(listener.energy() > 30000.0);
        assert_eq!(listener.dtmf_digits(101), "5#");
        listener.clear();
        assert_eq!(listener.packet_count(), 0);
    }
}
