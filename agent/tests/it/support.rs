//! The harness: namespaces, re-executing this test binary inside one, and cleaning up every
//! namespace, `wireguard-go` process and UAPI socket a test made, also when it fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use raftwire_agent::converge::{Settings, WgBackend};

/// Set in a child: the namespace it runs in.
pub const IN_NETNS: &str = "RAFTWIRE_TEST_IN_NETNS";
/// Set in a child: the interface names it may use, comma-separated.
pub const IFACES: &str = "RAFTWIRE_TEST_IFACES";

/// Whether this process may create namespaces. A skip is loud, and a failure when
/// `RAFTWIRE_REQUIRE_NETNS=1`.
pub fn can_run(test: &str) -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref().ok() == Some("0") {
        return true;
    }
    if std::env::var("RAFTWIRE_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("{test}: needs root for network namespaces, and RAFTWIRE_REQUIRE_NETNS=1");
    }
    // Straight to stderr: the test harness captures `eprintln!`, and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED {test}: not root, cannot create network namespaces !!!!!!!!\n"
    );
    false
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique on this machine (process id and a counter), at most 15 bytes.
pub fn unique(prefix: &str) -> String {
    let name = format!(
        "{prefix}{:x}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    assert!(name.len() <= 15, "{name} is too long for an interface name");
    name
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
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

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Self {
        let name = unique("rwtns");
        sh("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        sh("ip", &["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `program args` inside the namespace.
    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
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

/// Waits up to `timeout` for `cond`.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills every `wireguard-go` serving one of the interfaces and removes their UAPI files.
pub struct WgGuard {
    pub ifaces: Vec<String>,
}

impl Drop for WgGuard {
    fn drop(&mut self) {
        for iface in &self.ifaces {
            for ext in ["sock", "name"] {
                let _ = std::fs::remove_file(format!("/run/wireguard/{iface}.{ext}"));
            }
            for pid in wireguard_go_pids(iface) {
                let _ = Command::new("kill").arg(pid.to_string()).output();
            }
            if !eventually(Duration::from_secs(2), || {
                wireguard_go_pids(iface).is_empty()
            }) {
                for pid in wireguard_go_pids(iface) {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .output();
                }
            }
        }
    }
}

/// Re-executes this test binary inside `ns`, running only `test`, and asserts it passed.
pub fn run_child(ns: &str, test: &str, env: &[(&str, String)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(IN_NETNS, ns);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{test} inside {ns} failed: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown with `--nocapture` (the harness captures it otherwise).
    print!("{stdout}");
    // `--exact` with a wrong name runs nothing and still succeeds.
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run inside {ns}:\n{stdout}"
    );
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
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            state_dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn iface(&self) -> &str {
        &self.ifaces[0]
    }

    pub fn settings(&self, backend: WgBackend, private_key: &str) -> Settings {
        Settings {
            interface: Some(self.iface().to_string()),
            wg_backend: backend,
            private_key: private_key.to_string(),
            state_dir: self.state_dir.path().to_path_buf(),
            dns_port: 53,
            runtime: self.runtime.handle().clone(),
        }
    }
}

/// Runs `body` in a fresh namespace of its own (re-executing the test there), with two
/// unique interface names; everything is cleaned up afterwards.
pub fn single_netns(path: &str, body: fn(&Ctx)) {
    let test = path.split_once("::").map(|(_, t)| t).unwrap_or(path);
    if std::env::var_os(IN_NETNS).is_some() {
        body(&Ctx::from_env());
        return;
    }
    if !can_run(test) {
        return;
    }
    let ns = Netns::new();
    let ifaces = vec![unique("rwt"), unique("rwt")];
    let _guard = WgGuard {
        ifaces: ifaces.clone(),
    };
    run_child(&ns.name, test, &[(IFACES, ifaces.join(","))]);
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

/// An agent configuration for `iface`.
pub fn config(
    iface: &str,
    addresses: &[&str],
    listen_port: Option<u16>,
    peers: &[PeerSpec],
) -> raftwire_api::agent::AgentConfig {
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

macro_rules! netns_test {
    ($(#[$m:meta])* fn $name:ident($ctx:ident) $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            fn body($ctx: &$crate::support::Ctx) $body
            $crate::support::single_netns(concat!(module_path!(), "::", stringify!($name)), body);
        }
    };
}
pub(crate) use netns_test;
