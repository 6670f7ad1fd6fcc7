//! The payloads of [`Command`](super::Command)s: owned by the store, because they are part of
//! the Raft log format, not of the HTTP API.
//!
//! The HTTP API validates its request bodies into `raftwire_api::requests` specs and patches;
//! the node converts those into these types (`.into()`) when it builds a command. The API
//! types may gain, lose or reorder fields freely; these may not, because entries already in
//! the log (and backups carried by `RestoreState`) were encoded with them.
//!
//! bincode is not self-describing: a struct is its fields in declaration order, an enum is its
//! variant index followed by the variant's fields. So the encoding of a payload is exactly its
//! field order and field types. Rules for changing it:
//!
//! - Never reorder, retype, rename-with-another-meaning or remove a field, and never insert
//!   one in the middle: old entries would be misread (or fail to decode).
//! - `Command` variants are append-only: a new kind of write is a new variant at the end.
//! - A payload that must change becomes a new type used by a new `Command` variant (the old
//!   variant stays decodable, and `apply` converts it), or a new schema version
//!   ([`crate::codec::SCHEMA_VERSION`]) whose decoder in `codec.rs` gains a branch that reads
//!   the old layout and converts it (see `command::v1` for the version 1 layout).
//! - Every variant of every schema version has a frozen fixture under `tests/fixtures/v<N>/`
//!   (see `tests/upgrade.rs`); a fixture that stops decoding or re-encodes to other bytes
//!   means the format changed.
//!
//! The field types themselves (ids, `Timestamp`, `IpStackMode`, `Endpoint`, `ipnet` and `std`
//! address types) still come from `raftwire-api` and the standard library; their encodings
//! are covered by the same fixtures.
//!
//! Each type here has, today, exactly the fields of its `raftwire_api::requests` namesake, in
//! the same order, so the bytes of every entry written before this split are unchanged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use raftwire_api::requests as api;
use raftwire_api::{DomainResult, Endpoint, GroupId, IpStackMode, Network, PeerId};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- networks

/// A network creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub ip_stack_mode: IpStackMode,
    pub ipv4_cidr: Option<Ipv4Net>,
    pub ipv6_cidr: Option<Ipv6Net>,
    pub domain: String,
    pub dns_servers: Vec<IpAddr>,
}

/// A network change; fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPatch {
    pub name: Option<String>,
    pub ip_stack_mode: Option<IpStackMode>,
    pub ipv4_cidr: Option<Ipv4Net>,
    pub ipv6_cidr: Option<Ipv6Net>,
    pub domain: Option<String>,
    pub dns_servers: Option<Vec<IpAddr>>,
    pub force: bool,
}

impl NetworkPatch {
    /// The mode and prefixes after this change (the API's rule, shared so both sides agree):
    /// a kept family keeps its prefix unless a new one is given; an added family needs one;
    /// a removed family must not be given one.
    pub fn resolve(
        &self,
        current: &Network,
    ) -> DomainResult<(IpStackMode, Option<Ipv4Net>, Option<Ipv6Net>)> {
        self.addressing().resolve(current)
    }

    /// Whether the change touches the mode or a prefix (and so may renumber peers).
    pub fn changes_addressing(&self, current: &Network) -> bool {
        self.addressing().changes_addressing(current)
    }

    /// The addressing part of this patch as the API type, whose rules these are.
    fn addressing(&self) -> api::NetworkPatch {
        api::NetworkPatch {
            ip_stack_mode: self.ip_stack_mode,
            ipv4_cidr: self.ipv4_cidr,
            ipv6_cidr: self.ipv6_cidr,
            ..Default::default()
        }
    }
}

impl From<api::NetworkSpec> for NetworkSpec {
    fn from(s: api::NetworkSpec) -> Self {
        NetworkSpec {
            name: s.name,
            ip_stack_mode: s.ip_stack_mode,
            ipv4_cidr: s.ipv4_cidr,
            ipv6_cidr: s.ipv6_cidr,
            domain: s.domain,
            dns_servers: s.dns_servers,
        }
    }
}

impl From<api::NetworkPatch> for NetworkPatch {
    fn from(p: api::NetworkPatch) -> Self {
        NetworkPatch {
            name: p.name,
            ip_stack_mode: p.ip_stack_mode,
            ipv4_cidr: p.ipv4_cidr,
            ipv6_cidr: p.ipv6_cidr,
            domain: p.domain,
            dns_servers: p.dns_servers,
            force: p.force,
        }
    }
}

// ---------------------------------------------------------------- peers

/// A peer creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSpec {
    pub name: String,
    pub is_jump: bool,
    pub use_agent: bool,
    pub ipv4_address: Option<Ipv4Addr>,
    pub ipv6_address: Option<Ipv6Addr>,
    pub public_key: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub listen_port: Option<u16>,
    pub additional_allowed_ips: Vec<IpNet>,
    /// `None`: join the network's `default` group.
    pub group_ids: Option<Vec<GroupId>>,
    pub ipv6_nat: bool,
}

/// A peer change; `None` keeps a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPatch {
    pub name: Option<String>,
    pub is_jump: Option<bool>,
    pub use_agent: Option<bool>,
    pub ipv4_address: Option<Ipv4Addr>,
    pub ipv6_address: Option<Ipv6Addr>,
    pub public_key: Option<Option<String>>,
    pub endpoint: Option<Option<Endpoint>>,
    pub listen_port: Option<Option<u16>>,
    pub additional_allowed_ips: Option<Vec<IpNet>>,
    pub group_ids: Option<Vec<GroupId>>,
    pub ipv6_nat: Option<bool>,
}

impl From<api::PeerSpec> for PeerSpec {
    fn from(s: api::PeerSpec) -> Self {
        PeerSpec {
            name: s.name,
            is_jump: s.is_jump,
            use_agent: s.use_agent,
            ipv4_address: s.ipv4_address,
            ipv6_address: s.ipv6_address,
            public_key: s.public_key,
            endpoint: s.endpoint,
            listen_port: s.listen_port,
            additional_allowed_ips: s.additional_allowed_ips,
            group_ids: s.group_ids,
            ipv6_nat: s.ipv6_nat,
        }
    }
}

impl From<api::PeerPatch> for PeerPatch {
    fn from(p: api::PeerPatch) -> Self {
        PeerPatch {
            name: p.name,
            is_jump: p.is_jump,
            use_agent: p.use_agent,
            ipv4_address: p.ipv4_address,
            ipv6_address: p.ipv6_address,
            public_key: p.public_key,
            endpoint: p.endpoint,
            listen_port: p.listen_port,
            additional_allowed_ips: p.additional_allowed_ips,
            group_ids: p.group_ids,
            ipv6_nat: p.ipv6_nat,
        }
    }
}

// ---------------------------------------------------------------- groups

/// A group creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    pub name: String,
    pub description: String,
    pub priority: i32,
}

/// A group change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub priority: Option<i32>,
}

impl From<api::GroupSpec> for GroupSpec {
    fn from(s: api::GroupSpec) -> Self {
        GroupSpec {
            name: s.name,
            description: s.description,
            priority: s.priority,
        }
    }
}

impl From<api::GroupPatch> for GroupPatch {
    fn from(p: api::GroupPatch) -> Self {
        GroupPatch {
            name: p.name,
            description: p.description,
            priority: p.priority,
        }
    }
}

// ---------------------------------------------------------------- routes

/// A route creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    pub name: String,
    pub description: String,
    pub destination_cidr: IpNet,
    pub jump_peer_id: PeerId,
}

/// A route change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub destination_cidr: Option<IpNet>,
    pub jump_peer_id: Option<PeerId>,
}

impl From<api::RouteSpec> for RouteSpec {
    fn from(s: api::RouteSpec) -> Self {
        RouteSpec {
            name: s.name,
            description: s.description,
            destination_cidr: s.destination_cidr,
            jump_peer_id: s.jump_peer_id,
        }
    }
}

impl From<api::RoutePatch> for RoutePatch {
    fn from(p: api::RoutePatch) -> Self {
        RoutePatch {
            name: p.name,
            description: p.description,
            destination_cidr: p.destination_cidr,
            jump_peer_id: p.jump_peer_id,
        }
    }
}

// ---------------------------------------------------------------- DNS mappings

/// A DNS mapping creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsMappingSpec {
    pub name: String,
    pub ip_address: IpAddr,
}

/// A DNS mapping change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsMappingPatch {
    pub name: Option<String>,
    pub ip_address: Option<IpAddr>,
}

impl From<api::DnsMappingSpec> for DnsMappingSpec {
    fn from(s: api::DnsMappingSpec) -> Self {
        DnsMappingSpec {
            name: s.name,
            ip_address: s.ip_address,
        }
    }
}

impl From<api::DnsMappingPatch> for DnsMappingPatch {
    fn from(p: api::DnsMappingPatch) -> Self {
        DnsMappingPatch {
            name: p.name,
            ip_address: p.ip_address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes<T: Serialize>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
    }

    /// Today the payloads encode exactly like the API types they were split from.
    #[test]
    fn payloads_encode_like_the_api_types_they_came_from() {
        let spec = api::CreatePeer {
            name: Some("p".into()),
            is_jump: Some(true),
            ipv4_address: Some("10.0.0.7".into()),
            public_key: Some(raftwire_api::testkit::test_key(1)),
            endpoint: Some("h.example:51820".into()),
            additional_allowed_ips: Some(vec!["192.168.1.0/24".into()]),
            group_ids: Some(vec![GroupId::from_u128(5).to_string()]),
            ipv6_nat: Some(true),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(bytes(&PeerSpec::from(spec.clone())), bytes(&spec));
        let patch = api::UpdatePeer {
            endpoint: Some(None),
            listen_port: Some(Some(1000)),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(bytes(&PeerPatch::from(patch.clone())), bytes(&patch));
        let net = api::UpdateNetwork {
            ip_stack_mode: Some("dual".into()),
            ipv6_cidr: Some("fd00::/64".into()),
            force: Some(true),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(bytes(&NetworkPatch::from(net.clone())), bytes(&net));
    }
}
