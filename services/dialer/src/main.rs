//! `dialerd`: runs the dialer's gRPC service (default), or mints a bearer token for a role.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dialer::config::{Config, Dialerd};
use service::token::TokenArgs;

#[derive(Debug, Parser)]
#[command(
    name = "dialerd",
    about = "Dialer service (gRPC): campaigns, agent sessions, compliance explanations"
)]
struct Cli {
    /// TOML config file; DIALER_* environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve gRPC (the default).
    Serve,
    /// Print a bearer token signed with the configured jwt_hs256_key.
    Token(TokenArgs<Dialerd>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service::telemetry::init();
    let cli = Cli::parse();
    let cfg = Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .context("invalid dialerd configuration")?;
    match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(cfg).await,
        Cmd::Token(t) => {
            println!("{}", t.mint(cfg.server.jwt_hs256_key.as_deref())?);
            Ok(())
        }
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    // Handlers in place before anything starts: a SIGTERM right after start-up (a rollout)
    // must take the graceful path, not the default action.
    let shutdown = service::shutdown::signal()?;
    // Tests and scripts read the printed addresses to find ports chosen with :0.
    let report = dialer::app::run(&cfg, shutdown, |line| println!("{line}"))
        .await
        .context("dialerd")?;
    if !report.timed_out.is_empty() {
        tracing::warn!(campaigns = ?report.timed_out, "exited with calls in progress");
    }
    Ok(())
}
