//! The wire format of node-to-node RPC over HTTP, shared by the calling side (`client.rs`,
//! `stream.rs`) and the answering side (`internal.rs`): the paths, and bincode bodies.
//!
//! Bodies are bincode (snapshots and log entries are binary), and every call carries the
//! cluster secret as a bearer token: nothing a cluster says to itself is unauthenticated.
//! Answers that can fail for a reason the caller must act on (a forwarded write, a read
//! index, a membership change) are a bincode `Result<T, ConsensusError>` under HTTP 200, so a
//! refusal keeps its meaning on the calling node; a non-200 status means the request itself
//! was not understood (bad secret, undecodable body).

use serde::de::DeserializeOwned;
use serde::Serialize;

pub const INTERNAL_APPEND: &str = "/internal/raft/append";
pub const INTERNAL_VOTE: &str = "/internal/raft/vote";
pub const INTERNAL_SNAPSHOT: &str = "/internal/raft/snapshot";
/// Append-entries and votes over a persistent WebSocket (`stream.rs`); nodes of earlier
/// releases answer 404.
pub const INTERNAL_STREAM: &str = "/internal/raft/stream";
pub const INTERNAL_WRITE: &str = "/internal/write";
pub const INTERNAL_READ_INDEX: &str = "/internal/read-index";
pub const INTERNAL_MEMBERSHIP: &str = "/internal/membership";
/// What the node reads (`cluster::features`); nodes of earlier releases answer 404.
pub const INTERNAL_FEATURES: &str = "/internal/features";
/// Membership change that must not be forwarded again (the sender believed this node leads).
pub const INTERNAL_MEMBERSHIP_LOCAL: &str = "/internal/membership/local";

/// The media type of every internal body.
pub const BIN: &str = "application/octet-stream";

/// Largest internal request body: Raft batches and snapshot chunks are large, but bounded;
/// a restore entry is too.
pub const INTERNAL_BODY_LIMIT: usize = 128 * 1024 * 1024;

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(v, bincode::config::standard()).map_err(|e| e.to_string())
}

pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(b, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| e.to_string())
}
