//! DNS: the mappings of a route (`/networks/{nid}/routes/{rid}/dns[/{mid}]`) and every
//! record of a network (`/networks/{nid}/dns`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::dns::{network_records, DnsRecord};
use raftwire_api::requests::{CreateDnsMapping, UpdateDnsMapping};
use raftwire_api::*;
use raftwire_raft_store::Command;

use super::propose_done;
use super::{find, if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, IfMatch, MappingPath, NetworkPath, RoutePath};

/// Every record of the network's zone.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/dns",
    tag = "dns",
    operation_id = "list_dns_records",
    params(NetworkPath, ListQuery),
    responses(
        (status = 200, description = "Every record of the network's zone: peers' names and route mappings; all of them, or one page with `limit` and `after`", body = crate::http::openapi::DnsRecordList),
        Common, Missing,
    ),
)]
pub async fn records(
    Ids(nid): NetworkPath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.network(nid, |ns| {
        // A record is its name and address (a name has one record per address); the
        // cursor of the next page is `<name>/<address>`.
        page.answer(
            &network_records(&ns.view()),
            |r| format!("{}/{}", r.name, r.value),
            DnsRecord::clone,
        )
    })
    .await
}

/// The mappings of one route, in creation order.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns",
    tag = "dns",
    operation_id = "list_dns_mappings",
    params(RoutePath, ListQuery),
    responses(
        (status = 200, description = "Every DNS mapping of the route of the network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::DnsMappingList),
        Common, Missing,
    ),
)]
pub async fn list(
    Ids((nid, rid)): RoutePath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.network(nid, |ns| {
        find(ns, rid)?;
        page.answer(
            ns.dns_mappings.iter().filter(|m| m.route_id == rid),
            |m| m.id.to_string(),
            DnsMapping::clone,
        )
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns",
    tag = "dns",
    operation_id = "create_dns_mapping",
    params(RoutePath),
    request_body = CreateDnsMapping,
    responses(
        (status = 201, description = "The new DNS mapping of the route", body = DnsMapping),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    Ids((nid, rid)): RoutePath,
    JsonBody(body): JsonBody<CreateDnsMapping>,
) -> ApiResult<(StatusCode, Json<DnsMapping>)> {
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
    params(MappingPath, ReadQuery),
    responses(
        (status = 200, description = "The DNS mapping of the route", body = DnsMapping),
        Common, Missing,
    ),
)]
pub async fn get(Ids((nid, rid, mid)): MappingPath, read: Read) -> ApiResult<Json<DnsMapping>> {
    read.network(nid, |ns| {
        find(ns, rid)?;
        ns.dns_mappings
            .get(mid)
            .filter(|m| m.route_id == rid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("DNS mapping", mid))
    })
    .await
    .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/routes/{rid}/dns/{mid}",
    tag = "dns",
    operation_id = "update_dns_mapping",
    params(MappingPath, IfMatch),
    request_body = UpdateDnsMapping,
    responses(
        (status = 200, description = "The DNS mapping of the route as it now is", body = DnsMapping),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids((nid, rid, mid)): MappingPath,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateDnsMapping>,
) -> ApiResult<Json<DnsMapping>> {
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
    params(MappingPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids((nid, rid, mid)): MappingPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let cmd = Command::DeleteDnsMapping {
        network_id: nid,
        route_id: rid,
        id: mid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}
