//! End-to-end test kit: real processes in network namespaces with real WireGuard
//! (`wireguard-go`), real iptables and real DNS queries.
//!
//! - [`node`], [`agent`]: the real binaries as processes; [`api`]: the node's API over curl.
//! - [`netns`]: namespaces, veth links, commands inside them; removed on drop.
//! - [`procs`]: the workspace's binaries started as processes; killed and reaped on drop.
//! - [`reexec`] and [`in_netns!`]: a test that runs inside a namespace of its own.
//! - [`local_cluster`]: `deploy/local-cluster.sh` (three nodes behind HAProxy) as a test
//!   fixture, stopped on drop.
//! - [`probe`]: ping with a deadline, `dig` with its RCODE, waiting for a condition (also in
//!   async tests).
//! - [`root`]: skip loudly without root, unless `RAFTWIRE_REQUIRE_NETNS=1` (CI) forbids it.
//!
//! The tests, one binary in `tests/it/`: `harness` (this kit), `agent` (everything as
//! processes in namespaces) and `agent_runtime` (nodes in process, the real agent binary as
//! a child, in a namespace of its own). Cluster and API tests of the node alone live in
//! `node/tests/`, next to the library they drive; the agent's module tests in
//! `agent/tests/`, which use this kit's namespaces.

pub mod agent;
pub mod api;
pub mod browser;
pub mod local_cluster;
pub mod netns;
pub mod node;
pub mod probe;
pub mod procs;
pub mod reexec;
pub mod root;
pub mod topology;
