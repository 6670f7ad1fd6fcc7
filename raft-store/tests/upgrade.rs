//! Rolling upgrade: this build reads the snapshots and log entries written by every released
//! schema version. Each version's bytes are checked in under `tests/fixtures/`.
//!
//! To (re)generate the current version's fixtures: `RAFTWIRE_WRITE_FIXTURES=1 cargo test -p
//! raftwire-raft-store --test upgrade`. Never regenerate a released version's fixture: a
//! fixture that no longer decodes means the encoding changed incompatibly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};
use raftwire_api::requests::{
    CreateDnsMapping, CreateGroup, CreateNetwork, CreatePeer, CreateRoute, UpdatePeer,
};
use raftwire_api::testkit::test_key;
use raftwire_api::*;
use raftwire_raft_store::codec::{
    decode_entry, decode_snapshot, encode_entry, encode_snapshot, SCHEMA_VERSION,
};
use raftwire_raft_store::types::{Entry, LogId, StoredMembership};
use raftwire_raft_store::{AdminToken, Command, NetworkDefaults, PeerSecretsInput, State};

const WRITE_ENV: &str = "RAFTWIRE_WRITE_FIXTURES";

fn fixture(name: &str) -> PathBuf {
    // Read at run time: a test binary shared through CARGO_TARGET_DIR by several clones must
    // read the fixtures of the clone it runs in, not of the one that compiled it.
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn writing() -> bool {
    std::env::var(WRITE_ENV).is_ok_and(|v| v == "1")
}

/// A fixture of a released schema version: never rewritten.
fn frozen(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A fixture of the current schema version: written when asked to, otherwise read.
fn fixture_bytes(name: &str, current: &[u8]) -> Vec<u8> {
    let path = fixture(name);
    if writing() {
        std::fs::write(&path, current).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (generate it with {WRITE_ENV}=1)",
            path.display()
        )
    })
}

// ------------------------------------------------------------------ a fixed state

fn id(n: u128) -> u128 {
    0x5eed_0000_0000_0000_0000_0000_0000_0000 | n
}

fn net() -> NetworkId {
    NetworkId::from_u128(id(1))
}
fn gw() -> PeerId {
    PeerId::from_u128(id(10))
}
fn alice() -> PeerId {
    PeerId::from_u128(id(11))
}
fn bob() -> PeerId {
    PeerId::from_u128(id(12))
}
fn admins() -> GroupId {
    GroupId::from_u128(id(20))
}
fn policy() -> PolicyId {
    PolicyId::from_u128(id(30))
}
fn route() -> RouteId {
    RouteId::from_u128(id(40))
}

fn at(n: u64) -> Timestamp {
    Timestamp(1_750_000_000_000 + n * 1000)
}

fn policy_command() -> Command {
    let rule = |n, direction, action, target| Rule {
        id: RuleId::from_u128(id(n)),
        direction,
        action,
        target,
        description: format!("rule {n}"),
    };
    Command::CreatePolicy {
        network_id: net(),
        id: policy(),
        at: at(6),
        name: "admin-access".into(),
        description: "what admins may reach".into(),
        rules: vec![
            rule(
                31,
                Direction::Output,
                Action::Allow,
                RuleTarget::Cidr("10.80.0.0/24".parse().unwrap()),
            ),
            rule(
                32,
                Direction::Output,
                Action::Allow,
                RuleTarget::Cidr("fd80::/64".parse().unwrap()),
            ),
            rule(33, Direction::Input, Action::Deny, RuleTarget::Peer(bob())),
            rule(
                34,
                Direction::Output,
                Action::Allow,
                RuleTarget::Group(admins()),
            ),
            rule(35, Direction::Output, Action::Deny, RuleTarget::Any),
        ],
    }
}

/// Every kind of object, with fixed ids and timestamps.
fn commands() -> Vec<Command> {
    let peer = |n: u128, id, req: CreatePeer, secrets| Command::CreatePeer {
        network_id: net(),
        id,
        at: at(n as u64),
        spec: req.validate().expect("valid peer"),
        secrets,
    };
    vec![
        Command::CreateNetwork {
            id: net(),
            at: at(1),
            spec: CreateNetwork {
                name: Some("upnet".into()),
                ip_stack_mode: Some("dual".into()),
                ipv4_cidr: Some("10.80.0.0/24".into()),
                ipv6_cidr: Some("fd80::/64".into()),
                dns_servers: Some(vec!["10.80.0.1".into(), "fd80::1".into()]),
                ..Default::default()
            }
            .validate()
            .expect("valid network"),
            defaults: NetworkDefaults {
                group_id: GroupId::from_u128(id(2)),
                policy_id: PolicyId::from_u128(id(3)),
                rule_ids: [RuleId::from_u128(id(4)), RuleId::from_u128(id(5))],
            },
        },
        peer(
            2,
            gw(),
            CreatePeer {
                name: Some("gw".into()),
                is_jump: Some(true),
                public_key: Some(test_key(1)),
                endpoint: Some("203.0.113.1:51820".into()),
                ipv6_nat: Some(true),
                ..Default::default()
            },
            PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some("hash-gw".into()),
            },
        ),
        peer(
            3,
            alice(),
            CreatePeer {
                name: Some("alice".into()),
                use_agent: Some(true),
                ..Default::default()
            },
            PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some("hash-alice".into()),
            },
        ),
        peer(
            4,
            bob(),
            CreatePeer {
                name: Some("bob".into()),
                ipv4_address: Some("10.80.0.50".into()),
                additional_allowed_ips: Some(vec!["192.168.7.0/24".into()]),
                ..Default::default()
            },
            PeerSecretsInput {
                generated_keypair: Some((test_key(3), "private-key-of-bob".into())),
                agent_token_hash: None,
            },
        ),
        Command::CreateGroup {
            network_id: net(),
            id: admins(),
            at: at(5),
            spec: CreateGroup {
                name: Some("admins".into()),
                description: Some("people with keys".into()),
                priority: Some(10),
            }
            .validate()
            .expect("valid group"),
        },
        policy_command(),
        Command::AddGroupMember {
            network_id: net(),
            group_id: admins(),
            peer_id: alice(),
            at: at(7),
        },
        Command::AttachPolicy {
            network_id: net(),
            group_id: admins(),
            policy_id: policy(),
            at: at(8),
        },
        Command::CreateRoute {
            network_id: net(),
            id: route(),
            at: at(9),
            spec: CreateRoute {
                name: Some("lan".into()),
                description: Some("the office LAN".into()),
                destination_cidr: Some("192.168.50.0/24".into()),
                jump_peer_id: Some(gw().to_string()),
            }
            .validate()
            .expect("valid route"),
        },
        Command::AttachRoute {
            network_id: net(),
            group_id: admins(),
            route_id: route(),
            at: at(10),
        },
        Command::CreateDnsMapping {
            network_id: net(),
            route_id: route(),
            id: DnsMappingId::from_u128(id(50)),
            at: at(11),
            spec: CreateDnsMapping {
                name: Some("nas".into()),
                ip_address: Some("192.168.50.10".into()),
            }
            .validate()
            .expect("valid mapping"),
        },
        Command::UpdatePeer {
            network_id: net(),
            id: alice(),
            at: at(12),
            if_match: None,
            patch: UpdatePeer {
                endpoint: Some(Some("alice.example.net:51820".into())),
                ..Default::default()
            }
            .validate()
            .expect("valid patch"),
        },
        Command::CreateAdminToken {
            token: AdminToken {
                id: TokenId::from_u128(id(60)),
                name: "ops".into(),
                token_hash: "hash-ops".into(),
                created_at: at(13),
            },
        },
    ]
}

fn build_state() -> State {
    let mut state = State::new();
    for (i, c) in commands().into_iter().enumerate() {
        if let Err(e) = raftwire_raft_store::apply(&mut state, c) {
            panic!("fixture command {i} failed: {e}");
        }
    }
    state
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn membership() -> Membership<u64, BasicNode> {
    Membership::new(
        vec![BTreeSet::from([1, 2, 3])],
        BTreeMap::from([
            (1, BasicNode::new("10.0.0.1:7071")),
            (2, BasicNode::new("10.0.0.2:7071")),
            (3, BasicNode::new("10.0.0.3:7071")),
            (4, BasicNode::new("10.0.0.4:7071")),
        ]),
    )
}

fn stored_membership() -> StoredMembership {
    StoredMembership::new(Some(log_id(2, 3)), membership())
}

// ------------------------------------------------------------------ tests

#[test]
fn the_fixture_state_is_complete() {
    let state = build_state();
    let ns = state.network(net()).expect("network");
    assert_eq!(ns.peers.len(), 3);
    assert_eq!(ns.groups.len(), 2, "default + admins");
    assert_eq!(ns.policies.len(), 2, "default + admin-access");
    assert_eq!(ns.routes.len(), 1);
    assert_eq!(ns.dns_mappings.len(), 1);
    assert_eq!(state.admin_tokens().count(), 1);
    assert!(ns
        .peer_by_name("alice")
        .is_some_and(|p| p.endpoint.is_some()));
}

#[test]
fn snapshot_v1_fixture_decodes_to_the_same_state() {
    let state = build_state();
    let applied = Some(log_id(7, 1234));
    let current = encode_snapshot(&applied, &stored_membership(), &state).unwrap();
    let bytes = frozen("snapshot-v1.bin");

    let payload = decode_snapshot(&bytes).expect("the v1 snapshot decodes");
    assert_eq!(payload.last_applied, applied);
    assert_eq!(payload.last_membership, stored_membership());
    assert_eq!(
        payload.state, state,
        "decoded state differs from the rebuilt one"
    );
    // Derived indexes are rebuilt on load.
    let ns = payload
        .state
        .network_by_name("upnet")
        .expect("network by name");
    assert!(ns.peer_by_name("bob").is_some());
    assert!(payload
        .state
        .peer_by_agent_token_hash("hash-alice")
        .is_some());
    assert!(payload.state.admin_token_by_hash("hash-ops").is_some());

    // v1 has no idempotency keys: they come back empty.
    assert_eq!(payload.state.data().idempotency.len(), 0);
    let _ = current;
}

#[test]
fn entry_v1_fixtures_decode() {
    let normal = Entry {
        log_id: log_id(7, 1235),
        payload: EntryPayload::Normal(policy_command()),
    };
    let bytes = frozen("entry-v1.bin");
    let entry = decode_entry(&bytes).expect("the v1 entry decodes");
    assert_eq!(entry.log_id, normal.log_id);
    match entry.payload {
        EntryPayload::Normal(c) => assert_eq!(c, policy_command()),
        other => panic!("expected a normal entry, got {other:?}"),
    }

    let member = Entry {
        log_id: log_id(2, 3),
        payload: EntryPayload::Membership(membership()),
    };
    let bytes = frozen("entry-membership-v1.bin");
    let entry = decode_entry(&bytes).expect("the v1 membership entry decodes");
    assert_eq!(entry.log_id, member.log_id);
    match entry.payload {
        EntryPayload::Membership(m) => assert_eq!(m, membership()),
        other => panic!("expected a membership entry, got {other:?}"),
    }
}

/// The fixed state plus a remembered idempotent write (what schema version 2 added).
fn build_state_v2() -> State {
    let mut state = build_state();
    let write = Command::Idempotent {
        key: "retry-me".into(),
        command: Box::new(Command::DeleteAdminToken {
            id: TokenId::from_u128(id(60)),
        }),
    };
    raftwire_raft_store::apply(&mut state, write.clone()).expect("idempotent write");
    assert_eq!(
        raftwire_raft_store::apply(&mut state, write),
        Ok(raftwire_raft_store::Response::Deleted)
    );
    state
}

#[test]
fn snapshot_v2_fixture_decodes_to_the_same_state() {
    let state = build_state_v2();
    let applied = Some(log_id(8, 2000));
    let current = encode_snapshot(&applied, &stored_membership(), &state).unwrap();
    let bytes = fixture_bytes("snapshot-v2.bin", &current);
    let payload = decode_snapshot(&bytes).expect("the v2 snapshot decodes");
    assert_eq!(payload.state, state);
    assert!(payload.state.remembered("retry-me").is_some());
    if SCHEMA_VERSION == 2 {
        // While v2 is the current version, what it writes must not drift.
        assert_eq!(bytes, current, "the v2 snapshot encoding changed");
    }
}

#[test]
fn entry_v2_fixture_decodes() {
    let entry = Entry {
        log_id: log_id(8, 2001),
        payload: EntryPayload::Normal(Command::Idempotent {
            key: "k".into(),
            command: Box::new(policy_command()),
        }),
    };
    let current = encode_entry(&entry).unwrap();
    let bytes = fixture_bytes("entry-v2.bin", &current);
    let decoded = decode_entry(&bytes).expect("the v2 entry decodes");
    assert_eq!(decoded.log_id, entry.log_id);
    match decoded.payload {
        EntryPayload::Normal(Command::Idempotent { key, command }) => {
            assert_eq!(key, "k");
            assert_eq!(*command, policy_command());
        }
        other => panic!("expected an idempotent command, got {other:?}"),
    }
    if SCHEMA_VERSION == 2 {
        assert_eq!(bytes, current, "the v2 entry encoding changed");
    }
}
