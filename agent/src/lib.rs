//! `raftwire-agent`: runs on a Linux host (above all on a network's *jump peers*) and
//! converges the host to the configuration its node pushes over the agent WebSocket.
//!
//! - [`converge`]: one module per concern of the host — WireGuard, addresses and routes,
//!   forwarding sysctls, the firewall, DNS — each `desired → observe → diff → apply`,
//!   idempotent, and reporting its own errors (one module's failure never stops the others).
//! - [`host`]: running the host's tools (`ip`, `iptables-restore`, …) with errors that say
//!   what ran and what it answered.
//!
//! The agent never links the node: the protocol is `raftwire_api::protocol`, the
//! configuration `raftwire_api::agent::AgentConfig`.

#![forbid(unsafe_code)]

pub mod converge;
pub mod host;
