//! Settings every service has, and the loading they share: a TOML file (or the defaults),
//! then environment overrides, then validation, so a bad setting stops the process with a
//! message naming it.
//!
//! A service's `Config` flattens [`ServerSettings`] into its own keys (`database_url`,
//! `listen`, `metrics_listen`, `jwt_hs256_key` stay top-level in its TOML) and reads them
//! from `PREFIX_DATABASE_URL`, `PREFIX_LISTEN`, `PREFIX_METRICS_LISTEN` and
//! `PREFIX_JWT_HS256_KEY`, the prefix from its [`ServiceSpec`].

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ServiceSpec;

/// A configuration a service cannot start with.
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

impl ConfigError {
    /// The setting `field` is wrong: `message` says how.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The bad setting's name, if the file could be read and parsed.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Read { .. } | ConfigError::Parse { .. } => None,
        }
    }
}

/// The settings of `path` (TOML, unknown keys refused), or the defaults without a file.
pub fn read<C: DeserializeOwned + Default>(path: Option<&Path>) -> Result<C, ConfigError> {
    let Some(p) = path else {
        return Ok(C::default());
    };
    let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
        path: p.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: p.display().to_string(),
        source,
    })
}

/// Environment overrides: the function answers a variable's value, if set (the process's
/// environment in a binary, a table in tests).
#[derive(Debug, Clone, Copy)]
pub struct Env<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The variable's value, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// Sets `slot` to the variable's value, if set.
    pub fn string(&self, name: &str, slot: &mut String) {
        if let Some(v) = self.get(name) {
            *slot = v;
        }
    }

    /// Sets `slot` to the variable's value, if set.
    pub fn option(&self, name: &str, slot: &mut Option<String>) {
        if let Some(v) = self.get(name) {
            *slot = Some(v);
        }
    }

    /// Sets `slot` to the variable's value parsed, if set; the error names the variable.
    pub fn parsed<T: FromStr>(&self, name: &'static str, slot: &mut T) -> Result<(), ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        if let Some(v) = self.get(name) {
            *slot = parse(name, &v)?;
        }
        Ok(())
    }
}

/// `v` parsed; the error names `field` (a setting or the variable it came from).
pub fn parse<T: FromStr>(field: &'static str, v: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    v.parse()
        .map_err(|e: T::Err| ConfigError::invalid(field, format!("{v:?}: {e}")))
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`: a URL fit for a log line
/// or an error message.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
    {
        let user = creds.split(':').next().unwrap_or("");
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

/// What every service is configured with, flattened into its `Config`; `S` gives the
/// defaults and the environment prefix.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct ServerSettings<S: ServiceSpec> {
    /// The service's database: `postgres://...` (production) or `sqlite:...` (the embedded
    /// default).
    #[serde(default = "default_database_url::<S>")]
    pub database_url: String,
    /// gRPC listen address; port 0 picks a free port (printed on stdout).
    #[serde(default = "default_listen::<S>")]
    pub listen: String,
    /// Prometheus `/metrics` listen address; unset disables the endpoint.
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// HS256 key for callers' bearer JWTs; unset disables authentication (development only:
    /// every caller is an admin).
    #[serde(default)]
    pub jwt_hs256_key: Option<String>,
    /// `[telemetry]`: OTLP export of the spans (off by default; `crate::telemetry`).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// Which service these are for (no value of its own).
    #[serde(skip)]
    pub service: S,
}

fn default_database_url<S: ServiceSpec>() -> String {
    S::DEFAULT_DATABASE_URL.to_owned()
}

fn default_listen<S: ServiceSpec>() -> String {
    S::DEFAULT_LISTEN.to_owned()
}

impl<S: ServiceSpec> Default for ServerSettings<S> {
    fn default() -> Self {
        ServerSettings {
            database_url: default_database_url::<S>(),
            listen: default_listen::<S>(),
            metrics_listen: None,
            jwt_hs256_key: None,
            telemetry: Default::default(),
            service: S::default(),
        }
    }
}

impl<S: ServiceSpec> ServerSettings<S> {
    /// Applies `PREFIX_DATABASE_URL`, `PREFIX_LISTEN`, `PREFIX_METRICS_LISTEN` and
    /// `PREFIX_JWT_HS256_KEY`, and OpenTelemetry's `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_SERVICE_NAME`.
    pub fn apply_env(&mut self, env: &Env<impl Fn(&str) -> Option<String>>) {
        let var = |name: &str| format!("{}_{name}", S::ENV_PREFIX);
        env.string(&var("DATABASE_URL"), &mut self.database_url);
        env.string(&var("LISTEN"), &mut self.listen);
        env.option(&var("METRICS_LISTEN"), &mut self.metrics_listen);
        env.option(&var("JWT_HS256_KEY"), &mut self.jwt_hs256_key);
        self.telemetry.apply_env(env);
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database_url;
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(ConfigError::invalid(
                "database_url",
                format!("want postgres://... or sqlite:..., got {}", redact_url(url)),
            ));
        }
        self.listen_addr()?;
        self.metrics_addr()?;
        if let Some(k) = &self.jwt_hs256_key
            && k.len() < 32
        {
            return Err(ConfigError::invalid(
                "jwt_hs256_key",
                "must be at least 32 bytes",
            ));
        }
        self.telemetry.validate()?;
        Ok(())
    }

    /// The gRPC listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        host_port("listen", &self.listen)
    }

    /// The metrics endpoint's address, if it is enabled.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.metrics_listen
            .as_deref()
            .map(|m| host_port("metrics_listen", m))
            .transpose()
    }

    /// The callers' authentication: tokens signed with `jwt_hs256_key`, or none without it.
    pub fn auth(&self) -> auth::Auth {
        auth::Auth::new(self.jwt_hs256_key.as_deref())
    }
}

fn host_port(field: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse()
        .map_err(|e| ConfigError::invalid(field, format!("{v:?} is not host:port ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Demo;

    /// A service's config as the services write theirs.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DemoConfig {
        #[serde(flatten)]
        server: ServerSettings<Demo>,
        #[serde(default)]
        own: u32,
    }

    #[test]
    fn defaults_toml_and_unknown_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("demo.toml");
        let c: DemoConfig = read(None).expect("defaults");
        assert_eq!(c.server, ServerSettings::default());
        assert_eq!(c.server.listen, "127.0.0.1:50000");
        std::fs::write(&p, "own = 3\nlisten = \"127.0.0.1:0\"\n").expect("write");
        let c: DemoConfig = read(Some(&p)).expect("valid");
        assert_eq!((c.own, c.server.listen.as_str()), (3, "127.0.0.1:0"));
        assert_eq!(c.server.database_url, Demo::DEFAULT_DATABASE_URL);
        for bad in ["bogus = 1\n", "own = \"x\"\n", "listen = 5\n", "[server]\n"] {
            std::fs::write(&p, bad).expect("write");
            assert!(
                matches!(read::<DemoConfig>(Some(&p)), Err(ConfigError::Parse { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            read::<DemoConfig>(Some(&dir.path().join("none.toml"))),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn the_telemetry_table_of_a_service_toml() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("demo.toml");
        std::fs::write(
            &p,
            "own = 1\n[telemetry]\notlp_endpoint = \"http://collector:4317\"\n\
             resource_attributes = { \"deployment.environment\" = \"prod\" }\n",
        )
        .expect("write");
        let c: DemoConfig = read(Some(&p)).expect("valid");
        assert_eq!(
            c.server.telemetry.otlp_endpoint.as_deref(),
            Some("http://collector:4317")
        );
        assert_eq!(
            c.server.telemetry.resource_attributes["deployment.environment"],
            "prod"
        );
        c.server.validate().expect("valid");
        std::fs::write(&p, "[telemetry]\nendpoint = \"http://x:1\"\n").expect("write");
        assert!(matches!(
            read::<DemoConfig>(Some(&p)),
            Err(ConfigError::Parse { .. })
        ));
        let mut s = ServerSettings::<Demo>::default();
        s.telemetry.otlp_endpoint = Some("collector:4317".into());
        assert_eq!(
            s.validate().unwrap_err().field(),
            Some("telemetry.otlp_endpoint")
        );
    }

    #[test]
    fn env_overrides_and_bad_settings_are_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Env(move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let mut s = ServerSettings::<Demo>::default();
        s.apply_env(&env(&[
            ("DEMO_LISTEN", "127.0.0.1:0"),
            ("DEMO_METRICS_LISTEN", "127.0.0.1:9000"),
            ("DEMO_JWT_HS256_KEY", "0123456789abcdef0123456789abcdef"),
            ("OTHER_DATABASE_URL", "x"),
        ]));
        s.validate().expect("valid");
        assert_eq!(s.listen_addr().expect("addr").port(), 0);
        assert_eq!(
            s.metrics_addr().expect("addr").map(|a| a.port()),
            Some(9000)
        );
        assert_eq!(s.database_url, Demo::DEFAULT_DATABASE_URL);
        for (k, v, want) in [
            ("DEMO_DATABASE_URL", "mysql://u:pw@h/db", "database_url"),
            ("DEMO_LISTEN", "nowhere", "listen"),
            ("DEMO_METRICS_LISTEN", "x", "metrics_listen"),
            ("DEMO_JWT_HS256_KEY", "short", "jwt_hs256_key"),
        ] {
            let mut s = ServerSettings::<Demo>::default();
            s.apply_env(&Env(|n: &str| (n == k).then(|| v.to_owned())));
            let e = s.validate().expect_err(want);
            assert!(!e.to_string().contains("pw"), "{e}");
            assert_eq!(e.field(), Some(want));
        }
        let mut n = 0u32;
        let e = env(&[("DEMO_N", "x")])
            .parsed("DEMO_N", &mut n)
            .expect_err("not a number");
        assert_eq!(e.field(), Some("DEMO_N"));
        env(&[("DEMO_N", "7")])
            .parsed("DEMO_N", &mut n)
            .expect("number");
        assert_eq!(n, 7);
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://ledger.db"), "sqlite://ledger.db");
    }
}
