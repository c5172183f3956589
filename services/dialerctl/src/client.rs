//! Where `dialerd` is and who is asking: the address, bearer token and (for `https://`) CA
//! certificate of the manager's commands, from flags, the environment (`DIALER_ADDR`,
//! `DIALER_TOKEN`, `DIALER_CA_CERT`) or a config file
//! (`--config`, else `$XDG_CONFIG_HOME/dialerctl/config.toml` or
//! `~/.config/dialerctl/config.toml`), in that order; the gRPC clients on them; and gRPC
//! errors turned into one line a manager can act on, with an exit code per kind.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use auth::{BearerAuth, Token};
use collections_proto::dialer_v1 as pb;
use collections_proto::ledger_v1::receivables_service_client::ReceivablesServiceClient;
use pb::agent_service_client::AgentServiceClient;
use pb::campaign_service_client::CampaignServiceClient;
use pb::compliance_service_client::ComplianceServiceClient;
use serde::Deserialize;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// dialerd's default address (the demo's `--serve` listens there).
pub const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// The connection flags every manager command takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// dialerd's gRPC address (`host:port` or `http://host:port`) [env DIALER_ADDR, config
    /// `addr`, default 127.0.0.1:50051].
    #[arg(long, global = true)]
    pub addr: Option<String>,
    /// A manager's (or admin's) bearer token [env DIALER_TOKEN, config `token`].
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// PEM file of the CA that signed dialerd's certificate, for an `https://` address [env
    /// DIALER_CA_CERT, config `ca_cert`].
    #[arg(long, global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Config file with `addr`, `token` and `ca_cert` [default
    /// ~/.config/dialerctl/config.toml].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print one JSON document instead of a table (docs/dialer-service.md gives the shapes).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The config file: every key optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub addr: Option<String>,
    pub token: Option<String>,
    pub ca_cert: Option<PathBuf>,
}

/// The address, token and CA certificate in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub addr: String,
    pub token: Option<String>,
    pub ca_cert: Option<PathBuf>,
    /// Which server it is, for messages: `dialerd` or `ledgerd`.
    pub server: &'static str,
}

/// ledgerd's default address (its `listen` default).
pub const DEFAULT_LEDGER_ADDR: &str = "http://127.0.0.1:50061";

/// The connection flags of the commands that ask `ledgerd` (`dialerctl ledger export`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LedgerConnArgs {
    /// ledgerd's gRPC address (`host:port` or `http://host:port`) [env LEDGER_ADDR, default
    /// 127.0.0.1:50061].
    #[arg(long)]
    pub addr: Option<String>,
    /// A manager's (or admin's) bearer token for the ledger [env LEDGER_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// PEM file of the CA that signed ledgerd's certificate, for an `https://` address [env
    /// LEDGER_CA_CERT].
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

/// Resolves the ledger's flags over the environment over the default (no config file: the
/// dialerctl config file names dialerd).
pub fn resolve_ledger(args: &LedgerConnArgs, env: &dyn Fn(&str) -> Option<String>) -> Conn {
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let addr = non_empty(args.addr.clone())
        .or_else(|| non_empty(env("LEDGER_ADDR")))
        .unwrap_or_else(|| DEFAULT_LEDGER_ADDR.to_string());
    Conn {
        addr: if addr.contains("://") {
            addr
        } else {
            format!("http://{addr}")
        },
        token: non_empty(args.token.clone())
            .or_else(|| non_empty(env("LEDGER_TOKEN")))
            .map(|t| t.trim().to_string()),
        ca_cert: args
            .ca_cert
            .clone()
            .or_else(|| non_empty(env("LEDGER_CA_CERT")).map(PathBuf::from)),
        server: "ledgerd",
    }
}

/// The default config file's path, if a home is known.
fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("dialerctl").join("config.toml"))
}

/// Resolves flags over environment over file over the default. An explicit `--config` that
/// cannot be read is an error; a missing default file is not.
pub fn resolve(args: &ConnArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Conn> {
    let file = match &args.config {
        Some(p) => read_config(p)?,
        None => match default_config_path(env) {
            Some(p) if p.exists() => read_config(&p)?,
            _ => FileConfig::default(),
        },
    };
    let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let addr = non_empty(args.addr.clone())
        .or_else(|| non_empty(env("DIALER_ADDR")))
        .or_else(|| non_empty(file.addr))
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let token = non_empty(args.token.clone())
        .or_else(|| non_empty(env("DIALER_TOKEN")))
        .or_else(|| non_empty(file.token))
        .map(|t| t.trim().to_string());
    let ca_cert = args
        .ca_cert
        .clone()
        .or_else(|| non_empty(env("DIALER_CA_CERT")).map(PathBuf::from))
        .or(file.ca_cert);
    let addr = if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    };
    Ok(Conn {
        addr,
        token,
        ca_cert,
        server: "dialerd",
    })
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

pub type Campaigns = CampaignServiceClient<InterceptedService<Channel, BearerAuth>>;
pub type Explainer = ComplianceServiceClient<InterceptedService<Channel, BearerAuth>>;
pub type Agents = AgentServiceClient<InterceptedService<Channel, BearerAuth>>;
pub type Receivables = ReceivablesServiceClient<InterceptedService<Channel, BearerAuth>>;

impl Conn {
    async fn channel(&self) -> Result<Channel, Failure> {
        let unreachable = |e: &dyn std::fmt::Display| Failure {
            kind: FailureKind::Unavailable,
            message: format!("cannot reach {} at {}: {e}", self.server, self.addr),
        };
        let usage = |message: String| Failure {
            kind: FailureKind::Usage,
            message,
        };
        let mut endpoint = Endpoint::from_shared(self.addr.clone())
            .map_err(|e| usage(format!("--addr {}: {e}", self.addr)))?;
        if self.addr.starts_with("https://") {
            let Some(ca) = &self.ca_cert else {
                let sources = if self.server == "ledgerd" {
                    "--ca-cert or LEDGER_CA_CERT"
                } else {
                    "--ca-cert, DIALER_CA_CERT or `ca_cert` in the config file"
                };
                return Err(usage(format!(
                    "--addr {}: an https address needs the CA certificate that signed {}'s ({sources})",
                    self.addr, self.server
                )));
            };
            let pem =
                std::fs::read(ca).map_err(|e| usage(format!("--ca-cert {}: {e}", ca.display())))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| usage(format!("--ca-cert {}: {e}", ca.display())))?;
        }
        endpoint
            .connect_timeout(std::time::Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| unreachable(&source_chain(&e)))
    }

    fn bearer(&self) -> BearerAuth {
        BearerAuth(match &self.token {
            Some(t) => Token::fixed(t),
            None => Token::none(),
        })
    }

    pub async fn campaigns(&self) -> Result<Campaigns, Failure> {
        let ch = self.channel().await?;
        Ok(CampaignServiceClient::with_interceptor(ch, self.bearer())
            .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES))
    }

    pub async fn agents(&self) -> Result<Agents, Failure> {
        let ch = self.channel().await?;
        Ok(AgentServiceClient::with_interceptor(ch, self.bearer()))
    }

    pub async fn receivables(&self) -> Result<Receivables, Failure> {
        let ch = self.channel().await?;
        Ok(ReceivablesServiceClient::with_interceptor(
            ch,
            self.bearer(),
        ))
    }

    pub async fn explainer(&self) -> Result<Explainer, Failure> {
        let ch = self.channel().await?;
        Ok(ComplianceServiceClient::with_interceptor(ch, self.bearer()))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// What went wrong, by what the caller can do about it: each kind has its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A bad flag, file or argument on our side, or INVALID_ARGUMENT: fix the input.
    Invalid,
    /// UNAUTHENTICATED or PERMISSION_DENIED: fix the token.
    Auth,
    /// NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION: the campaign is not where you think.
    State,
    /// dialerd cannot be reached, or is shutting down: try again.
    Unavailable,
    /// A malformed address.
    Usage,
    Other,
}

/// A failed command: one line for stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Invalid,
            message: message.into(),
        }
    }

    /// The process exit code (docs/dialer-service.md lists them).
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FailureKind::Other => 1,
            FailureKind::Usage => 2,
            FailureKind::Auth => 3,
            FailureKind::Invalid => 4,
            FailureKind::State => 5,
            FailureKind::Unavailable => 6,
        }
    }
}

/// One line for a gRPC error of a manager's command (`what`: what was asked, e.g.
/// "campaign start spring").
pub fn describe(status: &tonic::Status, what: &str) -> Failure {
    describe_for(status, what, "dialerd")
}

/// [`describe`] for a command on `server` (`ledgerd`).
pub fn describe_for(status: &tonic::Status, what: &str, server: &str) -> Failure {
    let msg = status.message();
    let (kind, message) = match status.code() {
        Code::Unauthenticated => (
            FailureKind::Auth,
            format!(
                "{what}: the token was refused (UNAUTHENTICATED: {msg}); give a manager's token with --token, DIALER_TOKEN or the config file"
            ),
        ),
        Code::PermissionDenied => (
            FailureKind::Auth,
            format!(
                "{what}: the token is not a manager's or an admin's (PERMISSION_DENIED: {msg})"
            ),
        ),
        Code::InvalidArgument => (
            FailureKind::Invalid,
            format!("{what}: refused (INVALID_ARGUMENT): {msg}"),
        ),
        Code::NotFound => (FailureKind::State, format!("{what}: not found: {msg}")),
        Code::AlreadyExists => (FailureKind::State, format!("{what}: already exists: {msg}")),
        Code::FailedPrecondition => (
            FailureKind::State,
            format!("{what}: not possible now (FAILED_PRECONDITION): {msg}"),
        ),
        Code::Unavailable => (
            FailureKind::Unavailable,
            format!("{what}: {server} is unavailable: {msg}"),
        ),
        // A transport failure after connecting (e.g. plaintext to a TLS port): the status
        // carries the connection's error.
        Code::Cancelled | Code::Unknown | Code::Internal
            if std::error::Error::source(status).is_some() =>
        {
            let cause = std::error::Error::source(status).map_or(String::new(), source_chain);
            (
                FailureKind::Unavailable,
                format!(
                    "{what}: the connection to {server} failed ({msg}: {cause}); a {server} with TLS needs an https:// address"
                ),
            )
        }
        c => (FailureKind::Other, format!("{what}: {c:?}: {msg}")),
    };
    Failure { kind, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "addr = \"file:1\"\ntoken = \"file-token\"\nca_cert = \"file-ca.pem\"\n",
        )
        .expect("write");
        let from_file = ConnArgs {
            config: Some(file.clone()),
            ..ConnArgs::default()
        };
        let none = env_of(&[]);
        assert_eq!(
            resolve(&from_file, &none).expect("conn"),
            Conn {
                addr: "http://file:1".into(),
                token: Some("file-token".into()),
                ca_cert: Some("file-ca.pem".into()),
                server: "dialerd",
            }
        );
        let env = env_of(&[
            ("DIALER_ADDR", "env:2"),
            ("DIALER_TOKEN", "env-token"),
            ("DIALER_CA_CERT", "env-ca.pem"),
        ]);
        assert_eq!(
            resolve(&from_file, &env).expect("conn"),
            Conn {
                addr: "http://env:2".into(),
                token: Some("env-token".into()),
                ca_cert: Some("env-ca.pem".into()),
                server: "dialerd",
            }
        );
        let flags = ConnArgs {
            addr: Some("https://flag:3".into()),
            token: Some("flag-token".into()),
            ca_cert: Some("flag-ca.pem".into()),
            ..from_file
        };
        assert_eq!(
            resolve(&flags, &env).expect("conn"),
            Conn {
                addr: "https://flag:3".into(),
                token: Some("flag-token".into()),
                ca_cert: Some("flag-ca.pem".into()),
                server: "dialerd",
            }
        );
    }

    #[test]
    fn the_default_file_is_read_from_the_config_home_and_may_be_absent() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path().to_string_lossy().to_string();
        let env = env_of(&[("XDG_CONFIG_HOME", &home)]);
        assert_eq!(
            resolve(&ConnArgs::default(), &env).expect("conn"),
            Conn {
                addr: DEFAULT_ADDR.into(),
                token: None,
                ca_cert: None,
                server: "dialerd",
            }
        );
        std::fs::create_dir_all(dir.path().join("dialerctl")).expect("mkdir");
        std::fs::write(
            dir.path().join("dialerctl/config.toml"),
            "token = \"t\"\nbogus = 1\n",
        )
        .expect("write");
        let err = resolve(&ConnArgs::default(), &env).expect_err("unknown key");
        assert!(format!("{err:#}").contains("bogus"), "{err:#}");
    }

    #[test]
    fn auth_errors_say_what_to_do_and_exit_3() {
        let f = describe(
            &tonic::Status::permission_denied("role agent"),
            "campaign list",
        );
        assert_eq!(f.exit_code(), 3);
        assert!(f.message.contains("not a manager's"), "{}", f.message);
        let f = describe(
            &tonic::Status::invalid_argument("campaign.ring_timeout_s: must be in [15, 120]"),
            "campaign create",
        );
        assert_eq!(f.exit_code(), 4);
        assert!(
            f.message.contains("campaign.ring_timeout_s"),
            "{}",
            f.message
        );
    }
}
