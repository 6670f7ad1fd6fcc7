//! Raftwire's shared vocabulary and pure domain core.
//!
//! Everything the system *decides* about networks, peers, addresses, WireGuard configs,
//! firewall rules and DNS records lives here as pure functions: no I/O, no clock, no
//! randomness. Callers (the replicated state machine, the node, tests) pass in every
//! non-deterministic input. See `SPEC.md` §1–§6 for the contract.
#![forbid(unsafe_code)]

pub mod family;
pub mod ipam;

pub use family::{detect_ip_version, IpFamily, IpStackMode, IpVersion};
