//! The whole desired configuration of one agent: WireGuard interface and peers,
//! the rendered wg-quick text, and — on jump peers — firewall rule sets, forwarding flags,
//! NAT and the DNS zone to serve. Everything is derived from one [`NetworkView`].

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dns::{network_records, DnsRecord};
use crate::firewall::{jump_firewall, jump_nat, FamilyRules, Forwarding, JumpFirewall, JumpNat};
use crate::ids::{NetworkId, PeerId};
use crate::view::{NetworkView, ViewIndex};
use crate::wireguard::{peer_config, render_wg_quick, WgConfig, WgInterface, WgPeer};

/// The rule sets of a jump, per family (`None`: the family is absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FirewallConfig {
    pub ipv4: Option<FamilyRules>,
    pub ipv6: Option<FamilyRules>,
}

/// What a jump's DNS server serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsConfig {
    /// The jump's overlay addresses: where the server listens.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub listen: Vec<IpAddr>,
    /// The network domain.
    pub zone: String,
    /// Shared: every jump of a network serves the same records, and the node renders them
    /// once for all of its jumps.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<DnsRecord>))]
    pub records: Arc<[DnsRecord]>,
    /// Where names outside the zone are forwarded.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub upstreams: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentConfig {
    pub peer_id: PeerId,
    pub network_id: NetworkId,
    pub interface: WgInterface,
    pub peers: Vec<WgPeer>,
    pub wg_quick: String,
    /// Jumps only.
    pub firewall: Option<FirewallConfig>,
    pub forwarding: Forwarding,
    /// Jumps only.
    pub dns: Option<DnsConfig>,
    /// Jumps only.
    pub nat: Option<JumpNat>,
}

/// The configuration of `peer`'s agent, or `None` if the peer is not in the view.
/// The wg-quick text carries no private key: the agent holds its own.
pub fn agent_config(view: &NetworkView, idx: &ViewIndex, peer: PeerId) -> Option<AgentConfig> {
    let p = idx.peer(peer)?;
    let wg = wireguard_part(view, idx, peer)?;
    let filter = if p.is_jump {
        Some(filter_part(view, idx, peer)?)
    } else {
        None
    };
    assemble(view, idx, peer, wg, filter, None)
}

/// Whether every regular (non-jump) peer that is the same row in both views also has the
/// same configuration in both. A regular peer's configuration is derived from the network,
/// the jumps, the groups and the routes, and its own row: never from another regular peer,
/// a policy or a DNS mapping (the property test
/// `a_regular_peers_config_changes_only_with_the_network_jumps_groups_routes_or_its_own_row`).
/// The hub relies on it to leave 10,000 regular configurations alone when a regular peer
/// joins a network: only the jumps' configurations change.
pub fn regular_inputs_equal(a: &NetworkView, b: &NetworkView) -> bool {
    a.network == b.network
        && a.groups == b.groups
        && a.routes == b.routes
        && a.jumps().eq(b.jumps())
}

/// The WireGuard part of a configuration: the interface and peers, and their wg-quick text.
pub struct WgPart {
    wg: WgConfig,
    text: String,
}

/// The filter part of a jump's configuration: its rule sets, forwarding and NAT.
pub struct FilterPart {
    firewall: JumpFirewall,
    nat: Option<JumpNat>,
}

/// `peer`'s WireGuard part, if it is in the view.
pub fn wireguard_part(view: &NetworkView, idx: &ViewIndex, peer: PeerId) -> Option<WgPart> {
    let wg = peer_config(view, idx, peer)?;
    let text = render_wg_quick(&wg, None);
    Some(WgPart { wg, text })
}

/// The filter part of the jump `peer`, if it is one.
pub fn filter_part(view: &NetworkView, idx: &ViewIndex, peer: PeerId) -> Option<FilterPart> {
    Some(FilterPart {
        firewall: jump_firewall(view, idx, peer)?,
        nat: jump_nat(view, idx, peer),
    })
}

/// Puts a configuration together from its parts, each derived from this view on its own (a
/// caller rendering several large jump configs derives the parts side by side; they are
/// what [`agent_config`] derives one after the other). `filter` is `None` for a regular
/// peer; `records` are the view's [`network_records`], derived here when not given (every
/// jump of a view has the same).
pub fn assemble(
    view: &NetworkView,
    idx: &ViewIndex,
    peer: PeerId,
    wg: WgPart,
    filter: Option<FilterPart>,
    records: Option<Arc<[DnsRecord]>>,
) -> Option<AgentConfig> {
    let p = idx.peer(peer)?;
    let WgPart { wg, text } = wg;
    let (firewall, forwarding, dns, nat) = match filter {
        Some(FilterPart { firewall: fw, nat }) => {
            let dns = DnsConfig {
                listen: p.addresses(),
                zone: view.network.domain.clone(),
                records: records.unwrap_or_else(|| network_records(view).into()),
                upstreams: view.network.dns_servers.clone(),
            };
            (
                Some(FirewallConfig {
                    ipv4: fw.ipv4,
                    ipv6: fw.ipv6,
                }),
                fw.forwarding,
                Some(dns),
                nat,
            )
        }
        None => (
            None,
            Forwarding {
                ipv4: false,
                ipv6: false,
            },
            None,
            None,
        ),
    };
    Some(AgentConfig {
        peer_id: peer,
        network_id: view.network.id,
        interface: wg.interface,
        peers: wg.peers,
        wg_quick: text,
        firewall,
        forwarding,
        dns,
        nat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::IpStackMode;
    use crate::testkit::Builder;

    #[test]
    fn jump_agent_config_carries_firewall_dns_and_forwarding_of_its_families() {
        let mut b = Builder::new("corp", IpStackMode::Ipv6, None, Some("fd00::/64"));
        let j = b.jump("jump");
        let p = b.peer("laptop");
        let data = b.build();
        let view = data.view();
        let idx = view.index();
        let cfg = agent_config(&view, &idx, j).unwrap();
        assert_eq!(
            cfg.forwarding,
            Forwarding {
                ipv4: false,
                ipv6: true
            }
        );
        let fw = cfg.firewall.as_ref().unwrap();
        assert!(fw.ipv4.is_none() && fw.ipv6.is_some());
        let dns = cfg.dns.as_ref().unwrap();
        assert_eq!(dns.zone, "corp.internal");
        assert_eq!(dns.listen, vec!["fd00::1".parse::<IpAddr>().unwrap()]);
        assert_eq!(dns.records.len(), 2);
        assert_eq!(cfg.peers.len(), 1);
        assert!(cfg.wg_quick.contains("ListenPort = 51820"));
        assert!(!cfg.wg_quick.contains("PrivateKey ="));

        let regular = agent_config(&view, &idx, p).unwrap();
        assert!(regular.firewall.is_none() && regular.dns.is_none() && regular.nat.is_none());
        assert_eq!(
            regular.forwarding,
            Forwarding {
                ipv4: false,
                ipv6: false
            }
        );
        // The whole message round-trips through JSON, as it travels on the WebSocket.
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<AgentConfig>(&json).unwrap(), cfg);
    }

    use crate::endpoint::Endpoint;
    use crate::model::{Action, Direction, RuleTarget};
    use proptest::prelude::*;

    proptest! {
        /// Changes of every kind, to anything but the watched peer's row: whenever
        /// `regular_inputs_equal` holds, the watched peer's configuration is unchanged.
        #[test]
        fn a_regular_peers_config_changes_only_with_the_network_jumps_groups_routes_or_its_own_row(
            mode in 0usize..3,
            others in 0usize..5,
            changes in proptest::collection::vec((0u8..13, 0usize..8), 1..5),
        ) {
            let (v4, v6) = [
                (Some("10.7.0.0/24"), None),
                (None, Some("fd07::/64")),
                (Some("10.7.0.0/24"), Some("fd07::/64")),
            ][mode];
            let stack = [IpStackMode::Ipv4, IpStackMode::Ipv6, IpStackMode::Dual][mode];
            let lab = ["172.16.0.0/16", "fd16::/64", "172.16.0.0/16"][mode];
            let mut b = Builder::new("dep", stack, v4, v6);
            let jump = b.jump("jump");
            let watched = b.peer("watched");
            let mut regular: Vec<_> = (0..others).map(|i| b.peer(&format!("p{i}"))).collect();
            let group = b.group("ops", 10);
            b.join(watched, group);
            let route = b.route("lab", lab, jump);
            b.attach_route(group, route);
            let spare = b.route("spare", lab, jump);
            b.route_mut(spare).destination_cidr = match mode {
                1 => "fd17::/64",
                _ => "172.17.0.0/16",
            }
            .parse()
            .unwrap();
            let before = b.clone().build();
            for (i, (what, at)) in changes.into_iter().enumerate() {
                let pick = |list: &[PeerId]| (!list.is_empty()).then(|| list[at % list.len()]);
                match what {
                    // Other regular peers: never a reason for the watched one to change.
                    0 => regular.push(b.peer(&format!("new{i}"))),
                    1 => if let Some(p) = pick(&regular) {
                        regular.retain(|q| *q != p);
                        b.remove_peer(p);
                    },
                    2 => if let Some(p) = pick(&regular) {
                        b.peer_mut(p).endpoint = Endpoint::parse(&format!("o{i}.example.net")).ok();
                    },
                    3 => if let Some(p) = pick(&regular) {
                        b.peer_mut(p).additional_allowed_ips.push(lab.parse().unwrap());
                    },
                    4 => if let Some(p) = pick(&regular) { b.join(p, group) },
                    // Policies and DNS mappings: not inputs either.
                    5 => { b.policy(&format!("pol{i}"), &[(Direction::Input, Action::Deny, RuleTarget::Any)]); }
                    6 => { b.mapping(route, &format!("host{i}"), "172.16.0.9"); }
                    // Each of these changes one input alone, and can change the config.
                    7 => b.attach_route(group, spare),
                    8 => b.peer_mut(jump).endpoint = Endpoint::parse(&format!("j{i}.example.net")).ok(),
                    9 => b.route_mut(route).destination_cidr = match mode {
                        1 => "fd18::/64",
                        _ => "172.18.0.0/16",
                    }
                    .parse()
                    .unwrap(),
                    10 => b.network_mut().domain = format!("d{i}.internal"),
                    11 => { b.jump(&format!("jump{i}")); }
                    _ => b.peer_mut(watched).listen_port = Some(40000 + i as u16),
                }
            }
            let after = b.build();
            let (va, vb) = (before.view(), after.view());
            let (ia, ib) = (va.index(), vb.index());
            if regular_inputs_equal(&va, &vb) && ia.peer(watched) == ib.peer(watched) {
                prop_assert_eq!(agent_config(&va, &ia, watched), agent_config(&vb, &ib, watched));
            }
        }
    }

    #[test]
    fn unknown_peer_has_no_agent_config() {
        let b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let data = b.build();
        let view = data.view();
        assert!(agent_config(&view, &view.index(), PeerId::from_u128(999)).is_none());
    }
}
