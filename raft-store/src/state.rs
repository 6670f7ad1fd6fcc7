//! The replicated domain state: every network with its peers, groups, policies, routes,
//! DNS mappings and address pools, plus admin tokens.
//!
//! Only [`StateData`] is serialised (snapshots); the lookup indexes in [`State`] and
//! [`NetworkState`] are derived and rebuilt on load, so every node's snapshot of the same log
//! is byte-identical. All maps that are serialised are ordered (`BTreeMap`, [`Table`]).

use std::collections::{BTreeMap, HashSet};

use imbl::OrdMap;
use std::net::IpAddr;
use std::sync::Arc;

use raftwire_api::ipam::AddressPool;
use raftwire_api::*;
use serde::{Deserialize, Serialize};

use crate::table::{Keyed, Table};

/// Secrets of a peer that the API never shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSecrets {
    /// Hash of the agent token (agent peers); the token itself is shown once and never stored.
    pub agent_token_hash: Option<String>,
    /// Private key of a static peer whose key pair the server generated.
    pub private_key: Option<String>,
}

/// An admin API token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    pub id: TokenId,
    pub name: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}

impl Keyed for AdminToken {
    type Key = TokenId;
    fn key(&self) -> TokenId {
        self.id
    }
}

/// The address pools of a network, one per family of its mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pools {
    pub ipv4: Option<AddressPool>,
    pub ipv6: Option<AddressPool>,
}

impl Pools {
    pub fn for_network(network: &Network) -> Pools {
        Pools {
            ipv4: network.cidr(IpFamily::Ipv4).map(AddressPool::new),
            ipv6: network.cidr(IpFamily::Ipv6).map(AddressPool::new),
        }
    }

    pub fn get(&self, family: IpFamily) -> Option<&AddressPool> {
        match family {
            IpFamily::Ipv4 => self.ipv4.as_ref(),
            IpFamily::Ipv6 => self.ipv6.as_ref(),
        }
    }

    pub fn get_mut(&mut self, family: IpFamily) -> Option<&mut AddressPool> {
        match family {
            IpFamily::Ipv4 => self.ipv4.as_mut(),
            IpFamily::Ipv6 => self.ipv6.as_mut(),
        }
    }
}

/// One network and everything in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    pub network: Network,
    pub peers: Table<Peer>,
    pub groups: Table<Group>,
    pub policies: Table<Policy>,
    pub routes: Table<Route>,
    pub dns_mappings: Table<DnsMapping>,
    pub pools: Pools,
    /// Shared like table rows (and a persistent tree like a table's), so the agent hub's
    /// copy of a network is cheap.
    pub secrets: OrdMap<PeerId, Arc<PeerSecrets>>,
    #[serde(skip)]
    pub(crate) idx: NetIndex,
}

/// A network's contents and secrets, without its allocation pools and lookups: what the
/// agent hub renders configurations from (and checks tokens against) outside the state
/// lock. Taking one is cheap: the rows are shared with the state ([`Table`]).
#[derive(Debug, Clone)]
pub struct NetworkContents {
    pub network: Network,
    pub peers: Table<Peer>,
    pub groups: Table<Group>,
    pub policies: Table<Policy>,
    pub routes: Table<Route>,
    pub dns_mappings: Table<DnsMapping>,
    pub secrets: OrdMap<PeerId, Arc<PeerSecrets>>,
}

impl NetworkContents {
    /// The same view [`NetworkState::view`] gives of the network this was taken from.
    pub fn view(&self) -> NetworkView<'_> {
        view_of(
            &self.network,
            &self.peers,
            &self.groups,
            &self.policies,
            &self.routes,
            &self.dns_mappings,
        )
    }
}

fn view_of<'a>(
    network: &'a Network,
    peers: &'a Table<Peer>,
    groups: &'a Table<Group>,
    policies: &'a Table<Policy>,
    routes: &'a Table<Route>,
    dns_mappings: &'a Table<DnsMapping>,
) -> NetworkView<'a> {
    NetworkView {
        network,
        peers: peers.iter().collect(),
        groups: groups.iter().collect(),
        policies: policies.iter().collect(),
        routes: routes.iter().collect(),
        dns_mappings: dns_mappings.iter().collect(),
    }
}

/// Derived per-network lookups. Persistent B-trees (as in [`Table`]), not hash maps: a copy
/// costs nothing, and a hash map that doubles rehashes every key at once (about 150 ms at
/// 260,000 peers, inside one apply, which held up Raft's replication past its timeout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NetIndex {
    pub peer_names: OrdMap<String, PeerId>,
    pub addresses: OrdMap<IpAddr, PeerId>,
    pub public_keys: OrdMap<String, PeerId>,
}

impl Keyed for NetworkState {
    type Key = NetworkId;
    fn key(&self) -> NetworkId {
        self.network.id
    }
}

impl NetworkState {
    pub fn new(network: Network) -> NetworkState {
        NetworkState {
            pools: Pools::for_network(&network),
            network,
            peers: Table::default(),
            groups: Table::default(),
            policies: Table::default(),
            routes: Table::default(),
            dns_mappings: Table::default(),
            secrets: OrdMap::new(),
            idx: NetIndex::default(),
        }
    }

    /// A consistent view for the derivations (configs, firewall, DNS).
    pub fn view(&self) -> NetworkView<'_> {
        view_of(
            &self.network,
            &self.peers,
            &self.groups,
            &self.policies,
            &self.routes,
            &self.dns_mappings,
        )
    }

    /// A private copy of what the derivations need, taken without cloning a row.
    pub fn contents(&self) -> NetworkContents {
        NetworkContents {
            network: self.network.clone(),
            peers: self.peers.clone(),
            groups: self.groups.clone(),
            policies: self.policies.clone(),
            routes: self.routes.clone(),
            dns_mappings: self.dns_mappings.clone(),
            secrets: self.secrets.clone(),
        }
    }

    pub fn peer_by_name(&self, name: &str) -> Option<&Peer> {
        self.idx
            .peer_names
            .get(name)
            .and_then(|id| self.peers.get(*id))
    }

    pub fn peer_by_public_key(&self, key: &str) -> Option<&Peer> {
        self.idx
            .public_keys
            .get(key)
            .and_then(|id| self.peers.get(*id))
    }

    pub fn peer_by_address(&self, addr: &IpAddr) -> Option<&Peer> {
        self.idx
            .addresses
            .get(addr)
            .and_then(|id| self.peers.get(*id))
    }

    pub fn default_group(&self) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == DEFAULT_GROUP)
    }

    pub(crate) fn index_peer(&mut self, peer: &Peer) {
        self.idx.peer_names.insert(peer.name.clone(), peer.id);
        for a in peer.addresses() {
            self.idx.addresses.insert(a, peer.id);
        }
        if let Some(k) = &peer.public_key {
            self.idx.public_keys.insert(k.clone(), peer.id);
        }
    }

    pub(crate) fn unindex_peer(&mut self, peer: &Peer) {
        self.idx.peer_names.remove(&peer.name);
        for a in peer.addresses() {
            self.idx.addresses.remove(&a);
        }
        if let Some(k) = &peer.public_key {
            self.idx.public_keys.remove(k);
        }
    }

    /// Every row says it belongs to this network; derived fields match.
    fn check_rows(&self) -> Result<(), String> {
        let n = &self.network;
        let foreign = |what: &str, name: &str, owner: NetworkId| {
            (owner != n.id).then(|| {
                format!(
                    "{what} '{name}' is in network '{}' but belongs to network {owner}",
                    n.name
                )
            })
        };
        let mut wrong = self
            .peers
            .iter()
            .find_map(|p| foreign("peer", &p.name, p.network_id));
        wrong = wrong.or_else(|| {
            self.groups
                .iter()
                .find_map(|g| foreign("group", &g.name, g.network_id))
        });
        wrong = wrong.or_else(|| {
            self.policies
                .iter()
                .find_map(|p| foreign("policy", &p.name, p.network_id))
        });
        wrong = wrong.or_else(|| {
            self.routes
                .iter()
                .find_map(|r| foreign("route", &r.name, r.network_id))
        });
        wrong = wrong.or_else(|| {
            self.dns_mappings
                .iter()
                .find_map(|m| foreign("DNS mapping", &m.name, m.network_id))
        });
        wrong.map_or(Ok(()), Err)
    }

    /// Peers' addresses against the mode, the prefixes and the pools.
    fn check_addresses(&self) -> Result<(), String> {
        let n = &self.network;
        for family in IpFamily::ALL {
            let pool = self.pools.get(family);
            if pool.is_some() != n.ip_stack_mode.has(family)
                || pool.map(|p| p.prefix()) != n.cidr(family)
            {
                return Err(format!(
                    "network '{}': {family} pool does not match its mode",
                    n.name
                ));
            }
            let mut held = 0u128;
            for p in self.peers.iter() {
                if p.has(family) != n.ip_stack_mode.has(family) {
                    return Err(format!(
                        "peer '{}' does not have exactly the {family} of its mode",
                        p.name
                    ));
                }
                if let (Some(a), Some(pool)) = (p.address(family), pool) {
                    if !pool.prefix().contains(&a) {
                        return Err(format!(
                            "address {a} of peer '{}' is outside the prefix {}",
                            p.name,
                            pool.prefix()
                        ));
                    }
                    if !pool.is_allocated(a) {
                        return Err(format!(
                            "address {a} of peer '{}' is not held for it in the {family} pool",
                            p.name
                        ));
                    }
                    held += 1;
                }
            }
            if let Some(pool) = pool {
                if let Some(a) = pool.iter().find(|a| !self.idx.addresses.contains_key(a)) {
                    return Err(format!(
                        "network '{}': the {family} pool holds {a}, which no peer has",
                        n.name
                    ));
                }
                if pool.allocated() != held {
                    return Err(format!(
                        "network '{}': the {family} pool holds {} addresses for {held} peer \
                         addresses",
                        n.name,
                        pool.allocated()
                    ));
                }
            }
        }
        Ok(())
    }

    /// References between the rows of this network (those the object checks do not cover).
    fn check_references(&self) -> Result<(), String> {
        let n = &self.network.name;
        for p in self.peers.iter() {
            let mut seen = HashSet::new();
            for g in &p.group_ids {
                if !self.groups.contains(*g) {
                    return Err(format!(
                        "peer '{}' is a member of group {g}, which is not in network '{n}'",
                        p.name
                    ));
                }
                if !seen.insert(g) {
                    return Err(format!("peer '{}' lists group {g} twice", p.name));
                }
            }
        }
        for g in self.groups.iter() {
            if let Some(p) = g.policy_ids.iter().find(|p| !self.policies.contains(**p)) {
                return Err(format!(
                    "group '{}' has policy {p} attached, which is not in network '{n}'",
                    g.name
                ));
            }
            if let Some(r) = g.route_ids.iter().find(|r| !self.routes.contains(**r)) {
                return Err(format!(
                    "group '{}' has route {r} attached, which is not in network '{n}'",
                    g.name
                ));
            }
        }
        if let Some(pid) = self.secrets.keys().find(|p| !self.peers.contains(**p)) {
            return Err(format!(
                "network '{n}' keeps secrets for peer {pid}, which is not in it"
            ));
        }
        Ok(())
    }

    /// The per-network indexes match the peers: this also catches two peers sharing a name,
    /// an address or a public key (the index keeps only one of them).
    fn check_index(&self) -> Result<(), String> {
        let n = &self.network.name;
        for p in self.peers.iter() {
            if self.idx.peer_names.get(&p.name) != Some(&p.id) {
                return Err(format!(
                    "peer name '{}' appears twice in '{n}' (or the name index is stale)",
                    p.name
                ));
            }
            for a in p.addresses() {
                if self.idx.addresses.get(&a) != Some(&p.id) {
                    return Err(format!(
                        "address {a} of peer '{}' is shared with another peer of '{n}' (or \
                         the address index is stale)",
                        p.name
                    ));
                }
            }
            if let Some(k) = &p.public_key {
                if self.idx.public_keys.get(k) != Some(&p.id) {
                    return Err(format!(
                        "the public key of peer '{}' is shared with another peer of '{n}' (or \
                         the key index is stale)",
                        p.name
                    ));
                }
            }
        }
        let addresses: usize = self.peers.iter().map(|p| p.addresses().len()).sum();
        let keys = self.peers.iter().filter(|p| p.public_key.is_some()).count();
        if self.idx.peer_names.len() != self.peers.len()
            || self.idx.addresses.len() != addresses
            || self.idx.public_keys.len() != keys
        {
            return Err(format!(
                "network '{n}': the name, address or key index holds entries no peer has"
            ));
        }
        Ok(())
    }

    fn rebuild_index(&mut self) {
        self.idx = NetIndex::default();
        let peers: Vec<Peer> = self.peers.iter().cloned().collect();
        for p in &peers {
            self.index_peer(p);
        }
    }
}

/// What is serialised: the whole replicated domain state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateData {
    /// Creation sequence: orders every list by creation.
    pub seq: u64,
    pub networks: Table<NetworkState>,
    pub admin_tokens: Table<AdminToken>,
    /// Results of writes sent with an `Idempotency-Key`, so a retried write answers what
    /// the first one did instead of applying twice (schema version 2).
    pub idempotency: BTreeMap<String, Remembered>,
}

/// A remembered write: when it was applied (creation sequence) and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub seq: u64,
    pub result: crate::command::ApplyResult,
}

/// How many idempotency keys the state remembers; the oldest are forgotten first.
pub const IDEMPOTENCY_KEYS_KEPT: usize = 10_000;

/// What the cluster keeps next to the domain data (schema version 3): replicated and in
/// snapshots like the data, but not part of a backup (a restored backup keeps the cluster's
/// own), because it describes this cluster's log and connections rather than the networks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMeta {
    /// Per network: the log index of the last entry that changed anything in it (set by
    /// [`crate::apply_entry`]). It is the `version` of every agent configuration rendered
    /// from that network, so every node labels the same network state alike.
    pub revisions: BTreeMap<NetworkId, u64>,
    /// Per agent peer: its connection status, as last reported (`RecordAgents`).
    pub agents: BTreeMap<PeerId, AgentRecord>,
}

/// The stored status of one agent and the connection it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub session: u64,
    pub status: crate::command::AgentStatus,
}

/// A backup being uploaded in parts (`StageRestore`) until its `CommitRestore`: replicated
/// like the data and kept in snapshots (schema version 4, see [`crate::codec`]), but never
/// part of a backup. See "Backup and restore" in `docs/operations.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRestore {
    /// The upload, chosen by the node that accepted it.
    pub id: u64,
    /// How many parts arrived (the next one must be part `parts`).
    pub parts: u32,
    /// The parts so far, concatenated: a prefix of an encoded backup.
    #[serde(with = "crate::codec::bytes")]
    pub bytes: Vec<u8>,
}

/// The state with its derived indexes.
///
/// Its serde form is [`StateData`] alone (what a backup holds); snapshots add the
/// [`StateMeta`] next to it, and the [`StagedRestore`] while there is one (see
/// [`crate::codec`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StateData", into = "StateData")]
pub struct State {
    pub(crate) data: StateData,
    pub(crate) idx: GlobalIndex,
    pub(crate) meta: StateMeta,
    pub(crate) staged: Option<StagedRestore>,
}

/// Derived lookups across networks; persistent B-trees for the reasons [`NetIndex`] gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GlobalIndex {
    pub network_names: OrdMap<String, NetworkId>,
    pub peer_network: OrdMap<PeerId, NetworkId>,
    pub agent_tokens: OrdMap<String, PeerId>,
    pub admin_tokens: OrdMap<String, TokenId>,
    /// Idempotency keys by the sequence they were remembered at (oldest first).
    pub idempotency_order: BTreeMap<u64, String>,
}

impl From<StateData> for State {
    fn from(mut data: StateData) -> State {
        let mut idx = GlobalIndex::default();
        data.networks.for_each_mut(|ns| {
            ns.rebuild_index();
            idx.network_names
                .insert(ns.network.name.clone(), ns.network.id);
            for p in ns.peers.iter() {
                idx.peer_network.insert(p.id, ns.network.id);
            }
            for (pid, s) in &ns.secrets {
                if let Some(h) = &s.agent_token_hash {
                    idx.agent_tokens.insert(h.clone(), *pid);
                }
            }
        });
        for t in data.admin_tokens.iter() {
            idx.admin_tokens.insert(t.token_hash.clone(), t.id);
        }
        for (key, r) in &data.idempotency {
            idx.idempotency_order.insert(r.seq, key.clone());
        }
        State {
            data,
            idx,
            meta: StateMeta::default(),
            staged: None,
        }
    }
}

impl From<State> for StateData {
    fn from(s: State) -> StateData {
        s.data
    }
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    pub fn data(&self) -> &StateData {
        &self.data
    }

    pub fn into_data(self) -> StateData {
        self.data
    }

    /// The cluster's bookkeeping next to the data.
    pub fn meta(&self) -> &StateMeta {
        &self.meta
    }

    /// The state from its data and bookkeeping (a decoded snapshot).
    pub fn with_meta(data: StateData, meta: StateMeta) -> State {
        let mut s = State::from(data);
        s.meta = meta;
        s
    }

    /// The backup being uploaded in parts, if one is.
    pub fn staged_restore(&self) -> Option<&StagedRestore> {
        self.staged.as_ref()
    }

    /// The connection status of `peer`'s agent, if it ever reported one.
    pub fn agent(&self, peer: PeerId) -> Option<&crate::command::AgentStatus> {
        self.meta.agents.get(&peer).map(|r| &r.status)
    }

    /// The log index of the last entry that changed network `id` (0: none since this
    /// state was built without a log, e.g. by `apply` alone).
    pub fn revision(&self, id: NetworkId) -> u64 {
        self.meta.revisions.get(&id).copied().unwrap_or(0)
    }

    /// Networks in creation order.
    pub fn networks(&self) -> impl Iterator<Item = &NetworkState> {
        self.data.networks.iter()
    }

    pub fn network(&self, id: NetworkId) -> Option<&NetworkState> {
        self.data.networks.get(id)
    }

    pub fn network_by_name(&self, name: &str) -> Option<&NetworkState> {
        self.idx
            .network_names
            .get(name)
            .and_then(|id| self.network(*id))
    }

    /// The network a peer belongs to.
    pub fn network_of_peer(&self, peer: PeerId) -> Option<&NetworkState> {
        self.idx
            .peer_network
            .get(&peer)
            .and_then(|n| self.network(*n))
    }

    pub fn peer(&self, peer: PeerId) -> Option<&Peer> {
        self.network_of_peer(peer).and_then(|n| n.peers.get(peer))
    }

    /// The peer an agent token (by hash) belongs to.
    pub fn peer_by_agent_token_hash(&self, hash: &str) -> Option<&Peer> {
        self.idx.agent_tokens.get(hash).and_then(|p| self.peer(*p))
    }

    pub fn admin_token_by_hash(&self, hash: &str) -> Option<&AdminToken> {
        self.idx
            .admin_tokens
            .get(hash)
            .and_then(|t| self.data.admin_tokens.get(*t))
    }

    pub fn admin_tokens(&self) -> impl Iterator<Item = &AdminToken> {
        self.data.admin_tokens.iter()
    }

    /// Checks every invariant of the state (listed in [`crate::invariants`]) and names the
    /// first one broken. A restored backup must pass it; every state `apply` builds does.
    ///
    /// The objects of each network go through the same checks `apply` runs on an object a
    /// command creates or changes; this adds what only a whole state can tell (counters,
    /// pools, indexes, references between rows, token hashes).
    pub fn check_consistency(&self) -> Result<(), String> {
        self.check_sequences()?;
        let mut names = HashSet::new();
        let mut prefixes: Vec<ipnet::IpNet> = Vec::new();
        let mut peer_ids = HashSet::new();
        let mut token_hashes = HashSet::new();
        for t in self.data.admin_tokens.iter() {
            if !token_hashes.insert(t.token_hash.as_str()) {
                return Err(format!(
                    "admin token '{}' shares its hash with another token",
                    t.name
                ));
            }
        }
        for ns in self.networks() {
            let n = &ns.network;
            if !names.insert(&n.name) {
                return Err(format!("network name '{}' appears twice", n.name));
            }
            for cidr in n.cidrs() {
                if let Some(o) = prefixes
                    .iter()
                    .find(|o| o.contains(&cidr.network()) || cidr.contains(&o.network()))
                {
                    return Err(format!("{cidr} overlaps {o}"));
                }
            }
            prefixes.extend(n.cidrs());
            ns.check_rows()?;
            ns.check_index()?;
            ns.check_addresses()?;
            ns.check_references()?;
            ns.check_objects()?;
            for p in ns.peers.iter() {
                if !peer_ids.insert(p.id) {
                    return Err(format!("peer id {} appears in two networks", p.id));
                }
            }
            for (pid, s) in &ns.secrets {
                if let Some(h) = &s.agent_token_hash {
                    if !token_hashes.insert(h.as_str()) {
                        return Err(format!(
                            "the agent token of peer {pid} shares its hash with another token"
                        ));
                    }
                }
            }
        }
        self.check_index()
    }

    /// `seq` is at least the sequence of every row and remembered write.
    fn check_sequences(&self) -> Result<(), String> {
        let seq = self.data.seq;
        let mut highest: Vec<(&str, Option<u64>)> = vec![
            ("networks", self.data.networks.last_seq()),
            ("admin tokens", self.data.admin_tokens.last_seq()),
            (
                "idempotency keys",
                self.data.idempotency.values().map(|r| r.seq).max(),
            ),
        ];
        for ns in self.networks() {
            highest.extend([
                ("peers", ns.peers.last_seq()),
                ("groups", ns.groups.last_seq()),
                ("policies", ns.policies.last_seq()),
                ("routes", ns.routes.last_seq()),
                ("DNS mappings", ns.dns_mappings.last_seq()),
            ]);
        }
        for (what, last) in highest {
            // `seq` is the last sequence handed out (the next row gets `seq + 1`).
            if let Some(last) = last.filter(|last| *last > seq) {
                return Err(format!(
                    "sequence counter {seq} is below the sequence {last} of a row in {what}"
                ));
            }
        }
        Ok(())
    }

    /// The global indexes match the rows.
    fn check_index(&self) -> Result<(), String> {
        let idx = &self.idx;
        let networks = self.data.networks.len();
        if idx.network_names.len() != networks
            || self
                .networks()
                .any(|ns| idx.network_names.get(&ns.network.name) != Some(&ns.network.id))
        {
            return Err("the network name index does not match the networks".into());
        }
        let peers: usize = self.networks().map(|ns| ns.peers.len()).sum();
        if idx.peer_network.len() != peers
            || self.networks().any(|ns| {
                ns.peers
                    .iter()
                    .any(|p| idx.peer_network.get(&p.id) != Some(&ns.network.id))
            })
        {
            return Err("the peer → network index does not match the peers".into());
        }
        let mut agent_tokens = 0;
        for ns in self.networks() {
            for (pid, s) in &ns.secrets {
                if let Some(h) = &s.agent_token_hash {
                    agent_tokens += 1;
                    if idx.agent_tokens.get(h) != Some(pid) {
                        return Err(format!(
                            "the agent token index does not match the token of peer {pid}"
                        ));
                    }
                }
            }
        }
        if idx.agent_tokens.len() != agent_tokens {
            return Err("the agent token index holds hashes no peer has".into());
        }
        if idx.admin_tokens.len() != self.data.admin_tokens.len()
            || self
                .admin_tokens()
                .any(|t| idx.admin_tokens.get(&t.token_hash) != Some(&t.id))
        {
            return Err("the admin token index does not match the admin tokens".into());
        }
        if idx.idempotency_order.len() != self.data.idempotency.len()
            || self
                .data
                .idempotency
                .iter()
                .any(|(k, r)| idx.idempotency_order.get(&r.seq) != Some(k))
        {
            return Err(
                "the idempotency order does not match the remembered writes (two share a \
                 sequence)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The remembered result of the write sent with `key`, if any.
    pub fn remembered(&self, key: &str) -> Option<&crate::command::ApplyResult> {
        self.data.idempotency.get(key).map(|r| &r.result)
    }

    /// Remembers the result of a write sent with `key`, forgetting the oldest keys beyond
    /// [`IDEMPOTENCY_KEYS_KEPT`].
    pub(crate) fn remember(&mut self, key: String, result: crate::command::ApplyResult) {
        let seq = self.next_seq();
        self.idx.idempotency_order.insert(seq, key.clone());
        if let Some(old) = self
            .data
            .idempotency
            .insert(key, Remembered { seq, result })
        {
            self.idx.idempotency_order.remove(&old.seq);
        }
        while self.data.idempotency.len() > IDEMPOTENCY_KEYS_KEPT {
            let Some((_, oldest)) = self.idx.idempotency_order.pop_first() else {
                break;
            };
            self.data.idempotency.remove(&oldest);
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.data.seq += 1;
        self.data.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, NetworkDefaults, PeerSecretsInput};
    use raftwire_api::requests::{CreateNetwork, CreatePeer};

    fn state() -> State {
        let mut s = State::new();
        let net = NetworkId::from_u128(1);
        let commands = [
            Command::CreateNetwork {
                id: net,
                at: Timestamp(1),
                spec: CreateNetwork {
                    name: Some("n".into()),
                    ipv4_cidr: Some("10.1.0.0/24".into()),
                    ..Default::default()
                }
                .validate()
                .unwrap()
                .into(),
                defaults: NetworkDefaults {
                    group_id: GroupId::from_u128(2),
                    policy_id: PolicyId::from_u128(3),
                    rule_ids: [RuleId::from_u128(4), RuleId::from_u128(5)],
                },
            },
            Command::CreatePeer {
                network_id: net,
                id: PeerId::from_u128(6),
                at: Timestamp(2),
                spec: CreatePeer {
                    name: Some("p".into()),
                    use_agent: Some(true),
                    ..Default::default()
                }
                .validate()
                .unwrap()
                .into(),
                secrets: PeerSecretsInput {
                    generated_keypair: None,
                    agent_token_hash: Some("h".into()),
                },
            },
        ];
        for c in commands {
            crate::apply(&mut s, c).unwrap();
        }
        s.check_consistency().unwrap();
        s
    }

    #[track_caller]
    fn stale(expect: &str, corrupt: impl FnOnce(&mut State)) {
        let mut s = state();
        corrupt(&mut s);
        let err = s.check_consistency().unwrap_err();
        assert!(err.contains(expect), "expected '{expect}' in: {err}");
    }

    #[test]
    fn stale_derived_indexes_are_refused() {
        fn ns(s: &mut State) -> &mut NetworkState {
            s.data.networks.get_mut(NetworkId::from_u128(1)).unwrap()
        }
        stale("address index", |s| ns(s).idx.addresses.clear());
        stale("name index", |s| ns(s).idx.peer_names.clear());
        stale("index holds entries", |s| {
            ns(s)
                .idx
                .public_keys
                .insert("k".into(), PeerId::from_u128(6));
        });
        stale("network name index", |s| s.idx.network_names.clear());
        stale("peer → network index", |s| s.idx.peer_network.clear());
        stale("agent token index", |s| s.idx.agent_tokens.clear());
        stale("agent token index", |s| {
            s.idx.agent_tokens.insert("x".into(), PeerId::from_u128(6));
        });
        stale("admin token index", |s| {
            s.idx.admin_tokens.insert("x".into(), TokenId::from_u128(9));
        });
        stale("idempotency order", |s| {
            s.idx.idempotency_order.insert(1, "k".into());
        });
    }
}
