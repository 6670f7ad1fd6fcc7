//! Raftwire's replicated state: [`State`], versioned [`Command`]s, the deterministic
//! [`apply`], and their durable home on openraft + RocksDB.
//!
//! A write flows: the node builds a `Command` (with every id, timestamp and secret already
//! chosen), Raft replicates it, and every node's state machine runs [`apply`] on it. Because
//! `apply` is a pure function of (state, command), the same log gives the same state and the
//! same answers everywhere.
#![forbid(unsafe_code)]

pub mod apply;
pub mod codec;
pub mod command;
pub mod dry_run;
pub mod invariants;
pub mod revision;
pub mod state;
pub mod store;
pub mod table;
pub mod types;

pub use apply::apply;
pub use command::{
    AgentError, AgentReport, AgentStatus, ApplyResult, Command, NetworkDefaults, PeerSecretsInput,
    Response,
};
pub use dry_run::{dry_run, DryRun};
pub use revision::apply_entry;
pub use state::{
    AdminToken, AgentRecord, NetworkContents, NetworkState, PeerSecrets, Remembered, StagedRestore,
    State, StateData, StateMeta, IDEMPOTENCY_KEYS_KEPT,
};
pub use store::{LogStore, StateMachineData, StateMachineStore};
pub use types::TypeConfig;
