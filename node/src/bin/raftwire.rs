//! `raftwire`: the command-line client of a Raftwire cluster. The code lives in
//! `src/cli/`; run `raftwire --help` for the commands.
#![forbid(unsafe_code)]

#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
