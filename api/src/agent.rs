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

    #[test]
    fn unknown_peer_has_no_agent_config() {
        let b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let data = b.build();
        let view = data.view();
        assert!(agent_config(&view, &view.index(), PeerId::from_u128(999)).is_none());
    }
}
