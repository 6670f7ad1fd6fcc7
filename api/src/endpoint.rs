//! WireGuard endpoints: `host`, `host:port`, `[v6]`, `[v6]:port`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DomainError, DomainResult, ErrorCode};
use crate::validate::is_hostname;

/// Where a peer can be reached from outside: a hostname or IP literal and an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: EndpointHost,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointHost {
    Ip(IpAddr),
    Name(String),
}

impl Endpoint {
    /// Parses `host`, `host:port`, `[v6]:port` or `[v6]`. A bare IPv6 literal is refused:
    /// whether its last group is a port would be a guess.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("endpoint is empty".into());
        }
        if let Some(rest) = text.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or("missing ']' after the IPv6 literal")?;
            let addr: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("'{addr}' is not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(parse_port(
                    p.strip_prefix(':').ok_or("expected ':' after ']'")?,
                )?),
            };
            return Ok(Endpoint {
                host: EndpointHost::Ip(IpAddr::V6(addr)),
                port,
            });
        }
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(addr)) => {
                return Ok(Endpoint {
                    host: EndpointHost::Ip(IpAddr::V4(addr)),
                    port: None,
                })
            }
            // `2001:db8::1:443` could be an address or an address and a port: brackets decide.
            Ok(IpAddr::V6(_)) => {
                return Err("write an IPv6 literal in brackets: [addr] or [addr]:port".into())
            }
            Err(_) => {}
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(parse_port(p)?)),
            None => (text, None),
        };
        if host.contains(':') {
            return Err("an IPv6 literal with a port must be written [addr]:port".into());
        }
        let host = if let Ok(ip) = host.parse::<IpAddr>() {
            EndpointHost::Ip(ip)
        } else {
            let lower = host.to_ascii_lowercase();
            if !is_hostname(&lower) {
                return Err(format!("'{host}' is neither an IP address nor a hostname"));
            }
            EndpointHost::Name(lower)
        };
        Ok(Endpoint { host, port })
    }

    /// Parses and attributes failures to `field`.
    pub fn parse_field(field: &str, text: &str) -> DomainResult<Endpoint> {
        Endpoint::parse(text)
            .map_err(|why| DomainError::field(ErrorCode::InvalidEndpoint, field, why))
    }

    /// `host:port` with IPv6 literals bracketed, using `default_port` when none is set.
    pub fn with_port(&self, default_port: u16) -> String {
        let port = self.port.unwrap_or(default_port);
        match &self.host {
            EndpointHost::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            EndpointHost::Ip(IpAddr::V4(a)) => format!("{a}:{port}"),
            EndpointHost::Name(n) => format!("{n}:{port}"),
        }
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("'{p}' is not a port (1-65535)")),
        Ok(port) => Ok(port),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (EndpointHost::Ip(IpAddr::V6(a)), Some(p)) => write!(f, "[{a}]:{p}"),
            (EndpointHost::Ip(a), Some(p)) => write!(f, "{a}:{p}"),
            (EndpointHost::Name(n), Some(p)) => write!(f, "{n}:{p}"),
            (EndpointHost::Ip(IpAddr::V6(a)), None) => write!(f, "[{a}]"),
            (EndpointHost::Ip(a), None) => write!(f, "{a}"),
            (EndpointHost::Name(n), None) => f.write_str(n),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Endpoint::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms_parse_and_render_with_brackets_for_ipv6() {
        let cases = [
            ("vpn.example.com", "vpn.example.com:51820"),
            ("VPN.example.com:1234", "vpn.example.com:1234"),
            ("203.0.113.7:51820", "203.0.113.7:51820"),
            ("203.0.113.7", "203.0.113.7:51820"),
            ("[2001:db8::1]:443", "[2001:db8::1]:443"),
            ("[2001:db8::1]", "[2001:db8::1]:51820"),
        ];
        for (input, rendered) in cases {
            let e = Endpoint::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(e.with_port(51820), rendered, "{input}");
            assert_eq!(
                Endpoint::parse(&e.to_string()).unwrap(),
                e,
                "{input} round trip"
            );
        }
    }

    #[test]
    fn malformed_endpoints_are_rejected() {
        for bad in [
            "",
            "host:0",
            "host:70000",
            "host:port",
            "2001:db8::1:51820x",
            "[2001:db8::1",
            "2001:db8::1",
            "2001:db8::1:443",
            "[10.0.0.1]:5",
            "[2001:db8::1]5",
            "bad_host!",
            "-lead.example",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let err = Endpoint::parse_field("endpoint", "x:99999").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEndpoint);
        assert_eq!(err.field.as_deref(), Some("endpoint"));
    }
}
