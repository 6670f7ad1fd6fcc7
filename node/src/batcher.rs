//! Write batching: the leader puts the writes that reach it together into one log entry.
//!
//! openraft 0.9 appends, syncs, replicates and applies every proposal as an entry of its
//! own, so under concurrent writes each write paid one append, one fsync on every node and
//! one replication message. Here every proposal goes through one task: while
//! [`IN_FLIGHT`] entries are being committed, the writes that arrive queue up, and the next
//! entry takes all of them (up to [`MAX_COMMANDS`]) as one `Command::Batch`. A lone write
//! is proposed as it is, at once: batching adds no wait, it only fills the entries that
//! would have queued behind each other anyway.
//!
//! Each command of a batch is applied as if it had the entry to itself (its own checks,
//! its own answer), so a refused write refuses only itself. Log entries holding a batch are
//! schema version 5, which nodes of earlier releases cannot read: the leader batches only
//! while [`Features`](crate::cluster::features) says every member reads it.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use raftwire_raft_store::types::{Node, NodeId, Raft};
use raftwire_raft_store::{ApplyResult, Command, Response};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::cluster::features::{BatchTicket, Features};
use crate::metrics::Metrics;

/// Entries being committed at once before the next one waits (and so gathers the writes
/// that arrive meanwhile).
pub const IN_FLIGHT: usize = 2;

/// Most commands in one entry (a peer creation is about 400 bytes).
pub const MAX_COMMANDS: usize = 256;

/// What openraft answers a proposal: the entry's index and this command's result.
pub type Written = Result<(u64, ApplyResult), RaftError<NodeId, ClientWriteError<NodeId, Node>>>;

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Written>,
}

/// The proposing side: cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Proposal>,
}

/// The batching task's end of the queue (see [`run`]).
pub struct Queue(mpsc::UnboundedReceiver<Proposal>);

impl Batcher {
    pub fn new() -> (Batcher, Queue) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Batcher { tx }, Queue(rx))
    }

    /// Proposes `command` and answers once its entry is applied on this node (as
    /// `Raft::client_write` does), or `None` if the batching task has stopped (the node is
    /// shutting down).
    pub async fn write(&self, command: Command) -> Option<Written> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Proposal { command, reply }).ok()?;
        answer.await.ok()
    }
}

/// Whether `command` may share an entry: a restore is large and slow to apply, and is
/// proposed on its own.
fn batchable(command: &Command) -> bool {
    match command {
        Command::RestoreState { .. }
        | Command::StageRestore { .. }
        | Command::CommitRestore { .. }
        | Command::Batch { .. } => false,
        Command::Idempotent { command, .. } => batchable(command),
        _ => true,
    }
}

/// The batching task: runs until the node stops.
pub async fn run(raft: Raft, features: Arc<Features>, metrics: Metrics, mut queue: Queue) {
    let mut in_flight = JoinSet::new();
    let mut carried: Option<Proposal> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match queue.0.recv().await {
                Some(p) => p,
                None => break,
            },
        };
        let ticket = match batchable(&first.command) {
            true => features.begin_batch(),
            false => None,
        };
        let Some(ticket) = ticket else {
            // Proposed alone, without waiting for a slot: exactly as without batching.
            in_flight.spawn(propose(raft.clone(), vec![first], None));
            reap(&mut in_flight);
            continue;
        };
        // Wait for a slot; the writes arriving meanwhile join this entry.
        while in_flight.len() >= IN_FLIGHT {
            in_flight.join_next().await;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_COMMANDS {
            match queue.0.try_recv() {
                Ok(p) if batchable(&p.command) => batch.push(p),
                Ok(p) => {
                    carried = Some(p);
                    break;
                }
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            metrics.write_batches.inc();
            metrics.batched_writes.inc_by(batch.len() as u64);
        }
        in_flight.spawn(propose(raft.clone(), batch, Some(ticket)));
    }
    while in_flight.join_next().await.is_some() {}
}

/// Drops the finished proposals' handles (their answers went out already).
fn reap(in_flight: &mut JoinSet<()>) {
    while in_flight.try_join_next().is_some() {}
}

/// Proposes one entry for `batch` (the command itself when it is alone) and answers each;
/// `ticket` is given back once the entry is answered.
async fn propose(raft: Raft, mut batch: Vec<Proposal>, ticket: Option<BatchTicket>) {
    let _ticket = ticket;
    if batch.len() == 1 {
        let Proposal { command, reply } = batch.pop().expect("one proposal");
        let written = raft
            .client_write(command)
            .await
            .map(|r| (r.log_id.index, r.data));
        let _ = reply.send(written);
        return;
    }
    let (commands, replies): (Vec<Command>, Vec<_>) =
        batch.into_iter().map(|p| (p.command, p.reply)).unzip();
    let count = commands.len();
    match raft.client_write(Command::Batch { commands }).await {
        Ok(resp) => {
            let index = resp.log_id.index;
            match resp.data {
                Ok(Response::Batch(results)) if results.len() == count => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok((index, result)));
                    }
                }
                other => {
                    // apply answers a batch with one result per command: anything else is
                    // a bug, and no write may be acknowledged on it.
                    tracing::error!("a batch of {count} was answered {other:?}");
                    let err = RaftError::Fatal(openraft::error::Fatal::Panicked);
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
