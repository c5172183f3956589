//! What an operator configures for a SIP carrier: the trunks in failover order, where the
//! user agent listens, ring timeout, answering-machine detection thresholds and the
//! prerecorded messages.
//!
//! Deserialised from the `[carrier]` section of `dialerd`'s TOML (and built by
//! `dialerctl test-call` from its flags); [`SipConfig::validate`] names the field at fault.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// How SIP travels to a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl Transport {
    /// The Via transport token.
    pub fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// One carrier trunk. Calls go to the first trunk; trunk trouble (5xx, a timeout, a Q.850
/// network cause) moves the call to the next.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// A name for logs and metrics.
    pub name: String,
    /// Where calls go: `sip:HOST[:PORT]` (`;transport=tcp` is honoured). The dialed number
    /// becomes the Request-URI's user part.
    pub uri: String,
    #[serde(default)]
    pub transport: Option<Transport>,
    /// Send every request to this proxy (`HOST:PORT`) instead of the trunk's host.
    #[serde(default)]
    pub outbound_proxy: Option<String>,
    /// Digest credentials, when the trunk challenges (401/407).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The number presented, when the trunk needs one of its own instead of the campaign's.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Extra headers on every INVITE (e.g. `X-Account`, `P-Charge-Info`).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// A problem in the configuration, with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The SIP carrier's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Trunks in failover order; at least one.
    pub trunks: Vec<Trunk>,
    /// Where the user agent's SIP socket listens (UDP, and TCP connections start from it).
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The address the far end reaches us at (Via, Contact, SDP); defaults to `bind`'s IP,
    /// or the route towards the first trunk when `bind` is unspecified.
    #[serde(default)]
    pub public_ip: Option<IpAddr>,
    /// Give up ringing after this many seconds (never less than the legal minimum ring).
    #[serde(default = "default_ring_timeout_s")]
    pub ring_timeout_s: u64,
    /// Codecs offered, in order of preference: `pcmu`, `pcma`.
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// RTP packet time offered: 20 or 30 ms.
    #[serde(default = "default_ptime")]
    pub ptime_ms: u32,
    /// Session timer asked of the trunk (RFC 4028), seconds; 0 asks for none (we still
    /// refresh when the trunk asks).
    #[serde(default)]
    pub session_expires_s: u32,
    /// The safe-harbor message played to an abandoned call before BYE (8 kHz mono WAV).
    #[serde(default)]
    pub safe_harbor_wav: Option<PathBuf>,
    /// The limited-content voicemail message played after the beep.
    #[serde(default)]
    pub voicemail_wav: Option<PathBuf>,
    /// How long to wait for the beep after a machine verdict before leaving the message
    /// anyway (seconds).
    #[serde(default = "default_beep_wait_s")]
    pub beep_wait_s: u64,
    /// Hang up an answered call (and drop an agent's leg) when no RTP has come for this many
    /// seconds while the far end should be sending: a trunk or phone gone without a BYE.
    /// 0 turns it off.
    #[serde(default = "default_rtp_timeout_s")]
    pub rtp_timeout_s: u64,
    /// Answering-machine detection thresholds (Asterisk app_amd's names and defaults).
    #[serde(default)]
    pub amd: AmdSettings,
    /// Call recording; off when absent.
    #[serde(default)]
    pub recording: Option<RecordingConfig>,
    /// Per-campaign settings, by campaign id: AMD thresholds over the carrier's, and whether
    /// the campaign's bridged calls are recorded.
    #[serde(default)]
    pub campaigns: std::collections::BTreeMap<String, CampaignSettings>,
    /// For `dialerd` (this crate ignores it): run the dialer's clock from this instant
    /// (RFC 3339) at real speed, as the simulated carrier's `clock_start` does, so tests and
    /// demos place real calls inside the calling window whatever the hour.
    #[serde(default)]
    pub clock_start: Option<String>,
}

/// What one campaign sets differently from the carrier's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    /// Thresholds over the carrier's `[carrier.amd]` (each field left out keeps it).
    #[serde(default)]
    pub amd: AmdSettings,
    /// Record this campaign's bridged calls (`[carrier.recording]` says where and how);
    /// unset: as the carrier does (recorded when `[carrier.recording]` is present).
    #[serde(default)]
    pub record: Option<bool>,
}

/// Answering-machine detection thresholds; each field left out keeps app_amd's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmdSettings {
    pub initial_silence_ms: Option<u32>,
    pub greeting_ms: Option<u32>,
    pub after_greeting_silence_ms: Option<u32>,
    pub total_analysis_ms: Option<u32>,
    pub min_word_ms: Option<u32>,
    pub between_words_silence_ms: Option<u32>,
    pub max_words: Option<u32>,
    pub max_word_ms: Option<u32>,
    pub silence_threshold: Option<u16>,
}

/// Where and how bridged calls are recorded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// The directory recordings are written to (one WAV per call).
    pub dir: PathBuf,
    /// `pcm16` (two-channel 16-bit) or `g711` (two-channel G.711 in WAV, half the size).
    #[serde(default = "default_recording_format")]
    pub format: String,
    /// Days a recording is kept; older files in `dir` are deleted.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5060))
}
fn default_ring_timeout_s() -> u64 {
    30
}
fn default_codecs() -> Vec<String> {
    vec!["pcmu".into(), "pcma".into()]
}
fn default_ptime() -> u32 {
    20
}
fn default_beep_wait_s() -> u64 {
    20
}
fn default_rtp_timeout_s() -> u64 {
    60
}
fn default_recording_format() -> String {
    "pcm16".into()
}
fn default_retention_days() -> u32 {
    90
}

impl SipConfig {
    /// A configuration for one trunk with every default (what `dialerctl test-call` starts
    /// from).
    pub fn single(trunk: Trunk) -> SipConfig {
        SipConfig {
            trunks: vec![trunk],
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            public_ip: None,
            ring_timeout_s: default_ring_timeout_s(),
            codecs: default_codecs(),
            ptime_ms: default_ptime(),
            session_expires_s: 0,
            safe_harbor_wav: None,
            voicemail_wav: None,
            beep_wait_s: default_beep_wait_s(),
            rtp_timeout_s: default_rtp_timeout_s(),
            amd: AmdSettings::default(),
            recording: None,
            campaigns: Default::default(),
            clock_start: None,
        }
    }

    /// The ring timeout, never below the legal minimum ring.
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_s).max(carrier::MIN_RING)
    }

    /// The offered payload types, in order.
    pub fn payload_types(&self) -> Result<Vec<u8>, ConfigError> {
        self.codecs
            .iter()
            .map(|c| match c.to_ascii_lowercase().as_str() {
                "pcmu" | "ulaw" => Ok(0),
                "pcma" | "alaw" => Ok(8),
                other => Err(bad(
                    "carrier.codecs",
                    format!("{other}: only pcmu and pcma are supported"),
                )),
            })
            .collect()
    }

    /// The detector's thresholds: app_amd's defaults with this configuration's overrides.
    pub fn amd_config(&self) -> callprogress::AmdConfig {
        self.amd.over(callprogress::AmdConfig::default())
    }

    /// `campaign`'s thresholds: its own over the carrier's.
    pub fn campaign_amd(&self, campaign: &str) -> callprogress::AmdConfig {
        let base = self.amd_config();
        match self.campaigns.get(campaign) {
            Some(c) => c.amd.over(base),
            None => base,
        }
    }

    /// Where `campaign`'s bridged calls are recorded, if they are.
    pub fn campaign_recording(&self, campaign: &str) -> Option<RecordingConfig> {
        let wanted = self
            .campaigns
            .get(campaign)
            .and_then(|c| c.record)
            .unwrap_or(true);
        self.recording.clone().filter(|_| wanted)
    }
}

impl AmdSettings {
    /// `base` with the thresholds set here.
    pub fn over(&self, base: callprogress::AmdConfig) -> callprogress::AmdConfig {
        let mut c = base;
        let a = self;
        let set = |dst: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut c.initial_silence_ms, a.initial_silence_ms);
        set(&mut c.greeting_ms, a.greeting_ms);
        set(
            &mut c.after_greeting_silence_ms,
            a.after_greeting_silence_ms,
        );
        set(&mut c.total_analysis_ms, a.total_analysis_ms);
        set(&mut c.min_word_ms, a.min_word_ms);
        set(&mut c.between_words_silence_ms, a.between_words_silence_ms);
        set(&mut c.max_words, a.max_words);
        set(&mut c.max_word_ms, a.max_word_ms);
        if let Some(t) = a.silence_threshold {
            c.silence_threshold = t;
        }
        c
    }
}

impl SipConfig {
    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.trunks.is_empty() {
            return Err(bad("carrier.trunks", "at least one trunk is required"));
        }
        for (i, t) in self.trunks.iter().enumerate() {
            let field = |f: &str| format!("carrier.trunks[{i}].{f}");
            let uri = sip::Uri::parse(&t.uri).map_err(|e| bad(field("uri"), e.to_string()))?;
            if uri.scheme != "sip" {
                return Err(bad(field("uri"), "must be a sip: URI"));
            }
            if t.username.is_some() != t.password.is_some() {
                return Err(bad(field("password"), "username and password go together"));
            }
            if let Some(p) = &t.outbound_proxy {
                crate::transport::resolve(p, 5060)
                    .map_err(|e| bad(field("outbound_proxy"), e.to_string()))?;
            }
            for (name, value) in &t.headers {
                let ok_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok_name || value.contains(['\r', '\n']) {
                    return Err(bad(field("headers"), format!("{name}: not a header")));
                }
            }
        }
        self.payload_types()?;
        if self.codecs.is_empty() {
            return Err(bad("carrier.codecs", "at least one codec"));
        }
        if ![20, 30].contains(&self.ptime_ms) {
            return Err(bad("carrier.ptime_ms", "20 or 30"));
        }
        if self.session_expires_s != 0 && self.session_expires_s < 90 {
            return Err(bad(
                "carrier.session_expires_s",
                "0 or at least 90 (RFC 4028 Min-SE)",
            ));
        }
        self.amd_config()
            .validate()
            .map_err(|e| bad("carrier.amd", e.to_string()))?;
        for id in self.campaigns.keys() {
            self.campaign_amd(id)
                .validate()
                .map_err(|e| bad(format!("carrier.campaigns.{id}.amd"), e.to_string()))?;
        }
        if let Some(r) = &self.recording {
            if !["pcm16", "g711"].contains(&r.format.as_str()) {
                return Err(bad("carrier.recording.format", "pcm16 or g711"));
            }
            if r.retention_days == 0 {
                return Err(bad("carrier.recording.retention_days", "at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk(uri: &str) -> Trunk {
        Trunk {
            name: "t".into(),
            uri: uri.into(),
            transport: None,
            outbound_proxy: None,
            username: None,
            password: None,
            caller_id: None,
            headers: vec![],
        }
    }

    #[test]
    fn reads_a_carrier_section() {
        let cfg: SipConfig = toml::from_str(
            r#"
            bind = "127.0.0.1:5062"
            ring_timeout_s = 25
            codecs = ["pcma", "pcmu"]
            [[trunks]]
            name = "primary"
            uri = "sip:trunk.example.net:5060;transport=tcp"
            username = "acct"
            password = "secret"
            headers = [["X-Account", "42"]]
            [[trunks]]
            name = "backup"
            uri = "sip:10.0.0.2"
            [amd]
            greeting_ms = 1800
            [recording]
            dir = "/var/lib/dialer/recordings"
            [campaigns.spanish.amd]
            greeting_ms = 2000
            [campaigns.no-rec]
            record = false
            "#,
        )
        .expect("parses");
        cfg.validate().expect("valid");
        assert_eq!(cfg.trunks.len(), 2);
        assert_eq!(cfg.payload_types().expect("codecs"), vec![8, 0]);
        assert_eq!(cfg.amd_config().greeting_ms, 1800);
        assert_eq!(cfg.amd_config().initial_silence_ms, 2500);
        assert_eq!(cfg.recording.as_ref().map(|r| r.retention_days), Some(90));
        assert_eq!(cfg.ring_timeout(), Duration::from_secs(25));
        assert_eq!(cfg.campaign_amd("spanish").greeting_ms, 2000);
        assert_eq!(cfg.campaign_amd("other").greeting_ms, 1800);
        assert!(cfg.campaign_recording("other").is_some());
        assert!(cfg.campaign_recording("no-rec").is_none());
    }

    #[test]
    fn the_ring_timeout_never_undercuts_the_minimum_ring() {
        let mut cfg = SipConfig::single(trunk("sip:127.0.0.1"));
        cfg.ring_timeout_s = 5;
        assert_eq!(cfg.ring_timeout(), carrier::MIN_RING);
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Change = Box<dyn Fn(&mut SipConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.trunks.clear()), "carrier.trunks"),
            (
                Box::new(|c| c.trunks[0].uri = "tel:+1555".into()),
                "carrier.trunks[0].uri",
            ),
            (
                Box::new(|c| c.trunks[0].uri = "not a uri".into()),
                "carrier.trunks[0].uri",
            ),
            (
                Box::new(|c| c.trunks[0].username = Some("u".into())),
                "carrier.trunks[0].password",
            ),
            (
                Box::new(|c| c.trunks[0].headers = vec![("X-A".into(), "a\r\nB: c".into())]),
                "carrier.trunks[0].headers",
            ),
            (
                Box::new(|c| c.codecs = vec!["opus".into()]),
                "carrier.codecs",
            ),
            (Box::new(|c| c.codecs.clear()), "carrier.codecs"),
            (Box::new(|c| c.ptime_ms = 40), "carrier.ptime_ms"),
            (
                Box::new(|c| c.session_expires_s = 30),
                "carrier.session_expires_s",
            ),
            (
                Box::new(|c| c.amd.total_analysis_ms = Some(0)),
                "carrier.amd",
            ),
            (
                Box::new(|c| {
                    let mut s = CampaignSettings::default();
                    s.amd.min_word_ms = Some(0);
                    c.campaigns.insert("c1".into(), s);
                }),
                "carrier.campaigns.c1.amd",
            ),
            (
                Box::new(|c| {
                    c.recording = Some(RecordingConfig {
                        dir: "/tmp".into(),
                        format: "mp3".into(),
                        retention_days: 1,
                    })
                }),
                "carrier.recording.format",
            ),
        ];
        for (change, field) in cases {
            let mut cfg = SipConfig::single(trunk("sip:127.0.0.1:5070"));
            change(&mut cfg);
            let e = cfg.validate().expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }
}
