//! openraft's network: Raft RPCs to other nodes over HTTP (see `rpc.rs`).

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;
use raftwire_raft_store::store::Durability;
use raftwire_raft_store::types::{Node, NodeId, TypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::client::{call_with, RpcFailure};
use super::rpc::{INTERNAL_APPEND, INTERNAL_SNAPSHOT, INTERNAL_VOTE};

#[derive(Clone)]
pub struct HttpNetwork {
    pub http: reqwest::Client,
    pub secret: Arc<String>,
    /// This node's log syncs: a commit index goes out only once the entries it covers are
    /// on this node's disk.
    pub durability: Arc<Durability>,
}

pub struct HttpConnection {
    http: reqwest::Client,
    secret: Arc<String>,
    durability: Arc<Durability>,
    target: NodeId,
    node: Node,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpConnection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> HttpConnection {
        HttpConnection {
            http: self.http.clone(),
            secret: self.secret.clone(),
            durability: self.durability.clone(),
            target,
            node: node.clone(),
        }
    }
}

impl HttpConnection {
    async fn send<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<Resp, RaftError<NodeId, E>> = call_with(
            &self.http,
            &self.secret,
            &self.node.addr,
            path,
            req,
            option.hard_ttl(),
        )
        .await
        .map_err(|e| match e {
            // No connection could be made: openraft backs off (500 ms) before trying again.
            RpcFailure::NotSent(_) => RPCError::Unreachable(Unreachable::new(&e)),
            // A request that got no answer in time, or a broken one, is retried at once: an
            // answer late by one heartbeat (a busy follower, a loaded machine) is no reason to
            // stop replicating to that node for half a second, which under load stalled
            // every write when it happened to both followers at once.
            e => RPCError::Network(NetworkError::new(&e)),
        })?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        // A follower applies what the leader says is committed. The leader counts its own
        // append before syncing it (`durability`), so it says so only once it has: until
        // then the entry is on a quorum's disks only as far as openraft knows.
        if let Some(committed) = rpc.leader_commit {
            self.durability
                .durable_through(committed.index)
                .await
                .map_err(|e| RPCError::Network(NetworkError::new(&AnyError::error(e))))?;
        }
        self.send(INTERNAL_APPEND, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(INTERNAL_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(INTERNAL_VOTE, &rpc, &option).await
    }
}
