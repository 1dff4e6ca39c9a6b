//! `convene`: serve the REST API, or run one of the CLI commands. See `convene --help`.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;

// Replay and projections allocate many small strings; mimalloc's thread-local free lists
// roughly halve their allocation cost against glibc malloc on this workload.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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
            ExitCode::from(convene_api::cli::exit_status(&e))
        }
    }
}

/// `convene export | head` closes the pipe early: `println!` then panics with "failed printing
/// to stdout: Broken pipe". A reader that stopped wanting output is not an error worth a
/// backtrace, so that one panic ends the process quietly with the shell's status for SIGPIPE
/// (128 + 13), as `cat` would; every other panic keeps the default report. (Restoring the
/// SIGPIPE default instead would need `unsafe`.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
