//! `raftwire cluster …`.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Leader, term, log indexes and members, as the answering node sees them.
    Status,
    /// Add a node as a learner.
    Add {
        /// The node's id (its --id).
        id: u64,
        /// The node's advertised URL, e.g. http://10.0.0.2:7070.
        url: String,
    },
    /// Promote a learner to voter.
    Promote {
        /// The node's id.
        id: u64,
    },
    /// Remove a node from the cluster.
    #[command(alias = "rm")]
    Remove {
        /// The node's id.
        id: u64,
    },
}
