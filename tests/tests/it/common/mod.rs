//! Harness: real nodes on loopback ports (RocksDB in temp dirs, HTTP between them), and the
//! real `raftwire-agent` binary as a child process that is killed and reaped on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use raftwire_node::{start, NodeArgs, NodeConfig, NodeHandle, RaftTiming};
use serde_json::{json, Value};

/// Fast elections, so a cluster that lost its leader recovers within a second.
pub fn test_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 300,
        election_max_ms: 600,
        snapshot_every: 20,
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Option<TestNode>>,
    pub ports: Vec<u16>,
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
            ports: Vec::new(),
            http: raftwire_node::tls::http_client(None, Duration::from_secs(5)).unwrap(),
            token: String::new(),
            tls: None,
        }
    }

    fn config(&self, id: u64, port: u16, join: Option<String>) -> NodeConfig {
        let mut cfg = NodeArgs {
            id,
            data_dir: self.dir.path().join(format!("node{id}")),
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            advertise: None,
            admin_token_file: None,
            cluster_secret_file: Some(self.dir.path().join("cluster-secret")),
            bootstrap: id == 1 && join.is_none(),
            join,
            tls_cert: self.tls.as_ref().map(|t| t.0.clone()),
            tls_key: self.tls.as_ref().map(|t| t.1.clone()),
            tls_ca: None,
        }
        .resolve();
        cfg.raft = test_timing();
        cfg
    }

    /// Starts node `id` (1 bootstraps; the others join node 1) on a free port.
    pub async fn start(&mut self, id: u64) -> &TestNode {
        let idx = (id - 1) as usize;
        while self.ports.len() <= idx {
            self.ports.push(0);
            self.nodes.push(None);
        }
        let join = (id != 1).then(|| self.node(1).url.clone());
        let cfg = self.config(id, self.ports[idx], join);
        let handle = start(cfg).await.unwrap();
        self.ports[idx] = handle.local_addr.port();
        if id == 1 {
            self.token = handle.admin_token.clone();
        }
        let url = handle.app.advertise.clone();
        self.nodes[idx] = Some(TestNode { id, url, handle });
        self.nodes[idx].as_ref().unwrap()
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
        wait_for(Duration::from_secs(15), || async {
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
        wait_for(Duration::from_secs(20), || async {
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
        wait_for(Duration::from_secs(20), || async {
            (self
                .request(id, reqwest::Method::GET, "/cluster", None)
                .await
                .0
                == 200)
                .then_some(())
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
        wait_for(Duration::from_secs(15), || async {
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

/// Polls `f` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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

/// The `raftwire-agent` binary next to this test executable (`target/<profile>/`).
pub fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> → target/<profile>/raftwire-agent
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("raftwire-agent"))
        .unwrap();
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build -p raftwire-agent` (same target dir \
         and profile as these tests)",
        bin.display()
    );
    bin
}

/// A running `raftwire-agent` process with its own state dir, token file and log file.
/// Dropping it kills and reaps the process.
pub struct Agent {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

/// Where an agent keeps its files: `<root>/state`, `<root>/token`, `<root>/agent-<n>.log`.
pub struct AgentFiles {
    pub root: tempfile::TempDir,
}

impl AgentFiles {
    pub fn new(token: &str) -> AgentFiles {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("token"), format!("{token}\n")).unwrap();
        AgentFiles { root }
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
        let n = std::fs::read_dir(self.root.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
            })
            .count();
        let log = self.root.path().join(format!("agent-{n}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(agent_binary());
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
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().unwrap();
        Agent {
            child: Some(child),
            dir: self.root.path().to_path_buf(),
            log,
        }
    }
}

impl Agent {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the agent exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("the agent exited ({status}):\n{}", self.log());
        }
    }

    /// Waits until the log contains `text`.
    pub async fn wait_log(&mut self, text: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.log().contains(text) {
            self.assert_running();
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent did not log {text:?} within {limit:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the exit; its status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the agent did not stop on SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("agent log {}:\n{}", self.log.display(), self.log());
        }
    }
}
