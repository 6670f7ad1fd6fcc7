//! `deploy/local-cluster.sh` driven by a test: three nodes on loopback behind HAProxy,
//! started by the script itself (so the script is what is tested), its state in a scratch
//! directory. Dropping it runs `stop` and removes the directory, also when the test panics.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, Ordering};

use crate::api::Api;
use crate::procs::binary;

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// A cluster started by `deploy/local-cluster.sh start`.
pub struct LocalCluster {
    pub dir: tempfile::TempDir,
    /// HAProxy's port; the nodes listen on the next three.
    pub port: u16,
    /// The API through HAProxy, with node 1's admin token.
    pub lb: Api,
    /// What `start` printed.
    pub start_output: String,
}

/// Clusters this process started: each probes ports of its own, since a port found free
/// stays free only until a cluster started alongside binds it.
static STARTED: AtomicU16 = AtomicU16::new(0);

/// A port `p` such that `p..p+4` are all free on loopback now (HAProxy and three nodes).
fn four_free_ports() -> u16 {
    // Spread by pid, so concurrent test binaries do not probe the same ports first, and by
    // cluster, so neither do concurrent tests.
    let nth = STARTED.fetch_add(1, Ordering::Relaxed);
    let first = 20_000 + (std::process::id() % 2_000) as u16 * 16 + nth * 4;
    (0..1_000u16)
        .map(|i| first.wrapping_add(i * 64))
        .filter(|p| (20_000..60_000).contains(p))
        .find(|&p| (p..p + 4).all(|q| TcpListener::bind(("127.0.0.1", q)).is_ok()))
        .expect("four consecutive free ports on loopback")
}

impl LocalCluster {
    /// Runs `local-cluster.sh start` with the binaries next to the test executable; panics
    /// with the script's output and logs when it fails.
    pub fn start() -> LocalCluster {
        let dir = tempfile::Builder::new()
            .prefix("local-cluster")
            .tempdir()
            .expect("scratch dir");
        let mut c = LocalCluster {
            dir,
            port: four_free_ports(),
            lb: Api {
                base: String::new(),
                token: String::new(),
            },
            start_output: String::new(),
        };
        let out = c.script("start");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "local-cluster.sh start failed: {}\n{text}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            c.logs()
        );
        let token = std::fs::read_to_string(c.dir.path().join("n1/admin-token"))
            .expect("node 1's admin token file");
        c.lb = Api {
            base: format!("http://127.0.0.1:{}", c.port),
            token: token.trim().to_string(),
        };
        c.start_output = text;
        c
    }

    /// Runs `local-cluster.sh <action>` on this cluster's directory and ports.
    pub fn script(&self, action: &str) -> Output {
        let node = binary("raftwire-node");
        Command::new(deploy_dir().join("local-cluster.sh"))
            .arg(action)
            .env("LOCAL_CLUSTER_DIR", self.dir.path())
            .env("LOCAL_CLUSTER_PORT", self.port.to_string())
            .env(
                "LOCAL_CLUSTER_BIN",
                node.parent().expect("the binaries' dir"),
            )
            .output()
            .expect("run local-cluster.sh")
    }

    /// The pid of node `id` (or `haproxy`) as the script recorded it.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let file = self.dir.path().join(format!("{name}.pid"));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// The API of node `id` directly (not through HAProxy).
    pub fn node(&self, id: u64) -> Api {
        Api {
            base: format!("http://127.0.0.1:{}", self.port + id as u16),
            token: self.lb.token.clone(),
        }
    }

    /// The leader as the cluster reports it through HAProxy.
    pub fn leader(&self) -> Option<u64> {
        self.lb.get("/cluster").body["leader_id"].as_u64()
    }

    /// Sends `signal` (`KILL`, `TERM`) to node `id`.
    pub fn signal(&self, id: u64, signal: &str) {
        let pid = self
            .pid(&format!("n{id}"))
            .unwrap_or_else(|| panic!("no pid file of node {id}"));
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} (node {id})");
    }

    /// Every log of the cluster, for a failing test.
    pub fn logs(&self) -> String {
        ["n1", "n2", "n3", "haproxy"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{n}.log")))
                    .unwrap_or_default();
                // The tail is what explains a failure.
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                format!("==== {n}.log\n{tail}\n")
            })
            .collect()
    }
}

/// Whether a process with this pid exists.
pub fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.script("stop");
        // Whatever `stop` could not end (it should have ended all).
        for name in ["haproxy", "n1", "n2", "n3"] {
            if let Some(pid) = self.pid(name) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}
