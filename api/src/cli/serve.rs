//! `convene serve`: the REST API on the embedded store, with a clean shutdown.

use crate::http::{self, AppState};
use actix_web::{App, HttpServer, middleware};
use clap::Args;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CONVENE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Load the demo community first (idempotent).
    #[arg(long)]
    pub demo: bool,
}

pub async fn run(data: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let engine = super::open_engine(data).await?;
    if args.demo {
        let s = convene_engine::demo::load_demo(&engine).await?;
        tracing::info!(issues = s.issues, written = s.events_written, "demo community loaded");
    }
    let state = AppState { engine: engine.clone() };
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(http::log_requests))
            .configure(http::configure(state.clone()))
    })
    // actix stops on SIGTERM/SIGINT: it stops accepting, lets in-flight requests (and so
    // in-flight appends) finish for up to this long, then returns.
    .shutdown_timeout(10)
    .bind(&args.bind)
    .map_err(|e| anyhow::anyhow!("无法监听 / cannot listen on {}: {e}", args.bind))?
    .run();
    tracing::info!(bind = %args.bind, data = %data.display(), "convene serving");
    server.await?;
    tracing::info!("shutting down: flushing the event store");
    engine.store().close().await;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}
