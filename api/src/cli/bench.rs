//! `convene bench`: the embedded store on a fresh temporary directory, or — with
//! `--database-url postgres://…` — a fresh schema of that database, dropped afterwards.

use clap::Args;
use convene_engine::EventStore;
use convene_engine::store::{OpenOptions, PostgresStore, StoreUrl};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// About how many events to write (and replay).
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// One JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Use (and keep) this empty directory instead of a temporary one, e.g. to profile
    /// `convene --data DIR replay` on the log afterwards.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// PostgreSQL: keep the benchmark's schema (`convene_bench_<time>`) instead of dropping it.
    #[arg(long)]
    pub keep: bool,
}

pub async fn run(database_url: Option<&str>, pool_size: usize, args: BenchArgs) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!("注意：这是调试构建，数字偏低 / note: debug build, figures are not representative (use --release)");
    }
    let temp = tempfile::Builder::new().prefix("convene-bench-").tempdir()?;
    let dir = match &args.dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                eprintln!("--dir 必须是空目录 / --dir must be an empty directory: {}", d.display());
                return Ok(ExitCode::from(1));
            }
            d.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}")?);
    bar.enable_steady_tick(Duration::from_millis(120));
    let progress = |phase: &str| bar.set_message(phase.to_string());
    let url = match database_url {
        Some(u) => StoreUrl::parse(u).map_err(|e| anyhow::anyhow!("--database-url: {e}"))?,
        None => StoreUrl::Sqlite(dir.clone()),
    };
    let (report, described) = match url {
        StoreUrl::Postgres(options) => {
            // A schema of its own, so the benchmark starts from an empty log and leaves the
            // database's real log alone.
            let schema = format!("convene_bench_{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
            let options = (*options).with_schema(schema.clone()).with_pool_size(pool_size);
            let store = PostgresStore::open(options.clone()).await?;
            let described = format!("PostgreSQL {}", store.target());
            let report = convene_engine::bench::run_on(Arc::new(store), args.events, &dir, &progress).await;
            if !args.keep {
                drop_schema(&options, &schema).await;
            }
            (report?, described)
        }
        StoreUrl::Sqlite(d) => {
            if d != dir && d.exists() && std::fs::read_dir(&d)?.next().is_some() {
                eprintln!("基准测试需要空目录 / the benchmark needs an empty directory: {}", d.display());
                return Ok(ExitCode::from(1));
            }
            let report = convene_engine::bench::run(&d, args.events, &progress).await?;
            (report, "embedded SQLite store (WAL, synchronous=FULL)".to_string())
        }
        other => {
            let store: Arc<dyn EventStore> = convene_engine::store::open_parsed(
                other.clone(),
                &OpenOptions { pool_size: Some(pool_size), long_lived: true, ..OpenOptions::default() },
            )
            .await?;
            (convene_engine::bench::run_on(store, args.events, &dir, &progress).await?, other.describe())
        }
    };
    bar.finish_and_clear();
    if args.json {
        super::print_json(&report);
    } else {
        let r = &report;
        println!("convene bench — {described}, {} events, {} issues", r.events, r.issues);
        println!("{:<46} {:>14} {:>10}", "measure", "per second", "events");
        println!(
            "{:<46} {:>14.0} {:>10}",
            "append, 1 writer, 1 event/append (durable)", r.append_single_per_s, r.append_single_events
        );
        println!(
            "{:<46} {:>14.0} {:>10}",
            format!("append, {} writers, 1 event/append (durable)", r.append_concurrent_writers),
            r.append_concurrent_per_s,
            r.append_concurrent_events
        );
        println!("{:<46} {:>14.0} {:>10}", "replay log into issue states", r.replay_per_s, r.events);
        println!("{:<46} {:>14.0} {:>10}", "replay + verify every hash chain", r.replay_verify_per_s, r.events);
        println!("{:<46} {:>14.0} {:>10}", "read the log only, no fold (replay's ceiling)", r.read_per_s, r.events);
        println!("appends per durable commit: {:.1}", r.appends_per_commit);
        println!(
            "live subscriber during the concurrent phase: {:.0} events/s, {:.1} ms behind at the end, {} gaps",
            r.subscriber_per_s, r.subscriber_lag_ms, r.subscriber_gaps
        );
        if let (Some(a), Some(p)) = (r.append_concurrent_cpu_us, r.replay_cpu_us) {
            println!(
                "CPU per event (this process, all threads): {a:.1} µs appending with {} writers, {p:.2} µs replaying",
                r.append_concurrent_writers
            );
        }
        println!(
            "host speed just before the replay: {:.0} MB/s of JSON parsed on one thread (compare rates only alongside it)",
            r.host_json_mb_per_s
        );
        if let Some(syncs) = r.host_sync_per_s {
            println!(
                "disk just before the appends: {syncs:.0} durable syncs/s of 16 KiB in {} (one writer's ceiling)",
                dir.display()
            );
        }
        println!("replay anomalies: {}   broken chains: {}", r.replay_anomalies, r.broken_chains);
    }
    Ok(ExitCode::SUCCESS)
}

/// Drops the benchmark's schema (best effort: says so if it cannot).
async fn drop_schema(options: &convene_engine::store::PostgresOptions, schema: &str) {
    let result = async {
        let client = options.connect().await.map_err(|e| e.to_string())?;
        client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("无法删除基准测试模式 / could not drop the benchmark schema {schema}: {e}");
    }
}
