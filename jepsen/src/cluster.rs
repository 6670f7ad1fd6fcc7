//! The cluster under test: N `raftwire-node` processes, node `i` in a network namespace of
//! its own with address `10.77.0.i/24` on a bridge (`10.77.0.254`) in the namespace this
//! harness runs in. Clients reach every node over the bridge; partitions are iptables
//! `INPUT` drops inside the nodes' namespaces (the harness's own address is never dropped,
//! so clients keep reaching a cut-off node, as a load balancer would). Everything — the
//! processes, then the namespaces — goes on drop.

use anyhow::{bail, Context};
use raftwire_tests::netns::{link_here, Netns};
use raftwire_tests::procs::Proc;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The bridge's address: where the clients come from.
pub const HARNESS_ADDR: &str = "10.77.0.254";
/// The port every node listens on (each on its own address).
pub const PORT: u16 = 7070;

pub fn addr(id: u64) -> String {
    format!("10.77.0.{id}")
}

pub fn url(id: u64) -> String {
    format!("http://{}:{PORT}", addr(id))
}

/// One node: its namespace, its process (when running), its data.
pub struct Node {
    pub id: u64,
    pub data: PathBuf,
    /// The node's end of its veth (the underlay link, for `tc`).
    pub link: String,
    // Drop order: the process, then the namespace.
    pub proc: Option<Proc>,
    pub ns: Netns,
    /// Runs since the last (re)start.
    pub starts: u32,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub token: String,
    bridge: String,
}

impl Cluster {
    /// Builds the bridge and the namespaces, starts node 1 (bootstrap) and joins the others.
    pub fn start(n: u64, dir: &Path, bin: &Path, token: &str) -> anyhow::Result<Cluster> {
        let bridge = "rwjbr0".to_string();
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{HARNESS_ADDR}/24"), "dev", &bridge],
        )?;
        run("ip", &["link", "set", &bridge, "up"])?;
        run("ip", &["link", "set", "lo", "up"])?;
        let mut nodes = Vec::new();
        for id in 1..=n {
            let ns = Netns::new(&format!("n{id}"));
            let (here, there) = link_here(&[], &ns, &[&format!("{}/24", addr(id))]);
            run("ip", &["link", "set", &here, "master", &bridge])?;
            nodes.push(Node {
                id,
                data: dir.join(format!("n{id}")),
                link: there,
                proc: None,
                ns,
                starts: 0,
            });
        }
        let mut c = Cluster {
            nodes,
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            token: token.to_string(),
            bridge,
        };
        // The operator's part: one cluster secret, on every node before any starts (a
        // joining node never generates one; nodes started together would race for it).
        write_secret(&c.dir.join("secret"))?;
        for id in 1..=n {
            c.spawn(id, (id > 1).then(|| url(1)).as_deref());
        }
        Ok(c)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Starts node `id` from its data dir (joining `join` when it has none).
    pub fn spawn(&mut self, id: u64, join: Option<&str>) {
        let secret = self.dir.join("secret");
        let token = self.token.clone();
        let bin = self.bin.clone();
        let dir = self.dir.clone();
        let node = self.node_mut(id);
        let mut cmd = node.ns.command(bin.to_str().unwrap_or("raftwire-node"));
        cmd.args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(&node.data)
            .args(["--listen", &format!("{}:{PORT}", addr(id))])
            .arg("--cluster-secret-file")
            .arg(&secret)
            .env("RAFTWIRE_ADMIN_TOKEN", &token)
            .env("RUST_LOG", "warn");
        if let Some(j) = join {
            cmd.args(["--join", j]);
        }
        // One log per start: n<id>.<start>.log.
        let log = dir.join(format!("n{id}.{}.log", node.starts));
        node.starts += 1;
        node.proc = Some(Proc::spawn(&format!("node {id}"), cmd, log));
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut p) = self.node_mut(id).proc.take() {
            p.kill();
        }
    }

    pub fn signal(&self, id: u64, sig: &str) {
        if let Some(p) = &self.node(id).proc {
            p.signal(sig);
        }
    }

    /// Node `id` drops everything from `from` (one direction: `from` still hears `id`).
    pub fn drop_from(&self, id: u64, from: &BTreeSet<u64>) -> anyhow::Result<()> {
        for f in from.iter().filter(|f| **f != id) {
            in_ns(
                &self.node(id).ns,
                "iptables",
                &["-A", "INPUT", "-s", &addr(*f), "-j", "DROP"],
            )?;
        }
        Ok(())
    }

    /// Cuts the cluster into `sides`: every node drops what comes from the sides it is not on.
    pub fn partition(&self, sides: &[BTreeSet<u64>]) -> anyhow::Result<()> {
        for id in self.ids() {
            let seen: BTreeSet<u64> = sides
                .iter()
                .filter(|s| s.contains(&id))
                .flatten()
                .copied()
                .collect();
            let cut: BTreeSet<u64> = self
                .ids()
                .into_iter()
                .filter(|i| !seen.contains(i))
                .collect();
            self.drop_from(id, &cut)?;
        }
        Ok(())
    }

    /// Removes every partition.
    pub fn heal_network(&self) -> anyhow::Result<()> {
        for n in &self.nodes {
            in_ns(&n.ns, "iptables", &["-F", "INPUT"])?;
        }
        Ok(())
    }

    /// Adds `tc netem` delay on node `id`'s underlay link; `false` where the kernel has no
    /// netem.
    pub fn delay(&self, id: u64, ms: u64) -> bool {
        let n = self.node(id);
        let (ok, _) = n.ns.try_exec(
            "tc",
            &[
                "qdisc",
                "add",
                "dev",
                &n.link,
                "root",
                "netem",
                "delay",
                &format!("{ms}ms"),
                &format!("{}ms", ms / 2),
            ],
        );
        ok
    }

    pub fn undelay(&self, id: u64) {
        let n = self.node(id);
        let _ =
            n.ns.try_exec("tc", &["qdisc", "del", "dev", &n.link, "root"]);
    }

    /// Wipes node `id`'s data dir (it must not run).
    pub fn wipe(&mut self, id: u64) -> anyhow::Result<()> {
        let data = self.node(id).data.clone();
        if data.exists() {
            std::fs::remove_dir_all(&data).with_context(|| format!("wiping {}", data.display()))?;
        }
        Ok(())
    }

    /// What the nodes printed, for a failing run.
    pub fn logs(&self) -> Vec<PathBuf> {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.retain(|p| p.extension().is_some_and(|e| e == "log"));
        logs.sort();
        logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(p) = &n.proc {
                // A paused process ignores nothing but SIGKILL; resume it anyway so that its
                // reaping is prompt.
                p.signal("CONT");
            }
            n.proc = None;
        }
        self.nodes.clear();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// Runs a command in this namespace; an error carrying its output on failure.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn in_ns(ns: &Netns, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let (ok, text) = ns.try_exec(program, args);
    if !ok {
        bail!("{program} {} in {}: {text}", args.join(" "), ns.name);
    }
    Ok(())
}

/// A fresh cluster secret in `path` (mode 0600): 32 bytes of the OS's randomness, hex.
fn write_secret(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{hex}\n").as_bytes())
}
