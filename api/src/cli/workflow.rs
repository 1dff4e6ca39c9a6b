//! `convene workflow validate|publish`.

use clap::Subcommand;
use convene_engine::catalog::Catalog;
use convene_engine::workflow::{Severity, validate_definition};
use convene_engine::{Actor, EngineError};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Check workflow files; print each problem with its JSON path and code. Exit 1 on errors.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Publish a workflow file as a new version in the data directory.
    Publish {
        file: PathBuf,
        #[arg(long, default_value = "cli")]
        actor_id: String,
        #[arg(long)]
        json: bool,
    },
}

fn read_doc(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("无法读取 / cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("不是合法 JSON / not valid JSON: {e}"))
}

pub async fn run(target: &super::StoreTarget, cmd: WorkflowCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        WorkflowCommand::Validate { files, json } => {
            let catalog = Catalog::shipped();
            let mut failed = false;
            let mut report = Vec::new();
            for f in &files {
                let diags = match read_doc(f) {
                    Ok(doc) => validate_definition(&doc, catalog),
                    Err(m) => {
                        failed = true;
                        if !json {
                            println!("{}: error[io] {m}", f.display());
                        }
                        report.push(json!({"file": f, "ok": false, "error": m}));
                        continue;
                    }
                };
                let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
                failed |= errors > 0;
                if json {
                    report.push(json!({"file": f, "ok": errors == 0, "diagnostics": diags}));
                    continue;
                }
                for d in &diags {
                    let sev = match d.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    let path = if d.path.is_empty() { "/" } else { &d.path };
                    println!("{}: {sev}[{}] {path}: {}", f.display(), d.code, d.message.both());
                }
                if errors == 0 {
                    println!("{}: 有效 / valid ({} warning(s))", f.display(), diags.len());
                }
            }
            if json {
                super::print_json(&report);
            }
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        WorkflowCommand::Publish { file, actor_id, json } => {
            let doc = match read_doc(&file) {
                Ok(d) => d,
                Err(m) => {
                    eprintln!("{}: {m}", file.display());
                    return Ok(ExitCode::from(1));
                }
            };
            let engine = super::open_engine(target).await?;
            let result = engine.publish_workflow(&doc, &Actor::new(actor_id, "convener")).await;
            engine.store().close().await;
            match result {
                Ok(p) => {
                    if json {
                        super::print_json(
                            &json!({"id": p.workflow.id(), "version": p.workflow.version(), "created": p.created}),
                        );
                    } else if p.created {
                        println!("已发布 / published {} v{}", p.workflow.id(), p.workflow.version());
                    } else {
                        println!("已存在，未改动 / already published: {} v{}", p.workflow.id(), p.workflow.version());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(EngineError::InvalidWorkflow(diags)) => {
                    for d in diags {
                        println!("{}: error[{}] {}: {}", file.display(), d.code, d.path, d.message.both());
                    }
                    Ok(ExitCode::from(1))
                }
                Err(e @ (EngineError::WorkflowVersionExists { .. } | EngineError::WorkflowVersionGap { .. })) => {
                    eprintln!("{}: {e}", file.display());
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
