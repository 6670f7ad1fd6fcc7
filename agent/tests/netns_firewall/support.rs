//! Namespaces, configurations built by the api itself, and reading the host's rules.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use raftwire_agent::converge::{Settings, WgBackend};
use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::model::{Action, Direction, RuleTarget};
use raftwire_api::testkit::Builder;
use raftwire_api::IpStackMode;

const IN_NETNS: &str = "RAFTWIRE_TEST_IN_NETNS";
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether tests needing root may run here; prints a loud skip message when not (and fails
/// when `RAFTWIRE_REQUIRE_NETNS=1` demands they run).
pub fn can_use_netns() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid == "0" {
        return true;
    }
    if std::env::var("RAFTWIRE_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("RAFTWIRE_REQUIRE_NETNS=1 but not root: network namespace tests cannot run");
    }
    eprintln!("!!!!! SKIPPED: not root, network namespace tests need root !!!!!");
    false
}

/// Deletes the namespace when the test ends, however it ends.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs `body` inside a fresh network namespace: `test` is the test's path in this binary
/// (`module::name`), which the child runs alone.
pub fn in_netns(test: &str, body: impl FnOnce()) {
    if let Ok(ns) = std::env::var(IN_NETNS) {
        // Refuse to touch a firewall that is not the test's own namespace's.
        let identify = Command::new("ip")
            .args(["netns", "identify", &std::process::id().to_string()])
            .output()
            .expect("ip netns identify");
        assert_eq!(
            String::from_utf8_lossy(&identify.stdout).trim(),
            ns,
            "not inside the test's namespace"
        );
        body();
        return;
    }
    if !can_use_netns() {
        return;
    }
    let name = format!(
        "rwfw{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let status = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("ip netns add");
    assert!(status.success(), "ip netns add {name}");
    let _ns = Netns(name.clone());
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(IN_NETNS, &name)
        .output()
        .expect("ip netns exec");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed inside {name}:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // The child must really have run the test, not filtered it away.
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run inside {name}:\n{stdout}"
    );
}

/// A `#[test]` whose body runs inside its own network namespace.
#[macro_export]
macro_rules! netns_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            let full = concat!(module_path!(), "::", stringify!($name));
            // Test names in this binary do not include the crate's name.
            let path = full.split_once("::").map_or(full, |(_, rest)| rest);
            $crate::support::in_netns(path, || $body);
        }
    };
}

/// Runs a command in the namespace and returns its standard output; panics on failure.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A unique interface name (≤ 15 bytes), as a link in the current namespace: the modules
/// only name it in their rules. A veth pair (its peer named `<name>p`), since the kernel here
/// has no dummy links.
pub fn test_link() -> String {
    let name = format!(
        "rwf{}x{}",
        std::process::id() % 1_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let peer = format!("{name}p");
    sh(
        "ip",
        &["link", "add", &name, "type", "veth", "peer", "name", &peer],
    );

    name
}

/// The agent's settings for the test: `iface`, and state kept in `state_dir`.
pub fn settings(
    iface: &str,
    state_dir: &std::path::Path,
    rt: &tokio::runtime::Runtime,
) -> Settings {
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
