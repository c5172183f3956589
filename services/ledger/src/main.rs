//! `ledgerd`: runs the ledger gRPC server (default), applies the migrations and exits,
//! purges contact events past retention, or mints a bearer token for a role.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger::config::{Config, Ledgerd};
use ledger::metrics::Metrics;
use ledger::store::Store;
use service::cli::{Cli, Command};

/// ledgerd's commands beside `serve` and `token`.
#[derive(Debug, Subcommand)]
enum Own {
    /// Apply the pending migrations to `database_url` and exit (0 when the schema is
    /// current): what a deployment's migration job runs before the servers start.
    Migrate,
    /// Delete contact events whose debts saw no activity for `retention_years`.
    Purge {
        /// Print the cutoff and exit without deleting anything.
        #[arg(long)]
        dry_run: bool,
    },
}

/// mimalloc, not glibc malloc: a quarter of the ledger's CPU in a bulk load went to the
/// allocator (docs/performance.md, "Fast loads").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::<Ledgerd, Own>::parse();
    let cfg = Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())
        .context("invalid ledgerd configuration")?;
    let telemetry = service::telemetry::init_service(
        &cfg.server.telemetry,
        <Ledgerd as service::ServiceSpec>::NAME,
    )?;
    let r = match cli.cmd.unwrap_or(Command::Serve) {
        Command::Serve => serve(cfg).await,
        Command::Own(Own::Migrate) => {
            let url = &cfg.server.database_url;
            let store = Store::connect(url)
                .await
                .with_context(|| format!("migrating {}", service::config::redact_url(url)))?;
            println!(
                "ledger migrations applied ({}, change head {})",
                store.dialect(),
                store.max_seq().await?
            );
            store.close().await;
            Ok(())
        }
        Command::Own(Own::Purge { dry_run }) => {
            let cutoff = jiff::Timestamp::now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .checked_sub(jiff::Span::new().years(i64::from(cfg.retention_years)))?
                .timestamp();
            if dry_run {
                println!("would purge contact events of debts inactive since before {cutoff}");
                return Ok(());
            }
            let store = Store::connect(&cfg.server.database_url).await?;
            let n = store.purge_before(cutoff).await?;
            println!("purged {n} contact events (debts inactive since before {cutoff})");
            Ok(())
        }
        Command::Token(t) => {
            println!("{}", t.mint(cfg.server.jwt_hs256_key.as_deref())?);
            Ok(())
        }
    };
    telemetry.shutdown().await;
    r
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    let server = &cfg.server;
    let store = Store::connect(&server.database_url)
        .await
        .with_context(|| {
            format!(
                "opening {}",
                service::config::redact_url(&server.database_url)
            )
        })?;
    let metrics = Metrics::new();
    if let Some(m) = server.metrics_addr()? {
        let l = tokio::net::TcpListener::bind(m)
            .await
            .with_context(|| format!("binding metrics on {m}"))?;
        tracing::info!(addr = %l.local_addr()?, "metrics on /metrics");
        tokio::spawn(service::metrics::serve(l, metrics.registry.clone(), || {}));
    }
    let listener = tokio::net::TcpListener::bind(server.listen_addr()?)
        .await
        .with_context(|| format!("binding {}", server.listen))?;
    let addr = listener.local_addr()?;
    // In place before the address is announced: a SIGTERM right after start takes the graceful path.
    let shutdown = service::shutdown::signal()?;
    // Tests and scripts read this line to find a port chosen with :0.
    println!("ledgerd listening on {addr}");
    tracing::info!(%addr, store = store.dialect(), auth = server.jwt_hs256_key.is_some(), "ledgerd started");
    let auth = server.auth();
    let opts = ledger::server::ServeOptions {
        max_batch: cfg.max_batch,
        clock: cfg.clock()?,
        max_future_skew: std::time::Duration::from_secs(cfg.max_future_skew_s),
    };
    ledger::server::serve(store.clone(), metrics, auth, opts, listener, shutdown).await?;
    store.close().await;
    Ok(())
}
