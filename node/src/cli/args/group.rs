//! `raftwire group …`.

use clap::Subcommand;

use super::IfMatch;

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Create {
        /// The network (id or name).
        network: String,
        /// Name of the group.
        name: String,
        /// Order among the groups of a peer: lower first [default: 100].
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the groups of a network.
    #[command(alias = "ls")]
    List {
        /// The network (id or name).
        network: String,
    },
    /// Show one group.
    Show {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
    },
    /// Change a group.
    Update {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New priority (lower first).
        #[arg(long, allow_negative_numbers = true)]
        priority: Option<i64>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Delete a group.
    #[command(alias = "rm")]
    Delete {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        #[command(flatten)]
        if_match: IfMatch,
    },
    /// Put a peer into the group.
    AddPeer {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The peer (id or name).
        peer: String,
    },
    /// Take a peer out of the group.
    RemovePeer {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The peer (id or name).
        peer: String,
    },
    /// Attach a policy to the group (appended to its policy order).
    AttachPolicy {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The policy (id or name).
        policy: String,
    },
    /// Detach a policy from the group.
    DetachPolicy {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The policy (id or name).
        policy: String,
    },
    /// Attach a route to the group.
    AttachRoute {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The route (id or name).
        route: String,
    },
    /// Detach a route from the group.
    DetachRoute {
        /// The network (id or name).
        network: String,
        /// The group (id or name).
        group: String,
        /// The route (id or name).
        route: String,
    },
}
