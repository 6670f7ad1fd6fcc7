//! The HTTP side of the CLI: requests to `/api/v1`, retries, problem+json errors, name
//! resolution.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use super::error::{CliError, CliResult, Problem};

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

/// The admin token the CLI sends, and where it came from (for a 401's message; the token
/// itself is never printed).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub token: Option<String>,
    /// E.g. `--token-file ./x`, `RAFTWIRE_TOKEN`, `./data/admin-token`.
    pub source: String,
}

impl Auth {
    /// A short fingerprint of the token: its first 4 characters and its length.
    pub fn fingerprint(token: &str) -> String {
        let head: String = token.chars().take(4).collect();
        format!("{head}…, {} characters", token.chars().count())
    }

    /// What to say when the server refuses (401) what was sent.
    fn refused(&self) -> String {
        match &self.token {
            Some(t) => format!(
                "the server refused the admin token from {} ({}); give a valid admin token \
                 with --token-file <file> or --token (RAFTWIRE_TOKEN_FILE, RAFTWIRE_TOKEN)",
                self.source,
                Auth::fingerprint(t)
            ),
            None => "no admin token was sent: none was given with --token-file or --token \
                     (RAFTWIRE_TOKEN_FILE, RAFTWIRE_TOKEN) and there is no ./data/admin-token \
                     here; give one (a node writes its bootstrap token to \
                     <data-dir>/admin-token)"
                .to_string(),
        }
    }
}

/// How the client talks to the server.
pub struct Settings<'a> {
    pub server: &'a str,
    pub auth: Auth,
    pub ca_cert: Option<&'a std::path::Path>,
    /// Retries (503, no answer) stop being started after this long.
    pub retry_timeout: Duration,
    /// The `Idempotency-Key` of writes; a new one per write when unset.
    pub idempotency_key: Option<String>,
    /// Print a note on stderr when retrying (not with `-o json`).
    pub notes: bool,
}

/// How long one attempt may take at least (a write may wait for a commit, then for this
/// node to apply it), and at most.
const ATTEMPT_TIMEOUT_MIN: Duration = Duration::from_secs(25);
const ATTEMPT_TIMEOUT_MAX: Duration = Duration::from_secs(60);
/// The first pause between attempts; it doubles up to the second.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub struct Client {
    http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    auth: Auth,
    retry_timeout: Duration,
    idempotency_key: Option<String>,
    notes: bool,
    /// Whether the server has answered anything yet: a refused connection to a server that
    /// never answered is not a failover, and is not retried.
    reached: AtomicBool,
}

/// What one attempt came to.
enum Attempt {
    Done(StatusCode, Vec<u8>),
    /// An error answer (retried if 503).
    Failed {
        status: StatusCode,
        retry_after: Option<u64>,
        error: CliError,
    },
    /// No answer: `sent` unless the connection was never made (then the request is known
    /// not to have reached the server).
    NoAnswer {
        sent: bool,
        error: CliError,
    },
}

/// Checks a key given with `--idempotency-key` as the server does.
pub fn check_idempotency_key(key: &str) -> CliResult<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::local(
            "invalid_value",
            "--idempotency-key must be 1 to 255 visible ASCII characters (no spaces)",
        ));
    }
    Ok(())
}

impl Client {
    pub fn new(settings: Settings<'_>) -> CliResult<Self> {
        let server = settings.server.trim().trim_end_matches('/');
        if server.is_empty() {
            return Err(CliError::other("--server is empty"));
        }
        let base = if server.contains("://") {
            server.to_string()
        } else {
            format!("http://{server}")
        };
        if let Some(k) = &settings.idempotency_key {
            check_idempotency_key(k)?;
        }
        raftwire_node::tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = settings.ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| CliError::other(format!("cannot read {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CliError::other(format!("no certificates in {}: {e}", ca.display()))
            })?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("raftwire-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            auth: settings.auth,
            retry_timeout: settings.retry_timeout,
            idempotency_key: settings.idempotency_key,
            notes: settings.notes,
            reached: AtomicBool::new(false),
        })
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

    /// Sends a request, retrying until `retry_timeout` has passed while the answer is 503
    /// (no leader yet, e.g. during a leader failover, or a write whose outcome is unknown)
    /// or, for writes, while no answer comes (the connection broke or timed out). Every
    /// attempt of a write carries the same `Idempotency-Key`, so the server applies it
    /// once however many attempts reach it. A write given up on after an attempt whose
    /// outcome is unknown fails with [`CliError::Unknown`], naming the key.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        payload: Payload<'_>,
        if_match: Option<u64>,
        timeout: Option<Duration>,
    ) -> CliResult<(StatusCode, Vec<u8>)> {
        let write = method != Method::GET;
        let key = write.then(|| {
            self.idempotency_key
                .clone()
                .unwrap_or_else(|| format!("cli-{}", uuid::Uuid::new_v4()))
        });
        let deadline = Instant::now() + self.retry_timeout;
        let mut backoff = BACKOFF_FIRST;
        let mut unknown = false;
        let mut noted = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt_timeout = timeout
                .unwrap_or_else(|| remaining.clamp(ATTEMPT_TIMEOUT_MIN, ATTEMPT_TIMEOUT_MAX));
            let attempt = self
                .attempt(
                    &method,
                    path,
                    payload,
                    if_match,
                    key.as_deref(),
                    attempt_timeout,
                )
                .await?;
            let (error, wait) = match attempt {
                Attempt::Done(status, bytes) => return Ok((status, bytes)),
                Attempt::Failed {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    retry_after,
                    error,
                } => {
                    unknown |= write;
                    let wait = retry_after
                        .map(|s| Duration::from_secs(s.clamp(1, 5)))
                        .unwrap_or(backoff);
                    (error, wait)
                }
                Attempt::Failed { error, .. } => return Err(error),
                Attempt::NoAnswer { sent, error } => {
                    unknown |= write && sent;
                    // Reads are retried only if they got an answer before; writes, also
                    // when they may have reached the server, or when it answered before.
                    let retry = self.reached.load(Ordering::Relaxed) || (write && sent);
                    if !retry {
                        return Err(error);
                    }
                    (error, backoff)
                }
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(match (unknown, key) {
                    (true, Some(key)) => CliError::Unknown {
                        key,
                        last: Box::new(error),
                        check: None,
                    },
                    _ => error,
                });
            }
            if self.notes && !noted {
                noted = true;
                let first = error.to_string();
                let first = first.lines().next().unwrap_or_default().to_string();
                eprintln!(
                    "note: {first}; retrying for up to {}s (--retry-timeout){}",
                    self.retry_timeout.as_secs(),
                    if write {
                        " under the same Idempotency-Key"
                    } else {
                        ""
                    }
                );
            }
            tokio::time::sleep(wait.min(deadline - now)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// One attempt; `Err` only for errors no retry can fix.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        payload: Payload<'_>,
        if_match: Option<u64>,
        key: Option<&str>,
        timeout: Duration,
    ) -> CliResult<Attempt> {
        let mut req = self
            .http
            .request(method.clone(), self.url(path))
            .timeout(timeout);
        if let Some(token) = &self.auth.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                CliError::other(format!(
                    "the admin token from {} contains characters not allowed in a header",
                    self.auth.source
                ))
            })?;
            req = req.header(AUTHORIZATION, value);
        }
        if let Some(v) = if_match {
            req = req.header(IF_MATCH, v.to_string());
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req = match payload {
            Payload::None => req,
            Payload::Json(v) => req.json(v),
            Payload::Bytes(b) => req
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(b.to_vec()),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::NoAnswer {
                    sent: !e.is_connect(),
                    error: self.connect_error(&e),
                })
            }
        };
        self.reached.store(true, Ordering::Relaxed);
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
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(Attempt::NoAnswer {
                    sent: true,
                    error: self.connect_error(&e),
                })
            }
        };
        if status.is_success() {
            return Ok(Attempt::Done(status, bytes.to_vec()));
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
        let hint = (status == StatusCode::UNAUTHORIZED).then(|| self.auth.refused());
        Ok(Attempt::Failed {
            status,
            retry_after,
            error: CliError::Api {
                status,
                problem,
                body: text,
                hint,
            },
        })
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
        let https = self.base.starts_with("https://");
        let lower = reason.to_ascii_lowercase();
        let hint = if https && lower.contains("certificate") {
            "the server's TLS certificate is not trusted: give the certificate (PEM) of the \
             authority that signed it, or the server's own self-signed one, with --ca-cert \
             <file> (RAFTWIRE_CA_CERT)"
                .to_string()
        } else if https && (lower.contains("invalidcontenttype") || lower.contains("corrupt")) {
            format!(
                "the server does not seem to speak TLS: try {}",
                self.base.replacen("https://", "http://", 1)
            )
        } else if !https && !e.is_connect() && !e.is_timeout() {
            format!(
                "if the node serves HTTPS (--tls-cert), use {}",
                self.base.replacen("http://", "https://", 1)
            )
        } else {
            "is a node running there? Set --server <url> or RAFTWIRE_SERVER".to_string()
        };
        CliError::Connect {
            url: self.base.clone(),
            reason,
            hint,
        }
    }

    pub async fn get(&self, path: &str) -> CliResult<Reply> {
        self.request(Method::GET, path, None, None).await
    }

    pub async fn get_json(&self, path: &str) -> CliResult<Value> {
        self.get(path).await?.json()
    }

    /// Every item of a list endpoint, read page by page (`limit` and the `next` cursor), so
    /// no single answer grows with the state.
    pub async fn list(&self, path: &str) -> CliResult<Vec<Value>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page_path = match &after {
                None => format!("{path}{sep}limit={LIST_PAGE}"),
                Some(a) => format!("{path}{sep}limit={LIST_PAGE}&after={}", query_escape(a)),
            };
            let mut page = self.get_json(&page_path).await?;
            let next = page
                .get_mut("next")
                .and_then(|n| n.as_str().map(str::to_string));
            all.extend(items(page)?);
            match next {
                // A server that does not page answers everything at once, without `next`.
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(all),
            }
        }
    }

    /// A list endpoint's whole answer (every page), as one `{"items": [...], "next": null}`.
    pub async fn get_list(&self, path: &str) -> CliResult<Reply> {
        let items = self.list(path).await?;
        let text = serde_json::json!({ "items": items, "next": null }).to_string();
        Ok(Reply {
            status: StatusCode::OK,
            text,
        })
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

/// How many items the CLI asks for per page of a list.
const LIST_PAGE: usize = 500;

/// `s` percent-encoded for a query string (a cursor may hold `/` or `:`).
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        [] => Err(CliError::local(
            "not_found",
            format!("no {kind} named '{key}'"),
        )),
        many => Err(CliError::local(
            "ambiguous",
            format!(
                "{} {kind}s are named '{key}' ({}); use the id",
                many.len(),
                many.join(", ")
            ),
        )),
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
}
