//! Property tests of `apply` over random command sequences, valid and invalid:
//! determinism (invariant 1), atomicity, P1, P3/P11, P10 and P12 at the state level.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;

use common::*;
use proptest::prelude::*;
use raftwire_api::requests::*;
use raftwire_api::*;
use raftwire_raft_store::command::payload::{GroupSpec, PeerPatch};
use raftwire_raft_store::*;
use serde_json::json;

/// Prefixes that deliberately overlap across choices, so `cidr_overlap` happens.
const V4S: [&str; 4] = ["10.0.0.0/29", "10.0.0.0/24", "10.0.1.0/30", "10.1.0.0/28"];
const V6S: [&str; 4] = ["fd00::/125", "fd00::/64", "fd00:0:0:1::/126", "fd01::/124"];
const MODES: [&str; 3] = ["ipv4", "ipv6", "dual"];

#[derive(Debug, Clone)]
enum Op {
    CreateNetwork {
        n: u128,
        mode: Option<usize>,
        v4: usize,
        v6: usize,
        legacy: bool,
    },
    UpdateNetwork {
        n: u128,
        mode: usize,
        v4: Option<usize>,
        v6: Option<usize>,
        force: bool,
    },
    DeleteNetwork {
        n: u128,
    },
    CreatePeer {
        n: u128,
        p: u128,
        jump: bool,
        agent: bool,
        ask_v4: Option<u8>,
        ask_v6: Option<u8>,
    },
    DeletePeer {
        n: u128,
        p: u128,
    },
    RenamePeer {
        n: u128,
        p: u128,
        name: u8,
    },
    MovePeer {
        n: u128,
        p: u128,
        v4: u8,
    },
    CreateRoute {
        n: u128,
        r: u128,
        v6: bool,
        via: u128,
    },
    DeleteRoute {
        n: u128,
        r: u128,
    },
    CreateGroup {
        n: u128,
        g: u128,
    },
    Join {
        n: u128,
        g: u128,
        p: u128,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0u128..3;
    let p = 0u128..12;
    prop_oneof![
        3 => (n.clone(), proptest::option::of(0usize..3), 0usize..4, 0usize..4, any::<bool>())
            .prop_map(|(n, mode, v4, v6, legacy)| Op::CreateNetwork { n, mode, v4, v6, legacy }),
        2 => (n.clone(), 0usize..3, proptest::option::of(0usize..4), proptest::option::of(0usize..4), any::<bool>())
            .prop_map(|(n, mode, v4, v6, force)| Op::UpdateNetwork { n, mode, v4, v6, force }),
        1 => n.clone().prop_map(|n| Op::DeleteNetwork { n }),
        8 => (n.clone(), p.clone(), any::<bool>(), any::<bool>(), proptest::option::of(0u8..10), proptest::option::of(0u8..10))
            .prop_map(|(n, p, jump, agent, ask_v4, ask_v6)| Op::CreatePeer { n, p, jump, agent, ask_v4, ask_v6 }),
        3 => (n.clone(), p.clone()).prop_map(|(n, p)| Op::DeletePeer { n, p }),
        1 => (n.clone(), p.clone(), 0u8..4).prop_map(|(n, p, name)| Op::RenamePeer { n, p, name }),
        1 => (n.clone(), p.clone(), 0u8..10).prop_map(|(n, p, v4)| Op::MovePeer { n, p, v4 }),
        2 => (n.clone(), 0u128..3, any::<bool>(), p.clone()).prop_map(|(n, r, v6, via)| Op::CreateRoute { n, r, v6, via }),
        1 => (n.clone(), 0u128..3).prop_map(|(n, r)| Op::DeleteRoute { n, r }),
        1 => (n.clone(), 0u128..3).prop_map(|(n, g)| Op::CreateGroup { n, g }),
        2 => (n, 0u128..3, p).prop_map(|(n, g, p)| Op::Join { n, g, p }),
    ]
}

/// Turns an op into a command, or `None` when the request itself would be a 400 (the node
/// never proposes those; P2 covers them in the api crate).
fn command(op: &Op) -> Option<Command> {
    Some(match *op {
        Op::CreateNetwork {
            n,
            mode,
            v4,
            v6,
            legacy,
        } => {
            let mut body = json!({ "name": format!("net{n}") });
            let m = mode.map(|m| MODES[m]).unwrap_or("ipv4");
            if let Some(mode) = mode {
                body["ip_stack_mode"] = json!(MODES[mode]);
            }
            if m != "ipv6" {
                body[if legacy { "cidr" } else { "ipv4_cidr" }] = json!(V4S[v4]);
            }
            if m != "ipv4" {
                body["ipv6_cidr"] = json!(V6S[v6]);
            }
            create_network(n, body)
        }
        Op::UpdateNetwork {
            n,
            mode,
            v4,
            v6,
            force,
        } => {
            let req = UpdateNetwork {
                ip_stack_mode: Some(MODES[mode].into()),
                ipv4_cidr: v4.map(|i| V4S[i].into()),
                ipv6_cidr: v6.map(|i| V6S[i].into()),
                force: Some(force),
                ..Default::default()
            };
            Command::UpdateNetwork {
                id: net_id(n),
                at: Timestamp(2),
                if_match: None,
                patch: req.validate().ok()?.into(),
                new_rule_ids: [RuleId::from_u128(0x8000 + n), RuleId::from_u128(0x8100 + n)],
            }
        }
        Op::DeleteNetwork { n } => Command::DeleteNetwork {
            id: net_id(n),
            if_match: None,
        },
        Op::CreatePeer {
            n,
            p,
            jump,
            agent,
            ask_v4,
            ask_v6,
        } => {
            let mut body =
                json!({ "name": format!("p{p}"), "is_jump": jump, "use_agent": agent || jump });
            if let Some(a) = ask_v4 {
                body["ipv4_address"] = json!(format!("10.0.0.{a}"));
            }
            if let Some(a) = ask_v6 {
                body["ipv6_address"] = json!(format!("fd00::{a}"));
            }
            create_peer(n, p, body)
        }
        Op::DeletePeer { n, p } => delete_peer(n, p),
        Op::RenamePeer { n, p, name } => Command::UpdatePeer {
            network_id: net_id(n),
            id: peer_id(p),
            at: Timestamp(8),
            if_match: None,
            patch: PeerPatch {
                name: Some(format!("p{name}")),
                ..Default::default()
            },
        },
        Op::MovePeer { n, p, v4 } => Command::UpdatePeer {
            network_id: net_id(n),
            id: peer_id(p),
            at: Timestamp(9),
            if_match: None,
            patch: PeerPatch {
                ipv4_address: Some(format!("10.0.0.{v4}").parse().ok()?),
                ..Default::default()
            },
        },
        Op::CreateRoute { n, r, v6, via } => {
            create_route(n, r, if v6 { "fd99::/64" } else { "192.168.0.0/24" }, via)
        }
        Op::DeleteRoute { n, r } => Command::DeleteRoute {
            network_id: net_id(n),
            id: route_id(r),
            if_match: None,
        },
        Op::CreateGroup { n, g } => Command::CreateGroup {
            network_id: net_id(n),
            id: group_id(g),
            at: Timestamp(10),
            spec: GroupSpec {
                name: format!("g{g}"),
                description: String::new(),
                priority: g as i32,
            },
        },
        Op::Join { n, g, p } => Command::AddGroupMember {
            network_id: net_id(n),
            group_id: group_id(g),
            peer_id: peer_id(p),
            at: Timestamp(11),
        },
    })
}

/// P1, P3 and P11 over a whole state, plus disjoint prefixes across networks.
fn check_invariants(s: &State) -> Result<(), TestCaseError> {
    // What a restore demands of a backup holds for every state apply builds.
    if let Err(why) = s.check_consistency() {
        return Err(TestCaseError::fail(format!("inconsistent: {why}")));
    }
    let mut prefixes: Vec<ipnet::IpNet> = Vec::new();
    for ns in s.networks() {
        let mode = ns.network.ip_stack_mode;
        for family in IpFamily::ALL {
            let pool = ns.pools.get(family);
            prop_assert_eq!(
                pool.is_some(),
                mode.has(family),
                "pool per family of the mode"
            );
            prop_assert_eq!(ns.network.cidr(family).is_some(), mode.has(family));
            let mut seen = HashSet::new();
            for p in ns.peers.iter() {
                // P1: exactly the mode's families.
                prop_assert_eq!(
                    p.has(family),
                    mode.has(family),
                    "peer {} family {}",
                    p.name,
                    family
                );
                if let (Some(a), Some(pool)) = (p.address(family), pool) {
                    // P11: inside the prefix, held by the pool; P3: never twice.
                    prop_assert!(pool.prefix().contains(&a));
                    prop_assert!(pool.is_allocated(a));
                    prop_assert!(seen.insert(a), "address {} held twice", a);
                }
            }
            if let Some(pool) = pool {
                prop_assert_eq!(
                    pool.allocated(),
                    seen.len() as u128,
                    "pool holds exactly the peers' addresses"
                );
            }
        }
        for net in ns.network.cidrs() {
            for other in &prefixes {
                prop_assert!(
                    !other.contains(&net.network()) && !net.contains(&other.network()),
                    "{} overlaps {}",
                    net,
                    other
                );
            }
        }
        prefixes.extend(ns.network.cidrs());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn prop_apply_is_deterministic_same_log_same_bytes_and_answers(ops in proptest::collection::vec(op(), 1..60)) {
        let (mut a, mut b) = (State::new(), State::new());
        for op in &ops {
            let Some(cmd) = command(op) else { continue };
            let ra = apply(&mut a, cmd.clone());
            let rb = apply(&mut b, cmd);
            prop_assert_eq!(ra, rb);
        }
        let bytes = encode(&a);
        prop_assert_eq!(&bytes, &encode(&b));
        // A node restored from a snapshot continues identically.
        let mut restored = decode(&bytes);
        prop_assert_eq!(&restored, &a);
        for op in &ops {
            let Some(cmd) = command(op) else { continue };
            prop_assert_eq!(apply(&mut restored, cmd.clone()), apply(&mut a, cmd));
        }
        prop_assert_eq!(encode(&restored), encode(&a));
    }

    #[test]
    fn prop_p1_p3_p11_addresses_match_mode_are_unique_in_prefix_and_failed_commands_change_nothing(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let mut s = State::new();
        for op in &ops {
            let Some(cmd) = command(op) else { continue };
            let before = encode(&s);
            // Lowest-first reuse: an unrequested allocation takes the pool's lowest free address.
            let expected = match op {
                Op::CreatePeer { n, ask_v4: None, ask_v6: None, .. } => s.network(net_id(*n)).map(|ns| {
                    IpFamily::ALL.map(|f| ns.pools.get(f).and_then(|p| p.peek_lowest_free()))
                }),
                _ => None,
            };
            match apply(&mut s, cmd) {
                Err(_) => prop_assert_eq!(encode(&s), before, "failed {:?} changed the state", op),
                Ok(Response::Peer(p)) if expected.is_some() => {
                    let want = expected.unwrap_or_default();
                    prop_assert_eq!([p.address(IpFamily::Ipv4), p.address(IpFamily::Ipv6)], want);
                }
                Ok(_) => {}
            }
            check_invariants(&s)?;
        }
    }

    #[test]
    fn prop_p10_after_a_mode_change_peers_have_exactly_the_new_families_and_old_ones_are_free(
        start in 0usize..3, target in 0usize..3, peers in 0u128..6, v4 in 0usize..4, v6 in 0usize..4
    ) {
        let mut s = State::new();
        let mut body = json!({ "name": "n", "ip_stack_mode": MODES[start] });
        if MODES[start] != "ipv6" { body["ipv4_cidr"] = json!(V4S[1]); }
        if MODES[start] != "ipv4" { body["ipv6_cidr"] = json!(V6S[1]); }
        ok(&mut s, create_network(0, body));
        for p in 0..peers {
            ok(&mut s, create_peer(0, p, json!({ "name": format!("p{p}"), "use_agent": p % 2 == 0 })));
        }
        let before: Vec<Vec<IpAddr>> = s.network(net_id(0)).unwrap().peers.iter().map(|p| p.addresses()).collect();
        let req = UpdateNetwork {
            ip_stack_mode: Some(MODES[target].into()),
            ipv4_cidr: (MODES[target] != "ipv6").then(|| V4S[v4].into()),
            ipv6_cidr: (MODES[target] != "ipv4").then(|| V6S[v6].into()),
            force: Some(true),
            ..Default::default()
        };
        let patch = req.validate().unwrap();
        let result = apply(&mut s, Command::UpdateNetwork { id: net_id(0), at: Timestamp(2), if_match: None, patch: patch.into(), new_rule_ids: [RuleId::from_u128(1), RuleId::from_u128(2)] });
        let ns = s.network(net_id(0)).unwrap();
        match result {
            Ok(_) => {
                let mode = ns.network.ip_stack_mode;
                prop_assert_eq!(mode.as_str(), MODES[target]);
                for (p, old) in ns.peers.iter().zip(&before) {
                    for f in IpFamily::ALL {
                        prop_assert_eq!(p.has(f), mode.has(f));
                    }
                    // An address kept its value only if its prefix did not change.
                    for a in old {
                        let f = IpFamily::of_addr(a);
                        if !mode.has(f) {
                            prop_assert!(ns.pools.get(f).is_none(), "old family's pool released");
                        }
                    }
                }
                check_invariants(&s)?;
            }
            Err(e) => {
                // The only refusal with force on: the new prefix cannot hold every peer.
                prop_assert_eq!(e.code, ErrorCode::PoolExhausted);
                prop_assert_eq!(ns.peers.iter().map(|p| p.addresses()).collect::<Vec<_>>(), before);
            }
        }
    }

    #[test]
    fn prop_p12_commands_without_a_mode_behave_as_ipv4_only(v4 in 0usize..4, legacy in any::<bool>(), peers in 1u128..5) {
        let field = if legacy { "cidr" } else { "ipv4_cidr" };
        let (mut implicit, mut explicit) = (State::new(), State::new());
        ok(&mut implicit, create_network(0, json!({ "name": "n", field: V4S[v4] })));
        ok(&mut explicit, create_network(0, json!({ "name": "n", "ip_stack_mode": "ipv4", "ipv4_cidr": V4S[v4] })));
        for p in 0..peers {
            prop_assert_eq!(apply(&mut implicit, peer(0, p, &format!("p{p}"))), apply(&mut explicit, peer(0, p, &format!("p{p}"))));
        }
        prop_assert_eq!(encode(&implicit), encode(&explicit));
        let ns = implicit.network(net_id(0)).unwrap();
        prop_assert!(ns.peers.iter().all(|p| p.has_ipv4() && !p.has_ipv6()));
    }
}
