//! The agent's apply time on a jump of a 1,000-peer dual-stack network: from a received
//! configuration to WireGuard (wireguard-go, 1,000 peers), addresses and 2,000 routes, both
//! families' firewall chains, forwarding and the DNS server in place — on a fresh host
//! (everything created) and for a one-peer change (a peer added or removed). Inside a network
//! namespace of its own (root only; it prints a skip message otherwise).
//!
//! `cargo bench -p raftwire-agent --bench converge` (env `PEERS`, default 1000; `ROUNDS`,
//! default 3). Prints the median and the slowest of the rounds.

#[path = "support/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use raftwire_agent::converge::{all, converge_all, remove_all, Settings, WgBackend};
use raftwire_agent::host;
use raftwire_agent::keys::KeyPair;
use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::testkit::Builder;
use raftwire_api::IpStackMode;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The jump's configuration in a network of `peers` regular peers (and one more when `extra`).
fn jump_config(peers: usize, extra: bool) -> AgentConfig {
    let mut b = Builder::new(
        "bench",
        IpStackMode::Dual,
        Some("10.64.0.0/16"),
        Some("fd64::/64"),
    );
    let jump = b.jump("jump");
    for i in 0..peers {
        b.peer(&format!("p{i}"));
    }
    if extra {
        b.peer("extra");
    }
    let data = b.build();
    let view = data.view();
    agent_config(&view, &view.index(), jump).expect("the jump's config")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn inside() -> Result<(), String> {
    let peers = env_usize("PEERS", 1000);
    let rounds = env_usize("ROUNDS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let iface = format!("rwbench{}", std::process::id() % 100_000);
    let settings = Settings {
        interface: Some(iface),
        wg_backend: WgBackend::Userspace,
        private_key: key.private().to_string(),
        state_dir: state.path().to_path_buf(),
        dns_port: 53,
        runtime: runtime.handle().clone(),
    };
    host::run("ip", &["link", "set", "lo", "up"]).map_err(|e| e.to_string())?;
    let base = jump_config(peers, false);
    let plus_one = jump_config(peers, true);

    let mut fresh = Vec::new();
    let mut change = Vec::new();
    for _ in 0..rounds {
        let mut modules = all(&settings);
        let start = Instant::now();
        let errors = converge_all(&mut modules, &base);
        fresh.push(start.elapsed());
        if !errors.is_empty() {
            return Err(format!("fresh converge failed: {errors:?}"));
        }
        for cfg in [&plus_one, &base] {
            let start = Instant::now();
            let errors = converge_all(&mut modules, cfg);
            change.push(start.elapsed());
            if !errors.is_empty() {
                return Err(format!("one-peer change failed: {errors:?}"));
            }
        }
        let routes = host::run("ip", &["-6", "route", "show", "proto", "static"])
            .map_err(|e| e.to_string())?
            .lines()
            .count();
        if routes < peers {
            return Err(format!(
                "only {routes} IPv6 routes after converging {peers} peers"
            ));
        }
        let errors = remove_all(&mut modules);
        if !errors.is_empty() {
            return Err(format!("remove failed: {errors:?}"));
        }
    }
    println!(
        "converge: jump of a {peers}-peer dual-stack network, {rounds} rounds \
         (wireguard-go, {peers} peers, {} routes, iptables + ip6tables, forwarding, DNS)",
        2 * peers
    );
    println!(
        "  fresh host        median {:>10}  max {:>10}",
        ms(median(fresh.clone())),
        ms(*fresh.iter().max().expect("rounds"))
    );
    println!(
        "  one-peer change   median {:>10}  max {:>10}",
        ms(median(change.clone())),
        ms(*change.iter().max().expect("rounds"))
    );
    Ok(())
}

fn main() {
    netns::run("converge", inside);
}
