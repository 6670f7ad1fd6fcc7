//! openraft's type configuration for Raftwire and short aliases of the generic openraft types.
//!
//! The application data of a log entry is a [`Command`]; what applying it returns is an
//! [`ApplyResult`] (`Result<Response, DomainError>`): a domain error is a normal, replicated
//! answer, not a storage failure. openraft only asks `R` to be `Send + Sync + 'static` and
//! serde-able, which `Result` already is, so no newtype is needed.

use crate::command::{ApplyResult, Command};

openraft::declare_raft_types!(
    /// Raftwire's openraft type configuration.
    pub TypeConfig:
        D = Command,
        R = ApplyResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node id.
pub type NodeId = u64;
/// A node's address book entry.
pub type Node = openraft::BasicNode;
/// A running Raft node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log entry's payload (blank, normal command, or membership).
pub type EntryPayload = openraft::EntryPayload<TypeConfig>;
/// (term, leader, index) of a log entry.
pub type LogId = openraft::LogId<NodeId>;
/// A vote (term, leader, committed).
pub type Vote = openraft::Vote<NodeId>;
/// A membership config and the log id where it was introduced.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// A membership config.
pub type Membership = openraft::Membership<NodeId, Node>;
/// What describes a snapshot: last included log id, last membership, id.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A snapshot: meta plus a reader of its bytes.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// The summary of the log: last purged and last present log id.
pub type LogState = openraft::LogState<TypeConfig>;
/// The error every storage method returns; openraft stops the node on it.
pub type StorageError = openraft::StorageError<NodeId>;
/// The I/O variant of [`StorageError`].
pub type StorageIOError = openraft::StorageIOError<NodeId>;
/// openraft's metrics of one node.
pub type RaftMetrics = openraft::RaftMetrics<NodeId, Node>;
/// The response of a successful `client_write`.
pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;
