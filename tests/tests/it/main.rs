//! The cross-crate tests, one binary (each binary is a link of its own, with RocksDB and
//! openraft in it):
//!
//! - `harness`: the kit in `src/` itself: namespaces link, packets pass, nothing is left.
//! - `agent`: the agent on a jump host against a real node, nodes and agents as processes,
//!   each host in a network namespace of its own. They need root (skipped loudly otherwise;
//!   `RAFTWIRE_REQUIRE_NETNS=1`, set by CI, makes a skip a failure).
//! - `agent_runtime`: the real agent binary against nodes running in process (`common`), each
//!   agent in a namespace of its own.
//! - `packets`: real packets through a jump between agent peers (and a static peer brought up
//!   from its downloaded config), for IPv4-only, IPv6-only and dual-stack networks, with
//!   policy rules that block exactly their family.
//! - `migration`: a running network changed through the API on real packets: IPv4-only to
//!   dual-stack and back without restarting anything, a route to a LAN behind the jump.
//! - `docs`: every command of the README and `docs/` runs against a fresh node and prints
//!   what the docs show; `docs/api.md` has every operation of the OpenAPI document.
//! - `failover`: a three-node cluster loses its leader under a running ping: the agents move
//!   to a survivor, a policy change made there is enforced, the pings never stop.
//! - `ui`: the web UI in a real headless Chromium against a three-node cluster: forms,
//!   field errors, a mode change's plan, badges, a follower showing a leader's write.
//! - `deploy`: `deploy/local-cluster.sh` (three nodes behind HAProxy) losing its leader under
//!   a write load and an agent socket, and the deploy files checked against the binaries.
//!   Loopback only, no root.
//! - `upgrade`: a rolling upgrade from the previous release (`scripts/previous-release`,
//!   built once by `scripts/build-previous.sh`): new nodes join an old cluster, old nodes
//!   are replaced one at a time, an old node joins the new cluster; every write survives.
//!
//! They run the workspace's binaries: build them first
//! (`cargo build -p raftwire-node -p raftwire-agent`); a missing one fails with that hint.
//! One area: `cargo test -p raftwire-tests --test it agent_runtime::`.

mod common;

mod agent;
mod agent_runtime;
mod deploy;
mod docs;
mod failover;
mod harness;
mod migration;
mod packets;
mod ui;
mod upgrade;
