//! The command line of `raftwire`: global options and one subcommand per API call, one
//! module per entity (as the HTTP handlers are).

mod cluster;
mod dns;
mod group;
mod network;
mod peer;
mod policy;
mod route;
mod snapshot;
mod token;

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use raftwire_api::IpStackMode;

pub use cluster::ClusterCmd;
pub use dns::DnsCmd;
pub use group::GroupCmd;
pub use network::NetworkCmd;
pub use peer::PeerCmd;
pub use policy::PolicyCmd;
pub use route::RouteCmd;
pub use snapshot::SnapshotCmd;
pub use token::TokenCmd;

/// The heading of the options every command takes, apart from the command's own.
pub const GLOBAL: &str = "Global options";

const AFTER_HELP: &str = "\
Authentication: the CLI sends an admin token, the first of
  --token <token>              (or RAFTWIRE_TOKEN: the token itself)
  --token-file <file>          (or RAFTWIRE_TOKEN_FILE: a file holding it)
  ./data/admin-token           (the file a default `raftwire-node` writes), if it exists
A flag given on the command line wins over the environment; a token file over a token.
RAFTWIRE_ADMIN_TOKEN and RAFTWIRE_ADMIN_TOKEN_FILE are the node's settings (the bootstrap
admin token `raftwire-node` creates), not the CLI's.

Networks, peers, groups, policies and routes may be named by id or by name.

Writes are retried under one Idempotency-Key (applied once, however many attempts reach
the server) while the cluster has no leader or the server does not answer, for up to
--retry-timeout seconds (a server that refuses the first connection is not waited for); a
write given up on prints its key, to repeat it safely with --idempotency-key <key>.

Exit status: 0 success; 1 error (the server's code and detail are printed on stderr, or
its problem+json with -o json); 2 the server could not be reached.";

#[derive(Debug, Parser)]
#[command(
    name = "raftwire",
    version,
    about = "Command-line client of the Raftwire control plane",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// URL of any node of the cluster [default: http://127.0.0.1:7070].
    #[arg(
        long,
        env = "RAFTWIRE_SERVER",
        value_name = "URL",
        global = true,
        help_heading = GLOBAL
    )]
    pub server: Option<String>,
    /// Admin token to send (not the node's RAFTWIRE_ADMIN_TOKEN, though it may hold the same
    /// token).
    #[arg(
        id = "admin_token",
        long = "token",
        env = "RAFTWIRE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL
    )]
    pub token: Option<String>,
    /// File holding the admin token to send [default: ./data/admin-token, if it exists].
    #[arg(
        id = "admin_token_file",
        long = "token-file",
        env = "RAFTWIRE_TOKEN_FILE",
        value_name = "FILE",
        global = true,
        help_heading = GLOBAL
    )]
    pub token_file: Option<PathBuf>,
    /// Certificates (PEM) to trust for an https:// server [default: the platform's roots].
    #[arg(
        long,
        env = "RAFTWIRE_CA_CERT",
        value_name = "FILE",
        global = true,
        help_heading = GLOBAL
    )]
    pub ca_cert: Option<PathBuf>,
    /// Output format: human-readable tables, or the server's JSON (errors too, on stderr).
    #[arg(
        short = 'o',
        long = "output",
        env = "RAFTWIRE_OUTPUT",
        value_enum,
        default_value_t = Output::Table,
        global = true,
        help_heading = GLOBAL
    )]
    pub output: Output,
    /// How long to keep retrying while the cluster has no leader (e.g. during a leader
    /// failover) or the server does not answer; 0 tries once.
    #[arg(
        long = "retry-timeout",
        env = "RAFTWIRE_RETRY_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 30,
        global = true,
        help_heading = GLOBAL
    )]
    pub retry_timeout: u64,
    /// Idempotency key of the write (1 to 255 visible ASCII characters): a write repeated
    /// with the same key is applied once and gets the first answer [default: a new key].
    #[arg(
        long = "idempotency-key",
        value_name = "KEY",
        global = true,
        help_heading = GLOBAL
    )]
    pub idempotency_key: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// `--mode`: the api's stack mode, parsed by its `FromStr`; `--help` lists its names.
pub fn mode_parser() -> impl TypedValueParser<Value = IpStackMode> {
    PossibleValuesParser::new(IpStackMode::ALL.map(IpStackMode::as_str))
        .try_map(|s| s.parse::<IpStackMode>())
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
    /// Only apply if the object's current version is this one (see `show`).
    #[arg(long = "if-match", value_name = "VERSION")]
    pub if_match: Option<u64>,
}

impl IfMatch {
    pub const NONE: IfMatch = IfMatch { if_match: None };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every option, positional and subcommand has a description.
    #[test]
    fn everything_is_described() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "raftwire", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
