//! Commands: one per mutation of the API, carrying every non-deterministic input (ids,
//! timestamps, generated keys, token hashes) chosen by the node that accepted the request.
//!
//! Schema evolution: variants are only ever appended (bincode encodes the variant index), and
//! a variant whose fields must change is replaced by a new variant while the old one stays
//! decodable. The log and snapshot encodings carry [`crate::codec::SCHEMA_VERSION`]. The
//! payload types are the store's own ([`payload`], whose header has the rules), so a change
//! to an HTTP request body does not change the log format.

pub mod payload;
pub(crate) mod v1;

pub use payload::{
    DnsMappingPatch, DnsMappingSpec, GroupPatch, GroupSpec, NetworkPatch, NetworkSpec, PeerPatch,
    PeerSpec, RoutePatch, RouteSpec,
};
use raftwire_api::*;
use serde::{Deserialize, Serialize};

use crate::state::{AdminToken, StateData};

/// Ids a new network needs for its `default` group and policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDefaults {
    pub group_id: GroupId,
    pub policy_id: PolicyId,
    /// One per family the default policy may ever allow (IPv4, IPv6).
    pub rule_ids: [RuleId; 2],
}

/// Keys and token material a node generated for a new peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSecretsInput {
    /// Server-generated key pair for a static peer that supplied no public key.
    pub generated_keypair: Option<(String, String)>,
    /// Hash of the agent token shown once to the creator (agent peers).
    pub agent_token_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    CreateNetwork {
        id: NetworkId,
        at: Timestamp,
        spec: NetworkSpec,
        defaults: NetworkDefaults,
    },
    UpdateNetwork {
        id: NetworkId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: NetworkPatch,
        /// Id for a rule the default policy gains when a family is added.
        new_rule_ids: [RuleId; 2],
    },
    DeleteNetwork {
        id: NetworkId,
        if_match: Option<u64>,
    },
    CreatePeer {
        network_id: NetworkId,
        id: PeerId,
        at: Timestamp,
        spec: PeerSpec,
        secrets: PeerSecretsInput,
    },
    UpdatePeer {
        network_id: NetworkId,
        id: PeerId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: PeerPatch,
    },
    DeletePeer {
        network_id: NetworkId,
        id: PeerId,
        if_match: Option<u64>,
    },
    RotateAgentToken {
        network_id: NetworkId,
        peer_id: PeerId,
        at: Timestamp,
        token_hash: String,
    },
    /// An agent registers the public key of the key pair it generated.
    RegisterAgentKey {
        peer_id: PeerId,
        at: Timestamp,
        public_key: String,
    },
    CreateGroup {
        network_id: NetworkId,
        id: GroupId,
        at: Timestamp,
        spec: GroupSpec,
    },
    UpdateGroup {
        network_id: NetworkId,
        id: GroupId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: GroupPatch,
    },
    DeleteGroup {
        network_id: NetworkId,
        id: GroupId,
        if_match: Option<u64>,
    },
    AddGroupMember {
        network_id: NetworkId,
        group_id: GroupId,
        peer_id: PeerId,
        at: Timestamp,
    },
    RemoveGroupMember {
        network_id: NetworkId,
        group_id: GroupId,
        peer_id: PeerId,
        at: Timestamp,
    },
    AttachPolicy {
        network_id: NetworkId,
        group_id: GroupId,
        policy_id: PolicyId,
        at: Timestamp,
    },
    DetachPolicy {
        network_id: NetworkId,
        group_id: GroupId,
        policy_id: PolicyId,
        at: Timestamp,
    },
    AttachRoute {
        network_id: NetworkId,
        group_id: GroupId,
        route_id: RouteId,
        at: Timestamp,
    },
    DetachRoute {
        network_id: NetworkId,
        group_id: GroupId,
        route_id: RouteId,
        at: Timestamp,
    },
    CreatePolicy {
        network_id: NetworkId,
        id: PolicyId,
        at: Timestamp,
        name: String,
        description: String,
        rules: Vec<Rule>,
    },
    UpdatePolicy {
        network_id: NetworkId,
        id: PolicyId,
        at: Timestamp,
        if_match: Option<u64>,
        name: Option<String>,
        description: Option<String>,
        rules: Option<Vec<Rule>>,
    },
    DeletePolicy {
        network_id: NetworkId,
        id: PolicyId,
        if_match: Option<u64>,
    },
    AddRule {
        network_id: NetworkId,
        policy_id: PolicyId,
        at: Timestamp,
        rule: Rule,
    },
    RemoveRule {
        network_id: NetworkId,
        policy_id: PolicyId,
        rule_id: RuleId,
        at: Timestamp,
    },
    CreateRoute {
        network_id: NetworkId,
        id: RouteId,
        at: Timestamp,
        spec: RouteSpec,
    },
    UpdateRoute {
        network_id: NetworkId,
        id: RouteId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: RoutePatch,
    },
    DeleteRoute {
        network_id: NetworkId,
        id: RouteId,
        if_match: Option<u64>,
    },
    CreateDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        at: Timestamp,
        spec: DnsMappingSpec,
    },
    UpdateDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        at: Timestamp,
        if_match: Option<u64>,
        patch: DnsMappingPatch,
    },
    DeleteDnsMapping {
        network_id: NetworkId,
        route_id: RouteId,
        id: DnsMappingId,
        if_match: Option<u64>,
    },
    CreateAdminToken {
        token: AdminToken,
    },
    DeleteAdminToken {
        id: TokenId,
    },
    /// Replaces the whole state with a backup (`raftwire snapshot restore`). Refused unless
    /// the backup is internally consistent.
    RestoreState {
        data: Box<StateData>,
    },
    /// A write sent with an `Idempotency-Key`: applied once; a retry with the same key
    /// answers the remembered result and changes nothing (schema version 2).
    Idempotent {
        key: String,
        command: Box<Command>,
    },
    /// Agents' connection status as the nodes holding their connections report it, written
    /// only when it changes (schema version 3). Reports for unknown peers are ignored.
    RecordAgents {
        reports: Vec<AgentReport>,
    },
    /// One part of a backup too large for one entry (`raftwire snapshot restore` of more
    /// than [`RESTORE_PART_LEN`]): part 0 starts staging upload `id` (dropping whatever was
    /// staged), every later part must be the next one of that upload. Nothing but the
    /// staging changes; see "Backup and restore" in `docs/operations.md`.
    StageRestore {
        id: u64,
        part: u32,
        #[serde(with = "crate::codec::bytes")]
        bytes: Vec<u8>,
    },
    /// Ends upload `id`: when the staged parts are `parts` parts of `len` bytes in all whose
    /// SHA-256 is `sha256`, they are decoded and restored exactly as a `RestoreState` with
    /// that backup. Its staging is dropped whether the restore succeeds or not; a commit of an
    /// upload that is not the one staged changes nothing.
    CommitRestore {
        id: u64,
        parts: u32,
        len: u64,
        sha256: [u8; 32],
    },
    /// Independent writes that reached the leader together, in one log entry (schema
    /// version 5): they share one append, one fsync and one replication round. Each is
    /// applied in order exactly as if it had an entry of its own at this index — it succeeds
    /// or fails alone — and answers at its position in [`Response::Batch`]. The leader writes
    /// one only while every member reads version 5 (see "Write batching" in
    /// `docs/architecture.md`).
    Batch {
        commands: Vec<Command>,
    },
}

/// The size of the parts a large backup is staged in (and the largest backup sent as one
/// `RestoreState` entry): well below what one AppendEntries round carries within a
/// heartbeat interval (an 11 MB entry never reached the followers at 250 ms, 3.6 MB did).
pub const RESTORE_PART_LEN: usize = 1024 * 1024;

/// The largest backup a restore accepts (and the most `StageRestore` may stage).
pub const RESTORE_MAX_LEN: usize = 512 * 1024 * 1024;

/// One agent's status as the node holding (or having held) its connection reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReport {
    pub peer_id: PeerId,
    /// The connection this is about, chosen by the node that accepted it.
    pub session: u64,
    /// A new connection: its status replaces whatever is stored. Any other report applies
    /// only while the stored status is of the same session, so a node that lost an agent
    /// to another node cannot overwrite what the other one wrote.
    pub new_session: bool,
    pub status: AgentStatus,
}

/// An agent's connection status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    pub connected: bool,
    /// The node the agent is (or was last) connected to.
    pub node_id: u64,
    /// When it connected, or disconnected.
    pub since: Timestamp,
    /// The version of the configuration the agent last applied.
    pub applied_version: u64,
    /// The modules that failed in the agent's last apply.
    pub errors: Vec<AgentError>,
}

/// One module of an agent that failed to converge its host, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub module: String,
    pub message: String,
}

/// What a successful command returns: the object as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Network(Network),
    Peer(Peer),
    Group(Group),
    Policy(Policy),
    Route(Route),
    DnsMapping(DnsMapping),
    AdminToken(AdminToken),
    /// The object was deleted.
    Deleted,
    /// A membership or attachment changed.
    Done,
    /// The answers of a [`Command::Batch`], one per command, in order.
    Batch(Vec<ApplyResult>),
}

/// The result of applying one command, as the Raft state machine returns it.
pub type ApplyResult = Result<Response, DomainError>;

/// A command creating admin token `n` (id, name, hash and time derived from `n`): the unit
/// tests' smallest write.
#[cfg(test)]
pub(crate) fn test_token(n: u128) -> Command {
    Command::CreateAdminToken {
        token: crate::state::AdminToken {
            id: raftwire_api::TokenId::from_u128(n),
            name: format!("t{n}"),
            token_hash: format!("h{n}"),
            created_at: raftwire_api::Timestamp(n as u64),
        },
    }
}
