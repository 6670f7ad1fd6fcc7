//! Bounding what an unknown bearer token costs.
//!
//! A token created a moment ago through another node may not be applied on this one yet, so
//! before refusing a token the node catches up with the leader once (a read-index, then waits
//! for its own state machine). A read-index is a quorum round, so a stream of bad tokens must
//! not turn into a stream of quorum rounds:
//! - catch-ups run one at a time and start at most every [`MIN_INTERVAL`]; a request whose
//!   token is unknown waits for a catch-up that *started after it arrived* (that one covers
//!   every token acknowledged before the request was sent) and shares it with every other
//!   request waiting;
//! - a token refused after a catch-up is refused again without one for [`REFUSED_TTL`]. The
//!   local state is still consulted first, so a token that becomes known is accepted at once.
//!
//! So bad tokens cost at most one quorum round per interval, whatever their number.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::consensus::{read_barrier, Consistency};

/// The least time between the starts of two catch-ups.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// How long a token refused after a catch-up is refused without another.
pub const REFUSED_TTL: Duration = Duration::from_secs(2);
/// The most refused tokens remembered (the memory is cleared when it is full).
const REFUSED_MAX: usize = 4096;

#[derive(Default)]
struct Rounds {
    /// When the last catch-up started, successful or not (for the rate).
    last_start: Option<Instant>,
    /// When the last successful catch-up started (what it covers).
    last_ok_start: Option<Instant>,
}

#[derive(Default)]
pub struct TokenCatchUp {
    rounds: tokio::sync::Mutex<Rounds>,
    refused: Mutex<HashMap<String, Instant>>,
}

impl TokenCatchUp {
    /// Whether the token of this hash was refused after a catch-up within [`REFUSED_TTL`].
    pub fn recently_refused(&self, hash: &str) -> bool {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        refused
            .get(hash)
            .is_some_and(|at| at.elapsed() < REFUSED_TTL)
    }

    /// Remembers that the token of this hash was refused after a catch-up.
    pub fn refuse(&self, hash: &str) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() >= REFUSED_MAX {
            refused.retain(|_, at| at.elapsed() < REFUSED_TTL);
            if refused.len() >= REFUSED_MAX {
                refused.clear();
            }
        }
        refused.insert(hash.to_string(), Instant::now());
    }

    /// Makes this node's state cover everything acknowledged before `arrived` (shared with
    /// concurrent callers, rate-limited). False when no leader confirmed it.
    pub async fn catch_up(&self, app: &App, arrived: Instant) -> bool {
        let mut rounds = self.rounds.lock().await;
        if rounds.last_ok_start.is_some_and(|t| t >= arrived) {
            return true;
        }
        if let Some(t) = rounds.last_start {
            tokio::time::sleep_until((t + MIN_INTERVAL).into()).await;
        }
        let start = Instant::now();
        rounds.last_start = Some(start);
        let ok = read_barrier(app, Consistency::Linearizable).await.is_ok();
        if ok {
            rounds.last_ok_start = Some(start);
        }
        ok
    }
}
