//! Routes through jump peers (P7) and the DNS mappings inside them (P8). Create and update
//! check the route or mapping as it would be with the same function.

use crate::command::payload::{DnsMappingPatch, DnsMappingSpec, RoutePatch, RouteSpec};
use raftwire_api::*;

use super::{check_version, network_mut, network_ref};
use crate::command::{ApplyResult, Response};
use crate::invariants::{check_mapping, check_route};
use crate::state::{NetworkState, State};

fn route_ref(ns: &NetworkState, id: RouteId) -> DomainResult<&Route> {
    ns.routes
        .get(id)
        .ok_or_else(|| DomainError::not_found("route", id))
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: RouteId,
    at: Timestamp,
    spec: RouteSpec,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    if ns.routes.contains(id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("route id {id} is taken"),
        ));
    }
    let route = Route {
        id,
        network_id,
        name: spec.name,
        description: spec.description,
        destination_cidr: spec.destination_cidr,
        ip_version: IpFamily::of_net(&spec.destination_cidr),
        jump_peer_id: spec.jump_peer_id,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_route(ns, &route)?;
    let seq = state.next_seq();
    network_mut(state, network_id)?
        .routes
        .insert(seq, route.clone());
    Ok(Response::Route(route))
}

pub(super) fn update(
    state: &mut State,
    network_id: NetworkId,
    id: RouteId,
    at: Timestamp,
    if_match: Option<u64>,
    patch: RoutePatch,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = route_ref(ns, id)?;
    check_version(current.version, if_match)?;
    let mut next = current.clone();
    if let Some(n) = patch.name {
        next.name = n;
    }
    if let Some(d) = patch.description {
        next.description = d;
    }
    if let Some(c) = patch.destination_cidr {
        next.set_destination(c);
    }
    if let Some(j) = patch.jump_peer_id {
        next.jump_peer_id = j;
    }
    check_route(ns, &next)?;
    next.touch(at);
    if let Some(r) = network_mut(state, network_id)?.routes.get_mut(id) {
        *r = next.clone();
    }
    Ok(Response::Route(next))
}

/// Deleting a route detaches it from every group and deletes its DNS mappings (R5).
pub(super) fn delete(
    state: &mut State,
    network_id: NetworkId,
    id: RouteId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    check_version(route_ref(ns, id)?.version, if_match)?;
    let ns = network_mut(state, network_id)?;
    ns.routes.remove(id);
    ns.groups.for_each_mut(|g| g.route_ids.retain(|r| *r != id));
    let mappings: Vec<DnsMappingId> = ns
        .dns_mappings
        .iter()
        .filter(|m| m.route_id == id)
        .map(|m| m.id)
        .collect();
    for m in mappings {
        ns.dns_mappings.remove(m);
    }
    Ok(Response::Deleted)
}

fn mapping_ref(
    ns: &NetworkState,
    route_id: RouteId,
    id: DnsMappingId,
) -> DomainResult<&DnsMapping> {
    ns.dns_mappings
        .get(id)
        .filter(|m| m.route_id == route_id)
        .ok_or_else(|| DomainError::not_found("DNS mapping", id))
}

pub(super) fn create_mapping(
    state: &mut State,
    network_id: NetworkId,
    route_id: RouteId,
    id: DnsMappingId,
    at: Timestamp,
    spec: DnsMappingSpec,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    route_ref(ns, route_id)?;
    if ns.dns_mappings.contains(id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("mapping id {id} is taken"),
        ));
    }
    let m = DnsMapping {
        id,
        network_id,
        route_id,
        name: spec.name,
        ip_address: spec.ip_address,
        ip_version: IpFamily::of_addr(&spec.ip_address),
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_mapping(ns, &m)?;
    let seq = state.next_seq();
    network_mut(state, network_id)?
        .dns_mappings
        .insert(seq, m.clone());
    Ok(Response::DnsMapping(m))
}

pub(super) fn update_mapping(
    state: &mut State,
    network_id: NetworkId,
    route_id: RouteId,
    id: DnsMappingId,
    at: Timestamp,
    if_match: Option<u64>,
    patch: DnsMappingPatch,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = mapping_ref(ns, route_id, id)?;
    check_version(current.version, if_match)?;
    let mut next = current.clone();
    if let Some(n) = patch.name {
        next.name = n;
    }
    if let Some(ip) = patch.ip_address {
        next.set_address(ip);
    }
    check_mapping(ns, &next)?;
    next.touch(at);
    if let Some(m) = network_mut(state, network_id)?.dns_mappings.get_mut(id) {
        *m = next.clone();
    }
    Ok(Response::DnsMapping(next))
}

pub(super) fn delete_mapping(
    state: &mut State,
    network_id: NetworkId,
    route_id: RouteId,
    id: DnsMappingId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    check_version(mapping_ref(ns, route_id, id)?.version, if_match)?;
    network_mut(state, network_id)?.dns_mappings.remove(id);
    Ok(Response::Deleted)
}
