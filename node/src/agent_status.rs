//! Agents' connection status in the replicated state, so every node shows it: connected or
//! not, to which node, since when, the version applied, the last errors per module.
//!
//! A connection reports only changes — connect, disconnect, a new applied version, new
//! errors — never heartbeats or pings. Reports go through one writer task that batches
//! whatever queued up while the previous write was in flight into one `RecordAgents`
//! entry, so 10,000 agents connecting at once cost a few hundred log entries, not 10,000.
//! A write that fails is retried with what queued up since.
//!
//! A node that stops cannot report its connections' end. So a node keeps the set of
//! sessions it holds open, and a sweeper marks disconnected every agent the state shows
//! connected to this node through a session it does not hold — after a restart, the
//! sessions of its previous run, including reports that reach its state only once it has
//! caught up with the leader (a report about an old session changes nothing if the agent
//! has connected anew since). The leader also marks disconnected the agents shown connected
//! to a node removed from the cluster, which never comes back to sweep its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftwire_api::protocol::ModuleError;
use raftwire_api::PeerId;
use raftwire_raft_store::{AgentError, AgentReport, AgentStatus, Command};
use tokio::sync::mpsc;

use crate::app::App;
use crate::consensus::propose;
use crate::http::handlers::now;

/// Most reports in one log entry (about 100 bytes each).
const BATCH: usize = 1000;

/// The queue of reports to the writer task.
#[derive(Clone)]
pub struct StatusWriter {
    tx: mpsc::UnboundedSender<AgentReport>,
    /// The sessions this process holds open (the sweeper's reference).
    live: Arc<Mutex<HashSet<u64>>>,
}

impl StatusWriter {
    /// The writer's handle and the receiving end its task ([`run`]) drains.
    pub fn new() -> (StatusWriter, mpsc::UnboundedReceiver<AgentReport>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            StatusWriter {
                tx,
                live: Arc::default(),
            },
            rx,
        )
    }

    pub fn report(&self, report: AgentReport) {
        let _ = self.tx.send(report);
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The status one connection last reported, to report only changes.
pub struct Session {
    pub peer: PeerId,
    pub id: u64,
    status: AgentStatus,
}

impl Session {
    /// A new connection of `peer`'s agent to node `node_id`: reported at once. The errors
    /// of the agent's last report stay until it reports anew.
    pub fn connect(app: &App, peer: PeerId, applied_version: u64) -> Session {
        let errors = app
            .with_state(|s| s.agent(peer).map(|a| a.errors.clone()))
            .ok()
            .flatten()
            .unwrap_or_default();
        let id = session_id();
        // Known as live before its report exists: the sweeper never takes it for stale.
        app.agent_status.live().insert(id);
        let s = Session {
            peer,
            id,
            status: AgentStatus {
                connected: true,
                node_id: app.id,
                since: now(),
                applied_version,
                errors,
            },
        };
        s.send(app, true);
        s
    }

    /// The agent's status message: reported if it changed anything.
    pub fn status(&mut self, app: &App, applied_version: u64, errors: &[ModuleError]) {
        let errors: Vec<AgentError> = errors
            .iter()
            .map(|e| AgentError {
                module: e.module.clone(),
                message: e.message.clone(),
            })
            .collect();
        if self.status.applied_version == applied_version && self.status.errors == errors {
            return;
        }
        self.status.applied_version = applied_version;
        self.status.errors = errors;
        self.send(app, false);
    }

    /// The connection ended.
    pub fn disconnect(mut self, app: &App) {
        app.agent_status.live().remove(&self.id);
        self.status.connected = false;
        self.status.since = now();
        self.send(app, false);
    }

    fn send(&self, app: &App, new_session: bool) {
        app.agent_status.report(AgentReport {
            peer_id: self.peer,
            session: self.id,
            new_session,
            status: self.status.clone(),
        });
    }
}

fn session_id() -> u64 {
    let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
    hi ^ lo
}

/// Merges `more` into `pending`: a later report of the same session replaces the earlier
/// one (keeping "new session" if either was), reports of other sessions keep their order.
fn merge(pending: &mut Vec<AgentReport>, more: impl IntoIterator<Item = AgentReport>) {
    let mut at: HashMap<(PeerId, u64), usize> = pending
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.peer_id, r.session), i))
        .collect();
    for r in more {
        match at.get(&(r.peer_id, r.session)) {
            Some(&i) => {
                let new_session = pending[i].new_session || r.new_session;
                pending[i] = AgentReport { new_session, ..r };
            }
            None => {
                at.insert((r.peer_id, r.session), pending.len());
                pending.push(r);
            }
        }
    }
}

/// Writes the queued reports, batched, until the node stops.
pub async fn run(app: App, mut rx: mpsc::UnboundedReceiver<AgentReport>) {
    let mut pending: Vec<AgentReport> = Vec::new();
    let mut delay = Duration::from_millis(100);
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => pending.push(r),
                None => return,
            }
        }
        let mut more = Vec::new();
        while let Ok(r) = rx.try_recv() {
            more.push(r);
        }
        merge(&mut pending, more);
        let take = pending.len().min(BATCH);
        let batch: Vec<AgentReport> = pending[..take].to_vec();
        match propose(&app, Command::RecordAgents { reports: batch }).await {
            Ok(_) => {
                pending.drain(..take);
                delay = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::debug!("recording agent status: {e}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// How often the sweeper looks for agents shown connected through a session gone.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Until the node stops: marks disconnected the agents the state shows connected to this
/// node through a session it does not hold (its previous run's, once applied here). Each
/// stale session is reported once; reading the local state costs no quorum round.
pub async fn mark_stale_disconnected(app: App) {
    let mut reported: HashSet<(PeerId, u64)> = HashSet::new();
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let members = {
            let metrics = app.raft.metrics();
            let m = metrics.borrow();
            if m.current_leader.is_none() {
                continue;
            }
            members_if_judge(&app, &m)
        };
        let live = app.agent_status.live().clone();
        let stale = app
            .with_state(|s| {
                s.meta()
                    .agents
                    .iter()
                    .filter(|(peer, a)| {
                        a.status.connected
                            && !reported.contains(&(**peer, a.session))
                            && ((a.status.node_id == app.id && !live.contains(&a.session))
                                || members
                                    .as_ref()
                                    .is_some_and(|m| !m.contains(&a.status.node_id)))
                    })
                    .map(|(peer, a)| AgentReport {
                        peer_id: *peer,
                        session: a.session,
                        new_session: false,
                        status: AgentStatus {
                            connected: false,
                            since: now(),
                            ..a.status.clone()
                        },
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if !stale.is_empty() {
            tracing::info!(
                "marking {} agents disconnected whose sessions this node no longer holds",
                stale.len()
            );
        }
        for r in stale {
            reported.insert((r.peer_id, r.session));
            app.agent_status.report(r);
        }
    }
}

/// On the leader, once its membership is committed: the cluster's nodes (voters and
/// learners). An agent shown connected to a node outside them went with that node's removal,
/// which can write nothing once it is out, so the leader marks it disconnected. `None`
/// elsewhere: one node judges, and never on a membership that may still roll back.
fn members_if_judge(
    app: &App,
    m: &raftwire_raft_store::types::RaftMetrics,
) -> Option<HashSet<u64>> {
    let committed = m
        .membership_config
        .log_id()
        .is_none_or(|l| l.index <= app.committed_index());
    (m.current_leader == Some(app.id) && committed).then(|| {
        m.membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use raftwire_api::Timestamp;

    use super::*;

    fn report(peer: u128, session: u64, new_session: bool, applied: u64) -> AgentReport {
        AgentReport {
            peer_id: PeerId::from_u128(peer),
            session,
            new_session,
            status: AgentStatus {
                connected: true,
                node_id: 1,
                since: Timestamp(1),
                applied_version: applied,
                errors: Vec::new(),
            },
        }
    }

    #[test]
    fn queued_reports_of_one_session_collapse_into_the_latest_and_stay_new() {
        let mut pending = vec![report(1, 10, true, 0)];
        merge(
            &mut pending,
            [
                report(2, 20, true, 0),
                report(1, 10, false, 5),
                report(1, 11, true, 6),
            ],
        );
        let got: Vec<(u128, u64, bool, u64)> = pending
            .iter()
            .map(|r| {
                (
                    r.peer_id.0.as_u128(),
                    r.session,
                    r.new_session,
                    r.status.applied_version,
                )
            })
            .collect();
        assert_eq!(got, [(1, 10, true, 5), (2, 20, true, 0), (1, 11, true, 6)]);
    }
}
