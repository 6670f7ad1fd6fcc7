//! Raftwire's shared vocabulary and pure domain core.
//!
//! Everything the system *decides* about networks, peers, addresses, WireGuard configs,
//! firewall rules and DNS records lives here as pure functions: no I/O, no clock, no
//! randomness. Callers (the replicated state machine, the node, tests) pass in every
//! non-deterministic input. The README describes the behaviour; `docs/properties.md` lists the requirements and properties the tests prove.
#![forbid(unsafe_code)]

pub mod agent;
pub mod delta;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod family;
pub mod firewall;
pub mod hash;
pub mod ids;
pub mod ipam;
pub mod model;
pub mod plan;
pub mod protocol;
pub mod requests;
pub mod testkit;
pub mod time;
pub mod validate;
pub mod view;
pub mod wireguard;

pub use endpoint::Endpoint;
pub use error::{DomainError, DomainResult, ErrorCode};
pub use family::{detect_ip_version, IpFamily, IpStackMode, IpVersion};
pub use ids::*;
pub use model::*;
pub use time::Timestamp;
pub use view::{NetworkData, NetworkView, ViewIndex};
