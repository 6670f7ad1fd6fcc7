//! The state every handler shares: this node's Raft, its state machine, and the HTTP client
//! it uses to talk to the other nodes.

use std::ops::Deref;
use std::sync::Arc;

use raftwire_raft_store::store::StateMachineStore;
use raftwire_raft_store::types::Raft;
use raftwire_raft_store::State;
use tokio::sync::watch;

use crate::http::error::ApiError;
use crate::hub::Hub;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub id: u64,
    pub advertise: String,
    pub raft: Raft,
    /// Where every write is proposed (grouped into batch entries under load).
    pub batcher: crate::batcher::Batcher,
    /// What the members can read (whether the leader may batch).
    pub features: Arc<crate::cluster::features::Features>,
    pub sm: StateMachineStore,
    /// Last log index applied by this node's state machine.
    pub applied: watch::Receiver<u64>,
    /// Last log index this node knows to be committed.
    pub committed: watch::Receiver<u64>,
    pub http: reqwest::Client,
    pub cluster_secret: String,
    /// Hash of this node's bootstrap admin token.
    pub local_admin_hash: String,
    /// True from a fresh start until that token is replicated: only then is it accepted
    /// without being in the replicated state. Afterwards the state alone decides, so
    /// deleting the token (`DELETE /tokens/{id}`) revokes it on every node.
    pub admin_pending: std::sync::atomic::AtomicBool,
    pub metrics: Metrics,
    pub hub: Hub,
    /// Queue of agents' status changes to the replicated state.
    pub agent_status: crate::agent_status::StatusWriter,
    /// How long this node may know no leader before it sends its agents away.
    pub leaderless_limit: std::time::Duration,
    /// Bounds the quorum rounds that unknown bearer tokens cause.
    pub token_catch_up: crate::http::token_catch_up::TokenCatchUp,
    /// When this node last heard from a leader (an append-entries or heartbeat).
    pub leader_contact: LeaderContact,
    /// The web UI's sign-in sessions on this node.
    pub ui: crate::ui::Sessions,
    /// Becomes true when the node stops: long-lived connections (Raft streams) end then.
    pub stopping: watch::Receiver<bool>,
}

/// When a follower last heard from a leader: openraft 0.9 shows a leader how long ago a
/// quorum acknowledged it, but shows a follower nothing of the kind, so the node records it
/// where the leader's append-entries arrive (`cluster::internal`).
pub struct LeaderContact {
    start: std::time::Instant,
    /// Milliseconds after `start` of the last contact.
    last_ms: std::sync::atomic::AtomicU64,
}

impl Default for LeaderContact {
    /// Starting counts as contact: a restarted node knows its leader from its stored vote
    /// and hears from it within a heartbeat.
    fn default() -> Self {
        LeaderContact {
            start: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl LeaderContact {
    /// A leader's append-entries (or heartbeat) arrived now.
    pub fn heard(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms
            .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long ago the last contact was.
    pub fn since(&self) -> std::time::Duration {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.start
            .elapsed()
            .saturating_sub(std::time::Duration::from_millis(last))
    }
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    pub fn new(inner: AppInner) -> App {
        App(Arc::new(inner))
    }

    /// How many handles to this node's state exist (tasks, connections, the caller's).
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Runs `f` on the applied state (one consistent snapshot: derivations never mix two).
    pub fn with_state<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, ApiError> {
        self.sm
            .read(|d| f(&d.state))
            .map_err(|e| ApiError::internal(format!("state machine unavailable: {e}")))
    }

    pub fn committed_index(&self) -> u64 {
        *self.committed.borrow()
    }

    /// Copies openraft's view of the cluster into the Prometheus gauges.
    pub fn refresh_raft_metrics(&self) {
        let m = self.raft.metrics().borrow().clone();
        self.metrics.term.set(m.current_term as i64);
        self.metrics
            .leader
            .set(m.current_leader.unwrap_or(0) as i64);
        self.metrics
            .is_leader
            .set(i64::from(m.current_leader == Some(self.id)));
        self.metrics.commit_index.set(self.committed_index() as i64);
        self.metrics.applied_index.set(self.applied_index() as i64);
    }

    /// The index of the last log entry this node applied.
    pub fn applied_index(&self) -> u64 {
        *self.applied.borrow()
    }
}
