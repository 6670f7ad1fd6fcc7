//! `raftwire-agent`: the host agent binary (see the library's documentation and `--help`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use raftwire_agent::config::Args;

/// A jump's configuration is large (~10 MB at 10,000 peers) and rebuilt for every change;
/// mimalloc keeps its buffers instead of handing them back to the kernel each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
