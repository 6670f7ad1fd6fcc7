//! openraft's network: Raft RPCs to other nodes, append-entries and votes over persistent
//! streams (`stream.rs`), snapshots and any node without streams by POST (`rpc.rs`).

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
use super::stream::{Kind, Streams};

#[derive(Clone)]
pub struct HttpNetwork {
    pub http: reqwest::Client,
    /// Persistent connections to the other nodes, shared by every replication stream,
    /// election and heartbeat round.
    pub streams: Streams,
    pub secret: Arc<String>,
    /// This node's log syncs: a commit index goes out only once the entries it covers are
    /// on this node's disk.
    pub durability: Arc<Durability>,
}

pub struct HttpConnection {
    http: reqwest::Client,
    streams: Streams,
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
            streams: self.streams.clone(),
            secret: self.secret.clone(),
            durability: self.durability.clone(),
            target,
            node: node.clone(),
        }
    }
}

impl HttpConnection {
    /// Calls the node on a stream when it serves them, else by POST to `path`.
    async fn send<Req, Resp, E>(
        &self,
        stream: Option<Kind>,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let timeout = option.hard_ttl();
        let streamed = match stream {
            Some(kind) => self.streams.call(&self.node.addr, kind, req, timeout).await,
            None => Ok(None),
        };
        let answer: Result<Result<Resp, RaftError<NodeId, E>>, RpcFailure> = match streamed {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => {
                call_with(
                    &self.http,
                    &self.secret,
                    &self.node.addr,
                    path,
                    req,
                    timeout,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let answer = answer.map_err(|e| match e {
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
        self.send(Some(Kind::Append), INTERNAL_APPEND, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(None, INTERNAL_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(Some(Kind::Vote), INTERNAL_VOTE, &rpc, &option)
            .await
    }
}
