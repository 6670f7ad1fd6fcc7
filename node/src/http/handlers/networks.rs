//! `/networks` and `/networks/{nid}`, `/networks/{nid}/ipam`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateNetwork, UpdateNetwork};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkDefaults};
use serde::Serialize;
use uuid::Uuid;

use super::{if_match, items, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_done, propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

#[utoipa::path(
    get,
    path = "/api/v1/networks",
    tag = "networks",
    operation_id = "list_networks",
    params(
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every network, in creation order", body = crate::http::openapi::NetworkList),
        crate::http::openapi::Common,
    ),
)]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Read(c): Read,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    read_barrier(&app, c).await?;
    let list: Vec<Network> =
        app.with_state(|s| s.networks().map(|n| n.network.clone()).collect())?;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks",
    tag = "networks",
    operation_id = "create_network",
    request_body = CreateNetwork,
    responses(
        (status = 201, description = "The new network", body = Network),
        crate::http::openapi::Common,
        crate::http::openapi::Conflict,
        crate::http::openapi::TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateNetwork>,
) -> ApiResult<(StatusCode, Json<Network>)> {
    caller.require_admin()?;
    let spec = body.validate()?;
    let cmd = Command::CreateNetwork {
        id: NetworkId(Uuid::new_v4()),
        at: now(),
        spec: spec.into(),
        defaults: NetworkDefaults {
            group_id: GroupId(Uuid::new_v4()),
            policy_id: PolicyId(Uuid::new_v4()),
            rule_ids: [RuleId(Uuid::new_v4()), RuleId(Uuid::new_v4())],
        },
    };
    Ok((
        StatusCode::CREATED,
        Json(propose_for::<Network>(&app, cmd).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}",
    tag = "networks",
    operation_id = "get_network",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The network", body = Network),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<Network>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    read_barrier(&app, c).await?;
    app.with_state(|s| s.network(nid).map(|n| n.network.clone()))?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("network", nid))
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}",
    tag = "networks",
    operation_id = "update_network",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdateNetwork,
    responses(
        (status = 200, description = "The network as it now is", body = Network),
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
    JsonBody(body): JsonBody<UpdateNetwork>,
) -> ApiResult<Json<Network>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    let patch = body.validate()?;
    let cmd = Command::UpdateNetwork {
        id: nid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
        new_rule_ids: [new_id(), new_id()].map(RuleId),
    };
    Ok(Json(propose_for::<Network>(&app, cmd).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}",
    tag = "networks",
    operation_id = "delete_network",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
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
    let nid: NetworkId = ids.get("nid")?;
    let cmd = Command::DeleteNetwork {
        id: nid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    description = "A family's address pool; counts are decimal strings (a /64 exceeds JSON's safe integers)"
)]
pub struct Usage {
    cidr: String,
    capacity: String,
    allocated: String,
    available: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Allocation {
    peer_id: PeerId,
    family: IpFamily,
    #[schema(value_type = String)]
    address: std::net::IpAddr,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ipam {
    ipv4: Option<Usage>,
    ipv6: Option<Usage>,
    allocations: Vec<Allocation>,
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/ipam",
    tag = "networks",
    operation_id = "get_network_ipam",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Address pool usage per family and every allocation", body = Ipam),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn ipam(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<Ipam>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    read_barrier(&app, c).await?;
    app.with_state(|s| {
        let ns = s.network(nid)?;
        let usage = |f: IpFamily| {
            ns.pools.get(f).map(|p| Usage {
                cidr: p.prefix().to_string(),
                capacity: p.capacity().to_string(),
                allocated: p.allocated().to_string(),
                available: p.available().to_string(),
            })
        };
        let allocations = ns
            .peers
            .iter()
            .flat_map(|p| {
                p.addresses().into_iter().map(move |a| Allocation {
                    peer_id: p.id,
                    family: IpFamily::of_addr(&a),
                    address: a,
                })
            })
            .collect();
        Some(Ipam {
            ipv4: usage(IpFamily::Ipv4),
            ipv6: usage(IpFamily::Ipv6),
            allocations,
        })
    })?
    .map(Json)
    .ok_or_else(|| ApiError::not_found("network", nid))
}
