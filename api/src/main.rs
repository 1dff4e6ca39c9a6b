//! `convene`: serve the REST API, or run one of the CLI commands. See `convene --help`.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

// Replay and projections allocate many small strings; mimalloc's thread-local free lists
// roughly halve their allocation cost against glibc malloc on this workload.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = convene_api::cli::Cli::parse();
    convene_api::logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("无法启动运行时 / cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(convene_api::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            ExitCode::from(2)
        }
    }
}
