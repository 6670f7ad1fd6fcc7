//! `/networks/{nid}/groups[/{gid}]` and a group's members, policies and routes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateGroup, UpdateGroup};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState};
use serde::Serialize;

use super::{if_match, items, network_of, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_done, propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

/// A group as the API shows it: the group plus its members, in peer creation order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    group: Group,
    peer_ids: Vec<PeerId>,
}

fn members(ns: &NetworkState, gid: GroupId) -> Vec<PeerId> {
    ns.peers
        .iter()
        .filter(|p| p.group_ids.contains(&gid))
        .map(|p| p.id)
        .collect()
}

fn group_view(ns: &NetworkState, group: &Group) -> GroupView {
    GroupView {
        peer_ids: members(ns, group.id),
        group: group.clone(),
    }
}

/// The group after a write, with its members as this node's applied state has them.
fn with_members(app: &App, nid: NetworkId, group: Group) -> ApiResult<GroupView> {
    let peer_ids = app.with_state(|s| {
        s.network(nid)
            .map(|ns| members(ns, group.id))
            .unwrap_or_default()
    })?;
    Ok(GroupView { group, peer_ids })
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/groups",
    tag = "groups",
    operation_id = "list_groups",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every group of the network, in creation order", body = crate::http::openapi::GroupList),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    read_barrier(&app, c).await?;
    let list: Vec<GroupView> = app.with_state(|s| {
        network_of(s, nid).map(|ns| ns.groups.iter().map(|g| group_view(ns, g)).collect())
    })??;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/groups",
    tag = "groups",
    operation_id = "create_group",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
    ),
    request_body = CreateGroup,
    responses(
        (status = 201, description = "The new group", body = GroupView),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
        crate::http::openapi::TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    JsonBody(body): JsonBody<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    let spec = body.validate()?;
    let cmd = Command::CreateGroup {
        network_id: nid,
        id: GroupId(new_id()),
        at: now(),
        spec: spec.into(),
    };
    let g = propose_for::<Group>(&app, cmd).await?;
    Ok((StatusCode::CREATED, Json(with_members(&app, nid, g)?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/groups/{gid}",
    tag = "groups",
    operation_id = "get_group",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The group", body = GroupView),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<GroupView>> {
    caller.require_admin()?;
    let (nid, gid): (NetworkId, GroupId) = (ids.get("nid")?, ids.get("gid")?);
    read_barrier(&app, c).await?;
    let view = app.with_state(|s| {
        let ns = network_of(s, nid)?;
        ns.groups
            .get(gid)
            .map(|g| group_view(ns, g))
            .ok_or_else(|| ApiError::not_found("group", gid))
    })??;
    Ok(Json(view))
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/groups/{gid}",
    tag = "groups",
    operation_id = "update_group",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The group as it now is", body = GroupView),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
        crate::http::openapi::TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> ApiResult<Json<GroupView>> {
    caller.require_admin()?;
    let (nid, gid): (NetworkId, GroupId) = (ids.get("nid")?, ids.get("gid")?);
    let patch = body.validate()?;
    let cmd = Command::UpdateGroup {
        network_id: nid,
        id: gid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
    };
    let g = propose_for::<Group>(&app, cmd).await?;
    Ok(Json(with_members(&app, nid, g)?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/groups/{gid}",
    tag = "groups",
    operation_id = "delete_group",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (nid, gid): (NetworkId, GroupId) = (ids.get("nid")?, ids.get("gid")?);
    let cmd = Command::DeleteGroup {
        network_id: nid,
        id: gid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}

/// Membership and attachment changes all answer 204.
fn group_and(ids: &PathIds) -> ApiResult<(NetworkId, GroupId)> {
    Ok((ids.get("nid")?, ids.get("gid")?))
}

#[utoipa::path(
    put,
    path = "/api/v1/networks/{nid}/groups/{gid}/peers/{pid}",
    tag = "groups",
    operation_id = "add_group_member",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
    ),
    responses(
        (status = 204, description = "The peer is a member"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn add_member(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let peer_id: PeerId = ids.get("pid")?;
    propose_done(
        &app,
        Command::AddGroupMember {
            network_id,
            group_id,
            peer_id,
            at: now(),
        },
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/groups/{gid}/peers/{pid}",
    tag = "groups",
    operation_id = "remove_group_member",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
    ),
    responses(
        (status = 204, description = "The peer is no longer a member"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn remove_member(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let peer_id: PeerId = ids.get("pid")?;
    propose_done(
        &app,
        Command::RemoveGroupMember {
            network_id,
            group_id,
            peer_id,
            at: now(),
        },
    )
    .await
}

#[utoipa::path(
    put,
    path = "/api/v1/networks/{nid}/groups/{gid}/policies/{polid}",
    tag = "groups",
    operation_id = "attach_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
    ),
    responses(
        (status = 204, description = "The policy is attached"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn attach_policy(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let policy_id: PolicyId = ids.get("polid")?;
    propose_done(
        &app,
        Command::AttachPolicy {
            network_id,
            group_id,
            policy_id,
            at: now(),
        },
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/groups/{gid}/policies/{polid}",
    tag = "groups",
    operation_id = "detach_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
    ),
    responses(
        (status = 204, description = "The policy is detached"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn detach_policy(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let policy_id: PolicyId = ids.get("polid")?;
    propose_done(
        &app,
        Command::DetachPolicy {
            network_id,
            group_id,
            policy_id,
            at: now(),
        },
    )
    .await
}

#[utoipa::path(
    put,
    path = "/api/v1/networks/{nid}/groups/{gid}/routes/{rid}",
    tag = "groups",
    operation_id = "attach_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
    ),
    responses(
        (status = 204, description = "The route is attached"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn attach_route(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let route_id: RouteId = ids.get("rid")?;
    propose_done(
        &app,
        Command::AttachRoute {
            network_id,
            group_id,
            route_id,
            at: now(),
        },
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/groups/{gid}/routes/{rid}",
    tag = "groups",
    operation_id = "detach_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("gid" = GroupId, Path, description = "The group's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
    ),
    responses(
        (status = 204, description = "The route is detached"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn detach_route(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (network_id, group_id) = group_and(&ids)?;
    let route_id: RouteId = ids.get("rid")?;
    propose_done(
        &app,
        Command::DetachRoute {
            network_id,
            group_id,
            route_id,
            at: now(),
        },
    )
    .await
}
