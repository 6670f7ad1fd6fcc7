//! `/networks/{nid}/policies[/{polid}]` and `/policies/{polid}/rules[/{rule_id}]`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::requests::{CreatePolicy, CreateRule, RuleSpec, UpdatePolicy};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState};

use super::dry_run::{answer, DryRun, DryRunQuery, PolicyOrPlan};
use super::propose_done;
use super::{find, if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::ApiResult;
use crate::http::extract::JsonBody;
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, IfMatch, NetworkPath, PolicyPath, RulePath};

/// The policy as the API shows it in `ns`: each rule says whether it is active.
fn view(ns: &NetworkState, policy: &Policy) -> PolicyView {
    PolicyView::new(policy, ns.network.ip_stack_mode)
}

/// The policy after a write, its rules' `active` flags from the network's mode as this
/// node's applied state has it.
fn written(app: &App, nid: NetworkId, policy: Policy) -> ApiResult<PolicyView> {
    let mode = app.with_state(|s| s.network(nid).map(|ns| ns.network.ip_stack_mode))?;
    // The network may be gone already (deleted right after): its mode no longer matters.
    let mode = mode.unwrap_or(IpStackMode::Dual);
    Ok(PolicyView::new(&policy, mode))
}

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
    params(NetworkPath, ListQuery),
    responses(
        (status = 200, description = "Every policy of the network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::PolicyList),
        Common, Missing,
    ),
)]
pub async fn list(
    Ids(nid): NetworkPath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.network(nid, |ns| {
        page.answer(ns.policies.iter(), |p| p.id.to_string(), |p| view(ns, p))
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/policies",
    tag = "policies",
    operation_id = "create_policy",
    params(NetworkPath),
    request_body = CreatePolicy,
    responses(
        (status = 201, description = "The new policy", body = PolicyView),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    JsonBody(body): JsonBody<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let spec = body.validate()?;
    let cmd = Command::CreatePolicy {
        network_id: nid,
        id: PolicyId(new_id()),
        at: now(),
        name: spec.name,
        description: spec.description,
        rules: with_ids(spec.rules),
    };
    let policy = propose_for::<Policy>(&app, cmd).await?;
    Ok((StatusCode::CREATED, Json(written(&app, nid, policy)?)))
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "get_policy",
    params(PolicyPath, ReadQuery),
    responses(
        (status = 200, description = "The policy", body = PolicyView),
        Common, Missing,
    ),
)]
pub async fn get(Ids((nid, polid)): PolicyPath, read: Read) -> ApiResult<Json<PolicyView>> {
    read.network(nid, |ns| Ok(view(ns, find(ns, polid)?)))
        .await
        .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "update_policy",
    params(PolicyPath, IfMatch, DryRunQuery),
    request_body = UpdatePolicy,
    responses(
        (status = 200, description = "The policy as it now is; with `dry_run=true`, the plan of the change (nothing written)", body = PolicyOrPlan),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids((nid, polid)): PolicyPath,
    DryRun(dry_run): DryRun,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdatePolicy>,
) -> ApiResult<HttpResponse> {
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
    if dry_run {
        return answer(&app, cmd).await;
    }
    let policy = propose_for::<Policy>(&app, cmd).await?;
    Ok(Json(written(&app, nid, policy)?).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/policies/{polid}",
    tag = "policies",
    operation_id = "delete_policy",
    params(PolicyPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids((nid, polid)): PolicyPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
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
    params(PolicyPath),
    request_body = CreateRule,
    responses(
        (status = 201, description = "The rule is appended; the policy as it now is", body = PolicyView),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn add_rule(
    State(app): State<App>,
    Ids((nid, polid)): PolicyPath,
    JsonBody(body): JsonBody<CreateRule>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let rule = body.validate()?.into_rule(RuleId(new_id()));
    let cmd = Command::AddRule {
        network_id: nid,
        policy_id: polid,
        at: now(),
        rule,
    };
    let policy = propose_for::<Policy>(&app, cmd).await?;
    Ok((StatusCode::CREATED, Json(written(&app, nid, policy)?)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/policies/{polid}/rules/{rule_id}",
    tag = "policies",
    operation_id = "remove_policy_rule",
    params(RulePath),
    responses(
        (status = 204, description = "The rule is removed"),
        Common, Missing, Conflict,
    ),
)]
pub async fn remove_rule(
    State(app): State<App>,
    Ids((nid, polid, rule_id)): RulePath,
) -> ApiResult<StatusCode> {
    let cmd = Command::RemoveRule {
        network_id: nid,
        policy_id: polid,
        rule_id,
        at: now(),
    };
    propose_done(&app, cmd).await
}
