//! baresip as an agent's softphone: listens on 127.0.0.1 without registering, answers every
//! call at once, talks by playing a voice WAV, and records what it hears, so a test can tell
//! whether the dialer bridged the debtor's audio through to the agent.
//!
//! What baresip 1.0.0 offers for this: the `aufile` module is an audio *source* only (and ends
//! the call when its file ends, through the menu module), so the voice is looped into a WAV
//! long enough for any test; the `sndfile` module is an audio filter that dumps both
//! directions of each call to `dump-<time>-dec.wav` (heard) and `-enc.wav` (said); the player
//! is ALSA's null device. Commands (hangup, hold, resume, sndcode for DTMF) go over
//! `ctrl_tcp`, netstring-framed JSON, which also carries baresip's events (CALL_ESTABLISHED,
//! CALL_CLOSED, ...). Each instance lives in its own temporary config directory (`-f`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::audio::{Wav, read_wav, write_wav};
use crate::error::{Error, tail};
use crate::net::free_tcp_port;
use crate::tools::run;

/// How long the agent's voice is looped for: longer than any test's call.
const VOICE_SECONDS: usize = 600;

/// Where Debian puts baresip's modules; `TESTPEERS_BARESIP_MODULES` overrides.
const MODULE_DIRS: [&str; 3] = [
    "/usr/lib/baresip/modules",
    "/usr/local/lib/baresip/modules",
    "/usr/lib64/baresip/modules",
];

/// An event baresip reported over ctrl_tcp.
#[derive(Debug, Clone, PartialEq)]
pub struct BaresipEvent {
    /// Its type: CALL_INCOMING, CALL_ESTABLISHED, CALL_RTPESTAB, CALL_CLOSED, ...
    pub kind: String,
    /// The peer of the call it is about.
    pub peer_uri: String,
    /// The call's id (its Call-ID).
    pub call_id: String,
    /// Its parameter (for CALL_CLOSED, the reason).
    pub param: String,
    /// The whole event.
    pub json: serde_json::Value,
}

/// One call's audio as baresip's sndfile module dumped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// What the agent heard (decoded from the far end).
    pub heard: PathBuf,
    /// What the agent said (its voice, before encoding).
    pub said: PathBuf,
}

#[derive(Debug)]
struct Reply {
    ok: bool,
    data: String,
}

#[derive(Debug, Default)]
struct Shared {
    events: Mutex<Vec<BaresipEvent>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running baresip agent; killed on drop (its directory, with the recordings, removed).
#[derive(Debug)]
pub struct Baresip {
    child: Option<Child>,
    dir: tempfile::TempDir,
    sip_port: u16,
    shared: Arc<Shared>,
    writer: Mutex<TcpStream>,
    reader: Option<JoinHandle<()>>,
    next_token: AtomicU64,
}

impl Baresip {
    /// An agent's softphone on 127.0.0.1:`sip_port` (UDP; use [`crate::free_udp_port`], as
    /// baresip also binds TCP there and TLS on the next port) that auto-answers every call,
    /// talks with `voice_wav` looped, and records what it hears. Returns once baresip accepts
    /// commands (a blocking wait of a few hundred milliseconds).
    ///
    /// # Panics
    /// If baresip cannot be started; [`Baresip::spawn`] returns the error instead.
    pub fn agent(sip_port: u16, voice_wav: &Path) -> Baresip {
        match Baresip::spawn(sip_port, voice_wav) {
            Ok(agent) => agent,
            Err(e) => panic!("starting baresip on port {sip_port}: {e}"),
        }
    }

    /// As [`Baresip::agent`], returning the error.
    pub fn spawn(sip_port: u16, voice_wav: &Path) -> Result<Baresip, Error> {
        let dir = tempfile::Builder::new()
            .prefix("testpeers-baresip-")
            .tempdir()
            .map_err(|e| Error::io("creating a baresip config directory", e))?;
        let voice = dir.path().join("voice.wav");
        loop_voice(voice_wav, &voice, dir.path())?;
        let recordings = dir.path().join("rec");
        std::fs::create_dir(&recordings)
            .map_err(|e| Error::io(format!("creating {}", recordings.display()), e))?;
        let ctrl_port = loop {
            let port = free_tcp_port();
            if port != sip_port && port != sip_port.wrapping_add(1) {
                break port;
            }
        };
        let config = config(sip_port, ctrl_port, &voice, &recordings, &module_dir());
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text)
                .map_err(|e| Error::io(format!("writing baresip's {name}"), e))
        };
        write("config", &config)?;
        write(
            "accounts",
            "<sip:agent@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n",
        )?;
        write("contacts", "")?;
        let log = File::create(dir.path().join("baresip.log"))
            .map_err(|e| Error::io("creating baresip's log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io("sharing baresip's log", e))?;
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(["-n", "127.0.0.1"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                Error::io(
                    format!("starting baresip ({})", crate::tools::INSTALL_HINT),
                    e,
                )
            })?;
        let mut child = Some(child);
        let stream = match connect_ctrl(&mut child, ctrl_port, dir.path()) {
            Ok(stream) => stream,
            Err(e) => {
                if let Some(mut child) = child {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(e);
            }
        };
        let shared = Arc::new(Shared::default());
        let reader = {
            let stream = stream
                .try_clone()
                .map_err(|e| Error::io("sharing the ctrl_tcp connection", e))?;
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("baresip-ctrl-{sip_port}"))
                .spawn(move || read_ctrl(stream, &shared))
                .map_err(|e| Error::io("starting the ctrl_tcp reader", e))?
        };
        Ok(Baresip {
            child,
            dir,
            sip_port,
            shared,
            writer: Mutex::new(stream),
            reader: Some(reader),
            next_token: AtomicU64::new(1),
        })
    }

    /// What the dialer calls: sip:agent@127.0.0.1:PORT.
    pub fn uri(&self) -> String {
        format!("sip:agent@127.0.0.1:{}", self.sip_port)
    }

    /// Its SIP port.
    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    /// Its SIP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sip_port))
    }

    /// Runs a baresip command and returns its output: "hangup", "hold", "resume",
    /// "sndcode 5" (DTMF), "callstat", "listcalls", "quit", ... (the menu module's long
    /// commands, without the slash; "help" lists them). An error if baresip refuses it
    /// (no call, bad argument) or does not answer within 5 s.
    pub async fn command(&self, command: &str) -> Result<String, Error> {
        let (name, params) = command
            .trim()
            .split_once(' ')
            .unwrap_or((command.trim(), ""));
        let token = self.next_token.fetch_add(1, Ordering::Relaxed).to_string();
        let body =
            serde_json::json!({"command": name, "params": params, "token": token}).to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(token.clone(), tx);
        let fail = |reason: String| Error::Command {
            command: command.to_string(),
            reason,
        };
        {
            let mut writer = lock(&self.writer);
            writer
                .write_all(format!("{}:{body},", body.len()).as_bytes())
                .map_err(|e| fail(format!("sending: {e}")))?;
        }
        match tokio::time::timeout(Duration::from_secs(5), rx).await {
            Ok(Ok(reply)) if reply.ok => Ok(reply.data),
            Ok(Ok(reply)) => Err(fail(format!("refused: {}", reply.data))),
            Ok(Err(_)) => Err(fail(format!(
                "connection closed; log: {}",
                tail(&self.log(), 1500)
            ))),
            Err(_) => {
                lock(&self.shared.pending).remove(&token);
                Err(fail("no answer within 5 s".into()))
            }
        }
    }

    /// The events so far, in order.
    pub fn events(&self) -> Vec<BaresipEvent> {
        lock(&self.shared.events).clone()
    }

    /// The first event of `kind` (seen before or arriving within `timeout`).
    pub async fn wait_event(&self, kind: &str, timeout: Duration) -> Option<BaresipEvent> {
        self.wait_events(kind, 1, timeout).await.pop()
    }

    /// Waits for `count` events of `kind` and returns them (fewer if `timeout` passed).
    pub async fn wait_events(
        &self,
        kind: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<BaresipEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found: Vec<BaresipEvent> = self
                .events()
                .into_iter()
                .filter(|e| e.kind == kind)
                .take(count)
                .collect();
            if found.len() >= count || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every call's recording, oldest first (files are named by the second a call's audio
    /// started: two calls starting in the same second share one).
    pub fn recordings(&self) -> Vec<Recording> {
        let rec = self.dir.path().join("rec");
        let mut heard: Vec<PathBuf> = std::fs::read_dir(&rec)
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|path| path.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default();
        heard.sort();
        heard
            .into_iter()
            .map(|heard| {
                let said = PathBuf::from(heard.to_string_lossy().replace("-dec.wav", "-enc.wav"));
                Recording { heard, said }
            })
            .collect()
    }

    /// What the agent heard on the latest call (a WAV still being written while the call
    /// lasts; [`crate::energy`] reads it as far as it goes). Before any call, a path in the
    /// recordings directory that does not exist.
    pub fn recorded(&self) -> PathBuf {
        self.recordings()
            .pop()
            .map(|r| r.heard)
            .unwrap_or_else(|| self.dir.path().join("rec/no-call-yet-dec.wav"))
    }

    /// What the agent said on the latest call (as [`Baresip::recorded`]).
    pub fn said(&self) -> PathBuf {
        self.recordings()
            .pop()
            .map(|r| r.said)
            .unwrap_or_else(|| self.dir.path().join("rec/no-call-yet-enc.wav"))
    }

    /// baresip's output so far (its SIP and audio log lines).
    pub fn log(&self) -> String {
        std::fs::read(self.dir.path().join("baresip.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Its config directory (config, accounts, voice.wav, rec/, baresip.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = lock(&self.writer).shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// baresip's config: SIP on 127.0.0.1 only, G.711, the looped voice as source, ALSA's null
/// device as player, sndfile dumping each call, ctrl_tcp and the menu's commands. Its RTP
/// ports are drawn from the kernel's ephemeral range, away from the blocks `net` hands out
/// (a UDP bind there meets only other RTP, and baresip tries another port when one is taken).
fn config(
    sip_port: u16,
    ctrl_port: u16,
    voice: &Path,
    recordings: &Path,
    modules: &Path,
) -> String {
    format!(
        "poll_method\t\tpoll
sip_listen\t\t127.0.0.1:{sip_port}
audio_player\t\talsa,null
audio_alert\t\talsa,null
audio_source\t\taufile,{voice}
audio_srate\t\t8000
audio_channels\t\t1
rtp_ports\t\t40000-59998
module_path\t\t{modules}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\tsndfile.so
module\t\t\talsa.so
module_app\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
snd_path\t\t{recordings}
",
        voice = voice.display(),
        modules = modules.display(),
        recordings = recordings.display(),
    )
}

fn module_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESTPEERS_BARESIP_MODULES") {
        return PathBuf::from(dir);
    }
    MODULE_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("aufile.so").is_file())
        .unwrap_or_else(|| PathBuf::from(MODULE_DIRS[0]))
}

/// The voice as 8 kHz mono 16-bit, repeated to [`VOICE_SECONDS`] (aufile stops at the end of
/// its file, and the menu module then hangs the call up).
fn loop_voice(voice_wav: &Path, out: &Path, scratch: &Path) -> Result<(), Error> {
    let mut voice = read_wav(voice_wav).ok();
    if !matches!(&voice, Some(w) if w.sample_rate == 8000 && w.channels == 1 && !w.samples.is_empty())
    {
        let converted = scratch.join("voice-8k.wav");
        let args: Vec<String> = [
            voice_wav.display().to_string(),
            "-r".into(),
            "8000".into(),
            "-c".into(),
            "1".into(),
            "-b".into(),
            "16".into(),
            converted.display().to_string(),
        ]
        .into();
        run("sox", &args, scratch)?;
        voice = Some(read_wav(&converted)?);
    }
    let voice = voice.unwrap_or(Wav {
        sample_rate: 8000,
        channels: 1,
        samples: Vec::new(),
    });
    if voice.samples.is_empty() {
        return Err(Error::Wav {
            path: voice_wav.to_path_buf(),
            reason: "no audio".into(),
        });
    }
    let wanted = VOICE_SECONDS * 8000;
    let samples: Vec<i16> = voice.samples.iter().copied().cycle().take(wanted).collect();
    write_wav(
        out,
        &Wav {
            sample_rate: 8000,
            channels: 1,
            samples,
        },
    )
}

/// Connects to ctrl_tcp once baresip listens; an error if it exits or takes over 10 s.
fn connect_ctrl(child: &mut Option<Child>, ctrl_port: u16, dir: &Path) -> Result<TcpStream, Error> {
    let started = Instant::now();
    let log = || {
        std::fs::read(dir.join("baresip.log"))
            .map(|bytes| tail(&String::from_utf8_lossy(&bytes), 2000))
            .unwrap_or_default()
    };
    loop {
        if let Some(process) = child.as_mut()
            && let Ok(Some(status)) = process.try_wait()
        {
            *child = None;
            return Err(Error::Exited {
                peer: "baresip".into(),
                status: status.to_string(),
                log: log(),
            });
        }
        if let Ok(stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, ctrl_port)) {
            return Ok(stream);
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(Error::NotReady {
                peer: "baresip".into(),
                waited_ms: started.elapsed().as_millis(),
                log: log(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads netstrings from ctrl_tcp until it closes: replies go to their waiting command,
/// events to the list.
fn read_ctrl(mut stream: TcpStream, shared: &Shared) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(chunk.get(..n).unwrap_or_default());
        while let Some((payload, used)) = next_netstring(&buffer) {
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(payload) {
                dispatch(json, shared);
            }
            buffer.drain(..used);
        }
    }
    // Commands still waiting learn that no reply will come.
    lock(&shared.pending).clear();
}

/// The first complete netstring of `buffer` ("5:hello,") and how many bytes it took.
pub(crate) fn next_netstring(buffer: &[u8]) -> Option<(&[u8], usize)> {
    let colon = buffer.iter().position(|b| *b == b':')?;
    let len: usize = std::str::from_utf8(buffer.get(..colon)?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let start = colon + 1;
    let payload = buffer.get(start..start + len)?;
    (buffer.get(start + len) == Some(&b',')).then_some((payload, start + len + 1))
}

fn dispatch(json: serde_json::Value, shared: &Shared) {
    let text = |key: &str| {
        json.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if json.get("response").and_then(|v| v.as_bool()) == Some(true) {
        let token = text("token");
        if let Some(tx) = lock(&shared.pending).remove(&token) {
            let _ = tx.send(Reply {
                ok: json.get("ok").and_then(|v| v.as_bool()) == Some(true),
                data: text("data"),
            });
        }
    } else if json.get("event").and_then(|v| v.as_bool()) == Some(true) {
        let event = BaresipEvent {
            kind: text("type"),
            peer_uri: text("peeruri"),
            call_id: text("id"),
            param: text("param"),
            json: json.clone(),
        };
        lock(&shared.events).push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings_are_split_and_incomplete_ones_wait() {
        let buffer = b"5:hello,3:abc,2:x";
        let (payload, used) = next_netstring(buffer).unwrap();
        assert_eq!((payload, used), (&b"hello"[..], 8));
        let (payload, used) = next_netstring(&buffer[8..]).unwrap();
        assert_eq!((payload, used), (&b"abc"[..], 6));
        assert!(next_netstring(&buffer[14..]).is_none());
        assert!(next_netstring(b"x:abc,").is_none());
        assert!(next_netstring(b"3:abcd").is_none());
    }

    #[test]
    fn replies_reach_their_command_and_events_are_kept() {
        let shared = Shared::default();
        let (tx, mut rx) = oneshot::channel();
        lock(&shared.pending).insert("7".into(), tx);
        dispatch(
            serde_json::json!({"response": true, "ok": false, "data": "Invalid argument", "token": "7"}),
            &shared,
        );
        let reply = rx.try_recv().unwrap();
        assert!(!reply.ok);
        assert_eq!(reply.data, "Invalid argument");
        dispatch(
            serde_json::json!({"event": true, "type": "CALL_CLOSED", "peeruri": "sip:a@b", "id": "c1", "param": "bye"}),
            &shared,
        );
        let events = lock(&shared.events).clone();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "CALL_CLOSED");
        assert_eq!(events[0].param, "bye");
    }

    #[test]
    fn the_config_names_ports_voice_and_recordings() {
        let text = config(
            5070,
            5080,
            Path::new("/d/voice.wav"),
            Path::new("/d/rec"),
            Path::new("/m"),
        );
        assert!(text.contains("sip_listen\t\t127.0.0.1:5070"));
        assert!(text.contains("ctrl_tcp_listen\t\t127.0.0.1:5080"));
        assert!(text.contains("aufile,/d/voice.wav"));
        assert!(text.contains("snd_path\t\t/d/rec"));
    }
}
