//! The clients: each runs one operation at a time against a random node, over one
//! keep-alive connection pool, and records it. Workloads:
//!
//! - `ipam`: create and delete peers in a dual-stack network with a /28 and a /124 (14
//!   peers at most), and read them back (linearizable and local);
//! - `register`: compare-and-set on a policy's description (`If-Match` with the version
//!   last read) and reads, linearizable and local;
//! - `set`: add rules to another policy, each under an `Idempotency-Key`.
//!
//! A write whose outcome is unknown is retried under its `Idempotency-Key` (the retry is
//! recorded as an operation of its own with the same key), so the checkers can tell whether
//! keys make retries safe.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::cluster::url;
use crate::history::{Outcome, Recorder};

pub const WORKLOADS: [&str; 3] = ["ipam", "register", "set"];
pub const V4: &str = "10.20.0.0/28";
pub const V6: &str = "fd20::/124";
/// Usable addresses of the smaller family (a /28 without network and broadcast).
pub const CAPACITY: usize = 14;
/// How long a client waits for an answer before calling the outcome unknown.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer, or why there is none.
pub enum Reply {
    Answer(u16, Value),
    /// The request never reached a node: nothing happened.
    NotSent(String),
    /// It may have been received: its outcome is unknown.
    Lost(String),
}

impl Reply {
    /// The outcome of a write, and the error code of a refusal.
    pub fn write_outcome(&self) -> (Outcome, Option<String>) {
        match self {
            Reply::Answer(s, _) if (200..300).contains(s) => (Outcome::Ok, None),
            Reply::Answer(_, body) => {
                let code = body["code"].as_str().unwrap_or("unparsed").to_string();
                // Only these say the write may have been applied.
                let outcome = if code == "outcome_unknown" || code == "internal" {
                    Outcome::Unknown
                } else {
                    Outcome::Fail
                };
                (outcome, Some(code))
            }
            Reply::NotSent(e) => (Outcome::Fail, Some(format!("not sent: {e}"))),
            Reply::Lost(e) => (Outcome::Unknown, Some(format!("no answer: {e}"))),
        }
    }
}

/// The admin API of the cluster's nodes.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    pub fn new(token: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Api {
            http,
            token: token.into(),
        })
    }

    pub async fn call(
        &self,
        node: u64,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", url(node)))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(text) => Reply::Answer(
                        status,
                        serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    ),
                    Err(e) => Reply::Lost(e.to_string()),
                }
            }
            Err(e) if e.is_connect() => Reply::NotSent(e.to_string()),
            Err(e) => Reply::Lost(e.to_string()),
        }
    }

    pub async fn get(&self, node: u64, path: &str) -> Reply {
        self.call(node, Method::GET, path, None, &[]).await
    }

    /// `path` answered 2xx by `node`, retried across nodes for up to `limit`.
    pub async fn until_ok(
        &self,
        nodes: &[u64],
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        limit: Duration,
    ) -> anyhow::Result<Value> {
        let headers: Vec<(&str, String)> = key
            .map(|k| vec![("Idempotency-Key", k.to_string())])
            .unwrap_or_default();
        let deadline = tokio::time::Instant::now() + limit;
        let mut last = String::new();
        let mut i = 0;
        while tokio::time::Instant::now() < deadline {
            let node = nodes[i % nodes.len()];
            i += 1;
            match self.call(node, method.clone(), path, body, &headers).await {
                Reply::Answer(s, v) if (200..300).contains(&s) => return Ok(v),
                Reply::Answer(s, v) => last = format!("node {node}: {s} {v}"),
                Reply::NotSent(e) | Reply::Lost(e) => last = format!("node {node}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        anyhow::bail!("{method} {path} never succeeded within {limit:?}: {last}")
    }
}

/// The objects the workloads work on, made before the clients start.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub network: String,
    /// The network's jump (so that firewall rule sets mean something).
    pub jump: String,
    pub register: String,
    pub set: String,
}

pub const REGISTER_INITIAL: &str = "init";

impl Fixture {
    pub async fn create(api: &Api, nodes: &[u64]) -> anyhow::Result<Fixture> {
        let limit = Duration::from_secs(60);
        let net = api
            .until_ok(
                nodes,
                Method::POST,
                "/networks",
                Some(&json!({"name": "jepsen", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6})),
                Some("fixture-network"),
                limit,
            )
            .await?;
        let network = text(&net, "id")?;
        let jump = api
            .until_ok(
                nodes,
                Method::POST,
                &format!("/networks/{network}/peers"),
                Some(&json!({"name": "jump", "is_jump": true, "endpoint": "192.0.2.1:51820"})),
                Some("fixture-jump"),
                limit,
            )
            .await?;
        let mut policies = Vec::new();
        for name in ["register", "set"] {
            let p = api
                .until_ok(
                    nodes,
                    Method::POST,
                    &format!("/networks/{network}/policies"),
                    Some(&json!({"name": name, "description": REGISTER_INITIAL})),
                    Some(&format!("fixture-{name}")),
                    limit,
                )
                .await?;
            policies.push(text(&p, "id")?);
        }
        Ok(Fixture {
            network,
            jump: text(&jump, "id")?,
            register: policies[0].clone(),
            set: policies[1].clone(),
        })
    }
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no {key} in {v}"))
}

/// One client's loop until `until` (nanoseconds of the recorder's clock).
pub struct Client {
    pub id: u64,
    pub workload: &'static str,
    pub api: Api,
    pub rec: Recorder,
    pub fixture: Fixture,
    pub nodes: Vec<u64>,
    /// Peers this client created and has not deleted: (id, name).
    mine: Vec<(String, String)>,
    /// The register value and version this client read last.
    seen: Option<(String, u64)>,
    seq: u64,
    /// Writes of unknown outcome still to retry under their keys.
    retries: Vec<Retry>,
}

struct Retry {
    path: String,
    body: Value,
    key: String,
    f: &'static str,
    value: Value,
}

impl Client {
    pub fn new(
        id: u64,
        workload: &'static str,
        api: Api,
        rec: Recorder,
        fixture: Fixture,
        nodes: Vec<u64>,
    ) -> Client {
        Client {
            id,
            workload,
            api,
            rec,
            fixture,
            nodes,
            mine: Vec::new(),
            seen: None,
            seq: 0,
            retries: Vec::new(),
        }
    }

    fn node(&self) -> u64 {
        self.nodes[fastrand::usize(..self.nodes.len())]
    }

    pub async fn run(&mut self, until: u64) {
        while self.rec.now() < until {
            self.seq += 1;
            match self.workload {
                "ipam" => self.ipam().await,
                "register" => self.register().await,
                _ => self.set().await,
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(10..60))).await;
        }
    }

    /// Retries, under their keys, the writes whose outcome is still unknown, until each has
    /// a definite answer or `limit` passes (called once every fault healed).
    pub async fn settle(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.retries.is_empty() && tokio::time::Instant::now() < deadline {
            let r = self.retries.remove(0);
            self.post_keyed(r).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A POST under an `Idempotency-Key`; an unknown outcome is queued for a retry.
    async fn post_keyed(&mut self, r: Retry) -> Option<Value> {
        let node = self.node();
        let p = self
            .rec
            .invoke(self.workload, self.id, node, r.f, r.value.clone());
        let reply = self
            .api
            .call(
                node,
                Method::POST,
                &r.path,
                Some(&r.body),
                &[("Idempotency-Key", r.key.clone())],
            )
            .await;
        let (outcome, error) = reply.write_outcome();
        let answer = match &reply {
            Reply::Answer(_, v) if outcome == Outcome::Ok => Some(v.clone()),
            _ => None,
        };
        let recorded = answer.as_ref().map(|v| self.answered_value(&r, v));
        self.rec.complete(p, outcome, recorded, error);
        if outcome == Outcome::Unknown {
            self.retries.push(r);
        }
        answer
    }

    /// What an acknowledged write records: a created peer's id and addresses.
    fn answered_value(&self, r: &Retry, v: &Value) -> Value {
        let mut value = r.value.clone();
        if r.f == "create" {
            value["id"] = v["id"].clone();
            value["v4"] = v["ipv4_address"].clone();
            value["v6"] = v["ipv6_address"].clone();
        }
        value
    }

    async fn ipam(&mut self) {
        let net = self.fixture.network.clone();
        let roll = fastrand::u8(..10);
        if roll < 4 || (roll < 7 && self.mine.is_empty()) {
            let name = format!("c{}-{}", self.id, self.seq);
            let key = format!("ipam-{name}");
            let r = Retry {
                path: format!("/networks/{net}/peers"),
                body: json!({ "name": name }),
                key: key.clone(),
                f: "create",
                value: json!({"name": name, "key": key}),
            };
            if let Some(v) = self.post_keyed(r).await {
                if let Some(id) = v["id"].as_str() {
                    self.mine.push((id.to_string(), name));
                }
            }
        } else if roll < 7 {
            let (pid, name) = self.mine.remove(fastrand::usize(..self.mine.len()));
            let node = self.node();
            let p = self.rec.invoke(
                "ipam",
                self.id,
                node,
                "delete",
                json!({"id": pid, "name": name}),
            );
            let reply = self
                .api
                .call(
                    node,
                    Method::DELETE,
                    &format!("/networks/{net}/peers/{pid}"),
                    None,
                    &[],
                )
                .await;
            let (outcome, error) = reply.write_outcome();
            if outcome == Outcome::Fail && error.as_deref() != Some("not_found") {
                // Certainly not deleted: it may be deleted later.
                self.mine.push((pid, name));
            }
            self.rec.complete(p, outcome, None, error);
        } else {
            let local = roll == 9;
            let f = if local { "read-local" } else { "read" };
            let path = if local {
                format!("/networks/{net}/peers?consistency=local")
            } else {
                format!("/networks/{net}/peers")
            };
            let node = self.node();
            let p = self.rec.invoke("ipam", self.id, node, f, Value::Null);
            match self.api.get(node, &path).await {
                Reply::Answer(200, v) => {
                    let peers: Vec<Value> = v["items"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            json!({"name": p["name"], "id": p["id"], "v4": p["ipv4_address"], "v6": p["ipv6_address"]})
                        })
                        .collect();
                    self.rec
                        .complete(p, Outcome::Ok, Some(json!({ "peers": peers })), None);
                }
                other => {
                    let (_, error) = other.write_outcome();
                    // A read that failed changed nothing either way.
                    self.rec.complete(p, Outcome::Fail, None, error);
                }
            }
        }
    }

    async fn register(&mut self) {
        let path = format!(
            "/networks/{}/policies/{}",
            self.fixture.network, self.fixture.register
        );
        let node = self.node();
        let read_first = self.seen.is_none() || fastrand::bool();
        if read_first {
            let local = fastrand::u8(..4) == 0;
            let f = if local { "read-local" } else { "read" };
            let p = self.rec.invoke("register", self.id, node, f, Value::Null);
            let q = if local { "?consistency=local" } else { "" };
            match self.api.get(node, &format!("{path}{q}")).await {
                Reply::Answer(200, v) => {
                    let value = v["description"].as_str().unwrap_or_default().to_string();
                    let version = v["version"].as_u64().unwrap_or(0);
                    if !local {
                        self.seen = Some((value.clone(), version));
                    }
                    self.rec
                        .complete(p, Outcome::Ok, Some(json!({ "value": value })), None);
                }
                other => {
                    let (_, error) = other.write_outcome();
                    self.rec.complete(p, Outcome::Fail, None, error);
                }
            }
            return;
        }
        let Some((expect, version)) = self.seen.take() else {
            return;
        };
        let new = format!("c{}-{}", self.id, self.seq);
        let p = self.rec.invoke(
            "register",
            self.id,
            node,
            "cas",
            json!({"expect": expect, "new": new}),
        );
        let reply = self
            .api
            .call(
                node,
                Method::PATCH,
                &path,
                Some(&json!({ "description": new })),
                &[("If-Match", format!("\"{version}\""))],
            )
            .await;
        let (outcome, error) = reply.write_outcome();
        if let Reply::Answer(200, v) = &reply {
            self.seen = Some((new.clone(), v["version"].as_u64().unwrap_or(0)));
        }
        self.rec.complete(p, outcome, None, error);
    }

    async fn set(&mut self) {
        let element = format!("e{}-{}", self.id, self.seq);
        let key = format!("set-{element}");
        let r = Retry {
            path: format!(
                "/networks/{}/policies/{}/rules",
                self.fixture.network, self.fixture.set
            ),
            body: json!({"direction": "input", "action": "allow", "target_type": "any", "description": element}),
            key: key.clone(),
            f: "add",
            value: json!({"element": element, "key": key}),
        };
        self.post_keyed(r).await;
    }
}
