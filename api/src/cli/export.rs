//! `convene export`: the log (or one stream) as JSONL or CSV, to a file or stdout.

use clap::Args;
use convene_engine::export::{self, Format};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// jsonl (every envelope and payload; `convene audit verify --file` checks it) or csv.
    #[arg(long, default_value = "jsonl")]
    pub format: String,
    /// Only this stream (e.g. issue-<id>).
    #[arg(long)]
    pub stream: Option<String>,
    /// Sign a fresh checkpoint first, so the whole trail is covered by a signature.
    #[arg(long)]
    pub sign: bool,
    /// Write here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub async fn run(target: &super::StoreTarget, data: &Path, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let Some(format) = Format::parse(&args.format) else {
        eprintln!("格式须为 jsonl 或 csv / --format must be jsonl or csv");
        return Ok(ExitCode::from(1));
    };
    let store = target.open().await?;
    // CSV is read by people: personal values revealed (erased ones shown as erased). JSONL
    // carries the stored, sealed bytes.
    let keys = match format {
        Format::Csv => Some(convene_engine::privacy::PersonKeys::new(target.secrets().await?)),
        Format::Jsonl => None,
    };
    if args.sign {
        let keys = convene_engine::audit::AuditKeys::load_or_create(data)?;
        if let Err(e) = convene_engine::audit::checkpoint(store.as_ref(), &keys).await {
            eprintln!("未能签名检查点 / no checkpoint signed: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    let n = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            export::export(store.as_ref(), args.stream.as_deref(), format, keys.as_ref(), std::io::BufWriter::new(file))
                .await?
        }
        None => {
            export::export(store.as_ref(), args.stream.as_deref(), format, keys.as_ref(), std::io::stdout().lock())
                .await?
        }
    };
    eprintln!("已导出 {n} 个事件 / exported {n} events");
    Ok(ExitCode::SUCCESS)
}
