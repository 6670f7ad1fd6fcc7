//! Dry runs: what a command would do, without doing it.
//!
//! [`dry_run`] runs the state machine's own [`apply`](crate::apply) on a copy of the
//! state and answers the difference between the networks before and after it (see
//! [`raftwire_api::plan`]). There is no second implementation of any change: a command the
//! real apply refuses is refused here with the same error, and one it accepts is described
//! by exactly what it changed. The state given is never touched.

use raftwire_api::plan::{network_plan, NetworkPlan};
use raftwire_api::DomainError;

use crate::command::{Command, Response};
use crate::revision::{touched, Touched};
use crate::state::State;

/// What a command would answer and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// The answer the real command would give (the object as it would be).
    pub response: Response,
    /// One plan per network the command touches, in the order the command names them.
    pub networks: Vec<NetworkPlan>,
}

/// Applies `command` to a copy of `state` and compares. Costs one copy of the whole state
/// (the checks of `apply` look across networks, e.g. for overlapping prefixes).
pub fn dry_run(state: &State, command: Command) -> Result<DryRun, DomainError> {
    let ids = match touched(state, &command) {
        Touched::Nothing => vec![],
        Touched::Networks(ids) => ids,
        Touched::All => state.networks().map(|n| n.network.id).collect(),
    };
    let mut after = state.clone();
    let response = crate::apply(&mut after, command)?;
    let networks = ids
        .into_iter()
        .map(|id| {
            let before = state.network(id).map(|ns| ns.view());
            let later = after.network(id).map(|ns| ns.view());
            network_plan(before.as_ref(), later.as_ref())
        })
        .collect();
    Ok(DryRun { response, networks })
}
