//! ledgerd configuration: a TOML file plus environment overrides (`LEDGER_DATABASE_URL`,
//! `LEDGER_LISTEN`, `LEDGER_METRICS_LISTEN`, `LEDGER_JWT_HS256_KEY`,
//! `LEDGER_MAX_FUTURE_SKEW_S`, `LEDGER_CLOCK_START`), validated at start so a bad setting
//! stops the process with a message naming it.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Default store: an SQLite file next to the process, nothing to install.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ledger.db?mode=rwc";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50061";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `postgres://...` (production) or `sqlite:...` (embedded default).
    #[serde(default = "default_db")]
    pub database_url: String,
    /// gRPC listen address; port 0 picks a free port (printed on stdout).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Prometheus `/metrics` listen address; unset disables the endpoint.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// HS256 key for bearer JWTs; unset disables authentication (development only).
    #[serde(default)]
    pub jwt_hs256_key: Option<String>,
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

fn default_db() -> String {
    DEFAULT_DATABASE_URL.to_owned()
}
fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_retention() -> u32 {
    3
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: default_db(),
            listen: default_listen(),
            metrics_listen: None,
            jwt_hs256_key: None,
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
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.display().to_string(),
                    source,
                })?
            }
            None => Config::default(),
        };
        if let Some(v) = env("LEDGER_DATABASE_URL") {
            cfg.database_url = v;
        }
        if let Some(v) = env("LEDGER_LISTEN") {
            cfg.listen = v;
        }
        if let Some(v) = env("LEDGER_METRICS_LISTEN") {
            cfg.metrics_listen = Some(v);
        }
        if let Some(v) = env("LEDGER_JWT_HS256_KEY") {
            cfg.jwt_hs256_key = Some(v);
        }
        if let Some(v) = env("LEDGER_MAX_FUTURE_SKEW_S") {
            cfg.max_future_skew_s = v.parse().map_err(|_| ConfigError::Invalid {
                field: "max_future_skew_s",
                message: format!("{v:?} is not a number of seconds"),
            })?;
        }
        if let Some(v) = env("LEDGER_CLOCK_START") {
            cfg.clock_start = Some(v);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::Invalid {
                field: "database_url",
                message: format!(
                    "want postgres://... or sqlite:..., got {}",
                    ledger_api::redact::url(url)
                ),
            });
        }
        self.listen_addr()?;
        if let Some(m) = &self.metrics_listen {
            m.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid {
                field: "metrics_listen",
                message: format!("{m:?} is not host:port ({e})"),
            })?;
        }
        if let Some(k) = &self.jwt_hs256_key
            && k.len() < 32
        {
            return Err(ConfigError::Invalid {
                field: "jwt_hs256_key",
                message: "must be at least 32 bytes".into(),
            });
        }
        if !(1..=10_000).contains(&self.max_batch) {
            return Err(ConfigError::Invalid {
                field: "max_batch",
                message: "must be 1..=10000".into(),
            });
        }
        if self.max_future_skew_s > 86_400 {
            return Err(ConfigError::Invalid {
                field: "max_future_skew_s",
                message: "must be 0..=86400".into(),
            });
        }
        self.clock()?;
        if self.retention_years < 3 {
            return Err(ConfigError::Invalid {
                field: "retention_years",
                message: "Reg F requires keeping records at least 3 years".into(),
            });
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
                .map_err(|e| ConfigError::Invalid {
                    field: "clock_start",
                    message: format!("{v:?} is not an RFC 3339 instant ({e})"),
                }),
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| ConfigError::Invalid {
            field: "listen",
            message: format!("{:?} is not host:port ({e})", self.listen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_env_and_errors() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        let c = Config::load(None, |k| {
            (k == "LEDGER_LISTEN").then(|| "127.0.0.1:0".to_owned())
        })
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:0");
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
