//! `raftwire token …`.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an admin token (shown once).
    Create {
        /// Name of the token (what it is for).
        name: String,
    },
    /// List admin tokens.
    #[command(alias = "ls")]
    List,
    /// Delete an admin token (id or name).
    #[command(alias = "rm")]
    Delete {
        /// The token (id or name; not the secret).
        #[arg(id = "token_name", value_name = "TOKEN")]
        token: String,
    },
}
