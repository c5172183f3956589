//! `ledgerd`: runs the ledger gRPC server (default), purges contact events past retention,
//! or mints a bearer token for a role.

use std::path::PathBuf;

use anyhow::Context;
use auth::{Auth, Claims, Role};
use clap::{Parser, Subcommand};
use ledger::config::Config;
use ledger::metrics::Metrics;
use ledger::store::Store;

#[derive(Debug, Parser)]
#[command(name = "ledgerd", about = "Account ledger service (gRPC)")]
struct Cli {
    /// TOML config file; LEDGER_* environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve gRPC (the default).
    Serve,
    /// Delete contact events whose debts saw no activity for `retention_years`.
    Purge {
        /// Print the cutoff and exit without deleting anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a bearer token signed with the configured HS256 key.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long, value_parser = ["crm", "dialer", "admin"])]
        role: String,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 24)]
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
        .init();
    let cli = Cli::parse();
    let cfg = Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .context("invalid ledgerd configuration")?;
    match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(cfg).await,
        Cmd::Purge { dry_run } => {
            let cutoff = jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .checked_sub(jiff::Span::new().years(i64::from(cfg.retention_years)))?
                .timestamp();
            if dry_run {
                println!("would purge contact events of debts inactive since before {cutoff}");
                return Ok(());
            }
            let store = Store::connect(&cfg.database_url).await?;
            let n = store.purge_before(cutoff).await?;
            println!("purged {n} contact events (debts inactive since before {cutoff})");
            Ok(())
        }
        Cmd::Token { sub, role, hours } => {
            let key = cfg
                .jwt_hs256_key
                .as_deref()
                .context("no jwt_hs256_key configured")?;
            let role: Role = serde_json::from_value(serde_json::Value::String(role))?;
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
    let store = Store::connect(&cfg.database_url)
        .await
        .with_context(|| format!("opening {}", ledger_api::redact::url(&cfg.database_url)))?;
    let metrics = Metrics::new();
    if let Some(m) = &cfg.metrics_listen {
        let l = ledger::metrics::bind(m.parse()?)
            .await
            .with_context(|| format!("binding metrics on {m}"))?;
        tracing::info!(addr = %l.local_addr()?, "metrics on /metrics");
        tokio::spawn(ledger::metrics::serve(l, metrics.clone()));
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen_addr()?)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // In place before the address is announced: a SIGTERM right after start takes the graceful path.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("SIGTERM handler")?;
    // Tests and scripts read this line to find a port chosen with :0.
    println!("ledgerd listening on {addr}");
    tracing::info!(%addr, store = store.dialect(), auth = cfg.jwt_hs256_key.is_some(), "ledgerd started");
    let auth = Auth::new(cfg.jwt_hs256_key.as_deref());
    let shutdown = async move {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    let opts = ledger::server::ServeOptions {
        max_batch: cfg.max_batch,
        clock: cfg.clock()?,
        max_future_skew: std::time::Duration::from_secs(cfg.max_future_skew_s),
    };
    ledger::server::serve(store.clone(), metrics, auth, opts, listener, shutdown).await?;
    store.close().await;
    Ok(())
}
