//! The node's integration tests, one binary (each binary links RocksDB and openraft, so one
//! link instead of fourteen). One module per area; `common` is the test cluster harness.
//!
//! Run one area with a filter: `cargo test -p raftwire-node --test it cluster::`.

mod common;

mod api_agent;
mod api_auth;
mod api_cluster;
mod api_dry_run;
mod api_errors;
mod api_idempotency;
mod api_networks;
mod api_pagination;
mod api_peers;
mod api_policy_routes_dns;
mod api_unavailable;
mod cli;
mod cluster;
mod openapi;
mod processes;
mod tls;
