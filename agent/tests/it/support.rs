//! What the agent's tests share: a test body run inside a network namespace of its own (the
//! namespace, re-running this binary inside it and the root check are the `raftwire-tests`
//! kit's), the agent's settings and configurations (written out, or rendered by the api from
//! a network), and reading back what the kernel holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use raftwire_agent::converge::{Settings, WgBackend};
use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::model::{Action, Direction, RuleTarget};
use raftwire_api::testkit::Builder;
use raftwire_api::IpStackMode;
pub use raftwire_tests::netns::{sh, unique, Netns};
pub use raftwire_tests::probe::eventually;
pub use raftwire_tests::reexec::{current, run_inside, test_path};
pub use raftwire_tests::root::netns_available;

/// Set in a child: the interface names it may use, comma-separated.
pub const IFACES: &str = "RAFTWIRE_TEST_IFACES";

/// A `#[test]` whose body runs inside a network namespace of its own:
/// `netns_test! { fn name(ctx) { … } }`, the body getting a [`Ctx`], or `fn name() { … }`.
macro_rules! netns_test {
    ($(#[$m:meta])* fn $name:ident($ctx:ident) $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            fn body($ctx: &$crate::support::Ctx) $body
            $crate::support::single_netns(module_path!(), stringify!($name), body);
        }
    };
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            fn body(_: &$crate::support::Ctx) $body
            $crate::support::single_netns(module_path!(), stringify!($name), body);
        }
    };
}
pub(crate) use netns_test;

/// Runs `body` in a fresh namespace of its own (re-executing the test `module_path::test`
/// there) with two unique interface names. The namespace goes afterwards, with every
/// process and `wireguard-go` socket of the test, also when the test fails.
pub fn single_netns(module_path: &str, test: &str, body: fn(&Ctx)) {
    if current().is_some() {
        body(&Ctx::from_env());
        return;
    }
    let path = test_path(module_path, test);
    if !netns_available(&path) {
        return;
    }
    let ns = Netns::new("t");
    let ifaces = [unique("i"), unique("i")].join(",");
    run_inside(&ns.name, &path, &[(IFACES, &ifaces)]);
}

/// What a test body gets inside its namespace.
pub struct Ctx {
    pub ifaces: Vec<String>,
    pub runtime: tokio::runtime::Runtime,
    pub state_dir: tempfile::TempDir,
}

impl Ctx {
    pub fn from_env() -> Self {
        let ifaces = std::env::var(IFACES)
            .unwrap()
            .split(',')
            .map(String::from)
            .collect();
        Ctx {
            ifaces,
            runtime: runtime(),
            state_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn iface(&self) -> &str {
        &self.ifaces[0]
    }

    pub fn settings(&self, backend: WgBackend, private_key: &str) -> Settings {
        Settings {
            wg_backend: backend,
            private_key: private_key.to_string(),
            ..settings(self.iface(), self.state_dir.path(), &self.runtime)
        }
    }
}

/// The agent's settings for the test: `iface`, and state kept in `state_dir`.
pub fn settings(iface: &str, state_dir: &Path, rt: &tokio::runtime::Runtime) -> Settings {
    Settings {
        interface: Some(iface.to_string()),
        wg_backend: WgBackend::Userspace,
        private_key: String::new(),
        state_dir: state_dir.to_path_buf(),
        dns_port: 53,
        runtime: rt.handle().clone(),
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// A unique interface name (≤ 15 bytes), as a link in the current namespace: the firewall
/// and forwarding modules only name it in their rules. A veth pair (its peer named
/// `<name>p`), since the kernel here has no dummy links.
pub fn test_link() -> String {
    let name = unique("f");
    let peer = format!("{name}p");
    sh(
        "ip",
        &["link", "add", &name, "type", "veth", "peer", "name", &peer],
    );
    name
}

/// A fresh WireGuard key pair (private, public), base64.
pub fn keypair() -> (String, String) {
    let private = sh("wg", &["genkey"]).trim().to_string();
    let mut child = Command::new("wg")
        .arg("pubkey")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(private.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    (
        private,
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

/// One `[Peer]` of a test configuration.
pub struct PeerSpec<'a> {
    pub public_key: &'a str,
    pub allowed_ips: &'a [&'a str],
    pub endpoint: Option<&'a str>,
    pub keepalive: Option<u16>,
}

/// An agent configuration for `iface`, written out: no firewall, forwarding, DNS or NAT.
pub fn config(
    iface: &str,
    addresses: &[&str],
    listen_port: Option<u16>,
    peers: &[PeerSpec],
) -> AgentConfig {
    let peers: Vec<serde_json::Value> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            serde_json::json!({
                "peer_id": format!("00000000-0000-0000-0000-0000000001{i:02}"),
                "name": format!("peer{i}"),
                "public_key": p.public_key,
                "allowed_ips": p.allowed_ips,
                "endpoint": p.endpoint,
                "persistent_keepalive": p.keepalive,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "peer_id": "00000000-0000-0000-0000-000000000001",
        "network_id": "00000000-0000-0000-0000-000000000002",
        "interface": {"name": iface, "addresses": addresses, "listen_port": listen_port},
        "peers": peers,
        "wg_quick": "",
        "firewall": null,
        "forwarding": {"ipv4": false, "ipv6": false},
        "dns": null,
        "nat": null
    }))
    .unwrap()
}

/// The families a test jump carries.
#[derive(Debug, Clone, Copy)]
pub enum Stack {
    Dual,
    Ipv4,
    Ipv6,
}

/// A jump's configuration, rendered by the api: the jump `gw` and peers `laptop` and
/// `phone`; `laptop` is in an `ops` group whose policy allows output to an IPv4 LAN and an
/// IPv6 LAN, input from `phone`, and denies all other output. Routes to both LANs through
/// the jump, with IPv6 NAT, so both families have NAT rules.
pub fn jump_config(stack: Stack) -> AgentConfig {
    let (mode, v4, v6) = match stack {
        Stack::Dual => (IpStackMode::Dual, Some("10.0.0.0/24"), Some("fd00::/64")),
        Stack::Ipv4 => (IpStackMode::Ipv4, Some("10.0.0.0/24"), None),
        Stack::Ipv6 => (IpStackMode::Ipv6, None, Some("fd00::/64")),
    };
    let mut b = Builder::new("corp", mode, v4, v6);
    let jump = b.jump("gw");
    let laptop = b.peer("laptop");
    let phone = b.peer("phone");
    let ops = b.group("ops", 10);
    let cidr = |s: &str| RuleTarget::Cidr(s.parse().expect("CIDR"));
    let policy = b.policy(
        "ops",
        &[
            (Direction::Output, Action::Allow, cidr("192.168.1.0/24")),
            (Direction::Output, Action::Allow, cidr("2001:db8:1::/48")),
            (Direction::Input, Action::Allow, RuleTarget::Peer(phone)),
            (Direction::Output, Action::Deny, RuleTarget::Any),
        ],
    );
    b.attach_policy(ops, policy);
    b.join(laptop, ops);
    if v4.is_some() {
        b.route("lan", "192.168.1.0/24", jump);
    }
    if v6.is_some() {
        b.route("lan6", "2001:db8:1::/48", jump);
        b.peer_mut(jump).ipv6_nat = true;
    }
    let data = b.build();
    let view = data.view();
    let idx = view.index();
    agent_config(&view, &idx, jump).expect("the jump's config")
}

/// A regular peer's configuration (no firewall, no forwarding) of the same network.
pub fn regular_config() -> AgentConfig {
    let mut b = Builder::new(
        "corp",
        IpStackMode::Dual,
        Some("10.0.0.0/24"),
        Some("fd00::/64"),
    );
    b.jump("gw");
    let laptop = b.peer("laptop");
    let data = b.build();
    let view = data.view();
    let idx = view.index();
    agent_config(&view, &idx, laptop).expect("the peer's config")
}

/// The `wireguard-go` processes serving `iface` (zombies, whose command line is empty,
/// do not count).
pub fn wireguard_go_pids(iface: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_wg_go = args
            .first()
            .and_then(|a| {
                Path::new(std::str::from_utf8(a).ok()?)
                    .file_name()?
                    .to_str()
                    .map(|s| s == "wireguard-go")
            })
            .unwrap_or(false);
        if is_wg_go && args.iter().skip(1).any(|a| *a == iface.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// `wg show <iface> dump`: the interface line, and each peer's line by public key.
pub fn wg_dump(iface: &str) -> (String, BTreeMap<String, String>) {
    let out = sh("wg", &["show", iface, "dump"]);
    let mut lines = out.lines();
    let head = lines.next().unwrap_or_default().to_string();
    let peers = lines
        .map(|l| (l.split('\t').next().unwrap().to_string(), l.to_string()))
        .collect();
    (head, peers)
}

/// A peer line's allowed IPs, sorted.
pub fn dump_allowed_ips(line: &str) -> Vec<String> {
    let field = line.split('\t').nth(3).unwrap();
    let mut ips: Vec<String> = if field == "(none)" {
        vec![]
    } else {
        field.split(',').map(String::from).collect()
    };
    ips.sort();
    ips
}

/// The interface's global addresses (`10.0.0.1/32`, …), sorted.
pub fn addresses(iface: &str) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&sh("ip", &["-j", "addr", "show", "dev", iface])).unwrap();
    let mut out: Vec<String> = json[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    out.sort();
    out
}

/// Whether the link is administratively up.
pub fn link_up(iface: &str) -> bool {
    let json: serde_json::Value =
        serde_json::from_str(&sh("ip", &["-j", "link", "show", "dev", iface])).unwrap();
    json[0]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "UP")
}

/// Destinations of the routes through the interface (both families) that are not the
/// kernel's own (`proto kernel`), as `ip` prints them, sorted.
pub fn routes(iface: &str) -> Vec<String> {
    let mut out = Vec::new();
    for fam in ["-4", "-6"] {
        let json: serde_json::Value =
            serde_json::from_str(&sh("ip", &["-j", fam, "route", "show", "dev", iface])).unwrap();
        for r in json.as_array().unwrap() {
            if r["protocol"] != "kernel" {
                out.push(r["dst"].as_str().unwrap().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Whether a link of that name exists in this namespace.
pub fn link_exists(iface: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", "dev", iface])
        .output()
        .unwrap()
        .status
        .success()
}

/// `iptables-save` (or `ip6tables-save`) of both tables, without comments and counters, for
/// comparing whole rule sets.
pub fn save(tool: &str) -> String {
    let mut out = String::new();
    for table in ["filter", "nat"] {
        for line in sh(tool, &["-t", table]).lines() {
            if line.starts_with('#') {
                continue;
            }
            let line = match line.find(" [") {
                Some(i) if line.starts_with(':') => &line[..i],
                _ => line,
            };
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The `-A` lines of `chain` in `tool -t table` output.
pub fn chain_rules(tool: &str, table: &str, chain: &str) -> Vec<String> {
    let prefix = format!("-A {chain} ");
    sh(tool, &["-t", table])
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Whether `tool -t table` output mentions any RAFTWIRE chain or jump.
pub fn has_raftwire(tool: &str, table: &str) -> bool {
    sh(tool, &["-t", table]).contains("RAFTWIRE")
}

/// A rendered `-A` line as `iptables-save` prints it back: conntrack states in kernel
/// order, a match on every address left out.
pub fn as_saved(rendered: &str) -> String {
    rendered
        .replace("ESTABLISHED,RELATED", "RELATED,ESTABLISHED")
        .replace(" -d 0.0.0.0/0", "")
        .replace(" -d ::/0", "")
        .replace(" -s 0.0.0.0/0", "")
        .replace(" -s ::/0", "")
}

/// The rendered `-A` lines of `chain` in a restore text, as `iptables-save` prints them.
pub fn rendered_rules(restore: &str, chain: &str) -> Vec<String> {
    let prefix = format!("-A {chain} ");
    restore
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(as_saved)
        .collect()
}

pub const IPV4_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
pub const IPV6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

pub fn sysctl(path: &str) -> String {
    std::fs::read_to_string(path)
        .expect("sysctl")
        .trim()
        .to_string()
}

pub fn set_sysctl(path: &str, value: &str) {
    std::fs::write(path, value).expect("write sysctl");
}
