//! Applying a log entry's command at its log index: [`apply`](crate::apply) plus the
//! bookkeeping that depends on the index — each network's revision, the index of the last
//! entry that changed it — and dropping the agent status of deleted peers.
//!
//! The revision is set here, deterministically from the command and the state before it,
//! so every node that applied the same log (or loaded a snapshot of it) holds the same
//! revisions. The node labels every agent configuration with its network's revision and
//! compares revisions to find the networks a batch of entries touched.

use raftwire_api::NetworkId;

use crate::command::{ApplyResult, Command, Response};
use crate::state::State;

/// The networks a command may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// No network (admin tokens, agent status, a replayed idempotent write).
    Nothing,
    Networks(Vec<NetworkId>),
    /// Every network, old and new (a restored backup).
    All,
}

/// The networks `command` changes if it applies to `state`. Exhaustive on purpose: a new
/// variant has to say what it touches.
pub fn touched(state: &State, command: &Command) -> Touched {
    use Command::*;
    match command {
        CreateNetwork { id, .. } | UpdateNetwork { id, .. } | DeleteNetwork { id, .. } => {
            Touched::Networks(vec![*id])
        }
        CreatePeer { network_id, .. }
        | UpdatePeer { network_id, .. }
        | DeletePeer { network_id, .. }
        | RotateAgentToken { network_id, .. }
        | CreateGroup { network_id, .. }
        | UpdateGroup { network_id, .. }
        | DeleteGroup { network_id, .. }
        | AddGroupMember { network_id, .. }
        | RemoveGroupMember { network_id, .. }
        | AttachPolicy { network_id, .. }
        | DetachPolicy { network_id, .. }
        | AttachRoute { network_id, .. }
        | DetachRoute { network_id, .. }
        | CreatePolicy { network_id, .. }
        | UpdatePolicy { network_id, .. }
        | DeletePolicy { network_id, .. }
        | AddRule { network_id, .. }
        | RemoveRule { network_id, .. }
        | CreateRoute { network_id, .. }
        | UpdateRoute { network_id, .. }
        | DeleteRoute { network_id, .. }
        | CreateDnsMapping { network_id, .. }
        | UpdateDnsMapping { network_id, .. }
        | DeleteDnsMapping { network_id, .. } => Touched::Networks(vec![*network_id]),
        RegisterAgentKey { peer_id, .. } => match state.network_of_peer(*peer_id) {
            Some(ns) => Touched::Networks(vec![ns.network.id]),
            None => Touched::Nothing,
        },
        // Agent status changes no configuration.
        CreateAdminToken { .. } | DeleteAdminToken { .. } | RecordAgents { .. } => Touched::Nothing,
        // Staging changes no network until the commit restores the backup.
        StageRestore { .. } => Touched::Nothing,
        RestoreState { .. } | CommitRestore { .. } => Touched::All,
        Idempotent { key, command } => match state.remembered(key) {
            // A retry answers the remembered result and changes nothing.
            Some(_) => Touched::Nothing,
            None => touched(state, command),
        },
        // Only ever applied through `apply_entry`, which takes it command by command; as a
        // whole, it may touch anything.
        Batch { .. } => Touched::All,
    }
}

/// Applies the command of the log entry at `index`: on success, every network it touched
/// gets revision `index` (a deleted network loses its revision). On `Err`, nothing changed.
pub fn apply_entry(state: &mut State, command: Command, index: u64) -> ApplyResult {
    if let Command::Batch { commands } = command {
        // Each command as if it had this entry to itself: its own checks, its own
        // bookkeeping, its own answer.
        return Ok(Response::Batch(
            commands
                .into_iter()
                .map(|c| apply_entry(state, c, index))
                .collect(),
        ));
    }
    let touched = touched(state, &command);
    let peers_before = state.idx.peer_network.len();
    // A restored backup replaces the data and keeps the bookkeeping, updated below.
    let result = crate::apply(state, command)?;
    let deleted = state.idx.peer_network.len() < peers_before;
    if matches!(touched, Touched::All) || (deleted && !matches!(touched, Touched::Nothing)) {
        // Peers were deleted (or replaced): their agents' status goes with them.
        state
            .meta
            .agents
            .retain(|p, _| state.idx.peer_network.contains_key(p));
    }
    let meta = &mut state.meta;
    match touched {
        Touched::Nothing => {}
        Touched::Networks(ids) => {
            for id in ids {
                if state.data.networks.contains(id) {
                    meta.revisions.insert(id, index);
                } else {
                    meta.revisions.remove(&id);
                }
            }
        }
        Touched::All => {
            meta.revisions = state
                .data
                .networks
                .iter()
                .map(|ns| (ns.network.id, index))
                .collect();
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use raftwire_api::requests::{CreateNetwork, CreatePeer};
    use raftwire_api::*;

    use super::*;
    use crate::command::{NetworkDefaults, PeerSecretsInput};
    use crate::state::AdminToken;

    fn network(n: u128, cidr: &str) -> Command {
        Command::CreateNetwork {
            id: NetworkId::from_u128(n),
            at: Timestamp(1),
            spec: CreateNetwork {
                name: Some(format!("n{n}")),
                ipv4_cidr: Some(cidr.into()),
                ..Default::default()
            }
            .validate()
            .unwrap()
            .into(),
            defaults: NetworkDefaults {
                group_id: GroupId::from_u128(n * 10 + 1),
                policy_id: PolicyId::from_u128(n * 10 + 2),
                rule_ids: [RuleId::from_u128(n * 10 + 3), RuleId::from_u128(n * 10 + 4)],
            },
        }
    }

    fn peer(n: u128, id: u128) -> Command {
        Command::CreatePeer {
            network_id: NetworkId::from_u128(n),
            id: PeerId::from_u128(id),
            at: Timestamp(2),
            spec: CreatePeer {
                name: Some(format!("p{id}")),
                ..Default::default()
            }
            .validate()
            .unwrap()
            .into(),
            secrets: PeerSecretsInput::default(),
        }
    }

    #[test]
    fn a_network_keeps_the_index_of_the_last_entry_that_changed_it() {
        let (a, b) = (NetworkId::from_u128(1), NetworkId::from_u128(2));
        let mut s = State::new();
        apply_entry(&mut s, network(1, "10.1.0.0/24"), 3).unwrap();
        apply_entry(&mut s, network(2, "10.2.0.0/24"), 4).unwrap();
        apply_entry(&mut s, peer(1, 100), 5).unwrap();
        assert_eq!((s.revision(a), s.revision(b)), (5, 4));

        // A refused command, an admin token and a replayed idempotent write change nothing.
        assert!(apply_entry(&mut s, peer(1, 100), 6).is_err());
        let token = Command::CreateAdminToken {
            token: AdminToken {
                id: TokenId::from_u128(9),
                name: "t".into(),
                token_hash: "h".into(),
                created_at: Timestamp(3),
            },
        };
        apply_entry(&mut s, token, 7).unwrap();
        let once = Command::Idempotent {
            key: "k".into(),
            command: Box::new(peer(2, 200)),
        };
        apply_entry(&mut s, once.clone(), 8).unwrap();
        apply_entry(&mut s, once, 9).unwrap();
        assert_eq!((s.revision(a), s.revision(b)), (5, 8));

        let delete = Command::DeleteNetwork {
            id: b,
            if_match: None,
        };
        apply_entry(&mut s, delete, 10).unwrap();
        assert!(!s.meta().revisions.contains_key(&b));

        // A restored backup changes every network it brings.
        let backup = s.clone().into_data();
        apply_entry(
            &mut s,
            Command::RestoreState {
                data: Box::new(backup),
            },
            11,
        )
        .unwrap();
        assert_eq!(s.meta().revisions.len(), 1);
        assert_eq!(s.revision(a), 11);
    }

    fn report(session: u64, new_session: bool, connected: bool, node_id: u64) -> Command {
        Command::RecordAgents {
            reports: vec![crate::command::AgentReport {
                peer_id: PeerId::from_u128(100),
                session,
                new_session,
                status: crate::command::AgentStatus {
                    connected,
                    node_id,
                    since: Timestamp(5),
                    applied_version: 3,
                    errors: Vec::new(),
                },
            }],
        }
    }

    #[test]
    fn agent_status_follows_the_newest_session_and_leaves_with_its_peer() {
        let agent = PeerId::from_u128(100);
        let mut s = State::new();
        apply_entry(&mut s, network(1, "10.1.0.0/24"), 1).unwrap();
        apply_entry(&mut s, peer(1, 100), 2).unwrap();
        apply_entry(&mut s, report(7, true, true, 1), 3).unwrap();
        // The agent moved to node 2; node 1 reports the end of its older session late.
        apply_entry(&mut s, report(8, true, true, 2), 4).unwrap();
        apply_entry(&mut s, report(7, false, false, 1), 5).unwrap();
        let st = s.agent(agent).unwrap();
        assert!(st.connected && st.node_id == 2, "{st:?}");
        assert_eq!(
            s.revision(NetworkId::from_u128(1)),
            2,
            "status changes no config"
        );
        apply_entry(&mut s, report(8, false, false, 2), 6).unwrap();
        assert!(!s.agent(agent).unwrap().connected);

        let delete = Command::DeletePeer {
            network_id: NetworkId::from_u128(1),
            id: agent,
            if_match: None,
        };
        apply_entry(&mut s, delete, 7).unwrap();
        assert!(s.agent(agent).is_none());
        // A report for a peer that is gone is ignored.
        apply_entry(&mut s, report(9, true, true, 1), 8).unwrap();
        assert!(s.meta().agents.is_empty());
    }
}
