//! `raftwire-agent`: runs on a Linux host (above all on a network's *jump peers*) and
//! converges the host to the configuration its node pushes over the agent WebSocket.
//!
//! - [`converge`]: one module per concern of the host — WireGuard, addresses and routes,
//!   forwarding sysctls, the firewall, DNS — each `desired → observe → diff → apply`,
//!   idempotent, and reporting its own errors (one module's failure never stops the others).
//! - [`host`]: running the host's tools (`ip`, `iptables-restore`, …) with errors that say
//!   what ran and what it answered.
//!
//! - [`runner`]: the loop — converge the persisted configuration at start, then every
//!   configuration the node sends, and again every resync interval to repair drift.
//! - [`connection`]: the agent WebSocket to one node at a time, failing over with
//!   [`backoff`]; [`config`] the flags, [`keys`] the host's WireGuard key pair, [`state`]
//!   the last applied configuration on disk.
//!
//! The agent never links the node: the protocol is `raftwire_api::protocol`, the
//! configuration `raftwire_api::agent::AgentConfig`.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod config;
pub mod connection;
pub mod converge;
pub mod host;
pub mod keys;
pub mod runner;
pub mod state;

/// Logs to standard output as text or JSON; the level from `RUST_LOG` (default `info`).
/// No ANSI colours unless standard output is a terminal (journald, files, pipes).
pub fn init_logging(format: config::LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,hickory_server=warn,hickory_proto=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let result = match format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder.json().try_init(),
    };
    // Already set (a test harness): keep that one.
    let _ = result;
}

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod testkit {
    use raftwire_api::agent::AgentConfig;

    /// A minimal regular peer's configuration (one IPv4 address, no peers).
    pub(crate) fn sample_config(listen_port: Option<u16>) -> AgentConfig {
        serde_json::from_value(serde_json::json!({
            "peer_id": "00000000-0000-0000-0000-000000000001",
            "network_id": "00000000-0000-0000-0000-000000000002",
            "interface": {"name": "rw0", "addresses": ["10.0.0.1/32"], "listen_port": listen_port},
            "peers": [],
            "wg_quick": "",
            "firewall": null,
            "forwarding": {"ipv4": false, "ipv6": false},
            "dns": null,
            "nat": null
        }))
        .expect("a valid AgentConfig")
    }
}
