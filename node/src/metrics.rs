//! Prometheus metrics: Raft term, leader, commit/applied index, connected agents, and
//! request latency histograms by route.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub term: Gauge,
    pub leader: Gauge,
    pub is_leader: Gauge,
    pub commit_index: Gauge,
    pub applied_index: Gauge,
    pub connected_agents: Gauge,
    /// Leadership confirmations with a quorum run by this node (its own reads and those it
    /// serves for followers).
    pub read_index: Counter,
    /// Log entries holding a batch of writes (`batcher.rs`), and the writes they held.
    pub write_batches: Counter,
    pub batched_writes: Counter,
    pub requests: Family<RouteLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("raftwire");
        let m = Metrics {
            registry: Arc::new(Mutex::new(Registry::default())),
            term: Gauge::default(),
            leader: Gauge::default(),
            is_leader: Gauge::default(),
            commit_index: Gauge::default(),
            applied_index: Gauge::default(),
            connected_agents: Gauge::default(),
            read_index: Counter::default(),
            write_batches: Counter::default(),
            batched_writes: Counter::default(),
            requests: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0005, 2.0, 16))
            }),
        };
        registry.register("raft_term", "Current Raft term", m.term.clone());
        registry.register(
            "raft_leader_id",
            "Id of the known leader (0: none)",
            m.leader.clone(),
        );
        registry.register(
            "raft_is_leader",
            "1 when this node leads",
            m.is_leader.clone(),
        );
        registry.register(
            "raft_commit_index",
            "Last committed log index",
            m.commit_index.clone(),
        );
        registry.register(
            "raft_applied_index",
            "Last applied log index",
            m.applied_index.clone(),
        );
        registry.register(
            "agents_connected",
            "Agents connected to this node",
            m.connected_agents.clone(),
        );
        registry.register(
            "read_index",
            "Leadership confirmations (read-index quorum rounds) run by this node",
            m.read_index.clone(),
        );
        registry.register(
            "write_batches",
            "Log entries this node proposed holding more than one write",
            m.write_batches.clone(),
        );
        registry.register(
            "batched_writes",
            "Writes this node proposed inside such batch entries",
            m.batched_writes.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            m.requests.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = registry;
        m
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}
