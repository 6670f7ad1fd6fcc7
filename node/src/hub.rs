//! The agent hub: the agents connected to *this* node, and the push of their configuration
//! whenever an applied change alters it (SPEC §8, DESIGN "How a write flows" step 5).
//!
//! Each connection registers under its peer id (a newer connection replaces an older one).
//! After every advance of the applied index the hub re-renders the configuration of each
//! connected agent from one consistent state.
//!
//! Versions mean the same on every node, and sending is decided by content:
//!
//! - `version` of a config is its network's *revision*: the log index of the last entry
//!   that changed anything in the network, set while applying that entry and kept in the
//!   replicated state (and its snapshots). Two nodes rendering the same network state
//!   label it alike, whichever entries each applied since, and a node restored from a
//!   snapshot has the same value. (The applied index would differ between nodes and grow
//!   with every unrelated write.)
//! - Whether to send at all compares fingerprints (SHA-256 of the config's JSON, the same
//!   on every node for the same config): the hub sends a config unless the agent holds
//!   exactly it — the fingerprint its hello names, then the last one sent on the
//!   connection. An agent that fails over to another node while holding the current config
//!   is sent nothing; one holding an older config gets exactly the current one.
//! - A node lagging behind what the agent holds (its rendered version is below the
//!   agent's) sends nothing at connect and waits until it catches up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::protocol::config_fingerprint;
use raftwire_api::PeerId;
use raftwire_raft_store::State;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::app::App;
use crate::metrics::Metrics;

pub use raftwire_api::protocol::{AgentMessage, ServerMessage};

/// What the connection task is told to do.
#[derive(Debug)]
pub enum Outbound {
    Send(String),
    /// A newer connection for the same peer replaced this one.
    Replaced,
}

struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<Outbound>,
    /// The version the agent said it has (its hello).
    agent_version: u64,
    /// Hash of the token the connection authenticated with (revocation closes it).
    token_hash: String,
    /// Fingerprint of the configuration the agent holds: the one its hello named, then the
    /// last one sent on this connection.
    held: Option<String>,
    /// Whether a config was sent on this connection.
    sent_any: bool,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<PeerId, Conn>,
    status: HashMap<PeerId, AgentStatus>,
    next_id: u64,
}

/// The last status an agent reported.
#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    pub applied_version: u64,
    pub ok: bool,
    pub errors: Vec<raftwire_api::protocol::ModuleError>,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
    metrics: Metrics,
}

impl Hub {
    pub fn new(metrics: Metrics) -> Hub {
        Hub {
            inner: Arc::default(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection for `peer` whose agent holds the config of `agent_version`
    /// with fingerprint `agent_hash`, replacing (and closing) an older connection.
    pub fn register(
        &self,
        peer: PeerId,
        agent_version: u64,
        agent_hash: Option<String>,
        token_hash: String,
    ) -> (u64, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        let conn = Conn {
            id,
            tx,
            agent_version,
            token_hash,
            held: agent_hash,
            sent_any: false,
        };
        if let Some(old) = inner.conns.insert(peer, conn) {
            let _ = old.tx.send(Outbound::Replaced);
        }
        self.metrics.connected_agents.set(inner.conns.len() as i64);
        (id, rx)
    }

    /// Removes the connection `id` of `peer` (if it is still the current one).
    pub fn unregister(&self, peer: PeerId, id: u64) {
        let mut inner = self.lock();
        if inner.conns.get(&peer).is_some_and(|c| c.id == id) {
            inner.conns.remove(&peer);
        }
        self.metrics.connected_agents.set(inner.conns.len() as i64);
    }

    pub fn close_all(&self) {
        let mut inner = self.lock();
        inner.conns.clear();
        self.metrics.connected_agents.set(0);
    }

    pub fn connected(&self) -> usize {
        self.lock().conns.len()
    }

    pub fn record_status(&self, peer: PeerId, status: AgentStatus) {
        self.lock().status.insert(peer, status);
    }

    pub fn status(&self, peer: PeerId) -> Option<AgentStatus> {
        self.lock().status.get(&peer).cloned()
    }

    /// Sends `peer`'s connected agent `cfg`, labelled `version` (its network's revision),
    /// unless the agent holds exactly it (same fingerprint). Never sends, at connect, a
    /// config older than the agent's own version: a lagging node waits until it caught up.
    pub fn offer(&self, peer: PeerId, cfg: AgentConfig, version: u64) {
        let fp = config_fingerprint(&cfg);
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&peer) else {
            return;
        };
        if conn.held.as_deref() == Some(fp.as_str()) {
            return;
        }
        if !conn.sent_any && version < conn.agent_version {
            return;
        }
        let msg = ServerMessage::Config {
            version,
            config: Box::new(cfg),
        };
        let Ok(text) = serde_json::to_string(&msg) else {
            return;
        };
        if conn.tx.send(Outbound::Send(text)).is_ok() {
            conn.held = Some(fp);
            conn.sent_any = true;
        }
    }

    /// Closes the connections whose peer is gone or whose token no longer authenticates it.
    fn close_revoked(&self, state: &State) {
        let mut inner = self.lock();
        let revoked: Vec<PeerId> = inner
            .conns
            .iter()
            .filter(|(peer, c)| {
                state.peer_by_agent_token_hash(&c.token_hash).map(|p| p.id) != Some(**peer)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in revoked {
            if let Some(c) = inner.conns.remove(&peer) {
                let _ = c.tx.send(Outbound::Replaced);
            }
        }
        self.metrics.connected_agents.set(inner.conns.len() as i64);
    }

    fn connected_peers(&self) -> Vec<PeerId> {
        self.lock().conns.keys().copied().collect()
    }
}

/// The configuration of `peer`'s agent in `state` with its version (the network's
/// revision), if the peer exists.
pub fn render(state: &State, peer: PeerId) -> Option<(AgentConfig, u64)> {
    let ns = state.network_of_peer(peer)?;
    let view = ns.view();
    let cfg = agent_config(&view, &view.index(), peer)?;
    Some((cfg, state.revision(ns.network.id)))
}

/// Renders and offers the configuration of every connected agent from one consistent
/// state, labelled with the log index that state was applied to; each network's view is
/// built once.
pub fn push_all(app: &App) {
    let peers = app.hub.connected_peers();
    if peers.is_empty() {
        return;
    }
    let rendered = app.sm.read(|d| {
        app.hub.close_revoked(&d.state);
        let mut by_network: HashMap<raftwire_api::NetworkId, Vec<PeerId>> = HashMap::new();
        for p in peers {
            if let Some(ns) = d.state.network_of_peer(p) {
                by_network.entry(ns.network.id).or_default().push(p);
            }
        }
        let mut out = Vec::new();
        for (nid, peers) in by_network {
            let Some(ns) = d.state.network(nid) else {
                continue;
            };
            let version = d.state.revision(nid);
            let view = ns.view();
            let idx = view.index();
            for p in peers {
                if let Some(cfg) = agent_config(&view, &idx, p) {
                    out.push((p, cfg, version));
                }
            }
        }
        out
    });
    // Offer outside the state lock: sending never holds up the state machine.
    if let Ok(configs) = rendered {
        for (p, cfg, version) in configs {
            app.hub.offer(p, cfg, version);
        }
    }
}

/// Pushes changed configurations after every applied change, until the node stops.
pub async fn run(app: App) {
    let mut applied = app.applied.clone();
    loop {
        if applied.changed().await.is_err() {
            return;
        }
        applied.borrow_and_update();
        push_all(&app);
    }
}
