//! The bridge's RTP rewriting: one leg's outgoing stream, fed with the other leg's packets
//! and with our own (prompts, silence, DTMF), so the far end always hears one continuous
//! RTP stream.
//!
//! Bridging a debtor to an agent is relaying packets between the two legs, not mixing
//! audio, so the connect takes milliseconds. But each leg's far end holds its own view of
//! the stream it receives: one SSRC, sequence numbers that go up by one, timestamps on one
//! clock. The other leg's packets carry that leg's SSRC and numbering, which change when
//! the agent's softphone restarts its stream, when we stop relaying to play the safe-harbor
//! message, or when a trunk switches media servers. [`OutStream`] owns the outgoing view:
//!
//! - its own SSRC on every packet;
//! - sequence numbers strictly continuous (+1 per packet sent), whatever the input skips,
//!   so the far end never sees our switching as loss;
//! - timestamps that advance by the input's own timestamp deltas while one input source
//!   runs (its pauses and telephone-events' shared timestamp kept), and continue from where
//!   the last packet ended when the source changes (new SSRC, a restart, our own packets),
//!   with the marker bit set there so the far end's jitter buffer resynchronises;
//! - late and duplicate input packets dropped, so the outgoing timestamps never go back.
//!
//! Nothing allocates: packets are written into the caller's reused buffer.

use crate::dtmf::Event;
use crate::rtp::{self, Header, PT_PCMA, PT_PCMU, Packet, seq_delta, ts_delta};

/// A backward sequence step up to this is a late or repeated packet; beyond, a restart.
const MAX_MISORDER: i32 = 100;
/// A forward sequence step beyond this is a restarted source (RFC 3550 A.1).
const MAX_DROPOUT: i32 = 3000;
/// A timestamp step beyond this (30 s at 8 kHz) is a restarted source, not a pause.
const MAX_TS_JUMP: i32 = 240_000;
/// The packet size assumed until the input shows its own (20 ms at 8 kHz).
const DEFAULT_FRAME: u32 = 160;

/// The last relayed input packet.
#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

/// One leg's outgoing RTP stream. See the module documentation.
#[derive(Debug, Clone)]
pub struct OutStream {
    ssrc: u32,
    next_seq: u16,
    /// Where the next packet goes when it does not continue the input's timeline: the end
    /// of the last packet sent.
    next_ts: u32,
    /// The timestamp of the last packet sent.
    last_ts: u32,
    last_in: Option<Input>,
    /// The last packet sent was relayed from `last_in` (not one of ours).
    relaying: bool,
    /// Our next own packet starts a talkspurt: the stream's first, after relayed packets,
    /// after a pause.
    talkspurt: bool,
    frame: u32,
    event_pt: Option<u8>,
    pt_map: [u8; 128],
    packets: u64,
    octets: u64,
    dropped: u64,
}

impl OutStream {
    /// A stream with our `ssrc`, whose first packet has `first_seq` and `first_ts` (random
    /// values, RFC 3550 section 5.1).
    pub fn new(ssrc: u32, first_seq: u16, first_ts: u32) -> OutStream {
        let mut pt_map = [0u8; 128];
        for (i, pt) in pt_map.iter_mut().enumerate() {
            *pt = i as u8;
        }
        OutStream {
            ssrc,
            next_seq: first_seq,
            next_ts: first_ts,
            last_ts: first_ts,
            last_in: None,
            relaying: false,
            talkspurt: true,
            frame: DEFAULT_FRAME,
            event_pt: None,
            pt_map,
            packets: 0,
            octets: 0,
            dropped: 0,
        }
    }

    /// The telephone-event payload type of the input, so a source change after a relayed
    /// event continues where the event ended (its duration field) rather than one packet
    /// later.
    pub fn with_telephone_event(mut self, payload_type: u8) -> OutStream {
        self.event_pt = Some(payload_type & 0x7F);
        self
    }

    /// Relayed packets with payload type `from` go out as `to` (the two legs negotiated
    /// different numbers, typically for telephone-event: 101 on one, 96 on the other).
    pub fn map_payload_type(&mut self, from: u8, to: u8) {
        if let Some(slot) = self.pt_map.get_mut(usize::from(from & 0x7F)) {
            *slot = to & 0x7F;
        }
    }

    /// Rewrites `input`, a packet from the other leg, into this stream, writing it to `out`.
    /// Returns the header sent, or `None` (and `out` empty) for a late or repeated packet,
    /// which is dropped.
    pub fn relay(&mut self, input: &Packet<'_>, out: &mut Vec<u8>) -> Option<Header> {
        let mut continues = None;
        if let Some(last) = self.last_in.filter(|l| l.ssrc == input.ssrc) {
            let d_seq = seq_delta(input.seq, last.seq);
            if (-MAX_MISORDER..=0).contains(&d_seq) {
                self.dropped += 1;
                out.clear();
                return None;
            }
            let d_ts = ts_delta(input.timestamp, last.timestamp);
            if self.relaying && d_seq <= MAX_DROPOUT && (0..=MAX_TS_JUMP).contains(&d_ts) {
                if d_seq == 1
                    && (40..=960).contains(&d_ts)
                    && Some(input.payload_type) != self.event_pt
                {
                    self.frame = d_ts as u32;
                }
                continues = Some(d_ts as u32);
            }
        }
        let (timestamp, marker) = match continues {
            Some(d) => (self.last_ts.wrapping_add(d), input.marker),
            None => (self.next_ts, true),
        };
        let payload_type = self
            .pt_map
            .get(usize::from(input.payload_type & 0x7F))
            .copied()
            .unwrap_or(input.payload_type);
        let header = self.emit(payload_type, marker, timestamp, input.payload, out);
        let samples = self.samples_of(input);
        self.next_ts = timestamp.wrapping_add(samples);
        self.last_in = Some(Input {
            ssrc: input.ssrc,
            seq: input.seq,
            timestamp: input.timestamp,
        });
        self.relaying = true;
        self.talkspurt = true;
        Some(header)
    }

    /// Sends one packet of ours (a prompt's frame, silence) covering `samples`, continuing
    /// the stream; the marker is set on the first packet after relayed ones (a new
    /// talkspurt from a new source), after [`advance`](Self::advance), and on the stream's
    /// first.
    pub fn send(
        &mut self,
        payload_type: u8,
        samples: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Header {
        let marker = self.talkspurt;
        self.send_with(payload_type, marker, samples, payload, out)
    }

    /// [`send`](Self::send) with the marker given: a telephone-event's first packet has it
    /// and its others do not. The packet has the stream's current timestamp, which then
    /// moves by `samples` (0 for all but an event's last packet, see
    /// [`crate::dtmf::DtmfPacket::samples`]). `samples` must stay below 2^31.
    pub fn send_with(
        &mut self,
        payload_type: u8,
        marker: bool,
        samples: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Header {
        let timestamp = self.next_ts;
        let header = self.emit(payload_type, marker, timestamp, payload, out);
        self.next_ts = timestamp.wrapping_add(samples);
        self.relaying = false;
        self.talkspurt = false;
        header
    }

    /// Moves the stream's clock on by `samples` without sending (time that passed with
    /// nothing to send, say while on hold), so the next packet's timestamp reflects it.
    pub fn advance(&mut self, samples: u32) {
        self.next_ts = self.next_ts.wrapping_add(samples);
        self.relaying = false;
        self.talkspurt = true;
    }

    fn emit(
        &mut self,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Header {
        let header = Header {
            payload_type: payload_type & 0x7F,
            marker,
            seq: self.next_seq,
            timestamp,
            ssrc: self.ssrc,
        };
        rtp::build(&header, payload, out);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last_ts = timestamp;
        self.packets += 1;
        self.octets += payload.len() as u64;
        header
    }

    /// How far a relayed packet moves the stream: its G.711 length, a telephone-event's
    /// duration so far, the input's packet size otherwise.
    fn samples_of(&self, input: &Packet<'_>) -> u32 {
        match input.payload_type {
            PT_PCMU | PT_PCMA => input.payload.len() as u32,
            pt if Some(pt) == self.event_pt => {
                Event::parse(input.payload).map_or(self.frame, |e| u32::from(e.duration))
            }
            _ => self.frame,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number of the next packet.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// The timestamp our next own packet would have.
    pub fn next_timestamp(&self) -> u32 {
        self.next_ts
    }

    /// Packets sent (for RTCP sender reports).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Payload octets sent (for RTCP sender reports).
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// Input packets dropped as late or repeated.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::{DtmfReceiver, DtmfSender};
    use crate::rtp::{PT_CN, parse};
    use proptest::prelude::*;

    fn input(ssrc: u32, seq: u16, timestamp: u32, payload: &[u8]) -> Packet<'_> {
        Packet {
            payload_type: PT_PCMU,
            marker: false,
            seq,
            timestamp,
            ssrc,
            payload,
        }
    }

    /// (seq, timestamp, marker) of what was sent.
    fn sent(out: &[u8]) -> (u16, u32, bool) {
        let p = parse(out).unwrap();
        assert_eq!(p.ssrc, 0xABCD);
        (p.seq, p.timestamp, p.marker)
    }

    #[test]
    fn relayed_packets_take_our_ssrc_and_numbering() {
        let mut s = OutStream::new(0xABCD, 65535, 1000);
        let mut out = Vec::new();
        let audio = [0x55; 160];
        s.relay(&input(7, 500, 90_000, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (65535, 1000, true));
        assert_eq!(parse(&out).unwrap().payload, &audio);
        s.relay(&input(7, 501, 90_160, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (0, 1160, false));
        // The input loses 502 and 503: the sequence stays continuous, the timestamp keeps
        // the gap.
        s.relay(&input(7, 504, 90_640, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (1, 1640, false));
        // A late 503 and a repeated 504 are dropped.
        assert!(s.relay(&input(7, 503, 90_480, &audio), &mut out).is_none());
        assert!(out.is_empty());
        assert!(s.relay(&input(7, 504, 90_640, &audio), &mut out).is_none());
        assert_eq!(s.dropped(), 2);
        // The source changes: the stream continues where the last packet ended, marked.
        s.relay(&input(8, 3, 5, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (2, 1800, true));
        s.relay(&input(8, 4, 165, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (3, 1960, false));
        // The same SSRC restarting its timestamps is a new source too.
        s.relay(&input(8, 5, 4_000_000, &audio), &mut out).unwrap();
        assert_eq!(sent(&out), (4, 2120, true));
        assert_eq!(s.packets(), 6);
        assert_eq!(s.octets(), 960);
    }

    #[test]
    fn a_prompt_between_relayed_audio_keeps_one_stream() {
        let mut s = OutStream::new(0xABCD, 10, 0);
        let mut out = Vec::new();
        let audio = [0xFF; 160];
        s.relay(&input(7, 1, 50, &audio), &mut out);
        s.relay(&input(7, 2, 210, &audio), &mut out);
        assert_eq!(sent(&out), (11, 160, false));
        // Our prompt: 30 ms packets, the first marked.
        s.send(PT_PCMU, 240, &[0xFF; 240], &mut out);
        assert_eq!(sent(&out), (12, 320, true));
        s.send(PT_PCMU, 240, &[0xFF; 240], &mut out);
        assert_eq!(sent(&out), (13, 560, false));
        // Relaying again, the same input source: continues after the prompt, marked.
        s.relay(&input(7, 3, 370, &audio), &mut out);
        assert_eq!(sent(&out), (14, 800, true));
        s.relay(&input(7, 4, 530, &audio), &mut out);
        assert_eq!(sent(&out), (15, 960, false));
        s.advance(8000);
        s.send(PT_CN, 0, &[60], &mut out);
        assert_eq!(sent(&out), (16, 1120 + 8000, true));
    }

    #[test]
    fn relayed_telephone_events_keep_their_shared_timestamp() {
        let mut s = OutStream::new(0xABCD, 0, 0).with_telephone_event(101);
        s.map_payload_type(101, 96);
        let mut out = Vec::new();
        let mut rx = DtmfReceiver::new();
        s.relay(&input(7, 1, 8000, &[0xFF; 160]), &mut out);
        let mut stamps = Vec::new();
        for (seq, p) in (2..).zip(DtmfSender::new('7', 100, 20).unwrap()) {
            let ev = Packet {
                payload_type: 101,
                marker: p.marker,
                ..input(7, seq, 8160, &p.payload)
            };
            s.relay(&ev, &mut out).unwrap();
            let got = parse(&out).unwrap();
            assert_eq!(got.payload_type, 96);
            stamps.push(got.timestamp);
            if let Some(d) = rx.push(&got).unwrap() {
                assert_eq!(d, '7');
            }
        }
        assert!(stamps.iter().all(|&t| t == 160));
        // The source changes right after the event: continue where the tone ended.
        s.relay(&input(9, 1, 0, &[0xFF; 160]), &mut out);
        assert_eq!(sent(&out), (8, 160 + 800, true));
    }

    #[test]
    fn sent_digits_share_a_timestamp_and_audio_follows_the_tone() {
        let mut s = OutStream::new(0xABCD, 0, 0);
        let mut out = Vec::new();
        s.send(PT_PCMU, 160, &[0xFF; 160], &mut out);
        let mut rx = DtmfReceiver::new();
        let mut digits = String::new();
        for p in DtmfSender::new('*', 100, 20).unwrap() {
            s.send_with(101, p.marker, p.samples, &p.payload, &mut out);
            let got = parse(&out).unwrap();
            assert_eq!(got.timestamp, 160);
            assert_eq!(got.marker, p.marker);
            if let Some(d) = rx.push(&got).unwrap() {
                digits.push(d);
            }
        }
        assert_eq!(digits, "*");
        s.send(PT_PCMU, 160, &[0xFF; 160], &mut out);
        assert_eq!(sent(&out), (8, 960, false));
    }

    #[test]
    fn steady_state_relaying_does_not_reallocate() {
        let mut s = OutStream::new(0xABCD, 0, 0);
        let mut out = Vec::with_capacity(1500);
        let ptr = out.as_ptr();
        for i in 0..1000u16 {
            s.relay(&input(1, i, u32::from(i) * 160, &[0xFF; 160]), &mut out);
        }
        assert_eq!(out.as_ptr(), ptr);
    }

    /// What happens next to the stream: a relayed packet from one of a few sources, whose
    /// sequence and timestamp wander (forward, backward, far), or a packet of ours.
    #[derive(Debug, Clone)]
    enum Op {
        Relay {
            ssrc: u32,
            seq_step: i32,
            ts_step: i64,
            len: usize,
            pt: u8,
            marker: bool,
        },
        Send {
            samples: u32,
            len: usize,
        },
        Advance(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u32..3, prop_oneof![3 => Just(1i32), 1 => -5i32..5, 1 => any::<u16>().prop_map(i32::from)],
                  prop_oneof![3 => Just(160i64), 1 => -1000i64..1000, 1 => any::<u32>().prop_map(i64::from)],
                  0usize..300, prop_oneof![Just(0u8), Just(8), Just(13), Just(101)], any::<bool>())
                .prop_map(|(ssrc, seq_step, ts_step, len, pt, marker)| Op::Relay { ssrc, seq_step, ts_step, len, pt, marker }),
            2 => (0u32..2000, 0usize..300).prop_map(|(samples, len)| Op::Send { samples, len }),
            1 => (0u32..100_000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn the_outgoing_stream_is_continuous(
            first_seq in any::<u16>(),
            first_ts in any::<u32>(),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut s = OutStream::new(0xABCD, first_seq, first_ts).with_telephone_event(101);
            let mut out = Vec::new();
            let mut sources = [(0u16, 0u32); 3];
            let payload = vec![0xFFu8; 300];
            let mut prev: Option<(u16, u32)> = None;
            let mut expected_first_ts = first_ts;
            for op in ops {
                let header = match op {
                    Op::Relay { ssrc, seq_step, ts_step, len, pt, marker } => {
                        let src = &mut sources[ssrc as usize];
                        src.0 = src.0.wrapping_add(seq_step as u16);
                        src.1 = src.1.wrapping_add(ts_step as u32);
                        let p = Packet { payload_type: pt, marker, seq: src.0, timestamp: src.1, ssrc, payload: &payload[..len] };
                        s.relay(&p, &mut out).map(|h| (h, len))
                    }
                    Op::Send { samples, len } => Some((s.send(0, samples, &payload[..len], &mut out), len)),
                    Op::Advance(n) => {
                        s.advance(n);
                        if prev.is_none() {
                            expected_first_ts = expected_first_ts.wrapping_add(n);
                        }
                        None
                    }
                };
                let Some((h, len)) = header else { continue };
                let p = parse(&out).unwrap();
                prop_assert_eq!(p.header(), h);
                prop_assert_eq!(p.ssrc, 0xABCD);
                prop_assert_eq!(p.payload.len(), len);
                match prev {
                    None => {
                        prop_assert_eq!(p.seq, first_seq);
                        prop_assert_eq!(p.timestamp, expected_first_ts);
                        prop_assert!(p.marker);
                    }
                    Some((seq, ts)) => {
                        prop_assert_eq!(p.seq, seq.wrapping_add(1));
                        prop_assert!(ts_delta(p.timestamp, ts) >= 0, "{} after {}", p.timestamp, ts);
                    }
                }
                prev = Some((p.seq, p.timestamp));
            }
        }
    }
}
