//! `/networks/{nid}/peers[/{pid}]`, the peer's wg-quick config, agent-token rotation and the
//! jump firewall. Also the path/query extractors the per-network handlers share, which answer
//! bad input with problem+json instead of axum's plain-text rejections.

use std::str::FromStr;

use axum::extract::{FromRequestParts, Query, RawPathParams, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::firewall::{jump_firewall, JumpFirewall};
use raftwire_api::requests::{CreatePeer, UpdatePeer};
use raftwire_api::wireguard::{peer_config, render_wg_quick};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState, PeerSecretsInput, Response, State as RwState};
use serde::Serialize;

use super::{if_match, items, new_id, now, ReadQuery};
use crate::app::App;
use crate::consensus::{propose, read_barrier, unexpected, Consistency};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};
use crate::secrets::{hash_token, new_token, wireguard_keypair};

// ---------------------------------------------------------------- shared extractors

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

fn peer_of(ns: &NetworkState, pid: PeerId) -> ApiResult<&Peer> {
    ns.peers
        .get(pid)
        .ok_or_else(|| ApiError::not_found("peer", pid))
}

// ---------------------------------------------------------------- peers

/// The 201 body of a peer creation: the peer, plus its agent token (shown only here).
#[derive(Serialize)]
pub struct PeerCreated {
    #[serde(flatten)]
    peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_token: Option<String>,
}

#[derive(Serialize)]
pub struct AgentToken {
    agent_token: String,
}

pub async fn list(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    read_barrier(&app, c).await?;
    let list: Vec<Peer> =
        app.with_state(|s| network_of(s, nid).map(|ns| ns.peers.iter().cloned().collect()))??;
    Ok(items(list))
}

pub async fn create(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    JsonBody(body): JsonBody<CreatePeer>,
) -> ApiResult<(StatusCode, Json<PeerCreated>)> {
    caller.require_admin()?;
    let nid: NetworkId = ids.get("nid")?;
    let spec = body.validate()?;
    let mut secrets = PeerSecretsInput::default();
    let token = spec.use_agent.then(new_token);
    secrets.agent_token_hash = token.as_deref().map(hash_token);
    if !spec.use_agent && spec.public_key.is_none() {
        secrets.generated_keypair = Some(wireguard_keypair());
    }
    let cmd = Command::CreatePeer {
        network_id: nid,
        id: PeerId(new_id()),
        at: now(),
        spec,
        secrets,
    };
    match propose(&app, cmd).await? {
        Response::Peer(peer) => Ok((
            StatusCode::CREATED,
            Json(PeerCreated {
                peer,
                agent_token: token,
            }),
        )),
        other => Err(unexpected(other)),
    }
}

pub async fn get(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<Peer>> {
    caller.require_admin()?;
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    read_barrier(&app, c).await?;
    let peer =
        app.with_state(|s| network_of(s, nid).and_then(|ns| peer_of(ns, pid).cloned()))??;
    Ok(Json(peer))
}

pub async fn update(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdatePeer>,
) -> ApiResult<Json<Peer>> {
    caller.require_admin()?;
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    let patch = body.validate()?;
    let cmd = Command::UpdatePeer {
        network_id: nid,
        id: pid,
        at: now(),
        if_match: if_match(&headers)?,
        patch,
    };
    match propose(&app, cmd).await? {
        Response::Peer(p) => Ok(Json(p)),
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
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    let cmd = Command::DeletePeer {
        network_id: nid,
        id: pid,
        if_match: if_match(&headers)?,
    };
    match propose(&app, cmd).await? {
        Response::Deleted => Ok(StatusCode::NO_CONTENT),
        other => Err(unexpected(other)),
    }
}

/// The peer's wg-quick configuration, for an admin or the peer's own agent.
pub async fn config(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<HttpResponse> {
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    caller.require_peer(pid)?;
    read_barrier(&app, c).await?;
    let text = app.with_state(|s| {
        let ns = network_of(s, nid)?;
        peer_of(ns, pid)?;
        let view = ns.view();
        let cfg = peer_config(&view, &view.index(), pid)
            .ok_or_else(|| ApiError::not_found("peer", pid))?;
        let private_key = ns.secrets.get(&pid).and_then(|s| s.private_key.as_deref());
        Ok::<_, ApiError>(render_wg_quick(&cfg, private_key))
    })??;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Replaces the peer's agent token; the new token is shown only in this answer.
pub async fn rotate_token(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
) -> ApiResult<Json<AgentToken>> {
    caller.require_admin()?;
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    let token = new_token();
    let cmd = Command::RotateAgentToken {
        network_id: nid,
        peer_id: pid,
        at: now(),
        token_hash: hash_token(&token),
    };
    match propose(&app, cmd).await? {
        Response::Peer(_) => Ok(Json(AgentToken { agent_token: token })),
        other => Err(unexpected(other)),
    }
}

/// The filter rules and forwarding of a jump peer; a regular peer is 400 `not_a_jump`.
pub async fn firewall(
    State(app): State<App>,
    caller: Caller,
    ids: PathIds,
    Read(c): Read,
) -> ApiResult<Json<JumpFirewall>> {
    caller.require_admin()?;
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    read_barrier(&app, c).await?;
    let fw = app.with_state(|s| {
        let ns = network_of(s, nid)?;
        let peer = peer_of(ns, pid)?;
        let not_a_jump = || {
            ApiError::from(DomainError::field(
                ErrorCode::NotAJump,
                "pid",
                format!(
                    "peer '{}' is not a jump peer, so it has no firewall",
                    peer.name
                ),
            ))
        };
        if !peer.is_jump {
            return Err(not_a_jump());
        }
        let view = ns.view();
        jump_firewall(&view, &view.index(), pid).ok_or_else(not_a_jump)
    })??;
    Ok(Json(fw))
}
