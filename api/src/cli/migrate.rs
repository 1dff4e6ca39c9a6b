//! `convene migrate --from URL --to URL`: copy a whole log between stores, then check it, and
//! copy the secrets that go with it (per-person keys and token hashes: `secrets.db` of an
//! embedded store's directory, or the PostgreSQL tables beside a PostgreSQL log), so the sealed
//! personal values of the copied log stay readable and the tokens keep working on the target.
//! The source keeps its copy of the keys: erase it with the source, or erase a person on both.
//!
//! Resumable: run the same command again after an interruption and it continues where the
//! target's log ends. Exit 0 when the copy is identical to the source and every chain verifies,
//! 1 when the check finds a difference or the target holds another log, 2 when a store fails.

use anyhow::Context;
use clap::Args;
use convene_engine::migrate::{MigrateError, compare_logs, copy_log};
use convene_engine::store::{OpenOptions, StoreUrl, open_parsed};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy from (postgres://…, sqlite:///dir or a directory, kurrentdb://…).
    #[arg(long)]
    pub from: String,
    /// The store to copy to (empty, or holding an interrupted copy of the same log).
    #[arg(long)]
    pub to: String,
    /// Events per import transaction (KurrentDB: per import call, written per run of one stream).
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Skip the final side-by-side comparison and chain verification.
    #[arg(long)]
    pub no_verify: bool,
    #[arg(long)]
    pub json: bool,
}

/// Where a store's secrets are: beside a PostgreSQL log, in an embedded store's directory, in
/// `--data` for KurrentDB.
fn secrets_dir(url: &StoreUrl, data: &std::path::Path) -> std::path::PathBuf {
    match url {
        StoreUrl::Sqlite(dir) => dir.clone(),
        _ => data.to_path_buf(),
    }
}

pub async fn run(options: &OpenOptions, data: &std::path::Path, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    // The global --db-* flags hold for both ends: the pool size, and how long an outage of
    // either database is waited out.
    let options = OpenOptions { long_lived: false, ..options.clone() };
    let from_url = StoreUrl::parse(&args.from).map_err(|e| anyhow::anyhow!("--from: {e}"))?.with_patience_of(&options);
    let to_url = StoreUrl::parse(&args.to).map_err(|e| anyhow::anyhow!("--to: {e}"))?.with_patience_of(&options);
    let (from_desc, to_desc) = (from_url.describe(), to_url.describe());
    let from_secrets = convene_engine::secrets::open(&from_url, &secrets_dir(&from_url, data))
        .await
        .context("无法打开源密钥库 / cannot open the source's secrets")?;
    let to_secrets = convene_engine::secrets::open(&to_url, &secrets_dir(&to_url, data))
        .await
        .context("无法打开目标密钥库 / cannot open the target's secrets")?;
    let from = open_parsed(from_url, &options)
        .await
        .with_context(|| format!("无法打开源 / cannot open the source {from_desc}"))?;
    let to = open_parsed(to_url, &options)
        .await
        .with_context(|| format!("无法打开目标 / cannot open the target {to_desc}"))?;
    tracing::info!(from = %from_desc, to = %to_desc, "migrating the event log");

    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(*from.head().borrow()) };
    bar.set_style(ProgressStyle::with_template("{msg:10} {bar:40} {pos}/{len} events {per_sec} eta {eta}")?);
    bar.set_message("复制 copy");
    let copied = copy_log(from.as_ref(), to.as_ref(), args.batch, &|pos, total| {
        bar.set_length(total);
        bar.set_position(pos);
    })
    .await;
    let copied = match copied {
        Ok(c) => c,
        Err(MigrateError::Diverged(why)) => {
            bar.abandon();
            eprintln!("目标中已有别的日志 / the target holds a different log: {why}");
            from.close().await;
            to.close().await;
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            bar.abandon();
            from.close().await;
            to.close().await;
            return Err(anyhow::anyhow!(
                "迁移中断，可重新运行以继续 / migration interrupted, run it again to resume: {e}"
            ));
        }
    };
    bar.set_position(copied.source_head);
    let report = if args.no_verify {
        None
    } else {
        bar.set_message("核对 verify");
        bar.set_position(0);
        Some(compare_logs(from.as_ref(), to.as_ref(), &|n| bar.set_position(n)).await?)
    };
    bar.finish_and_clear();
    from.close().await;
    to.close().await;
    let secrets = convene_engine::secrets::copy(from_secrets.as_ref(), to_secrets.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("密钥未能复制，可重新运行 / the secrets were not copied, run again: {e}"))?;
    if !secrets.conflicts.is_empty() {
        eprintln!(
            "目标中这些人的密钥与源不同，未覆盖 / the target holds other keys for these persons, left as they are: {}",
            secrets.conflicts.join(", ")
        );
    }
    let ok = report.as_ref().is_none_or(|r| r.ok()) && secrets.conflicts.is_empty();
    if args.json {
        super::print_json(
            &json!({"from": from_desc, "to": to_desc, "copy": copied, "check": report, "secrets": secrets, "ok": ok}),
        );
    } else {
        if copied.resumed_at > 0 {
            println!("从第 {} 个事件继续 / resumed after event {}", copied.resumed_at, copied.resumed_at);
        }
        println!("已复制 / copied {} 个事件 events ({from_desc} → {to_desc})", copied.copied);
        println!(
            "已复制 / copied {} 个个人密钥 person keys, {} 个令牌 tokens ({} → {})",
            secrets.keys,
            secrets.tokens,
            from_secrets.describe(),
            to_secrets.describe()
        );
        match &report {
            None => println!("未核对 / not verified (--no-verify)"),
            Some(r) if r.ok() => println!(
                "核对一致 / identical: {} 个事件 events, {} 条哈希链完整 / hash chains intact",
                r.events, r.streams
            ),
            Some(r) => {
                println!("核对不一致 / the copy DIFFERS:");
                for d in r.differences.iter().chain(&r.broken_chains) {
                    println!("  {d}");
                }
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
