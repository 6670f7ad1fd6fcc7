//! Command-line flags of `raftwire-node` (see the README). Every flag also reads
//! `RAFTWIRE_<FLAG>` from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "raftwire-node", version, about = "Raftwire control-plane node")]
pub struct NodeArgs {
    /// This node's Raft id (unique in the cluster).
    #[arg(long, env = "RAFTWIRE_ID", default_value_t = 1)]
    pub id: u64,
    /// Where the Raft log, snapshots and token files live.
    #[arg(long, env = "RAFTWIRE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address the HTTP API (and Raft RPC) listens on.
    #[arg(long, env = "RAFTWIRE_LISTEN", default_value = "127.0.0.1:7070")]
    pub listen: SocketAddr,
    /// URL other nodes and agents use to reach this node; defaults to http://<listen>.
    #[arg(long, env = "RAFTWIRE_ADVERTISE")]
    pub advertise: Option<String>,
    /// Bootstrap admin token: read if present, else generated and written (mode 0600).
    /// Default: <data-dir>/admin-token. `RAFTWIRE_ADMIN_TOKEN` (the token itself) wins.
    #[arg(long, env = "RAFTWIRE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Secret shared by every node of the cluster (same rule). Default: <data-dir>/cluster-secret.
    #[arg(long, env = "RAFTWIRE_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Initialise a new single-voter cluster. Implied with no --join, an empty data dir and --id 1.
    #[arg(long, env = "RAFTWIRE_BOOTSTRAP")]
    pub bootstrap: bool,
    /// Ask the node at this URL to add this one as a learner, then promote it once caught up.
    #[arg(long, env = "RAFTWIRE_JOIN")]
    pub join: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "RAFTWIRE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "RAFTWIRE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Certificates (PEM) trusted when calling other nodes over HTTPS; default: --tls-cert.
    #[arg(long, env = "RAFTWIRE_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Take a Raft snapshot (and purge the log before it) once every this many entries, at a
    /// log index of this node's own (staggered by a third of the interval per node id modulo
    /// 3, so that members do not all encode at once). Fewer means smaller logs and faster
    /// restarts, more snapshot work.
    #[arg(long, env = "RAFTWIRE_SNAPSHOT_EVERY", default_value_t = RaftTiming::default().snapshot_every,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,
}

/// The resolved configuration a node runs with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub advertise: String,
    /// The advertised URL is `advertise`'s scheme with the address the listener was bound
    /// to (`--listen` with port 0 and no `--advertise`).
    pub advertise_bound: bool,
    pub admin_token_file: PathBuf,
    /// The bootstrap admin token itself (from `RAFTWIRE_ADMIN_TOKEN`); overrides the file.
    pub admin_token: Option<String>,
    pub cluster_secret_file: PathBuf,
    pub bootstrap: bool,
    pub join: Option<String>,
    /// HTTPS for the API and node-to-node traffic.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Raft timing; tests shorten it.
    pub raft: RaftTiming,
}

#[derive(Debug, Clone, Copy)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Take a snapshot after this many log entries since the last one.
    pub snapshot_every: u64,
    /// A node that has known no leader for this long sends its agents away, so they fail
    /// over to a node that has one.
    pub leaderless_limit_ms: u64,
}

/// Production timing. A leader's loss costs about one leader lease (the election timeout's
/// maximum, 1.2 s here) before a new leader is elected (`crate::election`), so the write gap
/// through a load balancer stays under 2 s. openraft 0.9 also gives every append-entries
/// round the heartbeat interval to complete, so the heartbeat bounds how large a batch can
/// replicate: a large restore travels in 1 MiB parts (its tests replicate them with a 50 ms
/// heartbeat on loopback; across a slow link, measure before lowering the heartbeat).
impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 150,
            election_min_ms: 600,
            election_max_ms: 1200,
            snapshot_every: 10_000,
            leaderless_limit_ms: 15_000,
        }
    }
}

impl NodeArgs {
    pub fn resolve(self) -> NodeConfig {
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert,
                key,
                ca: self.tls_ca,
            }),
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        // With `--listen …:0` and no `--advertise`, the node advertises the port it is given.
        let advertise_bound = self.advertise.is_none() && self.listen.port() == 0;
        let advertise = self
            .advertise
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen))
            .trim_end_matches('/')
            .to_string();
        NodeConfig {
            admin_token_file: self
                .admin_token_file
                .unwrap_or_else(|| self.data_dir.join("admin-token")),
            cluster_secret_file: self
                .cluster_secret_file
                .unwrap_or_else(|| self.data_dir.join("cluster-secret")),
            admin_token: std::env::var("RAFTWIRE_ADMIN_TOKEN")
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            id: self.id,
            data_dir: self.data_dir,
            listen: self.listen,
            advertise,
            advertise_bound,
            bootstrap: self.bootstrap,
            join: self.join,
            tls,
            raft: RaftTiming {
                snapshot_every: self.snapshot_every,
                ..RaftTiming::default()
            },
        }
    }
}
