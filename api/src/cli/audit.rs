//! `convene audit verify|checkpoint|public-key`, and the server's periodic checkpoints.

use clap::Subcommand;
use convene_engine::Engine;
use convene_engine::audit::{self, AuditKeys, Report, VerifyingKey, parse_public_key, read_checkpoint_file};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every hash chain, positions, times and the checkpoint series (exit 1 on a break).
    Verify {
        /// Verify only this stream's chain.
        #[arg(long)]
        stream: Option<String>,
        /// Verify an exported JSONL trail instead of the data directory (offline).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The Ed25519 public key checkpoints must be signed with: 64 hex digits or a file
        /// holding them (default with the data directory: its own key).
        #[arg(long)]
        public_key: Option<String>,
        /// A signed checkpoint kept apart from the log (JSON), e.g. one an auditor saved.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Fail when events lie after the last signed checkpoint.
        #[arg(long)]
        require_signed: bool,
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint at the head of the log (refused if the log does not verify).
    Checkpoint {
        #[arg(long)]
        json: bool,
    },
    /// Print the public key auditors verify checkpoints with.
    PublicKey,
}

fn public_key(arg: &str) -> anyhow::Result<VerifyingKey> {
    let text = if Path::new(arg).exists() { std::fs::read_to_string(arg)? } else { arg.to_string() };
    parse_public_key(&text)
        .ok_or_else(|| anyhow::anyhow!("公钥无效 / not an Ed25519 public key (64 hex digits): {arg}"))
}

pub async fn run(target: &super::StoreTarget, data: &Path, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { stream, file, public_key: key_arg, checkpoint, require_signed, json } => {
            let anchor = match &checkpoint {
                Some(p) => Some(
                    read_checkpoint_file(p)?
                        .ok_or_else(|| anyhow::anyhow!("找不到检查点文件 / no checkpoint file {}", p.display()))?,
                ),
                None => None,
            };
            let key = key_arg.as_deref().map(public_key).transpose()?;
            let report = match (&file, &stream) {
                (Some(f), _) => {
                    let reader = std::io::BufReader::new(
                        std::fs::File::open(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
                    );
                    if key.is_none() {
                        eprintln!(
                            "注意：未给公钥，检查点签名未校验 / note: no --public-key, checkpoint signatures are not checked"
                        );
                    }
                    audit::verify_jsonl(reader, key, anchor)
                }
                (None, Some(s)) => audit::verify_stream(target.open().await?.as_ref(), s).await?,
                (None, None) => {
                    let store = target.open().await?;
                    let keys = AuditKeys::load_or_create(data)?;
                    let anchor = match anchor {
                        Some(a) => Some(a),
                        None => keys.anchor()?,
                    };
                    audit::verify_store(store.as_ref(), Some(key.unwrap_or_else(|| keys.verifying_key())), anchor)
                        .await?
                }
            };
            let ok = report.ok && !(require_signed && report.unsigned_tail > 0);
            print_report(&report, json, require_signed);
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        AuditCommand::Checkpoint { json } => {
            let store = target.open().await?;
            let keys = AuditKeys::load_or_create(data)?;
            match audit::checkpoint(store.as_ref(), &keys).await {
                Ok((cp, _)) => {
                    if json {
                        super::print_json(&cp);
                    } else {
                        println!(
                            "已签名检查点 / signed checkpoint: position {} head {} at {}",
                            cp.position, cp.head, cp.signed_at
                        );
                        super::print_json(&cp);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(audit::AuditError::Broken(n)) => {
                    eprintln!(
                        "日志未通过校验（{n} 个问题），未签名；运行 `convene audit verify` / the log does not verify ({n} problem(s)); nothing signed"
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        AuditCommand::PublicKey => {
            println!("{}", AuditKeys::load_or_create(data)?.public_hex());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(r: &Report, json: bool, require_signed: bool) {
    if json {
        super::print_json(r);
        return;
    }
    if r.ok {
        println!(
            "校验通过 / verified: {} 个事件 / events, {} 个流 / streams, 签名覆盖到位置 / signed through position {} ({} 个检查点 / checkpoints)",
            r.events, r.streams, r.signed_through, r.checkpoints
        );
    } else {
        println!("校验失败 / verification FAILED: {} 个问题 / problem(s)", r.breaks.len());
    }
    if r.unsigned_tail > 0 {
        let what = if require_signed { "失败 / FAILED" } else { "注意 / note" };
        println!(
            "{what}: 最后一个检查点之后还有 {} 个事件未被签名覆盖 / {} event(s) after the last signed checkpoint",
            r.unsigned_tail, r.unsigned_tail
        );
    }
    for b in &r.breaks {
        println!(
            "  [{}] stream {} version {} position {}: {}",
            b.kind,
            b.stream.as_deref().unwrap_or("-"),
            b.version.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            b.position.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            b.message
        );
    }
}

/// Signs a checkpoint every `every` while the log grows (the server's own job). A log that
/// does not verify is reported loudly and left unsigned.
/// Signs a checkpoint every `every` while the log grows (never when `every` is zero). Runs as
/// background work under the leader lease: one instance signs at a time.
pub async fn checkpoint_loop(engine: Arc<Engine>, keys: AuditKeys, every: Duration) {
    if every.is_zero() {
        return std::future::pending().await;
    }
    let mut signed_at_head = 0u64;
    loop {
        tokio::time::sleep(every).await;
        let head = *engine.store().head().borrow();
        // The checkpoint event itself moves the head by one: nothing new since then.
        if head <= signed_at_head + 1 && signed_at_head != 0 {
            continue;
        }
        match audit::checkpoint(engine.store().as_ref(), &keys).await {
            Ok((cp, _)) => {
                signed_at_head = cp.position + 1;
                tracing::info!(position = cp.position, head = %cp.head, "signed checkpoint");
            }
            Err(e) => tracing::error!(error = %e, "checkpoint not signed: the log needs an auditor's look"),
        }
    }
}
