//! The invariants of the replicated state, stated once.
//!
//! Every state `apply` builds keeps all of them, whatever the command; a command that would
//! break one is refused and changes nothing. [`State::check_consistency`] checks them all
//! over a whole state (a restored backup must pass it), and `apply` checks the object a
//! command creates or changes with the same functions of this module, on the object as it
//! would be after the command: create and update of one kind go through the same checks.
//!
//! **Networks**
//! 1. Network names are unique.
//! 2. A network has a prefix exactly for each family of its mode, and an address pool per
//!    family of its mode, on that prefix.
//! 3. Network prefixes are disjoint within a family, across all networks.
//! 4. Every network has its `default` group and its `default` policy.
//!
//! **Peers**
//! 5. Peer ids are unique across networks; peer names and public keys are unique within a
//!    network.
//! 6. A peer has exactly one address per family of the network's mode, and none of a family
//!    the mode lacks; each address lies inside the network's prefix of its family, is held
//!    for it by that family's pool, and belongs to no other peer of the network. A pool holds
//!    exactly the peers' addresses.
//! 7. No `additional_allowed_ips` of a peer lies inside the network's own prefix of its family
//!    (broader prefixes such as `0.0.0.0/0` are fine). A command that writes a peer's
//!    `additional_allowed_ips` (create, or a PATCH of that field) refuses any of a family the
//!    network lacks; those left behind when a family is removed from the network stay on the
//!    peer, inert (no configuration carries a prefix of a family the network lacks), and a
//!    family added back refuses a prefix that would contain them.
//! 8. A jump peer runs the agent; only jump peers masquerade (`ipv6_nat`).
//! 9. A peer's groups exist in its network, each listed once.
//!
//! **Groups, policies, rules**
//! 10. Group names and policy names are unique within a network.
//! 11. A group's attached policies and routes exist in its network.
//! 12. Rule ids are unique within a policy.
//! 13. A rule written by a command (policy create, policy update replacing the rules, add
//!     rule) targets a peer or group that exists in the network, and a `cidr` target is of a
//!     family the network has. `peer`, `group` and `any` targets are of every family the
//!     network has: every peer holds an address of each family of the mode, so such a target
//!     always resolves to something. Rules stored earlier may have lost their target (the
//!     peer or group was deleted: the rule matches nothing) or their family (the family was
//!     removed from the network: the rule stays, inert, and the API shows it with
//!     `"active": false`); both are allowed in the state.
//!
//! **Routes and DNS mappings**
//! 14. Route names are unique within a network. A route goes through a jump peer of its
//!     network; its destination is of a family the network's mode has (P7) and does not lie
//!     inside the network's own prefix; its `ip_version` is its destination's family.
//! 15. A DNS mapping belongs to a route of its network; its address lies inside that route's
//!     destination, so it is of the same family (P8); its `ip_version` is its address's
//!     family.
//! 16. DNS names are unique within a network across peers and mappings: no mapping has a
//!     peer's name, and two mappings share a name only if they are of different families
//!     (one `A`, one `AAAA` record).
//!
//! **Rows, tokens, counters, indexes**
//! 17. Every row of a network says it belongs to that network; peer secrets belong to
//!     existing peers.
//! 18. Agent token hashes and admin token hashes are unique, all together.
//! 19. The creation counter is at least the sequence of every row and remembered write.
//! 20. The derived indexes (names, addresses, public keys, token hashes, idempotency order)
//!     match the rows.

use std::collections::HashSet;

use ipnet::IpNet;
use raftwire_api::requests::{check_mapping_in_route, check_route_family};
use raftwire_api::validate::not_allowed;
use raftwire_api::*;

use crate::state::{NetworkState, State};

pub(crate) fn name_taken(what: &str, name: &str) -> DomainError {
    DomainError::field(
        ErrorCode::NameTaken,
        "name",
        format!("a {what} named '{name}' already exists"),
    )
}

pub(crate) fn unknown_reference(
    field: &str,
    what: &str,
    id: impl std::fmt::Display,
) -> DomainError {
    DomainError::field(
        ErrorCode::UnknownReference,
        field,
        format!("{what} {id} does not exist in this network"),
    )
}

fn cidr_field(family: IpFamily) -> &'static str {
    match family {
        IpFamily::Ipv4 => "ipv4_cidr",
        IpFamily::Ipv6 => "ipv6_cidr",
    }
}

/// Invariants 1 and 3 for `network` as it would be, against every other network.
pub(crate) fn check_network(state: &State, network: &Network) -> DomainResult<()> {
    if state
        .network_by_name(&network.name)
        .is_some_and(|o| o.network.id != network.id)
    {
        return Err(name_taken("network", &network.name));
    }
    for cidr in network.cidrs() {
        check_prefix_free(state, Some(network.id), cidr)?;
    }
    Ok(())
}

/// Invariant 3: `cidr` overlaps no prefix of another network.
pub(crate) fn check_prefix_free(
    state: &State,
    except: Option<NetworkId>,
    cidr: IpNet,
) -> DomainResult<()> {
    let family = IpFamily::of_net(&cidr);
    for other in state.networks() {
        if Some(other.network.id) == except {
            continue;
        }
        if let Some(o) = other.network.cidr(family) {
            if o.contains(&cidr.network()) || cidr.contains(&o.network()) {
                return Err(DomainError::field(
                    ErrorCode::CidrOverlap,
                    cidr_field(family),
                    format!("{cidr} overlaps {o} of network '{}'", other.network.name),
                ));
            }
        }
    }
    Ok(())
}

/// A prefix routed to a peer or a jump must not take addresses of the overlay: WireGuard
/// gives a prefix to one section only, so a prefix equal to or inside the network prefix
/// would steal peers' addresses. Broader prefixes (`0.0.0.0/0`) are fine: the overlay's
/// more specific host routes win. The prefix's family must be one the network carries.
pub(crate) fn check_outside_overlay(
    network: &Network,
    field: &str,
    net: &IpNet,
) -> DomainResult<()> {
    let family = IpFamily::of_net(net);
    let Some(overlay) = network.cidr(family) else {
        return Err(DomainError::field(
            ErrorCode::WrongFamily,
            field,
            format!(
                "{net} is {family} but network '{}' has no {family}",
                network.name
            ),
        ));
    };
    if overlay.contains(&net.network()) {
        return Err(DomainError::field(
            ErrorCode::CidrOverlap,
            field,
            format!("{net} lies inside the network's own prefix {overlay}"),
        ));
    }
    Ok(())
}

/// Invariants 5 (names, keys), 7, 8, 9 and 16 (the peer's side) for `peer` as it would be.
/// Addresses (invariant 6) are the pools' business: `apply` takes them from the pools.
/// `allowed_ips_written`: the command writes `additional_allowed_ips`, so one of a family the
/// network lacks is refused (otherwise it is an inert leftover of a removed family).
pub(crate) fn check_peer(
    ns: &NetworkState,
    peer: &Peer,
    allowed_ips_written: bool,
) -> DomainResult<()> {
    if ns.peer_by_name(&peer.name).is_some_and(|o| o.id != peer.id) {
        return Err(name_taken("peer", &peer.name));
    }
    if let Some(k) = &peer.public_key {
        if let Some(o) = ns.peer_by_public_key(k).filter(|o| o.id != peer.id) {
            return Err(DomainError::field(
                ErrorCode::InUse,
                "public_key",
                format!("peer '{}' already uses this public key", o.name),
            ));
        }
    }
    if peer.is_jump && !peer.use_agent {
        return Err(DomainError::field(
            ErrorCode::InvalidValue,
            "use_agent",
            "jump peers always run the agent",
        ));
    }
    if !peer.is_jump && peer.ipv6_nat {
        return Err(not_allowed("ipv6_nat", "only jump peers masquerade"));
    }
    for (i, net) in peer.additional_allowed_ips.iter().enumerate() {
        if allowed_ips_written || ns.network.ip_stack_mode.has(IpFamily::of_net(net)) {
            check_outside_overlay(&ns.network, &format!("additional_allowed_ips[{i}]"), net)?;
        }
    }
    // A peer name that a DNS mapping already answers for would give `name.domain` two owners.
    if ns.dns_mappings.iter().any(|m| m.name == peer.name) {
        return Err(name_taken("DNS mapping", &peer.name));
    }
    let mut seen = HashSet::new();
    for (i, g) in peer.group_ids.iter().enumerate() {
        if !ns.groups.contains(*g) {
            return Err(unknown_reference(&format!("group_ids[{i}]"), "group", g));
        }
        if !seen.insert(g) {
            return Err(DomainError::field(
                ErrorCode::InvalidValue,
                format!("group_ids[{i}]"),
                format!("group {g} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// Invariant 10 for `group` as it would be.
pub(crate) fn check_group(ns: &NetworkState, group: &Group) -> DomainResult<()> {
    if ns
        .groups
        .iter()
        .any(|g| g.name == group.name && g.id != group.id)
    {
        return Err(name_taken("group", &group.name));
    }
    Ok(())
}

/// Invariants 10 and 12 for `policy` as it would be (its rules' targets: see
/// [`check_new_rules`]).
pub(crate) fn check_policy(ns: &NetworkState, policy: &Policy) -> DomainResult<()> {
    if ns
        .policies
        .iter()
        .any(|p| p.name == policy.name && p.id != policy.id)
    {
        return Err(name_taken("policy", &policy.name));
    }
    let mut ids = HashSet::new();
    if let Some(r) = policy.rules.iter().find(|r| !ids.insert(r.id)) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("rule id {} is taken: rule ids must be unique", r.id),
        ));
    }
    Ok(())
}

/// Invariant 13 for rules a command writes: a peer or group target exists in the network
/// (400 `unknown_reference`), a `cidr` target is of a family the network has (400
/// `wrong_family`). `field(i)` names the target of the `i`-th rule.
pub(crate) fn check_new_rules(
    ns: &NetworkState,
    rules: &[Rule],
    field: impl Fn(usize) -> String,
) -> DomainResult<()> {
    for (i, r) in rules.iter().enumerate() {
        match r.target {
            RuleTarget::Peer(p) if !ns.peers.contains(p) => {
                return Err(unknown_reference(&field(i), "peer", p))
            }
            RuleTarget::Group(g) if !ns.groups.contains(g) => {
                return Err(unknown_reference(&field(i), "group", g))
            }
            RuleTarget::Cidr(net) if !r.is_active(ns.network.ip_stack_mode) => {
                let family = IpFamily::of_net(&net);
                return Err(DomainError::field(
                    ErrorCode::WrongFamily,
                    field(i),
                    format!(
                        "{net} is {family} but network '{}' has no {family}",
                        ns.network.name
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Invariant 14 for `route` as it would be, including that the DNS mappings it already has
/// stay inside its destination.
pub(crate) fn check_route(ns: &NetworkState, route: &Route) -> DomainResult<()> {
    if ns
        .routes
        .iter()
        .any(|r| r.name == route.name && r.id != route.id)
    {
        return Err(name_taken("route", &route.name));
    }
    let dest = &route.destination_cidr;
    check_route_family(&ns.network, dest)?;
    check_outside_overlay(&ns.network, "destination_cidr", dest)?;
    if route.ip_version != IpFamily::of_net(dest) {
        return Err(DomainError::field(
            ErrorCode::InvalidValue,
            "ip_version",
            format!("ip_version does not match {dest}"),
        ));
    }
    let outside: Vec<String> = ns
        .dns_mappings
        .iter()
        .filter(|m| m.route_id == route.id && !dest.contains(&m.ip_address))
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
    match ns.peers.get(route.jump_peer_id) {
        None => Err(unknown_reference(
            "jump_peer_id",
            "peer",
            route.jump_peer_id,
        )),
        Some(p) if !p.is_jump => Err(DomainError::field(
            ErrorCode::NotAJump,
            "jump_peer_id",
            format!("peer '{}' is not a jump peer", p.name),
        )),
        Some(_) => Ok(()),
    }
}

/// Invariants 15 and 16 (the mapping's side) for `mapping` as it would be.
pub(crate) fn check_mapping(ns: &NetworkState, mapping: &DnsMapping) -> DomainResult<()> {
    let Some(route) = ns.routes.get(mapping.route_id) else {
        return Err(unknown_reference("route_id", "route", mapping.route_id));
    };
    check_mapping_in_route(&route.destination_cidr, &mapping.ip_address)?;
    if mapping.ip_version != IpFamily::of_addr(&mapping.ip_address) {
        return Err(DomainError::field(
            ErrorCode::InvalidValue,
            "ip_version",
            format!("ip_version does not match {}", mapping.ip_address),
        ));
    }
    // Mapping names are unique per network and type of record they produce.
    if ns
        .dns_mappings
        .iter()
        .any(|m| m.name == mapping.name && m.family() == mapping.family() && m.id != mapping.id)
    {
        return Err(name_taken("DNS mapping", &mapping.name));
    }
    // `name.domain` of a peer answers with that peer's addresses only.
    if ns.peer_by_name(&mapping.name).is_some() {
        return Err(name_taken("peer", &mapping.name));
    }
    Ok(())
}

/// Invariant 18 for a token hash about to be given to `owner` (a peer's agent token, or a
/// new admin token when `None`): no other agent or admin token has it.
pub(crate) fn check_token_hash_free(
    state: &State,
    hash: &str,
    owner: Option<PeerId>,
) -> DomainResult<()> {
    let agent = state.idx.agent_tokens.get(hash);
    if agent.is_some_and(|p| Some(*p) != owner) || state.idx.admin_tokens.contains_key(hash) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "this token is already in use",
        ));
    }
    Ok(())
}

impl NetworkState {
    /// Every row of the network through the object checks `apply` uses (invariants 4, 7–16),
    /// naming the first broken one.
    pub(crate) fn check_objects(&self) -> Result<(), String> {
        let n = &self.network.name;
        let why = |what: &str, name: &str, e: DomainError| {
            let field = e.field.map(|f| format!(" ({f})")).unwrap_or_default();
            format!("{what} '{name}' of network '{n}'{field}: {}", e.detail)
        };
        if self.default_group().is_none() {
            return Err(format!("network '{n}' has no default group"));
        }
        if !self.policies.iter().any(|p| p.name == DEFAULT_GROUP) {
            return Err(format!("network '{n}' has no default policy"));
        }
        for p in self.peers.iter() {
            check_peer(self, p, false).map_err(|e| why("peer", &p.name, e))?;
        }
        for g in self.groups.iter() {
            check_group(self, g).map_err(|e| why("group", &g.name, e))?;
        }
        for p in self.policies.iter() {
            check_policy(self, p).map_err(|e| why("policy", &p.name, e))?;
        }
        for r in self.routes.iter() {
            check_route(self, r).map_err(|e| why("route", &r.name, e))?;
        }
        for m in self.dns_mappings.iter() {
            check_mapping(self, m).map_err(|e| why("DNS mapping", &m.name, e))?;
        }
        Ok(())
    }
}
