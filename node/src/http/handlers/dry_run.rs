//! `?dry_run=true` on the changes worth previewing (network, peer and policy updates):
//! the plan of what the change would do, and nothing written.
//!
//! The handler builds the very command it would propose and hands it here instead: after
//! the same linearizable read barrier the API's reads use (so any node answers with what
//! the cluster has committed), the state machine's own apply runs on a copy of the state
//! (`raftwire_raft_store::dry_run`). A change the real write would refuse is refused with
//! the same error and status; one it would accept is answered with the object as it would
//! be and, per network, the addresses added, renumbered and released per peer, the static
//! peers that would need their config downloaded again and the agents that would be sent a
//! new one.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::plan::NetworkPlan;
use raftwire_raft_store::{Command, Response};
use serde::{Deserialize, Serialize};

use super::{query_rejection, read};
use crate::app::App;
use crate::consensus::Consistency;
use crate::http::error::{ApiError, ApiResult};

/// `?dry_run=true|false` (default false).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    /// `true`: answer the plan of the change (200, a `Plan`) and write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Whether the request asks for a dry run; a value that is no boolean is 400
/// `invalid_value` with `field` = `dry_run`.
pub struct DryRun(pub bool);

impl FromRequestParts<App> for DryRun {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        Query::<DryRunQuery>::from_request_parts(parts, app)
            .await
            .map(|Query(q)| DryRun(q.dry_run))
            .map_err(|r| query_rejection(r, "dry_run"))
    }
}

/// The answer of a dry run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// Always `true`: nothing was written.
    pub dry_run: bool,
    /// The object as the real change would answer it.
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
    /// What the change does to each network it touches.
    pub networks: Vec<NetworkPlan>,
}

fn result_json(r: &Response) -> serde_json::Value {
    let v = match r {
        Response::Network(n) => serde_json::to_value(n),
        Response::Peer(p) => serde_json::to_value(p),
        Response::Group(g) => serde_json::to_value(g),
        Response::Policy(p) => serde_json::to_value(p),
        Response::Route(r) => serde_json::to_value(r),
        Response::DnsMapping(m) => serde_json::to_value(m),
        // Never shown: an admin token's answer carries its hash.
        // A dry run is of one request's command, never of a batch.
        Response::AdminToken(_) | Response::Deleted | Response::Done | Response::Batch(_) => {
            Ok(serde_json::Value::Null)
        }
    };
    v.unwrap_or(serde_json::Value::Null)
}

/// The plan of `cmd` on the state as the cluster has committed it.
pub async fn plan(app: &App, cmd: Command) -> ApiResult<Plan> {
    read(app, Consistency::Linearizable, |s| {
        let run = raftwire_raft_store::dry_run(s, cmd)?;
        Ok(Plan {
            dry_run: true,
            result: result_json(&run.response),
            networks: run.networks,
        })
    })
    .await
}

/// [`plan`] as the HTTP answer.
pub async fn answer(app: &App, cmd: Command) -> ApiResult<HttpResponse> {
    Ok(Json(plan(app, cmd).await?).into_response())
}

/// The documented answer of a write that takes `?dry_run=`: the object as written, or the
/// plan (only for the OpenAPI document; handlers answer one or the other).
macro_rules! or_plan {
    ($($name:ident => $t:ty;)*) => {$(
        #[derive(Serialize, utoipa::ToSchema)]
        #[serde(untagged)]
        #[allow(dead_code)]
        pub enum $name {
            Written($t),
            Plan(Plan),
        }
    )*};
}

or_plan! {
    NetworkOrPlan => raftwire_api::Network;
    PeerOrPlan => raftwire_api::Peer;
    PolicyOrPlan => raftwire_api::PolicyView;
}
