//! HTTP handlers, one file per entity. Shared helpers live here.

pub mod agent;
pub mod cluster;
pub mod dns;
pub mod groups;
pub mod health;
pub mod networks;
pub mod peers;
pub mod policies;
pub mod routes;
pub mod snapshot;
pub mod tokens;

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::Json;
use raftwire_api::{DomainError, ErrorCode, NetworkId, Timestamp};
use raftwire_raft_store::{NetworkState, State as RwState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::error::ApiError;

use crate::consensus::Consistency;
use crate::http::error::ApiResult;

/// `?consistency=local|linearizable` on reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    #[serde(default)]
    #[param(inline)]
    pub consistency: Consistency,
}

/// The path parameters of a request, parsed on demand. A value that does not parse is a 400
/// `invalid_value` whose `field` is the parameter's name (`nid`, `pid`, …).
pub struct PathIds(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::new(ErrorCode::InvalidValue, r.body_text()))?;
        Ok(PathIds(
            raw.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }
}

impl PathIds {
    /// The parameter `name` parsed as `T` (one of the typed ids, or a `Uuid`).
    pub fn get<T: FromStr>(&self, name: &str) -> ApiResult<T> {
        let raw = self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                ApiError::internal(format!("the route has no path parameter '{name}'"))
            })?;
        raw.parse().map_err(|_| {
            let shown: String = raw.chars().take(64).collect();
            DomainError::field(
                ErrorCode::InvalidValue,
                name,
                format!("'{shown}' is not a valid id"),
            )
            .into()
        })
    }
}

/// `?consistency=…` as problem+json on bad input (400 `invalid_value`, `field` = the
/// offending parameter).
pub struct Read(pub Consistency);

impl<S: Send + Sync> FromRequestParts<S> for Read {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<ReadQuery>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Read(q.consistency)),
            Err(r) => {
                let msg = r.body_text();
                let field = msg
                    .split_once("unknown field `")
                    .and_then(|(_, rest)| rest.split('`').next())
                    .unwrap_or("consistency")
                    .to_string();
                Err(DomainError::field(ErrorCode::InvalidValue, field, msg).into())
            }
        }
    }
}

/// The network `nid` of the state, or a 404.
pub(super) fn network_of(s: &RwState, nid: NetworkId) -> ApiResult<&NetworkState> {
    s.network(nid)
        .ok_or_else(|| ApiError::not_found("network", nid))
}

/// The wall clock, read here (at the edge) and carried into commands.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp(ms)
}

pub fn new_id() -> Uuid {
    Uuid::new_v4()
}

/// `If-Match: <version>` (quotes allowed, as for an ETag).
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            DomainError::field(
                ErrorCode::InvalidValue,
                "If-Match",
                "If-Match must be the object's version number",
            )
            .into()
        })
}

/// Every list endpoint answers `{"items": [...]}` (fields keep their declared order:
/// serde_json's `preserve_order`).
pub fn items<T: Serialize>(list: Vec<T>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "items": list }))
}

/// [`crate::consensus::propose`] for a deletion, membership or attachment change:
/// `204 No Content`.
pub async fn propose_done(
    app: &crate::app::App,
    cmd: raftwire_raft_store::Command,
) -> ApiResult<axum::http::StatusCode> {
    crate::consensus::propose(app, cmd).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A retried secret-minting write: its secret was shown once, by the first write.
pub fn replayed_secret() -> ApiError {
    ApiError::new(
        ErrorCode::InUse,
        "this write already happened under this Idempotency-Key; its secret was shown only \
         once, by the first answer (rotate it if it was lost)",
    )
}
