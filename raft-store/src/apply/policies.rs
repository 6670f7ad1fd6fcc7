//! Policies and their rules. Peer and group targets must exist in the network when set.

use raftwire_api::*;

use super::{check_rule_targets, check_version, name_taken, network_mut, network_ref};
use crate::command::{ApplyResult, Response};
use crate::state::{NetworkState, State};

fn policy_ref(ns: &NetworkState, id: PolicyId) -> DomainResult<&Policy> {
    ns.policies
        .get(id)
        .ok_or_else(|| DomainError::not_found("policy", id))
}

fn check_name_free(ns: &NetworkState, name: &str, except: Option<PolicyId>) -> DomainResult<()> {
    if ns
        .policies
        .iter()
        .any(|p| p.name == name && Some(p.id) != except)
    {
        return Err(name_taken("policy", name));
    }
    Ok(())
}

fn check_rule_ids_unique(rules: &[Rule]) -> DomainResult<()> {
    let mut ids: Vec<RuleId> = rules.iter().map(|r| r.id).collect();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "rule ids must be unique",
        ));
    }
    Ok(())
}

pub(super) fn create(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    at: Timestamp,
    name: String,
    description: String,
    rules: Vec<Rule>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    check_name_free(ns, &name, None)?;
    if ns.policies.contains(id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("policy id {id} is taken"),
        ));
    }
    check_rule_targets(ns, &rules, "rules")?;
    check_rule_ids_unique(&rules)?;
    let policy = Policy {
        id,
        network_id,
        name,
        description,
        rules,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    let seq = state.next_seq();
    network_mut(state, network_id)?
        .policies
        .insert(seq, policy.clone());
    Ok(Response::Policy(policy))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    at: Timestamp,
    if_match: Option<u64>,
    name: Option<String>,
    description: Option<String>,
    rules: Option<Vec<Rule>>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let current = policy_ref(ns, id)?;
    check_version(current.version, if_match)?;
    if let Some(n) = &name {
        if current.name == DEFAULT_GROUP && n != DEFAULT_GROUP {
            return Err(DomainError::field(
                ErrorCode::ImmutableField,
                "name",
                "the default policy keeps its name",
            ));
        }
        check_name_free(ns, n, Some(id))?;
    }
    if let Some(r) = &rules {
        check_rule_targets(ns, r, "rules")?;
        check_rule_ids_unique(r)?;
    }
    let ns = network_mut(state, network_id)?;
    let p = ns
        .policies
        .get_mut(id)
        .ok_or_else(|| DomainError::not_found("policy", id))?;
    if let Some(n) = name {
        p.name = n;
    }
    if let Some(d) = description {
        p.description = d;
    }
    if let Some(r) = rules {
        p.rules = r;
    }
    p.touch(at);
    Ok(Response::Policy(p.clone()))
}

pub(super) fn delete(
    state: &mut State,
    network_id: NetworkId,
    id: PolicyId,
    if_match: Option<u64>,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let policy = policy_ref(ns, id)?;
    check_version(policy.version, if_match)?;
    if policy.name == DEFAULT_GROUP {
        return Err(DomainError::new(
            ErrorCode::InUse,
            "the default policy cannot be deleted: it follows the network's prefixes",
        ));
    }
    let ns = network_mut(state, network_id)?;
    ns.policies.remove(id);
    for g in ns.groups.iter_mut() {
        g.policy_ids.retain(|p| *p != id);
    }
    Ok(Response::Deleted)
}

pub(super) fn add_rule(
    state: &mut State,
    network_id: NetworkId,
    policy_id: PolicyId,
    at: Timestamp,
    rule: Rule,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let p = policy_ref(ns, policy_id)?;
    check_rule_targets(ns, std::slice::from_ref(&rule), "rules").map_err(|e| DomainError {
        field: Some("target".into()),
        ..e
    })?;
    if p.rules.iter().any(|r| r.id == rule.id) {
        return Err(DomainError::new(
            ErrorCode::InUse,
            format!("rule id {} is taken", rule.id),
        ));
    }
    let ns = network_mut(state, network_id)?;
    let p = ns
        .policies
        .get_mut(policy_id)
        .ok_or_else(|| DomainError::not_found("policy", policy_id))?;
    p.rules.push(rule);
    p.touch(at);
    Ok(Response::Policy(p.clone()))
}

pub(super) fn remove_rule(
    state: &mut State,
    network_id: NetworkId,
    policy_id: PolicyId,
    rule_id: RuleId,
    at: Timestamp,
) -> ApplyResult {
    let ns = network_ref(state, network_id)?;
    let p = policy_ref(ns, policy_id)?;
    if !p.rules.iter().any(|r| r.id == rule_id) {
        return Err(DomainError::not_found("rule", rule_id));
    }
    let ns = network_mut(state, network_id)?;
    let p = ns
        .policies
        .get_mut(policy_id)
        .ok_or_else(|| DomainError::not_found("policy", policy_id))?;
    p.rules.retain(|r| r.id != rule_id);
    p.touch(at);
    Ok(Response::Policy(p.clone()))
}
