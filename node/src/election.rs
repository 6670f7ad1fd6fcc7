//! Elections as soon as a dead leader's lease allows them.
//!
//! openraft 0.9 lets a node vote for a candidate only once the *leader lease* has passed
//! since it last heard from the leader, and the lease is the election timeout's maximum.
//! Its own election timer, though, starts a follower's candidacy after a random timeout
//! between the minimum and the maximum: the first attempt after a leader dies comes before
//! the other followers' leases ran out and is refused, and the next one comes a whole
//! timeout later. A leader's loss therefore cost two timeouts, 3.4–3.7 s of no writes with
//! timeouts of 1–2 s (`tests/tests/it/deploy.rs`, through HAProxy).
//!
//! This task asks openraft for an election (`Trigger::elect`) once this voter has not heard
//! from a leader for the lease plus a margin, staggered by node id so that two followers
//! rarely split the vote: a lost leader costs one lease instead of two timeouts. It never
//! shortens the lease, so a node cut off from a live leader still cannot win (the others
//! still hear the leader and refuse it), exactly as with openraft's own timer.

use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::app::App;

/// How much later than the lease a follower asks: the other voters' leases started when
/// they heard the same heartbeat, a little earlier or later.
const MARGIN: Duration = Duration::from_millis(50);

/// How often the task looks.
const TICK: Duration = Duration::from_millis(25);

/// The delay past the lease after which node `id` asks: one heartbeat interval per step, so
/// the followers of a 3- or 5-node cluster ask one after the other.
fn stagger(id: u64, heartbeat: Duration) -> Duration {
    heartbeat * (id % 5) as u32
}

/// Runs until the node stops.
pub async fn run(app: App) {
    let config = app.raft.config().clone();
    let lease = Duration::from_millis(config.election_timeout_max);
    let wait = lease + MARGIN + stagger(app.id, Duration::from_millis(config.heartbeat_interval));
    let mut last_ask: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let m = app.raft.metrics().borrow().clone();
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == app.id);
        let following = matches!(m.state, ServerState::Follower | ServerState::Candidate);
        if !voter || !following || app.leader_contact.since() < wait {
            continue;
        }
        // Once per lease at most: an election under way gets its time.
        if last_ask.is_some_and(|t| t.elapsed() < lease) {
            continue;
        }
        last_ask = Some(Instant::now());
        tracing::info!(
            "no leader heard from for {} ms: asking for an election",
            app.leader_contact.since().as_millis()
        );
        if app.raft.trigger().elect().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_followers_of_a_five_node_cluster_ask_one_after_the_other() {
        let hb = Duration::from_millis(150);
        let waits: Vec<Duration> = (1..=5).map(|id| stagger(id, hb)).collect();
        let mut distinct = waits.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 5, "{waits:?}");
    }
}
