//! The domain objects as the replicated state holds them and the API returns them.
//!
//! These types are encoded two ways: JSON for the API and bincode for the Raft log and
//! snapshots. bincode is not self-describing, so nothing here may use `skip_serializing_if`,
//! `flatten` or internally tagged enums.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::endpoint::Endpoint;
use crate::family::{IpFamily, IpStackMode, IpVersion};
use crate::ids::{DnsMappingId, GroupId, NetworkId, PeerId, PolicyId, RouteId, RuleId};
use crate::time::Timestamp;

/// WireGuard's default port, and the default `listen_port` of jump peers.
pub const DEFAULT_LISTEN_PORT: u16 = 51820;
/// `PersistentKeepalive` towards jumps.
pub const PERSISTENT_KEEPALIVE: u16 = 25;
/// Name of the group and policy every network starts with.
pub const DEFAULT_GROUP: &str = "default";

/// Every entity carries `created_at`, `updated_at` and a `version` that starts at 1 and
/// increases with every change (`If-Match`).
pub trait Versioned {
    fn version(&self) -> u64;
    /// Records a change made at `at`.
    fn touch(&mut self, at: Timestamp);
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> u64 {
                self.version
            }
            fn touch(&mut self, at: Timestamp) {
                self.updated_at = at;
                self.version += 1;
            }
        }
    )*};
}

versioned!(Network, Peer, Group, Policy, Route, DnsMapping);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Network {
    pub id: NetworkId,
    pub name: String,
    pub ip_stack_mode: IpStackMode,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "10.0.0.0/24"))]
    pub ipv4_cidr: Option<Ipv4Net>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "fd00:1::/64"))]
    pub ipv6_cidr: Option<Ipv6Net>,
    pub domain: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub dns_servers: Vec<IpAddr>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Network {
    /// The network's prefix of `family`, if the mode carries it.
    pub fn cidr(&self, family: IpFamily) -> Option<IpNet> {
        match family {
            IpFamily::Ipv4 => self.ipv4_cidr.map(IpNet::V4),
            IpFamily::Ipv6 => self.ipv6_cidr.map(IpNet::V6),
        }
    }

    /// The network's prefixes, IPv4 first.
    pub fn cidrs(&self) -> impl Iterator<Item = IpNet> + '_ {
        IpFamily::ALL.into_iter().filter_map(|f| self.cidr(f))
    }

    pub fn default_domain(name: &str) -> String {
        format!("{name}.internal")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peer {
    pub id: PeerId,
    pub network_id: NetworkId,
    pub name: String,
    pub is_jump: bool,
    pub use_agent: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv4))]
    pub ipv4_address: Option<Ipv4Addr>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv6))]
    pub ipv6_address: Option<Ipv6Addr>,
    /// Unknown until the agent registers its key (agent peers).
    pub public_key: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "vpn.example.com:51820"))]
    pub endpoint: Option<Endpoint>,
    pub listen_port: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub additional_allowed_ips: Vec<IpNet>,
    pub group_ids: Vec<GroupId>,
    /// Jumps only: masquerade IPv6 traffic leaving for routes outside the overlay.
    pub ipv6_nat: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Peer {
    /// All addresses of the peer, IPv4 first.
    pub fn addresses(&self) -> Vec<IpAddr> {
        IpFamily::ALL
            .into_iter()
            .filter_map(|f| self.address(f))
            .collect()
    }

    pub fn address(&self, family: IpFamily) -> Option<IpAddr> {
        match family {
            IpFamily::Ipv4 => self.ipv4_address.map(IpAddr::V4),
            IpFamily::Ipv6 => self.ipv6_address.map(IpAddr::V6),
        }
    }

    /// The peer's address of `family` as a host prefix (`/32`, `/128`).
    pub fn host_net(&self, family: IpFamily) -> Option<IpNet> {
        self.address(family).map(IpNet::from)
    }

    pub fn has(&self, family: IpFamily) -> bool {
        self.address(family).is_some()
    }

    pub fn has_ipv4(&self) -> bool {
        self.ipv4_address.is_some()
    }

    pub fn has_ipv6(&self) -> bool {
        self.ipv6_address.is_some()
    }

    /// A static peer: a person downloads its config. Renumbering it breaks that config.
    pub fn is_static(&self) -> bool {
        !self.is_jump && !self.use_agent
    }

    pub fn listen_port_or_default(&self) -> u16 {
        self.listen_port.unwrap_or(DEFAULT_LISTEN_PORT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: GroupId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    /// Lower first.
    pub priority: i32,
    /// Attached policies, in order.
    pub policy_ids: Vec<PolicyId>,
    /// Attached routes, in attachment order.
    pub route_ids: Vec<RouteId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic the member peer initiates towards the target.
    Output,
    /// Traffic the target initiates towards the member peer.
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Cidr,
    Peer,
    Group,
    Any,
}

/// What a rule matches on the far side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleTarget {
    Cidr(IpNet),
    Peer(PeerId),
    Group(GroupId),
    /// `0.0.0.0/0` and `::/0`.
    Any,
}

impl RuleTarget {
    pub fn target_type(&self) -> TargetType {
        match self {
            RuleTarget::Cidr(_) => TargetType::Cidr,
            RuleTarget::Peer(_) => TargetType::Peer,
            RuleTarget::Group(_) => TargetType::Group,
            RuleTarget::Any => TargetType::Any,
        }
    }

    /// The IP version detected from the target (R13): a CIDR has its own family; peer,
    /// group and `any` targets resolve in every family the network carries.
    pub fn ip_version(&self) -> IpVersion {
        match self {
            RuleTarget::Cidr(net) => IpFamily::of_net(net).into(),
            _ => IpVersion::Both,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RuleRepr", try_from = "RuleRepr")]
pub struct Rule {
    pub id: RuleId,
    pub direction: Direction,
    pub action: Action,
    pub target: RuleTarget,
    pub description: String,
}

impl Rule {
    pub fn ip_version(&self) -> IpVersion {
        self.target.ip_version()
    }

    /// Whether the rule can match anything in a network of `mode`: a `cidr` target only if
    /// the mode has its family; `peer`, `group` and `any` targets always (they resolve in
    /// every family the network has, and every peer has an address of each). A rule left
    /// behind when its family was removed from the network is inactive: it stays, inert.
    pub fn is_active(&self, mode: IpStackMode) -> bool {
        match self.target {
            RuleTarget::Cidr(net) => mode.has(IpFamily::of_net(&net)),
            _ => true,
        }
    }
}

/// The wire form of a rule: `target_type` + `target` text, and the derived `ip_version`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Rule))]
struct RuleRepr {
    id: RuleId,
    direction: Direction,
    action: Action,
    target_type: TargetType,
    target: Option<String>,
    ip_version: IpVersion,
    description: String,
}

impl From<Rule> for RuleRepr {
    fn from(r: Rule) -> Self {
        let target = match r.target {
            RuleTarget::Cidr(n) => Some(n.to_string()),
            RuleTarget::Peer(p) => Some(p.to_string()),
            RuleTarget::Group(g) => Some(g.to_string()),
            RuleTarget::Any => None,
        };
        RuleRepr {
            id: r.id,
            direction: r.direction,
            action: r.action,
            target_type: r.target.target_type(),
            target,
            ip_version: r.ip_version(),
            description: r.description,
        }
    }
}

impl TryFrom<RuleRepr> for Rule {
    type Error = String;
    fn try_from(r: RuleRepr) -> Result<Self, String> {
        let text = || r.target.clone().ok_or("rule target is missing".to_string());
        let target = match r.target_type {
            TargetType::Cidr => RuleTarget::Cidr(text()?.parse().map_err(|e| format!("{e}"))?),
            TargetType::Peer => RuleTarget::Peer(text()?.parse().map_err(|e| format!("{e}"))?),
            TargetType::Group => RuleTarget::Group(text()?.parse().map_err(|e| format!("{e}"))?),
            TargetType::Any => RuleTarget::Any,
        };
        Ok(Rule {
            id: r.id,
            direction: r.direction,
            action: r.action,
            target,
            description: r.description,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Policy {
    pub id: PolicyId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<RuleRepr>))]
    pub rules: Vec<Rule>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// A policy as the API shows it: the stored [`Policy`], each rule with its `active` flag.
/// The flag is computed when the view is built, from the network's mode; it is never stored
/// (the stored `Rule` keeps its encoding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Policy))]
pub struct PolicyView {
    pub id: PolicyId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleView>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// A rule as the API shows it: its wire form plus whether it is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Rule))]
pub struct RuleView {
    pub id: RuleId,
    pub direction: Direction,
    pub action: Action,
    pub target_type: TargetType,
    /// The CIDR, peer id or group id; `null` for `any`.
    pub target: Option<String>,
    pub ip_version: IpVersion,
    pub description: String,
    /// `false` when the rule's target is of a family the network no longer has (it was
    /// removed after the rule was written): the rule stays, inert, and matches nothing
    /// until the family comes back. `peer`, `group` and `any` rules are always active.
    pub active: bool,
}

impl RuleView {
    pub fn new(rule: &Rule, mode: IpStackMode) -> RuleView {
        let active = rule.is_active(mode);
        let r = RuleRepr::from(rule.clone());
        RuleView {
            id: r.id,
            direction: r.direction,
            action: r.action,
            target_type: r.target_type,
            target: r.target,
            ip_version: r.ip_version,
            description: r.description,
            active,
        }
    }
}

impl PolicyView {
    /// The view of `policy` in a network of `mode`.
    pub fn new(policy: &Policy, mode: IpStackMode) -> PolicyView {
        PolicyView {
            id: policy.id,
            network_id: policy.network_id,
            name: policy.name.clone(),
            description: policy.description.clone(),
            rules: policy
                .rules
                .iter()
                .map(|r| RuleView::new(r, mode))
                .collect(),
            created_at: policy.created_at,
            updated_at: policy.updated_at,
            version: policy.version,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    pub id: RouteId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "192.168.10.0/24"))]
    pub destination_cidr: IpNet,
    /// Detected from `destination_cidr`; kept in step by [`Route::set_destination`].
    pub ip_version: IpFamily,
    pub jump_peer_id: PeerId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Route {
    pub fn family(&self) -> IpFamily {
        IpFamily::of_net(&self.destination_cidr)
    }

    pub fn set_destination(&mut self, cidr: IpNet) {
        self.destination_cidr = cidr;
        self.ip_version = IpFamily::of_net(&cidr);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsMapping {
    pub id: DnsMappingId,
    pub network_id: NetworkId,
    pub route_id: RouteId,
    /// A name relative to the network domain; the first label may be `*`.
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub ip_address: IpAddr,
    /// Detected from `ip_address`; kept in step by [`DnsMapping::set_address`].
    pub ip_version: IpFamily,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl DnsMapping {
    pub fn family(&self) -> IpFamily {
        IpFamily::of_addr(&self.ip_address)
    }

    pub fn set_address(&mut self, ip: IpAddr) {
        self.ip_address = ip;
        self.ip_version = IpFamily::of_addr(&ip);
    }
}

/// Description of the `default` policy's own rules (one per family, allowing the network's
/// prefix). A family that comes back after being removed reuses its rule rather than
/// gaining a second one next to a stale prefix.
pub const DEFAULT_RULE_DESCRIPTION: &str = "traffic within the network";

/// The rules of a network's `default` policy: allow output to the network's own prefixes.
pub fn default_policy_rules(network: &Network, mut ids: impl FnMut() -> RuleId) -> Vec<Rule> {
    network
        .cidrs()
        .map(|net| Rule {
            id: ids(),
            direction: Direction::Output,
            action: Action::Allow,
            target: RuleTarget::Cidr(net),
            description: DEFAULT_RULE_DESCRIPTION.into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_view_says_whether_the_networks_mode_has_its_family() {
        let rule = |target| Rule {
            id: RuleId::from_u128(1),
            direction: Direction::Output,
            action: Action::Allow,
            target,
            description: String::new(),
        };
        let v6 = rule(RuleTarget::Cidr("fd99::/64".parse().unwrap()));
        let policy = Policy {
            id: PolicyId::from_u128(2),
            network_id: NetworkId::from_u128(3),
            name: "web".into(),
            description: String::new(),
            rules: vec![
                v6.clone(),
                rule(RuleTarget::Any),
                rule(RuleTarget::Peer(PeerId::from_u128(4))),
            ],
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
            version: 1,
        };
        let json = serde_json::to_value(PolicyView::new(&policy, IpStackMode::Ipv4)).unwrap();
        let active: Vec<bool> = json["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["active"].as_bool().unwrap())
            .collect();
        assert_eq!(active, [false, true, true]);
        // The view is the stored rule's wire form plus the flag.
        let mut stored = serde_json::to_value(&v6).unwrap();
        stored["active"] = serde_json::Value::Bool(true);
        assert_eq!(
            serde_json::to_value(RuleView::new(&v6, IpStackMode::Dual)).unwrap(),
            stored
        );
    }
}
