//! A small reorder buffer for one received RTP stream, for where audio is analysed (the
//! answering-machine detector, the recorder) or relayed in order.
//!
//! It is counted in packets, not timed: [`JitterBuffer::pop`] hands out the next packet in
//! sequence as soon as it is there, and declares the missing ones lost only once `depth`
//! packets wait behind them, so it adds no delay to an in-order stream and at most
//! `depth - 1` packets of delay to a reordered one. A caller with a playout clock calls
//! [`JitterBuffer::pop_forced`] when it cannot wait any longer (and at the end of a call).
//!
//! Out comes audio in order, with the holes said for what they are: [`Frame::Lost`] for
//! packets that never came (conceal as silence) and [`Frame::Silence`] where the sender
//! paused on purpose (comfort noise, silence suppression: the timestamp jumps, the sequence
//! does not). Sequence numbers wrap; duplicates and packets that come after their turn are
//! dropped and counted; a new SSRC (or a sequence jump no reordering explains) starts a new
//! stream after the old one's packets have been handed out. Nothing allocates once each
//! slot's payload buffer has grown to the packet size.

use crate::rtp::{PT_CN, PT_PCMA, PT_PCMU, Packet, seq_delta, ts_delta};

/// A forward sequence jump beyond this is a restarted stream, not a loss (RFC 3550 A.1).
const MAX_DROPOUT: i64 = 3000;
/// A backward sequence jump beyond this is a restarted stream, not a late packet (RFC 3550
/// A.1).
const MAX_MISORDER: i64 = 100;
/// The longest gap (10 s at 8 kHz) taken from timestamps; beyond it the timestamps are
/// broken and the gap is estimated from the packet count instead.
const MAX_GAP: u32 = 80_000;
/// The packet size assumed until the stream shows its own (20 ms at 8 kHz).
const DEFAULT_FRAME: u32 = 160;
/// Extended sequence numbers start here, far from 0, so a wrap-aware step back never goes
/// below zero.
const FIRST_EXT: u64 = 1 << 32;

/// What [`JitterBuffer::pop`] hands out, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A received packet.
    Audio {
        seq: u16,
        timestamp: u32,
        payload_type: u8,
        marker: bool,
        /// The samples this packet covers: the payload length for G.711, 0 for comfort
        /// noise (its silence follows as [`Frame::Silence`]), the stream's packet size
        /// otherwise.
        samples: u32,
        payload: &'a [u8],
    },
    /// Packets that never arrived (or came too late): conceal `samples` as silence.
    Lost { samples: u32 },
    /// The sender paused (comfort noise, silence suppression): `samples` of silence.
    Silence { samples: u32 },
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Buffered, to come out of [`JitterBuffer::pop`] in its turn.
    Accepted,
    /// Accepted as the first packet of a new stream (new SSRC or sequence restart).
    Reset,
    /// Already buffered or already handed out: dropped.
    Duplicate,
    /// Its turn had passed (declared lost, or before the stream's first packet): dropped.
    Late,
    /// The buffer was full because the caller did not drain it: dropped.
    Overflow,
}

/// Counters since the buffer was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub received: u64,
    /// Packets handed out as [`Frame::Audio`].
    pub emitted: u64,
    /// Sequence numbers declared lost.
    pub lost: u64,
    /// Packets dropped for coming after their turn.
    pub late: u64,
    /// Packets dropped as copies of one already buffered or handed out.
    pub duplicate: u64,
    /// Packets accepted after a packet with a higher sequence number.
    pub reordered: u64,
    /// New streams started (SSRC changes, sequence restarts).
    pub resets: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    occupied: bool,
    ext: u64,
    seq: u16,
    timestamp: u32,
    payload_type: u8,
    marker: bool,
    payload: Vec<u8>,
}

/// The reorder buffer of one received stream. See the module documentation.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    depth: usize,
    slots: Vec<Slot>,
    count: usize,
    /// The current stream's SSRC, and the one before it (whose stragglers are late, not a
    /// new stream).
    ssrc: Option<u32>,
    previous_ssrc: Option<u32>,
    /// A packet of the current stream, to place others by their sequence distance to it.
    anchor_seq: u16,
    anchor_ext: u64,
    highest: u64,
    /// The extended sequence number handed out next.
    next: u64,
    /// The current stream's first extended sequence number: those below belong to the
    /// previous stream and are handed out without waiting.
    boundary: u64,
    /// Set when a new stream starts: timestamps restart at this extended sequence number.
    rebase_at: Option<u64>,
    /// The timestamp the next packet should have if the sender did not pause.
    expected_ts: Option<u32>,
    /// A [`Frame::Silence`] was handed out before the packet at `next`.
    gap_reported: bool,
    frame: u32,
    last_emitted: Option<(u64, u32)>,
    /// Bit i: extended sequence number `next - 1 - i` was handed out (1) or lost (0).
    history: u64,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer that holds up to `depth_packets` (clamped to 1..=64; 3 to 5 suit a trunk:
    /// 60 to 100 ms of reordering at 20 ms packets).
    pub fn new(depth_packets: usize) -> JitterBuffer {
        let depth = depth_packets.clamp(1, 64);
        JitterBuffer {
            depth,
            slots: vec![Slot::default(); depth],
            count: 0,
            ssrc: None,
            previous_ssrc: None,
            anchor_seq: 0,
            anchor_ext: FIRST_EXT,
            highest: FIRST_EXT,
            next: FIRST_EXT,
            boundary: FIRST_EXT,
            rebase_at: None,
            expected_ts: None,
            gap_reported: false,
            frame: DEFAULT_FRAME,
            last_emitted: None,
            history: 0,
            stats: JitterStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The stream's packet size in samples as its timestamps show it (160 for 20 ms, 240
    /// for 30 ms at 8 kHz; 160 until known).
    pub fn frame_samples(&self) -> u32 {
        self.frame
    }

    /// Buffers one packet. Call [`pop`](Self::pop) until it returns `None` after each push.
    pub fn push(&mut self, packet: &Packet<'_>) -> Pushed {
        self.stats.received += 1;
        let Some(ssrc) = self.ssrc else {
            self.ssrc = Some(packet.ssrc);
            self.anchor_seq = packet.seq;
            self.anchor_ext = FIRST_EXT;
            self.highest = FIRST_EXT;
            self.store(FIRST_EXT, packet);
            return Pushed::Accepted;
        };
        if packet.ssrc != ssrc {
            if Some(packet.ssrc) == self.previous_ssrc {
                self.stats.late += 1;
                return Pushed::Late;
            }
            return self.reset(packet);
        }
        let ext = self.anchor_ext as i64 + i64::from(seq_delta(packet.seq, self.anchor_seq));
        let jump = ext - self.highest as i64;
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&jump) {
            return self.reset(packet);
        }
        let floor = self.next.max(self.boundary);
        if ext < floor as i64 {
            let back = self.next as i64 - 1 - ext;
            let handed_out = (0..64).contains(&back) && self.history >> back & 1 == 1;
            return if handed_out && ext < self.next as i64 {
                self.stats.duplicate += 1;
                Pushed::Duplicate
            } else {
                self.stats.late += 1;
                Pushed::Late
            };
        }
        let ext = ext as u64;
        if self.slots.iter().any(|s| s.occupied && s.ext == ext) {
            self.stats.duplicate += 1;
            return Pushed::Duplicate;
        }
        if self.count >= self.depth {
            self.stats.overflow += 1;
            return Pushed::Overflow;
        }
        if ext < self.highest {
            self.stats.reordered += 1;
        }
        self.highest = self.highest.max(ext);
        self.anchor_seq = packet.seq;
        self.anchor_ext = ext;
        self.store(ext, packet);
        Pushed::Accepted
    }

    /// Starts a new stream with `packet`, after whatever of the old one is still buffered.
    fn reset(&mut self, packet: &Packet<'_>) -> Pushed {
        if self.count >= self.depth {
            self.stats.overflow += 1;
            return Pushed::Overflow;
        }
        self.stats.resets += 1;
        if self.ssrc != Some(packet.ssrc) {
            self.previous_ssrc = self.ssrc;
            self.ssrc = Some(packet.ssrc);
        }
        let first = (self.highest + 1).max(self.next);
        self.boundary = first;
        self.rebase_at = Some(first);
        self.anchor_seq = packet.seq;
        self.anchor_ext = first;
        self.highest = first;
        self.store(first, packet);
        Pushed::Reset
    }

    fn store(&mut self, ext: u64, packet: &Packet<'_>) {
        if let Some(slot) = self.slots.iter_mut().find(|s| !s.occupied) {
            slot.occupied = true;
            slot.ext = ext;
            slot.seq = packet.seq;
            slot.timestamp = packet.timestamp;
            slot.payload_type = packet.payload_type;
            slot.marker = packet.marker;
            slot.payload.clear();
            slot.payload.extend_from_slice(packet.payload);
            self.count += 1;
        }
    }

    /// The next frame if it is due: the next packet in sequence, or the loss before the
    /// earliest waiting packet once `depth` packets wait.
    pub fn pop(&mut self) -> Option<Frame<'_>> {
        self.pop_inner(false)
    }

    /// The next frame now, declaring missing packets lost rather than waiting for them (a
    /// playout clock's tick, the end of a call). `None` only when nothing is buffered.
    pub fn pop_forced(&mut self) -> Option<Frame<'_>> {
        self.pop_inner(true)
    }

    fn pop_inner(&mut self, force: bool) -> Option<Frame<'_>> {
        let (idx, ext) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.occupied)
            .map(|(i, s)| (i, s.ext))
            .min_by_key(|&(_, ext)| ext)?;
        let head = self.slots.get(idx)?;
        let (timestamp, payload_type, len) =
            (head.timestamp, head.payload_type, head.payload.len());

        if ext > self.next {
            let in_old_stream = self.next < self.boundary;
            if !(force || in_old_stream || self.count >= self.depth) {
                return None;
            }
            let until = if in_old_stream {
                ext.min(self.boundary)
            } else {
                ext
            };
            let missing = until - self.next;
            let estimate =
                (missing.saturating_mul(u64::from(self.frame))).min(u64::from(MAX_GAP)) as u32;
            let samples = match self.expected_ts {
                // Across a stream change the two timestamps are on different clocks.
                Some(expected) if until == ext && self.rebase_at != Some(until) => {
                    let gap = ts_delta(timestamp, expected);
                    if gap > 0 && gap as u32 <= MAX_GAP {
                        gap as u32
                    } else {
                        estimate
                    }
                }
                _ => estimate,
            };
            self.stats.lost += missing;
            self.history = if missing >= 64 {
                0
            } else {
                self.history << missing
            };
            self.next = until;
            self.expected_ts = self.expected_ts.map(|e| e.wrapping_add(samples));
            self.gap_reported = false;
            return Some(Frame::Lost { samples });
        }

        // ext == next: stored packets are never behind `next`.
        if self.rebase_at == Some(ext) {
            self.rebase_at = None;
            self.expected_ts = None;
            self.last_emitted = None;
        }
        if !self.gap_reported
            && let Some(expected) = self.expected_ts
        {
            let gap = ts_delta(timestamp, expected);
            if gap > 0 && gap as u32 <= MAX_GAP {
                self.gap_reported = true;
                return Some(Frame::Silence {
                    samples: gap as u32,
                });
            }
        }
        let samples = match payload_type {
            PT_PCMU | PT_PCMA => len as u32,
            PT_CN => 0,
            _ => self.frame,
        };
        if matches!(payload_type, PT_PCMU | PT_PCMA) && (40..=960).contains(&len) {
            self.frame = len as u32;
        } else if let Some((last_ext, last_ts)) = self.last_emitted
            && last_ext + 1 == ext
            && payload_type != PT_CN
        {
            let d = ts_delta(timestamp, last_ts);
            if (40..=960).contains(&d) {
                self.frame = d as u32;
            }
        }
        let end = timestamp.wrapping_add(samples);
        self.expected_ts = Some(match self.expected_ts {
            Some(e) if ts_delta(end, e) < 0 && ts_delta(e, end) as u32 <= MAX_GAP => e,
            _ => end,
        });
        self.last_emitted = Some((ext, timestamp));
        self.next = ext + 1;
        self.history = self.history << 1 | 1;
        self.gap_reported = false;
        self.count -= 1;
        self.stats.emitted += 1;
        let slot = self.slots.get_mut(idx)?;
        slot.occupied = false;
        let slot = &*slot;
        Some(Frame::Audio {
            seq: slot.seq,
            timestamp: slot.timestamp,
            payload_type: slot.payload_type,
            marker: slot.marker,
            samples,
            payload: &slot.payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(ssrc: u32, seq: u16, timestamp: u32, payload: &[u8]) -> Packet<'_> {
        Packet {
            payload_type: PT_PCMU,
            marker: false,
            seq,
            timestamp,
            ssrc,
            payload,
        }
    }

    /// What came out, as (seq | lost samples | silence samples).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Out {
        A(u16),
        L(u32),
        S(u32),
    }

    fn drain(jb: &mut JitterBuffer, forced: bool, out: &mut Vec<Out>) {
        loop {
            let f = if forced { jb.pop_forced() } else { jb.pop() };
            match f {
                Some(Frame::Audio { seq, .. }) => out.push(Out::A(seq)),
                Some(Frame::Lost { samples }) => out.push(Out::L(samples)),
                Some(Frame::Silence { samples }) => out.push(Out::S(samples)),
                None => break,
            }
        }
    }

    #[test]
    fn in_order_packets_come_straight_out() {
        let mut jb = JitterBuffer::new(4);
        let p = [0xFF; 160];
        for i in 0..5u16 {
            assert_eq!(
                jb.push(&packet(1, 65533u16.wrapping_add(i), 160 * u32::from(i), &p)),
                Pushed::Accepted
            );
            match jb.pop() {
                Some(Frame::Audio { seq, samples, .. }) => {
                    assert_eq!(seq, 65533u16.wrapping_add(i));
                    assert_eq!(samples, 160);
                }
                other => panic!("{other:?}"),
            }
            assert!(jb.pop().is_none());
        }
        assert_eq!(jb.stats().emitted, 5);
    }

    #[test]
    fn reordering_is_undone_and_loss_declared_when_depth_waits() {
        let mut jb = JitterBuffer::new(3);
        let p = [0xFF; 160];
        let mut out = Vec::new();
        for seq in [10u16, 12, 11, 14, 15, 16, 17] {
            jb.push(&packet(1, seq, u32::from(seq) * 160, &p));
            drain(&mut jb, false, &mut out);
        }
        // 13 never came: declared lost once 3 packets (14, 15, 16) waited behind it.
        use Out::*;
        assert_eq!(
            out,
            [A(10), A(11), A(12), L(160), A(14), A(15), A(16), A(17)]
        );
        // 13 comes after all: late. 15 again: a duplicate.
        assert_eq!(jb.push(&packet(1, 13, 13 * 160, &p)), Pushed::Late);
        assert_eq!(jb.push(&packet(1, 15, 15 * 160, &p)), Pushed::Duplicate);
        let s = jb.stats();
        assert_eq!(
            (
                s.received,
                s.emitted,
                s.lost,
                s.late,
                s.duplicate,
                s.reordered
            ),
            (9, 7, 1, 1, 1, 1)
        );
    }

    #[test]
    fn thirty_ms_packets_and_pauses() {
        let mut jb = JitterBuffer::new(2);
        let p = [0xFF; 240];
        let mut out = Vec::new();
        // 30 ms packets; seq 3 lost; after seq 5 the sender pauses for 1 s (seq 6 resumes).
        for (seq, ts) in [
            (1u16, 0u32),
            (2, 240),
            (4, 720),
            (5, 960),
            (6, 960 + 240 + 8000),
        ] {
            jb.push(&packet(1, seq, ts, &p));
            drain(&mut jb, false, &mut out);
        }
        use Out::*;
        assert_eq!(out, [A(1), A(2), L(240), A(4), A(5), S(8000), A(6)]);
        assert_eq!(jb.frame_samples(), 240);
    }

    #[test]
    fn comfort_noise_stands_until_the_next_packet() {
        let mut jb = JitterBuffer::new(2);
        let mut out = Vec::new();
        let audio = [0xFF; 160];
        let cn = Packet {
            payload_type: PT_CN,
            ..packet(1, 2, 160, &[40])
        };
        for p in [
            packet(1, 1, 0, &audio),
            cn,
            packet(1, 3, 160 + 4000, &audio),
        ] {
            jb.push(&p);
            drain(&mut jb, false, &mut out);
        }
        use Out::*;
        assert_eq!(out, [A(1), A(2), S(4000), A(3)]);
    }

    #[test]
    fn a_new_ssrc_follows_the_old_streams_packets() {
        let mut jb = JitterBuffer::new(4);
        let p = [0xFF; 160];
        let mut out = Vec::new();
        for seq in [1u16, 3, 4] {
            jb.push(&packet(1, seq, u32::from(seq) * 160, &p));
            drain(&mut jb, false, &mut out);
        }
        // 2 is missing, 3 and 4 wait; the new source arrives.
        assert_eq!(jb.push(&packet(2, 40000, 999_999, &p)), Pushed::Reset);
        drain(&mut jb, false, &mut out);
        // A straggler of the old source is late, not a third stream.
        assert_eq!(jb.push(&packet(1, 2, 320, &p)), Pushed::Late);
        jb.push(&packet(2, 40001, 999_999 + 160, &p));
        drain(&mut jb, false, &mut out);
        use Out::*;
        assert_eq!(out, [A(1), L(160), A(3), A(4), A(40000), A(40001)]);
        assert_eq!(jb.stats().resets, 1);
    }

    #[test]
    fn a_sequence_restart_is_a_new_stream() {
        let mut jb = JitterBuffer::new(3);
        let p = [0xFF; 160];
        let mut out = Vec::new();
        for seq in [100u16, 101, 30000, 30001] {
            jb.push(&packet(1, seq, 0, &p));
            drain(&mut jb, false, &mut out);
        }
        use Out::*;
        assert_eq!(out, [A(100), A(101), A(30000), A(30001)]);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn forced_pops_declare_loss_now() {
        let mut jb = JitterBuffer::new(8);
        let p = [0xFF; 160];
        let mut out = Vec::new();
        jb.push(&packet(1, 1, 160, &p));
        jb.push(&packet(1, 4, 640, &p));
        drain(&mut jb, false, &mut out);
        assert_eq!(out, [Out::A(1)]);
        drain(&mut jb, true, &mut out);
        assert_eq!(out, [Out::A(1), Out::L(320), Out::A(4)]);
        assert!(jb.pop_forced().is_none());
    }

    #[test]
    fn an_undrained_buffer_overflows_instead_of_growing() {
        let mut jb = JitterBuffer::new(2);
        let p = [0xFF; 160];
        assert_eq!(jb.push(&packet(1, 1, 0, &p)), Pushed::Accepted);
        assert_eq!(jb.push(&packet(1, 2, 160, &p)), Pushed::Accepted);
        assert_eq!(jb.push(&packet(1, 3, 320, &p)), Pushed::Overflow);
        assert_eq!(jb.len(), 2);
    }

    /// A stream of `n` packets, reordered by swapping neighbours up to `shift` apart, some
    /// dropped and some duplicated.
    fn mangled() -> impl Strategy<Value = (u16, Vec<usize>)> {
        (
            any::<u16>(),
            1usize..200,
            0usize..6,
            proptest::collection::vec((0u8..100, 0usize..6), 200),
        )
            .prop_map(|(start, n, shift, noise)| {
                let mut order: Vec<usize> = (0..n).collect();
                for (i, &(_, s)) in noise.iter().enumerate().take(n) {
                    let j = (i + s.min(shift)).min(n - 1);
                    order.swap(i, j);
                }
                let mut out = Vec::new();
                for (i, idx) in order.into_iter().enumerate() {
                    let roll = noise[i].0;
                    if roll < 10 {
                        continue; // lost
                    }
                    out.push(idx);
                    if roll >= 95 {
                        out.push(idx); // duplicated
                    }
                }
                (start, out)
            })
    }

    proptest! {
        #[test]
        fn output_is_in_order_and_every_packet_is_accounted_for(
            (start, order) in mangled(),
            depth in 1usize..8,
            ptime in prop_oneof![Just(160u32), Just(240)],
        ) {
            let mut jb = JitterBuffer::new(depth);
            let payload = vec![0xFFu8; ptime as usize];
            let mut emitted: Vec<usize> = Vec::new();
            let mut lost_frames = 0u64;
            let base_ts = 0xFFFF_0000u32;
            for (k, &i) in order.iter().enumerate() {
                let seq = start.wrapping_add(i as u16);
                let ts = base_ts.wrapping_add(i as u32 * ptime);
                jb.push(&packet(9, seq, ts, &payload));
                let last = k + 1 == order.len();
                loop {
                    let f = if last { jb.pop_forced() } else { jb.pop() };
                    match f {
                        Some(Frame::Audio { seq: s, timestamp, .. }) => {
                            let idx = (timestamp.wrapping_sub(base_ts) / ptime) as usize;
                            prop_assert_eq!(s, start.wrapping_add(idx as u16));
                            emitted.push(idx);
                        }
                        Some(Frame::Lost { samples }) => {
                            prop_assert!(samples > 0 && samples % ptime == 0);
                            lost_frames += 1;
                        }
                        Some(Frame::Silence { .. }) => prop_assert!(false, "no pauses were sent"),
                        None => break,
                    }
                }
            }
            prop_assert!(emitted.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates: {:?}", emitted);
            let s = jb.stats();
            prop_assert_eq!(s.received as usize, order.len());
            prop_assert_eq!(s.received, s.emitted + s.late + s.duplicate);
            prop_assert_eq!(s.overflow + s.resets, 0);
            if let (Some(first), Some(last)) = (emitted.first(), emitted.last()) {
                prop_assert_eq!(s.lost as usize, last - first + 1 - emitted.len());
            }
            prop_assert!(lost_frames <= s.lost);
            prop_assert!(jb.is_empty());
        }

        /// Reordering within the depth, without loss, is fully undone.
        #[test]
        fn reordering_within_depth_loses_nothing(
            start in any::<u16>(),
            n in 1usize..100,
            swaps in proptest::collection::vec(any::<bool>(), 50),
            depth in 2usize..6,
        ) {
            // Disjoint neighbours swapped (packet i+1 before i): one packet of displacement,
            // the first packet left first (it starts the stream).
            let mut order: Vec<usize> = (0..n).collect();
            for (k, &swap) in swaps.iter().enumerate() {
                let i = 1 + 2 * k;
                if swap && i + 1 < n {
                    order.swap(i, i + 1);
                }
            }
            let mut jb = JitterBuffer::new(depth);
            let mut out = Vec::new();
            for &i in &order {
                jb.push(&packet(1, start.wrapping_add(i as u16), i as u32 * 160, &[0xFF; 160]));
                drain(&mut jb, false, &mut out);
            }
            drain(&mut jb, true, &mut out);
            let expect: Vec<Out> = (0..n).map(|i| Out::A(start.wrapping_add(i as u16))).collect();
            prop_assert_eq!(out, expect);
        }
    }
}
