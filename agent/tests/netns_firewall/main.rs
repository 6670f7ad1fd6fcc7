//! The firewall and forwarding modules against the real kernel, each test inside a network
//! namespace of its own (as root; skipped loudly otherwise, a failure with
//! `RAFTWIRE_REQUIRE_NETNS=1`).
//!
//! A test creates its namespace, re-runs its own test binary inside it with
//! `ip netns exec` (the child knows from `RAFTWIRE_TEST_IN_NETNS`), checks the child passed
//! and deletes the namespace — also when the child failed. Inside, iptables, ip6tables and
//! the forwarding sysctls are the namespace's own, so the host's are never touched.

mod firewall;
mod forwarding;
mod support;
