//! Network namespaces, veth links and commands inside them — always removed again.
//!
//! Names are unique per process and call (`rw<pid>x<n>…`), so tests run in parallel and a
//! crashed run never collides with the next. A [`Netns`] deletes itself on drop, after
//! killing every process still inside it (and removing the UAPI sockets of the userspace
//! WireGuard interfaces it held), so no test leaves a namespace, a process or a socket
//! behind, also when it panics.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique on this machine to this process and call: `rw<pid in hex>x<n><tag>`,
/// at most 15 bytes so it can also name interfaces (whose names share one machine-wide UAPI
/// socket directory). The whole process id, so no two processes ever share a name.
#[track_caller]
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("rw{:x}x{n}{tag}", std::process::id());
    assert!(name.len() <= 15, "{name} is too long to name an interface");
    name
}

/// The output of a command, or a panic naming it and what it printed.
#[track_caller]
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace made by a test.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new namespace with its loopback up.
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        sh("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec("ip", &["link", "set", "lo", "up"]);
        ns
    }

    /// `program args…` inside the namespace; panics on failure.
    #[track_caller]
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    /// `program args…` inside the namespace: (success, stdout + stderr).
    pub fn try_exec(&self, program: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {program}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// A command to run inside the namespace (for processes to keep: see `procs`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// A sysctl's value inside the namespace (`net.ipv4.ip_forward`).
    pub fn sysctl(&self, key: &str) -> String {
        self.exec("sysctl", &["-n", key]).trim().to_string()
    }

    /// Whatever of the host's state a failed test should show: addresses, routes, rules, wg.
    pub fn describe(&self) -> String {
        let mut out = format!("==== namespace {}\n", self.name);
        for (p, a) in [
            ("ip", vec!["-br", "addr"]),
            ("ip", vec!["route"]),
            ("ip", vec!["-6", "route"]),
            ("iptables-save", vec![]),
            ("ip6tables-save", vec![]),
        ] {
            let (_, text) = self.try_exec(p, &a);
            out.push_str(&format!("--- {p} {}\n{text}", a.join(" ")));
        }
        // `wg show` alone lists every userspace interface of the machine (their sockets
        // share one directory): only this namespace's links.
        for link in self.links() {
            let (ok, text) = self.try_exec("wg", &["show", &link]);
            if ok {
                out.push_str(&format!("--- wg show {link}\n{text}"));
            }
        }
        out
    }
}

impl Netns {
    /// The names of the links in the namespace (empty when it cannot be read).
    fn links(&self) -> Vec<String> {
        let Ok(out) = Command::new("ip")
            .args(["-n", &self.name, "-j", "link", "show"])
            .output()
        else {
            return Vec::new();
        };
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        links
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["ifname"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // A userspace WireGuard interface's UAPI socket lives in the directory every
        // namespace shares, and a killed `wireguard-go` leaves it behind: note the links now,
        // before the processes serving them go.
        let links = self.links();
        // Processes still inside keep the namespace alive: end them first.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        for link in links {
            for ext in ["sock", "name"] {
                let _ = std::fs::remove_file(format!("/run/wireguard/{link}.{ext}"));
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects `a` and `b` with a veth pair and gives each end an address (`10.x.y.z/24`,
/// `fdxx::/64`; IPv6 without duplicate address detection, which would leave it tentative).
pub fn link(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) -> (String, String) {
    let (ea, eb) = (unique("a"), unique("b"));
    sh(
        "ip",
        &[
            "link", "add", &ea, "netns", &a.name, "type", "veth", "peer", "name", &eb, "netns",
            &b.name,
        ],
    );
    for (ns, dev, addrs) in [(a, &ea, a_addrs), (b, &eb, b_addrs)] {
        for addr in addrs {
            if addr.contains(':') {
                ns.exec("ip", &["addr", "add", addr, "dev", dev, "nodad"]);
            } else {
                ns.exec("ip", &["addr", "add", addr, "dev", dev]);
            }
        }
        ns.exec("ip", &["link", "set", dev, "up"]);
    }
    (ea, eb)
}

/// Connects the namespace this process runs in with `b` (a veth pair), addresses as [`link`].
pub fn link_here(here_addrs: &[&str], b: &Netns, b_addrs: &[&str]) -> (String, String) {
    let (ea, eb) = (unique("a"), unique("b"));
    sh(
        "ip",
        &[
            "link", "add", &ea, "type", "veth", "peer", "name", &eb, "netns", &b.name,
        ],
    );
    for addr in here_addrs {
        if addr.contains(':') {
            sh("ip", &["addr", "add", addr, "dev", &ea, "nodad"]);
        } else {
            sh("ip", &["addr", "add", addr, "dev", &ea]);
        }
    }
    sh("ip", &["link", "set", &ea, "up"]);
    for addr in b_addrs {
        if addr.contains(':') {
            b.exec("ip", &["addr", "add", addr, "dev", &eb, "nodad"]);
        } else {
            b.exec("ip", &["addr", "add", addr, "dev", &eb]);
        }
    }
    b.exec("ip", &["link", "set", &eb, "up"]);
    (ea, eb)
}
