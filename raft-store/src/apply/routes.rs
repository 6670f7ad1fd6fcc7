//! Routes through jump peers (R7, P7) and the DNS mappings inside them (R8, P8).

use raftwire_api::requests::{check_mapping_in_route, check_route_family};

use crate::command::payload::{DnsMappingPatch, DnsMappingSpec, RoutePatch, RouteSpec};
use raftwire_api::*;

use super::{
    check_outside_overlay, check_version, name_taken, network_mut, network_ref, unknown_reference,
};
use crate::command::{ApplyResult, Response};
use crate::state::{NetworkState, State};

fn route_ref(ns: &NetworkState, id: RouteId) -> DomainResult<&Route> {
    ns.routes
        .get(id)
        .ok_or_else(|| DomainError::not_found("route", id))
}

fn check_gateway(ns: &NetworkState, jump: PeerId) -> DomainResult<()> {
    match ns.peers.get(jump) {
        None => Err(unknown_reference("jump_peer_id", "peer", jump)),
        Some(p) if !p.is_jump => Err(DomainError::field(
            ErrorCode::NotAJump,
            "jump_peer_id",
            format!("peer '{}' is not a jump peer", p.name),
        )),
        Some(_) => Ok(()),
    }
}

fn check_route_name(ns: &NetworkState, name: &str, except: Option<RouteId>) -> DomainResult<()> {
    if ns
        .routes
        .iter()
        .any(|r| r.name == name && Some(r.id) != except)
    {
        return Err(name_taken("route", name));
    }
    Ok(())
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: RouteId,
    at: Timestamp,
    spec: RouteSpec,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    check_route_name(ns, &spec.name, None)?;
    check_route_family(&ns.network, &spec.destination_cidr)?;
    check_outside_overlay(&ns.network, "destination_cidr", &spec.destination_cidr)?;
    check_gateway(ns, spec.jump_peer_id)?;
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
    check_version(route_ref(ns, id)?.version, if_match)?;
    if let Some(n) = &patch.name {
        check_route_name(ns, n, Some(id))?;
    }
    if let Some(dest) = &patch.destination_cidr {
        check_route_family(&ns.network, dest)?;
        check_outside_overlay(&ns.network, "destination_cidr", dest)?;
        let outside: Vec<String> = ns
            .dns_mappings
            .iter()
            .filter(|m| m.route_id == id && !dest.contains(&m.ip_address))
            .map(|m| m.id.to_string())
            .collect();
        if !outside.is_empty() {
            return Err(DomainError::field(
                ErrorCode::InUse,
                "destination_cidr",
                format!(
                    "{} DNS mapping(s) of this route would fall outside {dest}",
                    outside.len()
                ),
            )
            .with_items(outside));
        }
    }
    if let Some(j) = patch.jump_peer_id {
        check_gateway(ns, j)?;
    }
    let ns = network_mut(state, network_id)?;
    let r = ns
        .routes
        .get_mut(id)
        .ok_or_else(|| DomainError::not_found("route", id))?;
    if let Some(n) = patch.name {
        r.name = n;
    }
    if let Some(d) = patch.description {
        r.description = d;
    }
    if let Some(c) = patch.destination_cidr {
        r.set_destination(c);
    }
    if let Some(j) = patch.jump_peer_id {
        r.jump_peer_id = j;
    }
    r.touch(at);
    Ok(Response::Route(r.clone()))
}

/// Deleting a route detaches it from every group and deletes its DNS mappings (R5.5).
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
    for g in ns.groups.iter_mut() {
        g.route_ids.retain(|r| *r != id);
    }
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

/// Mapping names are unique per network and type of record they produce.
fn check_mapping_name(
    ns: &NetworkState,
    name: &str,
    family: IpFamily,
    except: Option<DnsMappingId>,
) -> DomainResult<()> {
    if ns
        .dns_mappings
        .iter()
        .any(|m| m.name == name && m.family() == family && Some(m.id) != except)
    {
        return Err(name_taken("DNS mapping", name));
    }
    // `name.domain` of a peer answers with that peer's addresses only (P5).
    if ns.peer_by_name(name).is_some() {
        return Err(name_taken("peer", name));
    }
    Ok(())
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
    let route = route_ref(ns, route_id)?;
    check_mapping_in_route(&route.destination_cidr, &spec.ip_address)?;
    check_mapping_name(ns, &spec.name, IpFamily::of_addr(&spec.ip_address), None)?;
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
    let ip = patch.ip_address.unwrap_or(current.ip_address);
    let name = patch.name.clone().unwrap_or_else(|| current.name.clone());
    check_mapping_in_route(&route_ref(ns, route_id)?.destination_cidr, &ip)?;
    check_mapping_name(ns, &name, IpFamily::of_addr(&ip), Some(id))?;
    let ns = network_mut(state, network_id)?;
    let m = ns
        .dns_mappings
        .get_mut(id)
        .ok_or_else(|| DomainError::not_found("DNS mapping", id))?;
    m.name = name;
    m.set_address(ip);
    m.touch(at);
    Ok(Response::DnsMapping(m.clone()))
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
