//! The command line of `raftwire` (SPEC §10): global options and one subcommand per API call.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Authentication: --token-file <file> (or RAFTWIRE_TOKEN_FILE) names a file holding an admin
token; RAFTWIRE_TOKEN holds the token itself. With neither, ./data/admin-token is used if it
exists (the file a default `raftwire-node` writes).

Networks, peers, groups, policies and routes may be named by id or by name.
Exit status: 0 success, 1 error (the server's code and detail are printed on stderr),
2 the server could not be reached.";

#[derive(Debug, Parser)]
#[command(
    name = "raftwire",
    version,
    about = "Command-line client of the Raftwire control plane",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// URL of any node of the cluster [default: http://127.0.0.1:7070].
    #[arg(long, env = "RAFTWIRE_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// File holding the admin token (RAFTWIRE_TOKEN holds the token itself).
    #[arg(long, env = "RAFTWIRE_TOKEN_FILE", value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// Certificates (PEM) to trust for an https:// server [default: the platform's roots].
    #[arg(long, env = "RAFTWIRE_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Output format: human-readable tables, or the server's JSON.
    #[arg(
        short = 'o',
        long = "output",
        env = "RAFTWIRE_OUTPUT",
        value_enum,
        default_value_t = Output::Table,
        global = true
    )]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Ipv4,
    Ipv6,
    Dual,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ipv4 => "ipv4",
            Mode::Ipv6 => "ipv6",
            Mode::Dual => "dual",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Networks: address space, stack mode, DNS zone.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Peers of a network.
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Groups of peers, and their policies and routes.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Policies (ordered firewall rules).
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Routes to subnets behind jump peers.
    #[command(subcommand)]
    Route(RouteCmd),
    /// DNS mappings of routes, and the records of a network.
    #[command(subcommand)]
    Dns(DnsCmd),
    /// Raft cluster status and membership.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Back up or restore the whole cluster state.
    #[command(subcommand)]
    Snapshot(SnapshotCmd),
}

/// `--if-match <version>`: refuse the change (409 version_mismatch) if the object changed.
#[derive(Debug, Args)]
pub struct IfMatch {
    /// Only apply if the object's current version is this one.
    #[arg(long = "if-match", value_name = "VERSION")]
    pub if_match: Option<u64>,
}

// ---------------------------------------------------------------- networks

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        name: String,
        /// Stack mode (the server's default is ipv4).
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        #[arg(long = "ipv4-cidr", value_name = "CIDR")]
        ipv4_cidr: Option<String>,
        #[arg(long = "ipv6-cidr", value_name = "CIDR")]
        ipv6_cidr: Option<String>,
        /// DNS zone (default <name>.internal).
        #[arg(long)]
        domain: Option<String>,
        /// Upstream resolver of the jump DNS (repeatable).
        #[arg(long = "dns-server", value_name = "IP")]
        dns_servers: Vec<String>,
    },
    /// List networks.
    #[command(alias = "ls")]
    List,
    /// Show one network.
    Show { network: String },
    /// Change a network (mode and CIDR changes renumber peers).
    Update {
        network: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        #[arg(long = "ipv4-cidr", value_name = "CIDR")]
        ipv4_cidr: Option<String>,
        #[arg(long = "ipv6-cidr", value_name = "CIDR")]
        ipv6_cidr: Option<String>,
        #[arg(long)]
        domain: Option<String>,
        /// Replace the upstream resolvers (repeatable).
        #[arg(
            long = "dns-server",
            value_name = "IP",
            conflicts_with = "clear_dns_servers"
        )]
        dns_servers: Vec<String>,
        /// Remove every upstream resolver.
        #[arg(long = "clear-dns-servers")]
        clear_dns_servers: bool,
        /// Renumber static peers even though their downloaded configs break.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a network and everything in it.
    #[command(alias = "rm")]
    Delete {
        network: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Address usage and allocations.
    Ipam { network: String },
}

// ---------------------------------------------------------------- peers

#[derive(Debug, Subcommand)]
pub enum PeerCmd {
    /// Add a peer (addresses are allocated per the network's mode).
    Add {
        network: String,
        name: String,
        /// A jump peer (relays, filters, serves DNS; runs the agent).
        #[arg(long)]
        jump: bool,
        /// Managed by the agent (a token is printed once).
        #[arg(long)]
        agent: bool,
        /// Ask for this IPv4 address.
        #[arg(long, value_name = "ADDRESS")]
        ipv4: Option<String>,
        /// Ask for this IPv6 address.
        #[arg(long, value_name = "ADDRESS")]
        ipv6: Option<String>,
        /// WireGuard public key of a static peer (else a key pair is generated).
        #[arg(long = "public-key", value_name = "KEY")]
        public_key: Option<String>,
        /// Public host or host:port.
        #[arg(long)]
        endpoint: Option<String>,
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
    List { network: String },
    /// Show one peer.
    Show { network: String, peer: String },
    /// Change a peer.
    Update {
        network: String,
        peer: String,
        #[arg(long)]
        name: Option<String>,
        /// Make the peer agent-managed.
        #[arg(long, conflicts_with = "no_agent")]
        agent: bool,
        /// Make the peer static.
        #[arg(long = "no-agent")]
        no_agent: bool,
        #[arg(long, value_name = "ADDRESS")]
        ipv4: Option<String>,
        #[arg(long, value_name = "ADDRESS")]
        ipv6: Option<String>,
        #[arg(
            long = "public-key",
            value_name = "KEY",
            conflicts_with = "clear_public_key"
        )]
        public_key: Option<String>,
        #[arg(long = "clear-public-key")]
        clear_public_key: bool,
        #[arg(long, conflicts_with = "clear_endpoint")]
        endpoint: Option<String>,
        #[arg(long = "clear-endpoint")]
        clear_endpoint: bool,
        #[arg(
            long = "listen-port",
            value_name = "PORT",
            conflicts_with = "clear_listen_port"
        )]
        listen_port: Option<u16>,
        #[arg(long = "clear-listen-port")]
        clear_listen_port: bool,
        /// Replace the subnets routed behind this peer (repeatable).
        #[arg(
            long = "allowed-ip",
            value_name = "CIDR",
            conflicts_with = "clear_allowed_ips"
        )]
        allowed_ips: Vec<String>,
        #[arg(long = "clear-allowed-ips")]
        clear_allowed_ips: bool,
        /// Replace the peer's groups (repeatable; id or name).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        #[arg(long = "ipv6-nat", conflicts_with = "no_ipv6_nat")]
        ipv6_nat: bool,
        #[arg(long = "no-ipv6-nat")]
        no_ipv6_nat: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Remove a peer (its addresses and DNS records go with it).
    #[command(alias = "rm", alias = "delete")]
    Remove {
        network: String,
        peer: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Print the peer's wg-quick configuration.
    Config { network: String, peer: String },
    /// Rotate the peer's agent token (the new token is shown once).
    Token { network: String, peer: String },
    /// Show a jump peer's firewall rules and forwarding.
    Firewall { network: String, peer: String },
}

// ---------------------------------------------------------------- groups

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Create {
        network: String,
        name: String,
        /// Lower first (server default 100).
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the groups of a network.
    #[command(alias = "ls")]
    List { network: String },
    /// Show one group.
    Show { network: String, group: String },
    /// Change a group.
    Update {
        network: String,
        group: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a group.
    #[command(alias = "rm")]
    Delete {
        network: String,
        group: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Put a peer into the group.
    AddPeer {
        network: String,
        group: String,
        peer: String,
    },
    /// Take a peer out of the group.
    RemovePeer {
        network: String,
        group: String,
        peer: String,
    },
    /// Attach a policy to the group (appended to its policy order).
    AttachPolicy {
        network: String,
        group: String,
        policy: String,
    },
    /// Detach a policy from the group.
    DetachPolicy {
        network: String,
        group: String,
        policy: String,
    },
    /// Attach a route to the group.
    AttachRoute {
        network: String,
        group: String,
        route: String,
    },
    /// Detach a route from the group.
    DetachRoute {
        network: String,
        group: String,
        route: String,
    },
}

// ---------------------------------------------------------------- policies

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Create a policy.
    Create {
        network: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// "<direction> <action> <target_type> [target]", e.g. "output allow cidr 10.0.0.0/24"
        /// (repeatable; peer and group targets may be names).
        #[arg(long = "rule", value_name = "RULE")]
        rules: Vec<String>,
    },
    /// List the policies of a network.
    #[command(alias = "ls")]
    List { network: String },
    /// Show one policy and its rules.
    Show { network: String, policy: String },
    /// Change a policy (--rule replaces every rule).
    Update {
        network: String,
        policy: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long = "rule", value_name = "RULE", conflicts_with = "clear_rules")]
        rules: Vec<String>,
        /// Remove every rule.
        #[arg(long = "clear-rules")]
        clear_rules: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a policy.
    #[command(alias = "rm")]
    Delete {
        network: String,
        policy: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Append a rule: "<direction> <action> <target_type> [target]".
    AddRule {
        network: String,
        policy: String,
        /// The rule, quoted or as separate words.
        #[arg(required = true, num_args = 1.., value_name = "RULE")]
        rule: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove a rule by id.
    RemoveRule {
        network: String,
        policy: String,
        rule_id: String,
    },
}

// ---------------------------------------------------------------- routes

#[derive(Debug, Subcommand)]
pub enum RouteCmd {
    /// Create a route through a jump peer.
    Create {
        network: String,
        name: String,
        #[arg(long, value_name = "CIDR")]
        destination: String,
        /// The jump peer (id or name).
        #[arg(long, value_name = "JUMP")]
        via: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the routes of a network.
    #[command(alias = "ls")]
    List { network: String },
    /// Show one route.
    Show { network: String, route: String },
    /// Change a route.
    Update {
        network: String,
        route: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "CIDR")]
        destination: Option<String>,
        #[arg(long, value_name = "JUMP")]
        via: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a route (and its DNS mappings).
    #[command(alias = "rm")]
    Delete {
        network: String,
        route: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
}

// ---------------------------------------------------------------- DNS

#[derive(Debug, Subcommand)]
pub enum DnsCmd {
    /// Map a name (relative to the network domain; `*` wildcard allowed) to an address
    /// inside the route's destination.
    Add {
        network: String,
        route: String,
        name: String,
        ip: String,
    },
    /// A route's mappings; without a route, every record of the network.
    #[command(alias = "ls")]
    List {
        network: String,
        route: Option<String>,
    },
    /// Show one mapping.
    Show {
        network: String,
        route: String,
        mapping: String,
    },
    /// Change a mapping.
    Update {
        network: String,
        route: String,
        mapping: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        ip: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a mapping (id or name).
    #[command(alias = "rm")]
    Delete {
        network: String,
        route: String,
        mapping: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
}

// ---------------------------------------------------------------- cluster, tokens

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Leader, term, log indexes and members, as the answering node sees them.
    Status,
    /// Add a node as a learner.
    Add {
        id: u64,
        /// The node's advertised URL, e.g. http://10.0.0.2:7070.
        url: String,
    },
    /// Promote a learner to voter.
    Promote { id: u64 },
    /// Remove a node from the cluster.
    #[command(alias = "rm")]
    Remove { id: u64 },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an admin token (shown once).
    Create { name: String },
    /// List admin tokens.
    #[command(alias = "ls")]
    List,
    /// Delete an admin token (id or name).
    #[command(alias = "rm")]
    Delete { token: String },
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Save a backup of the whole replicated state to a file (`-` for stdout).
    Save { file: PathBuf },
    /// Replace the whole cluster state with a backup (every node, every network).
    Restore { file: PathBuf },
}
