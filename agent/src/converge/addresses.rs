//! Addresses, link state and routes of the WireGuard interface — what wg-quick does after
//! configuring WireGuard itself.
//!
//! Desired: the peer's overlay addresses (host prefixes) on the interface, the link up (its
//! MTU left as the backend made it, as wg-quick does when none is configured), and a route
//! through the interface for every AllowedIPs prefix of every peer, except prefixes the
//! interface's own addresses already cover. Nothing of a family the configuration has no
//! address of.
//!
//! The agent owns its interface: addresses on it that are not desired are removed (the
//! kernel's IPv6 link-local ones excepted), and so are the routes on it that this module
//! adds (`proto static`); routes the kernel adds for addresses are left alone. Everything is
//! read back from `ip -j` each time, so drift is repaired.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use raftwire_api::agent::AgentConfig;
use serde::Deserialize;

use super::{wireguard::link_exists, Module, Settings};
use crate::host;

/// The module.
pub struct Addresses {
    settings: Settings,
    /// The interface of the last converge, for [`Module::remove`].
    current: Option<String>,
}

impl Addresses {
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.clone(),
            current: None,
        }
    }
}

impl Module for Addresses {
    fn name(&self) -> &'static str {
        "addresses"
    }

    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
        let name = self.settings.interface_for(desired).to_string();
        self.current = Some(name.clone());
        let want = Desired::of(desired);
        let have = observe(&name)?.ok_or_else(|| format!("interface {name} does not exist"))?;
        apply(&name, &plan(&want, &have))
    }

    /// Removing the interface takes its addresses and routes along; this only matters when
    /// the interface stays (another module failed to remove it, or it is not ours to delete):
    /// then what this module put there goes.
    fn remove(&mut self) -> Result<(), String> {
        let Some(name) = self
            .current
            .take()
            .or_else(|| self.settings.interface.clone())
        else {
            return Ok(());
        };
        match observe(&name)? {
            None => Ok(()),
            Some(have) => {
                let nothing = Desired {
                    addresses: BTreeSet::new(),
                    routes: BTreeSet::new(),
                };
                let mut steps = plan(&nothing, &have);
                steps.link_up = false;
                apply(&name, &steps)
            }
        }
    }
}

/// What the interface should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Desired {
    addresses: BTreeSet<IpNet>,
    routes: BTreeSet<IpNet>,
}

impl Desired {
    pub(crate) fn of(cfg: &AgentConfig) -> Self {
        let addresses: BTreeSet<IpNet> = cfg.interface.addresses.iter().copied().collect();
        let has_v4 = addresses.iter().any(|a| matches!(a, IpNet::V4(_)));
        let has_v6 = addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
        let routes = cfg
            .peers
            .iter()
            .flat_map(|p| &p.allowed_ips)
            .map(IpNet::trunc)
            .filter(|p| match p {
                IpNet::V4(_) => has_v4,
                IpNet::V6(_) => has_v6,
            })
            // The kernel already routes what an interface address's own prefix covers.
            .filter(|p| !addresses.iter().any(|a| a.trunc().contains(p)))
            .collect();
        Self { addresses, routes }
    }
}

/// What the interface carries now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    up: bool,
    /// Addresses this module manages (IPv6 link-local ones are the kernel's).
    addresses: BTreeSet<IpNet>,
    /// Destinations of every route on the interface in the main table.
    routes: BTreeSet<IpNet>,
    /// Destinations of the routes this module owns (`proto static`).
    owned_routes: BTreeSet<IpNet>,
}

#[derive(Deserialize)]
struct LinkJson {
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<AddrJson>,
}

#[derive(Deserialize)]
struct AddrJson {
    local: IpAddr,
    prefixlen: u8,
}

#[derive(Deserialize)]
struct RouteJson {
    dst: String,
    #[serde(default)]
    protocol: Option<String>,
}

/// Parses `ip -j addr show dev <if>`.
fn parse_addr(json: &str) -> Result<(bool, BTreeSet<IpNet>), String> {
    let links: Vec<LinkJson> =
        serde_json::from_str(json).map_err(|e| format!("ip -j addr show: {e}"))?;
    let link = links.into_iter().next().ok_or("ip -j addr show: no link")?;
    let up = link.flags.iter().any(|f| f == "UP");
    let mut addresses = BTreeSet::new();
    for a in link.addr_info {
        let net = IpNet::new(a.local, a.prefixlen)
            .map_err(|e| format!("ip -j addr show: {}/{}: {e}", a.local, a.prefixlen))?;
        let link_local = matches!(a.local, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
        if !link_local {
            addresses.insert(net);
        }
    }
    Ok((up, addresses))
}

/// Parses `ip -j [-6] route show dev <if>`: every destination, and those this module owns.
fn parse_routes(json: &str, v6: bool) -> Result<(BTreeSet<IpNet>, BTreeSet<IpNet>), String> {
    let routes: Vec<RouteJson> =
        serde_json::from_str(json).map_err(|e| format!("ip -j route show: {e}"))?;
    let mut all = BTreeSet::new();
    let mut owned = BTreeSet::new();
    for r in routes {
        let dst = parse_dst(&r.dst, v6)?;
        all.insert(dst);
        if r.protocol.as_deref() == Some("static") {
            owned.insert(dst);
        }
    }
    Ok((all, owned))
}

/// A route destination as `ip` prints it: `default`, `10.1.0.0/16`, or a bare address for
/// a host route.
fn parse_dst(dst: &str, v6: bool) -> Result<IpNet, String> {
    if dst == "default" {
        return Ok(if v6 {
            "::/0".parse().map_err(|e| format!("{e}"))?
        } else {
            "0.0.0.0/0".parse().map_err(|e| format!("{e}"))?
        });
    }
    dst.parse::<IpNet>()
        .or_else(|_| dst.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("ip -j route show: unexpected destination {dst:?}"))
}

/// The interface's state, or `None` if it does not exist.
pub(crate) fn observe(name: &str) -> Result<Option<Observed>, String> {
    if !link_exists(name)? {
        return Ok(None);
    }
    let ip = |args: &[&str]| host::run("ip", args).map_err(|e| e.to_string());
    let (up, addresses) = parse_addr(&ip(&["-j", "addr", "show", "dev", name])?)?;
    let (mut routes, mut owned_routes) =
        parse_routes(&ip(&["-j", "route", "show", "dev", name])?, false)?;
    let (routes6, owned6) = parse_routes(&ip(&["-j", "-6", "route", "show", "dev", name])?, true)?;
    routes.extend(routes6);
    owned_routes.extend(owned6);
    Ok(Some(Observed {
        up,
        addresses,
        routes,
        owned_routes,
    }))
}

/// The steps from `have` to `want`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    del_addresses: Vec<IpNet>,
    add_addresses: Vec<IpNet>,
    link_up: bool,
    del_routes: Vec<IpNet>,
    add_routes: Vec<IpNet>,
}

pub(crate) fn plan(want: &Desired, have: &Observed) -> Plan {
    Plan {
        del_addresses: have
            .addresses
            .difference(&want.addresses)
            .copied()
            .collect(),
        add_addresses: want
            .addresses
            .difference(&have.addresses)
            .copied()
            .collect(),
        link_up: !have.up,
        // A desired destination already routed through the interface (by the kernel, or by
        // wg-quick before the agent) is left as it is.
        add_routes: want.routes.difference(&have.routes).copied().collect(),
        del_routes: have
            .owned_routes
            .difference(&want.routes)
            .copied()
            .collect(),
    }
}

/// Runs the plan: stale routes and addresses go first, then missing addresses are added,
/// the link brought up (the kernel refuses routes through a down link), and routes added.
/// Every step is tried; the failures are reported together.
fn apply(name: &str, plan: &Plan) -> Result<(), String> {
    let mut errors = Vec::new();
    let ip = |args: Vec<String>| -> Option<String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        host::run("ip", &args).err().map(|e| e.to_string())
    };
    let fam = |n: &IpNet| {
        if matches!(n, IpNet::V6(_)) {
            "-6"
        } else {
            "-4"
        }
    };
    // Routes in one `ip -batch` each way (a jump of a large network has thousands: one
    // process per route took seconds); `-force` goes on past a failed line and reports it.
    // `ip route` takes the family from the prefix itself.
    let batch = |verb: &str, routes: &[IpNet]| -> Option<String> {
        if routes.is_empty() {
            return None;
        }
        let text: String = routes
            .iter()
            .map(|r| format!("route {verb} {r} dev {name} proto static\n"))
            .collect();
        host::run_with_input("ip", &["-force", "-batch", "-"], Some(&text))
            .err()
            .map(|e| e.to_string())
    };
    errors.extend(batch("del", &plan.del_routes));
    for a in &plan.del_addresses {
        errors.extend(ip(vec![
            fam(a).into(),
            "addr".into(),
            "del".into(),
            a.to_string(),
            "dev".into(),
            name.into(),
        ]));
    }
    for a in &plan.add_addresses {
        let mut args = vec![
            fam(a).into(),
            "addr".into(),
            "add".into(),
            a.to_string(),
            "dev".into(),
            name.into(),
        ];
        if matches!(a, IpNet::V6(_)) {
            // Without it the address stays tentative (unusable) for duplicate detection.
            args.push("nodad".into());
        }
        errors.extend(ip(args));
    }
    if plan.link_up {
        errors.extend(ip(vec![
            "link".into(),
            "set".into(),
            "dev".into(),
            name.into(),
            "up".into(),
        ]));
    }
    errors.extend(batch("replace", &plan.add_routes));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> BTreeSet<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn config(addresses: &[&str], allowed: &[&[&str]]) -> AgentConfig {
        let peers: Vec<serde_json::Value> = allowed
            .iter()
            .enumerate()
            .map(|(i, ips)| {
                serde_json::json!({
                    "peer_id": format!("00000000-0000-0000-0000-0000000001{i:02}"),
                    "name": format!("p{i}"),
                    "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                    "allowed_ips": ips,
                    "endpoint": null,
                    "persistent_keepalive": null
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "peer_id": "00000000-0000-0000-0000-000000000001",
            "network_id": "00000000-0000-0000-0000-000000000002",
            "interface": {"name": "rw0", "addresses": addresses, "listen_port": null},
            "peers": peers,
            "wg_quick": "",
            "firewall": null,
            "forwarding": {"ipv4": false, "ipv6": false},
            "dns": null,
            "nat": null
        }))
        .unwrap()
    }

    #[test]
    fn routes_of_an_absent_family_are_not_desired() {
        let d = Desired::of(&config(
            &["10.0.0.1/32"],
            &[&["10.0.0.0/24", "fd00::/64"], &["10.1.0.5/16"]],
        ));
        assert_eq!(d.routes, nets(&["10.0.0.0/24", "10.1.0.0/16"]));
        assert_eq!(d.addresses, nets(&["10.0.0.1/32"]));
    }

    #[test]
    fn prefixes_covered_by_an_interface_address_get_no_route() {
        let d = Desired::of(&config(
            &["10.0.0.1/24", "fd00::1/128"],
            &[&["10.0.0.0/25", "10.2.0.0/16", "fd00::1/128", "fd00::2/128"]],
        ));
        assert_eq!(d.routes, nets(&["10.2.0.0/16", "fd00::2/128"]));
    }

    #[test]
    fn ip_json_is_read_without_link_local_addresses_and_with_bare_host_routes() {
        let addr = r#"[{"ifname":"rw0","flags":["POINTOPOINT","UP","LOWER_UP"],"addr_info":[
            {"family":"inet","local":"10.0.0.1","prefixlen":32,"scope":"global"},
            {"family":"inet6","local":"fd00::1","prefixlen":128,"scope":"global"},
            {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]"#;
        let (up, a) = parse_addr(addr).unwrap();
        assert!(up);
        assert_eq!(a, nets(&["10.0.0.1/32", "fd00::1/128"]));
        let routes = r#"[{"dst":"10.9.1.0/24","protocol":"static","scope":"link"},
            {"dst":"10.9.2.5","scope":"link"},{"dst":"default","protocol":"static"}]"#;
        let (all, owned) = parse_routes(routes, false).unwrap();
        assert_eq!(all, nets(&["10.9.1.0/24", "10.9.2.5/32", "0.0.0.0/0"]));
        assert_eq!(owned, nets(&["10.9.1.0/24", "0.0.0.0/0"]));
    }

    #[test]
    fn only_owned_routes_are_removed_and_present_ones_not_added_again() {
        let want = Desired {
            addresses: nets(&["10.0.0.1/32"]),
            routes: nets(&["10.0.0.0/24", "10.3.0.0/16"]),
        };
        let have = Observed {
            up: true,
            addresses: nets(&["10.0.0.1/32", "fd00::1/128"]),
            routes: nets(&["10.0.0.0/24", "10.4.0.0/16", "10.5.0.0/16"]),
            owned_routes: nets(&["10.4.0.0/16"]),
        };
        assert_eq!(
            plan(&want, &have),
            Plan {
                del_addresses: vec!["fd00::1/128".parse().unwrap()],
                add_addresses: vec![],
                link_up: false,
                del_routes: vec!["10.4.0.0/16".parse().unwrap()],
                add_routes: vec!["10.3.0.0/16".parse().unwrap()],
            }
        );
    }
}
