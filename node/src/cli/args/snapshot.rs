//! `raftwire snapshot …`.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SnapshotCmd {
    /// Save a backup of the whole replicated state to a file (`-` for stdout).
    Save {
        /// Where to write the backup (`-` for stdout).
        file: PathBuf,
    },
    /// Replace the whole cluster state with a backup (every node, every network).
    Restore {
        /// The backup written by `snapshot save`.
        file: PathBuf,
    },
}
