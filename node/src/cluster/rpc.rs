//! Node-to-node RPC over HTTP: Raft messages, forwarded writes, read-index and join requests.
//!
//! Bodies are bincode (snapshots and log entries are binary), and every call carries the
//! cluster secret as a bearer token: nothing a cluster says to itself is unauthenticated.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use raftwire_raft_store::types::{NodeId, TypeConfig};
use raftwire_raft_store::Command;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::app::App;
use crate::cluster::membership::MembershipOp;
use crate::consensus;
use crate::secrets::constant_time_eq;

pub const INTERNAL_APPEND: &str = "/internal/raft/append";
pub const INTERNAL_VOTE: &str = "/internal/raft/vote";
pub const INTERNAL_SNAPSHOT: &str = "/internal/raft/snapshot";
pub const INTERNAL_WRITE: &str = "/internal/write";
pub const INTERNAL_READ_INDEX: &str = "/internal/read-index";
pub const INTERNAL_MEMBERSHIP: &str = "/internal/membership";
/// Membership change that must not be forwarded again (the sender believed this node leads).
pub const INTERNAL_MEMBERSHIP_LOCAL: &str = "/internal/membership/local";

const BIN: &str = "application/octet-stream";

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(v, bincode::config::standard()).map_err(|e| e.to_string())
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(b, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}

/// Why an RPC got no answer of the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum RpcFailure {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("rejected with HTTP {0}: {1}")]
    Rejected(u16, String),
    #[error("bad answer: {0}")]
    Decode(String),
}

/// POSTs `req` to `base` + `path` and decodes the answer.
pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
    app: &App,
    base: &str,
    path: &str,
    req: &Req,
) -> Result<Resp, RpcFailure> {
    call_with(
        &app.http,
        &app.cluster_secret,
        base,
        path,
        req,
        Duration::from_secs(10),
    )
    .await
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
        .map_err(|e| RpcFailure::Unreachable(e.to_string()))?;
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

fn reply<T: Serialize>(v: &T) -> Response {
    match encode(v) {
        Ok(b) => (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, BIN)], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// A refusal: status and reason (small, unlike a whole `Response`).
type Refusal = (StatusCode, String);

fn check_secret(app: &App, headers: &HeaderMap) -> Result<(), Refusal> {
    let ok = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim(), &app.cluster_secret));
    if ok {
        Ok(())
    } else {
        Err((StatusCode::UNAUTHORIZED, "cluster secret required".into()))
    }
}

fn body<T: DeserializeOwned>(app: &App, headers: &HeaderMap, bytes: &Bytes) -> Result<T, Refusal> {
    check_secret(app, headers)?;
    decode(bytes).map_err(|e| (StatusCode::BAD_REQUEST, e))
}

async fn append(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    let req: openraft::raft::AppendEntriesRequest<TypeConfig> = match body(&app, &headers, &bytes) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    reply(&app.raft.append_entries(req).await)
}

async fn vote(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    let req: openraft::raft::VoteRequest<NodeId> = match body(&app, &headers, &bytes) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    reply(&app.raft.vote(req).await)
}

async fn snapshot(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    let req: openraft::raft::InstallSnapshotRequest<TypeConfig> = match body(&app, &headers, &bytes)
    {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    reply(&app.raft.install_snapshot(req).await)
}

async fn write(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    let cmd: Command = match body(&app, &headers, &bytes) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match consensus::propose_as_leader(&app, cmd).await {
        Ok(outcome) => reply(&outcome),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.error.detail).into_response(),
    }
}

async fn read_index(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    if let Err(refusal) = body::<()>(&app, &headers, &bytes) {
        return refusal.into_response();
    }
    match app.raft.ensure_linearizable().await {
        Ok(log_id) => reply(&log_id.map(|l| l.index).unwrap_or(0)),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn membership(State(app): State<App>, headers: HeaderMap, bytes: Bytes) -> Response {
    let op: MembershipOp = match body(&app, &headers, &bytes) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    match crate::cluster::membership::change(&app, op).await {
        Ok(()) => reply(&()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.error.detail).into_response(),
    }
}

/// The internal routes (authenticated by the cluster secret, not by API tokens).
pub fn routes(app: App) -> Router<App> {
    Router::new()
        .route(INTERNAL_APPEND, post(append))
        .route(INTERNAL_VOTE, post(vote))
        .route(INTERNAL_SNAPSHOT, post(snapshot))
        .route(INTERNAL_WRITE, post(write))
        .route(INTERNAL_READ_INDEX, post(read_index))
        .route(INTERNAL_MEMBERSHIP, post(membership))
        .route(INTERNAL_MEMBERSHIP_LOCAL, post(membership_local))
        // Raft batches and snapshot chunks are large, but bounded; a restore entry is too.
        .layer(axum::extract::DefaultBodyLimit::max(INTERNAL_BODY_LIMIT))
        // The secret is checked before any body is read: no unauthenticated upload.
        .route_layer(axum::middleware::from_fn_with_state(app, require_secret))
}

/// Largest internal request body.
pub const INTERNAL_BODY_LIMIT: usize = 128 * 1024 * 1024;

async fn require_secret(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match check_secret(&app, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn membership_local(State(app): State<App>, bytes: Bytes) -> Response {
    let op: MembershipOp = match decode(&bytes) {
        Ok(op) => op,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    match crate::cluster::membership::change_local(&app, op).await {
        Ok(()) => reply(&()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.error.detail).into_response(),
    }
}
