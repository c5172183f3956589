//! ledgerd configuration: a TOML file plus environment overrides (`LEDGER_DATABASE_URL`,
//! `LEDGER_LISTEN`, `LEDGER_METRICS_LISTEN`, `LEDGER_JWT_HS256_KEY`,
//! `LEDGER_MAX_FUTURE_SKEW_S`, `LEDGER_CLOCK_START`), validated at start so a bad setting
//! stops the process with a message naming it. The settings every service has and the
//! loading are the service skeleton's ([`service::config`]).

use std::path::Path;

use auth::Role;
use serde::Deserialize;
pub use service::ConfigError;
use service::config::Env;
use service::{ServerSettings, ServiceSpec};

/// Default store: an SQLite file next to the process, nothing to install.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ledger.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50061";

/// ledgerd's names and defaults in the service skeleton.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ledgerd;

impl ServiceSpec for Ledgerd {
    const NAME: &'static str = "ledgerd";
    const ABOUT: &'static str = "Account ledger service (gRPC)";
    const ENV_PREFIX: &'static str = "LEDGER";
    const DEFAULT_DATABASE_URL: &'static str = DEFAULT_DATABASE_URL;
    const DEFAULT_LISTEN: &'static str = DEFAULT_LISTEN;
    const TOKEN_ROLES: &'static [Role] = &[Role::Crm, Role::Dialer, Role::Admin];
    const TOKEN_HOURS: i64 = 24;
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `database_url`, `listen`, `metrics_listen`, `jwt_hs256_key`.
    #[serde(flatten)]
    pub server: ServerSettings<Ledgerd>,
    /// Contact events are kept this many years after the last activity on their debts
    /// (Reg F 1006.100 requires at least 3).
    #[serde(default = "default_retention")]
    pub retention_years: u32,
    /// Most outcomes applied in one ingest transaction (1..=10000, default 4000).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// An outcome whose `started_at` is more than this many seconds after the ledger's now
    /// is refused (0..=86400, default 300: clocks of the dialer and the ledger disagree a
    /// little, an attempt never starts in the future).
    #[serde(default = "default_max_future_skew_s")]
    pub max_future_skew_s: u64,
    /// RFC 3339 instant the ledger's clock starts at, then running in real time (demos and
    /// tests whose dialer runs on `DIALER_CARRIER_CLOCK_START`); unset: the wall clock.
    #[serde(default)]
    pub clock_start: Option<String>,
}

fn default_max_future_skew_s() -> u64 {
    ledger_api::limits::DEFAULT_MAX_FUTURE_SKEW.as_secs()
}

fn default_max_batch() -> usize {
    crate::grpc::MAX_BATCH
}

fn default_retention() -> u32 {
    3
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerSettings::default(),
            retention_years: default_retention(),
            max_batch: default_max_batch(),
            max_future_skew_s: default_max_future_skew_s(),
            clock_start: None,
        }
    }
}

impl Config {
    /// Reads `path` (if any), applies environment overrides from `env`, validates.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg: Config = service::config::read(path)?;
        let env = Env(env);
        cfg.server.apply_env(&env);
        if let Some(v) = env.get("LEDGER_MAX_FUTURE_SKEW_S") {
            cfg.max_future_skew_s = v.parse().map_err(|_| {
                ConfigError::invalid(
                    "max_future_skew_s",
                    format!("{v:?} is not a number of seconds"),
                )
            })?;
        }
        env.option("LEDGER_CLOCK_START", &mut cfg.clock_start);
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        if !(1..=10_000).contains(&self.max_batch) {
            return Err(ConfigError::invalid("max_batch", "must be 1..=10000"));
        }
        if self.max_future_skew_s > 86_400 {
            return Err(ConfigError::invalid(
                "max_future_skew_s",
                "must be 0..=86400",
            ));
        }
        self.clock()?;
        if self.retention_years < 3 {
            return Err(ConfigError::invalid(
                "retention_years",
                "Reg F requires keeping records at least 3 years",
            ));
        }
        Ok(())
    }

    /// The ledger's clock: the wall clock, or one starting at `clock_start`.
    pub fn clock(&self) -> Result<crate::clock::Clock, ConfigError> {
        match &self.clock_start {
            None => Ok(crate::clock::Clock::system()),
            Some(v) => v
                .parse::<jiff::Timestamp>()
                .map(crate::clock::Clock::starting_at)
                .map_err(|e| {
                    ConfigError::invalid(
                        "clock_start",
                        format!("{v:?} is not an RFC 3339 instant ({e})"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_env_and_errors() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.server.database_url, DEFAULT_DATABASE_URL);
        let c = Config::load(None, |k| {
            (k == "LEDGER_LISTEN").then(|| "127.0.0.1:0".to_owned())
        })
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:0");
        let e = Config::load(None, |k| {
            (k == "LEDGER_DATABASE_URL").then(|| "mysql://x".to_owned())
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("database_url"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.toml");
        std::fs::write(&p, "retention_years = 1\n").unwrap();
        let e = Config::load(Some(&p), |_| None).unwrap_err();
        assert!(e.to_string().starts_with("retention_years"), "{e}");
        std::fs::write(&p, "bogus = 1\n").unwrap();
        assert!(Config::load(Some(&p), |_| None).is_err());
        for (k, v, field) in [
            ("LEDGER_MAX_FUTURE_SKEW_S", "-1", "max_future_skew_s"),
            ("LEDGER_MAX_FUTURE_SKEW_S", "90000", "max_future_skew_s"),
            ("LEDGER_CLOCK_START", "noon", "clock_start"),
        ] {
            let e = Config::load(None, |key| (key == k).then(|| v.to_owned())).unwrap_err();
            assert!(e.to_string().starts_with(field), "{e}");
        }
        let c = Config::load(None, |k| {
            (k == "LEDGER_CLOCK_START").then(|| "2031-01-01T00:00:00Z".to_owned())
        })
        .unwrap();
        assert!(c.clock().unwrap().now() >= "2031-01-01T00:00:00Z".parse().unwrap());
    }
}
