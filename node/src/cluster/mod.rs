//! The Raft cluster: the wire format between nodes (`rpc`), its calling side (`client`, and
//! openraft's transport in `network`) and its answering side (`internal`), and membership
//! changes.

pub mod client;
pub mod internal;
pub mod membership;
pub mod network;
pub mod rpc;
