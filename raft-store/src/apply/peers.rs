//! Peers: creation with lowest-free (or requested) addresses per the network's mode,
//! atomic for dual stack; updates; deletion releasing every address; agent tokens and keys.

use std::net::IpAddr;
use std::sync::Arc;

use crate::command::payload::{PeerPatch, PeerSpec};
use raftwire_api::validate::not_allowed;
use raftwire_api::*;

use super::{check_version, network_mut, network_ref};
use crate::command::{ApplyResult, PeerSecretsInput, Response};
use crate::invariants::{check_peer, check_token_hash_free, unknown_reference};
use crate::state::{NetworkState, PeerSecrets, State};

fn address_field(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ipv4_address",
        IpFamily::Ipv6 => "ipv6_address",
    }
}

fn requested(
    family: IpFamily,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
) -> Option<IpAddr> {
    match family {
        IpFamily::Ipv4 => v4.map(IpAddr::V4),
        IpFamily::Ipv6 => v6.map(IpAddr::V6),
    }
}

/// A requested address of a family the network does not carry is refused.
fn check_requested_families(ns: &NetworkState, v4: bool, v6: bool) -> DomainResult<()> {
    for (family, asked) in [(IpFamily::Ipv4, v4), (IpFamily::Ipv6, v6)] {
        if asked && !ns.network.ip_stack_mode.has(family) {
            return Err(not_allowed(
                address_field(family),
                &format!("network '{}' has no {family}", ns.network.name),
            ));
        }
    }
    Ok(())
}

fn check_group_ids(ns: &NetworkState, ids: &[GroupId]) -> DomainResult<Vec<GroupId>> {
    let mut out: Vec<GroupId> = Vec::with_capacity(ids.len());
    for (i, g) in ids.iter().enumerate() {
        if !ns.groups.contains(*g) {
            return Err(unknown_reference(&format!("group_ids[{i}]"), "group", g));
        }
        if !out.contains(g) {
            out.push(*g);
        }
    }
    Ok(out)
}

/// Takes one address per family of the mode: the requested one (claimed) or the lowest free.
/// All or nothing: on failure every address taken so far is released.
fn take_addresses(
    ns: &mut NetworkState,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
) -> DomainResult<Vec<IpAddr>> {
    let families: Vec<IpFamily> = ns.network.ip_stack_mode.families().collect();
    let mut taken: Vec<IpAddr> = Vec::with_capacity(2);
    for family in families {
        let Some(pool) = ns.pools.get_mut(family) else {
            continue;
        };
        let result = match requested(family, v4, v6) {
            Some(a) => pool.claim(a).map(|_| a),
            None => pool.allocate(),
        };
        match result {
            Ok(a) => taken.push(a),
            Err(e) => {
                for a in taken {
                    if let Some(p) = ns.pools.get_mut(IpFamily::of_addr(&a)) {
                        let _ = p.release(a);
                    }
                }
                return Err(e.into_domain(address_field(family)));
            }
        }
    }
    Ok(taken)
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: PeerId,
    at: Timestamp,
    spec: PeerSpec,
    secrets: PeerSecretsInput,
) -> ApplyResult {
    if state.idx.peer_network.contains_key(&id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("peer id {id} is taken"),
        ));
    }
    let ns = network_ref(state, network_id)?;
    let public_key = spec.public_key.clone().or_else(|| {
        secrets
            .generated_keypair
            .as_ref()
            .map(|(public, _)| public.clone())
    });
    let group_ids = match &spec.group_ids {
        Some(ids) => check_group_ids(ns, ids)?,
        None => ns.default_group().map(|g| vec![g.id]).unwrap_or_default(),
    };
    let mut peer = Peer {
        id,
        network_id,
        name: spec.name,
        is_jump: spec.is_jump,
        use_agent: spec.use_agent,
        ipv4_address: None,
        ipv6_address: None,
        public_key,
        endpoint: spec.endpoint,
        listen_port: spec.listen_port,
        additional_allowed_ips: spec.additional_allowed_ips,
        group_ids,
        ipv6_nat: spec.ipv6_nat,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_peer(ns, &peer, true)?;
    check_requested_families(ns, spec.ipv4_address.is_some(), spec.ipv6_address.is_some())?;
    let agent_token_hash = secrets.agent_token_hash.clone().filter(|_| peer.use_agent);
    if let Some(h) = &agent_token_hash {
        check_token_hash_free(state, h, Some(id))?;
    }
    let addresses = take_addresses(
        network_mut(state, network_id)?,
        spec.ipv4_address,
        spec.ipv6_address,
    )?;
    let seq = state.next_seq();
    let ns = network_mut(state, network_id)?;
    for a in addresses {
        match a {
            IpAddr::V4(a) => peer.ipv4_address = Some(a),
            IpAddr::V6(a) => peer.ipv6_address = Some(a),
        }
    }
    ns.index_peer(&peer);
    let peer_secrets = PeerSecrets {
        agent_token_hash,
        private_key: secrets
            .generated_keypair
            .filter(|_| spec.public_key.is_none())
            .map(|(_, private)| private),
    };
    if peer_secrets != PeerSecrets::default() {
        ns.secrets.insert(id, Arc::new(peer_secrets.clone()));
    }
    ns.peers.insert(seq, peer.clone());
    state.idx.peer_network.insert(id, network_id);
    if let Some(h) = peer_secrets.agent_token_hash {
        state.idx.agent_tokens.insert(h, id);
    }
    Ok(Response::Peer(peer))
}

fn peer_ref(ns: &NetworkState, id: PeerId) -> DomainResult<&Peer> {
    ns.peers
        .get(id)
        .ok_or_else(|| DomainError::not_found("peer", id))
}

pub(super) fn update(
    state: &mut State,
    network_id: NetworkId,
    id: PeerId,
    at: Timestamp,
    if_match: Option<u64>,
    patch: PeerPatch,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = peer_ref(ns, id)?;
    check_version(current.version, if_match)?;
    if patch.is_jump.is_some_and(|j| j != current.is_jump) {
        return Err(DomainError::field(
            ErrorCode::ImmutableField,
            "is_jump",
            "a peer cannot become or stop being a jump; create a new peer",
        ));
    }
    // The peer as it would be, addresses aside: it goes through the checks a new peer does.
    let mut next = current.clone();
    if let Some(name) = &patch.name {
        next.name = name.clone();
    }
    if let Some(u) = patch.use_agent {
        next.use_agent = u;
    }
    if let Some(k) = &patch.public_key {
        next.public_key = k.clone();
    }
    if let Some(e) = &patch.endpoint {
        next.endpoint = e.clone();
    }
    if let Some(p) = patch.listen_port {
        next.listen_port = p;
    }
    if let Some(a) = &patch.additional_allowed_ips {
        next.additional_allowed_ips = a.clone();
    }
    if let Some(g) = patch.group_ids.as_deref() {
        next.group_ids = check_group_ids(ns, g)?;
    }
    if let Some(n) = patch.ipv6_nat {
        next.ipv6_nat = n;
    }
    check_peer(ns, &next, patch.additional_allowed_ips.is_some())?;
    check_requested_families(
        ns,
        patch.ipv4_address.is_some(),
        patch.ipv6_address.is_some(),
    )?;
    // A static peer has no agent: its agent token stops working. A server-generated
    // private key no longer matches a replaced public key.
    let revoke_token = current.use_agent && !next.use_agent;
    let drop_private_key = next.public_key != current.public_key;
    let old = current.clone();

    // Addresses: claim the requested ones first (all or nothing), then release the old ones.
    let ns = network_mut(state, network_id)?;
    let mut claimed: Vec<IpAddr> = Vec::new();
    for family in IpFamily::ALL {
        let Some(want) = requested(family, patch.ipv4_address, patch.ipv6_address) else {
            continue;
        };
        if next.address(family) == Some(want) {
            continue;
        }
        let claim = ns
            .pools
            .get_mut(family)
            .map(|p| p.claim(want))
            .unwrap_or(Ok(()));
        if let Err(e) = claim {
            for a in claimed {
                if let Some(p) = ns.pools.get_mut(IpFamily::of_addr(&a)) {
                    let _ = p.release(a);
                }
            }
            return Err(e.into_domain(address_field(family)));
        }
        claimed.push(want);
    }
    ns.unindex_peer(&old);
    for a in claimed {
        let family = IpFamily::of_addr(&a);
        if let (Some(old), Some(pool)) = (next.address(family), ns.pools.get_mut(family)) {
            let _ = pool.release(old);
        }
        match a {
            IpAddr::V4(a) => next.ipv4_address = Some(a),
            IpAddr::V6(a) => next.ipv6_address = Some(a),
        }
    }
    let mut revoked_token = None;
    if revoke_token {
        revoked_token = ns
            .secrets
            .get_mut(&id)
            .and_then(|s| Arc::make_mut(s).agent_token_hash.take());
    }
    if drop_private_key {
        if let Some(s) = ns.secrets.get_mut(&id) {
            Arc::make_mut(s).private_key = None;
        }
    }
    next.touch(at);
    ns.index_peer(&next);
    if let Some(p) = ns.peers.get_mut(id) {
        *p = next.clone();
    }
    if let Some(h) = revoked_token {
        state.idx.agent_tokens.remove(&h);
    }
    Ok(Response::Peer(next))
}

pub(super) fn delete(
    state: &mut State,
    network_id: NetworkId,
    id: PeerId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    check_version(peer_ref(ns, id)?.version, if_match)?;
    let routes: Vec<String> = ns
        .routes
        .iter()
        .filter(|r| r.jump_peer_id == id)
        .map(|r| r.id.to_string())
        .collect();
    if !routes.is_empty() {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!(
                "{} route(s) go through this jump; delete or move them first",
                routes.len()
            ),
        )
        .with_items(routes));
    }
    let ns = network_mut(state, network_id)?;
    let peer = ns
        .peers
        .remove(id)
        .ok_or_else(|| DomainError::not_found("peer", id))?;
    ns.unindex_peer(&peer);
    for a in peer.addresses() {
        if let Some(pool) = ns.pools.get_mut(IpFamily::of_addr(&a)) {
            let _ = pool.release(a);
        }
    }
    let secrets = ns.secrets.remove(&id);
    state.idx.peer_network.remove(&id);
    if let Some(h) = secrets.and_then(|s| s.agent_token_hash.clone()) {
        state.idx.agent_tokens.remove(&h);
    }
    Ok(Response::Deleted)
}

pub(super) fn rotate_token(
    state: &mut State,
    network_id: NetworkId,
    peer_id: PeerId,
    at: Timestamp,
    token_hash: String,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let peer = peer_ref(ns, peer_id)?;
    if !peer.use_agent {
        return Err(DomainError::new(
            ErrorCode::InvalidValue,
            "this peer does not use an agent, so it has no agent token",
        ));
    }
    check_token_hash_free(state, &token_hash, Some(peer_id))?;
    let ns = network_mut(state, network_id)?;
    let secrets = Arc::make_mut(ns.secrets.entry(peer_id).or_default());
    let old = secrets.agent_token_hash.replace(token_hash.clone());
    let mut peer = ns
        .peers
        .get(peer_id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("peer", peer_id))?;
    peer.touch(at);
    if let Some(p) = ns.peers.get_mut(peer_id) {
        *p = peer.clone();
    }
    if let Some(h) = old {
        state.idx.agent_tokens.remove(&h);
    }
    state.idx.agent_tokens.insert(token_hash, peer_id);
    Ok(Response::Peer(peer))
}

pub(super) fn register_key(
    state: &mut State,
    peer_id: PeerId,
    at: Timestamp,
    public_key: String,
) -> ApplyResult {
    let network_id = state
        .network_of_peer(peer_id)
        .map(|n| n.network.id)
        .ok_or_else(|| DomainError::not_found("peer", peer_id))?;
    let ns = network_ref(state, network_id)?;
    let peer = peer_ref(ns, peer_id)?;
    if !peer.use_agent {
        return Err(DomainError::new(
            ErrorCode::Forbidden,
            "only agent peers register their own key",
        ));
    }
    if peer.public_key.as_deref() == Some(public_key.as_str()) {
        return Ok(Response::Peer(peer.clone()));
    }
    let old = peer.clone();
    let mut next = peer.clone();
    next.public_key = Some(public_key);
    check_peer(ns, &next, false)?;
    let ns = network_mut(state, network_id)?;
    ns.unindex_peer(&old);
    next.touch(at);
    ns.index_peer(&next);
    if let Some(p) = ns.peers.get_mut(peer_id) {
        *p = next.clone();
    }
    Ok(Response::Peer(next))
}
