//! The answering side of node-to-node RPC: the `/internal/…` routes, authenticated by the
//! cluster secret (checked before any body is read), not by API tokens.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use raftwire_raft_store::types::{NodeId, TypeConfig};
use raftwire_raft_store::Command;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::membership::{self, MembershipOp};
use super::rpc::*;
use crate::app::App;
use crate::consensus;
use crate::secrets::constant_time_eq;

fn reply<T: Serialize>(v: &T) -> Response {
    match encode(v) {
        Ok(b) => (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, BIN)], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// A request that was not understood: status and reason.
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

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Refusal> {
    decode(bytes).map_err(|e| (StatusCode::BAD_REQUEST, e))
}

/// Hands a leader's append-entries (or heartbeat) to Raft, by POST or on a stream.
pub(super) async fn answer_append(
    app: &App,
    req: AppendEntriesRequest<TypeConfig>,
) -> Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
    let resp = app.raft.append_entries(req).await;
    // Any answer but "your term is old" means the sender is this node's leader.
    if matches!(&resp, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
        app.leader_contact.heard();
    }
    resp
}

async fn append(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<AppendEntriesRequest<TypeConfig>>(&bytes) {
        Ok(req) => reply(&answer_append(&app, req).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn vote(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<openraft::raft::VoteRequest<NodeId>>(&bytes) {
        Ok(req) => reply(&app.raft.vote(req).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn snapshot(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<openraft::raft::InstallSnapshotRequest<TypeConfig>>(&bytes) {
        Ok(req) => {
            let sender = req.vote;
            let resp = app.raft.install_snapshot(req).await;
            // Answered with the sender's own vote: the sender is this node's leader.
            if matches!(&resp, Ok(r) if r.vote == sender) {
                app.leader_contact.heard();
            }
            reply(&resp)
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn write(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<Command>(&bytes) {
        Ok(cmd) => reply(&consensus::propose_as_leader(&app, cmd).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn read_index(State(app): State<App>, bytes: Bytes) -> Response {
    if let Err(refusal) = body::<()>(&bytes) {
        return refusal.into_response();
    }
    reply(&consensus::read_index_as_leader(&app).await)
}

async fn membership(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<MembershipOp>(&bytes) {
        Ok(op) => reply(&membership::change(&app, op).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn features(bytes: Bytes) -> Response {
    match body::<()>(&bytes) {
        Ok(()) => reply(&super::features::FeatureSet::own()),
        Err(refusal) => refusal.into_response(),
    }
}

async fn membership_local(State(app): State<App>, bytes: Bytes) -> Response {
    match body::<MembershipOp>(&bytes) {
        Ok(op) => reply(&membership::change_local(&app, op).await),
        Err(refusal) => refusal.into_response(),
    }
}

/// The internal routes (authenticated by the cluster secret, not by API tokens).
pub fn routes(app: App) -> Router<App> {
    Router::new()
        .route(INTERNAL_APPEND, post(append))
        .route(INTERNAL_VOTE, post(vote))
        .route(INTERNAL_STREAM, get(super::stream::serve))
        .route(INTERNAL_SNAPSHOT, post(snapshot))
        .route(INTERNAL_WRITE, post(write))
        .route(INTERNAL_READ_INDEX, post(read_index))
        .route(INTERNAL_MEMBERSHIP, post(membership))
        .route(INTERNAL_MEMBERSHIP_LOCAL, post(membership_local))
        .route(INTERNAL_FEATURES, post(features))
        .layer(axum::extract::DefaultBodyLimit::max(INTERNAL_BODY_LIMIT))
        // The secret is checked before any body is read: no unauthenticated upload.
        .route_layer(axum::middleware::from_fn_with_state(app, require_secret))
}

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
