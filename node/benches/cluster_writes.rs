//! Peer creations against a 3-node cluster on loopback (RocksDB on disk, fsync on), through
//! the HTTP API, spread over all three nodes: throughput and p50/p99 latency with 1 and with
//! 64 concurrent clients. Each configuration runs several rounds; the medians are reported.
//!
//! Run: `cargo bench -p raftwire-node --bench cluster_writes` (env `ROUNDS`, default 3).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn round(
    c: &Arc<Cluster>,
    nid: &str,
    clients: usize,
    per_client: usize,
    tag: &str,
) -> (f64, Duration, Duration) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..clients {
        let c = c.clone();
        let nid = nid.to_string();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let node = 1 + ((w + i) % 3) as u64;
                let t = Instant::now();
                let (status, body) = c
                    .post(
                        node,
                        &format!("/networks/{nid}/peers"),
                        json!({"name": format!("{tag}-{w}-{i}")}),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let elapsed = start.elapsed();
    all.sort();
    (
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    )
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // Production timing: snapshots every 10,000 entries, not the tests' every 20.
        let mut c = Cluster::new();
        c.timing = raftwire_node::RaftTiming::default();
        c.start(1).await;
        c.leader().await;
        c.start(2).await;
        c.start(3).await;
        c.wait_voter(2).await;
        c.wait_voter(3).await;
        let (status, net) = c
            .post(1, "/networks", json!({"name": "bench", "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/8", "ipv6_cidr": "fd00::/64"}))
            .await;
        assert_eq!(status, 201, "{net}");
        let nid = net["id"].as_str().expect("id").to_string();
        let c = Arc::new(c);
        for (clients, per_client) in [(1usize, 300usize), (64, 40)] {
            let (mut tput, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new());
            for r in 0..rounds {
                let (t, a, b) = round(&c, &nid, clients, per_client, &format!("c{clients}r{r}")).await;
                println!("clients={clients:>2} round={r}: {t:>8.0} creations/s  p50={:>7.2} ms  p99={:>7.2} ms", a.as_secs_f64() * 1e3, b.as_secs_f64() * 1e3);
                tput.push(t);
                p50.push(a.as_secs_f64() * 1e3);
                p99.push(b.as_secs_f64() * 1e3);
            }
            println!(
                "clients={clients:>2} MEDIAN of {rounds}: {:.0} creations/s, p50 {:.2} ms, p99 {:.2} ms",
                median(tput),
                median(p50),
                median(p99)
            );
        }
        if let Ok(c) = Arc::try_unwrap(c) {
            c.shutdown().await;
        }
    });
}
