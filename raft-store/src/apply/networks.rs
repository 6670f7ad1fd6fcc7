//! Networks: creation with the `default` group and policy, updates including the stack-mode
//! change and the renumbering of peers it brings, and cascading deletion.

use std::net::IpAddr;

use crate::command::payload::{NetworkPatch, NetworkSpec};
use ipnet::IpNet;
use raftwire_api::ipam::AddressPool;
use raftwire_api::*;

use super::{check_version, network_mut, network_ref};
use crate::command::{ApplyResult, NetworkDefaults, Response};
use crate::invariants::{check_network, check_policy};
use crate::state::{NetworkState, State};

fn cidr_field(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ipv4_cidr",
        IpFamily::Ipv6 => "ipv6_cidr",
    }
}

pub(super) fn create(
    state: &mut State,
    id: NetworkId,
    at: Timestamp,
    spec: NetworkSpec,
    defaults: NetworkDefaults,
) -> ApplyResult {
    if state.network(id).is_some() {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("network id {id} is taken"),
        ));
    }
    let network = Network {
        id,
        name: spec.name,
        ip_stack_mode: spec.ip_stack_mode,
        ipv4_cidr: spec.ipv4_cidr,
        ipv6_cidr: spec.ipv6_cidr,
        domain: spec.domain,
        dns_servers: spec.dns_servers,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_network(state, &network)?;
    let mut ns = NetworkState::new(network.clone());
    let mut ids = defaults.rule_ids.into_iter();
    let rules = default_policy_rules(&network, || ids.next().unwrap_or(defaults.rule_ids[0]));
    let policy = Policy {
        id: defaults.policy_id,
        network_id: id,
        name: DEFAULT_GROUP.into(),
        description: "allows traffic within the network".into(),
        rules,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    let group = Group {
        id: defaults.group_id,
        network_id: id,
        name: DEFAULT_GROUP.into(),
        description: "every new peer joins this group unless told otherwise".into(),
        priority: 1000,
        policy_ids: vec![defaults.policy_id],
        route_ids: vec![],
        created_at: at,
        updated_at: at,
        version: 1,
    };
    check_policy(&ns, &policy)?;
    let seq = state.next_seq();
    ns.policies.insert(seq, policy);
    let seq = state.next_seq();
    ns.groups.insert(seq, group);
    let seq = state.next_seq();
    state.data.networks.insert(seq, ns);
    state.idx.network_names.insert(network.name.clone(), id);
    Ok(Response::Network(network))
}

pub(super) fn update(
    state: &mut State,
    id: NetworkId,
    at: Timestamp,
    if_match: Option<u64>,
    patch: NetworkPatch,
    new_rule_ids: [RuleId; 2],
) -> ApplyResult {
    let ns = network_ref(state, id)?;
    check_version(ns.network.version, if_match)?;
    let old_name = ns.network.name.clone();
    let (mode, v4, v6) = patch.resolve(&ns.network)?;
    // The network as it would be goes through the checks a new one does.
    let mut candidate = ns.network.clone();
    if let Some(name) = &patch.name {
        candidate.name = name.clone();
    }
    candidate.ip_stack_mode = mode;
    candidate.ipv4_cidr = v4;
    candidate.ipv6_cidr = v6;
    check_network(state, &candidate)?;
    let readdressed = if patch.changes_addressing(&ns.network) {
        let mut next = ns.clone();
        readdress(
            &mut next,
            mode,
            [v4.map(IpNet::V4), v6.map(IpNet::V6)],
            patch.force,
            at,
            new_rule_ids,
        )?;
        Some(next)
    } else {
        None
    };

    // Nothing below can fail: the change is committed.
    if let Some(next) = readdressed {
        *network_mut(state, id)? = next;
    }
    let ns = network_mut(state, id)?;
    let n = &mut ns.network;
    if let Some(name) = patch.name {
        n.name = name;
    }
    if let Some(domain) = patch.domain {
        n.domain = domain;
    }
    if let Some(servers) = patch.dns_servers {
        n.dns_servers = servers;
    }
    n.touch(at);
    let network = n.clone();
    if network.name != old_name {
        state.idx.network_names.remove(&old_name);
        state.idx.network_names.insert(network.name.clone(), id);
    }
    Ok(Response::Network(network))
}

/// Moves a network to a new mode and prefixes on a copy of it: releases removed
/// families, allocates added ones and renumbers changed ones, lowest-free in peer creation
/// order. Refuses to remove a family still used by routes or DNS mappings, and to change a
/// static peer's addresses unless `force`.
fn readdress(
    ns: &mut NetworkState,
    mode: IpStackMode,
    cidrs: [Option<IpNet>; 2],
    force: bool,
    at: Timestamp,
    new_rule_ids: [RuleId; 2],
) -> DomainResult<()> {
    let before: Vec<(PeerId, Vec<IpAddr>)> =
        ns.peers.iter().map(|p| (p.id, p.addresses())).collect();
    for (i, family) in IpFamily::ALL.into_iter().enumerate() {
        let old = ns.network.cidr(family);
        let new = cidrs[i];
        if old == new {
            continue;
        }
        match new {
            None => {
                let routes: Vec<String> = ns
                    .routes
                    .iter()
                    .filter(|r| r.family() == family)
                    .map(|r| r.id.to_string())
                    .collect();
                let mappings: Vec<String> = ns
                    .dns_mappings
                    .iter()
                    .filter(|m| m.family() == family)
                    .map(|m| m.id.to_string())
                    .collect();
                // Peers' additional_allowed_ips of the family stay, inert: no config carries
                // a prefix of a family the network lacks (like rules of that family).
                if !routes.is_empty() || !mappings.is_empty() {
                    return Err(DomainError::field(
                        ErrorCode::FamilyInUse,
                        "ip_stack_mode",
                        format!(
                            "{family} is still used by {} route(s) and {} DNS mapping(s)",
                            routes.len(),
                            mappings.len()
                        ),
                    )
                    .with_items(routes.into_iter().chain(mappings).collect()));
                }
                ns.peers.for_each_mut(|p| set_address(p, family, None));
                *pool_slot(ns, family) = None;
            }
            Some(cidr) => {
                let mut pool = AddressPool::new(cidr);
                ns.peers.try_for_each_mut(|p| {
                    let a = pool
                        .allocate()
                        .map_err(|e| e.into_domain(cidr_field(family)))?;
                    set_address(p, family, Some(a));
                    Ok::<(), DomainError>(())
                })?;
                *pool_slot(ns, family) = Some(pool);
                retarget_rules(ns, old, cidr, new_rule_ids[i], at)?;
            }
        }
    }
    let affected: Vec<String> = ns
        .peers
        .iter()
        .zip(&before)
        .filter(|(p, (_, old))| p.is_static() && p.addresses() != *old)
        .map(|(p, _)| p.id.to_string())
        .collect();
    if !affected.is_empty() && !force {
        return Err(DomainError::field(
            ErrorCode::StaticPeersAffected,
            "force",
            format!(
                "{} static peer(s) would get new addresses and need their config downloaded again; \
                 repeat with \"force\": true to proceed",
                affected.len()
            ),
        )
        .with_items(affected));
    }
    let mut olds = before.iter();
    ns.peers.for_each_mut(|p| {
        if olds.next().is_some_and(|(_, old)| p.addresses() != *old) {
            p.touch(at);
        }
    });
    ns.network.ip_stack_mode = mode;
    ns.network.ipv4_cidr = match cidrs[0] {
        Some(IpNet::V4(n)) => Some(n),
        _ => None,
    };
    ns.network.ipv6_cidr = match cidrs[1] {
        Some(IpNet::V6(n)) => Some(n),
        _ => None,
    };
    // A new prefix must not swallow what is routed to a peer or through a jump.
    let inside: Vec<String> = ns
        .routes
        .iter()
        .map(|r| (r.id.to_string(), r.destination_cidr))
        .chain(ns.peers.iter().flat_map(|p| {
            p.additional_allowed_ips
                .iter()
                .map(move |n| (p.id.to_string(), *n))
        }))
        .filter(|(_, net)| {
            ns.network
                .cidr(IpFamily::of_net(net))
                .is_some_and(|o| o.contains(&net.network()))
        })
        .map(|(id, _)| id)
        .collect();
    if !inside.is_empty() {
        return Err(DomainError::field(
            ErrorCode::CidrOverlap,
            "ip_stack_mode",
            "the new prefix would contain routes or peers' additional_allowed_ips (listed)",
        )
        .with_items(inside));
    }
    rebuild_addresses(ns);
    Ok(())
}

fn pool_slot(ns: &mut NetworkState, family: IpFamily) -> &mut Option<AddressPool> {
    match family {
        IpFamily::Ipv4 => &mut ns.pools.ipv4,
        IpFamily::Ipv6 => &mut ns.pools.ipv6,
    }
}

fn set_address(p: &mut Peer, family: IpFamily, a: Option<IpAddr>) {
    match (family, a) {
        (IpFamily::Ipv4, Some(IpAddr::V4(a))) => p.ipv4_address = Some(a),
        (IpFamily::Ipv6, Some(IpAddr::V6(a))) => p.ipv6_address = Some(a),
        (IpFamily::Ipv4, _) => p.ipv4_address = None,
        (IpFamily::Ipv6, _) => p.ipv6_address = None,
    }
}

/// Rules that targeted the old network prefix follow it to the new one; a family the
/// network gains is allowed by the `default` policy like the families it had.
fn retarget_rules(
    ns: &mut NetworkState,
    old: Option<IpNet>,
    new: IpNet,
    rule_id: RuleId,
    at: Timestamp,
) -> DomainResult<()> {
    ns.policies.for_each_mut(|policy| {
        let mut changed = false;
        for r in policy.rules.iter_mut() {
            if old.is_some_and(|o| r.target == RuleTarget::Cidr(o)) {
                r.target = RuleTarget::Cidr(new);
                changed = true;
            }
        }
        if old.is_none() && policy.name == DEFAULT_GROUP {
            // The family's own rule from before it was removed (if any) follows the new
            // prefix; otherwise the family gets one.
            let family = IpFamily::of_net(&new);
            let own = policy.rules.iter_mut().find(|r| {
                r.description == DEFAULT_RULE_DESCRIPTION
                    && matches!(r.target, RuleTarget::Cidr(n) if IpFamily::of_net(&n) == family)
            });
            match own {
                Some(r) => r.target = RuleTarget::Cidr(new),
                None => policy.rules.push(Rule {
                    id: rule_id,
                    direction: Direction::Output,
                    action: Action::Allow,
                    target: RuleTarget::Cidr(new),
                    description: DEFAULT_RULE_DESCRIPTION.into(),
                }),
            }
            changed = true;
        }
        if changed {
            policy.touch(at);
        }
    });
    // The rule id handed out for a new family's default rule must be free in its policy.
    for policy in ns.policies.iter() {
        check_policy(ns, policy)?;
    }
    Ok(())
}

fn rebuild_addresses(ns: &mut NetworkState) {
    ns.idx.addresses.clear();
    let entries: Vec<(IpAddr, PeerId)> = ns
        .peers
        .iter()
        .flat_map(|p| p.addresses().into_iter().map(move |a| (a, p.id)))
        .collect();
    ns.idx.addresses.extend(entries);
}

pub(super) fn delete(state: &mut State, id: NetworkId, if_match: Option<u64>) -> ApplyResult {
    check_version(network_ref(state, id)?.network.version, if_match)?;
    let ns = state
        .data
        .networks
        .remove(id)
        .ok_or_else(|| DomainError::not_found("network", id))?;
    state.idx.network_names.remove(&ns.network.name);
    for p in ns.peers.iter() {
        state.idx.peer_network.remove(&p.id);
    }
    for s in ns.secrets.values() {
        if let Some(h) = &s.agent_token_hash {
            state.idx.agent_tokens.remove(h);
        }
    }
    Ok(Response::Deleted)
}
