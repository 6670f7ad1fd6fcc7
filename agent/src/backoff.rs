//! Reconnecting: capped exponential backoff with full jitter, rotating through the server
//! list on each failure.
//!
//! The n-th consecutive failure waits a random time in `[0, min(cap, base·2ⁿ)]` ("full
//! jitter"): many agents that lost the same node do not come back in lock step. Each
//! failure also moves on to the next server, so a dead node costs one attempt, not all of
//! them. A connection that lived a while counts as a success and starts the sequence over.

use std::time::Duration;

/// The first delay's ceiling.
pub const BASE: Duration = Duration::from_millis(250);
/// No delay is longer than this.
pub const CAP: Duration = Duration::from_secs(30);
/// The longest wait before trying another node after one said it knows no leader.
pub const BUSY_CAP: Duration = Duration::from_secs(1);
/// A connection that lived this long resets the backoff.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(raftwire_api::protocol::SILENCE_LIMIT_SECS);

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    healthy_after: Duration,
    servers: usize,
    current: usize,
    failures: u32,
}

impl Backoff {
    /// Backoff over `servers` servers (at least one), starting with the first.
    pub fn new(servers: usize) -> Backoff {
        Self::with(servers, BASE, CAP, HEALTHY_AFTER)
    }

    pub fn with(servers: usize, base: Duration, cap: Duration, healthy_after: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            healthy_after,
            servers: servers.max(1),
            current: 0,
            failures: 0,
        }
    }

    /// The index of the server to try next.
    pub fn server(&self) -> usize {
        self.current
    }

    /// The ceiling of the next delay: `min(cap, base·2^failures)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The current server asked the agent to try another (it knows no leader): moves on at
    /// once, waiting at most [`BUSY_CAP`] (jittered) even after many such answers — an
    /// election is over in a second or two, and the agent should find it then.
    pub fn try_another(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.current = (self.current + 1) % self.servers;
        jitter(self.ceiling().min(BUSY_CAP))
    }

    /// A connection to the current server ended (or never started) after `lived`: moves
    /// on to the next server and returns how long to wait before trying it.
    pub fn failed(&mut self, lived: Duration) -> Duration {
        if lived >= self.healthy_after {
            self.failures = 0;
        }
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        self.current = (self.current + 1) % self.servers;
        jitter(ceiling)
    }
}

/// A uniformly random duration in `[0, ceiling]`.
fn jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut b = [0u8; 8];
    // Without randomness the delay is the ceiling: slower, never a hot loop.
    if getrandom::fill(&mut b).is_err() {
        return ceiling;
    }
    Duration::from_nanos(u64::from_le_bytes(b) % (nanos + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_without_a_leader_sends_the_agent_on_within_a_second_however_often() {
        let mut b = Backoff::new(3);
        for _ in 0..20 {
            b.failed(Duration::ZERO);
        }
        let before = b.server();
        for _ in 0..20 {
            assert!(b.try_another() <= BUSY_CAP);
        }
        assert_eq!(b.server(), (before + 20) % 3, "it moves on every time");
        // A real failure afterwards still backs off as before.
        assert!(b.ceiling() > BUSY_CAP);
    }

    #[test]
    fn delays_stay_within_a_doubling_ceiling_up_to_the_cap() {
        let mut b = Backoff::new(1);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let ceiling = b.ceiling();
            ceilings.push(ceiling.as_millis());
            let d = b.failed(Duration::ZERO);
            assert!(d <= ceiling, "{d:?} > {ceiling:?}");
        }
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn the_cap_holds_after_very_many_failures() {
        let mut b = Backoff::new(3);
        for _ in 0..1000 {
            assert!(b.failed(Duration::ZERO) <= CAP);
        }
        assert_eq!(b.ceiling(), CAP);
    }

    #[test]
    fn delays_are_jittered_not_fixed() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let mut b = Backoff::new(1);
            for _ in 0..6 {
                b.failed(Duration::ZERO);
            }
            seen.insert(b.failed(Duration::ZERO));
        }
        assert!(seen.len() > 40, "only {} distinct delays", seen.len());
        assert!(seen.iter().all(|d| *d <= Duration::from_secs(16)));
    }

    #[test]
    fn each_failure_moves_on_to_the_next_server_and_wraps_around() {
        let mut b = Backoff::new(3);
        let mut order = vec![b.server()];
        for _ in 0..6 {
            b.failed(Duration::ZERO);
            order.push(b.server());
        }
        assert_eq!(order, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_connection_that_lived_a_while_starts_the_sequence_over() {
        let mut b = Backoff::new(2);
        for _ in 0..5 {
            b.failed(Duration::from_secs(1));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(8));
        let d = b.failed(HEALTHY_AFTER);
        assert!(d <= BASE, "{d:?}");
        assert_eq!(b.ceiling(), BASE * 2);
        // A short-lived one does not.
        b.failed(Duration::from_secs(1));
        assert_eq!(b.ceiling(), BASE * 4);
    }

    #[test]
    fn a_single_server_is_retried() {
        let mut b = Backoff::new(0);
        b.failed(Duration::ZERO);
        assert_eq!(b.server(), 0);
    }
}
