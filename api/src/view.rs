//! A consistent, read-only view of one network and everything in it: the input of every
//! derivation (WireGuard configs, firewall rules, DNS records, agent configs).
//!
//! The replicated state builds a [`NetworkView`] from one snapshot of itself, so a derived
//! view never mixes two states. Lists are in creation order, which is what makes every
//! derivation deterministic.

use crate::hash::{FastMap, FastSet};

use crate::ids::{GroupId, PeerId, PolicyId, RouteId};
use crate::model::{DnsMapping, Group, Network, Peer, Policy, Route};

#[derive(Debug, Clone)]
pub struct NetworkView<'a> {
    pub network: &'a Network,
    pub peers: Vec<&'a Peer>,
    pub groups: Vec<&'a Group>,
    pub policies: Vec<&'a Policy>,
    pub routes: Vec<&'a Route>,
    pub dns_mappings: Vec<&'a DnsMapping>,
}

/// An owned network with its contents, for tests, fixtures and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct NetworkData {
    pub network: Option<Network>,
    pub peers: Vec<Peer>,
    pub groups: Vec<Group>,
    pub policies: Vec<Policy>,
    pub routes: Vec<Route>,
    pub dns_mappings: Vec<DnsMapping>,
}

impl NetworkData {
    /// Borrows the data as a view. Panics if `network` is unset (a programming error).
    pub fn view(&self) -> NetworkView<'_> {
        NetworkView {
            network: self
                .network
                .as_ref()
                .expect("NetworkData without a network"),
            peers: self.peers.iter().collect(),
            groups: self.groups.iter().collect(),
            policies: self.policies.iter().collect(),
            routes: self.routes.iter().collect(),
            dns_mappings: self.dns_mappings.iter().collect(),
        }
    }
}

impl<'a> NetworkView<'a> {
    /// Jump peers in creation order.
    pub fn jumps(&self) -> impl Iterator<Item = &'a Peer> + '_ {
        self.peers.iter().copied().filter(|p| p.is_jump)
    }

    /// The oldest jump whose public key is known: it carries the network prefixes in regular
    /// peers' AllowedIPs and serves the DNS address they are given. A jump whose agent has
    /// not registered yet cannot be a WireGuard peer, so it cannot be the primary either.
    pub fn primary_jump(&self) -> Option<&'a Peer> {
        self.jumps().find(|j| j.public_key.is_some())
    }

    /// Lookup tables over the view, built once per derivation.
    pub fn index(&self) -> ViewIndex<'a> {
        let group_pos: FastMap<GroupId, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id, i))
            .collect();
        let mut members: FastMap<GroupId, Vec<&'a Peer>> = FastMap::default();
        for p in &self.peers {
            for g in &p.group_ids {
                members.entry(*g).or_default().push(p);
            }
        }
        ViewIndex {
            jumps: self.jumps().collect(),
            peers: self.peers.iter().map(|p| (p.id, *p)).collect(),
            groups: self.groups.iter().map(|g| (g.id, *g)).collect(),
            policies: self.policies.iter().map(|p| (p.id, *p)).collect(),
            routes: self.routes.iter().map(|r| (r.id, *r)).collect(),
            group_pos,
            members,
        }
    }
}

/// Id lookups and group membership for one view.
#[derive(Debug, Clone)]
pub struct ViewIndex<'a> {
    /// The view's jumps, in creation order: a regular peer's config is derived from them,
    /// and finding them among 10,000 peers for each of 10,000 configs is what cost.
    jumps: Vec<&'a Peer>,
    peers: FastMap<PeerId, &'a Peer>,
    groups: FastMap<GroupId, &'a Group>,
    policies: FastMap<PolicyId, &'a Policy>,
    routes: FastMap<RouteId, &'a Route>,
    group_pos: FastMap<GroupId, usize>,
    members: FastMap<GroupId, Vec<&'a Peer>>,
}

impl<'a> ViewIndex<'a> {
    /// The view's jumps in creation order ([`NetworkView::jumps`]).
    pub fn jumps(&self) -> &[&'a Peer] {
        &self.jumps
    }

    /// The view's primary jump ([`NetworkView::primary_jump`]).
    pub fn primary_jump(&self) -> Option<&'a Peer> {
        self.jumps.iter().copied().find(|j| j.public_key.is_some())
    }

    pub fn peer(&self, id: PeerId) -> Option<&'a Peer> {
        self.peers.get(&id).copied()
    }

    pub fn group(&self, id: GroupId) -> Option<&'a Group> {
        self.groups.get(&id).copied()
    }

    pub fn policy(&self, id: PolicyId) -> Option<&'a Policy> {
        self.policies.get(&id).copied()
    }

    pub fn route(&self, id: RouteId) -> Option<&'a Route> {
        self.routes.get(&id).copied()
    }

    /// Members of a group, in peer creation order.
    pub fn members(&self, id: GroupId) -> &[&'a Peer] {
        self.members.get(&id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The peer's groups ordered by priority (lower first), then creation order.
    pub fn groups_by_priority(&self, peer: &Peer) -> Vec<&'a Group> {
        let mut gs: Vec<&'a Group> = peer
            .group_ids
            .iter()
            .filter_map(|g| self.group(*g))
            .collect();
        gs.sort_by_key(|g| {
            (
                g.priority,
                self.group_pos.get(&g.id).copied().unwrap_or(usize::MAX),
            )
        });
        gs.dedup_by_key(|g| g.id);
        gs
    }

    /// Routes the peer sees through its groups: groups by priority, routes in attachment
    /// order, each route once.
    pub fn visible_routes(&self, peer: &Peer) -> Vec<&'a Route> {
        let mut seen = FastSet::default();
        self.groups_by_priority(peer)
            .into_iter()
            .flat_map(|g| g.route_ids.iter())
            .filter(|r| seen.insert(**r))
            .filter_map(|r| self.route(*r))
            .collect()
    }
}
