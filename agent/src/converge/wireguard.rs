//! The WireGuard interface: its private key, listen port and peers.
//!
//! The interface is provided by the kernel module or by `wireguard-go` (`--wg-backend`):
//! `auto` tries to create a kernel link and falls back to `wireguard-go` where the kernel has
//! no WireGuard; `kernel` never starts `wireguard-go`; `userspace` always uses it (starting
//! it for the interface, or adopting the UAPI socket of one already running).
//!
//! Each converge reads the device as it is (`Device::get`) and sends only the difference:
//! peers that are gone are removed, new peers added, and a changed peer is updated in place
//! (its AllowedIPs replaced, endpoint or keepalive set). A peer that did not change is not
//! mentioned at all, so its session and counters survive every other change — the whole
//! peer list is never replaced. Addresses, routes and link state belong to the addresses
//! module.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use raftwire_api::agent::AgentConfig;
use raftwire_api::wireguard::WgPeer;
use wireguard_control::{
    AllowedIp, Backend, Device, DeviceUpdate, InterfaceName, Key, PeerConfig, PeerConfigBuilder,
};

use super::{Module, Settings, WgBackend};
use crate::host;

/// Where `wireguard-go` puts its UAPI sockets (shared by every network namespace).
const UAPI_DIR: &str = "/run/wireguard";

/// The WireGuard module.
pub struct WireGuard {
    settings: Settings,
    /// The interface the last converge worked on: removed when the name changes, and what
    /// [`Module::remove`] takes away.
    current: Option<String>,
}

impl WireGuard {
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.clone(),
            current: None,
        }
    }
}

impl Module for WireGuard {
    fn name(&self) -> &'static str {
        "wireguard"
    }

    fn converge(&mut self, desired: &AgentConfig) -> Result<(), String> {
        let name = self.settings.interface_for(desired).to_string();
        if let Some(old) = self.current.as_deref() {
            // The configuration moved to another interface: the old one is ours to take away
            // (kept as current until that succeeds, so the next converge retries).
            if old != name {
                delete_interface(old)?;
            }
        }
        self.current = Some(name.clone());
        let iface: InterfaceName = name
            .parse()
            .map_err(|e| format!("interface name {name:?}: {e}"))?;
        let private_key = Key::from_base64(self.settings.private_key.trim())
            .map_err(|_| "the agent's private key is not a valid WireGuard key".to_string())?;
        let (peers, mut errors) = desired_peers(&desired.peers, &private_key.get_public());
        let want = Desired {
            private_key,
            listen_port: desired.interface.listen_port,
            peers,
        };

        let backend = self.backend_for(&name)?;
        let observed = observe(&iface, backend)
            .map_err(|e| format!("reading WireGuard interface {name} ({backend}): {e}"))?;
        if let Some(update) = diff(&want, observed.as_ref()) {
            update
                .apply(&iface, backend)
                .map_err(|e| apply_error(&name, backend, &e))?;
        }
        if errors.is_empty() {
            Ok(())
        } else {
            errors.sort();
            Err(errors.join("; "))
        }
    }

    /// Deletes the interface, also one served by a `wireguard-go` the agent adopted rather
    /// than started: the interface named for the agent is the agent's.
    fn remove(&mut self) -> Result<(), String> {
        match self
            .current
            .take()
            .or_else(|| self.settings.interface.clone())
        {
            Some(name) => delete_interface(&name),
            None => Ok(()),
        }
    }
}

impl WireGuard {
    /// Which backend serves `name`: the one that already does, else the one `--wg-backend`
    /// allows (for `auto`, a kernel link if the kernel can make one).
    fn backend_for(&self, name: &str) -> Result<Backend, String> {
        match self.settings.wg_backend {
            WgBackend::Userspace => Ok(Backend::Userspace),
            WgBackend::Kernel => {
                if uapi_socket_alive(name) {
                    return Err(format!(
                        "interface {name} is served by a userspace WireGuard (UAPI socket in \
                         {UAPI_DIR}), but --wg-backend is kernel"
                    ));
                }
                // The library creates the link itself when it applies.
                Ok(Backend::Kernel)
            }
            WgBackend::Auto => {
                if uapi_socket_alive(name) {
                    return Ok(Backend::Userspace);
                }
                match link_kind(name)? {
                    Some(kind) if kind == "wireguard" => Ok(Backend::Kernel),
                    Some(kind) => Err(format!(
                        "interface {name} exists as a {kind:?} link that no WireGuard \
                         implementation serves"
                    )),
                    None => match host::run("ip", &["link", "add", name, "type", "wireguard"]) {
                        Ok(_) => Ok(Backend::Kernel),
                        // No WireGuard in this kernel: wireguard-go makes the interface.
                        Err(_) => Ok(Backend::Userspace),
                    },
                }
            }
        }
    }
}

/// What the interface should be.
struct Desired {
    private_key: Key,
    /// `None`: whatever port the interface has (WireGuard picks one).
    listen_port: Option<u16>,
    peers: Vec<DesiredPeer>,
}

struct DesiredPeer {
    public_key: Key,
    /// The configuration carries no preshared keys yet: a key found on the interface is
    /// removed, as for any other drift.
    preshared_key: Option<Key>,
    /// The addresses the configured endpoint resolves to, the first preferred; `None`:
    /// whatever endpoint WireGuard learnt from the peer's packets (roaming) stays.
    endpoint: Option<Vec<SocketAddr>>,
    persistent_keepalive: Option<u16>,
    allowed_ips: BTreeSet<IpNet>,
}

/// The desired peers (one per public key, in configuration order), and an error for each
/// peer that cannot be configured as given.
fn desired_peers(peers: &[WgPeer], own_public: &Key) -> (Vec<DesiredPeer>, Vec<String>) {
    let mut errors = Vec::new();
    let mut out: Vec<DesiredPeer> = Vec::new();
    let mut by_key: HashMap<[u8; 32], usize> = HashMap::new();
    for peer in peers {
        let Ok(public_key) = Key::from_base64(peer.public_key.trim()) else {
            errors.push(format!(
                "peer {}: public key {:?} is not a WireGuard key",
                peer.name, peer.public_key
            ));
            continue;
        };
        if &public_key == own_public {
            errors.push(format!(
                "peer {}: has this agent's own public key; left out",
                peer.name
            ));
            continue;
        }
        let endpoint = match &peer.endpoint {
            None => None,
            Some(text) => match resolve(text) {
                Ok(addrs) => Some(addrs),
                Err(e) => {
                    // The peer is still configured, without an endpoint: it can reach us.
                    errors.push(format!("peer {}: endpoint {text}: {e}", peer.name));
                    None
                }
            },
        };
        let allowed_ips: BTreeSet<IpNet> = peer.allowed_ips.iter().map(IpNet::trunc).collect();
        match by_key.get(&public_key.0) {
            // One key listed twice is one WireGuard peer: it gets the union.
            Some(&i) => out[i].allowed_ips.extend(allowed_ips),
            None => {
                by_key.insert(public_key.0, out.len());
                out.push(DesiredPeer {
                    public_key,
                    preshared_key: None,
                    endpoint,
                    persistent_keepalive: peer.persistent_keepalive.filter(|k| *k != 0),
                    allowed_ips,
                });
            }
        }
    }
    (out, errors)
}

/// `host:port` (IPv6 literals bracketed) to socket addresses; a host name is resolved.
fn resolve(endpoint: &str) -> Result<Vec<SocketAddr>, String> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let addrs: Vec<SocketAddr> = endpoint
        .to_socket_addrs()
        .map_err(|e| format!("does not resolve: {e}"))?
        .collect();
    if addrs.is_empty() {
        Err("resolves to no address".into())
    } else {
        Ok(addrs)
    }
}

/// The device as it is, or `None` if the interface does not exist yet.
fn observe(iface: &InterfaceName, backend: Backend) -> io::Result<Option<Device>> {
    let name = iface.to_string();
    let exists = match backend {
        Backend::Userspace => uapi_socket_alive(&name),
        _ => link_exists(&name).map_err(io::Error::other)?,
    };
    if !exists {
        return Ok(None);
    }
    Device::get(iface, backend).map(Some)
}

/// The update that brings `observed` to `want`, or `None` when they already agree.
fn diff(want: &Desired, observed: Option<&Device>) -> Option<DeviceUpdate> {
    let mut update = DeviceUpdate::new();
    let mut changed = false;
    if observed.and_then(|d| d.private_key.as_ref()) != Some(&want.private_key) {
        update = update.set_private_key(want.private_key.clone());
        changed = true;
    }
    if let Some(port) = want.listen_port {
        if observed.and_then(|d| d.listen_port) != Some(port) {
            update = update.set_listen_port(port);
            changed = true;
        }
    }
    let present: HashMap<[u8; 32], &PeerConfig> = observed
        .map(|d| {
            d.peers
                .iter()
                .map(|p| (p.config.public_key.0, &p.config))
                .collect()
        })
        .unwrap_or_default();
    let wanted: BTreeSet<[u8; 32]> = want.peers.iter().map(|p| p.public_key.0).collect();
    // Removals first: a prefix a removed peer held is then free for the peers that follow.
    for config in observed.into_iter().flat_map(|d| &d.peers) {
        if !wanted.contains(&config.config.public_key.0) {
            update = update.remove_peer_by_key(&config.config.public_key);
            changed = true;
        }
    }
    for peer in &want.peers {
        let builder = match present.get(&peer.public_key.0) {
            None => Some(new_peer(peer)),
            Some(have) => peer_update(peer, have),
        };
        if let Some(builder) = builder {
            update = update.add_peer(builder);
            changed = true;
        }
    }
    changed.then_some(update)
}

fn allowed(nets: &BTreeSet<IpNet>) -> Vec<AllowedIp> {
    nets.iter()
        .map(|n| AllowedIp {
            address: n.addr(),
            cidr: n.prefix_len(),
        })
        .collect()
}

fn new_peer(peer: &DesiredPeer) -> PeerConfigBuilder {
    let mut b =
        PeerConfigBuilder::new(&peer.public_key).add_allowed_ips(&allowed(&peer.allowed_ips));
    if let Some(k) = &peer.preshared_key {
        b = b.set_preshared_key(k.clone());
    }
    if let Some(addr) = peer.endpoint.as_ref().and_then(|a| a.first()) {
        b = b.set_endpoint(*addr);
    }
    if let Some(k) = peer.persistent_keepalive {
        b = b.set_persistent_keepalive_interval(k);
    }
    b
}

/// The in-place update of an existing peer (never a removal), or `None` if it is as wanted.
fn peer_update(peer: &DesiredPeer, have: &PeerConfig) -> Option<PeerConfigBuilder> {
    let mut b = PeerConfigBuilder::new(&peer.public_key);
    let mut changed = false;
    let zero = Key::zero();
    let have_psk = have.preshared_key.as_ref().filter(|k| **k != zero);
    if have_psk != peer.preshared_key.as_ref() {
        b = match &peer.preshared_key {
            Some(k) => b.set_preshared_key(k.clone()),
            None => b.unset_preshared_key(),
        };
        changed = true;
    }
    if let Some(addrs) = &peer.endpoint {
        if !have.endpoint.is_some_and(|e| addrs.contains(&e)) {
            b = b.set_endpoint(addrs[0]);
            changed = true;
        }
    }
    let have_keepalive = have.persistent_keepalive_interval.filter(|k| *k != 0);
    if have_keepalive != peer.persistent_keepalive {
        b = match peer.persistent_keepalive {
            Some(k) => b.set_persistent_keepalive_interval(k),
            None => b.unset_persistent_keepalive(),
        };
        changed = true;
    }
    let have_ips: BTreeSet<IpNet> = have
        .allowed_ips
        .iter()
        .filter_map(|a| IpNet::new(a.address, a.cidr).ok().map(|n| n.trunc()))
        .collect();
    if have_ips != peer.allowed_ips {
        b = b
            .replace_allowed_ips()
            .add_allowed_ips(&allowed(&peer.allowed_ips));
        changed = true;
    }
    changed.then_some(b)
}

/// EOPNOTSUPP on Linux: what netlink answers for a link kind the kernel does not know.
const EOPNOTSUPP: i32 = 95;

fn apply_error(name: &str, backend: Backend, e: &io::Error) -> String {
    if backend == Backend::Kernel && e.raw_os_error() == Some(EOPNOTSUPP) {
        format!("configuring WireGuard interface {name}: the kernel has no WireGuard (EOPNOTSUPP); use --wg-backend auto or userspace")
    } else {
        format!("configuring WireGuard interface {name} ({backend}): {e}")
    }
}

fn uapi_socket(name: &str) -> PathBuf {
    PathBuf::from(UAPI_DIR).join(format!("{name}.sock"))
}

/// Whether a userspace WireGuard answers on `name`'s UAPI socket (a socket file left by a
/// dead process does not count).
fn uapi_socket_alive(name: &str) -> bool {
    std::os::unix::net::UnixStream::connect(uapi_socket(name)).is_ok()
}

/// The link's kind (`wireguard`, `tun`, …) if a link of that name exists here.
fn link_kind(name: &str) -> Result<Option<String>, String> {
    if !link_exists(name)? {
        return Ok(None);
    }
    let out =
        host::run("ip", &["-j", "-d", "link", "show", "dev", name]).map_err(|e| e.to_string())?;
    let links: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("ip -j -d link show dev {name}: {e}"))?;
    Ok(Some(
        links
            .get(0)
            .and_then(|l| l.get("linkinfo"))
            .and_then(|i| i.get("info_kind"))
            .and_then(|k| k.as_str())
            .unwrap_or("unknown")
            .to_string(),
    ))
}

/// Whether a link named `name` exists in this network namespace.
pub(crate) fn link_exists(name: &str) -> Result<bool, String> {
    match host::run("ip", &["-j", "link", "show", "dev", name]) {
        Ok(_) => Ok(true),
        Err(host::HostError::Failed { stderr, .. })
            // A device being deleted at that moment answers "No such device".
            if stderr.contains("does not exist")
                || stderr.contains("Cannot find device")
                || stderr.contains("No such device") =>
        {
            Ok(false)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Takes the interface away, whichever backend serves it. Removing a `wireguard-go`'s
/// UAPI socket makes it exit, taking its tun device along; a kernel link is deleted.
fn delete_interface(name: &str) -> Result<(), String> {
    let socket = uapi_socket(name);
    if socket.exists() {
        std::fs::remove_file(&socket).map_err(|e| format!("removing {}: {e}", socket.display()))?;
    }
    let _ = std::fs::remove_file(PathBuf::from(UAPI_DIR).join(format!("{name}.name")));
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if !link_exists(name)? {
            return Ok(());
        }
        // wireguard-go takes a moment to notice its socket is gone; deleting its tun device
        // also makes it exit. A kernel link goes at once.
        match host::run("ip", &["link", "del", "dev", name]) {
            Ok(_) => {}
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("deleting interface {name}: {e}"))
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return if link_exists(name)? {
                Err(format!("interface {name} is still there after deleting it"))
            } else {
                Ok(())
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key([n; 32])
    }

    fn peer(n: u8, ips: &[&str]) -> DesiredPeer {
        DesiredPeer {
            public_key: key(n),
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: None,
            allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn resolve_accepts_bracketed_ipv6_and_ipv4_literals() {
        assert_eq!(
            resolve("[fd00::1]:51820").unwrap(),
            vec!["[fd00::1]:51820".parse().unwrap()]
        );
        assert_eq!(
            resolve("10.0.0.1:51820").unwrap(),
            vec!["10.0.0.1:51820".parse().unwrap()]
        );
    }

    #[test]
    fn an_unchanged_peer_is_not_part_of_the_update() {
        let want = peer(1, &["10.0.0.2/32"]);
        let have = new_peer(&want).into_peer_config();
        assert!(peer_update(&want, &have).is_none());
        let moved = peer(1, &["10.0.0.3/32"]);
        let update = peer_update(&moved, &have).expect("allowed IPs changed");
        let config = update.into_peer_config();
        assert_eq!(config.allowed_ips, allowed(&moved.allowed_ips));
    }

    #[test]
    fn a_learnt_endpoint_stays_when_none_is_configured() {
        let want = peer(1, &["10.0.0.2/32"]);
        let have = new_peer(&want)
            .set_endpoint("192.0.2.1:4000".parse().unwrap())
            .into_peer_config();
        assert!(peer_update(&want, &have).is_none());
    }
}
