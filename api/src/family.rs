//! IP families and per-network stack modes, and detection of the family of an address or CIDR.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

impl IpFamily {
    pub const ALL: [IpFamily; 2] = [IpFamily::Ipv4, IpFamily::Ipv6];

    pub fn of_addr(addr: &IpAddr) -> IpFamily {
        match addr {
            IpAddr::V4(_) => IpFamily::Ipv4,
            IpAddr::V6(_) => IpFamily::Ipv6,
        }
    }

    pub fn of_net(net: &IpNet) -> IpFamily {
        match net {
            IpNet::V4(_) => IpFamily::Ipv4,
            IpNet::V6(_) => IpFamily::Ipv6,
        }
    }

    /// Host prefix length of the family: 32 or 128.
    pub fn host_prefix_len(self) -> u8 {
        match self {
            IpFamily::Ipv4 => 32,
            IpFamily::Ipv6 => 128,
        }
    }

    /// The "everything" prefix of the family: `0.0.0.0/0` or `::/0`.
    pub fn any_net(self) -> IpNet {
        match self {
            IpFamily::Ipv4 => "0.0.0.0/0".parse().expect("literal"),
            IpFamily::Ipv6 => "::/0".parse().expect("literal"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which families a network carries. Requests without a mode mean `ipv4` (R1, R14, P12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IpStackMode {
    #[default]
    Ipv4,
    Ipv6,
    Dual,
}

impl IpStackMode {
    pub const ALL: [IpStackMode; 3] = [IpStackMode::Ipv4, IpStackMode::Ipv6, IpStackMode::Dual];

    pub fn has(self, family: IpFamily) -> bool {
        matches!(
            (self, family),
            (IpStackMode::Dual, _)
                | (IpStackMode::Ipv4, IpFamily::Ipv4)
                | (IpStackMode::Ipv6, IpFamily::Ipv6)
        )
    }

    /// The families of the mode, IPv4 first.
    pub fn families(self) -> impl Iterator<Item = IpFamily> {
        IpFamily::ALL.into_iter().filter(move |f| self.has(*f))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpStackMode::Ipv4 => "ipv4",
            IpStackMode::Ipv6 => "ipv6",
            IpStackMode::Dual => "dual",
        }
    }
}

impl fmt::Display for IpStackMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stack mode name that is not `ipv4`, `ipv6` or `dual`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStackMode(pub String);

impl fmt::Display for UnknownStackMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown stack mode '{}' (ipv4, ipv6 or dual)", self.0)
    }
}

impl std::error::Error for UnknownStackMode {}

impl std::str::FromStr for IpStackMode {
    type Err = UnknownStackMode;

    /// `ipv4`, `ipv6` or `dual` (what [`IpStackMode::as_str`] gives), ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpStackMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStackMode(s.to_string()))
    }
}

/// The IP version a policy rule, route or mapping applies to (R13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IpVersion {
    Ipv4,
    Ipv6,
    Both,
}

impl IpVersion {
    pub fn covers(self, family: IpFamily) -> bool {
        matches!(
            (self, family),
            (IpVersion::Both, _)
                | (IpVersion::Ipv4, IpFamily::Ipv4)
                | (IpVersion::Ipv6, IpFamily::Ipv6)
        )
    }
}

impl From<IpFamily> for IpVersion {
    fn from(f: IpFamily) -> Self {
        match f {
            IpFamily::Ipv4 => IpVersion::Ipv4,
            IpFamily::Ipv6 => IpVersion::Ipv6,
        }
    }
}

/// Detects the family of an address or CIDR written as text (R13 in docs/properties.md).
///
/// `0.0.0.0/0` is IPv4 and `::/0` is IPv6. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`)
/// is IPv6 as written: it is an IPv6 address on the wire and only ip6tables sees it.
/// Returns `None` for anything that is neither.
pub fn detect_ip_version(text: &str) -> Option<IpFamily> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(IpFamily::of_net(&net));
    }
    text.parse::<IpAddr>().ok().map(|a| IpFamily::of_addr(&a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_modes_parse_from_their_names() {
        for m in IpStackMode::ALL {
            assert_eq!(m.as_str().parse::<IpStackMode>(), Ok(m));
        }
        assert_eq!("DUAL".parse::<IpStackMode>(), Ok(IpStackMode::Dual));
        assert!("ipv5".parse::<IpStackMode>().is_err());
    }

    #[test]
    fn detect_ip_version_handles_special_cases() {
        assert_eq!(detect_ip_version("0.0.0.0/0"), Some(IpFamily::Ipv4));
        assert_eq!(detect_ip_version("::/0"), Some(IpFamily::Ipv6));
        assert_eq!(detect_ip_version("::ffff:10.0.0.1"), Some(IpFamily::Ipv6));
        assert_eq!(
            detect_ip_version("::ffff:10.0.0.0/104"),
            Some(IpFamily::Ipv6)
        );
        assert_eq!(detect_ip_version("10.1.2.3"), Some(IpFamily::Ipv4));
        assert_eq!(detect_ip_version(" fd00::/64 "), Some(IpFamily::Ipv6));
        assert_eq!(detect_ip_version("10.0.0.0/33"), None);
        assert_eq!(detect_ip_version("example.com"), None);
        assert_eq!(detect_ip_version(""), None);
    }

    #[test]
    fn stack_mode_defaults_to_ipv4_and_lists_its_families() {
        assert_eq!(IpStackMode::default(), IpStackMode::Ipv4);
        assert_eq!(
            IpStackMode::Dual.families().collect::<Vec<_>>(),
            vec![IpFamily::Ipv4, IpFamily::Ipv6]
        );
        assert_eq!(
            IpStackMode::Ipv6.families().collect::<Vec<_>>(),
            vec![IpFamily::Ipv6]
        );
    }
}
