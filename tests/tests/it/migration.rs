//! A running network changed through the API, seen on real packets: a network switched
//! between IPv4-only and dual-stack while its agents keep running (every host gains its
//! IPv6 address, route and chains, then loses them cleanly, while IPv4 goes on), and a
//! route to a site LAN behind the jump that only the peers of the groups it is attached to
//! reach — its DNS mapping answered by the jump.
//!
//! A path that must fail is checked only after a path that should pass was seen working,
//! so the check can fail. The topology is `raftwire_tests::topology`.

use std::time::Duration;

use raftwire_tests::api::id_of;
use raftwire_tests::in_netns;
use raftwire_tests::netns::{link, Netns};
use raftwire_tests::probe::{blocked_for, ping_within};
use raftwire_tests::topology::{Family, Stack, Topology, CONVERGE};
use serde_json::{json, Value};

/// How long a blocked path is probed before it counts as blocked.
const BLOCKED: Duration = Duration::from_secs(3);

/// The IPv6 prefix the network gains when it turns dual-stack.
const V6_CIDR: &str = "fd21::/64";

/// Asserts `from` pings `to` through the jump within the convergence limit.
#[track_caller]
fn assert_pings(t: &Topology, from: &str, to: &str, family: Family) {
    let addr = t.host(to).overlay(family);
    t.check(
        ping_within(&t.host(from).ns, &addr, CONVERGE),
        &format!("{from} pings {to} at {addr}"),
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

/// PATCHes the network with `body` (asserting a 200 and the new mode), then takes every
/// peer's addresses as the node now has them.
#[track_caller]
fn switch(t: &mut Topology, body: Value, stack: Stack) {
    let network = t.api.update(&format!("/networks/{}", t.nid), body);
    let mode = match stack {
        Stack::Ipv4 => "ipv4",
        Stack::Ipv6 => "ipv6",
        Stack::Dual => "dual",
    };
    assert_eq!(network["ip_stack_mode"], mode, "{network}");
    t.network = network;
    t.stack = stack;
    refresh_addresses(t);
}

/// Copies every peer's current addresses from the API into its host (the rest of the peer
/// as created stays, the agent token among it).
fn refresh_addresses(t: &mut Topology) {
    for i in 0..t.hosts.len() {
        let path = t.url(&format!("/peers/{}", t.hosts[i].id()));
        let got = t.api.get(&path);
        assert_eq!(got.status, 200, "GET {path}: {}", got.body);
        for field in ["ipv4_address", "ipv6_address"] {
            t.hosts[i].peer[field] = got.body[field].clone();
        }
    }
}

/// Whether no host shows anything of IPv6 overlay any more: no global address or route on
/// its WireGuard interface, no Raftwire chain in ip6tables.
fn ipv6_gone(t: &Topology) -> bool {
    t.hosts.iter().all(|h| {
        h.wg_addresses(Family::V6)
            .lines()
            .all(|l| l.contains("scope link"))
            && h.wg_routes(Family::V6).is_empty()
            && !h.save(Family::V6).contains("RAFTWIRE")
    })
}

#[test]
fn a_running_network_turns_dual_stack_and_back_without_restarting_anything() {
    let Some(_ctl) =
        in_netns!(a_running_network_turns_dual_stack_and_back_without_restarting_anything)
    else {
        return;
    };
    let mut t = Topology::new(Stack::Ipv4);
    t.add_agent_peer("a");
    t.add_agent_peer("b");
    t.converged();
    assert_pings(&t, "a", "b", Family::V4);
    t.assert_untouched(Family::V6);

    // Dual-stack: with no static peer in the network nothing needs forcing.
    switch(
        &mut t,
        json!({"ip_stack_mode": "dual", "ipv6_cidr": V6_CIDR}),
        Stack::Dual,
    );
    for h in &t.hosts {
        assert!(
            h.addr(Family::V6).is_some_and(|a| a.starts_with("fd21:")),
            "{} got an IPv6 address: {}",
            h.name,
            h.peer
        );
    }
    // Every agent applied it and every peer pings the jump in both families.
    t.converged();
    t.eventually("every host has its IPv6 address on its interface", |t| {
        t.hosts.iter().all(|h| {
            let want = format!("{}/128", h.overlay(Family::V6));
            h.wg_addresses(Family::V6).contains(&want)
        })
    });
    assert_pings(&t, "a", "b", Family::V6);
    assert_pings(&t, "a", "b", Family::V4);
    // The jump's DNS answers the new records, also at its new IPv6 address.
    for via in [Family::V4, Family::V6] {
        assert_resolves(&t, "a", via, "b", Family::V6);
    }

    // Back to IPv4-only: IPv6 disappears from every host, IPv4 goes on.
    switch(&mut t, json!({"ip_stack_mode": "ipv4"}), Stack::Ipv4);
    for h in &t.hosts {
        assert!(
            h.addr(Family::V6).is_none(),
            "{} lost its IPv6 address: {}",
            h.name,
            h.peer
        );
    }
    t.applied();
    t.eventually("nothing of IPv6 left on any host", ipv6_gone);
    // The same again with a message per host and the forwarding sysctl as it was before.
    t.assert_untouched(Family::V6);
    assert_pings(&t, "a", "b", Family::V4);
    assert_resolves(&t, "a", Family::V4, "b", Family::V4);

    // A static peer would gain an address its downloaded configuration lacks: refused
    // unless forced, and nothing changes meanwhile.
    let s = t.add_static_peer("s");
    let sid = t.hosts[s].id();
    t.applied();
    let refused = t.api.call(
        "PATCH",
        &format!("/networks/{}", t.nid),
        Some(&json!({"ip_stack_mode": "dual", "ipv6_cidr": V6_CIDR})),
    );
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (409, Some("static_peers_affected")),
        "{}",
        refused.body
    );
    assert!(
        refused.body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i.as_str() == Some(sid.as_str()))),
        "the refusal names the static peer {sid}: {}",
        refused.body
    );
    let network = t.api.get(&format!("/networks/{}", t.nid));
    assert_eq!(network.body["ip_stack_mode"], "ipv4", "{}", network.body);
    refresh_addresses(&mut t);
    assert!(t.hosts.iter().all(|h| h.addr(Family::V6).is_none()));
    t.assert_untouched(Family::V6);

    switch(
        &mut t,
        json!({"ip_stack_mode": "dual", "ipv6_cidr": V6_CIDR, "force": true}),
        Stack::Dual,
    );
    assert!(
        t.hosts[s].addr(Family::V6).is_some(),
        "the static peer got an IPv6 address: {}",
        t.hosts[s].peer
    );
    t.converged();
    assert_pings(&t, "a", "b", Family::V6);
    assert_pings(&t, "b", "a", Family::V4);
}

/// The site LAN behind the jump.
const LAN: &str = "192.168.60.0/24";
/// A host on it (its default route points at the jump, `.1`).
const LAN_HOST: &str = "192.168.60.10";

/// The AllowedIPs of `host`'s WireGuard peers (`wg show <if> allowed-ips`).
fn allowed_ips(t: &Topology, host: &str) -> String {
    let h = t.host(host);
    h.ns.try_exec("wg", &["show", &h.iface, "allowed-ips"]).1
}

#[test]
fn a_route_behind_the_jump_is_reached_only_by_the_groups_it_is_attached_to() {
    let Some(_ctl) =
        in_netns!(a_route_behind_the_jump_is_reached_only_by_the_groups_it_is_attached_to)
    else {
        return;
    };
    let mut t = Topology::new(Stack::Ipv4);
    t.add_agent_peer("a");
    t.add_agent_peer("b");
    // Dropped before the topology: its end of the link goes with it.
    let lan = Netns::new("ln");
    link(
        &t.jump().ns,
        &["192.168.60.1/24"],
        &lan,
        &[&format!("{LAN_HOST}/24")],
    );
    lan.exec("ip", &["route", "add", "default", "via", "192.168.60.1"]);
    t.converged();
    assert_pings(&t, "a", "b", Family::V4);

    let route = t.api.create(
        &t.url("/routes"),
        json!({"name": "site", "destination_cidr": LAN, "jump_peer_id": t.jump().id()}),
    );
    let rid = id_of(&route);
    let group = t.api.create(
        &t.url("/groups"),
        json!({"name": "site-users", "priority": 10}),
    );
    let gid = id_of(&group);
    // The route puts the LAN in the members' tunnels; the jump forwards only what a policy
    // allows (its chain ends in a DROP), so the group allows output to the LAN too.
    let policy = t.api.create(
        &t.url("/policies"),
        json!({"name": "to-site", "rules": [{
            "direction": "output", "action": "allow", "target_type": "cidr", "target": LAN,
        }]}),
    );
    let polid = id_of(&policy);
    let a = t.host("a").id();
    for path in [
        format!("/groups/{gid}/peers/{a}"),
        format!("/groups/{gid}/routes/{rid}"),
        format!("/groups/{gid}/policies/{polid}"),
    ] {
        let put = t.api.call("PUT", &t.url(&path), None);
        assert_eq!(put.status, 204, "PUT {path}: {}", put.body);
    }
    t.applied();
    t.eventually("a's tunnel to the jump carries the LAN", |t| {
        allowed_ips(t, "a").contains(LAN)
    });
    t.check(
        ping_within(&t.host("a").ns, LAN_HOST, CONVERGE),
        &format!("a pings the LAN host {LAN_HOST} through the jump"),
    );
    // The jump masquerades overlay traffic into the LAN, so the LAN needs no route back.
    let nat = t.jump().ns.try_exec("iptables", &["-t", "nat", "-S"]).1;
    t.check(
        nat.lines()
            .any(|l| l.contains("-d 192.168.60.0/24") && l.ends_with("-j MASQUERADE")),
        &format!("the jump masquerades towards the LAN: {nat}"),
    );

    // b is in no group with the route: neither its tunnel nor its routes know the LAN.
    let b_allowed = allowed_ips(&t, "b");
    t.check(
        !b_allowed.contains("192.168.60."),
        &format!("b's AllowedIPs lack the LAN: {b_allowed}"),
    );
    let b_routes = t.host("b").wg_routes(Family::V4);
    t.check(
        !b_routes.iter().any(|r| r.contains("192.168.60.")),
        &format!("b has no route to the LAN: {b_routes:?}"),
    );
    t.check(
        blocked_for(&t.host("b").ns, LAN_HOST, BLOCKED),
        "b gets no reply from the LAN host",
    );

    // A name in the route's zone, answered by the jump's DNS.
    t.api.create(
        &t.url(&format!("/routes/{rid}/dns")),
        json!({"name": "printer", "ip_address": LAN_HOST}),
    );
    t.applied();
    t.eventually("the jump's DNS answers printer", |t| {
        t.resolve("a", Family::V4, "printer", Family::V4).answers == vec![LAN_HOST.to_string()]
    });
    let got = t.resolve("a", Family::V4, "printer", Family::V4);
    t.check(
        got.rcode == "NOERROR",
        &format!("printer resolves from a: {got:?}"),
    );
}
