//! `/networks/{nid}/peers[/{pid}]`, the peer's wg-quick config, agent-token rotation and the
//! jump firewall.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use raftwire_api::firewall::{jump_firewall, JumpFirewall};
use raftwire_api::requests::{CreatePeer, UpdatePeer};
use raftwire_api::wireguard::{peer_config, render_wg_quick};
use raftwire_api::*;
use raftwire_raft_store::{Command, PeerSecretsInput};
use serde::Serialize;

use super::dry_run::{answer, DryRun, DryRunQuery, PeerOrPlan};
use super::propose_done;
use super::{find, if_match, new_id, now, List, ListQuery, Read, ReadQuery};
use crate::app::App;
use crate::consensus::propose_for;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Caller, JsonBody};
use crate::http::openapi::{Common, Conflict, Missing, TooLarge};
use crate::http::params::{Ids, IfMatch, NetworkPath, PathParam, PeerPath};
use crate::secrets::{hash_token, new_token, wireguard_keypair};

// ---------------------------------------------------------------- peers

/// The 201 body of a peer creation: the peer, plus its agent token (shown only here).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeerCreated {
    #[serde(flatten)]
    peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_token: Option<String>,
}

/// A peer as `GET` shows it: the peer, plus its agent's connection status.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PeerView {
    #[serde(flatten)]
    peer: Peer,
    /// The agent's connection status as the replicated state holds it (the same on every
    /// node); null for a static peer or an agent that never connected.
    agent: Option<AgentView>,
}

/// An agent's connection status.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    /// Whether the agent is connected to a node now.
    connected: bool,
    /// The node it is (or was last) connected to.
    node_id: u64,
    /// When it connected (or disconnected, when not connected).
    since: Timestamp,
    /// The version of the configuration the agent last applied.
    applied_version: u64,
    /// The modules that failed in its last apply, and why.
    errors: Vec<raftwire_api::protocol::ModuleError>,
}

impl PeerView {
    fn of(s: &raftwire_raft_store::State, peer: &Peer) -> PeerView {
        let agent = s.agent(peer.id).map(|a| AgentView {
            connected: a.connected,
            node_id: a.node_id,
            since: a.since,
            applied_version: a.applied_version,
            errors: a
                .errors
                .iter()
                .map(|e| raftwire_api::protocol::ModuleError {
                    module: e.module.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        });
        PeerView {
            peer: peer.clone(),
            agent,
        }
    }
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
    params(NetworkPath, ListQuery),
    responses(
        (status = 200, description = "Every peer of the network, in creation order; all of them, or one page with `limit` and `after`", body = crate::http::openapi::PeerList),
        Common, Missing,
    ),
)]
pub async fn list(
    Ids(nid): NetworkPath,
    List { read, page }: List,
) -> ApiResult<Json<serde_json::Value>> {
    read.state(|s| {
        let ns = s
            .network(nid)
            .ok_or_else(|| ApiError::not_found("network", nid))?;
        page.answer(
            ns.peers.iter(),
            |p| p.id.to_string(),
            |p| PeerView::of(s, p),
        )
    })
    .await
}

#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/peers",
    tag = "peers",
    operation_id = "create_peer",
    params(NetworkPath),
    request_body = CreatePeer,
    responses(
        (status = 201, description = "The new peer", body = PeerCreated),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn create(
    State(app): State<App>,
    Ids(nid): NetworkPath,
    JsonBody(body): JsonBody<CreatePeer>,
) -> ApiResult<(StatusCode, Json<PeerCreated>)> {
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
    params(PeerPath, ReadQuery),
    responses(
        (status = 200, description = "The peer, with its agent's connection status", body = PeerView),
        Common, Missing,
    ),
)]
pub async fn get(Ids((nid, pid)): PeerPath, read: Read) -> ApiResult<Json<PeerView>> {
    read.state(|s| {
        let ns = s
            .network(nid)
            .ok_or_else(|| ApiError::not_found("network", nid))?;
        Ok(PeerView::of(s, find(ns, pid)?))
    })
    .await
    .map(Json)
}

#[utoipa::path(
    patch,
    path = "/api/v1/networks/{nid}/peers/{pid}",
    tag = "peers",
    operation_id = "update_peer",
    params(PeerPath, IfMatch, DryRunQuery),
    request_body = UpdatePeer,
    responses(
        (status = 200, description = "The peer as it now is; with `dry_run=true`, the plan of the change (nothing written)", body = PeerOrPlan),
        Common, Missing, Conflict, TooLarge,
    ),
)]
pub async fn update(
    State(app): State<App>,
    Ids((nid, pid)): PeerPath,
    DryRun(dry_run): DryRun,
    headers: HeaderMap,
    JsonBody(body): JsonBody<UpdatePeer>,
) -> ApiResult<HttpResponse> {
    let patch = body.validate()?;
    let cmd = Command::UpdatePeer {
        network_id: nid,
        id: pid,
        at: now(),
        if_match: if_match(&headers)?,
        patch: patch.into(),
    };
    if dry_run {
        return answer(&app, cmd).await;
    }
    Ok(Json(propose_for::<Peer>(&app, cmd).await?).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/networks/{nid}/peers/{pid}",
    tag = "peers",
    operation_id = "delete_peer",
    params(PeerPath, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        Common, Missing, Conflict,
    ),
)]
pub async fn delete(
    State(app): State<App>,
    Ids((nid, pid)): PeerPath,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
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
    params(PeerPath, ReadQuery),
    responses(
        (status = 200, description = "The peer's wg-quick configuration (with its private key when the node generated it)", body = String, content_type = "text/plain"),
        Common, Missing,
    ),
)]
pub async fn config(
    caller: Caller,
    Ids((nid, pid)): PeerPath,
    read: Read,
) -> ApiResult<HttpResponse> {
    caller.require_peer(pid)?;
    let text = read
        .network(nid, |ns| {
            find(ns, pid)?;
            let view = ns.view();
            let cfg = peer_config(&view, &view.index(), pid)
                .ok_or_else(|| ApiError::not_found("peer", pid))?;
            let private_key = ns.secrets.get(&pid).and_then(|s| s.private_key.as_deref());
            Ok(render_wg_quick(&cfg, private_key))
        })
        .await?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Replaces the peer's agent token; the new token is shown only in this answer.
#[utoipa::path(
    post,
    path = "/api/v1/networks/{nid}/peers/{pid}/token",
    tag = "peers",
    operation_id = "rotate_agent_token",
    params(PeerPath),
    responses(
        (status = 200, description = "The new agent token, shown only here", body = AgentToken),
        Common, Missing, Conflict,
    ),
)]
pub async fn rotate_token(
    State(app): State<App>,
    Ids((nid, pid)): PeerPath,
) -> ApiResult<Json<AgentToken>> {
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
    params(PeerPath, ReadQuery),
    responses(
        (status = 200, description = "The jump's filter rules per family (null: family absent) and forwarding; a regular peer is 400 `not_a_jump`", body = JumpFirewall),
        Common, Missing,
    ),
)]
pub async fn firewall(Ids((nid, pid)): PeerPath, read: Read) -> ApiResult<Json<JumpFirewall>> {
    read.network(nid, |ns| {
        let peer = find(ns, pid)?;
        let not_a_jump = || {
            ApiError::from(DomainError::field(
                ErrorCode::NotAJump,
                PeerId::NAME,
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
    })
    .await
    .map(Json)
}
