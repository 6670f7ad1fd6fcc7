//! `raftwire dns …`.

use clap::Subcommand;

use super::IfMatch;

#[derive(Debug, Subcommand)]
pub enum DnsCmd {
    /// Map a name (relative to the network domain; `*` wildcard allowed) to an address
    /// inside the route's destination.
    Add {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        /// The name, relative to the network's domain (e.g. `printer` or `*.svc`).
        name: String,
        /// The address it resolves to, inside the route's destination.
        ip: String,
    },
    /// A route's mappings; without a route, every record of the network.
    #[command(alias = "ls")]
    List {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: Option<String>,
    },
    /// Show one mapping.
    Show {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        /// The mapping (id or name).
        mapping: String,
    },
    /// Change a mapping.
    Update {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        /// The mapping (id or name).
        mapping: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New address.
        #[arg(long)]
        ip: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a mapping (id or name).
    #[command(alias = "rm")]
    Delete {
        /// The network (id or name).
        network: String,
        /// The route (id or name).
        route: String,
        /// The mapping (id or name).
        mapping: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
}
