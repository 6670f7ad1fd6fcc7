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
//! copies the networks that changed (or that a new connection needs and the task has not
//! cached): the copy shares the state's rows, so it costs pointers, not rows (the round's whole look at
//! the state took 1–2 ms at 10,000 peers, against 4–6 ms with a full copy). It renders outside the lock, so `apply` never waits for
//! rendering, and checks agent tokens again only when the network's secrets changed. It renders
//! only the agents of networks that changed, plus new connections (each only its own
//! agent), each network's view and index built once per round, jumps first: a new regular
//! peer changes only the jumps' configs, and theirs are the largest (the jumps of a network
//! render side by side). When nothing a regular peer's config derives from changed (the
//! network, the jumps, groups and routes: `agent::regular_inputs_equal`, a property of the
//! core), only the jumps and the peers whose own row changed are rendered at all, not the
//! 10,000 others. A rendered config is compared with the last one rendered for the
//! connection as a structure, so an unchanged config is never serialised; a changed one is
//! serialised once, and only a hello's fingerprint is ever hashed.
//!
//! Deltas: a jump of a 10,000-peer network holds ~10 MB of configuration, and serialising,
//! sending and parsing that for every new peer is what bounded how fast a change reached
//! the jumps (~200 ms at 10,000 agents). To an agent whose hello accepts deltas, the hub
//! sends, once it knows the config the agent holds (it sent it on this connection, or the
//! hello's fingerprint proved it), only a `ConfigDelta` against it (`raftwire_api::delta`):
//! for one new peer, only its own entries in each list. What the jumps share (the DNS records) is derived
//! once per round for all of them, and the parts of the jumps' configs are derived side by
//! side on every core.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use raftwire_api::agent::{
    agent_config, assemble, filter_part, regular_inputs_equal, wireguard_part, AgentConfig,
    FilterPart, WgPart,
};
use raftwire_api::delta::ConfigDelta;
use raftwire_api::dns::{network_records, DnsRecord};
use raftwire_api::view::{NetworkView, ViewIndex};
use raftwire_api::{NetworkId, PeerId};
use raftwire_raft_store::{NetworkContents, State};
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
    /// Fingerprint of the configuration the agent said (in its hello) it holds, until a
    /// config was rendered for it.
    held: Option<String>,
    /// The last config rendered for this connection (sent, or found equal to `held`):
    /// comparing structures is much cheaper than serialising and hashing a jump's config.
    last: Option<Arc<AgentConfig>>,
    /// The version the agent calls `last` by: the one sent with it, or its hello's.
    last_version: u64,
    /// Whether a config was sent on this connection.
    sent_any: bool,
    /// The agent accepts deltas (`protocol::FEATURE_DELTA`).
    deltas: bool,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<PeerId, Conn>,
    by_network: HashMap<NetworkId, HashSet<PeerId>>,
    /// Registered since the last round: rendered in the next one.
    fresh: HashSet<PeerId>,
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

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
    /// Wakes the push task for new connections.
    wake: Arc<Notify>,
    metrics: Metrics,
}

/// The config's own JSON inside a `config` message (`…"config":{…}}`): the bytes its
/// fingerprint is taken of (`protocol::config_fingerprint`), without serialising twice.
fn message_config(text: &str) -> &str {
    text.split_once(",\"config\":")
        .and_then(|(_, rest)| rest.strip_suffix('}'))
        .unwrap_or_default()
}

/// The `config` message for `cfg` at `version`: what serde writes for
/// [`ServerMessage::Config`], without moving the config into one.
fn message(version: u64, cfg: &AgentConfig) -> Option<String> {
    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Message<'a> {
        Config {
            version: u64,
            config: &'a AgentConfig,
        },
    }
    serde_json::to_string(&Message::Config {
        version,
        config: cfg,
    })
    .ok()
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
        deltas: bool,
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
            last: None,
            last_version: 0,
            sent_any: false,
            deltas,
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

    /// The agent of connection `id` cannot use what it was sent (a delta against a config
    /// it does not hold): forget what it holds, so the next round sends it its whole config.
    pub fn resync(&self, peer: PeerId, id: u64) {
        let mut inner = self.lock();
        let Some(conn) = inner.conns.get_mut(&peer).filter(|c| c.id == id) else {
            return;
        };
        conn.last = None;
        conn.held = None;
        conn.last_version = 0;
        inner.fresh.insert(peer);
        drop(inner);
        self.wake.notify_one();
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

    /// Sends `peer`'s connected agent `cfg`, labelled `version` (its network's revision),
    /// unless the agent holds exactly it: whole, or as a delta against the config the agent
    /// holds if it accepts deltas and the hub knows that config. Never sends, at connect, a
    /// config older than the agent's own version: a lagging node waits until it caught up.
    /// Comparing and serialising run outside the hub's lock.
    /// Returns the config it replaced, for the caller to drop once the urgent work is done
    /// (a jump's is ~10 MB of small allocations).
    #[must_use]
    fn offer(&self, peer: PeerId, cfg: AgentConfig, version: u64) -> Option<Arc<AgentConfig>> {
        let (id, last, last_version, held, fresh, agent_version, deltas) = {
            let inner = self.lock();
            let c = inner.conns.get(&peer)?;
            (
                c.id,
                c.last.clone(),
                c.last_version,
                c.held.clone(),
                !c.sent_any,
                c.agent_version,
                c.deltas,
            )
        };
        if last.as_deref() == Some(&cfg) {
            return None;
        }
        if fresh && version < agent_version {
            return None;
        }
        let delta = match &last {
            Some(last) if deltas => ConfigDelta::between(last, &cfg),
            _ => None,
        };
        let text = match delta {
            Some(delta) => serde_json::to_string(&ServerMessage::Delta {
                version,
                base: last_version,
                delta: Box::new(delta),
            })
            .ok(),
            None => message(version, &cfg),
        };
        let Some(text) = text else {
            tracing::warn!("agent hub: the config of {peer} does not serialise");
            return None;
        };
        // Only an agent's hello names a fingerprint: hash once, on the first rendering (a
        // whole config: `last` is none).
        let holds = last.is_none()
            && held.is_some_and(|h| {
                let json = message_config(&text);
                hex::encode(Sha256::digest(json.as_bytes())) == h
            });
        let cfg = Arc::new(cfg);
        let mut inner = self.lock();
        let conn = inner.conns.get_mut(&peer).filter(|c| c.id == id)?;
        conn.held = None;
        if holds {
            conn.last = Some(cfg);
            conn.last_version = agent_version;
        } else if conn.tx.send(Outbound::Send(text)).is_ok() {
            conn.last = Some(cfg);
            conn.last_version = version;
            conn.sent_any = true;
        }
        last
    }

    /// Closes the connections of `network` (all, or `only` these) whose peer is gone or whose
    /// token no longer authenticates it (`ns` is `None`: the network is gone).
    fn close_revoked(
        &self,
        network: NetworkId,
        ns: Option<&NetworkContents>,
        only: Option<&[PeerId]>,
    ) {
        let mut inner = self.lock();
        let Some(peers) = inner.by_network.get(&network) else {
            return;
        };
        let candidates: Vec<&PeerId> = match only {
            Some(only) => only.iter().filter(|p| peers.contains(p)).collect(),
            None => peers.iter().collect(),
        };
        let revoked: Vec<PeerId> = candidates
            .into_iter()
            .filter(|peer| {
                let token = ns
                    .and_then(|ns| ns.secrets.get(&**peer))
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

    /// Those of `peers` whose agent is connected (to `network`), and every connected agent
    /// of `network` that holds nothing from this node yet (its node lagged behind it at
    /// connect, so it still waits for a config whatever changes).
    fn connected_among(&self, network: NetworkId, peers: Vec<PeerId>) -> Vec<PeerId> {
        let inner = self.lock();
        let Some(set) = inner.by_network.get(&network) else {
            return Vec::new();
        };
        let waiting = set
            .iter()
            .filter(|p| inner.conns.get(p).is_some_and(|c| c.last.is_none()))
            .copied();
        let mut due: Vec<PeerId> = peers.into_iter().filter(|p| set.contains(p)).collect();
        due.extend(waiting);
        due
    }

    /// Whether any agent is connected, or registered since the last round.
    fn has_agents(&self) -> bool {
        let inner = self.lock();
        !inner.by_network.is_empty() || !inner.fresh.is_empty()
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
/// the state lock, with the agents still to render from it.
struct Cached {
    revision: u64,
    ns: Arc<NetworkContents>,
    /// Agents whose config at `revision` is not rendered yet: the older debt (carried
    /// over from an interrupted round) and the new (`fresh`), in that order.
    carried: HashSet<PeerId>,
    fresh: HashSet<PeerId>,
}

/// A network copied under the state lock: its revision and contents.
type NetworkCopy = (u64, Arc<NetworkContents>);

/// How many agents a round renders between two looks at the applied index.
const CHUNK: usize = 64;

/// The push task's memory between rounds.
#[derive(Default)]
struct Pusher {
    cache: HashMap<NetworkId, Cached>,
}

impl Pusher {
    /// One round: find what changed, copy it under the lock, render and offer outside it.
    /// `interrupted` says a newer entry was applied: the round then stops between two
    /// chunks and leaves the rest for the next round, which renders from the newer state
    /// (the jumps of a changed network first, then the oldest debt), so a burst of writes
    /// never queues the jumps behind thousands of regular configs.
    fn round(&mut self, app: &App, interrupted: &dyn Fn() -> bool) {
        let (fresh, networks) = app.hub.round_input();
        self.cache.retain(|nid, _| networks.contains(nid));
        let mut changed: Vec<(NetworkId, Option<NetworkCopy>)> = Vec::new();
        let read = app.sm.read(|d| {
            for nid in &networks {
                let revision = d.state.revision(*nid);
                let Some(ns) = d.state.network(*nid) else {
                    changed.push((*nid, None));
                    continue;
                };
                let stale = self.cache.get(nid).is_none_or(|c| c.revision != revision);
                if stale {
                    changed.push((*nid, Some((revision, Arc::new(ns.contents())))));
                }
            }
        });
        if let Err(e) = read {
            tracing::warn!("agent hub: state machine unavailable: {e}");
            return;
        }
        for (nid, copy) in changed {
            // Tokens are checked again only when they may have changed (secrets are shared
            // rows: comparing two copies is comparing pointers).
            let tokens_same = match (&copy, self.cache.get(&nid)) {
                (Some((_, ns)), Some(old)) => ns.secrets == old.ns.secrets,
                _ => false,
            };
            if !tokens_same {
                app.hub
                    .close_revoked(nid, copy.as_ref().map(|(_, ns)| ns.as_ref()), None);
            }
            let Some((revision, ns)) = copy else {
                self.cache.remove(&nid);
                continue;
            };
            // The connected agents of a changed network are due, the unfinished ones first:
            // all of them, or, when nothing a regular peer's config derives from changed
            // (`regular_inputs_equal`), the jumps and the peers whose own row changed.
            let mut carried = HashSet::new();
            let mut touched = None;
            if let Some(old) = self.cache.remove(&nid) {
                carried.extend(old.carried);
                carried.extend(old.fresh);
                if regular_inputs_equal(&old.ns.view(), &ns.view()) {
                    let mut due = old.ns.peers.changed_keys(&ns.peers);
                    due.extend(ns.peers.iter().filter(|p| p.is_jump).map(|p| p.id));
                    touched = Some(due);
                }
            }
            let fresh = match touched {
                Some(due) => app.hub.connected_among(nid, due),
                None => app.hub.peers_of(nid),
            }
            .into_iter()
            .filter(|p| !carried.contains(p))
            .collect();
            self.cache.insert(
                nid,
                Cached {
                    revision,
                    ns,
                    carried,
                    fresh,
                },
            );
        }
        for (nid, peers) in fresh {
            if let Some(c) = self.cache.get_mut(&nid) {
                // A token revoked between its check at connect and the registration.
                app.hub.close_revoked(nid, Some(&c.ns), Some(&peers));
                c.fresh
                    .extend(peers.into_iter().filter(|p| !c.carried.contains(p)));
            }
        }
        self.render(&app.hub, interrupted);
    }

    /// Renders what is due in every network: one view and index per network, jumps first,
    /// then the older debt, then the rest, in chunks.
    fn render(&mut self, hub: &Hub, interrupted: &dyn Fn() -> bool) {
        let mut rendered = 0usize;
        for c in self.cache.values_mut() {
            if c.carried.is_empty() && c.fresh.is_empty() {
                continue;
            }
            let ns = c.ns.clone();
            let view = ns.view();
            let idx = view.index();
            let rank = |p: &PeerId, older: bool| match idx.peer(*p) {
                Some(peer) if peer.is_jump => Some((0u8, *p)),
                Some(_) => Some((if older { 1 } else { 2 }, *p)),
                None => None,
            };
            let mut due: Vec<(u8, PeerId)> = c
                .carried
                .iter()
                .filter_map(|p| rank(p, true))
                .chain(c.fresh.iter().filter_map(|p| rank(p, false)))
                .collect();
            due.sort_unstable();
            // The jumps' configs are the large ones, and the most urgent: render them side
            // by side.
            let jumps: Vec<PeerId> = due
                .iter()
                .take_while(|(rank, _)| *rank == 0)
                .map(|(_, p)| *p)
                .collect();
            render_jumps(hub, &view, &idx, &jumps, c.revision);
            let mut done = jumps.len();
            rendered += jumps.len();
            for (_, peer) in &due[done..] {
                if rendered.is_multiple_of(CHUNK) && interrupted() {
                    break;
                }
                done += 1;
                rendered += 1;
                render_one(hub, &view, &idx, *peer, c.revision);
            }
            // What is left becomes the older debt; peers gone from the view are dropped.
            let left: HashSet<PeerId> = due[done..].iter().map(|(_, p)| *p).collect();
            c.carried = left;
            c.fresh.clear();
            if done < due.len() {
                return;
            }
        }
    }
}

fn render_one(hub: &Hub, view: &NetworkView, idx: &ViewIndex, peer: PeerId, revision: u64) {
    if let Some(cfg) = agent_config(view, idx, peer) {
        drop(hub.offer(peer, cfg, revision));
    }
}

/// Renders the jumps of one view side by side and offers each its config. Their configs are
/// the large ones (~10 MB each at 10,000 peers): every jump's WireGuard part and filter part,
/// and the DNS records they all share, are separate tasks spread over the cores, the largest
/// first; then each config is put together and offered (which computes its delta), in
/// parallel again.
fn render_jumps(hub: &Hub, view: &NetworkView, idx: &ViewIndex, jumps: &[PeerId], revision: u64) {
    enum Part {
        Wg(usize, Option<WgPart>),
        Records(Vec<DnsRecord>),
        Filter(usize, Option<FilterPart>),
    }
    if jumps.is_empty() {
        return;
    }
    let n = jumps.len();
    let tasks = 2 * n + 1;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(tasks);
    let next = AtomicUsize::new(0);
    let parts = Mutex::new(Vec::with_capacity(tasks));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let part = match next.fetch_add(1, Ordering::Relaxed) {
                    t if t < n => Part::Wg(t, wireguard_part(view, idx, jumps[t])),
                    t if t == n => Part::Records(network_records(view)),
                    t if t < tasks => {
                        let j = t - n - 1;
                        Part::Filter(j, filter_part(view, idx, jumps[j]))
                    }
                    _ => break,
                };
                parts.lock().unwrap_or_else(|p| p.into_inner()).push(part);
            });
        }
    });
    let mut wg: Vec<Option<WgPart>> = (0..n).map(|_| None).collect();
    let mut filter: Vec<Option<FilterPart>> = (0..n).map(|_| None).collect();
    let mut records = Vec::new();
    for part in parts.into_inner().unwrap_or_else(|p| p.into_inner()) {
        match part {
            Part::Wg(j, p) => wg[j] = p,
            Part::Filter(j, p) => filter[j] = p,
            Part::Records(r) => records = r,
        }
    }
    let mut buckets: Vec<Vec<(PeerId, WgPart, FilterPart)>> =
        (0..threads).map(|_| Vec::new()).collect();
    let ready = jumps.iter().zip(wg).zip(filter);
    for (i, ((peer, w), f)) in ready.enumerate() {
        if let (Some(w), Some(f)) = (w, f) {
            buckets[i % threads].push((*peer, w, f));
        }
    }
    let records: Arc<[DnsRecord]> = records.into();
    let records = &records;
    let replaced: Vec<Arc<AgentConfig>> = std::thread::scope(|s| {
        let threads: Vec<_> = buckets
            .into_iter()
            .map(|bucket| {
                s.spawn(move || {
                    let mut replaced = Vec::new();
                    for (peer, w, f) in bucket {
                        let cfg = assemble(view, idx, peer, w, Some(f), Some(records.clone()));
                        if let Some(cfg) = cfg {
                            replaced.extend(hub.offer(peer, cfg, revision));
                        }
                    }
                    replaced
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // The old configs (~10 MB of small allocations each) go only once every jump was
    // offered its new one: freeing them would compete with the last jumps' work.
    drop(replaced);
}

/// Pushes changed configurations after every applied change and to every new connection,
/// until the node stops. Rendering is CPU work: it runs on the blocking pool, one round at
/// a time, so it never stalls the runtime's workers.
pub async fn run(app: App) {
    let mut applied = app.applied.clone();
    let wake = app.hub.wake.clone();
    let mut pusher = Some(Pusher::default());
    // An interrupted round leaves work: the next one starts at once.
    let mut more = false;
    loop {
        if !more {
            tokio::select! {
                changed = applied.changed() => if changed.is_err() { return },
                _ = wake.notified() => {}
            }
        }
        applied.borrow_and_update();
        let Some(mut p) = pusher.take() else { return };
        if !app.hub.has_agents() {
            // Nobody to push to (a round would find no network and drop its copies): no
            // trip to a blocking thread for every applied entry. An agent that registers
            // meanwhile wakes the task again.
            p.cache.clear();
            pusher = Some(p);
            more = false;
            continue;
        }
        let seen = applied.clone();
        let round_app = app.clone();
        match tokio::task::spawn_blocking(move || {
            p.round(&round_app, &|| seen.has_changed().unwrap_or(true));
            let more = p
                .cache
                .values()
                .any(|c| !c.carried.is_empty() || !c.fresh.is_empty());
            (p, more)
        })
        .await
        {
            Ok((p, left)) => {
                pusher = Some(p);
                more = left;
            }
            Err(e) => {
                tracing::error!("agent hub: a push round failed: {e}");
                pusher = Some(Pusher::default());
                more = false;
            }
        }
    }
}
