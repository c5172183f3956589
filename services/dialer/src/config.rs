//! dialerd configuration: a TOML file plus `DIALER_*` environment overrides, validated at
//! start so a bad setting stops the process with a message naming it. The settings every
//! service has (`database_url`, `listen`, `metrics_listen`, `jwt_hs256_key`) and the loading
//! are the service skeleton's ([`service::config`]).

use std::path::{Path, PathBuf};

use auth::Role;
use jiff::Timestamp;
use serde::Deserialize;
pub use service::ConfigError;
pub use service::ServerSettings;
use service::ServiceSpec;
use service::config::Env;
use simulator::scenario::ScenarioId;

/// Default store: an SQLite file next to the process, nothing to install.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://dialer.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50071";
/// Longer than the default wrap-up (120 s): a stopping campaign waits for wrap-ups.
pub const DEFAULT_SHUTDOWN_GRACE_S: u64 = 150;

/// dialerd's names and defaults in the service skeleton.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dialerd;

impl ServiceSpec for Dialerd {
    const NAME: &'static str = "dialerd";
    const ABOUT: &'static str =
        "Dialer service (gRPC): campaigns, agent sessions, compliance explanations";
    const ENV_PREFIX: &'static str = "DIALER";
    const DEFAULT_DATABASE_URL: &'static str = DEFAULT_DATABASE_URL;
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
    const TOKEN_ROLES: &'static [Role] = &[Role::Agent, Role::Manager, Role::Crm, Role::Admin];
    const TOKEN_HOURS: i64 = 12;
}

/// Everything dialerd is configured with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `database_url`, `listen`, `metrics_listen`, `jwt_hs256_key`. The database is the
    /// dialer's own (outbox, campaigns); it may be the ledger's: tables are prefixed
    /// `dialer_`, migrations numbered from 1000.
    #[serde(flatten)]
    pub server: ServerSettings<Dialerd>,
    /// Redis for queues and attempt counters shared by replicas: one server
    /// (`redis://host:6379`, `rediss://...`) or a Redis Cluster through its seed nodes
    /// (`redis+cluster://host1:6379,host2:6379`, `rediss+cluster://...`); unset: in-process
    /// queues and counters (one replica).
    #[serde(default)]
    pub redis_url: Option<String>,
    /// The ledger's gRPC endpoint (`http://host:port` or `https://...`).
    #[serde(default)]
    pub ledger_url: Option<String>,
    /// Bearer token (role `dialer`) for the ledger...
    #[serde(default)]
    pub ledger_token: Option<String>,
    /// ...or the ledger's HS256 key, to mint one (sub = `replica_id`).
    #[serde(default)]
    pub ledger_jwt_hs256_key: Option<String>,
    /// Without a ledger, accounts come from a generated in-memory portfolio of this many
    /// accounts (`A000000`, ...): demos and tests.
    #[serde(default)]
    pub sample_accounts: Option<u32>,
    /// TLS on the gRPC listener (PEM files); unset: plaintext.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// This replica's name: queue lease owner and outbox owner. Must stay the same across
    /// restarts of one replica so it recovers its own in-flight attempts, and differ between
    /// replicas: a dialerd refuses to start with an id another live one holds.
    #[serde(default = "default_replica")]
    pub replica_id: String,
    /// Seconds a replica's claim on its id lives without renewal (renewed every third of
    /// it): how long a crashed replica's id stays taken on another host.
    #[serde(default = "default_claim_ttl")]
    pub replica_claim_ttl_s: u64,
    /// Seconds a campaign lease lives without renewal: a dead replica's campaigns are taken
    /// over within this plus `campaign_lease_scan_ms` (renewed every third of it; the holder
    /// stops dialing two thirds of it after a renewal it could not make).
    #[serde(default = "default_lease_ttl")]
    pub campaign_lease_ttl_s: u64,
    /// Milliseconds between two scans of the campaign leases (renewal, takeover).
    #[serde(default = "default_lease_scan")]
    pub campaign_lease_scan_ms: u64,
    /// The telephone network.
    #[serde(default)]
    pub carrier: CarrierConfig,
    /// Seconds a shutdown waits for calls in progress (and their wrap-ups) before it flushes
    /// and exits anyway.
    #[serde(default = "default_grace")]
    pub shutdown_grace_s: u64,
}

/// PEM certificate chain and private key of the gRPC listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Which network calls go out on: the simulated network, or SIP trunks (docs/telephony.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CarrierConfig {
    /// The statistical network of the pacing benchmark (one per campaign).
    Sim {
        /// Benchmark scenario S1..S9 (answer rates over the day).
        #[serde(default = "default_scenario")]
        scenario: String,
        /// Seed of the draws (each campaign adds its own offset).
        #[serde(default)]
        seed: u64,
        /// Simulated seconds per real second (1: real time).
        #[serde(default = "one")]
        speed: f64,
        /// Run the dialer's clock from this instant (RFC 3339) instead of now: demos and tests
        /// at a time when calling windows are open.
        #[serde(default)]
        clock_start: Option<String>,
    },
    /// SIP trunks: real calls (`crates/telephony`; its fields in docs/telephony.md).
    Sip(Box<telephony::config::SipConfig>),
}

impl Default for CarrierConfig {
    fn default() -> Self {
        CarrierConfig::Sim {
            scenario: default_scenario(),
            seed: 0,
            speed: 1.0,
            clock_start: None,
        }
    }
}

impl CarrierConfig {
    /// The simulated scenario (validated).
    pub fn scenario(&self) -> Result<ScenarioId, ConfigError> {
        match self {
            CarrierConfig::Sim { scenario, .. } => ScenarioId::parse(scenario).ok_or_else(|| {
                ConfigError::invalid(
                    "carrier.scenario",
                    format!("{scenario:?} is not one of S1..S9"),
                )
            }),
            // Only the simulated network has scenarios; its default stands in.
            CarrierConfig::Sip(_) => Ok(ScenarioId::S2),
        }
    }

    /// Simulated seconds per real second: 1 on a real network.
    pub fn speed(&self) -> f64 {
        match self {
            CarrierConfig::Sim { speed, .. } => *speed,
            CarrierConfig::Sip(_) => 1.0,
        }
    }

    /// The instant the dialer's clock starts at, if not now.
    pub fn clock_start(&self) -> Result<Option<Timestamp>, ConfigError> {
        match self {
            CarrierConfig::Sim {
                clock_start: Some(t),
                ..
            } => t.parse().map(Some).map_err(|e| {
                ConfigError::invalid(
                    "carrier.clock_start",
                    format!("{t:?} is not an RFC 3339 instant ({e})"),
                )
            }),
            CarrierConfig::Sip(sip) => match &sip.clock_start {
                Some(t) => t.parse().map(Some).map_err(|e| {
                    ConfigError::invalid(
                        "carrier.clock_start",
                        format!("{t:?} is not an RFC 3339 instant ({e})"),
                    )
                }),
                None => Ok(None),
            },
            CarrierConfig::Sim { .. } => Ok(None),
        }
    }
}

fn default_replica() -> String {
    "dialer-1".to_owned()
}
fn default_claim_ttl() -> u64 {
    15
}
fn default_lease_ttl() -> u64 {
    6
}
fn default_lease_scan() -> u64 {
    1000
}
fn default_scenario() -> String {
    "S2".to_owned()
}
fn default_grace() -> u64 {
    DEFAULT_SHUTDOWN_GRACE_S
}
fn one() -> f64 {
    1.0
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerSettings::default(),
            redis_url: None,
            ledger_url: None,
            ledger_token: None,
            ledger_jwt_hs256_key: None,
            sample_accounts: None,
            tls: None,
            replica_id: default_replica(),
            replica_claim_ttl_s: default_claim_ttl(),
            campaign_lease_ttl_s: default_lease_ttl(),
            campaign_lease_scan_ms: default_lease_scan(),
            carrier: CarrierConfig::default(),
            shutdown_grace_s: default_grace(),
        }
    }
}

impl Config {
    /// The campaign lease timing configured.
    pub fn lease_timing(&self) -> crate::ownership::LeaseTiming {
        crate::ownership::LeaseTiming {
            ttl: std::time::Duration::from_secs(self.campaign_lease_ttl_s),
            scan: std::time::Duration::from_millis(self.campaign_lease_scan_ms),
        }
    }

    /// Reads `path` (if any), applies `DIALER_*` overrides from `env`, validates.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut cfg: Config = service::config::read(path)?;
        cfg.apply_env(&Env(env))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_env(&mut self, env: &Env<impl Fn(&str) -> Option<String>>) -> Result<(), ConfigError> {
        self.server.apply_env(env);
        env.option("DIALER_REDIS_URL", &mut self.redis_url);
        env.option("DIALER_LEDGER_URL", &mut self.ledger_url);
        env.option("DIALER_LEDGER_TOKEN", &mut self.ledger_token);
        env.option(
            "DIALER_LEDGER_JWT_HS256_KEY",
            &mut self.ledger_jwt_hs256_key,
        );
        if let Some(v) = env.get("DIALER_SAMPLE_ACCOUNTS") {
            self.sample_accounts = Some(service::config::parse("DIALER_SAMPLE_ACCOUNTS", &v)?);
        }
        match (env.get("DIALER_TLS_CERT"), env.get("DIALER_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                self.tls = Some(TlsConfig {
                    cert_path: cert.into(),
                    key_path: key.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError::invalid(
                    "tls",
                    "set both DIALER_TLS_CERT and DIALER_TLS_KEY, or neither",
                ));
            }
        }
        env.string("DIALER_REPLICA_ID", &mut self.replica_id);
        env.parsed("DIALER_REPLICA_CLAIM_TTL_S", &mut self.replica_claim_ttl_s)?;
        env.parsed(
            "DIALER_CAMPAIGN_LEASE_TTL_S",
            &mut self.campaign_lease_ttl_s,
        )?;
        env.parsed(
            "DIALER_CAMPAIGN_LEASE_SCAN_MS",
            &mut self.campaign_lease_scan_ms,
        )?;
        env.parsed("DIALER_SHUTDOWN_GRACE_S", &mut self.shutdown_grace_s)?;
        match &mut self.carrier {
            CarrierConfig::Sim {
                scenario,
                seed,
                speed,
                clock_start,
            } => {
                env.string("DIALER_CARRIER_SCENARIO", scenario);
                env.parsed("DIALER_CARRIER_SEED", seed)?;
                env.parsed("DIALER_CARRIER_SPEED", speed)?;
                env.option("DIALER_CARRIER_CLOCK_START", clock_start);
            }
            CarrierConfig::Sip(sip) => {
                env.option("DIALER_CARRIER_CLOCK_START", &mut sip.clock_start);
                // Trunk passwords stay out of config files (Kubernetes secrets, systemd
                // credentials): DIALER_SIP_PASSWORD_<N> sets trunk N's (from 0).
                for (i, trunk) in sip.trunks.iter_mut().enumerate() {
                    env.option(&format!("DIALER_SIP_PASSWORD_{i}"), &mut trunk.password);
                }
            }
        }
        Ok(())
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        if let Some(r) = &self.redis_url
            && let Err(e) = queue::redis_store::RedisTarget::parse(r)
        {
            return Err(ConfigError::invalid(
                "redis_url",
                format!("{e}, got {}", service::config::redact_url(r)),
            ));
        }
        if let Some(l) = &self.ledger_url
            && !(l.starts_with("http://") || l.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "ledger_url",
                format!("want http://host:port or https://..., got {l:?}"),
            ));
        }
        if self.ledger_token.is_some() && self.ledger_jwt_hs256_key.is_some() {
            return Err(ConfigError::invalid(
                "ledger_token",
                "set ledger_token or ledger_jwt_hs256_key, not both",
            ));
        }
        if let Some(k) = &self.ledger_jwt_hs256_key
            && k.len() < 32
        {
            return Err(ConfigError::invalid(
                "ledger_jwt_hs256_key",
                "must be at least 32 bytes",
            ));
        }
        if self.sample_accounts.is_some() && self.ledger_url.is_some() {
            return Err(ConfigError::invalid(
                "sample_accounts",
                "only without ledger_url (accounts come from the ledger)",
            ));
        }
        if self.sample_accounts.is_some_and(|n| n > 1_000_000) {
            return Err(ConfigError::invalid("sample_accounts", "at most 1000000"));
        }
        if let Some(tls) = &self.tls {
            for (field, path) in [
                ("tls.cert_path", &tls.cert_path),
                ("tls.key_path", &tls.key_path),
            ] {
                if !path.is_file() {
                    return Err(ConfigError::invalid(
                        field,
                        format!("{} is not a readable file", path.display()),
                    ));
                }
            }
        }
        let r = &self.replica_id;
        if r.is_empty()
            || r.len() > 64
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::invalid(
                "replica_id",
                "1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        self.carrier.scenario()?;
        self.carrier.clock_start()?;
        if let CarrierConfig::Sip(sip) = &self.carrier {
            sip.validate()
                .map_err(|e| ConfigError::invalid("carrier", e.to_string()))?;
        }
        let speed = &self.carrier.speed();
        if !(*speed > 0.0 && *speed <= 1000.0) {
            return Err(ConfigError::invalid(
                "carrier.speed",
                "must be in (0, 1000]",
            ));
        }
        if *speed != 1.0 && self.carrier.clock_start()?.is_none() {
            // The speed is the dialer's clock rate too: from now, it would run ahead of the
            // wall clock and record contacts in the future.
            return Err(ConfigError::invalid(
                "carrier.speed",
                "other than 1 needs carrier.clock_start (the dialer's clock runs at this speed)",
            ));
        }
        if !(3..=600).contains(&self.replica_claim_ttl_s) {
            return Err(ConfigError::invalid(
                "replica_claim_ttl_s",
                "must be 3 to 600",
            ));
        }
        if !(3..=600).contains(&self.campaign_lease_ttl_s) {
            return Err(ConfigError::invalid(
                "campaign_lease_ttl_s",
                "must be 3 to 600",
            ));
        }
        if self.campaign_lease_scan_ms < 100
            || self.campaign_lease_scan_ms > self.campaign_lease_ttl_s * 1000 / 3
        {
            return Err(ConfigError::invalid(
                "campaign_lease_scan_ms",
                "must be 100 to a third of campaign_lease_ttl_s",
            ));
        }
        if !(1..=3600).contains(&self.shutdown_grace_s) {
            return Err(ConfigError::invalid(
                "shutdown_grace_s",
                "must be 1 to 3600",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_are_valid_and_env_overrides() {
        let c = Config::load(None, |_| None).expect("defaults");
        assert_eq!(c.server.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.redis_url, None);
        assert_eq!(c.carrier.scenario().expect("S2"), ScenarioId::S2);
        let c = Config::load(
            None,
            env(&[
                ("DIALER_LISTEN", "127.0.0.1:0"),
                ("DIALER_REDIS_URL", "redis://127.0.0.1:6379"),
                ("DIALER_CARRIER_SPEED", "20"),
                ("DIALER_CARRIER_CLOCK_START", "2026-11-23T16:00:00Z"),
                ("DIALER_SHUTDOWN_GRACE_S", "5"),
            ]),
        )
        .expect("env");
        assert_eq!(c.server.listen, "127.0.0.1:0");
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(c.shutdown_grace_s, 5);
        assert!(c.carrier.clock_start().expect("ts").is_some());
        // A Redis Cluster through its seed nodes.
        const CLUSTER: &str = "redis+cluster://10.0.0.1:6379,10.0.0.2:6379";
        let c = Config::load(None, env(&[("DIALER_REDIS_URL", CLUSTER)])).expect("cluster");
        assert_eq!(c.redis_url.as_deref(), Some(CLUSTER));
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("DIALER_DATABASE_URL", "mysql://x")], "database_url"),
            (&[("DIALER_REDIS_URL", "http://x")], "redis_url"),
            (
                &[("DIALER_REDIS_URL", "redis+cluster://a:1/2")],
                "redis_url",
            ),
            (&[("DIALER_LEDGER_URL", "ledger:50061")], "ledger_url"),
            (&[("DIALER_LISTEN", "nowhere")], "listen"),
            (&[("DIALER_METRICS_LISTEN", "x")], "metrics_listen"),
            (&[("DIALER_JWT_HS256_KEY", "short")], "jwt_hs256_key"),
            (&[("DIALER_TLS_CERT", "/nonexistent.pem")], "tls"),
            (
                &[
                    ("DIALER_TLS_CERT", "/nonexistent.pem"),
                    ("DIALER_TLS_KEY", "/nonexistent.key"),
                ],
                "tls.cert_path",
            ),
            (&[("DIALER_REPLICA_ID", "a b")], "replica_id"),
            (&[("DIALER_CARRIER_SCENARIO", "S42")], "carrier.scenario"),
            (&[("DIALER_CARRIER_SPEED", "0")], "carrier.speed"),
            (&[("DIALER_CARRIER_SPEED", "fast")], "DIALER_CARRIER_SPEED"),
            (
                &[("DIALER_CARRIER_CLOCK_START", "noon")],
                "carrier.clock_start",
            ),
            (&[("DIALER_SHUTDOWN_GRACE_S", "0")], "shutdown_grace_s"),
            (&[("DIALER_SAMPLE_ACCOUNTS", "5000000")], "sample_accounts"),
            (
                &[
                    ("DIALER_SAMPLE_ACCOUNTS", "10"),
                    ("DIALER_LEDGER_URL", "http://127.0.0.1:50061"),
                ],
                "sample_accounts",
            ),
        ];
        for (pairs, want) in cases {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let e = Config::load(None, |k| {
                pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
            .expect_err(want);
            assert_eq!(e.field(), Some(*want), "{e}");
        }
    }

    #[test]
    fn reads_toml_with_the_carrier_section() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("dialer.toml");
        std::fs::write(
            &p,
            r#"
            database_url = "postgres://postgres@127.0.0.1:5432/test"
            redis_url = "redis://127.0.0.1:6379"
            ledger_url = "http://127.0.0.1:50061"
            ledger_jwt_hs256_key = "0123456789abcdef0123456789abcdef"
            listen = "0.0.0.0:50071"
            metrics_listen = "0.0.0.0:9471"
            replica_id = "dialer-a"
            shutdown_grace_s = 30
            [carrier]
            kind = "sim"
            scenario = "S1"
            seed = 9
            "#,
        )
        .expect("write");
        let c = Config::load(Some(&p), |_| None).expect("valid");
        assert_eq!(c.replica_id, "dialer-a");
        assert_eq!(
            c.carrier,
            CarrierConfig::Sim {
                scenario: "S1".into(),
                seed: 9,
                speed: 1.0,
                clock_start: None
            }
        );
        std::fs::write(
            &p,
            "[carrier]\nkind = \"sip\"\n[[carrier.trunks]]\nname = \"a\"\nuri = \"sip:127.0.0.1:5070\"\n",
        )
        .expect("write");
        let c = Config::load(Some(&p), |_| None).expect("valid");
        let CarrierConfig::Sip(sip) = &c.carrier else {
            panic!("sip carrier expected: {:?}", c.carrier)
        };
        assert_eq!(sip.trunks[0].uri, "sip:127.0.0.1:5070");
        std::fs::write(&p, "[carrier]\nkind = \"sip\"\n").expect("write");
        assert!(matches!(
            Config::load(Some(&p), |_| None),
            Err(ConfigError::Parse { .. })
        ));
        std::fs::write(&p, "bogus = 1\n").expect("write");
        assert!(matches!(
            Config::load(Some(&p), |_| None),
            Err(ConfigError::Parse { .. })
        ));
    }
}
