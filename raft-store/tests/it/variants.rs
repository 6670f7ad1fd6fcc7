//! One command of every `Command` variant, with fixed ids, timestamps and secrets, in an
//! order that applies cleanly to an empty state. Each is frozen as a log entry fixture per
//! schema version (`tests/fixtures/v<N>/entry-<variant>.bin`).
//!
//! Adding a `Command` variant breaks the exhaustive `match` in [`fixture_name`]; give the
//! variant a name there, a row in [`VARIANTS`] and a command in [`sequence`], then write its
//! fixture for the current version (see `upgrade.rs`).

use raftwire_api::requests::{
    CreateDnsMapping, CreateGroup, CreateNetwork, CreatePeer, CreateRoute, UpdateDnsMapping,
    UpdateGroup, UpdateNetwork, UpdatePeer, UpdateRoute,
};
use raftwire_api::testkit::test_key;
use raftwire_api::*;
use raftwire_raft_store::{
    AdminToken, AgentError, AgentReport, AgentStatus, Command, NetworkDefaults, PeerSecretsInput,
    State,
};

/// Every variant in declaration order (= its bincode variant index), with the schema version
/// that introduced it.
pub const VARIANTS: &[(&str, u16)] = &[
    ("create-network", 1),
    ("update-network", 1),
    ("delete-network", 1),
    ("create-peer", 1),
    ("update-peer", 1),
    ("delete-peer", 1),
    ("rotate-agent-token", 1),
    ("register-agent-key", 1),
    ("create-group", 1),
    ("update-group", 1),
    ("delete-group", 1),
    ("add-group-member", 1),
    ("remove-group-member", 1),
    ("attach-policy", 1),
    ("detach-policy", 1),
    ("attach-route", 1),
    ("detach-route", 1),
    ("create-policy", 1),
    ("update-policy", 1),
    ("delete-policy", 1),
    ("add-rule", 1),
    ("remove-rule", 1),
    ("create-route", 1),
    ("update-route", 1),
    ("delete-route", 1),
    ("create-dns-mapping", 1),
    ("update-dns-mapping", 1),
    ("delete-dns-mapping", 1),
    ("create-admin-token", 1),
    ("delete-admin-token", 1),
    ("restore-state", 1),
    ("idempotent", 2),
    ("record-agents", 3),
    // Appended within version 3: log entries keep the version 3 layout (see `codec`).
    ("stage-restore", 3),
    ("commit-restore", 3),
    // Its own schema version: only entries holding a batch are written as version 5.
    ("batch", 5),
];

/// The fixture name of a command's variant. Exhaustive on purpose: a new variant does not
/// compile until it is named here.
pub fn fixture_name(c: &Command) -> &'static str {
    match c {
        Command::CreateNetwork { .. } => "create-network",
        Command::UpdateNetwork { .. } => "update-network",
        Command::DeleteNetwork { .. } => "delete-network",
        Command::CreatePeer { .. } => "create-peer",
        Command::UpdatePeer { .. } => "update-peer",
        Command::DeletePeer { .. } => "delete-peer",
        Command::RotateAgentToken { .. } => "rotate-agent-token",
        Command::RegisterAgentKey { .. } => "register-agent-key",
        Command::CreateGroup { .. } => "create-group",
        Command::UpdateGroup { .. } => "update-group",
        Command::DeleteGroup { .. } => "delete-group",
        Command::AddGroupMember { .. } => "add-group-member",
        Command::RemoveGroupMember { .. } => "remove-group-member",
        Command::AttachPolicy { .. } => "attach-policy",
        Command::DetachPolicy { .. } => "detach-policy",
        Command::AttachRoute { .. } => "attach-route",
        Command::DetachRoute { .. } => "detach-route",
        Command::CreatePolicy { .. } => "create-policy",
        Command::UpdatePolicy { .. } => "update-policy",
        Command::DeletePolicy { .. } => "delete-policy",
        Command::AddRule { .. } => "add-rule",
        Command::RemoveRule { .. } => "remove-rule",
        Command::CreateRoute { .. } => "create-route",
        Command::UpdateRoute { .. } => "update-route",
        Command::DeleteRoute { .. } => "delete-route",
        Command::CreateDnsMapping { .. } => "create-dns-mapping",
        Command::UpdateDnsMapping { .. } => "update-dns-mapping",
        Command::DeleteDnsMapping { .. } => "delete-dns-mapping",
        Command::CreateAdminToken { .. } => "create-admin-token",
        Command::DeleteAdminToken { .. } => "delete-admin-token",
        Command::RestoreState { .. } => "restore-state",
        Command::Idempotent { .. } => "idempotent",
        Command::RecordAgents { .. } => "record-agents",
        Command::StageRestore { .. } => "stage-restore",
        Command::CommitRestore { .. } => "commit-restore",
        Command::Batch { .. } => "batch",
    }
}

// ------------------------------------------------------------------ fixed ids

fn id(n: u128) -> u128 {
    0xf1c5_0000_0000_0000_0000_0000_0000_0000 | n
}

pub fn at(n: u64) -> Timestamp {
    Timestamp(1_760_000_000_000 + n * 1000)
}

/// The network the backup brings (`restored`) and the one deleted later (`doomed`).
pub fn restored() -> NetworkId {
    NetworkId::from_u128(id(0x100))
}
pub fn doomed() -> NetworkId {
    NetworkId::from_u128(id(0x200))
}
/// The network the sequence creates.
pub fn second() -> NetworkId {
    NetworkId::from_u128(id(0x300))
}

pub fn r_gw() -> PeerId {
    PeerId::from_u128(id(0x110))
}
pub fn r_peer() -> PeerId {
    PeerId::from_u128(id(0x111))
}
pub fn r_group() -> GroupId {
    GroupId::from_u128(id(0x120))
}
pub fn r_policy() -> PolicyId {
    PolicyId::from_u128(id(0x130))
}
pub fn r_route() -> RouteId {
    RouteId::from_u128(id(0x140))
}
pub fn r_nas() -> DnsMappingId {
    DnsMappingId::from_u128(id(0x150))
}
pub fn r_printer() -> DnsMappingId {
    DnsMappingId::from_u128(id(0x151))
}
pub fn r_token() -> TokenId {
    TokenId::from_u128(id(0x160))
}

pub fn alice() -> PeerId {
    PeerId::from_u128(id(0x311))
}
pub fn bob() -> PeerId {
    PeerId::from_u128(id(0x312))
}
pub fn ops() -> GroupId {
    GroupId::from_u128(id(0x320))
}
pub fn policy() -> PolicyId {
    PolicyId::from_u128(id(0x330))
}
pub fn lan() -> RouteId {
    RouteId::from_u128(id(0x340))
}
pub fn nas() -> DnsMappingId {
    DnsMappingId::from_u128(id(0x350))
}
pub fn ops_token() -> TokenId {
    TokenId::from_u128(id(0x360))
}

fn defaults(n: u128) -> NetworkDefaults {
    NetworkDefaults {
        group_id: GroupId::from_u128(id(n + 2)),
        policy_id: PolicyId::from_u128(id(n + 3)),
        rule_ids: [RuleId::from_u128(id(n + 4)), RuleId::from_u128(id(n + 5))],
    }
}

/// The default group and policy of `restored`.
pub fn r_default_group() -> GroupId {
    defaults(0x100).group_id
}
pub fn r_default_policy() -> PolicyId {
    defaults(0x100).policy_id
}

fn rule(n: u128, direction: Direction, action: Action, target: RuleTarget) -> Rule {
    Rule {
        id: RuleId::from_u128(id(n)),
        direction,
        action,
        target,
        description: format!("rule {n:x}"),
    }
}

fn network(n: u128, at_n: u64, req: CreateNetwork) -> Command {
    Command::CreateNetwork {
        id: NetworkId::from_u128(id(n)),
        at: at(at_n),
        spec: req.validate().expect("valid network").into(),
        defaults: defaults(n),
    }
}

fn peer(
    network_id: NetworkId,
    id: PeerId,
    at_n: u64,
    req: CreatePeer,
    secrets: PeerSecretsInput,
) -> Command {
    Command::CreatePeer {
        network_id,
        id,
        at: at(at_n),
        spec: req.validate().expect("valid peer").into(),
        secrets,
    }
}

// ------------------------------------------------------------------ the backup

/// The state the `RestoreState` command carries, built through `apply`.
pub fn backup() -> State {
    let mut state = State::new();
    let commands = vec![
        network(
            0x100,
            1,
            CreateNetwork {
                name: Some("restored".into()),
                ipv4_cidr: Some("10.81.0.0/24".into()),
                ..Default::default()
            },
        ),
        network(
            0x200,
            2,
            CreateNetwork {
                name: Some("doomed".into()),
                ip_stack_mode: Some("ipv6".into()),
                ipv6_cidr: Some("fd83::/64".into()),
                ..Default::default()
            },
        ),
        peer(
            restored(),
            r_gw(),
            3,
            CreatePeer {
                name: Some("r-gw".into()),
                is_jump: Some(true),
                public_key: Some(test_key(101)),
                endpoint: Some("198.51.100.1:51820".into()),
                ..Default::default()
            },
            PeerSecretsInput {
                generated_keypair: None,
                agent_token_hash: Some("hash-r-gw".into()),
            },
        ),
        peer(
            restored(),
            r_peer(),
            4,
            CreatePeer {
                name: Some("r-peer".into()),
                public_key: Some(test_key(102)),
                ..Default::default()
            },
            PeerSecretsInput::default(),
        ),
        Command::CreateGroup {
            network_id: restored(),
            id: r_group(),
            at: at(5),
            spec: CreateGroup {
                name: Some("r-group".into()),
                ..Default::default()
            }
            .validate()
            .expect("valid group")
            .into(),
        },
        Command::AddGroupMember {
            network_id: restored(),
            group_id: r_group(),
            peer_id: r_peer(),
            at: at(6),
        },
        Command::CreatePolicy {
            network_id: restored(),
            id: r_policy(),
            at: at(7),
            name: "r-policy".into(),
            description: String::new(),
            rules: vec![rule(
                0x131,
                Direction::Output,
                Action::Allow,
                RuleTarget::Peer(r_gw()),
            )],
        },
        Command::AttachPolicy {
            network_id: restored(),
            group_id: r_group(),
            policy_id: r_policy(),
            at: at(8),
        },
        Command::CreateRoute {
            network_id: restored(),
            id: r_route(),
            at: at(9),
            spec: CreateRoute {
                name: Some("r-lan".into()),
                destination_cidr: Some("192.168.81.0/24".into()),
                jump_peer_id: Some(r_gw().to_string()),
                ..Default::default()
            }
            .validate()
            .expect("valid route")
            .into(),
        },
        Command::AttachRoute {
            network_id: restored(),
            group_id: r_group(),
            route_id: r_route(),
            at: at(10),
        },
        Command::CreateDnsMapping {
            network_id: restored(),
            route_id: r_route(),
            id: r_nas(),
            at: at(11),
            spec: CreateDnsMapping {
                name: Some("r-nas".into()),
                ip_address: Some("192.168.81.10".into()),
            }
            .validate()
            .expect("valid mapping")
            .into(),
        },
        Command::CreateDnsMapping {
            network_id: restored(),
            route_id: r_route(),
            id: r_printer(),
            at: at(12),
            spec: CreateDnsMapping {
                name: Some("r-printer".into()),
                ip_address: Some("192.168.81.20".into()),
            }
            .validate()
            .expect("valid mapping")
            .into(),
        },
        Command::CreateAdminToken {
            token: AdminToken {
                id: r_token(),
                name: "r-token".into(),
                token_hash: "hash-r-token".into(),
                created_at: at(13),
            },
        },
    ];
    for (i, c) in commands.into_iter().enumerate() {
        if let Err(e) = raftwire_raft_store::apply(&mut state, c) {
            panic!("backup command {i} failed: {e}");
        }
    }
    state
}

// ------------------------------------------------------------------ the sequence

/// The command of the idempotent write (schema version 2).
pub fn bob_command() -> Command {
    peer(
        second(),
        bob(),
        52,
        CreatePeer {
            name: Some("bob".into()),
            ipv4_address: Some("10.82.0.50".into()),
            additional_allowed_ips: Some(vec!["192.168.7.0/24".into()]),
            ..Default::default()
        },
        PeerSecretsInput {
            generated_keypair: Some((test_key(313), "private-key-of-bob".into())),
            agent_token_hash: None,
        },
    )
}

/// One command per variant of schema version `version`, in an order that applies cleanly
/// to an empty state.
pub fn sequence(version: u16) -> Vec<Command> {
    let mut v = vec![
        Command::RestoreState {
            data: Box::new(backup().into_data()),
        },
        network(
            0x300,
            20,
            CreateNetwork {
                name: Some("second".into()),
                ipv4_cidr: Some("10.82.0.0/24".into()),
                dns_servers: Some(vec!["10.82.0.1".into()]),
                ..Default::default()
            },
        ),
        Command::UpdateNetwork {
            id: second(),
            at: at(21),
            if_match: Some(1),
            patch: UpdateNetwork {
                ip_stack_mode: Some("dual".into()),
                ipv6_cidr: Some("fd82::/64".into()),
                domain: Some("second.internal".into()),
                ..Default::default()
            }
            .validate()
            .expect("valid patch")
            .into(),
            new_rule_ids: [RuleId::from_u128(id(0x306)), RuleId::from_u128(id(0x307))],
        },
        peer(
            second(),
            alice(),
            23,
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
        Command::UpdatePeer {
            network_id: second(),
            id: alice(),
            at: at(24),
            if_match: None,
            patch: UpdatePeer {
                endpoint: Some(Some("alice.example.net:51820".into())),
                listen_port: Some(Some(51821)),
                ..Default::default()
            }
            .validate()
            .expect("valid patch")
            .into(),
        },
        Command::RotateAgentToken {
            network_id: second(),
            peer_id: alice(),
            at: at(25),
            token_hash: "hash-alice-2".into(),
        },
        Command::RegisterAgentKey {
            peer_id: alice(),
            at: at(26),
            public_key: test_key(312),
        },
        Command::CreateGroup {
            network_id: second(),
            id: ops(),
            at: at(27),
            spec: CreateGroup {
                name: Some("ops".into()),
                description: Some("operators".into()),
                priority: Some(10),
            }
            .validate()
            .expect("valid group")
            .into(),
        },
        Command::UpdateGroup {
            network_id: second(),
            id: ops(),
            at: at(28),
            if_match: None,
            patch: UpdateGroup {
                description: Some("on-call operators".into()),
                priority: Some(5),
                ..Default::default()
            }
            .validate()
            .expect("valid patch")
            .into(),
        },
        Command::AddGroupMember {
            network_id: second(),
            group_id: ops(),
            peer_id: alice(),
            at: at(29),
        },
        Command::RemoveGroupMember {
            network_id: restored(),
            group_id: r_group(),
            peer_id: r_peer(),
            at: at(30),
        },
        Command::CreatePolicy {
            network_id: second(),
            id: policy(),
            at: at(31),
            name: "ops-access".into(),
            description: "what operators reach".into(),
            rules: vec![
                rule(
                    0x331,
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Cidr("10.82.0.0/24".parse().expect("cidr")),
                ),
                rule(
                    0x332,
                    Direction::Input,
                    Action::Deny,
                    RuleTarget::Peer(alice()),
                ),
            ],
        },
        Command::UpdatePolicy {
            network_id: second(),
            id: policy(),
            at: at(32),
            if_match: None,
            name: Some("ops-reach".into()),
            description: Some("what on-call operators reach".into()),
            rules: Some(vec![
                rule(
                    0x333,
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Cidr("fd82::/64".parse().expect("cidr")),
                ),
                rule(
                    0x334,
                    Direction::Output,
                    Action::Allow,
                    RuleTarget::Group(ops()),
                ),
                rule(
                    0x335,
                    Direction::Input,
                    Action::Allow,
                    RuleTarget::Peer(alice()),
                ),
            ]),
        },
        Command::AddRule {
            network_id: second(),
            policy_id: policy(),
            at: at(33),
            rule: rule(0x336, Direction::Output, Action::Deny, RuleTarget::Any),
        },
        Command::RemoveRule {
            network_id: second(),
            policy_id: policy(),
            rule_id: RuleId::from_u128(id(0x335)),
            at: at(34),
        },
        Command::AttachPolicy {
            network_id: second(),
            group_id: ops(),
            policy_id: policy(),
            at: at(35),
        },
        Command::DetachPolicy {
            network_id: restored(),
            group_id: r_group(),
            policy_id: r_policy(),
            at: at(36),
        },
        Command::CreateRoute {
            network_id: restored(),
            id: lan(),
            at: at(37),
            spec: CreateRoute {
                name: Some("lan".into()),
                description: Some("the office LAN".into()),
                destination_cidr: Some("192.168.82.0/24".into()),
                jump_peer_id: Some(r_gw().to_string()),
            }
            .validate()
            .expect("valid route")
            .into(),
        },
        Command::UpdateRoute {
            network_id: restored(),
            id: lan(),
            at: at(38),
            if_match: None,
            patch: UpdateRoute {
                description: Some("the office LAN, floor 2".into()),
                ..Default::default()
            }
            .validate()
            .expect("valid patch")
            .into(),
        },
        Command::AttachRoute {
            network_id: restored(),
            group_id: r_default_group(),
            route_id: lan(),
            at: at(39),
        },
        Command::DetachRoute {
            network_id: restored(),
            group_id: r_group(),
            route_id: r_route(),
            at: at(40),
        },
        Command::CreateDnsMapping {
            network_id: restored(),
            route_id: lan(),
            id: nas(),
            at: at(41),
            spec: CreateDnsMapping {
                name: Some("nas".into()),
                ip_address: Some("192.168.82.10".into()),
            }
            .validate()
            .expect("valid mapping")
            .into(),
        },
        Command::UpdateDnsMapping {
            network_id: restored(),
            route_id: lan(),
            id: nas(),
            at: at(42),
            if_match: Some(1),
            patch: UpdateDnsMapping {
                ip_address: Some("192.168.82.11".into()),
                ..Default::default()
            }
            .validate()
            .expect("valid patch")
            .into(),
        },
        Command::DeleteDnsMapping {
            network_id: restored(),
            route_id: r_route(),
            id: r_printer(),
            if_match: None,
        },
        Command::DeleteRoute {
            network_id: restored(),
            id: r_route(),
            if_match: None,
        },
        Command::DeletePolicy {
            network_id: restored(),
            id: r_policy(),
            if_match: None,
        },
        Command::DeleteGroup {
            network_id: restored(),
            id: r_group(),
            if_match: None,
        },
        Command::DeletePeer {
            network_id: restored(),
            id: r_peer(),
            if_match: None,
        },
        Command::DeleteNetwork {
            id: doomed(),
            if_match: None,
        },
        Command::CreateAdminToken {
            token: AdminToken {
                id: ops_token(),
                name: "ops".into(),
                token_hash: "hash-ops".into(),
                created_at: at(50),
            },
        },
        Command::DeleteAdminToken { id: r_token() },
    ];
    if version >= 2 {
        v.push(Command::Idempotent {
            key: "create-bob".into(),
            command: Box::new(bob_command()),
        });
    }
    if version >= 3 {
        v.push(agents_command());
        v.extend(staged_restore(&v));
    }
    v
}

/// The upload id of the staged restore in [`sequence`].
pub const UPLOAD: u64 = 0x5eed_0ad0;

/// A backup of the state `commands` build, staged in one part and committed: it restores
/// that same state (the cluster's admin tokens are the backup's), so the sequence ends where
/// it would without it.
pub fn staged_restore(commands: &[Command]) -> [Command; 2] {
    use sha2::Digest;
    let mut state = State::new();
    for c in commands {
        raftwire_raft_store::apply(&mut state, c.clone()).expect("the sequence applies");
    }
    let backup = raftwire_raft_store::codec::encode_snapshot(&None, &Default::default(), &state)
        .expect("encode the backup");
    let (len, sha256) = (backup.len() as u64, sha2::Sha256::digest(&backup).into());
    [
        Command::StageRestore {
            id: UPLOAD,
            part: 0,
            bytes: backup,
        },
        Command::CommitRestore {
            id: UPLOAD,
            parts: 1,
            len,
            sha256,
        },
    ]
}

/// Alice's agent connected to node 2 (schema version 3).
pub fn agents_command() -> Command {
    Command::RecordAgents {
        reports: vec![AgentReport {
            peer_id: alice(),
            session: 0x5e55_1011,
            new_session: true,
            status: AgentStatus {
                connected: true,
                node_id: 2,
                since: at(60),
                applied_version: 41,
                errors: vec![AgentError {
                    module: "firewall".into(),
                    message: "iptables-restore: line 3 failed".into(),
                }],
            },
        }],
    }
}
