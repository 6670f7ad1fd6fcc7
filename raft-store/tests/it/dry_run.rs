//! Dry runs over random states and changes: the plan is exactly the difference the real
//! change makes, a refused change is refused with the same error, and nothing is written.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::apply_properties::{command, op};
use crate::common::*;
use proptest::prelude::*;
use raftwire_api::agent::agent_config;
use raftwire_api::plan::AddressChange;
use raftwire_api::wireguard::peer_config;
use raftwire_api::*;
use raftwire_raft_store::*;

/// One family's address of one peer on either side: (network, peer, family index, before,
/// after).
type Moved = (NetworkId, PeerId, u8, Option<IpAddr>, Option<IpAddr>);

/// Every (network, peer, family, before, after) whose address differs between two states,
/// found by walking both states whole (not only the networks the command names).
fn address_changes(a: &State, b: &State) -> BTreeSet<Moved> {
    let mut out = BTreeSet::new();
    for ns in a.networks().chain(b.networks()) {
        let id = ns.network.id;
        for p in ns.peers.iter() {
            for (i, f) in IpFamily::ALL.into_iter().enumerate() {
                let old = a
                    .network(id)
                    .and_then(|n| n.peers.get(p.id))
                    .and_then(|p| p.address(f));
                let new = b
                    .network(id)
                    .and_then(|n| n.peers.get(p.id))
                    .and_then(|p| p.address(f));
                if old != new {
                    out.insert((id, p.id, i as u8, old, new));
                }
            }
        }
    }
    out
}

/// Peers present on both sides whose derived config changes: (agent peers, static peers).
fn config_changes(a: &State, b: &State) -> (BTreeSet<PeerId>, BTreeSet<PeerId>) {
    let (mut agents, mut statics) = (BTreeSet::new(), BTreeSet::new());
    for ns in a.networks() {
        let Some(later) = b.network(ns.network.id) else {
            continue;
        };
        let (va, vb) = (ns.view(), later.view());
        let (ia, ib) = (va.index(), vb.index());
        for p in later.peers.iter().filter(|p| ns.peers.contains(p.id)) {
            if p.is_static() {
                if peer_config(&va, &ia, p.id) != peer_config(&vb, &ib, p.id) {
                    statics.insert(p.id);
                }
            } else if agent_config(&va, &ia, p.id) != agent_config(&vb, &ib, p.id) {
                agents.insert(p.id);
            }
        }
    }
    (agents, statics)
}

/// Three networks (IPv4, dual stack, IPv6) with a jump, agent and static peers in each, so
/// most random changes meet objects that exist.
fn base() -> State {
    let mut s = State::new();
    let nets = [
        serde_json::json!({"name": "net0", "ipv4_cidr": "10.0.0.0/24"}),
        serde_json::json!({"name": "net1", "ip_stack_mode": "dual", "ipv4_cidr": "10.1.0.0/28", "ipv6_cidr": "fd01::/124"}),
        serde_json::json!({"name": "net2", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00::/64"}),
    ];
    for (n, body) in nets.into_iter().enumerate() {
        let n = n as u128;
        ok(&mut s, create_network(n, body));
        for p in n * 4..n * 4 + 4 {
            let body = serde_json::json!({
                "name": format!("p{p}"),
                "is_jump": p % 4 == 0,
                "use_agent": p % 2 == 0,
            });
            ok(&mut s, create_peer(n, p, body));
        }
    }
    s
}

/// A random change: mostly a mode or prefix change whose CIDRs fit the mode it asks for
/// (prefixes that fit their peers or not, overlap other networks or not), else any command.
fn change() -> impl Strategy<Value = Option<Command>> {
    const MODES: [&str; 3] = ["ipv4", "ipv6", "dual"];
    const V4: [&str; 4] = ["10.0.0.0/24", "10.2.0.0/28", "10.3.0.0/30", "10.1.0.0/28"];
    const V6: [&str; 4] = ["fd00::/64", "fd02::/124", "fd03::/126", "fd01::/124"];
    let update = (
        0u128..3,
        0usize..3,
        proptest::option::of(0usize..4),
        proptest::option::of(0usize..4),
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(n, mode, v4, v6, force)| {
            let mut body = serde_json::json!({"ip_stack_mode": MODES[mode], "force": force});
            if mode != 1 {
                if let Some(i) = v4 {
                    body["ipv4_cidr"] = V4[i].into();
                }
            }
            if mode != 0 {
                if let Some(i) = v6 {
                    body["ipv6_cidr"] = V6[i].into();
                }
            }
            let req: raftwire_api::requests::UpdateNetwork = serde_json::from_value(body).ok()?;
            Some(Command::UpdateNetwork {
                id: net_id(n),
                at: Timestamp(2),
                if_match: None,
                patch: req.validate().ok()?.into(),
                new_rule_ids: [RuleId::from_u128(0x8000 + n), RuleId::from_u128(0x8100 + n)],
            })
        });
    prop_oneof![3 => update, 2 => op().prop_map(|o| command(&o))]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn prop_dry_run_plan_is_the_difference_the_real_change_makes_and_writes_nothing(
        ops in proptest::collection::vec(op(), 0..20),
        change in change(),
    ) {
        let mut s = base();
        for op in &ops {
            if let Some(cmd) = command(op) {
                let _ = apply(&mut s, cmd);
            }
        }
        let Some(cmd) = change else { return Ok(()) };
        let before = encode(&s);
        let planned = dry_run(&s, cmd.clone());
        prop_assert_eq!(&encode(&s), &before, "a dry run wrote to the state");

        // The real change, the way the store applies a log entry.
        let mut real = s.clone();
        let result = apply_entry(&mut real, cmd, 1_000);
        match (planned, result) {
            (Err(plan_err), Err(real_err)) => prop_assert_eq!(plan_err, real_err),
            (Ok(plan), Ok(response)) => {
                prop_assert_eq!(&plan.response, &response);
                let mut listed = BTreeSet::new();
                for np in &plan.networks {
                    for c in &np.addresses {
                        for (i, ch) in [c.ipv4, c.ipv6].into_iter().enumerate() {
                            let (old, new) = match ch {
                                None => continue,
                                Some(AddressChange::Added { address }) => (None, Some(address)),
                                Some(AddressChange::Released { address }) => (Some(address), None),
                                Some(AddressChange::Renumbered { from, to }) => (Some(from), Some(to)),
                            };
                            listed.insert((np.network_id, c.peer_id, i as u8, old, new));
                        }
                        let peer = real.peer(c.peer_id).or_else(|| s.peer(c.peer_id));
                        prop_assert_eq!(Some(c.is_static), peer.map(|p| p.is_static()));
                    }
                }
                prop_assert_eq!(listed, address_changes(&s, &real));
                let (agents, statics) = config_changes(&s, &real);
                let ids = |f: fn(&raftwire_api::plan::NetworkPlan) -> &Vec<raftwire_api::plan::PlannedPeer>| {
                    plan.networks.iter().flat_map(f).map(|p| p.peer_id).collect::<BTreeSet<_>>()
                };
                prop_assert_eq!(ids(|n| &n.agents_updated), agents);
                prop_assert_eq!(ids(|n| &n.static_peers_affected), statics);
            }
            (planned, result) => {
                return Err(TestCaseError::fail(format!("dry run {planned:?} but the real change {result:?}")));
            }
        }
    }
}

#[test]
fn dry_run_of_a_mode_change_lists_added_addresses_static_peers_and_agents() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(
            0,
            serde_json::json!({ "name": "n", "ipv4_cidr": "10.0.0.0/24" }),
        ),
    );
    ok(&mut s, jump(0, 1, "jump"));
    ok(
        &mut s,
        create_peer(
            0,
            2,
            serde_json::json!({ "name": "phone", "use_agent": false }),
        ),
    );
    let cmd = update_network(
        0,
        serde_json::json!({
            "ip_stack_mode": "dual", "ipv6_cidr": "fd00::/64", "force": true
        }),
    );
    let plan = dry_run(&s, cmd.clone()).unwrap();
    let np = &plan.networks[0];
    let added: Vec<_> = np
        .addresses
        .iter()
        .map(|c| (c.name.as_str(), c.ipv4, c.ipv6))
        .collect();
    let v6 = |a: &str| {
        Some(AddressChange::Added {
            address: a.parse().unwrap(),
        })
    };
    assert_eq!(
        added,
        vec![
            ("jump", None, v6("fd00::1")),
            ("phone", None, v6("fd00::2"))
        ]
    );
    assert_eq!(
        np.static_peers_affected
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["phone"]
    );
    assert_eq!(
        np.agents_updated
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["jump"]
    );
    // Without force the real change is refused, and so is the dry run, the same way.
    let unforced = update_network(
        0,
        serde_json::json!({ "ip_stack_mode": "dual", "ipv6_cidr": "fd00::/64" }),
    );
    let refused = dry_run(&s, unforced.clone()).unwrap_err();
    assert_eq!(refused.code, ErrorCode::StaticPeersAffected);
    assert_eq!(apply(&mut s.clone(), unforced).unwrap_err(), refused);
    // The plan matches what the real change then does.
    let real = the_network(ok(&mut s, cmd));
    assert_eq!(plan.response, Response::Network(real));
}
