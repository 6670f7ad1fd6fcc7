//! The write and read paths of SPEC §7 / DESIGN "How a write flows".
//!
//! Writes: propose on this node if it leads, otherwise forward the command to the leader's
//! internal endpoint; either way answer only once *this* node's state machine has applied
//! the entry, so a client reading back from the same node sees its write.
//! Reads: linearizable by default (read-index through the leader), or local.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use raftwire_api::ErrorCode;
use raftwire_raft_store::{ApplyResult, Command, Response};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cluster::rpc::{self, INTERNAL_READ_INDEX, INTERNAL_WRITE};
use crate::http::error::{ApiError, ApiResult};

/// How long a request waits for its entry to be applied locally (or for a leader).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Replicates `cmd` and returns its result once applied on this node. Under an
/// `Idempotency-Key` the command is applied once per key: a retry answers the first result.
pub async fn propose(app: &App, cmd: Command) -> ApiResult<Response> {
    let cmd = match IDEMPOTENCY_KEY.try_with(Clone::clone).ok().flatten() {
        Some(key) => Command::Idempotent {
            key,
            command: Box::new(cmd),
        },
        None => cmd,
    };
    // A leader that lost its quorum never commits: answer 503 instead of hanging. The write
    // may still commit later (its outcome is unknown), exactly as with a lost connection.
    let written = tokio::time::timeout(APPLY_TIMEOUT, app.raft.client_write(cmd.clone()))
        .await
        .map_err(|_| {
            ApiError::no_leader(
                "the write was not committed in time (no quorum?); its outcome is unknown",
            )
        })?;
    let outcome = match written {
        Ok(resp) => WriteOutcome {
            index: resp.log_id.index,
            result: resp.data,
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_node {
            Some(leader) => forward_write(app, &leader.addr, &cmd).await?,
            None => return Err(ApiError::no_leader("the cluster has no leader right now")),
        },
        Err(e) => return Err(ApiError::no_leader(format!("write not accepted: {e}"))),
    };
    wait_applied(app, outcome.index).await?;
    outcome.result.map_err(ApiError::from)
}

/// Leader side of a forwarded write: propose without waiting for anyone's apply but ours.
pub async fn propose_as_leader(app: &App, cmd: Command) -> ApiResult<WriteOutcome> {
    match tokio::time::timeout(APPLY_TIMEOUT, app.raft.client_write(cmd)).await {
        Ok(Ok(resp)) => Ok(WriteOutcome {
            index: resp.log_id.index,
            result: resp.data,
        }),
        Ok(Err(e)) => Err(ApiError::no_leader(format!("not the leader any more: {e}"))),
        Err(_) => Err(ApiError::no_leader(
            "the write was not committed in time (no quorum?)",
        )),
    }
}

async fn forward_write(app: &App, leader: &str, cmd: &Command) -> ApiResult<WriteOutcome> {
    rpc::call(app, leader, INTERNAL_WRITE, cmd)
        .await
        .map_err(|e| ApiError::no_leader(format!("forwarding to the leader failed: {e}")))
}

/// Waits until this node's state machine has applied `index`.
pub async fn wait_applied(app: &App, index: u64) -> ApiResult<()> {
    let mut rx = app.applied.clone();
    let waited = tokio::time::timeout(APPLY_TIMEOUT, async {
        rx.wait_for(|i| *i >= index).await.is_ok()
    })
    .await;
    match waited {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::internal("the state machine stopped")),
        Err(_) => Err(ApiError::no_leader(format!(
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
pub async fn read_barrier(app: &App, consistency: Consistency) -> ApiResult<()> {
    if consistency == Consistency::Local {
        return Ok(());
    }
    let index = read_index(app).await?;
    wait_applied(app, index).await
}

/// The leader's read index: after it confirmed leadership with a quorum, the log index a
/// linearizable read must observe.
pub async fn read_index(app: &App) -> ApiResult<u64> {
    use openraft::error::CheckIsLeaderError;
    match app.raft.ensure_linearizable().await {
        Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0)),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => match f.leader_node {
            Some(leader) => rpc::call::<(), u64>(app, &leader.addr, INTERNAL_READ_INDEX, &())
                .await
                .map_err(|e| {
                    ApiError::no_leader(format!("read-index from the leader failed: {e}"))
                }),
            None => Err(ApiError::no_leader("the cluster has no leader right now")),
        },
        Err(e) => Err(ApiError::no_leader(format!(
            "leadership not confirmed: {e}"
        ))),
    }
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
pub async fn propose_for<T: Answer>(app: &App, cmd: Command) -> ApiResult<T> {
    T::from_response(propose(app, cmd).await?).map_err(|r| unexpected(*r))
}

/// [`propose`] for a deletion, membership or attachment change: `204 No Content`.
pub async fn propose_done(app: &App, cmd: Command) -> ApiResult<axum::http::StatusCode> {
    propose(app, cmd).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Maps a response of the wrong kind to a 500 (a programming error, never user input).
pub fn unexpected(r: Response) -> ApiError {
    ApiError::new(
        ErrorCode::Internal,
        format!("unexpected state machine response {r:?}"),
    )
}
