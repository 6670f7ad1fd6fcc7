//! The HTTP side of the CLI: requests to `/api/v1`, problem+json errors, name resolution.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

/// How a command failed; decides the exit status.
#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error status (exit 1).
    Api {
        status: StatusCode,
        problem: Option<Box<Problem>>,
        body: String,
    },
    /// The server could not be reached, or the connection broke (exit 2).
    Connect { url: String, reason: String },
    /// Anything else: bad input caught before a request, an unexpected answer (exit 1).
    Other(String),
}

impl CliError {
    pub fn other(msg: impl Into<String>) -> Self {
        CliError::Other(msg.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Connect { .. } => 2,
            _ => 1,
        }
    }
}

/// An `application/problem+json` body (SPEC §7).
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

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api {
                status,
                problem: Some(p),
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
                write!(f, ": {detail}")?;
                for item in &p.items {
                    write!(f, "\n  - {item}")?;
                }
                match p.code.as_deref() {
                    Some("static_peers_affected") => {
                        return write!(f, "\nhint: repeat with --force to renumber them anyway")
                    }
                    Some("version_mismatch") => {
                        return write!(
                            f,
                            "\nhint: the object changed since that version; show it again and retry"
                        )
                    }
                    _ => {}
                }
                match *status {
                    StatusCode::UNAUTHORIZED => write!(
                        f,
                        "\nhint: give an admin token with --token-file <file> or RAFTWIRE_TOKEN"
                    ),
                    StatusCode::SERVICE_UNAVAILABLE => {
                        write!(
                            f,
                            "\nhint: the cluster has no leader or quorum; retry shortly"
                        )
                    }
                    _ => Ok(()),
                }
            }
            CliError::Api { status, body, .. } => {
                let snippet: String = body.trim().chars().take(300).collect();
                if snippet.is_empty() {
                    write!(f, "HTTP {status}")
                } else {
                    write!(f, "HTTP {status}: {snippet}")
                }
            }
            CliError::Connect { url, reason } => {
                write!(f, "cannot reach the Raftwire server at {url}: {reason}")?;
                write!(
                    f,
                    "\nhint: is a node running there? Set --server <url> or RAFTWIRE_SERVER"
                )
            }
            CliError::Other(msg) => f.write_str(msg),
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// A successful answer: its status and body text.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub text: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> CliResult<Value> {
        serde_json::from_str(&self.text).map_err(|e| {
            CliError::other(format!(
                "the server's answer (HTTP {}) is not JSON: {e}",
                self.status
            ))
        })
    }
}

/// One path segment, percent-encoded (ids are UUIDs, but nothing typed by a user goes into
/// a URL unescaped).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a request carries.
#[derive(Clone, Copy)]
enum Payload<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8]),
}

pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(
        server: &str,
        token: Option<String>,
        ca_cert: Option<&std::path::Path>,
    ) -> CliResult<Self> {
        let server = server.trim().trim_end_matches('/');
        if server.is_empty() {
            return Err(CliError::other("--server is empty"));
        }
        let base = if server.contains("://") {
            server.to_string()
        } else {
            format!("http://{server}")
        };
        raftwire_node::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| CliError::other(format!("cannot read {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CliError::other(format!("no certificates in {}: {e}", ca.display()))
            })?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("raftwire-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, base, token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// One request to `/api/v1{path}` with a JSON body (or none); the answer as text.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<u64>,
    ) -> CliResult<Reply> {
        let payload = match body {
            Some(v) => Payload::Json(v),
            None => Payload::None,
        };
        let (status, bytes) = self.exchange(method, path, payload, if_match, None).await?;
        Ok(Reply {
            status,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// One request with a binary body (or none); the answer as bytes. For backups, which
    /// may be large: `timeout` replaces the usual one.
    pub async fn request_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> CliResult<Vec<u8>> {
        let payload = match body {
            Some(b) => Payload::Bytes(b),
            None => Payload::None,
        };
        let (_, bytes) = self
            .exchange(method, path, payload, None, Some(timeout))
            .await?;
        Ok(bytes)
    }

    /// Requests that meet a 503 (no leader yet, or a write whose outcome is unknown) are
    /// retried a few times, honouring `Retry-After`. Writes carry one `Idempotency-Key` for
    /// all their attempts, so a retried write applies once.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        payload: Payload<'_>,
        if_match: Option<u64>,
        timeout: Option<Duration>,
    ) -> CliResult<(StatusCode, Vec<u8>)> {
        let url = self.url(path);
        let retries = 3;
        let idempotency_key =
            (method != Method::GET).then(|| format!("cli-{}", uuid::Uuid::new_v4()));
        let mut attempt = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(token) = &self.token {
                let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    CliError::other("the token contains characters not allowed in a header")
                })?;
                req = req.header(AUTHORIZATION, value);
            }
            if let Some(v) = if_match {
                req = req.header(IF_MATCH, v.to_string());
            }
            if let Some(k) = &idempotency_key {
                req = req.header("idempotency-key", k.as_str());
            }
            if let Some(t) = timeout {
                req = req.timeout(t);
            }
            req = match payload {
                Payload::None => req,
                Payload::Json(v) => req.json(v),
                Payload::Bytes(b) => req
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(b.to_vec()),
            };
            let resp = req.send().await.map_err(|e| self.connect_error(&e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let is_problem = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json"));
            let bytes = resp.bytes().await.map_err(|e| self.connect_error(&e))?;
            if status.is_success() {
                return Ok((status, bytes.to_vec()));
            }
            if status == StatusCode::SERVICE_UNAVAILABLE && attempt < retries {
                attempt += 1;
                let wait = retry_after.unwrap_or(1).clamp(1, 5);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let problem = if is_problem {
                serde_json::from_str::<Problem>(&text)
                    .ok()
                    .filter(|p| p.code.is_some() || p.detail.is_some())
                    .map(Box::new)
            } else {
                None
            };
            return Err(CliError::Api {
                status,
                problem,
                body: text,
            });
        }
    }

    fn connect_error(&self, e: &reqwest::Error) -> CliError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            source = s.source();
        }
        if e.is_timeout() {
            reason = format!("timed out ({reason})");
        }
        if self.base.starts_with("https://") && !e.is_timeout() {
            reason.push_str(" (this build of raftwire speaks plain http only)");
        }
        CliError::Connect {
            url: self.base.clone(),
            reason,
        }
    }

    pub async fn get(&self, path: &str) -> CliResult<Reply> {
        self.request(Method::GET, path, None, None).await
    }

    pub async fn get_json(&self, path: &str) -> CliResult<Value> {
        self.get(path).await?.json()
    }

    /// The `items` of a list endpoint.
    pub async fn list(&self, path: &str) -> CliResult<Vec<Value>> {
        let v = self.get_json(path).await?;
        items(v)
    }

    /// The id of the object `key` names among the items of the list at `path`: `key` is its
    /// id (a UUID, used as is) or its `name` (which must match exactly one item).
    pub async fn resolve(&self, path: &str, kind: &str, key: &str) -> CliResult<String> {
        if let Ok(id) = key.trim().parse::<uuid::Uuid>() {
            return Ok(id.to_string());
        }
        let list = self.list(path).await?;
        pick(&list, kind, key)
    }
}

/// The `items` array of a list answer.
pub fn items(v: Value) -> CliResult<Vec<Value>> {
    match v {
        Value::Object(mut m) => match m.remove("items") {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(CliError::other("the server's list answer has no 'items'")),
        },
        _ => Err(CliError::other("the server's list answer is not an object")),
    }
}

/// The id of the single item whose `name` is `key` (or whose id is `key`).
pub fn pick(list: &[Value], kind: &str, key: &str) -> CliResult<String> {
    let key = key.trim();
    let id_of = |v: &Value| v.get("id").and_then(Value::as_str).map(str::to_string);
    if let Some(id) = list
        .iter()
        .find(|v| id_of(v).is_some_and(|id| id.eq_ignore_ascii_case(key)))
        .and_then(id_of)
    {
        return Ok(id);
    }
    let matches: Vec<String> = list
        .iter()
        .filter(|v| {
            v.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(key))
        })
        .filter_map(id_of)
        .collect();
    match matches.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(CliError::other(format!(
            "not_found: no {kind} named '{key}'"
        ))),
        many => Err(CliError::other(format!(
            "ambiguous: {} {kind}s are named '{key}' ({}); use the id",
            many.len(),
            many.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("*.svc"), "%2A.svc");
    }

    #[test]
    fn pick_by_name_or_id() {
        let list = vec![
            json!({"id": "1111", "name": "a"}),
            json!({"id": "2222", "name": "b"}),
            json!({"id": "3333", "name": "b"}),
        ];
        assert_eq!(pick(&list, "peer", "a").ok(), Some("1111".to_string()));
        assert_eq!(pick(&list, "peer", "2222").ok(), Some("2222".to_string()));
        assert!(pick(&list, "peer", "b")
            .err()
            .is_some_and(|e| e.to_string().contains("ambiguous")));
        assert!(pick(&list, "peer", "zz")
            .err()
            .is_some_and(|e| e.to_string().contains("no peer named 'zz'")));
    }

    #[test]
    fn problem_display() {
        let e = CliError::Api {
            status: StatusCode::CONFLICT,
            problem: Some(Box::new(Problem {
                title: Some("Conflict".into()),
                detail: Some("10.0.0.0/24 overlaps x".into()),
                code: Some("cidr_overlap".into()),
                field: Some("ipv4_cidr".into()),
                items: vec![],
            })),
            body: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "cidr_overlap (ipv4_cidr): 10.0.0.0/24 overlaps x"
        );
        assert_eq!(e.exit_code(), 1);
    }
}
