//! `/networks/{nid}/routes[/{rid}]`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateRoute, UpdateRoute};
use raftwire_api::*;
use raftwire_raft_store::Command;

use super::{if_match, items, network_of, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_done, propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes",
    tag = "routes",
    operation_id = "list_routes",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every route of the network, in creation order", body = crate::http::openapi::RouteList),
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
    let list: Vec<Route> =
        app.with_state(|s| network_of(s, nid).map(|ns| ns.routes.iter().cloned().collect()))??;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/routes",
    tag = "routes",
    operation_id = "create_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
    ),
    request_body = CreateRoute,
    responses(
        (status = 201, description = "The new route", body = Route),
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
    JsonBody(body): JsonBody<CreateRoute>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    let spec = body.validate()?;
    let cmd = Command::CreateRoute {
        network_id: nid,
        id: RouteId(new_id()),
        at: now(),
        spec: spec.into(),
    };
    Ok((
        StatusCode::CREATED,
        Json(propose_for::<Route>(&app, cmd).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes/{rid}",
    tag = "routes",
    operation_id = "get_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The route", body = Route),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<Route>> {
    caller.require_admin()?;
    let (nid, rid): (NetworkId, RouteId) = (ids.get("nid")?, ids.get("rid")?);
    read_barrier(&app, c).await?;
    let route = app.with_state(|s| {
        network_of(s, nid)?
            .routes
            .get(rid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("route", rid))
    })??;
    Ok(Json(route))
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/routes/{rid}",
    tag = "routes",
    operation_id = "update_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdateRoute,
    responses(
        (status = 200, description = "The route as it now is", body = Route),
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
    JsonBody(body): JsonBody<UpdateRoute>,
) -> ApiResult<Json<Route>> {
    caller.require_admin()?;
    let (nid, rid): (NetworkId, RouteId) = (ids.get("nid")?, ids.get("rid")?);
    let patch = body.validate()?;
    let cmd = Command::UpdateRoute {
        network_id: nid,
        id: rid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
    };
    Ok(Json(propose_for::<Route>(&app, cmd).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/routes/{rid}",
    tag = "routes",
    operation_id = "delete_route",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
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
    let (nid, rid): (NetworkId, RouteId) = (ids.get("nid")?, ids.get("rid")?);
    let cmd = Command::DeleteRoute {
        network_id: nid,
        id: rid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}
