//! DTMF as RTP telephone-events (RFC 4733): the digits an agent sends to an IVR, and the
//! ones a debtor presses (an opt-out, a payment menu).
//!
//! One key press is one *event*: a run of packets sharing one RTP timestamp (the event's
//! start), the first with the marker bit, each carrying the duration so far, the last three
//! with the end bit (sent three times because UDP may lose one). [`DtmfReceiver`] turns such
//! a stream, with its repeats, losses and reordering, into each digit once; [`DtmfSender`]
//! produces the packets of one digit for [`crate::relay::OutStream`] to number and send.

use crate::rtp::Packet;

/// Why a telephone-event payload or a digit is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {0} bytes, at least 4 are needed")]
    TooShort(usize),
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADigit(char),
    #[error("a DTMF tone of {0} ms does not fit an event (1 to 8191 ms)")]
    Duration(u32),
}

/// One telephone-event payload (RFC 4733 section 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event {
    /// The event code: 0-9, 10 = '*', 11 = '#', 12-15 = 'A'-'D'; other codes (tones, modem
    /// signals) parse but are not digits.
    pub code: u8,
    /// The last packet(s) of the event.
    pub end: bool,
    /// Power in -dBm0, 0..=63 (the reserved bit between `end` and the volume is dropped).
    pub volume: u8,
    /// Duration so far, in timestamp units (samples at 8 kHz) from the event's timestamp.
    pub duration: u16,
}

impl Event {
    /// Reads the first event of a payload (a packet may carry more, as segments of one long
    /// event; the first is the one that counts for digits).
    pub fn parse(payload: &[u8]) -> Result<Event, DtmfError> {
        let [code, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        Ok(Event {
            code,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4 payload bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        [self.code, flags, d0, d1]
    }

    /// The digit this event is, if it is a DTMF digit.
    pub fn digit(self) -> Option<char> {
        digit_of(self.code)
    }
}

/// The event code of a DTMF digit ('0'-'9', '*', '#', 'A'-'D', also lower-case 'a'-'d').
pub fn code_of(digit: char) -> Option<u8> {
    Some(match digit {
        '0'..='9' => digit as u8 - b'0',
        '*' => 10,
        '#' => 11,
        'A'..='D' => digit as u8 - b'A' + 12,
        'a'..='d' => digit as u8 - b'a' + 12,
        _ => return None,
    })
}

/// The DTMF digit of an event code (0..=15).
pub fn digit_of(code: u8) -> Option<char> {
    match code {
        0..=9 => Some((b'0' + code) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + code - 12) as char),
        _ => None,
    }
}

/// How many recent events [`DtmfReceiver`] remembers, so a reordered repeat of an event
/// that a newer one followed is still recognised as old.
const REMEMBERED: usize = 4;

/// Turns received telephone-event packets into digits, each key press once.
///
/// A digit is reported on the first packet of its event that arrives (not at its end), so
/// a menu reacts as soon as it can, and an event whose start packets were all lost is still
/// reported from its end packets. An event is its (SSRC, timestamp, code): a new timestamp
/// is a new key press, even of the same key.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    seen: [Option<(u32, u32, u8)>; REMEMBERED],
    next: usize,
}

impl DtmfReceiver {
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Feeds one telephone-event packet (the caller has matched the negotiated payload
    /// type); returns the digit when this packet starts a key press not yet reported.
    /// Events that are not digits are remembered but not reported.
    pub fn push(&mut self, packet: &Packet<'_>) -> Result<Option<char>, DtmfError> {
        self.push_parts(packet.ssrc, packet.timestamp, packet.payload)
    }

    /// [`push`](Self::push) from the packet's parts.
    pub fn push_parts(
        &mut self,
        ssrc: u32,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Option<char>, DtmfError> {
        let event = Event::parse(payload)?;
        let key = (ssrc, timestamp, event.code);
        if self.seen.contains(&Some(key)) {
            return Ok(None);
        }
        if let Some(slot) = self.seen.get_mut(self.next) {
            *slot = Some(key);
        }
        self.next = (self.next + 1) % REMEMBERED;
        Ok(event.digit())
    }
}

/// One packet of a digit being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Set on the first packet of the event.
    pub marker: bool,
    pub event: Event,
    /// `event` as payload bytes.
    pub payload: [u8; 4],
    /// When to send it, in ms from the first packet (one packet per packet time).
    pub offset_ms: u32,
    /// How far the stream's timestamp moves after this packet: 0 for all but the last end
    /// packet, which moves it by the whole tone, so every packet of the event shares one
    /// timestamp and the audio after it starts where the tone ended. Give it as `samples`
    /// to [`crate::relay::OutStream::send_with`].
    pub samples: u32,
}

/// The packets that send one DTMF digit: a start packet with the marker, an update every
/// packet time, and three end packets, all with the same timestamp.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    code: u8,
    volume: u8,
    total: u16,
    frame: u16,
    ptime_ms: u32,
    /// Packets produced so far.
    sent: u32,
    /// Updates before the end packets.
    updates: u32,
}

/// How many times the end packet is sent (RFC 4733 section 2.5.1.4).
const END_REPEATS: u32 = 3;

impl DtmfSender {
    /// The packets of `digit` lasting `duration_ms`, one every `ptime_ms` (20 or 30 ms on
    /// trunks; clamped to 10..=60), at -10 dBm0.
    pub fn new(digit: char, duration_ms: u32, ptime_ms: u32) -> Result<DtmfSender, DtmfError> {
        let code = code_of(digit).ok_or(DtmfError::NotADigit(digit))?;
        // 8 samples per ms at 8 kHz; the duration field is 16 bits.
        let total = duration_ms
            .checked_mul(8)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|&s| s > 0)
            .ok_or(DtmfError::Duration(duration_ms))?;
        let ptime_ms = ptime_ms.clamp(10, 60);
        let frame = (ptime_ms * 8) as u16;
        // Updates at durations frame, 2 frame, ... below the total; at least the start.
        let updates = (u32::from(total).saturating_sub(1) / u32::from(frame)).max(1);
        Ok(DtmfSender {
            code,
            volume: 10,
            total,
            frame,
            ptime_ms,
            sent: 0,
            updates,
        })
    }

    /// Sets the power in -dBm0 (0..=63; larger values are clamped).
    pub fn volume(mut self, volume: u8) -> DtmfSender {
        self.volume = volume.min(63);
        self
    }

    /// The tone's length in samples (the end packets' duration).
    pub fn total_samples(&self) -> u32 {
        u32::from(self.total)
    }
}

impl Iterator for DtmfSender {
    type Item = DtmfPacket;

    fn next(&mut self) -> Option<DtmfPacket> {
        let i = self.sent;
        if i >= self.updates + END_REPEATS {
            return None;
        }
        self.sent += 1;
        let end = i >= self.updates;
        let duration = if end {
            self.total
        } else {
            // i < updates <= total / frame, so this stays below the total.
            self.frame.saturating_mul(i as u16 + 1).min(self.total)
        };
        let event = Event {
            code: self.code,
            end,
            volume: self.volume,
            duration,
        };
        Some(DtmfPacket {
            marker: i == 0,
            event,
            payload: event.to_bytes(),
            offset_ms: i * self.ptime_ms,
            samples: if i + 1 == self.updates + END_REPEATS {
                u32::from(self.total)
            } else {
                0
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digits_and_codes_map_both_ways() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(code_of(d), Some(i as u8));
            assert_eq!(digit_of(i as u8), Some(d));
        }
        assert_eq!(code_of('b'), Some(13));
        assert_eq!(code_of('E'), None);
        assert_eq!(digit_of(16), None);
    }

    #[test]
    fn an_event_reads_as_rfc_4733_lays_it_out() {
        // '5', end, volume 10, duration 800.
        let e = Event::parse(&[5, 0x8A, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            Event {
                code: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(e.to_bytes(), [5, 0x8A, 0x03, 0x20]);
        // The reserved bit is ignored.
        assert_eq!(Event::parse(&[5, 0x4A, 0, 0]).unwrap().volume, 10);
        assert_eq!(Event::parse(&[5, 0x8A, 3]), Err(DtmfError::TooShort(3)));
    }

    #[test]
    fn the_sender_follows_rfc_4733() {
        let packets: Vec<_> = DtmfSender::new('#', 100, 20).unwrap().collect();
        let durations: Vec<u16> = packets.iter().map(|p| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        assert!(packets[0].marker);
        assert!(packets[1..].iter().all(|p| !p.marker));
        let ends: Vec<bool> = packets.iter().map(|p| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(packets.iter().all(|p| p.event.code == 11));
        let advance: Vec<u32> = packets.iter().map(|p| p.samples).collect();
        assert_eq!(advance, [0, 0, 0, 0, 0, 0, 800]);
        assert_eq!(packets[6].offset_ms, 120);

        // 30 ms packets, a tone shorter than one packet.
        let short: Vec<_> = DtmfSender::new('1', 20, 30).unwrap().collect();
        assert_eq!(short.len(), 4);
        assert_eq!(short[0].event.duration, 160);
        assert!(!short[0].event.end);

        assert_eq!(
            DtmfSender::new('x', 100, 20).err(),
            Some(DtmfError::NotADigit('x'))
        );
        assert_eq!(
            DtmfSender::new('1', 9000, 20).err(),
            Some(DtmfError::Duration(9000))
        );
        assert_eq!(
            DtmfSender::new('1', 0, 20).err(),
            Some(DtmfError::Duration(0))
        );
    }

    #[test]
    fn the_receiver_reports_each_press_once() {
        let mut rx = DtmfReceiver::new();
        let mut digits = String::new();
        let mut feed = |ts: u32, digit: char| {
            for p in DtmfSender::new(digit, 100, 20).unwrap() {
                if let Some(d) = rx.push_parts(7, ts, &p.payload).unwrap() {
                    digits.push(d);
                }
            }
        };
        feed(1000, '1');
        feed(3000, '1'); // same key again: a new timestamp
        feed(5000, '#');
        assert_eq!(digits, "11#");
    }

    #[test]
    fn only_end_packets_still_give_the_digit() {
        let mut rx = DtmfReceiver::new();
        let end = Event {
            code: 9,
            end: true,
            volume: 10,
            duration: 800,
        }
        .to_bytes();
        assert_eq!(rx.push_parts(1, 160, &end).unwrap(), Some('9'));
        assert_eq!(rx.push_parts(1, 160, &end).unwrap(), None);
        // A late repeat of an older event after a newer one is still old.
        assert_eq!(rx.push_parts(1, 960, &[3, 0, 0, 160]).unwrap(), Some('3'));
        assert_eq!(rx.push_parts(1, 160, &end).unwrap(), None);
        // Non-digit events are not reported.
        assert_eq!(rx.push_parts(1, 2000, &[32, 0, 0, 160]).unwrap(), None);
        assert_eq!(rx.push_parts(1, 2000, &[1]), Err(DtmfError::TooShort(1)));
    }

    proptest! {
        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            match Event::parse(&bytes) {
                Ok(e) => prop_assert_eq!(&e.to_bytes()[..], &{
                    let mut b = [0u8; 4];
                    b.copy_from_slice(&bytes[..4]);
                    b[1] &= 0xBF;
                    b
                }[..]),
                Err(e) => prop_assert_eq!(e, DtmfError::TooShort(bytes.len())),
            }
            let mut rx = DtmfReceiver::new();
            let _ = rx.push_parts(1, 2, &bytes);
        }

        #[test]
        fn sent_digits_are_received(
            digits in proptest::collection::vec(proptest::sample::select(
                "0123456789*#ABCD".chars().collect::<Vec<_>>()), 1..10),
            ms in 40u32..400,
            ptime in prop_oneof![Just(20u32), Just(30)],
        ) {
            let mut rx = DtmfReceiver::new();
            let mut got = String::new();
            let mut ts = 0u32;
            for &d in &digits {
                let sender = DtmfSender::new(d, ms, ptime).unwrap();
                let total = sender.total_samples();
                for p in sender {
                    if let Some(d) = rx.push_parts(3, ts, &p.payload).unwrap() {
                        got.push(d);
                    }
                }
                ts = ts.wrapping_add(total + 400);
            }
            prop_assert_eq!(got, digits.into_iter().collect::<String>());
        }
    }
}
