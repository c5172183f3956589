//! G.711 (ITU-T G.711, 1988): the two companding laws every PSTN trunk speaks. One byte per
//! 8 kHz sample; u-law (PCMU, payload type 0) in North America and Japan, A-law (PCMA,
//! payload type 8) elsewhere.
//!
//! Decoding is a 256-entry table built at compile time; encoding is the standard segment
//! search (a few shifts per sample), so neither allocates.

/// A G.711 law, named by its RTP payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Law {
    /// u-law, RTP payload type 0.
    Pcmu,
    /// A-law, RTP payload type 8.
    Pcma,
}

impl Law {
    /// The static RTP payload type (RFC 3551).
    pub const fn payload_type(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }

    /// The law of a static payload type, if it is one of the two.
    pub const fn from_payload_type(pt: u8) -> Option<Law> {
        match pt {
            0 => Some(Law::Pcmu),
            8 => Some(Law::Pcma),
            _ => None,
        }
    }

    /// The byte of silence (what comfort noise and gaps are filled with).
    pub const fn silence(self) -> u8 {
        match self {
            Law::Pcmu => 0xFF,
            Law::Pcma => 0xD5,
        }
    }

    /// One sample to 16-bit linear.
    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Pcmu => ULAW_TABLE[byte as usize],
            Law::Pcma => ALAW_TABLE[byte as usize],
        }
    }

    /// One 16-bit linear sample to this law.
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Pcmu => ulaw_encode(sample),
            Law::Pcma => alaw_encode(sample),
        }
    }

    /// Decodes `bytes` onto the end of `out`.
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Law::Pcmu => &ULAW_TABLE,
            Law::Pcma => &ALAW_TABLE,
        };
        out.extend(bytes.iter().map(|&b| table[b as usize]));
    }

    /// Encodes `samples` onto the end of `out`.
    pub fn encode_into(self, samples: &[i16], out: &mut Vec<u8>) {
        out.extend(samples.iter().map(|&s| self.encode(s)));
    }
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

const fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

fn ulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (31 - (s as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

const fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let sign = a & 0x80;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    // A-law's sign bit set means positive.
    if sign != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

fn alaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 {
        0x80
    } else {
        s = -s - 1;
        0
    };
    let s = s.min(32767) >> 3;
    let byte = if s < 32 {
        (s >> 1) as u8
    } else {
        let exponent = (31 - (s as u32).leading_zeros()) - 4;
        let mantissa = (s >> exponent) & 0x0F;
        (((exponent) << 4) as i32 | mantissa) as u8
    };
    (byte | sign) ^ 0x55
}

const fn table(law: Law) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Law::Pcmu => ulaw_decode(i as u8),
            Law::Pcma => alaw_decode(i as u8),
        };
        i += 1;
    }
    t
}

static ULAW_TABLE: [i16; 256] = table(Law::Pcmu);
static ALAW_TABLE: [i16; 256] = table(Law::Pcma);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // ITU-T G.711 reference points.
        assert_eq!(Law::Pcmu.decode(0xFF), 0);
        assert_eq!(Law::Pcmu.decode(0x7F), 0);
        assert_eq!(Law::Pcmu.decode(0x00), -32124);
        assert_eq!(Law::Pcmu.decode(0x80), 32124);
        assert_eq!(Law::Pcma.decode(0xD5), 8);
        assert_eq!(Law::Pcma.decode(0x55), -8);
        assert_eq!(Law::Pcma.decode(0xAA), 32256);
        assert_eq!(Law::Pcmu.encode(0), 0xFF);
        assert_eq!(Law::Pcma.encode(0), 0xD5);
        assert_eq!(Law::Pcmu.decode(Law::Pcmu.silence()), 0);
    }

    #[test]
    fn every_code_survives_a_round_trip() {
        for law in [Law::Pcmu, Law::Pcma] {
            for b in 0..=255u8 {
                let back = law.encode(law.decode(b));
                // u-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes to 0xFF.
                if law == Law::Pcmu && b == 0x7F {
                    assert_eq!(back, 0xFF);
                } else {
                    assert_eq!(back, b, "{law:?} code {b:#04x}");
                }
            }
        }
    }

    proptest! {
        /// Companding error grows with the amplitude but stays within one step of the
        /// segment: at most 1/16 of the magnitude plus the smallest step.
        #[test]
        fn the_error_is_within_one_step(s in any::<i16>()) {
            for law in [Law::Pcmu, Law::Pcma] {
                let back = law.decode(law.encode(s)) as i32;
                let err = (back - s as i32).abs();
                let bound = (s as i32).abs() / 16 + 132;
                prop_assert!(err <= bound, "{law:?} {s} -> {back}");
            }
        }
    }
}
