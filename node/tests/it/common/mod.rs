//! Test clusters: real nodes on loopback ports with RocksDB in temp dirs, talking HTTP.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use raftwire_node::{start, NodeArgs, NodeConfig, NodeHandle, RaftTiming};
use serde_json::Value;

/// Fast elections and frequent snapshots so tests exercise log purge and snapshot install.
pub fn test_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 50,
        election_min_ms: 300,
        election_max_ms: 600,
        snapshot_every: 20,
        leaderless_limit_ms: RaftTiming::default().leaderless_limit_ms,
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub secret: PathBuf,
    pub nodes: Vec<Option<TestNode>>,
    pub ports: Vec<u16>,
    pub http: reqwest::Client,
    /// Node 1's bootstrap admin token, replicated to every node.
    pub token: String,
    pub timing: RaftTiming,
}

pub struct TestNode {
    pub id: u64,
    pub url: String,
    pub token: String,
    pub handle: NodeHandle,
}

impl Cluster {
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("cluster-secret");
        Cluster {
            secret,
            dir,
            nodes: Vec::new(),
            ports: Vec::new(),
            http: raftwire_node::tls::http_client(None, std::time::Duration::from_secs(5)).unwrap(),
            token: String::new(),
            timing: test_timing(),
        }
    }

    pub fn config(&self, id: u64, port: u16, join: Option<String>) -> NodeConfig {
        let mut cfg = NodeArgs {
            id,
            data_dir: self.dir.path().join(format!("node{id}")),
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            advertise: None,
            admin_token_file: None,
            cluster_secret_file: Some(self.secret.clone()),
            bootstrap: id == 1 && join.is_none(),
            join,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            snapshot_every: 10_000,
        }
        .resolve();
        cfg.raft = self.timing;
        cfg
    }

    /// Starts node `id` (1 bootstraps; others join node 1), or restarts it on its old port.
    pub async fn start(&mut self, id: u64) -> &TestNode {
        self.start_node(id, id != 1).await
    }

    /// Starts node `id` without joining anyone (added by hand, e.g. as a learner).
    pub async fn start_unjoined(&mut self, id: u64) -> &TestNode {
        self.start_node(id, false).await
    }

    async fn start_node(&mut self, id: u64, join_node_1: bool) -> &TestNode {
        let idx = (id - 1) as usize;
        while self.ports.len() <= idx {
            // Port 0 on the first start: the node binds a free port and advertises it; a
            // restart binds the same port again (the other nodes know it by that address).
            self.ports.push(0);
            self.nodes.push(None);
        }
        let port = self.ports[idx];
        let join = join_node_1.then(|| format!("http://127.0.0.1:{}", self.ports[0]));
        let cfg = self.config(id, port, join);
        let handle = start(cfg).await.unwrap();
        let port = handle.local_addr.port();
        self.ports[idx] = port;
        let node = TestNode {
            id,
            url: format!("http://127.0.0.1:{port}"),
            token: handle.admin_token.clone(),
            handle,
        };
        if id == 1 {
            self.token = node.token.clone();
        }
        self.nodes[idx] = Some(node);
        self.nodes[idx].as_ref().unwrap()
    }

    pub fn node(&self, id: u64) -> &TestNode {
        self.nodes[(id - 1) as usize]
            .as_ref()
            .expect("node running")
    }

    /// Stops node `id` (its data stays for a restart).
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

    /// The leader as seen by any running node, once all running nodes agree.
    pub async fn leader(&self) -> u64 {
        wait_for(Duration::from_secs(15), || async {
            let mut leaders = Vec::new();
            for n in self.nodes.iter().flatten() {
                leaders.push(n.handle.app.raft.metrics().borrow().current_leader?);
            }
            let first = *leaders.first()?;
            let alive = self.nodes.iter().flatten().any(|n| n.id == first);
            (alive && leaders.iter().all(|l| *l == first)).then_some(first)
        })
        .await
    }

    /// Waits until node `id` is a voter in the membership seen by the leader, and accepts
    /// node 1's admin token (registered through the log, so known once applied there).
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
            (self.get(id, "/cluster").await.0 == 200).then_some(())
        })
        .await
    }

    pub async fn request(
        &self,
        id: u64,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let n = self.node(id);
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{}", n.url, path))
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

    pub async fn get(&self, id: u64, path: &str) -> (u16, Value) {
        self.request(id, reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, id: u64, path: &str, body: Value) -> (u16, Value) {
        self.request(id, reqwest::Method::POST, path, Some(body))
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

// ---------------------------------------------------------------- API test helpers

/// One HTTP answer, kept raw: status, headers and body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    pub fn content_type(&self) -> String {
        self.header("content-type")
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self.text.chars().take(2000).collect();
        write!(f, "{} [{}] {}", self.status, self.content_type(), shown)
    }
}

/// Asserts a problem+json answer with `status`, `code` and (when given) `field`.
#[track_caller]
pub fn assert_problem(a: &Answer, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(a.status, status, "status: {a}");
    assert!(
        a.content_type().starts_with("application/problem+json"),
        "content-type: {a}"
    );
    let body = a.json();
    assert_eq!(body["code"].as_str(), Some(code), "code: {a}");
    assert_eq!(
        body["status"].as_u64(),
        Some(status as u64),
        "body status: {a}"
    );
    assert!(body["type"].is_string() && body["title"].is_string(), "{a}");
    assert!(body["detail"].is_string(), "{a}");
    if let Some(field) = field {
        assert_eq!(body["field"].as_str(), Some(field), "field: {a}");
    }
}

/// A valid WireGuard public key (base64 of 32 bytes), distinct per `n`.
pub fn wg_key(n: u8) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([n; 32])
}

impl Cluster {
    /// A started single-node cluster with a known leader.
    pub async fn single() -> Cluster {
        let mut c = Cluster::new();
        c.start(1).await;
        c.leader().await;
        c
    }

    /// Any request to node `id`: `path` is the full path (`/api/v1/...`, `/healthz`),
    /// `auth` the raw `Authorization` header (none when `None`).
    pub async fn send(
        &self,
        id: u64,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let n = self.node(id);
        let mut req = self.http.request(method, format!("{}{}", n.url, path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            text,
        }
    }

    /// An admin request to node 1 under `/api/v1`, answered raw.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.send(1, method, &format!("/api/v1{path}"), Some(&auth), &[], body)
            .await
    }

    /// An admin request to node 1 under `/api/v1` with a raw body.
    pub async fn admin_raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        self.send(
            1,
            method,
            &format!("/api/v1{path}"),
            Some(&auth),
            &[],
            Some(body),
        )
        .await
    }

    pub async fn patch(&self, id: u64, path: &str, body: Value) -> (u16, Value) {
        self.request(id, reqwest::Method::PATCH, path, Some(body))
            .await
    }

    pub async fn put(&self, id: u64, path: &str) -> (u16, Value) {
        self.request(id, reqwest::Method::PUT, path, None).await
    }

    pub async fn delete(&self, id: u64, path: &str) -> (u16, Value) {
        self.request(id, reqwest::Method::DELETE, path, None).await
    }

    /// POSTs on node 1 and asserts 201; the created object.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.post(1, path, body.clone()).await;
        assert_eq!(status, 201, "POST {path} {body} -> {created}");
        created
    }
}

/// The `"id"` of a JSON object as a String.
#[track_caller]
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}
