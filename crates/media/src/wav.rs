//! WAV files: reading the prerecorded messages (safe-harbor, voicemail) operators upload,
//! and writing two-channel call recordings.
//!
//! [`WavReader`] walks RIFF chunks with checked arithmetic, so an uploaded file of any
//! bytes is refused with a [`WavError`] rather than a panic (a proptest feeds it arbitrary
//! bytes). It reads PCM 16-bit, u-law and A-law, the formats telephony audio comes in.
//!
//! [`Recorder`] writes a call as it happens: the debtor on the left channel, the agent (and
//! our prompts) on the right, each placed at its own time on the call's 8 kHz clock. A
//! recording is evidence, so its [`RecordingInfo`] carries the SHA-256 of the finished file
//! for the call's outcome; and a recording is personal data, so no type here prints audio
//! in its `Debug` output (recordings never land in logs).

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use crate::g711::Law;

/// The sample rate of everything this crate reads and writes.
pub const SAMPLE_RATE: u32 = 8000;

const TAG_PCM: u16 = 1;
const TAG_ALAW: u16 = 6;
const TAG_MULAW: u16 = 7;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Why WAV bytes are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF file")]
    NotRiff,
    #[error("a RIFF file, but not WAVE")]
    NotWave,
    #[error("no fmt chunk before the data")]
    MissingFmt,
    #[error("no data chunk")]
    MissingData,
    #[error("the {0} chunk runs past the end of the file")]
    Truncated(&'static str),
    #[error("fmt chunk of {0} bytes, at least 16 are needed")]
    FmtTooShort(u32),
    #[error("invalid format: {0}")]
    BadFormat(&'static str),
    #[error(
        "format tag {tag} with {bits} bits per sample is not read here (PCM 16-bit, u-law or A-law)"
    )]
    UnsupportedEncoding { tag: u16, bits: u16 },
    #[error("sample rate {0} Hz, prompts must be 8000 Hz (resample before upload)")]
    UnsupportedRate(u32),
    #[error("{0} channels, prompts must be mono")]
    UnsupportedChannels(u16),
    #[error("channel {channel} asked of a file with {channels}")]
    NoSuchChannel { channel: u16, channels: u16 },
    #[error("the file holds no audio")]
    Empty,
}

/// How samples are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Pcm16,
    G711(Law),
    /// Anything else, with its format tag and bits per sample.
    Other {
        tag: u16,
        bits: u16,
    },
}

impl Encoding {
    fn bytes_per_sample(self) -> Option<usize> {
        match self {
            Encoding::Pcm16 => Some(2),
            Encoding::G711(_) => Some(1),
            Encoding::Other { .. } => None,
        }
    }
}

/// The fmt chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    pub encoding: Encoding,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits_per_sample: u16,
    /// Bytes per frame (one sample of every channel).
    pub block_align: u16,
}

/// A parsed WAV file borrowing its bytes.
#[derive(Clone, Copy)]
pub struct WavReader<'a> {
    format: WavFormat,
    data: &'a [u8],
}

impl std::fmt::Debug for WavReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavReader")
            .field("format", &self.format)
            .field("data_bytes", &self.data.len())
            .finish()
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

impl<'a> WavReader<'a> {
    /// Parses a WAV file: the RIFF header, then chunks until both fmt and data are found
    /// (others skipped). A data chunk whose size runs past the end of the file (a recording
    /// cut short, a streaming writer's placeholder size) or is 0 (a writer that fills the
    /// sizes in when it finishes) is read up to the end.
    pub fn new(bytes: &'a [u8]) -> Result<WavReader<'a>, WavError> {
        if bytes.get(0..4) != Some(b"RIFF") {
            return Err(WavError::NotRiff);
        }
        if bytes.get(8..12) != Some(b"WAVE") {
            return Err(WavError::NotWave);
        }
        let mut pos = 12usize;
        let mut format = None;
        loop {
            let (Some(id), Some(size)) = (
                bytes.get(pos..pos.saturating_add(4)),
                u32_at(bytes, pos.saturating_add(4)),
            ) else {
                return Err(if format.is_none() {
                    WavError::MissingFmt
                } else {
                    WavError::MissingData
                });
            };
            let start = pos.saturating_add(8);
            let end = start
                .checked_add(size as usize)
                .ok_or(WavError::Truncated("RIFF"))?;
            match id {
                b"fmt " => {
                    let body = bytes.get(start..end).ok_or(WavError::Truncated("fmt"))?;
                    format = Some(parse_fmt(body, size)?);
                }
                b"data" => {
                    let format = format.ok_or(WavError::MissingFmt)?;
                    // 0 is the placeholder of a writer that has not finished (baresip's
                    // sndfile until its call ends): what follows is the audio so far.
                    let end = if size == 0 { bytes.len() } else { end };
                    let data = bytes.get(start..end.min(bytes.len())).unwrap_or(&[]);
                    return Ok(WavReader { format, data });
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            pos = end
                .checked_add(size as usize & 1)
                .ok_or(WavError::Truncated("RIFF"))?;
        }
    }

    pub fn format(&self) -> WavFormat {
        self.format
    }

    /// The raw bytes of the data chunk.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Complete frames in the data (a trailing partial frame is ignored).
    pub fn frames(&self) -> usize {
        self.data.len() / usize::from(self.format.block_align)
    }

    /// The duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        match self.format.sample_rate {
            0 => 0,
            rate => self.frames() as u64 * 1000 / u64::from(rate),
        }
    }

    /// One channel's samples as 16-bit linear (0 is the left channel).
    pub fn channel(&self, channel: u16) -> Result<Vec<i16>, WavError> {
        let f = self.format;
        if channel >= f.channels {
            return Err(WavError::NoSuchChannel {
                channel,
                channels: f.channels,
            });
        }
        let bps = f
            .encoding
            .bytes_per_sample()
            .ok_or(WavError::UnsupportedEncoding {
                tag: match f.encoding {
                    Encoding::Other { tag, .. } => tag,
                    _ => 0,
                },
                bits: f.bits_per_sample,
            })?;
        let at = usize::from(channel) * bps;
        if at + bps > usize::from(f.block_align) {
            return Err(WavError::BadFormat(
                "block align smaller than the channels' samples",
            ));
        }
        let frames = self.data.chunks_exact(usize::from(f.block_align));
        Ok(match f.encoding {
            Encoding::Pcm16 => frames
                .filter_map(|fr| u16_at(fr, at))
                .map(|s| s as i16)
                .collect(),
            Encoding::G711(law) => frames
                .filter_map(|fr| fr.get(at))
                .map(|&b| law.decode(b))
                .collect(),
            Encoding::Other { .. } => Vec::new(),
        })
    }
}

fn parse_fmt(body: &[u8], size: u32) -> Result<WavFormat, WavError> {
    let (Some(mut tag), Some(channels), Some(sample_rate), Some(block_align), Some(bits)) = (
        u16_at(body, 0),
        u16_at(body, 2),
        u32_at(body, 4),
        u16_at(body, 12),
        u16_at(body, 14),
    ) else {
        return Err(WavError::FmtTooShort(size));
    };
    if tag == TAG_EXTENSIBLE {
        // WAVE_FORMAT_EXTENSIBLE: the real tag opens the sub-format GUID at offset 24.
        tag = u16_at(body, 24).ok_or(WavError::BadFormat("extensible fmt without a sub-format"))?;
    }
    if channels == 0 {
        return Err(WavError::BadFormat("no channels"));
    }
    if block_align == 0 {
        return Err(WavError::BadFormat("block align of 0"));
    }
    let encoding = match (tag, bits) {
        (TAG_PCM, 16) => Encoding::Pcm16,
        (TAG_MULAW, 8) => Encoding::G711(Law::Pcmu),
        (TAG_ALAW, 8) => Encoding::G711(Law::Pcma),
        (tag, bits) => Encoding::Other { tag, bits },
    };
    Ok(WavFormat {
        encoding,
        channels,
        sample_rate,
        bits_per_sample: bits,
        block_align,
    })
}

/// How a recording is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// 16-bit linear, 32 kB/s: what every player and transcriber reads.
    Pcm16Stereo,
    /// G.711 as it came off the wire, 16 kB/s: half the size.
    G711Stereo(Law),
}

impl Format {
    fn block_align(self) -> u16 {
        match self {
            Format::Pcm16Stereo => 4,
            Format::G711Stereo(_) => 2,
        }
    }

    /// The WAV header for `frames` frames. G.711 has the 18-byte fmt and the fact chunk the
    /// WAV specification asks of non-PCM formats.
    fn header(self, frames: u32) -> Vec<u8> {
        let align = self.block_align();
        let data_len = frames.saturating_mul(u32::from(align));
        let (tag, bits, fmt_len, fact) = match self {
            Format::Pcm16Stereo => (TAG_PCM, 16u16, 16u32, false),
            Format::G711Stereo(Law::Pcmu) => (TAG_MULAW, 8, 18, true),
            Format::G711Stereo(Law::Pcma) => (TAG_ALAW, 8, 18, true),
        };
        let mut h = Vec::with_capacity(58);
        let header_len = 12 + 8 + fmt_len + if fact { 12 } else { 0 } + 8;
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&(header_len - 8).saturating_add(data_len).to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&fmt_len.to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
        h.extend_from_slice(&(SAMPLE_RATE * u32::from(align)).to_le_bytes());
        h.extend_from_slice(&align.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        if fact {
            h.extend_from_slice(&0u16.to_le_bytes()); // cbSize
            h.extend_from_slice(b"fact");
            h.extend_from_slice(&4u32.to_le_bytes());
            h.extend_from_slice(&frames.to_le_bytes());
        }
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_len.to_le_bytes());
        h
    }
}

/// A channel of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Left: the called party.
    Debtor,
    /// Right: the agent, and our prompts.
    Agent,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Debtor => 0,
            Channel::Agent => 1,
        }
    }
}

/// What a finished recording is, for the call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingInfo {
    /// The file's length.
    pub bytes: u64,
    pub duration_ms: u64,
    /// SHA-256 of the whole file as finished.
    pub sha256: [u8; 32],
}

impl RecordingInfo {
    /// The hash in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("recording I/O: {0}")]
    Io(#[from] io::Error),
    #[error("audio at sample {0} is past the 4 GiB a WAV file can hold")]
    TooLong(u64),
}

/// How far (1 s) one channel may run ahead of the other before the lagging one's missing
/// audio is written as silence: the memory a recording holds, and how late audio may be.
const WINDOW: u64 = SAMPLE_RATE as u64;
/// Frames written in one go at least (200 ms), so a file sees few small writes.
const WRITE_CHUNK: u64 = 1600;

/// A two-channel call recording being written.
///
/// Audio is placed at its sample position on the call's clock (8 kHz, from the start of
/// the recording); gaps are silence. Audio overlapping what the same channel already has
/// is **mixed** (saturating add: a prompt over the agent) while it is still in the window
/// being assembled; audio for positions already written is **dropped** and counted
/// ([`dropped_samples`](Recorder::dropped_samples)). Positions are written once both
/// channels have passed them, or once one channel is a second ahead of them.
///
/// [`finish`](Recorder::finish) patches the header and hashes the file by reading it back
/// through `Seek` (so it needs `Read` too: open files read-write): the hash is of the bytes
/// on disk, header included, whatever the writer did.
pub struct Recorder<W> {
    w: W,
    format: Format,
    start: u64,
    written: u64,
    pending: Vec<[i16; 2]>,
    ends: [u64; 2],
    dropped: u64,
    scratch: Vec<u8>,
    decoded: Vec<i16>,
}

impl<W> std::fmt::Debug for Recorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("format", &self.format)
            .field("written_frames", &self.written)
            .field("pending_frames", &self.pending.len())
            .field("dropped_samples", &self.dropped)
            .finish()
    }
}

impl<W: Write + Seek> Recorder<W> {
    /// Starts a recording at `w`'s current position (the header is written now, with its
    /// sizes patched by [`finish`](Self::finish)).
    pub fn new(mut w: W, format: Format) -> Result<Recorder<W>, RecordError> {
        let start = w.stream_position()?;
        w.write_all(&format.header(0))?;
        Ok(Recorder {
            w,
            format,
            start,
            written: 0,
            pending: Vec::new(),
            ends: [0; 2],
            dropped: 0,
            scratch: Vec::new(),
            decoded: Vec::new(),
        })
    }

    /// The most frames a WAV file can hold in this format.
    fn max_frames(&self) -> u64 {
        (u64::from(u32::MAX) - 58) / u64::from(self.format.block_align())
    }

    /// Places `samples` on `channel` from sample `at_sample` of the call.
    pub fn push(
        &mut self,
        channel: Channel,
        at_sample: u64,
        samples: &[i16],
    ) -> Result<(), RecordError> {
        let end = at_sample.saturating_add(samples.len() as u64);
        if end > self.max_frames() {
            return Err(RecordError::TooLong(end));
        }
        let skip = self
            .written
            .saturating_sub(at_sample)
            .min(samples.len() as u64) as usize;
        self.dropped += skip as u64;
        let samples = samples.get(skip..).unwrap_or(&[]);
        if samples.is_empty() {
            return Ok(());
        }
        let at = at_sample.max(self.written);
        if at > self.written + WINDOW {
            self.flush_to(at - WINDOW)?;
        }
        let offset = (at - self.written) as usize;
        if self.pending.len() < offset + samples.len() {
            self.pending.resize(offset + samples.len(), [0, 0]);
        }
        let ch = channel.index();
        for (frame, &s) in self.pending.iter_mut().skip(offset).zip(samples) {
            if let Some(slot) = frame.get_mut(ch) {
                *slot = slot.saturating_add(s);
            }
        }
        if let Some(e) = self.ends.get_mut(ch) {
            *e = (*e).max(end);
        }
        let [a, b] = self.ends;
        let target = a.min(b).max(a.max(b).saturating_sub(WINDOW));
        if target >= self.written + WRITE_CHUNK {
            self.flush_to(target)?;
        }
        Ok(())
    }

    /// [`push`](Self::push) of G.711 bytes as they came in a packet.
    pub fn push_g711(
        &mut self,
        channel: Channel,
        at_sample: u64,
        law: Law,
        bytes: &[u8],
    ) -> Result<(), RecordError> {
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        law.decode_into(bytes, &mut decoded);
        let r = self.push(channel, at_sample, &decoded);
        self.decoded = decoded;
        r
    }

    /// Samples dropped for arriving after their position was written.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped
    }

    /// Writes frames up to (not including) `target`: the window's, then silence.
    fn flush_to(&mut self, target: u64) -> io::Result<()> {
        while self.written < target {
            let n = (target - self.written).min(WINDOW * 4) as usize;
            self.scratch.clear();
            let from_pending = n.min(self.pending.len());
            let silent = n - from_pending;
            let frames = self
                .pending
                .iter()
                .take(from_pending)
                .chain(std::iter::repeat_n(&[0i16, 0], silent));
            match self.format {
                Format::Pcm16Stereo => {
                    for &[l, r] in frames {
                        self.scratch.extend_from_slice(&l.to_le_bytes());
                        self.scratch.extend_from_slice(&r.to_le_bytes());
                    }
                }
                Format::G711Stereo(law) => {
                    for &[l, r] in frames {
                        self.scratch.push(law.encode(l));
                        self.scratch.push(law.encode(r));
                    }
                }
            }
            self.w.write_all(&self.scratch)?;
            self.pending.drain(..from_pending);
            self.written += n as u64;
        }
        Ok(())
    }
}

impl<W: Read + Write + Seek> Recorder<W> {
    /// Writes what is left (up to the later channel's end), patches the header's sizes and
    /// hashes the file as it is on disk.
    pub fn finish(mut self) -> Result<RecordingInfo, RecordError> {
        let [a, b] = self.ends;
        let end = a.max(b).max(self.written + self.pending.len() as u64);
        self.flush_to(end)?;
        let frames = u32::try_from(self.written).map_err(|_| RecordError::TooLong(self.written))?;
        let header = self.format.header(frames);
        self.w.seek(SeekFrom::Start(self.start))?;
        self.w.write_all(&header)?;
        self.w.flush()?;
        self.w.seek(SeekFrom::Start(self.start))?;
        let total = header.len() as u64 + self.written * u64::from(self.format.block_align());
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = total;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            self.w.read_exact(chunk)?;
            hasher.update(&*chunk);
            left -= want as u64;
        }
        self.w.seek(SeekFrom::Start(self.start + total))?;
        Ok(RecordingInfo {
            bytes: total,
            duration_ms: self.written * 1000 / u64::from(SAMPLE_RATE),
            sha256: hasher.finalize().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn pcm16_mono(rate: u32, samples: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        let data_len = samples.len() as u32 * 2;
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data_len).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * 2).to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        // An odd-sized chunk before the data, padded.
        v.extend_from_slice(b"LIST");
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3, 0]);
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data_len.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn a_pcm_file_is_read() {
        let bytes = pcm16_mono(8000, &[1, -2, 3, i16::MIN]);
        let r = WavReader::new(&bytes).unwrap();
        assert_eq!(r.format().encoding, Encoding::Pcm16);
        assert_eq!(r.format().channels, 1);
        assert_eq!(r.frames(), 4);
        assert_eq!(r.channel(0).unwrap(), [1, -2, 3, i16::MIN]);
        assert_eq!(
            r.channel(1),
            Err(WavError::NoSuchChannel {
                channel: 1,
                channels: 1
            })
        );
        assert!(!format!("{r:?}").contains("-2"));
    }

    #[test]
    fn malformed_files_are_refused_clearly() {
        assert_eq!(WavReader::new(b"").unwrap_err(), WavError::NotRiff);
        assert_eq!(
            WavReader::new(b"RIFF\0\0\0\0AVI ").unwrap_err(),
            WavError::NotWave
        );
        assert_eq!(
            WavReader::new(b"RIFF\0\0\0\0WAVE").unwrap_err(),
            WavError::MissingFmt
        );
        let good = pcm16_mono(8000, &[1, 2]);
        // Data before fmt.
        let mut data_first = b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\x01\0".to_vec();
        data_first.extend_from_slice(&good[12..36]);
        assert_eq!(
            WavReader::new(&data_first).unwrap_err(),
            WavError::MissingFmt
        );
        // fmt cut short.
        assert_eq!(
            WavReader::new(&good[..30]).unwrap_err(),
            WavError::Truncated("fmt")
        );
        // fmt without data.
        assert_eq!(
            WavReader::new(&good[..36]).unwrap_err(),
            WavError::MissingData
        );
        // A data chunk claiming more than there is reads what there is.
        let mut long = good.clone();
        let n = long.len();
        long[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(WavReader::new(&long).unwrap().channel(0).unwrap(), [1, 2]);
        // So is one whose size was left at 0 (and the RIFF size too) by an unfinished writer.
        let mut open = good.clone();
        open[4..8].copy_from_slice(&0u32.to_le_bytes());
        open[n - 8..n - 4].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(WavReader::new(&open).unwrap().channel(0).unwrap(), [1, 2]);
        // Zero channels, zero block align.
        let mut bad = good.clone();
        bad[22] = 0;
        assert_eq!(
            WavReader::new(&bad).unwrap_err(),
            WavError::BadFormat("no channels")
        );
        let mut bad = good.clone();
        bad[32] = 0;
        assert_eq!(
            WavReader::new(&bad).unwrap_err(),
            WavError::BadFormat("block align of 0")
        );
    }

    fn record(
        format: Format,
        pushes: &[(Channel, u64, Vec<i16>)],
    ) -> (Vec<u8>, RecordingInfo, u64) {
        let mut file = Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut file, format).unwrap();
        for (ch, at, samples) in pushes {
            rec.push(*ch, *at, samples).unwrap();
        }
        let dropped = rec.dropped_samples();
        let info = rec.finish().unwrap();
        (file.into_inner(), info, dropped)
    }

    #[test]
    fn channels_land_at_their_positions() {
        let (bytes, info, dropped) = record(
            Format::Pcm16Stereo,
            &[
                (Channel::Debtor, 0, vec![100; 160]),
                (Channel::Agent, 80, vec![-7; 160]),
                (Channel::Debtor, 400, vec![5; 100]),
                // Overlap still in the window: mixed.
                (Channel::Agent, 100, vec![1; 10]),
            ],
        );
        assert_eq!(dropped, 0);
        let r = WavReader::new(&bytes).unwrap();
        assert_eq!(r.format().channels, 2);
        assert_eq!(r.frames(), 500);
        assert_eq!(info.bytes, bytes.len() as u64);
        assert_eq!(info.duration_ms, 62);
        let left = r.channel(0).unwrap();
        let right = r.channel(1).unwrap();
        assert!(left[..160].iter().all(|&s| s == 100));
        assert!(left[160..400].iter().all(|&s| s == 0));
        assert!(left[400..].iter().all(|&s| s == 5));
        assert!(right[..80].iter().all(|&s| s == 0));
        assert!(right[100..110].iter().all(|&s| s == -6));
        assert!(right[110..240].iter().all(|&s| s == -7));
        assert!(right[240..].iter().all(|&s| s == 0));
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(info.sha256, digest);
        assert_eq!(info.sha256_hex().len(), 64);
    }

    #[test]
    fn g711_recordings_have_a_fact_chunk_and_read_back() {
        let (bytes, info, _) = record(
            Format::G711Stereo(Law::Pcma),
            &[
                (Channel::Debtor, 0, vec![1000; 8]),
                (Channel::Agent, 0, vec![-1000; 8]),
            ],
        );
        assert_eq!(bytes.len(), 58 + 16);
        assert_eq!(&bytes[38..42], b"fact");
        assert_eq!(info.bytes, 74);
        let r = WavReader::new(&bytes).unwrap();
        assert_eq!(r.format().encoding, Encoding::G711(Law::Pcma));
        let back = Law::Pcma.decode(Law::Pcma.encode(1000));
        assert_eq!(r.channel(0).unwrap(), [back; 8]);
        assert_eq!(r.channel(1).unwrap(), [-back; 8]);
    }

    #[test]
    fn audio_older_than_the_window_is_dropped() {
        let (bytes, _, dropped) = record(
            Format::Pcm16Stereo,
            &[
                (Channel::Debtor, 0, vec![1; 20_000]),
                // The agent's channel is silent; this comes 2 s late for its place.
                (Channel::Agent, 0, vec![9; 100]),
                (Channel::Agent, 20_000, vec![2; 10]),
            ],
        );
        assert_eq!(dropped, 100);
        let r = WavReader::new(&bytes).unwrap();
        assert_eq!(r.frames(), 20_010);
        assert!(r.channel(1).unwrap()[..20_000].iter().all(|&s| s == 0));
    }

    #[test]
    fn a_long_gap_is_written_as_silence_without_holding_it() {
        let mut file = Cursor::new(Vec::new());
        let mut rec = Recorder::new(&mut file, Format::G711Stereo(Law::Pcmu)).unwrap();
        rec.push(Channel::Debtor, 0, &[1; 160]).unwrap();
        rec.push_g711(Channel::Agent, 8000 * 60, Law::Pcmu, &[0x80; 160])
            .unwrap();
        assert!(rec.pending.len() <= (WINDOW + 160) as usize);
        assert!(matches!(
            rec.push(Channel::Agent, u64::MAX - 1, &[1, 2]),
            Err(RecordError::TooLong(_))
        ));
        let info = rec.finish().unwrap();
        assert_eq!(info.duration_ms, 60_020);
        let bytes = file.into_inner();
        let right = WavReader::new(&bytes).unwrap().channel(1).unwrap();
        assert_eq!(right[8000 * 60], Law::Pcmu.decode(0x80));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(r) = WavReader::new(&bytes) {
                let _ = r.channel(0);
                let _ = r.duration_ms();
            }
        }

        /// A valid header with arbitrary fields and sizes after it.
        #[test]
        fn arbitrary_chunks_never_panic(
            fmt in proptest::collection::vec(any::<u8>(), 0..48),
            fmt_size in any::<u32>(),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
            bytes.extend_from_slice(&fmt_size.to_le_bytes());
            bytes.extend_from_slice(&fmt);
            bytes.extend_from_slice(b"data");
            bytes.extend_from_slice(&tail);
            if let Ok(r) = WavReader::new(&bytes) {
                for ch in 0..3 {
                    let _ = r.channel(ch);
                }
            }
        }

        /// What each channel was given comes back at its place (in order, gaps silent).
        #[test]
        fn a_recording_reads_back(
            chunks in proptest::collection::vec((any::<bool>(), 0u64..400, 1usize..400, any::<i16>()), 1..30),
            g711 in any::<bool>(),
        ) {
            let format = if g711 { Format::G711Stereo(Law::Pcmu) } else { Format::Pcm16Stereo };
            let mut expect = [Vec::<i16>::new(), Vec::new()];
            let mut at = [0u64; 2];
            let mut pushes = Vec::new();
            for (agent, gap, len, value) in chunks {
                let ch = usize::from(agent);
                let start = at[ch] + gap;
                pushes.push((if agent { Channel::Agent } else { Channel::Debtor }, start, vec![value; len]));
                let e = &mut expect[ch];
                e.resize(start as usize, 0);
                e.extend(std::iter::repeat_n(value, len));
                at[ch] = start + len as u64;
            }
            // In time order, as a call produces them.
            pushes.sort_by_key(|p| p.1);
            let (bytes, info, dropped) = record(format, &pushes);
            prop_assert_eq!(dropped, 0);
            let r = WavReader::new(&bytes).unwrap();
            let frames = expect[0].len().max(expect[1].len());
            prop_assert_eq!(r.frames(), frames);
            prop_assert_eq!(info.bytes as usize, bytes.len());
            for (ch, want) in expect.iter().enumerate() {
                let mut want = want.clone();
                want.resize(frames, 0);
                if g711 {
                    for s in &mut want { *s = Law::Pcmu.decode(Law::Pcmu.encode(*s)); }
                }
                prop_assert_eq!(r.channel(ch as u16).unwrap(), want);
            }
        }
    }
}
