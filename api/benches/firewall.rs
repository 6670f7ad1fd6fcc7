//! Cost of a jump's firewall (structured rules and both `iptables-restore` renderings) in a
//! large dual-stack network (target: well under 50 ms).
//!
//! The network (`10.0.0.0/16`, `fd00::/64`) has 1 jump and 10,000 peers, every peer in the
//! `default` group (2 rules: the network prefixes) and in a group of its own with a policy of
//! 5 rules: an IPv4 CIDR, an IPv6 CIDR, the next peer (output), the previous peer (input) and
//! a deny of `any`. That is 7 rules per peer and ~100,000 rule lines over both families.
//! A second case shares 100 groups of 100 peers whose policies also target a 10-peer `ops`
//! group, so group expansion is exercised too. Both networks are built outside the timed
//! loop; the view index is built once, as a caller deriving many configs would.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ipnet::IpNet;
use raftwire_api::firewall::{
    jump_firewall, jump_nat, render_restore, FILTER_TABLE, INPUT_CHAIN, JUMP_CHAIN,
};
use raftwire_api::model::{Action, Direction, RuleTarget};
use raftwire_api::testkit::Builder;
use raftwire_api::view::NetworkData;
use raftwire_api::{IpStackMode, PeerId};

const PEERS: usize = 10_000;

fn cidr(s: &str) -> RuleTarget {
    RuleTarget::Cidr(s.parse::<IpNet>().expect("bench CIDR"))
}

fn new_network() -> (Builder, PeerId, Vec<PeerId>) {
    let mut b = Builder::new(
        "bench",
        IpStackMode::Dual,
        Some("10.0.0.0/16"),
        Some("fd00::/64"),
    );
    let jump = b.jump("gw");
    b.route("lan", "192.168.0.0/16", jump);
    b.route("lan6", "2001:db8::/48", jump);
    let peers = (0..PEERS).map(|i| b.peer(&format!("p{i}"))).collect();
    (b, jump, peers)
}

/// Every peer in its own group with its own 5-rule policy.
fn own_groups() -> (NetworkData, PeerId) {
    let (mut b, jump, peers) = new_network();
    for (i, p) in peers.iter().enumerate() {
        let next = peers[(i + 1) % PEERS];
        let prev = peers[(i + PEERS - 1) % PEERS];
        let policy = b.policy(
            &format!("pol{i}"),
            &[
                (
                    Direction::Output,
                    Action::Allow,
                    cidr(&format!("192.168.{}.0/24", i % 256)),
                ),
                (
                    Direction::Output,
                    Action::Allow,
                    cidr(&format!("2001:db8:{:x}::/64", i)),
                ),
                (Direction::Output, Action::Allow, RuleTarget::Peer(next)),
                (Direction::Input, Action::Allow, RuleTarget::Peer(prev)),
                (Direction::Output, Action::Deny, RuleTarget::Any),
            ],
        );
        let group = b.group(&format!("g{i}"), 10);
        b.attach_policy(group, policy);
        b.join(*p, group);
    }
    (b.build(), jump)
}

/// 100 groups of 100 peers; each group's policy also allows output to a 10-peer group.
fn shared_groups() -> (NetworkData, PeerId) {
    const GROUPS: usize = 100;
    let (mut b, jump, peers) = new_network();
    let ops = b.group("ops", 5);
    for p in &peers[..10] {
        b.join(*p, ops);
    }
    for g in 0..GROUPS {
        let policy = b.policy(
            &format!("pol{g}"),
            &[
                (
                    Direction::Output,
                    Action::Allow,
                    cidr(&format!("192.168.{g}.0/24")),
                ),
                (
                    Direction::Output,
                    Action::Allow,
                    cidr(&format!("2001:db8:{g:x}::/64")),
                ),
                (Direction::Output, Action::Allow, RuleTarget::Group(ops)),
                (Direction::Input, Action::Allow, RuleTarget::Peer(peers[g])),
                (Direction::Output, Action::Deny, RuleTarget::Any),
            ],
        );
        let group = b.group(&format!("g{g}"), 10);
        b.attach_policy(group, policy);
        for p in peers.iter().skip(g).step_by(GROUPS) {
            b.join(*p, group);
        }
    }
    (b.build(), jump)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("firewall");
    for (name, (data, jump)) in [
        ("jump_firewall_10k_peers_own_groups", own_groups()),
        ("jump_firewall_10k_peers_shared_groups", shared_groups()),
    ] {
        let view = data.view();
        let idx = view.index();
        let fw = jump_firewall(&view, &idx, jump).expect("a jump");
        let lines = |f: &Option<raftwire_api::firewall::FamilyRules>| {
            f.as_ref().map(|r| r.rules.len()).unwrap_or(0)
        };
        eprintln!(
            "{name}: {} IPv4 + {} IPv6 rules, {} bytes of restore text",
            lines(&fw.ipv4),
            lines(&fw.ipv6),
            fw.ipv4.as_ref().map(|r| r.restore.len()).unwrap_or(0)
                + fw.ipv6.as_ref().map(|r| r.restore.len()).unwrap_or(0)
        );
        group.bench_function(name, |b| {
            b.iter(|| jump_firewall(black_box(&view), black_box(&idx), black_box(jump)))
        });
    }
    let (data, jump) = own_groups();
    let view = data.view();
    let idx = view.index();
    // The rendering alone, to see how the cost of `jump_firewall` splits.
    let fw = jump_firewall(&view, &idx, jump).expect("a jump");
    let families = [fw.ipv4, fw.ipv6].map(|f| f.expect("dual-stack").rules);
    group.bench_function("render_restore_10k_peers_own_groups", |b| {
        b.iter(|| {
            families
                .iter()
                .map(|rules| {
                    render_restore(FILTER_TABLE, &[JUMP_CHAIN, INPUT_CHAIN], black_box(rules))
                })
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("jump_nat_10k_peers", |b| {
        b.iter(|| jump_nat(black_box(&view), black_box(&idx), black_box(jump)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
