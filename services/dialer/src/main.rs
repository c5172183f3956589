//! `dialerd`: runs the dialer's gRPC service (default), or mints a bearer token for a role.

use std::path::PathBuf;

use anyhow::Context;
use auth::{Claims, Role};
use clap::{Parser, Subcommand};
use dialer::config::Config;

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
    Token {
        /// The caller's id (an agent's login name for role agent).
        #[arg(long)]
        sub: String,
        #[arg(long, value_parser = ["agent", "manager", "crm", "admin"])]
        role: String,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 12)]
        hours: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let cfg = Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .context("invalid dialerd configuration")?;
    match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(cfg).await,
        Cmd::Token { sub, role, hours } => {
            let key = cfg
                .jwt_hs256_key
                .as_deref()
                .context("no jwt_hs256_key configured")?;
            let role: Role = role.parse()?;
            let exp = jiff::Timestamp::now().as_second() + hours * 3600;
            println!(
                "{}",
                auth::sign_hs256(
                    key,
                    &Claims {
                        sub,
                        role,
                        exp: Some(exp)
                    }
                )
            );
            Ok(())
        }
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    // Handlers in place before anything starts: a SIGTERM right after start-up (a rollout)
    // must take the graceful path, not the default action.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    let shutdown = async move {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received");
    };
    // Tests and scripts read the printed addresses to find ports chosen with :0.
    let report = dialer::app::run(&cfg, shutdown, |line| println!("{line}"))
        .await
        .context("dialerd")?;
    if !report.timed_out.is_empty() {
        tracing::warn!(campaigns = ?report.timed_out, "exited with calls in progress");
    }
    Ok(())
}
