//! The write and read paths.
//!
//! Writes: propose on this node if it leads, otherwise forward the command to the leader's
//! internal endpoint; either way answer only once *this* node's state machine has applied
//! the entry, so a client reading back from the same node sees its write.
//! Reads: linearizable by default (read-index through the leader), or local.
//!
//! Check-quorum: a leader that has heard from no quorum for an election timeout, and a
//! follower that has heard from no leader for as long, refuse writes and linearizable reads
//! at once (`no_leader`) instead of waiting for a commit that cannot come, and `/readyz`
//! reports them not ready, so a load balancer stops sending them traffic. A request already
//! waiting when that happens is answered then (its outcome unknown). openraft 0.9 cannot make
//! a leader step down: the cut-off leader keeps its role, serving nothing that needs a
//! quorum, until it hears the newer term of the majority's leader.
//!
//! Everything here fails with a [`ConsensusError`], which says what a caller can do about it
//! (retry, give up, or read the refusal). It is translated to HTTP in `http::error` only, and
//! it crosses nodes typed: a follower that forwarded a write answers its client with exactly
//! the error the leader gave.

use std::time::Duration;

use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use raftwire_api::{DomainError, ErrorCode};
use raftwire_raft_store::types::NodeId;
use raftwire_raft_store::{ApplyResult, Command, Response};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cluster::client::{self, RpcFailure};
use crate::cluster::rpc::{INTERNAL_READ_INDEX, INTERNAL_WRITE};

/// How long a request waits for its entry to be applied locally (or for a leader).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// [`APPLY_TIMEOUT`] of a restore: every node decodes and checks the whole backup when it
/// applies it (about a second for 100,000 peers in a release build, and a 512 MiB backup
/// holds some 2 million).
pub const RESTORE_APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long `cmd` may take to commit and apply.
fn apply_timeout(cmd: &Command) -> Duration {
    match cmd {
        Command::RestoreState { .. } | Command::CommitRestore { .. } => RESTORE_APPLY_TIMEOUT,
        Command::Idempotent { command, .. } => apply_timeout(command),
        _ => APPLY_TIMEOUT,
    }
}

/// Why consensus gave no answer, or the answer was a refusal. Encoded with bincode between
/// nodes (append variants only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ConsensusError {
    /// No leader is known or reachable, or it stopped leading before accepting the entry.
    /// Nothing was written: safe to retry.
    #[error("{0}")]
    NoLeader(String),
    /// The entry was handed to Raft but not seen committed in time: it may still commit.
    /// Retry only under the same `Idempotency-Key`, or read the result back.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// This node's Raft or storage failed for good; another node may still serve.
    #[error("{0}")]
    Fatal(String),
    /// The cluster answered, and the answer is a refusal (a domain error of `apply`, an
    /// unknown member, an invalid membership change).
    #[error("{0}")]
    Refused(DomainError),
}

impl ConsensusError {
    /// Another membership change is still in flight: an expected, transient state.
    pub fn is_change_in_progress(&self) -> bool {
        matches!(self, ConsensusError::Refused(e) if e.code == ErrorCode::ChangeInProgress)
    }
}

impl From<DomainError> for ConsensusError {
    fn from(e: DomainError) -> Self {
        ConsensusError::Refused(e)
    }
}

pub type ConsensusResult<T> = Result<T, ConsensusError>;

/// The answer the leader gives a forwarded write.
#[derive(Debug, Serialize, Deserialize)]
pub struct WriteOutcome {
    pub index: u64,
    pub result: ApplyResult,
}

tokio::task_local! {
    /// The `Idempotency-Key` of the request being served (scoped by `http::idempotency`),
    /// already qualified with its method and path.
    pub static IDEMPOTENCY_KEY: Option<String>;
}

/// Why this node cannot reach a leader able to commit right now, if it cannot: it leads but
/// no quorum acknowledged it for an election timeout, it follows a leader it has not heard
/// from for as long, or it knows no leader at all.
pub fn leader_unreachable(app: &App) -> Option<String> {
    let limit = app.raft.config().election_timeout_max;
    let m = app.raft.metrics().borrow().clone();
    match m.current_leader {
        None => Some("the cluster has no leader right now".into()),
        Some(leader) if leader == app.id => match m.millis_since_quorum_ack {
            Some(ms) if ms > limit => Some(format!(
                "this node leads, but no quorum has acknowledged it for {ms} ms (partitioned?)"
            )),
            _ => None,
        },
        Some(leader) => {
            let since = app.leader_contact.since().as_millis() as u64;
            (since > limit)
                .then(|| format!("this node has not heard from its leader {leader} for {since} ms"))
        }
    }
}

/// Resolves once [`leader_unreachable`] holds, with its reason.
async fn leader_lost(app: &App) -> String {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(why) = leader_unreachable(app) {
            return why;
        }
    }
}

/// Refuses at once when no leader that can commit is reachable: nothing was written.
fn ensure_leader_reachable(app: &App) -> ConsensusResult<()> {
    match leader_unreachable(app) {
        Some(why) => Err(ConsensusError::NoLeader(why)),
        None => Ok(()),
    }
}

/// A write handed on that lost its leader (or quorum) while it waited.
fn lost_while_waiting(why: String) -> ConsensusError {
    ConsensusError::OutcomeUnknown(format!(
        "{why}; the write was already handed on and may still commit: read it back, or retry \
         under the same Idempotency-Key"
    ))
}

/// Translates a Raft failure that is not "forward to the leader".
fn raft_failure<E: std::fmt::Display>(e: RaftError<NodeId, E>, what: &str) -> ConsensusError {
    match e {
        // A node shutting down (SIGTERM) stops Raft under requests in flight.
        RaftError::Fatal(openraft::error::Fatal::Stopped) => stopping(what),
        RaftError::Fatal(f) => ConsensusError::Fatal(format!("{what}: Raft stopped: {f}")),
        RaftError::APIError(e) => ConsensusError::NoLeader(format!("{what}: {e}")),
    }
}

/// A membership change the leader refused.
pub(crate) fn membership_refusal(e: &ChangeMembershipError<NodeId>) -> ConsensusError {
    let code = match e {
        ChangeMembershipError::InProgress(_) => ErrorCode::ChangeInProgress,
        _ => ErrorCode::InvalidValue,
    };
    ConsensusError::Refused(DomainError::new(code, e.to_string()))
}

/// Replicates `cmd` and returns its result once applied on this node. Under an
/// `Idempotency-Key` the command is applied once per key: a retry answers the first result.
pub async fn propose(app: &App, cmd: Command) -> ConsensusResult<Response> {
    let cmd = match IDEMPOTENCY_KEY.try_with(Clone::clone).ok().flatten() {
        Some(key) => Command::Idempotent {
            key,
            command: Box::new(cmd),
        },
        None => cmd,
    };
    ensure_leader_reachable(app)?;
    // A leader that lost its quorum never commits: answer as soon as that is known (or after
    // the timeout) instead of hanging. The write may still commit later (its outcome is
    // unknown), exactly as with a lost connection.
    let outcome = tokio::select! {
        outcome = write_or_forward(app, &cmd) => outcome?,
        why = leader_lost(app) => return Err(lost_while_waiting(why)),
    };
    wait_applied_within(app, outcome.index, apply_timeout(&cmd)).await?;
    Ok(outcome.result?)
}

/// Proposes `cmd` here if this node leads, else forwards it to the leader.
async fn write_or_forward(app: &App, cmd: &Command) -> ConsensusResult<WriteOutcome> {
    let written = tokio::time::timeout(apply_timeout(cmd), app.batcher.write(cmd.clone()))
        .await
        .map_err(|_| not_committed_in_time())?
        .ok_or_else(|| stopping("write not accepted"))?;
    match written {
        Ok((index, result)) => Ok(WriteOutcome { index, result }),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_node {
            Some(leader) => forward_write(app, &leader.addr, cmd).await,
            None => Err(no_leader()),
        },
        Err(e) => Err(raft_failure(e, "write not accepted")),
    }
}

/// Leader side of a forwarded write: propose without waiting for anyone's apply but ours.
pub async fn propose_as_leader(app: &App, cmd: Command) -> ConsensusResult<WriteOutcome> {
    ensure_leader_reachable(app)?;
    let timeout = apply_timeout(&cmd);
    let written = tokio::select! {
        written = tokio::time::timeout(timeout, app.batcher.write(cmd)) => written,
        why = leader_lost(app) => return Err(lost_while_waiting(why)),
    };
    let written = match written {
        Ok(Some(w)) => Ok(w),
        Ok(None) => return Err(stopping("write not accepted")),
        Err(elapsed) => Err(elapsed),
    };
    match written {
        Ok(Ok((index, result))) => Ok(WriteOutcome { index, result }),
        // The sender believed we lead; we do not (any more): it may ask again.
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(
            ConsensusError::NoLeader("the node asked is not the leader any more".into()),
        ),
        Ok(Err(e)) => Err(raft_failure(e, "write not accepted")),
        Err(_) => Err(not_committed_in_time()),
    }
}

/// This node is shutting down under a request it took (Raft or the batching task stopped):
/// what it handed on may still commit elsewhere, and another node serves a retry.
fn stopping(what: &str) -> ConsensusError {
    ConsensusError::OutcomeUnknown(format!(
        "{what}: this node is stopping; read the result back, or retry on another node under \
         the same Idempotency-Key"
    ))
}

fn no_leader() -> ConsensusError {
    ConsensusError::NoLeader("the cluster has no leader right now".into())
}

fn not_committed_in_time() -> ConsensusError {
    ConsensusError::OutcomeUnknown(
        "the write was not committed in time (no quorum?); its outcome is unknown: read it \
         back, or retry under the same Idempotency-Key"
            .into(),
    )
}

/// An RPC to the leader that failed without an answer.
pub(crate) fn rpc_failure(what: &str, e: RpcFailure, may_have_applied: bool) -> ConsensusError {
    match e {
        // The request never left this node: nothing happened.
        RpcFailure::NotSent(m) => ConsensusError::NoLeader(format!("{what}: {m}")),
        e if may_have_applied => ConsensusError::OutcomeUnknown(format!(
            "{what}: {e}; the leader may have applied it: read it back, or retry under the \
             same Idempotency-Key"
        )),
        e => ConsensusError::NoLeader(format!("{what}: {e}")),
    }
}

async fn forward_write(app: &App, leader: &str, cmd: &Command) -> ConsensusResult<WriteOutcome> {
    // The leader answers once it applied the entry, within the entry's apply timeout.
    let timeout = apply_timeout(cmd) + client::RPC_TIMEOUT;
    let secret = &app.cluster_secret;
    client::call_with::<Command, ConsensusResult<WriteOutcome>>(
        &app.http,
        secret,
        leader,
        INTERNAL_WRITE,
        cmd,
        timeout,
    )
    .await
    .map_err(|e| rpc_failure("forwarding to the leader failed", e, true))?
}

/// Waits until this node's state machine has applied `index`.
pub async fn wait_applied(app: &App, index: u64) -> ConsensusResult<()> {
    wait_applied_within(app, index, APPLY_TIMEOUT).await
}

async fn wait_applied_within(app: &App, index: u64, timeout: Duration) -> ConsensusResult<()> {
    let mut rx = app.applied.clone();
    let waited = tokio::time::timeout(timeout, async {
        rx.wait_for(|i| *i >= index).await.is_ok()
    })
    .await;
    match waited {
        Ok(true) => Ok(()),
        // The entry is committed; this node stopped (shutting down) before applying it.
        Ok(false) => Err(ConsensusError::OutcomeUnknown(format!(
            "log entry {index} is committed, but this node stopped before applying it: read \
             the result back on another node"
        ))),
        Err(_) => Err(ConsensusError::OutcomeUnknown(format!(
            "this node has not yet applied the committed log entry {index}; retry a read, \
             but read a write's result back instead of repeating the write"
        ))),
    }
}

/// Read consistency of a request (`?consistency=local` or the default, linearizable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    #[default]
    Linearizable,
    Local,
}

/// Makes the local state at least as new as every write acknowledged before this call.
pub async fn read_barrier(app: &App, consistency: Consistency) -> ConsensusResult<()> {
    if consistency == Consistency::Local {
        return Ok(());
    }
    let index = read_index(app).await?;
    wait_applied(app, index).await
}

/// The leader's read index: after it confirmed leadership with a quorum, the log index a
/// linearizable read must observe.
pub async fn read_index(app: &App) -> ConsensusResult<u64> {
    ensure_leader_reachable(app)?;
    tokio::select! {
        index = read_index_unguarded(app) => index,
        // A read changes nothing: safe to retry anywhere.
        why = leader_lost(app) => Err(ConsensusError::NoLeader(why)),
    }
}

async fn read_index_unguarded(app: &App) -> ConsensusResult<u64> {
    use openraft::error::CheckIsLeaderError;
    match leader_read_index(app).await {
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => match f.leader_node {
            Some(leader) => client::call::<(), ConsensusResult<u64>>(
                app,
                &leader.addr,
                INTERNAL_READ_INDEX,
                &(),
            )
            .await
            .map_err(|e| rpc_failure("read-index from the leader failed", e, false))?,
            None => Err(no_leader()),
        },
        Ok(index) => Ok(index),
        Err(e) => Err(raft_failure(e, "leadership not confirmed")),
    }
}

/// Leader side of a forwarded read-index: confirms leadership, or refuses at once when no
/// quorum is reachable.
pub async fn read_index_as_leader(app: &App) -> ConsensusResult<u64> {
    ensure_leader_reachable(app)?;
    tokio::select! {
        index = leader_read_index(app) => {
            index.map_err(|e| ConsensusError::NoLeader(format!("leadership not confirmed: {e}")))
        }
        why = leader_lost(app) => Err(ConsensusError::NoLeader(why)),
    }
}

/// Confirms leadership with a quorum (counted in `raftwire_read_index_total`).
pub async fn leader_read_index(
    app: &App,
) -> Result<
    u64,
    RaftError<
        NodeId,
        openraft::error::CheckIsLeaderError<NodeId, raftwire_raft_store::types::Node>,
    >,
> {
    app.metrics.read_index.inc();
    app.raft
        .ensure_linearizable()
        .await
        .map(|log_id| log_id.map(|l| l.index).unwrap_or(0))
}

/// The kinds of object a write answers with, so handlers ask for the one they expect.
pub trait Answer: Sized {
    /// The object, or the response of another kind (boxed: responses are large).
    fn from_response(r: Response) -> Result<Self, Box<Response>>;
}

macro_rules! answers {
    ($($variant:ident => $t:ty),* $(,)?) => {$(
        impl Answer for $t {
            fn from_response(r: Response) -> Result<Self, Box<Response>> {
                match r {
                    Response::$variant(v) => Ok(v),
                    other => Err(Box::new(other)),
                }
            }
        }
    )*};
}

answers!(
    Network => raftwire_api::Network,
    Peer => raftwire_api::Peer,
    Group => raftwire_api::Group,
    Policy => raftwire_api::Policy,
    Route => raftwire_api::Route,
    DnsMapping => raftwire_api::DnsMapping,
    AdminToken => raftwire_raft_store::AdminToken,
);

/// [`propose`], expecting the object of type `T` back.
pub async fn propose_for<T: Answer>(app: &App, cmd: Command) -> ConsensusResult<T> {
    T::from_response(propose(app, cmd).await?).map_err(|r| unexpected(*r))
}

/// A response of the wrong kind: a programming error, never user input.
pub fn unexpected(r: Response) -> ConsensusError {
    tracing::error!("unexpected state machine response {r:?}");
    ConsensusError::Fatal(format!("unexpected state machine response {r:?}"))
}
