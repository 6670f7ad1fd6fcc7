//! Agents' connection status: kept next to the data (not in backups), never refused.

use crate::command::{AgentReport, ApplyResult, Response};
use crate::state::{AgentRecord, State};

/// Stores each report whose peer exists: a new session replaces the stored status, any
/// other report only updates the status of its own session.
pub(super) fn record(state: &mut State, reports: Vec<AgentReport>) -> ApplyResult {
    for r in reports {
        if state.peer(r.peer_id).is_none() {
            continue;
        }
        let agents = &mut state.meta.agents;
        let current = agents.get(&r.peer_id).map(|a| a.session);
        if r.new_session || current == Some(r.session) {
            agents.insert(
                r.peer_id,
                AgentRecord {
                    session: r.session,
                    status: r.status,
                },
            );
        }
    }
    Ok(Response::Done)
}
