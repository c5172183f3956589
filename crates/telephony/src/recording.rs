//! Call recordings: a bridged call's two parties in the two channels of one WAV file (debtor
//! left, agent right), written as the audio arrives and hashed when it is finished, so the
//! outcome in the ledger can name the file and prove it unchanged.
//!
//! Audio is placed by arrival time (8 samples per millisecond since the bridge), so the two
//! channels stay aligned whatever each leg's RTP timestamps say. Recordings never go to
//! logs: only the path and the hash do.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use media::g711::Law;
use media::wav::{Channel, Format, Recorder};

use crate::config::RecordingConfig;

/// The recorder rereads the finished file to hash it: the file is opened read-write.
type Shared = Arc<Mutex<Option<Recorder<File>>>>;

/// One leg's feed into a recording.
pub struct Tap {
    recorder: Shared,
    channel: Channel,
    start: Instant,
    samples: Vec<i16>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Tap {
    /// Decodes one packet's payload into this channel at its arrival time.
    pub fn push(&mut self, law: Law, payload: &[u8]) {
        let at = (self.start.elapsed().as_micros() * 8 / 1000) as u64;
        let at = at.saturating_sub(payload.len() as u64);
        self.samples.clear();
        law.decode_into(payload, &mut self.samples);
        let mut r = self.recorder.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = r.as_mut() {
            if let Err(e) = r.push(self.channel, at, &self.samples) {
                tracing::warn!(error = %e, "recording: write failed");
            }
        }
    }
}

/// A finished recording, as the call's outcome records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: PathBuf,
    pub sha256_hex: String,
    pub bytes: u64,
    pub duration_ms: u64,
}

impl Recorded {
    /// The outcome's `recording_ref`: `file:PATH;sha256=HEX;retain_days=N`.
    pub fn reference(&self, retain_days: u32) -> String {
        format!(
            "file:{};sha256={};retain_days={retain_days}",
            self.path.display(),
            self.sha256_hex
        )
    }
}

/// A recording in progress.
#[derive(Debug)]
pub struct Recording {
    recorder: Shared,
    path: PathBuf,
    start: Instant,
}

impl Recording {
    /// Starts `call`'s recording in the configured directory.
    pub fn start(cfg: &RecordingConfig, call: u64) -> std::io::Result<Recording> {
        std::fs::create_dir_all(&cfg.dir)?;
        let path = cfg.dir.join(format!("call-{call}.wav"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let format = match cfg.format.as_str() {
            "g711" => Format::G711Stereo(Law::Pcmu),
            _ => Format::Pcm16Stereo,
        };
        let recorder =
            Recorder::new(file, format).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Recording {
            recorder: Arc::new(Mutex::new(Some(recorder))),
            path,
            start: Instant::now(),
        })
    }

    /// A feed for one party.
    pub fn tap(&self, channel: Channel) -> Tap {
        Tap {
            recorder: self.recorder.clone(),
            channel,
            start: self.start,
            samples: Vec::with_capacity(240),
        }
    }

    /// Closes the file (taps fed after this write nothing) and hashes it.
    pub fn finish(self) -> std::io::Result<Recorded> {
        let recorder = self
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(recorder) = recorder else {
            return Err(std::io::Error::other("recording already finished"));
        };
        let info = recorder
            .finish()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Recorded {
            path: self.path,
            sha256_hex: info.sha256.iter().map(|b| format!("{b:02x}")).collect(),
            bytes: info.bytes,
            duration_ms: info.duration_ms,
        })
    }
}

/// Deletes recordings in `dir` older than `retention_days`; returns how many went. The SIP
/// network runs it every hour while it runs.
pub fn expire(dir: &Path, retention_days: u32) -> std::io::Result<usize> {
    let limit = Duration::from_secs(u64::from(retention_days) * 86_400);
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let age = entry
            .metadata()?
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok());
        if age.is_some_and(|a| a > limit) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recordings_past_their_retention_go() {
        let dir = tempfile::tempdir().expect("tmp");
        let old = dir.path().join("call-1.wav");
        let new = dir.path().join("call-2.wav");
        let other = dir.path().join("notes.txt");
        for p in [&old, &new, &other] {
            std::fs::write(p, b"x").expect("write");
        }
        let long_ago = SystemTime::now() - Duration::from_secs(3 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(long_ago))
            .expect("age");
        std::fs::File::options()
            .write(true)
            .open(&other)
            .and_then(|f| f.set_modified(long_ago))
            .expect("age");
        assert_eq!(expire(dir.path(), 2).expect("expire"), 1);
        assert!(!old.exists() && new.exists() && other.exists());
    }
}
