//! The `raftwire` command-line client: every command is an HTTP call to any node's
//! `/api/v1`. Included by `src/bin/raftwire.rs`, not part of the library.

mod args;
mod client;
mod commands;
mod error;
mod output;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use args::{Cli, Output};
use client::{Auth, Client, Settings};
use commands::Ctx;
use error::{CliError, CliResult};

/// Where a default `raftwire-node` serves the API.
const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// The file a default `raftwire-node` (no flags, run from the same directory) writes.
const DEFAULT_TOKEN_FILE: &str = "data/admin-token";

fn read_token_file(path: &Path, source: &str) -> CliResult<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::other(format!(
            "cannot read the token file {} (from {source}): {e}",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::other(format!(
            "the token file {} (from {source}) is empty",
            path.display()
        )));
    }
    Ok(token.to_string())
}

/// Whether the option `id` was given on the command line (rather than by its variable).
fn from_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The admin token to send and where it came from: `--token`, then `--token-file` given on
/// the command line, then `RAFTWIRE_TOKEN_FILE`, then `RAFTWIRE_TOKEN`, then
/// `./data/admin-token` if it exists; else none (the server will answer 401).
fn auth(cli: &Cli, matches: &ArgMatches) -> CliResult<Auth> {
    let token_cli = from_command_line(matches, "admin_token");
    let file_cli = from_command_line(matches, "admin_token_file");
    if token_cli && file_cli {
        return Err(CliError::local(
            "invalid_value",
            "give --token or --token-file, not both",
        ));
    }
    let token = cli
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let (true, Some(t)) = (token_cli, token) {
        return Ok(Auth {
            token: Some(t.to_string()),
            source: "--token".into(),
        });
    }
    if let Some(path) = &cli.token_file {
        let source = if file_cli {
            format!("--token-file {}", path.display())
        } else {
            format!("--token-file {} (RAFTWIRE_TOKEN_FILE)", path.display())
        };
        let token = read_token_file(path, &source)?;
        return Ok(Auth {
            token: Some(token),
            source,
        });
    }
    if let Some(t) = token {
        return Ok(Auth {
            token: Some(t.to_string()),
            source: "RAFTWIRE_TOKEN".into(),
        });
    }
    let default = Path::new(DEFAULT_TOKEN_FILE);
    if default.is_file() {
        let source = format!("./{DEFAULT_TOKEN_FILE}");
        let token = read_token_file(default, &source)?;
        return Ok(Auth {
            token: Some(token),
            source,
        });
    }
    Ok(Auth::default())
}

async fn run(cli: Cli, matches: &ArgMatches) -> CliResult<()> {
    let auth = auth(&cli, matches)?;
    let ctx = Ctx {
        client: Client::new(Settings {
            server: cli.server.as_deref().unwrap_or(DEFAULT_SERVER),
            auth,
            ca_cert: cli.ca_cert.as_deref(),
            retry_timeout: Duration::from_secs(cli.retry_timeout),
            idempotency_key: cli.idempotency_key.clone(),
            notes: cli.output == Output::Table,
        })?,
        output: cli.output,
    };
    commands::run(&ctx, cli.command).await
}

/// Whether `-o json` was asked for, for a command line clap refused (so not parsed).
fn json_output_asked() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = args.iter().enumerate().any(|(i, a)| {
        matches!(a.as_str(), "-ojson" | "--output=json")
            || (matches!(a.as_str(), "-o" | "--output")
                && args.get(i + 1).is_some_and(|v| v == "json"))
    });
    flag || std::env::var("RAFTWIRE_OUTPUT").is_ok_and(|v| v == "json")
}

pub fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // --help and --version succeed; usage mistakes are errors (1), keeping 2 for
            // "the server could not be reached".
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if json_output_asked() {
                let text = e.to_string();
                let message = text.trim().trim_start_matches("error: ");
                let error = serde_json::json!({ "error": message, "code": "usage" });
                eprintln!("{}", output::pretty_json(&error.to_string()));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(1);
        }
    };
    let output = cli.output;
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
    match runtime.block_on(run(cli, &matches)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match output {
                Output::Json => eprintln!("{}", output::pretty_json(&e.to_json().to_string())),
                Output::Table => eprintln!("error: {e}"),
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
