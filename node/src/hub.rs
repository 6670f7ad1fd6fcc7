//! The agent hub: the agents connected to *this* node, and the push of their configuration
//! whenever an applied change alters it.
//!
//! Each connection registers under its peer id (a newer connection replaces an older one).
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
//!
//! Scale (10,000 agents on one node): one push task does all rendering, in rounds. A round
//! starts after the applied index advanced or a connection registered, and covers
//! everything that happened since the last one (bursts coalesce). Under the state lock it
//! only compares each connected network's revision with the one it last rendered and
//! clones the networks that changed (or that a new connection needs and the task has not
//! cached); it renders outside the lock, so `apply` never waits for rendering. It renders
//! only the agents of networks that changed, plus new connections (each only its own
//! agent), each network's view and index built once per round, jumps first: a new regular
//! peer changes only the jumps' configs, and theirs are the largest. Each config is
//! serialised once: that JSON gives both the fingerprint and the frame sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::{NetworkId, PeerId};
use raftwire_raft_store::{NetworkState, State};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Notify};

use crate::app::App;
use crate::metrics::Metrics;

pub use raftwire_api::protocol::{AgentMessage, ServerMessage};

/// What the connection task is told to do.
#[derive(Debug)]
pub enum Outbound {
    /// A text frame.
    Send(String),
    /// A newer connection for the same peer replaced this one, or its token was revoked.
    Replaced,
}

struct Conn {
    id: u64,
    network: NetworkId,
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
    by_network: HashMap<NetworkId, HashSet<PeerId>>,
    /// Registered since the last round: rendered in the next one.
    fresh: HashSet<PeerId>,
    status: HashMap<PeerId, AgentStatus>,
    next_id: u64,
}

impl Inner {
    fn remove(&mut self, peer: PeerId) -> Option<Conn> {
        let c = self.conns.remove(&peer)?;
        if let Some(set) = self.by_network.get_mut(&c.network) {
            set.remove(&peer);
            if set.is_empty() {
                self.by_network.remove(&c.network);
            }
        }
        self.fresh.remove(&peer);
        Some(c)
    }
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
    /// Wakes the push task for new connections.
    wake: Arc<Notify>,
    metrics: Metrics,
}

/// A config serialised once: its fingerprint and its JSON.
pub struct Rendered {
    pub fingerprint: String,
    pub json: String,
}

impl Rendered {
    pub fn new(cfg: &AgentConfig) -> Option<Rendered> {
        let json = serde_json::to_string(cfg).ok()?;
        // The same digest as `protocol::config_fingerprint`, without serialising twice.
        let fingerprint = hex::encode(Sha256::digest(json.as_bytes()));
        Some(Rendered { fingerprint, json })
    }

    /// The `config` message: what serde writes for [`ServerMessage::Config`], with the
    /// config's JSON spliced in.
    pub fn message(&self, version: u64) -> String {
        format!(
            "{{\"type\":\"config\",\"version\":{version},\"config\":{}}}",
            self.json
        )
    }
}

impl Hub {
    pub fn new(metrics: Metrics) -> Hub {
        Hub {
            inner: Arc::default(),
            wake: Arc::default(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection for `peer` of `network` whose agent holds the config of
    /// `agent_version` with fingerprint `agent_hash`, replacing (and closing) an older
    /// connection. The push task renders its config next.
    pub fn register(
        &self,
        peer: PeerId,
        network: NetworkId,
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
            network,
            tx,
            agent_version,
            token_hash,
            held: agent_hash,
            sent_any: false,
        };
        if let Some(old) = inner.remove(peer) {
            let _ = old.tx.send(Outbound::Replaced);
        }
        inner.conns.insert(peer, conn);
        inner.by_network.entry(network).or_default().insert(peer);
        inner.fresh.insert(peer);
        self.metrics.connected_agents.set(inner.conns.len() as i64);
        drop(inner);
        self.wake.notify_one();
        (id, rx)
    }

    /// Removes the connection `id` of `peer` (if it is still the current one).
    pub fn unregister(&self, peer: PeerId, id: u64) {
        let mut inner = self.lock();
        if inner.conns.get(&peer).is_some_and(|c| c.id == id) {
            inner.remove(peer);
        }
        self.metrics.connected_agents.set(inner.conns.len() as i64);
    }

    pub fn close_all(&self) {
        let mut inner = self.lock();
        inner.conns.clear();
        inner.by_network.clear();
        inner.fresh.clear();
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

    /// Sends `peer`'s connected agent the config `r`, labelled `version` (its network's
    /// revision), unless the agent holds exactly it (same fingerprint). Never sends, at
    /// connect, a config older than the agent's own version: a lagging node waits until it
    /// caught up.
    fn offer(&self, peer: PeerId, r: &Rendered, version: u64) {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&peer) else {
            return;
        };
        if conn.held.as_deref() == Some(r.fingerprint.as_str()) {
            return;
        }
        if !conn.sent_any && version < conn.agent_version {
            return;
        }
        if conn.tx.send(Outbound::Send(r.message(version))).is_ok() {
            conn.held = Some(r.fingerprint.clone());
            conn.sent_any = true;
        }
    }

    /// Closes the connections of `network` whose peer is gone or whose token no longer
    /// authenticates it (`ns` is `None`: the network is gone).
    fn close_revoked(&self, network: NetworkId, ns: Option<&NetworkState>) {
        let mut inner = self.lock();
        let Some(peers) = inner.by_network.get(&network) else {
            return;
        };
        let revoked: Vec<PeerId> = peers
            .iter()
            .filter(|peer| {
                let token = ns
                    .and_then(|ns| ns.secrets.get(peer))
                    .and_then(|s| s.agent_token_hash.as_deref());
                let conn = inner.conns.get(peer).map(|c| c.token_hash.as_str());
                token.is_none() || token != conn
            })
            .copied()
            .collect();
        for peer in revoked {
            if let Some(c) = inner.remove(peer) {
                let _ = c.tx.send(Outbound::Replaced);
            }
        }
        self.metrics.connected_agents.set(inner.conns.len() as i64);
    }

    /// Takes the connections registered since the last round, and the networks of all
    /// connected agents.
    fn round_input(&self) -> (HashMap<NetworkId, Vec<PeerId>>, Vec<NetworkId>) {
        let mut inner = self.lock();
        let mut fresh: HashMap<NetworkId, Vec<PeerId>> = HashMap::new();
        for peer in std::mem::take(&mut inner.fresh) {
            if let Some(c) = inner.conns.get(&peer) {
                fresh.entry(c.network).or_default().push(peer);
            }
        }
        (fresh, inner.by_network.keys().copied().collect())
    }

    /// The connected agents of `network`.
    fn peers_of(&self, network: NetworkId) -> Vec<PeerId> {
        self.lock()
            .by_network
            .get(&network)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
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

/// A network as the push task last rendered it: a private copy, so rendering runs outside
/// the state lock.
struct Cached {
    revision: u64,
    ns: Arc<NetworkState>,
}

/// What one round renders in one network.
struct Job {
    network: NetworkId,
    revision: u64,
    ns: Arc<NetworkState>,
    /// Every connected agent of the network (it changed), or only the new connections.
    peers: Vec<PeerId>,
}

/// The push task's memory between rounds.
#[derive(Default)]
struct Pusher {
    cache: HashMap<NetworkId, Cached>,
}

impl Pusher {
    /// One round: find what changed, copy it under the lock, render and offer outside it.
    fn round(&mut self, app: &App) {
        let (mut fresh, networks) = app.hub.round_input();
        self.cache.retain(|nid, _| networks.contains(nid));
        let mut changed: Vec<(NetworkId, Option<Cached>)> = Vec::new();
        let read = app.sm.read(|d| {
            for nid in &networks {
                let revision = d.state.revision(*nid);
                let Some(ns) = d.state.network(*nid) else {
                    changed.push((*nid, None));
                    continue;
                };
                let stale = self.cache.get(nid).is_none_or(|c| c.revision != revision);
                if stale {
                    let ns = Arc::new(ns.clone());
                    changed.push((*nid, Some(Cached { revision, ns })));
                }
            }
        });
        if let Err(e) = read {
            tracing::warn!("agent hub: state machine unavailable: {e}");
            return;
        }
        let mut jobs = Vec::new();
        for (nid, cached) in changed {
            app.hub
                .close_revoked(nid, cached.as_ref().map(|c| c.ns.as_ref()));
            fresh.remove(&nid);
            match cached {
                None => {
                    self.cache.remove(&nid);
                }
                Some(c) => {
                    jobs.push(Job {
                        network: nid,
                        revision: c.revision,
                        ns: c.ns.clone(),
                        peers: app.hub.peers_of(nid),
                    });
                    self.cache.insert(nid, c);
                }
            }
        }
        for (nid, peers) in fresh {
            if let Some(c) = self.cache.get(&nid) {
                jobs.push(Job {
                    network: nid,
                    revision: c.revision,
                    ns: c.ns.clone(),
                    peers,
                });
            }
        }
        for job in jobs {
            render_job(&app.hub, job);
        }
    }
}

/// Renders and offers the configs of one job's agents: one view and index, jumps first.
fn render_job(hub: &Hub, job: Job) {
    let view = job.ns.view();
    let idx = view.index();
    let mut peers: Vec<(bool, PeerId)> = job
        .peers
        .into_iter()
        .filter_map(|p| idx.peer(p).map(|peer| (!peer.is_jump, p)))
        .collect();
    peers.sort_unstable();
    for (_, peer) in peers {
        let Some(cfg) = agent_config(&view, &idx, peer) else {
            continue;
        };
        let Some(r) = Rendered::new(&cfg) else {
            tracing::warn!("agent hub: the config of {peer} does not serialise");
            continue;
        };
        hub.offer(peer, &r, job.revision);
    }
    tracing::trace!("agent hub: rendered network {}", job.network);
}

/// Pushes changed configurations after every applied change and to every new connection,
/// until the node stops. Rendering is CPU work: it runs on the blocking pool, one round at
/// a time, so it never stalls the runtime's workers.
pub async fn run(app: App) {
    let mut applied = app.applied.clone();
    let wake = app.hub.wake.clone();
    let mut pusher = Some(Pusher::default());
    loop {
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = wake.notified() => {}
        }
        applied.borrow_and_update();
        let Some(mut p) = pusher.take() else { return };
        let round_app = app.clone();
        match tokio::task::spawn_blocking(move || {
            p.round(&round_app);
            p
        })
        .await
        {
            Ok(p) => pusher = Some(p),
            Err(e) => {
                tracing::error!("agent hub: a push round failed: {e}");
                pusher = Some(Pusher::default());
            }
        }
    }
}
