//! `raftwire route …`.

use clap::Subcommand;

use super::IfMatch;

#[derive(Debug, Subcommand)]
pub enum RouteCmd {
    /// Create a route through a jump peer.
    Create {
        /// The network (id or name).
        network: String,
        /// Name of the route.
        name: String,
        /// The subnet reached through the jump, e.g. 192.168.1.0/24.
        #[arg(long, value_name = "CIDR")]
        destination: String,
        /// The jump peer (id or name).
        #[arg(long, value_name = "JUMP")]
        via: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the routes of a network.
    #[command(alias = "ls")]
    List {
        /// The network (id or name).
        network: String,
    },
    /// Show one route.
    Show {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
    },
    /// Change a route.
    Update {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New destination subnet.
        #[arg(long, value_name = "CIDR")]
        destination: Option<String>,
        /// New jump peer (id or name).
        #[arg(long, value_name = "JUMP")]
        via: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a route (and its DNS mappings).
    #[command(alias = "rm")]
    Delete {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
}
