//! Example-based tests of `apply`: one per rule of the contract, and every domain error of
//! the API produced by at least one command (with the state left unchanged).

use crate::common::*;
use raftwire_api::requests::*;
use raftwire_api::*;
use raftwire_raft_store::command::payload::GroupSpec;
use raftwire_raft_store::*;
use serde_json::json;

fn dual() -> State {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(
            1,
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        ),
    );
    s
}

fn addrs(s: &State, n: u128, p: u128) -> Vec<String> {
    s.network(net_id(n))
        .unwrap()
        .peers
        .get(peer_id(p))
        .unwrap()
        .addresses()
        .iter()
        .map(|a| a.to_string())
        .collect()
}

#[test]
fn network_starts_with_default_group_and_policy_for_its_families() {
    let s = dual();
    let ns = s.network(net_id(1)).unwrap();
    let g = ns.default_group().expect("default group");
    assert_eq!(g.policy_ids, vec![defaults(1).policy_id]);
    let p = ns.policies.get(defaults(1).policy_id).unwrap();
    let targets: Vec<RuleTarget> = p.rules.iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        vec![
            RuleTarget::Cidr(V4.parse().unwrap()),
            RuleTarget::Cidr(V6.parse().unwrap())
        ]
    );
}

#[test]
fn legacy_cidr_without_mode_makes_an_ipv4_only_network() {
    let mut s = State::new();
    let n = the_network(ok(
        &mut s,
        create_network(1, json!({"name": "old", "cidr": "10.1.0.0/16"})),
    ));
    assert_eq!(n.ip_stack_mode, IpStackMode::Ipv4);
    assert_eq!(n.ipv4_cidr.unwrap().to_string(), "10.1.0.0/16");
    assert_eq!(n.ipv6_cidr, None);
    let p = the_peer(ok(&mut s, peer(1, 1, "a")));
    assert_eq!(p.addresses().len(), 1);
    assert!(p.has_ipv4() && !p.has_ipv6());
}

#[test]
fn dual_stack_peers_get_both_addresses_lowest_free() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, peer(1, 2, "a"));
    assert_eq!(addrs(&s, 1, 1), ["10.10.0.1", "fd00:10::1"]);
    assert_eq!(addrs(&s, 1, 2), ["10.10.0.2", "fd00:10::2"]);
    let ns = s.network(net_id(1)).unwrap();
    assert_eq!(
        ns.peer_by_address(&"fd00:10::2".parse().unwrap())
            .unwrap()
            .name,
        "a"
    );
}

#[test]
fn deleted_peer_releases_addresses_and_they_are_reused_lowest_first() {
    let mut s = dual();
    for p in 1..=3 {
        ok(&mut s, peer(1, p, &format!("p{p}")));
    }
    ok(&mut s, delete_peer(1, 2));
    let p = the_peer(ok(&mut s, peer(1, 4, "p4")));
    assert_eq!(p.ipv4_address.unwrap().to_string(), "10.10.0.2");
    assert_eq!(p.ipv6_address.unwrap().to_string(), "fd00:10::2");
}

#[test]
fn requested_addresses_are_claimed_and_must_be_free() {
    let mut s = dual();
    let p = the_peer(ok(
        &mut s,
        create_peer(
            1,
            1,
            json!({"name": "a", "ipv4_address": "10.10.0.50", "ipv6_address": "fd00:10::50"}),
        ),
    ));
    assert_eq!(
        p.addresses()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["10.10.0.50", "fd00:10::50"]
    );
    let e = fails(
        &mut s,
        create_peer(1, 2, json!({"name": "b", "ipv4_address": "10.10.0.50"})),
        ErrorCode::AddressTaken,
    );
    assert_eq!(e.field.as_deref(), Some("ipv4_address"));
    let e = fails(
        &mut s,
        create_peer(1, 2, json!({"name": "b", "ipv6_address": "fd00:11::1"})),
        ErrorCode::AddressOutsidePrefix,
    );
    assert_eq!(e.field.as_deref(), Some("ipv6_address"));
    let e = fails(
        &mut s,
        create_peer(1, 2, json!({"name": "b", "ipv4_address": "10.10.0.255"})),
        ErrorCode::ReservedAddress,
    );
    assert_eq!(e.field.as_deref(), Some("ipv4_address"));
    // A dual-stack peer whose IPv6 claim fails gets no IPv4 address either.
    fails(
        &mut s,
        create_peer(1, 2, json!({"name": "b", "ipv6_address": "fd00:10::50"})),
        ErrorCode::AddressTaken,
    );
}

#[test]
fn requested_address_of_a_family_the_network_lacks_is_refused() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(1, json!({"name": "v4", "ipv4_cidr": V4})),
    );
    let e = fails(
        &mut s,
        create_peer(1, 1, json!({"name": "a", "ipv6_address": "fd00::1"})),
        ErrorCode::FieldNotAllowed,
    );
    assert_eq!(e.field.as_deref(), Some("ipv6_address"));
}

#[test]
fn exhausted_pool_is_409_and_changes_nothing() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(
            1,
            json!({"name": "tiny", "ip_stack_mode": "dual", "ipv4_cidr": "10.0.0.0/30", "ipv6_cidr": "fd00::/120"}),
        ),
    );
    ok(&mut s, peer(1, 1, "a"));
    ok(&mut s, peer(1, 2, "b"));
    let e = fails(&mut s, peer(1, 3, "c"), ErrorCode::PoolExhausted);
    assert_eq!(e.field.as_deref(), Some("ipv4_address"));
    // The IPv6 pool had room; atomicity means it did not keep an address.
    let ns = s.network(net_id(1)).unwrap();
    assert_eq!(ns.pools.ipv6.as_ref().unwrap().allocated(), 2);
}

#[test]
fn overlapping_prefixes_and_taken_names_conflict() {
    let mut s = dual();
    let e = fails(
        &mut s,
        create_network(2, json!({"name": "other", "ipv4_cidr": "10.10.0.0/25"})),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("ipv4_cidr"));
    let e = fails(
        &mut s,
        create_network(
            2,
            json!({"name": "other", "ip_stack_mode": "ipv6", "ipv6_cidr": "fd00:10::/48"}),
        ),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("ipv6_cidr"));
    fails(
        &mut s,
        create_network(2, json!({"name": "corp", "ipv4_cidr": "10.20.0.0/24"})),
        ErrorCode::NameTaken,
    );
    // A different family never overlaps.
    ok(
        &mut s,
        create_network(2, json!({"name": "other", "ipv4_cidr": "10.20.0.0/24"})),
    );
    ok(&mut s, peer(1, 1, "a"));
    let e = fails(&mut s, peer(1, 2, "a"), ErrorCode::NameTaken);
    assert_eq!(e.field.as_deref(), Some("name"));
    // Names are per network.
    ok(&mut s, peer(2, 2, "a"));
}

#[test]
fn stale_if_match_is_version_mismatch() {
    let mut s = dual();
    let cmd = Command::DeleteNetwork {
        id: net_id(1),
        if_match: Some(7),
    };
    fails(&mut s, cmd, ErrorCode::VersionMismatch);
    let mut upd = update_network(1, json!({"domain": "corp.example"}));
    if let Command::UpdateNetwork { if_match, .. } = &mut upd {
        *if_match = Some(1);
    }
    let n = the_network(ok(&mut s, upd.clone()));
    assert_eq!((n.version, n.domain.as_str()), (2, "corp.example"));
    fails(&mut s, upd, ErrorCode::VersionMismatch);
}

#[test]
fn unknown_ids_are_not_found() {
    let mut s = dual();
    fails(&mut s, peer(9, 1, "a"), ErrorCode::NotFound);
    fails(&mut s, delete_peer(1, 99), ErrorCode::NotFound);
    fails(
        &mut s,
        Command::DeleteGroup {
            network_id: net_id(1),
            id: group_id(9),
            if_match: None,
        },
        ErrorCode::NotFound,
    );
}

#[test]
fn adding_ipv6_allocates_to_every_peer_and_extends_the_default_policy() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(1, json!({"name": "corp", "ipv4_cidr": V4})),
    );
    ok(&mut s, jump(1, 1, "jump"));
    ok(
        &mut s,
        create_peer(1, 2, json!({"name": "agent", "use_agent": true})),
    );
    let n = the_network(ok(
        &mut s,
        update_network(1, json!({"ip_stack_mode": "dual", "ipv6_cidr": V6})),
    ));
    assert_eq!(n.ip_stack_mode, IpStackMode::Dual);
    assert_eq!(addrs(&s, 1, 1), ["10.10.0.1", "fd00:10::1"]);
    assert_eq!(addrs(&s, 1, 2), ["10.10.0.2", "fd00:10::2"]);
    let ns = s.network(net_id(1)).unwrap();
    let rules = &ns.policies.get(defaults(1).policy_id).unwrap().rules;
    assert!(rules
        .iter()
        .any(|r| r.target == RuleTarget::Cidr(V6.parse().unwrap())));
}

#[test]
fn renumbering_static_peers_needs_force() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(1, json!({"name": "corp", "ipv4_cidr": V4})),
    );
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, peer(1, 2, "laptop"));
    let e = fails(
        &mut s,
        update_network(1, json!({"ipv4_cidr": "10.99.0.0/24"})),
        ErrorCode::StaticPeersAffected,
    );
    assert_eq!(e.items, vec![peer_id(2).to_string()]);
    ok(
        &mut s,
        update_network(1, json!({"ipv4_cidr": "10.99.0.0/24", "force": true})),
    );
    assert_eq!(addrs(&s, 1, 2), ["10.99.0.2"]);
    // The default policy followed the prefix.
    let ns = s.network(net_id(1)).unwrap();
    let rules = &ns.policies.get(defaults(1).policy_id).unwrap().rules;
    assert_eq!(
        rules[0].target,
        RuleTarget::Cidr("10.99.0.0/24".parse().unwrap())
    );
}

#[test]
fn removing_a_family_in_use_by_routes_is_refused_then_allowed_once_free() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, create_route(1, 1, "fd99::/64", 1));
    let e = fails(
        &mut s,
        update_network(1, json!({"ip_stack_mode": "ipv4"})),
        ErrorCode::FamilyInUse,
    );
    assert_eq!(e.items, vec![route_id(1).to_string()]);
    ok(
        &mut s,
        Command::DeleteRoute {
            network_id: net_id(1),
            id: route_id(1),
            if_match: None,
        },
    );
    ok(&mut s, update_network(1, json!({"ip_stack_mode": "ipv4"})));
    assert_eq!(addrs(&s, 1, 1), ["10.10.0.1"]);
    assert!(s.network(net_id(1)).unwrap().pools.ipv6.is_none());
}

#[test]
fn routes_must_fit_the_mode_and_go_through_a_jump() {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(1, json!({"name": "corp", "ipv4_cidr": V4})),
    );
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, peer(1, 2, "laptop"));
    let e = fails(
        &mut s,
        create_route(1, 1, "fd99::/64", 1),
        ErrorCode::RouteFamilyUnsupported,
    );
    assert_eq!(e.field.as_deref(), Some("destination_cidr"));
    let e = fails(
        &mut s,
        create_route(1, 1, "192.168.0.0/24", 2),
        ErrorCode::NotAJump,
    );
    assert_eq!(e.field.as_deref(), Some("jump_peer_id"));
    let e = fails(
        &mut s,
        create_route(1, 1, "192.168.0.0/24", 77),
        ErrorCode::UnknownReference,
    );
    assert_eq!(e.field.as_deref(), Some("jump_peer_id"));
    ok(&mut s, create_route(1, 1, "192.168.0.0/24", 1));
    // A jump that routes carry cannot be deleted.
    fails(&mut s, delete_peer(1, 1), ErrorCode::InUse);
}

#[test]
fn dns_mappings_lie_inside_their_route_and_go_with_it() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, create_route(1, 1, "192.168.0.0/24", 1));
    let mapping = |ip: &str| Command::CreateDnsMapping {
        network_id: net_id(1),
        route_id: route_id(1),
        id: DnsMappingId::from_u128(1),
        at: Timestamp(5),
        spec: CreateDnsMapping {
            name: Some("db".into()),
            ip_address: Some(ip.into()),
        }
        .validate()
        .unwrap()
        .into(),
    };
    let e = fails(
        &mut s,
        mapping("192.168.1.5"),
        ErrorCode::MappingOutsideRoute,
    );
    assert_eq!(e.field.as_deref(), Some("ip_address"));
    fails(&mut s, mapping("fd00::5"), ErrorCode::WrongFamily);
    ok(&mut s, mapping("192.168.0.5"));
    assert_eq!(s.network(net_id(1)).unwrap().dns_mappings.len(), 1);
    ok(
        &mut s,
        Command::DeleteRoute {
            network_id: net_id(1),
            id: route_id(1),
            if_match: None,
        },
    );
    assert_eq!(s.network(net_id(1)).unwrap().dns_mappings.len(), 0);
}

#[test]
fn policy_targets_must_exist_in_the_network() {
    let mut s = dual();
    let rule = CreateRule {
        direction: Some("output".into()),
        action: Some("allow".into()),
        target_type: Some("peer".into()),
        target: Some(peer_id(42).to_string()),
        description: None,
    };
    let cmd = Command::CreatePolicy {
        network_id: net_id(1),
        id: PolicyId::from_u128(1),
        at: Timestamp(6),
        name: "web".into(),
        description: String::new(),
        rules: vec![rule.validate().unwrap().into_rule(RuleId::from_u128(1))],
    };
    let e = fails(&mut s, cmd, ErrorCode::UnknownReference);
    assert_eq!(e.field.as_deref(), Some("rules[0].target"));
}

#[test]
fn jump_status_is_immutable_and_default_group_stays() {
    let mut s = dual();
    ok(&mut s, peer(1, 1, "a"));
    let patch = UpdatePeer {
        is_jump: Some(true),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let cmd = Command::UpdatePeer {
        network_id: net_id(1),
        id: peer_id(1),
        at: Timestamp(7),
        if_match: None,
        patch: patch.into(),
    };
    let e = fails(&mut s, cmd, ErrorCode::ImmutableField);
    assert_eq!(e.field.as_deref(), Some("is_jump"));
    let g = defaults(1).group_id;
    fails(
        &mut s,
        Command::DeleteGroup {
            network_id: net_id(1),
            id: g,
            if_match: None,
        },
        ErrorCode::InUse,
    );
}

#[test]
fn deleting_a_network_cascades_and_frees_its_prefixes_and_tokens() {
    let mut s = dual();
    let token = CreatePeer {
        name: Some("j".into()),
        is_jump: Some(true),
        ..Default::default()
    };
    ok(
        &mut s,
        Command::CreatePeer {
            network_id: net_id(1),
            id: peer_id(1),
            at: Timestamp(3),
            spec: token.validate().unwrap().into(),
            secrets: PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some("h1".into()),
            },
        },
    );
    assert_eq!(s.peer_by_agent_token_hash("h1").unwrap().name, "j");
    ok(
        &mut s,
        Command::DeleteNetwork {
            id: net_id(1),
            if_match: None,
        },
    );
    assert!(s.peer_by_agent_token_hash("h1").is_none());
    assert!(s.peer(peer_id(1)).is_none());
    // The prefixes are free again.
    ok(
        &mut s,
        create_network(
            2,
            json!({"name": "corp", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
        ),
    );
}

#[test]
fn agent_tokens_rotate_and_keys_register() {
    let mut s = dual();
    ok(
        &mut s,
        Command::CreatePeer {
            network_id: net_id(1),
            id: peer_id(1),
            at: Timestamp(3),
            spec: CreatePeer {
                name: Some("j".into()),
                is_jump: Some(true),
                ..Default::default()
            }
            .validate()
            .unwrap()
            .into(),
            secrets: PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some("old".into()),
            },
        },
    );
    ok(
        &mut s,
        Command::RotateAgentToken {
            network_id: net_id(1),
            peer_id: peer_id(1),
            at: Timestamp(4),
            token_hash: "new".into(),
        },
    );
    assert!(s.peer_by_agent_token_hash("old").is_none());
    assert_eq!(s.peer_by_agent_token_hash("new").unwrap().id, peer_id(1));
    let key = raftwire_api::testkit::test_key(5);
    let p = the_peer(ok(
        &mut s,
        Command::RegisterAgentKey {
            peer_id: peer_id(1),
            at: Timestamp(5),
            public_key: key.clone(),
        },
    ));
    assert_eq!(p.public_key.as_deref(), Some(key.as_str()));
    // Static peers have no agent token.
    ok(&mut s, peer(1, 2, "laptop"));
    fails(
        &mut s,
        Command::RotateAgentToken {
            network_id: net_id(1),
            peer_id: peer_id(2),
            at: Timestamp(6),
            token_hash: "x".into(),
        },
        ErrorCode::InvalidValue,
    );
    // The key is taken within the network.
    let patch = UpdatePeer {
        public_key: Some(Some(key)),
        ..Default::default()
    }
    .validate()
    .unwrap();
    fails(
        &mut s,
        Command::UpdatePeer {
            network_id: net_id(1),
            id: peer_id(2),
            at: Timestamp(7),
            if_match: None,
            patch: patch.into(),
        },
        ErrorCode::InUse,
    );
}

#[test]
fn a_consistent_backup_replaces_the_state_and_an_inconsistent_one_is_refused() {
    let mut source = dual();
    ok(&mut source, jump(1, 1, "jump"));
    ok(&mut source, peer(1, 2, "laptop"));
    let backup = source.data().clone();

    let mut target = State::new();
    ok(
        &mut target,
        create_network(5, json!({"name": "other", "ipv4_cidr": "10.50.0.0/24"})),
    );
    ok(
        &mut target,
        Command::RestoreState {
            data: Box::new(backup.clone()),
        },
    );
    assert_eq!(encode(&target), encode(&source));
    assert_eq!(
        target
            .network_by_name("corp")
            .unwrap()
            .peer_by_name("laptop")
            .unwrap()
            .id,
        peer_id(2)
    );

    // A backup whose pool lost an address a peer holds would hand it out twice: refused.
    let mut broken = backup;
    let ns = broken.networks.get_mut(net_id(1)).unwrap();
    ns.pools
        .ipv4
        .as_mut()
        .unwrap()
        .release("10.10.0.2".parse().unwrap())
        .unwrap();
    let e = fails(
        &mut target,
        Command::RestoreState {
            data: Box::new(broken),
        },
        ErrorCode::InvalidValue,
    );
    assert!(e.detail.contains("10.10.0.2"), "{e}");
}

#[test]
fn restoring_a_backup_keeps_the_clusters_own_admin_tokens() {
    let mut source = dual();
    ok(&mut source, peer(1, 2, "laptop"));
    let backup = source.data().clone();
    let mut target = State::new();
    let token = AdminToken {
        id: TokenId::from_u128(9),
        name: "ops".into(),
        token_hash: "hash-of-ops".into(),
        created_at: Timestamp(1),
    };
    ok(&mut target, Command::CreateAdminToken { token });
    ok(
        &mut target,
        Command::RestoreState {
            data: Box::new(backup),
        },
    );
    assert!(
        target.admin_token_by_hash("hash-of-ops").is_some(),
        "the restoring admin is not locked out"
    );
    assert!(target.network_by_name("corp").is_some());
}

#[test]
fn routed_prefixes_must_not_take_overlay_addresses() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    // A route or a site subnet inside the overlay would steal peers' addresses in WireGuard.
    let e = fails(
        &mut s,
        create_route(1, 1, "10.10.0.5/32", 1),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("destination_cidr"));
    let e = fails(
        &mut s,
        create_peer(
            1,
            2,
            json!({"name": "site", "additional_allowed_ips": ["192.168.1.0/24", "10.10.0.3/32"]}),
        ),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[1]"));
    // A broader prefix (a full tunnel) is fine: the overlay's host routes are more specific.
    ok(&mut s, create_route(1, 1, "0.0.0.0/0", 1));
    ok(
        &mut s,
        create_peer(
            1,
            2,
            json!({"name": "site", "additional_allowed_ips": ["192.168.1.0/24"]}),
        ),
    );
    // A new prefix that would contain the site subnet is refused.
    let e = fails(
        &mut s,
        update_network(1, json!({"ipv4_cidr": "192.168.0.0/16", "force": true})),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.items, vec![peer_id(2).to_string()]);
}

#[test]
fn a_dns_mapping_and_a_peer_never_share_a_name() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, create_route(1, 1, "192.168.0.0/24", 1));
    ok(&mut s, peer(1, 2, "laptop"));
    let mapping = |name: &str| Command::CreateDnsMapping {
        network_id: net_id(1),
        route_id: route_id(1),
        id: DnsMappingId::from_u128(7),
        at: Timestamp(5),
        spec: CreateDnsMapping {
            name: Some(name.into()),
            ip_address: Some("192.168.0.5".into()),
        }
        .validate()
        .unwrap()
        .into(),
    };
    fails(&mut s, mapping("laptop"), ErrorCode::NameTaken);
    ok(&mut s, mapping("db"));
    fails(&mut s, peer(1, 3, "db"), ErrorCode::NameTaken);
}

#[test]
fn a_family_removed_and_added_back_with_a_new_prefix_leaves_no_stale_default_rule() {
    let mut s = dual();
    ok(&mut s, update_network(1, json!({"ip_stack_mode": "ipv4"})));
    ok(
        &mut s,
        update_network(
            1,
            json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd00:99::/64"}),
        ),
    );
    let ns = s.network(net_id(1)).unwrap();
    let targets: Vec<RuleTarget> = ns
        .policies
        .get(defaults(1).policy_id)
        .unwrap()
        .rules
        .iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(
        targets,
        vec![
            RuleTarget::Cidr(V4.parse().unwrap()),
            RuleTarget::Cidr("fd00:99::/64".parse().unwrap())
        ],
        "the old IPv6 prefix must not come back to life"
    );
}

#[test]
fn a_write_retried_with_the_same_idempotency_key_applies_once() {
    let mut s = dual();
    let first = Command::Idempotent {
        key: "k1".into(),
        command: Box::new(peer(1, 1, "laptop")),
    };
    // The retry is a different command (the node chose a new id) under the same key.
    let retry = Command::Idempotent {
        key: "k1".into(),
        command: Box::new(peer(1, 2, "laptop")),
    };
    let a = the_peer(ok(&mut s, first));
    let before = encode(&s);
    let b = the_peer(ok(&mut s, retry));
    assert_eq!(a, b, "the retry answers what the first write did");
    assert_eq!(encode(&s), before, "and changes nothing");
    assert_eq!(s.network(net_id(1)).unwrap().peers.len(), 1);

    // A failed write is not remembered: the same key may succeed once the state allows it.
    let taken = Command::Idempotent {
        key: "k2".into(),
        command: Box::new(peer(1, 3, "laptop")),
    };
    fails(&mut s, taken, ErrorCode::NameTaken);
    ok(
        &mut s,
        Command::Idempotent {
            key: "k2".into(),
            command: Box::new(peer(1, 3, "phone")),
        },
    );
}

#[test]
fn idempotency_keys_are_bounded_and_the_oldest_are_forgotten() {
    let mut s = dual();
    for i in 0..(IDEMPOTENCY_KEYS_KEPT as u128 + 5) {
        let cmd = Command::CreateGroup {
            network_id: net_id(1),
            id: GroupId::from_u128(0x1_0000_0000 + i),
            at: Timestamp(1),
            spec: GroupSpec {
                name: format!("g{i}"),
                description: String::new(),
                priority: 1,
            },
        };
        ok(
            &mut s,
            Command::Idempotent {
                key: format!("key-{i}"),
                command: Box::new(cmd),
            },
        );
    }
    assert_eq!(s.data().idempotency.len(), IDEMPOTENCY_KEYS_KEPT);
    assert!(
        s.remembered("key-0").is_none(),
        "the oldest key is forgotten"
    );
    assert!(s
        .remembered(&format!("key-{}", IDEMPOTENCY_KEYS_KEPT + 4))
        .is_some());
    // The derived order survives a snapshot round trip.
    assert_eq!(decode(&encode(&s)), s);
}

// ------------------------------------------------------------------ create and update agree

fn patch_peer(n: u128, p: u128, body: serde_json::Value) -> Command {
    let req: UpdatePeer = serde_json::from_value(body).expect("request body");
    Command::UpdatePeer {
        network_id: net_id(n),
        id: peer_id(p),
        at: Timestamp(7),
        if_match: None,
        patch: req.validate().expect("valid patch").into(),
    }
}

fn rule(target_type: &str, target: Option<String>, id: u128) -> Rule {
    CreateRule {
        direction: Some("output".into()),
        action: Some("allow".into()),
        target_type: Some(target_type.into()),
        target,
        description: None,
    }
    .validate()
    .unwrap()
    .into_rule(RuleId::from_u128(id))
}

fn v4_only() -> State {
    let mut s = State::new();
    ok(
        &mut s,
        create_network(
            1,
            json!({"name": "corp", "ip_stack_mode": "ipv4", "ipv4_cidr": V4}),
        ),
    );
    s
}

#[test]
fn patching_a_peers_additional_allowed_ips_is_checked_like_creating_it() {
    let mut s = v4_only();
    ok(&mut s, peer(1, 1, "site"));
    // Inside the overlay: 409 cidr_overlap, as on create.
    let e = fails(
        &mut s,
        patch_peer(
            1,
            1,
            json!({"additional_allowed_ips": ["192.168.1.0/24", "10.10.0.3/32"]}),
        ),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[1]"));
    let e = fails(
        &mut s,
        create_peer(
            1,
            2,
            json!({"name": "b", "additional_allowed_ips": ["10.10.0.3/32"]}),
        ),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[0]"));
    // Of a family the network lacks: 400 wrong_family, as on create.
    let e = fails(
        &mut s,
        patch_peer(1, 1, json!({"additional_allowed_ips": ["fd99::/64"]})),
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[0]"));
    let e = fails(
        &mut s,
        create_peer(
            1,
            2,
            json!({"name": "b", "additional_allowed_ips": ["fd99::/64"]}),
        ),
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[0]"));
    ok(
        &mut s,
        patch_peer(1, 1, json!({"additional_allowed_ips": ["192.168.1.0/24"]})),
    );
    s.check_consistency().unwrap();
}

#[test]
fn renaming_a_peer_onto_a_dns_mapping_name_is_refused_like_creating_it() {
    let mut s = dual();
    ok(&mut s, jump(1, 1, "jump"));
    ok(&mut s, create_route(1, 1, "192.168.0.0/24", 1));
    ok(&mut s, peer(1, 2, "laptop"));
    ok(
        &mut s,
        Command::CreateDnsMapping {
            network_id: net_id(1),
            route_id: route_id(1),
            id: DnsMappingId::from_u128(7),
            at: Timestamp(5),
            spec: CreateDnsMapping {
                name: Some("db".into()),
                ip_address: Some("192.168.0.5".into()),
            }
            .validate()
            .unwrap()
            .into(),
        },
    );
    let e = fails(&mut s, peer(1, 3, "db"), ErrorCode::NameTaken);
    assert_eq!(e.field.as_deref(), Some("name"));
    let e = fails(
        &mut s,
        patch_peer(1, 2, json!({"name": "db"})),
        ErrorCode::NameTaken,
    );
    assert_eq!(e.field.as_deref(), Some("name"));
    ok(&mut s, patch_peer(1, 2, json!({"name": "desk"})));
}

#[test]
fn rules_of_a_family_the_network_lacks_are_refused_on_every_write() {
    let mut s = v4_only();
    ok(&mut s, peer(1, 1, "a"));
    let good = rule("cidr", Some("192.168.0.0/24".into()), 1);
    let v6 = rule("cidr", Some("fd99::/64".into()), 2);
    let create = |rules: Vec<Rule>| Command::CreatePolicy {
        network_id: net_id(1),
        id: PolicyId::from_u128(1),
        at: Timestamp(6),
        name: "web".into(),
        description: String::new(),
        rules,
    };
    let e = fails(
        &mut s,
        create(vec![good.clone(), v6.clone()]),
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("rules[1].target"));
    // Peer, group and `any` targets resolve in the families the network has.
    let fine = vec![
        good.clone(),
        rule("peer", Some(peer_id(1).to_string()), 3),
        rule("group", Some(defaults(1).group_id.to_string()), 4),
        rule("any", None, 5),
    ];
    ok(&mut s, create(fine));
    let e = fails(
        &mut s,
        Command::AddRule {
            network_id: net_id(1),
            policy_id: PolicyId::from_u128(1),
            at: Timestamp(7),
            rule: v6.clone(),
        },
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("target"));
    let e = fails(
        &mut s,
        Command::UpdatePolicy {
            network_id: net_id(1),
            id: PolicyId::from_u128(1),
            at: Timestamp(8),
            if_match: None,
            name: None,
            description: None,
            rules: Some(vec![v6]),
        },
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("rules[0].target"));
    // A duplicate rule id is refused whichever command brings it.
    fails(
        &mut s,
        Command::AddRule {
            network_id: net_id(1),
            policy_id: PolicyId::from_u128(1),
            at: Timestamp(7),
            rule: good,
        },
        ErrorCode::InUse,
    );
}

#[test]
fn rules_left_behind_by_a_removed_family_stay_inactive() {
    let mut s = dual();
    let v6 = rule("cidr", Some("fd99::/64".into()), 2);
    ok(
        &mut s,
        Command::CreatePolicy {
            network_id: net_id(1),
            id: PolicyId::from_u128(1),
            at: Timestamp(6),
            name: "web".into(),
            description: String::new(),
            rules: vec![v6],
        },
    );
    ok(&mut s, update_network(1, json!({"ip_stack_mode": "ipv4"})));
    let ns = s.network(net_id(1)).unwrap();
    let p = ns.policies.get(PolicyId::from_u128(1)).unwrap();
    assert_eq!(p.rules.len(), 1, "the rule stays");
    assert!(!p.rules[0].is_active(ns.network.ip_stack_mode));
    s.check_consistency().unwrap();
}

#[test]
fn allowed_ips_left_behind_by_a_removed_family_stay_inert_until_written_again() {
    let mut s = dual();
    ok(
        &mut s,
        create_peer(
            1,
            1,
            json!({"name": "site", "use_agent": true, "additional_allowed_ips": ["fd99::/64"]}),
        ),
    );
    ok(&mut s, update_network(1, json!({"ip_stack_mode": "ipv4"})));
    s.check_consistency().unwrap();
    // Other changes of the peer still go through; writing the subnet again is refused.
    ok(&mut s, patch_peer(1, 1, json!({"name": "site2"})));
    let e = fails(
        &mut s,
        patch_peer(1, 1, json!({"additional_allowed_ips": ["fd99::/64"]})),
        ErrorCode::WrongFamily,
    );
    assert_eq!(e.field.as_deref(), Some("additional_allowed_ips[0]"));
    // The family comes back only with a prefix that does not swallow the subnet.
    let e = fails(
        &mut s,
        update_network(
            1,
            json!({"ip_stack_mode": "dual", "ipv6_cidr": "fd99::/48"}),
        ),
        ErrorCode::CidrOverlap,
    );
    assert_eq!(e.items, vec![peer_id(1).to_string()]);
    ok(
        &mut s,
        update_network(1, json!({"ip_stack_mode": "dual", "ipv6_cidr": V6})),
    );
    s.check_consistency().unwrap();
}

#[test]
fn token_hashes_are_never_shared_whichever_command_brings_them() {
    let mut s = dual();
    let agent = |p: u128, hash: &str| {
        let Command::CreatePeer {
            network_id,
            id,
            at,
            spec,
            ..
        } = create_peer(1, p, json!({"name": format!("p{p}"), "use_agent": true}))
        else {
            unreachable!()
        };
        Command::CreatePeer {
            network_id,
            id,
            at,
            spec,
            secrets: PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some(hash.into()),
            },
        }
    };
    ok(&mut s, agent(1, "h1"));
    fails(&mut s, agent(2, "h1"), ErrorCode::InUse);
    ok(&mut s, agent(2, "h2"));
    let rotate = |p: u128, hash: &str| Command::RotateAgentToken {
        network_id: net_id(1),
        peer_id: peer_id(p),
        at: Timestamp(9),
        token_hash: hash.into(),
    };
    fails(&mut s, rotate(2, "h1"), ErrorCode::InUse);
    ok(&mut s, rotate(2, "h3"));
    let admin = |n: u128, hash: &str| Command::CreateAdminToken {
        token: AdminToken {
            id: TokenId::from_u128(n),
            name: format!("t{n}"),
            token_hash: hash.into(),
            created_at: Timestamp(1),
        },
    };
    fails(&mut s, admin(1, "h1"), ErrorCode::InUse);
    ok(&mut s, admin(1, "a1"));
    fails(&mut s, agent(3, "a1"), ErrorCode::InUse);
    fails(&mut s, rotate(1, "a1"), ErrorCode::InUse);
    s.check_consistency().unwrap();
}

#[test]
fn default_rule_ids_handed_out_by_a_mode_change_must_be_free() {
    let mut s = v4_only();
    // A rule already holds the id the mode change would give the new family's default rule.
    ok(
        &mut s,
        Command::AddRule {
            network_id: net_id(1),
            policy_id: defaults(1).policy_id,
            at: Timestamp(6),
            rule: rule("any", None, 0x8101),
        },
    );
    fails(
        &mut s,
        update_network(1, json!({"ip_stack_mode": "dual", "ipv6_cidr": V6})),
        ErrorCode::InUse,
    );
    // And a network's own default rules never share an id.
    let mut s = State::new();
    let mut cmd = create_network(
        2,
        json!({"name": "twin", "ip_stack_mode": "dual", "ipv4_cidr": V4, "ipv6_cidr": V6}),
    );
    if let Command::CreateNetwork { defaults, .. } = &mut cmd {
        defaults.rule_ids[1] = defaults.rule_ids[0];
    }
    fails(&mut s, cmd, ErrorCode::InUse);
}
