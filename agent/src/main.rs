//! `raftwire-agent`: the host agent binary (see the library's documentation and `--help`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use raftwire_agent::config::Args;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    raftwire_agent::init_logging(args.log_format);
    match raftwire_agent::runner::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
