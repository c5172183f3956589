//! The audio the peers play, generated at test time with espeak-ng and sox (no binary audio in
//! the repository) and cached under the system temp directory in a directory named by a hash
//! of the recipe, so a changed recipe regenerates and parallel test processes share one copy.
//!
//! Every clip exists as an 8 kHz mono 16-bit WAV (baresip's aufile, the tests' checks) and as
//! raw G.711 µ-law and A-law (SIPp's `rtp_stream` sends raw payload bytes, 160 a packet).
//! Clips that scenarios time themselves against are cut to exact lengths: "Hello?" and its
//! silence 3 s, greeting 8 s + beep 0.4 s + silence 0.6 s, SIT and announcement 5 s.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::tools::run;

/// The G.711 law a clip is sent in, with the RTP payload type and SDP name it goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// µ-law, payload type 0 (what the dialer offers first).
    #[default]
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name in SDP's rtpmap.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// One generated clip in its three forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// 8 kHz mono 16-bit PCM.
    pub wav: PathBuf,
    /// The same as raw G.711 µ-law.
    pub pcmu: PathBuf,
    /// The same as raw G.711 A-law.
    pub pcma: PathBuf,
}

impl Clip {
    fn in_dir(dir: &Path, name: &str) -> Clip {
        Clip {
            wav: dir.join(format!("{name}.wav")),
            pcmu: dir.join(format!("{name}.pcmu")),
            pcma: dir.join(format!("{name}.pcma")),
        }
    }

    /// The raw file for `codec`.
    pub fn raw(&self, codec: Codec) -> &Path {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// The value of a SIPp `rtp_stream` action for this clip: `file,loops,payload type`
    /// (`loops` -1 repeats until the call ends).
    pub fn rtp_stream(&self, codec: Codec, loops: i32) -> String {
        format!(
            "{},{loops},{}",
            self.raw(codec).display(),
            codec.payload_type()
        )
    }

    fn all(&self) -> [&Path; 3] {
        [&self.wav, &self.pcmu, &self.pcma]
    }
}

/// The generated clips (see the module documentation for their lengths).
#[derive(Debug, Clone, PartialEq)]
pub struct Fixtures {
    /// Where they are.
    pub dir: PathBuf,
    /// A person answering: "Hello?" then silence, 3 s in all (what AMD calls a human).
    pub hello: Clip,
    /// A debtor talking (a few sentences, then 2 s of silence); looped after the hello.
    pub speech: Clip,
    /// An answering machine: an 8 s greeting, a 1 kHz beep of 0.4 s, 0.6 s of silence.
    pub greeting_beep: Clip,
    /// A number not in service: SIT tri-tone (913.8, 1370.6, 1776.7 Hz for 274, 274, 380 ms)
    /// and an announcement, 5 s in all.
    pub sit: Clip,
    /// North American ringback: 440 + 480 Hz for 2 s, then 4 s of silence (one cycle).
    pub ringback: Clip,
    /// The agent talking (a few sentences, then 1 s of silence).
    pub agent_voice: Clip,
    /// One second of silence (to keep RTP flowing after a one-shot clip).
    pub silence: Clip,
}

/// The clip names, in the order of [`Fixtures`]' fields.
const CLIPS: [&str; 7] = [
    "hello",
    "speech",
    "greeting_beep",
    "sit",
    "ringback",
    "agent_voice",
    "silence",
];

/// Bumped when the way a recipe is run changes without its text changing.
const RECIPE_VERSION: &str = "testpeers fixtures v1";

/// sox arguments for 8 kHz mono 16-bit output.
const PCM8K: [&str; 6] = ["-r", "8000", "-c", "1", "-b", "16"];

/// One command of the recipe, run in the build directory.
#[derive(Debug, Clone)]
struct Step {
    program: &'static str,
    args: Vec<String>,
}

fn step(program: &'static str, args: &[&str]) -> Step {
    Step {
        program,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// Text to speech at 8 kHz, normalised to -6 dBFS peak, then `effects` (sox effect words).
fn speak(out: &str, voice: &str, rate: &str, text: &str, effects: &[&str]) -> Vec<Step> {
    let tts = format!("{out}.tts.wav");
    let mut convert: Vec<&str> = vec![&tts];
    convert.extend(PCM8K);
    convert.push(out);
    convert.extend(["gain", "-n", "-6"]);
    convert.extend(effects);
    vec![
        step("espeak-ng", &["-v", voice, "-s", rate, "-w", &tts, text]),
        step("sox", &convert),
    ]
}

/// A synthesised signal (`sox -n ... synth ...`) at 8 kHz.
fn synth(out: &str, effects: &[&str]) -> Step {
    let mut args: Vec<&str> = vec!["-n"];
    args.extend(PCM8K);
    args.push(out);
    args.extend(effects);
    step("sox", &args)
}

/// Concatenation of WAVs, then `effects`.
fn concat(inputs: &[&str], out: &str, effects: &[&str]) -> Step {
    let mut args: Vec<&str> = inputs.to_vec();
    args.push(out);
    args.extend(effects);
    step("sox", &args)
}

/// The whole recipe: every command, in order. Its text is the cache key.
fn recipe() -> Vec<Step> {
    let mut steps = Vec::new();
    steps.extend(speak(
        "hello.wav",
        "en-us",
        "165",
        "Hello?",
        &["pad", "0", "3", "trim", "0", "3"],
    ));
    steps.extend(speak(
        "speech.wav",
        "en-us",
        "160",
        "Yes, this is John speaking. What is this about? I already paid that bill last month, I think.",
        &["pad", "0", "2"],
    ));
    steps.extend(speak(
        "greeting.wav",
        "en-us",
        "155",
        "Hi, you have reached John and Mary. We can't come to the phone right now. Please leave a message after the tone.",
        &["pad", "0", "8", "trim", "0", "8"],
    ));
    steps.push(synth(
        "beep.wav",
        &["synth", "0.4", "sine", "1000", "vol", "0.5"],
    ));
    steps.push(synth("gap06.wav", &["trim", "0", "0.6"]));
    steps.push(concat(
        &["greeting.wav", "beep.wav", "gap06.wav"],
        "greeting_beep.wav",
        &[],
    ));
    steps.push(synth(
        "sit1.wav",
        &["synth", "0.274", "sine", "913.8", "vol", "0.3"],
    ));
    steps.push(synth(
        "sit2.wav",
        &["synth", "0.274", "sine", "1370.6", "vol", "0.3"],
    ));
    steps.push(synth(
        "sit3.wav",
        &["synth", "0.380", "sine", "1776.7", "vol", "0.3"],
    ));
    steps.push(synth("gap02.wav", &["trim", "0", "0.2"]));
    steps.extend(speak(
        "announcement.wav",
        "en-us",
        "165",
        "We're sorry. The number you have dialed is not in service.",
        &[],
    ));
    steps.push(concat(
        &[
            "sit1.wav",
            "sit2.wav",
            "sit3.wav",
            "gap02.wav",
            "announcement.wav",
        ],
        "sit.wav",
        &["pad", "0", "5", "trim", "0", "5"],
    ));
    // The two tones at the same level: sox -m scales each input by 1/2.
    steps.push(synth(
        "rb440.wav",
        &["synth", "2", "sine", "440", "vol", "0.5"],
    ));
    steps.push(synth(
        "rb480.wav",
        &["synth", "2", "sine", "480", "vol", "0.5"],
    ));
    steps.push(step(
        "sox",
        &[
            "-m",
            "rb440.wav",
            "rb480.wav",
            "ringback.wav",
            "pad",
            "0",
            "4",
        ],
    ));
    steps.extend(speak(
        "agent_voice.wav",
        "en-us+f3",
        "165",
        "Hi, this is Sarah from the accounts department. I am calling about your account. Do you have a moment?",
        &["pad", "0", "1"],
    ));
    steps.push(synth("silence.wav", &["trim", "0", "1"]));
    for clip in CLIPS {
        let wav = format!("{clip}.wav");
        steps.push(step("sox", &[&wav, "-t", "ul", &format!("{clip}.pcmu")]));
        steps.push(step("sox", &[&wav, "-t", "al", &format!("{clip}.pcma")]));
    }
    steps
}

/// The cache key: a hash of the recipe's text.
fn recipe_hash(steps: &[Step]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(RECIPE_VERSION.as_bytes());
    for step in steps {
        hasher.update([0u8]);
        hasher.update(step.program.as_bytes());
        for arg in &step.args {
            hasher.update([1u8]);
            hasher.update(arg.as_bytes());
        }
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Fixtures {
    fn in_dir(dir: PathBuf) -> Fixtures {
        Fixtures {
            hello: Clip::in_dir(&dir, "hello"),
            speech: Clip::in_dir(&dir, "speech"),
            greeting_beep: Clip::in_dir(&dir, "greeting_beep"),
            sit: Clip::in_dir(&dir, "sit"),
            ringback: Clip::in_dir(&dir, "ringback"),
            agent_voice: Clip::in_dir(&dir, "agent_voice"),
            silence: Clip::in_dir(&dir, "silence"),
            dir,
        }
    }

    fn clips(&self) -> [&Clip; 7] {
        [
            &self.hello,
            &self.speech,
            &self.greeting_beep,
            &self.sit,
            &self.ringback,
            &self.agent_voice,
            &self.silence,
        ]
    }

    fn complete(&self) -> bool {
        self.clips()
            .iter()
            .flat_map(|clip| clip.all())
            .all(|path| path.is_file())
    }

    /// The fixtures in `parent/testpeers-fixtures-<hash of the recipe>`, generated there first
    /// if they are not. Safe against other processes doing the same at the same time: each
    /// builds in its own directory and renames it into place; the loser uses the winner's.
    pub fn generate_in(parent: &Path) -> Result<Fixtures, Error> {
        let steps = recipe();
        let dir = parent.join(format!("testpeers-fixtures-{}", recipe_hash(&steps)));
        let fixtures = Fixtures::in_dir(dir.clone());
        if fixtures.complete() {
            return Ok(fixtures);
        }
        if dir.exists() {
            // Someone removed files from it; build it again.
            std::fs::remove_dir_all(&dir)
                .map_err(|e| Error::io(format!("removing incomplete {}", dir.display()), e))?;
        }
        let build = tempfile::Builder::new()
            .prefix(".testpeers-fixtures-build-")
            .tempdir_in(parent)
            .map_err(|e| {
                Error::io(
                    format!("creating a build directory in {}", parent.display()),
                    e,
                )
            })?;
        for step in &steps {
            run(step.program, &step.args, build.path())?;
        }
        let built = build.keep();
        match std::fs::rename(&built, &dir) {
            Ok(()) => {}
            Err(_) if Fixtures::in_dir(dir.clone()).complete() => {
                // Another process renamed its copy first.
                let _ = std::fs::remove_dir_all(&built);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&built);
                return Err(Error::io(
                    format!("renaming fixtures into {}", dir.display()),
                    e,
                ));
            }
        }
        Ok(fixtures)
    }
}

/// The fixtures, generated on first use in this process (in the system temp directory, or
/// `TESTPEERS_FIXTURES_DIR` when set) and cached across processes.
///
/// # Panics
/// If they cannot be generated (sox or espeak-ng missing or failing); the message has the
/// failing command and its stderr.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let parent = std::env::var_os("TESTPEERS_FIXTURES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        match Fixtures::generate_in(&parent) {
            Ok(fixtures) => fixtures,
            Err(e) => panic!(
                "generating the audio fixtures in {}: {e} ({})",
                parent.display(),
                crate::tools::INSTALL_HINT
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_follows_the_recipe() {
        let steps = recipe();
        let key = recipe_hash(&steps);
        assert_eq!(key.len(), 16);
        assert_eq!(key, recipe_hash(&recipe()));
        let mut changed = steps.clone();
        changed[0].args.push("x".into());
        assert_ne!(key, recipe_hash(&changed));
    }

    #[test]
    fn streams_name_the_raw_file_loops_and_payload_type() {
        let clip = Clip::in_dir(Path::new("/f"), "hello");
        assert_eq!(clip.rtp_stream(Codec::Pcmu, 1), "/f/hello.pcmu,1,0");
        assert_eq!(clip.rtp_stream(Codec::Pcma, -1), "/f/hello.pcma,-1,8");
    }
}
