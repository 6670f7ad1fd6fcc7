//! The replicated domain state: every network with its peers, groups, policies, routes,
//! DNS mappings and address pools, plus admin tokens.
//!
//! Only [`StateData`] is serialised (snapshots); the lookup indexes in [`State`] and
//! [`NetworkState`] are derived and rebuilt on load, so every node's snapshot of the same log
//! is byte-identical. All maps that are serialised are ordered (`BTreeMap`, [`Table`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

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
    pub secrets: BTreeMap<PeerId, PeerSecrets>,
    #[serde(skip)]
    pub(crate) idx: NetIndex,
}

/// Derived per-network lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NetIndex {
    pub peer_names: HashMap<String, PeerId>,
    pub addresses: HashMap<IpAddr, PeerId>,
    pub public_keys: HashMap<String, PeerId>,
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
            secrets: BTreeMap::new(),
            idx: NetIndex::default(),
        }
    }

    /// A consistent view for the derivations (configs, firewall, DNS).
    pub fn view(&self) -> NetworkView<'_> {
        NetworkView {
            network: &self.network,
            peers: self.peers.iter().collect(),
            groups: self.groups.iter().collect(),
            policies: self.policies.iter().collect(),
            routes: self.routes.iter().collect(),
            dns_mappings: self.dns_mappings.iter().collect(),
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

/// The state with its derived indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StateData", into = "StateData")]
pub struct State {
    pub(crate) data: StateData,
    pub(crate) idx: GlobalIndex,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GlobalIndex {
    pub network_names: HashMap<String, NetworkId>,
    pub peer_network: HashMap<PeerId, NetworkId>,
    pub agent_tokens: HashMap<String, PeerId>,
    pub admin_tokens: HashMap<String, TokenId>,
    /// Idempotency keys by the sequence they were remembered at (oldest first).
    pub idempotency_order: BTreeMap<u64, String>,
}

impl From<StateData> for State {
    fn from(mut data: StateData) -> State {
        let mut idx = GlobalIndex::default();
        for ns in data.networks.iter_mut() {
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
        }
        for t in data.admin_tokens.iter() {
            idx.admin_tokens.insert(t.token_hash.clone(), t.id);
        }
        for (key, r) in &data.idempotency {
            idx.idempotency_order.insert(r.seq, key.clone());
        }
        State { data, idx }
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

    /// Checks the invariants `apply` maintains (used before accepting a restored backup):
    /// unique network names, disjoint prefixes per family, a pool per family of each mode
    /// holding exactly the peers' addresses, every address inside its prefix, unique peer
    /// names per network.
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        let mut prefixes: Vec<ipnet::IpNet> = Vec::new();
        let mut peer_ids = std::collections::HashSet::new();
        let mut token_hashes = std::collections::HashSet::new();
        for t in self.data.admin_tokens.iter() {
            if !token_hashes.insert(t.token_hash.as_str()) {
                return Err("two tokens share a hash".into());
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
            let mut peer_names = std::collections::HashSet::new();
            for family in IpFamily::ALL {
                let pool = ns.pools.get(family);
                if pool.is_some() != n.ip_stack_mode.has(family)
                    || pool.map(|p| p.prefix()) != n.cidr(family)
                {
                    return Err(format!(
                        "network '{}': {family} pool does not match its mode",
                        n.name
                    ));
                }
                let mut held = 0u128;
                for p in ns.peers.iter() {
                    if p.has(family) != n.ip_stack_mode.has(family) {
                        return Err(format!(
                            "peer '{}' does not have exactly the {family} of its mode",
                            p.name
                        ));
                    }
                    if let (Some(a), Some(pool)) = (p.address(family), pool) {
                        if !pool.is_allocated(a)
                            || ns.peer_by_address(&a).map(|q| q.id) != Some(p.id)
                        {
                            return Err(format!(
                                "address {a} of peer '{}' is not held for it",
                                p.name
                            ));
                        }
                        held += 1;
                    }
                }
                if pool.is_some_and(|pool| pool.allocated() != held) {
                    return Err(format!(
                        "network '{}': the {family} pool holds addresses no peer has",
                        n.name
                    ));
                }
            }
            for p in ns.peers.iter() {
                if !peer_names.insert(&p.name) {
                    return Err(format!(
                        "peer name '{}' appears twice in '{}'",
                        p.name, n.name
                    ));
                }
                if !peer_ids.insert(p.id) {
                    return Err(format!("peer id {} appears in two networks", p.id));
                }
            }
            for s in ns.secrets.values() {
                if let Some(h) = &s.agent_token_hash {
                    if !token_hashes.insert(h.as_str()) {
                        return Err("two tokens share a hash".into());
                    }
                }
            }
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
