//! `/cluster` status and membership administration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use raftwire_api::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cluster::membership::{change, MembershipOp};
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, TooLarge};
use crate::http::params::{Ids, NodeId, NodePath};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Member {
    id: u64,
    addr: String,
    voter: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    node_id: u64,
    leader_id: Option<u64>,
    term: u64,
    commit_index: u64,
    last_applied: u64,
    members: Vec<Member>,
}

#[utoipa::path(
    get,
    path = "/api/v1/cluster",
    tag = "cluster",
    operation_id = "get_cluster",
    responses(
        (status = 200, description = "This node's view of the Raft cluster", body = ClusterStatus),
        Common,
    ),
)]
pub async fn status(State(app): State<App>) -> ApiResult<Json<ClusterStatus>> {
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(value_type = u64, required = true)]
    id: Option<u64>,
    #[schema(value_type = String, required = true, example = "http://10.0.0.2:7400")]
    addr: Option<String>,
}

/// Adds a node as a learner (it receives the log, but does not vote until promoted).
#[utoipa::path(
    post,
    path = "/api/v1/cluster/members",
    tag = "cluster",
    operation_id = "add_cluster_member",
    request_body = AddMember,
    responses(
        (status = 202, description = "The node is added as a learner; it votes once promoted"),
        Common, Conflict, TooLarge,
    ),
)]
pub async fn add(
    State(app): State<App>,
    JsonBody(body): JsonBody<AddMember>,
) -> ApiResult<StatusCode> {
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

#[utoipa::path(
    post,
    path = "/api/v1/cluster/members/{id}/promote",
    tag = "cluster",
    operation_id = "promote_cluster_member",
    params(NodePath),
    responses(
        (status = 204, description = "The learner is a voter"),
        Common, Conflict,
    ),
)]
pub async fn promote(State(app): State<App>, Ids(NodeId(id)): NodePath) -> ApiResult<StatusCode> {
    change(&app, MembershipOp::Promote { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/api/v1/cluster/members/{id}",
    tag = "cluster",
    operation_id = "remove_cluster_member",
    params(NodePath),
    responses(
        (status = 204, description = "The node is no longer a member"),
        Common, Conflict,
    ),
)]
pub async fn remove(State(app): State<App>, Ids(NodeId(id)): NodePath) -> ApiResult<StatusCode> {
    change(&app, MembershipOp::Remove { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
