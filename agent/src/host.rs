//! Running the host's tools. Every module shells out to the same few programs (`ip`,
//! `iptables-restore`, `ip6tables-save`, `wireguard-go`…); this is where a failure becomes an
//! error that names the command, its exit status and what it printed.

use std::io::Write;
use std::process::{Command, Stdio};

/// A host command that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{command}: cannot run it: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command}: exit status {status}: {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Other(String),
}

fn describe(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `program args…` and returns its standard output; a non-zero exit is an error
/// carrying standard error.
pub fn run(program: &str, args: &[&str]) -> Result<String, HostError> {
    run_with_input(program, args, None)
}

/// Like [`run`], writing `input` to the command's standard input (restore files).
pub fn run_with_input(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String, HostError> {
    let command = describe(program, args);
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HostError::Spawn {
            command: command.clone(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| HostError::Spawn {
                command: command.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| HostError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HostError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_names_itself_and_its_stderr() {
        let err = run("sh", &["-c", "echo nope >&2; exit 3"]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("sh -c"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(text.contains("nope"), "{text}");
    }

    #[test]
    fn input_reaches_the_command() {
        assert_eq!(run_with_input("cat", &[], Some("hello")).unwrap(), "hello");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        assert!(matches!(
            run("raftwire-no-such-program", &[]),
            Err(HostError::Spawn { .. })
        ));
    }
}
