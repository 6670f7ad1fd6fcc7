//! The Raft cluster: transport between nodes, internal RPC endpoints, membership changes.

pub mod membership;
pub mod network;
pub mod rpc;
