//! The `convene` server and CLI: the IO shell around `convene-engine`.
//!
//! `http` is the actix-web REST API (problem+json errors, ETag/If-Match, Idempotency-Key,
//! SSE); `cli` holds the subcommands. The binary (`main.rs`) only parses arguments and
//! dispatches.
#![forbid(unsafe_code)]

pub mod cli;
pub mod http;
pub mod logging;
