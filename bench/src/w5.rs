//! W5: agent convergence on a real host: from a received configuration to WireGuard
//! (wireguard-go), addresses and routes, a firewall of at least 5,000 rules (both
//! families), forwarding and the DNS server in place — on a fresh host, module by module,
//! and for a one-peer change. The agent's own converge modules run inside a network
//! namespace of their own (the bench runs itself again there); root only, a skip message
//! otherwise. The namespace, and every process in it, is removed however the run ends.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use raftwire_agent::converge::{all, converge_all, remove_all, Settings, WgBackend};
use raftwire_agent::keys::KeyPair;
use raftwire_api::agent::{agent_config, AgentConfig};
use raftwire_api::testkit::Builder;
use raftwire_api::{Action, Direction, IpStackMode, RuleTarget};
use raftwire_tests::netns::Netns;
use serde_json::{json, Value};

use crate::report::Section;
use crate::stats::{ms, Latencies};
use crate::Params;

const TITLE: &str = "agent convergence on a real host";

pub async fn run(p: Params) -> anyhow::Result<Section> {
    let mut s = Section::new("W5", TITLE, &["step", "median", "max"]);
    if !is_root() {
        s.notes
            .push("SKIPPED: W5 needs root (a network namespace, WireGuard, iptables).".into());
        return Ok(s);
    }
    let spec = format!("{},{},{}", p.w5_peers, p.w5_rules, p.w5_rounds);
    let out = tokio::task::spawn_blocking(move || -> anyhow::Result<std::process::Output> {
        let ns = Netns::new("w5");
        let exe = std::env::current_exe()?;
        let out = ns
            .command(exe.to_str().context("the bench's path is not UTF-8")?)
            .args(["--w5-inside", &spec])
            .output()?;
        drop(ns);
        Ok(out)
    })
    .await??;
    if !out.status.success() {
        bail!(
            "the measurement in the namespace failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("the namespace's figures")?;
    s.params.push(format!(
        "the jump of a dual-stack network of {} peers: wireguard-go with {} peers, {} firewall rules (iptables + ip6tables), forwarding, DNS with {} records; {} rounds",
        v["peers"], v["wg_peers"], v["rules"], v["dns_records"], v["rounds"]
    ));
    let series = |key: &str| -> Latencies {
        Latencies::new(
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .map(Duration::from_secs_f64)
                .collect(),
        )
    };
    let mut row = |name: String, l: Latencies| s.row(vec![name, ms(l.p50()), ms(l.max())]);
    row("fresh host: everything applied".into(), series("fresh"));
    if let Some(modules) = v["modules"].as_object() {
        for name in modules.keys() {
            row(
                format!("  of which {name}"),
                series(&format!("module_{name}")),
            );
        }
    }
    row("one-peer change (add or remove)".into(), series("change"));
    Ok(s)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The jump's configuration in a network of `peers` regular peers (one more with `extra`),
/// with a policy of `policy_rules` CIDR rules on the default group.
fn jump_config(peers: usize, policy_rules: usize, extra: bool) -> anyhow::Result<AgentConfig> {
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
    if policy_rules > 0 {
        let rules = (0..policy_rules)
            .map(|i| {
                let cidr = if i % 2 == 0 {
                    format!("10.200.{}.{}/32", (i / 2) / 256, (i / 2) % 256)
                } else {
                    format!("fd99::{:x}/128", i / 2)
                };
                Ok((
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Cidr(cidr.parse()?),
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = b.policy("bench", &rules);
        let group = b.default_group();
        b.attach_policy(group, policy);
    }
    let data = b.build();
    let view = data.view();
    agent_config(&view, &view.index(), jump).context("the jump's config")
}

fn rule_count(c: &AgentConfig) -> usize {
    c.firewall.as_ref().map_or(0, |f| {
        f.ipv4.as_ref().map_or(0, |r| r.rules.len()) + f.ipv6.as_ref().map_or(0, |r| r.rules.len())
    })
}

/// The policy size that gives the jump at least `want` firewall rules, and its config.
fn config_with_rules(peers: usize, want: usize) -> anyhow::Result<(usize, AgentConfig)> {
    let base = rule_count(&jump_config(peers, 0, false)?);
    if base >= want {
        return Ok((0, jump_config(peers, 0, false)?));
    }
    let probe = 100;
    let per_rule = (rule_count(&jump_config(peers, probe, false)?).saturating_sub(base) as f64
        / probe as f64)
        .max(0.01);
    let mut k = ((want - base) as f64 / per_rule).ceil() as usize;
    loop {
        let cfg = jump_config(peers, k, false)?;
        if rule_count(&cfg) >= want || k > 10 * want {
            return Ok((k, cfg));
        }
        k += k / 10 + 1;
    }
}

/// Inside the namespace: converges `rounds` times and prints the figures as JSON.
pub fn inside(spec: &str) -> anyhow::Result<()> {
    let parts: Vec<usize> = spec.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let [peers, want_rules, rounds] = parts[..] else {
        bail!("--w5-inside takes peers,rules,rounds");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let state = tempfile::tempdir()?;
    let key = KeyPair::generate()?;
    let settings = Settings {
        interface: Some(format!("rwb{:x}", std::process::id())),
        wg_backend: WgBackend::Userspace,
        private_key: key.private().to_string(),
        state_dir: state.path().to_path_buf(),
        dns_port: 53,
        runtime: runtime.handle().clone(),
    };
    let (k, base) = config_with_rules(peers, want_rules)?;
    let plus_one = jump_config(peers, k, true)?;
    let mut fresh = Vec::new();
    let mut change = Vec::new();
    let mut modules_t: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for _ in 0..rounds.max(1) {
        let mut modules = all(&settings);
        let start = Instant::now();
        for m in modules.iter_mut() {
            let t = Instant::now();
            m.converge(&base)
                .map_err(|e| anyhow::anyhow!("fresh converge of {}: {e}", m.name()))?;
            modules_t
                .entry(m.name())
                .or_default()
                .push(t.elapsed().as_secs_f64());
        }
        fresh.push(start.elapsed().as_secs_f64());
        for cfg in [&plus_one, &base] {
            let t = Instant::now();
            let errors = converge_all(&mut modules, cfg);
            change.push(t.elapsed().as_secs_f64());
            if !errors.is_empty() {
                bail!("one-peer change failed: {errors:?}");
            }
        }
        let errors = remove_all(&mut modules);
        if !errors.is_empty() {
            bail!("remove failed: {errors:?}");
        }
    }
    let mut out = json!({
        "peers": peers,
        "wg_peers": base.peers.len(),
        "rules": rule_count(&base),
        "dns_records": base.dns.as_ref().map_or(0, |d| d.records.len()),
        "rounds": rounds.max(1),
        "fresh": fresh,
        "change": change,
        "modules": modules_t.keys().map(|k| (k.to_string(), json!(true))).collect::<serde_json::Map<_, _>>(),
    });
    for (name, t) in modules_t {
        out[format!("module_{name}")] = json!(t);
    }
    println!("{out}");
    Ok(())
}
