//! The control plane fails while the data plane goes on: a three-node cluster, a dual-stack
//! network with a jump and two agent peers, and the leader SIGKILLed under a running ping.
//! The agents it served move to a surviving node, a policy change made there reaches the
//! jump and is enforced on packets, and the peers' traffic never stopped meanwhile (the
//! tunnels do not depend on the node being up, only changes do).
//!
//! A ping that must fail is checked only after the same path was seen to pass, so the check
//! can fail. The topology is `raftwire_tests::topology`.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use raftwire_tests::api::id_of;
use raftwire_tests::in_netns;
use raftwire_tests::probe::{blocked_for, eventually, ping_within};
use raftwire_tests::procs::Proc;
use raftwire_tests::topology::{Family, Stack, Topology, CONVERGE};
use serde_json::{json, Value};

/// How long a blocked path is probed before it counts as blocked.
const BLOCKED: Duration = Duration::from_secs(3);
/// How long the agents may take to move to a survivor. Survivors turn agents away while
/// there is no leader, and each refusal doubles the agent's reconnection delay, so the move
/// can take about twice the election (slow on a shared machine) and more than [`CONVERGE`].
const RECONNECT: Duration = Duration::from_secs(60);
/// The longest the background ping may go without a reply while the control plane fails
/// over (it pings every 200 ms).
const MAX_GAP: f64 = 2.0;

/// Seconds since the epoch, as `ping -D` prints them.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// The times of the replies in `ping -D` output.
fn reply_times(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// The longest stretch without a reply between `from` and `to` (both ends count).
fn longest_gap(replies: &[f64], from: f64, to: f64) -> f64 {
    let mut points = vec![from];
    points.extend(replies.iter().copied().filter(|t| *t > from && *t < to));
    points.push(to);
    points.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// The agent status of peer `name` as the cluster records it: connected, and to which node.
fn agent_of(t: &Topology, name: &str) -> Option<(bool, u64)> {
    let peer = t.api.get(&t.url(&format!("/peers/{}", t.host(name).id())));
    let agent = &peer.body["agent"];
    Some((agent["connected"].as_bool()?, agent["node_id"].as_u64()?))
}

/// The leader as node `id` sees it.
fn leader_seen_by(t: &Topology, id: u64) -> Option<u64> {
    t.cluster_on(id)["leader_id"].as_u64()
}

/// A group `isolated` ahead of `default` (lower priority first) with peer `a` in it and a
/// policy with `rule` attached: the group's and the policy's ids.
fn isolate_a(t: &Topology, rule: Value) -> (String, String) {
    let group = t.api.create(
        &t.url("/groups"),
        json!({"name": "isolated", "priority": 10}),
    );
    let gid = id_of(&group);
    let a = t.host("a").id();
    let put = t
        .api
        .call("PUT", &t.url(&format!("/groups/{gid}/peers/{a}")), None);
    assert_eq!(put.status, 204, "{}", put.body);
    let policy = t.api.create(
        &t.url("/policies"),
        json!({"name": "no-b", "rules": [rule]}),
    );
    let polid = id_of(&policy);
    let put = t.api.call(
        "PUT",
        &t.url(&format!("/groups/{gid}/policies/{polid}")),
        None,
    );
    assert_eq!(put.status, 204, "{}", put.body);
    (gid, polid)
}

#[track_caller]
fn assert_pings(t: &Topology, from: &str, to: &str, family: Family) {
    let addr = t.host(to).overlay(family);
    t.check(
        ping_within(&t.host(from).ns, &addr, CONVERGE),
        &format!("{from} pings {to} at {addr}"),
    );
}

#[test]
fn when_the_leader_dies_agents_move_to_a_survivor_policy_still_applies_and_pings_never_stop() {
    let Some(_ctl) = in_netns!(
        when_the_leader_dies_agents_move_to_a_survivor_policy_still_applies_and_pings_never_stop
    ) else {
        return;
    };
    let mut t = Topology::with_nodes(Stack::Dual, 3);
    t.add_agent_peer("a");
    t.add_agent_peer("b");
    t.converged();
    for f in [Family::V4, Family::V6] {
        assert_pings(&t, "a", "b", f);
    }
    let names: Vec<String> = t.hosts.iter().map(|h| h.name.clone()).collect();
    t.eventually("every agent recorded as connected", |t| {
        names
            .iter()
            .all(|n| agent_of(t, n).is_some_and(|(connected, _)| connected))
    });
    let leader = leader_seen_by(&t, 1).expect("a leader once the cluster formed");
    let on_leader: Vec<&String> = names
        .iter()
        .filter(|n| agent_of(&t, n).is_some_and(|(_, node)| node == leader))
        .collect();
    // Agents dial the first server they are given, node 1, which bootstrapped and leads
    // unless an election happened meanwhile; then the kill tests less, so say so.
    t.check(
        !on_leader.is_empty(),
        &format!("some agent is connected to the leader, node {leader}"),
    );

    // A continuous ping a→b (IPv4), every reply timestamped; line-buffered so that the log
    // is complete whenever it is read.
    let (a, b4, b6) = (
        t.host("a"),
        t.host("b").overlay(Family::V4),
        t.host("b").overlay(Family::V6),
    );
    let mut cmd = a.ns.command("stdbuf");
    cmd.args([
        "-oL", "ping", "-D", "-n", "-i", "0.2", "-W", "1", "-w", "120", &b4,
    ]);
    let log = t.scratch().join("ping-a-b.log");
    let mut ping = Proc::spawn("ping a→b", cmd, log);
    t.eventually("the background ping gets replies", |_| {
        !reply_times(&ping.output()).is_empty()
    });

    let killed_at = now();
    t.kill_node(leader);
    println!("killed the leader, node {leader}; agents on it: {on_leader:?}");
    t.eventually("a new leader among the survivors", |t| {
        leader_seen_by(
            t,
            t.nodes
                .iter()
                .find(|n| n.id != leader)
                .expect("a survivor")
                .id,
        )
        .is_some_and(|l| l != leader)
    });
    println!("{:.1} s after the kill: a new leader", now() - killed_at);
    let moved = eventually(RECONNECT, || {
        on_leader
            .iter()
            .all(|n| agent_of(&t, n).is_some_and(|(connected, node)| connected && node != leader))
    });
    t.check(
        moved,
        &format!("the agents on node {leader} reconnected to another node within {RECONNECT:?}"),
    );
    println!("{:.1} s after the kill:", now() - killed_at);
    for n in &names {
        println!("  agent {n}: (connected, node) {:?}", agent_of(&t, n));
    }

    // The data plane never stopped while the control plane failed over.
    let changed_at = now();
    let replies = reply_times(&ping.output());
    let gap = longest_gap(&replies, killed_at, changed_at);
    println!(
        "longest ping gap a→b between the kill and the policy change ({:.1} s): {gap:.2} s",
        changed_at - killed_at
    );
    t.check(
        gap <= MAX_GAP,
        &format!(
            "no ping gap over {MAX_GAP} s (longest {gap:.2} s):\n{}",
            ping.output()
        ),
    );
    ping.signal("INT");
    if ping.wait_exit(Duration::from_secs(3)).is_none() {
        ping.kill();
    }

    // A policy change through a survivor reaches the jump and is enforced on packets.
    let a_net = t.host("a").host_prefix(Family::V4);
    let b_net = t.host("b").host_prefix(Family::V4);
    let (gid, polid) = isolate_a(
        &t,
        json!({"direction": "output", "action": "deny", "target_type": "cidr", "target": b_net}),
    );
    t.applied();
    t.eventually("the deny rule in the jump's RAFTWIRE_JUMP chain", |t| {
        t.jump().drops(Family::V4, &a_net, &b_net)
    });
    t.check(
        blocked_for(&t.host("a").ns, &b4, BLOCKED),
        &format!("a gets no reply from b at {b4}"),
    );
    t.check(
        ping_within(&t.host("a").ns, &b6, CONVERGE),
        &format!("a still pings b at {b6}"),
    );

    t.api
        .delete(&t.url(&format!("/groups/{gid}/policies/{polid}")));
    t.applied();
    t.eventually("the deny rule gone from the jump", |t| {
        !t.jump().drops(Family::V4, &a_net, &b_net)
    });
    assert_pings(&t, "a", "b", Family::V4);
    assert_pings(&t, "a", "b", Family::V6);
    // The killed node really is gone (its port no longer answers).
    let dead = Command::new("curl")
        .args([
            "-sf",
            "-m",
            "2",
            &format!(
                "{}/readyz",
                t.nodes
                    .iter()
                    .find(|n| n.id == leader)
                    .expect("the killed node")
                    .api
                    .base
            ),
        ])
        .status()
        .is_ok_and(|s| s.success());
    t.check(!dead, &format!("node {leader} no longer answers"));
}
