//! Nodes in process for the agent runtime tests: real nodes on loopback ports (RocksDB in
//! temp dirs, HTTP between them), and the real `raftwire-agent` binary as a child process
//! (the kit's [`Proc`], killed and reaped on drop).
//!
//! The node's own tests keep a fuller cluster of this kind next to the node (this crate
//! depends on the node, so the node's tests cannot use it); this one holds only what the
//! agent runtime tests need.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use raftwire_node::{start, NodeArgs, NodeConfig, NodeHandle, RaftTiming};
use raftwire_tests::probe::wait_until_async;
use raftwire_tests::procs::{binary, Proc};
use serde_json::{json, Value};

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Option<TestNode>>,
    pub http: reqwest::Client,
    /// Node 1's bootstrap admin token, replicated to every node.
    pub token: String,
    /// `--tls-cert`/`--tls-key` for every node, when set.
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub struct TestNode {
    pub id: u64,
    pub url: String,
    pub handle: NodeHandle,
}

impl Cluster {
    pub fn new() -> Cluster {
        Cluster {
            dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
            http: raftwire_node::tls::http_client(None, Duration::from_secs(5)).unwrap(),
            token: String::new(),
            tls: None,
        }
    }

    fn config(&self, id: u64, join: Option<String>) -> NodeConfig {
        let mut cfg = NodeArgs {
            id,
            data_dir: self.dir.path().join(format!("node{id}")),
            listen: "127.0.0.1:0".parse().unwrap(),
            advertise: None,
            admin_token_file: None,
            cluster_secret_file: Some(self.dir.path().join("cluster-secret")),
            bootstrap: id == 1 && join.is_none(),
            join,
            tls_cert: self.tls.as_ref().map(|t| t.0.clone()),
            tls_key: self.tls.as_ref().map(|t| t.1.clone()),
            tls_ca: None,
            snapshot_every: 10_000,
        }
        .resolve();
        // Fast elections, so a cluster that lost its leader recovers within a second.
        cfg.raft = RaftTiming {
            heartbeat_ms: 50,
            election_min_ms: 300,
            election_max_ms: 600,
            snapshot_every: 20,
            ..RaftTiming::default()
        };
        cfg
    }

    /// Starts node `id` (1 bootstraps; the others join node 1) on a free port.
    pub async fn start(&mut self, id: u64) {
        let idx = (id - 1) as usize;
        if self.nodes.len() <= idx {
            self.nodes.resize_with(idx + 1, || None);
        }
        let join = (id != 1).then(|| self.node(1).url.clone());
        let handle = start(self.config(id, join)).await.unwrap();
        if id == 1 {
            self.token = handle.admin_token.clone();
        }
        let url = handle.app.advertise.clone();
        self.nodes[idx] = Some(TestNode { id, url, handle });
    }

    /// A single-node cluster with a leader.
    pub async fn single() -> Cluster {
        let mut c = Cluster::new();
        c.start(1).await;
        c.leader().await;
        c
    }

    /// A three-node cluster, every node a voter.
    pub async fn three() -> Cluster {
        let mut c = Cluster::single().await;
        for id in [2, 3] {
            c.start(id).await;
            c.wait_voter(id).await;
        }
        c
    }

    pub fn node(&self, id: u64) -> &TestNode {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("node running")
    }

    pub fn running(&self) -> impl Iterator<Item = &TestNode> {
        self.nodes.iter().flatten()
    }

    pub fn urls(&self) -> Vec<String> {
        self.running().map(|n| n.url.clone()).collect()
    }

    /// Stops node `id`.
    pub async fn stop(&mut self, id: u64) {
        if let Some(n) = self.nodes[(id - 1) as usize].take() {
            n.handle.shutdown().await;
        }
    }

    pub async fn shutdown(mut self) {
        for id in 1..=self.nodes.len() as u64 {
            self.stop(id).await;
        }
    }

    /// The leader, once every running node agrees on one that runs.
    pub async fn leader(&self) -> u64 {
        wait_until_async(LIMIT, "every running node agrees on a leader", || async {
            let mut leaders = Vec::new();
            for n in self.running() {
                leaders.push(n.handle.app.raft.metrics().borrow().current_leader?);
            }
            let first = *leaders.first()?;
            let alive = self.running().any(|n| n.id == first);
            (alive && leaders.iter().all(|l| *l == first)).then_some(first)
        })
        .await
    }

    /// Waits until node `id` is a voter and serves the admin token.
    pub async fn wait_voter(&self, id: u64) {
        wait_until_async(LIMIT, "the node is a voter", || async {
            let l = self.leader().await;
            let m = self
                .node(l)
                .handle
                .app
                .raft
                .metrics()
                .borrow()
                .membership_config
                .clone();
            m.membership().voter_ids().any(|v| v == id).then_some(())
        })
        .await;
        wait_until_async(LIMIT, "the node accepts the admin token", || async {
            let (status, _) = self
                .request(id, reqwest::Method::GET, "/cluster", None)
                .await;
            (status == 200).then_some(())
        })
        .await
    }

    /// An admin request to node `id` under `/api/v1`.
    pub async fn request(
        &self,
        id: u64,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{}", self.node(id).url, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A write through node `id`, retried while the cluster has no leader (503).
    pub async fn write(
        &self,
        id: u64,
        method: reqwest::Method,
        path: &str,
        body: Value,
        expect: u16,
    ) -> Value {
        wait_until_async(LIMIT, "a leader to take the write", || async {
            let (status, answer) = self
                .request(id, method.clone(), path, Some(body.clone()))
                .await;
            if status == 503 {
                return None;
            }
            assert_eq!(status, expect, "{method} {path} {body} -> {answer}");
            Some(answer)
        })
        .await
    }
}

/// How long anything a node or the agent does may take here (the machine is shared and slow).
pub const LIMIT: Duration = Duration::from_secs(30);

/// A network with one regular peer whose host runs the agent.
pub struct AgentPeer {
    pub nid: String,
    pub pid: String,
    pub token: String,
}

impl AgentPeer {
    pub fn peer_id(&self) -> raftwire_api::PeerId {
        self.pid.parse().unwrap()
    }

    pub fn path(&self) -> String {
        format!("/networks/{}/peers/{}", self.nid, self.pid)
    }
}

/// Creates a network and a regular agent peer (`use_agent: true`) through node `id`.
pub async fn agent_peer(c: &Cluster, id: u64) -> AgentPeer {
    let net = c
        .write(
            id,
            reqwest::Method::POST,
            "/networks",
            json!({"name": "corp", "ipv4_cidr": "10.61.0.0/24"}),
            201,
        )
        .await;
    let nid = net["id"].as_str().unwrap().to_string();
    let peer = c
        .write(
            id,
            reqwest::Method::POST,
            &format!("/networks/{nid}/peers"),
            json!({"name": "host-a", "use_agent": true}),
            201,
        )
        .await;
    AgentPeer {
        nid,
        pid: peer["id"].as_str().unwrap().to_string(),
        token: peer["agent_token"]
            .as_str()
            .expect("an agent peer's token")
            .to_string(),
    }
}

/// Where an agent keeps its files: `<root>/state`, `<root>/token`, `<root>/agent-<n>.log`.
pub struct AgentFiles {
    pub root: tempfile::TempDir,
    /// How many agents were started on these files (each gets a log of its own).
    starts: std::cell::Cell<usize>,
}

impl AgentFiles {
    pub fn new(token: &str) -> AgentFiles {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("token"), format!("{token}\n")).unwrap();
        AgentFiles {
            root,
            starts: Default::default(),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// The persisted configuration, once there is one.
    pub fn persisted(&self) -> Option<raftwire_agent::state::Applied> {
        raftwire_agent::state::load(&self.state_dir())
            .ok()
            .flatten()
    }

    /// The agent's public key, derived from its private key file.
    pub fn public_key(&self) -> Option<String> {
        let path = self
            .state_dir()
            .join(raftwire_agent::keys::PRIVATE_KEY_FILE);
        let private = std::fs::read_to_string(path).ok()?;
        raftwire_agent::keys::KeyPair::from_private(&private)
            .ok()
            .map(|k| k.public().to_string())
    }

    /// Starts the agent against `servers`, with `extra` flags; its output goes to a new log.
    pub fn start(&self, servers: &[String], extra: &[&str]) -> Agent {
        let n = self.starts.replace(self.starts.get() + 1);
        let mut cmd = Command::new(binary("raftwire-agent"));
        // Only the flags below: none of the environment's agent settings.
        for (k, _) in std::env::vars() {
            if k.starts_with("RAFTWIRE_AGENT_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "raftwire_agent=debug,info")
            .arg("--server")
            .arg(servers.join(","))
            .arg("--token-file")
            .arg(self.root.path().join("token"))
            .arg("--state-dir")
            .arg(self.state_dir())
            .args(["--hostname", "host-a", "--resync-interval", "1s"])
            .args(extra);
        let log = self.root.path().join(format!("agent-{n}.log"));
        Agent {
            proc: Proc::spawn("raftwire-agent", cmd, log),
        }
    }
}

/// A running `raftwire-agent`; its log is printed when a test fails while it runs.
pub struct Agent {
    pub proc: Proc,
}

impl Agent {
    pub fn log(&self) -> String {
        self.proc.output()
    }

    /// Panics (with the log) if the agent exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.proc.try_exit() {
            panic!("the agent exited ({status}):\n{}", self.log());
        }
    }

    /// Waits until the log contains `text`; panics if the agent exits first.
    pub async fn wait_log(&mut self, text: &str, limit: Duration) {
        let what = format!("the agent logs {text:?}");
        wait_until_async(limit, &what, || {
            self.assert_running();
            let logged = self.log().contains(text);
            async move { logged.then_some(()) }
        })
        .await
    }

    /// Sends SIGTERM and waits for the exit; its status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.proc.signal("TERM");
        // The nodes in this runtime keep running on its other workers meanwhile.
        let status = tokio::task::block_in_place(|| self.proc.wait_exit(Duration::from_secs(10)));
        status.unwrap_or_else(|| panic!("the agent did not stop on SIGTERM:\n{}", self.log()))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("agent log {}:\n{}", self.proc.log.display(), self.log());
        }
    }
}
