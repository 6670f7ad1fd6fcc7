//! The leader's own appends, counted as flushed at once, and the gate that holds back every
//! effect of an entry until the leader's copy is on disk.
//!
//! openraft 0.9 waits, inside its core task, for an append to be reported flushed before it
//! starts replicating the entry. On the leader that put two fsyncs one after the other on
//! every write's path: its own, then the followers'. Raft does not need that order: the
//! leader may write its log in parallel with replicating, as long as no entry takes effect
//! before a majority has it on disk.
//!
//! So when this node leads, an append of its own new entries is reported flushed as soon as
//! it is written (the log's syncer makes it durable meanwhile, in parallel with the
//! followers' appends), and every effect waits for that sync instead:
//!
//! - the state machine applies an entry (on this node: the answer to the client, the
//!   configs pushed to agents, reads) only once this node's copy is durable;
//! - the leader tells followers an entry is committed (which lets them apply it) only once
//!   its own copy is durable.
//!
//! openraft's count for an entry is then the leader plus followers that synced it
//! themselves, and by the time anything applies it the leader has synced it too: the same
//! majority of durable copies as when the leader synced first. Followers' appends are
//! reported only after their sync, as before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use openraft::EntryPayload;
use tokio::sync::watch;

use crate::types::{Entry, NodeId, Vote};

/// How far the log's syncer has come.
#[derive(Clone, Debug, Default)]
struct Synced {
    /// The sequence number of the last early append made durable.
    seq: u64,
    /// Why a sync failed: nothing counted early can be made durable any more.
    failed: Option<String>,
}

/// Which appends were counted as flushed before they were, and which of those the syncer
/// has made durable since. Shared by the log (which records them), its syncer (which
/// reports them durable) and the state machine and network (which wait for them).
#[derive(Debug)]
pub struct Durability {
    /// This node's id, once the node enables counting its own appends at once.
    me: OnceLock<NodeId>,
    /// The vote last saved or read: the leadership this node's own entries belong to.
    vote: Mutex<Option<Vote>>,
    /// Appends counted early and not yet known durable: (first index, sequence number),
    /// oldest first.
    early: Mutex<VecDeque<(u64, u64)>>,
    next_seq: AtomicU64,
    synced: watch::Sender<Synced>,
}

impl Default for Durability {
    fn default() -> Self {
        Durability {
            me: OnceLock::new(),
            vote: Mutex::new(None),
            early: Mutex::new(VecDeque::new()),
            next_seq: AtomicU64::new(1),
            synced: watch::Sender::new(Synced::default()),
        }
    }
}

impl Durability {
    /// Lets node `me` count the appends of its own entries as flushed at once while it
    /// leads. Without it (tools, tests of the store alone) every append waits for its sync.
    pub fn count_own_appends_early(&self, me: NodeId) {
        let _ = self.me.set(me);
    }

    /// Records the vote this node saved (or read at start).
    pub(crate) fn set_vote(&self, vote: Option<Vote>) {
        *self.vote.lock().unwrap_or_else(|e| e.into_inner()) = vote;
    }

    /// Whether an append of `entries` may be reported flushed before its sync: they are
    /// this node's own new entries, made in the leadership it holds now. Entries of another
    /// leader, or this node's entries of an earlier term sent back by a newer leader, are
    /// a follower's append, and a follower's report counts towards a quorum: those wait.
    ///
    /// A membership change waits too: openraft acts on its commit itself (a joint config
    /// committed lets it propose the final one), with nothing of ours in between to hold
    /// that back, so it must be on a quorum's disks, the leader's among them, when counted.
    pub(crate) fn counts_early(&self, entries: &[Entry]) -> bool {
        let Some(me) = self.me.get() else {
            return false;
        };
        let vote = self.vote.lock().unwrap_or_else(|e| e.into_inner());
        let Some(vote) = vote.as_ref() else {
            return false;
        };
        vote.is_committed()
            && vote.leader_id().node_id == *me
            && !entries.is_empty()
            && entries.iter().all(|e| {
                e.log_id.leader_id == *vote.leader_id()
                    && !matches!(e.payload, EntryPayload::Membership(_))
            })
    }

    /// Records an append counted early whose entries start at `first`; the syncer is to be
    /// told its sequence number.
    pub(crate) fn record_early(&self, first: u64) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.early
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((first, seq));
        seq
    }

    /// The syncer made every early append up to sequence number `seq` durable (or failed
    /// to, with `failed`).
    pub(crate) fn synced(&self, seq: u64, failed: Option<String>) {
        if failed.is_none() {
            let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
            while early.front().is_some_and(|(_, s)| *s <= seq) {
                early.pop_front();
            }
        }
        self.synced.send_modify(|s| {
            if failed.is_none() {
                s.seq = s.seq.max(seq);
            }
            if s.failed.is_none() {
                s.failed = failed;
            }
        });
    }

    /// Waits until this node's copy of every entry up to `index` is durable. Immediate on a
    /// follower and for entries already synced; an error if the sync failed (the entries
    /// may never be applied).
    pub async fn durable_through(&self, index: u64) -> Result<(), String> {
        let need = self
            .early
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(first, _)| *first <= index)
            .map(|(_, seq)| *seq)
            .max();
        let Some(need) = need else {
            return Ok(());
        };
        let mut rx = self.synced.subscribe();
        let synced = rx
            .wait_for(|s| s.seq >= need || s.failed.is_some())
            .await
            .map_err(|_| "the log's sync thread has stopped".to_string())?;
        match &synced.failed {
            Some(e) if synced.seq < need => Err(format!("syncing the log failed: {e}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use openraft::LeaderId;

    use super::*;
    use crate::types::LogId;

    fn entry(term: u64, node: NodeId, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(LeaderId::new(term, node), index),
            payload: EntryPayload::Blank,
        }
    }

    fn leading(me: NodeId, term: u64) -> Durability {
        let d = Durability::default();
        d.count_own_appends_early(me);
        d.set_vote(Some(Vote::new_committed(term, me)));
        d
    }

    #[test]
    fn only_the_leaders_own_entries_of_its_current_term_count_early() {
        let d = leading(1, 5);
        assert!(d.counts_early(&[entry(5, 1, 10), entry(5, 1, 11)]));
        // This node's entries of an earlier term, sent back by a newer leader.
        assert!(!d.counts_early(&[entry(4, 1, 10)]));
        assert!(!d.counts_early(&[entry(5, 1, 10), entry(4, 1, 11)]));
        // Another leader's entries.
        assert!(!d.counts_early(&[entry(5, 2, 10)]));
        // A membership change, alone or with others.
        let membership = Entry {
            log_id: LogId::new(LeaderId::new(5, 1), 12),
            payload: EntryPayload::Membership(openraft::Membership::new(
                vec![std::collections::BTreeSet::from([1, 2, 3])],
                None,
            )),
        };
        assert!(!d.counts_early(std::slice::from_ref(&membership)));
        assert!(!d.counts_early(&[entry(5, 1, 11), membership]));

        // A follower of leader 2 in term 6 appends leader 2's entries: they wait.
        d.set_vote(Some(Vote::new_committed(6, 2)));
        assert!(!d.counts_early(&[entry(6, 2, 12)]));
        assert!(!d.counts_early(&[entry(5, 1, 12)]));

        // A candidate's vote for itself is not a leadership yet.
        d.set_vote(Some(Vote::new(7, 1)));
        assert!(!d.counts_early(&[entry(7, 1, 12)]));

        // Without the node enabling it, nothing counts early.
        let tool = Durability::default();
        tool.set_vote(Some(Vote::new_committed(5, 1)));
        assert!(!tool.counts_early(&[entry(5, 1, 10)]));
    }

    /// Starts waiting for `index` and checks the wait is still on a moment later.
    async fn still_waiting(
        d: &std::sync::Arc<Durability>,
        index: u64,
    ) -> tokio::task::JoinHandle<Result<(), String>> {
        let waiter = {
            let d = d.clone();
            tokio::spawn(async move { d.durable_through(index).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "index {index} is not durable yet");
        waiter
    }

    #[tokio::test]
    async fn waiting_for_an_index_ends_only_once_the_early_append_holding_it_is_synced() {
        let d = std::sync::Arc::new(leading(1, 5));
        // Nothing counted early: immediate.
        d.durable_through(100).await.unwrap();

        let first = d.record_early(10); // entries 10..=12
        let second = d.record_early(13); // entries 13..

        // Before entry 10: not held back.
        d.durable_through(9).await.unwrap();

        let waiter = still_waiting(&d, 12).await;
        d.synced(first, None);
        waiter.await.unwrap().unwrap();

        // Index 13 needs the second append.
        let waiter = still_waiting(&d, 13).await;
        d.synced(second, None);
        waiter.await.unwrap().unwrap();
        d.durable_through(u64::MAX).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_sync_fails_the_wait_for_what_it_did_not_make_durable() {
        let d = leading(1, 5);
        let first = d.record_early(10);
        let second = d.record_early(11);
        d.synced(first, None);
        d.synced(second, Some("EIO".into()));
        d.durable_through(10).await.unwrap();
        let err = d.durable_through(11).await.unwrap_err();
        assert!(err.contains("EIO"), "{err}");
    }
}
