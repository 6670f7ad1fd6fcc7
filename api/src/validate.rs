//! Field validation shared by every request type: names, CIDRs per family and purpose,
//! addresses, WireGuard keys. Each failure names its field and carries a stable code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::family::IpFamily;

/// Bounds on a network's own prefix length per family.
pub const IPV4_NETWORK_PREFIX: std::ops::RangeInclusive<u8> = 8..=30;
pub const IPV6_NETWORK_PREFIX: std::ops::RangeInclusive<u8> = 32..=126;

/// One DNS label as Raftwire uses it for names: lowercase `[a-z0-9-]`, 1–63 bytes,
/// not starting or ending with `-`.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Dot-separated labels, at most 253 bytes in all.
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label)
}

/// A hostname for an endpoint: like [`is_dns_name`] (already lowercased by the caller).
pub fn is_hostname(s: &str) -> bool {
    is_dns_name(s)
}

/// A DNS mapping name: labels, the first of which may be the wildcard `*`.
pub fn is_mapping_name(s: &str) -> bool {
    match s.strip_prefix('*') {
        Some("") => true,
        Some(rest) => rest.strip_prefix('.').is_some_and(is_dns_name),
        None => is_dns_name(s),
    }
}

fn name_error(field: &str, value: &str, what: &str) -> DomainError {
    DomainError::field(
        ErrorCode::InvalidName,
        field,
        format!(
            "'{value}' is not {what}: use lowercase a-z, 0-9 and '-', 1-63 characters per label"
        ),
    )
}

/// A single lowercase DNS label (peer, group, policy and route names).
pub fn label(field: &str, value: &str) -> DomainResult<String> {
    if is_label(value) {
        Ok(value.to_string())
    } else {
        Err(name_error(field, value, "a DNS label"))
    }
}

/// Dot-separated lowercase DNS labels (network names, domains).
pub fn dns_name(field: &str, value: &str) -> DomainResult<String> {
    let v = value.strip_suffix('.').unwrap_or(value);
    if is_dns_name(v) {
        Ok(v.to_string())
    } else {
        Err(name_error(field, value, "a DNS name"))
    }
}

/// A DNS mapping name (`db`, `db.svc`, `*`, `*.svc`); stored lowercase.
pub fn mapping_name(field: &str, value: &str) -> DomainResult<String> {
    let v = value.to_ascii_lowercase();
    if is_mapping_name(&v) {
        Ok(v)
    } else {
        Err(name_error(field, value, "a DNS name or a '*.'-wildcard"))
    }
}

fn parse_net(field: &str, value: &str) -> DomainResult<IpNet> {
    value.trim().parse().map_err(|_| {
        DomainError::field(
            ErrorCode::InvalidCidr,
            field,
            format!("'{value}' is not a CIDR (address/prefix-length)"),
        )
    })
}

fn no_host_bits(field: &str, value: &str, net: IpNet) -> DomainResult<IpNet> {
    if net.trunc() != net {
        return Err(DomainError::field(
            ErrorCode::HostBitsSet,
            field,
            format!("'{value}' has host bits set; did you mean {}?", net.trunc()),
        ));
    }
    Ok(net)
}

/// Any CIDR of either family, without host bits.
pub fn cidr(field: &str, value: &str) -> DomainResult<IpNet> {
    no_host_bits(field, value, parse_net(field, value)?)
}

/// A CIDR that must be of `family` (the family is checked before the host bits, so a
/// prefix in the wrong field is always reported as `wrong_family`).
pub fn cidr_of(field: &str, value: &str, family: IpFamily) -> DomainResult<IpNet> {
    let net = parse_net(field, value)?;
    if IpFamily::of_net(&net) != family {
        return Err(wrong_family(field, value, family));
    }
    no_host_bits(field, value, net)
}

pub fn wrong_family(field: &str, value: &str, expected: IpFamily) -> DomainError {
    DomainError::field(
        ErrorCode::WrongFamily,
        field,
        format!("'{value}' is not an {expected} value"),
    )
}

fn check_prefix(
    field: &str,
    net: IpNet,
    bounds: &std::ops::RangeInclusive<u8>,
) -> DomainResult<()> {
    if bounds.contains(&net.prefix_len()) {
        Ok(())
    } else {
        Err(DomainError::field(
            ErrorCode::PrefixLength,
            field,
            format!(
                "prefix length /{} is outside /{}–/{} for {} networks",
                net.prefix_len(),
                bounds.start(),
                bounds.end(),
                IpFamily::of_net(&net)
            ),
        ))
    }
}

/// The IPv4 prefix of a network: IPv4, /8–/30, no host bits.
pub fn network_ipv4_cidr(field: &str, value: &str) -> DomainResult<Ipv4Net> {
    let net = cidr_of(field, value, IpFamily::Ipv4)?;
    check_prefix(field, net, &IPV4_NETWORK_PREFIX)?;
    match net {
        IpNet::V4(n) => Ok(n),
        IpNet::V6(_) => Err(wrong_family(field, value, IpFamily::Ipv4)),
    }
}

/// The IPv6 prefix of a network: IPv6, /32–/126, no host bits.
pub fn network_ipv6_cidr(field: &str, value: &str) -> DomainResult<Ipv6Net> {
    let net = cidr_of(field, value, IpFamily::Ipv6)?;
    check_prefix(field, net, &IPV6_NETWORK_PREFIX)?;
    match net {
        IpNet::V6(n) => Ok(n),
        IpNet::V4(_) => Err(wrong_family(field, value, IpFamily::Ipv6)),
    }
}

/// Any IP address.
pub fn address(field: &str, value: &str) -> DomainResult<IpAddr> {
    value.trim().parse().map_err(|_| {
        DomainError::field(
            ErrorCode::InvalidAddress,
            field,
            format!("'{value}' is not an IP address"),
        )
    })
}

pub fn ipv4_address(field: &str, value: &str) -> DomainResult<Ipv4Addr> {
    match address(field, value)? {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(wrong_family(field, value, IpFamily::Ipv4)),
    }
}

pub fn ipv6_address(field: &str, value: &str) -> DomainResult<Ipv6Addr> {
    match address(field, value)? {
        IpAddr::V6(a) => Ok(a),
        IpAddr::V4(_) => Err(wrong_family(field, value, IpFamily::Ipv6)),
    }
}

/// A port number 1..=65535 (taken as i64 so out-of-range JSON numbers get a field error).
pub fn port(field: &str, value: i64) -> DomainResult<u16> {
    match u16::try_from(value) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(DomainError::field(
            ErrorCode::InvalidPort,
            field,
            format!("{value} is not a port (1-65535)"),
        )),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Whether `s` is the standard base64 encoding of exactly 32 bytes, as WireGuard keys are.
pub fn is_wireguard_key(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 44 || b[43] != b'=' {
        return false;
    }
    let value = |c: u8| BASE64.iter().position(|&x| x == c);
    // 32 bytes = 42 full sextets + 4 bits: the last sextet's low two bits must be zero.
    b[..43].iter().all(|&c| value(c).is_some()) && value(b[42]).is_some_and(|v| v & 0b11 == 0)
}

/// A WireGuard public key (base64 of 32 bytes).
pub fn wireguard_key(field: &str, value: &str) -> DomainResult<String> {
    let v = value.trim();
    if is_wireguard_key(v) {
        Ok(v.to_string())
    } else {
        Err(DomainError::field(
            ErrorCode::InvalidValue,
            field,
            "not a WireGuard key (base64 of 32 bytes, 44 characters)",
        ))
    }
}

/// Requires an optional request field to be present.
pub fn required<'a, T>(field: &str, value: &'a Option<T>) -> DomainResult<&'a T> {
    value.as_ref().ok_or_else(|| {
        DomainError::field(
            ErrorCode::MissingField,
            field,
            format!("'{field}' is required"),
        )
    })
}

pub fn not_allowed(field: &str, why: &str) -> DomainError {
    DomainError::field(ErrorCode::FieldNotAllowed, field, why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_field(r: DomainResult<impl std::fmt::Debug>) -> (ErrorCode, String) {
        let e = r.unwrap_err();
        (e.code, e.field.unwrap_or_default())
    }

    #[test]
    fn labels_follow_dns_rules() {
        for ok in ["a", "web-1", "0", &"x".repeat(63)] {
            assert!(is_label(ok), "{ok}");
        }
        for bad in ["", "Web", "-a", "a-", "a.b", "a_b", &"x".repeat(64), "ü"] {
            assert!(!is_label(bad), "{bad}");
        }
        assert!(is_dns_name("corp.internal"));
        assert!(!is_dns_name("corp..internal"));
        assert_eq!(
            code_and_field(label("name", "Bad Name")),
            (ErrorCode::InvalidName, "name".into())
        );
        assert_eq!(
            dns_name("domain", "corp.internal.").unwrap(),
            "corp.internal"
        );
    }

    #[test]
    fn mapping_names_allow_a_leading_wildcard_only() {
        for ok in ["db", "db.svc", "*", "*.svc", "*.a.b"] {
            assert!(is_mapping_name(ok), "{ok}");
        }
        for bad in ["", "a.*", "**", "*x", "*.", "db..svc", "a.*.b"] {
            assert!(!is_mapping_name(bad), "{bad}");
        }
        assert_eq!(mapping_name("name", "*.DB").unwrap(), "*.db");
    }

    #[test]
    fn network_cidrs_are_checked_per_field_family_bounds_and_host_bits() {
        assert_eq!(
            network_ipv4_cidr("ipv4_cidr", "10.0.0.0/24")
                .unwrap()
                .to_string(),
            "10.0.0.0/24"
        );
        let cases: [(DomainResult<Ipv4Net>, ErrorCode); 5] = [
            (
                network_ipv4_cidr("ipv4_cidr", "fd00::/64"),
                ErrorCode::WrongFamily,
            ),
            (
                network_ipv4_cidr("ipv4_cidr", "10.0.0.0/31"),
                ErrorCode::PrefixLength,
            ),
            (
                network_ipv4_cidr("ipv4_cidr", "10.0.0.0/7"),
                ErrorCode::PrefixLength,
            ),
            (
                network_ipv4_cidr("ipv4_cidr", "10.0.0.1/24"),
                ErrorCode::HostBitsSet,
            ),
            (
                network_ipv4_cidr("ipv4_cidr", "10.0.0.0"),
                ErrorCode::InvalidCidr,
            ),
        ];
        for (r, code) in cases {
            assert_eq!(code_and_field(r), (code, "ipv4_cidr".into()));
        }
        let cases: [(DomainResult<Ipv6Net>, ErrorCode); 4] = [
            (
                network_ipv6_cidr("ipv6_cidr", "10.0.0.0/24"),
                ErrorCode::WrongFamily,
            ),
            (
                network_ipv6_cidr("ipv6_cidr", "fd00::/127"),
                ErrorCode::PrefixLength,
            ),
            (
                network_ipv6_cidr("ipv6_cidr", "fd00::/31"),
                ErrorCode::PrefixLength,
            ),
            (
                network_ipv6_cidr("ipv6_cidr", "fd00::1/64"),
                ErrorCode::HostBitsSet,
            ),
        ];
        for (r, code) in cases {
            assert_eq!(code_and_field(r), (code, "ipv6_cidr".into()));
        }
    }

    #[test]
    fn addresses_are_checked_per_family() {
        assert_eq!(
            code_and_field(ipv4_address("ipv4_address", "fd00::1")),
            (ErrorCode::WrongFamily, "ipv4_address".into())
        );
        assert_eq!(
            code_and_field(ipv6_address("ipv6_address", "10.0.0.1")),
            (ErrorCode::WrongFamily, "ipv6_address".into())
        );
        assert_eq!(
            code_and_field(address("ip_address", "nope")),
            (ErrorCode::InvalidAddress, "ip_address".into())
        );
        assert_eq!(
            code_and_field(port("listen_port", 0)),
            (ErrorCode::InvalidPort, "listen_port".into())
        );
        assert_eq!(
            code_and_field(port("listen_port", 65536)),
            (ErrorCode::InvalidPort, "listen_port".into())
        );
    }

    #[test]
    fn wireguard_keys_must_be_base64_of_32_bytes() {
        assert!(is_wireguard_key(
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
        ));
        assert!(!is_wireguard_key(
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmB="
        ));
        assert!(!is_wireguard_key(
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk"
        ));
        assert!(!is_wireguard_key(
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm!="
        ));
        assert_eq!(
            code_and_field(wireguard_key("public_key", "abc")),
            (ErrorCode::InvalidValue, "public_key".into())
        );
    }
}
