//! The agent's host modules against the real kernel, as root, each test in network
//! namespaces it makes (and removes) itself. Without root every test skips loudly, or fails
//! when `RAFTWIRE_REQUIRE_NETNS=1`.

mod support;

mod interface;
mod tunnel;
