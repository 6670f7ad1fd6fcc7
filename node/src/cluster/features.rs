//! What every member of the cluster can read, so that a leader writes only log entries all
//! of them understand: during a rolling upgrade, releases mix.
//!
//! Each node answers `POST /internal/features` with the newest log schema version it reads.
//! Every node asks every other member every [`PROBE_EVERY`], and the node admitting a new
//! member asks it before adding it. A node of an earlier release has no such route: it
//! answers 404 and counts as [`EARLIER_RELEASE`]. A member that cannot be reached keeps what
//! it answered last; one never heard from is unknown, and counts as unable to read anything
//! new until it answers.
//!
//! Today the only thing gated is write batching (log entries of schema version 5, see
//! `batcher.rs`): a leader batches while every member reads version 5.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftwire_raft_store::codec::{BATCH_SCHEMA_VERSION, NEWEST_SCHEMA_VERSION};
use raftwire_raft_store::types::NodeId;
use serde::{Deserialize, Serialize};

use super::client::{call_with, RpcFailure};
use super::rpc::INTERNAL_FEATURES;
use crate::app::App;

/// How often each node asks the others.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// How long one question may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a node that does not know the question (an earlier release) is recorded as.
pub const EARLIER_RELEASE: u16 = 0;

/// The answer to `/internal/features`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSet {
    /// The newest schema version of log entries (and snapshots) this node reads.
    pub log_schema: u16,
}

impl FeatureSet {
    /// This build's.
    pub fn own() -> FeatureSet {
        FeatureSet {
            log_schema: NEWEST_SCHEMA_VERSION,
        }
    }
}

/// What this node knows of the members' features, and what follows from it.
pub struct Features {
    own_id: NodeId,
    /// The newest log schema each node is known to read (this node's own included).
    known: Mutex<BTreeMap<NodeId, u16>>,
    batches: AtomicBool,
    /// Batch entries proposed and not yet answered (see [`Features::begin_batch`]).
    batches_in_flight: AtomicUsize,
}

/// A batch entry being proposed: held until its proposal is answered.
pub struct BatchTicket(Arc<Features>);

impl Drop for BatchTicket {
    fn drop(&mut self) {
        self.0.batches_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Features {
    pub fn new(own_id: NodeId) -> Features {
        Features {
            own_id,
            known: Mutex::new(BTreeMap::from([(own_id, NEWEST_SCHEMA_VERSION)])),
            batches: AtomicBool::new(false),
            batches_in_flight: AtomicUsize::new(0),
        }
    }

    /// Whether every member (as of the last [`Features::update`]) reads batch entries.
    pub fn batches(&self) -> bool {
        self.batches.load(Ordering::SeqCst)
    }

    /// A ticket to propose one batch entry, if batches may be written now. Counted before
    /// the gate is read: once [`Features::update`] closed the gate and the count fell to
    /// zero, no batch entry is still on its way into the log.
    pub fn begin_batch(self: &Arc<Self>) -> Option<BatchTicket> {
        self.batches_in_flight.fetch_add(1, Ordering::SeqCst);
        let ticket = BatchTicket(self.clone());
        self.batches().then_some(ticket)
    }

    /// Waits until every batch entry proposed so far has been answered.
    async fn batches_settled(&self) {
        while self.batches_in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, u16>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what node `id` answered.
    pub fn record(&self, id: NodeId, log_schema: u16) {
        self.known().insert(id, log_schema);
    }

    /// Recomputes what the cluster of `members` may be sent, and forgets former members.
    pub fn update(&self, members: &[NodeId]) {
        let mut known = self.known();
        let all_read_batches = members
            .iter()
            .all(|id| known.get(id).is_some_and(|v| *v >= BATCH_SCHEMA_VERSION));
        let own = self.own_id;
        known.retain(|id, _| *id == own || members.contains(id));
        let before = self.batches.swap(all_read_batches, Ordering::SeqCst);
        if before != all_read_batches {
            let unable: Vec<NodeId> = members
                .iter()
                .filter(|id| known.get(id).is_none_or(|v| *v < BATCH_SCHEMA_VERSION))
                .copied()
                .collect();
            if all_read_batches {
                tracing::info!("every member reads batch entries: writes are batched");
            } else {
                tracing::info!(
                    "members {unable:?} are of an earlier release or not heard from yet: \
                     writes are not batched"
                );
            }
        }
    }
}

/// Asks the node at `addr`: `Some` of what it reads, or `None` if it could not be reached.
async fn probe(app: &App, addr: &str) -> Option<u16> {
    let answer = call_with::<(), FeatureSet>(
        &app.http,
        &app.cluster_secret,
        addr,
        INTERNAL_FEATURES,
        &(),
        PROBE_TIMEOUT,
    )
    .await;
    match answer {
        Ok(f) => Some(f.log_schema),
        // An earlier release does not know the route.
        Err(RpcFailure::Rejected(404, _)) => Some(EARLIER_RELEASE),
        Err(e) => {
            tracing::debug!("features of {addr}: {e}");
            None
        }
    }
}

/// The members of the current membership config (voters and learners) and their addresses.
fn members(app: &App) -> Vec<(NodeId, String)> {
    let metrics = app.raft.metrics().borrow().clone();
    metrics
        .membership_config
        .membership()
        .nodes()
        .map(|(id, node)| (*id, node.addr.clone()))
        .collect()
}

/// Asks every other member, records the answers and recomputes the gate.
pub async fn refresh(app: &App) {
    let members = members(app);
    let asked = members
        .iter()
        .filter(|(id, _)| *id != app.id)
        .map(|(id, addr)| async move { (*id, probe(app, addr).await) });
    for (id, answer) in futures::future::join_all(asked).await {
        if let Some(v) = answer {
            app.features.record(id, v);
        }
    }
    let ids: Vec<NodeId> = members.iter().map(|(id, _)| *id).collect();
    app.features.update(&ids);
}

/// Before node `id` at `addr` joins: asks it. A node of an earlier release stops batching
/// before it is sent anything; if this node leads and was batching, its log is also
/// compacted past every batch entry, so the joiner starts from a snapshot.
pub async fn admit(app: &App, id: NodeId, addr: &str) {
    let was_batching = app.features.batches();
    let answer = probe(app, addr).await;
    if let Some(v) = answer {
        app.features.record(id, v);
    }
    let mut ids: Vec<NodeId> = members(app).into_iter().map(|(id, _)| id).collect();
    if !ids.contains(&id) {
        ids.push(id);
    }
    app.features.update(&ids);
    let earlier = answer.is_some_and(|v| v < BATCH_SCHEMA_VERSION);
    let leads = app.raft.metrics().borrow().current_leader == Some(app.id);
    if was_batching && earlier && leads {
        if let Err(e) = compact_past_batches(app).await {
            tracing::warn!(
                "node {id} runs an earlier release, and the log could not be compacted past                  its batch entries ({e}): it may not catch up until the next snapshot"
            );
        }
    }
}

/// How long compacting the log for an earlier-release joiner may take.
const COMPACT_TIMEOUT: Duration = Duration::from_secs(30);

/// Once no batch entry is on its way into the log, snapshots everything applied and purges
/// the log up to it: a node that cannot read batch entries is then sent that snapshot and
/// only the (unbatched) entries after it.
async fn compact_past_batches(app: &App) -> Result<(), String> {
    tokio::time::timeout(COMPACT_TIMEOUT, app.features.batches_settled())
        .await
        .map_err(|_| "batch entries still in flight".to_string())?;
    let last = app.raft.metrics().borrow().last_log_index.unwrap_or(0);
    let reached =
        |id: Option<raftwire_raft_store::types::LogId>| id.is_some_and(|l| l.index >= last);
    wait_until(
        app,
        |m| reached(m.last_applied),
        "applied the batch entries",
    )
    .await?;
    app.raft
        .trigger()
        .snapshot()
        .await
        .map_err(|e| e.to_string())?;
    wait_until(
        app,
        |m| reached(m.snapshot),
        "snapshot past the batch entries",
    )
    .await?;
    app.raft
        .trigger()
        .purge_log(last)
        .await
        .map_err(|e| e.to_string())?;
    wait_until(
        app,
        |m| reached(m.purged),
        "log purged past the batch entries",
    )
    .await?;
    tracing::info!("log compacted to index {last} for a node of an earlier release");
    Ok(())
}

/// Waits (at most [`COMPACT_TIMEOUT`]) until this node's Raft metrics satisfy `cond`.
async fn wait_until(
    app: &App,
    cond: impl Fn(&raftwire_raft_store::types::RaftMetrics) -> bool + Send,
    what: &str,
) -> Result<(), String> {
    app.raft
        .wait(Some(COMPACT_TIMEOUT))
        .metrics(cond, what)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Keeps the gate current: runs until the node stops.
pub async fn watch(app: App) {
    loop {
        refresh(&app).await;
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_only_while_every_member_is_known_to_read_them() {
        let f = Features::new(1);
        f.update(&[1]);
        assert!(f.batches(), "alone, this node decides");
        // A member never heard from holds batching back until it answers.
        f.update(&[1, 2, 3]);
        assert!(!f.batches());
        f.record(2, NEWEST_SCHEMA_VERSION);
        f.record(3, BATCH_SCHEMA_VERSION);
        f.update(&[1, 2, 3]);
        assert!(f.batches());
        // A member of an earlier release (it answered 404) stops batching.
        f.record(4, EARLIER_RELEASE);
        f.update(&[1, 2, 3, 4]);
        assert!(!f.batches());
        // Once it left, what it answered is forgotten with it.
        f.update(&[1, 2, 3]);
        assert!(f.batches());
        f.update(&[1, 2, 3, 4]);
        assert!(!f.batches(), "a returning node is asked again");
    }

    #[test]
    fn this_node_counts_even_before_it_is_in_a_membership() {
        let f = Features::new(2);
        // A joining node sees an empty membership first, then the cluster's.
        f.update(&[]);
        f.record(1, NEWEST_SCHEMA_VERSION);
        f.update(&[1, 2]);
        assert!(f.batches());
    }
}
