//! `convene timeline issue|meeting <id>`: every step of one issue or meeting with when (China
//! Standard Time, and the stored UTC), who in what role, and which state to which, in zh-CN or
//! English, as Markdown, HTML or JSON. Generated from the stream's events.

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use convene_engine::EngineError;
use convene_engine::meeting::minutes::{Format, Lang};
use convene_engine::service::AsOf;
use convene_engine::timeline;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Subject {
    Issue,
    Meeting,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// issue or meeting.
    #[arg(value_enum)]
    subject: Subject,
    /// The issue's or meeting's id.
    id: String,
    /// zh-CN or en.
    #[arg(long, default_value = "zh-CN")]
    lang: String,
    #[arg(long, value_enum, default_value_t = OutputFormat::Md)]
    format: OutputFormat,
    /// Only the steps up to this time (RFC 3339).
    #[arg(long, conflicts_with = "version")]
    at: Option<DateTime<Utc>>,
    /// Only the steps up to this stream version.
    #[arg(long)]
    version: Option<u64>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub async fn run(target: &super::StoreTarget, a: TimelineArgs) -> anyhow::Result<ExitCode> {
    let lang = Lang::parse(&a.lang).ok_or_else(|| anyhow::anyhow!("--lang 须为 zh-CN 或 en / must be zh-CN or en"))?;
    let as_of = match (a.at, a.version) {
        (Some(t), _) => Some(AsOf::Time(t)),
        (None, Some(v)) => Some(AsOf::Version(v)),
        (None, None) => None,
    };
    let engine = super::open_engine(target).await?;
    let tl = match a.subject {
        Subject::Issue => engine.issue_timeline(&a.id, as_of).await,
        Subject::Meeting => engine.meeting_timeline(&a.id, as_of).await,
    };
    let tl = match tl {
        Ok(tl) => tl,
        Err(e @ (EngineError::NotFound(_) | EngineError::NotYetRaised(_))) => {
            eprintln!("错误 / error: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let text = match a.format {
        OutputFormat::Md => timeline::render(&tl, lang, Format::Markdown),
        OutputFormat::Html => timeline::render(&tl, lang, Format::Html),
        OutputFormat::Json => serde_json::to_string_pretty(&tl)? + "\n",
    };
    match a.output {
        Some(path) => {
            std::fs::write(&path, text)
                .map_err(|e| anyhow::anyhow!("写入 {} 失败 / cannot write {}: {e}", path.display(), path.display()))?;
            eprintln!("已写入 / written: {} ({} 步 / steps)", path.display(), tl.steps.len());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
