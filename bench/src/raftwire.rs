//! A Raftwire cluster of real `raftwire-node` processes on loopback (RocksDB on disk, fsync
//! on, the shipped Raft timing), started in a temporary directory and killed on drop, and
//! the API calls the workloads make.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use raftwire_tests::procs::Proc;
use serde_json::{json, Value};

use crate::procs::{free_ports, wait_for, workspace_binary};

const STARTUP: Duration = Duration::from_secs(60);

/// The environment variable naming the `raftwire-node` binary to measure instead of the one
/// built next to the bench.
pub const NODE_ENV: &str = "RAFTWIRE_BENCH_NODE";

/// One node process.
pub struct Node {
    pub proc: Proc,
    pub port: u16,
    pub data: PathBuf,
}

impl Node {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub struct Cluster {
    // Fields drop in order: the nodes are killed before `dir` removes their data.
    nodes: BTreeMap<u64, Node>,
    ports: BTreeMap<u64, u16>,
    bin: PathBuf,
    pub token: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `size` nodes: node 1 bootstraps, the others join it and become voters.
    pub async fn start(size: u64) -> anyhow::Result<Cluster> {
        // Another build of the node (a before/after comparison in one run) or this one's.
        let bin = match std::env::var_os(NODE_ENV) {
            Some(path) => PathBuf::from(path),
            None => workspace_binary("raftwire-node")?,
        };
        let dir = tempfile::Builder::new().prefix("rwbench").tempdir()?;
        let ports = (1..=size).zip(free_ports(size as usize)?).collect();
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            ports,
            bin,
            token: String::new(),
            http: crate::load::http_client()?,
            dir,
        };
        c.spawn(1).await?;
        let token_file = c.dir.path().join("n1").join("admin-token");
        c.token = wait_for(STARTUP, "node 1's admin token", || {
            let t = std::fs::read_to_string(&token_file).unwrap_or_default();
            async move { Some(t.trim().to_string()).filter(|t| !t.is_empty()) }
        })
        .await?;
        for id in 2..=size {
            c.spawn(id).await?;
        }
        let want = size as usize;
        let this = &c;
        wait_for(STARTUP, "every node to be a voter", || async move {
            let s = this.status(1).await.ok()?;
            let voters = s["members"]
                .as_array()?
                .iter()
                .filter(|m| m["voter"] == true);
            (voters.count() == want).then_some(())
        })
        .await?;
        for id in 1..=size {
            c.wait_ready(id).await?;
        }
        Ok(c)
    }

    /// Starts node `id` on its port with its data directory (new or existing).
    async fn spawn(&mut self, id: u64) -> anyhow::Result<Duration> {
        let port = self.ports[&id];
        let data = self.dir.path().join(format!("n{id}"));
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--cluster-secret-file")
            .arg(self.dir.path().join("secret"));
        if id != 1 {
            cmd.args(["--join", &format!("http://127.0.0.1:{}", self.ports[&1])]);
        }
        let log = self.dir.path().join(format!("n{id}.log"));
        let started = Instant::now();
        let node = Node {
            proc: Proc::spawn(&format!("node {id}"), cmd, log),
            port,
            data,
        };
        self.nodes.insert(id, node);
        let url = format!("http://127.0.0.1:{port}/healthz");
        let http = &self.http;
        wait_for(STARTUP, &format!("node {id} to answer"), || {
            let url = url.clone();
            async move { http.get(url).send().await.ok().map(|_| ()) }
        })
        .await?;
        Ok(started.elapsed())
    }

    /// Waits until node `id` knows a leader and has applied what it knows to be committed.
    pub async fn wait_ready(&self, id: u64) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.base(id)?);
        let http = &self.http;
        wait_for(STARTUP, &format!("node {id} to be ready"), || {
            let url = url.clone();
            async move {
                let r = http.get(url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await
    }

    pub fn base(&self, id: u64) -> anyhow::Result<String> {
        Ok(self.node(id)?.base())
    }

    pub fn node(&self, id: u64) -> anyhow::Result<&Node> {
        self.nodes
            .get(&id)
            .with_context(|| format!("node {id} is not running"))
    }

    /// The running nodes' ids.
    pub fn running(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The ports of every node, running or not.
    pub fn ports(&self) -> Vec<u16> {
        self.ports.values().copied().collect()
    }

    pub async fn status(&self, id: u64) -> anyhow::Result<Value> {
        self.get(id, "/api/v1/cluster").await
    }

    pub async fn get(&self, id: u64, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base(id)?))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// The leader as seen by a running node, once it is one of the running nodes.
    pub async fn leader(&self) -> anyhow::Result<u64> {
        let this = self;
        wait_for(STARTUP, "a leader among the running nodes", || async move {
            for id in this.running() {
                if let Ok(s) = this.status(id).await {
                    if let Some(l) = s["leader_id"].as_u64() {
                        if this.nodes.contains_key(&l) {
                            return Some(l);
                        }
                    }
                }
            }
            None
        })
        .await
    }

    /// A running node other than `not`.
    pub fn other_than(&self, not: u64) -> anyhow::Result<u64> {
        self.running()
            .into_iter()
            .find(|id| *id != not)
            .context("no other node is running")
    }

    /// SIGKILLs node `id`; returns when it was killed.
    pub fn kill(&mut self, id: u64) -> anyhow::Result<SystemTime> {
        let mut node = self
            .nodes
            .remove(&id)
            .with_context(|| format!("node {id} is not running"))?;
        let at = SystemTime::now();
        node.proc.kill();
        Ok(at)
    }

    /// Starts node `id` again on its data; the time until it is ready.
    pub async fn restart(&mut self, id: u64) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.spawn(id).await?;
        self.wait_ready(id).await?;
        Ok(started.elapsed())
    }

    /// Resident memory of node `id`.
    pub fn rss(&self, id: u64) -> anyhow::Result<u64> {
        let pid = self.node(id)?.proc.pid().context("the node has exited")?;
        crate::procs::rss(pid)
    }

    /// The node's log so far.
    pub fn log(&self, id: u64) -> anyhow::Result<String> {
        Ok(self.node(id)?.proc.output())
    }

    /// Creates a network; its id.
    pub async fn create_network(&self, body: Value) -> anyhow::Result<String> {
        let r = self
            .http
            .post(format!("{}/api/v1/networks", self.base(1)?))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let answer: Value = r.json().await?;
        if status.as_u16() != 201 {
            bail!("create network: {status} {answer}");
        }
        answer["id"]
            .as_str()
            .map(str::to_string)
            .context("network without an id")
    }
}

/// A dual-stack network big enough for any run (the shape of the measurements).
pub fn dual_stack_network(name: &str) -> Value {
    json!({"name": name, "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/8", "ipv6_cidr": "fd00:1::/64"})
}

/// Where a workload sends peer creations: the API base, the token and the network.
#[derive(Clone)]
pub struct PeerTarget {
    pub base: String,
    pub token: String,
    pub network: String,
    /// Names are `<prefix>-<n>`, unique per run.
    pub prefix: String,
}

impl PeerTarget {
    /// Creates peer number `n` (a static peer: the server generates its key pair).
    pub async fn create(&self, http: &reqwest::Client, n: usize) -> Result<(), String> {
        let r = http
            .post(format!(
                "{}/api/v1/networks/{}/peers",
                self.base, self.network
            ))
            .bearer_auth(&self.token)
            .json(&json!({"name": format!("{}-{n}", self.prefix)}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        // Read the body so the connection is reused.
        let body = r.bytes().await.map_err(|e| e.to_string())?;
        if status.as_u16() == 201 {
            Ok(())
        } else {
            Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
        }
    }
}
