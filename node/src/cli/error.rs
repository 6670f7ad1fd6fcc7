//! How a command fails: the message on stderr (or JSON with `-o json`), and the exit status.

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How a command failed; decides the exit status.
#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error status (exit 1).
    Api {
        status: StatusCode,
        problem: Option<Box<Problem>>,
        body: String,
        /// What the CLI adds, e.g. which token a 401 refused.
        hint: Option<String>,
    },
    /// The server could not be reached, or the connection broke (exit 2).
    Connect {
        url: String,
        reason: String,
        hint: String,
    },
    /// A write given up on without knowing whether it was applied (the exit status of
    /// its last attempt).
    Unknown {
        /// The `Idempotency-Key` every attempt carried.
        key: String,
        last: Box<CliError>,
        /// A command that shows whether the write was applied.
        check: Option<String>,
    },
    /// Anything else: bad input caught before a request, an unexpected answer (exit 1).
    /// `code` is `error` for messages that need none.
    Local { code: &'static str, message: String },
}

impl CliError {
    pub fn other(msg: impl Into<String>) -> Self {
        CliError::Local {
            code: "error",
            message: msg.into(),
        }
    }

    pub fn local(code: &'static str, msg: impl Into<String>) -> Self {
        CliError::Local {
            code,
            message: msg.into(),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Connect { .. } => 2,
            CliError::Unknown { last, .. } => last.exit_code(),
            _ => 1,
        }
    }

    /// Names the command that shows whether an unknown-outcome write was applied.
    pub fn with_check(self, check: Option<String>) -> Self {
        match self {
            CliError::Unknown { key, last, .. } => CliError::Unknown { key, last, check },
            e => e,
        }
    }

    /// The error as JSON, for `-o json`: the server's problem+json as it answered (plus
    /// the CLI's `hint`, if any), else `{"error": …, "code": …}`.
    pub fn to_json(&self) -> Value {
        match self {
            CliError::Api {
                status, body, hint, ..
            } => {
                let mut obj = match serde_json::from_str::<Value>(body) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        let mut m = Map::new();
                        m.insert("error".into(), json!(self.to_string()));
                        m.insert("code".into(), json!(format!("http_{}", status.as_u16())));
                        m.insert("status".into(), json!(status.as_u16()));
                        m
                    }
                };
                if let Some(h) = hint {
                    obj.entry("hint").or_insert_with(|| json!(h));
                }
                Value::Object(obj)
            }
            CliError::Connect { url, reason, hint } => json!({
                "error": format!("cannot reach the Raftwire server at {url}: {reason}"),
                "code": "unreachable",
                "url": url,
                "hint": hint,
            }),
            CliError::Unknown { key, last, check } => json!({
                "error": "the write may or may not have been applied",
                "code": "outcome_unknown",
                "idempotency_key": key,
                "check": check,
                "last_error": last.to_json(),
            }),
            CliError::Local { code, message } => json!({ "error": message, "code": code }),
        }
    }
}

/// An `application/problem+json` body, as the API answers errors.
#[derive(Debug, Clone, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    /// Names the error is about (e.g. the static peers a change would renumber).
    #[serde(default)]
    pub items: Vec<String>,
}

/// The server's wording for API clients, in the CLI's words: a JSON body member becomes
/// the flag that sets it.
fn cli_words(detail: &str) -> String {
    detail.replace("\"force\": true", "--force")
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api {
                status,
                problem: Some(p),
                hint,
                ..
            } => {
                let code = p.code.as_deref().unwrap_or("error");
                write!(f, "{code}")?;
                if let Some(field) = &p.field {
                    write!(f, " ({field})")?;
                }
                let detail = p
                    .detail
                    .as_deref()
                    .or(p.title.as_deref())
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"));
                write!(f, ": {}", cli_words(detail))?;
                for item in &p.items {
                    write!(f, "\n  - {item}")?;
                }
                if let Some(h) = hint {
                    return write!(f, "\nhint: {h}");
                }
                match p.code.as_deref() {
                    Some("static_peers_affected") => {
                        return write!(f, "\nhint: repeat with --force to renumber them anyway")
                    }
                    Some("version_mismatch") => {
                        return write!(
                            f,
                            "\nhint: the object changed since that version; show it again and \
                             retry with its current --if-match"
                        )
                    }
                    _ => {}
                }
                match *status {
                    StatusCode::UNAUTHORIZED => write!(
                        f,
                        "\nhint: give an admin token with --token-file <file> or --token \
                         (RAFTWIRE_TOKEN_FILE, RAFTWIRE_TOKEN)"
                    ),
                    StatusCode::SERVICE_UNAVAILABLE => write!(
                        f,
                        "\nhint: the cluster has no leader or quorum; retry shortly (or \
                         raise --retry-timeout)"
                    ),
                    _ => Ok(()),
                }
            }
            CliError::Api {
                status, body, hint, ..
            } => {
                let snippet: String = body.trim().chars().take(300).collect();
                if snippet.is_empty() {
                    write!(f, "HTTP {status}")?;
                } else {
                    write!(f, "HTTP {status}: {snippet}")?;
                }
                match hint {
                    Some(h) => write!(f, "\nhint: {h}"),
                    None => Ok(()),
                }
            }
            CliError::Connect { url, reason, hint } => {
                write!(f, "cannot reach the Raftwire server at {url}: {reason}")?;
                write!(f, "\nhint: {hint}")
            }
            CliError::Unknown { key, last, check } => {
                let last = last.to_string();
                let first = last.lines().next().unwrap_or_default();
                write!(
                    f,
                    "the write may or may not have been applied (gave up retrying after: \
                     {first})\nIdempotency-Key: {key}\nhint: "
                )?;
                if let Some(check) = check {
                    write!(f, "check with '{check}', or ")?;
                }
                write!(
                    f,
                    "repeat the command with --idempotency-key {key} (applied at most once, \
                     whatever happened to the first attempt)"
                )
            }
            CliError::Local {
                code: "error",
                message,
            } => f.write_str(message),
            CliError::Local { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, field: Option<&str>, detail: &str) -> CliError {
        CliError::Api {
            status: StatusCode::CONFLICT,
            problem: Some(Box::new(Problem {
                title: Some("Conflict".into()),
                detail: Some(detail.into()),
                code: Some(code.into()),
                field: field.map(str::to_string),
                items: vec![],
            })),
            body: String::new(),
            hint: None,
        }
    }

    #[test]
    fn problem_display() {
        let e = api("cidr_overlap", Some("ipv4_cidr"), "10.0.0.0/24 overlaps x");
        assert_eq!(
            e.to_string(),
            "cidr_overlap (ipv4_cidr): 10.0.0.0/24 overlaps x"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn hints_name_the_cli_flag() {
        let e = api(
            "static_peers_affected",
            Some("force"),
            "1 static peer(s) would get new addresses; repeat with \"force\": true to proceed",
        );
        let text = e.to_string();
        assert!(!text.contains("\"force\""), "{text}");
        assert!(text.contains("repeat with --force to proceed"), "{text}");
    }

    #[test]
    fn local_errors_as_json() {
        let e = CliError::local("not_found", "no network named 'x'");
        assert_eq!(e.to_string(), "not_found: no network named 'x'");
        assert_eq!(
            e.to_json(),
            json!({"error": "no network named 'x'", "code": "not_found"})
        );
        assert_eq!(CliError::other("boom").to_string(), "boom");
    }
}
