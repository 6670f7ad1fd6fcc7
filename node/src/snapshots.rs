//! When this node builds its Raft snapshots: once every `snapshot_every` applied entries,
//! at a phase of its own in the log (a third of the interval per node id, modulo 3).
//!
//! With openraft's own policy (a snapshot once `snapshot_every` entries passed since the
//! last), every member of a cluster reaches the threshold at the same index, so all of them
//! encode their whole state at the same moment; on a small machine hosting several members,
//! or a busy one, writes in flight meanwhile slowed down on every node at once. Staggered,
//! at most one member of a 3-node cluster (ids 1, 2, 3 or any three ids that differ modulo
//! 3) encodes at a time, and the index stays fixed across restarts and installed snapshots.

use crate::app::App;

/// The index, modulo `every`, at which node `id` builds its snapshots.
pub fn phase(id: u64, every: u64) -> u64 {
    (id % 3) * (every / 3)
}

/// The first index after `applied` at which a snapshot is due: the next one congruent to
/// `phase` modulo `every`, and never index 0.
pub fn next_due(applied: u64, every: u64, phase: u64) -> u64 {
    let every = every.max(1);
    let phase = phase % every;
    let due = applied - applied % every + phase;
    let due = if due > applied { due } else { due + every };
    if due == 0 {
        every
    } else {
        due
    }
}

/// Triggers this node's snapshot builds as [`next_due`] says, until the node stops. A build
/// is skipped when the node already holds a snapshot less than half an interval old (one it
/// just installed from the leader, say).
pub async fn run(app: App, every: u64) {
    let phase = phase(app.id, every);
    let mut applied = app.applied.clone();
    let mut stopping = app.stopping.clone();
    let mut due = next_due(*applied.borrow(), every, phase);
    loop {
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = stopping.wait_for(|s| *s) => return,
        }
        let now = *applied.borrow_and_update();
        if now < due {
            continue;
        }
        due = next_due(now, every, phase);
        let held = app.raft.metrics().borrow().snapshot.map_or(0, |s| s.index);
        if now.saturating_sub(held) < every / 2 {
            continue;
        }
        // Openraft ignores the trigger while a build is running; the next due index retries.
        // It fails only once Raft has stopped.
        if let Err(e) = app.raft.trigger().snapshot().await {
            tracing::warn!("no more snapshots: {e}");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_nodes_build_at_three_different_indexes() {
        assert_eq!(phase(1, 10_000), 3_333);
        assert_eq!(phase(2, 10_000), 6_666);
        assert_eq!(phase(3, 10_000), 0);
        assert_eq!(next_due(0, 10_000, phase(3, 10_000)), 10_000);
        assert_eq!(next_due(0, 10_000, phase(1, 10_000)), 3_333);
        assert_eq!(next_due(3_333, 10_000, phase(1, 10_000)), 13_333);
        assert_eq!(next_due(9_999, 10_000, 0), 10_000);
        assert_eq!(next_due(10_000, 10_000, 0), 20_000);
    }

    proptest! {
        #[test]
        fn the_next_due_index_is_the_first_one_after_applied_at_the_nodes_phase(
            applied in 0u64..1_000_000,
            every in 1u64..50_000,
            id in 0u64..10,
        ) {
            let phase = phase(id, every);
            let due = next_due(applied, every, phase);
            prop_assert!(due > applied);
            prop_assert!(due - applied <= every);
            prop_assert_eq!(due % every, phase % every);
        }
    }
}
