//! `convene serve`: the REST API on the embedded store, with a clean shutdown.

use crate::http::{self, AppState};
use actix_web::{App, HttpServer, middleware};
use clap::Args;
use std::path::Path;
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

pub async fn run(data: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let auth = super::token::server_auth(data, &args.security)?;
    let keys = convene_engine::audit::AuditKeys::load_or_create(data)?;
    let engine = super::open_engine(data).await?;
    if args.demo {
        let s = convene_engine::demo::load_demo(&engine).await?;
        tracing::info!(issues = s.issues, written = s.events_written, "demo community loaded");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let every = std::time::Duration::from_secs(args.security.checkpoint_every);
    super::audit::spawn_checkpointer(engine.clone(), keys.clone(), every, stop_rx.clone());
    let state = AppState { engine: engine.clone(), shutdown: stop_rx, auth: Arc::new(auth), audit_keys: Some(keys) };
    let server = HttpServer::new(move || {
        App::new().wrap(middleware::from_fn(http::log_requests)).configure(http::configure(state.clone()))
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
    tracing::info!(bind = %args.bind, data = %data.display(), "convene serving");
    server.await?;
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
