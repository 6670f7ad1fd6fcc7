//! `/networks/{nid}/peers[/{pid}]`, the peer's wg-quick config, agent-token rotation and the
//! jump firewall. Also the path/query extractors the per-network handlers share, which answer
//! bad input with problem+json instead of axum's plain-text rejections.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::firewall::{jump_firewall, JumpFirewall};
use raftwire_api::requests::{CreatePeer, UpdatePeer};
use raftwire_api::wireguard::{peer_config, render_wg_quick};
use raftwire_api::*;
use raftwire_raft_store::{Command, NetworkState, PeerSecretsInput};
use serde::Serialize;

use super::{if_match, items, network_of, new_id, now, PathIds, Read};
use crate::app::App;
use crate::consensus::{propose_done, propose_for, read_barrier};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};
use crate::secrets::{hash_token, new_token, wireguard_keypair};

fn peer_of(ns: &NetworkState, pid: PeerId) -> ApiResult<&Peer> {
    ns.peers
        .get(pid)
        .ok_or_else(|| ApiError::not_found("peer", pid))
}

// ---------------------------------------------------------------- peers

/// The 201 body of a peer creation: the peer, plus its agent token (shown only here).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeerCreated {
    #[serde(flatten)]
    peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_token: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentToken {
    agent_token: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/peers",
    tag = "peers",
    operation_id = "list_peers",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "Every peer of the network, in creation order", body = crate::http::openapi::PeerList),
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
    let list: Vec<Peer> =
        app.with_state(|s| network_of(s, nid).map(|ns| ns.peers.iter().cloned().collect()))??;
    Ok(items(list))
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/peers",
    tag = "peers",
    operation_id = "create_peer",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
    ),
    request_body = CreatePeer,
    responses(
        (status = 201, description = "The new peer", body = PeerCreated),
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
        spec: spec.into(),
        secrets,
    };
    let peer = propose_for::<Peer>(&app, cmd).await?;
    // A retried write (same Idempotency-Key) answers the first one's peer; the token minted
    // for the retry was never stored, and the first one is shown only once.
    let agent_token = token.filter(|t| minted_for(&app, t, peer.id));
    Ok((StatusCode::CREATED, Json(PeerCreated { peer, agent_token })))
}

/// Whether `token` is the agent token the state holds for `peer`.
fn minted_for(app: &App, token: &str, peer: PeerId) -> bool {
    let hash = hash_token(token);
    app.with_state(|s| s.peer_by_agent_token_hash(&hash).map(|p| p.id) == Some(peer))
        .unwrap_or(false)
}

#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/peers/{pid}",
    tag = "peers",
    operation_id = "get_peer",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The peer", body = Peer),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
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

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/peers/{pid}",
    tag = "peers",
    operation_id = "update_peer",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
        ("If-Match" = Option<u64>, Header, description = "Only if the object is still at this version (quotes, as for an ETag, are accepted); else 409 `version_mismatch`"),
    ),
    request_body = UpdatePeer,
    responses(
        (status = 200, description = "The peer as it now is", body = Peer),
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
        patch: patch.into(),
    };
    Ok(Json(propose_for::<Peer>(&app, cmd).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/peers/{pid}",
    tag = "peers",
    operation_id = "delete_peer",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
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
    let (nid, pid): (NetworkId, PeerId) = (ids.get("nid")?, ids.get("pid")?);
    let cmd = Command::DeletePeer {
        network_id: nid,
        id: pid,
        if_match: if_match(&headers)?,
    };
    propose_done(&app, cmd).await
}

/// The peer's wg-quick configuration, for an admin or the peer's own agent.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/peers/{pid}/config",
    tag = "peers",
    operation_id = "get_peer_config",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The peer's wg-quick configuration (with its private key when the node generated it)", body = String, content_type = "text/plain"),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/peers/{pid}/token",
    tag = "peers",
    operation_id = "rotate_agent_token",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
    ),
    responses(
        (status = 200, description = "The new agent token, shown only here", body = AgentToken),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
        crate::http::openapi::Conflict,
    ),
)]
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
    propose_for::<Peer>(&app, cmd).await?;
    if !minted_for(&app, &token, pid) {
        return Err(super::replayed_secret());
    }
    Ok(Json(AgentToken { agent_token: token }))
}

/// The filter rules and forwarding of a jump peer; a regular peer is 400 `not_a_jump`.
#[utoipa::path(
    get,
    path = "/api/v1/networks/{nid}/peers/{pid}/firewall",
    tag = "peers",
    operation_id = "get_jump_firewall",
    params(
        ("nid" = NetworkId, Path, description = "The network's id"),
        ("pid" = PeerId, Path, description = "The peer's id"),
        super::ReadQuery,
    ),
    responses(
        (status = 200, description = "The jump's filter rules per family (null: family absent) and forwarding; a regular peer is 400 `not_a_jump`", body = JumpFirewall),
        crate::http::openapi::Common,
        crate::http::openapi::Missing,
    ),
)]
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
