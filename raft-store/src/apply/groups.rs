//! Groups, their membership, and the policies and routes attached to them.

use crate::command::payload::{GroupPatch, GroupSpec};
use raftwire_api::*;

use super::{check_version, network_mut, network_ref};
use crate::command::{ApplyResult, Response};
use crate::invariants::check_group;
use crate::state::{NetworkState, State};

fn group_ref(ns: &NetworkState, id: GroupId) -> DomainResult<&Group> {
    ns.groups
        .get(id)
        .ok_or_else(|| DomainError::not_found("group", id))
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: GroupId,
    at: Timestamp,
    spec: GroupSpec,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    if ns.groups.contains(id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("group id {id} is taken"),
        ));
    }
    let group = Group {
        id,
        network_id,
        name: spec.name,
        description: spec.description,
        priority: spec.priority,
        policy_ids: vec![],
        route_ids: vec![],
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_group(ns, &group)?;
    let seq = state.next_seq();
    network_mut(state, network_id)?
        .groups
        .insert(seq, group.clone());
    Ok(Response::Group(group))
}

pub(super) fn update(
    state: &mut State,
    network_id: NetworkId,
    id: GroupId,
    at: Timestamp,
    if_match: Option<u64>,
    patch: GroupPatch,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = group_ref(ns, id)?;
    check_version(current.version, if_match)?;
    if let Some(name) = &patch.name {
        if current.name == DEFAULT_GROUP && name != DEFAULT_GROUP {
            return Err(DomainError::field(
                ErrorCode::ImmutableField,
                "name",
                "the default group keeps its name",
            ));
        }
    }
    let mut next = current.clone();
    if let Some(name) = patch.name {
        next.name = name;
    }
    if let Some(d) = patch.description {
        next.description = d;
    }
    if let Some(p) = patch.priority {
        next.priority = p;
    }
    check_group(ns, &next)?;
    next.touch(at);
    let ns = network_mut(state, network_id)?;
    if let Some(g) = ns.groups.get_mut(id) {
        *g = next.clone();
    }
    Ok(Response::Group(next))
}

pub(super) fn delete(
    state: &mut State,
    network_id: NetworkId,
    id: GroupId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let g = group_ref(ns, id)?;
    check_version(g.version, if_match)?;
    if g.name == DEFAULT_GROUP {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "the default group cannot be deleted: new peers join it",
        ));
    }
    let ns = network_mut(state, network_id)?;
    ns.groups.remove(id);
    ns.peers.for_each_mut(|p| p.group_ids.retain(|g| *g != id));
    Ok(Response::Deleted)
}

/// Adds (`member = true`) or removes a peer from a group. Idempotent.
pub(super) fn set_member(
    state: &mut State,
    network_id: NetworkId,
    group_id: GroupId,
    peer_id: PeerId,
    at: Timestamp,
    member: bool,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    group_ref(ns, group_id)?;
    let p = ns
        .peers
        .get(peer_id)
        .ok_or_else(|| DomainError::not_found("peer", peer_id))?;
    if p.group_ids.contains(&group_id) == member {
        return Ok(Response::Done);
    }
    let ns = network_mut(state, network_id)?;
    if let Some(p) = ns.peers.get_mut(peer_id) {
        if member {
            p.group_ids.push(group_id);
        } else {
            p.group_ids.retain(|g| *g != group_id);
        }
        p.touch(at);
    }
    Ok(Response::Done)
}

/// Attaches (appends, keeping order) or detaches a policy. Idempotent.
pub(super) fn set_policy(
    state: &mut State,
    network_id: NetworkId,
    group_id: GroupId,
    policy_id: PolicyId,
    at: Timestamp,
    attach: bool,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let g = group_ref(ns, group_id)?;
    if !ns.policies.contains(policy_id) {
        return Err(DomainError::not_found("policy", policy_id));
    }
    if g.policy_ids.contains(&policy_id) == attach {
        return Ok(Response::Done);
    }
    let ns = network_mut(state, network_id)?;
    if let Some(g) = ns.groups.get_mut(group_id) {
        if attach {
            g.policy_ids.push(policy_id);
        } else {
            g.policy_ids.retain(|p| *p != policy_id);
        }
        g.touch(at);
    }
    Ok(Response::Done)
}

/// Attaches or detaches a route. Idempotent. A jump does not route through itself, which
/// the derivations handle; attaching is always allowed.
pub(super) fn set_route(
    state: &mut State,
    network_id: NetworkId,
    group_id: GroupId,
    route_id: RouteId,
    at: Timestamp,
    attach: bool,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let g = group_ref(ns, group_id)?;
    if !ns.routes.contains(route_id) {
        return Err(DomainError::not_found("route", route_id));
    }
    if g.route_ids.contains(&route_id) == attach {
        return Ok(Response::Done);
    }
    let ns = network_mut(state, network_id)?;
    if let Some(g) = ns.groups.get_mut(group_id) {
        if attach {
            g.route_ids.push(route_id);
        } else {
            g.route_ids.retain(|r| *r != route_id);
        }
        g.touch(at);
    }
    Ok(Response::Done)
}
