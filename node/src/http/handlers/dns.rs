//! DNS: the mappings of a route (`/networks/{nid}/routes/{rid}/dns[/{mid}]`) and every
//! record of a network (`/networks/{nid}/dns`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::dns::{network_records, DnsRecord};
use raftwire_api::requests::{CreateDnsMapping, UpdateDnsMapping};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState};

use super::{if_match, items, network_of, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_done, propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

fn route_of(ns: &NetworkState, rid: RouteId) -> ApiResult<&Route> {
    ns.routes
        .get(rid)
        .ok_or_else(|| ApiError::not_found("route", rid))
}

/// The path's network, route and mapping ids.
fn mapping_ids(ids: &PathIds) -> ApiResult<(NetworkId, RouteId, DnsMappingId)> {
    Ok((ids.get("nid")?, ids.get("rid")?, ids.get("mid")?))
}

/// Every record of the network's zone.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/dns",
    tag = "dns",
    operation_id = "list_dns_records",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every record of the network's zone: peers' names and route mappings", body = crate::http::openapi::DnsRecordList),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn records(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    read_barrier(&app, c).await?;
    let list: Vec<DnsRecord> =
        app.with_state(|s| network_of(s, nid).map(|ns| network_records(&ns.view())))??;
    Ok(items(list))
}

/// The mappings of one route, in creation order.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns",
    tag = "dns",
    operation_id = "list_dns_mappings",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every DNS mapping of the route of the network, in creation order", body = crate::http::openapi::DnsMappingList),
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
    let (nid, rid): (NetworkId, RouteId) = (ids.get("nid")?, ids.get("rid")?);
    read_barrier(&app, c).await?;
    let list: Vec<DnsMapping> = app.with_state(|s| {
        let ns = network_of(s, nid)?;
        route_of(ns, rid)?;
        Ok::<_, ApiError>(
            ns.dns_mappings
                .iter()
                .filter(|m| m.route_id == rid)
                .cloned()
                .collect(),
        )
    })??;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns",
    tag = "dns",
    operation_id = "create_dns_mapping",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
    ),
    request_body = CreateDnsMapping,
    responses(
        (status = 201, description = "The new DNS mapping of the route", body = DnsMapping),
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
    JsonBody(body): JsonBody<CreateDnsMapping>,
) -> ApiResult<(StatusCode, Json<DnsMapping>)> {
    caller.require_admin()?;
    let (nid, rid): (NetworkId, RouteId) = (ids.get("nid")?, ids.get("rid")?);
    let spec = body.validate()?;
    let cmd = Command::CreateDnsMapping {
        network_id: nid,
        route_id: rid,
        id: DnsMappingId(new_id()),
        at: now(),
        spec: spec.into(),
    };
    Ok((
        StatusCode::CREATED,
        Json(propose_for::<DnsMapping>(&app, cmd).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns/{mid}",
    tag = "dns",
    operation_id = "get_dns_mapping",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        ("mid" = DnsMappingId, Path, description = "The DNS mapping's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The DNS mapping of the route", body = DnsMapping),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<DnsMapping>> {
    caller.require_admin()?;
    let (nid, rid, mid) = mapping_ids(&ids)?;
    read_barrier(&app, c).await?;
    let mapping = app.with_state(|s| {
        let ns = network_of(s, nid)?;
        route_of(ns, rid)?;
        ns.dns_mappings
            .get(mid)
            .filter(|m| m.route_id == rid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("DNS mapping", mid))
    })??;
    Ok(Json(mapping))
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns/{mid}",
    tag = "dns",
    operation_id = "update_dns_mapping",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        ("mid" = DnsMappingId, Path, description = "The DNS mapping's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdateDnsMapping,
    responses(
        (status = 200, description = "The DNS mapping of the route as it now is", body = DnsMapping),
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
    JsonBody(body): JsonBody<UpdateDnsMapping>,
) -> ApiResult<Json<DnsMapping>> {
    caller.require_admin()?;
    let (nid, rid, mid) = mapping_ids(&ids)?;
    let patch = body.validate()?;
    let cmd = Command::UpdateDnsMapping {
        network_id: nid,
        route_id: rid,
        id: mid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
    };
    Ok(Json(propose_for::<DnsMapping>(&app, cmd).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns/{mid}",
    tag = "dns",
    operation_id = "delete_dns_mapping",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("rid" = RouteId, Path, description = "The route's id"),
        ("mid" = DnsMappingId, Path, description = "The DNS mapping's id"),
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
    let (nid, rid, mid) = mapping_ids(&ids)?;
    let cmd = Command::DeleteDnsMapping {
        network_id: nid,
        route_id: rid,
        id: mid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}
