//! The agent's host modules against the real thing, one binary:
//!
//! - `dns`: the DNS module answering `dig` over UDP and TCP on loopback (no root needed).
//! - `interface`: WireGuard (`wireguard-go` or the kernel) and the addresses module.
//! - `tunnel`: two agents in two namespaces, real packets through the tunnel.
//! - `firewall`, `forwarding`: iptables, ip6tables and the forwarding sysctls.
//!
//! All but `dns` run as root, each test in network namespaces it makes and removes itself:
//! it re-runs this binary inside its namespace (`support`), where the kernel's interfaces,
//! rules and sysctls are the namespace's own and the host's are never touched. Without root
//! they skip loudly, or fail when `RAFTWIRE_REQUIRE_NETNS=1`. One area:
//! `cargo test -p raftwire-agent --test it firewall::`.

mod support;

mod dns;
mod firewall;
mod forwarding;
mod interface;
mod tunnel;
