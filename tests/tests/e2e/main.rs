//! End-to-end tests on real packets: nodes and agents as processes, each host in its own
//! network namespace. They need root (`RAFTWIRE_REQUIRE_NETNS=1` in CI makes a skip a
//! failure) and the workspace's binaries (`cargo test --workspace` builds them).

mod agent;
mod harness;
mod packets;
