//! `/networks/{nid}/policies[/{polid}]` and `/policies/{polid}/rules[/{rule_id}]`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use raftwire_api::requests::{CreatePolicy, CreateRule, RuleSpec, UpdatePolicy};
use raftwire_api::*;
use raftwire_raft_store::Command;

use super::propose_done;
use super::{if_match, items, network_of, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};

/// Rules with fresh ids, in the order given.
fn with_ids(specs: Vec<RuleSpec>) -> Vec<Rule> {
    specs
        .into_iter()
        .map(|r| r.into_rule(RuleId(new_id())))
        .collect()
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/policies",
    tag = "policies",
    operation_id = "list_policies",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every policie of the network, in creation order", body = crate::http::openapi::PolicyList),
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
    let list: Vec<Policy> =
        app.with_state(|s| network_of(s, nid).map(|ns| ns.policies.iter().cloned().collect()))??;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/policies",
    tag = "policies",
    operation_id = "create_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
    ),
    request_body = CreatePolicy,
    responses(
        (status = 201, description = "The new policie", body = Policy),
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
    JsonBody(body): JsonBody<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    let spec = body.validate()?;
    let cmd = Command::CreatePolicy {
        network_id: nid,
        id: PolicyId(new_id()),
        at: now(),
        name: spec.name,
        description: spec.description,
        rules: with_ids(spec.rules),
    };
    Ok((
        StatusCode::CREATED,
        Json(propose_for::<Policy>(&app, cmd).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "get_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The policie", body = Policy),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<Policy>> {
    caller.require_admin()?;
    let (nid, polid): (NetworkId, PolicyId) = (ids.get("nid")?, ids.get("polid")?);
    read_barrier(&app, c).await?;
    let policy = app.with_state(|s| {
        network_of(s, nid)?
            .policies
            .get(polid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("policy", polid))
    })??;
    Ok(Json(policy))
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "update_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdatePolicy,
    responses(
        (status = 200, description = "The policie as it now is", body = Policy),
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
    JsonBody(body): JsonBody<UpdatePolicy>,
) -> ApiResult<Json<Policy>> {
    caller.require_admin()?;
    let (nid, polid): (NetworkId, PolicyId) = (ids.get("nid")?, ids.get("polid")?);
    let patch = body.validate()?;
    let cmd = Command::UpdatePolicy {
        network_id: nid,
        id: polid,
        at: now(),
        if_match: if_match(&headers)?,
        name: patch.name,
        description: patch.description,
        rules: patch.rules.map(with_ids),
    };
    Ok(Json(propose_for::<Policy>(&app, cmd).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "delete_policy",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
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
    let (nid, polid): (NetworkId, PolicyId) = (ids.get("nid")?, ids.get("polid")?);
    let cmd = Command::DeletePolicy {
        network_id: nid,
        id: polid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}

/// Appends a rule; answers 201 with the policy as it now is.
#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/policies/{polid}/rules",
    tag = "policies",
    operation_id = "add_policy_rule",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
    ),
    request_body = CreateRule,
    responses(
        (status = 201, description = "The rule is appended; the policy as it now is", body = Policy),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
        crate::http::openapi::TooLarge,
    ),
)]
pub async fn add_rule(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    JsonBody(body): JsonBody<CreateRule>,
) -> ApiResult<(StatusCode, Json<Policy>)> {
    caller.require_admin()?;
    let (nid, polid): (NetworkId, PolicyId) = (ids.get("nid")?, ids.get("polid")?);
    let rule = body.validate()?.into_rule(RuleId(new_id()));
    let cmd = Command::AddRule {
        network_id: nid,
        policy_id: polid,
        at: now(),
        rule,
    };
    Ok((
        StatusCode::CREATED,
        Json(propose_for::<Policy>(&app, cmd).await?),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/policies/{polid}/rules/{rule_id}",
    tag = "policies",
    operation_id = "remove_policy_rule",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("polid" = PolicyId, Path, description = "The policy's id"),
        ("rule_id" = RuleId, Path, description = "The rule's id"),
    ),
    responses(
        (status = 204, description = "The rule is removed"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
pub async fn remove_rule(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let (nid, polid): (NetworkId, PolicyId) = (ids.get("nid")?, ids.get("polid")?);
    let rule_id: RuleId = ids.get("rule_id")?;
    let cmd = Command::RemoveRule {
        network_id: nid,
        policy_id: polid,
        rule_id,
        at: now(),
    };
    propose_done(&app, cmd).await
}
