//! `raftwire network …`.

use clap::Subcommand;
use raftwire_api::IpStackMode;

use super::{mode_parser, IfMatch};

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Name of the network (a DNS label: lowercase letters, digits, `-`).
        name: String,
        /// Stack mode [default: from the CIDRs given: both → dual, only --ipv6-cidr →
        /// ipv6, else ipv4].
        #[arg(long, value_parser = mode_parser())]
        mode: Option<IpStackMode>,
        /// IPv4 address space of the peers, e.g. 10.10.0.0/24.
        #[arg(long = "ipv4-cidr", value_name = "CIDR")]
        ipv4_cidr: Option<String>,
        /// IPv6 address space of the peers, e.g. fd00:10::/64.
        #[arg(long = "ipv6-cidr", value_name = "CIDR")]
        ipv6_cidr: Option<String>,
        /// DNS zone [default: <name>.internal].
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
    Show {
        /// The network (id or name).
        network: String,
    },
    /// Change a network (mode and CIDR changes renumber peers).
    Update {
        /// The network (id or name).
        network: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New stack mode (give the CIDR of a family it adds).
        #[arg(long, value_parser = mode_parser())]
        mode: Option<IpStackMode>,
        /// New IPv4 address space (renumbers the peers' IPv4 addresses).
        #[arg(long = "ipv4-cidr", value_name = "CIDR")]
        ipv4_cidr: Option<String>,
        /// New IPv6 address space (renumbers the peers' IPv6 addresses).
        #[arg(long = "ipv6-cidr", value_name = "CIDR")]
        ipv6_cidr: Option<String>,
        /// New DNS zone.
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
        /// Show what the change would do (addresses per peer and family, static peers that
        /// need their config again, agents sent a new one) and change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a network and everything in it.
    #[command(alias = "rm")]
    Delete {
        /// The network (id or name).
        network: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Address usage and allocations.
    Ipam {
        /// The network (id or name).
        network: String,
    },
}
