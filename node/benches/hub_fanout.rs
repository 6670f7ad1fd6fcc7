//! The agent hub at scale: one node in this process, one dual-stack network with 3 jump
//! agents and N regular agents, all connected over WebSocket from this same process (each
//! sends hello and reads its configs). Measures:
//!
//! - connect: time until every agent holds a first config (goal at 10,000: < 30 s);
//! - new regular peer: time from the write's acknowledgement until the last jump holds the
//!   config with it (only the jumps' configs change; goal p99 < 50 ms);
//! - primary jump endpoint: time from the write's acknowledgement until the last agent holds
//!   the new config (every config changes; goal at 10,000: < 2 s);
//! - memory per connected agent: RSS growth over the connect phase / N. Client and server
//!   sockets live in this process, so it counts both ends: an upper bound for the node.
//!
//! Run: `cargo bench -p raftwire-node --bench hub_fanout` (N = `AGENTS`, default 1,000;
//! `ROUNDS` for the new-peer case, default 30). At 10,000 agents the process needs about
//! 21,000 file descriptors: `ulimit -n 65536` first.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{id_of, wg_key, Cluster};
use futures::{SinkExt, StreamExt};
use raftwire_node::RaftTiming;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// A distinct valid WireGuard key per agent (base64 of 32 bytes).
fn key(n: u32) -> String {
    use base64::Engine;
    let mut b = [7u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// What a simulated agent last received: the version and when.
#[derive(Default)]
struct Agent {
    version: AtomicU64,
    configs: AtomicUsize,
    at: Mutex<Option<Instant>>,
}

fn version_of(text: &str) -> Option<u64> {
    let rest = text.split_once("\"version\":")?.1;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

async fn run_agent(url: String, token: String, key: String, me: Arc<Agent>) {
    let mut req = url.as_str().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let mut ws = loop {
        // A small read buffer, as a real agent would use: the default 128 KiB per socket
        // would dominate the memory measured here.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        match tokio_tungstenite::connect_async_with_config(req.clone(), Some(config), false).await {
            Ok((ws, _)) => break ws,
            Err(e) => {
                eprintln!("connect failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let hello = json!({"type": "hello", "public_key": key, "applied_version": 0});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .expect("hello");
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            if let Some(v) = version_of(t.as_str()) {
                let now = Instant::now();
                *me.at.lock().unwrap() = Some(now);
                me.version.store(v, Ordering::SeqCst);
                me.configs.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits until every agent in `who` holds at least `version`; the latest receipt time.
async fn all_hold(who: &[Arc<Agent>], version: u64, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if who
            .iter()
            .all(|a| a.version.load(Ordering::SeqCst) >= version)
        {
            return who.iter().filter_map(|a| *a.at.lock().unwrap()).max();
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The version of the jump's config as the node renders it now.
async fn current_version(c: &Cluster, token: &str) -> u64 {
    let a = c
        .send(
            1,
            reqwest::Method::GET,
            "/api/v1/agent/config",
            Some(&format!("Bearer {token}")),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{a}");
    a.json()["version"].as_u64().expect("version")
}

fn main() {
    let n: usize = std::env::var("AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench(n, rounds));
}

async fn bench(n: usize, rounds: usize) {
    let mut c = Cluster::new();
    // Production timing, but no snapshots during the run (they would show up as outliers).
    c.timing = RaftTiming {
        snapshot_every: 1_000_000,
        ..RaftTiming::default()
    };
    c.start(1).await;
    c.leader().await;
    let c = Arc::new(c);
    let net = c
        .create(
            "/networks",
            json!({"name": "fan", "ip_stack_mode": "dual", "ipv4_cidr": "10.100.0.0/16", "ipv6_cidr": "fd64::/64"}),
        )
        .await;
    let nid = id_of(&net);
    let mut jumps = Vec::new();
    for j in 0..3u8 {
        let body = json!({"name": format!("jump{j}"), "is_jump": true, "public_key": wg_key(200 + j),
            "endpoint": format!("jump{j}.example.net")});
        let p = c.create(&format!("/networks/{nid}/peers"), body).await;
        jumps.push((
            id_of(&p),
            p["agent_token"].as_str().expect("token").to_string(),
            wg_key(200 + j),
        ));
    }

    // The agent peers, created through the API with 32 writers.
    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(Mutex::new(vec![String::new(); n]));
    let mut writers = Vec::new();
    for _ in 0..32 {
        let (c, nid, next, tokens) = (c.clone(), nid.clone(), next.clone(), tokens.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let body = json!({"name": format!("a{i}"), "use_agent": true, "public_key": key(i as u32)});
                let p = c.create(&format!("/networks/{nid}/peers"), body).await;
                tokens.lock().unwrap()[i] = p["agent_token"].as_str().expect("token").to_string();
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let created = t.elapsed();
    let tokens = std::mem::take(&mut *tokens.lock().unwrap());

    // Connect everybody: jumps first, then the agents, 256 handshakes in flight.
    let url = c.node(1).url.replace("http://", "ws://") + "/api/v1/agent/ws";
    let rss_before = rss_kib();
    let t = Instant::now();
    let jump_agents: Vec<Arc<Agent>> = jumps.iter().map(|_| Arc::default()).collect();
    for ((_, token, k), a) in jumps.iter().zip(&jump_agents) {
        tokio::spawn(run_agent(url.clone(), token.clone(), k.clone(), a.clone()));
    }
    let agents: Vec<Arc<Agent>> = (0..n).map(|_| Arc::default()).collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for (i, (token, a)) in tokens.iter().zip(&agents).enumerate() {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let (url, token, a) = (url.clone(), token.clone(), a.clone());
        tokio::spawn(async move {
            let watch = a.clone();
            let agent = tokio::spawn(run_agent(url, token, key(i as u32), a));
            while watch.configs.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(permit);
            let _ = agent.await;
        });
    }
    let all: Vec<Arc<Agent>> = agents.iter().chain(&jump_agents).cloned().collect();
    all_hold(&all, 1, Duration::from_secs(600))
        .await
        .expect("every agent got a first config");
    let connected = t.elapsed();
    // Let the connect burst's writes settle before measuring memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_agent = (rss_kib().saturating_sub(rss_before)) as f64 / (n + 3) as f64;

    // (a) A new regular peer: only the jumps' configs change.
    let mut add = Vec::new();
    for r in 0..rounds {
        let body = json!({"name": format!("static{r}"), "public_key": key(1_000_000 + r as u32)});
        c.create(&format!("/networks/{nid}/peers"), body).await;
        let acked = Instant::now();
        let v = current_version(&c, &jumps[0].1).await;
        let last = all_hold(&jump_agents, v, Duration::from_secs(30))
            .await
            .expect("the jumps got the new peer");
        add.push(last.saturating_duration_since(acked));
    }
    add.sort();

    // (b) The primary jump's endpoint: every agent's config changes.
    let mut endpoint = Vec::new();
    for r in 0..5 {
        let path = format!("/networks/{nid}/peers/{}", jumps[0].0);
        let (status, body) = c
            .patch(
                1,
                &path,
                json!({"endpoint": format!("moved{r}.example.net")}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let acked = Instant::now();
        let v = current_version(&c, &jumps[0].1).await;
        let last = all_hold(&agents, v, Duration::from_secs(120))
            .await
            .expect("every agent got the new endpoint");
        endpoint.push(last.saturating_duration_since(acked));
    }
    endpoint.sort();

    println!();
    println!("hub_fanout: 1 node, 3 jumps, {n} agents (peers created in {created:.1?})");
    println!("| measure | median | p99 / max | goal |");
    println!("|---|---|---|---|");
    println!("| all {n} agents hold a first config | {connected:.2?} | | < 30 s at 10,000 |");
    println!(
        "| new regular peer → last jump holds it ({rounds} rounds) | {:.1?} | {:.1?} | p99 < 50 ms |",
        percentile(&add, 0.5),
        percentile(&add, 0.99)
    );
    println!(
        "| primary jump endpoint → last of {n} agents holds it (5 rounds) | {:.0?} | {:.0?} | < 2 s at 10,000 |",
        percentile(&endpoint, 0.5),
        endpoint[endpoint.len() - 1]
    );
    println!("| RSS per connected agent (both socket ends) | {per_agent:.1} KiB | | |");
    std::process::exit(0);
}
