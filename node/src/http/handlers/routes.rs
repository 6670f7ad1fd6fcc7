//! `/networks/{nid}/routes[/{rid}]`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateRoute, UpdateRoute};
use raftwire_api::*;
use raftwire_raft_store::Command;

use super::propose_done;
use super::{find, if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, IfMatch, NetworkPath, RoutePath};

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes",
    tag = "routes",
    operation_id = "list_routes",
    params(NetworkPath, ListQuery),
    responses(
        (status = 200, description = "Every route of the network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::RouteList),
        Common, Missing,
    ),
)]
pub async fn list(
    Ids(nid): NetworkPath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.network(nid, |ns| {
        page.answer(ns.routes.iter(), |r| r.id.to_string(), Route::clone)
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/routes",
    tag = "routes",
    operation_id = "create_route",
    params(NetworkPath),
    request_body = CreateRoute,
    responses(
        (status = 201, description = "The new route", body = Route),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    JsonBody(body): JsonBody<CreateRoute>,
) -> ApiResult<(StatusCode, Json<Route>)> {
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
    params(RoutePath, ReadQuery),
    responses(
        (status = 200, description = "The route", body = Route),
        Common, Missing,
    ),
)]
pub async fn get(Ids((nid, rid)): RoutePath, read: Read) -> ApiResult<Json<Route>> {
    read.network(nid, |ns| find(ns, rid).cloned())
        .await
        .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/routes/{rid}",
    tag = "routes",
    operation_id = "update_route",
    params(RoutePath, IfMatch),
    request_body = UpdateRoute,
    responses(
        (status = 200, description = "The route as it now is", body = Route),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids((nid, rid)): RoutePath,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateRoute>,
) -> ApiResult<Json<Route>> {
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
    params(RoutePath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids((nid, rid)): RoutePath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let cmd = Command::DeleteRoute {
        network_id: nid,
        id: rid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}
