//! WireGuard configuration of a peer (docs/properties.md: R4, P4): first as structured data
//! ([`WgConfig`], what the agent protocol carries in `interface`/`peers`), then rendered as
//! wg-quick text ([`render_wg_quick`], what `GET …/peers/{pid}/config` returns).
//!
//! The topology is hub and spoke:
//! - a **regular peer** has one `[Peer]` section per jump that has a public key, in jump
//!   creation order. A jump's AllowedIPs are its host prefixes; on the *primary* (oldest)
//!   jump only, the network prefixes; the destinations of routes through that jump that the
//!   peer sees through its groups; the jump's `additional_allowed_ips`. The interface gets
//!   `DNS =` the primary jump's addresses and the network domain as search domain.
//! - a **jump** has one `[Peer]` section per other peer that has a public key, in creation
//!   order: that peer's host prefixes and `additional_allowed_ips`, and, for another jump,
//!   the destinations of routes through it that this jump sees through its own groups. The
//!   interface gets a `ListenPort` and no DNS.
//!
//! Two invariants hold for every config:
//! - **P4**: it contains no address, prefix or route of a family the peer has no address of.
//! - **No shared prefix**: WireGuard silently hands a prefix listed by two peers to the last
//!   one, so a prefix appears in at most one section: the first (creation order) keeps it and
//!   later sections drop it. A more specific prefix inside a broader one of another section
//!   is kept (WireGuard routes by longest match).
//!
//! Everything is deterministic (creation order, never hash order), so every node renders
//! byte-identical text for the same state. A jump's config costs O(peers + routes): prefixes
//! are deduplicated through a hash set.

use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::family::IpFamily;
use crate::hash::{FastMap, FastSet};
use crate::ids::{NetworkId, PeerId};
use crate::model::{Peer, PERSISTENT_KEEPALIVE};
use crate::view::{NetworkView, ViewIndex};

/// The `[Interface]` part of a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WgInterface {
    /// Name of the WireGuard interface on the host (see [`interface_name`]).
    pub name: String,
    /// The peer's addresses as host prefixes (`/32`, `/128`), IPv4 first.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub addresses: Vec<IpNet>,
    /// Always set on jumps (default 51820); on regular peers only when configured.
    pub listen_port: Option<u16>,
}

/// One `[Peer]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WgPeer {
    pub peer_id: PeerId,
    /// The peer's name, written as a comment above the section.
    pub name: String,
    pub public_key: String,
    /// Never shares a prefix with another section of the same config.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub allowed_ips: Vec<IpNet>,
    /// `host:port`, IPv6 literals bracketed.
    pub endpoint: Option<String>,
    pub persistent_keepalive: Option<u16>,
}

/// The WireGuard configuration of one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WgConfig {
    pub interface: WgInterface,
    /// Resolvers (the primary jump's addresses of the peer's families); empty on jumps.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub dns: Vec<IpAddr>,
    /// The network domain; set exactly when `dns` is not empty.
    pub search_domain: Option<String>,
    /// Sections in creation order of the peers they describe.
    pub peers: Vec<WgPeer>,
}

/// Interface name for a network on a host: "rw" + first 10 hex digits of the network id (<= 15 bytes).
pub fn interface_name(network: NetworkId) -> String {
    // The first 10 hex digits are the top 40 bits of the UUID.
    format!("rw{:010x}", network.0.as_u128() >> 88)
}

/// The structured config of `peer` (a regular peer or a jump) in `view`. None if the peer is not in the view.
pub fn peer_config(view: &NetworkView, idx: &ViewIndex, peer: PeerId) -> Option<WgConfig> {
    // `idx` is `view.index()`: a peer it knows is in the view.
    let me = idx.peer(peer)?;
    let interface = WgInterface {
        name: interface_name(view.network.id),
        addresses: host_nets(me).collect(),
        // Jumps always listen; so does a peer others reach at its endpoint, on the port that
        // endpoint assumes when it names none.
        listen_port: if me.is_jump || me.endpoint.is_some() {
            Some(me.listen_port_or_default())
        } else {
            me.listen_port
        },
    };
    let (dns, search_domain, peers) = if me.is_jump {
        (Vec::new(), None, jump_sections(view, idx, me))
    } else {
        let dns: Vec<IpAddr> = idx
            .primary_jump()
            .map(|j| families(me).filter_map(|f| j.address(f)).collect())
            .unwrap_or_default();
        let search = (!dns.is_empty()).then(|| view.network.domain.clone());
        (dns, search, regular_sections(view, idx, me))
    };
    Some(WgConfig {
        interface,
        dns,
        search_domain,
        peers,
    })
}

/// The families `peer` has an address of, IPv4 first.
fn families(peer: &Peer) -> impl Iterator<Item = IpFamily> + '_ {
    IpFamily::ALL.into_iter().filter(|f| peer.has(*f))
}

/// The host prefixes of `peer`, IPv4 first.
fn host_nets(peer: &Peer) -> impl Iterator<Item = IpNet> + '_ {
    IpFamily::ALL.into_iter().filter_map(|f| peer.host_net(f))
}

/// Collects the AllowedIPs of one section: drops prefixes of families `me` lacks and
/// prefixes an earlier section (or this one) already lists. Host bits are cleared first,
/// as WireGuard does (`10.1.0.5/16` is `10.1.0.0/16` to it).
struct Allowed<'s> {
    me: &'s Peer,
    seen: FastSet<IpNet>,
}

impl Allowed<'_> {
    fn take(&mut self, nets: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
        nets.into_iter()
            .map(|n| n.trunc())
            .filter(|n| self.me.has(IpFamily::of_net(n)) && self.seen.insert(*n))
            .collect()
    }
}

/// Route destinations visible to `viewer` through its groups, by gateway, in visibility
/// order. Routes through `viewer` itself are left out (a jump never routes through itself).
fn routes_by_gateway(idx: &ViewIndex, viewer: &Peer) -> FastMap<PeerId, Vec<IpNet>> {
    let mut by_gateway: FastMap<PeerId, Vec<IpNet>> = FastMap::default();
    for route in idx.visible_routes(viewer) {
        if route.jump_peer_id != viewer.id {
            by_gateway
                .entry(route.jump_peer_id)
                .or_default()
                .push(route.destination_cidr);
        }
    }
    by_gateway
}

fn endpoint_of(peer: &Peer) -> Option<String> {
    peer.endpoint
        .as_ref()
        .map(|e| e.with_port(peer.listen_port_or_default()))
}

/// A regular peer's sections: one per keyed jump.
fn regular_sections(view: &NetworkView, idx: &ViewIndex, me: &Peer) -> Vec<WgPeer> {
    let routes = routes_by_gateway(idx, me);
    let primary = idx.primary_jump().map(|j| j.id);
    let network = view.network;
    let mut allowed = Allowed {
        me,
        seen: FastSet::default(),
    };
    let mut sections = Vec::new();
    for jump in idx.jumps() {
        let Some(key) = &jump.public_key else {
            continue;
        };
        let network_cidrs = (primary == Some(jump.id))
            .then(|| {
                network
                    .ip_stack_mode
                    .families()
                    .filter_map(|f| network.cidr(f))
            })
            .into_iter()
            .flatten();
        let route_cidrs = routes.get(&jump.id).into_iter().flatten().copied();
        let allowed_ips = allowed.take(
            host_nets(jump)
                .chain(network_cidrs)
                .chain(route_cidrs)
                .chain(jump.additional_allowed_ips.iter().copied()),
        );
        sections.push(WgPeer {
            peer_id: jump.id,
            name: jump.name.clone(),
            public_key: key.clone(),
            allowed_ips,
            endpoint: endpoint_of(jump),
            persistent_keepalive: Some(PERSISTENT_KEEPALIVE),
        });
    }
    sections
}

/// A jump's sections: one per other keyed peer.
fn jump_sections(view: &NetworkView, idx: &ViewIndex, me: &Peer) -> Vec<WgPeer> {
    let routes = routes_by_gateway(idx, me);
    let mut allowed = Allowed {
        me,
        seen: FastSet::with_capacity_and_hasher(view.peers.len() * 2, Default::default()),
    };
    let mut sections = Vec::with_capacity(view.peers.len());
    for other in view.peers.iter().copied() {
        if other.id == me.id {
            continue;
        }
        let Some(key) = &other.public_key else {
            continue;
        };
        let route_cidrs = other
            .is_jump
            .then(|| routes.get(&other.id))
            .flatten()
            .into_iter()
            .flatten()
            .copied();
        let allowed_ips = allowed.take(
            host_nets(other)
                .chain(other.additional_allowed_ips.iter().copied())
                .chain(route_cidrs),
        );
        sections.push(WgPeer {
            peer_id: other.id,
            name: other.name.clone(),
            public_key: key.clone(),
            allowed_ips,
            endpoint: endpoint_of(other),
            persistent_keepalive: other.is_jump.then_some(PERSISTENT_KEEPALIVE),
        });
    }
    sections
}

/// wg-quick text. `private_key` is written when known (server-generated static peers); otherwise a comment line `# PrivateKey is held by the agent on the host` is written instead.
///
/// Lines with an empty list (`Address`, `DNS`, `AllowedIPs`) are left out. Control
/// characters are stripped from every written value so no value can start a new line.
pub fn render_wg_quick(cfg: &WgConfig, private_key: Option<&str>) -> String {
    let mut out = String::with_capacity(256 + cfg.peers.len() * 160);
    out.push_str("[Interface]\n");
    match private_key {
        Some(key) => text_line(&mut out, "PrivateKey = ", key),
        None => out.push_str("# PrivateKey is held by the agent on the host\n"),
    }
    nets_line(&mut out, "Address = ", &cfg.interface.addresses);
    if let Some(port) = cfg.interface.listen_port {
        // Writing into a String cannot fail.
        let _ = writeln!(out, "ListenPort = {port}");
    }
    if !cfg.dns.is_empty() || cfg.search_domain.is_some() {
        out.push_str("DNS = ");
        for (i, addr) in cfg.dns.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{addr}");
        }
        if let Some(domain) = &cfg.search_domain {
            if !cfg.dns.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&clean(domain));
        }
        out.push('\n');
    }
    for p in &cfg.peers {
        out.push_str("\n[Peer]\n");
        text_line(&mut out, "# ", &p.name);
        text_line(&mut out, "PublicKey = ", &p.public_key);
        nets_line(&mut out, "AllowedIPs = ", &p.allowed_ips);
        if let Some(endpoint) = &p.endpoint {
            text_line(&mut out, "Endpoint = ", endpoint);
        }
        if let Some(keepalive) = p.persistent_keepalive {
            let _ = writeln!(out, "PersistentKeepalive = {keepalive}");
        }
    }
    out
}

/// `key` and `value` (without control characters), then a newline.
fn text_line(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(&clean(value));
    out.push('\n');
}

/// `key` and the prefixes separated by `", "`, then a newline; nothing for no prefixes.
fn nets_line(out: &mut String, key: &str, nets: &[IpNet]) {
    if nets.is_empty() {
        return;
    }
    out.push_str(key);
    for (i, net) in nets.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        crate::firewall::push_net(out, net);
    }
    out.push('\n');
}

/// `text` without control characters (newlines above all).
fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::family::IpStackMode;
    use crate::testkit::{test_key, Builder};
    use crate::view::NetworkData;

    fn config(data: &NetworkData, peer: PeerId) -> WgConfig {
        let view = data.view();
        let idx = view.index();
        peer_config(&view, &idx, peer).expect("peer in view")
    }

    fn text(data: &NetworkData, peer: PeerId) -> String {
        render_wg_quick(&config(data, peer), None)
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("test CIDR")).collect()
    }

    /// Ids and keys are deterministic: the Builder's first peer gets id 4 and
    /// `test_key(4)`, the next id 5 and `test_key(5)`, and so on.
    #[test]
    fn test_keys_of_the_examples() {
        assert_eq!(test_key(4), format!("E{}=", "A".repeat(42)));
        assert_eq!(test_key(5), format!("F{}=", "A".repeat(42)));
        assert_eq!(test_key(6), format!("G{}=", "A".repeat(42)));
    }

    #[test]
    fn interface_name_is_rw_and_ten_hex_digits() {
        let id: NetworkId = "3f2a9c1b-7d4e-4f60-8a1b-2c3d4e5f6a7b".parse().unwrap();
        assert_eq!(interface_name(id), "rw3f2a9c1b7d");
        assert_eq!(interface_name(NetworkId::from_u128(0xA0)), "rw0000000000");
        assert_eq!(
            interface_name(NetworkId::from_u128(u128::MAX)),
            "rwffffffffff"
        );
        assert!(interface_name(id).len() <= 15);
    }

    #[test]
    fn unknown_peer_has_no_config() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        b.jump("jump");
        let data = b.build();
        let view = data.view();
        assert_eq!(
            peer_config(&view, &view.index(), PeerId::from_u128(999)),
            None
        );
    }

    #[test]
    fn ipv4_only_network() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let jump = b.jump("jump");
        let laptop = b.peer("laptop");
        b.peer_mut(jump).endpoint = Some(Endpoint::parse("vpn.example.com").unwrap());
        let data = b.build();

        assert_eq!(
            text(&data, laptop),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.2/32
DNS = 10.0.0.1, corp.internal

[Peer]
# jump
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, 10.0.0.0/24
Endpoint = vpn.example.com:51820
PersistentKeepalive = 25
"
        );
        assert_eq!(
            text(&data, jump),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.1/32
ListenPort = 51820

[Peer]
# laptop
PublicKey = FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.2/32
"
        );
    }

    #[test]
    fn ipv6_only_network_with_a_known_private_key() {
        let mut b = Builder::new("lab", IpStackMode::Ipv6, None, Some("fd00:1::/64"));
        let jump = b.jump("gw");
        let phone = b.peer("phone");
        b.peer_mut(jump).endpoint = Some(Endpoint::parse("[2001:db8::1]").unwrap());
        b.peer_mut(jump).listen_port = Some(443);
        let data = b.build();

        let cfg = config(&data, phone);
        assert_eq!(
            render_wg_quick(&cfg, Some("cGhvbmUgcHJpdmF0ZSBrZXkgZm9yIHRlc3RzIG9ubHk=")),
            "\
[Interface]
PrivateKey = cGhvbmUgcHJpdmF0ZSBrZXkgZm9yIHRlc3RzIG9ubHk=
Address = fd00:1::2/128
DNS = fd00:1::1, lab.internal

[Peer]
# gw
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = fd00:1::1/128, fd00:1::/64
Endpoint = [2001:db8::1]:443
PersistentKeepalive = 25
"
        );
        assert_eq!(
            text(&data, jump),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = fd00:1::1/128
ListenPort = 443

[Peer]
# phone
PublicKey = FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = fd00:1::2/128
"
        );
    }

    #[test]
    fn dual_stack_network() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("jump");
        let laptop = b.peer("laptop");
        let server = b.peer("server");
        // A static peer reachable from outside, with a site behind it.
        b.peer_mut(server).endpoint = Some(Endpoint::parse("203.0.113.9:40000").unwrap());
        b.peer_mut(server).listen_port = Some(40000);
        b.peer_mut(server).additional_allowed_ips = nets(&["192.168.50.0/24", "fd50::/64"]);
        let data = b.build();

        assert_eq!(
            text(&data, laptop),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.2/32, fd00::2/128
DNS = 10.0.0.1, fd00::1, corp.internal

[Peer]
# jump
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, fd00::1/128, 10.0.0.0/24, fd00::/64
PersistentKeepalive = 25
"
        );
        assert_eq!(
            text(&data, server),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.3/32, fd00::3/128
ListenPort = 40000
DNS = 10.0.0.1, fd00::1, corp.internal

[Peer]
# jump
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, fd00::1/128, 10.0.0.0/24, fd00::/64
PersistentKeepalive = 25
"
        );
        assert_eq!(
            text(&data, jump),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.1/32, fd00::1/128
ListenPort = 51820

[Peer]
# laptop
PublicKey = FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.2/32, fd00::2/128

[Peer]
# server
PublicKey = GAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.3/32, fd00::3/128, 192.168.50.0/24, fd50::/64
Endpoint = 203.0.113.9:40000
"
        );
    }

    #[test]
    fn route_through_a_jump_with_an_ipv6_endpoint() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("jump");
        let laptop = b.peer("laptop");
        b.peer_mut(jump).endpoint = Some(Endpoint::parse("[2001:db8::1]:51820").unwrap());
        let office = b.route("office", "192.168.10.0/24", jump);
        b.attach_route(b.default_group(), office);
        let data = b.build();

        assert_eq!(
            text(&data, laptop),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.2/32, fd00::2/128
DNS = 10.0.0.1, fd00::1, corp.internal

[Peer]
# jump
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, fd00::1/128, 10.0.0.0/24, fd00::/64, 192.168.10.0/24
Endpoint = [2001:db8::1]:51820
PersistentKeepalive = 25
"
        );
        // The jump is the route's gateway: its own config carries nothing for the route.
        assert_eq!(
            text(&data, jump),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.1/32, fd00::1/128
ListenPort = 51820

[Peer]
# laptop
PublicKey = FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.2/32, fd00::2/128
"
        );
    }

    #[test]
    fn structured_config_of_a_regular_peer() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("jump");
        let laptop = b.peer("laptop");
        b.peer_mut(jump).endpoint = Some(Endpoint::parse("vpn.example.com:4500").unwrap());
        let data = b.build();
        assert_eq!(
            config(&data, laptop),
            WgConfig {
                interface: WgInterface {
                    name: "rw0000000000".into(),
                    addresses: nets(&["10.0.0.2/32", "fd00::2/128"]),
                    listen_port: None,
                },
                dns: vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
                search_domain: Some("corp.internal".into()),
                peers: vec![WgPeer {
                    peer_id: jump,
                    name: "jump".into(),
                    public_key: test_key(4),
                    allowed_ips: nets(&["10.0.0.1/32", "fd00::1/128", "10.0.0.0/24", "fd00::/64"]),
                    endpoint: Some("vpn.example.com:4500".into()),
                    persistent_keepalive: Some(25),
                }],
            }
        );
    }

    #[test]
    fn two_jumps_never_share_a_prefix() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j1 = b.jump("j1");
        let j2 = b.jump("j2");
        let laptop = b.peer("laptop");
        let r1 = b.route("via-j1", "192.168.10.0/24", j1);
        let r2 = b.route("via-j2", "192.168.10.0/24", j2);
        // More specific than r1: longest match makes it fine in another section.
        let r3 = b.route("narrow", "192.168.10.128/25", j2);
        let g = b.default_group();
        b.attach_route(g, r2);
        b.attach_route(g, r1);
        b.attach_route(g, r3);
        // The same site also listed behind both jumps.
        b.peer_mut(j1).additional_allowed_ips = nets(&["172.16.0.0/16"]);
        b.peer_mut(j2).additional_allowed_ips = nets(&["172.16.0.0/16", "172.16.0.0/16"]);
        let data = b.build();

        // Sections are in jump creation order, whatever the route attachment order.
        assert_eq!(
            text(&data, laptop),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.3/32
DNS = 10.0.0.1, corp.internal

[Peer]
# j1
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, 10.0.0.0/24, 192.168.10.0/24, 172.16.0.0/16
PersistentKeepalive = 25

[Peer]
# j2
PublicKey = FAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.2/32, 192.168.10.128/25
PersistentKeepalive = 25
"
        );
        // j1 sees both routes through its groups; the one through itself yields nothing,
        // the one through j2 goes to j2's section.
        let cfg = config(&data, j1);
        let j2_section = cfg.peers.iter().find(|p| p.peer_id == j2).unwrap();
        assert_eq!(
            j2_section.allowed_ips,
            nets(&[
                "10.0.0.2/32",
                "172.16.0.0/16",
                "192.168.10.0/24",
                "192.168.10.128/25"
            ])
        );
        assert_eq!(j2_section.persistent_keepalive, Some(25));
        let laptop_section = cfg.peers.iter().find(|p| p.peer_id == laptop).unwrap();
        assert_eq!(laptop_section.persistent_keepalive, None);
    }

    #[test]
    fn prefixes_are_compared_as_wireguard_sees_them() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let jump = b.jump("jump");
        let site_a = b.peer("site-a");
        let site_b = b.peer("site-b");
        b.peer_mut(site_a).additional_allowed_ips = nets(&["192.168.1.0/24"]);
        // Host bits set: WireGuard masks them, so this is the same prefix as site-a's.
        b.peer_mut(site_b).additional_allowed_ips = nets(&["192.168.1.77/24", "10.20.0.9/16"]);
        let data = b.build();
        let cfg = config(&data, jump);
        assert_eq!(
            cfg.peers[0].allowed_ips,
            nets(&["10.0.0.2/32", "192.168.1.0/24"])
        );
        assert_eq!(
            cfg.peers[1].allowed_ips,
            nets(&["10.0.0.3/32", "10.20.0.0/16"])
        );
    }

    #[test]
    fn route_of_missing_family_is_omitted() {
        // A dual-stack network where one peer has no IPv6 address (e.g. mid-migration) and
        // an IPv6 route that the network itself cannot carry.
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let jump = b.jump("jump");
        let legacy = b.peer("legacy");
        b.peer_mut(legacy).ipv6_address = None;
        let v4 = b.route("v4", "192.168.10.0/24", jump);
        let v6 = b.route("v6", "2001:db8:10::/48", jump);
        b.attach_route(b.default_group(), v4);
        b.attach_route(b.default_group(), v6);
        b.peer_mut(jump).additional_allowed_ips = nets(&["fd99::/64", "172.20.0.0/16"]);
        let data = b.build();

        assert_eq!(
            text(&data, legacy),
            "\
[Interface]
# PrivateKey is held by the agent on the host
Address = 10.0.0.2/32
DNS = 10.0.0.1, corp.internal

[Peer]
# jump
PublicKey = EAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
AllowedIPs = 10.0.0.1/32, 10.0.0.0/24, 192.168.10.0/24, 172.20.0.0/16
PersistentKeepalive = 25
"
        );

        // An IPv4-only network: an IPv6 route (which validation would refuse) never shows.
        let mut b = Builder::new("v4net", IpStackMode::Ipv4, Some("10.1.0.0/24"), None);
        let jump = b.jump("jump");
        let laptop = b.peer("laptop");
        let v6 = b.route("v6", "2001:db8::/32", jump);
        b.attach_route(b.default_group(), v6);
        let data = b.build();
        let cfg = config(&data, laptop);
        assert_eq!(
            cfg.peers[0].allowed_ips,
            nets(&["10.1.0.1/32", "10.1.0.0/24"])
        );
        assert!(!text(&data, laptop).contains("2001:db8"));
    }

    #[test]
    fn non_primary_jump_does_not_carry_network_cidrs() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j1 = b.jump("j1");
        let j2 = b.jump("j2");
        let laptop = b.peer("laptop");
        let data = b.build();
        let cfg = config(&data, laptop);
        assert_eq!(cfg.peers.len(), 2);
        assert_eq!(cfg.peers[0].peer_id, j1);
        assert_eq!(
            cfg.peers[0].allowed_ips,
            nets(&["10.0.0.1/32", "fd00::1/128", "10.0.0.0/24", "fd00::/64"])
        );
        assert_eq!(cfg.peers[1].peer_id, j2);
        assert_eq!(
            cfg.peers[1].allowed_ips,
            nets(&["10.0.0.2/32", "fd00::2/128"])
        );
        // DNS is served by the primary jump only.
        assert_eq!(
            cfg.dns,
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn jump_without_key_is_skipped() {
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j1 = b.jump("j1");
        let j2 = b.jump("j2");
        let laptop = b.peer("laptop");
        let unregistered = b.peer("unregistered");
        b.peer_mut(j2).public_key = None;
        b.peer_mut(unregistered).public_key = None;
        let data = b.build();

        let cfg = config(&data, laptop);
        assert_eq!(
            cfg.peers.iter().map(|p| p.peer_id).collect::<Vec<_>>(),
            vec![j1]
        );
        let cfg = config(&data, j1);
        assert_eq!(
            cfg.peers.iter().map(|p| p.peer_id).collect::<Vec<_>>(),
            vec![laptop]
        );

        // The oldest jump without a key cannot be a WireGuard peer: the next jump with a key
        // is the primary, carrying the network prefix and serving DNS.
        let mut b = Builder::new("corp", IpStackMode::Ipv4, Some("10.0.0.0/24"), None);
        let j1 = b.jump("j1");
        let j2 = b.jump("j2");
        let laptop = b.peer("laptop");
        b.peer_mut(j1).public_key = None;
        let data = b.build();
        let cfg = config(&data, laptop);
        assert_eq!(cfg.peers.len(), 1);
        assert_eq!(cfg.peers[0].peer_id, j2);
        assert_eq!(
            cfg.peers[0].allowed_ips,
            nets(&["10.0.0.2/32", "10.0.0.0/24"])
        );
        assert_eq!(cfg.dns, vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
        // The key-less jump still renders its own config (the agent holds the private key).
        assert_eq!(config(&data, j1).peers.len(), 2);
    }

    #[test]
    fn jump_config_lists_every_other_peer() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j1 = b.jump("j1");
        let mut others = vec![];
        for i in 0..5 {
            others.push(b.peer(&format!("p{i}")));
        }
        let j2 = b.jump("j2");
        others.insert(5, j2);
        b.peer_mut(j2).endpoint = Some(Endpoint::parse("198.51.100.2").unwrap());
        others.push(b.peer("p5"));
        let data = b.build();

        let cfg = config(&data, j1);
        assert_eq!(
            cfg.peers.iter().map(|p| p.peer_id).collect::<Vec<_>>(),
            others
        );
        assert_eq!(cfg.interface.listen_port, Some(51820));
        assert!(cfg.dns.is_empty() && cfg.search_domain.is_none());
        for p in &cfg.peers {
            let peer = data.peers.iter().find(|q| q.id == p.peer_id).unwrap();
            assert_eq!(p.allowed_ips, host_nets(peer).collect::<Vec<_>>());
            assert_eq!(p.public_key, peer.public_key.clone().unwrap());
            assert_eq!(p.persistent_keepalive, peer.is_jump.then_some(25));
            assert_eq!(p.endpoint.is_some(), peer.is_jump);
        }
        assert_eq!(cfg.peers[5].endpoint.as_deref(), Some("198.51.100.2:51820"));
        assert!(!text(&data, j1).contains("DNS"));
    }

    #[test]
    fn jump_sees_routes_through_other_jumps_only_via_its_own_groups() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j1 = b.jump("j1");
        let j2 = b.jump("j2");
        let _laptop = b.peer("laptop");
        let via_j2 = b.route("lab", "fd77::/64", j2);
        let hidden = b.route("hidden", "192.168.99.0/24", j2);
        let ops = b.group("ops", 10);
        b.attach_route(b.default_group(), via_j2);
        b.attach_route(ops, hidden);
        let data = b.build();
        let cfg = config(&data, j1);
        let s = cfg.peers.iter().find(|p| p.peer_id == j2).unwrap();
        assert_eq!(
            s.allowed_ips,
            nets(&["10.0.0.2/32", "fd00::2/128", "fd77::/64"])
        );
        // Within a jump's config too, a family the jump lacks is dropped.
        let mut data = data;
        if let Some(p) = data.peers.iter_mut().find(|p| p.id == j1) {
            p.ipv6_address = None;
        }
        let cfg = config(&data, j1);
        let s = cfg.peers.iter().find(|p| p.peer_id == j2).unwrap();
        assert_eq!(s.allowed_ips, nets(&["10.0.0.2/32"]));
        assert_eq!(cfg.interface.addresses, nets(&["10.0.0.1/32"]));
    }

    #[test]
    fn rendering_strips_control_characters() {
        let cfg = WgConfig {
            interface: WgInterface {
                name: "rw0000000000".into(),
                addresses: nets(&["10.0.0.2/32"]),
                listen_port: None,
            },
            dns: vec![],
            search_domain: None,
            peers: vec![WgPeer {
                peer_id: PeerId::from_u128(1),
                name: "evil\nPostUp = rm -rf /".into(),
                public_key: "k".into(),
                allowed_ips: vec![],
                endpoint: None,
                persistent_keepalive: None,
            }],
        };
        assert_eq!(
            render_wg_quick(&cfg, Some("secret\r\n")),
            "\
[Interface]
PrivateKey = secret
Address = 10.0.0.2/32

[Peer]
# evilPostUp = rm -rf /
PublicKey = k
"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// What the wg-quick text says, read back: interface entries and per-section
        /// (public key, AllowedIPs).
        struct Parsed {
            addresses: Vec<IpNet>,
            dns: Vec<String>,
            sections: Vec<(String, Vec<IpNet>)>,
        }

        fn parse(text: &str) -> Parsed {
            let mut parsed = Parsed {
                addresses: vec![],
                dns: vec![],
                sections: vec![],
            };
            let list = |v: &str| -> Vec<String> { v.split(", ").map(str::to_string).collect() };
            for l in text.lines() {
                if l == "[Peer]" {
                    parsed.sections.push((String::new(), vec![]));
                } else if let Some(v) = l.strip_prefix("Address = ") {
                    parsed.addresses = list(v).iter().map(|s| s.parse().unwrap()).collect();
                } else if let Some(v) = l.strip_prefix("DNS = ") {
                    parsed.dns = list(v);
                } else if let Some(v) = l.strip_prefix("PublicKey = ") {
                    parsed.sections.last_mut().unwrap().0 = v.to_string();
                } else if let Some(v) = l.strip_prefix("AllowedIPs = ") {
                    parsed.sections.last_mut().unwrap().1 =
                        list(v).iter().map(|s| s.parse().unwrap()).collect();
                }
            }
            parsed
        }

        const V4_NETS: [&str; 5] = [
            "192.168.10.0/24",
            "192.168.0.0/16",
            "172.16.0.0/12",
            "10.0.0.0/24",
            "203.0.113.7/32",
        ];
        const V6_NETS: [&str; 5] = [
            "fd10::/64",
            "2001:db8::/32",
            "fd00::/64",
            "fd00::5/128",
            "::/0",
        ];

        /// A pick from both pools: index < 5 is IPv4, otherwise IPv6.
        fn any_net(i: usize) -> IpNet {
            let s = if i < 5 { V4_NETS[i] } else { V6_NETS[i - 5] };
            s.parse().unwrap()
        }

        #[derive(Debug, Clone)]
        struct PeerSpec {
            /// 0: keep every family; 1: drop IPv4; 2: drop IPv6 (dual only).
            drop_family: u8,
            has_key: bool,
            in_default: bool,
            in_extra: bool,
            additional: Vec<usize>,
        }

        #[derive(Debug, Clone)]
        struct NetSpec {
            mode: IpStackMode,
            jumps: Vec<PeerSpec>,
            peers: Vec<PeerSpec>,
            /// (destination pool index, gateway jump index, attach to default, attach to extra)
            routes: Vec<(usize, usize, bool, bool)>,
        }

        fn peer_spec() -> impl Strategy<Value = PeerSpec> {
            (
                0u8..3,
                prop::bool::weighted(0.8),
                prop::bool::weighted(0.7),
                any::<bool>(),
                prop::collection::vec(0usize..10, 0..3),
            )
                .prop_map(
                    |(drop_family, has_key, in_default, in_extra, additional)| PeerSpec {
                        drop_family,
                        has_key,
                        in_default,
                        in_extra,
                        additional,
                    },
                )
        }

        fn net_spec() -> impl Strategy<Value = NetSpec> {
            (
                prop_oneof![
                    Just(IpStackMode::Ipv4),
                    Just(IpStackMode::Ipv6),
                    Just(IpStackMode::Dual)
                ],
                prop::collection::vec(peer_spec(), 1..=3),
                prop::collection::vec(peer_spec(), 0..=15),
                prop::collection::vec((0usize..10, 0usize..3, any::<bool>(), any::<bool>()), 0..6),
            )
                .prop_map(|(mode, jumps, peers, routes)| NetSpec {
                    mode,
                    jumps,
                    peers,
                    routes,
                })
        }

        fn build(spec: &NetSpec) -> NetworkData {
            let (v4, v6) = match spec.mode {
                IpStackMode::Ipv4 => (Some("10.0.0.0/24"), None),
                IpStackMode::Ipv6 => (None, Some("fd00::/64")),
                IpStackMode::Dual => (Some("10.0.0.0/24"), Some("fd00::/64")),
            };
            let mut b = Builder::new("net", spec.mode, v4, v6);
            let extra = b.group("extra", 5);
            let default = b.default_group();
            let mut jump_ids = vec![];
            let mut all = vec![];
            // Jumps and peers interleaved: jumps first, but not necessarily contiguous.
            for (i, s) in spec.jumps.iter().enumerate() {
                let id = b.jump(&format!("j{i}"));
                jump_ids.push(id);
                all.push((id, s));
                if let Some(p) = spec.peers.get(i) {
                    all.push((b.peer(&format!("p{i}")), p));
                }
            }
            for (i, s) in spec.peers.iter().enumerate().skip(spec.jumps.len()) {
                all.push((b.peer(&format!("p{i}")), s));
            }
            for (id, s) in all {
                let mode = spec.mode;
                let p = b.peer_mut(id);
                if mode == IpStackMode::Dual {
                    match s.drop_family {
                        1 => p.ipv4_address = None,
                        2 => p.ipv6_address = None,
                        _ => {}
                    }
                }
                if !s.has_key {
                    p.public_key = None;
                }
                p.additional_allowed_ips = s.additional.iter().map(|i| any_net(*i)).collect();
                if !s.in_default {
                    b.leave(id, default);
                }
                if s.in_extra {
                    b.join(id, extra);
                }
            }
            for (i, (dest, gw, to_default, to_extra)) in spec.routes.iter().enumerate() {
                let gw = jump_ids[gw % jump_ids.len()];
                let r = b.route(&format!("r{i}"), &any_net(*dest).to_string(), gw);
                if *to_default {
                    b.attach_route(default, r);
                }
                if *to_extra {
                    b.attach_route(extra, r);
                }
            }
            b.build()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn prop_p4_config_contains_only_the_peers_families(spec in net_spec()) {
                let data = build(&spec);
                let view = data.view();
                let idx = view.index();
                for me in &data.peers {
                    let cfg = peer_config(&view, &idx, me.id).expect("peer in view");
                    let text = render_wg_quick(&cfg, None);
                    prop_assert_eq!(&text, &render_wg_quick(&cfg, None));
                    // A fresh index (new hash seeds) gives byte-identical text.
                    let again = peer_config(&view, &view.index(), me.id).expect("peer in view");
                    prop_assert_eq!(&text, &render_wg_quick(&again, None));
                    let parsed = parse(&text);
                    let has = |f: IpFamily| me.has(f);

                    // P4: every Address, AllowedIP and DNS server is of one of my families.
                    prop_assert_eq!(&parsed.addresses, &host_nets(me).collect::<Vec<_>>());
                    for d in &parsed.dns {
                        if let Ok(a) = d.parse::<IpAddr>() {
                            prop_assert!(has(IpFamily::of_addr(&a)), "DNS {} in {}", a, text);
                        }
                    }
                    let mut seen = std::collections::HashSet::new();
                    for (key, allowed) in &parsed.sections {
                        for net in allowed {
                            prop_assert!(has(IpFamily::of_net(net)), "{} in {}", net, text);
                            // No prefix in two sections (nor twice in one).
                            prop_assert!(seen.insert(*net), "{} twice in {}", net, text);
                        }
                        prop_assert!(!key.is_empty());
                    }

                    // Sections: exactly the keyed jumps (regular) / every other keyed peer (jump).
                    let expected: Vec<String> = data
                        .peers
                        .iter()
                        .filter(|p| p.id != me.id && (me.is_jump || p.is_jump))
                        .filter_map(|p| p.public_key.clone())
                        .collect();
                    let keys: Vec<String> = parsed.sections.iter().map(|s| s.0.clone()).collect();
                    prop_assert_eq!(keys, expected);
                    prop_assert_eq!(cfg.interface.listen_port.is_some(), me.is_jump || me.listen_port.is_some());
                    // DNS: none on jumps; on regular peers the primary jump's addresses of
                    // the families both have, then the domain.
                    let mut dns: Vec<String> = view
                        .primary_jump()
                        .filter(|_| !me.is_jump)
                        .map(|j| me.addresses().iter().filter_map(|a| j.address(IpFamily::of_addr(a))).map(|a| a.to_string()).collect())
                        .unwrap_or_default();
                    if !dns.is_empty() {
                        dns.push(view.network.domain.clone());
                    }
                    prop_assert_eq!(&parsed.dns, &dns);
                }
            }
        }
    }
}
