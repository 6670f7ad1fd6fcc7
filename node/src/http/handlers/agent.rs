//! `/agent/config` and `/agent/ws`: what an agent token reaches, besides its own peer's
//! wg-quick configuration. These routes are outside the admin-only layer; [`AgentPeer`]
//! checks the caller.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::Json;
use raftwire_api::protocol::FEATURE_DELTA;
use raftwire_api::validate::is_wireguard_key;
use raftwire_api::{DomainError, ErrorCode, PeerId};
use raftwire_raft_store::Command;

use super::{now, read};
use crate::agent_status::Session;
use crate::app::App;
use crate::consensus::{propose, read_barrier, Consistency};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Caller;
use crate::http::openapi::{Common, Missing};
use crate::hub::{render, AgentMessage, Outbound, ServerMessage};

/// Either side closes a connection silent for this long.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30);
/// How often the node pings.
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// Read buffer of an agent socket (it grows for a larger message).
const READ_BUFFER: usize = 4 * 1024;

/// The peer of the calling agent: no or an unknown token is 401, an admin token 403.
pub struct AgentPeer(pub PeerId);

impl FromRequestParts<App> for AgentPeer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> ApiResult<Self> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::Agent { peer_id, .. } => Ok(AgentPeer(peer_id)),
            Caller::Admin => Err(ApiError::forbidden("this endpoint takes an agent token")),
        }
    }
}

/// The agent's desired configuration, with the log index it was rendered at.
#[utoipa::path(
    get,
    path = "/api/v1/agent/config",
    tag = "agent",
    operation_id = "get_agent_config",
    responses(
        (status = 200, description = "The configuration of the calling agent's peer (agent token only)", body = crate::hub::ServerMessage),
        Common, Missing,
    ),
)]
pub async fn config(
    State(app): State<App>,
    AgentPeer(peer): AgentPeer,
) -> ApiResult<Json<ServerMessage>> {
    let message = read(&app, Consistency::Linearizable, |s| {
        let (cfg, version) = render(s, peer).ok_or_else(|| ApiError::not_found("peer", peer))?;
        Ok(ServerMessage::Config {
            version,
            config: Box::new(cfg),
        })
    })
    .await?;
    Ok(Json(message))
}

#[utoipa::path(
    get,
    path = "/api/v1/agent/ws",
    tag = "agent",
    operation_id = "agent_socket",
    responses(
        (status = 101, description = "Switched to a WebSocket carrying the agent protocol (agent token only)"),
        Common,
    ),
)]
pub async fn ws(
    State(app): State<App>,
    AgentPeer(peer): AgentPeer,
    headers: axum::http::HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // The Caller extractor accepted this token; the hub re-checks its hash after every
    // change, so a rotated token or a deleted peer closes the socket.
    let token_hash = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| crate::secrets::hash_token(t.trim()))
        .unwrap_or_default();
    let upgrade = upgrade.map_err(|r| {
        DomainError::new(
            ErrorCode::InvalidValue,
            format!("a WebSocket upgrade is required: {}", r.body_text()),
        )
    })?;
    // Agents send small messages: a small read buffer keeps 10,000 idle connections at a few
    // KiB each (the default is 128 KiB per connection, and again for writing).
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve(app, peer, token_hash, socket)))
}

/// Sends one frame; `false` when the agent is gone or does not read for `SILENCE_LIMIT`.
async fn send(socket: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SILENCE_LIMIT, socket.send(msg)).await,
        Ok(Ok(()))
    )
}

async fn serve(app: App, peer: PeerId, token_hash: String, mut socket: WebSocket) {
    // The agent speaks first.
    let hello = match tokio::time::timeout(SILENCE_LIMIT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<AgentMessage>(&t).ok(),
        _ => None,
    };
    let Some(AgentMessage::Hello {
        public_key,
        applied_version,
        config_hash,
        features,
        ..
    }) = hello
    else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    if let Some(key) = public_key.filter(|k| is_wireguard_key(k)) {
        let known = app
            .with_state(|s| s.peer(peer).and_then(|p| p.public_key.clone()))
            .ok()
            .flatten();
        if known.as_deref() != Some(key.as_str()) {
            let cmd = Command::RegisterAgentKey {
                peer_id: peer,
                at: now(),
                public_key: key,
            };
            if let Err(e) = propose(&app, cmd).await {
                tracing::warn!("agent {peer}: key registration failed: {e}");
            }
        }
    }
    // A node cut off from the leader must not pin the agent to stale state: without a
    // read barrier the agent is sent away and fails over to another node.
    if read_barrier(&app, Consistency::Linearizable).await.is_err() {
        let _ = socket.send(no_leader_close()).await;
        return;
    }
    let Some(network) = app
        .with_state(|s| s.network_of_peer(peer).map(|ns| ns.network.id))
        .ok()
        .flatten()
    else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let deltas = features.iter().any(|f| f == FEATURE_DELTA);
    // The hub's push task renders this agent's config (and only this one) next.
    let (conn, mut outbound) = app.hub.register(
        peer,
        network,
        applied_version,
        config_hash,
        token_hash,
        deltas,
    );

    let mut session = Session::connect(&app, peer, applied_version);

    let mut ping = tokio::time::interval(PING_EVERY);
    // A node that knows no leader for `leaderless_limit` sends its agents away, so they
    // fail over to a node that does (a partitioned node must not pin its agents to stale
    // state). Looked at four times per limit.
    let mut leader_check =
        tokio::time::interval((app.leaderless_limit / 4).max(Duration::from_millis(50)));
    let mut last_heard = tokio::time::Instant::now();
    let mut leaderless_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            out = outbound.recv() => match out {
                Some(Outbound::Send(text)) => {
                    if !send(&mut socket, Message::Text(text.into())).await { break; }
                }
                Some(Outbound::Replaced) | None => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            },
            msg = socket.recv() => {
                last_heard = tokio::time::Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        match serde_json::from_str(&t) {
                            Ok(AgentMessage::Status { applied_version, errors, .. }) => {
                                // Written to the replicated state only when it changed.
                                session.status(&app, applied_version, &errors);
                            }
                            Ok(AgentMessage::Resync) => app.hub.resync(peer, conn),
                            _ => {}
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
            _ = leader_check.tick() => {
                // No leader known, or one this node cannot reach (check-quorum).
                let reachable = crate::consensus::leader_unreachable(&app).is_none();
                match (reachable, leaderless_since) {
                    (true, _) => leaderless_since = None,
                    (false, None) => leaderless_since = Some(tokio::time::Instant::now()),
                    (false, Some(t)) if t.elapsed() > app.leaderless_limit => {
                        tracing::info!("agent {peer}: no leader for {:?}: sending it away", app.leaderless_limit);
                        let _ = send(&mut socket, no_leader_close()).await;
                        break;
                    }
                    (false, Some(_)) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT { break; }
                if !send(&mut socket, Message::Ping(Vec::new().into())).await { break; }
            }
        }
    }
    app.hub.unregister(peer, conn);
    session.disconnect(&app);
}

/// "No leader here, try another node" (see `protocol::CLOSE_NO_LEADER`).
fn no_leader_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: raftwire_api::protocol::CLOSE_NO_LEADER,
        reason: "this node knows no leader: try another node".into(),
    }))
}
