//! `convene backup --to DIR`: a consistent, verified copy of an embedded store's data
//! directory, taken while `convene serve` keeps running (see `convene_engine::backup`).
//!
//! The copy is replayed and every hash chain verified before it is put in place, so a backup
//! that exists has been read back once. Restoring is starting from it: `convene serve --data
//! DIR`. Exit 0 when the copy is in place and verifies, 1 when it is in place but its chains
//! (copied faithfully from the source) are broken, 2 when no backup was made.

use anyhow::Context;
use clap::Args;
use convene_engine::backup::{BackupReport, stage};
use convene_engine::service::replay_log;
use convene_engine::store::{OpenOptions, StoreUrl, open_parsed};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The directory to create with the copy; it must not exist yet (or be empty).
    #[arg(long)]
    pub to: PathBuf,
    /// Put the copy in place without replaying it and verifying its hash chains first.
    #[arg(long)]
    pub no_verify: bool,
    #[arg(long)]
    pub json: bool,
}

/// The copy, read back: what the replay found in it.
struct Checked {
    broken: Vec<String>,
    streams: usize,
}

pub async fn run(target: &super::StoreTarget, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let StoreUrl::Sqlite(source) = &target.url else {
        eprintln!(
            "convene backup 只备份嵌入式存储；{} 上的日志请用数据库自己的备份（PostgreSQL: pg_basebackup 或 pg_dump），\
             或用 convene migrate --to sqlite:///目录 复制出一份可携带的副本（--data 中的 audit/signing.key 另行备份）。\n\
             convene backup copies the embedded store only; back up a log on {} with the database's own tools \
             (PostgreSQL: pg_basebackup or pg_dump), or copy it out with `convene migrate --to sqlite:///DIR` \
             (and keep audit/signing.key from --data as well).",
            target.describe(),
            target.describe()
        );
        return Ok(ExitCode::from(2));
    };
    let started = std::time::Instant::now();
    // The log's directory, and the data directory with the secrets and the signing key: the
    // same one unless `--database-url sqlite://…` put the log elsewhere.
    let (from, data, to) = (source.clone(), target.data.clone(), args.to.clone());
    // One `VACUUM INTO` per database gives no progress to show: a spinner says it is working.
    let spinner = if args.json { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    spinner.set_style(ProgressStyle::with_template("{spinner} 复制 copy {msg} {elapsed}")?);
    spinner.set_message(source.display().to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let staged = tokio::task::spawn_blocking(move || stage(&from, &data, &to))
        .await
        .context("备份线程失败 / the backup thread failed")?;
    spinner.finish_and_clear();
    let staged = match staged {
        Ok(s) => s,
        Err(e) => {
            eprintln!("未备份 / no backup made: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let copied_s = started.elapsed().as_secs_f64();
    tracing::info!(position = staged.report().position, dir = %staged.path().display(), "copied; verifying");

    let checked = if args.no_verify {
        None
    } else {
        let store = open_parsed(StoreUrl::Sqlite(staged.path().to_path_buf()), &OpenOptions::default())
            .await
            .context("无法打开副本 / cannot open the copy")?;
        let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(staged.report().position) };
        bar.set_style(ProgressStyle::with_template("核对 verify {bar:40} {pos}/{len} events {per_sec} eta {eta}")?);
        let replayed = replay_log(store.clone(), None, true, &|p| bar.set_position(p)).await;
        bar.finish_and_clear();
        // Closed before the rename: the store's files must not move under an open connection.
        store.close().await;
        let r = replayed.context("副本无法重放 / the copy cannot be replayed")?;
        let report = staged.report();
        if r.events != report.events || r.position != report.position {
            eprintln!(
                "未备份 / no backup made: 副本读回 {} 个事件（至位置 {}），应为 {} 个（至位置 {}） / the copy read back {} events up to position {}, expected {} up to {}",
                r.events,
                r.position,
                report.events,
                report.position,
                r.events,
                r.position,
                report.events,
                report.position
            );
            return Ok(ExitCode::from(2));
        }
        let chains = r.chains.as_ref();
        Some(Checked {
            broken: chains.map(|c| c.broken.iter().map(|b| b.to_string()).collect()).unwrap_or_default(),
            streams: chains.map_or(0, |c| c.streams()),
        })
    };

    let report = match staged.commit() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("未备份 / no backup made: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let secs = started.elapsed().as_secs_f64();
    print(&args, &report, checked.as_ref(), copied_s, secs);
    Ok(match checked {
        Some(c) if !c.broken.is_empty() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn print(args: &BackupArgs, r: &BackupReport, checked: Option<&Checked>, copied_s: f64, secs: f64) {
    if args.json {
        super::print_json(&json!({
            "to": args.to, "position": r.position, "events": r.events, "streams": r.streams,
            "tokens": r.tokens, "person_keys": r.person_keys, "files": r.files, "bytes": r.bytes,
            // null when not verified (--no-verify): not checked is not intact.
            "chains_ok": checked.map(|c| c.broken.is_empty()),
            "broken": checked.map(|c| c.broken.clone()).unwrap_or_default(),
            "copy_seconds": copied_s, "seconds": secs,
        }));
        return;
    }
    println!("备份 / backup: {}", args.to.display());
    println!("  {} 个事件 events，至全局位置 up to position {}；{} 个流 streams", r.events, r.position, r.streams);
    println!("  {} 个有效令牌 active tokens，{} 把个人密钥 person keys", r.tokens, r.person_keys);
    println!("  {}（{:.1} MB）", r.files.join("、"), r.bytes as f64 / 1e6);
    match checked {
        None => println!("  哈希链未核对 / hash chains not verified (--no-verify)"),
        Some(c) if c.broken.is_empty() => {
            println!("  副本已读回，全部哈希链完整 / read back, every hash chain intact ({} streams)", c.streams)
        }
        Some(c) => {
            println!(
                "  副本与源一致，但哈希链断裂（请运行 convene audit verify）/ copied as stored, but hash chains are BROKEN (run `convene audit verify`):"
            );
            for b in &c.broken {
                println!("    {b}");
            }
        }
    }
    println!("  用时 / took {secs:.2}s (copy {copied_s:.2}s)");
    println!("恢复 / restore: convene serve --data {}", args.to.display());
}
