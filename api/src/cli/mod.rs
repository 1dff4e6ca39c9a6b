//! The subcommands of `convene`, one file each. Exit codes: 0 success, 1 the input was
//! refused (invalid workflow, refused step, broken chain), 2 the command could not run.

mod audit;
mod bench;
mod demo;
mod export;
mod issue;
mod meeting;
mod replay;
mod serve;
mod token;
mod workflow;

use crate::logging::LogFormat;
use anyhow::Context;
use clap::{Parser, Subcommand};
use convene_engine::store::{SqliteOptions, SqliteStore};
use convene_engine::{Engine, EventStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "convene",
    version,
    about = "五社联动社区协商引擎 / event-sourced coordination engine for five-society linkage"
)]
pub struct Cli {
    /// Data directory of the embedded store.
    #[arg(long, global = true, env = "CONVENE_DATA", default_value = "./convene-data")]
    pub data: PathBuf,
    /// Log format: pretty for people, json for machines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API on the embedded store.
    Serve(serve::ServeArgs),
    /// Validate or publish workflow definitions.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Raise, show and step issues.
    #[command(subcommand)]
    Issue(issue::IssueCommand),
    /// Schedule meetings, record their steps, suggest agendas, print minutes, list action items.
    #[command(subcommand)]
    Meeting(meeting::MeetingCommandArgs),
    /// Replay the log into issue states and verify every hash chain.
    Replay(replay::ReplayArgs),
    /// Load the demo community into the data directory (idempotent).
    Demo(demo::DemoArgs),
    /// Benchmark the embedded store on a fresh temporary directory.
    Bench(bench::BenchArgs),
    /// Verify the log (chains and signed checkpoints), sign a checkpoint, print the public key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Export the log (or one stream) as JSONL or CSV for auditors.
    Export(export::ExportArgs),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Opens the embedded store and an engine over it (publishing the shipped workflows).
pub fn open_store(dir: &Path) -> anyhow::Result<Arc<dyn EventStore>> {
    let store = SqliteStore::open(SqliteOptions::in_dir(dir))
        .with_context(|| format!("打开数据目录失败 / cannot open data directory {}", dir.display()))?;
    Ok(Arc::new(store))
}

pub async fn open_engine(dir: &Path) -> anyhow::Result<Arc<Engine>> {
    let store = open_store(dir)?;
    let engine = Engine::open(store).await?;
    engine.bootstrap_workflows().await?;
    Ok(Arc::new(engine))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(a) => serve::run(&cli.data, a).await,
        Command::Workflow(c) => workflow::run(&cli.data, c).await,
        Command::Issue(c) => issue::run(&cli.data, c).await,
        Command::Meeting(c) => meeting::run(&cli.data, c).await,
        Command::Replay(a) => replay::run(&cli.data, a).await,
        Command::Demo(a) => demo::run(&cli.data, a).await,
        Command::Bench(a) => bench::run(a).await,
        Command::Audit(c) => audit::run(&cli.data, c).await,
        Command::Token(c) => token::run(&cli.data, c).await,
        Command::Export(a) => export::run(&cli.data, a).await,
    }
}

/// A time as people in the communities read it: China Standard Time (UTC+8). Stored UTC.
pub(crate) fn cst(t: chrono::DateTime<chrono::Utc>) -> String {
    // cannot fail: +08:00 is within the ±24 h chrono accepts.
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("cannot fail: valid offset");
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S CST").to_string()
}

/// Prints JSON or human text.
pub(crate) fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
