//! `convene serve`: the REST API on the configured store, with a clean shutdown.

use crate::http::{self, AppState};
use actix_web::{App, HttpServer, middleware};
use clap::Args;
use convene_engine::background::{BackgroundStatus, LEADER_LEASE, audit_chains, carry_meeting_outcomes};
use convene_engine::lease::{FileLeases, LeaseProvider, PgLeases, run_under_lease};
use convene_engine::store::{OpenOptions, StoreUrl};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONVENE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Load the demo community first (idempotent). Requires --insecure-dev.
    #[arg(long, requires = "insecure_dev")]
    pub demo: bool,
    #[command(flatten)]
    pub security: super::token::SecurityArgs,
}

pub async fn run(target: &super::StoreTarget, data: &std::path::Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The server runs for long: the embedded store preallocates its write-ahead log.
    let target =
        &super::StoreTarget { options: OpenOptions { long_lived: true, ..target.options.clone() }, ..target.clone() };
    // The signing key lives in the data directory; tokens and person keys go with the store
    // (in PostgreSQL for a PostgreSQL log, shared by every instance).
    let secrets = target.secrets().await?;
    let auth = super::token::server_auth(secrets.clone(), &args.security).await?;
    let keys = convene_engine::audit::AuditKeys::load_or_create(data)?;
    let engine = super::open_engine_with(target, secrets).await?;
    if args.demo {
        let s = convene_engine::demo::load_demo(&engine).await?;
        tracing::info!(issues = s.issues, written = s.events_written, "demo community loaded");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Background work runs in one instance at a time, under the leader lease of the store.
    let (leader_tx, leader) = tokio::sync::watch::channel(false);
    let background = Arc::new(BackgroundStatus::default());
    let leases = lease_provider(target);
    tracing::info!(kind = leases.kind(), "leader lease: waiting to run background work");
    let leader_task = {
        let (store, status) = (engine.store().clone(), background.clone());
        let (engine, keys) = (engine.clone(), keys.clone());
        let every = std::time::Duration::from_secs(args.security.checkpoint_every);
        // Background work, one instance at a time: the chain auditor, the meetings' process
        // manager (outcomes written by any instance reach their issues), signed checkpoints.
        tokio::spawn(run_under_lease(leases, LEADER_LEASE.to_string(), leader_tx, stop_rx.clone(), move || {
            let (store, status, engine, keys) = (store.clone(), status.clone(), engine.clone(), keys.clone());
            async move {
                tokio::join!(
                    audit_chains(store, status),
                    carry_meeting_outcomes(engine.clone()),
                    super::audit::checkpoint_loop(engine, keys, every),
                );
            }
        }))
    };
    let state = AppState {
        engine: engine.clone(),
        shutdown: stop_rx,
        leader,
        background,
        auth: Arc::new(auth),
        audit_keys: Some(keys),
        metrics: Arc::new(http::metrics::Metrics::new(engine.store().as_ref())),
    };
    if !args.security.cors_origins.is_empty() {
        tracing::info!(origins = ?args.security.cors_origins, "CORS on for these origins");
    }
    let origins = args.security.cors_origins.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(http::cors::cors(&origins))
            .wrap(middleware::from_fn(http::metrics::observe))
            .wrap(middleware::from_fn(http::log_requests))
            .configure(http::configure(state.clone()))
    })
    // On SIGTERM/SIGINT we end live streams, then let actix stop accepting and finish the
    // in-flight requests (and so in-flight appends) for up to this long.
    .shutdown_timeout(10)
    .disable_signals()
    .bind(&args.bind)
    .map_err(|e| anyhow::anyhow!("无法监听 / cannot listen on {}: {e}", args.bind))?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested: finishing in-flight requests");
        let _ = stop_tx.send(true);
        handle.stop(true).await;
    });
    tracing::info!(bind = %args.bind, store = %target.describe(), backend = engine.store().backend(), "convene serving");
    server.await?;
    // The lease is released (the lock file closed / the session ended) when its task ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), leader_task).await;
    tracing::info!("shutting down: flushing the event store");
    engine.store().close().await;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The lease provider that matches the store: several instances share a PostgreSQL database,
/// or a data directory on one machine.
fn lease_provider(target: &super::StoreTarget) -> Arc<dyn LeaseProvider> {
    match &target.url {
        StoreUrl::Postgres(o) => Arc::new(PgLeases::new(o)),
        StoreUrl::Sqlite(dir) => Arc::new(FileLeases::new(dir)),
        // KurrentDB has no lock primitive convene can hold; one instance per machine.
        StoreUrl::KurrentDb(_) => Arc::new(FileLeases::new(std::env::temp_dir().join("convene-kurrentdb"))),
    }
}
