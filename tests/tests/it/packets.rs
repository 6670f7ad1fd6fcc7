//! Whole networks on real packets: a node, a jump host and agent peers (and a static peer
//! brought up from its downloaded configuration), each in a namespace of its own, talking
//! through userspace WireGuard. What a user of the network would see: who can ping whom
//! through the jump in which family, what the jump's DNS answers, and that a policy rule
//! blocks exactly the traffic it names — in its own family only, never the other one.
//!
//! A ping that must fail is checked only after the same path was seen to pass, so the check
//! can fail. The topology is `raftwire_tests::topology`.

use std::time::Duration;

use raftwire_tests::api::id_of;
use raftwire_tests::in_netns;
use raftwire_tests::probe::{blocked_for, ping_within};
use raftwire_tests::topology::{Family, Stack, Topology, CONVERGE};
use serde_json::{json, Value};

/// How long a blocked path is probed before it counts as blocked.
const BLOCKED: Duration = Duration::from_secs(3);

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

/// Asserts `from` pings `to` through the jump within the convergence limit.
#[track_caller]
fn assert_pings(t: &Topology, from: &str, to: &str, family: Family) {
    let addr = t.host(to).overlay(family);
    t.check(
        ping_within(&t.host(from).ns, &addr, CONVERGE),
        &format!("{from} pings {to} at {addr}"),
    );
}

/// Asserts `from` gets no reply from `to` (a path seen open before).
#[track_caller]
fn assert_blocked(t: &Topology, from: &str, to: &str, family: Family) {
    let addr = t.host(to).overlay(family);
    t.check(
        blocked_for(&t.host(from).ns, &addr, BLOCKED),
        &format!("{from} gets no reply from {to} at {addr}"),
    );
}

/// Asserts `from` resolves peer `name`'s record of `family` at the jump's DNS address of
/// family `via`, through its tunnel.
#[track_caller]
fn assert_resolves(t: &Topology, from: &str, via: Family, name: &str, family: Family) {
    let want = vec![t.host(name).overlay(family)];
    let got = t.resolve(from, via, name, family);
    t.check(
        got.rcode == "NOERROR" && got.answers == want,
        &format!(
            "{from} resolves {name} {} at the jump's {via:?} address: {got:?}",
            family.record()
        ),
    );
}

/// A single-stack network end to end: peers reach each other through the jump, DNS answers
/// the family's records (and NODATA for the other), a deny rule towards b blocks a→b while
/// a→jump and b→a pass, removing it restores a→b, and nothing of the other family appears
/// on any host.
fn single_stack(stack: Stack, family: Family) {
    let mut t = Topology::new(stack);
    t.add_agent_peer("a");
    t.add_agent_peer("b");
    t.converged();
    assert_pings(&t, "a", "b", family);
    assert_resolves(&t, "a", family, "b", family);
    let other = stack.absent().expect("a single-stack network");
    let nodata = t.resolve("a", family, "b", other);
    t.check(
        nodata.rcode == "NOERROR" && nodata.answers.is_empty(),
        &format!("no {} record for b: {nodata:?}", other.record()),
    );

    let b = t.host("b").id();
    let (gid, polid) = isolate_a(
        &t,
        json!({"direction": "output", "action": "deny", "target_type": "peer", "target": b}),
    );
    t.applied();
    let (a_net, b_net) = (
        t.host("a").host_prefix(family),
        t.host("b").host_prefix(family),
    );
    t.eventually("the deny rule in the jump's RAFTWIRE_JUMP chain", |t| {
        t.jump().drops(family, &a_net, &b_net)
    });
    assert_blocked(&t, "a", "b", family);
    t.check(
        ping_within(&t.host("a").ns, &t.jump().overlay(family), CONVERGE),
        "a still pings the jump",
    );
    // Output rules stop what the member starts: b's pings to a, and their replies, pass.
    assert_pings(&t, "b", "a", family);

    t.api
        .delete(&t.url(&format!("/groups/{gid}/policies/{polid}")));
    t.applied();
    t.eventually("the deny rule gone from the jump", |t| {
        !t.jump().drops(family, &a_net, &b_net)
    });
    assert_pings(&t, "a", "b", family);
    t.assert_untouched(other);
    if family == Family::V6 {
        // The tunnels themselves run over the IPv6 underlay: the jump's endpoint is IPv6.
        let jump = t.jump();
        let endpoints = jump.ns.exec("wg", &["show", &jump.iface, "endpoints"]);
        t.check(
            endpoints.lines().count() == 2 && endpoints.lines().all(|l| l.contains("[fd99::")),
            &format!("the peers reach the jump over IPv6: {endpoints}"),
        );
    }
}

#[test]
fn ipv4_only_peers_reach_each_other_through_the_jump_and_a_deny_rule_blocks_only_its_target() {
    let Some(_ctl) = in_netns!(
        ipv4_only_peers_reach_each_other_through_the_jump_and_a_deny_rule_blocks_only_its_target
    ) else {
        return;
    };
    single_stack(Stack::Ipv4, Family::V4);
}

#[test]
fn ipv6_only_peers_reach_each_other_through_the_jump_and_a_deny_rule_blocks_only_its_target() {
    let Some(_ctl) = in_netns!(
        ipv6_only_peers_reach_each_other_through_the_jump_and_a_deny_rule_blocks_only_its_target
    ) else {
        return;
    };
    single_stack(Stack::Ipv6, Family::V6);
}

#[test]
fn in_a_dual_stack_network_a_rule_of_one_family_never_opens_or_closes_the_other() {
    let Some(_ctl) =
        in_netns!(in_a_dual_stack_network_a_rule_of_one_family_never_opens_or_closes_the_other)
    else {
        return;
    };
    let mut t = Topology::new(Stack::Dual);
    t.add_agent_peer("a");
    t.add_agent_peer("b");
    t.converged();
    for f in [Family::V4, Family::V6] {
        assert_pings(&t, "a", "b", f);
        // Either record at either of the jump's DNS addresses.
        for via in [Family::V4, Family::V6] {
            assert_resolves(&t, "a", via, "b", f);
        }
    }
    let (a, b) = (t.host("a"), t.host("b"));
    let (a4, b4) = (a.host_prefix(Family::V4), b.host_prefix(Family::V4));
    let (a6, b6) = (a.host_prefix(Family::V6), b.host_prefix(Family::V6));
    let chain4 = t.jump().jump_chain(Family::V4);

    // Deny towards b's IPv6 /128: IPv6 a→b stops, IPv4 a→b goes on.
    let deny = |cidr: &str| json!({"direction": "output", "action": "deny", "target_type": "cidr", "target": cidr});
    let (gid, polid) = isolate_a(&t, deny(&b6));
    t.applied();
    t.eventually("the IPv6 deny rule in ip6tables", |t| {
        t.jump().drops(Family::V6, &a6, &b6)
    });
    t.check(
        t.jump().jump_chain(Family::V4) == chain4,
        "an IPv6 rule leaves the IPv4 chain as it was",
    );
    assert_blocked(&t, "a", "b", Family::V6);
    assert_pings(&t, "a", "b", Family::V4);

    // The same rule towards b's IPv4 /32 instead: the other way round.
    t.api.update(
        &t.url(&format!("/policies/{polid}")),
        json!({"rules": [deny(&b4)]}),
    );
    t.applied();
    t.eventually("the deny rule moved to iptables", |t| {
        t.jump().drops(Family::V4, &a4, &b4) && !t.jump().drops(Family::V6, &a6, &b6)
    });
    assert_pings(&t, "a", "b", Family::V6);
    assert_blocked(&t, "a", "b", Family::V4);

    // A rule towards a group b is in, then one towards peer b: both families are blocked.
    let b_id = t.host("b").id();
    let targets = t.api.create(&t.url("/groups"), json!({"name": "targets"}));
    let tgid = targets["id"].as_str().expect("group id").to_string();
    let put = t
        .api
        .call("PUT", &t.url(&format!("/groups/{tgid}/peers/{b_id}")), None);
    assert_eq!(put.status, 204, "{}", put.body);
    for rule in [
        json!({"direction": "output", "action": "deny", "target_type": "group", "target": tgid}),
        json!({"direction": "output", "action": "deny", "target_type": "peer", "target": b_id}),
    ] {
        t.api.update(
            &t.url(&format!("/policies/{polid}")),
            json!({"rules": [rule]}),
        );
        t.applied();
        t.eventually("a deny rule towards b in both families", |t| {
            t.jump().drops(Family::V4, &a4, &b4) && t.jump().drops(Family::V6, &a6, &b6)
        });
        assert_blocked(&t, "a", "b", Family::V4);
        assert_blocked(&t, "a", "b", Family::V6);
    }

    t.api
        .delete(&t.url(&format!("/groups/{gid}/policies/{polid}")));
    t.applied();
    t.eventually("no deny rule left", |t| {
        !t.jump().drops(Family::V4, &a4, &b4) && t.jump().jump_chain(Family::V4) == chain4
    });
    assert_pings(&t, "a", "b", Family::V4);
    assert_pings(&t, "a", "b", Family::V6);
}

#[test]
fn a_static_peer_brought_up_from_its_downloaded_config_reaches_agent_peers_in_both_families() {
    let Some(_ctl) = in_netns!(
        a_static_peer_brought_up_from_its_downloaded_config_reaches_agent_peers_in_both_families
    ) else {
        return;
    };
    let mut t = Topology::new(Stack::Dual);
    t.add_agent_peer("a");
    let s = t.add_static_peer("s");
    // The jump must know s's key (the node generated it) before s's first handshake.
    t.applied();
    let config = t
        .api
        .get(&t.url(&format!("/peers/{}/config", t.hosts[s].id())));
    assert_eq!(config.status, 200, "{}", config.body);
    let text = config.body.as_str().expect("wg-quick text").to_string();
    assert!(
        text.lines().any(|l| l.starts_with("PrivateKey = ")),
        "a server-generated key is in the download:\n{text}"
    );
    t.wg_quick_up(s, &text);
    t.converged();
    for f in [Family::V4, Family::V6] {
        assert_pings(&t, "s", "a", f);
        assert_pings(&t, "a", "s", f);
        // The DNS the downloaded config names answers s through its tunnel.
        assert_resolves(&t, "s", f, "a", f);
    }
}
