//! Cutting any sequence of pushes into 20 ms frames, the unit app_amd (through Asterisk's
//! DSP) decides on: RTP packets are usually 20 ms, but a caller may push 10 ms, 30 ms or a
//! whole file, and the verdict must not depend on how the audio was sliced.

/// Samples in one frame: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// One frame's duration.
pub const FRAME_MS: u32 = 20;

/// The partial frame carried between pushes.
#[derive(Debug, Clone)]
pub(crate) struct Frames {
    buf: [i16; FRAME_SAMPLES],
    len: usize,
}

impl Frames {
    pub(crate) fn new() -> Self {
        Frames {
            buf: [0; FRAME_SAMPLES],
            len: 0,
        }
    }

    /// Takes samples from the front of `rest` and returns the next whole frame, if they
    /// complete one.
    pub(crate) fn next(&mut self, rest: &mut &[i16]) -> Option<[i16; FRAME_SAMPLES]> {
        let room = FRAME_SAMPLES - self.len;
        let (head, tail) = rest.split_at(room.min(rest.len()));
        if let Some(dst) = self.buf.get_mut(self.len..self.len + head.len()) {
            dst.copy_from_slice(head);
        }
        self.len += head.len();
        *rest = tail;
        if self.len == FRAME_SAMPLES {
            self.len = 0;
            Some(self.buf)
        } else {
            None
        }
    }

    /// Appends up to `n` zero samples; returns how many it took, and the frame if they
    /// completed one.
    pub(crate) fn zeros(&mut self, n: usize) -> (usize, Option<[i16; FRAME_SAMPLES]>) {
        let take = (FRAME_SAMPLES - self.len).min(n);
        if let Some(dst) = self.buf.get_mut(self.len..self.len + take) {
            dst.fill(0);
        }
        self.len += take;
        if self.len == FRAME_SAMPLES {
            self.len = 0;
            (take, Some(self.buf))
        } else {
            (take, None)
        }
    }

    /// Samples waiting for the rest of their frame.
    pub(crate) fn pending(&self) -> usize {
        self.len
    }
}

/// A frame's level as Asterisk's DSP measures it: the mean absolute amplitude, in integer
/// arithmetic (`accum / len`).
pub(crate) fn level(frame: &[i16]) -> u32 {
    if frame.is_empty() {
        return 0;
    }
    let sum: u32 = frame.iter().map(|&x| u32::from(x.unsigned_abs())).sum();
    sum / frame.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_do_not_depend_on_slicing() {
        let x: Vec<i16> = (0..1000).map(|i| i as i16).collect();
        for step in [1, 7, 80, 160, 333, 1000] {
            let mut f = Frames::new();
            let mut got = Vec::new();
            for chunk in x.chunks(step) {
                let mut rest = chunk;
                while let Some(frame) = f.next(&mut rest) {
                    got.extend_from_slice(&frame);
                }
            }
            assert_eq!(got[..], x[..960], "step {step}");
            assert_eq!(f.pending(), 40);
        }
    }

    #[test]
    fn zeros_complete_a_partial_frame() {
        let mut f = Frames::new();
        let mut rest: &[i16] = &[5; 100];
        assert!(f.next(&mut rest).is_none());
        let (took, frame) = f.zeros(500);
        assert_eq!(took, 60);
        let frame = frame.expect("frame");
        assert_eq!(frame[99], 5);
        assert_eq!(frame[100], 0);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn level_is_the_mean_absolute_amplitude() {
        assert_eq!(level(&[]), 0);
        assert_eq!(level(&[-300, 300, 100, -101]), 200);
        assert_eq!(level(&[i16::MIN; 160]), 32768);
    }
}
