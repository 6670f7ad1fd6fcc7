//! Applying a jump's rule set: one `iptables-restore` of 5,000 rules per family against one
//! `iptables -A` call per rule, inside a network namespace of its own (root only; it prints a
//! skip message otherwise).
//!
//! Restore: the median of 7 restores of the whole set (each declares the chain, so it is
//! flushed and refilled). Per rule: 500 calls timed one by one on a chain that grows from
//! empty, the median call scaled to 5,000 — an underestimate, since `iptables` reads the
//! table on every call and a longer chain only makes that slower. Runs in well under a
//! minute.

#[path = "support/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use ipnet::IpNet;
use raftwire_agent::host;
use raftwire_api::firewall::{
    render_restore, Chain, FirewallRule, Verdict, FILTER_TABLE, JUMP_CHAIN,
};

const RULES: usize = 5_000;
const RESTORE_RUNS: usize = 7;
const SINGLE_CALLS: usize = 500;

fn net(s: &str) -> IpNet {
    s.parse().expect("bench CIDR")
}

/// 5,000 distinct `-s host -d overlay -j ACCEPT` rules of one family.
fn rules(ipv6: bool) -> Vec<FirewallRule> {
    (0..RULES)
        .map(|i| {
            let (src, dst) = if ipv6 {
                (format!("fd00::1:{i:x}/128"), "fd00::/64".to_string())
            } else {
                (
                    format!("10.1.{}.{}/32", i / 256, i % 256),
                    "10.0.0.0/16".to_string(),
                )
            };
            FirewallRule::between(Chain::Jump, net(&src), net(&dst), Verdict::Accept)
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn bench_family(ipv6: bool) -> Result<(Duration, Duration), String> {
    let (tool, restore) = if ipv6 {
        ("ip6tables", "ip6tables-restore")
    } else {
        ("iptables", "iptables-restore")
    };
    let rules = rules(ipv6);
    let text = render_restore(FILTER_TABLE, &[JUMP_CHAIN], &rules);

    let mut restores = Vec::with_capacity(RESTORE_RUNS);
    for _ in 0..RESTORE_RUNS {
        let start = Instant::now();
        host::run_with_input(restore, &["-w", "--noflush"], Some(&text))
            .map_err(|e| e.to_string())?;
        restores.push(start.elapsed());
    }
    let saved = host::run(tool, &["-S", JUMP_CHAIN]).map_err(|e| e.to_string())?;
    if saved.lines().count() != RULES + 1 {
        return Err(format!("{tool}: the restore did not leave {RULES} rules"));
    }

    host::run(tool, &["-w", "-F", JUMP_CHAIN]).map_err(|e| e.to_string())?;
    let mut calls = Vec::with_capacity(SINGLE_CALLS);
    for rule in rules.iter().take(SINGLE_CALLS) {
        let line = rule.to_string();
        let mut args = vec!["-w"];
        args.extend(line.split(' '));
        let start = Instant::now();
        host::run(tool, &args).map_err(|e| e.to_string())?;
        calls.push(start.elapsed());
    }
    host::run(tool, &["-w", "-F", JUMP_CHAIN]).map_err(|e| e.to_string())?;
    Ok((median(restores), median(calls) * RULES as u32))
}

fn inside() -> Result<(), String> {
    println!(
        "firewall_apply: {RULES} rules per family; restore = median of {RESTORE_RUNS} runs, \
         per-rule = median of {SINGLE_CALLS} single `-A` calls x {RULES} (a lower bound)"
    );
    for (ipv6, name) in [(false, "IPv4"), (true, "IPv6")] {
        let (restore, per_rule) = bench_family(ipv6)?;
        println!(
            "{name}: one restore {:>9.1} ms | one call per rule {:>9.1} ms (estimated) | {:.0}x",
            restore.as_secs_f64() * 1e3,
            per_rule.as_secs_f64() * 1e3,
            per_rule.as_secs_f64() / restore.as_secs_f64()
        );
    }
    Ok(())
}

fn main() {
    netns::run("firewall_apply", inside);
}
