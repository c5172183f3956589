//! SIPp as the trunk (a UAS scenario of `tests/sip/`) or as a stand-in dialer (a UAC scenario
//! of `tests/sip/uac/`), run on 127.0.0.1 with its logs in a temporary directory, waited for
//! without blocking the test's runtime, and killed on drop.
//!
//! Every scenario key has a default (the fixture streams, the timings, the credentials, the
//! answer's codec and RTP port), so a test passes only the keys it cares about; see
//! `tests/sip/README.md` for what each scenario reads.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, tail};
use crate::fixtures::{Codec, fixtures};
use crate::net::{Proto, free_media_port, free_udp_port, is_bound};
use crate::siplog::{LoggedMessage, parse_message_log};

/// The SIP transport SIPp uses (one socket either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `-t u1`.
    #[default]
    Udp,
    /// `-t t1`.
    Tcp,
}

/// The user name and password the digest scenarios expect unless told otherwise.
pub const DEFAULT_AUTH: (&str, &str) = ("dialer", "secret");

/// The realm of the digest scenarios' challenges unless told otherwise.
pub const DEFAULT_REALM: &str = "trunk.test";

/// Where the scenarios are: `tests/sip` of the workspace (or `TESTPEERS_SIP_DIR`).
pub fn scenario_dir() -> PathBuf {
    match std::env::var_os("TESTPEERS_SIP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sip"),
    }
}

/// The file of a scenario: `name` is a path to an .xml file, or a name under
/// [`scenario_dir`] ("human", "uac/answered").
pub fn scenario_path(name: &str) -> Result<PathBuf, Error> {
    let direct = Path::new(name);
    let path = if name.ends_with(".xml") && direct.is_file() {
        direct.to_path_buf()
    } else {
        scenario_dir().join(format!("{name}.xml"))
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::NoScenario {
            name: name.to_string(),
            path,
        })
    }
}

/// How to run SIPp; [`SippBuilder::spawn`] runs it.
#[derive(Debug, Clone)]
pub struct SippBuilder {
    scenario: String,
    sip_port: Option<u16>,
    remote: Option<SocketAddr>,
    service: Option<String>,
    calls: u64,
    rate: Option<f64>,
    transport: Transport,
    codec: Codec,
    rtp_port: Option<u16>,
    keys: BTreeMap<String, String>,
    auth: Option<(String, String)>,
    max_runtime: Duration,
    args: Vec<String>,
}

impl SippBuilder {
    /// The local SIP port (default: a free one).
    pub fn sip_port(mut self, port: u16) -> SippBuilder {
        self.sip_port = Some(port);
        self
    }

    /// Calls `remote`: SIPp is then a UAC (use a `uac/` scenario).
    pub fn remote(mut self, remote: SocketAddr) -> SippBuilder {
        self.remote = Some(remote);
        self
    }

    /// The user part of the Request-URI a UAC dials (`-s`; `uac/mix` appends the call number).
    pub fn service(mut self, user: &str) -> SippBuilder {
        self.service = Some(user.to_string());
        self
    }

    /// How many calls before SIPp exits (`-m`, default 1).
    pub fn calls(mut self, calls: u64) -> SippBuilder {
        self.calls = calls;
        self
    }

    /// A UAC's call rate per second (`-r`).
    pub fn rate(mut self, calls_per_second: f64) -> SippBuilder {
        self.rate = Some(calls_per_second);
        self
    }

    /// SIP over UDP (default) or TCP.
    pub fn transport(mut self, transport: Transport) -> SippBuilder {
        self.transport = transport;
        self
    }

    /// The codec the answer names and the streams use (default PCMU, the dialer's first).
    pub fn codec(mut self, codec: Codec) -> SippBuilder {
        self.codec = codec;
        self
    }

    /// The RTP port the scenario's SDP advertises: where the peer under test sends its audio.
    /// Default SIPp's own media port (which discards it); an [`crate::RtpListener`]'s port lets
    /// the test hear it. SIPp still streams its clips from its own media port.
    pub fn rtp_port(mut self, port: u16) -> SippBuilder {
        self.rtp_port = Some(port);
        self
    }

    /// Sets a scenario key (`-key name value`), replacing its default.
    pub fn key(mut self, name: &str, value: impl fmt::Display) -> SippBuilder {
        self.keys.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets several keys.
    pub fn keys(mut self, keys: &[(&str, &str)]) -> SippBuilder {
        for (name, value) in keys {
            self.keys.insert((*name).to_string(), (*value).to_string());
        }
        self
    }

    /// Credentials: what a UAS digest scenario expects (`auth_user`, `auth_password`) and what
    /// a UAC answers challenges with (`-au`, `-ap`). Default [`DEFAULT_AUTH`].
    pub fn auth(mut self, user: &str, password: &str) -> SippBuilder {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }

    /// SIPp's own deadline (`-timeout`, failing when reached): a backstop for a test that
    /// neither waits nor drops it. Default 300 s.
    pub fn max_runtime(mut self, max_runtime: Duration) -> SippBuilder {
        self.max_runtime = max_runtime;
        self
    }

    /// Any other SIPp argument.
    pub fn arg(mut self, arg: &str) -> SippBuilder {
        self.args.push(arg.to_string());
        self
    }

    /// The scenario keys with their defaults filled in.
    fn all_keys(&self, media_port: u16) -> BTreeMap<String, String> {
        let fx = fixtures();
        let codec = self.codec;
        let (user, password) = self.credentials();
        let rtp_port = self.rtp_port.unwrap_or(media_port);
        let mut keys: BTreeMap<String, String> = [
            ("rtp_port", rtp_port.to_string()),
            ("pt", codec.payload_type().to_string()),
            ("codec", codec.sdp_name().to_string()),
            ("ring_ms", "500".into()),
            ("ptime", "20".into()),
            ("talk_ms", "4000".into()),
            ("ringback_ms", "4000".into()),
            ("hold_after_ms", "2000".into()),
            ("hold_ms", "2000".into()),
            ("realm", DEFAULT_REALM.into()),
            ("auth_user", user),
            ("auth_password", password),
            ("hello_once", fx.hello.rtp_stream(codec, 1)),
            ("speech_loop", fx.speech.rtp_stream(codec, -1)),
            ("greeting_once", fx.greeting_beep.rtp_stream(codec, 1)),
            ("silence_loop", fx.silence.rtp_stream(codec, -1)),
            ("sit_once", fx.sit.rtp_stream(codec, 1)),
            ("ringback_loop", fx.ringback.rtp_stream(codec, -1)),
            ("voice_loop", fx.agent_voice.rtp_stream(codec, -1)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        keys.extend(self.keys.clone());
        keys
    }

    fn credentials(&self) -> (String, String) {
        self.auth
            .clone()
            .unwrap_or_else(|| (DEFAULT_AUTH.0.to_string(), DEFAULT_AUTH.1.to_string()))
    }

    fn command_args(
        &self,
        scenario: &Path,
        logs: &Path,
        sip_port: u16,
        media_port: u16,
    ) -> Vec<String> {
        let log = |file: &str| logs.join(file).display().to_string();
        let mut args: Vec<String> = vec![
            "-sf".into(),
            scenario.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-bind_local".into(),
            "-p".into(),
            sip_port.to_string(),
            "-mi".into(),
            "127.0.0.1".into(),
            "-mp".into(),
            media_port.to_string(),
            "-t".into(),
            match self.transport {
                Transport::Udp => "u1".into(),
                Transport::Tcp => "t1".into(),
            },
            "-m".into(),
            self.calls.to_string(),
            "-nostdin".into(),
            "-aa".into(),
            "-trace_err".into(),
            "-error_file".into(),
            log("errors.log"),
            "-trace_msg".into(),
            "-message_file".into(),
            log("messages.log"),
            "-trace_logs".into(),
            "-log_file".into(),
            log("log.log"),
            "-trace_screen".into(),
            "-screen_file".into(),
            log("screen.log"),
            "-timeout".into(),
            format!("{}s", self.max_runtime.as_secs().max(1)),
            "-timeout_error".into(),
        ];
        for (name, value) in self.all_keys(media_port) {
            args.extend(["-key".into(), name, value]);
        }
        if self.remote.is_some() {
            let (user, password) = self.credentials();
            args.extend(["-au".into(), user, "-ap".into(), password]);
            if let Some(service) = &self.service {
                args.extend(["-s".into(), service.clone()]);
            }
            if let Some(rate) = self.rate {
                args.extend(["-r".into(), rate.to_string()]);
            }
        }
        args.extend(self.args.iter().cloned());
        if let Some(remote) = self.remote {
            args.push(remote.to_string());
        }
        args
    }

    /// Starts SIPp and waits (briefly, blocking) until it has bound its SIP port, so the
    /// peer under test can send to it at once. A media port taken meanwhile is retried.
    ///
    /// # Panics
    /// If the audio fixtures cannot be generated (see [`crate::fixtures`]).
    pub fn spawn(self) -> Result<Sipp, Error> {
        let scenario = scenario_path(&self.scenario)?;
        let sip_port = self.sip_port.unwrap_or_else(free_udp_port);
        let mut last_error = None;
        for _ in 0..3 {
            let logs = tempfile::Builder::new()
                .prefix("testpeers-sipp-")
                .tempdir()
                .map_err(|e| Error::io("creating a SIPp log directory", e))?;
            let media_port = free_media_port();
            let args = self.command_args(&scenario, logs.path(), sip_port, media_port);
            let open = |name: &str| {
                File::create(logs.path().join(name))
                    .map_err(|e| Error::io(format!("creating SIPp's {name}"), e))
            };
            let child = Command::new("sipp")
                .args(&args)
                .current_dir(logs.path())
                .stdin(Stdio::null())
                .stdout(open("stdout.log")?)
                .stderr(open("stderr.log")?)
                .spawn()
                .map_err(|e| {
                    Error::io(format!("starting sipp ({})", crate::tools::INSTALL_HINT), e)
                })?;
            let mut sipp = Sipp {
                name: self.scenario.clone(),
                command: crate::tools::command_line("sipp", &args),
                child: Some(child),
                logs,
                sip_port,
                media_port,
                transport: self.transport,
                result: None,
            };
            match sipp.wait_ready() {
                Ok(()) => return Ok(sipp),
                Err(e @ Error::Exited { .. }) if e.to_string().contains("RTP socket") => {
                    // Our media port was taken between the check and SIPp's bind.
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::NotReady {
            peer: format!("sipp {}", self.scenario),
            waited_ms: 0,
            log: String::new(),
        }))
    }
}

/// A running SIPp; killed on drop.
#[derive(Debug)]
pub struct Sipp {
    name: String,
    command: String,
    child: Option<Child>,
    logs: tempfile::TempDir,
    sip_port: u16,
    media_port: u16,
    transport: Transport,
    result: Option<SippResult>,
}

impl Sipp {
    /// How to run `scenario` (a name under `tests/sip`, e.g. "human" or "uac/answered").
    pub fn builder(scenario: &str) -> SippBuilder {
        SippBuilder {
            scenario: scenario.to_string(),
            sip_port: None,
            remote: None,
            service: None,
            calls: 1,
            rate: None,
            transport: Transport::Udp,
            codec: Codec::Pcmu,
            rtp_port: None,
            keys: BTreeMap::new(),
            auth: None,
            max_runtime: Duration::from_secs(300),
            args: Vec::new(),
        }
    }

    /// A trunk: UAS `scenario` on 127.0.0.1:`sip_port` (UDP) for one call, with `keys` over
    /// the defaults. For TCP, more calls, a listening RTP port, use [`Sipp::builder`].
    ///
    /// # Panics
    /// If SIPp cannot be started; the message has the command and SIPp's logs.
    pub fn uas(scenario: &str, sip_port: u16, keys: &[(&str, &str)]) -> Sipp {
        match Sipp::builder(scenario)
            .sip_port(sip_port)
            .keys(keys)
            .spawn()
        {
            Ok(sipp) => sipp,
            Err(e) => panic!("starting SIPp {scenario}: {e}"),
        }
    }

    /// A stand-in dialer: UAC `scenario` calling `service`@`remote` once, with `keys`.
    ///
    /// # Panics
    /// If SIPp cannot be started.
    pub fn uac(scenario: &str, remote: SocketAddr, service: &str, keys: &[(&str, &str)]) -> Sipp {
        match Sipp::builder(scenario)
            .remote(remote)
            .service(service)
            .keys(keys)
            .spawn()
        {
            Ok(sipp) => sipp,
            Err(e) => panic!("starting SIPp {scenario}: {e}"),
        }
    }

    /// Its SIP port.
    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    /// The port SIPp streams its clips from.
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// Its SIP address, 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sip_port))
    }

    /// A SIP URI for `user` at it (`;transport=tcp` when on TCP): what the dialer dials.
    pub fn uri(&self, user: &str) -> String {
        match self.transport {
            Transport::Udp => format!("sip:{user}@127.0.0.1:{}", self.sip_port),
            Transport::Tcp => format!("sip:{user}@127.0.0.1:{};transport=tcp", self.sip_port),
        }
    }

    /// The command line it was started with (to rerun a failing case by hand).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn read_log(&self, file: &str) -> String {
        std::fs::read(self.logs.path().join(file))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The message log so far (`-trace_msg`).
    pub fn messages(&self) -> Vec<LoggedMessage> {
        parse_message_log(&self.read_log("messages.log"))
    }

    /// The scenario's `<log>` lines so far ("call 1 answered", "call 3 behaviour=busy", ...).
    pub fn log(&self) -> String {
        self.read_log("log.log")
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let proto = match self.transport {
            Transport::Udp => Proto::Udp,
            Transport::Tcp => Proto::Tcp,
        };
        let started = Instant::now();
        let limit = Duration::from_secs(10);
        loop {
            if let Some(status) = self.try_exit() {
                return Err(Error::Exited {
                    peer: format!("sipp {}", self.name),
                    status,
                    log: self.log_excerpt(),
                });
            }
            match is_bound(self.sip_port, proto) {
                Some(true) => return Ok(()),
                Some(false) => {}
                None if started.elapsed() > Duration::from_millis(300) => return Ok(()),
                None => {}
            }
            if started.elapsed() > limit {
                return Err(Error::NotReady {
                    peer: format!("sipp {}", self.name),
                    waited_ms: limit.as_millis(),
                    log: self.log_excerpt(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status if it has exited.
    fn try_exit(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    fn log_excerpt(&self) -> String {
        format!(
            "command: {}\nstderr: {}\nerrors: {}",
            self.command,
            tail(&self.read_log("stderr.log"), 1500),
            tail(&self.read_log("errors.log"), 1500)
        )
    }

    /// Waits for SIPp to finish its calls (`-m`); after `timeout` it is killed and the result
    /// says so. The wait sleeps on tokio's timer, so the peer under test keeps running on the
    /// same runtime. Later calls return the same result.
    pub async fn wait(&mut self, timeout: Duration) -> SippResult {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(result) = self.finished() {
                return result;
            }
            if tokio::time::Instant::now() >= deadline {
                return self.kill(true);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asks SIPp to stop (SIGUSR1: no new calls; calls in progress finish) and waits as
    /// [`Sipp::wait`] does: for a trunk whose number of calls the test does not know.
    pub async fn stop(&mut self, timeout: Duration) -> SippResult {
        // Only a child not yet reaped: its pid cannot have been reused.
        if self.finished().is_none()
            && let Some(pid) = self.pid()
        {
            let _ = Command::new("kill")
                .args(["-USR1", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.wait(timeout).await
    }

    /// The result if SIPp has exited.
    fn finished(&mut self) -> Option<SippResult> {
        if let Some(result) = &self.result {
            return Some(result.clone());
        }
        let child = self.child.as_mut()?;
        let status = child.try_wait().ok()??;
        let result = self.collect(status.code(), false);
        self.result = Some(result.clone());
        Some(result)
    }

    fn kill(&mut self, timed_out: bool) -> SippResult {
        if let Some(result) = &self.result {
            return result.clone();
        }
        let code = self.child.as_mut().and_then(|child| {
            let _ = child.kill();
            child.wait().ok().and_then(|status| status.code())
        });
        let result = self.collect(code, timed_out);
        self.result = Some(result.clone());
        result
    }

    fn collect(&self, exit_code: Option<i32>, timed_out: bool) -> SippResult {
        SippResult {
            scenario: self.name.clone(),
            command: self.command.clone(),
            success: !timed_out && exit_code == Some(0),
            exit_code,
            timed_out,
            stderr: self.read_log("stderr.log"),
            errors: self.read_log("errors.log"),
            log: self.read_log("log.log"),
            screen: self.read_log("screen.log"),
            messages: self.read_log("messages.log"),
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How a SIPp run ended, with its logs.
#[derive(Debug, Clone)]
pub struct SippResult {
    /// The scenario.
    pub scenario: String,
    /// The command line.
    pub command: String,
    /// Every call went through the scenario as written (SIPp exited 0).
    pub success: bool,
    /// SIPp's exit code: 0 all calls succeeded, 1 some failed, 97 stopped by an internal
    /// command, 99 no call processed, 255 fatal error, 254 could not bind. None when killed.
    pub exit_code: Option<i32>,
    /// Killed because [`Sipp::wait`]'s timeout passed.
    pub timed_out: bool,
    /// What SIPp wrote to stderr.
    pub stderr: String,
    /// The error log (`-trace_err`): unexpected messages, timeouts, aborted calls.
    pub errors: String,
    /// The scenario's `<log>` lines.
    pub log: String,
    /// The final statistics screens (`-trace_screen`): per-message counts, failed calls.
    pub screen: String,
    /// The message log (`-trace_msg`).
    pub messages: String,
}

impl SippResult {
    /// The messages SIPp sent and received.
    pub fn messages(&self) -> Vec<LoggedMessage> {
        parse_message_log(&self.messages)
    }

    /// The requests SIPp received with `method` (what the peer under test sent).
    pub fn received_requests(&self, method: &str) -> Vec<LoggedMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.received && m.is_request() && m.method() == Some(method))
            .collect()
    }

    /// Whether a `<log>` line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lines().any(|line| line.contains(text))
    }
}

impl fmt::Display for SippResult {
    /// A summary for assertion messages: outcome, logs' ends, the scenario screen.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "SIPp {}: {} (exit {:?}{})",
            self.scenario,
            if self.success { "success" } else { "FAILED" },
            self.exit_code,
            if self.timed_out {
                ", killed after the wait timed out"
            } else {
                ""
            }
        )?;
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "log:\n{}", tail(&self.log, 2000))?;
        writeln!(f, "errors:\n{}", tail(&self.errors, 2000))?;
        writeln!(f, "stderr:\n{}", tail(&self.stderr, 1000))?;
        let scenario_screen = self
            .screen
            .split("----------------------------- Statistics Screen")
            .next()
            .unwrap_or_default();
        write!(f, "screen:\n{}", tail(scenario_screen, 3000))
    }
}
