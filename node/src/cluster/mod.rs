//! The Raft cluster: the wire format between nodes (`rpc`), its calling side (`client`, and
//! openraft's transport in `network`) and its answering side (`internal`), and membership
//! changes, and what the members can read (`features`).

pub mod client;
pub mod features;
pub mod internal;
pub mod membership;
pub mod network;
pub mod rpc;
pub mod stream;
