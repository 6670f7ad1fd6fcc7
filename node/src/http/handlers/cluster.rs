//! `/cluster` status and membership administration.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use raftwire_api::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cluster::membership::{change, MembershipOp};
use crate::http::error::ApiResult;
use crate::http::extract::{Caller, JsonBody};

#[derive(Serialize)]
pub struct Member {
    id: u64,
    addr: String,
    voter: bool,
}

#[derive(Serialize)]
pub struct ClusterStatus {
    node_id: u64,
    leader_id: Option<u64>,
    term: u64,
    commit_index: u64,
    last_applied: u64,
    members: Vec<Member>,
}

pub async fn status(State(app): State<App>, caller: Caller) -> ApiResult<Json<ClusterStatus>> {
    caller.require_admin()?;
    let m = app.raft.metrics().borrow().clone();
    let membership = m.membership_config.membership();
    let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, node)| Member {
            id: *id,
            addr: node.addr.clone(),
            voter: voters.contains(id),
        })
        .collect();
    Ok(Json(ClusterStatus {
        node_id: app.id,
        leader_id: m.current_leader,
        term: m.current_term,
        commit_index: app.committed_index(),
        last_applied: app.applied_index(),
        members,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    id: Option<u64>,
    addr: Option<String>,
}

/// Adds a node as a learner (it receives the log, but does not vote until promoted).
pub async fn add(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<AddMember>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let id = body
        .id
        .ok_or_else(|| DomainError::field(ErrorCode::MissingField, "id", "'id' is required"))?;
    let addr = body
        .addr
        .ok_or_else(|| DomainError::field(ErrorCode::MissingField, "addr", "'addr' is required"))?;
    let url = addr.trim_end_matches('/').to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(DomainError::field(
            ErrorCode::InvalidValue,
            "addr",
            "addr must be an http(s):// URL",
        )
        .into());
    }
    change(
        &app,
        MembershipOp::AddLearner {
            id,
            addr: url,
            wait: false,
        },
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn promote(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<u64>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    change(&app, MembershipOp::Promote { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<u64>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    change(&app, MembershipOp::Remove { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
