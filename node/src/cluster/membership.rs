//! Cluster membership: add a learner, promote it to voter, remove a node. Any node accepts
//! these; a follower hands them to the leader.

use std::collections::BTreeSet;

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use raftwire_raft_store::types::{Node, NodeId};
use serde::{Deserialize, Serialize};

use raftwire_api::DomainError;

use super::client;
use super::rpc::INTERNAL_MEMBERSHIP_LOCAL;
use crate::app::App;
use crate::consensus::{membership_refusal, rpc_failure, ConsensusError, ConsensusResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipOp {
    /// Add as a learner; with `wait`, return only once it has caught up with the log.
    AddLearner {
        id: NodeId,
        addr: String,
        wait: bool,
    },
    Promote {
        id: NodeId,
    },
    Remove {
        id: NodeId,
    },
}

/// Applies `op` on the leader (forwarding when this node is not it).
pub async fn change(app: &App, op: MembershipOp) -> ConsensusResult<()> {
    change_inner(app, op, true).await
}

/// Applies `op` here, without forwarding (a forwarded request never bounces on).
pub async fn change_local(app: &App, op: MembershipOp) -> ConsensusResult<()> {
    change_inner(app, op, false).await
}

async fn change_inner(app: &App, op: MembershipOp, forward: bool) -> ConsensusResult<()> {
    let membership = app.raft.metrics().borrow().membership_config.clone();
    let known = |id: &NodeId| membership.membership().get_node(id).is_some();
    let is_voter = |id: &NodeId| membership.membership().voter_ids().any(|v| v == *id);
    match &op {
        MembershipOp::Promote { id } | MembershipOp::Remove { id } if !known(id) => {
            return Err(DomainError::not_found("cluster member", id).into());
        }
        _ => {}
    }
    let result = match &op {
        MembershipOp::AddLearner { id, addr, wait } => {
            // A node of an earlier release must not be sent an entry it cannot read.
            super::features::admit(app, *id, addr).await;
            app.raft
                .add_learner(*id, Node::new(addr.clone()), *wait)
                .await
                .map(|_| ())
        }
        MembershipOp::Promote { id } => app
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([*id])), false)
            .await
            .map(|_| ()),
        // A voter leaves the voters and the node list at once (retain = false); a learner
        // only has to leave the node list.
        MembershipOp::Remove { id } if is_voter(id) => app
            .raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([*id])), false)
            .await
            .map(|_| ()),
        MembershipOp::Remove { id } => app
            .raft
            .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([*id])), false)
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_node {
            Some(leader) if forward && f.leader_id != Some(app.id) => {
                client::call::<MembershipOp, ConsensusResult<()>>(
                    app,
                    &leader.addr,
                    INTERNAL_MEMBERSHIP_LOCAL,
                    &op,
                )
                .await
                .map_err(|e| rpc_failure("asking the leader to change the membership", e, true))?
            }
            _ => Err(ConsensusError::NoLeader(
                "the cluster has no leader right now".into(),
            )),
        },
        Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
            Err(membership_refusal(&e))
        }
        Err(RaftError::Fatal(f)) => Err(ConsensusError::Fatal(format!(
            "membership change failed: Raft stopped: {f}"
        ))),
    }
}
