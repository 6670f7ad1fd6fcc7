//! The `raftwire` command-line client (SPEC §10): every command is an HTTP call to any
//! node's `/api/v1` (SPEC §7). Included by `src/bin/raftwire.rs`, not part of the library.

mod args;
mod client;
mod commands;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use args::Cli;
use client::{CliError, CliResult, Client};
use commands::Ctx;

/// Where a default `raftwire-node` serves the API.
const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// The file a default `raftwire-node` (no flags, run from the same directory) writes.
const DEFAULT_TOKEN_FILE: &str = "data/admin-token";

fn read_token_file(path: &Path) -> CliResult<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::other(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::other(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// `--token-file`/`RAFTWIRE_TOKEN_FILE`, else `RAFTWIRE_TOKEN`, else `./data/admin-token`
/// if it exists, else none (the server will answer 401).
fn token(token_file: Option<&PathBuf>) -> CliResult<Option<String>> {
    if let Some(path) = token_file {
        return read_token_file(path).map(Some);
    }
    if let Ok(t) = std::env::var("RAFTWIRE_TOKEN") {
        let t = t.trim();
        if !t.is_empty() {
            return Ok(Some(t.to_string()));
        }
    }
    let default = Path::new(DEFAULT_TOKEN_FILE);
    if default.is_file() {
        return read_token_file(default).map(Some);
    }
    Ok(None)
}

async fn run(cli: Cli) -> CliResult<()> {
    let token = token(cli.token_file.as_ref())?;
    let ctx = Ctx {
        client: Client::new(
            cli.server.as_deref().unwrap_or(DEFAULT_SERVER),
            token,
            cli.ca_cert.as_deref(),
        )?,
        output: cli.output,
    };
    commands::run(&ctx, cli.command).await
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version succeed; usage mistakes are errors (1), keeping 2 for
            // "the server could not be reached".
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
