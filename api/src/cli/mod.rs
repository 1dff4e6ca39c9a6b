//! The subcommands of `convene`, one file each. Exit codes: 0 success, 1 the input was
//! refused (invalid workflow, refused step, broken chain), 2 the command could not run,
//! 75 (`EX_TEMPFAIL`) the database could not be reached: the same command may succeed later.

mod audit;
mod backup;
mod bench;
mod demo;
mod event_types;
mod export;
mod issue;
mod issue_stats;
mod meeting;
mod migrate;
mod privacy;
mod replay;
mod serve;
mod timeline;
mod token;
mod workflow;

use crate::logging::LogFormat;
use anyhow::Context;
use clap::{Parser, Subcommand};
use convene_engine::store::{OpenOptions, StoreUrl};
use convene_engine::{Engine, EventStore};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "convene",
    version,
    about = "五社联动社区协商引擎 / event-sourced coordination engine for five-society linkage"
)]
pub struct Cli {
    /// Data directory: the embedded store, the checkpoint signing key, and the API tokens and
    /// per-person keys (`secrets.db`) unless the log is on PostgreSQL (then they are in it).
    #[arg(long, global = true, env = "CONVENE_DATA", default_value = "./convene-data")]
    pub data: PathBuf,
    /// The event store as a URL; overrides --data. postgres://user:pw@host:5432/db[?schema=NAME]
    /// [&sslmode=disable|prefer|require|verify-ca|verify-full (default prefer)][&sslrootcert=/ca.pem|system],
    /// sqlite:///path/to/dir (or a plain directory path), kurrentdb://host:2113 / esdb://….
    // The brackets are the help text's optional parts, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, global = true, env = "CONVENE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL: read connections per process (the writer and the listener have one each
    /// besides). Mind the server's max_connections across all instances.
    #[arg(long, global = true, env = "CONVENE_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: usize,
    /// PostgreSQL: seconds a read or an append waits for a lost database connection to come
    /// back (a restart, a fail-over) before it is answered 503 "retry later" (exit status 75
    /// on the CLI). Retrying meanwhile is safe: every append is idempotent by its event ids.
    #[arg(long, global = true, env = "CONVENE_DB_OUTAGE_WAIT", default_value_t = 10.0, value_parser = seconds_in(0.0, 3600.0))]
    pub db_outage_wait: f64,
    /// PostgreSQL: seconds a read or a group commit waits for the database to answer before
    /// its connection is taken for lost and the work tried again (a database gone without
    /// closing its connections: a network partition, a fail-over). Also the connections'
    /// TCP user timeout unless the URL sets `tcp_user_timeout`.
    #[arg(long, global = true, env = "CONVENE_DB_ANSWER_TIMEOUT", default_value_t = 30.0, value_parser = seconds_in(0.1, 3600.0))]
    pub db_answer_timeout: f64,
    /// Log format: pretty for people, json for machines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API (embedded store, or --database-url).
    Serve(serve::ServeArgs),
    /// Validate or publish workflow definitions.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Raise, show and step issues.
    #[command(subcommand)]
    Issue(issue::IssueCommand),
    /// The steps there are and what each payload needs (labels, fields, personal data, roles).
    EventTypes(event_types::EventTypesArgs),
    /// Schedule meetings, record their steps, suggest agendas, print minutes, list action items.
    #[command(subcommand)]
    Meeting(meeting::MeetingCommandArgs),
    /// Replay the log into issue states and verify every hash chain.
    Replay(replay::ReplayArgs),
    /// Load the demo community into the data directory (idempotent).
    Demo(demo::DemoArgs),
    /// Benchmark a store: a fresh temporary directory, or a fresh schema of --database-url.
    Bench(bench::BenchArgs),
    /// Copy a whole log between stores (e.g. embedded → PostgreSQL), resumable, chains verified.
    Migrate(migrate::MigrateArgs),
    /// A consistent, verified copy of the embedded store's data directory, while serving.
    Backup(backup::BackupArgs),
    /// Verify the log (chains and signed checkpoints), sign a checkpoint, print the public key.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Export the log (or one stream) as JSONL or CSV for auditors.
    Export(export::ExportArgs),
    /// A human timeline of one issue or meeting (zh-CN/en, Markdown/HTML/JSON).
    Timeline(timeline::TimelineArgs),
    /// Personal data (PIPL): erase a person's personal fields everywhere.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Which store a command works on: `--database-url`, else the `--data` directory.
#[derive(Debug, Clone)]
pub struct StoreTarget {
    pub url: StoreUrl,
    pub options: OpenOptions,
    /// The data directory: the checkpoint signing key lives here whichever store holds the
    /// log; tokens and the keyring of personal data too, unless the log is on PostgreSQL
    /// (then they are in its database, shared by every instance).
    pub data: PathBuf,
}

impl StoreTarget {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<StoreTarget> {
        let url = match &cli.database_url {
            Some(u) => StoreUrl::parse(u).map_err(|e| anyhow::anyhow!("--database-url: {e}"))?,
            None => StoreUrl::Sqlite(cli.data.clone()),
        };
        let options = OpenOptions {
            pool_size: Some(cli.db_pool_size),
            outage_wait: Some(std::time::Duration::from_secs_f64(cli.db_outage_wait)),
            answer_timeout: Some(std::time::Duration::from_secs_f64(cli.db_answer_timeout)),
            long_lived: false,
        };
        // The secrets beside the log are opened from the URL alone: they wait as long.
        Ok(StoreTarget { url: url.with_patience_of(&options), options, data: cli.data.clone() })
    }

    /// Opens the store, saying which one could not be opened.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn EventStore>> {
        convene_engine::store::open_parsed(self.url.clone(), &self.options)
            .await
            .with_context(|| format!("打开事件存储失败 / cannot open the event store {}", self.url.describe()))
    }

    pub fn describe(&self) -> String {
        self.url.describe()
    }

    /// The secrets that go with the store: per-person keys and token hashes (PostgreSQL tables
    /// beside a PostgreSQL log; `secrets.db` in the data directory otherwise).
    pub async fn secrets(&self) -> anyhow::Result<Arc<dyn convene_engine::secrets::Secrets>> {
        convene_engine::secrets::open(&self.url, &self.data)
            .await
            .context("无法打开密钥库 / cannot open the secrets (person keys, tokens)")
    }
}

/// Opens the store and an engine over it (publishing the shipped workflows), sealing personal
/// data with the keyring that goes with the store ([`StoreTarget::secrets`]).
pub async fn open_engine(target: &StoreTarget) -> anyhow::Result<Arc<Engine>> {
    open_engine_with(target, target.secrets().await?).await
}

/// [`open_engine`] with the store's secrets opened already.
pub async fn open_engine_with(
    target: &StoreTarget,
    secrets: Arc<dyn convene_engine::secrets::Secrets>,
) -> anyhow::Result<Arc<Engine>> {
    let store = target.open().await?;
    let keys = convene_engine::privacy::PersonKeys::new(secrets);
    let engine = Engine::open_with_keys(store, Some(keys)).await?;
    engine.bootstrap_workflows().await?;
    Ok(Arc::new(engine))
}

/// The exit status of a command that failed with `e`: 75 (`EX_TEMPFAIL` of sysexits.h) when
/// the database could not be reached, so a script or a systemd unit can tell "retry later"
/// from "this will never work"; 2 otherwise.
pub fn exit_status(e: &anyhow::Error) -> u8 {
    use convene_engine::EngineError;
    use convene_engine::store::StoreError;
    let unavailable = e.chain().any(|cause| {
        cause.downcast_ref::<StoreError>().is_some_and(StoreError::is_unavailable)
            || matches!(cause.downcast_ref::<EngineError>(), Some(EngineError::Store(s)) if s.is_unavailable())
            || matches!(cause.downcast_ref::<EngineError>(), Some(EngineError::Keys(k)) if k.is_unavailable())
            || cause.downcast_ref::<convene_engine::secrets::SecretsError>().is_some_and(|k| k.is_unavailable())
    });
    if unavailable { 75 } else { 2 }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let target = StoreTarget::from_cli(&cli)?;
    match cli.command {
        Command::Serve(a) => serve::run(&target, &cli.data, a).await,
        Command::Workflow(c) => workflow::run(&target, c).await,
        Command::Issue(c) => issue::run(&target, c).await,
        Command::EventTypes(a) => event_types::run(&target, a).await,
        Command::Meeting(c) => meeting::run(&target, c).await,
        Command::Replay(a) => replay::run(&target, a).await,
        Command::Demo(a) => demo::run(&target, a).await,
        Command::Bench(a) => bench::run(cli.database_url.as_deref(), cli.db_pool_size, a).await,
        Command::Migrate(a) => migrate::run(&target.options, &cli.data, a).await,
        Command::Backup(a) => backup::run(&target, a).await,
        Command::Audit(c) => audit::run(&target, &cli.data, c).await,
        Command::Token(c) => token::run(&target, c).await,
        Command::Export(a) => export::run(&target, &cli.data, a).await,
        Command::Timeline(a) => timeline::run(&target, a).await,
        Command::Privacy(c) => privacy::run(&target, c).await,
    }
}

/// A parser of seconds in `min..=max` for a `--db-*` flag.
fn seconds_in(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.parse::<f64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("应为 {min} 到 {max} 之间的秒数 / expected seconds between {min} and {max}, got {s:?}")),
    }
}

/// A time as people in the communities read it: China Standard Time (UTC+8). Stored UTC.
pub(crate) fn cst(t: chrono::DateTime<chrono::Utc>) -> String {
    let tz = convene_engine::text::china_standard_time();
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S CST").to_string()
}

/// `s` padded with spaces to `width` terminal columns (a CJK character takes two).
pub(crate) fn pad(s: &str, width: usize) -> String {
    let w = unicode_width::UnicodeWidthStr::width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// Prints JSON or human text.
pub(crate) fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::exit_status;
    use anyhow::Context;
    use convene_engine::EngineError;
    use convene_engine::store::StoreError;

    #[test]
    fn an_unreachable_database_exits_75_so_scripts_can_retry() {
        let e: anyhow::Result<()> = Err(StoreError::unavailable("connection refused")).context("cannot open the store");
        assert_eq!(exit_status(&e.unwrap_err()), 75);
        let e = anyhow::Error::new(EngineError::Store(StoreError::unavailable("reset")));
        assert_eq!(exit_status(&e), 75);
    }

    #[test]
    fn other_failures_exit_2() {
        assert_eq!(exit_status(&anyhow::anyhow!("no such file")), 2);
        assert_eq!(exit_status(&anyhow::Error::new(StoreError::Backend("syntax error".into()))), 2);
    }
}
