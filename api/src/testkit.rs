//! Builders for whole networks, for tests, property tests and benchmarks.
//!
//! A [`Builder`] makes a network the way the state machine does (a `default` group and a
//! `default` policy allowing traffic within the network, lowest-free addresses), with
//! deterministic ids and keys so expected outputs can be written down literally.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::family::{IpFamily, IpStackMode};
use crate::ids::*;
use crate::ipam::AddressPool;
use crate::model::*;
use crate::time::Timestamp;
use crate::view::NetworkData;

/// A deterministic, valid WireGuard public key for test peer number `n`.
pub fn test_key(n: u128) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(44);
    let mut x = n;
    for i in 0..42 {
        out.push(if i < 22 {
            B64[(x % 64) as usize] as char
        } else {
            'A'
        });
        x /= 64;
    }
    out.push('A'); // last sextet with its two low bits zero
    out.push('=');
    out
}

#[derive(Clone)]
pub struct Builder {
    data: NetworkData,
    v4: Option<AddressPool>,
    v6: Option<AddressPool>,
    next: u128,
    default_group: GroupId,
}

impl Builder {
    /// A network named `name`; `v4`/`v6` are its prefixes (give those of `mode`).
    pub fn new(name: &str, mode: IpStackMode, v4: Option<&str>, v6: Option<&str>) -> Builder {
        let parse = |s: &str| -> IpNet { s.parse().expect("test CIDR") };
        let network = Network {
            id: NetworkId::from_u128(0xA0),
            name: name.into(),
            ip_stack_mode: mode,
            ipv4_cidr: v4.map(|s| match parse(s) {
                IpNet::V4(n) => n,
                IpNet::V6(_) => panic!("{s} is not IPv4"),
            }),
            ipv6_cidr: v6.map(|s| match parse(s) {
                IpNet::V6(n) => n,
                IpNet::V4(_) => panic!("{s} is not IPv6"),
            }),
            domain: Network::default_domain(name),
            dns_servers: vec![],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        };
        let mut b = Builder {
            v4: network.cidr(IpFamily::Ipv4).map(AddressPool::new),
            v6: network.cidr(IpFamily::Ipv6).map(AddressPool::new),
            data: NetworkData::default(),
            next: 1,
            default_group: GroupId::from_u128(0),
        };
        let mut rule_n = 0u128;
        let rules = default_policy_rules(&network, || {
            rule_n += 1;
            RuleId::from_u128(0xD0 + rule_n)
        });
        b.data.network = Some(network);
        let policy = b.policy_with_rules(DEFAULT_GROUP, rules);
        b.default_group = b.group(DEFAULT_GROUP, 1000);
        b.attach_policy(b.default_group, policy);
        b
    }

    fn id(&mut self) -> u128 {
        self.next += 1;
        self.next
    }

    fn network_id(&self) -> NetworkId {
        self.data.network.as_ref().map(|n| n.id).expect("network")
    }

    pub fn default_group(&self) -> GroupId {
        self.default_group
    }

    fn add_peer(&mut self, name: &str, is_jump: bool) -> PeerId {
        let n = self.id();
        let ipv4_address = self.v4.as_mut().map(|p| match p.allocate() {
            Ok(IpAddr::V4(a)) => a,
            other => panic!("test pool: {other:?}"),
        });
        let ipv6_address = self.v6.as_mut().map(|p| match p.allocate() {
            Ok(IpAddr::V6(a)) => a,
            other => panic!("test pool: {other:?}"),
        });
        let peer = Peer {
            id: PeerId::from_u128(n),
            network_id: self.network_id(),
            name: name.into(),
            is_jump,
            use_agent: is_jump,
            ipv4_address,
            ipv6_address,
            public_key: Some(test_key(n)),
            endpoint: None,
            listen_port: is_jump.then_some(DEFAULT_LISTEN_PORT),
            additional_allowed_ips: vec![],
            group_ids: vec![self.default_group],
            ipv6_nat: false,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        };
        self.data.peers.push(peer);
        PeerId::from_u128(n)
    }

    /// A jump peer (agent, listen port 51820, in the default group).
    pub fn jump(&mut self, name: &str) -> PeerId {
        self.add_peer(name, true)
    }

    /// A regular static peer in the default group.
    pub fn peer(&mut self, name: &str) -> PeerId {
        self.add_peer(name, false)
    }

    /// Removes a peer and frees its addresses.
    pub fn remove_peer(&mut self, id: PeerId) {
        let Some(at) = self.data.peers.iter().position(|p| p.id == id) else {
            return;
        };
        let peer = self.data.peers.remove(at);
        if let (Some(pool), Some(a)) = (self.v4.as_mut(), peer.ipv4_address) {
            let _ = pool.release(IpAddr::V4(a));
        }
        if let (Some(pool), Some(a)) = (self.v6.as_mut(), peer.ipv6_address) {
            let _ = pool.release(IpAddr::V6(a));
        }
    }

    pub fn peer_mut(&mut self, id: PeerId) -> &mut Peer {
        self.data
            .peers
            .iter_mut()
            .find(|p| p.id == id)
            .expect("peer")
    }

    pub fn group(&mut self, name: &str, priority: i32) -> GroupId {
        let id = GroupId::from_u128(self.id());
        let network_id = self.network_id();
        self.data.groups.push(Group {
            id,
            network_id,
            name: name.into(),
            description: String::new(),
            priority,
            policy_ids: vec![],
            route_ids: vec![],
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        });
        id
    }

    pub fn group_mut(&mut self, id: GroupId) -> &mut Group {
        self.data
            .groups
            .iter_mut()
            .find(|g| g.id == id)
            .expect("group")
    }

    /// Adds `peer` to `group` (keeping its other groups).
    pub fn join(&mut self, peer: PeerId, group: GroupId) {
        let p = self.peer_mut(peer);
        if !p.group_ids.contains(&group) {
            p.group_ids.push(group);
        }
    }

    /// Removes `peer` from `group`.
    pub fn leave(&mut self, peer: PeerId, group: GroupId) {
        self.peer_mut(peer).group_ids.retain(|g| *g != group);
    }

    pub fn policy(&mut self, name: &str, rules: &[(Direction, Action, RuleTarget)]) -> PolicyId {
        let rules = rules
            .iter()
            .map(|(d, a, t)| Rule {
                id: RuleId::from_u128(self.id()),
                direction: *d,
                action: *a,
                target: *t,
                description: String::new(),
            })
            .collect();
        self.policy_with_rules(name, rules)
    }

    fn policy_with_rules(&mut self, name: &str, rules: Vec<Rule>) -> PolicyId {
        let id = PolicyId::from_u128(self.id());
        let network_id = self.network_id();
        self.data.policies.push(Policy {
            id,
            network_id,
            name: name.into(),
            description: String::new(),
            rules,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        });
        id
    }

    pub fn attach_policy(&mut self, group: GroupId, policy: PolicyId) {
        self.group_mut(group).policy_ids.push(policy);
    }

    /// Detaches every policy from `group` (e.g. to test with only a custom policy).
    pub fn clear_policies(&mut self, group: GroupId) {
        self.group_mut(group).policy_ids.clear();
    }

    pub fn route(&mut self, name: &str, cidr: &str, jump: PeerId) -> RouteId {
        let id = RouteId::from_u128(self.id());
        let net: IpNet = cidr.parse().expect("test CIDR");
        let network_id = self.network_id();
        self.data.routes.push(Route {
            id,
            network_id,
            name: name.into(),
            description: String::new(),
            destination_cidr: net,
            ip_version: IpFamily::of_net(&net),
            jump_peer_id: jump,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        });
        id
    }

    pub fn route_mut(&mut self, id: RouteId) -> &mut Route {
        self.data
            .routes
            .iter_mut()
            .find(|r| r.id == id)
            .expect("route")
    }

    pub fn attach_route(&mut self, group: GroupId, route: RouteId) {
        self.group_mut(group).route_ids.push(route);
    }

    pub fn mapping(&mut self, route: RouteId, name: &str, ip: &str) -> DnsMappingId {
        let id = DnsMappingId::from_u128(self.id());
        let ip: IpAddr = ip.parse().expect("test IP");
        let network_id = self.network_id();
        self.data.dns_mappings.push(DnsMapping {
            id,
            network_id,
            route_id: route,
            name: name.into(),
            ip_address: ip,
            ip_version: IpFamily::of_addr(&ip),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 1,
        });
        id
    }

    pub fn network_mut(&mut self) -> &mut Network {
        self.data.network.as_mut().expect("network")
    }

    pub fn build(self) -> NetworkData {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::is_wireguard_key;

    #[test]
    fn test_keys_are_valid_and_distinct() {
        let keys: std::collections::HashSet<_> = (0..1000).map(test_key).collect();
        assert_eq!(keys.len(), 1000);
        assert!(keys.iter().all(|k| is_wireguard_key(k)));
    }

    #[test]
    fn builder_allocates_lowest_free_in_every_family_of_the_mode() {
        let mut b = Builder::new(
            "corp",
            IpStackMode::Dual,
            Some("10.0.0.0/24"),
            Some("fd00::/64"),
        );
        let j = b.jump("jump");
        let p = b.peer("laptop");
        let data = b.build();
        let view = data.view();
        let idx = view.index();
        let (j, p) = (idx.peer(j).unwrap(), idx.peer(p).unwrap());
        assert_eq!(
            j.addresses(),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fd00::1".parse().unwrap()
            ]
        );
        assert_eq!(
            p.addresses(),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fd00::2".parse().unwrap()
            ]
        );
        assert_eq!(view.primary_jump().map(|j| j.id), Some(j.id));
    }
}
