//! `/networks` and `/networks/{nid}`, `/networks/{nid}/ipam`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::requests::{CreateNetwork, UpdateNetwork};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkDefaults};
use serde::Serialize;
use uuid::Uuid;

use super::dry_run::{answer, DryRun, DryRunQuery, NetworkOrPlan};
use super::propose_done;
use super::{if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, IfMatch, NetworkPath};

#[utoipa::path(
    get,
    path = "/api/v1/networks",
    tag = "networks",
    operation_id = "list_networks",
    params(ListQuery),
    responses(
        (status = 200, description = "Every network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::NetworkList),
        Common,
    ),
)]
pub async fn list(List { read, page }: List) -> ApiResult<Json<serde_json::Value>> {
    read.state(|s| {
        page.answer(
            s.networks(),
            |n| n.network.id.to_string(),
            |n| n.network.clone(),
        )
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks",
    tag = "networks",
    operation_id = "create_network",
    request_body = CreateNetwork,
    responses(
        (status = 201, description = "The new network", body = Network),
        Common, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    JsonBody(body): JsonBody<CreateNetwork>,
) -> ApiResult<(StatusCode, Json<Network>)> {
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
    params(NetworkPath, ReadQuery),
    responses(
        (status = 200, description = "The network", body = Network),
        Common, Missing,
    ),
)]
pub async fn get(Ids(nid): NetworkPath, read: Read) -> ApiResult<Json<Network>> {
    read.network(nid, |ns| Ok(ns.network.clone()))
        .await
        .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}",
    tag = "networks",
    operation_id = "update_network",
    params(NetworkPath, IfMatch, DryRunQuery),
    request_body = UpdateNetwork,
    responses(
        (status = 200, description = "The network as it now is; with `dry_run=true`, the plan of the change (nothing written)", body = NetworkOrPlan),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    DryRun(dry_run): DryRun,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdateNetwork>,
) -> ApiResult<HttpResponse> {
    let patch = body.validate()?;
    let cmd = Command::UpdateNetwork {
        id: nid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
        new_rule_ids: [new_id(), new_id()].map(RuleId),
    };
    if dry_run {
        return answer(&app, cmd).await;
    }
    Ok(Json(propose_for::<Network>(&app, cmd).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}",
    tag = "networks",
    operation_id = "delete_network",
    params(NetworkPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
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
    params(NetworkPath, ReadQuery),
    responses(
        (status = 200, description = "Address pool usage per family and every allocation", body = Ipam),
        Common, Missing,
    ),
)]
pub async fn ipam(Ids(nid): NetworkPath, read: Read) -> ApiResult<Json<Ipam>> {
    read.network(nid, |ns| {
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
        Ok(Ipam {
            ipv4: usage(IpFamily::Ipv4),
            ipv6: usage(IpFamily::Ipv6),
            allocations,
        })
    })
    .await
    .map(Json)
}
