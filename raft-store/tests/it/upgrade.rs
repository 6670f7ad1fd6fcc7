//! Rolling upgrade: this build reads the snapshots and log entries written by every released
//! schema version. Each version's bytes are checked in under `tests/fixtures/`.
//!
//! Every `Command` variant has one log entry fixture per schema version that has it
//! (`tests/fixtures/v<N>/entry-<variant>.bin`, commands in `upgrade/variants.rs`): each
//! decodes to the expected command, and the whole sequence replays into a consistent state.
//! The v1 fixtures were written by the last v1 release (fe0efd6) running this same sequence
//! without `Idempotent`; the v2 ones by the v2 release (91c86f2); the v3 ones by this build
//! (`stage-restore` and `commit-restore` were appended later within version 3, the other v3
//! fixtures left as they were). `snapshot-v4.bin` is a snapshot holding a staged restore, the
//! only thing written as version 4; `v5/entry-batch.bin` is an entry holding a batch, the only
//! thing written as version 5.
//!
//! To (re)generate the current version's fixtures: `RAFTWIRE_WRITE_FIXTURES=1 cargo test -p
//! raftwire-raft-store --test it upgrade::`. Never regenerate a released version's fixture: a
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
    decode_entry, decode_snapshot, encode_entry, encode_snapshot, BATCH_SCHEMA_VERSION,
    SCHEMA_VERSION,
};
use raftwire_raft_store::types::{Entry, LogId, StoredMembership};
use raftwire_raft_store::{AdminToken, Command, NetworkDefaults, PeerSecretsInput, State};

use crate::variants;

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
        spec: req.validate().expect("valid peer").into(),
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
            .expect("valid network")
            .into(),
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
            .expect("valid group")
            .into(),
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
            .expect("valid route")
            .into(),
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
            .expect("valid mapping")
            .into(),
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
            .expect("valid patch")
            .into(),
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
        payload.state.data(),
        state.data(),
        "decoded state differs from the rebuilt one"
    );
    // v1 kept no revisions: every network gets the snapshot's index.
    assert_eq!(
        payload.state.meta().revisions,
        BTreeMap::from([(net(), 1234)])
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
    let bytes = frozen("snapshot-v2.bin");
    let payload = decode_snapshot(&bytes).expect("the v2 snapshot decodes");
    assert_eq!(payload.last_applied, applied);
    assert_eq!(payload.state.data(), state.data());
    assert!(payload.state.remembered("retry-me").is_some());
    // v2 kept no revisions: every network gets the snapshot's index.
    assert_eq!(
        payload.state.meta().revisions,
        BTreeMap::from([(net(), 2000)])
    );
    assert_ne!(bytes, current, "v3 snapshots carry the revisions");
}

/// The v2 state applied as log entries at known indexes, so it has revisions (what schema
/// version 3 added to snapshots).
fn build_state_v3() -> State {
    let mut state = State::new();
    for (i, c) in commands().into_iter().enumerate() {
        if let Err(e) = raftwire_raft_store::apply_entry(&mut state, c, 100 + i as u64) {
            panic!("fixture command {i} failed: {e}");
        }
    }
    let write = Command::Idempotent {
        key: "retry-me".into(),
        command: Box::new(Command::DeleteAdminToken {
            id: TokenId::from_u128(id(60)),
        }),
    };
    raftwire_raft_store::apply_entry(&mut state, write, 200).expect("idempotent write");
    let agent = Command::RecordAgents {
        reports: vec![raftwire_raft_store::AgentReport {
            peer_id: alice(),
            session: 77,
            new_session: true,
            status: raftwire_raft_store::AgentStatus {
                connected: true,
                node_id: 3,
                since: at(20),
                applied_version: 111,
                errors: vec![raftwire_raft_store::AgentError {
                    module: "dns".into(),
                    message: "bind: address in use".into(),
                }],
            },
        }],
    };
    raftwire_raft_store::apply_entry(&mut state, agent, 201).expect("agent status");
    state
}

#[test]
fn snapshot_v3_fixture_decodes_to_the_same_state() {
    let state = build_state_v3();
    // The last command that touched the network was the update of alice (the 12th).
    assert_eq!(state.revision(net()), 111);
    let applied = Some(log_id(10, 2500));
    let current = encode_snapshot(&applied, &stored_membership(), &state).unwrap();
    let bytes = fixture_bytes("snapshot-v3.bin", &current);
    let payload = decode_snapshot(&bytes).expect("the v3 snapshot decodes");
    assert_eq!(payload.last_applied, applied);
    assert_eq!(
        payload.state, state,
        "data, revisions and agent status survive"
    );
    assert_eq!(payload.state.agent(alice()).map(|a| a.node_id), Some(3));
    if SCHEMA_VERSION == 3 {
        // While v3 is the current version, what it writes must not drift.
        assert_eq!(bytes, current, "the v3 snapshot encoding changed");
    }
}

#[test]
fn a_snapshot_without_a_staged_restore_is_still_written_as_v3() {
    // The previous release reads only up to version 3: what a new node writes while no
    // restore is staged must be exactly what it wrote.
    let bytes = frozen("snapshot-v3.bin");
    let payload = decode_snapshot(&bytes).expect("the v3 snapshot decodes");
    assert!(payload.state.staged_restore().is_none());
    let again = encode_snapshot(
        &payload.last_applied,
        &payload.last_membership,
        &payload.state,
    )
    .unwrap();
    assert_eq!(
        again, bytes,
        "a v3 snapshot no longer re-encodes byte for byte"
    );
    assert_eq!(&again[6..8], &3u16.to_be_bytes());
}

/// The v3 state with two parts of a backup (of the fixed state) staged, applied as log
/// entries: what schema version 4 adds to snapshots. The backup is three parts long.
fn build_state_v4() -> (State, Vec<u8>) {
    let mut state = build_state_v3();
    let backup = encode_snapshot(&None, &StoredMembership::default(), &build_state()).unwrap();
    let third = backup.len() / 3;
    for (part, bytes) in [&backup[..third], &backup[third..2 * third]]
        .into_iter()
        .enumerate()
    {
        let stage = Command::StageRestore {
            id: 0x4000_0001,
            part: part as u32,
            bytes: bytes.to_vec(),
        };
        raftwire_raft_store::apply_entry(&mut state, stage, 300 + part as u64)
            .expect("stage a part");
    }
    (state, backup)
}

/// The commands that finish the upload of [`build_state_v4`].
fn finish_v4_upload(backup: &[u8]) -> [Command; 2] {
    use sha2::Digest;
    let third = backup.len() / 3;
    [
        Command::StageRestore {
            id: 0x4000_0001,
            part: 2,
            bytes: backup[2 * third..].to_vec(),
        },
        Command::CommitRestore {
            id: 0x4000_0001,
            parts: 3,
            len: backup.len() as u64,
            sha256: sha2::Sha256::digest(backup).into(),
        },
    ]
}

#[test]
fn snapshot_v4_fixture_holds_the_staged_restore_and_finishes_it_alike() {
    let (state, backup) = build_state_v4();
    let staged = state.staged_restore().expect("staged");
    assert_eq!((staged.id, staged.parts), (0x4000_0001, 2));
    let applied = Some(log_id(11, 3100));
    let current = encode_snapshot(&applied, &stored_membership(), &state).unwrap();
    let bytes = fixture_bytes("snapshot-v4.bin", &current);
    assert_eq!(
        &bytes[6..8],
        &4u16.to_be_bytes(),
        "a staged restore is version 4"
    );
    let payload = decode_snapshot(&bytes).expect("the v4 snapshot decodes");
    assert_eq!(payload.last_applied, applied);
    assert_eq!(
        payload.state, state,
        "data, bookkeeping and staging survive"
    );
    assert_eq!(bytes, current, "the v4 snapshot encoding changed");

    // A node that installed this snapshot finishes the upload exactly like one that
    // applied every part itself.
    let (mut direct, mut installed) = (state, payload.state);
    for (i, c) in finish_v4_upload(&backup).into_iter().enumerate() {
        let index = 302 + i as u64;
        let a = raftwire_raft_store::apply_entry(&mut direct, c.clone(), index);
        let b = raftwire_raft_store::apply_entry(&mut installed, c, index);
        assert_eq!(a, b);
        assert!(a.is_ok(), "{a:?}");
    }
    assert_eq!(installed, direct);
    assert!(direct.staged_restore().is_none());
    assert_eq!(direct.data().networks, build_state().data().networks);
    assert_eq!(direct.revision(net()), 303);
    // Staging gone, the snapshot is version 3 again.
    let after = encode_snapshot(&applied, &stored_membership(), &direct).unwrap();
    assert_eq!(&after[6..8], &3u16.to_be_bytes());
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
    let bytes = frozen("entry-v2.bin");
    let decoded = decode_entry(&bytes).expect("the v2 entry decodes");
    assert_eq!(decoded.log_id, entry.log_id);
    match decoded.payload {
        EntryPayload::Normal(Command::Idempotent { key, command }) => {
            assert_eq!(key, "k");
            assert_eq!(*command, policy_command());
        }
        other => panic!("expected an idempotent command, got {other:?}"),
    }
    // v3 appended variants only: a v2 entry re-encodes to the same bytes after the prefix.
    assert_eq!(&bytes[2..], &current[2..], "the v2 entry layout changed");
}

// ------------------------------------------------------------------ one fixture per variant

fn variant_fixture(version: u16, name: &str) -> String {
    format!("v{version}/entry-{name}.bin")
}

fn variant_entry(i: usize, command: Command) -> Entry {
    Entry {
        log_id: log_id(9, 3000 + i as u64),
        payload: EntryPayload::Normal(command),
    }
}

/// The fixture bytes of every command of `version`'s sequence, with the command each must
/// decode to. The current version's fixtures are (re)written when asked to.
fn variant_fixtures(version: u16) -> Vec<(&'static str, Command, Vec<u8>)> {
    variants::sequence(version)
        .into_iter()
        .enumerate()
        .map(|(i, command)| {
            let name = variants::fixture_name(&command);
            let path = variant_fixture(version, name);
            let bytes = if version == SCHEMA_VERSION {
                let current = encode_entry(&variant_entry(i, command.clone())).unwrap();
                if writing() {
                    if let Some(dir) = fixture(&path).parent() {
                        std::fs::create_dir_all(dir).unwrap();
                    }
                }
                fixture_bytes(&path, &current)
            } else {
                frozen(&path)
            };
            (name, command, bytes)
        })
        .collect()
}

#[test]
fn every_command_variant_has_a_fixture_in_every_version() {
    for version in (1..=SCHEMA_VERSION).rev() {
        let mut names: Vec<&str> = variants::sequence(version)
            .iter()
            .map(variants::fixture_name)
            .collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = variants::VARIANTS
            .iter()
            .filter(|(_, since)| *since <= version)
            .map(|(name, _)| *name)
            .collect();
        expected.sort_unstable();
        assert_eq!(
            names, expected,
            "schema version {version}: the sequence must hold exactly one command per variant"
        );
        for name in names {
            let path = fixture(&variant_fixture(version, name));
            assert!(path.exists(), "missing fixture {}", path.display());
        }
    }

    // VARIANTS is in declaration order: a command's bincode variant index is its row.
    let config = bincode::config::standard();
    for command in variants::sequence(SCHEMA_VERSION) {
        let name = variants::fixture_name(&command);
        let bytes = bincode::serde::encode_to_vec(&command, config).unwrap();
        let row = variants::VARIANTS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap();
        assert_eq!(usize::from(bytes[0]), row, "{name} is not row {row}");
    }
    // ... and there is no variant after the last row: its index is not a command.
    let past_the_end = [u8::try_from(variants::VARIANTS.len()).unwrap()];
    match bincode::serde::decode_from_slice::<Command, _>(&past_the_end, config) {
        Err(bincode::error::DecodeError::UnexpectedEnd { .. }) => panic!(
            "Command has a variant past the {} of VARIANTS: give it a row, a command and a \
             fixture",
            variants::VARIANTS.len()
        ),
        Err(_) => {}
        Ok(c) => panic!("decoded {c:?} from a lone variant index"),
    }
}

/// A command with the derived indexes of a carried backup rebuilt, so a decoded backup
/// (indexes empty) compares equal to the one it was encoded from.
fn normalized(command: Command) -> Command {
    match command {
        Command::RestoreState { data } => Command::RestoreState {
            data: Box::new(State::from(*data).into_data()),
        },
        Command::Idempotent { key, command } => Command::Idempotent {
            key,
            command: Box::new(normalized(*command)),
        },
        other => other,
    }
}

#[test]
fn every_variant_fixture_decodes_to_its_command() {
    for version in (1..=SCHEMA_VERSION).rev() {
        for (i, (name, command, bytes)) in variant_fixtures(version).into_iter().enumerate() {
            assert_eq!(
                &bytes[..2],
                &version.to_be_bytes(),
                "v{version} {name}: version prefix"
            );
            let entry = decode_entry(&bytes)
                .unwrap_or_else(|e| panic!("v{version} {name}: does not decode: {e}"));
            assert_eq!(
                entry.log_id,
                log_id(9, 3000 + i as u64),
                "v{version} {name}"
            );
            let decoded = match entry.payload {
                EntryPayload::Normal(c) => c,
                other => panic!("v{version} {name}: not a normal entry: {other:?}"),
            };
            assert_eq!(
                normalized(decoded.clone()),
                normalized(command),
                "v{version} {name}: decoded command differs"
            );
            // Re-encoding gives the same bytes (after the version prefix), except where the
            // layout changed between versions: a v1 backup had no idempotency keys.
            let again = encode_entry(&variant_entry(i, decoded)).unwrap();
            let changed = version == 1 && name == "restore-state";
            if !changed {
                assert_eq!(
                    &again[2..],
                    &bytes[2..],
                    "v{version} {name}: re-encoding changed the bytes"
                );
            }
        }
    }
}

/// The batch of `v5/entry-batch.bin`: the sequence's network creation and update, the
/// creation again (refused: the network exists), and an idempotent peer creation twice
/// under one key (applied once, answered twice).
fn batch_command() -> Command {
    let sequence = variants::sequence(SCHEMA_VERSION);
    let once = Command::Idempotent {
        key: "batched".into(),
        command: Box::new(variants::bob_command()),
    };
    Command::Batch {
        commands: vec![
            sequence[1].clone(),
            sequence[2].clone(),
            sequence[1].clone(),
            once.clone(),
            once,
        ],
    }
}

#[test]
fn a_batch_entry_is_written_as_version_5_and_its_fixture_decodes_and_applies_command_by_command() {
    let command = batch_command();
    let entry = variant_entry(0, command.clone());
    let current = encode_entry(&entry).unwrap();
    assert_eq!(&current[..2], &BATCH_SCHEMA_VERSION.to_be_bytes());
    if writing() {
        std::fs::create_dir_all(fixture("v5")).unwrap();
    }
    let bytes = fixture_bytes("v5/entry-batch.bin", &current);
    assert_eq!(bytes, current, "the batch entry's encoding changed");
    let decoded = decode_entry(&bytes).unwrap();
    assert_eq!(decoded.log_id, entry.log_id);
    let EntryPayload::Normal(Command::Batch { commands }) = decoded.payload else {
        panic!("not a batch: {:?}", decoded.payload);
    };
    let Command::Batch { commands: want } = command else {
        unreachable!()
    };
    assert_eq!(
        commands.into_iter().map(normalized).collect::<Vec<_>>(),
        want.into_iter().map(normalized).collect::<Vec<_>>()
    );

    // Applied: one answer per command, a refusal refusing only itself.
    let mut state = State::new();
    let answer = raftwire_raft_store::apply_entry(&mut state, batch_command(), 7).unwrap();
    let raftwire_raft_store::Response::Batch(answers) = answer else {
        panic!("a batch answered {answer:?}");
    };
    assert_eq!(answers.len(), 5);
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    assert!(answers[2].is_err(), "{answers:?}");
    assert!(answers[3].is_ok(), "{answers:?}");
    assert_eq!(answers[3], answers[4], "the retry answers the first result");
    let second = state.network(variants::second()).expect("created");
    assert_eq!(state.revision(second.network.id), 7);
    state.check_consistency().unwrap();
}

#[test]
fn replaying_every_variant_fixture_builds_the_expected_state() {
    for version in (1..=SCHEMA_VERSION).rev() {
        let mut state = State::new();
        for (name, _, bytes) in variant_fixtures(version) {
            let entry = decode_entry(&bytes).unwrap();
            let EntryPayload::Normal(command) = entry.payload else {
                panic!("v{version} {name}: not a normal entry");
            };
            if let Err(e) = raftwire_raft_store::apply(&mut state, command) {
                panic!("v{version} {name}: does not apply: {e}");
            }
            state
                .check_consistency()
                .unwrap_or_else(|e| panic!("v{version} after {name}: inconsistent: {e}"));
        }
        check_replayed_state(version, &state);
    }
}

fn check_replayed_state(version: u16, state: &State) {
    use variants::*;
    let names: Vec<&str> = state.networks().map(|n| n.network.name.as_str()).collect();
    assert_eq!(names, ["restored", "second"], "v{version}");

    let r = state.network(restored()).expect("restored");
    let peers: Vec<&str> = r.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(peers, ["r-gw"], "v{version}");
    let groups: Vec<GroupId> = r.groups.iter().map(|g| g.id).collect();
    assert_eq!(groups, [r_default_group()], "v{version}");
    let policies: Vec<PolicyId> = r.policies.iter().map(|p| p.id).collect();
    assert_eq!(policies, [r_default_policy()], "v{version}");
    assert!(state.network(doomed()).is_none(), "v{version}");

    let s = state.network(second()).expect("second");
    assert_eq!(s.network.ip_stack_mode, IpStackMode::Dual, "v{version}");
    assert_eq!(s.network.domain, "second.internal", "v{version}");
    let mut peers: Vec<&str> = vec!["alice"];
    if version >= 2 {
        peers.push("bob");
    }
    assert_eq!(
        s.peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        peers,
        "v{version}"
    );
    let a = s.peers.get(alice()).expect("alice");
    assert_eq!(a.public_key.as_deref(), Some(test_key(312).as_str()));
    assert!(a.endpoint.is_some() && a.group_ids.contains(&ops()));
    assert_eq!(
        state.peer_by_agent_token_hash("hash-alice-2").map(|p| p.id),
        Some(alice())
    );
    assert!(state.peer_by_agent_token_hash("hash-alice").is_none());
    let g = s.groups.get(ops()).expect("ops");
    assert_eq!(
        (g.priority, g.description.as_str()),
        (5, "on-call operators")
    );
    assert_eq!(g.policy_ids, [policy()]);
    assert!(g.route_ids.is_empty());
    let p = s.policies.get(policy()).expect("policy");
    assert_eq!(p.name, "ops-reach");
    assert_eq!(p.rules.len(), 3, "v{version}: {:?}", p.rules);
    assert!(s.routes.is_empty());

    // The route created in the restored network replaced the backup's.
    let routes: Vec<RouteId> = r.routes.iter().map(|r| r.id).collect();
    assert_eq!(routes, [lan()], "v{version}");
    let route = r.routes.get(lan()).expect("lan");
    assert_eq!(route.description, "the office LAN, floor 2");
    assert_eq!(route.jump_peer_id, r_gw());
    let default_group = r.groups.get(r_default_group()).expect("default group");
    assert_eq!(default_group.route_ids, [lan()]);
    let mappings: Vec<DnsMappingId> = r.dns_mappings.iter().map(|m| m.id).collect();
    assert_eq!(mappings, [nas()], "v{version}");
    let m = r.dns_mappings.get(nas()).expect("nas");
    assert_eq!(m.ip_address.to_string(), "192.168.82.11");

    let tokens: Vec<&str> = state.admin_tokens().map(|t| t.name.as_str()).collect();
    assert_eq!(tokens, ["ops"], "v{version}");
    assert_eq!(
        state.remembered("create-bob").is_some(),
        version >= 2,
        "v{version}"
    );
    assert_eq!(
        state.agent(alice()).map(|a| (a.connected, a.node_id)),
        (version >= 3).then_some((true, 2)),
        "v{version}"
    );
}
