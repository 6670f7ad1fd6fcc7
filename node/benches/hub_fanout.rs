//! The agent hub at scale: one node in this process, one dual-stack network with 3 jump
//! agents and N regular agents, all connected over WebSocket from this same process (each
//! sends hello and reads its configs). Measures:
//!
//! - connect: time until every agent holds a first config (goal at 10,000: < 30 s);
//! - new regular peer: time from the write's acknowledgement until the last jump holds the
//!   config with it (only the jumps' configs change; goal p99 < 50 ms);
//! - primary jump endpoint: time from the write's acknowledgement until the last regular
//!   agent holds the new config (every one changes; goal at 10,000: < 2 s);
//! - memory per connected agent: the node's RSS growth over the connect phase / N.
//!
//! The agents run in a child process (this bench re-executed), so each side has its own
//! descriptor limit (20,000 here) and the node's memory is measured alone; the processes
//! share the wall clock, which times the pushes.
//!
//! Run: `cargo bench -p raftwire-node --bench hub_fanout` (N = `AGENTS`, default 1,000;
//! `ROUNDS` for the new-peer case, default 30; `DELTAS=0`: agents that do not accept deltas
//! and are sent every change as a whole config, as agents before deltas were;
//! `HUB_FANOUT_EACH=1` prints every round's time in order).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{id_of, wg_key, Cluster};
use futures::{SinkExt, StreamExt};
use raftwire_node::RaftTiming;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The allocator `raftwire-node` ships with, so the node measured here is the one shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Whether the agents accept deltas (`DELTAS`, default on).
fn deltas() -> bool {
    std::env::var("DELTAS").map_or(true, |v| v != "0")
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
    // As the real agent does, unless `DELTAS=0` (agents that take only whole configs).
    let features = if deltas() {
        json!(["delta"])
    } else {
        json!([])
    };
    let hello =
        json!({"type": "hello", "public_key": key, "applied_version": 0, "features": features});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .expect("hello");
    loop {
        let msg = match ws.next().await {
            Some(Ok(msg)) => msg,
            other => {
                eprintln!("an agent's socket ended: {other:?}");
                return;
            }
        };
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

/// Nanoseconds since the Unix epoch of an `Instant` (the two processes share the clock).
fn unix_ns(at: Instant) -> u128 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    (wall - now.saturating_duration_since(at)).as_nanos()
}

fn now_ns() -> u128 {
    unix_ns(Instant::now())
}

/// The agents' side, in a child process (each process may hold 20,000 descriptors here;
/// 10,000 agents need that many on each side). Reads `url`, then one line per agent
/// (`token key`, jumps first); answers on stdout: `ready <connect ms> <rss kib>` once
/// every agent holds a first config, then for each `wait jumps|regular <version>` the Unix
/// time (ns) the last of them received that version.
async fn agents_process(jumps: usize) {
    use tokio::io::BufReader;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let url = lines.next_line().await.expect("stdin").expect("url");
    let mut who = Vec::new();
    while let Some(line) = lines.next_line().await.expect("stdin") {
        if line.is_empty() {
            break;
        }
        let (token, key) = line.split_once(' ').expect("token key");
        who.push((token.to_string(), key.to_string()));
    }
    let rss_before = rss_kib();
    let t = Instant::now();
    let agents: Vec<Arc<Agent>> = who.iter().map(|_| Arc::default()).collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for ((token, key), a) in who.into_iter().zip(&agents) {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let (url, a) = (url.clone(), a.clone());
        tokio::spawn(async move {
            let watch = a.clone();
            let agent = tokio::spawn(run_agent(url, token, key, a));
            while watch.configs.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(permit);
            let _ = agent.await;
        });
    }
    all_hold(&agents, 1, Duration::from_secs(600))
        .await
        .expect("every agent got a first config");
    let connected = t.elapsed();
    println!(
        "ready {} {}",
        connected.as_millis(),
        rss_kib().saturating_sub(rss_before)
    );
    while let Some(line) = lines.next_line().await.expect("stdin") {
        let mut words = line.split_whitespace();
        let (Some(which), Some(v)) = (words.next(), words.next()) else {
            continue;
        };
        let v: u64 = v.parse().expect("version");
        let set = if which == "jumps" {
            &agents[..jumps]
        } else {
            &agents[jumps..]
        };
        let at = all_hold(set, v, Duration::from_secs(120))
            .await
            .expect("the agents got the version");
        println!("{}", unix_ns(at));
    }
}

/// The version of the configs of the network as the node renders it now, asked with a
/// regular agent's token: every config of a network carries the network's revision, and a
/// regular agent's is small (asking for a jump's would render, serialise and parse ~10 MB
/// on these same two cores while the push being measured runs).
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

/// Unmeasured new-peer rounds before the measured ones (see the new-peer case).
const WARMUP: usize = 5;

/// Set in the child process that runs the agents.
const ROLE: &str = "HUB_FANOUT_ROLE";
const JUMPS: usize = 3;

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
    if std::env::var(ROLE).is_ok_and(|v| v == "agents") {
        rt.block_on(agents_process(JUMPS));
    } else {
        rt.block_on(bench(n, rounds));
        // Tasks still holding the node's state (its agent sockets) go with the runtime, and
        // the database closes before the process exits: exiting with it open ran RocksDB's
        // static destructors under its own threads (a SIGSEGV at exit, now and then).
        rt.shutdown_timeout(Duration::from_secs(10));
    }
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

    // Connect everybody from the child process: jumps first, then the agents.
    let url = c.node(1).url.replace("http://", "ws://") + "/api/v1/agent/ws";
    let rss_before = rss_kib();
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .env(ROLE, "agents")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("agents process");
    let mut to_agents = child.stdin.take().expect("stdin");
    let mut from_agents = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut input = format!("{url}\n");
    for (_, token, k) in &jumps {
        input.push_str(&format!("{token} {k}\n"));
    }
    for (i, token) in tokens.iter().enumerate() {
        input.push_str(&format!("{token} {}\n", key(i as u32)));
    }
    input.push('\n');
    to_agents
        .write_all(input.as_bytes())
        .await
        .expect("to agents");
    let ready = from_agents
        .next_line()
        .await
        .expect("agents")
        .expect("ready");
    let mut words = ready.split_whitespace().skip(1);
    let connected = Duration::from_millis(words.next().and_then(|w| w.parse().ok()).expect("ms"));
    let client_kib: u64 = words.next().and_then(|w| w.parse().ok()).expect("kib");
    // Let the connect burst's writes settle before measuring memory.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let per_agent = (rss_kib().saturating_sub(rss_before)) as f64 / (n + JUMPS) as f64;
    let per_client = client_kib as f64 / (n + JUMPS) as f64;

    // Asks the agents process when the last of `which` received `version`.
    async fn wait(
        to: &mut tokio::process::ChildStdin,
        from: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
        which: &str,
        version: u64,
    ) -> u128 {
        to.write_all(format!("{which} {version}\n").as_bytes())
            .await
            .expect("to agents");
        let line = from.next_line().await.expect("agents").expect("an answer");
        line.trim().parse().expect("a time")
    }

    // (a) A new regular peer: only the jumps' configs change. The first rounds after the
    // connect phase overlap the node still replicating the agents' status records (one per
    // connect, in batches) and measured 100-220 ms; WARMUP rounds run unmeasured first.
    let mut add = Vec::new();
    for r in 0..WARMUP + rounds {
        let body = json!({"name": format!("static{r}"), "public_key": key(1_000_000 + r as u32)});
        c.create(&format!("/networks/{nid}/peers"), body).await;
        if r < WARMUP {
            let v = current_version(&c, &tokens[0]).await;
            wait(&mut to_agents, &mut from_agents, "jumps", v).await;
            continue;
        }
        let acked = now_ns();
        let v = current_version(&c, &tokens[0]).await;
        let last = wait(&mut to_agents, &mut from_agents, "jumps", v).await;
        add.push(Duration::from_nanos(last.saturating_sub(acked) as u64));
    }
    if std::env::var_os("HUB_FANOUT_EACH").is_some() {
        let each: Vec<String> = add.iter().map(|d| format!("{:.0?}", d)).collect();
        eprintln!("new regular peer, each round in order: {}", each.join(" "));
    }
    add.sort();

    // (b) The primary jump's endpoint: every regular agent's config changes (and the other
    // jumps'; not the primary's own).
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
        let acked = now_ns();
        let v = current_version(&c, &tokens[0]).await;
        let last = wait(&mut to_agents, &mut from_agents, "regular", v).await;
        endpoint.push(Duration::from_nanos(last.saturating_sub(acked) as u64));
    }
    endpoint.sort();
    drop(to_agents);
    let _ = child.kill().await;

    println!();
    let mode = if deltas() {
        "agents accept deltas"
    } else {
        "agents take whole configs (DELTAS=0)"
    };
    println!("hub_fanout: 1 node, 3 jumps, {n} agents, {mode} (peers created in {created:.1?})");
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
    println!("| node RSS per connected agent | {per_agent:.1} KiB | | |");
    println!("| agents process RSS per agent (client side) | {per_client:.1} KiB | | |");
    // Stop the node before exiting: exiting with it running ran RocksDB's static destructors
    // while its log-sync thread was still syncing the agents' last status writes.
    match Arc::try_unwrap(c) {
        Ok(c) => c.shutdown().await,
        Err(_) => eprintln!("hub_fanout: the cluster is still shared at the end; not stopped"),
    }
}
