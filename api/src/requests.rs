//! Request bodies of the HTTP API and their validation into typed specs.
//!
//! Bodies keep typed fields as text (`Option<String>`) so that every mistake becomes a
//! field-level error with a stable code instead of a generic parse failure. Unknown fields
//! are rejected. `validate` checks everything that does not depend on state; the state
//! machine checks the rest (uniqueness, overlaps, references, pools).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, Serialize};

use crate::endpoint::Endpoint;
use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::family::{IpFamily, IpStackMode};
use crate::ids::{GroupId, PeerId, RuleId};
use crate::model::{Action, Direction, Network, Rule, RuleTarget, DEFAULT_LISTEN_PORT};
use crate::validate as v;

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn each<T>(
    field: &str,
    items: &[String],
    f: impl Fn(&str, &str) -> DomainResult<T>,
) -> DomainResult<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| f(&format!("{field}[{i}]"), s))
        .collect()
}

fn parse_id<T: std::str::FromStr>(field: &str, value: &str) -> DomainResult<T> {
    value.trim().parse().map_err(|_| {
        DomainError::field(
            ErrorCode::InvalidValue,
            field,
            format!("'{value}' is not an id"),
        )
    })
}

fn parse_mode(value: &str) -> DomainResult<IpStackMode> {
    match value {
        "ipv4" => Ok(IpStackMode::Ipv4),
        "ipv6" => Ok(IpStackMode::Ipv6),
        "dual" => Ok(IpStackMode::Dual),
        _ => Err(DomainError::field(
            ErrorCode::InvalidValue,
            "ip_stack_mode",
            format!("'{value}' is not one of ipv4, ipv6, dual"),
        )),
    }
}

fn priority(value: i64) -> DomainResult<i32> {
    i32::try_from(value).map_err(|_| {
        DomainError::field(
            ErrorCode::InvalidValue,
            "priority",
            "priority must fit in 32 bits",
        )
    })
}

/// `ipv4_cidr` or its legacy alias `cidr` (R14); both at once must name the same prefix.
fn ipv4_field(ipv4_cidr: &Option<String>, cidr: &Option<String>) -> DomainResult<Option<Ipv4Net>> {
    let a = ipv4_cidr
        .as_deref()
        .map(|a| v::network_ipv4_cidr("ipv4_cidr", a))
        .transpose()?;
    let b = cidr
        .as_deref()
        .map(|b| v::network_ipv4_cidr("cidr", b))
        .transpose()?;
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(v::not_allowed(
            "cidr",
            "give the IPv4 prefix once: 'ipv4_cidr' or its legacy alias 'cidr'",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn legacy_or_ipv4(ipv4_cidr: &Option<String>, cidr: &Option<String>) -> &'static str {
    if ipv4_cidr.is_none() && cidr.is_some() {
        "cidr"
    } else {
        "ipv4_cidr"
    }
}

fn ipv6_field(ipv6_cidr: &Option<String>) -> DomainResult<Option<Ipv6Net>> {
    ipv6_cidr
        .as_deref()
        .map(|s| v::network_ipv6_cidr("ipv6_cidr", s))
        .transpose()
}

fn dns_servers(list: &[String]) -> DomainResult<Vec<IpAddr>> {
    each("dns_servers", list, v::address)
}

/// Checks that the CIDRs match the mode: present for its families, absent otherwise.
/// `v4_field` names the IPv4 field the client used (`ipv4_cidr` or the legacy `cidr`).
fn cidrs_for_mode<A, B>(
    mode: IpStackMode,
    v4: Option<A>,
    v6: Option<B>,
    v4_field: &str,
) -> DomainResult<(Option<A>, Option<B>)> {
    let check = |family: IpFamily, present: bool, field: &str| -> DomainResult<()> {
        match (mode.has(family), present) {
            (true, false) => Err(DomainError::field(
                ErrorCode::MissingField,
                field,
                format!("ip_stack_mode '{mode}' needs '{field}'"),
            )),
            (false, true) => Err(v::not_allowed(
                field,
                &format!("ip_stack_mode '{mode}' has no {family}; remove '{field}'"),
            )),
            _ => Ok(()),
        }
    };
    check(IpFamily::Ipv4, v4.is_some(), v4_field)?;
    check(IpFamily::Ipv6, v6.is_some(), "ipv6_cidr")?;
    Ok((v4, v6))
}

// ---------------------------------------------------------------- networks

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateNetwork {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "corp", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?$", max_length = 253))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<IpStackMode>))]
    pub ip_stack_mode: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "10.0.0.0/24"))]
    pub ipv4_cidr: Option<String>,
    /// Legacy alias of `ipv4_cidr` (R14).
    #[cfg_attr(feature = "openapi", schema(deprecated))]
    pub cidr: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "fd00:1::/64"))]
    pub ipv6_cidr: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?$",
            max_length = 253,
            example = "corp.internal"
        )
    )]
    pub domain: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub dns_servers: Option<Vec<String>>,
}

/// A validated network creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub ip_stack_mode: IpStackMode,
    pub ipv4_cidr: Option<Ipv4Net>,
    pub ipv6_cidr: Option<Ipv6Net>,
    pub domain: String,
    pub dns_servers: Vec<IpAddr>,
}

impl CreateNetwork {
    pub fn validate(&self) -> DomainResult<NetworkSpec> {
        let name = v::dns_name("name", v::required("name", &self.name)?)?;
        let mode = self
            .ip_stack_mode
            .as_deref()
            .map(parse_mode)
            .transpose()?
            .unwrap_or_default();
        let (ipv4_cidr, ipv6_cidr) = cidrs_for_mode(
            mode,
            ipv4_field(&self.ipv4_cidr, &self.cidr)?,
            ipv6_field(&self.ipv6_cidr)?,
            legacy_or_ipv4(&self.ipv4_cidr, &self.cidr),
        )?;
        let domain = match &self.domain {
            Some(d) => v::dns_name("domain", d)?,
            None => Network::default_domain(&name),
        };
        Ok(NetworkSpec {
            name,
            ip_stack_mode: mode,
            ipv4_cidr,
            ipv6_cidr,
            domain,
            dns_servers: dns_servers(self.dns_servers.as_deref().unwrap_or_default())?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateNetwork {
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?$",
            max_length = 253
        )
    )]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<IpStackMode>))]
    pub ip_stack_mode: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "10.0.0.0/24"))]
    pub ipv4_cidr: Option<String>,
    pub cidr: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "fd00:1::/64"))]
    pub ipv6_cidr: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\\.?$",
            max_length = 253,
            example = "corp.internal"
        )
    )]
    pub domain: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub dns_servers: Option<Vec<String>>,
    /// Renumber static peers anyway (a forced stack-mode change).
    pub force: Option<bool>,
}

/// A validated network change; fields left `None` stay as they are.
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

impl UpdateNetwork {
    pub fn validate(&self) -> DomainResult<NetworkPatch> {
        Ok(NetworkPatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::dns_name("name", n))
                .transpose()?,
            ip_stack_mode: self.ip_stack_mode.as_deref().map(parse_mode).transpose()?,
            ipv4_cidr: ipv4_field(&self.ipv4_cidr, &self.cidr)?,
            ipv6_cidr: ipv6_field(&self.ipv6_cidr)?,
            domain: self
                .domain
                .as_deref()
                .map(|d| v::dns_name("domain", d))
                .transpose()?,
            dns_servers: self.dns_servers.as_deref().map(dns_servers).transpose()?,
            force: self.force.unwrap_or(false),
        })
    }
}

impl NetworkPatch {
    /// The mode and prefixes after this change: a kept family keeps its prefix unless a new
    /// one is given; an added family needs one; a removed family must not be given one.
    pub fn resolve(
        &self,
        current: &Network,
    ) -> DomainResult<(IpStackMode, Option<Ipv4Net>, Option<Ipv6Net>)> {
        let mode = self.ip_stack_mode.unwrap_or(current.ip_stack_mode);
        let keep = |f: IpFamily| mode.has(f) && current.ip_stack_mode.has(f);
        let v4 = self
            .ipv4_cidr
            .or(current.ipv4_cidr.filter(|_| keep(IpFamily::Ipv4)));
        let v6 = self
            .ipv6_cidr
            .or(current.ipv6_cidr.filter(|_| keep(IpFamily::Ipv6)));
        let (v4, v6) = cidrs_for_mode(mode, v4, v6, "ipv4_cidr")?;
        Ok((mode, v4, v6))
    }

    /// Whether the change touches the mode or a prefix (and so may renumber peers).
    pub fn changes_addressing(&self, current: &Network) -> bool {
        self.ip_stack_mode
            .is_some_and(|m| m != current.ip_stack_mode)
            || self.ipv4_cidr.is_some_and(|c| Some(c) != current.ipv4_cidr)
            || self.ipv6_cidr.is_some_and(|c| Some(c) != current.ipv6_cidr)
    }
}

// ---------------------------------------------------------------- peers

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePeer {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "laptop", pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: Option<String>,
    pub is_jump: Option<bool>,
    pub use_agent: Option<bool>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv4))]
    pub ipv4_address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv6))]
    pub ipv6_address: Option<String>,
    pub public_key: Option<String>,
    #[cfg_attr(feature = "openapi", schema(example = "vpn.example.com:51820"))]
    pub endpoint: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub listen_port: Option<i64>,
    pub additional_allowed_ips: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<GroupId>>))]
    pub group_ids: Option<Vec<String>>,
    pub ipv6_nat: Option<bool>,
}

/// A validated peer creation.
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

impl CreatePeer {
    pub fn validate(&self) -> DomainResult<PeerSpec> {
        let name = v::label("name", v::required("name", &self.name)?)?;
        let is_jump = self.is_jump.unwrap_or(false);
        let use_agent = match (is_jump, self.use_agent) {
            (true, Some(false)) => {
                return Err(DomainError::field(
                    ErrorCode::InvalidValue,
                    "use_agent",
                    "jump peers always run the agent",
                ))
            }
            (true, _) => true,
            (false, u) => u.unwrap_or(false),
        };
        if !is_jump && self.ipv6_nat == Some(true) {
            return Err(v::not_allowed("ipv6_nat", "only jump peers masquerade"));
        }
        let listen_port = match self.listen_port {
            Some(p) => Some(v::port("listen_port", p)?),
            None if is_jump => Some(DEFAULT_LISTEN_PORT),
            None => None,
        };
        Ok(PeerSpec {
            name,
            is_jump,
            use_agent,
            ipv4_address: self
                .ipv4_address
                .as_deref()
                .map(|a| v::ipv4_address("ipv4_address", a))
                .transpose()?,
            ipv6_address: self
                .ipv6_address
                .as_deref()
                .map(|a| v::ipv6_address("ipv6_address", a))
                .transpose()?,
            public_key: self
                .public_key
                .as_deref()
                .map(|k| v::wireguard_key("public_key", k))
                .transpose()?,
            endpoint: self
                .endpoint
                .as_deref()
                .map(|e| Endpoint::parse_field("endpoint", e))
                .transpose()?,
            listen_port,
            additional_allowed_ips: each(
                "additional_allowed_ips",
                self.additional_allowed_ips.as_deref().unwrap_or_default(),
                v::cidr,
            )?,
            group_ids: self
                .group_ids
                .as_deref()
                .map(|g| each("group_ids", g, parse_id))
                .transpose()?,
            ipv6_nat: self.ipv6_nat.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePeer {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: Option<String>,
    /// Accepted only when unchanged: jump-ness is fixed at creation.
    pub is_jump: Option<bool>,
    pub use_agent: Option<bool>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv4))]
    pub ipv4_address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Ipv6))]
    pub ipv6_address: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub public_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "vpn.example.com:51820"))]
    pub endpoint: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 1, maximum = 65535))]
    pub listen_port: Option<Option<i64>>,
    pub additional_allowed_ips: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<GroupId>>))]
    pub group_ids: Option<Vec<String>>,
    pub ipv6_nat: Option<bool>,
}

/// A validated peer change; `None` keeps a field, `Some(None)` clears a nullable one.
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

impl UpdatePeer {
    pub fn validate(&self) -> DomainResult<PeerPatch> {
        Ok(PeerPatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::label("name", n))
                .transpose()?,
            is_jump: self.is_jump,
            use_agent: self.use_agent,
            ipv4_address: self
                .ipv4_address
                .as_deref()
                .map(|a| v::ipv4_address("ipv4_address", a))
                .transpose()?,
            ipv6_address: self
                .ipv6_address
                .as_deref()
                .map(|a| v::ipv6_address("ipv6_address", a))
                .transpose()?,
            public_key: self
                .public_key
                .as_ref()
                .map(|k| {
                    k.as_deref()
                        .map(|k| v::wireguard_key("public_key", k))
                        .transpose()
                })
                .transpose()?,
            endpoint: self
                .endpoint
                .as_ref()
                .map(|e| {
                    e.as_deref()
                        .map(|e| Endpoint::parse_field("endpoint", e))
                        .transpose()
                })
                .transpose()?,
            listen_port: self
                .listen_port
                .map(|p| p.map(|p| v::port("listen_port", p)).transpose())
                .transpose()?,
            additional_allowed_ips: self
                .additional_allowed_ips
                .as_deref()
                .map(|l| each("additional_allowed_ips", l, v::cidr))
                .transpose()?,
            group_ids: self
                .group_ids
                .as_deref()
                .map(|g| each("group_ids", g, parse_id))
                .transpose()?,
            ipv6_nat: self.ipv6_nat,
        })
    }
}

// ---------------------------------------------------------------- groups

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: Option<String>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = -2147483648, maximum = 2147483647))]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    pub name: String,
    pub description: String,
    pub priority: i32,
}

impl CreateGroup {
    pub fn validate(&self) -> DomainResult<GroupSpec> {
        Ok(GroupSpec {
            name: v::label("name", v::required("name", &self.name)?)?,
            description: self.description.clone().unwrap_or_default(),
            priority: self.priority.map(priority).transpose()?.unwrap_or(100),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: Option<String>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(minimum = -2147483648, maximum = 2147483647))]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub priority: Option<i32>,
}

impl UpdateGroup {
    pub fn validate(&self) -> DomainResult<GroupPatch> {
        Ok(GroupPatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::label("name", n))
                .transpose()?,
            description: self.description.clone(),
            priority: self.priority.map(priority).transpose()?,
        })
    }
}

// ---------------------------------------------------------------- policies and rules

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    #[cfg_attr(feature = "openapi", schema(value_type = Direction, required = true))]
    pub direction: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Action, required = true))]
    pub action: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::TargetType, required = true))]
    pub target_type: Option<String>,
    pub target: Option<String>,
    pub description: Option<String>,
}

/// A validated rule, without its id (the node assigns one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub direction: Direction,
    pub action: Action,
    #[serde(with = "target_text")]
    pub target: RuleTarget,
    pub description: String,
}

/// Encodes a [`RuleTarget`] through [`Rule`]'s wire form so specs stay bincode-friendly.
mod target_text {
    use super::*;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &RuleTarget, s: S) -> Result<S::Ok, S::Error> {
        let (kind, text): (u8, String) = match t {
            RuleTarget::Cidr(n) => (0, n.to_string()),
            RuleTarget::Peer(p) => (1, p.to_string()),
            RuleTarget::Group(g) => (2, g.to_string()),
            RuleTarget::Any => (3, String::new()),
        };
        (kind, text).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RuleTarget, D::Error> {
        use serde::de::Error;
        let (kind, text) = <(u8, String)>::deserialize(d)?;
        Ok(match kind {
            0 => RuleTarget::Cidr(text.parse().map_err(D::Error::custom)?),
            1 => RuleTarget::Peer(text.parse().map_err(D::Error::custom)?),
            2 => RuleTarget::Group(text.parse().map_err(D::Error::custom)?),
            3 => RuleTarget::Any,
            k => return Err(D::Error::custom(format!("unknown rule target kind {k}"))),
        })
    }
}

impl RuleSpec {
    pub fn into_rule(self, id: RuleId) -> Rule {
        Rule {
            id,
            direction: self.direction,
            action: self.action,
            target: self.target,
            description: self.description,
        }
    }
}

impl CreateRule {
    pub fn validate(&self) -> DomainResult<RuleSpec> {
        let direction = match v::required("direction", &self.direction)?.as_str() {
            "output" => Direction::Output,
            "input" => Direction::Input,
            other => {
                return Err(DomainError::field(
                    ErrorCode::InvalidValue,
                    "direction",
                    format!("'{other}' is not one of output, input"),
                ))
            }
        };
        let action = match v::required("action", &self.action)?.as_str() {
            "allow" => Action::Allow,
            "deny" => Action::Deny,
            other => {
                return Err(DomainError::field(
                    ErrorCode::InvalidValue,
                    "action",
                    format!("'{other}' is not one of allow, deny"),
                ))
            }
        };
        let target_text = || v::required("target", &self.target).map(|s| s.as_str());
        let target = match v::required("target_type", &self.target_type)?.as_str() {
            "cidr" => RuleTarget::Cidr(v::cidr("target", target_text()?)?),
            "peer" => RuleTarget::Peer(parse_id::<PeerId>("target", target_text()?)?),
            "group" => RuleTarget::Group(parse_id::<GroupId>("target", target_text()?)?),
            "any" => match self.target.as_deref() {
                None | Some("any") => RuleTarget::Any,
                Some(_) => return Err(v::not_allowed("target", "an 'any' rule has no target")),
            },
            other => {
                return Err(DomainError::field(
                    ErrorCode::InvalidValue,
                    "target_type",
                    format!("'{other}' is not one of cidr, peer, group, any"),
                ))
            }
        };
        Ok(RuleSpec {
            direction,
            action,
            target,
            description: self.description.clone().unwrap_or_default(),
        })
    }
}

fn rules(list: &[CreateRule]) -> DomainResult<Vec<RuleSpec>> {
    list.iter()
        .enumerate()
        .map(|(i, r)| r.validate().map_err(|e| e.in_field(&format!("rules[{i}]"))))
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: Option<String>,
    pub description: Option<String>,
    pub rules: Option<Vec<CreateRule>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleSpec>,
}

impl CreatePolicy {
    pub fn validate(&self) -> DomainResult<PolicySpec> {
        Ok(PolicySpec {
            name: v::label("name", v::required("name", &self.name)?)?,
            description: self.description.clone().unwrap_or_default(),
            rules: rules(self.rules.as_deref().unwrap_or_default())?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the whole rule list.
    pub rules: Option<Vec<CreateRule>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub rules: Option<Vec<RuleSpec>>,
}

impl UpdatePolicy {
    pub fn validate(&self) -> DomainResult<PolicyPatch> {
        Ok(PolicyPatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::label("name", n))
                .transpose()?,
            description: self.description.clone(),
            rules: self.rules.as_deref().map(rules).transpose()?,
        })
    }
}

// ---------------------------------------------------------------- routes

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRoute {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"))]
    pub name: Option<String>,
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "192.168.10.0/24"))]
    pub destination_cidr: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = PeerId, required = true))]
    pub jump_peer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    pub name: String,
    pub description: String,
    pub destination_cidr: IpNet,
    pub jump_peer_id: PeerId,
}

impl CreateRoute {
    pub fn validate(&self) -> DomainResult<RouteSpec> {
        Ok(RouteSpec {
            name: v::label("name", v::required("name", &self.name)?)?,
            description: self.description.clone().unwrap_or_default(),
            destination_cidr: v::cidr(
                "destination_cidr",
                v::required("destination_cidr", &self.destination_cidr)?,
            )?,
            jump_peer_id: parse_id(
                "jump_peer_id",
                v::required("jump_peer_id", &self.jump_peer_id)?,
            )?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRoute {
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: Option<String>,
    pub description: Option<String>,
    pub destination_cidr: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PeerId>))]
    pub jump_peer_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub destination_cidr: Option<IpNet>,
    pub jump_peer_id: Option<PeerId>,
}

impl UpdateRoute {
    pub fn validate(&self) -> DomainResult<RoutePatch> {
        Ok(RoutePatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::label("name", n))
                .transpose()?,
            description: self.description.clone(),
            destination_cidr: self
                .destination_cidr
                .as_deref()
                .map(|c| v::cidr("destination_cidr", c))
                .transpose()?,
            jump_peer_id: self
                .jump_peer_id
                .as_deref()
                .map(|j| parse_id("jump_peer_id", j))
                .transpose()?,
        })
    }
}

// ---------------------------------------------------------------- DNS mappings

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDnsMapping {
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "db", pattern = "^(\\*|(\\*\\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)$"))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, example = "192.168.10.5"))]
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsMappingSpec {
    pub name: String,
    pub ip_address: IpAddr,
}

impl CreateDnsMapping {
    pub fn validate(&self) -> DomainResult<DnsMappingSpec> {
        Ok(DnsMappingSpec {
            name: v::mapping_name("name", v::required("name", &self.name)?)?,
            ip_address: v::address("ip_address", v::required("ip_address", &self.ip_address)?)?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateDnsMapping {
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^(\\*|(\\*\\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)$"
        )
    )]
    pub name: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsMappingPatch {
    pub name: Option<String>,
    pub ip_address: Option<IpAddr>,
}

impl UpdateDnsMapping {
    pub fn validate(&self) -> DomainResult<DnsMappingPatch> {
        Ok(DnsMappingPatch {
            name: self
                .name
                .as_deref()
                .map(|n| v::mapping_name("name", n))
                .transpose()?,
            ip_address: self
                .ip_address
                .as_deref()
                .map(|a| v::address("ip_address", a))
                .transpose()?,
        })
    }
}

/// Route validation against its network (R7, P7): the destination's family must be one the
/// network's mode carries.
pub fn check_route_family(network: &Network, destination: &IpNet) -> DomainResult<()> {
    let family = IpFamily::of_net(destination);
    if network.ip_stack_mode.has(family) {
        Ok(())
    } else {
        Err(DomainError::field(
            ErrorCode::RouteFamilyUnsupported,
            "destination_cidr",
            format!(
                "{destination} is {family} but network '{}' is '{}'",
                network.name, network.ip_stack_mode
            ),
        ))
    }
}

/// DNS mapping validation (R8, P8): the address lies inside the route's destination, which
/// also makes it the same family.
pub fn check_mapping_in_route(destination: &IpNet, ip: &IpAddr) -> DomainResult<()> {
    if destination.contains(ip) {
        Ok(())
    } else {
        let code = if IpFamily::of_net(destination) == IpFamily::of_addr(ip) {
            ErrorCode::MappingOutsideRoute
        } else {
            ErrorCode::WrongFamily
        };
        Err(DomainError::field(
            code,
            "ip_address",
            format!("{ip} is not inside the route's destination {destination}"),
        ))
    }
}
