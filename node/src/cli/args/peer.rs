//! `raftwire peer …`.

use clap::Subcommand;

use super::IfMatch;

#[derive(Debug, Subcommand)]
pub enum PeerCmd {
    /// Add a peer (addresses are allocated per the network's mode).
    Add {
        /// The network (id or name).
        network: String,
        /// Name of the peer (a DNS label; its DNS name is <name>.<domain>).
        name: String,
        /// A jump peer (relays, filters, serves DNS; runs the agent).
        #[arg(long)]
        jump: bool,
        /// Managed by the agent (a token is printed once).
        #[arg(long)]
        agent: bool,
        /// Ask for this IPv4 address [default: the next free one].
        #[arg(long, value_name = "ADDRESS")]
        ipv4: Option<String>,
        /// Ask for this IPv6 address [default: the next free one].
        #[arg(long, value_name = "ADDRESS")]
        ipv6: Option<String>,
        /// WireGuard public key of a static peer (else a key pair is generated).
        #[arg(long = "public-key", value_name = "KEY")]
        public_key: Option<String>,
        /// Public host or host:port other peers connect to.
        #[arg(long)]
        endpoint: Option<String>,
        /// WireGuard listen port.
        #[arg(long = "listen-port", value_name = "PORT")]
        listen_port: Option<u16>,
        /// Subnet routed behind this peer (repeatable).
        #[arg(long = "allowed-ip", value_name = "CIDR")]
        allowed_ips: Vec<String>,
        /// Group to join instead of `default` (repeatable; id or name).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Jump only: masquerade IPv6 traffic leaving for routes outside the overlay.
        #[arg(long = "ipv6-nat")]
        ipv6_nat: bool,
    },
    /// List the peers of a network.
    #[command(alias = "ls")]
    List {
        /// The network (id or name).
        network: String,
    },
    /// Show one peer.
    Show {
        /// The network (id or name).
        network: String,
        /// The peer (id or name).
        peer: String,
    },
    /// Change a peer.
    Update {
        /// The network (id or name).
        network: String,
        /// The peer (id or name).
        peer: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// Make the peer agent-managed.
        #[arg(long, conflicts_with = "no_agent")]
        agent: bool,
        /// Make the peer static.
        #[arg(long = "no-agent")]
        no_agent: bool,
        /// New IPv4 address.
        #[arg(long, value_name = "ADDRESS")]
        ipv4: Option<String>,
        /// New IPv6 address.
        #[arg(long, value_name = "ADDRESS")]
        ipv6: Option<String>,
        /// New WireGuard public key.
        #[arg(
            long = "public-key",
            value_name = "KEY",
            conflicts_with = "clear_public_key"
        )]
        public_key: Option<String>,
        /// Forget the public key.
        #[arg(long = "clear-public-key")]
        clear_public_key: bool,
        /// New public host or host:port.
        #[arg(long, conflicts_with = "clear_endpoint")]
        endpoint: Option<String>,
        /// Remove the endpoint.
        #[arg(long = "clear-endpoint")]
        clear_endpoint: bool,
        /// New WireGuard listen port.
        #[arg(
            long = "listen-port",
            value_name = "PORT",
            conflicts_with = "clear_listen_port"
        )]
        listen_port: Option<u16>,
        /// Remove the listen port.
        #[arg(long = "clear-listen-port")]
        clear_listen_port: bool,
        /// Replace the subnets routed behind this peer (repeatable).
        #[arg(
            long = "allowed-ip",
            value_name = "CIDR",
            conflicts_with = "clear_allowed_ips"
        )]
        allowed_ips: Vec<String>,
        /// Remove every subnet routed behind this peer.
        #[arg(long = "clear-allowed-ips")]
        clear_allowed_ips: bool,
        /// Replace the peer's groups (repeatable; id or name).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Jump only: masquerade IPv6 traffic leaving for routes outside the overlay.
        #[arg(long = "ipv6-nat", conflicts_with = "no_ipv6_nat")]
        ipv6_nat: bool,
        /// Jump only: stop masquerading IPv6 traffic.
        #[arg(long = "no-ipv6-nat")]
        no_ipv6_nat: bool,
        /// Show what the change would do (addresses per peer and family, static peers that
        /// need their config again, agents sent a new one) and change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Remove a peer (its addresses and DNS records go with it).
    #[command(alias = "rm", alias = "delete")]
    Remove {
        /// The network (id or name).
        network: String,
        /// The peer (id or name).
        peer: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Print the peer's wg-quick configuration.
    Config {
        /// The network (id or name).
        network: String,
        /// The peer (id or name).
        peer: String,
    },
    /// Rotate the peer's agent token (the new token is shown once).
    Token {
        /// The network (id or name).
        network: String,
        /// The peer (id or name).
        peer: String,
    },
    /// Show a jump peer's firewall rules and forwarding.
    Firewall {
        /// The network (id or name).
        network: String,
        /// The jump peer (id or name).
        peer: String,
    },
}
