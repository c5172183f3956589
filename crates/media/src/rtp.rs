//! RTP packets (RFC 3550) read and written with `rtp-rs`, behind a small value type the rest
//! of the crate shares.
//!
//! A call's RTP port also receives what is not RTP: RTCP when the far end multiplexes it on
//! the same port (RFC 5761), STUN keepalives, scanners' junk. [`parse`] turns every such
//! datagram into a typed [`RtpError`] the socket loop counts and ignores, and never panics
//! on any input (a proptest feeds it arbitrary bytes). [`build`] writes into a reused
//! `Vec`, so the relay's hot path does not allocate.

use rtp_rs::{RtpPacketBuilder, RtpReader, RtpReaderError, Seq};

/// Payload type of u-law (RFC 3551).
pub const PT_PCMU: u8 = 0;
/// Payload type of A-law (RFC 3551).
pub const PT_PCMA: u8 = 8;
/// Payload type of comfort noise (RFC 3389).
pub const PT_CN: u8 = 13;
/// The dynamic payload type most trunks offer telephone-event on (negotiated in SDP; this
/// is only the usual value).
pub const PT_TELEPHONE_EVENT: u8 = 101;

/// The fixed header fields this crate reads and writes (no CSRCs, no extension: a relay
/// or a prompt never needs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// 0..=127; [`build`] keeps only the low 7 bits.
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// One parsed RTP packet, borrowing its payload from the datagram (CSRCs, extension and
/// padding skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

impl Packet<'_> {
    /// The header fields, for [`build`] or comparisons.
    pub fn header(&self) -> Header {
        Header {
            payload_type: self.payload_type,
            marker: self.marker,
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
    }
}

/// Why a datagram is not an RTP packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("datagram of {0} bytes is shorter than an RTP header (12)")]
    TooShort(usize),
    #[error("STUN message, not RTP")]
    Stun,
    #[error("RTP version {0}, only 2 is spoken")]
    Version(u8),
    #[error("RTCP packet type {0} (multiplexed on the RTP port), not RTP")]
    Rtcp(u8),
    #[error("headers need {needed} bytes, the datagram has {len}")]
    HeadersTruncated { needed: usize, len: usize },
    #[error("padding length {0} does not fit the packet")]
    Padding(u8),
}

/// STUN's magic cookie (RFC 5389), at bytes 4..8 of every STUN message.
const STUN_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Parses one datagram as RTP, rejecting RTCP, STUN and malformed packets.
///
/// RTCP is told apart by its packet type in the second byte: 200..=207 (SR, RR, SDES, BYE,
/// APP, RTPFB, PSFB, XR), which as RTP would be payload types 72..=79 with the marker set,
/// types RFC 5761 forbids for RTP on a multiplexed port.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, RtpError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Err(RtpError::TooShort(buf.len()));
    };
    let version = b0 >> 6;
    if version == 0 && buf.get(4..8) == Some(&STUN_COOKIE[..]) {
        return Err(RtpError::Stun);
    }
    if buf.len() < RtpReader::MIN_HEADER_LEN {
        return Err(RtpError::TooShort(buf.len()));
    }
    if version != 2 {
        return Err(RtpError::Version(version));
    }
    if (200..=207).contains(&b1) {
        return Err(RtpError::Rtcp(b1));
    }
    let reader = RtpReader::new(buf).map_err(|e| match e {
        RtpReaderError::BufferTooShort(n) => RtpError::TooShort(n),
        RtpReaderError::UnsupportedVersion(v) => RtpError::Version(v),
        RtpReaderError::HeadersTruncated {
            header_len,
            buffer_len,
        } => RtpError::HeadersTruncated {
            needed: header_len,
            len: buffer_len,
        },
        RtpReaderError::PaddingLengthInvalid(n) => RtpError::Padding(n),
    })?;
    Ok(Packet {
        payload_type: reader.payload_type(),
        marker: reader.mark(),
        seq: u16::from(reader.sequence_number()),
        timestamp: reader.timestamp(),
        ssrc: reader.ssrc(),
        payload: reader.payload(),
    })
}

/// Writes one packet into `out` (cleared first). No allocation once `out` has the capacity.
pub fn build(header: &Header, payload: &[u8], out: &mut Vec<u8>) {
    let builder = RtpPacketBuilder::new()
        .payload_type(header.payload_type & 0x7F)
        .marked(header.marker)
        .sequence(Seq::from(header.seq))
        .timestamp(header.timestamp)
        .ssrc(header.ssrc)
        .payload(payload);
    out.clear();
    out.resize(builder.target_length(), 0);
    // Cannot fail: the payload type is masked to 7 bits, there is no extension, and `out`
    // has exactly the target length. Should rtp-rs ever disagree, no half packet is sent.
    if builder.build_into(out).is_err() {
        out.clear();
    }
}

/// `a - b` for sequence numbers, wrap-aware: positive when `a` is after `b` (within half
/// the sequence space).
pub fn seq_delta(a: u16, b: u16) -> i32 {
    Seq::from(a) - Seq::from(b)
}

/// `a - b` for timestamps, wrap-aware: positive when `a` is after `b`.
pub fn ts_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            payload_type: 0,
            marker: true,
            seq: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        }
    }

    #[test]
    fn a_built_packet_parses_back() {
        let mut out = Vec::new();
        build(&header(), &[0xFF; 160], &mut out);
        assert_eq!(out.len(), 172);
        assert_eq!(&out[..2], &[0x80, 0x80]);
        let p = parse(&out).unwrap();
        assert_eq!(p.header(), header());
        assert_eq!(p.payload, &[0xFF; 160][..]);
    }

    #[test]
    fn build_reuses_the_buffer() {
        let mut out = Vec::with_capacity(200);
        let ptr = out.as_ptr();
        for _ in 0..3 {
            build(&header(), &[1; 160], &mut out);
        }
        assert_eq!(out.as_ptr(), ptr);
        build(&header(), &[], &mut out);
        assert_eq!(out.len(), 12);
    }

    #[test]
    fn non_rtp_datagrams_are_refused_by_kind() {
        assert_eq!(parse(&[]), Err(RtpError::TooShort(0)));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort(11)));
        // A STUN binding request (RFC 5389): type 0x0001, length 0, cookie, transaction id.
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        stun.extend([7; 12]);
        assert_eq!(parse(&stun), Err(RtpError::Stun));
        assert_eq!(parse(&[0x40; 20]), Err(RtpError::Version(1)));
        // An RTCP receiver report: V=2, RC=1, PT=201.
        let mut rr = vec![0x81, 201, 0x00, 0x07];
        rr.extend([0; 28]);
        assert_eq!(parse(&rr), Err(RtpError::Rtcp(201)));
        let mut sr = vec![0x80, 200];
        sr.extend([0; 26]);
        assert_eq!(parse(&sr), Err(RtpError::Rtcp(200)));
    }

    #[test]
    fn bad_lengths_are_refused() {
        let mut p = Vec::new();
        build(&header(), &[1, 2, 3, 4], &mut p);
        // Two CSRCs announced, none there.
        let mut csrc = p.clone();
        csrc[0] |= 0x0F;
        assert!(matches!(
            parse(&csrc),
            Err(RtpError::HeadersTruncated { .. })
        ));
        // Extension flag without the extension header.
        let mut ext = p[..12].to_vec();
        ext[0] |= 0x10;
        assert!(matches!(
            parse(&ext),
            Err(RtpError::HeadersTruncated { .. })
        ));
        // Padding count larger than the packet, and zero.
        let mut pad = p.clone();
        pad[0] |= 0x20;
        *pad.last_mut().unwrap() = 200;
        assert_eq!(parse(&pad), Err(RtpError::Padding(200)));
        *pad.last_mut().unwrap() = 0;
        assert_eq!(parse(&pad), Err(RtpError::Padding(0)));
        // Valid padding of 2 is stripped from the payload.
        *pad.last_mut().unwrap() = 2;
        assert_eq!(parse(&pad).unwrap().payload, &[1, 2]);
    }

    #[test]
    fn csrcs_and_extensions_are_skipped() {
        let mut p = vec![0x80 | 0x10 | 0x01, 8, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9];
        p.extend([0xAA; 4]); // one CSRC
        p.extend([0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension of one word
        p.extend([0xD5; 3]);
        let parsed = parse(&p).unwrap();
        assert_eq!(parsed.payload_type, 8);
        assert_eq!(parsed.payload, &[0xD5; 3]);
        assert_eq!(parsed.ssrc, 9);
    }

    #[test]
    fn deltas_wrap() {
        assert_eq!(seq_delta(0, 65535), 1);
        assert_eq!(seq_delta(65535, 0), -1);
        assert_eq!(ts_delta(5, u32::MAX), 6);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        /// Datagrams that look like RTP (version 2) with arbitrary flags and lengths.
        #[test]
        fn rtp_looking_bytes_never_panic(
            b0 in 0x80u8..0xC0,
            rest in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut bytes = vec![b0];
            bytes.extend(rest);
            if let Ok(p) = parse(&bytes) {
                prop_assert!(p.payload.len() + 12 <= bytes.len());
            }
        }

        #[test]
        fn parse_of_build_is_identity(
            payload_type in 0u8..128,
            marker in any::<bool>(),
            seq in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let h = Header { payload_type, marker, seq, timestamp, ssrc };
            let mut out = Vec::new();
            build(&h, &payload, &mut out);
            let rtcp_like = marker && (72..=79).contains(&payload_type);
            match parse(&out) {
                Ok(p) => {
                    prop_assert!(!rtcp_like);
                    prop_assert_eq!(p.header(), h);
                    prop_assert_eq!(p.payload, &payload[..]);
                }
                Err(e) => {
                    prop_assert!(rtcp_like);
                    prop_assert_eq!(e, RtpError::Rtcp(payload_type | 0x80));
                }
            }
        }
    }
}
