//! `/networks/{nid}/groups[/{gid}]` and a group's members, policies and routes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateGroup, UpdateGroup};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState};
use serde::Serialize;

use super::propose_done;
use super::{find, if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{
    GroupPath, GroupPolicyPath, GroupRoutePath, Ids, IfMatch, MemberPath, NetworkPath,
};

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
    params(NetworkPath, ListQuery),
    responses(
        (status = 200, description = "Every group of the network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::GroupList),
        Common, Missing,
    ),
)]
pub async fn list(
    Ids(nid): NetworkPath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.network(nid, |ns| {
        page.answer(
            ns.groups.iter(),
            |g| g.id.to_string(),
            |g| group_view(ns, g),
        )
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/groups",
    tag = "groups",
    operation_id = "create_group",
    params(NetworkPath),
    request_body = CreateGroup,
    responses(
        (status = 201, description = "The new group", body = GroupView),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    JsonBody(body): JsonBody<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
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
    params(GroupPath, ReadQuery),
    responses(
        (status = 200, description = "The group", body = GroupView),
        Common, Missing,
    ),
)]
pub async fn get(Ids((nid, gid)): GroupPath, read: Read) -> ApiResult<Json<GroupView>> {
    read.network(nid, |ns| Ok(group_view(ns, find(ns, gid)?)))
        .await
        .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/groups/{gid}",
    tag = "groups",
    operation_id = "update_group",
    params(GroupPath, IfMatch),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The group as it now is", body = GroupView),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids((nid, gid)): GroupPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> ApiResult<Json<GroupView>> {
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
    params(GroupPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids((nid, gid)): GroupPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let cmd = Command::DeleteGroup {
        network_id: nid,
        id: gid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}

#[utoipa::path(
    put,
    path = "/api/v1/networks/{nid}/groups/{gid}/peers/{pid}",
    tag = "groups",
    operation_id = "add_group_member",
    params(MemberPath),
    responses(
        (status = 204, description = "The peer is a member"),
        Common, Missing, Conflict,
    ),
)]
pub async fn add_member(
    State(app): State<App>,
    Ids((network_id, group_id, peer_id)): MemberPath,
) -> ApiResult<StatusCode> {
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
    params(MemberPath),
    responses(
        (status = 204, description = "The peer is no longer a member"),
        Common, Missing, Conflict,
    ),
)]
pub async fn remove_member(
    State(app): State<App>,
    Ids((network_id, group_id, peer_id)): MemberPath,
) -> ApiResult<StatusCode> {
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
    params(GroupPolicyPath),
    responses(
        (status = 204, description = "The policy is attached"),
        Common, Missing, Conflict,
    ),
)]
pub async fn attach_policy(
    State(app): State<App>,
    Ids((network_id, group_id, policy_id)): GroupPolicyPath,
) -> ApiResult<StatusCode> {
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
    params(GroupPolicyPath),
    responses(
        (status = 204, description = "The policy is detached"),
        Common, Missing, Conflict,
    ),
)]
pub async fn detach_policy(
    State(app): State<App>,
    Ids((network_id, group_id, policy_id)): GroupPolicyPath,
) -> ApiResult<StatusCode> {
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
    params(GroupRoutePath),
    responses(
        (status = 204, description = "The route is attached"),
        Common, Missing, Conflict,
    ),
)]
pub async fn attach_route(
    State(app): State<App>,
    Ids((network_id, group_id, route_id)): GroupRoutePath,
) -> ApiResult<StatusCode> {
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
    params(GroupRoutePath),
    responses(
        (status = 204, description = "The route is detached"),
        Common, Missing, Conflict,
    ),
)]
pub async fn detach_route(
    State(app): State<App>,
    Ids((network_id, group_id, route_id)): GroupRoutePath,
) -> ApiResult<StatusCode> {
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
