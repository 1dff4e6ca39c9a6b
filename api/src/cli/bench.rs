//! `convene bench`: the embedded store on a fresh temporary directory.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;
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
}

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
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
    let report = convene_engine::bench::run(&dir, args.events, &|phase| bar.set_message(phase.to_string())).await?;
    bar.finish_and_clear();
    if args.json {
        super::print_json(&report);
    } else {
        let r = &report;
        println!(
            "convene bench — embedded SQLite store (WAL, synchronous=FULL), {} events, {} issues",
            r.events, r.issues
        );
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
        println!("appends per durable commit: {:.1}", r.appends_per_commit);
        println!("replay anomalies: {}   broken chains: {}", r.replay_anomalies, r.broken_chains);
    }
    Ok(ExitCode::SUCCESS)
}
