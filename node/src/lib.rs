//! The Raftwire control-plane node: openraft wired to the RocksDB store, Raft RPC between
//! nodes, the `/api/v1` HTTP API served by every node (writes forwarded to the leader,
//! linearizable reads), the agent hub, metrics, and the web UI at `/`.
#![forbid(unsafe_code)]

pub mod agent_status;
pub mod app;
pub mod batcher;
pub mod cluster;
pub mod config;
pub mod consensus;
pub mod election;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod secrets;
pub mod server;
pub mod snapshots;
pub mod tls;
pub mod ui;

pub use config::{NodeArgs, NodeConfig, RaftTiming};
pub use server::{start, NodeHandle};
