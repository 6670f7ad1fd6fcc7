//! The calling side of node-to-node RPC: one authenticated bincode POST.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::rpc::{decode, encode, BIN};
use crate::app::App;

/// Why an RPC got no answer of the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    /// No connection could be made: the request was certainly not received.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have been received, but no (complete) answer came back.
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("rejected with HTTP {0}: {1}")]
    Rejected(u16, String),
    #[error("bad answer: {0}")]
    Decode(String),
}

impl RpcFailure {
    /// The peer could not be reached at all (as opposed to answering something wrong).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RpcFailure::NotSent(_) | RpcFailure::Unreachable(_))
    }
}

/// How long an RPC between nodes may take unless the caller says otherwise.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `req` to `base` + `path` and decodes the answer.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    app: &App,
    base: &str,
    path: &str,
    req: &Req,
) -> Result<Resp, RpcFailure> {
    call_with(&app.http, &app.cluster_secret, base, path, req, RPC_TIMEOUT).await
}

pub async fn call_with<Req: Serialize, Resp: DeserializeOwned>(
    http: &reqwest::Client,
    secret: &str,
    base: &str,
    path: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, RpcFailure> {
    let body = encode(req).map_err(RpcFailure::Decode)?;
    let resp = http
        .post(format!("{}{}", base.trim_end_matches('/'), path))
        .bearer_auth(secret)
        .header(reqwest::header::CONTENT_TYPE, BIN)
        .body(body)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                RpcFailure::NotSent(e.to_string())
            } else {
                RpcFailure::Unreachable(e.to_string())
            }
        })?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| RpcFailure::Unreachable(e.to_string()))?;
    if status != 200 {
        return Err(RpcFailure::Rejected(
            status,
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    decode(&bytes).map_err(RpcFailure::Decode)
}
