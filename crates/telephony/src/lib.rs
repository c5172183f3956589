//! The SIP trunk carrier: places the dialer's calls on carriers' SIP trunks, runs their
//! media, tells people from machines, bridges people to agents' nailed-up softphone legs,
//! plays the safe-harbor and voicemail messages and records bridged calls, all behind
//! [`carrier::Carrier`], so the campaign engine drives a trunk exactly as it drives the
//! simulated network.
//!
//! SIP and SDP parsing live in the `sip` crate, audio handling in `media`, detection in
//! `callprogress`: all three are pure. This crate is their edge: sockets, timers, tasks.
//!
//! # Layout
//!
//! - this file: [`SipNetwork`] (a [`carrier::Network`]: one user agent, a [`SipCarrier`] per
//!   campaign), the state every call shares, and [`test_call`] (`dialerctl test-call`).
//! - [`config`]: trunks and the carrier's settings, validated with the field at fault.
//! - [`transport`]: the UDP socket, TCP connections and who each arriving message is for.
//! - [`dialog`]: the narrow transaction layer (INVITE with retransmission, digest, CANCEL and
//!   its races; non-INVITE requests) and the dialog state in-dialog requests carry.
//! - [`call`]: one debtor call from INVITE to its end, trunk failover, AMD, bridge, prompts.
//! - [`agent`]: an agent's nailed-up leg to its softphone.
//! - [`media_leg`]: one leg's RTP socket, relay and prompt playback.
//! - [`outcome`]: SIP statuses and Q.850 causes to outcome classes and end causes.
//! - [`recording`]: two-channel recordings of bridged calls, hashed, with retention.
//!
//! Why an own transaction layer rather than rsipstack: docs/telephony.md.

pub mod agent;
pub mod call;
pub mod config;
pub mod dialog;
pub mod media_leg;
pub mod outcome;
pub mod recording;
pub mod transport;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use carrier::{CallId, Carrier, CarrierError, CarrierEvent, Events, MIN_RING, Originate, Prompt};
use media::g711::Law;
use sip::{Request, Response};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::agent::AgentLeg;
use crate::call::{Command, Handle, phase};
use crate::config::{ConfigError, RecordingConfig, SipConfig, Transport};
use crate::dialog::Dialog;
use crate::media_leg::{MediaLeg, Remote};
use crate::transport::{Endpoint, Target};

pub use call::Report;
pub use outcome::OutcomeClass;

/// The telephone-event payload type we offer (RFC 4733).
const DTMF_PT: u8 = 101;

/// A trunk as calls use it.
#[derive(Debug, Clone)]
struct TrunkRt {
    name: String,
    uri: sip::Uri,
    transport: Transport,
    proxy: Option<String>,
    credentials: Option<(String, String)>,
    caller_id: Option<String>,
    headers: Vec<(String, String)>,
}

impl TrunkRt {
    fn new(t: &config::Trunk) -> Result<TrunkRt, ConfigError> {
        let uri = sip::Uri::parse(&t.uri).map_err(|e| ConfigError {
            field: "carrier.trunks.uri".into(),
            problem: e.to_string(),
        })?;
        let transport = t.transport.unwrap_or(match uri.transport() {
            Some(x) if x.eq_ignore_ascii_case("tcp") => Transport::Tcp,
            _ => Transport::Udp,
        });
        Ok(TrunkRt {
            name: t.name.clone(),
            uri,
            transport,
            proxy: t.outbound_proxy.clone(),
            credentials: t.username.clone().zip(t.password.clone()),
            caller_id: t.caller_id.clone(),
            headers: t.headers.clone(),
        })
    }

    fn hostport(&self) -> String {
        match self.uri.port {
            Some(p) => format!("{}:{p}", self.uri.host),
            None => self.uri.host.clone(),
        }
    }

    async fn target(&self) -> std::io::Result<Target> {
        if let Some(t) = self.proxy_target().await {
            return Ok(t);
        }
        let addr = transport::lookup(&self.uri.host, self.uri.port.unwrap_or(5060)).await?;
        Ok(Target {
            addr,
            transport: self.transport,
        })
    }

    async fn proxy_target(&self) -> Option<Target> {
        let p = self.proxy.as_ref()?;
        let (host, port) = match p.rsplit_once(':') {
            Some((h, port)) if port.parse::<u16>().is_ok() => (h, port.parse().unwrap_or(5060)),
            _ => (p.as_str(), 5060),
        };
        let addr = transport::lookup(host, port).await.ok()?;
        Some(Target {
            addr,
            transport: self.transport,
        })
    }

    fn request_uri(&self, number: &str) -> String {
        let transport = match self.transport {
            Transport::Tcp => ";transport=tcp",
            Transport::Udp => "",
        };
        format!("sip:{number}@{}{transport}", self.hostport())
    }

    fn from(&self, caller_id: &str) -> String {
        let cid = self.caller_id.as_deref().unwrap_or(caller_id);
        format!("\"{cid}\" <sip:{cid}@{}>", self.uri.host)
    }

    fn to(&self, number: &str) -> String {
        format!("<sip:{number}@{}>", self.uri.host)
    }

    fn extra_headers(&self, caller_id: &str) -> Vec<(String, String)> {
        let cid = self.caller_id.as_deref().unwrap_or(caller_id);
        let mut h = vec![(
            "P-Asserted-Identity".to_string(),
            format!("<sip:{cid}@{}>", self.uri.host),
        )];
        h.extend(self.headers.iter().cloned());
        h
    }

    fn credentials(&self) -> Option<sip::Credentials> {
        self.credentials
            .as_ref()
            .map(|(username, password)| sip::Credentials {
                username: username.clone(),
                password: password.clone(),
            })
    }
}

/// What one campaign's calls use that another campaign may set differently.
#[derive(Debug, Clone)]
pub struct CallSettings {
    pub amd: callprogress::AmdConfig,
    pub recording: Option<RecordingConfig>,
}

/// What every call of one user agent shares.
#[derive(Debug)]
pub struct Shared {
    endpoint: Endpoint,
    trunks: Arc<Vec<TrunkRt>>,
    rtp_ip: IpAddr,
    public_ip: Option<IpAddr>,
    laws: Vec<Law>,
    ptime: u32,
    beep_wait: Duration,
    rtp_timeout: Option<Duration>,
    session_expires: Option<u32>,
    /// The whole configuration, for what each campaign sets on its own.
    config: SipConfig,
    safe_harbor: Option<media::prompt::Prompt>,
    voicemail: Option<media::prompt::Prompt>,
}

impl Shared {
    /// Binds the user agent and loads the prompts.
    pub async fn start(cfg: &SipConfig) -> Result<Arc<Shared>, StartError> {
        cfg.validate()?;
        let trunks = cfg
            .trunks
            .iter()
            .map(TrunkRt::new)
            .collect::<Result<Vec<_>, _>>()?;
        let laws = cfg
            .payload_types()?
            .into_iter()
            .filter_map(Law::from_payload_type)
            .collect();
        let load = |p: &Option<std::path::PathBuf>, field: &'static str| -> Result<_, StartError> {
            p.as_ref()
                .map(|path| {
                    let bytes = std::fs::read(path).map_err(|e| StartError::Prompt {
                        field,
                        problem: format!("{}: {e}", path.display()),
                    })?;
                    media::prompt::Prompt::from_wav(&bytes).map_err(|e| StartError::Prompt {
                        field,
                        problem: format!("{}: {e}", path.display()),
                    })
                })
                .transpose()
        };
        let endpoint = Endpoint::bind(cfg.bind).await.map_err(StartError::Bind)?;
        Ok(Arc::new(Shared {
            rtp_ip: cfg.bind.ip(),
            public_ip: cfg.public_ip,
            endpoint,
            trunks: Arc::new(trunks),
            laws,
            ptime: cfg.ptime_ms,
            beep_wait: Duration::from_secs(cfg.beep_wait_s),
            rtp_timeout: (cfg.rtp_timeout_s > 0).then(|| Duration::from_secs(cfg.rtp_timeout_s)),
            session_expires: (cfg.session_expires_s > 0).then_some(cfg.session_expires_s),
            config: cfg.clone(),
            safe_harbor: load(&cfg.safe_harbor_wav, "carrier.safe_harbor_wav")?,
            voicemail: load(&cfg.voicemail_wav, "carrier.voicemail_wav")?,
        }))
    }

    /// The SIP socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    fn advertised(&self, local_ip: IpAddr) -> IpAddr {
        self.public_ip.unwrap_or(local_ip)
    }

    fn contact(&self, local_ip: IpAddr, transport: Transport) -> String {
        let ip = self.advertised(local_ip);
        let port = self.endpoint.local_addr().port();
        let t = match transport {
            Transport::Tcp => ";transport=tcp",
            Transport::Udp => "",
        };
        match ip {
            IpAddr::V6(v6) => format!("<sip:dialer@[{v6}]:{port}{t}>"),
            IpAddr::V4(v4) => format!("<sip:dialer@{v4}:{port}{t}>"),
        }
    }

    fn offer(&self, ip: IpAddr, port: u16, version: u64) -> sip::Offer {
        sip::Offer {
            addr: ip,
            port,
            session_id: 1,
            version,
            codecs: self.laws.iter().map(|l| l.payload_type()).collect(),
            dtmf_pt: DTMF_PT,
            ptime: self.ptime,
            direction: sip::Direction::SendRecv,
        }
    }

    /// Where and how to send media, from an SDP answer in `response` (none without one).
    fn remote_from(&self, response: &Response) -> Option<Remote> {
        if response.body.is_empty() {
            return None;
        }
        let answer = sip::SessionDescription::parse(&response.body).ok()?;
        let offer = self.offer(IpAddr::from([0, 0, 0, 0]), 0, 1);
        let n = sip::negotiate(&offer, &answer).ok()?;
        Some(remote_of(&n))
    }

    fn safe_harbor_prompt(&self) -> Option<Prompt> {
        Some(Prompt::SafeHarbor {
            template: String::new(),
        })
    }

    /// The audio of `prompt` as packets for a leg: the configured recording, or a second of
    /// silence (and a warning) when none is configured.
    fn prompt_frames(&self, prompt: &Prompt, remote: Remote) -> Vec<Vec<u8>> {
        let audio = match prompt {
            Prompt::SafeHarbor { .. } => self.safe_harbor.as_ref(),
            Prompt::Voicemail { .. } => self.voicemail.as_ref(),
        };
        match audio {
            Some(a) => a.frames(remote.law, remote.ptime_ms).collect(),
            None => {
                tracing::warn!("sip: no recording configured for this message; silence played");
                media::prompt::Prompt::silence(1000)
                    .frames(remote.law, remote.ptime_ms)
                    .collect()
            }
        }
    }
}

fn remote_of(n: &sip::Negotiated) -> Remote {
    let on_hold = n.remote.ip().is_unspecified() || n.remote.port() == 0;
    Remote {
        addr: (!on_hold).then_some(n.remote),
        law: Law::from_payload_type(n.payload_type).unwrap_or(Law::Pcmu),
        dtmf_pt: n.dtmf_pt,
        ptime_ms: n.ptime,
        // Our direction: the far end on hold (sendonly, inactive) wants nothing from us.
        send: !on_hold && n.direction.sends(),
        receive: n.direction.receives(),
    }
}

/// Our SDP offer for a leg whose RTP is at `ip:port`.
fn sdp_offer(shared: &Shared, ip: IpAddr, port: u16, version: u64) -> Vec<u8> {
    shared
        .offer(shared.advertised(ip), port, version)
        .to_sdp()
        .to_bytes()
}

/// Answers an offer the far end sent in a dialog (hold, resume, a new address): the 200
/// carries our answer and the leg's media follows the offer.
fn answer_offer(
    shared: &Shared,
    request: &Request,
    media: &MediaLeg,
    dialog: &mut Dialog,
) -> Response {
    let ip = shared.advertised(if media.local().ip().is_unspecified() {
        shared.endpoint.local_ip_towards(dialog.target.addr)
    } else {
        media.local().ip()
    });
    let ours = shared.offer(ip, media.local().port(), 2);
    let mut response = dialog::reply(request, 200, None);
    response.headers.push("Contact", dialog.contact.clone());
    if request.body.is_empty() {
        // An offerless re-INVITE: our offer goes in the 200 (the ACK brings the answer).
        response.headers.push("Content-Type", "application/sdp");
        response.body = ours.to_sdp().to_bytes();
        return response;
    }
    let offer = match sip::SessionDescription::parse(&request.body) {
        Ok(o) => o,
        Err(_) => return dialog::reply(request, 400, None),
    };
    match sip::answer(&offer, &ours) {
        Ok((answer, negotiated)) => {
            media.set_remote(remote_of(&negotiated));
            response.headers.push("Content-Type", "application/sdp");
            response.body = answer.to_bytes();
            response
        }
        Err(_) => dialog::reply(request, 488, None),
    }
}

/// How often we refresh the session when the 2xx makes us the refresher (RFC 4028: at half
/// the interval).
fn session_refresh(response: &Response) -> Option<Duration> {
    let v = response.headers.get("Session-Expires")?;
    let mut parts = v.split(';');
    let delta: u64 = parts.next()?.trim().parse().ok()?;
    let refresher_uac = parts.any(|p| p.trim().eq_ignore_ascii_case("refresher=uac"));
    (refresher_uac && delta >= 2).then(|| Duration::from_secs(delta / 2))
}

/// Why the SIP carrier did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind the SIP socket: {0}")]
    Bind(std::io::Error),
    #[error("invalid {field}: {problem}")]
    Prompt {
        field: &'static str,
        problem: String,
    },
}

/// The SIP network: one user agent for every campaign.
#[derive(Debug, Clone)]
pub struct SipNetwork {
    shared: Arc<Shared>,
}

impl SipNetwork {
    /// Binds the user agent.
    pub async fn start(cfg: &SipConfig) -> Result<SipNetwork, StartError> {
        let shared = Shared::start(cfg).await?;
        if let Some(r) = &cfg.recording {
            tokio::spawn(expire_recordings(
                r.dir.clone(),
                r.retention_days,
                Arc::downgrade(&shared),
            ));
        }
        Ok(SipNetwork { shared })
    }

    /// A carrier with the carrier-wide settings (tests and `dialerctl test-call`).
    pub fn carrier(&self) -> (Arc<SipCarrier>, Events) {
        self.carrier_for("")
    }

    /// A carrier with its event channel for `campaign` (what [`carrier::Network::open`]
    /// gives it), with the campaign's AMD thresholds and recording choice.
    pub fn carrier_for(&self, campaign: &str) -> (Arc<SipCarrier>, Events) {
        let (tx, rx) = unbounded_channel();
        let cfg = &self.shared.config;
        (
            Arc::new(SipCarrier {
                settings: Arc::new(CallSettings {
                    amd: cfg.campaign_amd(campaign),
                    recording: cfg.campaign_recording(campaign),
                }),
                shared: self.shared.clone(),
                events: tx,
                calls: Arc::new(Mutex::new(HashMap::new())),
                agents: Mutex::new(HashMap::new()),
            }),
            rx,
        )
    }
}

impl carrier::Network for SipNetwork {
    fn open(&self, campaign: &str) -> (Arc<dyn Carrier>, Events) {
        let (c, rx) = self.carrier_for(campaign);
        (c, rx)
    }
}

/// Deletes recordings past their retention every hour while the user agent runs.
async fn expire_recordings(
    dir: std::path::PathBuf,
    retention_days: u32,
    alive: std::sync::Weak<Shared>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    while alive.strong_count() > 0 {
        every.tick().await;
        match recording::expire(&dir, retention_days) {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "recordings past their retention deleted"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "recordings: retention not applied"),
        }
    }
}

type Calls = Arc<Mutex<HashMap<CallId, Handle>>>;

/// One campaign's carrier on the SIP network.
#[derive(Debug)]
pub struct SipCarrier {
    shared: Arc<Shared>,
    settings: Arc<CallSettings>,
    events: UnboundedSender<CarrierEvent>,
    calls: Calls,
    agents: Mutex<HashMap<String, Arc<AgentLeg>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SipCarrier {
    fn command(
        &self,
        call: CallId,
        check: impl FnOnce(&Handle) -> Result<(), CarrierError>,
        command: Command,
    ) -> Result<(), CarrierError> {
        let calls = lock(&self.calls);
        let h = calls.get(&call).ok_or(CarrierError::UnknownCall(call))?;
        check(h)?;
        h.commands
            .send(command)
            .map_err(|_| CarrierError::UnknownCall(call))
    }

    /// Whether the agent at `endpoint` has its softphone leg up and free.
    pub fn agent_ready(&self, endpoint: &str) -> bool {
        lock(&self.agents).get(endpoint).is_some_and(|l| l.ready())
    }

    /// Places a call and returns its report when it ends (the events go to the channel too).
    pub fn place(&self, o: Originate) -> Result<tokio::task::JoinHandle<Report>, CarrierError> {
        o.validate()?;
        let (tx, rx) = unbounded_channel();
        let phase = Arc::new(AtomicU8::new(phase::RINGING));
        {
            let mut calls = lock(&self.calls);
            if calls.contains_key(&o.call) {
                return Err(CarrierError::DuplicateCall(o.call));
            }
            calls.insert(
                o.call,
                Handle {
                    commands: tx,
                    started: tokio::time::Instant::now(),
                    phase: phase.clone(),
                },
            );
        }
        let calls = self.calls.clone();
        let shared = self.shared.clone();
        let settings = self.settings.clone();
        let events = self.events.clone();
        let id = o.call;
        Ok(tokio::spawn(async move {
            let report = call::run(shared, settings, o, rx, events, phase).await;
            lock(&calls).remove(&id);
            report
        }))
    }
}

impl Carrier for SipCarrier {
    fn originate(&self, o: Originate) -> Result<(), CarrierError> {
        self.place(o).map(|_| ())
    }

    fn bridge(&self, call: CallId, agent: &str) -> Result<(), CarrierError> {
        let leg = lock(&self.agents).get(agent).cloned();
        let Some(leg) = leg.filter(|l| l.ready()) else {
            return Err(CarrierError::Unavailable(
                "the agent's softphone leg is not connected".into(),
            ));
        };
        let calls = lock(&self.calls);
        let h = calls.get(&call).ok_or(CarrierError::UnknownCall(call))?;
        if h.phase.load(Ordering::Acquire) != phase::HUMAN {
            return Err(CarrierError::NotAnswered(call));
        }
        leg.attach(call, h.commands.clone());
        h.commands
            .send(Command::Bridge {
                agent: leg,
                name: agent.to_string(),
            })
            .map_err(|_| CarrierError::UnknownCall(call))
    }

    fn hangup(&self, call: CallId, prompt: Option<Prompt>) -> Result<(), CarrierError> {
        self.command(
            call,
            |h| match h.phase.load(Ordering::Acquire) {
                phase::RINGING | phase::DETECTING => Err(CarrierError::NotAnswered(call)),
                _ => Ok(()),
            },
            Command::Hangup(prompt),
        )
    }

    fn cancel(&self, call: CallId) -> Result<(), CarrierError> {
        self.command(
            call,
            |h| {
                let rang = h.started.elapsed();
                match h.phase.load(Ordering::Acquire) {
                    phase::RINGING if rang < MIN_RING => {
                        Err(CarrierError::TooEarlyToCancel { call, rang })
                    }
                    phase::RINGING => Ok(()),
                    _ => Err(CarrierError::Invalid {
                        field: "call",
                        problem: "already answered: hang up instead",
                    }),
                }
            },
            Command::Cancel,
        )
    }

    fn agent_login(&self, endpoint: &str) {
        let mut agents = lock(&self.agents);
        if !agents.contains_key(endpoint) {
            agents.insert(
                endpoint.to_string(),
                AgentLeg::start(self.shared.clone(), endpoint),
            );
        }
    }

    fn agent_logout(&self, endpoint: &str) {
        if let Some(leg) = lock(&self.agents).remove(endpoint) {
            leg.stop();
        }
    }
}

/// One call to check a trunk (`dialerctl test-call`): placed, listened to until the AMD
/// verdict, then hung up; the report says how it went.
pub async fn test_call(
    cfg: &SipConfig,
    to: &str,
    caller_id: &str,
) -> Result<Report, TestCallError> {
    let network = SipNetwork::start(cfg).await?;
    let (carrier, mut events) = network.carrier();
    let handle = carrier.place(Originate {
        call: 1,
        to: to.to_string(),
        caller_id: caller_id.to_string(),
        ring_timeout: cfg.ring_timeout(),
    })?;
    while let Some(event) = events.recv().await {
        match event {
            CarrierEvent::Answered { call, .. } => {
                let _ = carrier.hangup(call, None);
            }
            CarrierEvent::Ended { .. } => break,
            _ => {}
        }
    }
    handle.await.map_err(|e| TestCallError::Task(e.to_string()))
}

/// Why a test call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum TestCallError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Carrier(#[from] CarrierError),
    #[error("call task failed: {0}")]
    Task(String),
}

impl Drop for SipCarrier {
    /// A campaign's carrier going away hangs up its agents' legs.
    fn drop(&mut self) {
        for (_, leg) in lock(&self.agents).drain() {
            leg.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_from_them(direction: &str, addr: &str) -> sip::SessionDescription {
        let sdp = format!(
            "v=0\r\no=- 1 2 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n\
             m=audio 22508 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
             a={direction}\r\n"
        );
        sip::SessionDescription::parse(sdp.as_bytes()).expect("sdp")
    }

    /// A far end that puts us on hold (sendonly, inactive, or the old c=0.0.0.0) gets no
    /// audio from us; sendrecv (resume) gets it again.
    #[test]
    fn holds_and_resumes_follow_the_far_ends_offer() {
        let ours = sip::Offer {
            addr: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            session_id: 1,
            version: 2,
            codecs: vec![0, 8],
            dtmf_pt: DTMF_PT,
            ptime: 20,
            direction: sip::Direction::SendRecv,
        };
        for (direction, addr, sends) in [
            ("sendonly", "127.0.0.1", false),
            ("inactive", "127.0.0.1", false),
            ("sendrecv", "0.0.0.0", false),
            ("sendrecv", "127.0.0.1", true),
            ("recvonly", "127.0.0.1", true),
        ] {
            let (_, n) = sip::answer(&offer_from_them(direction, addr), &ours).expect("answer");
            let r = remote_of(&n);
            assert_eq!(r.send, sends, "{direction} {addr}");
            // Our order of preference among what they offer, their telephone-event number.
            assert_eq!((r.law, r.dtmf_pt), (Law::Pcmu, Some(101)), "{direction}");
        }
    }

    #[test]
    fn the_refresher_is_asked_of_us_only_when_the_answer_says_so() {
        let mut r = Response::new(200, "OK");
        assert_eq!(session_refresh(&r), None);
        r.headers.push("Session-Expires", "1800;refresher=uac");
        assert_eq!(session_refresh(&r), Some(Duration::from_secs(900)));
        let mut r = Response::new(200, "OK");
        r.headers.push("Session-Expires", "1800;refresher=uas");
        assert_eq!(session_refresh(&r), None);
    }
}
