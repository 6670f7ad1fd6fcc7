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
pub mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::Json;
use raftwire_api::{DomainError, ErrorCode, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::consensus::Consistency;
use crate::http::error::ApiResult;

/// `?consistency=local|linearizable` on reads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default)]
    pub consistency: Consistency,
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
