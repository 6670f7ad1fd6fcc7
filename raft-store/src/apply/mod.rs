//! The deterministic `apply`: a pure function of (state, command).
//!
//! It validates the command against the state and either changes the state as a whole or
//! changes nothing and returns a [`DomainError`]. No clock, randomness or I/O: every such
//! input is in the command. Each entity kind has its own file; this one dispatches and holds
//! the helpers they share.

mod agents;
mod groups;
mod networks;
mod peers;
mod policies;
mod restore;
mod routes;
mod tokens;

use raftwire_api::*;
pub use restore::restored_state;

use crate::command::{ApplyResult, Command, Response};
use crate::state::{NetworkState, State};

/// Applies one command. On `Err`, `state` is unchanged, except that a failed
/// `CommitRestore` drops the staged restore it was about.
pub fn apply(state: &mut State, command: Command) -> ApplyResult {
    use Command::*;
    match command {
        CreateNetwork {
            id,
            at,
            spec,
            defaults,
        } => networks::create(state, id, at, spec, defaults),
        UpdateNetwork {
            id,
            at,
            if_match,
            patch,
            new_rule_ids,
        } => networks::update(state, id, at, if_match, patch, new_rule_ids),
        DeleteNetwork { id, if_match } => networks::delete(state, id, if_match),
        CreatePeer {
            network_id,
            id,
            at,
            spec,
            secrets,
        } => peers::create(state, network_id, id, at, spec, secrets),
        UpdatePeer {
            network_id,
            id,
            at,
            if_match,
            patch,
        } => peers::update(state, network_id, id, at, if_match, patch),
        DeletePeer {
            network_id,
            id,
            if_match,
        } => peers::delete(state, network_id, id, if_match),
        RotateAgentToken {
            network_id,
            peer_id,
            at,
            token_hash,
        } => peers::rotate_token(state, network_id, peer_id, at, token_hash),
        RegisterAgentKey {
            peer_id,
            at,
            public_key,
        } => peers::register_key(state, peer_id, at, public_key),
        CreateGroup {
            network_id,
            id,
            at,
            spec,
        } => groups::create(state, network_id, id, at, spec),
        UpdateGroup {
            network_id,
            id,
            at,
            if_match,
            patch,
        } => groups::update(state, network_id, id, at, if_match, patch),
        DeleteGroup {
            network_id,
            id,
            if_match,
        } => groups::delete(state, network_id, id, if_match),
        AddGroupMember {
            network_id,
            group_id,
            peer_id,
            at,
        } => groups::set_member(state, network_id, group_id, peer_id, at, true),
        RemoveGroupMember {
            network_id,
            group_id,
            peer_id,
            at,
        } => groups::set_member(state, network_id, group_id, peer_id, at, false),
        AttachPolicy {
            network_id,
            group_id,
            policy_id,
            at,
        } => groups::set_policy(state, network_id, group_id, policy_id, at, true),
        DetachPolicy {
            network_id,
            group_id,
            policy_id,
            at,
        } => groups::set_policy(state, network_id, group_id, policy_id, at, false),
        AttachRoute {
            network_id,
            group_id,
            route_id,
            at,
        } => groups::set_route(state, network_id, group_id, route_id, at, true),
        DetachRoute {
            network_id,
            group_id,
            route_id,
            at,
        } => groups::set_route(state, network_id, group_id, route_id, at, false),
        CreatePolicy {
            network_id,
            id,
            at,
            name,
            description,
            rules,
        } => policies::create(state, network_id, id, at, name, description, rules),
        UpdatePolicy {
            network_id,
            id,
            at,
            if_match,
            name,
            description,
            rules,
        } => policies::update(
            state,
            network_id,
            id,
            at,
            if_match,
            name,
            description,
            rules,
        ),
        DeletePolicy {
            network_id,
            id,
            if_match,
        } => policies::delete(state, network_id, id, if_match),
        AddRule {
            network_id,
            policy_id,
            at,
            rule,
        } => policies::add_rule(state, network_id, policy_id, at, rule),
        RemoveRule {
            network_id,
            policy_id,
            rule_id,
            at,
        } => policies::remove_rule(state, network_id, policy_id, rule_id, at),
        CreateRoute {
            network_id,
            id,
            at,
            spec,
        } => routes::create(state, network_id, id, at, spec),
        UpdateRoute {
            network_id,
            id,
            at,
            if_match,
            patch,
        } => routes::update(state, network_id, id, at, if_match, patch),
        DeleteRoute {
            network_id,
            id,
            if_match,
        } => routes::delete(state, network_id, id, if_match),
        CreateDnsMapping {
            network_id,
            route_id,
            id,
            at,
            spec,
        } => routes::create_mapping(state, network_id, route_id, id, at, spec),
        UpdateDnsMapping {
            network_id,
            route_id,
            id,
            at,
            if_match,
            patch,
        } => routes::update_mapping(state, network_id, route_id, id, at, if_match, patch),
        DeleteDnsMapping {
            network_id,
            route_id,
            id,
            if_match,
        } => routes::delete_mapping(state, network_id, route_id, id, if_match),
        CreateAdminToken { token } => tokens::create(state, token),
        DeleteAdminToken { id } => tokens::delete(state, id),
        RestoreState { data } => restore::restore(state, *data),
        Idempotent { key, command } => idempotent(state, key, *command),
        RecordAgents { reports } => agents::record(state, reports),
        StageRestore { id, part, bytes } => restore::stage(state, id, part, bytes),
        CommitRestore {
            id,
            parts,
            len,
            sha256,
        } => restore::commit(state, id, parts, len, sha256),
        Batch { commands } => Ok(Response::Batch(
            commands.into_iter().map(|c| apply(state, c)).collect(),
        )),
    }
}

/// Applies `command` once per `key`. Only successes are remembered: a failed write changed
/// nothing, so repeating it is harmless (and may succeed once the state allows it).
fn idempotent(state: &mut State, key: String, command: Command) -> ApplyResult {
    if let Some(result) = state.remembered(&key) {
        return result.clone();
    }
    let result = apply(state, command)?;
    state.remember(key, Ok(result.clone()));
    Ok(result)
}

/// `If-Match`: a stale version is a 409 `version_mismatch`.
fn check_version(current: u64, if_match: Option<u64>) -> DomainResult<()> {
    match if_match {
        Some(v) if v != current => Err(DomainError::new(
            ErrorCode::VersionMismatch,
            format!("the object is at version {current}, not {v}"),
        )),
        _ => Ok(()),
    }
}

fn network_mut(state: &mut State, id: NetworkId) -> DomainResult<&mut NetworkState> {
    state
        .data
        .networks
        .get_mut(id)
        .ok_or_else(|| DomainError::not_found("network", id))
}

fn network_ref(state: &State, id: NetworkId) -> DomainResult<&NetworkState> {
    state
        .network(id)
        .ok_or_else(|| DomainError::not_found("network", id))
}
