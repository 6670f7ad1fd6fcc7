//! Request extractors: JSON bodies that fail as problem+json (400 with the offending field,
//! 413 over the 1 MiB limit), and the caller's identity from its bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use raftwire_api::{DomainError, ErrorCode, NetworkId, PeerId};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::App;
use crate::secrets::{constant_time_eq, hash_token};

/// Maximum request body: larger ones are 413 on every route.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body. Unknown fields, wrong types and malformed JSON are 400 `malformed_body` with
/// the JSON path of the problem in `field`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "request bodies are limited to 1 MiB",
                )
            } else {
                ApiError::new(ErrorCode::MalformedBody, r.body_text())
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let msg = inner.to_string();
                // At the top level the path is "."; name the unknown field itself then.
                let field = match msg
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split('`').next())
                {
                    Some(name) if path == "." => name.to_string(),
                    _ => path,
                };
                let mut err = DomainError::new(ErrorCode::MalformedBody, msg);
                if field != "." {
                    err.field = Some(field);
                }
                ApiError::from(err)
            })
    }
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    /// An agent token: may reach only its own peer's configuration and socket.
    Agent {
        network_id: NetworkId,
        peer_id: PeerId,
    },
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Agent { .. } => Err(ApiError::forbidden("an agent token cannot do this")),
        }
    }

    /// Admins, or the agent of exactly this peer.
    pub fn require_peer(&self, peer: PeerId) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Agent { peer_id, .. } if *peer_id == peer => Ok(()),
            Caller::Agent { .. } => Err(ApiError::forbidden(
                "this agent token belongs to another peer",
            )),
        }
    }
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let arrived = std::time::Instant::now();
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let hash = hash_token(token);
        if app.admin_pending.load(std::sync::atomic::Ordering::Acquire)
            && constant_time_eq(&hash, &app.local_admin_hash)
        {
            return Ok(Caller::Admin);
        }
        if let Some(caller) = lookup(app, &hash)? {
            return Ok(caller);
        }
        // A token created a moment ago through another node may not be applied here yet:
        // catch up with the leader before refusing it (bounded: `token_catch_up`).
        if app.token_catch_up.recently_refused(&hash) {
            return Err(ApiError::unauthorized());
        }
        if app.token_catch_up.catch_up(app, arrived).await {
            if let Some(caller) = lookup(app, &hash)? {
                return Ok(caller);
            }
            app.token_catch_up.refuse(&hash);
        }
        Err(ApiError::unauthorized())
    }
}

fn lookup(app: &App, hash: &str) -> Result<Option<Caller>, ApiError> {
    app.with_state(|s| {
        if s.admin_token_by_hash(hash).is_some() {
            return Some(Caller::Admin);
        }
        s.peer_by_agent_token_hash(hash).map(|p| Caller::Agent {
            network_id: p.network_id,
            peer_id: p.id,
        })
    })
}
