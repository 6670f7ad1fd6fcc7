//! `/networks` and `/networks/{nid}`, `/networks/{nid}/ipam`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreateNetwork, UpdateNetwork};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkDefaults, Response};
use serde::Serialize;
use uuid::Uuid;

use super::{if_match, items, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose, read_barrier, unexpected};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

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
        spec,
        defaults: NetworkDefaults {
            group_id: GroupId(Uuid::new_v4()),
            policy_id: PolicyId(Uuid::new_v4()),
            rule_ids: [RuleId(Uuid::new_v4()), RuleId(Uuid::new_v4())],
        },
    };
    match propose(&app, cmd).await? {
        Response::Network(n) => Ok((StatusCode::CREATED, Json(n))),
        other => Err(unexpected(other)),
    }
}

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
        patch,
        new_rule_ids: [new_id(), new_id()].map(RuleId),
    };
    match propose(&app, cmd).await? {
        Response::Network(n) => Ok(Json(n)),
        other => Err(unexpected(other)),
    }
}

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
    propose(&app, cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct Usage {
    cidr: String,
    capacity: String,
    allocated: String,
    available: String,
}

#[derive(Serialize)]
pub struct Allocation {
    peer_id: PeerId,
    family: IpFamily,
    address: std::net::IpAddr,
}

#[derive(Serialize)]
pub struct Ipam {
    ipv4: Option<Usage>,
    ipv6: Option<Usage>,
    allocations: Vec<Allocation>,
}

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
