//! Property tests of `apply` over random command sequences, valid and invalid:
//! determinism (invariant 1), atomicity, P1, P3/P11, P10 and P12 at the state level, and every
//! invariant of `raftwire_raft_store::invariants` over sequences of every kind of command.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::common::*;
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
pub(crate) enum Op {
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

pub(crate) fn op() -> impl Strategy<Value = Op> {
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
pub(crate) fn command(op: &Op) -> Option<Command> {
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
    fn prop_a_batch_entry_applies_and_answers_exactly_like_its_commands_each_in_an_entry_of_its_own(
        ops in proptest::collection::vec((op(), proptest::option::of(0u8..4)), 1..60),
        sizes in proptest::collection::vec(1usize..8, 60),
    ) {
        // Some commands carry an idempotency key, a few of them the same key: a retry inside
        // the same batch answers what the first one did.
        let commands: Vec<Command> = ops
            .iter()
            .filter_map(|(op, key)| {
                let cmd = command(op)?;
                Some(match key {
                    Some(k) => Command::Idempotent { key: format!("k{k}"), command: Box::new(cmd) },
                    None => cmd,
                })
            })
            .collect();
        // One entry per command (index i + 1)...
        let mut one_by_one = State::new();
        let answers: Vec<ApplyResult> = commands
            .iter()
            .enumerate()
            .map(|(i, c)| apply_entry(&mut one_by_one, c.clone(), i as u64 + 1))
            .collect();
        // ... against the same commands cut into batches (entry j + 1 holding batch j).
        let mut batched = State::new();
        let mut batch_answers = Vec::new();
        let mut entry_of = vec![0u64; commands.len() + 1];
        let (mut start, mut j) = (0, 0);
        while start < commands.len() {
            let end = (start + sizes[j % sizes.len()]).min(commands.len());
            for i in start..end {
                entry_of[i + 1] = j as u64 + 1;
            }
            let batch = Command::Batch { commands: commands[start..end].to_vec() };
            match apply_entry(&mut batched, batch, j as u64 + 1) {
                Ok(Response::Batch(results)) => {
                    prop_assert_eq!(results.len(), end - start);
                    batch_answers.extend(results);
                }
                other => prop_assert!(false, "a batch answered {:?}", other),
            }
            start = end;
            j += 1;
        }
        prop_assert_eq!(&batch_answers, &answers);
        prop_assert_eq!(encode(&State::from(batched.clone().into_data())), encode(&State::from(one_by_one.clone().into_data())));
        check_invariants(&batched)?;
        // Every network's revision is the entry that held the last command that changed it.
        for ns in one_by_one.networks() {
            let id = ns.network.id;
            prop_assert_eq!(batched.revision(id), entry_of[one_by_one.revision(id) as usize]);
        }
        prop_assert_eq!(batched.meta().revisions.len(), one_by_one.meta().revisions.len());
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

// ------------------------------------------------------------------ every command kind

use raftwire_raft_store::codec::encode_state;
use raftwire_raft_store::command::payload as pl;

/// Names peers, DNS mappings and groups take: peers and mappings collide on purpose.
const NAMES: [&str; 4] = ["a", "b", "db", "nas"];
/// Destinations of routes, `additional_allowed_ips` and rule CIDRs: outside every overlay,
/// inside one (`10.0.0.0/28` in `10.0.0.0/24`, `fd00::/120` in `fd00::/64`), broader than
/// all, overlapping a network prefix, of either family.
const NETS: [&str; 7] = [
    "192.168.0.0/24",
    "10.0.0.0/28",
    "fd99::/64",
    "fd00::/120",
    "0.0.0.0/0",
    "10.1.0.0/28",
    "fd99:1::/64",
];
/// Mapping addresses: inside some destinations above, outside others, of either family.
const IPS: [&str; 5] = [
    "192.168.0.5",
    "192.168.1.5",
    "fd99::5",
    "10.0.0.3",
    "fd99:1::7",
];

#[derive(Debug, Clone)]
struct RuleGen {
    id: u8,
    kind: u8,
    x: u8,
}

#[derive(Debug, Clone)]
enum Cmd {
    CreateNetwork {
        n: u128,
        mode: usize,
        v4: usize,
        v6: usize,
    },
    UpdateNetwork {
        n: u128,
        mode: Option<usize>,
        v4: Option<usize>,
        v6: Option<usize>,
        force: bool,
        rename: Option<u128>,
    },
    DeleteNetwork {
        n: u128,
    },
    CreatePeer {
        n: u128,
        p: u128,
        kind: u8,
        ask_v4: Option<u8>,
        ask_v6: Option<u8>,
        allowed: Vec<usize>,
        name: usize,
        key: Option<u8>,
        hash: Option<u8>,
        groups: Option<Vec<u8>>,
        nat: bool,
    },
    UpdatePeer {
        n: u128,
        p: u128,
        name: Option<usize>,
        use_agent: Option<bool>,
        v4: Option<u8>,
        v6: Option<u8>,
        allowed: Option<Vec<usize>>,
        groups: Option<Vec<u8>>,
        nat: Option<bool>,
        key: Option<Option<u8>>,
    },
    DeletePeer {
        n: u128,
        p: u128,
    },
    RotateToken {
        n: u128,
        p: u128,
        hash: u8,
    },
    RegisterKey {
        p: u128,
        key: u8,
    },
    CreateGroup {
        n: u128,
        g: u8,
        name: usize,
    },
    UpdateGroup {
        n: u128,
        g: u8,
        name: usize,
    },
    DeleteGroup {
        n: u128,
        g: u8,
    },
    Member {
        n: u128,
        g: u8,
        p: u128,
        add: bool,
    },
    AttachPolicy {
        n: u128,
        g: u8,
        pol: u8,
        attach: bool,
    },
    AttachRoute {
        n: u128,
        g: u8,
        r: u128,
        attach: bool,
    },
    CreatePolicy {
        n: u128,
        pol: u8,
        name: usize,
        rules: Vec<RuleGen>,
    },
    UpdatePolicy {
        n: u128,
        pol: u8,
        name: Option<usize>,
        rules: Option<Vec<RuleGen>>,
    },
    DeletePolicy {
        n: u128,
        pol: u8,
    },
    AddRule {
        n: u128,
        pol: u8,
        rule: RuleGen,
    },
    RemoveRule {
        n: u128,
        pol: u8,
        id: u8,
    },
    CreateRoute {
        n: u128,
        r: u128,
        dest: usize,
        via: u128,
        name: u8,
    },
    UpdateRoute {
        n: u128,
        r: u128,
        dest: Option<usize>,
        via: Option<u128>,
    },
    DeleteRoute {
        n: u128,
        r: u128,
    },
    CreateMapping {
        n: u128,
        r: u128,
        m: u128,
        name: usize,
        ip: usize,
    },
    UpdateMapping {
        n: u128,
        r: u128,
        m: u128,
        name: Option<usize>,
        ip: Option<usize>,
    },
    DeleteMapping {
        n: u128,
        r: u128,
        m: u128,
    },
    CreateAdminToken {
        t: u128,
        hash: u8,
    },
    DeleteAdminToken {
        t: u128,
    },
    Restore,
}

/// `Some` a quarter of the time: fields that, set at random, would refuse most commands.
fn rarely<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.25, s)
}

fn rule_gen() -> impl Strategy<Value = RuleGen> {
    (0u8..7, 0u8..4, 0u8..8).prop_map(|(id, kind, x)| RuleGen { id, kind, x })
}

fn cmd() -> impl Strategy<Value = Cmd> {
    use proptest::collection::vec;
    use proptest::option::of;
    // Mostly the network the sequence starts with; sometimes the other two.
    let n = prop_oneof![4 => Just(0u128), 1 => Just(1u128), 1 => Just(2u128)];
    let any_n = 0u128..3;
    let p = 0u128..10;
    let via = prop_oneof![2 => Just(0u128), 1 => 0u128..10];
    let g = 0u8..5;
    // The network's own default policy often: the one that exists from the start.
    let pol = prop_oneof![2 => 0u8..3, 2 => Just(3u8), 1 => Just(4u8)];
    let r = 0u128..3;
    prop_oneof![
        3 => (any_n.clone(), 0usize..3, 0usize..4, 0usize..4)
            .prop_map(|(n, mode, v4, v6)| Cmd::CreateNetwork { n, mode, v4, v6 }),
        5 => (n.clone(), of(0usize..3), of(0usize..4), of(0usize..4), any::<bool>(), of(0u128..3))
            .prop_map(|(n, mode, v4, v6, force, rename)| Cmd::UpdateNetwork { n, mode, v4, v6, force, rename }),
        1 => any_n.prop_map(|n| Cmd::DeleteNetwork { n }),
        10 => (n.clone(), p.clone(), 0u8..3, rarely(0u8..6), rarely(0u8..6), vec(0usize..7, 0..2), 0usize..4, rarely(0u8..6), rarely(0u8..6), rarely(vec(g.clone(), 0..3)), rarely(Just(true)).prop_map(|n| n.is_some()))
            .prop_map(|(n, p, kind, ask_v4, ask_v6, allowed, name, key, hash, groups, nat)| Cmd::CreatePeer { n, p, kind, ask_v4, ask_v6, allowed, name, key, hash, groups, nat }),
        5 => (n.clone(), p.clone(), of(0usize..4), rarely(any::<bool>()), rarely(0u8..6), rarely(0u8..6), of(vec(0usize..7, 0..2)), rarely(vec(g.clone(), 0..3)), rarely(any::<bool>()), rarely(of(0u8..6)))
            .prop_map(|(n, p, name, use_agent, v4, v6, allowed, groups, nat, key)| Cmd::UpdatePeer { n, p, name, use_agent, v4, v6, allowed, groups, nat, key }),
        2 => (n.clone(), p.clone()).prop_map(|(n, p)| Cmd::DeletePeer { n, p }),
        1 => (n.clone(), p.clone(), 0u8..4).prop_map(|(n, p, hash)| Cmd::RotateToken { n, p, hash }),
        1 => (p.clone(), 0u8..4).prop_map(|(p, key)| Cmd::RegisterKey { p, key }),
        2 => (n.clone(), g.clone(), 0usize..4).prop_map(|(n, g, name)| Cmd::CreateGroup { n, g, name }),
        1 => (n.clone(), g.clone(), 0usize..4).prop_map(|(n, g, name)| Cmd::UpdateGroup { n, g, name }),
        1 => (n.clone(), g.clone()).prop_map(|(n, g)| Cmd::DeleteGroup { n, g }),
        2 => (n.clone(), g.clone(), p.clone(), any::<bool>()).prop_map(|(n, g, p, add)| Cmd::Member { n, g, p, add }),
        1 => (n.clone(), g.clone(), pol.clone(), any::<bool>()).prop_map(|(n, g, pol, attach)| Cmd::AttachPolicy { n, g, pol, attach }),
        1 => (n.clone(), g.clone(), r.clone(), any::<bool>()).prop_map(|(n, g, r, attach)| Cmd::AttachRoute { n, g, r, attach }),
        2 => (n.clone(), pol.clone(), 0usize..4, vec(rule_gen(), 0..3)).prop_map(|(n, pol, name, rules)| Cmd::CreatePolicy { n, pol, name, rules }),
        1 => (n.clone(), pol.clone(), of(0usize..4), of(vec(rule_gen(), 0..3))).prop_map(|(n, pol, name, rules)| Cmd::UpdatePolicy { n, pol, name, rules }),
        1 => (n.clone(), pol.clone()).prop_map(|(n, pol)| Cmd::DeletePolicy { n, pol }),
        2 => (n.clone(), pol.clone(), rule_gen()).prop_map(|(n, pol, rule)| Cmd::AddRule { n, pol, rule }),
        1 => (n.clone(), pol.clone(), 0u8..7).prop_map(|(n, pol, id)| Cmd::RemoveRule { n, pol, id }),
        5 => (n.clone(), r.clone(), 0usize..7, via.clone(), 0u8..2).prop_map(|(n, r, dest, via, name)| Cmd::CreateRoute { n, r, dest, via, name }),
        2 => (n.clone(), r.clone(), of(0usize..7), of(via)).prop_map(|(n, r, dest, via)| Cmd::UpdateRoute { n, r, dest, via }),
        1 => (n.clone(), r.clone()).prop_map(|(n, r)| Cmd::DeleteRoute { n, r }),
        4 => (n.clone(), r.clone(), 0u128..3, 0usize..4, 0usize..5).prop_map(|(n, r, m, name, ip)| Cmd::CreateMapping { n, r, m, name, ip }),
        2 => (n.clone(), r.clone(), 0u128..3, of(0usize..4), of(0usize..5)).prop_map(|(n, r, m, name, ip)| Cmd::UpdateMapping { n, r, m, name, ip }),
        1 => (n.clone(), r.clone(), 0u128..3).prop_map(|(n, r, m)| Cmd::DeleteMapping { n, r, m }),
        1 => (0u128..3, 0u8..4).prop_map(|(t, hash)| Cmd::CreateAdminToken { t, hash }),
        1 => (0u128..3).prop_map(|t| Cmd::DeleteAdminToken { t }),
        1 => Just(Cmd::Restore),
    ]
}

fn other(n: u128) -> u128 {
    (n + 1) % 3
}

/// Groups 0–2 of the test, the network's own `default` group, another network's.
fn gid(n: u128, g: u8) -> GroupId {
    match g {
        3 => defaults(n).group_id,
        4 => defaults(other(n)).group_id,
        g => group_id(g as u128),
    }
}

/// Policies 0–2 of the test, the network's own `default` policy, another network's.
fn polid(n: u128, pol: u8) -> PolicyId {
    match pol {
        3 => defaults(n).policy_id,
        4 => defaults(other(n)).policy_id,
        p => PolicyId::from_u128(0x6100 + p as u128),
    }
}

/// Rule ids 0–4 of the test, the network's own first default rule id, and the id a mode
/// change hands a new family's default rule.
fn rid(n: u128, id: u8) -> RuleId {
    match id {
        5 => defaults(n).rule_ids[0],
        6 => RuleId::from_u128(0x8100 + n),
        i => RuleId::from_u128(0x9000 + i as u128),
    }
}

fn mid(m: u128) -> DnsMappingId {
    DnsMappingId::from_u128(0x9900 + m)
}

fn net(i: usize) -> ipnet::IpNet {
    NETS[i].parse().expect("net")
}

fn rule_of(n: u128, r: &RuleGen) -> Rule {
    Rule {
        id: rid(n, r.id),
        direction: if r.x.is_multiple_of(2) {
            Direction::Output
        } else {
            Direction::Input
        },
        action: if r.x.is_multiple_of(3) {
            Action::Deny
        } else {
            Action::Allow
        },
        target: match r.kind {
            0 => RuleTarget::Cidr(net(r.x as usize % NETS.len())),
            1 => RuleTarget::Peer(peer_id(r.x as u128)),
            2 => RuleTarget::Group(gid(n, r.x % 5)),
            _ => RuleTarget::Any,
        },
        description: String::new(),
    }
}

fn build(c: &Cmd) -> Option<Command> {
    let at = Timestamp(20);
    let mode_of = |m: usize| IpStackMode::ALL[m];
    Some(match c.clone() {
        Cmd::CreateNetwork { n, mode, v4, v6 } => {
            let mut body = json!({ "name": format!("net{n}"), "ip_stack_mode": MODES[mode] });
            if MODES[mode] != "ipv6" {
                body["ipv4_cidr"] = json!(V4S[v4]);
            }
            if MODES[mode] != "ipv4" {
                body["ipv6_cidr"] = json!(V6S[v6]);
            }
            create_network(n, body)
        }
        Cmd::UpdateNetwork {
            n,
            mode,
            v4,
            v6,
            force,
            rename,
        } => Command::UpdateNetwork {
            id: net_id(n),
            at,
            if_match: None,
            patch: pl::NetworkPatch {
                name: rename.map(|k| format!("net{k}")),
                ip_stack_mode: mode.map(mode_of),
                ipv4_cidr: v4.map(|i| V4S[i].parse().expect("v4")),
                ipv6_cidr: v6.map(|i| V6S[i].parse().expect("v6")),
                domain: None,
                dns_servers: None,
                force,
            },
            new_rule_ids: [RuleId::from_u128(0x8000 + n), RuleId::from_u128(0x8100 + n)],
        },
        Cmd::DeleteNetwork { n } => Command::DeleteNetwork {
            id: net_id(n),
            if_match: None,
        },
        Cmd::CreatePeer {
            n,
            p,
            kind,
            ask_v4,
            ask_v6,
            allowed,
            name,
            key,
            hash,
            groups,
            nat,
        } => Command::CreatePeer {
            network_id: net_id(n),
            id: peer_id(p),
            at,
            spec: pl::PeerSpec {
                name: NAMES[name].into(),
                is_jump: kind == 2,
                use_agent: kind >= 1,
                ipv4_address: ask_v4.map(|a| format!("10.0.0.{a}").parse().expect("v4")),
                ipv6_address: ask_v6.map(|a| format!("fd00::{a}").parse().expect("v6")),
                public_key: key.map(|k| raftwire_api::testkit::test_key(k as u128)),
                endpoint: None,
                listen_port: None,
                additional_allowed_ips: allowed.into_iter().map(net).collect(),
                group_ids: groups.map(|gs| gs.into_iter().map(|g| gid(n, g)).collect()),
                ipv6_nat: nat,
            },
            secrets: PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: hash.map(|h| format!("h{h}")),
            },
        },
        Cmd::UpdatePeer {
            n,
            p,
            name,
            use_agent,
            v4,
            v6,
            allowed,
            groups,
            nat,
            key,
        } => Command::UpdatePeer {
            network_id: net_id(n),
            id: peer_id(p),
            at,
            if_match: None,
            patch: PeerPatch {
                name: name.map(|i| NAMES[i].into()),
                is_jump: None,
                use_agent,
                ipv4_address: v4.map(|a| format!("10.0.0.{a}").parse().expect("v4")),
                ipv6_address: v6.map(|a| format!("fd00::{a}").parse().expect("v6")),
                public_key: key.map(|k| k.map(|k| raftwire_api::testkit::test_key(k as u128))),
                endpoint: None,
                listen_port: None,
                additional_allowed_ips: allowed.map(|a| a.into_iter().map(net).collect()),
                group_ids: groups.map(|gs| gs.into_iter().map(|g| gid(n, g)).collect()),
                ipv6_nat: nat,
            },
        },
        Cmd::DeletePeer { n, p } => delete_peer(n, p),
        Cmd::RotateToken { n, p, hash } => Command::RotateAgentToken {
            network_id: net_id(n),
            peer_id: peer_id(p),
            at,
            token_hash: format!("h{hash}"),
        },
        Cmd::RegisterKey { p, key } => Command::RegisterAgentKey {
            peer_id: peer_id(p),
            at,
            public_key: raftwire_api::testkit::test_key(key as u128),
        },
        Cmd::CreateGroup { n, g, name } => Command::CreateGroup {
            network_id: net_id(n),
            id: gid(n, g),
            at,
            spec: GroupSpec {
                name: NAMES[name].into(),
                description: String::new(),
                priority: 1,
            },
        },
        Cmd::UpdateGroup { n, g, name } => Command::UpdateGroup {
            network_id: net_id(n),
            id: gid(n, g),
            at,
            if_match: None,
            patch: pl::GroupPatch {
                name: Some(NAMES[name].into()),
                description: None,
                priority: Some(2),
            },
        },
        Cmd::DeleteGroup { n, g } => Command::DeleteGroup {
            network_id: net_id(n),
            id: gid(n, g),
            if_match: None,
        },
        Cmd::Member { n, g, p, add } => {
            let (network_id, group_id, peer_id) = (net_id(n), gid(n, g), peer_id(p));
            if add {
                Command::AddGroupMember {
                    network_id,
                    group_id,
                    peer_id,
                    at,
                }
            } else {
                Command::RemoveGroupMember {
                    network_id,
                    group_id,
                    peer_id,
                    at,
                }
            }
        }
        Cmd::AttachPolicy { n, g, pol, attach } => {
            let (network_id, group_id, policy_id) = (net_id(n), gid(n, g), polid(n, pol));
            if attach {
                Command::AttachPolicy {
                    network_id,
                    group_id,
                    policy_id,
                    at,
                }
            } else {
                Command::DetachPolicy {
                    network_id,
                    group_id,
                    policy_id,
                    at,
                }
            }
        }
        Cmd::AttachRoute { n, g, r, attach } => {
            let (network_id, group_id, route_id) = (net_id(n), gid(n, g), route_id(r));
            if attach {
                Command::AttachRoute {
                    network_id,
                    group_id,
                    route_id,
                    at,
                }
            } else {
                Command::DetachRoute {
                    network_id,
                    group_id,
                    route_id,
                    at,
                }
            }
        }
        Cmd::CreatePolicy {
            n,
            pol,
            name,
            rules,
        } => Command::CreatePolicy {
            network_id: net_id(n),
            id: polid(n, pol),
            at,
            name: NAMES[name].into(),
            description: String::new(),
            rules: rules.iter().map(|r| rule_of(n, r)).collect(),
        },
        Cmd::UpdatePolicy {
            n,
            pol,
            name,
            rules,
        } => Command::UpdatePolicy {
            network_id: net_id(n),
            id: polid(n, pol),
            at,
            if_match: None,
            name: name.map(|i| NAMES[i].into()),
            description: None,
            rules: rules.map(|rs| rs.iter().map(|r| rule_of(n, r)).collect()),
        },
        Cmd::DeletePolicy { n, pol } => Command::DeletePolicy {
            network_id: net_id(n),
            id: polid(n, pol),
            if_match: None,
        },
        Cmd::AddRule { n, pol, rule } => Command::AddRule {
            network_id: net_id(n),
            policy_id: polid(n, pol),
            at,
            rule: rule_of(n, &rule),
        },
        Cmd::RemoveRule { n, pol, id } => Command::RemoveRule {
            network_id: net_id(n),
            policy_id: polid(n, pol),
            rule_id: rid(n, id),
            at,
        },
        Cmd::CreateRoute {
            n,
            r,
            dest,
            via,
            name,
        } => Command::CreateRoute {
            network_id: net_id(n),
            id: route_id(r),
            at,
            spec: pl::RouteSpec {
                name: format!("r{name}"),
                description: String::new(),
                destination_cidr: net(dest),
                jump_peer_id: peer_id(via),
            },
        },
        Cmd::UpdateRoute { n, r, dest, via } => Command::UpdateRoute {
            network_id: net_id(n),
            id: route_id(r),
            at,
            if_match: None,
            patch: pl::RoutePatch {
                name: None,
                description: None,
                destination_cidr: dest.map(net),
                jump_peer_id: via.map(peer_id),
            },
        },
        Cmd::DeleteRoute { n, r } => Command::DeleteRoute {
            network_id: net_id(n),
            id: route_id(r),
            if_match: None,
        },
        Cmd::CreateMapping { n, r, m, name, ip } => Command::CreateDnsMapping {
            network_id: net_id(n),
            route_id: route_id(r),
            id: mid(m),
            at,
            spec: pl::DnsMappingSpec {
                name: NAMES[name].into(),
                ip_address: IPS[ip].parse().expect("ip"),
            },
        },
        Cmd::UpdateMapping { n, r, m, name, ip } => Command::UpdateDnsMapping {
            network_id: net_id(n),
            route_id: route_id(r),
            id: mid(m),
            at,
            if_match: None,
            patch: pl::DnsMappingPatch {
                name: name.map(|i| NAMES[i].into()),
                ip_address: ip.map(|i| IPS[i].parse().expect("ip")),
            },
        },
        Cmd::DeleteMapping { n, r, m } => Command::DeleteDnsMapping {
            network_id: net_id(n),
            route_id: route_id(r),
            id: mid(m),
            if_match: None,
        },
        Cmd::CreateAdminToken { t, hash } => Command::CreateAdminToken {
            token: AdminToken {
                id: TokenId::from_u128(0xa000 + t),
                name: format!("t{t}"),
                token_hash: format!("h{hash}"),
                created_at: at,
            },
        },
        Cmd::DeleteAdminToken { t } => Command::DeleteAdminToken {
            id: TokenId::from_u128(0xa000 + t),
        },
        Cmd::Restore => return None,
    })
}

fn addresses(ns: &NetworkState) -> Vec<(PeerId, bool, Vec<IpAddr>)> {
    ns.peers
        .iter()
        .map(|p| (p.id, p.is_static(), p.addresses()))
        .collect()
}

/// The command-specific properties of one step: `before` is the state the command met.
fn check_step(
    before: &State,
    after: &State,
    c: &Cmd,
    command: &Command,
    result: &ApplyResult,
) -> Result<(), TestCaseError> {
    match c {
        Cmd::UpdateNetwork { n, force, .. } => {
            let (Some(old), Some(new)) = (before.network(net_id(*n)), after.network(net_id(*n)))
            else {
                return Ok(());
            };
            if result.is_ok() {
                // P10: exactly the new mode's families; addresses no peer holds are free.
                let mode = new.network.ip_stack_mode;
                for p in new.peers.iter() {
                    for f in IpFamily::ALL {
                        prop_assert_eq!(
                            p.has(f),
                            mode.has(f),
                            "P10: peer {} family {}",
                            &p.name,
                            f
                        );
                    }
                }
                for (_, _, addrs) in addresses(old) {
                    for a in addrs {
                        let f = IpFamily::of_addr(&a);
                        match new.pools.get(f) {
                            None => prop_assert!(!mode.has(f)),
                            Some(pool) => prop_assert!(
                                !pool.is_allocated(a) || new.peer_by_address(&a).is_some(),
                                "P10: old address {} still held",
                                a
                            ),
                        }
                    }
                }
            }
            if !*force {
                // The same change with force shows whether static peers would be renumbered.
                let mut forced_state = before.clone();
                let Command::UpdateNetwork {
                    id,
                    at,
                    if_match,
                    patch,
                    new_rule_ids,
                } = command.clone()
                else {
                    return Ok(());
                };
                let forced = apply(
                    &mut forced_state,
                    Command::UpdateNetwork {
                        id,
                        at,
                        if_match,
                        patch: pl::NetworkPatch {
                            force: true,
                            ..patch
                        },
                        new_rule_ids,
                    },
                );
                let moved = forced.is_ok()
                    && forced_state.network(net_id(*n)).is_some_and(|ns| {
                        addresses(old)
                            .iter()
                            .zip(addresses(ns))
                            .any(|((_, st, a), (_, _, b))| *st && *a != b)
                    });
                if moved {
                    prop_assert_eq!(
                        result.as_ref().map_err(|e| e.code).err(),
                        Some(ErrorCode::StaticPeersAffected),
                        "a change renumbering static peers needs force"
                    );
                }
                if let Err(e) = result {
                    if e.code == ErrorCode::StaticPeersAffected {
                        prop_assert!(
                            moved || forced.is_err(),
                            "static_peers_affected without one"
                        );
                    }
                }
                if result.is_ok() {
                    for ((_, st, a), (_, _, b)) in addresses(old).iter().zip(addresses(new)) {
                        prop_assert!(!*st || *a == b, "a static peer renumbered without force");
                    }
                }
            }
        }
        // P7: a route of a family the network lacks is refused.
        Cmd::CreateRoute { n, dest, .. }
        | Cmd::UpdateRoute {
            n,
            dest: Some(dest),
            ..
        } => {
            if let Some(ns) = before.network(net_id(*n)) {
                if !ns.network.ip_stack_mode.has(IpFamily::of_net(&net(*dest))) {
                    prop_assert!(
                        result.is_err(),
                        "P7: a route of a missing family was accepted"
                    );
                }
            }
        }
        // P8: a mapping outside its route is refused.
        Cmd::CreateMapping { n, r, ip, .. }
        | Cmd::UpdateMapping {
            n, r, ip: Some(ip), ..
        } => {
            if let Some(route) = before
                .network(net_id(*n))
                .and_then(|ns| ns.routes.get(route_id(*r)))
            {
                let ip: IpAddr = IPS[*ip].parse().expect("ip");
                if !route.destination_cidr.contains(&ip) {
                    prop_assert!(
                        result.is_err(),
                        "P8: a mapping outside its route was accepted"
                    );
                }
            }
        }
        // A rule written with a family the network lacks is refused.
        Cmd::CreatePolicy { n, rules, .. }
        | Cmd::UpdatePolicy {
            n,
            rules: Some(rules),
            ..
        } => {
            if let Some(ns) = before.network(net_id(*n)) {
                if rules
                    .iter()
                    .any(|r| !rule_of(*n, r).is_active(ns.network.ip_stack_mode))
                {
                    prop_assert!(result.is_err(), "a rule of a missing family was accepted");
                }
            }
        }
        Cmd::AddRule { n, rule, .. } => {
            if let Some(ns) = before.network(net_id(*n)) {
                if !rule_of(*n, rule).is_active(ns.network.ip_stack_mode) {
                    prop_assert!(result.is_err(), "a rule of a missing family was accepted");
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The state every sequence starts from, so deep states come quickly: a dual-stack network
/// with a jump, a static and an agent peer, a route through the jump with a DNS mapping, and
/// an IPv4-only network with a static peer.
fn start() -> State {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(
            0,
            json!({"name": "net0", "ip_stack_mode": "dual", "ipv4_cidr": V4S[1], "ipv6_cidr": V6S[1]}),
        ),
    );
    ok(
        &mut s,
        create_network(
            1,
            json!({"name": "net1", "ip_stack_mode": "ipv4", "ipv4_cidr": V4S[3]}),
        ),
    );
    ok(
        &mut s,
        create_peer(0, 0, json!({"name": "gw", "is_jump": true})),
    );
    ok(
        &mut s,
        create_peer(
            0,
            1,
            json!({"name": "desk", "additional_allowed_ips": ["192.168.5.0/24"]}),
        ),
    );
    ok(
        &mut s,
        create_peer(0, 2, json!({"name": "srv", "use_agent": true})),
    );
    ok(&mut s, create_peer(1, 3, json!({"name": "far"})));
    ok(&mut s, create_route(0, 0, "192.168.0.0/24", 0));
    ok(
        &mut s,
        Command::CreateDnsMapping {
            network_id: net_id(0),
            route_id: route_id(0),
            id: mid(0),
            at: Timestamp(5),
            spec: pl::DnsMappingSpec {
                name: "db".into(),
                ip_address: "192.168.0.5".parse().expect("ip"),
            },
        },
    );
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random sequences of every kind of command, with adversarial values, keep every
    /// invariant; a refused command changes nothing; P7, P8 and P10 hold through `apply`.
    #[test]
    fn prop_every_command_sequence_keeps_every_invariant(
        steps in proptest::collection::vec((cmd(), proptest::option::of(0u8..3), 0u8..8), 1..70)
    ) {
        let mut s = start();
        for (c, key, wrap) in &steps {
            let command = match build(c) {
                Some(command) => command,
                None => Command::RestoreState { data: Box::new(s.data().clone()) },
            };
            // Now and then the write carries an Idempotency-Key.
            let keyed = key.is_some() && *wrap == 0;
            let sent = match key {
                Some(k) if keyed => Command::Idempotent { key: format!("k{k}"), command: Box::new(command.clone()) },
                _ => command.clone(),
            };
            let before = s.clone();
            let bytes = encode_state(&s).expect("encode");
            let result = apply(&mut s, sent);
            if let Err(e) = &result {
                prop_assert_eq!(&encode_state(&s).expect("encode"), &bytes, "refused {:?} ({}) changed the state", c, e);
            }
            if let Err(why) = s.check_consistency() {
                return Err(TestCaseError::fail(format!("after {c:?} ({result:?}): {why}")));
            }
            // A replayed key answers what the first write did: the step's own rules do not apply.
            if !keyed {
                check_step(&before, &s, c, &command, &result)?;
            }
        }
    }
}
