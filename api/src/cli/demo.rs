//! `convene demo`: load the demo community.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(target: &super::StoreTarget, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let engine = super::open_engine(target).await?;
    let s = convene_engine::demo::load_demo(&engine).await?;
    engine.store().close().await;
    engine.leave_index_to_exit();
    if args.json {
        super::print_json(&s);
    } else {
        println!(
            "示例社区已载入 / demo community loaded: {} 个议题 issues, {} 个新事件 new events, {} 个已存在 already present",
            s.issues, s.events_written, s.events_already_present
        );
        println!("事件存储 / event store: {}", target.describe());
    }
    Ok(ExitCode::SUCCESS)
}
