//! `dialerd`: runs the dialer's gRPC service (default), or mints a bearer token for a role.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use auth::{Claims, Role};
use clap::{Parser, Subcommand};
use dialer::config::Config;
use dialer::metrics::Metrics;

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
    let app = dialer::app::assemble(&cfg)
        .await
        .context("starting dialerd")?;
    let registry = app.registry.clone();
    if let Some(addr) = cfg.metrics_addr()? {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics on {addr}"))?;
        // Tests and scripts read this line to find a port chosen with :0.
        println!("dialerd metrics on {}", l.local_addr()?);
        let r = registry.clone();
        let refresh: Arc<dyn Fn(&Metrics) + Send + Sync> =
            Arc::new(move |m| m.observe(&r.figures()));
        tokio::spawn(dialer::metrics::serve(l, app.metrics.clone(), refresh));
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr()?)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find a port chosen with :0.
    println!("dialerd listening on {addr}");
    tracing::info!(
        %addr,
        replica = %cfg.replica_id,
        queues = if cfg.redis_url.is_some() { "redis" } else { "memory" },
        ledger = cfg.ledger_url.is_some(),
        auth = cfg.jwt_hs256_key.is_some(),
        tls = cfg.tls.is_some(),
        resumed = app.resumed,
        "dialerd started"
    );
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received");
    };
    // Step 4 of the shutdown: the finished attempts reach the ledger (bounded by the grace
    // period again; what is left is sent by the next start).
    let grace = app.options.shutdown_grace;
    let ledger = app.ledger;
    let flush = async move {
        if let Some(l) = ledger {
            l.flush(tokio::time::Instant::now() + grace).await;
        }
    };
    let report = dialer::server::serve(
        registry,
        app.metrics,
        app.options,
        listener,
        shutdown,
        flush,
    )
    .await?;
    if !report.timed_out.is_empty() {
        tracing::warn!(campaigns = ?report.timed_out, "exited with calls in progress");
    }
    Ok(())
}
