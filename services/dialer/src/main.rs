//! `dialerd`: runs the dialer's gRPC service (default), or mints a bearer token for a role.

use anyhow::Context;
use clap::Parser;
use dialer::config::{Config, Dialerd};
use service::cli::{Cli, Command};

/// mimalloc, as ledgerd: glibc malloc was a quarter of ledgerd's CPU in a bulk load
/// (docs/performance.md, "Fast loads").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::<Dialerd>::parse();
    let cfg = Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .context("invalid dialerd configuration")?;
    let telemetry = service::telemetry::init_service(
        &cfg.server.telemetry,
        <Dialerd as service::ServiceSpec>::NAME,
    )?;
    let r = match cli.cmd.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg).await,
        Command::Token(t) => {
            println!("{}", t.mint(cfg.server.jwt_hs256_key.as_deref())?);
            Ok(())
        }
        Command::Own(none) => match none {},
    };
    telemetry.shutdown().await;
    r
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
